/*
 * bench_ws.h - the little of RFC 6455 the benchmark's echo server and load
 * generator share: the accept key, frame headers, masking, a byte buffer
 * and clocks. Independent of wsdbg's decoder (src/core): the benchmark
 * must not measure wsdbg with wsdbg's own code on both sides.
 */
#ifndef BENCH_WS_H
#define BENCH_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* RFC 6455 5.2 opcodes used here. */
enum {
	BENCH_OP_CONT = 0x0,
	BENCH_OP_TEXT = 0x1,
	BENCH_OP_BINARY = 0x2,
	BENCH_OP_CLOSE = 0x8,
	BENCH_OP_PING = 0x9,
	BENCH_OP_PONG = 0xa,
};

/* Longest frame header: 2 + 8 (length) + 4 (mask key). */
#define BENCH_FRAME_HEADER_MAX 14

/* Writes the Sec-WebSocket-Accept value for key (RFC 6455 4.2.2, step
 * 5.4) into out (29 bytes: 28 characters and a NUL). */
void bench_accept_key(const char *key, size_t key_len, char out[29]);

/* Writes a Sec-WebSocket-Key: 16 random bytes in base64 (RFC 6455
 * 4.1), 24 characters and a NUL. */
void bench_base64_key(const uint8_t raw[16], char out[25]);

/* Writes a frame header (FIN set, RSV1 when rsv1) for a payload of len
 * bytes; with mask non-NULL the MASK bit and the key follow. Returns its
 * length. */
size_t bench_frame_header(uint8_t *out, uint8_t opcode, bool rsv1,
			  uint64_t len, const uint8_t *mask);

/* XORs n bytes of p with key, starting at key position offset % 4. */
void bench_mask(uint8_t *p, size_t n, const uint8_t key[4], size_t offset);

/* A parsed frame header. */
struct bench_frame {
	bool fin, rsv1, masked;
	uint8_t opcode;
	uint64_t len;
	uint8_t key[4];
	size_t header_len;
};

/* Parses the frame header at p (n bytes available). Returns 1 with *f
 * filled, 0 when more bytes are needed, -1 on a header no peer here
 * sends (length with its top bit set). */
int bench_frame_parse(const uint8_t *p, size_t n, struct bench_frame *f);

/* A growable byte buffer: data[start, len) is unconsumed. */
struct bench_buf {
	uint8_t *data;
	size_t start, len, cap;
};

/* Room for at least n more bytes at data + len; false when memory is
 * short. Moves unconsumed bytes to the front first. */
bool bench_buf_reserve(struct bench_buf *b, size_t n);
bool bench_buf_append(struct bench_buf *b, const void *p, size_t n);
/* Marks n bytes consumed; an empty buffer starts over at offset 0. */
void bench_buf_consume(struct bench_buf *b, size_t n);
void bench_buf_free(struct bench_buf *b);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* CPU time (user + system, all threads) process pid has used, in
 * nanoseconds; -1 when it cannot be read. pid 0: this process. */
int64_t bench_process_cpu_ns(pid_t pid);

/* Raises RLIMIT_NOFILE's soft limit to the hard one; returns the soft
 * limit in force. */
long bench_raise_nofile(void);

/* Fills n bytes of p from the kernel's random source (mask keys,
 * handshake keys). */
void bench_random(void *p, size_t n);

#endif

/*
 * ws_peer.h - the WebSocket protocol for the project's own test peers
 * (ws-echo-server, ws-client): the opening handshake (RFC 6455 4), frames
 * (RFC 6455 5.2) and messages, over a blocking socket, through one chosen
 * family of C library calls so that every path the shim hooks is
 * exercised. Plain libc; shares no code with wsdbg, so that wsdbg is
 * checked against an independent implementation.
 *
 * Every function prints one line on stderr ("<program>: ...") when it
 * fails; callers only pass the failure on.
 */
#ifndef PEER_WS_PEER_H
#define PEER_WS_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The calls a connection moves its bytes with, read side / write side. */
enum peer_io {
	PEER_IO_READ,	 /* read / write */
	PEER_IO_RECV,	 /* recv / send */
	PEER_IO_READV,	 /* readv / writev, two iovecs each */
	PEER_IO_RECVMSG, /* recvmsg / sendmsg, two iovecs each */
	PEER_IO_RECVFROM, /* recvfrom / sendto, no address */
};

/* "read", "recv", "readv", "recvmsg", "recvfrom" (or the write-side
 * names) into *out. Returns 0, or -1 for an unknown name.
 *
 * Built with PEER_STAGED_READS (the -D_FORTIFY_SOURCE=2 peers), read,
 * recv and recvfrom go into a fixed-size stack buffer first, so that the
 * compiler knows its size and calls the C library's fortified entry
 * points (__read_chk, __recv_chk, __recvfrom_chk) instead. */
int peer_io_from_name(const char *name, enum peer_io *out);

/* RFC 6455 5.2 opcodes. */
enum {
	PEER_OP_CONTINUATION = 0x0,
	PEER_OP_TEXT = 0x1,
	PEER_OP_BINARY = 0x2,
	PEER_OP_CLOSE = 0x8,
	PEER_OP_PING = 0x9,
	PEER_OP_PONG = 0xa,
};

struct peer_conn {
	int fd;
	enum peer_io io;
	bool bytewise;	 /* write every byte with its own call */
	bool mask;	 /* mask what we send (the client role) */
	double deadline; /* peer_now() time after which reads fail */
	const char *who; /* program name for messages */
	/* Bytes read and not consumed yet: buf[start, end). */
	uint8_t *buf;
	size_t cap, start, end;
	/* The data message being reassembled. */
	uint8_t *msg;
	size_t msg_len, msg_cap;
	uint8_t msg_opcode; /* 0: none under way */
	unsigned msg_frames;
};

/* Seconds on the monotonic clock. */
double peer_now(void);

/* Sets c up for fd (not owned: the caller closes it). */
void peer_conn_init(struct peer_conn *c, int fd, enum peer_io io,
		    double deadline, const char *who);
/* Frees c's buffers (not the fd). */
void peer_conn_free(struct peer_conn *c);

/* Writes a then b (either may be empty) completely, as one call where the
 * io mode allows it (writev and sendmsg get them as two iovecs). Returns
 * 0, or -1. */
int peer_write2(struct peer_conn *c, const void *a, size_t na, const void *b,
		size_t nb);

/* The server side of the handshake: reads the upgrade request (bytes that
 * follow it stay buffered, pipelined frames included), answers 101 with
 * the Sec-WebSocket-Accept of its key. Returns 0, or -1 (the request was
 * not a WebSocket upgrade, or the connection failed). */
int peer_server_handshake(struct peer_conn *c);

/* The client side: sends "GET target" with a random key, checks the 101
 * and its Sec-WebSocket-Accept. Returns 0, or -1. */
int peer_client_handshake(struct peer_conn *c, const char *host,
			  const char *target);

/* Sends one frame; masked with a fresh random key when c->mask. */
int peer_send_frame(struct peer_conn *c, bool fin, uint8_t opcode,
		    const void *payload, size_t len);

/* Bytes a frame of len payload bytes takes on the wire. */
size_t peer_frame_wire_size(size_t len, bool masked);

/* One message as peer_read_message returns it. data is owned by the
 * connection and valid until the next read. */
struct peer_msg {
	uint8_t opcode; /* TEXT, BINARY, CLOSE, PING or PONG */
	const uint8_t *data;
	size_t len;
	unsigned frames;
};

/* The next message: a whole data message (fragments reassembled) or a
 * control frame, which may arrive between the fragments of a data
 * message (RFC 6455 5.4). Frames must be masked exactly when the peer is
 * a client (!c->mask). Returns 1 with *m set, 0 at end of file between
 * frames, -1 on a protocol error, a timeout or a failed read. */
int peer_read_message(struct peer_conn *c, struct peer_msg *m);

/* Answers m as an echo server does: a ping with a pong of its payload,
 * a pong not at all, anything else (a close included) with the same
 * frame. Returns 1 when m was a close (the session is over), 0 when the
 * session goes on, -1 when the answer could not be sent. */
int peer_echo_message(struct peer_conn *c, const struct peer_msg *m);

/* An echo session on fd, server side: the handshake, then
 * peer_echo_message for each message until the client's close or the end
 * of the connection. Returns 0 when it ended either way, else -1. */
int peer_echo_session(int fd, enum peer_io io, double deadline,
		      const char *who);

/* The whole of s as a decimal number within [min, max] into *out.
 * Returns 0, or -1 (not a number, trailing characters, out of range). */
int peer_parse_long(const char *s, long min, long max, long *out);

/* A TCP socket listening on 127.0.0.1 at a port the kernel picks
 * (close-on-exec, backlog `backlog`), its port printed as "PORT <n>" on
 * stdout (flushed). Returns the socket, or -1. */
int peer_listen_loopback(int backlog);

/* Fills n bytes with random bytes (getrandom). */
void peer_random(void *p, size_t n);

#endif

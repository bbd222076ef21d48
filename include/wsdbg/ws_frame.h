/*
 * ws_frame.h - RFC 6455 section 5.2 frame syntax, decoding side.
 *
 * A push parser in the manner of a state machine
 *   HEADER -> LENGTH -> EXT_LENGTH -> MASK_KEY -> PAYLOAD -> HEADER ...
 * that knows only the wire format: no sockets, no allocation, no copying.
 * Payload bytes are handed back as pointers into the caller's buffer, still
 * masked, with their offset in the payload so the caller can unmask them
 * while it does its own work (validate, copy, inflate).
 *
 * Message-level rules (fragmentation, control frame limits, RSV bits,
 * masking per role) belong to ws_decoder.h; the only error found here is a
 * 64-bit length with its top bit set, which has no meaning at all.
 */
#ifndef WSDBG_WS_FRAME_H
#define WSDBG_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsdbg/ws_error.h"

enum ws_opcode {
	WS_OPCODE_CONTINUATION = 0x0,
	WS_OPCODE_TEXT = 0x1,
	WS_OPCODE_BINARY = 0x2,
	WS_OPCODE_CLOSE = 0x8,
	WS_OPCODE_PING = 0x9,
	WS_OPCODE_PONG = 0xA,
};

/* Bits of the first header byte (RFC 6455 5.2). */
#define WS_FRAME_FIN 0x80u
#define WS_FRAME_RSV1 0x40u
#define WS_FRAME_RSV2 0x20u
#define WS_FRAME_RSV3 0x10u

/* Largest payload a frame may announce: 2^63 - 1 (RFC 6455 5.2). */
#define WS_FRAME_MAX_LENGTH UINT64_C(0x7fffffffffffffff)

/* Largest control frame payload (RFC 6455 5.5). */
#define WS_CONTROL_MAX_PAYLOAD 125

/* Control opcodes have the high bit of the 4-bit opcode set (RFC 6455 5.5). */
static inline bool ws_opcode_is_control(unsigned opcode)
{
	return (opcode & 0x8u) != 0;
}

/* "continuation", "text", "binary", "close", "ping", "pong", or
 * "reserved" for the others. Never NULL. Static storage. */
const char *ws_opcode_name(unsigned opcode);

struct ws_frame_header {
	uint64_t length;   /* payload length, 0 .. 2^63-1 */
	uint8_t opcode;    /* 4 bits, any value: the caller judges */
	uint8_t rsv;       /* WS_FRAME_RSV1|2|3 as in the first byte */
	bool fin;
	bool masked;
	uint8_t mask[4];   /* masking key when masked */
};

enum ws_frame_state {
	WS_FRAME_STATE_HEADER = 0, /* zero-initialised: expecting a frame */
	WS_FRAME_STATE_LENGTH,     /* have byte 0; need MASK bit + 7-bit length */
	WS_FRAME_STATE_EXT_LENGTH, /* collecting a 16- or 64-bit length */
	WS_FRAME_STATE_MASK_KEY,   /* collecting the 4-byte masking key */
	WS_FRAME_STATE_PAYLOAD,    /* handing out payload bytes */
	WS_FRAME_STATE_FAILED,     /* stopped; error says why */
};

/* Decoder state. Zero-initialise (or ws_frame_decoder_init) before use. */
struct ws_frame_decoder {
	enum ws_frame_state state;
	enum ws_error error;
	struct ws_frame_header header; /* the current frame, from HEADER on */
	uint64_t offset;               /* payload bytes handed out so far */
	uint8_t need;                  /* bytes wanted in `partial` */
	uint8_t have;                  /* bytes collected in `partial` */
	uint8_t partial[8];            /* header field split across calls */
};

enum ws_frame_event {
	WS_FRAME_NEED_MORE = 0, /* all input consumed, nothing to report */
	WS_FRAME_HEADER,        /* a complete header is in dec->header, and
				   the first piece of payload in *chunk */
	WS_FRAME_PAYLOAD,       /* a further piece of payload is in *chunk */
	WS_FRAME_ERROR,         /* dec->error says why; decoding stopped */
};

/* A piece of a frame's payload. data points into the caller's input and is
 * still masked: byte i is data[i] ^ mask[(offset + i) & 3]. */
struct ws_frame_chunk {
	const uint8_t *data;
	size_t len;
	uint64_t offset; /* position of data[0] within the payload */
	bool last;       /* this piece ends the frame's payload */
};

static inline void ws_frame_decoder_init(struct ws_frame_decoder *dec)
{
	*dec = (struct ws_frame_decoder){0};
}

/*
 * Consumes bytes of buf until one event happens, stores how many in
 * *consumed (never more than len) and returns the event. Every frame gives
 * one WS_FRAME_HEADER, whose *chunk holds as much of the payload as buf
 * had after the header (possibly none), then WS_FRAME_PAYLOAD events for
 * the rest; exactly one chunk of each frame has chunk->last set (for a
 * zero-length frame, the HEADER's empty chunk). Call again with the rest of
 * buf after any event but NEED_MORE. After WS_FRAME_ERROR every call
 * returns WS_FRAME_ERROR and consumes nothing. Never reads outside
 * buf[0..len); buf may be NULL when len is 0.
 */
enum ws_frame_event ws_frame_decode(struct ws_frame_decoder *dec,
				    const uint8_t *buf, size_t len,
				    size_t *consumed,
				    struct ws_frame_chunk *chunk);

/* Parses the frame header at buf[0..len) when all of it is there, without
 * a decoder: fills *h and returns the header's size in bytes; returns 0
 * (h untouched) when buf is too short, -1 for a 64-bit length with its top
 * bit set. The payload, h->length bytes, follows the header. */
int ws_frame_header_parse(const uint8_t *buf, size_t len,
			  struct ws_frame_header *h);

/* Copies len unmasked bytes into dst: dst[i] = src[i] ^ mask[(offset+i)&3].
 * dst and src may be the same buffer; otherwise they must not overlap.
 * Returns 0 if every byte written is ASCII (below 0x80), else 0x80: text
 * that is all ASCII needs no further UTF-8 check, and seeing that here
 * saves a second pass over it. */
uint8_t ws_unmask_copy(uint8_t *dst, const uint8_t *src, size_t len,
		       const uint8_t mask[4], uint64_t offset);

#endif

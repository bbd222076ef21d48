/*
 * ws_encoder.h - an independent WebSocket encoder for tests: frames written
 * straight from RFC 6455 5.2 and messages from RFC 6455 5.4 and RFC 7692.
 *
 * It shares no code with the decoder under test (not even its headers), so
 * that a round trip checks the decoder against a second reading of the
 * RFCs. It can write what a careful peer writes and some of what a careless
 * one does: non-minimal length fields, empty fragments, control frames
 * between fragments, compressed messages ending in a BFINAL block, and
 * headers announcing more payload than will ever follow.
 *
 * Out of memory or a zlib failure aborts the test (Criterion assertion).
 */
#ifndef WSDBG_TEST_WS_ENCODER_H
#define WSDBG_TEST_WS_ENCODER_H

#define ZLIB_CONST
#include <zlib.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer. Zero-initialise; the caller owns data and frees it
 * with ws_encoder_buf_free(). */
struct ws_encoder_buf {
	uint8_t *data;
	size_t len, cap;
};

/* Appends n bytes of p (p may be NULL when n is 0). */
void ws_encoder_buf_append(struct ws_encoder_buf *b, const void *p, size_t n);

/* Frees the bytes; b is empty and reusable afterwards. */
void ws_encoder_buf_free(struct ws_encoder_buf *b);

/* The three payload length forms of RFC 6455 5.2. */
enum ws_encoder_length {
	WS_ENCODER_LENGTH_MINIMAL = 0, /* the shortest form that holds it */
	WS_ENCODER_LENGTH_7,           /* 7-bit field: 0..125 */
	WS_ENCODER_LENGTH_16,          /* 126, then 16 bits: 0..65535 */
	WS_ENCODER_LENGTH_64,          /* 127, then 64 bits: any */
};

/* One frame's header fields, written as given: nothing here is checked
 * against the protocol, so tests can write invalid frames too. */
struct ws_encoder_frame {
	bool fin;
	uint8_t rsv;     /* RSV bits where byte 0 has them: 0x40, 0x20, 0x10 */
	uint8_t opcode;  /* low 4 bits are written */
	bool masked;
	uint8_t mask[4]; /* masking key, used when masked */
	enum ws_encoder_length length_form; /* must hold the length */
};

/* Appends the 2 to 14 header bytes of frame f announcing `length` payload
 * bytes, and nothing else. Any 64-bit length is written as given (even one
 * with the top bit set, which RFC 6455 5.2 forbids), so a test can announce
 * far more than it sends. */
void ws_encoder_put_header(struct ws_encoder_buf *out,
			   const struct ws_encoder_frame *f, uint64_t length);

/* Appends a whole frame: the header for len bytes, then the payload, masked
 * with f->mask when f->masked (RFC 6455 5.3). payload is not written to. */
void ws_encoder_put_frame(struct ws_encoder_buf *out,
			  const struct ws_encoder_frame *f,
			  const uint8_t *payload, size_t len);

/* One sender: the client (masks every frame) or the server. */
struct ws_encoder_config {
	bool masked;              /* client: a fresh masking key per frame */
	bool deflate;             /* permessage-deflate agreed (RFC 7692) */
	uint8_t window_bits;      /* 8..15. zlib refuses a raw window of 8, so
				     8 compresses with 9, as real peers do */
	bool no_context_takeover; /* reset the window after each message */
	int level;                /* zlib level 0..9, or -1 for the default */
	uint64_t seed;            /* drives masking keys and random fragment
				     cuts; any value */
};

/* Sender state. Set up with ws_encoder_init(), release with
 * ws_encoder_free(). */
struct ws_encoder {
	struct ws_encoder_config cfg;
	uint64_t rng;  /* xorshift64 state */
	z_stream z;    /* raw deflate stream, when cfg.deflate */
	bool z_live;
};

/* Sets e up for cfg; creates the deflate stream when cfg->deflate. */
void ws_encoder_init(struct ws_encoder *e, const struct ws_encoder_config *cfg);

/* Releases the deflate stream. */
void ws_encoder_free(struct ws_encoder *e);

/* A control frame to place between two fragments of a message. */
struct ws_encoder_control {
	uint8_t opcode;         /* 0x8 close, 0x9 ping, 0xA pong */
	const uint8_t *payload; /* len bytes; <= 125 for a valid frame */
	size_t len;
	size_t after;           /* goes after fragment `after` (0-based), which
				   must not be the last */
};

/* A text or binary message and how to put it on the wire. */
struct ws_encoder_message {
	uint8_t opcode;         /* of the first frame: 0x1 text, 0x2 binary */
	const uint8_t *payload; /* len bytes, before compression */
	size_t len;
	bool compress;          /* deflate it, RSV1 on the first frame only
				   (RFC 7692 6); needs cfg.deflate */
	bool bfinal;            /* end the compressed data with a BFINAL block
				   instead of a sync flush (RFC 7692 7.2.3.4);
				   the window is lost on the sender side */
	size_t fragments;       /* frames to split the wire payload into; 0
				   counts as 1. Cut at random points, so some
				   fragments may be empty */
	const size_t *cuts;     /* or cut here instead: fragments - 1 sorted
				   offsets into the wire payload (NULL:
				   random) */
	enum ws_encoder_length length_form; /* the least form of every frame;
				   a frame too long for it uses the next form
				   that holds it */
	const struct ws_encoder_control *controls; /* sorted by `after` */
	size_t ncontrols;
};

/* Appends message m as m->fragments frames, the controls interleaved.
 * Returns the payload bytes its data frames carry on the wire (after
 * compression), not counting the controls. */
uint64_t ws_encoder_put_message(struct ws_encoder *e,
				struct ws_encoder_buf *out,
				const struct ws_encoder_message *m);

/* Appends one control frame (FIN set, RSV clear), masked when the sender is
 * the client. */
void ws_encoder_put_control(struct ws_encoder *e, struct ws_encoder_buf *out,
			    uint8_t opcode, const uint8_t *payload, size_t len);

#endif

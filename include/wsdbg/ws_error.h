/*
 * ws_error.h - why decoding of one direction of a WebSocket stopped.
 *
 * Every protocol rule the decoder enforces has its own value here, so that a
 * user sees which rule the peer broke, not just "protocol error". After one
 * of these the direction stops decoding; the host's bytes flow on untouched.
 */
#ifndef WSDBG_WS_ERROR_H
#define WSDBG_WS_ERROR_H

enum ws_error {
	WS_OK = 0,
	WS_ERR_RESERVED_OPCODE,           /* RFC 6455 5.2: opcodes 3-7, 0xB-0xF */
	WS_ERR_RESERVED_BITS,             /* RFC 6455 5.2: RSV set, no extension defines it */
	WS_ERR_UNMASKED_CLIENT_FRAME,     /* RFC 6455 5.3: client frames are masked */
	WS_ERR_MASKED_SERVER_FRAME,       /* RFC 6455 5.1: server frames are not */
	WS_ERR_LENGTH_TOP_BIT,            /* RFC 6455 5.2: 64-bit length MSB must be 0 */
	WS_ERR_CONTROL_TOO_LONG,          /* RFC 6455 5.5: control payload <= 125 */
	WS_ERR_CONTROL_FRAGMENTED,        /* RFC 6455 5.5: control frames have FIN */
	WS_ERR_CONTROL_COMPRESSED,        /* RFC 7692 6.1: no RSV1 on control frames */
	WS_ERR_CONTINUATION_COMPRESSED,   /* RFC 7692 6.1: RSV1 only on a first frame */
	WS_ERR_CONTINUATION_WITHOUT_START,/* RFC 6455 5.4 */
	WS_ERR_MESSAGE_INTERRUPTED,       /* RFC 6455 5.4: data frame inside a fragmented message */
	WS_ERR_FRAME_AFTER_CLOSE,         /* RFC 6455 5.5.1: nothing follows a close */
	WS_ERR_INFLATE,                   /* RFC 7692 7.2.2: corrupt DEFLATE data */
	WS_ERR_NOMEM,                     /* wsdbg could not allocate: decoding gave up */
	WS_ERR_GAP,                       /* bytes of the stream went unseen: lost sync */
	WS_ERR_COUNT_
};

/* One-line English description of err, with the RFC rule it comes from.
 * Never NULL; unknown values give "unknown error". Static storage. */
const char *ws_strerror(enum ws_error err);

/* Short stable snake_case identifier of err for JSON ("reserved_opcode"),
 * "ok" for WS_OK. Never NULL. Static storage. */
const char *ws_error_name(enum ws_error err);

#endif

/*
 * ws_decoder.h - one direction of a WebSocket connection: bytes in,
 * messages out.
 *
 * Built on ws_frame.h, it applies the RFC 6455 rules that need context
 * (masking per role, reserved opcodes and bits, control frames, fragments
 * and their reassembly with control frames in between), validates text as
 * UTF-8 across fragment boundaries, parses close frames, and decompresses
 * permessage-deflate messages (RFC 7692).
 *
 * It never holds a whole large message: each message reports its full size
 * but keeps only a bounded prefix of its payload (after decompression). A
 * compressed message is inflated to its end, so that the window it shares
 * with later messages stays right, unless it passes the inflate cap (below).
 * Memory is taken lazily: a decoder that has only seen small messages
 * holds small buffers; the inflate stream exists only once a compressed
 * message arrives.
 *
 * Bounded work. A DEFLATE stream can inflate to 1,032 times its size (a
 * 1 MB frame to 1 GiB), so inflating is capped, and with it the work done
 * for the bytes of one call of the host:
 *   - a message is inflated up to max_inflate bytes at most; past that it
 *     stops (inflate_capped: its size is a lower bound, its data a true
 *     prefix) and the rest of its payload is only counted;
 *   - the input of one host call (ws_decoder_begin_input, len bytes)
 *     inflates max_inflate + WS_DECODER_INFLATE_PER_BYTE * len bytes at
 *     most, over all the messages in it: a read holding many small
 *     compressed frames cannot multiply the per-message cap. A message
 *     that would pass it stops the same way.
 * So the decoding of a call of len bytes inflates at most max_inflate +
 * 32 * len bytes (plus less than 2 KiB that zlib makes before it can be
 * stopped); everything else it does is linear in len. With the defaults
 * (1 MiB) a 64 KiB read costs at most 3 MiB of inflating, a few ms.
 *
 * A message stopped midway leaves the inflate window short of what the
 * sender's holds. With no_context_takeover the next message starts afresh
 * and is inflated as usual. With context takeover later messages of the
 * direction may refer back to what was never inflated, so none is
 * inflated again: they are reported as not inflated (compressed, size on
 * the wire, no data, as with inflate off), never as corrupt data, and the
 * inflate stream is freed. Frames go on being decoded either way.
 *
 * After a protocol error the direction stops: ws_decoder_error() names the
 * rule broken and later input is ignored. Whatever the bytes, the decoder
 * never reads outside its input, never loops without consuming, never
 * crashes.
 */
#ifndef WSDBG_WS_DECODER_H
#define WSDBG_WS_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsdbg/alloc_cost.h"
#include "wsdbg/utf8.h"
#include "wsdbg/ws_error.h"
#include "wsdbg/ws_extensions.h"
#include "wsdbg/ws_frame.h"

struct ws_inflate;

struct ws_decoder_config {
	size_t keep_text;          /* bytes kept of each text message */
	size_t keep_binary;        /* bytes kept of each binary message (0: none) */
	uint64_t max_inflate;      /* bytes inflated of a message at most
				      (see the top); 0: no cap, and no
				      budget per input either */
	bool from_client;          /* sender is the client: frames must be
				      masked (RFC 6455 5.3); else they must not */
	bool deflate;              /* permessage-deflate agreed: RSV1 means
				      compressed (RFC 7692 6) */
	uint8_t window_bits;       /* sender's max window bits, 8..15, as
				      agreed (inflate decodes with the
				      largest window whatever it says:
				      ws_inflate_new) */
	bool no_context_takeover;  /* sender resets its window each message */
	bool inflate;              /* decompress; when false compressed messages
				      are reported with wire size, no data */
	bool borrow_masked;        /* hand out a message that is one masked
				      frame found whole in the input where it
				      lies, still masked (ws_message.masked),
				      instead of unmasking it into the kept
				      prefix: whoever copies it unmasks it
				      (ws_message_copy), and no byte is
				      written twice */
	bool defer_utf8;           /* leave the UTF-8 judgment of a text
				      message handed out where it lies (one
				      frame found whole in the input) to
				      whoever copies it: it goes out with
				      utf8_pending set, and ws_message_copy
				      judges it as it copies, so that a
				      caller that keeps the text anyway reads
				      it once, not twice */
};

/* Fills cfg for the direction whose sender is the client (from_client) or
 * the server, from the agreed deflate parameters (NULL: none). Keep sizes
 * and inflate are left as they were. */
void ws_decoder_config_set_deflate(struct ws_decoder_config *cfg,
				   bool from_client,
				   const struct ws_deflate_params *params);

/* A complete message (or control frame). */
struct ws_message {
	uint8_t opcode;         /* WS_OPCODE_TEXT, _BINARY, _CLOSE, _PING, _PONG */
	bool compressed;        /* sent with RSV1 (permessage-deflate) */
	bool inflated;          /* size and data are after decompression */
	bool truncated;         /* data holds only the first `kept` bytes */
	bool utf8_valid;        /* text / close reason is valid UTF-8; true
				   for binary, ping, pong (but see
				   utf8_pending) */
	bool masked;            /* data is still masked as on the wire: byte
				   i reads data[i] ^ mask[i % 4]. Only with
				   borrow_masked, only text and binary */
	bool utf8_pending;      /* text whose UTF-8 is not judged yet (only
				   with defer_utf8): utf8_valid means nothing,
				   ws_message_utf8_valid and ws_message_copy
				   say; data then holds the whole payload,
				   size bytes, of which kept are to keep */
	bool inflate_capped;    /* inflated, and stopped at the inflate cap
				   (see the top): size counts the bytes
				   inflated, a lower bound of the real one;
				   data is a true prefix; truncated is set;
				   utf8_valid judges the bytes inflated */
	uint8_t mask[4];
	uint32_t frames;        /* frames it came in; 1 for control frames */
	uint64_t size;          /* payload bytes after reassembly (and
				   decompression when inflated) */
	uint64_t wire_size;     /* payload bytes on the wire, all frames */
	const uint8_t *data;    /* first `kept` payload bytes; valid until the
				   next call on this decoder, and no longer
				   than the input passed to the call that
				   returned the message (it may point into
				   it: see ws_decoder_feed); masked when
				   `masked` is set */
	size_t kept;
	/* Close frames only (RFC 6455 5.5.1). */
	int close_code;         /* -1 when the frame has no status code */
	bool close_code_valid;  /* ws_close_code_is_valid(); false if none or
				   a 1-byte body */
	const uint8_t *close_reason; /* within data, close_reason_len bytes */
	size_t close_reason_len;
};

/* Decoder state: embed it or allocate it; init before use, free after. */
struct ws_decoder {
	struct ws_decoder_config cfg;
	struct ws_frame_decoder frame;
	enum ws_error error;

	/* The data message being reassembled, if any (RFC 6455 5.4). */
	bool in_message;
	bool close_seen;
	struct utf8_state utf8;  /* its text so far */
	struct ws_message msg;   /* its figures so far */
	size_t keep_limit;       /* keep_text or keep_binary for this message */

	/* Kept prefix of the current data message; grows up to keep_limit. */
	uint8_t *keep;
	size_t keep_len;
	size_t keep_cap;

	struct ws_inflate *inflate; /* created on the first compressed message */
	/* Bytes the input under way may still inflate
	 * (ws_decoder_begin_input); UINT64_MAX before any. */
	uint64_t inflate_budget;
	/* A capped message broke the window shared with later messages
	 * (context takeover): none is inflated again. */
	bool inflate_lost;

	uint64_t frames;         /* frame headers seen, all opcodes */

	/* The control frame being read (RFC 6455 5.5: at most 125 bytes).
	 * Last: what every data frame touches stays in fewer cache lines. */
	size_t control_len;
	uint8_t control[WS_CONTROL_MAX_PAYLOAD];
};

/* Sets d up for cfg. Allocates nothing; cannot fail. */
void ws_decoder_init(struct ws_decoder *d, const struct ws_decoder_config *cfg);

/* Releases the buffers and inflate stream d holds; d may be re-initialised. */
void ws_decoder_free(struct ws_decoder *d);

enum ws_decode_status {
	WS_DECODE_NEED_MORE = 0, /* all input consumed, no message completed */
	WS_DECODE_MESSAGE,       /* *msg is a completed message */
	WS_DECODE_ERROR,         /* ws_decoder_error(d) says why */
};

/*
 * Consumes bytes of buf until a message completes or buf is used up, and
 * stores how many in *consumed (<= len).
 *   WS_DECODE_MESSAGE: *msg holds the message; call again with the rest.
 *   WS_DECODE_NEED_MORE: *consumed == len; nothing completed yet.
 *   WS_DECODE_ERROR: a protocol error at buf[*consumed]; decoding of this
 *     direction has stopped. Later calls return WS_DECODE_ERROR at once,
 *     consuming all of their input.
 * buf is never written; it may be NULL when len is 0. msg->data stays
 * valid until the next call, as long as buf does: a message that is one
 * unmasked, uncompressed frame found whole in buf is handed out in place,
 * without a copy (what a server sends, and what a client receives); with
 * borrow_masked, so is one masked frame (what a client sends), still
 * masked.
 */
enum ws_decode_status ws_decoder_feed(struct ws_decoder *d, const uint8_t *buf,
				      size_t len, size_t *consumed,
				      struct ws_message *msg);

/* Inflated bytes that each byte of a host call's input may add to the
 * call's budget, beyond max_inflate (see the top). Twice what real
 * traffic reaches (streams of messages compressed with context takeover,
 * measured: JSON ticks 4.8 times smaller, log lines 3.2, tables of rows
 * 8.3, one heartbeat repeated 14.4), a 32nd of DEFLATE's 1,032: a read
 * full of small bombs gets this much, not 1,032. */
#define WS_DECODER_INFLATE_PER_BYTE 32

/* Announces that the next len bytes fed to d came in one call of the
 * host: until the next announcement, d inflates at most max_inflate +
 * WS_DECODER_INFLATE_PER_BYTE * len bytes in all; a message that would
 * go past it is capped as at max_inflate. Without announcements (or with
 * max_inflate 0) only the cap per message holds. */
void ws_decoder_begin_input(struct ws_decoder *d, size_t len);

/* Gives back the kept-prefix buffer between messages, once the caller is
 * done with the last message handed out (its data may point there),
 * unless it is at its smallest (256 bytes). Decoding goes on as before; a
 * later message that needs more allocates it again. For a buffer needed
 * only now and then, as for the inflated text of a compressed message:
 * held on, it would count against the caller's memory for nothing. No
 * effect inside a message. */
void ws_decoder_trim(struct ws_decoder *d);

/* Copies the first n (<= m->kept) payload bytes of m to dst, unmasked,
 * and returns ws_message_utf8_valid(m): for a message still utf8_pending,
 * judged in the same pass (the bytes copied are judged as they land in
 * dst, the rest of the payload where it lies). */
bool ws_message_copy(const struct ws_message *m, uint8_t *dst, size_t n);

/* Whether m's text or close reason is valid UTF-8 (true for binary, ping,
 * pong): m->utf8_valid, or, while m is utf8_pending, judged now from its
 * data where it lies. */
bool ws_message_utf8_valid(const struct ws_message *m);

/* Why decoding stopped, or WS_OK. */
static inline enum ws_error ws_decoder_error(const struct ws_decoder *d)
{
	return d->error;
}

/* Stops decoding with err (say, WS_ERR_GAP when bytes went unseen). Has no
 * effect if the decoder already stopped. */
void ws_decoder_fail(struct ws_decoder *d, enum ws_error err);

/* Of ws_decoder_memory(), what the inflate stream holds (zlib's state and
 * window, about 40 KiB once a compressed message came); 0 before. */
size_t ws_decoder_inflate_memory(const struct ws_decoder *d);

/* Bytes d holds on the heap now: its kept-prefix buffer and its inflate
 * stream with everything zlib allocated for it (state, window), each
 * allocation as wsdbg_alloc_cost() (alloc_cost.h) counts it. The struct
 * itself is the caller's. 0 for a new decoder. Inline: a caller that
 * counts memory asks after every message. */
static inline size_t ws_decoder_memory(const struct ws_decoder *d)
{
	size_t n = d->keep ? wsdbg_alloc_cost(d->keep_cap) : 0;

	return d->inflate ? n + ws_decoder_inflate_memory(d) : n;
}

#endif

/*
 * ws_inflate.h - RFC 7692 7.2.2 decompression of one direction's messages.
 *
 * One zlib raw-inflate stream per direction. The LZ77 window carries over
 * from message to message unless the sender agreed to no_context_takeover;
 * a message that ends with a BFINAL block keeps the window too (RFC 7692
 * 7.2.3.4). Input may be masked: it is unmasked on the way in, so the
 * caller's buffer is never written.
 */
#ifndef WSDBG_WS_INFLATE_H
#define WSDBG_WS_INFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsdbg/ws_error.h"

struct ws_inflate;

/* Receives each piece of decompressed output, in order, at most 2 KiB at a
 * time. The pointer is valid only during the call. Returns false to stop
 * the stream (a cap on what is inflated): no byte more is inflated, in
 * this call or a later one, until ws_inflate_reset(). */
typedef bool (*ws_inflate_sink)(void *ctx, const uint8_t *out, size_t len);

/* A new stream, with the largest window (2^15) whatever window the sender
 * agreed to (RFC 7692 7.1.2): zlib checks how far back a reference reaches
 * only beyond the output it has at hand in the call, so with a smaller
 * window a sender that reaches further back would be decoded or refused
 * depending on how its bytes were cut. With the largest, every valid
 * DEFLATE stream decodes the same way whatever the cuts. NULL when memory
 * is short. Free with ws_inflate_free(). */
struct ws_inflate *ws_inflate_new(void);

void ws_inflate_free(struct ws_inflate *z);

/* Decompresses len more payload bytes of the current message. mask is the
 * frame's masking key (NULL when unmasked) and offset the position of in[0]
 * within that frame's payload. Returns WS_OK or WS_ERR_INFLATE (then the
 * stream is unusable) or WS_ERR_NOMEM. Once the sink has stopped the
 * stream, returns WS_OK at once: the input is left unread. So the work of
 * a call is what it reads plus what the sink takes, and at most 2 KiB of
 * output beyond what the sink accepted. */
enum ws_error ws_inflate_feed(struct ws_inflate *z, const uint8_t *in,
			      size_t len, const uint8_t *mask,
			      uint64_t offset, ws_inflate_sink sink,
			      void *ctx);

/* Ends the current message: appends the 0x00 0x00 0xff 0xff tail that the
 * sender removed, flushes the output, and, when reset is true
 * (no_context_takeover), forgets the window (ws_inflate_reset). Same
 * returns as feed. A stream the sink stopped, midway or in this flush,
 * stays stopped unless reset: its window is no longer the sender's. */
enum ws_error ws_inflate_end_message(struct ws_inflate *z, bool reset,
				     ws_inflate_sink sink, void *ctx);

/* Forgets the window and whatever message was under way, stopped or not:
 * the stream is as new (RFC 7692 7.2.2: what no_context_takeover asks at
 * each message's end). Returns WS_OK, or WS_ERR_INFLATE when zlib's state
 * is broken. */
enum ws_error ws_inflate_reset(struct ws_inflate *z);

#endif

/*
 * ws_inflate.c - RFC 7692 7.2.2 decompression with zlib's raw inflate.
 *
 * Each message's payload is inflated as it arrives; at the message's end
 * the four bytes 0x00 0x00 0xff 0xff that the sender stripped (7.2.1) are
 * fed, which closes the sender's sync-flush block. Output goes to the
 * caller's sink in pieces of at most sizeof(out); the sink may stop the
 * stream (a cap), and then nothing more is inflated until a reset.
 */
#define ZLIB_CONST
#include "wsdbg/ws_inflate.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "wsdbg/alloc_cost.h"
#include "wsdbg/ws_frame.h"
#include "ws_inflate_memory.h"

struct ws_inflate {
	z_stream zs;
	size_t zmem;       /* bytes zlib holds through ws_inflate_zalloc */
	bool stream_end;   /* a BFINAL block ended the DEFLATE stream */
	bool stopped;      /* the sink said stop: nothing more until reset */
	/* Small: they are part of what each compressed direction holds,
	 * beside zlib's state and window (about 39 KiB), all counted in the
	 * registry's memory cap. 2,048 and 4,096 bytes took the same time
	 * to inflate 64 KiB messages; 1,024 of output, 13% more. */
	uint8_t in[512];   /* unmasked input */
	uint8_t out[2048]; /* inflated output before it goes to the sink */
};

/* zlib's allocations go through these so that ws_inflate_memory() can
 * say what they hold: each block starts with its size, in a header that
 * keeps the block aligned for any type. */
#define WS_INFLATE_ZHEADER _Alignof(max_align_t)
_Static_assert(WS_INFLATE_ZHEADER >= sizeof(size_t), "room for the size");

static voidpf ws_inflate_zalloc(voidpf opaque, uInt items, uInt size)
{
	struct ws_inflate *z = opaque;
	size_t n = (size_t)items * size; /* 32-bit factors: no overflow */
	unsigned char *p = malloc(WS_INFLATE_ZHEADER + n);

	if (!p)
		return Z_NULL;
	memcpy(p, &n, sizeof(n));
	z->zmem += wsdbg_alloc_cost(WS_INFLATE_ZHEADER + n);
	return p + WS_INFLATE_ZHEADER;
}

static void ws_inflate_zfree(voidpf opaque, voidpf address)
{
	struct ws_inflate *z = opaque;
	unsigned char *p = (unsigned char *)address - WS_INFLATE_ZHEADER;
	size_t n;

	memcpy(&n, p, sizeof(n));
	z->zmem -= wsdbg_alloc_cost(WS_INFLATE_ZHEADER + n);
	free(p);
}

size_t ws_inflate_memory(const struct ws_inflate *z)
{
	return wsdbg_alloc_cost(sizeof(*z)) + z->zmem;
}

struct ws_inflate *ws_inflate_new(void)
{
	struct ws_inflate *z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	z->zs.zalloc = ws_inflate_zalloc;
	z->zs.zfree = ws_inflate_zfree;
	z->zs.opaque = z;
	if (inflateInit2(&z->zs, -15) != Z_OK) { /* raw DEFLATE, 2^15 */
		free(z);
		return NULL;
	}
	return z;
}

void ws_inflate_free(struct ws_inflate *z)
{
	if (!z)
		return;
	inflateEnd(&z->zs);
	free(z);
}

/* Inflates in[0..len) and hands all output produced to sink, until the
 * sink stops the stream. */
static enum ws_error ws_inflate_pump(struct ws_inflate *z, const uint8_t *in,
				     size_t len, ws_inflate_sink sink,
				     void *ctx)
{
	z->zs.next_in = in;
	z->zs.avail_in = (uInt)len;
	for (;;) {
		/* RFC 7692 7.2.3.4: bytes after a BFINAL block are ignored
		 * until the message ends. */
		if (z->stream_end || z->stopped)
			return WS_OK;
		z->zs.next_out = z->out;
		z->zs.avail_out = sizeof(z->out);
		int rc = inflate(&z->zs, Z_SYNC_FLUSH);
		size_t produced = sizeof(z->out) - z->zs.avail_out;
		if (produced && !sink(ctx, z->out, produced)) {
			/* What zlib holds of in is not ours past this call:
			 * forget it (next_in would point into it). */
			z->stopped = true;
			z->zs.next_in = Z_NULL;
			z->zs.avail_in = 0;
			return WS_OK;
		}
		switch (rc) {
		case Z_OK:
			break;
		case Z_STREAM_END:
			z->stream_end = true;
			return WS_OK;
		case Z_BUF_ERROR: /* no progress possible: wants more input */
			return WS_OK;
		case Z_MEM_ERROR:
			return WS_ERR_NOMEM;
		default: /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
			return WS_ERR_INFLATE;
		}
		if (z->zs.avail_in == 0 && z->zs.avail_out != 0)
			return WS_OK;
	}
}

enum ws_error ws_inflate_feed(struct ws_inflate *z, const uint8_t *in,
			      size_t len, const uint8_t *mask,
			      uint64_t offset, ws_inflate_sink sink,
			      void *ctx)
{
	if (!mask)
		return ws_inflate_pump(z, in, len, sink, ctx);
	while (len > 0 && !z->stopped) {
		size_t n = len < sizeof(z->in) ? len : sizeof(z->in);
		ws_unmask_copy(z->in, in, n, mask, offset);
		enum ws_error err = ws_inflate_pump(z, z->in, n, sink, ctx);
		if (err != WS_OK)
			return err;
		in += n;
		len -= n;
		offset += n;
	}
	return WS_OK;
}

/* Starts a new DEFLATE stream after a BFINAL block, keeping the window as
 * the dictionary so later messages can still refer back into it. */
static enum ws_error ws_inflate_restart_keeping_window(struct ws_inflate *z)
{
	uint8_t *window = malloc(32768);
	uInt window_len = 0;
	if (!window)
		return WS_ERR_NOMEM;
	enum ws_error err = WS_OK;
	if (inflateGetDictionary(&z->zs, window, &window_len) != Z_OK ||
	    inflateReset(&z->zs) != Z_OK ||
	    (window_len > 0 &&
	     inflateSetDictionary(&z->zs, window, window_len) != Z_OK))
		err = WS_ERR_INFLATE;
	free(window);
	return err;
}

enum ws_error ws_inflate_reset(struct ws_inflate *z)
{
	z->stream_end = false;
	z->stopped = false;
	return inflateReset(&z->zs) == Z_OK ? WS_OK : WS_ERR_INFLATE;
}

enum ws_error ws_inflate_end_message(struct ws_inflate *z, bool reset,
				     ws_inflate_sink sink, void *ctx)
{
	static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
	enum ws_error err = ws_inflate_pump(z, tail, sizeof(tail), sink, ctx);
	if (err != WS_OK)
		return err;
	if (reset)
		return ws_inflate_reset(z);
	if (z->stopped) /* the window is not the sender's: left stopped */
		return WS_OK;
	if (z->stream_end)
		err = ws_inflate_restart_keeping_window(z);
	z->stream_end = false;
	return err;
}

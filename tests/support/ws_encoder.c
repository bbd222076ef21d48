/*
 * ws_encoder.c - WebSocket frames and messages for tests, from RFC 6455 5.2
 * and RFC 7692 7.2.1. Deliberately written without the decoder's code.
 */
#include "ws_encoder.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

void ws_encoder_buf_append(struct ws_encoder_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *data = realloc(b->data, cap);
		cr_assert_not_null(data, "ws_encoder: out of memory");
		b->data = data;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void ws_encoder_buf_free(struct ws_encoder_buf *b)
{
	free(b->data);
	*b = (struct ws_encoder_buf){0};
}

/* RFC 6455 5.2: byte 0 is FIN, RSV1-3, opcode; byte 1 is MASK and the 7-bit
 * length, where 126 and 127 announce a 16- or 64-bit length in network byte
 * order; then the 4-byte masking key if MASK is set. */
void ws_encoder_put_header(struct ws_encoder_buf *out,
			   const struct ws_encoder_frame *f, uint64_t length)
{
	uint8_t h[14];
	size_t n = 0;
	enum ws_encoder_length form = f->length_form;

	if (form == WS_ENCODER_LENGTH_MINIMAL)
		form = length <= 125     ? WS_ENCODER_LENGTH_7
		       : length <= 65535 ? WS_ENCODER_LENGTH_16
					 : WS_ENCODER_LENGTH_64;
	h[n++] = (uint8_t)((f->fin ? 0x80 : 0) | (f->rsv & 0x70) |
			   (f->opcode & 0x0f));
	uint8_t mask_bit = f->masked ? 0x80 : 0;
	switch (form) {
	case WS_ENCODER_LENGTH_7:
		cr_assert_leq(length, 125, "7-bit length form cannot hold it");
		h[n++] = (uint8_t)(mask_bit | length);
		break;
	case WS_ENCODER_LENGTH_16:
		cr_assert_leq(length, 65535, "16-bit length cannot hold it");
		h[n++] = mask_bit | 126;
		h[n++] = (uint8_t)(length >> 8);
		h[n++] = (uint8_t)length;
		break;
	default:
		h[n++] = mask_bit | 127;
		for (int shift = 56; shift >= 0; shift -= 8)
			h[n++] = (uint8_t)(length >> shift);
		break;
	}
	if (f->masked) {
		memcpy(h + n, f->mask, 4);
		n += 4;
	}
	ws_encoder_buf_append(out, h, n);
}

void ws_encoder_put_frame(struct ws_encoder_buf *out,
			  const struct ws_encoder_frame *f,
			  const uint8_t *payload, size_t len)
{
	ws_encoder_put_header(out, f, len);
	size_t start = out->len;
	ws_encoder_buf_append(out, payload, len);
	/* RFC 6455 5.3: octet i is XORed with key octet i MOD 4. */
	if (f->masked)
		for (size_t i = 0; i < len; i++)
			out->data[start + i] ^= f->mask[i % 4];
}

/* xorshift64 (Marsaglia); the state is never zero. */
static uint64_t ws_encoder_rand(struct ws_encoder *e)
{
	uint64_t x = e->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return e->rng = x;
}

void ws_encoder_init(struct ws_encoder *e, const struct ws_encoder_config *cfg)
{
	*e = (struct ws_encoder){.cfg = *cfg};
	e->rng = cfg->seed ^ UINT64_C(0x9e3779b97f4a7c15);
	if (e->rng == 0)
		e->rng = 1;
	if (!cfg->deflate)
		return;
	int bits = cfg->window_bits < 9 ? 9 : cfg->window_bits;
	cr_assert_leq(bits, 15);
	/* Negative window bits: raw deflate, no zlib header (RFC 7692). */
	int rc = deflateInit2(&e->z, cfg->level, Z_DEFLATED, -bits, 8,
			      Z_DEFAULT_STRATEGY);
	cr_assert_eq(rc, Z_OK, "deflateInit2: %d", rc);
	e->z_live = true;
}

void ws_encoder_free(struct ws_encoder *e)
{
	if (e->z_live)
		deflateEnd(&e->z);
	e->z_live = false;
}

/* A masking key for the next frame, or none for a server. */
static void ws_encoder_frame_key(struct ws_encoder *e,
				 struct ws_encoder_frame *f)
{
	f->masked = e->cfg.masked;
	if (!f->masked)
		return;
	uint64_t r = ws_encoder_rand(e);
	memcpy(f->mask, &r, 4);
}

void ws_encoder_put_control(struct ws_encoder *e, struct ws_encoder_buf *out,
			    uint8_t opcode, const uint8_t *payload, size_t len)
{
	struct ws_encoder_frame f = {.fin = true, .opcode = opcode};
	ws_encoder_frame_key(e, &f);
	ws_encoder_put_frame(out, &f, payload, len);
}

/* Runs deflate over the whole input with `flush` until it has nothing more
 * to write, appending the output to out. */
static void ws_encoder_deflate_all(struct ws_encoder *e,
				   struct ws_encoder_buf *out,
				   const uint8_t *in, size_t len, int flush)
{
	uint8_t chunk[16384];
	int rc;

	e->z.next_in = in;
	e->z.avail_in = (uInt)len;
	do {
		e->z.next_out = chunk;
		e->z.avail_out = sizeof(chunk);
		rc = deflate(&e->z, flush);
		/* Z_BUF_ERROR: a repeated flush with nothing new to write. */
		cr_assert(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR,
			  "deflate: %d", rc);
		ws_encoder_buf_append(out, chunk,
				      sizeof(chunk) - e->z.avail_out);
	} while (e->z.avail_out == 0 ||
		 (flush == Z_FINISH && rc != Z_STREAM_END));
	cr_assert_eq(e->z.avail_in, 0);
}

/* RFC 7692 7.2.1: compress, make sure the data ends with an empty stored
 * block (00 00 ff ff after its 3 header bits), and drop those 4 bytes. */
static void ws_encoder_compress(struct ws_encoder *e,
				struct ws_encoder_buf *out,
				const struct ws_encoder_message *m)
{
	static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};

	cr_assert(e->z_live, "compressing needs cfg.deflate");
	ws_encoder_deflate_all(e, out, m->payload, m->len,
			       m->bfinal ? Z_FINISH : Z_SYNC_FLUSH);
	if (out->len < 4 || memcmp(out->data + out->len - 4, tail, 4) != 0) {
		/* A BFINAL block, or a sync flush with nothing to flush: the
		 * stream is byte-aligned, so the empty stored block is a zero
		 * byte (BFINAL 0, BTYPE 00, padding) then LEN and NLEN. */
		static const uint8_t empty_block[5] = {0x00, 0x00, 0x00, 0xff,
						       0xff};
		ws_encoder_buf_append(out, empty_block, sizeof(empty_block));
	}
	out->len -= 4;
	/* After BFINAL the stream is over; it restarts with an empty window. */
	if (m->bfinal || e->cfg.no_context_takeover)
		deflateReset(&e->z);
}

static int ws_encoder_cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

uint64_t ws_encoder_put_message(struct ws_encoder *e,
				struct ws_encoder_buf *out,
				const struct ws_encoder_message *m)
{
	struct ws_encoder_buf packed = {0};
	const uint8_t *wire = m->payload;
	size_t wire_len = m->len;

	if (m->compress) {
		ws_encoder_compress(e, &packed, m);
		wire = packed.data;
		wire_len = packed.len;
	}

	/* Fragment boundaries: bounds[i] .. bounds[i + 1] is fragment i. */
	size_t n = m->fragments ? m->fragments : 1;
	size_t *bounds = malloc((n + 1) * sizeof(*bounds));
	cr_assert_not_null(bounds);
	bounds[0] = 0;
	bounds[n] = wire_len;
	for (size_t i = 1; i < n; i++)
		bounds[i] = m->cuts ? m->cuts[i - 1]
				    : ws_encoder_rand(e) % (wire_len + 1);
	qsort(bounds + 1, n - 1, sizeof(*bounds), ws_encoder_cmp_size);
	cr_assert_leq(bounds[n - 1], wire_len, "cut past the payload");

	size_t c = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len = bounds[i + 1] - bounds[i];
		struct ws_encoder_frame f = {
			.fin = i + 1 == n,
			/* RFC 7692 6: RSV1 on the first frame of a message. */
			.rsv = m->compress && i == 0 ? 0x40 : 0,
			/* RFC 6455 5.4: later fragments are continuations. */
			.opcode = i == 0 ? m->opcode : 0x0,
			.length_form = m->length_form,
		};
		if (f.length_form == WS_ENCODER_LENGTH_7 && len > 125)
			f.length_form = WS_ENCODER_LENGTH_16;
		if (f.length_form == WS_ENCODER_LENGTH_16 && len > 65535)
			f.length_form = WS_ENCODER_LENGTH_64;
		ws_encoder_frame_key(e, &f);
		ws_encoder_put_frame(out, &f, wire + bounds[i], len);
		for (; c < m->ncontrols && m->controls[c].after == i; c++)
			ws_encoder_put_control(e, out, m->controls[c].opcode,
					       m->controls[c].payload,
					       m->controls[c].len);
	}
	cr_assert_eq(c, m->ncontrols,
		     "controls must be sorted and placed before the last "
		     "fragment");
	free(bounds);
	ws_encoder_buf_free(&packed);
	return wire_len;
}

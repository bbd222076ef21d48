/*
 * ws_frame.c - RFC 6455 section 5.2 frame syntax, decoding side.
 *
 *   byte 0: FIN RSV1 RSV2 RSV3 opcode(4)
 *   byte 1: MASK length(7)        126: 16-bit length follows
 *                                 127: 64-bit length follows
 *   [2 or 8 bytes extended length, network order]
 *   [4 bytes masking key when MASK]
 *   payload
 *
 * When a whole header is in the input it is parsed in one step; otherwise
 * the state machine collects it byte by byte across calls.
 */
#include "wsdbg/ws_frame.h"

#include <string.h>

#include "scan_avx2.h"
#include "vec16.h"

const char *ws_opcode_name(unsigned opcode)
{
	switch (opcode) {
	case WS_OPCODE_CONTINUATION: return "continuation";
	case WS_OPCODE_TEXT: return "text";
	case WS_OPCODE_BINARY: return "binary";
	case WS_OPCODE_CLOSE: return "close";
	case WS_OPCODE_PING: return "ping";
	case WS_OPCODE_PONG: return "pong";
	default: return "reserved";
	}
}

/* Reads the n-byte big-endian number at p; inline, so that a constant n
 * unrolls. */
static inline uint64_t ws_frame_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Extended length bytes announced by the 7-bit length field. */
static unsigned ws_frame_ext_bytes(uint8_t len7)
{
	return len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
}

static void ws_frame_take_byte0(struct ws_frame_decoder *dec, uint8_t b)
{
	dec->header.fin = (b & WS_FRAME_FIN) != 0;
	dec->header.rsv = b & (WS_FRAME_RSV1 | WS_FRAME_RSV2 | WS_FRAME_RSV3);
	dec->header.opcode = b & 0x0f;
}

/* Sets the payload length; fails on a 64-bit length with the top bit set
 * (RFC 6455 5.2: "the most significant bit MUST be 0"). */
static bool ws_frame_set_length(struct ws_frame_decoder *dec, uint64_t length)
{
	if (length > WS_FRAME_MAX_LENGTH) {
		dec->state = WS_FRAME_STATE_FAILED;
		dec->error = WS_ERR_LENGTH_TOP_BIT;
		return false;
	}
	dec->header.length = length;
	return true;
}

static void ws_frame_start_payload(struct ws_frame_decoder *dec)
{
	dec->state = WS_FRAME_STATE_PAYLOAD;
	dec->offset = 0;
}

int ws_frame_header_parse(const uint8_t *buf, size_t len,
			  struct ws_frame_header *h)
{
	if (len < 2)
		return 0;
	uint8_t len7 = buf[1] & 0x7f;
	bool masked = (buf[1] & 0x80) != 0;
	unsigned ext = ws_frame_ext_bytes(len7);
	size_t size = 2 + ext + (masked ? 4 : 0);
	if (len < size)
		return 0;
	/* The two sizes spelled out: a loop over ext bytes costs a dozen
	 * instructions per frame, and most frames pass here. */
	uint64_t length = ext == 0 ? len7
			: ext == 2 ? ws_frame_be(buf + 2, 2)
				   : ws_frame_be(buf + 2, 8);
	if (length > WS_FRAME_MAX_LENGTH)
		return -1;
	h->length = length;
	h->fin = (buf[0] & WS_FRAME_FIN) != 0;
	h->rsv = buf[0] & (WS_FRAME_RSV1 | WS_FRAME_RSV2 | WS_FRAME_RSV3);
	h->opcode = buf[0] & 0x0f;
	h->masked = masked;
	if (masked)
		memcpy(h->mask, buf + 2 + ext, 4);
	return (int)size;
}

/* Parses a header that lies whole in buf; returns its size, 0 if buf is too
 * short (nothing consumed then), or -1 on error. */
static int ws_frame_header_whole(struct ws_frame_decoder *dec,
				 const uint8_t *buf, size_t len)
{
	int size = ws_frame_header_parse(buf, len, &dec->header);

	if (size < 0) {
		dec->state = WS_FRAME_STATE_FAILED;
		dec->error = WS_ERR_LENGTH_TOP_BIT;
	} else if (size > 0) {
		ws_frame_start_payload(dec);
	}
	return size;
}

/* Appends bytes to dec->partial until it holds dec->need of them. Returns
 * true once complete. */
static bool ws_frame_collect(struct ws_frame_decoder *dec, const uint8_t *buf,
			     size_t len, size_t *pos)
{
	size_t n = (size_t)(dec->need - dec->have);
	if (n > len - *pos)
		n = len - *pos;
	memcpy(dec->partial + dec->have, buf + *pos, n);
	dec->have += (uint8_t)n;
	*pos += n;
	return dec->have == dec->need;
}

/* After the length: the masking key, or straight to the payload. */
static void ws_frame_after_length(struct ws_frame_decoder *dec)
{
	if (dec->header.masked) {
		dec->state = WS_FRAME_STATE_MASK_KEY;
		dec->need = 4;
		dec->have = 0;
	} else {
		ws_frame_start_payload(dec);
	}
}

/* Hands out as much of the current payload as buf[*pos..len) holds. */
static void ws_frame_take_payload(struct ws_frame_decoder *dec,
				  const uint8_t *buf, size_t len, size_t *pos,
				  struct ws_frame_chunk *chunk)
{
	uint64_t remaining = dec->header.length - dec->offset;
	size_t avail = len - *pos;
	size_t n = remaining < avail ? (size_t)remaining : avail;

	chunk->data = buf + *pos;
	chunk->len = n;
	chunk->offset = dec->offset;
	chunk->last = n == remaining;
	dec->offset += n;
	*pos += n;
	if (chunk->last)
		dec->state = WS_FRAME_STATE_HEADER;
}

enum ws_frame_event ws_frame_decode(struct ws_frame_decoder *dec,
				    const uint8_t *buf, size_t len,
				    size_t *consumed,
				    struct ws_frame_chunk *chunk)
{
	size_t pos = 0;

	/* No input is never an event (a frame ends with the chunk that
	 * brings its last byte); and buf may be NULL. */
	if (len == 0) {
		*consumed = 0;
		return dec->state == WS_FRAME_STATE_FAILED ? WS_FRAME_ERROR
							   : WS_FRAME_NEED_MORE;
	}
	for (;;) {
		switch (dec->state) {
		case WS_FRAME_STATE_HEADER: {
			int whole = ws_frame_header_whole(dec, buf + pos,
							  len - pos);
			if (whole < 0) {
				*consumed = pos;
				return WS_FRAME_ERROR;
			}
			if (whole > 0) {
				pos += (size_t)whole;
				goto header_done;
			}
			if (pos == len)
				goto need_more;
			ws_frame_take_byte0(dec, buf[pos++]);
			dec->state = WS_FRAME_STATE_LENGTH;
			break;
		}
		case WS_FRAME_STATE_LENGTH: {
			if (pos == len)
				goto need_more;
			uint8_t b = buf[pos++];
			uint8_t len7 = b & 0x7f;
			dec->header.masked = (b & 0x80) != 0;
			dec->header.length = len7;
			if (ws_frame_ext_bytes(len7)) {
				dec->state = WS_FRAME_STATE_EXT_LENGTH;
				dec->need = (uint8_t)ws_frame_ext_bytes(len7);
				dec->have = 0;
				break;
			}
			ws_frame_after_length(dec);
			if (dec->state == WS_FRAME_STATE_PAYLOAD)
				goto header_done;
			break;
		}
		case WS_FRAME_STATE_EXT_LENGTH:
			if (!ws_frame_collect(dec, buf, len, &pos))
				goto need_more;
			if (!ws_frame_set_length(
				    dec, ws_frame_be(dec->partial, dec->need))) {
				*consumed = pos;
				return WS_FRAME_ERROR;
			}
			ws_frame_after_length(dec);
			if (dec->state == WS_FRAME_STATE_PAYLOAD)
				goto header_done;
			break;
		case WS_FRAME_STATE_MASK_KEY:
			if (!ws_frame_collect(dec, buf, len, &pos))
				goto need_more;
			memcpy(dec->header.mask, dec->partial, 4);
			ws_frame_start_payload(dec);
			goto header_done;
		case WS_FRAME_STATE_PAYLOAD:
			if (pos == len && dec->offset < dec->header.length)
				goto need_more;
			ws_frame_take_payload(dec, buf, len, &pos, chunk);
			*consumed = pos;
			return WS_FRAME_PAYLOAD;
		case WS_FRAME_STATE_FAILED:
		default:
			*consumed = 0;
			return WS_FRAME_ERROR;
		}
	}

header_done:
	/* Small frames usually arrive whole: hand out the payload at hand
	 * with the header, saving the caller a call per frame. */
	ws_frame_take_payload(dec, buf, len, &pos, chunk);
	*consumed = pos;
	return WS_FRAME_HEADER;
need_more:
	*consumed = pos;
	return WS_FRAME_NEED_MORE;
}

/* ws_unmask_copy sixteen bytes a load (vec16.h). */
static inline uint8_t ws_unmask_copy16(uint8_t *dst, const uint8_t *src,
				       size_t len, const uint8_t mask[4],
				       uint64_t offset)
{
	/* 16 is a multiple of 4: the same key vector serves every block. */
	const vec16 k = vec16_mask_key(mask, offset);
	vec16 seen = {0}; /* OR of every byte written */
	size_t i = 0;

	/* Four blocks per round: independent loads keep the pipeline busy.
	 * Each block is loaded before it is stored, so dst may be src. */
	for (; i + 64 <= len; i += 64) {
		vec16 a = vec16_load(src + i) ^ k;
		vec16 b = vec16_load(src + i + 16) ^ k;
		vec16 c = vec16_load(src + i + 32) ^ k;
		vec16 d = vec16_load(src + i + 48) ^ k;
		seen |= (a | b) | (c | d);
		vec16_store(dst + i, a);
		vec16_store(dst + i + 16, b);
		vec16_store(dst + i + 32, c);
		vec16_store(dst + i + 48, d);
	}
	for (; i + 16 <= len; i += 16) {
		vec16 a = vec16_load(src + i) ^ k;
		seen |= a;
		vec16_store(dst + i, a);
	}
	uint8_t tail = 0;
	for (; i < len; i++) {
		dst[i] = src[i] ^ mask[(offset + i) & 3];
		tail |= dst[i];
	}
	return vec16_any_high(seen) || (tail & 0x80) ? 0x80 : 0;
}

/* A long payload 32 bytes a load (scan_avx2.h), then the rest as above.
 * Out of line, so that a short payload's copy keeps no registers across a
 * call. */
__attribute__((noinline)) static uint8_t
ws_unmask_copy_long(uint8_t *dst, const uint8_t *src, size_t len,
		    const uint8_t mask[4], uint64_t offset)
{
	uint8_t high = 0;
	size_t i = scan_avx2_unmask_copy(dst, src, len,
					 vec16_mask_key(mask, offset), &high);

	return high | ws_unmask_copy16(dst + i, src + i, len - i, mask,
				       offset + i);
}

uint8_t ws_unmask_copy(uint8_t *dst, const uint8_t *src, size_t len,
		       const uint8_t mask[4], uint64_t offset)
{
	if (len >= SCAN_AVX2_MIN && scan_avx2_usable())
		return ws_unmask_copy_long(dst, src, len, mask, offset);
	return ws_unmask_copy16(dst, src, len, mask, offset);
}

/*
 * test_ws_frame.c - frame syntax (RFC 6455 5.2): header fields, the three
 * length forms, masking keys, payload pieces, and the one error the frame
 * layer knows. Sequences are fed at every split (splits.h).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "splits.h"
#include "strbuf.h"
#include "wsdbg/ws_frame.h"

/* splits_runner: logs each frame as "op=1 fin=1 rsv=0 len=5 mask=... 'payload'"
 * with the payload unmasked and joined across pieces. */
static char *frame_log_run(void *ctx, const struct splits_piece *pieces,
			   size_t n)
{
	(void)ctx;
	struct ws_frame_decoder dec;
	struct strbuf b = {0};
	ws_frame_decoder_init(&dec);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = pieces[i].data;
		size_t len = pieces[i].len;
		for (;;) {
			size_t used = 0;
			struct ws_frame_chunk c;
			enum ws_frame_event ev =
				ws_frame_decode(&dec, p, len, &used, &c);
			cr_assert_leq(used, len);
			p += used;
			len -= used;
			if (ev == WS_FRAME_NEED_MORE) {
				cr_assert_eq(len, 0);
				break;
			}
			if (ev == WS_FRAME_ERROR) {
				strbuf_printf(&b, "error %s\n",
					      ws_error_name(dec.error));
				return strbuf_take(&b);
			}
			if (ev == WS_FRAME_HEADER) {
				const struct ws_frame_header *h = &dec.header;
				strbuf_printf(&b, "op=%x fin=%d rsv=%x len=%llu",
					      h->opcode, h->fin, h->rsv >> 4,
					      (unsigned long long)h->length);
				if (h->masked)
					strbuf_printf(&b, " mask=%02x%02x%02x%02x",
						      h->mask[0], h->mask[1],
						      h->mask[2], h->mask[3]);
				strbuf_printf(&b, " '");
			}
			uint8_t *plain = malloc(c.len + 1);
			cr_assert_not_null(plain);
			if (dec.header.masked)
				ws_unmask_copy(plain, c.data, c.len,
					       dec.header.mask, c.offset);
			else
				memcpy(plain, c.data, c.len);
			strbuf_escaped(&b, plain, c.len);
			free(plain);
			if (c.last)
				strbuf_printf(&b, "'\n");
		}
	}
	return strbuf_take(&b);
}

static void expect_frames(const void *in, size_t len, const char *expected)
{
	char *log = splits_check(in, len, frame_log_run, NULL);
	cr_assert_str_eq(log, expected);
	free(log);
}

Test(ws_frame, header_bits_are_read_as_sent)
{
	static const uint8_t in[] = {0x71, 0x00, 0x0a, 0x00};
	expect_frames(in, sizeof(in),
		      "op=1 fin=0 rsv=7 len=0 ''\nop=a fin=0 rsv=0 len=0 ''\n");
}

Test(ws_frame, masked_payload_comes_out_unmasked_in_any_pieces)
{
	static const uint8_t in[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
				     0x9f, 0x4d, 0x51, 0x58};
	expect_frames(in, sizeof(in),
		      "op=1 fin=1 rsv=0 len=5 mask=37fa213d 'Hello'\n");
}

Test(ws_frame, length_125_fits_the_7_bit_form)
{
	uint8_t in[2 + 125] = {0x82, 125};
	memset(in + 2, 'z', 125);
	char *log = splits_check(in, sizeof(in), frame_log_run, NULL);
	cr_assert(strncmp(log, "op=2 fin=1 rsv=0 len=125 'zz", 28) == 0);
	free(log);
}

Test(ws_frame, length_126_uses_the_16_bit_form)
{
	uint8_t in[4 + 126] = {0x82, 126, 0x00, 126};
	char *log = splits_check(in, sizeof(in), frame_log_run, NULL);
	cr_assert(strncmp(log, "op=2 fin=1 rsv=0 len=126 '", 26) == 0);
	free(log);
}

Test(ws_frame, minimum_64_bit_length_is_65536)
{
	static const uint8_t head[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0};
	struct ws_frame_decoder dec;
	ws_frame_decoder_init(&dec);
	size_t used;
	struct ws_frame_chunk c;
	cr_assert_eq(ws_frame_decode(&dec, head, sizeof(head), &used, &c),
		     WS_FRAME_HEADER);
	cr_assert_eq(used, sizeof(head));
	cr_assert_eq(dec.header.length, 65536);
	cr_assert_eq(c.len, 0);
}

Test(ws_frame, largest_64_bit_length_is_accepted)
{
	static const uint8_t head[] = {0x82, 127, 0x7f, 0xff, 0xff, 0xff,
				       0xff, 0xff, 0xff, 0xff};
	struct ws_frame_decoder dec;
	ws_frame_decoder_init(&dec);
	size_t used;
	struct ws_frame_chunk c;
	cr_assert_eq(ws_frame_decode(&dec, head, sizeof(head), &used, &c),
		     WS_FRAME_HEADER);
	cr_assert_eq(dec.header.length, WS_FRAME_MAX_LENGTH);
	cr_assert_eq(c.len, 0, "no payload was given with the header");
	cr_assert_not(c.last);
	/* Payload pieces carry their offset. */
	static const uint8_t some[] = {1, 2, 3};
	cr_assert_eq(ws_frame_decode(&dec, some, 3, &used, &c), WS_FRAME_PAYLOAD);
	cr_assert_eq(c.offset, 0);
	cr_assert_eq(c.len, 3);
	cr_assert_not(c.last);
	cr_assert_eq(ws_frame_decode(&dec, some, 2, &used, &c), WS_FRAME_PAYLOAD);
	cr_assert_eq(c.offset, 3);
	cr_assert_eq(ws_frame_decode(&dec, some, 0, &used, &c),
		     WS_FRAME_NEED_MORE);
}

Test(ws_frame, length_with_top_bit_set_is_an_error_whatever_the_split)
{
	static const uint8_t in[] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0};
	expect_frames(in, sizeof(in), "error length_top_bit\n");
}

Test(ws_frame, after_an_error_nothing_is_consumed)
{
	static const uint8_t in[] = {0x82, 127, 0xff, 0, 0, 0, 0, 0, 0, 0, 1};
	struct ws_frame_decoder dec;
	ws_frame_decoder_init(&dec);
	size_t used;
	struct ws_frame_chunk c;
	cr_assert_eq(ws_frame_decode(&dec, in, sizeof(in), &used, &c),
		     WS_FRAME_ERROR);
	cr_assert_eq(ws_frame_decode(&dec, in + 10, 1, &used, &c),
		     WS_FRAME_ERROR);
	cr_assert_eq(used, 0);
}

Test(ws_frame, zero_length_frame_gives_one_empty_last_chunk)
{
	static const uint8_t in[] = {0x89, 0x00};
	struct ws_frame_decoder dec;
	ws_frame_decoder_init(&dec);
	size_t used;
	struct ws_frame_chunk c;
	cr_assert_eq(ws_frame_decode(&dec, in, 2, &used, &c), WS_FRAME_HEADER);
	cr_assert_eq(used, 2);
	cr_assert(c.last);
	cr_assert_eq(c.len, 0);
	cr_assert_eq(ws_frame_decode(&dec, in + 2, 0, &used, &c),
		     WS_FRAME_NEED_MORE);
	cr_assert_eq(used, 0);
}

Test(ws_frame, back_to_back_frames_of_each_length_form)
{
	uint8_t in[2 + 3 + 4 + 200 + 10 + 70000];
	size_t n = 0;
	in[n++] = 0x81; in[n++] = 3;
	memcpy(in + n, "abc", 3); n += 3;
	in[n++] = 0x82; in[n++] = 126; in[n++] = 0; in[n++] = 200;
	memset(in + n, 'b', 200); n += 200;
	static const uint8_t h64[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70};
	memcpy(in + n, h64, sizeof(h64)); n += sizeof(h64);
	memset(in + n, 'c', 70000); n += 70000;
	char *log = splits_check(in, n, frame_log_run, NULL);
	cr_assert(strncmp(log, "op=1 fin=1 rsv=0 len=3 'abc'\nop=2 fin=1 rsv=0 "
			  "len=200 'bbb", 50) == 0, "%.80s", log);
	cr_assert(strstr(log, "\nop=2 fin=1 rsv=0 len=70000 'ccc") != NULL);
	free(log);
}

Test(ws_frame, header_parse_reads_whole_headers_and_leaves_short_ones)
{
	static const uint8_t masked16[] = {0x81, 0x80 | 126, 0x01, 0x02,
					   0xa1, 0xb2, 0xc3, 0xd4};
	static const uint8_t plain64[] = {0x42, 127, 0, 0, 0, 0, 0, 1, 0, 0};
	static const uint8_t top_bit[] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t mask[4] = {0xa1, 0xb2, 0xc3, 0xd4};
	struct ws_frame_header h;

	cr_assert_eq(ws_frame_header_parse(masked16, sizeof(masked16), &h), 8);
	cr_assert(h.fin && h.masked);
	cr_assert_eq(h.opcode, WS_OPCODE_TEXT);
	cr_assert_eq(h.rsv, 0);
	cr_assert_eq(h.length, 0x0102);
	cr_assert_arr_eq(h.mask, mask, 4);

	cr_assert_eq(ws_frame_header_parse(plain64, sizeof(plain64), &h), 10);
	cr_assert_not(h.fin || h.masked);
	cr_assert_eq(h.rsv, WS_FRAME_RSV1);
	cr_assert_eq(h.opcode, WS_OPCODE_BINARY);
	cr_assert_eq(h.length, 65536);

	/* Short of a whole header, at every length: nothing is touched. */
	for (size_t n = 0; n < sizeof(masked16); n++) {
		memset(&h, 0x5a, sizeof(h));
		cr_assert_eq(ws_frame_header_parse(masked16, n, &h), 0);
		cr_assert_eq(h.opcode, 0x5a, "changed at %zu bytes", n);
	}
	cr_assert_eq(ws_frame_header_parse(top_bit, sizeof(top_bit), &h), -1);
}

Test(ws_frame, unmask_copy_matches_bytewise_xor_at_every_offset)
{
	static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
	uint8_t src[37], dst[37], inplace[37];
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 31 + 7);
	for (uint64_t off = 0; off < 8; off++) {
		for (size_t len = 0; len <= sizeof(src); len++) {
			ws_unmask_copy(dst, src, len, mask, off);
			memcpy(inplace, src, len);
			ws_unmask_copy(inplace, inplace, len, mask, off);
			for (size_t i = 0; i < len; i++) {
				uint8_t want = src[i] ^ mask[(off + i) & 3];
				cr_assert_eq(dst[i], want);
				cr_assert_eq(inplace[i], want);
			}
		}
	}
}

Test(ws_frame, unmask_copy_of_long_payloads_is_exact_and_flags_any_high_byte)
{
	/* Long enough for the 128-byte steps where the processor has them
	 * (scan_avx2.h), and lengths either side of where they stop: the
	 * bytes, and whether one of them is not ASCII, wherever it is. */
	static const uint8_t mask[4] = {0xa1, 0x07, 0x3c, 0xf0};
	static const size_t lens[] = {255, 256, 257, 383, 384, 385, 511, 700};
	uint8_t plain[700], src[700], dst[700], inplace[700];

	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(' ' + i % 90);
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		size_t len = lens[l];

		for (uint64_t off = 0; off < 4; off++) {
			for (size_t i = 0; i < len; i++)
				src[i] = plain[i] ^ mask[(off + i) & 3];
			cr_assert_eq(ws_unmask_copy(dst, src, len, mask, off), 0);
			cr_assert_arr_eq(dst, plain, len, "len %zu off %zu",
					 len, (size_t)off);
			memcpy(inplace, src, len);
			ws_unmask_copy(inplace, inplace, len, mask, off);
			cr_assert_arr_eq(inplace, plain, len);
			for (size_t pos = 0; pos < len; pos++) {
				src[pos] ^= 0x80; /* plain[pos] | 0x80 */
				cr_assert_eq(ws_unmask_copy(dst, src, len, mask,
							    off),
					     0x80, "len %zu off %zu pos %zu",
					     len, (size_t)off, pos);
				cr_assert_eq(dst[pos], plain[pos] | 0x80);
				src[pos] ^= 0x80;
			}
		}
	}
}

Test(ws_frame, opcode_names)
{
	cr_assert_str_eq(ws_opcode_name(WS_OPCODE_CONTINUATION), "continuation");
	cr_assert_str_eq(ws_opcode_name(WS_OPCODE_TEXT), "text");
	cr_assert_str_eq(ws_opcode_name(WS_OPCODE_BINARY), "binary");
	cr_assert_str_eq(ws_opcode_name(WS_OPCODE_CLOSE), "close");
	cr_assert_str_eq(ws_opcode_name(WS_OPCODE_PING), "ping");
	cr_assert_str_eq(ws_opcode_name(WS_OPCODE_PONG), "pong");
	cr_assert_str_eq(ws_opcode_name(3), "reserved");
	cr_assert(ws_opcode_is_control(WS_OPCODE_PING));
	cr_assert_not(ws_opcode_is_control(WS_OPCODE_BINARY));
}

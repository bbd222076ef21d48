/*
 * test_ws_inflate.c - permessage-deflate (RFC 7692): the section 7.2.3
 * examples as golden vectors, context takeover, window sizes, corrupt data,
 * and the kept prefix of inflated text. Inputs go through
 * decode_log_expect(), so each is also fed at every split.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "decode_log.h"
#include "wsdbg/ws_decoder.h"
#include "wsdbg/ws_inflate.h"

static const struct ws_decoder_config deflate_from_server = {
	.from_client = false, .keep_text = 10240, .keep_binary = 64,
	.deflate = true, .window_bits = 15, .inflate = true};

#define EXPECT(cfg, bytes, expected) \
	decode_log_expect(&(cfg), (bytes), sizeof(bytes), (expected))

#define HELLO_INFLATED \
	"text size=5 wire=7 frames=1 kept=5 compressed inflated 'Hello'\n"

Test(ws_inflate, rfc7692_7_2_3_1_message_in_one_compressed_block)
{
	static const uint8_t in[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd,
				     0xc9, 0xc9, 0x07, 0x00};
	EXPECT(deflate_from_server, in, HELLO_INFLATED);
}

Test(ws_inflate, rfc7692_7_2_3_1_compressed_message_in_two_fragments)
{
	static const uint8_t in[] = {0x41, 0x03, 0xf2, 0x48, 0xcd,
				     0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00};
	EXPECT(deflate_from_server, in,
	       "text size=5 wire=7 frames=2 kept=5 compressed inflated "
	       "'Hello'\n");
}

Test(ws_inflate, rfc7692_7_2_3_2_second_message_refers_to_the_first)
{
	static const uint8_t in[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9,
				     0xc9, 0x07, 0x00, 0xc1, 0x05, 0xf2,
				     0x00, 0x11, 0x00, 0x00};
	EXPECT(deflate_from_server, in,
	       HELLO_INFLATED
	       "text size=5 wire=5 frames=1 kept=5 compressed inflated "
	       "'Hello'\n");
}

Test(ws_inflate, no_context_takeover_forgets_the_window_between_messages)
{
	/* The same second message is a back-reference into nothing once the
	 * window is reset: a peer that agreed no_context_takeover and still
	 * refers back is caught. */
	static const uint8_t in[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9,
				     0xc9, 0x07, 0x00, 0xc1, 0x05, 0xf2,
				     0x00, 0x11, 0x00, 0x00};
	struct ws_decoder_config cfg = deflate_from_server;
	cfg.no_context_takeover = true;
	EXPECT(cfg, in, HELLO_INFLATED "error inflate\n");
}

Test(ws_inflate, rfc7692_7_2_3_3_stored_block_without_compression)
{
	static const uint8_t in[] = {0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff,
				     0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00};
	EXPECT(deflate_from_server, in,
	       "text size=5 wire=11 frames=1 kept=5 compressed inflated "
	       "'Hello'\n");
}

Test(ws_inflate, rfc7692_7_2_3_4_block_with_bfinal_set)
{
	static const uint8_t in[] = {0xc1, 0x08, 0xf3, 0x48, 0xcd,
				     0xc9, 0xc9, 0x07, 0x00, 0x00};
	EXPECT(deflate_from_server, in,
	       "text size=5 wire=8 frames=1 kept=5 compressed inflated "
	       "'Hello'\n");
}

Test(ws_inflate, window_survives_a_bfinal_block_for_the_next_message)
{
	/* 7.2.3.4's message, then 7.2.3.2's second message, which copies
	 * "Hello" from the window the BFINAL message left behind. */
	static const uint8_t in[] = {0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9,
				     0xc9, 0x07, 0x00, 0x00, 0xc1, 0x05,
				     0xf2, 0x00, 0x11, 0x00, 0x00};
	EXPECT(deflate_from_server, in,
	       "text size=5 wire=8 frames=1 kept=5 compressed inflated "
	       "'Hello'\n"
	       "text size=5 wire=5 frames=1 kept=5 compressed inflated "
	       "'Hello'\n");
}

Test(ws_inflate, rfc7692_7_2_3_5_two_deflate_blocks_in_one_message)
{
	static const uint8_t in[] = {0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00,
				     0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07,
				     0x00};
	EXPECT(deflate_from_server, in,
	       "text size=5 wire=13 frames=1 kept=5 compressed inflated "
	       "'Hello'\n");
}

Test(ws_inflate, masked_compressed_message_from_a_client)
{
	static const uint8_t key[4] = {0x01, 0x02, 0x03, 0x04};
	static const uint8_t payload[] = {0xf2, 0x48, 0xcd, 0xc9,
					  0xc9, 0x07, 0x00};
	uint8_t in[2 + 4 + sizeof(payload)] = {0xc1, 0x80 | sizeof(payload)};
	memcpy(in + 2, key, 4);
	for (size_t i = 0; i < sizeof(payload); i++)
		in[6 + i] = payload[i] ^ key[i & 3];
	struct ws_decoder_config cfg = deflate_from_server;
	cfg.from_client = true;
	EXPECT(cfg, in, HELLO_INFLATED);
}

Test(ws_inflate, uncompressed_messages_mix_with_compressed_ones)
{
	static const uint8_t in[] = {0x81, 0x02, 'h', 'i', 0xc1, 0x07, 0xf2,
				     0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
	EXPECT(deflate_from_server, in,
	       "text size=2 wire=2 frames=1 kept=2 'hi'\n" HELLO_INFLATED);
}

Test(ws_inflate, with_inflate_off_compressed_messages_show_wire_size_only)
{
	static const uint8_t in[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd,
				     0xc9, 0xc9, 0x07, 0x00};
	struct ws_decoder_config cfg = deflate_from_server;
	cfg.inflate = false;
	EXPECT(cfg, in,
	       "text size=7 wire=7 frames=1 kept=0 compressed truncated ''\n");
}

Test(ws_inflate, rsv1_on_a_continuation_frame_is_an_error)
{
	static const uint8_t in[] = {0x41, 0x03, 0xf2, 0x48, 0xcd,
				     0xc0, 0x04, 0xc9, 0xc9, 0x07, 0x00};
	EXPECT(deflate_from_server, in, "error continuation_compressed\n");
}

Test(ws_inflate, rsv1_on_a_control_frame_is_an_error)
{
	static const uint8_t in[] = {0xc9, 0x00};
	EXPECT(deflate_from_server, in, "error control_compressed\n");
}

Test(ws_inflate, corrupt_deflate_data_stops_only_this_direction)
{
	/* 0xff starts a block of reserved type 3: invalid DEFLATE. */
	static const uint8_t bad[] = {0xc1, 0x02, 0xff, 0xff};
	EXPECT(deflate_from_server, bad, "error inflate\n");
	static const uint8_t good[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd,
				       0xc9, 0xc9, 0x07, 0x00};
	EXPECT(deflate_from_server, good, HELLO_INFLATED);
}

/* Compresses src as one permessage-deflate message: raw DEFLATE with a sync
 * flush, the 0x00 0x00 0xff 0xff tail removed (RFC 7692 7.2.1). */
static size_t compress_message(uint8_t *out, size_t cap, const void *src,
			       size_t len, int window_bits)
{
	z_stream zs = {0};
	cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, -window_bits, 8,
				  Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)src;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	cr_assert_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
	cr_assert_eq(zs.avail_in, 0);
	size_t n = cap - zs.avail_out;
	deflateEnd(&zs);
	cr_assert(n >= 4 && memcmp(out + n - 4, "\x00\x00\xff\xff", 4) == 0);
	return n - 4;
}

/* Wraps payload in one unmasked frame with RSV1 and a 16/64-bit length. */
static size_t compressed_frame(uint8_t *out, uint8_t opcode,
			       const uint8_t *payload, size_t len)
{
	size_t n = 0;
	out[n++] = 0xc0 | opcode;
	if (len < 126) {
		out[n++] = (uint8_t)len;
	} else if (len <= 0xffff) {
		out[n++] = 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = 127;
		for (int i = 7; i >= 0; i--)
			out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	memcpy(out + n, payload, len);
	return n + len;
}

Test(ws_inflate, large_inflated_text_keeps_a_prefix_but_counts_every_byte)
{
	size_t len = 200000;
	char *text = malloc(len);
	cr_assert_not_null(text);
	for (size_t i = 0; i < len; i++)
		text[i] = (char)('a' + (i * 7 + i / 13) % 26);
	uint8_t *payload = malloc(len + 1024);
	uint8_t *in = malloc(len + 1100);
	cr_assert(payload && in);
	size_t plen = compress_message(payload, len + 1024, text, len, 15);
	size_t n = compressed_frame(in, 0x1, payload, plen);

	struct ws_decoder d;
	struct ws_decoder_config cfg = deflate_from_server;
	cfg.keep_text = 1000;
	ws_decoder_init(&d, &cfg);
	size_t used;
	struct ws_message m;
	cr_assert_eq(ws_decoder_feed(&d, in, n, &used, &m), WS_DECODE_MESSAGE);
	cr_assert_eq(used, n);
	cr_assert_eq(m.size, len);
	cr_assert_eq(m.wire_size, plen);
	cr_assert_eq(m.kept, 1000);
	cr_assert(m.truncated && m.inflated && m.utf8_valid);
	cr_assert_arr_eq(m.data, text, 1000);
	ws_decoder_free(&d);
	free(text);
	free(payload);
	free(in);
}

Test(ws_inflate, smaller_negotiated_window_decodes_what_it_allows)
{
	char text[3000];
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (char)('A' + (i % 50));
	for (int bits = 9; bits <= 15; bits++) {
		uint8_t payload[4000], in[4100];
		size_t plen = compress_message(payload, sizeof(payload), text,
					       sizeof(text), bits);
		size_t n = compressed_frame(in, 0x1, payload, plen);
		struct ws_decoder_config cfg = deflate_from_server;
		cfg.window_bits = (uint8_t)bits;
		char *log = decode_log_whole(&cfg, in, n);
		cr_assert(strncmp(log, "text size=3000 ", 15) == 0,
			  "window bits %d: %s", bits, log);
		free(log);
	}
}

Test(ws_inflate, a_sender_reaching_past_its_agreed_window_decodes_alike_however_cut)
{
	/* Agreed 2^9 (512 bytes), compressed with 2^15: the repeat of the
	 * first 600 bytes refers 600 back. Once, a whole input decoded it
	 * while the same bytes cut in two were refused (zlib checks the
	 * distance against the window only beyond the output of the call);
	 * every cut must give the same message (a fuzzer find). */
	char text[1200];
	uint32_t x = 1;
	for (size_t i = 0; i < 600; i++) { /* no repeats of its own */
		x = x * 1103515245u + 12345u;
		text[i] = text[600 + i] = (char)('a' + (x >> 16) % 26);
	}
	uint8_t payload[1300], in[1400];
	size_t plen = compress_message(payload, sizeof(payload), text,
				       sizeof(text), 15);
	size_t n = compressed_frame(in, 0x1, payload, plen);
	struct ws_decoder_config cfg = deflate_from_server;
	cfg.window_bits = 9;
	cfg.keep_text = 4;
	char want[160];
	snprintf(want, sizeof(want),
		 "text size=1200 wire=%zu frames=1 kept=4 compressed inflated "
		 "truncated '%.4s'\n", plen, text);
	decode_log_expect(&cfg, in, n, want);
}

Test(ws_inflate, compressed_text_that_inflates_to_bad_utf8_is_flagged)
{
	uint8_t payload[64], in[80];
	size_t plen = compress_message(payload, sizeof(payload), "ab\xff", 3, 15);
	size_t n = compressed_frame(in, 0x1, payload, plen);
	char *log = decode_log_whole(&deflate_from_server, in, n);
	cr_assert(strstr(log, " bad-utf8 'ab\\xff'") != NULL, "%s", log);
	free(log);
}

Test(ws_inflate, compressed_binary_is_inflated_and_not_checked)
{
	static const uint8_t bytes[] = {0xff, 0x00, 0xfe};
	uint8_t payload[64], in[80];
	size_t plen = compress_message(payload, sizeof(payload), bytes, 3, 15);
	size_t n = compressed_frame(in, 0x2, payload, plen);
	char *log = decode_log_whole(&deflate_from_server, in, n);
	cr_assert(strstr(log, "binary size=3 ") == log, "%s", log);
	cr_assert(strstr(log, "'\\xff\\x00\\xfe'") != NULL, "%s", log);
	free(log);
}

/* Collects what ws_inflate hands out. */
struct collected {
	char buf[16];
	size_t len;
};

static void collect(void *ctx, const uint8_t *p, size_t n)
{
	struct collected *out = ctx;
	cr_assert_leq(out->len + n, sizeof(out->buf));
	memcpy(out->buf + out->len, p, n);
	out->len += n;
}

Test(ws_inflate, stream_api_inflates_masked_input_in_pieces)
{
	static const uint8_t key[4] = {0xa1, 0xb2, 0xc3, 0xd4};
	static const uint8_t plain[] = {0xf2, 0x48, 0xcd, 0xc9,
					0xc9, 0x07, 0x00};
	uint8_t masked[sizeof(plain)];
	for (size_t i = 0; i < sizeof(plain); i++)
		masked[i] = plain[i] ^ key[i & 3];
	struct ws_inflate *z = ws_inflate_new();
	cr_assert_not_null(z);
	struct collected out = {{0}, 0};
	cr_assert_eq(ws_inflate_feed(z, masked, 3, key, 0, collect, &out),
		     WS_OK);
	cr_assert_eq(ws_inflate_feed(z, masked + 3, 4, key, 3, collect, &out),
		     WS_OK);
	cr_assert_eq(ws_inflate_end_message(z, false, collect, &out), WS_OK);
	cr_assert_eq(out.len, 5);
	cr_assert_arr_eq(out.buf, "Hello", 5);
	ws_inflate_free(z);
}

/*
 * test_ws_inflate.c - permessage-deflate (RFC 7692): the section 7.2.3
 * examples as golden vectors, context takeover, window sizes, corrupt data,
 * the kept prefix of inflated text, and the inflate cap (a message past
 * max_inflate, the budget of one read, what follows a capped message).
 * Inputs go through decode_log_expect(), so each is also fed at every
 * split; the budget of a read depends on the reads by design, and is
 * tested with reads of its own.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "decode_log.h"
#include "ws_encoder.h"
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

static bool collect(void *ctx, const uint8_t *p, size_t n)
{
	struct collected *out = ctx;
	cr_assert_leq(out->len + n, sizeof(out->buf));
	memcpy(out->buf + out->len, p, n);
	out->len += n;
	return true;
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

/* A sink that takes the first piece of output and stops the stream. */
struct stopping {
	size_t got, calls;
};

static bool stop_after_first_piece(void *ctx, const uint8_t *p, size_t n)
{
	struct stopping *st = ctx;
	(void)p;
	st->got += n;
	st->calls++;
	return false;
}

Test(ws_inflate, a_sink_that_stops_the_stream_gets_nothing_more_until_reset)
{
	/* 64 KiB of zeros in about 100 bytes: far more output than one
	 * piece. */
	static uint8_t zeros[65536];
	uint8_t payload[1024];
	size_t plen = compress_message(payload, sizeof(payload), zeros,
				       sizeof(zeros), 15);
	struct ws_inflate *z = ws_inflate_new();
	struct stopping st = {0, 0};
	cr_assert_not_null(z);
	cr_assert_eq(ws_inflate_feed(z, payload, plen, NULL, 0,
				     stop_after_first_piece, &st), WS_OK);
	cr_assert_eq(st.calls, 1, "one piece, then stopped");
	cr_assert_leq(st.got, 2048, "at most one piece of output: %zu",
		      st.got);
	static const uint8_t key[4] = {1, 2, 3, 4};
	cr_assert_eq(ws_inflate_feed(z, payload, plen, key, 0,
				     stop_after_first_piece, &st), WS_OK);
	cr_assert_eq(ws_inflate_end_message(z, false, stop_after_first_piece,
					    &st), WS_OK);
	cr_assert_eq(st.calls, 1, "nothing more once stopped");
	/* Reset, the stream inflates a new message from scratch. */
	static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07,
					0x00};
	struct collected out = {{0}, 0};
	cr_assert_eq(ws_inflate_reset(z), WS_OK);
	cr_assert_eq(ws_inflate_feed(z, hello, sizeof(hello), NULL, 0,
				     collect, &out), WS_OK);
	cr_assert_eq(ws_inflate_end_message(z, false, collect, &out), WS_OK);
	cr_assert_eq(out.len, 5);
	cr_assert_arr_eq(out.buf, "Hello", 5);
	ws_inflate_free(z);
}

/* ---- the inflate cap (ws_decoder.h: bounded work) --------------------- */

/* A close 1000 frame from the server, and the log line it gives. */
static const uint8_t close_1000[] = {0x88, 0x02, 0x03, 0xe8};
#define CLOSE_1000_LOGGED \
	"close size=2 wire=2 frames=1 kept=2 code=1000 valid reason=''\n"

/* Messages from one sender, on the wire one after the other. */
struct wire {
	struct ws_encoder e;
	struct ws_encoder_buf buf;
};

static void wire_init(struct wire *w, bool from_client, bool no_takeover)
{
	ws_encoder_init(&w->e, &(struct ws_encoder_config){
		.masked = from_client, .deflate = true, .window_bits = 15,
		.no_context_takeover = no_takeover, .level = 6, .seed = 5});
	w->buf = (struct ws_encoder_buf){0};
}

static void wire_free(struct wire *w)
{
	ws_encoder_free(&w->e);
	ws_encoder_buf_free(&w->buf);
}

/* Appends a compressed message of len bytes of c (text) in `fragments`
 * frames, with a ping after the first when ping is set; returns its
 * payload bytes on the wire. */
static uint64_t wire_message(struct wire *w, char c, size_t len,
			     size_t fragments, bool ping)
{
	static const struct ws_encoder_control probe = {
		.opcode = 0x9, .payload = (const uint8_t *)"probe", .len = 5,
		.after = 0};
	uint8_t *text = malloc(len ? len : 1);
	cr_assert_not_null(text);
	memset(text, c, len);
	struct ws_encoder_message m = {
		.opcode = 0x1, .payload = text, .len = len, .compress = true,
		.fragments = fragments, .controls = ping ? &probe : NULL,
		.ncontrols = ping ? 1 : 0};
	uint64_t n = ws_encoder_put_message(&w->e, &w->buf, &m);
	free(text);
	return n;
}

static void wire_close(struct wire *w)
{
	ws_encoder_put_control(&w->e, &w->buf, 0x8, close_1000 + 2, 2);
}

/* cfg with the inflate cap at cap bytes, for a sender that is the client
 * or not. */
static struct ws_decoder_config capped_at(uint64_t cap, bool from_client,
					  bool no_takeover)
{
	struct ws_decoder_config cfg = deflate_from_server;
	cfg.from_client = from_client;
	cfg.keep_text = 16;
	cfg.max_inflate = cap;
	cfg.no_context_takeover = no_takeover;
	return cfg;
}

Test(ws_inflate, a_message_inflating_past_max_inflate_stops_there_flagged_capped)
{
	/* 64 KiB of text in about 100 bytes, capped at 1,000: size says
	 * 1,000 (at least that much), the kept prefix is true, the close
	 * after it is still decoded. The same however the input is cut,
	 * masked or not. */
	for (int client = 0; client < 2; client++) {
		struct wire w;
		char want[256];

		wire_init(&w, client, false);
		uint64_t n = wire_message(&w, 'a', 65536, 1, false);
		wire_close(&w);
		struct ws_decoder_config cfg = capped_at(1000, client, false);
		snprintf(want, sizeof(want),
			 "text size=1000 wire=%llu frames=1 kept=16 compressed "
			 "inflated truncated capped 'aaaaaaaaaaaaaaaa'\n"
			 CLOSE_1000_LOGGED, (unsigned long long)n);
		decode_log_expect(&cfg, w.buf.data, w.buf.len, want);
		wire_free(&w);
	}
}

Test(ws_inflate, a_message_of_exactly_max_inflate_is_whole_and_one_more_byte_is_capped)
{
	struct wire w;
	char want[512];

	wire_init(&w, false, true);
	uint64_t n1 = wire_message(&w, 'b', 1000, 1, false);
	uint64_t n2 = wire_message(&w, 'b', 1001, 1, false);
	struct ws_decoder_config cfg = capped_at(1000, false, true);
	snprintf(want, sizeof(want),
		 "text size=1000 wire=%llu frames=1 kept=16 compressed "
		 "inflated truncated 'bbbbbbbbbbbbbbbb'\n"
		 "text size=1000 wire=%llu frames=1 kept=16 compressed "
		 "inflated truncated capped 'bbbbbbbbbbbbbbbb'\n",
		 (unsigned long long)n1, (unsigned long long)n2);
	decode_log_expect(&cfg, w.buf.data, w.buf.len, want);
	wire_free(&w);
}

Test(ws_inflate, after_a_capped_message_with_context_takeover_later_ones_are_not_inflated_and_no_error)
{
	/* The second message repeats the first, so its compressed form
	 * refers back into the window: inflated from a window that never
	 * got the rest of the first, it would be garbage or a zlib error.
	 * It and every later compressed message show their wire size and
	 * no data; the inflate stream is gone; frames and the close go on. */
	for (int client = 0; client < 2; client++) {
		struct wire w;
		char want[512];

		wire_init(&w, client, false);
		uint64_t n1 = wire_message(&w, 'c', 40000, 1, false);
		uint64_t n2 = wire_message(&w, 'c', 40000, 1, false);
		uint64_t n3 = wire_message(&w, 'd', 5, 2, true);
		wire_close(&w);
		struct ws_decoder_config cfg = capped_at(1000, client, false);
		snprintf(want, sizeof(want),
			 "text size=1000 wire=%llu frames=1 kept=16 compressed "
			 "inflated truncated capped 'cccccccccccccccc'\n"
			 "text size=%llu wire=%llu frames=1 kept=0 compressed "
			 "truncated ''\n"
			 "ping size=5 wire=5 frames=1 kept=5 'probe'\n"
			 "text size=%llu wire=%llu frames=2 kept=0 compressed "
			 "truncated ''\n" CLOSE_1000_LOGGED,
			 (unsigned long long)n1, (unsigned long long)n2,
			 (unsigned long long)n2, (unsigned long long)n3,
			 (unsigned long long)n3);
		decode_log_expect(&cfg, w.buf.data, w.buf.len, want);

		struct ws_decoder d;
		size_t used;
		struct ws_message m;
		ws_decoder_init(&d, &cfg);
		cr_assert_eq(ws_decoder_feed(&d, w.buf.data, w.buf.len, &used,
					     &m), WS_DECODE_MESSAGE);
		cr_assert(m.inflate_capped);
		cr_assert_eq(ws_decoder_inflate_memory(&d), 0,
			     "the inflate stream is freed with its window");
		ws_decoder_free(&d);
		wire_free(&w);
	}
}

Test(ws_inflate, after_a_capped_message_with_no_context_takeover_the_next_is_inflated)
{
	struct wire w;
	char want[512];

	wire_init(&w, true, true);
	uint64_t n1 = wire_message(&w, 'e', 40000, 1, false);
	uint64_t n2 = wire_message(&w, 'f', 5, 2, true);
	uint64_t n3 = wire_message(&w, 'e', 40000, 3, false);
	wire_close(&w);
	struct ws_decoder_config cfg = capped_at(1000, true, true);
	snprintf(want, sizeof(want),
		 "text size=1000 wire=%llu frames=1 kept=16 compressed "
		 "inflated truncated capped 'eeeeeeeeeeeeeeee'\n"
		 "ping size=5 wire=5 frames=1 kept=5 'probe'\n"
		 "text size=5 wire=%llu frames=2 kept=5 compressed inflated "
		 "'fffff'\n"
		 "text size=1000 wire=%llu frames=3 kept=16 compressed "
		 "inflated truncated capped 'eeeeeeeeeeeeeeee'\n"
		 CLOSE_1000_LOGGED,
		 (unsigned long long)n1, (unsigned long long)n2,
		 (unsigned long long)n3);
	decode_log_expect(&cfg, w.buf.data, w.buf.len, want);
	wire_free(&w);
}

Test(ws_inflate, a_capped_message_in_fragments_with_a_ping_between_ends_and_closes)
{
	struct wire w;
	char want[512];

	wire_init(&w, false, false);
	uint64_t n = wire_message(&w, 'g', 50000, 4, true);
	wire_close(&w);
	struct ws_decoder_config cfg = capped_at(100, false, false);
	snprintf(want, sizeof(want),
		 "ping size=5 wire=5 frames=1 kept=5 'probe'\n"
		 "text size=100 wire=%llu frames=4 kept=16 compressed "
		 "inflated truncated capped 'gggggggggggggggg'\n"
		 CLOSE_1000_LOGGED, (unsigned long long)n);
	decode_log_expect(&cfg, w.buf.data, w.buf.len, want);
	wire_free(&w);
}

Test(ws_inflate, text_capped_inside_a_character_is_still_valid_utf8)
{
	/* "é" is two bytes: a cap of 1,001 falls inside the 501st. */
	static char text[4000];
	uint8_t payload[1024], in[1100];
	for (size_t i = 0; i < sizeof(text); i += 2)
		memcpy(text + i, "\xc3\xa9", 2);
	size_t plen = compress_message(payload, sizeof(payload), text,
				       sizeof(text), 15);
	size_t n = compressed_frame(in, 0x1, payload, plen);
	struct ws_decoder_config cfg = capped_at(1001, false, false);
	cfg.keep_text = 4;
	char want[160];
	snprintf(want, sizeof(want),
		 "text size=1001 wire=%zu frames=1 kept=4 compressed inflated "
		 "truncated capped '\\xc3\\xa9\\xc3\\xa9'\n", plen);
	decode_log_expect(&cfg, in, n, want);
}

/* Feeds buf[0..len) to d as one host call (ws_decoder_begin_input);
 * returns the inflated bytes its messages report, and counts messages,
 * capped ones and closes. */
struct tally {
	uint64_t inflated;
	unsigned messages, capped, closes;
};

static void feed_one_call(struct ws_decoder *d, const uint8_t *buf,
			  size_t len, struct tally *t)
{
	ws_decoder_begin_input(d, len);
	while (len > 0) {
		size_t used;
		struct ws_message m;
		enum ws_decode_status st =
			ws_decoder_feed(d, buf, len, &used, &m);
		cr_assert_neq(st, WS_DECODE_ERROR, "%s",
			      ws_error_name(ws_decoder_error(d)));
		buf += used;
		len -= used;
		if (st != WS_DECODE_MESSAGE)
			break;
		if (m.opcode == WS_OPCODE_CLOSE) {
			t->closes++;
			continue;
		}
		t->messages++;
		t->capped += m.inflate_capped;
		if (m.inflated)
			t->inflated += m.size;
	}
}

Test(ws_inflate, one_read_of_many_small_bombs_inflates_within_its_budget)
{
	/* 200 messages of 16 KiB each, about 40 bytes on the wire each,
	 * with no_context_takeover, and a cap of 16 KiB a message: each is
	 * under the cap, but all of them in one read would inflate 3.2 MB
	 * from 8 KB. One read may inflate 16 KiB + 32 bytes per byte read,
	 * so the later ones are capped (at what is left, down to 0), and
	 * still all reported, close included. The next read has its own
	 * budget again. */
	struct wire w;
	struct ws_decoder d;
	struct tally t = {0};

	wire_init(&w, true, true);
	for (int i = 0; i < 200; i++)
		wire_message(&w, 'h', 16384, 1, false);
	wire_close(&w);
	struct ws_decoder_config cfg = capped_at(16384, true, true);
	ws_decoder_init(&d, &cfg);
	feed_one_call(&d, w.buf.data, w.buf.len, &t);
	uint64_t budget = 16384 + WS_DECODER_INFLATE_PER_BYTE * w.buf.len;
	cr_assert_eq(t.messages, 200);
	cr_assert_eq(t.closes, 1, "the close after them is decoded");
	cr_assert_leq(t.inflated, budget, "%llu inflated, budget %llu",
		      (unsigned long long)t.inflated,
		      (unsigned long long)budget);
	cr_assert_geq(t.inflated + 2048, budget,
		      "the budget is used, not more: %llu of %llu",
		      (unsigned long long)t.inflated,
		      (unsigned long long)budget);
	cr_assert_gt(t.capped, 100, "%u capped", t.capped);

	/* A fresh decoder (the first one saw the close): a new read, a
	 * new budget, and a message under the cap is whole. */
	ws_decoder_free(&d);
	ws_decoder_init(&d, &cfg);
	struct wire w2;
	struct tally t2 = {0};
	wire_init(&w2, true, true);
	wire_message(&w2, 'h', 16384, 1, false);
	feed_one_call(&d, w2.buf.data, w2.buf.len, &t2);
	cr_assert_eq(t2.messages, 1);
	cr_assert_eq(t2.capped, 0);
	cr_assert_eq(t2.inflated, 16384);
	ws_decoder_free(&d);
	wire_free(&w);
	wire_free(&w2);
}

Test(ws_inflate, the_budget_of_a_read_renews_with_the_next_one)
{
	/* Many small bombs (about 40 bytes each) in reads of 40 bytes:
	 * every read gets 16 KiB + 1,280 bytes, more than what it holds of
	 * any one message: none is capped. */
	struct wire w;
	struct ws_decoder d;
	struct tally t = {0};

	wire_init(&w, true, true);
	for (int i = 0; i < 50; i++)
		wire_message(&w, 'i', 16384, 1, false);
	struct ws_decoder_config cfg = capped_at(16384, true, true);
	ws_decoder_init(&d, &cfg);
	for (size_t off = 0; off < w.buf.len; off += 40) {
		size_t n = w.buf.len - off < 40 ? w.buf.len - off : 40;
		feed_one_call(&d, w.buf.data + off, n, &t);
	}
	cr_assert_eq(t.messages, 50);
	cr_assert_eq(t.capped, 0);
	cr_assert_eq(t.inflated, 50 * 16384);
	ws_decoder_free(&d);
	wire_free(&w);
}

Test(ws_inflate, a_1_gib_bomb_in_a_1_mb_frame_inflates_1_mib_and_the_close_after_it_is_seen)
{
	/* The deflate bomb at its real size: 1 GiB of zeros compressed to
	 * about 1 MB (16 MiB compressed once, then the same 16 MiB again
	 * 63 times: after the first, every copy refers back to zeros),
	 * one masked frame from a client, read in 64 KiB pieces as a
	 * server would. With the default cap only 1 MiB is inflated. */
	z_stream zs = {0};
	size_t seg_len = (size_t)16 << 20, cap = (size_t)1 << 20;
	uint8_t *zeros = calloc(1, seg_len);
	uint8_t *seg = malloc(64 << 10);
	struct ws_encoder_buf body = {0}, wire = {0};
	cr_assert(zeros && seg);
	cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8,
				  Z_DEFAULT_STRATEGY), Z_OK);
	for (int i = 0; i < 2; i++) {
		zs.next_in = zeros;
		zs.avail_in = (uInt)seg_len;
		zs.next_out = seg;
		zs.avail_out = 64 << 10;
		cr_assert_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
		cr_assert_eq(zs.avail_in, 0);
		size_t n = (64 << 10) - zs.avail_out;
		for (int k = 0; k < (i == 0 ? 1 : 63); k++)
			ws_encoder_buf_append(&body, seg, n);
	}
	deflateEnd(&zs);
	body.len -= 4; /* 00 00 ff ff, as RFC 7692 7.2.1 strips it */
	cr_assert_gt(body.len, 1000000);
	cr_assert_lt(body.len, 1100000);
	ws_encoder_put_frame(&wire, &(struct ws_encoder_frame){
		.fin = true, .rsv = 0x40, .opcode = 0x1, .masked = true,
		.mask = {0x12, 0x34, 0x56, 0x78}}, body.data, body.len);
	ws_encoder_put_frame(&wire, &(struct ws_encoder_frame){
		.fin = true, .opcode = 0x8, .masked = true,
		.mask = {0x9a, 0xbc, 0xde, 0xf0}}, (const uint8_t *)"\x03\xf1",
		2);

	struct ws_decoder_config cfg = capped_at(cap, true, false);
	cfg.keep_text = 10240;
	cfg.borrow_masked = true;
	struct ws_decoder d;
	ws_decoder_init(&d, &cfg);
	struct ws_message m;
	bool got_text = false, got_close = false;
	for (size_t off = 0; off < wire.len;) {
		size_t n = wire.len - off < 65536 ? wire.len - off : 65536;
		ws_decoder_begin_input(&d, n);
		const uint8_t *p = wire.data + off;
		size_t left = n;
		while (left > 0) {
			size_t used;
			enum ws_decode_status st =
				ws_decoder_feed(&d, p, left, &used, &m);
			cr_assert_neq(st, WS_DECODE_ERROR);
			p += used;
			left -= used;
			if (st != WS_DECODE_MESSAGE)
				break;
			if (m.opcode == WS_OPCODE_TEXT) {
				cr_assert_eq(m.size, cap);
				cr_assert_eq(m.wire_size, body.len);
				cr_assert(m.inflated && m.inflate_capped &&
					  m.truncated && m.utf8_valid);
				cr_assert_eq(m.kept, 10240);
				got_text = true;
			} else {
				cr_assert_eq(m.opcode, WS_OPCODE_CLOSE);
				cr_assert_eq(m.close_code, 1009);
				got_close = true;
			}
		}
		off += n;
	}
	cr_assert(got_text && got_close);
	ws_decoder_free(&d);
	ws_encoder_buf_free(&body);
	ws_encoder_buf_free(&wire);
	free(zeros);
	free(seg);
}

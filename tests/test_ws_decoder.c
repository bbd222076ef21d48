/*
 * test_ws_decoder.c - RFC 6455 decoding: the section 5.7 examples as golden
 * vectors, then one test per protocol rule and per error. Every input goes
 * through decode_log_expect(), which feeds it whole, byte by byte and at
 * every two-way split and requires the same events each time.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode_log.h"
#include "strbuf.h"
#include "wsdbg/ws_close.h"
#include "wsdbg/ws_decoder.h"

/* Server-to-client direction: frames unmasked. */
static const struct ws_decoder_config from_server = {
	.from_client = false, .keep_text = 10240, .keep_binary = 64,
	.inflate = true};
/* Client-to-server direction: frames masked. */
static const struct ws_decoder_config from_client = {
	.from_client = true, .keep_text = 10240, .keep_binary = 64,
	.inflate = true};

#define EXPECT(cfg, bytes, expected) \
	decode_log_expect(&(cfg), (bytes), sizeof(bytes), (expected))

/* Appends one frame to out (a small test-local builder; the independent
 * encoder in support/ws_encoder.c drives the round-trip tests). */
static size_t frame(uint8_t *out, uint8_t byte0, const uint8_t *mask,
		    const void *payload, size_t len)
{
	size_t n = 0;
	out[n++] = byte0;
	uint8_t maskbit = mask ? 0x80 : 0;
	if (len < 126) {
		out[n++] = maskbit | (uint8_t)len;
	} else if (len <= 0xffff) {
		out[n++] = maskbit | 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = maskbit | 127;
		for (int i = 7; i >= 0; i--)
			out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	if (mask) {
		memcpy(out + n, mask, 4);
		n += 4;
	}
	const uint8_t *p = payload;
	for (size_t i = 0; i < len; i++)
		out[n + i] = mask ? p[i] ^ mask[i & 3] : p[i];
	return n + len;
}

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* ---- RFC 6455 section 5.7 examples ------------------------------------ */

Test(ws_decoder, rfc6455_5_7_single_frame_unmasked_text)
{
	static const uint8_t in[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	EXPECT(from_server, in, "text size=5 wire=5 frames=1 kept=5 'Hello'\n");
}

Test(ws_decoder, rfc6455_5_7_single_frame_masked_text)
{
	static const uint8_t in[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
				     0x9f, 0x4d, 0x51, 0x58};
	EXPECT(from_client, in, "text size=5 wire=5 frames=1 kept=5 'Hello'\n");
}

Test(ws_decoder, rfc6455_5_7_fragmented_unmasked_text)
{
	static const uint8_t in[] = {0x01, 0x03, 0x48, 0x65, 0x6c,
				     0x80, 0x02, 0x6c, 0x6f};
	EXPECT(from_server, in, "text size=5 wire=5 frames=2 kept=5 'Hello'\n");
}

Test(ws_decoder, rfc6455_5_7_unmasked_ping)
{
	static const uint8_t in[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	EXPECT(from_server, in, "ping size=5 wire=5 frames=1 kept=5 'Hello'\n");
}

Test(ws_decoder, rfc6455_5_7_masked_pong)
{
	static const uint8_t in[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
				     0x9f, 0x4d, 0x51, 0x58};
	EXPECT(from_client, in, "pong size=5 wire=5 frames=1 kept=5 'Hello'\n");
}

Test(ws_decoder, rfc6455_5_7_256_bytes_binary_uses_16_bit_length)
{
	uint8_t in[4 + 256];
	in[0] = 0x82;
	in[1] = 0x7e;
	in[2] = 0x01;
	in[3] = 0x00;
	for (int i = 0; i < 256; i++)
		in[4 + i] = (uint8_t)i;
	char *log = decode_log_whole(&from_server, in, sizeof(in));
	cr_assert(strncmp(log, "binary size=256 wire=256 frames=1 kept=64 "
			       "truncated '\\x00\\x01", 50) == 0, "%s", log);
	free(log);
	struct ws_decoder_config cfg = from_server;
	cfg.keep_binary = 0;
	EXPECT(cfg, in, "binary size=256 wire=256 frames=1 kept=0 truncated ''\n");
}

Test(ws_decoder, rfc6455_5_7_64_kib_binary_uses_64_bit_length)
{
	size_t len = 10 + 65536;
	uint8_t *in = calloc(1, len);
	cr_assert_not_null(in);
	static const uint8_t head[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0};
	memcpy(in, head, sizeof(head));
	struct ws_decoder_config cfg = from_server;
	cfg.keep_binary = 0;
	decode_log_expect(&cfg, in, len,
			  "binary size=65536 wire=65536 frames=1 kept=0 "
			  "truncated ''\n");
	free(in);
}

/* ---- reassembly (RFC 6455 5.4) ----------------------------------------- */

Test(ws_decoder, control_frame_between_fragments_comes_out_before_message)
{
	uint8_t in[64];
	size_t n = 0;
	n += frame(in + n, 0x01, key, "Hel", 3);
	n += frame(in + n, 0x89, key, "p", 1);
	n += frame(in + n, 0x00, key, "l", 1);
	n += frame(in + n, 0x80, key, "o", 1);
	decode_log_expect(&from_client, in, n,
			  "ping size=1 wire=1 frames=1 kept=1 'p'\n"
			  "text size=5 wire=5 frames=3 kept=5 'Hello'\n");
}

Test(ws_decoder, empty_frames_inside_a_fragmented_message_count_as_frames)
{
	uint8_t in[64];
	size_t n = 0;
	n += frame(in + n, 0x02, NULL, "", 0);
	n += frame(in + n, 0x00, NULL, "ab", 2);
	n += frame(in + n, 0x80, NULL, "", 0);
	decode_log_expect(&from_server, in, n,
			  "binary size=2 wire=2 frames=3 kept=2 'ab'\n");
}

Test(ws_decoder, empty_text_message_is_reported)
{
	static const uint8_t in[] = {0x81, 0x00};
	EXPECT(from_server, in, "text size=0 wire=0 frames=1 kept=0 ''\n");
}

Test(ws_decoder, empty_masked_messages_in_place_are_valid_and_keep_nothing)
{
	/* Handed out where they lie (borrow_masked): an empty text is valid
	 * UTF-8, an empty binary keeps nothing, and the next message starts
	 * afresh after a text left invalid. */
	uint8_t in[64];
	size_t n = 0;
	struct ws_decoder_config cfg = from_client;

	cfg.borrow_masked = true;
	n += frame(in + n, 0x81, key, "\xc3", 1);
	n += frame(in + n, 0x81, key, "", 0);
	n += frame(in + n, 0x82, key, "", 0);
	n += frame(in + n, 0x81, key, "ok", 2);
	decode_log_expect(&cfg, in, n,
			  "text size=1 wire=1 frames=1 kept=1 bad-utf8 "
			  "'\\xc3'\n"
			  "text size=0 wire=0 frames=1 kept=0 ''\n"
			  "binary size=0 wire=0 frames=1 kept=0 ''\n"
			  "text size=2 wire=2 frames=1 kept=2 'ok'\n");
}

/* Decodes the one message in[0..n) with cfg, whole (cut 0) or in two
 * pieces cut bytes apart; returns whether its text is valid UTF-8 (as
 * the copy judges it, which must agree with ws_message_utf8_valid), and
 * copies its first `want` kept bytes, unmasked, to kept. */
static bool decode_one(const struct ws_decoder_config *cfg,
		       const uint8_t *in, size_t n, size_t cut,
		       uint8_t *kept, size_t want)
{
	struct ws_decoder d;
	struct ws_message m;
	size_t used;

	ws_decoder_init(&d, cfg);
	if (cut > 0)
		cr_assert_eq(ws_decoder_feed(&d, in, cut, &used, &m),
			     WS_DECODE_NEED_MORE);
	cr_assert_eq(ws_decoder_feed(&d, in + cut, n - cut, &used, &m),
		     WS_DECODE_MESSAGE);
	cr_assert_geq(m.kept, want);
	bool valid = ws_message_copy(&m, kept, want);
	cr_assert_eq(valid, ws_message_utf8_valid(&m));
	ws_decoder_free(&d);
	return valid;
}

Test(ws_decoder, long_masked_text_is_judged_wherever_its_odd_bytes_lie)
{
	/* A long masked text with a character that is not ASCII at p, then
	 * a bad byte at q or none: the ASCII after p is scanned from an
	 * offset of the mask that p sets, 128 bytes a step where the
	 * processor can (scan_avx2.h). Kept unmasked, validated as it lies
	 * (borrow_masked), judged by the copy (defer_utf8) and in two
	 * pieces. */
	char text[800];
	uint8_t in[820];

	for (size_t p = 0; p < 8; p++) {
		for (size_t q = p + 2; q <= sizeof(text); q += 5) {
			memset(text, 'k', sizeof(text));
			memcpy(text + p, "\xc3\xa9", 2);
			if (q < sizeof(text))
				text[q] = (char)0xc0;
			bool want = q == sizeof(text);
			size_t n = frame(in, 0x81, key, text, sizeof(text));

			for (int way = 0; way < 4; way++) {
				struct ws_decoder_config cfg = from_client;
				uint8_t kept[16];

				cfg.keep_text = sizeof(kept);
				cfg.borrow_masked = way == 1 || way == 3;
				cfg.defer_utf8 = way == 3;
				cr_assert_eq(decode_one(&cfg, in, n,
							way == 2 ? n / 3 : 0,
							kept, sizeof(kept)),
					     want, "p %zu q %zu way %d", p, q,
					     way);
				cr_assert_arr_eq(kept, text, sizeof(kept));
			}
		}
	}
}

Test(ws_decoder, masked_text_in_pieces_is_scanned_with_the_mask_where_it_is)
{
	/* A piece of a frame starts at some offset of the mask, and the
	 * ASCII scan must unmask from there. Here a scan from the wrong
	 * offset would see ASCII: the text is all two-byte characters and
	 * the mask flips the top bit of every other pair of bytes, so that
	 * a bad pair of leads is missed unless the key is right. */
	static const uint8_t flip[4] = {0x80, 0x80, 0x00, 0x00};
	char text[800];
	uint8_t in[820];

	for (size_t i = 0; i < sizeof(text); i += 2)
		memcpy(text + i, "\xc3\xa9", 2);
	for (size_t bad = 300; bad <= sizeof(text); bad += 100) {
		if (bad < sizeof(text))
			text[bad + 1] = (char)0xc3; /* a lead, not its end */
		size_t n = frame(in, 0x81, flip, text, sizeof(text));

		/* Cut 262 bytes into the payload: a character boundary,
		 * offset 2 of the mask. */
		for (size_t cut = 8 + 262; cut <= 8 + 266; cut += 2) {
			struct ws_decoder_config cfg = from_client;
			uint8_t kept[2];

			cfg.keep_text = sizeof(kept);
			cr_assert_eq(decode_one(&cfg, in, n, cut, kept,
						sizeof(kept)),
				     bad == sizeof(text),
				     "bad at %zu, cut at %zu", bad, cut);
		}
		if (bad < sizeof(text))
			text[bad + 1] = (char)0xa9;
	}
}

Test(ws_decoder, trim_gives_back_a_grown_buffer_between_messages_only)
{
	/* A masked text cut in two is gathered in the kept-prefix buffer;
	 * trimmed after it, the decoder holds nothing, and a message under
	 * way keeps its prefix through a trim. A buffer at its smallest
	 * stays. */
	char text[1000];
	uint8_t in[1100], got[8];
	struct ws_decoder d;
	struct ws_message m;
	size_t used, n;

	memset(text, 't', sizeof(text));
	n = frame(in, 0x81, key, text, sizeof(text));
	ws_decoder_init(&d, &from_client);
	cr_assert_eq(ws_decoder_feed(&d, in, n / 2, &used, &m),
		     WS_DECODE_NEED_MORE);
	ws_decoder_trim(&d); /* inside the message: no effect */
	cr_assert_eq(ws_decoder_feed(&d, in + n / 2, n - n / 2, &used, &m),
		     WS_DECODE_MESSAGE);
	cr_assert(m.kept == sizeof(text) && m.utf8_valid);
	cr_assert_arr_eq(m.data, text, sizeof(text));
	cr_assert_gt(ws_decoder_memory(&d), 1000);
	ws_decoder_trim(&d);
	cr_assert_eq(ws_decoder_memory(&d), 0);

	n = frame(in, 0x81, key, "small", 5);
	cr_assert_eq(ws_decoder_feed(&d, in, 3, &used, &m),
		     WS_DECODE_NEED_MORE);
	cr_assert_eq(ws_decoder_feed(&d, in + 3, n - 3, &used, &m),
		     WS_DECODE_MESSAGE);
	ws_message_copy(&m, got, m.kept);
	cr_assert_arr_eq(got, "small", 5);
	size_t small = ws_decoder_memory(&d);
	cr_assert_gt(small, 0);
	ws_decoder_trim(&d);
	cr_assert_eq(ws_decoder_memory(&d), small, "the smallest buffer stays");
	ws_decoder_free(&d);
}

Test(ws_decoder, long_text_keeps_only_the_prefix_but_reports_full_size)
{
	char text[300];
	memset(text, 'x', sizeof(text));
	uint8_t in[310];
	size_t n = frame(in, 0x81, key, text, sizeof(text));
	struct ws_decoder_config cfg = from_client;
	cfg.keep_text = 4;
	decode_log_expect(&cfg, in, n,
			  "text size=300 wire=300 frames=1 kept=4 truncated "
			  "'xxxx'\n");
}

Test(ws_decoder, whole_unmasked_message_is_handed_out_in_place)
{
	/* A message that is one unmasked frame, given whole, is not copied:
	 * its data points into the input. Split, it is kept as before (and
	 * decode_log_expect checks every split gives the same message). */
	char text[300];
	memset(text, 'y', sizeof(text));
	text[299] = (char)0xc3; /* the start of a sequence that never ends */
	uint8_t in[310];
	size_t n = frame(in, 0x81, NULL, text, sizeof(text));
	struct ws_decoder_config cfg = from_server;
	struct ws_decoder d;
	struct ws_message m;
	size_t used;

	cfg.keep_text = 4;
	ws_decoder_init(&d, &cfg);
	cr_assert_eq(ws_decoder_feed(&d, in, n, &used, &m), WS_DECODE_MESSAGE);
	cr_assert_eq(used, n);
	cr_assert_eq(m.data, in + n - sizeof(text));
	cr_assert_eq(m.kept, 4);
	cr_assert_eq(m.size, 300);
	cr_assert(m.truncated);
	cr_assert_not(m.utf8_valid, "the whole text is still validated");
	cr_assert_eq(ws_decoder_memory(&d), 0);
	ws_decoder_free(&d);
	decode_log_expect(&cfg, in, n,
			  "text size=300 wire=300 frames=1 kept=4 truncated "
			  "bad-utf8 'yyyy'\n");
}

Test(ws_decoder, whole_masked_message_is_handed_out_in_place_with_borrow_masked)
{
	/* With borrow_masked, a message that is one masked frame, given
	 * whole, is not unmasked into the kept prefix: its data points into
	 * the input, still masked, and ws_message_copy unmasks it. */
	char text[300];
	memset(text, 'y', sizeof(text));
	memcpy(text + 1, "\xc3\xa9", 2); /* a 2-byte character */
	text[299] = (char)0xc3; /* the start of a sequence that never ends */
	uint8_t in[310], got[8];
	size_t n = frame(in, 0x81, key, text, sizeof(text));
	struct ws_decoder_config cfg = from_client;
	struct ws_decoder d;
	struct ws_message m;
	size_t used;

	cfg.keep_text = 5;
	cfg.borrow_masked = true;
	ws_decoder_init(&d, &cfg);
	cr_assert_eq(ws_decoder_feed(&d, in, n, &used, &m), WS_DECODE_MESSAGE);
	cr_assert_eq(used, n);
	cr_assert(m.masked);
	cr_assert_arr_eq(m.mask, key, 4);
	cr_assert_eq(m.data, in + n - sizeof(text));
	cr_assert_eq(m.kept, 5);
	cr_assert(m.truncated);
	cr_assert_not(m.utf8_valid, "the whole text is still validated");
	ws_message_copy(&m, got, m.kept);
	cr_assert_arr_eq(got, "y\xc3\xa9yy", 5);
	cr_assert_eq(ws_decoder_memory(&d), 0, "no kept-prefix buffer");

	/* The same frame cut in two is gathered, unmasked, as before. */
	cr_assert_eq(ws_decoder_feed(&d, in, 10, &used, &m),
		     WS_DECODE_NEED_MORE);
	cr_assert_eq(ws_decoder_feed(&d, in + 10, n - 10, &used, &m),
		     WS_DECODE_MESSAGE);
	cr_assert_not(m.masked);
	cr_assert_arr_eq(m.data, "y\xc3\xa9yy", 5);
	cr_assert_not(m.utf8_valid);
	ws_decoder_free(&d);

	/* Valid text, and binary, in place too. */
	text[299] = 'z';
	n = frame(in, 0x81, key, text, sizeof(text));
	ws_decoder_init(&d, &cfg);
	cr_assert_eq(ws_decoder_feed(&d, in, n, &used, &m), WS_DECODE_MESSAGE);
	cr_assert(m.masked && m.utf8_valid && m.size == 300);
	n = frame(in, 0x82, key, text, 3);
	cr_assert_eq(ws_decoder_feed(&d, in, n, &used, &m), WS_DECODE_MESSAGE);
	cr_assert(m.masked && m.kept == 3);
	ws_message_copy(&m, got, m.kept);
	cr_assert_arr_eq(got, "y\xc3\xa9", 3);
	ws_decoder_free(&d);
	decode_log_expect(&cfg, in, n,
			  "binary size=3 wire=3 frames=1 kept=3 'y\\xc3\\xa9'\n");
}

Test(ws_decoder, text_left_to_the_copy_is_judged_wherever_the_copy_stops)
{
	/* With defer_utf8, a text handed out in place goes out unjudged
	 * (utf8_pending) and ws_message_copy judges it: the bytes it copies
	 * where they land, the rest where it lies. Masked and not, short
	 * and long enough for 128-byte steps, kept whole or cut short, a
	 * bad byte at q or none, and copies that stop anywhere, inside a
	 * character too. */
	char text[600];
	uint8_t in[620], got[600];

	for (int masked = 0; masked < 2; masked++)
	for (size_t len = 40; len <= sizeof(text); len += 560)
	for (size_t keep = 16; keep <= 1024; keep += 1008)
	for (size_t q = len % 7; q <= len; q += 7) { /* up to len: none */
		struct ws_decoder_config cfg = masked ? from_client
						      : from_server;
		struct ws_decoder d;
		struct ws_message m;
		size_t used, n;
		bool want = q >= len;

		memset(text, 'a', len);
		for (size_t i = 5; i + 3 <= len; i += 97)
			memcpy(text + i, "\xe2\x82\xac", 3); /* a euro sign */
		if (!want)
			text[q] = (char)0xff; /* never in UTF-8 */
		n = frame(in, 0x81, masked ? key : NULL, text, len);
		cfg.keep_text = keep;
		cfg.borrow_masked = cfg.defer_utf8 = true;
		ws_decoder_init(&d, &cfg);
		cr_assert_eq(ws_decoder_feed(&d, in, n, &used, &m),
			     WS_DECODE_MESSAGE);
		cr_assert(m.utf8_pending && m.kept == (len < keep ? len : keep));
		cr_assert_eq(ws_message_utf8_valid(&m), want,
			     "masked %d len %zu keep %zu q %zu", masked, len,
			     keep, q);
		for (size_t k = 0; k <= m.kept; k += k < 12 ? 1 : 37) {
			memset(got, 0, sizeof(got));
			cr_assert_eq(ws_message_copy(&m, got, k), want,
				     "masked %d len %zu keep %zu q %zu copy %zu",
				     masked, len, keep, q, k);
			cr_assert_arr_eq(got, text, k);
		}
		cr_assert_eq(ws_message_copy(&m, got, m.kept), want);
		ws_decoder_free(&d);
	}
}

Test(ws_decoder, prefix_spans_fragments_and_stops_at_the_limit)
{
	uint8_t in[64];
	size_t n = 0;
	n += frame(in + n, 0x01, key, "abc", 3);
	n += frame(in + n, 0x00, key, "def", 3);
	n += frame(in + n, 0x80, key, "ghi", 3);
	struct ws_decoder_config cfg = from_client;
	cfg.keep_text = 5;
	decode_log_expect(&cfg, in, n,
			  "text size=9 wire=9 frames=3 kept=5 truncated "
			  "'abcde'\n");
}

Test(ws_decoder, several_messages_in_one_buffer_each_reported)
{
	uint8_t in[64];
	size_t n = 0;
	n += frame(in + n, 0x81, NULL, "one", 3);
	n += frame(in + n, 0x82, NULL, "two", 3);
	n += frame(in + n, 0x8a, NULL, "", 0);
	decode_log_expect(&from_server, in, n,
			  "text size=3 wire=3 frames=1 kept=3 'one'\n"
			  "binary size=3 wire=3 frames=1 kept=3 'two'\n"
			  "pong size=0 wire=0 frames=1 kept=0 ''\n");
}

Test(ws_decoder, non_minimal_length_encoding_is_accepted)
{
	/* RFC 6455 5.2 asks for the minimal form; peers that do not are
	 * shown, not rejected. */
	static const uint8_t in[] = {0x81, 0x7e, 0x00, 0x02, 'h', 'i'};
	EXPECT(from_server, in, "text size=2 wire=2 frames=1 kept=2 'hi'\n");
}

Test(ws_decoder, huge_announced_length_waits_without_allocating_it)
{
	/* 2^32 bytes announced, 3 sent: nothing to report, no error. */
	static const uint8_t in[] = {0x82, 0x7f, 0, 0, 0, 1, 0, 0, 0, 0,
				     1, 2, 3};
	EXPECT(from_server, in, "");
}

Test(ws_decoder, largest_legal_length_is_accepted)
{
	static const uint8_t in[] = {0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff,
				     0xff, 0xff, 0xff, 0xff, 'a'};
	EXPECT(from_server, in, "");
}

/* ---- UTF-8 (RFC 6455 5.6, 8.1) ----------------------------------------- */

Test(ws_decoder, utf8_sequence_split_across_fragments_is_valid)
{
	/* U+1F600 (F0 9F 98 80) cut after its second byte. */
	uint8_t in[64];
	size_t n = 0;
	n += frame(in + n, 0x01, key, "a\xf0\x9f", 3);
	n += frame(in + n, 0x80, key, "\x98\x80z", 3);
	decode_log_expect(&from_client, in, n,
			  "text size=6 wire=6 frames=2 kept=6 "
			  "'a\\xf0\\x9f\\x98\\x80z'\n");
}

Test(ws_decoder, invalid_utf8_text_is_flagged_and_decoding_goes_on)
{
	uint8_t in[64];
	size_t n = 0;
	n += frame(in + n, 0x81, NULL, "\xc0\xaf", 2); /* overlong '/' */
	n += frame(in + n, 0x81, NULL, "ok", 2);
	decode_log_expect(&from_server, in, n,
			  "text size=2 wire=2 frames=1 kept=2 bad-utf8 "
			  "'\\xc0\\xaf'\n"
			  "text size=2 wire=2 frames=1 kept=2 'ok'\n");
}

Test(ws_decoder, text_ending_inside_a_sequence_is_invalid)
{
	uint8_t in[16];
	size_t n = frame(in, 0x81, key, "a\xe2\x82", 3);
	decode_log_expect(&from_client, in, n,
			  "text size=3 wire=3 frames=1 kept=3 bad-utf8 "
			  "'a\\xe2\\x82'\n");
}

Test(ws_decoder, invalid_utf8_beyond_the_kept_prefix_is_still_found)
{
	char text[600];
	memset(text, 'a', sizeof(text));
	text[590] = (char)0xff;
	uint8_t in[620];
	size_t n = frame(in, 0x81, key, text, sizeof(text));
	struct ws_decoder_config cfg = from_client;
	cfg.keep_text = 2;
	decode_log_expect(&cfg, in, n,
			  "text size=600 wire=600 frames=1 kept=2 truncated "
			  "bad-utf8 'aa'\n");
}

Test(ws_decoder, binary_is_never_checked_as_utf8)
{
	uint8_t in[16];
	size_t n = frame(in, 0x82, NULL, "\xff\xfe", 2);
	decode_log_expect(&from_server, in, n,
			  "binary size=2 wire=2 frames=1 kept=2 '\\xff\\xfe'\n");
}

/* ---- close frames (RFC 6455 5.5.1, 7.4) -------------------------------- */

Test(ws_decoder, close_frame_gives_code_and_reason)
{
	uint8_t in[32];
	size_t n = frame(in, 0x88, key, "\x03\xe8" "bye", 5);
	decode_log_expect(&from_client, in, n,
			  "close size=5 wire=5 frames=1 kept=5 code=1000 valid "
			  "reason='bye'\n");
}

Test(ws_decoder, close_frame_without_body_has_no_code)
{
	static const uint8_t in[] = {0x88, 0x00};
	EXPECT(from_server, in,
	       "close size=0 wire=0 frames=1 kept=0 code=-1 reason=''\n");
}

Test(ws_decoder, close_frame_with_one_byte_body_has_no_valid_code)
{
	static const uint8_t in[] = {0x88, 0x01, 0x03};
	EXPECT(from_server, in,
	       "close size=1 wire=1 frames=1 kept=1 code=-1 reason=''\n");
}

Test(ws_decoder, close_codes_that_may_not_be_sent_are_flagged)
{
	static const unsigned bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016,
				       2000, 2999, 5000, 65535};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t in[] = {0x88, 0x02, (uint8_t)(bad[i] >> 8),
				(uint8_t)bad[i]};
		char want[128];
		snprintf(want, sizeof(want),
			 "close size=2 wire=2 frames=1 kept=2 code=%u "
			 "reason=''\n", bad[i]);
		EXPECT(from_server, in, want);
	}
}

Test(ws_decoder, close_codes_from_the_registry_and_private_range_are_valid)
{
	static const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008,
					1009, 1010, 1011, 1012, 1013, 1014,
					3000, 3999, 4000, 4001, 4999};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint8_t in[] = {0x88, 0x02, (uint8_t)(good[i] >> 8),
				(uint8_t)good[i]};
		char want[128];
		snprintf(want, sizeof(want),
			 "close size=2 wire=2 frames=1 kept=2 code=%u valid "
			 "reason=''\n", good[i]);
		EXPECT(from_server, in, want);
	}
}

Test(ws_decoder, close_reason_that_is_not_utf8_is_flagged)
{
	static const uint8_t in[] = {0x88, 0x04, 0x03, 0xe8, 0xed, 0xa0};
	EXPECT(from_server, in,
	       "close size=4 wire=4 frames=1 kept=4 bad-utf8 code=1000 valid "
	       "reason='\\xed\\xa0'\n");
}

/* ---- protocol errors: each stops the direction and names the rule ------ */

Test(ws_decoder, reserved_data_opcode_is_an_error)
{
	static const uint8_t in[] = {0x83, 0x00, 0x81, 0x00};
	EXPECT(from_server, in, "error reserved_opcode\n");
}

Test(ws_decoder, reserved_control_opcode_is_an_error)
{
	static const uint8_t in[] = {0x8b, 0x00};
	EXPECT(from_server, in, "error reserved_opcode\n");
}

Test(ws_decoder, rsv_bits_without_an_extension_are_an_error)
{
	static const uint8_t rsv1[] = {0xc1, 0x00};
	static const uint8_t rsv2[] = {0xa1, 0x00};
	static const uint8_t rsv3[] = {0x91, 0x00};
	EXPECT(from_server, rsv1, "error reserved_bits\n");
	EXPECT(from_server, rsv2, "error reserved_bits\n");
	EXPECT(from_server, rsv3, "error reserved_bits\n");
}

Test(ws_decoder, rsv2_is_an_error_even_with_permessage_deflate)
{
	static const uint8_t in[] = {0xa1, 0x00};
	struct ws_decoder_config cfg = from_server;
	cfg.deflate = true;
	EXPECT(cfg, in, "error reserved_bits\n");
}

Test(ws_decoder, unmasked_client_frame_is_an_error)
{
	static const uint8_t in[] = {0x81, 0x02, 'h', 'i'};
	EXPECT(from_client, in, "error unmasked_client_frame\n");
}

Test(ws_decoder, masked_server_frame_is_an_error)
{
	static const uint8_t in[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
				     0x9f, 0x4d, 0x51, 0x58};
	EXPECT(from_server, in, "error masked_server_frame\n");
}

Test(ws_decoder, length_with_the_top_bit_set_is_an_error)
{
	static const uint8_t in[] = {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0};
	EXPECT(from_server, in, "error length_top_bit\n");
}

Test(ws_decoder, control_frame_over_125_bytes_is_an_error)
{
	static const uint8_t in[] = {0x89, 0x7e, 0x00, 0x7e};
	EXPECT(from_server, in, "error control_too_long\n");
}

Test(ws_decoder, control_frame_of_exactly_125_bytes_is_fine)
{
	uint8_t in[2 + 125];
	in[0] = 0x89;
	in[1] = 125;
	memset(in + 2, 'p', 125);
	char *log = decode_log_whole(&from_server, in, sizeof(in));
	cr_assert(strncmp(log, "ping size=125 wire=125 frames=1 kept=125 'ppp",
			  45) == 0, "%s", log);
	free(log);
}

Test(ws_decoder, fragmented_control_frame_is_an_error)
{
	static const uint8_t in[] = {0x09, 0x00};
	EXPECT(from_server, in, "error control_fragmented\n");
}

Test(ws_decoder, continuation_without_a_message_is_an_error)
{
	static const uint8_t in[] = {0x80, 0x01, 'x'};
	EXPECT(from_server, in, "error continuation_without_start\n");
}

Test(ws_decoder, new_message_inside_a_fragmented_one_is_an_error)
{
	static const uint8_t in[] = {0x01, 0x01, 'a', 0x81, 0x01, 'b'};
	EXPECT(from_server, in, "error message_interrupted\n");
}

Test(ws_decoder, frame_after_close_is_an_error)
{
	static const uint8_t in[] = {0x88, 0x00, 0x81, 0x00};
	EXPECT(from_server, in,
	       "close size=0 wire=0 frames=1 kept=0 code=-1 reason=''\n"
	       "error frame_after_close\n");
}

Test(ws_decoder, messages_before_an_error_are_still_reported)
{
	static const uint8_t in[] = {0x81, 0x01, 'a', 0x83, 0x00};
	EXPECT(from_server, in,
	       "text size=1 wire=1 frames=1 kept=1 'a'\nerror reserved_opcode\n");
}

Test(ws_decoder, after_an_error_all_input_is_consumed_and_ignored)
{
	struct ws_decoder d;
	ws_decoder_init(&d, &from_server);
	static const uint8_t bad[] = {0x83, 0x00, 0x81, 0x01, 'a'};
	size_t used = 99;
	struct ws_message m;
	cr_assert_eq(ws_decoder_feed(&d, bad, sizeof(bad), &used, &m),
		     WS_DECODE_ERROR);
	cr_assert_eq(used, 2, "error reported at the offending header");
	cr_assert_eq(ws_decoder_error(&d), WS_ERR_RESERVED_OPCODE);
	static const uint8_t good[] = {0x81, 0x01, 'a'};
	cr_assert_eq(ws_decoder_feed(&d, good, sizeof(good), &used, &m),
		     WS_DECODE_ERROR);
	cr_assert_eq(used, sizeof(good));
	ws_decoder_free(&d);
}

Test(ws_decoder, marking_a_gap_stops_decoding)
{
	struct ws_decoder d;
	ws_decoder_init(&d, &from_server);
	ws_decoder_fail(&d, WS_ERR_GAP);
	ws_decoder_fail(&d, WS_ERR_INFLATE); /* the first reason stays */
	cr_assert_eq(ws_decoder_error(&d), WS_ERR_GAP);
	static const uint8_t in[] = {0x81, 0x00};
	size_t used;
	struct ws_message m;
	cr_assert_eq(ws_decoder_feed(&d, in, sizeof(in), &used, &m),
		     WS_DECODE_ERROR);
	ws_decoder_free(&d);
}

Test(ws_decoder, frames_counter_counts_every_header)
{
	struct ws_decoder d;
	ws_decoder_init(&d, &from_server);
	static const uint8_t in[] = {0x01, 0x01, 'a', 0x89, 0x00, 0x80, 0x00};
	size_t used, off = 0;
	struct ws_message m;
	while (off < sizeof(in) &&
	       ws_decoder_feed(&d, in + off, sizeof(in) - off, &used, &m) !=
		       WS_DECODE_ERROR)
		off += used;
	cr_assert_eq(d.frames, 3);
	ws_decoder_free(&d);
}

Test(ws_decoder, every_error_has_a_name_and_a_description)
{
	for (int e = WS_OK; e < WS_ERR_COUNT_; e++) {
		cr_assert_neq(strcmp(ws_error_name(e), "unknown"), 0,
			      "error %d has no name", e);
		cr_assert_neq(strcmp(ws_strerror(e), "unknown error"), 0,
			      "error %d has no text", e);
	}
	cr_assert_str_eq(ws_error_name(WS_ERR_COUNT_), "unknown");
	cr_assert_str_eq(ws_strerror((enum ws_error)-1), "unknown error");
}

Test(ws_decoder, deflate_parameters_apply_to_the_right_direction)
{
	struct ws_deflate_params p = {
		.enabled = true, .client_no_context_takeover = true,
		.server_max_window_bits = 10, .client_max_window_bits = 12};
	struct ws_decoder_config c = {0};
	ws_decoder_config_set_deflate(&c, true, &p);
	cr_assert(c.deflate && c.from_client && c.no_context_takeover);
	cr_assert_eq(c.window_bits, 12);
	ws_decoder_config_set_deflate(&c, false, &p);
	cr_assert(c.deflate && !c.from_client && !c.no_context_takeover);
	cr_assert_eq(c.window_bits, 10);
	ws_decoder_config_set_deflate(&c, false, NULL);
	cr_assert(!c.deflate);
}

/* ---- validation beyond the kept prefix, memory -------------------------- */

/* A 300-byte text of letters with odd bytes put at pos, sent masked or not
 * to a decoder keeping 40 bytes; its log must say bad-utf8 exactly when
 * want_valid is false, whatever the split. */
static void expect_judged(bool masked, size_t pos, const char *odd,
			  bool want_valid)
{
	uint8_t text[300], in[320];
	struct ws_decoder_config cfg = masked ? from_client : from_server;
	struct strbuf want = {0};

	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)('a' + i % 26);
	memcpy(text + pos, odd, strlen(odd));
	cfg.keep_text = 40;
	size_t n = frame(in, 0x81, masked ? key : NULL, text, sizeof(text));
	strbuf_printf(&want, "text size=300 wire=300 frames=1 kept=40 "
			     "truncated%s '",
		      want_valid ? "" : " bad-utf8");
	strbuf_escaped(&want, text, 40);
	strbuf_printf(&want, "'\n");
	char *expected = strbuf_take(&want);
	decode_log_expect(&cfg, in, n, expected);
	free(expected);
}

Test(ws_decoder, utf8_is_judged_over_the_whole_text_wherever_the_odd_byte_falls)
{
	/* Around the kept prefix's end (40) and the 16- and 64-byte steps
	 * of the ASCII scans, in every phase of the masking key. */
	static const size_t at[] = {0,  1,  3,  15,  16,  17,  39,  40,  41,
				    42, 43, 63, 64,  65,  103, 104, 105, 167,
				    168, 191, 232, 233, 255, 256, 295, 297};
	for (int masked = 0; masked < 2; masked++) {
		for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
			expect_judged(masked, at[i], "\xff", false);
			expect_judged(masked, at[i], "\xc3\xa9", true);
			expect_judged(masked, at[i], "\xe2\x82\xac", true);
			expect_judged(masked, at[i], "\xed\xa0\x80", false);
			expect_judged(masked, at[i], "\x80", false);
		}
		/* A sequence cut by the end of the text. */
		expect_judged(masked, 299, "\xc3", false);
	}
}

Test(ws_decoder, unmasking_reports_non_ascii_at_any_length_position_and_phase)
{
	static const uint8_t mask[4] = {0x80, 0x01, 0x7f, 0xfe};
	uint8_t plain[200], src[200], dst[200];

	for (size_t len = 0; len <= sizeof(plain); len++) {
		for (uint64_t off = 0; off < 4; off++) {
			/* hi = len: all ASCII; else one byte >= 0x80 at hi. */
			for (size_t hi = 0; hi <= len; hi++) {
				for (size_t i = 0; i < len; i++) {
					plain[i] = (uint8_t)(i * 13 % 128);
					if (i == hi)
						plain[i] |= 0x80;
					src[i] = plain[i] ^ mask[(off + i) & 3];
				}
				uint8_t flag =
				    ws_unmask_copy(dst, src, len, mask, off);
				cr_assert_eq(flag, hi < len ? 0x80 : 0,
					     "len %zu off %llu hi %zu", len,
					     (unsigned long long)off, hi);
				cr_assert_eq(memcmp(dst, plain, len), 0);
			}
		}
	}
}

Test(ws_decoder, memory_held_is_reported_and_given_back)
{
	/* RFC 7692 7.2.3.1: "Hello" compressed, unmasked. */
	static const uint8_t hello_deflated[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd,
						 0xc9, 0xc9, 0x07, 0x00};
	uint8_t text[1000], in[1100];
	struct ws_decoder_config cfg = from_server;
	struct ws_decoder d;
	struct ws_message m;
	size_t used;

	cfg.deflate = true;
	ws_decoder_init(&d, &cfg);
	cr_assert_eq(ws_decoder_memory(&d), 0);
	memset(text, 'x', sizeof(text));
	size_t n = frame(in, 0x81, NULL, text, sizeof(text));
	/* Given whole, the message is handed out in place: nothing held. */
	cr_assert_eq(ws_decoder_feed(&d, in, n, &used, &m), WS_DECODE_MESSAGE);
	cr_assert_eq(ws_decoder_memory(&d), 0);
	/* Split, its prefix is kept in a buffer of the decoder's. */
	cr_assert_eq(ws_decoder_feed(&d, in, n - 1, &used, &m),
		     WS_DECODE_NEED_MORE);
	cr_assert_eq(ws_decoder_feed(&d, in + n - 1, 1, &used, &m),
		     WS_DECODE_MESSAGE);
	cr_assert_eq(m.kept, sizeof(text));
	size_t kept = ws_decoder_memory(&d);
	cr_assert_geq(kept, 1000);
	cr_assert_leq(kept, 2048 + 16);
	/* The inflate stream: zlib's state (about 7 KiB) and, once used, its
	 * 32 KiB window. */
	cr_assert_eq(ws_decoder_feed(&d, hello_deflated, sizeof(hello_deflated),
				     &used, &m),
		     WS_DECODE_MESSAGE);
	cr_assert_eq(m.size, 5);
	cr_assert_geq(ws_decoder_memory(&d), kept + 32768 + 7000);
	cr_assert_leq(ws_decoder_memory(&d), kept + 32768 + 20000);
	ws_decoder_free(&d);
	cr_assert_eq(ws_decoder_memory(&d), 0);
}

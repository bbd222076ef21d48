/* test_utf8.c - incremental UTF-8 validation (RFC 3629 section 4). */
#include <criterion/criterion.h>
#include <string.h>

#include "wsdbg/utf8.h"

#define VALID(s) cr_assert(utf8_is_valid((const uint8_t *)(s), sizeof(s) - 1), \
			   "should be valid: %s", #s)
#define INVALID(s) cr_assert_not(utf8_is_valid((const uint8_t *)(s), \
					       sizeof(s) - 1), \
				 "should be invalid: %s", #s)

/* Validates s cut into two at every point, and byte by byte. */
static bool valid_at_every_split(const char *s, size_t n)
{
	bool whole = utf8_is_valid((const uint8_t *)s, n);
	for (size_t cut = 0; cut <= n; cut++) {
		struct utf8_state st = {0};
		utf8_feed(&st, (const uint8_t *)s, cut);
		utf8_feed(&st, (const uint8_t *)s + cut, n - cut);
		cr_assert_eq(utf8_state_complete(&st), whole, "cut at %zu", cut);
	}
	struct utf8_state st = {0};
	for (size_t i = 0; i < n; i++)
		utf8_feed(&st, (const uint8_t *)s + i, 1);
	cr_assert_eq(utf8_state_complete(&st), whole, "byte by byte");
	return whole;
}

Test(utf8, ascii_and_empty_text_are_valid)
{
	VALID("");
	VALID("hello, world");
	VALID("\x00\x7f");
}

Test(utf8, every_sequence_length_is_accepted)
{
	VALID("\xc2\x80");             /* U+0080 */
	VALID("\xdf\xbf");             /* U+07FF */
	VALID("\xe0\xa0\x80");         /* U+0800 */
	VALID("\xef\xbf\xbf");         /* U+FFFF */
	VALID("\xf0\x90\x80\x80");     /* U+10000 */
	VALID("\xf4\x8f\xbf\xbf");     /* U+10FFFF */
	VALID("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
}

Test(utf8, overlong_forms_are_rejected)
{
	INVALID("\xc0\x80");
	INVALID("\xc1\xbf");
	INVALID("\xe0\x80\x80");
	INVALID("\xe0\x9f\xbf");
	INVALID("\xf0\x80\x80\x80");
	INVALID("\xf0\x8f\xbf\xbf");
}

Test(utf8, surrogates_are_rejected)
{
	INVALID("\xed\xa0\x80"); /* U+D800 */
	INVALID("\xed\xbf\xbf"); /* U+DFFF */
	VALID("\xed\x9f\xbf");   /* U+D7FF */
}

Test(utf8, code_points_above_10ffff_are_rejected)
{
	INVALID("\xf4\x90\x80\x80");
	INVALID("\xf5\x80\x80\x80");
	INVALID("\xff");
	INVALID("\xfe");
}

Test(utf8, stray_and_missing_continuation_bytes_are_rejected)
{
	INVALID("\x80");
	INVALID("a\xbf");
	INVALID("\xc2");
	INVALID("\xe2\x82");
	INVALID("\xe2\x82x");
	INVALID("\xf0\x9f\x98");
}

Test(utf8, verdict_is_the_same_at_every_split)
{
	static const char *samples[] = {
		"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80!",
		"\xf4\x8f\xbf\xbf\xed\x9f\xbf",
		"abc\xed\xa0\x80xyz",
		"\xf0\x9f\x98",
		("0123456789abcdef\xe2\x82\xac" "0123456789abcdef"),
	};
	bool expected[] = {true, true, false, false, true};
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		cr_assert_eq(valid_at_every_split(samples[i],
						  strlen(samples[i])),
			     expected[i], "sample %zu", i);
}

Test(utf8, bad_byte_is_found_at_every_position_of_a_long_ascii_run)
{
	/* The ASCII fast path reads 8 bytes at a time: put the bad byte at
	 * each offset so none slips between words. */
	char buf[41];
	for (size_t pos = 0; pos < 40; pos++) {
		memset(buf, 'a', 40);
		buf[pos] = (char)0x80;
		cr_assert_not(utf8_is_valid((const uint8_t *)buf, 40),
			      "bad byte at %zu missed", pos);
	}
}

Test(utf8, invalid_state_is_sticky)
{
	struct utf8_state st = {0};
	utf8_feed(&st, (const uint8_t *)"\xff", 1);
	cr_assert_not(utf8_state_ok(&st));
	utf8_feed(&st, (const uint8_t *)"abc", 3);
	cr_assert_not(utf8_state_complete(&st));
}

Test(utf8, open_sequence_is_ok_but_not_complete)
{
	struct utf8_state st = {0};
	utf8_feed(&st, (const uint8_t *)"\xe2\x82", 2);
	cr_assert(utf8_state_ok(&st));
	cr_assert_not(utf8_state_complete(&st));
	utf8_feed(&st, (const uint8_t *)"\xac", 1);
	cr_assert(utf8_state_complete(&st));
}

/* A reference validator written the other way round: decode each code
 * point arithmetically, then reject overlongs, surrogates and values above
 * U+10FFFF by value (RFC 3629 section 3). */
static bool reference_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint32_t cp;
		size_t len;
		if (p[i] < 0x80) {
			i++;
			continue;
		} else if ((p[i] & 0xe0) == 0xc0) {
			cp = p[i] & 0x1f;
			len = 2;
		} else if ((p[i] & 0xf0) == 0xe0) {
			cp = p[i] & 0x0f;
			len = 3;
		} else if ((p[i] & 0xf8) == 0xf0) {
			cp = p[i] & 0x07;
			len = 4;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min[len] || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

Test(utf8, agrees_with_a_reference_decoder_on_random_text)
{
	/* Bytes drawn mostly from lead/continuation ranges so that valid and
	 * invalid texts both come up often. */
	static const uint8_t pool[] = {'a', 'z', 0x7f, 0x80, 0x8f, 0x90, 0x9f,
				       0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0,
				       0xe1, 0xed, 0xef, 0xf0, 0xf3, 0xf4,
				       0xf5, 0xff};
	uint64_t x = 0x9e3779b97f4a7c15u;
	int valid_seen = 0;
	for (int round = 0; round < 20000; round++) {
		uint8_t buf[24];
		size_t n = (size_t)(round % 24);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = pool[x % sizeof(pool)];
		}
		bool want = reference_valid(buf, n);
		valid_seen += want;
		cr_assert_eq(utf8_is_valid(buf, n), want, "round %d", round);
		size_t cut = n ? (size_t)(x >> 32) % n : 0;
		struct utf8_state st = {0};
		utf8_feed(&st, buf, cut);
		utf8_feed(&st, buf + cut, n - cut);
		cr_assert_eq(utf8_state_complete(&st), want, "round %d cut %zu",
			     round, cut);
	}
	cr_assert_gt(valid_seen, 100, "the generator should make valid text too");
}

Test(utf8, long_texts_agree_with_the_reference_decoder_at_every_split)
{
	/* Long texts of mostly valid characters with stray bytes: the ASCII
	 * word skipping and the 16-step inner loop meet sequences and errors
	 * at every alignment, and every 7th cut splits a piece. */
	static const uint8_t pool[] = {'a', 'b', ' ', 0x80, 0x8f, 0x9f, 0xa0,
				       0xbf, 0xc3, 0xe2, 0xe0, 0xed, 0xf0,
				       0xf4, 0xc0, 0xff};
	static const char *chunks[] = {"\xc3\xa9", "\xe6\x97\xa5",
				       "\xf0\x9f\x98\x80", "ab", "\xed\x9f\xbf",
				       "\xf4\x8f\xbf\xbf", "x"};
	uint64_t x = 0x2545f4914f6cdd1du;
	int valid_seen = 0, invalid_seen = 0;
	for (int round = 0; round < 3000; round++) {
		uint8_t buf[200];
		size_t n = 0, want_len = 64 + (size_t)(round % 130);
		while (n < want_len) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* Mostly valid characters, now and then a random byte. */
			if (x % 61 == 0) {
				buf[n++] = pool[(x >> 8) % sizeof(pool)];
			} else {
				const char *c = chunks[(x >> 8) % 7];
				size_t cl = strlen(c);
				if (n + cl > sizeof(buf))
					break;
				memcpy(buf + n, c, cl);
				n += cl;
			}
		}
		bool want = reference_valid(buf, n);
		want ? valid_seen++ : invalid_seen++;
		cr_assert_eq(utf8_is_valid(buf, n), want, "round %d", round);
		for (size_t cut = 1; cut < n; cut += 7) {
			struct utf8_state st = {0};
			utf8_feed(&st, buf, cut);
			utf8_feed(&st, buf + cut, n - cut);
			cr_assert_eq(utf8_state_complete(&st), want,
				     "round %d cut %zu", round, cut);
		}
	}
	cr_assert_gt(valid_seen, 300);
	cr_assert_gt(invalid_seen, 300);
}

Test(utf8, one_odd_sequence_anywhere_in_long_ascii_is_judged)
{
	/* Past the 64- and 8-byte ASCII steps and across every split. */
	char s[160];

	for (size_t pos = 0; pos + 3 <= sizeof(s); pos++) {
		memset(s, 'q', sizeof(s));
		s[pos] = '\xff';
		cr_assert_not(valid_at_every_split(s, sizeof(s)), "at %zu", pos);
		memcpy(s + pos, "\xe2\x82\xac", 3);
		cr_assert(valid_at_every_split(s, sizeof(s)), "at %zu", pos);
		memcpy(s + pos, "\xe2\x82q", 3);
		cr_assert_not(valid_at_every_split(s, sizeof(s)), "at %zu", pos);
	}
}

Test(utf8, one_odd_sequence_anywhere_in_a_long_text_is_judged)
{
	/* Long enough for the 128-byte ASCII steps where the processor has
	 * them (scan_avx2.h): whole, cut at the sequence and byte by byte
	 * from it. */
	char s[700];

	for (size_t pos = 0; pos + 3 <= sizeof(s); pos++) {
		static const char *const odd[] = {"\xff", "\xe2\x82\xac",
						  "\xe2\x82q"};
		static const bool valid[] = {false, true, false};

		for (size_t k = 0; k < 3; k++) {
			struct utf8_state st = {0}, bytes = {0};

			memset(s, 'q', sizeof(s));
			memcpy(s + pos, odd[k], strlen(odd[k]));
			cr_assert_eq(utf8_is_valid((const uint8_t *)s,
						   sizeof(s)),
				     valid[k], "%zu at %zu", k, pos);
			utf8_feed(&st, (const uint8_t *)s, pos + 1);
			utf8_feed(&st, (const uint8_t *)s + pos + 1,
				  sizeof(s) - pos - 1);
			cr_assert_eq(utf8_state_complete(&st), valid[k],
				     "%zu at %zu, cut", k, pos);
			utf8_feed(&bytes, (const uint8_t *)s, pos);
			for (size_t i = pos; i < pos + 3; i++)
				utf8_feed(&bytes, (const uint8_t *)s + i, 1);
			utf8_feed(&bytes, (const uint8_t *)s + pos + 3,
				  sizeof(s) - pos - 3);
			cr_assert_eq(utf8_state_complete(&bytes), valid[k],
				     "%zu at %zu, bytes", k, pos);
		}
	}
}

/* Validates text p[0..n) masked with key from key offset off, as the
 * decoder does: the masked blocks first (utf8_feed_masked_blocks), from
 * byte start, the rest unmasked. */
static bool valid_masked(const uint8_t *p, size_t n, size_t start,
			 const uint8_t key[4], unsigned off)
{
	uint8_t masked[256], plain[256];
	struct utf8_state st = {0};

	cr_assert_leq(n, sizeof(masked));
	for (size_t i = 0; i < n; i++)
		masked[i] = p[i] ^ key[(off + i) & 3];
	utf8_feed(&st, p, start);
	size_t took = utf8_feed_masked_blocks(&st, masked + start, n - start,
					      key, off + start);
	cr_assert_leq(took, n - start);
	for (size_t i = start + took; i < n; i++)
		plain[i] = masked[i] ^ key[(off + i) & 3];
	utf8_feed(&st, plain + start + took, n - start - took);
	return utf8_state_complete(&st);
}

Test(utf8, dense_text_is_judged_with_an_error_at_every_position)
{
	/* Text with no ASCII between its characters, where the validator
	 * never rests in its ASCII skip: every odd sequence is put between
	 * every two characters of texts of every length from 40 to 200
	 * bytes, so that it meets the automaton's 16-step stretches at every
	 * offset; each text is also fed cut in two, at the odd sequence, just
	 * after its first byte and at the middle. */
	static const char *odd[] = {
		"\x80",             /* a stray continuation byte */
		"\xbf\xbf\xbf\xbf", /* four of them: no split before them */
		"\xe6\x97",         /* a character cut short */
		"\xc0\xaf",         /* an overlong '/' */
		"\xed\xa0\x80",     /* a surrogate */
		"\xf4\x90\x80\x80", /* above U+10FFFF */
		"\xff",
		"\xf0\x9f\x98\x80", /* a valid one */
	};
	static const char *chars[] = {"\xe6\x97\xa5", "\xd0\xb9", "\xc3\xa9",
				      "\xf0\x9f\x98\x80", "\xe2\x82\xac"};
	uint8_t buf[256];
	int valid_seen = 0, invalid_seen = 0;

	for (size_t len = 40; len <= 200; len++) {
		for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++) {
			for (size_t at = 0;; at++) {
				/* Whole characters, odd[k] after the at-th. */
				size_t n = 0, pos = 0;
				for (size_t c = 0; n < len; c++) {
					if (c == at) {
						pos = n;
						memcpy(buf + n, odd[k],
						       strlen(odd[k]));
						n += strlen(odd[k]);
					}
					const char *ch = chars[c % 5];
					memcpy(buf + n, ch, strlen(ch));
					n += strlen(ch);
				}
				if (pos == 0 && at > 0)
					break; /* odd[k] went past the end */
				bool want = reference_valid(buf, n);
				want ? valid_seen++ : invalid_seen++;
				cr_assert_eq(utf8_is_valid(buf, n), want,
					     "len %zu odd %zu at %zu", n, k,
					     pos);
				static const uint8_t key[4] = {0x81, 0x7e,
							       0xc0, 0x3f};
				cr_assert_eq(valid_masked(buf, n, 0, key,
							  (unsigned)at & 3),
					     want, "len %zu odd %zu at %zu, "
					     "masked", n, k, pos);
				size_t cuts[] = {pos, pos + 1, n / 2};
				for (size_t i = 0; i < 3; i++) {
					struct utf8_state st = {0};
					size_t cut = cuts[i] < n ? cuts[i] : n;
					utf8_feed(&st, buf, cut);
					utf8_feed(&st, buf + cut, n - cut);
					cr_assert_eq(utf8_state_complete(&st),
						     want,
						     "len %zu odd %zu at %zu "
						     "cut %zu",
						     n, k, pos, cut);
				}
			}
		}
	}
	cr_assert_gt(valid_seen, 1000);
	cr_assert_gt(invalid_seen, 10000);
}

/* Judges p[0..n) as the reference does: whole, cut in two at cut, and
 * masked from byte 2 on (at each of the four key offsets). */
static void agrees_with_reference(const uint8_t *p, size_t n, size_t cut)
{
	static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
	bool want = reference_valid(p, n);
	cr_assert_eq(utf8_is_valid(p, n), want, "%02x %02x %02x %02x at %zu",
		     p[cut], p[cut + 1], p[cut + 2], p[cut + 3], cut);
	struct utf8_state st = {0};
	utf8_feed(&st, p, cut);
	utf8_feed(&st, p + cut, n - cut);
	cr_assert_eq(utf8_state_complete(&st), want, "cut at %zu", cut);
	for (unsigned off = 0; off < 4; off++)
		cr_assert_eq(valid_masked(p, n, 2, key, off), want,
			     "%02x %02x %02x %02x at %zu masked, key offset %u",
			     p[cut], p[cut + 1], p[cut + 2], p[cut + 3], cut,
			     off);
}

Test(utf8, every_short_sequence_is_judged_alike_wherever_a_block_cuts_it)
{
	/* Where the processor allows, text is checked 16 bytes at a time
	 * from the first character that is not ASCII (utf8_ssse3.c), each
	 * byte with the three before it: every pair of bytes, and every
	 * sequence of three and four whose first byte is a lead and whose
	 * others are near the edges of the continuation range, is put at
	 * each offset from 12 to 17 of a 48-byte text starting with an
	 * accent, so that block edges fall before, inside and after it. */
	static const uint8_t edges[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f,
					0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0};
	const size_t ne = sizeof(edges);
	uint8_t buf[48];

	for (size_t at = 12; at <= 17; at++) {
		for (unsigned a = 0; a < 256; a++) {
			for (unsigned b = 0; b < 256; b++) {
				memset(buf, 'x', sizeof(buf));
				memcpy(buf, "\xc3\xa9", 2);
				buf[at] = (uint8_t)a;
				buf[at + 1] = (uint8_t)b;
				agrees_with_reference(buf, sizeof(buf), at);
			}
			if (a < 0xc0)
				continue;
			for (size_t i = 0; i < ne * ne * ne; i++) {
				memset(buf, 'x', sizeof(buf));
				memcpy(buf, "\xc3\xa9", 2);
				buf[at] = (uint8_t)a;
				buf[at + 1] = edges[i % ne];
				buf[at + 2] = edges[i / ne % ne];
				buf[at + 3] = edges[i / ne / ne];
				agrees_with_reference(buf, sizeof(buf), at);
			}
		}
	}
}

/*
 * utf8_ssse3.c - UTF-8 validation sixteen bytes at a time (utf8_ssse3.h).
 *
 * A byte b is judged with the byte before it, a: every error of RFC 3629
 * that two neighbouring bytes show is a condition on a's high nibble,
 * a's low nibble and b's high nibble together, so three lookups of 16
 * entries (one PSHUFB each), ANDed, give a mask of the errors b shows,
 * one bit each:
 *
 *   TOO_SHORT   a lead (C0-FF), b not a continuation (80-BF)
 *   TOO_LONG    a ASCII, b a continuation
 *   OVERLONG_2  a C0-C1, b a continuation
 *   OVERLONG_3  a E0, b 80-9F
 *   SURROGATE   a ED, b A0-BF
 *   TOO_LARGE   a F4-FF, b 90-BF
 *   F0_OR_F5UP  a F0 with b 80-8F (overlong), or a F5-FF with b 80-8F
 *   TWO_CONTS   a and b both continuations: not an error by itself
 *
 * Each row is a single product of nibble sets (F0_OR_F5UP shares a bit
 * because its two cases differ only in a's low nibble). TWO_CONTS is
 * right exactly where b is the third byte of a sequence of three or four
 * or the fourth of four, which the bytes two and three before b say
 * (E0-FF, F0-FF), so that bit is XORed with what they require. The
 * condition on a block's first bytes reads the previous block's last
 * three; one that ends inside a character and is followed by an ASCII
 * block (which is not looked at further) is an error. Masked text is
 * unmasked in the register as each block is loaded, never in memory.
 */
#include "utf8_ssse3.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <tmmintrin.h>

bool utf8_ssse3_usable(void)
{
	/* Reads what the C runtime found at start-up; 0 before that. */
	return __builtin_cpu_supports("ssse3");
}

enum {
	TOO_SHORT = 1 << 0,
	TOO_LONG = 1 << 1,
	OVERLONG_2 = 1 << 2,
	OVERLONG_3 = 1 << 3,
	SURROGATE = 1 << 4,
	TOO_LARGE = 1 << 5,
	F0_OR_F5UP = 1 << 6,
	TWO_CONTS = 1 << 7,
};

#define B(x) ((char)(x))
#define ROW16(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p)                 \
	_mm_setr_epi8(B(a), B(b), B(c), B(d), B(e), B(f), B(g), B(h), B(i),   \
		      B(j), B(k), B(l), B(m), B(n), B(o), B(p))

/* The errors each byte of in shows with the byte before it (the last of
 * prev for the first), TWO_CONTS already set against what the bytes two
 * and three before require. */
__attribute__((target("ssse3"))) static __m128i
utf8_ssse3_errors(__m128i in, __m128i prev)
{
	const __m128i nibble = _mm_set1_epi8(0x0f);
	/* By a's high nibble: 0-7 ASCII, 8-B continuations, C-F leads. */
	const __m128i by_a_high = ROW16(
		TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG,
		TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG,
		TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS,
		TOO_SHORT | OVERLONG_2, TOO_SHORT,
		TOO_SHORT | OVERLONG_3 | SURROGATE,
		TOO_SHORT | TOO_LARGE | F0_OR_F5UP);
	/* By a's low nibble. */
#define ANY_LOW (TOO_SHORT | TOO_LONG | TWO_CONTS)
	const __m128i by_a_low = ROW16(
		ANY_LOW | OVERLONG_2 | OVERLONG_3 | F0_OR_F5UP,
		ANY_LOW | OVERLONG_2, ANY_LOW, ANY_LOW,
		ANY_LOW | TOO_LARGE, ANY_LOW | TOO_LARGE | F0_OR_F5UP,
		ANY_LOW | TOO_LARGE | F0_OR_F5UP,
		ANY_LOW | TOO_LARGE | F0_OR_F5UP,
		ANY_LOW | TOO_LARGE | F0_OR_F5UP,
		ANY_LOW | TOO_LARGE | F0_OR_F5UP,
		ANY_LOW | TOO_LARGE | F0_OR_F5UP,
		ANY_LOW | TOO_LARGE | F0_OR_F5UP,
		ANY_LOW | TOO_LARGE | F0_OR_F5UP,
		ANY_LOW | TOO_LARGE | F0_OR_F5UP | SURROGATE,
		ANY_LOW | TOO_LARGE | F0_OR_F5UP,
		ANY_LOW | TOO_LARGE | F0_OR_F5UP);
#undef ANY_LOW
	/* By b's high nibble. */
#define CONT (TOO_LONG | OVERLONG_2 | TWO_CONTS)
	const __m128i by_b_high = ROW16(
		TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
		TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
		CONT | OVERLONG_3 | F0_OR_F5UP, CONT | OVERLONG_3 | TOO_LARGE,
		CONT | SURROGATE | TOO_LARGE, CONT | SURROGATE | TOO_LARGE,
		TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT);
#undef CONT
	__m128i a = _mm_alignr_epi8(in, prev, 15);
	__m128i found = _mm_and_si128(
		_mm_and_si128(
			_mm_shuffle_epi8(by_a_high,
					 _mm_and_si128(_mm_srli_epi16(a, 4),
						       nibble)),
			_mm_shuffle_epi8(by_a_low, _mm_and_si128(a, nibble))),
		_mm_shuffle_epi8(by_b_high,
				 _mm_and_si128(_mm_srli_epi16(in, 4), nibble)));
	/* Saturating: 0x80 or more exactly when the byte two before is
	 * E0-FF, or the one three before F0-FF. */
	__m128i third = _mm_subs_epu8(_mm_alignr_epi8(in, prev, 14),
				      _mm_set1_epi8(B(0xe0 - 0x80)));
	__m128i fourth = _mm_subs_epu8(_mm_alignr_epi8(in, prev, 13),
				       _mm_set1_epi8(B(0xf0 - 0x80)));
	__m128i must_cont = _mm_and_si128(_mm_or_si128(third, fourth),
					  _mm_set1_epi8(B(0x80)));
	return _mm_xor_si128(found, must_cont);
}

__attribute__((target("ssse3"))) size_t
utf8_ssse3_check(const uint8_t *p, size_t n, const uint8_t key[16])
{
	const __m128i zero = _mm_setzero_si128();
	const __m128i mask = _mm_loadu_si128((const __m128i *)key);
	/* Nonzero where a block's last bytes start a character it does not
	 * finish: the 14th F0 or more, the 15th E0 or more, the 16th C0 or
	 * more (saturating subtraction of the largest byte allowed). */
	const __m128i unfinished = ROW16(0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					 0xff, 0xef, 0xdf, 0xbf);
	__m128i prev = zero, open = zero, errors = zero;
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m128i in = _mm_xor_si128(
			_mm_loadu_si128((const __m128i *)(p + i)), mask);

		if (_mm_movemask_epi8(in) == 0) {
			/* ASCII: wrong only after a character left open. */
			errors = _mm_or_si128(errors, open);
			open = zero;
		} else {
			errors = _mm_or_si128(errors,
					      utf8_ssse3_errors(in, prev));
			open = _mm_subs_epu8(in, unfinished);
		}
		prev = in;
	}
	if (_mm_movemask_epi8(_mm_cmpeq_epi8(errors, zero)) != 0xffff)
		return SIZE_MAX;
	/* No character has more than three continuation bytes, and four in
	 * a row would have been an error: the last character's first byte
	 * is among the last four. */
	size_t done = i - 1;
	while (((p[done] ^ key[done % 16]) & 0xc0) == 0x80)
		done--;
	return done;
}

#else

bool utf8_ssse3_usable(void)
{
	return false;
}

size_t utf8_ssse3_check(const uint8_t *p, size_t n, const uint8_t key[16])
{
	(void)p;
	(void)n;
	(void)key;
	return 0;
}

#endif

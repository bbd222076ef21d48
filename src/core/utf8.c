/*
 * utf8.c - incremental UTF-8 validation (RFC 3629 section 4).
 *
 * Well-formed sequences, by first byte:
 *   00-7F                       ASCII
 *   C2-DF  80-BF
 *   E0     A0-BF 80-BF          (no overlongs)
 *   E1-EC  80-BF 80-BF
 *   ED     80-9F 80-BF          (no surrogates)
 *   EE-EF  80-BF 80-BF
 *   F0     90-BF 80-BF 80-BF    (no overlongs)
 *   F1-F3  80-BF 80-BF 80-BF
 *   F4     80-8F 80-BF 80-BF    (nothing above U+10FFFF)
 * The state keeps how many continuation bytes are owed and the range the
 * next one must fall in, so a sequence may be cut anywhere.
 */
#include "wsdbg/utf8.h"

#include <string.h>

/* Sets *need and the range [*lo, *hi] of the first continuation byte for
 * the sequence led by byte b (not ASCII). False if b cannot lead one. */
static inline bool utf8_lead(uint8_t b, unsigned *need, unsigned *lo,
			     unsigned *hi)
{
	*lo = 0x80;
	*hi = 0xbf;
	if (b >= 0xc2 && b <= 0xdf) {
		*need = 1;
	} else if (b >= 0xe0 && b <= 0xef) {
		*need = 2;
		if (b == 0xe0)
			*lo = 0xa0;
		else if (b == 0xed)
			*hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		*need = 3;
		if (b == 0xf0)
			*lo = 0x90;
		else if (b == 0xf4)
			*hi = 0x8f;
	} else {
		return false; /* 80-C1: continuation or overlong; F5-FF */
	}
	return true;
}

/* Loads 8 bytes without alignment assumptions. */
static inline uint64_t utf8_load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline bool utf8_is_cont(uint8_t b)
{
	return (b & 0xc0) == 0x80;
}

/* The state lives in locals while bytes are checked (the compiler cannot
 * keep it in registers through *s, which p may alias) and is stored back
 * once at the end. */
void utf8_feed(struct utf8_state *s, const uint8_t *p, size_t n)
{
	const uint8_t *end;
	unsigned need = s->need, lo = s->lo, hi = s->hi;

	if (s->invalid || n == 0) /* p may be NULL when n is 0 */
		return;
	end = p + n;
	/* Finish a sequence left open by the previous piece. */
	for (; need > 0 && p < end; need--) {
		if (*p < lo || *p > hi)
			goto invalid;
		p++;
		lo = 0x80;
		hi = 0xbf;
	}
	while (p < end) {
		if (*p < 0x80) {
			while (end - p >= 8 &&
			       (utf8_load64(p) & UINT64_C(0x8080808080808080)) == 0)
				p += 8;
			while (p < end && *p < 0x80)
				p++;
			continue;
		}
		if (!utf8_lead(*p++, &need, &lo, &hi))
			goto invalid;
		if ((size_t)(end - p) >= need) {
			/* Whole sequence at hand: check it in one go. */
			if (p[0] < lo || p[0] > hi ||
			    (need > 1 && !utf8_is_cont(p[1])) ||
			    (need > 2 && !utf8_is_cont(p[2])))
				goto invalid;
			p += need;
			need = 0;
			continue;
		}
		/* The sequence runs past this piece: check what is here. */
		for (; p < end; need--) {
			if (*p < lo || *p > hi)
				goto invalid;
			p++;
			lo = 0x80;
			hi = 0xbf;
		}
	}
	s->need = (uint8_t)need;
	s->lo = (uint8_t)lo;
	s->hi = (uint8_t)hi;
	return;
invalid:
	s->invalid = true;
}

bool utf8_is_valid(const uint8_t *p, size_t n)
{
	struct utf8_state s = {0};
	utf8_feed(&s, p, n);
	return utf8_state_complete(&s);
}

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

/* Starts the sequence led by byte b (not ASCII). False if b cannot lead. */
static bool utf8_start(struct utf8_state *s, uint8_t b)
{
	s->lo = 0x80;
	s->hi = 0xbf;
	if (b >= 0xc2 && b <= 0xdf) {
		s->need = 1;
	} else if (b >= 0xe0 && b <= 0xef) {
		s->need = 2;
		if (b == 0xe0)
			s->lo = 0xa0;
		else if (b == 0xed)
			s->hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		s->need = 3;
		if (b == 0xf0)
			s->lo = 0x90;
		else if (b == 0xf4)
			s->hi = 0x8f;
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

void utf8_feed(struct utf8_state *s, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;

	if (s->invalid)
		return;
	while (p < end) {
		if (s->need == 0) {
			/* Fast path: skip whole words of ASCII. */
			while (end - p >= 8 &&
			       (utf8_load64(p) & UINT64_C(0x8080808080808080)) == 0)
				p += 8;
			while (p < end && *p < 0x80)
				p++;
			if (p == end)
				break;
			if (!utf8_start(s, *p++)) {
				s->invalid = true;
				return;
			}
			continue;
		}
		uint8_t b = *p++;
		if (b < s->lo || b > s->hi) {
			s->invalid = true;
			return;
		}
		s->lo = 0x80;
		s->hi = 0xbf;
		s->need--;
	}
}

bool utf8_is_valid(const uint8_t *p, size_t n)
{
	struct utf8_state s = {0};
	utf8_feed(&s, p, n);
	return utf8_state_complete(&s);
}

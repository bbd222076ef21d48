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
 *
 * The table above is a 9-state automaton over 12 classes of bytes. It runs
 * as a "shift DFA": every state is a multiple of 6, and the row of a byte
 * class packs, for each state s, the next state into bits s..s+5. One step
 * is then a single shift, `row >> state`, with no load or branch that
 * depends on the state, about one cycle a byte; runs of ASCII in the
 * accepting state are skipped 64 bytes at a time (vec16.h), or 128 in
 * texts of 256 bytes or more where the processor has AVX2 (scan_avx2.h).
 * Where the processor has SSSE3, stretches of 16 bytes or more that start
 * between characters are checked a block at a time instead
 * (utf8_ssse3.h), and the automaton takes the few bytes left.
 */
#include "wsdbg/utf8.h"

#include <string.h>

#include "scan_avx2.h"
#include "utf8_ssse3.h"
#include "vec16.h"

/* States, as bit offsets into a row. REJECT is 0 so that every transition
 * a row does not name goes there; it is absorbing. */
enum {
	UTF8_REJECT = 0,
	UTF8_ACCEPT = 6,
	UTF8_NEED1 = 12,    /* one continuation byte to go */
	UTF8_NEED2 = 18,    /* two to go */
	UTF8_NEED2_E0 = 24, /* two to go, the next A0-BF */
	UTF8_NEED2_ED = 30, /* two to go, the next 80-9F */
	UTF8_NEED3 = 36,    /* three to go */
	UTF8_NEED3_F0 = 42, /* three to go, the next 90-BF */
	UTF8_NEED3_F4 = 48, /* three to go, the next 80-8F */
};

/* Byte classes. */
enum {
	UTF8_C_ASCII,   /* 00-7F */
	UTF8_C_CONT_LO, /* 80-8F */
	UTF8_C_CONT_MID,/* 90-9F */
	UTF8_C_CONT_HI, /* A0-BF */
	UTF8_C_BAD,     /* C0-C1, F5-FF: never in UTF-8 */
	UTF8_C_LEAD2,   /* C2-DF */
	UTF8_C_E0,
	UTF8_C_LEAD3,   /* E1-EC, EE-EF */
	UTF8_C_ED,
	UTF8_C_F0,
	UTF8_C_LEAD4,   /* F1-F3 */
	UTF8_C_F4,
	UTF8_CLASSES
};

#define R4(c) c, c, c, c
#define R16(c) R4(c), R4(c), R4(c), R4(c)
static const uint8_t utf8_class[256] = {
	R16(UTF8_C_ASCII), R16(UTF8_C_ASCII), R16(UTF8_C_ASCII),
	R16(UTF8_C_ASCII), R16(UTF8_C_ASCII), R16(UTF8_C_ASCII),
	R16(UTF8_C_ASCII), R16(UTF8_C_ASCII),       /* 00-7F */
	R16(UTF8_C_CONT_LO),                        /* 80-8F */
	R16(UTF8_C_CONT_MID),                       /* 90-9F */
	R16(UTF8_C_CONT_HI), R16(UTF8_C_CONT_HI),   /* A0-BF */
	UTF8_C_BAD, UTF8_C_BAD,                     /* C0-C1 */
	R4(UTF8_C_LEAD2), R4(UTF8_C_LEAD2), R4(UTF8_C_LEAD2),
	R4(UTF8_C_LEAD2), R4(UTF8_C_LEAD2), R4(UTF8_C_LEAD2),
	R4(UTF8_C_LEAD2), UTF8_C_LEAD2, UTF8_C_LEAD2, /* C2-DF */
	UTF8_C_E0,                                  /* E0 */
	R4(UTF8_C_LEAD3), R4(UTF8_C_LEAD3), R4(UTF8_C_LEAD3), /* E1-EC */
	UTF8_C_ED,                                  /* ED */
	UTF8_C_LEAD3, UTF8_C_LEAD3,                 /* EE-EF */
	UTF8_C_F0,                                  /* F0 */
	UTF8_C_LEAD4, UTF8_C_LEAD4, UTF8_C_LEAD4,   /* F1-F3 */
	UTF8_C_F4,                                  /* F4 */
	UTF8_C_BAD, UTF8_C_BAD, UTF8_C_BAD,         /* F5-F7 */
	R4(UTF8_C_BAD), R4(UTF8_C_BAD),             /* F8-FF */
};

/* Transition from state `from` to state `to`, placed in a row. */
#define T(from, to) ((uint64_t)(to) << (from))

/* Continuation bytes move every "N to go" state one step on; the
 * restricted second bytes of E0, ED, F0 and F4 sequences are read from the
 * class of the byte itself. */
#define CONT_ANY \
	(T(UTF8_NEED1, UTF8_ACCEPT) | T(UTF8_NEED2, UTF8_NEED1) | \
	 T(UTF8_NEED3, UTF8_NEED2))

static const uint64_t utf8_row[UTF8_CLASSES] = {
	[UTF8_C_ASCII] = T(UTF8_ACCEPT, UTF8_ACCEPT),
	[UTF8_C_CONT_LO] = CONT_ANY | T(UTF8_NEED2_ED, UTF8_NEED1) |
			   T(UTF8_NEED3_F4, UTF8_NEED2),
	[UTF8_C_CONT_MID] = CONT_ANY | T(UTF8_NEED2_ED, UTF8_NEED1) |
			    T(UTF8_NEED3_F0, UTF8_NEED2),
	[UTF8_C_CONT_HI] = CONT_ANY | T(UTF8_NEED2_E0, UTF8_NEED1) |
			   T(UTF8_NEED3_F0, UTF8_NEED2),
	[UTF8_C_BAD] = 0,
	[UTF8_C_LEAD2] = T(UTF8_ACCEPT, UTF8_NEED1),
	[UTF8_C_E0] = T(UTF8_ACCEPT, UTF8_NEED2_E0),
	[UTF8_C_LEAD3] = T(UTF8_ACCEPT, UTF8_NEED2),
	[UTF8_C_ED] = T(UTF8_ACCEPT, UTF8_NEED2_ED),
	[UTF8_C_F0] = T(UTF8_ACCEPT, UTF8_NEED3_F0),
	[UTF8_C_LEAD4] = T(UTF8_ACCEPT, UTF8_NEED3),
	[UTF8_C_F4] = T(UTF8_ACCEPT, UTF8_NEED3_F4),
};

/* The stored state is kept XOR UTF8_ACCEPT so that a zero-initialised
 * struct utf8_state means "accepting, nothing open". */
static inline unsigned utf8_load_state(const struct utf8_state *s)
{
	return s->dfa ^ UTF8_ACCEPT;
}

/* Loads 8 bytes without alignment assumptions. */
static inline uint64_t utf8_load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* Skips ASCII in [p, end): 64 bytes a step while whole blocks are ASCII,
 * then 8, then 1, so that the automaton (and its tables, a few cache
 * lines) is met only at a character that is not ASCII. */
static inline const uint8_t *utf8_skip_ascii(const uint8_t *p,
					      const uint8_t *end)
{
	while (end - p >= 64) {
		vec16 any = (vec16_load(p) | vec16_load(p + 16)) |
			    (vec16_load(p + 32) | vec16_load(p + 48));
		if (vec16_any_high(any))
			break;
		p += 64;
	}
	while (end - p >= 8 &&
	       (utf8_load64(p) & UINT64_C(0x8080808080808080)) == 0)
		p += 8;
	while (p < end && *p < 0x80)
		p++;
	return p;
}

/* One step of the automaton on byte b. The shift count is masked the way
 * the hardware does anyway. */
static inline uint64_t utf8_step(uint64_t state, uint8_t b)
{
	return utf8_row[utf8_class[b]] >> (state & 63);
}

/* Runs the automaton over [p, end) from state, skipping ASCII runs while
 * accepting; stops early once rejected. */
static uint64_t utf8_run(uint64_t state, const uint8_t *p, const uint8_t *end)
{
	while (p < end) {
		if ((state & 63) == UTF8_ACCEPT)
			p = utf8_skip_ascii(p, end);
		/* Up to 16 steps before looking at the state again: REJECT is
		 * absorbing, so nothing is missed by checking it late. */
		const uint8_t *stop = end - p > 16 ? p + 16 : end;
		while (p < stop)
			state = utf8_step(state, *p++);
		if ((state & 63) == UTF8_REJECT)
			break;
	}
	return state & 63;
}

/* utf8_feed from p, between characters with 16 bytes or more to go: the
 * whole blocks at once (utf8_ssse3.h), then the few bytes left. Out of
 * line, so that utf8_feed, which most texts leave after the ASCII skip,
 * keeps no registers across a call. */
__attribute__((noinline)) static void
utf8_feed_blocks(struct utf8_state *s, const uint8_t *p, const uint8_t *end)
{
	static const uint8_t no_key[16];
	size_t done = utf8_ssse3_check(p, (size_t)(end - p), no_key);
	uint64_t state = done == SIZE_MAX
		? UTF8_REJECT : utf8_run(UTF8_ACCEPT, p + done, end);

	s->dfa = (uint8_t)(state ^ UTF8_ACCEPT);
}

/* utf8_feed from p, between characters: the ASCII skip, which most
 * texts end in, then the rest, where the processor can, a block at a
 * time (a tail call: nothing of this frame is needed after it). */
static inline void utf8_feed_idle(struct utf8_state *s, const uint8_t *p,
				  const uint8_t *end)
{
	p = utf8_skip_ascii(p, end);
	if (p == end) {
		s->dfa = UTF8_ACCEPT ^ UTF8_ACCEPT;
		return;
	}
	if (end - p >= 16 && utf8_ssse3_usable()) {
		utf8_feed_blocks(s, p, end);
		return;
	}
	s->dfa = (uint8_t)(utf8_run(UTF8_ACCEPT, p, end) ^ UTF8_ACCEPT);
}

/* The same for long text, its ASCII 128 bytes a step first
 * (scan_avx2.h). Out of line, so that a short text's utf8_feed keeps no
 * registers across a call. */
__attribute__((noinline)) static void
utf8_feed_long(struct utf8_state *s, const uint8_t *p, const uint8_t *end)
{
	p += scan_avx2_ascii(p, (size_t)(end - p), (vec16){0});
	utf8_feed_idle(s, p, end);
}

void utf8_feed(struct utf8_state *s, const uint8_t *p, size_t n)
{
	uint64_t state = utf8_load_state(s);
	const uint8_t *end = p + n;

	if (state == UTF8_REJECT || n == 0) /* p may be NULL when n is 0 */
		return;
	/* A character left open by the last piece ends within 3 bytes. */
	while ((state & 63) > UTF8_ACCEPT && p < end)
		state = utf8_step(state, *p++);
	state &= 63;
	if (state == UTF8_ACCEPT) {
		if (end - p >= SCAN_AVX2_MIN && scan_avx2_usable())
			utf8_feed_long(s, p, end);
		else
			utf8_feed_idle(s, p, end);
		return;
	}
	s->dfa = (uint8_t)(utf8_run(state, p, end) ^ UTF8_ACCEPT);
}

/* The blocks of masked text: utf8_ssse3_check with the mask repeated
 * from offset as its key (16 is a multiple of 4, so one key fits every
 * block). */
size_t utf8_feed_masked_blocks(struct utf8_state *s, const uint8_t *p,
			       size_t n, const uint8_t mask[4], uint64_t offset)
{
	uint8_t key[16];

	if (!utf8_state_idle(s) || n < 16 || !utf8_ssse3_usable())
		return 0;
	vec16_store(key, vec16_mask_key(mask, offset));
	size_t done = utf8_ssse3_check(p, n, key);
	if (done == SIZE_MAX) {
		s->dfa = UTF8_REJECT ^ UTF8_ACCEPT;
		return n;
	}
	return done;
}

/* utf8.h's inline utf8_state_complete, _ok and _idle read the stored
 * state directly. */
_Static_assert((UTF8_ACCEPT ^ UTF8_ACCEPT) == 0 &&
	       (UTF8_REJECT ^ UTF8_ACCEPT) == UTF8_DFA_REJECTED_,
	       "utf8.h's reading of the stored state");

bool utf8_is_valid(const uint8_t *p, size_t n)
{
	struct utf8_state s = {0};
	utf8_feed(&s, p, n);
	return utf8_state_complete(&s);
}

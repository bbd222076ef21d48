/*
 * test_ws_roundtrip.c - sessions written by an independent encoder
 * (support/ws_encoder.c, from RFC 6455 5.2 and RFC 7692 7.2.1) must decode
 * to exactly the messages sent.
 *
 * A seeded xorshift generator makes random sessions for each direction:
 * text (random UTF-8, multibyte characters cut by fragment boundaries),
 * binary, ping, pong and a closing close frame; sizes across the 7-, 16-
 * and 64-bit length forms, minimal or not; random fragmentation with
 * control frames in between; compression with every window size, with and
 * without context takeover; every kind of keep limit. Each session is fed
 * to ws_decoder_feed() in random pieces, each in its own heap block of
 * exactly its size so AddressSanitizer catches any over-read, and every
 * reported ws_message is compared field by field with what was sent.
 * Failure messages name the seed; the seeds are fixed, so a failure
 * replays.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "splits.h"
#include "strbuf.h"
#include "ws_encoder.h"
#include "wsdbg/ws_decoder.h"

/* ---- Seeded random numbers: xorshift64*, never zero. ---- */

struct rng {
	uint64_t s;
};

static struct rng rng_new(uint64_t seed)
{
	/* A splitmix64 step spreads small seeds over the state. */
	uint64_t z = seed + UINT64_C(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return (struct rng){z ? z : 1};
}

static uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * UINT64_C(0x2545f4914f6cdd1d);
}

/* Uniform in 0..n-1; 0 when n is 0. */
static size_t rng_below(struct rng *r, size_t n)
{
	return n ? (size_t)(rng_next(r) % n) : 0;
}

static bool rng_chance(struct rng *r, unsigned percent)
{
	return rng_below(r, 100) < percent;
}

static void rng_fill(struct rng *r, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng_next(r);
}

/* ---- UTF-8 written here, not with the decoder's validator. ---- */

/* Writes code point cp as UTF-8 (RFC 3629 3); returns its length. */
static size_t utf8_put(uint8_t *p, uint32_t cp)
{
	if (cp < 0x80) {
		p[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = (uint8_t)(0xc0 | cp >> 6);
		p[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (uint8_t)(0xe0 | cp >> 12);
		p[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		p[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	p[0] = (uint8_t)(0xf0 | cp >> 18);
	p[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	p[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	p[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

/* Fills exactly n bytes with random valid UTF-8: 1- to 4-byte characters
 * in equal measure, no surrogates, nothing above U+10FFFF. */
static void gen_utf8(struct rng *r, uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t width = 1 + rng_below(r, 4);
		if (width > n - i)
			width = n - i;
		uint32_t cp;
		switch (width) {
		case 1:
			cp = (uint32_t)rng_below(r, 0x80);
			break;
		case 2:
			cp = 0x80 + (uint32_t)rng_below(r, 0x800 - 0x80);
			break;
		case 3:
			cp = 0x800 + (uint32_t)rng_below(r, 0x10000 - 0x800);
			if (cp >= 0xd800 && cp <= 0xdfff)
				cp += 0x800; /* step over the surrogates */
			break;
		default:
			cp = 0x10000 +
			     (uint32_t)rng_below(r, 0x110000 - 0x10000);
			break;
		}
		i += utf8_put(p + i, cp);
	}
}

/* Sequences invalid wherever they land: each has a byte that can never
 * appear (C0, F5, FF) or a lead byte whose next byte is out of its range,
 * which is invalid after an open sequence too. */
static const struct {
	uint8_t b[4];
	size_t n;
} bad_utf8[] = {
	{{0xc0, 0x80}, 2},             /* overlong NUL */
	{{0xe0, 0x80, 0x80}, 3},       /* overlong 3-byte */
	{{0xed, 0xa0, 0x80}, 3},       /* surrogate U+D800 */
	{{0xf4, 0x90, 0x80, 0x80}, 4}, /* above U+10FFFF */
	{{0xf5}, 1},
	{{0xff}, 1},
};

/* Makes n bytes of valid UTF-8 invalid: overwrites a bad sequence
 * somewhere, or ends it in the middle of a character. n >= 4. */
static void gen_break_utf8(struct rng *r, uint8_t *p, size_t n)
{
	if (rng_chance(r, 25)) {
		/* The first 1 to 3 bytes of U+1F600. */
		static const uint8_t open_end[] = {0xf0, 0x9f, 0x98};
		size_t k = 1 + rng_below(r, 3);
		memcpy(p + n - k, open_end, k);
		gen_utf8(r, p, n - k); /* the rest stays whole characters */
		return;
	}
	size_t which = rng_below(r, sizeof(bad_utf8) / sizeof(bad_utf8[0]));
	size_t at = rng_below(r, n - bad_utf8[which].n + 1);
	memcpy(p + at, bad_utf8[which].b, bad_utf8[which].n);
}

/* ---- Sessions: what was sent, and the bytes on the wire. ---- */

struct expect {
	uint8_t opcode;
	uint8_t *payload; /* owned; as sent, before compression */
	size_t len;
	uint64_t wire_size;
	uint32_t frames;
	bool compressed;
	bool utf8_valid;  /* text, or close reason */
	int close_code;   /* close frames: -1 when the body has none */
	bool close_code_valid;
};

struct session {
	uint64_t seed;
	struct ws_decoder_config dcfg;
	struct ws_encoder_buf wire;
	struct expect *msgs;
	size_t n, cap;
};

/* How to generate a session; -1 leaves a choice to the generator. */
struct session_opts {
	bool from_client;
	int deflate;             /* -1, 0, 1 */
	int window_bits;         /* 0 (random) or 8..15 */
	int no_context_takeover; /* -1, 0, 1 */
	int inflate;             /* -1, 0, 1 */
	bool fixed_keep;         /* use keep below instead of random limits */
	size_t keep;             /* for text and binary alike */
	size_t budget;           /* payload bytes of the whole session */
	size_t max_messages;     /* data messages, 1..max */
	bool invalid_utf8;       /* break about half of the text messages */
};

static struct session_opts opts_default(bool from_client)
{
	return (struct session_opts){
		.from_client = from_client,
		.deflate = -1,
		.no_context_takeover = -1,
		.inflate = -1,
		.budget = 192 * 1024,
		.max_messages = 8,
	};
}

#define SEEDFMT "[seed %" PRIu64 ", message %zu] "

static struct expect *session_push(struct session *s)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->msgs = realloc(s->msgs, s->cap * sizeof(*s->msgs));
		cr_assert_not_null(s->msgs);
	}
	struct expect *x = &s->msgs[s->n++];
	*x = (struct expect){.frames = 1, .utf8_valid = true, .close_code = -1};
	return x;
}

static void session_free(struct session *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->msgs[i].payload);
	free(s->msgs);
	ws_encoder_buf_free(&s->wire);
	*s = (struct session){0};
}

static uint8_t *xmalloc(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	cr_assert_not_null(p);
	return p;
}

/* A generator's working state. */
struct gen {
	struct rng r;
	struct session *s;
	struct ws_encoder enc;
	const struct session_opts *o;
	size_t budget;
	uint8_t dict[4096];       /* shared material, so that later messages
				     repeat earlier ones and context takeover
				     matters */
	uint8_t words[16][12];    /* valid UTF-8 words, for compressible text */
	size_t word_len[16];
};

/* A payload size: the length-form edges, small, medium or large. */
static size_t gen_size(struct gen *g)
{
	static const size_t edges[] = {0, 1, 125, 126, 127, 65535, 65536};
	size_t n;
	unsigned k = (unsigned)rng_below(&g->r, 100);
	if (k < 25)
		n = edges[rng_below(&g->r, sizeof(edges) / sizeof(edges[0]))];
	else if (k < 70)
		n = rng_below(&g->r, 200);
	else if (k < 93)
		n = rng_below(&g->r, 4000);
	else
		n = rng_below(&g->r, 300 * 1024);
	if (n > g->budget)
		n = rng_below(&g->r, g->budget + 1);
	g->budget -= n;
	return n;
}

static size_t gen_keep(struct rng *r)
{
	switch (rng_below(r, 5)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return 2 + rng_below(r, 64);
	case 3: return 1000 + rng_below(r, 100000);
	default: return SIZE_MAX;
	}
}

static void gen_text(struct gen *g, uint8_t *p, size_t n)
{
	if (rng_chance(&g->r, 50)) {
		gen_utf8(&g->r, p, n);
		return;
	}
	for (size_t i = 0; i < n;) {
		size_t w = rng_below(&g->r, 16);
		if (g->word_len[w] > n - i) {
			gen_utf8(&g->r, p + i, n - i);
			break;
		}
		memcpy(p + i, g->words[w], g->word_len[w]);
		i += g->word_len[w];
	}
}

static void gen_binary(struct gen *g, uint8_t *p, size_t n)
{
	if (rng_chance(&g->r, 50)) {
		rng_fill(&g->r, p, n);
		return;
	}
	for (size_t i = 0; i < n;) {
		size_t off = rng_below(&g->r, sizeof(g->dict));
		size_t k = 1 + rng_below(&g->r, 64);
		if (k > sizeof(g->dict) - off)
			k = sizeof(g->dict) - off;
		if (k > n - i)
			k = n - i;
		memcpy(p + i, g->dict + off, k);
		i += k;
	}
}

/* A ping or pong with a random payload of at most 125 bytes. */
static struct expect *gen_ping_pong(struct gen *g)
{
	static const size_t edges[] = {0, 1, 125};
	struct expect *x = session_push(g->s);
	x->opcode = rng_chance(&g->r, 50) ? WS_OPCODE_PING : WS_OPCODE_PONG;
	x->len = rng_chance(&g->r, 30) ? edges[rng_below(&g->r, 3)]
				       : rng_below(&g->r, 126);
	x->payload = xmalloc(x->len);
	rng_fill(&g->r, x->payload, x->len);
	x->wire_size = x->len;
	return x;
}

/* Codes a close frame may carry (RFC 6455 7.4.1, 7.4.2), and some it may
 * not. */
static const uint16_t close_valid[] = {1000, 1001, 1002, 1003, 1007, 1008,
				       1009, 1010, 1011, 1012, 1013, 1014,
				       3000, 3999, 4000, 4999};
static const uint16_t close_invalid[] = {0,    999,  1004, 1005, 1006,
					 1015, 1016, 2000, 2999, 5000, 65535};
#define NVALID (sizeof(close_valid) / sizeof(close_valid[0]))
#define NINVALID (sizeof(close_invalid) / sizeof(close_invalid[0]))

static void gen_close(struct gen *g)
{
	struct expect *x = session_push(g->s);
	x->opcode = WS_OPCODE_CLOSE;
	unsigned k = (unsigned)rng_below(&g->r, 100);
	if (k < 20) { /* no body */
		x->payload = xmalloc(0);
	} else if (k < 30) { /* a 1-byte body: malformed, reported as no code */
		x->len = 1;
		x->payload = xmalloc(1);
		x->payload[0] = 0x03;
	} else {
		bool valid = k >= 40;
		uint16_t code =
			valid ? close_valid[rng_below(&g->r, NVALID)]
			      : close_invalid[rng_below(&g->r, NINVALID)];
		if (valid && rng_chance(&g->r, 50))
			code = (uint16_t)(3000 + rng_below(&g->r, 2000));
		size_t reason =
			rng_chance(&g->r, 20) ? 123 : rng_below(&g->r, 124);
		x->len = 2 + reason;
		x->payload = xmalloc(x->len);
		x->payload[0] = (uint8_t)(code >> 8);
		x->payload[1] = (uint8_t)code;
		gen_utf8(&g->r, x->payload + 2, reason);
		if (g->o->invalid_utf8 && reason >= 4 &&
		    rng_chance(&g->r, 50)) {
			gen_break_utf8(&g->r, x->payload + 2, reason);
			x->utf8_valid = false;
		}
		x->close_code = code;
		x->close_code_valid = valid;
	}
	x->wire_size = x->len;
	ws_encoder_put_control(&g->enc, &g->s->wire, x->opcode, x->payload,
			       x->len);
}

static int cmp_control_after(const void *a, const void *b)
{
	size_t x = ((const struct ws_encoder_control *)a)->after;
	size_t y = ((const struct ws_encoder_control *)b)->after;
	return (x > y) - (x < y);
}

/* A text or binary message, perhaps fragmented around pings and pongs and
 * compressed; its expectations follow those of the controls inside it,
 * since the decoder reports those first. */
static void gen_data(struct gen *g)
{
	uint8_t opcode = rng_chance(&g->r, 50) ? WS_OPCODE_TEXT
					       : WS_OPCODE_BINARY;
	size_t len = gen_size(g);
	uint8_t *payload = xmalloc(len);
	bool utf8_valid = true;
	if (opcode == WS_OPCODE_TEXT) {
		gen_text(g, payload, len);
		if (g->o->invalid_utf8 && len >= 4 && rng_chance(&g->r, 50)) {
			gen_break_utf8(&g->r, payload, len);
			utf8_valid = false;
		}
	} else {
		gen_binary(g, payload, len);
	}

	struct ws_encoder_message m = {
		.opcode = opcode,
		.payload = payload,
		.len = len,
		.compress = g->s->dcfg.deflate && rng_chance(&g->r, 75),
	};
	m.bfinal = m.compress && rng_chance(&g->r, 10);
	unsigned k = (unsigned)rng_below(&g->r, 100);
	m.fragments = k < 45 ? 1 : k < 85 ? 2 + rng_below(&g->r, 4)
			   : k < 98 ? 6 + rng_below(&g->r, 20)
				    : 100 + rng_below(&g->r, 200);
	k = (unsigned)rng_below(&g->r, 100);
	m.length_form = k < 70 ? WS_ENCODER_LENGTH_MINIMAL
			: k < 80 ? WS_ENCODER_LENGTH_7
			: k < 90 ? WS_ENCODER_LENGTH_16
				 : WS_ENCODER_LENGTH_64;

	/* RFC 6455 5.4: control frames may come between fragments. */
	struct ws_encoder_control ctl[3];
	if (m.fragments > 1 && rng_chance(&g->r, 40)) {
		m.ncontrols = 1 + rng_below(&g->r, 3);
		for (size_t i = 0; i < m.ncontrols; i++) {
			ctl[i].after = rng_below(&g->r, m.fragments - 1);
		}
		qsort(ctl, m.ncontrols, sizeof(ctl[0]), cmp_control_after);
		for (size_t i = 0; i < m.ncontrols; i++) {
			struct expect *c = gen_ping_pong(g);
			ctl[i].opcode = c->opcode;
			ctl[i].payload = c->payload;
			ctl[i].len = c->len;
		}
		m.controls = ctl;
	}

	uint64_t wire = ws_encoder_put_message(&g->enc, &g->s->wire, &m);
	struct expect *x = session_push(g->s);
	x->opcode = opcode;
	x->payload = payload;
	x->len = len;
	x->wire_size = wire;
	x->frames = (uint32_t)m.fragments;
	x->compressed = m.compress;
	x->utf8_valid = utf8_valid;
}

/* Builds a whole session from seed: decoder configuration, messages and the
 * bytes on the wire. */
static void session_build(struct session *s, uint64_t seed,
			  const struct session_opts *o)
{
	struct gen g = {
		.r = rng_new(seed), .s = s, .o = o, .budget = o->budget};
	struct rng *r = &g.r;

	*s = (struct session){.seed = seed};
	s->dcfg.from_client = o->from_client;
	s->dcfg.deflate = o->deflate < 0 ? rng_chance(r, 60) : o->deflate;
	s->dcfg.window_bits = (uint8_t)(o->window_bits
						? o->window_bits
						: 8 + (int)rng_below(r, 8));
	s->dcfg.inflate = o->inflate < 0 ? rng_chance(r, 85) : o->inflate;
	s->dcfg.keep_text = o->fixed_keep ? o->keep : gen_keep(r);
	s->dcfg.keep_binary = o->fixed_keep ? o->keep : gen_keep(r);
	bool sender_nct = o->no_context_takeover < 0 ? rng_chance(r, 50)
						     : o->no_context_takeover;
	/* A receiver may keep its window when the sender resets its own. */
	s->dcfg.no_context_takeover = sender_nct && rng_chance(r, 70);
	/* Half the sessions take whole masked frames in place; from the
	 * seed, so that the generator's draws stay as they were. */
	s->dcfg.borrow_masked = seed & 1;

	struct ws_encoder_config ecfg = {
		.masked = o->from_client,
		.deflate = s->dcfg.deflate,
		.window_bits = s->dcfg.window_bits,
		.no_context_takeover = sender_nct,
		.level = (int)rng_below(r, 11) - 1,
		.seed = rng_next(r),
	};
	ws_encoder_init(&g.enc, &ecfg);
	rng_fill(r, g.dict, sizeof(g.dict));
	for (size_t i = 0; i < 16; i++) {
		g.word_len[i] = 1 + rng_below(r, sizeof(g.words[i]));
		gen_utf8(r, g.words[i], g.word_len[i]);
	}

	size_t n = 1 + rng_below(r, o->max_messages);
	for (size_t i = 0; i < n; i++) {
		if (rng_chance(r, 15)) {
			struct expect *c = gen_ping_pong(&g);
			ws_encoder_put_control(&g.enc, &s->wire, c->opcode,
					       c->payload, c->len);
		}
		gen_data(&g);
	}
	/* RFC 6455 5.5.1: nothing may follow a close frame. */
	if (rng_chance(r, 40))
		gen_close(&g);
	ws_encoder_free(&g.enc);
}

/* ---- Checking what the decoder reports. ---- */

static void check_message(const struct session *s, size_t i,
			  const struct ws_message *m)
{
	const struct expect *x = &s->msgs[i];
	const struct ws_decoder_config *c = &s->dcfg;
	uint64_t seed = s->seed;
	bool control = ws_opcode_is_control(x->opcode);
	bool opaque = x->compressed && !c->inflate; /* reported undecoded */
	uint64_t size = opaque ? x->wire_size : x->len;
	size_t limit = control                      ? x->len
		       : x->opcode == WS_OPCODE_TEXT ? c->keep_text
						     : c->keep_binary;
	size_t kept = opaque ? 0 : size < limit ? (size_t)size : limit;

	cr_assert_eq(m->opcode, x->opcode, SEEDFMT "opcode %u, sent %u", seed,
		     i, m->opcode, x->opcode);
	cr_assert_eq(m->compressed, x->compressed,
		     SEEDFMT "compressed %d, sent %d", seed, i, m->compressed,
		     x->compressed);
	cr_assert_eq(m->inflated, x->compressed && c->inflate,
		     SEEDFMT "inflated %d", seed, i, m->inflated);
	cr_assert_eq(m->frames, x->frames, SEEDFMT "%u frames, sent %u", seed,
		     i, m->frames, x->frames);
	cr_assert_eq(m->size, size,
		     SEEDFMT "size %" PRIu64 ", expected %" PRIu64, seed, i,
		     m->size, size);
	cr_assert_eq(m->wire_size, x->wire_size,
		     SEEDFMT "wire_size %" PRIu64 ", sent %" PRIu64, seed, i,
		     m->wire_size, x->wire_size);
	cr_assert_eq(m->kept, kept, SEEDFMT "kept %zu, expected %zu", seed, i,
		     m->kept, kept);
	cr_assert_eq(m->truncated, kept < size, SEEDFMT "truncated %d", seed,
		     i, m->truncated);
	if (kept) {
		cr_assert_not_null(m->data, SEEDFMT "no data", seed, i);
		cr_assert(m->masked == false || s->dcfg.borrow_masked,
			  SEEDFMT "masked without borrow_masked", seed, i);
		uint8_t *got = xmalloc(kept);
		ws_message_copy(m, got, kept);
		cr_assert(memcmp(got, x->payload, kept) == 0,
			  SEEDFMT "kept bytes differ from those sent", seed, i);
		free(got);
	}
	/* Compressed text that is not inflated cannot be judged. */
	if (!opaque)
		cr_assert_eq(m->utf8_valid, x->utf8_valid,
			     SEEDFMT "utf8_valid %d, expected %d", seed, i,
			     m->utf8_valid, x->utf8_valid);
	cr_assert_eq(m->close_code, x->close_code,
		     SEEDFMT "close code %d, sent %d", seed, i, m->close_code,
		     x->close_code);
	cr_assert_eq(m->close_code_valid, x->close_code_valid,
		     SEEDFMT "close_code_valid %d", seed, i,
		     m->close_code_valid);
	if (x->opcode == WS_OPCODE_CLOSE && x->len >= 2) {
		cr_assert_eq(m->close_reason_len, x->len - 2,
			     SEEDFMT "close reason of %zu bytes", seed, i,
			     m->close_reason_len);
		cr_assert(m->close_reason_len == 0 ||
				  memcmp(m->close_reason, x->payload + 2,
					 x->len - 2) == 0,
			  SEEDFMT "close reason differs", seed, i);
	}
}

/* A piece size for feeding: often tiny, sometimes most of what is left. */
static size_t piece_size(struct rng *r, size_t left)
{
	unsigned k = (unsigned)rng_below(r, 100);
	size_t n = k < 30 ? 1 + rng_below(r, 8)
		   : k < 60 ? 1 + rng_below(r, 300)
		   : k < 90 ? 1 + rng_below(r, 20000)
			    : 1 + rng_below(r, left);
	return n < left ? n : left;
}

/* Feeds n bytes (one heap block of exactly n) to d until it asks for more,
 * checking each message reported against s->msgs[*next...]. */
static void feed_piece_checked(const struct session *s, struct ws_decoder *d,
			       const uint8_t *piece, size_t n, size_t at,
			       size_t *next)
{
	size_t off = 0;
	for (size_t calls = 0;; calls++) {
		struct ws_message m;
		size_t used = SIZE_MAX;
		enum ws_decode_status st =
			ws_decoder_feed(d, piece + off, n - off, &used, &m);
		cr_assert_leq(used, n - off,
			      "[seed %" PRIu64 "] consumed %zu of %zu",
			      s->seed, used, n - off);
		off += used;
		cr_assert_neq(st, WS_DECODE_ERROR,
			      "[seed %" PRIu64 "] error \"%s\" at byte %zu",
			      s->seed, ws_strerror(ws_decoder_error(d)),
			      at + off);
		if (st == WS_DECODE_NEED_MORE) {
			cr_assert_eq(off, n, "[seed %" PRIu64 "] NEED_MORE "
				     "left %zu bytes", s->seed, n - off);
			return;
		}
		cr_assert_lt(*next, s->n,
			     "[seed %" PRIu64 "] more than the %zu sent",
			     s->seed, s->n);
		check_message(s, (*next)++, &m);
		cr_assert_leq(calls, s->n, "[seed %" PRIu64 "] no progress",
			      s->seed);
	}
}

/* Decodes s->wire in random pieces cut by piece_seed and checks it all. */
static void session_check(const struct session *s, uint64_t piece_seed)
{
	struct ws_decoder d;
	struct rng r = rng_new(piece_seed);
	size_t next = 0;

	ws_decoder_init(&d, &s->dcfg);
	for (size_t pos = 0; pos < s->wire.len;) {
		size_t n = piece_size(&r, s->wire.len - pos);
		uint8_t *piece = xmalloc(n);
		memcpy(piece, s->wire.data + pos, n);
		feed_piece_checked(s, &d, piece, n, pos, &next);
		free(piece);
		pos += n;
	}
	cr_assert_eq(next, s->n,
		     "[seed %" PRIu64 "] %zu of %zu messages decoded", s->seed,
		     next, s->n);
	cr_assert_eq(ws_decoder_error(&d), WS_OK);
	ws_decoder_free(&d);
}

/* Builds, decodes and checks `count` sessions with seeds first.. */
static void run_sessions(uint64_t first, size_t count,
			 const struct session_opts *o)
{
	for (size_t i = 0; i < count; i++) {
		struct session s;
		session_build(&s, first + i, o);
		session_check(&s, ~(first + i));
		session_free(&s);
	}
}

/* ---- Random sessions. ---- */

Test(ws_roundtrip, client_sessions_decode_to_exactly_the_messages_sent)
{
	struct session_opts o = opts_default(true);
	run_sessions(1000, 200, &o);
}

Test(ws_roundtrip, server_sessions_decode_to_exactly_the_messages_sent)
{
	struct session_opts o = opts_default(false);
	run_sessions(2000, 200, &o);
}

Test(ws_roundtrip,
     compressed_sessions_decode_with_every_window_size_and_takeover_setting)
{
	for (int dir = 0; dir < 2; dir++)
		for (int bits = 8; bits <= 15; bits++)
			for (int nct = 0; nct < 2; nct++) {
				struct session_opts o = opts_default(dir);
				o.deflate = 1;
				o.inflate = 1;
				o.window_bits = bits;
				o.no_context_takeover = nct;
				o.budget = 48 * 1024;
				uint64_t seed = 3000 + (uint64_t)dir * 1000 +
						(uint64_t)(bits * 2 + nct) * 10;
				run_sessions(seed, 6, &o);
			}
}

Test(ws_roundtrip,
     compressed_messages_are_reported_by_wire_size_when_inflate_is_off)
{
	for (int dir = 0; dir < 2; dir++) {
		struct session_opts o = opts_default(dir);
		o.deflate = 1;
		o.inflate = 0;
		run_sessions(4000 + (uint64_t)dir * 100, 20, &o);
	}
}

Test(ws_roundtrip,
     every_keep_limit_keeps_exactly_the_first_bytes_of_each_message)
{
	static const size_t keeps[] = {0, 1, 2, 7, 125, 126, 4096, 65536,
				       SIZE_MAX};
	for (size_t k = 0; k < sizeof(keeps) / sizeof(keeps[0]); k++)
		for (int dir = 0; dir < 2; dir++) {
			struct session_opts o = opts_default(dir);
			o.fixed_keep = true;
			o.keep = keeps[k];
			o.budget = 96 * 1024;
			run_sessions(5000 + k * 10 + (uint64_t)dir * 5, 4, &o);
		}
}

Test(ws_roundtrip, invalid_utf8_text_is_flagged_and_decoding_continues)
{
	for (int dir = 0; dir < 2; dir++) {
		struct session_opts o = opts_default(dir);
		o.invalid_utf8 = true;
		o.budget = 32 * 1024;
		run_sessions(6000 + (uint64_t)dir * 100, 80, &o);
	}
}

/* ---- Hand-made sessions. ---- */

/* Adds the expectation for a message the test put on s->wire itself. */
static void expect_add(struct session *s, uint8_t opcode, const void *payload,
		       size_t len, uint64_t wire_size, uint32_t frames,
		       bool compressed)
{
	struct expect *x = session_push(s);
	x->opcode = opcode;
	x->payload = xmalloc(len);
	if (len)
		memcpy(x->payload, payload, len);
	x->len = len;
	x->wire_size = wire_size;
	x->frames = frames;
	x->compressed = compressed;
}

/* A decoder configuration that keeps everything. */
static struct ws_decoder_config cfg_keep_all(bool from_client, bool deflate)
{
	return (struct ws_decoder_config){
		.from_client = from_client,
		.keep_text = SIZE_MAX,
		.keep_binary = SIZE_MAX,
		.deflate = deflate,
		.window_bits = 15,
		.inflate = true,
	};
}

/* Asserts that the encoder appended `total` bytes to b since it held `from`
 * bytes, starting with the n bytes of want. */
static void assert_wire(const struct ws_encoder_buf *b, size_t from,
			const uint8_t *want, size_t n, size_t total,
			const char *what)
{
	cr_assert_eq(b->len - from, total, "%s: %zu bytes, the RFC has %zu",
		     what, b->len - from, total);
	cr_assert(memcmp(b->data + from, want, n) == 0,
		  "%s: bytes differ from the RFC's", what);
}

Test(ws_roundtrip, the_encoder_writes_the_rfc_6455_examples_and_they_decode)
{
	static const uint8_t hello[] = "Hello";
	static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
	/* RFC 6455 5.7, in order. */
	static const uint8_t text[] = {0x81, 0x05, 0x48, 0x65,
				       0x6c, 0x6c, 0x6f};
	static const uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
					 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	static const uint8_t frag[] = {0x01, 0x03, 0x48, 0x65, 0x6c,
				       0x80, 0x02, 0x6c, 0x6f};
	static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65,
				       0x6c, 0x6c, 0x6f};
	static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
				       0x7f, 0x9f, 0x4d, 0x51, 0x58};
	static const uint8_t bin256[] = {0x82, 0x7e, 0x01, 0x00};
	static const uint8_t bin64k[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0};
	static uint8_t zeros[65536];
	struct ws_encoder_frame f = {.fin = true, .opcode = WS_OPCODE_TEXT};
	struct session srv = {.dcfg = cfg_keep_all(false, false)};
	struct session cli = {.dcfg = cfg_keep_all(true, false)};
	struct ws_encoder_buf *b = &srv.wire;
	size_t at;

	ws_encoder_put_frame(b, &f, hello, 5);
	assert_wire(b, 0, text, sizeof(text), sizeof(text),
		    "unmasked text");
	expect_add(&srv, WS_OPCODE_TEXT, hello, 5, 5, 1, false);

	at = b->len;
	struct ws_encoder server = {0};
	ws_encoder_init(&server, &(struct ws_encoder_config){0});
	size_t cut = 3;
	ws_encoder_put_message(&server, b, &(struct ws_encoder_message){
		.opcode = WS_OPCODE_TEXT, .payload = hello, .len = 5,
		.fragments = 2, .cuts = &cut});
	assert_wire(b, at, frag, sizeof(frag), sizeof(frag),
		    "fragmented text");
	expect_add(&srv, WS_OPCODE_TEXT, hello, 5, 5, 2, false);

	at = b->len;
	ws_encoder_put_control(&server, b, WS_OPCODE_PING, hello, 5);
	assert_wire(b, at, ping, sizeof(ping), sizeof(ping),
		    "unmasked ping");
	expect_add(&srv, WS_OPCODE_PING, hello, 5, 5, 1, false);

	at = b->len;
	f.opcode = WS_OPCODE_BINARY;
	ws_encoder_put_frame(b, &f, zeros, 256);
	assert_wire(b, at, bin256, sizeof(bin256), 4 + 256,
		    "256-byte binary header");
	expect_add(&srv, WS_OPCODE_BINARY, zeros, 256, 256, 1, false);
	at = b->len;
	ws_encoder_put_frame(b, &f, zeros, 65536);
	assert_wire(b, at, bin64k, sizeof(bin64k), 10 + 65536,
		    "64 KiB binary header");
	expect_add(&srv, WS_OPCODE_BINARY, zeros, 65536, 65536, 1, false);
	ws_encoder_free(&server);

	f = (struct ws_encoder_frame){.fin = true, .opcode = WS_OPCODE_TEXT,
				      .masked = true};
	memcpy(f.mask, key, 4);
	ws_encoder_put_frame(&cli.wire, &f, hello, 5);
	assert_wire(&cli.wire, 0, masked, sizeof(masked), sizeof(masked),
		    "masked text");
	expect_add(&cli, WS_OPCODE_TEXT, hello, 5, 5, 1, false);
	f.opcode = WS_OPCODE_PONG;
	ws_encoder_put_frame(&cli.wire, &f, hello, 5);
	assert_wire(&cli.wire, sizeof(masked), pong, sizeof(pong), sizeof(pong),
		    "masked pong");
	expect_add(&cli, WS_OPCODE_PONG, hello, 5, 5, 1, false);

	session_check(&srv, 1);
	session_check(&cli, 2);
	session_free(&srv);
	session_free(&cli);
}

Test(ws_roundtrip, the_encoder_writes_the_rfc_7692_examples_and_they_decode)
{
	static const uint8_t hello[] = "Hello";
	/* RFC 7692 7.2.3.1, 7.2.3.2 (a second message using the window),
	 * 7.2.3.3 (a stored block), 7.2.3.4 (a BFINAL block). */
	static const uint8_t one[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd,
				      0xc9, 0xc9, 0x07, 0x00};
	static const uint8_t frag[] = {0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80,
				       0x04, 0xc9, 0xc9, 0x07, 0x00};
	static const uint8_t again[] = {0xc1, 0x05, 0xf2, 0x00,
					0x11, 0x00, 0x00};
	static const uint8_t stored[] = {0xc1, 0x0b, 0x00, 0x05, 0x00,
					 0xfa, 0xff, 0x48, 0x65, 0x6c,
					 0x6c, 0x6f, 0x00};
	static const uint8_t bfinal[] = {0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9,
					 0xc9, 0x07, 0x00, 0x00};
	struct session s = {.dcfg = cfg_keep_all(false, true)};
	struct ws_encoder_message m = {.opcode = WS_OPCODE_TEXT,
				       .payload = hello, .len = 5,
				       .compress = true};
	struct ws_encoder e;
	size_t at = 0, cut = 3;

	/* Each example starts from a fresh window but the session keeps its
	 * own, so the second "Hello" of 7.2.3.2 refers back into it. */
	ws_encoder_init(&e, &(struct ws_encoder_config){
		.deflate = true, .window_bits = 15, .level = -1,
		.no_context_takeover = true});
	ws_encoder_put_message(&e, &s.wire, &m);
	assert_wire(&s.wire, at, one, sizeof(one), sizeof(one),
		    "compressed Hello");
	expect_add(&s, WS_OPCODE_TEXT, hello, 5, 7, 1, true);
	ws_encoder_free(&e);

	at = s.wire.len;
	ws_encoder_init(&e, &(struct ws_encoder_config){
		.deflate = true, .window_bits = 15, .level = -1});
	m.fragments = 2;
	m.cuts = &cut;
	ws_encoder_put_message(&e, &s.wire, &m);
	assert_wire(&s.wire, at, frag, sizeof(frag), sizeof(frag),
		    "fragmented Hello");
	expect_add(&s, WS_OPCODE_TEXT, hello, 5, 7, 2, true);
	at = s.wire.len;
	m.fragments = 1;
	m.cuts = NULL;
	ws_encoder_put_message(&e, &s.wire, &m);
	assert_wire(&s.wire, at, again, sizeof(again), sizeof(again),
		    "Hello again");
	expect_add(&s, WS_OPCODE_TEXT, hello, 5, 5, 1, true);
	ws_encoder_free(&e);

	at = s.wire.len;
	ws_encoder_init(&e, &(struct ws_encoder_config){
		.deflate = true, .window_bits = 15, .level = 0});
	ws_encoder_put_message(&e, &s.wire, &m);
	assert_wire(&s.wire, at, stored, sizeof(stored), sizeof(stored),
		    "stored Hello");
	expect_add(&s, WS_OPCODE_TEXT, hello, 5, 11, 1, true);
	ws_encoder_free(&e);

	at = s.wire.len;
	ws_encoder_init(&e, &(struct ws_encoder_config){
		.deflate = true, .window_bits = 15, .level = -1});
	m.bfinal = true;
	ws_encoder_put_message(&e, &s.wire, &m);
	assert_wire(&s.wire, at, bfinal, sizeof(bfinal), sizeof(bfinal),
		    "BFINAL Hello");
	expect_add(&s, WS_OPCODE_TEXT, hello, 5, 8, 1, true);
	ws_encoder_free(&e);

	session_check(&s, 3);
	session_free(&s);
}

/* A session of one unfragmented message per size and length form that
 * holds it: text in the 16-bit form, binary in the others. */
static void build_length_forms(struct session *s, bool client)
{
	static const size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536};
	static const enum ws_encoder_length forms[] = {
		WS_ENCODER_LENGTH_7,
		WS_ENCODER_LENGTH_16,
		WS_ENCODER_LENGTH_64,
	};
	static const size_t most[] = {125, 65535, SIZE_MAX};
	static const size_t ext[] = {0, 2, 8}; /* extended length bytes */
	struct rng r = rng_new(s->seed);
	uint8_t *payload = xmalloc(65536);
	struct ws_encoder e;

	ws_encoder_init(&e, &(struct ws_encoder_config){.masked = client,
							.seed = s->seed});
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t k = 0; k < 3 && sizes[i] <= most[k]; k++) {
			size_t n = sizes[i], at = s->wire.len;
			uint8_t op = k == 1 ? WS_OPCODE_TEXT : WS_OPCODE_BINARY;
			if (op == WS_OPCODE_TEXT)
				gen_utf8(&r, payload, n);
			else
				rng_fill(&r, payload, n);
			struct ws_encoder_message m = {.opcode = op,
						       .payload = payload,
						       .len = n,
						       .length_form = forms[k]};
			ws_encoder_put_message(&e, &s->wire, &m);
			cr_assert_eq(s->wire.len - at,
				     2 + ext[k] + (client ? 4 : 0) + n);
			expect_add(s, op, payload, n, n, 1, false);
		}
	}
	ws_encoder_free(&e);
	free(payload);
}

Test(ws_roundtrip, length_fields_in_every_form_minimal_or_not_decode_alike)
{
	/* RFC 6455 5.2 asks for the minimal form; a decoder that watches
	 * other peers must still take the longer ones. */
	for (int dir = 0; dir < 2; dir++) {
		struct session s = {.seed = 7000 + (uint64_t)dir,
				    .dcfg = cfg_keep_all(dir, false)};
		build_length_forms(&s, dir);
		for (uint64_t seed = 0; seed < 4; seed++)
			session_check(&s, seed);
		session_free(&s);
	}
}

/* Appends text in three fragments cut at a and b, with a ping after the
 * first, and expects the ping, then the text. */
static void put_text_cut_twice(struct session *s, struct ws_encoder *e,
			       const uint8_t *text, size_t len, size_t a,
			       size_t b)
{
	static const uint8_t ping[] = "p";
	size_t cuts[2] = {a, b};
	struct ws_encoder_control c = {.opcode = WS_OPCODE_PING,
				       .payload = ping,
				       .len = 1,
				       .after = 0};
	struct ws_encoder_message m = {.opcode = WS_OPCODE_TEXT,
				       .payload = text,
				       .len = len,
				       .fragments = 3,
				       .cuts = cuts,
				       .controls = &c,
				       .ncontrols = 1};
	ws_encoder_put_message(e, &s->wire, &m);
	expect_add(s, WS_OPCODE_PING, ping, 1, 1, 1, false);
	expect_add(s, WS_OPCODE_TEXT, text, len, len, 3, false);
}

Test(ws_roundtrip, multibyte_characters_cut_by_fragment_boundaries_stay_valid)
{
	/* U+0041, U+00E9, U+20AC, U+1F600: 1 to 4 bytes. */
	static const uint8_t text[] = "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	size_t len = sizeof(text) - 1;

	for (int dir = 0; dir < 2; dir++) {
		struct session s = {.seed = 7100 + (uint64_t)dir,
				    .dcfg = cfg_keep_all(dir, false)};
		struct ws_encoder e;
		ws_encoder_init(&e, &(struct ws_encoder_config){
					    .masked = dir, .seed = s.seed});
		/* Every pair of cuts, so every character is cut every way
		 * and some fragments are empty. */
		for (size_t a = 0; a <= len; a++)
			for (size_t b = a; b <= len; b++)
				put_text_cut_twice(&s, &e, text, len, a, b);
		ws_encoder_free(&e);
		session_check(&s, 1);
		session_free(&s);
	}
}

/* ---- The same bytes, however they are cut, give the same messages. ---- */

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * UINT64_C(0x100000001b3);
	return h;
}

static void log_message(struct strbuf *b, const struct ws_message *m)
{
	uint8_t *data = xmalloc(m->kept + 1);

	ws_message_copy(m, data, m->kept); /* unmasked if it came masked */
	strbuf_printf(b,
		      "%s compressed=%d inflated=%d truncated=%d utf8=%d "
		      "frames=%" PRIu32 " size=%" PRIu64 " wire=%" PRIu64
		      " kept=%zu fnv=%016" PRIx64 " close=%d/%d/%zu\n",
		      ws_opcode_name(m->opcode), m->compressed, m->inflated,
		      m->truncated, m->utf8_valid, m->frames, m->size,
		      m->wire_size, m->kept, fnv1a(data, m->kept),
		      m->close_code, m->close_code_valid, m->close_reason_len);
	free(data);
}

/* splits_runner: decodes the pieces with a fresh decoder for the session
 * in ctx and logs every message and how it ended. */
static char *log_runner(void *ctx, const struct splits_piece *pieces,
			size_t n)
{
	const struct session *s = ctx;
	struct ws_decoder d;
	struct strbuf b = {0};

	ws_decoder_init(&d, &s->dcfg);
	for (size_t i = 0; i < n && ws_decoder_error(&d) == WS_OK; i++) {
		size_t off = 0;
		enum ws_decode_status st = WS_DECODE_MESSAGE;
		while (st == WS_DECODE_MESSAGE) {
			struct ws_message m;
			size_t used;
			st = ws_decoder_feed(&d, pieces[i].data + off,
					     pieces[i].len - off, &used, &m);
			off += used;
			if (st == WS_DECODE_MESSAGE)
				log_message(&b, &m);
		}
	}
	strbuf_printf(&b, "end %s\n", ws_error_name(ws_decoder_error(&d)));
	ws_decoder_free(&d);
	return strbuf_take(&b);
}

Test(ws_roundtrip,
     a_session_gives_identical_messages_whole_byte_by_byte_and_at_random_cuts)
{
	for (int dir = 0; dir < 2; dir++) {
		struct session_opts o = opts_default(dir);
		o.budget = 64 * 1024;
		o.deflate = 1;
		struct session s;
		session_build(&s, 7200 + (uint64_t)dir, &o);
		session_check(&s, 0);

		size_t len = s.wire.len;
		size_t *cuts = calloc(len, sizeof(*cuts));
		cr_assert_not_null(cuts);
		char *whole = splits_run_cuts(s.wire.data, len, NULL, 0,
					      log_runner, &s);
		for (size_t i = 0; i + 1 < len; i++)
			cuts[i] = i + 1;
		char *bytes = splits_run_cuts(s.wire.data, len, cuts, len - 1,
					      log_runner, &s);
		cr_assert_str_eq(bytes, whole,
				 "[seed %" PRIu64 "] byte by byte", s.seed);
		free(bytes);
		struct rng r = rng_new(s.seed);
		for (int round = 0; round < 20; round++) {
			size_t ncuts = 0;
			for (size_t at = 0; at < len;) {
				at += piece_size(&r, len - at);
				if (at < len)
					cuts[ncuts++] = at;
			}
			char *cut = splits_run_cuts(s.wire.data, len, cuts,
						    ncuts, log_runner, &s);
			cr_assert_str_eq(cut, whole, "[seed %" PRIu64 "] round "
					 "%d of random cuts", s.seed, round);
			free(cut);
		}
		free(whole);
		free(cuts);
		session_free(&s);
	}
}

Test(ws_roundtrip, small_sessions_give_identical_messages_at_every_two_way_cut)
{
	for (uint64_t seed = 7300; seed < 7310; seed++) {
		struct session_opts o = opts_default(seed & 1);
		o.budget = 300;
		o.max_messages = 4;
		struct session s;
		session_build(&s, seed, &o);
		session_check(&s, seed);
		free(splits_check(s.wire.data, s.wire.len, log_runner, &s));
		session_free(&s);
	}
}

/* ---- Compressed messages ending in a BFINAL block. ---- */

Test(ws_roundtrip, messages_ending_in_a_bfinal_block_leave_the_window_usable)
{
	/* RFC 7692 7.2.3.4: a sender may end a message with BFINAL set; the
	 * receiver keeps its window, and later messages that refer back
	 * into it (sent without BFINAL) still decode. */
	static const bool bfinal[] = {true, false, false, true, true, false};
	static const uint8_t line[] = "quick brown fox \xc3\xa9\xe2\x82\xac ";
	uint8_t text[400];
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = line[i % (sizeof(line) - 1)];
	size_t len = sizeof(text) - sizeof(text) % (sizeof(line) - 1);

	for (int dir = 0; dir < 2; dir++) {
		struct session s = {.seed = 7400 + (uint64_t)dir,
				    .dcfg = cfg_keep_all(dir, true)};
		struct ws_encoder e;
		ws_encoder_init(&e, &(struct ws_encoder_config){
			.masked = dir, .deflate = true, .window_bits = 15,
			.level = -1, .seed = 7400});
		for (size_t i = 0; i < sizeof(bfinal); i++) {
			uint64_t wire = ws_encoder_put_message(&e, &s.wire,
				&(struct ws_encoder_message){
					.opcode = WS_OPCODE_TEXT,
					.payload = text, .len = len,
					.compress = true, .bfinal = bfinal[i],
					.fragments = 1 + i % 3});
			expect_add(&s, WS_OPCODE_TEXT, text, len, wire,
				   (uint32_t)(1 + i % 3), true);
		}
		ws_encoder_free(&e);
		for (uint64_t seed = 0; seed < 4; seed++)
			session_check(&s, seed);
		session_free(&s);
	}
}

/* ---- Lengths a 32-bit or careless decoder would get wrong. ---- */

/* Feeds the n bytes at p in pieces of `step` (each in its own heap block)
 * and asserts the decoder only ever asks for more. */
static void feed_expect_need_more(struct ws_decoder *d, const uint8_t *p,
				  size_t n, size_t step)
{
	for (size_t at = 0; at < n; at += step) {
		size_t k = n - at < step ? n - at : step;
		uint8_t *piece = xmalloc(k);
		memcpy(piece, p + at, k);
		struct ws_message m;
		size_t used = SIZE_MAX;
		enum ws_decode_status st =
			ws_decoder_feed(d, piece, k, &used, &m);
		cr_assert_eq(st, WS_DECODE_NEED_MORE,
			     "status %d (%s) at byte %zu", st,
			     ws_strerror(ws_decoder_error(d)), at);
		cr_assert_eq(used, k);
		free(piece);
	}
}

/* Appends a text frame header announcing `length` bytes, then the payload
 * of a real frame holding text: as is, or deflated. The masking key, when
 * masked, is all zero so the payload goes on the wire unchanged. */
static void put_huge_text_start(struct ws_encoder_buf *wire, bool masked,
				bool compress, uint64_t length,
				const uint8_t *text, size_t len)
{
	struct ws_encoder_buf body = {0};
	struct ws_encoder e;
	struct ws_encoder_message m = {.opcode = WS_OPCODE_TEXT,
				       .payload = text,
				       .len = len,
				       .compress = compress,
				       .length_form = WS_ENCODER_LENGTH_64};
	struct ws_encoder_frame f = {.fin = true,
				     .opcode = WS_OPCODE_TEXT,
				     .rsv = compress ? 0x40 : 0,
				     .masked = masked,
				     .length_form = WS_ENCODER_LENGTH_64};

	ws_encoder_init(&e, &(struct ws_encoder_config){.deflate = true,
							.window_bits = 15,
							.level = 1});
	ws_encoder_put_message(&e, &body, &m);
	ws_encoder_free(&e);
	ws_encoder_put_header(wire, &f, length);
	/* Skip the 10-byte header of the unmasked frame. */
	ws_encoder_buf_append(wire, body.data + 10, body.len - 10);
	ws_encoder_buf_free(&body);
}

Test(ws_roundtrip,
     a_length_over_4_gib_with_only_its_start_fed_reports_nothing_keeps_little)
{
	/* 2^32 + 5: truncated to 32 bits it would be a 5-byte frame. */
	const uint64_t huge = (UINT64_C(1) << 32) + 5;
	struct rng r = rng_new(7500);
	uint8_t text[20000];
	gen_utf8(&r, text, sizeof(text));

	for (int variant = 0; variant < 4; variant++)
		for (size_t step = 1; step <= 4096; step *= 64) {
			bool client = variant & 1, compress = variant & 2;
			struct ws_encoder_buf wire = {0};
			put_huge_text_start(&wire, client, compress, huge, text,
					    sizeof(text));
			struct ws_decoder d;
			struct ws_decoder_config cfg =
				cfg_keep_all(client, true);
			ws_decoder_init(&d, &cfg);
			feed_expect_need_more(&d, wire.data, wire.len, step);
			/* Kept bytes grow with what arrived, never toward
			 * what was announced. */
			cr_assert_leq(d.keep_cap, 2 * sizeof(text),
				      "keep buffer of %zu bytes", d.keep_cap);
			cr_assert_eq(ws_decoder_error(&d), WS_OK);
			ws_decoder_free(&d);
			ws_encoder_buf_free(&wire);
		}
}

/* Appends just a header announcing `length` bytes, in the 64-bit form. */
static void put_header_only(struct ws_encoder_buf *wire, bool masked,
			    uint8_t opcode, uint64_t length)
{
	struct ws_encoder_frame f = {.fin = true,
				     .opcode = opcode,
				     .masked = masked,
				     .length_form = WS_ENCODER_LENGTH_64};
	ws_encoder_put_header(wire, &f, length);
}

Test(ws_roundtrip, a_frame_announcing_2_63_minus_1_bytes_waits_for_its_payload)
{
	static const uint8_t some[64] = {0};
	for (int variant = 0; variant < 4; variant++) {
		bool client = variant & 1;
		uint8_t op = variant & 2 ? WS_OPCODE_TEXT : WS_OPCODE_BINARY;
		struct ws_encoder_buf wire = {0};
		put_header_only(&wire, client, op, WS_FRAME_MAX_LENGTH);
		struct ws_decoder d;
		struct ws_decoder_config cfg = cfg_keep_all(client, false);
		ws_decoder_init(&d, &cfg);
		feed_expect_need_more(&d, wire.data, wire.len, 1);
		feed_expect_need_more(&d, some, sizeof(some), 7);
		cr_assert_leq(d.keep_cap, 256 + sizeof(some));
		ws_decoder_free(&d);
		ws_encoder_buf_free(&wire);
	}
}

Test(ws_roundtrip, a_64_bit_length_with_its_top_bit_set_stops_the_direction)
{
	static const uint64_t lengths[] = {UINT64_C(1) << 63, UINT64_MAX};
	for (int variant = 0; variant < 4; variant++) {
		bool client = variant & 1;
		struct ws_encoder_buf wire = {0};
		put_header_only(&wire, client, WS_OPCODE_BINARY,
				lengths[variant >> 1]);
		ws_encoder_buf_append(&wire, "abc", 3);
		struct ws_decoder d;
		struct ws_decoder_config cfg = cfg_keep_all(client, false);
		struct ws_message m;
		size_t used;
		ws_decoder_init(&d, &cfg);
		/* RFC 6455 5.2: "the most significant bit MUST be 0". */
		cr_assert_eq(ws_decoder_feed(&d, wire.data, wire.len, &used,
					     &m),
			     WS_DECODE_ERROR);
		cr_assert_leq(used, wire.len);
		cr_assert_eq(ws_decoder_error(&d), WS_ERR_LENGTH_TOP_BIT);
		cr_assert_not_null(ws_strerror(ws_decoder_error(&d)));
		/* Stopped for good: the rest is swallowed. */
		cr_assert_eq(ws_decoder_feed(&d, wire.data, wire.len, &used,
					     &m),
			     WS_DECODE_ERROR);
		cr_assert_eq(used, wire.len);
		ws_decoder_free(&d);
		ws_encoder_buf_free(&wire);
	}
}

/* ---- Regressions found by fuzzing (tests/fuzz/fuzz_ws_decoder.c). ---- */

/* Found with clang's UBSan: feed computed NULL + 0 ("applying zero offset
 * to null pointer") when handed no bytes at a NULL buffer. */
Test(ws_roundtrip, feeding_no_bytes_at_a_null_pointer_asks_for_more)
{
	for (int dir = 0; dir < 2; dir++) {
		struct ws_decoder d;
		struct ws_decoder_config cfg = cfg_keep_all(dir, true);
		struct ws_message m;
		size_t used = SIZE_MAX;
		ws_decoder_init(&d, &cfg);
		cr_assert_eq(ws_decoder_feed(&d, NULL, 0, &used, &m),
			     WS_DECODE_NEED_MORE);
		cr_assert_eq(used, 0);
		cr_assert_eq(ws_decoder_error(&d), WS_OK);
		ws_decoder_free(&d);
	}
}

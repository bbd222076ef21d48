/*
 * utf8.h - incremental UTF-8 validation (RFC 3629), for text messages whose
 * bytes arrive in pieces: split across reads, frames and inflate output.
 *
 * A zero-initialised struct utf8_state is the state before any byte. Feed
 * every byte of the text in order; at the end utf8_state_complete() says
 * whether the whole was valid. Overlong forms, surrogates (U+D800-DFFF) and
 * code points above U+10FFFF are invalid. No allocation, no globals.
 */
#ifndef WSDBG_UTF8_H
#define WSDBG_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct utf8_state {
	uint8_t dfa; /* automaton state, private; 0 before any byte */
};

/* Validates n more bytes. Once invalid, stays invalid (cheaply). p may be
 * NULL when n is 0. */
void utf8_feed(struct utf8_state *s, const uint8_t *p, size_t n);

/* The three questions below are asked once or more per message, so they
 * are inline; utf8.c keeps the automaton's state so that 0 means "between
 * characters" and UTF8_DFA_REJECTED_ "invalid" (and checks that it does). */
#define UTF8_DFA_REJECTED_ 6

/* True if everything fed so far is valid UTF-8 and no sequence is open. */
static inline bool utf8_state_complete(const struct utf8_state *s)
{
	return s->dfa == 0;
}

/* True if nothing fed so far is invalid (an open sequence may still end
 * well). Useful to fail fast on a partial message. */
static inline bool utf8_state_ok(const struct utf8_state *s)
{
	return s->dfa != UTF8_DFA_REJECTED_;
}

/* True between sequences: the next byte starts a character. Equals
 * utf8_state_complete(); named for callers that skip validating ASCII. */
static inline bool utf8_state_idle(const struct utf8_state *s)
{
	return s->dfa == 0;
}

/* For text that comes masked, as RFC 6455 frames from a client carry it
 * (byte i is p[i] ^ mask[(offset + i) % 4]): validates as much of it as
 * can be without unmasking it into memory, and returns how many of the n
 * bytes that was; the caller feeds the rest unmasked. That is, where the
 * processor has SSSE3 and s is between characters, the whole 16-byte
 * blocks less the last character begun in them (all n when they are
 * invalid: s is then invalid); else 0. */
size_t utf8_feed_masked_blocks(struct utf8_state *s, const uint8_t *p,
			       size_t n, const uint8_t mask[4],
			       uint64_t offset);

/* One-shot check of a whole buffer. */
bool utf8_is_valid(const uint8_t *p, size_t n);

#endif

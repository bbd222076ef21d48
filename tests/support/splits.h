/*
 * splits.h - run a push parser over every way of cutting its input.
 *
 * STYLE.md: each decoder test feeds its input whole, one byte at a time and
 * cut at every two-way split, and must see the same events. A test writes a
 * runner that feeds the pieces to a fresh parser and returns a text log of
 * what the parser reported; splits_check() runs it over all those cuttings
 * and fails the test on the first log that differs from the whole-input one.
 *
 * Each piece is copied into its own heap block of exactly its size, so an
 * over-read past a piece is caught by AddressSanitizer.
 */
#ifndef WSDBG_TEST_SPLITS_H
#define WSDBG_TEST_SPLITS_H

#include <stddef.h>
#include <stdint.h>

struct splits_piece {
	const uint8_t *data;
	size_t len;
};

/* Feeds pieces[0..n) in order to a fresh parser; returns a malloc'd log. */
typedef char *(*splits_runner)(void *ctx, const struct splits_piece *pieces,
			       size_t n);

/* Runs runner on data whole, byte by byte and at every two-way split;
 * asserts all logs equal. Inputs over 4 KiB are cut at every point within
 * 64 bytes of either end and at every 509th point between. Returns the whole-input log (caller frees). */
char *splits_check(const uint8_t *data, size_t len, splits_runner runner,
		   void *ctx);

/* Runs runner on data cut at the given points (sorted, each < len). */
char *splits_run_cuts(const uint8_t *data, size_t len, const size_t *cuts,
		      size_t ncuts, splits_runner runner, void *ctx);

#endif

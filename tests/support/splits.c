#include "splits.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

/* Inputs up to this size are cut at every point. */
#define SPLITS_ALL_UP_TO 4096

char *splits_run_cuts(const uint8_t *data, size_t len, const size_t *cuts,
		      size_t ncuts, splits_runner runner, void *ctx)
{
	size_t n = ncuts + 1;
	struct splits_piece *pieces = calloc(n, sizeof(*pieces));
	uint8_t **copies = calloc(n, sizeof(*copies));
	cr_assert(pieces && copies);
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		size_t plen = end - start;
		/* A block of exactly plen bytes (1 if empty, never read). */
		uint8_t *copy = malloc(plen ? plen : 1);
		cr_assert_not_null(copy);
		if (plen)
			memcpy(copy, data + start, plen);
		copies[i] = copy;
		pieces[i].data = copy;
		pieces[i].len = plen;
		start = end;
	}
	char *log = runner(ctx, pieces, n);
	for (size_t i = 0; i < n; i++)
		free(copies[i]);
	free(copies);
	free(pieces);
	return log;
}

char *splits_check(const uint8_t *data, size_t len, splits_runner runner,
		   void *ctx)
{
	char *whole = splits_run_cuts(data, len, NULL, 0, runner, ctx);
	cr_assert_not_null(whole);

	if (len > 1) {
		size_t *cuts = calloc(len, sizeof(*cuts));
		cr_assert_not_null(cuts);
		for (size_t i = 0; i + 1 < len; i++)
			cuts[i] = i + 1;
		char *bytewise =
			splits_run_cuts(data, len, cuts, len - 1, runner, ctx);
		cr_assert_str_eq(bytewise, whole,
				 "fed one byte at a time, the parser reported "
				 "something else");
		free(bytewise);
		free(cuts);
	}
	for (size_t cut = 1; cut < len; cut++) {
		/* Big inputs: every cut near the ends (headers live there),
		 * a sample in between, so the suite stays fast. */
		if (len > SPLITS_ALL_UP_TO && cut > 64 && len - cut > 64 &&
		    cut % 509 != 0)
			continue;
		char *split = splits_run_cuts(data, len, &cut, 1, runner, ctx);
		cr_assert_str_eq(split, whole,
				 "cut at byte %zu of %zu, the parser reported "
				 "something else", cut, len);
		free(split);
	}
	return whole;
}

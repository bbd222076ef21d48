/*
 * decode_log.h - run a ws_decoder over pieces of input and describe, one
 * line per event, everything it reported. Two runs that report the same
 * things give the same text, which is what the split tests compare.
 */
#ifndef WSDBG_TEST_DECODE_LOG_H
#define WSDBG_TEST_DECODE_LOG_H

#include <stddef.h>

#include "splits.h"
#include "wsdbg/ws_decoder.h"

/* A splits_runner: ctx is a const struct ws_decoder_config *. Lines look
 * like "text size=5 wire=5 frames=1 kept=5 'Hello'" with flags only when
 * set (compressed, inflated, truncated, capped, bad-utf8), "close code=1000 valid
 * reason='bye'", and a final "error <name>" if decoding stopped. */
char *decode_log_run(void *ctx, const struct splits_piece *pieces, size_t n);

/* Convenience: decode_log_run on one buffer, no splits checked. */
char *decode_log_whole(const struct ws_decoder_config *cfg, const void *data,
		       size_t len);

/* splits_check() with decode_log_run: asserts that every way of cutting
 * data gives the same log, and that it equals expected, with defer_utf8
 * set and not; for masked input (cfg->from_client), also with
 * borrow_masked set and not. */
void decode_log_expect(const struct ws_decoder_config *cfg, const void *data,
		       size_t len, const char *expected);

#endif

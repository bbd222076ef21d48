/*
 * format.h - text helpers for wsdbg's human output, shared by the CLI and
 * tools/decode (wsdbg-decode): sizes ("1.2 KB"), elapsed times
 * ("00:01.234"), durations ("1m 23s"), UTF-8 stepping and one-line
 * previews. No allocation; nothing here knows the JSON schema.
 */
#ifndef WSDBG_CLI_FORMAT_H
#define WSDBG_CLI_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* "42 B", "1.2 KB", "3.4 MB", "1.0 GB" (powers of 1024). Returns buf. */
char *format_size(char buf[32], uint64_t bytes);

/* "mm:ss.mmm" since an origin, or "h:mm:ss.mmm" from one hour on; negative
 * values are shown as 00:00.000. Returns buf. */
char *format_elapsed(char buf[32], double seconds);

/* A human duration: "450 ms", "12.3s", "1m 23s", "2h 05m", "3d 04h";
 * negative values are shown as "0 ms". Returns buf. */
char *format_duration(char buf[32], double seconds);

/* Length (1-4) of the well-formed UTF-8 sequence at p[0..n), or 0 when
 * p[0] does not start one that fits in n bytes. */
size_t utf8_sequence_length(const uint8_t *p, size_t n);

/* The code point of the well-formed sequence at p of length len. */
uint32_t utf8_code_point(const uint8_t *p, size_t len);

/* Columns the UTF-8 string s takes on a terminal (one per code point;
 * invalid bytes count one each). */
size_t format_display_width(const char *s);

/*
 * Prints up to max characters of UTF-8 text p[0..n) on one line: control
 * characters escaped (\n, \t, \u0001), invalid bytes as \xNN, and "…" when
 * anything is left unshown (more: the caller knows there was more).
 */
void format_preview_text(FILE *f, const uint8_t *p, size_t n, size_t max,
			 bool more);

#endif

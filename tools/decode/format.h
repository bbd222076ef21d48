/*
 * format.h - small text helpers shared by the renderers of wsdbg-decode:
 * sizes ("1.2 KB"), elapsed times ("00:01.234") and UTF-8 stepping.
 */
#ifndef WSDBG_TOOLS_FORMAT_H
#define WSDBG_TOOLS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* "42 B", "1.2 KB", "3.4 MB", "1.0 GB" (powers of 1024). Returns buf. */
char *format_size(char buf[32], uint64_t bytes);

/* "mm:ss.mmm" since an origin, or "h:mm:ss.mmm" from one hour on; negative
 * values are shown as 00:00.000. Returns buf. */
char *format_elapsed(char buf[32], double seconds);

/* Length (1-4) of the well-formed UTF-8 sequence at p[0..n), or 0 when
 * p[0] does not start one that fits in n bytes. */
size_t utf8_sequence_length(const uint8_t *p, size_t n);

/* The code point of the well-formed sequence at p of length len. */
uint32_t utf8_code_point(const uint8_t *p, size_t len);

#endif

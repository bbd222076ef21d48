/*
 * utf8_ssse3.h - UTF-8 validation sixteen bytes at a time, for utf8.c.
 * Private to src/core.
 *
 * On x86-64 processors with SSSE3 (nearly all in use), each byte is
 * judged together with the three before it through three 16-entry table
 * lookups (PSHUFB), which is several times faster than the automaton on
 * text that is not ASCII. Elsewhere (another architecture, an older
 * processor, or before the C runtime has looked at the processor) it is
 * not usable, and utf8.c runs its automaton alone.
 */
#ifndef WSDBG_CORE_UTF8_SSSE3_H
#define WSDBG_CORE_UTF8_SSSE3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether utf8_ssse3_check may be called here. */
bool utf8_ssse3_usable(void);

/* Checks the whole 16-byte blocks of the text p[i] ^ key[i % 16], i in
 * [0, n), n >= 16, which starts at the first byte of a character (key:
 * all zero for text as it is, or an RFC 6455 mask repeated). Returns
 * SIZE_MAX when they hold an invalid sequence; otherwise how many bytes
 * from p are whole valid characters: the blocks up to the first byte of
 * the last character that starts in them (1 to 4 bytes short of their
 * end), since it may go on past them; the caller checks on from there. */
size_t utf8_ssse3_check(const uint8_t *p, size_t n, const uint8_t key[16]);

#endif

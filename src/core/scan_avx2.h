/*
 * scan_avx2.h - long payloads 128 bytes a step, for the core's loops
 * (unmasking, ASCII scans). Private to src/core.
 *
 * vec16.h's loops read 16 bytes per load, which every x86-64 processor
 * can. Where the processor has AVX2 (most in use) these read 32, and do
 * a long payload in about half the instructions. Elsewhere (another
 * architecture, an older processor, or before the C runtime has looked at
 * the processor) scan_avx2_usable() is false and the callers keep to
 * vec16.h. Each function does whole 128-byte steps only and says how far
 * it got; the caller finishes the rest its own way.
 */
#ifndef WSDBG_CORE_SCAN_AVX2_H
#define WSDBG_CORE_SCAN_AVX2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vec16.h"

/* Below this many bytes the callers do not call here: the call and the
 * wider key would cost more than they save. */
#define SCAN_AVX2_MIN 256

/* Whether the scan_avx2_* functions may be called here. Inline, so that
 * asking costs the callers no call (and no registers kept across one). */
static inline bool scan_avx2_usable(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	/* Reads what the C runtime found at start-up; 0 before that. */
	return __builtin_cpu_supports("avx2");
#else
	return false;
#endif
}

/* The key is passed in a register, not through memory: an array on the
 * caller's stack would cost every call of it a stack-protector check,
 * short payloads included. */

/* Writes src[i] ^ key[i % 16] to dst[i] for the whole 128-byte steps of
 * [0, n) and returns how many bytes that was; the top bit of every byte
 * written is ORed into *high. dst may be src. */
size_t scan_avx2_unmask_copy(uint8_t *dst, const uint8_t *src, size_t n,
			     vec16 key, uint8_t *high);

/* How many bytes from p, in whole 128-byte steps, are ASCII once XORed
 * with key (all zero: as they lie); it stops before the first step that
 * holds a byte that is not. Reads, writes nothing. */
size_t scan_avx2_ascii(const uint8_t *p, size_t n, vec16 key);

#endif

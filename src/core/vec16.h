/*
 * vec16.h - sixteen bytes at a time, for the core's loops over payload
 * (unmasking, ASCII scans). Private to src/core.
 *
 * A GCC/clang vector type: one SSE2 register on x86-64 (always present
 * there), NEON on arm64, and plain words where the target has no vectors,
 * so the code stays portable C for both compilers the project builds
 * with. Loads and stores go through memcpy: no alignment is assumed and no
 * aliasing rule is bent, and the compiler makes each a single unaligned
 * move.
 */
#ifndef WSDBG_CORE_VEC16_H
#define WSDBG_CORE_VEC16_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef uint8_t vec16 __attribute__((vector_size(16)));

static inline vec16 vec16_load(const uint8_t *p)
{
	vec16 v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void vec16_store(uint8_t *p, vec16 v)
{
	memcpy(p, &v, sizeof(v));
}

/* True when a byte of v has its top bit set: not all ASCII. */
static inline bool vec16_any_high(vec16 v)
{
	uint64_t w[2];
	memcpy(w, &v, sizeof(w));
	return ((w[0] | w[1]) & UINT64_C(0x8080808080808080)) != 0;
}

/* The 16 key bytes for payload at offset: mask[(offset + i) & 3]. */
static inline vec16 vec16_mask_key(const uint8_t mask[4], uint64_t offset)
{
	uint8_t rep[20];
	for (unsigned i = 0; i < sizeof(rep); i += 4)
		memcpy(rep + i, mask, 4);
	return vec16_load(rep + (offset & 3));
}

#endif

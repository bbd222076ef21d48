/*
 * scan_avx2.c - long payloads 128 bytes a step (scan_avx2.h).
 *
 * Four 32-byte loads per step, independent of one another, so the
 * processor keeps them all in flight; a mask is XORed in the register as
 * each is loaded. Compiled for AVX2 function by function (the target
 * attribute), so the rest of the library still runs on any x86-64.
 */
#include "scan_avx2.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>

/* The 16-byte key in both halves of a register. */
__attribute__((target("avx2"))) static inline __m256i scan_avx2_key(vec16 key)
{
	return _mm256_broadcastsi128_si256((__m128i)key);
}

/* The four 32-byte blocks of a step at p, each XORed with k, and the OR
 * of all four (whose top bits say whether any byte is not ASCII); each
 * block is unmasked before the OR, since XOR does not distribute over
 * it. */
__attribute__((target("avx2"))) static inline __m256i
scan_avx2_load_step(const uint8_t *p, __m256i k, __m256i v[4])
{
	/* Spelled out: as a loop, gcc 12 keeps v on the stack. */
	v[0] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)p), k);
	v[1] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 32)),
				k);
	v[2] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 64)),
				k);
	v[3] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 96)),
				k);
	return _mm256_or_si256(_mm256_or_si256(v[0], v[1]),
			       _mm256_or_si256(v[2], v[3]));
}

__attribute__((target("avx2"))) size_t
scan_avx2_unmask_copy(uint8_t *dst, const uint8_t *src, size_t n,
		      vec16 key, uint8_t *high)
{
	const __m256i k = scan_avx2_key(key);
	__m256i seen = _mm256_setzero_si256();
	size_t i = 0;

	/* Each step is loaded whole before it is stored, so dst may be
	 * src. */
	for (; i + 128 <= n; i += 128) {
		__m256i v[4];

		seen = _mm256_or_si256(seen, scan_avx2_load_step(src + i, k, v));
		_mm256_storeu_si256((__m256i *)(dst + i), v[0]);
		_mm256_storeu_si256((__m256i *)(dst + i + 32), v[1]);
		_mm256_storeu_si256((__m256i *)(dst + i + 64), v[2]);
		_mm256_storeu_si256((__m256i *)(dst + i + 96), v[3]);
	}
	if (_mm256_movemask_epi8(seen))
		*high |= 0x80;
	return i;
}

__attribute__((target("avx2"))) size_t
scan_avx2_ascii(const uint8_t *p, size_t n, vec16 key)
{
	const __m256i k = scan_avx2_key(key);
	size_t i = 0;

	for (; i + 128 <= n; i += 128) {
		__m256i v[4];

		if (_mm256_movemask_epi8(scan_avx2_load_step(p + i, k, v)))
			break;
	}
	return i;
}

#else /* no AVX2 build: the callers keep to vec16.h */

size_t scan_avx2_unmask_copy(uint8_t *dst, const uint8_t *src, size_t n,
			     vec16 key, uint8_t *high)
{
	(void)dst, (void)src, (void)n, (void)key, (void)high;
	return 0;
}

size_t scan_avx2_ascii(const uint8_t *p, size_t n, vec16 key)
{
	(void)p, (void)n, (void)key;
	return 0;
}

#endif

/*
 * alloc_cost.h - what one allocation takes from the heap, as wsdbg counts
 * it against its memory caps. One rule for every layer that reports
 * memory: the decoder's buffers and zlib's state (core) and the
 * registry's records, rings and stored text.
 */
#ifndef WSDBG_ALLOC_COST_H
#define WSDBG_ALLOC_COST_H

#include <stddef.h>

/* Bytes a malloc of n bytes takes: glibc hands out 16-byte aligned chunks
 * with an 8-byte header, 32 bytes at least (other allocators are close). */
static inline size_t wsdbg_alloc_cost(size_t n)
{
	size_t chunk = (n + 8 + 15) & ~(size_t)15;
	return chunk < 32 ? 32 : chunk;
}

#endif

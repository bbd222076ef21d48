/*
 * ws_inflate_memory.h - what a ws_inflate stream holds on the heap.
 * Private to src/core: ws_decoder_memory() reports it to its callers.
 */
#ifndef WSDBG_CORE_WS_INFLATE_MEMORY_H
#define WSDBG_CORE_WS_INFLATE_MEMORY_H

#include <stddef.h>

struct ws_inflate;

/* Bytes z holds: the stream itself and everything zlib allocated for it
 * (its state and, once used, the window), each allocation with
 * WS_ALLOC_OVERHEAD for the allocator's own header and rounding. */
size_t ws_inflate_memory(const struct ws_inflate *z);

/* What one allocation costs beyond the bytes asked for, as counted in
 * ws_decoder_memory(): glibc's chunk header and 16-byte rounding. */
#define WS_ALLOC_OVERHEAD 16

#endif

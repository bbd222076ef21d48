/*
 * ws_inflate_memory.h - what a ws_inflate stream holds on the heap.
 * Private to src/core: ws_decoder_memory() reports it to its callers.
 */
#ifndef WSDBG_CORE_WS_INFLATE_MEMORY_H
#define WSDBG_CORE_WS_INFLATE_MEMORY_H

#include <stddef.h>

struct ws_inflate;

/* Bytes z holds: the stream itself and everything zlib allocated for it
 * (its state and, once used, the window), each allocation as
 * wsdbg_alloc_cost() counts it. */
size_t ws_inflate_memory(const struct ws_inflate *z);

#endif

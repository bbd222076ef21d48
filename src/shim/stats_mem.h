/*
 * stats_mem.h - the stats server's memory, taken without malloc.
 *
 * glibc gives every thread that calls malloc or free an arena of its own
 * on its first call: 64 MiB of address space reserved, which a host under
 * RLIMIT_AS loses for good the first time someone runs `wsdbg ps`. So the
 * server's thread allocates each client's answer (the snapshot's copy of
 * the registry and its JSON text) in a context of its own, straight from
 * anonymous mappings:
 *
 *   - a block of STATS_MEM_LARGE bytes or more is a mapping of its own:
 *     released at once (munmap), grown in place or moved by mremap;
 *   - smaller ones are cut from chunks of STATS_MEM_CHUNK bytes, one
 *     after the other; releasing one gives nothing back until the whole
 *     context goes (stats_mem_free_all), which unmaps everything.
 *
 * Blocks are 16-byte aligned. Not thread-safe: one context, one thread.
 * Only mmap, mremap and munmap; errno may change.
 */
#ifndef WSDBG_SHIM_STATS_MEM_H
#define WSDBG_SHIM_STATS_MEM_H

#include <stddef.h>

#include "wsdbg/registry.h"

/* Blocks this large or larger get a mapping of their own. */
#define STATS_MEM_LARGE ((size_t)32 << 10)
/* The size of the chunks small blocks are cut from. */
#define STATS_MEM_CHUNK ((size_t)64 << 10)

struct stats_mem_chunk;
struct stats_mem_large;

struct stats_mem {
	struct stats_mem_chunk *chunks; /* newest first */
	struct stats_mem_large *large;  /* a doubly linked list */
	size_t mapped;                  /* bytes mapped now */
	struct registry_allocator allocator; /* the functions below */
};

/* An empty context; maps nothing yet. */
void stats_mem_init(struct stats_mem *m);

/* n bytes (n may be 0), or NULL when no mapping can be had. */
void *stats_mem_alloc(struct stats_mem *m, size_t n);

/* p (from this context, or NULL) grown or shrunk to n bytes, its content
 * kept up to the smaller size; NULL (p untouched) when memory is short. */
void *stats_mem_resize(struct stats_mem *m, void *p, size_t n);

/* Gives p back: a large block at once, a small one with the context.
 * p may be NULL. */
void stats_mem_release(struct stats_mem *m, void *p);

/* Unmaps everything the context holds; it is empty again. */
void stats_mem_free_all(struct stats_mem *m);

/* The context as a registry allocator (registry_snapshot_options). */
const struct registry_allocator *stats_mem_allocator(struct stats_mem *m);

#endif

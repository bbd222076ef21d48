/*
 * stats_mem.c - contexts of anonymous mappings (stats_mem.h).
 *
 * Every block starts with a header saying how large it is and whether it
 * is a mapping of its own; the caller gets the bytes right after it.
 */
#define _GNU_SOURCE /* mremap */
#include "stats_mem.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define STATS_MEM_ALIGN 16

/* Before every block. */
struct stats_mem_head {
	size_t size; /* what the caller asked for */
	size_t large; /* 1: a mapping of its own (a stats_mem_large) */
};

/* A mapping of its own: its links, then its head, then the bytes. */
struct stats_mem_large {
	struct stats_mem_large *prev, *next;
	size_t map_len;
	size_t pad_;
	struct stats_mem_head head;
};

/* A chunk small blocks are cut from, from `used` on. */
struct stats_mem_chunk {
	struct stats_mem_chunk *next;
	size_t map_len;
	size_t used; /* bytes from the chunk's start, this header included */
	size_t pad_;
};

_Static_assert(sizeof(struct stats_mem_head) % STATS_MEM_ALIGN == 0,
	       "blocks stay aligned");
_Static_assert(sizeof(struct stats_mem_large) % STATS_MEM_ALIGN == 0,
	       "large blocks stay aligned");
_Static_assert(sizeof(struct stats_mem_chunk) % STATS_MEM_ALIGN == 0,
	       "chunks stay aligned");

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) / to * to;
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static struct stats_mem_head *head_of(void *p)
{
	return (struct stats_mem_head *)p - 1;
}

static struct stats_mem_large *large_of(struct stats_mem_head *h)
{
	return (struct stats_mem_large *)(void *)((char *)h -
		offsetof(struct stats_mem_large, head));
}

/* The mapping length a large block of n bytes needs, 0 on overflow. */
static size_t large_len(size_t n)
{
	if (n > SIZE_MAX - sizeof(struct stats_mem_large) - 2 * 4096)
		return 0;
	return round_up(sizeof(struct stats_mem_large) + n, 4096);
}

static void large_link(struct stats_mem *m, struct stats_mem_large *l)
{
	l->prev = NULL;
	l->next = m->large;
	if (m->large)
		m->large->prev = l;
	m->large = l;
}

static void large_unlink(struct stats_mem *m, struct stats_mem_large *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		m->large = l->next;
	if (l->next)
		l->next->prev = l->prev;
}

static void *large_alloc(struct stats_mem *m, size_t n)
{
	size_t len = large_len(n);
	struct stats_mem_large *l = len ? map(len) : NULL;

	if (!l)
		return NULL;
	l->map_len = len;
	l->head = (struct stats_mem_head){.size = n, .large = 1};
	large_link(m, l);
	m->mapped += len;
	return &l->head + 1;
}

static void *small_alloc(struct stats_mem *m, size_t n)
{
	size_t need = sizeof(struct stats_mem_head) +
		      round_up(n, STATS_MEM_ALIGN);
	struct stats_mem_chunk *c = m->chunks;

	if (!c || c->map_len - c->used < need) {
		c = map(STATS_MEM_CHUNK);
		if (!c)
			return NULL;
		*c = (struct stats_mem_chunk){.next = m->chunks,
					      .map_len = STATS_MEM_CHUNK,
					      .used = sizeof(*c)};
		m->chunks = c;
		m->mapped += STATS_MEM_CHUNK;
	}
	struct stats_mem_head *h = (void *)((char *)c + c->used);
	*h = (struct stats_mem_head){.size = n, .large = 0};
	c->used += need;
	return h + 1;
}

void *stats_mem_alloc(struct stats_mem *m, size_t n)
{
	return n >= STATS_MEM_LARGE ? large_alloc(m, n) : small_alloc(m, n);
}

void *stats_mem_resize(struct stats_mem *m, void *p, size_t n)
{
	if (!p)
		return stats_mem_alloc(m, n);
	struct stats_mem_head *h = head_of(p);
	if (h->large && n >= STATS_MEM_LARGE) {
		struct stats_mem_large *l = large_of(h);
		size_t len = large_len(n);
		if (!len)
			return NULL;
		if (len != l->map_len) {
			large_unlink(m, l);
			struct stats_mem_large *moved =
				mremap(l, l->map_len, len, MREMAP_MAYMOVE);
			if (moved == MAP_FAILED) {
				large_link(m, l);
				return NULL;
			}
			m->mapped = m->mapped - moved->map_len + len;
			moved->map_len = len;
			large_link(m, moved);
			l = moved;
		}
		l->head.size = n;
		return &l->head + 1;
	}
	void *q = stats_mem_alloc(m, n);
	if (!q)
		return NULL;
	memcpy(q, p, h->size < n ? h->size : n);
	stats_mem_release(m, p);
	return q;
}

void stats_mem_release(struct stats_mem *m, void *p)
{
	if (!p)
		return;
	struct stats_mem_head *h = head_of(p);
	if (!h->large)
		return; /* with the context */
	struct stats_mem_large *l = large_of(h);
	large_unlink(m, l);
	m->mapped -= l->map_len;
	munmap(l, l->map_len);
}

void stats_mem_free_all(struct stats_mem *m)
{
	while (m->large)
		stats_mem_release(m, &m->large->head + 1);
	while (m->chunks) {
		struct stats_mem_chunk *c = m->chunks;
		m->chunks = c->next;
		munmap(c, c->map_len);
	}
	m->mapped = 0;
}

/* registry_allocator's shape. */
static void *allocator_alloc(void *ctx, size_t n)
{
	return stats_mem_alloc(ctx, n);
}

static void *allocator_resize(void *ctx, void *p, size_t n)
{
	return stats_mem_resize(ctx, p, n);
}

static void allocator_release(void *ctx, void *p)
{
	stats_mem_release(ctx, p);
}

void stats_mem_init(struct stats_mem *m)
{
	*m = (struct stats_mem){
		.allocator = {.alloc = allocator_alloc,
			      .resize = allocator_resize,
			      .release = allocator_release,
			      .ctx = m},
	};
}

const struct registry_allocator *stats_mem_allocator(struct stats_mem *m)
{
	return &m->allocator;
}

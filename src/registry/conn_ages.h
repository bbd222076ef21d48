/*
 * conn_ages.h - the registry's connections that hold stored data, by the
 * age of their oldest: a binary min-heap of (key, id) pairs, where a
 * connection's key is a lower bound of the seq of its oldest stored block.
 *
 * Only the registry-wide memory cap needs the oldest stored block of all.
 * A connection gives up its data oldest first, so the seq of its oldest
 * block only grows, and a key once right stays a lower bound however much
 * the connection records or drops. So recording a message touches nothing
 * here (a connection enters once, with its first stored block), and the
 * cap's path (messages.c) corrects the top key until it is exact: the top
 * is then the connection holding the oldest block of all.
 *
 * Entries of connections that are gone are found out lazily: at the top,
 * and by conn_ages_prune, which the registry runs once they may be half
 * the heap. Private to src/registry; the registry's lock guards it. No
 * allocation but in conn_ages_push and conn_ages_prune; errors as values.
 */
#ifndef WSDBG_CONN_AGES_H
#define WSDBG_CONN_AGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn_age {
	uint64_t key; /* <= the seq of the connection's oldest stored block */
	uint64_t id;  /* the connection's id (it may be gone) */
};

/* Zero-initialised: empty, nothing allocated. */
struct conn_ages {
	struct conn_age *v; /* v[0] has the smallest key */
	size_t n, cap;
};

/* Smallest allocation, in entries: no more than one connection is
 * charged for (CONN_AGES_COST_PER_CONN). */
#define CONN_AGES_MIN 4

/* What the heap costs each connection it may hold, as registry_conn_fixed
 * charges it: the registry prunes it once it may be half gone, and it is
 * at most half empty after growing or pruning, so four entries (beyond
 * the smallest block). test_conn_ages.c checks this bound. */
#define CONN_AGES_COST_PER_CONN (4 * sizeof(struct conn_age))

/* Adds a connection's entry. False, with nothing changed, when the heap
 * had to grow and memory was short. */
bool conn_ages_push(struct conn_ages *h, uint64_t key, uint64_t id);

/* The entry with the smallest key, or NULL when empty. */
static inline struct conn_age *conn_ages_top(struct conn_ages *h)
{
	return h->n ? &h->v[0] : NULL;
}

/* Removes the top entry. The heap must not be empty. */
void conn_ages_pop(struct conn_ages *h);

/* Raises the top entry's key to key (>= its key) and restores the order. */
void conn_ages_raise_top(struct conn_ages *h, uint64_t key);

/* Keeps only the entries whose id keep() says to, and shrinks the
 * allocation to suit (if memory is short, it stays as it was). */
void conn_ages_prune(struct conn_ages *h, bool (*keep)(uint64_t id, void *ctx),
		     void *ctx);

/* Releases the heap; h is empty again. */
void conn_ages_free(struct conn_ages *h);

#endif

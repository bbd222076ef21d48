/*
 * conn_index.h - the registry's connections by id: an open-addressing
 * table (linear probing, kept at most half full) of id and pointer pairs.
 *
 * Finding a connection is what every recorded I/O call does first, and in
 * a server busy with many connections each call finds a different one with
 * the caches cold. Here that costs the one line of the table the id falls
 * in, then the connection itself: ids are handed out in order, so live ids
 * sit in consecutive slots and rarely collide. (A chained hash table walks
 * its chain through other connections first.)
 *
 * Private to src/registry; the registry's lock guards it. No allocation
 * but in conn_index_put; errors as values.
 */
#ifndef WSDBG_CONN_INDEX_H
#define WSDBG_CONN_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct registry_conn;

struct conn_index_slot {
	uint64_t id; /* 0: empty (ids count up from 1) */
	struct registry_conn *conn;
};

/* Zero-initialised: empty, nothing allocated. */
struct conn_index {
	struct conn_index_slot *slots;
	size_t cap; /* a power of two, or 0 */
	size_t n;   /* ids held */
};

/* What the index costs each connection it holds: two slots, since it is
 * never more than half full (registry_conn_fixed charges it). */
#define CONN_INDEX_COST_PER_CONN (2 * sizeof(struct conn_index_slot))

/* The connection with this id, or NULL. */
struct registry_conn *conn_index_get(const struct conn_index *x, uint64_t id);

/* Adds id (> 0, not held yet) for conn. False, with nothing changed, when
 * the table had to grow and memory was short. */
bool conn_index_put(struct conn_index *x, uint64_t id,
		    struct registry_conn *conn);

/* Removes id, if held. */
void conn_index_del(struct conn_index *x, uint64_t id);

/* Releases the table; x is empty again. */
void conn_index_free(struct conn_index *x);

/* Calls fn for each connection held, in no particular order. fn must not
 * change the index. */
void conn_index_each(const struct conn_index *x,
		     void (*fn)(struct registry_conn *conn, void *ctx),
		     void *ctx);

#endif

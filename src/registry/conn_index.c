/*
 * conn_index.c - connections by id (conn_index.h).
 *
 * Linear probing with the id itself as the hash: ids are consecutive, so
 * the live ones spread over consecutive slots. Removal shifts later
 * members of the probe run back (no tombstones), so a lookup stops at the
 * first empty slot.
 */
#include "conn_index.h"

#include <stdlib.h>

/* Smallest table: 2 slots, what one connection is charged for
 * (CONN_INDEX_COST_PER_CONN); it doubles from there. */
#define CONN_INDEX_MIN 2

static size_t slot_of(const struct conn_index *x, uint64_t id)
{
	return (size_t)id & (x->cap - 1);
}

struct registry_conn *conn_index_get(const struct conn_index *x, uint64_t id)
{
	if (x->n == 0 || id == 0)
		return NULL;
	for (size_t i = slot_of(x, id);; i = (i + 1) & (x->cap - 1)) {
		if (x->slots[i].id == id)
			return x->slots[i].conn;
		if (x->slots[i].id == 0)
			return NULL;
	}
}

/* Puts a pair in a table known to have room and not to hold id. */
static void place(struct conn_index *x, uint64_t id, struct registry_conn *conn)
{
	size_t i = slot_of(x, id);

	while (x->slots[i].id != 0)
		i = (i + 1) & (x->cap - 1);
	x->slots[i] = (struct conn_index_slot){id, conn};
	x->n++;
}

/* Moves everything to a table of cap slots. */
static bool resize(struct conn_index *x, size_t cap)
{
	struct conn_index old = *x;

	x->slots = calloc(cap, sizeof(*x->slots));
	if (!x->slots) {
		*x = old;
		return false;
	}
	x->cap = cap;
	x->n = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].id != 0)
			place(x, old.slots[i].id, old.slots[i].conn);
	free(old.slots);
	return true;
}

bool conn_index_put(struct conn_index *x, uint64_t id,
		    struct registry_conn *conn)
{
	if (2 * (x->n + 1) > x->cap &&
	    !resize(x, x->cap ? 2 * x->cap : CONN_INDEX_MIN))
		return false;
	place(x, id, conn);
	return true;
}

void conn_index_del(struct conn_index *x, uint64_t id)
{
	size_t mask = x->cap - 1, i;

	if (x->n == 0 || id == 0)
		return;
	for (i = slot_of(x, id); x->slots[i].id != id; i = (i + 1) & mask)
		if (x->slots[i].id == 0)
			return;
	/* Close the gap: a later member of the run whose home slot is not
	 * in (gap, j] moves into it. */
	for (size_t j = (i + 1) & mask; x->slots[j].id != 0; j = (j + 1) & mask) {
		size_t home = slot_of(x, x->slots[j].id);
		bool stays = i <= j ? (home > i && home <= j)
				    : (home > i || home <= j);
		if (!stays) {
			x->slots[i] = x->slots[j];
			i = j;
		}
	}
	x->slots[i] = (struct conn_index_slot){0};
	x->n--;
}

void conn_index_free(struct conn_index *x)
{
	free(x->slots);
	*x = (struct conn_index){0};
}

void conn_index_each(const struct conn_index *x,
		     void (*fn)(struct registry_conn *conn, void *ctx),
		     void *ctx)
{
	for (size_t i = 0; i < x->cap; i++)
		if (x->slots[i].id != 0)
			fn(x->slots[i].conn, ctx);
}

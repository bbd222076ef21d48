/*
 * conn_ages.c - connections by the age of their oldest stored data
 * (conn_ages.h): an array-backed binary min-heap, children of i at 2i+1
 * and 2i+2.
 */
#include "conn_ages.h"

#include <stdlib.h>

/* Moves the entry at i down until neither child has a smaller key. */
static void sift_down(struct conn_ages *h, size_t i)
{
	struct conn_age e = h->v[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n && h->v[child + 1].key < h->v[child].key)
			child++;
		if (h->v[child].key >= e.key)
			break;
		h->v[i] = h->v[child];
		i = child;
	}
	h->v[i] = e;
}

/* Moves the entry at i up until its parent's key is not larger. */
static void sift_up(struct conn_ages *h, size_t i)
{
	struct conn_age e = h->v[i];

	while (i > 0 && h->v[(i - 1) / 2].key > e.key) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = e;
}

/* Reallocates to cap entries (>= n). False, nothing changed, if short. */
static bool resize(struct conn_ages *h, size_t cap)
{
	struct conn_age *v = realloc(h->v, cap * sizeof(*v));

	if (!v)
		return false;
	h->v = v;
	h->cap = cap;
	return true;
}

bool conn_ages_push(struct conn_ages *h, uint64_t key, uint64_t id)
{
	if (h->n == h->cap &&
	    !resize(h, h->cap ? 2 * h->cap : CONN_AGES_MIN))
		return false;
	h->v[h->n] = (struct conn_age){key, id};
	/* The registry pushes the newest seq, larger than every key: this
	 * loop then stops at once. */
	sift_up(h, h->n++);
	return true;
}

void conn_ages_pop(struct conn_ages *h)
{
	h->v[0] = h->v[--h->n];
	if (h->n > 0)
		sift_down(h, 0);
	/* At most a quarter full: half the block is given back (if that
	 * fails, the larger block stays). */
	if (h->cap > CONN_AGES_MIN && 4 * h->n <= h->cap)
		resize(h, h->cap / 2);
}

void conn_ages_raise_top(struct conn_ages *h, uint64_t key)
{
	h->v[0].key = key;
	sift_down(h, 0);
}

void conn_ages_prune(struct conn_ages *h, bool (*keep)(uint64_t id, void *ctx),
		     void *ctx)
{
	size_t n = 0, cap = CONN_AGES_MIN;

	for (size_t i = 0; i < h->n; i++)
		if (keep(h->v[i].id, ctx))
			h->v[n++] = h->v[i];
	h->n = n;
	/* Bottom-up heap construction: each parent sifted once. */
	for (size_t i = n / 2; i-- > 0;)
		sift_down(h, i);
	if (n == 0) {
		conn_ages_free(h);
		return;
	}
	while (cap < n)
		cap *= 2;
	if (cap < h->cap)
		resize(h, cap); /* if it fails, the larger block stays */
}

void conn_ages_free(struct conn_ages *h)
{
	free(h->v);
	*h = (struct conn_ages){0};
}

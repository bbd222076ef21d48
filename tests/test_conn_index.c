/*
 * test_conn_index.c - the registry's table of connections by id, against
 * a plain list as the model: ids that collide (spaced by the table size),
 * probe runs that wrap around the table's end, removal from the middle of
 * a run, growth, and a long random mix of adds and removals.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "../src/registry/conn_index.h"

/* Fake connections: only their addresses are compared. */
static char fake[4096];

static struct registry_conn *conn_for(uint64_t id)
{
	return (struct registry_conn *)&fake[id % sizeof(fake)];
}

/* The model: the ids held, in no order. */
struct model {
	uint64_t ids[2048];
	size_t n;
};

static void check_all(const struct conn_index *x, const struct model *m,
		      uint64_t max_id)
{
	cr_assert_eq(x->n, m->n);
	cr_assert_leq(2 * x->n, x->cap, "more than half full");
	for (size_t i = 0; i < m->n; i++)
		cr_assert_eq(conn_index_get(x, m->ids[i]), conn_for(m->ids[i]),
			     "id %llu lost", (unsigned long long)m->ids[i]);
	/* Ids not held are not found, including ones that collide. */
	for (uint64_t id = 1; id <= max_id; id += 7) {
		bool held = false;
		for (size_t i = 0; i < m->n; i++)
			held |= m->ids[i] == id;
		if (!held)
			cr_assert_null(conn_index_get(x, id));
	}
}

static void put(struct conn_index *x, struct model *m, uint64_t id)
{
	cr_assert(conn_index_put(x, id, conn_for(id)));
	m->ids[m->n++] = id;
}

static void del(struct conn_index *x, struct model *m, size_t i)
{
	conn_index_del(x, m->ids[i]);
	m->ids[i] = m->ids[--m->n];
}

Test(conn_index, empty_finds_nothing_and_frees_cleanly)
{
	struct conn_index x = {0};

	cr_assert_null(conn_index_get(&x, 1));
	conn_index_del(&x, 1);
	conn_index_free(&x);
	cr_assert_eq(x.cap, 0);
}

Test(conn_index, colliding_ids_and_runs_that_wrap_survive_removal)
{
	struct conn_index x = {0};
	struct model m = {0};

	/* Six ids: the table has grown to 16 slots. In it, a run from slot
	 * 14 wrapping to 0, 1, 2: homes 14, 15, 14, 15, 14. */
	put(&x, &m, 1);
	uint64_t run[] = {14, 15, 14 + 16, 15 + 16, 14 + 32};
	for (size_t i = 0; i < 5; i++)
		put(&x, &m, run[i]);
	cr_assert_eq(x.cap, 16);
	check_all(&x, &m, 300);
	/* Out of the middle of the run, then its head, then its tail. */
	for (size_t k = 0; k < 3; k++) {
		size_t at = k == 0 ? 3 : k == 1 ? 1 : m.n - 1;
		del(&x, &m, at);
		check_all(&x, &m, 300);
	}
	conn_index_free(&x);
}

Test(conn_index, grows_past_half_full_and_keeps_everything)
{
	struct conn_index x = {0};
	struct model m = {0};

	for (uint64_t id = 1; id <= 1000; id++)
		put(&x, &m, id * 3);
	cr_assert_geq(x.cap, 2048);
	check_all(&x, &m, 3100);
	conn_index_free(&x);
}

Test(conn_index, a_random_mix_agrees_with_the_model)
{
	struct conn_index x = {0};
	struct model m = {0};
	uint64_t next = 1;
	uint32_t seed = 12345;

	for (int step = 0; step < 20000; step++) {
		seed = seed * 1103515245u + 12345u;
		uint32_t r = seed >> 8;
		if (m.n > 0 && (r % 3 == 0 || m.n == 2048)) {
			del(&x, &m, r % m.n);
		} else {
			/* Mostly the next id; sometimes one far ahead, to
			 * collide with the live ones. */
			next += r % 5 == 0 ? 64 * (1 + r % 4) : 1;
			put(&x, &m, next);
		}
		if (step % 997 == 0)
			check_all(&x, &m, next);
	}
	check_all(&x, &m, next);
	while (m.n > 0)
		del(&x, &m, 0);
	cr_assert_eq(x.n, 0);
	conn_index_free(&x);
}

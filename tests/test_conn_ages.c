/*
 * test_conn_ages.c - the registry's heap of connections by the age of
 * their oldest stored data, against a plain array as the model: the top
 * is always a smallest key, through pushes, raises and pops in a long
 * random mix; prune keeps exactly what it is told; the allocation shrinks
 * as the heap empties.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>

#include "../src/registry/conn_ages.h"

/* The model: the entries, in no order. */
struct model {
	struct conn_age e[4096];
	size_t n;
};

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The heap holds the model's entries, and its top has the smallest key. */
static void check_all(struct conn_ages *h, const struct model *m)
{
	uint64_t min = UINT64_MAX;

	cr_assert_eq(h->n, m->n);
	cr_assert_leq(h->n, h->cap);
	for (size_t i = 0; i < m->n; i++) {
		bool found = false;
		if (m->e[i].key < min)
			min = m->e[i].key;
		for (size_t j = 0; j < h->n && !found; j++)
			found = h->v[j].id == m->e[i].id &&
				h->v[j].key == m->e[i].key;
		cr_assert(found, "entry of id %llu lost",
			  (unsigned long long)m->e[i].id);
	}
	if (m->n == 0)
		cr_assert_null(conn_ages_top(h));
	else
		cr_assert_eq(conn_ages_top(h)->key, min);
}

/* The model's entry with h's top id. */
static size_t model_top(const struct model *m, const struct conn_ages *h)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].id == h->v[0].id)
			return i;
	cr_assert_fail("top id not in the model");
	return 0;
}

Test(conn_ages, an_empty_heap_has_no_top_and_holds_nothing)
{
	struct conn_ages h = {0};

	cr_assert_null(conn_ages_top(&h));
	conn_ages_free(&h);
	cr_assert_null(h.v);
}

Test(conn_ages, the_top_is_the_smallest_key_through_a_random_mix)
{
	struct conn_ages h = {0};
	struct model m = {0};
	uint64_t seed = 0x9e3779b97f4a7c15u, next_id = 1, seq = 1;

	for (int step = 0; step < 20000; step++) {
		uint64_t r = rng_next(&seed);
		unsigned op = (unsigned)(r % 8);

		if (op < 3 && m.n < 4096) {
			/* As the registry does: the newest seq is the
			 * largest key; sometimes an older one, as a test of
			 * the heap alone. */
			uint64_t key = op == 0 ? seq - (r >> 8) % seq : seq;
			cr_assert(conn_ages_push(&h, key, next_id));
			m.e[m.n++] = (struct conn_age){key, next_id++};
			seq++;
		} else if (op < 6 && m.n > 0) {
			size_t i = model_top(&m, &h);
			uint64_t key = h.v[0].key + (r >> 8) % 64;
			conn_ages_raise_top(&h, key);
			m.e[i].key = key;
		} else if (m.n > 0) {
			size_t i = model_top(&m, &h);
			conn_ages_pop(&h);
			m.e[i] = m.e[--m.n];
		}
		if (step % 97 == 0 || m.n < 8)
			check_all(&h, &m);
	}
	/* Emptied, the heap comes out in key order. */
	for (uint64_t last = 0; m.n > 0;) {
		cr_assert_geq(h.v[0].key, last);
		last = h.v[0].key;
		m.e[model_top(&m, &h)] = m.e[m.n - 1];
		m.n--;
		conn_ages_pop(&h);
	}
	check_all(&h, &m);
	conn_ages_free(&h);
}

static bool keep_odd(uint64_t id, void *ctx)
{
	(void)ctx;
	return id % 2 == 1;
}

static bool keep_none(uint64_t id, void *ctx)
{
	(void)id;
	(void)ctx;
	return false;
}

Test(conn_ages, prune_keeps_exactly_what_it_is_told_and_shrinks)
{
	struct conn_ages h = {0};
	struct model m = {0};
	uint64_t seed = 12345;

	for (uint64_t id = 1; id <= 1000; id++) {
		uint64_t key = rng_next(&seed) % 100000;
		cr_assert(conn_ages_push(&h, key, id));
		m.e[m.n++] = (struct conn_age){key, id};
	}
	cr_assert_eq(h.cap, 1024);
	conn_ages_prune(&h, keep_odd, NULL);
	for (size_t i = 0; i < m.n;)
		if (m.e[i].id % 2 == 0)
			m.e[i] = m.e[--m.n];
		else
			i++;
	check_all(&h, &m);
	cr_assert_eq(h.cap, 512, "500 entries in the smallest block");

	/* Popped down to a quarter, half the block is given back, and
	 * never below the smallest size. */
	while (h.n > 100)
		conn_ages_pop(&h);
	cr_assert_leq(h.cap, 256);
	cr_assert_geq(h.cap, h.n);
	while (h.n > 1)
		conn_ages_pop(&h);
	cr_assert_eq(h.cap, CONN_AGES_MIN);

	conn_ages_prune(&h, keep_none, NULL);
	cr_assert_eq(h.n, 0);
	cr_assert_null(h.v, "nothing kept, nothing allocated");
	cr_assert(conn_ages_push(&h, 7, 7), "usable again after");
	cr_assert_eq(conn_ages_top(&h)->id, 7);
	conn_ages_free(&h);
}

/* ---- in the registry ---------------------------------------------------- */

#include "../src/registry/registry_private.h"

static uint64_t open_ws(struct registry *r)
{
	struct registry_request req = {.fd = 7, .role = REGISTRY_SERVER,
				       .local = "127.0.0.1:80",
				       .peer = "127.0.0.1:4000", .path = "/"};
	struct registry_response res = {.status = 101};
	uint64_t id = registry_open(r, &req, 1);

	cr_assert_gt(id, 0);
	registry_answer(r, id, &res, 1);
	return id;
}

/* The heap's block is within what the connections are charged for it
 * (CONN_AGES_COST_PER_CONN each, registry_conn_fixed), but for the
 * smallest block. */
static void check_charged(const struct registry *r)
{
	size_t charged = r->conns.n * CONN_AGES_COST_PER_CONN;

	cr_assert_leq(r->ages.cap * sizeof(struct conn_age),
		      charged + CONN_AGES_MIN * sizeof(struct conn_age),
		      "%zu entries' room for %zu connections", r->ages.cap,
		      r->conns.n);
	cr_assert_leq(r->naged, r->conns.n);
	cr_assert_leq(r->naged, r->ages.n);
}

Test(conn_ages, connections_coming_and_going_keep_the_heap_within_its_charge)
{
	static const struct ws_message m = {
		.opcode = WS_OPCODE_TEXT, .utf8_valid = true, .frames = 1,
		.size = 4, .wire_size = 4, .data = (const uint8_t *)"data",
		.kept = 4, .close_code = -1};
	struct registry_config cfg;
	struct registry *r;
	uint64_t ids[1000];
	uint64_t seed = 99;

	registry_config_defaults(&cfg);
	cfg.max_connections = 1000;
	cfg.ttl = 0;
	r = registry_new(&cfg);
	cr_assert_not_null(r);
	size_t nopen = 0;
	for (int round = 0; round < 30; round++) {
		/* A varying crowd stores data, then a varying part of all
		 * leaves (at the end, all). */
		size_t n = 1 + rng_next(&seed) % (1000 - nopen);
		for (size_t i = 0; i < n; i++) {
			ids[nopen] = open_ws(r);
			registry_messages(r, ids[nopen++], REGISTRY_SENT, &m, 1,
					  1);
			if (i % 64 == 0)
				check_charged(r);
		}
		check_charged(r);
		cr_assert_eq(r->naged, r->conns.n);
		unsigned part = 1 + (unsigned)(rng_next(&seed) % 4);
		for (size_t i = 0; i < nopen;) {
			if (rng_next(&seed) % 4 < part || round == 29) {
				registry_closed(r, ids[i], 1);
				ids[i] = ids[--nopen];
			} else {
				i++;
			}
		}
		registry_expire(r, 2);
		check_charged(r);
		cr_assert_eq(r->conns.n, nopen);
	}
	/* All gone: at most the smallest block is left. */
	cr_assert_eq(r->conns.n, 0);
	cr_assert_eq(r->naged, 0);
	cr_assert_leq(r->ages.cap, CONN_AGES_MIN);
	registry_free(r);
}

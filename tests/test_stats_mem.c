/*
 * test_stats_mem.c - the stats server's malloc-free memory (stats_mem.h):
 * blocks aligned and of the size asked, content kept across every kind of
 * resize (small to small, small to large, large to larger and back),
 * large blocks given back at once, everything at free_all, and a
 * snapshot written through it equal to one written through malloc.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stats_mem.h"
#include "wsdbg/registry.h"

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed);
}

static bool holds(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 31 + seed))
			return false;
	return true;
}

Test(stats_mem, blocks_are_aligned_distinct_and_writable)
{
	struct stats_mem m;
	unsigned char *p[64];

	stats_mem_init(&m);
	for (unsigned i = 0; i < 64; i++) {
		size_t n = (size_t)i * 977 % 5000;
		p[i] = stats_mem_alloc(&m, n);
		cr_assert_not_null(p[i]);
		cr_assert_eq((uintptr_t)p[i] % 16, 0);
		fill(p[i], n, i);
	}
	for (unsigned i = 0; i < 64; i++)
		cr_assert(holds(p[i], (size_t)i * 977 % 5000, i), "block %u", i);
	cr_assert_gt(m.mapped, 0);
	stats_mem_free_all(&m);
	cr_assert_eq(m.mapped, 0);
}

Test(stats_mem, resizing_keeps_the_content_across_small_and_large)
{
	static const size_t sizes[] = {10, 3000, STATS_MEM_LARGE - 1,
				       STATS_MEM_LARGE, 200000, 5u << 20,
				       100000, 40, 0};
	struct stats_mem m;
	unsigned char *p = NULL;
	size_t have = 0;

	stats_mem_init(&m);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		p = stats_mem_resize(&m, p, n);
		cr_assert(n == 0 || p != NULL, "resize to %zu", n);
		size_t kept = have < n ? have : n;
		cr_assert(holds(p, kept, 7), "content kept at %zu", n);
		fill(p, n, 7);
		have = n;
	}
	stats_mem_free_all(&m);
	cr_assert_eq(m.mapped, 0);
}

Test(stats_mem, a_large_block_is_unmapped_when_released)
{
	struct stats_mem m;

	stats_mem_init(&m);
	void *p = stats_mem_alloc(&m, 1u << 20);
	cr_assert_not_null(p);
	cr_assert_geq(m.mapped, 1u << 20);
	stats_mem_release(&m, p);
	cr_assert_eq(m.mapped, 0);
	stats_mem_free_all(&m);
}

Test(stats_mem, a_snapshot_written_through_it_is_the_one_malloc_gives)
{
	struct registry_config cfg;
	struct registry *r;
	struct stats_mem m;
	char *plain, *mapped;
	size_t plain_len, mapped_len;

	registry_config_defaults(&cfg);
	r = registry_new(&cfg);
	cr_assert_not_null(r);
	for (int i = 0; i < 40; i++) {
		struct registry_request req = {.fd = 10 + i, .path = "/ws",
					       .role = REGISTRY_SERVER};
		registry_open(r, &req, 1.0 + i);
	}
	struct registry_snapshot_options opt = {
	    .pid = 1, .process = "t", .taken_at = 100, .messages = true};
	plain = registry_snapshot_json(r, &opt, &plain_len);
	cr_assert_not_null(plain);
	stats_mem_init(&m);
	opt.alloc = stats_mem_allocator(&m);
	mapped = registry_snapshot_json(r, &opt, &mapped_len);
	cr_assert_not_null(mapped);
	cr_assert_eq(mapped_len, plain_len);
	cr_assert_eq(memcmp(mapped, plain, plain_len), 0);
	free(plain);
	stats_mem_free_all(&m);
	registry_free(r);
}

/* test_registry.c - connections from upgrade to close, every limit
 * (max_connections and eviction order, untracked, ttl, message rings,
 * memory caps), counters, ping round-trip times, close and error
 * recording, the batch API, threads, and the memory an idle connection
 * costs. Values are read back through the JSON snapshot. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"
#include "wsdbg/registry.h"
#include "wsdbg/ws_close.h"

/* ---- helpers ------------------------------------------------------------ */

static struct registry_config config(void)
{
	struct registry_config cfg;

	registry_config_defaults(&cfg);
	return cfg;
}

static struct registry *new_registry(const struct registry_config *cfg)
{
	struct registry *r = registry_new(cfg);

	cr_assert_not_null(r);
	return r;
}

static uint64_t open_conn(struct registry *r, enum registry_role role,
			  double now)
{
	static const char *const names[] = {"host", "origin"};
	static const char *const values[] = {"localhost:8080",
					     "http://localhost:8080"};
	struct registry_request req = {
		.fd = 9, .role = role, .local = "127.0.0.1:8080",
		.peer = "127.0.0.1:51234", .path = "/ws", .query = NULL,
		.nheaders = 2, .header_names = names, .header_values = values};

	return registry_open(r, &req, now);
}

static void answer(struct registry *r, uint64_t id, int status, double now)
{
	struct registry_response res = {.status = status};

	registry_answer(r, id, &res, now);
}

/* An open connection of this process in role. */
static uint64_t open_ws(struct registry *r, enum registry_role role,
			double now)
{
	uint64_t id = open_conn(r, role, now);

	cr_assert_gt(id, 0);
	answer(r, id, 101, now);
	return id;
}

static struct ws_message data_msg(uint8_t opcode, const void *p, size_t n)
{
	return (struct ws_message){.opcode = opcode, .utf8_valid = true,
				   .frames = 1, .size = n, .wire_size = n,
				   .data = p, .kept = n, .close_code = -1};
}

static struct ws_message text(const char *s)
{
	return data_msg(0x1, s, strlen(s));
}

/* A close frame with code and reason, its payload built in buf. */
static struct ws_message close_msg(uint8_t buf[128], int code,
				   const char *reason)
{
	size_t n = strlen(reason);
	struct ws_message m;

	buf[0] = (uint8_t)(code >> 8);
	buf[1] = (uint8_t)code;
	memcpy(buf + 2, reason, n);
	m = data_msg(0x8, buf, n + 2);
	m.close_code = code;
	m.close_code_valid = true;
	m.close_reason = buf + 2;
	m.close_reason_len = n;
	return m;
}

static void record(struct registry *r, uint64_t id, enum registry_dir dir,
		   struct ws_message m, double now)
{
	registry_messages(r, id, dir, &m, 1, now);
}

/* The snapshot, checked to be valid JSON; the caller frees it. */
static char *snapshot(struct registry *r)
{
	struct registry_snapshot_options opt = {
		.pid = 42, .process = "test", .taken_at = 5000, .messages = true};
	char err[128];
	size_t len;
	char *json = registry_snapshot_json(r, &opt, &len);

	cr_assert_not_null(json);
	cr_assert_eq(strlen(json), len);
	cr_assert(json_check(json, len, err, sizeof(err)), "%s", err);
	return json;
}

#define assert_field(json, path, want) \
	cr_assert_str_eq(json_check_field(json, path), want, "%s", path)

/* ---- lifecycle ---------------------------------------------------------- */

Test(registry, a_new_connection_is_connecting_until_answered)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t id = open_conn(r, REGISTRY_SERVER, 10);
	char *j = snapshot(r);

	cr_assert_eq(id, 1);
	assert_field(j, "connections.0.id", "\"1\"");
	assert_field(j, "connections.0.state", "\"connecting\"");
	assert_field(j, "connections.0.status", "null");
	assert_field(j, "connections.0.role", "\"server\"");
	assert_field(j, "connections.0.close", "null");
	assert_field(j, "totals.active", "1");
	assert_field(j, "totals.connections", "1");
	free(j);
	registry_free(r);
}

Test(registry, answer_101_opens_the_connection)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t id = open_conn(r, REGISTRY_CLIENT, 10);
	struct registry_response res = {.status = 101,
					.subprotocol = "chat",
					.extensions = "permessage-deflate"};
	char *j;

	registry_answer(r, id, &res, 10.5);
	j = snapshot(r);
	assert_field(j, "connections.0.state", "\"open\"");
	assert_field(j, "connections.0.status", "101");
	assert_field(j, "connections.0.role", "\"client\"");
	assert_field(j, "connections.0.subprotocol", "\"chat\"");
	assert_field(j, "connections.0.extensions", "\"permessage-deflate\"");
	free(j);
	registry_free(r);
}

Test(registry, another_status_rejects_and_keeps_the_status)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t id = open_conn(r, REGISTRY_SERVER, 10);
	char *j;

	answer(r, id, 403, 10.25);
	answer(r, id, 101, 10.5); /* a second answer changes nothing */
	j = snapshot(r);
	assert_field(j, "connections.0.state", "\"rejected\"");
	assert_field(j, "connections.0.status", "403");
	assert_field(j, "connections.0.duration", "0.250000");
	assert_field(j, "totals.active", "0");
	assert_field(j, "totals.rejected", "1");
	free(j);
	registry_closed(r, id, 11);
	j = snapshot(r);
	assert_field(j, "connections.0.state", "\"rejected\"");
	assert_field(j, "connections.0.close", "null");
	assert_field(j, "connections.0.closed_at", "11.000000");
	free(j);
	registry_free(r);
}

Test(registry, a_rejected_upgrade_whose_socket_ends_is_counted_once_as_rejected)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t ids[6];
	char *j;

	/* Two accepted, four refused with 403; every socket then ends. */
	for (int i = 0; i < 6; i++) {
		ids[i] = open_conn(r, REGISTRY_SERVER, 10 + i);
		answer(r, ids[i], i < 2 ? 101 : 403, 10.5 + i);
	}
	for (int i = 0; i < 6; i++)
		registry_closed(r, ids[i], 20 + i);
	j = snapshot(r);
	assert_field(j, "totals.connections", "6");
	assert_field(j, "totals.active", "0");
	assert_field(j, "totals.closed", "2");
	assert_field(j, "totals.rejected", "4");
	free(j);
	registry_free(r);
}

Test(registry, a_close_frame_moves_to_closing_and_the_socket_end_to_closed)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t id = open_ws(r, REGISTRY_SERVER, 10);
	uint8_t buf[128];
	char *j;

	record(r, id, REGISTRY_RECEIVED, close_msg(buf, 1000, "bye"), 11);
	j = snapshot(r);
	assert_field(j, "connections.0.state", "\"closing\"");
	assert_field(j, "connections.0.close",
		     "{\"code\": 1000, \"reason\": \"bye\", \"by\": \"client\"}");
	assert_field(j, "totals.active", "1");
	free(j);
	registry_closed(r, id, 12.5);
	j = snapshot(r);
	assert_field(j, "connections.0.state", "\"closed\"");
	assert_field(j, "connections.0.closed_at", "12.500000");
	assert_field(j, "connections.0.duration", "2.500000");
	assert_field(j, "connections.0.close.code", "1000");
	assert_field(j, "totals.active", "0");
	assert_field(j, "totals.closed", "1");
	free(j);
	registry_free(r);
}

Test(registry, who_closed_follows_direction_and_role)
{
	static const struct {
		enum registry_role role;
		enum registry_dir dir;
		const char *by;
	} cases[] = {
		{REGISTRY_SERVER, REGISTRY_SENT, "\"server\""},
		{REGISTRY_SERVER, REGISTRY_RECEIVED, "\"client\""},
		{REGISTRY_CLIENT, REGISTRY_SENT, "\"client\""},
		{REGISTRY_CLIENT, REGISTRY_RECEIVED, "\"server\""},
	};

	for (size_t i = 0; i < 4; i++) {
		struct registry_config cfg = config();
		struct registry *r = new_registry(&cfg);
		uint64_t id = open_ws(r, cases[i].role, 1);
		uint8_t buf[128];
		char *j;

		record(r, id, cases[i].dir, close_msg(buf, 1001, ""), 2);
		j = snapshot(r);
		assert_field(j, "connections.0.close.by", cases[i].by);
		assert_field(j, "connections.0.close.code", "1001");
		free(j);
		registry_free(r);
	}
}

Test(registry, the_first_close_frame_decides_code_reason_and_by)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t id = open_ws(r, REGISTRY_SERVER, 1);
	uint8_t a[128], b[128];
	char *j;

	record(r, id, REGISTRY_SENT, close_msg(a, 4001, "kicked"), 2);
	record(r, id, REGISTRY_RECEIVED, close_msg(b, 1000, "ok"), 3);
	registry_closed(r, id, 4);
	j = snapshot(r);
	assert_field(j, "connections.0.close",
		     "{\"code\": 4001, \"reason\": \"kicked\", "
		     "\"by\": \"server\"}");
	free(j);
	registry_free(r);
}

Test(registry, a_close_frame_without_a_code_reads_1005)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t id = open_ws(r, REGISTRY_SERVER, 1);
	struct ws_message m = data_msg(0x8, NULL, 0);
	char *j;

	record(r, id, REGISTRY_RECEIVED, m, 2);
	j = snapshot(r);
	assert_field(j, "connections.0.close.code", "1005");
	assert_field(j, "connections.0.messages.0.code", "null");
	free(j);
	registry_free(r);
}

Test(registry, a_socket_ending_without_a_close_frame_reads_1006)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t id = open_ws(r, REGISTRY_SERVER, 1);
	char *j;

	registry_closed(r, id, 3);
	registry_closed(r, id, 9); /* only the first end counts */
	j = snapshot(r);
	assert_field(j, "connections.0.state", "\"closed\"");
	assert_field(j, "connections.0.close",
		     "{\"code\": 1006, \"reason\": null, \"by\": null}");
	assert_field(j, "connections.0.closed_at", "3.000000");
	assert_field(j, "totals.closed", "1");
	free(j);
	registry_free(r);
}

Test(registry, ids_are_distinct_and_increasing)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t a = open_conn(r, REGISTRY_SERVER, 1);
	uint64_t b = open_conn(r, REGISTRY_SERVER, 1);
	uint64_t c = open_conn(r, REGISTRY_CLIENT, 1);

	cr_assert(a > 0 && a < b && b < c);
	registry_free(r);
}

Test(registry, calls_with_unknown_ids_change_nothing_but_totals)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	char *j;

	answer(r, 77, 101, 1);
	registry_closed(r, 77, 2);
	registry_error(r, 77, REGISTRY_SENT, WS_ERR_GAP);
	record(r, 77, REGISTRY_SENT, text("hi"), 2);
	j = snapshot(r);
	assert_field(j, "connections", "[]");
	assert_field(j, "totals.messages_sent", "1");
	assert_field(j, "totals.closed", "0");
	free(j);
	registry_free(r);
}

/* ---- max_connections, eviction, ttl ------------------------------------- */

Test(registry, a_full_table_evicts_the_connection_that_closed_first)
{
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t a, b, c, d, e;
	char *j;

	cfg.max_connections = 3;
	r = new_registry(&cfg);
	a = open_ws(r, REGISTRY_SERVER, 1);
	b = open_ws(r, REGISTRY_SERVER, 2);
	c = open_ws(r, REGISTRY_SERVER, 3);
	registry_closed(r, b, 10); /* b ended before a */
	registry_closed(r, a, 11);
	d = open_conn(r, REGISTRY_SERVER, 12);
	cr_assert_gt(d, c);
	j = snapshot(r);
	assert_field(j, "connections.0.id", "\"1\"");
	assert_field(j, "connections.1.id", "\"3\"");
	assert_field(j, "connections.2.id", "\"4\"");
	assert_field(j, "totals.evicted", "1");
	free(j);
	e = open_conn(r, REGISTRY_SERVER, 13);
	cr_assert_gt(e, d);
	j = snapshot(r);
	assert_field(j, "connections.0.id", "\"3\"");
	assert_field(j, "totals.evicted", "2");
	assert_field(j, "totals.tracked", "3");
	free(j);
	registry_free(r);
}

Test(registry, open_connections_are_never_evicted_and_extras_are_counted)
{
	struct registry_config cfg = config();
	struct registry *r;
	char *j;

	cfg.max_connections = 2;
	r = new_registry(&cfg);
	open_ws(r, REGISTRY_SERVER, 1);
	open_conn(r, REGISTRY_SERVER, 2); /* connecting counts as open */
	cr_assert_eq(open_conn(r, REGISTRY_SERVER, 3), 0);
	cr_assert_eq(open_conn(r, REGISTRY_SERVER, 4), 0);
	/* The untracked one's traffic still reaches the totals. */
	record(r, 0, REGISTRY_RECEIVED, text("hello"), 5);
	registry_wire_bytes(r, 0, REGISTRY_RECEIVED, 11);
	j = snapshot(r);
	assert_field(j, "totals.connections", "4");
	assert_field(j, "totals.untracked", "2");
	assert_field(j, "totals.evicted", "0");
	assert_field(j, "totals.active", "2");
	assert_field(j, "totals.messages_received", "1");
	assert_field(j, "totals.bytes_received", "5");
	assert_field(j, "totals.wire_bytes_received", "11");
	assert_field(j, "connections.0.received.messages", "0");
	free(j);
	registry_free(r);
}

Test(registry, closed_connections_expire_after_ttl)
{
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t a, b;
	char *j;

	cfg.ttl = 10;
	r = new_registry(&cfg);
	a = open_ws(r, REGISTRY_SERVER, 1);
	b = open_ws(r, REGISTRY_SERVER, 2);
	open_ws(r, REGISTRY_SERVER, 3);
	registry_closed(r, a, 100);
	registry_closed(r, b, 105);
	cr_assert_eq(registry_expire(r, 109.9), 0);
	cr_assert_eq(registry_expire(r, 110), 1);
	cr_assert_eq(registry_expire(r, 114), 0);
	cr_assert_eq(registry_expire(r, 1e9), 1);
	j = snapshot(r);
	assert_field(j, "totals.expired", "2");
	assert_field(j, "totals.tracked", "1");
	assert_field(j, "connections.0.id", "\"3\"");
	assert_field(j, "connections.0.state", "\"open\"");
	free(j);
	registry_free(r);
}

/* ---- rings and memory caps ---------------------------------------------- */

Test(registry, the_ring_keeps_the_last_max_messages_and_counts_the_rest)
{
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t id;
	char *j;

	cfg.max_messages = 5;
	r = new_registry(&cfg);
	id = open_ws(r, REGISTRY_SERVER, 1);
	for (int i = 0; i < 12; i++) {
		char s[16];

		snprintf(s, sizeof(s), "m%d", i);
		record(r, id, REGISTRY_RECEIVED, text(s), 2 + i);
	}
	j = snapshot(r);
	assert_field(j, "connections.0.messages_dropped", "7");
	assert_field(j, "connections.0.received.messages", "12");
	assert_field(j, "connections.0.messages.0.seq", "8");
	assert_field(j, "connections.0.messages.0.text", "\"m7\"");
	assert_field(j, "connections.0.messages.4.text", "\"m11\"");
	assert_field(j, "connections.0.messages.5", "(absent)");
	free(j);
	registry_free(r);
}

/* n messages of 1 KiB on id; memory_used never above cap. */
static void flow_kib(struct registry *r, uint64_t id, int n, size_t cap)
{
	static char kib[1025];

	memset(kib, 'x', 1024);
	for (int i = 0; i < n; i++) {
		record(r, id, REGISTRY_SENT, text(kib), i);
		cr_assert_leq(registry_memory_used(r), cap);
	}
}

Test(registry, a_new_connection_reclaims_closed_ones_past_their_ttl)
{
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t a, b;
	char *j;

	cfg.ttl = 10;
	r = new_registry(&cfg);
	a = open_ws(r, REGISTRY_SERVER, 1);
	b = open_ws(r, REGISTRY_SERVER, 2);
	flow_kib(r, a, 3, cfg.max_memory);
	registry_closed(r, a, 100);
	registry_closed(r, b, 105);
	cr_assert_gt(registry_memory_used(r), 3 * 1024);
	/* No snapshot asked for: opening a connection at 110 drops a (ended
	 * at 100) with its data, and keeps b (ended at 105). */
	open_ws(r, REGISTRY_SERVER, 110);
	cr_assert_eq(registry_memory_used(r), 0);
	j = snapshot(r);
	assert_field(j, "totals.expired", "1");
	assert_field(j, "totals.tracked", "2");
	assert_field(j, "connections.0.id", "\"2\"");
	assert_field(j, "connections.1.id", "\"3\"");
	free(j);
	registry_free(r);
}

Test(registry, connections_opening_expire_at_most_once_a_second)
{
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t a, b;
	char *j;

	cfg.ttl = 1;
	r = new_registry(&cfg);
	a = open_ws(r, REGISTRY_SERVER, 100); /* expiry ran at 100 */
	b = open_ws(r, REGISTRY_SERVER, 100.2);
	registry_closed(r, a, 98.9); /* past its ttl from 99.9 on */
	registry_closed(r, b, 99.0); /* from 100.0 on */
	/* Within the second after 100: both are old enough, neither goes. */
	open_ws(r, REGISTRY_SERVER, 100.5);
	open_ws(r, REGISTRY_SERVER, 100.99);
	j = snapshot(r);
	assert_field(j, "totals.expired", "0");
	assert_field(j, "totals.tracked", "4");
	free(j);
	/* A second after the last expiry, the next one takes both. */
	open_ws(r, REGISTRY_SERVER, 101);
	j = snapshot(r);
	assert_field(j, "totals.expired", "2");
	assert_field(j, "totals.tracked", "3");
	assert_field(j, "connections.0.id", "\"3\"");
	free(j);
	registry_free(r);
}

Test(registry, a_clock_gone_back_does_not_hold_expiry_off)
{
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t a;
	char *j;

	cfg.ttl = 1;
	r = new_registry(&cfg);
	open_ws(r, REGISTRY_SERVER, 1000); /* expiry ran at 1000 */
	/* The wall clock is set back by 900 s. */
	a = open_ws(r, REGISTRY_SERVER, 100);
	registry_closed(r, a, 100);
	open_ws(r, REGISTRY_SERVER, 101.5);
	j = snapshot(r);
	assert_field(j, "totals.expired", "1");
	assert_field(j, "totals.tracked", "2");
	free(j);
	registry_free(r);
}

Test(registry, a_connection_past_its_memory_cap_drops_its_oldest_text_first)
{
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t id;
	char *j;

	cfg.max_conn_memory = 4096;
	r = new_registry(&cfg);
	id = open_ws(r, REGISTRY_SERVER, 1);
	flow_kib(r, id, 10, 4096);
	cr_assert_gt(registry_memory_used(r), 3 * 1024);
	j = snapshot(r);
	/* 3 blocks of 1 KiB fit under 4 KiB; the 7 before lost their text. */
	assert_field(j, "connections.0.messages.0.text_dropped", "true");
	assert_field(j, "connections.0.messages.0.text", "(absent)");
	assert_field(j, "connections.0.messages.6.text_dropped", "true");
	assert_field(j, "connections.0.messages.7.text_dropped", "false");
	assert_field(j, "connections.0.messages.9.size", "1024");
	assert_field(j, "connections.0.messages_dropped", "0");
	free(j);
	registry_free(r);
}

/* Reports that the caller holds bytes for connection id, inflate of them
 * inflate state. */
static void report_capture(struct registry *r, uint64_t id, size_t bytes,
			   size_t inflate)
{
	struct registry_batch b;

	registry_batch_begin(r, &b, id);
	registry_batch_capture_memory(&b, bytes, inflate);
	registry_batch_end(&b);
}

Test(registry, what_the_caller_holds_growing_gives_up_the_oldest_text)
{
	/* Stored text fills the connection's cap; then the caller's own
	 * buffers grow (an inflate window, say): the oldest text goes until
	 * everything held is within the cap again, the newest stays. */
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t id;
	char *j;

	cfg.max_conn_held = 64 << 10;
	r = new_registry(&cfg);
	id = open_ws(r, REGISTRY_SERVER, 1);
	flow_kib(r, id, 60, 64 << 10);
	cr_assert_gt(registry_memory_held(r), 56 << 10);
	report_capture(r, id, 40 << 10, 0);
	cr_assert_leq(registry_memory_held(r), 64 << 10);
	j = snapshot(r);
	assert_field(j, "connections.0.messages.0.text_dropped", "true");
	assert_field(j, "connections.0.messages.30.text_dropped", "true");
	assert_field(j, "connections.0.messages.59.text_dropped", "false");
	free(j);
	/* Shrinking gives nothing back but room. */
	report_capture(r, id, 1 << 10, 0);
	j = snapshot(r);
	assert_field(j, "connections.0.messages.59.text_dropped", "false");
	free(j);
	registry_free(r);
}

Test(registry, inflate_state_counts_in_all_but_not_against_a_connections_room)
{
	/* 40 KiB reported, 36 KiB of it inflate state: the connection still
	 * has its whole room for text under max_conn_held, while
	 * everything held, inflate state included, stays under max_held. */
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t id;
	char *j;

	cfg.max_conn_held = 64 << 10;
	cfg.max_held = 96 << 10;
	r = new_registry(&cfg);
	id = open_ws(r, REGISTRY_SERVER, 1);
	report_capture(r, id, 40 << 10, 36 << 10);
	flow_kib(r, id, 50, 64 << 10);
	cr_assert_gt(registry_memory_used(r), 48 << 10,
		     "the inflate state took no room from the text");
	cr_assert_gt(registry_memory_held(r), 64 << 10);
	j = snapshot(r);
	assert_field(j, "connections.0.messages.0.text_dropped", "false");
	free(j);
	/* The registry-wide cap counts it: more text, the oldest goes. */
	flow_kib(r, id, 50, 64 << 10);
	cr_assert_leq(registry_memory_held(r), 96 << 10);
	j = snapshot(r);
	assert_field(j, "connections.0.messages.40.text_dropped", "true");
	assert_field(j, "connections.0.messages.99.text_dropped", "false");
	free(j);
	registry_free(r);
}

Test(registry, ten_thousand_kib_messages_stay_under_both_memory_caps)
{
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t ids[4];
	char want[32];
	char *j;

	cfg.max_memory = 200 << 10;
	cfg.max_conn_memory = 100 << 10;
	r = new_registry(&cfg);
	for (int c = 0; c < 4; c++)
		ids[c] = open_ws(r, REGISTRY_SERVER, 1);
	for (int c = 0; c < 4; c++)
		flow_kib(r, ids[c], 2500, 200 << 10);
	cr_assert_gt(registry_memory_used(r), 190 << 10);
	j = snapshot(r);
	/* The global cap took the oldest data first: the first connection's
	 * ring lost all its text, the second its oldest, the last none. */
	assert_field(j, "connections.0.messages.99.text_dropped", "true");
	assert_field(j, "connections.1.messages.0.text_dropped", "true");
	assert_field(j, "connections.2.messages.99.text_dropped", "false");
	assert_field(j, "connections.3.messages.10.text_dropped", "false");
	assert_field(j, "connections.3.messages.99.text_dropped", "false");
	assert_field(j, "connections.0.messages_dropped", "2400");
	assert_field(j, "totals.messages_sent", "10000");
	assert_field(j, "totals.bytes_sent", "10240000");
	snprintf(want, sizeof(want), "%zu", registry_memory_used(r));
	assert_field(j, "totals.memory_used", want);
	free(j);
	registry_free(r);
}

Test(registry, the_registry_cap_drops_the_oldest_data_of_any_connection)
{
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t a, b;
	char *j;

	cfg.max_memory = 3 * 1100; /* three 1 KiB blocks */
	r = new_registry(&cfg);
	a = open_ws(r, REGISTRY_SERVER, 1);
	b = open_ws(r, REGISTRY_SERVER, 1);
	flow_kib(r, a, 2, cfg.max_memory); /* a: seq 1, 2 */
	flow_kib(r, b, 1, cfg.max_memory); /* b: seq 3 */
	flow_kib(r, a, 1, cfg.max_memory); /* a: seq 4 drops seq 1 */
	flow_kib(r, b, 1, cfg.max_memory); /* b: seq 5 drops seq 2 */
	j = snapshot(r);
	assert_field(j, "connections.0.messages.0.text_dropped", "true");
	assert_field(j, "connections.0.messages.1.text_dropped", "true");
	assert_field(j, "connections.0.messages.2.text_dropped", "false");
	assert_field(j, "connections.1.messages.0.text_dropped", "false");
	assert_field(j, "connections.1.messages.1.text_dropped", "false");
	free(j);
	registry_free(r);
}

/* ---- the registry-wide cap against a model ---------------------------- */

#define MODEL_CONNS 6
#define MODEL_RING 8

struct model_msg {
	uint64_t seq;
	size_t cost; /* 0: nothing stored, or dropped */
};

struct model_conn {
	uint64_t id;
	struct model_msg ring[MODEL_RING]; /* oldest first */
	unsigned len;
};

struct model {
	struct model_conn conns[MODEL_CONNS];
	size_t mem, cap;
};

/* Gives up the stored block of the smallest seq in the whole model. */
static bool model_drop_oldest(struct model *m)
{
	struct model_msg *oldest = NULL;

	for (int i = 0; i < MODEL_CONNS; i++)
		for (unsigned k = 0; k < m->conns[i].len; k++) {
			struct model_msg *g = &m->conns[i].ring[k];
			if (g->cost && (!oldest || g->seq < oldest->seq))
				oldest = g;
		}
	if (!oldest)
		return false;
	m->mem -= oldest->cost;
	oldest->cost = 0;
	return true;
}

/* What the registry does with a message of cost to store (registry.h):
 * the ring's oldest goes when it is full, then the registry's oldest
 * stored data until the new one fits. */
static void model_record(struct model *m, struct model_conn *c, uint64_t seq,
			 size_t cost)
{
	if (c->len == MODEL_RING) {
		m->mem -= c->ring[0].cost;
		memmove(c->ring, c->ring + 1, sizeof(c->ring[0]) * --c->len);
	}
	while (m->mem + cost > m->cap && model_drop_oldest(m))
		;
	c->ring[c->len++] = (struct model_msg){seq, cost};
	m->mem += cost;
}

/* The snapshot's rings against the model's: the same messages, each with
 * its text kept or dropped alike. */
static void model_check(struct registry *r, const struct model *m)
{
	char *j = snapshot(r), path[96], want[32];
	int n = 0;

	cr_assert_eq(registry_memory_used(r), m->mem);
	/* Connections are listed by id; the model's slots are not. */
	for (uint64_t id = 1, left = MODEL_CONNS; left > 0; id++) {
		const struct model_conn *c = NULL;
		for (int i = 0; i < MODEL_CONNS; i++)
			if (m->conns[i].id == id)
				c = &m->conns[i];
		if (!c)
			continue;
		left--;
		for (unsigned k = 0; k < c->len; k++) {
			snprintf(path, sizeof(path),
				 "connections.%d.messages.%u.seq", n, k);
			snprintf(want, sizeof(want), "%llu",
				 (unsigned long long)c->ring[k].seq);
			assert_field(j, path, want);
			snprintf(path, sizeof(path),
				 "connections.%d.messages.%u.text_dropped", n,
				 k);
			assert_field(j, path, c->ring[k].cost ? "false" : "true");
		}
		n++;
	}
	free(j);
}

/* What storing n bytes of text counts in memory_used, from a registry of
 * its own. */
static size_t stored_cost(size_t n)
{
	static char buf[4096];
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t id = open_ws(r, REGISTRY_SERVER, 1);
	size_t cost;

	cr_assert_lt(n, sizeof(buf));
	memset(buf, 'c', n);
	buf[n] = '\0';
	record(r, id, REGISTRY_SENT, text(buf), 1);
	cost = registry_memory_used(r);
	cr_assert_gt(cost, n);
	registry_free(r);
	return cost;
}

Test(registry, the_registry_cap_keeps_exactly_the_newest_data_of_all)
{
	/* Sizes whose blocks never stand in for one another (a block given
	 * up is reused only when its size suits): the model can then count
	 * what the registry counts. */
	static const size_t sizes[] = {100, 1000};
	static char text_buf[1001];
	struct registry_config cfg = config();
	struct model m = {.cap = 5000};
	uint64_t seed = 0x2545f4914f6cdd1du, seq = 0;
	double now = 1;
	struct registry *r;

	cfg.max_messages = MODEL_RING;
	cfg.max_memory = m.cap;
	cfg.max_held = cfg.max_conn_held = (size_t)1 << 40;
	cfg.ttl = 0;
	r = new_registry(&cfg);
	for (int i = 0; i < MODEL_CONNS; i++)
		m.conns[i].id = open_ws(r, REGISTRY_SERVER, now);
	for (int step = 0; step < 3000; step++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		struct model_conn *c = &m.conns[seed % MODEL_CONNS];
		size_t n = sizes[(seed >> 8) % 2];

		if ((seed >> 16) % 50 == 0) {
			/* The connection leaves (ttl 0) with all it holds,
			 * and a new one takes its place. */
			registry_closed(r, c->id, now);
			cr_assert_eq(registry_expire(r, now + 1), 1);
			for (unsigned k = 0; k < c->len; k++)
				m.mem -= c->ring[k].cost;
			*c = (struct model_conn){
			    .id = open_ws(r, REGISTRY_SERVER, now)};
			continue;
		}
		memset(text_buf, 'a' + step % 26, n);
		text_buf[n] = '\0';
		record(r, c->id, REGISTRY_SENT, text(text_buf), now);
		model_record(&m, c, ++seq, stored_cost(n));
		now += 0.001;
		if (step % 10 == 0)
			model_check(r, &m);
	}
	model_check(r, &m);
	registry_free(r);
}

Test(registry, data_larger_than_a_cap_is_never_stored)
{
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t id;
	char *j;

	cfg.max_conn_memory = 512;
	r = new_registry(&cfg);
	id = open_ws(r, REGISTRY_SERVER, 1);
	record(r, id, REGISTRY_SENT, text("small"), 1);
	flow_kib(r, id, 1, 512);
	j = snapshot(r);
	assert_field(j, "connections.0.messages.0.text", "\"small\"");
	assert_field(j, "connections.0.messages.1.text_dropped", "true");
	assert_field(j, "connections.0.messages.1.text", "(absent)");
	free(j);
	registry_free(r);
}

Test(registry, closing_a_connection_keeps_its_data_until_it_leaves)
{
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t id;

	cfg.ttl = 1;
	r = new_registry(&cfg);
	id = open_ws(r, REGISTRY_SERVER, 1);
	flow_kib(r, id, 3, cfg.max_memory);
	registry_closed(r, id, 5);
	cr_assert_gt(registry_memory_used(r), 3 * 1024);
	cr_assert_eq(registry_expire(r, 6), 1);
	cr_assert_eq(registry_memory_used(r), 0);
	registry_free(r);
}

Test(registry, text_is_kept_up_to_max_message_size_and_flagged_truncated)
{
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t id;
	char *j;

	cfg.max_message_size = 4;
	r = new_registry(&cfg);
	id = open_ws(r, REGISTRY_SERVER, 1);
	record(r, id, REGISTRY_SENT, text("abcdefgh"), 1);
	record(r, id, REGISTRY_SENT, text("abc"), 1);
	j = snapshot(r);
	assert_field(j, "connections.0.messages.0.text", "\"abcd\"");
	assert_field(j, "connections.0.messages.0.truncated", "true");
	assert_field(j, "connections.0.messages.0.size", "8");
	assert_field(j, "connections.0.messages.1.truncated", "false");
	free(j);
	registry_free(r);
}

Test(registry, a_message_handed_out_masked_is_stored_unmasked)
{
	/* ws_decoder's borrow_masked: data still masked as on the wire. */
	static const uint8_t key[4] = {0x01, 0x80, 0x7f, 0xff};
	static const uint8_t bin[] = {0, 1, 2, 0xff, 0xfe};
	const char *plain = "hello, \xc3\xa9t\xc3\xa9";
	uint8_t wire[32];
	struct registry_config cfg = config();
	struct registry *r;
	struct ws_message m;
	uint64_t id;
	char *j;

	cfg.show_binary = true;
	cfg.max_message_size = 9; /* a prefix: "hello, " and one character */
	r = new_registry(&cfg);
	id = open_ws(r, REGISTRY_SERVER, 1);
	for (size_t i = 0; i < strlen(plain); i++)
		wire[i] = (uint8_t)plain[i] ^ key[i % 4];
	m = data_msg(0x1, wire, strlen(plain));
	m.masked = true;
	memcpy(m.mask, key, 4);
	record(r, id, REGISTRY_RECEIVED, m, 1);
	for (size_t i = 0; i < sizeof(bin); i++)
		wire[i] = bin[i] ^ key[i % 4];
	m = data_msg(0x2, wire, sizeof(bin));
	m.masked = true;
	memcpy(m.mask, key, 4);
	record(r, id, REGISTRY_RECEIVED, m, 1);
	j = snapshot(r);
	assert_field(j, "connections.0.messages.0.text", "\"hello, \xc3\xa9\"");
	assert_field(j, "connections.0.messages.0.truncated", "true");
	assert_field(j, "connections.0.messages.1.hex", "\"000102fffe\"");
	free(j);
	registry_free(r);
}

Test(registry, binary_is_previewed_only_when_shown)
{
	static const uint8_t bin[] = {0, 1, 2, 0xff, 0xfe};
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t id;
	char *j;

	r = new_registry(&cfg);
	id = open_ws(r, REGISTRY_SERVER, 1);
	record(r, id, REGISTRY_SENT, data_msg(0x2, bin, 5), 1);
	j = snapshot(r);
	assert_field(j, "connections.0.messages.0.hex", "(absent)");
	assert_field(j, "connections.0.messages.0.truncated", "false");
	assert_field(j, "connections.0.messages.0.text_dropped", "false");
	free(j);
	registry_free(r);

	cfg.show_binary = true;
	cfg.binary_preview = 3;
	r = new_registry(&cfg);
	id = open_ws(r, REGISTRY_SERVER, 1);
	record(r, id, REGISTRY_SENT, data_msg(0x2, bin, 5), 1);
	j = snapshot(r);
	assert_field(j, "connections.0.messages.0.hex", "\"000102\"");
	assert_field(j, "connections.0.messages.0.truncated", "true");
	free(j);
	registry_free(r);
}

Test(registry, metadata_capture_counts_everything_and_keeps_no_content)
{
	struct registry_config cfg = config();
	struct registry *r;
	uint64_t id;
	char *j;

	cfg.metadata_only = true;
	cfg.show_binary = true;
	r = new_registry(&cfg);
	id = open_ws(r, REGISTRY_SERVER, 1);
	record(r, id, REGISTRY_SENT, text("secret"), 1);
	record(r, id, REGISTRY_SENT, data_msg(0x9, "p", 1), 1);
	cr_assert_eq(registry_memory_used(r), 0);
	j = snapshot(r);
	assert_field(j, "connections.0.messages.0.text", "(absent)");
	assert_field(j, "connections.0.messages.0.size", "6");
	assert_field(j, "connections.0.messages.1.text", "(absent)");
	assert_field(j, "config.capture", "\"metadata\"");
	free(j);
	registry_free(r);
}

/* ---- counters ----------------------------------------------------------- */

Test(registry, counters_add_up_per_direction_and_in_the_totals)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t id = open_ws(r, REGISTRY_SERVER, 1);
	struct ws_message big = text("0123456789");
	char *j;

	big.frames = 3;
	record(r, id, REGISTRY_SENT, big, 2);
	record(r, id, REGISTRY_SENT, text("ab"), 2);
	record(r, id, REGISTRY_RECEIVED, text("xyz"), 2);
	registry_wire_bytes(r, id, REGISTRY_SENT, 30);
	registry_wire_bytes(r, id, REGISTRY_RECEIVED, 9);
	j = snapshot(r);
	assert_field(j, "connections.0.sent",
		     "{\"messages\": 2, \"bytes\": 12, \"frames\": 4, "
		     "\"wire_bytes\": 30}");
	assert_field(j, "connections.0.received",
		     "{\"messages\": 1, \"bytes\": 3, \"frames\": 1, "
		     "\"wire_bytes\": 9}");
	assert_field(j, "totals.messages_sent", "2");
	assert_field(j, "totals.messages_received", "1");
	assert_field(j, "totals.bytes_sent", "12");
	assert_field(j, "totals.bytes_received", "3");
	assert_field(j, "totals.frames_sent", "4");
	assert_field(j, "totals.by_type.sent.text", "2");
	assert_field(j, "connections.0.messages.0.frames", "3");
	free(j);
	registry_free(r);
}

Test(registry, seq_numbers_run_across_connections)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t a = open_ws(r, REGISTRY_SERVER, 1);
	uint64_t b = open_ws(r, REGISTRY_SERVER, 1);
	char *j;

	record(r, a, REGISTRY_SENT, text("1"), 1);
	record(r, b, REGISTRY_SENT, text("2"), 1);
	record(r, a, REGISTRY_SENT, text("3"), 1);
	j = snapshot(r);
	assert_field(j, "connections.0.messages.0.seq", "1");
	assert_field(j, "connections.1.messages.0.seq", "2");
	assert_field(j, "connections.0.messages.1.seq", "3");
	free(j);
	registry_free(r);
}

/* ---- ping round-trip times ---------------------------------------------- */

Test(registry, a_pong_answering_a_ping_either_way_gives_an_rtt_sample)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t id = open_ws(r, REGISTRY_SERVER, 1);
	char *j;

	/* We ping, the peer answers in 2 ms. */
	record(r, id, REGISTRY_SENT, data_msg(0x9, "a1", 2), 10.000);
	record(r, id, REGISTRY_RECEIVED, data_msg(0xA, "a1", 2), 10.002);
	/* The peer pings, we answer in 6 ms. */
	record(r, id, REGISTRY_RECEIVED, data_msg(0x9, "b", 1), 11.000);
	record(r, id, REGISTRY_SENT, data_msg(0xA, "b", 1), 11.006);
	j = snapshot(r);
	assert_field(j, "connections.0.rtt_ms",
		     "{\"last\": 6.000, \"min\": 2.000, \"avg\": 4.000, "
		     "\"max\": 6.000, \"samples\": 2}");
	free(j);
	registry_free(r);
}

Test(registry, pongs_that_answer_no_ping_give_no_sample)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t id = open_ws(r, REGISTRY_SERVER, 1);
	char *j;

	record(r, id, REGISTRY_SENT, data_msg(0x9, "x", 1), 1);
	/* Other payload; same direction as the ping; unsolicited. */
	record(r, id, REGISTRY_RECEIVED, data_msg(0xA, "y", 1), 2);
	record(r, id, REGISTRY_SENT, data_msg(0xA, "x", 1), 2);
	record(r, id, REGISTRY_RECEIVED, data_msg(0xA, "", 0), 2);
	j = snapshot(r);
	assert_field(j, "connections.0.rtt_ms", "null");
	free(j);
	/* A pong answers a ping once. */
	record(r, id, REGISTRY_RECEIVED, data_msg(0xA, "x", 1), 1.5);
	record(r, id, REGISTRY_RECEIVED, data_msg(0xA, "x", 1), 1.7);
	j = snapshot(r);
	assert_field(j, "connections.0.rtt_ms.samples", "1");
	assert_field(j, "connections.0.rtt_ms.last", "500.000");
	free(j);
	registry_free(r);
}

Test(registry, a_pong_answers_the_latest_of_equal_pings)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t id = open_ws(r, REGISTRY_SERVER, 1);
	char *j;

	record(r, id, REGISTRY_SENT, data_msg(0x9, "", 0), 1.0);
	record(r, id, REGISTRY_SENT, data_msg(0x9, "", 0), 2.0);
	record(r, id, REGISTRY_RECEIVED, data_msg(0xA, "", 0), 2.001);
	record(r, id, REGISTRY_RECEIVED, data_msg(0xA, "", 0), 2.5);
	j = snapshot(r);
	assert_field(j, "connections.0.rtt_ms.samples", "1");
	assert_field(j, "connections.0.rtt_ms.last", "1.000");
	free(j);
	registry_free(r);
}

/* ---- errors and the circuit breaker ------------------------------------- */

Test(registry, the_first_decoding_error_is_kept_with_its_direction)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t id = open_ws(r, REGISTRY_SERVER, 1);
	char want[300];
	char *j;

	j = snapshot(r);
	assert_field(j, "connections.0.error", "null");
	assert_field(j, "connections.0.error_name", "null");
	free(j);
	registry_error(r, id, REGISTRY_RECEIVED, WS_ERR_RESERVED_OPCODE);
	registry_error(r, id, REGISTRY_SENT, WS_ERR_GAP);
	j = snapshot(r);
	snprintf(want, sizeof(want), "\"received: %s\"",
		 ws_strerror(WS_ERR_RESERVED_OPCODE));
	assert_field(j, "connections.0.error", want);
	assert_field(j, "connections.0.error_name", "\"reserved_opcode\"");
	assert_field(j, "totals.errors", "2");
	free(j);
	registry_free(r);
}

Test(registry, disabling_reports_the_first_reason)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	char *j = snapshot(r);

	assert_field(j, "tracking.enabled", "true");
	assert_field(j, "tracking.reason", "null");
	assert_field(j, "tracking.faults", "0");
	free(j);
	cr_assert(registry_enabled(r));
	registry_disable(r, "decoding took 12% of CPU");
	registry_disable(r, "second");
	cr_assert_not(registry_enabled(r));
	j = snapshot(r);
	assert_field(j, "tracking.enabled", "false");
	assert_field(j, "tracking.reason", "\"decoding took 12% of CPU\"");
	assert_field(j, "tracking.faults", "0");
	free(j);
	registry_free(r);
}

/* ---- batch API ---------------------------------------------------------- */

Test(registry, a_batch_records_several_messages_under_one_lock)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	uint64_t id = open_ws(r, REGISTRY_SERVER, 1);
	struct registry_batch b;
	uint8_t buf[128];
	char *j;

	registry_batch_begin(r, &b, id);
	cr_assert_not_null(b.conn);
	registry_batch_message(&b, REGISTRY_RECEIVED, &(struct ws_message){
		.opcode = 0x1, .utf8_valid = true, .frames = 1, .size = 2,
		.data = (const uint8_t *)"hi", .kept = 2}, 2);
	registry_batch_message(&b, REGISTRY_RECEIVED,
			       &(struct ws_message){.opcode = 0x2,
						    .frames = 2, .size = 7},
			       2);
	{
		struct ws_message c = close_msg(buf, 1000, "");

		registry_batch_message(&b, REGISTRY_RECEIVED, &c, 2);
	}
	registry_batch_end(&b);
	j = snapshot(r);
	assert_field(j, "connections.0.received.messages", "3");
	assert_field(j, "connections.0.received.frames", "4");
	assert_field(j, "connections.0.state", "\"closing\"");
	assert_field(j, "connections.0.messages.0.text", "\"hi\"");
	assert_field(j, "connections.0.messages.1.type", "\"binary\"");
	assert_field(j, "connections.0.messages.2.type", "\"close\"");
	free(j);
	registry_free(r);
}

Test(registry, a_batch_on_id_0_counts_only_the_totals)
{
	struct registry_config cfg = config();
	struct registry *r = new_registry(&cfg);
	struct ws_message m[2] = {text("abc"), text("de")};
	struct registry_batch b;
	char *j;

	open_ws(r, REGISTRY_SERVER, 1);
	registry_batch_begin(r, &b, 0);
	cr_assert_null(b.conn);
	registry_batch_end(&b);
	registry_messages(r, 0, REGISTRY_SENT, m, 2, 1);
	j = snapshot(r);
	assert_field(j, "totals.messages_sent", "2");
	assert_field(j, "totals.bytes_sent", "5");
	assert_field(j, "connections.0.sent.messages", "0");
	free(j);
	registry_free(r);
}

/* ---- threads ------------------------------------------------------------ */

#define THREADS 4
#define CONNS_PER_THREAD 8
#define MESSAGES_PER_CONN 200

static void *traffic(void *arg)
{
	struct registry *r = arg;

	for (int c = 0; c < CONNS_PER_THREAD; c++) {
		uint64_t id = open_conn(r, REGISTRY_SERVER, 1);
		struct ws_message m[2] = {text("ping?"), text("pong!!")};
		uint8_t buf[128];

		answer(r, id, 101, 1);
		for (int i = 0; i < MESSAGES_PER_CONN; i++) {
			registry_messages(r, id, REGISTRY_RECEIVED, &m[0], 1,
					  2);
			registry_messages(r, id, REGISTRY_SENT, &m[1], 1, 2);
			registry_wire_bytes(r, id, REGISTRY_SENT, 8);
		}
		record(r, id, REGISTRY_RECEIVED, close_msg(buf, 1000, ""), 3);
		registry_closed(r, id, 4);
	}
	return NULL;
}

static void *snapshots(void *arg)
{
	struct registry *r = arg;
	struct registry_snapshot_options opt = {.pid = 1, .process = "t",
						.messages = true};

	for (int i = 0; i < 20; i++) {
		size_t len;
		char *j = registry_snapshot_json(r, &opt, &len);

		cr_assert_not_null(j);
		cr_assert(json_check(j, len, NULL, 0));
		free(j);
		registry_expire(r, 0); /* nothing is old enough */
	}
	return NULL;
}

Test(registry, threads_recording_and_snapshotting_at_once_lose_no_count)
{
	struct registry_config cfg = config();
	struct registry *r;
	pthread_t t[THREADS + 1];
	const unsigned conns = THREADS * CONNS_PER_THREAD;
	char want[32];
	char *j;

	cfg.max_connections = conns;
	cfg.max_messages = 50;
	r = new_registry(&cfg);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, traffic, r), 0);
	cr_assert_eq(pthread_create(&t[THREADS], NULL, snapshots, r), 0);
	for (int i = 0; i <= THREADS; i++)
		pthread_join(t[i], NULL);
	j = snapshot(r);
	snprintf(want, sizeof(want), "%u", conns);
	assert_field(j, "totals.connections", want);
	assert_field(j, "totals.closed", want);
	assert_field(j, "totals.tracked", want);
	assert_field(j, "totals.active", "0");
	snprintf(want, sizeof(want), "%u", conns * MESSAGES_PER_CONN);
	assert_field(j, "totals.messages_sent", want);
	snprintf(want, sizeof(want), "%u", conns * (MESSAGES_PER_CONN + 1));
	assert_field(j, "totals.messages_received", want);
	snprintf(want, sizeof(want), "%u", conns * MESSAGES_PER_CONN * 6);
	assert_field(j, "totals.bytes_sent", want);
	snprintf(want, sizeof(want), "%u", conns * MESSAGES_PER_CONN * 8);
	assert_field(j, "totals.wire_bytes_sent", want);
	snprintf(want, sizeof(want), "%u", 2 * MESSAGES_PER_CONN + 1 - 50);
	for (unsigned c = 0; c < conns; c++) {
		char path[64];

		snprintf(path, sizeof(path), "connections.%u.messages_dropped",
			 c);
		assert_field(j, path, want);
	}
	free(j);
	registry_free(r);
}

/* ---- memory per idle connection ----------------------------------------- */

Test(registry, an_idle_open_connection_costs_under_4_kib)
{
	static const char *const names[] = {
		"host", "upgrade", "connection", "sec-websocket-key",
		"sec-websocket-version", "origin", "user-agent", "cookie"};
	static const char *const values[] = {
		"example.com:8080", "websocket", "Upgrade",
		"dGhlIHNhbXBsZSBub25jZQ==", "13", "https://example.com",
		"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101",
		"session=0123456789abcdef0123456789abcdef"};
	struct registry_request req = {
		.fd = 7, .role = REGISTRY_SERVER, .local = "10.0.0.1:8080",
		.peer = "10.0.0.2:40000", .path = "/socket", .query = "v=2",
		.nheaders = 8, .header_names = names, .header_values = values};
	struct registry_response res = {.status = 101,
					.extensions = "permessage-deflate"};
	struct registry_config cfg = config();
	struct registry *r;
	struct mallinfo2 before, after;
	size_t per_conn;
	const int n = 1000;

	cfg.max_connections = n;
	r = new_registry(&cfg);
	before = mallinfo2();
	for (int i = 0; i < n; i++) {
		uint64_t id = registry_open(r, &req, 1);

		cr_assert_gt(id, 0);
		registry_answer(r, id, &res, 1);
		/* Counters and pings are what an idle connection has. */
		registry_wire_bytes(r, id, REGISTRY_SENT, 10);
	}
	after = mallinfo2();
	if (after.uordblks == before.uordblks)
		cr_skip_test("malloc accounting not available (sanitizer)");
	per_conn = (after.uordblks - before.uordblks) / n;
	cr_log_info("bytes per idle open connection: %zu", per_conn);
	cr_assert_leq(per_conn, 4096);
	registry_free(r);
}

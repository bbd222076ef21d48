/*
 * test_registry_faults.c - internal faults and the circuit breaker
 * (registry.h), in the registry and in capture, with real allocation
 * failures: this executable is linked with the linker's --wrap for
 * malloc, calloc, realloc, strdup and ws_decoder_feed, so each test can
 * make the next allocation wsdbg makes fail (or every one), or make the
 * frame decoder break its contract, and watch what follows.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault_wrap.h"
#include "json_check.h"
#include "wsdbg/capture.h"
#include "wsdbg/registry.h"

/* ---- the test's allocator ----------------------------------------------- */


/* Criterion runs each test in a process of its own: plain globals. */
static unsigned fail_in;   /* the fail_in-th allocation from now fails */
static bool fail_all;      /* every allocation fails */
static unsigned failed;    /* allocations failed so far */
static bool decoder_lies;  /* ws_decoder_feed claims one byte too many */

static bool allocation_fails(void)
{
	if (fail_all || (fail_in > 0 && --fail_in == 0)) {
		failed++;
		errno = ENOMEM;
		return true;
	}
	return false;
}

void *__wrap_malloc(size_t n)
{
	return allocation_fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return allocation_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return allocation_fails() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return allocation_fails() ? NULL : __real_strdup(s);
}

enum ws_decode_status __wrap_ws_decoder_feed(struct ws_decoder *d,
					     const uint8_t *buf, size_t len,
					     size_t *consumed,
					     struct ws_message *msg)
{
	enum ws_decode_status st =
		__real_ws_decoder_feed(d, buf, len, consumed, msg);
	if (decoder_lies)
		*consumed = len + 1;
	return st;
}

/* ---- helpers ------------------------------------------------------------ */

static struct registry *new_registry(void)
{
	struct registry_config cfg;
	registry_config_defaults(&cfg);
	struct registry *r = registry_new(&cfg);
	cr_assert_not_null(r);
	return r;
}

static uint64_t open_conn(struct registry *r, const char *path)
{
	struct registry_request req = {.fd = 9, .role = REGISTRY_SERVER,
				       .local = "127.0.0.1:80",
				       .peer = "127.0.0.1:5000",
				       .path = path};
	return registry_open(r, &req, 100.0);
}

static bool answer(struct registry *r, uint64_t id, const char *extensions)
{
	struct registry_response res = {.status = 101,
					.reason = "Switching Protocols",
					.extensions = extensions};
	return registry_answer(r, id, &res, 100.5);
}

static struct ws_message text(const char *s)
{
	return (struct ws_message){.opcode = 0x1, .utf8_valid = true,
				   .frames = 1, .size = strlen(s),
				   .wire_size = strlen(s), .data =
				   (const uint8_t *)s, .kept = strlen(s),
				   .close_code = -1};
}

/* Records one text in a batch; returns the batch's faulted flag. */
static bool record_text(struct registry *r, uint64_t id, const char *s)
{
	struct registry_batch b;
	struct ws_message m = text(s);
	registry_batch_begin(r, &b, id);
	registry_batch_message(&b, REGISTRY_RECEIVED, &m, 101.0);
	registry_batch_end(&b);
	return b.faulted;
}

/* The snapshot, valid JSON; the caller frees it. Taken with allocations
 * working, as the stats server's would be. */
static char *snapshot(struct registry *r)
{
	struct registry_snapshot_options opt = {
		.pid = 42, .process = "test", .taken_at = 5000,
		.messages = true};
	bool was_all = fail_all;
	unsigned was_in = fail_in;
	fail_all = false;
	fail_in = 0;
	size_t len;
	char *json = registry_snapshot_json(r, &opt, &len);
	char err[128];
	fail_all = was_all;
	fail_in = was_in;
	cr_assert_not_null(json);
	cr_assert(json_check(json, len, err, sizeof(err)), "%s", err);
	return json;
}

#define assert_field(json, path, want)                                       \
	cr_assert_str_eq(json_check_field(json, path), want, "%s", path)

/* ---- counting, marking, notices ----------------------------------------- */

Test(registry_faults, a_fault_is_counted_marks_its_connection_and_keeps_tracking)
{
	struct registry *r = new_registry();
	uint64_t id = open_conn(r, "/a");
	uint64_t other = open_conn(r, "/b");

	cr_assert_not(registry_fault(r, REGISTRY_FAULT_INVARIANT, id,
				     "test: the place"));
	char *j = snapshot(r);
	assert_field(j, "tracking.enabled", "true");
	assert_field(j, "tracking.reason", "null");
	assert_field(j, "tracking.faults", "1");
	assert_field(j, "tracking.fault_limit", "10");
	assert_field(j, "tracking.faults_by_kind.broken_invariant", "1");
	assert_field(j, "tracking.faults_by_kind.out_of_memory", "0");
	assert_field(j, "tracking.first_fault_at.broken_invariant",
		     "\"test: the place\"");
	assert_field(j, "tracking.first_fault_at.out_of_memory", "null");
	assert_field(j, "connections.0.fault", "\"broken_invariant\"");
	assert_field(j, "connections.1.fault", "null");
	free(j);
	cr_assert(registry_enabled(r));
	(void)other;
	registry_free(r);
}

Test(registry_faults, each_kind_is_noticed_once_and_only_once)
{
	struct registry *r = new_registry();

	cr_assert_eq(registry_take_notices(r), 0u);
	registry_fault(r, REGISTRY_FAULT_NOMEM, 0, "test: one");
	registry_fault(r, REGISTRY_FAULT_NOMEM, 0, "test: two");
	cr_assert_eq(registry_take_notices(r), 1u << REGISTRY_FAULT_NOMEM);
	cr_assert_eq(registry_take_notices(r), 0u);
	registry_fault(r, REGISTRY_FAULT_NOMEM, 0, "test: three");
	cr_assert_eq(registry_take_notices(r), 0u);
	registry_fault(r, REGISTRY_FAULT_INVARIANT, 0, "test: four");
	cr_assert_eq(registry_take_notices(r), 1u << REGISTRY_FAULT_INVARIANT);
	cr_assert_str_eq(registry_fault_where(r, REGISTRY_FAULT_NOMEM),
			 "test: one");
	cr_assert_str_eq(registry_fault_where(r, REGISTRY_FAULT_INVARIANT),
			 "test: four");
	cr_assert_str_eq(registry_fault_name(REGISTRY_FAULT_NOMEM),
			 "out_of_memory");
	registry_free(r);
}

Test(registry_faults, the_tenth_fault_trips_the_breaker_and_the_snapshot_says_why)
{
	struct registry *r = new_registry();

	for (int i = 1; i < REGISTRY_FAULT_LIMIT; i++)
		cr_assert_not(registry_fault(r, i % 3 ? REGISTRY_FAULT_NOMEM
						      : REGISTRY_FAULT_INVARIANT,
					     0, "test: loop"),
			      "fault %d", i);
	cr_assert(registry_enabled(r));
	cr_assert_eq(registry_take_notices(r), 3u);
	cr_assert(registry_fault(r, REGISTRY_FAULT_NOMEM, 0, "test: last"));
	cr_assert_not(registry_enabled(r));
	cr_assert_eq(registry_take_notices(r), REGISTRY_NOTICE_TRIPPED);
	/* Faults after tracking stopped are not counted, nor noticed. */
	cr_assert_not(registry_fault(r, REGISTRY_FAULT_NOMEM, 0, "test: more"));
	cr_assert_eq(registry_take_notices(r), 0u);

	char *j = snapshot(r);
	assert_field(j, "tracking.enabled", "false");
	assert_field(j, "tracking.faults", "10");
	assert_field(j, "tracking.faults_by_kind.out_of_memory", "7");
	assert_field(j, "tracking.faults_by_kind.broken_invariant", "3");
	assert_field(j, "tracking.reason",
		     "\"10 internal faults (out of memory: 7, broken "
		     "invariant: 3); tracking switched off\"");
	free(j);
	registry_free(r);
}

Test(registry_faults, a_disabled_registry_records_nothing_more_and_still_answers)
{
	struct registry *r = new_registry();
	uint64_t id = open_conn(r, "/kept");
	answer(r, id, NULL);
	record_text(r, id, "before");
	registry_disable(r, "test: off");

	cr_assert_eq(open_conn(r, "/late"), 0);
	record_text(r, id, "after");
	registry_wire_bytes(r, id, REGISTRY_SENT, 99);
	registry_error(r, id, REGISTRY_SENT, WS_ERR_GAP);
	registry_closed(r, id, 200.0);

	char *j = snapshot(r);
	assert_field(j, "tracking.enabled", "false");
	assert_field(j, "tracking.reason", "\"test: off\"");
	assert_field(j, "totals.connections", "1");
	assert_field(j, "totals.messages_received", "1");
	assert_field(j, "totals.wire_bytes_sent", "0");
	assert_field(j, "totals.errors", "0");
	assert_field(j, "connections.0.state", "\"open\"");
	assert_field(j, "connections.0.received.messages", "1");
	assert_field(j, "connections.0.messages.0.text", "\"before\"");
	assert_field(j, "connections.1", "(absent)");
	free(j);
	registry_free(r);
}

/* ---- real allocation failures in the registry ---------------------------- */

Test(registry_faults, a_connection_record_that_cannot_be_allocated_is_a_fault)
{
	struct registry *r = new_registry();

	fail_in = 1; /* the connection record itself */
	uint64_t id = open_conn(r, "/none");
	cr_assert_eq(id, REGISTRY_ID_FAULT);
	cr_assert_eq(failed, 1u);
	char *j = snapshot(r);
	assert_field(j, "tracking.faults", "1");
	assert_field(j, "tracking.first_fault_at.out_of_memory",
		     "\"registry: connection record\"");
	assert_field(j, "totals.connections", "1");
	assert_field(j, "totals.untracked", "1");
	assert_field(j, "connections", "[]");
	free(j);
	/* The id leads nowhere and records nothing. */
	cr_assert(record_text(r, id, "lost"));
	registry_closed(r, id, 3.0);
	j = snapshot(r);
	assert_field(j, "totals.messages_received", "0");
	assert_field(j, "totals.closed", "0");
	free(j);
	registry_free(r);
}

Test(registry_faults, a_connection_table_that_cannot_grow_is_a_fault_not_an_exit)
{
	/* A table that cannot grow must not end the host (uthash's own
	 * default was exit(-1)). Every allocation after the record and its
	 * strings fails here: the table's. */
	struct registry *r = new_registry();

	fail_in = 3;
	uint64_t id = open_conn(r, "/table");
	cr_assert_eq(id, REGISTRY_ID_FAULT);
	cr_assert_eq(failed, 1u);
	char *j = snapshot(r);
	assert_field(j, "tracking.first_fault_at.out_of_memory",
		     "\"registry: connection table\"");
	assert_field(j, "connections", "[]");
	free(j);
	/* Once memory is back, connections are recorded again. */
	id = open_conn(r, "/after");
	cr_assert(id > 0 && id != REGISTRY_ID_FAULT);
	cr_assert(answer(r, id, NULL));
	j = snapshot(r);
	assert_field(j, "connections.0.path", "\"/after\"");
	assert_field(j, "connections.0.id", "\"1\"");
	free(j);
	registry_free(r);
}

Test(registry_faults, an_answer_whose_extensions_cannot_be_kept_faults_the_connection)
{
	struct registry *r = new_registry();
	uint64_t id = open_conn(r, "/x");

	fail_in = 1;
	cr_assert_not(answer(r, id, "permessage-deflate"));
	char *j = snapshot(r);
	assert_field(j, "connections.0.state", "\"open\"");
	assert_field(j, "connections.0.fault", "\"out_of_memory\"");
	assert_field(j, "connections.0.extensions", "null");
	assert_field(j, "tracking.faults", "1");
	free(j);
	/* Its messages are no longer recorded; its end still is. */
	cr_assert(record_text(r, id, "ignored"));
	registry_closed(r, id, 300.0);
	j = snapshot(r);
	assert_field(j, "connections.0.received.messages", "0");
	assert_field(j, "totals.messages_received", "0");
	assert_field(j, "connections.0.state", "\"closed\"");
	free(j);
	registry_free(r);
}

Test(registry_faults, message_data_that_cannot_be_stored_faults_only_its_connection)
{
	struct registry *r = new_registry();
	uint64_t hit = open_conn(r, "/hit");
	uint64_t fine = open_conn(r, "/fine");
	answer(r, hit, NULL);
	answer(r, fine, NULL);
	cr_assert_not(record_text(r, hit, "first"));
	cr_assert_not(record_text(r, fine, "first"));

	fail_in = 1; /* the stored text (the ring exists already) */
	cr_assert(record_text(r, hit, "second"));
	cr_assert_eq(failed, 1u);
	cr_assert(record_text(r, hit, "third"));
	cr_assert_not(record_text(r, fine, "second"));

	char *j = snapshot(r);
	assert_field(j, "connections.0.fault", "\"out_of_memory\"");
	assert_field(j, "connections.0.received.messages", "2");
	assert_field(j, "connections.0.messages.1.text_dropped", "true");
	assert_field(j, "connections.0.messages.2", "(absent)");
	assert_field(j, "connections.1.fault", "null");
	assert_field(j, "connections.1.received.messages", "2");
	assert_field(j, "connections.1.messages.1.text", "\"second\"");
	assert_field(j, "tracking.first_fault_at.out_of_memory",
		     "\"registry: message data\"");
	free(j);
	registry_free(r);
}

Test(registry_faults, a_ring_that_cannot_be_allocated_faults_its_connection)
{
	struct registry *r = new_registry();
	uint64_t id = open_conn(r, "/ring");
	answer(r, id, NULL);

	fail_in = 1; /* the first message's ring */
	cr_assert(record_text(r, id, "no room"));
	char *j = snapshot(r);
	assert_field(j, "connections.0.fault", "\"out_of_memory\"");
	assert_field(j, "connections.0.messages_dropped", "1");
	assert_field(j, "tracking.first_fault_at.out_of_memory",
		     "\"registry: message ring\"");
	free(j);
	registry_free(r);
}

Test(registry_faults, the_breaker_trips_with_every_allocation_failing)
{
	/* Tripping must not need memory: that may be what is short. */
	struct registry *r = new_registry();

	fail_all = true;
	for (int i = 0; i < REGISTRY_FAULT_LIMIT; i++)
		cr_assert_eq(open_conn(r, "/oom"), REGISTRY_ID_FAULT);
	cr_assert_not(registry_enabled(r));
	cr_assert_eq(open_conn(r, "/oom"), 0); /* off: not even counted */
	cr_assert_eq(failed, (unsigned)REGISTRY_FAULT_LIMIT + 1);
	char *j = snapshot(r);
	assert_field(j, "tracking.enabled", "false");
	assert_field(j, "tracking.faults", "10");
	assert_field(j, "totals.connections", "10");
	assert_field(j, "totals.untracked", "10");
	free(j);
	registry_free(r);
}

/* ---- capture: the connection goes through unrecorded --------------------- */

static const char request[] = "GET /c HTTP/1.1\r\n"
			      "Host: h\r\n"
			      "Upgrade: websocket\r\n"
			      "Connection: Upgrade\r\n"
			      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			      "Sec-WebSocket-Version: 13\r\n\r\n";
static const char accepted[] =
	"HTTP/1.1 101 Switching Protocols\r\n"
	"Upgrade: websocket\r\nConnection: Upgrade\r\n"
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
/* RFC 6455 5.7: "Hello" masked, from the client. */
static const uint8_t masked_hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
				       0x7f, 0x9f, 0x4d, 0x51, 0x58};

static void feed(struct capture_stream *s, struct capture_context *ctx,
		 enum registry_dir dir, const void *p, size_t n)
{
	capture_feed(s, ctx, dir, p, n, 100.0);
}

Test(registry_faults, capture_without_memory_for_its_parser_lets_the_stream_pass)
{
	struct registry *r = new_registry();
	struct capture_context ctx = {.registry = r};
	struct capture_stream s;
	capture_init(&s, 5);

	fail_in = 1; /* the request parser */
	feed(&s, &ctx, REGISTRY_RECEIVED, request, strlen(request));
	cr_assert(capture_ignored(&s));
	feed(&s, &ctx, REGISTRY_SENT, accepted, strlen(accepted));
	feed(&s, &ctx, REGISTRY_RECEIVED, masked_hello, sizeof(masked_hello));
	capture_close(&s, &ctx, 200.0);
	char *j = snapshot(r);
	assert_field(j, "tracking.faults", "1");
	assert_field(j, "tracking.first_fault_at.out_of_memory",
		     "\"capture: request parser\"");
	assert_field(j, "totals.connections", "0");
	assert_field(j, "totals.messages_received", "0");
	free(j);
	cr_assert_eq(registry_take_notices(r), 1u << REGISTRY_FAULT_NOMEM);
	registry_free(r);
}

Test(registry_faults, capture_after_a_fault_mid_session_records_the_end_only)
{
	struct registry *r = new_registry();
	struct capture_context ctx = {.registry = r};
	struct capture_stream s;
	capture_init(&s, 5);

	feed(&s, &ctx, REGISTRY_RECEIVED, request, strlen(request));
	feed(&s, &ctx, REGISTRY_SENT, accepted, strlen(accepted));
	feed(&s, &ctx, REGISTRY_RECEIVED, masked_hello, sizeof(masked_hello));
	fail_all = true; /* the second "Hello": its stored text */
	feed(&s, &ctx, REGISTRY_RECEIVED, masked_hello, sizeof(masked_hello));
	cr_assert(capture_ignored(&s));
	fail_all = false;
	feed(&s, &ctx, REGISTRY_RECEIVED, masked_hello, sizeof(masked_hello));
	capture_close(&s, &ctx, 200.0);
	char *j = snapshot(r);
	assert_field(j, "connections.0.fault", "\"out_of_memory\"");
	assert_field(j, "connections.0.received.messages", "2");
	assert_field(j, "connections.0.messages.0.text", "\"Hello\"");
	assert_field(j, "connections.0.messages.1.text_dropped", "true");
	assert_field(j, "connections.0.state", "\"closed\"");
	assert_field(j, "connections.0.close.code", "1006");
	free(j);
	registry_free(r);
}

Test(registry_faults, capture_catches_a_decoder_that_breaks_its_contract)
{
	struct registry *r = new_registry();
	struct capture_context ctx = {.registry = r};
	struct capture_stream s;
	capture_init(&s, 5);

	feed(&s, &ctx, REGISTRY_RECEIVED, request, strlen(request));
	feed(&s, &ctx, REGISTRY_SENT, accepted, strlen(accepted));
	decoder_lies = true;
	feed(&s, &ctx, REGISTRY_RECEIVED, masked_hello, sizeof(masked_hello));
	decoder_lies = false;
	cr_assert(capture_ignored(&s));
	capture_close(&s, &ctx, 200.0);
	char *j = snapshot(r);
	assert_field(j, "connections.0.fault", "\"broken_invariant\"");
	assert_field(j, "connections.0.received.messages", "0");
	assert_field(j, "connections.0.state", "\"closed\"");
	assert_field(j, "tracking.faults_by_kind.broken_invariant", "1");
	assert_field(j, "tracking.first_fault_at.broken_invariant",
		     "\"capture: frame decoder used more than given\"");
	free(j);
	cr_assert_eq(registry_take_notices(r), 1u << REGISTRY_FAULT_INVARIANT);
	registry_free(r);
}

/* test_registry_snapshot.c - the JSON snapshot (schema version 1,
 * DESIGN.md): exact values for a scripted session, the options, hostile
 * strings coming out as valid JSON, and the JSON writer and checker it
 * is tested with. */
#include <criterion/criterion.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/registry/json_writer.h"
#include "json_check.h"
#include "wsdbg/registry.h"

static struct registry_snapshot_options options(void)
{
	return (struct registry_snapshot_options){
		.pid = 4242, .process = "node", .taken_at = 1764000003.5,
		.messages = true};
}

static char *snapshot_with(struct registry *r,
			   const struct registry_snapshot_options *opt)
{
	char err[128];
	size_t len;
	char *json = registry_snapshot_json(r, opt, &len);

	cr_assert_not_null(json);
	cr_assert_eq(strlen(json), len, "no NUL inside the text");
	cr_assert(json_check(json, len, err, sizeof(err)), "%s\n%s", err,
		  json);
	return json;
}

static char *snapshot(struct registry *r)
{
	struct registry_snapshot_options opt = options();

	return snapshot_with(r, &opt);
}

#define assert_field(json, path, want) \
	cr_assert_str_eq(json_check_field(json, path), want, "%s", path)

static struct ws_message msg(uint8_t opcode, const void *p, size_t n)
{
	return (struct ws_message){.opcode = opcode, .utf8_valid = true,
				   .frames = 1, .size = n, .wire_size = n,
				   .data = p, .kept = n, .close_code = -1};
}

static void record(struct registry *r, uint64_t id, enum registry_dir dir,
		   struct ws_message m, double now)
{
	registry_messages(r, id, dir, &m, 1, now);
}

/* DESIGN.md's example session, as the shim would report it. */
static struct registry *scripted_session(void)
{
	static const char *const names[] = {"Host", "Origin", "Cookie",
					     "Sec-WebSocket-Extensions",
					     "sec-websocket-extensions"};
	static const char *const values[] = {
		"localhost:8080", "http://localhost:8080", "sid=hunter2",
		"permessage-deflate", "x-other"};
	struct registry_request req = {
		.fd = 9, .role = REGISTRY_SERVER, .local = "127.0.0.1:8080",
		.peer = "127.0.0.1:51234", .path = "/ws/chat",
		.query = "room=1", .nheaders = 5, .header_names = names,
		.header_values = values};
	struct registry_response res = {.status = 101,
					.extensions = "permessage-deflate"};
	static const uint8_t close_frame[] = {0x03, 0xe8, 'b', 'y', 'e'};
	struct registry_config cfg;
	struct ws_message m;
	struct registry *r;
	uint64_t id;

	registry_config_defaults(&cfg);
	r = registry_new(&cfg);
	cr_assert_not_null(r);
	id = registry_open(r, &req, 1764000000.1);
	registry_answer(r, id, &res, 1764000000.1);
	m = msg(0x1, "{\"type\":\"subscribe\"}", 20);
	m.compressed = true;
	m.inflated = true;
	record(r, id, REGISTRY_RECEIVED, m, 1764000001.234567);
	record(r, id, REGISTRY_SENT, msg(0x9, "hb", 2), 1764000002);
	record(r, id, REGISTRY_RECEIVED, msg(0xA, "hb", 2), 1764000002.00021);
	m = msg(0x8, close_frame, 5);
	m.close_code = 1000;
	m.close_code_valid = true;
	m.close_reason = close_frame + 2;
	m.close_reason_len = 3;
	record(r, id, REGISTRY_RECEIVED, m, 1764000002.3);
	registry_wire_bytes(r, id, REGISTRY_RECEIVED, 60);
	registry_closed(r, id, 1764000002.4);
	return r;
}

Test(registry_snapshot, credentials_in_headers_and_query_are_stored_redacted)
{
	static const char *const names[] = {"Host", "X-Api-Key",
					     "Authorization"};
	static const char *const values[] = {"localhost", "hunter2-key",
					      "Bearer hunter2-bearer"};
	struct registry_request req = {
		.fd = 9, .role = REGISTRY_CLIENT, .local = "127.0.0.1:5000",
		.peer = "127.0.0.1:8080", .path = "/live",
		.query = "room=1&access_token=hunter2-q&v=2", .nheaders = 3,
		.header_names = names, .header_values = values};
	struct registry_config cfg;
	struct registry *r;

	registry_config_defaults(&cfg);
	r = registry_new(&cfg);
	cr_assert_not_null(r);
	cr_assert_gt(registry_open(r, &req, 1764000000.1), 0);
	char *j = snapshot(r);
	assert_field(j, "connections.0.query",
		     "\"room=1&access_token=[redacted]&v=2\"");
	assert_field(j, "connections.0.headers",
		     "{\"host\": \"localhost\", "
		     "\"x-api-key\": \"[redacted]\", "
		     "\"authorization\": \"[redacted]\"}");
	cr_assert_null(strstr(j, "hunter2"), "%s", j);
	free(j);
	registry_free(r);
}

Test(registry_snapshot, a_scripted_session_gives_the_documented_keys)
{
	struct registry *r = scripted_session();
	char *j = snapshot(r);

	assert_field(j, "wsdbg", "1");
	assert_field(j, "pid", "4242");
	assert_field(j, "process", "\"node\"");
	assert_field(j, "taken_at", "1764000003.500000");
	assert_field(j, "config.max_connections", "50");
	assert_field(j, "config.max_messages", "100");
	assert_field(j, "config.max_message_size", "10240");
	assert_field(j, "config.show_binary", "false");
	assert_field(j, "config.binary_preview", "256");
	assert_field(j, "config.ttl", "3600");
	assert_field(j, "config.max_memory", "8388608");
	assert_field(j, "config.inflate", "true");
	assert_field(j, "config.max_inflate", "1048576");
	assert_field(j, "config.capture", "\"full\"");
	assert_field(j, "totals.connections", "1");
	assert_field(j, "totals.active", "0");
	assert_field(j, "totals.closed", "1");
	assert_field(j, "totals.evicted", "0");
	assert_field(j, "totals.untracked", "0");
	assert_field(j, "totals.messages_sent", "1");
	assert_field(j, "totals.messages_received", "3");
	assert_field(j, "totals.bytes_sent", "2");
	assert_field(j, "totals.bytes_received", "27");
	assert_field(j, "totals.inflate_capped_sent", "0");
	assert_field(j, "totals.inflate_capped_received", "0");
	assert_field(j, "totals.not_inflated_sent", "0");
	assert_field(j, "totals.not_inflated_received", "0");
	assert_field(j, "tracking.enabled", "true");

	assert_field(j, "connections.0.id", "\"1\"");
	assert_field(j, "connections.0.fd", "9");
	assert_field(j, "connections.0.role", "\"server\"");
	assert_field(j, "connections.0.state", "\"closed\"");
	assert_field(j, "connections.0.local", "\"127.0.0.1:8080\"");
	assert_field(j, "connections.0.peer", "\"127.0.0.1:51234\"");
	assert_field(j, "connections.0.path", "\"/ws/chat\"");
	assert_field(j, "connections.0.query", "\"room=1\"");
	assert_field(j, "connections.0.headers",
		     "{\"host\": \"localhost:8080\", "
		     "\"origin\": \"http://localhost:8080\", "
		     "\"cookie\": \"[redacted]\", "
		     "\"sec-websocket-extensions\": "
		     "\"permessage-deflate, x-other\"}");
	assert_field(j, "connections.0.subprotocol", "null");
	assert_field(j, "connections.0.extensions", "\"permessage-deflate\"");
	assert_field(j, "connections.0.status", "101");
	assert_field(j, "connections.0.opened_at", "1764000000.100000");
	assert_field(j, "connections.0.closed_at", "1764000002.400000");
	assert_field(j, "connections.0.duration", "2.300000");
	assert_field(j, "connections.0.close",
		     "{\"code\": 1000, \"reason\": \"bye\", \"by\": \"client\"}");
	assert_field(j, "connections.0.sent",
		     "{\"messages\": 1, \"bytes\": 2, \"frames\": 1, "
		     "\"wire_bytes\": 0}");
	assert_field(j, "connections.0.received",
		     "{\"messages\": 3, \"bytes\": 27, \"frames\": 3, "
		     "\"wire_bytes\": 60}");
	assert_field(j, "connections.0.rtt_ms",
		     "{\"last\": 0.210, \"min\": 0.210, \"avg\": 0.210, "
		     "\"max\": 0.210, \"samples\": 1}");
	assert_field(j, "connections.0.messages_dropped", "0");
	assert_field(j, "connections.0.error", "null");
	assert_field(j, "connections.0.messages.0",
		     "{\"seq\": 1, \"t\": 1764000001.234567, "
		     "\"dir\": \"received\", \"type\": \"text\", \"size\": 20, "
		     "\"frames\": 1, \"compressed\": true, "
		     "\"inflated\": true, \"size_is_lower_bound\": false, "
		     "\"truncated\": false, \"utf8_valid\": true, "
		     "\"text\": \"{\\\"type\\\":\\\"subscribe\\\"}\", "
		     "\"text_dropped\": false}");
	assert_field(j, "connections.0.messages.1.type", "\"ping\"");
	assert_field(j, "connections.0.messages.1.dir", "\"sent\"");
	assert_field(j, "connections.0.messages.1.text", "\"hb\"");
	assert_field(j, "connections.0.messages.3",
		     "{\"seq\": 4, \"t\": 1764000002.300000, "
		     "\"dir\": \"received\", \"type\": \"close\", \"size\": 5, "
		     "\"frames\": 1, \"compressed\": false, "
		     "\"truncated\": false, \"code\": 1000, "
		     "\"code_valid\": true, "
		     "\"utf8_valid\": true, \"text\": \"bye\", "
		     "\"text_dropped\": false}");
	free(j);
	registry_free(r);
}

Test(registry_snapshot, a_capped_message_and_one_not_inflated_are_flagged_and_counted)
{
	/* A compressed text inflated up to the cap (1 MiB: its size is a
	 * lower bound, its text a prefix), then, its window lost, a
	 * compressed one not inflated (its size on the wire, no text); an
	 * uncompressed message has neither key. */
	struct registry_request req = {.fd = 5, .path = "/bomb"};
	struct registry_response res = {.status = 101,
					.extensions = "permessage-deflate"};
	struct registry_config cfg;
	struct ws_message m;
	struct registry *r;
	uint64_t id;

	registry_config_defaults(&cfg);
	cfg.max_message_size = 4;
	r = registry_new(&cfg);
	cr_assert_not_null(r);
	id = registry_open(r, &req, 1764000000.0);
	registry_answer(r, id, &res, 1764000000.0);
	m = msg(0x1, "\0\0\0\0", 4);
	m.compressed = m.inflated = m.inflate_capped = m.truncated = true;
	m.size = 1u << 20;
	m.wire_size = 1044030;
	record(r, id, REGISTRY_RECEIVED, m, 1764000001.0);
	m = msg(0x1, "", 0); /* as the decoder hands it: data, none kept */
	m.compressed = m.truncated = true;
	m.size = m.wire_size = 37;
	record(r, id, REGISTRY_RECEIVED, m, 1764000001.5);
	record(r, id, REGISTRY_SENT, msg(0x1, "ok", 2), 1764000002.0);
	char *j = snapshot(r);
	assert_field(j, "connections.0.messages.0",
		     "{\"seq\": 1, \"t\": 1764000001.000000, "
		     "\"dir\": \"received\", \"type\": \"text\", "
		     "\"size\": 1048576, \"frames\": 1, "
		     "\"compressed\": true, \"inflated\": true, "
		     "\"size_is_lower_bound\": true, \"truncated\": true, "
		     "\"utf8_valid\": true, "
		     "\"text\": \"\\u0000\\u0000\\u0000\\u0000\", "
		     "\"text_dropped\": false}");
	assert_field(j, "connections.0.messages.1",
		     "{\"seq\": 2, \"t\": 1764000001.500000, "
		     "\"dir\": \"received\", \"type\": \"text\", "
		     "\"size\": 37, \"frames\": 1, "
		     "\"compressed\": true, \"inflated\": false, "
		     "\"size_is_lower_bound\": false, \"truncated\": false, "
		     "\"utf8_valid\": true, \"text_dropped\": false}");
	assert_field(j, "connections.0.messages.2.inflated", "(absent)");
	assert_field(j, "connections.0.messages.2.size_is_lower_bound",
		     "(absent)");
	assert_field(j, "totals.inflate_capped_received", "1");
	assert_field(j, "totals.not_inflated_received", "1");
	assert_field(j, "totals.inflate_capped_sent", "0");
	assert_field(j, "totals.not_inflated_sent", "0");
	assert_field(j, "totals.bytes_received", "1048613");
	free(j);
	registry_free(r);
}

Test(registry_snapshot, after_seq_keeps_only_newer_messages)
{
	struct registry *r = scripted_session();
	struct registry_snapshot_options opt = options();
	char *j;

	opt.after_seq = 2;
	j = snapshot_with(r, &opt);
	assert_field(j, "connections.0.messages.0.seq", "3");
	assert_field(j, "connections.0.messages.1.seq", "4");
	assert_field(j, "connections.0.messages.2", "(absent)");
	free(j);
	opt.after_seq = 4;
	j = snapshot_with(r, &opt);
	assert_field(j, "connections.0.messages", "[]");
	free(j);
	registry_free(r);
}

Test(registry_snapshot, conn_id_limits_the_snapshot_to_one_connection)
{
	struct registry *r = scripted_session();
	struct registry_request req = {.fd = 3, .path = "/other"};
	struct registry_snapshot_options opt = options();
	uint64_t id = registry_open(r, &req, 1764000003);
	char *j;

	cr_assert_eq(id, 2);
	opt.conn_id = 2;
	j = snapshot_with(r, &opt);
	assert_field(j, "connections.0.id", "\"2\"");
	assert_field(j, "connections.0.path", "\"/other\"");
	assert_field(j, "connections.0.local", "null");
	assert_field(j, "connections.0.headers", "{}");
	assert_field(j, "connections.1", "(absent)");
	assert_field(j, "totals.connections", "2");
	free(j);
	opt.conn_id = 99;
	j = snapshot_with(r, &opt);
	assert_field(j, "connections", "[]");
	free(j);
	registry_free(r);
}

Test(registry_snapshot, messages_false_leaves_the_rings_out)
{
	struct registry *r = scripted_session();
	struct registry_snapshot_options opt = options();
	char *j;

	opt.messages = false;
	j = snapshot_with(r, &opt);
	assert_field(j, "connections.0.messages", "(absent)");
	assert_field(j, "connections.0.received.messages", "3");
	free(j);
	registry_free(r);
}

Test(registry_snapshot, an_empty_registry_is_a_valid_snapshot)
{
	struct registry_config cfg;
	struct registry *r;
	char *j;

	registry_config_defaults(&cfg);
	r = registry_new(&cfg);
	j = snapshot(r);
	assert_field(j, "connections", "[]");
	assert_field(j, "totals.connections", "0");
	free(j);
	registry_free(r);
}

/* Bytes no JSON string may hold raw: quotes, backslashes, control
 * characters, DEL, NUL (inside counted data), invalid and truncated UTF-8,
 * an encoded surrogate, an overlong slash. */
static const char hostile[] = "q\"b\\s\x01\x1f\x7f\n\t\xff\xc3(\xed\xa0\x80"
			      "\xc0\xaf\xf4\x90\x80\x80 \xe2\x82";

Test(registry_snapshot, hostile_strings_everywhere_come_out_valid)
{
	const char *names[] = {hostile, "x-h"};
	const char *values[] = {"v", hostile};
	struct registry_request req = {
		.fd = 1, .role = REGISTRY_CLIENT, .local = hostile,
		.peer = hostile, .path = hostile, .query = hostile,
		.nheaders = 2, .header_names = names, .header_values = values};
	struct registry_response res = {.status = 101, .subprotocol = hostile,
					.extensions = hostile};
	uint8_t close_frame[64] = {0x0f, 0xa0, 'a', '\0', 'b'};
	struct registry_config cfg;
	struct registry_snapshot_options opt = options();
	struct registry *r;
	struct ws_message m;
	char *j;
	uint64_t id;

	memcpy(close_frame + 5, hostile, sizeof(hostile) - 1);
	registry_config_defaults(&cfg);
	cfg.show_binary = true;
	r = registry_new(&cfg);
	id = registry_open(r, &req, 1);
	registry_answer(r, id, &res, 1);
	m = msg(0x1, hostile, sizeof(hostile)); /* with its NUL */
	m.utf8_valid = false;
	record(r, id, REGISTRY_SENT, m, 2);
	m = msg(0x1, hostile, sizeof(hostile) - 1);
	m.truncated = true;
	m.size = 5000;
	record(r, id, REGISTRY_SENT, m, 2);
	record(r, id, REGISTRY_SENT, msg(0x2, hostile, 8), 2);
	record(r, id, REGISTRY_SENT, msg(0x9, hostile, 20), 2);
	record(r, id, REGISTRY_RECEIVED, msg(0xA, "a\0b", 3), 2);
	m = msg(0x8, close_frame, 5 + sizeof(hostile) - 1);
	m.close_code = 4000;
	m.close_reason = close_frame + 2;
	m.close_reason_len = 3 + sizeof(hostile) - 1;
	record(r, id, REGISTRY_RECEIVED, m, 3);
	registry_error(r, id, REGISTRY_RECEIVED, WS_ERR_INFLATE);
	registry_disable(r, hostile);
	opt.process = hostile;
	j = snapshot_with(r, &opt);
	assert_field(j, "connections.0.path",
		     "\"q\\\"b\\\\s\\u0001\\u001f\\u007f\\n\\t\\ufffd\\ufffd("
		     "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
		     "\\ufffd \\ufffd\\ufffd\"");
	/* A truncated text loses the sequence its cut split, no more. */
	assert_field(j, "connections.0.messages.1.text",
		     "\"q\\\"b\\\\s\\u0001\\u001f\\u007f\\n\\t\\ufffd\\ufffd("
		     "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
		     "\\ufffd \"");
	assert_field(j, "connections.0.messages.0.utf8_valid", "false");
	assert_field(j, "connections.0.messages.2.hex",
		     "\"7122625c73011f7f\"");
	assert_field(j, "connections.0.messages.3.hex",
		     "\"7122625c73011f7f0a09ffc328eda080c0aff490\"");
	assert_field(j, "connections.0.messages.4.hex", "\"610062\"");
	assert_field(j, "connections.0.close.code", "4000");
	cr_assert_str_eq(json_check_field(j, "connections.0.close.reason"),
			 json_check_field(j, "connections.0.messages.5.text"));
	const char *reason = json_check_field(j, "connections.0.close.reason");
	cr_assert_not_null(strstr(reason, "a\\u0000b"));
	assert_field(j, "connections.0.error_name", "\"inflate\"");
	free(j);
	registry_free(r);
}

/* ---- the JSON writer ---------------------------------------------------- */

Test(registry_snapshot, the_writer_nests_and_separates_members)
{
	struct json_writer w;
	size_t len;
	char *s;

	json_init(&w, true);
	json_object_begin(&w, NULL, false);
	json_int(&w, "a", -3);
	json_array_begin(&w, "b", false);
	json_uint(&w, NULL, 18446744073709551615u);
	json_null(&w, NULL);
	json_bool(&w, NULL, true);
	json_object_begin(&w, NULL, false);
	json_object_end(&w);
	json_array_end(&w);
	json_string(&w, "c", NULL);
	json_hex(&w, "d", (const uint8_t *)"\x00\xab", 2);
	json_object_end(&w);
	s = json_take(&w, &len);
	cr_assert_str_eq(s, "{\"a\":-3,\"b\":[18446744073709551615,null,true,"
			    "{}],\"c\":null,\"d\":\"00ab\"}");
	cr_assert_eq(len, strlen(s));
	free(s);
}

Test(registry_snapshot, the_writer_lays_out_inline_and_indented_containers)
{
	struct json_writer w;
	char *s;

	json_init(&w, false);
	json_object_begin(&w, NULL, false);
	json_object_begin(&w, "x", true);
	json_int(&w, "n", 1);
	json_int(&w, "m", 2);
	json_object_end(&w);
	json_array_begin(&w, "e", false);
	json_array_end(&w);
	json_object_end(&w);
	json_finish(&w);
	s = json_take(&w, NULL);
	cr_assert_str_eq(s, "{\n  \"x\": {\"n\": 1, \"m\": 2},\n  \"e\": []\n}\n");
	free(s);
}

Test(registry_snapshot, doubles_ignore_the_locale_and_never_write_nan)
{
	struct json_writer w;
	char *s;

	/* A host may have set a locale with a decimal comma. */
	setlocale(LC_NUMERIC, "de_DE.UTF-8");
	json_init(&w, true);
	json_array_begin(&w, NULL, false);
	json_double(&w, NULL, 1764000000.1234567, 6);
	json_double(&w, NULL, -0.0000001, 3);
	json_double(&w, NULL, -2.5, 1);
	json_double(&w, NULL, 0.0 / 0.0, 3);
	json_double(&w, NULL, 1.0 / 0.0, 3);
	json_double(&w, NULL, 1e300, 6);
	json_double(&w, NULL, 3e15, 6);
	json_double(&w, NULL, 0.9999999, 3);
	json_array_end(&w);
	s = json_take(&w, NULL);
	setlocale(LC_NUMERIC, "C");
	cr_assert_str_eq(s, "[1764000000.123457,0.000,-2.5,null,null,null,"
			    "3000000000000000.000,1.000]");
	free(s);
}

Test(registry_snapshot, the_writer_replaces_invalid_utf8_and_keeps_valid)
{
	struct json_writer w;
	/* é, €, 😀, then bad: lone continuation, overlong, surrogate,
	 * above U+10FFFF, and a cut 3-byte sequence at the end. */
	static const char in[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
				 "\x80\xc1\xbf\xed\xbf\xbf\xf5\x80\xe2\x82";
	char *s;

	json_init(&w, true);
	json_array_begin(&w, NULL, false);
	json_bytes(&w, NULL, (const uint8_t *)in, sizeof(in) - 1, false);
	json_bytes(&w, NULL, (const uint8_t *)in, sizeof(in) - 1, true);
	json_bytes(&w, NULL, (const uint8_t *)"a\0b", 3, false);
	json_array_end(&w);
	s = json_take(&w, NULL);
	cr_assert_str_eq(s, "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
			    "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
			    "\\ufffd\\ufffd\\ufffd\\ufffd\","
			    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
			    "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
			    "\\ufffd\\ufffd\","
			    "\"a\\u0000b\"]");
	cr_assert(json_check(s, strlen(s), NULL, 0));
	free(s);
}

Test(registry_snapshot, an_unused_writer_hands_back_an_empty_string)
{
	struct json_writer w;
	size_t len = 99;
	char *s;

	json_init(&w, false);
	s = json_take(&w, &len);
	cr_assert_str_eq(s, "");
	cr_assert_eq(len, 0);
	free(s);
}

/* ---- the checker the tests rely on -------------------------------------- */

Test(registry_snapshot, the_checker_refuses_invalid_json)
{
	static const char *const bad[] = {
		"", "{", "{\"a\":1,}", "[1,]", "[01]", "[1.]", "[.5]", "[-]",
		"{\"a\" 1}", "{a:1}", "[\"\x01\"]", "[\"\\x\"]", "[\"\\ud800\"]",
		"[\"\\udc00\"]", "[\"\xff\"]", "[\"\xed\xa0\x80\"]", "[NaN]",
		"[true false]", "{} {}", "[\"a]", "{\"a\":1,\"a\":2}", "[tru]",
		"[1e]", "[\"\xc0\xaf\"]"};
	static const char *const good[] = {
		"{}", "[]", " [1, -0, 0.5e-3, 1E+2, \"\\u00e9\\ud83d\\ude00\"] ",
		"{\"a\":{\"b\":[null,true,false]}}", "\"\xe2\x82\xac\"", "0"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_not(json_check(bad[i], strlen(bad[i]), NULL, 0),
			      "accepted %s", bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert(json_check(good[i], strlen(good[i]), NULL, 0),
			  "refused %s", good[i]);
	cr_assert_not(json_check("[\"a\0\"]", 6, NULL, 0), "raw NUL");
}

Test(registry_snapshot, the_checker_finds_values_by_path)
{
	static const char doc[] = "{\"a\": [10, {\"b\": \"x\\\"y\"}], \"c\": {}}";
	char out[64];

	cr_assert_str_eq(json_check_get(doc, "a.0", out, sizeof(out)), "10");
	cr_assert_str_eq(json_check_get(doc, "a.1.b", out, sizeof(out)),
			 "\"x\\\"y\"");
	cr_assert_str_eq(json_check_get(doc, "c", out, sizeof(out)), "{}");
	cr_assert_null(json_check_get(doc, "a.2", out, sizeof(out)));
	cr_assert_null(json_check_get(doc, "d", out, sizeof(out)));
	cr_assert_null(json_check_get(doc, "a", out, 4), "does not fit");
}

Test(registry_snapshot, empty_payloads_show_as_empty_text_not_as_no_key)
{
	struct registry_request req = {.fd = 3, .path = "/"};
	struct registry_snapshot_options opt = options();
	struct registry_config cfg;
	static const uint8_t code_only[2] = {0x03, 0xe8};

	registry_config_defaults(&cfg);
	struct registry *r = registry_new(&cfg);
	uint64_t id = registry_open(r, &req, 1);
	record(r, id, REGISTRY_RECEIVED, msg(0x1, "", 0), 2);
	record(r, id, REGISTRY_RECEIVED, msg(0x9, "", 0), 2);
	struct ws_message m = msg(0x8, code_only, 2);
	m.close_code = 1000;
	m.close_reason = code_only + 2;
	m.close_reason_len = 0;
	record(r, id, REGISTRY_RECEIVED, m, 3);
	char *j = snapshot_with(r, &opt);
	assert_field(j, "connections.0.messages.0.text", "\"\"");
	assert_field(j, "connections.0.messages.1.text", "\"\"");
	assert_field(j, "connections.0.messages.2.text", "\"\"");
	assert_field(j, "connections.0.messages.2.code", "1000");
	free(j);
	registry_free(r);
}

/* ---- memory held, as the snapshot reports it ---------------------------- */

/* An open server connection on r. */
static uint64_t open_conn(struct registry *r)
{
	static const char *const names[] = {"host"};
	static const char *const values[] = {"localhost:8080"};
	struct registry_request req = {
		.fd = 5, .role = REGISTRY_SERVER, .path = "/ws", .nheaders = 1,
		.header_names = names, .header_values = values};
	struct registry_response res = {.status = 101};
	uint64_t id = registry_open(r, &req, 1);

	cr_assert_gt(id, 0);
	registry_answer(r, id, &res, 1);
	return id;
}

/* Reports that the caller holds bytes for connection id. */
static void report_capture(struct registry *r, uint64_t id, size_t bytes)
{
	struct registry_batch b;

	registry_batch_begin(r, &b, id);
	registry_batch_capture_memory(&b, bytes, 0);
	registry_batch_end(&b);
}

static size_t field_size(const char *json, const char *path)
{
	return (size_t)strtoull(json_check_field(json, path), NULL, 10);
}

Test(registry_snapshot, a_connection_holds_at_most_100_kib_whatever_the_sizes)
{
	static char text[10240];
	struct registry_config cfg;
	struct registry *r;
	uint64_t id;
	char *j;

	registry_config_defaults(&cfg);
	cr_assert_eq(cfg.max_conn_held, 100u << 10);
	r = registry_new(&cfg);
	cr_assert_not_null(r);
	id = open_conn(r);
	memset(text, 'a', sizeof(text));
	/* What a capture stream with two full 10 KiB keep buffers holds. */
	report_capture(r, id, 21000);
	for (unsigned i = 0; i < 3000; i++) {
		size_t n = 1 + (i * 7919u) % sizeof(text);

		record(r, id, i % 2 ? REGISTRY_SENT : REGISTRY_RECEIVED,
		       msg(0x1, text, n), 2);
		cr_assert_leq(registry_memory_held(r), 100u << 10,
			      "message %u of %zu bytes", i, n);
	}
	/* Stored data fills what the rest leaves, less than one message. */
	cr_assert_gt(registry_memory_held(r), (100u << 10) - 10240 - 64);
	j = snapshot(r);
	cr_assert_eq(field_size(j, "totals.memory_held"),
		     registry_memory_held(r));
	cr_assert_eq(field_size(j, "connections.0.memory_held"),
		     registry_memory_held(r));
	cr_assert_eq(field_size(j, "connections.0.memory_used"),
		     registry_memory_used(r));
	cr_assert_eq(field_size(j, "totals.memory_used"),
		     registry_memory_used(r));
	cr_assert_gt(registry_memory_held(r), registry_memory_used(r) + 21000);
	assert_field(j, "config.max_conn_held", "102400");
	/* The newest message always keeps its text. */
	assert_field(j, "connections.0.messages.99.text_dropped", "false");
	free(j);
	registry_free(r);
}

Test(registry_snapshot, what_the_capture_holds_leaves_less_room_for_stored_text)
{
	static char kib[1024];
	struct registry_config cfg;
	struct registry *r;
	uint64_t id;
	size_t before;

	registry_config_defaults(&cfg);
	r = registry_new(&cfg);
	id = open_conn(r);
	memset(kib, 'k', sizeof(kib));
	for (int i = 0; i < 100; i++)
		record(r, id, REGISTRY_SENT, msg(0x1, kib, sizeof(kib)), 2);
	before = registry_memory_used(r);
	cr_assert_gt(before, 90u << 10);
	/* The caller now holds 60 KiB more: the next message makes the room
	 * out of stored text, oldest first. */
	report_capture(r, id, 60u << 10);
	record(r, id, REGISTRY_SENT, msg(0x1, kib, sizeof(kib)), 3);
	cr_assert_lt(registry_memory_used(r), 40u << 10);
	cr_assert_leq(registry_memory_held(r), 100u << 10);
	char *j = snapshot(r);
	assert_field(j, "connections.0.messages.0.text_dropped", "true");
	assert_field(j, "connections.0.messages.99.text_dropped", "false");
	free(j);
	/* And given back, it is room again. */
	report_capture(r, id, 0);
	for (int i = 0; i < 100; i++)
		record(r, id, REGISTRY_SENT, msg(0x1, kib, sizeof(kib)), 4);
	cr_assert_eq(registry_memory_used(r), before);
	registry_free(r);
}

/* Five 1 KiB texts: a, a, b, a, b (seq 1 to 5). */
static void five_kib_texts(struct registry *r, uint64_t a, uint64_t b)
{
	static char kib[1024];
	const uint64_t to[5] = {a, a, b, a, b};

	memset(kib, 'k', sizeof(kib));
	for (int i = 0; i < 5; i++)
		record(r, to[i], REGISTRY_SENT, msg(0x1, kib, sizeof(kib)), 2);
}

Test(registry_snapshot, the_held_cap_for_all_connections_drops_the_oldest_text_anywhere)
{
	struct registry_config cfg;
	struct registry *r;
	uint64_t a, b;
	size_t fixed, block;
	char *j;

	/* First, with room for everything: what the two connections hold
	 * besides their texts, and what one text costs. */
	registry_config_defaults(&cfg);
	r = registry_new(&cfg);
	a = open_conn(r);
	b = open_conn(r);
	report_capture(r, a, 1000);
	report_capture(r, b, 1000);
	five_kib_texts(r, a, b);
	block = registry_memory_used(r) / 5;
	fixed = registry_memory_held(r) - registry_memory_used(r);
	cr_assert_gt(fixed, 2000);
	registry_free(r);

	/* Then with room for that and three texts: the registry gives up
	 * the oldest texts of any connection, seq 1 then seq 2. */
	cfg.max_held = fixed + 3 * block + block / 2;
	r = registry_new(&cfg);
	a = open_conn(r);
	b = open_conn(r);
	report_capture(r, a, 1000);
	report_capture(r, b, 1000);
	five_kib_texts(r, a, b);
	cr_assert_leq(registry_memory_held(r), cfg.max_held);
	cr_assert_eq(registry_memory_used(r), 3 * block);
	j = snapshot(r);
	assert_field(j, "connections.0.messages.0.text_dropped", "true");
	assert_field(j, "connections.0.messages.1.text_dropped", "true");
	assert_field(j, "connections.0.messages.2.text_dropped", "false");
	assert_field(j, "connections.1.messages.0.text_dropped", "false");
	assert_field(j, "connections.1.messages.1.text_dropped", "false");
	cr_assert_eq(field_size(j, "config.max_held"), cfg.max_held);
	free(j);
	registry_free(r);
}

Test(registry_snapshot, the_oldest_text_goes_first_past_untexted_messages_and_a_wrapped_ring)
{
	static char text[200];
	static const uint8_t bin[3] = {1, 2, 3};
	struct registry_config cfg;
	struct registry *r;
	uint64_t id;
	char *j;

	/* Room for five 200-byte texts; binary messages keep nothing. */
	registry_config_defaults(&cfg);
	cfg.max_messages = 16;
	cfg.max_conn_memory = 5 * 256;
	r = registry_new(&cfg);
	id = open_conn(r);
	for (int i = 0; i < 100; i++) {
		if (i % 3 == 2) {
			record(r, id, REGISTRY_SENT, msg(0x2, bin, 3), 2);
			continue;
		}
		snprintf(text, sizeof(text), "%-199d", i);
		record(r, id, REGISTRY_SENT, msg(0x1, text, 199), 2);
	}
	j = snapshot(r);
	/* The ring holds messages 84 to 99; the texts of the last five
	 * text messages (99, 97, 96, 94, 93) are kept, older ones dropped,
	 * each kept one exactly as sent. */
	assert_field(j, "connections.0.messages_dropped", "84");
	for (int k = 0; k < 16; k++) {
		int i = 84 + k;
		char path[64], want[256];
		bool kept = i == 99 || i == 97 || i == 96 || i == 94 ||
			    i == 93;

		snprintf(path, sizeof(path),
			 "connections.0.messages.%d.text_dropped", k);
		assert_field(j, path, i % 3 == 2 || kept ? "false" : "true");
		snprintf(path, sizeof(path), "connections.0.messages.%d.text",
			 k);
		snprintf(want, sizeof(want), "\"%-199d\"", i);
		if (kept)
			assert_field(j, path, want);
	}
	free(j);
	registry_free(r);
}

Test(registry_snapshot, texts_stay_exact_when_blocks_of_older_messages_are_reused)
{
	static char text[600];
	struct registry_config cfg;
	struct registry *r;
	uint64_t id;
	char *j;

	registry_config_defaults(&cfg);
	cfg.max_messages = 4;
	r = registry_new(&cfg);
	id = open_conn(r);
	/* Sizes that go up and down around each other: a block given up by
	 * a longer text is reused for a slightly shorter one. */
	for (int i = 0; i < 40; i++) {
		size_t n = 500 + (size_t)((i * 37) % 90);

		memset(text, 'a' + i % 26, n);
		record(r, id, REGISTRY_RECEIVED, msg(0x1, text, n), 2);
	}
	j = snapshot(r);
	for (int k = 0; k < 4; k++) {
		int i = 36 + k;
		size_t n = 500 + (size_t)((i * 37) % 90);
		char path[64], want[700];

		want[0] = '"';
		memset(want + 1, 'a' + i % 26, n);
		want[n + 1] = '"';
		want[n + 2] = '\0';
		snprintf(path, sizeof(path), "connections.0.messages.%d.text",
			 k);
		assert_field(j, path, want);
	}
	/* What is counted is what the blocks hold, allocation included. */
	cr_assert_geq(registry_memory_used(r), 4 * (500 + 32));
	cr_assert_leq(registry_memory_used(r), 4 * (590 + 590 / 8 + 64));
	free(j);
	registry_free(r);
}

Test(registry_snapshot, a_close_code_that_may_not_be_sent_is_marked_invalid)
{
	static const uint8_t close_999[] = {0x03, 0xe7};
	struct registry_config cfg;
	struct registry *r;
	struct ws_message m = msg(0x8, close_999, 2);
	uint64_t id;

	registry_config_defaults(&cfg);
	r = registry_new(&cfg);
	cr_assert_not_null(r);
	id = open_conn(r);
	m.close_code = 999; /* RFC 6455 7.4.2: 0-999 are not used */
	m.close_code_valid = false;
	record(r, id, REGISTRY_RECEIVED, m, 1764000002);
	char *j = snapshot(r);
	assert_field(j, "connections.0.messages.0.code", "999");
	assert_field(j, "connections.0.messages.0.code_valid", "false");
	assert_field(j, "connections.0.close.code", "999");
	free(j);
	registry_free(r);
}

/* The held figures are kept as they change, not summed when asked: after
 * each kind of change the total is still the sum of the connections', and
 * nothing is left once they are gone. */
Test(registry_snapshot, memory_held_stays_the_sum_of_the_connections_through_changes)
{
	static const uint8_t close_frame[] = {0x03, 0xe8, 'b', 'y', 'e'};
	struct registry_response res = {.status = 101,
					.extensions = "permessage-deflate"};
	struct registry_config cfg;
	struct registry *r;
	struct ws_message m = msg(0x8, close_frame, 5);
	uint64_t a, b;
	size_t before;
	char *j;

	registry_config_defaults(&cfg);
	cfg.ttl = 1;
	r = registry_new(&cfg);
	cr_assert_not_null(r);
	a = open_conn(r);
	static const char *const names[] = {"host"};
	static const char *const values[] = {"localhost:8080"};
	struct registry_request req = {
		.fd = 6, .role = REGISTRY_SERVER, .path = "/ws", .nheaders = 1,
		.header_names = names, .header_values = values};
	b = registry_open(r, &req, 1);
	cr_assert_gt(b, 0);
	before = registry_memory_held(r);
	registry_answer(r, b, &res, 1); /* its strings grow */
	cr_assert_gt(registry_memory_held(r), before);
	record(r, a, REGISTRY_RECEIVED, msg(0x1, "hello", 5), 2);
	report_capture(r, b, 3000);
	m.close_code = 1000;
	m.close_code_valid = true;
	m.close_reason = close_frame + 2;
	m.close_reason_len = 3;
	record(r, b, REGISTRY_RECEIVED, m, 2); /* a close reason copied */
	j = snapshot(r);
	cr_assert_eq(field_size(j, "totals.memory_held"),
		     field_size(j, "connections.0.memory_held") +
			     field_size(j, "connections.1.memory_held"));
	cr_assert_eq(field_size(j, "totals.memory_held"),
		     registry_memory_held(r));
	free(j);
	registry_closed(r, a, 3);
	registry_closed(r, b, 3);
	cr_assert_eq(registry_expire(r, 10), 2u);
	cr_assert_eq(registry_memory_held(r), 0u);
	registry_free(r);
}

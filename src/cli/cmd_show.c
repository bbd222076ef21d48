/*
 * cmd_show.c - `wsdbg show [PID|NAME] CONN [SEQ]`: everything about one
 * connection (addresses, handshake headers, negotiated extensions,
 * counters each way, kept messages by type, round-trip times, close,
 * error), or one message in full (its stored text, pretty-printed when it
 * is JSON, its truncation noted; binary as a hex dump when kept).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "clean.h"
#include "cli.h"
#include "conn_view.h"
#include "format.h"
#include "paint.h"
#include "source.h"
#include "wsdbg/ws_close.h"

static const char show_help[] =
	"usage: wsdbg show [PID|NAME] CONN [SEQ] [--from FILE] [--json]\n"
	"Shows everything about one connection: state, role, addresses,\n"
	"request target, handshake status and headers, subprotocol and\n"
	"negotiated extensions, messages, bytes and frames each way, the\n"
	"kept messages by type, ping round-trip times, close and error.\n"
	"With SEQ (the message's number, as `wsdbg msgs --json` shows it):\n"
	"that message in full, its text pretty-printed when it is JSON,\n"
	"binary as a hex dump when previews were kept, whether the stored\n"
	"text was truncated, and for a compressed message whether it was\n"
	"inflated whole, up to WSDBG_MAX_INFLATE (its size is then a lower\n"
	"bound) or not at all.\n\n"
	"  PID|NAME     the process (may be left out when only one is\n"
	"               attached); with two arguments, the first is taken as\n"
	"               CONN when it names no attached process\n"
	"  CONN         a connection id, as `wsdbg conns` shows it\n"
	"  SEQ          a message's sequence number\n"
	"  --from FILE  read a saved snapshot (wsdbg dump, WSDBG_DUMP)\n"
	"  --json       the connection (without its messages) or the message\n"
	"               as JSON\n"
	"  -h, --help   this help\n\n"
	"Exit status: 0, 1 when the connection or message is not found, 2\n"
	"on a usage error.\n";

static const char *const type_names[] = {"text", "binary", "ping", "pong",
					  "close"};
#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

static bool color;

static void label(const char *s)
{
	printf("%s%-12s%s ", color ? paint_start(PAINT_BOLD) : "", s,
	       color ? paint_end() : "");
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

static char *format_when(char buf[64], double t)
{
	time_t secs;
	struct tm tm;
	size_t n;

	/* Up to the end of year 9999: anything else is no real time (and
	 * would not convert to time_t safely). */
	if (!(t >= 0 && t < 253402300800.0))
		return strcpy(buf, "-");
	secs = (time_t)t;
	if (!gmtime_r(&secs, &tm))
		return strcpy(buf, "-");
	n = strftime(buf, 64, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf + n, 64 - n, ".%03d UTC",
		 (int)((t - (double)secs) * 1000) % 1000);
	return buf;
}

static void pair(const char *name, const char *sent, const char *received)
{
	label(name);
	printf("%10s  %10s\n", sent, received);
}

static void show_conn(const json_t *snap, const json_t *c)
{
	json_t *headers = json_object_get(c, "headers");
	const json_t *rtt = json_object_get(c, "rtt_ms");
	const json_t *msgs = json_object_get(c, "messages"), *m, *v;
	unsigned long long by[2][NTYPES] = {{0}};
	char a[64], b[64], buf[512];
	const char *key;
	size_t i;

	printf("%sconnection %s · %s pid %d%s\n",
	       color ? paint_start(PAINT_DIM) : "", source_string(c, "id", "?"),
	       source_string(snap, "process", "?"),
	       (int)json_integer_value(json_object_get(snap, "pid")),
	       color ? paint_end() : "");
	label("state");
	printf("%s%s%s (%s, fd %lld)\n",
	       color ? paint_start(conn_view_state_paint(c)) : "",
	       conn_view_state(c, buf, sizeof(buf)), color ? paint_end() : "",
	       source_string(c, "role", "?"),
	       (long long)json_integer_value(json_object_get(c, "fd")));
	label("target");
	printf("%s\n", conn_view_target(c, buf, sizeof(buf)));
	label("local");
	printf("%s\n", or_dash(source_string(c, "local", NULL)));
	label("peer");
	printf("%s\n", or_dash(source_string(c, "peer", NULL)));
	label("opened");
	printf("%s\n", format_when(a, source_number(json_object_get(
					      c, "opened_at"))));
	label(json_is_number(json_object_get(c, "closed_at")) ? "closed"
							       : "open for");
	if (json_is_number(json_object_get(c, "closed_at")))
		printf("%s, after %s\n", format_when(a, source_number(
				json_object_get(c, "closed_at"))),
		       format_duration(b, source_number(json_object_get(
				       c, "duration"))));
	else
		printf("%s\n", format_duration(b, source_number(
				json_object_get(c, "duration"))));
	label("status");
	v = json_object_get(c, "status");
	if (json_is_integer(v))
		printf("%lld\n", (long long)json_integer_value(v));
	else
		printf("-\n");
	label("subprotocol");
	printf("%s\n", or_dash(source_string(c, "subprotocol", NULL)));
	label("extensions");
	printf("%s\n", or_dash(source_string(c, "extensions", NULL)));
	label("close");
	v = json_object_get(c, "close");
	if (json_is_object(v)) {
		json_t *code = json_object_get(v, "code");

		printf("%s", conn_view_close(v, buf, sizeof(buf)));
		if (json_is_integer(code))
			printf("  (%s)", ws_close_code_name(
				       (unsigned)json_integer_value(code)));
		putchar('\n');
	} else {
		printf("-\n");
	}
	label("error");
	if (source_string(c, "error", NULL))
		printf("%s%s%s (%s)\n", color ? paint_start(PAINT_RED) : "",
		       source_string(c, "error", ""), color ? paint_end() : "",
		       source_string(c, "error_name", "?"));
	else
		printf("-\n");
	label("");
	printf("    SENT →  RECEIVED ←\n");
	snprintf(a, sizeof(a), "%llu", source_count(c, "sent", "messages"));
	snprintf(b, sizeof(b), "%llu", source_count(c, "received",
						    "messages"));
	pair("messages", a, b);
	pair("bytes", format_size(a, source_count(c, "sent", "bytes")),
	     format_size(b, source_count(c, "received", "bytes")));
	snprintf(a, sizeof(a), "%llu", source_count(c, "sent", "frames"));
	snprintf(b, sizeof(b), "%llu", source_count(c, "received", "frames"));
	pair("frames", a, b);
	pair("on the wire",
	     format_size(a, source_count(c, "sent", "wire_bytes")),
	     format_size(b, source_count(c, "received", "wire_bytes")));
	json_array_foreach(msgs, i, m) {
		int d = !strcmp(source_string(m, "dir", ""), "received");

		for (size_t t = 0; t < NTYPES; t++)
			if (!strcmp(source_string(m, "type", ""),
				    type_names[t]))
				by[d][t]++;
	}
	label("kept");
	printf("%zu messages, %llu dropped from the ring", json_array_size(msgs),
	       source_count(c, "messages_dropped", NULL));
	if (json_is_array(msgs))
		printf("; by type (→/←):");
	for (size_t t = 0; json_is_array(msgs) && t < NTYPES; t++)
		printf(" %s %llu/%llu", type_names[t], by[0][t], by[1][t]);
	putchar('\n');
	label("rtt");
	if (json_is_object(rtt))
		printf("%llu sample%s: last %.2f ms, min %.2f ms, avg %.2f ms, "
		       "max %.2f ms\n", source_count(rtt, "samples", NULL),
		       source_count(rtt, "samples", NULL) == 1 ? "" : "s",
		       source_number(json_object_get(rtt, "last")),
		       source_number(json_object_get(rtt, "min")),
		       source_number(json_object_get(rtt, "avg")),
		       source_number(json_object_get(rtt, "max")));
	else
		printf("-\n");
	printf("%sheaders%s\n", color ? paint_start(PAINT_BOLD) : "",
	       color ? paint_end() : "");
	json_object_foreach(headers, key, v)
		printf("  %s: %s\n", key, json_is_string(v)
					  ? json_string_value(v) : "?");
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The hex preview as a dump: offset, 16 bytes, their ASCII; it stops
 * at the first pair that is not hex (only a hand-made file has one). */
static void hex_dump(const char *hex)
{
	size_t n = 0;

	while (hex_digit(hex[2 * n]) >= 0 && hex_digit(hex[2 * n + 1]) >= 0)
		n++;
	for (size_t off = 0; off < n; off += 16) {
		char ascii[17] = "";
		size_t k;

		printf("  %08zx ", off);
		for (k = 0; k < 16; k++) {
			unsigned byte;

			if (off + k >= n) {
				printf("   ");
				continue;
			}
			byte = (unsigned)(hex_digit(hex[2 * (off + k)]) << 4 |
					  hex_digit(hex[2 * (off + k) + 1]));
			printf(" %02x", byte);
			ascii[k] = byte >= 0x20 && byte < 0x7f ? (char)byte
							       : '.';
		}
		printf("  %s\n", ascii);
	}
}

static void show_message(const json_t *snap, const json_t *c,
			 const json_t *m)
{
	const json_t *text = json_object_get(m, "text"), *code;
	const char *hex = source_string(m, "hex", NULL);
	const char *type = source_string(m, "type", "?");
	bool recv = !strcmp(source_string(m, "dir", ""), "received");
	unsigned long long size = source_count(m, "size", NULL);
	unsigned long long frames = source_count(m, "frames", NULL);
	bool compressed = json_is_true(json_object_get(m, "compressed"));
	bool capped = json_is_true(json_object_get(m, "size_is_lower_bound"));
	bool not_inflated =
		compressed && json_is_false(json_object_get(m, "inflated"));
	char a[32], b[32];
	json_t *parsed = NULL;

	printf("%smessage %llu of connection %s · %s pid %d%s\n",
	       color ? paint_start(PAINT_DIM) : "",
	       source_count(m, "seq", NULL), source_string(c, "id", "?"),
	       source_string(snap, "process", "?"),
	       (int)json_integer_value(json_object_get(snap, "pid")),
	       color ? paint_end() : "");
	label("time");
	printf("%s after the connection opened\n",
	       format_elapsed(a, source_number(json_object_get(m, "t")) -
				 source_number(json_object_get(c,
							       "opened_at"))));
	label("direction");
	printf("%s %s\n", recv ? "←" : "→", recv ? "received" : "sent");
	label("type");
	printf("%s, %s%s", type, capped ? "at least " : "",
	       format_size(a, size));
	if (size >= 1024)
		printf(" (%llu bytes)", size);
	printf("%s, %llu frame%s%s\n", not_inflated ? " on the wire" : "",
	       frames, frames == 1 ? "" : "s",
	       compressed ? ", compressed (permessage-deflate)" : "");
	if (capped) {
		label("inflated");
		printf("the first %s, then stopped at WSDBG_MAX_INFLATE: the "
		       "size is a lower bound\n", format_size(a, size));
	} else if (not_inflated) {
		label("inflated");
		if (json_is_false(json_object_get(
			    json_object_get(snap, "config"), "inflate")))
			printf("no (WSDBG_INFLATE=0)\n");
		else
			printf("no: an earlier message this way passed "
			       "WSDBG_MAX_INFLATE, and this one may refer "
			       "back to what was not inflated (context "
			       "takeover)\n");
	}
	if (json_object_get(m, "utf8_valid")) {
		label("utf-8");
		if (not_inflated)
			printf("not judged (not inflated)\n");
		else
			printf("%s%s\n",
			       json_is_true(json_object_get(m, "utf8_valid"))
				       ? "valid" : "INVALID",
			       capped ? " as far as inflated" : "");
	}
	code = json_object_get(m, "code");
	if (!strcmp(type, "close")) {
		label("close code");
		if (json_is_integer(code))
			printf("%lld (%s)\n", (long long)json_integer_value(code),
			       ws_close_code_name(
				       (unsigned)json_integer_value(code)));
		else
			printf("none\n");
	}
	label("kept");
	if (not_inflated)
		printf("nothing (not inflated)\n");
	else if (json_is_true(json_object_get(m, "text_dropped")))
		printf("nothing: the text was dropped to stay within "
		       "WSDBG_MAX_MEMORY\n");
	else if (json_is_string(text) && capped &&
		 json_string_length(text) >= size)
		printf("the first %s (all that was inflated)\n",
		       format_size(a, json_string_length(text)));
	else if (json_is_string(text) &&
		 json_is_true(json_object_get(m, "truncated")))
		printf("the first %s of %s%s (truncated at "
		       "WSDBG_MAX_MESSAGE_SIZE)\n",
		       format_size(a, json_string_length(text)),
		       capped ? "at least " : "", format_size(b, size));
	else if (json_is_string(text))
		printf("all of it\n");
	else if (hex)
		printf("the first %s of %s%s as hex%s\n",
		       format_size(a, strlen(hex) / 2),
		       capped ? "at least " : "", format_size(b, size),
		       json_is_true(json_object_get(m, "truncated"))
			       ? " (truncated at WSDBG_BINARY_PREVIEW)" : "");
	else
		printf("nothing (binary content is kept only with "
		       "WSDBG_SHOW_BINARY)\n");
	if (json_is_string(text) && json_string_length(text)) {
		/* Whole JSON text, pretty; anything else as it is. */
		if (!json_is_true(json_object_get(m, "truncated")))
			parsed = json_loadb(json_string_value(text),
					    json_string_length(text),
					    JSON_DECODE_ANY, NULL);
		putchar('\n');
		if (parsed && (json_is_object(parsed) ||
			       json_is_array(parsed))) {
			json_dumpf(parsed, stdout, JSON_INDENT(2) |
				   JSON_REAL_PRECISION(16) | JSON_PRESERVE_ORDER);
			putchar('\n');
		} else {
			fwrite(json_string_value(text), 1,
			       json_string_length(text), stdout);
			if (json_is_true(json_object_get(m, "truncated")))
				printf("%s…%s", color ? paint_start(PAINT_YELLOW)
						     : "",
				       color ? paint_end() : "");
			putchar('\n');
		}
		json_decref(parsed);
	} else if (hex && *hex) {
		putchar('\n');
		hex_dump(hex);
	}
}

int cmd_show(int argc, char **argv)
{
	struct source_query q = {.request = "snapshot"};
	const char *conn_id = NULL, *seq_arg = NULL;
	unsigned long seq = 0;
	const json_t *c, *m = NULL, *msgs;
	bool as_json = false, used;
	int opt, status = CLI_OK, nargs;
	json_t *snap, *out;
	size_t i;

	opt = cli_view_options(argc, argv, "show", show_help, &q, &as_json);
	if (opt >= 0)
		return opt;
	nargs = argc - optind;
	if (nargs == 0)
		return cli_usage_error("show", "missing the connection id");
	if (nargs > 3)
		return cli_usage_error("show", "unexpected argument '%s'",
				       argv[optind + 3]);
	if (nargs == 3) {
		q.target = argv[optind];
		conn_id = argv[optind + 1];
		seq_arg = argv[optind + 2];
	} else if (nargs == 2) {
		q.target = argv[optind];
		q.target_optional = true;
	} else {
		conn_id = argv[optind];
	}
	/* Only that connection is asked for: PID CONN, CONN SEQ or CONN. */
	q.conn = nargs == 1 ? argv[optind] : argv[optind + 1];
	snap = source_snapshot(&q, &used, &status);
	if (!snap)
		return status;
	if (!as_json)
		clean_snapshot(snap);
	if (nargs == 2) {
		conn_id = argv[optind + (used ? 1 : 0)];
		seq_arg = used ? NULL : argv[optind + 1];
	}
	if (seq_arg && !cli_parse_count(seq_arg, &seq)) {
		json_decref(snap);
		return cli_usage_error("show", "SEQ is a message number >= 1, "
				       "not '%s'", seq_arg);
	}
	c = conn_view_find(snap, conn_id);
	if (!c) {
		cli_error("no connection %s in %s (pid %d); see 'wsdbg conns'",
			  conn_id, source_string(snap, "process", "?"),
			  (int)json_integer_value(json_object_get(snap, "pid")));
		json_decref(snap);
		return CLI_NOTHING;
	}
	if (seq) {
		msgs = json_object_get(c, "messages");
		json_array_foreach(msgs, i, m)
			if (source_count(m, "seq", NULL) == seq)
				break;
		if (i == json_array_size(msgs)) {
			cli_error("no message %lu kept on connection %s (see "
				  "'wsdbg msgs %s --json' for the numbers)",
				  seq, conn_id, conn_id);
			json_decref(snap);
			return CLI_NOTHING;
		}
	}
	color = !as_json && format_color_wanted(STDOUT_FILENO);
	if (as_json) {
		out = json_deep_copy(m ? m : c);
		if (m)
			json_object_set_new(out, "conn", json_string(
				source_string(c, "id", "")));
		else
			json_object_del(out, "messages");
		json_dumpf(out, stdout, SOURCE_JSON_FLAGS);
		fputc('\n', stdout);
		json_decref(out);
	} else if (m) {
		show_message(snap, c, m);
	} else {
		show_conn(snap, c);
	}
	json_decref(snap);
	return status;
}

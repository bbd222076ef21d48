/*
 * cmd_conns.c - `wsdbg conns [PID|NAME]`: a summary line and one table row
 * per connection of a process (or of a saved snapshot).
 *
 *   WebSocket  1 active, 2 total  · python3 pid 4242
 *   ID  PATH          STATE     DURATION  MSGS →/←  BYTES →/←      ...
 *   1   /echo?room=7  ● open    1m 23s    5/5       254 B/254 B    ...
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clean.h"
#include "cli.h"
#include "conn_view.h"
#include "format.h"
#include "paint.h"
#include "source.h"
#include "table.h"

static const char conns_help[] =
	"usage: wsdbg conns [PID|NAME] [--from FILE] [--json]\n"
	"Shows a process's WebSocket connections: id, path, state, duration,\n"
	"messages and bytes sent (→) and received (←), close code and\n"
	"reason, ping round-trip time, decoding error.\n\n"
	"  PID|NAME     the process (may be left out when only one is\n"
	"               attached, or the file holds one snapshot)\n"
	"  --from FILE  read a saved snapshot (wsdbg dump, WSDBG_DUMP)\n"
	"  --json       the snapshot without messages\n"
	"  -h, --help   this help\n\n"
	"Exit status: 0, 1 when there is no connection or no such process,\n"
	"2 on a usage error.\n";

enum { COL_ID, COL_PATH, COL_STATE, COL_DURATION, COL_MSGS, COL_BYTES,
       COL_CLOSE, COL_RTT, COL_ERROR, NCOLS };

static void add_row(struct table *t, const json_t *c, bool with_error)
{
	const json_t *close = json_object_get(c, "close");
	const json_t *rtt = json_object_get(c, "rtt_ms");
	char path[512], state[64], a[32], b[32], closing[256];

	table_row(t);
	table_cell(t, PAINT_BOLD, "%s", source_string(c, "id", "?"));
	table_cell(t, PAINT_NONE, "%s", conn_view_target(c, path,
							 sizeof(path)));
	table_cell(t, conn_view_state_paint(c), "● %s",
		   conn_view_state(c, state, sizeof(state)));
	table_cell(t, PAINT_NONE, "%s", format_duration(a, source_number(
				       json_object_get(c, "duration"))));
	table_cell(t, PAINT_NONE, "%llu/%llu",
		   source_count(c, "sent", "messages"),
		   source_count(c, "received", "messages"));
	table_cell(t, PAINT_NONE, "%s/%s",
		   format_size(a, source_count(c, "sent", "bytes")),
		   format_size(b, source_count(c, "received", "bytes")));
	table_cell(t, conn_view_close_paint(close), "%s",
		   conn_view_close(close, closing, sizeof(closing)));
	if (json_is_object(rtt))
		table_cell(t, PAINT_NONE, "%.2f ms",
			   source_number(json_object_get(rtt, "last")));
	else
		table_cell(t, PAINT_DIM, "-");
	if (with_error)
		table_cell(t, PAINT_RED, "%s", source_string(c, "error", ""));
}

static void print_table(const json_t *conns, bool color)
{
	static const char *const heads[NCOLS] = {
		"ID", "PATH", "STATE", "DURATION", "MSGS →/←", "BYTES →/←",
		"CLOSE", "RTT", "ERROR",
	};
	bool with_error = false;
	struct table *t;
	size_t i;
	json_t *c;

	json_array_foreach(conns, i, c)
		with_error |= json_is_string(json_object_get(c, "error"));
	t = table_new(with_error ? NCOLS : NCOLS - 1);
	for (size_t col = 0; col < (with_error ? NCOLS : NCOLS - 1); col++)
		table_column(t, col, heads[col],
			     col == COL_DURATION || col == COL_MSGS ||
					     col == COL_BYTES || col == COL_RTT
				     ? TABLE_RIGHT : TABLE_LEFT);
	/* To fit a terminal: long texts give way first, then the figures a
	 * glance can spare (round trip, duration, bytes) are left out. */
	table_shrink_column(t, COL_PATH);
	table_shrink_column(t, COL_CLOSE);
	if (with_error)
		table_shrink_column(t, COL_ERROR);
	table_optional_column(t, COL_RTT, 3);
	table_optional_column(t, COL_DURATION, 2);
	table_optional_column(t, COL_BYTES, 1);
	json_array_foreach(conns, i, c)
		add_row(t, c, with_error);
	table_print_free(t, stdout, color,
			 format_terminal_width(STDOUT_FILENO));
}

/* The snapshot as --json shows it: without the messages. */
static void print_json(json_t *snap)
{
	json_t *conns = json_object_get(snap, "connections"), *c;
	size_t i;

	json_array_foreach(conns, i, c)
		json_object_del(c, "messages");
	json_dumpf(snap, stdout, SOURCE_JSON_FLAGS);
	fputc('\n', stdout);
}

int cmd_conns(int argc, char **argv)
{
	struct source_query q = {.request = "summary"};
	bool as_json = false, used, color;
	const json_t *conns, *tot;
	int opt, status = CLI_OK;
	json_t *snap;

	opt = cli_view_options(argc, argv, "conns", conns_help, &q, &as_json);
	if (opt >= 0)
		return opt;
	if (optind < argc)
		q.target = argv[optind++];
	if (optind < argc)
		return cli_usage_error("conns", "unexpected argument '%s'",
				       argv[optind]);
	snap = source_snapshot(&q, &used, &status);
	if (!snap)
		return status;
	if (!as_json)
		clean_snapshot(snap);
	conns = json_object_get(snap, "connections");
	if (as_json) {
		print_json(snap);
	} else {
		color = format_color_wanted(STDOUT_FILENO);
		tot = json_object_get(snap, "totals");
		printf("%sWebSocket%s  %llu active, %llu total%s  · %s pid %d%s\n",
		       color ? paint_start(PAINT_BOLD) : "",
		       color ? paint_end() : "",
		       source_count(tot, "active", NULL),
		       source_count(tot, "connections", NULL),
		       color ? paint_start(PAINT_DIM) : "",
		       source_string(snap, "process", "?"),
		       (int)json_integer_value(json_object_get(snap, "pid")),
		       color ? paint_end() : "");
		if (json_array_size(conns))
			print_table(conns, color);
	}
	if (json_array_size(conns) == 0) {
		cli_error("%s (pid %d) has no WebSocket connection",
			  source_string(snap, "process", "?"),
			  (int)json_integer_value(json_object_get(snap, "pid")));
		status = CLI_NOTHING;
	}
	json_decref(snap);
	return status;
}

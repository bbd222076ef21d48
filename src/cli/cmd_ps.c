/*
 * cmd_ps.c - `wsdbg ps`: the processes running with the shim, one line
 * each, from their `summary` answers.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clean.h"
#include "cli.h"
#include "format.h"
#include "paint.h"
#include "source.h"
#include "table.h"

static const char ps_help[] =
	"usage: wsdbg ps [--json]\n"
	"Lists the processes running with libwsdbg.so: the sockets in the\n"
	"socket directory ($WSDBG_DIR, else $XDG_RUNTIME_DIR/wsdbg, else\n"
	"/tmp/wsdbg-UID). A socket nothing listens on any more (connecting\n"
	"is refused: its process died) is skipped, and removed when it is\n"
	"yours. Each process is asked for a summary (2 s). A process is\n"
	"attached once it listens, accepts or speaks HTTP on a stream socket;\n"
	"one that has had no WebSocket yet says so.\n"
	"A process in another pid namespace (a container, unshare --pid) has\n"
	"its pid here under PID (- when this namespace cannot see it) and its\n"
	"own, which names its socket, under NSPID; either names it to the\n"
	"other commands.\n\n"
	"  --json      an array of {pid, ns_pid, process, totals}: pid is\n"
	"              null when this namespace cannot see the process\n"
	"  -h, --help  this help\n\n"
	"Exit status: 0, 1 when no process is attached, 2 on a usage error.\n";

/* Whether p is in another pid namespace than ours. */
static bool in_other_ns(const struct source_proc *p)
{
	return p->local_pid != p->pid;
}

/* One row; an NSPID cell after PID when ns_column (empty for a process
 * in our namespace). */
static void add_row(struct table *t, bool ns_column,
		    const struct source_proc *p, const json_t *summary)
{
	const json_t *tot = json_object_get(summary, "totals");

	table_row(t);
	if (p->local_pid)
		table_cell(t, PAINT_NONE, "%d", p->local_pid);
	else
		table_cell(t, PAINT_NONE, "-");
	if (ns_column && in_other_ns(p))
		table_cell(t, PAINT_NONE, "%d", p->pid);
	else if (ns_column)
		table_cell(t, PAINT_NONE, "%s", "");
	table_cell(t, PAINT_BOLD, "%s", source_string(summary, "process",
							p->name));
	if (!summary) {
		table_cell(t, PAINT_RED, "not answering");
		return;
	}
	table_cell(t, PAINT_GREEN, "%llu", source_count(tot, "active", NULL));
	table_cell(t, PAINT_NONE, "%llu",
		   source_count(tot, "connections", NULL));
	table_cell(t, PAINT_NONE, "%llu",
		   source_count(tot, "messages_sent", NULL) +
			   source_count(tot, "messages_received", NULL));
	/* Attached and serving (the shim's socket comes up when a process
	 * listens or accepts), but no upgrade seen yet. */
	if (source_count(tot, "connections", NULL) == 0)
		table_cell(t, PAINT_DIM, "no WebSocket yet");
}

static json_t *json_row(const struct source_proc *p, const json_t *summary)
{
	json_t *row = json_object();

	json_object_set_new(row, "pid", p->local_pid
					       ? json_integer(p->local_pid)
					       : json_null());
	json_object_set_new(row, "ns_pid", json_integer(p->pid));
	json_object_set_new(row, "process",
			    json_string(source_string(summary, "process",
						      p->name)));
	json_object_set(row, "totals",
			summary ? json_object_get(summary, "totals")
				: json_null());
	return row;
}

int cmd_ps(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool as_json = false, color = format_color_wanted(STDOUT_FILENO);
	bool ns_column = false;
	size_t col = 0;
	struct source_proc *procs;
	struct table *t;
	json_t *rows;
	char dir[4096];
	long n;
	int opt;

	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (opt == 'j')
			as_json = true;
		else if (opt == 'h')
			return fputs(ps_help, stdout), CLI_OK;
		else
			return cli_bad_option("ps", argv, opt);
	}
	if (optind < argc)
		return cli_usage_error("ps", "unexpected argument '%s'",
				       argv[optind]);
	if (!source_socket_dir(dir, sizeof(dir))) {
		cli_error("socket directory name too long");
		return CLI_NOTHING;
	}
	n = source_list(dir, &procs);
	if (n < 0) {
		source_list_error(dir, n);
		return CLI_NOTHING;
	}
	if (n == 0) {
		if (as_json)
			puts("[]");
		cli_error("no process is attached to wsdbg (no sockets in %s)",
			  dir);
		return CLI_NOTHING;
	}
	for (long i = 0; i < n; i++)
		ns_column |= in_other_ns(&procs[i]);
	t = table_new(ns_column ? 7 : 6);
	table_column(t, col++, "PID", TABLE_RIGHT);
	if (ns_column)
		table_column(t, col++, "NSPID", TABLE_RIGHT);
	table_shrink_column(t, col);
	table_column(t, col++, "NAME", TABLE_LEFT);
	table_column(t, col++, "OPEN", TABLE_RIGHT);
	table_column(t, col++, "TOTAL", TABLE_RIGHT);
	table_column(t, col++, "MESSAGES", TABLE_RIGHT);
	table_column(t, col, "", TABLE_LEFT);
	rows = json_array();
	for (long i = 0; i < n; i++) {
		int status;
		json_t *s = source_request(dir, procs[i].pid, "summary",
					   &status);

		if (s && !as_json)
			clean_snapshot(s);

		add_row(t, ns_column, &procs[i], s);
		json_array_append_new(rows, json_row(&procs[i], s));
		json_decref(s);
	}
	if (as_json) {
		json_dumpf(rows, stdout, SOURCE_JSON_FLAGS);
		fputc('\n', stdout);
		table_free(t);
	} else {
		table_print_free(t, stdout, color,
				 format_terminal_width(STDOUT_FILENO));
	}
	json_decref(rows);
	free(procs);
	return CLI_OK;
}

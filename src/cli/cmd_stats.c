/*
 * cmd_stats.c - `wsdbg stats [PID|NAME]`: aggregate figures of a process
 * (or a saved snapshot): its connections by fate, messages, bytes and
 * frames each way and by type (the snapshot's totals), the durations of
 * the closed connections still tracked, and ping round-trip times over
 * all connections.
 *
 *   python3 pid 4242 · WebSocket statistics
 *   connections  2 total: 0 active, 2 closed, 0 rejected, 0 evicted, ...
 *                      SENT →  RECEIVED ←
 *   messages                8           8
 *   ...
 *   durations    2 closed: min 8 ms, median 37 ms, max 66 ms
 *   rtt          1 sample: min 0.10 ms, avg 0.10 ms, max 0.10 ms
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

static const char stats_help[] =
	"usage: wsdbg stats [PID|NAME] [--from FILE] [--json]\n"
	"Shows aggregate figures of a process's WebSocket traffic:\n"
	"connections (total, active, closed, rejected, evicted, expired,\n"
	"untracked, with errors), messages, bytes, frames and bytes on the\n"
	"wire each way, messages by type each way, the durations of the\n"
	"closed connections still tracked (min, median, max) and the ping\n"
	"round-trip times over all connections (min, average, max). When\n"
	"compressed messages were inflated only up to WSDBG_MAX_INFLATE or\n"
	"not at all, how many (\"inflating: capped, not at all\"); bytes\n"
	"that count capped ones are a lower bound (≥).\n\n"
	"  PID|NAME     the process (may be left out when only one is\n"
	"               attached, or the file holds one snapshot)\n"
	"  --from FILE  read a saved snapshot (wsdbg dump, WSDBG_DUMP)\n"
	"  --json       the same figures as a JSON object\n"
	"  -h, --help   this help\n\n"
	"Counters cover the process's whole life; durations and round-trip\n"
	"times only the connections the snapshot still holds. Exit status:\n"
	"0, 1 when the process has seen no connection or is not found, 2 on\n"
	"a usage error.\n";

static const char *const type_names[] = {"text", "binary", "ping", "pong",
					  "close"};
#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

static const char *const conn_keys[] = {"connections", "active", "closed",
					"rejected", "evicted", "expired",
					"untracked", "errors"};
#define NCONN_KEYS (sizeof(conn_keys) / sizeof(conn_keys[0]))

struct figures {
	size_t ndur;
	double *dur;                  /* sorted durations of closed conns */
	double dmin, dmedian, dmax;
	unsigned long long rtt_samples;
	double rtt_min, rtt_max, rtt_sum; /* sum: avg * samples */
};

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void gather(const json_t *snap, struct figures *g)
{
	const json_t *conns = json_object_get(snap, "connections"), *c;
	size_t i;

	memset(g, 0, sizeof(*g));
	g->dur = calloc(json_array_size(conns) + 1, sizeof(double));
	if (!g->dur)
		abort();
	json_array_foreach(conns, i, c) {
		const json_t *rtt = json_object_get(c, "rtt_ms");
		unsigned long long n;

		if (!strcmp(source_string(c, "state", ""), "closed") &&
		    json_is_number(json_object_get(c, "duration")))
			g->dur[g->ndur++] = source_number(
				json_object_get(c, "duration"));
		n = source_count(c, "rtt_ms", "samples");
		if (!json_is_object(rtt) || n == 0)
			continue;
		if (g->rtt_samples == 0 ||
		    source_number(json_object_get(rtt, "min")) < g->rtt_min)
			g->rtt_min = source_number(json_object_get(rtt, "min"));
		if (g->rtt_samples == 0 ||
		    source_number(json_object_get(rtt, "max")) > g->rtt_max)
			g->rtt_max = source_number(json_object_get(rtt, "max"));
		g->rtt_sum += source_number(json_object_get(rtt, "avg")) *
			      (double)n;
		g->rtt_samples += n;
	}
	if (g->ndur) {
		qsort(g->dur, g->ndur, sizeof(double), compare_double);
		g->dmin = g->dur[0];
		g->dmax = g->dur[g->ndur - 1];
		g->dmedian = g->ndur % 2 ? g->dur[g->ndur / 2]
					 : (g->dur[g->ndur / 2 - 1] +
					    g->dur[g->ndur / 2]) / 2;
	}
}

static json_t *direction_json(const json_t *tot, const char *dir)
{
	char key[32];
	json_t *d = json_object(), *by = json_object();
	const json_t *types = json_object_get(json_object_get(tot, "by_type"),
					      dir);
	static const char *const fields[] = {"messages", "bytes", "frames",
					     "wire_bytes", "inflate_capped",
					     "not_inflated"};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		snprintf(key, sizeof(key), "%s_%s", fields[i], dir);
		json_object_set_new(d, fields[i], json_integer(
			(json_int_t)source_count(tot, key, NULL)));
	}
	for (size_t i = 0; i < NTYPES; i++)
		json_object_set_new(by, type_names[i], json_integer(
			(json_int_t)source_count(types, type_names[i], NULL)));
	json_object_set_new(d, "by_type", by);
	return d;
}

static void print_json(const json_t *snap, const struct figures *g)
{
	const json_t *tot = json_object_get(snap, "totals");
	json_t *out = json_object(), *conns = json_object();

	json_object_set_new(out, "pid", json_integer(json_integer_value(
					json_object_get(snap, "pid"))));
	json_object_set_new(out, "process", json_string(source_string(
					snap, "process", "?")));
	for (size_t i = 0; i < NCONN_KEYS; i++)
		json_object_set_new(conns, i ? conn_keys[i] : "total",
				    json_integer((json_int_t)source_count(
					    tot, conn_keys[i], NULL)));
	json_object_set_new(out, "connections", conns);
	json_object_set_new(out, "sent", direction_json(tot, "sent"));
	json_object_set_new(out, "received", direction_json(tot, "received"));
	if (g->ndur)
		json_object_set_new(out, "durations", json_pack(
			"{s:I, s:f, s:f, s:f}", "count", (json_int_t)g->ndur,
			"min", g->dmin, "median", g->dmedian, "max", g->dmax));
	else
		json_object_set_new(out, "durations", json_null());
	if (g->rtt_samples)
		json_object_set_new(out, "rtt_ms", json_pack(
			"{s:I, s:f, s:f, s:f}", "samples",
			(json_int_t)g->rtt_samples, "min", g->rtt_min, "avg",
			g->rtt_sum / (double)g->rtt_samples, "max",
			g->rtt_max));
	else
		json_object_set_new(out, "rtt_ms", json_null());
	json_dumpf(out, stdout, SOURCE_JSON_FLAGS);
	fputc('\n', stdout);
	json_decref(out);
}

static void label(bool color, const char *s)
{
	printf("%s%-12s%s", color ? paint_start(PAINT_BOLD) : "", s,
	       color ? paint_end() : "");
}

/* s right-aligned in width columns (a "≥" is 3 bytes, 1 column). */
static void right(const char *s, size_t width)
{
	size_t w = format_display_width(s);

	printf("%*s%s", (int)(w < width ? width - w : 0), "", s);
}

/* One row of the two-column part: label, sent, received. */
static void pair(bool color, const char *name, const char *sent,
		 const char *received)
{
	label(color, name);
	putchar(' ');
	right(sent, 10);
	printf("  ");
	right(received, 10);
	putchar('\n');
}

/* The bytes of one direction: "≥" when some of its messages were capped
 * (their size is a lower bound). Returns buf. */
static const char *bytes_shown(char buf[40], const json_t *tot,
			       const char *dir)
{
	char key[32], size[32];

	snprintf(key, sizeof(key), "bytes_%s", dir);
	format_size(size, source_count(tot, key, NULL));
	snprintf(key, sizeof(key), "inflate_capped_%s", dir);
	snprintf(buf, 40, "%s%s", source_count(tot, key, NULL) ? "≥" : "",
		 size);
	return buf;
}

static void print_human(const json_t *snap, const struct figures *g,
			bool color)
{
	const json_t *tot = json_object_get(snap, "totals");
	const json_t *by = json_object_get(tot, "by_type");
	char a[40], b[40], c[32];

	printf("%s%s pid %d · WebSocket statistics%s\n",
	       color ? paint_start(PAINT_DIM) : "",
	       source_string(snap, "process", "?"),
	       (int)json_integer_value(json_object_get(snap, "pid")),
	       color ? paint_end() : "");
	label(color, "connections");
	printf(" %llu total: %llu active, %llu closed, %llu rejected, "
	       "%llu evicted, %llu expired, %llu untracked",
	       source_count(tot, "connections", NULL),
	       source_count(tot, "active", NULL),
	       source_count(tot, "closed", NULL),
	       source_count(tot, "rejected", NULL),
	       source_count(tot, "evicted", NULL),
	       source_count(tot, "expired", NULL),
	       source_count(tot, "untracked", NULL));
	if (source_count(tot, "errors", NULL))
		printf(", %s%llu with errors%s",
		       color ? paint_start(PAINT_RED) : "",
		       source_count(tot, "errors", NULL),
		       color ? paint_end() : "");
	putchar('\n');
	label(color, "");
	/* Right-aligned by hand: the arrows are 3 bytes, 1 column each. */
	printf("     SENT →  RECEIVED ←\n");
	snprintf(a, sizeof(a), "%llu", source_count(tot, "messages_sent",
						     NULL));
	snprintf(b, sizeof(b), "%llu", source_count(tot, "messages_received",
						     NULL));
	pair(color, "messages", a, b);
	for (size_t i = 0; i < NTYPES; i++) {
		char name[32];

		snprintf(name, sizeof(name), "  %s", type_names[i]);
		snprintf(a, sizeof(a), "%llu", source_count(
				 json_object_get(by, "sent"), type_names[i],
				 NULL));
		snprintf(b, sizeof(b), "%llu", source_count(
				 json_object_get(by, "received"),
				 type_names[i], NULL));
		pair(color, name, a, b);
	}
	pair(color, "bytes", bytes_shown(a, tot, "sent"),
	     bytes_shown(b, tot, "received"));
	snprintf(a, sizeof(a), "%llu", source_count(tot, "frames_sent", NULL));
	snprintf(b, sizeof(b), "%llu", source_count(tot, "frames_received",
						     NULL));
	pair(color, "frames", a, b);
	pair(color, "on the wire",
	     format_size(a, source_count(tot, "wire_bytes_sent", NULL)),
	     format_size(b, source_count(tot, "wire_bytes_received", NULL)));
	/* Compressed messages not inflated whole, only when there are:
	 *   inflating
	 *     capped              0           1
	 *     not at all          0           1 */
	if (source_count(tot, "inflate_capped_sent", NULL) ||
	    source_count(tot, "inflate_capped_received", NULL) ||
	    source_count(tot, "not_inflated_sent", NULL) ||
	    source_count(tot, "not_inflated_received", NULL)) {
		printf("%sinflating%s\n", color ? paint_start(PAINT_BOLD) : "",
		       color ? paint_end() : "");
		snprintf(a, sizeof(a), "%llu",
			 source_count(tot, "inflate_capped_sent", NULL));
		snprintf(b, sizeof(b), "%llu",
			 source_count(tot, "inflate_capped_received", NULL));
		pair(color, "  capped", a, b);
		snprintf(a, sizeof(a), "%llu",
			 source_count(tot, "not_inflated_sent", NULL));
		snprintf(b, sizeof(b), "%llu",
			 source_count(tot, "not_inflated_received", NULL));
		pair(color, "  not at all", a, b);
	}
	label(color, "durations");
	if (g->ndur)
		printf(" %zu closed: min %s, median %s, max %s\n", g->ndur,
		       format_duration(a, g->dmin),
		       format_duration(b, g->dmedian),
		       format_duration(c, g->dmax));
	else
		printf(" no closed connection tracked\n");
	label(color, "rtt");
	if (g->rtt_samples)
		printf(" %llu sample%s: min %.2f ms, avg %.2f ms, max %.2f ms\n",
		       g->rtt_samples, g->rtt_samples == 1 ? "" : "s",
		       g->rtt_min, g->rtt_sum / (double)g->rtt_samples,
		       g->rtt_max);
	else
		printf(" no ping answered\n");
}

int cmd_stats(int argc, char **argv)
{
	struct source_query q = {.request = "summary"};
	struct figures g;
	bool as_json = false, used;
	int opt, status = CLI_OK;
	json_t *snap;

	opt = cli_view_options(argc, argv, "stats", stats_help, &q, &as_json);
	if (opt >= 0)
		return opt;
	if (optind < argc)
		q.target = argv[optind++];
	if (optind < argc)
		return cli_usage_error("stats", "unexpected argument '%s'",
				       argv[optind]);
	snap = source_snapshot(&q, &used, &status);
	if (!snap)
		return status;
	if (!as_json)
		clean_snapshot(snap);
	gather(snap, &g);
	if (as_json)
		print_json(snap, &g);
	else
		print_human(snap, &g, format_color_wanted(STDOUT_FILENO));
	if (source_count(snap, "totals", "connections") == 0 &&
	    json_array_size(json_object_get(snap, "connections")) == 0) {
		cli_error("%s (pid %d) has seen no WebSocket connection",
			  source_string(snap, "process", "?"),
			  (int)json_integer_value(json_object_get(snap, "pid")));
		status = CLI_NOTHING;
	}
	free(g.dur);
	json_decref(snap);
	return status;
}

/*
 * wsdbg_decode.c - wsdbg-decode: decodes a recorded WebSocket session
 * (.wstrace) with the decoding core, exactly as the shim will inside a
 * server process, and prints a timeline of every message (or JSON).
 *
 *   wsdbg-decode [--json] [--show-binary] FILE|-
 *
 * Exit status: 0 decoded (protocol errors found in the trace are reported,
 * not failures), 1 the file cannot be read or is not a valid transcript,
 * 2 usage error.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render.h"
#include "session.h"
#include "wstrace.h"

/* The shim's defaults (DESIGN.md: WSDBG_MAX_MESSAGE_SIZE,
 * WSDBG_BINARY_PREVIEW). */
#define KEEP_TEXT 10240
#define KEEP_BINARY 256

static const char usage_text[] =
	"usage: wsdbg-decode [--json] [--show-binary] FILE\n"
	"\n"
	"Decodes a recorded WebSocket session (.wstrace; FILE '-' reads\n"
	"stdin) with wsdbg's decoding core and prints every message, as the\n"
	"server saw it: ← received from the client, → sent to the client.\n"
	"\n"
	"  --json         print connections as JSON (DESIGN.md snapshot\n"
	"                 \"connections\" entries)\n"
	"  --show-binary  keep and show the first 256 bytes of binary\n"
	"                 messages as hex\n"
	"  --help         show this help\n"
	"\n"
	"Text messages keep their first 10240 bytes. Colours only on a\n"
	"terminal and when NO_COLOR is unset.\n";

struct args {
	bool json;
	bool show_binary;
	const char *path;
};

/* Returns 0, or 2 after one line on stderr; exits 0 after --help. */
static int parse_args(int argc, char **argv, struct args *a)
{
	bool options_done = false;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (!options_done && strcmp(arg, "--") == 0) {
			options_done = true;
		} else if (!options_done && strcmp(arg, "--help") == 0) {
			fputs(usage_text, stdout);
			exit(0);
		} else if (!options_done && strcmp(arg, "--json") == 0) {
			a->json = true;
		} else if (!options_done &&
			   strcmp(arg, "--show-binary") == 0) {
			a->show_binary = true;
		} else if (!options_done && arg[0] == '-' && arg[1] != '\0') {
			fprintf(stderr, "wsdbg-decode: unknown option '%s' "
				"(try --help)\n", arg);
			return 2;
		} else if (a->path) {
			fprintf(stderr, "wsdbg-decode: one FILE only, got "
				"'%s' and '%s' (try --help)\n", a->path, arg);
			return 2;
		} else {
			a->path = arg;
		}
	}
	if (!a->path) {
		fputs("wsdbg-decode: missing FILE (a .wstrace, or - for "
		      "stdin; try --help)\n", stderr);
		return 2;
	}
	return 0;
}

/* Connections in order of first appearance. */
struct session_list {
	struct session **items;
	size_t n, cap;
};

static struct session *find_or_add(struct session_list *l,
				   const struct wstrace_record *rec,
				   const struct session_options *opt)
{
	for (size_t i = l->n; i-- > 0;)
		if (strcmp(l->items[i]->id, rec->conn) == 0)
			return l->items[i];
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct session **items = realloc(l->items,
						 cap * sizeof(*items));

		if (!items) {
			fputs("wsdbg-decode: out of memory\n", stderr);
			exit(1);
		}
		l->items = items;
		l->cap = cap;
	}
	l->items[l->n] = session_new(rec->conn, rec->t, opt);
	return l->items[l->n++];
}

/* Reads the whole trace into l. Returns 0, or 1 after one line on stderr. */
static int decode_trace(const char *path, const struct session_options *opt,
			struct session_list *l)
{
	struct wstrace_reader r;
	struct wstrace_record rec;
	int got;

	if (wstrace_open(&r, path) < 0) {
		fprintf(stderr, "wsdbg-decode: %s\n", r.error);
		return 1;
	}
	while ((got = wstrace_next(&r, &rec)) > 0)
		session_feed(find_or_add(l, &rec, opt), &rec);
	if (got < 0)
		fprintf(stderr, "wsdbg-decode: %s\n", r.error);
	wstrace_close(&r);
	if (got < 0)
		return 1;
	for (size_t i = 0; i < l->n; i++)
		session_finish(l->items[i]);
	return 0;
}

static bool use_color(void)
{
	return isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
}

int main(int argc, char **argv)
{
	struct args a = {0};
	struct session_list list = {0};
	struct session_options opt;
	struct render_options ropt;
	int rc = parse_args(argc, argv, &a);

	if (rc)
		return rc;
	opt = (struct session_options){
		.keep_text = KEEP_TEXT,
		.keep_binary = a.show_binary ? KEEP_BINARY : 0,
	};
	rc = decode_trace(a.path, &opt, &list);
	if (rc == 0) {
		ropt = (struct render_options){
			.source = strcmp(a.path, "-") == 0 ? "<stdin>"
							   : a.path,
			.color = !a.json && use_color(),
			.show_binary = a.show_binary,
		};
		if (a.json)
			render_json(stdout, list.items, list.n, &ropt);
		else
			render_text(stdout, list.items, list.n, &ropt);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			perror("wsdbg-decode: writing the output");
			rc = 1;
		}
	}
	for (size_t i = 0; i < list.n; i++)
		session_free(list.items[i]);
	free(list.items);
	return rc;
}

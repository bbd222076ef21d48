/*
 * cmd_msgs.c - `wsdbg msgs [PID] [CONN]`: the message timeline, as
 * tools/decode's render_text shows it, from the snapshot's JSON:
 *
 *   00:00.000  ◉  open     /echo?room=7  permessage-deflate; ...
 *   00:00.001  ←  text      18 B  [deflate]  {"hello": "world"}
 *   00:00.002  →  pong       7 B  "probe-1"
 *   00:00.003  ◉  closed   4001 "done here" (client)
 *
 * ← received by the process, → sent by it; the time counts from the
 * connection's opening. Without CONN: the latest messages of every
 * connection, by time, each tagged with its connection id. A compressed
 * message inflated only up to WSDBG_MAX_INFLATE shows its size as a lower
 * bound ("≥1.0 MB ... [inflate capped]"); one not inflated, its size on
 * the wire ("[not inflated]").
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <regex.h>
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

/* Characters of text in a one-line preview; bytes of a hex preview. */
#define MSGS_PREVIEW_CHARS 100
#define MSGS_PREVIEW_HEX 32
/* Rows shown without CONN unless --limit says otherwise. */
#define MSGS_DEFAULT_LIMIT 100

static const char msgs_help[] =
	"usage: wsdbg msgs [PID|NAME] [CONN] [--follow] [--dir sent|received]\n"
	"                  [--type TYPE,...] [--grep REGEX] [--limit N]\n"
	"                  [--from FILE] [--json]\n"
	"Shows the kept messages as a timeline: time since the connection\n"
	"opened, ← received / → sent / ◉ open and close, type, size, markers\n"
	"([deflate], [N frames], [truncated], [invalid utf-8], [inflate\n"
	"capped]: inflating stopped at WSDBG_MAX_INFLATE, the size (≥) is a\n"
	"lower bound; [not inflated]: the size is on the wire, nothing was\n"
	"kept) and a one-line preview. Without CONN: the latest messages of\n"
	"all connections, each tagged with its connection id.\n\n"
	"  PID|NAME        the process (may be left out when only one is\n"
	"                  attached); a lone argument that names no\n"
	"                  attached process is taken as CONN\n"
	"  CONN            a connection id, as `wsdbg conns` shows it\n"
	"  -F, --follow    then keep watching: new messages as they come\n"
	"                  (polled every 200 ms), \"… N messages dropped\n"
	"                  (ring overtaken)\" when the process's ring lost\n"
	"                  some before they were seen; until Ctrl-C or\n"
	"                  SIGTERM (exit 0) or the process exits (\"process\n"
	"                  PID exited\", exit 0); with --json, one message\n"
	"                  per line; not with --from\n"
	"  --dir DIR       only messages sent or received\n"
	"  --type TYPES    only these types: text,binary,ping,pong,close\n"
	"  --grep REGEX    only messages whose text matches (POSIX ERE)\n"
	"  --limit N       only the last N (default: all with CONN, the\n"
	"                  last 100 without)\n"
	"  --from FILE     read a saved snapshot (wsdbg dump, WSDBG_DUMP)\n"
	"  --json          the selected messages as a JSON array, each with\n"
	"                  \"conn\": its connection id\n"
	"  -h, --help      this help\n\n"
	"Filters leave out the ◉ open/close rows. Exit status: 0, 1 when no\n"
	"message is selected or nothing is found, 2 on a usage error.\n";

static const char *const type_names[] = {"text", "binary", "ping", "pong",
					  "close"};
#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

struct msgs_filter {
	const char *dir;   /* "sent", "received" or NULL */
	unsigned types;    /* bit i: type_names[i]; 0 for all */
	bool use_grep;
	regex_t grep;
};

enum row_kind { ROW_MESSAGE, ROW_OPEN, ROW_CLOSED };

struct row {
	enum row_kind kind;
	const json_t *conn, *msg;
	double t;
	unsigned long long seq;
};

struct rows {
	struct row *v;
	size_t n, cap;
};

static void rows_add(struct rows *r, enum row_kind kind, const json_t *conn,
		     const json_t *msg, double t, unsigned long long seq)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->v = realloc(r->v, r->cap * sizeof(*r->v));
		if (!r->v)
			abort();
	}
	r->v[r->n++] = (struct row){kind, conn, msg, t, seq};
}

static int compare_rows(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->kind != y->kind) /* open, then messages, then closed */
		return x->kind == ROW_OPEN || y->kind == ROW_CLOSED ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* ---- options ----------------------------------------------------------- */

/* Parses "text,ping"; false on an unknown name (named in *bad). */
static bool parse_types(const char *list, unsigned *out, char *bad, size_t cap)
{
	const char *p = list;

	*out = 0;
	while (*p) {
		size_t len = strcspn(p, ","), i;

		for (i = 0; i < NTYPES; i++)
			if (strlen(type_names[i]) == len &&
			    !strncasecmp(p, type_names[i], len))
				break;
		if (i == NTYPES) {
			snprintf(bad, cap, "%.*s", (int)len, p);
			return false;
		}
		*out |= 1u << i;
		p += len + (p[len] == ',');
	}
	return *out != 0 || (snprintf(bad, cap, "%s", list), false);
}

static bool message_selected(const json_t *m, const struct msgs_filter *f)
{
	const char *type = source_string(m, "type", "");
	const char *text = source_string(m, "text", NULL);

	if (f->dir && strcmp(source_string(m, "dir", ""), f->dir))
		return false;
	if (f->types) {
		size_t i;

		for (i = 0; i < NTYPES; i++)
			if (!strcmp(type, type_names[i]))
				break;
		if (i == NTYPES || !(f->types & (1u << i)))
			return false;
	}
	if (f->use_grep && (!text || regexec(&f->grep, text, 0, NULL, 0)))
		return false;
	return true;
}

static bool filtering(const struct msgs_filter *f)
{
	return f->dir || f->types || f->use_grep;
}

static void collect(struct rows *r, const json_t *conn,
		    const struct msgs_filter *f)
{
	const json_t *msgs = json_object_get(conn, "messages"), *m;
	const json_t *closed_at = json_object_get(conn, "closed_at");
	size_t i;

	if (!filtering(f))
		rows_add(r, ROW_OPEN, conn, NULL,
			 source_number(json_object_get(conn, "opened_at")), 0);
	json_array_foreach(msgs, i, m)
		if (message_selected(m, f))
			rows_add(r, ROW_MESSAGE, conn, m,
				 source_number(json_object_get(m, "t")),
				 source_count(m, "seq", NULL));
	if (!filtering(f) && json_is_number(closed_at))
		rows_add(r, ROW_CLOSED, conn, NULL, source_number(closed_at),
			 ~0ull);
}

/* ---- printing ---------------------------------------------------------- */

struct printer {
	FILE *f;    /* where a line goes: out, or a buffer for out */
	FILE *out;  /* standard output */
	bool color;
	bool tag;   /* prefix rows with their connection id */
	int tag_w;  /* width of that column */
	unsigned width; /* the terminal's columns; 0: not a terminal */
	char *line; /* the buffered line (width set) */
	size_t line_len;
};

/*
 * Lines are written between line_start and line_end. On a terminal they
 * are buffered and cut to its width, so that each row stays one line
 * however long its preview, target or close reason.
 */
static void line_start(struct printer *o)
{
	if (!o->width)
		return;
	o->f = open_memstream(&o->line, &o->line_len);
	if (!o->f)
		abort(); /* out of memory in a CLI: nothing to save */
}

static void line_end(struct printer *o)
{
	if (!o->width)
		return;
	if (fclose(o->f) != 0)
		abort();
	paint_put_clipped(o->out, o->line, o->width);
	free(o->line);
	o->f = o->out;
}

__attribute__((format(printf, 3, 4)))
static void painted(const struct printer *o, enum paint p, const char *fmt,
		    ...)
{
	va_list ap;

	if (o->color)
		fputs(paint_start(p), o->f);
	va_start(ap, fmt);
	vfprintf(o->f, fmt, ap);
	va_end(ap);
	if (o->color)
		fputs(paint_end(), o->f);
}

static void preview_string(const struct printer *o, const json_t *s,
			   bool more)
{
	format_preview_text(o->f, (const uint8_t *)json_string_value(s),
			    json_string_length(s), MSGS_PREVIEW_CHARS, more);
}

static void preview_hex(const struct printer *o, const char *hex, bool more)
{
	size_t n = strlen(hex);

	fprintf(o->f, "%.*s", MSGS_PREVIEW_HEX * 2, hex);
	if (n > MSGS_PREVIEW_HEX * 2 || more)
		fputs("…", o->f);
}

/* A compressed message that was not inflated: its size is on the wire and
 * nothing of it was kept. */
static bool not_inflated(const json_t *m)
{
	return json_is_true(json_object_get(m, "compressed")) &&
	       json_is_false(json_object_get(m, "inflated"));
}

static void print_markers(const struct printer *o, const json_t *m)
{
	char marks[160] = "";
	size_t n = 0;
	unsigned long long frames = source_count(m, "frames", NULL);
	bool capped = json_is_true(json_object_get(m, "size_is_lower_bound"));

	if (json_is_true(json_object_get(m, "compressed")))
		n += (size_t)snprintf(marks + n, sizeof(marks) - n,
				      " [deflate]");
	if (frames > 1)
		n += (size_t)snprintf(marks + n, sizeof(marks) - n,
				      " [%llu frames]", frames);
	/* A capped message is always truncated: its marker says more. */
	if (capped)
		n += (size_t)snprintf(marks + n, sizeof(marks) - n,
				      " [inflate capped]");
	if (not_inflated(m))
		n += (size_t)snprintf(marks + n, sizeof(marks) - n,
				      " [not inflated]");
	/* A binary message keeps nothing unless previews are on. */
	if (json_is_true(json_object_get(m, "truncated")) && !capped &&
	    (strcmp(source_string(m, "type", ""), "binary") ||
	     json_object_get(m, "hex")))
		n += (size_t)snprintf(marks + n, sizeof(marks) - n,
				      " [truncated]");
	if (json_is_false(json_object_get(m, "utf8_valid")))
		n += (size_t)snprintf(marks + n, sizeof(marks) - n,
				      " [invalid utf-8]");
	if (json_is_false(json_object_get(m, "code_valid")))
		n += (size_t)snprintf(marks + n, sizeof(marks) - n,
				      " [invalid code]");
	if (json_is_true(json_object_get(m, "text_dropped")))
		snprintf(marks + n, sizeof(marks) - n, " [not kept]");
	if (marks[0])
		painted(o, PAINT_YELLOW, "%s", marks);
}

static void print_content(const struct printer *o, const json_t *m)
{
	const char *type = source_string(m, "type", "");
	const json_t *text = json_object_get(m, "text");
	const char *hex = source_string(m, "hex", NULL);
	bool truncated = json_is_true(json_object_get(m, "truncated"));
	const json_t *code = json_object_get(m, "code");
	char size[32];

	if (!strcmp(type, "close")) {
		if (!json_is_integer(code)) {
			fputs("(no status code)", o->f);
			return;
		}
		fprintf(o->f, "%lld %s", (long long)json_integer_value(code),
			ws_close_code_name((unsigned)json_integer_value(code)));
		if (json_is_string(text) && json_string_length(text)) {
			fputs(" \"", o->f);
			preview_string(o, text, false);
			fputc('"', o->f);
		}
	} else if (!strcmp(type, "ping") || !strcmp(type, "pong")) {
		if (json_is_string(text)) {
			fputc('"', o->f);
			preview_string(o, text, false);
			fputc('"', o->f);
		} else if (hex) {
			fputs("hex ", o->f);
			preview_hex(o, hex, false);
		}
	} else if (json_is_string(text)) {
		preview_string(o, text, truncated);
	} else if (hex) {
		preview_hex(o, hex, truncated);
	} else if (!strcmp(type, "binary")) {
		painted(o, PAINT_YELLOW, "[binary %s]",
			format_size(size, source_count(m, "size", NULL)));
	}
}

static void print_row(struct printer *o, const struct row *r)
{
	double opened = source_number(json_object_get(r->conn, "opened_at"));
	char when[32], size[32], buf[512];
	bool recv;

	line_start(o);
	if (o->tag)
		painted(o, PAINT_BOLD, "%-*s  ", o->tag_w,
			source_string(r->conn, "id", "?"));
	painted(o, PAINT_DIM, "%s", format_elapsed(when, r->t - opened));
	if (r->kind == ROW_OPEN) {
		painted(o, PAINT_BOLD, "  ◉  %-6s  ", "open");
		fputs(conn_view_target(r->conn, buf, sizeof(buf)), o->f);
		if (source_string(r->conn, "extensions", NULL))
			painted(o, PAINT_DIM, "  %s", source_string(
					r->conn, "extensions", ""));
		fputc('\n', o->f);
		line_end(o);
		return;
	}
	if (r->kind == ROW_CLOSED) {
		painted(o, conn_view_state_paint(r->conn), "  ◉  %-6s  ",
			conn_view_state(r->conn, buf, sizeof(buf)));
		fputs(conn_view_close(json_object_get(r->conn, "close"), buf,
				      sizeof(buf)), o->f);
		fputc('\n', o->f);
		line_end(o);
		return;
	}
	recv = !strcmp(source_string(r->msg, "dir", ""), "received");
	painted(o, recv ? PAINT_GREEN : PAINT_CYAN, "  %s  %-6s",
		recv ? "←" : "→", source_string(r->msg, "type", "?"));
	/* "≥": inflating stopped at the cap. Right-aligned by hand: the
	 * sign is 3 bytes, 1 column. */
	format_size(size, source_count(r->msg, "size", NULL));
	if (json_is_true(json_object_get(r->msg, "size_is_lower_bound")))
		fprintf(o->f, " %*s≥%s",
			(int)(7 - (strlen(size) < 7 ? strlen(size) : 7)), "",
			size);
	else
		fprintf(o->f, " %8s", size);
	print_markers(o, r->msg);
	if (!not_inflated(r->msg)) { /* else nothing to show: the marker */
		fputs("  ", o->f);
		print_content(o, r->msg);
	}
	fputc('\n', o->f);
	line_end(o);
}

/* The message rows from from on as a JSON array, or (lines: --follow) as
 * one compact object per line. */
static void print_json(const struct rows *r, size_t from, bool lines)
{
	json_t *out = json_array();

	for (size_t i = from; i < r->n; i++) {
		json_t *m;

		if (r->v[i].kind != ROW_MESSAGE)
			continue;
		m = json_deep_copy(r->v[i].msg);
		json_object_set_new(m, "conn", json_string(source_string(
						       r->v[i].conn, "id", "")));
		if (lines) {
			json_dumpf(m, stdout, JSON_COMPACT |
				   JSON_REAL_PRECISION(16));
			fputc('\n', stdout);
			json_decref(m);
		} else {
			json_array_append_new(out, m);
		}
	}
	if (!lines) {
		json_dumpf(out, stdout, SOURCE_JSON_FLAGS);
		fputc('\n', stdout);
	}
	json_decref(out);
}

/* ---- the command ------------------------------------------------------- */

static int show(const json_t *snap, const char *conn_id,
		const struct msgs_filter *f, unsigned long limit, bool as_json,
		bool following)
{
	struct printer o = {.f = stdout, .out = stdout};
	struct rows r = {0};
	const json_t *conns = json_object_get(snap, "connections"), *c;
	size_t i, from = 0, messages = 0;
	int pid = (int)json_integer_value(json_object_get(snap, "pid"));
	const char *name = source_string(snap, "process", "?");

	if (conn_id) {
		c = conn_view_find(snap, conn_id);
		if (!c) {
			cli_error("no connection %s in %s (pid %d); "
				  "see 'wsdbg conns'", conn_id, name, pid);
			return CLI_NOTHING;
		}
		collect(&r, c, f);
	} else {
		json_array_foreach(conns, i, c) {
			int w = (int)strlen(source_string(c, "id", ""));

			collect(&r, c, f);
			o.tag_w = w > o.tag_w ? w : o.tag_w;
		}
		o.tag = true;
	}
	if (r.n > 1)
		qsort(r.v, r.n, sizeof(*r.v), compare_rows);
	for (i = 0; i < r.n; i++)
		messages += r.v[i].kind == ROW_MESSAGE;
	/* The last limit messages, and the open/close rows among them. */
	if (limit && messages > limit) {
		size_t kept = 0;

		for (from = r.n; from > 0 && kept < limit; from--)
			kept += r.v[from - 1].kind == ROW_MESSAGE;
	}
	if (as_json) {
		print_json(&r, from, following);
	} else if (r.n || following) {
		o.color = format_color_wanted(STDOUT_FILENO);
		o.width = format_terminal_width(STDOUT_FILENO);
		line_start(&o);
		painted(&o, PAINT_DIM, "%s pid %d · %s%s · ← received, → sent"
			"%s%s\n", name, pid, conn_id ? "connection " : "",
			conn_id ? conn_id : "all connections",
			from ? " · earlier rows left out (--limit)" : "",
			following ? " · following (Ctrl-C stops)" : "");
		line_end(&o);
		for (i = from; i < r.n; i++)
			print_row(&o, &r.v[i]);
	}
	free(r.v);
	if (messages == 0 && !following) {
		cli_error("no message%s in %s (pid %d)%s",
			  filtering(f) ? " matches" : "", name, pid,
			  conn_id ? " on this connection" : "");
		return CLI_NOTHING;
	}
	return CLI_OK;
}


/* ---- --follow ---------------------------------------------------------- */

/* How often --follow asks the process for new messages. */
#define FOLLOW_POLL_MS 200

/* What --follow knows of one connection from the last answer. */
struct seen_conn {
	char id[24];
	unsigned long long messages; /* sent + received, all types */
	unsigned long long dropped;  /* messages_dropped */
	bool closed;
};

struct follower {
	struct seen_conn *v;
	size_t n, cap;
	unsigned long long last_seq; /* highest seq printed or passed over */
};

static struct seen_conn *seen_find(struct follower *fw, const char *id)
{
	for (size_t i = 0; i < fw->n; i++)
		if (!strcmp(fw->v[i].id, id))
			return &fw->v[i];
	return NULL;
}

static struct seen_conn *seen_add(struct follower *fw, const char *id)
{
	if (fw->n == fw->cap) {
		fw->cap = fw->cap ? fw->cap * 2 : 16;
		fw->v = realloc(fw->v, fw->cap * sizeof(*fw->v));
		if (!fw->v)
			abort();
	}
	fw->v[fw->n] = (struct seen_conn){0};
	snprintf(fw->v[fw->n].id, sizeof(fw->v[fw->n].id), "%s", id);
	return &fw->v[fw->n++];
}

static unsigned long long conn_messages(const json_t *c)
{
	return source_count(c, "sent", "messages") +
	       source_count(c, "received", "messages");
}

static bool conn_closed(const json_t *c)
{
	return json_is_number(json_object_get(c, "closed_at"));
}

/*
 * Takes in one answer: rows for what is new (connections opened and
 * closed since, messages with seq > last_seq that pass the filter), and
 * in *lost how many messages of the followed connections were created
 * since the last answer but are gone from the ring before we could see
 * them. Sequence numbers are one counter per registry, so gaps between
 * the seqs of one connection say nothing; what counts is, per
 * connection, messages created since (the counters) minus messages
 * returned (seq > last_seq), bounded by how far messages_dropped grew:
 * a message is either still in the ring or was dropped. With first set,
 * only records the state (the timeline was printed already).
 */
static void follow_take(struct follower *fw, const json_t *snap,
			const char *conn_id, const struct msgs_filter *f,
			struct rows *r, unsigned long long *lost, bool first)
{
	const json_t *conns = json_object_get(snap, "connections"), *c, *m;
	unsigned long long top = fw->last_seq;
	size_t i, j;

	*lost = 0;
	json_array_foreach(conns, i, c) {
		const char *id = source_string(c, "id", "");
		struct seen_conn *sc = seen_find(fw, id);
		unsigned long long now = conn_messages(c), returned = 0;
		unsigned long long dropped = source_count(c, "messages_dropped",
							  NULL);
		bool fresh = !sc;

		if (conn_id && !conn_view_is(c, conn_id))
			continue;
		if (fresh) {
			sc = seen_add(fw, id);
			if (!first && !filtering(f))
				rows_add(r, ROW_OPEN, c, NULL, source_number(
					json_object_get(c, "opened_at")), 0);
		}
		json_array_foreach(json_object_get(c, "messages"), j, m) {
			unsigned long long seq = source_count(m, "seq", NULL);

			if (seq <= fw->last_seq)
				continue;
			returned++;
			top = seq > top ? seq : top;
			if (!first && message_selected(m, f))
				rows_add(r, ROW_MESSAGE, c, m, source_number(
					json_object_get(m, "t")), seq);
		}
		if (!first && now > sc->messages + returned &&
		    dropped > sc->dropped) {
			unsigned long long gone = now - sc->messages - returned;
			unsigned long long grew = dropped - sc->dropped;

			*lost += gone < grew ? gone : grew;
		}
		if (conn_closed(c) && !sc->closed && !first && !filtering(f))
			rows_add(r, ROW_CLOSED, c, NULL, source_number(
				json_object_get(c, "closed_at")), ~0ull);
		sc->messages = now;
		sc->dropped = dropped;
		sc->closed = conn_closed(c);
	}
	fw->last_seq = top;
}

/* Waits up to ms for SIGINT or SIGTERM (blocked); true when one came. */
static bool wait_for_stop(const sigset_t *stop, long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	return sigtimedwait(stop, NULL, &ts) > 0;
}

static int follow(const json_t *snap, int pid, const char *conn_id,
		  const struct msgs_filter *f, bool as_json)
{
	struct follower fw = {0};
	struct printer o = {.f = stdout, .out = stdout, .tag = !conn_id};
	char dir[4096], request[128];
	unsigned long long lost;
	sigset_t stop;
	int status = CLI_OK;

	o.color = !as_json && format_color_wanted(STDOUT_FILENO);
	o.width = as_json ? 0 : format_terminal_width(STDOUT_FILENO);
	if (!source_socket_dir(dir, sizeof(dir))) {
		cli_error("socket directory name too long");
		return CLI_NOTHING;
	}
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	{
		struct rows r = {0};

		follow_take(&fw, snap, conn_id, f, &r, &lost, true);
		free(r.v);
	}
	for (size_t i = 0; i < fw.n; i++) {
		int w = (int)strlen(fw.v[i].id);

		o.tag_w = w > o.tag_w ? w : o.tag_w;
	}
	fflush(stdout);
	while (!wait_for_stop(&stop, FOLLOW_POLL_MS)) {
		struct rows r = {0};
		json_t *ans;
		int rs;

		if (conn_id)
			snprintf(request, sizeof(request),
				 "snapshot after=%llu conn=%s", fw.last_seq,
				 conn_id);
		else
			snprintf(request, sizeof(request),
				 "snapshot after=%llu", fw.last_seq);
		cli_quiet = true;
		cli_last_error[0] = '\0';
		ans = source_request(dir, pid, request, &rs);
		cli_quiet = false;
		if (!ans) {
			/* Gone: its socket removed (it exited) or refusing
			 * (it was killed). Not judged by pid, which is the
			 * process's own: in another pid namespace, it may be
			 * no process, or another one, here. */
			if (source_process_gone(dir, pid)) {
				/* Not on stdout when it holds JSON lines. */
				fprintf(as_json ? stderr : stdout,
					"process %d exited\n", pid);
			} else {
				cli_error("%s", cli_last_error);
				status = rs;
			}
			break;
		}
		if (!as_json)
			clean_snapshot(ans);
		follow_take(&fw, ans, conn_id, f, &r, &lost, false);
		if (r.n > 1)
			qsort(r.v, r.n, sizeof(*r.v), compare_rows);
		if (lost && as_json)
			fprintf(stderr, "wsdbg: … %llu message%s dropped "
				"(ring overtaken)\n", lost, lost == 1 ? "" : "s");
		else if (lost)
			painted(&o, PAINT_YELLOW, "… %llu message%s dropped "
				"(ring overtaken)\n", lost, lost == 1 ? "" : "s");
		if (as_json) {
			print_json(&r, 0, true);
		} else {
			for (size_t i = 0; i < r.n; i++) {
				int w = (int)strlen(source_string(r.v[i].conn,
								  "id", ""));

				o.tag_w = w > o.tag_w ? w : o.tag_w;
				print_row(&o, &r.v[i]);
			}
		}
		free(r.v);
		json_decref(ans);
		fflush(stdout);
	}
	fflush(stdout);
	free(fw.v);
	return status;
}

int cmd_msgs(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"from", required_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"dir", required_argument, NULL, 'd'},
		{"type", required_argument, NULL, 't'},
		{"grep", required_argument, NULL, 'g'},
		{"limit", required_argument, NULL, 'l'},
		{"follow", no_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct msgs_filter f = {0};
	const char *conn_id = NULL;
	unsigned long limit = 0;
	bool as_json = false, used, have_limit = false, following = false;
	int opt, status = CLI_OK, rc, pid = 0;
	char bad[64];
	json_t *snap;
	struct source_query q = {.request = "snapshot", .asked_pid = &pid};

	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, ":hF", longopts, NULL)) != -1) {
		switch (opt) {
		case 'F':
			following = true;
			break;
		case 'f':
			q.from = optarg;
			break;
		case 'j':
			as_json = true;
			break;
		case 'd':
			if (strcmp(optarg, "sent") && strcmp(optarg, "received"))
				goto bad_dir;
			f.dir = optarg;
			break;
		case 't':
			if (!parse_types(optarg, &f.types, bad, sizeof(bad)))
				goto bad_type;
			break;
		case 'g':
			if (f.use_grep)
				regfree(&f.grep);
			rc = regcomp(&f.grep, optarg, REG_EXTENDED | REG_NOSUB);
			if (rc)
				goto bad_regex;
			f.use_grep = true;
			break;
		case 'l':
			if (!cli_parse_count(optarg, &limit))
				goto bad_limit;
			have_limit = true;
			break;
		case 'h':
			fputs(msgs_help, stdout);
			goto done;
		default:
			status = cli_bad_option("msgs", argv, opt);
			goto done;
		}
	}
	if (argc - optind > 2) {
		status = cli_usage_error("msgs", "unexpected argument '%s'",
					 argv[optind + 2]);
		goto done;
	}
	if (argc - optind == 2) {
		q.target = argv[optind];
		conn_id = argv[optind + 1];
		q.conn = conn_id; /* a live process sends only that one */
	} else if (argc - optind == 1) {
		q.target = argv[optind];
		q.target_optional = true;
	}
	if (following && q.from) {
		status = cli_usage_error("msgs", "--follow watches a live "
					 "process; it cannot read --from FILE");
		goto done;
	}
	snap = source_snapshot(&q, &used, &status);
	if (!snap)
		goto done;
	if (!as_json)
		clean_snapshot(snap);
	if (q.target_optional && !used)
		conn_id = q.target;
	if (!have_limit && !conn_id)
		limit = MSGS_DEFAULT_LIMIT;
	status = show(snap, conn_id, &f, limit, as_json, following);
	if (following && status == CLI_OK)
		status = follow(snap, pid, conn_id, &f, as_json);
	json_decref(snap);
	goto done;

bad_dir:
	status = cli_usage_error("msgs", "--dir takes sent or received, "
				 "not '%s'", optarg);
	goto done;
bad_type:
	status = cli_usage_error("msgs", "unknown message type '%s' (types: "
				 "text, binary, ping, pong, close)", bad);
	goto done;
bad_regex:
	regerror(rc, &f.grep, bad, sizeof(bad));
	status = cli_usage_error("msgs", "bad --grep pattern '%s': %s",
				 optarg, bad);
	goto done;
bad_limit:
	status = cli_usage_error("msgs", "--limit takes a count >= 1, "
				 "not '%s'", optarg);
done:
	if (f.use_grep)
		regfree(&f.grep);
	return status;
}

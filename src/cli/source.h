/*
 * source.h - where snapshots come from: the live processes running with
 * the shim (their sockets in the socket directory, DESIGN.md "The socket
 * and its protocol") or a saved snapshot file (what `wsdbg dump` or
 * WSDBG_DUMP wrote: one snapshot object, or an array of them).
 *
 * Every function that fails prints exactly one line on stderr (cli_error)
 * and gives back the exit status to use (CLI_NOTHING or CLI_USAGE).
 */
#ifndef WSDBG_CLI_SOURCE_H
#define WSDBG_CLI_SOURCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* How long a process has to answer one request, all of it: a process
 * that answers nothing, or too slowly, costs the CLI at most this. */
#define SOURCE_TIMEOUT_MS 2000

/*
 * The largest answer or snapshot file read, in bytes: more is refused
 * with one error line before it is parsed, so a process that streams
 * without end, or a huge file, cannot exhaust memory. WSDBG_MAX_SNAPSHOT
 * (a count of bytes, K/M/G suffixes) changes it.
 */
#define SOURCE_MAX_SNAPSHOT (32u << 20)

/*
 * At most one JSON value (object, array, string, number...) per this many
 * bytes of the limit: parsed, a value costs jansson about 100 bytes, so
 * a file of "[{},{},...]" would otherwise take some 80 times its size.
 * Real snapshots spend 20 bytes or more per value (keys, numbers, text).
 */
#define SOURCE_BYTES_PER_VALUE 16

/* The limit in force: WSDBG_MAX_SNAPSHOT when valid, else the default. */
size_t source_max_snapshot(void);

/* Whether the CLI's own environment (WSDBG_MAX_SNAPSHOT) is unset, empty
 * or valid; false after one error line. */
bool source_check_env(void);

/* One attached process. */
struct source_proc {
	/* Its pid as it knows it: the name of its socket (<pid>.sock), the
	 * "pid" of its snapshots; what requests go to. */
	int pid;
	/* Its pid in our pid namespace: pid, unless the process is shown to
	 * be in another one (a container, unshare --pid); then the pid we
	 * see it by, or 0 when our namespace cannot see it (it is not an
	 * ancestor of the process's). For a file's snapshot, pid. */
	int local_pid;
	/* /proc/LOCAL_PID/comm, or "?" */
	char name[64];
};

/*
 * Writes the socket directory into out, with the shim's rules
 * (socket_dir_default in src/shim/socket_dir.h): $WSDBG_DIR, else $XDG_RUNTIME_DIR/wsdbg,
 * else /tmp/wsdbg-<euid>; empty variables count as unset. Returns false
 * when it does not fit.
 */
bool source_socket_dir(char *out, size_t cap);

/*
 * Lists the attached processes: the sockets <pid>.sock in dir (sockets,
 * not followed through symlinks), sorted by local_pid (0 last), then
 * pid. Each is connected to and hung up on at once, without a request:
 * never by its pid, which is the process's own, maybe in another pid
 * namespace, so that it may be no process or another one here. A socket
 * that refuses the connection (nothing listens on it: its process died
 * without removing it) is skipped, and removed when it is ours (owned by
 * our effective uid); one that takes it is listed, and so is one that
 * cannot be asked (permission denied, a full queue): its process may be
 * alive. The listener's credentials (SO_PEERCRED) give local_pid. Never
 * waits: a dead socket refuses at once. A missing directory is an empty
 * list. Returns the count and a malloc'd array in *out (free it), or
 * -errno when dir cannot be read.
 */
long source_list(const char *dir, struct source_proc **out);

/*
 * Whether the process of pid's socket in dir has gone: its socket is
 * missing (removed at exit) or refuses a connection (it was killed).
 * Asks the process nothing; holds in any pid namespace.
 */
bool source_process_gone(const char *dir, int pid);

/* Reports source_list's failure err (-errno) for dir: one line. */
void source_list_error(const char *dir, long err);

/*
 * Sends one request line (without "\n", e.g. "summary") to pid's socket
 * in dir and parses the JSON answer, all within SOURCE_TIMEOUT_MS and at
 * most source_max_snapshot() bytes. Returns the answer, a snapshot object
 * (json_decref it), or NULL after one error line (not attached,
 * permission denied, no answer or too slow, closed without answering,
 * too large, not JSON, not a snapshot, an error answer), *status set to
 * CLI_NOTHING.
 */
json_t *source_request(const char *dir, int pid, const char *request,
		       int *status);

/*
 * Reads a saved snapshot file: one object with "wsdbg": 1, or an array of
 * them, at most source_max_snapshot() bytes. Returns it, or NULL after one
 * error line (unreadable; too large; not JSON or not UTF-8: jansson's
 * message with line and column; not a snapshot), *status set.
 */
json_t *source_load_file(const char *path, int *status);

/* What a viewing command asks for. */
struct source_query {
	const char *from;   /* --from FILE, or NULL for a live process */
	/* PID (here, else a process's own in another pid namespace) or
	 * process name, or NULL */
	const char *target;
	/* When target names no process, leave it unused instead of failing
	 * (msgs: a lone argument that is not a process is a CONN). */
	bool target_optional;
	const char *request; /* live request line: "snapshot", "summary" */
	/* The one connection wanted, or NULL for all; with target_optional,
	 * a target left unused is the connection instead. A live process is
	 * asked for it alone (request + " conn=ID"); files are read whole. */
	const char *conn;
	/* Out, when not NULL: the pid of the live process asked (0 for a
	 * file). What --follow asks next; never the answer's own "pid". */
	int *asked_pid;
};

/*
 * Parses a connection id as the stats server reads conn=ID and the
 * snapshot writes "id": 1 to 16 hex digits, any case, not zero. False
 * for anything else (no connection can have that id).
 */
bool source_conn_id(const char *s, unsigned long long *out);

/*
 * Finds the one snapshot the query names: in the file (an array needs a
 * target, or a single element), or live: target as PID (its pid here
 * first, then a process's own pid in another pid namespace) or unique
 * name, or the only attached process when target is NULL (else the error
 * lists the candidates). *target_used tells whether target picked the process.
 * Returns the snapshot object (json_decref it) or NULL, *status set.
 */
json_t *source_snapshot(const struct source_query *q, bool *target_used,
			int *status);

/* Serialisation flags for JSON output: indented, 16 significant digits
 * for reals (timestamps keep their microseconds). */
#define SOURCE_JSON_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(16))

/* Reals and integers alike as a double (0 when neither). */
double source_number(const json_t *v);

/* A string member, or fallback when missing or not a string. */
const char *source_string(const json_t *obj, const char *key,
			  const char *fallback);

/* obj.key.sub as an unsigned count (0 when missing). */
unsigned long long source_count(const json_t *obj, const char *key,
				const char *sub);

#endif

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

/* How long a process has to answer one request, all of it. */
#define SOURCE_TIMEOUT_MS 2000

/* One attached process: its pid and name (/proc/PID/comm). */
struct source_proc {
	int pid;
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
 * Lists the attached processes: the sockets <pid>.sock in dir, sorted by
 * pid. A socket whose process is dead (kill(pid, 0) fails with ESRCH) is
 * skipped, and removed when it is ours (owned by our effective uid). A
 * missing directory is an empty list. Returns the count and a malloc'd
 * array in *out (free it), or -errno when dir cannot be read.
 */
long source_list(const char *dir, struct source_proc **out);

/*
 * Sends one request line (without "\n", e.g. "summary") to pid's socket
 * in dir and parses the JSON answer, all within SOURCE_TIMEOUT_MS. Returns
 * the answer (json_decref it), or NULL after one error line (not
 * attached, permission denied, no answer, an error answer), *status set.
 */
json_t *source_request(const char *dir, int pid, const char *request,
		       int *status);

/*
 * Reads a saved snapshot file: one object with "wsdbg": 1, or an array of
 * them. Returns it, or NULL after one error line (unreadable; not JSON:
 * jansson's message with line and column; not a snapshot), *status set.
 */
json_t *source_load_file(const char *path, int *status);

/* What a viewing command asks for. */
struct source_query {
	const char *from;   /* --from FILE, or NULL for a live process */
	const char *target; /* PID or process name, or NULL */
	/* When target names no process, leave it unused instead of failing
	 * (msgs: a lone argument that is not a process is a CONN). */
	bool target_optional;
	const char *request; /* live request line: "snapshot", "summary" */
};

/*
 * Finds the one snapshot the query names: in the file (an array needs a
 * target, or a single element), or live: target as PID or unique name,
 * or the only attached process when target is NULL (else the error lists
 * the candidates). *target_used tells whether target picked the process.
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

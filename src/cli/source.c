/* source.c - finding attached processes and reading snapshots. */
#include "source.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "socket_dir.h"

bool source_socket_dir(char *out, size_t cap)
{
	return socket_dir_default(out, cap, NULL) == 0;
}

/* The pid of a name "<digits>.sock", or 0. */
static int socket_name_pid(const char *name)
{
	char *end;
	long pid;

	if (!isdigit((unsigned char)name[0]))
		return 0;
	errno = 0;
	pid = strtol(name, &end, 10);
	if (errno || pid <= 0 || pid > 0x3fffffff || strcmp(end, ".sock"))
		return 0;
	return (int)pid;
}

/* /proc/PID/comm into name, or "?" */
static void process_name(int pid, char *name, size_t cap)
{
	char path[64];
	FILE *f;

	snprintf(name, cap, "?");
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(name, (int)cap, f))
		name[strcspn(name, "\n")] = '\0';
	fclose(f);
}

static int compare_pid(const void *a, const void *b)
{
	const struct source_proc *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

long source_list(const char *dir, struct source_proc **out)
{
	struct source_proc *procs = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	*out = NULL;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		int pid = socket_name_pid(e->d_name);
		struct stat st;

		if (!pid || fstatat(dirfd(d), e->d_name, &st,
				    AT_SYMLINK_NOFOLLOW) || !S_ISSOCK(st.st_mode))
			continue;
		if (kill(pid, 0) != 0 && errno == ESRCH) {
			/* Left by a process that died without cleaning up. */
			if (st.st_uid == geteuid())
				unlinkat(dirfd(d), e->d_name, 0);
			continue;
		}
		if (n == cap) {
			struct source_proc *p;

			cap = cap ? cap * 2 : 8;
			p = realloc(procs, cap * sizeof(*p));
			if (!p) {
				free(procs);
				closedir(d);
				return -ENOMEM;
			}
			procs = p;
		}
		procs[n].pid = pid;
		process_name(pid, procs[n].name, sizeof(procs[n].name));
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(procs, n, sizeof(*procs), compare_pid);
	*out = procs;
	return (long)n;
}

/* ---- one request ------------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline; false on timeout. */
static bool wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		struct pollfd p = {.fd = fd, .events = events};
		int r;

		if (left <= 0)
			return false;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return true;
		if (r == 0 || errno != EINTR)
			return false;
	}
}

/* Connects to path; returns the fd or -errno. */
static int connect_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/* Reads until end of file into a malloc'd buffer; NULL on timeout (with
 * *timed_out) or error. */
static char *read_all(int fd, long long deadline, size_t *len,
		      bool *timed_out)
{
	size_t n = 0, cap = 65536;
	char *buf = malloc(cap);

	*timed_out = false;
	while (buf) {
		ssize_t r;

		if (n == cap) {
			char *b = realloc(buf, cap * 2);

			if (!b)
				break;
			buf = b;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r > 0) {
			n += (size_t)r;
		} else if (r == 0) {
			*len = n;
			return buf;
		} else if (errno == EAGAIN) {
			if (!wait_fd(fd, POLLIN, deadline)) {
				*timed_out = true;
				break;
			}
		} else if (errno != EINTR) {
			break;
		}
	}
	free(buf);
	return NULL;
}

static json_t *request_failed(int *status, int code)
{
	*status = code;
	return NULL;
}

json_t *source_request(const char *dir, int pid, const char *request,
		       int *status)
{
	long long deadline = now_ms() + SOURCE_TIMEOUT_MS;
	char path[4096], line[256];
	size_t len = 0, llen;
	bool timed_out;
	json_error_t jerr;
	json_t *answer, *error;
	char *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%d.sock", dir, pid);
	fd = connect_socket(path);
	if (fd == -ENOENT) {
		cli_error("process %d is not attached to wsdbg (no %s)", pid,
			  path);
		return request_failed(status, CLI_NOTHING);
	}
	if (fd == -EACCES || fd == -EPERM) {
		cli_error("permission denied on %s (process %d belongs to "
			  "another user?)", path, pid);
		return request_failed(status, CLI_NOTHING);
	}
	if (fd == -ECONNREFUSED) {
		cli_error("process %d is not answering on %s (stale socket)",
			  pid, path);
		return request_failed(status, CLI_NOTHING);
	}
	if (fd < 0) {
		cli_error("cannot connect to %s: %s", path, strerror(-fd));
		return request_failed(status, CLI_NOTHING);
	}
	llen = (size_t)snprintf(line, sizeof(line), "%s\n", request);
	/* One short line into an empty socket buffer: it goes in one write. */
	if (send(fd, line, llen, MSG_NOSIGNAL) != (ssize_t)llen) {
		cli_error("cannot send to %s: %s", path, strerror(errno));
		close(fd);
		return request_failed(status, CLI_NOTHING);
	}
	buf = read_all(fd, deadline, &len, &timed_out);
	close(fd);
	if (!buf) {
		if (timed_out)
			cli_error("process %d did not answer within %d s on %s",
				  pid, SOURCE_TIMEOUT_MS / 1000, path);
		else
			cli_error("cannot read from %s: %s", path,
				  strerror(errno));
		return request_failed(status, CLI_NOTHING);
	}
	if (len == 0) {
		free(buf);
		cli_error("process %d closed %s without answering (only its "
			  "user or root may ask)", pid, path);
		return request_failed(status, CLI_NOTHING);
	}
	answer = json_loadb(buf, len, JSON_ALLOW_NUL, &jerr);
	free(buf);
	if (!answer) {
		cli_error("process %d sent JSON that does not parse: %s "
			  "(line %d, column %d)", pid, jerr.text, jerr.line,
			  jerr.column);
		return request_failed(status, CLI_NOTHING);
	}
	error = json_object_get(answer, "error");
	if (json_is_string(error) || !json_is_object(answer)) {
		cli_error("process %d answered with an error: %s", pid,
			  json_is_string(error) ? json_string_value(error)
						: "not a JSON object");
		json_decref(answer);
		return request_failed(status, CLI_NOTHING);
	}
	return answer;
}

/* ---- files ------------------------------------------------------------- */

static bool is_snapshot(const json_t *v)
{
	const json_t *version = json_object_get(v, "wsdbg");

	return json_is_object(v) && json_is_integer(version) &&
	       json_integer_value(version) == 1 &&
	       json_is_array(json_object_get(v, "connections"));
}

json_t *source_load_file(const char *path, int *status)
{
	json_error_t jerr;
	json_t *v = json_load_file(path, JSON_ALLOW_NUL, &jerr);
	size_t i;
	json_t *e;

	if (!v) {
		*status = CLI_NOTHING;
		if (jerr.line < 1) /* could not open or read it */
			cli_error("%s: %s", path, jerr.text);
		else
			cli_error("%s:%d:%d: corrupt snapshot file: %s", path,
				  jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, e) {
			if (!is_snapshot(e))
				goto not_snapshot;
		}
		return v;
	}
	if (is_snapshot(v))
		return v;
not_snapshot:
	*status = CLI_NOTHING;
	cli_error("%s: not a wsdbg snapshot (schema version 1: an object "
		  "with \"wsdbg\": 1 and \"connections\", or an array of them)",
		  path);
	json_decref(v);
	return NULL;
}

/* ---- choosing the process ---------------------------------------------- */

double source_number(const json_t *v)
{
	return json_is_number(v) ? json_number_value(v) : 0;
}

const char *source_string(const json_t *obj, const char *key,
			  const char *fallback)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : fallback;
}

unsigned long long source_count(const json_t *obj, const char *key,
				const char *sub)
{
	const json_t *v = json_object_get(obj, key);

	if (sub)
		v = json_object_get(v, sub);
	return json_is_integer(v) && json_integer_value(v) > 0
		       ? (unsigned long long)json_integer_value(v) : 0;
}

/* The pid a target spells in decimal, or 0 when it is a name. */
static int target_pid(const char *target)
{
	char *end;
	long pid;

	if (!target || !isdigit((unsigned char)target[0]))
		return 0;
	errno = 0;
	pid = strtol(target, &end, 10);
	return errno || *end || pid <= 0 || pid > 0x3fffffff ? 0 : (int)pid;
}

/* Indexes of the candidates a target matches (all when target is NULL). */
static size_t match(const struct source_proc *c, size_t n, const char *target,
		    size_t *first)
{
	int pid = target_pid(target);
	size_t hits = 0;

	for (size_t i = 0; i < n; i++) {
		bool hit = !target || (pid ? c[i].pid == pid
					   : strcmp(c[i].name, target) == 0);

		if (hit && hits++ == 0)
			*first = i;
	}
	return hits;
}

/* "123 python3, 456 node" for error lines. */
static void list_candidates(char *out, size_t cap,
			    const struct source_proc *c, size_t n,
			    const char *target)
{
	int pid = target_pid(target);
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && used < cap; i++) {
		if (target && !pid && strcmp(c[i].name, target))
			continue;
		used += (size_t)snprintf(out + used, cap - used, "%s%d %s",
					 used ? ", " : "", c[i].pid, c[i].name);
	}
}

/*
 * Picks one of n candidates for q->target. Returns its index (with
 * *target_used false when an optional target matched nothing and the only
 * candidate is used anyway), or -1 after an error line.
 */
static long choose(const struct source_query *q, const struct source_proc *c,
		   size_t n, const char *where, bool *target_used,
		   int *status)
{
	char names[512];
	size_t first = 0, hits;

	*target_used = false;
	hits = q->target ? match(c, n, q->target, &first) : 0;
	if (hits == 1) {
		*target_used = true;
		return (long)first;
	}
	if (hits > 1) {
		list_candidates(names, sizeof(names), c, n, q->target);
		cli_error("several processes are named %s: %s; give a PID",
			  q->target, names);
		*status = CLI_USAGE;
		return -1;
	}
	if (q->target && !q->target_optional) {
		*status = CLI_NOTHING;
		if (target_pid(q->target) && !q->from &&
		    kill(target_pid(q->target), 0) != 0 && errno == ESRCH)
			cli_error("no such process: %s", q->target);
		else if (target_pid(q->target))
			cli_error("process %s is not attached to wsdbg (%s)",
				  q->target, where);
		else
			cli_error("no attached process is named %s (%s)",
				  q->target, where);
		return -1;
	}
	if (n == 1)
		return 0;
	if (n == 0) {
		cli_error("no process is attached to wsdbg (%s)", where);
		*status = CLI_NOTHING;
		return -1;
	}
	list_candidates(names, sizeof(names), c, n, NULL);
	cli_error("%zu processes are attached (%s); name one by PID or NAME",
		  n, names);
	*status = CLI_USAGE;
	return -1;
}

static json_t *snapshot_from_file(const struct source_query *q,
				  bool *target_used, int *status)
{
	json_t *file = source_load_file(q->from, status), *one;
	struct source_proc *c;
	char where[4200];
	size_t n, i;
	long pick;
	json_t *e;

	if (!file)
		return NULL;
	if (!json_is_array(file)) {
		json_t *wrap = json_array();

		json_array_append_new(wrap, file);
		file = wrap;
	}
	n = json_array_size(file);
	c = calloc(n ? n : 1, sizeof(*c));
	json_array_foreach(file, i, e) {
		c[i].pid = (int)json_integer_value(json_object_get(e, "pid"));
		snprintf(c[i].name, sizeof(c[i].name), "%s",
			 source_string(e, "process", "?"));
	}
	snprintf(where, sizeof(where), "in %s", q->from);
	pick = choose(q, c, n, where, target_used, status);
	free(c);
	one = pick < 0 ? NULL : json_incref(json_array_get(file, (size_t)pick));
	json_decref(file);
	return one;
}

json_t *source_snapshot(const struct source_query *q, bool *target_used,
			int *status)
{
	struct source_proc *c;
	char dir[4096], where[4200];
	json_t *snap = NULL;
	long n, pick;

	*target_used = false;
	if (q->from)
		return snapshot_from_file(q, target_used, status);
	if (!source_socket_dir(dir, sizeof(dir))) {
		cli_error("socket directory name too long");
		*status = CLI_NOTHING;
		return NULL;
	}
	n = source_list(dir, &c);
	if (n < 0) {
		cli_error("cannot read the socket directory %s: %s", dir,
			  strerror((int)-n));
		*status = CLI_NOTHING;
		return NULL;
	}
	snprintf(where, sizeof(where), "sockets in %s", dir);
	pick = choose(q, c, (size_t)n, where, target_used, status);
	if (pick >= 0)
		snap = source_request(dir, c[pick].pid, q->request, status);
	free(c);
	return snap;
}

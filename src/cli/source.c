/* source.c - finding attached processes and reading snapshots. */
#include "source.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
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
	/* A program may name itself anything (prctl PR_SET_NAME): keep
	 * terminal controls out of tables and error lines. */
	for (char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* Connects to path (non-blocking: a Unix socket connects or fails at
 * once); returns the fd or -errno. */
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

/* What connecting to a socket says about the process behind it. */
enum probe {
	PROBE_LIVE,    /* it took the connection: a process listens */
	PROBE_STALE,   /* refused (ECONNREFUSED): nothing listens on it */
	PROBE_GONE,    /* no such file any more */
	PROBE_UNKNOWN, /* anything else: permission denied, a full queue */
};

/*
 * Connects to the socket at path and hangs up at once, without a request
 * (the stats server takes that as nothing to answer). Never waits, on a
 * live socket or a dead one. On PROBE_LIVE, *peer is the pid of the
 * process that listens, as our pid namespace sees it (SO_PEERCRED), 0
 * when that process is in a pid namespace that ours is not an ancestor
 * of; -1 otherwise.
 *
 * Whether a process is alive is decided here and nowhere by its pid:
 * the pid in the file name is the one the process has in its own pid
 * namespace, which may be no process, or another one, in ours.
 */
static enum probe probe_socket(const char *path, int *peer)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd = connect_socket(path);

	*peer = -1;
	if (fd == -ECONNREFUSED)
		return PROBE_STALE;
	if (fd == -ENOENT)
		return PROBE_GONE;
	if (fd < 0)
		return PROBE_UNKNOWN;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    len == sizeof(cred))
		*peer = cred.pid;
	close(fd);
	return PROBE_LIVE;
}

bool source_process_gone(const char *dir, int pid)
{
	char path[4200];
	int peer;
	enum probe p;

	snprintf(path, sizeof(path), "%s/%d.sock", dir, pid);
	p = probe_socket(path, &peer);
	return p == PROBE_STALE || p == PROBE_GONE;
}

/*
 * The pid process pid has in its own, innermost pid namespace (the last
 * number of NSpid in /proc/PID/status) when that is not ours, else 0.
 */
static int innermost_pid(int pid)
{
	char path[64], line[256];
	int inner = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + 6, *end;
		int levels = 0;

		if (strncmp(line, "NSpid:", 6) != 0)
			continue;
		for (;;) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			inner = (int)v;
			levels++;
			p = end;
		}
		if (levels < 2)
			inner = 0;
		break;
	}
	fclose(f);
	return inner;
}

/*
 * The pid in our namespace of the process whose socket is <pid>.sock,
 * from peer (probe_socket): pid itself, unless the listener proves to be
 * that process in another pid namespace (a container, unshare --pid):
 * then peer, or 0 when our namespace cannot see it. A listener that is
 * another process of ours (a stand-in serving the socket in pid's name)
 * changes nothing.
 */
static int pid_here(int pid, int peer)
{
	if (peer == 0)
		return 0;
	if (peer > 0 && peer != pid && innermost_pid(peer) == pid)
		return peer;
	return pid;
}

/*
 * Removes the socket name in dirfd, which nothing listens on, when it is
 * ours (st: what lstat said before the probe) and still that file: a new
 * process with the same pid may have renamed its own socket onto the
 * name since. (The moment between that check and the unlink remains; no
 * call removes a name only if it is a given inode.)
 */
static void remove_stale(int dirfd, const char *name, const struct stat *st)
{
	struct stat now;

	if (st->st_uid != geteuid() ||
	    fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) != 0 ||
	    now.st_dev != st->st_dev || now.st_ino != st->st_ino ||
	    !S_ISSOCK(now.st_mode))
		return;
	unlinkat(dirfd, name, 0);
}

/* By pid here, those our namespace cannot see last; then by their own. */
static int compare_pid(const void *a, const void *b)
{
	const struct source_proc *x = a, *y = b;
	int xh = x->local_pid ? x->local_pid : INT_MAX;
	int yh = y->local_pid ? y->local_pid : INT_MAX;

	if (xh != yh)
		return (xh > yh) - (xh < yh);
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
		int pid = socket_name_pid(e->d_name), peer;
		char path[4200];
		struct stat st;

		if (!pid || fstatat(dirfd(d), e->d_name, &st,
				    AT_SYMLINK_NOFOLLOW) || !S_ISSOCK(st.st_mode))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		switch (probe_socket(path, &peer)) {
		case PROBE_STALE:
			/* Left by a process that died without cleaning up. */
			remove_stale(dirfd(d), e->d_name, &st);
			continue;
		case PROBE_GONE:
			continue;
		case PROBE_LIVE:
		case PROBE_UNKNOWN:
			break;
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
		procs[n].local_pid = pid_here(pid, peer);
		if (procs[n].local_pid)
			process_name(procs[n].local_pid, procs[n].name,
				     sizeof(procs[n].name));
		else
			snprintf(procs[n].name, sizeof(procs[n].name), "?");
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(procs, n, sizeof(*procs), compare_pid);
	*out = procs;
	return (long)n;
}

void source_list_error(const char *dir, long err)
{
	struct stat st;

	if (err == -EACCES && stat(dir, &st) == 0 && st.st_uid != geteuid())
		cli_error("permission denied on the socket directory %s (it "
			  "belongs to uid %u; only that user and root may look "
			  "in it)", dir, (unsigned)st.st_uid);
	else
		cli_error("cannot read the socket directory %s: %s", dir,
			  strerror((int)-err));
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

/* Parses "65536", "64K", "64M", "1G" (>= 1); false for anything else. */
static bool parse_size(const char *v, size_t *out)
{
	unsigned long long n, mult = 1;
	char *end;

	if (!isdigit((unsigned char)*v))
		return false;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (*end && strchr("KkMmGg", *end) && end[1] == '\0') {
		mult = 1ull << (*end == 'K' || *end == 'k' ? 10
				: *end == 'M' || *end == 'm' ? 20 : 30);
		end++;
	}
	if (errno || *end || n == 0 || n > (SIZE_MAX - 1) / mult)
		return false;
	*out = (size_t)(n * mult);
	return true;
}

bool source_check_env(void)
{
	const char *v = getenv("WSDBG_MAX_SNAPSHOT");
	size_t n;

	if (!v || !*v || parse_size(v, &n))
		return true;
	cli_error("WSDBG_MAX_SNAPSHOT='%s' is not a size (a count of bytes, "
		  "or with K, M or G)", v);
	return false;
}

size_t source_max_snapshot(void)
{
	const char *v = getenv("WSDBG_MAX_SNAPSHOT");
	size_t n;

	return v && parse_size(v, &n) ? n : SOURCE_MAX_SNAPSHOT;
}

/* "64 MiB" for error lines. */
static const char *limit_text(char buf[32], size_t n)
{
	if (n % (1u << 30) == 0)
		snprintf(buf, 32, "%zu GiB", n >> 30);
	else if (n % (1u << 20) == 0)
		snprintf(buf, 32, "%zu MiB", n >> 20);
	else if (n % (1u << 10) == 0)
		snprintf(buf, 32, "%zu KiB", n >> 10);
	else
		snprintf(buf, 32, "%zu bytes", n);
	return buf;
}

/*
 * Counts the JSON values in text[0..len) cheaply, without parsing: the
 * top value, plus one per container that is not empty and one per comma
 * outside strings (a container of k values holds k - 1 commas). Stops
 * counting past limit.
 */
static size_t count_values(const char *text, size_t len, size_t limit)
{
	size_t n = 1;
	bool in_string = false;

	for (size_t i = 0; i < len && n <= limit; i++) {
		char c = text[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == ',') {
			n++;
		} else if (c == '[' || c == '{') {
			size_t j = i + 1;

			while (j < len && strchr(" \t\r\n", text[j]) && text[j])
				j++;
			n += j < len && text[j] != ']' && text[j] != '}';
		}
	}
	return n;
}

/*
 * Parses text as JSON (NULs allowed in strings) unless it holds more
 * values than the limit allows; then returns NULL with *too_many set.
 */
static json_t *parse(const char *text, size_t len, size_t max,
		     json_error_t *jerr, bool *too_many)
{
	size_t limit = max / SOURCE_BYTES_PER_VALUE;

	*too_many = count_values(text, len, limit) > limit;
	if (*too_many)
		return NULL;
	return json_loadb(text, len, JSON_ALLOW_NUL, jerr);
}

/* How reading an answer ended. */
enum read_end {
	READ_DONE,      /* end of file */
	READ_TIMEOUT,   /* the deadline passed first */
	READ_TOO_LARGE, /* more than the limit */
	READ_ERROR,     /* read failed: errno */
};

/*
 * Reads fd (non-blocking) until end of file, the deadline or more than
 * max bytes, into a malloc'd buffer (*buf, *len; free it whatever the
 * result). The buffer grows as data comes, so memory follows what was
 * really sent, never more than max + 1 bytes.
 */
static enum read_end read_all(int fd, long long deadline, size_t max,
			      char **buf, size_t *len)
{
	size_t cap = 0;

	*buf = NULL;
	*len = 0;
	for (;;) {
		ssize_t r;

		if (*len == cap) {
			size_t want = cap ? cap * 2 : 65536;
			char *b;

			if (cap > max)
				return READ_TOO_LARGE;
			want = want > max + 1 ? max + 1 : want;
			b = realloc(*buf, want);
			if (!b) {
				errno = ENOMEM;
				return READ_ERROR;
			}
			*buf = b;
			cap = want;
		}
		r = read(fd, *buf + *len, cap - *len);
		if (r > 0) {
			*len += (size_t)r;
			if (*len > max)
				return READ_TOO_LARGE;
		} else if (r == 0) {
			return READ_DONE;
		} else if (errno == EAGAIN) {
			if (!wait_fd(fd, POLLIN, deadline))
				return READ_TIMEOUT;
		} else if (errno != EINTR) {
			return READ_ERROR;
		}
	}
}

static json_t *request_failed(int *status, int code)
{
	*status = code;
	return NULL;
}

static bool is_snapshot(const json_t *v);

/* Connects to pid's socket; returns the fd, or -1 after an error line. */
static int connect_process(const char *path, int pid)
{
	int fd = connect_socket(path);
	struct stat st;

	if (fd >= 0)
		return fd;
	if (fd == -ENOENT)
		cli_error("process %d is not attached to wsdbg (no %s)", pid,
			  path);
	else if ((fd == -EACCES || fd == -EPERM) && stat(path, &st) == 0)
		cli_error("permission denied on %s (process %d's socket "
			  "belongs to uid %u; only that user and root may ask)",
			  path, pid, (unsigned)st.st_uid);
	else if (fd == -EACCES || fd == -EPERM)
		cli_error("permission denied on %s (process %d belongs to "
			  "another user?)", path, pid);
	else if (fd == -ECONNREFUSED)
		cli_error("process %d is not answering on %s (stale socket)",
			  pid, path);
	else if (fd == -EAGAIN)
		cli_error("process %d is not taking connections on %s (its "
			  "queue is full)", pid, path);
	else
		cli_error("cannot connect to %s: %s", path, strerror(-fd));
	return -1;
}

json_t *source_request(const char *dir, int pid, const char *request,
		       int *status)
{
	long long deadline = now_ms() + SOURCE_TIMEOUT_MS;
	size_t max = source_max_snapshot(), len, llen;
	char path[4096], line[256], limit[32];
	enum read_end how;
	json_error_t jerr;
	json_t *answer, *error;
	bool too_many;
	char *buf;
	int fd, err;

	snprintf(path, sizeof(path), "%s/%d.sock", dir, pid);
	fd = connect_process(path, pid);
	if (fd < 0)
		return request_failed(status, CLI_NOTHING);
	llen = (size_t)snprintf(line, sizeof(line), "%s\n", request);
	/* One short line into an empty socket buffer: it goes in one write.
	 * A peer that has already closed (a SO_PEERCRED refusal, a crash)
	 * fails it, or resets the read before any byte: that is "closed
	 * without answering" below. */
	if (send(fd, line, llen, MSG_NOSIGNAL) == (ssize_t)llen) {
		how = read_all(fd, deadline, max, &buf, &len);
		err = errno;
	} else if (errno == EPIPE || errno == ECONNRESET) {
		how = READ_DONE;
		buf = NULL;
		len = 0;
		err = 0;
	} else {
		cli_error("cannot send to %s: %s", path, strerror(errno));
		close(fd);
		return request_failed(status, CLI_NOTHING);
	}
	close(fd);
	if (how == READ_ERROR && err == ECONNRESET && len == 0)
		how = READ_DONE;
	if (how != READ_DONE || len == 0)
		free(buf);
	if (how == READ_TIMEOUT && len == 0)
		cli_error("process %d did not answer within %d s on %s", pid,
			  SOURCE_TIMEOUT_MS / 1000, path);
	else if (how == READ_TIMEOUT)
		cli_error("process %d did not finish its answer within %d s "
			  "(%zu bytes came) on %s", pid,
			  SOURCE_TIMEOUT_MS / 1000, len, path);
	else if (how == READ_TOO_LARGE)
		cli_error("process %d sent more than %s on %s; stopped reading "
			  "(WSDBG_MAX_SNAPSHOT sets the limit)", pid,
			  limit_text(limit, max), path);
	else if (how == READ_ERROR)
		cli_error("cannot read from %s: %s", path, strerror(err));
	else if (len == 0)
		cli_error("process %d closed %s without answering (only its "
			  "user or root may ask)", pid, path);
	if (how != READ_DONE || len == 0)
		return request_failed(status, CLI_NOTHING);
	answer = parse(buf, len, max, &jerr, &too_many);
	free(buf);
	if (too_many) {
		cli_error("process %d sent more than %zu JSON values on %s; "
			  "not read (one per %d bytes of the %s limit, "
			  "WSDBG_MAX_SNAPSHOT)", pid,
			  max / SOURCE_BYTES_PER_VALUE, path,
			  SOURCE_BYTES_PER_VALUE, limit_text(limit, max));
		return request_failed(status, CLI_NOTHING);
	}
	if (!answer) {
		cli_error("process %d sent an answer that is not JSON: %s "
			  "(line %d, column %d)", pid, jerr.text, jerr.line,
			  jerr.column);
		return request_failed(status, CLI_NOTHING);
	}
	error = json_object_get(answer, "error");
	if (json_is_string(error)) {
		cli_error("process %d answered with an error: %s", pid,
			  json_string_value(error));
		json_decref(answer);
		return request_failed(status, CLI_NOTHING);
	}
	if (!is_snapshot(answer)) {
		cli_error("process %d answered with JSON that is not a wsdbg "
			  "snapshot (schema version 1)", pid);
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

/*
 * Reads the whole file into a malloc'd buffer (*buf, *len), refusing one
 * of more than max bytes (by its size when it has one, else while
 * reading: a pipe, /dev/zero). Returns 0, or -errno (-EFBIG: too large).
 */
static int read_file(const char *path, size_t max, char **buf, size_t *len)
{
	struct stat st;
	size_t cap = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (unsigned long long)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	for (;;) {
		ssize_t r;

		if (*len == cap) {
			size_t want = cap ? cap * 2 : 65536;
			char *b;

			if (cap > max) {
				err = -EFBIG;
				break;
			}
			want = want > max + 1 ? max + 1 : want;
			b = realloc(*buf, want);
			if (!b) {
				err = -ENOMEM;
				break;
			}
			*buf = b;
			cap = want;
		}
		r = read(fd, *buf + *len, cap - *len);
		if (r > 0) {
			*len += (size_t)r;
		} else if (r == 0) {
			break;
		} else if (errno != EINTR) {
			err = -errno;
			break;
		}
	}
	close(fd);
	if (!err && *len > max)
		err = -EFBIG;
	if (err) {
		free(*buf);
		*buf = NULL;
	}
	return err;
}

json_t *source_load_file(const char *path, int *status)
{
	size_t max = source_max_snapshot(), len, i;
	json_error_t jerr;
	bool too_many;
	char limit[32];
	char *buf;
	json_t *v, *e;
	int err = read_file(path, max, &buf, &len);

	if (err == -EFBIG) {
		*status = CLI_NOTHING;
		cli_error("%s: larger than %s; not read (WSDBG_MAX_SNAPSHOT "
			  "sets the limit)", path, limit_text(limit, max));
		return NULL;
	}
	if (err) {
		*status = CLI_NOTHING;
		cli_error("%s: %s", path, strerror(-err));
		return NULL;
	}
	v = parse(buf ? buf : "", len, max, &jerr, &too_many);
	free(buf);
	if (too_many) {
		*status = CLI_NOTHING;
		cli_error("%s: more than %zu JSON values; not read (one per %d "
			  "bytes of the %s limit, WSDBG_MAX_SNAPSHOT)", path,
			  max / SOURCE_BYTES_PER_VALUE, SOURCE_BYTES_PER_VALUE,
			  limit_text(limit, max));
		return NULL;
	}
	if (!v) {
		*status = CLI_NOTHING;
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

/* Whether candidate c is what target names; a PID is taken as the pid
 * in our namespace, else (when here) as the one a process in another pid
 * namespace has there (its socket's name). */
static bool matches(const struct source_proc *c, const char *target,
		    bool here)
{
	int pid = target_pid(target);

	if (!target)
		return true;
	if (!pid)
		return strcmp(c->name, target) == 0;
	return here ? c->local_pid == pid : c->pid == pid;
}

/* Indexes of the candidates a target matches (all when target is NULL):
 * by the pid in our namespace first, by a process's own pid only when
 * none has that pid here. */
static size_t match(const struct source_proc *c, size_t n, const char *target,
		    size_t *first)
{
	size_t hits = 0;

	for (int here = 1; here >= 0 && hits == 0; here--) {
		for (size_t i = 0; i < n; i++)
			if (matches(&c[i], target, here) && hits++ == 0)
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
					 used ? ", " : "",
					 c[i].local_pid ? c[i].local_pid
							: c[i].pid, c[i].name);
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
	if (!c)
		abort(); /* out of memory in a CLI: nothing to save */
	json_array_foreach(file, i, e) {
		c[i].pid = (int)json_integer_value(json_object_get(e, "pid"));
		c[i].local_pid = c[i].pid;
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

bool source_conn_id(const char *s, unsigned long long *out)
{
	unsigned long long v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 16 || strspn(s, "0123456789abcdefABCDEF") != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int d = tolower((unsigned char)s[i]);

		v = v << 4 | (unsigned)(isdigit(d) ? d - '0' : d - 'a' + 10);
	}
	*out = v;
	return v != 0;
}

/* The request line for q once the process is chosen: the one connection
 * alone when q names one. An id the server cannot read names no
 * connection: a summary (no messages) is enough to say so. */
static void request_line(const struct source_query *q, bool target_used,
			 char *out, size_t cap)
{
	const char *conn = q->conn;
	unsigned long long id;

	if (q->target_optional && q->target && !target_used)
		conn = q->target;
	if (!conn)
		snprintf(out, cap, "%s", q->request);
	else if (source_conn_id(conn, &id))
		snprintf(out, cap, "%s conn=%llx", q->request, id);
	else
		snprintf(out, cap, "summary");
}

json_t *source_snapshot(const struct source_query *q, bool *target_used,
			int *status)
{
	struct source_proc *c;
	char dir[4096], where[4200], request[128];
	json_t *snap = NULL;
	long n, pick;

	*target_used = false;
	if (q->asked_pid)
		*q->asked_pid = 0;
	if (q->from)
		return snapshot_from_file(q, target_used, status);
	if (!source_socket_dir(dir, sizeof(dir))) {
		cli_error("socket directory name too long");
		*status = CLI_NOTHING;
		return NULL;
	}
	n = source_list(dir, &c);
	if (n < 0) {
		source_list_error(dir, n);
		*status = CLI_NOTHING;
		return NULL;
	}
	snprintf(where, sizeof(where), "sockets in %s", dir);
	pick = choose(q, c, (size_t)n, where, target_used, status);
	if (pick >= 0) {
		request_line(q, *target_used, request, sizeof(request));
		snap = source_request(dir, c[pick].pid, request, status);
		if (q->asked_pid)
			*q->asked_pid = c[pick].pid;
	}
	free(c);
	return snap;
}

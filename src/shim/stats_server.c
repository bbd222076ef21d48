/*
 * stats_server.c - the per-process stats server (stats_server.h).
 *
 * Layout: the paths (on the caller's thread, in stats_server_start), then
 * the thread: it takes a descriptor table of its own when it can, makes
 * the directory and the socket safe, tells start how that went, and then
 * polls the listening socket; each client is checked, read, answered and
 * closed before the next is accepted. With a shared table, stop sets
 * `stopping` and shuts the listening socket down, which every wait of the
 * thread watches (POLLHUP), so it is answered at once even while a stuck
 * client is being served; with a private one it cannot, and the thread
 * sees `stopping` at its next wake (its poll times out every
 * STATS_SERVER_CHECK_MS). A listening socket that dies otherwise, or
 * whose name goes, is replaced by the thread.
 *
 * The server object is written before the thread starts; afterwards the
 * thread alone writes the listening socket's fields (when it makes or
 * replaces it), under fd_lock, which start, stop and forget take to read
 * them. `stopping` and `handoff` are atomic; handoff decides who frees
 * the object when stop or start leaves the thread to end on its own.
 */
#define _GNU_SOURCE /* SO_PEERCRED, struct ucred, accept4, strerror_r */
#include "stats_server.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "stats_mem.h"
#include "wsdbg/utf8.h"

/* How long stop waits for the thread before leaving it to free itself. */
#define STATS_SERVER_JOIN_MS 1000
/* Pause after accept or poll fail for lack of resources (no hot loop). */
#define STATS_SERVER_PAUSE_MS 100
/* Room for one warn line. */
#define STATS_SERVER_WARN_MAX 768
/* Room for the error answer: every request byte may become \u00XX. */
#define STATS_SERVER_ERROR_MAX (6 * STATS_SERVER_MAX_REQUEST + 128)

/* What a descriptor was open on when the server made it: the server
 * closes or uses a number only while it still is (stats_server_owns). */
struct stats_server_file {
	dev_t dev;
	ino_t ino;
};

/* A client: reading its request line, then (answer set) sending the
 * answer. Only the server's thread touches it. */
struct stats_client {
	int fd;                        /* -1: a free slot */
	struct stats_server_file file; /* what fd was accepted on */
	int64_t deadline_ms;           /* to read the line, then to send */
	size_t line_len;
	const char *answer; /* NULL while reading */
	size_t answer_len;
	size_t sent;
	bool newline; /* a "\n" still to send after the answer */
	size_t queued; /* what it adds to the server's queued */
	struct stats_mem mem; /* the answer's memory (stats_mem.h) */
	char line[STATS_SERVER_MAX_REQUEST + 1];
};

struct stats_server {
	struct registry *r;
	pthread_t thread;
	uid_t euid;  /* the owner we require of the directory, the socket
			and (besides root) of each client */
	int pid;
	char *process; /* NULL when the config gave none */
	void (*thread_init)(void);
	bool (*private_fds)(void);
	void (*warn)(const char *line);
	int (*fd_adopt)(int fd);
	void (*fd_forget)(int fd);
	/* Guards the fields below it up to `started`: written by the thread
	 * (when it replaces its listening socket, when it is up) and at
	 * start, read by start, stop and forget. A leaf lock, held for no
	 * blocking call. */
	pthread_mutex_t fd_lock;
	int listen_fd;                  /* -1 while there is none */
	struct stats_server_file listen; /* what listen_fd is open on */
	dev_t sock_dev; /* the socket file we bound, so stop removes only it */
	ino_t sock_ino;
	/* Set by the thread once it is up (its table chosen, its first
	 * listening socket made or failed): start waits for it, signalled by
	 * `started`, under fd_lock; then up_rc is 0 or -errno, with the warn
	 * line's detail in up_why. */
	bool up;
	int up_rc;
	char up_why[512];
	pthread_cond_t started;
	/* The thread's descriptors are in a table of its own (private_fds):
	 * written by the thread before `up`, read-only after. */
	bool private_table;
	/* Set by stop before it shuts the listening socket down. */
	atomic_bool stopping;
	/* Stop and the thread's end each add one; whoever reaches 2 frees the
	 * object. Used only when stop stops waiting for the thread. */
	atomic_int handoff;
	/* The clients, and what their answers hold: the thread's alone. */
	struct stats_client clients[STATS_SERVER_CLIENTS];
	size_t clients_open;
	size_t queued;
	/* <dir>/<pid>.sock */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	/* <dir>/<pid>.sock.new: the name the socket is bound to, listening,
	 * before it is renamed to path (stats_server_listen). Accepted
	 * sockets carry it as their address. */
	char bound[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* What a request line asks for. */
enum stats_request_kind {
	STATS_REQUEST_PING,
	STATS_REQUEST_SNAPSHOT,
	STATS_REQUEST_SUMMARY,
};

struct stats_request {
	enum stats_request_kind kind;
	uint64_t after_seq; /* 0: every message */
	uint64_t conn_id;   /* 0: every connection */
};

/* ---- small helpers ---------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void
stats_server_warnf(void (*warn)(const char *line), const char *fmt, ...)
{
	char line[STATS_SERVER_WARN_MAX];
	va_list ap;

	if (!warn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	warn(line);
}

/* strerror that is safe on any thread. */
static const char *stats_server_strerror(int err, char *buf, size_t cap)
{
	return strerror_r(err, buf, cap);
}

static int64_t stats_server_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double stats_server_wall_time(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What fd is open on now; false when it is not open. */
static bool stats_server_file_of(int fd, struct stats_server_file *f)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) != 0)
		return false;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	return true;
}

/* True while fd is still open on the file f the server made. Sockets have
 * inodes of their own: no other descriptor's file matches. */
static bool stats_server_owns(int fd, const struct stats_server_file *f)
{
	struct stats_server_file now;

	return stats_server_file_of(fd, &now) && now.dev == f->dev &&
	       now.ino == f->ino;
}

/* The descriptor the server just made, as the config wants it kept. */
static int stats_server_adopt(const struct stats_server *s, int fd)
{
	return s->fd_adopt ? s->fd_adopt(fd) : fd;
}

/* Lets go of fd, made on f: closed while it still is ours, else only
 * forgotten (the number is someone else's now: never closed). */
static void stats_server_release(const struct stats_server *s, int fd,
				 const struct stats_server_file *f)
{
	if (fd < 0)
		return;
	if (stats_server_owns(fd, f))
		close(fd);
	else if (s->fd_forget)
		s->fd_forget(fd);
}

/* ---- the directory and the socket file --------------------------------- */

/*
 * Creates dir (last component only, mode 0700) when missing, then checks
 * that it is a real directory owned by euid with no group/other bits.
 * Returns 0, or -errno with the reason (a phrase after the path) in why.
 */
static int stats_server_prepare_dir(const char *dir, uid_t euid, char *why,
				    size_t cap)
{
	char err[128];
	struct stat st;

	/* mkdir never follows a symlink in the last component: EEXIST. The
	 * umask can only take bits away from 0700, which the check allows. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		snprintf(why, cap, "cannot be created: %s",
			 stats_server_strerror(e, err, sizeof(err)));
		return -e;
	}
	if (lstat(dir, &st) < 0) {
		int e = errno;
		snprintf(why, cap, "cannot be examined: %s",
			 stats_server_strerror(e, err, sizeof(err)));
		return -e;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(why, cap,
			 "is a symbolic link; it must be a real "
			 "directory");
		return -ELOOP;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, cap, "is not a directory");
		return -ENOTDIR;
	}
	if (st.st_uid != euid) {
		snprintf(why, cap, "is owned by uid %u, not by uid %u",
			 (unsigned)st.st_uid, (unsigned)euid);
		return -EPERM;
	}
	if (st.st_mode & 077) {
		snprintf(why, cap,
			 "has mode %04o; group and others must have no access "
			 "(chmod 700)",
			 (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* True when something listens on the Unix socket at path: a live
 * process, maybe one whose pid is the same number in another pid
 * namespace sharing the directory. Only a refused connection (nothing
 * listens) says the socket is dead. */
static bool stats_server_answers(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	bool alive;
	int fd;

	memcpy(addr.sun_path, path, strnlen(path, sizeof(addr.sun_path) - 1));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return false;
	/* A full backlog (EAGAIN) is a live listener too. */
	alive = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 ||
		errno == EAGAIN || errno == EINPROGRESS;
	close(fd);
	return alive;
}

/*
 * Removes a leftover socket at path that we own and that nothing listens
 * on (the pid's previous program, before an exec, could not remove it).
 * Anything else there is not ours to remove: a live socket belongs to a
 * process with the same pid in another pid namespace. Returns 0 or -errno
 * with the reason in why.
 */
static int stats_server_remove_stale(const char *path, uid_t euid, char *why,
				     size_t cap)
{
	char err[128];
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		int e = errno;
		snprintf(why, cap, "cannot be examined: %s",
			 stats_server_strerror(e, err, sizeof(err)));
		return -e;
	}
	if (!S_ISSOCK(st.st_mode) || st.st_uid != euid) {
		snprintf(why, cap, "exists and is not a socket of ours");
		return -EEXIST;
	}
	if (stats_server_answers(path)) {
		snprintf(why, cap, "is in use by a live process (the same pid "
				   "in another pid namespace?)");
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		int e = errno;
		snprintf(why, cap,
			 "is an old socket that cannot be removed: %s",
			 stats_server_strerror(e, err, sizeof(err)));
		return -e;
	}
	return 0;
}

/* True when fd is an AF_UNIX socket bound to nothing yet: the socket the
 * server just made, not a descriptor of the host's that took its number
 * in between (own_fds.h). */
static bool stats_server_is_fresh_socket(int fd)
{
	struct sockaddr_un addr;
	socklen_t len = sizeof(addr);

	return getsockname(fd, (struct sockaddr *)&addr, &len) == 0 &&
	       addr.sun_family == AF_UNIX && len == sizeof(sa_family_t);
}

/*
 * Binds and listens on s->path with mode 0600. Returns the listening
 * socket (close-on-exec, non-blocking, adopted: stats_server_config), with
 * the socket file's identity in *sock and the socket's in *listener, or
 * -errno with the reason in why.
 *
 * The socket is bound to s->bound and takes the name s->path by rename
 * once it listens, so that a client never finds at s->path a socket that
 * refuses it ("not answering") while the process is starting.
 */
static int stats_server_listen(const struct stats_server *s,
			       struct stats_server_file *sock,
			       struct stats_server_file *listener, char *why,
			       size_t cap)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	char err[128];
	struct stat st;
	int fd, e;

	memcpy(addr.sun_path, s->bound, sizeof(addr.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		e = errno;
		snprintf(why, cap, "cannot get a socket: %s",
			 stats_server_strerror(e, err, sizeof(err)));
		return -e;
	}
	/* Out of the host's way before anything is bound to it. */
	fd = stats_server_adopt(s, fd);
	if (!stats_server_is_fresh_socket(fd) ||
	    !stats_server_file_of(fd, listener)) {
		/* The host took the number back in between: not ours. */
		if (s->fd_forget)
			s->fd_forget(fd);
		snprintf(why, cap, "cannot get a socket: its descriptor was "
				   "taken over");
		return -EBADF;
	}
	/* Linux gives the bound file the socket inode's mode minus the umask,
	 * so the file is never more open than 0600, even for an instant. */
	(void)fchmod(fd, 0600);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		e = errno;
		snprintf(why, cap, "cannot be bound: %s",
			 stats_server_strerror(e, err, sizeof(err)));
		goto close_socket;
	}
	/* Exactly 0600 whatever the umask took away (clients need rw). The
	 * directory is ours and closed to others, so the path is still the
	 * file we bound. */
	if (chmod(s->bound, 0600) < 0 || lstat(s->bound, &st) < 0) {
		e = errno;
		snprintf(why, cap, "cannot be made mode 0600: %s",
			 stats_server_strerror(e, err, sizeof(err)));
		goto unlink_socket;
	}
	sock->dev = st.st_dev;
	sock->ino = st.st_ino;
	if (listen(fd, STATS_SERVER_BACKLOG) < 0) {
		e = errno;
		snprintf(why, cap, "cannot listen: %s",
			 stats_server_strerror(e, err, sizeof(err)));
		goto unlink_socket;
	}
	if (rename(s->bound, s->path) < 0) {
		e = errno;
		snprintf(why, cap, "cannot take its name: %s",
			 stats_server_strerror(e, err, sizeof(err)));
		goto unlink_socket;
	}
	return fd;

unlink_socket:
	unlink(s->bound);
close_socket:
	close(fd);
	return -e;
}

/* Removes the socket file if it is still the one we bound. */
static void stats_server_unlink_socket(const struct stats_server *s)
{
	struct stat st;

	if (lstat(s->path, &st) == 0 && st.st_dev == s->sock_dev &&
	    st.st_ino == s->sock_ino)
		unlink(s->path);
}

/* ---- answers ------------------------------------------------------------ */

static void stats_server_sleep(struct stats_server *s, int ms);
static void stats_server_drop_listener(struct stats_server *s);

/*
 * {"wsdbg": 1, "error": "<message><quoted>"}, newly allocated (NULL when
 * out of memory), its length in *len. quoted (n bytes, may hold any byte)
 * is escaped for JSON; when it is not valid UTF-8 its non-ASCII bytes
 * become '?', so the answer always is.
 */
static char *stats_server_error_json(struct stats_mem *mem,
				     const char *message, const char *quoted,
				     size_t n, size_t *len)
{
	static const char hex[] = "0123456789abcdef";
	char *out = stats_mem_alloc(mem, STATS_SERVER_ERROR_MAX);
	bool utf8 = utf8_is_valid((const uint8_t *)quoted, n);
	size_t o;

	if (!out)
		return NULL;
	o = (size_t)snprintf(out, STATS_SERVER_ERROR_MAX,
			     "{\"wsdbg\": 1, \"error\": \"%s", message);
	for (size_t i = 0; i < n && o + 8 < STATS_SERVER_ERROR_MAX; i++) {
		unsigned char c = (unsigned char)quoted[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, STATS_SERVER_ERROR_MAX - o,
					      "\\u00%c%c", hex[c >> 4],
					      hex[c & 15]);
		} else if (c >= 0x80 && !utf8) {
			out[o++] = '?';
		} else {
			out[o++] = (char)c;
		}
	}
	o += (size_t)snprintf(out + o, STATS_SERVER_ERROR_MAX - o, "\"}");
	*len = o;
	return out;
}

/* Parses 1-20 decimal digits into *out without overflow. */
static bool stats_server_parse_dec(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(p[i] - '0');
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* Parses 1-16 hex digits (either case) into *out. */
static bool stats_server_parse_hex(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 16)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	*out = v;
	return true;
}

/* True when word (n bytes) starts with the NUL-terminated prefix. */
static bool stats_server_has_prefix(const char *word, size_t n,
				    const char *prefix)
{
	size_t k = strlen(prefix);
	return n >= k && memcmp(word, prefix, k) == 0;
}

/* Parses a request line (len bytes, may hold NULs) per stats_server.h.
 * Returns false for anything unknown or malformed. */
static bool stats_server_parse(const char *line, size_t len,
			       struct stats_request *req)
{
	bool have_command = false, have_after = false, have_conn = false;
	size_t i = 0;

	*req = (struct stats_request){0};
	while (i < len) {
		size_t start, n;

		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && line[i] != ' ')
			i++;
		const char *w = line + start;
		n = i - start;

		if (!have_command) {
			if (n == 4 && memcmp(w, "ping", 4) == 0)
				req->kind = STATS_REQUEST_PING;
			else if (n == 8 && memcmp(w, "snapshot", 8) == 0)
				req->kind = STATS_REQUEST_SNAPSHOT;
			else if (n == 7 && memcmp(w, "summary", 7) == 0)
				req->kind = STATS_REQUEST_SUMMARY;
			else
				return false;
			have_command = true;
		} else if (req->kind == STATS_REQUEST_PING) {
			return false;
		} else if (stats_server_has_prefix(w, n, "after=")) {
			if (have_after || req->kind != STATS_REQUEST_SNAPSHOT ||
			    !stats_server_parse_dec(w + 6, n - 6,
						    &req->after_seq))
				return false;
			have_after = true;
		} else if (stats_server_has_prefix(w, n, "conn=")) {
			if (have_conn ||
			    !stats_server_parse_hex(w + 5, n - 5,
						    &req->conn_id) ||
			    req->conn_id == 0)
				return false;
			have_conn = true;
		} else {
			return false;
		}
	}
	return have_command;
}

/* The answer to one parsed request, in mem (NULL when out of memory),
 * without its final "\n" unless it has one. */
static const char *stats_server_respond(struct stats_server *s,
					const struct stats_request *req,
					struct stats_mem *mem, size_t *len)
{
	struct registry_snapshot_options opt = {
	    .pid = s->pid,
	    .process = s->process,
	    .taken_at = stats_server_wall_time(),
	    .after_seq = req->after_seq,
	    .conn_id = req->conn_id,
	    .messages = req->kind == STATS_REQUEST_SNAPSHOT,
	    .expire = true,
	    .alloc = stats_mem_allocator(mem),
	};

	if (req->kind == STATS_REQUEST_PING) {
		*len = 5;
		return "pong\n";
	}
	/* The registry lock is held only inside this call, which leaves
	 * out connections past their ttl and frees nothing of the
	 * registry's: nothing here goes through malloc or free. */
	return registry_snapshot_json(s->r, &opt, len);
}

/* The answer to the request line (len bytes, NUL-terminated; -EMSGSIZE
 * when it was too long), in mem, its length in *len; NULL when out of
 * memory even for the error. */
static const char *stats_server_answer_line(struct stats_server *s,
					    const char *line, int n,
					    struct stats_mem *mem, size_t *len)
{
	struct stats_request req;
	const char *answer;

	if (n == -EMSGSIZE) {
		char msg[64];
		snprintf(msg, sizeof(msg),
			 "unknown request: line longer than %d bytes",
			 STATS_SERVER_MAX_REQUEST);
		return stats_server_error_json(mem, msg, "", 0, len);
	}
	if (!stats_server_parse(line, (size_t)n, &req))
		return stats_server_error_json(mem, "unknown request: ", line,
					       (size_t)n, len);
	answer = stats_server_respond(s, &req, mem, len);
	if (!answer)
		answer = stats_server_error_json(mem, "out of memory", "", 0,
						 len);
	return answer;
}

/* ---- clients, served side by side -------------------------------------- */

/* Ends client c: closes its descriptor (while it is still the one made),
 * frees its answer, frees the slot. */
static void stats_client_end(struct stats_server *s, struct stats_client *c)
{
	stats_server_release(s, c->fd, &c->file);
	s->queued -= c->queued;
	stats_mem_free_all(&c->mem);
	*c = (struct stats_client){.fd = -1};
	s->clients_open--;
}

/* Sends what c's answer has left (then a "\n" when it lacks one). Ends c
 * once all is sent, or on an error; leaves it waiting for POLLOUT when
 * the socket is full. Never raises SIGPIPE. */
static void stats_client_send(struct stats_server *s, struct stats_client *c)
{
	for (;;) {
		const char *p = c->sent < c->answer_len ? c->answer + c->sent
							 : "\n";
		size_t n = c->sent < c->answer_len ? c->answer_len - c->sent
						    : (size_t)c->newline;
		if (n == 0) {
			stats_client_end(s, c);
			return;
		}
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			if (c->sent < c->answer_len)
				c->sent += (size_t)w;
			else
				c->newline = false;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		stats_client_end(s, c); /* gone, or broken */
		return;
	}
}

/* c's request line is complete (n bytes, or -EMSGSIZE): answers it. */
static void stats_client_answer(struct stats_server *s, struct stats_client *c,
				int n)
{
	size_t len = 0;

	c->answer = stats_server_answer_line(s, c->line, n, &c->mem, &len);
	if (!c->answer) {
		stats_client_end(s, c);
		return;
	}
	c->answer_len = len;
	c->newline = len == 0 || c->answer[len - 1] != '\n';
	c->queued = c->mem.mapped;
	s->queued += c->queued;
	c->deadline_ms = stats_server_now_ms() + STATS_SERVER_WRITE_MS;
	stats_client_send(s, c);
}

/* Reads what c has sent of its request line. A line ends at "\n" (a "\r"
 * before it dropped) or at end of file when not empty; an empty end of
 * file, or an error, ends c without an answer. */
static void stats_client_read(struct stats_server *s, struct stats_client *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->line + c->line_len,
				 STATS_SERVER_MAX_REQUEST - c->line_len,
				 MSG_DONTWAIT);
		if (n > 0) {
			char *nl = memchr(c->line + c->line_len, '\n',
					  (size_t)n);
			if (nl) {
				c->line_len = (size_t)(nl - c->line);
				break;
			}
			c->line_len += (size_t)n;
			if (c->line_len == STATS_SERVER_MAX_REQUEST) {
				stats_client_answer(s, c, -EMSGSIZE);
				return;
			}
			continue;
		}
		if (n == 0 && c->line_len > 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		stats_client_end(s, c);
		return;
	}
	if (c->line_len > 0 && c->line[c->line_len - 1] == '\r')
		c->line_len--;
	c->line[c->line_len] = '\0';
	stats_client_answer(s, c, (int)c->line_len);
}

/* A client just accepted on fd: adopted (a shared table), checked (its
 * number still the socket accepted; our uid or root), given a free slot
 * and read at once. The caller made sure a slot is free. */
static void stats_server_take_client(struct stats_server *s, int fd)
{
	struct sockaddr_un addr;
	socklen_t len = sizeof(addr);
	struct stats_server_file file;
	struct ucred cred;
	socklen_t cred_len = sizeof(cred);
	struct stats_client *c = NULL;

	fd = stats_server_adopt(s, fd);
	/* Accepted sockets carry the listening socket's address: anything
	 * else at this number is the host's (own_fds.h), never touched. */
	if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0 ||
	    addr.sun_family != AF_UNIX ||
	    strncmp(addr.sun_path, s->bound, sizeof(addr.sun_path)) != 0 ||
	    !stats_server_file_of(fd, &file)) {
		if (s->fd_forget)
			s->fd_forget(fd);
		return;
	}
	/* Another user gets nothing, not even an error: the snapshot holds
	 * message contents and headers. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0 ||
	    cred_len != sizeof(cred) ||
	    (cred.uid != s->euid && cred.uid != 0)) {
		stats_server_release(s, fd, &file);
		return;
	}
	for (size_t i = 0; i < STATS_SERVER_CLIENTS && !c; i++)
		if (s->clients[i].fd < 0)
			c = &s->clients[i];
	*c = (struct stats_client){
	    .fd = fd,
	    .file = file,
	    .deadline_ms = stats_server_now_ms() + STATS_SERVER_READ_MS,
	};
	stats_mem_init(&c->mem);
	s->clients_open++;
	stats_client_read(s, c);
}

/* Accepts what is pending, while a slot is free and the answers queued
 * are under STATS_SERVER_QUEUED_MAX. */
static void stats_server_accept(struct stats_server *s)
{
	while (s->clients_open < STATS_SERVER_CLIENTS &&
	       s->queued < STATS_SERVER_QUEUED_MAX) {
		int fd = accept4(s->listen_fd, NULL, NULL,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			stats_server_take_client(s, fd);
			continue;
		}
		if (errno == EINTR)
			continue;
		/* Out of descriptors or memory: the host's problem too; do
		 * not spin on the pending connection. */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM)
			stats_server_sleep(s, STATS_SERVER_PAUSE_MS);
		else if (errno == EBADF || errno == ENOTSOCK ||
			 errno == EINVAL)
			stats_server_drop_listener(s);
		return;
	}
}

/* Ends every client whose deadline has passed; returns the milliseconds
 * until the nearest one left (at most STATS_SERVER_CHECK_MS). */
static int stats_server_expire_clients(struct stats_server *s)
{
	int64_t now = stats_server_now_ms();
	int64_t wait = STATS_SERVER_CHECK_MS;

	for (size_t i = 0; i < STATS_SERVER_CLIENTS; i++) {
		struct stats_client *c = &s->clients[i];
		if (c->fd < 0)
			continue;
		if (c->deadline_ms <= now)
			stats_client_end(s, c);
		else if (c->deadline_ms - now < wait)
			wait = c->deadline_ms - now;
	}
	return (int)wait;
}

/* Ends every client (the server stops). */
static void stats_server_end_clients(struct stats_server *s)
{
	for (size_t i = 0; i < STATS_SERVER_CLIENTS; i++)
		if (s->clients[i].fd >= 0)
			stats_client_end(s, &s->clients[i]);
}

/* ---- the thread -------------------------------------------------------- */

/* Sleeps about ms, in slices, returning early once stop is asked. */
static void stats_server_sleep(struct stats_server *s, int ms)
{
	while (ms > 0 && !atomic_load(&s->stopping)) {
		int slice = ms < STATS_SERVER_PAUSE_MS ? ms : STATS_SERVER_PAUSE_MS;
		struct timespec ts = {0, slice * 1000000L};
		nanosleep(&ts, NULL);
		ms -= slice;
	}
}

static int stats_server_bind_path(const struct stats_server *s,
				  struct stats_server_file *sock,
				  struct stats_server_file *listener, char *why,
				  size_t cap);

/* The listening socket died (closed, replaced or shut down behind the
 * server's back): lets go of its number without touching what the host
 * may have put there. */
static void stats_server_drop_listener(struct stats_server *s)
{
	pthread_mutex_lock(&s->fd_lock);
	stats_server_release(s, s->listen_fd, &s->listen);
	s->listen_fd = -1;
	pthread_mutex_unlock(&s->fd_lock);
}

/* Makes a new listening socket at the same path. Returns whether there is
 * one now. */
static bool stats_server_reopen(struct stats_server *s)
{
	struct stats_server_file sock, listener;
	char why[512];
	int fd = stats_server_bind_path(s, &sock, &listener, why, sizeof(why));

	if (fd < 0)
		return false;
	pthread_mutex_lock(&s->fd_lock);
	s->listen_fd = fd;
	s->listen = listener;
	s->sock_dev = sock.dev;
	s->sock_ino = sock.ino;
	pthread_mutex_unlock(&s->fd_lock);
	/* A stop that came in between found the old file; this one is ours
	 * to remove (free closes the socket). */
	if (atomic_load(&s->stopping))
		stats_server_unlink_socket(s);
	return true;
}

static void stats_server_free(struct stats_server *s)
{
	stats_server_release(s, s->listen_fd, &s->listen);
	pthread_cond_destroy(&s->started);
	pthread_mutex_destroy(&s->fd_lock);
	free(s->process);
	free(s);
}

/* The path is still the socket the server bound (not removed, nor
 * replaced by another file). */
static bool stats_server_path_is_ours(struct stats_server *s)
{
	struct stat st;
	bool ours;

	pthread_mutex_lock(&s->fd_lock);
	ours = lstat(s->path, &st) == 0 && st.st_dev == s->sock_dev &&
	       st.st_ino == s->sock_ino;
	pthread_mutex_unlock(&s->fd_lock);
	return ours;
}

/*
 * fd_adopt in a private table: moves fd up to half the descriptor limit
 * (at most 512), so that its number is none the host's small numbers
 * are: tools that key descriptor state by number for the whole process
 * (ThreadSanitizer, valgrind's --track-fds) do not take the server's
 * descriptors for the host's. Keeps fd where no such number is free.
 */
static int stats_server_move_high(int fd)
{
	struct rlimit lim;
	int floor = 512, high;

	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 1024)
		floor = (int)(lim.rlim_cur / 2);
	if (fd >= floor)
		return fd;
	high = fcntl(fd, F_DUPFD_CLOEXEC, floor);
	if (high < 0)
		return fd;
	close(fd);
	return high;
}

/* On the thread, before anything else: the descriptor table, then the
 * first listening socket; tells start how it went. Returns whether the
 * thread goes on (it has a socket). */
static bool stats_server_thread_start(struct stats_server *s)
{
	struct stats_server_file sock, listener;
	char why[sizeof(s->up_why)] = "";
	int fd;

	if (s->thread_init)
		s->thread_init();
	if (s->private_fds && s->private_fds()) {
		s->private_table = true;
		/* Nothing of ours is in the host's table. */
		s->fd_adopt = stats_server_move_high;
		s->fd_forget = NULL;
	}
	fd = stats_server_bind_path(s, &sock, &listener, why, sizeof(why));
	pthread_mutex_lock(&s->fd_lock);
	if (fd >= 0) {
		s->listen_fd = fd;
		s->listen = listener;
		s->sock_dev = sock.dev;
		s->sock_ino = sock.ino;
	}
	s->up = true;
	s->up_rc = fd < 0 ? fd : 0;
	memcpy(s->up_why, why, sizeof(why));
	pthread_cond_signal(&s->started);
	pthread_mutex_unlock(&s->fd_lock);
	return fd >= 0;
}

/* One wait of the thread: the listening socket (while a client may be
 * taken) and every client, until one is ready, the nearest deadline, or
 * STATS_SERVER_CHECK_MS; then serves what is ready. */
static void stats_server_poll(struct stats_server *s)
{
	struct pollfd p[1 + STATS_SERVER_CLIENTS];
	struct stats_client *of[1 + STATS_SERVER_CLIENTS];
	bool taking = s->clients_open < STATS_SERVER_CLIENTS &&
		      s->queued < STATS_SERVER_QUEUED_MAX;
	int timeout = stats_server_expire_clients(s);
	nfds_t n = 1;

	/* Not taking clients, it still watches for the stop's hang-up. */
	p[0] = (struct pollfd){.fd = s->listen_fd,
			       .events = taking ? POLLIN : 0};
	for (size_t i = 0; i < STATS_SERVER_CLIENTS; i++) {
		struct stats_client *c = &s->clients[i];
		if (c->fd < 0)
			continue;
		p[n] = (struct pollfd){.fd = c->fd,
				       .events = c->answer ? POLLOUT : POLLIN};
		of[n++] = c;
	}
	int ready = poll(p, n, timeout);
	if (ready < 0) {
		if (errno != EINTR)
			stats_server_sleep(s, STATS_SERVER_PAUSE_MS);
		return;
	}
	if (atomic_load(&s->stopping))
		return;
	for (nfds_t i = 1; i < n; i++) {
		if (!p[i].revents)
			continue;
		if (of[i]->answer)
			stats_client_send(s, of[i]);
		else
			stats_client_read(s, of[i]);
	}
	if (ready == 0 && s->clients_open == 0) {
		/* Idle: the name must still lead to us. */
		if (!stats_server_path_is_ours(s))
			stats_server_drop_listener(s);
		return;
	}
	if (!p[0].revents)
		return;
	/* A healthy listening socket only ever gets readable; and it must
	 * still be the one made (the host may have replaced the number, and
	 * then it must not be accepted on). */
	if (p[0].revents != POLLIN ||
	    !stats_server_owns(s->listen_fd, &s->listen)) {
		stats_server_drop_listener(s);
		/* Not in a hot loop should it keep dying. */
		stats_server_sleep(s, STATS_SERVER_PAUSE_MS);
		return;
	}
	stats_server_accept(s);
}

static void *stats_server_main(void *arg)
{
	struct stats_server *s = arg;

	for (size_t i = 0; i < STATS_SERVER_CLIENTS; i++)
		s->clients[i].fd = -1;
	if (!stats_server_thread_start(s))
		goto out; /* start reports it and frees (or left us to) */
	while (!atomic_load(&s->stopping)) {
		if (s->listen_fd < 0 && !stats_server_reopen(s)) {
			stats_server_sleep(s, STATS_SERVER_RETRY_MS);
			continue;
		}
		stats_server_poll(s);
	}
	stats_server_end_clients(s);
	if (s->private_table) {
		/* Stop could not reach the socket: the name is gone already
		 * unless a reopen raced with it, and the descriptor is only
		 * this thread's to close. */
		pthread_mutex_lock(&s->fd_lock);
		stats_server_unlink_socket(s);
		stats_server_release(s, s->listen_fd, &s->listen);
		s->listen_fd = -1;
		pthread_mutex_unlock(&s->fd_lock);
	}
out:
	if (atomic_fetch_add(&s->handoff, 1) == 1)
		stats_server_free(s); /* stop gave up waiting; ours to free */
	return NULL;
}

/* ---- start, stop, forget ----------------------------------------------- */

/* Fills s->path with <dir>/<pid>.sock, dir made absolute, and s->bound
 * with the same and ".new". Returns 0 or -ENAMETOOLONG / -errno of
 * getcwd. */
static int stats_server_make_path(struct stats_server *s, const char *dir)
{
	char cwd[PATH_MAX];
	int n;

	if (dir[0] == '/') {
		n = snprintf(s->path, sizeof(s->path), "%s/%d.sock", dir,
			     s->pid);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		n = snprintf(s->path, sizeof(s->path), "%s/%s/%d.sock", cwd,
			     dir, s->pid);
	}
	if (n < 0 || (size_t)n >= sizeof(s->path))
		return -ENAMETOOLONG;
	n = snprintf(s->bound, sizeof(s->bound), "%s.new", s->path);
	if (n < 0 || (size_t)n >= sizeof(s->bound))
		return -ENAMETOOLONG;
	return 0;
}

/* Starts the thread with every signal blocked from its first instruction
 * (it inherits the mask), so the host's signals go to the host's threads,
 * on a stack of STATS_SERVER_STACK. Returns 0 or -errno, once the thread
 * is up (its first socket made or failed, up_rc) or about a second has
 * passed. Once up it sits in poll and allocates nothing until a client
 * comes. A host that forks right after (a daemon's fork, setsid, fork) so
 * never forks it in the middle of its start, where an allocator without
 * fork handlers (AddressSanitizer's) could be left locked in the child. */
static int stats_server_spawn(struct stats_server *s)
{
	sigset_t all, old;
	struct timespec until;
	pthread_attr_t attr;
	int err;

	err = pthread_attr_init(&attr);
	if (err)
		return -err;
	/* A default stack is RLIMIT_STACK (8 MiB) of the host's address
	 * space; should this size be refused, the default will do. */
	(void)pthread_attr_setstacksize(&attr, STATS_SERVER_STACK);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&s->thread, &attr, stats_server_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err)
		return -err;
	pthread_setname_np(s->thread, "wsdbg-stats");
	/* Bounded: a thread that cannot even start is not waited for. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	pthread_mutex_lock(&s->fd_lock);
	while (!s->up &&
	       pthread_cond_timedwait(&s->started, &s->fd_lock, &until) == 0)
		;
	pthread_mutex_unlock(&s->fd_lock);
	return 0;
}

/* s->path and s->bound from dir. Returns 0 or -errno with the warn
 * line's detail ("'<dir>': <reason>") in why. */
static int stats_server_paths(struct stats_server *s, const char *dir,
			      char *why, size_t cap)
{
	char err[128];
	int rc = stats_server_make_path(s, dir);

	if (rc < 0)
		snprintf(why, cap, "'%s': %s", dir,
			 rc == -ENAMETOOLONG
			     ? "path too long for a Unix socket"
			     : stats_server_strerror(-rc, err, sizeof(err)));
	return rc;
}

/*
 * At s->path: the directory made safe, stale sockets removed (at s->path
 * and at s->bound), the listening socket. Returns it, with the identities
 * stats_server_listen gives, or -errno with the warn line's detail
 * ("'<path>' <reason>") in why. Also how the thread replaces a listening
 * socket that died.
 */
static int stats_server_bind_path(const struct stats_server *s,
				  struct stats_server_file *sock,
				  struct stats_server_file *listener, char *why,
				  size_t cap)
{
	char dir[sizeof(s->path)], reason[256];
	int rc;

	/* s->path up to its last '/' is the directory, made absolute. */
	memcpy(dir, s->path, sizeof(dir));
	*strrchr(dir, '/') = '\0';
	rc = stats_server_prepare_dir(dir, s->euid, reason, sizeof(reason));
	if (rc < 0) {
		snprintf(why, cap, "directory '%s' %s", dir, reason);
		return rc;
	}
	rc = stats_server_remove_stale(s->bound, s->euid, reason,
				       sizeof(reason));
	if (rc < 0) {
		snprintf(why, cap, "'%s' %s", s->bound, reason);
		return rc;
	}
	rc =
	    stats_server_remove_stale(s->path, s->euid, reason, sizeof(reason));
	if (rc == 0)
		rc = stats_server_listen(s, sock, listener, reason,
					 sizeof(reason));
	if (rc < 0)
		snprintf(why, cap, "'%s' %s", s->path, reason);
	return rc;
}

struct stats_server *stats_server_start(struct registry *r,
					const struct stats_server_config *cfg)
{
	char why[512], err[128];
	struct stats_server *s;
	int rc;

	if (!cfg->dir || !cfg->dir[0]) {
		snprintf(why, sizeof(why), "no socket directory given");
		goto warn;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(why, sizeof(why), "out of memory");
		goto warn;
	}
	*s = (struct stats_server){
	    .r = r,
	    .listen_fd = -1,
	    .euid = geteuid(),
	    .pid = cfg->pid,
	    .thread_init = cfg->thread_init,
	    .private_fds = cfg->private_fds,
	    .warn = cfg->warn,
	    .fd_adopt = cfg->fd_adopt,
	    .fd_forget = cfg->fd_forget,
	};
	if (pthread_mutex_init(&s->fd_lock, NULL) != 0) {
		snprintf(why, sizeof(why), "out of memory");
		goto free_server;
	}
	if (pthread_cond_init(&s->started, NULL) != 0) {
		pthread_mutex_destroy(&s->fd_lock);
		snprintf(why, sizeof(why), "out of memory");
		goto free_server;
	}
	if (cfg->process && !(s->process = strdup(cfg->process))) {
		snprintf(why, sizeof(why), "out of memory");
		goto destroy_lock;
	}
	if (stats_server_paths(s, cfg->dir, why, sizeof(why)) < 0)
		goto free_process;
	rc = stats_server_spawn(s);
	if (rc < 0) {
		snprintf(why, sizeof(why), "cannot start its thread: %s",
			 stats_server_strerror(-rc, err, sizeof(err)));
		goto free_process;
	}
	pthread_mutex_lock(&s->fd_lock);
	bool up = s->up;
	rc = s->up_rc;
	memcpy(why, s->up_why, sizeof(s->up_why));
	pthread_mutex_unlock(&s->fd_lock);
	if (!up) {
		/* Not running yet after a second: it goes on, and frees the
		 * object itself should it fail (stop or forget will not). */
		return s;
	}
	if (rc < 0) {
		/* The thread has ended, or is about to: nothing of it is
		 * left open. */
		pthread_join(s->thread, NULL);
		goto free_process;
	}
	return s;

free_process:
	free(s->process);
destroy_lock:
	pthread_cond_destroy(&s->started);
	pthread_mutex_destroy(&s->fd_lock);
free_server:
	free(s);
warn:
	stats_server_warnf(cfg->warn, "wsdbg: stats socket disabled: %s", why);
	return NULL;
}

void stats_server_stop(struct stats_server *s)
{
	struct timespec until;

	if (!s)
		return;
	pthread_mutex_lock(&s->fd_lock);
	atomic_store(&s->stopping, true);
	/* Clients stop finding us at once. First: a client that finds the
	 * path then finds a live listener, never "connection refused" at a
	 * path that is still there (which means a dead process). */
	stats_server_unlink_socket(s);
	/* Wakes the thread wherever it waits (they all watch for this
	 * hang-up); connecting is refused from now on. The listening socket
	 * itself is closed with the thread gone. A private table's
	 * descriptors are out of this thread's reach: the thread sees
	 * `stopping` at its next wake and ends on its own. */
	bool reachable = !s->private_table && s->up;
	if (reachable && s->listen_fd >= 0 &&
	    stats_server_owns(s->listen_fd, &s->listen))
		shutdown(s->listen_fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->fd_lock);
	if (!reachable) {
		pthread_detach(s->thread);
		if (atomic_fetch_add(&s->handoff, 1) == 1)
			stats_server_free(s); /* it has ended already */
		return;
	}

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)STATS_SERVER_JOIN_MS % 1000 * 1000000L;
	until.tv_sec +=
	    STATS_SERVER_JOIN_MS / 1000 + until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	if (pthread_timedjoin_np(s->thread, NULL, &until) == 0) {
		stats_server_free(s);
		return;
	}
	/* Busy inside registry_snapshot_json (a huge snapshot): it will see
	 * the stop right after. Do not wait longer at the host's exit. */
	stats_server_warnf(s->warn, "wsdbg: stats server still busy at stop; "
				    "leaving it to finish on its own");
	pthread_detach(s->thread);
	if (atomic_fetch_add(&s->handoff, 1) == 1)
		stats_server_free(s); /* it finished meanwhile */
}

void stats_server_forget(struct stats_server *s)
{
	if (!s)
		return;
	/* Closing the child's copy leaves the parent's socket listening.
	 * fd_lock may be held by a thread of the parent's that is not here:
	 * neither taken nor destroyed. A private table was the thread's
	 * alone: the child has no copy, and the number may be the host's. */
	if (!s->private_table && s->up)
		stats_server_release(s, s->listen_fd, &s->listen);
	free(s->process);
	free(s);
}

void stats_server_clear_stale(const char *dir, int pid)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)], why[256];
	int n;

	n = snprintf(path, sizeof(path), "%s/%d.sock", dir, pid);
	if (n < 0 || (size_t)n + 4 >= sizeof(path))
		return;
	(void)stats_server_remove_stale(path, geteuid(), why, sizeof(why));
	memcpy(path + n, ".new", 5);
	(void)stats_server_remove_stale(path, geteuid(), why, sizeof(why));
}

bool stats_server_private_fds(const struct stats_server *s)
{
	return s->private_table;
}

const char *stats_server_path(const struct stats_server *s)
{
	return s->path;
}

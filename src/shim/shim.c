/*
 * shim.c - set-up of the shim and the logic between the hooks and capture.
 *
 * State is set up once, from whichever comes first: the constructor, or a
 * hook running earlier (another library's constructor doing I/O). The
 * stats server thread is started by the constructor only, and again in a
 * fork child.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "fdtable.h"
#include "real.h"
#include "signals.h"
#include "stats_server.h"
#include "wsdbg/capture.h"


enum shim_state {
	SHIM_UNSET = 0, /* not set up yet */
	SHIM_ON,        /* recording */
	SHIM_OFF,       /* WSDBG_ENABLED=0, or set-up failed: pass-through */
};

/* Process-wide state. Written by shim_setup (once, under pthread_once) and
 * in a fork child (single-threaded then); read-only otherwise. */
static struct {
	struct registry *registry;
	struct capture_context capture;
	struct stats_server *server;
	char dump_path[PATH_MAX];
	int pid;
} shim;

static _Atomic int shim_state;
static pthread_once_t shim_once = PTHREAD_ONCE_INIT;

/* How deep the calling thread is inside the shim: its own I/O and hooks
 * re-entered from a signal handler that interrupted the shim see > 0 and
 * pass through. The stats server thread stays at 1 for its whole life. */
static __thread int shim_depth __attribute__((tls_model("initial-exec")));

/* One line on stderr, through the real write so it is not recorded. */
static void shim_warn(const char *line)
{
	const struct shim_real *real = shim_real();
	size_t n = strlen(line);
	if (real->write && real->write(STDERR_FILENO, line, n) == (ssize_t)n)
		(void)real->write(STDERR_FILENO, "\n", 1);
}

static void shim_warn_ctx(const char *line, void *ctx)
{
	(void)ctx;
	shim_warn(line);
}

static const char *shim_getenv(const char *name, void *ctx)
{
	(void)ctx;
	return getenv(name);
}

static const char *shim_getenv1(const char *name)
{
	return getenv(name);
}

/* Writes addr as "host:port", "[v6]:port" or a Unix path. */
static void shim_format_address(const struct sockaddr_storage *ss,
				socklen_t len, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "";
	out[0] = '\0';
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, cap, "%s:%u", host, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else if (ss->ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const void *)ss;
		size_t path_len = len > offsetof(struct sockaddr_un, sun_path)
			? len - offsetof(struct sockaddr_un, sun_path) : 0;
		if (path_len == 0 || un->sun_path[0] == '\0')
			snprintf(out, cap, "unix:%s",
				 path_len ? "@abstract" : "unnamed");
		else
			snprintf(out, cap, "%.*s", (int)strnlen(un->sun_path,
						   path_len), un->sun_path);
	}
}

/* capture_context.addresses: the socket's two ends, as text. */
static void shim_addresses(int fd, char *local, size_t local_len, char *peer,
			   size_t peer_len)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		shim_format_address(&ss, len, local, local_len);
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		shim_format_address(&ss, len, peer, peer_len);
}

static void shim_setup(void)
{
	shim_depth++;
	const char *enabled = getenv("WSDBG_ENABLED");
	if (enabled && strcmp(enabled, "0") == 0)
		goto off;
	struct registry_config cfg;
	registry_config_defaults(&cfg);
	registry_config_from_env(&cfg, shim_getenv, shim_warn_ctx, NULL);
	if (!shim_fdtable_init())
		goto off;
	shim.registry = registry_new(&cfg);
	if (!shim.registry)
		goto off;
	shim.capture.registry = shim.registry;
	shim.capture.addresses = shim_addresses;
	shim.pid = getpid();
	const char *dump = getenv("WSDBG_DUMP");
	if (dump && *dump)
		snprintf(shim.dump_path, sizeof(shim.dump_path), "%s", dump);
	atomic_store(&shim_state, SHIM_ON);
	shim_depth--;
	return;
off:
	atomic_store(&shim_state, SHIM_OFF);
	shim_depth--;
}

enum shim_mode shim_mode(void)
{
	bool inside = shim_depth > 0 || shim_signal_depth > 0;
	int state = atomic_load_explicit(&shim_state, memory_order_acquire);
	if (state == SHIM_UNSET) {
		if (inside) /* never set up from a signal handler */
			return SHIM_PASS;
		pthread_once(&shim_once, shim_setup);
		state = atomic_load(&shim_state);
	}
	if (state != SHIM_ON)
		return SHIM_PASS;
	return inside ? SHIM_BLIND : SHIM_RECORD;
}

bool shim_active(void)
{
	return shim_mode() == SHIM_RECORD;
}

void shim_io_blind(int fd, enum registry_dir dir)
{
	if (shim_fd_kind(fd) == SHIM_FD_TRACKED)
		shim_fd_mark_lost(fd, dir);
}

/* Gaps for bytes a signal handler moved on f's fd since the last call. */
static void shim_fd_apply_lost(int fd, struct shim_fd *f)
{
	unsigned lost = shim_fd_take_lost(fd);
	if (lost & (1u << REGISTRY_SENT))
		capture_gap(&f->stream, &shim.capture, REGISTRY_SENT);
	if (lost & (1u << REGISTRY_RECEIVED))
		capture_gap(&f->stream, &shim.capture, REGISTRY_RECEIVED);
}

/* True in a vfork() child (or any child before the shim knows of it): it
 * shares the parent's memory, so it must not change the parent's table. */
static bool shim_in_foreign_process(void)
{
	return getpid() != shim.pid;
}

static double shim_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A stream socket of a family that can carry WebSocket traffic? Asked
 * once per fd, on its first I/O. */
static bool shim_is_stream_socket(int fd)
{
	int type = 0, domain = 0;
	socklen_t len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
	    type != SOCK_STREAM)
		return false;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0)
		return false;
	return domain == AF_INET || domain == AF_INET6 || domain == AF_UNIX;
}

/* The socket behind fd, locked, for recording bytes that start with
 * `first`; NULL (and fd marked ignored when that is final) otherwise. */
static struct shim_fd *shim_fd_for_io(int fd, uint8_t first)
{
	if (shim_fd_kind(fd) == SHIM_FD_UNKNOWN) {
		/* An HTTP request starts with an upper-case method; anything
		 * else is not ours and costs nothing more. */
		if (first < 'A' || first > 'Z' || !shim_is_stream_socket(fd)) {
			shim_fd_set_kind(fd, SHIM_FD_IGNORED);
			return NULL;
		}
		shim_fd_set_kind(fd, SHIM_FD_TRACKED);
	}
	return shim_fd_lock(fd, true);
}

/* After feeding: a stream that will never look at bytes again lets the
 * fast path skip its fd (the object stays until close, to record it). */
static void shim_fd_done_feeding(int fd, struct shim_fd *f)
{
	if (capture_ignored(&f->stream))
		shim_fd_set_kind(fd, SHIM_FD_IGNORED);
	shim_fd_unlock(f);
}

void shim_io(int fd, enum registry_dir dir, const void *buf, ssize_t n)
{
	struct iovec iov = {.iov_base = (void *)(uintptr_t)buf,
			    .iov_len = (size_t)n};
	shim_io_iov(fd, dir, &iov, 1, n);
}

void shim_io_iov(int fd, enum registry_dir dir, const struct iovec *iov,
		 size_t iovcnt, ssize_t n)
{
	if (n <= 0 || shim_fd_kind(fd) == SHIM_FD_IGNORED)
		return;
	shim_depth++;
	size_t first_iov = 0;
	while (first_iov < iovcnt && iov[first_iov].iov_len == 0)
		first_iov++;
	struct shim_fd *f = first_iov < iovcnt
		? shim_fd_for_io(fd, *(const uint8_t *)iov[first_iov].iov_base)
		: NULL;
	if (f) {
		shim_fd_apply_lost(fd, f);
		double now = shim_now();
		size_t left = (size_t)n;
		for (size_t i = first_iov; i < iovcnt && left > 0; i++) {
			size_t take = iov[i].iov_len < left ? iov[i].iov_len
							    : left;
			capture_feed(&f->stream, &shim.capture, dir,
				     iov[i].iov_base, take, now);
			left -= take;
		}
		shim_fd_done_feeding(fd, f);
	}
	shim_depth--;
}

void shim_io_unseen(int fd, enum registry_dir dir, ssize_t n)
{
	if (n <= 0 || shim_fd_kind(fd) != SHIM_FD_TRACKED)
		return;
	shim_depth++;
	struct shim_fd *f = shim_fd_lock(fd, false);
	if (f) {
		shim_fd_apply_lost(fd, f);
		capture_gap(&f->stream, &shim.capture, dir);
		shim_fd_done_feeding(fd, f);
	}
	shim_depth--;
}

void shim_fd_closing(int fd)
{
	/* Most fds closed never had a socket object: forget their kind and
	 * be done, without the getpid() system call below. */
	if (!shim_fd_has_socket(fd)) {
		if (shim_fd_kind(fd) != SHIM_FD_UNKNOWN)
			shim_fd_set_kind(fd, SHIM_FD_UNKNOWN);
		return;
	}
	if (shim_in_foreign_process())
		return;
	shim_depth++;
	struct shim_fd *f = shim_fd_detach(fd);
	if (f) {
		capture_close(&f->stream, &shim.capture, shim_now());
		shim_fd_release(f);
	}
	shim_depth--;
}

void shim_fds_closed(unsigned first, unsigned last)
{
	/* Only numbers the table covers can hold state. */
	size_t size = shim_fdtable_size();
	for (size_t fd = first; fd <= last && fd < size; fd++)
		shim_fd_closing((int)fd);
}

void shim_fd_opened(int fd)
{
	if (fd >= 0)
		shim_fd_closing(fd); /* whatever was left under this number */
}

void shim_fd_duplicated(int oldfd, int newfd)
{
	if (oldfd == newfd || newfd < 0 || shim_in_foreign_process())
		return;
	shim_fd_closing(newfd);
	shim_depth++;
	shim_fd_share(oldfd, newfd);
	shim_depth--;
}

/* ---- the stats server, exit dump, fork ------------------------------- */

static void shim_server_thread_init(void)
{
	shim_depth = 1; /* this thread's I/O is the shim's own */
}

static void shim_start_server(void)
{
	char dir[PATH_MAX];
	if (socket_dir_default(dir, sizeof(dir), shim_getenv1) != 0) {
		shim_warn("wsdbg: socket directory path too long; no stats "
			  "socket");
		return;
	}
	struct stats_server_config cfg = {
		.dir = dir,
		.pid = shim.pid,
		.process = program_invocation_short_name,
		.thread_init = shim_server_thread_init,
		.warn = shim_warn,
	};
	shim.server = stats_server_start(shim.registry, &cfg);
}

/* WSDBG_DUMP: the snapshot at exit, "%p" in the path replaced by the pid. */
static void shim_write_dump(void)
{
	char path[PATH_MAX];
	size_t o = 0;
	for (const char *p = shim.dump_path; *p && o + 16 < sizeof(path); p++) {
		if (p[0] == '%' && p[1] == 'p') {
			o += (size_t)snprintf(path + o, sizeof(path) - o, "%d",
					      shim.pid);
			p++;
		} else {
			path[o++] = *p;
		}
	}
	path[o] = '\0';
	struct registry_snapshot_options opt = {
		.pid = shim.pid,
		.process = program_invocation_short_name,
		.taken_at = shim_now(),
		.messages = true,
	};
	size_t len = 0;
	char *json = registry_snapshot_json(shim.registry, &opt, &len);
	FILE *f = json ? fopen(path, "w") : NULL;
	if (!f || fwrite(json, 1, len, f) != len || fputc('\n', f) == EOF) {
		char line[PATH_MAX + 64];
		snprintf(line, sizeof(line), "wsdbg: cannot write %s: %s", path,
			 json ? strerror(errno) : "out of memory");
		shim_warn(line);
	}
	if (f)
		fclose(f);
	free(json);
}

/* In the child of fork(): the parent's connections and threads are not
 * ours. Start over with an empty registry and a socket of our own. */
static void shim_atfork_child(void)
{
	if (atomic_load(&shim_state) != SHIM_ON)
		return;
	shim_depth++;
	shim_fdtable_forget_all();
	if (shim.server)
		stats_server_forget(shim.server);
	shim.server = NULL;
	/* The parent's registry may be locked by a thread that is not here:
	 * leave it, make a new one. */
	struct registry_config cfg = registry_get_config(shim.registry);
	shim.registry = registry_new(&cfg);
	shim.capture.registry = shim.registry;
	shim.pid = getpid();
	if (!shim.registry)
		atomic_store(&shim_state, SHIM_OFF);
	else
		shim_start_server();
	shim_depth--;
}

__attribute__((constructor)) static void shim_constructor(void)
{
	if (!shim_active())
		return;
	shim_depth++;
	pthread_atfork(NULL, NULL, shim_atfork_child);
	shim_start_server();
	shim_depth--;
}

__attribute__((destructor)) static void shim_destructor(void)
{
	if (atomic_load(&shim_state) != SHIM_ON || getpid() != shim.pid)
		return;
	shim_depth++;
	if (shim.dump_path[0])
		shim_write_dump();
	if (shim.server)
		stats_server_stop(shim.server);
	shim.server = NULL;
	shim_depth--;
}

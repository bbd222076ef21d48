/*
 * shim.c - set-up of the shim and the logic between the hooks and capture.
 *
 * State is set up once, from whichever comes first: the constructor, or a
 * hook running earlier (another library's constructor doing I/O). The
 * stats server thread starts only when the process first needs it
 * (shim_server_needed: it listens or accepts on a stream socket, or
 * capture starts following one), never from a signal handler or inside a
 * fork; a fork child starts it again the same way. So a process that
 * never serves or speaks HTTP has no thread and no descriptor of wsdbg's:
 * it stays single-threaded (unshare(CLONE_NEWUSER), Chromium's zygote),
 * and glibc keeps its single-threaded fast paths.
 *
 * Internal faults (registry.h: an allocation that failed, a broken
 * invariant) degrade the connection they hit to pass-through; the first
 * of each kind is logged in one line, and after REGISTRY_FAULT_LIMIT the
 * circuit breaker switches tracking off for the process (SHIM_TRIPPED):
 * every hook passes through from then on, while the stats server goes on
 * answering with the snapshot as it was, which says so.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
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
#include <sys/stat.h>
#include <sys/un.h>

#include "fdtable.h"
#include "own_fds.h"
#include "real.h"
#include "signals.h"
#include "stats_server.h"
#include "wsdbg/capture.h"

/* The test-only build (libwsdbg-faulty.so, tests/shim) fails allocations
 * on demand, only on the host's threads once set up; the library users
 * get has none of it. */
#ifdef WSDBG_FAULT_INJECTION
#include "fault_inject.h"
#define SHIM_FAULTS_ARM(on) fault_inject_arm(on)
#define SHIM_FAULTS_EXEMPT_THREAD() fault_inject_exempt_thread()
#define SHIM_FAULTS_SHARED_FDS() fault_inject_shared_fds()
#define SHIM_FAULTS_EXEMPT_SET(on) fault_inject_exempt_set(on)
#else
#define SHIM_FAULTS_ARM(on) ((void)0)
#define SHIM_FAULTS_EXEMPT_THREAD() ((void)0)
#define SHIM_FAULTS_SHARED_FDS() false
#define SHIM_FAULTS_EXEMPT_SET(on) shim_faults_exempt_none(on)
static inline bool shim_faults_exempt_none(bool on)
{
	(void)on;
	return false;
}
#endif


enum shim_state {
	SHIM_UNSET = 0, /* not set up yet */
	SHIM_ON,        /* recording */
	SHIM_OFF,       /* WSDBG_ENABLED=0, or set-up failed: pass-through */
	SHIM_TRIPPED,   /* the circuit breaker switched tracking off: pass-
			   through, the stats server still answers */
};

/* Process-wide state. Written by shim_setup (once, under pthread_once) and
 * in a fork child (single-threaded then); read-only otherwise. */
static struct {
	struct registry *registry;
	struct capture_context capture;
	struct stats_server *server;
	char dump_path[PATH_MAX];
	/* The socket directory, made absolute, as the environment said at
	 * set-up: the server may start long after, when the host has
	 * changed its directory or cleared its environment (nginx's workers
	 * keep only TZ). "" when it did not fit. */
	char sock_dir[PATH_MAX];
	int pid;
	/* The stats socket's path while the server runs, "" otherwise: for
	 * _exit, which must not reach into the server (shim_exit_now). */
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} shim;

/* Guards shim.server and shim.socket_path from the constructor on: held
 * to start and to stop the stats server (the destructor, a dup2 onto the
 * server's number). Stopping joins the server's thread, which never takes
 * it; it is held across no host call and nested with no other lock. A
 * fork child re-initialises it (the thread that held it is not there). */
static pthread_mutex_t shim_server_lock = PTHREAD_MUTEX_INITIALIZER;
/* shim.server != NULL, readable without the lock (from a handler). */
static _Atomic bool shim_server_up;
/* The server's descriptors are in a table of its own thread's
 * (stats_server_private_fds): the host's table holds none of them. */
static _Atomic bool shim_server_private;
/* This process has needed the server (shim_server_needed): set once,
 * under shim_server_lock; cleared in a fork child. */
static _Atomic bool shim_server_wanted;

static _Atomic int shim_state;
static pthread_once_t shim_once = PTHREAD_ONCE_INIT;

/* How deep the calling thread is inside the shim: its own I/O and hooks
 * re-entered from a signal handler that interrupted the shim see > 0 and
 * pass through. The stats server thread stays at 1 for its whole life. */
__thread int shim_depth __attribute__((tls_model("initial-exec")));

/* True on the stats server's thread. Its descriptors are not the host's:
 * in a table of its own, their numbers may be those of the host's
 * sockets, so its hooks must pass through without even marking bytes
 * unseen on that number (shim_mode). */
static __thread bool shim_server_thread
	__attribute__((tls_model("initial-exec")));

/* One line on stderr, through the real writev so it is not recorded; one
 * call, so that lines from several threads do not interleave. */
static void shim_warn(const char *line)
{
	const struct shim_real *real = shim_real();
	struct iovec iov[2] = {
		{.iov_base = (void *)(uintptr_t)line, .iov_len = strlen(line)},
		{.iov_base = (void *)(uintptr_t)"\n", .iov_len = 1},
	};
	if (real->writev)
		(void)real->writev(STDERR_FILENO, iov, 2);
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

/* shim.sock_dir from the environment, relative to the directory the
 * process starts in. */
static void shim_resolve_sock_dir(void)
{
	char dir[PATH_MAX], cwd[PATH_MAX];
	int n;

	shim.sock_dir[0] = '\0';
	if (socket_dir_default(dir, sizeof(dir), shim_getenv1) != 0)
		return;
	if (dir[0] == '/')
		n = snprintf(shim.sock_dir, sizeof(shim.sock_dir), "%s", dir);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(shim.sock_dir, sizeof(shim.sock_dir), "%s/%s", cwd,
			     dir);
	else
		n = -1;
	if (n < 0 || (size_t)n >= sizeof(shim.sock_dir))
		shim.sock_dir[0] = '\0';
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
		goto out_of_memory;
	shim.registry = registry_new(&cfg);
	if (!shim.registry)
		goto out_of_memory;
	shim.capture.registry = shim.registry;
	shim.capture.addresses = shim_addresses;
	shim.pid = getpid();
	const char *dump = getenv("WSDBG_DUMP");
	if (dump && *dump)
		snprintf(shim.dump_path, sizeof(shim.dump_path), "%s", dump);
	shim_resolve_sock_dir();
	atomic_store(&shim_state, SHIM_ON);
	shim_depth--;
	return;
out_of_memory:
	shim_warn("wsdbg: out of memory at start-up; tracking is off for this "
		  "process (pass-through)");
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
	if (!inside)
		return SHIM_RECORD;
	return shim_server_thread ? SHIM_PASS : SHIM_BLIND;
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

/* Gaps in f's stream for the directions in lost (shim_fd_take_lost). */
static __attribute__((noinline, cold)) void shim_fd_gaps(struct shim_fd *f,
							  unsigned lost)
{
	if (lost & (1u << REGISTRY_SENT))
		capture_gap(&f->stream, &shim.capture, REGISTRY_SENT);
	if (lost & (1u << REGISTRY_RECEIVED))
		capture_gap(&f->stream, &shim.capture, REGISTRY_RECEIVED);
}

/* Gaps for bytes a signal handler moved on f's fd since the last call:
 * asked on every recorded call, so the rare answer goes out of line. */
static inline void shim_fd_apply_lost(int fd, struct shim_fd *f)
{
	unsigned lost = shim_fd_take_lost(fd);
	if (lost)
		shim_fd_gaps(f, lost);
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

/* Logs the notice bits, one line each (registry.h: the first fault of
 * each kind, and the breaker tripping), and stops recording when the
 * breaker tripped. Out of line: it almost never runs. */
static __attribute__((noinline, cold)) void shim_log_notices(unsigned bits)
{
	for (unsigned k = 0; k < REGISTRY_FAULT_KINDS_; k++) {
		if (!(bits & (1u << k)))
			continue;
		const char *where = registry_fault_where(shim.registry, k);
		char line[256];
		snprintf(line, sizeof(line),
			 "wsdbg: internal fault (%s in %s): the connection it "
			 "hit is passed through unrecorded; further faults "
			 "are counted in the snapshot, not logged",
			 registry_fault_name(k), where ? where : "?");
		shim_warn(line);
	}
	if (bits & REGISTRY_NOTICE_TRIPPED) {
		atomic_store(&shim_state, SHIM_TRIPPED);
		char line[200];
		snprintf(line, sizeof(line),
			 "wsdbg: %d internal faults: tracking is off for this "
			 "process from now on (pass-through; the stats socket "
			 "still answers)",
			 REGISTRY_FAULT_LIMIT);
		shim_warn(line);
	}
}

/* Takes the registry's fault notices and logs them. Called after
 * recording, with no lock held, on every recorded call: inline, it costs
 * the registry's one load when there is nothing to say. */
static inline void shim_take_notices(void)
{
	unsigned bits = registry_take_notices(shim.registry);
	if (bits != 0)
		shim_log_notices(bits);
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
		shim_server_needed();
	}
	struct shim_fd *f = shim_fd_lock(fd, true);
	if (!f) {
		/* Only making the socket object can fail here. */
		shim_fd_set_kind(fd, SHIM_FD_IGNORED);
		registry_fault(shim.registry, REGISTRY_FAULT_NOMEM, 0,
			       "shim: socket object");
	}
	return f;
}

/* After feeding: a stream that will never look at bytes again lets the
 * fast path skip its fd (the object stays until close, to record it). */
static void shim_fd_done_feeding(int fd, struct shim_fd *f)
{
	if (capture_ignored(&f->stream))
		shim_fd_set_kind(fd, SHIM_FD_IGNORED);
	shim_fd_unlock(f);
}

/* Out of line and whole under its own name: gcc's noipa (no clone, no
 * part inlined elsewhere); clang, which has no such attribute, does not
 * split functions by default. */
#if defined(__has_attribute)
#if __has_attribute(noipa)
#define SHIM_WHOLE __attribute__((noipa))
#endif
#endif
#ifndef SHIM_WHOLE
#define SHIM_WHOLE __attribute__((noinline))
#endif

/* What shim_io_iov does for an fd that may carry WebSocket traffic. Kept
 * whole (SHIM_WHOLE): the hooks' fast path stays one load and a test,
 * and tools/bench counts wsdbg's work in a server inside this function. */
static SHIM_WHOLE void shim_record_io(int fd, enum registry_dir dir,
				      const struct iovec *iov, size_t iovcnt,
				      ssize_t n)
{
	shim_depth++;
	size_t first_iov = 0;
	while (first_iov < iovcnt && iov[first_iov].iov_len == 0)
		first_iov++;
	struct shim_fd *f = first_iov < iovcnt
		? shim_fd_for_io(fd, *(const uint8_t *)iov[first_iov].iov_base)
		: NULL;
	if (f) {
		shim_fd_apply_lost(fd, f);
		capture_feed_iov(&f->stream, &shim.capture, dir,
				 iov + first_iov, iovcnt - first_iov, (size_t)n,
				 shim_now());
		shim_fd_done_feeding(fd, f);
	}
	shim_take_notices();
	shim_depth--;
}

void shim_io_iov(int fd, enum registry_dir dir, const struct iovec *iov,
		 size_t iovcnt, ssize_t n)
{
	if (n > 0 && shim_fd_kind(fd) != SHIM_FD_IGNORED)
		shim_record_io(fd, dir, iov, iovcnt, n);
}

void shim_io(int fd, enum registry_dir dir, const void *buf, ssize_t n)
{
	struct iovec iov = {.iov_base = (void *)(uintptr_t)buf,
			    .iov_len = (size_t)n};
	shim_io_iov(fd, dir, &iov, 1, n);
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
	shim_take_notices();
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
		if (shim_fd_kind((int)fd) != SHIM_FD_OWN) /* still open */
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

/* ---- the shim's own descriptors (own_fds.h) --------------------------- */

static void shim_stop_server_locked(void);

/* The shim's own descriptors in [first, last] (shim_own_fds_in), those
 * whose number the host got back behind the shim's back dropped. */
static int shim_own_fds_checked(unsigned first, unsigned last, int *out)
{
	int listed[SHIM_OWN_FDS_MAX];
	int n = shim_own_fds_in(first, last, listed), kept = 0;
	for (int i = 0; i < n; i++) {
		if (shim_own_fd_verify(listed[i]))
			out[kept++] = listed[i];
		else
			shim_own_fd_forget(listed[i]);
	}
	return kept;
}

/* True when the calling code is the shim's own: inside the shim, and not
 * a host signal handler that interrupted it (signals.h). */
static bool shim_is_self(void)
{
	return shim_depth > shim_signal_base;
}

bool shim_own_fd_refused(int fd)
{
	if (shim_is_self() || shim_in_foreign_process())
		return false;
	/* A mark left on a number the host got back by a call the hooks do
	 * not see (a raw close, then eventfd...) is stale: the host's. */
	if (!shim_own_fd_verify(fd)) {
		shim_own_fd_forget(fd);
		return false;
	}
	errno = EBADF;
	return true;
}

bool shim_own_dirfd_refused(int dirfd, const char *path)
{
	/* A NULL path is the C library's to fail (EFAULT). */
	return path && path[0] != '/' && shim_own_fd_refused(dirfd);
}

int shim_own_fd_close(int fd)
{
	if (shim_own_fd_refused(fd))
		return -1;
	int ret = shim_real()->close(fd);
	/* A vfork child closed its own copy: the parent's mark stays. */
	if (shim_is_self()) {
		int saved_errno = errno;
		shim_own_fd_forget(fd);
		errno = saved_errno;
	}
	return ret;
}

/* After the host closed [first, last]: the state of those fds goes
 * (shim_fds_closed skips the shim's own). */
static void shim_after_closing(unsigned first, unsigned last)
{
	if (shim_active()) {
		int saved_errno = errno;
		shim_fds_closed(first, last);
		errno = saved_errno;
	}
}

/* The number of threads in the process, from /proc/self/status, or -1.
 * Async-signal-safe (close_range may be called from a handler). */
static int shim_thread_count(void)
{
	const struct shim_real *real = shim_real();
	char buf[4096];
	int fd = real->open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = real->read(fd, buf, sizeof(buf) - 1);
	real->close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = strstr(buf, "\nThreads:");
	return p ? atoi(p + 9) : -1;
}

/*
 * CLOSE_RANGE_UNSHARE gives the caller a descriptor table of its own
 * before closing, when the table is shared. The stats server's thread
 * shares the host's table, so with the shim it always is; when the caller
 * is the host's only thread it would not be without the shim, and an
 * unshare would leave every descriptor the host closes open in the
 * table the server's thread keeps (sockets that never end). Then the
 * flag is dropped: the kernel's unshare would have done nothing.
 */
static int shim_close_range_flags(int flags)
{
	if (!(flags & CLOSE_RANGE_UNSHARE) || shim_in_foreign_process())
		return flags;
	if (atomic_load(&shim_server_up) && !atomic_load(&shim_server_private) &&
	    shim_thread_count() == 2)
		return flags & ~CLOSE_RANGE_UNSHARE;
	return flags;
}

int shim_close_range(unsigned first, unsigned last, int flags)
{
	const struct shim_real *real = shim_real();
	int own[SHIM_OWN_FDS_MAX];
	int n = 0;

	if (!shim_is_self())
		flags = shim_close_range_flags(flags);
	/* With CLOSE_RANGE_UNSHARE still set the caller gets a table of its
	 * own, where the shim's copies are the caller's to close (the
	 * server's thread keeps its table); CLOSE_RANGE_CLOEXEC closes
	 * nothing (the shim's are close-on-exec already). */
	if (first <= last &&
	    !(flags & (CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) &&
	    !shim_is_self())
		n = shim_own_fds_checked(first, last, own);
	if (n > 0 && shim_in_foreign_process())
		n = 0; /* a vfork child's table is its own copy */
	if (n == 0) {
		int ret = real->close_range(first, last, flags);
		if (ret == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
			shim_after_closing(first, last);
		return ret;
	}
	/* The spans between the shim's descriptors, each with the host's
	 * flags; the first failure is the answer. */
	bool called = false;
	unsigned from = first;
	for (int i = 0; i <= n; i++) {
		unsigned to = i < n ? (unsigned)own[i] - 1 : last;
		if (i == n || (unsigned)own[i] > from) {
			if (from <= to) {
				int ret = real->close_range(from, to, flags);
				if (ret != 0)
					return ret;
				shim_after_closing(from, to);
				called = true;
			}
		}
		if (i < n)
			from = (unsigned)own[i] + 1;
	}
	/* Only the shim's in the range: nothing to close, but the flags are
	 * checked as the kernel would (a number no table reaches). */
	if (!called)
		return real->close_range(~0u, ~0u, flags);
	return 0;
}

/* Closes [first, last] (a span below one of the shim's numbers, so at
 * most SHIM_OWN_FD_TOP long), by close_range or one by one. */
static void shim_close_span(unsigned first, unsigned last)
{
	const struct shim_real *real = shim_real();
	if (real->close_range && real->close_range(first, last, 0) == 0)
		return;
	for (unsigned fd = first; fd <= last; fd++)
		real->close((int)fd);
}

void shim_closefrom(int lowfd)
{
	const struct shim_real *real = shim_real();
	int own[SHIM_OWN_FDS_MAX];
	int n = lowfd >= 0 && !shim_is_self()
		? shim_own_fds_checked((unsigned)lowfd, ~0u, own) : 0;
	if (n > 0 && shim_in_foreign_process())
		n = 0;
	unsigned from = lowfd >= 0 ? (unsigned)lowfd : 0;
	for (int i = 0; i < n; i++) {
		if ((unsigned)own[i] > from)
			shim_close_span(from, (unsigned)own[i] - 1);
		from = (unsigned)own[i] + 1;
	}
	real->closefrom(n > 0 ? (int)from : lowfd);
	if (lowfd >= 0)
		shim_after_closing((unsigned)lowfd, ~0u);
}

bool shim_own_fd_vacate(int oldfd, int fd)
{
	if (shim_is_self() || shim_in_foreign_process())
		return false;
	int saved_errno = errno;
	bool stopped = false;
	/* The call fails without touching fd when oldfd is not open (or is
	 * the shim's: refused before this). */
	if (shim_real()->fcntl(oldfd, F_GETFD) < 0)
		goto out;
	if (!shim_own_fd_verify(fd)) { /* a stale mark: the host's number */
		shim_own_fd_forget(fd);
		goto out;
	}
	if (shim_signal_depth > 0) {
		/* A signal handler cannot wait for the server's thread: the
		 * number is given up, the thread finds its descriptor gone
		 * and makes a new one (stats_server.h). */
		shim_own_fd_forget(fd);
		goto out;
	}
	shim_depth++;
	pthread_mutex_lock(&shim_server_lock);
	if (shim.server) {
		shim_stop_server_locked();
		stopped = true;
	}
	pthread_mutex_unlock(&shim_server_lock);
	/* Not the server's (or a stop that gave up waiting): the number is
	 * the host's from now on either way. */
	shim_own_fd_forget(fd);
	shim_depth--;
out:
	errno = saved_errno;
	return stopped;
}

void shim_exit_now(void)
{
	/* A vfork child shares shim.pid with its parent: not ours then. */
	if (!shim.socket_path[0] || getpid() != shim.pid)
		return;
	int saved_errno = errno;
	struct stat st;
	if (lstat(shim.socket_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_uid == geteuid())
		unlink(shim.socket_path);
	errno = saved_errno;
}

/* ---- the stats server, exit dump, fork ------------------------------- */

static void shim_server_thread_init(void)
{
	shim_depth = 1; /* this thread's I/O is the shim's own */
	shim_server_thread = true;
	SHIM_FAULTS_EXEMPT_THREAD();
}

/*
 * stats_server_config.private_fds, on the server's thread: an empty
 * descriptor table of the thread's own. close_range's CLOSE_RANGE_UNSHARE
 * over every number copies none of the host's descriptors (Linux 5.9 and
 * later), so the thread never holds a reference to a file of the host's,
 * and whatever it opens is in no table the host can see (/proc/PID/fd),
 * number (the lowest free descriptor stays the host's) or close. In a
 * sanitizer build 0-2 are kept, so that its reports from this thread
 * reach stderr. Where the kernel refuses, the table stays shared and
 * own_fds.h keeps the server's descriptors out of the host's way.
 */
static bool shim_server_private_fds(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	const unsigned first = 3;
#else
	const unsigned first = 0;
#endif
	const struct shim_real *real = shim_real();
	if (SHIM_FAULTS_SHARED_FDS() || !real->close_range)
		return false;
	return real->close_range(first, ~0u, CLOSE_RANGE_UNSHARE) == 0;
}

/* Starts the stats server; its descriptors are the shim's own
 * (own_fds.h). Called with shim_server_lock held (or in a fork child). */
static void shim_start_server_locked(void)
{
	if (!shim.sock_dir[0]) {
		shim_warn("wsdbg: socket directory path too long (or the "
			  "current directory unknown); no stats socket");
		return;
	}
	struct stats_server_config cfg = {
		.dir = shim.sock_dir,
		.pid = shim.pid,
		.process = program_invocation_short_name,
		.thread_init = shim_server_thread_init,
		.private_fds = shim_server_private_fds,
		.warn = shim_warn,
		.fd_adopt = shim_own_fd_adopt,
		.fd_forget = shim_own_fd_forget,
	};
	shim.server = stats_server_start(shim.registry, &cfg);
	if (shim.server) {
		snprintf(shim.socket_path, sizeof(shim.socket_path), "%s",
			 stats_server_path(shim.server));
		atomic_store(&shim_server_private,
			     stats_server_private_fds(shim.server));
		atomic_store(&shim_server_up, true);
	}
}

/* The first need of this process: starts the server, once. Out of line:
 * it runs once per process. */
static __attribute__((noinline, cold)) void shim_server_start_needed(void)
{
	/* Not from a handler (pthread_create is not async-signal-safe), nor
	 * in a vfork child, whose memory is its parent's. */
	if (shim_signal_depth > 0 || shim_in_foreign_process())
		return;
	int saved_errno = errno;
	shim_depth++;
	/* What the server allocates is not the host's to fail (the test
	 * build's fault plans count the host's allocations only). */
	bool exempt = SHIM_FAULTS_EXEMPT_SET(true);
	pthread_mutex_lock(&shim_server_lock);
	if (!atomic_load(&shim_server_wanted)) {
		atomic_store(&shim_server_wanted, true);
		int state = atomic_load(&shim_state);
		if (!shim.server && (state == SHIM_ON || state == SHIM_TRIPPED))
			shim_start_server_locked();
	}
	pthread_mutex_unlock(&shim_server_lock);
	SHIM_FAULTS_EXEMPT_SET(exempt);
	shim_depth--;
	errno = saved_errno;
}

void shim_server_needed(void)
{
	if (__builtin_expect(atomic_load_explicit(&shim_server_wanted,
						  memory_order_relaxed), 1))
		return;
	shim_server_start_needed();
}

void shim_stream_listening(int fd)
{
	if (!atomic_load_explicit(&shim_server_wanted, memory_order_relaxed) &&
	    shim_is_stream_socket(fd))
		shim_server_start_needed();
}

/* Stops it (removing its socket file). Lock held. */
static void shim_stop_server_locked(void)
{
	atomic_store(&shim_server_up, false);
	shim.socket_path[0] = '\0';
	stats_server_stop(shim.server);
	shim.server = NULL;
}

/* In a fork child: lets go of the parent's server (closing the child's
 * copies of its descriptors) without touching its thread or socket
 * file. The child is single-threaded here: no lock. */
static void shim_forget_server(void)
{
	pthread_mutex_init(&shim_server_lock, NULL);
	atomic_store(&shim_server_up, false);
	atomic_store(&shim_server_private, false);
	atomic_store(&shim_server_wanted, false);
	shim.socket_path[0] = '\0';
	if (shim.server)
		stats_server_forget(shim.server);
	shim.server = NULL;
}

/* In a fork child: closes its copies of the shim's descriptors (the
 * listening socket, and a client being served, which would otherwise
 * wait for the end of its answer until this child exits) and forgets
 * them. stats_server_forget then finds nothing of its own to close. */
static void shim_own_fds_close_inherited(void)
{
	int own[SHIM_OWN_FDS_MAX];
	int n = shim_own_fds_in(0, ~0u, own);
	for (int i = 0; i < n; i++) {
		shim_real()->close(own[i]);
		shim_fd_swap_kind(own[i], SHIM_FD_OWN, SHIM_FD_UNKNOWN);
	}
	shim_own_fds_forget_all();
}

void shim_own_fd_vacated(void)
{
	int saved_errno = errno;
	int state = atomic_load(&shim_state);
	shim_depth++;
	pthread_mutex_lock(&shim_server_lock);
	if (!shim.server && atomic_load(&shim_server_wanted) &&
	    (state == SHIM_ON || state == SHIM_TRIPPED))
		shim_start_server_locked();
	pthread_mutex_unlock(&shim_server_lock);
	shim_depth--;
	errno = saved_errno;
}

/* Opens the dump file for writing, readable by its owner only: it holds
 * message content. A symlink planted at the path (say in a shared /tmp)
 * is refused rather than followed, and so is a file another user owns.
 * Returns NULL with errno set. */
static FILE *shim_open_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
				    O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) != 0 || fchmod(fd, 0600) != 0)
		goto close_fd;
	if (st.st_uid != geteuid()) {
		errno = EPERM;
		goto close_fd;
	}
	FILE *f = fdopen(fd, "w");
	if (f)
		return f;
close_fd:;
	int saved = errno;
	close(fd);
	errno = saved;
	return NULL;
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
	FILE *f = json ? shim_open_private(path) : NULL;
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

/*
 * Around fork(): from our prepare handler until our parent or child
 * handler, the forking thread is inside the shim (shim_depth), so its
 * hooks only mark bytes unseen, lock-free. This covers the handlers that
 * run in that window whatever order they were registered in: prepare
 * handlers registered before ours (run after it), and in the child the
 * child handlers registered before ours (run before ours resets
 * anything), which would otherwise wait on a lock that another thread of
 * the parent held at fork time. Handlers registered after ours run
 * outside the window and record as usual.
 */
static void shim_atfork_prepare(void)
{
	shim_depth++;
}

static void shim_atfork_parent(void)
{
	shim_depth--;
}

/* In the child of fork(): the parent's connections and threads are not
 * ours. Start over with an empty registry; the server starts again when
 * the child needs it. */
static void shim_atfork_child_reset(void);

static void shim_atfork_child(void)
{
	shim_atfork_child_reset();
	shim_depth--; /* shim_atfork_prepare's */
}

static void shim_atfork_child_reset(void)
{
	int state = atomic_load(&shim_state);
	if (state == SHIM_TRIPPED) {
		/* Tracking stays off in the child; the parent's server is not
		 * its to run. */
		shim_depth++;
		shim_own_fds_close_inherited();
		shim_forget_server();
		shim_depth--;
		atomic_store(&shim_state, SHIM_OFF);
		return;
	}
	if (state != SHIM_ON)
		return;
	shim_depth++;
	SHIM_FAULTS_ARM(false);
	shim_own_fds_close_inherited();
	shim_fdtable_forget_all();
	shim_forget_server();
	/* The parent's registry may be locked by a thread that is not here:
	 * leave it, make a new one. */
	struct registry_config cfg = registry_get_config(shim.registry);
	shim.registry = registry_new(&cfg);
	shim.capture.registry = shim.registry;
	shim.pid = getpid();
	if (!shim.registry) {
		atomic_store(&shim_state, SHIM_OFF);
		shim_warn("wsdbg: out of memory in a fork child; tracking is "
			  "off for it (pass-through)");
	}
	SHIM_FAULTS_ARM(true);
	shim_depth--;
}

__attribute__((constructor)) static void shim_constructor(void)
{
	if (!shim_active())
		return;
	shim_depth++;
	pthread_atfork(shim_atfork_prepare, shim_atfork_parent,
		       shim_atfork_child);
	/* A program this pid ran before exec may have left its socket (the
	 * thread ended with exec, the file did not): gone before anyone
	 * lists it as not answering. One lstat when there is none. */
	if (shim.sock_dir[0])
		stats_server_clear_stale(shim.sock_dir, shim.pid);
	SHIM_FAULTS_ARM(true);
	shim_depth--;
}

__attribute__((destructor)) static void shim_destructor(void)
{
	int state = atomic_load(&shim_state);
	if ((state != SHIM_ON && state != SHIM_TRIPPED) || getpid() != shim.pid)
		return;
	shim_depth++;
	SHIM_FAULTS_ARM(false);
	if (shim.dump_path[0])
		shim_write_dump();
	pthread_mutex_lock(&shim_server_lock);
	if (shim.server)
		shim_stop_server_locked();
	pthread_mutex_unlock(&shim_server_lock);
	shim_depth--;
}

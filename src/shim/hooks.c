/*
 * hooks.c - the only symbols libwsdbg.so exports: the C library functions
 * it watches. Each calls the real function, then, if it moved bytes or
 * changed fds, tells shim.c, with errno saved around it. The return value
 * is always the real one.
 */
/* Both sendfile and sendfile64, fcntl and fcntl64 are exported; with
 * 64-bit file offsets forced, the headers would make each pair one name. */
#undef _FILE_OFFSET_BITS
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdtable.h"
#include "real.h"
#include "shim.h"
#include "signals.h"

#define SHIM_EXPORT __attribute__((visibility("default")))

/* The fortified entry points -D_FORTIFY_SOURCE builds call; the C library
 * declares them only for such builds. */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
		       struct sockaddr *from, socklen_t *fromlen);

/* With _GNU_SOURCE, glibc declares socket address parameters as
 * transparent unions (__SOCKADDR_ARG); the hooks must match. */

/* For a call on fd that moves no bytes: fails with EBADF, as
 * SHIM_IO_HOOK does, when fd is one of the shim's own and the caller is
 * the host. */
#define SHIM_REFUSE_OWN(fd, fail)                                            \
	do {                                                                 \
		if (__builtin_expect(shim_fd_kind(fd) == SHIM_FD_OWN, 0) &&  \
		    shim_own_fd_refused(fd))                                 \
			return fail;                                         \
	} while (0)

/* After an I/O call that moved ret bytes on fd (of kind, read before the
 * call) in dir: records them (`what`, with errno kept for the host), or,
 * where the shim may not look (a signal handler), marks them unseen. */
#define SHIM_IO(fd, kind, dir, ret, what)                                    \
	do {                                                                 \
		if ((ret) > 0 && (kind) != SHIM_FD_IGNORED) {                \
			enum shim_mode mode_ = shim_mode();                  \
			if (mode_ == SHIM_RECORD) {                          \
				int saved_errno_ = errno;                    \
				what;                                        \
				errno = saved_errno_;                        \
			} else if (mode_ == SHIM_BLIND) {                    \
				shim_io_blind(fd, dir);                      \
			}                                                    \
		}                                                            \
	} while (0)

/* The whole body of an I/O hook on fd, `call` being the real function
 * and `what` what to do with the ret bytes it moved in dir. The hot path,
 * an fd that is not a WebSocket, ends at once in a tail call of `call`.
 * fd's kind is read once, before the call: the bytes moved belong to the
 * file fd was then. When fd is one of the shim's own (own_fds.h) and the
 * caller is the host, the call fails as it would without the shim, where
 * the number is not open: EBADF. */
#define SHIM_IO_HOOK(type, fd, dir, call, what)                             \
	enum shim_fd_kind kind_ = shim_fd_kind(fd);                          \
	if (__builtin_expect(kind_ == SHIM_FD_IGNORED, 1))                   \
		return call;                                                 \
	if (__builtin_expect(kind_ == SHIM_FD_OWN, 0) &&                     \
	    shim_own_fd_refused(fd))                                         \
		return -1;                                                   \
	type ret = call;                                                     \
	SHIM_IO(fd, kind_, dir, ret, what);                                  \
	return ret

/* Runs `what` (which must not touch errno's meaning for the host) when
 * the shim is recording on this thread. */
#define SHIM_AFTER(what)                                                     \
	do {                                                                 \
		if (shim_active()) {                                         \
			int saved_errno_ = errno;                            \
			what;                                                \
			errno = saved_errno_;                                \
		}                                                            \
	} while (0)

/* Fails like a C library that lacks the function. */
#define SHIM_REQUIRE(fn, fail)                                               \
	do {                                                                 \
		if (!shim_real()->fn) {                                      \
			errno = ENOSYS;                                      \
			return fail;                                         \
		}                                                            \
	} while (0)

/* ---- reads ------------------------------------------------------------- */

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	SHIM_IO_HOOK(ssize_t, fd, REGISTRY_RECEIVED,
		     shim_real()->read(fd, buf, n),
		     shim_io(fd, REGISTRY_RECEIVED, buf, ret));
}

SHIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	SHIM_IO_HOOK(ssize_t, fd, REGISTRY_RECEIVED,
		     shim_real()->__read_chk(fd, buf, n, buflen),
		     shim_io(fd, REGISTRY_RECEIVED, buf, ret));
}

SHIM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	SHIM_IO_HOOK(ssize_t, fd, REGISTRY_RECEIVED,
		     shim_real()->readv(fd, iov, iovcnt),
		     shim_io_iov(fd, REGISTRY_RECEIVED, iov, (size_t)iovcnt, ret));
}

/* recv family: MSG_PEEK leaves the bytes for the next read, which is the
 * one recorded; MSG_TRUNC on a stream socket discards them unseen. */
static void shim_after_recv_iov(int fd, const struct iovec *iov,
				size_t iovcnt, ssize_t ret, int flags)
{
	if (flags & MSG_PEEK)
		return;
	if (flags & MSG_TRUNC)
		shim_io_unseen(fd, REGISTRY_RECEIVED, ret);
	else
		shim_io_iov(fd, REGISTRY_RECEIVED, iov, iovcnt, ret);
}

static void shim_after_recv(int fd, void *buf, ssize_t ret, int flags)
{
	struct iovec iov = {.iov_base = buf, .iov_len = (size_t)ret};
	shim_after_recv_iov(fd, &iov, 1, ret, flags);
}

SHIM_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	SHIM_IO_HOOK(ssize_t, fd, REGISTRY_RECEIVED,
		     shim_real()->recv(fd, buf, n, flags),
		     shim_after_recv(fd, buf, ret, flags));
}

SHIM_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen,
			       int flags)
{
	SHIM_IO_HOOK(ssize_t, fd, REGISTRY_RECEIVED,
		     shim_real()->__recv_chk(fd, buf, n, buflen, flags),
		     shim_after_recv(fd, buf, ret, flags));
}

SHIM_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags,
			     __SOCKADDR_ARG from, socklen_t *fromlen)
{
	SHIM_IO_HOOK(ssize_t, fd, REGISTRY_RECEIVED,
		     shim_real()->recvfrom(fd, buf, n, flags, from.__sockaddr__,
					   fromlen),
		     shim_after_recv(fd, buf, ret, flags));
}

SHIM_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n,
				   size_t buflen, int flags,
				   struct sockaddr *from, socklen_t *fromlen)
{
	SHIM_IO_HOOK(ssize_t, fd, REGISTRY_RECEIVED,
		     shim_real()->__recvfrom_chk(fd, buf, n, buflen, flags, from,
						 fromlen),
		     shim_after_recv(fd, buf, ret, flags));
}

static void shim_after_recvmsg(int fd, const struct msghdr *msg, ssize_t ret,
			       int flags)
{
	shim_after_recv_iov(fd, msg->msg_iov, msg->msg_iovlen, ret, flags);
}

SHIM_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	SHIM_IO_HOOK(ssize_t, fd, REGISTRY_RECEIVED,
		     shim_real()->recvmsg(fd, msg, flags),
		     shim_after_recvmsg(fd, msg, ret, flags));
}

SHIM_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen,
			 int flags, struct timespec *timeout)
{
	SHIM_IO_HOOK(int, fd, REGISTRY_RECEIVED,
		     shim_real()->recvmmsg(fd, vec, vlen, flags, timeout),
		     for (int i = 0; i < ret; i++) shim_after_recvmsg(
		fd, &vec[i].msg_hdr, (ssize_t)vec[i].msg_len, flags));
}

/* ---- writes ------------------------------------------------------------ */

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	SHIM_IO_HOOK(ssize_t, fd, REGISTRY_SENT,
		     shim_real()->write(fd, buf, n),
		     shim_io(fd, REGISTRY_SENT, buf, ret));
}

SHIM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	SHIM_IO_HOOK(ssize_t, fd, REGISTRY_SENT,
		     shim_real()->writev(fd, iov, iovcnt),
		     shim_io_iov(fd, REGISTRY_SENT, iov, (size_t)iovcnt, ret));
}

SHIM_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	SHIM_IO_HOOK(ssize_t, fd, REGISTRY_SENT,
		     shim_real()->send(fd, buf, n, flags),
		     shim_io(fd, REGISTRY_SENT, buf, ret));
}

SHIM_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
			   __CONST_SOCKADDR_ARG to, socklen_t tolen)
{
	SHIM_IO_HOOK(ssize_t, fd, REGISTRY_SENT,
		     shim_real()->sendto(fd, buf, n, flags, to.__sockaddr__,
					  tolen),
		     shim_io(fd, REGISTRY_SENT, buf, ret));
}

SHIM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	SHIM_IO_HOOK(ssize_t, fd, REGISTRY_SENT,
		     shim_real()->sendmsg(fd, msg, flags),
		     shim_io_iov(fd, REGISTRY_SENT, msg->msg_iov, msg->msg_iovlen,
			    ret));
}

SHIM_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen,
			 int flags)
{
	SHIM_IO_HOOK(int, fd, REGISTRY_SENT,
		     shim_real()->sendmmsg(fd, vec, vlen, flags),
		     for (int i = 0; i < ret; i++) shim_io_iov(
		fd, REGISTRY_SENT, vec[i].msg_hdr.msg_iov,
		vec[i].msg_hdr.msg_iovlen, (ssize_t)vec[i].msg_len));
}

/* Bytes that go from one fd to another inside the kernel are counted as
 * unseen: the stream they join cannot be decoded past them. */
SHIM_EXPORT ssize_t sendfile(int out, int in, off_t *offset, size_t n)
{
	SHIM_REFUSE_OWN(in, -1);
	SHIM_IO_HOOK(ssize_t, out, REGISTRY_SENT,
		     shim_real()->sendfile(out, in, offset, n),
		     shim_io_unseen(out, REGISTRY_SENT, ret));
}

SHIM_EXPORT ssize_t sendfile64(int out, int in, off_t *offset, size_t n)
{
	SHIM_REQUIRE(sendfile64, -1);
	SHIM_REFUSE_OWN(in, -1);
	SHIM_IO_HOOK(ssize_t, out, REGISTRY_SENT,
		     shim_real()->sendfile64(out, in, offset, n),
		     shim_io_unseen(out, REGISTRY_SENT, ret));
}

SHIM_EXPORT ssize_t splice(int in, loff_t *in_off, int out, loff_t *out_off,
			   size_t n, unsigned int flags)
{
	SHIM_REFUSE_OWN(in, -1);
	SHIM_REFUSE_OWN(out, -1);
	enum shim_fd_kind in_kind = shim_fd_kind(in);
	enum shim_fd_kind out_kind = shim_fd_kind(out);
	ssize_t ret = shim_real()->splice(in, in_off, out, out_off, n, flags);
	SHIM_IO(in, in_kind, REGISTRY_RECEIVED, ret,
		shim_io_unseen(in, REGISTRY_RECEIVED, ret));
	SHIM_IO(out, out_kind, REGISTRY_SENT, ret,
		shim_io_unseen(out, REGISTRY_SENT, ret));
	return ret;
}

/* ---- fds appearing, moving, going away -------------------------------- */

SHIM_EXPORT int socket(int domain, int type, int protocol)
{
	int fd = shim_real()->socket(domain, type, protocol);
	SHIM_AFTER(shim_fd_opened(fd));
	return fd;
}

SHIM_EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
	int ret = shim_real()->socketpair(domain, type, protocol, sv);
	SHIM_AFTER(if (ret == 0) {
		shim_fd_opened(sv[0]);
		shim_fd_opened(sv[1]);
	});
	return ret;
}

SHIM_EXPORT int listen(int fd, int backlog)
{
	SHIM_REFUSE_OWN(fd, -1);
	int ret = shim_real()->listen(fd, backlog);
	if (ret == 0)
		SHIM_AFTER(shim_stream_listening(fd));
	return ret;
}

SHIM_EXPORT int accept(int fd, __SOCKADDR_ARG addr, socklen_t *len)
{
	SHIM_REFUSE_OWN(fd, -1);
	int ret = shim_real()->accept(fd, addr.__sockaddr__, len);
	SHIM_AFTER(if (ret >= 0) {
		shim_fd_opened(ret);
		shim_server_needed();
	});
	return ret;
}

SHIM_EXPORT int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *len,
			int flags)
{
	SHIM_REFUSE_OWN(fd, -1);
	int ret = shim_real()->accept4(fd, addr.__sockaddr__, len, flags);
	SHIM_AFTER(if (ret >= 0) {
		shim_fd_opened(ret);
		shim_server_needed();
	});
	return ret;
}

SHIM_EXPORT int close(int fd)
{
	/* The shim's own: EBADF for the host, closed for the shim. */
	if (__builtin_expect(shim_fd_kind(fd) == SHIM_FD_OWN, 0))
		return shim_own_fd_close(fd);
	/* Before the real close: once it returns, another thread may get
	 * the same number back and must find it free of state. */
	SHIM_AFTER(shim_fd_closing(fd));
	return shim_real()->close(fd);
}

/* Both close around the shim's own descriptors (shim.c). */
SHIM_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	SHIM_REQUIRE(close_range, -1);
	return shim_close_range(first, last, flags);
}

SHIM_EXPORT void closefrom(int lowfd)
{
	if (!shim_real()->closefrom)
		return;
	shim_closefrom(lowfd);
}

SHIM_EXPORT int dup(int oldfd)
{
	SHIM_REFUSE_OWN(oldfd, -1);
	int ret = shim_real()->dup(oldfd);
	SHIM_AFTER(shim_fd_duplicated(oldfd, ret));
	return ret;
}

/* dup2 and dup3 onto one of the shim's own numbers: the host gets the
 * number, the shim's server moves off it first (shim.c). */
SHIM_EXPORT int dup2(int oldfd, int newfd)
{
	SHIM_REFUSE_OWN(oldfd, -1);
	bool restart = false;
	if (__builtin_expect(shim_fd_kind(newfd) == SHIM_FD_OWN, 0))
		restart = shim_own_fd_vacate(oldfd, newfd);
	int ret = shim_real()->dup2(oldfd, newfd);
	if (restart)
		shim_own_fd_vacated();
	SHIM_AFTER(shim_fd_duplicated(oldfd, ret));
	return ret;
}

SHIM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	SHIM_REFUSE_OWN(oldfd, -1);
	bool restart = false;
	if (__builtin_expect(shim_fd_kind(newfd) == SHIM_FD_OWN, 0))
		restart = shim_own_fd_vacate(oldfd, newfd);
	int ret = shim_real()->dup3(oldfd, newfd, flags);
	if (restart)
		shim_own_fd_vacated();
	SHIM_AFTER(shim_fd_duplicated(oldfd, ret));
	return ret;
}

/* fcntl's third argument is an int or a pointer depending on cmd; it is
 * passed on as the widest of them, which every ABI wsdbg runs on accepts
 * for both. */
static int shim_fcntl(int (*real_fcntl)(int, int, ...), int fd, int cmd,
		      unsigned long arg)
{
	SHIM_REFUSE_OWN(fd, -1);
	int ret = real_fcntl(fd, cmd, arg);
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		SHIM_AFTER(shim_fd_duplicated(fd, ret));
	return ret;
}

SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	return shim_fcntl(shim_real()->fcntl, fd, cmd, arg);
}

SHIM_EXPORT int fcntl64(int fd, int cmd, ...)
{
	SHIM_REQUIRE(fcntl64, -1);
	va_list ap;
	va_start(ap, cmd);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	return shim_fcntl(shim_real()->fcntl64, fd, cmd, arg);
}

/* open's third argument exists only with O_CREAT or O_TMPFILE; reading it
 * regardless is what the C library's own wrappers do. */
#define SHIM_OPEN_MODE(flags, last)                                          \
	mode_t mode = 0;                                                     \
	if ((flags) & (O_CREAT | O_TMPFILE)) {                               \
		va_list ap;                                                  \
		va_start(ap, last);                                          \
		mode = va_arg(ap, mode_t);                                   \
		va_end(ap);                                                  \
	}

SHIM_EXPORT int open(const char *path, int flags, ...)
{
	SHIM_OPEN_MODE(flags, flags);
	int fd = shim_real()->open(path, flags, mode);
	SHIM_AFTER(shim_fd_opened(fd));
	return fd;
}

SHIM_EXPORT int open64(const char *path, int flags, ...)
{
	SHIM_OPEN_MODE(flags, flags);
	int fd = shim_real()->open64(path, flags, mode);
	SHIM_AFTER(shim_fd_opened(fd));
	return fd;
}

SHIM_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	if (__builtin_expect(shim_fd_kind(dirfd) == SHIM_FD_OWN, 0) &&
	    shim_own_dirfd_refused(dirfd, path))
		return -1;
	SHIM_OPEN_MODE(flags, flags);
	int fd = shim_real()->openat(dirfd, path, flags, mode);
	SHIM_AFTER(shim_fd_opened(fd));
	return fd;
}

SHIM_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	if (__builtin_expect(shim_fd_kind(dirfd) == SHIM_FD_OWN, 0) &&
	    shim_own_dirfd_refused(dirfd, path))
		return -1;
	SHIM_OPEN_MODE(flags, flags);
	int fd = shim_real()->openat64(dirfd, path, flags, mode);
	SHIM_AFTER(shim_fd_opened(fd));
	return fd;
}

SHIM_EXPORT int pipe(int fds[2])
{
	int ret = shim_real()->pipe(fds);
	SHIM_AFTER(if (ret == 0) {
		shim_fd_opened(fds[0]);
		shim_fd_opened(fds[1]);
	});
	return ret;
}

SHIM_EXPORT int pipe2(int fds[2], int flags)
{
	int ret = shim_real()->pipe2(fds, flags);
	SHIM_AFTER(if (ret == 0) {
		shim_fd_opened(fds[0]);
		shim_fd_opened(fds[1]);
	});
	return ret;
}

/* ---- ending without at-exit work --------------------------------------- */

/* _exit and _Exit skip the shim's destructor: the process's stats socket
 * file is removed here instead, or it would be left behind by every fork
 * child that ends this way (a daemon's intermediate child, a worker pool,
 * a child whose exec failed). Nothing else: the dump is at-exit work. A
 * vfork child calling _exit leaves its parent's file alone. */
static _Noreturn void shim_exit_through(void (*real_exit)(int), int status)
{
	shim_exit_now();
	if (real_exit)
		real_exit(status);
	for (;;) /* only without a C library _exit: never here */
		syscall(SYS_exit_group, status);
}

SHIM_EXPORT void _exit(int status)
{
	shim_exit_through(shim_real()->_exit, status);
}

SHIM_EXPORT void _Exit(int status)
{
	shim_exit_through(shim_real()->_Exit, status);
}

/* ---- signal handlers (signals.h) --------------------------------------- */

/* Not declared by the C library's headers: __sigaction (its own name for
 * sigaction, exported all the same) and, but for old X/Open standards,
 * bsd_signal. */
int __sigaction(int sig, const struct sigaction *act,
		struct sigaction *oldact);
void (*bsd_signal(int sig, void (*handler)(int)))(int);

/* Both reached by ThreadSanitizer's start-up (real.h). */
SHIM_EXPORT SHIM_BEFORE_SANITIZER int sigaction(int sig,
						const struct sigaction *act,
						struct sigaction *oldact)
{
	return shim_sigaction(sig, act, oldact);
}

SHIM_EXPORT SHIM_BEFORE_SANITIZER void (*signal(int sig,
						  void (*handler)(int)))(int)
{
	return shim_signal(sig, handler);
}

/* glibc implements these with its internal __sigaction, around the
 * exported sigaction: without their own exports the handlers they
 * install would not be wrapped. */
SHIM_EXPORT int __sigaction(int sig, const struct sigaction *act,
			    struct sigaction *oldact)
{
	return shim_sigaction(sig, act, oldact);
}

SHIM_EXPORT void (*bsd_signal(int sig, void (*handler)(int)))(int)
{
	return shim_signal(sig, handler);
}

SHIM_EXPORT void (*ssignal(int sig, void (*handler)(int)))(int)
{
	return shim_signal(sig, handler);
}

SHIM_EXPORT void (*sysv_signal(int sig, void (*handler)(int)))(int)
{
	return shim_sysv_signal(sig, handler);
}

SHIM_EXPORT void (*__sysv_signal(int sig, void (*handler)(int)))(int)
{
	return shim_sysv_signal(sig, handler);
}

SHIM_EXPORT void (*sigset(int sig, void (*disp)(int)))(int)
{
	return shim_sigset(sig, disp);
}

SHIM_EXPORT int siginterrupt(int sig, int interrupt)
{
	return shim_siginterrupt(sig, interrupt);
}

/*
 * forward_preload.c - libwsbench-forward.so: the floor any interposing
 * library pays. It exports the byte-moving C library calls wsdbg hooks
 * (read, write, readv, writev, recv, send, recvfrom, sendto, recvmsg,
 * sendmsg and the fortified __read_chk, __recv_chk, __recvfrom_chk) and
 * forwards each to the C library's own, found once with dlsym(RTLD_NEXT),
 * doing nothing else: what LD_PRELOAD costs before a line of logic.
 *
 * WSBENCH_FORWARD_THREAD=1 also starts one idle thread at load, as
 * wsdbg's stats server does: a process with a second thread takes glibc's
 * cancellable system-call path, so this variant shows how much of wsdbg's
 * cost is that alone.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define EXPORT __attribute__((visibility("default")))

/* Declared by glibc only in fortified builds. */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
		       struct sockaddr *from, socklen_t *fromlen);

/* X(return type, name, parameters) for every forwarded function. */
#define FORWARDED(X)                                                         \
	X(ssize_t, read, (int, void *, size_t))                              \
	X(ssize_t, write, (int, const void *, size_t))                       \
	X(ssize_t, readv, (int, const struct iovec *, int))                  \
	X(ssize_t, writev, (int, const struct iovec *, int))                 \
	X(ssize_t, recv, (int, void *, size_t, int))                         \
	X(ssize_t, send, (int, const void *, size_t, int))                   \
	X(ssize_t, recvfrom,                                                 \
	  (int, void *, size_t, int, struct sockaddr *, socklen_t *))        \
	X(ssize_t, sendto,                                                   \
	  (int, const void *, size_t, int, const struct sockaddr *,          \
	   socklen_t))                                                       \
	X(ssize_t, recvmsg, (int, struct msghdr *, int))                     \
	X(ssize_t, sendmsg, (int, const struct msghdr *, int))               \
	X(ssize_t, __read_chk, (int, void *, size_t, size_t))                \
	X(ssize_t, __recv_chk, (int, void *, size_t, size_t, int))           \
	X(ssize_t, __recvfrom_chk,                                           \
	  (int, void *, size_t, size_t, int, struct sockaddr *,              \
	   socklen_t *))

static struct {
#define FIELD(ret, name, params) ret(*name) params;
	FORWARDED(FIELD)
#undef FIELD
} real;

static pthread_once_t bind_once = PTHREAD_ONCE_INIT;

static void bind_real(void)
{
#define BIND(ret, name, params)                                              \
	{                                                                    \
		union {                                                      \
			void *object;                                        \
			ret(*function) params;                               \
		} u = {.object = dlsym(RTLD_NEXT, #name)};                   \
		real.name = u.function;                                      \
	}
	FORWARDED(BIND)
#undef BIND
}

/* The C library's function: bound at load, or by the first call when
 * another library's constructor calls in before ours ran. */
#define REAL(name) (real.name ? real.name : (bind_real_now(), real.name))

static void bind_real_now(void)
{
	pthread_once(&bind_once, bind_real);
}

static void *idle_thread(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

__attribute__((constructor)) static void forward_init(void)
{
	bind_real_now();
	const char *t = getenv("WSBENCH_FORWARD_THREAD");
	if (t && strcmp(t, "1") == 0) {
		pthread_t th;
		sigset_t all, old;
		/* The host's signals go to its own threads. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		if (pthread_create(&th, NULL, idle_thread, NULL) == 0)
			pthread_detach(th);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
}

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	return REAL(read)(fd, buf, n);
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	return REAL(write)(fd, buf, n);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	return REAL(readv)(fd, iov, iovcnt);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	return REAL(writev)(fd, iov, iovcnt);
}

EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	return REAL(recv)(fd, buf, n, flags);
}

EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	return REAL(send)(fd, buf, n, flags);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags,
			__SOCKADDR_ARG from, socklen_t *fromlen)
{
	return REAL(recvfrom)(fd, buf, n, flags, from.__sockaddr__, fromlen);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
		      __CONST_SOCKADDR_ARG to, socklen_t tolen)
{
	return REAL(sendto)(fd, buf, n, flags, to.__sockaddr__, tolen);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	return REAL(recvmsg)(fd, msg, flags);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return REAL(sendmsg)(fd, msg, flags);
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	return REAL(__read_chk)(fd, buf, n, buflen);
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen,
			  int flags)
{
	return REAL(__recv_chk)(fd, buf, n, buflen, flags);
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen,
			      int flags, struct sockaddr *from,
			      socklen_t *fromlen)
{
	return REAL(__recvfrom_chk)(fd, buf, n, buflen, flags, from, fromlen);
}

/*
 * real.h - the C library's own versions of the functions the shim exports.
 *
 * Naming follows the hooks: shim_real()->read is the C library's read,
 * hooks.c exports read(), and shim.c holds the logic between. They are
 * looked up once with dlsym(RTLD_NEXT), from whichever hook runs first
 * (hooks can run before the shim's constructor, from another library's
 * constructor), by whichever thread claims the binding first.
 */
#ifndef WSDBG_SHIM_REAL_H
#define WSDBG_SHIM_REAL_H

#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* X(return type, name, parameter types) for every function bound. */
#define SHIM_REAL_FUNCTIONS(X)                                               \
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
	X(int, recvmmsg,                                                     \
	  (int, struct mmsghdr *, unsigned int, int, struct timespec *))     \
	X(int, sendmmsg, (int, struct mmsghdr *, unsigned int, int))         \
	X(ssize_t, __read_chk, (int, void *, size_t, size_t))                \
	X(ssize_t, __recv_chk, (int, void *, size_t, size_t, int))           \
	X(ssize_t, __recvfrom_chk,                                           \
	  (int, void *, size_t, size_t, int, struct sockaddr *,              \
	   socklen_t *))                                                     \
	X(ssize_t, sendfile, (int, int, off_t *, size_t))                    \
	X(ssize_t, sendfile64, (int, int, off_t *, size_t))                  \
	X(ssize_t, splice,                                                   \
	  (int, loff_t *, int, loff_t *, size_t, unsigned int))              \
	X(int, close, (int))                                                 \
	X(int, close_range, (unsigned int, unsigned int, int))               \
	X(void, closefrom, (int))                                            \
	X(int, dup, (int))                                                   \
	X(int, dup2, (int, int))                                             \
	X(int, dup3, (int, int, int))                                        \
	X(int, fcntl, (int, int, ...))                                       \
	X(int, fcntl64, (int, int, ...))                                     \
	X(int, accept, (int, struct sockaddr *, socklen_t *))                \
	X(int, accept4, (int, struct sockaddr *, socklen_t *, int))          \
	X(int, listen, (int, int))                                           \
	X(int, socket, (int, int, int))                                      \
	X(int, socketpair, (int, int, int, int[2]))                          \
	X(int, open, (const char *, int, ...))                               \
	X(int, open64, (const char *, int, ...))                             \
	X(int, openat, (int, const char *, int, ...))                        \
	X(int, openat64, (int, const char *, int, ...))                      \
	X(int, pipe, (int[2]))                                               \
	X(int, pipe2, (int[2], int))                                         \
	X(int, sigaction,                                                    \
	  (int, const struct sigaction *, struct sigaction *))               \
	X(void, _exit, (int))                                                \
	X(void, _Exit, (int))

/* For functions that may run before a sanitizer's runtime is set up:
 * ThreadSanitizer's start-up installs its signal handlers with sigaction,
 * and with the shim preloaded after it that call lands in the shim's
 * sigaction hook, before TSan could record anything. That hook, what it
 * calls (signals.c) and the binding of the real functions (real.c) are
 * therefore left uninstrumented in a TSan build; elsewhere this is
 * nothing. */
#if defined(__SANITIZE_THREAD__)
#define SHIM_BEFORE_SANITIZER __attribute__((no_sanitize_thread, noinline))
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHIM_BEFORE_SANITIZER                                                \
	__attribute__((disable_sanitizer_instrumentation, noinline))
#endif
#endif
#ifndef SHIM_BEFORE_SANITIZER
#define SHIM_BEFORE_SANITIZER
#endif

struct shim_real {
#define SHIM_REAL_FIELD(ret, name, params) ret(*name) params;
	SHIM_REAL_FUNCTIONS(SHIM_REAL_FIELD)
#undef SHIM_REAL_FIELD
};

/* Bound functions, and whether binding is done; private to shim_real(). */
extern struct shim_real shim_real_fns;
extern _Atomic int shim_real_bound;
const struct shim_real *shim_real_bind_once(void);

/* shim_real(), out of line and uninstrumented (SHIM_BEFORE_SANITIZER),
 * for the code that runs before a sanitizer is set up. */
const struct shim_real *shim_real_early(void);

/* The C library's functions, bound on first use. A function the C library
 * lacks (an older glibc without close_range) is NULL: its hook then fails
 * with ENOSYS, as the missing function would have. After the first call
 * this is one load and a branch: every hooked call pays it. */
static inline const struct shim_real *shim_real(void)
{
	if (__builtin_expect(atomic_load_explicit(&shim_real_bound,
						  memory_order_acquire), 1))
		return &shim_real_fns;
	return shim_real_bind_once();
}

#endif

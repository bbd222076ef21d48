/*
 * shim.h - the logic behind the exported hooks (hooks.c). Each hook calls
 * the C library first, then tells this layer what really happened: the
 * bytes that moved (the return value, never the requested length), the fds
 * that appeared, moved or went away. Nothing here changes a return value
 * or errno; hooks.c saves and restores errno around these calls.
 */
#ifndef WSDBG_SHIM_SHIM_H
#define WSDBG_SHIM_SHIM_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "wsdbg/registry.h"

/* What a hook on the calling thread does now. */
enum shim_mode {
	SHIM_PASS,   /* the shim is off (or not set up): nothing */
	SHIM_RECORD, /* record what the call did */
	SHIM_BLIND,  /* inside a signal handler, or inside the shim already
			(its own I/O, or a handler that interrupted it): only
			shim_io_blind, which is async-signal-safe */
};
enum shim_mode shim_mode(void);

/* shim_mode() == SHIM_RECORD. */
bool shim_active(void);

/* Bytes moved on fd in dir that the shim may not look at now: marks them
 * lost, so that direction stops with a gap on the next recorded call.
 * Async-signal-safe; does not touch errno. */
void shim_io_blind(int fd, enum registry_dir dir);

/* Bytes one call moved. dir is REGISTRY_RECEIVED for reads. */
void shim_io(int fd, enum registry_dir dir, const void *buf, ssize_t n);
void shim_io_iov(int fd, enum registry_dir dir, const struct iovec *iov,
		 size_t iovcnt, ssize_t n);

/* Bytes moved on fd that the shim could not see (sendfile, splice,
 * MSG_TRUNC): decoding of that direction stops with a gap. */
void shim_io_unseen(int fd, enum registry_dir dir, ssize_t n);

/* The process needs its stats server: it accepted a connection, or
 * capture started following a stream. Starts it the first time (not
 * from a signal handler); after that one relaxed load. */
void shim_server_needed(void);

/* fd now listens: when it is a stream socket that may carry WebSocket
 * traffic (TCP, or Unix for a server behind a proxy), the process needs
 * its stats server (a server is listed by `wsdbg ps` before its first
 * client). */
void shim_stream_listening(int fd);

/* fd was just returned by socket, accept, open...: any state left from an
 * earlier fd of the same number is stale. */
void shim_fd_opened(int fd);

/* fd is about to be closed (or replaced by dup2): ends its capture if it
 * was the socket's last fd. Called before the real close so the number is
 * free of state when another thread gets it back. */
void shim_fd_closing(int fd);

/* Every fd in [first, last] was closed (close_range, closefrom). */
void shim_fds_closed(unsigned first, unsigned last);

/* newfd now refers to what oldfd does (after a successful dup). */
void shim_fd_duplicated(int oldfd, int newfd);

/*
 * The shim's own descriptors (own_fds.h), as the hooks meet them.
 */

/* How deep the calling thread is inside the shim (shim.c). > 0 on the
 * stats server's thread, and while the shim does its own work on a host
 * thread. */
extern __thread int shim_depth __attribute__((tls_model("initial-exec")));

/* fd is marked the shim's own: true (errno EBADF) when the caller is the
 * host, which must not reach it; false for the shim itself, in a vfork
 * child (its descriptor table is its own copy), or when the mark turns
 * out stale (then dropped). */
bool shim_own_fd_refused(int fd);

/* The same for openat(dirfd, path): refused only when path is relative
 * (an absolute one does not use dirfd). path may be NULL. */
bool shim_own_dirfd_refused(int dirfd, const char *path);

/* close() on a number marked the shim's own: EBADF for the host, the
 * real close (and the mark dropped) for the shim. */
int shim_own_fd_close(int fd);

/* close_range() and closefrom() that close around the shim's own
 * descriptors, with the C library's results. */
int shim_close_range(unsigned first, unsigned last, int flags);
void shim_closefrom(int lowfd);

/* Before dup2/dup3(oldfd, fd) where fd is marked the shim's own: takes
 * the shim's descriptor off fd so the host gets the number. Returns true
 * when the stats server was stopped for it: the caller then calls
 * shim_own_fd_vacated() after the real call, which starts it again. */
bool shim_own_fd_vacate(int oldfd, int fd);
void shim_own_fd_vacated(void);

/* _exit/_Exit: the process ends now, without at-exit work; removes its
 * stats socket file (when this is the process that made it: not in a
 * vfork child). Async-signal-safe. */
void shim_exit_now(void);

#endif

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

#endif

/*
 * own_fds.h - the shim's own descriptors, kept out of the host's way.
 *
 * The shim holds a few descriptors of its own in the host's descriptor
 * table: the stats server's listening socket, and the client it is
 * serving. A host must see only the descriptors it opened, and daemons
 * close every number they do not know (a close() loop, close_range,
 * closefrom), then expect open() to give them 0. So each of the shim's
 * descriptors, as soon as it is made, is:
 *
 *   - moved to a high number: the lowest free one from
 *     shim_own_fd_floor(), a little under min(RLIMIT_NOFILE soft limit,
 *     1024) (at most 1024 so that the kernel's table stays small and
 *     fork() cheap); where no such number is free it stays where it is;
 *   - marked SHIM_FD_OWN in the fd table (fdtable.h) and listed here.
 *
 * The hooks then answer the host as if the number were not open (as it
 * would not be without the shim): close() and I/O fail with EBADF,
 * close_range() and closefrom() close around it, dup2()/dup3() onto it
 * first take the shim's server off it (shim.c). Only the shim itself (see
 * shim_own_fd_refused in shim.h) and a vfork child (its descriptor table
 * is its own copy) get through.
 *
 * Everything here is lock-free and async-signal-safe: the list is a few
 * atomic slots, the mark is the fd table's atomic kind byte.
 */
#ifndef WSDBG_SHIM_OWN_FDS_H
#define WSDBG_SHIM_OWN_FDS_H

#include <stdbool.h>

/* How many descriptors the shim may hold at once (it holds two at most:
 * the listening socket and one client; a restart briefly adds one). */
#define SHIM_OWN_FDS_MAX 8

/* The highest number the shim moves its descriptors below, whatever the
 * descriptor limit. */
#define SHIM_OWN_FD_TOP 1024
/* How far under min(soft limit, SHIM_OWN_FD_TOP) they start. */
#define SHIM_OWN_FD_SPAN 16

/* The lowest number shim_own_fd_adopt moves a descriptor to now (the
 * soft limit may change): min(soft limit, SHIM_OWN_FD_TOP) -
 * SHIM_OWN_FD_SPAN, or half the limit when that is tiny. */
int shim_own_fd_floor(void);

/*
 * fd: a descriptor the shim has just made (socket, accept4). Moves it to
 * a high number (closing fd) and marks that one the shim's own. Returns
 * the descriptor to use from now on: the new number, or fd itself
 * (marked) when no high number is free, or fd unmarked when the list is
 * full. Ownership stays with the caller, who closes it with close() (the
 * hook sees the shim's own call, closes and unmarks).
 */
int shim_own_fd_adopt(int fd);

/* Drops the mark and the listing of fd, if it is still marked the
 * shim's own, without closing anything: the number is not the shim's any
 * more (closed or replaced behind its back). */
void shim_own_fd_forget(int fd);

/* True when fd is listed as the shim's own and is still open on the
 * file it was adopted with (not closed and reused behind the shim's back
 * by a call the hooks do not see, a raw system call). */
bool shim_own_fd_verify(int fd);

/* The shim's own descriptors in [first, last], in increasing order, into
 * out (SHIM_OWN_FDS_MAX room). Returns how many. */
int shim_own_fds_in(unsigned first, unsigned last, int *out);

/* In a fork child, after the fd table forgot every mark: forgets the
 * list (the parent's numbers are closed by their owner, stats_server). */
void shim_own_fds_forget_all(void);

#endif

/*
 * fdtable.h - what the shim knows about each file descriptor.
 *
 * Two arrays indexed by fd, sized once from RLIMIT_NOFILE: a kind byte
 * (unknown, ignored, tracked) that the hot path reads without a lock, and
 * a pointer to the socket's struct shim_fd when tracked. Descriptors past
 * the table are passed through untouched.
 *
 * A struct shim_fd is never given back to malloc: once made it is reused
 * through a free list, so a thread that read a slot just before another
 * thread closed that fd locks a valid object, sees it no longer belongs to
 * that slot (shim_fd_lock checks), and lets go. Several fds may share one
 * (dup): refs counts them; the socket ends when the last one closes.
 */
#ifndef WSDBG_SHIM_FDTABLE_H
#define WSDBG_SHIM_FDTABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "wsdbg/capture.h"

enum shim_fd_kind {
	SHIM_FD_UNKNOWN = 0, /* not looked at since it was (re)opened */
	SHIM_FD_IGNORED,     /* not a stream socket, or not WebSocket */
	SHIM_FD_TRACKED,     /* a stream socket being captured */
	SHIM_FD_OWN,         /* the shim's own descriptor (own_fds.h): the
				host must not reach it */
};

struct shim_fd {
	/* Guards refs and stream. Taken after the real call has returned,
	 * never across it. The registry lock may be taken while it is held
	 * (capture records into the registry); never the other way round. */
	pthread_mutex_t lock;
	unsigned refs;               /* fds pointing here */
	struct capture_stream stream;
	struct shim_fd *next_free;   /* on the free list */
};

/* Sizes the table (once; safe to call from every hook). False if memory
 * is short: then every fd is passed through. */
bool shim_fdtable_init(void);

/* How many fds the table covers (0 before shim_fdtable_init). */
size_t shim_fdtable_size(void);

/* The table itself, for the inline fast path below; private otherwise. */
extern _Atomic(uint8_t) *shim_kinds;
extern size_t shim_nslots;
/* Each kinds byte: the kind in the low bits, lost marks above. */
#define SHIM_FD_KIND_MASK 0x0fu
#define SHIM_FD_LOST_SHIFT 4

/* Whether the table covers fd (never before it exists). */
static inline bool shim_fd_in_table(int fd)
{
	return fd >= 0 && (size_t)fd < shim_nslots;
}

/* The kind of fd; SHIM_FD_IGNORED for fds past the table (and for every fd
 * before the table exists). Lock-free: this is the whole cost of a hooked
 * call on an fd that is not a WebSocket. */
static inline enum shim_fd_kind shim_fd_kind(int fd)
{
	if (!shim_fd_in_table(fd))
		return SHIM_FD_IGNORED;
	return (enum shim_fd_kind)(atomic_load_explicit(&shim_kinds[fd],
							memory_order_relaxed) &
				   SHIM_FD_KIND_MASK);
}
/* Sets the kind and clears the lost marks. */
void shim_fd_set_kind(int fd, enum shim_fd_kind kind);

/* Sets the kind to desired (lost marks cleared) only if it is expected
 * now; returns whether it did. Lock-free and async-signal-safe. */
bool shim_fd_swap_kind(int fd, enum shim_fd_kind expected,
		       enum shim_fd_kind desired);

/* Marks that bytes moved on fd in dir while the shim could not look (from
 * a signal handler). Lock-free and async-signal-safe. */
void shim_fd_mark_lost(int fd, enum registry_dir dir);

/* Takes the lost marks of fd: bit 1 << REGISTRY_SENT, 1 << ..._RECEIVED.
 * Asked on every recorded call: a plain load inline (the marks are rare,
 * an atomic write is not free), the taking out of line. */
unsigned shim_fd_take_lost_marked(int fd);
static inline unsigned shim_fd_take_lost(int fd)
{
	if (!shim_fd_in_table(fd) ||
	    (atomic_load_explicit(&shim_kinds[fd], memory_order_relaxed) >>
	     SHIM_FD_LOST_SHIFT) == 0)
		return 0;
	return shim_fd_take_lost_marked(fd);
}

/* The tracked socket behind fd, locked, or NULL (then nothing is locked).
 * Creates one (refs 1, stream in SNIFF) when create is set and fd has
 * none. */
struct shim_fd *shim_fd_lock(int fd, bool create);
static inline void shim_fd_unlock(struct shim_fd *f)
{
	pthread_mutex_unlock(&f->lock);
}

/* True if fd has a socket object (tracked, or ignored after tracking and
 * kept until close to record the end). Lock-free. */
bool shim_fd_has_socket(int fd);

/* Detaches fd from its socket and marks it unknown. Returns the socket,
 * locked, when fd was its last reference (the caller ends the capture and
 * calls shim_fd_release), else NULL. */
struct shim_fd *shim_fd_detach(int fd);

/* Puts a detached, locked socket back on the free list and unlocks it. */
void shim_fd_release(struct shim_fd *f);

/* Makes newfd refer to the same socket as oldfd (dup, dup2, dup3,
 * F_DUPFD). newfd must be detached first. */
void shim_fd_share(int oldfd, int newfd);

/* In a fork child: forgets every socket of the parent (their state and
 * locks belong to the parent's threads) without freeing anything. */
void shim_fdtable_forget_all(void);

#endif

/* fdtable.c - per-fd state of the shim (fdtable.h). */
#include "fdtable.h"

#include <stdlib.h>
#include <sys/resource.h>

/* Bounds on the table: at least the usual soft limit, at most a size
 * whose (lazily touched) arrays stay reasonable. */
#define SHIM_FDTABLE_MIN 1024
#define SHIM_FDTABLE_MAX (1u << 20)

_Atomic(uint8_t) *shim_kinds;
size_t shim_nslots;
static _Atomic(struct shim_fd *) *shim_slots;
static pthread_once_t shim_fdtable_once = PTHREAD_ONCE_INIT;

/* Guards shim_free_list. A leaf lock: nothing else is taken under it. */
static pthread_mutex_t shim_free_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shim_fd *shim_free_list;

static void shim_fdtable_alloc(void)
{
	struct rlimit rl;
	size_t n = SHIM_FDTABLE_MIN;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t want = rl.rlim_max == RLIM_INFINITY ? SHIM_FDTABLE_MAX
							   : rl.rlim_max;
		if (want > SHIM_FDTABLE_MAX)
			want = SHIM_FDTABLE_MAX;
		if (want > n)
			n = (size_t)want;
	}
	/* calloc of this size maps zero pages: only touched slots cost. */
	void *kinds = calloc(n, sizeof(*shim_kinds));
	void *slots = calloc(n, sizeof(*shim_slots));
	if (!kinds || !slots) {
		free(kinds);
		free(slots);
		return;
	}
	shim_kinds = kinds;
	shim_slots = slots;
	shim_nslots = n;
}

bool shim_fdtable_init(void)
{
	pthread_once(&shim_fdtable_once, shim_fdtable_alloc);
	return shim_nslots > 0;
}

size_t shim_fdtable_size(void)
{
	return shim_nslots;
}

void shim_fd_mark_lost(int fd, enum registry_dir dir)
{
	if (shim_fd_in_table(fd))
		atomic_fetch_or(&shim_kinds[fd],
				(uint8_t)(1u << (SHIM_FD_LOST_SHIFT + dir)));
}

unsigned shim_fd_take_lost_marked(int fd)
{
	uint8_t old = atomic_fetch_and(&shim_kinds[fd],
				       (uint8_t)SHIM_FD_KIND_MASK);
	return (unsigned)old >> SHIM_FD_LOST_SHIFT;
}

void shim_fd_set_kind(int fd, enum shim_fd_kind kind)
{
	if (shim_fd_in_table(fd))
		atomic_store_explicit(&shim_kinds[fd], (uint8_t)kind,
				      memory_order_relaxed);
}

bool shim_fd_swap_kind(int fd, enum shim_fd_kind expected,
		       enum shim_fd_kind desired)
{
	if (!shim_fd_in_table(fd))
		return false;
	uint8_t now = atomic_load(&shim_kinds[fd]);
	while ((now & SHIM_FD_KIND_MASK) == (uint8_t)expected)
		if (atomic_compare_exchange_weak(&shim_kinds[fd], &now,
						 (uint8_t)desired))
			return true;
	return false;
}

/* A fresh socket object: from the free list, or new. */
static struct shim_fd *shim_fd_new(int fd)
{
	struct shim_fd *f;
	pthread_mutex_lock(&shim_free_lock);
	f = shim_free_list;
	if (f)
		shim_free_list = f->next_free;
	pthread_mutex_unlock(&shim_free_lock);
	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f)
			return NULL;
		pthread_mutex_init(&f->lock, NULL);
	}
	f->refs = 1;
	f->next_free = NULL;
	capture_init(&f->stream, fd);
	return f;
}

struct shim_fd *shim_fd_lock(int fd, bool create)
{
	if (!shim_fd_in_table(fd))
		return NULL;
	for (;;) {
		struct shim_fd *f = atomic_load(&shim_slots[fd]);
		if (!f) {
			if (!create)
				return NULL;
			struct shim_fd *fresh = shim_fd_new(fd);
			if (!fresh)
				return NULL;
			pthread_mutex_lock(&fresh->lock);
			struct shim_fd *expected = NULL;
			if (atomic_compare_exchange_strong(&shim_slots[fd],
							   &expected, fresh))
				return fresh;
			/* Another thread made one first: use it. */
			fresh->refs = 0;
			shim_fd_release(fresh);
			continue;
		}
		pthread_mutex_lock(&f->lock);
		if (atomic_load(&shim_slots[fd]) == f)
			return f;
		/* Closed (and maybe reused) while we waited: look again. */
		pthread_mutex_unlock(&f->lock);
	}
}

bool shim_fd_has_socket(int fd)
{
	return shim_fd_in_table(fd) &&
	       atomic_load_explicit(&shim_slots[fd], memory_order_relaxed);
}

struct shim_fd *shim_fd_detach(int fd)
{
	if (!shim_fd_in_table(fd))
		return NULL;
	shim_fd_set_kind(fd, SHIM_FD_UNKNOWN);
	struct shim_fd *f = atomic_exchange(&shim_slots[fd], NULL);
	if (!f)
		return NULL;
	pthread_mutex_lock(&f->lock);
	if (--f->refs > 0) {
		pthread_mutex_unlock(&f->lock);
		return NULL;
	}
	return f;
}

void shim_fd_release(struct shim_fd *f)
{
	capture_discard(&f->stream);
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_lock(&shim_free_lock);
	f->next_free = shim_free_list;
	shim_free_list = f;
	pthread_mutex_unlock(&shim_free_lock);
}

void shim_fd_share(int oldfd, int newfd)
{
	if (!shim_fd_in_table(newfd))
		return;
	struct shim_fd *f = shim_fd_lock(oldfd, false);
	if (!f) {
		shim_fd_set_kind(newfd, shim_fd_kind(oldfd));
		return;
	}
	f->refs++;
	atomic_store(&shim_slots[newfd], f);
	shim_fd_set_kind(newfd, SHIM_FD_TRACKED);
	shim_fd_unlock(f);
}

void shim_fdtable_forget_all(void)
{
	for (size_t i = 0; i < shim_nslots; i++) {
		if (atomic_load_explicit(&shim_kinds[i],
					 memory_order_relaxed) ||
		    atomic_load_explicit(&shim_slots[i], memory_order_relaxed)) {
			atomic_store(&shim_slots[i], NULL);
			atomic_store(&shim_kinds[i], SHIM_FD_UNKNOWN);
		}
	}
	shim_free_list = NULL;
	pthread_mutex_init(&shim_free_lock, NULL);
}

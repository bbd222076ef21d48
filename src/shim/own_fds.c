/* own_fds.c - the shim's own descriptors, out of the host's way
 * (own_fds.h). */
#define _GNU_SOURCE
#include "own_fds.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "fdtable.h"
#include "real.h"

/* A slot of the list: a descriptor number, SHIM_OWN_FREE, or
 * SHIM_OWN_CLAIMED while shim_own_fd_adopt fills it in. */
#define SHIM_OWN_FREE (-1)
#define SHIM_OWN_CLAIMED (-2)

/* Every slot starts free (written out: SHIM_OWN_FDS_MAX is 8). */
_Static_assert(SHIM_OWN_FDS_MAX == 8, "initialiser below");
static _Atomic int shim_own[SHIM_OWN_FDS_MAX] = {
	SHIM_OWN_FREE, SHIM_OWN_FREE, SHIM_OWN_FREE, SHIM_OWN_FREE,
	SHIM_OWN_FREE, SHIM_OWN_FREE, SHIM_OWN_FREE, SHIM_OWN_FREE,
};
/* The identity (device, inode) of the file each slot's descriptor was
 * open on when adopted; written before the number is published. */
static _Atomic unsigned long long shim_own_dev[SHIM_OWN_FDS_MAX];
static _Atomic unsigned long long shim_own_ino[SHIM_OWN_FDS_MAX];

int shim_own_fd_floor(void)
{
	struct rlimit rl;
	rlim_t top = SHIM_OWN_FD_TOP;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < top)
		top = rl.rlim_cur;
	if (top > 4 * SHIM_OWN_FD_SPAN)
		return (int)(top - SHIM_OWN_FD_SPAN);
	return (int)(top / 2);
}

/* True when a and b are open on the same file. */
static bool shim_own_same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int shim_own_fd_adopt(int fd)
{
	if (fd < 0 || shim_fdtable_size() == 0)
		return fd;
	int slot = -1;
	for (int i = 0; i < SHIM_OWN_FDS_MAX && slot < 0; i++) {
		int free_slot = SHIM_OWN_FREE;
		if (atomic_compare_exchange_strong(&shim_own[i], &free_slot,
						   SHIM_OWN_CLAIMED))
			slot = i;
	}
	if (slot < 0) /* cannot happen with the server's two; keep it usable */
		return fd;

	const struct shim_real *real = shim_real();
	int floor = shim_own_fd_floor();
	int moved = fd;
	if (fd < floor) {
		moved = real->fcntl(fd, F_DUPFD_CLOEXEC, floor);
		if (moved < 0) {
			moved = fd; /* nothing free up there: mark it in place */
		} else if (shim_own_same_file(fd, moved)) {
			real->close(fd);
		}
		/* Otherwise the host closed fd (a close-everything loop) and
		 * got the number back between the two calls: it is the
		 * host's; the caller finds out that `moved` is not what it
		 * made. */
	}
	struct stat st;
	if (fstat(moved, &st) != 0)
		st.st_dev = st.st_ino = 0; /* never matches a socket's */
	atomic_store(&shim_own_dev[slot], (unsigned long long)st.st_dev);
	atomic_store(&shim_own_ino[slot], (unsigned long long)st.st_ino);
	atomic_store(&shim_own[slot], moved);
	shim_fd_set_kind(moved, SHIM_FD_OWN);
	return moved;
}

void shim_own_fd_forget(int fd)
{
	if (fd < 0)
		return;
	shim_fd_swap_kind(fd, SHIM_FD_OWN, SHIM_FD_UNKNOWN);
	for (int i = 0; i < SHIM_OWN_FDS_MAX; i++) {
		int listed = fd;
		atomic_compare_exchange_strong(&shim_own[i], &listed,
					       SHIM_OWN_FREE);
	}
}

bool shim_own_fd_verify(int fd)
{
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0)
		return false;
	for (int i = 0; i < SHIM_OWN_FDS_MAX; i++)
		if (atomic_load(&shim_own[i]) == fd)
			return atomic_load(&shim_own_dev[i]) ==
				       (unsigned long long)st.st_dev &&
			       atomic_load(&shim_own_ino[i]) ==
				       (unsigned long long)st.st_ino;
	return false;
}

int shim_own_fds_in(unsigned first, unsigned last, int *out)
{
	int n = 0;
	for (int i = 0; i < SHIM_OWN_FDS_MAX; i++) {
		int fd = atomic_load(&shim_own[i]);
		if (fd < 0 || (unsigned)fd < first || (unsigned)fd > last)
			continue;
		/* Insertion in order; at most SHIM_OWN_FDS_MAX. */
		int j = n++;
		while (j > 0 && out[j - 1] > fd) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = fd;
	}
	return n;
}

void shim_own_fds_forget_all(void)
{
	for (int i = 0; i < SHIM_OWN_FDS_MAX; i++)
		atomic_store(&shim_own[i], SHIM_OWN_FREE);
}

/* real.c - binds the C library's versions of the hooked functions. */
/* Both sendfile and sendfile64, fcntl and fcntl64 are exported; with
 * 64-bit file offsets forced, the headers would make each pair one name. */
#undef _FILE_OFFSET_BITS
#define _GNU_SOURCE
#include "real.h"

#include <dlfcn.h>
#include <sched.h>

struct shim_real shim_real_fns;
_Atomic int shim_real_bound;
/* Set by the one thread that binds. Not pthread_once: this runs before
 * ThreadSanitizer is set up (real.h), and its pthread_once interceptor
 * cannot run then. */
static _Atomic int shim_real_claimed;

/* dlsym returns void *; a function pointer is stored through memcpy-free
 * union punning to keep -Wpedantic quiet about object/function casts. */
SHIM_BEFORE_SANITIZER static void shim_real_bind(void)
{
#define SHIM_REAL_BIND(ret, name, params)                                    \
	{                                                                    \
		union {                                                      \
			void *object;                                        \
			ret(*function) params;                               \
		} u = {.object = dlsym(RTLD_NEXT, #name)};                   \
		shim_real_fns.name = u.function;                             \
	}
	SHIM_REAL_FUNCTIONS(SHIM_REAL_BIND)
#undef SHIM_REAL_BIND
	atomic_store_explicit(&shim_real_bound, 1, memory_order_release);
}

SHIM_BEFORE_SANITIZER const struct shim_real *shim_real_bind_once(void)
{
	int unclaimed = 0;
	if (atomic_compare_exchange_strong(&shim_real_claimed, &unclaimed, 1))
		shim_real_bind();
	else /* another thread is binding: a few dlsym calls */
		while (!atomic_load_explicit(&shim_real_bound,
					     memory_order_acquire))
			sched_yield();
	return &shim_real_fns;
}

SHIM_BEFORE_SANITIZER const struct shim_real *shim_real_early(void)
{
	if (atomic_load_explicit(&shim_real_bound, memory_order_acquire))
		return &shim_real_fns;
	return shim_real_bind_once();
}

/* real.c - binds the C library's versions of the hooked functions. */
/* Both sendfile and sendfile64, fcntl and fcntl64 are exported; with
 * 64-bit file offsets forced, the headers would make each pair one name. */
#undef _FILE_OFFSET_BITS
#define _GNU_SOURCE
#include "real.h"

#include <dlfcn.h>
#include <pthread.h>

struct shim_real shim_real_fns;
_Atomic int shim_real_bound;
static pthread_once_t shim_real_once = PTHREAD_ONCE_INIT;

/* dlsym returns void *; a function pointer is stored through memcpy-free
 * union punning to keep -Wpedantic quiet about object/function casts. */
static void shim_real_bind(void)
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

const struct shim_real *shim_real_bind_once(void)
{
	pthread_once(&shim_real_once, shim_real_bind);
	return &shim_real_fns;
}

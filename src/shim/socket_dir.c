/* socket_dir.c - where the stats sockets live (socket_dir.h). */
#include "socket_dir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *socket_dir_getenv(const char *name)
{
	return getenv(name);
}

int socket_dir_default(char *out, size_t cap,
		       const char *(*lookup)(const char *name))
{
	if (!lookup)
		lookup = socket_dir_getenv;
	const char *dir = lookup("WSDBG_DIR");
	const char *runtime = lookup("XDG_RUNTIME_DIR");
	int n;

	if (dir && *dir)
		n = snprintf(out, cap, "%s", dir);
	else if (runtime && *runtime)
		n = snprintf(out, cap, "%s/wsdbg", runtime);
	else
		n = snprintf(out, cap, "/tmp/wsdbg-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			out[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

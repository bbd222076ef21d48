/*
 * rlimit_as_host.c - a server under an address-space limit (RLIMIT_AS,
 * as set by ulimit -v, prlimit --as or a container's memory policy) that
 * takes all the memory it may: how much of it is left to the host with
 * the shim in the process.
 *
 *   rlimit-as-host --as-mib M
 *
 * Lowers its soft RLIMIT_AS to M MiB, listens on 127.0.0.1 (the kernel
 * picks the port; a server, so that the shim starts its stats server)
 * and prints "PORT <n>". On a line "alloc" on stdin it allocates 1 MiB
 * blocks with malloc (never touched) until one fails, and prints
 *
 *   reached N MiB, VmSize before B kB, after A kB
 *
 * (VmSize from /proc/self/status, before the first block and after the
 * last); then waits for the end of stdin and exits 0. Exit status 1 when
 * it could not run, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "ws_peer.h"

/* The most blocks taken, whatever the limit. */
#define MAX_BLOCKS 65536

/* VmSize in kB, or -1. Allocates nothing: memory may be out. */
static long vm_size_kb(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = strstr(buf, "\nVmSize:");
	return p ? strtol(p + 8, NULL, 10) : -1;
}

int main(int argc, char **argv)
{
	long mib = argc == 3 && strcmp(argv[1], "--as-mib") == 0
		       ? strtol(argv[2], NULL, 10)
		       : 0;
	if (mib < 16 || mib > 65536) {
		fprintf(stderr, "usage: rlimit-as-host --as-mib M\n");
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) != 0)
		return 1;
	rl.rlim_cur = (rlim_t)mib << 20;
	if (setrlimit(RLIMIT_AS, &rl) != 0) {
		perror("rlimit-as-host: setrlimit");
		return 1;
	}

	int listen_fd = peer_listen_loopback(16);
	if (listen_fd < 0)
		return 1;

	char line[64];
	if (!fgets(line, sizeof(line), stdin) || strcmp(line, "alloc\n") != 0)
		return 1;
	long before = vm_size_kb();
	static void *blocks[MAX_BLOCKS];
	long n = 0;
	while (n < MAX_BLOCKS && (blocks[n] = malloc(1u << 20)) != NULL)
		n++;
	long after = vm_size_kb();
	/* Room for stdio again before printing. */
	for (long i = 0; i < n && i < 8; i++)
		free(blocks[i]);
	printf("reached %ld MiB, VmSize before %ld kB, after %ld kB\n", n,
	       before, after);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}

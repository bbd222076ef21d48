/*
 * lowest_fd_host.c - a host that counts on the lowest free descriptor
 * being the one it just closed, the way daemons put /dev/null on 0 and
 * shells redirect: close(0), then open() must give 0.
 *
 *   lowest-fd-host [--seconds S]
 *
 * Listens on 127.0.0.1 (the kernel picks the port; a server, so that the
 * shim starts its stats server), prints "PORT <n>", then waits for a line
 * on stdin. Then, for S seconds (default 1.5), over and over: close(0),
 * open("/dev/null", O_RDONLY), and a mismatch each time that did not give
 * 0 (the number it gave is closed again). At the end it prints
 *
 *   iterations N mismatches M
 *   first_mismatch fd F, 0 was TARGET     (only when M > 0: what held 0)
 *
 * waits for another line (or the end) on what was its stdin before the
 * loop put /dev/null there, and exits 0 (1 when it could not run, 2 on
 * usage errors).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ws_peer.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = 1.5;
	if (argc == 3 && strcmp(argv[1], "--seconds") == 0)
		seconds = strtod(argv[2], NULL);
	else if (argc != 1)
		seconds = -1;
	if (!(seconds > 0 && seconds < 60)) {
		fprintf(stderr, "usage: lowest-fd-host [--seconds S]\n");
		return 2;
	}
	int listen_fd = peer_listen_loopback(16);
	if (listen_fd < 0)
		return 1;
	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	/* stdin, kept where the loop does not close it; high, away from
	 * the numbers the stats thread uses in its own table, which
	 * ThreadSanitizer tells from the host's no better than by number. */
	int control = fcntl(0, F_DUPFD_CLOEXEC, 64);
	if (control < 0)
		return 1;

	long iterations = 0, mismatches = 0;
	char first[128] = "";
	double end = now() + seconds;
	while (now() < end) {
		close(0);
		int fd = open("/dev/null", O_RDONLY);
		iterations++;
		if (fd == 0)
			continue;
		if (mismatches++ == 0) {
			char target[96];
			ssize_t n = readlink("/proc/self/fd/0", target,
					     sizeof(target) - 1);
			target[n > 0 ? n : 0] = '\0';
			snprintf(first, sizeof(first), "fd %d, 0 was %s", fd,
				 n > 0 ? target : "(closed)");
		}
		if (fd > 0)
			close(fd);
	}
	printf("iterations %ld mismatches %ld\n", iterations, mismatches);
	if (mismatches)
		printf("first_mismatch %s\n", first);
	fflush(stdout);
	ssize_t n;
	while ((n = read(control, line, sizeof(line))) > 0 &&
	       !memchr(line, '\n', (size_t)n))
		;
	return 0;
}

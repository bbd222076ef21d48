/*
 * hook_bench.c - wsbench-hooks: what a hooked call costs on a descriptor
 * that is not a WebSocket.
 *
 *   wsbench-hooks [--iterations N] [--fd pipe|socketpair]
 *
 * Moves one byte N times through a pipe (or a Unix socketpair): write()
 * then read(), both returning 1, so a preloaded wsdbg looks each call's
 * descriptor up, finds it ignored (the first byte is not an HTTP method)
 * and returns. Run bare, under the forward-only preload and under wsdbg,
 * the differences are the per-call cost of interposition and of wsdbg's
 * fast path. Prints one JSON object: ns_per_call (wall time of the loop
 * over 2N calls) and calls.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "bench_ws.h"

int main(int argc, char **argv)
{
	long iterations = 1000000;
	const char *kind = "pipe";

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--iterations") == 0)
			iterations = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--fd") == 0)
			kind = argv[i + 1];
	}
	if (argc % 2 == 0 || iterations <= 0 ||
	    (strcmp(kind, "pipe") != 0 && strcmp(kind, "socketpair") != 0)) {
		fprintf(stderr, "usage: wsbench-hooks [--iterations N] "
				"[--fd pipe|socketpair]\n");
		return 2;
	}
	int fds[2];
	int r = strcmp(kind, "pipe") == 0
		    ? pipe(fds)
		    : socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
	if (r != 0) {
		perror("wsbench-hooks");
		return 1;
	}
	char c = 'x';
	/* Once outside the timing: the first call on each fd classifies it. */
	if (write(fds[1], &c, 1) != 1 || read(fds[0], &c, 1) != 1)
		return 1;
	uint64_t t0 = bench_now_ns();
	for (long i = 0; i < iterations; i++) {
		if (write(fds[1], &c, 1) != 1 || read(fds[0], &c, 1) != 1) {
			perror("wsbench-hooks");
			return 1;
		}
	}
	uint64_t t1 = bench_now_ns();
	printf("{\"ns_per_call\": %.2f, \"calls\": %ld}\n",
	       (double)(t1 - t0) / (2.0 * (double)iterations), 2 * iterations);
	return 0;
}

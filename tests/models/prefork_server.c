/*
 * prefork_server.c - a pre-forking WebSocket echo server, the model of
 * Apache's prefork or a gunicorn sync worker: the parent listens, forks
 * N workers that all accept on the shared listening socket, and waits.
 *
 *   prefork-server [--workers N] [--per-worker K] [--timeout S]
 *
 * Listens on 127.0.0.1 (the kernel picks the port), prints "PORT <n>",
 * forks N workers (default 3). Each worker accepts a connection, serves
 * it to its end (echo: texts and binaries back whole, pings answered by
 * pongs, a close answered with the same close), and after K connections
 * (default 2) exits with exit(), so at-exit work runs. A busy worker is
 * not in accept(): connections held open at once go to different
 * workers. The parent waits for every worker and prints "workers N,
 * connections N*K, every worker exited 0" (or says which did not).
 *
 * Exit status: 0 when every worker served its K connections well, 1
 * otherwise, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "ws_peer.h"

static const char prog[] = "prefork-server";

/* A worker: K connections from the shared socket, one at a time. */
static int worker(int listen_fd, long per_worker, double deadline)
{
	int failed = 0;
	for (long served = 0; served < per_worker; served++) {
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0 && errno == EINTR) {
			served--;
			continue;
		}
		if (fd < 0) {
			fprintf(stderr, "%s: accept: %s\n", prog,
				strerror(errno));
			return 1;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		failed |= peer_echo_session(fd, PEER_IO_READ, deadline, prog) != 0;
		close(fd);
	}
	return failed;
}

static long number(const char *s, long min, long max)
{
	long v;
	if (peer_parse_long(s, min, max, &v) != 0) {
		fprintf(stderr,
			"usage: %s [--workers N] [--per-worker K] "
			"[--timeout S]\n",
			prog);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long workers = 3, per_worker = 2, timeout = 30;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			number("", 0, 0);
		if (strcmp(argv[i], "--workers") == 0)
			workers = number(argv[++i], 1, 64);
		else if (strcmp(argv[i], "--per-worker") == 0)
			per_worker = number(argv[++i], 1, 100000);
		else if (strcmp(argv[i], "--timeout") == 0)
			timeout = number(argv[++i], 1, 3600);
		else
			number("", 0, 0);
	}
	signal(SIGPIPE, SIG_IGN);

	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (void *)&sin, sizeof(sin)) != 0 ||
	    listen(listen_fd, 64) != 0 ||
	    getsockname(listen_fd, (void *)&sin, &len) != 0) {
		fprintf(stderr, "%s: listen: %s\n", prog, strerror(errno));
		return 1;
	}
	printf("PORT %d\n", ntohs(sin.sin_port));
	fflush(stdout);

	double deadline = peer_now() + (double)timeout;
	pid_t pids[64];
	for (long w = 0; w < workers; w++) {
		pids[w] = fork();
		if (pids[w] < 0) {
			fprintf(stderr, "%s: fork: %s\n", prog,
				strerror(errno));
			return 1;
		}
		if (pids[w] == 0) {
			/* The worker must not outlive a stuck test. */
			alarm((unsigned)timeout + 5);
			exit(worker(listen_fd, per_worker, deadline));
		}
	}
	close(listen_fd);

	int bad = 0;
	for (long w = 0; w < workers; w++) {
		int status;
		while (waitpid(pids[w], &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			printf("worker %ld failed: status %d\n", w, status);
			bad = 1;
		}
	}
	if (!bad)
		printf("workers %ld, connections %ld, every worker exited 0\n",
		       workers, workers * per_worker);
	return bad;
}

/*
 * daemon_host.c - a classic Unix daemon serving WebSockets: fork, setsid,
 * fork again, close every descriptor, /dev/null on 0-2, chdir /, then
 * serve. The model of servers that daemonize themselves.
 *
 *   daemon-host --close close_range|closefrom|loop --ready FILE
 *               --status FILE [--connections K] [--timeout S]
 *
 * The first process prints "daemon started" once the daemon is ready and
 * exits 0 (after the intermediate child, which exits at once with
 * _exit). The daemon closes every descriptor with the chosen call
 * (close_range(0, ~0U, 0), closefrom(0), or close() on every number below
 * the descriptor limit), listens on 127.0.0.1 (the kernel picks the
 * port), writes "<pid> <port>" to the ready FILE (written aside and
 * renamed, so a reader never sees half of it), serves K connections
 * (default 2) one at a time (echo, as ws-echo-server), writes "served K,
 * failed F" to the status FILE the same way and exits with exit(), so
 * at-exit work runs. It gives up after S seconds (default 30).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ws_peer.h"

static const char prog[] = "daemon-host";

enum close_how { CLOSE_RANGE, CLOSE_FROM, CLOSE_LOOP };

/* Writes text to path through path.tmp and a rename. */
static void write_file(const char *path, const char *text)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		_exit(1);
	size_t n = strlen(text);
	if (write(fd, text, n) != (ssize_t)n || close(fd) != 0 ||
	    rename(tmp, path) != 0)
		_exit(1);
}

static void close_everything(enum close_how how)
{
	switch (how) {
	case CLOSE_RANGE:
		if (close_range(0, ~0u, 0) != 0)
			_exit(1);
		break;
	case CLOSE_FROM:
		closefrom(0);
		break;
	case CLOSE_LOOP: {
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		for (rlim_t fd = 0; fd < rl.rlim_cur; fd++)
			close((int)fd);
		break;
	}
	}
	int null = open("/dev/null", O_RDWR);
	if (null != 0 || dup2(0, 1) != 1 || dup2(0, 2) != 2)
		_exit(1);
}

/* The daemon itself; never returns. */
static void daemon_main(enum close_how how, const char *ready,
			const char *status, long connections, long timeout)
{
	close_everything(how);
	if (chdir("/") != 0)
		_exit(1);
	umask(0);
	alarm((unsigned)timeout + 5); /* never outlive a stuck test */

	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (void *)&sin, sizeof(sin)) != 0 ||
	    listen(listen_fd, 16) != 0 ||
	    getsockname(listen_fd, (void *)&sin, &len) != 0)
		_exit(1);
	char line[64];
	snprintf(line, sizeof(line), "%d %d\n", (int)getpid(),
		 ntohs(sin.sin_port));
	write_file(ready, line);

	double deadline = peer_now() + (double)timeout;
	long failed = 0;
	for (long i = 0; i < connections; i++) {
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR) {
				i--;
				continue;
			}
			failed++;
			break;
		}
		failed += peer_echo_session(fd, PEER_IO_RECV, deadline, prog) != 0;
		close(fd);
	}
	close(listen_fd);
	snprintf(line, sizeof(line), "served %ld, failed %ld\n", connections,
		 failed);
	write_file(status, line);
	exit(0);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s --close close_range|closefrom|loop --ready FILE "
		"--status FILE [--connections K] [--timeout S]\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	enum close_how how = CLOSE_RANGE;
	const char *ready = NULL, *status = NULL;
	long connections = 2, timeout = 30;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		i++;
		if (strcmp(a, "--close") == 0) {
			if (strcmp(v, "close_range") == 0)
				how = CLOSE_RANGE;
			else if (strcmp(v, "closefrom") == 0)
				how = CLOSE_FROM;
			else if (strcmp(v, "loop") == 0)
				how = CLOSE_LOOP;
			else
				usage();
		} else if (strcmp(a, "--ready") == 0) {
			ready = v;
		} else if (strcmp(a, "--status") == 0) {
			status = v;
		} else if (strcmp(a, "--connections") == 0) {
			connections = strtol(v, NULL, 10);
		} else if (strcmp(a, "--timeout") == 0) {
			timeout = strtol(v, NULL, 10);
		} else {
			usage();
		}
	}
	if (!ready || !status || connections < 1 || timeout < 1)
		usage();
	signal(SIGPIPE, SIG_IGN);

	fflush(stdout);
	pid_t child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		if (setsid() < 0)
			_exit(1);
		pid_t grandchild = fork();
		if (grandchild < 0)
			_exit(1);
		if (grandchild == 0)
			daemon_main(how, ready, status, connections, timeout);
		_exit(0);
	}
	int st;
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 1;
	/* Ready when the daemon has written its file. */
	double until = peer_now() + (double)timeout;
	while (access(ready, F_OK) != 0) {
		if (peer_now() > until) {
			fprintf(stderr, "%s: the daemon never got ready\n",
				prog);
			return 1;
		}
		usleep(10000);
	}
	printf("daemon started\n");
	return 0;
}

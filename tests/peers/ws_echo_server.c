/*
 * ws_echo_server.c - the project's own WebSocket echo server, for running
 * under the shim.
 *
 *   ws-echo-server [--port P] [--io read|recv|readv|recvmsg|recvfrom]
 *                  [--threads | --fork] [--connections N] [--timeout S]
 *                  [--spawn vfork|posix_spawn] [--exec-child]
 *
 * Listens on 127.0.0.1 (port 0: the kernel picks), prints "PORT <n>" on
 * stdout once listening, then serves WebSocket connections: every text or
 * binary message is echoed back whole (one frame, whatever its
 * fragmentation), every ping answered by a pong with its payload, a close
 * answered by a close with the same code and reason, after which the
 * server closes the socket.
 *
 *   --io       the calls bytes move with: read/write, recv/send,
 *              readv/writev, recvmsg/sendmsg, recvfrom/sendto (default
 *              read);
 *   --threads  a thread per connection;
 *   --fork     a process per connection: the parent accepts, the child
 *              serves and exits (with exit(), so at-exit work runs);
 *   --connections N  exit after N connections have ended (default: serve
 *              until the timeout);
 *   --timeout S  give up S seconds after start (default 30);
 *   --spawn    after echoing each text or binary message, run /bin/true
 *              and wait for it, started with vfork (the child closes the
 *              connection's fd, opens /dev/null onto stdin with open and
 *              dup2, then execs) or with posix_spawn (the same as file
 *              actions); a child that does not exit 0 fails the
 *              connection;
 *   --exec-child  once listening, fork and exec a second ws-echo-server
 *              (this program again) that serves one connection with the
 *              same --io on a port of its own, and prints its own "PORT
 *              <n>" line after ours; at the end wait for it: its exit
 *              status counts as a connection's.
 *
 * Exit status: 0 when every connection ended well (a close handshake, or
 * the client going away between frames); 1 when one failed (protocol
 * error, said on stderr); 2 on usage errors; 3 when the timeout came
 * before --connections were served.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "ws_peer.h"

static const char prog[] = "ws-echo-server";

enum server_mode { MODE_SEQUENTIAL, MODE_THREADS, MODE_FORK };
enum spawn_mode { SPAWN_NONE, SPAWN_VFORK, SPAWN_POSIX_SPAWN };

struct options {
	int port;
	enum peer_io io;
	enum server_mode mode;
	long connections; /* 0: unlimited */
	double timeout;
	enum spawn_mode spawn;
	bool exec_child;
	const char *io_name;
};

static double deadline;
static enum spawn_mode spawn_mode;

extern char **environ;

/* --spawn: runs /bin/true while connection fd is open, as the option
 * says. Returns 0 when it ran and exited 0. */
static int spawn_true(int fd)
{
	char *const argv[] = {(char *)"true", NULL};
	pid_t pid;
	int status;

	if (spawn_mode == SPAWN_VFORK) {
		pid = vfork();
		if (pid == 0) {
			/* Only what a vfork child may do: close, open, dup2
			 * and exec; all of them hooked under the shim. */
			close(fd);
			int null = open("/dev/null", O_RDONLY);
			if (null < 0 || dup2(null, 0) < 0)
				_exit(126);
			execve("/bin/true", argv, environ);
			_exit(127);
		}
	} else {
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_addclose(&fa, fd);
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
						 0);
		int err = posix_spawn(&pid, "/bin/true", &fa, NULL, argv,
				      environ);
		posix_spawn_file_actions_destroy(&fa);
		if (err != 0) {
			errno = err;
			pid = -1;
		}
	}
	if (pid < 0) {
		fprintf(stderr, "%s: spawning /bin/true: %s\n", prog,
			strerror(errno));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s: /bin/true did not exit 0\n", prog);
		return -1;
	}
	return 0;
}

/* Serves one connection until its close handshake or end of file.
 * Returns 0 when it ended well, -1 otherwise. The fd is not closed. */
static int serve(int fd, enum peer_io io)
{
	struct peer_conn c;
	struct peer_msg m;
	int rc = -1;

	peer_conn_init(&c, fd, io, deadline, prog);
	if (peer_server_handshake(&c) != 0)
		goto free_conn;
	for (;;) {
		int r = peer_read_message(&c, &m);
		if (r == 0) { /* the client went away without a close */
			rc = 0;
			break;
		}
		if (r < 0)
			break;
		if (m.opcode == PEER_OP_PONG)
			continue;
		if (m.opcode == PEER_OP_CLOSE) {
			/* RFC 6455 5.5.1: answer with the code received. */
			if (m.len == 1) {
				fprintf(stderr,
					"%s: close payload of one "
					"byte\n",
					prog);
				break;
			}
			rc = peer_send_frame(&c, true, PEER_OP_CLOSE, m.data,
					     m.len);
			break;
		}
		uint8_t opcode =
		    m.opcode == PEER_OP_PING ? PEER_OP_PONG : m.opcode;
		if (peer_send_frame(&c, true, opcode, m.data, m.len) != 0)
			break;
		if (spawn_mode != SPAWN_NONE && opcode != PEER_OP_PONG &&
		    spawn_true(fd) != 0)
			break;
	}
free_conn:
	peer_conn_free(&c);
	return rc;
}

/* ---- threads ------------------------------------------------------------ */

static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t threads_done = PTHREAD_COND_INITIALIZER;
static unsigned threads_running; /* guarded by threads_lock */
static unsigned threads_failed;	 /* guarded by threads_lock */

struct thread_arg {
	int fd;
	enum peer_io io;
};

static void *serve_thread(void *p)
{
	struct thread_arg *arg = p;
	int rc = serve(arg->fd, arg->io);
	close(arg->fd);
	free(arg);
	pthread_mutex_lock(&threads_lock);
	threads_running--;
	if (rc != 0)
		threads_failed++;
	pthread_cond_signal(&threads_done);
	pthread_mutex_unlock(&threads_lock);
	return NULL;
}

/* Starts a detached thread for fd. Returns 0, or -1 (fd closed). */
static int start_thread(int fd, enum peer_io io)
{
	pthread_t t;
	pthread_attr_t attr;
	struct thread_arg *arg = malloc(sizeof(*arg));
	if (!arg) {
		close(fd);
		return -1;
	}
	*arg = (struct thread_arg){.fd = fd, .io = io};
	pthread_mutex_lock(&threads_lock);
	threads_running++;
	pthread_mutex_unlock(&threads_lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&t, &attr, serve_thread, arg);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		fprintf(stderr, "%s: pthread_create: %s\n", prog,
			strerror(err));
		pthread_mutex_lock(&threads_lock);
		threads_running--;
		pthread_mutex_unlock(&threads_lock);
		close(fd);
		free(arg);
		return -1;
	}
	return 0;
}

/* Waits for the running threads until the deadline. Returns 0 when all
 * ended well. */
static int wait_threads(void)
{
	int rc = 0;
	pthread_mutex_lock(&threads_lock);
	while (threads_running > 0) {
		double left = deadline - peer_now();
		if (left <= 0) {
			fprintf(stderr,
				"%s: timed out with %u connections "
				"open\n",
				prog, threads_running);
			rc = -1;
			break;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&threads_done, &threads_lock, &ts);
	}
	if (threads_failed > 0)
		rc = -1;
	pthread_mutex_unlock(&threads_lock);
	return rc;
}

/* ---- processes ---------------------------------------------------------- */

static pid_t *children;
static size_t nchildren, children_cap;

/* Serves fd in a child process. Returns 0, or -1. */
static int start_child(int listen_fd, int fd, enum peer_io io)
{
	if (nchildren == children_cap) {
		size_t cap = children_cap ? children_cap * 2 : 16;
		pid_t *p = realloc(children, cap * sizeof(*p));
		if (!p) {
			close(fd);
			return -1;
		}
		children = p;
		children_cap = cap;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
		close(fd);
		return -1;
	}
	if (pid == 0) {
		close(listen_fd);
		int rc = serve(fd, io);
		close(fd);
		free(children);
		exit(rc == 0 ? 0 : 1); /* exit(), not _exit(): at-exit runs */
	}
	children[nchildren++] = pid;
	close(fd);
	return 0;
}

/* Reaps every child, killing those still there at the deadline. Returns
 * 0 when all exited with status 0. */
static int wait_children(void)
{
	int rc = 0;
	for (size_t i = 0; i < nchildren; i++) {
		int status;
		pid_t got;
		while ((got = waitpid(children[i], &status, WNOHANG)) == 0 &&
		       peer_now() < deadline)
			usleep(5000);
		if (got == 0) {
			fprintf(stderr, "%s: child %d timed out\n", prog,
				(int)children[i]);
			kill(children[i], SIGKILL);
			waitpid(children[i], &status, 0);
			rc = -1;
		} else if (got < 0 || !WIFEXITED(status) ||
			   WEXITSTATUS(status) != 0) {
			rc = -1;
		}
	}
	free(children);
	children = NULL;
	return rc;
}

/* ---- main --------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: %s [--port P] [--io read|recv|readv|recvmsg|recvfrom] "
		"[--threads|--fork] [--connections N] [--timeout S] "
		"[--spawn vfork|posix_spawn] [--exec-child]\n",
		prog);
	exit(2);
}

static long number(const char *s, long min, long max)
{
	long v;
	if (peer_parse_long(s, min, max, &v) != 0)
		usage();
	return v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	*o = (struct options){.io = PEER_IO_READ, .timeout = 30,
			      .io_name = "read"};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_value = i + 1 < argc;
		if (strcmp(a, "--threads") == 0) {
			o->mode = MODE_THREADS;
		} else if (strcmp(a, "--fork") == 0) {
			o->mode = MODE_FORK;
		} else if (strcmp(a, "--port") == 0 && has_value) {
			o->port = (int)number(argv[++i], 0, 65535);
		} else if (strcmp(a, "--connections") == 0 && has_value) {
			o->connections = number(argv[++i], 0, 1000000);
		} else if (strcmp(a, "--timeout") == 0 && has_value) {
			o->timeout = (double)number(argv[++i], 1, 86400);
		} else if (strcmp(a, "--io") == 0 && has_value) {
			o->io_name = argv[++i];
			if (peer_io_from_name(o->io_name, &o->io) != 0)
				usage();
		} else if (strcmp(a, "--spawn") == 0 && has_value) {
			i++;
			if (strcmp(argv[i], "vfork") == 0)
				o->spawn = SPAWN_VFORK;
			else if (strcmp(argv[i], "posix_spawn") == 0)
				o->spawn = SPAWN_POSIX_SPAWN;
			else
				usage();
		} else if (strcmp(a, "--exec-child") == 0) {
			o->exec_child = true;
		} else {
			usage();
		}
	}
}

static int listen_on(int port)
{
	struct sockaddr_in sin = {
	    .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sin);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 64) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		fprintf(stderr, "%s: listen on 127.0.0.1:%d: %s\n", prog, port,
			strerror(errno));
		exit(1);
	}
	printf("PORT %d\n", ntohs(sin.sin_port));
	fflush(stdout);
	return fd;
}

/* Accepts one connection before the deadline. Returns its fd, or -1. */
static int accept_one(int listen_fd)
{
	for (;;) {
		double left = deadline - peer_now();
		struct pollfd pfd = {.fd = listen_fd, .events = POLLIN};
		int ready =
		    left > 0 ? poll(&pfd, 1, (int)(left * 1000) + 1) : 0;
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0)
			return -1;
		int fd = accept(listen_fd, NULL, NULL);
		if (fd >= 0) {
			/* Header and payload may go in separate writes: no
			 * Nagle delay. */
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
			return fd;
		}
		if (errno != EINTR && errno != ECONNABORTED) {
			fprintf(stderr, "%s: accept: %s\n", prog,
				strerror(errno));
			return -1;
		}
	}
}

/* --exec-child: a second server, this program run again. Returns its
 * pid, or -1. */
static pid_t exec_child(const struct options *o)
{
	char timeout[32];
	snprintf(timeout, sizeof(timeout), "%d", (int)o->timeout);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		/* The listening socket is close-on-exec: not the child's. */
		execl("/proc/self/exe", prog, "--connections", "1", "--timeout",
		      timeout, "--io", o->io_name, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
	return pid;
}

int main(int argc, char **argv)
{
	struct options o;
	int failed = 0, timed_out = 0;
	pid_t child = -1;

	parse_options(argc, argv, &o);
	spawn_mode = o.spawn;
	signal(SIGPIPE, SIG_IGN);
	deadline = peer_now() + o.timeout;
	int listen_fd = listen_on(o.port);
	if (o.exec_child && (child = exec_child(&o)) < 0)
		failed = 1;

	for (long served = 0; o.connections == 0 || served < o.connections;
	     served++) {
		int fd = accept_one(listen_fd);
		if (fd < 0) {
			timed_out = o.connections != 0;
			if (timed_out)
				fprintf(stderr,
					"%s: timed out after %ld of "
					"%ld connections\n",
					prog, served, o.connections);
			break;
		}
		switch (o.mode) {
		case MODE_SEQUENTIAL:
			failed |= serve(fd, o.io) != 0;
			close(fd);
			break;
		case MODE_THREADS:
			failed |= start_thread(fd, o.io) != 0;
			break;
		case MODE_FORK:
			failed |= start_child(listen_fd, fd, o.io) != 0;
			break;
		}
	}
	if (o.mode == MODE_THREADS)
		failed |= wait_threads() != 0;
	else if (o.mode == MODE_FORK)
		failed |= wait_children() != 0;
	close(listen_fd);
	if (child > 0) {
		int status;
		while (waitpid(child, &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "%s: the exec'd child failed\n", prog);
			failed = 1;
		}
	}
	return timed_out ? 3 : failed ? 1 : 0;
}

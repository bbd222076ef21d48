/*
 * signal_server.c - a WebSocket server whose signal handler writes to
 * sockets: the model of servers that send heartbeats or wake their event
 * loop from a timer signal (the "self-pipe trick").
 *
 *   signal-server [--connections N] [--ticks K] [--interval-us U]
 *                 [--timeout S]
 *
 * Listens on 127.0.0.1 (the kernel picks the port), prints "PORT <n>",
 * serves N connections (default 9), a thread each. A connection whose
 * first message is the text "ticks" becomes the ticker: an interval timer
 * (setitimer, every U microseconds, default 100) raises SIGALRM, and the
 * handler, on whatever thread the signal lands, writes one whole text
 * frame "tick NNNNN" to the ticker's socket and one byte to a socketpair,
 * K times (default 5000; NNNNN counts from 0, each number once, in the
 * order the handlers claimed them, which two handlers overlapping on two
 * threads may write the other way round), then stops the timer. A thread drains the
 * socketpair. Every other connection is an echo (texts and binaries back,
 * pings answered, a close answered with the same close), busy in read
 * and write while the signals land. The ticker's connection ends with
 * the client's close, answered.
 *
 * Prints "ticks K, socketpair bytes K, connections N, failed F" at the
 * end. Exit status 0 when all went well, 1 otherwise, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "ws_peer.h"

static const char prog[] = "signal-server";

static long ticks_wanted = 5000;
static long interval_us = 100;
static double deadline;

/* SIGALRM is blocked only on the thread whose handler runs: handlers on
 * two threads may overlap. Each claims its tick number atomically. */
static atomic_long ticks_claimed, ticks_done;
static atomic_int tick_fd = -1;
static int pair[2];
static atomic_int failed;

static void stop_timer(void)
{
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
}

/* Async-signal-safe: no allocation, no stdio, errno kept. */
static void on_alarm(int sig)
{
	(void)sig;
	int saved = errno;
	int fd = atomic_load(&tick_fd);
	if (fd < 0)
		goto out;
	long n = atomic_fetch_add(&ticks_claimed, 1);
	if (n >= ticks_wanted)
		goto out;
	long last = n;
	/* RFC 6455 5.2: FIN + text, unmasked (server), 10-byte payload. */
	char frame[12] = {(char)0x81, 10, 't', 'i', 'c', 'k', ' '};
	for (int i = 11; i >= 7; i--, n /= 10)
		frame[i] = (char)('0' + n % 10);
	if (write(fd, frame, sizeof(frame)) != (ssize_t)sizeof(frame) ||
	    write(pair[1], "t", 1) != 1)
		atomic_store(&failed, 1);
	atomic_fetch_add(&ticks_done, 1);
	if (last == ticks_wanted - 1)
		stop_timer();
out:
	errno = saved;
}

static long drained;

/* Reads the socketpair until every tick's byte has come. SIGALRM is
 * blocked here: a handler on this thread, writing to the socketpair only
 * this thread drains, would wait forever once the socketpair is full
 * (a few hundred one-byte writes on a busy machine). */
static void *drain(void *arg)
{
	(void)arg;
	char buf[256];
	sigset_t alarm;
	sigemptyset(&alarm);
	sigaddset(&alarm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alarm, NULL);
	while (drained < ticks_wanted && peer_now() < deadline) {
		struct pollfd p = {.fd = pair[0], .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = read(pair[0], buf, sizeof(buf));
		if (n > 0)
			drained += n;
	}
	return NULL;
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct peer_conn c;
	struct peer_msg m;
	bool ok = false, first = true;

	peer_conn_init(&c, fd, PEER_IO_READ, deadline, prog);
	if (peer_server_handshake(&c) != 0)
		goto out;
	for (;;) {
		int r = peer_read_message(&c, &m);
		if (r <= 0) {
			ok = r == 0;
			break;
		}
		if (first && m.opcode == PEER_OP_TEXT && m.len == 5 &&
		    memcmp(m.data, "ticks", 5) == 0) {
			atomic_store(&tick_fd, fd);
			struct itimerval every = {{0, interval_us},
						  {0, interval_us}};
			setitimer(ITIMER_REAL, &every, NULL);
			first = false;
			continue;
		}
		first = false;
		r = peer_echo_message(&c, &m);
		if (r != 0) {
			ok = r > 0;
			break;
		}
	}
out:
	peer_conn_free(&c);
	/* The handler must not write to a number the fd leaves behind. */
	int mine = fd;
	atomic_compare_exchange_strong(&tick_fd, &mine, -1);
	close(fd);
	if (!ok)
		atomic_store(&failed, 1);
	return NULL;
}

static long number(const char *s, long min, long max)
{
	long v;
	if (peer_parse_long(s, min, max, &v) != 0) {
		fprintf(stderr,
			"usage: %s [--connections N] [--ticks K] "
			"[--interval-us U] [--timeout S]\n",
			prog);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long connections = 9, timeout = 30;
	/* Options come in pairs: name, value. */
	for (int i = 1; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : "";
		if (strcmp(argv[i], "--connections") == 0)
			connections = number(v, 1, 1000);
		else if (strcmp(argv[i], "--ticks") == 0)
			ticks_wanted = number(v, 1, 99999);
		else if (strcmp(argv[i], "--interval-us") == 0)
			interval_us = number(v, 1, 999999);
		else if (strcmp(argv[i], "--timeout") == 0)
			timeout = number(v, 1, 3600);
		else
			number("", 0, 0);
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction act = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
	sigemptyset(&act.sa_mask);
	sigaction(SIGALRM, &act, NULL);
	deadline = peer_now() + (double)timeout;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
		return 1;

	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (void *)&sin, sizeof(sin)) != 0 ||
	    listen(listen_fd, 64) != 0 ||
	    getsockname(listen_fd, (void *)&sin, &len) != 0)
		return 1;
	printf("PORT %d\n", ntohs(sin.sin_port));
	fflush(stdout);

	pthread_t drainer, threads[1000];
	pthread_create(&drainer, NULL, drain, NULL);
	long started = 0;
	while (started < connections) {
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0)
			break;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&threads[started], NULL, serve,
				   (void *)(intptr_t)fd) != 0) {
			close(fd);
			break;
		}
		started++;
	}
	for (long i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_join(drainer, NULL);
	stop_timer();
	close(listen_fd);
	int bad = atomic_load(&failed) || started != connections ||
		  ticks_done != ticks_wanted || drained != ticks_wanted;
	printf("ticks %ld, socketpair bytes %ld, connections %ld, failed %d\n",
	       atomic_load(&ticks_done), drained, started, bad);
	return bad;
}

/*
 * signal_frames_client.c - a WebSocket client whose signal handler writes
 * frames while the main thread allocates: the host that deadlocks when a
 * preloaded library records inside a handler it does not know is one
 * (malloc's lock, held by the interrupted thread, taken again).
 *
 *   signal-frames-client --install FN [--ticks K] [--interval-us U]
 *                        [--timeout S] PORT
 *
 * Connects to 127.0.0.1:PORT (an echo server), opens a WebSocket on
 * "/ticks", then installs the SIGWINCH handler with FN: sigaction,
 * signal, bsd_signal, ssignal, sigset, sysv_signal or __sysv_signal (the
 * one-shot SysV kinds the handler installs again each time, as SysV code
 * does; SIGWINCH is ignored by default, so a signal that comes before
 * that is lost, not fatal). A thread of its own sends SIGWINCH to the
 * main thread every U microseconds (default 100) with pthread_kill (a
 * POSIX timer's signal, once it came while a SysV handler's reset left
 * it ignored, would not come again). The handler writes one whole masked
 * text frame "tick NNNNN" with write(), K times (default 5000; NNNNN
 * counts from 0, each number once; the SysV handlers, which do not block
 * the signal, may nest and write two the other way round). Meanwhile the
 * main thread loops over malloc, realloc and free of 1-64 KiB blocks
 * (sizes that go through malloc's locks, not its per-thread cache) and,
 * between rounds, reads the echoes that have come. Once K ticks are
 * written it blocks the signal, stops the sender, reads the rest of the
 * echoes, closes with 1000 "ticks done" and reads the answer.
 *
 * Prints "ticks K, echoes K, close 1000, failed F". Exit status 0 when
 * every tick came back once and the close was answered, 1 otherwise, 2 on
 * usage errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "ws_peer.h"

/* sigset is deprecated in glibc's headers; using it is the point. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* Not declared by glibc's headers but for old X/Open standards. */
typedef void (*handler_fn)(int);
handler_fn bsd_signal(int sig, handler_fn handler);

static const char prog[] = "signal-frames-client";

#define TICK_SIGNAL SIGWINCH
#define MAX_TICKS 99999

static long ticks_wanted = 5000;
static long interval_us = 100;
static pthread_t main_thread;
static atomic_bool stop_sending;
static int conn_fd = -1;
static uint8_t mask_key[4];
/* Set for the SysV kinds: the handler installs itself again with it. */
static handler_fn (*reinstall)(int, handler_fn);

/* The handler runs on the main thread only, but the SysV ones may nest:
 * tick numbers are claimed atomically. */
static atomic_long ticks_claimed, ticks_done;
static atomic_int handler_failed;

/* Async-signal-safe: no allocation, no stdio, errno kept. */
static void on_tick(int sig)
{
	int saved = errno;
	if (reinstall)
		reinstall(sig, on_tick);
	long n = atomic_fetch_add(&ticks_claimed, 1);
	if (n >= ticks_wanted)
		goto out;
	/* RFC 6455 5.2: FIN + text, masked (client), 10-byte payload. */
	uint8_t frame[16] = {0x81, 0x80 | 10};
	uint8_t payload[10] = {'t', 'i', 'c', 'k', ' '};
	for (int i = 9; i >= 5; i--, n /= 10)
		payload[i] = (uint8_t)('0' + n % 10);
	memcpy(frame + 2, mask_key, 4);
	for (int i = 0; i < 10; i++) /* RFC 6455 5.3 */
		frame[6 + i] = payload[i] ^ mask_key[i % 4];
	if (write(conn_fd, frame, sizeof(frame)) != (ssize_t)sizeof(frame))
		atomic_store(&handler_failed, 1);
	atomic_fetch_add(&ticks_done, 1);
out:
	errno = saved;
}

/* Installs on_tick for TICK_SIGNAL with the function named fn. Returns 0,
 * or -1 for a name it does not know or a failed call. */
static int install(const char *fn)
{
	handler_fn got;
	if (strcmp(fn, "sigaction") == 0) {
		struct sigaction act = {.sa_handler = on_tick};
		sigemptyset(&act.sa_mask);
		return sigaction(TICK_SIGNAL, &act, NULL);
	} else if (strcmp(fn, "signal") == 0) {
		got = signal(TICK_SIGNAL, on_tick);
	} else if (strcmp(fn, "bsd_signal") == 0) {
		got = bsd_signal(TICK_SIGNAL, on_tick);
	} else if (strcmp(fn, "ssignal") == 0) {
		got = ssignal(TICK_SIGNAL, on_tick);
	} else if (strcmp(fn, "sigset") == 0) {
		got = sigset(TICK_SIGNAL, on_tick);
	} else if (strcmp(fn, "sysv_signal") == 0) {
		reinstall = sysv_signal;
		got = sysv_signal(TICK_SIGNAL, on_tick);
	} else if (strcmp(fn, "__sysv_signal") == 0) {
		reinstall = __sysv_signal;
		got = __sysv_signal(TICK_SIGNAL, on_tick);
	} else {
		return -1;
	}
	return got == SIG_ERR ? -1 : 0;
}

/* Sends TICK_SIGNAL to the main thread every interval_us until
 * stop_sending; started with the signal blocked, so none lands here. */
static void *send_ticks(void *arg)
{
	(void)arg;
	struct timespec pause = {0, interval_us * 1000};
	while (!atomic_load(&stop_sending)) {
		nanosleep(&pause, NULL);
		pthread_kill(main_thread, TICK_SIGNAL);
	}
	return NULL;
}

/* A round of heap churn: blocks of 1-64 KiB (above the per-thread cache,
 * below mmap's threshold) allocated, grown, shrunk and freed, so that
 * the main thread spends most of its time inside malloc's locks. */
static void churn(void **blocks, size_t nblocks, unsigned *seed)
{
	for (size_t i = 0; i < 64; i++) {
		size_t k = (size_t)rand_r(seed) % nblocks;
		size_t size = 1024 + (size_t)rand_r(seed) % (63 * 1024);
		if (!blocks[k]) {
			blocks[k] = malloc(size);
			if (blocks[k])
				memset(blocks[k], 0x5a, 64);
		} else if (rand_r(seed) % 2) {
			void *p = realloc(blocks[k], size);
			if (p)
				blocks[k] = p;
		} else {
			free(blocks[k]);
			blocks[k] = NULL;
		}
	}
}

/* Reads one echoed message and marks its tick seen. Returns 1 for a
 * tick, 0 for the close's answer, -1 on anything else. */
static int read_echo(struct peer_conn *c, uint8_t *seen, long *echoes,
		     int *close_code)
{
	struct peer_msg m;
	if (peer_read_message(c, &m) <= 0)
		return -1;
	if (m.opcode == PEER_OP_CLOSE) {
		*close_code = m.len >= 2 ? m.data[0] << 8 | m.data[1] : 0;
		return 0;
	}
	long n;
	char digits[6] = {0};
	if (m.opcode != PEER_OP_TEXT || m.len != 10 ||
	    memcmp(m.data, "tick ", 5) != 0)
		return -1;
	memcpy(digits, m.data + 5, 5);
	if (peer_parse_long(digits, 0, ticks_wanted - 1, &n) != 0 || seen[n])
		return -1;
	seen[n] = 1;
	(*echoes)++;
	return 1;
}

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) > 0;
}

static int connect_to(long port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		fprintf(stderr, "%s: connect to 127.0.0.1:%ld: %s\n", prog,
			port, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s --install FN [--ticks K] [--interval-us U] "
		"[--timeout S] PORT\n",
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

int main(int argc, char **argv)
{
	long timeout = 30, port = -1;
	const char *fn = NULL;
	/* Options come in pairs, name and value; the port last. */
	int i = 1;
	for (; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--install") == 0)
			fn = argv[i + 1];
		else if (strcmp(argv[i], "--ticks") == 0)
			ticks_wanted = number(argv[i + 1], 1, MAX_TICKS);
		else if (strcmp(argv[i], "--interval-us") == 0)
			interval_us = number(argv[i + 1], 1, 999999);
		else if (strcmp(argv[i], "--timeout") == 0)
			timeout = number(argv[i + 1], 1, 3600);
		else
			usage();
	}
	if (i + 1 != argc || !fn)
		usage();
	port = number(argv[i], 1, 65535);

	signal(SIGPIPE, SIG_IGN);
	double deadline = peer_now() + (double)timeout;
	conn_fd = connect_to(port);
	if (conn_fd < 0)
		return 1;
	struct peer_conn c;
	peer_conn_init(&c, conn_fd, PEER_IO_READ, deadline, prog);
	c.mask = true;
	char host[32];
	snprintf(host, sizeof(host), "127.0.0.1:%ld", port);
	if (peer_client_handshake(&c, host, "/ticks") != 0)
		return 1;
	peer_random(mask_key, sizeof(mask_key));

	if (install(fn) != 0) {
		fprintf(stderr, "%s: installing with %s failed\n", prog, fn);
		usage();
	}
	sigset_t tick;
	sigemptyset(&tick);
	sigaddset(&tick, TICK_SIGNAL);
	main_thread = pthread_self();
	pthread_t sender;
	sigprocmask(SIG_BLOCK, &tick, NULL);
	int err = pthread_create(&sender, NULL, send_ticks, NULL);
	sigprocmask(SIG_UNBLOCK, &tick, NULL);
	if (err != 0) {
		fprintf(stderr, "%s: thread: %s\n", prog, strerror(err));
		return 1;
	}

	static uint8_t seen[MAX_TICKS];
	static void *blocks[256];
	unsigned seed = 1;
	long echoes = 0;
	int close_code = -1;
	bool bad = false;
	while (atomic_load(&ticks_done) < ticks_wanted && !bad &&
	       peer_now() < deadline) {
		churn(blocks, sizeof(blocks) / sizeof(blocks[0]), &seed);
		while (!bad && readable(conn_fd))
			bad = read_echo(&c, seen, &echoes, &close_code) != 1;
	}

	sigprocmask(SIG_BLOCK, &tick, NULL);
	atomic_store(&stop_sending, true);
	pthread_join(sender, NULL);
	for (size_t k = 0; k < sizeof(blocks) / sizeof(blocks[0]); k++)
		free(blocks[k]);
	long done = atomic_load(&ticks_done);
	while (!bad && echoes < done)
		bad = read_echo(&c, seen, &echoes, &close_code) != 1;
	if (!bad) {
		uint8_t reason[2 + 10] = {1000 >> 8, 1000 & 0xff};
		memcpy(reason + 2, "ticks done", 10);
		bad = peer_send_frame(&c, true, PEER_OP_CLOSE, reason,
				      sizeof(reason)) != 0 ||
		      read_echo(&c, seen, &echoes, &close_code) != 0;
	}
	peer_conn_free(&c);
	close(conn_fd);
	bad = bad || atomic_load(&handler_failed) || done != ticks_wanted ||
	      echoes != ticks_wanted || close_code != 1000;
	printf("ticks %ld, echoes %ld, close %d, failed %d\n", done, echoes,
	       close_code, bad);
	return bad;
}

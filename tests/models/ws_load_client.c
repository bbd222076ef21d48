/*
 * ws_load_client.c - many WebSocket client connections at once from one
 * thread (epoll, non-blocking sockets), for loading a server under the
 * shim. Plain libc; shares no code with wsdbg.
 *
 *   ws-load-client [--connections N] [--messages M] [--size S]
 *                  [--window W] [--path P] [--close-code C] [--pause]
 *                  [--duration D] [--timeout T] PORT
 *
 * Opens N connections to 127.0.0.1:PORT (at most 64 handshakes under way
 * at once, so that a small listen backlog is never overrun), each with
 * "GET P?c=<i>" (P default "/load"; "&c=<i>" when P has a query). When
 * all N are open: with --pause, prints "OPEN N" and waits for a line on
 * stdin. Then each connection sends M text messages of S bytes (masked,
 * RFC 6455 5.3; message j of connection i starts "c<i> m<j> " and is
 * padded with letters), keeping at most W unanswered, and checks every
 * echo, in order, byte for byte. After its M echoes a connection sends a
 * close with code C (default 1000) and reason "load done", expects the
 * same close back and then end of file.
 *
 * --duration D repeats that whole round (N connections, M messages,
 * close) until D seconds have passed (at least one round): connections
 * open and close continuously, for soak tests.
 *
 * Prints on stdout one line per round of --duration runs ("rounds R")
 * and a last line
 *   "connections X, messages sent Y, echoes matched Y, closes matched X"
 * and on stderr how long it took. Exit status: 0 when every echo and
 * close matched, 1 when one did not, 2 on usage errors, 3 when a
 * connection or handshake failed, 4 on timeout (T seconds, default 60).
 */
#define _GNU_SOURCE
#include <errno.h>
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
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "base64.h"
#include "sha1.h"

static const char prog[] = "ws-load-client";

/* Handshakes under way at once. */
#define MAX_CONNECTING 64
/* Largest message size accepted (the frame header must fit 16 bits). */
#define MAX_SIZE 65535

enum conn_state {
	CONN_IDLE,	/* not started in this round */
	CONN_CONNECTING,
	CONN_UPGRADING, /* request sent, reading the 101 */
	CONN_OPEN,
	CONN_CLOSING, /* close sent, awaiting its echo and end of file */
	CONN_DONE,
};

struct conn {
	int fd;
	unsigned index;
	enum conn_state state;
	char accept[BASE64_SIZE(20)];
	unsigned sent, echoed; /* messages */
	bool close_echoed;
	/* Bytes to write: out[out_start, out_len). */
	uint8_t *out;
	size_t out_start, out_len, out_cap;
	/* Bytes read and not consumed: in[0, in_len). */
	uint8_t *in;
	size_t in_len, in_cap;
};

struct options {
	int port;
	unsigned connections, messages, size, window, close_code;
	const char *path;
	bool pause;
	double duration, timeout;
};

static struct options opt = {
    .connections = 1,
    .messages = 10,
    .size = 32,
    .window = 8,
    .close_code = 1000,
    .path = "/load",
    .timeout = 60,
};

static int epfd;
static struct conn *conns;
static unsigned connecting, open_count, done_count;
static unsigned next_idle; /* connections below it were started */
static uint64_t total_sent, total_matched, total_closes, total_conns;
static bool failed;
static uint64_t rng_state;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s [--connections N] [--messages M] [--size S] "
		"[--window W] [--path P] [--close-code C] [--pause] "
		"[--duration D] [--timeout T] PORT\n",
		prog);
	exit(2);
}

static unsigned long number(const char *s, unsigned long min,
			    unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		usage();
	return v;
}

/* Masking keys need not be unpredictable here, only varied: xorshift64. */
static uint32_t next_key(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

static void *grow(void *p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return p;
	size_t n = *cap ? *cap : 4096;
	while (n < need)
		n *= 2;
	void *q = realloc(p, n);
	if (!q) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(3);
	}
	*cap = n;
	return q;
}

/* Message j of connection i: "c<i> m<j> " padded with letters to size. */
static void make_message(unsigned i, unsigned j, uint8_t *out, size_t size)
{
	char head[32];
	int n = snprintf(head, sizeof(head), "c%u m%u ", i, j);
	for (size_t k = 0; k < size; k++)
		out[k] = k < (size_t)n ? (uint8_t)head[k]
				       : (uint8_t)('a' + (i + j + k) % 26);
}

/* Appends one masked frame (FIN set) to c's output. */
static void queue_frame(struct conn *c, uint8_t opcode, const uint8_t *payload,
			size_t len)
{
	c->out = grow(c->out, &c->out_cap, c->out_len + len + 8);
	uint8_t *p = c->out + c->out_len;
	size_t h = 0;
	p[h++] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		p[h++] = (uint8_t)(0x80 | len);
	} else {
		p[h++] = 0x80 | 126;
		p[h++] = (uint8_t)(len >> 8);
		p[h++] = (uint8_t)len;
	}
	uint32_t key = next_key();
	uint8_t k[4] = {(uint8_t)(key >> 24), (uint8_t)(key >> 16),
			(uint8_t)(key >> 8), (uint8_t)key};
	memcpy(p + h, k, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		p[h + i] = payload[i] ^ k[i & 3];
	c->out_len += h + len;
}

static void watch(struct conn *c, int op)
{
	struct epoll_event ev = {
	    .events = EPOLLIN | (c->out_start < c->out_len ||
					 c->state == CONN_CONNECTING
				     ? EPOLLOUT
				     : 0),
	    .data.ptr = c,
	};
	if (epoll_ctl(epfd, op, c->fd, &ev) != 0) {
		fprintf(stderr, "%s: epoll_ctl: %s\n", prog, strerror(errno));
		exit(3);
	}
}

static void fail_conn(struct conn *c, const char *why)
{
	fprintf(stderr, "%s: connection %u: %s\n", prog, c->index, why);
	failed = true;
}

static void finish_conn(struct conn *c)
{
	if (c->state == CONN_OPEN || c->state == CONN_CLOSING)
		open_count--;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = CONN_DONE;
	done_count++;
}

static void start_conn(struct conn *c)
{
	struct sockaddr_in sin = {
	    .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)opt.port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
		exit(3);
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 &&
	    errno != EINPROGRESS) {
		fprintf(stderr, "%s: connect: %s\n", prog, strerror(errno));
		exit(3);
	}
	c->state = CONN_CONNECTING;
	c->sent = c->echoed = 0;
	c->close_echoed = false;
	c->out_start = c->out_len = c->in_len = 0;
	connecting++;
	total_conns++;
	watch(c, EPOLL_CTL_ADD);
}

/* The socket connected: queue the upgrade request. */
static void send_request(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		fprintf(stderr, "%s: connect: %s\n", prog, strerror(err));
		exit(3);
	}
	uint8_t nonce[16];
	char key[BASE64_SIZE(16)], joined[128];
	uint8_t digest[SHA1_DIGEST_SIZE];
	for (int i = 0; i < 16; i += 4) {
		uint32_t r = next_key();
		memcpy(nonce + i, &r, 4);
	}
	base64_encode(nonce, sizeof(nonce), key);
	int n = snprintf(joined, sizeof(joined), "%s%s", key,
			 "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
	sha1(joined, (size_t)n, digest);
	base64_encode(digest, sizeof(digest), c->accept);

	char request[1024];
	n = snprintf(request, sizeof(request),
		     "GET %s%sc=%u HTTP/1.1\r\n"
		     "Host: 127.0.0.1:%d\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n"
		     "User-Agent: wsdbg-load-client\r\n\r\n",
		     opt.path, strchr(opt.path, '?') ? "&" : "?", c->index,
		     opt.port, key);
	c->out = grow(c->out, &c->out_cap, (size_t)n);
	memcpy(c->out, request, (size_t)n);
	c->out_len = (size_t)n;
	c->state = CONN_UPGRADING;
}

/* Queues as many messages as the window allows. */
static void queue_messages(struct conn *c)
{
	static uint8_t payload[MAX_SIZE];
	while (c->sent < opt.messages && c->sent - c->echoed < opt.window) {
		make_message(c->index, c->sent, payload, opt.size);
		queue_frame(c, 0x1, payload, opt.size);
		c->sent++;
		total_sent++;
	}
	if (c->sent == opt.messages && c->echoed == opt.messages &&
	    c->state == CONN_OPEN) {
		uint8_t close_payload[2 + 9] = {(uint8_t)(opt.close_code >> 8),
						(uint8_t)opt.close_code};
		memcpy(close_payload + 2, "load done", 9);
		queue_frame(c, 0x8, close_payload, sizeof(close_payload));
		c->state = CONN_CLOSING;
	}
}

/* Reads the 101 answer; returns bytes of it consumed, 0 for more. */
static size_t parse_answer(struct conn *c)
{
	uint8_t *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
	if (!end)
		return 0;
	size_t head_len = (size_t)(end - c->in) + 4;
	char *head = strndup((char *)c->in, head_len);
	if (!head)
		exit(3);
	char want[64];
	snprintf(want, sizeof(want), "sec-websocket-accept: %s\r\n",
		 c->accept);
	if (strncmp(head, "HTTP/1.1 101", 12) != 0 || !strcasestr(head, want)) {
		fprintf(stderr, "%s: connection %u: upgrade refused: %.*s\n",
			prog, c->index, (int)strcspn(head, "\r\n"), head);
		exit(3);
	}
	free(head);
	connecting--;
	open_count++;
	c->state = CONN_OPEN;
	return head_len;
}

/* Consumes whole frames from c->in at off; checks each against what was
 * sent. Returns the offset after the last whole frame (everything after a
 * bad one). */
static size_t parse_frames(struct conn *c, size_t off)
{
	static uint8_t expect[MAX_SIZE];
	for (;;) {
		size_t left = c->in_len - off, h = 2;
		const uint8_t *p = c->in + off;
		if (left < 2)
			break;
		size_t len = p[1] & 0x7f;
		if (p[1] & 0x80) {
			fail_conn(c, "masked frame from the server");
			return c->in_len;
		}
		if (len == 127) {
			fail_conn(c, "frame too long");
			return c->in_len;
		}
		if (len == 126) {
			if (left < 4)
				break;
			len = (size_t)p[2] << 8 | p[3];
			h = 4;
		}
		if (left < h + len)
			break;
		uint8_t opcode = p[0] & 0x0f;
		const uint8_t *payload = p + h;
		off += h + len;
		if (opcode == 0x1 && (p[0] & 0x80) && c->echoed < c->sent) {
			make_message(c->index, c->echoed, expect, opt.size);
			if (len == opt.size &&
			    memcmp(payload, expect, len) == 0) {
				c->echoed++;
				total_matched++;
				continue;
			}
			fail_conn(c, "echo does not match");
		} else if (opcode == 0x8 && c->state == CONN_CLOSING) {
			uint8_t want[2] = {(uint8_t)(opt.close_code >> 8),
					   (uint8_t)opt.close_code};
			if (len == 11 && memcmp(payload, want, 2) == 0 &&
			    memcmp(payload + 2, "load done", 9) == 0) {
				c->close_echoed = true;
				total_closes++;
				continue;
			}
			fail_conn(c, "close echo does not match");
		} else {
			fail_conn(c, "unexpected frame");
		}
		return c->in_len;
	}
	return off;
}

static void on_readable(struct conn *c)
{
	for (;;) {
		c->in = grow(c->in, &c->in_cap, c->in_len + 65536);
		ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			if (c->state != CONN_CLOSING || !c->close_echoed)
				fail_conn(c, n == 0 ? "end of file too early"
						    : strerror(errno));
			finish_conn(c);
			return;
		}
		c->in_len += (size_t)n;
		size_t used = c->state == CONN_UPGRADING ? parse_answer(c) : 0;
		if (c->state != CONN_UPGRADING)
			used = parse_frames(c, used);
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		if ((size_t)n < 65536)
			break;
	}
}

static void on_writable(struct conn *c)
{
	while (c->out_start < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_start,
				  c->out_len - c->out_start);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			fail_conn(c, strerror(errno));
			finish_conn(c);
			return;
		}
		c->out_start += (size_t)n;
	}
	c->out_start = c->out_len = 0;
}

/* Starts connections not started yet while handshakes are few. */
static void start_waiting(void)
{
	while (next_idle < opt.connections && connecting < MAX_CONNECTING)
		start_conn(&conns[next_idle++]);
}

/* Runs the event loop until pred() holds; false on timeout. */
static bool run_until(bool (*pred)(void), bool sending, double deadline)
{
	struct epoll_event evs[256];
	while (!pred()) {
		int left = (int)((deadline - now()) * 1000);
		if (left <= 0)
			return false;
		int n = epoll_wait(epfd, evs, 256, left);
		if (n < 0 && errno == EINTR)
			continue;
		for (int k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;
			if (c->state == CONN_DONE)
				continue;
			if (c->state == CONN_CONNECTING) {
				send_request(c);
			} else if (evs[k].events & (EPOLLIN | EPOLLHUP |
						    EPOLLERR)) {
				on_readable(c);
			}
			if (c->state == CONN_DONE)
				continue;
			if (sending && c->state == CONN_OPEN)
				queue_messages(c);
			on_writable(c);
			if (c->state != CONN_DONE)
				watch(c, EPOLL_CTL_MOD);
		}
		start_waiting();
	}
	return true;
}

static bool all_open(void)
{
	return open_count == opt.connections;
}

static bool all_done(void)
{
	return done_count == opt.connections;
}

static void parse_options(int argc, char **argv)
{
	int i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *a = argv[i];
		bool v = i + 1 < argc;
		if (strcmp(a, "--pause") == 0)
			opt.pause = true;
		else if (strcmp(a, "--connections") == 0 && v)
			opt.connections = (unsigned)number(argv[++i], 1, 100000);
		else if (strcmp(a, "--messages") == 0 && v)
			opt.messages = (unsigned)number(argv[++i], 0, 100000000);
		else if (strcmp(a, "--size") == 0 && v)
			opt.size = (unsigned)number(argv[++i], 16, MAX_SIZE);
		else if (strcmp(a, "--window") == 0 && v)
			opt.window = (unsigned)number(argv[++i], 1, 100000);
		else if (strcmp(a, "--close-code") == 0 && v)
			opt.close_code = (unsigned)number(argv[++i], 1000, 4999);
		else if (strcmp(a, "--path") == 0 && v)
			opt.path = argv[++i];
		else if (strcmp(a, "--duration") == 0 && v)
			opt.duration = (double)number(argv[++i], 1, 86400);
		else if (strcmp(a, "--timeout") == 0 && v)
			opt.timeout = (double)number(argv[++i], 1, 86400);
		else
			usage();
	}
	if (i + 1 != argc)
		usage();
	opt.port = (int)number(argv[i], 1, 65535);
}

int main(int argc, char **argv)
{
	parse_options(argc, argv);
	if (getrandom(&rng_state, sizeof(rng_state), 0) !=
		(ssize_t)sizeof(rng_state) ||
	    rng_state == 0)
		rng_state = 0x9e3779b97f4a7c15ull;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	conns = calloc(opt.connections, sizeof(*conns));
	if (epfd < 0 || !conns)
		return 3;
	for (unsigned i = 0; i < opt.connections; i++)
		conns[i].index = i;

	double start = now(), deadline = start + opt.timeout;
	unsigned rounds = 0;
	do {
		for (unsigned i = 0; i < opt.connections; i++)
			conns[i].state = CONN_IDLE;
		done_count = next_idle = 0;
		start_waiting();
		if (!run_until(all_open, false, deadline))
			goto timed_out;
		if (opt.pause && rounds == 0) {
			char line[64];
			printf("OPEN %u\n", opt.connections);
			fflush(stdout);
			if (!fgets(line, sizeof(line), stdin))
				return 3;
		}
		for (unsigned i = 0; i < opt.connections; i++) {
			queue_messages(&conns[i]);
			on_writable(&conns[i]);
			if (conns[i].state != CONN_DONE)
				watch(&conns[i], EPOLL_CTL_MOD);
		}
		if (!run_until(all_done, true, deadline))
			goto timed_out;
		rounds++;
	} while (opt.duration > 0 && now() - start < opt.duration && !failed);

	if (opt.duration > 0)
		printf("rounds %u\n", rounds);
	printf("connections %llu, messages sent %llu, echoes matched %llu, "
	       "closes matched %llu\n",
	       (unsigned long long)total_conns, (unsigned long long)total_sent,
	       (unsigned long long)total_matched,
	       (unsigned long long)total_closes);
	fprintf(stderr, "%s: %.2f s\n", prog, now() - start);
	return failed || total_matched != total_sent ||
			       total_closes != total_conns
		   ? 1
		   : 0;

timed_out:
	fprintf(stderr, "%s: timed out: %u open, %u done of %u\n", prog,
		open_count, done_count, opt.connections);
	return 4;
}

/*
 * echo_server.c - wsbench-echo: the benchmark's plain C WebSocket echo
 * server. One thread, one epoll loop, server role, no extensions (an
 * offered permessage-deflate is declined, so compression is off).
 *
 *   wsbench-echo [--port P] [--timeout S]
 *
 * Listens on 127.0.0.1 (port 0: the kernel picks), prints
 * "PORT <port> PID <pid>" on stdout once listening, then echoes: every
 * data frame goes back as one unmasked frame with the same opcode, FIN and
 * payload; a ping is answered with a pong; a close is echoed and the
 * socket closed after it is written. Exits on SIGTERM or SIGINT (status
 * 0) or after --timeout seconds (default 900; status 3).
 *
 * The I/O is what the benchmark's shapes need to see: for each readiness
 * event one read() of up to 256 KiB into a buffer shared by all
 * connections, every complete frame in it answered, then one write() of
 * all the answers. Level-triggered, so bytes left in the socket come back
 * as the next event. A connection holds memory only for a frame split
 * across reads and for answers the socket would not take yet, so 10,000
 * idle connections cost little besides the kernel's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "bench_ws.h"

static const char prog[] = "wsbench-echo";

/* Bytes one read() may bring. */
#define READ_MAX (256u << 10)
/* An upgrade request longer than this is refused. */
#define REQUEST_MAX 16384

struct conn {
	int fd;
	bool open;          /* handshake answered */
	bool closing;       /* close echoed: shut once the answer is out */
	bool want_out;      /* EPOLLOUT armed */
	struct bench_buf in;  /* a partial request or frame */
	struct bench_buf out; /* answers not yet taken by the socket */
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint8_t read_buf[READ_MAX];

static void conn_free(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	bench_buf_free(&c->in);
	bench_buf_free(&c->out);
	free(c);
}

/* Writes what c has pending; arms EPOLLOUT for the rest. False when the
 * connection is finished (error, or closing and all written). */
static bool conn_flush(int ep, struct conn *c)
{
	while (c->out.len > c->out.start) {
		ssize_t n = write(c->fd, c->out.data + c->out.start,
				  c->out.len - c->out.start);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return false;
		bench_buf_consume(&c->out, (size_t)n);
	}
	bool pending = c->out.len > c->out.start;
	if (!pending && c->closing)
		return false;
	if (pending != c->want_out) {
		struct epoll_event ev = {
		    .events = EPOLLIN | (pending ? EPOLLOUT : 0),
		    .data.ptr = c};
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = pending;
	}
	return true;
}

/* Case-insensitive search for header name (with its colon) in the request
 * p[0, n); returns its trimmed value and length, or NULL. */
static const char *header_value(const char *p, size_t n, const char *name,
				size_t *len)
{
	size_t name_len = strlen(name);
	for (const char *line = p; line < p + n;) {
		const char *eol = memmem(line, (size_t)(p + n - line), "\r\n", 2);
		if (!eol)
			break;
		if ((size_t)(eol - line) > name_len &&
		    strncasecmp(line, name, name_len) == 0 &&
		    line[name_len] == ':') {
			const char *v = line + name_len + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			const char *e = eol;
			while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			*len = (size_t)(e - v);
			return v;
		}
		line = eol + 2;
	}
	return NULL;
}

/* Answers the upgrade request in c->in once it is complete. Returns the
 * bytes of c->in it used (0: need more), or -1 to drop the connection. */
static ssize_t conn_handshake(struct conn *c)
{
	const char *req = (const char *)c->in.data + c->in.start;
	size_t n = c->in.len - c->in.start;
	const char *end = memmem(req, n, "\r\n\r\n", 4);
	if (!end)
		return n > REQUEST_MAX ? -1 : 0;
	size_t used = (size_t)(end + 4 - req);
	size_t key_len = 0;
	const char *key = header_value(req, used, "sec-websocket-key", &key_len);
	if (!key || key_len == 0)
		return -1;
	char accept[29];
	bench_accept_key(key, key_len, accept);
	char answer[256];
	int len = snprintf(answer, sizeof(answer),
			   "HTTP/1.1 101 Switching Protocols\r\n"
			   "Upgrade: websocket\r\n"
			   "Connection: Upgrade\r\n"
			   "Sec-WebSocket-Accept: %s\r\n\r\n",
			   accept);
	if (!bench_buf_append(&c->out, answer, (size_t)len))
		return -1;
	c->open = true;
	return (ssize_t)used;
}

/* Copies n payload bytes to out, unmasking with key (RFC 6455 5.3). */
static void unmask_copy(uint8_t *out, const uint8_t *in, size_t n,
			const uint8_t key[4])
{
	uint64_t k;
	uint8_t k8[8];
	size_t i = 0;

	for (int j = 0; j < 8; j++)
		k8[j] = key[j & 3];
	memcpy(&k, k8, 8);
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, in + i, 8);
		w ^= k;
		memcpy(out + i, &w, 8);
	}
	for (; i < n; i++)
		out[i] = in[i] ^ key[i & 3];
}

/* Answers every complete frame in p[0, n); returns the bytes used, or -1
 * to drop the connection (a protocol error or no memory). */
static ssize_t conn_frames(struct conn *c, const uint8_t *p, size_t n)
{
	size_t used = 0;
	while (!c->closing) {
		struct bench_frame f;
		int r = bench_frame_parse(p + used, n - used, &f);
		if (r < 0 || (r > 0 && !f.masked))
			return -1; /* RFC 6455 5.1: clients mask */
		if (r == 0 || n - used - f.header_len < f.len)
			break;
		const uint8_t *payload = p + used + f.header_len;
		uint8_t opcode = f.opcode == BENCH_OP_PING ? BENCH_OP_PONG
							     : f.opcode;
		uint8_t header[BENCH_FRAME_HEADER_MAX];
		size_t hl = bench_frame_header(header, opcode, f.rsv1, f.len,
					       NULL);
		header[0] = (uint8_t)((f.fin ? 0x80 : 0) | (header[0] & 0x7f));
		if (!bench_buf_reserve(&c->out, hl + f.len))
			return -1;
		memcpy(c->out.data + c->out.len, header, hl);
		unmask_copy(c->out.data + c->out.len + hl, payload,
			    (size_t)f.len, f.key);
		c->out.len += hl + f.len;
		used += f.header_len + (size_t)f.len;
		if (f.opcode == BENCH_OP_CLOSE)
			c->closing = true;
	}
	return (ssize_t)used;
}

/* Takes what a read brought: frames straight from the shared buffer when
 * nothing is held, else after what is held. False drops the connection. */
static bool conn_input(struct conn *c, const uint8_t *p, size_t n)
{
	if (c->open && c->in.len == c->in.start) {
		ssize_t used = conn_frames(c, p, n);
		if (used < 0)
			return false;
		return (size_t)used == n ||
		       bench_buf_append(&c->in, p + used, n - (size_t)used);
	}
	if (!bench_buf_append(&c->in, p, n))
		return false;
	if (!c->open) {
		ssize_t used = conn_handshake(c);
		if (used <= 0)
			return used == 0;
		bench_buf_consume(&c->in, (size_t)used);
	}
	ssize_t used = conn_frames(c, c->in.data + c->in.start,
				   c->in.len - c->in.start);
	if (used < 0)
		return false;
	bench_buf_consume(&c->in, (size_t)used);
	if (c->in.len == c->in.start) {
		/* Nothing held: give a large buffer back. */
		if (c->in.cap > 65536)
			bench_buf_free(&c->in);
	}
	return true;
}

static void accept_all(int ep, int listener)
{
	for (;;) {
		int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EMFILE)
				perror("wsbench-echo: accept");
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = calloc(1, sizeof(*c));
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (!c || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: %s [--port P] [--timeout S]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	long port = 0;
	double timeout = 900;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout = strtod(argv[++i], NULL);
		else
			usage();
	}
	if (port < 0 || port > 65535 || !(timeout > 0))
		usage();
	bench_raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_stop};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t addr_len = sizeof(addr);
	if (listener < 0 ||
	    bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(listener, 4096) != 0 ||
	    getsockname(listener, (struct sockaddr *)&addr, &addr_len) != 0) {
		perror("wsbench-echo: listen");
		return 1;
	}
	int ep = epoll_create1(0);
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listener, &lev) != 0) {
		perror("wsbench-echo: epoll");
		return 1;
	}
	printf("PORT %u PID %d\n", ntohs(addr.sin_port), (int)getpid());
	fflush(stdout);

	uint64_t deadline = bench_now_ns() + (uint64_t)(timeout * 1e9);
	struct epoll_event events[256];
	while (!stop_requested) {
		if (bench_now_ns() >= deadline) {
			fprintf(stderr, "%s: timeout\n", prog);
			return 3;
		}
		int n = epoll_wait(ep, events, 256, 1000);
		if (n < 0 && errno != EINTR) {
			perror("wsbench-echo: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;
			if (!c) {
				accept_all(ep, listener);
				continue;
			}
			bool alive = true;
			if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				ssize_t got = read(c->fd, read_buf, READ_MAX);
				if (got > 0)
					alive = conn_input(c, read_buf,
							   (size_t)got);
				else if (got == 0 ||
					 (errno != EAGAIN && errno != EINTR))
					alive = false;
			}
			if (alive)
				alive = conn_flush(ep, c);
			if (!alive)
				conn_free(ep, c);
		}
	}
	return 0;
}

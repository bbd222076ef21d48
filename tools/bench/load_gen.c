/*
 * load_gen.c - wsbench-load: the benchmark's WebSocket load generator.
 *
 *   wsbench-load --port P [--conns N] [--window W] [--size BYTES]
 *                [--binary] [--deflate] [--warmup S] [--duration S]
 *                [--server-pid PID] [--verify] [--path PATH]
 *   wsbench-load --port P --idle N [--hold S]
 *
 * Opens N connections to 127.0.0.1:P (the upgrade handshake checked,
 * Sec-WebSocket-Accept included), then keeps W messages of BYTES bytes in
 * flight on each: every echo that comes back sends one more. Client
 * frames are masked (RFC 6455 5.3) with keys from the kernel's random
 * source; to keep the generator from being the bottleneck the frames are
 * built once, a pool of 64 with different keys, and sent round-robin by
 * writev() without copying. One thread, one epoll loop, one read() per
 * readiness event, all messages a read completes answered by one
 * writev().
 *
 * After --warmup seconds (default 0.5) it measures for --duration seconds
 * (default 2): echoes received, payload bytes, the server's CPU time
 * (clock_getcpuclockid() on --server-pid: user + system of all its
 * threads, in nanoseconds) and each echo's round-trip time (from queueing
 * the message to reading its echo; one clock read per read() and per
 * batch, so an RTT includes the wait in the loop). Then it stops sending
 * and waits (up to 5 s) for every message in flight to come back.
 *
 * --verify compares every echoed payload with what was sent. --deflate
 * offers permessage-deflate (client_no_context_takeover) and sends each
 * message compressed (RSV1 set, the same compressed bytes every time,
 * which no context takeover allows); the echoes are counted, not
 * inflated, so --verify is refused with it.
 *
 * Prints one JSON object on stdout: msgs_per_s, mb_per_s (payload bytes,
 * one way, 10^6 per MB), server_cpu_ns_per_msg, server_cpu_util and
 * load_cpu_util (CPU seconds per second of the server and of this
 * process), rtt_p50_us, rtt_p99_us, and counts. Exit status 0 when every
 * message sent was echoed (and matched, with --verify), 1 otherwise, 2 on
 * usage errors.
 *
 * --idle N opens N connections, prints "READY <N>", and holds them open
 * without traffic until stdin ends or --hold seconds (default 60) pass.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "bench_ws.h"

static const char prog[] = "wsbench-load";

#define POOL_FRAMES 64
#define READ_MAX (256u << 10)
#define IOV_BATCH 64
#define DRAIN_NS 5000000000ull

struct options {
	int port;
	const char *path;
	long conns;
	long window;
	size_t size;
	bool binary;
	bool deflate;
	bool verify;
	double warmup, duration;
	pid_t server_pid;
	long idle;
	double hold;
};

/* The frames sent, built once. */
struct pool {
	uint8_t *frame[POOL_FRAMES];
	size_t frame_len;
	uint8_t *payload; /* what each frame carries, unmasked */
	size_t payload_len;
};

struct conn {
	int fd;
	/* Sending: frames queued but not fully written. */
	long pending;
	unsigned next_frame; /* pool index of the first pending frame */
	size_t partial;      /* bytes of that frame already written */
	bool want_out;
	/* Round-trip times: when each message in flight was queued. */
	uint64_t *queued_at;
	long head, in_flight;
	/* Receiving: the frame being read. */
	uint8_t hdr[BENCH_FRAME_HEADER_MAX];
	size_t hdr_len;
	struct bench_frame f;
	uint64_t payload_left;
	uint64_t msg_off; /* payload bytes of the current message so far */
	bool in_payload;
	uint64_t sent, echoed;
};

/* RTT histogram: 32 sub-buckets per power of two of nanoseconds. */
#define HIST_SUB 32
#define HIST_BUCKETS (64 * HIST_SUB)
static uint64_t hist[HIST_BUCKETS];

static unsigned hist_index(uint64_t ns)
{
	if (ns < HIST_SUB)
		return (unsigned)ns;
	unsigned e = 63u - (unsigned)__builtin_clzll(ns);
	unsigned sub = (unsigned)(ns >> (e - 5)) & (HIST_SUB - 1);
	return (e - 4) * HIST_SUB + sub;
}

/* The low edge of bucket i, in nanoseconds. */
static double hist_value(unsigned i)
{
	if (i < HIST_SUB)
		return i;
	unsigned e = i / HIST_SUB + 4, sub = i % HIST_SUB;
	return ldexp(1.0 + sub / (double)HIST_SUB, (int)e);
}

static double hist_quantile(uint64_t total, double q)
{
	uint64_t want = (uint64_t)ceil(q * (double)total), seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= want && hist[i])
			return hist_value(i);
	}
	return 0;
}

static struct options opt = {
    .path = "/bench",
    .conns = 8,
    .window = 16,
    .size = 128,
    .warmup = 0.5,
    .duration = 2,
    .hold = 60,
};
static struct pool pool;
static bool measuring, stopping;
static uint64_t measured_msgs, verify_failures, protocol_errors;

static void fail(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	exit(1);
}

/* ASCII JSON-like text, cycled to n bytes: what a text benchmark sends. */
static void fill_text(uint8_t *p, size_t n)
{
	static const char sample[] =
	    "{\"type\":\"tick\",\"symbol\":\"ACME\",\"price\":1234.5,"
	    "\"note\":\"the quick brown fox jumps over the lazy dog\"}";
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)sample[i % (sizeof(sample) - 1)];
}

/* Raw DEFLATE of the payload, flushed and without its trailing empty
 * block marker (RFC 7692 7.2.1). */
static uint8_t *deflate_payload(const uint8_t *p, size_t n, size_t *out_len)
{
	z_stream z = {0};
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	size_t cap = deflateBound(&z, (uLong)n) + 16;
	uint8_t *out = malloc(cap);
	if (!out)
		return NULL;
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	int r = deflate(&z, Z_SYNC_FLUSH);
	size_t len = cap - z.avail_out;
	deflateEnd(&z);
	if (r != Z_OK || len < 4) {
		free(out);
		return NULL;
	}
	*out_len = len - 4; /* 00 00 ff ff */
	return out;
}

static void pool_build(void)
{
	pool.payload_len = opt.size;
	pool.payload = malloc(opt.size ? opt.size : 1);
	if (!pool.payload)
		fail("malloc");
	if (opt.binary)
		bench_random(pool.payload, opt.size);
	else
		fill_text(pool.payload, opt.size);
	const uint8_t *body = pool.payload;
	size_t body_len = opt.size;
	uint8_t *compressed = NULL;
	if (opt.deflate) {
		compressed = deflate_payload(pool.payload, opt.size, &body_len);
		if (!compressed) {
			fprintf(stderr, "%s: deflate failed\n", prog);
			exit(1);
		}
		body = compressed;
	}
	uint8_t keys[POOL_FRAMES][4];
	bench_random(keys, sizeof(keys));
	for (int i = 0; i < POOL_FRAMES; i++) {
		uint8_t header[BENCH_FRAME_HEADER_MAX];
		size_t hl = bench_frame_header(
		    header, opt.binary ? BENCH_OP_BINARY : BENCH_OP_TEXT,
		    opt.deflate, body_len, keys[i]);
		pool.frame_len = hl + body_len;
		pool.frame[i] = malloc(pool.frame_len);
		if (!pool.frame[i])
			fail("malloc");
		memcpy(pool.frame[i], header, hl);
		memcpy(pool.frame[i] + hl, body, body_len);
		bench_mask(pool.frame[i] + hl, body_len, keys[i], 0);
	}
	free(compressed);
}

/* Reads the answer to the upgrade up to its blank line; checks the status
 * and the accept key. Bytes after it (none expected) would be frames. */
static bool read_answer(int fd, const char *accept)
{
	char buf[4096];
	size_t n = 0;
	while (n < sizeof(buf) - 1) {
		ssize_t got = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (got <= 0)
			return false;
		n += (size_t)got;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	if (strncmp(buf, "HTTP/1.1 101", 12) != 0 || !strstr(buf, accept))
		return false;
	if (opt.deflate && !strcasestr(buf, "permessage-deflate")) {
		fprintf(stderr, "%s: the server declined permessage-deflate\n",
			prog);
		return false;
	}
	return true;
}

static int open_conn(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		fail("socket");
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_port = htons((uint16_t)opt.port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
		fail("connect");
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	uint8_t raw[16];
	char key[25], accept[29];
	bench_random(raw, sizeof(raw));
	bench_base64_key(raw, key);
	bench_accept_key(key, strlen(key), accept);
	char req[512];
	int len = snprintf(
	    req, sizeof(req),
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n%s\r\n",
	    opt.path, opt.port, key,
	    opt.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
			  "client_no_context_takeover\r\n"
			: "");
	if (write(fd, req, (size_t)len) != len || !read_answer(fd, accept)) {
		fprintf(stderr, "%s: upgrade refused or cut short\n", prog);
		exit(1);
	}
	return fd;
}

static void set_out(int ep, struct conn *c, bool want)
{
	if (want == c->want_out)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0),
				 .data.ptr = c};
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = want;
}

/* Writes pending frames straight from the pool. */
static void conn_send(int ep, struct conn *c)
{
	while (c->pending > 0) {
		struct iovec iov[IOV_BATCH];
		int cnt = 0;
		unsigned idx = c->next_frame;
		for (long i = 0; i < c->pending && cnt < IOV_BATCH; i++) {
			size_t skip = cnt == 0 ? c->partial : 0;
			iov[cnt].iov_base = pool.frame[idx] + skip;
			iov[cnt].iov_len = pool.frame_len - skip;
			cnt++;
			idx = (idx + 1) % POOL_FRAMES;
		}
		ssize_t n = writev(c->fd, iov, cnt);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			fail("writev");
		size_t done = (size_t)n + c->partial;
		long whole = (long)(done / pool.frame_len);
		c->partial = done % pool.frame_len;
		c->pending -= whole;
		c->next_frame = (c->next_frame + (unsigned)whole) % POOL_FRAMES;
	}
	set_out(ep, c, c->pending > 0);
}

static void conn_queue(struct conn *c, uint64_t now)
{
	long slot = (c->head + c->in_flight) % opt.window;
	c->queued_at[slot] = now;
	c->in_flight++;
	c->pending++;
	c->sent++;
}

/* A whole echoed message came back on c. */
static void conn_echoed(struct conn *c, uint64_t now)
{
	if (c->in_flight == 0) {
		protocol_errors++; /* an echo of nothing */
		return;
	}
	uint64_t rtt = now - c->queued_at[c->head];
	c->head = (c->head + 1) % opt.window;
	c->in_flight--;
	c->echoed++;
	if (measuring) {
		measured_msgs++;
		hist[hist_index(rtt)]++;
	}
	if (!stopping)
		conn_queue(c, now);
}

/* Parses what one read brought. */
static void conn_parse(struct conn *c, const uint8_t *p, size_t n,
		       uint64_t now)
{
	size_t pos = 0;
	while (pos < n) {
		if (!c->in_payload) {
			int r;
			if (c->hdr_len == 0 &&
			    (r = bench_frame_parse(p + pos, n - pos, &c->f)) !=
				0) {
				if (r < 0) {
					protocol_errors++;
					return;
				}
				pos += c->f.header_len;
			} else {
				/* A header split across reads: byte by byte. */
				c->hdr[c->hdr_len++] = p[pos++];
				r = bench_frame_parse(c->hdr, c->hdr_len, &c->f);
				if (r < 0) {
					protocol_errors++;
					return;
				}
				if (r == 0)
					continue;
				c->hdr_len = 0;
			}
			if (c->f.masked) {
				protocol_errors++; /* RFC 6455 5.1 */
				return;
			}
			c->in_payload = true;
			c->payload_left = c->f.len;
		}
		size_t take = c->payload_left < n - pos ? (size_t)c->payload_left
							: n - pos;
		bool data = c->f.opcode == BENCH_OP_TEXT ||
			    c->f.opcode == BENCH_OP_BINARY ||
			    c->f.opcode == BENCH_OP_CONT;
		if (opt.verify && data && take > 0 &&
		    (c->msg_off + take > pool.payload_len ||
		     memcmp(p + pos, pool.payload + c->msg_off, take) != 0))
			verify_failures++;
		if (data)
			c->msg_off += take;
		pos += take;
		c->payload_left -= take;
		if (c->payload_left > 0)
			break;
		c->in_payload = false;
		if (!data) {
			if (c->f.opcode == BENCH_OP_CLOSE)
				protocol_errors++; /* we never close first */
			continue;
		}
		if (c->f.fin) {
			if (opt.verify && !opt.deflate &&
			    c->msg_off != pool.payload_len)
				verify_failures++;
			c->msg_off = 0;
			conn_echoed(c, now);
		}
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s --port P [--conns N] [--window W] [--size BYTES] "
		"[--binary] [--deflate] [--warmup S] [--duration S] "
		"[--server-pid PID] [--verify] [--path PATH]\n"
		"       %s --port P --idle N [--hold S]\n",
		prog, prog);
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--binary") == 0) {
			opt.binary = true;
			continue;
		}
		if (strcmp(a, "--deflate") == 0) {
			opt.deflate = true;
			continue;
		}
		if (strcmp(a, "--verify") == 0) {
			opt.verify = true;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (strcmp(a, "--port") == 0)
			opt.port = atoi(v);
		else if (strcmp(a, "--conns") == 0)
			opt.conns = atol(v);
		else if (strcmp(a, "--window") == 0)
			opt.window = atol(v);
		else if (strcmp(a, "--size") == 0)
			opt.size = (size_t)strtoull(v, NULL, 10);
		else if (strcmp(a, "--warmup") == 0)
			opt.warmup = strtod(v, NULL);
		else if (strcmp(a, "--duration") == 0)
			opt.duration = strtod(v, NULL);
		else if (strcmp(a, "--server-pid") == 0)
			opt.server_pid = (pid_t)atol(v);
		else if (strcmp(a, "--path") == 0)
			opt.path = v;
		else if (strcmp(a, "--idle") == 0)
			opt.idle = atol(v);
		else if (strcmp(a, "--hold") == 0)
			opt.hold = strtod(v, NULL);
		else
			usage();
	}
	if (opt.port <= 0 || opt.port > 65535 || opt.conns <= 0 ||
	    opt.window <= 0 || opt.size > (64u << 20) || opt.warmup < 0 ||
	    !(opt.duration > 0) || opt.idle < 0 || (opt.verify && opt.deflate))
		usage();
}

/* --idle: N connections held open without traffic. */
static int run_idle(void)
{
	int *fds = calloc((size_t)opt.idle, sizeof(*fds));
	if (!fds)
		fail("calloc");
	for (long i = 0; i < opt.idle; i++)
		fds[i] = open_conn();
	printf("READY %ld\n", opt.idle);
	fflush(stdout);
	struct pollfd in = {.fd = STDIN_FILENO, .events = POLLIN};
	uint64_t end = bench_now_ns() + (uint64_t)(opt.hold * 1e9);
	while (bench_now_ns() < end) {
		int r = poll(&in, 1, 200);
		if (r > 0) {
			char b[64];
			if (read(STDIN_FILENO, b, sizeof(b)) <= 0)
				break;
		}
	}
	for (long i = 0; i < opt.idle; i++)
		close(fds[i]);
	free(fds);
	return 0;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	long nofile = bench_raise_nofile();
	long need = (opt.idle ? opt.idle : opt.conns) + 16;
	if (nofile >= 0 && nofile < need) {
		fprintf(stderr, "%s: RLIMIT_NOFILE is %ld, need %ld\n", prog,
			nofile, need);
		return 1;
	}
	if (opt.idle)
		return run_idle();
	pool_build();

	int ep = epoll_create1(0);
	if (ep < 0)
		fail("epoll_create1");
	struct conn *conns = calloc((size_t)opt.conns, sizeof(*conns));
	if (!conns)
		fail("calloc");
	for (long i = 0; i < opt.conns; i++) {
		struct conn *c = &conns[i];
		c->fd = open_conn();
		c->queued_at = calloc((size_t)opt.window, sizeof(uint64_t));
		if (!c->queued_at)
			fail("calloc");
		if (fcntl(c->fd, F_SETFL, O_NONBLOCK) != 0)
			fail("fcntl");
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
			fail("epoll_ctl");
	}

	static uint8_t buf[READ_MAX];
	uint64_t start = bench_now_ns();
	uint64_t measure_from = start + (uint64_t)(opt.warmup * 1e9);
	uint64_t measure_to = measure_from + (uint64_t)(opt.duration * 1e9);
	uint64_t drain_until = 0;
	int64_t cpu0 = -1, cpu1 = -1, self0 = 0, self1 = 0;
	uint64_t t0 = 0, t1 = 0;
	for (long i = 0; i < opt.conns; i++) {
		for (long w = 0; w < opt.window; w++)
			conn_queue(&conns[i], start);
		conn_send(ep, &conns[i]);
	}

	struct epoll_event events[256];
	for (;;) {
		uint64_t now = bench_now_ns();
		if (!measuring && !stopping && now >= measure_from) {
			measuring = true;
			t0 = now;
			cpu0 = opt.server_pid ? bench_process_cpu_ns(
						    opt.server_pid)
					      : -1;
			self0 = bench_process_cpu_ns(0);
		} else if (measuring && now >= measure_to) {
			measuring = false;
			stopping = true;
			t1 = now;
			cpu1 = opt.server_pid ? bench_process_cpu_ns(
						    opt.server_pid)
					      : -1;
			self1 = bench_process_cpu_ns(0);
			drain_until = now + DRAIN_NS;
		}
		if (stopping) {
			bool drained = true;
			for (long i = 0; i < opt.conns && drained; i++)
				drained = conns[i].in_flight == 0;
			if (drained || now >= drain_until)
				break;
		}
		int n = epoll_wait(ep, events, 256, 100);
		if (n < 0 && errno != EINTR)
			fail("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;
			if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				ssize_t got = read(c->fd, buf, sizeof(buf));
				if (got == 0 || (got < 0 && errno != EAGAIN &&
						 errno != EINTR)) {
					fprintf(stderr,
						"%s: the server closed a "
						"connection\n",
						prog);
					return 1;
				}
				if (got > 0)
					conn_parse(c, buf, (size_t)got,
						   bench_now_ns());
			}
			if (c->pending > 0)
				conn_send(ep, c);
		}
	}

	uint64_t sent = 0, echoed = 0;
	for (long i = 0; i < opt.conns; i++) {
		sent += conns[i].sent;
		echoed += conns[i].echoed;
		close(conns[i].fd);
		free(conns[i].queued_at);
	}
	free(conns);
	close(ep);
	for (int i = 0; i < POOL_FRAMES; i++)
		free(pool.frame[i]);
	free(pool.payload);
	double secs = (double)(t1 - t0) / 1e9;
	double rate = secs > 0 ? (double)measured_msgs / secs : 0;
	printf("{\"msgs_per_s\": %.1f, \"mb_per_s\": %.3f, ", rate,
	       rate * (double)opt.size / 1e6);
	if (cpu0 >= 0 && cpu1 >= cpu0 && measured_msgs > 0)
		printf("\"server_cpu_ns_per_msg\": %.2f, "
		       "\"server_cpu_util\": %.3f, ",
		       (double)(cpu1 - cpu0) / (double)measured_msgs,
		       (double)(cpu1 - cpu0) / 1e9 / secs);
	else
		printf("\"server_cpu_ns_per_msg\": null, "
		       "\"server_cpu_util\": null, ");
	printf("\"load_cpu_util\": %.3f, \"rtt_p50_us\": %.2f, "
	       "\"rtt_p99_us\": %.2f, \"measured\": %llu, \"seconds\": %.3f, "
	       "\"sent\": %llu, \"echoed\": %llu, \"verify_failures\": %llu, "
	       "\"protocol_errors\": %llu, \"verified\": %s}\n",
	       (double)(self1 - self0) / 1e9 / secs,
	       hist_quantile(measured_msgs, 0.50) / 1e3,
	       hist_quantile(measured_msgs, 0.99) / 1e3,
	       (unsigned long long)measured_msgs, secs,
	       (unsigned long long)sent, (unsigned long long)echoed,
	       (unsigned long long)verify_failures,
	       (unsigned long long)protocol_errors,
	       opt.verify ? "true" : "false");
	bool ok = sent == echoed && verify_failures == 0 &&
		  protocol_errors == 0 && measured_msgs > 0;
	if (!ok)
		fprintf(stderr, "%s: %llu sent, %llu echoed, %llu mismatched, "
				"%llu protocol errors\n",
			prog, (unsigned long long)sent,
			(unsigned long long)echoed,
			(unsigned long long)verify_failures,
			(unsigned long long)protocol_errors);
	return ok ? 0 : 1;
}

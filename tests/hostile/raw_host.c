/*
 * raw_host.c - a host program that takes whatever its peer sends, for
 * running hostile input through the shim (tests/hostile/bad_input.py).
 *
 *   raw-host server [--connections N] [--timeout S]
 *   raw-host client PORT [--connections N] [--timeout S] [--header LINE]...
 *
 * It speaks just enough of the opening handshake (RFC 6455 4) to make a
 * WebSocket connection start, and never parses a frame: every byte after
 * the handshake is read to end of file and only counted and hashed. So a
 * peer can send anything at all, and what the host saw is a short line of
 * text that two runs (with and without the shim) must print identically.
 *
 * server: listens on 127.0.0.1 (port chosen by the kernel), prints
 *   "PORT <n>", then serves N connections one after the other (default
 *   1). Each: read until the blank line that ends a request header block
 *   (at most 1 MiB), or end of file. A complete block with
 *   "Upgrade: websocket" and a Sec-WebSocket-Key is answered 101 with its
 *   Sec-WebSocket-Accept (and "Sec-WebSocket-Extensions:
 *   permessage-deflate" when the request offers it), followed by one
 *   unmasked text frame "welcome"; a path "/reject/NNN" is answered with
 *   status NNN instead. Any other complete block gets "200 OK". Then the
 *   rest is read to end of file.
 *
 * client: N times: connects to 127.0.0.1:PORT, sends an upgrade request
 *   for "/case/<i>" (a fixed key and Host, so that every run sends the
 *   same bytes, offering permessage-deflate, plus each --header LINE),
 *   reads the
 *   answer's header block; after a 101 sends one masked text frame
 *   "hello <i>" (a fixed mask key), then reads everything to end of file.
 *
 * For each connection it prints one line:
 *   conn I: head H, answer "STATUS LINE", read R fnv HASH, wrote W in C
 *   calls (all complete|SHORT), end eof|ERRNO-NAME
 * where H is the header block's length (0: none complete), R and HASH
 * cover every byte read, W and C every write. Exit status 0, or 1 when a
 * socket call other than the reads failed, 2 on usage errors, 3 on the
 * timeout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "base64.h"
#include "sha1.h"
#include "ws_peer.h"

static const char prog[] = "raw-host";

/* The most a request or answer header block may take. */
#define HEAD_MAX (1u << 20)

static double deadline; /* CLOCK_MONOTONIC seconds */

/* Extra request header lines (client role), "Name: value" each. */
static char extra_headers[4096];
static size_t extra_len;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What one connection saw. */
struct tally {
	size_t head;	  /* header block length, 0 when incomplete */
	char answer[128]; /* the answer's status line (client: received) */
	uint64_t read_bytes;
	uint64_t read_hash; /* FNV-1a 64 of every byte read */
	uint64_t wrote;
	unsigned writes;
	bool short_write;
	int end_errno; /* 0: end of file */
	bool timed_out;
	bool failed;
};

static void hash_bytes(struct tally *t, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		t->read_hash ^= p[i];
		t->read_hash *= 0x100000001b3ull;
	}
	t->read_bytes += n;
}

/* Waits for fd to be readable before the deadline. */
static bool wait_readable(int fd, struct tally *t)
{
	for (;;) {
		double left = deadline - now();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = left > 0 ? poll(&p, 1, (int)(left * 1000) + 1) : 0;
		if (r > 0)
			return true;
		if (r < 0 && errno == EINTR)
			continue;
		t->timed_out = true;
		return false;
	}
}

/* One read into buf[0..cap). Returns what read returned (0: end of file,
 * -1: error or timeout, recorded in t). */
static ssize_t read_some(int fd, uint8_t *buf, size_t cap, struct tally *t)
{
	if (!wait_readable(fd, t))
		return -1;
	ssize_t n;
	do
		n = read(fd, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		t->end_errno = errno;
	else
		hash_bytes(t, buf, (size_t)n);
	return n;
}

/* Reads until a blank line ends a header block, end of file or HEAD_MAX.
 * The block (NUL-terminated) and the bytes after it stay in buf; returns
 * the block's length (0 when incomplete) and sets *len to all read. */
static size_t read_head(int fd, uint8_t *buf, size_t *len, struct tally *t)
{
	*len = 0;
	for (;;) {
		/* Look for the blank line only where new bytes may end it. */
		size_t from = *len > 3 ? *len - 3 : 0;
		ssize_t n = read_some(fd, buf + *len, HEAD_MAX - *len, t);
		if (n <= 0)
			return 0;
		*len += (size_t)n;
		buf[*len] = '\0';
		uint8_t *end = memmem(buf + from, *len - from, "\r\n\r\n", 4);
		if (end)
			return (size_t)(end - buf) + 4;
		if (*len == HEAD_MAX)
			return 0;
	}
}

/* Reads to end of file. */
static void drain(int fd, struct tally *t)
{
	static uint8_t buf[65536];
	while (read_some(fd, buf, sizeof(buf), t) > 0)
		;
}

static void write_all(int fd, const void *p, size_t n, struct tally *t)
{
	t->writes++;
	ssize_t w;
	do
		w = write(fd, p, n);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		fprintf(stderr, "%s: write: %s\n", prog, strerror(errno));
		t->failed = true;
		return;
	}
	t->wrote += (uint64_t)w;
	if ((size_t)w != n)
		t->short_write = true;
}

/* The value of header name (lower-case, with ": ") in block, copied into
 * out without surrounding blanks; false when absent. A deliberately plain
 * search: the block comes from the test, not from the wild. */
static bool header_value(const char *block, const char *name, char *out,
			 size_t cap)
{
	size_t nlen = strlen(name);
	for (const char *line = strstr(block, "\r\n"); line;
	     line = strstr(line, "\r\n")) {
		line += 2;
		if (strncasecmp(line, name, nlen) != 0)
			continue;
		const char *v = line + nlen;
		while (*v == ' ' || *v == '\t')
			v++;
		const char *e = strstr(v, "\r\n");
		size_t n = e ? (size_t)(e - v) : strlen(v);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n >= cap)
			n = cap - 1;
		memcpy(out, v, n);
		out[n] = '\0';
		return true;
	}
	return false;
}

/* RFC 6455 4.2.2 (5.4): base64(SHA-1(key + GUID)). */
static void accept_of(const char *key, char out[BASE64_SIZE(SHA1_DIGEST_SIZE)])
{
	char joined[256];
	uint8_t digest[SHA1_DIGEST_SIZE];
	int n = snprintf(joined, sizeof(joined), "%s%s", key,
			 "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
	sha1(joined,
	     (size_t)n < sizeof(joined) ? (size_t)n : sizeof(joined) - 1,
	     digest);
	base64_encode(digest, sizeof(digest), out);
}

static void copy_status_line(const char *block, char *out, size_t cap)
{
	size_t n = strcspn(block, "\r\n");
	if (n >= cap)
		n = cap - 1;
	memcpy(out, block, n);
	out[n] = '\0';
}

static void serve_one(int fd, uint8_t *buf, struct tally *t)
{
	size_t len;
	t->head = read_head(fd, buf, &len, t);
	if (t->head > 0) {
		char block_end = (char)buf[t->head];
		buf[t->head] = '\0'; /* the header block alone */
		const char *block = (const char *)buf;
		char upgrade[64] = "", key[128] = "", ext[512] = "";
		char answer[1024];
		int status = 0;
		int n;
		bool ws =
		    header_value(block, "upgrade:", upgrade, sizeof(upgrade)) &&
		    strcasecmp(upgrade, "websocket") == 0 &&
		    header_value(block, "sec-websocket-key:", key, sizeof(key));
		if (ws && sscanf(block, "GET /reject/%d ", &status) == 1) {
			n = snprintf(answer, sizeof(answer),
				     "HTTP/1.1 %d Refused\r\nContent-Length: "
				     "0\r\nConnection: close\r\n\r\n",
				     status);
		} else if (ws) {
			char acc[BASE64_SIZE(SHA1_DIGEST_SIZE)];
			bool deflate =
			    header_value(block,
					 "sec-websocket-extensions:", ext,
					 sizeof(ext)) &&
			    strstr(ext, "permessage-deflate");
			accept_of(key, acc);
			n = snprintf(answer, sizeof(answer),
				     "HTTP/1.1 101 Switching Protocols\r\n"
				     "Upgrade: websocket\r\nConnection: "
				     "Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s"
				     "\r\n",
				     acc,
				     deflate ? "Sec-WebSocket-Extensions: "
					       "permessage-deflate\r\n"
					     : "");
		} else {
			n = snprintf(answer, sizeof(answer),
				     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
				     "Connection: close\r\n\r\nok");
		}
		buf[t->head] = (uint8_t)block_end;
		copy_status_line(answer, t->answer, sizeof(t->answer));
		write_all(fd, answer, (size_t)n, t);
		if (ws && status == 0) {
			static const uint8_t welcome[] = {
			    0x81, 7, 'w', 'e', 'l', 'c', 'o', 'm', 'e'};
			write_all(fd, welcome, sizeof(welcome), t);
		}
	}
	if (!t->timed_out && t->end_errno == 0)
		drain(fd, t); /* after end of file this reads 0 once more */
}

static void client_one(int fd, unsigned i, uint8_t *buf, struct tally *t)
{
	char req[512 + sizeof(extra_headers)];
	size_t len;
	int n = snprintf(req, sizeof(req),
			 "GET /case/%u HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Version: 13\r\n"
			 "Sec-WebSocket-Extensions: permessage-deflate\r\n"
			 "%s\r\n",
			 i, extra_headers);
	write_all(fd, req, (size_t)n, t);
	t->head = read_head(fd, buf, &len, t);
	if (t->head == 0)
		return;
	copy_status_line((const char *)buf, t->answer, sizeof(t->answer));
	if (strncmp(t->answer, "HTTP/1.1 101 ", 13) == 0) {
		static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
		char text[32];
		uint8_t frame[64];
		int tn = snprintf(text, sizeof(text), "hello %u", i);
		frame[0] = 0x81;
		frame[1] = (uint8_t)(0x80 | tn);
		memcpy(frame + 2, mask, 4);
		for (int k = 0; k < tn; k++)
			frame[6 + k] = (uint8_t)(text[k] ^ mask[k & 3]);
		write_all(fd, frame, (size_t)(6 + tn), t);
	}
	if (t->end_errno == 0 && !t->timed_out)
		drain(fd, t);
}

static void report(unsigned i, const struct tally *t)
{
	printf("conn %u: head %zu, answer \"%s\", read %llu fnv %016llx, "
	       "wrote %llu in %u calls (%s), end %s\n",
	       i, t->head, t->answer, (unsigned long long)t->read_bytes,
	       (unsigned long long)t->read_hash, (unsigned long long)t->wrote,
	       t->writes, t->short_write ? "SHORT" : "all complete",
	       t->timed_out   ? "timeout"
	       : t->end_errno ? strerrorname_np(t->end_errno)
			      : "eof");
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s server [--connections N] [--timeout S]\n"
		"       %s client PORT [--connections N] [--timeout S] "
		"[--header LINE]...\n",
		prog, prog);
	exit(2);
}

static void add_header(const char *line)
{
	int n = snprintf(extra_headers + extra_len,
			 sizeof(extra_headers) - extra_len, "%s\r\n", line);
	if (n < 0 || (size_t)n >= sizeof(extra_headers) - extra_len)
		usage();
	extra_len += (size_t)n;
}

static long number(const char *s, long min, long max)
{
	long v;
	if (peer_parse_long(s, min, max, &v) != 0)
		usage();
	return v;
}

static int listen_loopback(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t slen = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) != 0) {
		fprintf(stderr, "%s: listen: %s\n", prog, strerror(errno));
		exit(1);
	}
	printf("PORT %d\n", ntohs(sin.sin_port));
	fflush(stdout);
	return fd;
}

static int connect_loopback(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		fprintf(stderr, "%s: connect to port %d: %s\n", prog, port,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	long connections = 1, timeout = 30;
	int port = 0, argi = 2;
	bool server;

	if (argc < 2)
		usage();
	server = strcmp(argv[1], "server") == 0;
	if (!server && strcmp(argv[1], "client") != 0)
		usage();
	if (!server) {
		if (argc < 3)
			usage();
		port = (int)number(argv[2], 1, 65535);
		argi = 3;
	}
	for (int i = argi; i < argc; i++) {
		if (strcmp(argv[i], "--connections") == 0 && i + 1 < argc)
			connections = number(argv[++i], 1, 10000);
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout = number(argv[++i], 1, 3600);
		else if (strcmp(argv[i], "--header") == 0 && i + 1 < argc &&
			 !server)
			add_header(argv[++i]);
		else
			usage();
	}
	signal(SIGPIPE, SIG_IGN);
	deadline = now() + (double)timeout;
	uint8_t *buf = malloc(HEAD_MAX + 1);
	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	int listen_fd = server ? listen_loopback() : -1;
	int status = 0;
	for (unsigned i = 0; i < (unsigned)connections; i++) {
		struct tally t = {.read_hash = 0xcbf29ce484222325ull};
		int fd;
		if (server) {
			struct tally wait = {0};
			if (!wait_readable(listen_fd, &wait)) {
				status = 3;
				break;
			}
			fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		} else {
			fd = connect_loopback(port);
		}
		if (fd < 0) {
			status = 1;
			break;
		}
		if (server)
			serve_one(fd, buf, &t);
		else
			client_one(fd, i, buf, &t);
		close(fd);
		report(i, &t);
		if (t.timed_out) {
			status = 3;
			break;
		}
		if (t.failed)
			status = 1;
	}
	if (listen_fd >= 0)
		close(listen_fd);
	free(buf);
	return status;
}

/*
 * ws_peer.c - handshake, frames and messages for the test peers.
 */
#define _GNU_SOURCE
#include "ws_peer.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "base64.h"
#include "sha1.h"

/* RFC 6455 1.3. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* Largest frame or message the peers accept. */
#define PEER_MAX_PAYLOAD (64u << 20)
/* Largest handshake head. */
#define PEER_MAX_HEAD 8192

int peer_io_from_name(const char *name, enum peer_io *out)
{
	static const struct {
		const char *read, *write;
		enum peer_io io;
	} names[] = {
	    {"read", "write", PEER_IO_READ},
	    {"recv", "send", PEER_IO_RECV},
	    {"readv", "writev", PEER_IO_READV},
	    {"recvmsg", "sendmsg", PEER_IO_RECVMSG},
	    {"recvfrom", "sendto", PEER_IO_RECVFROM},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i].read) == 0 ||
		    strcmp(name, names[i].write) == 0) {
			*out = names[i].io;
			return 0;
		}
	}
	return -1;
}

double peer_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int peer_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void peer_random(void *p, size_t n)
{
	uint8_t *out = p;
	while (n > 0) {
		ssize_t got = getrandom(out, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			abort(); /* no randomness: nothing sensible to do */
		}
		out += got;
		n -= (size_t)got;
	}
}

void peer_conn_init(struct peer_conn *c, int fd, enum peer_io io,
		    double deadline, const char *who)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->io = io;
	c->deadline = deadline;
	c->who = who;
}

void peer_conn_free(struct peer_conn *c)
{
	free(c->buf);
	free(c->msg);
	c->buf = c->msg = NULL;
	c->cap = c->start = c->end = c->msg_len = c->msg_cap = 0;
}

/* ---- writing ------------------------------------------------------------ */

/* One write call of the io mode over up to two pieces. */
static ssize_t peer_write_once(struct peer_conn *c, const uint8_t *a, size_t na,
			       const uint8_t *b, size_t nb)
{
	struct iovec iov[2] = {
	    {.iov_base = (void *)(uintptr_t)a, .iov_len = na},
	    {.iov_base = (void *)(uintptr_t)b, .iov_len = nb},
	};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = nb ? 2 : 1};

	if (na == 0) { /* single piece: b */
		iov[0] = iov[1];
		mh.msg_iovlen = 1;
		a = b;
		na = nb;
	}
	switch (c->io) {
	case PEER_IO_READ:
		return write(c->fd, a, na);
	case PEER_IO_RECV:
		return send(c->fd, a, na, MSG_NOSIGNAL);
	case PEER_IO_READV:
		return writev(c->fd, iov, (int)mh.msg_iovlen);
	case PEER_IO_RECVMSG:
		return sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	case PEER_IO_RECVFROM:
		return sendto(c->fd, a, na, MSG_NOSIGNAL, NULL, 0);
	}
	errno = EINVAL;
	return -1;
}

int peer_write2(struct peer_conn *c, const void *a, size_t na, const void *b,
		size_t nb)
{
	const uint8_t *pa = a, *pb = b;
	while (na + nb > 0) {
		ssize_t n;
		if (c->bytewise)
			n = na ? peer_write_once(c, pa, 1, NULL, 0)
			       : peer_write_once(c, NULL, 0, pb, 1);
		else
			n = peer_write_once(c, pa, na, pb, nb);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: write: %s\n", c->who,
				strerror(errno));
			return -1;
		}
		size_t done = (size_t)n;
		size_t from_a = done < na ? done : na;
		pa += from_a;
		na -= from_a;
		done -= from_a;
		pb += done;
		nb -= done;
	}
	return 0;
}

/* ---- reading ------------------------------------------------------------ */

#ifdef PEER_STAGED_READS
/* The read, recv and recvfrom modes of peer_read_once through a stack
 * buffer whose size the compiler sees (ws_peer.h). */
static ssize_t peer_read_staged(struct peer_conn *c, uint8_t *p, size_t cap)
{
	uint8_t stage[4096];
	/* The bound goes through a volatile: when the compiler can prove the
	 * length fits, the C library's headers call the plain function, so
	 * here, as with a length that comes from elsewhere, the check is
	 * left to the fortified one at run time. */
	volatile size_t room = sizeof(stage);
	size_t n = cap < room ? cap : room;
	ssize_t got;

	if (c->io == PEER_IO_READ)
		got = read(c->fd, stage, n);
	else if (c->io == PEER_IO_RECV)
		got = recv(c->fd, stage, n, 0);
	else
		got = recvfrom(c->fd, stage, n, 0, NULL, NULL);
	if (got > 0)
		memcpy(p, stage, (size_t)got);
	return got;
}
#endif

/* One read call of the io mode into p (cap bytes). readv and recvmsg get
 * two iovecs, the first short, so the bytes usually span both. */
static ssize_t peer_read_once(struct peer_conn *c, uint8_t *p, size_t cap)
{
	size_t first = cap > 5 ? 5 : cap;
	struct iovec iov[2] = {
	    {.iov_base = p, .iov_len = first},
	    {.iov_base = p + first, .iov_len = cap - first},
	};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = cap > first ? 2 : 1};
#ifdef PEER_STAGED_READS
	if (c->io == PEER_IO_READ || c->io == PEER_IO_RECV ||
	    c->io == PEER_IO_RECVFROM)
		return peer_read_staged(c, p, cap);
#endif
	switch (c->io) {
	case PEER_IO_READ:
		return read(c->fd, p, cap);
	case PEER_IO_RECV:
		return recv(c->fd, p, cap, 0);
	case PEER_IO_READV:
		return readv(c->fd, iov, (int)mh.msg_iovlen);
	case PEER_IO_RECVMSG:
		return recvmsg(c->fd, &mh, 0);
	case PEER_IO_RECVFROM:
		return recvfrom(c->fd, p, cap, 0, NULL, NULL);
	}
	errno = EINVAL;
	return -1;
}

/* Reads more bytes into the buffer, waiting until the deadline. Returns
 * the count, 0 at end of file, -1 on failure or timeout (said on
 * stderr). */
static ssize_t peer_fill(struct peer_conn *c)
{
	if (c->start > 0 && c->start == c->end)
		c->start = c->end = 0;
	if (c->end == c->cap) {
		if (c->start > 0) {
			memmove(c->buf, c->buf + c->start, c->end - c->start);
			c->end -= c->start;
			c->start = 0;
		}
		if (c->end == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 16384;
			uint8_t *p = realloc(c->buf, cap);
			if (!p) {
				fprintf(stderr, "%s: out of memory\n", c->who);
				return -1;
			}
			c->buf = p;
			c->cap = cap;
		}
	}
	for (;;) {
		double left = c->deadline - peer_now();
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int ready =
		    left > 0 ? poll(&pfd, 1, (int)(left * 1000) + 1) : 0;
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0) {
			fprintf(stderr, "%s: %s while reading\n", c->who,
				ready == 0 ? "timed out" : strerror(errno));
			return -1;
		}
		ssize_t n = peer_read_once(c, c->buf + c->end, c->cap - c->end);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			fprintf(stderr, "%s: read: %s\n", c->who,
				strerror(errno));
			return -1;
		}
		c->end += (size_t)n;
		return n;
	}
}

/* Makes n bytes available at c->buf + c->start. Returns 1, 0 at end of
 * file before any of them (when at_boundary), -1 otherwise. */
static int peer_need(struct peer_conn *c, size_t n, bool at_boundary)
{
	while (c->end - c->start < n) {
		ssize_t got = peer_fill(c);
		if (got < 0)
			return -1;
		if (got == 0) {
			if (at_boundary && c->end == c->start)
				return 0;
			fprintf(stderr, "%s: end of file inside a frame\n",
				c->who);
			return -1;
		}
	}
	return 1;
}

/* ---- handshake ---------------------------------------------------------- */

/* Reads the head up to "\r\n\r\n" into a NUL-terminated copy at *head
 * (malloc'd) and consumes it. Returns 0 or -1. */
static int peer_read_head(struct peer_conn *c, char **head)
{
	for (;;) {
		const uint8_t *p = c->buf + c->start;
		size_t have = c->end - c->start;
		const uint8_t *e =
		    have >= 4 ? memmem(p, have, "\r\n\r\n", 4) : NULL;
		if (e) {
			size_t n = (size_t)(e - p) + 4;
			*head = malloc(n + 1);
			if (!*head)
				return -1;
			memcpy(*head, p, n);
			(*head)[n] = '\0';
			c->start += n;
			return 0;
		}
		if (have > PEER_MAX_HEAD) {
			fprintf(stderr, "%s: handshake too long\n", c->who);
			return -1;
		}
		ssize_t got = peer_fill(c);
		if (got <= 0) {
			if (got == 0)
				fprintf(stderr,
					"%s: end of file in the "
					"handshake\n",
					c->who);
			return -1;
		}
	}
}

/* The value of header name in head (after the first line), trimmed, into
 * out. Returns 0, or -1 when absent or too long. */
static int peer_header(const char *head, const char *name, char *out,
		       size_t cap)
{
	size_t name_len = strlen(name);
	for (const char *line = strstr(head, "\r\n"); line && line[2];
	     line = strstr(line + 2, "\r\n")) {
		const char *h = line + 2;
		if (strncasecmp(h, name, name_len) != 0 || h[name_len] != ':')
			continue;
		const char *v = h + name_len + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		const char *end = strstr(v, "\r\n");
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if ((size_t)(end - v) >= cap)
			return -1;
		memcpy(out, v, (size_t)(end - v));
		out[end - v] = '\0';
		return 0;
	}
	return -1;
}

/* Sec-WebSocket-Accept for key (RFC 6455 4.2.2, step 5.4). */
static void peer_accept_for(const char *key, char out[BASE64_SIZE(20)])
{
	char joined[128];
	uint8_t digest[SHA1_DIGEST_SIZE];
	int n = snprintf(joined, sizeof(joined), "%s%s", key, ws_guid);
	sha1(joined, (size_t)n, digest);
	base64_encode(digest, sizeof(digest), out);
}

int peer_server_handshake(struct peer_conn *c)
{
	char *head = NULL;
	char key[64], upgrade[64], accept[BASE64_SIZE(20)], answer[256];
	int rc = -1;

	if (peer_read_head(c, &head) != 0)
		return -1;
	if (strncmp(head, "GET ", 4) != 0 ||
	    peer_header(head, "upgrade", upgrade, sizeof(upgrade)) != 0 ||
	    strcasecmp(upgrade, "websocket") != 0 ||
	    peer_header(head, "sec-websocket-key", key, sizeof(key)) != 0) {
		static const char bad[] = "HTTP/1.1 400 Bad Request\r\n"
					  "Content-Length: 0\r\n\r\n";
		fprintf(stderr, "%s: not a WebSocket upgrade request\n",
			c->who);
		peer_write2(c, bad, sizeof(bad) - 1, NULL, 0);
		goto free_head;
	}
	peer_accept_for(key, accept);
	int n = snprintf(answer, sizeof(answer),
			 "HTTP/1.1 101 Switching Protocols\r\n"
			 "Upgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Accept: %s\r\n\r\n",
			 accept);
	rc = peer_write2(c, answer, (size_t)n, NULL, 0);
free_head:
	free(head);
	return rc;
}

int peer_client_handshake(struct peer_conn *c, const char *host,
			  const char *target)
{
	uint8_t nonce[16];
	char key[BASE64_SIZE(16)], accept[BASE64_SIZE(20)], got[64];
	char request[1024];
	char *head = NULL;
	int rc = -1;

	peer_random(nonce, sizeof(nonce));
	base64_encode(nonce, sizeof(nonce), key);
	int n = snprintf(request, sizeof(request),
			 "GET %s HTTP/1.1\r\n"
			 "Host: %s\r\n"
			 "Upgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\n"
			 "Sec-WebSocket-Version: 13\r\n"
			 "User-Agent: wsdbg-test-peer\r\n\r\n",
			 target, host, key);
	if (n < 0 || (size_t)n >= sizeof(request)) {
		fprintf(stderr, "%s: request target too long\n", c->who);
		return -1;
	}
	if (peer_write2(c, request, (size_t)n, NULL, 0) != 0 ||
	    peer_read_head(c, &head) != 0)
		return -1;
	peer_accept_for(key, accept);
	if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
		fprintf(stderr, "%s: upgrade refused: %.*s\n", c->who,
			(int)strcspn(head, "\r\n"), head);
	} else if (peer_header(head, "sec-websocket-accept", got,
			       sizeof(got)) != 0 ||
		   strcmp(got, accept) != 0) {
		fprintf(stderr, "%s: wrong Sec-WebSocket-Accept\n", c->who);
	} else {
		rc = 0;
	}
	free(head);
	return rc;
}

/* ---- frames ------------------------------------------------------------- */

size_t peer_frame_wire_size(size_t len, bool masked)
{
	size_t header = 2 + (len < 126 ? 0 : len <= 0xffff ? 2 : 8);
	return header + (masked ? 4 : 0) + len;
}

int peer_send_frame(struct peer_conn *c, bool fin, uint8_t opcode,
		    const void *payload, size_t len)
{
	uint8_t header[14];
	size_t h = 0;
	header[h++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
	uint8_t mask_bit = c->mask ? 0x80 : 0;
	if (len < 126) {
		header[h++] = (uint8_t)(mask_bit | len);
	} else if (len <= 0xffff) {
		header[h++] = mask_bit | 126;
		header[h++] = (uint8_t)(len >> 8);
		header[h++] = (uint8_t)len;
	} else {
		header[h++] = mask_bit | 127;
		for (int i = 7; i >= 0; i--)
			header[h++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	if (!c->mask)
		return peer_write2(c, header, h, payload, len);

	/* RFC 6455 5.3: a fresh unpredictable key per frame. */
	uint8_t key[4];
	peer_random(key, sizeof(key));
	memcpy(header + h, key, 4);
	h += 4;
	uint8_t *masked = malloc(len ? len : 1);
	if (!masked) {
		fprintf(stderr, "%s: out of memory\n", c->who);
		return -1;
	}
	const uint8_t *in = payload;
	for (size_t i = 0; i < len; i++)
		masked[i] = in[i] ^ key[i & 3];
	int rc = peer_write2(c, header, h, masked, len);
	free(masked);
	return rc;
}

/* One frame (RFC 6455 5.2), unmasked in place in the buffer and consumed.
 * Returns 1, 0 at end of file before it, -1 on error. */
static int peer_read_frame(struct peer_conn *c, bool *fin, uint8_t *opcode,
			   uint8_t **payload, size_t *len)
{
	int r = peer_need(c, 2, true);
	if (r <= 0)
		return r;
	const uint8_t *p = c->buf + c->start;
	if (p[0] & 0x70) {
		fprintf(stderr, "%s: reserved bits set\n", c->who);
		return -1;
	}
	*fin = p[0] & 0x80;
	*opcode = p[0] & 0x0f;
	bool masked = p[1] & 0x80;
	uint64_t n = p[1] & 0x7f;
	size_t header = 2 +
			(n == 126   ? 2
			 : n == 127 ? 8
				    : 0) +
			(masked ? 4 : 0);
	if (peer_need(c, header, false) < 0)
		return -1;
	p = c->buf + c->start;
	if (n == 126) {
		n = (uint64_t)p[2] << 8 | p[3];
	} else if (n == 127) {
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | p[2 + i];
	}
	/* RFC 6455 5.1: a server masks nothing, a client everything. */
	if (masked == c->mask) {
		fprintf(stderr, "%s: frame %s masked\n", c->who,
			masked ? "wrongly" : "not");
		return -1;
	}
	if (n > PEER_MAX_PAYLOAD) {
		fprintf(stderr, "%s: frame too large\n", c->who);
		return -1;
	}
	if (peer_need(c, header + (size_t)n, false) < 0)
		return -1;
	uint8_t *data = c->buf + c->start + header;
	if (masked) {
		const uint8_t *key = data - 4;
		for (size_t i = 0; i < n; i++)
			data[i] ^= key[i & 3];
	}
	c->start += header + (size_t)n;
	*payload = data;
	*len = (size_t)n;
	return 1;
}

/* Appends to the message under reassembly; allocates even for n == 0, so
 * that a message's data is never NULL. */
static int peer_msg_append(struct peer_conn *c, const uint8_t *p, size_t n)
{
	if (c->msg_len + n > PEER_MAX_PAYLOAD) {
		fprintf(stderr, "%s: message too large\n", c->who);
		return -1;
	}
	if (c->msg_len + n > c->msg_cap || !c->msg) {
		size_t cap = c->msg_cap ? c->msg_cap : 4096;
		while (cap < c->msg_len + n)
			cap *= 2;
		uint8_t *q = realloc(c->msg, cap);
		if (!q) {
			fprintf(stderr, "%s: out of memory\n", c->who);
			return -1;
		}
		c->msg = q;
		c->msg_cap = cap;
	}
	if (n)
		memcpy(c->msg + c->msg_len, p, n);
	c->msg_len += n;
	return 0;
}

int peer_read_message(struct peer_conn *c, struct peer_msg *m)
{
	for (;;) {
		bool fin;
		uint8_t opcode, *payload;
		size_t len;
		int r = peer_read_frame(c, &fin, &opcode, &payload, &len);
		if (r <= 0) {
			if (r == 0 && c->msg_opcode) {
				fprintf(stderr,
					"%s: end of file inside a "
					"fragmented message\n",
					c->who);
				return -1;
			}
			return r;
		}
		if (opcode >= PEER_OP_CLOSE) { /* control (RFC 6455 5.5) */
			if (!fin || len > 125 || opcode > PEER_OP_PONG) {
				fprintf(stderr, "%s: bad control frame\n",
					c->who);
				return -1;
			}
			*m = (struct peer_msg){.opcode = opcode,
					       .data = payload,
					       .len = len,
					       .frames = 1};
			return 1;
		}
		if (opcode == PEER_OP_CONTINUATION) {
			if (!c->msg_opcode) {
				fprintf(stderr,
					"%s: continuation without a "
					"message\n",
					c->who);
				return -1;
			}
		} else if (opcode == PEER_OP_TEXT || opcode == PEER_OP_BINARY) {
			if (c->msg_opcode) {
				fprintf(stderr,
					"%s: new message inside a "
					"fragmented one\n",
					c->who);
				return -1;
			}
			c->msg_opcode = opcode;
			c->msg_len = 0;
			c->msg_frames = 0;
		} else {
			fprintf(stderr, "%s: reserved opcode %u\n", c->who,
				opcode);
			return -1;
		}
		if (peer_msg_append(c, payload, len) != 0)
			return -1;
		c->msg_frames++;
		if (fin) {
			*m = (struct peer_msg){.opcode = c->msg_opcode,
					       .data = c->msg,
					       .len = c->msg_len,
					       .frames = c->msg_frames};
			c->msg_opcode = 0;
			return 1;
		}
	}
}

/* ---- echo --------------------------------------------------------------- */

int peer_echo_message(struct peer_conn *c, const struct peer_msg *m)
{
	if (m->opcode == PEER_OP_PONG)
		return 0;
	uint8_t op = m->opcode == PEER_OP_PING ? PEER_OP_PONG : m->opcode;
	if (peer_send_frame(c, true, op, m->data, m->len) != 0)
		return -1;
	return m->opcode == PEER_OP_CLOSE;
}

int peer_echo_session(int fd, enum peer_io io, double deadline,
		      const char *who)
{
	struct peer_conn c;
	struct peer_msg m;
	int rc = -1;

	peer_conn_init(&c, fd, io, deadline, who);
	if (peer_server_handshake(&c) == 0) {
		for (;;) {
			int r = peer_read_message(&c, &m);
			if (r <= 0) {
				rc = r == 0 ? 0 : -1;
				break;
			}
			r = peer_echo_message(&c, &m);
			if (r != 0) {
				rc = r > 0 ? 0 : -1;
				break;
			}
		}
	}
	peer_conn_free(&c);
	return rc;
}

int peer_listen_loopback(int backlog)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (void *)&sin, sizeof(sin)) != 0 ||
	    listen(fd, backlog) != 0 ||
	    getsockname(fd, (void *)&sin, &len) != 0) {
		close(fd);
		return -1;
	}
	printf("PORT %d\n", ntohs(sin.sin_port));
	fflush(stdout);
	return fd;
}

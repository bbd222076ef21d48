/*
 * ws_client.c - the project's own WebSocket client, for driving servers
 * under the shim (and for running under it itself).
 *
 *   ws-client [--io read|recv|readv|recvmsg|recvfrom] [--path TARGET] [--pipeline]
 *             [--bytewise] [--timeout S] PORT [STEP...]
 *
 * Connects to 127.0.0.1:PORT, upgrades with "GET TARGET" (default
 * "/echo"), then runs the script of STEPs (from the arguments, or one per
 * line on stdin when there are none):
 *
 *   text:STRING        a text message
 *   textn:N            a text message of N bytes (printable ASCII)
 *   texthex:HEX        a text message of the bytes HEX spells, two hex
 *                      digits each: any bytes, UTF-8 or not
 *   binary:N           a binary message of N bytes (all byte values)
 *   ping:PAYLOAD       a ping; its pong is expected
 *   frag:K:STRING      a text message in K frames (RFC 6455 5.4)
 *   close:CODE:REASON  a close frame with a code and reason (or "close"
 *                      alone: an empty close frame); the server's close
 *                      and end of file are expected
 *
 * Each step expects its echo (a pong for a ping, a close for a close).
 * Without --pipeline a step's echo is read before the next step is sent;
 * with it every step is sent first and the echoes are read after. A
 * script without a close ends by closing the socket (no close frame).
 * --bytewise writes every byte, the handshake's too, with its own call.
 * Frames are masked with a fresh random key each (RFC 6455 5.3); what is
 * printed does not depend on the keys, so two runs print the same bytes.
 *
 * Prints one line per echo received ("ok ..." or "BAD ...") and a last
 * line "steps N, echoes matched N". Exit status: 0 when every echo
 * matched, 1 when one did not, 2 on usage errors, 3 when the connection
 * or the handshake failed or timed out.
 */
#define _GNU_SOURCE
#include <ctype.h>
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

#include "ws_peer.h"

static const char prog[] = "ws-client";

/* One step of the script and the message it sends. */
struct step {
	uint8_t opcode; /* TEXT, BINARY, PING or CLOSE */
	uint8_t *data;	/* the whole payload (for a close: code + reason) */
	size_t len;
	unsigned pieces; /* frames to send it in */
};

static void usage(void)
{
	fprintf(stderr,
		"usage: %s [--io MODE] [--path TARGET] [--pipeline] "
		"[--bytewise] [--timeout S] PORT [STEP...]\n",
		prog);
	exit(2);
}

static unsigned long number(const char *s, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || (*end && *end != ':') || v > max ||
	    s[0] == '-')
		usage();
	return v;
}

/* A malloc'd copy of the n bytes at p, or n uninitialised bytes when p is
 * NULL. */
static uint8_t *dup_bytes(const void *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	if (!q) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(3);
	}
	if (p && n)
		memcpy(q, p, n);
	return q;
}

/* Parses one step; exits on a bad one. */
static void parse_step(const char *s, struct step *st)
{
	*st = (struct step){.pieces = 1};
	if (strncmp(s, "text:", 5) == 0) {
		st->opcode = PEER_OP_TEXT;
		st->len = strlen(s + 5);
		st->data = dup_bytes(s + 5, st->len);
	} else if (strncmp(s, "textn:", 6) == 0) {
		st->opcode = PEER_OP_TEXT;
		st->len = number(s + 6, 64ul << 20);
		st->data = dup_bytes(NULL, st->len);
		for (size_t i = 0; i < st->len; i++)
			st->data[i] = (uint8_t)(' ' + i % 95);
	} else if (strncmp(s, "texthex:", 8) == 0) {
		const char *hex = s + 8;
		st->opcode = PEER_OP_TEXT;
		st->len = strlen(hex) / 2;
		if (strlen(hex) % 2)
			usage();
		st->data = dup_bytes(NULL, st->len);
		for (size_t i = 0; i < st->len; i++) {
			unsigned byte;
			if (!isxdigit((unsigned char)hex[2 * i]) ||
			    !isxdigit((unsigned char)hex[2 * i + 1]) ||
			    sscanf(hex + 2 * i, "%2x", &byte) != 1)
				usage();
			st->data[i] = (uint8_t)byte;
		}
	} else if (strncmp(s, "binary:", 7) == 0) {
		st->opcode = PEER_OP_BINARY;
		st->len = number(s + 7, 64ul << 20);
		st->data = dup_bytes(NULL, st->len);
		for (size_t i = 0; i < st->len; i++)
			st->data[i] = (uint8_t)(i * 31 + 7);
	} else if (strncmp(s, "ping:", 5) == 0) {
		st->opcode = PEER_OP_PING;
		st->len = strlen(s + 5);
		if (st->len > 125)
			usage();
		st->data = dup_bytes(s + 5, st->len);
	} else if (strncmp(s, "frag:", 5) == 0) {
		const char *text = strchr(s + 5, ':');
		if (!text)
			usage();
		st->opcode = PEER_OP_TEXT;
		st->pieces = (unsigned)number(s + 5, 1000);
		if (st->pieces == 0)
			usage();
		st->len = strlen(text + 1);
		st->data = dup_bytes(text + 1, st->len);
	} else if (strcmp(s, "close") == 0) {
		st->opcode = PEER_OP_CLOSE;
		st->data = dup_bytes(NULL, 0);
	} else if (strncmp(s, "close:", 6) == 0) {
		const char *reason = strchr(s + 6, ':');
		unsigned long code = number(s + 6, 4999);
		size_t rlen = reason ? strlen(reason + 1) : 0;
		if (code < 1000 || rlen > 123)
			usage();
		st->opcode = PEER_OP_CLOSE;
		st->len = 2 + rlen;
		st->data = dup_bytes(NULL, st->len);
		st->data[0] = (uint8_t)(code >> 8);
		st->data[1] = (uint8_t)code;
		if (rlen)
			memcpy(st->data + 2, reason + 1, rlen);
	} else {
		fprintf(stderr, "%s: unknown step '%s'\n", prog, s);
		usage();
	}
}

/* Sends a step, in st->pieces frames for a data message. */
static int send_step(struct peer_conn *c, const struct step *st)
{
	if (st->pieces <= 1)
		return peer_send_frame(c, true, st->opcode, st->data, st->len);
	size_t per = st->len / st->pieces, off = 0;
	for (unsigned i = 0; i < st->pieces; i++) {
		bool last = i + 1 == st->pieces;
		size_t n = last ? st->len - off : per;
		uint8_t op = i == 0 ? st->opcode : PEER_OP_CONTINUATION;
		if (peer_send_frame(c, last, op, st->data + off, n) != 0)
			return -1;
		off += n;
	}
	return 0;
}

/* FNV-1a, 32 bits: a short fingerprint of long payloads for the output. */
static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Prints up to 40 bytes of p, escaping what is not printable ASCII. */
static void print_quoted(const uint8_t *p, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n && i < 40; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	fputs(n > 40 ? "\"..." : "\"", stdout);
}

static const char *opcode_name(uint8_t op)
{
	switch (op) {
	case PEER_OP_TEXT:
		return "text";
	case PEER_OP_BINARY:
		return "binary";
	case PEER_OP_CLOSE:
		return "close";
	case PEER_OP_PING:
		return "ping";
	case PEER_OP_PONG:
		return "pong";
	default:
		return "?";
	}
}

/* Reads the echo of st and prints it. Returns 1 when it matched, 0 when
 * not, -1 when nothing could be read. */
static int expect_echo(struct peer_conn *c, const struct step *st)
{
	struct peer_msg m;
	int r = peer_read_message(c, &m);
	if (r <= 0) {
		if (r == 0)
			fprintf(stderr,
				"%s: end of file awaiting the %s "
				"echo\n",
				prog, opcode_name(st->opcode));
		printf("BAD no echo of %s\n", opcode_name(st->opcode));
		return -1;
	}
	uint8_t want = st->opcode == PEER_OP_PING ? PEER_OP_PONG : st->opcode;
	bool same = m.opcode == want && m.len == st->len &&
		    (m.len == 0 || memcmp(m.data, st->data, m.len) == 0);
	printf("%s %s len=%zu frames=%u fnv1a=%08x ", same ? "ok" : "BAD",
	       opcode_name(m.opcode), m.len, m.frames, fnv1a(m.data, m.len));
	if (m.opcode == PEER_OP_CLOSE && m.len >= 2) {
		printf("code=%u ", (unsigned)(m.data[0] << 8 | m.data[1]));
		print_quoted(m.data + 2, m.len - 2);
	} else if (m.opcode != PEER_OP_BINARY) {
		print_quoted(m.data, m.len);
	}
	putchar('\n');
	return same;
}

static int connect_to(int port)
{
	struct sockaddr_in sin = {
	    .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		fprintf(stderr, "%s: connect to 127.0.0.1:%d: %s\n", prog, port,
			strerror(errno));
		exit(3);
	}
	/* Header and payload may go in separate writes: no Nagle delay. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* The steps from stdin, one per line. */
static size_t read_steps(struct step **steps)
{
	char *line = NULL;
	size_t cap = 0, n = 0, steps_cap = 0;
	ssize_t len;
	*steps = NULL;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (n == steps_cap) {
			steps_cap = steps_cap ? steps_cap * 2 : 16;
			*steps = realloc(*steps, steps_cap * sizeof(**steps));
			if (!*steps)
				exit(3);
		}
		parse_step(line, &(*steps)[n++]);
	}
	free(line);
	return n;
}

int main(int argc, char **argv)
{
	enum peer_io io = PEER_IO_READ;
	const char *target = "/echo";
	bool pipeline = false, bytewise = false;
	double timeout = 20;
	int i = 1;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		bool has_value = i + 1 < argc;
		if (strcmp(argv[i], "--pipeline") == 0)
			pipeline = true;
		else if (strcmp(argv[i], "--bytewise") == 0)
			bytewise = true;
		else if (strcmp(argv[i], "--io") == 0 && has_value) {
			if (peer_io_from_name(argv[++i], &io) != 0)
				usage();
		} else if (strcmp(argv[i], "--path") == 0 && has_value)
			target = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0 && has_value)
			timeout = (double)number(argv[++i], 86400);
		else
			usage();
	}
	if (i >= argc)
		usage();
	int port = (int)number(argv[i++], 65535);

	struct step *steps;
	size_t nsteps;
	if (i < argc) {
		nsteps = (size_t)(argc - i);
		steps = calloc(nsteps, sizeof(*steps));
		if (!steps)
			return 3;
		for (size_t k = 0; k < nsteps; k++)
			parse_step(argv[i + (int)k], &steps[k]);
	} else {
		nsteps = read_steps(&steps);
	}

	signal(SIGPIPE, SIG_IGN);
	char host[32];
	snprintf(host, sizeof(host), "127.0.0.1:%d", port);
	int fd = connect_to(port);
	struct peer_conn c;
	peer_conn_init(&c, fd, io, peer_now() + timeout, prog);
	c.mask = true;
	c.bytewise = bytewise;
	if (peer_client_handshake(&c, host, target) != 0)
		return 3;

	size_t matched = 0, sent = 0;
	bool closed = false, lost = false;
	for (size_t k = 0; k < nsteps && !closed && !lost; k++) {
		if (send_step(&c, &steps[k]) != 0) {
			lost = true;
			break;
		}
		sent++;
		closed = steps[k].opcode == PEER_OP_CLOSE;
		if (!pipeline) {
			int r = expect_echo(&c, &steps[k]);
			matched += r > 0;
			lost = r < 0;
		}
	}
	for (size_t k = 0; pipeline && k < sent && !lost; k++) {
		int r = expect_echo(&c, &steps[k]);
		matched += r > 0;
		lost = r < 0;
	}
	if (closed && !lost) {
		/* RFC 6455 7.1.1: the server closes the TCP connection
		 * first; wait for its end of file. */
		struct peer_msg m;
		int r = peer_read_message(&c, &m);
		if (r != 0) {
			if (r > 0)
				fprintf(stderr, "%s: a %s after the close\n",
					prog, opcode_name(m.opcode));
			lost = true;
		}
	}
	printf("steps %zu, echoes matched %zu\n", nsteps, matched);
	close(fd);
	peer_conn_free(&c);
	for (size_t k = 0; k < nsteps; k++)
		free(steps[k].data);
	free(steps);
	fflush(stdout);
	return lost || matched != nsteps ? 1 : 0;
}

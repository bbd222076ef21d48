/*
 * ctor_exchange.c - libwsdbg-test-ctor.so, a library whose constructor
 * does socket I/O: a whole WebSocket exchange over a Unix socketpair (the
 * RFC 6455 1.2 handshake, a masked "Hello" and its unmasked echo (RFC
 * 6455 5.7), a close handshake with code 1000), through socketpair,
 * write, read and close, before main() runs.
 *
 * Preloaded after libwsdbg.so (LD_PRELOAD="libwsdbg.so this.so"), its
 * constructor runs before the shim's, and its calls reach the shim's
 * hooks: the shim must set itself up from inside them and neither crash
 * nor deadlock. It prints one line on stderr, the same with or without
 * the shim when all is well:
 *
 *   wsdbg-test-ctor: exchange ok, 1 thread
 *
 * ("1 thread": the shim's constructor, which starts the stats thread, had
 * not run yet), or what went wrong.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char request[] =
	"GET /ctor?from=constructor HTTP/1.1\r\n"
	"Host: server.example.com\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"\r\n";
static const char response[] =
	"HTTP/1.1 101 Switching Protocols\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	"\r\n";
/* RFC 6455 5.7: "Hello", masked from the client, unmasked from the
 * server. */
static const unsigned char masked_hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21,
					     0x3d, 0x7f, 0x9f, 0x4d, 0x51,
					     0x58};
static const unsigned char hello[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
/* Close 1000 "bye" from the client (mask 0), close 1000 from the
 * server. */
static const unsigned char client_close[] = {0x88, 0x85, 0, 0, 0, 0,
					     0x03, 0xe8, 'b', 'y', 'e'};
static const unsigned char server_close[] = {0x88, 0x02, 0x03, 0xe8};

/* Writes n bytes on from, reads them back on to, in pieces as they come;
 * true when every byte arrived unchanged. */
static bool pass(int from, int to, const void *data, size_t n)
{
	unsigned char got[512];
	size_t have = 0;

	if (n > sizeof(got) || write(from, data, n) != (ssize_t)n)
		return false;
	while (have < n) {
		ssize_t r = read(to, got + have, n - have);
		if (r <= 0)
			return false;
		have += (size_t)r;
	}
	return memcmp(got, data, n) == 0;
}

/* Threads of this process, from /proc/self/status ("Threads:"). */
static int thread_count(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *line = strstr(buf, "\nThreads:");
	return line ? atoi(line + 9) : -1;
}

__attribute__((constructor)) static void ctor_exchange(void)
{
	int sv[2];
	const char *failed = NULL;
	int threads = thread_count();

	/* sv[0] is the client's end, sv[1] the server's. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		fprintf(stderr, "wsdbg-test-ctor: socketpair failed\n");
		return;
	}
	if (!pass(sv[0], sv[1], request, strlen(request)))
		failed = "upgrade request";
	else if (!pass(sv[1], sv[0], response, strlen(response)))
		failed = "upgrade response";
	else if (!pass(sv[0], sv[1], masked_hello, sizeof(masked_hello)))
		failed = "client text";
	else if (!pass(sv[1], sv[0], hello, sizeof(hello)))
		failed = "server text";
	else if (!pass(sv[0], sv[1], client_close, sizeof(client_close)))
		failed = "client close";
	else if (!pass(sv[1], sv[0], server_close, sizeof(server_close)))
		failed = "server close";
	close(sv[0]);
	close(sv[1]);
	if (failed)
		fprintf(stderr, "wsdbg-test-ctor: exchange failed at %s\n",
			failed);
	else
		fprintf(stderr, "wsdbg-test-ctor: exchange ok, %d thread%s\n",
			threads, threads == 1 ? "" : "s");
}

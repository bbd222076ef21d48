/*
 * own_fd_host.c - a host that goes after a descriptor number it never
 * opened, the way daemons and careless programs do, and writes down what
 * each call answered. Run with and without the shim on the number where
 * the shim keeps its stats socket: the answers must be the same.
 *
 *   own-fd-host --case CASE --out FILE --go FILE
 *
 * It listens on a loopback TCP port first (a server: so the shim starts
 * its stats server), then prints "READY" on stdout, reads the target number N from stdin, runs
 * CASE, appends one line per call to FILE ("what = result errno"), then
 * "WAIT", and waits (10 s at most) for the file --go to exist before it
 * appends "END" and exits with exit() (at-exit work runs). The CASEs:
 *
 *   close        close(N) twice, then read, write, fcntl, dup, accept,
 *                sendfile and openat on N
 *   loop         close() on every number from 3 below the soft descriptor
 *                limit (FILE's excepted): how many closed, how many EBADF;
 *                then the number open() gives
 *   close_range  close_range on N alone, with a bad flag, reversed, with
 *                CLOSE_RANGE_CLOEXEC on everything, then close_range(0,
 *                ~0U, 0): every descriptor, FILE's and stdio's included;
 *                then open() must give 0 (/dev/null) and FILE is opened
 *                again
 *   closefrom    closefrom(3) (FILE included), then the number open()
 *                gives, FILE opened again
 *   dup2         dup2 of a pipe's write end onto N, a byte through N and
 *                the pipe, fcntl and close on N, dup2 onto N again (kept)
 *   unshare      close_range(3, ~0U, CLOSE_RANGE_UNSHARE) from the only
 *                thread: every descriptor from 3 must really end (the
 *                test holds the other end of one), FILE opened again
 *
 * Before the case it opens two pipes (four descriptors) so that the
 * closing cases have something of the host's to close.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/stat.h>

static const char *out_path;
static int out_fd = -1;

/* Appends one line to FILE. */
__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(line) - 1)
		_exit(3);
	line[n++] = '\n';
	if (write(out_fd, line, (size_t)n) != n)
		_exit(3);
}

/* Notes a call's result and, when it failed, its errno by name. */
static void result(const char *what, long r)
{
	int e = errno;
	if (r < 0)
		note("%s = %ld %s", what, r, strerrorname_np(e));
	else
		note("%s = %ld", what, r);
}

static void open_out(void)
{
	out_fd = open(out_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		      0600);
	if (out_fd < 0)
		_exit(3);
}

static void case_close(int n)
{
	char c = 'x';
	result("close(N)", close(n));
	result("close(N) again", close(n));
	result("read(N)", read(n, &c, 1));
	result("write(N)", write(n, &c, 1));
	result("fcntl(N, F_GETFD)", fcntl(n, F_GETFD));
	result("fcntl(N, F_SETFL, O_NONBLOCK)", fcntl(n, F_SETFL, O_NONBLOCK));
	result("dup(N)", dup(n));
	result("accept(N)", accept(n, NULL, NULL));
	result("recv(N)", recv(n, &c, 1, MSG_DONTWAIT));
	result("sendfile(1, N)", sendfile(1, n, NULL, 1));
	result("openat(N, relative)", openat(n, "x", O_RDONLY));
}

static void case_loop(void)
{
	struct rlimit rl;
	long closed = 0, ebadf = 0, other = 0;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		_exit(3);
	for (rlim_t fd = 3; fd < rl.rlim_cur; fd++) {
		if ((int)fd == out_fd)
			continue;
		if (close((int)fd) == 0)
			closed++;
		else if (errno == EBADF)
			ebadf++;
		else
			other++;
	}
	note("close loop: %ld closed, %ld EBADF, %ld other", closed, ebadf,
	     other);
	result("open(/dev/null)", open("/dev/null", O_RDONLY));
}

static void case_close_range(int n)
{
	result("close_range(N, N, 0)", close_range((unsigned)n, (unsigned)n, 0));
	result("close_range(N, N, 0x40)",
	       close_range((unsigned)n, (unsigned)n, 0x40));
	result("close_range(N + 1, N, 0)",
	       close_range((unsigned)n + 1, (unsigned)n, 0));
	result("close_range(0, ~0U, CLOEXEC)",
	       close_range(0, ~0u, CLOSE_RANGE_CLOEXEC));
	result("fcntl(out, F_GETFD)", fcntl(out_fd, F_GETFD));
	long r = close_range(0, ~0u, 0);
	int e = errno;
	int null = open("/dev/null", O_RDONLY);
	open_out();
	errno = e;
	result("close_range(0, ~0U, 0)", r);
	note("then open(/dev/null) = %d, the output file = %d", null, out_fd);
}

static void case_closefrom(void)
{
	closefrom(3);
	int null = open("/dev/null", O_RDONLY);
	open_out();
	note("closefrom(3), then open(/dev/null) = %d, the output file = %d",
	     null, out_fd);
}

static void case_unshare(void)
{
	long r = close_range(3, ~0u, CLOSE_RANGE_UNSHARE);
	int e = errno;
	open_out();
	errno = e;
	result("close_range(3, ~0U, CLOSE_RANGE_UNSHARE)", r);
	note("then the output file = %d", out_fd);
}

static void case_dup2(int n)
{
	int p[2];
	char c = 0;

	if (pipe2(p, O_CLOEXEC) != 0)
		_exit(3);
	result("dup2(pipe, N)", dup2(p[1], n));
	result("fcntl(N, F_GETFD)", fcntl(n, F_GETFD));
	result("write(N)", write(n, "y", 1));
	result("read(pipe)", read(p[0], &c, 1));
	note("the byte read: %c", c);
	result("close(N)", close(n));
	result("close(N) again", close(n));
	result("dup2(pipe, N) again, kept", dup2(p[1], n));
}

/* Waits for the file at path to exist, 10 s at most. */
static void wait_go(const char *path)
{
	for (int i = 0; i < 1000 && access(path, F_OK) != 0; i++)
		usleep(10000);
}

int main(int argc, char **argv)
{
	const char *what = NULL, *go = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--case") == 0)
			what = argv[i + 1];
		else if (strcmp(argv[i], "--out") == 0)
			out_path = argv[i + 1];
		else if (strcmp(argv[i], "--go") == 0)
			go = argv[i + 1];
	}
	if (!what || !out_path || !go || argc % 2 == 0) {
		fprintf(stderr, "usage: own-fd-host --case CASE --out FILE "
				"--go FILE\n");
		return 2;
	}
	open_out();
	int p1[2], p2[2];
	if (pipe(p1) != 0 || pipe(p2) != 0)
		return 3;
	struct sockaddr_in any = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&any, sizeof(any)) != 0 ||
	    listen(lfd, 1) != 0)
		return 3;
	printf("READY\n");
	fflush(stdout);
	int n;
	if (scanf("%d", &n) != 1 || n < 0)
		return 2;

	if (strcmp(what, "close") == 0)
		case_close(n);
	else if (strcmp(what, "loop") == 0)
		case_loop();
	else if (strcmp(what, "close_range") == 0)
		case_close_range(n);
	else if (strcmp(what, "closefrom") == 0)
		case_closefrom();
	else if (strcmp(what, "dup2") == 0)
		case_dup2(n);
	else if (strcmp(what, "unshare") == 0)
		case_unshare();
	else
		return 2;
	note("WAIT");
	wait_go(go);
	note("END");
	exit(0);
}

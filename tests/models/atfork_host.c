/*
 * atfork_host.c - a threaded WebSocket client that forks a child which
 * exits at once, over and over, while a library it links
 * (atfork_writer.h) writes a frame on one of its connections from its
 * fork handlers: the model of a program that runs helpers (fork, then
 * exec or _exit) while another thread's traffic goes on.
 *
 *   atfork-host PORT [--forks N] [--hang-ms MS] [--fd-base FD]
 *               [--timeout S]
 *
 * It opens /dev/null on every free number below FD first (default 0:
 * none), as a host with files open has, and keeps them, so that its
 * other descriptors (connections, pidfds) are FD and up. It opens two
 * WebSocket connections to an echo server on 127.0.0.1:PORT: "/atfork",
 * named to the writer library, and "/busy", on which a second thread
 * sends a short text and reads its echo, again and again, until the
 * forks are done (so that whatever lock recording it takes is often held
 * when the main thread forks). After 100 echoes on "/busy" the main
 * thread forks N times (default 1000); each child calls _exit as soon as
 * fork returns (status 0 when its child handler's frame went out whole,
 * 4 otherwise). The parent waits up to 100 ms for each child, then goes
 * on and looks again later; a child not finished MS milliseconds
 * (default 5000) after its fork is hung: it is named on stderr and
 * killed.
 *
 * Then it stops the busy thread, reads the echoes of the writer's frames
 * on "/atfork" (one "prepare" and one "child" per fork), ends both
 * connections with a close handshake and prints:
 *
 *   forks N exited_ok N failed N hung N
 *   busy_echoes N
 *   atfork_echoes prepare N child N
 *
 * Exit status: 0 when no child failed or hung and every frame came back,
 * 1 otherwise, 2 on usage errors, 3 when a connection failed. It gives up
 * S seconds after start (default 60).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "atfork_writer.h"
#include "ws_peer.h"

static const char prog[] = "atfork-host";

/* How long the parent waits for a child before going on. */
#define PATIENCE_MS 100

static atomic_bool busy_stop;
static atomic_bool busy_failed;

/* The busy connection and its thread. */
struct busy {
	struct peer_conn c;
	int fd;
	pthread_t thread;
	atomic_long echoes;
};

struct child {
	pid_t pid;
	int pidfd;
	long n;		  /* which fork */
	double forked_at; /* peer_now() */
};

static void usage(void)
{
	fprintf(stderr,
		"usage: %s PORT [--forks N] [--hang-ms MS] [--fd-base FD] "
		"[--timeout S]\n",
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

/* A WebSocket connection to 127.0.0.1:port, upgraded with "GET target";
 * exits 3 when that fails. */
static int connect_ws(struct peer_conn *c, int port, const char *target,
		      double deadline)
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
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	char host[32];
	snprintf(host, sizeof(host), "127.0.0.1:%d", port);
	peer_conn_init(c, fd, PEER_IO_RECV, deadline, prog);
	c->mask = true;
	if (peer_client_handshake(c, host, target) != 0)
		exit(3);
	return fd;
}

/* The busy thread: a text and its echo, until told to stop. */
static void *busy_main(void *arg)
{
	struct busy *b = arg;
	struct peer_conn *c = &b->c;
	static const char text[] = "busy";
	while (!atomic_load(&busy_stop)) {
		struct peer_msg m;
		if (peer_send_frame(c, true, PEER_OP_TEXT, text,
				    sizeof(text) - 1) != 0 ||
		    peer_read_message(c, &m) != 1 || m.opcode != PEER_OP_TEXT ||
		    m.len != sizeof(text) - 1) {
			atomic_store(&busy_failed, true);
			break;
		}
		atomic_fetch_add(&b->echoes, 1);
	}
	return NULL;
}

/* Ends c with a close handshake: our close, its echo, end of file. */
static int close_ws(struct peer_conn *c)
{
	static const uint8_t code[2] = {0x03, 0xe8}; /* 1000 */
	struct peer_msg m;
	if (peer_send_frame(c, true, PEER_OP_CLOSE, code, sizeof(code)) != 0 ||
	    peer_read_message(c, &m) != 1 || m.opcode != PEER_OP_CLOSE ||
	    peer_read_message(c, &m) != 0)
		return -1;
	return 0;
}

/* Reaps child k when it has ended within ms milliseconds (0: only
 * looks); returns 1 with its wait status in *status, else 0. */
static int reap(const struct child *k, int ms, int *status)
{
	struct pollfd p = {.fd = k->pidfd, .events = POLLIN};
	int r;
	while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	if (r <= 0)
		return 0;
	while (waitpid(k->pid, status, 0) < 0) {
		if (errno != EINTR) {
			*status = -1;
			break;
		}
	}
	return 1;
}

/* What became of the children. */
struct tally {
	long exited_ok, failed, hung;
};

/*
 * Looks at the pending children, reaping those that ended and killing
 * those not ended hang_ms after their fork; the newest is waited for up
 * to PATIENCE_MS first, and with last every one up to its hang_ms.
 */
static void sweep(struct child *kids, long *pending, long hang_ms, bool last,
		  struct tally *t)
{
	long newest = *pending - 1;
	for (long k = newest; k >= 0; k--) {
		double age_ms = (peer_now() - kids[k].forked_at) * 1000;
		int ms = 0, status = 0;
		if (last)
			ms = (int)((double)hang_ms - age_ms);
		else if (k == newest)
			ms = PATIENCE_MS;
		if (reap(&kids[k], ms > 0 ? ms : 0, &status)) {
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				t->exited_ok++;
			else
				t->failed++;
		} else if (last || age_ms + (double)ms >= (double)hang_ms) {
			fprintf(stderr,
				"%s: hang: child %d (fork %ld) not finished "
				"%ld ms after fork, killed\n",
				prog, (int)kids[k].pid, kids[k].n, hang_ms);
			kill(kids[k].pid, SIGKILL);
			waitpid(kids[k].pid, NULL, 0);
			t->hung++;
		} else {
			continue;
		}
		close(kids[k].pidfd);
		kids[k] = kids[--*pending];
	}
}

int main(int argc, char **argv)
{
	long forks = 1000, hang_ms = 5000, timeout = 60, fd_base = 0;
	long port = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0) {
			if (port >= 0)
				usage();
			port = number(a, 1, 65535);
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (strcmp(a, "--forks") == 0)
			forks = number(v, 1, 100000);
		else if (strcmp(a, "--hang-ms") == 0)
			hang_ms = number(v, 1, 600000);
		else if (strcmp(a, "--timeout") == 0)
			timeout = number(v, 1, 3600);
		else if (strcmp(a, "--fd-base") == 0)
			fd_base = number(v, 0, 1000);
		else
			usage();
	}
	if (port < 0)
		usage();
	/* The files a host has open before it connects: the numbers below
	 * FD, held to the end. */
	for (int fd = 0; fd < fd_base;) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fd >= fd_base) {
			if (fd >= 0)
				close(fd);
			break;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)timeout + 5); /* never outlive a stuck test */
	double deadline = peer_now() + (double)timeout;

	struct peer_conn writer;
	int writer_fd = connect_ws(&writer, (int)port, "/atfork", deadline);
	atfork_writer_set_fd(writer_fd);
	static struct busy busy;
	busy.fd = connect_ws(&busy.c, (int)port, "/busy", deadline);
	if (pthread_create(&busy.thread, NULL, busy_main, &busy) != 0)
		return 3;
	while (atomic_load(&busy.echoes) < 100 && !atomic_load(&busy_failed))
		usleep(1000);

	struct child *kids = calloc((size_t)forks, sizeof(*kids));
	if (!kids)
		return 3;
	struct tally t = {0};
	long pending = 0;
	for (long n = 0; n < forks; n++) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0)
			_exit(atfork_writer_ok() ? 0 : 4);
		int pidfd = pid > 0 ? pidfd_open(pid, 0) : -1;
		if (pidfd < 0) {
			fprintf(stderr, "%s: fork or pidfd_open: %s\n", prog,
				strerror(errno));
			if (pid > 0) {
				kill(pid, SIGKILL);
				waitpid(pid, NULL, 0);
			}
			t.failed++;
			break;
		}
		kids[pending++] = (struct child){pid, pidfd, n, peer_now()};
		sweep(kids, &pending, hang_ms, false, &t);
	}
	sweep(kids, &pending, hang_ms, true, &t);
	free(kids);
	atfork_writer_set_fd(-1);

	atomic_store(&busy_stop, true);
	pthread_join(busy.thread, NULL);

	/* Every frame the handlers wrote comes back, in whatever order a
	 * slow child left them. */
	long prepare = 0, child = 0, others = 0;
	long want = 2 * atfork_writer_forks();
	while (prepare + child + others < want) {
		struct peer_msg m;
		if (peer_read_message(&writer, &m) != 1)
			break;
		if (m.opcode == PEER_OP_TEXT && m.len > 6 &&
		    memcmp(m.data, "child ", 6) == 0)
			child++;
		else if (m.opcode == PEER_OP_TEXT && m.len > 8 &&
			 memcmp(m.data, "prepare ", 8) == 0)
			prepare++;
		else
			others++;
	}
	bool conn_failed = close_ws(&writer) != 0;
	conn_failed |= close_ws(&busy.c) != 0; /* both, whatever the first */
	close(writer_fd);
	close(busy.fd);
	peer_conn_free(&writer);
	peer_conn_free(&busy.c);

	printf("forks %ld exited_ok %ld failed %ld hung %ld\n",
	       t.exited_ok + t.failed + t.hung, t.exited_ok, t.failed, t.hung);
	printf("busy_echoes %ld\n", atomic_load(&busy.echoes));
	printf("atfork_echoes prepare %ld child %ld\n", prepare, child);
	fflush(stdout);
	bool ok = t.failed == 0 && t.hung == 0 && t.exited_ok == forks &&
		  !atomic_load(&busy_failed) && !conn_failed && others == 0 &&
		  prepare == forks && child == forks;
	return ok ? 0 : 1;
}

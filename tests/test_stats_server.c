/*
 * test_stats_server.c - the per-process stats server, in-process: a real
 * registry, a real Unix socket in a fresh directory, our own client.
 * JSON answers are checked by Python's json module (python3 -c).
 */
#define _GNU_SOURCE /* setresuid, struct ucred */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stats_server.h"
#include "wsdbg/registry.h"
#include "wsdbg/ws_frame.h"

#define NOBODY 65534

/* ---- warn lines -------------------------------------------------------- */

static char warned[1024];
static int warn_count;

static void record_warn(const char *line)
{
	snprintf(warned, sizeof(warned), "%s", line);
	warn_count++;
}

/* ---- time -------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a registry with traffic ------------------------------------------- */

static uint64_t add_connection(struct registry *r, const char *path)
{
	struct registry_request req = {
	    .fd = 7,
	    .role = REGISTRY_SERVER,
	    .local = "127.0.0.1:8080",
	    .peer = "127.0.0.1:51234",
	    .path = path,
	};
	struct registry_response res = {.status = 101, .reason = "Switching"};
	uint64_t id = registry_open(r, &req, now_s());

	cr_assert_neq(id, 0);
	registry_answer(r, id, &res, now_s());
	return id;
}

static void add_text(struct registry *r, uint64_t id, enum registry_dir dir,
		     const char *text)
{
	size_t n = strlen(text);
	struct ws_message m = {
	    .opcode = WS_OPCODE_TEXT,
	    .utf8_valid = true,
	    .frames = 1,
	    .size = n,
	    .wire_size = n,
	    .data = (const uint8_t *)text,
	    .kept = n,
	    .close_code = -1,
	};
	registry_messages(r, id, dir, &m, 1, now_s());
}

static struct registry *new_registry(void)
{
	struct registry_config cfg;
	struct registry *r;

	registry_config_defaults(&cfg);
	cfg.max_messages = 1000;
	cfg.max_conn_memory = 16u << 20;
	cfg.max_memory = 32u << 20;
	r = registry_new(&cfg);
	cr_assert_not_null(r);
	return r;
}

/* ---- a fresh directory and a running server ---------------------------- */

struct fixture {
	char top[40];	/* mkdtemp, ours, 0700 */
	char dir[64];	/* top/sock: the server's directory */
	char sock[108]; /* dir/<pid>.sock */
	struct registry *r;
	struct stats_server *s;
};

static void make_top(struct fixture *f)
{
	snprintf(f->top, sizeof(f->top), "/tmp/wsdbg-stats-test-XXXXXX");
	cr_assert_not_null(mkdtemp(f->top));
	snprintf(f->dir, sizeof(f->dir), "%s/sock", f->top);
	snprintf(f->sock, sizeof(f->sock), "%s/%d.sock", f->dir, getpid());
}

static struct stats_server *start_in(struct fixture *f, const char *dir)
{
	struct stats_server_config cfg = {
	    .dir = dir,
	    .pid = getpid(),
	    .process = "test-host",
	    .warn = record_warn,
	};
	return stats_server_start(f->r, &cfg);
}

/* A registry with one connection "/ws/a" and three messages, a server on
 * a new directory. */
static uint64_t setup(struct fixture *f)
{
	uint64_t id;

	make_top(f);
	f->r = new_registry();
	id = add_connection(f->r, "/ws/a");
	add_text(f->r, id, REGISTRY_RECEIVED, "msg-one");
	add_text(f->r, id, REGISTRY_SENT, "msg-two");
	add_text(f->r, id, REGISTRY_RECEIVED, "msg-three");
	f->s = start_in(f, f->dir);
	cr_assert_not_null(f->s, "start failed: %s", warned);
	return id;
}

static void teardown(struct fixture *f)
{
	char cmd[128];

	stats_server_stop(f->s);
	f->s = NULL;
	if (f->r)
		registry_free(f->r);
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", f->top);
	cr_assert_eq(system(cmd), 0);
}

/* ---- our client -------------------------------------------------------- */

/* A connected client socket; reads time out after 5 s so no test hangs. */
static int client_connect(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0,
		     "connect %s: %s", path, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_text(int fd, const char *text)
{
	size_t n = strlen(text);
	cr_assert_eq(send(fd, text, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Everything until end of file, NUL-terminated (never NULL). */
static char *read_all(int fd, size_t *len_out)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	cr_assert_not_null(buf);
	for (;;) {
		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

/* Sends line to the server at path and returns its whole answer. */
static char *ask(const char *path, const char *line)
{
	int fd = client_connect(path);
	char *answer;

	send_text(fd, line);
	answer = read_all(fd, NULL);
	close(fd);
	return answer;
}

/* ---- JSON checks through Python ---------------------------------------- */

/*
 * Evaluates the Python expression expr with d bound to the parsed JSON
 * text and returns what it prints, without the newline; NULL when json
 * does not parse. expr must not hold double quotes or '$'.
 */
static char *json_eval(const char *json, const char *expr)
{
	char path[] = "/tmp/wsdbg-json-XXXXXX";
	char cmd[1024], out[4096];
	size_t len;
	FILE *p;
	int fd = mkstemp(path), status;

	cr_assert_geq(fd, 0);
	len = strlen(json);
	cr_assert_eq(write(fd, json, len), (ssize_t)len);
	close(fd);
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -c 'import json,sys; "
		 "d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "
		 "%s \"%s\" 2>/dev/null",
		 path, expr);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	len = fread(out, 1, sizeof(out) - 1, p);
	status = pclose(p);
	unlink(path);
	if (status != 0)
		return NULL;
	out[len] = '\0';
	if (len > 0 && out[len - 1] == '\n')
		out[len - 1] = '\0';
	return strdup(out);
}

/* Asserts that expr evaluates to want on the JSON text json. */
#define assert_json(json, expr, want)                                          \
	do {                                                                   \
		char *got_ = json_eval((json), (expr));                        \
		cr_assert_not_null(got_, "not valid JSON: %.300s", (json));    \
		cr_assert_str_eq(got_, (want), "%s", (expr));                  \
		free(got_);                                                    \
	} while (0)

static char *id_hex(uint64_t id)
{
	static char buf[24];
	snprintf(buf, sizeof(buf), "%" PRIx64, id);
	return buf;
}

/* ---- the default directory --------------------------------------------- */

static const char *env_wsdbg_dir, *env_runtime_dir;

static const char *fake_env(const char *name)
{
	if (strcmp(name, "WSDBG_DIR") == 0)
		return env_wsdbg_dir;
	if (strcmp(name, "XDG_RUNTIME_DIR") == 0)
		return env_runtime_dir;
	return NULL;
}

Test(stats_server, default_dir_prefers_wsdbg_dir_then_xdg_runtime_dir)
{
	char out[128];

	env_wsdbg_dir = "/srv/wsdbg";
	env_runtime_dir = "/run/user/1000";
	cr_assert_eq(socket_dir_default(out, sizeof(out), fake_env), 0);
	cr_assert_str_eq(out, "/srv/wsdbg");

	env_wsdbg_dir = "";
	cr_assert_eq(socket_dir_default(out, sizeof(out), fake_env), 0);
	cr_assert_str_eq(out, "/run/user/1000/wsdbg");
}

Test(stats_server, default_dir_falls_back_to_tmp_with_the_uid)
{
	char out[128], want[64];

	env_wsdbg_dir = NULL;
	env_runtime_dir = "";
	snprintf(want, sizeof(want), "/tmp/wsdbg-%u", (unsigned)geteuid());
	cr_assert_eq(socket_dir_default(out, sizeof(out), fake_env), 0);
	cr_assert_str_eq(out, want);
}

Test(stats_server, default_dir_too_long_for_the_buffer_is_an_error)
{
	char out[8];

	env_wsdbg_dir = "/a/very/long/directory";
	cr_assert_eq(socket_dir_default(out, sizeof(out), fake_env),
		     -ENAMETOOLONG);
	cr_assert_str_eq(out, "");
}

/* ---- start: directory and socket safety -------------------------------- */

Test(stats_server, creates_the_missing_directory_0700_and_the_socket_0600)
{
	struct fixture f = {0};
	struct stat st;

	/* Even a umask that takes nothing away leaves the socket 0600. */
	umask(0);
	setup(&f);
	cr_assert_eq(lstat(f.dir, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0700, "dir mode %o", st.st_mode);
	cr_assert_eq(lstat(f.sock, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600, "socket mode %o", st.st_mode);
	cr_assert_eq(warn_count, 0);
	teardown(&f);
}

Test(stats_server, socket_descriptors_are_close_on_exec)
{
	struct fixture f = {0};
	int open_without_cloexec = 0;

	setup(&f);
	/* The server holds the listening socket; none of the process's
	 * descriptors past stdio may survive an exec. Criterion's own
	 * descriptors are checked too, so only count new sockets. */
	for (int fd = 3; fd < 1024; fd++) {
		int flags = fcntl(fd, F_GETFD);
		char link[64], target[128];
		ssize_t n;
		if (flags < 0 || (flags & FD_CLOEXEC))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, "socket:", 7) == 0 ||
		    strstr(target, "eventfd"))
			open_without_cloexec++;
	}
	cr_assert_eq(open_without_cloexec, 0);
	teardown(&f);
}

/* Starts a server on f->dir, which the test has prepared unsafely, and
 * asserts the refusal: NULL, one warn line naming the path and reason. */
static void assert_refused(struct fixture *f, const char *reason)
{
	warn_count = 0;
	warned[0] = '\0';
	f->s = start_in(f, f->dir);
	cr_assert_null(f->s);
	cr_assert_eq(warn_count, 1);
	cr_assert(strstr(warned, f->dir), "warn line lacks the path: %s",
		  warned);
	cr_assert(strstr(warned, reason), "warn line lacks '%s': %s", reason,
		  warned);
	cr_assert_eq(strncmp(warned, "wsdbg: ", 7), 0);
	cr_assert_null(strchr(warned, '\n'));
	cr_assert_eq(access(f->sock, F_OK), -1, "a socket was made anyway");
}

Test(stats_server, refuses_a_symlink_in_place_of_the_directory)
{
	struct fixture f = {0};
	char real[160];

	make_top(&f);
	f.r = new_registry();
	/* Even a symlink to a perfectly safe directory: it could be moved. */
	snprintf(real, sizeof(real), "%s/real", f.top);
	cr_assert_eq(mkdir(real, 0700), 0);
	cr_assert_eq(symlink(real, f.dir), 0);
	assert_refused(&f, "symbolic link");
	teardown(&f);
}

Test(stats_server, refuses_a_directory_owned_by_another_uid)
{
	struct fixture f = {0};

	make_top(&f);
	f.r = new_registry();
	cr_assert_eq(mkdir(f.dir, 0700), 0);
	cr_assert_eq(chown(f.dir, NOBODY, NOBODY), 0);
	assert_refused(&f, "owned by uid 65534");
	teardown(&f);
}

Test(stats_server, refuses_a_directory_open_to_group_or_others)
{
	struct fixture f = {0};

	make_top(&f);
	f.r = new_registry();
	cr_assert_eq(mkdir(f.dir, 0700), 0);
	cr_assert_eq(chmod(f.dir, 0777), 0);
	assert_refused(&f, "mode 0777");
	cr_assert_eq(chmod(f.dir, 0750), 0);
	assert_refused(&f, "mode 0750");
	teardown(&f);
}

Test(stats_server, refuses_a_file_in_place_of_the_directory)
{
	struct fixture f = {0};
	int fd;

	make_top(&f);
	f.r = new_registry();
	fd = open(f.dir, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	assert_refused(&f, "not a directory");
	teardown(&f);
}

Test(stats_server, creates_only_the_last_component_of_the_directory)
{
	struct fixture f = {0};

	make_top(&f);
	f.r = new_registry();
	snprintf(f.dir, sizeof(f.dir), "%s/missing/sock", f.top);
	snprintf(f.sock, sizeof(f.sock), "%s/%d.sock", f.dir, getpid());
	assert_refused(&f, "cannot be created");
	snprintf(f.dir, sizeof(f.dir), "%s/missing", f.top);
	cr_assert_eq(access(f.dir, F_OK), -1);
	teardown(&f);
}

Test(stats_server, replaces_a_stale_socket_of_ours_but_not_other_files)
{
	struct fixture f = {0};
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	char *answer, stale[2][128];
	int fd;

	make_top(&f);
	f.r = new_registry();
	cr_assert_eq(mkdir(f.dir, 0700), 0);

	/* A socket left by this pid's previous program (bound, never
	 * removed, nobody listening), at the socket's name or at the name it
	 * is bound to before it takes its own (a program that died between
	 * the two). */
	snprintf(stale[0], sizeof(stale[0]), "%s", f.sock);
	snprintf(stale[1], sizeof(stale[1]), "%s.new", f.sock);
	for (int i = 0; i < 2; i++) {
		cr_assert_lt(strlen(stale[i]), sizeof(addr.sun_path));
		memcpy(addr.sun_path, stale[i], strlen(stale[i]) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)),
			     0);
		close(fd);
		f.s = start_in(&f, f.dir);
		cr_assert_not_null(f.s, "%s", warned);
		answer = ask(f.sock, "ping\n");
		cr_assert_str_eq(answer, "pong\n");
		free(answer);
		cr_assert_eq(access(stale[1], F_OK), -1);
		stats_server_stop(f.s);
		f.s = NULL;
	}

	/* A regular file there is someone's data, not ours to remove. */
	fd = open(f.sock, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	warn_count = 0;
	f.s = start_in(&f, f.dir);
	cr_assert_null(f.s);
	cr_assert_eq(warn_count, 1);
	cr_assert(strstr(warned, f.sock), "%s", warned);
	cr_assert(strstr(warned, "not a socket of ours"), "%s", warned);
	cr_assert_eq(access(f.sock, F_OK), 0);
	teardown(&f);
}

Test(stats_server, a_live_socket_at_its_path_is_never_removed)
{
	struct fixture f = {0};
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat before, after;
	int fd;

	make_top(&f);
	f.r = new_registry();
	cr_assert_eq(mkdir(f.dir, 0700), 0);
	/* Someone listens there: the same pid number in another pid
	 * namespace sharing the directory. */
	memcpy(addr.sun_path, f.sock, strlen(f.sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(lstat(f.sock, &before), 0);
	warn_count = 0;
	f.s = start_in(&f, f.dir);
	cr_assert_null(f.s);
	cr_assert_eq(warn_count, 1);
	cr_assert(strstr(warned, "in use by a live process"), "%s", warned);
	cr_assert_eq(lstat(f.sock, &after), 0);
	cr_assert_eq(after.st_ino, before.st_ino);
	close(fd);
	teardown(&f);
}

Test(stats_server, the_socket_is_made_again_when_its_name_is_removed)
{
	struct fixture f = {0};
	char *answer = NULL;

	setup(&f);
	cr_assert_eq(unlink(f.sock), 0);
	/* It looks every STATS_SERVER_CHECK_MS while idle. */
	for (int i = 0; i < 40 && access(f.sock, F_OK) != 0; i++)
		usleep(100 * 1000);
	cr_assert_eq(access(f.sock, F_OK), 0, "not made again");
	answer = ask(f.sock, "ping\n");
	cr_assert_str_eq(answer, "pong\n");
	free(answer);
	teardown(&f);
}

/* The events inotify reported for name in dir since watch was set up, as
 * one mask (IN_CREATE, IN_MOVED_TO, ...). */
static uint32_t events_for(int watch, const char *name)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	uint32_t seen = 0;
	ssize_t n;

	while ((n = read(watch, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const void *)p;

			if (ev->len && strcmp(ev->name, name) == 0)
				seen |= ev->mask;
			p += sizeof(*ev) + ev->len;
		}
	}
	return seen;
}

Test(stats_server, the_socket_takes_its_name_only_once_it_listens)
{
	struct fixture f = {0};
	char name[32], bound[128];
	int watch;

	make_top(&f);
	f.r = new_registry();
	cr_assert_eq(mkdir(f.dir, 0700), 0);
	watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	cr_assert_geq(watch, 0);
	cr_assert_geq(inotify_add_watch(watch, f.dir,
					IN_CREATE | IN_MOVED_TO |
					    IN_MOVED_FROM | IN_DELETE),
		      0);
	f.s = start_in(&f, f.dir);
	cr_assert_not_null(f.s, "%s", warned);

	/* Bound and listening under another name first, then renamed: no
	 * client can find the path and be refused. */
	snprintf(name, sizeof(name), "%d.sock", getpid());
	cr_assert_eq(events_for(watch, name), IN_MOVED_TO,
		     "the path appeared other than by rename");
	snprintf(bound, sizeof(bound), "%s.new", f.sock);
	cr_assert_eq(access(bound, F_OK), -1, "%s is left", bound);
	close(watch);
	teardown(&f);
}

/* ---- the protocol ------------------------------------------------------ */

Test(stats_server, ping_is_answered_pong)
{
	struct fixture f = {0};
	char *answer;

	setup(&f);
	answer = ask(f.sock, "ping\n");
	cr_assert_str_eq(answer, "pong\n");
	free(answer);
	/* A request ended by the client's shutdown instead of "\n". */
	int fd = client_connect(f.sock);
	send_text(fd, "ping");
	shutdown(fd, SHUT_WR);
	answer = read_all(fd, NULL);
	close(fd);
	cr_assert_str_eq(answer, "pong\n");
	free(answer);
	teardown(&f);
}

Test(stats_server, snapshot_is_valid_json_with_the_connection_and_messages)
{
	struct fixture f = {0};
	uint64_t id = setup(&f);
	char want[64], *answer = ask(f.sock, "snapshot\r\n");

	cr_assert_eq(answer[strlen(answer) - 1], '\n');
	assert_json(answer, "d['wsdbg']", "1");
	snprintf(want, sizeof(want), "%d", getpid());
	assert_json(answer, "d['pid']", want);
	assert_json(answer, "d['process']", "test-host");
	assert_json(answer, "len(d['connections'])", "1");
	assert_json(answer, "d['connections'][0]['id']", id_hex(id));
	assert_json(answer, "d['connections'][0]['path']", "/ws/a");
	assert_json(answer, "d['connections'][0]['state']", "open");
	assert_json(answer,
		    "[m['text'] for m in d['connections'][0]['messages']]",
		    "['msg-one', 'msg-two', 'msg-three']");
	free(answer);
	teardown(&f);
}

Test(stats_server, snapshot_after_seq_returns_only_later_messages)
{
	struct fixture f = {0};
	char req[64], *seq, *answer;

	setup(&f);
	answer = ask(f.sock, "snapshot\n");
	seq = json_eval(answer, "d['connections'][0]['messages'][0]['seq']");
	cr_assert_not_null(seq);
	free(answer);

	snprintf(req, sizeof(req), "snapshot after=%s\n", seq);
	answer = ask(f.sock, req);
	assert_json(answer,
		    "[m['text'] for m in d['connections'][0]['messages']]",
		    "['msg-two', 'msg-three']");
	free(answer);

	/* Past the last message: the connection, no messages. */
	answer = ask(f.sock, "snapshot after=18446744073709551615\n");
	assert_json(answer, "len(d['connections'])", "1");
	assert_json(answer, "len(d['connections'][0]['messages'])", "0");
	free(answer);
	free(seq);
	teardown(&f);
}

Test(stats_server, snapshot_conn_returns_only_that_connection)
{
	struct fixture f = {0};
	char req[64], *answer;
	uint64_t b;

	setup(&f);
	b = add_connection(f.r, "/ws/b");
	add_text(f.r, b, REGISTRY_RECEIVED, "b-one");
	add_text(f.r, b, REGISTRY_RECEIVED, "b-two");

	answer = ask(f.sock, "snapshot\n");
	assert_json(answer, "len(d['connections'])", "2");
	free(answer);

	snprintf(req, sizeof(req), "snapshot conn=%s\n", id_hex(b));
	answer = ask(f.sock, req);
	assert_json(answer, "[c['path'] for c in d['connections']]",
		    "['/ws/b']");
	assert_json(answer,
		    "[m['text'] for m in d['connections'][0]['messages']]",
		    "['b-one', 'b-two']");
	free(answer);
	teardown(&f);
}

Test(stats_server, snapshot_combines_conn_and_after_in_any_order)
{
	struct fixture f = {0};
	char req[96], *seq, *answer;
	uint64_t b;

	setup(&f);
	b = add_connection(f.r, "/ws/b");
	add_text(f.r, b, REGISTRY_RECEIVED, "b-one");
	add_text(f.r, b, REGISTRY_RECEIVED, "b-two");
	answer = ask(f.sock, "snapshot\n");
	seq = json_eval(answer, "d['connections'][1]['messages'][0]['seq']");
	cr_assert_not_null(seq);
	free(answer);

	snprintf(req, sizeof(req), "snapshot  after=%s conn=%s\n", seq,
		 id_hex(b));
	answer = ask(f.sock, req);
	assert_json(answer,
		    "[(c['path'], [m['text'] for m in c['messages']]) "
		    "for c in d['connections']]",
		    "[('/ws/b', ['b-two'])]");
	free(answer);

	snprintf(req, sizeof(req), "snapshot conn=%s after=%s\n", id_hex(b),
		 seq);
	answer = ask(f.sock, req);
	assert_json(answer,
		    "[(c['path'], [m['text'] for m in c['messages']]) "
		    "for c in d['connections']]",
		    "[('/ws/b', ['b-two'])]");
	free(answer);
	free(seq);
	teardown(&f);
}

Test(stats_server, summary_omits_the_messages)
{
	struct fixture f = {0};
	char req[64], *answer;

	uint64_t id = setup(&f);
	answer = ask(f.sock, "summary\n");
	assert_json(answer, "len(d['connections'])", "1");
	assert_json(answer, "d['connections'][0].get('messages', [])", "[]");
	assert_json(answer, "d['totals']['messages_received']", "2");
	cr_assert_null(strstr(answer, "msg-one"));
	free(answer);

	snprintf(req, sizeof(req), "summary conn=%s\n", id_hex(id));
	answer = ask(f.sock, req);
	assert_json(answer, "[c['path'] for c in d['connections']]",
		    "['/ws/a']");
	free(answer);
	teardown(&f);
}

Test(stats_server, unknown_or_malformed_requests_get_a_json_error)
{
	static const char *const bad[] = {
	    "hello\n",
	    "\n",
	    "snapshot after=\n",
	    "snapshot after=12x\n",
	    "snapshot after=99999999999999999999999\n",
	    "snapshot after=1 after=2\n",
	    "snapshot conn=0\n",
	    "snapshot conn=xyz\n",
	    "snapshot conn=11112222333344445\n",
	    "snapshot verbose\n",
	    "summary after=3\n",
	    "ping now\n",
	    "PING\n",
	    "sn\"ap\\\x01\xff\n",
	};
	struct fixture f = {0};

	setup(&f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *answer = ask(f.sock, bad[i]);
		cr_assert_eq(answer[strlen(answer) - 1], '\n', "%s", bad[i]);
		assert_json(answer, "d['wsdbg']", "1");
		assert_json(answer,
			    "d['error'].startswith('unknown request: ')",
			    "True");
		free(answer);
	}
	char *answer = ask(f.sock, "hello world\n");
	assert_json(answer, "d['error']", "unknown request: hello world");
	free(answer);
	answer = ask(f.sock, "x\"\\\x01\n");
	assert_json(answer, "[ord(c) for c in d['error'][-3:]]", "[34, 92, 1]");
	free(answer);
	teardown(&f);
}

Test(stats_server, a_request_line_over_1_kib_gets_an_error)
{
	struct fixture f = {0};
	char line[STATS_SERVER_MAX_REQUEST + 64], *answer;

	setup(&f);
	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	answer = ask(f.sock, line);
	assert_json(answer, "'longer than 1024 bytes' in d['error']", "True");
	free(answer);

	/* 1023 characters and "\n" is the longest line: parsed, unknown. */
	memcpy(line, "snapshot ", 9);
	memset(line + 9, 'b', STATS_SERVER_MAX_REQUEST - 10);
	line[STATS_SERVER_MAX_REQUEST - 1] = '\n';
	line[STATS_SERVER_MAX_REQUEST] = '\0';
	answer = ask(f.sock, line);
	assert_json(answer, "d['error'][:26]", "unknown request: snapshot ");
	assert_json(answer, "len(d['error'])", "1040"); /* 17 + 1023 */
	free(answer);
	teardown(&f);
}

/* ---- who may ask ------------------------------------------------------- */

Test(stats_server, a_client_of_another_uid_gets_no_answer)
{
	struct fixture f = {0};
	char *answer;
	int status;
	pid_t child;

	setup(&f);
	/* Let the other user reach the socket, so only SO_PEERCRED stands
	 * in its way. */
	cr_assert_eq(chmod(f.top, 0711), 0);
	cr_assert_eq(chmod(f.dir, 0711), 0);
	cr_assert_eq(chmod(f.sock, 0666), 0);

	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		struct sockaddr_un addr = {.sun_family = AF_UNIX};
		char buf[64];
		ssize_t n;
		int fd;

		if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(10);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f.sock);
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			_exit(11);
		if (send(fd, "ping\n", 5, MSG_NOSIGNAL) < 0 && errno != EPIPE)
			_exit(12);
		n = recv(fd, buf, sizeof(buf), 0);
		/* End of file (or a reset) without one byte. */
		_exit(n <= 0 ? 0 : 13);
	}
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child status %d",
		     WEXITSTATUS(status));

	answer = ask(f.sock, "ping\n");
	cr_assert_str_eq(answer, "pong\n");
	free(answer);
	teardown(&f);
}

Test(stats_server, a_server_of_another_user_answers_that_user_and_root)
{
	struct fixture f = {0};
	char *answer;

	make_top(&f);
	f.r = new_registry();
	cr_assert_eq(chown(f.top, NOBODY, NOBODY), 0);
	/* Only the effective uid changes; root stays the saved uid. The
	 * server thread follows (glibc's setxid signal reaches it even
	 * though it blocks every signal it may). */
	cr_assert_eq(setresuid((uid_t)-1, NOBODY, 0), 0);
	f.s = start_in(&f, f.dir);
	cr_assert_not_null(f.s, "%s", warned);
	answer = ask(f.sock, "ping\n");
	cr_assert_str_eq(answer, "pong\n");
	free(answer);

	cr_assert_eq(setresuid((uid_t)-1, 0, 0), 0);
	answer = ask(f.sock, "ping\n");
	cr_assert_str_eq(answer, "pong\n", "root was not answered");
	free(answer);
	teardown(&f);
}

/* ---- never blocking ---------------------------------------------------- */

Test(stats_server, a_silent_client_does_not_keep_the_next_one_waiting_long)
{
	struct fixture f = {0};
	double t0;
	char *answer;
	int silent;

	setup(&f);
	silent = client_connect(f.sock);
	usleep(50 * 1000); /* the server is now reading from it */
	t0 = mono_s();
	answer = ask(f.sock, "ping\n");
	cr_assert_str_eq(answer, "pong\n");
	cr_assert_lt(mono_s() - t0, STATS_SERVER_READ_MS / 1000.0 + 0.5);
	free(answer);

	/* The silent one was dropped without an answer. */
	answer = read_all(silent, NULL);
	cr_assert_str_eq(answer, "");
	free(answer);
	close(silent);
	teardown(&f);
}

Test(stats_server, a_client_that_never_reads_does_not_keep_the_next_waiting)
{
	struct fixture f = {0};
	char text[10001], *answer;
	size_t got;
	double t0;
	int stuck;

	make_top(&f);
	f.r = new_registry();
	/* About 4 MB of JSON: far more than the socket buffers hold. */
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	uint64_t id = add_connection(f.r, "/ws/big");
	for (int i = 0; i < 400; i++)
		add_text(f.r, id, REGISTRY_SENT, text);
	f.s = start_in(&f, f.dir);
	cr_assert_not_null(f.s, "%s", warned);

	stuck = client_connect(f.sock);
	send_text(stuck, "snapshot\n");
	usleep(100 * 1000); /* the server is now writing to it */
	t0 = mono_s();
	answer = ask(f.sock, "ping\n");
	cr_assert_str_eq(answer, "pong\n");
	cr_assert_lt(mono_s() - t0, STATS_SERVER_WRITE_MS / 1000.0 + 1.0);
	free(answer);

	/* The stuck one got a cut answer and the end of the connection. */
	answer = read_all(stuck, &got);
	cr_assert_gt(got, 0);
	cr_assert_lt(got, 4000000);
	free(answer);
	close(stuck);
	teardown(&f);
}

Test(stats_server, sixteen_stalled_readers_do_not_keep_a_ping_waiting)
{
	struct fixture f = {0};
	char text[10001], *answer;
	enum { STUCK = 16 };
	int stuck[STUCK];

	cr_assert_gt(STATS_SERVER_CLIENTS, STUCK);
	double t0;

	make_top(&f);
	f.r = new_registry();
	/* Each answer, about 400 KB of JSON, is more than a socket holds. */
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	uint64_t id = add_connection(f.r, "/ws/big");
	for (int i = 0; i < 40; i++)
		add_text(f.r, id, REGISTRY_SENT, text);
	f.s = start_in(&f, f.dir);
	cr_assert_not_null(f.s, "%s", warned);

	for (size_t i = 0; i < STUCK; i++) {
		stuck[i] = client_connect(f.sock);
		send_text(stuck[i], "snapshot\n");
	}
	usleep(200 * 1000); /* all are being written to, none reads */
	t0 = mono_s();
	answer = ask(f.sock, "ping\n");
	double took = mono_s() - t0;
	cr_assert_str_eq(answer, "pong\n");
	free(answer);
	/* Served beside them, not after their deadlines (one after the
	 * other, it would wait 16 times STATS_SERVER_WRITE_MS). */
	cr_assert_lt(took, STATS_SERVER_WRITE_MS / 1000.0 * 0.75);
	for (size_t i = 0; i < STUCK; i++)
		close(stuck[i]);
	teardown(&f);
}

Test(stats_server, more_silent_clients_than_slots_delay_the_next_by_one_deadline)
{
	struct fixture f = {0};
	int silent[STATS_SERVER_CLIENTS + 4];
	char *answer;
	double t0;

	setup(&f);
	for (size_t i = 0; i < STATS_SERVER_CLIENTS + 4; i++)
		silent[i] = client_connect(f.sock);
	usleep(50 * 1000);
	t0 = mono_s();
	answer = ask(f.sock, "ping\n");
	cr_assert_str_eq(answer, "pong\n");
	/* The first STATS_SERVER_CLIENTS hold every slot until their read
	 * deadline, then the rest and the ping are taken together. */
	cr_assert_lt(mono_s() - t0, 2 * STATS_SERVER_READ_MS / 1000.0 + 0.5);
	free(answer);
	for (size_t i = 0; i < STATS_SERVER_CLIENTS + 4; i++)
		close(silent[i]);
	teardown(&f);
}

Test(stats_server, a_thousand_clients_at_once_are_all_answered)
{
	enum { N = 1000 };
	struct fixture f = {0};
	static int fd[N];
	struct rlimit lim;
	int answered = 0;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &lim), 0);
	if (lim.rlim_cur < N + 64) {
		lim.rlim_cur = lim.rlim_max < N + 64 ? lim.rlim_max : N + 64;
		setrlimit(RLIMIT_NOFILE, &lim);
	}
	setup(&f);
	/* All connect and ask before any answer is read: the backlog holds
	 * what the slots cannot take yet. */
	for (int i = 0; i < N; i++) {
		fd[i] = client_connect(f.sock);
		send_text(fd[i], i % 2 ? "summary\n" : "ping\n");
	}
	for (int i = 0; i < N; i++) {
		size_t got = 0;
		char *answer = read_all(fd[i], &got);
		if (i % 2 ? got > 0 && strstr(answer, "\"/ws/a\"") != NULL
			  : strcmp(answer, "pong\n") == 0)
			answered++;
		free(answer);
		close(fd[i]);
	}
	cr_assert_eq(answered, N);
	teardown(&f);
}

Test(stats_server, a_client_that_vanishes_before_the_answer_does_no_harm)
{
	struct fixture f = {0};
	char *answer;

	setup(&f);
	for (int i = 0; i < 5; i++) {
		int fd = client_connect(f.sock);
		send_text(fd, "snapshot\n");
		close(fd);
	}
	/* No SIGPIPE killed us, and the server still answers. */
	answer = ask(f.sock, "ping\n");
	cr_assert_str_eq(answer, "pong\n");
	free(answer);
	teardown(&f);
}

static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen = 1;
}

Test(stats_server, the_hosts_signals_are_never_delivered_to_the_server)
{
	struct fixture f = {0};
	struct sigaction sa = {.sa_handler = on_usr1};
	sigset_t usr1, pending;
	char *answer;

	setup(&f);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	/* With the host's only thread blocking it, a process signal could
	 * go only to the server thread - which must block it too. */
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	kill(getpid(), SIGUSR1);
	answer = ask(f.sock, "ping\n"); /* the server thread has run */
	free(answer);
	cr_assert_eq(usr1_seen, 0);
	sigpending(&pending);
	cr_assert(sigismember(&pending, SIGUSR1));
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	cr_assert_eq(usr1_seen, 1);
	teardown(&f);
}

/* ---- stop and fork ----------------------------------------------------- */

Test(stats_server, stop_removes_the_socket_and_returns_at_once)
{
	struct fixture f = {0};
	double t0;
	int silent;

	setup(&f);
	/* Even while a silent client holds the server. */
	silent = client_connect(f.sock);
	usleep(50 * 1000);
	t0 = mono_s();
	stats_server_stop(f.s);
	f.s = NULL;
	cr_assert_lt(mono_s() - t0, 0.3);
	cr_assert_eq(access(f.sock, F_OK), -1);
	cr_assert_eq(errno, ENOENT);
	close(silent);
	teardown(&f);
}

static pthread_t init_thread;
static int init_calls;

static void record_thread_init(void)
{
	init_thread = pthread_self();
	init_calls++;
}

Test(stats_server, thread_init_runs_on_the_server_thread)
{
	struct fixture f = {0};
	struct stats_server_config cfg = {
	    .pid = getpid(),
	    .thread_init = record_thread_init,
	    .warn = record_warn,
	};
	char *answer;

	make_top(&f);
	f.r = new_registry();
	cfg.dir = f.dir;
	f.s = stats_server_start(f.r, &cfg);
	cr_assert_not_null(f.s);
	answer = ask(f.sock, "ping\n");
	free(answer);
	cr_assert_eq(init_calls, 1);
	cr_assert_not(pthread_equal(init_thread, pthread_self()));
	teardown(&f);
}

Test(stats_server, forget_in_a_fork_child_leaves_the_parents_server_alone)
{
	struct fixture f = {0};
	char *answer;
	int status;
	pid_t child;

	setup(&f);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		stats_server_forget(f.s);
		_exit(0);
	}
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_eq(access(f.sock, F_OK), 0);
	answer = ask(f.sock, "ping\n");
	cr_assert_str_eq(answer, "pong\n");
	free(answer);
	teardown(&f);
}

Test(stats_server, a_relative_directory_is_taken_from_the_current_one)
{
	struct fixture f = {0};
	char *answer;

	make_top(&f);
	f.r = new_registry();
	cr_assert_eq(chdir(f.top), 0);
	f.s = start_in(&f, "sock");
	cr_assert_not_null(f.s, "%s", warned);
	cr_assert_eq(chdir("/"), 0);
	answer = ask(f.sock, "ping\n");
	cr_assert_str_eq(answer, "pong\n");
	free(answer);
	stats_server_stop(f.s);
	f.s = NULL;
	cr_assert_eq(access(f.sock, F_OK), -1);
	teardown(&f);
}

/* ---- its descriptors: adopted, and never another's ---------------------- */

/* fd_adopt and fd_forget as a host-hiding caller (the shim) would set
 * them: moves each descriptor to the lowest free number from 900. */
static int adopted[16], nadopted;
static int forgotten[16], nforgotten;

static int adopt_high(int fd)
{
	int high = fcntl(fd, F_DUPFD_CLOEXEC, 900);

	cr_assert_geq(high, 900);
	close(fd);
	if (nadopted < 16)
		adopted[nadopted++] = high;
	return high;
}

static void record_forget(int fd)
{
	if (nforgotten < 16)
		forgotten[nforgotten++] = fd;
}

static struct stats_server *start_adopting(struct fixture *f)
{
	struct stats_server_config cfg = {
	    .dir = f->dir,
	    .pid = getpid(),
	    .warn = record_warn,
	    .fd_adopt = adopt_high,
	    .fd_forget = record_forget,
	};

	nadopted = nforgotten = 0;
	make_top(f);
	f->r = new_registry();
	return stats_server_start(f->r, &cfg);
}

/* The socket inode behind fd, or 0. */
static ino_t inode_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/* Asks "ping" until the answer is "pong", for 3 s at most. */
static bool pong_within_3s(const char *path)
{
	for (int i = 0; i < 300; i++) {
		struct sockaddr_un addr = {.sun_family = AF_UNIX};
		struct timeval tv = {.tv_sec = 1};
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		char buf[16] = "";
		ssize_t n = -1;

		cr_assert_geq(fd, 0);
		snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
		    send(fd, "ping\n", 5, MSG_NOSIGNAL) == 5)
			n = recv(fd, buf, sizeof(buf) - 1, MSG_WAITALL);
		close(fd);
		if (n == 5 && memcmp(buf, "pong\n", 5) == 0)
			return true;
		usleep(10 * 1000);
	}
	return false;
}

Test(stats_server, every_descriptor_it_makes_is_adopted_first)
{
	struct fixture f = {0};
	char *answer;

	f.s = start_adopting(&f);
	cr_assert_not_null(f.s, "%s", warned);
	cr_assert_eq(nadopted, 1, "the listening socket");
	cr_assert_geq(adopted[0], 900);
	cr_assert_neq(inode_of(adopted[0]), 0);
	for (int i = 0; i < 3; i++) {
		answer = ask(f.sock, "ping\n");
		cr_assert_str_eq(answer, "pong\n");
		free(answer);
	}
	/* One more per client, each closed again by the server. */
	cr_assert_eq(nadopted, 4);
	for (int i = 1; i < 4; i++)
		cr_assert_eq(fcntl(adopted[i], F_GETFD), -1, "client %d", i);
	cr_assert_eq(nforgotten, 0);
	teardown(&f);
}

Test(stats_server, a_listening_socket_replaced_behind_its_back_is_left_alone_and_made_again)
{
	struct fixture f = {0};
	int listener, null;
	ino_t null_inode;

	f.s = start_adopting(&f);
	cr_assert_not_null(f.s, "%s", warned);
	listener = adopted[0];
	/* What a daemon's raw close-and-reopen does: the number is someone
	 * else's file now. */
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(null, 0);
	cr_assert_eq(dup2(null, listener), listener);
	close(null);
	null_inode = inode_of(listener);
	/* The server finds out at its next wake-up (a client knocking on
	 * the old socket), lets the number go and listens anew. */
	cr_assert(pong_within_3s(f.sock), "the server answers again");
	cr_assert_eq(nforgotten, 1);
	cr_assert_eq(forgotten[0], listener);
	cr_assert_eq(inode_of(listener), null_inode,
		     "the number still holds what was put there");
	cr_assert_geq(nadopted, 2, "a new listening socket");
	/* Stop leaves that number alone too. */
	stats_server_stop(f.s);
	f.s = NULL;
	cr_assert_eq(inode_of(listener), null_inode);
	cr_assert_eq(access(f.sock, F_OK), -1, "the new socket file removed");
	close(listener);
	teardown(&f);
}

Test(stats_server, a_listening_socket_shut_down_under_it_is_made_again)
{
	struct fixture f = {0};
	ino_t old_inode;

	f.s = start_adopting(&f);
	cr_assert_not_null(f.s, "%s", warned);
	old_inode = inode_of(adopted[0]);
	/* Shut down by someone else: it hangs up, nothing accepts. */
	cr_assert_eq(shutdown(adopted[0], SHUT_RDWR), 0);
	cr_assert(pong_within_3s(f.sock), "the server answers again");
	cr_assert_eq(nforgotten, 0, "its own socket, closed, not forgotten");
	cr_assert_eq(fcntl(adopted[0], F_GETFD) == -1 ||
			 inode_of(adopted[0]) != old_inode,
		     1, "the dead socket was closed");
	teardown(&f);
}

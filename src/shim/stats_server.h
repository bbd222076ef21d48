/*
 * stats_server.h - the per-process stats server: a thread inside the host
 * program that answers snapshot requests on a Unix socket,
 * <dir>/<pid>.sock (DESIGN.md, "The socket and its protocol").
 *
 * Protocol. A client connects, sends one request line, reads the answer
 * until end of file; the server closes after answering. A line ends at
 * "\n" (a "\r" before it is ignored) or where the client shuts down its
 * sending side; it is at most STATS_SERVER_MAX_REQUEST bytes. Words are
 * separated by one or more spaces; options may come in any order, each at
 * most once.
 *
 *   ping                              -> "pong\n"
 *   snapshot [after=SEQ] [conn=ID]    -> the JSON snapshot with messages
 *   summary [conn=ID]                 -> the JSON snapshot without messages
 *
 *   after=SEQ  only messages with seq > SEQ (decimal), for live follow;
 *              connections are still all listed.
 *   conn=ID    only the connection whose "id" is ID (hex, as the JSON
 *              shows it; 1 to 16 digits, not 0).
 *
 * A JSON answer is the registry's snapshot (schema version 1) followed by
 * "\n". Anything else - an unknown word, a malformed or repeated option, a
 * line too long - gets {"wsdbg": 1, "error": "..."} and "\n", where the
 * message starts with "unknown request: " and quotes the line (or says
 * the line is too long). A client that is neither our effective uid nor
 * root is closed without an answer (SO_PEERCRED).
 *
 * Never disturbing the host: the thread blocks every signal (the host's
 * signals go to its own threads) and runs on a small stack of its own
 * (STATS_SERVER_STACK). Its descriptors stay out of the host's table:
 * where the config's private_fds gives the thread a descriptor table of
 * its own, they are made there, and the host can neither see, number nor
 * close them; otherwise (a kernel without CLOSE_RANGE_UNSHARE) they are
 * close-on-exec and handed to the config's fd_adopt as soon as they are
 * made (the shim moves them out of the host's way), and the server never
 * closes or uses a number that is no longer the file it made (checked by
 * device and inode). It writes with MSG_NOSIGNAL (no SIGPIPE). A request
 * must arrive within STATS_SERVER_READ_MS of the connection and the
 * answer must be taken within STATS_SERVER_WRITE_MS, else the client is
 * dropped; up to STATS_SERVER_CLIENTS clients are served side by side,
 * the next ones wait in the listening socket's backlog
 * (STATS_SERVER_BACKLOG). The registry lock is held only inside
 * registry_snapshot_json(), never while writing; the snapshot leaves out
 * closed connections past their ttl (the host's threads free them). The
 * thread allocates nothing through malloc or free (glibc would give it an
 * arena of its own): each answer lives in mappings of its own
 * (stats_mem.h), unmapped once sent.
 *
 * Surviving the host: when the listening socket dies under the server
 * (closed or replaced by the host through calls no hook sees, shut down)
 * the thread makes a new one at the same path, at once and then every
 * STATS_SERVER_RETRY_MS while that fails, instead of ending. So it does
 * when its name goes (someone removed <pid>.sock, or put another file
 * there): the thread looks every STATS_SERVER_CHECK_MS.
 *
 * Only libc and pthreads; Linux (SO_PEERCRED, accept4).
 */
#ifndef WSDBG_STATS_SERVER_H
#define WSDBG_STATS_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "socket_dir.h"
#include "wsdbg/registry.h"

/* The longest request line, "\n" included. */
#define STATS_SERVER_MAX_REQUEST 1024
/* How long a client has to send its request after connecting. */
#define STATS_SERVER_READ_MS 1000
/* How long a client has to take the whole answer. */
#define STATS_SERVER_WRITE_MS 2000
/* Between two attempts to make a new listening socket. */
#define STATS_SERVER_RETRY_MS 1000
/* Clients served side by side: a slow or stalled reader holds one slot
 * until its deadline, never the others. */
#define STATS_SERVER_CLIENTS 64
/* Pending connections the kernel queues (it caps this at somaxconn) while
 * the clients being served fill every slot: a burst of `wsdbg` queries
 * waits there rather than being refused. */
#define STATS_SERVER_BACKLOG 1024
/* The answers queued for clients, in bytes: no new client is accepted
 * while they add up to this much (one answer may go past it), so the
 * thread's memory stays about this plus one snapshot. */
#define STATS_SERVER_QUEUED_MAX ((size_t)64 << 20)
/* How often an idle server checks that <pid>.sock is still its socket. */
#define STATS_SERVER_CHECK_MS 1000
/* The thread's stack: its deepest path (a snapshot, an error answer)
 * needs a few tens of KiB; a sanitizer's instrumentation several times
 * more. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STATS_SERVER_STACK (2u << 20)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define STATS_SERVER_STACK (2u << 20)
#endif
#endif
#ifndef STATS_SERVER_STACK
#define STATS_SERVER_STACK (256u << 10)
#endif

struct stats_server_config {
	/* Socket directory; a relative one is taken from the current
	 * directory at start. */
	const char *dir;
	/* The host's pid: the socket is <dir>/<pid>.sock. */
	int pid;
	/* Program name for snapshots; copied; may be NULL. */
	const char *process;
	/* Run first on the server thread, before anything else (the shim
	 * marks the thread so its own I/O is not recorded); may be NULL. */
	void (*thread_init)(void);
	/* Run on the server thread right after thread_init, before it makes
	 * any descriptor: gives the thread a descriptor table of its own,
	 * shared with no other thread, and returns true when it did. Then
	 * fd_adopt and fd_forget are not used: nothing the server makes is
	 * in the host's table. May be NULL (the table stays shared). */
	bool (*private_fds)(void);
	/* Called with one line ("wsdbg: ...", no trailing newline) for each
	 * problem; only during stats_server_start() and stop, and always on
	 * the caller's thread. May be NULL. */
	void (*warn)(const char *line);
	/* Called with each descriptor the server has just made (its
	 * listening socket, before binding it; each client): returns the
	 * descriptor to use instead (closing fd when it is another), or fd.
	 * The server closes what it adopted with close(). May be NULL. */
	int (*fd_adopt)(int fd);
	/* Called when the server stops using an adopted descriptor without
	 * closing it, because the number is no longer the file it made (the
	 * host closed or replaced it behind the server's back). May be
	 * NULL. */
	void (*fd_forget)(int fd);
};

/* The directory to pass as dir: socket_dir_default() (socket_dir.h). */

struct stats_server;

/*
 * Starts the thread, which makes the directory safe and binds the socket
 * (in its own descriptor table when private_fds gives it one); returns
 * once it listens, or failed (then NULL), or after about a second in
 * any case (a thread that cannot even run is not waited for longer: it
 * goes on and the server is returned).
 *
 * The directory is created (mode 0700, only its last component) when
 * missing. It must then be a real directory (not a symlink), owned by our
 * effective uid, with no group or other permission bits (mode & 077 == 0).
 * A leftover socket at <dir>/<pid>.sock owned by us (from an earlier
 * program this pid ran before exec) is removed; anything else there is
 * refused; the same at <dir>/<pid>.sock.new. The socket is bound there,
 * made mode 0600 whatever the umask (the umask is never changed: it is
 * process-wide and the host may be creating files), set listening, and
 * only then renamed to <dir>/<pid>.sock: a client that finds the name can
 * connect.
 *
 * r must outlive the server (stop it before registry_free). Returns NULL,
 * after exactly one warn line naming the path and the reason, when
 * anything is unsafe or fails; the host goes on untouched.
 */
struct stats_server *stats_server_start(struct registry *r,
					const struct stats_server_config *cfg);

/*
 * Stops the server: removes the socket file if it is still the one we
 * bound (clients stop finding it at once), then ends the thread. With a
 * shared descriptor table, shutting its listening socket down wakes it;
 * stop waits at most about a second for it (it notices at once unless it
 * is inside registry_snapshot_json; if it is still busy then, it is left
 * to finish and free itself, after one warn line). With a private table
 * the caller cannot reach the thread's descriptors: the thread is left to
 * notice on its own, within STATS_SERVER_CHECK_MS (or as soon as the
 * client it serves is done), and to free the object; stop returns at
 * once. Either way r must stay valid until the process ends or the thread
 * is gone. s may be NULL.
 */
void stats_server_stop(struct stats_server *s);

/*
 * In a fork child: closes the child's copies of the server's descriptors
 * (it has none when the thread's table was private) and frees the object,
 * without touching the thread (it does not exist in the child) or the
 * socket file (it is the parent's). s may be NULL.
 */
void stats_server_forget(struct stats_server *s);

/* Removes <dir>/<pid>.sock and <dir>/<pid>.sock.new when they are sockets
 * of our effective uid that nothing listens on: what this pid's previous
 * program left when it exec'd with its server running (exec ends the
 * thread, not the file). dir is absolute. Quiet; touches nothing else. */
void stats_server_clear_stale(const char *dir, int pid);

/* Whether the thread's descriptors are in a table of its own (config's
 * private_fds succeeded). */
bool stats_server_private_fds(const struct stats_server *s);

/* The socket's path, <dir>/<pid>.sock with dir made absolute; valid until
 * stop or forget. */
const char *stats_server_path(const struct stats_server *s);

#endif

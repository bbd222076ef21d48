/*
 * registry.h - what wsdbg knows about the process's WebSocket connections:
 * each connection's handshake, state, counters, ping round-trip times and
 * a bounded ring of its recent messages; totals for the process; and the
 * JSON snapshot (schema version 1; its keys in src/registry/snapshot.c
 * and the README) built from them.
 *
 * Bounded whatever the traffic:
 *   - at most max_connections connections are kept in detail. Open ones
 *     are never evicted; when the table is full the oldest closed one goes
 *     (counted in totals.evicted); when every kept one is open, a new
 *     connection is not detailed (registry_open returns 0) but counted in
 *     totals.untracked, and its traffic in the totals (capture does not
 *     inflate it: its compressed messages count their wire size);
 *   - closed connections leave after ttl seconds (registry_expire);
 *   - each connection keeps its last max_messages messages (older ones are
 *     dropped and counted in messages_dropped);
 *   - stored message data (text, hex previews, close reasons) is capped
 *     per connection (max_conn_memory) and for the whole registry
 *     (max_memory): past a cap the oldest stored data goes first, the
 *     message itself stays listed with "text_dropped": true;
 *   - everything held for connections is capped the same way, per
 *     connection (max_conn_held) and in all (max_held): a connection's
 *     record and strings, its ring, what the caller holds for it and
 *     reports (registry_batch_capture_memory: the capture stream and its
 *     decoders' buffers and inflate state; inflate state counts in all
 *     only) and its stored data. Only
 *     stored data can be given up, oldest first; when the rest alone
 *     reaches a cap, nothing more is stored under it. Every figure is an
 *     allocation as the heap counts it (chunk header and rounding);
 *   - compressed messages are inflated up to max_inflate bytes each (and
 *     a host call's messages up to max_inflate + 32 per byte it moved):
 *     past it a message is listed with its size as a lower bound
 *     ("size_is_lower_bound"), and, with context takeover, the later
 *     compressed messages of its direction with their size on the wire
 *     ("inflated": false); both counted in the totals.
 *
 * Thread safety: one mutex per registry guards everything in it. It is
 * never held while calling out of the registry (no callbacks, no I/O) and
 * is not nested with any other lock. Snapshot data is copied under the
 * lock and serialised after releasing it.
 *
 * Times are seconds since the epoch as doubles (microsecond resolution).
 */
#ifndef WSDBG_REGISTRY_H
#define WSDBG_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsdbg/ws_decoder.h"

/* Limits and switches; see DESIGN.md's environment table. */
struct registry_config {
	/* (In an order with no holes: the first 64 bytes, which recording a
	 * message reads, on 64-bit targets; then what only a new
	 * connection's decoders read.) */
	unsigned max_connections; /* WSDBG_MAX_CONNECTIONS, 50 */
	unsigned max_messages;    /* WSDBG_MAX_MESSAGES, 100 per connection */
	unsigned ttl;             /* WSDBG_TTL, 3600 s for closed connections */
	bool show_binary;         /* WSDBG_SHOW_BINARY, false */
	bool inflate;             /* WSDBG_INFLATE, true */
	bool metadata_only;       /* WSDBG_CAPTURE=metadata: keep no content */
	size_t max_message_size;  /* WSDBG_MAX_MESSAGE_SIZE, 10240 text bytes */
	size_t binary_preview;    /* WSDBG_BINARY_PREVIEW, 256 bytes */
	size_t max_memory;        /* WSDBG_MAX_MEMORY, all stored data */
	size_t max_conn_memory;   /* stored data per connection, 100 KiB */
	size_t max_held;          /* WSDBG_MAX_MEMORY, all held (see above) */
	size_t max_conn_held;     /* all held per connection, 100 KiB */
	/* WSDBG_MAX_INFLATE, 1 MiB: bytes inflated of one compressed
	 * message at most, and with 32 more per byte read, of all the
	 * messages one host call brings (ws_decoder.h: the bound on the
	 * work done inside a host call). 1 MiB is what python-websockets
	 * inflates of a message before it refuses it (its max_size): a
	 * capped message costs the host no more than its own library's
	 * work, 2.3 ms of a read on this project's 2-core machine for a
	 * bomb of zeros (5 ms under ASan), where inflating the whole 1 GiB
	 * took 2.5 to 5 s. */
	size_t max_inflate;
};

/* The defaults above (max_memory: REGISTRY_DEFAULT_MAX_MEMORY). */
#define REGISTRY_DEFAULT_MAX_MEMORY (8u << 20)
void registry_config_defaults(struct registry_config *cfg);

/* Reads the WSDBG_* variables through lookup (getenv-like: NULL when
 * unset; a NULL lookup means getenv) into cfg, which holds defaults.
 * Numbers are plain decimal digits (WSDBG_MAX_MEMORY and WSDBG_MAX_INFLATE
 * also take a K, M or G suffix, powers of 1024); switches are 0 or 1;
 * WSDBG_CAPTURE is full or metadata. A bad value (not a number, 0 where a
 * positive one is needed, beyond 64 bits, trailing junk, empty) keeps the
 * default and calls warn once with one line without newline, e.g.
 * "wsdbg: WSDBG_MAX_MESSAGES='abc' is not a positive integer; using 100".
 * A value above a sensible cap (see config.c) is lowered to the cap with
 * a warning ("... is more than 100000; using 100000"). warn may be NULL.
 * Returns the number of values warned about. */
int registry_config_from_env(struct registry_config *cfg,
			     const char *(*lookup)(const char *name, void *ctx),
			     void (*warn)(const char *line, void *ctx),
			     void *ctx);

/* The decoder settings that follow from cfg for one direction (keep sizes,
 * inflate and its cap, borrow_masked and defer_utf8: the registry takes
 * messages still masked and judges their UTF-8 as it copies them);
 * deflate parameters are set by the caller from the handshake. */
void registry_decoder_config(const struct registry_config *cfg,
			     struct ws_decoder_config *out);

enum registry_role { REGISTRY_SERVER, REGISTRY_CLIENT };

enum registry_state {
	REGISTRY_CONNECTING, /* upgrade request seen */
	REGISTRY_OPEN,       /* 101 seen */
	REGISTRY_CLOSING,    /* a close frame seen */
	REGISTRY_CLOSED,     /* the socket is gone */
	REGISTRY_REJECTED,   /* upgrade answered with another status */
};

/* Direction, from this process's side. */
enum registry_dir { REGISTRY_SENT, REGISTRY_RECEIVED };

/* What is known when the upgrade request is seen. Strings are copied;
 * NULL means unknown/absent. Headers are the request's, names lower-case;
 * secret ones (http_header_is_secret) are stored redacted, and so are
 * the values of credential parameters in the query
 * (http_query_param_is_secret). */
struct registry_request {
	int fd;
	enum registry_role role;
	const char *local; /* "127.0.0.1:8080", "[::1]:8080", "/run/app.sock" */
	const char *peer;
	const char *path;
	const char *query;
	size_t nheaders;
	const char *const *header_names;
	const char *const *header_values;
};

/* The answer to the upgrade request. */
struct registry_response {
	int status;              /* 101 accepted, other: rejected */
	const char *reason;
	const char *subprotocol; /* Sec-WebSocket-Protocol, or NULL */
	const char *extensions;  /* Sec-WebSocket-Extensions as agreed, or NULL */
};

struct registry;

/* A new registry with cfg copied in. NULL when memory is short. */
struct registry *registry_new(const struct registry_config *cfg);
void registry_free(struct registry *r);

/* The configuration in force (a copy). */
struct registry_config registry_get_config(const struct registry *r);

/* registry_open's answer when a fault (memory short) kept the connection
 * from being recorded: the caller should stop looking at it. Never a real
 * id (ids count up from 1). */
#define REGISTRY_ID_FAULT UINT64_MAX

/* A connection whose upgrade request was seen at time now. Returns its id
 * (> 0); 0 when it cannot be detailed (see above) or tracking is off;
 * REGISTRY_ID_FAULT when memory is short (counted as a fault, and in
 * totals.untracked). Repeated header names are joined with ", ". */
uint64_t registry_open(struct registry *r, const struct registry_request *req,
		       double now);

/* The upgrade's answer: state becomes open (101) or rejected. Returns
 * false when a fault hit the connection (its subprotocol and extensions
 * could not be stored): the caller should stop looking at it. */
bool registry_answer(struct registry *r, uint64_t id,
		     const struct registry_response *res, double now);

/*
 * Recording messages. The messages one I/O call completes are recorded
 * under one lock acquisition: registry_batch_begin() takes the lock and
 * finds connection id (0: untracked, only the totals count), then
 * registry_batch_message() for each message as the decoder reports it (its
 * data is copied at once, so the decoder may go on), then
 * registry_batch_end() releases the lock. In between only pure decoding
 * may happen: no I/O, no other registry call.
 *
 * Each message copies what is kept (text up to max_message_size, a binary
 * preview when show_binary, close reasons; nothing with metadata_only),
 * counts messages, payload bytes and frames per direction, takes a seq
 * number (one counter per registry, so "messages after seq N" works across
 * connections). A close frame moves the state to closing and records code,
 * reason and who sent it (the first close frame decides); pings and pongs
 * are matched by payload, in either direction, for round-trip times.
 */
struct registry_conn;
struct registry_batch {
	struct registry *r;
	struct registry_conn *conn; /* NULL: untracked */
	/* Set by registry_batch_message when a fault hit the connection
	 * (memory short): the caller should stop looking at it. */
	bool faulted;
};

void registry_batch_begin(struct registry *r, struct registry_batch *b,
			  uint64_t id);
void registry_batch_message(struct registry_batch *b, enum registry_dir dir,
			    const struct ws_message *m, double now);
void registry_batch_end(struct registry_batch *b);

/* Inside a batch: wire bytes (frame headers included) that moved in dir;
 * see registry_wire_bytes. Lets one I/O call count its bytes and record
 * its messages under one lock acquisition. */
void registry_batch_wire_bytes(struct registry_batch *b, enum registry_dir dir,
			       uint64_t bytes);

/* Inside a batch: the caller now holds bytes for this connection (its
 * capture stream, the decoders' kept-prefix buffers and inflate state),
 * counted against max_held from now on, and against max_conn_held but for
 * `inflate` of them, the decompressors' state (zlib's state and window,
 * about 40 KiB a compressed direction, which any receiver of
 * permessage-deflate holds: counted in all, not against the room a
 * connection has for what wsdbg keeps). When it grew, the oldest stored
 * data (this connection's, then any) is given up until everything held is
 * within the caps again. Report it before the messages whose decoding
 * made it grow. */
void registry_batch_capture_memory(struct registry_batch *b, size_t bytes,
				   size_t inflate);

/* begin, one registry_batch_message per element of msgs, end. */
void registry_messages(struct registry *r, uint64_t id, enum registry_dir dir,
		       const struct ws_message *msgs, size_t n, double now);

/* Adds wire bytes that moved in dir (frame headers included) to the
 * connection's and the totals' counters; id 0 only updates the totals. */
void registry_wire_bytes(struct registry *r, uint64_t id,
			 enum registry_dir dir, uint64_t bytes);

/* A request whose header block outgrew the handshake parser
 * (HTTP_UPGRADE_MAX_BLOCK) although it began like an upgrade (a GET): it
 * may have been a WebSocket, and cannot be read, so it is only counted
 * (totals.oversized_handshakes). */
void registry_oversized_handshake(struct registry *r);

/* Decoding of dir stopped: the first error is kept ("received: reserved
 * opcode ..."). */
void registry_error(struct registry *r, uint64_t id, enum registry_dir dir,
		    enum ws_error err);

/* The socket ended at now: state closed (a rejected connection stays
 * rejected, with closed_at set). Without a close frame seen the close code
 * is 1006 (RFC 6455 7.1.5). Only the first call counts. */
void registry_closed(struct registry *r, uint64_t id, double now);

/* Removes connections that ended (closed or rejected) ttl seconds or more
 * before now. Returns how many. registry_open does the same by itself, at
 * most once per REGISTRY_EXPIRE_INTERVAL seconds (and whenever its clock
 * went back), so closed connections are reclaimed without anyone asking
 * for a snapshot. */
unsigned registry_expire(struct registry *r, double now);

/* Seconds registry_open lets pass between two expiries of its own. */
#define REGISTRY_EXPIRE_INTERVAL 1.0

/*
 * Internal faults and the circuit breaker.
 *
 * A fault is wsdbg's own trouble, not the host's: an allocation that
 * failed, or an invariant that did not hold (a module breaking its
 * contract). The registry counts every fault while tracking is on; the
 * connection it hit (if any) is marked ("fault" in the snapshot) and its
 * capture stops, so it is passed through unrecorded from then on. Faults
 * inside the registry (allocations in registry_open, registry_answer,
 * registry_batch_message) are counted by the registry itself; callers
 * report theirs with registry_fault().
 *
 * After REGISTRY_FAULT_LIMIT faults the registry disables itself: tracking
 * is off for the process, the snapshot says so ("tracking": enabled false,
 * the reason, the count), and every recording call is ignored from then on
 * (the snapshot keeps what was known at that moment).
 *
 * Nothing here does I/O or allocates. Whoever may write to stderr takes
 * the notices (registry_take_notices): one bit per fault kind the first
 * time that kind happens, and one when the breaker trips; each bit is
 * handed out once in the registry's life.
 */
enum registry_fault {
	REGISTRY_FAULT_NOMEM,     /* an allocation failed */
	REGISTRY_FAULT_INVARIANT, /* a broken invariant was caught */
	REGISTRY_FAULT_KINDS_
};

/* Faults after which tracking is switched off for the process. */
#define REGISTRY_FAULT_LIMIT 10

/* Notice bits: 1 << kind for the first fault of that kind, and: */
#define REGISTRY_NOTICE_TRIPPED (1u << REGISTRY_FAULT_KINDS_)

/* Stable snake_case name of kind: "out_of_memory", "broken_invariant". */
const char *registry_fault_name(enum registry_fault kind);

/* Records a fault of kind that hit connection id (0 or REGISTRY_ID_FAULT:
 * none known). where names the place, a string with static storage
 * ("capture: handshake parser"); the snapshot shows the first one of each
 * kind. Ignored once tracking is off. Returns true when this fault
 * tripped the breaker. */
bool registry_fault(struct registry *r, enum registry_fault kind, uint64_t id,
		    const char *where);

/* The notice bits not yet taken (0 nearly always), cleared. Lock-free. */
unsigned registry_take_notices(struct registry *r);

/* Details of the first fault of kind, for a log line: the place it was
 * reported (static string, NULL when none yet). */
const char *registry_fault_where(struct registry *r, enum registry_fault kind);

/* Switches tracking off for the process with a one-line reason (the first
 * reason is kept, cut to 160 bytes); the snapshot reports it. Allocates
 * nothing. Every recording call is ignored afterwards. */
void registry_disable(struct registry *r, const char *reason);

/* False once tracking is off (registry_disable, or the breaker). */
bool registry_enabled(struct registry *r);

/* Where a snapshot's memory comes from (its copy of the registry and its
 * text), when it must not be the C library's malloc: the stats server's
 * thread, for one, allocates nothing through malloc so that glibc never
 * gives it an arena of its own (tens of MiB of the host's address space).
 * alloc and resize return NULL when memory is short; resize(ctx, NULL, n)
 * allocates, release(ctx, NULL) does nothing. */
struct registry_allocator {
	void *(*alloc)(void *ctx, size_t n);
	void *(*resize)(void *ctx, void *p, size_t n);
	void (*release)(void *ctx, void *p);
	void *ctx;
};

/* What a snapshot should contain. */
struct registry_snapshot_options {
	int pid;
	const char *process;   /* program name */
	double taken_at;
	uint64_t after_seq;    /* only messages with seq > after_seq (follow) */
	uint64_t conn_id;      /* 0: all connections; else just that one */
	bool messages;         /* include the message rings */
	/* Leave out the connections past their ttl at taken_at, counted as
	 * expired, as if registry_expire had just run, without freeing
	 * anything (for a thread that must not call free). */
	bool expire;
	/* NULL: malloc. Else every allocation of the snapshot, the text it
	 * returns included (the caller releases it through alloc). */
	const struct registry_allocator *alloc;
};

/* The JSON snapshot (schema version 1) as a malloc'd NUL-terminated
 * string (opt->alloc's when set), *len its length; the caller frees it.
 * NULL when memory is short. Always valid JSON and valid UTF-8 (bytes
 * that are not are replaced by U+FFFD in strings). It frees nothing of the
 * registry's. The keys added to DESIGN's are listed at the top of
 * src/registry/snapshot.c. */
char *registry_snapshot_json(struct registry *r,
			     const struct registry_snapshot_options *opt,
			     size_t *len);

/* Bytes of stored message data now held, as counted against max_memory
 * and max_conn_memory: each stored block's allocation (its bytes plus a
 * small header). For tests and the snapshot. */
size_t registry_memory_used(struct registry *r);

/* Bytes held for all connections, as counted against max_held: each one's
 * record, strings, ring, reported capture memory and stored data (the
 * snapshot's "memory_held"). Exact: summed over the connections. */
size_t registry_memory_held(struct registry *r);

#endif

/*
 * registry_private.h - the registry's data, shared by its .c files
 * (registry.c: connections and limits; conn_index.c: connections by id;
 * conn_ages.c: connections by the age of their stored data; messages.c:
 * rings, stored data, counters and ping times; snapshot.c: the JSON). Not
 * installed; nothing outside src/registry includes it (but the unit tests
 * of the index and the ages).
 *
 * Memory layout, chosen so that an idle open connection costs well under
 * 4 KiB: one struct registry_conn (counters, close, ping times inline),
 * one allocation for all its request strings, its share of the index
 * (conn_index.h) and of the ages (conn_ages.h), and nothing else until a
 * message arrives. The message ring is allocated on the first message and
 * doubles up to max_messages; each message's stored data is one
 * allocation made when the message is recorded (or a block just given up
 * by an older message, reused), never in advance.
 */
#ifndef WSDBG_REGISTRY_PRIVATE_H
#define WSDBG_REGISTRY_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "conn_ages.h"
#include "conn_index.h"
#include "wsdbg/alloc_cost.h"
#include "wsdbg/registry.h"

/* Room for the reason tracking was switched off, NUL included. */
#define REGISTRY_REASON_MAX 161

/* Offset of an absent string in a connection's string block. */
#define REGISTRY_NO_STRING UINT32_MAX

/* Outstanding pings remembered per direction for round-trip times. */
#define REGISTRY_PINGS 4

/* Message types counted in the totals, in this order. */
enum registry_type {
	REGISTRY_TEXT,
	REGISTRY_BINARY,
	REGISTRY_CLOSE,
	REGISTRY_PING,
	REGISTRY_PONG,
	REGISTRY_TYPE_COUNT_
};

/* How much of a message was inflated (slot.inflate). */
enum registry_inflate {
	REGISTRY_INFLATE_WHOLE,  /* all of it, or it was not compressed */
	REGISTRY_INFLATE_CAPPED, /* up to the cap: its size is a lower bound */
	REGISTRY_INFLATE_NONE,   /* compressed and not inflated: its size is
				    on the wire, nothing is kept (inflate off,
				    untracked, or its window lost) */
};

/* Who sent the first close frame. */
enum registry_by { REGISTRY_BY_NONE, REGISTRY_BY_CLIENT, REGISTRY_BY_SERVER };

/* Stored content of one message (text prefix, binary preview, close
 * reason or ping/pong payload), pointed at by its ring slot only: the
 * first block met along a connection's ring is its oldest, and the
 * registry's oldest is found through conn_ages.h. */
struct stored_data {
	uint32_t len;
	uint32_t cap;                    /* bytes allocated; >= len when a
					    block is reused (messages.c) */
	uint8_t bytes[];
};

/* What a stored block with room for cap bytes costs. */
static inline size_t stored_data_cost(size_t cap)
{
	return wsdbg_alloc_cost(sizeof(struct stored_data) + cap);
}

/* One message in a connection's ring. */
struct registry_slot {
	uint64_t seq;
	double t;
	uint64_t size;            /* payload bytes (after inflate) */
	struct stored_data *data; /* NULL: nothing kept, or it was dropped */
	uint32_t frames;
	int32_t close_code;       /* close frames: code, -1 when none */
	uint8_t opcode;
	uint8_t dir;              /* enum registry_dir */
	bool compressed;
	bool truncated;           /* only a prefix of the payload was kept */
	bool utf8_valid;          /* text / close reason was valid UTF-8 */
	bool code_valid;          /* close frames: the code may be sent
				   * (ws_close_code_is_valid) */
	bool text_dropped;        /* stored data given up to a memory cap */
	uint8_t inflate;          /* enum registry_inflate */
};

/* Figures of one direction. */
struct registry_counts {
	uint64_t messages;
	uint64_t bytes;      /* payload bytes after reassembly and inflate */
	uint64_t frames;
	uint64_t wire_bytes; /* bytes on the wire, frame headers included */
};

struct registry_ping {
	uint64_t hash; /* of payload and length */
	double t;
};

struct registry_rtt {
	double last, min, max, sum; /* milliseconds */
	uint32_t samples;
};

struct registry_conn {
	uint64_t id;        /* its key in registry.conns */

	/* What recording a message touches comes first, together, so that
	 * a connection busy among many costs few cache lines per call. */
	struct registry_counts counts[2]; /* by enum registry_dir */
	/* The first internal fault that hit it: enum registry_fault + 1, or 0
	 * when none. Once set, nothing more is recorded for it but its end. */
	uint8_t fault;
	uint8_t role;       /* enum registry_role */
	uint8_t state;      /* enum registry_state */
	bool aged;          /* it has an entry in registry.ages */
	/* The last messages, oldest at ring[ring_head]. */
	struct registry_slot *ring;
	uint32_t ring_cap, ring_head, ring_len;
	/* Ring positions from ring_head known to hold no stored data: its
	 * oldest data is found without looking at them again. */
	uint32_t data_skip;
	uint64_t messages_dropped;
	size_t mem;          /* stored_data_cost of its blocks */
	/* Bytes the caller holds for it (capture stream and decoders), as
	 * last reported (registry_batch_capture_memory). */
	size_t capture_mem;
	/* Of capture_mem, inflate state: not under max_conn_held. */
	size_t capture_inflate;
	/* registry_conn_fixed(), kept current (registry_conn_recount). */
	size_t fixed;

	/* On registry.ended once the connection stopped being active
	 * (closed or rejected), in the order that happened. */
	struct registry_conn *prev, *next;
	bool ended;

	int fd;
	int status;         /* HTTP status of the answer; 0 before */
	double opened_at;
	double ended_at;    /* when it stopped being active */
	double closed_at;   /* when the socket ended; < 0 before */

	/* Request and answer strings in one block, each NUL-terminated, at
	 * these offsets (REGISTRY_NO_STRING: absent). Headers are nheaders
	 * name/value pairs one after the other from off_headers. */
	char *strs;
	uint32_t strs_len;
	uint32_t off_local, off_peer, off_path, off_query;
	uint32_t off_subprotocol, off_extensions;
	uint32_t off_headers, nheaders;

	/* The first close frame, or 1006 once the socket ended without. */
	bool close_known;
	uint8_t close_by;   /* enum registry_by */
	int32_t close_code;
	char *close_reason; /* NUL-terminated, NULL when none */
	uint32_t close_reason_len;

	enum ws_error error; /* the first decoding error, WS_OK if none */
	uint8_t error_dir;

	/* Pings sent in each direction, awaiting their pong. */
	struct registry_ping pings[2][REGISTRY_PINGS];
	uint8_t pings_used[2]; /* bit i: pings[dir][i] is outstanding */
	uint8_t pings_next[2]; /* slot the next ping takes */
	struct registry_rtt rtt;
};

/* What the totals count of every message in one direction, together. */
struct registry_dir_totals {
	struct registry_counts counts;
	uint64_t by_type[REGISTRY_TYPE_COUNT_];
};

struct registry_totals {
	/* Counted for every message: first, next to the lock. */
	struct registry_dir_totals dir[2]; /* by enum registry_dir */
	uint64_t connections; /* every upgrade seen, tracked or not */
	uint64_t closed;      /* tracked connections whose socket ended */
	uint64_t rejected;    /* upgrades answered with another status */
	uint64_t evicted;     /* dropped to make room (max_connections) */
	uint64_t expired;     /* dropped after ttl */
	uint64_t untracked;   /* not detailed: the table was all open */
	uint64_t errors;      /* directions whose decoding stopped */
	uint64_t oversized_handshakes; /* GETs too large to read */
	/* Compressed messages by how they were inflated, by direction
	 * (enum registry_inflate): capped, and not inflated. */
	uint64_t inflate_capped[2];
	uint64_t not_inflated[2];
};

struct registry {
	/* What recording a message touches comes first, together: the
	 * configuration, the lock, the counters and the connection table's
	 * header, in five or six cache lines. */
	struct registry_config cfg; /* set by registry_new, then read-only */

	/*
	 * lock guards every field below it and everything they point to:
	 * the connection table and each connection, the ended list, the
	 * connections by age, counters and the disabled flag. It is taken by
	 * every public function for find/insert/remove/update/copy, never
	 * held during I/O, allocation-heavy serialisation or any call out of
	 * the registry, and never nested with another lock (nor with itself:
	 * between registry_batch_begin and _end no other registry call).
	 */
	pthread_mutex_t lock;
	/* The circuit breaker (registry.h): set, nothing more is recorded.
	 * Its reason and the fault counts are further down. */
	bool disabled;
	uint64_t last_seq;
	size_t mem;                   /* stored_data_cost of all blocks */
	size_t fixed;                 /* the sum of every conn's fixed */
	struct conn_index conns;      /* every connection, by id */
	struct registry_totals totals;
	/* Every connection holding stored data (and some that held some,
	 * or are gone) by the age of its oldest (conn_ages.h); naged counts
	 * those with aged set. */
	struct conn_ages ages;
	unsigned naged;
	struct registry_conn *ended;  /* utlist DL, oldest ended first */
	unsigned nactive;             /* in conns and not ended */
	uint64_t last_id;
	/* When registry_open last expired closed connections (it does at
	 * most once per REGISTRY_EXPIRE_INTERVAL seconds). */
	double last_expire;

	/* The circuit breaker (registry.h): faults counts those recorded
	 * while enabled; fault_where holds the first place of each kind
	 * (static strings). */
	char disabled_reason[REGISTRY_REASON_MAX]; /* "" until disabled */
	uint64_t faults;
	uint64_t faults_by_kind[REGISTRY_FAULT_KINDS_];
	const char *fault_where[REGISTRY_FAULT_KINDS_];
	unsigned announced; /* notice bits ever raised */

	/* Notice bits raised and not taken yet. Written under lock, taken
	 * without it (registry_take_notices is on the shim's I/O path). */
	_Atomic unsigned notices;
};

/* registry.c: records a fault of kind hitting c (may be NULL). Lock held.
 * Returns true when it tripped the breaker. */
bool registry_fault_locked(struct registry *r, struct registry_conn *c,
			   enum registry_fault kind, const char *where);

/* messages.c: frees every block conn's ring points at and the ring, and
 * takes c out of the memory counts. Lock held. */
void registry_conn_free_messages(struct registry *r, struct registry_conn *c);

/* messages.c: takes c, no longer in r->conns, out of the ages. Lock
 * held. */
void registry_conn_unage(struct registry *r, struct registry_conn *c);

/* messages.c: what c holds besides its stored data: its record, strings,
 * close reason, ring, and what the caller reported (capture_mem), as
 * wsdbg_alloc_cost counts them. Lock held. */
size_t registry_conn_fixed(const struct registry_conn *c);

/* messages.c: brings c->fixed, and r->fixed with it, up to date after
 * anything registry_conn_fixed counts changed. Every such change calls
 * it, so c->fixed and r->fixed are always exact. When c->fixed grew, the
 * oldest stored data (c's, then the registry's) is given up until
 * everything held is within the caps again. Lock held. */
void registry_conn_recount(struct registry *r, struct registry_conn *c);

/* The string at off in c's block, or NULL. */
static inline const char *registry_conn_str(const struct registry_conn *c,
					    uint32_t off)
{
	return off == REGISTRY_NO_STRING ? NULL : c->strs + off;
}

/* Whether the connection counts as active (not closed, not rejected). */
static inline bool registry_state_is_active(unsigned state)
{
	return state == REGISTRY_CONNECTING || state == REGISTRY_OPEN ||
	       state == REGISTRY_CLOSING;
}

#endif

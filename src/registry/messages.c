/*
 * messages.c - recording messages: per-direction counters, the close
 * handshake, ping round-trip times, each connection's ring of recent
 * messages and the stored data behind it, held under the per-connection
 * (max_conn_memory, max_conn_held) and registry-wide (max_memory,
 * max_held) caps.
 *
 * Recording a message costs no allocation once a connection's ring is at
 * its final size and its stored data at a cap: the block given up by the
 * oldest message (or the oldest stored data) is reused for the newest when
 * its size suits, and the oldest data is found without a search.
 */
#include <stdlib.h>
#include <string.h>

#include "registry_private.h"

/* ---- memory counts ------------------------------------------------------ */

size_t registry_conn_fixed(const struct registry_conn *c)
{
	size_t n = wsdbg_alloc_cost(sizeof(*c)) + CONN_INDEX_COST_PER_CONN +
		   CONN_AGES_COST_PER_CONN + c->capture_mem;

	if (c->strs)
		n += wsdbg_alloc_cost(c->strs_len);
	if (c->close_reason)
		n += wsdbg_alloc_cost(c->close_reason_len + 1);
	if (c->ring)
		n += wsdbg_alloc_cost(c->ring_cap * sizeof(*c->ring));
	return n;
}

static void make_room(struct registry *r, struct registry_conn *c,
		      size_t cost, struct stored_data **spare);

void registry_conn_recount(struct registry *r, struct registry_conn *c)
{
	size_t fixed = registry_conn_fixed(c);
	bool grew = fixed > c->fixed;

	r->fixed = r->fixed - c->fixed + fixed;
	c->fixed = fixed;
	/* What c holds besides its stored data grew (its decoders' buffers,
	 * an inflate window, its ring): everything held is brought back
	 * within the caps, as storing a message would have to. */
	if (grew)
		make_room(r, c, 0, NULL);
}

/* What of c's fixed part counts against max_conn_held: all but the
 * inflate state (registry.h). */
static size_t conn_fixed_capped(const struct registry_conn *c)
{
	return c->fixed - c->capture_inflate;
}

/* Whether cost more bytes of stored data fit c's caps. */
static bool conn_fits(const struct registry *r, const struct registry_conn *c,
		      size_t cost)
{
	return c->mem + cost <= r->cfg.max_conn_memory &&
	       conn_fixed_capped(c) + c->mem + cost <= r->cfg.max_conn_held;
}

/* Whether cost more bytes of stored data fit the registry's caps. */
static bool registry_fits(const struct registry *r, size_t cost)
{
	return r->mem + cost <= r->cfg.max_memory &&
	       r->fixed + r->mem + cost <= r->cfg.max_held;
}

size_t registry_memory_held(struct registry *r)
{
	size_t held;

	pthread_mutex_lock(&r->lock);
	held = r->fixed + r->mem;
	pthread_mutex_unlock(&r->lock);
	return held;
}

/* ---- the ring's positions ----------------------------------------------- */

/* The slot at ring position i (0 = oldest), i < ring_cap. */
static struct registry_slot *ring_at(struct registry_conn *c, uint32_t i)
{
	uint32_t j = c->ring_head + i;

	return &c->ring[j >= c->ring_cap ? j - c->ring_cap : j];
}

/* ---- stored data -------------------------------------------------------- */

/* Takes block d of c out of the counts, and either keeps it in *spare for
 * the message being stored (when spare is given and empty) or frees it.
 * Lock held. */
static void data_release(struct registry *r, struct registry_conn *c,
			 struct stored_data *d, struct stored_data **spare)
{
	size_t cost = stored_data_cost(d->cap);

	c->mem -= cost;
	r->mem -= cost;
	if (spare && !*spare)
		*spare = d;
	else
		free(d);
}

/* The slot of c's oldest stored data, or NULL if it has none. The
 * positions passed over hold no data and are skipped from then on
 * (data_skip), so over a ring's life each position is looked at about
 * once. Lock held. */
static struct registry_slot *oldest_data(struct registry_conn *c)
{
	for (uint32_t i = c->data_skip; i < c->ring_len; i++) {
		struct registry_slot *s = ring_at(c, i);

		if (s->data) {
			c->data_skip = i;
			return s;
		}
	}
	c->data_skip = c->ring_len;
	return NULL;
}

/* Gives up c's oldest stored data: the message stays in the ring flagged
 * text_dropped. False if c has none. Lock held. */
static bool drop_oldest_data(struct registry *r, struct registry_conn *c,
			     struct stored_data **spare)
{
	struct registry_slot *s = oldest_data(c);

	if (!s)
		return false;
	data_release(r, c, s->data, spare);
	s->data = NULL;
	s->text_dropped = true;
	c->data_skip++; /* oldest_data left it at s: now past it */
	return true;
}

/* Gives up the oldest stored data of the whole registry. False if there is
 * none. Lock held. */
static bool drop_registry_oldest(struct registry *r, struct stored_data **spare)
{
	struct conn_age *top;

	/* The top key is the smallest, and every key is at most the seq of
	 * its connection's oldest block: once the top key is that seq
	 * exactly, no block is older. Until then it is raised, or its
	 * entry dropped (the connection is gone or holds nothing). */
	while ((top = conn_ages_top(&r->ages))) {
		struct registry_conn *c = conn_index_get(&r->conns, top->id);
		struct registry_slot *s = c ? oldest_data(c) : NULL;

		if (s && s->seq == top->key)
			return drop_oldest_data(r, c, spare);
		if (s) {
			conn_ages_raise_top(&r->ages, s->seq);
			continue;
		}
		if (c) {
			c->aged = false;
			r->naged--;
		}
		conn_ages_pop(&r->ages);
	}
	return false;
}

/* Gives up stored data, c's oldest first, then the registry's oldest,
 * until cost more bytes fit both c's caps and the registry's, or nothing
 * is left to give up. Blocks given up go to *spare when it is given and
 * empty (data_release). Lock held. */
static void make_room(struct registry *r, struct registry_conn *c,
		      size_t cost, struct stored_data **spare)
{
	while (!conn_fits(r, c, cost))
		if (!drop_oldest_data(r, c, spare))
			break;
	while (!registry_fits(r, cost))
		if (!drop_registry_oldest(r, spare))
			break;
}

/* conn_ages_prune's test: whether connection id is still held. */
static bool conn_is_held(uint64_t id, void *r)
{
	return conn_index_get(&((struct registry *)r)->conns, id) != NULL;
}

/* Drops the entries of connections that are gone once they may be half
 * the ages (the others, naged, each have one), which keeps the heap within
 * what CONN_AGES_COST_PER_CONN charges. Lock held. */
static void ages_prune(struct registry *r)
{
	if (r->ages.n >= CONN_AGES_MIN && r->ages.n >= 2 * (size_t)r->naged)
		conn_ages_prune(&r->ages, conn_is_held, r);
}

void registry_conn_unage(struct registry *r, struct registry_conn *c)
{
	if (!c->aged)
		return;
	c->aged = false;
	r->naged--;
	ages_prune(r); /* its entry goes now, or later */
}

/* Enters c, about to store its first block (seq), in the ages; false when
 * memory is short. Lock held. */
static bool conn_age(struct registry *r, struct registry_conn *c, uint64_t seq)
{
	if (c->aged)
		return true;
	ages_prune(r);
	if (!conn_ages_push(&r->ages, seq, c->id))
		return false;
	c->aged = true;
	r->naged++;
	return true;
}

/* A block for n bytes, whose cost already fits the caps: *spare when it
 * has room and wastes little (at most an eighth more than a new block
 * would cost, and within the caps), else a new one (*spare freed). NULL
 * when memory is short. Lock held. */
static struct stored_data *data_block(struct registry *r,
				      struct registry_conn *c, size_t n,
				      struct stored_data **spare)
{
	struct stored_data *d = *spare;
	size_t cost = stored_data_cost(n);

	*spare = NULL;
	if (d && d->cap >= n) {
		size_t reused = stored_data_cost(d->cap);

		/* The same cost (messages of one size, the usual case)
		 * fits as cost does: the caps are not read again. */
		if (reused == cost ||
		    (reused <= cost + cost / 8 &&
		     conn_fits(r, c, reused) &&
		     registry_fits(r, reused)))
			return d;
	}
	free(d);
	d = malloc(sizeof(*d) + n);
	if (d)
		d->cap = (uint32_t)n;
	return d;
}

/* Copies n bytes of p, content of message m (content()), as the stored
 * data of slot s, the newest message of c, first making room under the
 * caps by dropping the oldest stored data (c's own, then the registry's).
 * Data that cannot fit a cap even with all other stored data gone is not
 * stored. *spare is a block given up while recording this message, reused
 * when it suits. Lock held. */
static void data_store(struct registry *r, struct registry_conn *c,
		       struct registry_slot *s, const struct ws_message *m,
		       const uint8_t *p, size_t n, struct stored_data **spare)
{
	size_t cost = stored_data_cost(n);
	struct stored_data *d;

	if (n == 0)
		return;
	/* Usually it fits at once: the oldest message's block, given up
	 * as the ring turned, made the room. */
	if (n > UINT32_MAX || !conn_fits(r, c, cost) ||
	    !registry_fits(r, cost)) {
		if (n > UINT32_MAX || cost > r->cfg.max_conn_memory ||
		    cost > r->cfg.max_memory ||
		    conn_fixed_capped(c) + cost > r->cfg.max_conn_held ||
		    r->fixed + cost > r->cfg.max_held) {
			s->text_dropped = true; /* never fits */
			return;
		}
		/* The checks above promise that cost fits once nothing
		 * else is stored. */
		make_room(r, c, cost, spare);
	}
	d = data_block(r, c, n, spare);
	/* Data the registry-wide cap could not find is not stored. */
	if (!d || !conn_age(r, c, s->seq)) {
		const char *where = d ? "registry: connection ages"
				      : "registry: message data";
		free(d);
		s->text_dropped = true;
		registry_fault_locked(r, c, REGISTRY_FAULT_NOMEM, where);
		return;
	}
	cost = stored_data_cost(d->cap);
	d->len = (uint32_t)n;
	/* The message's own data goes through its copy, which unmasks a
	 * message that came still masked (ws_decoder.h, borrow_masked) and
	 * judges a text not judged yet (defer_utf8), in this one pass. */
	if (p == m->data)
		s->utf8_valid = ws_message_copy(m, d->bytes, n);
	else
		memcpy(d->bytes, p, n);
	c->mem += cost;
	r->mem += cost;
	s->data = d;
	/* The search for c's oldest data may have passed this slot. */
	if (c->data_skip > c->ring_len - 1)
		c->data_skip = c->ring_len - 1;
}

void registry_conn_free_messages(struct registry *r, struct registry_conn *c)
{
	for (uint32_t i = 0; i < c->ring_len; i++) {
		struct registry_slot *s = ring_at(c, i);

		if (s->data)
			data_release(r, c, s->data, NULL);
	}
	free(c->ring);
	c->ring = NULL;
	c->ring_cap = c->ring_head = c->ring_len = 0;
	c->data_skip = 0;
	r->fixed -= c->fixed;
	c->fixed = 0;
}

/* ---- the ring ----------------------------------------------------------- */

/* Smallest ring allocated, in messages. */
#define RING_MIN 4

/* A free slot at the ring's end: grows the ring (allocated on first use,
 * doubling up to max_messages) or drops the oldest message, counted in
 * messages_dropped; its stored data goes to *spare. NULL only when no
 * slot can be had at all. Lock held. */
static struct registry_slot *ring_push(struct registry *r,
				       struct registry_conn *c,
				       struct stored_data **spare)
{
	uint32_t max = r->cfg.max_messages;
	struct registry_slot *s;

	if (max == 0)
		return NULL;
	if (c->ring_len == c->ring_cap && c->ring_cap < max) {
		/* Until the ring is at its final size it never wraps
		 * (ring_head stays 0), so growing is a plain realloc. */
		uint32_t cap = c->ring_cap ? c->ring_cap * 2 : RING_MIN;
		struct registry_slot *grown;

		if (cap > max || cap < c->ring_cap)
			cap = max;
		grown = realloc(c->ring, cap * sizeof(*grown));
		if (grown) {
			c->ring = grown;
			c->ring_cap = cap;
			registry_conn_recount(r, c);
		} else {
			registry_fault_locked(r, c, REGISTRY_FAULT_NOMEM,
					      "registry: message ring");
		}
	}
	if (c->ring_cap == 0)
		return NULL;
	if (c->ring_len == c->ring_cap) {
		/* Full: the oldest slot goes, and is the newest once the head
		 * has moved past it. */
		s = ring_at(c, 0);
		if (s->data)
			data_release(r, c, s->data, spare);
		c->ring_head = c->ring_head + 1 == c->ring_cap
				   ? 0 : c->ring_head + 1;
		c->messages_dropped++;
		if (c->data_skip > 0)
			c->data_skip--;
	} else {
		s = ring_at(c, c->ring_len++);
	}
	*s = (struct registry_slot){0};
	return s;
}

/* ---- ping round-trip times ---------------------------------------------- */

/* FNV-1a over the payload, its length mixed in. Pings and pongs come
 * unmasked (only data messages are handed out masked). */
static uint64_t ping_hash(const struct ws_message *m)
{
	uint64_t h = 0xcbf29ce484222325u ^ m->size;

	for (size_t i = 0; i < m->kept; i++) {
		h ^= m->data[i];
		h *= 0x100000001b3u;
	}
	return h;
}

static void ping_remember(struct registry_conn *c, unsigned dir,
			  const struct ws_message *m, double now)
{
	unsigned i = c->pings_next[dir];

	c->pings[dir][i] = (struct registry_ping){ping_hash(m), now};
	c->pings_used[dir] |= (uint8_t)(1u << i);
	c->pings_next[dir] = (uint8_t)((i + 1) % REGISTRY_PINGS);
}

/* A pong in dir answers a ping that went the other way with the same
 * payload. RFC 6455 5.5.3 lets a peer answer only the latest of several
 * pings, so the latest match is taken and all pings with that payload are
 * settled; a pong with no match (unsolicited, RFC 6455 5.5.3) is ignored. */
static void pong_match(struct registry_conn *c, unsigned dir,
		       const struct ws_message *m, double now)
{
	unsigned other = !dir;
	uint64_t h = ping_hash(m);
	double sent = 0, ms;
	bool found = false;

	for (unsigned i = 0; i < REGISTRY_PINGS; i++) {
		const struct registry_ping *p = &c->pings[other][i];

		if (!(c->pings_used[other] & (1u << i)) || p->hash != h)
			continue;
		if (!found || p->t > sent)
			sent = p->t;
		found = true;
		c->pings_used[other] &= (uint8_t) ~(1u << i);
	}
	if (!found)
		return;
	ms = (now - sent) * 1000.0;
	if (ms < 0)
		ms = 0; /* the clock stepped back */
	if (c->rtt.samples == 0 || ms < c->rtt.min)
		c->rtt.min = ms;
	if (c->rtt.samples == 0 || ms > c->rtt.max)
		c->rtt.max = ms;
	c->rtt.last = ms;
	c->rtt.sum += ms;
	c->rtt.samples++;
}

/* ---- recording ---------------------------------------------------------- */

/* The totals' type of a message's opcode (the decoder hands out no
 * other): TEXT 1 and BINARY 2 are 0 and 1, CLOSE 8, PING 9 and PONG 10
 * are 2 to 4 (RFC 6455 section 5.2). Worked out rather than switched on:
 * the compiler makes a switch a table, one more cache line per message. */
_Static_assert(REGISTRY_TEXT == 0 && REGISTRY_BINARY == 1 &&
	       REGISTRY_CLOSE == 2 && REGISTRY_PING == 3 &&
	       REGISTRY_PONG == 4 && WS_OPCODE_TEXT == 1 &&
	       WS_OPCODE_BINARY == 2 && WS_OPCODE_CLOSE == 8 &&
	       WS_OPCODE_PING == 9 && WS_OPCODE_PONG == 10,
	       "type_of's arithmetic");
static int type_of(uint8_t opcode)
{
	if (opcode == WS_OPCODE_TEXT || opcode == WS_OPCODE_BINARY)
		return opcode - 1;
	if (opcode >= WS_OPCODE_CLOSE && opcode <= WS_OPCODE_PONG)
		return opcode - 6;
	return -1;
}

/* Who sent a message that went in dir: this process is c's role. */
static uint8_t sender(const struct registry_conn *c, unsigned dir)
{
	bool by_us = dir == REGISTRY_SENT;
	bool we_serve = c->role == REGISTRY_SERVER;

	return by_us == we_serve ? REGISTRY_BY_SERVER : REGISTRY_BY_CLIENT;
}

/* The first close frame decides code, reason and who closed (RFC 6455
 * 7.1.5: a frame without a code reads as 1005). Lock held. */
static void close_seen(struct registry *r, struct registry_conn *c,
		       unsigned dir, const struct ws_message *m)
{
	if (c->state == REGISTRY_CONNECTING || c->state == REGISTRY_OPEN)
		c->state = REGISTRY_CLOSING;
	if (c->close_known)
		return;
	c->close_known = true;
	c->close_code = m->close_code >= 0 ? m->close_code : 1005;
	c->close_by = sender(c, dir);
	if (m->close_reason_len > 0 && !r->cfg.metadata_only) {
		/* At most 123 bytes (RFC 6455 5.5). Not with metadata_only:
		 * the application wrote it, so it may be as sensitive as any
		 * message. */
		c->close_reason = malloc(m->close_reason_len + 1);
		if (c->close_reason) {
			memcpy(c->close_reason, m->close_reason,
			       m->close_reason_len);
			c->close_reason[m->close_reason_len] = '\0';
			c->close_reason_len = (uint32_t)m->close_reason_len;
		} else {
			registry_fault_locked(r, c, REGISTRY_FAULT_NOMEM,
					      "registry: close reason");
		}
	}
}

/* What of m is stored, by type: the text prefix (up to max_message_size),
 * the binary preview (show_binary, up to binary_preview), the close
 * reason, the ping/pong payload; nothing with metadata_only, nor of a
 * compressed message that was not inflated (it has no content to keep:
 * not truncated either). */
static const uint8_t *content(const struct registry_config *cfg,
			      const struct ws_message *m, size_t *n, bool *cut)
{
	*n = 0;
	*cut = false;
	if (cfg->metadata_only || (m->compressed && !m->inflated))
		return NULL;
	switch (m->opcode) {
	case WS_OPCODE_TEXT:
		*n = m->kept < cfg->max_message_size ? m->kept
						     : cfg->max_message_size;
		*cut = *n < m->size;
		return m->data;
	case WS_OPCODE_BINARY:
		if (!cfg->show_binary)
			return NULL;
		*n = m->kept < cfg->binary_preview ? m->kept
						   : cfg->binary_preview;
		*cut = *n < m->size;
		return m->data;
	case WS_OPCODE_CLOSE:
		*n = m->close_reason_len;
		return m->close_reason;
	case WS_OPCODE_PING:
	case WS_OPCODE_PONG:
		*n = m->kept;
		return m->data;
	default:
		return NULL;
	}
}

void registry_batch_begin(struct registry *r, struct registry_batch *b,
			  uint64_t id)
{
	pthread_mutex_lock(&r->lock);
	b->r = r;
	b->conn = NULL;
	/* REGISTRY_ID_FAULT: a connection a fault kept out; nothing of it
	 * is recorded. */
	b->faulted = id == REGISTRY_ID_FAULT;
	if (!b->faulted)
		b->conn = conn_index_get(&r->conns, id);
	/* A connection a fault hit records nothing more, not even in the
	 * totals: its capture is about to stop. */
	if (b->conn && b->conn->fault) {
		b->conn = NULL;
		b->faulted = true;
	}
}

void registry_batch_message(struct registry_batch *b, enum registry_dir dir,
			    const struct ws_message *m, double now)
{
	struct registry *r = b->r;
	struct registry_conn *c = b->conn;
	struct registry_counts *t = &r->totals.dir[dir].counts;
	struct registry_slot *s;
	struct stored_data *spare = NULL;
	const uint8_t *p;
	int type = type_of(m->opcode);
	size_t n;
	bool cut;

	if (r->disabled || b->faulted)
		return;
	t->messages++;
	t->bytes += m->size;
	t->frames += m->frames;
	if (type >= 0)
		r->totals.dir[dir].by_type[type]++;
	if (m->compressed && m->inflate_capped)
		r->totals.inflate_capped[dir]++;
	else if (m->compressed && !m->inflated)
		r->totals.not_inflated[dir]++;
	if (!c)
		return;
	c->counts[dir].messages++;
	c->counts[dir].bytes += m->size;
	c->counts[dir].frames += m->frames;

	if (type >= REGISTRY_CLOSE) { /* a control frame */
		if (type == REGISTRY_CLOSE) {
			close_seen(r, c, dir, m);
			registry_conn_recount(r, c); /* the reason's copy */
		} else if (type == REGISTRY_PING) {
			ping_remember(c, dir, m, now);
		} else {
			pong_match(c, dir, m, now);
		}
	}

	s = ring_push(r, c, &spare);
	if (!s) {
		free(spare);
		c->messages_dropped++;
		b->faulted = c->fault != 0;
		return;
	}
	s->seq = ++r->last_seq;
	s->t = now;
	s->size = m->size;
	s->frames = m->frames;
	s->opcode = m->opcode;
	s->dir = (uint8_t)dir;
	s->compressed = m->compressed;
	s->inflate = !m->compressed      ? REGISTRY_INFLATE_WHOLE
		     : m->inflate_capped ? REGISTRY_INFLATE_CAPPED
		     : m->inflated       ? REGISTRY_INFLATE_WHOLE
					 : REGISTRY_INFLATE_NONE;
	s->utf8_valid = m->utf8_valid;
	s->close_code = m->opcode == WS_OPCODE_CLOSE ? m->close_code : -1;
	s->code_valid = m->opcode == WS_OPCODE_CLOSE && m->close_code_valid;
	p = content(&r->cfg, m, &n, &cut);
	/* truncated: what is shown is a prefix. Content not kept by choice
	 * (binary hidden, metadata_only) is not called truncated. */
	s->truncated = p && (m->truncated || cut);
	if (p)
		data_store(r, c, s, m, p, n, &spare);
	/* A text not judged yet that was not stored is judged where it
	 * lies. */
	if (m->utf8_pending && !s->data)
		s->utf8_valid = ws_message_utf8_valid(m);
	if (spare) /* given up and not reused */
		free(spare);
	b->faulted = c->fault != 0;
}

void registry_batch_wire_bytes(struct registry_batch *b, enum registry_dir dir,
			       uint64_t bytes)
{
	if (b->r->disabled || b->faulted)
		return;
	b->r->totals.dir[dir].counts.wire_bytes += bytes;
	if (b->conn)
		b->conn->counts[dir].wire_bytes += bytes;
}

void registry_batch_capture_memory(struct registry_batch *b, size_t bytes,
				   size_t inflate)
{
	struct registry_conn *c = b->conn;

	if (!c || (c->capture_mem == bytes && c->capture_inflate == inflate))
		return;
	c->capture_mem = bytes;
	c->capture_inflate = inflate <= bytes ? inflate : bytes;
	registry_conn_recount(b->r, c);
}

void registry_batch_end(struct registry_batch *b)
{
	struct registry *r = b->r;

	b->r = NULL;
	b->conn = NULL;
	pthread_mutex_unlock(&r->lock);
}

void registry_messages(struct registry *r, uint64_t id, enum registry_dir dir,
		       const struct ws_message *msgs, size_t n, double now)
{
	struct registry_batch b;

	registry_batch_begin(r, &b, id);
	for (size_t i = 0; i < n; i++)
		registry_batch_message(&b, dir, &msgs[i], now);
	registry_batch_end(&b);
}

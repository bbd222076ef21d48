/*
 * snapshot.c - the JSON snapshot, schema version 1 (DESIGN.md). Two steps,
 * so that the lock is held only to copy: copy_take() copies what the
 * options select under the lock, then the JSON is written from the copy
 * with the lock released.
 *
 * Keys beyond DESIGN's, all additions: per connection "status",
 * "error_name", "fault", "messages_dropped", "memory_used", "memory_held";
 * "wire_bytes" per direction; "code_valid" per close message; per
 * compressed message "inflated" (false: its size is the size on the wire
 * and nothing is kept: inflate off, or its direction's window lost after
 * a capped message) and "size_is_lower_bound" (inflating stopped at
 * max_inflate: the size counts what was inflated, the text is a true
 * prefix); totals "rejected", "expired", "errors",
 * "oversized_handshakes", frames and wire bytes, "inflate_capped_sent",
 * "inflate_capped_received", "not_inflated_sent", "not_inflated_received",
 * "memory_used", "memory_held", "by_type"; config "max_conn_memory",
 * "max_held", "max_conn_held", "max_inflate"; "tracking" (the circuit
 * breaker: "enabled", "reason", "faults", "fault_limit", "faults_by_kind",
 * "first_fault_at").
 *
 * Content of a message, by type:
 *   text    "text": the kept prefix (invalid UTF-8 shown as U+FFFD, a
 *           character cut by truncation left out), "utf8_valid";
 *   binary  "hex": the preview, when show_binary;
 *   close   "code" (null when the frame had none), "code_valid" (with a
 *           code: whether RFC 6455 7.4 lets it be sent), "text": the
 *           reason, "utf8_valid";
 *   ping, pong  "text" when the payload is printable UTF-8 (no control
 *           characters), else "hex".
 * A key is left out when nothing was kept (metadata_only, binary hidden,
 * or the data went to a memory cap: "text_dropped": true); an empty
 * payload is always "text": "".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_writer.h"
#include "registry_private.h"
#include "wsdbg/utf8.h"

/* ---- the copy ----------------------------------------------------------- */

struct conn_copy {
	/* The connection by value. Its list links are not used;
	 * strs and close_reason point at copies, ring at nothing. */
	struct registry_conn c;
	struct registry_slot *msgs; /* data points into arena */
	uint32_t nmsgs;
	void *arena;
	size_t held; /* its fixed part + stored data */
};

struct copy {
	const struct registry_allocator *alloc; /* NULL: malloc */
	struct registry_config cfg;
	struct registry_totals totals;
	unsigned nconns, nactive;
	size_t mem;
	size_t held; /* all connections' (registry fixed + mem) */
	bool disabled;
	char disabled_reason[REGISTRY_REASON_MAX];
	uint64_t faults;
	uint64_t faults_by_kind[REGISTRY_FAULT_KINDS_];
	const char *fault_where[REGISTRY_FAULT_KINDS_];
	struct conn_copy *conns;
	size_t n;
};

/* The copy's memory: the options' allocator, or the C library's. */
static void *copy_alloc(const struct copy *cp, size_t n)
{
	return cp->alloc ? cp->alloc->alloc(cp->alloc->ctx, n) : malloc(n);
}

static void copy_release(const struct copy *cp, void *p)
{
	if (cp->alloc)
		cp->alloc->release(cp->alloc->ctx, p);
	else
		free(p);
}

static void *memdup(const struct copy *cp, const void *p, size_t n)
{
	void *q;

	if (!p)
		return NULL;
	q = copy_alloc(cp, n ? n : 1);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

/* Blocks in the arena keep struct stored_data's alignment. */
static size_t arena_step(size_t len)
{
	size_t a = _Alignof(struct stored_data);

	return (stored_data_cost(len) + a - 1) / a * a;
}

/* The slot at ring position i (0 = oldest) of c. */
static const struct registry_slot *snapshot_slot(const struct registry_conn *c,
						 uint32_t i)
{
	uint32_t j = c->ring_head + i;

	return &c->ring[j >= c->ring_cap ? j - c->ring_cap : j];
}

/* Copies c's messages after after_seq. False when memory is short. */
static bool copy_messages(const struct copy *cp, struct conn_copy *cc,
			  const struct registry_conn *c, uint64_t after_seq)
{
	uint32_t first = c->ring_len, n;
	size_t arena = 0;
	uint8_t *at;

	/* The ring is in seq order: find the first message to show. */
	for (uint32_t i = 0; i < c->ring_len; i++) {
		if (snapshot_slot(c, i)->seq > after_seq) {
			first = i;
			break;
		}
	}
	n = c->ring_len - first;
	if (n == 0)
		return true;
	cc->msgs = copy_alloc(cp, n * sizeof(*cc->msgs));
	if (!cc->msgs)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		const struct registry_slot *s = snapshot_slot(c, first + i);

		cc->msgs[i] = *s;
		if (s->data)
			arena += arena_step(s->data->len);
	}
	cc->nmsgs = n;
	if (arena == 0)
		return true;
	cc->arena = copy_alloc(cp, arena);
	if (!cc->arena)
		return false;
	at = cc->arena;
	for (uint32_t i = 0; i < n; i++) {
		struct registry_slot *s = &cc->msgs[i];
		struct stored_data *d = (struct stored_data *)(void *)at;

		if (!s->data)
			continue;
		d->len = d->cap = s->data->len;
		memcpy(d->bytes, s->data->bytes, d->len);
		s->data = d;
		at += arena_step(d->len);
	}
	return true;
}

static bool copy_conn(const struct copy *cp, struct conn_copy *cc,
		      const struct registry_conn *c,
		      const struct registry_snapshot_options *opt)
{
	cc->c = *c;
	cc->held = c->fixed + c->mem;
	cc->c.ring = NULL;
	cc->c.strs = memdup(cp, c->strs, c->strs_len);
	cc->c.close_reason = memdup(
	    cp, c->close_reason, c->close_reason ? c->close_reason_len + 1 : 0);
	if ((c->strs && !cc->c.strs) ||
	    (c->close_reason && !cc->c.close_reason))
		return false;
	return !opt->messages || copy_messages(cp, cc, c, opt->after_seq);
}

static void copy_free(struct copy *cp)
{
	for (size_t i = 0; i < cp->n; i++) {
		copy_release(cp, cp->conns[i].c.strs);
		copy_release(cp, cp->conns[i].c.close_reason);
		copy_release(cp, cp->conns[i].msgs);
		copy_release(cp, cp->conns[i].arena);
	}
	copy_release(cp, cp->conns);
}

/* Ended ttl seconds or more before the snapshot: registry_expire would
 * have removed it (expire_locked's rule). */
static bool copy_expired(const struct registry_conn *c,
			 const struct registry_snapshot_options *opt,
			 unsigned ttl)
{
	return c->ended && c->ended_at + (double)ttl <= opt->taken_at;
}

/* Copying every connection: conn_index_each's callback. */
struct copy_walk {
	struct copy *cp;
	const struct registry_snapshot_options *opt;
	bool ok;
};

static void copy_walk_one(struct registry_conn *c, void *ctx)
{
	struct copy_walk *w = ctx;

	if (!w->ok)
		return;
	if (w->opt->expire && copy_expired(c, w->opt, w->cp->cfg.ttl)) {
		/* Left out and counted, as registry_expire would; removing
		 * it is left to the host's threads (registry.h). */
		w->cp->totals.expired++;
		w->cp->nconns--;
		w->cp->mem -= c->mem;
		w->cp->held -= c->fixed + c->mem;
		return;
	}
	/* Counted before copying so copy_free sees a partial one. */
	w->cp->n++;
	w->ok = copy_conn(w->cp, &w->cp->conns[w->cp->n - 1], c, w->opt);
}

static int copy_by_id(const void *a, const void *b)
{
	uint64_t x = ((const struct conn_copy *)a)->c.id;
	uint64_t y = ((const struct conn_copy *)b)->c.id;

	return x < y ? -1 : x > y;
}

/* Fills cp under r's lock. False (cp freed) when memory is short. */
static bool copy_take(struct registry *r,
		      const struct registry_snapshot_options *opt,
		      struct copy *cp)
{
	struct copy_walk walk = {cp, opt, true};

	*cp = (struct copy){.cfg = r->cfg, .alloc = opt->alloc};
	pthread_mutex_lock(&r->lock);
	cp->totals = r->totals;
	cp->nconns = (unsigned)r->conns.n;
	cp->nactive = r->nactive;
	cp->mem = r->mem;
	cp->disabled = r->disabled;
	memcpy(cp->disabled_reason, r->disabled_reason,
	       sizeof(cp->disabled_reason));
	cp->faults = r->faults;
	memcpy(cp->faults_by_kind, r->faults_by_kind,
	       sizeof(cp->faults_by_kind));
	memcpy(cp->fault_where, r->fault_where, sizeof(cp->fault_where));
	cp->held = r->fixed + r->mem;
	if (r->conns.n > 0) {
		cp->conns = copy_alloc(cp, r->conns.n * sizeof(*cp->conns));
		walk.ok = cp->conns != NULL;
		if (walk.ok)
			memset(cp->conns, 0, r->conns.n * sizeof(*cp->conns));
	}
	if (walk.ok && opt->conn_id != 0) {
		struct registry_conn *c = conn_index_get(&r->conns,
							 opt->conn_id);
		if (c)
			copy_walk_one(c, &walk);
	} else if (walk.ok) {
		conn_index_each(&r->conns, copy_walk_one, &walk);
	}
	pthread_mutex_unlock(&r->lock);
	if (!walk.ok) {
		copy_free(cp);
		return false;
	}
	/* Oldest first, as they were opened (conns is NULL when none). */
	if (cp->n > 1)
		qsort(cp->conns, cp->n, sizeof(*cp->conns), copy_by_id);
	return true;
}

/* ---- writing ------------------------------------------------------------ */

static const char *const dir_names[2] = {"sent", "received"};

static const char *role_name(unsigned role)
{
	return role == REGISTRY_CLIENT ? "client" : "server";
}

static const char *state_name(unsigned state)
{
	switch (state) {
	case REGISTRY_CONNECTING:
		return "connecting";
	case REGISTRY_OPEN:
		return "open";
	case REGISTRY_CLOSING:
		return "closing";
	case REGISTRY_CLOSED:
		return "closed";
	case REGISTRY_REJECTED:
		return "rejected";
	default:
		return "unknown";
	}
}

static const char *by_name(unsigned by)
{
	switch (by) {
	case REGISTRY_BY_CLIENT:
		return "client";
	case REGISTRY_BY_SERVER:
		return "server";
	default:
		return NULL;
	}
}

static void write_config(struct json_writer *w, const struct registry_config *c)
{
	json_object_begin(w, "config", true);
	json_uint(w, "max_connections", c->max_connections);
	json_uint(w, "max_messages", c->max_messages);
	json_uint(w, "max_message_size", c->max_message_size);
	json_bool(w, "show_binary", c->show_binary);
	json_uint(w, "binary_preview", c->binary_preview);
	json_uint(w, "ttl", c->ttl);
	json_uint(w, "max_memory", c->max_memory);
	json_uint(w, "max_conn_memory", c->max_conn_memory);
	json_uint(w, "max_held", c->max_held);
	json_uint(w, "max_conn_held", c->max_conn_held);
	json_bool(w, "inflate", c->inflate);
	json_uint(w, "max_inflate", c->max_inflate);
	json_string(w, "capture", c->metadata_only ? "metadata" : "full");
	json_object_end(w);
}

static void write_totals(struct json_writer *w, const struct copy *cp)
{
	static const char *const types[REGISTRY_TYPE_COUNT_] = {
	    "text", "binary", "close", "ping", "pong"};
	const struct registry_totals *t = &cp->totals;

	json_object_begin(w, "totals", false);
	json_uint(w, "connections", t->connections);
	json_uint(w, "active", cp->nactive);
	json_uint(w, "closed", t->closed);
	json_uint(w, "rejected", t->rejected);
	json_uint(w, "evicted", t->evicted);
	json_uint(w, "expired", t->expired);
	json_uint(w, "untracked", t->untracked);
	json_uint(w, "tracked", cp->nconns);
	json_uint(w, "errors", t->errors);
	json_uint(w, "oversized_handshakes", t->oversized_handshakes);
	json_uint(w, "messages_sent", t->dir[REGISTRY_SENT].counts.messages);
	json_uint(w, "messages_received",
		  t->dir[REGISTRY_RECEIVED].counts.messages);
	json_uint(w, "bytes_sent", t->dir[REGISTRY_SENT].counts.bytes);
	json_uint(w, "bytes_received", t->dir[REGISTRY_RECEIVED].counts.bytes);
	json_uint(w, "frames_sent", t->dir[REGISTRY_SENT].counts.frames);
	json_uint(w, "frames_received", t->dir[REGISTRY_RECEIVED].counts.frames);
	json_uint(w, "wire_bytes_sent", t->dir[REGISTRY_SENT].counts.wire_bytes);
	json_uint(w, "wire_bytes_received",
		  t->dir[REGISTRY_RECEIVED].counts.wire_bytes);
	json_uint(w, "inflate_capped_sent", t->inflate_capped[REGISTRY_SENT]);
	json_uint(w, "inflate_capped_received",
		  t->inflate_capped[REGISTRY_RECEIVED]);
	json_uint(w, "not_inflated_sent", t->not_inflated[REGISTRY_SENT]);
	json_uint(w, "not_inflated_received",
		  t->not_inflated[REGISTRY_RECEIVED]);
	json_uint(w, "memory_used", cp->mem);
	json_uint(w, "memory_held", cp->held);
	json_object_begin(w, "by_type", true);
	for (int d = 0; d < 2; d++) {
		json_object_begin(w, dir_names[d], true);
		for (int i = 0; i < REGISTRY_TYPE_COUNT_; i++)
			json_uint(w, types[i], t->dir[d].by_type[i]);
		json_object_end(w);
	}
	json_object_end(w);
	json_object_end(w);
}

static void write_headers(struct json_writer *w, const struct registry_conn *c)
{
	const char *p = c->strs ? c->strs + c->off_headers : NULL;

	json_object_begin(w, "headers", true);
	for (uint32_t i = 0; i < c->nheaders; i++) {
		const char *name = p;
		const char *value = name + strlen(name) + 1;

		json_string(w, name, value);
		p = value + strlen(value) + 1;
	}
	json_object_end(w);
}

static void write_counts(struct json_writer *w, const char *key,
			 const struct registry_counts *n)
{
	json_object_begin(w, key, true);
	json_uint(w, "messages", n->messages);
	json_uint(w, "bytes", n->bytes);
	json_uint(w, "frames", n->frames);
	json_uint(w, "wire_bytes", n->wire_bytes);
	json_object_end(w);
}

static void write_rtt(struct json_writer *w, const struct registry_rtt *rtt)
{
	if (rtt->samples == 0) {
		json_null(w, "rtt_ms");
		return;
	}
	json_object_begin(w, "rtt_ms", true);
	json_double(w, "last", rtt->last, 3);
	json_double(w, "min", rtt->min, 3);
	json_double(w, "avg", rtt->sum / rtt->samples, 3);
	json_double(w, "max", rtt->max, 3);
	json_uint(w, "samples", rtt->samples);
	json_object_end(w);
}

static void write_close(struct json_writer *w, const struct registry_conn *c)
{
	if (!c->close_known) {
		json_null(w, "close");
		return;
	}
	json_object_begin(w, "close", true);
	json_int(w, "code", c->close_code);
	if (c->close_reason)
		json_bytes(w, "reason", (const uint8_t *)c->close_reason,
			   c->close_reason_len, false);
	else if (c->close_by == REGISTRY_BY_NONE)
		json_null(w, "reason"); /* no close frame: nothing said */
	else
		json_string(w, "reason", "");
	json_string(w, "by", by_name(c->close_by));
	json_object_end(w);
}

static void write_error(struct json_writer *w, const struct registry_conn *c)
{
	char text[256];

	if (c->error == WS_OK) {
		json_null(w, "error");
		json_null(w, "error_name");
		return;
	}
	snprintf(text, sizeof(text), "%s: %s", dir_names[c->error_dir & 1],
		 ws_strerror(c->error));
	json_string(w, "error", text);
	json_string(w, "error_name", ws_error_name(c->error));
}

/* Printable UTF-8: valid, and no control characters. */
static bool printable(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return utf8_is_valid(p, n);
}

/* The content of an empty payload is known without storing it: an empty
 * text, reason or ping payload shows as "" rather than no key at all. */
static bool empty_content(const struct registry_slot *s)
{
	if (s->opcode == WS_OPCODE_CLOSE)
		return s->size <= 2; /* at most a code: no reason */
	return s->size == 0;
}

static void write_content(struct json_writer *w, const struct registry_slot *s)
{
	const struct stored_data *d = s->data;

	switch (s->opcode) {
	case WS_OPCODE_TEXT:
		json_bool(w, "utf8_valid", s->utf8_valid);
		if (d)
			json_bytes(w, "text", d->bytes, d->len, s->truncated);
		else if (empty_content(s))
			json_string(w, "text", "");
		break;
	case WS_OPCODE_BINARY:
		if (d)
			json_hex(w, "hex", d->bytes, d->len);
		break;
	case WS_OPCODE_CLOSE:
		if (s->close_code >= 0) {
			json_int(w, "code", s->close_code);
			json_bool(w, "code_valid", s->code_valid);
		} else {
			json_null(w, "code");
		}
		json_bool(w, "utf8_valid", s->utf8_valid);
		if (d)
			json_bytes(w, "text", d->bytes, d->len, false);
		else if (empty_content(s))
			json_string(w, "text", "");
		break;
	default: /* ping, pong */
		if (d && printable(d->bytes, d->len))
			json_bytes(w, "text", d->bytes, d->len, false);
		else if (d)
			json_hex(w, "hex", d->bytes, d->len);
		else if (empty_content(s))
			json_string(w, "text", "");
		break;
	}
}

static void write_message(struct json_writer *w, const struct registry_slot *s)
{
	json_object_begin(w, NULL, true);
	json_uint(w, "seq", s->seq);
	json_double(w, "t", s->t, 6);
	json_string(w, "dir", dir_names[s->dir & 1]);
	json_string(w, "type", ws_opcode_name(s->opcode));
	json_uint(w, "size", s->size);
	json_uint(w, "frames", s->frames);
	json_bool(w, "compressed", s->compressed);
	if (s->compressed) {
		json_bool(w, "inflated", s->inflate != REGISTRY_INFLATE_NONE);
		json_bool(w, "size_is_lower_bound",
			  s->inflate == REGISTRY_INFLATE_CAPPED);
	}
	json_bool(w, "truncated", s->truncated);
	write_content(w, s);
	json_bool(w, "text_dropped", s->text_dropped);
	json_object_end(w);
}

static void write_conn(struct json_writer *w, const struct conn_copy *cc,
		       const struct registry_snapshot_options *opt)
{
	const struct registry_conn *c = &cc->c;
	char id[24];
	double end = c->closed_at >= 0 ? c->closed_at
		     : c->ended	       ? c->ended_at
				       : opt->taken_at;

	snprintf(id, sizeof(id), "%" PRIx64, c->id);
	json_object_begin(w, NULL, false);
	json_string(w, "id", id);
	json_int(w, "fd", c->fd);
	json_string(w, "role", role_name(c->role));
	json_string(w, "state", state_name(c->state));
	json_string(w, "local", registry_conn_str(c, c->off_local));
	json_string(w, "peer", registry_conn_str(c, c->off_peer));
	json_string(w, "path", registry_conn_str(c, c->off_path));
	json_string(w, "query", registry_conn_str(c, c->off_query));
	write_headers(w, c);
	json_string(w, "subprotocol", registry_conn_str(c, c->off_subprotocol));
	json_string(w, "extensions", registry_conn_str(c, c->off_extensions));
	if (c->status)
		json_int(w, "status", c->status);
	else
		json_null(w, "status");
	json_double(w, "opened_at", c->opened_at, 6);
	if (c->closed_at >= 0)
		json_double(w, "closed_at", c->closed_at, 6);
	else
		json_null(w, "closed_at");
	json_double(w, "duration", end > c->opened_at ? end - c->opened_at : 0,
		    6);
	write_close(w, c);
	write_counts(w, "sent", &c->counts[REGISTRY_SENT]);
	write_counts(w, "received", &c->counts[REGISTRY_RECEIVED]);
	write_rtt(w, &c->rtt);
	json_uint(w, "messages_dropped", c->messages_dropped);
	json_uint(w, "memory_used", c->mem);
	json_uint(w, "memory_held", cc->held);
	write_error(w, c);
	json_string(w, "fault",
		    c->fault ? registry_fault_name(c->fault - 1) : NULL);
	if (opt->messages) {
		json_array_begin(w, "messages", false);
		for (uint32_t i = 0; i < cc->nmsgs; i++)
			write_message(w, &cc->msgs[i]);
		json_array_end(w);
	}
	json_object_end(w);
}

/* Whether tracking is on, and the faults that count towards the circuit
 * breaker (registry.h). */
static void write_tracking(struct json_writer *w, const struct copy *cp)
{
	json_object_begin(w, "tracking", false);
	json_bool(w, "enabled", !cp->disabled);
	json_string(w, "reason",
		    cp->disabled ? cp->disabled_reason : NULL);
	json_uint(w, "faults", cp->faults);
	json_uint(w, "fault_limit", REGISTRY_FAULT_LIMIT);
	json_object_begin(w, "faults_by_kind", true);
	for (unsigned k = 0; k < REGISTRY_FAULT_KINDS_; k++)
		json_uint(w, registry_fault_name(k), cp->faults_by_kind[k]);
	json_object_end(w);
	json_object_begin(w, "first_fault_at", true);
	for (unsigned k = 0; k < REGISTRY_FAULT_KINDS_; k++)
		json_string(w, registry_fault_name(k), cp->fault_where[k]);
	json_object_end(w);
	json_object_end(w);
}

static void write_snapshot(struct json_writer *w, const struct copy *cp,
			   const struct registry_snapshot_options *opt)
{
	json_object_begin(w, NULL, false);
	json_int(w, "wsdbg", 1);
	json_int(w, "pid", opt->pid);
	json_string(w, "process", opt->process);
	json_double(w, "taken_at", opt->taken_at, 6);
	write_tracking(w, cp);
	write_config(w, &cp->cfg);
	write_totals(w, cp);
	json_array_begin(w, "connections", false);
	for (size_t i = 0; i < cp->n; i++)
		write_conn(w, &cp->conns[i], opt);
	json_array_end(w);
	json_object_end(w);
	json_finish(w);
}

char *registry_snapshot_json(struct registry *r,
			     const struct registry_snapshot_options *opt,
			     size_t *len)
{
	struct json_writer w;
	struct copy cp;

	if (!copy_take(r, opt, &cp)) {
		if (len)
			*len = 0;
		return NULL;
	}
	json_init_with(&w, false, opt->alloc);
	write_snapshot(&w, &cp, opt);
	copy_free(&cp);
	return json_take(&w, len);
}

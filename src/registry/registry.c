/*
 * registry.c - the connection table: creating and freeing the registry,
 * connections from upgrade to close, the max_connections and ttl limits,
 * the small updates (wire bytes, errors), internal faults and the
 * circuit breaker. Messages are in messages.c, the JSON in snapshot.c.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

#include "registry_private.h"
#include "wsdbg/http_upgrade.h"
#include "wsdbg/ws_close.h"

/* How a secret header's value is stored (DESIGN: shown redacted). */
static const char redacted[] = "[redacted]";

struct registry *registry_new(const struct registry_config *cfg)
{
	struct registry *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cfg = *cfg;
	r->last_expire = -HUGE_VAL;
	if (pthread_mutex_init(&r->lock, NULL) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

/* Frees c with all it holds (its stored data leaves r's counts). Lock
 * held; c is no longer in r->conns. */
static void conn_destroy(struct registry *r, struct registry_conn *c)
{
	registry_conn_free_messages(r, c);
	free(c->strs);
	free(c->close_reason);
	free(c);
}

/* Unlinks c from every list and frees it. Lock held. */
static void conn_remove(struct registry *r, struct registry_conn *c)
{
	conn_index_del(&r->conns, c->id);
	registry_conn_unage(r, c);
	if (c->ended)
		DL_DELETE(r->ended, c);
	else
		r->nactive--;
	conn_destroy(r, c);
}

static void conn_destroy_each(struct registry_conn *c, void *r)
{
	conn_destroy(r, c);
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	conn_index_each(&r->conns, conn_destroy_each, r);
	conn_index_free(&r->conns);
	conn_ages_free(&r->ages);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

struct registry_config registry_get_config(const struct registry *r)
{
	/* cfg never changes after registry_new: no lock needed. */
	return r->cfg;
}

/* c stopped being active at now: it joins the ended list, whose order
 * decides eviction (oldest ended first) and expiry. Lock held. */
static void conn_end(struct registry *r, struct registry_conn *c, double now)
{
	if (c->ended)
		return;
	c->ended = true;
	c->ended_at = now;
	r->nactive--;
	DL_APPEND(r->ended, c);
}

/* ---- request strings ---------------------------------------------------- */

/* A string block being sized (buf NULL) or filled. */
struct strblock {
	char *buf;
	size_t len;
};

static uint32_t strblock_add(struct strblock *b, const char *s, size_t n)
{
	uint32_t off = (uint32_t)b->len;

	if (b->buf) {
		memcpy(b->buf + b->len, s, n);
		b->buf[b->len + n] = '\0';
	}
	b->len += n + 1;
	return off;
}

static uint32_t strblock_add_opt(struct strblock *b, const char *s)
{
	return s ? strblock_add(b, s, strlen(s)) : REGISTRY_NO_STRING;
}

/* Adds query q with the values of credential parameters redacted
 * (http_query_redact); REGISTRY_NO_STRING for none. */
static uint32_t strblock_add_query(struct strblock *b, const char *q)
{
	uint32_t off = (uint32_t)b->len;
	size_t n;

	if (!q)
		return REGISTRY_NO_STRING;
	n = http_query_redact(q, strlen(q), redacted,
			      b->buf ? b->buf + b->len : NULL);
	if (b->buf)
		b->buf[b->len + n] = '\0';
	b->len += n + 1;
	return off;
}

/* Adds header name i lower-cased, then the values of every header of that
 * name joined with ", " (RFC 9110 5.3), or "[redacted]". Returns false if
 * an earlier header had the same name (already added). */
static bool strblock_add_header(struct strblock *b,
				const struct registry_request *req, size_t i)
{
	const char *name = req->header_names[i];
	size_t off;
	bool first = true;

	for (size_t j = 0; j < i; j++)
		if (req->header_names[j] &&
		    strcasecmp(req->header_names[j], name) == 0)
			return false;
	off = strblock_add(b, name, strlen(name));
	if (b->buf)
		for (char *p = b->buf + off; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	if (http_header_is_secret(name)) {
		strblock_add(b, redacted, strlen(redacted));
		return true;
	}
	for (size_t j = i; j < req->nheaders; j++) {
		const char *v =
		    req->header_values[j] ? req->header_values[j] : "";
		size_t n = strlen(v);

		if (!req->header_names[j] ||
		    strcasecmp(req->header_names[j], name) != 0)
			continue;
		if (!first) {
			if (b->buf)
				memcpy(b->buf + b->len, ", ", 2);
			b->len += 2;
		}
		if (b->buf)
			memcpy(b->buf + b->len, v, n);
		b->len += n;
		first = false;
	}
	if (b->buf)
		b->buf[b->len] = '\0';
	b->len++;
	return true;
}

/* Fills c's string block from req: one pass to size it, one to fill it.
 * False when memory is short or the strings are absurdly long. */
static bool conn_set_request(struct registry_conn *c,
			     const struct registry_request *req)
{
	struct strblock b = {0};

	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			if (b.len > UINT32_MAX / 2)
				return false;
			c->strs = malloc(b.len);
			if (!c->strs)
				return false;
			c->strs_len = (uint32_t)b.len;
			b = (struct strblock){.buf = c->strs};
		}
		c->off_local = strblock_add_opt(&b, req->local);
		c->off_peer = strblock_add_opt(&b, req->peer);
		c->off_path = strblock_add_opt(&b, req->path);
		c->off_query = strblock_add_query(&b, req->query);
		c->off_headers = (uint32_t)b.len;
		c->nheaders = 0;
		for (size_t i = 0; i < req->nheaders; i++)
			if (req->header_names[i] &&
			    strblock_add_header(&b, req, i))
				c->nheaders++;
	}
	c->off_subprotocol = REGISTRY_NO_STRING;
	c->off_extensions = REGISTRY_NO_STRING;
	return true;
}

/* Appends the answer's subprotocol and extensions to c's string block.
 * When memory is short they stay unknown and false is returned. */
static bool conn_set_answer(struct registry_conn *c,
			    const struct registry_response *res)
{
	size_t sp = res->subprotocol ? strlen(res->subprotocol) + 1 : 0;
	size_t ex = res->extensions ? strlen(res->extensions) + 1 : 0;
	size_t len = c->strs_len + sp + ex;
	struct strblock b;
	char *grown;

	if (sp + ex == 0 || len > UINT32_MAX / 2)
		return true;
	grown = realloc(c->strs, len);
	if (!grown)
		return false;
	c->strs = grown;
	b = (struct strblock){.buf = grown, .len = c->strs_len};
	c->off_subprotocol = strblock_add_opt(&b, res->subprotocol);
	c->off_extensions = strblock_add_opt(&b, res->extensions);
	c->strs_len = (uint32_t)len;
	return true;
}

/* Removes the connections that ended ttl seconds or more before now.
 * Returns how many. Lock held. */
static unsigned expire_locked(struct registry *r, double now)
{
	unsigned n = 0;

	/* The ended list is in end order: stop at the first one still young. */
	while (r->ended && r->ended->ended_at + (double)r->cfg.ttl <= now) {
		conn_remove(r, r->ended);
		n++;
	}
	r->totals.expired += n;
	r->last_expire = now;
	return n;
}

/* ---- lifecycle ---------------------------------------------------------- */

uint64_t registry_open(struct registry *r, const struct registry_request *req,
		       double now)
{
	/* Built before taking the lock: the allocations need no lock. */
	struct registry_conn *c = calloc(1, sizeof(*c));

	if (c && !conn_set_request(c, req)) {
		free(c->strs);
		free(c);
		c = NULL;
	}
	if (c) {
		c->fd = req->fd;
		c->role = (uint8_t)req->role;
		c->state = REGISTRY_CONNECTING;
		c->opened_at = now;
		c->closed_at = -1;
		c->close_code = -1;
	}

	pthread_mutex_lock(&r->lock);
	if (r->disabled) {
		pthread_mutex_unlock(&r->lock);
		if (c)
			free(c->strs);
		free(c);
		return 0;
	}
	/* Closed connections past their ttl are reclaimed here too, not
	 * only when a snapshot is asked for: at most once a second (or when
	 * the clock went back), so a busy host pays for it rarely. */
	if (now - r->last_expire >= REGISTRY_EXPIRE_INTERVAL ||
	    now < r->last_expire)
		expire_locked(r, now);
	r->totals.connections++;
	if (!c) {
		r->totals.untracked++;
		registry_fault_locked(r, NULL, REGISTRY_FAULT_NOMEM,
				      "registry: connection record");
		pthread_mutex_unlock(&r->lock);
		return REGISTRY_ID_FAULT;
	}
	if (r->conns.n >= r->cfg.max_connections && r->ended) {
		/* Full: the connection that ended first makes room. */
		conn_remove(r, r->ended);
		r->totals.evicted++;
	}
	if (r->conns.n >= r->cfg.max_connections) {
		/* Every kept connection is open: this one is only counted. */
		r->totals.untracked++;
		pthread_mutex_unlock(&r->lock);
		free(c->strs);
		free(c);
		return 0;
	}
	c->id = ++r->last_id;
	if (!conn_index_put(&r->conns, c->id, c)) {
		/* The table could not grow: not added. */
		r->last_id--;
		r->totals.untracked++;
		registry_fault_locked(r, NULL, REGISTRY_FAULT_NOMEM,
				      "registry: connection table");
		pthread_mutex_unlock(&r->lock);
		free(c->strs);
		free(c);
		return REGISTRY_ID_FAULT;
	}
	r->nactive++;
	registry_conn_recount(r, c);
	pthread_mutex_unlock(&r->lock);
	return c->id;
}

bool registry_answer(struct registry *r, uint64_t id,
		     const struct registry_response *res, double now)
{
	struct registry_conn *c;
	bool ok = true;

	pthread_mutex_lock(&r->lock);
	c = r->disabled ? NULL : conn_index_get(&r->conns, id);
	/* Only the first answer to the request counts. */
	if (c && c->state == REGISTRY_CONNECTING && c->status == 0) {
		c->status = res->status;
		if (res->status == 101) {
			c->state = REGISTRY_OPEN;
			if (!conn_set_answer(c, res)) {
				registry_fault_locked(
				    r, c, REGISTRY_FAULT_NOMEM,
				    "registry: subprotocol and extensions");
				ok = false;
			}
			registry_conn_recount(r, c); /* the strings grew */
		} else {
			c->state = REGISTRY_REJECTED;
			r->totals.rejected++;
			conn_end(r, c, now);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ok;
}

void registry_closed(struct registry *r, uint64_t id, double now)
{
	struct registry_conn *c;

	pthread_mutex_lock(&r->lock);
	c = r->disabled ? NULL : conn_index_get(&r->conns, id);
	if (c && c->closed_at < 0) {
		c->closed_at = now;
		/* A rejected upgrade keeps its state and has no close: it is
		 * counted once, as rejected, not also as closed. */
		if (c->state != REGISTRY_REJECTED) {
			r->totals.closed++;
			c->state = REGISTRY_CLOSED;
			if (!c->close_known) {
				/* RFC 6455 7.1.5: no close frame seen. */
				c->close_known = true;
				c->close_code = WS_CLOSE_ABNORMAL;
				c->close_by = REGISTRY_BY_NONE;
			}
		}
		conn_end(r, c, now);
	}
	pthread_mutex_unlock(&r->lock);
}

unsigned registry_expire(struct registry *r, double now)
{
	unsigned n;

	pthread_mutex_lock(&r->lock);
	n = expire_locked(r, now);
	pthread_mutex_unlock(&r->lock);
	return n;
}

/* ---- small updates ------------------------------------------------------ */

void registry_wire_bytes(struct registry *r, uint64_t id, enum registry_dir dir,
			 uint64_t bytes)
{
	struct registry_batch b;

	registry_batch_begin(r, &b, id);
	registry_batch_wire_bytes(&b, dir, bytes);
	registry_batch_end(&b);
}

void registry_oversized_handshake(struct registry *r)
{
	pthread_mutex_lock(&r->lock);
	if (!r->disabled)
		r->totals.oversized_handshakes++;
	pthread_mutex_unlock(&r->lock);
}

void registry_error(struct registry *r, uint64_t id, enum registry_dir dir,
		    enum ws_error err)
{
	struct registry_conn *c;

	if (err == WS_OK)
		return;
	pthread_mutex_lock(&r->lock);
	if (r->disabled) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	r->totals.errors++;
	c = conn_index_get(&r->conns, id);
	if (c && c->error == WS_OK) {
		c->error = err;
		c->error_dir = (uint8_t)dir;
	}
	pthread_mutex_unlock(&r->lock);
}

/* ---- faults and the circuit breaker ----------------------------------- */

const char *registry_fault_name(enum registry_fault kind)
{
	switch (kind) {
	case REGISTRY_FAULT_NOMEM:
		return "out_of_memory";
	case REGISTRY_FAULT_INVARIANT:
		return "broken_invariant";
	default:
		return "unknown";
	}
}

/* Sets the reason and the flag. Lock held; allocates nothing (the
 * breaker trips when memory may be what is short). */
static void disable_locked(struct registry *r, const char *reason)
{
	if (!r->disabled)
		snprintf(r->disabled_reason, sizeof(r->disabled_reason), "%s",
			 reason ? reason : "");
	r->disabled = true;
}

bool registry_fault_locked(struct registry *r, struct registry_conn *c,
			   enum registry_fault kind, const char *where)
{
	unsigned raise = 0;
	char reason[REGISTRY_REASON_MAX];

	if (r->disabled || (unsigned)kind >= REGISTRY_FAULT_KINDS_)
		return false;
	r->faults++;
	r->faults_by_kind[kind]++;
	if (!r->fault_where[kind])
		r->fault_where[kind] = where;
	if (c && !c->fault)
		c->fault = (uint8_t)(kind + 1);
	raise |= (r->announced & (1u << kind)) ? 0 : 1u << kind;
	if (r->faults >= REGISTRY_FAULT_LIMIT) {
		snprintf(reason, sizeof(reason),
			 "%u internal faults (out of memory: %llu, broken "
			 "invariant: %llu); tracking switched off",
			 (unsigned)REGISTRY_FAULT_LIMIT,
			 (unsigned long long)
			     r->faults_by_kind[REGISTRY_FAULT_NOMEM],
			 (unsigned long long)
			     r->faults_by_kind[REGISTRY_FAULT_INVARIANT]);
		disable_locked(r, reason);
		raise |= REGISTRY_NOTICE_TRIPPED;
	}
	r->announced |= raise;
	if (raise)
		atomic_fetch_or(&r->notices, raise);
	return (raise & REGISTRY_NOTICE_TRIPPED) != 0;
}

bool registry_fault(struct registry *r, enum registry_fault kind, uint64_t id,
		    const char *where)
{
	bool tripped;

	pthread_mutex_lock(&r->lock);
	/* REGISTRY_ID_FAULT and 0 are never in the index: no connection. */
	tripped = registry_fault_locked(r, conn_index_get(&r->conns, id), kind,
					where);
	pthread_mutex_unlock(&r->lock);
	return tripped;
}

unsigned registry_take_notices(struct registry *r)
{
	/* A plain load first: nearly always 0, and an exchange is a write
	 * to a line every recording thread reads. */
	if (atomic_load_explicit(&r->notices, memory_order_relaxed) == 0)
		return 0;
	return atomic_exchange(&r->notices, 0u);
}

const char *registry_fault_where(struct registry *r, enum registry_fault kind)
{
	const char *where = NULL;

	if ((unsigned)kind >= REGISTRY_FAULT_KINDS_)
		return NULL;
	pthread_mutex_lock(&r->lock);
	where = r->fault_where[kind];
	pthread_mutex_unlock(&r->lock);
	return where;
}

void registry_disable(struct registry *r, const char *reason)
{
	pthread_mutex_lock(&r->lock);
	disable_locked(r, reason);
	pthread_mutex_unlock(&r->lock);
}

bool registry_enabled(struct registry *r)
{
	bool enabled;

	pthread_mutex_lock(&r->lock);
	enabled = !r->disabled;
	pthread_mutex_unlock(&r->lock);
	return enabled;
}

size_t registry_memory_used(struct registry *r)
{
	size_t mem;

	pthread_mutex_lock(&r->lock);
	mem = r->mem;
	pthread_mutex_unlock(&r->lock);
	return mem;
}

/* session.c - running the decoding core over one recorded connection. */
#include "session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsdbg/ws_frame.h"

/* A command-line tool: out of memory ends the run with one clear line. */
static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fputs("wsdbg-decode: out of memory\n", stderr);
		exit(1);
	}
	return q;
}

static void *xcalloc(size_t n)
{
	void *p = xrealloc(NULL, n);

	memset(p, 0, n);
	return p;
}

const char *session_state_name(enum session_state state)
{
	switch (state) {
	case SESSION_CONNECTING: return "connecting";
	case SESSION_OPEN: return "open";
	case SESSION_CLOSING: return "closing";
	case SESSION_CLOSED: return "closed";
	case SESSION_REJECTED: return "rejected";
	case SESSION_SKIPPED: return "skipped";
	}
	return "unknown";
}

struct session *session_new(const char *id, double t,
			    const struct session_options *opt)
{
	struct session *s = xcalloc(sizeof(*s));

	snprintf(s->id, sizeof(s->id), "%s", id);
	s->opt = *opt;
	s->opened_at = s->last_at = t;
	s->close_dir = -1;
	s->closed_at = -1;
	s->hs[WSTRACE_C2S] = xcalloc(sizeof(struct http_upgrade));
	s->hs[WSTRACE_S2C] = xcalloc(sizeof(struct http_upgrade));
	http_upgrade_init(s->hs[WSTRACE_C2S], HTTP_UPGRADE_REQUEST);
	http_upgrade_init(s->hs[WSTRACE_S2C], HTTP_UPGRADE_RESPONSE);
	return s;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	if (s->started) {
		ws_decoder_free(&s->dec[WSTRACE_C2S]);
		ws_decoder_free(&s->dec[WSTRACE_S2C]);
	}
	for (size_t i = 0; i < s->nmsgs; i++)
		free(s->msgs[i].data);
	free(s->msgs);
	free(s->pending);
	free(s->hs[WSTRACE_C2S]);
	free(s->hs[WSTRACE_S2C]);
	free(s);
}

__attribute__((format(printf, 2, 3)))
static void session_skip(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->skip_reason, sizeof(s->skip_reason), fmt, ap);
	va_end(ap);
	s->state = SESSION_SKIPPED;
}

enum ws_error session_error(const struct session *s, enum wstrace_dir *dir)
{
	enum wstrace_dir first = WSTRACE_C2S;

	if (s->error[WSTRACE_C2S] == WS_OK ||
	    (s->error[WSTRACE_S2C] != WS_OK &&
	     s->error_at[WSTRACE_S2C] < s->error_at[WSTRACE_C2S]))
		first = WSTRACE_S2C;
	if (dir)
		*dir = first;
	return s->error[first];
}

/* ---- messages ---------------------------------------------------------- */

static void remember_ping(struct session *s, const struct session_message *m)
{
	struct session_ping *p;

	if (s->npings == SESSION_MAX_PINGS) { /* forget the oldest */
		memmove(&s->pings[0], &s->pings[1],
			sizeof(s->pings[0]) * (SESSION_MAX_PINGS - 1));
		s->npings--;
	}
	p = &s->pings[s->npings++];
	p->dir = m->dir;
	p->t = m->t;
	p->len = m->kept < sizeof(p->payload) ? m->kept : sizeof(p->payload);
	if (p->len)
		memcpy(p->payload, m->data, p->len);
}

/* A pong answers the oldest unanswered ping sent the other way with the
 * same payload (RFC 6455 5.5.3); its RTT is the time between the two. */
static void match_pong(struct session *s, struct session_message *m)
{
	for (size_t i = 0; i < s->npings; i++) {
		struct session_ping *p = &s->pings[i];

		if (p->dir == m->dir || p->len != m->kept ||
		    (p->len && memcmp(p->payload, m->data, p->len) != 0))
			continue;
		m->rtt_ms = (m->t - p->t) * 1000.0;
		s->rtt_last = m->rtt_ms;
		if (s->rtt_samples == 0 || m->rtt_ms < s->rtt_min)
			s->rtt_min = m->rtt_ms;
		if (s->rtt_samples == 0 || m->rtt_ms > s->rtt_max)
			s->rtt_max = m->rtt_ms;
		s->rtt_sum += m->rtt_ms;
		s->rtt_samples++;
		memmove(p, p + 1, sizeof(*p) * (s->npings - i - 1));
		s->npings--;
		return;
	}
}

static void note_close(struct session *s, const struct session_message *m)
{
	if (s->close_dir < 0) {
		s->close_dir = (int)m->dir;
		s->state = SESSION_CLOSING;
	} else if (s->close_dir != (int)m->dir && s->closed_at < 0) {
		s->state = SESSION_CLOSED;
		s->closed_at = m->t;
	}
}

/* Copies what the decoder reported (its data lives only until the next
 * call) into the session's list. */
static void add_message(struct session *s, enum wstrace_dir dir,
			const struct ws_message *msg, double t)
{
	struct session_message *m;

	if (s->nmsgs == s->msgs_cap) {
		s->msgs_cap = s->msgs_cap ? 2 * s->msgs_cap : 16;
		s->msgs = xrealloc(s->msgs, s->msgs_cap * sizeof(*s->msgs));
	}
	m = &s->msgs[s->nmsgs++];
	*m = (struct session_message){
		.seq = s->nmsgs,
		.t = t,
		.dir = dir,
		.opcode = msg->opcode,
		.compressed = msg->compressed,
		.inflated = msg->inflated,
		.truncated = msg->truncated,
		.utf8_valid = msg->utf8_valid,
		.frames = msg->frames,
		.size = msg->size,
		.wire_size = msg->wire_size,
		.close_code = -1,
		.rtt_ms = -1,
	};
	if (msg->kept && msg->data) {
		m->data = xrealloc(NULL, msg->kept);
		ws_message_copy(msg, m->data, msg->kept);
		m->kept = msg->kept;
	}
	s->totals[dir].messages++;
	s->totals[dir].bytes += msg->size;

	switch (msg->opcode) {
	case WS_OPCODE_CLOSE:
		m->close_code = msg->close_code;
		if (msg->close_reason_len && msg->close_reason >= msg->data &&
		    msg->close_reason + msg->close_reason_len <=
			    msg->data + m->kept) {
			m->close_reason_off =
				(size_t)(msg->close_reason - msg->data);
			m->close_reason_len = msg->close_reason_len;
		}
		note_close(s, m);
		break;
	case WS_OPCODE_PING:
		remember_ping(s, m);
		break;
	case WS_OPCODE_PONG:
		match_pong(s, m);
		break;
	default:
		break;
	}
}

/* ---- decoding ---------------------------------------------------------- */

/* Feeds len bytes at p to the direction's decoder and collects every
 * message it completes. len may be 0: a decoder may still complete a
 * zero-length frame whose header it has already taken. */
static void decode_bytes(struct session *s, enum wstrace_dir dir,
			 const uint8_t *p, size_t len, double t)
{
	struct ws_decoder *d = &s->dec[dir];
	unsigned idle = 0;

	if (!s->decoding[dir]) {
		s->ignored_bytes += len;
		return;
	}
	for (;;) {
		struct ws_message msg;
		size_t used = 0;
		enum ws_decode_status st = ws_decoder_feed(d, p, len, &used,
							   &msg);

		if (used > len)
			goto stalled; /* the core broke its contract */
		p += used;
		len -= used;
		if (st == WS_DECODE_MESSAGE) {
			add_message(s, dir, &msg, t);
			/* Several messages without a byte taken: a loop. */
			idle = used ? 0 : idle + 1;
			if (idle > 2)
				goto stalled;
			continue;
		}
		if (st == WS_DECODE_ERROR) {
			s->error[dir] = ws_decoder_error(d);
			s->error_at[dir] = t;
			s->decoding[dir] = false;
			s->ignored_bytes += len;
		} else if (len != 0) {
			goto stalled; /* NEED_MORE must take everything */
		}
		break;
	}
	s->totals[dir].frames = d->frames;
	return;
stalled:
	s->stalled[dir] = true;
	s->decoding[dir] = false;
	s->error_at[dir] = t;
	s->totals[dir].frames = d->frames;
}

/* The response accepted the upgrade: set up both directions from its
 * Sec-WebSocket-Extensions, as the shim will. */
static void start_decoders(struct session *s)
{
	const struct http_upgrade *resp = s->hs[WSTRACE_S2C];
	char probe[1];
	size_t need = http_upgrade_join(resp, "sec-websocket-extensions",
					probe, sizeof(probe));
	char *ext = xrealloc(NULL, need + 1);

	http_upgrade_join(resp, "sec-websocket-extensions", ext, need + 1);
	s->ext_status = ws_deflate_params_parse(need ? ext : NULL, need,
						&s->deflate);
	free(ext);

	for (int dir = WSTRACE_C2S; dir <= WSTRACE_S2C; dir++) {
		struct ws_decoder_config cfg = {
			.from_client = dir == WSTRACE_C2S,
			.keep_text = s->opt.keep_text,
			.keep_binary = s->opt.keep_binary,
			.inflate = true,
		};

		ws_decoder_config_set_deflate(&cfg, dir == WSTRACE_C2S,
					      s->deflate.enabled ? &s->deflate
								 : NULL);
		ws_decoder_init(&s->dec[dir], &cfg);
		s->decoding[dir] = true;
	}
	s->started = true;
	s->state = SESSION_OPEN;
}

/* Judges a complete request: only a WebSocket upgrade is followed. */
static void request_done(struct session *s)
{
	const struct http_upgrade *req = s->hs[WSTRACE_C2S];

	if (http_upgrade_kind(req) != HTTP_UPGRADE_KIND_WEBSOCKET_REQUEST)
		session_skip(s, "not a WebSocket upgrade: %.40s %.80s",
			     http_upgrade_str(req, req->method),
			     http_upgrade_str(req, req->target));
}

/* Judges a complete response; starts decoding when it is a 101. */
static void response_done(struct session *s, double t)
{
	const struct http_upgrade *resp = s->hs[WSTRACE_S2C];
	const struct http_header *up;

	switch (http_upgrade_kind(resp)) {
	case HTTP_UPGRADE_KIND_ACCEPTED:
		start_decoders(s);
		if (s->pending_len) {
			decode_bytes(s, WSTRACE_C2S, s->pending,
				     s->pending_len, t);
			free(s->pending);
			s->pending = NULL;
			s->pending_len = 0;
		}
		break;
	case HTTP_UPGRADE_KIND_REJECTED:
		s->state = SESSION_REJECTED;
		break;
	case HTTP_UPGRADE_KIND_OTHER_PROTOCOL:
		up = http_upgrade_header(resp, "upgrade");
		session_skip(s, "upgraded to another protocol: %.60s",
			     up ? http_upgrade_str(resp, up->value) : "?");
		break;
	default:
		session_skip(s, "response is not an answer to an upgrade");
		break;
	}
}

/* Runs one direction's handshake parser over the start of a chunk; on
 * return *p and *len describe the bytes after the header block, if any. */
static void handshake_feed(struct session *s, enum wstrace_dir dir,
			   const uint8_t **p, size_t *len, double t)
{
	size_t used = 0;
	enum http_upgrade_status st;

	st = http_upgrade_feed(s->hs[dir], (const char *)*p, *len, &used);
	if (st == HTTP_UPGRADE_NEED_MORE) {
		*p += *len;
		*len = 0;
		return;
	}
	if (st != HTTP_UPGRADE_DONE) {
		session_skip(s, "%s: %s",
			     dir == WSTRACE_C2S ? "request" : "response",
			     http_upgrade_strerror(st));
		return;
	}
	*p += used;
	*len -= used;
	s->hs_done[dir] = true;
	if (dir == WSTRACE_C2S)
		request_done(s);
	else
		response_done(s, t);
}

static void hold_pending(struct session *s, const uint8_t *p, size_t len)
{
	if (s->pending_len + len > SESSION_MAX_PENDING) {
		session_skip(s, "client sent over %u bytes of frames before "
			     "the server answered", SESSION_MAX_PENDING);
		return;
	}
	s->pending = xrealloc(s->pending, s->pending_len + len);
	memcpy(s->pending + s->pending_len, p, len);
	s->pending_len += len;
}

void session_feed(struct session *s, const struct wstrace_record *rec)
{
	const uint8_t *p = rec->data;
	size_t len = rec->len;
	enum wstrace_dir dir = rec->dir;

	s->last_at = rec->t;
	if (!s->hs_done[dir] && s->state != SESSION_REJECTED &&
	    s->state != SESSION_SKIPPED)
		handshake_feed(s, dir, &p, &len, rec->t);
	if (s->state == SESSION_REJECTED || s->state == SESSION_SKIPPED) {
		s->ignored_bytes += len;
		return;
	}
	if (len == 0)
		return;
	if (!s->started) /* client frames before the response: wait */
		hold_pending(s, p, len);
	else
		decode_bytes(s, dir, p, len, rec->t);
}

void session_finish(struct session *s)
{
	static const uint8_t none[1];

	if (!s->started)
		return;
	decode_bytes(s, WSTRACE_C2S, none, 0, s->last_at);
	decode_bytes(s, WSTRACE_S2C, none, 0, s->last_at);
}

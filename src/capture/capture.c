/*
 * capture.c - one socket's bytes in, registry entries out (capture.h).
 *
 * The request direction is the one that carries the upgrade request:
 * received for a server, sent for a client. Each handshake parser is
 * allocated only while it is needed (they hold a 16 KiB header block) and
 * freed as soon as its results are in the registry.
 *
 * Internal faults (an allocation that failed, a module breaking its
 * contract) are reported to the registry (registry_fault: counted, the
 * connection marked, the circuit breaker fed) and the stream stops
 * looking: from then on the connection is passed through unrecorded, its
 * end still recorded.
 *
 * Memory: while frames are decoded, what the stream holds for its
 * connection (itself, the decoders' buffers and inflate state) is reported
 * to the registry before each message is recorded, so that the
 * connection's whole cost stays under max_conn_held; it is reported as 0
 * once the stream lets go of them.
 */
#include "wsdbg/capture.h"

#include <stdlib.h>
#include <string.h>

#include "wsdbg/http_upgrade.h"
#include "wsdbg/ws_extensions.h"

/* Text room for an address: "[v6 address]:port" or a Unix socket path. */
#define CAPTURE_ADDRESS_MAX 128
/* Room for a joined Sec-WebSocket-Extensions or -Protocol value. */
#define CAPTURE_HEADER_VALUE_MAX 1024

void capture_init(struct capture_stream *s, int fd)
{
	*s = (struct capture_stream){.phase = CAPTURE_SNIFF, .fd = fd};
}

static enum registry_dir capture_request_dir(const struct capture_stream *s)
{
	return s->role == REGISTRY_SERVER ? REGISTRY_RECEIVED : REGISTRY_SENT;
}

/* Frees what the handshake and frame phases hold. */
static void capture_release(struct capture_stream *s)
{
	free(s->request);
	free(s->response);
	free(s->pending);
	s->request = s->response = NULL;
	s->pending = NULL;
	s->pending_len = 0;
	if (s->phase == CAPTURE_FRAMES) {
		ws_decoder_free(&s->sent);
		ws_decoder_free(&s->received);
	}
}

/* What the stream holds for its connection while it decodes frames: the
 * stream itself (it lives in the shim's fd table) and the decoders' heap,
 * as last counted. */
static size_t capture_memory(const struct capture_stream *s)
{
	return sizeof(*s) + s->sent_memory + s->received_memory;
}

/* Tells the registry what the stream now holds for its connection, bytes
 * in all, inflate of them its inflate streams. */
static void capture_report_memory(struct capture_stream *s,
				  const struct capture_context *ctx,
				  size_t bytes, size_t inflate)
{
	struct registry_batch batch;

	if (s->id == 0 || s->id == REGISTRY_ID_FAULT)
		return;
	registry_batch_begin(ctx->registry, &batch, s->id);
	registry_batch_capture_memory(&batch, bytes, inflate);
	registry_batch_end(&batch);
}

/* Whether request parser p got as far as a GET method: what a WebSocket
 * upgrade starts with (RFC 6455 4.1). */
static bool capture_began_as_get(const struct http_upgrade *p)
{
	return p->method.len == 3 &&
	       memcmp(p->buf + p->method.off, "GET", 3) == 0;
}

/* Stops looking at this stream; keeps the id so its end is recorded. */
static void capture_ignore(struct capture_stream *s,
			   const struct capture_context *ctx)
{
	if (s->phase == CAPTURE_FRAMES)
		capture_report_memory(s, ctx, 0, 0);
	capture_release(s);
	s->phase = CAPTURE_IGNORED;
}

/* An internal fault hit this stream (see the top of the file). where is a
 * static string naming the place. */
static void capture_fault(struct capture_stream *s,
			  const struct capture_context *ctx,
			  enum registry_fault kind, const char *where)
{
	registry_fault(ctx->registry, kind, s->id, where);
	capture_ignore(s, ctx);
}

static struct http_upgrade *capture_new_parser(enum http_upgrade_role role)
{
	struct http_upgrade *p = malloc(sizeof(*p));
	if (p)
		http_upgrade_init(p, role);
	return p;
}

/* The first byte of the stream decides whether to look further: an HTTP
 * request starts with a method, and every method in use is upper-case
 * letters (RFC 9110 9.1). Anything else costs nothing from now on. */
static void capture_sniff(struct capture_stream *s,
			  const struct capture_context *ctx,
			  enum registry_dir dir, uint8_t first)
{
	if (first < 'A' || first > 'Z') {
		s->phase = CAPTURE_IGNORED;
		return;
	}
	s->role = dir == REGISTRY_RECEIVED ? REGISTRY_SERVER : REGISTRY_CLIENT;
	s->request = capture_new_parser(HTTP_UPGRADE_REQUEST);
	s->phase = CAPTURE_HANDSHAKE;
	if (!s->request)
		capture_fault(s, ctx, REGISTRY_FAULT_NOMEM,
			      "capture: request parser");
}

/* Keeps client bytes that came before the answer (RFC 6455 4.1 says the
 * client waits; some do not). */
static void capture_hold(struct capture_stream *s,
			 const struct capture_context *ctx,
			 const uint8_t *buf, size_t len)
{
	if (len == 0 || s->pending_lost)
		return;
	if (s->pending_len + len > CAPTURE_PENDING_MAX) {
		s->pending_lost = true;
		return;
	}
	uint8_t *p = realloc(s->pending, s->pending_len + len);
	if (!p) {
		capture_fault(s, ctx, REGISTRY_FAULT_NOMEM,
			      "capture: early client frames");
		return;
	}
	memcpy(p + s->pending_len, buf, len);
	s->pending = p;
	s->pending_len += len;
}

/* Hands the parsed upgrade request to the registry. */
static void capture_open(struct capture_stream *s,
			 const struct capture_context *ctx, double now)
{
	const struct http_upgrade *p = s->request;
	const char *names[HTTP_UPGRADE_MAX_HEADERS];
	const char *values[HTTP_UPGRADE_MAX_HEADERS];
	char local[CAPTURE_ADDRESS_MAX] = "", peer[CAPTURE_ADDRESS_MAX] = "";

	for (size_t i = 0; i < p->nheaders; i++) {
		names[i] = http_upgrade_str(p, p->headers[i].name);
		values[i] = http_upgrade_str(p, p->headers[i].value);
	}
	if (ctx->addresses)
		ctx->addresses(s->fd, local, sizeof(local), peer, sizeof(peer));
	struct registry_request req = {
		.fd = s->fd,
		.role = s->role,
		.local = local[0] ? local : NULL,
		.peer = peer[0] ? peer : NULL,
		.path = http_upgrade_str(p, p->path),
		.query = p->has_query ? http_upgrade_str(p, p->query) : NULL,
		.nheaders = p->nheaders,
		.header_names = names,
		.header_values = values,
	};
	s->id = registry_open(ctx->registry, &req, now);
}

/* The request direction's bytes during the handshake. */
static void capture_request_bytes(struct capture_stream *s,
				  const struct capture_context *ctx,
				  const uint8_t *buf, size_t len, double now)
{
	if (!s->request) { /* request done: early client frames */
		capture_hold(s, ctx, buf, len);
		return;
	}
	size_t used = 0;
	enum http_upgrade_status st =
		http_upgrade_feed(s->request, (const char *)buf, len, &used);
	if (used > len) {
		capture_fault(s, ctx, REGISTRY_FAULT_INVARIANT,
			      "capture: request parser used more than given");
		return;
	}
	if (st == HTTP_UPGRADE_NEED_MORE)
		return;
	if (st == HTTP_UPGRADE_TOO_LARGE && capture_began_as_get(s->request))
		registry_oversized_handshake(ctx->registry);
	if (st != HTTP_UPGRADE_DONE ||
	    http_upgrade_kind(s->request) !=
		    HTTP_UPGRADE_KIND_WEBSOCKET_REQUEST) {
		capture_ignore(s, ctx); /* not HTTP, or plain HTTP: not ours */
		return;
	}
	capture_open(s, ctx, now);
	free(s->request);
	s->request = NULL;
	if (s->id == REGISTRY_ID_FAULT) { /* counted by the registry */
		s->id = 0;
		capture_ignore(s, ctx);
		return;
	}
	s->response = capture_new_parser(HTTP_UPGRADE_RESPONSE);
	if (!s->response) {
		capture_fault(s, ctx, REGISTRY_FAULT_NOMEM,
			      "capture: response parser");
		return;
	}
	capture_hold(s, ctx, buf + used, len - used);
}

/* Sets up both decoders for the agreed extensions. */
static void capture_start_frames(struct capture_stream *s,
				 const struct capture_context *ctx,
				 const char *extensions)
{
	struct registry_config rc = registry_get_config(ctx->registry);
	struct ws_decoder_config base = {0}, sent, received;
	struct ws_deflate_params deflate;

	registry_decoder_config(&rc, &base);
	if (s->id == 0) {
		/* Not detailed (past max_connections): only the totals
		 * count it, and what its stream holds is under no cap, for
		 * what may be thousands of such connections. So it holds
		 * nothing: no kept prefix, no inflate state (about 40 KiB a
		 * compressed direction); its compressed messages count
		 * their size on the wire. */
		base.keep_text = base.keep_binary = 0;
		base.inflate = false;
	}
	if (ws_deflate_params_parse(extensions, extensions ? strlen(extensions)
							   : 0,
				    &deflate) != WS_EXTENSIONS_OK)
		deflate.enabled = false;
	sent = received = base;
	/* The client sends masked frames; which side that is depends on
	 * this process's role. */
	bool client_is_us = s->role == REGISTRY_CLIENT;
	ws_decoder_config_set_deflate(&sent, client_is_us, &deflate);
	ws_decoder_config_set_deflate(&received, !client_is_us, &deflate);
	ws_decoder_init(&s->sent, &sent);
	ws_decoder_init(&s->received, &received);
	s->sent_memory = s->received_memory = 0; /* nothing allocated yet */
	s->phase = CAPTURE_FRAMES;
	capture_report_memory(s, ctx, capture_memory(s), 0);
}

static void capture_frames(struct capture_stream *s,
			   const struct capture_context *ctx,
			   enum registry_dir dir, const struct iovec *iov,
			   size_t iovcnt, size_t len, double now);

/* capture_frames of one piece. */
static void capture_frames_buf(struct capture_stream *s,
			       const struct capture_context *ctx,
			       enum registry_dir dir, const uint8_t *buf,
			       size_t len, double now)
{
	struct iovec iov = {.iov_base = (void *)(uintptr_t)buf,
			    .iov_len = len};

	capture_frames(s, ctx, dir, &iov, 1, len, now);
}

/* The answer direction's bytes during the handshake. */
static void capture_answer_bytes(struct capture_stream *s,
				 const struct capture_context *ctx,
				 const uint8_t *buf, size_t len, double now)
{
	if (!s->response) { /* answering before the request ended */
		capture_ignore(s, ctx);
		return;
	}
	size_t used = 0;
	enum http_upgrade_status st =
		http_upgrade_feed(s->response, (const char *)buf, len, &used);
	if (used > len) {
		capture_fault(s, ctx, REGISTRY_FAULT_INVARIANT,
			      "capture: response parser used more than given");
		return;
	}
	if (st == HTTP_UPGRADE_NEED_MORE)
		return;

	const struct http_upgrade *p = s->response;
	char extensions[CAPTURE_HEADER_VALUE_MAX] = "";
	char protocol[CAPTURE_HEADER_VALUE_MAX] = "";
	struct registry_response res = {.status = 0,
					.reason = http_upgrade_strerror(st)};
	if (st == HTTP_UPGRADE_DONE) {
		size_t n = http_upgrade_join(p, "sec-websocket-extensions",
					     extensions, sizeof(extensions));
		http_upgrade_join(p, "sec-websocket-protocol", protocol,
				  sizeof(protocol));
		res.status = p->status;
		res.reason = http_upgrade_str(p, p->reason);
		res.subprotocol = protocol[0] ? protocol : NULL;
		res.extensions = extensions[0] ? extensions : NULL;
		if (n >= sizeof(extensions))
			extensions[0] = '\0'; /* cut short: cannot trust it */
	}
	if (!registry_answer(ctx->registry, s->id, &res, now)) {
		capture_ignore(s, ctx); /* a fault, counted by the registry */
		return;
	}
	if (st != HTTP_UPGRADE_DONE ||
	    http_upgrade_kind(p) != HTTP_UPGRADE_KIND_ACCEPTED) {
		capture_ignore(s, ctx); /* rejected: recorded with its status */
		return;
	}

	/* Accepted: frames from here on, both ways. */
	uint8_t *held = s->pending;
	size_t held_len = s->pending_len;
	bool held_lost = s->pending_lost;
	s->pending = NULL;
	s->pending_len = 0;
	free(s->response);
	s->response = NULL;
	capture_start_frames(s, ctx, extensions[0] ? extensions : NULL);

	enum registry_dir answer_dir = s->role == REGISTRY_SERVER
		? REGISTRY_SENT : REGISTRY_RECEIVED;
	enum registry_dir request_dir = capture_request_dir(s);
	if (held_lost)
		capture_gap(s, ctx, request_dir);
	else if (held_len)
		capture_frames_buf(s, ctx, request_dir, held, held_len, now);
	free(held);
	if (s->phase == CAPTURE_FRAMES && used < len)
		capture_frames_buf(s, ctx, answer_dir, buf + used, len - used,
				   now);
}

/* Tells the registry what decoder d holds now, if that changed. Inline:
 * it runs once per message, and out of line it cost 24 instructions a
 * message where it does nothing. */
static inline void capture_count_decoder(struct capture_stream *s,
					 const struct ws_decoder *d,
					 struct registry_batch *batch)
{
	size_t *held = d == &s->sent ? &s->sent_memory : &s->received_memory;
	size_t now_held = ws_decoder_memory(d);

	if (now_held != *held) {
		*held = now_held;
		registry_batch_capture_memory(
			batch, capture_memory(s),
			ws_decoder_inflate_memory(&s->sent) +
				ws_decoder_inflate_memory(&s->received));
	}
}

/* Decodes buf[0..len) of one direction into the open batch. Returns
 * false when the decoder broke its contract (ws_decoder.h: never more
 * than given, and all of it when it needs more). */
static bool capture_decode(struct capture_stream *s, struct ws_decoder *d,
			   struct registry_batch *batch, enum registry_dir dir,
			   const uint8_t *buf, size_t len, double now)
{
	while (len > 0 && ws_decoder_error(d) == WS_OK && !batch->faulted) {
		size_t used = 0;
		struct ws_message m;
		enum ws_decode_status st =
			ws_decoder_feed(d, buf, len, &used, &m);
		if (used > len || (st == WS_DECODE_NEED_MORE && used != len))
			return false;
		buf += used;
		len -= used;
		if (st != WS_DECODE_MESSAGE)
			break;
		if (!m.inflated) {
			/* Decoding it may have grown a buffer that stays:
			 * counted first. */
			capture_count_decoder(s, d, batch);
			registry_batch_message(batch, dir, &m, now);
			continue;
		}
		/* A compressed message's text was inflated into the
		 * decoder's buffer (up to 10 KiB), needed again only by the
		 * next compressed message: given back once recorded, and
		 * not counted meanwhile, so that it does not evict stored
		 * text for the moment it lives. What stays (the inflate
		 * window, made by the first such message) is counted after,
		 * and the registry gives up the oldest text for it. */
		registry_batch_message(batch, dir, &m, now);
		ws_decoder_trim(d);
		capture_count_decoder(s, d, batch);
	}
	return true;
}

/* Frames in one direction: decode, and count and record what one I/O call
 * moved (len bytes over iov[0..iovcnt)) under one registry lock
 * acquisition (registry.h: only decoding happens while it is held). */
static void capture_frames(struct capture_stream *s,
			   const struct capture_context *ctx,
			   enum registry_dir dir, const struct iovec *iov,
			   size_t iovcnt, size_t len, double now)
{
	struct ws_decoder *d = dir == REGISTRY_SENT ? &s->sent : &s->received;
	struct registry_batch batch;
	bool was_decoding = ws_decoder_error(d) == WS_OK;
	bool broken = false;

	/* What the call moved bounds what its messages may inflate
	 * (ws_decoder.h), and so the work, and the lock held, for it. */
	ws_decoder_begin_input(d, len);
	registry_batch_begin(ctx->registry, &batch, s->id);
	registry_batch_wire_bytes(&batch, dir, len);
	for (size_t i = 0; i < iovcnt && len > 0 && !broken; i++) {
		size_t take = iov[i].iov_len < len ? iov[i].iov_len : len;
		broken = !capture_decode(s, d, &batch, dir, iov[i].iov_base,
					 take, now);
		len -= take;
	}
	registry_batch_end(&batch);
	if (broken) {
		capture_fault(s, ctx, REGISTRY_FAULT_INVARIANT,
			      "capture: frame decoder used more than given");
		return;
	}
	if (batch.faulted) {
		capture_ignore(s, ctx); /* a fault, counted by the registry */
		return;
	}
	if (was_decoding && ws_decoder_error(d) == WS_ERR_NOMEM) {
		/* Decoding gave up for want of memory: that is ours, not
		 * the peer's. */
		registry_error(ctx->registry, s->id, dir, WS_ERR_NOMEM);
		capture_fault(s, ctx, REGISTRY_FAULT_NOMEM,
			      "capture: frame decoder");
		return;
	}
	if (was_decoding && ws_decoder_error(d) != WS_OK) {
		/* Stopped during this call: record why, once. */
		registry_error(ctx->registry, s->id, dir, ws_decoder_error(d));
		/* Both directions stopped: nothing left to look at. */
		if (ws_decoder_error(&s->sent) != WS_OK &&
		    ws_decoder_error(&s->received) != WS_OK)
			capture_ignore(s, ctx);
	}
}

/* Bytes before the frames: sniffing and the handshake, piece by piece. */
static void capture_handshake_bytes(struct capture_stream *s,
				    const struct capture_context *ctx,
				    enum registry_dir dir, const uint8_t *buf,
				    size_t len, double now)
{
	if (s->phase == CAPTURE_SNIFF) {
		capture_sniff(s, ctx, dir, buf[0]);
		if (s->phase != CAPTURE_HANDSHAKE)
			return;
	}
	if (s->phase != CAPTURE_HANDSHAKE)
		capture_fault(s, ctx, REGISTRY_FAULT_INVARIANT,
			      "capture: stream in an unknown phase");
	else if (dir == capture_request_dir(s))
		capture_request_bytes(s, ctx, buf, len, now);
	else
		capture_answer_bytes(s, ctx, buf, len, now);
}

void capture_feed_iov(struct capture_stream *s,
		      const struct capture_context *ctx, enum registry_dir dir,
		      const struct iovec *iov, size_t iovcnt, size_t len,
		      double now)
{
	size_t i = 0;

	/* The usual case first: the whole call, one batch (capture_frames
	 * steps over empty pieces itself). */
	if (s->phase == CAPTURE_FRAMES && len > 0) {
		capture_frames(s, ctx, dir, iov, iovcnt, len, now);
		return;
	}
	while (len > 0 && s->phase != CAPTURE_IGNORED) {
		while (i < iovcnt && iov[i].iov_len == 0)
			i++;
		if (i == iovcnt)
			return;
		if (s->phase == CAPTURE_FRAMES) {
			/* The rest of the call, one batch. */
			capture_frames(s, ctx, dir, iov + i, iovcnt - i, len,
				       now);
			return;
		}
		size_t take = iov[i].iov_len < len ? iov[i].iov_len : len;
		capture_handshake_bytes(s, ctx, dir, iov[i].iov_base, take,
					now);
		len -= take;
		i++;
	}
}

void capture_feed(struct capture_stream *s, const struct capture_context *ctx,
		  enum registry_dir dir, const uint8_t *buf, size_t len,
		  double now)
{
	struct iovec iov = {.iov_base = (void *)(uintptr_t)buf,
			    .iov_len = len};

	capture_feed_iov(s, ctx, dir, &iov, 1, len, now);
}

void capture_gap(struct capture_stream *s, const struct capture_context *ctx,
		 enum registry_dir dir)
{
	if (s->phase == CAPTURE_HANDSHAKE) {
		capture_ignore(s, ctx); /* a handshake with holes cannot be read */
		return;
	}
	if (s->phase != CAPTURE_FRAMES)
		return;
	struct ws_decoder *d = dir == REGISTRY_SENT ? &s->sent : &s->received;
	if (ws_decoder_error(d) != WS_OK)
		return;
	ws_decoder_fail(d, WS_ERR_GAP);
	registry_error(ctx->registry, s->id, dir, WS_ERR_GAP);
	if (ws_decoder_error(&s->sent) != WS_OK &&
	    ws_decoder_error(&s->received) != WS_OK)
		capture_ignore(s, ctx);
}

void capture_close(struct capture_stream *s, const struct capture_context *ctx,
		   double now)
{
	if (s->phase == CAPTURE_FRAMES)
		capture_report_memory(s, ctx, 0, 0);
	if (s->id)
		registry_closed(ctx->registry, s->id, now);
	capture_discard(s);
}

void capture_discard(struct capture_stream *s)
{
	int fd = s->fd;
	capture_release(s);
	capture_init(s, fd);
}

/*
 * render_json.c - wsdbg-decode --json: connections shaped like the
 * "connections" entries of DESIGN.md's snapshot (schema version 1), as the
 * shim in the server process would report them. Differences, all because
 * the input is a trace and not a live process:
 *   - times ("t", "opened_at", "closed_at") are seconds since the recording
 *     started, not Unix time; "local", "peer" and "fd" are unknown (null);
 *   - "close" is null when the trace has no close frame (the trace does
 *     not say whether the TCP connection ended);
 *   - added keys: "method", "target", "status", "status_text", "deflate",
 *     "wire_size", "utf8_valid", close "code"/"code_name"/"reason" and
 *     pong "rtt_ms" on messages, "error_dir", "error_message",
 *     "skip_reason", "ignored_bytes".
 */
#include <stdlib.h>
#include <string.h>

#include "json_writer.h"
#include "render.h"
#include "wsdbg/ws_close.h"
#include "wsdbg/utf8.h"
#include "wsdbg/ws_frame.h"

static const char *dir_name(enum wstrace_dir dir)
{
	return dir == WSTRACE_C2S ? "received" : "sent";
}

static void write_reason(struct json_writer *w,
			 const struct session_message *m)
{
	static const uint8_t none[1];

	json_bytes(w, "reason", m->data ? m->data + m->close_reason_off : none,
		   m->close_reason_len, false);
}

/* ---- handshake --------------------------------------------------------- */

static bool header_seen_before(const struct http_upgrade *p, uint16_t i)
{
	const char *name = http_upgrade_str(p, p->headers[i].name);

	for (uint16_t j = 0; j < i; j++)
		if (strcmp(http_upgrade_str(p, p->headers[j].name), name) == 0)
			return true;
	return false;
}

/* Request headers by lower-case name, repeats joined, secrets redacted. */
static void write_headers(struct json_writer *w, const struct http_upgrade *p)
{
	json_object_begin(w, "headers", false);
	for (uint16_t i = 0; i < p->nheaders; i++) {
		const char *name = http_upgrade_str(p, p->headers[i].name);
		char probe[1];
		size_t need;
		char *value;

		if (header_seen_before(p, i))
			continue;
		if (http_header_is_secret(name)) {
			json_string(w, name, "<redacted>");
			continue;
		}
		need = http_upgrade_join(p, name, probe, sizeof(probe));
		value = malloc(need + 1);
		if (!value) {
			json_null(w, name);
			continue;
		}
		http_upgrade_join(p, name, value, need + 1);
		json_bytes(w, name, (const uint8_t *)value, need, false);
		free(value);
	}
	json_object_end(w);
}

static void write_request(struct json_writer *w, const struct session *s)
{
	const struct http_upgrade *req = s->hs[WSTRACE_C2S];

	if (!s->hs_done[WSTRACE_C2S]) {
		json_null(w, "method");
		json_null(w, "path");
		json_null(w, "query");
		return;
	}
	json_string(w, "method", http_upgrade_str(req, req->method));
	json_string(w, "target", http_upgrade_str(req, req->target));
	json_string(w, "path", http_upgrade_str(req, req->path));
	json_string(w, "query", req->has_query
					? http_upgrade_str(req, req->query)
					: NULL);
	write_headers(w, req);
}

static void write_response(struct json_writer *w, const struct session *s)
{
	const struct http_upgrade *resp = s->hs[WSTRACE_S2C];
	const struct http_header *proto;
	char ext[1024];

	if (!s->hs_done[WSTRACE_S2C]) {
		json_null(w, "status");
		json_null(w, "subprotocol");
		json_null(w, "extensions");
		return;
	}
	json_int(w, "status", resp->status);
	json_string(w, "status_text", http_upgrade_str(resp, resp->reason));
	proto = http_upgrade_header(resp, "sec-websocket-protocol");
	json_string(w, "subprotocol",
		    proto ? http_upgrade_str(resp, proto->value) : NULL);
	json_string(w, "extensions",
		    http_upgrade_join(resp, "sec-websocket-extensions", ext,
				      sizeof(ext))
			    ? ext
			    : NULL);
	if (!s->started)
		return;
	json_object_begin(w, "deflate", true);
	json_bool(w, "enabled", s->deflate.enabled);
	if (s->deflate.enabled) {
		json_uint(w, "client_max_window_bits",
			  s->deflate.client_max_window_bits);
		json_uint(w, "server_max_window_bits",
			  s->deflate.server_max_window_bits);
		json_bool(w, "client_no_context_takeover",
			  s->deflate.client_no_context_takeover);
		json_bool(w, "server_no_context_takeover",
			  s->deflate.server_no_context_takeover);
	}
	if (s->ext_status != WS_EXTENSIONS_OK)
		json_string(w, "error", ws_extensions_strerror(s->ext_status));
	json_object_end(w);
}

/* ---- figures ----------------------------------------------------------- */

static void write_totals(struct json_writer *w, const char *key,
			 const struct session_totals *t)
{
	json_object_begin(w, key, true);
	json_uint(w, "messages", t->messages);
	json_uint(w, "bytes", t->bytes);
	json_uint(w, "frames", t->frames);
	json_object_end(w);
}

static void write_rtt(struct json_writer *w, const struct session *s)
{
	if (!s->rtt_samples) {
		json_null(w, "rtt_ms");
		return;
	}
	json_object_begin(w, "rtt_ms", true);
	json_double(w, "last", s->rtt_last, 3);
	json_double(w, "min", s->rtt_min, 3);
	json_double(w, "avg", s->rtt_sum / (double)s->rtt_samples, 3);
	json_double(w, "max", s->rtt_max, 3);
	json_uint(w, "samples", s->rtt_samples);
	json_object_end(w);
}

/* The close that started the closing handshake, as DESIGN.md's "close". */
static void write_close(struct json_writer *w, const struct session *s)
{
	const struct session_message *first = NULL;

	for (size_t i = 0; i < s->nmsgs && !first; i++)
		if (s->msgs[i].opcode == WS_OPCODE_CLOSE)
			first = &s->msgs[i];
	if (!first) {
		json_null(w, "close");
		return;
	}
	json_object_begin(w, "close", true);
	/* RFC 6455 7.1.5: no status code in the frame reads as 1005. */
	json_int(w, "code", first->close_code >= 0 ? first->close_code : 1005);
	write_reason(w, first);
	json_string(w, "by", first->dir == WSTRACE_C2S ? "client" : "server");
	json_object_end(w);
}

static void write_error(struct json_writer *w, const struct session *s)
{
	enum wstrace_dir dir;
	enum ws_error err = session_error(s, &dir);

	if (err != WS_OK) {
		json_string(w, "error", ws_error_name(err));
		json_string(w, "error_dir", dir_name(dir));
		json_string(w, "error_message", ws_strerror(err));
	} else if (s->stalled[WSTRACE_C2S] || s->stalled[WSTRACE_S2C]) {
		json_string(w, "error", "decoder_stalled");
		json_string(w, "error_dir", dir_name(s->stalled[WSTRACE_C2S]
							     ? WSTRACE_C2S
							     : WSTRACE_S2C));
		json_string(w, "error_message",
			    "the decoder stopped consuming input (wsdbg bug)");
	} else {
		json_null(w, "error");
	}
}

/* ---- messages ---------------------------------------------------------- */

static void write_payload(struct json_writer *w,
			  const struct render_options *opt,
			  const struct session_message *m)
{
	switch (m->opcode) {
	case WS_OPCODE_TEXT:
		json_bool(w, "utf8_valid", m->utf8_valid);
		json_bytes(w, "text", m->data, m->kept, m->truncated);
		break;
	case WS_OPCODE_BINARY:
		if (opt->show_binary)
			json_hex(w, "hex", m->data, m->kept);
		break;
	case WS_OPCODE_CLOSE:
		json_bool(w, "utf8_valid", m->utf8_valid);
		if (m->close_code < 0) {
			json_null(w, "code");
			break;
		}
		json_int(w, "code", m->close_code);
		json_string(w, "code_name",
			    ws_close_code_name((unsigned)m->close_code));
		write_reason(w, m);
		break;
	case WS_OPCODE_PING:
	case WS_OPCODE_PONG:
		if (utf8_is_valid(m->data, m->kept))
			json_bytes(w, "text", m->data, m->kept, false);
		else
			json_hex(w, "hex", m->data, m->kept);
		if (m->rtt_ms >= 0)
			json_double(w, "rtt_ms", m->rtt_ms, 3);
		break;
	default:
		break;
	}
}

static void write_message(struct json_writer *w,
			  const struct render_options *opt,
			  const struct session_message *m)
{
	json_object_begin(w, NULL, true);
	json_uint(w, "seq", m->seq);
	json_double(w, "t", m->t, 6);
	json_string(w, "dir", dir_name(m->dir));
	json_string(w, "type", ws_opcode_name(m->opcode));
	json_uint(w, "size", m->size);
	json_uint(w, "wire_size", m->wire_size);
	json_uint(w, "frames", m->frames);
	json_bool(w, "compressed", m->compressed);
	json_bool(w, "truncated", m->truncated);
	write_payload(w, opt, m);
	json_object_end(w);
}

/* ---- connections ------------------------------------------------------- */

static void write_session(struct json_writer *w,
			  const struct render_options *opt,
			  const struct session *s)
{
	double end = s->closed_at >= 0 ? s->closed_at : s->last_at;

	json_object_begin(w, NULL, false);
	json_string(w, "id", s->id);
	json_null(w, "fd");
	json_string(w, "role", "server");
	json_string(w, "state", session_state_name(s->state));
	if (s->state == SESSION_SKIPPED)
		json_string(w, "skip_reason", s->skip_reason);
	json_null(w, "local");
	json_null(w, "peer");
	write_request(w, s);
	write_response(w, s);
	json_double(w, "opened_at", s->opened_at, 6);
	if (s->closed_at >= 0)
		json_double(w, "closed_at", s->closed_at, 6);
	else
		json_null(w, "closed_at");
	json_double(w, "duration", end - s->opened_at, 6);
	write_close(w, s);
	write_totals(w, "sent", &s->totals[WSTRACE_S2C]);
	write_totals(w, "received", &s->totals[WSTRACE_C2S]);
	write_rtt(w, s);
	json_uint(w, "messages_dropped", 0);
	json_uint(w, "ignored_bytes", s->ignored_bytes + s->pending_len);
	write_error(w, s);
	json_array_begin(w, "messages", false);
	for (size_t i = 0; i < s->nmsgs; i++)
		write_message(w, opt, &s->msgs[i]);
	json_array_end(w);
	json_object_end(w);
}

void render_json(FILE *out, struct session *const *sessions, size_t n,
		 const struct render_options *opt)
{
	struct json_writer w;
	char *text;
	size_t len;

	json_init(&w, false);
	json_object_begin(&w, NULL, false);
	json_int(&w, "wsdbg", 1);
	json_string(&w, "source", opt->source);
	json_string(&w, "view", "server");
	json_array_begin(&w, "connections", false);
	for (size_t i = 0; i < n; i++)
		write_session(&w, opt, sessions[i]);
	json_array_end(&w);
	json_object_end(&w);
	json_finish(&w);
	text = json_take(&w, &len);
	if (!text) {
		fputs("wsdbg-decode: out of memory writing JSON\n", stderr);
		return;
	}
	fwrite(text, 1, len, out);
	free(text);
}

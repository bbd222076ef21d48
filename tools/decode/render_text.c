/*
 * render_text.c - the human timeline of wsdbg-decode.
 *
 *   connection 1  GET /chat?room=1 → 101 Switching Protocols
 *     subprotocol chat.v1 · extensions permessage-deflate; ...
 *     00:00.001  ←  text      34 B  [deflate]  {"type": "hello"}
 *     00:00.106  →  pong       6 B  "ping-1"  rtt 0.25 ms
 *     totals  ← received 9 messages, 17.6 KB, 11 frames · → sent ...
 *
 * Arrows take the server's view: ← received from the client (c2s),
 * → sent to the client (s2c). Times count from the connection's first
 * recorded byte.
 */
#include <stdarg.h>
#include <string.h>

#include "format.h"
#include "render.h"
#include "wsdbg/ws_close.h"
#include "wsdbg/ws_frame.h"

enum paint { PAINT_DIM, PAINT_BOLD, PAINT_RECV, PAINT_SENT, PAINT_MARK,
	     PAINT_ERROR };

struct text_out {
	FILE *f;
	const struct render_options *opt;
};

static void paint_on(const struct text_out *o, enum paint p)
{
	static const char *const codes[] = {
		[PAINT_DIM] = "\033[2m", [PAINT_BOLD] = "\033[1m",
		[PAINT_RECV] = "\033[32m", [PAINT_SENT] = "\033[36m",
		[PAINT_MARK] = "\033[33m", [PAINT_ERROR] = "\033[31m",
	};

	if (o->opt->color)
		fputs(codes[p], o->f);
}

static void paint_off(const struct text_out *o)
{
	if (o->opt->color)
		fputs("\033[0m", o->f);
}

/* Prints fmt in colour p; a final newline goes after the colour ends, so
 * that a pager never carries the colour into the next line. */
__attribute__((format(printf, 3, 4)))
static void painted(const struct text_out *o, enum paint p, const char *fmt,
		    ...)
{
	char text[1024];
	size_t n;
	bool newline;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	n = strlen(text);
	newline = n > 0 && text[n - 1] == '\n';
	if (newline)
		text[n - 1] = '\0';
	paint_on(o, p);
	fputs(text, o->f);
	paint_off(o);
	if (newline)
		fputc('\n', o->f);
}

/* ---- previews ---------------------------------------------------------- */

static void preview_hex(FILE *f, const uint8_t *p, size_t n, size_t max,
			bool more)
{
	for (size_t i = 0; i < n && i < max; i++)
		fprintf(f, "%02x", p[i]);
	if (n > max || more)
		fputs("…", f);
}

/* Ping and pong payloads: quoted text when they are printable UTF-8. */
static void preview_control(FILE *f, const uint8_t *p, size_t n)
{
	bool printable = true;

	for (size_t i = 0; i < n && printable;) {
		size_t len = utf8_sequence_length(p + i, n - i);

		printable = len > 0 && p[i] >= 0x20 && p[i] != 0x7f;
		i += len;
	}
	if (n == 0)
		return;
	if (printable) {
		fputc('"', f);
		format_preview_text(f, p, n, RENDER_PREVIEW_CHARS, false);
		fputc('"', f);
	} else {
		fputs("hex ", f);
		preview_hex(f, p, n, 32, false);
	}
}

/* ---- one message ------------------------------------------------------- */

static void print_markers(const struct text_out *o,
			  const struct session_message *m)
{
	bool textual = m->opcode == WS_OPCODE_TEXT ||
		       m->opcode == WS_OPCODE_CLOSE;

	char marks[96] = "";
	size_t n = 0;

	if (m->compressed)
		n += (size_t)snprintf(marks + n, sizeof(marks) - n,
				      " [deflate]");
	if (m->frames > 1)
		n += (size_t)snprintf(marks + n, sizeof(marks) - n,
				      " [%u frames]", (unsigned)m->frames);
	/* Without --show-binary no binary data is kept: nothing to flag. */
	if (m->truncated &&
	    (m->opcode != WS_OPCODE_BINARY || o->opt->show_binary))
		n += (size_t)snprintf(marks + n, sizeof(marks) - n,
				      " [truncated]");
	if (textual && !m->utf8_valid)
		snprintf(marks + n, sizeof(marks) - n, " [invalid utf-8]");
	if (marks[0])
		painted(o, PAINT_MARK, "%s", marks);
}

static void print_close(const struct text_out *o,
			const struct session_message *m)
{
	if (m->close_code < 0) {
		fputs("(no status code)", o->f);
		return;
	}
	fprintf(o->f, "%d %s", m->close_code,
		ws_close_code_name((unsigned)m->close_code));
	if (m->close_reason_len) {
		fputs(" \"", o->f);
		format_preview_text(o->f, m->data + m->close_reason_off,
				    m->close_reason_len, RENDER_PREVIEW_CHARS,
				    false);
		fputc('"', o->f);
	}
	if (!ws_close_code_is_valid((unsigned)m->close_code))
		painted(o, PAINT_ERROR, " [code not allowed on the wire]");
}

static void print_message(const struct text_out *o, const struct session *s,
			  const struct session_message *m)
{
	bool recv = m->dir == WSTRACE_C2S;
	char when[32], size[32];

	fputs("  ", o->f);
	painted(o, PAINT_DIM, "%s", format_elapsed(when, m->t - s->opened_at));
	painted(o, recv ? PAINT_RECV : PAINT_SENT, "  %s  %-6s",
		recv ? "←" : "→", ws_opcode_name(m->opcode));
	fprintf(o->f, " %8s", format_size(size, m->size));
	print_markers(o, m);
	fputs("  ", o->f);

	switch (m->opcode) {
	case WS_OPCODE_TEXT:
		format_preview_text(o->f, m->data, m->kept,
				    RENDER_PREVIEW_CHARS, m->truncated);
		break;
	case WS_OPCODE_BINARY:
		if (o->opt->show_binary && m->kept) {
			preview_hex(o->f, m->data, m->kept, 32, m->truncated);
		} else {
			/* No bytes kept: say what it was instead. */
			painted(o, PAINT_MARK, "[binary %s]",
				format_size(size, m->size));
		}
		break;
	case WS_OPCODE_CLOSE:
		print_close(o, m);
		break;
	case WS_OPCODE_PING:
	case WS_OPCODE_PONG:
		preview_control(o->f, m->data, m->kept);
		if (m->rtt_ms >= 0)
			painted(o, PAINT_MARK, "  rtt %.2f ms", m->rtt_ms);
		break;
	default:
		break;
	}
	fputc('\n', o->f);
}

/* ---- one connection ---------------------------------------------------- */

static void print_problems(const struct text_out *o, unsigned problems)
{
	static const char *const names[] = {
		"not GET", "HTTP/1.0", "no Connection: Upgrade",
		"bad Sec-WebSocket-Key", "Sec-WebSocket-Version is not 13",
		"no Sec-WebSocket-Accept", "no Host",
	};
	const char *sep = "";

	if (!problems)
		return;
	paint_on(o, PAINT_MARK);
	fputs("  handshake problems: ", o->f);
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (problems & (1u << i)) {
			fprintf(o->f, "%s%s", sep, names[i]);
			sep = ", ";
		}
	}
	paint_off(o);
	fputc('\n', o->f);
}

static void print_header(const struct text_out *o, const struct session *s)
{
	const struct http_upgrade *req = s->hs[WSTRACE_C2S];
	const struct http_upgrade *resp = s->hs[WSTRACE_S2C];
	const struct http_header *proto;
	char ext[1024];

	painted(o, PAINT_BOLD, "connection %s", s->id);
	if (s->state == SESSION_SKIPPED) {
		painted(o, PAINT_ERROR, "  skipped: %s\n", s->skip_reason);
		return;
	}
	if (s->hs_done[WSTRACE_C2S])
		fprintf(o->f, "  %s %s → ", http_upgrade_str(req, req->method),
			http_upgrade_str(req, req->target));
	else
		fputs("  (no complete request in the trace) → ", o->f);
	if (!s->hs_done[WSTRACE_S2C])
		fputs("(no response in the trace)\n", o->f);
	else if (s->state == SESSION_REJECTED)
		painted(o, PAINT_ERROR, "%d %s (rejected)\n", resp->status,
			http_upgrade_str(resp, resp->reason));
	else
		fprintf(o->f, "%d %s\n", resp->status,
			http_upgrade_str(resp, resp->reason));
	if (!s->started)
		return;

	proto = http_upgrade_header(resp, "sec-websocket-protocol");
	fprintf(o->f, "  subprotocol %s",
		proto ? http_upgrade_str(resp, proto->value) : "(none)");
	if (http_upgrade_join(resp, "sec-websocket-extensions", ext,
			      sizeof(ext)))
		fprintf(o->f, " · extensions %s", ext);
	else
		fputs(" · extensions (none)", o->f);
	fputc('\n', o->f);
	if (s->ext_status != WS_EXTENSIONS_OK)
		painted(o, PAINT_ERROR, "  extensions not understood: %s\n",
			ws_extensions_strerror(s->ext_status));
	print_problems(o, http_upgrade_problems(req) |
				  http_upgrade_problems(resp));
}

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

static void print_totals(const struct text_out *o, const struct session *s)
{
	const struct session_totals *rx = &s->totals[WSTRACE_C2S];
	const struct session_totals *tx = &s->totals[WSTRACE_S2C];
	char a[32], b[32];

	fprintf(o->f,
		"  totals  ← received %llu message%s, %s, %llu frame%s"
		" · → sent %llu message%s, %s, %llu frame%s\n",
		(unsigned long long)rx->messages, plural(rx->messages),
		format_size(a, rx->bytes), (unsigned long long)rx->frames,
		plural(rx->frames), (unsigned long long)tx->messages,
		plural(tx->messages), format_size(b, tx->bytes),
		(unsigned long long)tx->frames, plural(tx->frames));
	if (s->rtt_samples)
		fprintf(o->f, "  rtt     last %.2f ms · min %.2f · avg %.2f · "
			"max %.2f (%lu sample%s)\n", s->rtt_last, s->rtt_min,
			s->rtt_sum / (double)s->rtt_samples, s->rtt_max,
			s->rtt_samples, plural(s->rtt_samples));
}

static void print_ending(const struct text_out *o, const struct session *s)
{
	enum wstrace_dir edir;
	enum ws_error err = session_error(s, &edir);

	fprintf(o->f, "  state   %s", session_state_name(s->state));
	if (s->close_dir >= 0)
		fprintf(o->f, " (close started by the %s)",
			s->close_dir == WSTRACE_C2S ? "client" : "server");
	fputc('\n', o->f);
	for (int d = WSTRACE_C2S; d <= WSTRACE_S2C; d++)
		if (s->stalled[d])
			painted(o, PAINT_ERROR, "  error   %s: the decoder "
				"stopped consuming input (wsdbg bug)\n",
				d == WSTRACE_C2S ? "received" : "sent");
	if (err != WS_OK)
		painted(o, PAINT_ERROR, "  error   %s: %s\n",
			edir == WSTRACE_C2S ? "received (from the client)"
					    : "sent (by the server)",
			ws_strerror(err));
	if (s->pending_len)
		painted(o, PAINT_MARK, "  %zu client bytes never decoded "
			"(no response)\n", s->pending_len);
	if (s->ignored_bytes && s->state != SESSION_SKIPPED)
		painted(o, PAINT_MARK, "  %llu bytes not decoded\n",
			(unsigned long long)s->ignored_bytes);
}

static void print_session(const struct text_out *o, const struct session *s)
{
	print_header(o, s);
	if (s->state == SESSION_SKIPPED) {
		if (s->ignored_bytes)
			fprintf(o->f, "  %llu bytes ignored\n",
				(unsigned long long)s->ignored_bytes);
		return;
	}
	for (size_t i = 0; i < s->nmsgs; i++)
		print_message(o, s, &s->msgs[i]);
	if (s->started)
		print_totals(o, s);
	print_ending(o, s);
}

void render_text(FILE *out, struct session *const *sessions, size_t n,
		 const struct render_options *opt)
{
	struct text_out o = {.f = out, .opt = opt};

	painted(&o, PAINT_DIM, "%s: %zu connection%s · server's view: "
		"← received from the client, → sent to the client\n",
		opt->source, n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		fputc('\n', out);
		print_session(&o, sessions[i]);
	}
}

/*
 * http_upgrade.c - the HTTP/1.x handshake parser (see http_upgrade.h).
 *
 * Two phases. The first line (request line or status line) is checked one
 * byte at a time by a small state machine, so input that is not HTTP/1.x is
 * refused at its first impossible byte. After it the header block is taken
 * a line at a time: memchr looks for the line end in the new bytes only,
 * and each complete line is parsed and rewritten in place (name
 * lower-cased, NUL terminators, obs-fold joined into the previous value).
 * Every byte taken is copied to p->buf at p->len, so p->len is both the
 * write position and the size of the block so far.
 */
#include "wsdbg/http_upgrade.h"

#include <string.h>

/* States of the first line; the request's come first so that 0 is where a
 * request starts. */
enum first_line_state {
	FL_START,        /* request: before the method; empty lines allowed */
	FL_START_CR,     /* request: CR of an empty leading line seen */
	FL_METHOD,       /* request: inside the method token */
	FL_TARGET_START, /* request: first byte of the request-target */
	FL_TARGET,       /* request: inside the request-target */
	FL_VERSION,      /* "HTTP/1." then a digit; first_line_pos counts */
	FL_VERSION_END,  /* request: CR or LF after the version */
	FL_STATUS_SP,    /* response: SP after the version */
	FL_CODE,         /* response: 3DIGIT; first_line_pos counts */
	FL_CODE_END,     /* response: SP before the reason, or the line end */
	FL_REASON,       /* response: inside the reason-phrase */
	FL_CR,           /* CR ending the line seen; LF must follow */
	FL_DONE,         /* first line complete: field lines follow */
};

/* What an obs-fold line continues (p->fold_into). */
enum fold_into {
	FOLD_NOTHING, /* no field line yet: a fold here is malformed */
	FOLD_KEPT,    /* the last entry of headers[] */
	FOLD_DROPPED, /* a header beyond HTTP_UPGRADE_MAX_HEADERS */
};

enum step {
	STEP_MORE,      /* byte taken, line goes on */
	STEP_LINE_DONE, /* byte taken, it ended the first line */
	STEP_NOT_HTTP,  /* byte refused */
};

static const char http_name[] = "HTTP/1.";

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
	unsigned char l = c | 0x20;

	return l >= 'a' && l <= 'z';
}

/* RFC 9110 5.6.2: tchar. */
static bool is_tchar(unsigned char c)
{
	if (is_alpha(c) || is_digit(c))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* VCHAR or obs-text: what a request-target or reason-phrase is made of
 * (obs-text because real clients do send raw UTF-8 in paths). */
static bool is_visible(unsigned char c)
{
	return (c > 0x20 && c < 0x7f) || c >= 0x80;
}

static bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static unsigned char ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Case-insensitive ASCII comparison of s[0..n) with NUL-terminated t. */
static bool ascii_case_equal(const char *s, size_t n, const char *t)
{
	for (size_t i = 0; i < n; i++, t++) {
		if (*t == '\0' ||
		    ascii_lower((unsigned char)s[i]) !=
			    ascii_lower((unsigned char)*t))
			return false;
	}
	return *t == '\0';
}

static void put(struct http_upgrade *p, char c)
{
	p->buf[p->len++] = c;
}

static struct http_slice slice(size_t off, size_t len)
{
	return (struct http_slice){ .off = (uint16_t)off, .len = (uint16_t)len };
}

void http_upgrade_init(struct http_upgrade *p, enum http_upgrade_role role)
{
	/* Everything but the 32 KiB buffer, which is written before read. */
	memset(p, 0, offsetof(struct http_upgrade, buf));
	memset(&p->version_minor, 0,
	       sizeof(*p) - offsetof(struct http_upgrade, version_minor));
	p->role = role;
	p->status_code_ = HTTP_UPGRADE_NEED_MORE;
	p->first_line_state =
		role == HTTP_UPGRADE_REQUEST ? FL_START : FL_VERSION;
	p->buf[0] = '\0';
}

/* Ends the first line: the next bytes are field lines. */
static enum step first_line_done(struct http_upgrade *p)
{
	p->first_line_state = FL_DONE;
	p->line_start = p->len;
	return STEP_LINE_DONE;
}

/* CR or LF ending the first line (RFC 9112 2.2: a bare LF is accepted). */
static enum step first_line_end(struct http_upgrade *p, unsigned char c)
{
	put(p, '\0');
	if (c == '\n')
		return first_line_done(p);
	p->first_line_state = FL_CR;
	return STEP_MORE;
}

/* Before the method: up to HTTP_UPGRADE_MAX_LEADING_EMPTY empty lines
 * (RFC 9112 2.2), which are consumed but not kept in buf. */
static enum step request_start_byte(struct http_upgrade *p, unsigned char c)
{
	if (p->first_line_state == FL_START_CR && c != '\n')
		return STEP_NOT_HTTP;
	if (c == '\r') {
		p->first_line_state = FL_START_CR;
		return STEP_MORE;
	}
	if (c == '\n') {
		if (++p->leading_newlines > HTTP_UPGRADE_MAX_LEADING_EMPTY)
			return STEP_NOT_HTTP;
		p->first_line_state = FL_START;
		return STEP_MORE;
	}
	if (!is_tchar(c))
		return STEP_NOT_HTTP;
	p->method.off = p->len;
	put(p, (char)c);
	p->first_line_state = FL_METHOD;
	return STEP_MORE;
}

/* One byte of the request line (RFC 9112 3):
 * method SP request-target SP HTTP-version CRLF. */
static enum step request_line_byte(struct http_upgrade *p, unsigned char c)
{
	switch (p->first_line_state) {
	case FL_START:
	case FL_START_CR:
		return request_start_byte(p, c);
	case FL_METHOD:
		if (c == ' ') {
			p->method.len = p->len - p->method.off;
			put(p, '\0');
			p->first_line_state = FL_TARGET_START;
			return STEP_MORE;
		}
		if (!is_tchar(c) ||
		    p->len - p->method.off >= HTTP_UPGRADE_MAX_METHOD)
			return STEP_NOT_HTTP;
		break;
	case FL_TARGET_START:
		if (!is_visible(c))
			return STEP_NOT_HTTP;
		p->target.off = p->len;
		p->first_line_state = FL_TARGET;
		break;
	case FL_TARGET:
		if (c == ' ') {
			p->target.len = p->len - p->target.off;
			put(p, '\0');
			p->first_line_state = FL_VERSION;
			return STEP_MORE;
		}
		if (!is_visible(c))
			return STEP_NOT_HTTP;
		break;
	case FL_VERSION_END:
		if (c != '\r' && c != '\n')
			return STEP_NOT_HTTP;
		return first_line_end(p, c);
	default:
		return STEP_NOT_HTTP;
	}
	put(p, (char)c);
	return STEP_MORE;
}

/* "HTTP/1." DIGIT, the same for both roles (RFC 9112 2.3; case-sensitive).
 * A request's version ends the line, a response's is followed by SP. */
static enum step version_byte(struct http_upgrade *p, unsigned char c)
{
	if (p->first_line_pos < sizeof(http_name) - 1) {
		if (c != (unsigned char)http_name[p->first_line_pos])
			return STEP_NOT_HTTP;
		p->first_line_pos++;
	} else {
		if (!is_digit(c))
			return STEP_NOT_HTTP;
		p->version_minor = c - '0';
		p->first_line_state = p->role == HTTP_UPGRADE_REQUEST ?
					      FL_VERSION_END :
					      FL_STATUS_SP;
	}
	put(p, (char)c);
	return STEP_MORE;
}

/* Where the reason-phrase ends (CR or LF); it may be empty or missing. */
static enum step reason_end(struct http_upgrade *p, unsigned char c)
{
	p->reason.len = p->len - p->reason.off;
	return first_line_end(p, c);
}

/* One byte of the status line after the version (RFC 9112 4):
 * SP 3DIGIT SP [ reason-phrase ] CRLF; the second SP may be missing too. */
static enum step status_line_byte(struct http_upgrade *p, unsigned char c)
{
	switch (p->first_line_state) {
	case FL_STATUS_SP:
		if (c != ' ')
			return STEP_NOT_HTTP;
		put(p, '\0');
		p->first_line_state = FL_CODE;
		p->first_line_pos = 0;
		return STEP_MORE;
	case FL_CODE:
		if (!is_digit(c))
			return STEP_NOT_HTTP;
		p->status = p->status * 10 + (c - '0');
		if (++p->first_line_pos == 3)
			p->first_line_state = FL_CODE_END;
		break;
	case FL_CODE_END:
		p->reason.off = p->len;
		if (c == '\r' || c == '\n')
			return reason_end(p, c);
		if (c != ' ')
			return STEP_NOT_HTTP;
		put(p, '\0');
		p->reason.off = p->len;
		p->first_line_state = FL_REASON;
		return STEP_MORE;
	case FL_REASON:
		if (c == '\r' || c == '\n')
			return reason_end(p, c);
		if (c != '\t' && c != ' ' && !is_visible(c))
			return STEP_NOT_HTTP;
		break;
	default:
		return STEP_NOT_HTTP;
	}
	put(p, (char)c);
	return STEP_MORE;
}

static enum step first_line_byte(struct http_upgrade *p, unsigned char c)
{
	switch (p->first_line_state) {
	case FL_VERSION:
		return version_byte(p, c);
	case FL_CR:
		if (c != '\n')
			return STEP_NOT_HTTP;
		put(p, '\0');
		return first_line_done(p);
	default:
		return p->role == HTTP_UPGRADE_REQUEST ?
			       request_line_byte(p, c) :
			       status_line_byte(p, c);
	}
}

/* Feeds the first line byte by byte until it is complete or data runs
 * out; NEED_MORE in both cases. */
static enum http_upgrade_status feed_first_line(struct http_upgrade *p,
						const char *data, size_t len,
						size_t *used)
{
	while (p->first_line_state != FL_DONE && *used < len) {
		if (p->len >= HTTP_UPGRADE_MAX_BLOCK)
			return HTTP_UPGRADE_TOO_LARGE;
		if (first_line_byte(p, (unsigned char)data[*used]) ==
		    STEP_NOT_HTTP)
			return HTTP_UPGRADE_NOT_HTTP;
		(*used)++;
	}
	return HTTP_UPGRADE_NEED_MORE;
}

/* Whether buf[start..end) may be (part of) a field value: VCHAR, obs-text,
 * SP, HTAB (RFC 9110 5.5). Other controls, bare CR and NUL included, are
 * refused (RFC 9112 2.2), which also keeps slices free of NULs. */
static bool field_value_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == 0x7f || (c < 0x20 && c != '\t'))
			return false;
	}
	return true;
}

/* Trims OWS from both ends of buf[*start..*end). */
static void trim(const char *buf, size_t *start, size_t *end)
{
	while (*start < *end && is_ows((unsigned char)buf[*start]))
		(*start)++;
	while (*end > *start && is_ows((unsigned char)buf[*end - 1]))
		(*end)--;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 5); nothing,
 * whitespace included, may come between name and colon (RFC 9112 5.1). */
static enum http_upgrade_status field_line(struct http_upgrade *p,
					   size_t start, size_t end)
{
	char *buf = p->buf;
	size_t colon = start;

	for (; colon < end && is_tchar((unsigned char)buf[colon]); colon++)
		buf[colon] = (char)ascii_lower((unsigned char)buf[colon]);
	if (colon == start || colon == end || buf[colon] != ':')
		return HTTP_UPGRADE_MALFORMED;
	if (!field_value_ok(buf + colon + 1, end - colon - 1))
		return HTTP_UPGRADE_MALFORMED;
	buf[colon] = '\0';

	size_t vstart = colon + 1, vend = end;
	trim(buf, &vstart, &vend);
	buf[vend] = '\0';
	if (p->nheaders == HTTP_UPGRADE_MAX_HEADERS) {
		p->headers_dropped++;
		p->fold_into = FOLD_DROPPED;
		return HTTP_UPGRADE_NEED_MORE;
	}
	p->headers[p->nheaders++] = (struct http_header){
		.name = slice(start, colon - start),
		.value = slice(vstart, vend - vstart),
	};
	p->fold_into = FOLD_KEPT;
	return HTTP_UPGRADE_NEED_MORE;
}

/*
 * obs-fold (RFC 9112 5.2): a line starting with SP or HTAB continues the
 * previous field value; its text is joined to it with one space. The text
 * moves left to just after the value's NUL: it starts at least two bytes
 * further (the previous line's LF and this line's leading whitespace), so
 * the joined value still ends inside this line.
 */
static enum http_upgrade_status fold_line(struct http_upgrade *p,
					  size_t start, size_t end)
{
	if (p->fold_into == FOLD_NOTHING)
		return HTTP_UPGRADE_MALFORMED; /* RFC 9112 2.2 */
	if (!field_value_ok(p->buf + start, end - start))
		return HTTP_UPGRADE_MALFORMED;
	trim(p->buf, &start, &end);
	if (p->fold_into == FOLD_DROPPED || start == end)
		return HTTP_UPGRADE_NEED_MORE;

	struct http_slice *v = &p->headers[p->nheaders - 1].value;
	size_t at = (size_t)v->off + v->len;

	if (v->len > 0)
		p->buf[at++] = ' ';
	memmove(p->buf + at, p->buf + start, end - start);
	at += end - start;
	p->buf[at] = '\0';
	v->len = (uint16_t)(at - v->off);
	return HTTP_UPGRADE_NEED_MORE;
}

/* RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). */
static bool is_scheme_char(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '+' || c == '-' ||
	       c == '.';
}

/* Index in target t[0..n) where the path of an absolute-form target starts
 * (just after its authority, RFC 9112 3.2.2), or 0 when t is not one:
 * scheme "://" authority [ path ]. */
static size_t absolute_path_start(const char *t, size_t n)
{
	size_t i = 0;

	while (i < n && is_scheme_char((unsigned char)t[i]))
		i++;
	if (i == 0 || !is_alpha((unsigned char)t[0]) || n - i < 3 ||
	    memcmp(t + i, "://", 3) != 0)
		return 0;
	for (i += 3; i < n && t[i] != '/' && t[i] != '?'; i++)
		;
	return i;
}

/*
 * Splits the request target into path and query. The query is a suffix of
 * the target and shares its NUL; a path followed by '?' (or the "/" of an
 * absolute-form target without path) gets a NUL-terminated copy after the
 * block, which HTTP_UPGRADE_BUF_SIZE leaves room for.
 */
static void split_target(struct http_upgrade *p)
{
	const char *t = p->buf + p->target.off;
	size_t n = p->target.len;
	const char *q = memchr(t, '?', n);
	size_t path_end = q ? (size_t)(q - t) : n;
	size_t path_start = absolute_path_start(t, path_end);

	p->has_query = q != NULL;
	p->query = q ? slice(p->target.off + path_end + 1, n - path_end - 1) :
		       slice(p->target.off + n, 0);
	if (path_start < path_end && path_end == n) {
		p->path = slice(p->target.off + path_start, n - path_start);
		return;
	}
	const char *from = path_start < path_end ? t + path_start : "/";
	size_t plen = path_start < path_end ? path_end - path_start : 1;

	if (path_start == 0 && path_end == 0)
		plen = 0; /* an origin-form target starting with '?' */
	memcpy(p->buf + p->len, from, plen);
	p->buf[p->len + plen] = '\0';
	p->path = slice(p->len, plen);
}

/* The blank line at buf[blank] ended the block (its CR or LF is already a
 * NUL there, which the slices of the other role point at). */
static enum http_upgrade_status finish(struct http_upgrade *p, size_t blank)
{
	struct http_slice empty = slice(blank, 0);

	if (p->role == HTTP_UPGRADE_REQUEST) {
		split_target(p);
		p->reason = empty;
		p->status = 0;
	} else {
		p->method = p->target = p->path = p->query = empty;
		p->has_query = false;
	}
	return HTTP_UPGRADE_DONE;
}

/* Handles the complete line ending with the LF at buf[lf]. */
static enum http_upgrade_status take_line(struct http_upgrade *p, size_t lf)
{
	size_t start = p->line_start;
	size_t end = lf;

	if (end > start && p->buf[end - 1] == '\r')
		end--;
	p->buf[end] = '\0';
	p->line_start = (uint16_t)(lf + 1);
	if (end == start)
		return finish(p, start);
	if (is_ows((unsigned char)p->buf[start]))
		return fold_line(p, start, end);
	return field_line(p, start, end);
}

/* Copies field lines into buf and handles each as it completes, never
 * taking more than the block may hold. */
static enum http_upgrade_status feed_fields(struct http_upgrade *p,
					    const char *data, size_t len,
					    size_t *used)
{
	while (*used < len) {
		size_t avail = len - *used;
		size_t room = HTTP_UPGRADE_MAX_BLOCK - p->len;
		size_t n = avail < room ? avail : room;
		const char *from = data + *used;
		const char *lf = n ? memchr(from, '\n', n) : NULL;
		size_t take = lf ? (size_t)(lf - from) + 1 : n;

		memcpy(p->buf + p->len, from, take);
		p->len += (uint16_t)take;
		*used += take;
		if (!lf)
			return n < avail ? HTTP_UPGRADE_TOO_LARGE :
					   HTTP_UPGRADE_NEED_MORE;

		enum http_upgrade_status st = take_line(p, p->len - 1u);
		if (st != HTTP_UPGRADE_NEED_MORE)
			return st;
	}
	return HTTP_UPGRADE_NEED_MORE;
}

enum http_upgrade_status http_upgrade_feed(struct http_upgrade *p,
					   const char *data, size_t len,
					   size_t *consumed)
{
	size_t used = 0;
	enum http_upgrade_status st = p->status_code_;

	if (st == HTTP_UPGRADE_NEED_MORE) {
		st = feed_first_line(p, data, len, &used);
		if (st == HTTP_UPGRADE_NEED_MORE)
			st = feed_fields(p, data, len, &used);
		p->status_code_ = st;
	}
	*consumed = used;
	return st;
}

const char *http_upgrade_strerror(enum http_upgrade_status status)
{
	switch (status) {
	case HTTP_UPGRADE_NEED_MORE:
		return "header block not complete yet";
	case HTTP_UPGRADE_DONE:
		return "header block complete";
	case HTTP_UPGRADE_NOT_HTTP:
		return "not a handshake: not HTTP/1.x";
	case HTTP_UPGRADE_TOO_LARGE:
		return "not a handshake: header block over 16 KiB";
	case HTTP_UPGRADE_MALFORMED:
		return "not a handshake: malformed HTTP header block";
	}
	return "unknown handshake parser status";
}

const struct http_header *http_upgrade_header(const struct http_upgrade *p,
					      const char *lname)
{
	for (size_t i = 0; i < p->nheaders; i++) {
		const struct http_header *h = &p->headers[i];

		if (strcmp(http_upgrade_str(p, h->name), lname) == 0)
			return h;
	}
	return NULL;
}

/* Appends s[0..n) to out as far as cap allows (keeping a byte for the
 * NUL); *need counts every byte, stored or not. */
static void append(char *out, size_t cap, size_t *need, const char *s,
		   size_t n)
{
	if (cap > 0 && *need < cap - 1) {
		size_t fit = cap - 1 - *need;

		memcpy(out + *need, s, n < fit ? n : fit);
	}
	*need += n;
}

size_t http_upgrade_join(const struct http_upgrade *p, const char *lname,
			 char *out, size_t cap)
{
	size_t need = 0;
	bool any = false;

	for (size_t i = 0; i < p->nheaders; i++) {
		const struct http_header *h = &p->headers[i];

		if (strcmp(http_upgrade_str(p, h->name), lname) != 0)
			continue;
		if (any)
			append(out, cap, &need, ", ", 2);
		append(out, cap, &need, http_upgrade_str(p, h->value),
		       h->value.len);
		any = true;
	}
	if (cap > 0)
		out[need < cap - 1 ? need : cap - 1] = '\0';
	return need;
}

/* Whether the comma-separated list s[0..n) has element token (RFC 9110
 * 5.6.1: elements are trimmed, empty ones ignored). */
static bool list_has_token(const char *s, size_t n, const char *token)
{
	size_t i = 0;

	while (i < n) {
		const char *comma = memchr(s + i, ',', n - i);
		size_t start = i;
		size_t end = comma ? (size_t)(comma - s) : n;

		i = end + 1;
		trim(s, &start, &end);
		if (ascii_case_equal(s + start, end - start, token))
			return true;
	}
	return false;
}

bool http_upgrade_has_token(const struct http_upgrade *p, const char *lname,
			    const char *token)
{
	for (size_t i = 0; i < p->nheaders; i++) {
		const struct http_header *h = &p->headers[i];

		if (strcmp(http_upgrade_str(p, h->name), lname) == 0 &&
		    list_has_token(http_upgrade_str(p, h->value), h->value.len,
				   token))
			return true;
	}
	return false;
}

enum http_upgrade_kind http_upgrade_kind(const struct http_upgrade *p)
{
	if (p->status_code_ != HTTP_UPGRADE_DONE)
		return HTTP_UPGRADE_KIND_UNKNOWN;

	bool websocket = http_upgrade_has_token(p, "upgrade", "websocket");

	if (p->role == HTTP_UPGRADE_REQUEST)
		return websocket ? HTTP_UPGRADE_KIND_WEBSOCKET_REQUEST :
				   HTTP_UPGRADE_KIND_PLAIN_REQUEST;
	if (p->status != 101)
		return HTTP_UPGRADE_KIND_REJECTED;
	return websocket ? HTTP_UPGRADE_KIND_ACCEPTED :
			   HTTP_UPGRADE_KIND_OTHER_PROTOCOL;
}

/* The value of header lname if it appears exactly once, else NULL
 * (RFC 6455 11.3.1, 11.3.5: the key and version may not be repeated). */
static const struct http_header *single_header(const struct http_upgrade *p,
					       const char *lname)
{
	const struct http_header *found = NULL;

	for (size_t i = 0; i < p->nheaders; i++) {
		if (strcmp(http_upgrade_str(p, p->headers[i].name), lname))
			continue;
		if (found)
			return NULL;
		found = &p->headers[i];
	}
	return found;
}

static bool is_base64_char(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '+' || c == '/';
}

/* RFC 6455 4.1 (7): 16 bytes in base64, i.e. 22 characters then "==".
 * The unused low bits of the last character are not checked, as common
 * base64 decoders do not check them either. */
static bool key_ok(const struct http_upgrade *p, const struct http_header *h)
{
	const char *v = http_upgrade_str(p, h->value);

	if (h->value.len != 24 || strcmp(v + 22, "==") != 0)
		return false;
	for (size_t i = 0; i < 22; i++) {
		if (!is_base64_char((unsigned char)v[i]))
			return false;
	}
	return true;
}

static unsigned request_problems(const struct http_upgrade *p)
{
	const struct http_header *key = single_header(p, "sec-websocket-key");
	const struct http_header *version =
		single_header(p, "sec-websocket-version");
	unsigned problems = 0;

	if (strcmp(http_upgrade_str(p, p->method), "GET") != 0)
		problems |= HTTP_UPGRADE_PROBLEM_NOT_GET;
	if (!key || !key_ok(p, key))
		problems |= HTTP_UPGRADE_PROBLEM_BAD_KEY;
	if (!version || strcmp(http_upgrade_str(p, version->value), "13"))
		problems |= HTTP_UPGRADE_PROBLEM_BAD_VERSION;
	if (!http_upgrade_header(p, "host"))
		problems |= HTTP_UPGRADE_PROBLEM_NO_HOST;
	return problems;
}

unsigned http_upgrade_problems(const struct http_upgrade *p)
{
	enum http_upgrade_kind kind = http_upgrade_kind(p);
	unsigned problems = 0;

	if (kind != HTTP_UPGRADE_KIND_WEBSOCKET_REQUEST &&
	    kind != HTTP_UPGRADE_KIND_ACCEPTED)
		return 0;
	if (p->version_minor < 1)
		problems |= HTTP_UPGRADE_PROBLEM_OLD_HTTP;
	if (!http_upgrade_has_token(p, "connection", "upgrade"))
		problems |= HTTP_UPGRADE_PROBLEM_NO_CONNECTION_UPGRADE;
	if (kind == HTTP_UPGRADE_KIND_WEBSOCKET_REQUEST)
		return problems | request_problems(p);

	const struct http_header *accept =
		http_upgrade_header(p, "sec-websocket-accept");
	if (!accept || accept->value.len == 0)
		problems |= HTTP_UPGRADE_PROBLEM_NO_ACCEPT;
	return problems;
}

bool http_header_is_secret(const char *lname)
{
	static const char *const secret[] = {
		"cookie",	  "set-cookie",	    "authorization",
		"proxy-authorization", "x-api-key", "x-auth-token",
		"x-access-token", "x-csrf-token",  "x-xsrf-token",
	};

	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
		if (ascii_case_equal(lname, strlen(lname), secret[i]))
			return true;
	}
	return false;
}

/* Whether s[0..n) ends with suffix, in any letter case. */
static bool ascii_case_ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && ascii_case_equal(s + n - k, k, suffix);
}

bool http_query_param_is_secret(const char *name, size_t n)
{
	static const char *const secret[] = {
		"auth",	      "authorization", "api_key",   "apikey",
		"api-key",    "key",	       "password",  "passwd",
		"pass",	      "pwd",	       "secret",    "client_secret",
		"jwt",	      "session",       "sessionid", "session_id",
		"sid",	      "sig",	       "signature", "ticket",
		"credential", "credentials",
	};

	/* access_token, id_token, refresh_token, csrfToken, token... */
	if (ascii_case_ends_with(name, n, "token"))
		return true;
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
		if (ascii_case_equal(name, n, secret[i]))
			return true;
	}
	return false;
}

size_t http_query_redact(const char *q, size_t n, const char *mask,
			 char *out)
{
	size_t len = 0, masklen = strlen(mask);

	/* Parameters are separated by '&' (or ';', as some servers take);
	 * each is name[=value]. */
	for (size_t i = 0; i < n;) {
		size_t end = i, eq;
		while (end < n && q[end] != '&' && q[end] != ';')
			end++;
		for (eq = i; eq < end && q[eq] != '='; eq++)
			;
		bool hide = eq < end && eq + 1 < end &&
			    http_query_param_is_secret(q + i, eq - i);
		size_t keep = hide ? eq + 1 - i : end - i;
		if (out)
			memcpy(out + len, q + i, keep);
		len += keep;
		if (hide) {
			if (out)
				memcpy(out + len, mask, masklen);
			len += masklen;
		}
		if (end < n) {
			if (out)
				out[len] = q[end];
			len++;
		}
		i = end + 1;
	}
	return len;
}

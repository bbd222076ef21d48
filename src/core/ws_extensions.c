/*
 * ws_extensions.c - Sec-WebSocket-Extensions, read for permessage-deflate
 * (see ws_extensions.h).
 *
 * Grammar (RFC 6455 9.1, with the implied whitespace and empty list
 * elements of HTTP lists, RFC 9110 5.6.1):
 *   extension-list = 1#extension
 *   extension      = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" ( token | quoted-string ) ]
 * Every extension's syntax is checked; only permessage-deflate's
 * parameters are interpreted (RFC 7692 7.1).
 */
#include "wsdbg/ws_extensions.h"

#include <string.h>

/* A parameter value is kept only as far as interpreting needs: the
 * longest valid window-bits value has 2 digits. */
#define VALUE_KEEP 4

struct cursor {
	const char *s;
	size_t len;
	size_t pos;
};

/* A parsed extension-param: name points into the input, value is the
 * (unescaped) value's first VALUE_KEEP bytes and value_len its length. */
struct param {
	const char *name;
	size_t name_len;
	bool has_value;
	char value[VALUE_KEEP];
	size_t value_len;
};

/* permessage-deflate parameters, as bits of the set of those seen; in the
 * order of the names in deflate_param(). */
enum deflate_param {
	SERVER_NO_CONTEXT = 1u << 0,
	CLIENT_NO_CONTEXT = 1u << 1,
	SERVER_MAX_BITS = 1u << 2,
	CLIENT_MAX_BITS = 1u << 3,
};

/* RFC 9110 5.6.2: tchar. */
static bool is_tchar(unsigned char c)
{
	unsigned char l = c | 0x20;

	if ((l >= 'a' && l <= 'z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int peek(const struct cursor *c)
{
	return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1;
}

static void skip_ows(struct cursor *c)
{
	while (peek(c) == ' ' || peek(c) == '\t')
		c->pos++;
}

/* Takes a token; returns its length (0 when there is none). */
static size_t take_token(struct cursor *c)
{
	size_t start = c->pos;

	while (c->pos < c->len && is_tchar((unsigned char)c->s[c->pos]))
		c->pos++;
	return c->pos - start;
}

/* Adds byte b to the value of pa, keeping its first VALUE_KEEP bytes. */
static void value_add(struct param *pa, char b)
{
	if (pa->value_len < VALUE_KEEP)
		pa->value[pa->value_len] = b;
	pa->value_len++;
}

/* qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text, and the
 * quoted-pair escape (RFC 9110 5.6.4). RFC 6455 9.1: once unescaped, the
 * value must be a token too, so only tchars can survive. */
static bool take_quoted(struct cursor *c, struct param *pa)
{
	c->pos++; /* the opening DQUOTE */
	for (;;) {
		int b = peek(c);

		if (b < 0)
			return false;
		c->pos++;
		if (b == '"')
			return pa->value_len > 0;
		if (b == '\\') {
			b = peek(c);
			if (b < 0)
				return false;
			c->pos++;
		}
		if (!is_tchar((unsigned char)b))
			return false;
		value_add(pa, (char)b);
	}
}

/* extension-param = token [ "=" ( token | quoted-string ) ], whitespace
 * allowed around "=". False on a syntax error. */
static bool take_param(struct cursor *c, struct param *pa)
{
	*pa = (struct param){ .name = c->s + c->pos };
	pa->name_len = take_token(c);
	if (pa->name_len == 0)
		return false;
	skip_ows(c);
	if (peek(c) != '=')
		return true;
	c->pos++;
	skip_ows(c);
	pa->has_value = true;
	if (peek(c) == '"')
		return take_quoted(c, pa);

	size_t start = c->pos;
	size_t n = take_token(c);

	for (size_t i = 0; i < n; i++)
		value_add(pa, c->s[start + i]);
	return n > 0;
}

static bool name_is(const char *s, size_t n, const char *name)
{
	size_t i = 0;

	/* Case-insensitive: a peer that accepts another spelling is best
	 * decoded as having agreed; RSV1 still tells compressed messages. */
	for (; i < n && name[i] != '\0'; i++) {
		unsigned char a = (unsigned char)s[i], b = (unsigned char)name[i];

		if (a >= 'A' && a <= 'Z')
			a += 'a' - 'A';
		if (a != b)
			return false;
	}
	return i == n && name[i] == '\0';
}

/* RFC 7692 7.1.2.1/7.1.2.2: a decimal integer 8..15 without leading
 * zeroes; 0 when the value is anything else. */
static uint8_t window_bits(const struct param *pa)
{
	static const char *const ok[] = { "8",  "9",  "10", "11",
					  "12", "13", "14", "15" };

	if (pa->value_len > 2)
		return 0;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (strlen(ok[i]) == pa->value_len &&
		    memcmp(ok[i], pa->value, pa->value_len) == 0)
			return (uint8_t)(8 + i);
	}
	return 0;
}

/* Applies one permessage-deflate parameter (RFC 7692 7.1) to out; seen
 * collects the ones met so far, as each may appear once (7.1). */
static bool deflate_param(const struct param *pa, unsigned *seen,
			  struct ws_deflate_params *out)
{
	static const char *const names[] = {
		"server_no_context_takeover", "client_no_context_takeover",
		"server_max_window_bits", "client_max_window_bits",
	};
	size_t i = 0;

	while (i < 4 && !name_is(pa->name, pa->name_len, names[i]))
		i++;
	if (i == 4 || (*seen & (1u << i)))
		return false;
	*seen |= 1u << i;

	switch (1u << i) {
	case SERVER_NO_CONTEXT: /* 7.1.1.1: no value */
		out->server_no_context_takeover = true;
		return !pa->has_value;
	case CLIENT_NO_CONTEXT: /* 7.1.1.2: no value */
		out->client_no_context_takeover = true;
		return !pa->has_value;
	case SERVER_MAX_BITS: /* 7.1.2.1: a value is required */
		out->server_max_window_bits = window_bits(pa);
		return out->server_max_window_bits != 0;
	default: /* 7.1.2.2: bare means the default, 15 */
		out->client_max_window_bits = pa->has_value ? window_bits(pa) :
							      15;
		return out->client_max_window_bits != 0;
	}
}

/* Takes one extension and its parameters; the permessage-deflate one
 * fills out. */
static enum ws_extensions_status take_extension(struct cursor *c,
						struct ws_deflate_params *out)
{
	const char *name = c->s + c->pos;
	size_t name_len = take_token(c);
	bool deflate = name_is(name, name_len, "permessage-deflate");
	enum ws_extensions_status st = WS_EXTENSIONS_OK;
	unsigned seen = 0;

	if (name_len == 0)
		return WS_EXTENSIONS_SYNTAX;
	if (deflate && out->enabled)
		st = WS_EXTENSIONS_DUPLICATE;
	out->enabled |= deflate;
	for (skip_ows(c); peek(c) == ';'; skip_ows(c)) {
		struct param pa;

		c->pos++;
		skip_ows(c);
		if (!take_param(c, &pa))
			return WS_EXTENSIONS_SYNTAX;
		if (deflate && st == WS_EXTENSIONS_OK &&
		    !deflate_param(&pa, &seen, out))
			st = WS_EXTENSIONS_BAD_PARAM;
	}
	return st;
}

static void set_defaults(struct ws_deflate_params *out)
{
	*out = (struct ws_deflate_params){
		.server_max_window_bits = 15,
		.client_max_window_bits = 15,
	};
}

enum ws_extensions_status ws_deflate_params_parse(const char *value,
						  size_t len,
						  struct ws_deflate_params *out)
{
	struct cursor c = { .s = value, .len = value ? len : 0 };

	set_defaults(out);
	for (;;) {
		skip_ows(&c);
		if (peek(&c) == ',') { /* empty list element */
			c.pos++;
			continue;
		}
		if (peek(&c) < 0)
			return WS_EXTENSIONS_OK;

		enum ws_extensions_status st = take_extension(&c, out);

		if (st == WS_EXTENSIONS_OK && peek(&c) >= 0 && peek(&c) != ',')
			st = WS_EXTENSIONS_SYNTAX;
		if (st != WS_EXTENSIONS_OK) {
			set_defaults(out);
			return st;
		}
	}
}

const char *ws_extensions_strerror(enum ws_extensions_status status)
{
	switch (status) {
	case WS_EXTENSIONS_OK:
		return "extensions understood";
	case WS_EXTENSIONS_SYNTAX:
		return "Sec-WebSocket-Extensions is not a valid extension list";
	case WS_EXTENSIONS_BAD_PARAM:
		return "permessage-deflate has an unknown, repeated or "
		       "out-of-range parameter";
	case WS_EXTENSIONS_DUPLICATE:
		return "permessage-deflate accepted more than once";
	}
	return "unknown extensions status";
}

/* json_check.c - recursive descent over JSON text, validating as it goes
 * (RFC 8259), and path lookup on top of it. */
#include "json_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct parser {
	const unsigned char *p, *end, *start;
	const char *error;
	int depth;
};

static bool fail(struct parser *ps, const char *why)
{
	if (!ps->error)
		ps->error = why;
	return false;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
				   *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static bool literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return fail(ps, "unknown literal");
	ps->p += n;
	return true;
}

static bool digits(struct parser *ps)
{
	const unsigned char *s = ps->p;

	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
		ps->p++;
	return ps->p > s ? true : fail(ps, "digit expected");
}

/* RFC 8259 6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool number(struct parser *ps)
{
	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p < ps->end && *ps->p == '0')
		ps->p++;
	else if (!digits(ps))
		return false;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!digits(ps))
			return false;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!digits(ps))
			return false;
	}
	return true;
}

static int hex4(const unsigned char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		int c = p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* Length of the well-formed UTF-8 sequence at p, 0 if none (RFC 3629). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, lo = p[0] == 0xe0 ? 0xa0 : 0x80,
		hi = p[0] == 0xed ? 0x9f : 0xbf;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, lo = p[0] == 0xf0 ? 0x90 : 0x80,
		hi = p[0] == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (len > n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

static bool string(struct parser *ps)
{
	if (ps->p >= ps->end || *ps->p != '"')
		return fail(ps, "string expected");
	ps->p++;
	while (ps->p < ps->end) {
		unsigned char c = *ps->p;
		size_t len;

		if (c == '"') {
			ps->p++;
			return true;
		}
		if (c < 0x20)
			return fail(ps, "raw control character in string");
		if (c == '\\') {
			int u;

			if (ps->end - ps->p < 2)
				break;
			c = ps->p[1];
			if (strchr("\"\\/bfnrt", c) && c) {
				ps->p += 2;
				continue;
			}
			if (c != 'u' || ps->end - ps->p < 6 ||
			    (u = hex4(ps->p + 2)) < 0)
				return fail(ps, "bad escape");
			ps->p += 6;
			if (u >= 0xdc00 && u <= 0xdfff)
				return fail(ps, "lone low surrogate escape");
			if (u >= 0xd800 && u <= 0xdbff) {
				int lo;

				if (ps->end - ps->p < 6 || ps->p[0] != '\\' ||
				    ps->p[1] != 'u' ||
				    (lo = hex4(ps->p + 2)) < 0xdc00 ||
				    lo > 0xdfff)
					return fail(ps, "unpaired surrogate");
				ps->p += 6;
			}
			continue;
		}
		len = utf8_len(ps->p, (size_t)(ps->end - ps->p));
		if (len == 0)
			return fail(ps, "invalid UTF-8 in string");
		ps->p += len;
	}
	return fail(ps, "unterminated string");
}

static bool value(struct parser *ps);

static bool object(struct parser *ps)
{
	/* Keys seen, as spans, to refuse duplicates. */
	const unsigned char *keys[256];
	size_t key_len[256], nkeys = 0;

	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return true;
	}
	for (;;) {
		const unsigned char *k;

		skip_ws(ps);
		k = ps->p;
		if (!string(ps))
			return false;
		for (size_t i = 0; i < nkeys; i++)
			if (key_len[i] == (size_t)(ps->p - k) &&
			    memcmp(keys[i], k, key_len[i]) == 0)
				return fail(ps, "duplicate key");
		if (nkeys < 256) {
			keys[nkeys] = k;
			key_len[nkeys++] = (size_t)(ps->p - k);
		}
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != ':')
			return fail(ps, "':' expected");
		ps->p++;
		if (!value(ps))
			return false;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == '}') {
			ps->p++;
			return true;
		}
		return fail(ps, "',' or '}' expected");
	}
}

static bool array(struct parser *ps)
{
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return true;
	}
	for (;;) {
		if (!value(ps))
			return false;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return true;
		}
		return fail(ps, "',' or ']' expected");
	}
}

static bool value(struct parser *ps)
{
	bool ok;

	skip_ws(ps);
	if (ps->p >= ps->end)
		return fail(ps, "value expected");
	if (++ps->depth > MAX_DEPTH)
		return fail(ps, "nested too deep");
	switch (*ps->p) {
	case '{':
		ok = object(ps);
		break;
	case '[':
		ok = array(ps);
		break;
	case '"':
		ok = string(ps);
		break;
	case 't':
		ok = literal(ps, "true");
		break;
	case 'f':
		ok = literal(ps, "false");
		break;
	case 'n':
		ok = literal(ps, "null");
		break;
	default:
		ok = (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
			 ? number(ps)
			 : fail(ps, "value expected");
	}
	ps->depth--;
	return ok;
}

bool json_check(const char *text, size_t len, char *err, size_t errlen)
{
	struct parser ps = {(const unsigned char *)text,
			    (const unsigned char *)text + len,
			    (const unsigned char *)text, NULL, 0};

	if (value(&ps)) {
		skip_ws(&ps);
		if (ps.p == ps.end)
			return true;
		fail(&ps, "text after the value");
	}
	if (err)
		snprintf(err, errlen, "%s at byte %td", ps.error,
			 ps.p - ps.start);
	return false;
}

/* The key of an object member at ps->p equals the n bytes of want
 * (a key with no escapes, as all wsdbg keys are). Consumes the key. */
static bool key_is(struct parser *ps, const char *want, size_t n)
{
	const unsigned char *k = ps->p;

	if (!string(ps))
		return false;
	return (size_t)(ps->p - k) == n + 2 && memcmp(k + 1, want, n) == 0;
}

char *json_check_get(const char *text, const char *path, char *out,
		     size_t outlen)
{
	size_t len = strlen(text);
	struct parser ps = {(const unsigned char *)text,
			    (const unsigned char *)text + len,
			    (const unsigned char *)text, NULL, 0};
	const unsigned char *v;

	if (!json_check(text, len, NULL, 0))
		return NULL;
	while (*path) {
		size_t n = strcspn(path, ".");
		bool found = false;

		skip_ws(&ps);
		if (*ps.p == '{') {
			ps.p++;
			skip_ws(&ps);
			while (*ps.p != '}') {
				bool match = key_is(&ps, path, n);

				skip_ws(&ps);
				ps.p++; /* ':' */
				if (match) {
					found = true;
					break;
				}
				value(&ps);
				skip_ws(&ps);
				if (*ps.p == ',')
					ps.p++;
				skip_ws(&ps);
			}
		} else if (*ps.p == '[') {
			char *endp;
			long want = strtol(path, &endp, 10);

			ps.p++;
			skip_ws(&ps);
			for (long i = 0; *ps.p != ']'; i++) {
				if (i == want && endp == path + n) {
					found = true;
					break;
				}
				value(&ps);
				skip_ws(&ps);
				if (*ps.p == ',')
					ps.p++;
				skip_ws(&ps);
			}
		}
		if (!found)
			return NULL;
		path += n + (path[n] == '.');
	}
	skip_ws(&ps);
	v = ps.p;
	value(&ps);
	if ((size_t)(ps.p - v) + 1 > outlen)
		return NULL;
	memcpy(out, v, (size_t)(ps.p - v));
	out[ps.p - v] = '\0';
	return out;
}

const char *json_check_field(const char *text, const char *path)
{
	static char bufs[8][4096];
	static unsigned next;
	char *out = bufs[next++ % 8];

	return json_check_get(text, path, out, sizeof(bufs[0])) ? out
								: "(absent)";
}

/* json_writer.c - JSON text by hand into a growable buffer, strings
 * escaped per RFC 8259 7 and always valid UTF-8 (RFC 3629). */
#include "json_writer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void json_init_with(struct json_writer *w, bool compact,
		    const struct registry_allocator *alloc)
{
	*w = (struct json_writer){.compact = compact, .alloc = alloc};
}

void json_init(struct json_writer *w, bool compact)
{
	json_init_with(w, compact, NULL);
}

static void *writer_resize(const struct json_writer *w, void *p, size_t n)
{
	return w->alloc ? w->alloc->resize(w->alloc->ctx, p, n)
			: realloc(p, n);
}

static void writer_release(const struct json_writer *w, void *p)
{
	if (w->alloc)
		w->alloc->release(w->alloc->ctx, p);
	else
		free(p);
}

void json_free(struct json_writer *w)
{
	writer_release(w, w->buf);
	json_init_with(w, w->compact, w->alloc);
}

char *json_take(struct json_writer *w, size_t *len)
{
	char *text = w->buf;
	size_t n = w->len;
	bool compact = w->compact;
	const struct registry_allocator *alloc = w->alloc;

	if (w->failed) {
		writer_release(w, text);
		text = NULL;
		n = 0;
	} else if (!text) {
		/* Nothing written: still hand back a string. */
		text = writer_resize(w, NULL, 1);
		if (text)
			text[0] = '\0';
	}
	json_init_with(w, compact, alloc);
	if (len)
		*len = text ? n : 0;
	return text;
}

/* Room for n more bytes plus the terminating NUL. False (and the writer
 * failed) when memory is short. */
static bool reserve(struct json_writer *w, size_t n)
{
	size_t cap;
	char *grown;

	if (w->failed)
		return false;
	if (n < w->cap - w->len)
		return true;
	cap = w->cap ? w->cap : 256;
	while (cap - w->len <= n) {
		if (cap > SIZE_MAX / 2) {
			w->failed = true;
			return false;
		}
		cap *= 2;
	}
	grown = writer_resize(w, w->buf, cap);
	if (!grown) {
		w->failed = true;
		return false;
	}
	w->buf = grown;
	w->cap = cap;
	return true;
}

static void put(struct json_writer *w, const void *p, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void put_char(struct json_writer *w, char c)
{
	put(w, &c, 1);
}

static void put_str(struct json_writer *w, const char *s)
{
	put(w, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void put_fmt(struct json_writer *w,
							  const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	/* Only numbers go through here; they always fit. */
	if (n > 0 && (size_t)n < sizeof(tmp))
		put(w, tmp, (size_t)n);
}

/* Length (1-4) of the well-formed UTF-8 sequence at p[0..n), or 0 when
 * p[0] does not start one that fits in n bytes: no overlong forms, no
 * surrogates, nothing above U+10FFFF (RFC 3629 4). */
static size_t utf8_sequence_length(const uint8_t *p, size_t n)
{
	size_t len;
	uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		if (p[0] == 0xe0)
			lo = 0xa0; /* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		if (p[0] == 0xf0)
			lo = 0x90; /* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0;
	}
	if (len > n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* The quoted, escaped string. */
static void string_body(struct json_writer *w, const uint8_t *p, size_t n,
			bool cut_tail)
{
	static const char hex[] = "0123456789abcdef";

	put_char(w, '"');
	for (size_t i = 0; i < n && !w->failed;) {
		size_t len = utf8_sequence_length(p + i, n - i);
		size_t run;

		if (len == 0) {
			/* A lead byte whose sequence the truncation cut. */
			if (cut_tail && n - i < 4 && p[i] >= 0xc2 &&
			    p[i] <= 0xf4)
				break;
			put_str(w, "\\ufffd");
			i++;
			continue;
		}
		if (len > 1) {
			put(w, p + i, len);
			i += len;
			continue;
		}
		switch (p[i]) {
		case '"':
			put_str(w, "\\\"");
			break;
		case '\\':
			put_str(w, "\\\\");
			break;
		case '\n':
			put_str(w, "\\n");
			break;
		case '\r':
			put_str(w, "\\r");
			break;
		case '\t':
			put_str(w, "\\t");
			break;
		default:
			if (p[i] < 0x20 || p[i] == 0x7f) {
				char esc[6] = {
				    '\\',	    'u',	   '0', '0',
				    hex[p[i] >> 4], hex[p[i] & 15]};

				put(w, esc, sizeof(esc));
				break;
			}
			/* A run of plain ASCII in one copy. */
			run = 1;
			while (i + run < n && p[i + run] >= 0x20 &&
			       p[i + run] < 0x7f && p[i + run] != '"' &&
			       p[i + run] != '\\')
				run++;
			put(w, p + i, run);
			i += run;
			continue;
		}
		i++;
	}
	put_char(w, '"');
}

static void indent(struct json_writer *w, int levels)
{
	put_char(w, '\n');
	for (int i = 0; i < levels; i++)
		put_str(w, "  ");
}

/* Writes the separator, layout and "key": before a value. */
static void item(struct json_writer *w, const char *key)
{
	int d = w->depth;

	if (d > 0) {
		if (w->has_items[d])
			put_char(w, ',');
		if (w->compact) {
			/* nothing between items */
		} else if (w->inline_[d]) {
			if (w->has_items[d])
				put_char(w, ' ');
		} else {
			indent(w, d);
		}
		w->has_items[d] = true;
	}
	if (key) {
		string_body(w, (const uint8_t *)key, strlen(key), false);
		put_str(w, w->compact ? ":" : ": ");
	}
}

static void open_container(struct json_writer *w, const char *key, bool inline_,
			   char c)
{
	item(w, key);
	put_char(w, c);
	if (w->depth + 1 >= JSON_WRITER_MAX_DEPTH) {
		/* Too deep to track: items go on in the current level's
		 * layout, which stays valid since it has an item now. */
		w->overflow++;
		w->has_items[w->depth] = false;
		return;
	}
	w->depth++;
	w->has_items[w->depth] = false;
	/* Inside a one-line container everything stays on that line. */
	w->inline_[w->depth] = inline_ || w->inline_[w->depth - 1];
}

static void close_container(struct json_writer *w, char c)
{
	if (w->overflow > 0) {
		w->overflow--;
		w->has_items[w->depth] = true;
		put_char(w, c);
		return;
	}
	if (w->has_items[w->depth] && !w->inline_[w->depth] && !w->compact)
		indent(w, w->depth - 1);
	put_char(w, c);
	if (w->depth > 0)
		w->depth--;
}

void json_object_begin(struct json_writer *w, const char *key, bool inline_)
{
	open_container(w, key, inline_, '{');
}

void json_object_end(struct json_writer *w)
{
	close_container(w, '}');
}

void json_array_begin(struct json_writer *w, const char *key, bool inline_)
{
	open_container(w, key, inline_, '[');
}

void json_array_end(struct json_writer *w)
{
	close_container(w, ']');
}

void json_bytes(struct json_writer *w, const char *key, const uint8_t *p,
		size_t n, bool cut_tail)
{
	item(w, key);
	string_body(w, p, n, cut_tail);
}

void json_string(struct json_writer *w, const char *key, const char *s)
{
	if (!s) {
		json_null(w, key);
		return;
	}
	json_bytes(w, key, (const uint8_t *)s, strlen(s), false);
}

void json_hex(struct json_writer *w, const char *key, const uint8_t *p,
	      size_t n)
{
	static const char digits[] = "0123456789abcdef";

	item(w, key);
	put_char(w, '"');
	if (n > 0 && reserve(w, 2 * n)) {
		for (size_t i = 0; i < n; i++) {
			w->buf[w->len++] = digits[p[i] >> 4];
			w->buf[w->len++] = digits[p[i] & 15];
		}
		w->buf[w->len] = '\0';
	}
	put_char(w, '"');
}

void json_int(struct json_writer *w, const char *key, long long v)
{
	item(w, key);
	put_fmt(w, "%lld", v);
}

void json_uint(struct json_writer *w, const char *key, unsigned long long v)
{
	item(w, key);
	put_fmt(w, "%llu", v);
}

void json_double(struct json_writer *w, const char *key, double v, int decimals)
{
	unsigned long long scale = 1, scaled;
	bool negative = v < 0;
	double a = fabs(v);

	/* JSON has no NaN or infinity. */
	if (!isfinite(v)) {
		json_null(w, key);
		return;
	}
	if (decimals < 0)
		decimals = 0;
	if (decimals > 9)
		decimals = 9;
	/* Digits by integer arithmetic, not printf("%f"): the shim runs in
	 * a host that may have set a locale whose decimal point is ",". Huge
	 * values give up decimals to stay within 64 bits. */
	while (decimals > 0 && a * pow(10, decimals) >= 9e18)
		decimals--;
	if (a >= 9e18) {
		json_null(w, key);
		return;
	}
	for (int i = 0; i < decimals; i++)
		scale *= 10;
	scaled = (unsigned long long)llround(a * (double)scale);
	if (scaled == 0)
		negative = false; /* no "-0.000" */
	item(w, key);
	if (decimals == 0)
		put_fmt(w, "%s%llu", negative ? "-" : "", scaled);
	else
		put_fmt(w, "%s%llu.%0*llu", negative ? "-" : "", scaled / scale,
			decimals, scaled % scale);
}

void json_bool(struct json_writer *w, const char *key, bool v)
{
	item(w, key);
	put_str(w, v ? "true" : "false");
}

void json_null(struct json_writer *w, const char *key)
{
	item(w, key);
	put_str(w, "null");
}

void json_finish(struct json_writer *w)
{
	put_char(w, '\n');
}

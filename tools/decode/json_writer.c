/* json_writer.c - writing JSON text by hand, escaped per RFC 8259 7. */
#include "json_writer.h"

#include <string.h>

#include "format.h"

void json_init(struct json_writer *w, FILE *f)
{
	*w = (struct json_writer){.f = f};
}

/* The string body, without the item separator. */
static void json_string_body(FILE *f, const uint8_t *p, size_t n,
			     bool cut_tail)
{
	fputc('"', f);
	for (size_t i = 0; i < n;) {
		size_t len = utf8_sequence_length(p + i, n - i);

		if (len == 0) {
			/* A sequence cut by truncation: drop it. */
			if (cut_tail && n - i < 4 && p[i] >= 0xc2)
				break;
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		if (p[i] == '"' || p[i] == '\\')
			fprintf(f, "\\%c", p[i]);
		else if (p[i] == '\n')
			fputs("\\n", f);
		else if (p[i] == '\r')
			fputs("\\r", f);
		else if (p[i] == '\t')
			fputs("\\t", f);
		else if (p[i] < 0x20 || p[i] == 0x7f)
			fprintf(f, "\\u%04x", p[i]);
		else
			fwrite(p + i, 1, len, f);
		i += len;
	}
	fputc('"', f);
}

/* Writes the separator, indentation and "key": before a value. */
static void json_item(struct json_writer *w, const char *key)
{
	bool in_line = w->depth > 0 && w->inline_[w->depth];

	if (w->depth > 0) {
		if (w->has_items[w->depth])
			fputc(',', w->f);
		if (in_line) {
			if (w->has_items[w->depth])
				fputc(' ', w->f);
		} else {
			fputc('\n', w->f);
			for (int i = 0; i < w->depth; i++)
				fputs("  ", w->f);
		}
		w->has_items[w->depth] = true;
	}
	if (key) {
		json_string_body(w->f, (const uint8_t *)key, strlen(key),
				 false);
		fputs(": ", w->f);
	}
}

static void json_open(struct json_writer *w, const char *key, bool inline_,
		      char c)
{
	json_item(w, key);
	fputc(c, w->f);
	if (w->depth + 1 < JSON_WRITER_MAX_DEPTH)
		w->depth++;
	w->has_items[w->depth] = false;
	/* Inside a one-line container everything stays on that line. */
	w->inline_[w->depth] = inline_ || w->inline_[w->depth - 1];
}

static void json_close(struct json_writer *w, char c)
{
	if (w->has_items[w->depth] && !w->inline_[w->depth]) {
		fputc('\n', w->f);
		for (int i = 0; i < w->depth - 1; i++)
			fputs("  ", w->f);
	}
	fputc(c, w->f);
	if (w->depth > 0)
		w->depth--;
}

void json_object_begin(struct json_writer *w, const char *key, bool inline_)
{
	json_open(w, key, inline_, '{');
}

void json_object_end(struct json_writer *w)
{
	json_close(w, '}');
}

void json_array_begin(struct json_writer *w, const char *key, bool inline_)
{
	json_open(w, key, inline_, '[');
}

void json_array_end(struct json_writer *w)
{
	json_close(w, ']');
}

void json_bytes(struct json_writer *w, const char *key, const uint8_t *p,
		size_t n, bool cut_tail)
{
	json_item(w, key);
	json_string_body(w->f, p, n, cut_tail);
}

void json_string(struct json_writer *w, const char *key, const char *s)
{
	if (!s) {
		json_null(w, key);
		return;
	}
	json_item(w, key);
	json_string_body(w->f, (const uint8_t *)s, strlen(s), false);
}

void json_hex(struct json_writer *w, const char *key, const uint8_t *p,
	      size_t n)
{
	json_item(w, key);
	fputc('"', w->f);
	for (size_t i = 0; i < n; i++)
		fprintf(w->f, "%02x", p[i]);
	fputc('"', w->f);
}

void json_int(struct json_writer *w, const char *key, long long v)
{
	json_item(w, key);
	fprintf(w->f, "%lld", v);
}

void json_uint(struct json_writer *w, const char *key, unsigned long long v)
{
	json_item(w, key);
	fprintf(w->f, "%llu", v);
}

void json_double(struct json_writer *w, const char *key, double v,
		 int decimals)
{
	json_item(w, key);
	fprintf(w->f, "%.*f", decimals, v);
}

void json_bool(struct json_writer *w, const char *key, bool v)
{
	json_item(w, key);
	fputs(v ? "true" : "false", w->f);
}

void json_null(struct json_writer *w, const char *key)
{
	json_item(w, key);
	fputs("null", w->f);
}

void json_finish(struct json_writer *w)
{
	fputc('\n', w->f);
}

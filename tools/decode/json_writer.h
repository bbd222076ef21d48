/*
 * json_writer.h - a minimal streaming JSON writer for wsdbg-decode's
 * --json output: objects, arrays, strings (always valid JSON and valid
 * UTF-8, whatever the input bytes), numbers, booleans, null.
 *
 * Members are written with key; array elements with key NULL. Containers
 * opened "inline" keep all their members on one line.
 */
#ifndef WSDBG_TOOLS_JSON_WRITER_H
#define WSDBG_TOOLS_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_WRITER_MAX_DEPTH 16

struct json_writer {
	FILE *f;
	int depth;
	bool has_items[JSON_WRITER_MAX_DEPTH]; /* a member was written */
	bool inline_[JSON_WRITER_MAX_DEPTH];   /* one-line container */
};

void json_init(struct json_writer *w, FILE *f);

void json_object_begin(struct json_writer *w, const char *key, bool inline_);
void json_object_end(struct json_writer *w);
void json_array_begin(struct json_writer *w, const char *key, bool inline_);
void json_array_end(struct json_writer *w);

/* s NULL writes null. */
void json_string(struct json_writer *w, const char *key, const char *s);

/* n bytes as a string: invalid UTF-8 becomes U+FFFD, except an incomplete
 * sequence at the very end when cut_tail is set (a truncated prefix), which
 * is dropped. */
void json_bytes(struct json_writer *w, const char *key, const uint8_t *p,
		size_t n, bool cut_tail);

/* n bytes as lower-case hex digits. */
void json_hex(struct json_writer *w, const char *key, const uint8_t *p,
	      size_t n);

void json_int(struct json_writer *w, const char *key, long long v);
void json_uint(struct json_writer *w, const char *key, unsigned long long v);
/* decimals digits after the point. */
void json_double(struct json_writer *w, const char *key, double v,
		 int decimals);
void json_bool(struct json_writer *w, const char *key, bool v);
void json_null(struct json_writer *w, const char *key);

/* Ends the document with a newline. */
void json_finish(struct json_writer *w);

#endif

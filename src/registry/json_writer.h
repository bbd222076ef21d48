/*
 * json_writer.h - writing JSON text (RFC 8259) into a growable memory
 * buffer: objects, arrays, strings, numbers, booleans, null. Used by the
 * registry's snapshot and by wsdbg-decode's --json output.
 *
 * Whatever bytes it is given, the text it produces is valid JSON and valid
 * UTF-8: strings are escaped per RFC 8259 7, bytes that are not well-formed
 * UTF-8 become U+FFFD, non-finite numbers become null.
 *
 * Members are written with a key; array elements with key NULL. A
 * container opened "inline" keeps all its members on one line; a compact
 * writer puts the whole document on one line without spaces.
 *
 * Errors are sticky: once an allocation fails every later call does
 * nothing and json_take() returns NULL, so callers write the whole
 * document and check once. No dependency beyond libc; no globals.
 */
#ifndef WSDBG_JSON_WRITER_H
#define WSDBG_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsdbg/registry.h"

/* Nesting kept track of; deeper containers are written flat (still valid
 * JSON: only the layout suffers). */
#define JSON_WRITER_MAX_DEPTH 16

struct json_writer {
	char *buf;     /* the text so far, NUL-terminated once non-empty */
	size_t len;
	size_t cap;
	bool failed;   /* an allocation failed: the text is incomplete */
	bool compact;  /* one line, no spaces */
	int depth;     /* containers open */
	int overflow;  /* containers open beyond JSON_WRITER_MAX_DEPTH */
	bool has_items[JSON_WRITER_MAX_DEPTH]; /* a member was written */
	bool inline_[JSON_WRITER_MAX_DEPTH];   /* one-line container */
	const struct registry_allocator *alloc; /* NULL: malloc */
};

/* Starts an empty document. Allocates nothing until the first write. */
void json_init(struct json_writer *w, bool compact);

/* The same, its buffer from alloc (NULL: malloc); json_take's text is
 * then alloc's to release. */
void json_init_with(struct json_writer *w, bool compact,
		    const struct registry_allocator *alloc);

/* Frees the buffer; w may be initialised again. */
void json_free(struct json_writer *w);

/* Hands the NUL-terminated text to the caller (who frees it) and stores
 * its length in *len (may be NULL). NULL if an allocation failed, in which
 * case the partial text is freed. w is empty afterwards either way. */
char *json_take(struct json_writer *w, size_t *len);

void json_object_begin(struct json_writer *w, const char *key, bool inline_);
void json_object_end(struct json_writer *w);
void json_array_begin(struct json_writer *w, const char *key, bool inline_);
void json_array_end(struct json_writer *w);

/* s NULL writes null. */
void json_string(struct json_writer *w, const char *key, const char *s);

/* n bytes as a string: invalid UTF-8 becomes U+FFFD, except an incomplete
 * sequence at the very end when cut_tail is set (a truncated prefix), which
 * is dropped. NUL bytes are written as \u0000. */
void json_bytes(struct json_writer *w, const char *key, const uint8_t *p,
		size_t n, bool cut_tail);

/* n bytes as lower-case hex digits. */
void json_hex(struct json_writer *w, const char *key, const uint8_t *p,
	      size_t n);

void json_int(struct json_writer *w, const char *key, long long v);
void json_uint(struct json_writer *w, const char *key, unsigned long long v);
/* decimals digits after the point; NaN and infinities write null. */
void json_double(struct json_writer *w, const char *key, double v,
		 int decimals);
void json_bool(struct json_writer *w, const char *key, bool v);
void json_null(struct json_writer *w, const char *key);

/* Ends the document with a newline. */
void json_finish(struct json_writer *w);

#endif

/*
 * json_check.h - a strict JSON (RFC 8259) checker for tests, and a way to
 * pick one value out of a document by path.
 *
 * Strict: one value and nothing but whitespace after it; no trailing
 * commas, no comments, no NaN; numbers as in RFC 8259 6; strings with only
 * the escapes of RFC 8259 7, no raw control characters, well-formed UTF-8
 * (RFC 3629: no overlong forms, no surrogates) and \u escapes that pair
 * surrogates properly; no duplicate keys in an object.
 */
#ifndef WSDBG_TEST_JSON_CHECK_H
#define WSDBG_TEST_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* True when text[0..len) is one valid JSON document. Otherwise false, and
 * err (when not NULL) says what and at which byte offset. */
bool json_check(const char *text, size_t len, char *err, size_t errlen);

/* Copies into out the raw JSON text of the value at path, a list of object
 * keys and array indexes separated by '.' ("connections.0.close.code";
 * keys must not contain '.'). Strings come back quoted and escaped as in
 * the document. Returns out, or NULL when there is no such value, the
 * document is invalid, or the value does not fit in outlen. */
char *json_check_get(const char *text, const char *path, char *out,
		     size_t outlen);

/* json_check_get into one of 8 static 4 KiB buffers, taken in turn (so a
 * few results can be compared in one expression); "(absent)" when there is
 * no such value. Not thread-safe: for tests. */
const char *json_check_field(const char *text, const char *path);

#endif

/* clean.c - a snapshot's strings made safe for a terminal (clean.h). */
#include "clean.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

/* Whether code point cp is a control a terminal acts on. */
static bool is_control(uint32_t cp, bool keep_lines)
{
	if (keep_lines && (cp == '\n' || cp == '\t'))
		return false;
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0);
}

/*
 * s[0..n) with its controls escaped, as a malloc'd string (*out, *out_len),
 * or false when there is nothing to escape. jansson hands out valid UTF-8
 * (NULs allowed); a stray invalid byte is escaped as \xNN all the same.
 */
static bool escape(const char *s, size_t n, bool keep_lines, char **out,
		   size_t *out_len)
{
	const uint8_t *p = (const uint8_t *)s;
	bool dirty = false;
	size_t i, len;
	FILE *f;

	for (i = 0; i < n && !dirty; i += len ? len : 1) {
		len = utf8_sequence_length(p + i, n - i);
		dirty = !len || is_control(utf8_code_point(p + i, len),
					   keep_lines);
	}
	if (!dirty)
		return false;
	f = open_memstream(out, out_len);
	if (!f)
		abort(); /* out of memory in a CLI: nothing to save */
	for (i = 0; i < n; i += len ? len : 1) {
		uint32_t cp;

		len = utf8_sequence_length(p + i, n - i);
		cp = len ? utf8_code_point(p + i, len) : 0;
		if (!len)
			fprintf(f, "\\x%02x", p[i]);
		else if (!is_control(cp, keep_lines))
			fwrite(p + i, 1, len, f);
		else if (cp == '\n')
			fputs("\\n", f);
		else if (cp == '\r')
			fputs("\\r", f);
		else if (cp == '\t')
			fputs("\\t", f);
		else
			fprintf(f, "\\u%04x", (unsigned)cp);
	}
	if (fclose(f) != 0)
		abort();
	return true;
}

static void clean_value(json_t *v, bool keep_lines);

/*
 * An object's values, then its keys (the object rebuilt only when a key
 * needs it). The value of lines_key keeps its line feeds and tabs; that
 * of skip_key is left to the caller. Either may be NULL.
 */
static void clean_object(json_t *obj, const char *lines_key,
			 const char *skip_key)
{
	json_t *fresh = NULL, *v;
	const char *key;
	char *esc;
	size_t len;

	json_object_foreach(obj, key, v) {
		if (skip_key && !strcmp(key, skip_key))
			continue;
		clean_value(v, lines_key && !strcmp(key, lines_key));
	}
	json_object_foreach(obj, key, v) {
		if (escape(key, strlen(key), false, &esc, &len)) {
			free(esc);
			fresh = json_object();
			break;
		}
	}
	if (!fresh)
		return;
	json_object_foreach(obj, key, v) {
		if (escape(key, strlen(key), false, &esc, &len)) {
			json_object_set(fresh, esc, v);
			free(esc);
		} else {
			json_object_set(fresh, key, v);
		}
	}
	json_object_clear(obj);
	json_object_update(obj, fresh);
	json_decref(fresh);
}

/* Recursion is bounded: jansson refuses input nested deeper than 2048. */
static void clean_value(json_t *v, bool keep_lines)
{
	char *esc;
	size_t len, i;
	json_t *e;

	if (json_is_string(v)) {
		if (escape(json_string_value(v), json_string_length(v),
			   keep_lines, &esc, &len)) {
			json_string_setn_nocheck(v, esc, len);
			free(esc);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			clean_value(e, false);
	} else if (json_is_object(v)) {
		clean_object(v, NULL, NULL);
	}
}

/* Drops the entries of array a that are not objects, in one pass (a
 * hostile file may hold millions). */
static void keep_objects(json_t *a)
{
	json_t *objects, *e;
	size_t i, n = 0;

	json_array_foreach(a, i, e)
		n += json_is_object(e);
	if (n == json_array_size(a))
		return;
	objects = json_array();
	json_array_foreach(a, i, e)
		if (json_is_object(e))
			json_array_append(objects, e);
	json_array_clear(a);
	json_array_extend(a, objects);
	json_decref(objects);
}

void clean_snapshot(json_t *snap)
{
	json_t *conns = json_object_get(snap, "connections"), *c, *m;
	size_t i, j;

	if (!json_is_object(snap) || !json_is_array(conns)) {
		clean_value(snap, false);
		return;
	}
	clean_object(snap, NULL, "connections");
	keep_objects(conns);
	json_array_foreach(conns, i, c) {
		json_t *msgs = json_object_get(c, "messages");

		if (msgs && !json_is_array(msgs))
			json_object_del(c, "messages");
		clean_object(c, NULL, "messages");
		msgs = json_object_get(c, "messages");
		keep_objects(msgs);
		json_array_foreach(msgs, j, m)
			clean_object(m, "text", NULL);
	}
}

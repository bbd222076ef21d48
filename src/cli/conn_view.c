/* conn_view.c - a connection's fields as short strings (conn_view.h). */
#include "conn_view.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "source.h"

bool conn_view_is(const json_t *conn, const char *id)
{
	const char *have = source_string(conn, "id", NULL);
	unsigned long long a, b;

	if (!have)
		return false;
	if (source_conn_id(have, &a) && source_conn_id(id, &b))
		return a == b;
	return strcasecmp(have, id) == 0;
}

const json_t *conn_view_find(const json_t *snap, const char *id)
{
	const json_t *conns = json_object_get(snap, "connections"), *c;
	size_t i;

	json_array_foreach(conns, i, c)
		if (conn_view_is(c, id))
			return c;
	return NULL;
}

const char *conn_view_target(const json_t *conn, char *buf, size_t cap)
{
	const char *path = source_string(conn, "path", NULL);
	const char *query = source_string(conn, "query", NULL);

	if (!path)
		snprintf(buf, cap, "-");
	else if (query && *query)
		snprintf(buf, cap, "%s?%s", path, query);
	else
		snprintf(buf, cap, "%s", path);
	return buf;
}

const char *conn_view_state(const json_t *conn, char *buf, size_t cap)
{
	const char *state = source_string(conn, "state", "?");
	const json_t *status = json_object_get(conn, "status");

	if (!strcmp(state, "rejected") && json_is_integer(status))
		snprintf(buf, cap, "%s %lld", state,
			 (long long)json_integer_value(status));
	else
		snprintf(buf, cap, "%s", state);
	return buf;
}

static long long close_code(const json_t *close)
{
	const json_t *code = json_object_get(close, "code");

	return json_is_integer(code) ? json_integer_value(code) : -1;
}

enum paint conn_view_state_paint(const json_t *conn)
{
	const char *state = source_string(conn, "state", "");

	if (!strcmp(state, "open"))
		return PAINT_GREEN;
	if (!strcmp(state, "connecting") || !strcmp(state, "closing"))
		return PAINT_YELLOW;
	if (!strcmp(state, "rejected") ||
	    json_is_string(json_object_get(conn, "error")) ||
	    close_code(json_object_get(conn, "close")) == 1006)
		return PAINT_RED;
	return PAINT_GREY;
}

const char *conn_view_close(const json_t *close, char *buf, size_t cap)
{
	long long code = close_code(close);
	const char *reason = source_string(close, "reason", "");
	const char *by = source_string(close, "by", NULL);
	size_t n = 0;

	buf[0] = '\0';
	if (!json_is_object(close))
		return buf;
	if (code >= 0)
		n += (size_t)snprintf(buf, cap, "%lld", code);
	else
		n += (size_t)snprintf(buf, cap, "(no code)");
	if (*reason && n < cap)
		n += (size_t)snprintf(buf + n, cap - n, " \"%s\"", reason);
	if (by && n < cap)
		snprintf(buf + n, cap - n, " (%s)", by);
	return buf;
}

enum paint conn_view_close_paint(const json_t *close)
{
	long long code = close_code(close);

	return code >= 1002 && code <= 1015 && code != 1005 ? PAINT_RED
							    : PAINT_NONE;
}

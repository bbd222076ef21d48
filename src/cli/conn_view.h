/*
 * conn_view.h - one connection of a snapshot (a JSON object of schema
 * version 1) as short human strings, for `conns` and `msgs`.
 */
#ifndef WSDBG_CLI_CONN_VIEW_H
#define WSDBG_CLI_CONN_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "format.h"
#include "paint.h"

/* Whether conn's "id" is id. Ids compare as the stats server reads them,
 * as hex numbers ("0A" is "a"); anything else compares as text. */
bool conn_view_is(const json_t *conn, const char *id);

/* The connection of snap whose id is id (conn_view_is), or NULL. */
const json_t *conn_view_find(const json_t *snap, const char *id);

/* "/path?query", or "-" when no request line was seen. Returns buf. */
const char *conn_view_target(const json_t *conn, char *buf, size_t cap);

/* "open", "closed", "rejected 403"... Returns buf. */
const char *conn_view_state(const json_t *conn, char *buf, size_t cap);

/* The colour of the state's dot: open green, connecting and closing
 * yellow, closed grey (red when abnormal: 1006 or an error), rejected
 * red. */
enum paint conn_view_state_paint(const json_t *conn);

/* The close object as `4001 "done here" (client)`, "" when null.
 * Returns buf. */
const char *conn_view_close(const json_t *close, char *buf, size_t cap);

/* Red for codes that report trouble (1002-1015 but 1005), else none. */
enum paint conn_view_close_paint(const json_t *close);

#endif

/*
 * clean.h - making a snapshot safe to print on a terminal.
 *
 * A snapshot holds what peers sent (paths, headers, close reasons,
 * message text), and a --from file may hold anything. Printed as they
 * are, control characters in those strings would reach the user's
 * terminal as commands (colours, cursor moves, a carriage return that
 * overwrites a row, a window title). The human views render a cleaned
 * snapshot; --json and dump print the data unchanged, since JSON escapes
 * control characters itself.
 */
#ifndef WSDBG_CLI_CLEAN_H
#define WSDBG_CLI_CLEAN_H

#include <jansson.h>

/*
 * Cleans snap in place for a human view: in every string and object key,
 * C0 and C1 control characters and DEL become visible escapes ("\n",
 * "\r", "\t", "\u001b"), except line feeds and tabs in a message's
 * "text" (shown in full by `show`; previews escape them themselves); and
 * entries of "connections" and of each connection's "messages" that are
 * not objects are dropped ("messages" itself when it is not an array).
 * Anything may be passed; only a snapshot object is reshaped.
 */
void clean_snapshot(json_t *snap);

#endif

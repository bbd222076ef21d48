/*
 * ws_close.h - WebSocket close status codes (RFC 6455 7.4 and the IANA
 * "WebSocket Close Code Number Registry").
 */
#ifndef WSDBG_WS_CLOSE_H
#define WSDBG_WS_CLOSE_H

#include <stdbool.h>

/* Close code of a connection that ended without a close frame (RFC 6455
 * 7.1.5). Never valid on the wire; the registry reports it. */
#define WS_CLOSE_ABNORMAL 1006

/* True if code may appear in a close frame: 1000-1003, 1007-1014 and
 * 3000-4999. 1004-1006, 1015, other 1xxx/2xxx and values outside
 * 1000-4999 are not (RFC 6455 7.4.1, 7.4.2). */
bool ws_close_code_is_valid(unsigned code);

/* Short English name of a registered code ("normal closure", "going away"),
 * "registered for libraries" for 3000-3999, "private use" for 4000-4999,
 * "reserved" or "invalid" otherwise. Never NULL. Static storage. */
const char *ws_close_code_name(unsigned code);

#endif

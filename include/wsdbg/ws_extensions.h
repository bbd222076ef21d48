/*
 * ws_extensions.h - the Sec-WebSocket-Extensions header, as far as decoding
 * needs it: whether permessage-deflate (RFC 7692) was agreed, and with which
 * parameters.
 */
#ifndef WSDBG_WS_EXTENSIONS_H
#define WSDBG_WS_EXTENSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parameters agreed for permessage-deflate (RFC 7692 7.1). */
struct ws_deflate_params {
	bool enabled;                    /* permessage-deflate was agreed */
	bool server_no_context_takeover; /* 7.1.1.1 */
	bool client_no_context_takeover; /* 7.1.1.2 */
	uint8_t server_max_window_bits;  /* 7.1.2.1: 8..15, 15 when absent */
	uint8_t client_max_window_bits;  /* 7.1.2.2: 8..15, 15 when absent */
};

enum ws_extensions_status {
	WS_EXTENSIONS_OK = 0,
	WS_EXTENSIONS_SYNTAX = -1,      /* not a valid extension list */
	WS_EXTENSIONS_BAD_PARAM = -2,   /* unknown, repeated or out-of-range
					   permessage-deflate parameter */
	WS_EXTENSIONS_DUPLICATE = -3,   /* permessage-deflate accepted twice */
};

/*
 * Reads the extensions a server accepted: value is the response's
 * Sec-WebSocket-Extensions (repeated headers joined with ", "), len bytes,
 * not necessarily NUL-terminated; NULL or empty means none. Fills *out
 * (enabled false when permessage-deflate is not among them). Other
 * extensions are skipped. Parameter values may be tokens or quoted strings.
 * On an error *out has enabled false.
 */
enum ws_extensions_status ws_deflate_params_parse(const char *value,
						  size_t len,
						  struct ws_deflate_params *out);

/* One-line description of status. Never NULL. Static storage. */
const char *ws_extensions_strerror(enum ws_extensions_status status);

#endif

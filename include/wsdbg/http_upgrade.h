/*
 * http_upgrade.h - incremental parser for the HTTP/1.1 side of a WebSocket
 * opening handshake (RFC 6455 4, RFC 9112), for both roles: the client's
 * upgrade request and the server's answer.
 *
 * Push API: feed bytes as they arrive, in pieces of any size. The parser
 * copies the header block into its own fixed buffer (no allocation) and
 * stops exactly after the blank line that ends it: the bytes after it are
 * left to the caller (they are the first WebSocket frames). Input that is
 * not an HTTP/1.x message start is refused from its first wrong byte, so a
 * caller can stop looking at a connection that is not HTTP almost at once
 * (TLS records, the HTTP/2 preface, SSH banners, binary protocols). Bare LF
 * line ends are accepted as well as CRLF; a request may be preceded by up
 * to HTTP_UPGRADE_MAX_LEADING_EMPTY empty lines (RFC 9112 2.2); a method
 * longer than HTTP_UPGRADE_MAX_METHOD is taken as "not HTTP".
 *
 * After HTTP_UPGRADE_DONE the results below are valid. Every slice is an
 * offset into p->buf and is NUL-terminated there; use http_upgrade_str().
 * Slices that do not apply to the role (method of a response...) are empty.
 * Header names are lower-cased; values have surrounding whitespace trimmed
 * and folded continuation lines (obs-fold) joined with spaces.
 *
 * Request targets: path is the target up to '?', query what follows it.
 * For an absolute-form target ("http://host/chat?x") path is the path part
 * ("/chat", or "/" when empty) and target is kept whole; authority-form and
 * asterisk-form targets ("host:443", "*") are their own path.
 */
#ifndef WSDBG_HTTP_UPGRADE_H
#define WSDBG_HTTP_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest header block accepted, request or status line included. */
#define HTTP_UPGRADE_MAX_BLOCK 16384
/* Header fields remembered; later ones are counted but not kept. */
#define HTTP_UPGRADE_MAX_HEADERS 64
/* Longest method accepted (the longest registered one has 17 chars). */
#define HTTP_UPGRADE_MAX_METHOD 20
/* Empty lines ignored before a request line (RFC 9112 2.2). */
#define HTTP_UPGRADE_MAX_LEADING_EMPTY 2
/* The block plus room for a NUL-terminated copy of the path: when a query
 * follows it, the path cannot be cut out of the target in place. */
#define HTTP_UPGRADE_BUF_SIZE (2 * HTTP_UPGRADE_MAX_BLOCK)

enum http_upgrade_role {
	HTTP_UPGRADE_REQUEST,  /* parse a client's request */
	HTTP_UPGRADE_RESPONSE, /* parse a server's response */
};

enum http_upgrade_status {
	HTTP_UPGRADE_NEED_MORE = 0,  /* all input taken; block not complete */
	HTTP_UPGRADE_DONE = 1,       /* header block complete and parsed */
	HTTP_UPGRADE_NOT_HTTP = -1,  /* not an HTTP/1.x request/status line */
	HTTP_UPGRADE_TOO_LARGE = -2, /* block over HTTP_UPGRADE_MAX_BLOCK */
	HTTP_UPGRADE_MALFORMED = -3, /* HTTP-like, but a line breaks syntax */
};

/* What the parsed message means for WebSocket (see http_upgrade_kind()). */
enum http_upgrade_kind {
	HTTP_UPGRADE_KIND_UNKNOWN = 0,  /* not parsed (yet) */
	HTTP_UPGRADE_KIND_WEBSOCKET_REQUEST, /* asks for Upgrade: websocket */
	HTTP_UPGRADE_KIND_PLAIN_REQUEST,     /* any other request */
	HTTP_UPGRADE_KIND_ACCEPTED,  /* 101 with Upgrade: websocket */
	HTTP_UPGRADE_KIND_REJECTED,  /* any other status (kept in p->status) */
	HTTP_UPGRADE_KIND_OTHER_PROTOCOL, /* 101 to something else (h2c...) */
};

/* Handshake rules a WebSocket request/response broke (bit set), found by
 * http_upgrade_problems(). A request or response may still be accepted by
 * lenient peers; these are for users to see. */
enum http_upgrade_problem {
	HTTP_UPGRADE_PROBLEM_NOT_GET = 1u << 0,        /* RFC 6455 4.1 (2) */
	HTTP_UPGRADE_PROBLEM_OLD_HTTP = 1u << 1,       /* HTTP/1.0 */
	HTTP_UPGRADE_PROBLEM_NO_CONNECTION_UPGRADE = 1u << 2, /* 4.1 (6) */
	HTTP_UPGRADE_PROBLEM_BAD_KEY = 1u << 3,        /* 4.1 (7): 16 bytes b64 */
	HTTP_UPGRADE_PROBLEM_BAD_VERSION = 1u << 4,    /* 4.1 (9): must be 13 */
	HTTP_UPGRADE_PROBLEM_NO_ACCEPT = 1u << 5,      /* 4.2.2 (5.4) */
	HTTP_UPGRADE_PROBLEM_NO_HOST = 1u << 6,        /* 4.1 (4) */
};

struct http_slice {
	uint16_t off; /* into buf */
	uint16_t len; /* bytes, not counting the NUL at buf[off + len] */
};

struct http_header {
	struct http_slice name;  /* lower-case */
	struct http_slice value; /* trimmed, unfolded */
};

struct http_upgrade {
	/* Parser state: private. */
	enum http_upgrade_role role;
	enum http_upgrade_status status_code_; /* sticky once not NEED_MORE */
	uint16_t len;         /* bytes of the block in buf */
	uint16_t line_start;  /* start of the line being received */
	uint8_t first_line_state;
	uint8_t first_line_pos;
	uint8_t leading_newlines;
	uint8_t fold_into;    /* what an obs-fold line would continue */

	/* The header block as received, rewritten in place while parsing. */
	char buf[HTTP_UPGRADE_BUF_SIZE];

	/* Results (valid after HTTP_UPGRADE_DONE). */
	int version_minor;             /* 0 or 1 for HTTP/1.0, HTTP/1.1 */
	struct http_slice method;      /* request: "GET" */
	struct http_slice target;      /* request: "/chat?room=1" */
	struct http_slice path;        /* request: "/chat" */
	struct http_slice query;       /* request: "room=1" (len 0 if none) */
	bool has_query;                /* request: target had a '?' */
	int status;                    /* response: 101 */
	struct http_slice reason;      /* response: "Switching Protocols" */
	struct http_header headers[HTTP_UPGRADE_MAX_HEADERS];
	uint16_t nheaders;             /* kept in headers[] */
	uint16_t headers_dropped;      /* beyond HTTP_UPGRADE_MAX_HEADERS */
};

/* Prepares p to parse a message of role. */
void http_upgrade_init(struct http_upgrade *p, enum http_upgrade_role role);

/*
 * Takes bytes of data up to the end of the header block. *consumed gets how
 * many were taken: all of len on NEED_MORE; up to and including the blank
 * line on DONE (data[*consumed..len) belong to the caller); on an error,
 * the bytes examined up to the offending one: on NOT_HTTP and TOO_LARGE
 * data[*consumed] is the first byte refused, on MALFORMED the offending
 * line is consumed up to its LF. Once DONE or an error is returned, later
 * calls return the same and consume nothing.
 * Never reads outside data[0..len); data may be NULL when len is 0.
 */
enum http_upgrade_status http_upgrade_feed(struct http_upgrade *p,
					   const char *data, size_t len,
					   size_t *consumed);

/* One-line description of a status ("not a handshake: not HTTP/1.x",...).
 * Never NULL. Static storage. */
const char *http_upgrade_strerror(enum http_upgrade_status status);

/* The NUL-terminated text of slice s of p. */
static inline const char *http_upgrade_str(const struct http_upgrade *p,
					   struct http_slice s)
{
	return p->buf + s.off;
}

/* First header named lname (lower-case), or NULL. */
const struct http_header *http_upgrade_header(const struct http_upgrade *p,
					      const char *lname);

/* All values of header lname joined with ", " (RFC 9110 5.3) into out
 * (cap bytes, always NUL-terminated when cap > 0). Returns the length the
 * join needs, not counting the NUL (so > cap - 1 means truncated), or 0
 * when there is no such header. */
size_t http_upgrade_join(const struct http_upgrade *p, const char *lname,
			 char *out, size_t cap);

/* True if a comma-separated token list in any header lname contains token,
 * compared case-insensitively ("Connection: keep-alive, Upgrade"). */
bool http_upgrade_has_token(const struct http_upgrade *p, const char *lname,
			    const char *token);

/* What the parsed message is for WebSocket; UNKNOWN before DONE. */
enum http_upgrade_kind http_upgrade_kind(const struct http_upgrade *p);

/* Bit set of enum http_upgrade_problem for a WebSocket request or an
 * accepted response; 0 for other kinds. */
unsigned http_upgrade_problems(const struct http_upgrade *p);

/* Whether header name lname (any letter case) carries credentials and
 * must be shown redacted: cookie, set-cookie, authorization,
 * proxy-authorization, and the common token headers x-api-key,
 * x-auth-token, x-access-token, x-csrf-token, x-xsrf-token. */
bool http_header_is_secret(const char *lname);

/* Whether a query parameter named name[0..n) (any letter case, as sent:
 * not percent-decoded) usually carries a credential: any name ending in
 * "token" (access_token, id_token...), and auth, api_key, apikey, key,
 * password, secret, client_secret, jwt, session, sid, sig, signature,
 * ticket and the like. */
bool http_query_param_is_secret(const char *name, size_t n);

/* Writes query q[0..n) to out with the value of every secret parameter
 * (http_query_param_is_secret; an empty value stays empty) replaced by
 * mask; everything else, separators included, as it was. Returns the
 * length written (no NUL added). With out NULL, only returns the length,
 * so a caller can size out first. */
size_t http_query_redact(const char *q, size_t n, const char *mask,
			 char *out);

#endif

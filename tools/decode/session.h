/*
 * session.h - one recorded TCP connection, decoded with the core exactly as
 * the shim will decode it inside a server process.
 *
 * Each direction first goes through an HTTP upgrade parser (the request
 * c2s, the response s2c). Once the response accepts the upgrade, the bytes
 * after each header block go to one ws_decoder per direction, configured
 * from the response's Sec-WebSocket-Extensions. Client frames that arrive
 * before the response is complete wait in a small buffer (their inflate
 * settings depend on it). A connection whose handshake is not WebSocket,
 * is rejected or cannot be parsed is marked and its later bytes ignored.
 *
 * Messages are copied out of the decoder (the kept prefix only), so the
 * session holds everything a renderer needs once the trace has been read.
 * "Received" and "sent" are from the server's point of view: c2s messages
 * are received, s2c ones sent.
 */
#ifndef WSDBG_TOOLS_SESSION_H
#define WSDBG_TOOLS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsdbg/http_upgrade.h"
#include "wsdbg/ws_decoder.h"
#include "wsdbg/ws_extensions.h"
#include "wstrace.h"

/* Unanswered pings remembered per connection for RTT matching. */
#define SESSION_MAX_PINGS 16
/* Client bytes held while the server's response is incomplete. */
#define SESSION_MAX_PENDING (1u << 20)

struct session_options {
	size_t keep_text;   /* bytes kept of each text message */
	size_t keep_binary; /* bytes kept of each binary message (0: none) */
};

enum session_state {
	SESSION_CONNECTING = 0, /* handshake not complete yet */
	SESSION_OPEN,           /* 101 seen */
	SESSION_CLOSING,        /* one close frame seen */
	SESSION_CLOSED,         /* close frames seen both ways */
	SESSION_REJECTED,       /* answered with another status */
	SESSION_SKIPPED,        /* not WebSocket, or unreadable handshake */
};

struct session_message {
	unsigned long seq;        /* 1, 2, ... within the connection */
	double t;                 /* trace time of the chunk completing it */
	enum wstrace_dir dir;
	uint8_t opcode;           /* WS_OPCODE_* */
	bool compressed;
	bool inflated;
	bool truncated;
	bool utf8_valid;
	uint32_t frames;
	uint64_t size;            /* payload, after reassembly and inflate */
	uint64_t wire_size;
	uint8_t *data;            /* owned copy of the kept prefix (or NULL) */
	size_t kept;
	int close_code;           /* close only: -1 when the frame has none */
	size_t close_reason_off;  /* close only: reason within data */
	size_t close_reason_len;
	double rtt_ms;            /* pong answering an earlier ping; else -1 */
};

struct session_totals {
	uint64_t messages;        /* all messages, control frames included */
	uint64_t bytes;           /* sum of their sizes */
	uint64_t frames;          /* frame headers seen */
};

struct session_ping {
	enum wstrace_dir dir;
	double t;
	uint8_t payload[WS_CONTROL_MAX_PAYLOAD];
	size_t len;
};

struct session {
	char id[WSTRACE_MAX_CONN_ID + 1];
	struct session_options opt;
	double opened_at;          /* trace time of the first chunk */
	double last_at;            /* trace time of the last chunk */
	enum session_state state;
	char skip_reason[160];     /* SESSION_SKIPPED: why */

	/* [WSTRACE_C2S] parses the request, [WSTRACE_S2C] the response. */
	struct http_upgrade *hs[2];
	bool hs_done[2];

	enum ws_extensions_status ext_status;
	struct ws_deflate_params deflate;

	bool started;              /* dec[] initialised (the 101 was seen) */
	struct ws_decoder dec[2];
	bool decoding[2];          /* decoder configured and not stopped */
	enum ws_error error[2];    /* why a direction stopped, or WS_OK */
	double error_at[2];
	bool stalled[2];           /* the decoder stopped making progress */
	uint64_t ignored_bytes;    /* bytes seen after decoding stopped */

	uint8_t *pending;          /* c2s frames awaiting the response */
	size_t pending_len;

	struct session_message *msgs;
	size_t nmsgs;
	size_t msgs_cap;
	struct session_totals totals[2];

	int close_dir;             /* direction of the first close, or -1 */
	double closed_at;          /* trace time of the second close */

	struct session_ping pings[SESSION_MAX_PINGS];
	size_t npings;
	unsigned long rtt_samples;
	double rtt_last, rtt_min, rtt_max, rtt_sum;
};

/* Allocates a session for connection id first seen at time t. Exits the
 * program when memory is short (this is a command-line tool). */
struct session *session_new(const char *id, double t,
			    const struct session_options *opt);

/* Hands one recorded chunk to the session. */
void session_feed(struct session *s, const struct wstrace_record *rec);

/* Ends the trace for s: flushes a decoder that holds a completed
 * zero-length frame. */
void session_finish(struct session *s);

void session_free(struct session *s);

/* "connecting", "open", "closing", "closed", "rejected", "skipped". */
const char *session_state_name(enum session_state state);

/* The first error of the two directions, or WS_OK; *dir gets its side. */
enum ws_error session_error(const struct session *s, enum wstrace_dir *dir);

#endif

/*
 * capture.h - one socket's traffic, as the bytes that really moved in each
 * direction, turned into registry entries.
 *
 * The shim keeps one struct capture_stream per socket and hands it the
 * bytes of every I/O call; this module decides what they are:
 *
 *   SNIFF      nothing seen yet. The first bytes decide the role: a request
 *              this process received makes it the server, one it sent the
 *              client. Bytes that cannot start an HTTP request end it here.
 *   HANDSHAKE  the upgrade request, then the answer, through http_upgrade;
 *              frames the client sends before the answer is complete wait
 *              in a small buffer (their compression is not known yet).
 *   FRAMES     101 accepted: one ws_decoder per direction, set up from the
 *              agreed extensions; messages go to the registry.
 *   IGNORED    not (or no longer) a WebSocket: every later call returns at
 *              once. A plain HTTP request, a rejected upgrade, a protocol
 *              error in both directions, or memory running short end here.
 *
 * Pure: no sockets, no clocks, no globals. The caller serialises calls on
 * one stream (the shim does so per socket); different streams are
 * independent. Never fails the caller: trouble is recorded and the stream
 * goes quiet. The work of one call is bounded by what it moved: decoding
 * is linear in its bytes, and its compressed messages inflate at most
 * max_inflate + 32 bytes per byte (ws_decoder.h, WSDBG_MAX_INFLATE). The
 * call that completes a handshake decodes, besides, the client frames
 * held back before it (at most CAPTURE_PENDING_MAX bytes, the same bound
 * for them).
 */
#ifndef WSDBG_CAPTURE_H
#define WSDBG_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "wsdbg/registry.h"
#include "wsdbg/ws_decoder.h"

struct http_upgrade;

enum capture_phase {
	CAPTURE_SNIFF = 0,
	CAPTURE_HANDSHAKE,
	CAPTURE_FRAMES,
	CAPTURE_IGNORED,
};

/* What a stream needs from its surroundings. */
struct capture_context {
	struct registry *registry;
	/* Writes fd's local and peer addresses as text ("127.0.0.1:8080");
	 * called once, when an upgrade request is seen. May be NULL. */
	void (*addresses)(int fd, char *local, size_t local_len, char *peer,
			  size_t peer_len);
};

/* Client bytes held back until the upgrade's answer is complete. */
#define CAPTURE_PENDING_MAX 65536

struct capture_stream {
	/* What every call in FRAMES reads comes first, together, so that it
	 * costs one cache line or two. */
	enum capture_phase phase;
	enum registry_role role;
	int fd;
	bool pending_lost;             /* more than CAPTURE_PENDING_MAX came */
	uint64_t id;                   /* registry id; 0 when untracked */
	/* FRAMES: ws_decoder_memory() of each, as last reported. */
	size_t sent_memory, received_memory;
	struct http_upgrade *request;  /* during HANDSHAKE */
	struct http_upgrade *response; /* during HANDSHAKE */
	uint8_t *pending;              /* client bytes before the answer */
	size_t pending_len;
	struct ws_decoder sent;        /* FRAMES: what this process wrote */
	struct ws_decoder received;    /* FRAMES: what it read */
};

/* A stream for socket fd, in SNIFF. Allocates nothing. */
void capture_init(struct capture_stream *s, int fd);

/* True once the stream will never look at bytes again: the shim's fast
 * path. */
static inline bool capture_ignored(const struct capture_stream *s)
{
	return s->phase == CAPTURE_IGNORED;
}

/* The len bytes an I/O call moved in direction dir at time now. buf is
 * only read. */
void capture_feed(struct capture_stream *s, const struct capture_context *ctx,
		  enum registry_dir dir, const uint8_t *buf, size_t len,
		  double now);

/* The same for one vectored call (readv, writev, recvmsg, sendmsg...):
 * the len bytes it moved, spread over iov[0..iovcnt) in order (the last
 * pieces may be longer than what moved, or empty). Frames in all of them
 * are recorded under one registry lock acquisition. */
void capture_feed_iov(struct capture_stream *s,
		      const struct capture_context *ctx, enum registry_dir dir,
		      const struct iovec *iov, size_t iovcnt, size_t len,
		      double now);

/* Bytes in direction dir moved unseen (MSG_TRUNC, sendfile, splice...):
 * that direction's decoding stops with a gap error. */
void capture_gap(struct capture_stream *s, const struct capture_context *ctx,
		 enum registry_dir dir);

/* The socket is gone (closed, or the fd reused): records the end and frees
 * everything the stream holds. The stream is back in SNIFF. */
void capture_close(struct capture_stream *s, const struct capture_context *ctx,
		   double now);

/* Frees what the stream holds without recording anything (fork child). */
void capture_discard(struct capture_stream *s);

#endif

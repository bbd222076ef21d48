/*
 * fuzz_capture_snapshot.c - libFuzzer target for the registry-facing path:
 * bytes in, as the shim feeds them (capture.h), snapshot JSON out.
 *
 * Four sockets (fds 10-13) share one registry. Input layout:
 *   byte 0   configuration: bit 0 WSDBG_CAPTURE=metadata, bit 1
 *            WSDBG_SHOW_BINARY, bit 2 WSDBG_INFLATE=0, bit 3 tiny limits
 *            (3 connections, 4 messages, 16 text bytes, 8 preview bytes,
 *            160 bytes of memory, 96 per connection, ttl 2 s: the memory
 *            caps drop stored data within a few messages; 24 bytes
 *            inflated per message: compressed ones are capped)
 *   then operations, each one byte: bits 0-1 the socket, bit 2 the
 *   direction (0 sent, 1 received), bits 3-5 what:
 *     0-3  feed: a length byte L (255: two more bytes, little-endian),
 *          then L bytes (fewer at the end of the input), fed in one call
 *          from a heap block of exactly that size
 *     4    gap (bytes moved unseen: sendfile, MSG_TRUNC)
 *     5    close (the socket is gone; the stream starts over in SNIFF)
 *     6    snapshot: an option byte (bit 0 with messages, bits 1-3
 *          conn_id, bits 4-7 after_seq)
 *     7    time passes: a byte of seconds, then registry_expire
 *   Time advances a millisecond per operation.
 * At the end every socket is closed and a full snapshot taken.
 *
 * Every snapshot must be one strict JSON document (tests/support's
 * checker: RFC 8259, well-formed UTF-8, no duplicate keys), valid UTF-8
 * as a whole, with "wsdbg": 1, and the length it reports. The registry's
 * stored data must stay under max_memory. Besides, no crash, leak or
 * undefined behaviour (ASan, UBSan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"
#include "wsdbg/capture.h"
#include "wsdbg/registry.h"
#include "wsdbg/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n",      \
				#cond, __FILE__, __LINE__);                    \
			abort();                                               \
		}                                                              \
	} while (0)

#define FUZZ_STREAMS  4
#define FUZZ_FIRST_FD 10

/* Addresses as the shim would write them; one socket gets a Unix path
 * with bytes that are not UTF-8 and need escaping, as a path may. */
static void fuzz_addresses(int fd, char *local, size_t local_len, char *peer,
			   size_t peer_len)
{
	if (fd == FUZZ_FIRST_FD + 3) {
		snprintf(local, local_len, "/run/app \"\xff\x01\".sock");
		peer[0] = '\0';
		return;
	}
	snprintf(local, local_len, "127.0.0.1:8080");
	snprintf(peer, peer_len, "127.0.0.1:%d", 40000 + fd);
}

static void fuzz_config(uint8_t flags, struct registry_config *cfg)
{
	registry_config_defaults(cfg);
	cfg->metadata_only = flags & 1;
	cfg->show_binary = flags & 2;
	cfg->inflate = !(flags & 4);
	if (flags & 8) {
		cfg->max_connections = 3;
		cfg->max_messages = 4;
		cfg->max_message_size = 16;
		cfg->binary_preview = 8;
		cfg->max_memory = 160;
		cfg->max_conn_memory = 96;
		cfg->ttl = 2;
		cfg->max_inflate = 24;
	}
}

/* Takes a snapshot and checks it. */
static void fuzz_snapshot(struct registry *r,
			  const struct registry_snapshot_options *opt)
{
	char err[256], value[32];
	size_t len = SIZE_MAX;
	char *json = registry_snapshot_json(r, opt, &len);

	FUZZ_CHECK(json != NULL); /* malloc does not fail here */
	FUZZ_CHECK(len == strlen(json));
	if (!json_check(json, len, err, sizeof(err))) {
		fprintf(stderr, "invalid JSON: %s\n%s\n", err, json);
		abort();
	}
	FUZZ_CHECK(utf8_is_valid((const uint8_t *)json, len));
	FUZZ_CHECK(json_check_get(json, "wsdbg", value, sizeof(value)) &&
		   strcmp(value, "1") == 0);
	free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registry_config cfg;
	struct capture_stream streams[FUZZ_STREAMS];
	struct registry *r;
	double now = 1764000000.0;
	size_t pos = 1;

	if (size < 1)
		return 0;
	fuzz_config(data[0], &cfg);
	r = registry_new(&cfg);
	FUZZ_CHECK(r != NULL);
	struct capture_context ctx = {.registry = r,
				      .addresses = fuzz_addresses};
	for (int i = 0; i < FUZZ_STREAMS; i++)
		capture_init(&streams[i], FUZZ_FIRST_FD + i);

	while (pos < size) {
		uint8_t op = data[pos++];
		struct capture_stream *s = &streams[op & 3];
		enum registry_dir dir =
		    op & 4 ? REGISTRY_RECEIVED : REGISTRY_SENT;
		unsigned what = (op >> 3) & 7;

		now += 0.001;
		if (what < 4) {
			size_t n = pos < size ? data[pos++] : 0;
			if (n == 255 && pos + 2 <= size) {
				n = (size_t)data[pos] | (size_t)data[pos + 1]
							    << 8;
				pos += 2;
			}
			if (n > size - pos)
				n = size - pos;
			if (n == 0)
				continue;
			uint8_t *piece = malloc(n);
			FUZZ_CHECK(piece != NULL);
			memcpy(piece, data + pos, n);
			pos += n;
			capture_feed(s, &ctx, dir, piece, n, now);
			free(piece);
		} else if (what == 4) {
			capture_gap(s, &ctx, dir);
		} else if (what == 5) {
			capture_close(s, &ctx, now);
		} else if (what == 6) {
			uint8_t o = pos < size ? data[pos++] : 0;
			struct registry_snapshot_options opt = {
			    .pid = 4242,
			    .process = "fuzz",
			    .taken_at = now,
			    .messages = o & 1,
			    .conn_id = (o >> 1) & 7,
			    .after_seq = o >> 4,
			};
			fuzz_snapshot(r, &opt);
		} else {
			now += pos < size ? data[pos++] : 0;
			registry_expire(r, now);
		}
		FUZZ_CHECK(registry_memory_used(r) <= cfg.max_memory);
	}

	for (int i = 0; i < FUZZ_STREAMS; i++)
		capture_close(&streams[i], &ctx, now);
	struct registry_snapshot_options all = {
	    .pid = 4242, .process = "fuzz", .taken_at = now, .messages = true};
	fuzz_snapshot(r, &all);
	registry_free(r);
	return 0;
}

/*
 * fuzz_ws_decoder.c - libFuzzer target for ws_decoder_feed().
 *
 * Input layout:
 *   byte 0   flags: bit 0 from_client, bit 1 deflate, bit 2
 *            no_context_takeover, bit 3 inflate off, bits 4-6 window bits
 *            (8 + value), bit 7 borrow_masked
 *   byte 1   keep_text   (see fuzz_keep)
 *   byte 2   keep_binary
 *   byte 3-4 seed of the cuts: the rest is fed in pieces of random size,
 *            each copied to a heap block of exactly its size so that any
 *            read past a piece is caught by AddressSanitizer; its top
 *            bit also sets defer_utf8, and byte 3 max_inflate (see
 *            fuzz_max_inflate)
 *   byte 5.. the bytes of one direction of a connection
 *
 * Besides "no crash, no leak, no undefined behaviour" it checks the
 * contract of ws_decoder.h and aborts when one is broken: consumed <= len;
 * NEED_MORE consumes everything; every call makes progress or reports
 * something (at least 2 bytes per message, so the calls are bounded);
 * message fields agree with each other and with the keep limits and the
 * inflate cap (a capped message stops at max_inflate exactly; after one,
 * with context takeover, nothing is inflated again); after an error the
 * decoder says why and swallows all later input. And it is
 * differential: the same bytes given whole, in one buffer (where messages
 * that are one frame take the decoder's one-step path and unmasked ones,
 * or with borrow_masked masked ones, are handed out in place, with
 * defer_utf8 their text unjudged), must give exactly the messages, kept
 * bytes (unmasked), UTF-8 judgments and error that the pieces give.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsdbg/utf8.h"
#include "wsdbg/ws_close.h"
#include "wsdbg/ws_decoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n",    \
				#cond, __FILE__, __LINE__);                  \
			abort();                                             \
		}                                                            \
	} while (0)

/* None, a few bytes, some KiB, or everything. */
static size_t fuzz_keep(uint8_t b)
{
	switch (b & 3) {
	case 0: return 0;
	case 1: return 1 + (b >> 2);
	case 2: return (size_t)(b >> 2) * 1024;
	default: return SIZE_MAX;
	}
}

/* No cap, a few bytes, some KiB, or the default 1 MiB. */
static uint64_t fuzz_max_inflate(uint8_t b)
{
	switch (b & 3) {
	case 0: return 0;
	case 1: return 1 + (b >> 2);
	case 2: return (uint64_t)(b >> 2) * 257 + 1;
	default: return 1u << 20;
	}
}

/* xorshift32; the state is never zero. */
static uint32_t fuzz_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static size_t fuzz_piece(uint32_t *s, size_t left)
{
	uint32_t r = fuzz_rand(s);
	size_t n;
	switch (r & 3) {
	case 0: n = 1; break;
	case 1: n = 1 + (r >> 2) % 16; break;
	case 2: n = 1 + (r >> 2) % 512; break;
	default: n = left; break;
	}
	return n < left ? n : left;
}

/* m's kept bytes, unmasked (ws_message_copy), in a heap block of their
 * size, so that ASan checks every one of them is there. The copy's
 * judgment of the text must be the message's. */
static uint8_t *fuzz_kept(const struct ws_message *m)
{
	uint8_t *p = malloc(m->kept ? m->kept : 1);

	FUZZ_CHECK(p != NULL);
	FUZZ_CHECK(ws_message_copy(m, p, m->kept) ==
		   ws_message_utf8_valid(m));
	return p;
}

/* The contract of one reported message (ws_decoder.h, struct ws_message).
 * *lost: an earlier message was capped with context takeover. */
static void fuzz_check_message(const struct ws_decoder_config *cfg,
			       const struct ws_message *m, uint64_t consumed,
			       bool *lost)
{
	uint8_t *kept = fuzz_kept(m);

	/* Handed out masked: only what borrow_masked allows, a text or
	 * binary message of one masked, uncompressed frame. */
	if (m->masked)
		FUZZ_CHECK(cfg->borrow_masked && cfg->from_client &&
			   (m->opcode == WS_OPCODE_TEXT ||
			    m->opcode == WS_OPCODE_BINARY) &&
			   m->frames == 1 && !m->compressed);

	/* Left unjudged: only what defer_utf8 allows, a text of one
	 * uncompressed frame. */
	if (m->utf8_pending)
		FUZZ_CHECK(cfg->defer_utf8 && m->opcode == WS_OPCODE_TEXT &&
			   m->frames == 1 && !m->compressed);

	FUZZ_CHECK(m->kept <= m->size);
	FUZZ_CHECK(m->kept == 0 || m->data != NULL);
	FUZZ_CHECK(m->truncated == (m->kept < m->size || m->inflate_capped));
	FUZZ_CHECK(m->wire_size <= consumed); /* its payload has all arrived */
	FUZZ_CHECK(m->frames >= 1);
	FUZZ_CHECK(!m->inflated || m->compressed);
	FUZZ_CHECK(cfg->deflate || !m->compressed);
	FUZZ_CHECK(m->inflated == (m->compressed && cfg->inflate && !*lost));
	if (!m->compressed || !m->inflated)
		FUZZ_CHECK(m->size == m->wire_size);
	/* Without a budget per input the cap falls at max_inflate
	 * exactly, and only past it. */
	if (m->inflate_capped)
		FUZZ_CHECK(m->inflated && m->size == cfg->max_inflate);
	else if (m->inflated && cfg->max_inflate)
		FUZZ_CHECK(m->size <= cfg->max_inflate);
	if (m->inflate_capped && !cfg->no_context_takeover)
		*lost = true;

	switch (m->opcode) {
	case WS_OPCODE_TEXT:
	case WS_OPCODE_BINARY: {
		size_t limit = m->opcode == WS_OPCODE_TEXT ? cfg->keep_text
							   : cfg->keep_binary;
		FUZZ_CHECK(m->kept <= limit);
		FUZZ_CHECK(m->close_code == -1);
		if (m->compressed && !m->inflated)
			FUZZ_CHECK(m->kept == 0);
		/* The incremental validator agrees with the one-shot one. */
		if (m->opcode == WS_OPCODE_TEXT && !m->truncated &&
		    (!m->compressed || m->inflated))
			FUZZ_CHECK(ws_message_utf8_valid(m) ==
				   (m->kept == 0 ||
				    utf8_is_valid(kept, m->kept)));
		if (m->opcode == WS_OPCODE_BINARY)
			FUZZ_CHECK(m->utf8_valid);
		break;
	}
	case WS_OPCODE_CLOSE:
	case WS_OPCODE_PING:
	case WS_OPCODE_PONG:
		/* RFC 6455 5.5: whole, unfragmented, uncompressed, short. */
		FUZZ_CHECK(m->frames == 1);
		FUZZ_CHECK(!m->compressed);
		FUZZ_CHECK(m->size <= WS_CONTROL_MAX_PAYLOAD);
		FUZZ_CHECK(m->kept == m->size);
		if (m->opcode != WS_OPCODE_CLOSE) {
			FUZZ_CHECK(m->close_code == -1 && m->utf8_valid);
			break;
		}
		if (m->size < 2) {
			FUZZ_CHECK(m->close_code == -1 && !m->close_code_valid);
			FUZZ_CHECK(m->close_reason_len == 0);
			break;
		}
		FUZZ_CHECK(m->close_code == (m->data[0] << 8 | m->data[1]));
		FUZZ_CHECK(m->close_code_valid ==
			   ws_close_code_is_valid((unsigned)m->close_code));
		FUZZ_CHECK(m->close_reason == m->data + 2);
		FUZZ_CHECK(m->close_reason_len == m->size - 2);
		FUZZ_CHECK(m->utf8_valid ==
			   utf8_is_valid(m->close_reason, m->close_reason_len));
		break;
	default:
		FUZZ_CHECK(!"a message with a reserved or continuation opcode");
	}
	free(kept);
}

/* Everything a message reports, kept bytes included, as one number. */
static uint64_t fuzz_digest(const struct ws_message *m)
{
	uint64_t fields[] = {
		m->opcode, m->compressed, m->inflated, m->truncated,
		m->inflate_capped,
		ws_message_utf8_valid(m), m->frames, m->size, m->wire_size,
		m->kept,
		(uint64_t)(int64_t)m->close_code, m->close_code_valid,
		m->close_reason_len,
	};
	uint64_t h = 0xcbf29ce484222325u;
	const uint8_t *f = (const uint8_t *)fields;

	for (size_t i = 0; i < sizeof(fields); i++)
		h = (h ^ f[i]) * 0x100000001b3u;
	uint8_t *kept = fuzz_kept(m);
	for (size_t i = 0; i < m->kept; i++)
		h = (h ^ kept[i]) * 0x100000001b3u;
	free(kept);
	return h;
}

/* The messages (as digests, at most len / 2: a frame is 2 bytes or more)
 * and the error of wire[0..len) decoded in a single call per message. */
static size_t fuzz_decode_whole(const struct ws_decoder_config *cfg,
				const uint8_t *wire, size_t len,
				uint64_t *digests, enum ws_error *error)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct ws_decoder d;
	size_t n = 0;

	FUZZ_CHECK(copy != NULL);
	memcpy(copy, wire, len);
	ws_decoder_init(&d, cfg);
	for (size_t off = 0; off < len;) {
		struct ws_message m;
		size_t used = 0;
		enum ws_decode_status st =
			ws_decoder_feed(&d, copy + off, len - off, &used, &m);
		off += used;
		if (st != WS_DECODE_MESSAGE)
			break;
		FUZZ_CHECK(n < len / 2 + 1);
		digests[n++] = fuzz_digest(&m);
	}
	*error = ws_decoder_error(&d);
	ws_decoder_free(&d);
	free(copy);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5)
		return 0;
	struct ws_decoder_config cfg = {
		.from_client = data[0] & 1,
		.deflate = data[0] & 2,
		.no_context_takeover = data[0] & 4,
		.inflate = !(data[0] & 8),
		.window_bits = (uint8_t)(8 + ((data[0] >> 4) & 7)),
		.borrow_masked = data[0] & 0x80,
		.keep_text = fuzz_keep(data[1]),
		.keep_binary = fuzz_keep(data[2]),
		.max_inflate = fuzz_max_inflate(data[3]),
		.defer_utf8 = data[4] & 0x80,
	};
	uint32_t seed = (uint32_t)(data[3] | data[4] << 8) | 0x10000u;
	const uint8_t *wire = data + 5;
	size_t len = size - 5;

	uint64_t *whole = malloc((len / 2 + 1) * sizeof(*whole));
	enum ws_error whole_error;
	FUZZ_CHECK(whole != NULL);
	size_t whole_messages =
		fuzz_decode_whole(&cfg, wire, len, whole, &whole_error);

	struct ws_decoder d;
	ws_decoder_init(&d, &cfg);
	uint64_t consumed = 0, messages = 0, calls = 0, pieces = 0;
	bool lost = false;
	for (size_t pos = 0; pos < len && ws_decoder_error(&d) == WS_OK;) {
		size_t n = fuzz_piece(&seed, len - pos);
		uint8_t *piece = malloc(n);
		FUZZ_CHECK(piece != NULL);
		memcpy(piece, wire + pos, n);
		pieces++;
		for (size_t off = 0;;) {
			struct ws_message m;
			size_t used = SIZE_MAX;
			enum ws_decode_status st = ws_decoder_feed(
				&d, piece + off, n - off, &used, &m);
			/* One call per message, per piece and per error. */
			FUZZ_CHECK(++calls <= messages + pieces + 1);
			FUZZ_CHECK(used <= n - off);
			off += used;
			consumed += used;
			if (st == WS_DECODE_NEED_MORE) {
				FUZZ_CHECK(off == n);
				FUZZ_CHECK(ws_decoder_error(&d) == WS_OK);
				break;
			}
			if (st == WS_DECODE_ERROR) {
				enum ws_error err = ws_decoder_error(&d);
				FUZZ_CHECK(err != WS_OK && err < WS_ERR_COUNT_);
				FUZZ_CHECK(ws_strerror(err) != NULL);
				FUZZ_CHECK(ws_error_name(err) != NULL);
				/* Stopped: later input is swallowed whole. */
				st = ws_decoder_feed(&d, piece + off, n - off,
						     &used, &m);
				FUZZ_CHECK(st == WS_DECODE_ERROR);
				FUZZ_CHECK(used == n - off);
				break;
			}
			FUZZ_CHECK(st == WS_DECODE_MESSAGE);
			FUZZ_CHECK(ws_decoder_error(&d) == WS_OK);
			/* Whole or in pieces, the same message. */
			FUZZ_CHECK(messages < whole_messages);
			FUZZ_CHECK(fuzz_digest(&m) == whole[messages]);
			messages++;
			/* A frame is at least 2 bytes: none from nothing. */
			FUZZ_CHECK(2 * messages <= consumed);
			fuzz_check_message(&cfg, &m, consumed, &lost);
		}
		free(piece);
		pos += n;
	}
	FUZZ_CHECK(messages == whole_messages);
	FUZZ_CHECK(ws_decoder_error(&d) == whole_error);
	ws_decoder_free(&d);
	free(whole);
	return 0;
}

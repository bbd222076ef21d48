/*
 * decode_bench.c - wsdbg-bench-decode: how fast the decoding core decodes.
 *
 *   wsdbg-bench-decode [--quick]
 *
 * Each workload is encoded once at setup by the small RFC 6455 encoder
 * below (independent of the decoder: it shares no code with src/core), then
 * decoded by a fresh ws_decoder in passes, fed in 16 KiB slices as a shim
 * would see reads. A repetition runs enough passes to last about rep_ns
 * (100 ms; 15 ms with --quick); the table shows the median and the best
 * of the repetitions (7; 3 with --quick). Every message's size flows into
 * a volatile sink, and every pass is checked to give the expected number
 * of messages, so nothing is optimised away or silently wrong.
 *
 * The decoder is configured as the shim will be by default: 10240 bytes of
 * text kept, no binary kept, UTF-8 validated, inflate on.
 *
 * Bounded: each repetition is timed, not counted, so a run takes about
 * rows x reps x rep_ns: some 20-25 s by default, 3 s with --quick.
 */
#define _GNU_SOURCE
#define ZLIB_CONST
#include <zlib.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "wsdbg/http_upgrade.h"
#include "wsdbg/ws_decoder.h"
#include "wsdbg/ws_frame.h"

#ifndef WSDBG_VERSION
#define WSDBG_VERSION "?"
#endif
#ifndef WSDBG_BUILDTYPE
#define WSDBG_BUILDTYPE "?"
#endif

#define FEED_SLICE 16384     /* bytes handed to the decoder per call */
#define SMALL_WIRE (1 << 20) /* wire bytes of a small-frame workload */
#define LARGE_FRAME 65536
#define LARGE_COUNT 64       /* 4 MiB of payload */
#define MAX_REPS 15

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

static volatile uint64_t sink; /* keeps results observable */

struct bench_settings {
	unsigned reps;   /* repetitions per row */
	uint64_t rep_ns; /* target duration of one repetition */
};

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fputs("wsdbg-bench-decode: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- encoder (RFC 6455 5.2), independent of the decoder ------------------ */

/* Writes one frame; out must hold len + 14 bytes. Returns bytes written. */
static size_t encode_frame(uint8_t *out, bool fin, bool rsv1, unsigned opcode,
			   bool masked, const uint8_t *payload, size_t len)
{
	size_t n = 0;
	uint8_t mask_bit = masked ? 0x80 : 0;

	out[n++] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode);
	if (len < 126) {
		out[n++] = (uint8_t)(mask_bit | len);
	} else if (len <= 0xffff) {
		out[n++] = mask_bit | 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = mask_bit | 127;
		for (int shift = 56; shift >= 0; shift -= 8)
			out[n++] = (uint8_t)((uint64_t)len >> shift);
	}
	if (masked) {
		memcpy(out + n, mask_key, 4);
		n += 4;
		for (size_t i = 0; i < len; i++)
			out[n + i] = payload[i] ^ mask_key[i & 3];
	} else {
		memcpy(out + n, payload, len);
	}
	return n + len;
}

/* ---- payloads ----------------------------------------------------------- */

static uint32_t rng_state = 2463534242u;

static uint32_t rng_next(void) /* xorshift32: repeatable content */
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* Replaces a UTF-8 sequence cut at the end of p[0..len) with spaces. */
static void fix_utf8_tail(uint8_t *p, size_t len)
{
	size_t start = len, need;

	while (start > 0 && len - start < 4 && (p[start - 1] & 0xc0) == 0x80)
		start--;
	if (start == 0 || p[start - 1] < 0xc0)
		return;
	start--;
	need = p[start] >= 0xf0 ? 4 : p[start] >= 0xe0 ? 3 : 2;
	if (len - start < need)
		memset(p + start, ' ', len - start);
}

enum payload_kind {
	PAYLOAD_JSON,       /* chat JSON, mostly ASCII with some UTF-8 */
	PAYLOAD_JSON_ASCII, /* the same words, ASCII only */
	PAYLOAD_JSON_SCRIPT, /* chat JSON whose words are Cyrillic or CJK */
	PAYLOAD_BINARY,     /* random bytes */
};

/* Chat-like JSON text, exactly len bytes of valid UTF-8. PAYLOAD_JSON: a
 * third of the words have accents, CJK or emoji, as chat can have;
 * PAYLOAD_JSON_ASCII: none; PAYLOAD_JSON_SCRIPT: every word is Russian,
 * Chinese or Japanese, as chat in those languages is. */
static void fill_json(uint8_t *p, size_t len, enum payload_kind kind)
{
	static const char *const latin[] = {
		"hello", "the", "build", "is", "green", "again", "ok",
		"websocket", "message", "latency", "server", "client",
		/* non-ASCII from here on */
		"déjà", "naïve", "café", "日本", "テスト", "🎉",
	};
	static const char *const script[] = {
		"привет", "сборка", "снова", "зелёная", "сообщение", "сервер",
		"клиент", "задержка", "服务器", "消息", "延迟", "テスト",
	};
	static const char *const users[] = {"alice", "bob", "zoe", "dave"};
	const char *const *words = kind == PAYLOAD_JSON_SCRIPT ? script : latin;
	const uint32_t nwords =
		kind == PAYLOAD_JSON_ASCII ? 12
		: kind == PAYLOAD_JSON_SCRIPT
			? sizeof(script) / sizeof(script[0])
			: sizeof(latin) / sizeof(latin[0]);
	size_t n = 0;

	while (n < len) {
		char rec[512];
		int w = snprintf(rec, sizeof(rec),
				 "{\"id\":%u,\"user\":\"%s\",\"text\":\"",
				 rng_next() % 100000, users[rng_next() % 4]);

		for (unsigned k = 3 + rng_next() % 10; k > 0; k--)
			w += snprintf(rec + w, sizeof(rec) - (size_t)w, "%s ",
				      words[rng_next() % nwords]);
		w += snprintf(rec + w, sizeof(rec) - (size_t)w, "\"},");
		for (int i = 0; i < w && n < len; i++)
			p[n++] = (uint8_t)rec[i];
	}
	fix_utf8_tail(p, len);
}

static void fill_payload(uint8_t *p, size_t len, enum payload_kind kind)
{
	if (kind != PAYLOAD_BINARY) {
		fill_json(p, len, kind);
		return;
	}
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rng_next();
}

static const char *payload_name(enum payload_kind kind)
{
	return kind == PAYLOAD_BINARY        ? "binary"
	       : kind == PAYLOAD_JSON        ? "text (mixed)"
	       : kind == PAYLOAD_JSON_SCRIPT ? "text (Cyr/CJK)"
					     : "text (ASCII)";
}

/* ---- workloads ---------------------------------------------------------- */

struct workload {
	uint8_t *wire;
	size_t wire_len;
	uint64_t messages;        /* messages in one pass */
	uint64_t payload_bytes;   /* their sizes after inflate */
	struct ws_decoder_config cfg;
};

static void workload_config(struct workload *w, bool from_client,
			    bool deflate)
{
	struct ws_deflate_params params = {
		.enabled = true,
		.server_max_window_bits = 15,
		.client_max_window_bits = 15,
	};

	w->cfg = (struct ws_decoder_config){
		.from_client = from_client,
		.keep_text = 10240,
		.keep_binary = 0,
		.inflate = true,
	};
	ws_decoder_config_set_deflate(&w->cfg, from_client,
				      deflate ? &params : NULL);
}

/* count frames of payload size each, one message per frame. */
static void make_frames(struct workload *w, enum payload_kind kind,
			bool masked, size_t size, size_t count)
{
	uint8_t *payload = xmalloc(size);
	bool text = kind != PAYLOAD_BINARY;

	w->wire = xmalloc(count * (size + 14));
	w->wire_len = 0;
	for (size_t i = 0; i < count; i++) {
		fill_payload(payload, size, kind);
		w->wire_len += encode_frame(w->wire + w->wire_len, true, false,
					    text ? WS_OPCODE_TEXT
						 : WS_OPCODE_BINARY,
					    masked, payload, size);
	}
	w->messages = count;
	w->payload_bytes = (uint64_t)count * size;
	workload_config(w, masked, false);
	free(payload);
}

/* count text messages of size bytes, compressed as a server with context
 * takeover sends them (RFC 7692 7.2.1: one stream, sync flush, the final
 * 00 00 ff ff removed). */
static void make_deflated(struct workload *w, bool masked, size_t size,
			  size_t count)
{
	uint8_t *payload = xmalloc(size);
	size_t cap = count * (size + size / 8 + 64);
	uint8_t *deflated = xmalloc(size + size / 8 + 64);
	z_stream z = {0};

	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		fputs("wsdbg-bench-decode: deflateInit2 failed\n", stderr);
		exit(1);
	}
	w->wire = xmalloc(cap);
	w->wire_len = 0;
	for (size_t i = 0; i < count; i++) {
		size_t out_len;

		fill_json(payload, size, false);
		z.next_in = payload;
		z.avail_in = (uInt)size;
		z.next_out = deflated;
		z.avail_out = (uInt)(size + size / 8 + 64);
		if (deflate(&z, Z_SYNC_FLUSH) != Z_OK || z.avail_in != 0 ||
		    z.avail_out == 0) {
			fputs("wsdbg-bench-decode: deflate failed\n", stderr);
			exit(1);
		}
		out_len = (size_t)(z.next_out - deflated) - 4;
		w->wire_len += encode_frame(w->wire + w->wire_len, true, true,
					    WS_OPCODE_TEXT, masked, deflated,
					    out_len);
	}
	deflateEnd(&z);
	w->messages = count;
	w->payload_bytes = (uint64_t)count * size;
	workload_config(w, masked, true);
	free(payload);
	free(deflated);
}

/* Decodes the workload once with a fresh decoder. Exits if it does not
 * give exactly the messages encoded. */
static void decode_pass(const struct workload *w)
{
	struct ws_decoder d;
	uint64_t messages = 0, total = 0;

	ws_decoder_init(&d, &w->cfg);
	for (size_t off = 0; off < w->wire_len;) {
		size_t len = w->wire_len - off, used;
		struct ws_message msg;
		enum ws_decode_status st;

		if (len > FEED_SLICE)
			len = FEED_SLICE;
		st = ws_decoder_feed(&d, w->wire + off, len, &used, &msg);
		off += used;
		if (st == WS_DECODE_MESSAGE) {
			/* Every text the workloads make is valid UTF-8. */
			if (msg.opcode == WS_OPCODE_TEXT && !msg.utf8_valid) {
				fprintf(stderr, "wsdbg-bench-decode: text "
					"message %llu judged invalid UTF-8\n",
					(unsigned long long)messages);
				exit(1);
			}
			messages++;
			total += msg.size + msg.kept +
				 (msg.kept ? msg.data[msg.kept - 1] : 0);
		} else if (st == WS_DECODE_ERROR) {
			fprintf(stderr, "wsdbg-bench-decode: decoder error: "
				"%s\n", ws_strerror(ws_decoder_error(&d)));
			exit(1);
		}
	}
	ws_decoder_free(&d);
	if (messages != w->messages) {
		fprintf(stderr, "wsdbg-bench-decode: decoded %llu messages, "
			"encoded %llu\n", (unsigned long long)messages,
			(unsigned long long)w->messages);
		exit(1);
	}
	sink += total;
}

static void workload_free(struct workload *w)
{
	free(w->wire);
	*w = (struct workload){0};
}

/* ---- timing ------------------------------------------------------------- */

typedef void (*bench_pass)(const void *ctx);

struct timing {
	double median_ns; /* per pass */
	double min_ns;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Runs pass(ctx) in repetitions of about s->rep_ns; per-pass times. */
static struct timing measure(const struct bench_settings *s, bench_pass pass,
			     const void *ctx)
{
	double per_pass[MAX_REPS];
	uint64_t t0 = now_ns(), one;
	unsigned passes;

	pass(ctx); /* warm caches and check the result */
	one = now_ns() - t0;
	passes = one >= s->rep_ns ? 1 : (unsigned)(s->rep_ns / (one + 1)) + 1;
	if (passes > 1000000)
		passes = 1000000;
	for (unsigned r = 0; r < s->reps; r++) {
		uint64_t start = now_ns();

		for (unsigned i = 0; i < passes; i++)
			pass(ctx);
		per_pass[r] = (double)(now_ns() - start) / passes;
	}
	qsort(per_pass, s->reps, sizeof(per_pass[0]), cmp_double);
	return (struct timing){
		.median_ns = s->reps % 2
				     ? per_pass[s->reps / 2]
				     : (per_pass[s->reps / 2 - 1] +
					per_pass[s->reps / 2]) / 2,
		.min_ns = per_pass[0],
	};
}

static void decode_pass_cb(const void *ctx)
{
	decode_pass(ctx);
}

/* ---- the table ---------------------------------------------------------- */

static void bench_small(const struct bench_settings *s)
{
	static const size_t sizes[] = {2, 16, 64, 128};
	static const enum payload_kind kinds[] = {
		PAYLOAD_JSON_ASCII, PAYLOAD_JSON, PAYLOAD_JSON_SCRIPT,
		PAYLOAD_BINARY,
	};

	printf("\nSmall frames: one message per frame, ns per frame "
	       "(lower is better)\n");
	printf("  (text (ASCII): chat JSON in ASCII; text (mixed): a third of "
	       "its words non-ASCII;\n   text (Cyr/CJK): all of them Russian, "
	       "Chinese or Japanese)\n");
	printf("  %-8s %-14s %-15s %10s %10s\n", "payload", "type",
	       "direction", "median", "best");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			for (int masked = 1; masked >= 0; masked--) {
				struct workload w;
				size_t count = SMALL_WIRE /
					       (sizes[i] + (masked ? 6 : 2));
				struct timing t;

				make_frames(&w, kinds[k], masked,
					    sizes[i], count);
				t = measure(s, decode_pass_cb, &w);
				char label[16];

				snprintf(label, sizeof(label), "%zu B",
					 sizes[i]);
				printf("  %-8s %-14s %-15s %10.1f %10.1f\n",
				       label, payload_name(kinds[k]),
				       masked ? "c2s (masked)"
					      : "s2c (unmasked)",
				       t.median_ns / (double)count,
				       t.min_ns / (double)count);
				workload_free(&w);
			}
		}
	}
}

static void bench_large(const struct bench_settings *s)
{
	static const struct {
		enum payload_kind kind;
		bool masked;
	} rows[] = {
		{PAYLOAD_JSON, true},
		{PAYLOAD_JSON, false},
		{PAYLOAD_JSON_SCRIPT, true},
		{PAYLOAD_JSON_ASCII, true},
		{PAYLOAD_BINARY, true},
	};

	printf("\nLarge frames: %d KiB payload each, GB/s of payload "
	       "(higher is better)\n", LARGE_FRAME / 1024);
	printf("  (text (ASCII): the same JSON without the non-ASCII words; "
	       "binary is not kept\n   by default, so the decoder steps over "
	       "it without reading it)\n");
	printf("  %-8s %-14s %-15s %10s %10s\n", "payload", "type",
	       "direction", "median", "best");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct workload w;
		struct timing t;

		make_frames(&w, rows[i].kind, rows[i].masked, LARGE_FRAME,
			    LARGE_COUNT);
		t = measure(s, decode_pass_cb, &w);
		printf("  %-8s %-14s %-15s %10.2f %10.2f\n", "64 KiB",
		       payload_name(rows[i].kind),
		       rows[i].masked ? "c2s (masked)" : "s2c (unmasked)",
		       (double)w.payload_bytes / t.median_ns,
		       (double)w.payload_bytes / t.min_ns);
		workload_free(&w);
	}
}

static void bench_deflate(const struct bench_settings *s)
{
	static const struct {
		size_t size, count;
		bool masked;
	} rows[] = {
		{128, 16384, false},
		{2048, 2048, false},
		{LARGE_FRAME, 64, true},
	};

	printf("\npermessage-deflate: JSON text, window 2^15, context "
	       "takeover; ns per message, MB/s inflated\n");
	printf("  %-8s %-7s %-15s %10s %10s %10s %10s\n", "message", "ratio",
	       "direction", "ns median", "ns best", "MB/s med", "MB/s best");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct workload w;
		struct timing t;
		char label[32];

		make_deflated(&w, rows[i].masked, rows[i].size, rows[i].count);
		t = measure(s, decode_pass_cb, &w);
		if (rows[i].size >= 1024)
			snprintf(label, sizeof(label), "%zu KiB",
				 rows[i].size / 1024);
		else
			snprintf(label, sizeof(label), "%zu B", rows[i].size);
		printf("  %-8s %6.1fx %-15s %10.0f %10.0f %10.0f %10.0f\n",
		       label,
		       (double)w.payload_bytes / (double)w.wire_len,
		       rows[i].masked ? "c2s (masked)" : "s2c (unmasked)",
		       t.median_ns / (double)w.messages,
		       t.min_ns / (double)w.messages,
		       (double)w.payload_bytes * 1e3 / t.median_ns,
		       (double)w.payload_bytes * 1e3 / t.min_ns);
		workload_free(&w);
	}
}

/* ---- handshake ---------------------------------------------------------- */

/* What Chrome sends to open a WebSocket (a cookie included). */
static const char browser_request[] =
	"GET /chat?room=1 HTTP/1.1\r\n"
	"Host: example.com:8080\r\n"
	"Connection: Upgrade\r\n"
	"Pragma: no-cache\r\n"
	"Cache-Control: no-cache\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
	"(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n"
	"Upgrade: websocket\r\n"
	"Origin: http://example.com:8080\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"Accept-Encoding: gzip, deflate, br, zstd\r\n"
	"Accept-Language: en-US,en;q=0.9\r\n"
	"Cookie: session=4f9c2a1b7e8d; theme=dark\r\n"
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Extensions: permessage-deflate; "
	"client_max_window_bits\r\n"
	"\r\n";

static const char server_response[] =
	"HTTP/1.1 101 Switching Protocols\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	"Sec-WebSocket-Extensions: permessage-deflate\r\n"
	"\r\n";

struct handshake_ctx {
	struct http_upgrade *p;
	enum http_upgrade_role role;
	const char *text;
	size_t len;
	enum http_upgrade_kind want;
};

#define HANDSHAKES_PER_PASS 100

static void handshake_pass(const void *vctx)
{
	const struct handshake_ctx *c = vctx;

	for (int i = 0; i < HANDSHAKES_PER_PASS; i++) {
		size_t used;

		http_upgrade_init(c->p, c->role);
		if (http_upgrade_feed(c->p, c->text, c->len, &used) !=
			    HTTP_UPGRADE_DONE ||
		    http_upgrade_kind(c->p) != c->want) {
			fputs("wsdbg-bench-decode: handshake not parsed\n",
			      stderr);
			exit(1);
		}
		sink += used + c->p->nheaders;
	}
}

static void bench_handshake(const struct bench_settings *s)
{
	struct http_upgrade *p = xmalloc(sizeof(*p));
	const struct handshake_ctx rows[] = {
		{p, HTTP_UPGRADE_REQUEST, browser_request,
		 sizeof(browser_request) - 1,
		 HTTP_UPGRADE_KIND_WEBSOCKET_REQUEST},
		{p, HTTP_UPGRADE_RESPONSE, server_response,
		 sizeof(server_response) - 1, HTTP_UPGRADE_KIND_ACCEPTED},
	};

	printf("\nHandshake parser: init + parse + classify, ns per "
	       "message (lower is better)\n");
	printf("  %-46s %10s %10s\n", "message", "median", "best");
	for (size_t i = 0; i < 2; i++) {
		struct timing t = measure(s, handshake_pass, &rows[i]);
		char label[64];

		snprintf(label, sizeof(label), "%s (%zu B, %u headers)",
			 i == 0 ? "browser upgrade request" : "101 response",
			 rows[i].len, (unsigned)p->nheaders);
		printf("  %-46s %10.0f %10.0f\n", label,
		       t.median_ns / HANDSHAKES_PER_PASS,
		       t.min_ns / HANDSHAKES_PER_PASS);
	}
	free(p);
}

/* ---- machine ------------------------------------------------------------ */

static void cpu_model(char *out, size_t cap)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];

	snprintf(out, cap, "unknown CPU");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) != 0 || !colon)
			continue;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(out, cap, "%s", colon);
		break;
	}
	fclose(f);
}

static void print_machine(const struct bench_settings *s)
{
	struct utsname u;
	char cpu[256], date[64];
	time_t now = time(NULL);

	cpu_model(cpu, sizeof(cpu));
	if (uname(&u) != 0)
		snprintf(u.machine, sizeof(u.machine), "?");
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
	printf("wsdbg-bench-decode: speed of the decoding core "
	       "(src/core)\n");
	printf("  machine  %s, %s, %ld CPUs online\n", u.machine, cpu,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("  date     %s\n", date);
	printf("  build    wsdbg %s, buildtype %s, %s %s, zlib %s\n",
	       WSDBG_VERSION, WSDBG_BUILDTYPE,
#ifdef __clang__
	       "clang",
#else
	       "gcc",
#endif
	       __VERSION__, zlibVersion());
	printf("  method   fresh ws_decoder per pass, fed in %d KiB slices; "
	       "keeps 10240 B of text,\n"
	       "           no binary; %u repetitions of ~%llu ms, median "
	       "and best shown\n",
	       FEED_SLICE / 1024, s->reps,
	       (unsigned long long)(s->rep_ns / 1000000));
	printf("  payload  text: chat JSON, a third of the words non-ASCII "
	       "(é, 日本, 🎉), or all of them\n"
	       "           Russian, Chinese or Japanese (Cyr/CJK); binary: "
	       "random\n");
}

int main(int argc, char **argv)
{
	struct bench_settings s = {.reps = 7, .rep_ns = 100000000};

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			s = (struct bench_settings){.reps = 3,
						    .rep_ns = 15000000};
		} else if (strcmp(argv[i], "--help") == 0) {
			puts("usage: wsdbg-bench-decode [--quick]\n"
			     "Measures the decoding core's speed and prints a "
			     "table (about 20 s; --quick: under 5 s).");
			return 0;
		} else {
			fprintf(stderr, "wsdbg-bench-decode: unknown argument "
				"'%s' (try --help)\n", argv[i]);
			return 2;
		}
	}
	print_machine(&s);
	bench_small(&s);
	bench_large(&s);
	bench_deflate(&s);
	bench_handshake(&s);
	return 0;
}

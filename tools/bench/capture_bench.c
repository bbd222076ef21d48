/*
 * capture_bench.c - wsbench-capture: the cost of wsdbg's per-socket work
 * without the sockets: decoding and recording frames, and the memory a
 * connection holds.
 *
 *   wsbench-capture [--quick] [--frames SIZE | --spread CONNS [SIZE] |
 *                    --count CONNS BATCH SIZE [EVICT_KIB] | --memory]
 *
 * Decode and record. One server-side stream (capture.h) past a real
 * upgrade handshake, with a registry at the defaults, is fed what the shim
 * would hand it: per call a batch of B client frames (masked text or
 * binary of S bytes, "received"), then the B echoes ("sent"), each call
 * with one clock read as the shim takes. Reported: ns per frame, median
 * (min-max) of the repetitions, and beside it the same bytes through two
 * bare ws_decoders (no registry, no clock): the difference is what
 * recording costs.
 *
 * Memory (--memory alone), counted by malloc itself (mallinfo2: bytes in
 * use, chunk overhead included; the table is made by a run of its own with
 * malloc's per-thread cache off, whose parked blocks would count as in
 * use) from just after the registry is made (once per process) to the end; the capture streams are allocated inside the
 * measurement, as the shim allocates one per socket (the shim adds a mutex
 * and a few words to each):
 *   - per idle connection: 1,000 connections past a browser-like upgrade
 *     request (about 450 bytes of headers), no messages;
 *   - one connection after 10,000 text messages of 1 KiB each way, at the
 *     defaults (100 messages kept, 100 KiB of stored data per connection);
 *     and the same with 10 KiB messages (the most text kept per message);
 *   - the peak over 1,000 connections each carrying 100 messages of 1 KiB
 *     each way, at the defaults (50 connections detailed) and with
 *     max_connections 1000;
 *   - one connection with permessage-deflate agreed (without context
 *     takeover, so that one compressed frame can be sent again), after
 *     10,000 compressed texts of 1 KiB, then of 10 KiB, each way: the
 *     inflate state of both directions comes on top of the connection's
 *     100 KiB (registry.h).
 * Each figure is also given as the registry's own count of stored message
 * data (registry_memory_used(), the snapshot's "memory_used").
 *
 * Cold caches: the same work one frame per call over 64 streams in turn
 * (the 64x1 shape), each call timed alone after 128 KiB of other memory
 * was written, as the kernel's socket work between two calls of a real
 * server evicts what wsdbg touched; once without that eviction.
 *
 * --frames SIZE runs only the text row of that size, 16 per call, for 20
 * repetitions: a steady load to profile (perf record, callgrind).
 * --spread CONNS [SIZE] runs only the cold-cache row over CONNS streams:
 * with `valgrind --tool=callgrind --cache-sim=yes
 * --toggle-collect=spread_call` it counts the cache lines one recorded
 * call touches, repeatably.
 * --count CONNS BATCH SIZE [EVICT_KIB] runs a fixed number of recorded
 * calls, B text frames of SIZE bytes each, over CONNS streams in turn
 * (EVICT_KIB of caches clobbered before each call), after the steady
 * state is reached, each through counted_call, and prints the frames they
 * carried as {"frames": N}: under `valgrind --tool=callgrind
 * --cache-sim=yes --toggle-collect=counted_call` the instructions and
 * cache misses per frame, the same from one run to the next whatever the
 * machine's load (run_bench.py's "callgrind" rows).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "bench_ws.h"
#include "wsdbg/capture.h"
#include "wsdbg/registry.h"
#include "wsdbg/ws_decoder.h"

static double clock_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

static void fill_text(uint8_t *p, size_t n)
{
	static const char sample[] =
	    "{\"type\":\"tick\",\"symbol\":\"ACME\",\"price\":1234.5,"
	    "\"note\":\"the quick brown fox jumps over the lazy dog\"}";
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)sample[i % (sizeof(sample) - 1)];
}

/* count frames of size bytes (text or binary), masked when from_client,
 * one after another in a new buffer of *len bytes. */
static uint8_t *frames(size_t count, size_t size, bool binary,
		       bool from_client, size_t *len)
{
	size_t one = BENCH_FRAME_HEADER_MAX + size;
	uint8_t *buf = malloc(count * one), *payload = malloc(size + 1);
	if (!buf || !payload)
		abort();
	fill_text(payload, size);
	size_t o = 0;
	for (size_t i = 0; i < count; i++) {
		uint8_t key[4];
		bench_random(key, 4);
		o += bench_frame_header(buf + o,
					binary ? BENCH_OP_BINARY : BENCH_OP_TEXT,
					false, size,
					from_client ? key : NULL);
		memcpy(buf + o, payload, size);
		if (from_client)
			bench_mask(buf + o, size, key, 0);
		o += size;
	}
	free(payload);
	*len = o;
	return buf;
}

/* One text frame of size bytes, compressed alone (permessage-deflate
 * without context takeover, RFC 7692 7.2.1: each message stands by
 * itself, so the same bytes can be sent again), masked when from the
 * client. */
static uint8_t *compressed_frame(size_t size, bool from_client, size_t *len)
{
	uint8_t *payload = malloc(size + 1);
	uLong bound = compressBound((uLong)size) + 16;
	uint8_t *z = malloc(bound), *buf = malloc(BENCH_FRAME_HEADER_MAX + bound);
	z_stream zs = {0};

	if (!payload || !z || !buf ||
	    deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	fill_text(payload, size);
	zs.next_in = payload;
	zs.avail_in = (uInt)size;
	zs.next_out = z;
	zs.avail_out = (uInt)bound;
	if (deflate(&zs, Z_SYNC_FLUSH) != Z_OK || zs.avail_in != 0)
		abort();
	/* RFC 7692 7.2.1: the flush's empty block tail is left off. */
	size_t zlen = bound - zs.avail_out - 4;
	deflateEnd(&zs);
	uint8_t key[4];
	bench_random(key, 4);
	size_t o = bench_frame_header(buf, BENCH_OP_TEXT, true, zlen,
				      from_client ? key : NULL);
	memcpy(buf + o, z, zlen);
	if (from_client)
		bench_mask(buf + o, zlen, key, 0);
	free(payload);
	free(z);
	*len = o + zlen;
	return buf;
}

/* permessage-deflate as the compressed rows agree it. */
static const char deflate_ext[] =
	"permessage-deflate; client_no_context_takeover; "
	"server_no_context_takeover";

/* Takes stream s (fd) through a browser-like upgrade, server side, with
 * the extensions answered (NULL: none). */
static void handshake(struct capture_stream *s, const struct capture_context *ctx,
		      int n, const char *extensions)
{
	char key[25], accept[29], req[1024], res[256];
	uint8_t raw[16];
	bench_random(raw, sizeof(raw));
	bench_base64_key(raw, key);
	bench_accept_key(key, strlen(key), accept);
	int rl = snprintf(
	    req, sizeof(req),
	    "GET /ws/chat?room=%d HTTP/1.1\r\nHost: localhost:8080\r\n"
	    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) "
	    "Gecko/20100101 Firefox/128.0\r\nAccept: */*\r\n"
	    "Accept-Language: en-US,en;q=0.5\r\n"
	    "Sec-WebSocket-Version: 13\r\nOrigin: http://localhost:8080\r\n"
	    "Sec-WebSocket-Key: %s\r\nConnection: keep-alive, Upgrade\r\n"
	    "Cookie: session=0123456789abcdef\r\nPragma: no-cache\r\n"
	    "Cache-Control: no-cache\r\nUpgrade: websocket\r\n%s\r\n",
	    n, key,
	    extensions ? "Sec-WebSocket-Extensions: permessage-deflate; "
			 "client_max_window_bits\r\n" : "");
	int sl = snprintf(res, sizeof(res),
			  "HTTP/1.1 101 Switching Protocols\r\n"
			  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			  "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
			  accept, extensions ? "Sec-WebSocket-Extensions: " : "",
			  extensions ? extensions : "",
			  extensions ? "\r\n" : "");
	double now = clock_now();
	capture_feed(s, ctx, REGISTRY_RECEIVED, (const uint8_t *)req,
		     (size_t)rl, now);
	capture_feed(s, ctx, REGISTRY_SENT, (const uint8_t *)res, (size_t)sl,
		     now);
	if (s->phase != CAPTURE_FRAMES) {
		fprintf(stderr, "wsbench-capture: handshake not accepted\n");
		exit(1);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct stats {
	double median, min, max;
};

static struct stats summarise(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return (struct stats){v[n / 2], v[0], v[n - 1]};
}

/* One round trip as the shim sees it: the client's frames in, then the
 * echoes out, each call with its own clock read. */
static void echo_round(struct capture_stream *s,
		       const struct capture_context *ctx, const uint8_t *in,
		       size_t in_len, const uint8_t *out, size_t out_len)
{
	capture_feed(s, ctx, REGISTRY_RECEIVED, in, in_len, clock_now());
	capture_feed(s, ctx, REGISTRY_SENT, out, out_len, clock_now());
}

/* conns server-side streams of registry ctx->registry, each past a
 * browser-like upgrade. */
static struct capture_stream *streams_open(const struct capture_context *ctx,
					   int conns, const char *extensions)
{
	struct capture_stream *s = calloc((size_t)conns, sizeof(*s));

	if (!s)
		abort();
	for (int i = 0; i < conns; i++) {
		capture_init(&s[i], i + 3);
		handshake(&s[i], ctx, i, extensions);
	}
	return s;
}

/* Closes and frees streams_open's streams, then their registry. */
static void streams_close(struct capture_stream *s, int conns,
			  const struct capture_context *ctx)
{
	for (int i = 0; i < conns; i++)
		capture_close(&s[i], ctx, clock_now());
	registry_free(ctx->registry);
	free(s);
}

/* Steady state before measuring: every ring full, every buffer grown. */
static void warm_up(struct capture_stream *s, int conns,
		    const struct capture_context *ctx, const uint8_t *in,
		    size_t in_len, const uint8_t *out, size_t out_len)
{
	for (int k = 0; k < 128; k++)
		for (int i = 0; i < conns; i++)
			echo_round(&s[i], ctx, in, in_len, out, out_len);
}

/* A server's two directions as bare decoders, configured as the shim's
 * capture would configure them under cfg: client frames in, echoes out.
 * But they judge every text's UTF-8 themselves, which the shim's leave to
 * the registry's copy (defer_utf8): decoding alone, whole. */
static void bare_decoders(const struct registry_config *cfg,
			  struct ws_decoder *in, struct ws_decoder *out)
{
	struct ws_decoder_config dc = {0};

	registry_decoder_config(cfg, &dc);
	dc.defer_utf8 = false;
	struct ws_decoder_config dc_in = dc, dc_out = dc;
	ws_decoder_config_set_deflate(&dc_in, true, NULL);
	ws_decoder_config_set_deflate(&dc_out, false, NULL);
	ws_decoder_init(in, &dc_in);
	ws_decoder_init(out, &dc_out);
}

/* ns per frame of rounds of (B client frames in, B echoes out). */
static void bench_frames(size_t size, size_t batch, bool binary, int reps,
			 uint64_t rep_ns)
{
	size_t in_len, out_len;
	uint8_t *in = frames(batch, size, binary, true, &in_len);
	uint8_t *out = frames(batch, size, binary, false, &out_len);
	double shim[16], bare[16];

	if (reps > 16)
		reps = 16;

	for (int r = 0; r < reps; r++) {
		struct registry_config cfg;
		registry_config_defaults(&cfg);
		struct registry *reg = registry_new(&cfg);
		struct capture_context ctx = {.registry = reg};
		struct capture_stream s;
		capture_init(&s, 3);
		handshake(&s, &ctx, r, NULL);
		uint64_t rounds = 0, t0 = bench_now_ns(), t1;
		do {
			for (int k = 0; k < 16; k++, rounds++)
				echo_round(&s, &ctx, in, in_len, out, out_len);
			t1 = bench_now_ns();
		} while (t1 - t0 < rep_ns);
		shim[r] = (double)(t1 - t0) / (double)(rounds * batch * 2);
		if (s.phase != CAPTURE_FRAMES) {
			fprintf(stderr, "wsbench-capture: decoding stopped\n");
			exit(1);
		}
		capture_close(&s, &ctx, clock_now());
		registry_free(reg);

		/* The same bytes through two bare decoders. */
		struct ws_decoder din, dout;
		bare_decoders(&cfg, &din, &dout);
		uint64_t msgs = 0;
		rounds = 0;
		t0 = bench_now_ns();
		do {
			for (int k = 0; k < 16; k++, rounds++) {
				struct ws_decoder *ds[2] = {&din, &dout};
				const uint8_t *bufs[2] = {in, out};
				size_t lens[2] = {in_len, out_len};
				for (int d = 0; d < 2; d++) {
					const uint8_t *p = bufs[d];
					size_t left = lens[d];
					while (left > 0) {
						size_t used = 0;
						struct ws_message m;
						enum ws_decode_status st =
						    ws_decoder_feed(ds[d], p,
								    left, &used,
								    &m);
						p += used;
						left -= used;
						if (st != WS_DECODE_MESSAGE)
							break;
						msgs += m.size == size;
					}
				}
			}
			t1 = bench_now_ns();
		} while (t1 - t0 < rep_ns);
		bare[r] = (double)(t1 - t0) / (double)(rounds * batch * 2);
		if (msgs != rounds * batch * 2) {
			fprintf(stderr, "wsbench-capture: decoder lost "
					"messages\n");
			exit(1);
		}
		ws_decoder_free(&din);
		ws_decoder_free(&dout);
	}
	struct stats a = summarise(shim, reps), b = summarise(bare, reps);
	printf("| %s %6zu B | %2zu | %8.1f (%.1f-%.1f) | %8.1f (%.1f-%.1f) | "
	       "%7.1f | %7.2f |\n",
	       binary ? "binary" : "text  ", size, batch, a.median, a.min,
	       a.max, b.median, b.min, b.max, a.median - b.median,
	       (double)size / a.median);
	free(in);
	free(out);
}

/* Clobbers `bytes` of caches, as the kernel's work between two calls of
 * a real server does (a socket read or write walks its own buffers). */
static void evict_caches(size_t bytes)
{
	static uint8_t *junk;
	static size_t at;

	if (!junk && !(junk = calloc(1, 8u << 20)))
		abort();
	for (size_t i = 0; i < bytes; i += 64) {
		junk[at] += 1;
		at = (at + 64) % (8u << 20);
	}
}

/* One call of the measured loop of bench_spread, apart so that callgrind
 * can tell its cache misses from the warm-up's. */
static __attribute__((noinline)) uint64_t
spread_call(struct capture_stream *s, const struct capture_context *ctx,
	    enum registry_dir dir, const uint8_t *p, size_t len)
{
	uint64_t t0 = bench_now_ns();
	capture_feed(s, ctx, dir, p, len, clock_now());
	return bench_now_ns() - t0;
}

/* A figure of the snapshot's totals (key: "messages_sent", ...), or
 * UINT64_MAX when it cannot be had. The snapshot asked for is of no
 * connection (no connection has REGISTRY_ID_FAULT), so the totals are
 * the only object that can hold key. */
static uint64_t snapshot_total(struct registry *reg, const char *key)
{
	struct registry_snapshot_options opt = {
		.pid = 1, .process = "bench", .conn_id = REGISTRY_ID_FAULT};
	size_t len = 0;
	char *json = registry_snapshot_json(reg, &opt, &len);
	char quoted[64];
	uint64_t v = UINT64_MAX;

	snprintf(quoted, sizeof(quoted), "\"%s\":", key);
	const char *at = json ? strstr(json, quoted) : NULL;
	if (at)
		v = strtoull(at + strlen(quoted), NULL, 10);
	free(json);
	return v;
}

/* One recorded call, apart: under callgrind (--toggle-collect) exactly
 * what the shim's hook does for it, its one clock read included. */
static __attribute__((noinline)) void
counted_call(struct capture_stream *s, const struct capture_context *ctx,
	     enum registry_dir dir, const uint8_t *p, size_t len)
{
	capture_feed(s, ctx, dir, p, len, clock_now());
}

/* --count: calls of batch client frames of size bytes in, then their
 * echoes out, over conns streams in turn, with evict bytes of caches
 * clobbered before each; a fixed number, for callgrind. */
static int bench_count(int conns, size_t batch, size_t size, size_t evict)
{
	enum { COUNTED_FRAMES = 4096 };
	size_t in_len, out_len;
	uint8_t *in = frames(batch, size, false, true, &in_len);
	uint8_t *out = frames(batch, size, false, false, &out_len);
	struct registry_config cfg;
	registry_config_defaults(&cfg);
	struct capture_context ctx = {.registry = registry_new(&cfg)};
	uint64_t rounds = COUNTED_FRAMES / (2 * batch * (size_t)conns) + 1;

	if (!ctx.registry)
		abort();
	struct capture_stream *s = streams_open(&ctx, conns, NULL);
	warm_up(s, conns, &ctx, in, in_len, out, out_len);
	uint64_t before = snapshot_total(ctx.registry, "messages_received");
	for (uint64_t k = 0; k < rounds; k++) {
		for (int i = 0; i < conns; i++) {
			evict_caches(evict);
			counted_call(&s[i], &ctx, REGISTRY_RECEIVED, in,
				     in_len);
			evict_caches(evict);
			counted_call(&s[i], &ctx, REGISTRY_SENT, out, out_len);
		}
	}
	/* Every frame counted, both ways, or the figures mean nothing. */
	uint64_t want = before + rounds * batch * (uint64_t)conns;
	bool exact = snapshot_total(ctx.registry, "messages_received") ==
			     want &&
		     snapshot_total(ctx.registry, "messages_sent") == want;
	streams_close(s, conns, &ctx);
	free(in);
	free(out);
	if (!exact) {
		fprintf(stderr, "wsbench-capture: messages lost\n");
		return 1;
	}
	printf("{\"frames\": %llu}\n",
	       (unsigned long long)(rounds * batch * 2 * (uint64_t)conns));
	return 0;
}

/* The 64x1 shape in process: conns server-side streams in turn, each call
 * one client frame of size bytes in, then its echo out, with `evict` bytes
 * of caches clobbered before each call (not timed). ns per frame, the
 * median of reps, for capture + registry and for two bare decoders per
 * stream: the difference is recording, with the caches as cold as a busy
 * server leaves them. */
static void bench_spread(int conns, size_t size, size_t evict, int reps,
			 uint64_t rep_ns)
{
	size_t in_len, out_len;
	uint8_t *in = frames(1, size, false, true, &in_len);
	uint8_t *out = frames(1, size, false, false, &out_len);
	double shim[16], bare[16];

	if (reps > 16)
		reps = 16;
	for (int r = 0; r < reps; r++) {
		struct registry_config cfg;
		registry_config_defaults(&cfg);
		struct capture_context ctx = {.registry = registry_new(&cfg)};
		struct ws_decoder *din = calloc((size_t)conns, sizeof(*din));
		struct ws_decoder *dout = calloc((size_t)conns, sizeof(*dout));
		if (!ctx.registry || !din || !dout)
			abort();
		struct capture_stream *s = streams_open(&ctx, conns, NULL);
		for (int i = 0; i < conns; i++)
			bare_decoders(&cfg, &din[i], &dout[i]);
		warm_up(s, conns, &ctx, in, in_len, out, out_len);
		uint64_t shim_ns = 0, bare_ns = 0, frames_done = 0;
		uint64_t start = bench_now_ns();
		while (bench_now_ns() - start < 2 * rep_ns) {
			for (int i = 0; i < conns; i++) {
				for (int d = 0; d < 2; d++) {
					const uint8_t *p = d ? out : in;
					size_t len = d ? out_len : in_len;
					enum registry_dir dir =
					    d ? REGISTRY_SENT
					      : REGISTRY_RECEIVED;
					evict_caches(evict);
					shim_ns += spread_call(&s[i], &ctx, dir,
							       p, len);

					evict_caches(evict);
					struct ws_message m;
					size_t used = 0;
					uint64_t t0 = bench_now_ns();
					ws_decoder_feed(d ? &dout[i] : &din[i],
							p, len, &used, &m);
					bare_ns += bench_now_ns() - t0;
					if (used != len)
						abort();
				}
				frames_done += 2;
			}
		}
		shim[r] = (double)shim_ns / (double)frames_done;
		bare[r] = (double)bare_ns / (double)frames_done;
		for (int i = 0; i < conns; i++) {
			ws_decoder_free(&din[i]);
			ws_decoder_free(&dout[i]);
		}
		streams_close(s, conns, &ctx);
		free(din);
		free(dout);
	}
	struct stats a = summarise(shim, reps), b = summarise(bare, reps);
	printf("| text %6zu B, %d conns in turn, %zu KiB evicted | 1 | "
	       "%8.1f (%.1f-%.1f) | %8.1f (%.1f-%.1f) | %7.1f | %7.2f |\n",
	       size, conns, evict >> 10, a.median, a.min, a.max, b.median,
	       b.min, b.max, a.median - b.median, (double)size / a.median);
	free(in);
	free(out);
}

/* Memory: n connections opened (and messages sent each way on each) in
 * a registry with max_connections, permessage-deflate agreed when
 * deflate; prints bytes per connection. */
static void bench_memory(const char *label, unsigned max_connections,
			 int nconns, int messages, size_t msg_size,
			 bool deflate)
{
	struct registry_config cfg;
	registry_config_defaults(&cfg);
	cfg.max_connections = max_connections;
	size_t in_len, out_len;
	uint8_t *in = deflate ? compressed_frame(msg_size, true, &in_len)
			      : frames(1, msg_size, false, true, &in_len);
	uint8_t *out = deflate ? compressed_frame(msg_size, false, &out_len)
			       : frames(1, msg_size, false, false, &out_len);

	/* From after the registry is made: it is made once per process, and
	 * what is measured is what connections add to it. */
	struct registry *reg = registry_new(&cfg);
	if (!reg)
		abort();
	malloc_trim(0);
	size_t base = heap_in_use(), peak = 0;
	struct capture_context ctx = {.registry = reg};
	struct capture_stream *s =
		streams_open(&ctx, nconns, deflate ? deflate_ext : NULL);
	size_t after_open = heap_in_use() - base;
	peak = after_open;
	for (int m = 0; m < messages; m++) {
		for (int i = 0; i < nconns; i++)
			echo_round(&s[i], &ctx, in, in_len, out, out_len);
		if (m % 10 == 9 || m == messages - 1) {
			size_t used = heap_in_use() - base;
			if (used > peak)
				peak = used;
		}
	}
	size_t stored = registry_memory_used(reg);
	size_t at_end = heap_in_use() - base;
	printf("| %s | %d | %d x %zu B | %zu | %zu | %zu | %zu |\n", label,
	       nconns, messages, msg_size, after_open / (size_t)nconns,
	       at_end / (size_t)nconns, peak, stored);
	streams_close(s, nconns, &ctx);
	free(in);
	free(out);
}

static int memory_table(void)
{
	void *volatile probe = malloc(64); /* kept: not optimised away */
	size_t seen = heap_in_use();

	free(probe);
	if (seen == 0) {
		/* Sanitizer runtimes replace malloc and its statistics. */
		printf("malloc statistics unavailable in this build\n");
		return 0;
	}
	printf("| case | conns | messages each way | bytes/conn opened | "
	       "bytes/conn at end | peak total | stored |\n"
	       "|---|---|---|---|---|---|---|\n");
	bench_memory("idle, all detailed", 1000, 1000, 0, 1024, false);
	bench_memory("one busy connection, defaults", 50, 1, 10000, 1024,
		     false);
	bench_memory("one busy connection, 10 KiB text, defaults", 50, 1,
		     10000, 10240, false);
	bench_memory("1,000 busy, defaults (50 detailed)", 50, 1000, 100,
		     1024, false);
	bench_memory("1,000 busy, max_connections 1000", 1000, 1000, 100,
		     1024, false);
	bench_memory("one busy compressed connection, defaults", 50, 1,
		     10000, 1024, true);
	bench_memory("one busy compressed connection, 10 KiB text, defaults",
		     50, 1, 10000, 10240, true);
	return 0;
}

/* The memory table from a run of this program of its own, with malloc's
 * per-thread cache off: blocks parked there count as in use, so with it
 * each figure would move with whatever the process freed before. */
static int memory_table_apart(void)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
		execl("/proc/self/exe", "wsbench-capture", "--memory",
		      (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		printf("the memory table's run failed\n");
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
	int reps = quick ? 3 : 7;
	uint64_t rep_ns = quick ? 20000000u : 100000000u;

	if (argc == 3 && strcmp(argv[1], "--frames") == 0) {
		size_t size = (size_t)strtoull(argv[2], NULL, 10);
		if (size == 0 || size > (1u << 20))
			return 2;
		bench_frames(size, 16, false, 16, rep_ns);
		return 0;
	}
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "--count") == 0) {
		int conns = atoi(argv[2]);
		size_t batch = (size_t)strtoull(argv[3], NULL, 10);
		size_t size = (size_t)strtoull(argv[4], NULL, 10);
		size_t evict = argc == 6
			? (size_t)strtoull(argv[5], NULL, 10) << 10 : 0;
		if (conns < 1 || conns > 1024 || batch < 1 || batch > 64 ||
		    size == 0 || size > (1u << 20) || evict > (8u << 20)) {
			fprintf(stderr, "wsbench-capture: --count CONNS "
				"BATCH SIZE [EVICT_KIB]: out of range\n");
			return 2;
		}
		return bench_count(conns, batch, size, evict);
	}
	if (argc == 2 && strcmp(argv[1], "--memory") == 0)
		return memory_table();
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "--spread") == 0) {
		size_t size = argc == 4 ? (size_t)strtoull(argv[3], NULL, 10)
					: 128;
		if (size == 0 || size > (1u << 20))
			return 2;
		bench_spread(atoi(argv[2]), size, 128u << 10, 3, rep_ns);
		return 0;
	}

	printf("Decode and record, ns per frame (median (min-max) of %d)\n\n",
	       reps);
	printf("| frames | per call | capture + registry | bare decoders | "
	       "recording | bytes/ns |\n|---|---|---|---|---|---|\n");
	const size_t sizes[] = {16, 128, 1024, 4096, 65536};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		bench_frames(sizes[i], sizes[i] >= 65536 ? 4 : 16, false, reps,
			     rep_ns);
		if (sizes[i] == 128)
			bench_frames(sizes[i], 1, false, reps, rep_ns);
	}
	bench_frames(128, 16, true, reps, rep_ns);
	bench_frames(65536, 4, true, reps, rep_ns);
	bench_spread(64, 128, 0, reps, rep_ns);
	bench_spread(64, 128, 128u << 10, reps, rep_ns);

	printf("\nMemory (malloc's bytes in use; stored = registry's "
	       "memory_used)\n\n");
	return memory_table_apart();
}

/*
 * test_capture.c - a socket's bytes in, registry entries out: role
 * detection, the handshake in both roles, early frames, rejections,
 * non-WebSocket traffic, gaps and abrupt ends. The registry is the real
 * one; results are read from its JSON snapshot.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsdbg/capture.h"
#include "wsdbg/http_upgrade.h"
#include "wsdbg/registry.h"
#include "ws_encoder.h"

static const char request[] =
	"GET /chat?room=1 HTTP/1.1\r\n"
	"Host: localhost:8080\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"Cookie: session=s3cret\r\n"
	"\r\n";

static const char accepted[] =
	"HTTP/1.1 101 Switching Protocols\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	"\r\n";

/* RFC 6455 5.7: "Hello" masked (from a client) and unmasked. */
static const uint8_t masked_hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
				       0x7f, 0x9f, 0x4d, 0x51, 0x58};
static const uint8_t hello[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
/* Close 1000 "bye" from the client (mask 0) and from the server. */
static const uint8_t client_close[] = {0x88, 0x85, 0, 0, 0, 0,
				       0x03, 0xe8, 'b', 'y', 'e'};
static const uint8_t server_close[] = {0x88, 0x02, 0x03, 0xe8};

static struct registry *registry;
static struct capture_context ctx;
static struct capture_stream stream;

static void setup(void)
{
	struct registry_config cfg;
	registry_config_defaults(&cfg);
	registry = registry_new(&cfg);
	cr_assert_not_null(registry);
	ctx = (struct capture_context){.registry = registry};
	capture_init(&stream, 7);
}

static void teardown(void)
{
	capture_discard(&stream);
	registry_free(registry);
}

TestSuite(capture, .init = setup, .fini = teardown);

static void feed(enum registry_dir dir, const void *p, size_t n)
{
	capture_feed(&stream, &ctx, dir, p, n, 1000.0);
}

/* The snapshot, for assertions with has(). Freed by the caller. */
static char *snapshot(void)
{
	struct registry_snapshot_options opt = {.pid = 1, .process = "t",
						.taken_at = 2000.0,
						.messages = true};
	size_t len;
	char *json = registry_snapshot_json(registry, &opt, &len);
	cr_assert_not_null(json);
	return json;
}

#define HAS(json, text) \
	cr_assert(strstr((json), (text)) != NULL, "missing %s in:\n%s", \
		  (text), (json))
#define HAS_NOT(json, text) \
	cr_assert(strstr((json), (text)) == NULL, "unexpected %s in:\n%s", \
		  (text), (json))

Test(capture, a_received_upgrade_request_makes_this_process_the_server)
{
	feed(REGISTRY_RECEIVED, request, strlen(request));
	feed(REGISTRY_SENT, accepted, strlen(accepted));
	feed(REGISTRY_RECEIVED, masked_hello, sizeof(masked_hello));
	feed(REGISTRY_SENT, hello, sizeof(hello));
	feed(REGISTRY_RECEIVED, client_close, sizeof(client_close));
	feed(REGISTRY_SENT, server_close, sizeof(server_close));
	cr_assert_eq(stream.phase, CAPTURE_FRAMES);
	capture_close(&stream, &ctx, 1001.5);

	char *json = snapshot();
	HAS(json, "\"role\": \"server\"");
	HAS(json, "\"path\": \"/chat\"");
	HAS(json, "\"query\": \"room=1\"");
	HAS(json, "\"state\": \"closed\"");
	HAS(json, "\"status\": 101");
	HAS(json, "\"close\": {\"code\": 1000, \"reason\": \"bye\", "
		  "\"by\": \"client\"}");
	HAS(json, "\"dir\": \"received\", \"type\": \"text\", \"size\": 5");
	HAS(json, "\"dir\": \"sent\", \"type\": \"text\", \"size\": 5");
	HAS(json, "\"text\": \"Hello\"");
	HAS_NOT(json, "s3cret");
	free(json);
}

Test(capture, a_sent_upgrade_request_makes_this_process_the_client)
{
	/* The client side: its frames are masked on the way out. */
	feed(REGISTRY_SENT, request, strlen(request));
	feed(REGISTRY_RECEIVED, accepted, strlen(accepted));
	feed(REGISTRY_SENT, masked_hello, sizeof(masked_hello));
	feed(REGISTRY_RECEIVED, hello, sizeof(hello));
	char *json = snapshot();
	HAS(json, "\"role\": \"client\"");
	HAS(json, "\"state\": \"open\"");
	HAS(json, "\"sent\": {\"messages\": 1");
	HAS(json, "\"received\": {\"messages\": 1");
	HAS(json, "\"error\": null");
	free(json);
}

Test(capture, handshake_and_frames_fed_a_byte_at_a_time_give_the_same_record)
{
	for (size_t i = 0; i < strlen(request); i++)
		feed(REGISTRY_RECEIVED, request + i, 1);
	for (size_t i = 0; i < strlen(accepted); i++)
		feed(REGISTRY_SENT, accepted + i, 1);
	for (size_t i = 0; i < sizeof(masked_hello); i++)
		feed(REGISTRY_RECEIVED, masked_hello + i, 1);
	char *json = snapshot();
	HAS(json, "\"path\": \"/chat\"");
	HAS(json, "\"state\": \"open\"");
	HAS(json, "\"text\": \"Hello\"");
	free(json);
}

/* Feeds all[0..n) as one vectored call split at a and b, with an empty
 * piece and a tail that did not move. */
static void feed_split(const uint8_t *all, size_t n, size_t a, size_t b)
{
	struct iovec iov[5] = {
		{(void *)(uintptr_t)all, a},
		{NULL, 0},
		{(void *)(uintptr_t)(all + a), b - a},
		{(void *)(uintptr_t)(all + b), n - b},
		{(void *)(uintptr_t)all, 99}, /* did not move */
	};
	capture_feed_iov(&stream, &ctx, REGISTRY_RECEIVED, iov, 5, n, 1000.0);
}

/* json with the figure of every "memory_held" blanked: what the decoders
 * hold depends on how their input was cut (a message whole in one buffer
 * is read where it lies, one cut in pieces is gathered in a buffer), and
 * nothing else recorded may. */
static char *without_memory_held(char *json)
{
	static const char key[] = "\"memory_held\": ";

	for (char *p = strstr(json, key); p; p = strstr(p, key)) {
		p += sizeof(key) - 1;
		while (*p >= '0' && *p <= '9')
			*p++ = '#';
	}
	return json;
}

/* Vectored calls, split anywhere, record what plain buffers do: the
 * request with early frames (the handshake path), then, after the answer,
 * frames (the path that records a whole call under one lock). */
Test(capture, vectored_calls_split_anywhere_record_what_one_buffer_does)
{
	uint8_t first[256], frames[64];
	size_t n1 = strlen(request), n2 = 0;
	char *want;

	memcpy(first, request, n1);
	memcpy(first + n1, masked_hello, sizeof(masked_hello));
	n1 += sizeof(masked_hello);
	memcpy(frames, masked_hello, sizeof(masked_hello));
	n2 += sizeof(masked_hello);
	memcpy(frames + n2, client_close, sizeof(client_close));
	n2 += sizeof(client_close);

	feed(REGISTRY_RECEIVED, first, n1);
	feed(REGISTRY_SENT, accepted, strlen(accepted));
	feed(REGISTRY_RECEIVED, frames, n2);
	want = without_memory_held(snapshot());
	HAS(want, "\"messages_received\": 3");
	HAS(want, "\"text\": \"Hello\"");
	for (size_t a = 0; a <= n2; a++) {
		for (size_t b = a; b <= n2; b++) {
			size_t a1 = a * n1 / n2, b1 = b * n1 / n2;
			teardown();
			setup();
			feed_split(first, n1, a1, b1);
			feed(REGISTRY_SENT, accepted, strlen(accepted));
			feed_split(frames, n2, a, b);
			char *got = without_memory_held(snapshot());
			cr_assert_str_eq(got, want, "split at %zu, %zu", a, b);
			free(got);
		}
	}
	free(want);
}

Test(capture, bytes_that_cannot_start_a_request_are_ignored_at_once)
{
	static const uint8_t tls[] = {0x16, 0x03, 0x01, 0x02, 0x00};
	feed(REGISTRY_RECEIVED, tls, sizeof(tls));
	cr_assert(capture_ignored(&stream));
	cr_assert_null(stream.request, "nothing allocated for it");
	char *json = snapshot();
	HAS(json, "\"connections\": 0");
	free(json);
}

Test(capture, a_plain_http_request_is_not_recorded)
{
	static const char get[] = "GET /index.html HTTP/1.1\r\n"
				  "Host: x\r\n\r\n";
	feed(REGISTRY_RECEIVED, get, strlen(get));
	cr_assert(capture_ignored(&stream));
	capture_close(&stream, &ctx, 1001.0);
	char *json = snapshot();
	HAS(json, "\"connections\": 0");
	free(json);
}

/* Feeds method, then header lines until the block is over the parser's
 * limit; the stream gives up. */
static void feed_oversized(const char *method)
{
	static const char filler[] = "X-Filler: 0123456789abcdef0123456789\r\n";
	char line[64];

	snprintf(line, sizeof(line), "%s /ws HTTP/1.1\r\n", method);
	feed(REGISTRY_RECEIVED, line, strlen(line));
	for (size_t n = 0; n <= HTTP_UPGRADE_MAX_BLOCK; n += strlen(filler))
		feed(REGISTRY_RECEIVED, filler, strlen(filler));
	cr_assert(capture_ignored(&stream));
}

Test(capture, an_oversized_get_is_counted_but_not_listed)
{
	feed_oversized("GET");
	char *json = snapshot();
	HAS(json, "\"connections\": 0");
	HAS(json, "\"oversized_handshakes\": 1");
	free(json);
}

Test(capture, an_oversized_request_of_another_method_is_not_counted)
{
	feed_oversized("POST");
	char *json = snapshot();
	HAS(json, "\"oversized_handshakes\": 0");
	free(json);
}

Test(capture, a_rejected_upgrade_is_recorded_with_its_status)
{
	static const char forbidden[] = "HTTP/1.1 403 Forbidden\r\n"
					"Content-Length: 0\r\n\r\n";
	feed(REGISTRY_RECEIVED, request, strlen(request));
	feed(REGISTRY_SENT, forbidden, strlen(forbidden));
	cr_assert(capture_ignored(&stream));
	capture_close(&stream, &ctx, 1001.0);
	char *json = snapshot();
	HAS(json, "\"state\": \"rejected\"");
	HAS(json, "\"status\": 403");
	free(json);
}

Test(capture, client_frames_sent_before_the_answer_are_decoded_after_it)
{
	/* RFC 6455 4.1 says wait; a client that pipelines is still seen. */
	size_t n = strlen(request);
	uint8_t *both = malloc(n + sizeof(masked_hello));
	memcpy(both, request, n);
	memcpy(both + n, masked_hello, sizeof(masked_hello));
	feed(REGISTRY_RECEIVED, both, n + sizeof(masked_hello));
	free(both);
	feed(REGISTRY_SENT, accepted, strlen(accepted));
	char *json = snapshot();
	HAS(json, "\"text\": \"Hello\"");
	HAS(json, "\"received\": {\"messages\": 1");
	free(json);
}

Test(capture, first_frames_in_the_same_write_as_the_answer_are_decoded)
{
	size_t n = strlen(accepted);
	uint8_t *both = malloc(n + sizeof(hello));
	memcpy(both, accepted, n);
	memcpy(both + n, hello, sizeof(hello));
	feed(REGISTRY_RECEIVED, request, strlen(request));
	feed(REGISTRY_SENT, both, n + sizeof(hello));
	free(both);
	char *json = snapshot();
	HAS(json, "\"sent\": {\"messages\": 1");
	free(json);
}

Test(capture, unseen_bytes_stop_that_direction_with_a_gap_error)
{
	feed(REGISTRY_RECEIVED, request, strlen(request));
	feed(REGISTRY_SENT, accepted, strlen(accepted));
	capture_gap(&stream, &ctx, REGISTRY_SENT);
	feed(REGISTRY_SENT, hello, sizeof(hello));
	feed(REGISTRY_RECEIVED, masked_hello, sizeof(masked_hello));
	char *json = snapshot();
	HAS(json, "\"error_name\": \"gap\"");
	HAS(json, "\"sent\": {\"messages\": 0");
	HAS(json, "\"received\": {\"messages\": 1");
	free(json);
}

Test(capture, a_protocol_error_is_recorded_and_the_other_direction_goes_on)
{
	feed(REGISTRY_RECEIVED, request, strlen(request));
	feed(REGISTRY_SENT, accepted, strlen(accepted));
	feed(REGISTRY_RECEIVED, hello, sizeof(hello)); /* unmasked: wrong */
	feed(REGISTRY_SENT, hello, sizeof(hello));
	char *json = snapshot();
	HAS(json, "\"error_name\": \"unmasked_client_frame\"");
	HAS(json, "\"sent\": {\"messages\": 1");
	free(json);
}

Test(capture, a_socket_that_ends_without_a_close_frame_gets_1006)
{
	feed(REGISTRY_RECEIVED, request, strlen(request));
	feed(REGISTRY_SENT, accepted, strlen(accepted));
	capture_close(&stream, &ctx, 1003.0);
	cr_assert_eq(stream.phase, CAPTURE_SNIFF, "ready for a new socket");
	char *json = snapshot();
	HAS(json, "\"state\": \"closed\"");
	HAS(json, "\"code\": 1006");
	free(json);
}

Test(capture, permessage_deflate_agreed_in_the_answer_is_inflated)
{
	static const char deflate_answer[] =
		"HTTP/1.1 101 Switching Protocols\r\n"
		"Upgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
	/* RFC 7692 7.2.3.1, sent by the server. */
	static const uint8_t compressed[] = {0xc1, 0x07, 0xf2, 0x48, 0xcd,
					     0xc9, 0xc9, 0x07, 0x00};
	feed(REGISTRY_RECEIVED, request, strlen(request));
	feed(REGISTRY_SENT, deflate_answer, strlen(deflate_answer));
	feed(REGISTRY_SENT, compressed, sizeof(compressed));
	char *json = snapshot();
	HAS(json, "\"extensions\": \"permessage-deflate\"");
	HAS(json, "\"compressed\": true");
	HAS(json, "\"text\": \"Hello\"");
	free(json);
}

Test(capture, an_answer_before_the_request_ends_gives_up_quietly)
{
	feed(REGISTRY_RECEIVED, request, 20);
	feed(REGISTRY_SENT, accepted, strlen(accepted));
	cr_assert(capture_ignored(&stream));
	char *json = snapshot();
	HAS(json, "\"connections\": 0");
	free(json);
}

/* A text frame of n bytes of c, masked with a fixed key when masked, in
 * out (n + 14 bytes of room). Returns its length. */
static size_t text_frame(uint8_t *out, size_t n, char c, bool masked)
{
	static const uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
	size_t h = 0;

	out[h++] = 0x81;
	if (n < 126) {
		out[h++] = (uint8_t)((masked ? 0x80 : 0) | n);
	} else {
		out[h++] = (uint8_t)((masked ? 0x80 : 0) | 126);
		out[h++] = (uint8_t)(n >> 8);
		out[h++] = (uint8_t)n;
	}
	if (masked) {
		memcpy(out + h, key, 4);
		h += 4;
	}
	for (size_t i = 0; i < n; i++)
		out[h + i] = (uint8_t)(c ^ (masked ? key[i & 3] : 0));
	return h + n;
}

Test(capture, a_busy_connection_holds_at_most_100_kib_decoders_included)
{
	static uint8_t in[12000], out[12000];

	feed(REGISTRY_RECEIVED, request, strlen(request));
	feed(REGISTRY_SENT, accepted, strlen(accepted));
	/* From the start of frames, the stream itself is counted. */
	size_t idle = registry_memory_held(registry);
	cr_assert_geq(idle, sizeof(stream));
	cr_assert_lt(idle, 4096);
	for (int i = 0; i < 300; i++) {
		/* Every size up to the 10 KiB kept per text, both ways. */
		size_t n = 1 + (size_t)(i * 4099) % 10240;
		size_t a = text_frame(in, n, 'a' + i % 26, true);
		size_t b = text_frame(out, n, 'A' + i % 26, false);

		/* The client's in two reads, so that its decoder gathers
		 * the text in its buffer; the server's whole in one write,
		 * read where it lies. */
		feed(REGISTRY_RECEIVED, in, a / 2);
		feed(REGISTRY_RECEIVED, in + a / 2, a - a / 2);
		feed(REGISTRY_SENT, out, b);
		cr_assert_leq(registry_memory_held(registry), 100u << 10,
			      "after message %d of %zu bytes", i, n);
	}
	cr_assert_eq(stream.phase, CAPTURE_FRAMES);
	/* The decoders' kept-prefix buffers are in the count: at least the
	 * biggest text the client sent, beyond the stored data. */
	size_t held = registry_memory_held(registry);
	cr_assert_geq(held - registry_memory_used(registry),
		      sizeof(stream) + 10000);
	/* Closed, the stream gives them back; the stored data stays. */
	capture_close(&stream, &ctx, 1001.0);
	cr_assert_leq(registry_memory_held(registry) + sizeof(stream) + 10000,
		      held);
	char *json = snapshot();
	HAS(json, "\"memory_held\": ");
	free(json);
}

/* Feeds one text message of len bytes from sender e (the client's as
 * received, the server's as sent), compressed. */
static void feed_compressed(struct ws_encoder *e, enum registry_dir dir,
			    const char *text, size_t len)
{
	struct ws_encoder_buf wire = {0};
	struct ws_encoder_message m = {.opcode = 0x1,
				       .payload = (const uint8_t *)text,
				       .len = len, .compress = true};

	ws_encoder_put_message(e, &wire, &m);
	feed(dir, wire.data, wire.len);
	ws_encoder_buf_free(&wire);
}

Test(capture, after_a_large_compressed_message_small_ones_are_still_kept)
{
	/* Inflating a message keeps its prefix in the decoder's buffer,
	 * up to 10 KiB a direction: given back once the message is
	 * recorded, and not counted meanwhile. The two inflate windows
	 * (about 40 KiB each) count in the registry's total, not against
	 * the connection's 100 KiB for what wsdbg keeps: both prefixes of
	 * 10 KiB are kept, and the small texts after them. */
	static const char answer[] =
		"HTTP/1.1 101 Switching Protocols\r\n"
		"Upgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
	struct ws_encoder client, server;
	static char big[12000];
	char small[32];

	ws_encoder_init(&client, &(struct ws_encoder_config){
		.masked = true, .deflate = true, .window_bits = 15,
		.level = -1, .seed = 7});
	ws_encoder_init(&server, &(struct ws_encoder_config){
		.deflate = true, .window_bits = 15, .level = -1, .seed = 9});
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + (i * 7 + i / 13) % 26);
	feed(REGISTRY_RECEIVED, request, strlen(request));
	feed(REGISTRY_SENT, answer, strlen(answer));
	feed_compressed(&client, REGISTRY_RECEIVED, big, sizeof(big));
	feed_compressed(&server, REGISTRY_SENT, big, sizeof(big));
	cr_assert_leq(stream.sent.keep_cap, 256, "given back after the message");
	cr_assert_leq(stream.received.keep_cap, 256);
	cr_assert_geq(registry_memory_used(registry), 2 * 10240);
	for (int i = 0; i < 5; i++) {
		int n = snprintf(small, sizeof(small), "small %d", i);

		feed_compressed(&client, REGISTRY_RECEIVED, small, (size_t)n);
		feed_compressed(&server, REGISTRY_SENT, small, (size_t)n);
		size_t inflate = ws_decoder_inflate_memory(&stream.sent) +
				 ws_decoder_inflate_memory(&stream.received);

		cr_assert_gt(ws_decoder_inflate_memory(&stream.sent), 30u << 10);
		cr_assert_gt(ws_decoder_inflate_memory(&stream.received),
			     30u << 10);
		cr_assert_leq(registry_memory_held(registry) - inflate,
			      100u << 10);
	}
	cr_assert_geq(registry_memory_used(registry), 2 * 10240,
		      "the big texts are still kept");
	char *json = snapshot();
	HAS(json, "\"text\": \"small 0\"");
	HAS(json, "\"text\": \"small 4\"");
	free(json);
	ws_encoder_free(&client);
	ws_encoder_free(&server);
}

Test(capture, an_untracked_compressed_connection_holds_no_inflate_state)
{
	/* Past max_connections, a connection is counted in the totals but
	 * not detailed, and what its stream holds is not in the registry's
	 * count: it must not inflate (about 40 KiB a direction, for each of
	 * possibly thousands), so its compressed messages count their wire
	 * size. */
	static const char answer[] =
		"HTTP/1.1 101 Switching Protocols\r\n"
		"Upgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
	struct registry_config cfg;
	struct registry *small;
	struct capture_context ctx1;
	struct capture_stream first, second;
	struct ws_encoder client;
	static char text[4000];

	registry_config_defaults(&cfg);
	cfg.max_connections = 1;
	small = registry_new(&cfg);
	cr_assert_not_null(small);
	ctx1 = (struct capture_context){.registry = small};
	capture_init(&first, 8);
	capture_init(&second, 9);
	capture_feed(&first, &ctx1, REGISTRY_RECEIVED,
		     (const uint8_t *)request, strlen(request), 1.0);
	capture_feed(&first, &ctx1, REGISTRY_SENT, (const uint8_t *)answer,
		     strlen(answer), 1.0);
	capture_feed(&second, &ctx1, REGISTRY_RECEIVED,
		     (const uint8_t *)request, strlen(request), 2.0);
	capture_feed(&second, &ctx1, REGISTRY_SENT, (const uint8_t *)answer,
		     strlen(answer), 2.0);
	cr_assert_eq(second.id, 0, "the second is not detailed");
	cr_assert_eq(second.phase, CAPTURE_FRAMES);

	ws_encoder_init(&client, &(struct ws_encoder_config){
		.masked = true, .deflate = true, .window_bits = 15,
		.level = -1, .seed = 3});
	memset(text, 'z', sizeof(text));
	struct ws_encoder_buf wire = {0};
	struct ws_encoder_message m = {.opcode = 0x1,
				       .payload = (const uint8_t *)text,
				       .len = sizeof(text), .compress = true};
	ws_encoder_put_message(&client, &wire, &m);
	capture_feed(&second, &ctx1, REGISTRY_RECEIVED, wire.data, wire.len,
		     3.0);
	cr_assert_eq(second.received_memory, 0, "nothing held: %zu",
		     second.received_memory);
	cr_assert_eq(ws_decoder_inflate_memory(&second.received), 0);

	struct registry_snapshot_options opt = {.pid = 1, .process = "t",
						.taken_at = 4.0};
	size_t len;
	char *json = registry_snapshot_json(small, &opt, &len);
	cr_assert_not_null(json);
	HAS(json, "\"untracked\": 1");
	HAS(json, "\"messages_received\": 1");
	free(json);
	ws_encoder_buf_free(&wire);
	ws_encoder_free(&client);
	capture_discard(&first);
	capture_discard(&second);
	registry_free(small);
}

/* How many times text occurs in s. */
static int count_of(const char *s, const char *text)
{
	int n = 0;

	for (const char *p = strstr(s, text); p; p = strstr(p + 1, text))
		n++;
	return n;
}

Test(capture, text_that_is_not_utf8_is_flagged_stored_cut_or_not_kept)
{
	/* Texts handed out in place reach the registry with their UTF-8
	 * not judged yet (ws_decoder.h, defer_utf8): it is judged as the
	 * text is copied, over the rest where it lies when only a prefix
	 * is stored, and where it lies when nothing is. Each way, a bad
	 * byte at the end of each direction's text (past what a short
	 * max_message_size stores), and a valid one with a two-byte
	 * character. */
	for (int way = 0; way < 3; way++) {
		struct registry_config cfg;
		uint8_t in[64];
		size_t n;

		registry_config_defaults(&cfg);
		cfg.metadata_only = way == 1;
		cfg.max_message_size = way == 2 ? 8 : cfg.max_message_size;
		capture_discard(&stream);
		registry_free(registry);
		registry = registry_new(&cfg);
		ctx.registry = registry;
		feed(REGISTRY_RECEIVED, request, strlen(request));
		feed(REGISTRY_SENT, accepted, strlen(accepted));
		for (int masked = 1; masked >= 0; masked--) {
			enum registry_dir dir = masked ? REGISTRY_RECEIVED
						       : REGISTRY_SENT;
			n = text_frame(in, 20, 'v', masked);
			in[n - 1] ^= 0xff; /* 'v' becomes 0x89, alone */
			feed(dir, in, n);
			n = text_frame(in, 20, 'v', masked);
			in[n - 12] ^= 'v' ^ 0xc3; /* é */
			in[n - 11] ^= 'v' ^ 0xa9;
			feed(dir, in, n);
		}
		char *json = snapshot();
		cr_assert_eq(count_of(json, "\"utf8_valid\": false"), 2,
			     "way %d:\n%s", way, json);
		cr_assert_eq(count_of(json, "\"utf8_valid\": true"), 2,
			     "way %d:\n%s", way, json);
		if (way == 0)
			HAS(json, "\"text\": \"vvvvvvvv\xc3\xa9vvvvvvvvvv\"");
		free(json);
	}
}

/* ---- deflate bombs (ws_decoder.h: the inflate cap) ---------------------- */

/* The upgrade with permessage-deflate agreed, as extensions says, fed in
 * the server role. */
static void open_deflate(const char *extensions)
{
	char answer[512];

	snprintf(answer, sizeof(answer),
		 "HTTP/1.1 101 Switching Protocols\r\n"
		 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		 "Sec-WebSocket-Extensions: %s\r\n\r\n", extensions);
	feed(REGISTRY_RECEIVED, request, strlen(request));
	feed(REGISTRY_SENT, answer, strlen(answer));
}

/* Appends a compressed text of len zeros to wire; returns its payload
 * bytes on the wire. */
static uint64_t put_zeros(struct ws_encoder *e, struct ws_encoder_buf *wire,
			  size_t len)
{
	uint8_t *zeros = calloc(1, len);
	cr_assert_not_null(zeros);
	struct ws_encoder_message m = {.opcode = 0x1, .payload = zeros,
				       .len = len, .compress = true};
	uint64_t n = ws_encoder_put_message(e, wire, &m);
	free(zeros);
	return n;
}

/* Feeds wire to the received side in reads of at most step bytes. */
static void feed_reads(const struct ws_encoder_buf *wire, size_t step)
{
	for (size_t off = 0; off < wire->len; off += step)
		feed(REGISTRY_RECEIVED, wire->data + off,
		     wire->len - off < step ? wire->len - off : step);
}

Test(capture, a_deflate_bomb_is_recorded_capped_what_follows_not_inflated_and_the_close_seen)
{
	/* 64 MiB of zeros in about 64 KB, read 4 KiB at a time, then a
	 * small compressed text that refers back into the window, then a
	 * close: the bomb stops at 1 MiB, flagged; with context takeover
	 * the text is listed with its wire size, not inflated, and no
	 * error is recorded; the close is. */
	struct ws_encoder client;
	struct ws_encoder_buf wire = {0};

	open_deflate("permessage-deflate");
	ws_encoder_init(&client, &(struct ws_encoder_config){
		.masked = true, .deflate = true, .window_bits = 15,
		.level = 6, .seed = 11});
	uint64_t bomb = put_zeros(&client, &wire, (size_t)64 << 20);
	uint64_t after = put_zeros(&client, &wire, 5000);
	ws_encoder_put_control(&client, &wire, 0x8,
			       (const uint8_t *)"\x03\xe8" "bye", 5);
	feed_reads(&wire, 4096);
	cr_assert_eq(ws_decoder_inflate_memory(&stream.received), 0,
		     "the inflate stream is freed with its lost window");
	char *json = snapshot();
	char want[256];
	snprintf(want, sizeof(want),
		 "\"size\": 1048576, \"frames\": 1, \"compressed\": true, "
		 "\"inflated\": true, \"size_is_lower_bound\": true, "
		 "\"truncated\": true");
	HAS(json, want);
	snprintf(want, sizeof(want),
		 "\"size\": %llu, \"frames\": 1, \"compressed\": true, "
		 "\"inflated\": false, \"size_is_lower_bound\": false",
		 (unsigned long long)after);
	HAS(json, want);
	HAS(json, "\"inflate_capped_received\": 1");
	HAS(json, "\"not_inflated_received\": 1");
	snprintf(want, sizeof(want), "\"received\": {\"messages\": 3, "
		 "\"bytes\": %llu", (unsigned long long)(1048576 + after + 5));
	HAS(json, want);
	HAS(json, "\"close\": {\"code\": 1000, \"reason\": \"bye\", "
		  "\"by\": \"client\"}");
	HAS(json, "\"error\": null");
	cr_assert_gt(bomb, 60000);
	free(json);
	ws_encoder_buf_free(&wire);
	ws_encoder_free(&client);
}

Test(capture, after_a_deflate_bomb_with_client_no_context_takeover_the_next_message_is_inflated)
{
	struct ws_encoder client;
	struct ws_encoder_buf wire = {0};
	static const char after[] = "hello after the bomb";

	open_deflate("permessage-deflate; client_no_context_takeover");
	ws_encoder_init(&client, &(struct ws_encoder_config){
		.masked = true, .deflate = true, .window_bits = 15,
		.no_context_takeover = true, .level = 6, .seed = 12});
	put_zeros(&client, &wire, (size_t)8 << 20);
	struct ws_encoder_message m = {.opcode = 0x1,
				       .payload = (const uint8_t *)after,
				       .len = strlen(after), .compress = true};
	ws_encoder_put_message(&client, &wire, &m);
	feed_reads(&wire, 65536);
	cr_assert_gt(ws_decoder_inflate_memory(&stream.received), 0,
		     "the window is kept: it starts afresh each message");
	char *json = snapshot();
	HAS(json, "\"size_is_lower_bound\": true");
	HAS(json, "\"text\": \"hello after the bomb\"");
	HAS(json, "\"inflate_capped_received\": 1");
	HAS(json, "\"not_inflated_received\": 0");
	free(json);
	ws_encoder_buf_free(&wire);
	ws_encoder_free(&client);
}

Test(capture, one_read_of_many_bombs_inflates_within_the_budget_of_the_call)
{
	/* 200 compressed texts of 512 KiB each, under the 1 MiB cap one by
	 * one, about 560 bytes on the wire each, with no_context_takeover,
	 * in one read: the read may inflate 1 MiB + 32 bytes per byte, not
	 * 100 MiB. */
	struct ws_encoder client;
	struct ws_encoder_buf wire = {0};

	open_deflate("permessage-deflate; client_no_context_takeover");
	ws_encoder_init(&client, &(struct ws_encoder_config){
		.masked = true, .deflate = true, .window_bits = 15,
		.no_context_takeover = true, .level = 6, .seed = 13});
	for (int i = 0; i < 200; i++)
		put_zeros(&client, &wire, (size_t)512 << 10);
	feed(REGISTRY_RECEIVED, wire.data, wire.len);
	char *json = snapshot();
	HAS(json, "\"messages_received\": 200");
	const char *p = strstr(json, "\"bytes_received\": ");
	cr_assert_not_null(p);
	unsigned long long inflated = strtoull(p + 18, NULL, 10);
	unsigned long long budget = (1u << 20) +
				    WS_DECODER_INFLATE_PER_BYTE * wire.len;
	cr_assert_leq(inflated, budget, "%llu > %llu", inflated, budget);
	cr_assert_lt(budget, 8u << 20);
	HAS_NOT(json, "\"inflate_capped_received\": 0");
	free(json);
	ws_encoder_buf_free(&wire);
	ws_encoder_free(&client);
}

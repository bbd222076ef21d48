/*
 * test_http_upgrade.c - the handshake parser, both roles.
 *
 * Most tests feed a message through splits_check(): whole, one byte at a
 * time and cut at every two-way split, and compare the parser's report, a
 * text log, with the one expected. The log says how the feed ended and how
 * many bytes were left to the caller, then (on DONE) the first line, every
 * header kept, and what the message means for WebSocket.
 */
#include "wsdbg/http_upgrade.h"
#include "wsdbg/ws_extensions.h"

#include "splits.h"
#include "strbuf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Contexts for run_parser(): the role to parse. */
static enum http_upgrade_role request_role = HTTP_UPGRADE_REQUEST;
static enum http_upgrade_role response_role = HTTP_UPGRADE_RESPONSE;

static const char *status_name(enum http_upgrade_status st)
{
	switch (st) {
	case HTTP_UPGRADE_NEED_MORE:
		return "NEED_MORE";
	case HTTP_UPGRADE_DONE:
		return "DONE";
	case HTTP_UPGRADE_NOT_HTTP:
		return "NOT_HTTP";
	case HTTP_UPGRADE_TOO_LARGE:
		return "TOO_LARGE";
	case HTTP_UPGRADE_MALFORMED:
		return "MALFORMED";
	}
	return "?";
}

static const char *kind_name(enum http_upgrade_kind kind)
{
	switch (kind) {
	case HTTP_UPGRADE_KIND_UNKNOWN:
		return "unknown";
	case HTTP_UPGRADE_KIND_WEBSOCKET_REQUEST:
		return "websocket-request";
	case HTTP_UPGRADE_KIND_PLAIN_REQUEST:
		return "plain-request";
	case HTTP_UPGRADE_KIND_ACCEPTED:
		return "accepted";
	case HTTP_UPGRADE_KIND_REJECTED:
		return "rejected";
	case HTTP_UPGRADE_KIND_OTHER_PROTOCOL:
		return "other-protocol";
	}
	return "?";
}

static void log_problems(struct strbuf *b, unsigned problems)
{
	static const char *const names[] = {
		"NOT_GET", "OLD_HTTP", "NO_CONNECTION_UPGRADE", "BAD_KEY",
		"BAD_VERSION", "NO_ACCEPT", "NO_HOST",
	};
	const char *sep = "";

	if (problems == 0)
		strbuf_printf(b, "none");
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (problems & (1u << i)) {
			strbuf_printf(b, "%s%s", sep, names[i]);
			sep = "|";
		}
	}
}

static void log_slice(struct strbuf *b, const struct http_upgrade *p,
		      struct http_slice s)
{
	const char *text = http_upgrade_str(p, s);

	cr_assert_eq(strlen(text), s.len, "slice not NUL-terminated at len");
	strbuf_escaped(b, (const uint8_t *)text, s.len);
}

static void log_results(struct strbuf *b, const struct http_upgrade *p)
{
	if (p->role == HTTP_UPGRADE_REQUEST) {
		strbuf_printf(b, "request method=");
		log_slice(b, p, p->method);
		strbuf_printf(b, " target=");
		log_slice(b, p, p->target);
		strbuf_printf(b, " path=");
		log_slice(b, p, p->path);
		strbuf_printf(b, " query=");
		if (p->has_query)
			log_slice(b, p, p->query);
		else
			strbuf_printf(b, "(none)");
	} else {
		strbuf_printf(b, "response status=%d reason=", p->status);
		log_slice(b, p, p->reason);
	}
	strbuf_printf(b, " http=1.%d\n", p->version_minor);
	for (size_t i = 0; i < p->nheaders; i++) {
		log_slice(b, p, p->headers[i].name);
		strbuf_printf(b, "=");
		log_slice(b, p, p->headers[i].value);
		strbuf_printf(b, "\n");
	}
	strbuf_printf(b, "dropped=%u kind=%s problems=", p->headers_dropped,
		      kind_name(http_upgrade_kind(p)));
	log_problems(b, http_upgrade_problems(p));
	strbuf_printf(b, "\n");
}

/* Feeds pieces to a fresh parser of role *ctx and logs what it reports;
 * checks the feed contract on the way (consumed, sticky final status). */
static char *run_parser(void *ctx, const struct splits_piece *pieces,
			size_t n)
{
	struct http_upgrade *p = malloc(sizeof(*p));
	enum http_upgrade_status st = HTTP_UPGRADE_NEED_MORE;
	struct strbuf b = { 0 };
	size_t left = 0;

	cr_assert_not_null(p);
	http_upgrade_init(p, *(const enum http_upgrade_role *)ctx);
	for (size_t i = 0; i < n; i++) {
		size_t used = (size_t)-1;
		enum http_upgrade_status now = http_upgrade_feed(
			p, (const char *)pieces[i].data, pieces[i].len, &used);

		cr_assert_leq(used, pieces[i].len);
		if (st != HTTP_UPGRADE_NEED_MORE) {
			cr_assert_eq(now, st, "final status changed");
			cr_assert_eq(used, 0, "consumed after final status");
		} else if (now == HTTP_UPGRADE_NEED_MORE) {
			cr_assert_eq(used, pieces[i].len);
		}
		st = now;
		left += pieces[i].len - used;
	}
	strbuf_printf(&b, "%s left=%zu\n", status_name(st), left);
	if (st == HTTP_UPGRADE_DONE)
		log_results(&b, p);
	else
		cr_assert_eq(http_upgrade_kind(p), HTTP_UPGRADE_KIND_UNKNOWN);
	free(p);
	return strbuf_take(&b);
}

/* Runs role's parser over data[0..len) cut every way; checks the log. */
static void expect_n(enum http_upgrade_role role, const char *data,
		     size_t len, const char *want)
{
	char *log = splits_check((const uint8_t *)data, len, run_parser,
				 role == HTTP_UPGRADE_REQUEST ? &request_role :
								&response_role);

	cr_assert_str_eq(log, want);
	free(log);
}

static void expect_request(const char *text, const char *want)
{
	expect_n(HTTP_UPGRADE_REQUEST, text, strlen(text), want);
}

static void expect_response(const char *text, const char *want)
{
	expect_n(HTTP_UPGRADE_RESPONSE, text, strlen(text), want);
}

/* Parses text whole into *p; asserts DONE with nothing left over. */
static void parse_whole(struct http_upgrade *p, enum http_upgrade_role role,
			const char *text)
{
	size_t used = 0;

	http_upgrade_init(p, role);
	cr_assert_eq(http_upgrade_feed(p, text, strlen(text), &used),
		     HTTP_UPGRADE_DONE);
	cr_assert_eq(used, strlen(text));
}

static const char rfc6455_request[] =
	"GET /chat HTTP/1.1\r\n"
	"Host: server.example.com\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	"Origin: http://example.com\r\n"
	"Sec-WebSocket-Protocol: chat, superchat\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"\r\n";

static const char rfc6455_response[] =
	"HTTP/1.1 101 Switching Protocols\r\n"
	"Upgrade: websocket\r\n"
	"Connection: Upgrade\r\n"
	"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	"Sec-WebSocket-Protocol: chat\r\n"
	"\r\n";

/* RFC 6455 1.2 */
Test(http_upgrade, rfc6455_example_request_is_a_websocket_request_without_problems)
{
	expect_request(rfc6455_request,
		       "DONE left=0\n"
		       "request method=GET target=/chat path=/chat "
		       "query=(none) http=1.1\n"
		       "host=server.example.com\n"
		       "upgrade=websocket\n"
		       "connection=Upgrade\n"
		       "sec-websocket-key=dGhlIHNhbXBsZSBub25jZQ==\n"
		       "origin=http://example.com\n"
		       "sec-websocket-protocol=chat, superchat\n"
		       "sec-websocket-version=13\n"
		       "dropped=0 kind=websocket-request problems=none\n");
}

/* RFC 6455 1.2 */
Test(http_upgrade, rfc6455_example_response_is_accepted_without_problems)
{
	expect_response(rfc6455_response,
			"DONE left=0\n"
			"response status=101 reason=Switching Protocols "
			"http=1.1\n"
			"upgrade=websocket\n"
			"connection=Upgrade\n"
			"sec-websocket-accept=s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n"
			"sec-websocket-protocol=chat\n"
			"dropped=0 kind=accepted problems=none\n");
}

static const char chrome_request[] =
	"GET /ws/chat?room=lobby&token=abc HTTP/1.1\r\n"
	"Host: localhost:8080\r\n"
	"Connection: Upgrade\r\n"
	"Pragma: no-cache\r\n"
	"Cache-Control: no-cache\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
	"(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n"
	"Upgrade: websocket\r\n"
	"Origin: http://localhost:8080\r\n"
	"Sec-WebSocket-Version: 13\r\n"
	"Accept-Encoding: gzip, deflate, br, zstd\r\n"
	"Accept-Language: en-US,en;q=0.9\r\n"
	"Cookie: session=3f9a1c; theme=dark\r\n"
	"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
	"Sec-WebSocket-Extensions: permessage-deflate; "
	"client_max_window_bits\r\n"
	"\r\n";

Test(http_upgrade, chrome_upgrade_request_with_deflate_offer_and_cookie_is_parsed_whole)
{
	expect_request(
		chrome_request,
		"DONE left=0\n"
		"request method=GET target=/ws/chat?room=lobby&token=abc "
		"path=/ws/chat query=room=lobby&token=abc http=1.1\n"
		"host=localhost:8080\n"
		"connection=Upgrade\n"
		"pragma=no-cache\n"
		"cache-control=no-cache\n"
		"user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
		"(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\n"
		"upgrade=websocket\n"
		"origin=http://localhost:8080\n"
		"sec-websocket-version=13\n"
		"accept-encoding=gzip, deflate, br, zstd\n"
		"accept-language=en-US,en;q=0.9\n"
		"cookie=session=3f9a1c; theme=dark\n"
		"sec-websocket-key=x3JJHMbDL1EzLkh9GBhXDw==\n"
		"sec-websocket-extensions=permessage-deflate; "
		"client_max_window_bits\n"
		"dropped=0 kind=websocket-request problems=none\n");
}

Test(http_upgrade, chrome_request_headers_are_found_by_lower_case_name)
{
	struct http_upgrade *p = malloc(sizeof(*p));

	parse_whole(p, HTTP_UPGRADE_REQUEST, chrome_request);
	const struct http_header *cookie = http_upgrade_header(p, "cookie");
	cr_assert_not_null(cookie);
	cr_assert_str_eq(http_upgrade_str(p, cookie->value),
			 "session=3f9a1c; theme=dark");
	cr_assert(http_header_is_secret(http_upgrade_str(p, cookie->name)));
	cr_assert_null(http_upgrade_header(p, "authorization"));
	cr_assert_null(http_upgrade_header(p, "Host"),
		       "names are looked up as given, in lower case");
	free(p);
}

/* websockets (Python) 12 answering an offer with window bits. */
Test(http_upgrade, python_websockets_response_with_deflate_parameters_is_accepted)
{
	static const char text[] =
		"HTTP/1.1 101 Switching Protocols\r\n"
		"Date: Mon, 24 Nov 2025 10:00:00 GMT\r\n"
		"Upgrade: websocket\r\n"
		"Connection: Upgrade\r\n"
		"Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n"
		"Sec-WebSocket-Extensions: permessage-deflate; "
		"server_max_window_bits=12; client_max_window_bits=12\r\n"
		"Server: Python/3.11 websockets/12.0\r\n"
		"\r\n";

	expect_response(text,
			"DONE left=0\n"
			"response status=101 reason=Switching Protocols "
			"http=1.1\n"
			"date=Mon, 24 Nov 2025 10:00:00 GMT\n"
			"upgrade=websocket\n"
			"connection=Upgrade\n"
			"sec-websocket-accept=HSmrc0sMlYUkAGmm5OPpG2HaGWk=\n"
			"sec-websocket-extensions=permessage-deflate; "
			"server_max_window_bits=12; client_max_window_bits=12\n"
			"server=Python/3.11 websockets/12.0\n"
			"dropped=0 kind=accepted problems=none\n");

	struct http_upgrade *p = malloc(sizeof(*p));
	char ext[256];
	struct ws_deflate_params params;

	parse_whole(p, HTTP_UPGRADE_RESPONSE, text);
	size_t n = http_upgrade_join(p, "sec-websocket-extensions", ext,
				     sizeof(ext));
	cr_assert_eq(ws_deflate_params_parse(ext, n, &params),
		     WS_EXTENSIONS_OK);
	cr_assert(params.enabled);
	cr_assert_eq(params.server_max_window_bits, 12);
	cr_assert_eq(params.client_max_window_bits, 12);
	free(p);
}

/* ws (Node) answering Chrome's offer; it writes no reason phrase case
 * differently but answers with lower-case "websocket". */
Test(http_upgrade, node_ws_response_is_accepted)
{
	expect_response("HTTP/1.1 101 Switching Protocols\r\n"
			"Upgrade: websocket\r\n"
			"Connection: Upgrade\r\n"
			"Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n"
			"Sec-WebSocket-Extensions: permessage-deflate; "
			"client_max_window_bits=15\r\n"
			"\r\n",
			"DONE left=0\n"
			"response status=101 reason=Switching Protocols "
			"http=1.1\n"
			"upgrade=websocket\n"
			"connection=Upgrade\n"
			"sec-websocket-accept=HSmrc0sMlYUkAGmm5OPpG2HaGWk=\n"
			"sec-websocket-extensions=permessage-deflate; "
			"client_max_window_bits=15\n"
			"dropped=0 kind=accepted problems=none\n");
}

Test(http_upgrade, partial_header_block_takes_every_byte_and_needs_more)
{
	expect_request("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: webso",
		       "NEED_MORE left=0\n");
	expect_request("GET /chat HTTP/1.1\r\n", "NEED_MORE left=0\n");
	expect_request("GET /chat HTTP/1.1\r\nHost: a\r\n\r",
		       "NEED_MORE left=0\n");
	expect_response("HTTP/1.1 10", "NEED_MORE left=0\n");
}

Test(http_upgrade, header_names_in_any_case_are_lowered_and_tokens_match_any_case)
{
	expect_request("GET / HTTP/1.1\r\n"
		       "HOST: h\r\n"
		       "uPgRaDe: WebSocket\r\n"
		       "CONNECTION: UPGRADE\r\n"
		       "SEC-WEBSOCKET-KEY: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		       "sec-websocket-version: 13\r\n"
		       "\r\n",
		       "DONE left=0\n"
		       "request method=GET target=/ path=/ query=(none) "
		       "http=1.1\n"
		       "host=h\n"
		       "upgrade=WebSocket\n"
		       "connection=UPGRADE\n"
		       "sec-websocket-key=dGhlIHNhbXBsZSBub25jZQ==\n"
		       "sec-websocket-version=13\n"
		       "dropped=0 kind=websocket-request problems=none\n");
}

/* Firefox sends "Connection: keep-alive, Upgrade" (RFC 9110 7.6.1). */
Test(http_upgrade, connection_token_list_with_keep_alive_still_lists_upgrade)
{
	struct http_upgrade *p = malloc(sizeof(*p));

	parse_whole(p, HTTP_UPGRADE_REQUEST,
		    "GET /chat HTTP/1.1\r\n"
		    "Host: h\r\n"
		    "Connection: keep-alive, Upgrade\r\n"
		    "Upgrade: h2c ,websocket\r\n"
		    "\r\n");
	cr_assert(http_upgrade_has_token(p, "connection", "upgrade"));
	cr_assert(http_upgrade_has_token(p, "connection", "KEEP-ALIVE"));
	cr_assert(http_upgrade_has_token(p, "upgrade", "websocket"));
	cr_assert(http_upgrade_has_token(p, "upgrade", "h2c"));
	cr_assert_not(http_upgrade_has_token(p, "connection", "upgrad"));
	cr_assert_not(http_upgrade_has_token(p, "connection", "keep"));
	cr_assert_not(http_upgrade_has_token(p, "host", "websocket"));
	cr_assert_eq(http_upgrade_kind(p),
		     HTTP_UPGRADE_KIND_WEBSOCKET_REQUEST);
	cr_assert_eq(http_upgrade_problems(p),
		     HTTP_UPGRADE_PROBLEM_BAD_KEY |
			     HTTP_UPGRADE_PROBLEM_BAD_VERSION);
	free(p);
}

Test(http_upgrade, token_lists_are_searched_across_repeated_headers)
{
	struct http_upgrade *p = malloc(sizeof(*p));

	parse_whole(p, HTTP_UPGRADE_REQUEST,
		    "GET / HTTP/1.1\r\n"
		    "Connection: keep-alive\r\n"
		    "Connection: ,, Upgrade\r\n"
		    "\r\n");
	cr_assert(http_upgrade_has_token(p, "connection", "upgrade"));
	cr_assert_eq(http_upgrade_kind(p), HTTP_UPGRADE_KIND_PLAIN_REQUEST);
	free(p);
}

/* RFC 9110 5.3: repeated fields combine into one list with ", ". */
Test(http_upgrade, repeated_extensions_headers_are_kept_and_joined_with_comma)
{
	static const char text[] =
		"GET /chat HTTP/1.1\r\n"
		"Host: h\r\n"
		"Sec-WebSocket-Extensions: permessage-deflate\r\n"
		"X-Other: 1\r\n"
		"Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n"
		"\r\n";
	struct http_upgrade *p = malloc(sizeof(*p));
	char out[64];

	expect_request(text,
		       "DONE left=0\n"
		       "request method=GET target=/chat path=/chat "
		       "query=(none) http=1.1\n"
		       "host=h\n"
		       "sec-websocket-extensions=permessage-deflate\n"
		       "x-other=1\n"
		       "sec-websocket-extensions=x-webkit-deflate-frame\n"
		       "dropped=0 kind=plain-request problems=none\n");
	parse_whole(p, HTTP_UPGRADE_REQUEST, text);
	cr_assert_eq(http_upgrade_join(p, "sec-websocket-extensions", out,
				       sizeof(out)),
		     strlen("permessage-deflate, x-webkit-deflate-frame"));
	cr_assert_str_eq(out, "permessage-deflate, x-webkit-deflate-frame");
	cr_assert_eq(http_upgrade_join(p, "x-other", out, sizeof(out)), 1);
	cr_assert_str_eq(out, "1");
	cr_assert_eq(http_upgrade_join(p, "absent", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "");
	free(p);
}

Test(http_upgrade, join_truncates_to_cap_but_returns_the_length_needed)
{
	struct http_upgrade *p = malloc(sizeof(*p));
	char out[8];

	parse_whole(p, HTTP_UPGRADE_REQUEST,
		    "GET / HTTP/1.1\r\nA: abcd\r\nA: efgh\r\n\r\n");
	cr_assert_eq(http_upgrade_join(p, "a", out, sizeof(out)), 10);
	cr_assert_str_eq(out, "abcd, e");
	cr_assert_eq(http_upgrade_join(p, "a", out, 1), 10);
	cr_assert_str_eq(out, "");
	cr_assert_eq(http_upgrade_join(p, "a", NULL, 0), 10);
	free(p);
}

/* RFC 9112 5.2: obs-fold continues the previous value, joined by a space. */
Test(http_upgrade, folded_header_lines_continue_the_previous_value)
{
	expect_request("GET / HTTP/1.1\r\n"
		       "Host: h\r\n"
		       "X-Long: first  \r\n"
		       "   second\r\n"
		       "\tthird \t\r\n"
		       "X-Empty:\r\n"
		       " later\r\n"
		       "X-Blank-Fold: a\r\n"
		       "  \r\n"
		       "Upgrade: websocket\n"
		       "\r\n",
		       "DONE left=0\n"
		       "request method=GET target=/ path=/ query=(none) "
		       "http=1.1\n"
		       "host=h\n"
		       "x-long=first second third\n"
		       "x-empty=later\n"
		       "x-blank-fold=a\n"
		       "upgrade=websocket\n"
		       "dropped=0 kind=websocket-request "
		       "problems=NO_CONNECTION_UPGRADE|BAD_KEY|BAD_VERSION\n");
}

/* RFC 9112 2.2: whitespace before the first field line. */
Test(http_upgrade, folded_line_before_any_header_is_malformed)
{
	expect_request("GET / HTTP/1.1\r\n  Host: h\r\n\r\nrest",
		       "MALFORMED left=6\n");
}

Test(http_upgrade, plain_get_of_a_page_is_a_plain_request)
{
	expect_request("GET /index.html HTTP/1.1\r\n"
		       "Host: example.com\r\n"
		       "Accept: text/html\r\n"
		       "\r\n",
		       "DONE left=0\n"
		       "request method=GET target=/index.html "
		       "path=/index.html query=(none) http=1.1\n"
		       "host=example.com\n"
		       "accept=text/html\n"
		       "dropped=0 kind=plain-request problems=none\n");
}

Test(http_upgrade, bad_request_answer_is_rejected_with_its_status)
{
	expect_response("HTTP/1.1 400 Bad Request\r\n"
			"Content-Length: 0\r\n"
			"\r\n",
			"DONE left=0\n"
			"response status=400 reason=Bad Request http=1.1\n"
			"content-length=0\n"
			"dropped=0 kind=rejected problems=none\n");
}

Test(http_upgrade, forbidden_answer_with_body_is_rejected_and_body_left)
{
	expect_response("HTTP/1.1 403 Forbidden\r\n"
			"Content-Type: text/plain\r\n"
			"Content-Length: 9\r\n"
			"\r\n"
			"Forbidden",
			"DONE left=9\n"
			"response status=403 reason=Forbidden http=1.1\n"
			"content-type=text/plain\n"
			"content-length=9\n"
			"dropped=0 kind=rejected problems=none\n");
}

/* RFC 6455 4.4: a server that does not speak the version answers 426. */
Test(http_upgrade, upgrade_required_answer_is_rejected_with_its_status)
{
	expect_response("HTTP/1.1 426 Upgrade Required\r\n"
			"Sec-WebSocket-Version: 13, 8, 7\r\n"
			"\r\n",
			"DONE left=0\n"
			"response status=426 reason=Upgrade Required "
			"http=1.1\n"
			"sec-websocket-version=13, 8, 7\n"
			"dropped=0 kind=rejected problems=none\n");
}

Test(http_upgrade, switching_to_h2c_is_another_protocol)
{
	expect_response("HTTP/1.1 101 Switching Protocols\r\n"
			"Connection: Upgrade\r\n"
			"Upgrade: h2c\r\n"
			"\r\n",
			"DONE left=0\n"
			"response status=101 reason=Switching Protocols "
			"http=1.1\n"
			"connection=Upgrade\n"
			"upgrade=h2c\n"
			"dropped=0 kind=other-protocol problems=none\n");
}

Test(http_upgrade, status_line_without_reason_is_accepted)
{
	expect_response("HTTP/1.1 101\r\nUpgrade: websocket\r\n"
			"Connection: upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n",
			"DONE left=0\n"
			"response status=101 reason= http=1.1\n"
			"upgrade=websocket\n"
			"connection=upgrade\n"
			"sec-websocket-accept=x\n"
			"dropped=0 kind=accepted problems=none\n");
	expect_response("HTTP/1.1 101 \nUpgrade: websocket\n\n",
			"DONE left=0\n"
			"response status=101 reason= http=1.1\n"
			"upgrade=websocket\n"
			"dropped=0 kind=accepted "
			"problems=NO_CONNECTION_UPGRADE|NO_ACCEPT\n");
}

/* Binary: the first byte already cannot start a method. */
Test(http_upgrade, binary_garbage_is_not_http_from_its_first_byte)
{
	static const char bytes[] = "\x00\x01\x02\xff\xfe GET / HTTP/1.1\r\n";

	expect_n(HTTP_UPGRADE_REQUEST, bytes, sizeof(bytes) - 1,
		 "NOT_HTTP left=22\n");
	expect_n(HTTP_UPGRADE_RESPONSE, bytes, sizeof(bytes) - 1,
		 "NOT_HTTP left=22\n");
}

/* A TLS record header (handshake, TLS 1.0 record version) and the start
 * of a ClientHello. */
Test(http_upgrade, tls_client_hello_is_not_http_from_its_first_byte)
{
	static const char hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc"
				    "\x03\x03\x8a\x1b\x4c";

	expect_n(HTTP_UPGRADE_REQUEST, hello, sizeof(hello) - 1,
		 "NOT_HTTP left=14\n");
	expect_n(HTTP_UPGRADE_RESPONSE, hello, sizeof(hello) - 1,
		 "NOT_HTTP left=14\n");
}

/* RFC 9113 3.4: refused at the '2' of "HTTP/2.0", the 12th byte. */
Test(http_upgrade, http2_preface_is_not_http1_from_its_version_digit)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

	expect_request(preface, "NOT_HTTP left=13\n");
	expect_response(preface, "NOT_HTTP left=24\n");
}

/* RFC 4253 4.2: refused once the "method" outgrows any real one. */
Test(http_upgrade, ssh_banner_is_not_http_once_longer_than_any_method)
{
	static const char banner[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";

	expect_request(banner, "NOT_HTTP left=20\n");
	expect_response(banner, "NOT_HTTP left=40\n");
}

Test(http_upgrade, a_response_fed_to_the_request_parser_is_not_http)
{
	expect_request("HTTP/1.1 101 Switching Protocols\r\n\r\n",
		       "NOT_HTTP left=32\n");
	expect_response("GET / HTTP/1.1\r\n\r\n", "NOT_HTTP left=18\n");
}

Test(http_upgrade, other_http_versions_and_broken_request_lines_are_not_http)
{
	expect_request("GET / HTTP/2.0\r\n\r\n", "NOT_HTTP left=7\n");
	expect_request("GET / http/1.1\r\n\r\n", "NOT_HTTP left=12\n");
	expect_request("GET  / HTTP/1.1\r\n\r\n", "NOT_HTTP left=15\n");
	expect_request("GET / HTTP/1.1 \r\n\r\n", "NOT_HTTP left=5\n");
	expect_request("GET / HTTP/1.1\rX\n\r\n", "NOT_HTTP left=4\n");
	expect_request("GET\r\n", "NOT_HTTP left=2\n");
	expect_request(" GET / HTTP/1.1\r\n", "NOT_HTTP left=17\n");
	expect_response("HTTP/1.1 10x OK\r\n\r\n", "NOT_HTTP left=8\n");
	expect_response("HTTP/1.1  101 OK\r\n\r\n", "NOT_HTTP left=11\n");
	expect_response("HTTP/1.1 101 O\x01K\r\n\r\n", "NOT_HTTP left=6\n");
}

Test(http_upgrade, http_1_0_upgrade_request_is_reported_as_old_http)
{
	expect_request("GET /chat HTTP/1.0\r\n"
		       "Host: h\r\n"
		       "Upgrade: websocket\r\n"
		       "Connection: Upgrade\r\n"
		       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		       "Sec-WebSocket-Version: 13\r\n"
		       "\r\n",
		       "DONE left=0\n"
		       "request method=GET target=/chat path=/chat "
		       "query=(none) http=1.0\n"
		       "host=h\n"
		       "upgrade=websocket\n"
		       "connection=Upgrade\n"
		       "sec-websocket-key=dGhlIHNhbXBsZSBub25jZQ==\n"
		       "sec-websocket-version=13\n"
		       "dropped=0 kind=websocket-request problems=OLD_HTTP\n");
}

/* Builds an RFC 6455 request with some lines replaced; returns its
 * problems. */
static unsigned request_problems_of(const char *first_line,
				    const char *headers)
{
	struct http_upgrade *p = malloc(sizeof(*p));
	char text[1024];

	snprintf(text, sizeof(text), "%s\r\n%s\r\n", first_line, headers);
	parse_whole(p, HTTP_UPGRADE_REQUEST, text);
	unsigned problems = http_upgrade_problems(p);
	free(p);
	return problems;
}

#define GOOD_KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define GOOD_VERSION "Sec-WebSocket-Version: 13\r\n"
#define UPGRADE "Upgrade: websocket\r\nConnection: Upgrade\r\n"

/* RFC 6455 4.1: each rule a client request must follow. */
Test(http_upgrade, upgrade_request_problems_name_each_rule_broken)
{
	cr_assert_eq(request_problems_of("GET / HTTP/1.1",
					 "Host: h\r\n" UPGRADE GOOD_KEY
						 GOOD_VERSION),
		     0);
	cr_assert_eq(request_problems_of("POST / HTTP/1.1",
					 "Host: h\r\n" UPGRADE GOOD_KEY
						 GOOD_VERSION),
		     HTTP_UPGRADE_PROBLEM_NOT_GET);
	cr_assert_eq(request_problems_of("get / HTTP/1.1",
					 "Host: h\r\n" UPGRADE GOOD_KEY
						 GOOD_VERSION),
		     HTTP_UPGRADE_PROBLEM_NOT_GET, "methods are case-sensitive");
	cr_assert_eq(request_problems_of("GET / HTTP/1.1",
					 UPGRADE GOOD_KEY GOOD_VERSION),
		     HTTP_UPGRADE_PROBLEM_NO_HOST);
	cr_assert_eq(request_problems_of("GET / HTTP/1.1",
					 "Host: h\r\nUpgrade: websocket\r\n"
					 "Connection: keep-alive\r\n" GOOD_KEY
						 GOOD_VERSION),
		     HTTP_UPGRADE_PROBLEM_NO_CONNECTION_UPGRADE);
	cr_assert_eq(request_problems_of("GET / HTTP/1.1",
					 "Host: h\r\n" UPGRADE GOOD_KEY
					 "Sec-WebSocket-Version: 8\r\n"),
		     HTTP_UPGRADE_PROBLEM_BAD_VERSION);
	cr_assert_eq(request_problems_of("GET / HTTP/1.1",
					 "Host: h\r\n" UPGRADE GOOD_KEY
						 GOOD_VERSION GOOD_VERSION),
		     HTTP_UPGRADE_PROBLEM_BAD_VERSION,
		     "RFC 6455 11.3.5: not repeated in a request");
}

/* RFC 6455 4.1 (7): the key is 16 bytes in base64: 22 chars and "==". */
Test(http_upgrade, keys_that_are_not_16_bytes_of_base64_are_bad)
{
	static const char *const bad[] = {
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=A\r\n",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==\r\n",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSBub25jZQ==\r\n",
		"Sec-WebSocket-Key:\r\n",
		"",
		GOOD_KEY GOOD_KEY, /* RFC 6455 11.3.1: not repeated */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char headers[512];

		snprintf(headers, sizeof(headers), "Host: h\r\n" UPGRADE
			 "%s" GOOD_VERSION, bad[i]);
		cr_assert_eq(request_problems_of("GET / HTTP/1.1", headers),
			     HTTP_UPGRADE_PROBLEM_BAD_KEY, "case %zu", i);
	}
	cr_assert_eq(request_problems_of(
			     "GET / HTTP/1.1",
			     "Host: h\r\n" UPGRADE GOOD_VERSION
			     "Sec-WebSocket-Key: +/09azAZ+/09azAZ+/09aQ==\r\n"),
		     0);
}

/* RFC 6455 4.2.2 (5.4) */
Test(http_upgrade, accepted_response_without_accept_header_is_reported)
{
	struct http_upgrade *p = malloc(sizeof(*p));

	parse_whole(p, HTTP_UPGRADE_RESPONSE,
		    "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\n"
		    "Connection: Upgrade\r\n"
		    "\r\n");
	cr_assert_eq(http_upgrade_kind(p), HTTP_UPGRADE_KIND_ACCEPTED);
	cr_assert_eq(http_upgrade_problems(p), HTTP_UPGRADE_PROBLEM_NO_ACCEPT);
	parse_whole(p, HTTP_UPGRADE_RESPONSE,
		    "HTTP/1.0 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\n"
		    "Sec-WebSocket-Accept:\r\n"
		    "\r\n");
	cr_assert_eq(http_upgrade_problems(p),
		     HTTP_UPGRADE_PROBLEM_OLD_HTTP |
			     HTTP_UPGRADE_PROBLEM_NO_CONNECTION_UPGRADE |
			     HTTP_UPGRADE_PROBLEM_NO_ACCEPT);
	free(p);
}

Test(http_upgrade, problems_are_only_reported_for_websocket_messages)
{
	struct http_upgrade *p = malloc(sizeof(*p));

	parse_whole(p, HTTP_UPGRADE_REQUEST, "POST /form HTTP/1.0\r\n\r\n");
	cr_assert_eq(http_upgrade_kind(p), HTTP_UPGRADE_KIND_PLAIN_REQUEST);
	cr_assert_eq(http_upgrade_problems(p), 0);
	parse_whole(p, HTTP_UPGRADE_RESPONSE, "HTTP/1.0 404 Not Found\r\n\r\n");
	cr_assert_eq(http_upgrade_problems(p), 0);
	free(p);
}

/* Builds a request whose block is exactly size bytes: a padding header
 * fills what the rest leaves. Returns a malloc'd string. */
static char *request_of_size(size_t size, const char *after)
{
	static const char head[] = "GET / HTTP/1.1\r\nX-Pad: ";
	static const char tail[] = "\r\nUpgrade: websocket\r\n\r\n";
	size_t pad = size - (sizeof(head) - 1) - (sizeof(tail) - 1);
	char *text = malloc(size + strlen(after) + 1);

	cr_assert_not_null(text);
	memcpy(text, head, sizeof(head) - 1);
	memset(text + sizeof(head) - 1, 'a', pad);
	strcpy(text + sizeof(head) - 1 + pad, tail);
	strcat(text, after);
	return text;
}

/* Large inputs: every split would take minutes, so a chosen few. */
static char *run_large(const char *text, const size_t *cuts, size_t ncuts)
{
	return splits_run_cuts((const uint8_t *)text, strlen(text), cuts,
			       ncuts, run_parser, &request_role);
}

Test(http_upgrade, block_of_exactly_16_kib_is_accepted)
{
	char *text = request_of_size(HTTP_UPGRADE_MAX_BLOCK, "\x81");
	static const size_t cut_sets[][3] = {
		{ 1, 16383, 16384 }, { 20, 8000, 16383 }, { 16382, 16384, 16385 },
	};

	for (size_t i = 0; i < 3; i++) {
		char *log = run_large(text, cut_sets[i], 3);

		cr_assert(strncmp(log, "DONE left=1\n", 12) == 0, "%s", log);
		cr_assert(strstr(log, "\nupgrade=websocket\n") != NULL);
		free(log);
	}
	char *log = run_large(text, NULL, 0);
	cr_assert(strncmp(log, "DONE left=1\n", 12) == 0);
	free(log);
	free(text);
}

/* The byte that would make the block 16385 bytes long is refused. */
Test(http_upgrade, block_over_16_kib_is_too_large_and_stops_at_the_limit)
{
	char *text = request_of_size(HTTP_UPGRADE_MAX_BLOCK + 1, "\x81\x7f");
	static const size_t cut_sets[][3] = {
		{ 1, 16383, 16384 }, { 20, 8000, 16385 }, { 16382, 16384, 16385 },
	};

	for (size_t i = 0; i < 3; i++) {
		char *log = run_large(text, cut_sets[i], 3);

		cr_assert_str_eq(log, "TOO_LARGE left=3\n");
		free(log);
	}
	char *log = run_large(text, NULL, 0);
	cr_assert_str_eq(log, "TOO_LARGE left=3\n");
	free(log);
	free(text);
}

Test(http_upgrade, request_line_longer_than_16_kib_is_too_large)
{
	static char text[HTTP_UPGRADE_MAX_BLOCK + 16];

	memset(text, 'a', sizeof(text) - 1);
	memcpy(text, "GET /", 5);
	char *log = run_large(text, NULL, 0);
	cr_assert_str_eq(log, "TOO_LARGE left=15\n");
	free(log);
}

/* RFC 6455 4.1: the server may send frames right after its 101. */
Test(http_upgrade, frame_bytes_after_the_blank_line_are_handed_back)
{
	expect_response("HTTP/1.1 101 Switching Protocols\r\n"
			"Upgrade: websocket\r\n"
			"\r\n"
			"\x81\x05hello\r\n\r\n",
			"DONE left=11\n"
			"response status=101 reason=Switching Protocols "
			"http=1.1\n"
			"upgrade=websocket\n"
			"dropped=0 kind=accepted "
			"problems=NO_CONNECTION_UPGRADE|NO_ACCEPT\n");
}

Test(http_upgrade, calls_after_done_consume_nothing_and_keep_results)
{
	struct http_upgrade *p = malloc(sizeof(*p));
	size_t used = 99;

	parse_whole(p, HTTP_UPGRADE_REQUEST, rfc6455_request);
	cr_assert_eq(http_upgrade_feed(p, "GET / HTTP/1.1\r\n\r\n", 18, &used),
		     HTTP_UPGRADE_DONE);
	cr_assert_eq(used, 0);
	cr_assert_eq(http_upgrade_feed(p, NULL, 0, &used), HTTP_UPGRADE_DONE);
	cr_assert_eq(used, 0);
	cr_assert_str_eq(http_upgrade_str(p, p->path), "/chat");
	cr_assert_eq(p->nheaders, 7);
	free(p);
}

Test(http_upgrade, calls_after_an_error_consume_nothing)
{
	struct http_upgrade *p = malloc(sizeof(*p));
	size_t used = 99;

	http_upgrade_init(p, HTTP_UPGRADE_RESPONSE);
	cr_assert_eq(http_upgrade_feed(p, "HTTX", 4, &used),
		     HTTP_UPGRADE_NOT_HTTP);
	cr_assert_eq(used, 3);
	cr_assert_eq(http_upgrade_feed(p, "HTTP/1.1 101\r\n\r\n", 16, &used),
		     HTTP_UPGRADE_NOT_HTTP);
	cr_assert_eq(used, 0);
	cr_assert_eq(http_upgrade_kind(p), HTTP_UPGRADE_KIND_UNKNOWN);
	cr_assert_eq(http_upgrade_problems(p), 0);
	free(p);
}

Test(http_upgrade, empty_feed_needs_more_and_takes_nothing)
{
	struct http_upgrade *p = malloc(sizeof(*p));
	size_t used = 99;

	http_upgrade_init(p, HTTP_UPGRADE_REQUEST);
	cr_assert_eq(http_upgrade_feed(p, NULL, 0, &used),
		     HTTP_UPGRADE_NEED_MORE);
	cr_assert_eq(used, 0);
	cr_assert_eq(http_upgrade_kind(p), HTTP_UPGRADE_KIND_UNKNOWN);
	free(p);
}

/* RFC 9112 2.2: a bare LF ends a line as well as CRLF. */
Test(http_upgrade, lf_only_line_endings_are_accepted_in_both_roles)
{
	expect_request("GET /chat HTTP/1.1\n"
		       "Host: h\n"
		       "Upgrade: websocket\n"
		       "Connection: Upgrade\n"
		       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
		       "Sec-WebSocket-Version: 13\n"
		       "\n"
		       "\x81",
		       "DONE left=1\n"
		       "request method=GET target=/chat path=/chat "
		       "query=(none) http=1.1\n"
		       "host=h\n"
		       "upgrade=websocket\n"
		       "connection=Upgrade\n"
		       "sec-websocket-key=dGhlIHNhbXBsZSBub25jZQ==\n"
		       "sec-websocket-version=13\n"
		       "dropped=0 kind=websocket-request problems=none\n");
	expect_response("HTTP/1.1 101 Switching Protocols\n"
			"Upgrade: websocket\r\n"
			"Connection: Upgrade\n"
			"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n"
			"\n",
			"DONE left=0\n"
			"response status=101 reason=Switching Protocols "
			"http=1.1\n"
			"upgrade=websocket\n"
			"connection=Upgrade\n"
			"sec-websocket-accept=s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n"
			"dropped=0 kind=accepted problems=none\n");
}

/* RFC 9112 2.2: a server should ignore at least one empty line (CRLF)
 * received before the request-line; we ignore two. */
Test(http_upgrade, up_to_two_empty_lines_before_the_request_line_are_ignored)
{
	expect_request("\r\n\nGET / HTTP/1.1\r\n\r\n",
		       "DONE left=0\n"
		       "request method=GET target=/ path=/ query=(none) "
		       "http=1.1\n"
		       "dropped=0 kind=plain-request problems=none\n");
	expect_request("\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		       "NOT_HTTP left=19\n");
	expect_response("\r\nHTTP/1.1 200 OK\r\n\r\n", "NOT_HTTP left=21\n");
}

Test(http_upgrade, too_many_headers_are_counted_in_headers_dropped)
{
	struct strbuf in = { 0 };
	struct strbuf want = { 0 };

	strbuf_printf(&in, "GET / HTTP/1.1\r\n");
	strbuf_printf(&want, "DONE left=0\nrequest method=GET target=/ "
			     "path=/ query=(none) http=1.1\n");
	for (int i = 0; i < HTTP_UPGRADE_MAX_HEADERS + 6; i++) {
		strbuf_printf(&in, "X-H%d: %d\r\n", i, i);
		if (i < HTTP_UPGRADE_MAX_HEADERS)
			strbuf_printf(&want, "x-h%d=%d\n", i, i);
	}
	/* A fold continuing a dropped header is dropped with it. */
	strbuf_printf(&in, " folded\r\nUpgrade: websocket\r\n\r\n");
	/* The Upgrade header beyond the limit is not seen either. */
	strbuf_printf(&want, "dropped=7 kind=plain-request problems=none\n");
	char *text = strbuf_take(&in);
	char *expected = strbuf_take(&want);

	expect_request(text, expected);
	free(text);
	free(expected);
}

/* RFC 9112 5.1: no whitespace between field name and colon. */
Test(http_upgrade, whitespace_between_header_name_and_colon_is_malformed)
{
	expect_request("GET / HTTP/1.1\r\nHost : h\r\n\r\n",
		       "MALFORMED left=2\n");
	expect_response("HTTP/1.1 101 OK\r\nUpgrade\t: websocket\n\n",
			"MALFORMED left=1\n");
}

Test(http_upgrade, header_lines_that_break_syntax_are_malformed)
{
	expect_request("GET / HTTP/1.1\r\nNoColon\r\n\r\n",
		       "MALFORMED left=2\n");
	expect_request("GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
		       "MALFORMED left=2\n");
	expect_request("GET / HTTP/1.1\r\nBad(Name): x\r\n\r\n",
		       "MALFORMED left=2\n");
	expect_request("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
		       "MALFORMED left=2\n");
	expect_request("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n",
		       "MALFORMED left=2\n");
	expect_n(HTTP_UPGRADE_REQUEST, "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n",
		 26, "MALFORMED left=2\n");
	expect_request("GET / HTTP/1.1\r\nX: a\r\n \x01\r\n\r\n",
		       "MALFORMED left=2\n");
}

Test(http_upgrade, header_values_keep_obs_text_and_inner_whitespace)
{
	expect_request("GET / HTTP/1.1\r\nX-Name:\t caf\xc3\xa9 \t au  lait\t\r\n\r\n",
		       "DONE left=0\n"
		       "request method=GET target=/ path=/ query=(none) "
		       "http=1.1\n"
		       "x-name=caf\\xc3\\xa9 \\x09 au  lait\n"
		       "dropped=0 kind=plain-request problems=none\n");
}

Test(http_upgrade, query_is_what_follows_the_first_question_mark)
{
	expect_request("GET /chat?room=1&x=?y HTTP/1.1\r\n\r\n",
		       "DONE left=0\n"
		       "request method=GET target=/chat?room=1&x=?y "
		       "path=/chat query=room=1&x=?y http=1.1\n"
		       "dropped=0 kind=plain-request problems=none\n");
	expect_request("GET /chat? HTTP/1.1\r\n\r\n",
		       "DONE left=0\n"
		       "request method=GET target=/chat? path=/chat query= "
		       "http=1.1\n"
		       "dropped=0 kind=plain-request problems=none\n");
}

/* RFC 9112 3.2.2: the path of an absolute-form target; "/" if empty. */
Test(http_upgrade, absolute_form_target_gives_its_path_part)
{
	expect_request("GET http://example.com:8080/ws/chat?room=1 HTTP/1.1\r\n\r\n",
		       "DONE left=0\n"
		       "request method=GET "
		       "target=http://example.com:8080/ws/chat?room=1 "
		       "path=/ws/chat query=room=1 http=1.1\n"
		       "dropped=0 kind=plain-request problems=none\n");
	expect_request("GET ws://example.com HTTP/1.1\r\n\r\n",
		       "DONE left=0\n"
		       "request method=GET target=ws://example.com path=/ "
		       "query=(none) http=1.1\n"
		       "dropped=0 kind=plain-request problems=none\n");
	expect_request("GET HTTPS://h/x HTTP/1.1\r\n\r\n",
		       "DONE left=0\n"
		       "request method=GET target=HTTPS://h/x path=/x "
		       "query=(none) http=1.1\n"
		       "dropped=0 kind=plain-request problems=none\n");
}

/* RFC 9112 3.2.3, 3.2.4: these forms are their own path. */
Test(http_upgrade, authority_and_asterisk_form_targets_are_their_own_path)
{
	expect_request("CONNECT example.com:443 HTTP/1.1\r\n\r\n",
		       "DONE left=0\n"
		       "request method=CONNECT target=example.com:443 "
		       "path=example.com:443 query=(none) http=1.1\n"
		       "dropped=0 kind=plain-request problems=none\n");
	expect_request("OPTIONS * HTTP/1.1\r\n\r\n",
		       "DONE left=0\n"
		       "request method=OPTIONS target=* path=* query=(none) "
		       "http=1.1\n"
		       "dropped=0 kind=plain-request problems=none\n");
}

Test(http_upgrade, response_has_empty_request_slices_and_request_empty_reason)
{
	struct http_upgrade *p = malloc(sizeof(*p));

	parse_whole(p, HTTP_UPGRADE_RESPONSE, rfc6455_response);
	cr_assert_str_eq(http_upgrade_str(p, p->method), "");
	cr_assert_str_eq(http_upgrade_str(p, p->target), "");
	cr_assert_str_eq(http_upgrade_str(p, p->path), "");
	cr_assert_str_eq(http_upgrade_str(p, p->query), "");
	parse_whole(p, HTTP_UPGRADE_REQUEST, rfc6455_request);
	cr_assert_str_eq(http_upgrade_str(p, p->reason), "");
	cr_assert_eq(p->status, 0);
	free(p);
}

Test(http_upgrade, credentials_headers_are_secret_and_others_are_not)
{
	cr_assert(http_header_is_secret("cookie"));
	cr_assert(http_header_is_secret("authorization"));
	cr_assert(http_header_is_secret("proxy-authorization"));
	cr_assert(http_header_is_secret("set-cookie"));
	cr_assert(http_header_is_secret("Cookie"));
	cr_assert_not(http_header_is_secret("host"));
	cr_assert_not(http_header_is_secret("sec-websocket-key"));
	cr_assert_not(http_header_is_secret("cookies"));
	cr_assert_not(http_header_is_secret(""));
	cr_assert(http_header_is_secret("X-Api-Key"));
	cr_assert(http_header_is_secret("x-auth-token"));
	cr_assert(http_header_is_secret("x-access-token"));
	cr_assert_not(http_header_is_secret("x-request-id"));
}

/* http_query_redact of q with mask "[r]", sized first and then written:
 * both passes must agree. */
static void assert_redacted(const char *q, const char *want)
{
	size_t n = http_query_redact(q, strlen(q), "[r]", NULL);
	char *out = malloc(n + 1);

	cr_assert_not_null(out);
	cr_assert_eq(http_query_redact(q, strlen(q), "[r]", out), n, "%s", q);
	out[n] = '\0';
	cr_assert_str_eq(out, want, "query %s", q);
	free(out);
}

Test(http_upgrade, query_credentials_are_masked_and_the_rest_kept_byte_for_byte)
{
	assert_redacted("", "");
	assert_redacted("room=lobby&page=2", "room=lobby&page=2");
	assert_redacted("token=abc", "token=[r]");
	assert_redacted("room=1&access_token=eyJhbGciOi.x.y&v=2",
			"room=1&access_token=[r]&v=2");
	assert_redacted("API_KEY=k1;Session=s&sig=zz",
			"API_KEY=[r];Session=[r]&sig=[r]");
	assert_redacted("csrfToken=q&refresh_token=r",
			"csrfToken=[r]&refresh_token=[r]");
	/* An empty value, a name alone, empty parameters: nothing to hide. */
	assert_redacted("token=&key&&x=1&", "token=&key&&x=1&");
	/* Only the first '=' splits; the value may hold more of them. */
	assert_redacted("jwt=a=b=c&tokens=1", "jwt=[r]&tokens=1");
	/* Names are compared as sent, not percent-decoded. */
	assert_redacted("to%6Ben=x&passwordless=1", "to%6Ben=x&passwordless=1");
}

Test(http_upgrade, query_parameter_names_that_carry_credentials)
{
	cr_assert(http_query_param_is_secret("access_token", 12));
	cr_assert(http_query_param_is_secret("ID_TOKEN", 8));
	cr_assert(http_query_param_is_secret("password", 8));
	cr_assert(http_query_param_is_secret("apikey", 6));
	cr_assert(http_query_param_is_secret("keyx", 3)); /* "key" */
	cr_assert_not(http_query_param_is_secret("keyx", 4));
	cr_assert_not(http_query_param_is_secret("room", 4));
	cr_assert_not(http_query_param_is_secret("", 0));
}

Test(http_upgrade, strerror_names_every_status)
{
	cr_assert_str_eq(http_upgrade_strerror(HTTP_UPGRADE_NOT_HTTP),
			 "not a handshake: not HTTP/1.x");
	cr_assert(strstr(http_upgrade_strerror(HTTP_UPGRADE_TOO_LARGE),
			 "16 KiB") != NULL);
	cr_assert_not_null(http_upgrade_strerror(HTTP_UPGRADE_MALFORMED));
	cr_assert_not_null(http_upgrade_strerror(HTTP_UPGRADE_DONE));
	cr_assert_not_null(http_upgrade_strerror(HTTP_UPGRADE_NEED_MORE));
	cr_assert_not_null(http_upgrade_strerror((enum http_upgrade_status)42));
}

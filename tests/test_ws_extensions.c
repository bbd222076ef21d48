/*
 * test_ws_extensions.c - Sec-WebSocket-Extensions as a server answers it,
 * read for permessage-deflate (RFC 6455 9.1, RFC 7692 7.1).
 *
 * Each value is parsed from a heap block of exactly its length (no NUL
 * after it), so reading past len is caught under AddressSanitizer; the
 * result is compared as a one-line log of status and parameters.
 */
#include "wsdbg/ws_extensions.h"

#include "strbuf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *status_name(enum ws_extensions_status st)
{
	switch (st) {
	case WS_EXTENSIONS_OK:
		return "OK";
	case WS_EXTENSIONS_SYNTAX:
		return "SYNTAX";
	case WS_EXTENSIONS_BAD_PARAM:
		return "BAD_PARAM";
	case WS_EXTENSIONS_DUPLICATE:
		return "DUPLICATE";
	}
	return "?";
}

static char *log_params(enum ws_extensions_status st,
			const struct ws_deflate_params *d)
{
	struct strbuf b = { 0 };

	strbuf_printf(&b, "%s", status_name(st));
	if (!d->enabled)
		strbuf_printf(&b, " off");
	else
		strbuf_printf(&b, " deflate%s%s",
			      d->server_no_context_takeover ? " snct" : "",
			      d->client_no_context_takeover ? " cnct" : "");
	strbuf_printf(&b, " s%u c%u", d->server_max_window_bits,
		      d->client_max_window_bits);
	return strbuf_take(&b);
}

/* Parses the first len bytes of text from an exact-size copy. */
static void expect_n(const char *text, size_t len, const char *want)
{
	char *copy = malloc(len ? len : 1);
	struct ws_deflate_params d;

	cr_assert_not_null(copy);
	memcpy(copy, text, len);
	memset(&d, 0xa5, sizeof(d));
	char *log = log_params(ws_deflate_params_parse(copy, len, &d), &d);
	cr_assert_str_eq(log, want, "for \"%.*s\"", (int)len, text);
	free(log);
	free(copy);
}

static void expect(const char *text, const char *want)
{
	expect_n(text, strlen(text), want);
}

Test(ws_extensions, no_extensions_leave_deflate_off_with_default_window_bits)
{
	struct ws_deflate_params d;

	memset(&d, 0xa5, sizeof(d));
	cr_assert_eq(ws_deflate_params_parse(NULL, 0, &d), WS_EXTENSIONS_OK);
	cr_assert_not(d.enabled);
	cr_assert_eq(d.server_max_window_bits, 15);
	cr_assert_eq(d.client_max_window_bits, 15);
	cr_assert_eq(ws_deflate_params_parse(NULL, 5, &d), WS_EXTENSIONS_OK,
		     "NULL means none whatever len says");
	expect("", "OK off s15 c15");
	expect(" \t ", "OK off s15 c15");
	expect(" , ,", "OK off s15 c15");
}

Test(ws_extensions, bare_permessage_deflate_is_enabled_with_defaults)
{
	expect("permessage-deflate", "OK deflate s15 c15");
	expect("  permessage-deflate\t", "OK deflate s15 c15");
}

/* RFC 7692 7.1.1.1, 7.1.1.2 */
Test(ws_extensions, no_context_takeover_parameters_are_each_read)
{
	expect("permessage-deflate; server_no_context_takeover",
	       "OK deflate snct s15 c15");
	expect("permessage-deflate; client_no_context_takeover",
	       "OK deflate cnct s15 c15");
	expect("permessage-deflate;client_no_context_takeover;"
	       "server_no_context_takeover",
	       "OK deflate snct cnct s15 c15");
}

/* RFC 7692 7.1.2.1, 7.1.2.2 */
Test(ws_extensions, max_window_bits_parameters_are_each_read)
{
	expect("permessage-deflate; server_max_window_bits=10",
	       "OK deflate s10 c15");
	expect("permessage-deflate; client_max_window_bits=8",
	       "OK deflate s15 c8");
	expect("permessage-deflate; server_max_window_bits = 9 ; "
	       "client_max_window_bits= 15",
	       "OK deflate s9 c15");
}

/* RFC 7692 7.1.2.2: without a value it means no limit beyond the 15. */
Test(ws_extensions, bare_client_max_window_bits_means_15)
{
	expect("permessage-deflate; client_max_window_bits",
	       "OK deflate s15 c15");
}

Test(ws_extensions, all_parameters_together_as_servers_send_them)
{
	expect("permessage-deflate; server_no_context_takeover; "
	       "client_no_context_takeover; server_max_window_bits=12; "
	       "client_max_window_bits=11",
	       "OK deflate snct cnct s12 c11");
}

/* RFC 6455 9.1: a quoted value, once unescaped, is a token. */
Test(ws_extensions, quoted_values_are_unescaped_and_read)
{
	expect("permessage-deflate; server_max_window_bits=\"10\"",
	       "OK deflate s10 c15");
	expect("permessage-deflate; client_max_window_bits=\"1\\2\"",
	       "OK deflate s15 c12");
	expect("x-foo; a=\"b\\\"\"", "SYNTAX off s15 c15");
	expect("x-foo; a=\"b-c\", permessage-deflate", "OK deflate s15 c15");
}

/* RFC 7692 7.1.2.1: 8..15 in decimal, without leading zeroes. */
Test(ws_extensions, window_bits_outside_8_to_15_or_with_leading_zero_are_bad)
{
	static const char *const bad[] = { "7", "16", "015", "08", "0",
					   "150", "ab", "1.5", "-9", "9a" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[96];

		snprintf(text, sizeof(text),
			 "permessage-deflate; server_max_window_bits=%s",
			 bad[i]);
		expect(text, "BAD_PARAM off s15 c15");
		snprintf(text, sizeof(text),
			 "permessage-deflate; client_max_window_bits=\"%s\"",
			 bad[i]);
		expect(text, "BAD_PARAM off s15 c15");
	}
}

/* An empty value is no token (RFC 6455 9.1), so not a valid list. */
Test(ws_extensions, empty_window_bits_values_are_syntax_errors)
{
	expect("permessage-deflate; client_max_window_bits=",
	       "SYNTAX off s15 c15");
	expect("permessage-deflate; client_max_window_bits=\"\"",
	       "SYNTAX off s15 c15");
	expect("permessage-deflate; client_max_window_bits= ; "
	       "server_no_context_takeover",
	       "SYNTAX off s15 c15");
}

/* RFC 7692 7.1.2.1: the server's window bits always carry a value. */
Test(ws_extensions, server_max_window_bits_without_value_is_bad)
{
	expect("permessage-deflate; server_max_window_bits",
	       "BAD_PARAM off s15 c15");
}

/* RFC 7692 7.1.1.1, 7.1.1.2: these take no value. */
Test(ws_extensions, no_context_takeover_with_a_value_is_bad)
{
	expect("permessage-deflate; server_no_context_takeover=1",
	       "BAD_PARAM off s15 c15");
	expect("permessage-deflate; client_no_context_takeover=\"true\"",
	       "BAD_PARAM off s15 c15");
}

/* RFC 7692 7.1: a parameter may appear once; unknown ones fail. */
Test(ws_extensions, repeated_or_unknown_deflate_parameters_are_bad)
{
	expect("permessage-deflate; server_max_window_bits=10; "
	       "server_max_window_bits=10",
	       "BAD_PARAM off s15 c15");
	expect("permessage-deflate; client_no_context_takeover; "
	       "client_no_context_takeover",
	       "BAD_PARAM off s15 c15");
	expect("permessage-deflate; client_max_window_bits; "
	       "client_max_window_bits=9",
	       "BAD_PARAM off s15 c15");
	expect("permessage-deflate; max_window_bits=10", "BAD_PARAM off s15 c15");
	expect("permessage-deflate; server_max_window_bit=10",
	       "BAD_PARAM off s15 c15");
}

/* RFC 7692 5.1: a server accepts one offer of an extension. */
Test(ws_extensions, permessage_deflate_accepted_twice_is_a_duplicate)
{
	expect("permessage-deflate, permessage-deflate",
	       "DUPLICATE off s15 c15");
	expect("permessage-deflate; server_max_window_bits=10, x-foo, "
	       "permessage-deflate",
	       "DUPLICATE off s15 c15");
}

Test(ws_extensions, other_extensions_are_skipped_whatever_their_parameters)
{
	expect("x-webkit-deflate-frame; max_window_bits=10; no_context_takeover",
	       "OK off s15 c15");
	expect("x-webkit-deflate-frame, permessage-deflate; "
	       "client_max_window_bits=9, foo; bar=\"baz\"; qux",
	       "OK deflate s15 c9");
	expect("foo; server_max_window_bits=99; server_max_window_bits",
	       "OK off s15 c15");
}

/* RFC 6455 9.1 grammar, with HTTP list rules (RFC 9110 5.6.1). */
Test(ws_extensions, values_breaking_the_extension_grammar_are_syntax_errors)
{
	static const char *const bad[] = {
		";",
		"; permessage-deflate",
		"permessage-deflate;",
		"permessage-deflate; ;server_no_context_takeover",
		"permessage deflate",
		"permessage-deflate; =10",
		"permessage-deflate; server_max_window_bits=10 11",
		"permessage-deflate; server_max_window_bits=\"10",
		"permessage-deflate; server_max_window_bits=\"1 0\"",
		"permessage-deflate; server_max_window_bits=\"10\\",
		"foo; bar=\"a,b\"",
		"foo bar",
		"\"permessage-deflate\"",
		"permessage-deflate\x01",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect(bad[i], "SYNTAX off s15 c15");
}

/* A syntax error anywhere in the list fails the whole value. */
Test(ws_extensions, syntax_error_after_deflate_turns_deflate_off)
{
	expect("permessage-deflate; server_max_window_bits=10, foo bar",
	       "SYNTAX off s15 c15");
}

Test(ws_extensions, names_are_matched_in_any_letter_case)
{
	expect("PerMessage-Deflate; Server_Max_Window_Bits=9; "
	       "CLIENT_NO_CONTEXT_TAKEOVER",
	       "OK deflate cnct s9 c15");
}

/* value is len bytes, not a C string: what follows is not read. */
Test(ws_extensions, only_len_bytes_of_the_value_are_read)
{
	static const char text[] = "permessage-deflate; server_max_window_bits=10";

	expect_n(text, sizeof(text) - 2, "BAD_PARAM off s15 c15");
	expect_n(text, strlen("permessage-deflate"), "OK deflate s15 c15");
	expect_n(text, 0, "OK off s15 c15");
}

Test(ws_extensions, strerror_names_every_status)
{
	cr_assert(strstr(ws_extensions_strerror(WS_EXTENSIONS_DUPLICATE),
			 "more than once") != NULL);
	cr_assert_not_null(ws_extensions_strerror(WS_EXTENSIONS_OK));
	cr_assert_not_null(ws_extensions_strerror(WS_EXTENSIONS_SYNTAX));
	cr_assert_not_null(ws_extensions_strerror(WS_EXTENSIONS_BAD_PARAM));
	cr_assert_not_null(
		ws_extensions_strerror((enum ws_extensions_status)7));
}

#include "decode_log.h"

#include <criterion/criterion.h>
#include <stdlib.h>

#include "strbuf.h"

static void decode_log_message(struct strbuf *b, const struct ws_message *m)
{
	/* Unmasked when it came masked (borrow_masked); the UTF-8 judged in
	 * the copy when it was not yet (defer_utf8), and the same either
	 * way it is asked. */
	uint8_t *data = malloc(m->kept ? m->kept : 1);
	cr_assert_not_null(data);
	bool utf8_valid = ws_message_copy(m, data, m->kept);
	cr_assert_eq(utf8_valid, ws_message_utf8_valid(m));

	strbuf_printf(b, "%s size=%llu wire=%llu frames=%u kept=%zu",
		      ws_opcode_name(m->opcode), (unsigned long long)m->size,
		      (unsigned long long)m->wire_size, m->frames, m->kept);
	if (m->compressed)
		strbuf_printf(b, " compressed");
	if (m->inflated)
		strbuf_printf(b, " inflated");
	if (m->truncated)
		strbuf_printf(b, " truncated");
	if (m->inflate_capped)
		strbuf_printf(b, " capped");
	if (!utf8_valid)
		strbuf_printf(b, " bad-utf8");
	if (m->opcode == WS_OPCODE_CLOSE) {
		strbuf_printf(b, " code=%d%s reason='", m->close_code,
			      m->close_code_valid ? " valid" : "");
		strbuf_escaped(b, m->close_reason, m->close_reason_len);
		strbuf_printf(b, "'\n");
		free(data);
		return;
	}
	strbuf_printf(b, " '");
	strbuf_escaped(b, data, m->kept);
	strbuf_printf(b, "'\n");
	free(data);
}

char *decode_log_run(void *ctx, const struct splits_piece *pieces, size_t n)
{
	const struct ws_decoder_config *cfg = ctx;
	struct ws_decoder d;
	struct strbuf b = {0};

	ws_decoder_init(&d, cfg);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = pieces[i].data;
		size_t len = pieces[i].len;
		/* Bounded: every call consumes bytes or reports a message. */
		for (size_t guard = 0; guard <= 2 * len + 2; guard++) {
			size_t used = 0;
			struct ws_message m;
			enum ws_decode_status st =
				ws_decoder_feed(&d, p, len, &used, &m);
			cr_assert_leq(used, len);
			p += used;
			len -= used;
			if (st == WS_DECODE_MESSAGE) {
				decode_log_message(&b, &m);
				continue;
			}
			if (st == WS_DECODE_NEED_MORE)
				cr_assert_eq(len, 0);
			break;
		}
		cr_assert(len == 0 || ws_decoder_error(&d) != WS_OK,
			  "decoder neither consumed its input nor stopped");
	}
	if (ws_decoder_error(&d) != WS_OK)
		strbuf_printf(&b, "error %s\n",
			      ws_error_name(ws_decoder_error(&d)));
	ws_decoder_free(&d);
	return strbuf_take(&b);
}

char *decode_log_whole(const struct ws_decoder_config *cfg, const void *data,
		       size_t len)
{
	struct splits_piece piece = {data, len};
	return decode_log_run((void *)(uintptr_t)cfg, &piece, 1);
}

void decode_log_expect(const struct ws_decoder_config *cfg, const void *data,
		       size_t len, const char *expected)
{
	/* Checked with the UTF-8 of text handed out in place judged by the
	 * decoder and left to the copy (defer_utf8); masked input also
	 * both ways: unmasked into the kept prefix, and handed out in place
	 * when whole (borrow_masked). */
	for (int i = 0; i < (cfg->from_client ? 4 : 2); i++) {
		struct ws_decoder_config c = *cfg;
		c.defer_utf8 = i & 1 ? !cfg->defer_utf8 : cfg->defer_utf8;
		c.borrow_masked = i & 2 ? !cfg->borrow_masked
					: cfg->borrow_masked;
		char *log = splits_check(data, len, decode_log_run, &c);
		cr_assert_str_eq(log, expected,
				 "borrow_masked %d defer_utf8 %d:\n%s",
				 c.borrow_masked, c.defer_utf8, log);
		free(log);
	}
}

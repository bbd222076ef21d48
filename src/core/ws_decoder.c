/*
 * ws_decoder.c - one direction of a WebSocket connection, frames in,
 * messages out (RFC 6455 5.4-5.6, RFC 7692 6).
 *
 * ws_frame.c finds frames; this file judges each header against the
 * connection's rules, routes payload bytes (a control frame's into its own
 * 125-byte buffer, a data message's through inflate when compressed, then
 * into the kept prefix and the UTF-8 validator), and reports a message when
 * its last frame ends. A message that is one frame found whole in the input
 * is not copied at all: it is handed out where it lies (ws_decoder_lend;
 * a masked one only with borrow_masked, when the caller copies what it
 * keeps anyway; with defer_utf8 a text's UTF-8 is then judged by that
 * copy, ws_message_copy, which reads each byte once). Payload beyond the
 * kept prefix is read once at most: text to validate it (ASCII recognised
 * in place, 64 bytes a step or 128 with AVX2, without unmasking it to
 * memory), compressed data to inflate it (up to the inflate cap, past
 * which it is only counted: ws_decoder.h); binary payload beyond the
 * prefix is not touched at all.
 */
#include "wsdbg/ws_decoder.h"

#include <stdlib.h>
#include <string.h>

#include "wsdbg/alloc_cost.h"
#include "wsdbg/ws_close.h"
#include "wsdbg/ws_inflate.h"
#include "scan_avx2.h"
#include "vec16.h"
#include "ws_inflate_memory.h"

/* Unmasked text beyond the kept prefix is validated through a buffer of
 * this size on the stack; small, since hooks may run on small stacks. */
#define WS_DECODER_SCRATCH 256

/* Smallest kept-prefix allocation; it doubles up to the keep limit. */
#define WS_DECODER_KEEP_MIN 256

static uint8_t ws_decoder_window_bits(uint8_t bits)
{
	return bits >= 8 && bits <= 15 ? bits : 15;
}

void ws_decoder_init(struct ws_decoder *d, const struct ws_decoder_config *cfg)
{
	*d = (struct ws_decoder){0};
	d->cfg = *cfg;
	d->cfg.window_bits = ws_decoder_window_bits(cfg->window_bits);
	d->inflate_budget = UINT64_MAX;
}

void ws_decoder_begin_input(struct ws_decoder *d, size_t len)
{
	uint64_t cap = d->cfg.max_inflate;
	uint64_t per_byte = WS_DECODER_INFLATE_PER_BYTE;

	/* Saturated: UINT64_MAX means no budget, which is what so large a
	 * one would be anyway. */
	if (cap == 0 || len > (UINT64_MAX - cap) / per_byte)
		d->inflate_budget = UINT64_MAX;
	else
		d->inflate_budget = cap + (uint64_t)len * per_byte;
}

void ws_decoder_free(struct ws_decoder *d)
{
	free(d->keep);
	ws_inflate_free(d->inflate);
	*d = (struct ws_decoder){0};
}

void ws_decoder_config_set_deflate(struct ws_decoder_config *cfg,
				   bool from_client,
				   const struct ws_deflate_params *params)
{
	cfg->from_client = from_client;
	cfg->deflate = params && params->enabled;
	cfg->window_bits = 15;
	cfg->no_context_takeover = false;
	if (!cfg->deflate)
		return;
	/* RFC 7692 7.1.1, 7.1.2: the client_ parameters govern what the client
	 * compresses, the server_ ones what the server compresses. */
	cfg->window_bits = ws_decoder_window_bits(
		from_client ? params->client_max_window_bits
			    : params->server_max_window_bits);
	cfg->no_context_takeover = from_client
		? params->client_no_context_takeover
		: params->server_no_context_takeover;
}

size_t ws_decoder_inflate_memory(const struct ws_decoder *d)
{
	return d->inflate ? ws_inflate_memory(d->inflate) : 0;
}

void ws_decoder_trim(struct ws_decoder *d)
{
	/* Inside a message it holds that message's prefix; at its smallest
	 * it is kept, so that a run of small messages does not allocate and
	 * free it once each. */
	if (d->in_message || d->keep_cap <= WS_DECODER_KEEP_MIN)
		return;
	free(d->keep);
	d->keep = NULL;
	d->keep_cap = 0;
	d->keep_len = 0;
}

void ws_decoder_fail(struct ws_decoder *d, enum ws_error err)
{
	if (d->error == WS_OK && err != WS_OK)
		d->error = err;
}

static bool ws_opcode_is_reserved(unsigned op)
{
	return !(op <= WS_OPCODE_BINARY ||
		 (op >= WS_OPCODE_CLOSE && op <= WS_OPCODE_PONG));
}

/* Begins a text or binary message whose first frame header is h. */
static enum ws_error ws_decoder_start_message(struct ws_decoder *d,
					      const struct ws_frame_header *h)
{
	bool compressed = (h->rsv & WS_FRAME_RSV1) != 0;

	d->in_message = true;
	d->msg = (struct ws_message){
		.opcode = h->opcode,
		.compressed = compressed,
		.inflated = compressed && d->cfg.inflate && !d->inflate_lost,
		.utf8_valid = true,
		.close_code = -1,
	};
	d->utf8 = (struct utf8_state){0};
	d->keep_len = 0;
	d->keep_limit = h->opcode == WS_OPCODE_TEXT ? d->cfg.keep_text
						    : d->cfg.keep_binary;
	if (d->msg.inflated && !d->inflate) {
		d->inflate = ws_inflate_new();
		if (!d->inflate)
			return WS_ERR_NOMEM;
	}
	return WS_OK;
}

/* Checks a new frame header against RFC 6455 5.2-5.5 and RFC 7692 6.1 and
 * sets up for its payload. */
static enum ws_error ws_decoder_on_header(struct ws_decoder *d)
{
	const struct ws_frame_header *h = &d->frame.header;
	unsigned allowed_rsv = d->cfg.deflate ? WS_FRAME_RSV1 : 0;

	d->frames++;
	if (d->close_seen)
		return WS_ERR_FRAME_AFTER_CLOSE;
	if (d->cfg.from_client && !h->masked)
		return WS_ERR_UNMASKED_CLIENT_FRAME;
	if (!d->cfg.from_client && h->masked)
		return WS_ERR_MASKED_SERVER_FRAME;
	if (ws_opcode_is_reserved(h->opcode))
		return WS_ERR_RESERVED_OPCODE;
	if (h->rsv & ~allowed_rsv)
		return WS_ERR_RESERVED_BITS;

	if (ws_opcode_is_control(h->opcode)) {
		if (!h->fin)
			return WS_ERR_CONTROL_FRAGMENTED;
		if (h->length > WS_CONTROL_MAX_PAYLOAD)
			return WS_ERR_CONTROL_TOO_LONG;
		if (h->rsv & WS_FRAME_RSV1)
			return WS_ERR_CONTROL_COMPRESSED;
		d->control_len = 0;
		return WS_OK;
	}
	if (h->opcode == WS_OPCODE_CONTINUATION) {
		if (!d->in_message)
			return WS_ERR_CONTINUATION_WITHOUT_START;
		if (h->rsv & WS_FRAME_RSV1)
			return WS_ERR_CONTINUATION_COMPRESSED;
		d->msg.frames++;
	} else {
		if (d->in_message)
			return WS_ERR_MESSAGE_INTERRUPTED;
		enum ws_error err = ws_decoder_start_message(d, h);
		if (err != WS_OK)
			return err;
		d->msg.frames = 1;
	}
	/* Saturate rather than wrap: 2^64 bytes will not be seen, but a
	 * hostile peer can announce it. */
	d->msg.wire_size = h->length > UINT64_MAX - d->msg.wire_size
		? UINT64_MAX : d->msg.wire_size + h->length;
	return WS_OK;
}

/* Grows the kept-prefix buffer to hold `need` bytes (need <= keep_limit).
 * False, with the decoder stopped, when memory is short. */
static bool ws_decoder_grow_keep(struct ws_decoder *d, size_t need)
{
	size_t cap = d->keep_cap ? d->keep_cap : WS_DECODER_KEEP_MIN;
	while (cap < need)
		cap *= 2;
	if (cap > d->keep_limit)
		cap = d->keep_limit;
	uint8_t *keep = realloc(d->keep, cap);
	if (!keep) {
		ws_decoder_fail(d, WS_ERR_NOMEM);
		return false;
	}
	d->keep = keep;
	d->keep_cap = cap;
	return true;
}

/* Room for `more` kept bytes, up to keep_limit; returns how many fit. */
static inline size_t ws_decoder_keep_room(struct ws_decoder *d, size_t more)
{
	size_t room = d->keep_limit - d->keep_len;
	if (more > room)
		more = room;
	if (d->keep_len + more > d->keep_cap &&
	    !ws_decoder_grow_keep(d, d->keep_len + more))
		return 0;
	return more;
}

/* Feeds unmasked text to the validator, unless it is all ASCII (non_ascii
 * 0, from ws_unmask_copy) and no multi-byte sequence is open. */
static void ws_decoder_check_text(struct ws_decoder *d, const uint8_t *p,
				  size_t n, uint8_t non_ascii)
{
	if (non_ascii || !utf8_state_idle(&d->utf8))
		utf8_feed(&d->utf8, p, n);
}

/* Takes n unmasked payload bytes of the current data message (from the
 * wire, or from inflate): counts, keeps the prefix, validates text. */
static void ws_decoder_take_plain(struct ws_decoder *d, const uint8_t *p,
				  size_t n)
{
	/* Unmasking with a zero key is a copy that also tells whether the
	 * bytes were all ASCII. */
	static const uint8_t no_mask[4];
	bool text = d->msg.opcode == WS_OPCODE_TEXT;

	d->msg.size += n;
	size_t k = ws_decoder_keep_room(d, n);
	if (k) {
		uint8_t non_ascii = ws_unmask_copy(d->keep + d->keep_len, p, k,
						   no_mask, 0);
		d->keep_len += k;
		if (text)
			ws_decoder_check_text(d, p, k, non_ascii);
	}
	/* The rest is read once, by the validator (it skips ASCII fast). */
	if (text && k < n)
		utf8_feed(&d->utf8, p + k, n - k);
}

/* How many more inflated bytes the current message may take: up to
 * max_inflate, and within the budget of the input under way. */
static uint64_t ws_decoder_inflate_room(const struct ws_decoder *d)
{
	uint64_t room = d->inflate_budget;

	if (d->cfg.max_inflate && d->cfg.max_inflate - d->msg.size < room)
		room = d->cfg.max_inflate - d->msg.size;
	return room;
}

/* ws_inflate_sink for the current message: takes what fits its room,
 * and stops the stream at the first byte beyond (the message is capped).
 * A message that ends at its room exactly is not capped, so the cap
 * falls at the same byte however the input was cut. */
static bool ws_decoder_inflate_sink(void *ctx, const uint8_t *out, size_t len)
{
	struct ws_decoder *d = ctx;
	uint64_t room = ws_decoder_inflate_room(d);
	bool fits = len <= room;
	size_t n = fits ? len : (size_t)room;

	if (n)
		ws_decoder_take_plain(d, out, n);
	if (d->inflate_budget != UINT64_MAX)
		d->inflate_budget -= n;
	if (!fits)
		d->msg.inflate_capped = true;
	return fits;
}

/* A capped message left the window short of the sender's, and later
 * messages may refer back into what was never inflated: they are not
 * inflated at all (ws_decoder.h). The stream is no use any more. */
static void ws_decoder_lose_window(struct ws_decoder *d)
{
	ws_inflate_free(d->inflate);
	d->inflate = NULL;
	d->inflate_lost = true;
}

/* How many of the len bytes at src, once unmasked, are ASCII before the
 * first that is not, sixteen bytes a load (vec16.h). Reads them once and
 * writes nothing. */
static inline size_t ws_decoder_masked_ascii16(const uint8_t *src,
					       size_t len,
					       const uint8_t mask[4],
					       uint64_t offset)
{
	const vec16 k = vec16_mask_key(mask, offset);
	size_t i = 0;

	for (; i + 64 <= len; i += 64) {
		/* Each block unmasked before the OR: XOR does not
		 * distribute over it. */
		vec16 any = ((vec16_load(src + i) ^ k) |
			     (vec16_load(src + i + 16) ^ k)) |
			    ((vec16_load(src + i + 32) ^ k) |
			     (vec16_load(src + i + 48) ^ k));
		if (vec16_any_high(any))
			break;
	}
	for (; i + 16 <= len; i += 16)
		if (vec16_any_high(vec16_load(src + i) ^ k))
			break;
	while (i < len && ((src[i] ^ mask[(offset + i) & 3]) & 0x80) == 0)
		i++;
	return i;
}

/* The same for long text, 32 bytes a load first (scan_avx2.h). Out of
 * line, so that a short text's scan keeps no registers across a call. */
__attribute__((noinline)) static size_t
ws_decoder_masked_ascii_long(const uint8_t *src, size_t len,
			     const uint8_t mask[4], uint64_t offset)
{
	size_t i = scan_avx2_ascii(src, len, vec16_mask_key(mask, offset));

	return i + ws_decoder_masked_ascii16(src + i, len - i, mask,
					     offset + i);
}

static size_t ws_decoder_masked_ascii(const uint8_t *src, size_t len,
				      const uint8_t mask[4], uint64_t offset)
{
	if (len >= SCAN_AVX2_MIN && scan_avx2_usable())
		return ws_decoder_masked_ascii_long(src, len, mask, offset);
	return ws_decoder_masked_ascii16(src, len, mask, offset);
}

/* Validates masked text into u as it lies, writing nothing but a scratch
 * buffer: runs of ASCII are recognised in place, and so are whole blocks
 * of other characters where the processor allows
 * (utf8_feed_masked_blocks); only the bytes left are unmasked, through a
 * small buffer, for the validator. offset is p's position in its frame's
 * payload (for the mask). */
static void ws_check_masked(struct utf8_state *u, const uint8_t *p,
			    size_t len, const uint8_t mask[4], uint64_t offset)
{
	uint8_t scratch[WS_DECODER_SCRATCH];

	for (size_t i = 0; i < len && utf8_state_ok(u);) {
		if (utf8_state_idle(u)) {
			i += ws_decoder_masked_ascii(p + i, len - i, mask,
						     offset + i);
			if (i == len)
				break;
			i += utf8_feed_masked_blocks(u, p + i, len - i, mask,
						     offset + i);
			if (i == len || !utf8_state_ok(u))
				break;
		}
		size_t n = len - i < sizeof(scratch) ? len - i
						      : sizeof(scratch);
		ws_unmask_copy(scratch, p + i, n, mask, offset + i);
		utf8_feed(u, scratch, n);
		i += n;
	}
}

/* Takes masked payload bytes: unmasks what is kept straight into the prefix
 * and, for text, validates the rest as it is (ws_check_masked). */
static void ws_decoder_take_masked(struct ws_decoder *d,
				   const struct ws_frame_chunk *c,
				   const uint8_t mask[4])
{
	bool text = d->msg.opcode == WS_OPCODE_TEXT;
	size_t k = ws_decoder_keep_room(d, c->len);

	d->msg.size += c->len;
	if (k) {
		uint8_t *dst = d->keep + d->keep_len;
		uint8_t non_ascii = ws_unmask_copy(dst, c->data, k, mask,
						   c->offset);
		d->keep_len += k;
		if (text)
			ws_decoder_check_text(d, dst, k, non_ascii);
	}
	if (text && k < c->len)
		ws_check_masked(&d->utf8, c->data + k, c->len - k, mask,
				c->offset + k);
}

/* Judges the UTF-8 of text m, handed out where it lies (its data the
 * whole payload), from payload byte `from` on, u holding the judgment of
 * the bytes before. A whole frame's payload, and so data, starts at
 * offset 0 of the mask. Always inline: left to gcc, it went out of line
 * for its three callers, 10 instructions more a message. */
static inline __attribute__((always_inline)) bool
ws_message_judge(const struct ws_message *m, struct utf8_state *u,
		 size_t from)
{
	size_t len = (size_t)m->size;

	if (from < len) {
		if (m->masked)
			ws_check_masked(u, m->data + from, len - from, m->mask,
					from);
		else
			utf8_feed(u, m->data + from, len - from);
	}
	return utf8_state_complete(u);
}

/* Hands out a message that is one frame found whole in the input, where
 * it lies: its kept prefix is left in the caller's input (valid until
 * ws_decoder_feed returns), so the bytes are read once, by the validator
 * when text, and copied by no one but the caller. A masked frame
 * (borrow_masked) goes out still masked: its text is validated as it
 * lies, and the kept prefix is unmasked once, by whoever copies it
 * (ws_message_copy), rather than here and again there. The message starts
 * and ends here, so it is written straight to out, not built up in d->msg
 * and copied. */
static void ws_decoder_lend(struct ws_decoder *d,
			    const struct ws_frame_header *h,
			    const uint8_t *payload, struct ws_message *out)
{
	bool text = h->opcode == WS_OPCODE_TEXT;
	size_t n = (size_t)h->length;
	size_t limit = text ? d->cfg.keep_text : d->cfg.keep_binary;

	*out = (struct ws_message){
		.opcode = h->opcode,
		.truncated = n > limit,
		.utf8_valid = true,
		.masked = h->masked,
		.frames = 1,
		.size = n,
		.wire_size = n,
		.data = payload,
		.kept = n < limit ? n : limit,
		.close_code = -1,
	};
	if (h->masked)
		memcpy(out->mask, h->mask, sizeof(out->mask));
	if (!text)
		return;
	if (d->cfg.defer_utf8) {
		out->utf8_pending = true; /* judged by ws_message_copy */
		return;
	}
	d->utf8 = (struct utf8_state){0};
	out->utf8_valid = ws_message_judge(out, &d->utf8, 0);
}

bool ws_message_utf8_valid(const struct ws_message *m)
{
	struct utf8_state u = {0};

	return m->utf8_pending ? ws_message_judge(m, &u, 0) : m->utf8_valid;
}

bool ws_message_copy(const struct ws_message *m, uint8_t *dst, size_t n)
{
	static const uint8_t no_mask[4];
	struct utf8_state u = {0};

	if (!m->utf8_pending) {
		if (n == 0)
			return m->utf8_valid; /* data may be NULL */
		if (m->masked)
			ws_unmask_copy(dst, m->data, n, m->mask, 0);
		else
			memcpy(dst, m->data, n);
		return m->utf8_valid;
	}
	/* One pass: the copy says whether it wrote a byte that is not
	 * ASCII (unmasking with a zero key is a plain copy), and only then
	 * are the bytes judged, in dst, where they now lie in cache. */
	if (n > 0 && ws_unmask_copy(dst, m->data, n,
				    m->masked ? m->mask : no_mask, 0))
		utf8_feed(&u, dst, n);
	return ws_message_judge(m, &u, n);
}

static enum ws_error ws_decoder_on_payload(struct ws_decoder *d,
					   const struct ws_frame_chunk *c)
{
	const struct ws_frame_header *h = &d->frame.header;
	const uint8_t *mask = h->masked ? h->mask : NULL;

	if (ws_opcode_is_control(h->opcode)) {
		/* The header check capped the length at 125. */
		if (mask)
			ws_unmask_copy(d->control + d->control_len, c->data,
				       c->len, mask, c->offset);
		else
			memcpy(d->control + d->control_len, c->data, c->len);
		d->control_len += c->len;
		return WS_OK;
	}
	if (d->msg.inflated) {
		if (d->msg.inflate_capped) /* the rest is only counted */
			return WS_OK;
		return ws_inflate_feed(d->inflate, c->data, c->len, mask,
				       c->offset, ws_decoder_inflate_sink, d);
	}
	if (d->msg.compressed) {
		d->msg.size += c->len; /* not inflated: wire bytes only */
		return WS_OK;
	}
	if (mask)
		ws_decoder_take_masked(d, c, mask);
	else
		ws_decoder_take_plain(d, c->data, c->len);
	return WS_OK;
}

/* Reports the control frame just read (RFC 6455 5.5). */
static void ws_decoder_finish_control(struct ws_decoder *d,
				      struct ws_message *out)
{
	const struct ws_frame_header *h = &d->frame.header;

	*out = (struct ws_message){
		.opcode = h->opcode,
		.utf8_valid = true,
		.frames = 1,
		.size = d->control_len,
		.wire_size = d->control_len,
		.data = d->control,
		.kept = d->control_len,
		.close_code = -1,
	};
	if (h->opcode != WS_OPCODE_CLOSE)
		return;
	/* RFC 6455 5.5.1: an optional 2-byte code, then a UTF-8 reason. A
	 * 1-byte body is malformed: no code, flagged invalid. */
	d->close_seen = true;
	if (d->control_len >= 2) {
		out->close_code = (d->control[0] << 8) | d->control[1];
		out->close_code_valid =
			ws_close_code_is_valid((unsigned)out->close_code);
		out->close_reason = d->control + 2;
		out->close_reason_len = d->control_len - 2;
		out->utf8_valid =
			utf8_is_valid(out->close_reason, out->close_reason_len);
	}
}

/* Completes the data message whose last frame just ended. */
static enum ws_error ws_decoder_finish_message(struct ws_decoder *d,
					       struct ws_message *out)
{
	if (d->msg.inflated) {
		/* A capped stream stays stopped (the tail is not fed); with
		 * no_context_takeover it is reset for the next message. */
		enum ws_error err = ws_inflate_end_message(
			d->inflate, d->cfg.no_context_takeover,
			ws_decoder_inflate_sink, d);
		if (err != WS_OK)
			return err;
		if (d->msg.inflate_capped && !d->cfg.no_context_takeover)
			ws_decoder_lose_window(d);
	}
	if (d->error != WS_OK) /* memory ran out while keeping bytes */
		return d->error;
	*out = d->msg;
	out->data = d->keep;
	out->kept = d->keep_len;
	out->truncated = out->kept < out->size || out->inflate_capped;
	/* A capped text is judged on what was inflated: it may end inside
	 * a character, which is no fault of the sender's. */
	if (out->opcode == WS_OPCODE_TEXT && (!out->compressed || out->inflated))
		out->utf8_valid = out->inflate_capped
					  ? utf8_state_ok(&d->utf8)
					  : utf8_state_complete(&d->utf8);
	d->in_message = false;
	return WS_OK;
}

/* Stops the direction with err and reports it. */
static enum ws_decode_status ws_decoder_stop(struct ws_decoder *d,
					     enum ws_error err, size_t pos,
					     size_t *consumed)
{
	ws_decoder_fail(d, err);
	*consumed = pos;
	return WS_DECODE_ERROR;
}

/* Whether header h, read at a frame boundary outside any message and
 * before a close, whole in the input with its payload, is a message on
 * its own that ws_decoder_on_header would accept as it is: one final text
 * or binary frame, no RSV bit, masked as the direction requires. */
static bool ws_decoder_lone_frame(const struct ws_decoder *d,
				  const struct ws_frame_header *h)
{
	return h->fin && h->rsv == 0 &&
	       (h->opcode == WS_OPCODE_TEXT || h->opcode == WS_OPCODE_BINARY) &&
	       h->masked == d->cfg.from_client;
}

/* The common case in one step: a message that is a single frame found
 * whole at the start of buf is read without the frame state machine, and
 * handed out where it lies (ws_decoder_lend); a masked one that the
 * caller wants unmasked (no borrow_masked) goes through the general way's
 * payload and completion code. Returns false, having changed nothing,
 * when it does not apply. */
static bool ws_decoder_feed_lone_frame(struct ws_decoder *d,
				       const uint8_t *buf, size_t len,
				       size_t *consumed, struct ws_message *msg,
				       enum ws_decode_status *status)
{
	struct ws_frame_header *h = &d->frame.header;
	int size;

	/* Mid-frame or mid-message, buf does not start with a header. */
	if (d->frame.state != WS_FRAME_STATE_HEADER || d->in_message ||
	    d->close_seen)
		return false;
	/* Parsed in place: at a frame boundary the header field is free
	 * (the general way parses it again if this one is not taken). */
	size = ws_frame_header_parse(buf, len, h);
	if (size <= 0 || h->length > len - (size_t)size ||
	    !ws_decoder_lone_frame(d, h))
		return false;
	d->frame.offset = h->length;
	d->frames++;
	*consumed = (size_t)size + (size_t)h->length;
	*status = WS_DECODE_MESSAGE;
	if (!h->masked || d->cfg.borrow_masked) {
		ws_decoder_lend(d, h, buf + size, msg);
		return true;
	}
	ws_decoder_start_message(d, h); /* not compressed: cannot fail */
	d->msg.frames = 1;
	d->msg.wire_size = h->length;
	if (h->length > 0) {
		struct ws_frame_chunk c = {.data = buf + size,
					   .len = (size_t)h->length,
					   .last = true};
		ws_decoder_take_masked(d, &c, h->mask);
	}
	if (ws_decoder_finish_message(d, msg) != WS_OK)
		*status = WS_DECODE_ERROR; /* memory ran out keeping the
					      prefix (d->error is set) */
	return true;
}

enum ws_decode_status ws_decoder_feed(struct ws_decoder *d, const uint8_t *buf,
				      size_t len, size_t *consumed,
				      struct ws_message *msg)
{
	enum ws_decode_status status;
	size_t pos = 0;

	if (d->error != WS_OK) {
		*consumed = len;
		return WS_DECODE_ERROR;
	}
	if (len == 0) { /* buf may then be NULL: no arithmetic on it */
		*consumed = 0;
		return WS_DECODE_NEED_MORE;
	}
	if (ws_decoder_feed_lone_frame(d, buf, len, consumed, msg, &status))
		return status;
	for (;;) {
		struct ws_frame_chunk chunk;
		size_t used = 0;
		enum ws_frame_event ev = ws_frame_decode(
			&d->frame, buf + pos, len - pos, &used, &chunk);
		pos += used;
		enum ws_error err = WS_OK;

		switch (ev) {
		case WS_FRAME_NEED_MORE:
			*consumed = pos;
			return WS_DECODE_NEED_MORE;
		case WS_FRAME_ERROR:
			return ws_decoder_stop(d, d->frame.error, pos, consumed);
		case WS_FRAME_HEADER:
			err = ws_decoder_on_header(d);
			if (err != WS_OK)
				return ws_decoder_stop(d, err, pos - chunk.len,
						       consumed);
			/* The header came with the first piece of payload. */
			__attribute__((fallthrough));
		case WS_FRAME_PAYLOAD:
			if (chunk.len)
				err = ws_decoder_on_payload(d, &chunk);
			if (err != WS_OK || d->error != WS_OK || !chunk.last)
				break;
			if (ws_opcode_is_control(d->frame.header.opcode)) {
				ws_decoder_finish_control(d, msg);
				*consumed = pos;
				return WS_DECODE_MESSAGE;
			}
			if (!d->frame.header.fin)
				break;
			err = ws_decoder_finish_message(d, msg);
			if (err != WS_OK)
				break;
			*consumed = pos;
			return WS_DECODE_MESSAGE;
		}
		if (err != WS_OK || d->error != WS_OK)
			return ws_decoder_stop(d, err != WS_OK ? err : d->error,
					       pos, consumed);
	}
}

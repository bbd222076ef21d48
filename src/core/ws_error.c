/* ws_error.c - names and descriptions of the decoder's stop reasons. */
#include "wsdbg/ws_error.h"

struct ws_error_text {
	const char *name;
	const char *text;
};

/* Indexed by enum ws_error; the tests check every value has an entry. */
static const struct ws_error_text ws_error_texts[WS_ERR_COUNT_] = {
	[WS_OK] = {"ok", "no error"},
	[WS_ERR_RESERVED_OPCODE] = {"reserved_opcode",
		"frame uses a reserved opcode (RFC 6455 5.2)"},
	[WS_ERR_RESERVED_BITS] = {"reserved_bits",
		"RSV bit set without an extension that defines it "
		"(RFC 6455 5.2)"},
	[WS_ERR_UNMASKED_CLIENT_FRAME] = {"unmasked_client_frame",
		"client sent an unmasked frame (RFC 6455 5.3)"},
	[WS_ERR_MASKED_SERVER_FRAME] = {"masked_server_frame",
		"server sent a masked frame (RFC 6455 5.1)"},
	[WS_ERR_LENGTH_TOP_BIT] = {"length_top_bit",
		"64-bit payload length has its most significant bit set "
		"(RFC 6455 5.2)"},
	[WS_ERR_CONTROL_TOO_LONG] = {"control_too_long",
		"control frame payload longer than 125 bytes (RFC 6455 5.5)"},
	[WS_ERR_CONTROL_FRAGMENTED] = {"control_fragmented",
		"control frame without FIN: control frames cannot be "
		"fragmented (RFC 6455 5.5)"},
	[WS_ERR_CONTROL_COMPRESSED] = {"control_compressed",
		"RSV1 set on a control frame (RFC 7692 6.1)"},
	[WS_ERR_CONTINUATION_COMPRESSED] = {"continuation_compressed",
		"RSV1 set on a continuation frame (RFC 7692 6.1)"},
	[WS_ERR_CONTINUATION_WITHOUT_START] = {"continuation_without_start",
		"continuation frame with no message to continue "
		"(RFC 6455 5.4)"},
	[WS_ERR_MESSAGE_INTERRUPTED] = {"message_interrupted",
		"new data frame before the fragmented message ended "
		"(RFC 6455 5.4)"},
	[WS_ERR_FRAME_AFTER_CLOSE] = {"frame_after_close",
		"frame sent after a close frame (RFC 6455 5.5.1)"},
	[WS_ERR_INFLATE] = {"inflate",
		"corrupt permessage-deflate data (RFC 7692 7.2.2)"},
	[WS_ERR_NOMEM] = {"out_of_memory",
		"wsdbg ran out of memory decoding this stream"},
	[WS_ERR_GAP] = {"gap",
		"bytes of the stream went unseen, decoding lost sync"},
};

static const struct ws_error_text *ws_error_lookup(enum ws_error err)
{
	if ((unsigned)err >= WS_ERR_COUNT_ || !ws_error_texts[err].name)
		return 0;
	return &ws_error_texts[err];
}

const char *ws_strerror(enum ws_error err)
{
	const struct ws_error_text *t = ws_error_lookup(err);
	return t ? t->text : "unknown error";
}

const char *ws_error_name(enum ws_error err)
{
	const struct ws_error_text *t = ws_error_lookup(err);
	return t ? t->name : "unknown";
}

/* ws_close.c - close status codes (RFC 6455 7.4, IANA registry). */
#include "wsdbg/ws_close.h"

bool ws_close_code_is_valid(unsigned code)
{
	if (code >= 3000 && code <= 4999)
		return true; /* 7.4.2: libraries, frameworks, applications */
	switch (code) {
	case 1000: case 1001: case 1002: case 1003:
	case 1007: case 1008: case 1009: case 1010: case 1011:
	case 1012: case 1013: case 1014: /* IANA registry additions */
		return true;
	default:
		/* 1004 reserved, 1005/1006/1015 never on the wire (7.4.1),
		 * the rest of 0-2999 reserved or undefined. */
		return false;
	}
}

const char *ws_close_code_name(unsigned code)
{
	switch (code) {
	case 1000: return "normal closure";
	case 1001: return "going away";
	case 1002: return "protocol error";
	case 1003: return "unsupported data";
	case 1004: return "reserved";
	case 1005: return "no status received";
	case 1006: return "abnormal closure";
	case 1007: return "invalid payload data";
	case 1008: return "policy violation";
	case 1009: return "message too big";
	case 1010: return "mandatory extension";
	case 1011: return "internal error";
	case 1012: return "service restart";
	case 1013: return "try again later";
	case 1014: return "bad gateway";
	case 1015: return "TLS handshake failure";
	default: break;
	}
	if (code >= 3000 && code <= 3999)
		return "registered for libraries";
	if (code >= 4000 && code <= 4999)
		return "private use";
	if (code >= 1000 && code <= 2999)
		return "reserved";
	return "invalid";
}

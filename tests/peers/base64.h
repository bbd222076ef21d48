/*
 * base64.h - base64 encoding (RFC 4648 section 4, with padding), for
 * Sec-WebSocket-Key and Sec-WebSocket-Accept.
 */
#ifndef PEER_BASE64_H
#define PEER_BASE64_H

#include <stddef.h>

/* Bytes base64_encode writes for n input bytes, NUL included. */
#define BASE64_SIZE(n) (((n) + 2) / 3 * 4 + 1)

/* Encodes the n bytes at p into out (BASE64_SIZE(n) bytes), NUL-ended. */
void base64_encode(const void *p, size_t n, char *out);

#endif

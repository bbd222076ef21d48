/*
 * sha1.h - SHA-1 (FIPS 180-4), only for Sec-WebSocket-Accept (RFC 6455
 * 4.2.2). The test peers' own, sharing no code with wsdbg.
 */
#ifndef PEER_SHA1_H
#define PEER_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_SIZE 20

/* The digest of the n bytes at p into out. */
void sha1(const void *p, size_t n, uint8_t out[SHA1_DIGEST_SIZE]);

#endif

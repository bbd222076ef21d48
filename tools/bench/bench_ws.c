/*
 * bench_ws.c - shared pieces of the benchmark's peers (bench_ws.h).
 */
#define _GNU_SOURCE
#include "bench_ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/resource.h>

#include "base64.h"
#include "sha1.h"

/* RFC 6455 1.3: the GUID appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void bench_accept_key(const char *key, size_t key_len, char out[29])
{
	char joined[128];
	uint8_t digest[SHA1_DIGEST_SIZE];

	if (key_len > sizeof(joined) - sizeof(ws_guid))
		key_len = sizeof(joined) - sizeof(ws_guid);
	memcpy(joined, key, key_len);
	memcpy(joined + key_len, ws_guid, sizeof(ws_guid) - 1);
	sha1(joined, key_len + sizeof(ws_guid) - 1, digest);
	base64_encode(digest, sizeof(digest), out);
}

void bench_base64_key(const uint8_t raw[16], char out[25])
{
	base64_encode(raw, 16, out);
}

size_t bench_frame_header(uint8_t *out, uint8_t opcode, bool rsv1,
			  uint64_t len, const uint8_t *mask)
{
	size_t n = 0;
	uint8_t mask_bit = mask ? 0x80 : 0;

	out[n++] = (uint8_t)(0x80 | (rsv1 ? 0x40 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[n++] = (uint8_t)(mask_bit | len);
	} else if (len <= 0xffff) {
		out[n++] = mask_bit | 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = mask_bit | 127;
		for (int i = 7; i >= 0; i--)
			out[n++] = (uint8_t)(len >> (8 * i));
	}
	if (mask) {
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

void bench_mask(uint8_t *p, size_t n, const uint8_t key[4], size_t offset)
{
	for (size_t i = 0; i < n; i++)
		p[i] ^= key[(offset + i) & 3];
}

int bench_frame_parse(const uint8_t *p, size_t n, struct bench_frame *f)
{
	size_t need = 2;

	if (n < need)
		return 0;
	f->fin = p[0] & 0x80;
	f->rsv1 = p[0] & 0x40;
	f->opcode = p[0] & 0x0f;
	f->masked = p[1] & 0x80;
	uint8_t len7 = p[1] & 0x7f;
	size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
	need += ext + (f->masked ? 4 : 0);
	if (n < need)
		return 0;
	if (ext == 0) {
		f->len = len7;
	} else {
		f->len = 0;
		for (size_t i = 0; i < ext; i++)
			f->len = f->len << 8 | p[2 + i];
		if (f->len >> 63)
			return -1;
	}
	if (f->masked)
		memcpy(f->key, p + 2 + ext, 4);
	f->header_len = need;
	return 1;
}

bool bench_buf_reserve(struct bench_buf *b, size_t n)
{
	if (b->start > 0 && b->len + n > b->cap) {
		memmove(b->data, b->data + b->start, b->len - b->start);
		b->len -= b->start;
		b->start = 0;
	}
	if (b->len + n <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *grown = realloc(b->data, cap);
	if (!grown)
		return false;
	b->data = grown;
	b->cap = cap;
	return true;
}

bool bench_buf_append(struct bench_buf *b, const void *p, size_t n)
{
	if (!bench_buf_reserve(b, n))
		return false;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return true;
}

void bench_buf_consume(struct bench_buf *b, size_t n)
{
	b->start += n;
	if (b->start >= b->len)
		b->start = b->len = 0;
}

void bench_buf_free(struct bench_buf *b)
{
	free(b->data);
	*b = (struct bench_buf){0};
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t bench_process_cpu_ns(pid_t pid)
{
	clockid_t clk = CLOCK_PROCESS_CPUTIME_ID;
	struct timespec ts;

	if (pid != 0 && clock_getcpuclockid(pid, &clk) != 0)
		return -1;
	if (clock_gettime(clk, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

long bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	return (long)rl.rlim_cur;
}

void bench_random(void *p, size_t n)
{
	uint8_t *out = p;
	while (n > 0) {
		ssize_t got = getrandom(out, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			/* No kernel randomness: a fixed pattern still frames
			 * correctly; keys only need to differ by frame. */
			for (size_t i = 0; i < n; i++)
				out[i] = (uint8_t)(i * 131 + 17);
			return;
		}
		out += got;
		n -= (size_t)got;
	}
}

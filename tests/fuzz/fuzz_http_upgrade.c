/*
 * fuzz_http_upgrade.c - libFuzzer target for the handshake parser.
 *
 * The first input byte picks the role (bit 0) and how the rest is cut into
 * pieces (bits 1..7: a seed for piece sizes, 0 meaning whole). The rest is
 * fed once whole and once in those pieces, each piece in its own heap block
 * of exactly its size so ASan sees any over-read. Checked: consumed never
 * exceeds a piece; NEED_MORE takes everything; the final status is sticky;
 * DONE stops just after an empty line; both feeds agree on every result;
 * every slice lies in buf, is NUL-terminated at its length and, for header
 * names, lower-case; the query functions run on whatever was parsed.
 */
#include "wsdbg/http_upgrade.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                            \
			abort();                                             \
		}                                                            \
	} while (0)

struct outcome {
	enum http_upgrade_status status;
	size_t consumed; /* over all feeds */
};

/* Size of the next piece: from 1 byte to a few hundred, from the seed. */
static size_t piece_size(unsigned *seed, size_t left)
{
	size_t n;

	*seed = *seed * 1103515245u + 12345u;
	switch ((*seed >> 16) % 4) {
	case 0:
		n = 1;
		break;
	case 1:
		n = 1 + (*seed >> 20) % 8;
		break;
	default:
		n = 1 + (*seed >> 18) % 300;
		break;
	}
	return n < left ? n : left;
}

/* Feeds data[0..len) cut as pattern says; checks the feed contract. */
static struct outcome feed(struct http_upgrade *p, const uint8_t *data,
			   size_t len, unsigned pattern)
{
	struct outcome out = { HTTP_UPGRADE_NEED_MORE, 0 };
	unsigned seed = pattern;
	size_t pos = 0;

	while (pos < len) {
		size_t n = pattern ? piece_size(&seed, len - pos) : len - pos;
		char *piece = malloc(n);
		size_t used = (size_t)-1;

		CHECK(piece != NULL);
		memcpy(piece, data + pos, n);
		enum http_upgrade_status st =
			http_upgrade_feed(p, piece, n, &used);
		free(piece);
		CHECK(used <= n);
		if (out.status != HTTP_UPGRADE_NEED_MORE)
			CHECK(st == out.status && used == 0);
		else if (st == HTTP_UPGRADE_NEED_MORE)
			CHECK(used == n);
		out.status = st;
		out.consumed += used;
		pos += n;
	}
	return out;
}

static void check_slice(const struct http_upgrade *p, struct http_slice s)
{
	CHECK((size_t)s.off + s.len < sizeof(p->buf));
	CHECK(strlen(http_upgrade_str(p, s)) == s.len);
}

/* DONE ends just after the first empty line that follows the first line
 * (requests may have up to two empty lines before theirs). */
static void check_done_end(const uint8_t *data, size_t consumed,
			   enum http_upgrade_role role)
{
	size_t i = 0;

	CHECK(consumed >= 2 && data[consumed - 1] == '\n');
	if (role == HTTP_UPGRADE_REQUEST) {
		while (data[i] == '\r' || data[i] == '\n')
			i++;
	}
	const uint8_t *lf = memchr(data + i, '\n', consumed - i);

	CHECK(lf != NULL);
	for (i = (size_t)(lf - data) + 1; i < consumed;) {
		size_t end = (size_t)((const uint8_t *)memchr(data + i, '\n',
							      consumed - i) -
				      data);
		size_t content = end - i;

		if (content > 0 && data[end - 1] == '\r')
			content--;
		CHECK((content == 0) == (end == consumed - 1));
		i = end + 1;
	}
}

static void check_results(const struct http_upgrade *p)
{
	check_slice(p, p->method);
	check_slice(p, p->target);
	check_slice(p, p->path);
	check_slice(p, p->query);
	check_slice(p, p->reason);
	CHECK(p->nheaders <= HTTP_UPGRADE_MAX_HEADERS);
	for (size_t i = 0; i < p->nheaders; i++) {
		const struct http_header *h = &p->headers[i];
		const char *name = http_upgrade_str(p, h->name);

		check_slice(p, h->name);
		check_slice(p, h->value);
		CHECK(h->name.len > 0);
		for (size_t j = 0; j < h->name.len; j++)
			CHECK(!(name[j] >= 'A' && name[j] <= 'Z'));
		CHECK(http_upgrade_header(p, name) != NULL);
	}
	if (p->role == HTTP_UPGRADE_REQUEST) {
		CHECK(p->method.len > 0 && p->target.len > 0);
		CHECK(p->path.len <= p->target.len);
		CHECK(p->query.len < p->target.len || !p->has_query);
	}
}

/* Both feeds must agree on everything they report. */
static void check_same(const struct http_upgrade *a,
		       const struct http_upgrade *b)
{
	CHECK(a->nheaders == b->nheaders);
	CHECK(a->headers_dropped == b->headers_dropped);
	CHECK(a->status == b->status && a->version_minor == b->version_minor);
	CHECK(a->has_query == b->has_query);
	CHECK(!strcmp(http_upgrade_str(a, a->method),
		      http_upgrade_str(b, b->method)));
	CHECK(!strcmp(http_upgrade_str(a, a->target),
		      http_upgrade_str(b, b->target)));
	CHECK(!strcmp(http_upgrade_str(a, a->path),
		      http_upgrade_str(b, b->path)));
	CHECK(!strcmp(http_upgrade_str(a, a->query),
		      http_upgrade_str(b, b->query)));
	CHECK(!strcmp(http_upgrade_str(a, a->reason),
		      http_upgrade_str(b, b->reason)));
	for (size_t i = 0; i < a->nheaders; i++) {
		CHECK(!strcmp(http_upgrade_str(a, a->headers[i].name),
			      http_upgrade_str(b, b->headers[i].name)));
		CHECK(!strcmp(http_upgrade_str(a, a->headers[i].value),
			      http_upgrade_str(b, b->headers[i].value)));
	}
	CHECK(http_upgrade_kind(a) == http_upgrade_kind(b));
	CHECK(http_upgrade_problems(a) == http_upgrade_problems(b));
}

/* The query functions on every header name seen, with a cap too small. */
static void exercise_queries(const struct http_upgrade *p)
{
	char small[5], big[HTTP_UPGRADE_MAX_BLOCK + 1];

	for (size_t i = 0; i < p->nheaders; i++) {
		const char *name = http_upgrade_str(p, p->headers[i].name);
		size_t need = http_upgrade_join(p, name, big, sizeof(big));

		CHECK(need < sizeof(big) && strlen(big) == need);
		CHECK(http_upgrade_join(p, name, small, sizeof(small)) == need);
		CHECK(strlen(small) == (need < 4 ? need : 4));
		CHECK(!strncmp(small, big, strlen(small)));
		(void)http_upgrade_has_token(p, name, "upgrade");
		(void)http_header_is_secret(name);
	}
	(void)http_upgrade_has_token(p, "upgrade", "websocket");
	(void)http_upgrade_kind(p);
	(void)http_upgrade_problems(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_upgrade whole, cut;

	if (size == 0)
		return 0;
	enum http_upgrade_role role =
		data[0] & 1 ? HTTP_UPGRADE_RESPONSE : HTTP_UPGRADE_REQUEST;
	unsigned pattern = data[0] >> 1;
	const uint8_t *msg = data + 1;
	size_t len = size - 1;

	http_upgrade_init(&whole, role);
	http_upgrade_init(&cut, role);
	struct outcome a = feed(&whole, msg, len, 0);
	struct outcome b = feed(&cut, msg, len, pattern);

	CHECK(a.status == b.status && a.consumed == b.consumed);
	CHECK(a.consumed <= len);
	CHECK(http_upgrade_strerror(a.status) != NULL);
	if (a.status == HTTP_UPGRADE_NEED_MORE)
		CHECK(a.consumed == len);
	if (a.status != HTTP_UPGRADE_DONE) {
		CHECK(http_upgrade_kind(&whole) == HTTP_UPGRADE_KIND_UNKNOWN);
		CHECK(http_upgrade_problems(&whole) == 0);
		exercise_queries(&whole);
		return 0;
	}
	CHECK(a.consumed <= HTTP_UPGRADE_MAX_BLOCK + 2 * 2); /* + empty lines */
	check_done_end(msg, a.consumed, role);
	check_results(&whole);
	check_results(&cut);
	check_same(&whole, &cut);
	exercise_queries(&whole);
	return 0;
}

#include "strbuf.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void strbuf_reserve(struct strbuf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	cr_assert_not_null(s);
	b->s = s;
	b->cap = cap;
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0);
	strbuf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void strbuf_escaped(struct strbuf *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			strbuf_printf(b, "%c", p[i]);
		else
			strbuf_printf(b, "\\x%02x", p[i]);
	}
}

char *strbuf_take(struct strbuf *b)
{
	strbuf_reserve(b, 0);
	b->s[b->len] = '\0';
	char *s = b->s;
	*b = (struct strbuf){0};
	return s;
}

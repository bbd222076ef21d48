/* strbuf.h - a growable string for building test logs. */
#ifndef WSDBG_TEST_STRBUF_H
#define WSDBG_TEST_STRBUF_H

#include <stddef.h>
#include <stdint.h>

struct strbuf {
	char *s;
	size_t len, cap;
};

/* Appends formatted text; aborts the test when memory runs out. */
void strbuf_printf(struct strbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends n bytes shown as text: printable ASCII as is, others as \xNN. */
void strbuf_escaped(struct strbuf *b, const uint8_t *p, size_t n);

/* Hands the string to the caller (never NULL); b is empty afterwards. */
char *strbuf_take(struct strbuf *b);

#endif

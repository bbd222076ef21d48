/* wstrace.c - reading .wstrace transcripts, line by line. */
#define _GNU_SOURCE /* getline */
#include "wstrace.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const char *wstrace_dir_name(enum wstrace_dir dir)
{
	return dir == WSTRACE_C2S ? "c2s" : "s2c";
}

int wstrace_open(struct wstrace_reader *r, const char *path)
{
	*r = (struct wstrace_reader){0};
	if (strcmp(path, "-") == 0) {
		r->f = stdin;
		r->name = "<stdin>";
		return 0;
	}
	r->name = path;
	r->f = fopen(path, "r");
	if (!r->f) {
		snprintf(r->error, sizeof(r->error), "%s: %s", path,
			 strerror(errno));
		return -1;
	}
	return 0;
}

void wstrace_close(struct wstrace_reader *r)
{
	if (r->f && r->f != stdin)
		fclose(r->f);
	free(r->text);
	free(r->bytes);
	*r = (struct wstrace_reader){0};
}

__attribute__((format(printf, 2, 3)))
static int wstrace_fail(struct wstrace_reader *r, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(r->error, sizeof(r->error), "%s:%lu: %s", r->name, r->line,
		 what);
	return -1;
}

/* Splits the next field off *s (separated by spaces or tabs). NULL if none. */
static char *next_field(char **s)
{
	char *p = *s, *start;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return NULL;
	start = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p)
		*p++ = '\0';
	*s = p;
	return start;
}

/* "12.345678": digits, optionally a dot and digits. */
static bool parse_seconds(const char *s, double *out)
{
	char *end;
	const char *p = s;
	bool digits = false;

	while (*p >= '0' && *p <= '9') {
		p++;
		digits = true;
	}
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits = true;
	if (!digits || *p != '\0')
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return errno == 0 && *end == '\0';
}

static bool conn_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > WSTRACE_MAX_CONN_ID)
		return false;
	for (; *s; s++)
		if (!(*s >= '0' && *s <= '9') && !(*s >= 'a' && *s <= 'z') &&
		    !(*s >= 'A' && *s <= 'Z') && !strchr("_.:-", *s))
			return false;
	return true;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex into r->bytes. Returns the byte count, or -1 (r->error). */
static long decode_hex(struct wstrace_reader *r, const char *hex)
{
	size_t n = strlen(hex);

	if (n % 2 != 0)
		return wstrace_fail(r, "odd number of hex digits (%zu)", n);
	if (n / 2 > r->bytes_cap) {
		uint8_t *b = realloc(r->bytes, n / 2);

		if (!b)
			return wstrace_fail(r, "out of memory");
		r->bytes = b;
		r->bytes_cap = n / 2;
	}
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);

		if (hi < 0 || lo < 0)
			return wstrace_fail(r, "bad hex digit in byte %zu of "
					    "the chunk", i / 2);
		r->bytes[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

/* Parses one record line (already stripped of its newline). */
static int parse_record(struct wstrace_reader *r, char *s,
			struct wstrace_record *rec)
{
	char *ts = next_field(&s), *conn = next_field(&s);
	char *dir = next_field(&s), *hex = next_field(&s);
	long n;

	if (!hex)
		return wstrace_fail(r, "expected '<seconds> <conn-id> "
				    "<c2s|s2c> <hex bytes>'");
	if (next_field(&s))
		return wstrace_fail(r, "unexpected text after the hex bytes");
	if (!parse_seconds(ts, &rec->t))
		return wstrace_fail(r, "bad time '%.40s' (want seconds like "
				    "1.250000)", ts);
	if (!conn_id_ok(conn))
		return wstrace_fail(r, "bad connection id '%.40s'", conn);
	if (strcmp(dir, "c2s") == 0)
		rec->dir = WSTRACE_C2S;
	else if (strcmp(dir, "s2c") == 0)
		rec->dir = WSTRACE_S2C;
	else
		return wstrace_fail(r, "bad direction '%.40s' (want c2s or "
				    "s2c)", dir);
	n = decode_hex(r, hex);
	if (n < 0)
		return -1;
	strcpy(rec->conn, conn);
	rec->data = r->bytes;
	rec->len = (size_t)n;
	return 1;
}

int wstrace_next(struct wstrace_reader *r, struct wstrace_record *rec)
{
	for (;;) {
		ssize_t n;

		errno = 0;
		n = getline(&r->text, &r->text_cap, r->f);
		if (n < 0) {
			if (ferror(r->f)) {
				r->line++;
				return wstrace_fail(r, "read error: %s",
						    strerror(errno ? errno
								   : EIO));
			}
			return 0;
		}
		r->line++;
		if (strlen(r->text) != (size_t)n)
			return wstrace_fail(r, "NUL byte in line");
		while (n > 0 && (r->text[n - 1] == '\n' ||
				 r->text[n - 1] == '\r'))
			r->text[--n] = '\0';
		const char *p = r->text;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		return parse_record(r, r->text, rec);
	}
}

/* table.c - aligned text tables (see table.h). */
#include "table.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MAX_COLS 16

struct table_cell {
	char *text;
	enum paint paint;
};

struct table {
	size_t ncols;
	const char *head[TABLE_MAX_COLS];
	enum table_align align[TABLE_MAX_COLS];
	bool shrink[TABLE_MAX_COLS];       /* shortened to fit */
	unsigned drop_rank[TABLE_MAX_COLS]; /* left out to fit; 0: never */
	struct table_cell *cells; /* rows * ncols */
	size_t rows, cap, filled; /* filled: cells of the current row */
};

struct table *table_new(size_t ncols)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t || ncols > TABLE_MAX_COLS) {
		free(t);
		return NULL;
	}
	t->ncols = ncols;
	for (size_t i = 0; i < ncols; i++)
		t->head[i] = "";
	return t;
}

void table_column(struct table *t, size_t col, const char *head,
		  enum table_align align)
{
	t->head[col] = head;
	t->align[col] = align;
}

void table_shrink_column(struct table *t, size_t col)
{
	t->shrink[col] = true;
}

void table_optional_column(struct table *t, size_t col, unsigned rank)
{
	t->drop_rank[col] = rank;
}

void table_row(struct table *t)
{
	if (t->rows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct table_cell *c = realloc(t->cells,
					       cap * t->ncols * sizeof(*c));

		if (!c)
			abort(); /* out of memory in a CLI: nothing to save */
		t->cells = c;
		t->cap = cap;
	}
	memset(&t->cells[t->rows * t->ncols], 0,
	       t->ncols * sizeof(*t->cells));
	t->rows++;
	t->filled = 0;
}

void table_cell(struct table *t, enum paint p, const char *fmt, ...)
{
	struct table_cell *c;
	va_list ap;
	int n;

	if (t->rows == 0 || t->filled == t->ncols)
		return;
	c = &t->cells[(t->rows - 1) * t->ncols + t->filled++];
	va_start(ap, fmt);
	n = vasprintf(&c->text, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	c->paint = p;
}

/* Prints s in at most w columns, "…" when cut; returns columns used. */
static size_t put_clipped(FILE *f, const char *s, size_t w)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t width = format_display_width(s), used = 0, i = 0;

	if (width <= w) {
		fputs(s, f);
		return width;
	}
	if (w == 0)
		return 0;
	while (p[i] && used + 1 < w) {
		size_t len = utf8_sequence_length(p + i, 4);

		len = len ? len : 1;
		fwrite(p + i, 1, len, f);
		i += len;
		used++;
	}
	fputs("…", f);
	return used + 1;
}

static void print_cell(FILE *f, const char *s, enum paint p, size_t w,
		       enum table_align align, bool last, bool color)
{
	size_t sw = format_display_width(s), pad = sw < w ? w - sw : 0;

	if (align == TABLE_RIGHT)
		fprintf(f, "%*s", (int)pad, "");
	if (color && p != PAINT_NONE)
		fputs(paint_start(p), f);
	put_clipped(f, s, w);
	if (color && p != PAINT_NONE)
		fputs(paint_end(), f);
	if (align == TABLE_LEFT && !last)
		fprintf(f, "%*s", (int)pad, "");
}

/* Columns taken by the shown columns of widths w, two spaces apart. */
static size_t total_width(const struct table *t, const size_t *w,
			  const bool *shown)
{
	size_t total = 0, n = 0;

	for (size_t c = 0; c < t->ncols; c++)
		if (shown[c])
			total += w[c] + (n++ ? 2 : 0);
	return total;
}

/*
 * Shortens the shown shrinkable columns, the widest first, until the
 * table takes at most width columns or none can give more. Returns the
 * table's width then.
 */
static size_t shrink_to(const struct table *t, size_t *w, const bool *shown,
			size_t width)
{
	size_t total = total_width(t, w, shown);

	while (total > width) {
		size_t widest = t->ncols, next = 0, min = 0, cut;

		for (size_t c = 0; c < t->ncols; c++) {
			size_t m = format_display_width(t->head[c]);

			m = m < 8 ? 8 : m;
			if (!shown[c] || !t->shrink[c] || w[c] <= m)
				continue;
			if (widest == t->ncols || w[c] > w[widest]) {
				if (widest != t->ncols && w[widest] > next)
					next = w[widest];
				widest = c;
				min = m;
			} else if (w[c] > next) {
				next = w[c];
			}
		}
		if (widest == t->ncols)
			break;
		/* Down to the next widest (then both go on together), its
		 * minimum, or just enough. */
		cut = w[widest] - (next > min ? next : min);
		cut = cut == 0 ? 1 : cut;
		cut = cut < total - width ? cut : total - width;
		w[widest] -= cut;
		total -= cut;
	}
	return total;
}

/* Fits the columns into width: widths in w, left-out columns unshown. */
static void fit(const struct table *t, const size_t *natural, size_t *w,
		bool *shown, size_t width)
{
	size_t start = 0;

	for (;;) {
		unsigned top = 0;
		size_t drop = t->ncols;

		memcpy(w, natural, t->ncols * sizeof(*w));
		if (shrink_to(t, w, shown, width) <= width)
			return;
		for (size_t c = 0; c < t->ncols; c++)
			if (shown[c] && t->drop_rank[c] > top) {
				top = t->drop_rank[c];
				drop = c;
			}
		if (drop == t->ncols)
			break;
		shown[drop] = false;
	}
	/* Too narrow even so: cut at the width what does not fit. */
	for (size_t c = 0; c < t->ncols; c++) {
		if (!shown[c])
			continue;
		if (start >= width) {
			shown[c] = false;
			continue;
		}
		if (start + w[c] > width)
			w[c] = width - start;
		start += w[c] + 2;
	}
}

void table_print_free(struct table *t, FILE *f, bool color, unsigned width)
{
	size_t natural[TABLE_MAX_COLS], w[TABLE_MAX_COLS];
	bool shown[TABLE_MAX_COLS];
	size_t last = 0;

	for (size_t c = 0; c < t->ncols; c++) {
		natural[c] = format_display_width(t->head[c]);
		for (size_t r = 0; r < t->rows; r++) {
			const char *s = t->cells[r * t->ncols + c].text;
			size_t sw = s ? format_display_width(s) : 0;

			if (sw > natural[c])
				natural[c] = sw;
		}
		shown[c] = true;
		w[c] = natural[c];
	}
	if (width)
		fit(t, natural, w, shown, width);
	for (size_t c = 0; c < t->ncols; c++)
		if (shown[c])
			last = c;
	for (size_t r = 0; r <= t->rows; r++) {
		bool first = true;

		for (size_t c = 0; c < t->ncols; c++) {
			const char *s;
			enum paint p;

			if (!shown[c])
				continue;
			if (r == 0) {
				s = t->head[c];
				p = PAINT_DIM;
			} else {
				s = t->cells[(r - 1) * t->ncols + c].text;
				p = t->cells[(r - 1) * t->ncols + c].paint;
			}
			/* No trailing blanks after an empty last cell. */
			if (c == last && t->align[c] == TABLE_LEFT &&
			    (!s || !*s))
				break;
			if (!first)
				fputs("  ", f);
			first = false;
			print_cell(f, s ? s : "", p, w[c], t->align[c],
				   c == last, color);
		}
		fputc('\n', f);
	}
	table_free(t);
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->rows * t->ncols; i++)
		free(t->cells[i].text);
	free(t->cells);
	free(t);
}

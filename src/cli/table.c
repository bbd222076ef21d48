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
	size_t shrink; /* column to shorten, or ncols for none */
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
	t->shrink = ncols;
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
	t->shrink = col;
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

void table_print_free(struct table *t, FILE *f, bool color, unsigned width)
{
	size_t w[TABLE_MAX_COLS], total = 0;

	for (size_t c = 0; c < t->ncols; c++) {
		w[c] = format_display_width(t->head[c]);
		for (size_t r = 0; r < t->rows; r++) {
			const char *s = t->cells[r * t->ncols + c].text;
			size_t sw = s ? format_display_width(s) : 0;

			if (sw > w[c])
				w[c] = sw;
		}
		total += w[c] + (c ? 2 : 0);
	}
	/* Too wide for the terminal: shorten the chosen column, keeping at
	 * least its header's width. */
	if (width && total > width && t->shrink < t->ncols) {
		size_t min = format_display_width(t->head[t->shrink]);
		size_t over = total - width;

		if (min < 8)
			min = 8;
		if (w[t->shrink] > min)
			w[t->shrink] -= over < w[t->shrink] - min
						? over : w[t->shrink] - min;
	}
	for (size_t r = 0; r <= t->rows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			bool last = c + 1 == t->ncols;
			const char *s;
			enum paint p;

			if (r == 0) {
				s = t->head[c];
				p = PAINT_DIM;
			} else {
				s = t->cells[(r - 1) * t->ncols + c].text;
				p = t->cells[(r - 1) * t->ncols + c].paint;
			}
			if (c)
				fputs("  ", f);
			print_cell(f, s ? s : "", p, w[c], t->align[c], last,
				   color);
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

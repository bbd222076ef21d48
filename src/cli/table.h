/*
 * table.h - aligned text tables for the CLI: a header row, then rows of
 * cells, each cell with its own colour. Widths count code points, so "●"
 * and "…" take one column.
 *
 * A table wider than the terminal is made to fit it: first the columns
 * marked to shorten give way (cut with "…"), the widest first, down to
 * their header's width or 8 columns; when that is not enough, the columns
 * marked optional are left out, the highest rank first, and the
 * shortening starts over; on a terminal too narrow even for that, each
 * line is cut at the width.
 */
#ifndef WSDBG_CLI_TABLE_H
#define WSDBG_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "format.h"
#include "paint.h"

struct table;

enum table_align { TABLE_LEFT, TABLE_RIGHT };

/* A table with ncols columns (at most 16). NULL only when out of memory. */
struct table *table_new(size_t ncols);

/* Sets column col's header and alignment. */
void table_column(struct table *t, size_t col, const char *head,
		  enum table_align align);

/* Marks col as one that is shortened to fit the width (default: none). */
void table_shrink_column(struct table *t, size_t col);

/* Marks col as one left out when shortening is not enough to fit; the
 * highest rank (>= 1) goes first. */
void table_optional_column(struct table *t, size_t col, unsigned rank);

/* Starts a new row; cells then fill it left to right. */
void table_row(struct table *t);

/* Appends a cell to the current row; text is copied. */
__attribute__((format(printf, 3, 4)))
void table_cell(struct table *t, enum paint p, const char *fmt, ...);

/*
 * Prints the table to f: columns two spaces apart, the header dim, cells
 * in their colours when color. width: terminal columns, 0 for no limit;
 * with a width, no line is wider. Frees the table.
 */
void table_print_free(struct table *t, FILE *f, bool color, unsigned width);

/* Frees the table unprinted. t may be NULL. */
void table_free(struct table *t);

#endif

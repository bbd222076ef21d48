/*
 * paint.h - the CLI's colours (ANSI, only on a terminal, never with
 * NO_COLOR) and the terminal's width.
 */
#ifndef WSDBG_CLI_PAINT_H
#define WSDBG_CLI_PAINT_H

#include <stdbool.h>
#include <stdio.h>

/* Colours of the human output. */
enum paint {
	PAINT_NONE,
	PAINT_DIM,
	PAINT_BOLD,
	PAINT_GREEN,  /* received; open */
	PAINT_CYAN,   /* sent */
	PAINT_YELLOW, /* markers; closing */
	PAINT_RED,    /* errors; rejected */
	PAINT_GREY,   /* closed */
};

/* The ANSI sequence that starts paint p ("" for PAINT_NONE), and the one
 * that ends any paint. */
const char *paint_start(enum paint p);
const char *paint_end(void);

/*
 * Whether output to fd should be coloured: fd is a terminal and NO_COLOR
 * is unset or empty (https://no-color.org).
 */
bool format_color_wanted(int fd);

/* Columns of the terminal on fd, or 0 when fd is not a terminal. */
unsigned format_terminal_width(int fd);

/*
 * Writes text (UTF-8 lines, with this file's colour sequences) to f with
 * each line cut to width columns: a line that is wider ends with "…" in
 * its last column (and a colour reset when it had colours). Colour
 * sequences take no column; every code point takes one. width 0: as is.
 */
void paint_put_clipped(FILE *f, const char *text, unsigned width);

#endif

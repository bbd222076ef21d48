/*
 * paint.h - the CLI's colours (ANSI, only on a terminal, never with
 * NO_COLOR) and the terminal's width.
 */
#ifndef WSDBG_CLI_PAINT_H
#define WSDBG_CLI_PAINT_H

#include <stdbool.h>

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

#endif

/* paint.c - colours and terminal width (paint.h). */
#include "paint.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "format.h"

const char *paint_start(enum paint p)
{
	static const char *const codes[] = {
		[PAINT_NONE] = "",          [PAINT_DIM] = "\033[2m",
		[PAINT_BOLD] = "\033[1m",   [PAINT_GREEN] = "\033[32m",
		[PAINT_CYAN] = "\033[36m",  [PAINT_YELLOW] = "\033[33m",
		[PAINT_RED] = "\033[31m",   [PAINT_GREY] = "\033[90m",
	};

	return codes[p];
}

const char *paint_end(void)
{
	return "\033[0m";
}

bool format_color_wanted(int fd)
{
	const char *no = getenv("NO_COLOR");

	return isatty(fd) && !(no && *no);
}

unsigned format_terminal_width(int fd)
{
	struct winsize ws;

	if (!isatty(fd) || ioctl(fd, TIOCGWINSZ, &ws) != 0)
		return 0;
	return ws.ws_col;
}

/* Bytes of the colour sequence at p ("\033[...m"), or 0. */
static size_t sequence_length(const char *p)
{
	size_t n = 2;

	if (p[0] != '\033' || p[1] != '[')
		return 0;
	while (p[n] && p[n] != 'm')
		n++;
	return p[n] ? n + 1 : n;
}

/* Columns of the line at p (up to "\n" or the end). */
static size_t line_width(const char *p)
{
	size_t cols = 0;

	while (*p && *p != '\n') {
		size_t seq = sequence_length(p), len;

		if (seq) {
			p += seq;
			continue;
		}
		len = utf8_sequence_length((const uint8_t *)p, strnlen(p, 4));
		p += len ? len : 1;
		cols++;
	}
	return cols;
}

void paint_put_clipped(FILE *f, const char *text, unsigned width)
{
	const char *p = text;

	if (!width) {
		fputs(text, f);
		return;
	}
	while (*p) {
		size_t end = strcspn(p, "\n"), cols = 0;
		bool painted = false;

		if (line_width(p) <= width) {
			fwrite(p, 1, end, f);
		} else {
			/* Width - 1 columns, then "…". */
			for (const char *q = p; q < p + end;) {
				size_t seq = sequence_length(q), len;

				if (seq) {
					fwrite(q, 1, seq, f);
					painted = true;
					q += seq;
					continue;
				}
				if (cols + 1 == width)
					break;
				len = utf8_sequence_length((const uint8_t *)q,
							   strnlen(q, 4));
				len = len ? len : 1;
				fwrite(q, 1, len, f);
				q += len;
				cols++;
			}
			fputs("…", f);
			if (painted)
				fputs(paint_end(), f);
		}
		p += end;
		if (*p == '\n')
			fputc(*p++, f);
	}
}

/* paint.c - colours and terminal width (paint.h). */
#include "paint.h"

#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

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

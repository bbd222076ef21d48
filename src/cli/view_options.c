/* view_options.c - the options the viewing commands share (cli.h). */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "source.h"

int cli_view_options(int argc, char **argv, const char *cmd, const char *help,
		     struct source_query *q, bool *as_json)
{
	static const struct option longopts[] = {
		{"from", required_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (opt == 'f') {
			q->from = optarg;
		} else if (opt == 'j') {
			*as_json = true;
		} else if (opt == 'h') {
			fputs(help, stdout);
			return CLI_OK;
		} else {
			return cli_bad_option(cmd, argv, opt);
		}
	}
	return -1;
}

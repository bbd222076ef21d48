/*
 * cli.h - what the wsdbg commands share: exit statuses, the one-line error
 * reporting, and the entry point of each command (cmd_*.c). Each command
 * gets its own argv (argv[0] is the command's name) and returns the
 * process's exit status.
 */
#ifndef WSDBG_CLI_H
#define WSDBG_CLI_H

#include <stdbool.h>

/* Exit statuses (DESIGN.md, "CLI"). */
enum {
	CLI_OK = 0,      /* success */
	CLI_NOTHING = 1, /* nothing to show, not found, unreadable */
	CLI_USAGE = 2,   /* bad command line */
};

/*
 * When set, cli_error prints nothing and keeps its message (without the
 * "wsdbg: ") in cli_last_error instead: for a caller that decides itself
 * whether a failure is worth a line (msgs --follow, when the process goes
 * away).
 */
extern bool cli_quiet;
extern char cli_last_error[1024];

/* Prints "wsdbg: " and the message as one line on stderr. */
__attribute__((format(printf, 1, 2)))
void cli_error(const char *fmt, ...);

/*
 * Reports a usage error of command cmd ("wsdbg conns: ...; see
 * 'wsdbg conns --help'") and returns CLI_USAGE.
 */
__attribute__((format(printf, 2, 3)))
int cli_usage_error(const char *cmd, const char *fmt, ...);

/*
 * Reports getopt_long's failure for the option at argv[optind - 1]
 * (optopt: the short option, 0 for a long one) and returns CLI_USAGE.
 */
int cli_bad_option(const char *cmd, char *const argv[], int opt);

struct source_query;
/* Parses the options conns, stats and show share: --from FILE (into
 * q->from), --json, --help (prints help). Returns -1 to go on, with optind
 * at the first operand, or the exit status the command should return. */
int cli_view_options(int argc, char **argv, const char *cmd, const char *help,
		     struct source_query *q, bool *as_json);

/* Parses a decimal count >= 1; false when s is anything else. */
bool cli_parse_count(const char *s, unsigned long *out);

int cmd_run(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_conns(int argc, char **argv);
int cmd_msgs(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_show(int argc, char **argv);

#endif

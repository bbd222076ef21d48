/*
 * main.c - wsdbg, the command line: finds processes running with the shim
 * (libwsdbg.so), asks their sockets for snapshots and shows them. This
 * file dispatches to the commands (cmd_*.c) and holds what they share.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "source.h"

#ifndef WSDBG_VERSION
#define WSDBG_VERSION "unknown"
#endif

bool cli_quiet;
char cli_last_error[1024];

/*
 * Prints prefix and the message as one line on stderr: control characters
 * escaped (\n, \u001b...) so that whatever it quotes (names, paths, a
 * peer's bytes) can neither break the line nor reach the terminal as a
 * command; "…" when the message was cut at its buffer's size.
 */
__attribute__((format(printf, 2, 0)))
static void error_line(const char *prefix, const char *fmt, va_list ap,
		       const char *suffix)
{
	char line[1024];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (n < 0)
		return;
	if (cli_quiet) {
		snprintf(cli_last_error, sizeof(cli_last_error), "%s", line);
		return;
	}
	fflush(stdout);
	fputs(prefix, stderr);
	format_preview_text(stderr, (const unsigned char *)line, strlen(line),
			    sizeof(line), (size_t)n >= sizeof(line));
	fprintf(stderr, "%s\n", suffix);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_line("wsdbg: ", fmt, ap, "");
	va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char prefix[64], suffix[64];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "wsdbg %s: ", cmd);
	snprintf(suffix, sizeof(suffix), " (see 'wsdbg %s --help')", cmd);
	va_start(ap, fmt);
	error_line(prefix, fmt, ap, suffix);
	va_end(ap);
	return CLI_USAGE;
}

int cli_bad_option(const char *cmd, char *const argv[], int opt)
{
	const char *arg = argv[optind - 1];

	if (opt == ':')
		return cli_usage_error(cmd, "option %s needs a value", arg);
	if (optopt && strncmp(arg, "--", 2) != 0)
		return cli_usage_error(cmd, "unknown option -%c", optopt);
	return cli_usage_error(cmd, "unknown option %s", arg);
}

bool cli_parse_count(const char *s, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0)
		return false;
	*out = v;
	return true;
}

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"run", cmd_run, "run a program with the shim preloaded"},
	{"ps", cmd_ps, "list the processes running with the shim"},
	{"conns", cmd_conns, "a process's WebSocket connections"},
	{"msgs", cmd_msgs, "the message timeline of a process or connection"},
	{"show", cmd_show, "one connection, or one message, in full"},
	{"stats", cmd_stats, "aggregate figures: connections, messages, "
			     "bytes, durations, RTT"},
	{"dump", cmd_dump, "the JSON snapshot (schema version 1)"},
};

static void usage(FILE *f)
{
	fputs("usage: wsdbg COMMAND [ARGS...]\n"
	      "See every WebSocket message of a process running with "
	      "libwsdbg.so.\n\ncommands:\n", f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-6s  %s\n", commands[i].name,
			commands[i].summary);
	fputs("\n'wsdbg COMMAND --help' for each; 'man wsdbg' for all.\n"
	      "exit status: 0 success, 1 nothing to show or not found, "
	      "2 usage error\n", f);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		cli_error("missing command (commands: run, ps, conns, msgs, "
			  "show, stats, dump; see 'wsdbg --help')");
		return CLI_USAGE;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") ||
	    !strcmp(cmd, "help")) {
		usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(cmd, "--version")) {
		printf("wsdbg %s\n", WSDBG_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cmd, commands[i].name))
			continue;
		/* A bad setting is a usage error, before anything is asked;
		 * `run` reads no snapshot. */
		if (commands[i].run != cmd_run && !source_check_env())
			return CLI_USAGE;
		return commands[i].run(argc - 1, argv + 1);
	}
	cli_error("unknown command '%s' (commands: run, ps, conns, msgs, "
		  "show, stats, dump; see 'wsdbg --help')", cmd);
	return CLI_USAGE;
}

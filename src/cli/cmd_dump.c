/*
 * cmd_dump.c - `wsdbg dump [PID|NAME|--all] [-o FILE]`: the schema-v1 JSON
 * snapshot of one process, or an array of all attached ones' with --all.
 * The output is itself a snapshot file for --from.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "source.h"

static const char dump_help[] =
	"usage: wsdbg dump [PID|NAME|--all] [-o FILE] [--from FILE]\n"
	"Prints the JSON snapshot of a process (schema version 1, see\n"
	"DESIGN.md): every connection with its kept messages. The output\n"
	"can be read back with --from by every viewing command.\n\n"
	"  PID|NAME       the process (may be left out when only one is\n"
	"                 attached)\n"
	"  --all          every attached process: a JSON array\n"
	"  -o, --output FILE  write to FILE instead of standard output\n"
	"  --from FILE    read a saved snapshot instead (with --all: all of\n"
	"                 the file)\n"
	"  -h, --help     this help\n\n"
	"Exit status: 0, 1 when no process is found or FILE cannot be\n"
	"written, 2 on a usage error.\n";

/* Every attached process's snapshot, or NULL after an error line. */
static json_t *dump_all_live(int *status)
{
	struct source_proc *procs;
	char dir[4096];
	json_t *all;
	long n;

	*status = CLI_NOTHING;
	if (!source_socket_dir(dir, sizeof(dir))) {
		cli_error("socket directory name too long");
		return NULL;
	}
	n = source_list(dir, &procs);
	if (n <= 0) {
		if (n < 0)
			source_list_error(dir, n);
		else
			cli_error("no process is attached to wsdbg (no "
				  "sockets in %s)", dir);
		return NULL;
	}
	all = json_array();
	for (long i = 0; i < n; i++) {
		int ignored; /* a failing process has had its error line */
		json_t *s = source_request(dir, procs[i].pid, "snapshot",
					   &ignored);

		if (s)
			json_array_append_new(all, s);
	}
	free(procs);
	if (json_array_size(all) == 0) {
		json_decref(all);
		return NULL;
	}
	return all;
}

static json_t *dump_all_file(const char *path, int *status)
{
	json_t *v = source_load_file(path, status), *all;

	if (!v || json_is_array(v))
		return v;
	all = json_array();
	json_array_append_new(all, v);
	return all;
}

static int write_json(const json_t *v, const char *out)
{
	FILE *f = out ? fopen(out, "we") : stdout;
	bool ok;

	if (!f) {
		cli_error("cannot write %s: %s", out, strerror(errno));
		return CLI_NOTHING;
	}
	ok = json_dumpf(v, f, SOURCE_JSON_FLAGS) == 0 && fputc('\n', f) != EOF;
	ok &= fflush(f) == 0;
	if (out)
		ok &= fclose(f) == 0;
	if (!ok) {
		cli_error("cannot write %s: %s", out ? out : "standard output",
			  strerror(errno));
		return CLI_NOTHING;
	}
	return CLI_OK;
}

int cmd_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"all", no_argument, NULL, 'a'},
		{"output", required_argument, NULL, 'o'},
		{"from", required_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'}, /* accepted: always JSON */
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct source_query q = {.request = "snapshot"};
	const char *out = NULL;
	int opt, status = CLI_OK;
	bool all = false, used;
	json_t *v;

	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			all = true;
			break;
		case 'o':
			out = optarg;
			break;
		case 'f':
			q.from = optarg;
			break;
		case 'j':
			break;
		case 'h':
			fputs(dump_help, stdout);
			return CLI_OK;
		default:
			return cli_bad_option("dump", argv, opt);
		}
	}
	if (optind < argc)
		q.target = argv[optind++];
	if (optind < argc)
		return cli_usage_error("dump", "unexpected argument '%s'",
				       argv[optind]);
	if (all && q.target)
		return cli_usage_error("dump", "give a PID or --all, not both");
	if (all)
		v = q.from ? dump_all_file(q.from, &status)
			   : dump_all_live(&status);
	else
		v = source_snapshot(&q, &used, &status);
	if (!v)
		return status;
	status = write_json(v, out);
	json_decref(v);
	return status;
}

/*
 * cmd_run.c - `wsdbg run [--dump FILE] [--] CMD [ARGS...]`: exec CMD with
 * libwsdbg.so prepended to LD_PRELOAD, so CMD keeps wsdbg's pid.
 *
 * The shim is looked for, first found wins:
 *   1. $WSDBG_LIB (when set, it must exist);
 *   2. ../shim/libwsdbg.so beside this executable's directory (the meson
 *      build tree: build/src/cli/wsdbg and build/src/shim/libwsdbg.so);
 *   3. WSDBG_INSTALL_LIB, the file `meson install` puts in the libdir.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#ifndef WSDBG_INSTALL_LIB
#define WSDBG_INSTALL_LIB "/usr/local/lib/libwsdbg.so"
#endif

static const char run_help[] =
	"usage: wsdbg run [--dump FILE] [--] CMD [ARGS...]\n"
	"Runs CMD with libwsdbg.so preloaded (prepended to LD_PRELOAD); CMD\n"
	"takes wsdbg's pid, arguments and exit status pass through.\n\n"
	"  --dump FILE  write a JSON snapshot to FILE when CMD exits\n"
	"               (WSDBG_DUMP; %p in FILE becomes the pid)\n"
	"  -h, --help   this help\n\n"
	"The shim is found at $WSDBG_LIB, else ../shim/libwsdbg.so from the\n"
	"directory of the wsdbg executable (a build tree), else\n"
	"  " WSDBG_INSTALL_LIB "\n"
	"One warning line is printed when CMD is statically linked, a Go\n"
	"program or setuid/setgid: the shim cannot see such a program.\n"
	"Exit status: CMD's; 127 when CMD is not found, 126 when it cannot\n"
	"be run, 2 on a usage error, 1 when the shim is not found.\n";

/* Fills lib with the shim's path; false after an error line. */
static bool find_shim(char *lib, size_t cap)
{
	const char *env = getenv("WSDBG_LIB");
	char self[PATH_MAX], beside[PATH_MAX + 32];
	ssize_t n;
	char *slash;

	if (env && *env) {
		if (access(env, R_OK) != 0) {
			cli_error("WSDBG_LIB=%s: %s", env, strerror(errno));
			return false;
		}
		snprintf(lib, cap, "%s", env);
		return true;
	}
	beside[0] = '\0';
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(beside, sizeof(beside),
				 "%s/../shim/libwsdbg.so", self);
			if (access(beside, R_OK) == 0 &&
			    realpath(beside, lib) && strlen(lib) < cap)
				return true;
		}
	}
	if (access(WSDBG_INSTALL_LIB, R_OK) == 0) {
		snprintf(lib, cap, "%s", WSDBG_INSTALL_LIB);
		return true;
	}
	cli_error("cannot find libwsdbg.so (looked at %s%s%s); set "
		  "WSDBG_LIB", beside, beside[0] ? " and " : "",
		  WSDBG_INSTALL_LIB);
	return false;
}

/* The file execvp would run for cmd, into out; false when none. */
static bool resolve_command(const char *cmd, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	const char *p;

	if (strchr(cmd, '/')) {
		snprintf(out, cap, "%s", cmd);
		return true;
	}
	for (p = path ? path : "/usr/local/bin:/usr/bin:/bin"; p;) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		snprintf(out, cap, "%.*s/%s", (int)len, len ? p : ".", cmd);
		if (access(out, X_OK) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

enum elf_kind { ELF_OTHER, ELF_DYNAMIC, ELF_STATIC, ELF_GO };

/* Section names of interest: Go writes these into every binary. */
static bool is_go_section(const char *name)
{
	return !strcmp(name, ".go.buildinfo") ||
	       !strcmp(name, ".note.go.buildid");
}

/*
 * Classifies an ELF file of this machine's byte order by its program
 * headers (PT_INTERP: dynamically linked) and section names (Go). Only
 * 64-bit is looked into; anything else, scripts included, is ELF_OTHER.
 */
static enum elf_kind classify_elf(const char *file)
{
	enum elf_kind kind = ELF_OTHER;
	Elf64_Ehdr eh;
	Elf64_Shdr strtab;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	char names[8192];

	if (fd < 0)
		return ELF_OTHER;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr))
		goto close_fd;
	kind = ELF_STATIC;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof(ph),
			  (off_t)(eh.e_phoff + i * sizeof(ph))) != sizeof(ph))
			break;
		if (ph.p_type == PT_INTERP)
			kind = ELF_DYNAMIC;
	}
	if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shstrndx >= eh.e_shnum ||
	    pread(fd, &strtab, sizeof(strtab),
		  (off_t)(eh.e_shoff + eh.e_shstrndx * sizeof(strtab))) !=
		    sizeof(strtab))
		goto close_fd;
	memset(names, 0, sizeof(names));
	if (pread(fd, names, sizeof(names) - 1, (off_t)strtab.sh_offset) < 0)
		goto close_fd;
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;

		if (pread(fd, &sh, sizeof(sh),
			  (off_t)(eh.e_shoff + i * sizeof(sh))) != sizeof(sh))
			break;
		if (sh.sh_name < sizeof(names) - 1 &&
		    is_go_section(names + sh.sh_name))
			kind = ELF_GO;
	}
close_fd:
	close(fd);
	return kind;
}

/* One warning line when the shim will not see cmd's traffic. */
static void warn_if_unseen(const char *cmd)
{
	char file[PATH_MAX];
	struct stat st;

	if (!resolve_command(cmd, file, sizeof(file)) || stat(file, &st))
		return; /* execvp reports it */
	if (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
	    ((st.st_mode & S_ISGID) && st.st_gid != getegid())) {
		fprintf(stderr, "wsdbg: warning: %s is setuid/setgid: the "
			"loader ignores LD_PRELOAD, wsdbg will not see its "
			"traffic\n", file);
		return;
	}
	switch (classify_elf(file)) {
	case ELF_STATIC:
		fprintf(stderr, "wsdbg: warning: %s is statically linked: "
			"LD_PRELOAD cannot reach it, wsdbg will not see its "
			"traffic\n", file);
		break;
	case ELF_GO:
		fprintf(stderr, "wsdbg: warning: %s is a Go program: it does "
			"its socket I/O without the C library, wsdbg will not "
			"see its traffic\n", file);
		break;
	default:
		break;
	}
}

/* A sanitizer runtime must stay first in LD_PRELOAD. */
static bool is_sanitizer_runtime(const char *entry, size_t len)
{
	static const char *const names[] = {"libasan", "libtsan", "libubsan",
					    "liblsan"};
	const char *base = entry;

	for (size_t i = 0; i < len; i++)
		if (entry[i] == '/')
			base = entry + i + 1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strncmp(base, names[i], strlen(names[i])))
			return true;
	return false;
}

/* Appends the len bytes at p to out as one more entry. */
static void append_entry(char *out, size_t cap, const char *p, size_t len)
{
	size_t used = strlen(out);

	snprintf(out + used, cap - used, "%s%.*s", used ? ":" : "", (int)len,
		 p);
}

/*
 * The new LD_PRELOAD: the sanitizer runtimes already there, the shim,
 * then the other entries in their order (a shim already listed keeps its
 * place instead). Entries are separated by ':' or ' ' (ld.so(8)).
 * Returns a malloc'd string, or NULL when out of memory.
 */
static char *build_preload(const char *lib, const char *old)
{
	size_t cap, liblen = strlen(lib);
	bool listed = false;
	const char *p;
	char *out;

	old = old ? old : "";
	cap = liblen + strlen(old) + 2;
	out = calloc(1, cap);
	if (!out)
		return NULL;
	for (p = old; *p; p += strcspn(p, ": "), p += *p != '\0') {
		size_t len = strcspn(p, ": ");

		listed |= len == liblen && !strncmp(p, lib, len);
		if (len && is_sanitizer_runtime(p, len))
			append_entry(out, cap, p, len);
	}
	if (!listed)
		append_entry(out, cap, lib, liblen);
	for (p = old; *p; p += strcspn(p, ": "), p += *p != '\0') {
		size_t len = strcspn(p, ": ");

		if (len && !is_sanitizer_runtime(p, len))
			append_entry(out, cap, p, len);
	}
	return out;
}

int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dump", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *dump = NULL;
	char lib[PATH_MAX], dump_abs[PATH_MAX * 2], cwd[PATH_MAX];
	char *preload;
	int opt;

	opterr = 0;
	optind = 0;
	/* "+": stop at CMD, so that its own options stay its own. */
	while ((opt = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			dump = optarg;
			break;
		case 'h':
			fputs(run_help, stdout);
			return CLI_OK;
		default:
			return cli_bad_option("run", argv, opt);
		}
	}
	if (optind >= argc)
		return cli_usage_error("run", "missing the command to run");
	if (dump && !*dump)
		return cli_usage_error("run", "--dump needs a file name");
	if (!find_shim(lib, sizeof(lib)))
		return CLI_NOTHING;
	preload = build_preload(lib, getenv("LD_PRELOAD"));
	if (!preload || setenv("LD_PRELOAD", preload, 1) != 0) {
		cli_error("cannot set LD_PRELOAD: %s", strerror(errno));
		return CLI_NOTHING;
	}
	free(preload);
	if (dump) {
		/* Absolute, so that CMD changing directory does not move it. */
		if (dump[0] != '/' && getcwd(cwd, sizeof(cwd))) {
			snprintf(dump_abs, sizeof(dump_abs), "%s/%s", cwd, dump);
			dump = dump_abs;
		}
		setenv("WSDBG_DUMP", dump, 1);
	}
	warn_if_unseen(argv[optind]);
	fflush(NULL);
	execvp(argv[optind], argv + optind);
	opt = errno;
	cli_error("cannot run %s: %s", argv[optind], strerror(opt));
	return opt == ENOENT ? 127 : 126;
}

/*
 * replay_main.c - runs a fuzz target's LLVMFuzzerTestOneInput on saved
 * inputs without libFuzzer, so that ordinary (and sanitizer) test builds
 * replay the seed corpus and every kept crash input (tests/fuzz/
 * regressions/<target>/) on each run.
 *
 *   fuzz-replay-TARGET [--maybe] PATH...
 *
 * Each PATH is a file or a directory of files (not recursive; names
 * starting with '.' skipped). A PATH after --maybe may be missing (the
 * regressions folder of a target that never crashed). A broken invariant aborts
 * inside the target. Prints "N inputs replayed"; exit status 0, or 1 when no
 * input was found (a replay of nothing proves nothing) or one could not be
 * read.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Replays one file. Returns 0, or -1 when it cannot be read. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			uint8_t *p = realloc(buf, cap);
			if (!p) {
				fprintf(stderr, "replay: out of memory\n");
				free(buf);
				fclose(f);
				return -1;
			}
			buf = p;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(buf);
		return -1;
	}
	/* An exact-size copy, so ASan sees any read past the input. */
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	unsigned long replayed = 0;
	int status = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		bool maybe = strcmp(argv[i], "--maybe") == 0 && i + 1 < argc;
		if (maybe)
			i++;
		if (stat(argv[i], &st) != 0) {
			if (maybe && errno == ENOENT)
				continue;
			fprintf(stderr, "replay: %s: %s\n", argv[i],
				strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			status |= replay_file(argv[i]) != 0;
			replayed++;
			continue;
		}
		struct dirent **names;
		int n = scandir(argv[i], &names, NULL, by_name);
		if (n < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
				strerror(errno));
			return 1;
		}
		for (int k = 0; k < n; k++) {
			char path[4096];
			if (names[k]->d_name[0] != '.') {
				snprintf(path, sizeof(path), "%s/%s", argv[i],
					 names[k]->d_name);
				status |= replay_file(path) != 0;
				replayed++;
			}
			free(names[k]);
		}
		free(names);
	}
	printf("%lu inputs replayed\n", replayed);
	return status || replayed == 0;
}

/*
 * wstrace.h - reader for .wstrace transcripts: the bytes of recorded TCP
 * connections, chunk by chunk, as a relay saw them (record_sample.py
 * writes them; README.md in this folder describes the format).
 *
 *   # comment
 *   <seconds.micros> <conn-id> <c2s|s2c> <hex bytes>
 *
 * The reader hands out one record at a time and stops at the first line
 * it cannot read, naming the file and the line.
 */
#ifndef WSDBG_TOOLS_WSTRACE_H
#define WSDBG_TOOLS_WSTRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Longest connection id accepted, in bytes. */
#define WSTRACE_MAX_CONN_ID 63

enum wstrace_dir {
	WSTRACE_C2S = 0, /* client to server */
	WSTRACE_S2C = 1, /* server to client */
};

struct wstrace_record {
	double t;                          /* seconds since recording start */
	char conn[WSTRACE_MAX_CONN_ID + 1]; /* connection id, NUL-terminated */
	enum wstrace_dir dir;
	const uint8_t *data;               /* owned by the reader; valid until
					      the next wstrace_next() */
	size_t len;                        /* >= 1 */
};

struct wstrace_reader {
	FILE *f;
	const char *name;    /* file name for messages ("<stdin>" for -) */
	unsigned long line;  /* number of the last line read */
	char *text;          /* getline buffer */
	size_t text_cap;
	uint8_t *bytes;      /* decoded hex of the last record */
	size_t bytes_cap;
	char error[512];     /* "file:line: what" after a -1 */
};

/* Opens path ("-" means stdin). Returns 0, or -1 with r->error set. */
int wstrace_open(struct wstrace_reader *r, const char *path);

/* Reads the next record into *rec. Returns 1, 0 at the end of the file, or
 * -1 with r->error naming the file and line. */
int wstrace_next(struct wstrace_reader *r, struct wstrace_record *rec);

/* Closes the file (not stdin) and frees the buffers. */
void wstrace_close(struct wstrace_reader *r);

const char *wstrace_dir_name(enum wstrace_dir dir);

#endif

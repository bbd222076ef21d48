/*
 * render.h - the two outputs of wsdbg-decode, both from the server's point
 * of view (what the shim will see inside the server process):
 *   text: a timeline per connection, like the future `wsdbg msgs`;
 *   JSON: connection objects shaped like DESIGN.md's snapshot entries.
 */
#ifndef WSDBG_TOOLS_RENDER_H
#define WSDBG_TOOLS_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "session.h"

/* Characters of text shown in a one-line preview. */
#define RENDER_PREVIEW_CHARS 100

struct render_options {
	const char *source; /* trace file name, as given */
	bool color;         /* ANSI colours (text output only) */
	bool show_binary;   /* binary previews were kept: show them */
};

void render_text(FILE *out, struct session *const *sessions, size_t n,
		 const struct render_options *opt);

void render_json(FILE *out, struct session *const *sessions, size_t n,
		 const struct render_options *opt);

#endif

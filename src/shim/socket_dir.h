/*
 * socket_dir.h - where the per-process stats sockets live. The one rule
 * the shim (which creates them) and the CLI (which looks for them) must
 * agree on: $WSDBG_DIR, else $XDG_RUNTIME_DIR/wsdbg, else
 * /tmp/wsdbg-<euid> (DESIGN.md, WSDBG_DIR). Empty variables count as
 * unset. The effective uid, because that is whose directory the shim
 * checks ownership against.
 */
#ifndef WSDBG_SHIM_SOCKET_DIR_H
#define WSDBG_SHIM_SOCKET_DIR_H

#include <stddef.h>

/* Writes the directory into out (cap bytes). lookup is getenv-like (NULL
 * when unset); NULL means getenv. Returns 0, or -ENAMETOOLONG with out
 * set to "" when it does not fit. */
int socket_dir_default(char *out, size_t cap,
		       const char *(*lookup)(const char *name));

#endif

/*
 * signals.h - knowing when a hook runs inside a signal handler.
 *
 * The C library functions the shim calls while recording (malloc, locks)
 * are not async-signal-safe: a handler that interrupted the host inside
 * malloc and then writes to a socket must not reach them. So the shim
 * wraps the handlers the host installs (sigaction, signal): a trampoline
 * counts, per thread, that a handler is running, and the hooks only mark
 * the bytes it moves as unseen (fdtable.h) instead of recording them.
 */
#ifndef WSDBG_SHIM_SIGNALS_H
#define WSDBG_SHIM_SIGNALS_H

#include <signal.h>

/* > 0 while one of the host's signal handlers runs on this thread.
 * initial-exec: the shim is loaded at start-up (LD_PRELOAD), so its TLS
 * has a fixed offset and needs no __tls_get_addr call per access. */
extern __thread int shim_signal_depth
	__attribute__((tls_model("initial-exec")));

/* shim_depth (shim.h) when the innermost of the host's signal handlers
 * running on this thread started (0 outside handlers): code deeper than
 * that is the shim's own, even when a handler called it (exit() in a
 * handler runs the shim's destructor); a handler that interrupted the
 * shim is not. */
extern __thread int shim_signal_base
	__attribute__((tls_model("initial-exec")));

/* sigaction() with the host's handler wrapped; same contract. */
int shim_sigaction(int sig, const struct sigaction *act,
		   struct sigaction *oldact);

/* signal() with BSD semantics as glibc's, through shim_sigaction. */
void (*shim_signal(int sig, void (*handler)(int)))(int);

#endif

/*
 * signals.h - knowing when a hook runs inside a signal handler.
 *
 * The C library functions the shim calls while recording (malloc, locks)
 * are not async-signal-safe: a handler that interrupted the host inside
 * malloc and then writes to a socket must not reach them. So the shim
 * wraps the handlers the host installs: a trampoline counts, per thread,
 * that a handler is running, and the hooks only mark the bytes it moves
 * as unseen (fdtable.h) instead of recording them.
 *
 * Every C library entry point that installs a handler is exported here
 * with glibc's semantics over shim_sigaction: sigaction and __sigaction,
 * and the ones glibc implements with its internal __sigaction, which the
 * exported sigaction never sees: signal, bsd_signal and ssignal (one
 * function in glibc), sysv_signal and __sysv_signal (what signal() is in
 * a strict ISO C build, -std=c11), sigset, and siginterrupt (which
 * installs the action again with SA_RESTART changed). sigvec, kept by
 * glibc 2.36 only for programs linked before 2.21 (no default version:
 * nothing links to it now), is not exported: a handler such an old
 * program installs with it is not wrapped.
 *
 * Not wrapped either, because no symbol can stand in for a system call:
 * a handler installed by rt_sigaction itself (syscall(SYS_rt_sigaction),
 * inline assembly, a C library other than the one the shim interposes
 * on). The shim cannot tell when such a handler runs, so its hooks
 * behave there as outside any handler: what the handler moves on a
 * WebSocket connection is decoded and recorded, with malloc and the
 * registry's lock. When the signal interrupted its thread inside malloc,
 * realloc or free, the handler then waits for malloc's lock, which its
 * own thread holds, and the host hangs; elsewhere the bytes are recorded
 * as any others. The exception is a handler that interrupted the shim's
 * own code (the registry's lock held, say): the shim sees it is inside
 * itself (shim_depth, shim.h) and only marks the bytes unseen.
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

/* glibc's signal(), bsd_signal() and ssignal() (one function there):
 * BSD semantics, the signal blocked in its handler, interrupted calls
 * restarted unless siginterrupt(sig, 1) came first. SIG_ERR with errno
 * EINVAL for SIG_ERR as the handler or a bad signal number. Returns the
 * previous handler, or SIG_ERR. */
void (*shim_signal(int sig, void (*handler)(int)))(int);

/* glibc's sysv_signal() and __sysv_signal(): SysV semantics, the
 * disposition reset to SIG_DFL as the signal comes (SA_RESETHAND), the
 * signal not blocked in its handler (SA_NODEFER), interrupted calls not
 * restarted. Errors and return value as shim_signal's. */
void (*shim_sysv_signal(int sig, void (*handler)(int)))(int);

/* glibc's sigset(): disp SIG_HOLD adds sig to the calling thread's mask
 * and returns SIG_HOLD if it was there already, else the installed
 * handler; any other disp is installed (no flags, empty mask), sig taken
 * out of the mask, and the return value is SIG_HOLD if sig was blocked
 * before, else the previous handler. SIG_ERR (errno set) on errors. */
void (*shim_sigset(int sig, void (*disp)(int)))(int);

/* glibc's siginterrupt(): the installed action again with SA_RESTART
 * off (interrupt != 0) or on, and later shim_signal calls for sig the
 * same. Returns 0, or -1 with errno set. */
int shim_siginterrupt(int sig, int interrupt);

#endif

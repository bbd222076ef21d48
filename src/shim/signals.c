/*
 * signals.c - the host's signal handlers, run through a trampoline that
 * tells the hooks they are inside a handler (signals.h); and glibc's other
 * ways to install them (signal, sysv_signal, sigset, siginterrupt), each
 * as glibc writes it but over shim_sigaction.
 *
 * Per signal the host's handler and flags are kept in atomics: a handler
 * may run on any thread at any time, and sigaction itself is
 * async-signal-safe, so no lock is taken here. The handler is stored
 * before the trampoline is installed, so a signal arriving in between
 * finds it.
 */
#define _GNU_SOURCE
#include "signals.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "real.h"
#include "shim.h"

typedef void (*shim_plain_handler)(int);
typedef void (*shim_info_handler)(int, siginfo_t *, void *);
/* Either kind, stored without its type; called only as what it was.
 * (void (*)(void) is the type GCC lets any function pointer pass through.) */
typedef void (*shim_any_handler)(void);

__thread int shim_signal_depth __attribute__((tls_model("initial-exec")));
__thread int shim_signal_base __attribute__((tls_model("initial-exec")));

static _Atomic(shim_any_handler) shim_host_handler[NSIG];
static _Atomic int shim_host_flags[NSIG];

SHIM_BEFORE_SANITIZER static void shim_trampoline(int sig, siginfo_t *info,
						 void *context)
{
	shim_any_handler h = atomic_load(&shim_host_handler[sig]);
	if (!h)
		return;
	int base = shim_signal_base;
	shim_signal_base = shim_depth;
	shim_signal_depth++;
	if (atomic_load(&shim_host_flags[sig]) & SA_SIGINFO)
		((shim_info_handler)h)(sig, info, context);
	else
		((shim_plain_handler)h)(sig);
	shim_signal_depth--;
	shim_signal_base = base;
}

/* A handler the host wrote itself (not SIG_DFL, SIG_IGN...). */
SHIM_BEFORE_SANITIZER static bool
shim_is_function(const struct sigaction *act)
{
	if (act->sa_flags & SA_SIGINFO)
		return act->sa_sigaction != NULL;
	return act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN &&
	       act->sa_handler != SIG_ERR && act->sa_handler != NULL;
}

SHIM_BEFORE_SANITIZER static shim_any_handler
shim_handler_of(const struct sigaction *act)
{
	return act->sa_flags & SA_SIGINFO ? (shim_any_handler)act->sa_sigaction
					  : (shim_any_handler)act->sa_handler;
}

/* What the host installed, put back into oldact (just filled by the real
 * sigaction) where the kernel holds what the shim installed instead: the
 * trampoline, or the SIG_DFL that an SA_RESETHAND handler's delivery put
 * in its place, which keeps the trampoline's flags. The flags are the
 * kernel's (it drops the ones it does not know, glibc adds SA_RESTORER),
 * as without the shim, but for the SA_SIGINFO the trampoline added.
 * prev and prev_flags: the handler and flags stored for the signal. */
SHIM_BEFORE_SANITIZER static void
shim_host_view(struct sigaction *oldact, shim_any_handler prev, int prev_flags)
{
	bool trampoline = (oldact->sa_flags & SA_SIGINFO) &&
			  oldact->sa_sigaction == shim_trampoline;
	bool reset = (oldact->sa_flags & SA_RESETHAND) &&
		     (prev_flags & SA_RESETHAND) &&
		     oldact->sa_handler == SIG_DFL;
	if (!prev || !(trampoline || reset))
		return;
	oldact->sa_flags = (oldact->sa_flags & ~SA_SIGINFO) |
			   (prev_flags & SA_SIGINFO);
	if (!trampoline)
		return;
	if (prev_flags & SA_SIGINFO)
		oldact->sa_sigaction = (shim_info_handler)prev;
	else
		oldact->sa_handler = (shim_plain_handler)prev;
}

SHIM_BEFORE_SANITIZER int shim_sigaction(int sig, const struct sigaction *act,
					 struct sigaction *oldact)
{
	int (*real_sigaction)(int, const struct sigaction *,
			      struct sigaction *) = shim_real_early()->sigaction;
	if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP)
		return real_sigaction(sig, act, oldact);

	shim_any_handler prev = atomic_load(&shim_host_handler[sig]);
	int prev_flags = atomic_load(&shim_host_flags[sig]);
	struct sigaction wrapped;
	const struct sigaction *use = act;
	bool wrap = act && shim_is_function(act);
	if (wrap) {
		wrapped = *act;
		wrapped.sa_sigaction = shim_trampoline;
		wrapped.sa_flags |= SA_SIGINFO;
		atomic_store(&shim_host_flags[sig], act->sa_flags);
		atomic_store(&shim_host_handler[sig], shim_handler_of(act));
		use = &wrapped;
	}
	int ret = real_sigaction(sig, use, oldact);
	int saved_errno = errno;
	if (ret != 0 && wrap) { /* nothing changed: put the old one back */
		atomic_store(&shim_host_flags[sig], prev_flags);
		atomic_store(&shim_host_handler[sig], prev);
	} else if (ret == 0 && act && !wrap) {
		atomic_store(&shim_host_handler[sig], NULL);
	}
	/* The host asks what it installed, not what the shim did. */
	if (ret == 0 && oldact)
		shim_host_view(oldact, prev, prev_flags);
	errno = saved_errno;
	return ret;
}

/* Signals siginterrupt() made interrupt system calls: shim_signal
 * installs their handlers without SA_RESTART. glibc keeps this set
 * (_sigintr) for its own signal(), which the host no longer reaches. */
static _Atomic bool shim_interrupting[NSIG];

/* glibc's __bsd_signal (signal, bsd_signal, ssignal): the signal blocked
 * in its handler, interrupted calls restarted unless siginterrupt said
 * otherwise. */
SHIM_BEFORE_SANITIZER void (*shim_signal(int sig, void (*handler)(int)))(int)
{
	if (handler == SIG_ERR || sig < 1 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	struct sigaction act = {.sa_handler = handler};
	struct sigaction old;
	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, sig);
	act.sa_flags = atomic_load(&shim_interrupting[sig]) ? 0 : SA_RESTART;
	if (shim_sigaction(sig, &act, &old) != 0)
		return SIG_ERR;
	return old.sa_handler;
}

/* glibc's __sysv_signal (sysv_signal): reset to SIG_DFL when the signal
 * comes, not blocked in its handler, calls interrupted. SA_INTERRUPT is
 * glibc's too; the kernel drops it. */
SHIM_BEFORE_SANITIZER void (*shim_sysv_signal(int sig,
					      void (*handler)(int)))(int)
{
	if (handler == SIG_ERR || sig < 1 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	struct sigaction act = {
	    .sa_handler = handler,
	    .sa_flags = SA_RESETHAND | SA_NODEFER | SA_INTERRUPT};
	struct sigaction old;
	sigemptyset(&act.sa_mask);
	if (shim_sigaction(sig, &act, &old) != 0)
		return SIG_ERR;
	return old.sa_handler;
}

/* glibc's sigset, step by step: its mask changes are the calling
 * thread's (sigprocmask, as glibc's). */
SHIM_BEFORE_SANITIZER void (*shim_sigset(int sig, void (*disp)(int)))(int)
{
	struct sigaction act, old;
	sigset_t set, was;
	sigemptyset(&set);
	if (sigaddset(&set, sig) < 0) /* EINVAL, internal signals too */
		return SIG_ERR;
	if (disp == SIG_HOLD) {
		if (sigprocmask(SIG_BLOCK, &set, &was) < 0)
			return SIG_ERR;
		if (sigismember(&was, sig) == 1)
			return SIG_HOLD;
		if (shim_sigaction(sig, NULL, &old) < 0)
			return SIG_ERR;
		return old.sa_handler;
	}
	act.sa_handler = disp;
	act.sa_flags = 0;
	sigemptyset(&act.sa_mask);
	if (shim_sigaction(sig, &act, &old) < 0)
		return SIG_ERR;
	if (sigprocmask(SIG_UNBLOCK, &set, &was) < 0)
		return SIG_ERR;
	return sigismember(&was, sig) == 1 ? SIG_HOLD : old.sa_handler;
}

/* glibc's siginterrupt: SA_RESTART off or on in the installed action, and
 * remembered for shim_signal. */
SHIM_BEFORE_SANITIZER int shim_siginterrupt(int sig, int interrupt)
{
	struct sigaction act;
	if (shim_sigaction(sig, NULL, &act) < 0)
		return -1;
	/* The query succeeded: 0 < sig < NSIG. */
	atomic_store(&shim_interrupting[sig], interrupt != 0);
	if (interrupt)
		act.sa_flags &= ~SA_RESTART;
	else
		act.sa_flags |= SA_RESTART;
	if (shim_sigaction(sig, &act, NULL) < 0)
		return -1;
	return 0;
}

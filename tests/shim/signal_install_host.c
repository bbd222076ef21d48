/*
 * signal_install_host.c - every C library way to install a signal
 * handler, each call's result and what it left behind, run with and
 * without the shim (c_signal_install.py compares the two):
 *
 *   signal-install-host plain|shim
 *
 * signal, bsd_signal, ssignal, sysv_signal, __sysv_signal, sigset,
 * siginterrupt and __sigaction: glibc implements them around the exported
 * sigaction, so the shim exports each (src/shim/signals.h) and must give
 * glibc's semantics exactly. Prints a transcript, one line per call (its
 * return value by name, errno when it failed) and per state looked at
 * (the action sigaction reports: handler, flags, mask; whether the signal
 * is blocked; what a handler saw while it ran), then "N passed, N failed"
 * for the checks of glibc's documented semantics (sysv_signal's
 * SA_RESETHAND and SA_NODEFER, bsd_signal's SA_RESTART and mask, sigset's
 * SIG_HOLD...). The transcript must be the same under the shim as
 * without it; the one thing that differs is checked here: the handler
 * the kernel holds (asked with the rt_sigaction system call, around both
 * the C library and the shim) is the host's without the shim ("plain")
 * and not the host's under it ("shim": the trampoline wraps it).
 * Exit status 0 when every check held, 1 otherwise, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

/* sigset and siginterrupt are deprecated in glibc's headers; using them
 * is the point. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* Not declared by glibc's headers: bsd_signal (but for old X/Open
 * standards) and __sigaction. */
typedef void (*handler_fn)(int);
handler_fn bsd_signal(int sig, handler_fn handler);
int __sigaction(int sig, const struct sigaction *act,
		struct sigaction *oldact);

/* glibc's first internal signal (SIGCANCEL): refused as glibc refuses it. */
#define INTERNAL_SIGNAL 32

static int passed, failed;
static bool under_shim;

#define CHECK(cond, what)                                                    \
	do {                                                                 \
		if (cond) {                                                  \
			passed++;                                            \
		} else {                                                     \
			failed++;                                            \
			fprintf(stderr, "FAIL: %s\n", what);                 \
		}                                                            \
	} while (0)

/* What the handlers saw, the last time one ran. */
static volatile sig_atomic_t h1_calls, h2_calls, seen_blocked;
static volatile sig_atomic_t seen_reset, seen_info;

/* Whether sig is blocked in the running handler, and whether its action
 * was reset to SIG_DFL by then (SA_RESETHAND); async-signal-safe. */
static void look(int sig)
{
	sigset_t now;
	struct sigaction a;
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	seen_blocked = sigismember(&now, sig) == 1;
	seen_reset = sigaction(sig, NULL, &a) == 0 && a.sa_handler == SIG_DFL;
}

static void h1(int sig)
{
	h1_calls++;
	look(sig);
}

static void h2(int sig)
{
	h2_calls++;
	look(sig);
}

static void h_info(int sig, siginfo_t *info, void *context)
{
	(void)context;
	seen_info = info && info->si_signo == sig;
	look(sig);
}

static const char *name_of(handler_fn h)
{
	if (h == SIG_DFL)
		return "SIG_DFL";
	if (h == SIG_IGN)
		return "SIG_IGN";
	if (h == SIG_HOLD)
		return "SIG_HOLD";
	if (h == SIG_ERR)
		return "SIG_ERR";
	if (h == h1)
		return "h1";
	if (h == h2)
		return "h2";
	if (h == (handler_fn)(void (*)(void))h_info)
		return "h_info";
	return "unknown";
}

/* One call's result: its return value by name, errno with SIG_ERR;
 * errno kept for the caller's check (printing may change it). */
static handler_fn said(const char *call, handler_fn got)
{
	int err = errno;
	if (got == SIG_ERR)
		printf("%s -> SIG_ERR, %s\n", call, strerrorname_np(err));
	else
		printf("%s -> %s\n", call, name_of(got));
	errno = err;
	return got;
}

static int said_int(const char *call, int got)
{
	int err = errno;
	if (got < 0)
		printf("%s -> %d, %s\n", call, got, strerrorname_np(err));
	else
		printf("%s -> %d\n", call, got);
	errno = err;
	return got;
}

static bool blocked(int sig)
{
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	return sigismember(&now, sig) == 1;
}

/* The handler the kernel holds for sig, asked without the C library (or
 * the shim): the first field of the kernel's struct sigaction, whose
 * signal set is 64 bits (8 bytes, the size the call must be given). */
static handler_fn kernel_handler(int sig)
{
	struct {
		handler_fn handler;
		unsigned long rest[8];
	} k;
	if (syscall(SYS_rt_sigaction, sig, NULL, &k, 8) != 0)
		return SIG_ERR;
	return k.handler;
}

/* Prints the action sigaction reports for sig and whether sig is blocked;
 * when the action is a handler of the host's, checks that the kernel
 * holds that handler without the shim and something else (the
 * trampoline) under it. Returns the action. */
static struct sigaction show(int sig, const char *after)
{
	struct sigaction a;
	memset(&a, 0, sizeof(a));
	if (sigaction(sig, NULL, &a) != 0) {
		printf("  %s: sigaction query failed, %s\n", after,
		       strerrorname_np(errno));
		failed++;
		return a;
	}
	printf("  %s: %s flags 0x%x mask [", after, name_of(a.sa_handler),
	       (unsigned)a.sa_flags);
	const char *sep = "";
	for (int s = 1; s < NSIG; s++) {
		if (sigismember(&a.sa_mask, s) == 1) {
			printf("%s%d", sep, s);
			sep = " ";
		}
	}
	printf("]%s\n", blocked(sig) ? ", blocked" : "");
	handler_fn h = a.sa_handler;
	if (h != SIG_DFL && h != SIG_IGN && h != SIG_ERR) {
		bool own = kernel_handler(sig) == h;
		CHECK(under_shim ? !own : own,
		      under_shim ? "under the shim the kernel holds a "
				   "wrapper, not the host's handler"
				 : "without the shim the kernel holds the "
				   "host's handler");
	}
	return a;
}

/* signal, bsd_signal and ssignal: glibc's one BSD function. */
static void bsd_kind(const char *fn, handler_fn (*install)(int, handler_fn),
		     int sig)
{
	char call[64];
	printf("== %s on %d\n", fn, sig);
	snprintf(call, sizeof(call), "%s(%d, h1)", fn, sig);
	CHECK(said(call, install(sig, h1)) == SIG_DFL,
	      "BSD kind: returns the previous SIG_DFL");
	struct sigaction a = show(sig, "after");
	CHECK(a.sa_handler == h1 && (a.sa_flags & SA_RESTART) &&
		      !(a.sa_flags & (SA_RESETHAND | SA_NODEFER | SA_SIGINFO)),
	      "BSD kind: h1 with SA_RESTART, not reset, not SA_NODEFER");
	CHECK(sigismember(&a.sa_mask, sig) == 1,
	      "BSD kind: the signal in the handler's mask");
	snprintf(call, sizeof(call), "%s(%d, h2)", fn, sig);
	CHECK(said(call, install(sig, h2)) == h1,
	      "BSD kind: returns the previous handler");
	h2_calls = 0;
	raise(sig);
	raise(sig);
	printf("  raised twice: h2 ran %d times, blocked inside %d\n",
	       (int)h2_calls, (int)seen_blocked);
	CHECK(h2_calls == 2 && seen_blocked,
	      "BSD kind: the handler stays, the signal blocked while it runs");
	show(sig, "after the signals");

	/* siginterrupt: SA_RESTART off, for this handler and later ones. */
	snprintf(call, sizeof(call), "siginterrupt(%d, 1)", sig);
	CHECK(said_int(call, siginterrupt(sig, 1)) == 0,
	      "siginterrupt: returns 0");
	a = show(sig, "after");
	CHECK(a.sa_handler == h2 && !(a.sa_flags & SA_RESTART),
	      "siginterrupt(1): the handler kept, SA_RESTART off");
	snprintf(call, sizeof(call), "%s(%d, h1)", fn, sig);
	CHECK(said(call, install(sig, h1)) == h2,
	      "BSD kind after siginterrupt: returns the previous handler");
	a = show(sig, "after");
	CHECK(!(a.sa_flags & SA_RESTART),
	      "BSD kind after siginterrupt(1): installed without SA_RESTART");
	snprintf(call, sizeof(call), "siginterrupt(%d, 0)", sig);
	CHECK(said_int(call, siginterrupt(sig, 0)) == 0,
	      "siginterrupt: returns 0");
	show(sig, "after");
	snprintf(call, sizeof(call), "%s(%d, h2)", fn, sig);
	said(call, install(sig, h2));
	a = show(sig, "after");
	CHECK(a.sa_flags & SA_RESTART,
	      "BSD kind after siginterrupt(0): SA_RESTART again");

	snprintf(call, sizeof(call), "%s(%d, SIG_IGN)", fn, sig);
	CHECK(said(call, install(sig, SIG_IGN)) == h2,
	      "BSD kind: SIG_IGN returns the previous handler");
	show(sig, "after");
	snprintf(call, sizeof(call), "%s(%d, SIG_DFL)", fn, sig);
	CHECK(said(call, install(sig, SIG_DFL)) == SIG_IGN,
	      "BSD kind: SIG_DFL returns the previous SIG_IGN");

	/* Refused: each SIG_ERR with EINVAL, nothing installed. */
	static const int bad[] = {0,	   NSIG,    -1,
				  SIGKILL, SIGSTOP, INTERNAL_SIGNAL};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(call, sizeof(call), "%s(%d, h1)", fn, bad[i]);
		errno = 0;
		CHECK(said(call, install(bad[i], h1)) == SIG_ERR &&
			      errno == EINVAL,
		      "BSD kind: a bad number refused with EINVAL");
	}
	snprintf(call, sizeof(call), "%s(%d, SIG_ERR)", fn, sig);
	errno = 0;
	CHECK(said(call, install(sig, SIG_ERR)) == SIG_ERR && errno == EINVAL,
	      "BSD kind: SIG_ERR refused with EINVAL");
	show(sig, "after SIG_ERR refused");
	int r = said_int("siginterrupt(0, 1)", siginterrupt(0, 1));
	CHECK(r == -1 && errno == EINVAL,
	      "siginterrupt: a bad number refused with EINVAL");
	r = said_int("siginterrupt(SIGKILL, 1)", siginterrupt(SIGKILL, 1));
	CHECK(r == -1 && errno == EINVAL,
	      "siginterrupt: SIGKILL refused with EINVAL");
}

/* sysv_signal and __sysv_signal: one-shot, not blocked in the handler,
 * calls interrupted. */
static void sysv_kind(const char *fn, handler_fn (*install)(int, handler_fn),
		      int sig)
{
	char call[64];
	printf("== %s on %d\n", fn, sig);
	snprintf(call, sizeof(call), "%s(%d, h1)", fn, sig);
	CHECK(said(call, install(sig, h1)) == SIG_DFL,
	      "SysV kind: returns the previous SIG_DFL");
	struct sigaction a = show(sig, "after");
	CHECK(a.sa_handler == h1 &&
		      (a.sa_flags & (SA_RESETHAND | SA_NODEFER)) ==
			  (SA_RESETHAND | SA_NODEFER) &&
		      !(a.sa_flags & (SA_RESTART | SA_SIGINFO)),
	      "SysV kind: h1 with SA_RESETHAND and SA_NODEFER, no "
	      "SA_RESTART");
	CHECK(sigismember(&a.sa_mask, sig) == 0,
	      "SysV kind: the signal not in the handler's mask");
	snprintf(call, sizeof(call), "%s(%d, h2)", fn, sig);
	CHECK(said(call, install(sig, h2)) == h1,
	      "SysV kind: returns the previous handler");
	h2_calls = 0;
	raise(sig);
	printf("  raised: h2 ran %d times, blocked inside %d, reset inside "
	       "%d\n",
	       (int)h2_calls, (int)seen_blocked, (int)seen_reset);
	CHECK(h2_calls == 1 && !seen_blocked && seen_reset,
	      "SysV kind: the handler runs once, the signal not blocked, the "
	      "action already SIG_DFL");
	a = show(sig, "after the signal");
	CHECK(a.sa_handler == SIG_DFL && (a.sa_flags & SA_RESETHAND) &&
		      !(a.sa_flags & SA_SIGINFO),
	      "SysV kind: reset to SIG_DFL, its flags the handler's");
	snprintf(call, sizeof(call), "%s(%d, h1)", fn, sig);
	CHECK(said(call, install(sig, h1)) == SIG_DFL,
	      "SysV kind: after the reset returns SIG_DFL");
	snprintf(call, sizeof(call), "%s(%d, SIG_DFL)", fn, sig);
	CHECK(said(call, install(sig, SIG_DFL)) == h1,
	      "SysV kind: SIG_DFL returns the previous handler");
	show(sig, "after");
	static const int bad[] = {0, NSIG, -1, SIGKILL, INTERNAL_SIGNAL};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(call, sizeof(call), "%s(%d, h1)", fn, bad[i]);
		errno = 0;
		CHECK(said(call, install(bad[i], h1)) == SIG_ERR &&
			      errno == EINVAL,
		      "SysV kind: refused with EINVAL");
	}
	snprintf(call, sizeof(call), "%s(%d, SIG_ERR)", fn, sig);
	errno = 0;
	CHECK(said(call, install(sig, SIG_ERR)) == SIG_ERR && errno == EINVAL,
	      "SysV kind: SIG_ERR refused with EINVAL");
}

/* sigset: dispositions, SIG_HOLD and the signal mask. */
static void sigset_kind(int sig)
{
	char call[64];
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	printf("== sigset on %d\n", sig);
	snprintf(call, sizeof(call), "sigset(%d, h1)", sig);
	CHECK(said(call, sigset(sig, h1)) == SIG_DFL,
	      "sigset: returns the previous SIG_DFL");
	struct sigaction a = show(sig, "after");
	CHECK(a.sa_handler == h1 &&
		      !(a.sa_flags & (SA_RESTART | SA_RESETHAND | SA_NODEFER |
				      SA_SIGINFO)) &&
		      sigismember(&a.sa_mask, sig) == 0 && !blocked(sig),
	      "sigset: h1, no flags, empty mask, not blocked");
	h1_calls = 0;
	raise(sig);
	printf("  raised: h1 ran %d times, blocked inside %d\n",
	       (int)h1_calls, (int)seen_blocked);
	CHECK(h1_calls == 1 && seen_blocked,
	      "sigset: the handler runs, the signal blocked while it does");

	snprintf(call, sizeof(call), "sigset(%d, SIG_HOLD)", sig);
	CHECK(said(call, sigset(sig, SIG_HOLD)) == h1,
	      "sigset(SIG_HOLD) on an unblocked signal: returns the handler");
	a = show(sig, "after");
	CHECK(a.sa_handler == h1 && blocked(sig),
	      "sigset(SIG_HOLD): blocked, the handler kept");
	CHECK(said(call, sigset(sig, SIG_HOLD)) == SIG_HOLD,
	      "sigset(SIG_HOLD) on a blocked signal: returns SIG_HOLD");
	h1_calls = h2_calls = 0;
	raise(sig);
	printf("  raised while held: h1 ran %d times\n", (int)h1_calls);
	CHECK(h1_calls == 0, "sigset(SIG_HOLD): the signal waits");
	snprintf(call, sizeof(call), "sigset(%d, h2)", sig);
	CHECK(said(call, sigset(sig, h2)) == SIG_HOLD,
	      "sigset on a blocked signal: returns SIG_HOLD");
	printf("  h1 ran %d times, h2 %d times\n", (int)h1_calls,
	       (int)h2_calls);
	CHECK(h1_calls == 0 && h2_calls == 1,
	      "sigset: unblocks, the waiting signal goes to the new handler");
	a = show(sig, "after");
	CHECK(a.sa_handler == h2 && !blocked(sig),
	      "sigset: h2 installed, not blocked");

	/* Blocked by sigprocmask, not sigset: the same SIG_HOLD. */
	sigprocmask(SIG_BLOCK, &one, NULL);
	snprintf(call, sizeof(call), "sigset(%d, SIG_IGN)", sig);
	CHECK(said(call, sigset(sig, SIG_IGN)) == SIG_HOLD,
	      "sigset on a signal sigprocmask blocked: returns SIG_HOLD");
	a = show(sig, "after");
	CHECK(a.sa_handler == SIG_IGN && !blocked(sig),
	      "sigset(SIG_IGN): ignored, unblocked");
	snprintf(call, sizeof(call), "sigset(%d, SIG_HOLD)", sig);
	CHECK(said(call, sigset(sig, SIG_HOLD)) == SIG_IGN,
	      "sigset(SIG_HOLD) on an ignored signal: returns SIG_IGN");
	snprintf(call, sizeof(call), "sigset(%d, SIG_DFL)", sig);
	CHECK(said(call, sigset(sig, SIG_DFL)) == SIG_HOLD,
	      "sigset(SIG_DFL) on a held signal: returns SIG_HOLD");
	show(sig, "after");

	static const int bad[] = {0, NSIG, -1, INTERNAL_SIGNAL};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		snprintf(call, sizeof(call), "sigset(%d, h1)", bad[i]);
		CHECK(said(call, sigset(bad[i], h1)) == SIG_ERR &&
			      errno == EINVAL,
		      "sigset: a bad number refused with EINVAL");
		snprintf(call, sizeof(call), "sigset(%d, SIG_HOLD)", bad[i]);
		CHECK(said(call, sigset(bad[i], SIG_HOLD)) == SIG_ERR &&
			      errno == EINVAL,
		      "sigset(SIG_HOLD): a bad number refused with EINVAL");
	}
	errno = 0;
	CHECK(said("sigset(SIGKILL, h1)", sigset(SIGKILL, h1)) == SIG_ERR &&
		      errno == EINVAL,
	      "sigset: SIGKILL refused with EINVAL");
	/* SIGKILL cannot be blocked: sigprocmask leaves it out, and the
	 * disposition comes back. */
	CHECK(said("sigset(SIGKILL, SIG_HOLD)", sigset(SIGKILL, SIG_HOLD)) ==
		      SIG_DFL,
	      "sigset(SIGKILL, SIG_HOLD): returns SIG_DFL");
}

/* __sigaction, glibc's other name for sigaction. */
static void sigaction_kind(int sig)
{
	printf("== __sigaction on %d\n", sig);
	struct sigaction act = {.sa_sigaction = h_info,
				.sa_flags = SA_SIGINFO | SA_RESTART};
	struct sigaction old;
	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, SIGUSR2);
	int r = said_int("__sigaction(h_info)", __sigaction(sig, &act, &old));
	CHECK(r == 0 && old.sa_handler == SIG_DFL,
	      "__sigaction: installs, the old action SIG_DFL");
	struct sigaction a = show(sig, "after");
	CHECK(a.sa_sigaction == h_info &&
		      (a.sa_flags & (SA_SIGINFO | SA_RESTART)) ==
			  (SA_SIGINFO | SA_RESTART) &&
		      sigismember(&a.sa_mask, SIGUSR2) == 1,
	      "__sigaction: h_info with its flags and mask");
	seen_info = 0;
	raise(sig);
	printf("  raised: siginfo seen %d\n", (int)seen_info);
	CHECK(seen_info, "__sigaction: the handler gets its siginfo");
	act.sa_handler = SIG_DFL;
	act.sa_flags = 0;
	r = said_int("__sigaction(SIG_DFL)", __sigaction(sig, &act, &old));
	CHECK(r == 0 && old.sa_sigaction == h_info &&
		      (old.sa_flags & SA_SIGINFO),
	      "__sigaction: the old action is the host's handler");
	r = said_int("__sigaction(SIGKILL)", __sigaction(SIGKILL, &act, NULL));
	CHECK(r == -1 && errno == EINVAL,
	      "__sigaction: SIGKILL refused with EINVAL");
}

int main(int argc, char **argv)
{
	if (argc != 2 ||
	    (strcmp(argv[1], "plain") != 0 && strcmp(argv[1], "shim") != 0)) {
		fprintf(stderr, "usage: signal-install-host plain|shim\n");
		return 2;
	}
	under_shim = strcmp(argv[1], "shim") == 0;
	/* Each function on signals of its own, each left at SIG_DFL. */
	bsd_kind("signal", signal, SIGUSR1);
	bsd_kind("bsd_signal", bsd_signal, SIGUSR2);
	bsd_kind("ssignal", ssignal, SIGHUP);
	sysv_kind("sysv_signal", sysv_signal, SIGUSR1);
	sysv_kind("__sysv_signal", __sysv_signal, SIGUSR2);
	sigset_kind(SIGWINCH);
	sigset_kind(SIGRTMIN + 1);
	sigaction_kind(SIGURG);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

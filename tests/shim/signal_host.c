/*
 * signal_host.c - a host that installs signal handlers, run under the
 * shim: the shim wraps handlers (src/shim/signals.c), and the host must
 * not be able to tell. Checks that handlers run with their arguments, that
 * sigaction and signal report back what the host installed, and that
 * SIG_DFL/SIG_IGN pass through. Prints "N passed, N failed".
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;
static volatile sig_atomic_t info_calls, info_value, plain_calls;

#define CHECK(cond, what)                                                    \
	do {                                                                 \
		if (cond) {                                                  \
			passed++;                                            \
		} else {                                                     \
			failed++;                                            \
			fprintf(stderr, "FAIL: %s\n", what);                 \
		}                                                            \
	} while (0)

static void on_usr1(int sig, siginfo_t *info, void *context)
{
	(void)context;
	if (sig == SIGUSR1 && info && info->si_signo == SIGUSR1) {
		info_calls++;
		info_value = info->si_value.sival_int;
	}
}

static void on_usr2(int sig)
{
	if (sig == SIGUSR2)
		plain_calls++;
}

int main(void)
{
	struct sigaction act = {.sa_sigaction = on_usr1,
				.sa_flags = SA_SIGINFO | SA_RESTART};
	sigemptyset(&act.sa_mask);
	CHECK(sigaction(SIGUSR1, &act, NULL) == 0, "sigaction installs");

	struct sigaction now;
	CHECK(sigaction(SIGUSR1, NULL, &now) == 0, "sigaction queries");
	CHECK(now.sa_sigaction == on_usr1, "query shows the host's handler");
	CHECK((now.sa_flags & (SA_SIGINFO | SA_RESTART)) ==
		      (SA_SIGINFO | SA_RESTART),
	      "query shows the host's flags");

	union sigval v = {.sival_int = 42};
	CHECK(sigqueue(getpid(), SIGUSR1, v) == 0, "sigqueue");
	CHECK(info_calls == 1 && info_value == 42,
	      "SA_SIGINFO handler gets its siginfo");

	CHECK(signal(SIGUSR2, on_usr2) == SIG_DFL, "signal returns SIG_DFL");
	CHECK(signal(SIGUSR2, on_usr2) == on_usr2,
	      "signal returns the host's previous handler");
	raise(SIGUSR2);
	raise(SIGUSR2);
	CHECK(plain_calls == 2, "plain handler runs each time");

	struct sigaction dfl = {.sa_handler = SIG_IGN};
	struct sigaction old;
	CHECK(sigaction(SIGUSR1, &dfl, &old) == 0, "sigaction to SIG_IGN");
	CHECK(old.sa_sigaction == on_usr1, "old action is the host's handler");
	raise(SIGUSR1);
	CHECK(info_calls == 1, "an ignored signal runs no handler");
	CHECK(sigaction(SIGUSR1, NULL, &now) == 0 && now.sa_handler == SIG_IGN,
	      "query shows SIG_IGN");
	CHECK(sigaction(SIGKILL, &act, NULL) == -1,
	      "SIGKILL still refused, as without the shim");

	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

"""Every C library way to install a signal handler, without and with the
shim (signal_install_host.c): signal, bsd_signal, ssignal, sysv_signal,
__sysv_signal, sigset, siginterrupt and __sigaction, which glibc
implements around the exported sigaction and the shim exports over its
own (src/shim/signals.h). Checks:
  - both runs hold every check of glibc's semantics the host makes
    (return values and errno, the flags and masks sigaction reports, the
    signal mask sigset leaves, what a handler sees while it runs), and
    the kernel holds the host's handler without the shim, a wrapper
    under it;
  - the transcript of every call and state is the same line for line.
"""
import difflib
import os
import sys

import harness
from harness import check


def run(argv, env):
    proc = harness.spawn(argv, env)
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out.decode(errors="replace"), \
        err.decode(errors="replace")


def main():
    args = harness.parse_args(lambda p: p.add_argument("--host",
                                                       required=True))
    with harness.temp_dir() as tmp:
        plain = run([args.host, "plain"], harness.base_env())
        check(plain[0] == 0 and plain[2] == "",
              f"without the shim every check holds: {plain[0]} "
              f"{plain[2]!r} {plain[1].splitlines()[-1:]}")
        shim = run([args.host, "shim"],
                   harness.shim_env(args, os.path.join(tmp, "sock")))
        check(shim[0] == 0 and shim[2] == "",
              f"under the shim every check holds: {shim[0]} {shim[2]!r} "
              f"{shim[1].splitlines()[-1:]}")
        diff = list(difflib.unified_diff(plain[1].splitlines(),
                                         shim[1].splitlines(), "plain",
                                         "shim", lineterm="", n=1))
        check(diff == [], "the same transcript with and without the shim:\n"
              + "\n".join(diff))
        print(f"{len(plain[1].splitlines())} transcript lines, "
              f"{plain[1].splitlines()[-1:]}")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

"""The lowest free descriptor stays the host's while its stats socket is
busy (lowest_fd_host.c: close(0) then open("/dev/null") must give 0, over
and over for 1.5 s). Meanwhile this script asks the host's stats socket
"ping" in a tight loop and runs `wsdbg ps` in another: each query is a
connection the stats thread accepts, a new descriptor of its own.

  - without the shim (0.3 s): the loop runs, no mismatch;
  - with the shim (the stats thread's descriptors in a table of its
    own): no mismatch, the host exits 0, at least 200 queries answered
    during the loop and every `wsdbg ps` listing the host;
  - with --faulty (the test-only libwsdbg-faulty.so with
    WSDBG_FAULT_SHARED_FDS=1: a kernel that refuses the thread a table of
    its own, the server's descriptors in the host's, moved high once
    made): the mismatches and the failed queries are reported, not
    judged. accept4 can take 0 between the host's close and open, and
    the host's close(0) can end the stats thread's client before the
    shim has moved it out of the way. Not under ThreadSanitizer, which
    reports that race and ends the host.
"""
import copy
import os
import subprocess
import sys
import threading

import modelkit  # noqa: F401  (puts tests/shim on the path)
from modelkit import check, figure, harness


class Queries:
    """ping on pid's stats socket in a tight loop, and `wsdbg ps` in
    another, each on a thread of its own, until stop()."""

    def __init__(self, args, sock_dir, pid):
        self.args, self.sock_dir, self.pid = args, sock_dir, pid
        self.pongs, self.ps_runs, self.ps_listed = 0, 0, 0
        self.errors = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True)
                         for f in (self._ping, self._ps)]
        for t in self._threads:
            t.start()

    def _ping(self):
        while not self._stop.is_set():
            try:
                answer = harness.live_request(self.sock_dir, self.pid,
                                              "ping", raw=True)
            except OSError as e:
                answer = f"{type(e).__name__}: {e}"
            if answer == "pong\n":
                self.pongs += 1
            else:
                self.errors.append(f"ping: {answer!r}")

    def _ps(self):
        env = harness.base_env()
        env["WSDBG_DIR"] = self.sock_dir
        while not self._stop.is_set():
            r = subprocess.run([self.args.cli, "ps"], env=env,
                               capture_output=True, text=True, timeout=10)
            self.ps_runs += 1
            if r.returncode == 0 and any(
                    line.split()[:1] == [str(self.pid)]
                    for line in r.stdout.splitlines()):
                self.ps_listed += 1
            else:
                self.errors.append(f"ps: {r.returncode} {r.stdout!r} "
                                   f"{r.stderr!r}")

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(15)
        return self


def run(args, env, seconds, sock_dir=None):
    """One run of the host; returns (status, its numbers, its output,
    queries)."""
    host = harness.spawn([args.host, "--seconds", str(seconds)], env,
                         stdin=subprocess.PIPE)
    ready = host.stdout.readline().decode()
    queries = None
    if sock_dir and ready.startswith("PORT "):
        queries = Queries(args, sock_dir, host.pid)
        # The loop starts once both kinds of query are under way.
        harness.wait_for(lambda: queries.pongs > 0 and queries.ps_runs > 0,
                         5)
    host.stdin.write(b"go\n")
    host.stdin.flush()
    # The results, then the queries stop while the host is still there.
    out = ready
    while "iterations" not in out:
        line = host.stdout.readline().decode(errors="replace")
        if not line:
            break
        out += line
    if queries:
        queries.stop()
    host.stdin.close()
    # Not communicate(): it would miss what readline() buffered.
    out += host.stdout.read().decode(errors="replace")
    err = host.stderr.read()
    host.wait(timeout=20)
    numbers = {}
    for line in out.splitlines():
        words = line.split()
        if words[:1] == ["iterations"]:
            numbers = {"iterations": int(words[1]),
                       "mismatches": int(words[3])}
    return (host.returncode, numbers, out + err.decode(errors="replace"),
            queries)


def main():
    args = harness.parse_args(lambda p: (
        p.add_argument("--host", required=True),
        p.add_argument("--cli", required=True),
        p.add_argument("--faulty")))
    args.cli = os.path.abspath(args.cli)
    with harness.temp_dir() as tmp:
        status, plain, out, _ = run(args, harness.base_env(), 0.3)
        check(status == 0 and plain.get("iterations", 0) > 0
              and plain.get("mismatches") == 0,
              f"without the shim: open gives 0 every time: {status} "
              f"{plain} {out}")

        sock_dir = os.path.join(tmp, "sock")
        status, got, out, q = run(args, harness.shim_env(args, sock_dir),
                                  1.5, sock_dir)
        figure("lowest fd, private table: mismatches",
               f"{got.get('mismatches')} in {got.get('iterations')} "
               f"iterations, {q and q.pongs} pings and "
               f"{q and q.ps_runs} wsdbg ps answered meanwhile")
        check(status == 0 and got.get("mismatches") == 0
              and got.get("iterations", 0) > 0,
              f"with the shim open gives 0 every time: {status} {got} "
              f"{out}")
        check(q is not None and q.pongs >= 200 and q.ps_runs > 0
              and q.ps_listed == q.ps_runs and not q.errors,
              f"the stats socket answered throughout: {q.pongs} pings, "
              f"wsdbg ps listed the host {q.ps_listed} of {q.ps_runs}, "
              f"errors {q.errors[:3]}")

        if not args.faulty:
            return
        if args.preload_first and "tsan" in os.path.basename(
                args.preload_first):
            # There the host's close(0) racing the thread's accept4 is
            # a report that ends the host (exit 66) before it counts.
            print("shared-table run skipped under ThreadSanitizer (it "
                  "reports the race this run counts)")
            return
        faulty_args = copy.copy(args)
        faulty_args.shim = os.path.abspath(args.faulty)
        sock_dir = os.path.join(tmp, "sock-shared")
        env = harness.shim_env(faulty_args, sock_dir)
        env["WSDBG_FAULT_SHARED_FDS"] = "1"
        status, got, out, q = run(faulty_args, env, 1.5, sock_dir)
        first = [line for line in out.splitlines()
                 if line.startswith("first_mismatch")]
        figure("lowest fd, shared table (libwsdbg-faulty.so): mismatches",
               f"{got.get('mismatches')} in {got.get('iterations')} "
               f"iterations, {q and q.pongs} pings and "
               f"{q and q.ps_runs} wsdbg ps answered meanwhile, "
               f"{q and len(q.errors)} failed "
               f"{q and sorted(set(e[:40] for e in q.errors))}; {first}")
        check(status == 0 and got.get("iterations", 0) > 0,
              f"shared table: the host ran: {status} {out}")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

"""What the CLI's test scripts share: counted checks, and running wsdbg
bounded in time with its exit status, output, time taken and peak memory.

A script calls check() for each fact, and ends with summary(), which
prints "N passed, N failed" and gives the exit status (1 on any failure,
or when nothing was checked).
"""
import os
import subprocess
import sys
import tempfile
import time

_passed = 0
_failed = 0


def check(cond, what, detail=""):
    """Records one check; a failed one is printed at once with detail."""
    global _passed, _failed
    if cond:
        _passed += 1
    else:
        _failed += 1
        print(f"FAIL: {what}" + (f"\n  {detail}" if detail else ""),
              file=sys.stderr, flush=True)
    return bool(cond)


def summary():
    print(f"{_passed} passed, {_failed} failed", flush=True)
    return 1 if _failed or not _passed else 0


class Run:
    """One finished run: rc (negative: killed by that signal), out, err
    (text, undecodable bytes replaced), seconds (wall), cpu_seconds (user
    + system: the work it did, which other processes on the machine do
    not stretch as they stretch the wall time), maxrss_kb."""

    def __init__(self, rc, out, err, seconds, cpu_seconds, maxrss_kb):
        self.rc, self.out, self.err = rc, out, err
        self.seconds, self.cpu_seconds = seconds, cpu_seconds
        self.maxrss_kb = maxrss_kb

    def detail(self):
        return (f"rc={self.rc} {self.seconds:.2f}s (CPU "
                f"{self.cpu_seconds:.2f}s) {self.maxrss_kb} KB\n"
                f"stdout:\n{self.out[:2000]}\nstderr:\n{self.err[:2000]}")


def run(args, env, timeout=15, user=None):
    """Runs args to completion (killed after timeout seconds) and measures
    its wall and CPU time and peak resident memory (wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        kw = {}
        if user is not None:
            kw = {"user": user, "group": user, "extra_groups": []}
        p = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err, **kw)
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                p.kill()
                pid, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.005)
        seconds = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(p.returncode, out.read().decode("utf-8", "replace"),
                   err.read().decode("utf-8", "replace"), seconds,
                   usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


def sanitized(exe):
    """Whether exe was built with AddressSanitizer (whose allocator keeps
    freed memory in quarantine and costs several times the memory)."""
    with open(exe, "rb") as f:
        return b"__asan_init" in f.read()


def sanitizer_report(text):
    """Whether text holds an AddressSanitizer or UBSan report."""
    return "runtime error:" in text or "Sanitizer" in text


def expect(what, r, rc, out=(), err=(), no_out=(), max_seconds=None):
    """Checks a Run: exit status rc; stdout holding each of out and none of
    no_out; when rc != 0, stderr one line holding each of err; never a
    sanitizer report; within max_seconds when given."""
    d = r.detail()
    check(r.rc == rc, f"{what}: exit status {rc}", d)
    for s in out:
        check(s in r.out, f"{what}: output has {s!r}", d)
    for s in no_out:
        check(s not in r.out, f"{what}: output lacks {s!r}", d)
    if rc != 0:
        check(r.err.count("\n") == 1 and r.err.endswith("\n"),
              f"{what}: one line on stderr", d)
    for s in err:
        check(s in r.err, f"{what}: stderr has {s!r}", d)
    check(not sanitizer_report(r.err), f"{what}: no sanitizer report", d)
    if max_seconds is not None:
        check(r.seconds < max_seconds,
              f"{what}: done within {max_seconds} s", d)
    return r

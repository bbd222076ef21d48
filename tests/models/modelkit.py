"""What the process-model scenarios (tests/models/*.py) share, on top of
tests/shim/harness.py (imported from there and re-exported as
modelkit.harness): a higher descriptor limit, sampling a live process's
snapshot and memory while it works, comparing a host's behaviour with and
without the shim, and printing the figures a scenario measured as
"FIGURE name: value" lines (the README quotes them).
"""
import os
import resource
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "shim"))
import harness  # noqa: E402  (tests/shim/harness.py)
from harness import check  # noqa: E402,F401


def raise_fd_limit(want=8192):
    """Raises this process's soft RLIMIT_NOFILE (inherited by what it
    starts) to want, or to the hard limit when that is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def figure(name, value):
    """Prints one measured figure for the README."""
    print(f"FIGURE {name}: {value}", flush=True)


def rss_kib(pid):
    """pid's resident set size in KiB, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def children_of(pid):
    """The pids of pid's children (from /proc/<pid>/task/*/children)."""
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def maps_contain(pid, name):
    """True when a file whose path contains name is mapped into pid."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return any(name in line for line in f)
    except OSError:
        return False


class Sampler:
    """Asks a live process for "summary" snapshots every interval seconds
    on a thread of its own, and reads its RSS each time, until stop().
    Keeps every sample as (seconds since start, totals, config, rss KiB)
    and the problems met (an answer that did not parse, say)."""

    def __init__(self, sock_dir, pid, interval=0.1):
        self.sock_dir, self.pid, self.interval = sock_dir, pid, interval
        self.samples = []
        self.errors = []
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                snap = harness.live_request(self.sock_dir, self.pid,
                                            "summary")
            except (OSError, ValueError) as e:
                # The process may end between the check and the connect.
                if os.path.exists(harness.socket_path(self.sock_dir,
                                                      self.pid)):
                    self.errors.append(f"{type(e).__name__}: {e}")
                snap = None
            if snap is not None:
                self.samples.append((time.monotonic() - self._start,
                                     snap["totals"], snap["config"],
                                     rss_kib(self.pid)))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        return self

    def max_memory_used(self):
        return max((s[1]["memory_used"] for s in self.samples), default=0)

    def max_memory_held(self):
        return max((s[1]["memory_held"] for s in self.samples), default=0)

    def max_rss(self):
        return max((s[3] or 0 for s in self.samples), default=0)


def host_view(server):
    """What a harness.Server showed its user: exit status, stdout with the
    port the kernel picked taken out (it differs between runs), stderr."""
    out = "\n".join("PORT <n>" if line.startswith("PORT ") else line
                    for line in server.out.splitlines())
    return (server.returncode, out, server.err)


def shim_preload(args, *before):
    """LD_PRELOAD for the shim after the given libraries (and after the
    sanitizer runtime a sanitizer build needs first)."""
    libs = [args.preload_first] if args.preload_first else []
    libs += [lib for lib in before if lib not in libs]
    return " ".join(libs + [args.shim])

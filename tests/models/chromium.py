"""Chromium (Debian's) headless under `wsdbg run`, in its default zygote
mode: a browser that forks two zygotes, which must stay single-threaded
(the shim starts nothing in a process that does not serve or speak HTTP),
a GPU process and renderers forked from them, and a network service, a
utility process the browser forks and execs, which does the socket I/O.
Run as `chromium --headless --no-sandbox --disable-gpu --dump-dom URL`
(--no-sandbox: as root, Chromium refuses to start without it), each time
with a fresh profile and HOME in the test's directory, first without the
shim, then under `wsdbg run --dump DIR/%p.json`. Two pages:
  - about:blank: the same exit status (0) and DOM, and no new line on
    stderr (below);
  - a page served by chromium_page_server.py (python3-websockets, not
    under the shim: the peer that says what really went over the wire)
    whose script opens ws://127.0.0.1:PORT/chromium?x=1, sends a text, a
    text in 2-, 3- and 4-byte UTF-8, 200 bytes of binary and a 3000-byte
    text, each after the echo of the one before, then closes 4001
    "chromium done" and writes what it saw into the DOM (--dump-dom
    waits for the page's load event, which an image the server answers
    only after the close holds back). The same status, DOM and server
    log as without the shim, no new line on stderr; exactly one dump
    holds a connection, the network service's: role client, the path and
    query, every message in order with its direction, type, size, text
    or bytes, the close code and reason; every other dump (the browser,
    the crashpad handlers, the launcher script's helpers) holds none.
In every run the browser's two zygotes were single-threaded whenever
looked at, and every process Chromium started ended by itself within 10
s of the browser; under the shim, no zygote, renderer or GPU process
ever had a stats socket (processes and <pid>.sock files looked at every
0.1 s while Chromium ran).
"No new line on stderr": Chromium's log lines begin with
[pid:tid:MMDD/hhmmss.micros:LEVEL:file(line)], and the launcher script
(/usr/bin/chromium) prints the free bytes of /dev/shm in one of its own
lines; so each line loses that prefix up to LEVEL, the run's directory
becomes <dir>, every run of digits N, and the lines under the shim must
be a subset of those without it for the same page. Sets, not counts:
how often Chromium retries D-Bus is not the host's behaviour we promise.
One line Chromium prints in some runs only, shim or not, is left out:
TEARDOWN_NOISE.
Chromium's crashpad handlers leave its session (setsid), so this script
is a child subreaper: whatever Chromium starts stays its descendant, is
killed when a run is over, and no process with the test's directory in
its command line is left at the end (checked).
Skipped (exit 77) when chromium is not installed (Debian package
chromium), and in sanitizer builds: Chromium does not start with the
sanitizer runtime preloaded, shim or not (the browser spins at startup
before it forks a zygote).
"""
import ctypes
import glob
import json
import os
import re
import shutil
import signal
import sys
import threading
import time

from chromium_page_server import CLOSE, PAGE_SENDS
from modelkit import check, figure, harness

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE_SERVER = os.path.join(HERE, "chromium_page_server.py")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu"]
RUN_TIMEOUT = 30  # seconds a Chromium run may take (3-20 s seen here)
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def processes():
    """{pid: (parent pid, state)} of every process now."""
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                procs[int(name)] = (int(fields[1]), fields[0])
            except (OSError, IndexError, ValueError):
                pass
    return procs


def descendants(live_only=True):
    """The pids under this process (zombies left out with live_only)."""
    procs = processes()
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [os.getpid()]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.add(pid)
            todo.append(pid)
    if live_only:
        found = {p for p in found if procs[p][1] != "Z"}
    return found


def reap():
    """Collects every child that has ended (they are ours: subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def end_all(timeout=10):
    """Kills everything under this process and reaps it. Returns the pids
    still there after timeout."""
    end = time.monotonic() + timeout
    while True:
        left = descendants()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reap()
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.05)


def command_lines_with(text):
    """pid: command line of every process whose command line holds text
    (what `pgrep -f text` finds)."""
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    line = f.read().replace(b"\0", b" ").decode(
                        errors="replace")
            except OSError:
                continue
            if text in line:
                found[int(name)] = line[:200]
    return found


def process_type(words):
    """What a process of Chromium's run is, from its command line:
    browser, zygote, renderer, gpu-process, utility:<sub-type>, or the
    program's name (the launcher script and its helpers, crashpad)."""
    kind = sub = None
    for w in words:
        if w.startswith("--type="):
            kind = w[7:]
        elif w.startswith("--utility-sub-type="):
            sub = w[19:]
    if kind:
        return f"utility:{sub}" if kind == "utility" else kind
    name = os.path.basename(words[0])
    return "browser" if name == "chromium" and "/chromium/" in words[0] \
        else name


class Watch:
    """Every 0.1 s while Chromium runs: the type of each process of its
    session (the last seen: a zygote's child becomes a renderer), the
    most threads each zygote had, and the pids that had a <pid>.sock in
    sock_dir."""

    def __init__(self, sid, sock_dir):
        self.sid, self.sock_dir = sid, sock_dir
        self.types, self.sockets, self.errors = {}, set(), []
        self.parent, self.threads = {}, {}  # of the zygotes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _look(self):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                if os.getsid(int(name)) != self.sid:
                    continue
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    words = f.read().replace(b"\0", b" ").decode(
                        errors="replace").split()
            except OSError:
                continue
            if not words:
                continue
            pid = int(name)
            self.types[pid] = process_type(words)
            if self.types[pid] == "zygote":
                self._zygote_threads(pid)
        if self.sock_dir and os.path.isdir(self.sock_dir):
            for name in os.listdir(self.sock_dir):
                m = re.fullmatch(r"(\d+)\.sock", name)
                if m:
                    self.sockets.add(int(m[1]))

    def _zygote_threads(self, pid):
        try:
            with open(f"/proc/{pid}/status") as f:
                status = dict(line.split(":", 1) for line in f)
        except (OSError, ValueError):
            return
        self.parent[pid] = int(status["PPid"])
        self.threads[pid] = max(self.threads.get(pid, 0),
                                int(status["Threads"]))

    def _run(self):
        while not self._stop.is_set():
            try:
                self._look()
            except Exception as e:  # checked by the caller: errors
                self.errors.append(f"{type(e).__name__}: {e}")
            self._stop.wait(0.1)

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        return self

    def pids(self, *kinds):
        return {p for p, t in self.types.items() if t in kinds}


LOG_PREFIX = re.compile(r"^\[\d+:\d+:\d{4}/\d{6}\.\d+:")
# A line Chromium prints in some runs and not in others: a renderer's
# message to a frame widget the browser has already let go of at
# shutdown (about:blank here: in 2 of 30 runs without the shim, 3 of 30
# with it; no other line came and went in those 60 runs).
TEARDOWN_NOISE = re.compile(
    r"interface_endpoint_client\.cc:N\] Message N rejected by interface "
    r"blink\.mojom\.FrameWidgetHost$")


def stderr_lines(err, run_dir):
    """The set of stderr's lines, without what differs from run to run
    (see the top of this file)."""
    lines = set()
    for line in err.decode(errors="replace").splitlines():
        line = LOG_PREFIX.sub("[", line).replace(run_dir, "<dir>")
        line = re.sub(r"\d+", "N", line)
        if not TEARDOWN_NOISE.search(line):
            lines.add(line)
    return lines


class Run:
    """One Chromium run to its end: exit status, stdout, stderr, seconds,
    what Watch saw, the dumps by pid, the processes that outlived the
    browser by 10 s."""

    def __init__(self, args, tmp, name, url, shim):
        self.dir = os.path.join(tmp, name)
        env = harness.base_env()
        for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
            env.pop(var, None)
        # HOME: the crashpad database, the launcher's find; TMPDIR: the
        # browser's singleton socket, which a browser that crashes or is
        # killed leaves behind.
        for var in ("HOME", "TMPDIR"):
            env[var] = os.path.join(self.dir, var.lower())
            os.makedirs(env[var])
        argv = [args.chromium] + FLAGS + [
            "--user-data-dir=" + os.path.join(self.dir, "profile"),
            "--dump-dom", url]
        self.sock_dir = None
        if shim:
            self.sock_dir = os.path.join(self.dir, "sock")
            env["WSDBG_DIR"] = self.sock_dir
            env["WSDBG_SHOW_BINARY"] = "1"
            argv = [args.wsdbg, "run", "--dump",
                    os.path.join(self.dir, "dumps", "%p.json"),
                    "--"] + argv
            os.makedirs(os.path.join(self.dir, "dumps"))
        start = time.monotonic()
        proc = harness.spawn(argv, env)
        self.pid = proc.pid  # the browser's: wsdbg and the script exec it
        self.watch = Watch(proc.pid, self.sock_dir)
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
        self.seconds = time.monotonic() - start
        self.watch.stop()
        check(self.watch.errors == [],
              f"{name}: watching the processes: {self.watch.errors[:3]}")
        self.status, self.out = proc.returncode, out.decode(errors="replace")
        self.err = stderr_lines(err, self.dir)
        self.raw_err = err.decode(errors="replace")
        self.dumps = {}
        for path in glob.glob(os.path.join(self.dir, "dumps", "*.json")):
            self.dumps[int(os.path.basename(path)[:-5])] = \
                harness.load_json(path)
        self.sockets_left = glob.glob(os.path.join(self.sock_dir or "",
                                                   "*.sock"))

    def outlived(self, server=None):
        """Waits up to 10 s for Chromium's processes to end by themselves
        (the server, when given, ends first); returns those that did
        not."""
        if server:
            server.finish()

        def all_ended():
            reap()
            return not descendants()

        harness.wait_for(all_ended, 10, step=0.05)
        return descendants()

    def result(self):
        m = re.search(r'<pre id="result">(.*?)</pre>', self.out, re.S)
        return m[1] if m else None


def check_same_host(plain, shim, what):
    check(plain.status == 0,
          f"{what}: Chromium exits 0 without the shim: {plain.status} "
          f"{plain.raw_err[-2000:]}")
    check(shim.status == plain.status,
          f"{what}: the same exit status under the shim: {shim.status} "
          f"{shim.raw_err[-2000:]}")
    check(shim.out == plain.out,
          f"{what}: the same DOM: {shim.out[:500]!r} vs {plain.out[:500]!r}")
    new = sorted(shim.err - plain.err)
    check(new == [], f"{what}: no new line on stderr under the shim: {new}")


def check_zygotes(run, what):
    """The browser's two zygotes were seen, single-threaded at every look,
    and a renderer."""
    w = run.watch
    # By type, not by parent: the watcher reads each parent once, at a
    # moment of its own, and once saw the zygotes under a pid it never
    # typed (a fresh-clone run; every other check of that run held).
    zygotes = set(w.pids("zygote"))
    check(len(zygotes) == 2,
          f"{what}: the browser's two zygotes seen: {w.types} {w.parent}")
    threads = {p: w.threads[p] for p in zygotes}
    check(all(n == 1 for n in threads.values()),
          f"{what}: the zygotes single-threaded: {threads}")
    check(w.pids("renderer"), f"{what}: a renderer seen: {w.types}")


def check_no_socket(run, what):
    """No zygote, renderer or GPU process had a stats socket."""
    w = run.watch
    quiet = w.pids("zygote", "renderer", "gpu-process")
    check(not quiet & w.sockets,
          f"{what}: no zygote, renderer or GPU process had a stats socket: "
          f"{sorted((p, w.types[p]) for p in quiet & w.sockets)}")


def message_view(m):
    """A kept message as (dir, type, size, content)."""
    content = m.get("text", m.get("hex"))
    if m["type"] == "close":
        content = (m.get("code"), m.get("text"))
    return m["dir"], m["type"], m["size"], content


def expected_messages():
    want = []
    for typ, payload in PAGE_SENDS:
        content = payload.decode() if typ == "text" else payload.hex()
        want += [("sent", typ, len(payload), content),
                 ("received", typ, len(payload), content)]
    size = 2 + len(CLOSE[1].encode())
    want += [("sent", "close", size, CLOSE), ("received", "close", size,
                                              CLOSE)]
    return want


def check_connection(run, port):
    """The page's WebSocket in exactly one dump: the network service's."""
    what = "ws page under the shim"
    holders = {pid: d for pid, d in run.dumps.items() if d["connections"]}
    network = run.watch.pids("utility:network.mojom.NetworkService")
    check(len(network) == 1, f"{what}: one network service: {network}")
    check(sorted(holders) == sorted(network),
          f"{what}: exactly one dump holds a connection, the network "
          f"service's {sorted(network)}: "
          f"{[(p, run.watch.types.get(p)) for p in holders]}")
    for pid, d in run.dumps.items():
        if pid not in holders:
            check(d["totals"]["connections"] == 0,
                  f"{what}: {pid} ({run.watch.types.get(pid, d['process'])})"
                  f" saw no connection: {d['totals']}")
    if len(holders) != 1:
        return
    snap = next(iter(holders.values()))
    check(snap["totals"]["connections"] == 1
          and len(snap["connections"]) == 1,
          f"{what}: one connection: {snap['totals']}")
    c = snap["connections"][0]
    check((c["role"], c["state"], c["error"], c["status"])
          == ("client", "closed", None, 101),
          f"{what}: client role, upgraded, closed, no error: {c['role']} "
          f"{c['state']} {c['error']} {c['status']}")
    check((c["path"], c["query"]) == ("/chromium", "x=1"),
          f"{what}: path and query {c['path']} {c['query']}")
    check(c["peer"] == f"127.0.0.1:{port}", f"{what}: peer {c['peer']}")
    check(c["headers"].get("origin") == f"http://127.0.0.1:{port}",
          f"{what}: the page's origin {c['headers'].get('origin')}")
    check((c["extensions"] or "").startswith("permessage-deflate"),
          f"{what}: permessage-deflate negotiated: {c['extensions']}")
    check(c["close"] == {"code": CLOSE[0], "reason": CLOSE[1],
                         "by": "client"}, f"{what}: close {c['close']}")
    got = [message_view(m) for m in c["messages"]]
    want = expected_messages()
    check(got == want,
          f"{what}: every message in order, direction, type, size and "
          f"content: {got} vs {want}")
    for d in ("sent", "received"):
        mine = [m for m in want if m[0] == d]
        counts = (c[d]["messages"], c[d]["bytes"], c[d]["frames"])
        check(counts == (len(mine), sum(m[2] for m in mine), len(mine)),
              f"{what}: {d} messages, bytes, frames {counts}")
    check(all(m["utf8_valid"] for m in c["messages"] if m["type"] == "text"),
          f"{what}: texts valid UTF-8")
    figure("Chromium: the process that recorded the page's WebSocket",
           "the network service (utility process, "
           "network.mojom.NetworkService)")
    figure("Chromium: the page's messages compressed (permessage-deflate), "
           "kept inflated", sum(m["compressed"] for m in c["messages"]))


def check_server_log(server, what):
    log = [json.loads(line) for line in server.out.splitlines()
           if line.startswith("{")]
    want = [{"ws": "/chromium?x=1"}]
    for typ, payload in PAGE_SENDS:
        want.append({"type": typ, "text": payload.decode()} if typ == "text"
                    else {"type": typ, "hex": payload.hex()})
    want.append({"close": list(CLOSE)})
    got = [e for e in log if "http" not in e]
    check(server.returncode == 0 and got == want,
          f"{what}: the server saw the page's messages and close: "
          f"{server.returncode} {got} {server.err[-500:]}")
    return got


def page_run(args, tmp, name, shim):
    server = harness.Server([sys.executable, PAGE_SERVER,
                             "--timeout", "20"], harness.base_env())
    run = Run(args, tmp, name, f"http://127.0.0.1:{server.port}/", shim)
    run.survivors = run.outlived(server)
    run.server_log = check_server_log(server, name)
    run.port = server.port
    return run


def blank_run(args, tmp, name, shim):
    run = Run(args, tmp, name, "about:blank", shim)
    run.survivors = run.outlived()
    return run


def check_ended(run, what):
    check(run.survivors == set(),
          f"{what}: every Chromium process ended within 10 s of the browser: "
          f"{run.survivors}")
    left = end_all()
    check(not left, f"{what}: nothing left after kill: {left}")


def main():
    args = harness.parse_args(lambda p: (
        p.add_argument("--wsdbg", required=True),
        p.add_argument("--chromium")))
    chromium = args.chromium or shutil.which("chromium")
    if not chromium or not os.access(chromium, os.X_OK):
        print("SKIP: chromium is not installed (Debian package chromium)")
        sys.exit(77)
    if args.preload_first:
        print("SKIP: Chromium does not start with the sanitizer runtime "
              "preloaded, shim or not (the browser spins at startup before "
              "it forks a zygote); the plain build runs this test")
        sys.exit(77)
    args.chromium = chromium
    become_subreaper()
    on_term = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM,
                  lambda sig, frame: (end_all(2), on_term(sig, frame)))
    with harness.temp_dir() as tmp:
        try:
            scenario(args, tmp)
        finally:
            left = end_all()
            check(not left, f"every process started here killed: {left}")
            stray = command_lines_with(tmp)
            check(stray == {}, f"no process with {tmp} in its command line "
                  f"is left: {stray}")


def scenario(args, tmp):
    runs = {}
    for name, shim in (("blank-plain", False), ("blank-shim", True)):
        runs[name] = blank_run(args, tmp, name, shim)
        check_ended(runs[name], name)
        check_zygotes(runs[name], name)
    plain, shim = runs["blank-plain"], runs["blank-shim"]
    check_same_host(plain, shim, "about:blank")
    check_no_socket(shim, "about:blank")
    check(shim.sockets_left == [],
          f"about:blank: no socket file left at exit: {shim.sockets_left}")
    held = {p: d["totals"]["connections"] for p, d in shim.dumps.items()
            if d["totals"]["connections"]}
    check(shim.dumps and not held,
          f"about:blank: dumps written, none with a connection: {held}")

    for name, shim in (("page-plain", False), ("page-shim", True)):
        runs[name] = page_run(args, tmp, name, shim)
        check_ended(runs[name], name)
        check_zygotes(runs[name], name)
    plain, shim = runs["page-plain"], runs["page-shim"]
    want = "\n".join([f"echo {typ} {len(payload)} same"
                      for typ, payload in PAGE_SENDS]
                     + [f"close {CLOSE[0]} {CLOSE[1]} clean"])
    check(plain.result() == want,
          f"ws page without the shim: the page's result {plain.result()!r}")
    check_same_host(plain, shim, "ws page")
    check(shim.server_log == plain.server_log,
          "ws page: the server saw the same under the shim")
    check_no_socket(shim, "ws page")
    check_connection(shim, shim.port)
    check(shim.sockets_left == [],
          f"ws page: no socket file left at exit: {shim.sockets_left}")

    for name, run in runs.items():
        figure(f"Chromium {name}: seconds", f"{run.seconds:.1f}")
    types = sorted(set(runs["page-shim"].watch.types.values()))
    figure("Chromium: process types seen", ", ".join(types))
    shim = runs["page-shim"]
    figure("Chromium ws page: processes that had a stats socket",
           ", ".join(sorted(shim.watch.types.get(p, "?")
                            for p in shim.watch.sockets)))
    figure("Chromium ws page: processes that wrote a dump",
           ", ".join(sorted(shim.watch.types.get(p, d["process"])
                            for p, d in shim.dumps.items())))


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

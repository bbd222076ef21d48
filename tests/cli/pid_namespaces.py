"""Which sockets `wsdbg ps` keeps and which it removes, and processes in
another pid namespace.

  pid_namespaces.py WSDBG FIXTURES stale
  pid_namespaces.py WSDBG FIXTURES namespaces [--preload-first LIB]

A socket's name is the pid its process has in its own pid namespace: in
a container or under `unshare --pid` that pid may be no process here, or
another program. So the CLI judges a socket by connecting to it: refused
(nothing listens) is stale, removed when it is ours; anything that takes
the connection is a live process, kept and listed.

stale: sockets bound then closed (at a pid that does not exist and at
one that does) are removed by ps; a live listener at a pid that does not
exist here is kept and answers; another user's stale socket, a symlink
and a file that is no socket are left alone; 500 stale sockets go in one
quick ps; msgs --follow of a live socket at a pid that does not exist
here reports its failure instead of calling the process gone.

namespaces (skipped, exit status 77, when `unshare --pid` cannot run):
a python3-websockets echo server under `wsdbg run` in a new pid
namespace, its socket in a directory shared with this one, with a real
client: once as pid 1 there (here pid 1 is another program), once at a
pid that no process has here. From outside, ps lists it by its pid here
with its own under NSPID, keeps its socket, and conns, dump and msgs
--follow reach it by either pid or by name; a CLI in a third namespace,
which cannot see the server, lists it with PID "-". The server that
exits removes its socket; the one killed (SIGKILL, the whole namespace)
leaves it, and the next ps removes it because connecting is refused.

As root: `unshare --pid --fork --mount-proc`; otherwise, or where that
is refused, with `--user --map-root-user` too. Every child is bounded in time and killed at the
end. Prints "N passed, N failed".
"""
import asyncio
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

import cli_session
from cli_check import check, expect, run, summary
from fake_server import FakeServer

NOBODY = 65534
# A ps over many stale sockets: each is one refused connect and one
# unlink. Bounds with room for a loaded machine and sanitizers.
MANY = 500
MANY_CPU_S = 2.0


class Cli:
    def __init__(self, exe, env):
        self.exe, self.env = exe, env

    def __call__(self, *args, prefix=(), timeout=15):
        return run([*prefix, self.exe, *args], self.env, timeout)


def make_stale(path):
    """A socket file nothing listens on: bound, then closed."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()


def dead_pid():
    p = subprocess.Popen(["/bin/true"])
    p.wait()
    return p.pid


def ps_rows(out):
    """ps's rows (header dropped), each split into its cells."""
    return [r.split() for r in out.splitlines()[1:]]


# ---- stale sockets -------------------------------------------------------

def stale(cli, sock_dir, fixtures, tmp):
    with open(os.path.join(fixtures, "live.json"), "rb") as f:
        good = f.read()
    totals = json.loads(good)["totals"]
    row = ["python3", str(totals["active"]), str(totals["connections"]),
           str(totals["messages_sent"] + totals["messages_received"])]
    os.makedirs(sock_dir, mode=0o700, exist_ok=True)

    # Bound then closed, at a pid no process has and at one that is alive
    # (this very test): both stale, whatever their pid says.
    gone = os.path.join(sock_dir, f"{dead_pid()}.sock")
    alive = os.path.join(sock_dir, f"{os.getpid()}.sock")
    make_stale(gone)
    make_stale(alive)
    expect("ps of two stale sockets", cli("ps"), 1,
           err=["no process is attached"], max_seconds=5)
    check(not os.path.exists(gone),
          "ps removed the stale socket of a pid that does not exist")
    check(not os.path.exists(alive),
          "ps removed the stale socket of a pid that is alive")

    # A live listener at a pid that does not exist here (as a process in
    # another pid namespace looks): kept, listed, answering.
    pid = dead_pid()
    with FakeServer(sock_dir, "answer", good, pid=pid) as fake:
        r = expect("ps of a live socket at a pid not here", cli("ps"), 0,
                   out=["PID  NAME"], max_seconds=5)
        check(ps_rows(r.out) == [[str(pid), *row]],
              "ps lists it by its socket's pid, from its answer",
              r.detail())
        check(os.path.exists(fake.path), "ps kept the live socket")
        expect("conns of a live socket at a pid not here",
               cli("conns", str(pid)), 0, out=["WebSocket  2 active"])
        check(os.path.exists(fake.path), "conns kept the live socket")

    # Not ours, not a socket, a symlink: never removed.
    if os.geteuid() == 0:
        theirs = os.path.join(sock_dir, f"{dead_pid()}.sock")
        make_stale(theirs)
        os.chown(theirs, NOBODY, NOBODY)
    else:
        theirs = None
    plain = os.path.join(sock_dir, f"{dead_pid()}.sock")
    with open(plain, "w", encoding="utf-8") as f:
        f.write("not a socket\n")
    target = os.path.join(tmp, "elsewhere.sock")
    make_stale(target)
    link = os.path.join(sock_dir, f"{dead_pid()}.sock")
    os.symlink(target, link)
    expect("ps of a file, a symlink, another user's socket", cli("ps"), 1,
           err=["no process is attached"], max_seconds=5)
    if theirs:
        check(os.path.exists(theirs),
              "ps left another user's stale socket alone")
        os.unlink(theirs)
    check(os.path.exists(plain), "ps left a file that is no socket alone")
    check(os.path.lexists(link) and os.path.exists(target),
          "ps left a symlink and what it points to alone")
    os.unlink(plain)
    os.unlink(link)

    # Many stale sockets: one refused connect each, nothing waited for.
    for i in range(MANY):
        make_stale(os.path.join(sock_dir, f"{1000 + i}.sock"))
    r = expect(f"ps of {MANY} stale sockets", cli("ps"), 1,
               err=["no process is attached"], max_seconds=10)
    check(r.cpu_seconds < MANY_CPU_S,
          f"ps of {MANY} stale sockets within {MANY_CPU_S} s of CPU",
          r.detail())
    check(os.listdir(sock_dir) == [], f"ps removed all {MANY}",
          str(len(os.listdir(sock_dir))))
    print(f"ps of {MANY} stale sockets: {r.seconds:.2f} s, CPU "
          f"{r.cpu_seconds:.2f} s")

    # --follow: a live process at a pid that does not exist here, which
    # goes bad after its first answer, is not taken for gone.
    pid = dead_pid()
    with FakeServer(sock_dir, "first-then-garbage", good, pid=pid):
        r = cli("msgs", str(pid), "--follow", timeout=10)
        expect("--follow of a live socket at a pid not here, then "
               "garbage", r, 1, out=["following (Ctrl-C stops)"],
               err=["sent an answer that is not JSON"], no_out=["exited"],
               max_seconds=5)


# ---- pid namespaces ------------------------------------------------------

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
UNSHARE_AS_USER = UNSHARE[:1] + ["--user", "--map-root-user"] + UNSHARE[1:]
unshare_args = None  # the first of them that works here


def find_unshare():
    """Sets unshare_args to the first command line that makes a new pid
    namespace here (as root, without a user namespace first); False,
    after a line saying why, when none does."""
    global unshare_args
    tries = [UNSHARE, UNSHARE_AS_USER] if os.geteuid() == 0 else \
        [UNSHARE_AS_USER]
    for args in tries:
        r = subprocess.run([*args, "/bin/true"], capture_output=True,
                           text=True, timeout=15)
        if r.returncode == 0:
            unshare_args = args
            return True
    print(f"cannot make a pid namespace here: {r.stderr.strip()}",
          file=sys.stderr)
    return False


def descendants(pid):
    """pid's descendants, breadth first (/proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def ns_pids(pid):
    """The NSpid line of /proc/PID/status: pid in each namespace, ours
    first, its own last."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return [int(v) for v in line.split()[1:]]
    except OSError:
        pass
    return []


def free_pid():
    """A pid that no process has here now, for one in a new namespace."""
    with open("/proc/sys/kernel/pid_max") as f:
        top = int(f.read())
    while True:
        pid = random.randrange(max(300, top // 2), top - 100)
        if not os.path.exists(f"/proc/{pid}"):
            return pid


# Run as pid 1 of the new namespace: the next pid there is argv[1], then
# the command after it runs; exits with its status.
LAUNCHER = """
import subprocess, sys
with open("/proc/sys/kernel/ns_last_pid", "w") as f:
    f.write(str(int(sys.argv[1]) - 1))
sys.exit(subprocess.run(sys.argv[2:]).returncode)
"""


class NsServer:
    """The echo server under `wsdbg run` in a new pid namespace, at pid
    ns_pid there (1: the namespace's first process; otherwise set with
    ns_last_pid); .pid is its pid here."""

    def __init__(self, cli, preload_first, ns_pid, sock_dir):
        # The sanitizer runtime for `wsdbg run` alone, which keeps it
        # first before the shim; python3 leaks by design.
        inner = ["/usr/bin/env", "ASAN_OPTIONS=detect_leaks=0"]
        if preload_first:
            inner.append(f"LD_PRELOAD={preload_first}")
        inner += [cli.exe, "run", "--", "/usr/bin/python3",
                  cli_session.ECHO_SERVER, "--timeout", "30"]
        if ns_pid != 1:
            inner = ["/usr/bin/python3", "-c", LAUNCHER, str(ns_pid), *inner]
        self.ns_pid = ns_pid
        self.sock = os.path.join(sock_dir, f"{ns_pid}.sock")
        self.proc = subprocess.Popen([*unshare_args, *inner], env=cli.env,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = Lines(self.proc.stdout).line(20)
        if not line.startswith("PORT "):
            self.kill()
            raise RuntimeError(f"server did not start: {line!r} "
                               f"{self.err}")
        self.port = int(line.split()[1])
        found = [p for p in descendants(self.proc.pid)
                 if ns_pids(p)[-1:] == [ns_pid] and len(ns_pids(p)) > 1]
        self.pid = found[0] if len(found) == 1 else None

    def kill(self):
        """SIGKILL to the namespace's first process: the kernel kills
        every process in the namespace; nothing removes the socket."""
        for p in descendants(self.proc.pid):
            if ns_pids(p)[-1:] == [1]:
                os.kill(p, signal.SIGKILL)
        self.wait(10)

    def wait(self, timeout):
        """Waits for unshare's exit (killed after timeout); its status.
        What the namespace wrote on stderr is kept in .err."""
        try:
            _, self.err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.err = self.proc.communicate()
        return self.proc.returncode


class Lines:
    """A pipe read line by line, each wait bounded (select on the
    descriptor, no buffering in between)."""

    def __init__(self, pipe):
        self.fd = pipe.fileno()
        self.buf = b""

    def line(self, timeout):
        """The next line within timeout seconds, or "" (end, timeout)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return ""
            data = os.read(self.fd, 65536)
            if not data:
                return ""
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace") + "\n"


def sees_namespaced(cli, srv, what):
    """From here: ps lists srv by its pid here, NSPID its own; keeps the
    socket; conns and dump reach it by either pid and by name."""
    pid, own = str(srv.pid), str(srv.ns_pid)
    r = expect(f"{what}: ps", cli("ps"), 0, out=["PID  NSPID  NAME"],
               max_seconds=5)
    check(ps_rows(r.out) == [[pid, own, "python3", "1", "1", "8"]],
          f"{what}: ps shows its pid here, its own under NSPID, its name "
          "and 1 open, 1 total, 8 messages", r.detail())
    check(os.path.exists(srv.sock), f"{what}: ps kept its socket")
    j = json.loads(cli("ps", "--json").out)
    check(len(j) == 1 and j[0]["pid"] == srv.pid
          and j[0]["ns_pid"] == srv.ns_pid and j[0]["process"] == "python3"
          and j[0]["totals"]["active"] == 1,
          f"{what}: ps --json has pid (here) and ns_pid (its own)",
          json.dumps(j)[:500])
    for target in (pid, own, "python3", None):
        args = ["conns", target] if target else ["conns"]
        expect(f"{what}: wsdbg {' '.join(args)}", cli(*args), 0,
               out=["WebSocket  1 active, 1 total", "/echo?room=7",
                    f"python3 pid {own}"], max_seconds=5)
    r = expect(f"{what}: dump {pid}", cli("dump", pid), 0, max_seconds=5)
    d = json.loads(r.out) if r.rc == 0 else {}
    check(d.get("pid") == srv.ns_pid
          and len(d["connections"][0]["messages"]) == 8,
          f"{what}: dump is its snapshot (its own pid, 8 messages)",
          r.out[:300])
    check(os.path.exists(srv.sock), f"{what}: its socket is still there")


async def session_as_pid_1(cli, srv):
    """Pid 1 in its namespace; here pid 1 is another program."""
    async with cli_session.connect(srv.port) as ws:
        await cli_session.chat(ws, "hello from outside")
        await asyncio.sleep(0.2)
        await asyncio.to_thread(sees_namespaced, cli, srv, "pid 1 there")
        await ws.close(code=4001, reason="done here")


async def session_at_free_pid(cli, srv):
    """At a pid no process has here; a third namespace cannot see it."""
    own = str(srv.ns_pid)
    async with cli_session.connect(srv.port) as ws:
        await cli_session.chat(ws, "hello from outside")
        await asyncio.sleep(0.2)
        await asyncio.to_thread(sees_namespaced, cli, srv, "pid not here")
        third = unshare_args
        r = await asyncio.to_thread(cli, "ps", prefix=third)
        expect("a third namespace: ps", r, 0, out=["PID  NSPID  NAME"])
        check(ps_rows(r.out) == [["-", own, "python3", "1", "1", "8"]],
              "a third namespace: ps shows PID - (not seen from there) "
              "and its own pid", r.detail())
        check(os.path.exists(srv.sock), "a third namespace: socket kept")
        r = await asyncio.to_thread(cli, "conns", own, prefix=third)
        expect(f"a third namespace: conns {own}", r, 0,
               out=["WebSocket  1 active, 1 total"])
        follow = subprocess.Popen([cli.exe, "msgs", str(srv.pid),
                                   "--follow"], env=cli.env,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            lines, reader = [], Lines(follow.stdout)
            deadline = time.monotonic() + 5
            while not any("hello from outside" in ln for ln in lines):
                line = await asyncio.to_thread(
                    reader.line, deadline - time.monotonic())
                if not line:
                    break
                lines.append(line)
            check(any("hello from outside" in ln for ln in lines)
                  and any("following" in ln for ln in lines),
                  "--follow by its pid here: the timeline, then following",
                  "".join(lines))
            await asyncio.to_thread(srv.kill)
            out, err = await asyncio.to_thread(follow.communicate,
                                               timeout=10)
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.communicate()
        # Named as its snapshots name it (the header's pid).
        out = reader.buf.decode("utf-8", "replace") + out
        check(follow.returncode == 0 and err == ""
              and out.rstrip("\n").endswith(f"process {own} exited"),
              "--follow: the namespace killed, one line, exit 0",
              f"rc={follow.returncode} err={err!r} out={out!r}")


def namespaces(cli, preload_first, sock_dir):
    if not find_unshare():
        return False
    os.makedirs(sock_dir, mode=0o700, exist_ok=True)

    srv = NsServer(cli, preload_first, 1, sock_dir)
    try:
        check(srv.pid is not None and srv.pid != 1,
              "the server is pid 1 in its namespace, another pid here",
              str(srv.pid))
        asyncio.run(asyncio.wait_for(session_as_pid_1(cli, srv), 60))
        rc = srv.wait(20)
        check(rc == 0, "pid 1 there: the server exits by itself",
              f"rc={rc} {srv.err}")
    finally:
        if srv.proc.poll() is None:
            srv.kill()
    check(not os.path.exists(srv.sock),
          "pid 1 there: its socket is removed at exit")
    expect("pid 1 there, exited: ps", cli("ps"), 1,
           err=["no process is attached"])

    srv = NsServer(cli, preload_first, free_pid(), sock_dir)
    try:
        check(srv.pid is not None and srv.pid != srv.ns_pid
              and not os.path.exists(f"/proc/{srv.ns_pid}"),
              "the server's pid in its namespace is no process here",
              f"{srv.pid} {srv.ns_pid}")
        asyncio.run(asyncio.wait_for(session_at_free_pid(cli, srv), 60))
    finally:
        if srv.proc.poll() is None:
            srv.kill()
    check(os.path.exists(srv.sock),
          "killed: its socket is left behind (nothing ran to remove it)")
    expect("killed: ps", cli("ps"), 1, err=["no process is attached"],
           max_seconds=5)
    check(not os.path.exists(srv.sock),
          "killed: ps removed the socket, since connecting is refused")
    return True


def main():
    exe, fixtures, mode = os.path.abspath(sys.argv[1]), sys.argv[2], \
        sys.argv[3]
    preload_first = None
    if "--preload-first" in sys.argv:
        preload_first = sys.argv[sys.argv.index("--preload-first") + 1]
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "WSDBG_LIB", "LD_PRELOAD",
                        "WSDBG_MAX_SNAPSHOT")}
    with tempfile.TemporaryDirectory() as tmp:
        sock_dir = os.path.join(tmp, "sock")
        env["WSDBG_DIR"] = sock_dir
        cli = Cli(exe, env)
        if mode == "stale":
            stale(cli, sock_dir, fixtures, tmp)
        elif not namespaces(cli, preload_first, sock_dir):
            return 77
    return summary()


if __name__ == "__main__":
    sys.exit(main())

"""Processes that never serve or speak HTTP get nothing of wsdbg's: no
thread, no descriptor, no socket file. One --case per run:

  unshare    `unshare -U true` (unshare(CLONE_NEWUSER), which the kernel
             refuses a process with more than one thread) under
             `wsdbg run --` and under LD_PRELOAD alone: it exits 0 and
             prints nothing, as it does without the shim, and no socket
             directory is made. Skipped (77) when the kernel refuses it
             without the shim too (no user namespaces here).
  python     /usr/bin/python3 printing its thread count (/proc/self/status)
             and its descriptor numbers (/proc/self/fd) while idle, and
             again after it made a TCP socket and listened on it:
               - idle: the same threads (1) and descriptors as without the
                 shim, and no socket file;
               - listening: one thread more than without the shim (the
                 stats server's), still the same descriptors: the
                 server's listening socket is in a table of its thread's
                 own (/proc/PID/task/TID/fd), not the host's; `wsdbg ps`
                 lists the process (its line is printed) and the socket
                 answers "ping".
  fork       a python server that listens, then forks: the child gets
             no socket until it listens itself, then one of its own
             (both answer "ping"); the child then execs `sleep` (the
             shim still preloaded): exec ends its server's thread but not
             its socket file, which the new program removes at start.
The "without the shim" runs keep the sanitizer runtime a sanitizer build
preloads, so that only the shim differs.
"""
import json
import os
import subprocess
import sys

import modelkit  # noqa: F401  (puts tests/shim on the path)
from modelkit import check, figure, harness

# What the python host runs: its state as one JSON line, idle, then
# listening; it waits for a line on stdin before listening and before
# exiting.
PYTHON_HOST = r"""
import json, os, socket, sys
def state():
    with open("/proc/self/status") as f:
        threads = [l for l in f if l.startswith("Threads:")][0]
    fds = sorted(int(n) for n in os.listdir("/proc/self/fd"))
    print(json.dumps({"threads": int(threads.split()[1]), "fds": fds}),
          flush=True)
state()
sys.stdin.readline()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
s.listen()
state()
sys.stdin.readline()
"""


def plain_env(args):
    """base_env() with only the sanitizer runtime (if any) preloaded."""
    env = harness.base_env()
    if args.preload_first:
        env["LD_PRELOAD"] = args.preload_first
    return env


def run(argv, env):
    proc = harness.spawn(argv, env)
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out.decode(errors="replace"), \
        err.decode(errors="replace")


def case_unshare(args, tmp):
    argv = ["unshare", "-U", "true"]
    plain = run(argv, plain_env(args))
    if plain != (0, "", ""):
        print(f"SKIP: unshare -U fails without the shim here: {plain}")
        sys.exit(77)
    sock_dir = os.path.join(tmp, "sock")
    env = harness.shim_env(args, sock_dir)
    del env["LD_PRELOAD"]
    if args.preload_first:
        env["LD_PRELOAD"] = args.preload_first
    env["WSDBG_LIB"] = args.shim  # the shim under test, wherever it is
    got = run([args.cli, "run", "--"] + argv, env)
    check(got == (0, "", ""), f"wsdbg run -- unshare -U true: exits 0, "
          f"prints nothing: {got}")
    got = run(argv, harness.shim_env(args, sock_dir))
    check(got == (0, "", ""), f"LD_PRELOAD=libwsdbg.so unshare -U true: "
          f"exits 0, prints nothing: {got}")
    check(not os.path.exists(sock_dir),
          f"no socket directory made: {os.path.exists(sock_dir)}")


def tables_holding(pid, inode):
    """{tid: [fd numbers]} of pid's threads whose descriptor table holds
    socket inode (threads sharing a table all list it)."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            for fd in os.listdir(f"/proc/{pid}/task/{tid}/fd"):
                link = os.readlink(f"/proc/{pid}/task/{tid}/fd/{fd}")
                if link == f"socket:[{inode}]":
                    found.setdefault(int(tid), []).append(int(fd))
        except OSError:
            pass
    return found


class PythonHost:
    """The python host, started; state() reads its next JSON line."""

    def __init__(self, env):
        self.proc = harness.spawn(["/usr/bin/python3", "-c", PYTHON_HOST],
                                  env, stdin=subprocess.PIPE)

    def state(self):
        line = self.proc.stdout.readline().decode()
        return json.loads(line) if line else None

    def go_on(self):
        self.proc.stdin.write(b"\n")
        self.proc.stdin.flush()

    def finish(self):
        self.go_on()
        self.proc.stdin.close()
        self.proc.stdin = None
        _, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, err.decode(errors="replace")


def case_python(args, tmp):
    plain = PythonHost(plain_env(args))
    plain_idle = plain.state()
    plain.go_on()
    plain_listening = plain.state()
    plain_end = plain.finish()
    check(plain_end == (0, "") and plain_idle and plain_listening,
          f"without the shim the python host runs: {plain_end}")

    sock_dir = os.path.join(tmp, "sock")
    host = PythonHost(harness.shim_env(args, sock_dir))
    pid = host.proc.pid
    idle = host.state()
    print(f"idle: without the shim {plain_idle}, with it {idle}")
    check(idle == plain_idle, f"idle: the same threads and descriptors as "
          f"without the shim: {idle} vs {plain_idle}")
    check(idle is not None and idle["threads"] == 1,
          f"idle: one thread: {idle}")
    check(not os.path.exists(sock_dir) or os.listdir(sock_dir) == [],
          f"idle: no socket file: "
          f"{os.path.exists(sock_dir) and os.listdir(sock_dir)}")

    host.go_on()
    listening = host.state()
    print(f"listening: without the shim {plain_listening}, with it "
          f"{listening}")
    check(listening is not None and plain_listening is not None
          and listening["threads"] == plain_listening["threads"] + 1,
          f"listening: one thread more than without the shim: "
          f"{listening} vs {plain_listening}")
    check(listening is not None and plain_listening is not None
          and listening["fds"] == plain_listening["fds"],
          f"listening: the same descriptors as without the shim: "
          f"{listening} vs {plain_listening}")

    path = harness.socket_path(sock_dir, pid)
    check(os.path.exists(path), f"listening: the socket file is there: "
          f"{os.path.exists(sock_dir) and os.listdir(sock_dir)}")
    # Bound as <pid>.sock.new and renamed once listening (stats_server.h).
    inode = harness.socket_inode(path + ".new")
    holders = tables_holding(pid, inode) if inode else {}
    check(inode is not None and pid not in holders and len(holders) == 1,
          f"listening: the stats socket is in one thread's own table, "
          f"not the host's: inode {inode}, tables {holders}")
    figure("idle python, listening: the stats socket",
           f"in thread {list(holders)} at fd {list(holders.values())}")
    try:
        pong = harness.live_request(sock_dir, pid, "ping", raw=True)
    except OSError as e:
        pong = f"{type(e).__name__}: {e}"
    check(pong == "pong\n", f"listening: the socket answers ping: {pong!r}")
    env = harness.base_env()
    env["WSDBG_DIR"] = sock_dir
    ps = run([args.cli, "ps"], env)
    rows = [line for line in ps[1].splitlines()
            if line.split()[:1] == [str(pid)]]
    print(f"wsdbg ps shows: {rows}")
    check(ps[0] == 0 and len(rows) == 1
          and rows[0].split()[1:] == ["python3", "0", "0", "0", "no",
                                      "WebSocket", "yet"],
          f"wsdbg ps lists it: python3, no WebSocket yet: {ps}")
    end = host.finish()
    check(end == (0, ""), f"the python host exits 0, silent: {end}")
    check(harness.wait_for(lambda: not os.path.exists(path), 3),
          "the socket file is removed at exit")


# The fork case's host: listens, forks; the child waits for a line,
# listens, says so, waits for a line and execs sleep; the parent waits for
# the child. Each step prints one line with the pids.
FORK_HOST = r"""
import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
pid = os.fork()
if pid == 0:
    print("child", os.getpid(), flush=True)
    sys.stdin.readline()
    c = socket.socket()
    c.bind(("127.0.0.1", 0))
    c.listen()
    print("listening", flush=True)
    sys.stdin.readline()
    os.execv("/bin/sleep", ["sleep", "2"])
os.waitpid(pid, 0)
"""


def case_fork(args, tmp):
    sock_dir = os.path.join(tmp, "sock")
    env = harness.shim_env(args, sock_dir)
    proc = harness.spawn(["/usr/bin/python3", "-c", FORK_HOST], env,
                         stdin=subprocess.PIPE)
    child = int(proc.stdout.readline().split()[1])
    parent_sock = harness.socket_path(sock_dir, proc.pid)
    child_sock = harness.socket_path(sock_dir, child)
    check(harness.wait_for(lambda: os.path.exists(parent_sock), 5),
          "the listening parent has its socket")
    check(not os.path.exists(child_sock),
          "the forked child has none before it listens")
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    proc.stdout.readline()
    check(harness.wait_for(lambda: os.path.exists(child_sock), 5)
          and harness.live_request(sock_dir, child, "ping", raw=True)
          == "pong\n",
          "once it listens the child has a socket of its own, answering")
    check(harness.live_request(sock_dir, proc.pid, "ping", raw=True)
          == "pong\n", "the parent's still answers")
    proc.stdin.write(b"\n")
    proc.stdin.flush()
    gone = harness.wait_for(lambda: not os.path.exists(child_sock), 1.5)
    still = proc.poll() is None
    check(gone and still, f"after exec the child's socket file is gone "
          f"while sleep runs: gone {gone}, running {still}")
    proc.stdin.close()
    proc.stdin = None
    proc.communicate(timeout=10)
    check(proc.returncode == 0, f"the parent exits 0: {proc.returncode}")


def main():
    args = harness.parse_args(lambda p: (
        p.add_argument("--cli", required=True),
        p.add_argument("--case", required=True,
                       choices=["unshare", "python", "fork"])))
    args.cli = os.path.abspath(args.cli)
    with harness.temp_dir() as tmp:
        if args.case == "unshare":
            case_unshare(args, tmp)
        elif args.case == "fork":
            case_fork(args, tmp)
        else:
            case_python(args, tmp)


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

"""Exec'd children inherit the preload and work on their own.

  --case launcher   python3, under the shim, listens on a socket (so its
                    stats socket comes up: a process gets one only once it
                    listens, accepts or speaks HTTP), waits until it
                    answers, then execs the C echo server: the same
                    pid, a new program. Checks: the socket at <pid>.sock
                    is the server's now (answers, "process" is the
                    server's), the live snapshot and the dump list its
                    session exactly (a last connection ends the server),
                    the host behaves as without the shim, the socket file
                    is gone at exit.
  --case fork-exec  the C echo server forks and execs a second one
                    (--exec-child) on a port of its own; one session
                    each. Checks: two pids, two sockets, each answering
                    with its own pid; the parent's live snapshot and each
                    dump list their own connection only, exactly; nothing
                    left at exit.
"""
import glob
import os
import subprocess
import sys

import harness
from harness import check

SESSION_A = ["text:to the first", "binary:33", "ping:a",
             "close:1000:a done"]
SESSION_B = ["text:to the second", "frag:3:in three frames", "ping:b",
             "close:4005:b done"]


def extra(p):
    p.add_argument("--case", required=True, choices=["launcher", "fork-exec"])


def check_conn(snap, steps, query, what):
    conns = snap["connections"]
    check(len(conns) == 1 and conns[0]["query"] == query,
          f"{what}: only its own connection: "
          f"{[c['query'] for c in conns]}")
    if len(conns) == 1:
        c = conns[0]
        check(c["error"] is None and c["fault"] is None,
              f"{what}: no error, no fault")
        harness.check_session(c, steps, "server", what)


def case_launcher(args, tmp):
    def run(env, sock_dir=None):
        launcher = ("import os, socket, sys\n"
                    "s = socket.socket()\n"
                    "s.bind(('127.0.0.1', 0))\n"
                    "s.listen()\n"
                    "sys.stdin.readline()\n"
                    "os.execv(sys.argv[1], sys.argv[1:])\n")
        argv = ["/usr/bin/python3", "-c", launcher, args.server,
                "--connections", "2", "--timeout", "20"]
        proc = harness.spawn(argv, env, stdin=subprocess.PIPE)
        before = None
        if sock_dir:
            # The launcher's own socket, before it execs.
            before = harness.wait_for(lambda: harness.live_request(
                sock_dir, proc.pid, "summary"), timeout=5)
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        proc.stdin = None  # communicate() must not flush it
        line = proc.stdout.readline().decode()
        port = int(line.split()[1])
        rc, out, _ = harness.run_client(args, harness.base_env(), port,
                                        SESSION_A, ["--path", "/x?q=a"])
        # The server waits for its second connection: still there.
        live = (harness.live_until(sock_dir, proc.pid,
                                   lambda s: s["connections"] and
                                   s["connections"][0]["state"] == "closed")
                if sock_dir else None)
        last = harness.run_client(args, harness.base_env(), port,
                                  ["close:1000:last"])
        rest, err = proc.communicate(timeout=20)
        return proc, before, live, (rc, out, last[0], proc.returncode,
                                    rest, err)

    _, _, _, plain = run(harness.base_env())
    check(plain[0] == 0 and plain[2] == 0 and plain[3] == 0,
          f"without the shim: {plain}")
    sock_dir = os.path.join(tmp, "sock")
    env = harness.shim_env(args, sock_dir, os.path.join(tmp, "d-%p.json"))
    proc, before, live, host = run(env, sock_dir)
    check(host == plain, f"host as without the shim: {host} vs {plain}")
    check(before is not None and before["process"].startswith("python3"),
          f"the launcher had its own socket before exec: "
          f"{before and before['process']}")
    check(live is not None and live["pid"] == proc.pid
          and live["process"] == "ws-echo-server",
          f"after exec the same socket is the server's: "
          f"{live and (live['pid'], live['process'])}")
    if live:
        check_conn(live, SESSION_A, "q=a", "launcher: live")
    snap = harness.load_json(os.path.join(tmp, f"d-{proc.pid}.json"))
    check(snap["process"] == "ws-echo-server", "dump: the server's")
    check(snap["totals"]["connections"] == 2, "dump: both connections")
    snap["connections"] = [c for c in snap["connections"]
                           if c["query"] == "q=a"]
    check_conn(snap, SESSION_A, "q=a", "launcher: dump")
    left = glob.glob(os.path.join(sock_dir, "*.sock"))
    check(left == [], f"socket files gone: {left}")


def case_fork_exec(args, tmp):
    sock_dir = os.path.join(tmp, "sock")
    env = harness.shim_env(args, sock_dir, os.path.join(tmp, "d-%p.json"))
    server = harness.echo_server(args, env, "--exec-child",
                                 "--connections", "1", "--timeout", "20")
    line = server.proc.stdout.readline().decode()
    child_port = int(line.split()[1])
    plain = harness.base_env()
    a = harness.run_client(args, plain, server.port, SESSION_A,
                           ["--path", "/x?q=a"])
    check(a[0] == 0, f"first session echoed: {a}")
    # The parent has served its one connection and now waits for the
    # child, which waits for its own: both sockets are up.
    own = f"{server.pid}.sock"
    others = harness.wait_for(lambda: [p for p in os.listdir(sock_dir)
                                       if p.endswith(".sock") and p != own])
    check(len(others) == 1, f"the exec'd child has its own socket: "
          f"{others}")
    child = int(others[0].split(".")[0]) if others else None
    parent_live = harness.live_until(
        sock_dir, server.pid, lambda s: s["connections"] and
        s["connections"][0]["state"] == "closed")
    check(parent_live is not None and parent_live["pid"] == server.pid,
          "parent's socket answers with its pid")
    if parent_live:
        check_conn(parent_live, SESSION_A, "q=a", "parent: live")
    if child:
        child_live = harness.live_request(sock_dir, child)
        check(child_live is not None and child_live["pid"] == child
              and child != server.pid
              and child_live["process"] == "ws-echo-server"
              and child_live["connections"] == [],
              f"child's socket: its pid and name, no connection yet: "
              f"{child_live}")
    b = harness.run_client(args, plain, child_port, SESSION_B,
                           ["--path", "/x?q=b"])
    check(b[0] == 0, f"second session echoed: {b}")
    server.finish()
    check(server.returncode == 0 and server.err == "",
          f"server (and its child) exit 0: {server.returncode} "
          f"{server.err!r}")
    check_conn(harness.load_json(os.path.join(tmp, f"d-{server.pid}.json")),
               SESSION_A, "q=a", "parent: dump")
    if child:
        check_conn(harness.load_json(os.path.join(tmp, f"d-{child}.json")),
                   SESSION_B, "q=b", "child: dump")
    left = glob.glob(os.path.join(sock_dir, "*.sock"))
    check(left == [], f"socket files gone: {left}")


def main():
    args = harness.parse_args(extra)
    with harness.temp_dir() as tmp:
        {"launcher": case_launcher,
         "fork-exec": case_fork_exec}[args.case](args, tmp)


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

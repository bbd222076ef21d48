"""A daemon (daemon_host.c: fork, setsid, fork, close every descriptor
with --close close_range|closefrom|loop, /dev/null on 0-2, chdir /)
serving WebSockets under the shim: a connection held open while the
daemon is looked at, then a ws-client session. The same run without the
shim first. Checks:
  - host behaviour unchanged: the launcher's output and status, the
    daemon's status file, the clients' results, identical with and
    without the shim;
  - the daemon's snapshot socket, <daemon pid>.sock, answers while the
    connection is held: pid the daemon's, the held connection listed
    open with its message - closing every descriptor did not take the
    shim's socket away or hand it to the host;
  - the daemon's dump: both connections, the session exact, closes as
    sent; the launcher's dump has no connection; every socket file is
    removed once the processes have exited, the intermediate child's
    (which ends with _exit) included.
"""
import glob
import os
import signal
import sys

import modelkit
from modelkit import check, figure, harness

SESSION = ["text:to the daemon", "binary:90", "ping:d-ping",
           "frag:2:in two", "close:4006:daemon done"]


def gone(pid):
    """True once pid has exited (a zombie nobody reaps counts)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def run(args, env, tmp, sock_dir=None):
    ready = os.path.join(tmp, "ready")
    status = os.path.join(tmp, "status")
    launcher = harness.spawn([args.daemon, "--close", args.close,
                              "--ready", ready, "--status", status,
                              "--connections", "2", "--timeout", "30"], env)
    out, err = launcher.communicate(timeout=20)
    daemon = port = None
    try:
        with open(ready) as f:
            daemon, port = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        pass
    result = {"launcher": (launcher.returncode, out, err)}
    live = {"launcher": launcher.pid}
    if daemon is None:
        return result, None, live
    try:
        held = harness.RawClient(port, "/held?h=1")
        result["held echo"] = held.echo("held by the daemon")
        if sock_dir:
            live["sockets"] = sorted(os.listdir(sock_dir))
            try:
                live["snapshot"] = harness.live_until(
                    sock_dir, daemon,
                    lambda s: s["totals"]["messages_received"] == 1)
            except OSError as e:
                live["error"] = f"{type(e).__name__}: {e}"
        result["held close"] = held.close_handshake(1000, "held done")
        result["session"] = harness.run_client(
            args, harness.base_env(), port, SESSION,
            ["--path", "/session?s=1"])
        harness.wait_for(lambda: gone(daemon), 10)
        with open(status) as f:
            result["status file"] = f.read()
    finally:
        if not gone(daemon):  # it left our session: kill it by pid
            os.kill(daemon, signal.SIGKILL)
    return result, daemon, live


def main():
    args = harness.parse_args(lambda p: (
        p.add_argument("--daemon", required=True),
        p.add_argument("--close", required=True,
                       choices=["close_range", "closefrom", "loop"])))
    with harness.temp_dir() as tmp:
        os.makedirs(os.path.join(tmp, "plain"))
        plain, _, _ = run(args, harness.base_env(),
                          os.path.join(tmp, "plain"))
        check(plain.get("status file") == "served 2, failed 0\n"
              and plain["launcher"] == (0, b"daemon started\n", b""),
              f"without the shim the daemon serves: {plain}")
        sock_dir = os.path.join(tmp, "sock")
        env = harness.shim_env(args, sock_dir,
                               os.path.join(tmp, "dump-%p.json"))
        os.makedirs(os.path.join(tmp, "shim"))
        result, daemon, live = run(args, env, os.path.join(tmp, "shim"),
                                   sock_dir)
        check(result == plain, f"host behaviour identical: {result} vs "
              f"{plain}")
        check(daemon is not None, "the daemon got ready under the shim")
        if daemon is None:
            return
        check(f"{daemon}.sock" in live.get("sockets", []),
              f"the daemon's socket file is there: {live.get('sockets')}")
        snap = live.get("snapshot")
        check(snap is not None and snap["pid"] == daemon,
              f"the daemon's snapshot socket answers by pid: "
              f"{live.get('error')}")
        if snap:
            conns = snap["connections"]
            check(len(conns) == 1 and conns[0]["state"] == "open"
                  and conns[0]["query"] == "h=1"
                  and conns[0]["messages"][0].get("text")
                  == "held by the daemon",
                  f"live: the held connection: {conns}")

        dumps = {int(os.path.basename(p)[5:-5]): harness.load_json(p)
                 for p in glob.glob(os.path.join(tmp, "dump-*.json"))}
        snap = dumps.pop(daemon, None)
        check(snap is not None, f"the daemon wrote its dump: {sorted(dumps)}")
        if snap:
            conns = sorted(snap["connections"], key=lambda c: c["opened_at"])
            check(len(conns) == 2, f"daemon dump: two connections: "
                  f"{len(conns)}")
            if len(conns) == 2:
                check(conns[0]["close"]["code"] == 1000,
                      "daemon dump: held connection closed 1000")
                check(conns[1]["close"] == {"code": 4006,
                                            "reason": "daemon done",
                                            "by": "client"},
                      f"daemon dump: session close {conns[1]['close']}")
                harness.check_session(conns[1], SESSION, "server",
                                      "daemon dump session")
        check(all(s["connections"] == [] for s in dumps.values()),
              "the launcher's dump lists no connection")
        # The launcher and the daemon end with exit(); the intermediate
        # child with _exit(), which the shim hooks to remove its file too.
        check(harness.wait_for(lambda: os.listdir(sock_dir) == [], 3),
              f"every socket file removed at exit, the intermediate "
              f"child's (_exit) included: {sorted(os.listdir(sock_dir))}")
        figure(f"daemon ({args.close}): snapshot by pid",
               "reachable" if live.get("snapshot") else "NOT reachable")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

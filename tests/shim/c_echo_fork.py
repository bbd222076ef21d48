"""The C echo server with a process per connection (--fork: the parent
accepts, a child serves and exits) under the shim, WSDBG_DUMP with %p.
Three connections: a ws-client session, one held open by a client written
here while the child serving it is looked at, another ws-client session.
Checks:
  - the parent's live socket answers (ping, snapshot) and lists no
    connection: it accepted them but moved no WebSocket bytes;
  - a child has a live socket of its own, <child pid>.sock, listing only
    its own connection, open;
  - at exit: the parent's dump has no connection; each child wrote its own
    dump, named by its pid, with exactly its one connection, its messages
    and counters; every socket file is gone.
"""
import glob
import os
import sys

import harness
from harness import check

SESSION = ["text:from a child", "binary:200", "ping:fork-ping",
           "frag:2:in two pieces", "close:4002:child done"]


def main():
    args = harness.parse_args()
    with harness.temp_dir() as tmp:
        sock_dir = os.path.join(tmp, "sock")
        env = harness.shim_env(args, sock_dir,
                               os.path.join(tmp, "dump-%p.json"))
        server = harness.echo_server(args, env, "--fork", "--connections",
                                     "3", "--timeout", "20")
        parent = server.pid
        plain = harness.base_env()

        pong = harness.live_request(sock_dir, parent, "ping", raw=True)
        check(pong == "pong\n", f"parent's live socket answers: {pong!r}")

        first = harness.run_client(args, plain, server.port, SESSION,
                                   ["--path", "/echo?n=1"])
        check(first[0] == 0, f"first client: every echo matched: {first}")

        raw = harness.RawClient(server.port, "/held?n=2")
        check(raw.echo("held open") == "held open", "held connection echoes")
        own = f"{parent}.sock"
        child_socks = harness.wait_for(
            lambda: [p for p in os.listdir(sock_dir)
                     if p.endswith(".sock") and p != own])
        check(len(child_socks) == 1,
              f"the serving child has its own socket: {child_socks}")
        if child_socks:
            child = int(child_socks[0].split(".")[0])
            live = harness.live_until(
                sock_dir, child, lambda s: harness.all_messages(s)[1:])
            check(live["pid"] == child and child != parent,
                  f"child snapshot from pid {live['pid']}")
            conns = live["connections"]
            check(len(conns) == 1 and conns[0]["state"] == "open"
                  and conns[0]["query"] == "n=2"
                  and conns[0]["received"]["messages"] == 1
                  and conns[0]["sent"]["messages"] == 1,
                  f"child lists only its open connection: {conns}")
        live = harness.live_request(sock_dir, parent)
        check(live is not None and live["pid"] == parent
              and live["connections"] == []
              and live["totals"]["connections"] == 0,
              f"parent's live snapshot lists no connection: "
              f"{live and live['totals']}")
        reply = raw.close_handshake(1000, "held done")
        check(reply == (0x8, (1000).to_bytes(2, "big") + b"held done"),
              f"held connection closes: {reply}")

        third = harness.run_client(args, plain, server.port, SESSION,
                                   ["--path", "/echo?n=3"])
        check(third[0] == 0, f"third client: every echo matched: {third}")
        server.finish()
        check(server.returncode == 0 and server.err == "",
              f"server exit 0, stderr empty: {server.returncode} "
              f"{server.err!r}")

        dumps = {int(os.path.basename(p)[5:-5]): harness.load_json(p)
                 for p in glob.glob(os.path.join(tmp, "dump-*.json"))}
        check(parent in dumps, "the parent wrote its dump")
        if parent in dumps:
            snap = dumps.pop(parent)
            check(snap["pid"] == parent and snap["connections"] == []
                  and snap["totals"]["connections"] == 0,
                  f"parent's dump has no connection: {snap['totals']}")
        check(len(dumps) == 3, f"three child dumps: {sorted(dumps)}")
        queries = []
        for pid, snap in sorted(dumps.items()):
            what = f"child {pid}"
            check(snap["pid"] == pid, f"{what}: dump pid is its own")
            conns = snap["connections"]
            check(len(conns) == 1, f"{what}: exactly one connection")
            if len(conns) != 1:
                continue
            c = conns[0]
            queries.append(c["query"])
            check(c["state"] == "closed", f"{what}: state closed")
            if c["query"] == "n=2":
                check(c["close"] == {"code": 1000, "reason": "held done",
                                     "by": "client"},
                      f"{what}: close of the held connection")
                check(c["received"]["messages"] == 2
                      and c["sent"]["messages"] == 2,
                      f"{what}: held connection counters")
            else:
                check(c["close"] == {"code": 4002, "reason": "child done",
                                     "by": "client"}, f"{what}: close")
                harness.check_session(c, SESSION, "server", what)
            t = snap["totals"]
            check(t["connections"] == 1
                  and t["messages_received"] == c["received"]["messages"],
                  f"{what}: totals are the child's only")
        check(sorted(queries) == ["n=1", "n=2", "n=3"],
              f"one child per connection: {queries}")
        left = glob.glob(os.path.join(sock_dir, "*.sock"))
        check(left == [], f"socket files removed at exit: {left}")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

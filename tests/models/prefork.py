"""A pre-forking server (prefork_server.c: the parent forks 3 workers that
accept on one shared listening socket, 2 connections each) under the
shim, WSDBG_DUMP with %p. Three connections held open at once (a busy
worker is not in accept(), so each lands on a different worker), then
three ws-client sessions one after the other. The same run without the
shim first. Checks:
  - host behaviour unchanged: the parent's output and status and every
    client's output and status are identical with and without the shim;
  - while the three are held: the parent and each worker answer on their
    own socket (<pid>.sock); each worker's live snapshot lists exactly
    one connection, open, one of the three held; the parent lists none;
  - at exit: the parent's dump has no connection; each worker's dump (by
    its pid) has exactly its two connections, one held and one session,
    every message and counter exact, closes as sent; every socket file
    is gone.
"""
import glob
import os
import sys

import modelkit
from modelkit import check, figure, harness

WORKERS = 3
SESSION = ["text:prefork hello", "binary:300", "ping:pre-ping",
           "frag:3:three parts here", "close:4003:session over"]


def run(args, env, sock_dir=None):
    """One run; returns the server, the client results and what was seen
    live while the three connections were held (None without the shim)."""
    server = harness.Server([args.prefork, "--workers", str(WORKERS),
                             "--per-worker", "2", "--timeout", "30"], env)
    plain = harness.base_env()
    held = [harness.RawClient(server.port, f"/held?h={i}")
            for i in range(WORKERS)]
    echoes = [c.echo(f"held {i}") for i, c in enumerate(held)]
    live = None
    if sock_dir:
        kids = harness.wait_for(
            lambda: len(modelkit.children_of(server.pid)) == WORKERS
            and modelkit.children_of(server.pid), 5)
        live = {"parent": harness.live_request(sock_dir, server.pid)}
        # The client has its echo once the worker's write returned, which
        # may be before the worker's shim has recorded it: wait for both.
        for pid in kids or []:
            live[pid] = harness.live_until(
                sock_dir, pid, lambda s: s["totals"]["messages_received"]
                == 1 and s["totals"]["messages_sent"] == 1)
    closes = [c.close_handshake(1000, f"held {i} done")
              for i, c in enumerate(held)]
    results = [harness.run_client(args, plain, server.port, SESSION,
                                  ["--path", f"/session?s={i}"])
               for i in range(WORKERS)]
    server.finish()
    return server, (echoes, closes, results), live


def main():
    args = harness.parse_args(
        lambda p: p.add_argument("--prefork", required=True))
    with harness.temp_dir() as tmp:
        plain_server, plain_clients, _ = run(args, harness.base_env())
        check(plain_server.returncode == 0,
              f"without the shim the server exits 0: {plain_server.out} "
              f"{plain_server.err}")
        sock_dir = os.path.join(tmp, "sock")
        env = harness.shim_env(args, sock_dir,
                               os.path.join(tmp, "dump-%p.json"))
        server, clients, live = run(args, env, sock_dir)
        check(modelkit.host_view(server) == modelkit.host_view(plain_server),
              f"parent's status and output identical: "
              f"{modelkit.host_view(server)}")
        check(clients == plain_clients,
              f"clients' results identical: {clients}")

        parent = live.pop("parent")
        check(parent is not None and parent["pid"] == server.pid
              and parent["connections"] == [],
              f"parent answers live and lists no connection: "
              f"{parent and parent['totals']}")
        check(len(live) == WORKERS, f"{WORKERS} workers found: {list(live)}")
        held_queries = set()
        for pid, snap in live.items():
            conns = snap["connections"] if snap else []
            ok = (snap is not None and snap["pid"] == pid and len(conns) == 1
                  and conns[0]["state"] == "open"
                  and conns[0]["received"]["messages"] == 1
                  and conns[0]["sent"]["messages"] == 1)
            check(ok, f"worker {pid} lists exactly its one held connection: "
                  f"{conns}")
            if ok:
                held_queries.add(conns[0]["query"])
        check(held_queries == {f"h={i}" for i in range(WORKERS)},
              f"the three held connections on three workers: "
              f"{held_queries}")

        dumps = {int(os.path.basename(p)[5:-5]): harness.load_json(p)
                 for p in glob.glob(os.path.join(tmp, "dump-*.json"))}
        snap = dumps.pop(server.pid, None)
        check(snap is not None and snap["connections"] == []
              and snap["totals"]["connections"] == 0,
              "parent's dump has no connection")
        check(sorted(dumps) == sorted(live),
              f"each worker wrote its own dump: {sorted(dumps)}")
        sessions = []
        for pid, snap in dumps.items():
            conns = sorted(snap["connections"], key=lambda c: c["opened_at"])
            what = f"worker {pid}"
            check(snap["pid"] == pid and len(conns) == 2
                  and snap["totals"]["connections"] == 2,
                  f"{what}: its two connections only")
            if len(conns) != 2:
                continue
            h, s = conns
            check(h["query"] == live[pid]["connections"][0]["query"]
                  and h["state"] == "closed"
                  and h["close"]["code"] == 1000
                  and (h["received"]["messages"], h["sent"]["messages"])
                  == (2, 2),
                  f"{what}: the held connection it showed live: {h['query']}")
            sessions.append(s["query"])
            check(s["close"] == {"code": 4003, "reason": "session over",
                                 "by": "client"}, f"{what}: session close")
            harness.check_session(s, SESSION, "server", f"{what} session")
        check(sorted(sessions) == [f"s={i}" for i in range(WORKERS)],
              f"one session per worker: {sessions}")
        left = glob.glob(os.path.join(sock_dir, "*.sock"))
        check(left == [], f"socket files removed at exit: {left}")
        figure("prefork: processes with their own snapshot",
               f"1 parent + {WORKERS} workers")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

"""The C echo server with a thread per connection under the shim: 8
clients at once, 50 messages each (texts naming their client, binaries of
varied sizes, pings; half the clients pipelined), then a close naming the
client; a ninth client then ends the server. While the eight run, the
live socket is asked for snapshots over and over. Checks:
  - every client got every echo (exit 0, its own output as without the
    shim);
  - each live snapshot parses and its totals never go down;
  - the dump: 8 connections, each with exactly its own client's messages
    (no message recorded on another thread's connection), exact counters
    per connection and in the totals, close code/reason/by, state closed.
"""
import os
import sys
import threading

import harness
from harness import check

CLIENTS = 8
MESSAGES = 50


def script(i):
    steps = []
    for j in range(MESSAGES):
        if j % 10 == 9:
            steps.append(f"ping:c{i}-p{j}")
        elif j % 3 == 2:
            steps.append(f"binary:{(i * 97 + j * 13) % 400}")
        else:
            steps.append(f"text:client {i} message {j}")
    steps.append(f"close:1000:client {i} done")
    return steps


def main():
    args = harness.parse_args()
    scripts = [script(i) for i in range(CLIENTS)]
    with harness.temp_dir() as tmp:
        sock_dir = os.path.join(tmp, "sock")
        env = harness.shim_env(args, sock_dir,
                               os.path.join(tmp, "dump-%p.json"),
                               max_messages=1000)
        # One connection more than the load: the server stays up (its
        # socket too) until the load is over and a last client comes.
        server = harness.echo_server(args, env, "--threads", "--connections",
                                     str(CLIENTS + 1), "--timeout", "25")
        plain = harness.base_env()
        results = [None] * CLIENTS

        def client(i):
            opts = ["--pipeline"] if i % 2 else []
            opts += ["--path", f"/echo?client={i}"]
            results[i] = harness.run_client(args, plain, server.port,
                                            scripts[i], opts)

        threads = [threading.Thread(target=client, args=(i,))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        snapshots = []
        while any(t.is_alive() for t in threads):
            try:
                snapshots.append(harness.live_request(sock_dir, server.pid))
            except (OSError, ValueError) as e:
                check(False, f"live snapshot under load: {e}")
                break
        for t in threads:
            t.join()
        last = harness.run_client(args, plain, server.port,
                                  ["close:1000:last"])
        check(last[0] == 0, f"last client: close echoed: {last}")
        server.finish()

        for i, (rc, out, err) in enumerate(results):
            lines = out.decode().splitlines()
            check(rc == 0 and lines[-1] ==
                  f"steps {MESSAGES + 1}, echoes matched {MESSAGES + 1}",
                  f"client {i}: every echo matched: {rc} {err}")
        check(server.returncode == 0,
              f"server exit 0: {server.returncode} {server.err}")
        check(server.err == "", f"server stderr empty: {server.err!r}")

        snapshots = [s for s in snapshots if s is not None]
        check(len(snapshots) > 0, "live snapshots taken under load")
        previous = 0
        monotonic = True
        for s in snapshots:
            n = s["totals"]["messages_received"]
            monotonic &= n >= previous
            previous = n
        check(monotonic, f"live totals never go down over "
              f"{len(snapshots)} snapshots")

        snap = harness.load_json(os.path.join(tmp, f"dump-{server.pid}.json"))
        conns = [c for c in snap["connections"] if c["query"]]
        check(len(conns) == CLIENTS, f"{CLIENTS} connections: {len(conns)}")
        seen = set()
        for c in conns:
            i = int(c["query"].split("=")[1])
            seen.add(i)
            what = f"connection of client {i}"
            check(c["state"] == "closed", f"{what}: state closed")
            check(c["close"] == {"code": 1000, "reason": f"client {i} done",
                                 "by": "client"},
                  f"{what}: close {c['close']}")
            check(c["messages_dropped"] == 0, f"{what}: nothing dropped")
            check(c["error"] is None, f"{what}: no error")
            harness.check_session(c, scripts[i], "server", what,
                                  strict_order=i % 2 == 0)
        check(seen == set(range(CLIENTS)), "one connection per client")
        t = snap["totals"]
        # the load, and the last client's close frame ("close:1000:last")
        per = MESSAGES + 1
        nbytes = sum(len(harness.step_message(s)[1])
                     for sc in scripts for s in sc) + 6
        n = CLIENTS * per + 1
        check((t["connections"], t["active"], t["closed"]) ==
              (CLIENTS + 1, 0, CLIENTS + 1), f"totals: connections {t}")
        check(t["messages_received"] == n and t["messages_sent"] == n,
              f"totals: {n} messages each way: "
              f"{t['messages_received']} {t['messages_sent']}")
        check(t["bytes_received"] == nbytes and t["bytes_sent"] == nbytes,
              f"totals: {nbytes} payload bytes each way")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

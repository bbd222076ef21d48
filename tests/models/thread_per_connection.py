"""A server with a thread per connection (the C echo server, --threads,
readv/writev I/O) under the shim with 64 connections open at once
(ws-load-client --pause holds them open until told), then 200 messages
on each, 8 in flight, and a close 4000. The same run without the shim
first. Checks:
  - host behaviour unchanged: client and server output and status
    identical with and without the shim;
  - while all 64 are open: the server runs a thread for each (Threads in
    /proc), and its live snapshot lists 64 connections, all open, one per
    client connection, each with no message yet;
  - the dump: the 64 connections, each with exactly its own 201 messages
    each way (200 texts and the close), payload bytes exact, close 4000
    "load done" by the client, no error; totals exact.
"""
import os
import subprocess
import sys

import modelkit
from modelkit import check, figure, harness

CONNS = 64
MESSAGES = 200
SIZE = 40


def run(args, env, sock_dir=None):
    server = harness.echo_server(args, env, "--threads", "--io", "readv",
                                 "--connections", str(CONNS), "--timeout",
                                 "40")
    client = harness.spawn([args.load_client, "--connections", str(CONNS),
                            "--messages", str(MESSAGES), "--size", str(SIZE),
                            "--window", "8", "--close-code", "4000",
                            "--pause", "--path", "/threads",
                            str(server.port)],
                           harness.base_env(), stdin=subprocess.PIPE)
    line = client.stdout.readline().decode()
    threads = live = None
    if line == f"OPEN {CONNS}\n":
        with open(f"/proc/{server.pid}/status") as f:
            threads = int(next(x for x in f if x.startswith("Threads:"))
                          .split()[1])
        if sock_dir:
            live = harness.live_until(
                sock_dir, server.pid,
                lambda s: len(s["connections"]) == CONNS
                and all(c["state"] == "open" for c in s["connections"]))
    out, err = client.communicate(b"go\n", timeout=40)
    server.finish()
    return server, (client.returncode, line + out.decode()), threads, live


def main():
    args = harness.parse_args(
        lambda p: p.add_argument("--load-client", required=True))
    with harness.temp_dir() as tmp:
        plain_server, plain_client, plain_threads, _ = run(
            args, harness.base_env())
        check(plain_client[0] == 0 and plain_server.returncode == 0,
              f"without the shim: {plain_client} {plain_server.err!r}")
        sock_dir = os.path.join(tmp, "sock")
        env = harness.shim_env(args, sock_dir,
                               os.path.join(tmp, "dump-%p.json"),
                               max_connections=CONNS * 2,
                               max_messages=1000)
        server, client, threads, live = run(args, env, sock_dir)
        check(client == plain_client, f"client identical: {client}")
        check(modelkit.host_view(server) == modelkit.host_view(plain_server),
              f"server identical: {modelkit.host_view(server)}")
        # main thread + one per connection (+ the shim's stats thread)
        check(plain_threads == CONNS + 1 and threads == CONNS + 2,
              f"a thread per connection: {plain_threads} without, "
              f"{threads} with the shim")
        conns = live["connections"] if live else []
        check(len(conns) == CONNS
              and all(c["state"] == "open" and c["role"] == "server"
                      and c["received"]["messages"] == 0 for c in conns),
              f"live: {CONNS} open connections: {len(conns)}")
        check(sorted(c["query"] for c in conns)
              == sorted(f"c={i}" for i in range(CONNS)),
              "live: one per client connection")

        snap = harness.load_json(os.path.join(tmp, f"dump-{server.pid}.json"))
        conns = snap["connections"]
        check(len(conns) == CONNS, f"dump: {CONNS} connections")
        bad = []
        for c in conns:
            i = int(c["query"][2:])
            kept = c["messages"]
            texts = [m["text"] for m in kept
                     if m["dir"] == "received" and m["type"] == "text"]
            ok = (c["state"] == "closed" and c["error"] is None
                  and c["close"] == {"code": 4000, "reason": "load done",
                                     "by": "client"}
                  and c["received"]["messages"] == MESSAGES + 1
                  and c["sent"]["messages"] == MESSAGES + 1
                  and c["received"]["bytes"] == MESSAGES * SIZE + 11
                  and c["messages_dropped"] == 0
                  and len(texts) == MESSAGES
                  and all(t.startswith(f"c{i} m{j} ")
                          for j, t in enumerate(texts)))
            if not ok:
                bad.append(i)
        check(bad == [], f"dump: each connection has exactly its own "
              f"messages: not {bad[:5]}")
        t = snap["totals"]
        n = CONNS * (MESSAGES + 1)
        check((t["connections"], t["messages_received"], t["messages_sent"])
              == (CONNS, n, n), f"dump totals: {t}")
        figure("threads: connections open at once, one thread each", CONNS)
        figure("threads: messages each way", n)


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

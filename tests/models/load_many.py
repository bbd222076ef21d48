"""Load: the project's C echo server, a thread per connection, under the
shim, driven by ws-load-client with --connections N at once (default
1,000), --messages M each (default 1,000: 1,000,000 in all), 32-byte texts,
16 in flight per connection; WSDBG_MAX_CONNECTIONS=N/2 (half the load is
detailed, half counted as untracked) and WSDBG_MAX_MEMORY=4M: above what
N/2 busy connections hold besides stored text (records, rings, decoder
state: about 7 KB each), below what they want with 100 kept messages
each, so the cap binds and older texts give way.
The same load runs first without the shim. Checks:
  - host behaviour unchanged: the client's output and status, the
    server's status and output, identical with and without the shim;
  - live "summary" snapshots every 0.1 s during the run all parse, their
    totals never go down, memory_used never exceeds max_memory and
    memory_held (all the registry holds) never exceeds max_held;
  - the dump: totals exactly what was sent (messages, payload bytes and
    frames each way, by type), connections N with N/2 tracked and N/2
    untracked, no error; each tracked connection: its own M+1 messages
    each way counted, the last 100 of both ways kept (the rest counted
    as dropped),
    close 1000 "load done" by the client, state closed; memory_used and
    memory_held under the cap, and some kept texts gave way to it.
Prints the figures: messages, connections, duration with and without the
shim, peak memory_used and memory_held, peak RSS.
"""
import os
import sys
import time

import modelkit
from modelkit import check, figure, harness

SIZE = 32
WINDOW = 16
MAX_MEMORY = 4 << 20
MAX_MESSAGES = 100  # WSDBG_MAX_MESSAGES default
CLOSE_PAYLOAD = 2 + len("load done")


def run(args, env, sock_dir=None):
    """One load run; returns (server, client result, seconds, sampler)."""
    server = harness.echo_server(args, env, "--threads", "--connections",
                                 str(args.connections), "--timeout",
                                 str(args.budget))
    sampler = modelkit.Sampler(sock_dir, server.pid) if sock_dir else None
    start = time.monotonic()
    proc = harness.spawn([args.load_client, "--connections",
                          str(args.connections), "--messages",
                          str(args.messages), "--size", str(SIZE),
                          "--window", str(WINDOW), "--timeout",
                          str(args.budget), str(server.port)],
                         harness.base_env())
    out, err = proc.communicate(timeout=args.budget)
    server.finish(timeout=30)
    seconds = time.monotonic() - start
    if sampler:
        sampler.stop()
    return server, (proc.returncode, out.decode()), seconds, sampler


def main():
    args = harness.parse_args(lambda p: (
        p.add_argument("--load-client", required=True),
        p.add_argument("--connections", type=int, default=1000),
        p.add_argument("--messages", type=int, default=1000)))
    modelkit.raise_fd_limit(4 * args.connections + 256)
    n, m = args.connections, args.messages
    tracked = n // 2
    with harness.temp_dir() as tmp:
        plain_server, plain_client, plain_s, _ = run(args,
                                                     harness.base_env())
        check(plain_client[0] == 0 and plain_server.returncode == 0,
              f"without the shim the load runs clean: {plain_client} "
              f"{plain_server.err[-500:]!r}")

        sock_dir = os.path.join(tmp, "sock")
        dump = os.path.join(tmp, "dump-%p.json")
        env = harness.shim_env(args, sock_dir, dump,
                               max_connections=tracked,
                               max_memory=MAX_MEMORY)
        server, client, shim_s, sampler = run(args, env, sock_dir)

        check(client == plain_client,
              f"client output and status identical: {client} vs "
              f"{plain_client}")
        check(modelkit.host_view(server) == modelkit.host_view(plain_server),
              f"server status and output identical: "
              f"{modelkit.host_view(server)}")

        samples = sampler.samples
        check(len(samples) >= 5, f"live summaries during the run: "
              f"{len(samples)}")
        check(sampler.errors == [], f"every live summary parsed: "
              f"{sampler.errors[:3]}")
        received = [s[1]["messages_received"] for s in samples]
        check(received == sorted(received),
              "live totals never go down")
        peak_mem = sampler.max_memory_used()
        check(all(s[1]["memory_used"] <= s[2]["max_memory"] == MAX_MEMORY
                  for s in samples),
              f"memory_used within max_memory={MAX_MEMORY} in every "
              f"sample (peak {peak_mem})")
        # What the registry holds in all (records, rings, decoder state,
        # stored text) stays under the same cap.
        peak_held = sampler.max_memory_held()
        check(all(s[1]["memory_held"] <= s[2]["max_held"] == MAX_MEMORY
                  for s in samples),
              f"memory_held within max_held={MAX_MEMORY} in every "
              f"sample (peak {peak_held})")

        snap = harness.load_json(os.path.join(tmp, f"dump-{server.pid}.json"))
        t = snap["totals"]
        msgs = n * (m + 1)  # M texts and a close per connection
        nbytes = n * (m * SIZE + CLOSE_PAYLOAD)
        wire_in = n * (m * (2 + 4 + SIZE) + 2 + 4 + CLOSE_PAYLOAD)
        for d in ("sent", "received"):
            check(t[f"messages_{d}"] == msgs,
                  f"totals: {d} messages {t[f'messages_{d}']} == {msgs}")
            check(t[f"bytes_{d}"] == nbytes,
                  f"totals: {d} bytes {t[f'bytes_{d}']} == {nbytes}")
            check(t[f"frames_{d}"] == msgs,
                  f"totals: {d} frames {t[f'frames_{d}']} == {msgs}")
            check(t["by_type"][d] == {"text": n * m, "binary": 0,
                                      "close": n, "ping": 0, "pong": 0},
                  f"totals: {d} by type {t['by_type'][d]}")
        check(t["wire_bytes_received"] == wire_in,
              f"totals: wire bytes received {t['wire_bytes_received']} "
              f"== {wire_in}")
        check((t["connections"], t["tracked"], t["untracked"], t["active"],
               t["evicted"], t["errors"]) == (n, tracked, n - tracked, 0, 0,
                                              0),
              f"totals: {n} connections, {tracked} tracked, "
              f"{n - tracked} untracked: {t}")
        check(t["memory_used"] <= MAX_MEMORY,
              f"memory_used at exit {t['memory_used']} <= {MAX_MEMORY}")
        conns = snap["connections"]
        check(len(conns) == tracked, f"{tracked} connections listed")
        bad = []
        indices = set()
        for c in conns:
            indices.add(c["query"])
            ok = (c["state"] == "closed" and c["error"] is None
                  and c["close"] == {"code": 1000, "reason": "load done",
                                     "by": "client"}
                  and c["received"]["messages"] == m + 1
                  and c["sent"]["messages"] == m + 1
                  and c["received"]["bytes"] == m * SIZE + CLOSE_PAYLOAD
                  and len(c["messages"]) == MAX_MESSAGES
                  and c["messages_dropped"] == 2 * (m + 1) - MAX_MESSAGES
                  and c["messages"][-1]["type"] == "close")
            if not ok:
                bad.append(c["id"])
        check(bad == [], f"each tracked connection exact: {len(bad)} not: "
              f"{bad[:5]}")
        check(len(indices) == tracked, "each listed connection is a "
              "different client connection")
        dropped_text = sum(1 for c in conns for x in c["messages"]
                           if x.get("text_dropped"))
        check(0 < dropped_text < tracked * MAX_MESSAGES,
              f"the cap binds: {dropped_text} kept messages gave their "
              f"text way, not all")
        check(t["memory_held"] <= MAX_MEMORY,
              f"memory_held at exit {t['memory_held']} <= {MAX_MEMORY}")
        figure("load connections at once", n)
        figure("load messages each way", msgs)
        figure("load tracked / untracked", f"{tracked} / {n - tracked}")
        figure("load seconds without / with the shim",
               f"{plain_s:.1f} / {shim_s:.1f}")
        figure("load live summaries sampled", len(samples))
        figure("load peak memory_used (cap)", f"{peak_mem} ({MAX_MEMORY})")
        figure("load peak memory_held (cap)", f"{peak_held} ({MAX_MEMORY})")
        figure("load kept messages whose text gave way to the cap",
               dropped_text)
        figure("load peak server RSS KiB", sampler.max_rss())


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

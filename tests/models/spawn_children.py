"""A python3-websockets server that starts a child for every message
(spawn_host.py: subprocess.run, which vforks, and os.posix_spawn) under
the shim, with three connections open at once and eight messages on each,
interleaved, then closes 4010, 4011, 4012. The children inherit the
shim (LD_PRELOAD), so each is a process under the shim too. The same run
without the shim first. Checks:
  - host behaviour unchanged: every answer, the server's output and
    status, identical with and without the shim;
  - the server's live snapshot, with the three connections open, and its
    dump: exactly three connections, each with its own eight messages
    each way in order (texts exact: what was sent and what the child
    made of it), closes as sent; totals exact - the vfork children ran
    in the parent's memory and changed none of it;
  - each /bin/echo child wrote its own dump (WSDBG_DUMP=%p) with no
    connection; the server's socket file is gone at the end (children
    that end with _exit(), as dash's `exit` does, run nothing at exit
    and leave theirs: counted and printed, not hidden).
"""
import glob
import os
import sys

import modelkit
from modelkit import check, figure, harness

CONNS = 3
MESSAGES = 8


def texts(i):
    return [f"conn {i} message {j} {'x' * (i * 7 + j)}"
            for j in range(MESSAGES)]


def run(args, env, sock_dir=None):
    server = harness.Server([sys.executable, args.spawn_host,
                             "--connections", str(CONNS)], env)
    clients = [harness.RawClient(server.port, f"/spawn?c={i}")
               for i in range(CONNS)]
    answers = [[] for _ in range(CONNS)]
    for j in range(MESSAGES):
        for i, c in enumerate(clients):
            answers[i].append(c.echo(texts(i)[j]))
    # The last answer may reach us a moment before the shim records it.
    live = harness.live_until(
        sock_dir, server.pid, lambda s: s["totals"]["messages_sent"]
        == CONNS * MESSAGES) if sock_dir else None
    closes = [c.close_handshake(4010 + i, f"bye {i}")
              for i, c in enumerate(clients)]
    server.finish()
    return server, (answers, closes), live


def expected_answers():
    """What spawn_host answers, message by message in the order sent."""
    out = [[] for _ in range(CONNS)]
    n = 0
    for j in range(MESSAGES):
        for i in range(CONNS):
            n += 1
            text = texts(i)[j]
            out[i].append("echo: " + text if n % 2
                          else f"spawn: exit {len(text) % 50}")
    return out


def check_conn(c, i, what, live):
    check(c["role"] == "server" and c["error"] is None,
          f"{what}: role server, no error")
    kept = [(m["dir"], m["type"], m.get("text")) for m in c["messages"]]
    want = []
    for sent, answer in zip(texts(i), expected_answers()[i]):
        want += [("received", "text", sent), ("sent", "text", answer)]
    if not live:
        want += [("received", "close", f"bye {i}"),
                 ("sent", "close", f"bye {i}")]
        check(c["close"] == {"code": 4010 + i, "reason": f"bye {i}",
                             "by": "client"}, f"{what}: close {c['close']}")
    check(kept == want, f"{what}: its own messages in order: {kept[:4]}")
    n = MESSAGES + (0 if live else 1)
    check((c["received"]["messages"], c["sent"]["messages"]) == (n, n),
          f"{what}: {n} messages each way")


def main():
    args = harness.parse_args(
        lambda p: p.add_argument("--spawn-host", required=True))
    with harness.temp_dir() as tmp:
        plain_server, plain_result, _ = run(args, harness.base_env())
        check(plain_server.returncode == 0
              and plain_result[0] == expected_answers(),
              f"without the shim every child answers: {plain_result} "
              f"{plain_server.err}")
        sock_dir = os.path.join(tmp, "sock")
        env = harness.shim_env(args, sock_dir,
                               os.path.join(tmp, "dump-%p.json"))
        server, result, live = run(args, env, sock_dir)
        check(result == plain_result, f"answers identical: {result}")
        check(modelkit.host_view(server) == modelkit.host_view(plain_server),
              f"server identical: {modelkit.host_view(server)}")

        for name, snap, is_live in (("live", live, True),
                                    ("dump", harness.load_json(os.path.join(
                                        tmp, f"dump-{server.pid}.json")),
                                     False)):
            conns = sorted(snap["connections"], key=lambda c: c["query"])
            check([c["query"] for c in conns]
                  == [f"c={i}" for i in range(CONNS)],
                  f"{name}: the three connections: "
                  f"{[c['query'] for c in conns]}")
            for i, c in enumerate(conns):
                check_conn(c, i, f"{name} c={i}", is_live)
            n = CONNS * (MESSAGES + (0 if is_live else 1))
            t = snap["totals"]
            check((t["connections"], t["messages_received"],
                   t["messages_sent"]) == (CONNS, n, n),
                  f"{name}: totals {t}")

        children = [harness.load_json(p) for p in
                    glob.glob(os.path.join(tmp, "dump-*.json"))
                    if p != os.path.join(tmp, f"dump-{server.pid}.json")]
        # The /bin/echo children end with exit(): each writes its dump.
        # The `sh -c "exit N"` ones end with _exit() (dash's exit), where
        # nothing runs: no dump, and their socket files stay, stale.
        check(len(children) >= CONNS * MESSAGES // 2,
              f"each /bin/echo child wrote its dump: {len(children)}")
        check(all(s["connections"] == [] for s in children),
              "no child lists a connection")
        left = [int(os.path.basename(p)[:-5]) for p in
                glob.glob(os.path.join(sock_dir, "*.sock"))]
        check(server.pid not in left, "the server's socket file is removed")
        check(all(not os.path.exists(f"/proc/{pid}") for pid in left),
              f"socket files left only by processes that are gone: {left}")
        figure("spawn: children started while connections were open",
               CONNS * MESSAGES)
        figure("spawn: stale socket files left by children ending with "
               "_exit()", len(left))


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

"""The live stats socket of the C echo server under the shim, asked while
the server runs (protocol: src/shim/stats_server.h). Checks:
  - "ping" answers "pong"; an unknown request gets a JSON error that
    quotes it;
  - "snapshot" shows a connection that is open as open, with what it has
    moved so far; once its client drops the TCP connection, closed with
    code 1006;
  - "snapshot after=SEQ" returns only messages newer than SEQ (from the
    connection that came after), still listing every connection; after the
    newest seq, no messages at all;
  - "snapshot conn=ID" returns just that connection; "summary" carries no
    messages;
  - the dump at exit agrees with the last live snapshot.
"""
import os
import sys

import harness
from harness import check

SECOND = ["text:after the first", "ping:p2", "binary:64", "close:1000:bye"]


def main():
    args = harness.parse_args()
    with harness.temp_dir() as tmp:
        sock_dir = os.path.join(tmp, "sock")
        env = harness.shim_env(args, sock_dir,
                               os.path.join(tmp, "dump-%p.json"))
        server = harness.echo_server(args, env, "--connections", "3",
                                     "--timeout", "20")
        pid = server.pid

        def ask(line="snapshot", raw=False):
            return harness.live_request(sock_dir, pid, line, raw)

        check(ask("ping", True) == "pong\n", "ping answers pong")
        bad = ask("bogus thing")
        check(bad.get("wsdbg") == 1 and bad.get("error", "").startswith(
            "unknown request: ") and "bogus thing" in bad["error"],
            f"unknown request answered with an error: {bad}")
        check(ask()["connections"] == [], "no connection before the first")

        raw = harness.RawClient(server.port, "/live?step=1")
        check(raw.echo("one") == "one" and raw.echo("two") == "two",
              "first connection echoes")
        snap = harness.live_until(
            sock_dir, pid, lambda s: harness.all_messages(s)[3:])
        conns = snap["connections"]
        check(len(conns) == 1, f"one connection listed: {len(conns)}")
        first = conns[0] if conns else {}
        check(first.get("state") == "open" and first.get("close") is None
              and first.get("closed_at") is None,
              f"an open connection shows open: {first.get('state')}")
        check([(m["dir"], m.get("text")) for m in first.get("messages", [])]
              == [("received", "one"), ("sent", "one"), ("received", "two"),
                  ("sent", "two")], "messages so far, in order")
        check(snap["totals"]["active"] == 1, "totals: one active")

        raw.drop()
        closed = harness.wait_for(
            lambda: [c for c in ask()["connections"]
                     if c["state"] == "closed"])
        check(len(closed) == 1 and closed[0]["close"]["code"] == 1006,
              f"dropped without a close frame: closed, 1006: "
              f"{closed and closed[0]['close']}")

        seq1 = harness.max_seq(ask())
        check(seq1 >= 4, f"seq numbers after the first connection: {seq1}")
        result = harness.run_client(args, harness.base_env(), server.port,
                                    SECOND, ["--path", "/live?step=2"])
        check(result[0] == 0, f"second client: every echo matched {result}")

        newer = ask(f"snapshot after={seq1}")
        conns = {c["query"]: c for c in newer["connections"]}
        check(sorted(conns) == ["step=1", "step=2"],
              f"after=SEQ still lists every connection: {sorted(conns)}")
        if len(conns) == 2:
            check(conns["step=1"]["messages"] == [],
                  "after=SEQ: none of the older connection's messages")
            msgs = conns["step=2"]["messages"]
            check(len(msgs) == 2 * len(SECOND)
                  and all(m["seq"] > seq1 for m in msgs),
                  f"after=SEQ: exactly the newer messages: "
                  f"{[m['seq'] for m in msgs]}")
            check(conns["step=1"]["received"]["messages"] == 2,
                  "after=SEQ: counters stay whole")
            harness.check_session(conns["step=2"], SECOND, "server",
                                  "second connection (live)")
        seq2 = harness.max_seq(newer)
        check(seq2 == seq1 + 2 * len(SECOND), f"seq counts on: {seq2}")
        none = ask(f"snapshot after={seq2}")
        check(harness.all_messages(none) == []
              and len(none["connections"]) == 2,
              "after the newest seq: no messages, connections listed")

        conn_id = conns.get("step=2", {}).get("id")
        only = ask(f"snapshot conn={conn_id}")
        check([c["id"] for c in only["connections"]] == [conn_id],
              "conn=ID: just that connection")
        summary = ask("summary")
        check(len(summary["connections"]) == 2
              and all(not c.get("messages")
                      for c in summary["connections"]),
              "summary lists connections without messages")
        last = ask()

        result = harness.run_client(args, harness.base_env(), server.port,
                                    ["close:1000:last"])
        check(result[0] == 0, f"third client closes the server {result}")
        server.finish()
        check(server.returncode == 0 and server.err == "",
              f"server exit 0, stderr empty {server.err!r}")
        dump = harness.load_json(os.path.join(tmp, f"dump-{pid}.json"))
        by_query = {c["query"]: c for c in dump["connections"]}
        for c in last["connections"]:
            d = by_query.get(c["query"], {})
            check(d.get("messages") == c["messages"]
                  and d.get("received") == c["received"]
                  and d.get("close") == c["close"],
                  f"dump agrees with the live snapshot for {c['query']}")
        check(len(dump["connections"]) == 3, "dump: three connections")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

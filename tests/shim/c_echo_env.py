"""The shim's environment (DESIGN.md, "Environment read by the shim")
against the C echo server, one case per run (--case):

  disabled      WSDBG_ENABLED=0: pure pass-through. No socket appears in
                WSDBG_DIR, no WSDBG_DUMP is written, nothing on stderr, and
                the client's output is byte-identical to a run without the
                shim.
  bad-value     WSDBG_MAX_MESSAGES=abc: exactly one stderr line, in
                DESIGN's words, "wsdbg: WSDBG_MAX_MESSAGES='abc' is not a
                positive integer; using 100"; the default is in force (live
                and dumped config say 100); the server works as without the
                shim.
  max-messages  WSDBG_MAX_MESSAGES=5 and a session of 20 messages (10 texts
                echoed, then the client drops the connection): the last 5
                are kept, messages_dropped is 15, the counters still count
                all 20, and the close code is 1006 (no close frame).
"""
import os
import sys

import harness
from harness import check

SESSION = ["text:first", "binary:10", "ping:env", "frag:2:two parts",
           "close:1001:going away"]


def run(args, env, steps, tmp, before_client=None):
    """The server with env, one client session; returns (server, client
    result, what before_client(server) returned)."""
    server = harness.echo_server(args, env, "--connections", "1",
                                 "--timeout", "20")
    seen = before_client(server) if before_client else None
    result = harness.run_client(args, harness.base_env(), server.port, steps)
    server.finish()
    return server, result, seen


def disabled(args, tmp):
    sock_dir = os.path.join(tmp, "sock")
    dump = os.path.join(tmp, "dump-%p.json")
    env = harness.shim_env(args, sock_dir, dump, enabled=0)
    _, want, _ = run(args, harness.base_env(), SESSION, tmp)

    def look(server):
        return harness.live_request(sock_dir, server.pid, "ping", raw=True)

    server, got, answer = run(args, env, SESSION, tmp, look)
    check(answer is None, "no stats socket while running")
    check(not os.path.exists(sock_dir) or os.listdir(sock_dir) == [],
          "WSDBG_DIR left empty")
    check(not os.path.exists(os.path.join(tmp, f"dump-{server.pid}.json")),
          "no dump written")
    check(server.returncode == 0 and server.err == "",
          f"server exit 0, stderr empty: {server.returncode} {server.err!r}")
    check(want[0] == 0 and got == want,
          f"client output byte-identical to a run without the shim:\n"
          f"{got}\nvs\n{want}")


def bad_value(args, tmp):
    sock_dir = os.path.join(tmp, "sock")
    env = harness.shim_env(args, sock_dir, os.path.join(tmp, "d-%p.json"),
                           max_messages="abc")
    _, want, _ = run(args, harness.base_env(), SESSION, tmp)

    def look(server):
        return harness.live_request(sock_dir, server.pid)

    server, got, live = run(args, env, SESSION, tmp, look)
    want_line = ("wsdbg: WSDBG_MAX_MESSAGES='abc' is not a positive "
                 "integer; using 100")
    check(server.err.splitlines() == [want_line],
          f"exactly one stderr line in DESIGN's words: {server.err!r}")
    check(live is not None and live["config"]["max_messages"] == 100,
          f"live config max_messages is the default 100: "
          f"{live and live['config']}")
    check(server.returncode == 0, f"server exit 0: {server.returncode}")
    check(want[0] == 0 and got == want,
          f"client output as without the shim:\n{got}\nvs\n{want}")
    snap = harness.load_json(os.path.join(tmp, f"d-{server.pid}.json"))
    check(snap["config"]["max_messages"] == 100, "dumped config says 100")
    conns = snap["connections"]
    check(len(conns) == 1, "the connection is recorded")
    if conns:
        harness.check_session(conns[0], SESSION, "server", "connection")


def max_messages(args, tmp):
    sock_dir = os.path.join(tmp, "sock")
    env = harness.shim_env(args, sock_dir, os.path.join(tmp, "d-%p.json"),
                           max_messages=5)
    steps = [f"text:message {i}" for i in range(10)]  # no close frame
    server, got, _ = run(args, env, steps, tmp)
    check(got[0] == 0, f"client: every echo matched: {got}")
    check(server.returncode == 0 and server.err == "",
          f"server exit 0, stderr empty: {server.err!r}")
    snap = harness.load_json(os.path.join(tmp, f"d-{server.pid}.json"))
    check(snap["config"]["max_messages"] == 5, "config max_messages 5")
    conns = snap["connections"]
    check(len(conns) == 1, "one connection")
    if not conns:
        return
    c = conns[0]
    kept = c["messages"]
    check(len(kept) == 5, f"5 messages kept: {len(kept)}")
    check(c["messages_dropped"] == 15,
          f"messages_dropped 15: {c['messages_dropped']}")
    want = [("sent", "message 7"), ("received", "message 8"),
            ("sent", "message 8"), ("received", "message 9"),
            ("sent", "message 9")]
    got_kept = [(m["dir"], m.get("text")) for m in kept]
    check(got_kept == want, f"the newest 5 are kept: {got_kept}")
    check(c["received"]["messages"] == 10 and c["sent"]["messages"] == 10,
          "counters count all 20")
    check(c["state"] == "closed", f"state closed: {c['state']}")
    check(c["close"] is not None and c["close"]["code"] == 1006,
          f"close code 1006 without a close frame: {c['close']}")


CASES = {"disabled": disabled, "bad-value": bad_value,
         "max-messages": max_messages}


def main():
    args = harness.parse_args(
        lambda p: p.add_argument("--case", required=True, choices=CASES))
    with harness.temp_dir() as tmp:
        CASES[args.case](args, tmp)


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

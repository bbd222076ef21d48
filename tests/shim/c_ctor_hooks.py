"""Hooks reached from another library's constructor, before the shim's
own constructor has run: libwsdbg-test-ctor.so (ctor_exchange.c) is
preloaded after libwsdbg.so, so its constructor runs first, and does a
whole WebSocket exchange over a Unix socketpair through the shim's hooks.
The host is the C echo server, which then serves one ordinary session.
Checks:
  - the host behaves exactly as with the constructor library alone: the
    constructor's line ("exchange ok, 1 thread": the shim's constructor,
    which starts the stats thread, had not run), the client's output,
    exit statuses;
  - the dump holds the constructor's exchange, seen from both ends of the
    socketpair (a server and a client connection, path /ctor, query
    from=constructor, "Hello" each way, close 1000 "bye" by the client),
    and the later TCP session, exactly.
"""
import os
import sys

import harness
from harness import check

SESSION = ["text:after the constructor", "ping:later", "close:1000:end"]


def run(args, env):
    server = harness.echo_server(args, env, "--connections", "1",
                                 "--timeout", "20")
    client = harness.run_client(args, harness.base_env(), server.port,
                                SESSION, ["--path", "/tcp?n=1"])
    server.finish()
    return server, ((client[0], client[1]),
                    (server.returncode, server.out, server.err))


def with_preload(env, libs):
    env = dict(env)
    env["LD_PRELOAD"] = " ".join(libs)
    return env


def check_ctor_conn(c, role, what):
    check(c["role"] == role, f"{what}: role {c['role']}")
    check(c["path"] == "/ctor" and c["query"] == "from=constructor",
          f"{what}: path and query")
    check(c["local"] == "unix:unnamed", f"{what}: local {c['local']}")
    check(c["state"] == "closed", f"{what}: closed: {c['state']}")
    check(c["close"] == {"code": 1000, "reason": "bye", "by": "client"},
          f"{what}: close {c['close']}")
    check(c["error"] is None and c["fault"] is None,
          f"{what}: no error, no fault")
    mine = "sent" if role == "client" else "received"
    theirs = "received" if role == "client" else "sent"
    check((c[mine]["messages"], c[mine]["bytes"]) == (2, 5 + 5),
          f"{what}: {mine}: Hello and close: {c[mine]}")
    check((c[theirs]["messages"], c[theirs]["bytes"]) == (2, 5 + 2),
          f"{what}: {theirs}: Hello and close: {c[theirs]}")
    texts = [(m["dir"], m["type"], m.get("text")) for m in c["messages"]]
    want = [(mine, "text", "Hello"), (theirs, "text", "Hello"),
            (mine, "close", "bye"), (theirs, "close", "")]
    check(texts == want, f"{what}: messages {texts}")


def main():
    args = harness.parse_args(
        lambda p: p.add_argument("--ctor-lib", required=True))
    ctor = os.path.abspath(args.ctor_lib)
    first = [args.preload_first] if args.preload_first else []
    with harness.temp_dir() as tmp:
        _, alone = run(args, with_preload(harness.base_env(),
                                          first + [ctor]))
        check(alone[1][2] == "wsdbg-test-ctor: exchange ok, 1 thread\n",
              f"the constructor alone: {alone[1][2]!r}")
        check(alone[0][0] == 0 and alone[1][0] == 0,
              f"without the shim the session works: {alone}")
        env = harness.shim_env(args, os.path.join(tmp, "sock"),
                               os.path.join(tmp, "d-%p.json"))
        env = with_preload(env, first + [args.shim, ctor])
        server, host = run(args, env)
        check(host == alone, f"host as without the shim:\n{host}\nvs\n"
              f"{alone}")

        snap = harness.load_json(os.path.join(tmp, f"d-{server.pid}.json"))
        conns = snap["connections"]
        ctor_conns = {c["role"]: c for c in conns if c["path"] == "/ctor"}
        check(sorted(ctor_conns) == ["client", "server"],
              f"the constructor's exchange from both ends: "
              f"{sorted(ctor_conns)}")
        for role, c in ctor_conns.items():
            check_ctor_conn(c, role, f"constructor's {role} end")
        tcp = [c for c in conns if c["path"] == "/tcp"]
        check(len(tcp) == 1, f"the TCP session: {len(tcp)}")
        if tcp:
            check(tcp[0]["state"] == "closed" and tcp[0]["error"] is None,
                  "TCP session closed without error")
            harness.check_session(tcp[0], SESSION, "server", "TCP session")
        check(snap["totals"]["connections"] == 3,
              f"three connections: {snap['totals']['connections']}")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

"""Children started while WebSocket connections are open: the C echo
server with a thread per connection runs /bin/true after every message it
echoes (--spawn vfork: the vfork child closes the connection's fd, opens
/dev/null and dup2s it onto stdin before exec, all through the shim's
hooks while it shares the parent's memory; --spawn posix_spawn: the same
as file actions). Two clients at once, and /bin/true itself runs under
the preload. Checks:
  - the host behaves as without the shim (clients' output, exit
    statuses, server's output and stderr);
  - the parent's dump is exact: both connections, every message, counters,
    closes, no error, no fault: the children's hooks changed nothing of
    the parent's state (a vfork child's close of the connection's fd must
    not end the parent's capture);
  - no socket file is left behind, the children's included.
"""
import glob
import os
import sys
import threading

import harness
from harness import check

SCRIPTS = [
    ["text:spawn one", "binary:70", "ping:s1", "text:after the ping",
     "frag:2:two parts", "close:1000:first"],
    ["text:spawn two", "textn:2000", "binary:5", "ping:s2",
     "close:4004:second"],
]


def run(args, env):
    server = harness.echo_server(args, env, "--threads", "--connections",
                                 str(len(SCRIPTS)), "--timeout", "25",
                                 "--spawn", args.spawn)
    plain = harness.base_env()
    results = [None] * len(SCRIPTS)

    def client(i):
        results[i] = harness.run_client(args, plain, server.port,
                                        SCRIPTS[i],
                                        ["--path", f"/spawn?n={i}"])

    threads = [threading.Thread(target=client, args=(i,))
               for i in range(len(SCRIPTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.finish()
    host = ([(rc, out) for rc, out, _ in results],
            (server.returncode, server.out, server.err))
    return server, host


def main():
    args = harness.parse_args(
        lambda p: p.add_argument("--spawn", required=True,
                                 choices=["vfork", "posix_spawn"]))
    with harness.temp_dir() as tmp:
        _, plain_host = run(args, harness.base_env())
        check(plain_host[1][0] == 0 and all(r[0] == 0
                                            for r in plain_host[0]),
              f"without the shim every session works: {plain_host}")
        sock_dir = os.path.join(tmp, "sock")
        env = harness.shim_env(args, sock_dir,
                               os.path.join(tmp, "d-%p.json"))
        server, host = run(args, env)
        check(host == plain_host, f"host output and exit statuses as "
              f"without the shim:\n{host}\nvs\n{plain_host}")

        snap = harness.load_json(os.path.join(tmp, f"d-{server.pid}.json"))
        check(snap["tracking"]["enabled"] and
              snap["tracking"]["faults"] == 0, "tracking on, no fault")
        conns = {c["query"]: c for c in snap["connections"]}
        check(sorted(conns) == ["n=0", "n=1"],
              f"two connections: {sorted(conns)}")
        closes = [{"code": 1000, "reason": "first", "by": "client"},
                  {"code": 4004, "reason": "second", "by": "client"}]
        for i, steps in enumerate(SCRIPTS):
            c = conns.get(f"n={i}")
            if not c:
                continue
            what = f"connection {i}"
            check(c["state"] == "closed", f"{what}: closed: {c['state']}")
            check(c["close"] == closes[i], f"{what}: close {c['close']}")
            check(c["error"] is None and c["fault"] is None,
                  f"{what}: no error, no fault: {c['error']} {c['fault']}")
            harness.check_session(c, steps, "server", what)
        t = snap["totals"]
        check((t["connections"], t["active"], t["closed"], t["errors"]) ==
              (2, 0, 2, 0), f"totals: {t}")
        left = glob.glob(os.path.join(sock_dir, "*.sock"))
        check(left == [], f"no socket file left, children's included: "
              f"{left}")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

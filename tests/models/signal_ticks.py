"""A server whose SIGALRM handler writes to sockets (signal_server.c: an
interval timer every 100 us; the handler writes a whole "tick NNNNN"
text frame to one WebSocket and a byte to a socketpair, 5,000 times)
under the shim, while 8 other connections echo 6,000 messages each
(ws-load-client), so the signals land on threads that are inside the
shim's hooks. The same run without the shim first. Checks:
  - bounded: the whole run ends within the time budget (no deadlock),
    and the host behaviour is unchanged: the server's output ("ticks
    5000, socketpair bytes 5000, ...") and status, the load client's
    output and status, every tick once, identical with and without
    the shim;
  - the 8 echo connections: exact counters (6,001 messages each way),
    no error - signals interrupting their hooks cost them nothing;
  - the ticker connection, as src/shim/signals.h documents: bytes a
    signal handler writes are not decoded (the shim may not allocate or
    lock there) but marked unseen, so its sent direction stops with the
    error "gap" and no sent message is recorded; what it received is
    recorded exactly ("ticks", then the client's close 1000);
  - the totals are the sum of exactly that.
"""
import os
import subprocess
import sys
import time

import modelkit
from modelkit import check, figure, harness

TICKS = 5000
ECHO_CONNS = 8
MESSAGES = 6000


def run(args, env):
    server = harness.Server([args.signal_server, "--connections",
                             str(ECHO_CONNS + 1), "--ticks", str(TICKS),
                             "--interval-us", "100", "--timeout", "40"],
                            env)
    load = harness.spawn([args.load_client, "--connections",
                          str(ECHO_CONNS), "--messages", str(MESSAGES),
                          "--size", "48", "--window", "8", "--pause",
                          "--path", "/echo", str(server.port)],
                         harness.base_env(), stdin=subprocess.PIPE)
    opened = load.stdout.readline()
    start = time.monotonic()
    ticker = harness.RawClient(server.port, "/ticks")
    ticker.send(0x1, b"ticks")
    load.stdin.write(b"go\n")
    load.stdin.flush()
    ticks = [ticker.recv() for _ in range(TICKS)]
    # Handlers on two threads may overlap: each number once, any order.
    good = sorted(p for op, p in ticks if op == 0x1) == \
        [f"tick {i:05d}".encode() for i in range(TICKS)]
    out, _ = load.communicate(timeout=40)
    close = ticker.close_handshake(1000, "ticks done")
    server.finish()
    return server, {"load": (load.returncode, opened + out),
                    "every tick": good, "close": close}, \
        time.monotonic() - start


def main():
    args = harness.parse_args(lambda p: (
        p.add_argument("--signal-server", required=True),
        p.add_argument("--load-client", required=True)))
    with harness.temp_dir() as tmp:
        plain_server, plain, plain_s = run(args, harness.base_env())
        check(plain_server.returncode == 0 and plain["every tick"], f"without the shim: {modelkit.host_view(plain_server)}"
              f" {plain}")
        env = harness.shim_env(args, os.path.join(tmp, "sock"),
                               os.path.join(tmp, "dump-%p.json"),
                               max_messages=20)
        server, result, shim_s = run(args, env)
        check(result == plain, f"clients identical: {result}")
        check(modelkit.host_view(server) == modelkit.host_view(plain_server),
              f"server identical: {modelkit.host_view(server)}")

        snap = harness.load_json(os.path.join(tmp, f"dump-{server.pid}.json"))
        echo = [c for c in snap["connections"] if c["path"] == "/echo"]
        tick = [c for c in snap["connections"] if c["path"] == "/ticks"]
        check(len(echo) == ECHO_CONNS and len(tick) == 1,
              f"{ECHO_CONNS} echo connections and the ticker: "
              f"{len(echo)} {len(tick)}")
        n = MESSAGES + 1
        bad = [c["query"] for c in echo
               if (c["received"]["messages"], c["sent"]["messages"],
                   c["error"], c["close"]["code"]) != (n, n, None, 1000)]
        check(bad == [], f"echo connections exact, no error: not {bad}")
        if tick:
            t = tick[0]
            check(t["error_name"] == "gap"
                  and t["error"].startswith("sent:"),
                  f"ticker: sent direction stopped with a gap: "
                  f"{t['error']}")
            check(t["sent"]["messages"] == 0,
                  f"ticker: nothing the handler wrote is decoded: "
                  f"{t['sent']}")
            got = [(m["dir"], m["type"], m.get("text"))
                   for m in t["messages"]]
            check(got == [("received", "text", "ticks"),
                          ("received", "close", "ticks done")],
                  f"ticker: what it received, exactly: {got}")
            check(t["close"] == {"code": 1000, "reason": "ticks done",
                                 "by": "client"},
                  f"ticker: close {t['close']}")
        tot = snap["totals"]
        check((tot["messages_received"], tot["messages_sent"])
              == (ECHO_CONNS * n + 2, ECHO_CONNS * n),
              f"totals: {tot['messages_received']} "
              f"{tot['messages_sent']}")
        figure("signals: handler writes (SIGALRM every 100 us) during "
               "echo load", f"{TICKS} ticks, {ECHO_CONNS} x {MESSAGES} "
               f"echoes")
        figure("signals: seconds without / with the shim",
               f"{plain_s:.2f} / {shim_s:.2f}")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

"""A WebSocket client whose signal handler writes frames while its main
thread allocates (signal_frames_client.c: a thread sends SIGWINCH to the
main thread every 100 us, the handler writes a whole "tick NNNNN" frame,
5,000 times, while the main thread loops over malloc, realloc and free
and reads the echoes), against the project's C echo server (the peer,
not under the shim), with the handler installed by the C library
function --install names. glibc's signal, bsd_signal, ssignal,
sysv_signal, __sysv_signal and sigset install it through an internal
call that the preloaded sigaction does not see; the shim exports each of
them (src/shim/signals.h) so that the handler is wrapped all the same. A
handler the shim does not know of records what it writes as if outside
a handler, taking malloc's lock on the thread the signal interrupted
inside malloc: the client hangs. The same run without the shim first.
Checks:
  - bounded: the client ends by itself within its time (no deadlock);
  - the host unchanged: the client's output and status ("ticks 5000,
    echoes 5000, close 1000, failed 0") and the echo server's, identical
    with and without the shim;
  - the connection as signals.h documents: what the handler wrote is not
    decoded but marked unseen, so the sent direction stops with the error
    "gap" and records no message; what the client received is recorded
    exactly: every echoed tick, then the answer to its close.
"""
import os
import subprocess
import sys
import time

import modelkit
from modelkit import check, figure, harness

TICKS = 5000
# Seconds the client gets before it counts as hung: 5,000 ticks take
# 1-2 s here (a tick per 100 us and the sender's wake-up), a few seconds
# more on a loaded machine or under ASan.
HANG_S = 20


def run(args, env):
    """Runs the client against a fresh echo server; returns (client pid,
    client's (status, stdout, stderr), server's view, seconds), or None
    when the client hung (a failed check)."""
    server = harness.echo_server(args, harness.base_env(),
                                 "--connections", "1", "--timeout", "40")
    client = harness.spawn([args.signal_client, "--install", args.install,
                            "--ticks", str(TICKS), "--interval-us", "100",
                            "--timeout", str(HANG_S), str(server.port)],
                           env)
    start = time.monotonic()
    try:
        out, err = client.communicate(timeout=HANG_S + 5)
    except subprocess.TimeoutExpired:
        check(False, f"installed with {args.install}: the client ended "
              f"by itself within {HANG_S + 5} s (it hung: a deadlock)")
        return None
    seconds = time.monotonic() - start
    server.finish()
    return client.pid, (client.returncode, out.decode(errors="replace"),
                        err.decode(errors="replace")), \
        modelkit.host_view(server), seconds


def main():
    args = harness.parse_args(lambda p: (
        p.add_argument("--signal-client", required=True),
        p.add_argument("--install", required=True)))
    want = f"ticks {TICKS}, echoes {TICKS}, close 1000, failed 0\n"
    with harness.temp_dir() as tmp:
        ran = run(args, harness.base_env())
        if ran is None:
            return
        _, plain, plain_server, plain_s = ran
        check(plain == (0, want, ""),
              f"without the shim: the client {plain}")
        env = harness.shim_env(args, os.path.join(tmp, "sock"),
                               os.path.join(tmp, "dump-%p.json"),
                               max_messages=20)
        ran = run(args, env)
        if ran is None:
            return
        pid, client, server, shim_s = ran
        check(client == plain, f"client identical: {client}")
        check(server == plain_server, f"echo server identical: {server}")

        snap = harness.load_json(os.path.join(tmp, f"dump-{pid}.json"))
        conns = snap["connections"]
        check(len(conns) == 1 and conns[0]["path"] == "/ticks",
              f"one connection, /ticks: {[c['path'] for c in conns]}")
        if conns:
            c = conns[0]
            check(c["error_name"] == "gap"
                  and c["error"].startswith("sent:"),
                  f"sent direction stopped with a gap: {c['error']}")
            check(c["sent"]["messages"] == 0,
                  f"nothing the handler wrote is decoded: {c['sent']}")
            check(c["received"]["messages"] == TICKS + 1,
                  f"every echo and the close's answer received: "
                  f"{c['received']}")
            got = [(m["dir"], m["type"]) for m in c["messages"]]
            check(got == [("received", "text")] * 19
                  + [("received", "close")],
                  f"the newest 20 messages: the last echoes, the close: "
                  f"{got}")
            check((c["close"]["code"], c["close"]["reason"])
                  == (1000, "ticks done"), f"close {c['close']}")
        tot = snap["totals"]
        check((tot["messages_received"], tot["messages_sent"])
              == (TICKS + 1, 0),
              f"totals: {tot['messages_received']} {tot['messages_sent']}")
        figure(f"signals: handler installed by {args.install} writing "
               f"frames while the main thread allocates",
               f"{TICKS} ticks")
        figure(f"signals ({args.install}): seconds without / with the shim",
               f"{plain_s:.2f} / {shim_s:.2f}")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

#!/usr/bin/env python3
"""Smoke test of the benchmark peers: about a second of real traffic.

    smoke_test.py WSBENCH_ECHO WSBENCH_LOAD

Starts the echo server, runs the load generator against it for two short
shapes (pipelined 128-byte text with --verify, and one 4 KiB binary
message per connection at a time) and checks that every message sent came
back intact and that the figures are sane: a positive rate, the server's
CPU time read, p50 <= p99. Every process is killed at the end, whatever
happens; the whole test is bounded by its timeouts (under 20 s).
"""
import json
import subprocess
import sys


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def start_server(echo):
    server = subprocess.Popen([echo, "--timeout", "20"],
                              stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline().split()
    if len(line) != 4 or line[0] != "PORT" or line[2] != "PID":
        server.kill()
        fail("the server did not announce PORT and PID: %r" % line)
    return server, int(line[1]), int(line[3])


def run_load(load, port, pid, extra):
    cmd = [load, "--port", str(port), "--server-pid", str(pid),
           "--warmup", "0.1", "--duration", "0.4"] + extra
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    if res.returncode != 0:
        fail("%s exited %d: %s" % (cmd, res.returncode, res.stderr))
    return json.loads(res.stdout)


def check(name, r, size):
    print(name, json.dumps(r))
    if r["sent"] != r["echoed"] or r["sent"] < r["measured"]:
        fail(name + ": not every message was echoed")
    if r["verify_failures"] or r["protocol_errors"]:
        fail(name + ": echoes differ from what was sent")
    # Even an instrumented build on a busy machine does more than this.
    if r["measured"] < 200 or r["msgs_per_s"] < 500:
        fail(name + ": implausibly few messages")
    expect_mb = r["msgs_per_s"] * size / 1e6
    if abs(r["mb_per_s"] - expect_mb) > 0.01 * expect_mb + 0.001:
        fail(name + ": MB/s does not follow from msgs/s")
    cpu = r["server_cpu_ns_per_msg"]
    if cpu is None or not 0 < cpu < 1e8:
        fail(name + ": server CPU per message not measured")
    if not 0 < r["rtt_p50_us"] <= r["rtt_p99_us"] < 1e7:
        fail(name + ": RTT percentiles out of order")


def main():
    echo, load = sys.argv[1], sys.argv[2]
    server, port, pid = start_server(echo)
    try:
        r = run_load(load, port, pid, ["--conns", "4", "--window", "8",
                                       "--size", "128", "--verify"])
        check("pipelined 128 B text", r, 128)
        r = run_load(load, port, pid, ["--conns", "8", "--window", "1",
                                       "--size", "4096", "--binary",
                                       "--verify"])
        check("one 4 KiB binary message per connection", r, 4096)
        if not r["verified"]:
            fail("--verify was not in force")
        server.terminate()
        if server.wait(timeout=5) != 0:
            fail("the server did not exit cleanly on SIGTERM")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    print("ok")


if __name__ == "__main__":
    main()

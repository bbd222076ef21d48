"""The circuit breaker, with real faults: the C echo server under the
TEST-ONLY libwsdbg-faulty.so (src/shim/fault_inject.h), whose allocations
fail, or whose frame decoder breaks its contract, when the environment
asks. The host must never notice; the snapshot must say what happened.

  --case trip       every allocation on the host's threads fails: each
                    connection is one fault, the 10th switches tracking
                    off; 12 connections. Checks: every client's output and
                    exit status as without the shim, the server's too; its
                    stderr is exactly one line for the fault kind and one
                    for the breaker; the live socket still answers, and the
                    live snapshot and the dump say "tracking": enabled
                    false, the reason, 10 faults, and list nothing.
  --case each-allocation
                    one allocation fails, the N-th, for N = 1, 2, ... until
                    the fault falls past the first connection: whatever
                    allocation it hits, that connection alone is passed
                    through (listed with "fault": "out_of_memory", closed,
                    or not listed at all), the second is recorded exactly,
                    tracking stays on with 1 fault, one stderr line.
  --case decoder    the first call into the frame decoder claims to have
                    used more bytes than it was given: capture catches the
                    broken invariant, the first connection is passed
                    through ("fault": "broken_invariant"), the second is
                    exact, one stderr line.
"""
import os
import sys

import harness
from harness import check

FIRST = ["text:first connection", "binary:40", "ping:one",
         "frag:2:two frames", "close:1000:first done"]
SECOND = ["text:second connection", "textn:300", "ping:two",
          "close:4003:second done"]
TRIP_SESSION = ["text:hello", "ping:are you there", "close:1000:bye"]
TRIP_CONNECTIONS = 12
FAULT_LIMIT = 10


def extra(p):
    p.add_argument("--case", required=True,
                   choices=["trip", "each-allocation", "decoder"])


def run_sessions(args, env, scripts, probe=None):
    """Starts the echo server under env, runs each script as one ws-client
    session after the other, calls probe(server) (if given) before the
    last session, and waits for the server. Returns (server, client
    results, probe's value)."""
    server = harness.echo_server(args, env, "--connections",
                                 str(len(scripts)), "--timeout", "20")
    plain = harness.base_env()
    results = []
    seen = None
    for i, steps in enumerate(scripts):
        if probe and i == len(scripts) - 1:
            seen = probe(server)
        results.append(harness.run_client(
            args, plain, server.port, steps, ["--path", f"/echo?n={i + 1}"]))
    server.finish()
    return server, results, seen


def host_view(server, results):
    """What the host programs did, for comparing with and without."""
    return ([(rc, out) for rc, out, _ in results],
            (server.returncode, server.out))


def fault_lines(err):
    return [line for line in err.splitlines() if line.startswith("wsdbg:")]


def check_tracking(snap, what, enabled, faults, kind):
    t = snap["tracking"]
    check(t["enabled"] is enabled, f"{what}: tracking enabled {enabled}")
    check(t["faults"] == faults, f"{what}: {faults} faults: {t['faults']}")
    check(t["fault_limit"] == FAULT_LIMIT, f"{what}: fault limit shown")
    check(t["faults_by_kind"].get(kind) == faults,
          f"{what}: the faults are {kind}: {t['faults_by_kind']}")
    if enabled:
        check(t["reason"] is None, f"{what}: no reason while enabled")
    else:
        check(isinstance(t["reason"], str) and "10 internal faults"
              in t["reason"], f"{what}: reason {t['reason']!r}")


def case_trip(args, tmp, baseline):
    sock_dir = os.path.join(tmp, "sock")
    env = harness.shim_env(args, sock_dir, os.path.join(tmp, "d-%p.json"),
                           fault_alloc="every:1")
    scripts = [TRIP_SESSION] * TRIP_CONNECTIONS

    def probe(server):
        return harness.live_request(sock_dir, server.pid)

    server, results, live = run_sessions(args, env, scripts, probe)
    check(host_view(server, results) == baseline,
          f"host output and exit status as without the shim: "
          f"{host_view(server, results)}")
    lines = fault_lines(server.err)
    check(len(lines) == 2 and "out_of_memory" in lines[0]
          and "tracking is off" in lines[1],
          f"stderr: one line for the fault, one for the breaker: {lines}")
    check(server.err.count("\n") == 2, f"nothing else on stderr: "
          f"{server.err!r}")
    check(live is not None, "the live socket answers after the breaker")
    if live:
        check_tracking(live, "live snapshot", False, FAULT_LIMIT,
                       "out_of_memory")
        check(live["connections"] == [], "live: nothing listed")
    dump = harness.load_json(os.path.join(tmp, f"d-{server.pid}.json"))
    check_tracking(dump, "dump", False, FAULT_LIMIT, "out_of_memory")
    check(dump["totals"]["messages_received"] == 0,
          "dump: no message recorded")
    check(dump["tracking"]["first_fault_at"]["out_of_memory"] ==
          "shim: socket object", f"dump: where the first fault was: "
          f"{dump['tracking']['first_fault_at']}")
    check(not os.path.exists(harness.socket_path(sock_dir, server.pid)),
          "the socket file is gone after exit")


def check_one_fault_run(args, tmp, n, plan_var, plan, kind, baseline):
    """One run with plan; returns the n of the connection the fault hit
    (1 or 2), or 0 when nothing failed."""
    dump_path = os.path.join(tmp, f"d-{n}-%p.json")
    env = harness.shim_env(args, os.path.join(tmp, "sock"), dump_path,
                           **{plan_var: plan})
    server, results, _ = run_sessions(args, env, [FIRST, SECOND])
    what = f"{plan_var}={plan}"
    check(host_view(server, results) == baseline,
          f"{what}: host output and exit status as without the shim")
    snap = harness.load_json(dump_path.replace("%p", str(server.pid)))
    faults = snap["tracking"]["faults"]
    lines = fault_lines(server.err)
    if faults == 0:
        check(lines == [], f"{what}: no fault, nothing on stderr: {lines}")
        return 0
    check_tracking(snap, what, True, 1, kind)
    check(len(lines) == 1 and kind in lines[0],
          f"{what}: one stderr line: {lines}")
    by_n = {c["query"]: c for c in snap["connections"]}
    hit = [c for c in snap["connections"] if c["fault"] is not None]
    check(len(hit) <= 1, f"{what}: at most one connection marked")
    for c in hit:
        check(c["fault"] == kind, f"{what}: marked {kind}: {c['fault']}")
        check(c["state"] in ("closed", "rejected"),
              f"{what}: the faulted connection's end is still recorded: "
              f"{c['state']}")
    for q, steps in (("n=1", FIRST), ("n=2", SECOND)):
        c = by_n.get(q)
        if c is None or c["fault"] is not None:
            continue
        check(c["state"] == "closed" and c["error"] is None,
              f"{what}: {q} closed without error")
        harness.check_session(c, steps, "server", f"{what}: {q}")
    unhurt = [q for q in ("n=1", "n=2")
              if q in by_n and by_n[q]["fault"] is None]
    check(len(unhurt) == 1, f"{what}: exactly one connection recorded "
          f"untouched: {unhurt}")
    return 1 if unhurt == ["n=2"] else 2


def case_each_allocation(args, tmp, baseline):
    hits = 0
    for n in range(1, 60):
        hit = check_one_fault_run(args, tmp, n, "fault_alloc", f"once:{n}",
                                  "out_of_memory", baseline)
        if hit != 1 or harness.failed():
            break
        hits += 1
    check(hits >= 5, f"{hits} allocations of the first connection each "
          f"failed in turn")
    print(f"allocations of the first connection failed in turn: {hits}")


def case_decoder(args, tmp, baseline):
    hit = check_one_fault_run(args, tmp, 1, "fault_decoder", "once:1",
                              "broken_invariant", baseline)
    check(hit == 1, "the fault hit the first connection")


def main():
    args = harness.parse_args(extra)
    with harness.temp_dir() as tmp:
        plain = harness.base_env()
        if args.case == "trip":
            scripts = [TRIP_SESSION] * TRIP_CONNECTIONS
        else:
            scripts = [FIRST, SECOND]
        server, results, _ = run_sessions(args, plain, scripts)
        baseline = host_view(server, results)
        check(server.returncode == 0 and all(r[0] == 0 for r in results),
              f"without the shim every session works: {baseline}")
        {"trip": case_trip, "each-allocation": case_each_allocation,
         "decoder": case_decoder}[args.case](args, tmp, baseline)


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

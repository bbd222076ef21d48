"""Limits under the shim, as DESIGN.md states them: WSDBG_MAX_CONNECTIONS=5,
WSDBG_TTL=2, the C echo server with a thread per connection.
  - three connections held open (h1-h3), then six short ones one after
    the other (s1-s6, each closed before the next opens): after each, the
    listed connections are the three open ones and the two short ones
    that closed last - open ones are never evicted, the one that closed
    first goes first - and totals.evicted counts the others;
  - two more held open (h4, h5) evict s5 then s6; a sixth held one (h6)
    finds all five open: it is not listed, counted in totals.untracked,
    and its messages still count in the totals;
  - h1 closed: listed as closed at once, gone (totals.expired) once
    WSDBG_TTL seconds have passed; the rest closed: all gone after the
    TTL, none listed, the expired count exact;
  - a last connection ends the server, which exits 0 with an empty stderr, as without the shim.
"""
import os
import sys
import time

import modelkit
from modelkit import check, figure, harness

MAX_CONNECTIONS = 5
TTL = 2


def listed(snap):
    """The listed connections by query ("h=1", "s=3"), with their state."""
    return {c["query"]: c["state"] for c in snap["connections"]}


def main():
    args = harness.parse_args()
    with harness.temp_dir() as tmp:
        sock_dir = os.path.join(tmp, "sock")
        env = harness.shim_env(args, sock_dir,
                               max_connections=MAX_CONNECTIONS, ttl=TTL)
        plain = harness.base_env()
        server = harness.echo_server(args, env, "--threads", "--connections",
                                     "13", "--timeout", "40")
        pid = server.pid

        def snapshot(pred=lambda s: True):
            return harness.live_until(sock_dir, pid, pred)

        held = {}
        for i in (1, 2, 3):
            held[i] = harness.RawClient(server.port, f"/held?h={i}")
            check(held[i].echo(f"held {i}") == f"held {i}", f"h{i} echoes")
        for i in range(1, 7):
            rc = harness.run_client(args, plain, server.port,
                                    [f"text:short {i}", "close:1000:bye"],
                                    ["--path", f"/short?s={i}"])
            check(rc[0] == 0, f"s{i} session: {rc}")
            snap = snapshot(lambda s: s["totals"]["closed"] >= 1
                            and f"s={i}" in listed(s)
                            and listed(s)[f"s={i}"] == "closed")
            want = {"h=1": "open", "h=2": "open", "h=3": "open",
                    f"s={i}": "closed"}
            if i > 1:
                want[f"s={i - 1}"] = "closed"
            check(listed(snap) == want,
                  f"after s{i}: open ones kept, two newest closed: "
                  f"{listed(snap)}")
            check(snap["totals"]["evicted"] == max(0, i - 2),
                  f"after s{i}: evicted {snap['totals']['evicted']}")

        for i in (4, 5):
            held[i] = harness.RawClient(server.port, f"/held?h={i}")
            check(held[i].echo(f"held {i}") == f"held {i}", f"h{i} echoes")
        snap = snapshot(lambda s: "h=5" in listed(s))
        check(listed(snap) == {f"h={i}": "open" for i in range(1, 6)},
              f"h4, h5 evicted s5 and s6: {listed(snap)}")
        check(snap["totals"]["evicted"] == 6,
              f"evicted 6: {snap['totals']['evicted']}")
        before = snap["totals"]["messages_received"]

        held[6] = harness.RawClient(server.port, "/held?h=6")
        check(held[6].echo("not detailed") == "not detailed", "h6 echoes")
        snap = snapshot(lambda s: s["totals"]["messages_received"]
                        == before + 1)
        t = snap["totals"]
        check(listed(snap) == {f"h={i}": "open" for i in range(1, 6)},
              f"h6 not listed: {listed(snap)}")
        check((t["untracked"], t["connections"], t["active"]) == (1, 12, 5),
              f"h6 counted as untracked: {t}")
        check(t["messages_received"] == before + 1
              and t["messages_sent"] == snap["totals"]["messages_sent"],
              f"h6's message in the totals: {t['messages_received']}")

        reply = held[1].close_handshake(1000, "h1 done")
        check(reply[0] == 0x8, f"h1 close answered: {reply}")
        closed_at = time.monotonic()
        snap = snapshot(lambda s: listed(s).get("h=1") == "closed")
        check(listed(snap).get("h=1") == "closed",
              f"h1 listed as closed within the TTL: {listed(snap)}")
        time.sleep(max(0, closed_at + TTL + 0.3 - time.monotonic()))
        snap = harness.live_request(sock_dir, pid)
        check("h=1" not in listed(snap) and snap["totals"]["expired"] == 1,
              f"h1 expired after {TTL} s: {listed(snap)} "
              f"{snap['totals']['expired']}")
        check(len(listed(snap)) == 4, "the four open ones stay")

        for i in range(2, 7):
            held[i].close_handshake(1000, f"h{i} done")
        time.sleep(TTL + 0.3)
        snap = harness.live_request(sock_dir, pid)
        t = snap["totals"]
        check(snap["connections"] == [], f"all expired after the TTL: "
              f"{listed(snap)}")
        check((t["expired"], t["evicted"], t["untracked"], t["connections"],
               t["active"]) == (5, 6, 1, 12, 0),
              f"final totals: expired 5, evicted 6, untracked 1: {t}")
        # A thirteenth connection ends the server (it serves 13).
        last = harness.run_client(args, plain, server.port, ["close"])
        check(last[0] == 0, f"last client: {last}")
        server.finish()
        check(server.returncode == 0 and server.err == "",
              f"server exit 0, stderr empty: {server.returncode} "
              f"{server.err!r}")
        figure("eviction: max_connections / ttl", f"{MAX_CONNECTIONS} / "
               f"{TTL} s")
        figure("eviction: connections / evicted / untracked / expired",
               f"{t['connections']} / {t['evicted']} / {t['untracked']} / "
               f"{t['expired']}")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

"""Hostile input end to end: the raw host (raw_host.c) meets a peer that
breaks the WebSocket rules one way per connection, once without the shim
and once with it. Checked for every case:

  - the host sees exactly the same: its per-connection lines (bytes read
    and their FNV hash, what it wrote, how its reads ended), its stderr
    and its exit status are identical in both runs, and so is every byte
    the peer got back;
  - the snapshot (WSDBG_DUMP, strict UTF-8 JSON) records the fault
    sensibly: the state, the status of a rejected upgrade, `error` and
    `error_name` naming the broken rule for the direction that broke it,
    the messages before the fault, 1006 for a cut connection;
  - tracking goes on: the other direction of a faulty connection is still
    decoded (the host's own frames after the fault are recorded), and
    every later connection, ending with a clean session, is recorded
    whole.

--role server: the preloaded raw host serves, a hostile client (here)
sends each case. --role client: the preloaded raw host connects, a
hostile server (here, in a thread) answers each case.
"""
import json
import os
import random
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "shim"))
import harness  # noqa: E402
from harness import check  # noqa: E402

import frames as F  # noqa: E402

WELCOME = b"\x81\x07welcome"  # what the raw host sends after its 101


class Case:
    """One connection: what the hostile peer sends and what the snapshot
    must then say (expect(conn, checker), conn None when the connection
    must not be listed)."""

    def __init__(self, name, head, body=b"", expect=None, answered=True,
                 welcome=True):
        self.name = name
        self.head = head          # sent first
        self.body = body          # sent once the answer is in
        self.expect = expect
        self.answered = answered  # the host answers head at all
        self.welcome = welcome    # ... with 101 and its welcome frame


def request(name, *extra):
    return F.upgrade_request("/" + name, extra)


def text(s):
    return F.frame(0x1, s.encode())


GOOD_CLOSE = F.frame(0x8, F.close_payload(1000, b"bye"))


# ---- what the snapshot must say --------------------------------------------

def received_error(name):
    """The client's direction stopped with error `name`; the host's
    welcome still decoded; the connection closed (1006: no close frame
    was completed)."""
    def expect(c, what):
        check(c["error_name"] == name,
              f"{what}: error_name {c['error_name']!r} == {name!r}")
        check(isinstance(c["error"], str)
              and c["error"].startswith("received: "),
              f"{what}: error names the received direction: {c['error']!r}")
        check(c["state"] == "closed", f"{what}: state closed: {c['state']}")
        sent = [m for m in c["messages"] if m["dir"] == "sent"]
        check([(m["type"], m.get("text")) for m in sent]
              == [("text", "welcome")],
              f"{what}: the host's welcome after the fault is recorded")
    return expect


def messages_then(texts, then):
    """The received texts listed before the fault, then expect `then`."""
    def expect(c, what):
        got = [m.get("text") for m in c["messages"]
               if m["dir"] == "received"]
        check(got == texts, f"{what}: received before the fault {got}")
        then(c, what)
    return expect


def not_listed(c, what):
    check(c is None, f"{what}: not listed as a WebSocket connection")


def rejected(status):
    def expect(c, what):
        check(c is not None and c["state"] == "rejected"
              and c["status"] == status,
              f"{what}: state rejected, status {status}: "
              f"{c and (c['state'], c['status'])}")
        if c:
            check(c["closed_at"] is not None and c["messages"] == []
                  and c["error"] is None,
                  f"{what}: ended, no messages, no decoding error")
    return expect


def invalid_close(c, what):
    got = [(m["dir"], m["type"], m.get("code"), m.get("text"))
           for m in c["messages"]]
    check(got == [("sent", "text", None, "welcome"),
                  ("received", "close", 999, "odd")],
          f"{what}: the close with code 999 is listed as sent: {got}")
    check(c["close"] == {"code": 999, "reason": "odd", "by": "client"},
          f"{what}: close code 999 kept as the peer sent it: {c['close']}")
    closes = [m.get("code_valid") for m in c["messages"]
              if m["type"] == "close"]
    check(closes == [False],
          f"{what}: the close message says its code is invalid: {closes}")
    check(c["error_name"] == "frame_after_close",
          f"{what}: the text after the close is named: {c['error_name']}")


def bad_utf8(c, what):
    got = [(m["dir"], m.get("text"), m.get("utf8_valid"))
           for m in c["messages"] if m["dir"] == "received"]
    check(got == [("received", "bad \ufffd\ufffd text", False),
                  ("received", "still decoding", True)],
          f"{what}: invalid UTF-8 flagged (U+FFFD shown), decoding goes "
          f"on: {got}")
    check(c["error"] is None, f"{what}: no decoding error: {c['error']}")


def corrupt_deflate(c, what):
    check(c["extensions"] == "permessage-deflate",
          f"{what}: deflate agreed: {c['extensions']}")
    got = [(m.get("text"), m["compressed"]) for m in c["messages"]
           if m["dir"] == "received"]
    check(got == [("compressed hello", True)],
          f"{what}: the good compressed message before the bad one: {got}")
    received_error("inflate")(c, what)


def cut_mid_frame(c, what):
    check(c["state"] == "closed" and c["close"] is not None
          and c["close"]["code"] == 1006 and c["close"]["by"] is None,
          f"{what}: closed with 1006, by nobody: {c['close']}")
    check(c["error"] is None, f"{what}: no protocol error: {c['error']}")
    check(c["received"]["messages"] == 1
          and c["received"]["wire_bytes"] == len(text("whole")) + 2 + 2 + 4
          + 100,
          f"{what}: one whole message, every wire byte counted: "
          f"{c['received']}")


def clean_session(c, what):
    got = [(m["dir"], m["type"], m.get("text")) for m in c["messages"]]
    check(got == [("sent", "text", "welcome"), ("received", "text", "good"),
                  ("received", "close", "bye")],
          f"{what}: the clean session after the faults, whole: {got}")
    check(c["error"] is None and c["state"] == "closed"
          and c["close"] == {"code": 1000, "reason": "bye", "by": "client"},
          f"{what}: closed 1000 by the client, no error")
    check([m.get("code_valid") for m in c["messages"]
           if m["type"] == "close"] == [True],
          f"{what}: the close message's code 1000 is valid")


def oversized(c, what):
    # The request is over the handshake parser's 16 KiB block: the
    # connection cannot be read, so it is not listed, only counted in
    # totals.oversized_handshakes (checked with the totals).
    not_listed(c, what)


GARBAGE = bytes([0x16, 0x03, 0x01]) + random.Random(6).randbytes(4093)

SERVER_CASES = [
    Case("truncated-handshake",
         b"GET /truncated-handshake HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr",
         expect=not_listed, answered=False),
    Case("oversized-handshake",
         request("oversized-handshake", *[f"X-Filler-{i}: " + "a" * 1000
                                          for i in range(100)]),
         body=text("after a huge request"), expect=oversized),
    Case("plain-http", b"GET /plain-http HTTP/1.1\r\nHost: x\r\n\r\n",
         expect=not_listed, welcome=False),
    Case("reject/400", request("reject/400"), expect=rejected(400),
         welcome=False),
    Case("reject/403", request("reject/403"), expect=rejected(403),
         welcome=False),
    # A TLS record header: 0x16 sets RSV3, 0x03 has no mask bit. The
    # decoder checks masking first (RFC 6455 5.3 before 5.2's RSV rule).
    Case("garbage", request("garbage"), GARBAGE,
         expect=received_error("unmasked_client_frame")),
    Case("reserved-opcode", request("reserved-opcode"),
         text("before") + F.frame(0x3, b"x") + text("after"),
         expect=messages_then(["before"], received_error("reserved_opcode"))),
    Case("rsv-bits", request("rsv-bits"),
         text("before") + F.frame(0x1, b"x", rsv=4),
         expect=messages_then(["before"], received_error("reserved_bits"))),
    Case("unmasked", request("unmasked"),
         text("before") + F.frame(0x1, b"naked", mask=False),
         expect=messages_then(["before"],
                              received_error("unmasked_client_frame"))),
    Case("control-too-long", request("control-too-long"),
         F.frame(0x9, b"p" * 126),
         expect=received_error("control_too_long")),
    Case("control-fragmented", request("control-fragmented"),
         F.frame(0x9, b"ping", fin=False),
         expect=received_error("control_fragmented")),
    Case("continuation-alone", request("continuation-alone"),
         F.frame(0x0, b"orphan"),
         expect=received_error("continuation_without_start")),
    Case("length-top-bit", request("length-top-bit"),
         F.frame(0x2, b"", length=(1 << 63) | 5) + b"xxxxx",
         expect=received_error("length_top_bit")),
    Case("invalid-close-code", request("invalid-close-code"),
         F.frame(0x8, F.close_payload(999, b"odd")) + text("after close"),
         expect=invalid_close),
    Case("invalid-utf8", request("invalid-utf8"),
         F.frame(0x1, b"bad \xff\xfe text") + text("still decoding"),
         expect=bad_utf8),
    Case("corrupt-deflate",
         request("corrupt-deflate",
                 "Sec-WebSocket-Extensions: permessage-deflate"),
         F.frame(0x1, F.deflate_message(b"compressed hello"), rsv=4)
         + F.frame(0x1, b"\xff\xfe\xfd\xfc not deflate", rsv=4),
         expect=corrupt_deflate),
    Case("cut-mid-frame", request("cut-mid-frame"),
         text("whole") + F.frame(0x2, bytes(1000))[:2 + 2 + 4 + 100],
         expect=cut_mid_frame),
    Case("clean", request("clean"), text("good") + GOOD_CLOSE,
         expect=clean_session),
]


# ---- the server role: the raw host serves, we attack ----------------------

def recv_exactly_head(sock):
    """Reads an answer's header block; returns everything read."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def recv_all(sock):
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def attack(port, case):
    """One case against the host; returns every byte the host sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(case.head)
        got = b""
        if case.answered:
            got = recv_exactly_head(s)
            head_len = got.index(b"\r\n\r\n") + 4
            if case.welcome:
                while len(got) < head_len + len(WELCOME):
                    got += s.recv(65536)
            s.sendall(case.body)
        s.shutdown(socket.SHUT_WR)
        return got + recv_all(s)


def run_server_role(args, env):
    """One raw host through every case; returns (status, stdout, stderr,
    what each case got back)."""
    host = harness.Server([args.host, "server", "--connections",
                           str(len(SERVER_CASES)), "--timeout", "30"], env)
    replies = [attack(host.port, case) for case in SERVER_CASES]
    host.finish()
    return host.returncode, host.out, host.err, replies


# ---- the client role: the raw host connects, we answer badly --------------

CLIENT_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # raw_host.c's fixed key


def accept_answer(*extra):
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
             "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {F.accept_of(CLIENT_KEY)}"] + list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def server_frame(opcode, payload, **kw):
    return F.frame(opcode, payload, mask=False, **kw)


def sent_error(name):
    """The server's direction (received here) stopped with `name`; the
    host's own hello still decoded."""
    def expect(c, what):
        check(c["error_name"] == name,
              f"{what}: error_name {c['error_name']!r} == {name!r}")
        check(isinstance(c["error"], str)
              and c["error"].startswith("received: "),
              f"{what}: error names the received direction: {c['error']!r}")
        check(c["role"] == "client" and c["state"] == "closed",
              f"{what}: a closed client connection: {c['role']} "
              f"{c['state']}")
        sent = [m.get("text") for m in c["messages"] if m["dir"] == "sent"]
        check(len(sent) == 1 and sent[0].startswith("hello "),
              f"{what}: the host's hello is recorded: {sent}")
    return expect


def client_truncated(c, what):
    check(c is not None and c["role"] == "client"
          and c["state"] == "closed" and c["status"] is None
          and c["messages"] == [],
          f"{what}: the request is listed, no answer, closed: "
          f"{c and (c['state'], c['status'])}")


def client_rejected(c, what):
    check(c is not None and c["role"] == "client"
          and c["state"] == "rejected" and c["status"] == 403,
          f"{what}: rejected with status 403: "
          f"{c and (c['state'], c['status'])}")


def client_bad_utf8(c, what):
    got = [(m.get("text"), m.get("utf8_valid")) for m in c["messages"]
           if m["dir"] == "received"]
    check(got == [("\ufffd", False), ("fine", True)],
          f"{what}: invalid UTF-8 from the server flagged, decoding goes "
          f"on: {got}")
    check(c["error"] is None, f"{what}: no decoding error")


def client_corrupt_deflate(c, what):
    check(c["extensions"] == "permessage-deflate",
          f"{what}: deflate agreed: {c['extensions']}")
    got = [(m.get("text"), m["compressed"]) for m in c["messages"]
           if m["dir"] == "received"]
    check(got == [("deflated by the server", True)],
          f"{what}: the good compressed message first: {got}")
    sent_error("inflate")(c, what)


def client_cut(c, what):
    check(c["close"] is not None and c["close"]["code"] == 1006
          and c["error"] is None and c["received"]["messages"] == 0,
          f"{what}: cut inside a frame: 1006, no error: {c['close']}")


def client_clean(c, what):
    got = [(m["dir"], m["type"], m.get("text")) for m in c["messages"]]
    check(got[1:] == [("received", "text", "server hello"),
                      ("received", "close", "done")]
          and got[0][:2] == ("sent", "text"),
          f"{what}: the clean session after the faults, whole: {got}")
    check(c["close"] == {"code": 1000, "reason": "done", "by": "server"}
          and c["error"] is None,
          f"{what}: closed 1000 by the server: {c['close']}")


DEFLATE = "Sec-WebSocket-Extensions: permessage-deflate"

# (name, answer head, frames after the host's hello, expect)
CLIENT_CASES = [
    ("truncated-answer",
     b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n", b"",
     client_truncated),
    ("rejected-403",
     b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", b"",
     client_rejected),
    ("masked-server-frame", accept_answer(),
     F.frame(0x1, b"masked by the server"), sent_error("masked_server_frame")),
    ("reserved-opcode", accept_answer(), server_frame(0xb, b"?"),
     sent_error("reserved_opcode")),
    ("rsv-bits", accept_answer(), server_frame(0x2, b"x", rsv=2),
     sent_error("reserved_bits")),
    ("control-too-long", accept_answer(), server_frame(0xa, b"q" * 200),
     sent_error("control_too_long")),
    ("invalid-utf8", accept_answer(),
     server_frame(0x1, b"\xc0") + server_frame(0x1, b"fine"),
     client_bad_utf8),
    ("corrupt-deflate", accept_answer(DEFLATE),
     server_frame(0x1, F.deflate_message(b"deflated by the server"), rsv=4)
     + server_frame(0x1, b"\x07\x00\x00junk", rsv=4),
     client_corrupt_deflate),
    ("cut-mid-frame", accept_answer(),
     server_frame(0x1, b"z" * 300)[:50], client_cut),
    ("clean", accept_answer(),
     server_frame(0x1, b"server hello")
     + server_frame(0x8, F.close_payload(1000, b"done")), client_clean),
]


def hostile_server(listener, got):
    """Answers each connection with the next case; got[i] collects what
    the host sent on connection i."""
    for i, (name, answer, after, _) in enumerate(CLIENT_CASES):
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            data = recv_exactly_head(conn)
            conn.sendall(answer)
            if answer.startswith(b"HTTP/1.1 101") and answer.endswith(
                    b"\r\n\r\n"):
                hello = len(f"hello {i}") + 6
                while len(data) < data.index(b"\r\n\r\n") + 4 + hello:
                    data += conn.recv(65536)
                conn.sendall(after)
            conn.shutdown(socket.SHUT_WR)
            got.append(data + recv_all(conn))


def run_client_role(args, env):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(20)
    got = []
    t = threading.Thread(target=hostile_server, args=(listener, got),
                         daemon=True)
    t.start()
    proc = harness.spawn([args.host, "client",
                          str(listener.getsockname()[1]), "--connections",
                          str(len(CLIENT_CASES)), "--timeout", "30"], env)
    out, err = proc.communicate(timeout=40)
    t.join(10)
    listener.close()
    return proc.returncode, out.decode(), err.decode(), got


# ---- both runs and the comparison -----------------------------------------

def compare(plain, shimmed):
    status, out, err, peer = plain
    s_status, s_out, s_err, s_peer = shimmed
    check(status == 0, f"host exit status 0 without the shim: {status} "
          f"{err!r}")
    check(s_status == status, f"same exit status: {s_status} vs {status}")
    check(s_out == out,
          f"host saw the same bytes, wrote the same:\n{s_out}\nvs\n{out}")
    check(s_err == err, f"same stderr: {s_err!r} vs {err!r}")
    same = [i for i, (a, b) in enumerate(zip(s_peer, peer)) if a != b]
    check(len(s_peer) == len(peer) and not same,
          f"the peer got the same bytes back in every case; differ: "
          f"{[(peer[i], s_peer[i]) for i in same]}")


def load_dump(path):
    with open(path, "rb") as f:
        raw = f.read()
    return json.loads(raw.decode("utf-8", errors="strict"))


def main():
    args = harness.parse_args(lambda p: (
        p.add_argument("--host", required=True),
        p.add_argument("--role", required=True, choices=["server",
                                                         "client"])))
    with harness.temp_dir() as tmp:
        dump = os.path.join(tmp, "dump-%p.json")
        env = harness.shim_env(args, os.path.join(tmp, "sock"), dump)
        run = run_server_role if args.role == "server" else run_client_role
        plain = run(args, harness.base_env())
        shimmed = run(args, env)
        compare(plain, shimmed)
        dumps = [n for n in os.listdir(tmp) if n.startswith("dump-")]
        check(len(dumps) == 1, f"one dump written: {dumps}")
        if not dumps:
            return
        snap = load_dump(os.path.join(tmp, dumps[0]))
        conns = snap["connections"]
        if args.role == "server":
            by_path = {c["path"]: c for c in conns}
            for case in SERVER_CASES:
                c = by_path.get("/" + case.name)
                what = f"server role, {case.name}"
                if c is None and case.expect is not not_listed \
                        and case.expect is not oversized:
                    check(False, f"{what}: listed")
                    continue
                case.expect(c, what)
            listed = sum(1 for case in SERVER_CASES
                         if case.expect not in (not_listed, oversized))
        else:
            by_path = {c["path"]: c for c in conns}
            for i, (name, _, _, expect) in enumerate(CLIENT_CASES):
                c = by_path.get(f"/case/{i}")
                what = f"client role, {name}"
                if c is None:
                    check(False, f"{what}: listed")
                    continue
                expect(c, what)
            listed = len(CLIENT_CASES)
        check(len(conns) == listed,
              f"{listed} connections listed, no more: {len(conns)}")
        t = snap["totals"]
        check(t["active"] == 0 and t["untracked"] == 0,
              f"none left active or untracked: {t}")
        # The oversized request (server role) cannot be read, but it is
        # counted; nothing else is.
        oversized_n = sum(1 for case in SERVER_CASES
                          if case.expect is oversized) \
            if args.role == "server" else 0
        check(t["oversized_handshakes"] == oversized_n,
              f"totals.oversized_handshakes {t['oversized_handshakes']} "
              f"== {oversized_n}")
        errors = sum(1 for c in conns if c["error"])
        check(t["errors"] == errors,
              f"totals.errors {t['errors']} == connections with an error "
              f"{errors}")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))

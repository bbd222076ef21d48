"""Writes the seed corpus of fuzz_capture_snapshot (input layout at the top
of fuzz_capture_snapshot.c) into tests/fuzz/corpus/capture_snapshot/:
whole sessions in both roles, with and without permessage-deflate, a
rejected upgrade, several sockets at once under tiny limits, and every
hostile case of tests/hostile/bad_input.py in both roles.

    /usr/bin/python3 tests/fuzz/make_capture_seeds.py

Deterministic: the same files every run.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hostile"))
sys.path.insert(0, os.path.join(HERE, "..", "shim"))
import bad_input  # noqa: E402
import frames as F  # noqa: E402

SENT, RECEIVED = 0, 4
OUT = os.path.join(HERE, "corpus", "capture_snapshot")


def feed(stream, direction, data, piece=None):
    """Operations feeding data on stream in direction, in pieces of at
    most `piece` bytes (one call each)."""
    out = b""
    piece = piece or 65535
    for i in range(0, len(data), piece):
        chunk = data[i:i + piece]
        op = bytes([stream | direction | (0 << 3)])
        n = len(chunk)
        out += op + (bytes([n]) if n < 255
                     else b"\xff" + n.to_bytes(2, "little")) + chunk
    return out


def gap(stream, direction):
    return bytes([stream | direction | (4 << 3)])


def close(stream):
    return bytes([stream | (5 << 3)])


def snapshot(messages=True, conn=0, after=0):
    return bytes([6 << 3, (1 if messages else 0) | conn << 1 | after << 4])


def later(seconds):
    return bytes([7 << 3, seconds])


def accept(key="x3JJHMbDL1EzLkh9GBhXDw==", *extra):
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
             "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {F.accept_of(key)}"] + list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


DEFLATE = "Sec-WebSocket-Extensions: permessage-deflate"


def server_session(stream=0, deflate=False, piece=None):
    ext = [DEFLATE] if deflate else []
    req = F.upgrade_request("/chat?room=1", ext + ["Cookie: s=1"])
    rsv = 4 if deflate else 0

    def body(t):
        return F.deflate_message(t) if deflate else t
    return (feed(stream, RECEIVED, req, piece)
            + feed(stream, SENT, accept("x3JJHMbDL1EzLkh9GBhXDw==", *ext))
            + feed(stream, RECEIVED,
                   F.frame(0x1, body(b"hello \xe2\x98\x95"), rsv=rsv)
                   + F.frame(0x9, b"ping"), piece)
            + feed(stream, SENT,
                   F.frame(0x1, body(b"hello \xe2\x98\x95"), rsv=rsv,
                           mask=False)
                   + F.frame(0xa, b"ping", mask=False))
            + feed(stream, RECEIVED,
                   F.frame(0x2, bytes(range(40)), fin=False)
                   + F.frame(0x9, b"\x00\x01")
                   + F.frame(0x0, b"tail"), piece)
            + feed(stream, RECEIVED, F.frame(0x8, F.close_payload(1000,
                                                                  b"bye")))
            + feed(stream, SENT, F.frame(0x8, F.close_payload(1000, b"bye"),
                                         mask=False))
            + close(stream))


def client_session(stream=1, deflate=False):
    ext = [DEFLATE] if deflate else []
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    rsv = 4 if deflate else 0

    def body(t):
        return F.deflate_message(t) if deflate else t
    return (feed(stream, SENT, F.upgrade_request("/feed", ext
                                                 + ["Authorization: x"],
                                                 key=key))
            + feed(stream, RECEIVED, accept(key, *ext, "Set-Cookie: a=b")
                   + F.frame(0x1, body(b"welcome"), rsv=rsv, mask=False))
            + feed(stream, SENT, F.frame(0x1, body(b"hi"), rsv=rsv))
            + feed(stream, RECEIVED, F.frame(0x8, b"", mask=False))
            + close(stream))


def seeds():
    yield "server-plain", bytes([0]) + server_session() + snapshot()
    yield "server-plain-bytewise", bytes([0]) + server_session(piece=1)
    yield "server-deflate", bytes([0]) + server_session(deflate=True)
    yield "server-deflate-metadata", bytes([1]) + server_session(
        deflate=True) + snapshot()
    yield "server-binary-shown", bytes([2]) + server_session()
    yield "server-no-inflate", bytes([4]) + server_session(deflate=True)
    yield "client-plain", bytes([0]) + client_session()
    yield "client-deflate", bytes([0]) + client_session(deflate=True)
    yield "rejected", bytes([0]) + feed(
        2, RECEIVED, F.upgrade_request("/no")) + feed(
        2, SENT, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n") \
        + snapshot() + close(2)
    yield "gap", bytes([0]) + feed(0, RECEIVED, F.upgrade_request("/g")) \
        + feed(0, SENT, accept()) + gap(0, SENT) + feed(
        0, RECEIVED, F.frame(0x1, b"after gap")) + gap(0, RECEIVED)
    # Several sockets at once under tiny limits, then time passes.
    many = b""
    for i in range(4):
        many += server_session(stream=i)
    many += snapshot(conn=1) + snapshot(messages=True, after=3)
    many += later(3) + snapshot()
    for i in range(4):
        many += client_session(stream=i)
    yield "many-tiny-limits", bytes([8]) + many
    # Every hostile case of the end-to-end tests, both roles.
    for case in bad_input.SERVER_CASES:
        name = case.name.replace("/", "-")
        head = case.head
        if name == "oversized-handshake":
            # Just over the parser's 16 KiB block: a 100 KiB seed would
            # raise libFuzzer's default input size limit with it.
            head = F.upgrade_request("/" + name, [
                f"X-Filler-{i}: " + "a" * 1000 for i in range(18)])
        ops = feed(3, RECEIVED, head)
        if case.answered and head.endswith(b"\r\n\r\n"):
            if b"Upgrade: websocket" in head and case.welcome:
                ext = [DEFLATE] if b"permessage-deflate" in head \
                    else []
                ops += feed(3, SENT, accept("x3JJHMbDL1EzLkh9GBhXDw==",
                                            *ext) + bad_input.WELCOME)
            elif b"Upgrade: websocket" in head:
                ops += feed(3, SENT, b"HTTP/1.1 400 Refused\r\n\r\n")
            ops += feed(3, RECEIVED, case.body)
        yield "hostile-server-" + name, bytes([0]) + ops + close(3) \
            + snapshot()
    for i, (name, answer, after, _) in enumerate(bad_input.CLIENT_CASES):
        key = bad_input.CLIENT_KEY
        ops = feed(1, SENT, F.upgrade_request(f"/case/{i}", [DEFLATE],
                                              key=key))
        ops += feed(1, RECEIVED, answer)
        ops += feed(1, SENT, F.frame(0x1, f"hello {i}".encode()))
        ops += feed(1, RECEIVED, after)
        yield "hostile-client-" + name, bytes([0]) + ops + close(1)


def main():
    os.makedirs(OUT, exist_ok=True)
    n = 0
    for name, data in seeds():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        n += 1
    print(f"{n} seeds in {OUT}")


if __name__ == "__main__":
    main()

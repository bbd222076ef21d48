#!/usr/bin/env python3
"""Checks that wsdbg-decode decodes a recorded session into exactly the
messages that were sent (the "# expect {...}" lines record_sample.py wrote
into the transcript): order per direction, types, sizes, frame counts,
compression, truncation, text, close codes and reasons, ping RTTs.

The trace is decoded as recorded, cut into 1..7-byte chunks, and with each
direction in one chunk (so client frames arrive before the server's
answer), and must give the same messages every time. Also checks the
human output and the exit status of usage and file errors.

Usage: check_sample.py WSDBG_DECODE TRACE   (python3 standard library only)
"""

import json
import os
import subprocess
import sys
import tempfile

KEEP_TEXT = 10240
KEEP_BINARY = 256  # with --show-binary
FAILURES = []


def fail(label, what):
    FAILURES.append(f"{label}: {what}")


def expect_eq(label, what, got, want):
    if got != want:
        fail(label, f"{what}: got {got!r}, want {want!r}")


def load_trace(path):
    expected, records = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# expect "):
                expected.append(json.loads(line[len("# expect "):]))
            elif line and not line.startswith("#"):
                t, conn, direction, hexbytes = line.split()
                records.append((t, conn, direction, hexbytes))
    return expected, records


def write_trace(records, path):
    with open(path, "w", encoding="utf-8") as f:
        f.write("# rewritten by check_sample.py\n")
        for t, conn, direction, hexbytes in records:
            f.write(f"{t} {conn} {direction} {hexbytes}\n")


def split_small(records):
    """Every chunk cut into pieces of 1, 2, ... 7 bytes, in turn."""
    out, size = [], 1
    for t, conn, direction, hexbytes in records:
        data = bytes.fromhex(hexbytes)
        while data:
            out.append((t, conn, direction, data[:size].hex()))
            data = data[size:]
            size = size % 7 + 1
    return out


def coalesce(records):
    """Per connection, all client bytes in one chunk, then all server
    bytes in one: the client's frames arrive before the 101."""
    out = []
    conns = []
    for _, conn, _, _ in records:
        if conn not in conns:
            conns.append(conn)
    for conn in conns:
        for direction in ("c2s", "s2c"):
            mine = [r for r in records if r[1] == conn and r[2] == direction]
            if mine:
                out.append((mine[-1][0], conn, direction,
                            "".join(r[3] for r in mine)))
    return out


def run(decoder, args, stdin=None):
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    return subprocess.run([decoder] + args, input=stdin, capture_output=True,
                          env=env, timeout=30)


def check_message(label, got, want, deflate, show_binary, rtt):
    kind = want["type"]
    expect_eq(label, "type", got["type"], kind)
    expect_eq(label, "size", got["size"], want["size"])
    expect_eq(label, "frames", got["frames"], want["frames"])
    expect_eq(label, "compressed", got["compressed"],
              deflate and kind in ("text", "binary"))
    # A message is truncated when its data holds less than its payload:
    # long texts, and binaries unless --show-binary keeps their first 256.
    keep = KEEP_TEXT if kind == "text" else (KEEP_BINARY if show_binary
                                              else 0)
    if kind in ("text", "binary"):
        expect_eq(label, "truncated", got["truncated"], want["size"] > keep)
    else:
        expect_eq(label, "truncated", got["truncated"], False)
    if kind == "text":
        text, head = got.get("text"), want["text_head"]
        expect_eq(label, "utf8_valid", got.get("utf8_valid"), True)
        if not isinstance(text, str):
            fail(label, f"no text: {got!r}")
            return
        if not text.startswith(head):
            fail(label, f"text starts {text[:60]!r}, want {head[:60]!r}")
        kept = len(text.encode("utf-8"))
        if got["truncated"]:
            if not KEEP_TEXT - 3 <= kept <= KEEP_TEXT:
                fail(label, f"truncated text keeps {kept} bytes")
        else:
            expect_eq(label, "text bytes", kept, want["size"])
    elif kind == "binary":
        if show_binary:
            hexed = got.get("hex", "")
            expect_eq(label, "hex length", len(hexed),
                      2 * min(want["size"], KEEP_BINARY))
            if not hexed.startswith(want["hex_head"]):
                fail(label, f"hex {hexed[:32]} != {want['hex_head'][:32]}")
        elif "hex" in got:
            fail(label, "hex shown without --show-binary")
    elif kind == "close":
        expect_eq(label, "close code", got.get("code"), want["code"])
        expect_eq(label, "close reason", got.get("reason"), want["reason"])
    elif kind in ("ping", "pong"):
        expect_eq(label, "payload", got.get("text"), want["text_head"])
        if rtt and kind == "pong" and not got.get("rtt_ms", -1) >= 0:
            fail(label, f"pong without an rtt: {got!r}")


def check_connection(label, c, expected, show_binary, rtt):
    conn = c["id"]
    mine = [e for e in expected if e["conn"] == conn]
    deflate = c.get("extensions") is not None and \
        "permessage-deflate" in c["extensions"]
    expect_eq(label, "error", c.get("error"), None)
    expect_eq(label, "state", c.get("state"), "closed")
    expect_eq(label, "status", c.get("status"), 101)
    closes = [e for e in mine if e["type"] == "close" and e["dir"] == "c2s"]
    if closes:
        expect_eq(label, "close", c.get("close"),
                  {"code": closes[0]["code"], "reason": closes[0]["reason"],
                   "by": "client"})
    pongs = [e for e in mine if e["type"] == "pong"]
    samples = (c.get("rtt_ms") or {}).get("samples", 0)
    if rtt:
        expect_eq(label, "rtt samples", samples, len(pongs))
    for direction, side in (("c2s", "received"), ("s2c", "sent")):
        want = [e for e in mine if e["dir"] == direction]
        got = [m for m in c["messages"] if m["dir"] == side]
        expect_eq(label, f"{side} message count", len(got), len(want))
        expect_eq(label, f"{side} totals.messages", c[side]["messages"],
                  len(want))
        expect_eq(label, f"{side} totals.bytes", c[side]["bytes"],
                  sum(e["size"] for e in want))
        for i, (g, w) in enumerate(zip(got, want)):
            check_message(f"{label} {side} #{i + 1} ({w['type']})", g, w,
                          deflate, show_binary, rtt)


def check_json_run(label, decoder, args, expected, stdin=None, rtt=True):
    """rtt: pings and pongs keep their recorded order across directions, so
    every pong must have found its ping."""
    p = run(decoder, ["--json"] + args, stdin)
    if p.returncode != 0:
        fail(label, f"exit {p.returncode}: {p.stderr.decode()!r}")
        return None
    try:
        doc = json.loads(p.stdout.decode("utf-8"))
    except ValueError as e:
        fail(label, f"output is not JSON: {e}")
        return None
    show_binary = "--show-binary" in args
    conns = {c["id"]: c for c in doc.get("connections", [])}
    want_ids = sorted({e["conn"] for e in expected})
    expect_eq(label, "connections", sorted(conns), want_ids)
    for conn in want_ids:
        if conn in conns:
            check_connection(f"{label} conn {conn}", conns[conn], expected,
                             show_binary, rtt)
    return doc


def check_handshakes(doc):
    c = {x["id"]: x for x in doc["connections"]}
    one, two = c.get("1", {}), c.get("2", {})
    expect_eq("handshake 1", "path", one.get("path"), "/chat")
    expect_eq("handshake 1", "query", one.get("query"), "room=1")
    expect_eq("handshake 1", "subprotocol", one.get("subprotocol"), "chat.v1")
    expect_eq("handshake 1", "deflate",
              (one.get("deflate") or {}).get("enabled"), True)
    expect_eq("handshake 2", "path", two.get("path"), "/status")
    expect_eq("handshake 2", "query", two.get("query"), None)
    expect_eq("handshake 2", "extensions", two.get("extensions"), None)


def check_text_output(decoder, trace, expected):
    frames = max(e["frames"] for e in expected)
    p = run(decoder, [trace])
    out = p.stdout.decode("utf-8", "replace")
    expect_eq("text output", "exit status", p.returncode, 0)
    for needle in ("GET /chat?room=1 → 101 Switching Protocols",
                   "[deflate]", f"[{frames} frames]", "[truncated]", "rtt ",
                   "1000 normal closure \"bye\"", "4001 private use",
                   "日本語", "←", "→"):
        if needle not in out:
            fail("text output", f"missing {needle!r}")
    if "\033[" in out:
        fail("text output", "colours written to a pipe")


def check_errors(decoder, tmp):
    def one_line_exit(label, args, status, needle=None):
        p = run(decoder, args)
        err = p.stderr.decode()
        expect_eq(label, "exit status", p.returncode, status)
        expect_eq(label, "stderr lines", err.count("\n"), 1)
        if needle and needle not in err:
            fail(label, f"stderr {err!r} lacks {needle!r}")

    one_line_exit("no arguments", [], 2)
    one_line_exit("unknown option", ["--bogus", "x"], 2, "--bogus")
    one_line_exit("two files", ["a", "b"], 2)
    one_line_exit("missing file", [os.path.join(tmp, "nope")], 1, "nope")
    bad = os.path.join(tmp, "bad.wstrace")
    with open(bad, "w") as f:
        f.write("# ok\n0.1 1 c2s 4745\n0.2 1 c2s 47zz\n")
    one_line_exit("corrupt file", [bad], 1, "bad.wstrace:3:")
    p = run(decoder, ["--help"])
    expect_eq("--help", "exit status", p.returncode, 0)


def main():
    decoder, trace = sys.argv[1], sys.argv[2]
    expected, records = load_trace(trace)
    if len(expected) < 10:
        print(f"{trace}: only {len(expected)} expected messages")
        return 1
    doc = check_json_run("as recorded", decoder, [trace], expected)
    if doc:
        check_handshakes(doc)
    check_json_run("--show-binary", decoder, ["--show-binary", trace],
                   expected)
    with open(trace, "rb") as f:
        check_json_run("stdin", decoder, ["-"], expected, stdin=f.read())
    with tempfile.TemporaryDirectory() as tmp:
        small = os.path.join(tmp, "small.wstrace")
        write_trace(split_small(records), small)
        check_json_run("1..7-byte chunks", decoder, [small], expected)
        whole = os.path.join(tmp, "whole.wstrace")
        write_trace(coalesce(records), whole)
        check_json_run("one chunk per direction", decoder, [whole], expected,
                       rtt=False)
        check_errors(decoder, tmp)
    check_text_output(decoder, trace, expected)
    for f in FAILURES:
        print("FAIL", f)
    print(f"{len(FAILURES)} failures; {len(expected)} expected messages "
          "checked in 5 decodings")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())

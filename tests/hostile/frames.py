"""Raw WebSocket bytes for the hostile tests, built by hand so that each
breaks exactly one rule (RFC 6455 section numbers beside each builder).
Nothing here validates anything: the point is to send what a correct
encoder never would."""
import base64
import hashlib
import zlib

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# The fixed mask key the hostile client uses, so that two runs send the
# same bytes.
MASK = bytes([0x5a, 0x13, 0xc7, 0x2e])


def accept_of(key):
    """RFC 6455 4.2.2 (5.4)."""
    return base64.b64encode(
        hashlib.sha1((key + GUID).encode()).digest()).decode()


def upgrade_request(path, extra_headers=(), key="x3JJHMbDL1EzLkh9GBhXDw=="):
    """A client's upgrade request (RFC 6455 4.1) with extra header lines."""
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
             "Sec-WebSocket-Version: 13"] + list(extra_headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def masked(payload, mask=MASK):
    return bytes(b ^ mask[i & 3] for i, b in enumerate(payload))


def frame(opcode, payload, *, fin=True, rsv=0, mask=True, length=None):
    """One frame (RFC 6455 5.2). rsv holds the three RSV bits (4, 2, 1 for
    RSV1..3); length overrides the encoded payload length field: "16" or
    "64" forces that form, an int is written as the 64-bit length as is
    (top bit and all)."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if length is None:
        length = "7" if n < 126 else "16" if n <= 0xffff else "64"
    if length == "7":
        head = bytes([b0, mbit | n])
    elif length == "16":
        head = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
    elif length == "64":
        head = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
    else:
        head = bytes([b0, mbit | 127]) + int(length).to_bytes(8, "big")
    if mask:
        return head + MASK + masked(payload)
    return head + payload


def close_payload(code, reason=b""):
    return code.to_bytes(2, "big") + reason


def deflate_message(text):
    """RFC 7692 7.2.1: raw DEFLATE, sync-flushed, the 00 00 ff ff tail
    removed. A fresh compressor per message (valid with or without
    context takeover)."""
    c = zlib.compressobj(wbits=-15)
    data = c.compress(text) + c.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]

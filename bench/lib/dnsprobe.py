"""Minimal DNS-over-UDP client for the benchmarks (stdlib only).

Builds queries (optionally with an EDNS Client Subnet option), parses the
answer section for A, AAAA and TXT, and polls a server at a fixed interval
until an answer satisfies a predicate.
"""

import os
import socket
import struct
import time

TYPES = {"A": 1, "AAAA": 28, "TXT": 16, "SOA": 6}
CLASS_IN, CLASS_CH = 1, 3


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def build_query(name, qtype="A", qclass=CLASS_IN, qid=None, ecs=None):
    """ecs: (family, source_prefix, address_bytes) or None."""
    if qid is None:
        qid = struct.unpack("!H", os.urandom(2))[0]
    arcount = 1 if ecs else 0
    msg = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, arcount)
    msg += encode_name(name) + struct.pack("!HH", TYPES[qtype], qclass)
    if ecs:
        family, prefix, addr = ecs
        option = struct.pack("!HBB", family, prefix, 0) + addr
        rdata = struct.pack("!HH", 8, len(option)) + option
        msg += b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(rdata)) + rdata
    return qid, msg


def skip_name(msg, pos):
    while True:
        length = msg[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + length


def parse_answers(msg):
    """-> (id, rcode, [(type, value)]) with value a str (address or TXT)."""
    qid, flags, qd, an = struct.unpack("!HHHH", msg[:8])
    pos = 12
    for _ in range(qd):
        pos = skip_name(msg, pos) + 4
    answers = []
    for _ in range(an):
        pos = skip_name(msg, pos)
        rtype, _rclass, _ttl, rdlen = struct.unpack("!HHIH", msg[pos:pos + 10])
        pos += 10
        rdata = msg[pos:pos + rdlen]
        pos += rdlen
        if rtype == 1:
            answers.append(("A", socket.inet_ntop(socket.AF_INET, rdata)))
        elif rtype == 28:
            answers.append(("AAAA", socket.inet_ntop(socket.AF_INET6, rdata)))
        elif rtype == 16:
            text, i = b"", 0
            while i < len(rdata):
                text += rdata[i + 1:i + 1 + rdata[i]]
                i += 1 + rdata[i]
            answers.append(("TXT", text.decode(errors="replace")))
    return qid, flags & 0xF, answers


class Client:
    """A connected UDP socket to one server."""

    def __init__(self, server="127.0.0.1", port=53):
        family = socket.AF_INET6 if ":" in server else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.connect((server, port))

    def ask(self, name, qtype="A", qclass=CLASS_IN, timeout=0.001, ecs=None):
        """One query; -> (rcode, answers) or None on timeout/refused."""
        qid, msg = build_query(name, qtype, qclass, ecs=ecs)
        try:
            self.sock.send(msg)
        except OSError:
            return None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                reply = self.sock.recv(4096)
            except (socket.timeout, ConnectionRefusedError, OSError):
                if time.monotonic() >= deadline:
                    return None
                # ECONNREFUSED (nothing listening yet): wait out the slot
                time.sleep(max(0.0, deadline - time.monotonic()))
                return None
            try:
                rid, rcode, answers = parse_answers(reply)
            except (IndexError, struct.error):
                continue
            if rid == qid:
                return rcode, answers

    def addresses(self, name, qtype="A", timeout=0.001, ecs=None):
        """Sorted addresses of one type, or None on no reply."""
        got = self.ask(name, qtype, timeout=timeout, ecs=ecs)
        if got is None:
            return None
        return sorted(v for t, v in got[1] if t == qtype)

    def generation(self, timeout=0.05):
        """pindns's published generation (CH TXT generation.pindns), or None."""
        got = self.ask("generation.pindns", "TXT", CLASS_CH, timeout=timeout)
        if got is None:
            return None
        for t, v in got[1]:
            if t == "TXT" and v.startswith("generation "):
                return int(v.split()[1])
        return None

    def close(self):
        self.sock.close()


def poll(check, interval=0.001, limit=60.0, start=None):
    """Calls check() every `interval` s until it returns a true value.
    -> (seconds elapsed since `start` (default: the call), value), or
    (None, None) after `limit` seconds."""
    if start is None:
        start = time.monotonic()
    slot = time.monotonic()
    while True:
        value = check()
        now = time.monotonic()
        if value:
            return now - start, value
        if now - start > limit:
            return None, None
        slot += interval
        if slot > now:
            time.sleep(slot - now)
        else:
            slot = now

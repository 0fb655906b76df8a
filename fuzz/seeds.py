#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/).

resolve: real queries as dig sends them, captured by a small UDP listener
that answers each with an empty response so dig returns at once, plus
hand-made messages dig cannot send (two questions, QR=1, garbage). Each is
prefixed with the fuzz input header of fuzz/oracle.rs: a mode byte (bit 0
TCP, bit 1 IPv6 client) and the client address.

pins and zone: the shipped files and variants of them, valid and broken.

Run from anywhere: python3 fuzz/seeds.py (needs dig, stdlib only).
"""

import ipaddress
import pathlib
import socket
import struct
import subprocess
import threading

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent

# dig arguments for each query: the cases of the protocol, EDNS and
# Client Subnet tests, the C04, C06, C07, C08 and C16 inputs among them.
DIG_CASES = {
    "plain-soa": ["+noedns", "example.com", "SOA"],
    "edns0-soa": ["+edns=0", "example.com", "SOA"],
    "www-a": ["www.example.com", "A"],
    "www-aaaa": ["www.example.com", "AAAA"],
    "docs-cname": ["docs.example.com", "A"],
    "mx": ["example.com", "MX"],
    "txt": ["example.com", "TXT"],
    "ns": ["example.com", "NS"],
    "nxdomain": ["nosuch.example.com", "A"],
    "refused": ["example.org", "A"],
    "api-a": ["api.example.com", "A"],
    "api-aaaa": ["api.example.com", "AAAA"],
    "api-mx-nodata": ["api.example.com", "MX"],
    "global-a": ["global.example.com", "A"],
    "unpinned-a": ["unpinned.example.com", "A"],
    "dedicated-a": ["dedicated.example.com", "A"],
    "dedicated-aaaa": ["dedicated.example.com", "AAAA"],
    "mixed-a": ["mixed.example.com", "A"],
    "mixed-aaaa-nodata": ["mixed.example.com", "AAAA"],
    "wildcard-eu": ["x.y.eu.example.com", "A"],
    "case-0x20": ["ApI.ExAmPlE.cOm", "A"],
    "case-upper": ["WWW.EXAMPLE.COM", "A"],
    "chaos-version": ["CH", "TXT", "version.bind"],
    "chaos-id": ["CH", "TXT", "id.server"],
    "chaos-hostname": ["CH", "TXT", "hostname.bind"],
    "chaos-generation": ["CH", "TXT", "generation.pindns"],
    "unknown-type": ["www.example.com", "TYPE666"],
    "c04-edns1": ["+edns=1", "+noednsneg", "example.com", "SOA"],
    "c04-edns1-opt100": ["+edns=1", "+noednsneg", "+ednsopt=100", "example.com", "SOA"],
    "c04-edns1-subnet": ["+edns=1", "+noednsneg", "+subnet=203.0.113.0/25", "api.example.com", "A"],
    "edns1-opt-flag": ["+edns=1", "+noednsneg", "+ednsopt=100", "+ednsflags=0x80", "example.com", "SOA"],
    "ednsopt100": ["+ednsopt=100", "example.com", "SOA"],
    "ednsflags80": ["+ednsflags=0x80", "example.com", "SOA"],
    "do-bit": ["+dnssec", "example.com", "SOA"],
    "nsid": ["+nsid", "example.com", "SOA"],
    "cookie": ["+cookie=0102030405060708", "example.com", "SOA"],
    "expire": ["+expire", "example.com", "SOA"],
    "bufsize-4096": ["+bufsize=4096", "example.com", "SOA"],
    "c06-noedns": ["+noedns", "big.example.com", "A"],
    "c06-bufsize-512": ["+bufsize=512", "big.example.com", "A"],
    "c06-bufsize-100": ["+bufsize=100", "big.example.com", "A"],
    "c06-bufsize-1232": ["+bufsize=1232", "big.example.com", "A"],
    "c07-cdn": ["cdn.example.com", "A"],
    "c16-header-only": ["+header-only"],
    "c16-opcode-15": ["+opcode=15", "example.com", "SOA"],
    "c16-notify": ["+opcode=notify", "api.example.com", "SOA"],
    "subnet-berlin": ["+subnet=130.149.1.0/24", "api.example.com", "A"],
    "subnet-tokyo": ["+subnet=133.11.1.0/24", "global.example.com", "A"],
    "subnet-stanford": ["+subnet=171.64.1.0/24", "mixed.example.com", "A"],
    "subnet-v6": ["+subnet=2003::/48", "api.example.com", "AAAA"],
    "subnet-zero": ["+subnet=0.0.0.0/0", "api.example.com", "A"],
    "subnet-static": ["+subnet=198.51.100.0/25", "www.example.com", "A"],
    "subnet-nsid-expire": ["+subnet=130.149.1.0/24", "+nsid", "+expire", "api.example.com", "A"],
    "c08a-source-33": ["+ednsopt=8:00012100c000020100", "api.example.com", "A"],
    "c08b-scope-in-query": ["+ednsopt=8:00011818c63364", "api.example.com", "A"],
    "c08c-address-too-long": ["+ednsopt=8:00011800c6336400", "api.example.com", "A"],
    "c08d-stray-bits": ["+ednsopt=8:00011600c63367", "api.example.com", "A"],
    "c08e-family-3": ["+ednsopt=8:00030000", "api.example.com", "A"],
    "c08f-v6-source-129": ["+ednsopt=8:000281000000000000000000000000000000000000", "api.example.com", "A"],
    "c08g-cut-short": ["+ednsopt=8:000118", "api.example.com", "A"],
}

# Messages dig cannot make, as hex.
RAW_CASES = {
    "c16-two-questions": "beef000000020000000000000363646e076578616d706c6503636f6d000001000103777777076578616d706c6503636f6d0000010001",
    "c16-response": "beef800000010000000000000363646e076578616d706c6503636f6d0000010001",
    "c07-q1": "00010000000100000000000003777777076578616d706c6503636f6d0000010001",
    "c07-q2": "0002000000010000000000000363646e076578616d706c6503636f6d0000010001",
    "c07-q3": "00030000000100000000000003626967076578616d706c6503636f6d0000010001",
    "short-header": "1234000000",
    "pointer-in-question": "123400000001000000000000c00c00010001",
    "two-opts": "1234000000010000000000020377777707" "6578616d706c6503636f6d0000010001"
    "00002904d000000000000000002904d0000000000000",
    "opt-in-answer": "1234000000010001000000000377777707" "6578616d706c6503636f6d0000010001"
    "00002904d0000000000000",
    "option-overrun": "1234000000010000000000010377777707" "6578616d706c6503636f6d0000010001"
    "0000292000000000000004000800ff",
}


def build_query(name, qtype, qclass=1, qid=0x4242):
    """A plain query without EDNS."""
    wire = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".") if label) + b"\0"
    return struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + wire + struct.pack(">HH", qtype, qclass)


def capture(arguments):
    """Runs dig against a local listener and returns the query it sent."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(5)
    port = listener.getsockname()[1]
    captured = []

    def serve():
        data, peer = listener.recvfrom(65535)
        captured.append(data)
        # An empty response with the same ID ends dig's wait.
        listener.sendto(data[:2] + bytes([data[2] | 0x80, data[3]]) + b"\0" * 8, peer)

    thread = threading.Thread(target=serve)
    thread.start()
    subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=2", "+norec", "+nocookie"] + arguments,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    thread.join()
    listener.close()
    # A fixed ID keeps the corpus the same from run to run.
    return b"\x42\x42" + captured[0][2:]


def prefix(client, tcp=False):
    """The oracle's input header for a client address and transport."""
    address = ipaddress.ip_address(client)
    mode = (1 if tcp else 0) | (2 if address.version == 6 else 0)
    return bytes([mode]) + address.packed


def write_resolve():
    """Seeds for the resolve target."""
    out = FUZZ / "corpus" / "resolve"
    out.mkdir(parents=True, exist_ok=True)
    messages = {name: capture(arguments) for name, arguments in DIG_CASES.items()}
    messages.update({name: bytes.fromhex(text) for name, text in RAW_CASES.items()})
    # Zone transfers: dig sends these over TCP only.
    messages["axfr"] = build_query("example.com", 252)
    messages["ixfr"] = build_query("example.com", 251)
    # ANY, which this dig sends over TCP as well.
    messages["any"] = build_query("example.com", 255)
    messages["any-pinned"] = build_query("api.example.com", 255)
    for name, message in sorted(messages.items()):
        (out / f"{name}-udp").write_bytes(prefix("127.0.0.1") + message)
    # The same queries from placed clients and over TCP, for a few of them.
    for name in ["api-a", "global-a", "mixed-a", "wildcard-eu", "c06-noedns", "axfr"]:
        (out / f"{name}-tcp").write_bytes(prefix("127.0.0.1", tcp=True) + messages[name])
        (out / f"{name}-berlin").write_bytes(prefix("130.149.1.1") + messages[name])
        (out / f"{name}-v6-client").write_bytes(prefix("2003::1") + messages[name])
        (out / f"{name}-mapped").write_bytes(prefix("::ffff:133.11.1.1") + messages[name])


PIN_VARIANTS = {
    "banana": '[[reserved_domain]]\ndomain = "api.example.com"\nips = ["banana"]\n',
    "duplicate": '[[reserved_domain]]\ndomain = "a.example.com"\n\n[[reserved_domain]]\ndomain = "a.example.com"\nips = ["global"]\n',
    "outside-zone": '[[reserved_domain]]\ndomain = "api.example.org"\n',
    "cname": '[[reserved_domain]]\ndomain = "docs.example.com"\nips = ["us-ohio-1"]\n',
    "wildcards": '[[reserved_domain]]\ndomain = "*.example.com"\nips = ["united_states"]\n\n[[reserved_domain]]\ndomain = "*.a.example.com"\nips = [{ value = "jp-tokyo-1" }]\nttl = 30\n',
    "dedicated-homed-outside": '[[reserved_domain]]\ndomain = "d.example.com"\nips = ["us-ohio-1", "203.0.113.10"]\n',
    "dedicated-v6-only": '[[reserved_domain]]\ndomain = "d.example.com"\nips = ["2001:db8:ff::10", "::ffff:203.0.113.30"]\n',
    "malformed-name": '[[reserved_domain]]\ndomain = "-bad..example.com"\n',
    "comment-only": "# no domains yet\n",
    "empty": "",
    "syntax-error": '[[reserved_domain]]\ndomain = "r.example.com"\nips = ["us-ohio-1"\n',
    "unknown-key": '[[reserved_domain]]\ndomain = "r.example.com"\ncolour = "blue"\n',
    "api-fields": '[[reserved_domain]]\nid = 7\ndomain = "r.example.com"\ndescription = "x"\nmetadata = { team = "a" }\ncertificate_management_policy = "auto"\nips = []\n',
}

ZONE_VARIANTS = {
    "minimal": "$ORIGIN example.com.\n$TTL 60\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n@ IN NS ns1\nns1 IN A 192.0.2.53\n",
    "big-rrset": "$ORIGIN example.com.\n@ 300 IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n"
    + "".join(f"big 300 IN A 192.0.2.{100 + i}\n" for i in range(1, 41)),
    "wildcard-delegation": "$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster ( 1 7200\n 3600 1209600 60 ) ; c\n@ NS ns1\n*.w IN A 192.0.2.9\nsub IN NS ns.sub\nns.sub IN A 192.0.2.10\nns.sub IN AAAA 2001:db8::10\n",
    "cname-chain": "$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\na IN CNAME b\nb IN CNAME c\nc IN CNAME a\nd IN CNAME elsewhere.example.org.\n",
    "txt-quotes": '$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n@ IN TXT "a;b" "c\\"d" ( "e"\n "f" )\n  IN MX 10 mail\n',
    "broken-lines": "$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\nwww IN A not-an-address\nbad IN MX\n$INCLUDE other\n) \nx IN CNAME y\nx IN A 192.0.2.1\n",
    "no-soa": "$ORIGIN example.com.\nwww 300 IN A 192.0.2.1\n",
    "origin-change": "$ORIGIN example.com.\n$TTL 1\n@ IN SOA ns1 hostmaster 1 2 3 4 5\n$ORIGIN sub.example.com.\nwww IN AAAA 2001:db8::1\n$ORIGIN example.org.\nx IN A 192.0.2.1\n",
}


def write_text_corpora():
    """Seeds for the pins and zone targets."""
    pins = FUZZ / "corpus" / "pins"
    pins.mkdir(parents=True, exist_ok=True)
    (pins / "shipped").write_bytes((ROOT / "zones" / "pins.toml").read_bytes())
    for name, text in PIN_VARIANTS.items():
        (pins / name).write_text(text)
    zones = FUZZ / "corpus" / "zone"
    zones.mkdir(parents=True, exist_ok=True)
    (zones / "shipped").write_bytes((ROOT / "zones" / "example.com.zone").read_bytes())
    for name, text in ZONE_VARIANTS.items():
        (zones / name).write_text(text)


if __name__ == "__main__":
    write_resolve()
    write_text_corpora()

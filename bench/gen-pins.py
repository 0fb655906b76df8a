#!/usr/bin/env python3
"""Generates a pin table of N reserved domains for scale benchmarks.

Names are d0000001.example.com ..., assigned round-robin to a handful of
pin sets (PoP codes, aliases, and dedicated IPs homed in config.toml).

  gen-pins.py COUNT OUT.toml            one file
  gen-pins.py COUNT OUTDIR --shards 256  a directory of shard files
"""

import argparse
import os

PIN_SETS = [
    '[{ value = "us-ohio-1" }, { value = "de-fra-1" }]',
    '[{ value = "global" }]',
    '[{ value = "european_union" }]',
    '[{ value = "united_states" }, { value = "jp-tokyo-1" }]',
    '[{ value = "sg-sin-1" }, { value = "au-syd-1" }, { value = "in-mum-1" }]',
    '[{ value = "de-fra-1" }, { value = "203.0.113.10" }]',
]


def entry(index):
    """One [[reserved_domain]] table."""
    return (
        "[[reserved_domain]]\n"
        f'domain = "d{index:07d}.example.com"\n'
        f"ips = {PIN_SETS[index % len(PIN_SETS)]}\n\n"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("count", type=int)
    parser.add_argument("out")
    parser.add_argument("--shards", type=int, default=0, help="write a directory of this many shard files")
    args = parser.parse_args()
    if args.shards <= 0:
        with open(args.out, "w") as out:
            out.write("# generated pin table\n")
            for index in range(1, args.count + 1):
                out.write(entry(index))
        return
    os.makedirs(args.out, exist_ok=True)
    files = [open(os.path.join(args.out, f"shard-{n:04d}.toml"), "w") for n in range(args.shards)]
    for out in files:
        out.write("# generated pin table shard\n")
    for index in range(1, args.count + 1):
        files[index % args.shards].write(entry(index))
    for out in files:
        out.close()


if __name__ == "__main__":
    main()

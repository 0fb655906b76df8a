#!/bin/bash
# Pin-table scale benchmark: cold start, RSS, one-name change, full reload
# and latency during reloads, for 10, 10k, 100k and 1M reserved domains
# (a directory of shards) and 1M in one file.
#
#   bench/reload.sh                     build pindns (release), run every case
#   SIZES=10,10000 SINGLE= bench/reload.sh   a quick subset
#
# Environment:
#   PINDNS_BIN   use this binary instead of building
#   PINDNS_REV   build this commit (git archive into $WORK, own target dir)
#                instead of the working tree (default: cargo build --release in
#                the repository, then a copy of target/release/pindns)
#   WORK         scratch directory (default /tmp/pindns-reload)
#   SIZES        sharded cases (default 10,10000,100000,1000000)
#   SINGLE       one-file cases (default 1000000; empty = none)
#   PER_SHARD    names per shard (default 3906: 1M -> 256 shards)
#   SERVER_CPUS  CPUs pindns runs on (default 0, as the peer bench; "0,1" = both)
#   CLIENT_CPU   CPU of dnsperf and the probes (default 1)
#   ROUNDS       fresh-server repetitions of start / one-name / SIGHUP (default 3)
#   LAT_ROUNDS   repetitions of the baseline + reload-loop latency pair (default 2)
#   RATE, DUR    dnsperf fixed rate and seconds (default 20000, 15)
#   PORT         UDP/TCP port (default 5398)
#   MMDB         country database (default ../shared/bench/data/geo-whois-asn-country.mmdb)
# Output: $WORK/results-<stamp>.jsonl and a markdown table on stdout.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
WORK=${WORK:-/tmp/pindns-reload}
MMDB_SRC=${MMDB:-$REPO/../shared/bench/data/geo-whois-asn-country.mmdb}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$WORK"
log() { echo "[reload.sh $(date -u +%T)] $*" >&2; }

command -v dnsperf > /dev/null || { log "dnsperf missing: apt-get install dnsperf (or ../shared/bench/setup-peers.sh install)"; exit 1; }
PINDNS_DESC="given binary"
# shellcheck source=lib/build.sh
. "$HERE/lib/build.sh"
build_pindns "$REPO" "$WORK"
cp "$MMDB_SRC" "$WORK/geo-whois-asn-country.mmdb"

# stop exactly the servers this run started, whatever happens
: > "$WORK/pids"
cleanup() {
    local pid
    while read -r pid; do
        if [ -d "/proc/$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "$PINDNS_BIN serve"; then
            kill -TERM "$pid" 2> /dev/null || true
        fi
    done < "$WORK/pids"
}
trap cleanup EXIT

log "binary $PINDNS_BIN ($PINDNS_DESC; $("$PINDNS_BIN" --version 2>&1 | head -1)); server CPUs ${SERVER_CPUS:-0}, client CPU ${CLIENT_CPU:-1}"
OUT=$WORK/results-$STAMP.jsonl
python3 "$HERE/lib/reload.py" --bin "$PINDNS_BIN" --work "$WORK" --mmdb "$WORK/geo-whois-asn-country.mmdb" \
    --sizes "${SIZES:-10,10000,100000,1000000}" --single "${SINGLE-1000000}" \
    --per-shard "${PER_SHARD:-3906}" --server-cpus "${SERVER_CPUS:-0}" --client-cpu "${CLIENT_CPU:-1}" \
    --rounds "${ROUNDS:-3}" --lat-rounds "${LAT_ROUNDS:-2}" --rate "${RATE:-20000}" --dur "${DUR:-15}" \
    --port "${PORT:-5398}" --out "$OUT"
log "results: $OUT (table again: python3 $HERE/lib/reload.py --table $OUT)"

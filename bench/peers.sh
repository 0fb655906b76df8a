#!/bin/bash
# pindns beside Knot DNS (mod-geoip), gdnsd and the UDP echo floor on the
# shared geo workload (../shared/bench), interleaved in one run; plus pindns
# with 10, 10k, 100k and 1M reserved domains added, and TCP pipelined.
#
#   bench/peers.sh                      everything (~55 min with the defaults)
#   ROUNDS=1 DUR=5 bench/peers.sh       a quick pass
#
# Every server runs on CPU 0 (one UDP worker each), dnsperf on CPU 1, as in
# ../shared/bench. Each round runs every target once per (ECS variant, mode),
# one after the other (in reverse order every other round), so that drift on
# the shared host hits all alike; the summary quotes medians over rounds and
# per-round paired ratios.
#
# Environment:
#   PINDNS_BIN   use this binary instead of building
#   PINDNS_REV   build this commit (git archive into $WORK, own target dir)
#                instead of the working tree (default: cargo build --release in
#                the repository, then a copy of target/release/pindns)
#   WORK         scratch directory (default /tmp/pindns-peers); the shared
#                bench is copied to $WORK/bench
#   ROUNDS       rounds (default 5)          DUR   seconds per dnsperf run (10)
#   RATE         fixed rate of the latency/CPU runs (default 50000)
#   ECS_LIST     ECS variants of the main matrix (default "ecs-de ecs-de6 noecs")
#   SCALES       extra reserved domains of the scale instances
#                (default "10 10000 100000 1000000"; "" = none)
#   PER_SHARD    names per generated shard (default 3906: 1M -> 256 shards)
#   GEO_ONLY     1 = also the main matrix with queries/geo-only.txt (the two
#                steered names, no static www), ECS DE (default 1)
#   TCP          1 = TCP pipelined runs (dnsperf -m tcp, one connection,
#                100 outstanding), pindns vs Knot vs gdnsd (default 1)
#   TCP_RATE     fixed rate of the TCP runs (default 20000)
#   PEERS        peer instances (default "knot-1t gdnsd-1t"; add
#                pdns-geoip-1t bind-1t for PowerDNS and BIND)
#   MAX_WAIT     seconds to wait before a run while foreign processes use
#                >= 10% CPU (default 5; the load is recorded either way)
#   KEEP=1       leave the servers running at the end
# Output: $WORK/results/<stamp>/{results.tsv,verify.tsv,rss.tsv,summary.md}
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$REPO/../shared/bench}
WORK=${WORK:-/tmp/pindns-peers}
ROUNDS=${ROUNDS:-5}; DUR=${DUR:-10}; RATE=${RATE:-50000}
ECS_LIST=${ECS_LIST:-"ecs-de ecs-de6 noecs"}
SCALES=${SCALES-"10 10000 100000 1000000"}; PER_SHARD=${PER_SHARD:-3906}
TCP=${TCP:-1}; TCP_RATE=${TCP_RATE:-20000}; GEO_ONLY=${GEO_ONLY:-1}
PEERS=${PEERS:-"knot-1t gdnsd-1t"}; MAX_WAIT=${MAX_WAIT:-5}
SERVER_CPU=0; CLIENT_CPU=1
export SERVER_CPU CLIENT_CPU
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUTDIR=$WORK/results/$STAMP
RES=$OUTDIR/results.tsv
BENCH=$WORK/bench
RUN=$WORK/run
log() { echo "[peers $(date -u +%T)] $*" >&2; }
mkdir -p "$WORK" "$RUN" "$OUTDIR"

# ---------------------------------------------------------------- build
PINDNS_DESC="given binary"
# shellcheck source=lib/build.sh
. "$HERE/lib/build.sh"
build_pindns "$REPO" "$WORK" || exit 1
{
    echo "date: $(date -u +%FT%TZ)"
    echo "pindns: $PINDNS_BIN ($("$PINDNS_BIN" --version 2>&1 | head -1))"
    echo "built from: $PINDNS_DESC"
    echo "kernel: $(uname -r); cpus: $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
    echo "settings: ROUNDS=$ROUNDS DUR=$DUR RATE=$RATE ECS_LIST='$ECS_LIST' GEO_ONLY=$GEO_ONLY SCALES='$SCALES' PER_SHARD=$PER_SHARD TCP=$TCP TCP_RATE=$TCP_RATE PEERS='$PEERS'"
} > "$OUTDIR/meta.txt"
cat "$OUTDIR/meta.txt" >&2

# ---------------------------------------------------------------- peers
if [ ! -d "$BENCH" ]; then cp -r "$SHARED" "$BENCH"; chmod -R u+w "$BENCH"; fi
# refresh the scripts, keep generated data (the GeoIP2 copy takes ~30 s)
for f in "$SHARED"/*.sh "$SHARED"/tools/* "$SHARED"/queries/*; do
    rel=${f#"$SHARED"/}; cp "$f" "$BENCH/$rel.new" && chmod u+w "$BENCH/$rel.new" && mv "$BENCH/$rel.new" "$BENCH/$rel"
done
"$BENCH/setup-peers.sh" all >&2 || exit 1
# shellcheck disable=SC2086
"$BENCH/setup-peers.sh" start $PEERS >&2

# every process this script starts: label port pid
: > "$RUN/ours.tsv"
stop_ours() {
    local label port pid bin
    while read -r label port pid bin; do
        if [ -d "/proc/$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$bin"; then
            log "stopping $label (pid $pid)"; kill -TERM "$pid" 2> /dev/null
        fi
    done < "$RUN/ours.tsv"
    # shellcheck disable=SC2086
    "$BENCH/setup-peers.sh" stop $PEERS >&2
}
[ "${KEEP:-0}" = 1 ] || trap stop_ours EXIT

wait_up() {  # port pid -> 0 when it answers the SOA
    local _
    for _ in $(seq 1 300); do
        dig +time=1 +tries=1 +short @127.0.0.1 -p "$1" example.com SOA 2> /dev/null | grep -q hostmaster && return 0
        [ -d "/proc/$2" ] || return 1
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- floor
gcc -O2 -o "$WORK/reflect" "$BENCH/tools/reflect.c" || exit 1
setsid taskset -c $SERVER_CPU "$WORK/reflect" 5390 32 > "$RUN/floor.log" 2>&1 < /dev/null &
echo "floor 5390 $! $WORK/reflect" >> "$RUN/ours.tsv"

# ---------------------------------------------------------------- pindns
cp "$BENCH/data/geo-whois-asn-country.mmdb" "$WORK/geo-whois-asn-country.mmdb"
pindns_instance() {  # label port extra-names
    local label=$1 port=$2 extra=$3 dir=$WORK/$1 shards pid
    rm -rf "$dir"; mkdir -p "$dir"
    cp -r "$HERE/pindns-workload/zones" "$HERE/pindns-workload/pins" "$dir/"
    sed -e "s|^listen = .*|listen = [\"127.0.0.1:$port\"]|" \
        -e "s|^database = .*|database = \"$WORK/geo-whois-asn-country.mmdb\"|" \
        "$HERE/pindns-workload/config.toml" > "$dir/config.toml"
    if [ "$extra" -gt 0 ]; then
        shards=$(( (extra + PER_SHARD / 2) / PER_SHARD )); [ "$shards" -lt 1 ] && shards=1
        python3 "$HERE/gen-pins.py" "$extra" "$dir/pins" --shards "$shards"
        python3 - "$extra" > "$WORK/queries-$label.txt" <<'EOF'
import random, sys
n = int(sys.argv[1])
for k, i in enumerate(sorted(random.Random(42).sample(range(1, n + 1), min(n, 10000)))):
    print("d%07d.example.com %s" % (i, "A" if k % 2 == 0 else "AAAA"))
EOF
    fi
    # the log goes outside the watched directories
    setsid taskset -c $SERVER_CPU "$PINDNS_BIN" serve --config "$dir/config.toml" > "$RUN/$label.log" 2>&1 < /dev/null &
    pid=$!
    echo "$label $port $pid $PINDNS_BIN" >> "$RUN/ours.tsv"
    if wait_up "$port" "$pid"; then log "$label up on $port (pid $pid, $extra extra names)"
    else log "$label FAILED to start; see $RUN/$label.log"; tail -5 "$RUN/$label.log" >&2; exit 1; fi
}
pindns_instance pindns 5399 0
SCALE_LABELS=""
port=5401
for n in $SCALES; do
    case $n in 1000000) l=1m ;; 100000) l=100k ;; 10000) l=10k ;; *) l=$n ;; esac
    pindns_instance "pindns-$l" $port "$n"
    SCALE_LABELS="$SCALE_LABELS pindns-$l"
    port=$((port + 1))
done

# targets: label:port:pid
target() { awk -v l="$1" '$1==l {print $1":"$2":"$3}' "$RUN/ours.tsv"; }
peer_target() {
    local name peer variant port pidf cmd
    IFS=$'\t' read -r name peer variant port pidf cmd < <(awk -F'\t' -v n="$1" '$1==n' "$BENCH/conf/instances.tsv")
    echo "$name:$port:$(cat "$pidf" 2> /dev/null || echo -)"
}
MAIN_T="$(target pindns)"
for p in $PEERS; do MAIN_T="$MAIN_T $(peer_target "$p")"; done
MAIN_T="$MAIN_T $(target floor)"
SCALE_T=""; for l in $SCALE_LABELS; do SCALE_T="$SCALE_T $(target "$l")"; done
ALLPIDS=$(for t in $MAIN_T $SCALE_T; do echo "${t##*:}"; done | xargs)
log "targets: $MAIN_T $SCALE_T"

# ---------------------------------------------------------------- verify
: > "$OUTDIR/verify.tsv"
for t in $MAIN_T $SCALE_T; do
    IFS=: read -r label port pid <<< "$t"
    [ "$label" = floor ] && continue
    "$BENCH/verify.sh" "$label" "$port" >> "$OUTDIR/verify.tsv"
    cp "$BENCH/results/verify-$label.tsv" "$OUTDIR/"
done
cat "$OUTDIR/verify.tsv" >&2

# ---------------------------------------------------------------- runs
# CPU used on the host by anything but this script, its children (dnsperf)
# and the servers it measures: whole-machine busy ticks from /proc/stat minus
# ours, in % of one CPU (the host has 2)
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }
our_ticks() {
    { for p in $ALLPIDS; do [ -r "/proc/$p/stat" ] && awk '{sub(/^[^)]*\) /,""); print $12+$13}' "/proc/$p/stat"; done
      awk '{sub(/^[^)]*\) /,""); print $12+$13+$14+$15}' "/proc/$$/stat"; } | awk '{t+=$1} END {print t}'
}
load_start() { L_BUSY=$(busy_ticks); L_OURS=$(our_ticks); L_T=$(date +%s.%N); }
load_end() {  # -> foreign % since load_start
    local busy ours t
    busy=$(busy_ticks); ours=$(our_ticks); t=$(date +%s.%N)
    awk -v b="$((busy - L_BUSY))" -v o="$((ours - L_OURS))" -v s="$(echo "$t - $L_T" | bc)" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { f = 100 * (b - o) / hz / s; if (f < 0) f = 0; printf "%.0f", f }'
}
wait_quiet() {
    local t=0 f
    while :; do
        load_start; sleep 1; f=$(load_end)
        if [ "$f" -lt 10 ] || [ "$t" -ge "$MAX_WAIT" ]; then echo "$f"; return; fi
        t=$((t + 1))
    done
}
mkdir -p "$WORK/tcpshim"
printf '#!/bin/sh\nexec /usr/bin/dnsperf -m tcp "$@"\n' > "$WORK/tcpshim/dnsperf"; chmod +x "$WORK/tcpshim/dnsperf"

one() {  # target ecs round proto qfile [run.sh args]
    local label port pid ecs=$2 round=$3 proto=$4 qfile=$5 bg f path=$PATH
    IFS=: read -r label port pid <<< "$1"; shift 5
    [ "$proto" = tcp ] && path=$WORK/tcpshim:$PATH
    bg=$(wait_quiet)
    load_start
    PATH=$path "$BENCH/run.sh" -l "$label" -p "$port" -e "$ecs" -d "$DUR" -o "$RES" -f "$qfile" \
        -P "$pid" -n "round=$round;proto=$proto" "$@" > /dev/null || log "run failed: $label $ecs $proto $*"
    f=$(load_end)
    sed -i '$ s/$/;bg_before='"$bg"'%;foreign_during='"$f"'%/' "$RES"
    log "$(tail -1 "$RES" | awk -F'\t' '{printf "%-12s %-7s %-6s %-12s qps=%-7s p50=%s p99=%s lost=%s%% %s", $2,$5,$6,$7,$14,$19,$21,$13,$24}')"
}

# The targets in run order: as given in odd rounds, reversed in even ones,
# so that the host's drift within a round, which a paired ratio of two runs
# a minute apart takes in, leans one way in half the rounds and the other
# way in the rest instead of always the same way.
in_order() {  # round targets...
    local r=$1; shift
    if [ $((r % 2)) = 1 ]; then echo "$@"; else echo "$@" | tr ' ' '\n' | tac | xargs; fi
}
MIX=$BENCH/queries/mix.txt
for r in $(seq 1 "$ROUNDS"); do
    log "---- round $r of $ROUNDS"
    main=$(in_order "$r" $MAIN_T)
    for ecs in $ECS_LIST; do
        for t in $main; do one "$t" "$ecs" "$r" udp "$MIX" -Q "$RATE"; done
        for t in $main; do one "$t" "$ecs" "$r" udp "$MIX"; done
    done
    if [ "$GEO_ONLY" = 1 ]; then  # steered names only, no static www
        for t in $main; do one "$t" ecs-de "$r" udp "$BENCH/queries/geo-only.txt" -Q "$RATE"; done
        for t in $main; do one "$t" ecs-de "$r" udp "$BENCH/queries/geo-only.txt"; done
    fi
    if [ -n "$SCALE_T" ]; then
        # fixed rate for every instance, then saturated for every one, as in
        # the main matrix: the runs a ratio pairs are a few runs apart
        for q in mix names; do
            for mode in fixed saturated; do
                for t in $(in_order "$r" $SCALE_T); do
                    l=${t%%:*}; qf=$MIX
                    if [ $q = names ]; then qf=$WORK/queries-$l.txt; [ -s "$qf" ] || continue; fi
                    if [ $mode = fixed ]; then one "$t" ecs-de "$r" udp "$qf" -Q "$RATE"
                    else one "$t" ecs-de "$r" udp "$qf"; fi
                done
            done
        done
    fi
    if [ "$TCP" = 1 ]; then
        for t in $main; do [ "${t%%:*}" = floor ] || one "$t" ecs-de "$r" tcp "$MIX" -c 1 -q 100 -Q "$TCP_RATE"; done
        for t in $main; do [ "${t%%:*}" = floor ] || one "$t" ecs-de "$r" tcp "$MIX" -c 1 -q 100; done
    fi
done

printf 'label\tpid\tvmrss_kib\tvmhwm_kib\n' > "$OUTDIR/rss.tsv"
for t in $MAIN_T $SCALE_T; do
    IFS=: read -r label port pid <<< "$t"
    printf '%s\t%s\t%s\t%s\n' "$label" "$pid" "$(awk '/^VmRSS/{print $2}' "/proc/$pid/status" 2> /dev/null)" \
        "$(awk '/^VmHWM/{print $2}' "/proc/$pid/status" 2> /dev/null)" >> "$OUTDIR/rss.tsv"
done
# a reload or a crash during the runs would show here
for l in pindns $SCALE_LABELS; do
    p=$(awk -v l="$l" '$1==l {print $2}' "$RUN/ours.tsv")
    echo "$l: $(dig +short @127.0.0.1 -p "$p" CH TXT generation.pindns)" >> "$OUTDIR/meta.txt"
done
python3 "$HERE/lib/peers_summary.py" "$OUTDIR" > "$OUTDIR/summary.md"
cat "$OUTDIR/summary.md"
log "results in $OUTDIR"

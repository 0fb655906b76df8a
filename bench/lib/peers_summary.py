#!/usr/bin/env python3
"""Markdown summary of a bench/peers.sh result directory.

usage: peers_summary.py RESULT_DIR [--max-foreign PCT]

--max-foreign PCT keeps only the runs during which other processes on the
host used less than PCT % of one CPU (foreign_during); a ratio then needs
both runs of its round kept.

Medians over rounds of: server CPU microseconds per answered query
(cpu_us_q, from the server's utime+stime over the run), QPS, p50/p99 at the
fixed rate, lost %, RSS; and per-round paired ratios of pindns to each peer
and to the floor (the median of the ratios of runs of the same round).
"""
import csv
import os
import statistics
import sys
from collections import defaultdict


def note(row, key):
    for part in (row.get("note") or "").split(";"):
        if part.startswith(key + "="):
            value = part.split("=", 1)[1].rstrip("%")
            try:
                return float(value)
            except ValueError:
                return value
    return None


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def f(x, spec="%.2f"):
    return "-" if x is None else spec % x


def spread(xs, spec="%.2f"):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return "%s (%s..%s)" % (spec % statistics.median(xs), spec % min(xs), spec % max(xs))


def main():
    d = sys.argv[1]
    max_foreign = float(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--max-foreign" else None
    with open(os.path.join(d, "results.tsv")) as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    total = len(rows)
    if max_foreign is not None:
        rows = [r for r in rows if isinstance(note(r, "foreign_during"), float) and note(r, "foreign_during") < max_foreign]
    # key: (label, proto, qfile, ecs, mode) -> {round: row}
    runs = defaultdict(dict)
    for r in rows:
        # queries-LABEL.txt (reserved names of that instance's table) -> "names"
        qfile = "names" if r["qfile"].startswith("queries-") else r["qfile"]
        r["qfile"] = qfile
        key = (r["label"], note(r, "proto") or "udp", qfile, r["ecs"],
               "fixed" if r["mode"].startswith("fixed") else "sat")
        runs[key][int(note(r, "round") or 0)] = r
    labels = []
    for r in rows:
        if r["label"] not in labels:
            labels.append(r["label"])
    rss = {}
    if os.path.exists(os.path.join(d, "rss.tsv")):
        with open(os.path.join(d, "rss.tsv")) as fh:
            for r in csv.DictReader(fh, delimiter="\t"):
                rss[r["label"]] = (num(r["vmrss_kib"]), num(r["vmhwm_kib"]))
    fixed_rate = next((r["mode"].split("-", 1)[1] for r in rows
                       if r["mode"].startswith("fixed") and (note(r, "proto") or "udp") == "udp"), "?")
    out = []
    if max_foreign is not None:
        out.append("Only runs with foreign CPU load < %.0f%%: %d of %d runs kept.\n" % (max_foreign, len(rows), total))
    foreign = [note(r, "foreign_during") for r in rows]
    foreign = [x for x in foreign if isinstance(x, float)]
    if foreign:
        out.append("Foreign CPU load during the runs (other processes on the host, %% of one CPU): "
                   "median %.0f%%, max %.0f%%, %d of %d runs at >= 10%%.\n" % (
                       statistics.median(foreign), max(foreign), sum(1 for x in foreign if x >= 10), len(foreign)))

    def cell(key, col):
        return [num(r[col]) for r in runs.get(key, {}).values()]

    def cpu(key):
        return [note(r, "cpu_us_q") for r in runs.get(key, {}).values()]

    def lost(key):
        xs = [num(r["lost_pct"]) for r in runs.get(key, {}).values()]
        xs = [x for x in xs if x is not None]
        return "-" if not xs else "%.2f" % max(xs)

    def table(title, keys_of, label_list):
        out.append("### %s\n" % title)
        head = ["server", "ECS", "CPU µs/query @%s qps: median (min..max)" % fixed_rate,
                "CPU µs/query saturated", "QPS saturated", "p50 ms @fixed", "p99 ms @fixed",
                "lost % max (fixed / sat)", "VmRSS MiB (VmHWM)"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for label, ecs, fixed, sat in keys_of(label_list):
            if fixed not in runs and sat not in runs:
                continue
            m = rss.get(label)
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s |" % (
                label, ecs, spread(cpu(fixed)), spread(cpu(sat)), f(med(cell(sat, "qps")), "%.0f"),
                f(med(cell(fixed, "p50_ms")), "%.3f"), f(med(cell(fixed, "p99_ms")), "%.3f"),
                lost(fixed), lost(sat),
                "%d (%d)" % (m[0] / 1024, m[1] / 1024) if m and m[0] else "-"))
        out.append("")

    def paired(a, b, col=None):
        """median over rounds of a/b, same round."""
        ra, rb = runs.get(a, {}), runs.get(b, {})
        xs = []
        for rnd in ra:
            if rnd in rb:
                va = note(ra[rnd], "cpu_us_q") if col is None else num(ra[rnd][col])
                vb = note(rb[rnd], "cpu_us_q") if col is None else num(rb[rnd][col])
                if isinstance(va, float) and isinstance(vb, float) and vb > 0:
                    xs.append(va / vb)
        return xs

    def rstr(xs):
        return spread(xs, "%.3f") if xs else "-"

    mix = "mix.txt"
    ecs_list = []
    for r in rows:
        if r["qfile"] == mix and r["label"] == "pindns" and (note(r, "proto") or "udp") == "udp" and r["ecs"] not in ecs_list:
            ecs_list.append(r["ecs"])
    main_labels = [lab for lab in labels if not lab.startswith("pindns-")]

    def udp_keys(label_list):
        for ecs in ecs_list:
            for label in label_list:
                yield label, ecs, (label, "udp", mix, ecs, "fixed"), (label, "udp", mix, ecs, "sat")
    table("UDP, the shared workload (queries/mix.txt: pinned, global, www x A, AAAA), one worker on CPU 0",
          udp_keys, main_labels)
    geo = "geo-only.txt"

    def geo_keys(label_list):
        for label in label_list:
            yield label, "ecs-de", (label, "udp", geo, "ecs-de", "fixed"), (label, "udp", geo, "ecs-de", "sat")
    if any(k[2] == geo for k in runs):
        table("UDP, steered names only (queries/geo-only.txt: pinned, global x A, AAAA)", geo_keys, main_labels)

    peers = [lab for lab in main_labels if lab != "pindns"]
    out.append("### Ratios pindns / other, UDP (median of per-round paired ratios, min..max)\n")
    out.append("| queries | ECS | vs | CPU/query @fixed | CPU/query saturated | p99 @fixed | QPS saturated |")
    out.append("|---|---|---|---|---|---|---|")
    for q, ecs in [(mix, e) for e in ecs_list] + [(geo, "ecs-de")]:
        for p in peers:
            a = ("pindns", "udp", q, ecs)
            b = (p, "udp", q, ecs)
            if a + ("fixed",) not in runs:
                continue
            out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                q, ecs, p, rstr(paired(a + ("fixed",), b + ("fixed",))), rstr(paired(a + ("sat",), b + ("sat",))),
                rstr(paired(a + ("fixed",), b + ("fixed",), "p99_ms")), rstr(paired(a + ("sat",), b + ("sat",), "qps"))))
    out.append("")

    scale_labels = [lab for lab in labels if lab.startswith("pindns-")]
    if scale_labels:
        qfiles = []
        for r in rows:
            if r["label"].startswith("pindns-") and r["qfile"] not in qfiles:
                qfiles.append(r["qfile"])

        out.append("### Pin table size, UDP, ECS DE ([mix] = the shared workload's 6 questions; "
                   "[names] = 10,000 reserved names spread over the table, A/AAAA)\n")
        head = ["instance", "CPU µs/query @%s qps" % fixed_rate, "CPU µs/query saturated", "QPS saturated",
                "p50 / p99 ms @fixed", "lost % max (fixed / sat)", "VmRSS MiB (VmHWM)",
                "CPU/query ratio to pindns-10 (fixed / sat)"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        ref = "pindns-10" if "pindns-10" in labels else None
        for q in qfiles:
            for label in scale_labels:
                fixed, sat = (label, "udp", q, "ecs-de", "fixed"), (label, "udp", q, "ecs-de", "sat")
                if fixed not in runs:
                    continue
                m = rss.get(label)
                ratio = "-"
                if ref and label != ref:
                    rf, rs = (ref, "udp", q, "ecs-de", "fixed"), (ref, "udp", q, "ecs-de", "sat")
                    ratio = "%s / %s" % (rstr(paired(fixed, rf)), rstr(paired(sat, rs)))
                out.append("| %s [%s] | %s | %s | %s | %s / %s | %s / %s | %s | %s |" % (
                    label, "mix" if q == mix else "names", spread(cpu(fixed)), spread(cpu(sat)),
                    f(med(cell(sat, "qps")), "%.0f"), f(med(cell(fixed, "p50_ms")), "%.3f"),
                    f(med(cell(fixed, "p99_ms")), "%.3f"), lost(fixed), lost(sat),
                    "%d (%d)" % (m[0] / 1024, m[1] / 1024) if m and m[0] else "-", ratio))
        out.append("")

    tcp = [k for k in runs if k[1] == "tcp"]
    if tcp:
        tcp_rate = next((r["mode"].split("-", 1)[1] for r in rows
                         if r["mode"].startswith("fixed") and note(r, "proto") == "tcp"), "?")
        out.append("### TCP, one connection, 100 queries outstanding (dnsperf -m tcp -c 1 -q 100), ECS DE\n")
        out.append("| server | CPU µs/query @%s qps | CPU µs/query saturated | QPS saturated | p50 / p99 ms @fixed | "
                   "lost %% max (fixed / sat) | pindns / this, CPU/query (fixed / sat) |" % tcp_rate)
        out.append("|---|---|---|---|---|---|---|")
        for label in main_labels:
            fixed, sat = (label, "tcp", mix, "ecs-de", "fixed"), (label, "tcp", mix, "ecs-de", "sat")
            if fixed not in runs and sat not in runs:
                continue
            ratio = "-"
            if label != "pindns":
                ratio = "%s / %s" % (rstr(paired(("pindns",) + fixed[1:], fixed)), rstr(paired(("pindns",) + sat[1:], sat)))
            out.append("| %s | %s | %s | %s | %s / %s | %s / %s | %s |" % (
                label, spread(cpu(fixed)), spread(cpu(sat)), f(med(cell(sat, "qps")), "%.0f"),
                f(med(cell(fixed, "p50_ms")), "%.3f"), f(med(cell(fixed, "p99_ms")), "%.3f"),
                lost(fixed), lost(sat), ratio))
        out.append("")

    ver = os.path.join(d, "verify.tsv")
    if os.path.exists(ver):
        out.append("### verify.sh (11 clients x pinned/global/www x A/AAAA; ECS scope per client)\n")
        out.append("| server | answers ok | ECS scopes |")
        out.append("|---|---|---|")
        with open(ver) as fh:
            for line in fh:
                p = line.rstrip("\n").split("\t")
                if len(p) >= 3:
                    out.append("| %s | %s | %s |" % (p[0], p[1].replace("ok=", ""), p[2].replace("scopes=", "").replace(",", ", ")))
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()

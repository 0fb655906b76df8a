#!/usr/bin/env python3
"""Pin-table scale benchmark of pindns: start-up, memory, reload and latency
under reload, for pin tables of several sizes. Driven by bench/reload.sh.

For every case (a size, as a directory of shards or one file) it measures,
each time on a freshly started server unless said otherwise:

  start      exec -> first correct UDP answer for a pinned name (polled
             every 1 ms), ROUNDS times; VmHWM and VmRSS at that moment,
             VmRSS 2 s later
  base       dnsperf at a fixed rate (no reload has happened yet):
             p50/p99, lost, response codes; a checker asks the changing
             name and two control names every 5 ms and counts wrong answers
  one-name   one name's pins changed in its shard (written aside, renamed
             over the shard) -> the new answer served (polled every 1 ms);
             build_ms of that reload from the log; then 2 s of quiet: how
             many further generations were published with no file changed
             and the server CPU used meanwhile
  full       SIGHUP -> generation.pindns incremented (polled every 1 ms);
             build_ms from the log
  loop       dnsperf at the same fixed rate while a driver changes one name
             every 200 ms and sends SIGHUP every 1 s; same figures as base,
             plus generations published and VmRSS/VmHWM afterwards

Writes one JSON line per case to --out and prints a markdown table.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnsprobe  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
WORKLOAD = os.path.join(BENCH, "pindns-workload")
GEN_PINS = os.path.join(BENCH, "gen-pins.py")
ECS_DE = (1, 24, bytes([193, 99, 144]))          # 193.99.144.0/24, as run.sh ecs-de
ECS_DE_DNSPERF = "8:00011800c16390"
EU_LINE = 'ips = [{ value = "european_union" }]'  # gen-pins.py pin set 2 -> de-fra-1
SG_LINE = 'ips = [{ value = "sg-sin-1" }]'
EU_ADDR, SG_ADDR = "192.0.2.3", "192.0.2.4"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def log(*args):
    print("[reload %s]" % time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def shards_for(count, per_shard):
    return max(1, round(count / per_shard))


def probe_index(count):
    """Highest index <= count whose pin set is european_union (index % 6 == 2)."""
    i = count - ((count - 2) % 6)
    assert i % 6 == 2 and i >= 2, count
    return i


def dname(i):
    return "d%07d.example.com" % i


class Case:
    def __init__(self, args, count, layout):
        self.args, self.count, self.layout = args, count, layout
        self.name = "%d-%s" % (count, layout)
        self.dir = os.path.join(args.work, "case-" + self.name)
        self.logdir = os.path.join(args.work, "logs")
        self.port = args.port
        self.shards = shards_for(count, args.per_shard) if layout == "dir" else 0
        self.probe = probe_index(count)
        # a second european_union name for the checker, in another shard if possible
        self.control = self.probe - 6 if self.probe > 6 else None
        self.proc = None
        self.logfile = None
        self.runs = 0

    # ---------------------------------------------------------------- files
    def prepare(self):
        if os.path.exists(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.logdir, exist_ok=True)
        shutil.copytree(os.path.join(WORKLOAD, "zones"), os.path.join(self.dir, "zones"))
        with open(os.path.join(WORKLOAD, "config.toml")) as f:
            config = f.read()
        config = re.sub(r'(?m)^listen = .*$', 'listen = ["127.0.0.1:%d"]' % self.port, config)
        config = re.sub(r'(?m)^database = .*$', 'database = "%s"' % self.args.mmdb, config)
        workload_pins = os.path.join(WORKLOAD, "pins", "workload.toml")
        if self.layout == "dir":
            pins = os.path.join(self.dir, "pins")
            subprocess.run([sys.executable, GEN_PINS, str(self.count), pins, "--shards", str(self.shards)], check=True)
            shutil.copy(workload_pins, pins)
            self.target = os.path.join(pins, "shard-%04d.toml" % (self.probe % self.shards))
        else:
            config = re.sub(r'(?m)^pins = .*$', 'pins = "pins.toml"', config)
            self.target = os.path.join(self.dir, "pins.toml")
            tmp = self.target + ".gen"
            subprocess.run([sys.executable, GEN_PINS, str(self.count), tmp], check=True)
            with open(self.target, "w") as out, open(workload_pins) as w, open(tmp) as g:
                out.write(w.read())
                shutil.copyfileobj(g, out, 1 << 20)
            os.unlink(tmp)
        with open(os.path.join(self.dir, "config.toml"), "w") as f:
            f.write(config)
        with open(self.target) as f:
            original = f.read()
        block = 'domain = "%s"\n%s' % (dname(self.probe), EU_LINE)
        assert original.count(block) == 1, "probe name not found in " + self.target
        self.versions = {EU_ADDR: original,
                         SG_ADDR: original.replace(block, 'domain = "%s"\n%s' % (dname(self.probe), SG_LINE))}
        self.on_disk = EU_ADDR
        # dnsperf query file: names spread over the whole table, A and AAAA
        rnd = random.Random(42)
        picks = sorted(rnd.sample(range(1, self.count + 1), min(self.count, 10000)))
        self.qfile = os.path.join(self.args.work, "queries-%d.txt" % self.count)
        with open(self.qfile, "w") as f:
            for n, i in enumerate(picks):
                f.write("%s %s\n" % (dname(i), "A" if n % 2 == 0 else "AAAA"))
        size = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(self.dir) for fn in fns)
        log("%s: %d names, %s, %.1f MB of files, probe %s in %s" % (
            self.name, self.count, "%d shards" % self.shards if self.shards else "one file",
            size / 1e6, dname(self.probe), os.path.basename(self.target)))

    def write_version(self, addr):
        """Writes the target file with the probe name answering `addr`:
        complete file aside, then renamed over. -> time.monotonic() of the rename."""
        tmp = os.path.join(os.path.dirname(self.target), "." + os.path.basename(self.target) + ".tmp")
        with open(tmp, "w") as f:
            f.write(self.versions[addr])
        t = time.monotonic()
        os.rename(tmp, self.target)
        self.on_disk = addr
        return t

    # ---------------------------------------------------------------- server
    def start(self):
        """Starts pindns; -> seconds from exec to the first correct answer."""
        if self.on_disk != EU_ADDR:
            self.write_version(EU_ADDR)
        self.runs += 1
        path = os.path.join(self.logdir, "%s-%d.log" % (self.name, self.runs))
        self.logfile = path
        client = dnsprobe.Client("127.0.0.1", self.port)
        want = [EU_ADDR]
        out = open(path, "w")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            ["taskset", "-c", self.args.server_cpus, self.args.bin, "serve", "--config",
             os.path.join(self.dir, "config.toml")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        elapsed, _ = dnsprobe.poll(lambda: client.addresses(dname(self.probe)) == want,
                                   limit=self.args.start_limit, start=t0)
        client.close()
        if elapsed is None:
            raise RuntimeError("%s: no correct answer within %ss; see %s" % (self.name, self.args.start_limit, path))
        with open(os.path.join(self.args.work, "pids"), "a") as f:
            f.write("%d\n" % self.proc.pid)
        return elapsed

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def status(self, key):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return None

    def cpu_ticks(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def log_lines(self):
        with open(self.logfile) as f:
            return [ANSI.sub("", line) for line in f]

    def build_ms(self, generation, wait=30.0):
        """build_ms of the log line that published `generation`; waits for
        it (pindns logs a reload once its diff is computed, after the swap)."""
        pat = re.compile(r"published new snapshot generation=%d .*build_ms=([0-9.]+)" % generation)
        deadline = time.monotonic() + wait
        while True:
            for line in self.log_lines():
                m = pat.search(line)
                if m:
                    return float(m.group(1))
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)


# -------------------------------------------------------------------- load
class Checker(threading.Thread):
    """Asks the probe name and control names every 5 ms; counts wrong answers."""

    def __init__(self, case, allowed_probe):
        super().__init__(daemon=True)
        self.case, self.allowed = case, allowed_probe
        self.stop_flag = threading.Event()
        self.asked = self.wrong = self.noreply = 0
        self.examples = []

    def run(self):
        client = dnsprobe.Client("127.0.0.1", self.case.port)
        checks = [(dname(self.case.probe), "A", None, self.allowed),
                  ("pinned.example.com", "A", ECS_DE, {(EU_ADDR,)}),
                  ("pinned.example.com", "A", None, {("192.0.2.1",)})]
        if self.case.control:
            checks.append((dname(self.case.control), "A", ECS_DE, {(EU_ADDR,)}))
        n = 0
        while not self.stop_flag.is_set():
            name, qtype, ecs, allowed = checks[n % len(checks)]
            n += 1
            got = client.addresses(name, qtype, timeout=1.0, ecs=ecs)
            self.asked += 1
            if got is None:
                self.noreply += 1
            elif tuple(got) not in allowed:
                self.wrong += 1
                if len(self.examples) < 5:
                    self.examples.append("%s %s -> %s" % (name, qtype, got))
            time.sleep(0.005)
        client.close()


class Driver(threading.Thread):
    """One-name change every `change` s, SIGHUP every `hup` s."""

    def __init__(self, case, change=0.2, hup=1.0):
        super().__init__(daemon=True)
        self.case, self.change, self.hup = case, change, hup
        self.stop_flag = threading.Event()
        self.changes = self.hups = 0

    def run(self):
        start = time.monotonic()
        next_change, next_hup = start + self.change, start + self.hup
        while not self.stop_flag.is_set():
            now = time.monotonic()
            if now >= next_change:
                self.case.write_version(SG_ADDR if self.case.on_disk == EU_ADDR else EU_ADDR)
                self.changes += 1
                next_change += self.change
            if now >= next_hup:
                self.case.proc.send_signal(signal.SIGHUP)
                self.hups += 1
                next_hup += self.hup
            time.sleep(max(0.0, min(next_change, next_hup) - time.monotonic()))


def dnsperf(case, rate, duration):
    """Fixed-rate dnsperf on the client CPU -> dict of figures."""
    cmd = ["taskset", "-c", case.args.client_cpu, "dnsperf", "-s", "127.0.0.1", "-p", str(case.port),
           "-d", case.qfile, "-l", str(duration), "-c", "8", "-q", "200", "-t", "2",
           "-Q", str(rate), "-v", "-E", ECS_DE_DNSPERF]
    t0 = case.cpu_ticks()
    w0 = time.monotonic()
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    w1 = time.monotonic()
    t1 = case.cpu_ticks()
    lat, rcodes = [], {}
    sent = completed = lost = None
    for line in res.stdout.splitlines():
        if line.startswith("> "):
            parts = line.split()
            rcodes[parts[1]] = rcodes.get(parts[1], 0) + 1
            lat.append(float(parts[-1]) * 1000)
        elif "Queries sent:" in line:
            sent = int(line.split()[-1])
        elif "Queries completed:" in line:
            completed = int(line.split()[2])
        elif "Queries lost:" in line:
            lost = int(line.split()[2])
    lat.sort()

    def pct(p):
        if not lat:
            return None
        return lat[min(len(lat) - 1, max(0, int(p * len(lat) + 0.999999) - 1))]
    hz = os.sysconf("SC_CLK_TCK")
    return {"sent": sent, "completed": completed, "lost": lost, "rcodes": rcodes,
            "p50_ms": pct(0.5), "p99_ms": pct(0.99), "p999_ms": pct(0.999), "max_ms": lat[-1] if lat else None,
            "srv_cpu_pct": round(100.0 * (t1 - t0) / hz / (w1 - w0), 1)}


# -------------------------------------------------------------------- phases
def phase_start(case, rounds):
    out = []
    for r in range(rounds):
        elapsed = case.start()
        hwm, rss = case.status("VmHWM"), case.status("VmRSS")
        time.sleep(2)
        out.append({"start_s": elapsed, "hwm_kib": hwm, "rss_at_start_kib": rss,
                    "rss_steady_kib": case.status("VmRSS"), "hwm_after_2s_kib": case.status("VmHWM")})
        log("%s start %d: %.3f s, VmHWM %d MiB, VmRSS %d MiB (2 s later %d MiB)" % (
            case.name, r + 1, elapsed, hwm // 1024, rss // 1024, out[-1]["rss_steady_kib"] // 1024))
        if r < rounds - 1:
            case.stop()
    return out  # the last server keeps running


def measure_load(case, rate, duration, with_driver):
    allowed = {(EU_ADDR,), (SG_ADDR,)} if with_driver else {(EU_ADDR,)}
    checker = Checker(case, allowed)
    driver = Driver(case) if with_driver else None
    g0 = dnsprobe.Client("127.0.0.1", case.port).generation()
    checker.start()
    if driver:
        driver.start()
    res = dnsperf(case, rate, duration)
    if driver:
        driver.stop_flag.set()
        driver.join()
    checker.stop_flag.set()
    checker.join()
    res.update({"checker_asked": checker.asked, "checker_wrong": checker.wrong,
                "checker_noreply": checker.noreply, "checker_examples": checker.examples})
    if driver:
        # the last written version must be served once things settle
        want = [case.on_disk]
        client = dnsprobe.Client("127.0.0.1", case.port)
        settle, _ = dnsprobe.poll(lambda: client.addresses(dname(case.probe)) == want, limit=10)
        res.update({"changes": driver.changes, "hups": driver.hups,
                    "final_answer_after_s": settle,
                    "generations": (client.generation() or 0) - (g0 or 0)})
        client.close()
    res["rss_kib"], res["hwm_kib"] = case.status("VmRSS"), case.status("VmHWM")
    time.sleep(3)
    res["rss_3s_later_kib"] = case.status("VmRSS")
    return res


def quiet_after(case, seconds=3.0):
    """Generations published and server CPU over `seconds` with no file change."""
    client = dnsprobe.Client("127.0.0.1", case.port)
    g0, c0, w0 = client.generation(), case.cpu_ticks(), time.monotonic()
    time.sleep(seconds)
    g1, c1, w1 = client.generation(), case.cpu_ticks(), time.monotonic()
    client.close()
    hz = os.sysconf("SC_CLK_TCK")
    return {"extra_generations": (g1 or 0) - (g0 or 0),
            "idle_cpu_pct": round(100.0 * (c1 - c0) / hz / (w1 - w0), 1)}


def phase_one_name(case, rounds):
    out = []
    for r in range(rounds):
        case.start()
        time.sleep(0.5)
        client = dnsprobe.Client("127.0.0.1", case.port)
        g0 = client.generation()
        t0 = case.write_version(SG_ADDR)
        elapsed, _ = dnsprobe.poll(lambda: client.addresses(dname(case.probe)) == [SG_ADDR],
                                   limit=60, start=t0)
        client.close()
        rec = {"change_s": elapsed, "build_ms": case.build_ms((g0 or 1) + 1)}
        rec.update(quiet_after(case))
        out.append(rec)
        log("%s one-name change %d: %s s (build_ms %s); then %d more generations in 3 s idle, %.0f%% CPU" % (
            case.name, r + 1, "%.4f" % elapsed if elapsed is not None else "NEVER",
            rec["build_ms"], rec["extra_generations"], rec["idle_cpu_pct"]))
        case.stop()
    return out


def phase_full(case, rounds):
    out = []
    for r in range(rounds):
        case.start()
        time.sleep(0.5)
        client = dnsprobe.Client("127.0.0.1", case.port)
        g0 = client.generation()
        t0 = time.monotonic()
        case.proc.send_signal(signal.SIGHUP)
        elapsed, g1 = dnsprobe.poll(lambda: (lambda g: g if g is not None and g > g0 else None)(
            client.generation(timeout=0.001)), limit=60, start=t0)
        client.close()
        rec = {"reload_s": elapsed, "build_ms": case.build_ms(g0 + 1)}
        rec.update(quiet_after(case))
        rec.update({"rss_after_kib": case.status("VmRSS"), "hwm_after_kib": case.status("VmHWM")})
        out.append(rec)
        log("%s full reload %d: %s s (build_ms %s), VmHWM %d MiB; then %d more generations in 3 s idle, %.0f%% CPU" % (
            case.name, r + 1, "%.4f" % elapsed if elapsed is not None else "NEVER", rec["build_ms"],
            rec["hwm_after_kib"] // 1024, rec["extra_generations"], rec["idle_cpu_pct"]))
        case.stop()
    return out


def phase_latency(case, rounds, rate, duration):
    base, loop = [], []
    for r in range(rounds):
        for with_driver, sink in ((False, base), (True, loop)):
            case.start()
            time.sleep(0.5)
            res = measure_load(case, rate, duration, with_driver)
            sink.append(res)
            log("%s %s %d: p50 %.3f ms p99 %.3f ms lost %s/%s rcodes %s checker wrong %d noreply %d%s" % (
                case.name, "reload-loop" if with_driver else "baseline", r + 1, res["p50_ms"] or -1,
                res["p99_ms"] or -1, res["lost"], res["sent"], res["rcodes"], res["checker_wrong"],
                res["checker_noreply"],
                " changes %d hups %d generations %d" % (res["changes"], res["hups"], res["generations"])
                if with_driver else ""))
            case.stop()
    return base, loop


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--mmdb", required=True)
    ap.add_argument("--sizes", default="10,10000,100000,1000000")
    ap.add_argument("--single", default="1000000", help="sizes also run as one pin file ('' = none)")
    ap.add_argument("--per-shard", type=int, default=3906, help="names per shard (1M -> 256 shards)")
    ap.add_argument("--port", type=int, default=5398)
    ap.add_argument("--server-cpus", default="0")
    ap.add_argument("--client-cpu", default="1")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lat-rounds", type=int, default=2)
    ap.add_argument("--rate", type=int, default=20000)
    ap.add_argument("--dur", type=int, default=15)
    ap.add_argument("--single-loop", action="store_true", help="also run the reload loop on one-file cases")
    ap.add_argument("--start-limit", type=float, default=300)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.sched_setaffinity(0, {int(c) for c in args.client_cpu.split(",")})
    args.bin = os.path.abspath(args.bin)
    cases = [(int(s), "dir") for s in args.sizes.split(",") if s]
    cases += [(int(s), "file") for s in args.single.split(",") if s]
    for count, layout in cases:
        case = Case(args, count, layout)
        case.prepare()
        rec = {"case": case.name, "count": count, "layout": layout, "shards": case.shards,
               "server_cpus": args.server_cpus, "rate": args.rate, "dur": args.dur}
        try:
            rec["start"] = phase_start(case, args.rounds)
            case.stop()
            rec["one_name"] = phase_one_name(case, args.rounds)
            rec["full"] = phase_full(case, args.rounds)
            if layout == "dir" or args.single_loop:
                rec["base"], rec["loop"] = phase_latency(case, args.lat_rounds, args.rate, args.dur)
        finally:
            case.stop()
        with open(args.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        shutil.rmtree(case.dir)
    print(table(args.out))


# -------------------------------------------------------------------- report
def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec="%.0f", none="-"):
    return none if v is None else spec % v


def ms(v):
    return "-" if v is None else "%.1f" % (v * 1000)


def table(path):
    rows = [json.loads(line) for line in open(path)]
    out = ["| names | layout | cold start s: median (min..max) | VmHWM MiB | VmRSS MiB: after start / after reload loop "
           "| one-name change ms: median (max) | its build_ms | full reload (SIGHUP) ms: median (max) | its build_ms "
           "| generations published / server CPU % in 3 s idle after one reload | p50 / p99 ms, no reload | p50 / p99 ms, reload loop "
           "| lost queries: no reload / reload loop | checker: wrong or unanswered |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        st = r["start"]
        starts = [x["start_s"] for x in st]
        base, loop = r.get("base", []), r.get("loop", [])
        hwm = max([x["hwm_after_2s_kib"] for x in st] + [x["hwm_after_kib"] for x in r["full"]] +
                  [x["hwm_kib"] for x in loop])
        one = [x["change_s"] for x in r["one_name"]]
        full = [x["reload_s"] for x in r["full"]]
        extra = sorted(x["extra_generations"] for x in r["one_name"] + r["full"])
        idle = sorted(x["idle_cpu_pct"] for x in r["one_name"] + r["full"])

        def lat(runs):
            if not runs:
                return "-"
            return "%s / %s" % (fmt(med([x["p50_ms"] for x in runs]), "%.3f"), fmt(med([x["p99_ms"] for x in runs]), "%.3f"))

        def lost(runs):
            if not runs:
                return "-"
            return "%d of %d" % (sum(x["lost"] or 0 for x in runs), sum(x["sent"] or 0 for x in runs))
        bad = sum(x["checker_wrong"] + x["checker_noreply"] for x in base + loop)
        asked = sum(x["checker_asked"] for x in base + loop)
        never = lambda xs: " (%d never)" % xs.count(None) if None in xs else ""
        out.append("| %s | %s | %s (%s..%s) | %d | %d / %s | %s (%s)%s | %s | %s (%s)%s | %s | %s | %s | %s | %s / %s | %s |" % (
            "{:,}".format(r["count"]), "%d shards" % r["shards"] if r["layout"] == "dir" else "one file",
            fmt(med(starts), "%.3f"), fmt(min(starts), "%.3f"), fmt(max(starts), "%.3f"),
            hwm // 1024, med([x["rss_steady_kib"] for x in st]) // 1024,
            "%d" % (med([x["rss_kib"] for x in loop]) // 1024) if loop else "-",
            ms(med(one)), ms(max([x for x in one if x is not None], default=None)), never(one),
            fmt(med([x["build_ms"] for x in r["one_name"]]), "%.1f"),
            ms(med(full)), ms(max([x for x in full if x is not None], default=None)), never(full),
            fmt(med([x["build_ms"] for x in r["full"]]), "%.1f"),
            "%d..%d / %.0f..%.0f" % (extra[0], extra[-1], idle[0], idle[-1]),
            lat(base), lat(loop), lost(base), lost(loop),
            "%d of %d" % (bad, asked) if asked else "-"))
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--table":
        print(table(sys.argv[2]))
    else:
        main()

#!/usr/bin/env python3
"""Live broadcasting: 1 source and N viewer engines on loopback, viewers 1, 2
and 3 hops away; latency per hop, the source's upload, memory per engine.

Driven by bench/live/run.sh, which prints the conditions. By hand:

    live_bench.py --build BUILD [--viewers 10] [--seconds 60] [--warmup 70]
                  [--source ts|lavfi]

Topology (the swarm's pex off, bootstrap_peers only): hop-1 viewers know
the source, hop-2 viewers know every hop-1 viewer, hop-3 viewers every
hop-2 viewer (N split in three, the remainder to the farthest hops). Every
viewer plays /ace/getstream?id=<content ID> from the start, as a player
would (hop by hop: a hop starts playing once the hop before plays), and
discards the bytes.

Figures, after a warm-up (--warmup, default 70 s: the chunks a viewer
fetched from behind the edge when it joined have left its latency samples)
once every viewer plays:
  - latency: each viewer's live stats (`list` streams: latency_median_ms,
    latency_p95_ms: ms from the chunk's ts_ms at the source to the chunk
    verified at that viewer, over its last chunks), sampled every few
    seconds; per hop, the median of the samples' medians and of their p95s;
  - the source's upload over the measured interval divided by the bytes of
    the chunks it made in that interval (the stream's own bitrate);
  - VmRSS of the source and of each viewer at the end (median, max).
Targets: p95 < 2 s at 3 hops, source upload < 1.5x the bitrate. Prints
PASS or MISS for each; exits 0 unless the run itself broke (1).
"""
import argparse
import os
import shutil
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import test_live as tl  # noqa: E402  (may re-execute under the system python3)
sys.path.insert(0, os.path.join(ROOT, "bench", "swarm-throughput"))
import swarm_bench as sb  # noqa: E402  (Fail, quiet)

st, oatest, tsl = tl.st, tl.oatest, tl.tsl
Fail, quiet = sb.Fail, sb.quiet
# The swarm's latency figures cover a viewer's last 64 chunks
# (LIVE_LAT_SAMPLES), the first of which came from before it joined
# (live_join_behind): measuring starts once those have left them.
WARMUP_S = 70.0
SAMPLE_S = 3.0
TARGET_LATENCY_MS = 2000
TARGET_UPLOAD = 1.5


class Drain(threading.Thread):
    """A player: reads a getstream URL and counts the bytes."""

    def __init__(self, port, path):
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.bytes = 0
        self.first = threading.Event()
        self.halt = threading.Event()
        self.error = None

    def run(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", self.path)
            r = conn.getresponse()
            if r.status != 200:
                self.error = f"HTTP {r.status}"
                return
            while not self.halt.is_set():
                b = r.read1(65536)
                if not b:
                    self.error = "the stream ended"
                    break
                self.bytes += len(b)
                self.first.set()
        except (OSError, http.client.HTTPException) as e:
            self.error = f"{type(e).__name__}: {e}"
        finally:
            conn.close()
            self.first.set()


def split_hops(n):
    base, extra = divmod(n, 3)
    sizes = [base, base, base]
    for i in range(extra):
        sizes[2 - i] += 1
    if n < 3:
        sizes = [1 if i < n else 0 for i in range(3)]
    return sizes


def rss_kib(pid):
    return tsl.vm_kib(pid, "VmRSS") or 0


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def run(opts):
    source = tl.LAVFI if opts.source == "lavfi" else tl.clip()
    with quiet("start the source"):
        src = tl.Host("src", log_level="info")
        start = {"window": max(60, int(opts.seconds + opts.warmup + 30)), "chunk_seconds": 1}
        if opts.source != "lavfi":
            start["loop"] = True
        res = tl.start_broadcast(src, "bench", source=source, **start)
        cid = res["content_id"]
        tl.wait_source_chunks(src, cid, n=2)
    sizes = split_hops(opts.viewers)
    hops = [[], [], []]
    prev = [src]
    with quiet("start the viewers"):
        for h in range(3):
            for i in range(sizes[h]):
                hops[h].append(tl.Host(f"h{h + 1}v{i + 1}", prev, log_level="info"))
            prev = hops[h] or prev
    viewers = [v for hop in hops for v in hop]
    print(f"content {cid}; viewers per hop {sizes[0]} / {sizes[1]} / {sizes[2]}", flush=True)
    # Hop by hop: a hop's viewers start once the hop before plays (a box
    # relays only the streams it has open).
    drains = []
    for hop in hops:
        started = []
        for v in hop:
            d = Drain(v.port, f"/ace/getstream?id={cid}")
            d.start()
            started.append((v, d))
        for v, d in started:
            if not d.first.wait(120) or d.error:
                raise Fail(f"{v.name} does not play ({d.error}):\n{v.tail()}")
        drains += [d for _, d in started]
    print(f"every viewer plays; warm-up {opts.warmup:.0f} s, then {opts.seconds:.0f} s measured",
          flush=True)
    time.sleep(opts.warmup)

    up0 = src.stream(cid).get("uploaded", 0)
    t0_ms = int(time.time() * 1000)
    samples = {v.name: [] for v in viewers}
    end = time.monotonic() + opts.seconds
    while time.monotonic() < end:
        time.sleep(min(SAMPLE_S, max(0.0, end - time.monotonic())))
        for v in viewers:
            s = v.stream(cid)
            if s.get("latency_median_ms") is not None:
                samples[v.name].append((s["latency_median_ms"], s.get("latency_p95_ms", 0)))
    t1_ms = int(time.time() * 1000)
    up1 = src.stream(cid).get("uploaded", 0)
    table = src.chunk_table(cid)
    made = sum(size for size, _, ts in table.values() if ts is not None and t0_ms <= ts < t1_ms)
    n_made = sum(1 for _, _, ts in table.values() if ts is not None and t0_ms <= ts < t1_ms)
    broken = [f"{v.name}: {d.error}" for v, d in zip(viewers, drains) if d.error]
    mem_src = rss_kib(src.oa.pid)
    mem = {v.name: rss_kib(v.oa.pid) for v in viewers}
    for d in drains:
        d.halt.set()

    secs = (t1_ms - t0_ms) / 1000.0
    bitrate = made * 8 / secs if secs > 0 else 0
    print()
    print(f"stream:      {n_made} chunks, {made} bytes in {secs:.1f} s = "
          f"{bitrate / 1e6:.2f} Mbit/s ({opts.source} source)")
    if broken:
        print("players that ended early: " + "; ".join(broken))
    rows = []
    lat3 = None
    for h in range(3):
        names = [v.name for v in hops[h]]
        meds = [m for n in names for m, _ in samples[n]]
        p95s = [p for n in names for _, p in samples[n]]
        if not names:
            continue
        m, p = med(meds), med(p95s)
        worst = max(p95s) if p95s else float("nan")
        rows.append((f"latency, hop {h + 1} ({len(names)} viewers): median", m, "ms"))
        rows.append((f"latency, hop {h + 1}: p95 (median of samples)", p, "ms"))
        rows.append((f"latency, hop {h + 1}: p95 (worst sample)", worst, "ms"))
        if h == 2 or (h < 2 and not any(hops[h + 1:])):
            lat3 = (h + 1, p)
    ratio = (up1 - up0) / made if made else float("nan")
    rows.append(("source upload / stream bitrate", ratio, "x"))
    rows.append(("VmRSS, source", mem_src / 1024, "MiB"))
    rows.append((f"VmRSS, viewer (median of {len(mem)})", med(list(mem.values())) / 1024, "MiB"))
    rows.append(("VmRSS, viewer (max)", max(mem.values()) / 1024, "MiB"))
    print()
    for label, val, unit in rows:
        print(f"{label:<50} {val:10.2f} {unit}")
    print()
    if lat3:
        ok = lat3[1] < TARGET_LATENCY_MS
        print(f"target: p95 latency at {lat3[0]} hops < {TARGET_LATENCY_MS} ms: "
              f"{'PASS' if ok else 'MISS'} ({lat3[1]:.0f} ms)")
    ok = ratio < TARGET_UPLOAD
    print(f"target: source upload < {TARGET_UPLOAD}x the bitrate: {'PASS' if ok else 'MISS'} "
          f"({ratio:.2f}x)")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--viewers", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=WARMUP_S)
    ap.add_argument("--source", choices=("ts", "lavfi"), default="ts")
    opts = ap.parse_args()
    oatest.build.set(opts.build)
    oatest._tmp_prefix = "oa-bench-live-"
    try:
        return run(opts)
    except Fail as e:
        print(f"FAILED: {e}")
        return 1
    finally:
        for eng in oatest.live_procs:
            eng.kill()
        st.kill_procs()
        for d in oatest.temp_dirs:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Swarm throughput: OpenAce seeder -> OpenAce leecher against libtorrent
seeder -> libtorrent leecher, on loopback, side by side in one run.

Driven by bench/swarm-throughput/run.sh, which prints the conditions and
owns the work directories. By hand:

    swarm_bench.py --build BUILD --shm DIR [--size-mb 512] [--runs 3] [--piece-kib 1024]

For each run and each pair: MB/s (payload bytes / wall time from the
leecher's add to its completion; 1 MB = 10^6 bytes) and CPU seconds per GiB
moved (user + system time of the seeder and the leecher processes over the
transfer, from /proc/<pid>/stat), then the medians over the runs and the
ratios OpenAce / libtorrent. Exit status 0 when every transfer completed
with identical bytes, 1 otherwise.

`swarm_bench.py lt-peer ...` is one libtorrent side (a process of its own,
so that its CPU time is its own); see lt_peer_main().
"""
import argparse
import contextlib
import io
import os
import select
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "interop"))
import swarmtest as st  # noqa: E402  (may re-execute under the system python3)

TIMEOUT = 900.0  # seconds one transfer may take
CLK = os.sysconf("SC_CLK_TCK")
GIB = 1 << 30


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK  # fields 14 and 15


def same_file(a, b):
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x = fa.read(1 << 22)
            if x != fb.read(1 << 22):
                return False
            if not x:
                return True


class Fail(Exception):
    pass


@contextlib.contextmanager
def quiet(what):
    """Hides swarmtest's check lines; shows them when something fails."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            yield
        if st.oatest.failed:
            raise Fail(what)
    except (st.oatest.CaseAbort, Fail, OSError) as e:
        print(buf.getvalue())
        st.oatest.failed = 0
        raise Fail(f"{what}: {e}")


# ---- OpenAce -> OpenAce -----------------------------------------------------------

def run_openace(tpath, src_parent, dest, size, ih):
    engines = []
    try:
        with quiet("OpenAce seeder"):
            seeder = st.Oa("bench-seeder", log_level="info")
            engines.append(seeder)
            seeder.add({"uri": tpath, "dir": src_parent})
            seeder.wait_state(ih, ("seeding",), timeout=TIMEOUT)
        with quiet("OpenAce leecher"):
            leecher = st.Oa("bench-leecher", {"bootstrap_peers": f"127.0.0.1:{seeder.port}"},
                            log_level="info")
            engines.append(leecher)
            events = leecher.events("swarm.content.*")
        c0 = cpu_seconds(seeder.pid) + cpu_seconds(leecher.pid)
        t0 = time.monotonic()
        with quiet("OpenAce leecher add"):
            leecher.add({"uri": tpath, "dir": dest})
        done = None
        while time.monotonic() - t0 < TIMEOUT:
            ev = events.wait_for(lambda e: e[0] == "swarm.content.completed", timeout=1.0)
            if ev is not None:
                done = time.monotonic()
                break
            s = leecher.stats(ih) or {}
            if s.get("state") == "seeding":  # the event may have been dropped
                done = time.monotonic()
                break
            if s.get("state") == "error" or leecher.eng.proc.poll() is not None:
                break
        c1 = cpu_seconds(seeder.pid) + cpu_seconds(leecher.pid)
        if done is None:
            raise Fail("OpenAce leecher did not complete:\n" + leecher.describe(ih))
        return done - t0, c1 - c0
    finally:
        for r in st._readers:
            r.close()
        st._readers.clear()
        for e in engines:
            e.eng.kill()


# ---- libtorrent -> libtorrent ---------------------------------------------------------

class LtProc:
    def __init__(self, role, tpath, save, connect=None):
        args = [sys.executable, os.path.abspath(__file__), "lt-peer", "--role", role,
                "--torrent", tpath, "--save", save]
        if connect:
            args += ["--connect", str(connect)]
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)
        self.pid = self.p.pid
        self.port = None

    def expect(self, word, timeout=TIMEOUT):
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not ready:
            raise Fail(f"libtorrent {word}: nothing within {timeout:.0f} s")
        line = self.p.stdout.readline()
        if not line.startswith(word):
            raise Fail(f"libtorrent {word}: got {line!r} (exit {self.p.poll()})")
        return line.split()[1:]

    def say(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def run_libtorrent(tpath, src_parent, dest):
    seed = leech = None
    try:
        seed = LtProc("seed", tpath, src_parent)
        port = int(seed.expect("READY")[0])
        leech = LtProc("leech", tpath, dest, connect=port)
        leech.expect("READY")
        c0 = cpu_seconds(seed.pid) + cpu_seconds(leech.pid)
        t0 = time.monotonic()
        leech.say("GO")
        leech.expect("DONE")
        t1 = time.monotonic()
        c1 = cpu_seconds(seed.pid) + cpu_seconds(leech.pid)
        return t1 - t0, c1 - c0
    finally:
        for p in (seed, leech):
            if p is not None:
                p.kill()


def lt_peer_main(argv):
    """One libtorrent side. Prints "READY <port>" once seeding (seed) or
    once its session is up (leech); a leech then waits for "GO" on stdin,
    adds the torrent, connects to --connect and prints "DONE" when
    finished. Both exit when stdin closes."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=("seed", "leech"), required=True)
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--save", required=True)
    ap.add_argument("--connect", type=int)
    a = ap.parse_args(argv)
    lt = st.lt
    port = st.free_port()
    ses = lt.session(st.lt_settings(port))
    ti = lt.torrent_info(a.torrent)

    def add():
        p = lt.add_torrent_params()
        p.ti = ti
        p.save_path = a.save
        p.flags &= ~lt.torrent_flags.auto_managed
        p.flags &= ~lt.torrent_flags.paused
        return ses.add_torrent(p)

    if a.role == "seed":
        h = add()  # a full check of the files, as the OpenAce seeder does
        while not h.status().is_seeding:
            ses.wait_for_alert(200)
            ses.pop_alerts()
        print(f"READY {port}", flush=True)
    else:
        print(f"READY {port}", flush=True)
        if sys.stdin.readline().strip() != "GO":
            return 1
        h = add()
        h.connect_peer(("127.0.0.1", a.connect))
        last = time.monotonic()
        while True:
            ses.wait_for_alert(500)
            done = any(isinstance(x, lt.torrent_finished_alert) for x in ses.pop_alerts())
            if done or h.status().is_finished:
                break
            if time.monotonic() - last > 5 and h.status().num_peers == 0:
                h.connect_peer(("127.0.0.1", a.connect))
                last = time.monotonic()
        print("DONE", flush=True)
    sys.stdin.read()  # until the parent closes or kills us
    return 0


# ---- the run ---------------------------------------------------------------------------

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def row(label, xs, unit, fmt="{:.1f}"):
    if not xs:
        print(f"{label:<46} {'-':>10} {'-':>10} {'-':>10}  {unit}")
        return
    print(f"{label:<46} {fmt.format(med(xs)):>10} {fmt.format(min(xs)):>10} "
          f"{fmt.format(max(xs)):>10}  {unit}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--shm", required=True, help="a tmpfs folder for the content")
    ap.add_argument("--size-mb", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--piece-kib", type=int, default=1024)
    a = ap.parse_args()
    st.need_libtorrent()
    st.oatest.build.set(a.build)
    for need in ("bin/openace", "plugins/swarm.so", "plugins/transport-tcp.so"):
        if not os.path.exists(os.path.join(st.oatest.build.dir, need)):
            print(f"missing build output {need}: build the swarm target first")
            return 1

    size = a.size_mb << 20
    src_parent = os.path.join(a.shm, "src")
    print(f"content:     one file of {a.size_mb} MiB of random bytes in {a.shm} "
          f"({shutil.disk_usage(a.shm).free >> 20} MiB free there), "
          f"pieces of {a.piece_kib} KiB")
    t = time.monotonic()
    content = st.make_content(src_parent, "bench", [("bench.bin", size)])
    tpath = os.path.join(a.shm, "bench.torrent")
    data, ih, ti = st.make_torrent(content, piece_size=a.piece_kib << 10, out=tpath)
    print(f"torrent:     {ih}, {ti.num_pieces()} pieces, made in {time.monotonic() - t:.1f} s")
    print(f"libtorrent:  {st.lt.__version__} (python3-libtorrent, one process per side, "
          "default settings but loopback only, no uTP, no encryption)")
    print("method:      per run, fresh peers; OpenAce: time from the leecher's `add` to "
          "swarm.content.completed;")
    print("             libtorrent: from add_torrent to torrent_finished_alert; CPU = "
          "utime+stime of seeder + leecher")
    print()
    src = os.path.join(content, "bench.bin")
    res = {"oa": [], "lt": []}
    ratios = {"mbs": [], "cpu": []}
    ok = True
    for i in range(1, a.runs + 1):
        line = {}
        for kind in ("oa", "lt"):
            dest = os.path.join(a.shm, f"dest-{kind}-{i}")
            os.makedirs(dest)
            try:
                if kind == "oa":
                    secs, cpu = run_openace(tpath, src_parent, dest, size, ih)
                else:
                    secs, cpu = run_libtorrent(tpath, src_parent, dest)
                got = os.path.join(dest, "bench", "bench.bin")
                if not os.path.exists(got) or not same_file(src, got):
                    raise Fail("the downloaded file differs from the source")
                mbs = size / secs / 1e6
                cpg = cpu / (size / GIB)
                res[kind].append((mbs, cpg))
                line[kind] = (mbs, cpg, secs, cpu)
            except Fail as e:
                ok = False
                print(f"  run {i} {kind}: FAILED: {e}")
            finally:
                shutil.rmtree(dest, ignore_errors=True)
        parts = []
        for kind, name in (("oa", "OpenAce"), ("lt", "libtorrent")):
            if kind in line:
                mbs, cpg, secs, cpu = line[kind]
                parts.append(f"{name} {mbs:7.1f} MB/s {cpg:5.2f} CPU s/GiB "
                             f"({secs:.2f} s, {cpu:.2f} CPU s)")
        print(f"  run {i}: " + " | ".join(parts), flush=True)
        if "oa" in line and "lt" in line:
            ratios["mbs"].append(line["oa"][0] / line["lt"][0])
            ratios["cpu"].append(line["oa"][1] / line["lt"][1])

    oa_mbs = [x[0] for x in res["oa"]]
    lt_mbs = [x[0] for x in res["lt"]]
    oa_cpu = [x[1] for x in res["oa"]]
    lt_cpu = [x[1] for x in res["lt"]]
    print()
    print(f"== Summary: medians of {a.runs} run(s) (min, max), {a.size_mb} MiB over loopback ==")
    print(f"{'measurement':<46} {'median':>10} {'min':>10} {'max':>10}  unit")
    row("OpenAce -> OpenAce throughput", oa_mbs, "MB/s")
    row("libtorrent -> libtorrent throughput", lt_mbs, "MB/s")
    row("throughput ratio OpenAce/libtorrent (paired)", ratios["mbs"], "x (above 1: faster)",
        "{:.2f}")
    row("OpenAce CPU (seeder + leecher)", oa_cpu, "CPU s/GiB", "{:.2f}")
    row("libtorrent CPU (seeder + leecher)", lt_cpu, "CPU s/GiB", "{:.2f}")
    row("CPU ratio OpenAce/libtorrent (paired)", ratios["cpu"], "x (below 1: cheaper)",
        "{:.2f}")
    if oa_mbs and lt_mbs:
        print(f"ratio of the medians: throughput {med(oa_mbs) / med(lt_mbs):.2f}x, "
              f"CPU per GiB {med(oa_cpu) / med(lt_cpu):.2f}x")
    if not ok:
        print("Some transfers FAILED; see the FAILED lines.")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "lt-peer":
        sys.exit(lt_peer_main(sys.argv[2:]))
    rc = 1
    try:
        rc = main()
    finally:
        for eng in st.oatest.live_procs:
            eng.kill()
        for d in st.oatest.temp_dirs:
            shutil.rmtree(d, ignore_errors=True)
    sys.exit(rc)

#!/usr/bin/env python3
"""Startup: time to the first stream byte and to the first HLS segment with
OpenAce's streamer, against python3-libtorrent's sequential download read
through the file, for content seeded by a local libtorrent peer.

Driven by bench/startup/run.sh, which prints the conditions and owns the
work directory. By hand:

    startup_bench.py --build BUILD --work DIR [--runs 5] [--seconds 60]
                     [--mbit 4] [--piece-kib 256] [--seg-seconds 2]
                     [--source infohash|torrent]

Per run, with fresh leechers each time (the seeder stays up for all runs),
each idle for settle() seconds before its clock starts:
  1. OpenAce getstream: a fresh engine (transport-tcp, swarm, segmenter,
     streamer; the seeder in bootstrap_peers; nothing on disk); from sending
     GET /ace/getstream?<source> to the first body byte received.
  2. libtorrent: a fresh session in a process of its own, sequential
     download; from add_torrent to the first piece being readable through
     the file, and to the first --seg-seconds of bytes (at the file's mean
     bit rate) being readable through the file in order.
  3. OpenAce HLS: another fresh engine; from sending
     GET /ace/manifest.m3u8?<source> to the first byte of the first segment
     the playlist names (the playlist's own time is printed too).
Then the medians (min, max) and the ratios OpenAce/libtorrent: of the
medians for the totals, and paired run by run for the time after the first
connection to the seeder (OpenAce's from its debug log, libtorrent's from
peer_connect_alert), which does not depend on the phase of the 1 s
connection timers both sides have. Times are never asserted. Exit status 0 when every measurement
completed, 1 otherwise.

`startup_bench.py lt-leech ...` is the libtorrent leecher; see
lt_leech_main().
"""
import argparse
import contextlib
import datetime
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
sys.path.insert(0, os.path.join(ROOT, "bench", "swarm-throughput"))
import swarmtest as st  # noqa: E402  (may re-execute under the system python3)
import swarm_bench as sb  # noqa: E402  (its libtorrent seeder process, Fail, quiet)
import media  # noqa: E402  (tests/integration, put on the path by swarmtest)

STREAM_PLUGINS = ("transport-tcp", "swarm", "segmenter", "streamer")
START_TIMEOUT = 60  # the streamer's start_timeout (its default), set explicitly
HTTP_WAIT = START_TIMEOUT + 30.0  # seconds a request may take before we give up
LT_WAIT = 120.0  # seconds the libtorrent leecher may take
# Both sides connect to peers from a once-a-second timer started with the
# engine or session, so the time to the first connection depends on when in
# that second the clock starts. A fresh leecher idles SETTLE seconds plus a
# fraction of a second that steps evenly through the second over the runs
# (the same for both sides), so that the medians are not phase-locked.
SETTLE = 0.5


def settle(i, runs):
    """Seconds leechers idle before the clock starts in run i of runs."""
    return SETTLE + (i - 0.5) / runs
PREFIX = 64 << 10  # bytes of the stream compared with the source after the timing

Fail = sb.Fail


# ---- OpenAce engines with the streamer ------------------------------------------------

def start_engine(name, seed_port, streamer_settings, idle):
    with sb.quiet(f"OpenAce engine {name}"):
        eng = st.Oa(name, {"bootstrap_peers": f"127.0.0.1:{seed_port}"}, log_level="debug",
                    plugins=STREAM_PLUGINS, config={"streamer": streamer_settings})
    time.sleep(idle)
    return eng


def connected_after(eng, seed_port, wall0):
    """Seconds from wall0 (time.time()) to the engine's debug log line
    saying its connection to the seeder is up (after the handshakes), or
    None. The log's timestamps have millisecond resolution."""
    want = f"peer 127.0.0.1:{seed_port}: connected"
    deadline = time.monotonic() + 2.0
    while True:
        for x in eng.eng.lines():
            if x.get("tag") == "swarm" and str(x.get("msg", "")).startswith(want):
                try:
                    t = datetime.datetime.strptime(x["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
                except (KeyError, ValueError):
                    return None
                t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
                return t - wall0 if t >= wall0 - 0.002 else None
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def end_engine(eng):
    if eng is not None:
        eng.eng.kill()
        shutil.rmtree(eng.env.root, ignore_errors=True)


# ---- HTTP, timed at the socket --------------------------------------------------------

def dechunk(raw):
    """The data of a chunked body received as far as raw (which may end
    in the middle of a chunk)."""
    out = b""
    i = 0
    while True:
        j = raw.find(b"\r\n", i)
        if j < 0:
            return out
        try:
            size = int(raw[i:j].split(b";")[0], 16)
        except ValueError:
            return out
        if size == 0:
            return out
        out += raw[j + 2:j + 2 + size]
        i = j + 2 + size + 2
        if i > len(raw):
            return out


class Reply:
    """One response read from a raw socket, at first up to its first body
    byte."""

    def __init__(self, status, headers, raw, sock):
        self.status = status
        self.headers = headers  # lower-case name -> value
        self.raw = raw  # the bytes after the header received so far
        self.sock = sock
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()

    @property
    def body(self):
        return dechunk(self.raw) if self.chunked else self.raw

    def more(self, want, deadline):
        """Reads until the body has want bytes, the connection ends or the
        deadline passes; returns the body so far."""
        while len(self.body) < want and time.monotonic() < deadline:
            if self.chunked and (self.raw.startswith(b"0\r\n") or b"\r\n0\r\n\r\n" in self.raw):
                break  # the last chunk
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                b = self.sock.recv(1 << 16)
            except (socket.timeout, OSError):
                break
            if not b:
                break
            self.raw += b
        return self.body

    def rest_text(self, deadline):
        return self.more(4096, deadline).decode("utf-8", "replace").strip()[:600]

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()


def timed_get(port, path, timeout=HTTP_WAIT):
    """Connects to the engine, sends GET path and reads until the first
    body byte (or the end of a response without a body). Returns
    (seconds from before the connect to that byte, Reply)."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "User-Agent: openace-bench-startup\r\nConnection: close\r\n\r\n".encode())
    except OSError as e:
        raise Fail(f"GET {path}: {e}")
    buf = b""
    r = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            s.close()
            raise Fail(f"GET {path}: no first body byte within {timeout:.0f} s "
                       + (f"(status {r.status})" if r else "(no response headers)"))
        s.settimeout(left)
        try:
            b = s.recv(1 << 16)
        except socket.timeout:
            continue
        except OSError as e:
            s.close()
            raise Fail(f"GET {path}: {e}")
        if r is None:
            buf += b
            if b"\r\n\r\n" in buf:
                head, rest = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                hdrs = {}
                for ln in lines[1:]:
                    k, _, v = ln.partition(":")
                    hdrs[k.strip().lower()] = v.strip()
                try:
                    status = int(lines[0].split()[1])
                except (IndexError, ValueError):
                    s.close()
                    raise Fail(f"GET {path}: not an HTTP status line: {lines[0]!r}")
                r = Reply(status, hdrs, rest, s)
        else:
            r.raw += b
        if r is not None and (r.body or r.headers.get("content-length") == "0"):
            return time.monotonic() - t0, r
        if not b:
            if r is None:
                s.close()
                raise Fail(f"GET {path}: the connection closed before any response")
            return time.monotonic() - t0, r


def get_whole(port, path, timeout=HTTP_WAIT):
    """GET path; returns (seconds to the end of the response, status, body)."""
    t0 = time.monotonic()
    _, r = timed_get(port, path, timeout)
    try:
        deadline = t0 + timeout
        clen = r.headers.get("content-length", "")
        body = r.more(int(clen) if clen.isdigit() else 1 << 24, deadline)
        return time.monotonic() - t0, r.status, body
    finally:
        r.close()


# ---- the OpenAce measurements ---------------------------------------------------------

def oa_getstream(eng, query, src_prefix):
    """Seconds from sending GET /ace/getstream?query to its first body byte;
    the first bytes are then compared with the source (not timed)."""
    path = f"/ace/getstream?{query}"
    eng.wall0 = time.time()
    secs, r = timed_get(eng.env.http_port, path)
    try:
        deadline = time.monotonic() + HTTP_WAIT
        if r.status not in (200, 206):
            raise Fail(f"GET {path} -> {r.status}: {r.rest_text(deadline)!r}")
        got = r.more(len(src_prefix), deadline)
        if got[:len(src_prefix)] != src_prefix[:len(got)] or len(got) < len(src_prefix):
            raise Fail(f"GET {path} -> {r.status}: the first {len(src_prefix)} bytes of the "
                       f"stream are not the file's ({len(got)} received, "
                       f"Content-Type {r.headers.get('content-type')!r})")
        return secs
    finally:
        r.close()


def oa_hls(eng, query):
    """(seconds from sending GET /ace/manifest.m3u8?query to the first byte
    of the first segment it names, seconds to the whole playlist)."""
    port = eng.env.http_port
    path = f"/ace/manifest.m3u8?{query}"
    eng.wall0 = time.time()
    t0 = time.monotonic()
    pl_secs, status, body = get_whole(port, path)
    text = body.decode("utf-8", "replace")
    if status != 200 or not text.startswith("#EXTM3U"):
        raise Fail(f"GET {path} -> {status}: {text.strip()[:600]!r}")
    uris = [x.strip() for x in text.splitlines() if x.strip() and not x.startswith("#")]
    if not uris:
        raise Fail(f"GET {path} -> 200 but the playlist names no segment:\n{text[:600]}")
    u = urllib.parse.urlsplit(uris[0])
    seg = u.path + (f"?{u.query}" if u.query else "")
    if not seg.startswith("/"):
        seg = urllib.parse.urljoin(path, seg)
    _, r = timed_get(port, seg)
    t1 = time.monotonic()
    try:
        if r.status != 200 or not r.body or r.body[:1] != b"\x47":
            raise Fail(f"GET {seg} (first segment of {path}) -> {r.status}, first byte "
                       f"{r.body[:1]!r} (want 0x47): {r.rest_text(time.monotonic() + 5)!r}")
    finally:
        r.close()
    return t1 - t0, pl_secs


# ---- libtorrent -----------------------------------------------------------------------

class LtLeech(sb.LtProc):
    """This script's lt-leech in a process of its own (swarm_bench's
    process protocol: READY, GO, then one result line)."""

    def __init__(self, args):
        self.p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "lt-leech"] + args,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  bufsize=1)
        self.pid = self.p.pid
        self.port = None


def lt_leech_main(argv):
    """The libtorrent leecher. Starts a session (loopback only, the interop
    tests' settings), prints "READY <port>", waits for "GO" on stdin, then
    adds the content (a .torrent, or a magnet of the info-hash) with
    sequential download, connects to the seeder, and watches until the
    file's first piece and then its first --seg-bytes are readable through
    the file (have_piece, then read and compared with --source). Prints
    "TIMES <first> <seg> <metadata> <connect>" (seconds from the add;
    metadata: when the torrent's metadata was known; connect: when the
    outgoing connection to the seeder was started, peer_connect_alert)
    or "FAIL <reason>"."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--torrent")
    ap.add_argument("--infohash")
    ap.add_argument("--save", required=True)
    ap.add_argument("--connect", type=int, required=True)
    ap.add_argument("--source", required=True, help="the seeded file, for comparison")
    ap.add_argument("--seg-bytes", type=int, required=True)
    a = ap.parse_args(argv)
    lt = st.lt
    with open(a.source, "rb") as f:
        src = f.read(a.seg_bytes)
    port = st.free_port()
    mask = (lt.alert.category_t.error_notification | lt.alert.category_t.status_notification |
            lt.alert.category_t.piece_progress_notification |
            lt.alert.category_t.connect_notification)
    ses = lt.session(st.lt_settings(port, alert_mask=mask))
    ti = lt.torrent_info(a.torrent) if a.torrent else None
    print(f"READY {port}", flush=True)
    if sys.stdin.readline().strip() != "GO":
        return 1
    t0 = time.monotonic()
    if ti is not None:
        p = lt.add_torrent_params()
        p.ti = ti
    else:
        p = lt.parse_magnet_uri(f"magnet:?xt=urn:btih:{a.infohash}")
    p.save_path = a.save
    p.flags &= ~lt.torrent_flags.auto_managed
    p.flags &= ~lt.torrent_flags.paused
    p.flags |= lt.torrent_flags.sequential_download
    h = ses.add_torrent(p)
    h.connect_peer(("127.0.0.1", a.connect))
    t_meta = t_first = t_seg = t_conn = None
    last_connect = time.monotonic()
    path = None
    plen = 0

    def readable(n):
        try:
            with open(path, "rb") as f:
                return f.read(n) == src[:n]
        except OSError:
            return False

    while t_seg is None:
        now = time.monotonic()
        if now - t0 > LT_WAIT:
            print(f"FAIL nothing within {LT_WAIT:.0f} s: metadata={t_meta} first={t_first}",
                  flush=True)
            sys.stdin.read()
            return 0
        ses.wait_for_alert(50)
        for al in ses.pop_alerts():
            if t_conn is None and isinstance(al, lt.peer_connect_alert):
                t_conn = time.monotonic() - t0
            if isinstance(al, (lt.torrent_error_alert, lt.file_error_alert)):
                print(f"FAIL {type(al).__name__}: {al.message()}", flush=True)
                sys.stdin.read()
                return 0
        if t_meta is None:
            if not h.status().has_metadata:
                if now - last_connect > 5:
                    h.connect_peer(("127.0.0.1", a.connect))
                    last_connect = now
                continue
            t_meta = time.monotonic() - t0
            tf = h.torrent_file()
            fs = tf.files()
            path = os.path.join(a.save, fs.file_path(0))
            plen = tf.piece_length()
            first_bytes = min(plen, fs.file_size(0), len(src))
            seg_bytes = min(a.seg_bytes, fs.file_size(0))
            seg_pieces = range((seg_bytes - 1) // plen + 1)
        if t_first is None and h.have_piece(0) and readable(first_bytes):
            t_first = time.monotonic() - t0
        if t_first is not None and all(h.have_piece(i) for i in seg_pieces) and \
                readable(seg_bytes):
            t_seg = time.monotonic() - t0
        if h.status().num_peers == 0 and time.monotonic() - last_connect > 5:
            h.connect_peer(("127.0.0.1", a.connect))
            last_connect = time.monotonic()
    if t_conn is None:
        t_conn = float("nan")
    print(f"TIMES {t_first:.6f} {t_seg:.6f} {t_meta:.6f} {t_conn:.6f}", flush=True)
    sys.stdin.read()  # until the parent closes or kills us
    return 0


def lt_run(args, idle):
    """(first byte, first segment's bytes, metadata, connect) seconds of
    one leech."""
    leech = None
    try:
        leech = LtLeech(args)
        leech.expect("READY", timeout=30)
        time.sleep(idle)
        leech.say("GO")
        words = leech.expect("TIMES", timeout=LT_WAIT + 30)
        return tuple(float(w) for w in words)
    finally:
        if leech is not None:
            leech.kill()


# ---- the run ---------------------------------------------------------------------------

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def row(label, xs, unit, fmt="{:.0f}"):
    if not xs:
        print(f"{label:<52} {'-':>9} {'-':>9} {'-':>9}  {unit}")
        return
    print(f"{label:<52} {fmt.format(med(xs)):>9} {fmt.format(min(xs)):>9} "
          f"{fmt.format(max(xs)):>9}  {unit}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True, help="a folder for the content and downloads")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=60, help="length of the test video")
    ap.add_argument("--mbit", type=float, default=4.0, help="its video bit rate, Mbit/s")
    ap.add_argument("--piece-kib", type=int, default=256)
    ap.add_argument("--seg-seconds", type=float, default=2.0,
                    help="the streamer's hls_segment_seconds")
    ap.add_argument("--source", choices=("infohash", "torrent"), default="infohash")
    a = ap.parse_args()
    st.need_libtorrent()
    st.oatest.build.set(a.build)
    need = ["bin/openace"] + [f"plugins/{p}.so" for p in STREAM_PLUGINS]
    missing = [n for n in need if not os.path.exists(os.path.join(st.oatest.build.dir, n))]
    if missing:
        print(f"missing build outputs: {', '.join(missing)}; build first")
        return 2
    gone = media.tools_missing()
    if gone:
        print(f"missing programs: {', '.join(gone)} (apt-get install ffmpeg)")
        return 2
    if a.seg_seconds <= 0 or a.runs < 1:
        print("--seg-seconds and --runs must be positive")
        return 2

    # The content: a test video, its torrent, a libtorrent seeder.
    src_dir = os.path.join(a.work, "src")
    src = os.path.join(src_dir, "startup.ts")
    t = time.monotonic()
    rate = f"{a.mbit:g}M"
    try:
        media.make_ts(src, seconds=a.seconds, video_bitrate=rate)
    except RuntimeError as e:
        print(f"could not make the test video: {e}")
        return 1
    size = os.path.getsize(src)
    tpath = os.path.join(a.work, "startup.torrent")
    _, ih, ti = st.make_torrent(src, piece_size=a.piece_kib << 10, out=tpath)
    seg_bytes = int(a.seg_seconds * size / a.seconds + 0.5)
    with open(src, "rb") as f:
        prefix = f.read(min(PREFIX, size))
    print(f"content:     {src}: {a.seconds} s of H.264 {a.mbit:g} Mbit/s + AAC 128 kbit/s "
          f"(media.make_ts), {size / 1e6:.1f} MB, {size * 8 / a.seconds / 1e6:.2f} Mbit/s "
          f"overall; made in {time.monotonic() - t:.1f} s")
    print(f"torrent:     {ih}, single file, {ti.num_pieces()} pieces of {a.piece_kib} KiB")
    if a.source == "infohash":
        oa_query = f"infohash={ih}"
        print(f"source:      infohash: OpenAce /ace/...?{oa_query[:18]}...; libtorrent a magnet "
              "of the info-hash; both fetch the metadata from the seeder")
    else:
        oa_query = "url=" + urllib.parse.quote("file://" + tpath, safe="")
        print("source:      torrent: OpenAce /ace/...?url=file://<the .torrent> "
              "(allow_file_urls); libtorrent add_torrent with the torrent_info")
    print(f"libtorrent:  {st.lt.__version__} (python3-libtorrent), the seeder and each leecher "
          "in a process of their own, loopback only, no uTP, no encryption")
    print(f"streamer:    hls_segment_seconds={a.seg_seconds:g}, start_timeout={START_TIMEOUT}, "
          "other settings default; engines log at debug (for the connection time)")
    print(f"compared:    OpenAce getstream request -> first body byte  vs  libtorrent add -> "
          f"first piece ({a.piece_kib} KiB) readable in the file")
    print(f"             OpenAce manifest request -> first byte of segment 1  vs  libtorrent "
          f"add -> first {a.seg_seconds:g} s of bytes ({seg_bytes / 1e6:.2f} MB at the mean "
          "rate) readable in order")

    seeder = None
    res = {k: [] for k in ("oa_ts", "oa_hls", "oa_pl", "oa_ts_conn", "oa_hls_conn", "oa_ts_after",
                           "oa_hls_after", "lt_first", "lt_seg", "lt_meta", "lt_conn",
                           "lt_first_after", "lt_seg_after")}
    ratios = {"first": [], "seg": []}
    ok = True
    try:
        try:
            seeder = sb.LtProc("seed", tpath, src_dir)
            seed_port = int(seeder.expect("READY", timeout=120)[0])
        except Fail as e:
            print(f"the libtorrent seeder did not start: {e}")
            return 1
        print(f"seeder:      libtorrent on 127.0.0.1:{seed_port} (swarm_bench.py lt-peer "
              "--role seed), up for all runs")
        print()
        settings = {"hls_segment_seconds": f"{a.seg_seconds:g}",
                    "start_timeout": START_TIMEOUT}
        if a.source == "torrent":
            settings["allow_file_urls"] = "true"
        lt_args = ["--connect", str(seed_port), "--source", src, "--seg-bytes", str(seg_bytes)]
        lt_args += ["--torrent", tpath] if a.source == "torrent" else ["--infohash", ih]
        for i in range(1, a.runs + 1):
            got = {}
            idle = settle(i, a.runs)
            eng = None
            try:
                eng = start_engine(f"startup-ts-{i}", seed_port, settings, idle)
                got["oa_ts"] = oa_getstream(eng, oa_query, prefix)
                conn = connected_after(eng, seed_port, eng.wall0)
                if conn is not None:
                    got["oa_ts_conn"] = conn
            except Fail as e:
                ok = False
                print(f"  run {i} OpenAce getstream: FAILED: {e}")
                if eng is not None:
                    print("    " + eng.tail().replace("\n", "\n    "))
            finally:
                end_engine(eng)
            save = os.path.join(a.work, f"lt-{i}")
            os.makedirs(save)
            try:
                first, seg, meta, conn = lt_run(lt_args + ["--save", save], idle)
                got.update(lt_first=first, lt_seg=seg, lt_meta=meta)
                if conn == conn:  # not NaN
                    got["lt_conn"] = conn
            except (Fail, ValueError) as e:
                ok = False
                print(f"  run {i} libtorrent: FAILED: {e}")
            finally:
                shutil.rmtree(save, ignore_errors=True)
            eng = None
            try:
                eng = start_engine(f"startup-hls-{i}", seed_port, settings, idle)
                got["oa_hls"], got["oa_pl"] = oa_hls(eng, oa_query)
                conn = connected_after(eng, seed_port, eng.wall0)
                if conn is not None:
                    got["oa_hls_conn"] = conn
            except Fail as e:
                ok = False
                print(f"  run {i} OpenAce HLS: FAILED: {e}")
                if eng is not None:
                    print("    " + eng.tail().replace("\n", "\n    "))
            finally:
                end_engine(eng)
            for kind, conn in (("oa_ts", "oa_ts_conn"), ("oa_hls", "oa_hls_conn"),
                               ("lt_first", "lt_conn"), ("lt_seg", "lt_conn")):
                if kind in got and conn in got:
                    got[kind + "_after"] = got[kind] - got[conn]
            for k, v in got.items():
                res[k].append(v * 1000)
            parts = []
            nan = float("nan")
            if "oa_ts" in got:
                parts.append(f"OpenAce first byte {got['oa_ts'] * 1000:6.1f} ms "
                             f"(connected {got.get('oa_ts_conn', nan) * 1000:.1f})")
            if "oa_hls" in got:
                parts.append(f"first segment {got['oa_hls'] * 1000:6.1f} ms "
                             f"(connected {got.get('oa_hls_conn', nan) * 1000:.1f}, "
                             f"playlist {got['oa_pl'] * 1000:.1f})")
            if "lt_first" in got:
                parts.append(f"libtorrent first piece {got['lt_first'] * 1000:6.1f} ms, "
                             f"first {a.seg_seconds:g} s {got['lt_seg'] * 1000:6.1f} ms "
                             f"(connect {got.get('lt_conn', float('nan')) * 1000:.1f}, "
                             f"metadata {got['lt_meta'] * 1000:.1f})")
            print(f"  run {i} (idle {idle:.2f} s): " + " | ".join(parts), flush=True)
            if got.get("oa_ts_after") is not None and got.get("lt_first_after", 0) > 0:
                ratios["first"].append(got["oa_ts_after"] / got["lt_first_after"])
            if got.get("oa_hls_after") is not None and got.get("lt_seg_after", 0) > 0:
                ratios["seg"].append(got["oa_hls_after"] / got["lt_seg_after"])
    finally:
        if seeder is not None:
            seeder.kill()

    print()
    print(f"== Summary: medians of {a.runs} run(s) (min, max), source {a.source}, "
          "seeder on loopback ==")
    print(f"{'measurement':<52} {'median':>9} {'min':>9} {'max':>9}  unit")

    def ratio(label, x, y):
        if x and y and med(y) > 0:
            print(f"{label:<52} {med(x) / med(y):>9.2f} {'':>9} {'':>9}  x (below 1: sooner)")

    seg = f"{a.seg_seconds:g} s"
    print("-- from the request (OpenAce) / the add (libtorrent), as a user sees it:")
    row("OpenAce getstream: request -> first byte", res["oa_ts"], "ms")
    row("libtorrent: add -> first piece readable", res["lt_first"], "ms")
    ratio("  ratio of the medians OpenAce/libtorrent", res["oa_ts"], res["lt_first"])
    row("OpenAce HLS: request -> first segment byte", res["oa_hls"], "ms")
    row("  of which: request -> playlist", res["oa_pl"], "ms")
    row(f"libtorrent: add -> first {seg} readable", res["lt_seg"], "ms")
    ratio("  ratio of the medians OpenAce/libtorrent", res["oa_hls"], res["lt_seg"])
    print("-- of that, waiting for the first connection to the seeder (a 1 s timer):")
    row("OpenAce: request -> connected (getstream runs)", res["oa_ts_conn"], "ms")
    row("OpenAce: request -> connected (HLS runs)", res["oa_hls_conn"], "ms")
    row("libtorrent: add -> connecting", res["lt_conn"], "ms")
    if a.source == "infohash":
        row("libtorrent: add -> metadata", res["lt_meta"], "ms")
    print("-- the rest, from the connection on (the programs' own work):")
    row("OpenAce: connected -> first stream byte", res["oa_ts_after"], "ms", "{:.1f}")
    row("libtorrent: connecting -> first piece readable", res["lt_first_after"], "ms", "{:.1f}")
    row("  ratio OpenAce/libtorrent (paired)", ratios["first"], "x (below 1: sooner)", "{:.2f}")
    row("OpenAce: connected -> first segment byte", res["oa_hls_after"], "ms", "{:.1f}")
    row(f"libtorrent: connecting -> first {seg} readable", res["lt_seg_after"], "ms", "{:.1f}")
    row("  ratio OpenAce/libtorrent (paired)", ratios["seg"], "x (below 1: sooner)", "{:.2f}")
    if not ok:
        print("Some measurements FAILED; see the FAILED lines.")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "lt-leech":
        sys.exit(lt_leech_main(sys.argv[2:]))
    rc = 1
    try:
        rc = main()
    finally:
        for r in st._readers:
            r.close()
        for eng in st.oatest.live_procs:
            eng.kill()
        for d in st.oatest.temp_dirs:
            shutil.rmtree(d, ignore_errors=True)
    sys.exit(rc)

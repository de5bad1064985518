#!/usr/bin/env python3
"""Live playback over HTTP: the streamer's live path, fed by test-live.

test-live (tests/livefeed, built into <build>/tests/live-plugins) is a
stand-in live engine: it provides the "live" service from an H.264 + AAC
MPEG-TS made by ffmpeg, played in a loop at its own pace and cut into
chunks by the segmenter. Its descriptor (a small text file) is served by a
python http.server on 127.0.0.1 and played by url= and by content_id= (its
SHA-1). An OpenAce engine with transport-tcp, swarm, segmenter, streamer
and test-live:

  a  getstream?url=..&format=json: is_live 1; progressive playback that
     ffprobe reads as h264 + aac; two concurrent readers get the same bytes
     from the first chunk boundary both have; content_id= plays it too
  b  manifest.m3u8: a sliding live playlist (no ENDLIST, the media sequence
     advances); ffmpeg copies 4 s of it
  c  stat: dl and livepos advancing; test-live's stall command makes stat
     say wait / stalled and a streamer.stall event come; then it recovers
  d  a reader that stops reading (small SO_RCVBUF, slow_client=drop): the
     engine's memory stays bounded, and it resumes at a chunk boundary
  e  disabling test-live ends a live reader; the engine keeps running and
     the streamer still plays on-demand content
  f  a live reader with the smallest client_queue_kb (64) gets chunks

Loopback only. Needs ffmpeg and ffprobe (exit 77 when missing), the
build's streamer.so, segmenter.so and tests/live-plugins/test-live.so.

    test_streamer_live.py --build BUILD_DIR [-k CASE]

OA_MEDIA_CACHE names the folder where the test media is kept between runs
(default: <tmp>/oa-media-cache).
"""
import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "interop"))
sys.path.insert(0, _HERE)
import swarmtest as st  # noqa: E402  (may re-execute under the system python3)
from swarmtest import check, require  # noqa: E402
import oatest  # noqa: E402
import media  # noqa: E402

st.PLUGIN_DIRS.append(os.path.join("tests", "live-plugins"))
PLUGINS = ("transport-tcp", "swarm", "segmenter", "streamer", "test-live")
PAT = b"\x47\x40\x00"  # a TS packet of PID 0 starting a section: every chunk's first
TS = 188
# Upper bounds only (a hang becomes a failure); nothing asserts a duration.
READ_TIMEOUT = 30.0
START_WAIT = 60.0
FFMPEG_TIMEOUT = 120.0

# A keyframe every second (gop 25 at 25 fps), so that 1 s chunks are 1 s.
CLIP = dict(seconds=10, size="640x360", fps=25, video_bitrate="1M", gop=25, audio=True)
# Case d: a higher rate, so that what a stopped reader misses is far more
# than the memory bound allows.
FAT_CLIP = dict(seconds=10, size="640x360", fps=25, video_bitrate="8M", gop=25, audio=True)


def cache_dir():
    d = os.environ.get("OA_MEDIA_CACHE") or os.path.join(tempfile.gettempdir(),
                                                          "oa-media-cache")
    os.makedirs(d, exist_ok=True)
    return d


def media_file(params):
    key = "-".join(f"{k}{v}" for k, v in sorted(params.items()))
    path = os.path.join(cache_dir(), re.sub(r"[^A-Za-z0-9.=-]", "_", key) + ".ts")
    try:
        return media.make_ts(path, **params)
    except RuntimeError as e:
        require(False, f"ffmpeg makes the test clip {os.path.basename(path)}", str(e))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def http_server(folder):
    """A python http.server on 127.0.0.1 serving folder, in a thread."""
    handler = lambda *a, **k: _QuietHandler(*a, directory=folder, **k)  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    _servers.append(srv)
    return srv.server_address[1]


_servers = []


def close_servers():
    for s in _servers:
        s.shutdown()
        s.server_close()
    _servers.clear()


def case(fn):
    """st.case, and the case's http servers end with it."""
    def run():
        try:
            fn()
        finally:
            close_servers()
    run.__name__ = fn.__name__
    return st.case(run)


# ---- the fixture: a clip, its live descriptor on an HTTP server, an engine ------------

class Live:
    """A live descriptor of a clip, served over HTTP, and an engine."""

    def __init__(self, name, params=CLIP, chunk=1, window=30, streamer=None):
        self.clip = media_file(params)
        self.parent = st.mkdtemp(f"oa-live-{name}-")
        self.desc = (f"openace-test-live\nsource={self.clip}\nchunk={chunk}\n"
                     f"window={window}\n").encode()
        with open(os.path.join(self.parent, "stream.acelive"), "wb") as f:
            f.write(self.desc)
        self.cid = hashlib.sha1(self.desc).hexdigest()
        hport = http_server(self.parent)
        self.url = f"http://127.0.0.1:{hport}/stream.acelive"
        self.q = "url=" + urllib.parse.quote(self.url, safe="")
        self.oa = st.Oa(name, plugins=PLUGINS, config={"streamer": dict(streamer or {})})
        self.port = self.oa.env.http_port
        self.base = f"http://127.0.0.1:{self.port}"

    def get(self, path):
        return oatest.http_request(self.port, "GET", path)

    def session(self, query, what, manifest=False):
        """GET getstream (or manifest.m3u8)?<query>&format=json; requires a
        response and returns it."""
        ep = "manifest.m3u8" if manifest else "getstream"
        r = self.get(f"/ace/{ep}?{query}&format=json")
        j = r.json if isinstance(r.json, dict) else None
        require(r.status == 200 and j is not None and isinstance(j.get("response"), dict) and
                j.get("error") is None, what, r.describe() + "\n" + self.oa.tail())
        return j["response"]

    def stat(self, resp):
        """The stat response object of a session, or None (with the reply)."""
        r = self.get(path_of(resp["stat_url"]))
        j = r.json if isinstance(r.json, dict) else {}
        res = j.get("response")
        return (res if isinstance(res, dict) else None), r

    def live_cmd(self, name, body=None):
        return self.oa.call(name, body or {}, plugin="test-live")


def wait_chunks(lv, resp, n, timeout=START_WAIT):
    """Waits until the session's stat says livepos.last >= n."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        s, _ = lv.stat(resp)
        if ((s or {}).get("livepos") or {}).get("last", 0) >= n:
            return s
        time.sleep(0.25)
    return None


def path_of(url):
    u = urllib.parse.urlsplit(url)
    return u.path + ("?" + u.query if u.query else "")


# ---- readers ---------------------------------------------------------------------------

class _SmallBufConnection(http.client.HTTPConnection):
    """An HTTP connection whose socket has a small receive buffer, set
    before connecting so that the TCP window stays small."""

    def __init__(self, host, port, rcvbuf, timeout):
        super().__init__(host, port, timeout=timeout)
        self.rcvbuf = rcvbuf

    def connect(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        s.settimeout(self.timeout)
        s.connect((self.host, self.port))
        self.sock = s


class Reader(threading.Thread):
    """Reads a playback URL in a thread into .data until stop(), the end of
    the response, or an error. pause=(after_bytes, seconds) stops reading
    once after_bytes for that long (.paused_at marks the byte offset)."""

    def __init__(self, port, path, rcvbuf=None, pause=None, piece=16 * 1024,
                 timeout=READ_TIMEOUT):
        super().__init__(daemon=True)
        self.timeout = timeout
        self.port = port
        self.path = path
        self.rcvbuf = rcvbuf
        self.pause = pause
        self.piece = piece
        self.data = bytearray()
        self.status = None
        self.headers = {}
        self.error = None
        self.eof = False
        self.paused_at = None
        self.pause_began = None
        self.pause_ended = None
        self.first_byte = threading.Event()
        self.done = threading.Event()
        self._halt = threading.Event()

    def run(self):
        if self.rcvbuf:
            conn = _SmallBufConnection("127.0.0.1", self.port, self.rcvbuf, self.timeout)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.path)
            r = conn.getresponse()
            self.status = r.status
            self.headers = {k.lower(): v for k, v in r.getheaders()}
            while not self._halt.is_set():
                if (self.pause and self.paused_at is None and
                        len(self.data) >= self.pause[0]):
                    self.paused_at = len(self.data)
                    self.pause_began = time.monotonic()
                    self._halt.wait(self.pause[1])
                    self.pause_ended = time.monotonic()
                    continue
                b = r.read1(self.piece) if hasattr(r, "read1") else r.read(self.piece)
                if not b:
                    self.eof = True
                    break
                self.data += b
                self.first_byte.set()
        except (OSError, http.client.HTTPException) as e:
            self.error = f"{type(e).__name__}: {e}"
        finally:
            conn.close()
            self.first_byte.set()
            self.done.set()

    def stop(self):
        self._halt.set()
        self.join(self.timeout + 5)

    def describe(self):
        return (f"status {self.status}, {len(self.data)} bytes (starts {bytes(self.data[:4])!r}), "
                f"eof {self.eof}, error {self.error}, headers {self.headers}")


def read_for(port, path, seconds):
    r = Reader(port, path)
    r.start()
    r.first_byte.wait(START_WAIT)
    time.sleep(seconds)
    r.stop()
    return r


def ts_ok(data):
    """A whole number of TS packets, each beginning with the sync byte."""
    return (len(data) > 0 and len(data) % TS == 0 and
            all(data[i] == 0x47 for i in range(0, len(data), TS)))


def probe_bytes(folder, name, data):
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(data)
    return media.ffprobe_streams(path, 60), path


def has_av(streams):
    return ("video", "h264") in streams and ("audio", "aac") in streams


SESSION_KEYS = ("playback_url", "stat_url", "command_url", "infohash", "playback_session_id",
                "is_live", "is_encrypted", "client_session_id")
LIVEPOS_KEYS = ("first", "last", "pos", "first_ts", "last_ts", "buffer_pieces")


def check_live_session(lv, resp, manifest=False):
    sid = resp.get("playback_session_id", "")
    want = (f"{lv.base}/ace/m/{lv.cid}/{sid}.m3u8" if manifest else
            f"{lv.base}/ace/r/{lv.cid}/{sid}")
    check(all(k in resp for k in SESSION_KEYS) and resp.get("is_live") == 1 and
          resp.get("infohash") == lv.cid and resp.get("playback_url") == want,
          "format=json on a live descriptor: is_live 1, infohash = the content ID, "
          f"playback_url {want.replace(sid, '<sid>') if sid else want}", json.dumps(resp))


# ---- a: progressive playback, two readers, content_id ---------------------------------

@case
def case_progressive():
    lv = Live("progressive")
    resp = lv.session(lv.q, "getstream?url=<live descriptor>&format=json -> a response")
    check_live_session(lv, resp)
    path = path_of(resp["playback_url"])
    wait_chunks(lv, resp, 6)  # so that a later reader starts at a later chunk
    a = Reader(lv.port, path)
    a.start()
    require(a.first_byte.wait(START_WAIT) and a.status == 200 and a.data,
            "GET playback_url of the live session -> 200 and bytes", a.describe() + "\n" +
            lv.oa.tail())
    time.sleep(2.5)
    b = Reader(lv.port, path)
    b.start()
    time.sleep(5)
    a.stop()
    b.stop()
    check(a.headers.get("content-type", "").startswith("video/mp2t"),
          "live playback: Content-Type video/mp2t", json.dumps(a.headers))
    check(a.error is None and not a.eof and b.error is None and not b.eof,
          "both live readers were still being fed after ~5 s", a.describe() + "\n" +
          b.describe())
    A, B = bytes(a.data), bytes(b.data)
    # Whole packets up to where each reader stopped.
    A, B = A[:len(A) - len(A) % TS], B[:len(B) - len(B) % TS]
    check(A[:3] == PAT and B[:3] == PAT and ts_ok(A) and ts_ok(B),
          "each live reader starts at a chunk (a PAT packet) and gets whole 188-byte packets",
          a.describe() + "\n" + b.describe())
    streams, saved = probe_bytes(lv.parent, "reader-a.ts", A)
    check(has_av(streams), f"ffprobe finds h264 video and aac audio in the {len(A)} bytes "
          f"a live reader got in ~6 s", f"{streams} ({saved})")
    # The later reader's first chunk is one the first reader also got.
    off = A.find(B[:64 * TS]) if len(B) >= 64 * TS else -1
    n = min(len(A) - off, len(B)) if off >= 0 else 0
    check(off >= 0 and off % TS == 0 and n >= 64 * TS and A[off:off + n] == B[:n],
          "two concurrent readers get byte-identical data from the first chunk boundary both "
          f"have ({n} bytes compared)",
          f"offset of the second reader's start in the first: {off}; {len(A)} and {len(B)} "
          "bytes")
    r = lv.session(f"content_id={lv.cid}", "getstream?content_id=<SHA-1 of the "
                   "descriptor>&format=json -> a response")
    check_live_session(lv, r)
    c = read_for(lv.port, path_of(r["playback_url"]), 2)
    check(c.status == 200 and c.data[:3] == PAT and len(c.data) >= 4 * TS,
          "playback by content_id= -> 200 and live chunks", c.describe())
    c = read_for(lv.port, f"/ace/getstream?{lv.q}", 2)
    check(c.status == 200 and c.data[:3] == PAT and
          c.headers.get("content-type", "").startswith("video/mp2t"),
          "direct getstream?url=<live descriptor> -> 200 video/mp2t and live chunks",
          c.describe())
    status = lv.live_cmd("status")
    feeds = (status or {}).get("feeds") or []
    check(len(feeds) == 1 and feeds[0].get("id") == lv.cid,
          "one test-live feed serves every session of the stream",
          lv.oa.last.describe())
    lv.oa.stop()


# ---- b: a live HLS playlist --------------------------------------------------------------

def playlist_facts(text):
    seq = re.search(r"^#EXT-X-MEDIA-SEQUENCE:(\d+)", text, re.M)
    segs = re.findall(r"^(/ace/c/[^\s]+/(\d+)\.ts)\s*$", text, re.M)
    return (int(seq.group(1)) if seq else None), segs


@case
def case_hls():
    lv = Live("hls")
    r = oatest.http_request(lv.port, "GET", f"/ace/manifest.m3u8?{lv.q}")
    text = r.body.decode("utf-8", "replace") if isinstance(r.body, bytes) else str(r.body)
    seq, segs = playlist_facts(text)
    check(r.status == 200 and text.startswith("#EXTM3U") and
          "mpegurl" in (r.header("content-type") or "").lower() and
          "#EXT-X-ENDLIST" not in text and seq is not None and segs,
          "GET /ace/manifest.m3u8?url=<live descriptor> -> a live playlist (media sequence, "
          "segments, no ENDLIST)", r.describe()[:1500])
    resp = lv.session(lv.q, "manifest.m3u8?url=..&format=json -> a response", manifest=True)
    check_live_session(lv, resp, manifest=True)
    mpath = path_of(resp["playback_url"])
    r1 = lv.get(mpath)
    t1 = r1.body.decode("utf-8", "replace") if isinstance(r1.body, bytes) else ""
    time.sleep(4)
    r2 = lv.get(mpath)
    t2 = r2.body.decode("utf-8", "replace") if isinstance(r2.body, bytes) else ""
    s1, g1 = playlist_facts(t1)
    s2, g2 = playlist_facts(t2)
    check(r1.status == 200 and r2.status == 200 and g1 and g2 and
          int(g2[-1][1]) > int(g1[-1][1]) and "#EXT-X-ENDLIST" not in t2 and
          "PLAYLIST-TYPE:VOD" not in t2,
          "the session's playlist fetched 4 s apart: its last segment advances, no ENDLIST",
          f"first:\n{t1[:800]}\nsecond:\n{t2[:800]}")
    check(s1 is not None and s2 is not None and g1 and g2 and
          s1 == int(g1[0][1]) and s2 == int(g2[0][1]) and s2 >= s1,
          "EXT-X-MEDIA-SEQUENCE is the first segment's number and does not go back",
          f"{s1} {g1[:2]} / {s2} {g2[:2]}")
    if g2:
        seg = lv.get(g2[-1][0])
        body = seg.body if isinstance(seg.body, bytes) else b""
        check(seg.status == 200 and body[:3] == PAT and ts_ok(body),
              f"GET {g2[-1][0]} -> 200, whole TS packets starting with a PAT",
              seg.describe()[:600])
    murl = f"{lv.base}{mpath}"
    out = os.path.join(lv.parent, "hls-copy.ts")
    args = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", murl, "-t", "4", "-c", "copy",
            "-f", "mpegts", out]
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT)
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        rc, err = None, f"no exit within {FFMPEG_TIMEOUT} s"
    check(rc == 0 and os.path.exists(out),
          "ffmpeg -i <live manifest> -t 4 -c copy -f mpegts exits 0",
          f"{' '.join(args)}: exit {rc}\n{err[-1500:]}\n{lv.oa.tail()}")
    streams = media.ffprobe_streams(out, 30) if os.path.exists(out) else []
    check(has_av(streams), "ffprobe finds h264 video and aac audio in ffmpeg's copy of the "
          "live playlist", str(streams))
    lv.oa.stop()


# ---- c: stat, stall, recovery -----------------------------------------------------------

STALL_S = 8


@case
def case_stall():
    lv = Live("stall", streamer={"stall_seconds": 2})
    ev = lv.oa.events("streamer.*")
    resp = lv.session(lv.q + "&pid=stall", "getstream?url=..&pid=stall&format=json -> a "
                      "response")
    sid = resp["playback_session_id"]
    rd = Reader(lv.port, path_of(resp["playback_url"]))
    rd.start()
    require(rd.first_byte.wait(START_WAIT) and rd.status == 200,
            "a live reader keeps the session busy", rd.describe())
    s1, r1 = lv.stat(resp)
    time.sleep(3)
    s2, r2 = lv.stat(resp)
    lp1 = (s1 or {}).get("livepos") or {}
    lp2 = (s2 or {}).get("livepos") or {}
    check(s1 is not None and s1.get("is_live") == 1 and s1.get("status") == "dl" and
          s1.get("stalled") is False and all(isinstance(lp1.get(k), int) for k in LIVEPOS_KEYS),
          "stat of a live session: is_live 1, status dl, stalled false, livepos {first, "
          "last, pos, first_ts, last_ts, buffer_pieces}", r1.describe()[:1200])
    check(lp2.get("last", -1) > lp1.get("last", 1 << 62) and
          lp1.get("first", 1) <= lp1.get("pos", 0) <= lp1.get("last", -1) and
          lp2.get("last_ts", 0) >= lp2.get("first_ts", 1) > 1500000000 and
          s2.get("downloaded", 0) > s1.get("downloaded", 0) > 0,
          "stat 3 s later: livepos.last advanced, first <= pos <= last, timestamps are unix "
          "seconds, downloaded grew", f"{json.dumps(s1)}\n{json.dumps(s2)}")

    res = lv.live_cmd("stall", {"id": lv.cid, "seconds": STALL_S})
    require(res is not None, f"test-live command stall {{id, seconds: {STALL_S}}} -> ok",
            lv.oa.last.describe())
    t0 = time.monotonic()
    seen = None
    while time.monotonic() - t0 < STALL_S:
        s, _ = lv.stat(resp)
        if s and s.get("stalled") is True:
            seen = s
            break
        time.sleep(0.25)
    check(seen is not None and seen.get("status") == "wait",
          f"while the feed is paused for {STALL_S} s (stall_seconds 2): stat says status "
          "wait and stalled true", json.dumps(seen) if seen else json.dumps(lv.stat(resp)[0]))
    e = ev.wait_for(lambda e: e[0] == "streamer.stall" and
                    (oatest.sse_json(e) or {}).get("session") == sid, timeout=STALL_S)
    d = oatest.sse_json(e) if e else None
    check(d is not None and d.get("infohash") == lv.cid and isinstance(d.get("seconds"), int),
          "a streamer.stall event {session, infohash, seconds} comes for the session",
          f"{d}\nseen: {ev.events[-10:]}")
    st_ = lv.live_cmd("status")
    feed = ((st_ or {}).get("feeds") or [{}])[0]
    check(feed.get("paused") is True and feed.get("subscribers") == 1,
          "test-live status: the feed is paused and has one subscriber", json.dumps(st_))
    # Recovery: the feed resumes after STALL_S s; stat follows.
    s_before = lv.stat(resp)[0] or {}
    rec = None
    t0 = time.monotonic()
    while time.monotonic() - t0 < STALL_S + 20:
        s, _ = lv.stat(resp)
        if (s and s.get("stalled") is False and s.get("status") == "dl" and
                (s.get("livepos") or {}).get("last", -1) >
                (s_before.get("livepos") or {}).get("last", 1 << 62)):
            rec = s
            break
        time.sleep(0.5)
    check(rec is not None, "after the pause: stat says dl, stalled false, and livepos.last "
          "advances again", json.dumps(lv.stat(resp)[0]) + "\n" + lv.oa.tail())
    n = len(rd.data)
    time.sleep(2.5)
    check(len(rd.data) > n and rd.error is None and not rd.eof,
          "the reader that waited through the stall gets chunks again", rd.describe())
    rd.stop()
    lv.oa.stop()


# ---- d: a reader that stops reading -------------------------------------------------------

def vm_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# Above the streamer's live write piece (256 KiB); case f covers the
# smallest setting.
QUEUE_KB = 512
WINDOW = 8  # chunks test-live and the streamer keep
PAUSE_S = 20
# Allocator slack, chunk sizes varying around their mean, HTTP and socket
# state, the fast reader's queue: what no setting accounts for.
MARGIN_MB = 10


@case
def case_slow_reader():
    with st.no_asan_quarantine():
        lv = Live("slow", params=FAT_CLIP, window=WINDOW,
                  streamer={"slow_client": "drop", "client_queue_kb": QUEUE_KB,
                            "live_buffer_chunks": WINDOW})
    pid = lv.oa.pid
    resp = lv.session(lv.q + "&pid=slow", "format=json -> a response")
    path = path_of(resp["playback_url"])
    fast = Reader(lv.port, path, piece=256 * 1024)
    fast.start()
    require(fast.first_byte.wait(START_WAIT) and fast.status == 200,
            "a fast reader plays the live session", fast.describe())
    # Both rings full before the baseline (WINDOW + a few chunks of 1 s).
    wait_chunks(lv, resp, WINDOW + 3)
    time.sleep(1.5)  # the slow reader joins 3 chunks behind; the fast one is ahead
    slow = Reader(lv.port, path, rcvbuf=4096, pause=(64 * 1024, PAUSE_S), piece=4096)
    slow.start()
    require(slow.first_byte.wait(START_WAIT) and slow.status == 200,
            "a second reader with SO_RCVBUF 4096 plays the same session", slow.describe())
    while slow.paused_at is None and slow.is_alive():
        time.sleep(0.05)
    base_kib = max(vm_kib(pid, "VmRSS") or 0, vm_kib(pid, "VmHWM") or 0)
    fast_at_pause = len(fast.data)
    peak = base_kib
    while slow.pause_ended is None and slow.is_alive():
        peak = max(peak, vm_kib(pid, "VmRSS") or 0)
        time.sleep(0.1)
    missed = len(fast.data) - fast_at_pause
    allowed_mb = QUEUE_KB / 1024 + MARGIN_MB
    st.log(f"baseline RSS {base_kib / 1024:.1f} MiB (rings of {WINDOW} chunks full); during "
           f"the {PAUSE_S} s pause the stream produced {missed / 2**20:.1f} MiB; allowed growth "
           f"{allowed_mb:.1f} MiB = client_queue_kb {QUEUE_KB} KiB + margin {MARGIN_MB} MiB")
    require(missed > 1.5 * allowed_mb * 2**20,
            f"the stream produced more during the pause ({missed / 2**20:.1f} MiB) than the "
            f"allowed growth ({allowed_mb:.1f} MiB): holding it for the stopped reader would "
            "fail the check")
    growth_mb = (peak - base_kib) / 1024
    check(growth_mb <= allowed_mb,
          f"the engine's resident memory grew by {growth_mb:.1f} MiB (<= {allowed_mb:.1f} MiB) "
          f"while a reader stopped reading for {PAUSE_S} s",
          f"baseline {base_kib / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB")
    time.sleep(6)  # the slow reader reads again
    slow.stop()
    fast.stop()
    F, S = bytes(fast.data), bytes(slow.data)
    S = S[:len(S) - len(S) % TS]
    # The slow reader's bytes are the fast reader's from some chunk on, up
    # to a chunk boundary, then a later chunk onwards (it skipped).
    a = F.find(S[:16 * TS]) if len(S) >= 16 * TS else -1
    same = 0
    if a >= 0:
        lim = min(len(S), len(F) - a)
        step = 1 << 16
        while same < lim and S[same:same + step] == F[a + same:a + same + step]:
            same += step
        same = min(same, lim)
        while same < lim and S[same] == F[a + same]:
            same += 1
    splice = same - same % TS
    while splice > 0 and S[splice:splice + 3] != PAT:
        splice -= TS
    rest = S[splice:]
    # It may skip again later if it falls behind again: compare one piece.
    n = min(len(rest), 64 * 1024)
    q = F.find(rest[:n], a + splice + 1) if a >= 0 and n >= 16 * TS else -1
    check(a >= 0 and S[:3] == PAT and splice >= slow.paused_at and n >= 16 * TS and
          rest[:3] == PAT and q > a + splice and (q - a) % TS == 0 and F[q:q + 3] == PAT,
          "after its pause the stopped reader continues at a chunk boundary: its bytes are "
          "the stream's up to a chunk end, then a later chunk (a PAT packet) onwards",
          f"slow {len(S)} bytes (paused at {slow.paused_at}), fast {len(F)}; slow starts at "
          f"fast offset {a}; identical for {same} bytes; splice at {splice} "
          f"(starts {rest[:4]!r}); its next {n} bytes found at fast offset {q}\n"
          f"slow: {slow.describe()}")
    check(slow.error is None and fast.error is None,
          "neither reader was cut off", slow.describe() + "\n" + fast.describe())
    lv.oa.stop()


# ---- e: the live engine goes away ---------------------------------------------------------

@case
def case_disable():
    lv = Live("disable")
    resp = lv.session(lv.q, "getstream?url=..&format=json -> a response")
    rd = Reader(lv.port, path_of(resp["playback_url"]))
    rd.start()
    require(rd.first_byte.wait(START_WAIT) and rd.status == 200,
            "a live reader plays", rd.describe())
    time.sleep(1)
    r = lv.oa.client.post("/api/plugins/test-live/disable", {})
    check(r.status == 200, "POST /api/plugins/test-live/disable -> 200", r.describe())
    check(rd.done.wait(15) and rd.error is None and rd.eof,
          "disabling the live engine ends the live reader's response (a clean end)",
          rd.describe() + "\n" + lv.oa.tail())
    rd.stop()
    check(lv.oa.eng.proc.poll() is None, "the engine keeps running", lv.oa.tail())
    s, r = lv.stat(resp)
    check(r.status == 200, "stat of the live session still answers", r.describe()[:800])
    r = lv.get(f"/ace/getstream?{lv.q}&format=json")
    j = r.json if isinstance(r.json, dict) else {}
    check(r.status == 200 and j.get("response") is None and isinstance(j.get("error"), str) and
          j.get("error"),
          "getstream?url=<live descriptor>&format=json without a live engine -> "
          "{response: null, error: <sentence>}", r.describe()[:800])
    # On-demand content still plays: the clip as a torrent the engine seeds.
    folder = os.path.join(lv.parent, "vod")
    os.makedirs(folder)
    shutil.copy2(lv.clip, os.path.join(folder, "movie.ts"))
    tpath = os.path.join(lv.parent, "movie.torrent")
    _, ih, _ = st.make_torrent(os.path.join(folder, "movie.ts"), out=tpath)
    lv.oa.add({"uri": tpath, "dir": folder})
    lv.oa.wait_state(ih, ("seeding",))
    want = hashlib.sha1(open(lv.clip, "rb").read()).hexdigest()
    c = http.client.HTTPConnection("127.0.0.1", lv.port, timeout=READ_TIMEOUT)
    try:
        c.request("GET", f"/ace/getstream?infohash={ih}")
        rr = c.getresponse()
        body = rr.read()
        status = rr.status
    except (OSError, http.client.HTTPException) as e:
        body, status = b"", f"{type(e).__name__}: {e}"
    finally:
        c.close()
    check(status == 200 and hashlib.sha1(body).hexdigest() == want,
          "the streamer still plays on-demand content (getstream?infohash= of a seeded clip, "
          "byte for byte)", f"status {status}, {len(body)} bytes\n{lv.oa.tail()}")
    lv.oa.stop()


# ---- f: the smallest client queue ---------------------------------------------------------

@case
def case_small_queue():
    lv = Live("smallq", streamer={"client_queue_kb": 64})
    resp = lv.session(lv.q, "getstream?url=..&format=json -> a response")
    rd = Reader(lv.port, path_of(resp["playback_url"]), timeout=10)
    rd.start()
    rd.first_byte.wait(15)
    time.sleep(3)
    rd.stop()
    check(rd.status == 200 and rd.data[:3] == PAT and len(rd.data) >= 64 * 1024,
          "with client_queue_kb 64 (the smallest allowed) a live reader gets chunks "
          "(~128 KiB chunks of 1 s)", rd.describe() + "\n" + lv.oa.tail(10))
    lv.oa.stop()


CASES = [
    ("a progressive live playback", case_progressive),
    ("b live HLS playlist", case_hls),
    ("c stat and stall", case_stall),
    ("d slow reader", case_slow_reader),
    ("e live engine disabled", case_disable),
    ("f smallest client queue", case_small_queue),
]

if __name__ == "__main__":
    oatest.main_media(CASES, __doc__, runner=st.main, tmp_prefix="oa-live-",
                      need=("plugins/segmenter.so", "plugins/streamer.so",
                            "tests/live-plugins/test-live.so"))

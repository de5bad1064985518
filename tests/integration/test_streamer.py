#!/usr/bin/env python3
"""Playback over HTTP: the streamer and segmenter plugins against real MPEG-TS.

A libtorrent seeder (python3-libtorrent) seeds an H.264 + AAC MPEG-TS made
by ffmpeg; an OpenAce engine with transport-tcp, swarm, segmenter and
streamer plays it over the Ace Stream-compatible HTTP API:

  a  direct progressive playback: /ace/getstream?infohash=
  b  an Ace Stream client: get_version, format=json, playback, stat, cmd stop,
     sessions by pid
  c  ffprobe and ffmpeg on getstream and on the HLS manifest
  d  Range requests (206, suffix ranges, 416)
  e  errors: missing or bad parameters, unknown content_id, bad url=, a
     source nobody has (start_timeout)
  f  content IDs: url= of a .torrent on an HTTP server, content_id=, and
     get_content_id after a magnet
  g  50 concurrent readers of one session and a very slow one, with the
     engine's resident memory bounded by its settings
  h  bus events of sessions and readers; idle_timeout
  i  a stalled source: stat says wait, streamer.stall
  j  a multi-file torrent: the video file plays, _idx picks another, a
     wrong _idx is a clear error

Every transfer is checked byte for byte. Loopback only. Needs ffmpeg and
ffprobe (exit 77 when missing) and the build's streamer.so and
segmenter.so.

    test_streamer.py --build BUILD_DIR [-k CASE]

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

PLUGINS = ("transport-tcp", "swarm", "segmenter", "streamer")
HEX40 = re.compile(r"^[0-9a-f]{40}$")
STATUSES = ("prebuf", "dl", "check", "wait", "err")
# Upper bounds only (a hang becomes a failure); nothing asserts a duration.
READ_TIMEOUT = 60.0  # seconds a playback socket may stay silent
START_WAIT = 90.0  # seconds for a first byte or a manifest
FFMPEG_TIMEOUT = 180.0

# The small clip most cases play (~3 MiB) and the large one of case g.
SMALL = dict(seconds=20, size="640x360", fps=25, video_bitrate="1M", gop=50, audio=True)
LARGE = dict(seconds=70, size="1280x720", fps=25, video_bitrate="18M", gop=50, audio=True)


def cache_dir():
    d = os.environ.get("OA_MEDIA_CACHE") or os.path.join(tempfile.gettempdir(),
                                                          "oa-media-cache")
    os.makedirs(d, exist_ok=True)
    return d


def media_file(params):
    """The cached test clip for params (made by ffmpeg the first time)."""
    key = "-".join(f"{k}{v}" for k, v in sorted(params.items()))
    path = os.path.join(cache_dir(), re.sub(r"[^A-Za-z0-9.=-]", "_", key) + ".ts")
    try:
        return media.make_ts(path, **params)
    except RuntimeError as e:
        require(False, f"ffmpeg makes the test clip {os.path.basename(path)}", str(e))


def sha1_file(path):
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def file_bytes(path, first, n):
    with open(path, "rb") as f:
        f.seek(first)
        return f.read(n)


# ---- the fixture: a clip, its torrent, a libtorrent seeder, an engine ----------------

class Fixture:
    """A clip seeded by libtorrent and an OpenAce engine that can find it."""

    def __init__(self, name, params=SMALL, streamer=None, swarm=None, piece_size=64 * 1024,
                 bootstrap=True):
        src = media_file(params)
        self.parent = st.mkdtemp(f"oa-streamer-{name}-")
        self.path = os.path.join(self.parent, "movie.ts")
        try:
            os.link(src, self.path)
        except OSError:
            shutil.copy2(src, self.path)
        self.size = os.path.getsize(self.path)
        self.sha1 = sha1_file(self.path)
        self.tpath = os.path.join(self.parent, "movie.torrent")
        self.torrent, self.ih, self.ti = st.make_torrent(self.path, piece_size=piece_size,
                                                         out=self.tpath)
        st.log(f"clip {self.size} bytes, torrent {self.ih}: {self.ti.num_pieces()} pieces "
               f"of {self.ti.piece_length()} bytes")
        self.seeder = st.lt_peer("seeder")
        self.seeder.add(self.ti, self.parent, seed=True)
        require(self.seeder.wait_seed(20), "the libtorrent seeder seeds the clip",
                self.seeder.describe())
        sw = dict(swarm or {})
        if bootstrap:
            sw.setdefault("bootstrap_peers", f"127.0.0.1:{self.seeder.port}")
        self.oa = st.Oa(name, sw, plugins=PLUGINS, config={"streamer": dict(streamer or {})})
        self.port = self.oa.env.http_port
        self.base = f"http://127.0.0.1:{self.port}"

    def magnet(self):
        return st.magnet(self.ih, peers=[f"127.0.0.1:{self.seeder.port}"], name="movie.ts")

    def get(self, path, headers=None):
        return oatest.http_request(self.port, "GET", path, headers=headers)

    def json_get(self, path):
        """GET path; returns (Resp, its JSON or None)."""
        r = self.get(path)
        return r, (r.json if isinstance(r.json, dict) else None)

    def session(self, query, what):
        """GET /ace/getstream?<query>&format=json; requires a response and
        returns it (the "response" object)."""
        r, j = self.json_get(f"/ace/getstream?{query}&format=json")
        require(r.status == 200 and j is not None and isinstance(j.get("response"), dict) and
                j.get("error") is None, what, r.describe() + "\n" + self.oa.tail())
        return j["response"]

    def path_of(self, url):
        """The path of one of the engine's URLs (http://host/path)."""
        u = urllib.parse.urlsplit(url)
        return u.path + ("?" + u.query if u.query else "")

    def stat(self, resp):
        r, j = self.json_get(self.path_of(resp["stat_url"]))
        return r, j


def stream(port, path, headers=None, on_chunk=None, chunk=256 * 1024, timeout=READ_TIMEOUT):
    """GETs path and reads the whole body, hashing it. on_chunk(total) is
    called after each chunk. Returns a dict: status, headers, size, sha1,
    head (first 4 KiB), error."""
    out = {"status": None, "headers": {}, "size": 0, "sha1": None, "head": b"", "error": None}
    h = hashlib.sha1()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        out["status"] = r.status
        out["headers"] = {k.lower(): v for k, v in r.getheaders()}
        while True:
            b = r.read(chunk)
            if not b:
                break
            if len(out["head"]) < 4096:
                out["head"] += b[:4096 - len(out["head"])]
            h.update(b)
            out["size"] += len(b)
            if on_chunk is not None:
                on_chunk(out["size"])
    except (OSError, http.client.HTTPException) as e:
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        conn.close()
    out["sha1"] = h.hexdigest()
    return out


def describe_stream(s):
    return (f"status {s['status']}, {s['size']} bytes, sha1 {s['sha1']}, error {s['error']}, "
            f"headers {s['headers']}")


def check_whole(fx, s, who):
    return check(s["status"] == 200 and s["error"] is None and s["size"] == fx.size and
                 s["sha1"] == fx.sha1,
                 f"{who}: 200 and the {fx.size} bytes of the file, byte for byte",
                 describe_stream(s) + f"\nwant sha1 {fx.sha1}\n" + fx.oa.tail())


def check_types(obj, spec, who):
    """One check: obj is a dict with exactly spec's keys, each of the
    given type(s)."""
    bad = []
    if not isinstance(obj, dict):
        return check(False, who, f"not an object: {obj!r}")
    for k, t in spec.items():
        if k not in obj:
            bad.append(f"missing {k}")
        elif not isinstance(obj[k], t) or (t in (int, (int, float)) and
                                           isinstance(obj[k], bool)):
            bad.append(f"{k}: {obj[k]!r} is not {t}")
    extra = sorted(set(obj) - set(spec))
    return check(not bad, who, "; ".join(bad) + (f" (extra keys: {extra})" if extra else "") +
                 f"\n{json.dumps(obj)[:1500]}")


SESSION_KEYS = {"playback_url": str, "stat_url": str, "command_url": str, "infohash": str,
                "playback_session_id": str, "is_live": int, "is_encrypted": int,
                "client_session_id": int}
NUM = (int, float)
STAT_KEYS = {"status": str, "peers": int, "speed_down": NUM, "speed_up": NUM,
             "downloaded": int, "uploaded": int, "total_progress": NUM, "is_live": int,
             "playback_session_id": str, "infohash": str, "clients": int, "stalled": bool,
             "file_index": int, "name": str}


def check_session(fx, resp, manifest=False):
    check_types(resp, SESSION_KEYS, "format=json: the response has every key of an Ace "
                "Stream getstream answer, with its type")
    sid = resp.get("playback_session_id", "")
    ih = fx.ih
    want_play = (f"{fx.base}/ace/m/{ih}/{sid}.m3u8" if manifest else
                 f"{fx.base}/ace/r/{ih}/{sid}")
    check(bool(sid) and resp.get("infohash") == ih and resp.get("playback_url") == want_play and
          resp.get("stat_url") == f"{fx.base}/ace/stat/{ih}/{sid}" and
          resp.get("command_url") == f"{fx.base}/ace/cmd/{ih}/{sid}",
          f"format=json: infohash {ih[:8]}..., playback_url {want_play.replace(sid, '<sid>')}, "
          "stat_url and command_url of the session", json.dumps(resp))
    check(resp.get("is_live") == 0 and resp.get("is_encrypted") == 0 and
          resp.get("client_session_id") == -1,
          "format=json: is_live 0, is_encrypted 0, client_session_id -1", json.dumps(resp))


# ---- a: direct playback --------------------------------------------------------------

@st.case
def case_direct():
    fx = Fixture("direct")
    s = stream(fx.port, f"/ace/getstream?infohash={fx.ih}")
    check_whole(fx, s, f"GET /ace/getstream?infohash={fx.ih[:8]}...")
    hd = s["headers"]
    check(hd.get("content-type", "").startswith("video/mp2t") and
          hd.get("accept-ranges") == "bytes" and hd.get("content-length") == str(fx.size),
          f"getstream headers: Content-Type video/mp2t, Accept-Ranges bytes, "
          f"Content-Length {fx.size}", json.dumps(hd))
    # The same by the upper-case info-hash and by magnet=.
    s = stream(fx.port, f"/ace/getstream?infohash={fx.ih.upper()}")
    check_whole(fx, s, "getstream with the info-hash in upper case")
    s = stream(fx.port, "/ace/getstream?magnet=" + urllib.parse.quote(fx.magnet(), safe=""))
    check_whole(fx, s, "getstream?magnet=<magnet with x.pe>")
    fx.oa.stop()


# ---- b: an Ace Stream client -----------------------------------------------------------

VERSION_KEYS = {"code": int, "platform": str, "version": str, "engine": str,
                "engine_version": str}


@st.case
def case_client():
    fx = Fixture("client")
    r, j = fx.json_get("/webui/api/service?method=get_version")
    require(r.status == 200 and j is not None and j.get("error") is None,
            "GET /webui/api/service?method=get_version -> 200 {result, error: null}",
            r.describe())
    ver = j.get("result")
    check_types(ver, VERSION_KEYS, "get_version: result has code, platform, version, engine, "
                "engine_version")
    check(isinstance(ver, dict) and ver.get("code") == 3021100 and
          ver.get("version") == "3.2.11" and ver.get("platform") == "linux" and
          ver.get("engine") == "openace",
          "get_version: code 3021100, version 3.2.11, platform linux, engine openace",
          json.dumps(j))
    r, j = fx.json_get("/server/api?api_version=3&method=get_status")
    res = (j or {}).get("result")
    check(r.status == 200 and isinstance(res, dict) and res.get("version") == ver and
          res.get("playlist_loaded") is False and isinstance(res.get("sessions"), int) and
          (j or {}).get("error", 1) is None,
          "get_status: result {version (as get_version), playlist_loaded false, sessions}",
          r.describe())
    r, j = fx.json_get("/server/api?api_version=3&method=get_network_connection_status")
    check(r.status == 200 and j == {"result": {"connected": True}, "error": None},
          "get_network_connection_status -> {result: {connected: true}, error: null}",
          r.describe())

    resp = fx.session(f"infohash={fx.ih}&pid=player-1",
                      "getstream?infohash=..&format=json&pid=player-1 -> a response")
    check_session(fx, resp)
    sid = resp["playback_session_id"]
    again = fx.session(f"infohash={fx.ih}&pid=player-1", "the same pid again -> a response")
    check(again.get("playback_session_id") == sid,
          "the same pid on the same content -> the same playback session",
          f"{sid} then {again.get('playback_session_id')}")
    other = fx.session(f"infohash={fx.ih}&pid=player-2", "another pid -> a response")
    check(other.get("playback_session_id") not in (None, sid),
          "another pid -> another playback session", f"{sid} and {other}")
    nopid = fx.session(f"infohash={fx.ih}", "no pid -> a response")
    check(nopid.get("playback_session_id") not in (None, sid,
                                                   other.get("playback_session_id")),
          "no pid -> a new playback session", json.dumps(nopid))

    # Play while polling stat, as players do.
    stats = []
    bad = []

    def poll(total):
        r2, j2 = fx.stat(resp)
        stats.append((total, j2))
        if r2.status != 200 or j2 is None or j2.get("error") is not None or \
                not isinstance(j2.get("response"), dict):
            bad.append(r2.describe())

    s = stream(fx.port, fx.path_of(resp["playback_url"]), on_chunk=poll)
    check_whole(fx, s, "GET playback_url")
    check(s["headers"].get("content-type", "").startswith("video/mp2t"),
          "playback_url: Content-Type video/mp2t", json.dumps(s["headers"]))
    check(stats and not bad, f"stat_url answered {{response, error: null}} to each of "
          f"{len(stats)} polls during the read", "\n".join(bad[:3]))
    if stats and stats[0][1]:
        check_types(stats[0][1].get("response"), STAT_KEYS,
                    "stat: the response has every key of an Ace Stream stat, with its type")
    sts = [j2["response"] for _, j2 in stats if j2 and isinstance(j2.get("response"), dict)]
    check(sts and all(x.get("status") in STATUSES for x in sts),
          f"stat: status is one of {'/'.join(STATUSES)} at each poll",
          str(sorted(set(str(x.get("status")) for x in sts))))
    check(sts and all(x.get("playback_session_id") == sid and x.get("infohash") == fx.ih and
                      x.get("is_live") == 0 and x.get("file_index") == 0 and
                      0 <= x.get("total_progress", -1) <= 100 for x in sts),
          "stat: the session's id and info-hash, is_live 0, file_index 0, "
          "total_progress 0..100", json.dumps(sts[:2]))
    check(any(x.get("clients", 0) >= 1 for x in sts),
          "stat: clients >= 1 while the reader reads",
          str([x.get("clients") for x in sts]))
    r, j = fx.stat(resp)
    last = (j or {}).get("response") or {}
    check(last.get("downloaded", 0) >= fx.size and last.get("total_progress") == 100 and
          last.get("status") == "dl" and isinstance(last.get("name"), str) and
          "movie" in last.get("name", ""),
          f"stat after the read: downloaded >= {fx.size}, total_progress 100, status dl, "
          "name of the file", r.describe())

    res = fx.oa.call("sessions", plugin="streamer")
    check(res is not None and sid in json.dumps(res),
          "admin command streamer/sessions lists the session", fx.oa.last.describe())

    r, j = fx.json_get(fx.path_of(resp["command_url"]) + "?method=stop")
    check(r.status == 200 and j == {"response": "ok", "error": None},
          "command_url?method=stop -> {response: ok, error: null}", r.describe())
    r, j = fx.stat(resp)
    check(r.status == 200 and j == {"response": None, "error": "unknown playback session"},
          "stat of the stopped session -> {response: null, error: unknown playback session}",
          r.describe())
    r = fx.get(fx.path_of(resp["playback_url"]))
    check(r.status is not None and 400 <= r.status < 500,
          "playback_url of the stopped session -> 4xx", r.describe()[:800])
    r, j = fx.stat(other)
    check(r.status == 200 and isinstance((j or {}).get("response"), dict),
          "the other pid's session still answers stat", r.describe())
    fx.oa.stop()


# ---- c: ffprobe, ffmpeg, HLS --------------------------------------------------------------

def has_av(streams):
    return ("video", "h264") in streams and ("audio", "aac") in streams


@st.case
def case_hls():
    seg = 2.0
    fx = Fixture("hls", streamer={"hls_segment_seconds": seg})
    url = f"{fx.base}/ace/getstream?infohash={fx.ih}"
    data, desc = media.ffprobe_json(url, "stream=codec_type,codec_name", 60)
    streams = [(x.get("codec_type"), x.get("codec_name"))
               for x in (data or {}).get("streams", [])]
    check(has_av(streams), "ffprobe on /ace/getstream finds h264 video and aac audio",
          f"{streams}\n{desc}\n{fx.oa.tail()}")
    murl = f"{fx.base}/ace/manifest.m3u8?infohash={fx.ih}"
    data, desc = media.ffprobe_json(murl, "stream=codec_type,codec_name", 90)
    streams = [(x.get("codec_type"), x.get("codec_name"))
               for x in (data or {}).get("streams", [])]
    check(has_av(streams), "ffprobe on /ace/manifest.m3u8 finds h264 video and aac audio",
          f"{streams}\n{desc}\n{fx.oa.tail()}")

    out = os.path.join(fx.parent, "hls-copy.ts")
    args = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", murl, "-c", "copy",
            "-f", "mpegts", out]
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT)
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        rc, err = None, f"no exit within {FFMPEG_TIMEOUT} s"
    check(rc == 0, "ffmpeg -i <manifest.m3u8> -c copy -f mpegts exits 0",
          f"{' '.join(args)}: exit {rc}\n{err[-1500:]}\n{fx.oa.tail()}")
    dur = media.ffprobe_duration(out, 30) if os.path.exists(out) else None
    check(dur is not None and dur >= 3 * seg,
          f"the copy through HLS lasts >= 3 segments ({3 * seg:g} s; got {dur})",
          f"{out}: {os.path.getsize(out) if os.path.exists(out) else 'missing'} bytes")

    # A player's view: the session's playlist, every segment.
    r, j = fx.json_get(f"/ace/manifest.m3u8?infohash={fx.ih}&pid=hls&format=json")
    resp = (j or {}).get("response")
    require(r.status == 200 and isinstance(resp, dict) and j.get("error") is None,
            "manifest.m3u8?infohash=..&pid=hls&format=json -> a response", r.describe())
    check_session(fx, resp, manifest=True)
    sid = resp.get("playback_session_id", "")
    mpath = fx.path_of(resp.get("playback_url", ""))
    text = ""
    deadline = time.monotonic() + START_WAIT
    r = None
    while time.monotonic() < deadline:
        r = fx.get(mpath)
        text = r.text() if r.status == 200 else ""
        if "#EXT-X-ENDLIST" in text or r.status != 200:
            break
        time.sleep(0.5)
    require(r is not None and r.status == 200 and text.startswith("#EXTM3U"),
            "the session's playlist -> 200 #EXTM3U", (r.describe() if r else "") + fx.oa.tail())
    check((r.header("Content-Type") or "").startswith("application/vnd.apple.mpegurl"),
          "playlist Content-Type application/vnd.apple.mpegurl", r.describe()[:600])
    check("#EXT-X-ENDLIST" in text and "#EXT-X-TARGETDURATION:" in text,
          "the playlist ends (EXT-X-ENDLIST) once the whole clip is cut, with a target "
          "duration", text[:1500])
    durs = [float(x) for x in re.findall(r"#EXTINF:([0-9.]+)", text)]
    uris = [l for l in text.splitlines() if l and not l.startswith("#")]
    tgt = re.search(r"#EXT-X-TARGETDURATION:(\d+)", text)
    check(len(durs) == len(uris) >= 5 and
          all(re.fullmatch(rf"/ace/c/{re.escape(sid)}/\d+\.ts", u) for u in uris),
          f"{len(uris)} segments named /ace/c/<session>/<n>.ts", text[:1500])
    check(abs(sum(durs) - SMALL["seconds"]) <= 1.0 and tgt is not None and
          all(d <= int(tgt.group(1)) + 0.001 for d in durs),
          f"segment durations add up to the clip's {SMALL['seconds']} s (got {sum(durs):.2f}), "
          "none above the target duration", text[:1500])
    joined = os.path.join(fx.parent, "segments.ts")
    bad = []
    with open(joined, "wb") as f:
        for u in uris:
            sr = fx.get(u)
            if sr.status != 200 or not sr.body[:1] == b"\x47" or len(sr.body) % 188:
                bad.append(f"{u}: {sr.status} {len(sr.body)} bytes "
                           f"{sr.header('Content-Type')} first byte {sr.body[:1]!r}")
            f.write(sr.body)
    check(uris and not bad, "every segment -> 200, whole 188-byte TS packets from a 0x47 sync",
          "\n".join(bad[:5]))
    streams = media.ffprobe_streams(joined, 30)
    dur = media.ffprobe_duration(joined, 30)
    check(has_av(streams) and dur is not None and dur >= SMALL["seconds"] - 1,
          f"the segments together: h264 + aac, about {SMALL['seconds']} s (got {dur})",
          str(streams))
    fx.oa.stop()


# ---- d: Range -----------------------------------------------------------------------------

@st.case
def case_range():
    fx = Fixture("range")
    n = fx.size
    paths = [("getstream", f"/ace/getstream?infohash={fx.ih}")]
    resp = fx.session(f"infohash={fx.ih}&pid=range", "format=json -> a response")
    paths.append(("playback_url", fx.path_of(resp["playback_url"])))
    for who, path in paths:
        for rng, first, last in (("bytes=1000-1999", 1000, 1999),
                                 ("bytes=-500", n - 500, n - 1),
                                 (f"bytes={n - 100}-", n - 100, n - 1),
                                 (f"bytes=2000000-{n + 5000}", 2000000, n - 1)):
            r = fx.get(path, {"Range": rng})
            want = file_bytes(fx.path, first, last - first + 1)
            check(r.status == 206 and r.header("Content-Range") == f"bytes {first}-{last}/{n}" and
                  r.header("Content-Length") == str(len(want)) and r.body == want,
                  f"{who} Range: {rng} -> 206, Content-Range bytes {first}-{last}/{n}, "
                  "those bytes", r.describe()[:1200])
        r = fx.get(path, {"Range": f"bytes={n}-"})
        check(r.status == 416 and r.header("Content-Range") == f"bytes */{n}",
              f"{who} Range: bytes={n}- (past the end) -> 416, Content-Range bytes */{n}",
              r.describe()[:1200])
    fx.oa.stop()


# ---- e: errors --------------------------------------------------------------------------

def check_text_error(fx, path, status, what, timeout_note=""):
    """One check: GET path answers status (or one of a tuple of statuses)
    with a text/plain sentence."""
    t0 = time.monotonic()
    r = fx.get(path)
    statuses = status if isinstance(status, tuple) else (status,)
    status = "/".join(str(x) for x in statuses)
    ok = (r.status in statuses and (r.header("Content-Type") or "").startswith("text/plain") and
          len(r.text().strip()) > 10)
    check(ok, f"{what} -> {status} text/plain with a sentence{timeout_note}",
          r.describe()[:1200] + f"\n(after {time.monotonic() - t0:.1f} s)")
    return r


def check_json_error(fx, path, what, contains=None):
    r, j = fx.json_get(path)
    err = (j or {}).get("error")
    check(r.status == 200 and j is not None and set(j) == {"response", "error"} and
          j["response"] is None and isinstance(err, str) and len(err) > 10 and
          (contains is None or contains in err),
          f"{what} with format=json -> 200 {{response: null, error: <sentence"
          f"{' with ' + repr(contains) if contains else ''}>}}", r.describe()[:1200])


@st.case
def case_errors():
    fx = Fixture("errors", streamer={"start_timeout": 3})
    unknown = hashlib.sha1(b"no such content").hexdigest()
    for what, q, status in (
            ("no source", "", 400),
            ("pid only", "pid=x", 400),
            ("bad hex content_id", "content_id=zz" + "0" * 38, 400),
            ("short id", "id=abc", 400),
            ("bad infohash", "infohash=xyz", 400),
            ("url= of an ftp:// URL", "url=" + urllib.parse.quote("ftp://127.0.0.1/a.torrent"),
             400),
            # A refusal by setting: 403 is as right as 400 here.
            ("url= of a file:// URL (allow_file_urls off)",
             "url=" + urllib.parse.quote("file://" + fx.tpath), (400, 403)),
            ("unknown content_id", f"content_id={unknown}", 404)):
        check_text_error(fx, f"/ace/getstream?{q}", status, f"getstream?{q[:50]} ({what})")
        check_json_error(fx, f"/ace/getstream?{q}{'&' if q else ''}format=json",
                         f"getstream ({what})",
                         contains="unknown content_id" if status == 404 else None)
    # (format=json answers a session at once, as Ace Stream does: see below.)
    check_text_error(fx, "/ace/manifest.m3u8", 400, "manifest.m3u8 without a source")
    check_text_error(fx, f"/ace/manifest.m3u8?content_id={unknown}", 404,
                     "manifest.m3u8 of an unknown content_id")
    # Nobody has this info-hash: an error once start_timeout (3 s) passed.
    nobody = hashlib.sha1(b"nobody seeds this").hexdigest()
    check_text_error(fx, f"/ace/getstream?infohash={nobody}", 504,
                     "getstream of an info-hash nobody has", " (start_timeout 3 s)")
    # With format=json the session is answered at once (as Ace Stream
    # does); its stat says it is still buffering, with no peer.
    resp = fx.session(f"infohash={nobody}", "getstream of an info-hash nobody has with "
                      "format=json -> a session at once")
    r, j = fx.stat(resp)
    sr = (j or {}).get("response") or {}
    check(sr.get("status") in ("prebuf", "wait", "err") and sr.get("peers") == 0 and
          sr.get("total_progress") == 0,
          "its stat: status prebuf (or wait/err), peers 0, total_progress 0", r.describe())
    # A .torrent URL that does not answer.
    dead = f"http://127.0.0.1:{oatest.free_port()}/movie.torrent"
    check_text_error(fx, "/ace/getstream?url=" + urllib.parse.quote(dead, safe=""), 502,
                     "getstream?url=<nothing listens there>")
    r, j = fx.json_get("/ace/stat/" + fx.ih + "/nosuchsession")
    check(r.status == 200 and j == {"response": None, "error": "unknown playback session"},
          "stat of an unknown session -> {response: null, error: unknown playback session}",
          r.describe())
    r = fx.get("/server/api?api_version=3&method=get_content_id&infohash=" + nobody)
    check(r.status == 200 and isinstance(r.json, dict) and r.json.get("result") is None and
          isinstance(r.json.get("error"), str),
          "get_content_id of content never played -> {result: null, error: <sentence>}",
          r.describe())
    # The engine still plays after all that.
    s = stream(fx.port, f"/ace/getstream?infohash={fx.ih}")
    check_whole(fx, s, "getstream after the errors")
    fx.oa.stop()


# ---- f: content IDs ---------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def http_server(folder):
    """A python http.server on 127.0.0.1 serving folder, in a thread.
    Returns (server, port)."""
    handler = lambda *a, **k: _QuietHandler(*a, directory=folder, **k)  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


@st.case
def case_content_id():
    fx = Fixture("cid")
    srv, hport = http_server(fx.parent)
    try:
        turl = f"http://127.0.0.1:{hport}/movie.torrent"
        cid = hashlib.sha1(fx.torrent).hexdigest()
        q = "url=" + urllib.parse.quote(turl, safe="")
        resp = fx.session(q, "getstream?url=<http .torrent>&format=json -> a response")
        check(resp.get("infohash") == fx.ih, "url=: the response names the torrent's info-hash",
              json.dumps(resp))
        s = stream(fx.port, f"/ace/getstream?{q}")
        check_whole(fx, s, "getstream?url=http://127.0.0.1/.../movie.torrent")
        s = stream(fx.port, f"/ace/getstream?content_id={cid}")
        check_whole(fx, s, "getstream?content_id=SHA-1 of the .torrent")
        s = stream(fx.port, f"/ace/getstream?id={cid.upper()}")
        check_whole(fx, s, "getstream?id=<content id in upper case>")
        r = fx.get(f"/server/api?api_version=3&method=get_content_id&infohash={fx.ih}")
        check(r.status == 200 and r.json == {"result": {"content_id": cid}, "error": None},
              "get_content_id of content played by url= -> the SHA-1 of the fetched .torrent",
              r.describe())
    finally:
        srv.shutdown()
        srv.server_close()
    fx.oa.stop()

    # Another engine that never saw the .torrent: a magnet, then its content id.
    fx2 = Fixture("cid-magnet", bootstrap=False)
    r = fx2.get(f"/server/api?api_version=3&method=get_content_id&infohash={fx2.ih}")
    check(r.status == 200 and isinstance(r.json, dict) and r.json.get("result") is None and
          isinstance(r.json.get("error"), str),
          "get_content_id before the content was played -> an error", r.describe())
    s = stream(fx2.port, "/ace/getstream?magnet=" + urllib.parse.quote(fx2.magnet(), safe=""))
    check_whole(fx2, s, "getstream?magnet=<x.pe of the seeder>")
    r = fx2.get(f"/server/api?api_version=3&method=get_content_id&infohash={fx2.ih}")
    cid2 = ((r.json or {}).get("result") or {}).get("content_id") \
        if isinstance(r.json, dict) else None
    require(r.status == 200 and isinstance(cid2, str) and HEX40.match(cid2) and
            r.json.get("error") is None,
            "get_content_id after the magnet played -> {result: {content_id: <40 hex>}}",
            r.describe())
    r = fx2.get("/server/api?api_version=3&method=get_content_id&infohash=" + fx2.ih.upper())
    check(isinstance(r.json, dict) and (r.json.get("result") or {}).get("content_id") == cid2,
          "get_content_id takes the info-hash in upper case too", r.describe())
    r = fx2.get("/server/api?api_version=3&method=get_content_id&infohash=xyz")
    check(isinstance(r.json, dict) and r.json.get("result") is None and
          "infohash" in str(r.json.get("error")),
          "get_content_id with a bad info-hash -> an error naming infohash", r.describe())
    s = stream(fx2.port, f"/ace/getstream?content_id={cid2}")
    check_whole(fx2, s, "getstream?content_id=<what get_content_id answered>")
    resp = fx2.session(f"content_id={cid2}", "content_id=..&format=json -> a response")
    check(resp.get("infohash") == fx2.ih, "content_id=: the response names the info-hash",
          json.dumps(resp))
    fx2.oa.stop()


# ---- g: many readers, a slow one, memory ----------------------------------------------------

def vm_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


READERS = 50
CACHE_MB = 8
QUEUE_KB = 256
BLOCK_KIB = 256  # the streamer's block: one piece of the clip's torrent
READAHEAD_MB = 4
SWARM_CACHE_MB = 4
STREAM_WINDOW_MB = 4
# Allocator slack, per-connection HTTP and socket state, libcurl and
# thread stacks touched under load: what no setting accounts for.
MARGIN_MB = 32


@st.case
def case_readers():
    with st.no_asan_quarantine():
        fx = Fixture("readers", params=LARGE, piece_size=256 * 1024,
                     streamer={"cache_mb": CACHE_MB, "client_queue_kb": QUEUE_KB,
                               "readahead_mb": READAHEAD_MB},
                     swarm={"read_cache_mb": SWARM_CACHE_MB,
                            "stream_window_mb": STREAM_WINDOW_MB})
    pid = fx.oa.pid
    resp = fx.session(f"infohash={fx.ih}&pid=crowd", "format=json -> a response")
    path = fx.path_of(resp["playback_url"])
    # The metadata is known and the session exists; nothing read yet.
    base_kib = max(vm_kib(pid, "VmRSS") or 0, vm_kib(pid, "VmHWM") or 0)
    # Each reader costs its queue plus at most one block it waits for (a
    # block a reader waits for is read even when the cache is full; a block
    # is one 256 KiB piece here).
    per_reader_kib = QUEUE_KB + BLOCK_KIB
    bound_mb = (base_kib / 1024 + CACHE_MB + (READERS + 1) * per_reader_kib / 1024 +
                READAHEAD_MB + SWARM_CACHE_MB + STREAM_WINDOW_MB + MARGIN_MB)
    st.log(f"baseline RSS {base_kib / 1024:.1f} MiB; bound {bound_mb:.1f} MiB = baseline + "
           f"cache_mb {CACHE_MB} + {READERS + 1} readers x ({QUEUE_KB} KiB queue + "
           f"{BLOCK_KIB} KiB block) + readahead "
           f"{READAHEAD_MB} + swarm read cache {SWARM_CACHE_MB} + stream window "
           f"{STREAM_WINDOW_MB} + margin {MARGIN_MB}")
    require(fx.size > bound_mb * 1024 * 1024,
            f"the clip ({fx.size / 2**20:.1f} MiB) is larger than the memory bound "
            f"({bound_mb:.1f} MiB): holding it in memory would fail the check")

    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            v = vm_kib(pid, "VmRSS")
            if v is not None:
                peak[0] = max(peak[0], v)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    slow = {"got": 0, "ok": True, "error": None, "status": None}
    stop_slow = threading.Event()

    def slow_reader():
        with open(fx.path, "rb") as want:
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.settimeout(READ_TIMEOUT)
                sock.connect(("127.0.0.1", fx.port))
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{fx.port}\r\n"
                             f"Connection: close\r\n\r\n".encode())
                buf = b""
                while b"\r\n\r\n" not in buf:
                    b = sock.recv(4096)
                    if not b:
                        raise OSError("closed before the headers")
                    buf += b
                head, body = buf.split(b"\r\n\r\n", 1)
                slow["status"] = head.split(b"\r\n")[0].decode("latin-1")
                pending = body
                while not stop_slow.is_set():
                    need = 16 * 1024
                    while len(pending) < need:
                        b = sock.recv(need - len(pending))
                        if not b:
                            break
                        pending += b
                    if not pending:
                        break
                    if want.read(len(pending)) != pending:
                        slow["ok"] = False
                        break
                    slow["got"] += len(pending)
                    pending = b""
                    stop_slow.wait(0.5)
                sock.close()
            except OSError as e:
                slow["error"] = f"{type(e).__name__}: {e}"

    results = [None] * READERS
    barrier = threading.Barrier(READERS)

    def reader(i):
        try:
            barrier.wait(30)
        except threading.BrokenBarrierError:
            pass
        results[i] = stream(fx.port, path, chunk=1 << 20)

    slow_t = threading.Thread(target=slow_reader, daemon=True)
    slow_t.start()
    time.sleep(0.5)
    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(READERS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 400
    for t in threads:
        t.join(max(1.0, deadline - time.monotonic()))
    stop_slow.set()
    slow_t.join(READ_TIMEOUT + 5)
    done.set()
    sampler.join(5)
    hwm = vm_kib(pid, "VmHWM") or 0

    unfinished = sum(1 for t in threads if t.is_alive())
    bad = [f"reader {i}: " + (describe_stream(s) if s else "did not finish")
           for i, s in enumerate(results)
           if s is None or s["status"] != 200 or s["size"] != fx.size or s["sha1"] != fx.sha1]
    check(not bad and not unfinished,
          f"{READERS} concurrent readers of one session each got the {fx.size} bytes of the "
          "file, byte for byte", "\n".join(bad[:8]) + f"\nunfinished: {unfinished}\n" +
          fx.oa.tail())
    check(slow["status"] is not None and " 200 " in slow["status"] + " " and slow["ok"] and
          slow["got"] >= 16 * 1024 and slow["error"] is None,
          f"the slow reader (SO_RCVBUF 4096, 16 KiB per 0.5 s) got a correct prefix "
          f"({slow['got']} bytes) meanwhile", json.dumps(slow))
    peak_mb = max(peak[0], hwm) / 1024
    check(peak_mb <= bound_mb,
          f"the engine's peak resident memory ({peak_mb:.1f} MiB) stays below the bound "
          f"({bound_mb:.1f} MiB) while serving {fx.size / 2**20:.0f} MiB to {READERS} + 1 readers",
          f"sampled VmRSS peak {peak[0] / 1024:.1f} MiB, VmHWM {hwm / 1024:.1f} MiB, "
          f"baseline {base_kib / 1024:.1f} MiB")
    r, j = fx.stat(resp)
    check(r.status == 200 and isinstance((j or {}).get("response"), dict),
          "the session still answers stat after the crowd", r.describe())
    fx.oa.stop()


# ---- h: events, idle_timeout ----------------------------------------------------------------

@st.case
def case_events():
    fx = Fixture("events", streamer={"idle_timeout": 2})
    ev = fx.oa.events("streamer.*")

    def wait(topic, pred=lambda d: True, timeout=30):
        e = ev.wait_for(lambda e: e[0] == topic and pred(oatest.sse_json(e) or {}),
                        timeout=timeout)
        return oatest.sse_json(e) if e else None

    resp = fx.session(f"infohash={fx.ih}&pid=ev", "format=json -> a response")
    sid = resp["playback_session_id"]
    d = wait("streamer.session.started", lambda d: d.get("session") == sid)
    check(d is not None and d.get("infohash") == fx.ih and d.get("pid") == "ev" and
          d.get("is_live") in (0, False) and "content_id" in d and
          (d["content_id"] is None or HEX40.match(str(d["content_id"]))),
          "streamer.session.started {session, infohash, content_id (null before the "
          "metadata), pid, is_live}",
          f"{d}\nseen: {ev.events[-10:]}")
    s = stream(fx.port, fx.path_of(resp["playback_url"]))
    check_whole(fx, s, "playback_url")
    j = wait("streamer.client.joined", lambda d: d.get("session") == sid)
    check(j is not None and j.get("kind") == "ts" and "client" in j,
          "streamer.client.joined {session, client, kind: ts}", f"{j}\nseen: {ev.events[-10:]}")
    left = wait("streamer.client.left", lambda d: d.get("session") == sid)
    check(left is not None and left.get("bytes") == fx.size and
          (j is None or left.get("client") == j.get("client")),
          f"streamer.client.left {{session, client (as joined), bytes: {fx.size}}}",
          f"{left}\nseen: {ev.events[-10:]}")
    # No reader left: idle_timeout (2 s) stops the session.
    d = wait("streamer.session.stopped", lambda d: d.get("session") == sid, timeout=60)
    check(d is not None and d.get("reason") == "idle",
          "streamer.session.stopped {session, reason: idle} after idle_timeout",
          f"{d}\nseen: {ev.events[-10:]}")
    r, j2 = fx.stat(resp)
    check(j2 == {"response": None, "error": "unknown playback session"},
          "stat of the idle-stopped session -> unknown playback session", r.describe())

    # A session nobody ever reads stops the same way.
    lone = fx.session(f"infohash={fx.ih}&pid=unread", "an unread session -> a response")
    lsid = lone["playback_session_id"]
    d = wait("streamer.session.stopped", lambda d: d.get("session") == lsid, timeout=60)
    check(d is not None and d.get("reason") == "idle",
          "an unread session: streamer.session.stopped reason idle", f"{d}")
    deadline = time.monotonic() + 30
    while True:
        r, j2 = fx.stat(lone)
        if j2 == {"response": None, "error": "unknown playback session"} or \
                time.monotonic() > deadline:
            break
        time.sleep(0.5)
    check(j2 == {"response": None, "error": "unknown playback session"},
          "stat of the unread session after idle_timeout -> unknown playback session",
          r.describe())

    # Stopped by command.
    cmd = fx.session(f"infohash={fx.ih}&pid=cmd", "another session -> a response")
    csid = cmd["playback_session_id"]
    fx.json_get(fx.path_of(cmd["command_url"]) + "?method=stop")
    d = wait("streamer.session.stopped", lambda d: d.get("session") == csid)
    check(d is not None and d.get("reason") == "stop",
          "command stop: streamer.session.stopped reason stop", f"{d}")
    # HLS readers join with kind hls.
    r, jm = fx.json_get(f"/ace/manifest.m3u8?infohash={fx.ih}&pid=hlsev&format=json")
    mresp = (jm or {}).get("response") or {}
    hsid = mresp.get("playback_session_id")
    r = fx.get(fx.path_of(mresp.get("playback_url", "")))
    uris = [l for l in r.text().splitlines() if l and not l.startswith("#")]
    seg = fx.get(uris[0]) if uris else None
    j = wait("streamer.client.joined", lambda d: d.get("session") == hsid and
             d.get("kind") == "hls")
    check(j is not None, "an HLS reader: streamer.client.joined kind hls",
          f"playlist {r.describe()[:600]}\nsegment: {seg.describe()[:400] if seg else None}"
          f"\nseen: {ev.events[-10:]}")
    fx.oa.stop()
    d = wait("streamer.session.stopped", lambda d: d.get("session") == hsid, timeout=5)
    if d is not None:
        check(d.get("reason") in ("shutdown", "idle"),
              "at shutdown: streamer.session.stopped reason shutdown (or idle before)", f"{d}")


def case_stall():
    """The seeder all but stops while a player waits: stat says wait (stalled)
    and streamer.stall is published; once the seeder goes on, the player
    gets every byte."""
    fx = Fixture("stall", streamer={"stall_seconds": 2, "readahead_mb": 1, "cache_mb": 4},
                 swarm={"download_rate_kib": 256})
    ev = fx.oa.events("streamer.*")
    resp = fx.session(f"infohash={fx.ih}&pid=stall", "format=json -> a response")
    sid = resp["playback_session_id"]
    got = {"size": 0}
    result = {}
    # The seeder trickles from the start, so that the whole clip cannot
    # arrive before the stall below, however slow the engine runs (ASan).
    fx.seeder.h.set_upload_limit(64 * 1024)

    def reader():
        result.update(stream(fx.port, fx.path_of(resp["playback_url"]),
                             on_chunk=lambda n: got.__setitem__("size", n), chunk=16 * 1024))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while got["size"] < 64 * 1024 and time.monotonic() < deadline and t.is_alive():
        time.sleep(0.05)
    require(got["size"] >= 64 * 1024, "the player gets its first bytes",
            f"got {got['size']}\n" + fx.oa.tail())
    fx.seeder.h.set_upload_limit(1024)  # about nothing: the player soon waits
    e = ev.wait_for(lambda e: e[0] == "streamer.stall" and
                    (oatest.sse_json(e) or {}).get("session") == sid, timeout=60)
    d = oatest.sse_json(e) if e else None
    check(d is not None and d.get("infohash") == fx.ih and isinstance(d.get("seconds"), int)
          and d["seconds"] >= 2,
          "streamer.stall {session, infohash, seconds >= stall_seconds} while the source "
          "stalls", f"{d}\nseen: {ev.events[-10:]}\nplayer at {got['size']}")
    # Bytes already in flight may still end a stall for a moment: poll.
    deadline = time.monotonic() + 30
    while True:
        r, j = fx.stat(resp)
        st_ = (j or {}).get("response") or {}
        if (st_.get("status") == "wait" and st_.get("stalled") is True) or \
                time.monotonic() > deadline:
            break
        time.sleep(0.25)
    check(st_.get("status") == "wait" and st_.get("stalled") is True,
          "stat during the stall: status wait, stalled true", r.describe())
    fx.seeder.h.set_upload_limit(0)  # unlimited again
    t.join(READ_TIMEOUT)
    check_whole(fx, result, "the stalled player, once the seeder goes on")
    r, j = fx.stat(resp)
    st_ = (j or {}).get("response") or {}
    check(st_.get("stalled") is False and st_.get("status") in ("dl", "prebuf"),
          "stat after the stall: not stalled", r.describe())


def case_multifile():
    """Without _idx the video file plays even when a bigger file is beside
    it; _idx picks a file by its index; an index past the end is an error."""
    parent = st.mkdtemp("oa-streamer-multi-")
    folder = os.path.join(parent, "pack")
    os.makedirs(folder)
    clip = os.path.join(folder, "movie.ts")
    shutil.copy2(media_file(SMALL), clip)
    with open(os.path.join(folder, "extras.bin"), "wb") as f:
        f.write(os.urandom(os.path.getsize(clip) + 1024 * 1024))  # bigger than the clip
    with open(os.path.join(folder, "readme.txt"), "wb") as f:
        f.write(b"not a video\n")
    _, ih, ti = st.make_torrent(folder, piece_size=64 * 1024)
    files = [os.path.basename(p) for p, _ in st.torrent_files(ti)]
    seeder = st.lt_peer("multi-seeder")
    seeder.add(ti, parent, seed=True)
    require(seeder.wait_seed(20), "the libtorrent seeder seeds the three files",
            seeder.describe())
    oa = st.Oa("multi", {"bootstrap_peers": f"127.0.0.1:{seeder.port}"}, plugins=PLUGINS)
    port = oa.env.http_port

    def want(name):
        return {"size": os.path.getsize(os.path.join(folder, name)),
                "sha1": sha1_file(os.path.join(folder, name))}

    got = stream(port, f"/ace/getstream?infohash={ih}")
    w = want("movie.ts")
    check(got["status"] == 200 and got["size"] == w["size"] and got["sha1"] == w["sha1"] and
          got["headers"].get("content-type") == "video/mp2t",
          "without _idx the video file (movie.ts) plays, not the bigger extras.bin",
          describe_stream(got) + f"\nfiles {files}\n" + oa.tail())
    idx = files.index("extras.bin")
    got = stream(port, f"/ace/getstream?infohash={ih}&_idx={idx}")
    w = want("extras.bin")
    check(got["status"] == 200 and got["size"] == w["size"] and got["sha1"] == w["sha1"] and
          got["headers"].get("content-type") == "application/octet-stream",
          f"_idx={idx} plays extras.bin, byte for byte", describe_stream(got))
    r = oatest.http_request(port, "GET", f"/ace/getstream?infohash={ih}&_idx=7")
    check(r.status == 404 and "out of range" in r.text() and "3 files" in r.text(),
          "_idx=7 of 3 files -> 404 saying the index is out of range", r.describe())
    r = oatest.http_request(port, "GET", f"/ace/getstream?infohash={ih}&_idx=x&format=json")
    check(r.status == 200 and isinstance(r.json, dict) and r.json.get("response") is None and
          "_idx" in str(r.json.get("error")),
          "_idx=x with format=json -> an error naming _idx", r.describe())


CASES = [
    ("a direct playback of a seeded TS", case_direct),
    ("b Ace Stream client: version, json, stat, stop, pid", case_client),
    ("c ffprobe, ffmpeg and HLS", case_hls),
    ("d Range requests", case_range),
    ("e errors", case_errors),
    ("f content IDs: url=, content_id=, get_content_id", case_content_id),
    ("g 50 readers, a slow one, bounded memory", case_readers),
    ("h events and idle_timeout", case_events),
    ("i a stalled source: stat wait and streamer.stall", case_stall),
    ("j multi-file torrent and _idx", case_multifile),
]


if __name__ == "__main__":
    oatest.main_media(CASES, __doc__, runner=st.main,
                      install="apt-get install ffmpeg; scripts/deps.sh test installs it",
                      tmp_prefix="oa-streamer-",
                      need=("plugins/segmenter.so", "plugins/streamer.so"))

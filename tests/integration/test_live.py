#!/usr/bin/env python3
"""Live broadcasting end to end: one source engine and three viewer engines.

Every engine runs transport-tcp, swarm, segmenter, streamer and live on
loopback (ports and data directories of its own), with the swarm's pex off
and bootstrap_peers naming the peers each one may reach, so that the
topology is what a case builds. The source broadcasts a looping H.264 + AAC
MPEG-TS (media.make_ts) in 1 s chunks; viewers know only the content ID and
fetch the descriptor from peers.

  a  chain (v1 -> source, v2 -> v1, v3 -> v2): each viewer's
     /ace/getstream?id=<cid> plays in ffprobe and splits exactly into whole
     source chunks (sizes and SHA-256 from the source's `chunks` command);
     ffmpeg copies /ace/manifest.m3u8?id= of v3
  b  star (every viewer -> source): the same on every viewer
  c  forged chunks: a Python peer speaking oa_live sends v3 an ANNOUNCE
     with a bad signature, then relays real headers it read from the
     source and serves corrupt DATA; v3 refuses both (rejected > 0, the
     peer is disconnected) and its stream goes on matching the source
  d  source restart: the source engine stops and starts on the same data
     folder; the broadcast resumes with the same content ID and a viewer
     keeps receiving chunks that match the source's
  e  url=http://source/live/<cid>.acelive plays; a lavfi source plays; list
     shows states; stop ends the broadcast (live.stopped); bad start
     arguments answer 400 with a sentence; a bad source gives
     live.source.error with a reason
  f  chat: a message posted on v3 reaches the SSE chat of v1 and of the
     source with its @mentions and :emotes: parsed; the source mutes v3 and
     v3's later messages stop reaching v1 while v2's still do
  g  network sources: a broadcast of udp://127.0.0.1:<port> fed by an
     ffmpeg -re -stream_loop -1 the test runs, and one of an HTTP source
     (ffmpeg -listen 1 as the server): each goes live and a viewer plays it
     by content ID (h264, whole source chunks); killing the UDP feeder gives
     live.source.error and state reconnecting (stall_seconds 3), starting
     it again brings the broadcast back to live with the same content ID
     and the viewer gets new chunks
  h  rtmp and srt sources: ffmpeg serves the looping clip as an RTMP server
     (-f flv -listen 1 rtmp://127.0.0.1:<port>/live/s; the segmenter is
     the client that plays it) and as an SRT listener (-f mpegts
     srt://...?mode=listener; the broadcast's source is ?mode=caller);
     each goes live and a viewer plays it by content ID (h264, whole source
     chunks). A protocol this ffmpeg cannot serve is skipped with a
     printed reason

Nothing asserts a duration; timeouts are upper bounds. Needs ffmpeg and
ffprobe (exit 77 when missing) and the build's live, streamer, segmenter,
swarm and transport-tcp plugins.

    test_live.py --build BUILD_DIR [-k CASE]

OA_MEDIA_CACHE names the folder where the test clip is kept between runs.
OA_INTEROP_KEEP=1 keeps the engines' folders (logs) for a look.
"""
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "interop"))
sys.path.insert(0, _HERE)
import swarmtest as st  # noqa: E402  (may re-execute under the system python3)
from swarmtest import check, require  # noqa: E402
import oatest  # noqa: E402
import media  # noqa: E402
import test_streamer_live as tsl  # noqa: E402  (readers, clips, TS checks)
from oabencode import bencode, bdecode  # noqa: E402  (descriptor, chat, oa_live payloads)

PLUGINS = ("transport-tcp", "swarm", "segmenter", "streamer", "live")
# A keyframe every second (gop 25 at 25 fps): 1 s chunks.
CLIP = dict(seconds=10, size="640x360", fps=25, video_bitrate="1M", gop=25, audio=True)
LAVFI = "lavfi:testsrc2=size=640x360:rate=25[out0];sine=frequency=440:sample_rate=48000[out1]"
# Upper bounds only.
START_WAIT = 60.0   # a viewer's first byte (descriptor from peers, a join)
READ_S = 8.0        # seconds each viewer plays
EVENT_WAIT = 20.0
FFMPEG_TIMEOUT = 120.0
TS = 188


# ---- engines -----------------------------------------------------------------------------

def clip():
    return tsl.media_file(CLIP)


class Host:
    """An engine with the live plugin; peers are the Hosts it bootstraps to."""

    def __init__(self, name, peers=(), swarm=None, live=None, log_level="debug"):
        self.name = name
        settings = {"pex": False}
        if peers:
            settings["bootstrap_peers"] = " ".join(f"127.0.0.1:{p.oa.port}" for p in peers)
        settings.update(swarm or {})
        cfg = {"live": live} if live else None
        self.oa = st.Oa(name, settings, log_level=log_level, plugins=PLUGINS, config=cfg)
        self.port = self.oa.env.http_port
        self.base = f"http://127.0.0.1:{self.port}"

    def live(self, command, body=None):
        """The live plugin's command result, or None (reply in .oa.last)."""
        return self.oa.call(command, body or {}, plugin="live")

    def stream(self, cid):
        """This engine's `list` entry for stream cid, or {}."""
        res = self.live("list") or {}
        for s in res.get("streams") or []:
            if s.get("content_id") == cid:
                return s
        return {}

    def broadcast(self, name):
        res = self.live("list") or {}
        for b in res.get("broadcasts") or []:
            if b.get("name") == name:
                return b
        return {}

    def chunk_table(self, cid):
        """{seq: (size, sha256 hex, ts_ms)} of the chunks this engine holds."""
        res = self.live("chunks", {"content_id": cid}) or {}
        return {int(c["seq"]): (int(c["size"]), c["sha256"], c.get("ts_ms"))
                for c in res.get("chunks") or []}

    def tail(self):
        return self.oa.tail()


def start_broadcast(src, name="test", source=None, **opts):
    """Starts a broadcast on src; requires the contract's answer; returns it."""
    body = {"name": name, "source": source or clip(), "chunk_seconds": 1}
    if source is None:
        body["loop"] = True
    body.update(opts)
    res = src.live("start", body)
    keys = ("name", "content_id", "state", "getstream", "manifest", "descriptor")
    require(isinstance(res, dict) and all(k in res for k in keys) and
            len(res.get("content_id") or "") == 40,
            f"{src.name}: live start {name!r} -> name, content_id (40 hex), state, getstream, "
            "manifest, descriptor", src.oa.last.describe() + "\n" + src.tail())
    return res


def wait_source_chunks(src, cid, n=3, timeout=START_WAIT):
    """Waits until the source holds n chunks; requires it."""
    t0 = time.monotonic()
    table = {}
    while time.monotonic() - t0 < timeout and src.oa.eng.proc.poll() is None:
        table = src.chunk_table(cid)
        if len(table) >= n:
            break
        time.sleep(0.3)
    require(len(table) >= n, f"{src.name}: the broadcast produces chunks ({len(table)} held)",
            src.oa.last.describe() + "\n" + src.tail())
    return table


def reader(host, query):
    r = tsl.Reader(host.port, f"/ace/getstream?{query}", timeout=START_WAIT)
    r.start()
    return r


# ---- matching a viewer's bytes against the source's chunks --------------------------------

def walk(data, table):
    """Splits data into whole chunks of table ({seq: (size, sha, ts)}).
    The first chunk is found by its hash at offset 0; then each next chunk
    must follow (seq + 1, or a later seq after a jump, counted in gaps).
    Returns a dict: chunks (whole ones matched), first, last, gaps, tail
    (bytes after the last whole chunk, shorter than a chunk), bad (None,
    or why the bytes stop matching)."""
    data = bytes(data)
    out = {"chunks": 0, "first": None, "last": None, "gaps": 0, "jumps": [], "tail": 0,
           "bad": None}
    if not table:
        out["bad"] = "the source lists no chunks"
        return out

    def at(off, seq):
        size, sha, _ = table[seq]
        if off + size > len(data):
            return None  # not all here
        return hashlib.sha256(data[off:off + size]).hexdigest() == sha

    seqs = sorted(table)
    start = next((s for s in seqs if at(0, s)), None)
    if start is None:
        out["bad"] = (f"the first {min(len(data), 64)} bytes begin no source chunk "
                      f"(source holds {seqs[0]}..{seqs[-1]}, {len(data)} bytes read)")
        return out
    off, cur = 0, start
    out["first"] = start
    while True:
        off += table[cur][0]
        out["chunks"] += 1
        out["last"] = cur
        if off >= len(data):
            break
        nxt = cur + 1
        ok = at(off, nxt) if nxt in table else None
        if ok:
            cur = nxt
            continue
        if ok is None and nxt in table:
            out["tail"] = len(data) - off  # the reader stopped inside chunk nxt
            break
        later = next((s for s in seqs if s > nxt and at(off, s)), None)
        if later is not None:
            out["gaps"] += 1
            out["jumps"].append([cur, later])
            cur = later
            continue
        if nxt not in table and all(s <= cur for s in seqs):
            out["tail"] = len(data) - off  # past what the source listed
            break
        out["bad"] = f"bytes {off}.. (after chunk {cur}) are no source chunk"
        break
    return out


def check_bytes(who, rd, table, min_chunks=3, gaps_ok=0):
    """Checks a stopped reader: 200 video/mp2t, h264 in ffprobe, and its
    bytes are whole source chunks. Returns the walk."""
    data = bytes(rd.data)
    require(rd.status == 200 and len(data) > 0,
            f"{who}: getstream -> 200 and bytes", rd.describe())
    w = walk(data, table)
    check(w["bad"] is None and w["chunks"] >= min_chunks and w["gaps"] <= gaps_ok,
          f"{who}: the {len(data)} bytes are whole source chunks {w['first']}..{w['last']} "
          f"({w['chunks']} chunks, {w['gaps']} jumps, {w['tail']} bytes of the next)",
          json.dumps(w))
    whole = data[:len(data) - w["tail"]] if w["bad"] is None else data
    whole = whole[:len(whole) - len(whole) % TS]
    folder = st.mkdtemp("oa-live-probe-")
    streams, path = tsl.probe_bytes(folder, "viewer.ts", whole)
    check(("video", "h264") in streams, f"{who}: ffprobe finds h264 video in what it played",
          f"{streams} ({path})")
    return w


def play_all(viewers, cid, seconds=READ_S, together=False):
    """Every viewer plays getstream?id=cid for about seconds after the last
    one's first byte: one after another (each once the one before plays,
    as a chain fills from the source), or all at once with together.
    Returns the stopped readers."""
    rds = []
    for v in viewers:
        rds.append(reader(v, f"id={cid}"))
        if together:
            continue
        rd = rds[-1]
        require(rd.first_byte.wait(START_WAIT) and rd.status == 200 and rd.data,
                f"{v.name}: /ace/getstream?id=<cid> (content ID only) -> 200 and bytes",
                rd.describe() + "\n" + v.tail())
    for v, rd in zip(viewers, rds):
        if together:
            require(rd.first_byte.wait(START_WAIT) and rd.status == 200 and rd.data,
                    f"{v.name}: /ace/getstream?id=<cid> (content ID only, every viewer at "
                    "once) -> 200 and bytes", rd.describe() + "\n" + v.tail())
    time.sleep(seconds)
    for rd in rds:
        rd.stop()
    return rds


def topology(kind):
    """The source and three viewers in a chain or a star."""
    src = Host("src")
    if kind == "chain":
        v1 = Host("v1", [src])
        v2 = Host("v2", [v1])
        v3 = Host("v3", [v2])
    else:
        v1, v2, v3 = (Host(f"v{i}", [src]) for i in (1, 2, 3))
    return src, [v1, v2, v3]


def check_topology(kind, src, viewers, cid):
    """Each viewer's stream is a viewer role; the source's is the source."""
    s = src.stream(cid)
    check(s.get("role") == "source", f"source: list streams has {cid[:8]} as role source",
          json.dumps(s))
    for v in viewers:
        s = v.stream(cid)
        check(s.get("role") == "viewer" and s.get("peers", 0) >= 1 and
              s.get("downloaded", 0) > 0,
              f"{v.name}: list streams has {cid[:8]} as a viewer with peers and downloaded > 0",
              json.dumps(s))
    if kind == "chain":
        v3 = viewers[2].stream(cid)
        check(isinstance(v3.get("latency_median_ms"), int),
              f"v3 (3 hops): latency median {v3.get('latency_median_ms')} ms, "
              f"p95 {v3.get('latency_p95_ms')} ms reported", json.dumps(v3))


def copy_manifest(host, cid):
    out = os.path.join(st.mkdtemp("oa-live-hls-"), "copy.ts")
    url = f"{host.base}/ace/manifest.m3u8?id={cid}"
    args = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", url, "-t", "4", "-c", "copy",
            "-f", "mpegts", out]
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT)
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        rc, err = None, f"no exit within {FFMPEG_TIMEOUT} s"
    check(rc == 0 and os.path.exists(out),
          f"{host.name}: ffmpeg -i /ace/manifest.m3u8?id=<cid> -t 4 -c copy exits 0",
          f"{' '.join(args)}: exit {rc}\n{err[-1500:]}\n{host.tail()}")
    streams = media.ffprobe_streams(out, 30) if os.path.exists(out) else []
    check(("video", "h264") in streams, f"{host.name}: ffprobe finds h264 in ffmpeg's copy of "
          "the live playlist", str(streams))


# ---- a, b: chain and star ---------------------------------------------------------------

def run_topology(kind):
    src, viewers = topology(kind)
    res = start_broadcast(src)
    cid = res["content_id"]
    wait_source_chunks(src, cid)
    rds = play_all(viewers, cid, together=(kind == "star"))
    table = src.chunk_table(cid)
    for v, rd in zip(viewers, rds):
        check_bytes(f"{kind} {v.name}", rd, table)
    check_topology(kind, src, viewers, cid)
    return src, viewers, cid


@st.case
def case_chain():
    src, viewers, cid = run_topology("chain")
    copy_manifest(viewers[2], cid)


@st.case
def case_star():
    src, viewers, cid = run_topology("star")
    b = src.broadcast("test")
    check(b.get("state") == "live" and b.get("chunks", 0) > 0 and b.get("uploaded", 0) > 0,
          "source: list broadcasts shows 'test' live with chunks and uploaded > 0",
          json.dumps(b))


# ---- c: a malicious peer -------------------------------------------------------------------

class LivePeer:
    """A BitTorrent connection from a Python peer that speaks oa_live:
    handshake with the content ID as info-hash, a BEP 10 handshake offering
    {"oa_live": 3}, then oa_live payloads (livecore.h, docs/live-protocol.md).
    bind picks the local address (127.0.0.x), so that a ban of it touches
    no engine."""

    OUR_ID = 3

    def __init__(self, port, cid, bind):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((bind, 0))
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.closed = False
        self.their_live = None
        self.got = []  # oa_live payload dicts received
        ih = bytes.fromhex(cid)
        reserved = bytearray(8)
        reserved[5] |= 0x10
        peer_id = b"-PY0001-" + os.urandom(12)
        self.sock.sendall(b"\x13BitTorrent protocol" + bytes(reserved) + ih + peer_id)
        hs = self._read(68)
        if hs is None or hs[28:48] != ih:
            raise OSError(f"no BitTorrent handshake for {cid[:8]} from 127.0.0.1:{port}")
        self._send(20, bytes([0]) + bencode({"m": {"oa_live": self.OUR_ID}, "v": "py-live"}))

    def _read(self, n):
        while len(self.buf) < n:
            try:
                b = self.sock.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                b = b""
            if not b:
                self.closed = True
                return None
            self.buf += b
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send(self, msg_id, payload):
        try:
            self.sock.sendall(len(payload + b"x").to_bytes(4, "big") + bytes([msg_id]) + payload)
            return True
        except OSError:
            self.closed = True
            return False

    def send_live(self, d, raw=b""):
        """Sends an oa_live payload under the peer's id (3 when not told)."""
        return self._send(20, bytes([self.their_live or 3]) + bencode(d) + raw)

    def pump(self, seconds, on_live=None):
        """Reads messages for up to seconds (less when the peer closes);
        oa_live payloads go to self.got and on_live(dict, raw)."""
        end = time.monotonic() + seconds
        while not self.closed and time.monotonic() < end:
            self.sock.settimeout(max(0.05, min(0.5, end - time.monotonic())))
            head = self._read(4)
            if head is None:
                continue
            n = int.from_bytes(head, "big")
            self.sock.settimeout(10)
            body = self._read(n) if n else b""
            if body is None or n == 0:
                continue
            if body[0] != 20 or len(body) < 2:
                continue
            ext, payload = body[1], body[2:]
            try:
                d, end_off = bdecode(payload, str_keys=True)
            except (ValueError, IndexError):
                continue
            if ext == 0 and isinstance(d, dict):
                m = d.get("m") or {}
                if isinstance(m.get("oa_live"), int):
                    self.their_live = m["oa_live"]
            elif ext == self.OUR_ID and isinstance(d, dict):
                self.got.append(d)
                if on_live:
                    on_live(d, payload[end_off:])

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def announce_of(d):
    """An ANNOUNCE payload dict with the header fields of d (a received one)."""
    return {k: d[k] for k in ("t", "seq", "ts", "size", "pts", "dur", "hash", "sig") if k in d}


def can_bind(ip):
    try:
        s = socket.socket()
        s.bind((ip, 0))
        s.close()
        return True
    except OSError:
        return False


def wait_rejected(v, cid, above, timeout=10.0):
    t0 = time.monotonic()
    s = {}
    while time.monotonic() - t0 < timeout:
        s = v.stream(cid)
        if s.get("rejected", 0) > above:
            break
        time.sleep(0.25)
    return s


@st.case
def case_malicious():
    require(can_bind("127.0.0.2") and can_bind("127.0.0.3") and can_bind("127.0.0.4"),
            "a socket can bind 127.0.0.2-4 (Linux routes 127/8 to lo)")
    src, viewers = topology("chain")
    v3 = viewers[2]
    res = start_broadcast(src)
    cid = res["content_id"]
    wait_source_chunks(src, cid)
    events = v3.oa.events("swarm.*")
    # Every viewer plays (a box relays only the streams it has open).
    rds = []
    for v in viewers:
        rds.append(reader(v, f"id={cid}"))
        require(rds[-1].first_byte.wait(START_WAIT) and rds[-1].status == 200,
                f"{v.name}: getstream?id=<cid> -> 200 and bytes",
                rds[-1].describe() + "\n" + v.tail())
    rd = rds[-1]
    time.sleep(3)
    base = v3.stream(cid).get("rejected", 0)

    # 1: an ANNOUNCE of the next chunk with a signature that is not the broadcaster's.
    bad = LivePeer(v3.oa.port, cid, "127.0.0.2")
    bad.pump(2)
    edge = max([d.get("last", 0) for d in bad.got if d.get("t") == 0] or
               [v3.stream(cid).get("last", 0)])
    now = int(time.time() * 1000)
    fake = os.urandom(1000)
    bad.send_live({"t": 1, "seq": edge + 1, "ts": now, "size": len(fake), "pts": -1, "dur": 0,
                   "hash": hashlib.sha256(fake).digest(), "sig": os.urandom(64)})
    bad.pump(10)
    s = wait_rejected(v3, cid, base)
    check(s.get("rejected", 0) > base,
          f"v3 counts the badly signed ANNOUNCE as rejected ({base} -> {s.get('rejected')})",
          json.dumps(s) + "\n" + v3.tail())
    check(bad.closed, "v3 disconnects the peer that sent a badly signed ANNOUNCE",
          f"{len(bad.got)} oa_live messages received from v3")
    bad.close()

    # 2: real headers read from the source, relayed to v3 ahead of v2, and
    # corrupt DATA for whatever v3 asks.
    spy = LivePeer(src.oa.port, cid, "127.0.0.4")
    evil = LivePeer(v3.oa.port, cid, "127.0.0.3")
    real = {}  # (seq, off) -> block read from the source
    served = []
    base2 = v3.stream(cid).get("rejected", 0)

    def from_source(d, raw):
        if d.get("t") == 1:
            evil.send_live(announce_of(d))
            spy.send_live({"t": 2, "seq": d["seq"], "off": 0, "len": min(16384, d["size"])})
        elif d.get("t") == 3:
            real[(d.get("seq"), d.get("off"))] = raw

    def from_victim(d, raw):
        if d.get("t") == 2:
            blk = real.get((d.get("seq"), d.get("off")))
            n = d.get("len", 0)
            data = bytearray(blk[:n]) if blk and len(blk) >= n else bytearray(b"\x47" * n)
            if data:
                data[len(data) // 2] ^= 0xFF
            evil.send_live({"t": 3, "seq": d["seq"], "off": d["off"]}, bytes(data))
            served.append((d["seq"], d["off"], n, blk is not None))

    t0 = time.monotonic()
    while time.monotonic() - t0 < 30 and not evil.closed and not spy.closed:
        spy.pump(0.2, from_source)
        evil.pump(0.2, from_victim)
        if served and v3.stream(cid).get("rejected", 0) > base2:
            evil.pump(3, from_victim)
            break
    announced = [d for d in spy.got if d.get("t") == 1]
    require(announced, "the source sends a connected peer ANNOUNCEs of real chunks",
            f"{len(spy.got)} oa_live messages from the source, closed={spy.closed}: "
            f"{[d.get('t') for d in spy.got][:20]}\n{src.tail()}")
    require(served, "v3 asks the relaying peer for blocks of an announced chunk (else this "
            "case proves nothing)", f"{len(announced)} headers relayed; v3 sent "
            f"{[d.get('t') for d in evil.got][:20]}; closed={evil.closed}\n{v3.tail()}")
    s = wait_rejected(v3, cid, base2)
    check(s.get("rejected", 0) > base2,
          f"v3 counts the corrupt chunk as rejected ({base2} -> {s.get('rejected')}; "
          f"{len(served)} corrupt blocks served, real bytes flipped: "
          f"{sum(1 for x in served if x[3])})", json.dumps(s) + "\n" + v3.tail())
    evil.pump(5)
    ev = events.wait_for(lambda e: e[0] == "swarm.peer.banned" and "127.0.0.3" in e[1],
                         timeout=1)
    check(evil.closed or ev is not None,
          "v3 disconnects (or bans) the peer that served a corrupt chunk",
          f"events: {[e[0] for e in events.events][-20:]}")
    evil.close()
    spy.close()

    # The stream went on: new chunks after the attack, all matching the source.
    last = v3.stream(cid).get("last", 0)
    time.sleep(4)
    for x in rds:
        x.stop()
    s = v3.stream(cid)
    check(s.get("last", 0) > last, f"v3's stream goes on after the attack (edge {last} -> "
          f"{s.get('last')})", json.dumps(s))
    check_bytes("v3 through the attack", rd, src.chunk_table(cid), min_chunks=6)


# ---- d: the source restarts -----------------------------------------------------------------

@st.case
def case_restart():
    src, viewers = topology("star")
    v1 = viewers[0]
    res = start_broadcast(src)
    cid = res["content_id"]
    wait_source_chunks(src, cid)
    events = v1.oa.events("live.*")
    rd = reader(v1, f"id={cid}")
    require(rd.first_byte.wait(START_WAIT) and rd.status == 200,
            "v1: getstream?id=<cid> -> 200 and bytes", rd.describe() + "\n" + v1.tail())
    time.sleep(4)
    before = src.chunk_table(cid)
    edge = v1.stream(cid).get("last", 0)
    src.oa.restart()
    t0 = time.monotonic()
    b = {}
    while time.monotonic() - t0 < START_WAIT:
        b = src.broadcast("test")
        if b.get("state") == "live" and b.get("chunks", 0) > 0:
            break
        time.sleep(0.5)
    check(b.get("content_id") == cid and b.get("state") == "live" and b.get("auto_start"),
          "source restarted: broadcast 'test' auto-starts, live, with the same content ID",
          json.dumps(b) + "\n" + src.tail())
    t0 = time.monotonic()
    s = {}
    while time.monotonic() - t0 < START_WAIT:
        s = v1.stream(cid)
        if s.get("last", 0) >= edge + 4:
            break
        time.sleep(0.5)
    check(s.get("last", 0) >= edge + 4,
          f"v1 receives new chunks after the source restarted (edge {edge} -> {s.get('last')})",
          json.dumps(s) + "\n" + v1.tail())
    after = src.chunk_table(cid)
    check(after and min(after) > max(before or {0: 0}),
          "the restarted source numbers its chunks after the old ones "
          f"({min(before or [0])}..{max(before or [0])} then "
          f"{min(after or [0])}..{max(after or [0])})")
    time.sleep(2)
    rd.stop()
    table = dict(before)
    table.update(src.chunk_table(cid))
    if rd.eof or rd.error:
        # The player was ended by the restart: a new one must play on.
        check(True, f"v1's first reader ended at the restart ({rd.describe()[:120]}); "
              "a new one plays")
        rd2 = reader(v1, f"id={cid}")
        rd2.first_byte.wait(START_WAIT)
        time.sleep(4)
        rd2.stop()
        check_bytes("v1 after the restart", rd2, src.chunk_table(cid))
    else:
        w = check_bytes("v1 across the restart", rd, table, min_chunks=6, gaps_ok=1)
        check(w["last"] is not None and w["last"] >= min(after or [0]),
              "v1's player got chunks the restarted source made", json.dumps(w))
    ev = events.wait_for(lambda e: e[0].startswith("live."), timeout=1)
    st.log(f"v1 live events: {[e[0] for e in events.events][:10]} (first {ev})")


# ---- e: descriptor URL, lavfi, list, stop, errors ----------------------------------------------

def wait_event(rd, topic, pred=lambda d: True, timeout=EVENT_WAIT):
    e = rd.wait_for(lambda e: e[0] == topic and pred(oatest.sse_json(e) or {}), timeout)
    return oatest.sse_json(e) if e else None


@st.case
def case_commands():
    src = Host("src")
    v1 = Host("v1", [src])
    events = src.oa.events("live.*")
    res = start_broadcast(src, "clip")
    cid = res["content_id"]
    ev = wait_event(events, "live.started", lambda d: d.get("content_id") == cid)
    check(ev is not None and ev.get("name") == "clip", "live.started {name, content_id}",
          f"{[e for e in events.events][:10]}")
    check(res["getstream"].endswith(f"/ace/getstream?id={cid}") and
          res["manifest"].endswith(f"/ace/manifest.m3u8?id={cid}") and
          res["descriptor"].endswith(f"/live/{cid}.acelive"),
          "start answers the getstream, manifest and descriptor URLs", json.dumps(res))
    wait_source_chunks(src, cid)

    r = oatest.http_request(src.port, "GET", f"/live/{cid}.acelive")
    check(r.status == 200 and hashlib.sha1(r.body).hexdigest() == cid and
          (r.header("content-type") or "").startswith("application/x-openace-live"),
          "GET /live/<cid>.acelive (no auth) -> the descriptor, SHA-1 = content ID, "
          "application/x-openace-live", r.describe()[:800])
    try:
        desc, _ = bdecode(r.body, str_keys=True)
    except (ValueError, IndexError):
        desc = {}
    check(desc.get("oa_live") == 1 and desc.get("name") == b"clip" and
          len(desc.get("pubkey") or b"") == 32 and desc.get("chunk_ms") == 1000,
          "the descriptor is bencoded with oa_live 1, the name, a 32-byte key, chunk_ms 1000",
          repr(desc)[:600])
    r = oatest.http_request(src.port, "GET", "/live/" + "0" * 40 + ".acelive")
    check(r.status == 404, "GET /live/<unknown>.acelive -> 404", r.describe()[:400])

    url = urllib.parse.quote(f"{src.base}/live/{cid}.acelive", safe="")
    rd = reader(v1, f"url={url}")
    require(rd.first_byte.wait(START_WAIT) and rd.status == 200,
            "v1: getstream?url=http://source/live/<cid>.acelive -> 200 and bytes",
            rd.describe() + "\n" + v1.tail())
    time.sleep(5)
    rd.stop()
    check_bytes("v1 by url=", rd, src.chunk_table(cid))
    ev = wait_event(events, "live.viewer.joined", lambda d: d.get("content_id") == cid,
                    timeout=2)
    check(ev is not None and ev.get("kind") in ("peer", "http"),
          "source: live.viewer.joined {content_id, kind, addr}",
          f"{[e[0] for e in events.events]}")

    # A generated source (the segmenter encodes lavfi into H.264/AAC).
    lres = src.live("start", {"name": "pattern", "source": LAVFI, "chunk_seconds": 1,
                              "auto_start": False})
    lcid = (lres or {}).get("content_id")
    if check(lcid is not None, "start a lavfi:testsrc2 + sine source -> a content ID",
             src.oa.last.describe()):
        rd = reader(v1, f"id={lcid}")
        ok = rd.first_byte.wait(START_WAIT) and rd.status == 200
        time.sleep(5)
        rd.stop()
        if check(ok, "v1 plays the lavfi broadcast by content ID", rd.describe() + "\n" +
                 src.tail()):
            check_bytes("v1 lavfi", rd, src.chunk_table(lcid), min_chunks=2)

    lst = src.live("list") or {}
    names = {b.get("name"): b for b in lst.get("broadcasts") or []}
    b = names.get("clip") or {}
    keys = ("name", "content_id", "state", "source", "auto_start", "chunks", "last_seq",
            "uploaded", "peers", "viewers", "source_error")
    check(all(k in b for k in keys) and b.get("state") == "live" and b.get("chunks", 0) > 0,
          "list: broadcast 'clip' with every field, state live, chunks > 0", json.dumps(lst))
    check(any(s.get("content_id") == cid and s.get("role") == "source"
              for s in lst.get("streams") or []), "list: streams has the source stream",
          json.dumps(lst))

    # Errors: each a 400 with a sentence.
    def bad(body, what):
        res = src.live("start", body)
        r = src.oa.last
        msg = ((r.json or {}).get("error") or {}).get("message", "") if isinstance(r.json,
                                                                                   dict) else ""
        check(res is None and r.status == 400 and len(msg) > 10,
              f"start with {what} -> 400 with a sentence ({msg!r})", r.describe()[:600])

    bad({"source": clip()}, "no name")
    bad({"name": "x" * 128, "source": clip()}, "a 128-byte name")
    bad({"name": "y"}, "no source")
    bad({"name": "y", "source": clip(), "chunk_seconds": 50}, "chunk_seconds 50")
    bad({"name": "y", "source": clip(), "window": 2}, "window 2")

    missing = os.path.join(st.mkdtemp("oa-live-none-"), "no-such-file.ts")
    res = src.live("start", {"name": "broken", "source": missing})
    if res is None:
        r = src.oa.last
        check(r.status == 400 and "error" in (r.json or {}),
              "start with a source that does not exist -> 400 with a sentence",
              r.describe()[:600])
    else:
        bcid = res.get("content_id")
        ev = wait_event(events, "live.source.error", lambda d: d.get("content_id") == bcid)
        check(ev is not None and len(ev.get("reason") or "") > 10 and
              isinstance(ev.get("retry_in_ms"), int) and ev.get("name") == "broken",
              "a source that does not exist -> live.source.error {name, content_id, reason, "
              f"retry_in_ms}} ({(ev or {{}}).get('reason')!r})",
              f"{[e for e in events.events if e[0] != 'live.chat'][-10:]}")
        check(bool(src.broadcast("broken").get("source_error")),
              "list: the broken broadcast has its source_error", json.dumps(src.broadcast(
                  "broken")))
        src.live("stop", {"name": "broken", "forget": True})
        check(src.oa.last.status == 200 and not src.broadcast("broken"),
              "stop {name, forget: true} removes the broken broadcast", src.oa.last.describe())

    # stop ends the broadcast; its listing says so.
    res = src.live("stop", {"name": "clip"})
    check(src.oa.last.status == 200, "stop {name: clip} -> 200", src.oa.last.describe())
    ev = wait_event(events, "live.stopped", lambda d: d.get("content_id") == cid)
    check(ev is not None and ev.get("name") == "clip" and ev.get("reason"),
          "live.stopped {name, content_id, reason}", f"{[e[0] for e in events.events]}")
    check(src.broadcast("clip").get("state") == "stopped", "list: 'clip' is stopped",
          json.dumps(src.live("list")))
    res = src.live("stop", {"content_id": "f" * 40})
    check(res is None and src.oa.last.status in (400, 404),
          "stop of an unknown content ID -> 404 (or 400)", src.oa.last.describe()[:400])


# ---- f: chat ------------------------------------------------------------------------------------

def chat_reader(host, cid):
    r = oatest.SseReader(host.port, f"/api/live/{cid}/chat",
                         {"Authorization": f"Bearer {host.oa.token}",
                          "Accept": "text/event-stream"}, timeout=120)
    r.start()
    require(r.opened.wait(10) and r.status == 200,
            f"{host.name}: GET /api/live/<cid>/chat -> 200 (got {r.status})", str(r.error))
    st._readers.append(r)
    return r


def post_chat(host, cid, text):
    return host.oa.client.post(f"/api/live/{cid}/chat", {"text": text})


def has_text(text):
    return lambda e: e[0] == "chat" and (oatest.sse_json(e) or {}).get("text") == text


@st.case
def case_chat():
    src, viewers = topology("star")
    v1, v2, v3 = viewers
    res = start_broadcast(src)
    cid = res["content_id"]
    wait_source_chunks(src, cid)
    rds = [reader(v, f"id={cid}") for v in viewers]  # the viewers join the stream
    for v, rd in zip(viewers, rds):
        require(rd.first_byte.wait(START_WAIT) and rd.status == 200,
                f"{v.name}: plays the stream", rd.describe())
    sse_src, sse_v1 = chat_reader(src, cid), chat_reader(v1, cid)
    lua_events = v1.oa.events("live.chat")
    text = "hello @v1 from the third viewer :wave: :+1:"
    r = post_chat(v3, cid, text)
    check(r.status == 200 and (r.json or {}).get("sent") is True,
          "v3: POST /api/live/<cid>/chat -> 200 {sent: true}", r.describe()[:600])
    got = {}
    for name, sse in (("v1", sse_v1), ("source", sse_src)):
        e = sse.wait_for(has_text(text), EVENT_WAIT)
        got[name] = oatest.sse_json(e) if e else None
        check(e is not None, f"{name}: v3's message arrives on its chat SSE",
              f"{sse.events[-5:]}")
    m = got.get("v1") or {}
    check(m.get("mentions") == ["v1"] and sorted(m.get("emotes") or []) == ["+1", "wave"] and
          m.get("content_id") == cid and len(m.get("from") or "") == 64 and
          isinstance(m.get("ts_ms"), int),
          "the message has mentions [v1], emotes [wave, +1], content_id, from (64 hex), ts_ms",
          json.dumps(m))
    e = lua_events.wait_for(lambda e: e[0] == "live.chat" and text in e[1], EVENT_WAIT)
    check(e is not None, "v1: a live.chat event on the bus for v3's message",
          f"{lua_events.events[-5:]}")
    for bad_text in ("", "x" * 501):
        r = post_chat(v3, cid, bad_text)
        check(r.status == 400, f"POST chat with a {len(bad_text)}-byte text -> 400",
              r.describe()[:400])
    r = v3.oa.client.post("/api/live/" + "e" * 40 + "/chat", {"text": "hi"})
    check(r.status == 404, "POST chat to a stream not open here -> 404", r.describe()[:400])

    who = m.get("from")
    r = src.oa.client.post(f"/api/live/{cid}/mute", {"from": who, "minutes": 10})
    check(r.status == 200, "source: POST /api/live/<cid>/mute {from: v3} -> 200",
          r.describe()[:600])
    r = v1.oa.client.post(f"/api/live/{cid}/mute", {"from": who, "minutes": 10})
    check(r.status == 409, "a viewer cannot mute (409)", r.describe()[:400])
    time.sleep(2)  # the mute spreads
    muted = "this one should not arrive"
    post_chat(v3, cid, muted)
    control = "v2 still speaks :ok:"
    r = post_chat(v2, cid, control)
    check(r.status == 200, "v2: POST chat after the mute -> 200", r.describe()[:400])
    check(sse_v1.wait_for(has_text(control), EVENT_WAIT) is not None,
          "v1: v2's later message arrives", f"{sse_v1.events[-5:]}")
    time.sleep(2)
    check(not any(has_text(muted)(e) for e in sse_v1.events + sse_src.events),
          "the muted v3's later message reaches neither v1 nor the source",
          f"{sse_v1.events[-5:]}")
    for rd in rds:
        rd.stop()


# ---- g: network sources (udp://, http://) -------------------------------------------------

STALL_S = 3  # the live plugin's stall_seconds on the source of case g


def ffmpeg_feeder(out_args, log_name, fmt="mpegts"):
    """Starts ffmpeg playing the test clip in a loop in real time, copied
    into an output of format fmt (out_args: the output's options and URL).
    Killed after the case."""
    folder = st.mkdtemp("oa-live-feed-")
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-re", "-stream_loop", "-1",
            "-i", clip(), "-c", "copy", "-f", fmt] + list(out_args)
    p = st.spawn(args, os.path.join(folder, log_name))
    p.log_path = os.path.join(folder, log_name)
    return p


def feeder_log(p):
    """The end of a feeder's output, for failure messages."""
    try:
        with open(p.log_path, errors="replace") as f:
            return f"ffmpeg feeder: {' '.join(p.args)}\n{f.read()[-800:]}"
    except OSError:
        return ""


def tcp_listening(port, udp=False):
    """Whether something listens on TCP 127.0.0.1:port, or with udp has
    UDP 127.0.0.1:port bound (read from /proc/net/tcp or udp: a connection
    would be the one client ffmpeg -listen 1 or an SRT listener serves)."""
    want = f"0100007F:{port:04X}"
    table, state = ("/proc/net/udp", "07") if udp else ("/proc/net/tcp", "0A")
    try:
        with open(table) as f:
            rows = [l.split() for l in f.read().splitlines()[1:]]
    except OSError:
        return False
    return any(len(r) > 3 and r[1] == want and r[3] == state for r in rows)


def wait_until(pred, timeout, step=0.3):
    """pred()'s last value once truthy or after timeout seconds."""
    t0 = time.monotonic()
    v = pred()
    while not v and time.monotonic() - t0 < timeout:
        time.sleep(step)
        v = pred()
    return v


def wait_state(src, name, state, timeout=START_WAIT):
    """src's listing of broadcast name once in state (or the last one)."""
    last = {}

    def is_state():
        nonlocal last
        last = src.broadcast(name)
        return last.get("state") == state and (state != "live" or last.get("chunks", 0) > 0)

    wait_until(is_state, timeout)
    return last


def play_network(src, v1, name, cid, what, feed):
    """The broadcast goes live; v1 plays it by content ID (h264, whole
    source chunks). Returns the listing."""
    b = wait_state(src, name, "live")
    require(b.get("state") == "live" and b.get("content_id") == cid,
            f"{what}: broadcast {name!r} reaches state live with chunks",
            json.dumps(b) + "\n" + src.tail() + "\n" + feeder_log(feed))
    wait_source_chunks(src, cid)
    rd = play_all([v1], cid, seconds=4)[0]
    check_bytes(f"v1 {what}", rd, src.chunk_table(cid), min_chunks=2)
    return b


@st.case
def case_network():
    src = Host("src", live={"stall_seconds": STALL_S, "retry_max_seconds": 2})
    v1 = Host("v1", [src])
    events = src.oa.events("live.*")

    # (1) UDP: the feeder sends to a port the segmenter binds.
    uport = oatest.free_port(socket.SOCK_DGRAM)
    udp_out = [f"udp://127.0.0.1:{uport}?pkt_size=1316"]
    feed = ffmpeg_feeder(udp_out, "udp-feed.log")
    res = start_broadcast(src, "udp", source=f"udp://127.0.0.1:{uport}")
    ucid = res["content_id"]
    play_network(src, v1, "udp", ucid, "udp://", feed)

    # (2) HTTP: ffmpeg's own server (one client: the engine), listening
    # before the broadcast starts.
    hport = oatest.free_port()
    hfeed = ffmpeg_feeder(["-listen", "1", f"http://127.0.0.1:{hport}/s.ts"], "http-feed.log")
    require(wait_until(lambda: tcp_listening(hport) or hfeed.poll() is not None, 30) and
            hfeed.poll() is None, f"ffmpeg -listen 1 serves http://127.0.0.1:{hport}/s.ts",
            f"exit {hfeed.poll()}\n{feeder_log(hfeed)}")
    res = start_broadcast(src, "http", source=f"http://127.0.0.1:{hport}/s.ts")
    hcid = res["content_id"]
    check(hcid != ucid, "the HTTP broadcast has a content ID of its own", json.dumps(res))
    play_network(src, v1, "http", hcid, "http://", hfeed)
    src.live("stop", {"name": "http"})
    check(src.oa.last.status == 200, "stop {name: http} -> 200", src.oa.last.describe())

    # The UDP feeder dies: the source stalls, tells, and reconnects.
    rd = reader(v1, f"id={ucid}")
    require(rd.first_byte.wait(START_WAIT) and rd.status == 200,
            "v1: getstream?id=<udp cid> -> 200 and bytes", rd.describe() + "\n" + v1.tail())
    time.sleep(1)
    old = {id(e) for e in events.events}  # only errors after the kill count
    feed.kill()
    feed.wait(10)
    e = events.wait_for(lambda e: id(e) not in old and e[0] == "live.source.error" and
                        (oatest.sse_json(e) or {}).get("content_id") == ucid,
                        STALL_S + EVENT_WAIT)
    ev = oatest.sse_json(e) if e else None
    check(ev is not None and ev.get("name") == "udp" and len(ev.get("reason") or "") > 10 and
          isinstance(ev.get("retry_in_ms"), int),
          "feeder killed: live.source.error {name: udp, content_id, reason, retry_in_ms} "
          f"({(ev or {}).get('reason')!r})",
          f"{[e for e in events.events if e[0] != 'live.chat'][-10:]}\n{src.tail()}")
    b = wait_state(src, "udp", "reconnecting", timeout=STALL_S + EVENT_WAIT)
    check(b.get("state") == "reconnecting" and b.get("source_error"),
          "list: the udp broadcast is reconnecting, with its source_error", json.dumps(b))
    before = src.chunk_table(ucid)
    edge = v1.stream(ucid).get("last", 0)

    # The feeder is back: live again, same content ID, new chunks reach v1.
    feed = ffmpeg_feeder(udp_out, "udp-feed-2.log")
    b = wait_state(src, "udp", "live")
    check(b.get("state") == "live" and b.get("content_id") == ucid,
          "feeder restarted: the udp broadcast is live again with the same content ID",
          json.dumps(b) + "\n" + src.tail() + "\n" + feeder_log(feed))
    s = wait_until(lambda: (lambda x: x if x.get("last", 0) >= edge + 3 else None)(
        v1.stream(ucid)), START_WAIT)
    check(s is not None, f"v1 receives new chunks after the feeder came back (edge {edge} -> "
          f"{v1.stream(ucid).get('last')})", json.dumps(v1.stream(ucid)) + "\n" + v1.tail())
    rd.stop()
    table = dict(before)
    table.update(src.chunk_table(ucid))
    if rd.eof or rd.error:
        check(True, f"v1's reader ended while the source was away ({rd.describe()[:120]}); "
              "a new one plays")
        rd2 = play_all([v1], ucid, seconds=4)[0]
        check_bytes("v1 after the udp feeder came back", rd2, src.chunk_table(ucid),
                    min_chunks=2)
    else:
        w = check_bytes("v1 across the udp feeder's restart", rd, table, min_chunks=4,
                        gaps_ok=1)
        check(w["last"] is not None and before and w["last"] > max(before),
              "v1's player got chunks made after the feeder came back", json.dumps(w))


# ---- h: rtmp and srt sources ---------------------------------------------------------------

def ffmpeg_output_protocols():
    """The protocols `ffmpeg -protocols` lists as outputs (the engine's
    libavformat is the same one), or None when ffmpeg does not answer."""
    try:
        p = subprocess.run(["ffmpeg", "-hide_banner", "-protocols"], capture_output=True,
                           text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out, found = set(), False
    for line in p.stdout.splitlines():
        if line.strip().startswith("Output"):
            found = True
        elif found and line.startswith(" "):
            out.add(line.strip())
    return out if found else None


def serve_and_play(src, v1, name, url, source, out_args, fmt, udp, others):
    """ffmpeg serves the looping clip at url (out_args, format fmt; the
    listening socket is UDP with udp); a broadcast of source goes live and
    v1 plays it by content ID; the broadcast stops. Returns its content ID."""
    port = urllib.parse.urlsplit(url).port
    feed = ffmpeg_feeder(out_args, f"{name}-feed.log", fmt=fmt)
    require(wait_until(lambda: tcp_listening(port, udp) or feed.poll() is not None, 30) and
            feed.poll() is None, f"ffmpeg serves {url}", f"exit {feed.poll()}\n{feeder_log(feed)}")
    res = start_broadcast(src, name, source=source)
    cid = res["content_id"]
    check(cid not in others, f"the {name} broadcast has a content ID of its own",
          json.dumps(res))
    play_network(src, v1, name, cid, f"{name}://", feed)
    src.live("stop", {"name": name})
    check(src.oa.last.status == 200, f"stop {{name: {name}}} -> 200", src.oa.last.describe())
    return cid


@st.case
def case_rtmp_srt():
    outs = ffmpeg_output_protocols()
    src = Host("src")
    v1 = Host("v1", [src])
    cids = []

    # (1) RTMP: ffmpeg is the server (one client: the engine's segmenter,
    # which plays rtmp://127.0.0.1:<port>/live/s).
    if outs is not None and "rtmp" not in outs:
        print("  SKIP rtmp:// source: this ffmpeg lists no rtmp output protocol "
              "(ffmpeg -protocols), so it cannot serve one")
    else:
        url = f"rtmp://127.0.0.1:{oatest.free_port()}/live/s"
        cids.append(serve_and_play(src, v1, "rtmp", url, url, ["-listen", "1", url], "flv",
                                   False, cids))

    # (2) SRT: ffmpeg is the listener, the engine calls.
    if outs is not None and "srt" not in outs:
        print("  SKIP srt:// source: this ffmpeg lists no srt output protocol "
              "(ffmpeg -protocols; libavformat built without libsrt)")
    else:
        base = f"srt://127.0.0.1:{oatest.free_port(socket.SOCK_DGRAM)}"
        cids.append(serve_and_play(src, v1, "srt", base, base + "?mode=caller",
                                   [base + "?mode=listener"], "mpegts", True, cids))


CASES = [
    ("a chain: three hops, bytes match the source", case_chain),
    ("b star: bytes match the source", case_star),
    ("c malicious peer: forged chunks refused, stream goes on", case_malicious),
    ("d source restart: same content ID, viewers continue", case_restart),
    ("e descriptor URL, lavfi, list, stop, errors", case_commands),
    ("f chat: gossip, tokens, mute", case_chat),
    ("g network sources: udp://, http://, a feeder that dies and returns", case_network),
    ("h rtmp and srt sources: ffmpeg as the RTMP server and the SRT listener", case_rtmp_srt),
]

if __name__ == "__main__":
    if os.environ.get("OA_INTEROP_KEEP") == "1":
        oatest.temp_dirs = st._KeptDirs()
    oatest.main_media(CASES, __doc__, tmp_prefix="oa-live-",
                      need=tuple(f"plugins/{p}.so" for p in PLUGINS))

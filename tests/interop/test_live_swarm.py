#!/usr/bin/env python3
"""Live streams in the swarm engine (issue 7), engine level: OpenAce engines
on loopback with transport-tcp, swarm and the live-probe test plugin
(tests/swarm/live_probe.c), which sources signed chunks of random bytes and
views streams through the swarm's live service.

Cases:
  chain   a source, viewer 1 (knows the descriptor, bootstraps to the
          source) and viewer 2 (knows only the content ID, bootstraps only to
          viewer 1, PEX off): both viewers fetch every chunk from their start
          on, byte-identical (SHA-256) and in order; viewer 2 fetched the
          descriptor from its peer; chat reaches every engine.
  forged  a peer of our own (BT handshake, BEP 10 with oa_live, an ANNOUNCE
          with a bad Ed25519 signature) is closed and banned by the viewer
          while the chunks keep flowing from the source.
  late    a viewer joining a running stream starts live_join_behind (3)
          chunks behind the edge, not at the beginning.
  chain3  source <- viewer1 <- viewer2 <- viewer3, the last two knowing only
          the content ID: viewer3 is connected to viewer2 before viewer2 has
          the descriptor; viewer2's later BEP 10 handshake (now with
          metadata_size) lets viewer3 fetch it, and every chunk flows.
  star    three viewers on one source (PEX on): all get every chunk; the
          source uploads less than fanout + 0.5 copies of the stream.
  starnp  three viewers each bootstrapping only to the source (PEX off, so
          never connected to each other): the source's late ANNOUNCE of
          each chunk to the peers no relay reached means no gap.
  nolive  a peer whose extension handshake lacks oa_live is closed.
  inject  a raw peer sends a bad block of a chunk the viewer asked of another
          (raw, honest) peer: the block is not taken, the honest peer's
          blocks are and the chunk completes; a raw peer that is asked and
          sends bad bytes is closed and banned alone.
  meta    a viewer by content ID: a peer announcing an 8 MiB metadata_size
          is closed; a peer flooding ut_metadata pieces with wrong bytes and
          sizes does not keep the viewer from the source's descriptor.
  chat    chat replays (ts_ms 20 minutes old, a seq not after the sender's
          last) are dropped; a peer sending more chat than the per-peer
          limit is closed; the swarm's `remove` refuses a live stream.
  memory  a viewer with live_max_mb 4 keeps about 4 MiB of a stream of
          300 KB chunks in a 40-chunk window, and still plays every chunk.
"""
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import swarmtest as st  # noqa: E402
from swarmtest import check, require  # noqa: E402
from oabencode import bdecode  # noqa: E402

st.PLUGIN_DIRS.append("tests/live-plugins")
PLUGINS = ("live-probe",)
CHUNK_MS = 500


def probe(oa, cmd, body):
    res = oa.call(cmd, body, plugin="live-probe")
    require(res is not None, f"{oa.name}: live-probe {cmd} answers",
            oa.last.describe() + "\n" + oa.tail())
    return res


def engine(name, **settings):
    base = {"pex": False}
    base.update(settings)
    return st.Oa(name, base, plugins=PLUGINS)


class Source:
    """A live-probe source on an engine, and what it published."""

    def __init__(self, oa, name="probe stream"):
        self.oa = oa
        r = probe(oa, "source", {"name": name, "chunk_ms": CHUNK_MS, "window": 40})
        self.cid = r["content_id"]
        self.desc = r["descriptor"]
        self.sha = {}

    def publish(self, n=1, lo=20000, hi=200000):
        for _ in range(n):
            r = probe(self.oa, "publish", {"content_id": self.cid, "size": random.randint(lo, hi)})
            self.sha[r["seq"]] = r["sha256"]

    def pump(self, seconds):
        """Publishes a chunk every CHUNK_MS for seconds."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.publish()
            time.sleep(CHUNK_MS / 1000.0)


def finish(*engines):
    """Stops each engine cleanly (exit 0) and checks its log for sanitizer
    reports (an ASan/UBSan build prints them on stderr, our log file)."""
    for oa in engines:
        oa.stop()
        text = oa.eng.text()
        check("AddressSanitizer" not in text and "runtime error" not in text and
              "LeakSanitizer" not in text, f"{oa.name}: no sanitizer report",
              text[-3000:])


def got(oa, cid):
    return probe(oa, "got", {"content_id": cid})


def wait_seq(oa, cid, seq, timeout=20.0):
    end = time.monotonic() + timeout
    g = got(oa, cid)
    while time.monotonic() < end:
        if g["chunks"] and g["chunks"][-1]["seq"] >= seq:
            return g
        time.sleep(0.2)
        g = got(oa, cid)
    return g


def check_stream(who, g, src, first_max=None):
    """Every chunk delivered in order, without gaps, byte-identical."""
    chunks = g["chunks"]
    require(len(chunks) > 0, f"{who}: chunks delivered", str(g)[:500])
    seqs = [c["seq"] for c in chunks]
    check(seqs == list(range(seqs[0], seqs[0] + len(seqs))),
          f"{who}: {len(seqs)} chunks {seqs[0]}..{seqs[-1]} in order, none missing", str(seqs))
    bad = [c["seq"] for c in chunks if src.sha.get(c["seq"]) != c["sha256"]]
    check(not bad, f"{who}: every chunk's SHA-256 equals the source's", str(bad))
    gaps = [c["seq"] for c in chunks if c["gap"]]
    check(not gaps, f"{who}: no gap flagged", str(gaps))
    if first_max is not None:
        check(seqs[0] <= first_max, f"{who}: starts at chunk {seqs[0]} (at most {first_max})")


@st.case
def case_chain():
    s = engine("source")
    src = Source(s)
    src.publish(4)
    v1 = engine("viewer1", bootstrap_peers=f"127.0.0.1:{s.port}")
    probe(v1, "view", {"content_id": src.cid, "descriptor": src.desc})
    v2 = engine("viewer2", bootstrap_peers=f"127.0.0.1:{v1.port}")
    probe(v2, "view", {"content_id": src.cid})
    src.pump(8)
    last = max(src.sha)
    g1 = wait_seq(v1, src.cid, last)
    g2 = wait_seq(v2, src.cid, last)
    check(g1["descriptor"], "viewer1: descriptor callback with status 0")
    check(g2["descriptor"], "viewer2: descriptor fetched from its peer by content ID alone",
          str(g2)[:300] + "\n" + v2.tail())
    check_stream("viewer1", g1, src, first_max=3)
    check_stream("viewer2", g2, src)
    check(g1["chunks"][-1]["seq"] == last and g2["chunks"][-1]["seq"] == last,
          f"both viewers reached the source's last chunk {last}",
          f"v1 {g1['chunks'][-1]['seq']} v2 {g2['chunks'][-1]['seq']}\n" + v2.tail())
    lst = s.call("list")
    item = [c for c in (lst or {}).get("content", []) if c.get("infohash") == src.cid]
    check(item and item[0].get("live") is True and "live_stats" in item[0],
          "swarm list shows the stream with live: true and live_stats", str(lst)[:600])
    st2 = probe(v2, "stats", {"content_id": src.cid})
    check(st2["latency_samples"] > 0 and st2["latency_median_ms"] < 3000,
          f"viewer2: latency median {st2['latency_median_ms']} ms, p95 "
          f"{st2['latency_p95_ms']} ms over {st2['latency_samples']} chunks", str(st2))
    peers_v2 = v2.stats(src.cid).get("peer_list", [])
    check(all(str(s.port) not in p.get("addr", "") for p in peers_v2),
          "viewer2 is not connected to the source (chain)", str(peers_v2))
    # chat from viewer 2 reaches the source and viewer 1
    r = probe(v2, "chat", {"content_id": src.cid, "text": "hello @all :wave:"})
    check(r["rc"] == 0, "viewer2: live_chat accepted", str(r))
    end = time.monotonic() + 10
    while time.monotonic() < end:
        if got(s, src.cid)["chats"] >= 1 and got(v1, src.cid)["chats"] >= 1:
            break
        time.sleep(0.2)
    check(got(s, src.cid)["chats"] == 1 and got(v1, src.cid)["chats"] == 1 and
          got(v2, src.cid)["chats"] == 1,
          "the chat message reached every engine once (gossip, de-duplicated)")
    sv = probe(s, "stats", {"content_id": src.cid})
    total = sum(1 for _ in src.sha)
    check(sv["uploaded"] > 0, f"source uploaded {sv['uploaded']} bytes for {total} chunks")
    finish(v2, v1, s)


@st.case
def case_chain3():
    s = engine("source")
    src = Source(s)
    src.publish(3)
    # viewer2 and viewer3 first, by content ID only, connected to each
    # other while neither has the descriptor
    v2 = engine("viewer2")
    probe(v2, "view", {"content_id": src.cid})
    v3 = engine("viewer3", bootstrap_peers=f"127.0.0.1:{v2.port}")
    probe(v3, "view", {"content_id": src.cid})
    end = time.monotonic() + 10
    while time.monotonic() < end and not v2.stats(src.cid).get("peer_list"):
        time.sleep(0.1)
    require(v2.stats(src.cid).get("peer_list"), "viewer3 is connected to viewer2",
            v3.tail())
    # then viewer1 (by content ID too) joins the source and viewer2
    v1 = engine("viewer1", bootstrap_peers=f"127.0.0.1:{s.port} 127.0.0.1:{v2.port}")
    probe(v1, "view", {"content_id": src.cid})
    src.pump(6)
    last = max(src.sha)
    for name, v in (("viewer1", v1), ("viewer2", v2), ("viewer3", v3)):
        g = wait_seq(v, src.cid, last, timeout=10)
        check(g["descriptor"], f"{name}: descriptor fetched from peers", v.tail())
        if not g["chunks"]:
            check(False, f"{name}: chunks delivered", v.tail())
            continue
        check_stream(name, g, src)
        check(g["chunks"][-1]["seq"] == last, f"{name} reaches chunk {last}", v.tail())
    peers_v3 = v3.stats(src.cid).get("peer_list", [])
    check(all(str(v2.port) in p.get("addr", "") for p in peers_v3),
          "viewer3's only peer is viewer2 (chain)", str(peers_v3))
    finish(v3, v2, v1, s)


def bt_connect(port, info_hash_hex, oa_live=True, src_ip="127.0.0.2"):
    """A raw peer: BT handshake with the extension bit and a BEP 10
    handshake; returns the socket (their handshake read)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((src_ip, 0))
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    reserved = bytearray(8)
    reserved[5] |= 0x10
    sock.sendall(b"\x13BitTorrent protocol" + bytes(reserved) + bytes.fromhex(info_hash_hex) +
                 b"-PY0001-" + os.urandom(6).hex().encode()[:12])
    hs = b""
    while len(hs) < 68:
        part = sock.recv(68 - len(hs))
        if not part:
            raise ConnectionError("closed during the handshake")
        hs += part
    m = b"d7:oa_livei3ee" if oa_live else b"d11:ut_metadatai1ee"
    payload = b"d1:m" + m + b"1:v6:pytest" + b"e"
    sock.sendall(struct.pack(">IBB", len(payload) + 2, 20, 0) + payload)
    return sock


def bstr(b):
    return str(len(b)).encode() + b":" + b


def wait_closed(sock, timeout=10.0):
    """True once the engine closes the connection (reading what it sends)."""
    end = time.monotonic() + timeout
    sock.settimeout(0.5)
    while time.monotonic() < end:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return True
        if not data:
            return True
    return False


@st.case
def case_forged():
    s = engine("source")
    src = Source(s)
    src.publish(3)
    v1 = engine("viewer1", bootstrap_peers=f"127.0.0.1:{s.port}")
    probe(v1, "view", {"content_id": src.cid, "descriptor": src.desc})
    src.pump(2)
    before = got(v1, src.cid)["chunks"]
    require(before, "viewer1 gets chunks before the attack", v1.tail())
    sock = bt_connect(v1.port, src.cid)
    seq = max(src.sha) + 1
    ts = int(time.time() * 1000)
    ann = (b"d3:duri500000e4:hash" + bstr(os.urandom(32)) + b"3:ptsi0e3:seqi%de" % seq +
           b"3:sig" + bstr(os.urandom(64)) + b"4:sizei1000e1:ti1e2:tsi%dee" % ts)
    sock.sendall(struct.pack(">IBB", len(ann) + 2, 20, 3) + ann)
    check(wait_closed(sock), "viewer1 closes the peer that announced a forged chunk")
    sock.close()
    stats = v1.stats()
    bans = [b for b in (stats or {}).get("bans", []) if b.get("ip") == "127.0.0.2"]
    check(bans and "forged" in bans[0].get("why", ""),
          "viewer1 banned 127.0.0.2 for the forged signature", str(stats)[:600])
    src.pump(3)
    last = max(src.sha)
    g = wait_seq(v1, src.cid, last)
    check_stream("viewer1 after the attack", g, src)
    check(g["chunks"][-1]["seq"] == last, f"viewer1 still reaches chunk {last}", v1.tail())
    stv = probe(v1, "stats", {"content_id": src.cid})
    check(stv["rejected"] >= 1, f"viewer1 counted the refused header (rejected {stv['rejected']})")
    finish(v1, s)


class RawPeer:
    """A raw oa_live peer on an engine (bt_connect's handshake, optionally
    with ut_metadata and a metadata_size); reads the engine's messages in a
    thread: oa_live ones land in .live as (dict, trailing bytes)."""

    def __init__(self, port, cid, src_ip, meta=False, metadata_size=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((src_ip, 0))
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        reserved = bytearray(8)
        reserved[5] |= 0x10
        self.sock.sendall(b"\x13BitTorrent protocol" + bytes(reserved) + bytes.fromhex(cid) +
                          b"-PY0001-" + os.urandom(6).hex().encode()[:12])
        m = b"d7:oa_livei3e11:ut_metadatai1ee" if meta else b"d7:oa_livei3ee"
        payload = b"d1:m" + m
        if metadata_size is not None:
            payload += b"13:metadata_sizei%de" % metadata_size
        payload += b"1:v6:pyteste"
        self.lock = threading.Lock()
        self.live = []
        self.closed = False
        self.send_msg(20, bytes([0]) + payload)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def send_msg(self, mid, body):
        with self.lock:
            self.sock.sendall(struct.pack(">IB", len(body) + 1, mid) + body)

    def send_live(self, payload):
        self.send_msg(20, bytes([3]) + payload)

    def _read(self):
        buf = b""
        self.sock.settimeout(None)
        try:
            while True:
                part = self.sock.recv(1 << 16)
                if not part:
                    break
                buf += part
                if len(buf) >= 68 and buf[:1] == b"\x13" and not hasattr(self, "hs"):
                    self.hs = buf[:68]
                    buf = buf[68:]
                while hasattr(self, "hs") and len(buf) >= 4:
                    n = struct.unpack(">I", buf[:4])[0]
                    if len(buf) < 4 + n:
                        break
                    msg, buf = buf[4:4 + n], buf[4 + n:]
                    if n >= 2 and msg[0] == 20 and msg[1] == 3:
                        d, end = bdecode(msg, 2)
                        self.live.append((d, msg[end:]))
        except OSError:
            pass
        self.closed = True

    def wait(self, pred, timeout=10.0):
        """The first oa_live message pred accepts, or None."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for d, tail in list(self.live):
                if pred(d):
                    return d, tail
            if self.closed:
                return None
            time.sleep(0.05)
        return None

    def wait_closed(self, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.closed:
            time.sleep(0.05)
        return self.closed

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def announce_payload(d):
    """An ANNOUNCE payload for the header dict d (as an ANNOUNCE decoded)."""
    return (b"d3:duri%de4:hash" % d[b"dur"] + bstr(d[b"hash"]) + b"3:ptsi%de" % d[b"pts"] +
            b"3:seqi%de" % d[b"seq"] + b"3:sig" + bstr(d[b"sig"]) +
            b"4:sizei%de1:ti1e2:tsi%dee" % (d[b"size"], d[b"ts"]))


def data_payload(seq, off, data):
    return b"d3:offi%de3:seqi%de1:ti3ee" % (off, seq) + data


def fetch_chunk(peer, hdr, timeout=10.0):
    """The bytes of the chunk hdr (an ANNOUNCE dict) fetched by peer."""
    size, seq = hdr[b"size"], hdr[b"seq"]
    offs = list(range(0, size, 16384))
    for off in offs:
        peer.send_live(b"d3:leni%de3:offi%de3:seqi%de1:ti2ee" % (min(16384, size - off), off, seq))
    blocks = {}
    end = time.monotonic() + timeout
    while time.monotonic() < end and len(blocks) < len(offs):
        for d, tail in list(peer.live):
            if d.get(b"t") == 3 and d.get(b"seq") == seq:
                blocks[d[b"off"]] = tail
        time.sleep(0.05)
    require(len(blocks) == len(offs), f"the raw peer fetched chunk {seq} from the source",
            str(sorted(blocks)))
    return b"".join(blocks[o] for o in offs)


def wait_requests(peer, seq, n, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got_ = [d for d, _ in list(peer.live) if d.get(b"t") == 2 and d.get(b"seq") == seq]
        if len(got_) >= n:
            return got_
        time.sleep(0.05)
    return []


def new_header(src, relay, size):
    """Publishes a chunk of size bytes and returns its ANNOUNCE as relay
    (a raw peer of the source) gets it."""
    src.publish(lo=size, hi=size)
    seq = max(src.sha)
    r = relay.wait(lambda d: d.get(b"t") == 1 and d.get(b"seq") == seq)
    require(r is not None, f"the raw peer gets the source's ANNOUNCE of chunk {seq}")
    return r[0]


@st.case
def case_inject():
    s = engine("source")
    src = Source(s)
    src.publish(2)
    v = engine("viewer")
    probe(v, "view", {"content_id": src.cid, "descriptor": src.desc})
    # honest: a raw peer of the source that relays to the viewer
    up = RawPeer(s.port, src.cid, "127.0.0.4")
    honest = RawPeer(v.port, src.cid, "127.0.0.4")
    bad = RawPeer(v.port, src.cid, "127.0.0.5")
    time.sleep(0.5)
    hdr = new_header(src, up, 40000)
    seq = hdr[b"seq"]
    data = fetch_chunk(up, hdr)
    honest.send_live(announce_payload(hdr))
    reqs = wait_requests(honest, seq, 3)
    require(len(reqs) == 3, f"the viewer asks the announcing peer for the 3 blocks of chunk {seq}",
            v.tail())
    # the other peer sends a bad block 0 first, then the honest one answers
    bad.send_live(data_payload(seq, 0, os.urandom(16384)))
    time.sleep(0.5)
    for off in range(0, 40000, 16384):
        honest.send_live(data_payload(seq, off, data[off:off + 16384]))
    g = wait_seq(v, src.cid, seq, timeout=10)
    check(g["chunks"] and g["chunks"][-1]["seq"] == seq and
          g["chunks"][-1]["sha256"] == src.sha[seq],
          f"a block of chunk {seq} from a peer it was not asked of is not taken: the chunk "
          "completes from the asked peer", str(g)[:400] + "\n" + v.tail())
    check(not bad.closed and not honest.closed, "neither peer is closed for it")
    # asked of the bad peer alone, bad bytes: it alone is closed and banned
    hdr2 = new_header(src, up, 20000)
    seq2 = hdr2[b"seq"]
    data2 = fetch_chunk(up, hdr2)
    bad.send_live(announce_payload(hdr2))
    reqs = wait_requests(bad, seq2, 2)
    require(len(reqs) == 2, f"the viewer asks the bad peer for chunk {seq2}", v.tail())
    for off in (0, 16384):
        bad.send_live(data_payload(seq2, off, os.urandom(min(16384, 20000 - off))))
    check(bad.wait_closed(), "the viewer closes the peer whose bytes fail the signed hash")
    bans = [b for b in (v.stats() or {}).get("bans", []) if b.get("ip") == "127.0.0.5"]
    check(bans and "hash" in bans[0].get("why", ""), "and bans it", str(v.stats())[:600])
    check(not honest.closed, "the honest peer stays")
    honest.send_live(announce_payload(hdr2))
    if wait_requests(honest, seq2, 2):
        for off in (0, 16384):
            honest.send_live(data_payload(seq2, off, data2[off:off + 16384]))
    g = wait_seq(v, src.cid, seq2, timeout=10)
    check(g["chunks"][-1]["seq"] == seq2 and g["chunks"][-1]["sha256"] == src.sha[seq2],
          f"chunk {seq2} then comes from the honest peer", v.tail())
    for p in (up, honest, bad):
        p.close()
    finish(v, s)


@st.case
def case_meta():
    s = engine("source")
    src = Source(s)
    src.publish(2)
    desc_len = len(__import__("base64").b64decode(src.desc))
    v = engine("viewer")
    probe(v, "view", {"content_id": src.cid})
    huge = RawPeer(v.port, src.cid, "127.0.0.6", meta=True, metadata_size=8 << 20)
    check(huge.wait_closed(5), "a peer announcing an 8 MiB descriptor is closed",
          "\n".join(str(l.get("msg")) for l in v.eng.lines()[-15:]))
    huge.close()
    spam = RawPeer(v.port, src.cid, "127.0.0.7", meta=True)
    stop = threading.Event()

    def flood():
        # the viewer's socket from this peer is never empty: after each try
        # of the source's copy a wrong one has come in
        n = 0
        while not stop.is_set() and not spam.closed:
            batch = b""
            for _ in range(20):
                # mostly the right size (a wrong copy kept), now and then another
                size = desc_len + 7 if n % 50 == 49 else desc_len
                body = bytes([20, 1]) + b"d8:msg_typei1e5:piecei0e10:total_sizei%dee" % size + \
                    os.urandom(size)
                batch += struct.pack(">I", len(body)) + body
                n += 1
            try:
                with spam.lock:
                    spam.sock.sendall(batch)
            except OSError:
                break

    th = threading.Thread(target=flood, daemon=True)
    th.start()
    time.sleep(0.5)
    # now the source dials the viewer
    r = s.client.put("/api/plugins/swarm/config", {"values": {"bootstrap_peers":
                                                              f"127.0.0.1:{v.port}"}})
    require(r.status == 200, "the source's bootstrap_peers is set live", r.describe())
    src.pump(4)
    stop.set()
    th.join(5)
    g = got(v, src.cid)
    check(g["descriptor"], "the viewer fetched the descriptor from the source despite a peer "
          "flooding wrong ut_metadata pieces", "\n".join(
              str(l.get("msg")) for l in v.eng.lines()[-25:]))
    last = max(src.sha)
    g = wait_seq(v, src.cid, last, timeout=10)
    check(g["chunks"] and g["chunks"][-1]["seq"] == last, f"and reaches chunk {last}")
    spam.close()
    finish(v, s)


@st.case
def case_chat():
    s = engine("source")
    src = Source(s)
    src.publish(2)
    v = engine("viewer")
    probe(v, "view", {"content_id": src.cid, "descriptor": src.desc})
    c1 = RawPeer(v.port, src.cid, "127.0.0.8")
    time.sleep(0.5)

    def msg(**kw):
        body = {"content_id": src.cid, "text": "hi", "send": False}
        body.update(kw)
        return bytes.fromhex(probe(s, "chat", body)["msg"])

    def send_chat(peer, m):
        peer.send_live(b"d3:msg" + bstr(m) + b"1:ti5ee")

    def chats():
        return got(v, src.cid)["chats"]

    now = int(time.time() * 1000)
    send_chat(c1, msg(new_key=True, seq=1, ts_ms=now - 20 * 60 * 1000))
    send_chat(c1, msg(seq=10))
    end = time.monotonic() + 5
    while time.monotonic() < end and chats() < 1:
        time.sleep(0.1)
    time.sleep(0.3)
    check(chats() == 1, f"a chat stamped 20 minutes ago is dropped, a fresh one taken "
          f"({chats()} taken)")
    send_chat(c1, msg(seq=5))
    send_chat(c1, msg(seq=11))
    end = time.monotonic() + 5
    while time.monotonic() < end and chats() < 2:
        time.sleep(0.1)
    time.sleep(0.3)
    check(chats() == 2, f"a seq below its sender's last is dropped, the next taken "
          f"({chats()} taken, want 2)")
    check(not c1.closed, "the peer of those stays")
    c1.close()
    c2 = RawPeer(v.port, src.cid, "127.0.0.9")
    time.sleep(0.3)
    flood = [msg(new_key=True, seq=1) for _ in range(80)]
    for m in flood:
        if c2.closed:
            break
        send_chat(c2, m)
    check(c2.wait_closed(5), "a peer sending 80 chat messages at once (80 sender keys) is "
          "closed", "\n".join(str(l.get("msg")) for l in v.eng.lines()[-10:]))
    c2.close()
    r = s.call("remove", {"infohash": src.cid})
    check(r is None and "live plugin" in s.last.describe(),
          "the swarm's remove refuses a live stream with a sentence", s.last.describe())
    finish(v, s)


@st.case
def case_memory():
    s = engine("source")
    src = Source(s)
    src.publish(2, lo=300000, hi=300000)
    v = engine("viewer", bootstrap_peers=f"127.0.0.1:{s.port}", live_max_mb=4)
    probe(v, "view", {"content_id": src.cid, "descriptor": src.desc})
    time.sleep(1)
    for _ in range(30):
        src.publish(lo=300000, hi=300000)
        time.sleep(0.15)
    last = max(src.sha)
    g = wait_seq(v, src.cid, last)
    check_stream("viewer (live_max_mb 4)", g, src)
    check(g["chunks"][-1]["seq"] == last, f"the viewer reaches chunk {last}", v.tail())
    stv = probe(v, "stats", {"content_id": src.cid})
    held = stv["last"] - stv["first"] + 1
    check(held * 300000 <= 4 * 1024 * 1024,
          f"the viewer holds chunks {stv['first']}..{stv['last']} ({held} x 300 KB, at most "
          "4 MiB)", str(stv))
    finish(v, s)


@st.case
def case_nolive():
    s = engine("source")
    src = Source(s)
    src.publish(2)
    sock = bt_connect(s.port, src.cid, oa_live=False, src_ip="127.0.0.3")
    check(wait_closed(sock), "the source closes a peer whose extension handshake lacks oa_live")
    sock.close()
    check(any("not a live peer" in str(l.get("msg", "")) for l in s.eng.lines()),
          "the log says why: not a live peer", s.tail())
    finish(s)


@st.case
def case_late():
    s = engine("source")
    src = Source(s)
    src.pump(5)
    edge = max(src.sha)
    v = engine("late", bootstrap_peers=f"127.0.0.1:{s.port}")
    probe(v, "view", {"content_id": src.cid, "descriptor": src.desc})
    src.pump(3)
    last = max(src.sha)
    g = wait_seq(v, src.cid, last)
    check_stream("late viewer", g, src)
    first = g["chunks"][0]["seq"]
    check(edge - 3 <= first <= edge + 2,
          f"late viewer starts at chunk {first}, about 3 behind the edge {edge} when it joined")
    probe(v, "close", {"content_id": src.cid})
    finish(v, s)


@st.case
def case_star():
    fanout = int(os.environ.get("OA_LIVE_FANOUT", "1"))
    s = engine("source", pex=True, live_source_fanout=fanout)
    src = Source(s)
    src.publish(2)
    vs = []
    for i in range(3):
        # each viewer knows the source and the viewers before it (PEX
        # would tell them too, but only after its first interval)
        boot = " ".join(f"127.0.0.1:{o.port}" for o in [s] + vs)
        v = st.Oa(f"viewer{i + 1}", {"bootstrap_peers": boot}, plugins=PLUGINS)
        probe(v, "view", {"content_id": src.cid, "descriptor": src.desc})
        vs.append(v)
    src.pump(8)
    last = max(src.sha)
    for i, v in enumerate(vs):
        g = wait_seq(v, src.cid, last)
        check_stream(f"viewer{i + 1}", g, src)
        check(g["chunks"][-1]["seq"] == last, f"viewer{i + 1} reaches chunk {last}", v.tail())
    sv = probe(s, "stats", {"content_id": src.cid})
    stream_bytes = sum(probe(vs[0], "got", {"content_id": src.cid})["chunks"][i]["size"]
                       for i in range(len(got(vs[0], src.cid)["chunks"])))
    ratio = sv["uploaded"] / max(1, stream_bytes)
    late = sum(1 for line in s.eng.lines() if "late announce" in str(line.get("msg", "")))
    print(f"  source: {late} late announces (chunks no relay brought to a viewer in "
          f"{CHUNK_MS // 2} ms)")
    # each announced peer fetches from the source: about fanout copies
    check(ratio < fanout + 0.5, f"source upload {sv['uploaded']} bytes = {ratio:.2f} copies of "
          f"what a viewer received, for 3 viewers (live_source_fanout {fanout})")
    finish(*vs, s)


@st.case
def case_star_nopex():
    s = engine("source", live_source_fanout=1)
    src = Source(s)
    src.publish(2)
    vs = []
    for i in range(3):
        v = engine(f"viewer{i + 1}", bootstrap_peers=f"127.0.0.1:{s.port}")
        probe(v, "view", {"content_id": src.cid, "descriptor": src.desc})
        vs.append(v)
    src.pump(8)
    last = max(src.sha)
    for i, v in enumerate(vs):
        g = wait_seq(v, src.cid, last)
        check_stream(f"viewer{i + 1}", g, src)
        check(g["chunks"][-1]["seq"] == last, f"viewer{i + 1} reaches chunk {last}", v.tail())
        peers = v.stats(src.cid).get("peer_list", [])
        check(all(str(s.port) in p.get("addr", "") for p in peers),
              f"viewer{i + 1}'s only peer is the source (no PEX)", str(peers))
    sv = probe(s, "stats", {"content_id": src.cid})
    late = sum(1 for line in s.eng.lines() if "late announce" in str(line.get("msg", "")))
    check(late > 0, f"source: {late} late announces, uploaded {sv['uploaded']} bytes "
          "(3 viewers, no relays between them)")
    finish(*vs, s)


CASES = [("source -> viewer -> viewer chain, descriptor by ID, chat", case_chain),
         ("a forged chunk announce is refused and its peer banned", case_forged),
         ("a late viewer starts behind the live edge", case_late),
         ("a chain of three viewers joining at once, descriptor learned late", case_chain3),
         ("a star of three viewers on one source", case_star),
         ("a star without PEX: viewers only know the source", case_star_nopex),
         ("a peer without oa_live is closed", case_nolive),
         ("a block from a peer not asked is not taken; a bad sender is banned alone",
          case_inject),
         ("descriptor fetch: huge metadata_size, wrong pieces flooded", case_meta),
         ("chat replays dropped, a chat flood closes its peer", case_chat),
         ("live_max_mb bounds a viewer's chunk bytes", case_memory)]

if __name__ == "__main__":
    sys.exit(st.oatest.main(CASES, __doc__, tmp_prefix="oa-live-swarm-",
                            need=("plugins/swarm.so", "plugins/transport-tcp.so",
                                  "tests/live-plugins/live-probe.so")))

#!/usr/bin/env python3
"""A peer that serves corrupt data is banned, and the download still ends
with correct files.

A corrupting peer written here (BEP 3 handshake, a full bitfield, unchoke,
every requested block answered with its bytes inverted) listens on
127.0.0.2 and serves at full speed; an honest libtorrent seeder on
127.0.0.1 serves at a capped rate. OpenAce is told about both through
bootstrap_peers. It must complete with byte-identical files, count hash
failures, ban 127.0.0.2 (stats "bans", event swarm.peer.banned), not ban
the honest seeder's 127.0.0.1 and not connect to the banned address again.
Bans are per IP, hence the two loopback addresses.

    test_interop_corrupt.py --build BUILD_DIR
"""
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import swarmtest as st  # noqa: E402  (may re-execute under the system python3)
from swarmtest import check, require  # noqa: E402

BAD_IP = "127.0.0.2"
FLIP = bytes(255 - i for i in range(256))
PSTR = b"BitTorrent protocol"


class CorruptPeer(threading.Thread):
    """Listens on BAD_IP and answers every request with inverted bytes."""

    def __init__(self, info_hash, payload, piece_length):
        super().__init__(daemon=True)
        self.ih = bytes.fromhex(info_hash)
        self.payload = payload
        self.piece_length = piece_length
        self.pieces = (len(payload) + piece_length - 1) // piece_length
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((BAD_IP, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.accepted = []       # accept times (monotonic)
        self.blocks = 0          # corrupt blocks sent
        self.bytes = 0
        self.notes = []          # what happened, for failure details
        self.stopping = False
        self.conns = []

    def note(self, msg):
        with self.lock:
            self.notes.append(f"{time.monotonic():.2f} {msg}")
            del self.notes[:-60]

    def run(self):
        while not self.stopping:
            try:
                c, addr = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted.append(time.monotonic())
                self.conns.append(c)
            self.note(f"accepted {addr[0]}:{addr[1]}")
            threading.Thread(target=self.serve, args=(c, addr), daemon=True).start()

    @staticmethod
    def recv_exact(c, n):
        buf = b""
        while len(buf) < n:
            chunk = c.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed")
            buf += chunk
        return buf

    def serve(self, c, addr):
        who = f"{addr[0]}:{addr[1]}"
        try:
            c.settimeout(120)
            plen = self.recv_exact(c, 1)[0]
            pstr = self.recv_exact(c, plen)
            rest = self.recv_exact(c, 8 + 20 + 20)
            if pstr != PSTR or rest[8:28] != self.ih:
                self.note(f"{who}: bad handshake {pstr!r} {rest[8:28].hex()}")
                return
            c.sendall(bytes([len(PSTR)]) + PSTR + bytes(8) + self.ih +
                      b"-XX0001-" + os.urandom(6).hex().encode())
            bits = bytearray(b"\xff" * ((self.pieces + 7) // 8))
            spare = len(bits) * 8 - self.pieces
            if spare:
                bits[-1] = (0xFF << spare) & 0xFF
            c.sendall(struct.pack(">IB", 1 + len(bits), 5) + bytes(bits))
            c.sendall(struct.pack(">IB", 1, 1))  # unchoke
            self.note(f"{who}: handshake done, bitfield and unchoke sent")
            while True:
                n = struct.unpack(">I", self.recv_exact(c, 4))[0]
                if n == 0:
                    continue
                msg = self.recv_exact(c, n)
                if msg[0] == 6 and n == 13:
                    index, begin, length = struct.unpack(">III", msg[1:])
                    off = index * self.piece_length + begin
                    data = self.payload[off:off + length].translate(FLIP)
                    c.sendall(struct.pack(">IBII", 9 + len(data), 7, index, begin) + data)
                    with self.lock:
                        self.blocks += 1
                        self.bytes += len(data)
                elif msg[0] == 2:
                    c.sendall(struct.pack(">IB", 1, 1))  # interested: unchoke again
        except (OSError, EOFError) as e:
            self.note(f"{who}: closed ({e})")
        finally:
            c.close()

    def describe(self):
        with self.lock:
            return (f"corrupt peer {BAD_IP}:{self.port}: {len(self.accepted)} connections, "
                    f"{self.blocks} corrupt blocks ({self.bytes} bytes) sent\n    " +
                    "\n    ".join(self.notes[-30:]))

    def close(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def torrent_payload(ti, parent):
    out = bytearray()
    for rel, _ in st.torrent_files(ti):
        with open(os.path.join(parent, rel), "rb") as f:
            out += f.read()
    return bytes(out)


@st.case
def case_corrupt_peer_banned():
    try:
        probe = socket.socket()
        probe.bind((BAD_IP, 0))
        probe.close()
    except OSError as e:
        require(False, f"a socket can bind {BAD_IP} (Linux routes 127/8 to lo)", str(e))
    parent = st.mkdtemp("oa-interop-corrupt-")
    content = st.make_content(parent)
    tpath = os.path.join(parent, "content.torrent")
    data, ih, ti = st.make_torrent(content, out=tpath)
    bad = CorruptPeer(ih, torrent_payload(ti, parent), ti.piece_length())
    bad.start()
    try:
        run_case(bad, parent, tpath, ih, ti)
    finally:
        bad.close()


def run_case(bad, parent, tpath, ih, ti):
    # The honest seeder is slow on purpose, so the corrupt one gets requests.
    seeder = st.lt_peer("seeder", upload_limit=400 * 1024)
    seeder.add(ti, parent, seed=True)
    require(seeder.wait_seed(20), "the libtorrent seeder is seeding", seeder.describe())
    oa = st.Oa("leecher", {"bootstrap_peers": f"{BAD_IP}:{bad.port} 127.0.0.1:{seeder.port}",
                           "hash_fail_strikes": 2})
    events = oa.events()
    dest = os.path.join(oa.env.root, "save")
    os.makedirs(dest)
    res = oa.add({"uri": tpath, "dir": dest})
    check(res.get("infohash") == ih, "add answers the info-hash", json.dumps(res))

    t0 = time.monotonic()
    banned_at = None
    stats = glob = None
    while time.monotonic() - t0 < st.WAIT_DONE and oa.eng.proc.poll() is None:
        stats = oa.stats(ih) or {}
        glob = oa.stats() or {}
        if banned_at is None and any(b.get("ip") == BAD_IP for b in glob.get("bans") or []):
            banned_at = time.monotonic()
            st.log(f"{BAD_IP} banned after {banned_at - t0:.1f} s "
                   f"({bad.blocks} corrupt blocks sent)")
        if stats.get("state") in ("seeding", "error"):
            break
        time.sleep(st.POLL)
    detail = bad.describe() + "\n" + oa.describe(ih)
    require(bad.blocks >= 1, "OpenAce requested blocks from the corrupt peer (else this "
            "test proves nothing)", detail)
    check((stats or {}).get("state") == "seeding",
          f"OpenAce completes despite the corrupt peer (state {(stats or {}).get('state')!r})",
          detail + "\n" + seeder.describe())
    st.compare_trees(ti, parent, dest, "OpenAce beside a corrupt peer")
    check((stats or {}).get("hash_failures", 0) >= 1,
          f"stats: hash_failures >= 1 (got {(stats or {}).get('hash_failures')}), "
          f"wasted {(stats or {}).get('wasted')}", detail)
    glob = oa.stats() or {}
    bans = glob.get("bans") or []
    mine = [b for b in bans if b.get("ip") == BAD_IP]
    ev = events.wait_for(lambda e: e[0] == "swarm.peer.banned" and BAD_IP in e[1], timeout=3)
    check(mine or ev is not None, f"{BAD_IP} is banned (stats bans or a swarm.peer.banned event)",
          f"bans: {bans}\nevents: {[e[0] for e in events.events][-30:]}\n{detail}")
    check(len(mine) == 1 and mine[0].get("why") and
          isinstance(mine[0].get("seconds_left"), (int, float)) and mine[0]["seconds_left"] > 0,
          f"global stats bans has {BAD_IP} with a reason and seconds_left > 0", json.dumps(bans))
    check(ev is not None, f"a swarm.peer.banned event names {BAD_IP}",
          f"events: {[e for e in events.events if e[0] != 'swarm.piece.verified'][-20:]}")
    check(not any(b.get("ip") == "127.0.0.1" for b in bans),
          "the honest seeder's address 127.0.0.1 is not banned", json.dumps(bans))
    # Banned means not connected to again (bootstrap peers are retried).
    if banned_at is not None:
        time.sleep(5)
        with bad.lock:
            late = [t for t in bad.accepted if t > banned_at + 1.0]
        check(not late, f"no connection to {BAD_IP} after the ban ({len(late)} seen)",
              bad.describe())
    oa.stop()


CASES = [("a corrupting peer is banned, the download completes", case_corrupt_peer_banned)]

if __name__ == "__main__":
    sys.exit(st.main(CASES, __doc__))

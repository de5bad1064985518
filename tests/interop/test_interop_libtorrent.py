#!/usr/bin/env python3
"""Interoperability of the swarm plugin with libtorrent (python3-libtorrent).

  a  libtorrent seeds a multi-file torrent, OpenAce downloads it (.torrent
     path, the seeder from the bootstrap_peers setting)
  b  OpenAce seeds the files it re-checks on disk, a libtorrent leecher
     connects to it and downloads them; then one more with libtorrent's
     default encryption policy (MSE first, then plain)
  c  OpenAce adds a magnet with only the info-hash and x.pe=<libtorrent
     seeder>, fetches the metadata (BEP 9) and downloads the files

Every transfer is checked byte for byte. Loopback only.

    test_interop_libtorrent.py --build BUILD_DIR [-k CASE]
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import swarmtest as st  # noqa: E402  (may re-execute under the system python3)
from swarmtest import check, require  # noqa: E402


def fixture(name):
    """Random files and their .torrent in a new folder."""
    parent = st.mkdtemp(f"oa-interop-{name}-")
    content = st.make_content(parent)
    tpath = os.path.join(parent, "content.torrent")
    data, ih, ti = st.make_torrent(content, out=tpath)
    st.log(f"torrent {ih}: {ti.num_pieces()} pieces of {ti.piece_length()} bytes, "
           f"{ti.total_size()} bytes in {ti.num_files()} files")
    return parent, tpath, data, ih, ti


def lt_seeder(ti, parent):
    seeder = st.lt_peer("seeder")
    seeder.add(ti, parent, seed=True)
    require(seeder.wait_seed(20), "the libtorrent seeder is seeding", seeder.describe())
    return seeder


def check_complete_stats(oa, ih, ti, st_):
    check(st_.get("infohash") == ih and st_.get("name") == "content",
          f"stats names the content: infohash {ih[:8]}..., name 'content'", json.dumps(st_))
    check(st_.get("total_length") == ti.total_size() and
          st_.get("have_bytes") == ti.total_size() and st_.get("progress") == 1,
          f"stats: total_length = have_bytes = {ti.total_size()}, progress 1",
          json.dumps({k: st_.get(k) for k in ("total_length", "have_bytes", "progress")}))
    check(st_.get("pieces") == ti.num_pieces() and st_.get("pieces_have") == ti.num_pieces() and
          st_.get("piece_length") == ti.piece_length(),
          f"stats: pieces = pieces_have = {ti.num_pieces()}, piece_length {ti.piece_length()}",
          json.dumps({k: st_.get(k) for k in ("pieces", "pieces_have", "piece_length")}))
    want = sorted(st.torrent_files(ti))
    got = sorted((f.get("path"), f.get("length")) for f in st_.get("files") or [])
    check(got == want, "stats lists the torrent's files with their lengths",
          f"want {want}\ngot {got}")


@st.case
def case_lt_seeds():
    parent, tpath, data, ih, ti = fixture("a")
    seeder = lt_seeder(ti, parent)
    oa = st.Oa("leecher", {"bootstrap_peers": f"127.0.0.1:{seeder.port}"})
    events = oa.events()
    dest = os.path.join(oa.env.root, "save")
    os.makedirs(dest)
    res = oa.add({"uri": tpath, "dir": dest})
    check(res.get("infohash") == ih and res.get("name") == "content" and
          res.get("existed") is False and
          res.get("state") in ("checking", "downloading", "seeding"),
          "add answers the info-hash, name 'content', existed false, a running state",
          json.dumps(res))
    stats, secs = oa.wait_state(ih, ("seeding",))
    st.log(f"downloaded in {secs:.1f} s")
    st.compare_trees(ti, parent, dest, "OpenAce from libtorrent")
    check_complete_stats(oa, ih, ti, stats)
    check(stats.get("downloaded", 0) >= ti.total_size() and stats.get("hash_failures") == 0,
          f"stats: downloaded >= {ti.total_size()} and hash_failures 0",
          json.dumps({k: stats.get(k) for k in ("downloaded", "wasted", "hash_failures")}))
    lst = oa.call("list")
    ent = [c for c in (lst or {}).get("content", []) if c.get("infohash") == ih]
    check(len(ent) == 1 and ent[0].get("state") == "seeding" and ent[0].get("dir") == dest,
          f"list shows the content seeding in {dest}", json.dumps(lst)[:1500])
    seeder.pump()
    s = seeder.status()
    check(s.total_payload_upload >= ti.total_size() * 0.9,
          f"the libtorrent seeder uploaded the content ({s.total_payload_upload} bytes)",
          seeder.describe())
    top = [e[0] for e in events.events]
    for t in ("swarm.content.added", "swarm.peer.connected", "swarm.piece.verified",
              "swarm.content.completed"):
        ev = events.wait_for(lambda e, t=t: e[0] == t, timeout=5)
        check(ev is not None, f"event {t} was published", f"topics seen: {sorted(set(top))}")
    ev = events.wait_for(lambda e: e[0] == "swarm.content.completed", timeout=1)
    if ev is not None:
        d = st.oatest.sse_json(ev) or {}
        check(ih in json.dumps(d), "swarm.content.completed names the info-hash", ev[1])
    oa.stop()


@st.case
def case_oa_seeds():
    parent, tpath, data, ih, ti = fixture("b")
    oa = st.Oa("seeder")
    res = oa.add({"uri": tpath, "dir": parent})
    check(res.get("infohash") == ih, "add answers the torrent's info-hash", json.dumps(res))
    stats, secs = oa.wait_state(ih, ("seeding",), timeout=60,
                                what="OpenAce re-checks the files on disk and seeds them")
    check(stats.get("pieces_have") == ti.num_pieces() and stats.get("downloaded", 0) == 0,
          "every piece was found on disk, nothing downloaded",
          json.dumps({k: stats.get(k) for k in ("pieces_have", "downloaded")}))
    leecher = st.lt_peer("leecher")
    dest = st.mkdtemp("oa-interop-b-leech-")
    leecher.add(ti, dest)
    leecher.connect(oa.port)
    ok = leecher.wait_seed(st.WAIT_DONE, reconnect=oa.port)
    require(ok, f"the libtorrent leecher completes from OpenAce on 127.0.0.1:{oa.port}",
            leecher.describe() + "\n" + oa.describe(ih))
    st.compare_trees(ti, parent, dest, "libtorrent from OpenAce")
    # A second leecher with libtorrent's default encryption policy (as most
    # users run it): it tries an MSE handshake first and must fall back to
    # the plain one.
    mse = st.lt_peer("leecher-default-enc", out_enc_policy=int(st.lt.enc_policy.enabled),
                     in_enc_policy=int(st.lt.enc_policy.enabled))
    dest2 = st.mkdtemp("oa-interop-b-leech2-")
    mse.add(ti, dest2)
    mse.connect(oa.port)
    t0 = time.monotonic()
    bans = []
    ok = False
    while time.monotonic() - t0 < 60:  # 5 MiB on loopback: seconds, not a minute
        ok = mse.wait_seed(5, reconnect=oa.port)
        bans = (oa.stats() or {}).get("bans") or []
        if ok or bans:
            break
    check(ok, "a libtorrent leecher with the default encryption policy (pe_enabled) "
          "completes from OpenAce", f"OpenAce's bans: {json.dumps(bans)}\n" +
          mse.describe() + "\n" + oa.describe(ih))
    check(not bans, "OpenAce banned nobody while serving libtorrent leechers",
          json.dumps(bans))
    if ok:
        st.compare_trees(ti, parent, dest2, "libtorrent (default encryption policy)")
    stats = oa.stats(ih)
    check((stats or {}).get("uploaded", 0) >= ti.total_size(),
          f"OpenAce's stats: uploaded >= {ti.total_size()}", json.dumps(stats)[:1500])
    glob = oa.stats()
    check((glob or {}).get("uploaded", 0) >= ti.total_size() and
          (glob or {}).get("contents") == 1 and (glob or {}).get("port") == oa.port,
          f"global stats: uploaded >= {ti.total_size()}, contents 1, port {oa.port}",
          json.dumps(glob)[:1500])
    oa.stop()


@st.case
def case_magnet():
    parent, tpath, data, ih, ti = fixture("c")
    seeder = lt_seeder(ti, parent)
    oa = st.Oa("magnet")
    dest = os.path.join(oa.env.root, "save")
    os.makedirs(dest)
    uri = st.magnet(ih, peers=[f"127.0.0.1:{seeder.port}"])
    res = oa.add({"uri": uri, "dir": dest})
    check(res.get("infohash") == ih and res.get("existed") is False and
          res.get("state") in ("metadata", "downloading", "checking"),
          "add of a bare magnet answers its info-hash, state metadata (or later)",
          json.dumps(res))
    stats, secs = oa.wait_state(ih, ("seeding",))
    st.log(f"metadata and content in {secs:.1f} s")
    st.compare_trees(ti, parent, dest, "OpenAce from a magnet (BEP 9 from libtorrent)")
    check_complete_stats(oa, ih, ti, stats)
    again = oa.call("add", {"uri": uri, "dir": dest})
    check(isinstance(again, dict) and again.get("existed") is True and
          again.get("infohash") == ih, "adding the magnet again answers existed true",
          oa.last.describe())
    oa.stop()


CASES = [
    ("a libtorrent seeds, OpenAce downloads", case_lt_seeds),
    ("b OpenAce seeds, libtorrent downloads", case_oa_seeds),
    ("c magnet with x.pe: metadata from libtorrent", case_magnet),
]

if __name__ == "__main__":
    sys.exit(st.main(CASES, __doc__))

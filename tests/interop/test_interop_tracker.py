#!/usr/bin/env python3
"""Peers found through a tracker only: opentracker on 127.0.0.1, a torrent
announcing to it, a libtorrent seeder, two OpenAce engines and a libtorrent
leecher, none told about any other peer. Everyone must complete with
byte-identical files, and the tracker must have counted the OpenAce
engines (scrape: every peer known, completed events).

    test_interop_tracker.py --build BUILD_DIR
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import swarmtest as st  # noqa: E402  (may re-execute under the system python3)
from swarmtest import check, require  # noqa: E402


@st.case
def case_tracker_only():
    st.need_tool("opentracker", "opentracker")
    parent = st.mkdtemp("oa-interop-tracker-data-")
    content = st.make_content(parent)
    tport = st.free_port()
    url = f"http://127.0.0.1:{tport}/announce"
    tpath = os.path.join(parent, "content.torrent")
    data, ih, ti = st.make_torrent(content, trackers=[url], out=tpath)
    tracker = st.Tracker([ih], port=tport)
    sc = tracker.scrape(ih)
    require(tracker.proc.poll() is None and "error" not in (sc or {}),
            f"opentracker answers scrapes on 127.0.0.1:{tport}",
            f"exit {tracker.proc.poll()}, scrape {sc}\n{tracker.text()}")

    seeder = st.lt_peer("seeder")
    seeder.add(ti, parent, seed=True)
    require(seeder.wait_seed(20), "the libtorrent seeder is seeding", seeder.describe())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (tracker.scrape(ih) or {}).get("complete", 0) < 1:
        time.sleep(0.2)
    sc = tracker.scrape(ih)
    require((sc or {}).get("complete", 0) >= 1, "the tracker has the libtorrent seeder",
            f"scrape {sc}\n{seeder.describe()}")

    engines = []
    for name in ("oa1", "oa2"):
        oa = st.Oa(name)  # no bootstrap_peers, no x.pe: the tracker only
        dest = os.path.join(oa.env.root, "save")
        os.makedirs(dest)
        res = oa.add({"uri": tpath, "dir": dest})
        check(res.get("infohash") == ih, f"{name}: add answers the info-hash", json.dumps(res))
        engines.append((oa, dest))

    leecher = st.lt_peer("leecher")
    ldest = st.mkdtemp("oa-interop-tracker-leech-")
    leecher.add(ti, ldest)

    for oa, dest in engines:
        stats, secs = oa.wait_state(ih, ("seeding",))
        st.log(f"{oa.name} complete after {secs:.1f} s more")
        st.compare_trees(ti, parent, dest, f"{oa.name} (peers from the tracker)")
        check(stats.get("hash_failures") == 0, f"{oa.name}: hash_failures 0",
              json.dumps(stats)[:800])
        # The announce reply's complete/incomplete counts reach stats.
        check(isinstance(stats.get("tracker_seeds"), int) and stats["tracker_seeds"] >= 1,
              f"{oa.name}: stats shows the tracker's seed count",
              f"tracker_seeds={stats.get('tracker_seeds')!r}")
    require(leecher.wait_seed(st.WAIT_DONE), "the libtorrent leecher completes",
            leecher.describe() + "\n" + "\n".join(oa.describe(ih) for oa, _ in engines))
    st.compare_trees(ti, parent, ldest, "libtorrent leecher (peers from the tracker)")

    # Every announce is in: 4 peers known, completed events from three leechers.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sc = tracker.scrape(ih) or {}
        if sc.get("complete", 0) + sc.get("incomplete", 0) >= 4 and sc.get("downloaded", 0) >= 3:
            break
        time.sleep(0.5)
    known = sc.get("complete", 0) + sc.get("incomplete", 0)
    check(known >= 4, f"the tracker knows 4 peers (libtorrent x2, OpenAce x2): "
          f"complete {sc.get('complete')} + incomplete {sc.get('incomplete')}", json.dumps(sc))
    check(sc.get("downloaded", 0) >= 3,
          f"the tracker counted 3 completed events (2 OpenAce, 1 libtorrent): "
          f"downloaded {sc.get('downloaded')}", json.dumps(sc))
    # Leaving the swarm is announced (BEP 3 event=stopped): oa1 removes the
    # content, oa2 shuts down gracefully; the tracker forgets each.
    def known_peers(want, secs=15):
        deadline = time.monotonic() + secs
        while True:
            sc = tracker.scrape(ih) or {}
            n = sc.get("complete", 0) + sc.get("incomplete", 0)
            if n <= want or time.monotonic() > deadline:
                return n, sc
            time.sleep(0.5)

    oa1, oa2 = engines[0][0], engines[1][0]
    r = oa1.call("remove", {"infohash": ih, "delete_files": False})
    check(r == {"removed": ih}, f"oa1: remove -> {{\"removed\": \"{ih[:8]}...\"}}",
          oa1.last.describe())
    n, sc = known_peers(3)
    check(n <= 3, f"after oa1 removed the content the tracker knows 3 peers (got {n}: "
          "event=stopped announced on remove)", json.dumps(sc) + "\n" + oa1.tail())
    oa2.stop()
    n, sc = known_peers(2)
    check(n <= 2, f"after oa2 shut down (SIGTERM) the tracker knows 2 peers (got {n}: "
          "event=stopped announced on a graceful shutdown, BEP 3)",
          json.dumps(sc) + "\n" + oa2.tail())
    oa1.stop()


CASES = [("tracker only: libtorrent x2 and OpenAce x2 through opentracker", case_tracker_only)]

if __name__ == "__main__":
    sys.exit(st.main(CASES, __doc__))

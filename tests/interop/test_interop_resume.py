#!/usr/bin/env python3
"""The swarm's catalog: content resumes after a restart and after a crash.

A python3-libtorrent seeder (upload-limited so that the download takes a
few seconds) serves a multi-file torrent to OpenAce. OpenAce is killed with
SIGKILL halfway; started again on the same data directory it finds the
content in its catalog without being told, re-checks what is on disk and
fetches only the rest. Then, with the seeder gone, a clean restart finds
every piece on disk and seeds again. Loopback only.

    test_interop_resume.py --build BUILD_DIR
"""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import swarmtest as st  # noqa: E402  (may re-execute under the system python3)
from swarmtest import check, require  # noqa: E402


@st.case
def case_resume():
    parent = st.mkdtemp("oa-interop-resume-")
    content = st.make_content(parent)
    tpath = os.path.join(parent, "content.torrent")
    _, ih, ti = st.make_torrent(content, out=tpath)
    total = ti.total_size()

    seeder = st.lt_peer("seeder", upload_limit=1024 * 1024)
    seeder.add(ti, parent, seed=True)
    oa = st.Oa("leecher", {"bootstrap_peers": f"127.0.0.1:{seeder.port}"})
    dest = os.path.join(oa.env.root, "save")
    os.makedirs(dest)
    oa.add({"uri": tpath, "dir": dest})

    # Wait until part of the content is verified, then crash the engine.
    deadline = time.monotonic() + st.WAIT_DONE
    have = 0
    while time.monotonic() < deadline:
        seeder.pump()
        s = oa.stats(ih) or {}
        have = s.get("have_bytes", 0)
        if have >= total // 4 or s.get("state") == "seeding":
            break
        time.sleep(0.05)
    state = (oa.stats(ih) or {}).get("state")
    require(0 < have < total and state == "downloading",
            "the download is partly done before the crash",
            f"have {have} of {total}, state {state}\n" + oa.describe(ih))
    oa.restart(signal.SIGKILL)

    # The catalog brings the content back by itself.
    lst = oa.call("list") or {}
    ids = [c.get("infohash") for c in lst.get("content", [])]
    check(ids == [ih], "after the crash `list` shows the content from the catalog",
          json.dumps(lst)[:800])
    stats, secs = oa.wait_state(ih, ("seeding",), what="the resumed download completes")
    st.log(f"completed {secs:.1f} s after the restart")
    st.compare_trees(ti, parent, dest, "OpenAce after a crash and resume")
    check(stats.get("dir") == dest, "the content keeps its folder across the restart",
          f"dir={stats.get('dir')!r}")
    check(stats.get("downloaded", total) < total,
          "after the restart only the missing part is fetched again",
          f"downloaded this run {stats.get('downloaded')} of {total}")

    # Without any peer, a clean restart seeds from disk.
    seeder.close()
    oa.restart(signal.SIGTERM)
    stats, _ = oa.wait_state(ih, ("seeding",), timeout=60,
                             what="after a clean restart without peers the content seeds "
                                  "from what is on disk")
    check(stats.get("pieces_have") == stats.get("pieces") and stats.get("downloaded") == 0,
          "every piece verified from disk, nothing downloaded",
          json.dumps({k: stats.get(k) for k in ("pieces", "pieces_have", "downloaded")}))
    oa.stop()


CASES = [("content resumes after a crash and a restart", case_resume)]

if __name__ == "__main__":
    sys.exit(st.main(CASES, __doc__))

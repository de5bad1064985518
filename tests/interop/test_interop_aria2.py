#!/usr/bin/env python3
"""Interoperability of the swarm plugin with aria2 (aria2c).

aria2c verifies and seeds a multi-file torrent on 127.0.0.1; OpenAce, told
about it through the bootstrap_peers setting, downloads it; the files are
compared byte for byte. Loopback only (no DHT, LPD, PEX).

    test_interop_aria2.py --build BUILD_DIR
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import swarmtest as st  # noqa: E402  (may re-execute under the system python3)
from swarmtest import check, require  # noqa: E402


def aria2_seed(aria2c, parent, tpath):
    """Starts aria2c seeding tpath from parent; returns (process, port, log path)."""
    port = st.free_port()
    logp = os.path.join(parent, "aria2.log")
    args = [aria2c, "--no-conf", f"--dir={parent}", "--check-integrity=true",
            "--seed-ratio=0.0", "--enable-dht=false", "--enable-dht6=false",
            "--bt-enable-lpd=false", "--enable-peer-exchange=false",
            f"--listen-port={port}", "--bt-external-ip=127.0.0.1", "--interface=127.0.0.1",
            "--disable-ipv6=true", "--file-allocation=none", "--summary-interval=0",
            "--console-log-level=notice", f"--log={logp}", "--log-level=info", tpath]
    proc = st.spawn(args, os.path.join(parent, "aria2.out"))
    deadline = time.monotonic() + 30
    ready = False
    while time.monotonic() < deadline and proc.poll() is None:
        text = open(logp, errors="replace").read() if os.path.exists(logp) else ""
        if "Verification finished successfully" in text and "listening on TCP port" in text:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                ready = True
                break
            except OSError:
                pass
        time.sleep(0.1)
    out = open(os.path.join(parent, "aria2.out"), errors="replace").read()
    require(ready, f"aria2c verifies the files and listens on 127.0.0.1:{port}",
            f"exit {proc.poll()}\n{out[-2000:]}")
    return proc, port, logp


def aria2_tail(logp, n=25):
    try:
        lines = open(logp, errors="replace").read().splitlines()
    except OSError:
        return ""
    keep = [l for l in lines if "Choke round" not in l and "choke round" not in l]
    return "aria2c log (last lines):\n    " + "\n    ".join(keep[-n:])


@st.case
def case_aria2_seeds():
    aria2c = st.need_tool("aria2c", "aria2")
    parent = st.mkdtemp("oa-interop-aria2-")
    content = st.make_content(parent)
    tpath = os.path.join(parent, "content.torrent")
    data, ih, ti = st.make_torrent(content, out=tpath)
    proc, port, logp = aria2_seed(aria2c, parent, tpath)
    oa = st.Oa("leecher", {"bootstrap_peers": f"127.0.0.1:{port}"})
    dest = os.path.join(oa.env.root, "save")
    os.makedirs(dest)
    res = oa.add({"uri": tpath, "dir": dest})
    check(res.get("infohash") == ih, "add answers the torrent's info-hash", json.dumps(res))
    try:
        stats, secs = oa.wait_state(ih, ("seeding",))
    except st.oatest.CaseAbort:
        print(aria2_tail(logp))
        raise
    st.log(f"downloaded from aria2c in {secs:.1f} s")
    st.compare_trees(ti, parent, dest, "OpenAce from aria2c")
    check(stats.get("hash_failures") == 0 and stats.get("downloaded", 0) >= ti.total_size(),
          "stats: hash_failures 0, downloaded >= the content's length",
          json.dumps({k: stats.get(k) for k in ("hash_failures", "downloaded", "wasted")}))
    check(proc.poll() is None, "aria2c is still running (it did not fail on our peer wire)",
          aria2_tail(logp))
    oa.stop()


CASES = [("aria2c seeds, OpenAce downloads", case_aria2_seeds)]

if __name__ == "__main__":
    sys.exit(st.main(CASES, __doc__))

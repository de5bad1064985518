#!/usr/bin/env python3
"""Integration test of `openace get URI --out DIR` (docs/operations.md,
"Fetching content from the command line"): argument handling, the
sentences of its failures, and, when the swarm plugin is built, real
downloads from a python3-libtorrent seeder over loopback, checked byte for
byte. Real binary, real plugins, real sockets on loopback only.

Run by CTest as:  python3 tests/integration/test_get.py --build <build dir>

Each assertion is one check; the last line printed is "N passed, M failed"
and the exit status is 0 only when M is 0. Cases that need build/plugins/
swarm.so or python3-libtorrent say "skip" without them.
"""
import filecmp
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oatest import build, check, free_port, main, mkdtemp, require, run  # noqa: E402

GET_TIMEOUT = 180.0  # seconds a whole `get` run may take here
NO_SUCH_HASH = "0123456789abcdef0123456789abcdef01234567"

# The seeder, run in its own interpreter (the one that has libtorrent):
# makes two torrents of a directory, TORRENT as libtorrent 2.0 makes them
# by default (hybrid v1 + v2) and TORRENT.v1 with v1 only, seeds both on
# 127.0.0.1:PORT and prints "READY <v1 info-hash of each>" once it seeds;
# ends when its standard input closes.
SEEDER = r'''
import os, sys, time
import libtorrent as lt
root, tpath, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ses = lt.session({"listen_interfaces": "127.0.0.1:%d" % port, "enable_dht": False,
                  "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
                  "allow_multiple_connections_per_ip": True})
handles, hashes = [], []
for path, flags in ((tpath, 0), (tpath + ".v1", lt.create_torrent.v1_only)):
    fs = lt.file_storage()
    lt.add_files(fs, root)
    ct = lt.create_torrent(fs, 32768, flags=flags)
    lt.set_piece_hashes(ct, os.path.dirname(root))
    with open(path, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(path)
    atp.save_path = os.path.dirname(root)
    handles.append(ses.add_torrent(atp))
    hashes.append(str(atp.ti.info_hashes().v1))  # info_hash() is v2's for a hybrid
deadline = time.time() + 60
while not all(h.status().is_seeding for h in handles):
    if time.time() > deadline:
        print("NOT SEEDING", [str(h.status().state) for h in handles], flush=True)
        sys.exit(1)
    time.sleep(0.1)
print("READY", *hashes, flush=True)
sys.stdin.read()
'''


def plugin_dir():
    """The build's plugin directory (swarm.so, transport-tcp.so)."""
    return os.path.join(build.dir, "plugins")


def have_swarm():
    return os.path.exists(os.path.join(plugin_dir(), "swarm.so"))


def libtorrent_python():
    """An interpreter that can import libtorrent, or None."""
    for py in (sys.executable, "/usr/bin/python3"):
        if py and os.path.exists(py):
            r = subprocess.run([py, "-c", "import libtorrent"], capture_output=True)
            if r.returncode == 0:
                return py
    return None


def skip(why):
    print(f"  skip {why}")


def get_cmd(args, tmpdir):
    """Runs `openace get ...` to completion with TMPDIR=tmpdir; returns
    (rc, stdout, stderr); rc is None on a timeout."""
    env = dict(os.environ, TMPDIR=tmpdir)
    env.pop("OPENACE_TOKEN", None)
    full = [build.openace, "get"] + list(args)
    try:
        p = subprocess.run(full, capture_output=True, text=True, timeout=GET_TIMEOUT, env=env,
                           stdin=subprocess.DEVNULL, cwd=tmpdir)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        return None, out, err


def describe(args, rc, out, err):
    return (f"command: openace get {' '.join(args)}\nexit: {rc}\n"
            f"stdout: {out.strip()[-1500:]}\nstderr: {err.strip()[-2500:]}")


def leftovers(tmpdir):
    """Temporary data directories a get left behind in tmpdir."""
    return [n for n in os.listdir(tmpdir) if n.startswith("openace-get-")]


# ---- cases ------------------------------------------------------------------

def case_help():
    r = run(["--help"])
    check(r.rc == 0 and "get URI" in r.out and "--out DIR" in r.out and "--peer ADDR" in r.out
          and "--engine URL" in r.out, "--help describes get and its options", r.describe())


def case_usage():
    for args, what in ((["get"], "get without a URI"),
                       (["get", "x", "y"], "get with two URIs"),
                       (["get", "x", "--timeout", "0"], "get --timeout 0"),
                       (["get", "x", "--peer", "nowhere"], "get --peer without a port"),
                       (["get", "x", "--token", "t"], "get --token without --engine"),
                       (["get", "x", "--engine", "http://127.0.0.1:1"], "get --engine without a token"),
                       (["get", "x", "--nope"], "get with an unknown option")):
        r = run(args)
        check(r.rc == 2 and r.err.startswith("openace get: ") and "--help" in r.err,
              f"{what} is a usage error (exit 2, a sentence)", r.describe())


def case_missing_plugin():
    tmp = mkdtemp("oa-get-missing-")
    out = os.path.join(tmp, "out")
    # The echo plugin directory has no swarm.so.
    args = ["--plugins", build.plugins, NO_SUCH_HASH, "--out", out]
    rc, so, se = get_cmd(args, tmp)
    check(rc == 1 and "swarm plugin" in se and build.plugins in se,
          "without swarm.so, get exits 1 naming the plugin and the plugin directory",
          describe(args, rc, so, se))
    check(os.path.isdir(out), "the output directory was created", describe(args, rc, so, se))
    check(leftovers(tmp) == [], "the temporary data directory is removed", str(leftovers(tmp)))
    args = ["--plugins", os.path.join(tmp, "none"), NO_SUCH_HASH, "--out", out]
    rc, so, se = get_cmd(args, tmp)
    check(rc == 1 and os.path.join(tmp, "none") in se and "does not exist" in se,
          "a plugin directory that does not exist is named", describe(args, rc, so, se))
    blocker = os.path.join(tmp, "file")
    with open(blocker, "w") as f:
        f.write("x")
    args = ["--plugins", build.plugins, NO_SUCH_HASH, "--out", os.path.join(blocker, "sub")]
    rc, so, se = get_cmd(args, tmp)
    check(rc == 1 and "cannot create the output directory" in se,
          "an output directory that cannot be created is refused", describe(args, rc, so, se))


def case_bad_uri():
    if not have_swarm():
        skip("bad URI: no swarm.so in " + plugin_dir())
        return
    tmp = mkdtemp("oa-get-bad-")
    args = ["--plugins", plugin_dir(), "--p2p-port", str(free_port()), "not-a-magnet-link",
            "--out", os.path.join(tmp, "out")]
    rc, so, se = get_cmd(args, tmp)
    line = next((l for l in se.splitlines() if l.startswith("openace get: cannot add")), "")
    check(rc == 1 and len(line) > len("openace get: cannot add not-a-magnet-link: ") + 10,
          "a bad URI: add fails, get exits 1 with the swarm's sentence",
          describe(args, rc, so, se))
    check(leftovers(tmp) == [], "the temporary data directory is removed", str(leftovers(tmp)))


def case_timeout_and_sigint():
    if not have_swarm():
        skip("timeout and SIGINT: no swarm.so in " + plugin_dir())
        return
    tmp = mkdtemp("oa-get-stop-")
    magnet = f"magnet:?xt=urn:btih:{NO_SUCH_HASH}&dn=nothing"
    args = ["--plugins", plugin_dir(), "--p2p-port", str(free_port()), magnet,
            "--out", os.path.join(tmp, "out"), "--timeout", "2"]
    rc, so, se = get_cmd(args, tmp)
    check(rc == 1 and "gave up after 2 s" in se, "--timeout 2 without peers: exit 1, 'gave up'",
          describe(args, rc, so, se))

    env = dict(os.environ, TMPDIR=tmp)
    args = ["--plugins", plugin_dir(), "--p2p-port", str(free_port()), magnet,
            "--out", os.path.join(tmp, "out")]
    p = subprocess.Popen([build.openace, "get"] + args, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True)
    first = p.stdout.readline()  # "fetching ..." once the content was added
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    try:
        so, se = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        so, se = p.communicate()
    check(first.startswith("fetching") and p.returncode == 130 and "SIGINT" in se,
          "SIGINT while fetching: exit 130", describe(args, p.returncode, first + so, se))
    check(leftovers(tmp) == [], "the temporary data directories are removed", str(leftovers(tmp)))


def make_content(root):
    """A directory of two files with sizes that do not fill their last piece."""
    os.makedirs(root)
    sizes = {"a.bin": 1500 * 1024 + 123, "sub/b.bin": 300 * 1024 + 7}
    for rel, size in sizes.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(os.urandom(size))
    return sorted(sizes)


def case_download():
    if not have_swarm():
        skip("download: no swarm.so in " + plugin_dir())
        return
    py = libtorrent_python()
    if py is None:
        skip("download: no python3 with libtorrent (apt-get install python3-libtorrent)")
        return
    tmp = mkdtemp("oa-get-dl-")
    src = os.path.join(tmp, "seed", "content")
    files = make_content(src)
    tpath = os.path.join(tmp, "content.torrent")
    script = os.path.join(tmp, "seeder.py")
    with open(script, "w") as f:
        f.write(SEEDER)
    port = free_port()
    seeder = subprocess.Popen([py, script, src, tpath, str(port)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = seeder.stdout.readline().split()
        require(len(ready) == 3 and ready[0] == "READY", "the libtorrent seeder seeds",
                " ".join(ready) + "\n" + (seeder.stderr.read() if seeder.poll() is not None
                                          else ""))
        for n, (what, uri) in enumerate((
                ("a .torrent file (hybrid v1+v2)", tpath),
                ("a magnet link (hybrid)", f"magnet:?xt=urn:btih:{ready[1]}&dn=content"),
                ("a magnet link (v1 only)", f"magnet:?xt=urn:btih:{ready[2]}&dn=content"))):
            out = os.path.join(tmp, f"out-{n}")
            args = ["--plugins", plugin_dir(), "--p2p-port", str(free_port()), uri,
                    "--out", out, "--peer", f"127.0.0.1:{port}", "--timeout", "120"]
            rc, so, se = get_cmd(args, tmp)
            ok = check(rc == 0 and "done: content" in so,
                       f"{what}: get exits 0 and says done", describe(args, rc, so, se))
            same = [rel for rel in files
                    if os.path.exists(os.path.join(out, "content", rel)) and
                    filecmp.cmp(os.path.join(src, rel), os.path.join(out, "content", rel),
                                shallow=False)]
            check(ok and same == files, f"{what}: every file is byte-identical to the seed's",
                  f"identical: {same} of {files}\n" + describe(args, rc, so, se))
            check(leftovers(tmp) == [], f"{what}: the temporary data directory is removed",
                  str(leftovers(tmp)))
    finally:
        if seeder.poll() is None:
            seeder.stdin.close()
            try:
                seeder.wait(timeout=15)
            except subprocess.TimeoutExpired:
                seeder.kill()
                seeder.wait()


CASES = [
    ("--help mentions get", case_help),
    ("usage errors", case_usage),
    ("missing plugin or directory", case_missing_plugin),
    ("bad URI", case_bad_uri),
    ("--timeout and SIGINT", case_timeout_and_sigint),
    ("download from a libtorrent seeder", case_download),
]

if __name__ == "__main__":
    sys.exit(main(CASES, __doc__, tmp_prefix="oa-get-"))

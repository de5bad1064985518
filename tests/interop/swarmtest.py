"""What the interoperability tests share: OpenAce engines with the swarm
plugin, libtorrent sessions, torrents of random files, a tracker, file
comparison. Built on tests/integration/oatest.py (imported, not copied).

A test script imports it by path (it lives beside them):

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import swarmtest as st          # may re-execute under /usr/bin/python3
    ...
    if __name__ == "__main__":
        sys.exit(st.main(CASES, __doc__))

Everything runs on loopback: libtorrent without DHT, LSD, UPnP, NAT-PMP or
uTP, listening on 127.0.0.1 only; engines listening on 127.0.0.1 only.
"""
import base64
import json
import os
import signal
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

SKIP = 77  # CTest's SKIP_RETURN_CODE: a tool is genuinely missing


def _find_libtorrent():
    """Imports libtorrent. Debian's python3-libtorrent lives in the system
    Python; when this interpreter (pyenv, a venv) lacks it, the script is
    executed again under a system python3 that has it."""
    try:
        import libtorrent
        return libtorrent
    except ImportError:
        pass
    if os.environ.get("OA_INTEROP_REEXEC") != "1":
        me = os.path.realpath(sys.executable or "")
        for cand in ("/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"):
            if not os.access(cand, os.X_OK) or os.path.realpath(cand) == me:
                continue
            ok = subprocess.run([cand, "-c", "import libtorrent"], capture_output=True)
            if ok.returncode == 0:
                os.environ["OA_INTEROP_REEXEC"] = "1"
                sys.stdout.flush()
                os.execv(cand, [cand] + sys.argv)
    return None


lt = _find_libtorrent()

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "integration"))
import oatest  # noqa: E402
from oatest import build, check, require, free_port, mkdtemp  # noqa: E402,F401

PASSWORD = "interop-password-1"
WAIT_DONE = 60.0  # seconds a 5 MiB transfer (~1 s here, more under ASan) may take
POLL = 0.25


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def need_libtorrent():
    if lt is None:
        skip("python3-libtorrent is not importable by this or the system python3 "
             "(install it: scripts/deps.sh test, or apt-get install python3-libtorrent)")


def need_tool(path_or_name, package):
    found = shutil.which(path_or_name)
    if found is None:
        skip(f"{path_or_name} is not installed (apt-get install {package}; "
             f"scripts/deps.sh test installs it)")
    return found


class _KeptDirs(list):
    """oatest's list of temporary folders when OA_INTEROP_KEEP=1: main()
    finds nothing to remove, and the folders are printed instead."""

    def __iter__(self):
        if len(self):
            print("kept (OA_INTEROP_KEEP=1): " + " ".join(list.__iter__(self)))
        return iter(())


def main(cases, doc, tmp_prefix="oa-interop-", need=()):
    """oatest.main, requiring the swarm and transport-tcp plugins of the
    build and each further build output in need (paths relative to the
    build directory, e.g. "plugins/streamer.so"). With OA_INTEROP_KEEP=1
    the temporary folders (engine logs, downloads) are kept for a look."""
    need_libtorrent()
    if os.environ.get("OA_INTEROP_KEEP") == "1":
        oatest.temp_dirs = _KeptDirs()
    return oatest.main(cases, doc, tmp_prefix=tmp_prefix,
                       need=("plugins/swarm.so", "plugins/transport-tcp.so") + tuple(need))


def log(msg):
    print(f"  ..   {msg}", flush=True)


# ---- content and torrents ------------------------------------------------------

# Three files of mixed sizes (~4.8 MiB): none but the first piece-aligned at
# 64 KiB, so pieces straddle file boundaries and the last piece is short.
DEFAULT_FILES = [("a.bin", 3 * 1024 * 1024 + 100003),
                 ("sub/b.bin", 1500000),
                 ("c.dat", 77777)]


def make_content(parent, name="content", files=DEFAULT_FILES):
    """Writes random files under parent/name; returns that folder."""
    root = os.path.join(parent, name)
    for rel, size in files:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            left = size
            while left > 0:
                n = min(left, 1 << 20)
                f.write(os.urandom(n))
                left -= n
    return root


def make_torrent(content_dir, piece_size=64 * 1024, trackers=(), out=None):
    """A v1 .torrent (bytes) for the folder content_dir, made by libtorrent;
    written to out when given. Returns (bytes, info-hash hex, torrent_info)."""
    fs = lt.file_storage()
    lt.add_files(fs, content_dir)
    ct = lt.create_torrent(fs, piece_size, flags=lt.create_torrent.v1_only)
    for i, url in enumerate(trackers):
        ct.add_tracker(url, i)
    ct.set_creator("openace interop test")
    lt.set_piece_hashes(ct, os.path.dirname(content_dir))
    data = lt.bencode(ct.generate())
    if out is not None:
        with open(out, "wb") as f:
            f.write(data)
    ti = lt.torrent_info(lt.bdecode(data))
    return data, str(ti.info_hash()), ti


def torrent_files(ti):
    """[(path relative to the save folder, size)] of a torrent_info."""
    fs = ti.files()
    return [(fs.file_path(i), fs.file_size(i)) for i in range(fs.num_files())
            if not fs.file_flags(i) & lt.file_storage.flag_pad_file]


def compare_trees(ti, want_parent, got_parent, who):
    """One check per torrent: every file under got_parent equals the one
    under want_parent byte for byte (first difference reported)."""
    bad = []
    for rel, size in torrent_files(ti):
        a = os.path.join(want_parent, rel)
        b = os.path.join(got_parent, rel)
        if not os.path.exists(b):
            bad.append(f"{rel}: missing at {b}")
            continue
        gs = os.path.getsize(b)
        if gs != size:
            bad.append(f"{rel}: {gs} bytes, want {size}")
            continue
        with open(a, "rb") as fa, open(b, "rb") as fb:
            off = 0
            while True:
                x = fa.read(1 << 20)
                y = fb.read(1 << 20)
                if x != y:
                    i = next((k for k in range(min(len(x), len(y))) if x[k] != y[k]),
                             min(len(x), len(y)))
                    bad.append(f"{rel}: differs first at byte {off + i}")
                    break
                if not x:
                    break
                off += len(x)
    names = ", ".join(r for r, _ in torrent_files(ti))
    return check(not bad, f"{who}: every file is byte-identical ({names})", "\n".join(bad))


def magnet(info_hash, peers=(), trackers=(), name=None):
    parts = [f"xt=urn:btih:{info_hash}"]
    if name:
        parts.append("dn=" + urllib.parse.quote(name))
    parts += ["tr=" + urllib.parse.quote(t, safe="") for t in trackers]
    parts += [f"x.pe={p}" for p in peers]
    return "magnet:?" + "&".join(parts)


# ---- libtorrent ---------------------------------------------------------------

def lt_settings(port, **extra):
    s = {
        "listen_interfaces": f"127.0.0.1:{port}",
        "outgoing_interfaces": "127.0.0.1",
        "enable_dht": False, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "user_agent": "interop-libtorrent",
        "alert_mask": lt.alert.category_t.error_notification |
        lt.alert.category_t.status_notification |
        lt.alert.category_t.peer_notification,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        # Plain BitTorrent handshakes (no MSE): see the libtorrent test's
        # case d for the default policy.
        "out_enc_policy": int(lt.enc_policy.disabled),
        "in_enc_policy": int(lt.enc_policy.disabled),
    }
    s.update(extra)
    return s


class LtPeer:
    """A libtorrent session on 127.0.0.1:port with one torrent."""

    def __init__(self, name, upload_limit=0, **settings):
        self.name = name
        self.port = free_port()
        self.ses = lt.session(lt_settings(self.port, **settings))
        if upload_limit:
            # Loopback peers are in the "local" class, which rate limits skip.
            for cls in (lt.session.global_peer_class_id, lt.session.local_peer_class_id):
                pc = self.ses.get_peer_class(cls)
                pc["upload_limit"] = upload_limit
                self.ses.set_peer_class(cls, pc)
        self.h = None
        self.alerts = []

    def add(self, ti, save_path, seed=False):
        p = lt.add_torrent_params()
        p.ti = ti
        p.save_path = save_path
        if seed:
            p.flags |= lt.torrent_flags.seed_mode  # trust the files: we made them
        p.flags &= ~lt.torrent_flags.auto_managed
        p.flags &= ~lt.torrent_flags.paused
        self.h = self.ses.add_torrent(p)
        return self.h

    def add_magnet(self, uri, save_path):
        p = lt.parse_magnet_uri(uri)
        p.save_path = save_path
        p.flags &= ~lt.torrent_flags.auto_managed
        p.flags &= ~lt.torrent_flags.paused
        self.h = self.ses.add_torrent(p)
        return self.h

    def connect(self, port, ip="127.0.0.1"):
        self.h.connect_peer((ip, port))

    def pump(self):
        for a in self.ses.pop_alerts():
            self.alerts.append(f"{type(a).__name__}: {a.message()}")
        del self.alerts[:-200]

    def status(self):
        return self.h.status()

    def is_seed(self):
        s = self.h.status()
        return s.is_seeding or s.is_finished

    def describe(self):
        self.pump()
        s = self.h.status()
        peers = []
        for p in self.h.get_peer_info():
            peers.append(f"{p.ip[0]}:{p.ip[1]} client={p.client!r} "
                         f"down={p.total_download} up={p.total_upload}")
        return (f"libtorrent {self.name} on 127.0.0.1:{self.port}: state={s.state} "
                f"progress={s.progress:.3f} seeding={s.is_seeding} peers={s.num_peers} "
                f"down={s.total_payload_download} up={s.total_payload_upload} "
                f"error={s.errc.message() if s.errc.value() else ''}\n  peers: " +
                "; ".join(peers) + "\n  alerts:\n    " + "\n    ".join(self.alerts[-25:]))

    def wait_seed(self, timeout, reconnect=None):
        """Waits until the torrent is complete; reconnect, a port, is
        connect_peer()ed every 5 s in case a connection dropped."""
        deadline = time.monotonic() + timeout
        last = 0.0
        while time.monotonic() < deadline:
            self.pump()
            if self.is_seed():
                return True
            if reconnect is not None and time.monotonic() - last > 5:
                self.connect(reconnect)
                last = time.monotonic()
            time.sleep(POLL)
        return self.is_seed()

    def close(self):
        if self.ses is not None:
            try:
                if self.h is not None:
                    self.ses.remove_torrent(self.h)
                self.ses.pause()
            except Exception:
                pass
            self.ses = None


_lt_peers = []


def lt_peer(name, **settings):
    p = LtPeer(name, **settings)
    _lt_peers.append(p)
    return p


def close_lt_peers():
    for p in _lt_peers:
        p.close()
    _lt_peers.clear()


# ---- OpenAce engines ------------------------------------------------------------

BASE_PLUGINS = ("transport-tcp", "swarm")


# Build folders (relative to the build directory) searched in order for a
# plugin's .so; a test appends e.g. "tests/live-plugins" for test plugins.
PLUGIN_DIRS = ["plugins"]


def plugin_dir(plugins=BASE_PLUGINS):
    """A folder holding only the named plugins of the build (by default
    transport-tcp.so and swarm.so; each taken from the first folder of
    PLUGIN_DIRS that has it), so that other plugins of the build change
    nothing here."""
    d = mkdtemp("oa-interop-plugins-")
    for name in plugins:
        found = [os.path.join(build.dir, sub, name + ".so") for sub in PLUGIN_DIRS]
        found = [f for f in found if os.path.exists(f)] or found[:1]
        shutil.copy2(found[0], d)
    return d


def _cfg_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class no_asan_quarantine:
    """A context for starting an engine whose resident memory a test bounds:
    under AddressSanitizer freed memory waits in a quarantine (256 MiB by
    default) that would count as growth, so engines started inside run
    without it. Without ASan the option is ignored."""

    def __enter__(self):
        self.old = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = ((self.old + ":") if self.old else "") + \
            "quarantine_size_mb=0"
        return self

    def __exit__(self, *exc):
        if self.old is None:
            del os.environ["ASAN_OPTIONS"]
        else:
            os.environ["ASAN_OPTIONS"] = self.old
        return False


class Oa:
    """An OpenAce engine with transport-tcp and swarm (and any further
    plugins of the build named in plugins, enabled in that order), set up
    offline (plugins enabled, settings, an admin token) and then started.
    settings are the swarm's; config maps another plugin's name to its
    settings ({"streamer": {"idle_timeout": 2}})."""

    def __init__(self, name, settings=None, log_level="debug", plugins=BASE_PLUGINS,
                 config=None):
        self.name = name
        self.plugins = tuple(dict.fromkeys(tuple(BASE_PLUGINS) + tuple(plugins)))
        self.env = oatest.Env(name, plugins=plugin_dir(self.plugins))
        self.downloads = os.path.join(self.env.root, "downloads")
        os.makedirs(self.downloads)
        self.setup = []
        for p in self.plugins:
            self._off("plugins", "enable", p)
        self._off("config", "set", "transport-tcp", "listen", f"127.0.0.1:{self.env.p2p_port}")
        self._off("config", "set", "swarm", "download_dir", self.downloads)
        for k, v in (settings or {}).items():
            self._off("config", "set", "swarm", k, _cfg_text(v))
        for plug, kv in (config or {}).items():
            for k, v in kv.items():
                self._off("config", "set", plug, k, _cfg_text(v))
        self._off("passwd", "admin", stdin_text=PASSWORD + "\n")
        r = self._off("token", "create", "admin", "interop")
        lines = [x.strip() for x in r.out.splitlines() if x.strip()]
        require(len(lines) == 1, f"{name}: `token create` prints one token", r.describe())
        self.token = lines[0]
        self.eng = oatest.Engine(self.env, extra=["--log-level", log_level])
        oatest.wait_ready(self.eng, f"{name}: engine started (p2p 127.0.0.1:"
                                    f"{self.env.p2p_port}, http {self.env.http_port})")
        self.client = oatest.Client(self.env.http_port, bearer=self.token)
        plugs = self.client.get("/api/plugins")
        states = {p.get("name"): (p.get("state"), p.get("reason"))
                  for p in (plugs.json or {}).get("plugins", [])}
        require(all(states.get(p, ("",))[0] == "running" for p in self.plugins),
                f"{name}: {', '.join(self.plugins)} are running", f"{states}\n{self.tail()}")

    @property
    def port(self):
        return self.env.p2p_port

    @property
    def pid(self):
        return self.eng.pid

    def _off(self, *args, stdin_text=None):
        r = oatest.cmd(self.env, *args, stdin_text=stdin_text)
        require(r.rc == 0, f"{self.name}: `openace {' '.join(args)}` exits 0", r.describe())
        return r

    def call(self, command, body=None, plugin="swarm"):
        """The result of a command of plugin (the swarm by default), or
        None (the reply is in .last)."""
        r = self.client.post(f"/api/plugins/{plugin}/commands/{command}", body or {})
        self.last = r
        if r.status == 200 and isinstance(r.json, dict) and "result" in r.json:
            return r.json["result"]
        return None

    def add(self, what, **extra):
        """`add` with a body of what (a dict) and extra; requires success."""
        body = dict(what)
        body.update(extra)
        res = self.call("add", body)
        shown = {k: (v[:60] + "..." if isinstance(v, str) and len(v) > 60 else v)
                 for k, v in body.items()}
        require(isinstance(res, dict) and isinstance(res.get("infohash"), str),
                f"{self.name}: add {json.dumps(shown)} -> infohash, name, state",
                self.last.describe() + "\n" + self.tail())
        return res

    def add_torrent_bytes(self, data, **extra):
        return self.add({"torrent": base64.b64encode(data).decode()}, **extra)

    def stats(self, ih=None):
        return self.call("stats", {"infohash": ih} if ih else {})

    def wait_state(self, ih, states, timeout=WAIT_DONE, what=None):
        """Polls stats until its state is one of states; requires it (one
        check, with the last stats and the log on failure). "error" ends
        the wait early. Returns (stats, seconds waited)."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        st = None
        while True:
            st = self.stats(ih)
            state = (st or {}).get("state")
            if state in states or state == "error" or time.monotonic() > deadline:
                break
            if self.eng.proc.poll() is not None:
                break
            time.sleep(POLL)
        waited = time.monotonic() - t0
        state = (st or {}).get("state")
        require(state in states, what or f"{self.name}: {ih[:8]} reaches {'/'.join(states)} "
                f"(got {state!r} after {waited:.1f} s)", self.describe(ih))
        return st, waited

    def describe(self, ih=None):
        st = self.stats(ih) if self.eng.proc.poll() is None else None
        brief = dict(st or {})
        if isinstance(brief.get("peer_list"), list):
            brief["peer_list"] = brief["peer_list"][:10]
        return (f"stats: {json.dumps(brief)[:2500]}\n"
                f"last reply: {self.last.describe()[:600] if hasattr(self, 'last') else ''}\n"
                + self.tail())

    def tail(self, n=40):
        """The engine's exit status and its last log lines of its plugins
        (swarm, transport, ...) and every warning and error."""
        lines = self.eng.lines()
        tags = getattr(self, "plugins", BASE_PLUGINS)
        keep = [l for l in lines if l.get("level") in ("warn", "error", "fatal") or
                l.get("tag") in tags]
        out = []
        for l in keep[-n:]:
            out.append(f"{l.get('level', '?'):5} {l.get('tag', '?')}: {l.get('msg', '')}")
        return (f"engine {self.name} pid {self.eng.pid} exit={self.eng.proc.poll()}; "
                f"log {self.eng.log_path} ({len(lines)} lines), last {len(out)} "
                f"swarm/transport/warn lines:\n    " + "\n    ".join(out))

    def events(self, topics="swarm.*"):
        """An SSE reader on /api/events (closed after the case)."""
        r = oatest.SseReader(self.env.http_port, f"/api/events?topics={topics}",
                             {"Authorization": f"Bearer {self.token}",
                              "Accept": "text/event-stream"}, timeout=600)
        r.start()
        require(r.opened.wait(10) and r.status == 200,
                f"{self.name}: GET /api/events?topics={topics} -> 200 (got {r.status})",
                str(r.error))
        _readers.append(r)
        return r

    def grep(self, text):
        return [l for l in self.eng.lines() if text in str(l.get("msg", ""))]

    def stop(self):
        oatest.stop(self.eng, expect_rc=0)

    def restart(self, sig=signal.SIGTERM):
        """Stops the engine with sig (SIGKILL: a crash, exit status not
        checked) and starts it again on the same data directory."""
        oatest.stop(self.eng, sig=sig, expect_rc=None if sig == signal.SIGKILL else 0)
        self.eng = oatest.Engine(self.env, extra=["--log-level", "debug"])
        oatest.wait_ready(self.eng, f"{self.name}: engine started again after "
                                    f"{signal.Signals(sig).name}")


# ---- a tracker ------------------------------------------------------------------

class Tracker:
    """opentracker on 127.0.0.1 (HTTP and UDP on one free port), answering
    only for the info-hashes given (Debian builds it with a whitelist)."""

    def __init__(self, info_hashes, port=None):
        self.bin = need_tool("opentracker", "opentracker")
        self.dir = mkdtemp("oa-interop-tracker-")
        with open(os.path.join(self.dir, "whitelist"), "w") as f:
            for h in info_hashes:
                f.write(h + "\n")
        # Started as root, it drops to "nobody" before reading the whitelist.
        os.chmod(self.dir, 0o755)
        os.chmod(os.path.join(self.dir, "whitelist"), 0o644)
        self.port = port or free_port()
        self.log_path = os.path.join(self.dir, "opentracker.log")
        self.log = open(self.log_path, "wb")
        # -d chroots there (as root), so the whitelist path is relative to it.
        self.proc = subprocess.Popen(
            [self.bin, "-i", "127.0.0.1", "-p", str(self.port), "-P", str(self.port),
             "-d", self.dir, "-w", "whitelist", "-A", "127.0.0.1"],
            cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _procs.append(self.proc)
        self.url = f"http://127.0.0.1:{self.port}/announce"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/scrape", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)

    def scrape(self, ih):
        """{complete, incomplete, downloaded} for ih from /scrape, or None."""
        q = urllib.parse.quote_from_bytes(bytes.fromhex(ih))
        try:
            raw = urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/scrape?info_hash={q}", timeout=5).read()
            d = lt.bdecode(raw)
        except Exception as e:
            return {"error": str(e)}
        files = (d or {}).get(b"files", {})
        ent = files.get(bytes.fromhex(ih))
        if ent is None:
            return None
        return {k.decode(): v for k, v in ent.items()}

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


# ---- other processes --------------------------------------------------------------

_procs = []
_readers = []


def spawn(args, log_path, cwd=None):
    """Starts a helper process (killed after the case) with its output in log_path."""
    f = open(log_path, "wb")
    p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         cwd=cwd)
    _procs.append(p)
    return p


def kill_procs():
    for r in _readers:
        r.close()
    _readers.clear()
    for p in _procs:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
    _procs.clear()


def case(fn):
    """Wraps a case so that libtorrent sessions and helper processes it
    started end with it (oatest kills the engines)."""
    def run():
        try:
            fn()
        finally:
            close_lt_peers()
            kill_procs()
    run.__name__ = fn.__name__
    return run

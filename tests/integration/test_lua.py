#!/usr/bin/env python3
"""Integration test of Lua automation: scripts managed through the admin API
(docs/admin-api.md, "Scripts") acting on the real engine and example-echo
plugin, and `openace script run` on good and failing scripts. Real binary,
real SQLite data directory per case, real HTTP over loopback only.

Run by CTest as:  python3 tests/integration/test_lua.py --build <build dir>

Each assertion is one check; the last line printed is "N passed, M failed"
and the exit status is 0 only when M is 0.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

STARTUP_TIMEOUT = 20.0  # seconds to wait for a log line
STOP_TIMEOUT = 20.0  # seconds an engine may take to exit after SIGTERM
CMD_TIMEOUT = 30.0  # seconds for an offline command
HTTP_TIMEOUT = 15.0  # seconds for one HTTP request
EVENT_TIMEOUT = 10.0  # seconds to wait for an SSE message

ECHO = "example-echo"
EXAMPLES = ("event_logger", "scheduler", "watchdog")

BUILD = None
OPENACE = None
PLUGINS = None

passed = 0
failed = 0
failures = []
current_case = "?"
live_procs = []
temp_dirs = []


class CaseAbort(Exception):
    """A check that later checks of the case depend on has failed."""


def check(cond, what, detail=""):
    """Records one check; returns cond so callers can branch on it."""
    global passed, failed
    if cond:
        passed += 1
        print(f"  ok   {what}")
    else:
        failed += 1
        msg = f"[{current_case}] {what}"
        if detail:
            msg += f"\n         {detail}"
        failures.append(msg)
        print(f"  FAIL {what}")
        if detail:
            for line in str(detail).splitlines():
                print(f"         {line}")
    return bool(cond)


def require(cond, what, detail=""):
    """Like check, but stops the case when it fails."""
    if not check(cond, what, detail):
        raise CaseAbort(what)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def mkdtemp(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    temp_dirs.append(d)
    return d


class Env:
    """One case's data directory and ports."""

    def __init__(self, name):
        self.root = mkdtemp(f"oa-lua-{name}-")
        self.data = os.path.join(self.root, "data")
        self.http_port = free_port()
        self.p2p_port = free_port()
        self.runs = 0

    def base_args(self):
        return ["--data", self.data, "--plugins", PLUGINS,
                "--http", f"127.0.0.1:{self.http_port}",
                "--p2p-port", str(self.p2p_port)]

    def write(self, rel, text):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path


class Result:
    def __init__(self, args, rc, out, err):
        self.args = args
        self.rc = rc
        self.out = out
        self.err = err

    def describe(self):
        return (f"command: {' '.join(self.args)}\nexit: {self.rc}\n"
                f"stdout: {self.out.strip()[:1500]}\nstderr: {self.err.strip()[:2500]}")


def cmd(env, *args, stdin_text=None):
    """Runs an offline openace command against env's data directory."""
    full = [OPENACE] + env.base_args() + list(args)
    try:
        p = subprocess.run(full, capture_output=True, text=True, timeout=CMD_TIMEOUT,
                           cwd=env.root, input=stdin_text,
                           stdin=subprocess.DEVNULL if stdin_text is None else None)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        return Result(full, None, out, err + f"\n(timed out after {CMD_TIMEOUT}s)")
    return Result(full, p.returncode, p.stdout, p.stderr)


def make_token(env):
    """`printf 'password1\\n' | openace passwd admin`, then `token create admin t`;
    returns the token."""
    r = cmd(env, "passwd", "admin", stdin_text="password1\n")
    require(r.rc == 0, "`passwd admin` with the password on standard input exits 0",
            r.describe())
    r = cmd(env, "token", "create", "admin", "t")
    token = r.out.strip().splitlines()[-1].strip() if r.out.strip() else ""
    require(r.rc == 0 and len(token) >= 20, "`token create admin t` prints a token",
            r.describe())
    return token


class Engine:
    """An `openace` engine process with its stderr (JSON log lines) in a file."""

    def __init__(self, env):
        env.runs += 1
        self.env = env
        self.log_path = os.path.join(env.root, f"engine-{env.runs}.log")
        self.log_file = open(self.log_path, "wb")
        self.args = [OPENACE] + env.base_args() + ["--log-json"]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                     stderr=self.log_file, stdin=subprocess.DEVNULL,
                                     cwd=env.root)
        live_procs.append(self)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def lines(self):
        out = []
        for raw in self.text().splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                pass
        return out

    def find(self, pred):
        return [l for l in self.lines() if pred(l)]

    def tail(self):
        return f"exit: {self.proc.poll()}\nlog:\n{self.text()[-3000:]}"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if not self.log_file.closed:
            self.log_file.close()


def is_ready(l):
    """The line the host logs after starting every enabled plugin."""
    return (l.get("tag") == "host" and
            re.search(r"^openace \S+ \(SDK \d+\.\d+\) running: \d+ plugin\(s\)",
                      str(l.get("msg", ""))) is not None)


def wait_for_log(engine, pred, timeout=STARTUP_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        hits = engine.find(pred)
        if hits:
            return hits[0]
        if engine.proc.poll() is not None or time.monotonic() > deadline:
            hits = engine.find(pred)
            return hits[0] if hits else None
        time.sleep(0.05)


def start_engine(env, what="engine finished starting"):
    eng = Engine(env)
    require(wait_for_log(eng, is_ready) is not None, what, eng.tail())
    return eng


def stop(engine):
    """SIGTERM and wait; checks the engine exits 0."""
    alive = engine.proc.poll() is None
    if alive:
        engine.proc.send_signal(signal.SIGTERM)
    try:
        rc = engine.proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        rc = None
    engine.kill()
    check(alive and rc == 0, f"engine exits 0 after SIGTERM (got {rc})", engine.tail())


# ---- HTTP -------------------------------------------------------------------

class Resp:
    def __init__(self, method, path, status=None, body=b"", error=None, ctype=None):
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        self.error = error
        self.ctype = ctype
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            self.json = None

    def describe(self):
        return (f"request: {self.method} {self.path}\nerror: {self.error}\n"
                f"status: {self.status}\nbody: {self.body[:2000].decode('utf-8', 'replace')}")


class Client:
    """An API client with a bearer token."""

    def __init__(self, port, token):
        self.port = port
        self.token = token

    def req(self, method, path, body=None):
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT)
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            return Resp(method, path, r.status, r.read(), ctype=r.getheader("Content-Type"))
        except (OSError, http.client.HTTPException) as e:
            return Resp(method, path, error=f"{type(e).__name__}: {e}")
        finally:
            conn.close()

    def get(self, path):
        return self.req("GET", path)

    def post(self, path, body=None):
        return self.req("POST", path, body)

    def put(self, path, body=None):
        return self.req("PUT", path, body)


class SseReader(threading.Thread):
    """Reads /api/events in a thread; messages land in .events as
    (event, data) pairs."""

    def __init__(self, port, path, token):
        super().__init__(daemon=True)
        self.port = port
        self.path = path
        self.token = token
        self.status = None
        self.error = None
        self.events = []
        self.opened = threading.Event()
        self.cond = threading.Condition()
        self.conn = None

    def run(self):
        try:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                   timeout=EVENT_TIMEOUT * 3)
            self.conn.request("GET", self.path,
                              headers={"Authorization": f"Bearer {self.token}"})
            r = self.conn.getresponse()
            self.status = r.status
            self.opened.set()
            if r.status != 200:
                r.read()
                return
            ev, data = None, []
            while True:
                line = r.readline()
                if not line:
                    break
                line = line.decode("utf-8", "replace").rstrip("\r\n")
                if line == "":
                    if data or ev:
                        with self.cond:
                            self.events.append((ev or "message", "\n".join(data)))
                            self.cond.notify_all()
                    ev, data = None, []
                elif line.startswith("event:"):
                    ev = line[6:].strip()
                elif line.startswith("data:"):
                    v = line[5:]
                    data.append(v[1:] if v.startswith(" ") else v)
        except (OSError, http.client.HTTPException, ValueError) as e:
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.opened.set()
            with self.cond:
                self.cond.notify_all()

    def wait_for(self, pred, timeout=EVENT_TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.events:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or not self.is_alive():
                    return None
                self.cond.wait(left)

    def close(self):
        c = self.conn
        if c is not None and c.sock is not None:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.join(5)
        if c is not None:
            c.close()


def echo_states(sse):
    """The states example-echo went through, in order, from plugin.state events."""
    out = []
    with sse.cond:
        for ev, data in sse.events:
            if ev != "plugin.state":
                continue
            try:
                j = json.loads(data)
            except ValueError:
                continue
            if j.get("name") == ECHO:
                out.append(j.get("state"))
    return out


def plugin_state(client):
    r = client.get(f"/api/plugins/{ECHO}")
    return (r.json or {}).get("state") if isinstance(r.json, dict) else None


def check_error(r, status, code, what):
    j = r.json
    err = j.get("error") if isinstance(j, dict) else None
    ok = (r.status == status and isinstance(err, dict) and err.get("code") == code and
          isinstance(err.get("message"), str) and err.get("message") != "")
    return check(ok, f"{what} -> {status} {code}", r.describe())


# A script that, on the first echo.tick it hears, disables example-echo and
# enables it again 1.5 s later.
BOUNCER = """\
-- bouncer: restarts example-echo once, on its first tick.
local done = false
oa.log.info("bouncer loaded")
oa.on("echo.tick", function(topic, ev)
  if done then
    return
  end
  done = true
  oa.log.info("tick " .. tostring(ev.n) .. ": disabling example-echo")
  oa.plugins.disable("example-echo")
  oa.after(1500, function()
    oa.log.info("enabling example-echo again")
    oa.plugins.enable("example-echo")
  end)
end)
"""

# Line 3 has a syntax error.
BROKEN = """\
-- broken on purpose
local x = 1
local y = = 2
"""


def case_api():
    env = Env("api")
    token = make_token(env)
    r = cmd(env, "config", "set", ECHO, "interval_ms", "200")
    require(r.rc == 0, "config set example-echo interval_ms 200 exits 0", r.describe())
    eng = start_engine(env)
    sse = None
    try:
        c = Client(env.http_port, token)
        r = c.get("/api/scripts")
        require(r.status == 200 and isinstance(r.json, dict) and
                isinstance(r.json.get("scripts"), list),
                "GET /api/scripts with the API token -> 200 {\"scripts\": [...]}", r.describe())
        names = [s.get("name") for s in r.json["scripts"]]
        check(all(n in names for n in EXAMPLES),
              "the shipped examples were imported at the first start", r.describe())
        check(all(s.get("enabled") is False and s.get("running") is False
                  for s in r.json["scripts"] if s.get("name") in EXAMPLES),
              "every imported example is disabled and not running", r.describe())

        r = Client(env.http_port, "not-a-token").get("/api/scripts")
        check(r.status == 401, "GET /api/scripts with a wrong token -> 401", r.describe())

        sse = SseReader(env.http_port, "/api/events?topics=plugin.state", token)
        sse.start()
        sse.opened.wait(EVENT_TIMEOUT)
        require(sse.status == 200, "GET /api/events?topics=plugin.state -> 200 stream",
                f"status {sse.status} error {sse.error}")
        time.sleep(0.2)

        r = c.put("/api/scripts/bouncer", {"source": BOUNCER})
        j = r.json if isinstance(r.json, dict) else {}
        require(r.status == 200 and j.get("ok") is True and
                (j.get("script") or {}).get("running") is True and
                (j.get("script") or {}).get("enabled") is True,
                "PUT /api/scripts/bouncer -> 200 ok, the script enabled and running",
                r.describe())

        # The engine's state shows the script's work: disabled, then running.
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            st = plugin_state(c)
            if not seen or seen[-1] != st:
                seen.append(st)
            if "disabled" in seen and seen[-1] == "running":
                break
            time.sleep(0.05)
        check("disabled" in seen, "GET /api/plugins/example-echo shows it disabled by the "
              "script", f"states seen: {seen}\n{eng.tail()}")
        check(seen and seen[-1] == "running" and "disabled" in seen,
              "... and running again after the script enabled it",
              f"states seen: {seen}\n{eng.tail()}")
        ev = sse.wait_for(lambda e: "disabled" in echo_states(sse) and
                          "running" in echo_states(sse)[echo_states(sse).index("disabled"):])
        check(ev is not None, "plugin.state events over /api/events: example-echo disabled, "
              "then running", f"states: {echo_states(sse)}")

        r = c.get("/api/scripts/bouncer")
        j = r.json if isinstance(r.json, dict) else {}
        msgs = [l.get("msg", "") for l in j.get("log") or []]
        check(r.status == 200 and j.get("source") == BOUNCER,
              "GET /api/scripts/bouncer -> 200 with the source", r.describe())
        check(any("bouncer loaded" in m for m in msgs) and
              any("disabling example-echo" in m for m in msgs) and
              any("enabling example-echo again" in m for m in msgs),
              "its log holds the script's lines", r.describe())
        check(bool(eng.find(lambda l: l.get("tag") == "lua:bouncer" and
                            "disabling example-echo" in str(l.get("msg")))),
              "the engine log carries them with the tag lua:bouncer", eng.tail())

        r = c.put("/api/scripts/bouncer", {"source": BROKEN})
        check_error(r, 400, "invalid_value", "PUT with a syntax error")
        err = (r.json or {}).get("error") if isinstance(r.json, dict) else None
        check(isinstance(err, dict) and err.get("line") == 3 and
              str(err.get("message", "")).startswith("bouncer:3:"),
              "the error gives the line: \"bouncer:3: ...\" and \"line\": 3", r.describe())
        r = c.get("/api/scripts/bouncer")
        j = r.json if isinstance(r.json, dict) else {}
        check(j.get("source") == BOUNCER and j.get("running") is True,
              "after the refused PUT the old script is stored and still running", r.describe())

        r = c.post("/api/scripts/bouncer/disable")
        check(r.status == 200 and ((r.json or {}).get("script") or {}).get("running") is False,
              "POST /api/scripts/bouncer/disable -> 200, not running", r.describe())
        r = c.get("/api/audit")
        entries = (r.json or {}).get("entries") or [] if isinstance(r.json, dict) else []
        acts = [(e.get("action"), e.get("who"), e.get("detail")) for e in entries]
        check(("script.put", "admin", "bouncer") in acts and
              ("script.disable", "admin", "bouncer") in acts and
              any(a == "script.put" and d.startswith("bouncer (refused:") for a, _, d in acts),
              "the audit log has script.put, the refused put and script.disable by admin",
              r.describe())
    finally:
        if sse is not None:
            sse.close()
        stop(eng)

    eng = start_engine(env, "engine starts again")
    try:
        c = Client(env.http_port, token)
        r = c.get("/api/scripts/bouncer")
        j = r.json if isinstance(r.json, dict) else {}
        check(r.status == 200 and j.get("enabled") is False and j.get("running") is False and
              j.get("source") == BOUNCER,
              "after a restart the script is still stored, disabled", r.describe())
        r = c.req("DELETE", "/api/scripts/bouncer")
        check(r.status == 200 and (r.json or {}).get("ok") is True,
              "DELETE /api/scripts/bouncer -> 200 ok", r.describe())
        check_error(c.get("/api/scripts/bouncer"), 404, "not_found", "GET after DELETE")
    finally:
        stop(eng)


GOOD = """\
-- good: logs now and once more from a timer.
oa.log.info("hello from the main chunk")
oa.after(50, function()
  oa.log.info("hello from a timer")
end)
"""

# Line 4 fails when the timer fires.
FAILING = """\
-- failing: the callback indexes nil.
oa.log.info("about to fail")
oa.after(20, function()
  local t = nil; return t.field
end)
"""

# Ticks every 50 ms for as long as it is let run.
PERIODIC = """\
local n = 0
oa.every(50, function()
  n = n + 1
  oa.log.info("tick " .. n)
end)
"""

# Line 2 has a syntax error.
SYNTAX = """\
oa.log.info("never")
if then
"""


def case_script_run():
    env = Env("run")
    good = env.write("good.lua", GOOD)
    r = cmd(env, "script", "run", good)
    check(r.rc == 0, "`script run good.lua` exits 0", r.describe())
    check("hello from the main chunk" in r.err and "hello from a timer" in r.err,
          "it prints the script's log lines on stderr (main chunk and timer)", r.describe())
    check("lua:good" in r.err, "the lines carry the tag lua:good", r.describe())

    bad = env.write("failing.lua", FAILING)
    r = cmd(env, "script", "run", bad)
    check(r.rc == 1, "`script run failing.lua` (callback error) exits 1", r.describe())
    check("about to fail" in r.err, "its log line before the error is printed", r.describe())
    check(re.search(r"failing:4:", r.err) is not None,
          "the error names the script and line: failing:4:", r.describe())

    syn = env.write("syntax.lua", SYNTAX)
    r = cmd(env, "script", "run", syn)
    check(r.rc == 1 and re.search(r"syntax:2:", r.err) is not None,
          "`script run syntax.lua` exits 1 naming syntax:2:", r.describe())
    check("never" not in r.err, "a script that does not compile runs nothing", r.describe())

    per = env.write("periodic.lua", PERIODIC)
    r = cmd(env, "script", "run", per, "300")
    check(r.rc == 0 and "tick 2" in r.err, "`script run periodic.lua 300` (oa.every) runs "
          "its timer and exits 0 when the time is up", r.describe())
    check("timers still set" in r.out, "it says it stopped with timers still set", r.describe())

    env.write("mods/helper.lua", 'return { greet = function() return "hi from helper" end }\n')
    main = env.write("mods/main.lua", 'local h = require("helper")\noa.log.info(h.greet())\n')
    r = cmd(env, "script", "run", main)
    check(r.rc == 0 and "hi from helper" in r.err,
          "require finds a module beside the script file", r.describe())

    r = cmd(env, "script", "run")
    check(r.rc == 2, "`script run` without a file is a usage error (exit 2)", r.describe())
    r = cmd(env, "script", "run", good, "soon")
    check(r.rc == 2 and "soon" in r.err, "a timeout that is not a number is a usage error "
          "naming it", r.describe())
    r = cmd(env, "--help")
    check(r.rc == 0 and re.search(r"^\s+script run FILE\.lua", r.out, re.M) is not None,
          "--help lists `script run FILE.lua`", r.describe())

    r = cmd(env, "script", "run", os.path.join(env.root, "missing.lua"))
    check(r.rc == 1 and "missing.lua" in r.err, "`script run` of a missing file exits 1 "
          "naming it", r.describe())

    # Changes a test run makes are not kept.
    a = env.write("a/probe.lua", 'oa.store.set("probe", "set")\n')
    b = env.write("b/probe.lua",
                  'if oa.store.get("probe") ~= nil then error("the value was kept") end\n'
                  'oa.log.info("store is clean")\n')
    r = cmd(env, "script", "run", a)
    check(r.rc == 0, "a test run that sets an oa.store value exits 0", r.describe())
    r = cmd(env, "script", "run", b)
    check(r.rc == 0 and "store is clean" in r.err,
          "a second test run does not see it (test runs use a scratch copy)", r.describe())


CASES = [
    ("1 scripts through the API act on the engine", case_api),
    ("2 openace script run", case_script_run),
]


def main():
    global BUILD, OPENACE, PLUGINS, current_case, failed
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True, help="the CMake build directory")
    ap.add_argument("-k", dest="only", help="run only cases whose title contains this")
    opts = ap.parse_args()
    BUILD = os.path.abspath(opts.build)
    OPENACE = os.path.join(BUILD, "bin", "openace")
    PLUGINS = os.path.join(BUILD, "plugins")
    missing = [p for p in (OPENACE, os.path.join(PLUGINS, "example-echo.so"))
               if not os.path.exists(p)]
    if missing:
        print("missing build outputs (build first): " + ", ".join(missing))
        print("0 passed, 1 failed")
        return 1
    t0 = time.monotonic()
    try:
        for title, fn in CASES:
            if opts.only and opts.only not in title:
                continue
            current_case = title
            print(f"case {title}")
            try:
                fn()
            except CaseAbort:
                pass
            except Exception:
                failed += 1
                failures.append(f"[{title}] raised:\n{traceback.format_exc()}")
                print(traceback.format_exc())
            finally:
                for eng in live_procs:
                    eng.kill()
                live_procs.clear()
    finally:
        for eng in live_procs:
            eng.kill()
        for d in temp_dirs:
            shutil.rmtree(d, ignore_errors=True)
    print(f"\n({time.monotonic() - t0:.1f} s)")
    if failures:
        print("failures:")
        for f in failures:
            print("  " + f.replace("\n", "\n  "))
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""The harness the integration tests share (standard library only).

A test script imports it by path (it lives beside them), lists its cases
and hands them to main():

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from oatest import build, check, require, Env, Engine, ...
    ...
    if __name__ == "__main__":
        sys.exit(main(CASES, __doc__, tmp_prefix="oa-it-"))

Each assertion is one check(); require() is a check that ends the case when
it fails. main() runs the cases in order, kills every engine a case left
running and removes every temporary directory, prints "N passed, M failed"
last and returns 0 only when M is 0. Every engine runs on loopback ports
picked free for its Env, on a data directory of its own.
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


class Build:
    """Where the build outputs are; main() fills it in from --build."""

    def __init__(self):
        self.dir = None
        self.openace = None
        self.plugins = None
        self.test_plugins = None

    def set(self, path):
        self.dir = os.path.abspath(path)
        self.openace = os.path.join(self.dir, "bin", "openace")
        self.plugins = os.path.join(self.dir, "tests", "echo-plugins")
        self.test_plugins = os.path.join(self.dir, "tests", "plugins")


build = Build()

passed = 0
failed = 0
failures = []
current_case = "?"
live_procs = []  # every engine started, killed after each case
temp_dirs = []  # removed when main() ends
SKIP = 77  # main_media's exit status: CTest's SKIP_RETURN_CODE (a tool is missing)
_tmp_prefix = "oa-it-"


# ---- checks -----------------------------------------------------------------

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


# ---- ports, directories, offline commands -----------------------------------

def free_port(kind=socket.SOCK_STREAM):
    """A loopback port nothing listens on at the moment of the call."""
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def mkdtemp(prefix):
    """A new temporary directory, removed when main() ends."""
    d = tempfile.mkdtemp(prefix=prefix)
    temp_dirs.append(d)
    return d


class Env:
    """One case's data directory, ports and plugin directory."""

    def __init__(self, name, plugins=None):
        self.root = mkdtemp(f"{_tmp_prefix}{name}-")
        self.data = os.path.join(self.root, "data")
        self.plugins = plugins or build.plugins
        self.http_port = free_port()
        self.p2p_port = free_port()
        self.runs = 0

    def base_args(self):
        return ["--data", self.data, "--plugins", self.plugins,
                "--http", f"127.0.0.1:{self.http_port}",
                "--p2p-port", str(self.p2p_port)]

    def write(self, rel, text):
        """Writes text to rel under the case's root; returns the full path."""
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path


class Result:
    """One finished offline command."""

    def __init__(self, args, rc, out, err):
        self.args = args
        self.rc = rc
        self.out = out
        self.err = err

    def describe(self):
        return (f"command: {' '.join(self.args)}\nexit: {self.rc}\n"
                f"stdout: {self.out.strip()[:1500]}\nstderr: {self.err.strip()[:2500]}")


def run(args, cwd=None, stdin_text=None):
    """Runs openace with args to completion; returns a Result (rc None on
    a timeout). stdin_text, when given, is its standard input."""
    full = [build.openace] + list(args)
    try:
        p = subprocess.run(full, capture_output=True, text=True, timeout=CMD_TIMEOUT,
                           cwd=cwd or tempfile.gettempdir(), input=stdin_text,
                           stdin=subprocess.DEVNULL if stdin_text is None else None)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        return Result(full, None, out, err + f"\n(timed out after {CMD_TIMEOUT}s)")
    return Result(full, p.returncode, p.stdout, p.stderr)


def cmd(env, *args, stdin_text=None):
    """Runs an offline command against env's data and plugin directories."""
    return run(env.base_args() + list(args), cwd=env.root, stdin_text=stdin_text)


# ---- engines ----------------------------------------------------------------

class Engine:
    """An `openace` engine process with its stderr (JSON log lines) in a
    file. Started by the constructor, without waiting for anything."""

    def __init__(self, env, extra=()):
        env.runs += 1
        self.env = env
        self.port = env.http_port
        self.log_path = os.path.join(env.root, f"engine-{env.runs}.log")
        self.log_file = open(self.log_path, "wb")
        self.args = [build.openace] + env.base_args() + ["--log-json"] + list(extra)
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                     stderr=self.log_file, stdin=subprocess.DEVNULL,
                                     cwd=env.root)
        self.pid = self.proc.pid
        live_procs.append(self)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def lines(self):
        """The log as parsed JSON lines (lines that do not parse are skipped)."""
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


def host_msg(pattern):
    """A predicate for a host-tagged log line whose msg matches pattern."""
    rx = re.compile(pattern)
    return lambda l: l.get("tag") == "host" and rx.search(str(l.get("msg", ""))) is not None


def is_ready(l):
    """The line the host logs after starting every enabled plugin."""
    return host_msg(r"^openace \S+ \(SDK \d+\.\d+\) running: \d+ plugin\(s\)")(l)


def wait_for_log(engine, pred, timeout=STARTUP_TIMEOUT):
    """Polls the engine's log until a line matches pred; returns the line or
    None on timeout or if the engine exits first (after a last look)."""
    deadline = time.monotonic() + timeout
    while True:
        hits = engine.find(pred)
        if hits:
            return hits[0]
        if engine.proc.poll() is not None or time.monotonic() > deadline:
            hits = engine.find(pred)
            return hits[0] if hits else None
        time.sleep(0.05)


def wait_ready(engine, what="engine finished starting"):
    """Requires the engine's ready line (one check named what); returns it."""
    line = wait_for_log(engine, is_ready)
    require(line is not None, what, engine.tail())
    return line


def start_engine(env, what="engine finished starting", extra=()):
    """Starts an engine and requires it to finish starting."""
    eng = Engine(env, extra)
    wait_ready(eng, what)
    return eng


def stop(engine, sig=signal.SIGTERM, expect_rc=0):
    """Sends sig and waits for the exit; checks the exit status (one check)
    unless expect_rc is None. Returns the exit status (None on a timeout)."""
    alive = engine.proc.poll() is None
    if alive:
        engine.proc.send_signal(sig)
    try:
        rc = engine.proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        rc = None
    engine.kill()
    if expect_rc is not None:
        signame = signal.Signals(sig).name
        if not alive:
            check(False, f"engine still running when sent {signame}",
                  f"it had already exited with {rc}\n{engine.tail()}")
        else:
            check(rc == expect_rc, f"engine exits {expect_rc} after {signame} (got {rc})",
                  engine.tail())
    return rc


# ---- HTTP -------------------------------------------------------------------

class Resp:
    """One HTTP exchange: what was sent and what came back."""

    def __init__(self, method, path, sent_headers, sent_body, status=None, reason="",
                 headers=(), body=b"", error=None):
        self.method = method
        self.path = path
        self.sent_headers = dict(sent_headers or {})
        self.sent_body = sent_body
        self.status = status
        self.reason = reason
        self.headers = list(headers)
        self.body = body
        self.error = error
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def text(self):
        return self.body.decode("utf-8", "replace")

    def describe(self):
        sent = {k: (v if k.lower() not in ("cookie", "authorization") else v[:24] + "...")
                for k, v in self.sent_headers.items()}
        body = self.sent_body
        if isinstance(body, (bytes, bytearray)):
            body = (body[:200].decode("utf-8", "replace") +
                    (f"... ({len(body)} bytes)" if len(body) > 200 else ""))
        lines = [f"request: {self.method} {self.path} headers={sent} body={body!r}"]
        if self.error:
            lines.append(f"error: {self.error}")
        lines.append(f"status: {self.status} {self.reason}")
        lines.append("headers: " + "; ".join(f"{k}: {v}" for k, v in self.headers))
        lines.append("body: " + self.text()[:1500])
        return "\n".join(lines)


def http_request(port, method, path, body=None, headers=None):
    """One request on a new loopback connection. body: a dict or list is
    sent as JSON with Content-Type application/json; bytes or str as is."""
    headers = dict(headers or {})
    data = None
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        data = body.encode()
    elif body is not None:
        data = body
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        payload = r.read()
        return Resp(method, path, headers, data, r.status, r.reason, r.getheaders(), payload)
    except (OSError, http.client.HTTPException) as e:
        return Resp(method, path, headers, data, error=f"{type(e).__name__}: {e}")
    finally:
        conn.close()


class Client:
    """An API client carrying a session cookie (with its csrf token) or a
    bearer token, over http.client."""

    def __init__(self, port, cookie=None, csrf=None, bearer=None):
        self.port = port
        self.cookie = cookie
        self.csrf = csrf
        self.bearer = bearer

    def req(self, method, path, body=None, csrf=True, headers=None):
        """csrf: True sends the session's token on mutating methods, False
        sends none, a string sends that string."""
        h = {}
        if self.cookie is not None:
            h["Cookie"] = f"oa_session={self.cookie}"
        if self.bearer is not None:
            h["Authorization"] = f"Bearer {self.bearer}"
        if isinstance(csrf, str):
            h["X-CSRF-Token"] = csrf
        elif csrf and self.csrf and method not in ("GET", "HEAD", "OPTIONS"):
            h["X-CSRF-Token"] = self.csrf
        h.update(headers or {})
        return http_request(self.port, method, path, body, h)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.req("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.req("PUT", path, body, **kw)


class SseReader(threading.Thread):
    """Reads a text/event-stream response in a thread; messages land in
    .events as (event, data) pairs, comment lines are counted."""

    def __init__(self, port, path, headers, timeout=EVENT_TIMEOUT * 2):
        super().__init__(daemon=True)
        self.port = port
        self.path = path
        self.headers = headers
        self.timeout = timeout
        self.status = None
        self.ctype = None
        self.error = None
        self.events = []
        self.comments = 0
        self.opened = threading.Event()
        self.cond = threading.Condition()
        self.conn = None

    def run(self):
        try:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                   timeout=self.timeout)
            self.conn.request("GET", self.path, headers=self.headers)
            r = self.conn.getresponse()
            self.status = r.status
            self.ctype = r.getheader("Content-Type")
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
                elif line.startswith(":"):
                    self.comments += 1
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
        """Waits until some message satisfies pred; returns it or None."""
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


def sse_json(ev):
    """The data of an (event, data) pair parsed as JSON, or None."""
    try:
        return json.loads(ev[1])
    except ValueError:
        return None


# ---- the run ----------------------------------------------------------------

def main(cases, doc, tmp_prefix="oa-it-", need=()):
    """Parses --build and -k, checks the build outputs are there (openace,
    example-echo.so and each path in need, relative to the build
    directory), runs cases, a list of (title, function), and prints the
    summary. Returns the exit status: 0 only when no check failed."""
    global current_case, failed, _tmp_prefix
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--build", required=True, help="the CMake build directory")
    ap.add_argument("-k", dest="only", help="run only cases whose title contains this")
    opts = ap.parse_args()
    build.set(opts.build)
    _tmp_prefix = tmp_prefix
    wanted = [build.openace, os.path.join(build.plugins, "example-echo.so")]
    wanted += [os.path.join(build.dir, p) for p in need]
    missing = [p for p in wanted if not os.path.exists(p)]
    if missing:
        print("missing build outputs (build first): " + ", ".join(missing))
        print("0 passed, 1 failed")
        return 1

    t0 = time.monotonic()
    try:
        for title, fn in cases:
            if opts.only and opts.only not in title:
                continue
            current_case = title
            print(f"case {title}")
            try:
                fn()
            except CaseAbort:
                pass  # already counted
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


def main_media(cases, doc, runner=None, install="apt-get install ffmpeg", **kw):
    """Ends a script whose cases need ffmpeg and ffprobe (media.py): when
    one is missing, prints a SKIP line naming it and install (how to get
    it) and exits with SKIP; otherwise exits with the status of
    runner(cases, doc, **kw), runner being main (the default) or
    swarmtest.main."""
    import media  # beside this file
    missing = media.tools_missing()
    if missing:
        print(f"SKIP: {', '.join(missing)} not installed ({install})")
        sys.exit(SKIP)
    sys.exit((runner or main)(cases, doc, **kw))

#!/usr/bin/env python3
"""Integration test of the admin JSON API (docs/admin-api.md): the real
openace binary and example-echo plugin, a real HTTP client over loopback,
a real SQLite data directory per case.

Run by CTest as:  python3 tests/integration/test_admin_http.py --build <build dir>

Every case starts from a fresh temporary --data directory and free loopback
ports. Each assertion is one check; the last line printed is
"N passed, M failed" and the exit status is 0 only when M is 0.
"""
import http.cookiejar
import json
import os
import re
import signal
import socket
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oatest import (EVENT_TIMEOUT, HTTP_TIMEOUT, Client, Env, Resp,  # noqa: E402
                    SseReader, check, cmd, host_msg, http_request, main, require,
                    sse_json, start_engine, stop, wait_for_log)

ECHO = "example-echo"
SESSION_IDLE_S = 12 * 3600  # docs/admin-api.md: sessions end after 12 h idle
BODY_LIMIT = 1024 * 1024  # docs/admin-api.md: 413 above 1 MiB


def set_password(env, user, password):
    """`printf 'pw\\n' | openace --data D passwd USER`; checks it succeeds."""
    r = cmd(env, "passwd", user, stdin_text=password + "\n")
    require(r.rc == 0, f"`passwd {user}` with the password on standard input exits 0",
            r.describe())
    return r


ADMIN_PW_RX = re.compile(r"created user 'admin' with password (\S+) \(shown only this once")


def first_password(eng):
    """The admin password the engine logged at its first start."""
    line = wait_for_log(eng, host_msg(ADMIN_PW_RX.pattern), timeout=2.0)
    require(line is not None, "the first start logs \"created user 'admin' with password ...\"",
            eng.tail())
    return ADMIN_PW_RX.search(line["msg"]).group(1)


# ---- HTTP -------------------------------------------------------------------

def raw_request(port, method, path, headers, body):
    """Sends a request over a plain socket, tolerating the server answering
    and closing before the whole body is sent (as it may for a body over the
    limit); returns the parsed Resp."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    buf = b""
    err = None
    s = socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT)
    try:
        try:
            s.sendall(head.encode())
            view = memoryview(body)
            for off in range(0, len(body), 65536):
                s.sendall(view[off:off + 65536])
        except OSError as e:
            err = f"while sending: {type(e).__name__}: {e}"
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
                if _complete(buf):
                    break
        except OSError as e:
            err = (err + "; " if err else "") + f"while reading: {type(e).__name__}: {e}"
    finally:
        s.close()
    hdrs = dict(headers)
    if b"\r\n\r\n" not in buf:
        return Resp(method, path, hdrs, body, error=err or "no response")
    top, _, rest = buf.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/\d\.\d (\d{3}) ?(.*)", lines[0])
    parsed = []
    for l in lines[1:]:
        k, _, v = l.partition(":")
        parsed.append((k.strip(), v.strip()))
    r = Resp(method, path, hdrs, body, int(m.group(1)) if m else None,
             m.group(2) if m else "", parsed, _dechunk(parsed, rest), err)
    return r


def _complete(buf):
    if b"\r\n\r\n" not in buf:
        return False
    top, _, rest = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", top)
    if m:
        return len(rest) >= int(m.group(1))
    return rest.endswith(b"0\r\n\r\n")


def _dechunk(headers, rest):
    if not any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers):
        return rest
    out = b""
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        try:
            n = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if n == 0:
            break
        out += rest[:n]
        rest = rest[n + 2:]
    return out


def parse_set_cookie(value):
    """'n=v; HttpOnly; Max-Age=0' -> ('n', 'v', {'httponly': '', 'max-age': '0'})."""
    parts = [p.strip() for p in value.split(";")]
    name, _, val = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip()
    return name.strip(), val.strip(), attrs


def session_cookie(resp):
    """The oa_session Set-Cookie of resp as (value, attrs), or (None, {})."""
    for v in resp.header_all("Set-Cookie"):
        name, val, attrs = parse_set_cookie(v)
        if name == "oa_session":
            return val, attrs
    return None, {}


def login_req(port, user, password):
    return http_request(port, "POST", "/api/login", {"user": user, "password": password})


def login(port, password, user="admin"):
    """Logs in; requires success; returns a Client with cookie and csrf."""
    r = login_req(port, user, password)
    cookie, _ = session_cookie(r)
    require(r.status == 200 and cookie and isinstance(r.json, dict) and
            isinstance(r.json.get("csrf"), str),
            f"POST /api/login as {user} answers 200 with a cookie and a csrf token",
            r.describe())
    return Client(port, cookie=cookie, csrf=r.json["csrf"])


def check_error(r, status, code, what):
    """Checks status, the JSON error shape and (if code is not None) the
    error code; code may be a tuple of acceptable codes."""
    j = r.json
    err = j.get("error") if isinstance(j, dict) else None
    codes = code if isinstance(code, tuple) else (code,)
    ok = (r.status == status and isinstance(j, dict) and list(j.keys())[:1] == ["error"] and
          isinstance(err, dict) and (code is None or err.get("code") in codes) and
          isinstance(err.get("message"), str) and err.get("message") != "" and
          (r.header("Content-Type") or "").startswith("application/json"))
    label = f"{status} " + ("/".join(codes) if code is not None else "error")
    return check(ok, f"{what} -> {label} with the JSON error shape", r.describe())


def plugin_state(client):
    """GET /api/plugins/example-echo -> (state, enabled, Resp)."""
    r = client.get(f"/api/plugins/{ECHO}")
    j = r.json if isinstance(r.json, dict) else {}
    return j.get("state"), j.get("enabled"), r


def config_values(client):
    """GET /api/plugins/example-echo/config -> ({key: value}, Resp)."""
    r = client.get(f"/api/plugins/{ECHO}/config")
    vals = {}
    if isinstance(r.json, dict):
        for s in r.json.get("settings") or []:
            if isinstance(s, dict):
                vals[s.get("key")] = s.get("value")
    return vals, r


def wait_state(client, want, timeout=5.0):
    """Polls GET /api/plugins/example-echo until its state is want."""
    deadline = time.monotonic() + timeout
    while True:
        state, enabled, r = plugin_state(client)
        if state == want or time.monotonic() > deadline:
            return state, enabled, r
        time.sleep(0.05)


# ---- cases ------------------------------------------------------------------

def case_login():
    env = Env("login")
    eng = start_engine(env)
    try:
        pw = first_password(eng)
        lines = eng.find(host_msg(ADMIN_PW_RX.pattern))
        check(lines and lines[0].get("level") == "warn", "the first password is logged at warn",
              json.dumps(lines[:1]))
        port = eng.port
        base = f"http://127.0.0.1:{port}"

        # A standard client with a cookie jar: urllib + http.cookiejar.
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        req = urllib.request.Request(base + "/api/login", method="POST",
                                     data=json.dumps({"user": "admin", "password": pw}).encode(),
                                     headers={"Content-Type": "application/json"})
        t_login = time.time()
        try:
            with opener.open(req, timeout=HTTP_TIMEOUT) as resp:
                status, hdrs, body = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, hdrs, body = e.code, e.headers, e.read()
        detail = f"POST /api/login -> {status}\n{hdrs}\n{body[:500]!r}"
        require(status == 200, "POST /api/login with the logged password -> 200", detail)
        check((hdrs.get("Content-Type") or "").startswith("application/json"),
              "login answers Content-Type application/json", detail)
        try:
            j = json.loads(body)
        except ValueError:
            j = None
        check(isinstance(j, dict) and j.get("user") == "admin", "login body: user admin", detail)
        csrf = j.get("csrf") if isinstance(j, dict) else None
        check(isinstance(csrf, str) and len(csrf) >= 16, "login body: a csrf token", detail)
        exp = j.get("expires") if isinstance(j, dict) else None
        check(isinstance(exp, int) and
              t_login + SESSION_IDLE_S - 60 <= exp <= time.time() + SESSION_IDLE_S + 60,
              "login body: expires is a unix time 12 h from now", detail)
        cookies = [v for v in hdrs.get_all("Set-Cookie") or [] if v.startswith("oa_session=")]
        require(len(cookies) == 1, "login sets exactly one oa_session cookie", detail)
        name, val, attrs = parse_set_cookie(cookies[0])
        check(len(val) >= 16, "the session cookie carries an id", cookies[0])
        check("httponly" in attrs, "the session cookie is HttpOnly", cookies[0])
        check(attrs.get("samesite", "").lower() == "strict", "the session cookie is "
              "SameSite=Strict", cookies[0])
        check(attrs.get("path") == "/", "the session cookie has Path=/", cookies[0])
        check(attrs.get("max-age") == "604800", "the session cookie has Max-Age=604800",
              cookies[0])
        check(any(c.name == "oa_session" for c in jar), "a standard cookie jar keeps oa_session",
              str(list(jar)))

        try:
            with opener.open(base + "/api/session", timeout=HTTP_TIMEOUT) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        try:
            s = json.loads(body)
        except ValueError:
            s = None
        detail = f"GET /api/session -> {status} {body[:500]!r}"
        check(status == 200, "GET /api/session with the jar's cookie -> 200", detail)
        check(isinstance(s, dict) and s.get("user") == "admin" and s.get("csrf") == csrf and
              isinstance(s.get("expires"), int),
              "GET /api/session: user admin, the login's csrf, expires", detail)

        c = Client(port, cookie=val, csrf=csrf)
        r = c.get("/api/plugins")
        check(r.status == 200, "GET /api/plugins with the cookie -> 200", r.describe())
        r = c.get("/metrics")
        check(r.status == 200 and "openace_uptime_seconds" in r.text(),
              "GET /metrics with the cookie -> 200 with openace_uptime_seconds", r.describe())

        r = login_req(port, "admin", pw + "x")
        check_error(r, 401, "unauthorized", "login with a wrong password")
        check(session_cookie(r)[0] is None, "a failed login sets no session cookie",
              r.describe())
        wrong_msg = (r.json or {}).get("error", {}).get("message") if r.json else None
        r = login_req(port, "nosuchuser", pw)
        check_error(r, 401, "unauthorized", "login as an unknown user")
        um = (r.json or {}).get("error", {}).get("message") if r.json else None
        check(um is not None and um == wrong_msg,
              "unknown user and wrong password give the same message",
              f"{wrong_msg!r} vs {um!r}")

        r = http_request(port, "POST", "/api/login",
                         f"user=admin&password={pw}",
                         {"Content-Type": "application/x-www-form-urlencoded"})
        check_error(r, 400, "bad_request", "login posted as an HTML form")
        check(session_cookie(r)[0] is None, "the form login sets no cookie", r.describe())
        r = http_request(port, "POST", "/api/login", {"user": "admin"})
        check_error(r, 400, "bad_request", "login JSON without a password")

        r = http_request(port, "GET", "/api/plugins")
        check_error(r, 401, "unauthorized", "GET /api/plugins without a cookie")
        r = http_request(port, "GET", "/api/session")
        check_error(r, 401, "unauthorized", "GET /api/session without a cookie")
        r = http_request(port, "GET", "/api/plugins",
                         headers={"Cookie": "oa_session=" + "A" * 43})
        check_error(r, 401, "unauthorized", "GET /api/plugins with a made-up session id")
        r = http_request(port, "GET", "/metrics")
        check_error(r, 401, "unauthorized", "GET /metrics without a login")
        check("openace_" not in r.text(), "/metrics without a login shows no series",
              r.describe())
    finally:
        stop(eng)


def case_plugins():
    env = Env("plugins")
    eng = start_engine(env)
    try:
        c = login(eng.port, first_password(eng))
        r = c.get("/api/plugins")
        lst = r.json.get("plugins") if isinstance(r.json, dict) else None
        require(r.status == 200 and isinstance(lst, list), "GET /api/plugins -> 200 "
                "{\"plugins\": [...]}", r.describe())
        e = next((p for p in lst if isinstance(p, dict) and p.get("name") == ECHO), None)
        require(e is not None, "the list has example-echo", r.describe())
        keys = ["name", "file", "state", "enabled", "reason", "version", "kind", "summary",
                "license", "sdk", "requires", "provides", "health", "crash_count",
                "has_commands"]
        missing = [k for k in keys if k not in e]
        check(not missing, "the plugin object has every documented field",
              f"missing {missing}\n{json.dumps(e)}")
        check(e.get("state") == "running" and e.get("enabled") is True and
              e.get("version") == "1.0.0" and e.get("kind") == "engine" and
              e.get("license") == "MIT" and e.get("provides") == ["echo"] and
              e.get("has_commands") is True and
              str(e.get("file", "")).endswith("/example-echo.so") and
              e.get("health") in ("ok", None),
              "example-echo: running, enabled, 1.0.0, engine, MIT, provides echo, commands",
              json.dumps(e))

        path = f"/api/plugins/{ECHO}/disable"
        r = c.post(path, csrf=False)
        check_error(r, 403, "csrf", "POST disable with the cookie but no X-CSRF-Token")
        state, enabled, g = plugin_state(c)
        check(state == "running" and enabled is True,
              "after the refused POST example-echo is still running and enabled", g.describe())
        r = c.post(path, csrf="not-the-token")
        check_error(r, 403, "csrf", "POST disable with a wrong X-CSRF-Token")
        state, enabled, g = plugin_state(c)
        check(state == "running" and enabled is True,
              "after the wrong token example-echo is still running and enabled", g.describe())

        r = c.post(path)
        p = r.json.get("plugin") if isinstance(r.json, dict) else None
        check(r.status == 200 and r.json.get("ok") is True and
              isinstance(r.json.get("message"), str) and isinstance(p, dict) and
              p.get("name") == ECHO and p.get("state") == "disabled" and
              p.get("enabled") is False,
              "POST disable with the token -> 200 ok, plugin state disabled", r.describe())
        state, enabled, g = plugin_state(c)
        check(g.status == 200 and state == "disabled" and enabled is False,
              "GET /api/plugins/example-echo: state disabled, enabled false", g.describe())
        r = c.get("/api/status")
        pl = r.json.get("plugins") if isinstance(r.json, dict) else None
        check(r.status == 200 and isinstance(pl, dict) and pl.get("disabled") == 1 and
              pl.get("running") == 0, "GET /api/status counts 1 disabled, 0 running",
              r.describe())

        r = c.post(f"/api/plugins/{ECHO}/enable")
        p = r.json.get("plugin") if isinstance(r.json, dict) else None
        check(r.status == 200 and r.json.get("ok") is True and isinstance(p, dict) and
              p.get("state") == "running" and p.get("enabled") is True,
              "POST enable -> 200 ok, plugin running and enabled", r.describe())
        state, enabled, g = plugin_state(c)
        check(state == "running" and enabled is True,
              "GET /api/plugins/example-echo: running again", g.describe())

        r = c.post(f"/api/plugins/{ECHO}/restart")
        p = r.json.get("plugin") if isinstance(r.json, dict) else None
        check(r.status == 200 and r.json.get("ok") is True and isinstance(p, dict) and
              p.get("state") == "running",
              "POST restart -> 200 ok, plugin running", r.describe())
    finally:
        stop(eng)


def case_settings():
    env = Env("settings")
    eng = start_engine(env)
    try:
        c = login(eng.port, first_password(eng))
        cfg_path = f"/api/plugins/{ECHO}/config"
        r = c.get(cfg_path)
        settings = r.json.get("settings") if isinstance(r.json, dict) else None
        require(r.status == 200 and r.json.get("plugin") == ECHO and isinstance(settings, list),
                "GET config -> 200 {\"plugin\": \"example-echo\", \"settings\": [...]}",
                r.describe())
        by = {s.get("key"): s for s in settings if isinstance(s, dict)}
        check([s.get("key") for s in settings if isinstance(s, dict)] ==
              ["greeting", "interval_ms", "fail_start"],
              "settings: greeting, interval_ms, fail_start in schema order", r.describe())
        iv = by.get("interval_ms", {})
        check(iv.get("type") == "int" and iv.get("value") == "0" and
              iv.get("default") == "0" and iv.get("min") == 0 and iv.get("max") == 3600000 and
              iv.get("live") is True and iv.get("secret") is False and
              isinstance(iv.get("help"), str) and iv.get("help"),
              "interval_ms: int, value \"0\", default \"0\", min 0, max 3600000, live, "
              "not secret, help", json.dumps(iv))
        gr = by.get("greeting", {})
        check(gr.get("type") == "string" and gr.get("value") == "hello" and
              gr.get("default") == "hello" and gr.get("live") is False,
              "greeting: string, value and default \"hello\", not live", json.dumps(gr))
        fs = by.get("fail_start", {})
        check(fs.get("type") == "bool" and fs.get("value") == "false" and
              "min" not in fs and "max" not in fs and "choices" not in fs,
              "fail_start: bool, \"false\", no range or choices", json.dumps(fs))

        r = c.put(cfg_path, {"values": {"interval_ms": "abc"}})
        check_error(r, 400, "invalid_value", "PUT interval_ms \"abc\"")
        fields = r.json.get("error", {}).get("fields") if isinstance(r.json, dict) else None
        check(isinstance(fields, dict) and isinstance(fields.get("interval_ms"), str) and
              "interval_ms" in fields["interval_ms"],
              "the error has fields.interval_ms with a sentence naming it", r.describe())
        r = c.put(cfg_path, {"values": {"greeting": "stored-by-mistake", "interval_ms": "abc"}})
        check_error(r, 400, "invalid_value", "PUT a good greeting with a bad interval_ms")
        fields = r.json.get("error", {}).get("fields") if isinstance(r.json, dict) else None
        check(isinstance(fields, dict) and "interval_ms" in fields and "greeting" not in fields,
              "fields names only the bad key", r.describe())
        vals, g = config_values(c)
        check(vals.get("greeting") == "hello" and vals.get("interval_ms") == "0",
              "after the refused PUTs nothing is stored (GET config: hello, 0)", g.describe())
        o = cmd(env, "config", "get", ECHO, "greeting")
        check(o.rc == 0 and o.out.strip() == "hello",
              "the database still has greeting hello (offline config get)", o.describe())
        r = c.put(cfg_path, {"values": {"nosuchkey": "1"}})
        check_error(r, 400, ("invalid_value", "bad_request"), "PUT an unknown key")
        r = c.put(cfg_path, {"values": {"greeting": "no-csrf"}}, csrf=False)
        check_error(r, 403, "csrf", "PUT config without X-CSRF-Token")

        r = c.put(cfg_path, {"values": {"interval_ms": 250, "greeting": "hi"}})
        rs = {s.get("key"): s.get("value") for s in (r.json or {}).get("settings", [])
              if isinstance(s, dict)} if isinstance(r.json, dict) else {}
        check(r.status == 200 and r.json.get("ok") is True and
              rs.get("interval_ms") == "250" and rs.get("greeting") == "hi",
              "PUT interval_ms 250 (a number), greeting hi -> 200 ok with the new settings",
              r.describe())
        vals, g = config_values(c)
        check(vals.get("interval_ms") == "250" and vals.get("greeting") == "hi",
              "GET config shows interval_ms \"250\", greeting \"hi\"", g.describe())
        state, _, g = wait_state(c, "running")
        check(state == "running", "example-echo is running after the settings change",
              g.describe())

        cmd_path = f"/api/plugins/{ECHO}/commands/echo"
        r = c.post(cmd_path, {"text": "x"})
        res = r.json.get("result") if isinstance(r.json, dict) else None
        check(r.status == 200 and isinstance(res, dict) and res.get("echo") == "hi x",
              "command echo {\"text\": \"x\"} -> result.echo \"hi x\"", r.describe())
        r = c.post(cmd_path, {"text": "y"}, csrf=False)
        check_error(r, 403, "csrf", "a command without X-CSRF-Token")
        r = c.post(cmd_path, {"nottext": 1})
        check_error(r, 400, None, "command echo without text")
        msg = (r.json or {}).get("error", {}).get("message", "") if r.json else ""
        check("echo needs" in msg, "the 400 carries the plugin's own sentence", r.describe())
        r = c.post(f"/api/plugins/{ECHO}/commands/nosuchcommand", {})
        check_error(r, 404, "not_found", "an unknown command")
        r = c.post("/api/plugins/no-such-plugin/commands/echo", {"text": "x"})
        check_error(r, 404, "not_found", "a command to an unknown plugin")
        r = c.post(f"/api/plugins/{ECHO}/disable")
        check(r.status == 200, "disable example-echo for the next check", r.describe())
        r = c.post(cmd_path, {"text": "x"})
        check_error(r, 409, "conflict", "a command to a disabled plugin")
    finally:
        stop(eng)


def case_persistence():
    env = Env("persist")
    pw = "persist-pw-1234"
    set_password(env, "admin", pw)
    eng = start_engine(env)
    try:
        check(not eng.find(host_msg(ADMIN_PW_RX.pattern)),
              "with admin set by `passwd`, the engine creates no user and logs no password",
              eng.tail())
        c = login(eng.port, pw)
        r = c.post(f"/api/plugins/{ECHO}/disable")
        check(r.status == 200, "POST disable -> 200", r.describe())
        r = c.put(f"/api/plugins/{ECHO}/config", {"values": {"greeting": "hi"}})
        check(r.status == 200, "PUT greeting hi -> 200", r.describe())
    finally:
        stop(eng)

    eng = start_engine(env, "the engine starts again on the same data directory")
    try:
        c = login(eng.port, pw)
        state, enabled, g = plugin_state(c)
        check(state == "disabled" and enabled is False,
              "after a restart example-echo is still disabled", g.describe())
        vals, g = config_values(c)
        check(vals.get("greeting") == "hi", "after a restart GET config shows greeting hi",
              g.describe())
        check(bool(eng.find(host_msg(r"^plugin example-echo: disabled$"))),
              "the restarted engine logs example-echo disabled", eng.tail())
        r = c.post(f"/api/plugins/{ECHO}/enable")
        check(r.status == 200, "POST enable -> 200", r.describe())
        r = c.put(f"/api/plugins/{ECHO}/config",
                  {"values": {"greeting": "bonjour", "interval_ms": 750}})
        check(r.status == 200, "PUT greeting bonjour, interval_ms 750 -> 200", r.describe())
        stop(eng, signal.SIGKILL, expect_rc=-signal.SIGKILL)
    finally:
        eng.kill()

    o = cmd(env, "config", "get", ECHO, "greeting")
    check(o.rc == 0 and o.out.strip() == "bonjour",
          "after SIGKILL the stored greeting is bonjour (offline config get)", o.describe())
    eng = start_engine(env, "the engine starts after the SIGKILL")
    try:
        c = login(eng.port, pw)
        vals, g = config_values(c)
        check(vals.get("greeting") == "bonjour" and vals.get("interval_ms") == "750",
              "after SIGKILL and a restart GET config shows bonjour and 750", g.describe())
        state, enabled, g = plugin_state(c)
        check(state == "running" and enabled is True,
              "the enable made before the SIGKILL survived (running)", g.describe())
        r = c.post(f"/api/plugins/{ECHO}/commands/echo", {"text": "x"})
        res = r.json.get("result") if isinstance(r.json, dict) else None
        check(isinstance(res, dict) and res.get("echo") == "bonjour x",
              "the plugin uses the surviving greeting (echo -> \"bonjour x\")", r.describe())
    finally:
        stop(eng)


def case_token():
    env = Env("token")
    eng = start_engine(env)
    try:
        pw = first_password(eng)
        o = cmd(env, "token", "create", "admin", "ci")
        require(o.rc == 0, "`token create admin ci` beside the engine exits 0", o.describe())
        out_lines = [l for l in o.out.splitlines() if l.strip()]
        require(len(out_lines) == 1 and re.fullmatch(r"\S{16,}", out_lines[0].strip()),
                "it prints the token alone on one line", o.describe())
        token = out_lines[0].strip()
        t = Client(eng.port, bearer=token)

        r = t.get("/api/session")
        check(r.status == 200 and r.json == {"user": "admin", "csrf": None, "expires": None},
              "GET /api/session with the token -> {user admin, csrf null, expires null}",
              r.describe())
        r = t.post(f"/api/plugins/{ECHO}/disable")
        p = r.json.get("plugin") if isinstance(r.json, dict) else None
        check(r.status == 200 and isinstance(p, dict) and p.get("state") == "disabled",
              "POST disable with the token and no X-CSRF-Token -> 200 disabled", r.describe())
        r = t.post(f"/api/plugins/{ECHO}/enable")
        check(r.status == 200, "POST enable with the token -> 200", r.describe())
        r = t.put(f"/api/plugins/{ECHO}/config", {"values": {"interval_ms": 100}})
        check(r.status == 200, "PUT config with the token and no X-CSRF-Token -> 200",
              r.describe())
        r = t.get("/metrics")
        check(r.status == 200 and (r.header("Content-Type") or "").startswith("text/plain") and
              re.search(r'^openace_plugin_up\{plugin="example-echo"\} 1\b', r.text(), re.M),
              "GET /metrics with the token -> 200 text with openace_plugin_up example-echo 1",
              r.describe())

        bad = Client(eng.port, bearer=token[:-4] + ("AAAA" if not token.endswith("AAAA")
                                                   else "BBBB"))
        r = bad.get("/api/plugins")
        check_error(r, 401, "unauthorized", "GET /api/plugins with a bad token")
        r = bad.post(f"/api/plugins/{ECHO}/disable")
        check_error(r, 401, "unauthorized", "POST disable with a bad token")
        state, _, g = plugin_state(t)
        check(state == "running", "the bad token changed nothing", g.describe())

        c = login(eng.port, pw)
        r = http_request(eng.port, "GET", "/api/plugins",
                         headers={"Cookie": f"oa_session={c.cookie}",
                                  "Authorization": "Bearer not-a-real-token"})
        check_error(r, 401, "unauthorized", "a bad token beside a good cookie (the header "
                    "alone decides)")
        r = t.post("/api/logout")
        check_error(r, 400, "bad_request", "POST /api/logout with a token")
        r = t.get("/api/session")
        check(r.status == 200, "the token still works after the refused logout", r.describe())

        o = cmd(env, "token", "list")
        check(o.rc == 0 and re.search(r"^ci\s+admin\b", o.out, re.M) and token not in o.out,
              "`token list` shows ci for admin, not the token itself", o.describe())

        o = cmd(env, "passwd", "admin", stdin_text="a-new-password-42\n")
        check(o.rc == 0, "`passwd admin` beside the engine exits 0", o.describe())
        r = c.get("/api/session")
        check_error(r, 401, "unauthorized", "the old session after the password change")
        r = t.get("/api/session")
        check(r.status == 200, "the token survives the password change", r.describe())

        o = cmd(env, "token", "revoke", "ci")
        check(o.rc == 0, "`token revoke ci` beside the engine exits 0", o.describe())
        r = t.get("/api/session")
        check_error(r, 401, "unauthorized", "the revoked token, without a restart")
        r = t.post(f"/api/plugins/{ECHO}/disable")
        check_error(r, 401, "unauthorized", "POST disable with the revoked token")

        c = login(eng.port, "a-new-password-42")
        r = c.get("/api/audit")
        ents = r.json.get("entries") if isinstance(r.json, dict) else None
        acts = [e.get("action") for e in ents or []]
        check(isinstance(ents, list) and "token.create" in acts and "token.revoke" in acts and
              "user.password" in acts,
              "the audit has token.create, token.revoke and user.password", r.describe())
        off = [e for e in ents or [] if e.get("action") in ("token.create", "token.revoke")]
        check(off and all(e.get("who") is None and e.get("client") is None for e in off),
              "offline token entries have who and client null", json.dumps(off))
    finally:
        stop(eng)


def case_throttle():
    env = Env("throttle")
    eng = start_engine(env)
    try:
        pw = first_password(eng)
        statuses = []
        for i in range(5):
            r = login_req(eng.port, "admin", f"wrong-password-{i}")
            statuses.append(r.status)
        check(statuses == [401] * 5, f"5 wrong passwords -> 401 each (got {statuses})")
        r = login_req(eng.port, "admin", pw)
        check_error(r, 429, "throttled", "the 6th attempt, with the right password")
        check(session_cookie(r)[0] is None, "the throttled login sets no cookie", r.describe())
        ra = r.header("Retry-After")
        check(ra is not None and ra.isdigit() and 1 <= int(ra) <= 30,
              f"429 has Retry-After in seconds, at most the first 30 s lock-out (got {ra!r})",
              r.describe())
        r = login_req(eng.port, "admin", "wrong-again")
        check_error(r, 429, "throttled", "a 7th attempt during the lock-out")
        check(eng.proc.poll() is None, "the engine keeps running", eng.tail())
    finally:
        stop(eng)


def case_events():
    env = Env("events")
    eng = start_engine(env)
    reader = None
    try:
        c = login(eng.port, first_password(eng))
        r = http_request(eng.port, "GET", "/api/events?topics=plugin.*")
        check_error(r, 401, "unauthorized", "GET /api/events without a cookie")
        # Ticks every 40 ms publish echo.tick, which a plugin.* stream must not carry.
        r = c.put(f"/api/plugins/{ECHO}/config", {"values": {"interval_ms": 40}})
        check(r.status == 200, "PUT interval_ms 40 -> 200", r.describe())

        reader = SseReader(eng.port, "/api/events?topics=plugin.*",
                           {"Cookie": f"oa_session={c.cookie}", "Accept": "text/event-stream"})
        reader.start()
        check(reader.opened.wait(EVENT_TIMEOUT) and reader.status == 200,
              f"GET /api/events?topics=plugin.* with the cookie -> 200 (got {reader.status})",
              reader.error or "")
        check((reader.ctype or "").startswith("text/event-stream"),
              f"the stream is text/event-stream (got {reader.ctype!r})")
        time.sleep(0.3)  # the stream is subscribed; ticks go by
        r = c.post(f"/api/plugins/{ECHO}/disable")
        check(r.status == 200, "POST disable -> 200", r.describe())
        ev = reader.wait_for(lambda e: e[0] == "plugin.state" and
                             (sse_json(e) or {}).get("name") == ECHO and
                             (sse_json(e) or {}).get("state") == "disabled")
        check(ev is not None, "an 'event: plugin.state' message with example-echo disabled "
              "arrives", f"error: {reader.error}\nevents: {reader.events[:20]}")
        other = [e for e in reader.events if not e[0].startswith("plugin.")]
        check(not other, "the plugin.* stream carries no other topics (no echo.tick)",
              str(other[:5]))
        check(eng.proc.poll() is None, "the engine keeps running with the stream open",
              eng.tail())
    finally:
        if reader is not None:
            reader.close()
        stop(eng)


def case_audit():
    env = Env("audit")
    eng = start_engine(env)
    try:
        pw = first_password(eng)
        r = login_req(eng.port, "admin", "not-the-password")
        check(r.status == 401, "a failed login first", r.describe())
        c = login(eng.port, pw)
        check(c.post(f"/api/plugins/{ECHO}/disable").status == 200, "POST disable -> 200")
        check(c.post(f"/api/plugins/{ECHO}/enable").status == 200, "POST enable -> 200")
        r = c.put(f"/api/plugins/{ECHO}/config", {"values": {"greeting": "hi"}})
        check(r.status == 200, "PUT greeting hi -> 200", r.describe())

        r = http_request(eng.port, "GET", "/api/audit")
        check_error(r, 401, "unauthorized", "GET /api/audit without a cookie")
        r = c.get("/api/audit")
        ents = r.json.get("entries") if isinstance(r.json, dict) else None
        require(r.status == 200 and isinstance(ents, list) and ents,
                "GET /api/audit -> 200 {\"entries\": [...]}", r.describe())
        ids = [e.get("id") for e in ents]
        check(all(isinstance(i, int) for i in ids) and
              all(a > b for a, b in zip(ids, ids[1:])),
              "entries are newest first (ids decreasing)", str(ids))
        acts = [e.get("action") for e in ents]
        want = ["plugin.config", "plugin.enable", "plugin.disable", "login"]
        pos = [acts.index(a) if a in acts else None for a in want]
        check(None not in pos and pos == sorted(pos),
              "plugin.config, plugin.enable, plugin.disable, login appear newest first",
              str(acts))
        fail_pos = [i for i, a in enumerate(acts) if a and a.startswith("login") and "fail" in a]
        check(fail_pos and pos[3] is not None and fail_pos[0] > pos[3],
              "the failed login is recorded, older than the login", str(acts))
        for a in ("login", "plugin.disable", "plugin.config"):
            e = next((x for x in ents if x.get("action") == a), None)
            check(e is not None and e.get("who") == "admin" and e.get("client") == "127.0.0.1" and
                  re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", str(e.get("time"))),
                  f"{a}: who admin, client 127.0.0.1 (no port), an ISO time", json.dumps(e))
        e = next((x for x in ents if x.get("action") == "plugin.disable"), {})
        check(e.get("detail") == ECHO, "plugin.disable's detail is example-echo", json.dumps(e))

        r = c.get("/api/audit?limit=2")
        two = r.json.get("entries") if isinstance(r.json, dict) else None
        check(isinstance(two, list) and [x.get("id") for x in two] == ids[:2],
              "?limit=2 gives the newest two", r.describe())
        if len(ids) >= 3:
            r = c.get(f"/api/audit?before={ids[1]}")
            rest = r.json.get("entries") if isinstance(r.json, dict) else None
            check(isinstance(rest, list) and [x.get("id") for x in rest] == ids[2:],
                  f"?before={ids[1]} pages on to the older entries", r.describe())
    finally:
        stop(eng)


def case_bad_input():
    env = Env("badinput")
    eng = start_engine(env)
    try:
        c = login(eng.port, first_password(eng))
        cfg_path = f"/api/plugins/{ECHO}/config"
        r = c.put(cfg_path, '{"values": {"greeting": "x"', headers={
            "Content-Type": "application/json"})
        check_error(r, 400, "bad_json", "PUT config with malformed JSON")
        r = http_request(eng.port, "POST", "/api/login", '{"user": "admin", ',
                         {"Content-Type": "application/json"})
        check_error(r, 400, "bad_json", "POST /api/login with malformed JSON")
        r = c.post(f"/api/plugins/{ECHO}/commands/echo", "{not json}",
                   headers={"Content-Type": "application/json"})
        check_error(r, 400, "bad_json", "a command with malformed JSON")
        r = c.put(cfg_path, {"values": 5})
        check_error(r, 400, ("bad_request", "invalid_value"), "PUT config {\"values\": 5}")

        big = json.dumps({"values": {"greeting": "y" * (BODY_LIMIT + 16)}}).encode()
        r = raw_request(eng.port, "PUT", cfg_path,
                        {"Cookie": f"oa_session={c.cookie}", "X-CSRF-Token": c.csrf,
                         "Content-Type": "application/json"}, big)
        check_error(r, 413, "too_large", f"PUT config with a {len(big)}-byte body")
        vals, g = config_values(c)
        check(vals.get("greeting") == "hello", "the oversized PUT stored nothing", g.describe())

        r = c.get("/api/plugins/no-such-plugin")
        check_error(r, 404, "not_found", "GET an unknown plugin")
        r = c.post("/api/plugins/no-such-plugin/disable")
        check_error(r, 404, "not_found", "POST disable on an unknown plugin")
        r = c.get("/api/plugins/no-such-plugin/config")
        check_error(r, 404, "not_found", "GET config of an unknown plugin")
        r = c.get("/api/no-such-route")
        check_error(r, 404, "not_found", "GET an unknown /api/ route")

        r = c.req("DELETE", f"/api/plugins/{ECHO}")
        check_error(r, 405, "method_not_allowed", "DELETE /api/plugins/example-echo")
        r = c.get(f"/api/plugins/{ECHO}/disable")
        check_error(r, 405, "method_not_allowed", "GET /api/plugins/example-echo/disable")
        r = c.post("/api/plugins")
        check_error(r, 405, "method_not_allowed", "POST /api/plugins")
        state, _, g = plugin_state(c)
        check(state == "running", "none of these changed example-echo", g.describe())

        time.sleep(0.1)
        check(eng.proc.poll() is None, "the engine keeps running after the bad requests",
              eng.tail())
        r = c.get("/api/status")
        check(r.status == 200 and isinstance(r.json, dict) and
              isinstance(r.json.get("version"), str) and
              (r.json.get("plugins") or {}).get("running") == 1,
              "GET /api/status still answers, with example-echo running", r.describe())
    finally:
        stop(eng)


def case_logout():
    env = Env("logout")
    eng = start_engine(env)
    try:
        pw = first_password(eng)
        c = login(eng.port, pw)
        other = login(eng.port, pw)
        check(other.cookie != c.cookie and other.csrf != c.csrf,
              "two logins get different session ids and csrf tokens")
        r = c.post("/api/logout", csrf=False)
        check_error(r, 403, "csrf", "POST /api/logout without X-CSRF-Token")
        r = c.get("/api/session")
        check(r.status == 200, "the session still works after the refused logout",
              r.describe())

        r = c.post("/api/logout")
        check(r.status == 200 and r.json == {"ok": True}, "POST /api/logout -> 200 {\"ok\": true}",
              r.describe())
        val, attrs = session_cookie(r)
        check(val is not None and attrs.get("max-age") == "0",
              "the logout clears the cookie (Max-Age=0)", r.describe())
        r = c.get("/api/session")
        check_error(r, 401, "unauthorized", "GET /api/session with the logged-out cookie")
        r = c.post(f"/api/plugins/{ECHO}/disable")
        check_error(r, 401, "unauthorized", "POST disable with the logged-out cookie and its csrf")
        r = other.get("/api/session")
        check(r.status == 200, "another session of the same user keeps working", r.describe())
        state, _, g = plugin_state(other)
        check(state == "running", "the logged-out POST changed nothing", g.describe())
        r = other.get("/api/audit?limit=5")
        acts = [e.get("action") for e in (r.json or {}).get("entries", [])] \
            if isinstance(r.json, dict) else []
        check("logout" in acts, "the audit records the logout", r.describe())
    finally:
        stop(eng)


CASES = [
    ("1 login", case_login),
    ("2 plugins and CSRF", case_plugins),
    ("3 settings and commands", case_settings),
    ("4 persistence across restart and SIGKILL", case_persistence),
    ("5 API tokens", case_token),
    ("6 login throttling", case_throttle),
    ("7 server-sent events", case_events),
    ("8 audit", case_audit),
    ("9 bad input", case_bad_input),
    ("10 logout", case_logout),
]


if __name__ == "__main__":
    sys.exit(main(CASES, __doc__, tmp_prefix="oa-api-"))

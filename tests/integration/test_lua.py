#!/usr/bin/env python3
"""Integration test of Lua automation: scripts managed through the admin API
(docs/admin-api.md, "Scripts") acting on the real engine and example-echo
plugin, and `openace script run` on good and failing scripts. Real binary,
real SQLite data directory per case, real HTTP over loopback only.

Run by CTest as:  python3 tests/integration/test_lua.py --build <build dir>

Each assertion is one check; the last line printed is "N passed, M failed"
and the exit status is 0 only when M is 0.
"""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oatest import (EVENT_TIMEOUT, Client, Env, SseReader, check, cmd, main,  # noqa: E402
                    require, start_engine, stop)

ECHO = "example-echo"
EXAMPLES = ("event_logger", "scheduler", "watchdog")


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
        c = Client(env.http_port, bearer=token)
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

        r = Client(env.http_port, bearer="not-a-token").get("/api/scripts")
        check(r.status == 401, "GET /api/scripts with a wrong token -> 401", r.describe())

        sse = SseReader(env.http_port, "/api/events?topics=plugin.state",
                        {"Authorization": f"Bearer {token}"}, timeout=EVENT_TIMEOUT * 3)
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
        c = Client(env.http_port, bearer=token)
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


if __name__ == "__main__":
    sys.exit(main(CASES, __doc__, tmp_prefix="oa-lua-"))

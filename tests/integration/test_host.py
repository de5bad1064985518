#!/usr/bin/env python3
"""Integration test of the openace host: the real binary, real plugin files,
a real SQLite data directory per case, loopback only.

Run by CTest as:  python3 tests/integration/test_host.py --build <build dir>

Every case starts from a fresh temporary --data directory. Each assertion is
one check; the last line printed is "N passed, M failed" and the exit status
is 0 only when M is 0.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oatest import (STARTUP_TIMEOUT, Engine, Env, build, check, cmd, free_port,  # noqa: E402
                    host_msg, main, mkdtemp, require, run, stop, wait_for_log, wait_ready)


def sdk_version():
    """The SDK version the tree declares, "MAJOR.MINOR", read from sdk.h."""
    hdr = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sdk",
                       "include", "openace", "sdk.h")
    with open(hdr) as f:
        text = f.read()
    major = re.search(r"#define OA_SDK_MAJOR (\d+)", text).group(1)
    minor = re.search(r"#define OA_SDK_MINOR (\d+)", text).group(1)
    return major + "." + minor


SDK = sdk_version()


def plugins_json(env):
    """`plugins --json`: returns (Result, parsed dict or None)."""
    r = cmd(env, "plugins", "--json")
    try:
        return r, json.loads(r.out)
    except ValueError:
        return r, None


def plugin_entry(doc, name=None, file=None):
    for p in (doc or {}).get("plugins", []):
        if name is not None and p.get("name") == name:
            return p
        if file is not None and p.get("file") == file:
            return p
    return None


def echo_lines(engine):
    """Host log lines about example-echo's state, in order."""
    return [l["msg"] for l in engine.find(host_msg(r"^plugin example-echo[: ]"))]


# ---- cases ------------------------------------------------------------------

def case_cli():
    r = run(["--version"])
    check(r.rc == 0, "--version exits 0", r.describe())
    check(re.fullmatch(r"openace \d+\.\d+\.\d+ \(SDK " + re.escape(SDK) + r"\)\n", r.out)
          is not None, "--version prints 'openace X.Y.Z (SDK %s)'" % SDK, r.describe())

    r = run(["--help"])
    check(r.rc == 0, "--help exits 0", r.describe())
    for word in ["--data", "--http", "--p2p-port", "--plugins", "--log-level", "--log-json",
                 "--json", "plugins", "plugin-info", "config"]:
        check(re.search(r"(^|[\s\[])" + re.escape(word) + r"\b", r.out) is not None,
              f"--help mentions {word}", r.describe())
    r2 = run(["-h"])
    check(r2.rc == 0 and r2.out.startswith("Usage:") and r2.out == r.out, "-h prints the same text as --help", r2.describe())

    r = run(["--no-such-option"])
    check(r.rc == 2, "an unknown option exits 2", r.describe())
    check("--no-such-option" in r.err, "the usage error names the unknown option", r.describe())
    r = run(["--p2p-port", "70000"])
    check(r.rc == 2, "--p2p-port 70000 is a usage error (exit 2)", r.describe())
    r = run(["frobnicate"])
    check(r.rc == 2 and "frobnicate" in r.err, "an unknown command exits 2 naming it",
          r.describe())


def case_engine_run():
    env = Env("run")
    eng = Engine(env)
    try:
        line = wait_for_log(eng, host_msg(r"^plugin example-echo: running$"))
        require(line is not None, "log shows 'plugin example-echo: running'",
                f"exit: {eng.proc.poll()}\nlog:\n{eng.text()[-3000:]}")
        ready = wait_ready(eng)
        check(f"http 127.0.0.1:{env.http_port}" in ready["msg"] and
              f"p2p port {env.p2p_port}" in ready["msg"],
              "startup line reports the --http and --p2p-port given", ready["msg"])
        check(eng.proc.poll() is None, "engine keeps running after start")

        r, doc = plugins_json(env)
        require(r.rc == 0 and doc is not None, "`plugins --json` beside the engine exits 0 "
                "with JSON", r.describe())
        check(doc.get("engine_running") is True, "plugins --json: engine_running true",
              r.describe())
        check(doc.get("engine_pid") == eng.pid, "plugins --json: engine_pid is the engine's pid",
              r.describe())
        e = plugin_entry(doc, name="example-echo")
        check(e is not None and e.get("state") == "running" and e.get("enabled") is True,
              "plugins --json: example-echo running and enabled", r.describe())

        r = cmd(env, "plugins")
        check(r.rc == 0 and re.search(r"engine running \(pid %d\)" % eng.pid, r.out) and
              re.search(r"^example-echo\s+running\s+yes\b", r.out, re.M),
              "plain `plugins` shows the engine pid and example-echo running", r.describe())
    finally:
        stop(eng)
    text = eng.text()
    bad = [l for l in text.splitlines() if l.strip() and not _is_json_log(l)]
    check(not bad, "--log-json: every log line is a JSON object with time, level, tag, msg",
          "\n".join(bad[:5]))
    check(bool(eng.find(host_msg(r"^received SIGTERM"))), "log shows SIGTERM received", text)
    check(bool(eng.find(host_msg(r"^stopped$"))), "log shows the host stopped", text)
    msgs = echo_lines(eng)
    after = msgs[msgs.index("plugin example-echo: running") + 1:] \
        if "plugin example-echo: running" in msgs else []
    check(any(not m.endswith(": running") for m in after),
          "log shows example-echo left the running state at shutdown", "\n".join(msgs))
    # The registry records the reason "host stopped"; the log line must carry it.
    check(any("host stopped" in m for m in after),
          "example-echo's shutdown line gives its reason ('host stopped')", "\n".join(msgs))
    r, doc = plugins_json(env)
    check(r.rc == 0 and doc is not None and doc.get("engine_running") is False,
          "after the stop, plugins --json: engine_running false", r.describe())


def _is_json_log(raw):
    try:
        o = json.loads(raw)
    except ValueError:
        return False
    return isinstance(o, dict) and all(k in o for k in ("time", "level", "tag", "msg"))


def case_offline_disable():
    env = Env("disable")
    r = cmd(env, "plugins", "disable", "example-echo")
    check(r.rc == 0, "`plugins disable example-echo` (engine stopped) exits 0", r.describe())
    check("next start" not in r.out, "with no engine, disable does not mention a running engine",
          r.describe())
    r, doc = plugins_json(env)
    e = plugin_entry(doc, name="example-echo")
    check(r.rc == 0 and e is not None and e.get("enabled") is False and
          e.get("state") == "disabled",
          "plugins --json: example-echo enabled false, state disabled", r.describe())

    eng = Engine(env)
    try:
        wait_ready(eng)
        msgs = echo_lines(eng)
        check("plugin example-echo: disabled" in msgs, "log shows example-echo disabled",
              "\n".join(msgs))
        check(not any(m == "plugin example-echo: running" for m in msgs) and
              not eng.find(lambda l: l.get("tag") == "example-echo"),
              "example-echo does not run (no running line, no log from it)", "\n".join(msgs))
        r, doc = plugins_json(env)
        e = plugin_entry(doc, name="example-echo")
        check(doc is not None and doc.get("engine_running") is True and e is not None and
              e.get("state") == "disabled" and e.get("enabled") is False,
              "plugins --json beside the engine: example-echo disabled", r.describe())
    finally:
        stop(eng)

    r = cmd(env, "plugins", "enable", "example-echo")
    check(r.rc == 0, "`plugins enable example-echo` exits 0", r.describe())
    eng = Engine(env)
    try:
        check(wait_for_log(eng, host_msg(r"^plugin example-echo: running$")) is not None,
              "after enable, the next engine runs example-echo again", eng.text()[-3000:])
        r, doc = plugins_json(env)
        e = plugin_entry(doc, name="example-echo")
        check(e is not None and e.get("state") == "running" and e.get("enabled") is True,
              "plugins --json: example-echo running and enabled again", r.describe())
    finally:
        stop(eng)

    r = cmd(env, "plugins", "disable", "no-such-plugin")
    check(r.rc == 1 and "no-such-plugin" in r.err, "disabling an unknown plugin exits 1 "
          "naming it", r.describe())


def case_disable_while_running():
    env = Env("disable-live")
    eng = Engine(env)
    try:
        require(wait_for_log(eng, host_msg(r"^plugin example-echo: running$")) is not None,
                "engine runs example-echo", eng.text()[-3000:])
        r = cmd(env, "plugins", "disable", "example-echo")
        check(r.rc == 0, "`plugins disable` beside a running engine exits 0", r.describe())
        check("next start" in r.out and f"pid {eng.pid}" in r.out,
              "it says the running engine (with its pid) applies it at its next start",
              r.describe())
        r, doc = plugins_json(env)
        e = plugin_entry(doc, name="example-echo")
        check(e is not None and e.get("enabled") is False and e.get("state") == "running",
              "plugins --json: enabled false, still running until the restart", r.describe())
        check(eng.proc.poll() is None, "the engine keeps running")
    finally:
        stop(eng)
    eng = Engine(env)
    try:
        wait_ready(eng)
        msgs = echo_lines(eng)
        check("plugin example-echo: disabled" in msgs and
              "plugin example-echo: running" not in msgs,
              "after a restart example-echo is disabled, not running", "\n".join(msgs))
        r, doc = plugins_json(env)
        e = plugin_entry(doc, name="example-echo")
        check(e is not None and e.get("state") == "disabled",
              "plugins --json after the restart: state disabled", r.describe())
    finally:
        stop(eng)


def case_config():
    env = Env("config")
    r = cmd(env, "config", "get", "example-echo", "interval_ms")
    check(r.rc == 0 and r.out.strip() == "0", "config get before any set prints the default 0",
          r.describe())
    r = cmd(env, "config", "set", "example-echo", "interval_ms", "250")
    check(r.rc == 0, "config set example-echo interval_ms 250 exits 0", r.describe())

    def get_interval():
        return cmd(env, "config", "get", "example-echo", "interval_ms")

    r = get_interval()
    check(r.rc == 0 and r.out.strip() == "250", "config get prints 250", r.describe())

    r = cmd(env, "config", "set", "example-echo", "interval_ms", "abc")
    check(r.rc == 1, "interval_ms abc exits 1", r.describe())
    check("interval_ms" in r.err, "the refusal names the key interval_ms", r.describe())
    r = get_interval()
    check(r.out.strip() == "250", "after the refused set the stored value is still 250",
          r.describe())

    r = cmd(env, "config", "set", "example-echo", "interval_ms", "99999999")
    check(r.rc == 1 and "interval_ms" in r.err, "interval_ms 99999999 (out of range) exits 1 "
          "naming the key", r.describe())
    r = get_interval()
    check(r.out.strip() == "250", "after the range refusal the value is still 250", r.describe())

    r = cmd(env, "config", "set", "example-echo", "nosuchkey", "1")
    check(r.rc == 1, "an unknown key exits 1", r.describe())
    check("nosuchkey" in r.err and all(k in r.err for k in
                                       ("greeting", "interval_ms", "fail_start")),
          "the refusal names the key and lists the plugin's settings", r.describe())

    r = cmd(env, "config", "set", "nosuch", "greeting", "x")
    check(r.rc == 1 and "nosuch" in r.err, "config set on an unknown plugin exits 1 naming it",
          r.describe())

    r = cmd(env, "config", "get", "example-echo")
    check(r.rc == 0, "config get example-echo (no key) exits 0", r.describe())
    for key in ("greeting", "interval_ms", "fail_start"):
        check(re.search(r"^" + key + r"\b", r.out, re.M) is not None,
              f"config get without a key lists {key}", r.describe())
    check(re.search(r"^interval_ms\s*=\s*250\b", r.out, re.M) is not None,
          "the listing shows interval_ms = 250", r.describe())

    # An engine run with the setting, stopped cleanly.
    eng = Engine(env)
    try:
        require(wait_for_log(eng, host_msg(r"^plugin example-echo: running$")) is not None,
                "engine runs example-echo with interval_ms 250", eng.text()[-3000:])
        time.sleep(0.6)  # let a couple of ticks happen
        check(eng.proc.poll() is None, "engine stays up while example-echo ticks")
    finally:
        stop(eng)
    r = get_interval()
    check(r.out.strip() == "250", "after an engine run interval_ms is still 250", r.describe())

    # A second run, a setting changed beside it, then kill -9.
    eng = Engine(env)
    try:
        require(wait_for_log(eng, host_msg(r"^plugin example-echo: running$")) is not None,
                "second engine runs example-echo", eng.text()[-3000:])
        r = cmd(env, "config", "set", "example-echo", "greeting", "bonjour")
        check(r.rc == 0, "config set greeting beside the running engine exits 0", r.describe())
        stop(eng, signal.SIGKILL, expect_rc=-signal.SIGKILL)
    finally:
        eng.kill()
    r = get_interval()
    check(r.rc == 0 and r.out.strip() == "250", "after kill -9 config get still prints 250",
          r.describe())
    r = cmd(env, "config", "get", "example-echo", "greeting")
    check(r.rc == 0 and r.out.strip() == "bonjour",
          "a setting stored beside the engine survives its kill -9", r.describe())
    r, doc = plugins_json(env)
    check(doc is not None and doc.get("engine_running") is False,
          "after kill -9 the stale lock does not count as a running engine", r.describe())
    eng = Engine(env)
    try:
        check(wait_for_log(eng, host_msg(r"^plugin example-echo: running$")) is not None,
              "an engine starts on the data directory after a kill -9", eng.text()[-3000:])
    finally:
        stop(eng)


def case_failure():
    env = Env("fail")
    r = cmd(env, "config", "set", "example-echo", "fail_start", "true")
    check(r.rc == 0, "config set example-echo fail_start true exits 0", r.describe())
    eng = Engine(env)
    try:
        line = wait_for_log(eng, host_msg(r"^plugin example-echo failed"))
        require(line is not None, "log shows example-echo failed", eng.text()[-3000:])
        check("fail_start" in line["msg"], "the failure line gives a reason naming fail_start",
              line["msg"])
        check(line.get("level") in ("warn", "error"), "the failure is logged at warn or error",
              json.dumps(line))
        wait_ready(eng, "engine finishes starting after the failure")
        time.sleep(0.3)
        check(eng.proc.poll() is None, "the host keeps running after the plugin failed",
              eng.text()[-3000:])
        r, doc = plugins_json(env)
        e = plugin_entry(doc, name="example-echo")
        check(e is not None and e.get("state") == "failed", "plugins --json: state failed",
              r.describe())
        check(e is not None and "fail_start" in (e.get("reason") or ""),
              "plugins --json: the reason names fail_start", r.describe())
        check(e is not None and e.get("crash_count", 0) >= 1,
              "plugins --json: crash_count counts the failure", r.describe())
    finally:
        stop(eng)


def case_plugin_info():
    so = os.path.join(build.plugins, "example-echo.so")
    r = run(["plugin-info", so])
    check(r.rc == 0, "plugin-info example-echo.so exits 0", r.describe())
    check(re.search(r"^name:\s+example-echo$", r.out, re.M) is not None,
          "plugin-info prints name example-echo", r.describe())
    for key in ("greeting", "interval_ms", "fail_start"):
        check(re.search(r"^\s+" + key + r"\b", r.out, re.M) is not None,
              f"plugin-info lists the setting {key}", r.describe())

    r = run(["plugin-info", so, "--json"])
    try:
        doc = json.loads(r.out)
    except ValueError:
        doc = None
    check(r.rc == 0 and isinstance(doc, dict), "plugin-info --json exits 0 with JSON",
          r.describe())
    doc = doc or {}
    check(doc.get("loadable") is True and doc.get("name") == "example-echo",
          "plugin-info --json: loadable true, name example-echo", r.describe())
    keys = [c.get("key") for c in doc.get("config", []) if isinstance(c, dict)]
    check(keys == ["greeting", "interval_ms", "fail_start"],
          "plugin-info --json: config keys greeting, interval_ms, fail_start", r.describe())
    check(doc.get("sdk") == SDK, "plugin-info --json: sdk %s" % SDK, r.describe())

    defects = [
        ("tp_bad_major.so", ["SDK 2.0", "SDK " + SDK]),
        ("tp_newer_minor.so", ["newer"]),
        ("tp_small.so", ["smaller"]),
        ("tp_no_entry.so", ["oa_plugin_entry"]),
        ("tp_no_stop.so", ["stop"]),
    ]
    for name, words in defects:
        path = os.path.join(build.test_plugins, name)
        r = run(["plugin-info", path])
        check(r.rc == 1, f"plugin-info {name} exits 1", r.describe())
        check(all(w in r.err for w in words),
              f"plugin-info {name}: stderr gives the reason ({', '.join(words)})", r.describe())
        r = run(["plugin-info", path, "--json"])
        try:
            j = json.loads(r.out)
        except ValueError:
            j = None
        check(r.rc == 1 and isinstance(j, dict) and j.get("loadable") is False and
              all(w in (j.get("reason") or "") for w in words),
              f"plugin-info {name} --json: loadable false with the reason", r.describe())

    r = run(["plugin-info", "/nonexistent.so"])
    check(r.rc == 1 and "/nonexistent.so" in r.err, "plugin-info /nonexistent.so exits 1 "
          "naming the file", r.describe())


def case_defective_dir():
    pdir = os.path.join(mkdtemp("oa-it-plugdir-"), "plugins")
    os.mkdir(pdir)
    shutil.copy(os.path.join(build.plugins, "example-echo.so"), pdir)
    for name in ("tp_bad_major.so", "tp_no_entry.so", "tp_dup_1.so", "tp_dup_2.so",
                 "tp_good.so"):
        shutil.copy(os.path.join(build.test_plugins, name), pdir)
    env = Env("defective", plugins=pdir)
    eng = Engine(env)
    try:
        ok_echo = wait_for_log(eng, host_msg(r"^plugin example-echo: running$"))
        ok_good = wait_for_log(eng, host_msg(r"^plugin test-good: running$"))
        check(ok_echo is not None, "example-echo runs beside defective plugins",
              eng.text()[-3000:])
        check(ok_good is not None, "test-good runs beside defective plugins", eng.text()[-3000:])
        wait_ready(eng)
        time.sleep(0.2)
        check(eng.proc.poll() is None, "the engine keeps running", eng.text()[-3000:])
        check(bool(eng.find(host_msg(r"rejected: .*SDK 2\.0"))),
              "log reports the bad-major plugin rejected", eng.text()[-3000:])

        r, doc = plugins_json(env)
        require(r.rc == 0 and doc is not None, "plugins --json exits 0 with JSON", r.describe())

        def entry(fname):
            return plugin_entry(doc, file=os.path.join(pdir, fname))

        e = entry("tp_bad_major.so")
        check(e is not None and e.get("state") == "rejected" and
              "SDK 2.0" in (e.get("reason") or ""),
              "tp_bad_major.so listed rejected with the SDK version reason", r.describe())
        e = entry("tp_no_entry.so")
        check(e is not None and e.get("state") == "rejected" and
              "oa_plugin_entry" in (e.get("reason") or ""),
              "tp_no_entry.so listed rejected with the missing entry reason", r.describe())
        d1, d2 = entry("tp_dup_1.so"), entry("tp_dup_2.so")
        states = sorted([(d or {}).get("state", "?") for d in (d1, d2)])
        dup = [d for d in (d1, d2) if d and d.get("state") == "rejected"]
        check(states == ["rejected", "running"],
              "of the two test-dup files one runs and one is rejected", r.describe())
        check(len(dup) == 1 and "duplicate" in (dup[0].get("reason") or "") and
              "test-dup" in (dup[0].get("reason") or ""),
              "the duplicate is rejected with a reason naming the duplicate name", r.describe())
        for name in ("example-echo", "test-good"):
            e = plugin_entry(doc, name=name)
            check(e is not None and e.get("state") == "running",
                  f"plugins --json: {name} running", r.describe())
    finally:
        stop(eng)


def case_two_engines():
    env = Env("two")
    first = Engine(env)
    try:
        wait_ready(first, "first engine started")
        second = Engine(env)
        try:
            rc = second.proc.wait(timeout=STARTUP_TIMEOUT)
        except subprocess.TimeoutExpired:
            rc = None
        second.kill()
        check(rc == 1, f"the second engine on the same data directory exits 1 (got {rc})",
              second.text()[-2000:])
        text = second.text()
        check("in use" in text and str(first.pid) in text,
              "it says the data directory is in use, naming the first engine's pid", text)
        check(first.proc.poll() is None, "the first engine keeps running")
        r, doc = plugins_json(env)
        check(doc is not None and doc.get("engine_pid") == first.pid,
              "the lock still names the first engine", r.describe())
    finally:
        stop(first)


def case_bad_data_dir():
    root = mkdtemp("oa-it-baddata-")
    blocker = os.path.join(root, "a-file")
    with open(blocker, "w") as f:
        f.write("not a directory\n")
    bad = os.path.join(blocker, "data")
    http, p2p = free_port(), free_port()
    args = ["--data", bad, "--plugins", build.plugins, "--http", f"127.0.0.1:{http}",
            "--p2p-port", str(p2p)]
    r = run(args, cwd=root)
    check(r.rc == 1, "an engine with --data under a regular file exits 1", r.describe())
    check(bad in r.err and "data directory" in r.err,
          "the message names the data directory it cannot create", r.describe())
    r = run(args + ["plugins"], cwd=root)
    check(r.rc == 1 and bad in r.err, "an offline command with that --data exits 1 too",
          r.describe())
    check(os.path.isfile(blocker), "the blocking file is left alone")


CASES = [
    ("1 command line", case_cli),
    ("2 engine run", case_engine_run),
    ("3 offline disable persists", case_offline_disable),
    ("4 disable while the engine runs", case_disable_while_running),
    ("5 config", case_config),
    ("6 failure handling", case_failure),
    ("7 plugin-info", case_plugin_info),
    ("8 defective plugin directory", case_defective_dir),
    ("9 two engines, one data directory", case_two_engines),
    ("10 data directory that cannot be created", case_bad_data_dir),
]


if __name__ == "__main__":
    sys.exit(main(CASES, __doc__, tmp_prefix="oa-it-", need=["tests/plugins/tp_good.so"]))

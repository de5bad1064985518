/* The Lua runtime (host/lua.h) on a real host: example-echo loaded from the
 * build, a real SQLite store in a temporary data directory, the real bus and
 * loop. Scripts report what they see by emitting events, which a C
 * subscriber collects; the registry, the store and the log ring are checked
 * from C. Waits have a generous safety bound and never assert durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host.h"
#include "lua.h"
#include "testutil.h"

#define ECHO_PLUGIN "example-echo"
#define WAIT_MS 10000 /* safety bound of a wait; never asserted */

typedef struct captured {
    char topic[130];
    json_t *data;
    int taken;
} captured;

typedef struct fx {
    char *dir;
    char *plugins;
    char *modules;
    oa_host h;
    oa_lua *rt;
    uv_timer_t tick;
    uv_timer_t alarm;
    int alarm_rang;
    captured *ev;
    size_t nev;
    size_t cap;
    int disabled_calls;
    char disabled_name[80];
    char disabled_reason[1024];
} fx;

/* ---- fixture ------------------------------------------------------------ */

static void on_any(void *arg, const char *topic, const char *json, size_t len)
{
    fx *f = arg;
    captured *c;
    (void)len;
    if (f->nev == f->cap) {
        f->cap = f->cap == 0 ? 64 : f->cap * 2;
        f->ev = realloc(f->ev, f->cap * sizeof(*f->ev));
        assert_non_null(f->ev);
    }
    c = &f->ev[f->nev++];
    snprintf(c->topic, sizeof(c->topic), "%s", topic);
    c->data = json_loads(json, JSON_DECODE_ANY, NULL);
    c->taken = 0;
}

static void on_disabled(void *arg, const char *name, const char *reason)
{
    fx *f = arg;
    f->disabled_calls++;
    snprintf(f->disabled_name, sizeof(f->disabled_name), "%s", name);
    snprintf(f->disabled_reason, sizeof(f->disabled_reason), "%s", reason);
}

static void new_runtime(fx *f, const oa_lua_limits *limits)
{
    assert_int_equal(oa_lua_new(&f->h, limits, f->modules, &f->rt), 0);
    oa_lua_on_disabled(f->rt, on_disabled, f);
}

static void open_host(fx *f)
{
    oa_host_options o;
    char err[512];

    memset(&o, 0, sizeof(o));
    o.data_dir = f->dir;
    o.plugin_dir = f->plugins;
    o.engine = 1;
    o.p2p_port = 9999;
    if (oa_host_open(&f->h, NULL, &o, err, sizeof(err)) != 0) {
        fail_msg("oa_host_open: %s", err);
    }
    assert_int_equal(oa_registry_start_all(f->h.reg), 1);
    assert_int_equal(oa_bus_subscribe(f->h.bus, "*", on_any, f, f, NULL), 0);
    uv_timer_init(f->h.loop, &f->tick);
    uv_timer_init(f->h.loop, &f->alarm);
    f->alarm.data = f;
    new_runtime(f, NULL);
}

static void close_host(fx *f)
{
    oa_lua_free(f->rt);
    f->rt = NULL;
    uv_close((uv_handle_t *)&f->tick, NULL);
    uv_close((uv_handle_t *)&f->alarm, NULL);
    assert_int_equal(oa_host_close(&f->h), 0);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    const char *build = getenv("OA_BUILD_DIR");

    assert_non_null(f);
    assert_non_null(build);
    oa_log_init(OA_LOG_INFO, 0, 0);
    f->dir = oa_test_tmpdir();
    assert_non_null(f->dir);
    f->plugins = oa_test_path(build, "tests/echo-plugins");
    f->modules = oa_test_path(f->dir, "modules");
    assert_int_equal(mkdir(f->modules, 0700), 0);
    open_host(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    close_host(f);
    for (size_t i = 0; i < f->nev; i++) {
        json_decref(f->ev[i].data);
    }
    free(f->ev);
    oa_test_rmtree(f->dir);
    free(f->dir);
    free(f->plugins);
    free(f->modules);
    free(f);
    return 0;
}

/* ---- helpers -------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until pred(f, arg) holds; fails after WAIT_MS. */
static void spin(fx *f, int (*pred)(fx *, const void *), const void *arg, const char *what)
{
    uint64_t end = uv_hrtime() + (uint64_t)WAIT_MS * 1000000u;
    uv_timer_start(&f->tick, on_tick, 2, 2);
    while (!pred(f, arg)) {
        if (uv_hrtime() > end) {
            uv_timer_stop(&f->tick);
            fail_msg("gave up waiting for %s", what);
        }
        uv_run(f->h.loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&f->tick);
}

static captured *find(fx *f, const char *topic)
{
    for (size_t i = 0; i < f->nev; i++) {
        if (!f->ev[i].taken && strcmp(f->ev[i].topic, topic) == 0) {
            return &f->ev[i];
        }
    }
    return NULL;
}

static int have(fx *f, const void *topic)
{
    return find(f, topic) != NULL;
}

/* The next event on topic not taken yet (waiting for it). */
static json_t *take(fx *f, const char *topic)
{
    captured *c;
    spin(f, have, topic, topic);
    c = find(f, topic);
    c->taken = 1;
    assert_non_null(c->data);
    return c->data;
}

/* Marks every event on topic collected so far as taken; returns how many. */
static size_t drop(fx *f, const char *topic)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nev; i++) {
        if (!f->ev[i].taken && strcmp(f->ev[i].topic, topic) == 0) {
            f->ev[i].taken = 1;
            n++;
        }
    }
    return n;
}

/* Lets everything already published, and what it causes in one more round,
 * be delivered: two sentinels through the bus, one after the other. */
static void settle(fx *f)
{
    for (int i = 0; i < 2; i++) {
        assert_int_equal(oa_host_publish(&f->h, "t.sentinel", NULL), 0);
        take(f, "t.sentinel");
    }
}

static void on_alarm(uv_timer_t *t)
{
    fx *f = t->data;
    f->alarm_rang = 1;
}

static int alarm_rang(fx *f, const void *arg)
{
    (void)arg;
    return f->alarm_rang;
}

/* Runs the loop until a C timer of ms fires: every Lua timer due earlier
 * has fired by then (libuv runs due timers in order). */
static void wait_timer(fx *f, uint64_t ms)
{
    f->alarm_rang = 0;
    uv_timer_start(&f->alarm, on_alarm, ms, 0);
    spin(f, alarm_rang, NULL, "the alarm");
}

static void publish(fx *f, const char *topic, const char *json)
{
    assert_int_equal(oa_host_publish(&f->h, topic, json), 0);
}

static void load_ok(fx *f, const char *name, const char *src)
{
    char err[4096];
    int rc = oa_lua_load(f->rt, name, src, err, sizeof(err));
    if (rc != 0) {
        fail_msg("loading %s: %s (%d)", name, err, rc);
    }
}

static int load_err(fx *f, const char *name, const char *src, char *err, size_t errlen)
{
    int rc = oa_lua_load(f->rt, name, src, err, errlen);
    assert_int_not_equal(rc, 0);
    assert_true(strlen(err) > 0);
    return rc;
}

static const char *str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        fail_msg("field %s is not a string", key);
    }
    return json_string_value(v);
}

static void contains(const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL) {
        fail_msg("'%s' does not contain '%s'", hay ? hay : "(null)", needle);
    }
}

static int is_true(json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
    char *path = oa_test_path(dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    fclose(fp);
    free(path);
}

/* ---- events --------------------------------------------------------------- */

static void test_events_round_trip(void **state)
{
    fx *f = *state;
    const char *payload = "{\"a\":1,\"b\":[1,2,{\"c\":\"x\",\"d\":[true,false]}],"
                          "\"e\":{\"f\":1.5,\"g\":{\"h\":\"\\u00e9\"}},\"s\":\"text\"}";
    json_t *expect = json_loads(payload, 0, NULL);
    json_t *ev;

    load_ok(f, "events",
            "local id = oa.on('t.in', function(topic, data)\n"
            "  oa.emit('t.out', {topic = topic, data = data, kind = type(data)})\n"
            "end)\n"
            "oa.on('t.pat.*', function(topic) oa.emit('t.pat_seen', {topic = topic}) end)\n"
            "local id3 = oa.on('t.never', function() oa.emit('t.bad', {}) end)\n"
            "oa.emit('t.ids', {isint = math.type(id) == 'integer', off = oa.off(id3),\n"
            "  again = oa.off(id3), bogus = oa.off(123456), notnum = oa.off('x')})\n");
    ev = take(f, "t.ids");
    assert_true(is_true(ev, "isint"));
    assert_true(is_true(ev, "off"));
    assert_true(json_is_false(json_object_get(ev, "again")));
    assert_true(json_is_false(json_object_get(ev, "bogus")));
    assert_true(json_is_false(json_object_get(ev, "notnum")));

    publish(f, "t.in", payload);
    ev = take(f, "t.out");
    assert_string_equal(str(ev, "topic"), "t.in");
    assert_string_equal(str(ev, "kind"), "table");
    assert_true(json_equal(json_object_get(ev, "data"), expect));

    publish(f, "t.pat.x.y", NULL);
    assert_string_equal(str(take(f, "t.pat_seen"), "topic"), "t.pat.x.y");
    publish(f, "t.never", NULL);
    settle(f);
    assert_null(find(f, "t.bad"));
    json_decref(expect);
}

static void test_emit_encoding(void **state)
{
    fx *f = *state;
    json_t *ev;
    json_t *expect;

    load_ok(f, "encoder",
            "local function try(fn, ...) local ok, e = pcall(fn, ...) return ok and 'ok' or "
            "tostring(e) end\n"
            "local cyc = {} cyc.self = cyc\n"
            "oa.emit('t.enc', {arr = {1, 2, 3}, obj = {x = 1}, empty = {}, mixed = {1, 2, x = 3},\n"
            "  sparse = {[1] = 'a', [3] = 'c'}, int = 3, float = 2.5, str = 'h\\u{e9}llo',\n"
            "  yes = true, no = false, nested = {{1}, {2, {deep = 'x'}}}})\n"
            "oa.emit('t.nopayload')\n"
            "oa.emit('t.refused', {\n"
            "  fn = try(oa.emit, 't.x', {a = {f = print}}),\n"
            "  cycle = try(oa.emit, 't.x', cyc),\n"
            "  ud = try(oa.emit, 't.x', {timer = oa.after(100000, function() end)}),\n"
            "  topic = try(oa.emit, 'bad topic', {}),\n"
            "  utf8 = try(oa.emit, 't.x', {s = '\\xff'}),\n"
            "  nan = try(oa.emit, 't.x', {n = 0/0}),\n"
            "  key = try(oa.emit, 't.x', {[true] = 1}),\n"
            "  notable = try(oa.emit, 't.x', 5),\n"
            "  pattern = try(oa.on, 'a..b', function() end),\n"
            "  deep = try(function() local t = {} for i = 1, 100 do t = {t} end oa.emit('t.x', t) "
            "end),\n"
            "})\n");
    expect = json_loads("{\"arr\":[1,2,3],\"obj\":{\"x\":1},\"empty\":{},"
                        "\"mixed\":{\"1\":1,\"2\":2,\"x\":3},\"sparse\":{\"1\":\"a\",\"3\":\"c\"},"
                        "\"int\":3,\"float\":2.5,\"str\":\"h\\u00e9llo\",\"yes\":true,\"no\":false,"
                        "\"nested\":[[1],[2,{\"deep\":\"x\"}]]}",
                        0, NULL);
    assert_non_null(expect);
    ev = take(f, "t.enc");
    assert_true(json_equal(ev, expect));
    assert_true(json_is_integer(json_object_get(ev, "int")));
    assert_true(json_is_real(json_object_get(ev, "float")));
    json_decref(expect);
    ev = take(f, "t.nopayload");
    assert_true(json_is_object(ev) && json_object_size(ev) == 0);

    ev = take(f, "t.refused");
    contains(str(ev, "fn"), "a function value cannot become JSON (at a.f)");
    contains(str(ev, "cycle"), "cycle");
    contains(str(ev, "ud"), "userdata");
    contains(str(ev, "topic"), "not a valid topic");
    contains(str(ev, "utf8"), "UTF-8");
    contains(str(ev, "nan"), "NaN");
    contains(str(ev, "key"), "boolean");
    contains(str(ev, "notable"), "table expected");
    contains(str(ev, "pattern"), "not a valid topic pattern");
    contains(str(ev, "deep"), "nested deeper");
    settle(f);
    assert_null(find(f, "t.x"));
}

/* ---- timers --------------------------------------------------------------- */

static void test_timers(void **state)
{
    fx *f = *state;
    json_t *ev;

    /* Due order makes this deterministic: after(1) fires before the first
     * every(10), the cancelled after(5) would have too, and the self-
     * cancelled every(10) would fire again before the after(50) check. */
    load_ok(f, "timers",
            "local n = {once = 0, every = 0, cancelled = 0}\n"
            "local r = {}\n"
            "oa.after(1, function() n.once = n.once + 1 end)\n"
            "local c = oa.after(5, function() n.cancelled = n.cancelled + 1 end)\n"
            "r.cancel1 = c:cancel()\n"
            "r.cancel2 = c:cancel()\n"
            "local o = oa.after(1, function() end)\n"
            "local e\n"
            "e = oa.every(10, function()\n"
            "  n.every = n.every + 1\n"
            "  if n.every < 3 then return end\n"
            "  r.cancel_self = e:cancel()\n"
            "  r.once, r.every, r.cancelled = n.once, n.every, n.cancelled\n"
            "  r.fired_cancel = o:cancel()\n"
            "  oa.emit('t.timers', r)\n"
            "  oa.after(50, function() oa.emit('t.timers2', {every = n.every}) end)\n"
            "end)\n"
            "r.after0 = select(2, pcall(oa.after, 0, function() end))\n"
            "r.every5 = select(2, pcall(oa.every, 5, function() end))\n"
            "r.nofn = select(2, pcall(oa.after, 10))\n"
            "r.tostr = tostring(c)\n");
    ev = take(f, "t.timers");
    assert_true(is_true(ev, "cancel1"));
    assert_true(json_is_false(json_object_get(ev, "cancel2")));
    assert_true(is_true(ev, "cancel_self"));
    assert_true(json_is_false(json_object_get(ev, "fired_cancel")));
    assert_int_equal(json_integer_value(json_object_get(ev, "once")), 1);
    assert_int_equal(json_integer_value(json_object_get(ev, "every")), 3);
    assert_int_equal(json_integer_value(json_object_get(ev, "cancelled")), 0);
    contains(str(ev, "after0"), "from 1");
    contains(str(ev, "every5"), "from 10");
    contains(str(ev, "nofn"), "function expected");
    contains(str(ev, "tostr"), "oa.timer");
    ev = take(f, "t.timers2");
    assert_int_equal(json_integer_value(json_object_get(ev, "every")), 3);
}

/* ---- plugins, commands, settings ---------------------------------------- */

static oa_plugin_state echo_state(fx *f, int *enabled)
{
    oa_plugin_info info;
    assert_int_equal(oa_registry_info_by_name(f->h.reg, ECHO_PLUGIN, &info), 0);
    *enabled = info.enabled;
    return info.state;
}

static void test_plugins(void **state)
{
    fx *f = *state;
    json_t *ev;
    json_t *echo;
    int enabled;

    load_ok(f, "plug",
            "local echo\n"
            "for _, p in ipairs(oa.plugins.list()) do\n"
            "  if p.name == 'example-echo' then echo = p end\n"
            "end\n"
            "local st, sterr = oa.plugins.state('nope')\n"
            "local en, enerr = oa.plugins.enable('nope')\n"
            "oa.emit('t.plugins', {echo = echo, state = oa.plugins.state('example-echo'),\n"
            "  nope_nil = st == nil, nope_err = sterr,\n"
            "  enable_nil = en == nil, enable_err = enerr})\n");
    ev = take(f, "t.plugins");
    echo = json_object_get(ev, "echo");
    assert_string_equal(str(echo, "name"), ECHO_PLUGIN);
    assert_string_equal(str(echo, "state"), "running");
    assert_true(is_true(echo, "enabled"));
    assert_string_equal(str(echo, "version"), "1.0.0");
    assert_string_equal(str(echo, "reason"), "");
    assert_string_equal(str(ev, "state"), "running");
    assert_true(is_true(ev, "nope_nil"));
    contains(str(ev, "nope_err"), "no plugin named 'nope'");
    assert_true(is_true(ev, "enable_nil"));
    contains(str(ev, "enable_err"), "nope");

    load_ok(f, "plug",
            "oa.emit('t.r', {ok = oa.plugins.disable('example-echo'),\n"
            "  state = oa.plugins.state('example-echo')})\n");
    ev = take(f, "t.r");
    assert_true(is_true(ev, "ok"));
    assert_string_equal(str(ev, "state"), "disabled");
    assert_int_equal(echo_state(f, &enabled), OA_STATE_DISABLED);
    assert_int_equal(enabled, 0);

    load_ok(f, "plug",
            "local ok, err = oa.plugins.restart('example-echo')\n"
            "oa.emit('t.r', {isnil = ok == nil, err = err})\n");
    ev = take(f, "t.r");
    assert_true(is_true(ev, "isnil"));
    contains(str(ev, "err"), "disabled");
    assert_int_equal(echo_state(f, &enabled), OA_STATE_DISABLED);

    load_ok(f, "plug", "oa.emit('t.r', {ok = oa.plugins.enable('example-echo')})\n");
    assert_true(is_true(take(f, "t.r"), "ok"));
    assert_int_equal(echo_state(f, &enabled), OA_STATE_RUNNING);
    assert_int_equal(enabled, 1);

    load_ok(f, "plug", "oa.emit('t.r', {ok = oa.plugins.restart('example-echo')})\n");
    assert_true(is_true(take(f, "t.r"), "ok"));
    assert_int_equal(echo_state(f, &enabled), OA_STATE_RUNNING);
}

static void test_call(void **state)
{
    fx *f = *state;
    json_t *ev;

    load_ok(f, "caller",
            "local r = oa.call('example-echo', 'echo', {text = 'hi'})\n"
            "local s = oa.call('example-echo', 'stats')\n"
            "local fl, flerr = oa.call('example-echo', 'fail', {})\n"
            "local n, nerr = oa.call('nope', 'echo', {})\n"
            "local u, uerr = oa.call('example-echo', 'nosuch')\n"
            "local ok, bad = pcall(oa.call, 'example-echo', 'echo', {text = print})\n"
            "oa.emit('t.call', {echo = r.echo, count = r.count, echoes = s.echoes,\n"
            "  fail_nil = fl == nil, fail_err = flerr, nope_err = nerr, unknown_nil = u == nil,\n"
            "  unknown_err = uerr, bad = bad})\n");
    ev = take(f, "t.call");
    assert_string_equal(str(ev, "echo"), "hello hi");
    assert_int_equal(json_integer_value(json_object_get(ev, "count")), 1);
    assert_int_equal(json_integer_value(json_object_get(ev, "echoes")), 1);
    assert_true(is_true(ev, "fail_nil"));
    assert_string_equal(str(ev, "fail_err"), "asked to fail");
    contains(str(ev, "nope_err"), "no plugin named 'nope'");
    assert_true(is_true(ev, "unknown_nil"));
    assert_true(strlen(str(ev, "unknown_err")) > 0);
    contains(str(ev, "bad"), "function");
}

static char *get_setting(fx *f, const char *key)
{
    char err[512];
    char *value = NULL;
    if (oa_host_config_get(&f->h, ECHO_PLUGIN, key, &value, err, sizeof(err)) != 0) {
        fail_msg("%s: %s", key, err);
    }
    return value;
}

static void test_config(void **state)
{
    fx *f = *state;
    json_t *ev;
    char *value = NULL;

    load_ok(f, "configure",
            "local r = {}\n"
            "r.g = oa.config.get('example-echo', 'greeting')\n"
            "r.set = oa.config.set('example-echo', 'greeting', 'hey')\n"
            "r.g2 = oa.config.get('example-echo', 'greeting')\n"
            "local bad, baderr = oa.config.set('example-echo', 'interval_ms', 'abc')\n"
            "r.bad_nil, r.bad_err = bad == nil, baderr\n"
            "local big, bigerr = oa.config.set('example-echo', 'interval_ms', 99999999)\n"
            "r.big_nil, r.big_err = big == nil, bigerr\n"
            "r.i = oa.config.get('example-echo', 'interval_ms')\n"
            "r.num = oa.config.set('example-echo', 'interval_ms', 250)\n"
            "r.bool = oa.config.set('example-echo', 'fail_start', false)\n"
            "local nk, nkerr = oa.config.set('example-echo', 'nokey', '1')\n"
            "r.nokey_err = nkerr\n"
            "local np, nperr = oa.config.get('nope', 'x')\n"
            "r.noplugin_err = nperr\n"
            "r.typeerr = select(2, pcall(oa.config.set, 'example-echo', 'greeting', {}))\n"
            "r.echo = oa.call('example-echo', 'echo', {text = 'x'}).echo\n"
            "oa.emit('t.config', r)\n");
    ev = take(f, "t.config");
    assert_string_equal(str(ev, "g"), "hello");
    assert_true(is_true(ev, "set"));
    assert_string_equal(str(ev, "g2"), "hey");
    assert_true(is_true(ev, "bad_nil"));
    contains(str(ev, "bad_err"), "interval_ms");
    assert_true(is_true(ev, "big_nil"));
    contains(str(ev, "big_err"), "interval_ms");
    assert_string_equal(str(ev, "i"), "0");
    assert_true(is_true(ev, "num"));
    assert_true(is_true(ev, "bool"));
    contains(str(ev, "nokey_err"), "no setting 'nokey'");
    contains(str(ev, "noplugin_err"), "no plugin named 'nope'");
    contains(str(ev, "typeerr"), "string, number or boolean");
    /* greeting is not live: the plugin restarted with it. */
    assert_string_equal(str(ev, "echo"), "hey x");

    value = get_setting(f, "interval_ms");
    assert_string_equal(value, "250");
    free(value);
    value = get_setting(f, "greeting");
    assert_string_equal(value, "hey");
    free(value);
    value = get_setting(f, "fail_start");
    assert_string_equal(value, "false");
    free(value);

    /* A refused value leaves the stored one. */
    load_ok(f, "configure",
            "local ok, err = oa.config.set('example-echo', 'interval_ms', -5)\n"
            "oa.emit('t.config2', {isnil = ok == nil, err = err})\n");
    ev = take(f, "t.config2");
    assert_true(is_true(ev, "isnil"));
    value = get_setting(f, "interval_ms");
    assert_string_equal(value, "250");
    free(value);
}

/* ---- store -------------------------------------------------------------- */

static const char *const store_reader =
    "oa.emit('t.store', {n = oa.store.get('n'), t = oa.store.get('t'), s = oa.store.get('s'),\n"
    "  gone = oa.store.get('gone') == nil, f = oa.store.get('f')})\n";

static void check_stored(json_t *ev)
{
    json_t *expect = json_loads("{\"a\":[1,2],\"b\":\"x\"}", 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(ev, "n")), 42);
    assert_true(json_equal(json_object_get(ev, "t"), expect));
    assert_string_equal(str(ev, "s"), "text");
    assert_true(is_true(ev, "gone"));
    assert_null(json_object_get(ev, "f"));
    json_decref(expect);
}

static void test_store_persistence(void **state)
{
    fx *f = *state;
    json_t *ev;

    load_ok(f, "keeper",
            "oa.store.set('n', 42)\n"
            "oa.store.set('t', {a = {1, 2}, b = 'x'})\n"
            "oa.store.set('s', 'text')\n"
            "oa.store.set('gone', 1)\n"
            "local del = oa.store.set('gone', nil)\n"
            "local ok, err = pcall(oa.store.set, 'f', print)\n"
            "local ok2, err2 = pcall(oa.store.set, '', 1)\n"
            "oa.emit('t.store1', {n = oa.store.get('n'), del = del, refused = err, "
            "emptykey = err2,\n"
            "  missing = oa.store.get('never') == nil})\n");
    ev = take(f, "t.store1");
    assert_int_equal(json_integer_value(json_object_get(ev, "n")), 42);
    assert_true(is_true(ev, "del"));
    assert_true(is_true(ev, "missing"));
    contains(str(ev, "refused"), "function");
    contains(str(ev, "emptykey"), "key");

    /* A new runtime on the same host. */
    oa_lua_free(f->rt);
    new_runtime(f, NULL);
    load_ok(f, "keeper", store_reader);
    check_stored(take(f, "t.store"));
    /* Another script has its own scope. */
    load_ok(f, "other", "oa.emit('t.other', {none = oa.store.get('n') == nil})\n");
    assert_true(is_true(take(f, "t.other"), "none"));

    /* A new host on the same data directory. */
    close_host(f);
    open_host(f);
    load_ok(f, "keeper", store_reader);
    check_stored(take(f, "t.store"));
}

/* ---- log, time, info ------------------------------------------------------ */

/* Finds a ring line with tag and message; returns its level or -1. */
static int log_find(const char *tag, const char *msg)
{
    oa_log_line lines[64];
    uint64_t after = 0;
    size_t n;
    int found = -1;

    do {
        n = oa_log_recent(after, lines, 64);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(lines[i].tag, tag) == 0 && strcmp(lines[i].msg, msg) == 0) {
                found = (int)lines[i].level;
            }
            after = lines[i].seq;
        }
    } while (n > 0);
    return found;
}

static void test_log(void **state)
{
    fx *f = *state;

    load_ok(f, "logger",
            "oa.log.info('hello', 42, true, nil, 1.5)\n"
            "oa.log.warn('careful')\n"
            "oa.log.error('bad', setmetatable({}, {__tostring = function() return 'thing' end}))\n"
            "oa.log.debug('hidden')\n"
            "print('printed', 7)\n");
    assert_int_equal(log_find("lua:logger", "hello 42 true nil 1.5"), OA_LOG_INFO);
    assert_int_equal(log_find("lua:logger", "careful"), OA_LOG_WARN);
    assert_int_equal(log_find("lua:logger", "bad thing"), OA_LOG_ERROR);
    assert_int_equal(log_find("lua:logger", "printed 7"), OA_LOG_INFO);
    assert_int_equal(log_find("lua:logger", "hidden"), -1); /* level is info */
}

static void test_now_script_info(void **state)
{
    fx *f = *state;
    oa_lua_script_info info;
    const char *names[4];
    json_t *ev;
    char err[256];

    load_ok(f, "misc",
            "local t0 = oa.now()\n"
            "oa.emit('t.misc', {int = math.type(t0) == 'integer', pos = t0 >= 0, script = "
            "oa.script})\n");
    ev = take(f, "t.misc");
    assert_true(is_true(ev, "int"));
    assert_true(is_true(ev, "pos"));
    assert_string_equal(str(ev, "script"), "misc");
    ev = take(f, "script.loaded");
    assert_string_equal(str(ev, "script"), "misc");
    assert_true(json_is_false(json_object_get(ev, "reload")));

    load_ok(f, "second", "x = 1\n");
    /* Reloading by a name that points into the record being replaced. */
    assert_int_equal(oa_lua_info(f->rt, "second", &info), 0);
    load_ok(f, info.name, "x = 2\n");
    assert_int_equal(oa_lua_info(f->rt, "misc", &info), 0);
    assert_string_equal(info.name, "misc");
    assert_int_equal(info.running, 1);
    assert_int_equal(info.failures, 0);
    assert_true(info.calls >= 1);
    assert_true(info.memory_bytes > 0 && info.memory_bytes < 4u * 1024 * 1024);
    assert_string_equal(info.last_error, "");
    assert_int_equal(oa_lua_info(f->rt, "nope", &info), OA_ENOENT);
    assert_int_equal(oa_lua_list(f->rt, names, 4), 2);
    assert_string_equal(names[0], "misc");
    assert_string_equal(names[1], "second");
    assert_int_equal(oa_lua_list(f->rt, names, 1), 1);

    assert_int_equal(oa_lua_load(f->rt, "bad name", "x = 1", err, sizeof(err)), OA_EINVAL);
    assert_int_equal(oa_lua_load(f->rt, "", "x = 1", err, sizeof(err)), OA_EINVAL);
    assert_int_equal(
        oa_lua_load(f->rt, "a123456789a123456789a123456789a123456789a123456789a123456789abcde",
                    "x = 1", err, sizeof(err)),
        OA_EINVAL);
}

/* ---- sandbox -------------------------------------------------------------- */

static void test_sandbox(void **state)
{
    fx *f = *state;
    static const char *const escapes[][2] = {
        {"io.open('/etc/passwd')", "io"},
        {"os.execute('true')", "execute"},
        {"os.exit(1)", "exit"},
        {"os.remove('/tmp/x')", "remove"},
        {"package.loadlib('libc.so.6', 'system')", "package"},
        {"debug.sethook()", "debug"},
        {"dofile('/etc/passwd')", "dofile"},
        {"loadfile('/etc/passwd')", "loadfile"},
        {"assert(load(string.dump(function() return 1 end)))", "binary"},
        {"collectgarbage('stop')", "not available"},
        {"setmetatable({}, {__gc = function() while true do end end})", "__gc"},
        {"getmetatable(oa.after(1000, print)).__gc = print", "boolean"},
    };
    char err[4096];
    json_t *ev;
    const char *key;
    json_t *v;

    load_ok(f, "sandbox",
            "local r = {}\n"
            "r.io = io == nil\n"
            "r.os_execute = os.execute == nil\n"
            "r.os_exit = os.exit == nil\n"
            "r.os_getenv = os.getenv == nil\n"
            "r.os_time = type(os.time()) == 'number' and type(os.clock()) == 'number'\n"
            "  and type(os.date('%Y')) == 'string'\n"
            "r.package = package == nil\n"
            "r.debug = debug == nil\n"
            "r.dofile = dofile == nil\n"
            "r.loadfile = loadfile == nil\n"
            "local fn, e = load(string.dump(function() return 1 end))\n"
            "r.bytecode = fn == nil and e:find('binary') ~= nil\n"
            "local fn2 = load(string.dump(function() return 1 end), 'x', 'b')\n"
            "r.bytecode_b = fn2 == nil\n"
            "r.text = load('return 1 + 1')() == 2\n"
            "r.env = load('return x', 'c', 't', {x = 5})() == 5\n"
            "r.gc_count = type(collectgarbage('count')) == 'number'\n"
            "r.gc_collect = collectgarbage() == 0\n"
            "r.gc_stop = not pcall(collectgarbage, 'stop')\n"
            "r.gc_gen = not pcall(collectgarbage, 'generational')\n"
            "r.gc_meta = not pcall(setmetatable, {}, {__gc = function() end})\n"
            "r.meta_ok = getmetatable(setmetatable({}, {__index = {a = 1}})) ~= nil\n"
            "r.timer_mt = getmetatable(oa.after(100000, function() end)) == false\n"
            "r.require_dots = not pcall(require, '../etc/passwd')\n"
            "r.strings = ('x'):rep(3) == 'xxx' and string.format('%d', 3) == '3'\n"
            "local xok, xr = xpcall(function() error('e', 0) end, function(m) return 'got ' .. m "
            "end)\n"
            "local sok, sum = xpcall(function(a, b) return a + b end, print, 2, 3)\n"
            "local hok, hr = xpcall(error, function() error('again', 0) end)\n"
            "r.xpcall = xok == false and xr == 'got e' and sok == true and sum == 5\n"
            "  and hok == false and hr == 'again'\n"
            "local co = coroutine.wrap(function()\n"
            "  return xpcall(function() coroutine.yield(1) return 2 end, print) end)\n"
            "local y1 = co()\n"
            "local y2, y3 = co()\n"
            "r.xpcall_yield = y1 == 1 and y2 == true and y3 == 2\n"
            "r.rep_empty = string.rep('', 1 << 62) == '' and (''):rep(1 << 62, '') == ''\n"
            "  and ('ab'):rep(3, ',') == 'ab,ab,ab'\n"
            "local sparse = {} for k = 40, 0, -1 do sparse[1 << k] = k end\n"
            "r.sparse_len = #sparse == 1 << 40\n"
            "r.move_big = not pcall(table.move, {}, 1, 1 << 40, 2)\n"
            "r.insert_big = not pcall(table.insert, sparse, 1, 'x')\n"
            "r.remove_big = not pcall(table.remove, sparse, 1)\n"
            "r.len_meta = not pcall(table.insert, setmetatable({}, {__len = function() return "
            "1 << 40 end}), 1, 'x')\n"
            "local small = {1, 2, 3} table.insert(small, 1, 0) table.remove(small)\n"
            "r.small = table.concat(table.move(small, 1, 3, 2, {}), ',', 2) == '0,1,2'\n"
            "r.libs = type(table.concat) == 'function' and type(math.floor) == 'function'\n"
            "  and type(utf8.char) == 'function' and type(coroutine.wrap) == 'function'\n"
            "oa.emit('t.sandbox', r)\n");
    ev = take(f, "t.sandbox");
    assert_int_equal(json_object_size(ev), 32);
    json_object_foreach(ev, key, v)
    {
        if (!json_is_true(v)) {
            fail_msg("sandbox check %s failed", key);
        }
    }
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        assert_int_equal(load_err(f, "escape", escapes[i][0], err, sizeof(err)), OA_EFAIL);
        contains(err, escapes[i][1]);
        contains(err, "escape:1:");
    }
    assert_int_equal(oa_lua_info(f->rt, "escape", NULL), OA_EINVAL);
    assert_int_equal(oa_lua_unload(f->rt, "escape"), OA_ENOENT);
}

static void test_memory_bomb(void **state)
{
    fx *f = *state;
    oa_lua_script_info info;
    char err[4096];
    json_t *ev;

    assert_int_equal(load_err(f, "bomb", "local s = string.rep('x', 64 * 1024 * 1024)", err,
                              sizeof(err)),
                     OA_ENOMEM);
    contains(err, "memory");
    assert_int_equal(load_err(f, "bomb", "local t = {} for i = 1, 1e8 do t[i] = i end", err,
                              sizeof(err)),
                     OA_ENOMEM);
    assert_int_equal(
        load_err(f, "bomb", "local s = 'x' while true do s = s .. s end", err, sizeof(err)),
        OA_ENOMEM);
    /* Caught by the script: it goes on within its limit. */
    load_ok(f, "bomb",
            "local ok, e = pcall(string.rep, 'x', 64 * 1024 * 1024)\n"
            "oa.emit('t.caught', {ok = ok, e = tostring(e)})\n"
            "oa.after(1, function() local s = string.rep('y', 64 * 1024 * 1024) end)\n");
    ev = take(f, "t.caught");
    assert_true(json_is_false(json_object_get(ev, "ok")));
    contains(str(ev, "e"), "memory");
    ev = take(f, "script.error");
    assert_string_equal(str(ev, "script"), "bomb");
    contains(str(ev, "error"), "not enough memory");
    assert_int_equal(oa_lua_info(f->rt, "bomb", &info), 0);
    assert_int_equal(info.running, 1);
    assert_int_equal(info.failures, 1);
    assert_true(info.memory_bytes <= 4u * 1024 * 1024);

    /* The host is fine. */
    load_ok(f, "after",
            "oa.emit('t.fine', {echo = oa.call('example-echo', 'echo', {text = 'ok'}).echo})\n");
    assert_string_equal(str(take(f, "t.fine"), "echo"), "hello ok");
}

static void test_budget_main_chunk(void **state)
{
    fx *f = *state;
    static const char *const spins[] = {
        "while true do end",
        "while true do pcall(function() while true do end end) end",
        "while true do xpcall(function() while true do end end, function() while true do end "
        "end) end",
        "local co = coroutine.wrap(function() while true do end end) while true do pcall(co) end",
        "while true do pcall(coroutine.wrap(function() while true do end end)) end",
        "do local x <close> = setmetatable({}, {__close = function() while true do end end}) "
        "while true do end end",
        "local function f() return f() end f()",
        "while true do pcall(error) pcall(pcall, pcall, error) end",
        "local s = setmetatable({}, {__tostring = function() while true do end end}) "
        "while true do pcall(error, s) end",
        "error(setmetatable({}, {__tostring = function() while true do end end}))",
        "while true do xpcall(error, function() while true do end end, "
        "setmetatable({}, {__tostring = function() while true do end end})) end",
        /* Patterns backtrack in C, out of the hook's reach: the matcher
         * checks the budget itself (host/lua_pattern.c). */
        "string.find(string.rep('a', 200000), '.-.-b')",
        "while true do pcall(string.find, string.rep('a', 200000), '.-.-b') end",
        "for w in string.rep('a', 200000):gmatch('.-.-b') do end",
        "string.match(string.rep('a', 200000), '(.-)%1b')",
        "string.gsub(string.rep('ab', 100000), '(.-)%1%1c', '')",
        "string.gsub('abc', '%w', function() while true do end end)",
        "while true do pcall(string.gsub, 'abc', '%w', function() while true do end end) end",
        "string.gsub(string.rep('a', 200000), '', string.rep('%0', 200000))",
        "string.find(string.rep('a', 1000000), string.rep('a', 500000) .. 'b', 1, true)",
        "string.find(string.rep('b', 100000), '[' .. string.rep('a', 100000) .. ']')",
    };
    char err[4096];

    for (size_t i = 0; i < sizeof(spins) / sizeof(spins[0]); i++) {
        int rc = oa_lua_load(f->rt, "spin", spins[i], err, sizeof(err));
        if (rc != OA_ETIMEDOUT) {
            fail_msg("%s: expected a budget stop, got %d: %s", spins[i], rc, err);
        }
        contains(err, "time budget");
        contains(err, "spin:1:");
    }
    /* Nothing was left behind and a good script loads. */
    assert_int_equal(oa_lua_info(f->rt, "spin", &(oa_lua_script_info){0}), OA_ENOENT);
    load_ok(f, "spin", "oa.emit('t.fine', {})\n");
    take(f, "t.fine");
}

static void test_budget_callbacks(void **state)
{
    fx *f = *state;
    oa_lua_script_info info;
    json_t *ev;

    load_ok(f, "spinner",
            "oa.every(10, function() oa.emit('t.beat', {}) end)\n"
            "oa.after(1, function() while true do end end)\n"
            "oa.on('t.spin', function() while true do pcall(function() while true do end end) "
            "end end)\n"
            "oa.on('t.bin', function() error('bad \\255 byte') end)\n"
            "oa.on('t.pat', function() while true do pcall(string.find, string.rep('a', 200000), "
            "'.-.-b') end end)\n");
    ev = take(f, "script.error");
    assert_string_equal(str(ev, "script"), "spinner");
    contains(str(ev, "error"), "spinner:2:");
    contains(str(ev, "error"), "time budget");
    assert_int_equal(oa_lua_info(f->rt, "spinner", &info), 0);
    assert_int_equal(info.running, 1);
    contains(info.last_error, "time budget");

    publish(f, "t.spin", NULL);
    ev = take(f, "script.error");
    contains(str(ev, "error"), "spinner:3:");
    contains(str(ev, "error"), "time budget");

    /* Error text that is not UTF-8 still travels as JSON. */
    publish(f, "t.bin", NULL);
    contains(str(take(f, "script.error"), "error"), "spinner:4: bad ? byte");

    /* A pattern that backtracks in C is stopped as well, pcall or not. */
    publish(f, "t.pat", NULL);
    ev = take(f, "script.error");
    contains(str(ev, "error"), "spinner:5:");
    contains(str(ev, "error"), "time budget");

    /* It keeps running: new heartbeats arrive, and a success resets the
     * count. */
    drop(f, "t.beat");
    take(f, "t.beat");
    take(f, "t.beat");
    assert_int_equal(oa_lua_info(f->rt, "spinner", &info), 0);
    assert_int_equal(info.running, 1);
    assert_int_equal(info.failures, 0);
}

static void test_recursion(void **state)
{
    fx *f = *state;
    static const char *const deep[] = {
        "local function f() return 1 + f() end f()",
        "local t = setmetatable({}, {__index = function(t, k) return t[k] end}) local x = t.a",
        "local function f(...) return f(1, ...) end f()",
        "local function f() local co = coroutine.wrap(f) return co() end f()",
    };
    char err[4096];

    for (size_t i = 0; i < sizeof(deep) / sizeof(deep[0]); i++) {
        int rc = oa_lua_load(f->rt, "deep", deep[i], err, sizeof(err));
        if (rc != OA_EFAIL && rc != OA_ENOMEM && rc != OA_ETIMEDOUT) {
            fail_msg("%s: expected an error, got %d: %s", deep[i], rc, err);
        }
        assert_true(strlen(err) > 0);
    }
    load_ok(f, "deep", "oa.emit('t.fine', {})\n");
    take(f, "t.fine");
}

static void test_require(void **state)
{
    fx *f = *state;
    static const char bytecode[] = "\x1bLuaT\x00\x19\x93\r\n\x1a\n";
    oa_lua *bare;
    char err[4096];
    json_t *ev;

    write_file(f->modules, "util.lua",
               "loads = (loads or 0) + 1\n"
               "local M = {}\n"
               "function M.add(a, b) return a + b end\n"
               "return M\n",
               strlen("loads = (loads or 0) + 1\nlocal M = {}\n"
                      "function M.add(a, b) return a + b end\nreturn M\n"));
    write_file(f->modules, "noret.lua", "x_loaded = ...\n", strlen("x_loaded = ...\n"));
    write_file(f->modules, "binmod.lua", bytecode, sizeof(bytecode) - 1);
    write_file(f->modules, "broken.lua", "error('module fails')\n",
               strlen("error('module fails')\n"));
    write_file(f->dir, "outside.lua", "return 1\n", strlen("return 1\n"));

    load_ok(f, "req",
            "local u = require('util')\n"
            "local u2 = require('util')\n"
            "local r = {same = u == u2, loads = loads, sum = u.add(2, 3)}\n"
            "r.noret = require('noret') == true and x_loaded == 'noret'\n"
            "local function e(name) return select(2, pcall(require, name)) end\n"
            "r.dots, r.upper, r.missing = e('../outside'), e('Util'), e('missing')\n"
            "r.outside, r.binary, r.slash = e('outside'), e('binmod'), e('a/b')\n"
            "r.broken, r.broken2 = e('broken'), e('broken')\n"
            "oa.emit('t.require', r)\n");
    ev = take(f, "t.require");
    assert_true(is_true(ev, "same"));
    assert_int_equal(json_integer_value(json_object_get(ev, "loads")), 1);
    assert_int_equal(json_integer_value(json_object_get(ev, "sum")), 5);
    assert_true(is_true(ev, "noret"));
    contains(str(ev, "dots"), "not allowed");
    contains(str(ev, "upper"), "not allowed");
    contains(str(ev, "slash"), "not allowed");
    contains(str(ev, "missing"), "not found");
    contains(str(ev, "outside"), "not found");
    contains(str(ev, "binary"), "binary");
    contains(str(ev, "broken"), "module fails");
    contains(str(ev, "broken2"), "failed to load earlier");

    /* Without a modules directory, require finds nothing. */
    assert_int_equal(oa_lua_new(&f->h, NULL, NULL, &bare), 0);
    assert_int_equal(oa_lua_load(bare, "req", "require('util')", err, sizeof(err)), OA_EFAIL);
    contains(err, "no modules directory");
    oa_lua_free(bare);
}

/* ---- failure policy, reload, unload ------------------------------------ */

static void fail_n(fx *f, int n, unsigned first)
{
    char buf[64];
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof(buf), "{\"n\":%d}", i);
        publish(f, "t.fail", buf);
    }
    for (int i = 0; i < n; i++) {
        json_t *ev = take(f, "script.error");
        assert_string_equal(str(ev, "script"), "failing");
        contains(str(ev, "error"), "failing:3: boom");
        contains(str(ev, "error"), "stack traceback");
        assert_int_equal(json_integer_value(json_object_get(ev, "failures")), first + (unsigned)i);
    }
}

static void test_failure_policy(void **state)
{
    fx *f = *state;
    oa_lua_script_info info;
    const char *names[2];
    json_t *ev;

    load_ok(f, "failing",
            "oa.on('t.fail', function(topic, d)\n"
            "  if d.ok then oa.emit('t.okseen', {}) return end\n"
            "  error('boom ' .. d.n)\n"
            "end)\n"
            "oa.every(1000000, function() end)\n");
    fail_n(f, 4, 1);
    assert_int_equal(oa_lua_info(f->rt, "failing", &info), 0);
    assert_int_equal(info.failures, 4);
    assert_int_equal(info.running, 1);
    contains(info.last_error, "boom 3");

    publish(f, "t.fail", "{\"ok\":true}");
    take(f, "t.okseen");
    assert_int_equal(oa_lua_info(f->rt, "failing", &info), 0);
    assert_int_equal(info.failures, 0);

    fail_n(f, 4, 1);
    assert_int_equal(f->disabled_calls, 0);
    fail_n(f, 1, 5);
    ev = take(f, "script.disabled");
    assert_string_equal(str(ev, "script"), "failing");
    contains(str(ev, "reason"), "boom 0");
    contains(str(ev, "reason"), "5");
    assert_int_equal(f->disabled_calls, 1);
    assert_string_equal(f->disabled_name, "failing");
    contains(f->disabled_reason, "boom 0");
    assert_int_equal(oa_lua_info(f->rt, "failing", &info), 0);
    assert_int_equal(info.running, 0);
    assert_int_equal(info.memory_bytes, 0);
    contains(info.last_error, "boom");
    assert_true(log_find("lua:failing", f->disabled_reason) == OA_LOG_ERROR);

    /* Disabled means unloaded: nothing more reaches it. */
    publish(f, "t.fail", "{\"n\":9}");
    settle(f);
    assert_null(find(f, "script.error"));
    assert_int_equal(oa_lua_list(f->rt, names, 2), 1);
    assert_int_equal(oa_lua_unload(f->rt, "failing"), OA_ENOENT);
    assert_int_equal(oa_lua_info(f->rt, "failing", &info), OA_ENOENT);
    assert_int_equal(oa_lua_list(f->rt, names, 2), 0);
}

static void test_failure_limit_setting(void **state)
{
    fx *f = *state;
    oa_lua_limits limits = {.max_failures = 2};

    oa_lua_free(f->rt);
    new_runtime(f, &limits);
    load_ok(f, "failing",
            "oa.on('t.fail', function(topic, d)\n"
            "  local x = 1\n"
            "  error('boom ' .. d.n)\n"
            "end)\n");
    fail_n(f, 2, 1);
    take(f, "script.disabled");
    assert_int_equal(f->disabled_calls, 1);
}

static int beat_is(json_t *ev, int v)
{
    return json_integer_value(json_object_get(ev, "v")) == v;
}

static void test_reload_atomic(void **state)
{
    fx *f = *state;
    oa_lua_script_info info;
    char err[4096];
    json_t *ev;

    load_ok(f, "reloader", "oa.every(10, function() oa.emit('t.beat', {v = 1}) end)\n");
    assert_true(beat_is(take(f, "t.beat"), 1));

    assert_int_equal(load_err(f, "reloader",
                              "oa.every(10, function() oa.emit('t.beat', {v = 2}) end)\n"
                              "this is not lua\n",
                              err, sizeof(err)),
                     OA_EINVAL);
    contains(err, "reloader:2:");
    assert_true(beat_is(take(f, "t.beat"), 1));

    assert_int_equal(load_err(f, "reloader",
                              "oa.every(10, function() oa.emit('t.beat', {v = 3}) end)\n"
                              "oa.on('t.ping', function() oa.emit('t.pong3', {}) end)\n"
                              "error('main chunk fails')\n",
                              err, sizeof(err)),
                     OA_EFAIL);
    contains(err, "reloader:3: main chunk fails");
    contains(err, "stack traceback");
    assert_int_equal(load_err(f, "reloader",
                              "oa.every(10, function() oa.emit('t.beat', {v = 4}) end)\n"
                              "while true do end\n",
                              err, sizeof(err)),
                     OA_ETIMEDOUT);
    assert_int_equal(load_err(f, "reloader",
                              "oa.every(10, function() oa.emit('t.beat', {v = 5}) end)\n"
                              "local s = string.rep('x', 1 << 30)\n",
                              err, sizeof(err)),
                     OA_ENOMEM);
    for (int i = 0; i < 5; i++) {
        assert_true(beat_is(take(f, "t.beat"), 1));
    }
    publish(f, "t.ping", NULL);
    settle(f);
    assert_null(find(f, "t.pong3"));
    assert_int_equal(oa_lua_info(f->rt, "reloader", &info), 0);
    assert_int_equal(info.running, 1);
    assert_string_equal(info.last_error, "");

    drop(f, "script.loaded");
    load_ok(f, "reloader", "oa.every(10, function() oa.emit('t.beat', {v = 6}) end)\n");
    ev = take(f, "script.loaded");
    assert_string_equal(str(ev, "script"), "reloader");
    assert_true(is_true(ev, "reload"));
    for (;;) {
        if (beat_is(take(f, "t.beat"), 6)) {
            break;
        }
    }
    for (int i = 0; i < 3; i++) {
        assert_true(beat_is(take(f, "t.beat"), 6));
    }
}

static void test_unload_ends_resources(void **state)
{
    fx *f = *state;
    oa_bus_stats before;
    oa_bus_stats after;
    const char *names[2];

    oa_bus_get_stats(f->h.bus, &before);
    load_ok(f, "temp",
            "oa.every(10, function() oa.emit('t.beat', {}) end)\n"
            "oa.after(30, function() oa.emit('t.late', {}) end)\n"
            "oa.on('t.ping', function() oa.emit('t.pong', {}) end)\n"
            "oa.on('t.*', function() end)\n");
    take(f, "t.beat");
    publish(f, "t.ping", NULL);
    take(f, "t.pong");
    assert_int_equal(oa_lua_unload(f->rt, "temp"), 0);
    assert_string_equal(str(take(f, "script.unloaded"), "script"), "temp");
    oa_bus_get_stats(f->h.bus, &after);
    assert_int_equal(after.subscribers, before.subscribers);

    settle(f);
    drop(f, "t.beat");
    drop(f, "t.late");
    wait_timer(f, 60);
    publish(f, "t.ping", NULL);
    settle(f);
    assert_null(find(f, "t.beat"));
    assert_null(find(f, "t.late"));
    assert_null(find(f, "t.pong"));
    assert_int_equal(oa_lua_unload(f->rt, "temp"), OA_ENOENT);
    assert_int_equal(oa_lua_list(f->rt, names, 2), 0);

    /* A script that ends itself from its own callbacks, and free with
     * scripts still running: both leave nothing open (teardown checks). */
    load_ok(f, "selfish",
            "local t\n"
            "t = oa.every(10, function() t:cancel() oa.emit('t.once', {}) end)\n"
            "local id\n"
            "id = oa.on('t.ping', function() oa.off(id) oa.emit('t.pong', {}) end)\n"
            "oa.every(10000, function() end)\n");
    take(f, "t.once");
    publish(f, "t.ping", NULL);
    publish(f, "t.ping", NULL);
    take(f, "t.pong");
    settle(f);
    assert_null(find(f, "t.pong"));
    wait_timer(f, 30);
    assert_null(find(f, "t.once"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_emit_encoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plugins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_now_script_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_bomb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_main_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_callbacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recursion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_require, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_limit_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unload_ends_resources, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Script management (host/scripts.h) and its admin routes on a real host:
 * example-echo loaded from the build and running, the real Lua runtime, a
 * real SQLite store in a temporary data directory (reopened to check what
 * persists), the shipped examples of <source>/scripts/lua, and requests
 * routed through the dispatcher without sockets. Waits run the loop with a
 * generous safety bound and never assert durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"
#include "lua.h"
#include "scripts.h"
#include "testutil.h"
#include "testutil_host.h"

#define ECHO_PLUGIN "example-echo"
#define WAIT_MS 10000 /* safety bound of a wait; never asserted */
#define NLOG 100

typedef struct fx {
    char *dir;
    char *plugins;
    char *examples; /* <source tree>/scripts/lua */
    oa_host h;
    oa_lua *L;
    oa_scripts *s;
    int is_open;
    uint64_t log_mark; /* log lines up to this seq belong to earlier tests */
    char states[64][16]; /* example-echo's plugin.state events, in order */
    size_t nstates;
} fx;

/* ---- fixture ------------------------------------------------------------ */

/* The source tree, from the build's CMakeCache.txt. */
static char *source_dir(void)
{
    static const char key[] = "CMAKE_HOME_DIRECTORY:INTERNAL=";
    char *cache = oa_test_build_path("CMakeCache.txt");
    char line[4096];
    char *out = NULL;
    FILE *fp = fopen(cache, "r");

    assert_non_null(fp);
    while (out == NULL && fgets(line, sizeof(line), fp) != NULL) {
        if (strncmp(line, key, sizeof(key) - 1) == 0) {
            line[strcspn(line, "\r\n")] = '\0';
            out = strdup(line + sizeof(key) - 1);
        }
    }
    fclose(fp);
    free(cache);
    assert_non_null(out);
    return out;
}

static void on_state(void *arg, const char *topic, const char *json, size_t len)
{
    fx *f = arg;
    json_t *j = json_loadb(json, len, 0, NULL);
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *state = json_string_value(json_object_get(j, "state"));

    (void)topic;
    if (name != NULL && state != NULL && strcmp(name, ECHO_PLUGIN) == 0 &&
        f->nstates < sizeof(f->states) / sizeof(f->states[0])) {
        snprintf(f->states[f->nstates++], sizeof(f->states[0]), "%s", state);
    }
    json_decref(j);
}

/* Opens the host (engine, dispatcher without sockets), starts its plugins
 * and sets up scripts over a new runtime, importing from examples. */
static void fx_open(fx *f, const char *examples)
{
    oa_test_host_open(&f->h, f->dir, f->plugins, OA_HTTP_DISPATCH);
    assert_int_equal(oa_registry_start_all(f->h.reg), 1);
    assert_int_equal(oa_bus_subscribe(f->h.bus, "plugin.state", on_state, f, NULL, NULL), 0);
    assert_int_equal(oa_lua_new(&f->h, NULL, NULL, &f->L), 0);
    assert_int_equal(oa_scripts_open(&f->h, f->L, examples, &f->s), 0);
    assert_int_equal(oa_admin_scripts_register(&f->h, f->s), 0);
    assert_int_equal(oa_admin_scripts_register(&f->h, f->s), OA_EEXIST);
    f->nstates = 0;
    f->is_open = 1;
}

/* Closes in the order the engine does: scripts, runtime, host; the loop
 * must close with nothing left open. */
static void fx_close(fx *f)
{
    if (!f->is_open) {
        return;
    }
    oa_scripts_close(f->s);
    oa_lua_free(f->L);
    assert_int_equal(oa_host_close(&f->h), 0);
    f->s = NULL;
    f->L = NULL;
    f->is_open = 0;
}

static void fx_reopen(fx *f)
{
    fx_close(f);
    fx_open(f, f->examples);
}

/* The newest log seq now. */
static uint64_t log_last(void)
{
    oa_log_line chunk[64];
    uint64_t last = 0;
    size_t got;

    for (;;) {
        got = oa_log_recent(last, chunk, 64);
        if (got == 0) {
            return last;
        }
        last = chunk[got - 1].seq;
    }
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    char *src;

    assert_non_null(f);
    oa_log_init(OA_LOG_INFO, 0, 0);
    f->dir = oa_test_tmpdir();
    f->plugins = oa_test_build_path("tests/echo-plugins");
    src = source_dir();
    f->examples = oa_test_path(src, "scripts/lua");
    free(src);
    f->log_mark = log_last();
    fx_open(f, f->examples);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    fx_close(f);
    oa_test_rmtree(f->dir);
    free(f->dir);
    free(f->plugins);
    free(f->examples);
    free(f);
    return 0;
}

/* ---- waiting ----------------------------------------------------------- */

typedef int (*pred_fn)(fx *f, const void *arg);

/* Runs the loop until pred holds (1) or the safety bound passes (0). */
static int run_until(fx *f, pred_fn pred, const void *arg)
{
    uint64_t end = uv_hrtime() + (uint64_t)WAIT_MS * 1000000u;

    for (;;) {
        uv_run(f->h.loop, UV_RUN_NOWAIT);
        if (pred(f, arg)) {
            return 1;
        }
        if (uv_hrtime() > end) {
            return 0;
        }
        usleep(1000);
    }
}

/* Runs the loop for about ms milliseconds. */
static void run_for(fx *f, unsigned ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;

    while (uv_hrtime() < end) {
        uv_run(f->h.loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

typedef struct log_want {
    const char *script;
    const char *text;
} log_want;

/* How many lines of this test the script logged containing text. */
static int log_count(fx *f, const char *script, const char *text)
{
    oa_log_line *lines = calloc(NLOG, sizeof(*lines));
    uint64_t after = f->log_mark;
    char tag[sizeof(lines[0].tag)];
    int hits = 0;
    size_t n;

    assert_non_null(lines);
    snprintf(tag, sizeof(tag), "lua:%s", script);
    for (;;) {
        n = oa_log_recent(after, lines, NLOG);
        if (n == 0) {
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (strcmp(lines[i].tag, tag) == 0 && strstr(lines[i].msg, text) != NULL) {
                hits++;
            }
        }
        after = lines[n - 1].seq;
    }
    free(lines);
    return hits;
}

static int pred_logged(fx *f, const void *arg)
{
    const log_want *w = arg;
    return log_count(f, w->script, w->text) > 0;
}

static void wait_log(fx *f, const char *script, const char *text)
{
    log_want w = {script, text};
    if (!run_until(f, pred_logged, &w)) {
        fail_msg("script %s never logged '%s'", script, text);
    }
}

/* ---- requests ------------------------------------------------------------- */

/* Dispatches a request as the token user "tester", checks the status and
 * returns the parsed JSON. */
static json_t *call(fx *f, const char *method, const char *path, const char *body, int status)
{
    return oa_test_call(f->h.http, method, path, body, status);
}

/* PUT /api/scripts/{name} with {"source": source[, "enabled": enabled]}
 * (enabled -1 leaves it out). */
static json_t *put(fx *f, const char *name, const char *source, int enabled, int status)
{
    json_t *body = json_pack("{s:s}", "source", source);
    char path[128];
    char *txt;
    json_t *j;

    if (enabled >= 0) {
        json_object_set_new(body, "enabled", json_boolean(enabled));
    }
    txt = json_dumps(body, JSON_COMPACT);
    snprintf(path, sizeof(path), "/api/scripts/%s", name);
    j = call(f, "PUT", path, txt, status);
    free(txt);
    json_decref(body);
    return j;
}

/* GET /api/scripts/{name} (200). */
static json_t *get(fx *f, const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/scripts/%s", name);
    return call(f, "GET", path, NULL, 200);
}

static json_t *post(fx *f, const char *name, const char *action, int status)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/scripts/%s/%s", name, action);
    return call(f, "POST", path, NULL, status);
}

/* Checks {"error": {"code": code, "message": "..."}} and returns the
 * error object's line (0 when absent); frees j. */
static int expect_error(json_t *j, const char *code)
{
    json_t *e = json_object_get(j, "error");
    json_t *line;
    int n = 0;

    assert_true(json_is_object(e));
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    assert_true(json_string_length(json_object_get(e, "message")) > 0);
    line = json_object_get(e, "line");
    if (line != NULL) {
        assert_true(json_is_integer(line));
        n = (int)json_integer_value(line);
    }
    json_decref(j);
    return n;
}

static int jbool(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v)) {
        fail_msg("'%s' is not a boolean", key);
    }
    return json_is_true(v);
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) {
        fail_msg("'%s' is not a string", key);
    }
    return json_string_value(v);
}

/* The stored row's enabled flag, read straight from the store. */
static int stored_enabled(fx *f, const char *name)
{
    oa_script_view v;
    int en;
    assert_int_equal(oa_scripts_get(f->s, name, &v), 0);
    en = v.enabled;
    oa_script_view_free(&v);
    return en;
}

static char *read_text(const char *dir, const char *file)
{
    char *path = oa_test_path(dir, file);
    FILE *fp = fopen(path, "rb");
    char *buf = calloc(1, 65536);
    size_t n;

    assert_non_null(fp);
    assert_non_null(buf);
    n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    fclose(fp);
    free(path);
    return buf;
}

/* Replaces the one occurrence of from in src (which must be there). */
static char *replace(const char *src, const char *from, const char *to)
{
    const char *at = strstr(src, from);
    size_t n = strlen(src) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);

    if (at == NULL) {
        fail_msg("'%s' is not in the example", from);
    }
    assert_non_null(out);
    memcpy(out, src, (size_t)(at - src));
    snprintf(out + (at - src), n - (size_t)(at - src), "%s%s", to, at + strlen(from));
    return out;
}

static const char HELLO[] = "-- hello: answers test.ping\n"
                            "oa.log.info('hello v1 loaded')\n"
                            "oa.on('test.ping', function(topic, ev)\n"
                            "  oa.log.info('pong v1 ' .. tostring(ev.n))\n"
                            "end)\n";

/* ---- seeding -------------------------------------------------------------- */

static void test_seed_examples_once(void **state)
{
    fx *f = *state;
    static const char *const names[] = {"event_logger", "scheduler", "watchdog"};
    json_t *j = call(f, "GET", "/api/scripts", NULL, 200);
    json_t *list = json_object_get(j, "scripts");
    char *file;

    assert_int_equal(json_array_size(list), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *o = json_array_get(list, i);
        assert_string_equal(jstr(o, "name"), names[i]);
        assert_false(jbool(o, "enabled"));
        assert_false(jbool(o, "running"));
        assert_int_equal(json_integer_value(json_object_get(o, "failures")), 0);
        assert_true(json_is_null(json_object_get(o, "last_error")));
        assert_null(json_object_get(o, "source")); /* not in listings */
    }
    json_decref(j);

    j = get(f, "watchdog");
    file = read_text(f->examples, "watchdog.lua");
    assert_string_equal(jstr(j, "source"), file);
    assert_true(json_is_array(json_object_get(j, "log")));
    assert_int_equal(log_count(f, "watchdog", ""), 0); /* never ran */
    free(file);
    json_decref(j);

    /* A deleted example is not imported again. */
    json_decref(call(f, "DELETE", "/api/scripts/scheduler", NULL, 200));
    fx_reopen(f);
    j = call(f, "GET", "/api/scripts", NULL, 200);
    list = json_object_get(j, "scripts");
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(jstr(json_array_get(list, 0), "name"), "event_logger");
    assert_string_equal(jstr(json_array_get(list, 1), "name"), "watchdog");
    json_decref(j);
}

static void test_seed_waits_for_examples(void **state)
{
    fx *f = *state;
    oa_script_view *v = NULL;
    size_t n = 99;

    /* A fresh data directory opened without examples imports nothing... */
    fx_close(f);
    oa_test_rmtree(f->dir);
    free(f->dir);
    f->dir = oa_test_tmpdir();
    fx_open(f, NULL);
    assert_int_equal(oa_scripts_list(f->s, &v, &n), 0);
    assert_int_equal(n, 0);
    oa_script_views_free(v, n);
    /* ...and the first start that has them does. */
    fx_reopen(f);
    assert_int_equal(oa_scripts_list(f->s, &v, &n), 0);
    assert_int_equal(n, 3);
    oa_script_views_free(v, n);
}

/* ---- changes and persistence ------------------------------------------ */

static void test_put_enable_disable_delete_persist(void **state)
{
    fx *f = *state;
    json_t *j = put(f, "hello", HELLO, -1, 200);
    json_t *s = json_object_get(j, "script");

    /* A new script is enabled by default and runs at once. */
    assert_true(jbool(j, "ok"));
    assert_string_equal(jstr(s, "name"), "hello");
    assert_true(jbool(s, "enabled"));
    assert_true(jbool(s, "running"));
    assert_string_equal(jstr(s, "source"), HELLO);
    json_decref(j);
    wait_log(f, "hello", "hello v1 loaded");
    oa_host_publish(&f->h, "test.ping", "{\"n\":1}");
    wait_log(f, "hello", "pong v1 1");

    /* The log comes with the script. */
    j = get(f, "hello");
    {
        json_t *log = json_object_get(j, "log");
        json_t *line;
        size_t i;
        int seen = 0;
        assert_true(json_array_size(log) >= 2);
        json_array_foreach(log, i, line) {
            assert_true(json_is_integer(json_object_get(line, "seq")));
            assert_non_null(strchr(jstr(line, "time"), 'T'));
            if (strcmp(jstr(line, "msg"), "pong v1 1") == 0) {
                assert_string_equal(jstr(line, "level"), "info");
                seen = 1;
            }
        }
        assert_true(seen);
    }
    json_decref(j);

    /* Enabled scripts load when the host opens. */
    fx_reopen(f);
    j = get(f, "hello");
    assert_true(jbool(j, "enabled"));
    assert_true(jbool(j, "running"));
    json_decref(j);
    oa_host_publish(&f->h, "test.ping", "{\"n\":2}");
    wait_log(f, "hello", "pong v1 2");

    /* Disable stops it and is stored. */
    j = post(f, "hello", "disable", 200);
    assert_true(jbool(j, "ok"));
    assert_false(jbool(json_object_get(j, "script"), "enabled"));
    assert_false(jbool(json_object_get(j, "script"), "running"));
    json_decref(j);
    oa_host_publish(&f->h, "test.ping", "{\"n\":3}");
    run_for(f, 50);
    assert_int_equal(log_count(f, "hello", "pong v1 3"), 0);
    fx_reopen(f);
    j = get(f, "hello");
    assert_false(jbool(j, "enabled"));
    assert_false(jbool(j, "running"));
    json_decref(j);

    /* Enable loads it and is stored; enabling again changes nothing. */
    j = post(f, "hello", "enable", 200);
    assert_true(jbool(json_object_get(j, "script"), "running"));
    json_decref(j);
    json_decref(post(f, "hello", "enable", 200));
    /* Loaded by the PUT, the reopen and the first enable only. */
    assert_int_equal(log_count(f, "hello", "hello v1 loaded"), 3);
    fx_reopen(f);
    j = get(f, "hello");
    assert_true(jbool(j, "enabled"));
    assert_true(jbool(j, "running"));
    json_decref(j);

    /* A script stored disabled does not run, not even its main chunk. */
    j = put(f, "quiet", "oa.log.info('quiet ran')\n", 0, 200);
    assert_false(jbool(json_object_get(j, "script"), "enabled"));
    assert_false(jbool(json_object_get(j, "script"), "running"));
    json_decref(j);
    assert_int_equal(log_count(f, "quiet", "quiet ran"), 0);
    /* Replacing the source keeps the flag when "enabled" is left out. */
    json_decref(put(f, "quiet", "oa.log.info('quiet v2 ran')\n", -1, 200));
    assert_false(stored_enabled(f, "quiet"));

    /* Delete stops and removes it, for good. */
    j = call(f, "DELETE", "/api/scripts/hello", NULL, 200);
    assert_true(jbool(j, "ok"));
    json_decref(j);
    expect_error(call(f, "GET", "/api/scripts/hello", NULL, 404), "not_found");
    oa_host_publish(&f->h, "test.ping", "{\"n\":4}");
    run_for(f, 50);
    assert_int_equal(log_count(f, "hello", "pong v1 4"), 0);
    fx_reopen(f);
    expect_error(call(f, "GET", "/api/scripts/hello", NULL, 404), "not_found");
    expect_error(call(f, "DELETE", "/api/scripts/hello", NULL, 404), "not_found");
    expect_error(post(f, "hello", "enable", 404), "not_found");
    expect_error(post(f, "hello", "disable", 404), "not_found");
}

static void test_bad_put_keeps_old(void **state)
{
    fx *f = *state;
    static const char broken[] = "-- broken\nlocal x = 1\nlocal y = = 2\n";
    static const char throws[] = "local x = 1\nerror('boom at two')\n";
    json_t *j;
    json_t *e;
    oa_script_view v;

    json_decref(put(f, "hello", HELLO, 1, 200));

    /* A syntax error: the line, the message, nothing changed. */
    j = put(f, "hello", broken, -1, 400);
    e = json_object_get(j, "error");
    assert_non_null(strstr(jstr(e, "message"), "hello:3:"));
    assert_int_equal(strncmp(jstr(e, "message"), "hello:3:", 8), 0);
    assert_int_equal(expect_error(j, "invalid_value"), 3);
    /* A main chunk that fails at run time. */
    j = put(f, "hello", throws, 1, 400);
    assert_non_null(strstr(jstr(json_object_get(j, "error"), "message"), "hello:2: boom at two"));
    assert_int_equal(expect_error(j, "invalid_value"), 2);
    /* Stored disabled, it is still compiled first. */
    assert_int_equal(expect_error(put(f, "hello", broken, 0, 400), "invalid_value"), 3);
    /* A name the runtime would take but scripts do not. */
    expect_error(put(f, "Hello", HELLO, 1, 400), "invalid_value");

    /* The old script is stored and still answers. */
    assert_int_equal(oa_scripts_get(f->s, "hello", &v), 0);
    assert_string_equal(v.source, HELLO);
    assert_true(v.enabled);
    assert_true(v.running);
    oa_script_view_free(&v);
    oa_host_publish(&f->h, "test.ping", "{\"n\":7}");
    wait_log(f, "hello", "pong v1 7");
    fx_reopen(f);
    j = get(f, "hello");
    assert_string_equal(jstr(j, "source"), HELLO);
    assert_true(jbool(j, "running"));
    json_decref(j);

    /* Enable refuses a stored script that does not load; it stays off. */
    json_decref(put(f, "lazy", "oa.log.info('lazy')\n\nerror('not today')\n", 0, 200));
    j = post(f, "lazy", "enable", 400);
    assert_non_null(strstr(jstr(json_object_get(j, "error"), "message"), "lazy:3: not today"));
    assert_int_equal(expect_error(j, "invalid_value"), 3);
    j = get(f, "lazy");
    assert_false(jbool(j, "enabled"));
    assert_false(jbool(j, "running"));
    json_decref(j);

    /* The error line helper. */
    assert_int_equal(oa_scripts_error_line("x:12: oops\nstack traceback:\n\tx:3: in"), 12);
    assert_int_equal(oa_scripts_error_line("x: not enough memory"), 0);
    assert_int_equal(oa_scripts_error_line(NULL), 0);
}

/* An enabled script whose source no longer loads (a module it needs is
 * gone, say) is reported at open without failing the host. */
static void test_load_error_at_open(void **state)
{
    fx *f = *state;
    json_t *j;

    json_decref(put(f, "moody", "if oa.store.get('fail') then error('told to fail') end\n"
                                "oa.store.set('fail', true)\n", 1, 200));
    fx_reopen(f);
    j = get(f, "moody");
    assert_true(jbool(j, "enabled"));
    assert_false(jbool(j, "running"));
    assert_non_null(strstr(jstr(j, "last_error"), "moody:1: told to fail"));
    json_decref(j);
}

/* ---- routes ------------------------------------------------------------- */

static void test_routes(void **state)
{
    fx *f = *state;
    char longname[128];

    expect_error(call(f, "GET", "/api/scripts/nosuch", NULL, 404), "not_found");
    expect_error(call(f, "GET", "/api/scripts/Bad.Name", NULL, 404), "not_found");
    snprintf(longname, sizeof(longname), "/api/scripts/");
    memset(longname + strlen(longname), 'a', 65);
    longname[strlen("/api/scripts/") + 65] = '\0';
    expect_error(call(f, "GET", longname, NULL, 404), "not_found");
    expect_error(call(f, "GET", "/api/scripts/watchdog/nothing", NULL, 404), "not_found");
    expect_error(call(f, "POST", "/api/scripts/watchdog/enable/x", NULL, 404), "not_found");
    expect_error(call(f, "GET", "/api/scripts//enable", NULL, 404), "not_found");
    json_decref(call(f, "HEAD", "/api/scripts/watchdog", NULL, 200));
    json_decref(call(f, "GET", "/api/scripts/", NULL, 200));

    expect_error(call(f, "POST", "/api/scripts", NULL, 405), "method_not_allowed");
    expect_error(call(f, "PATCH", "/api/scripts/watchdog", "{}", 405), "method_not_allowed");
    expect_error(call(f, "GET", "/api/scripts/watchdog/enable", NULL, 405),
                 "method_not_allowed");

    expect_error(call(f, "PUT", "/api/scripts/x", NULL, 400), "bad_json");
    expect_error(call(f, "PUT", "/api/scripts/x", "{\"source\": 5}", 400), "bad_request");
    expect_error(call(f, "PUT", "/api/scripts/x", "[1]", 400), "bad_request");
    expect_error(call(f, "PUT", "/api/scripts/x", "{\"source\": \"\", \"enabled\": \"yes\"}",
                      400),
                 "bad_request");
    expect_error(call(f, "PUT", longname, "{\"source\": \"\"}", 400), "invalid_value");

    /* Nothing was changed, so nothing was audited. */
    {
        json_t *j = call(f, "GET", "/api/audit", NULL, 200);
        assert_int_equal(json_array_size(json_object_get(j, "entries")), 0);
        json_decref(j);
    }
    /* Everything needs a login. */
    {
        oa_http_req *req = oa_test_req("GET", "/api/scripts", NULL);
        req->auth = OA_AUTH_NONE;
        req->user[0] = '\0';
        oa_http_dispatch(f->h.http, req);
        assert_int_equal(req->status, 401);
        oa_http_req_free(req);
    }
}

static void test_audit_entries(void **state)
{
    fx *f = *state;
    static const struct {
        const char *action;
        const char *detail;
    } want[] = {
        {"script.delete", "hello"},  {"script.disable", "hello"},
        {"script.enable", "hello"},  {"script.put", "hello (refused: hello:1:"},
        {"script.put", "hello"},
    };
    json_t *j;
    json_t *entries;

    json_decref(put(f, "hello", HELLO, 1, 200));
    json_decref(put(f, "hello", "nonsense here", 1, 400));
    json_decref(post(f, "hello", "enable", 200));
    json_decref(post(f, "hello", "disable", 200));
    json_decref(call(f, "DELETE", "/api/scripts/hello", NULL, 200));
    j = call(f, "GET", "/api/audit", NULL, 200);
    entries = json_object_get(j, "entries");
    assert_int_equal(json_array_size(entries), 5);
    for (size_t i = 0; i < 5; i++) {
        json_t *e = json_array_get(entries, i);
        assert_string_equal(jstr(e, "action"), want[i].action);
        assert_int_equal(strncmp(jstr(e, "detail"), want[i].detail, strlen(want[i].detail)), 0);
        assert_string_equal(jstr(e, "who"), "tester");
        assert_string_equal(jstr(e, "client"), "127.0.0.1");
    }
    json_decref(j);
}

/* ---- the failure policy ------------------------------------------------- */

static int pred_not_running(fx *f, const void *arg)
{
    oa_lua_script_info info;
    return oa_lua_info(f->L, arg, &info) == 0 && !info.running;
}

static void test_failure_policy_disables(void **state)
{
    fx *f = *state;
    json_t *j;
    json_t *e;

    json_decref(put(f, "flaky", "oa.every(10, function()\n  error('tick failed')\nend)\n", 1,
                    200));
    assert_true(run_until(f, pred_not_running, "flaky"));
    j = get(f, "flaky");
    assert_false(jbool(j, "enabled"));
    assert_false(jbool(j, "running"));
    assert_non_null(strstr(jstr(j, "last_error"), "flaky:2: tick failed"));
    assert_non_null(strstr(jstr(j, "last_error"), "disabled after 5"));
    json_decref(j);
    assert_false(stored_enabled(f, "flaky"));

    /* The engine did it: an audit entry without a user. */
    j = call(f, "GET", "/api/audit", NULL, 200);
    e = json_array_get(json_object_get(j, "entries"), 0);
    assert_string_equal(jstr(e, "action"), "script.disable");
    assert_true(json_is_null(json_object_get(e, "who")));
    assert_int_equal(strncmp(jstr(e, "detail"), "flaky (by the engine: ", 22), 0);
    json_decref(j);

    /* It stays off across a restart and can be enabled again. */
    fx_reopen(f);
    j = get(f, "flaky");
    assert_false(jbool(j, "running"));
    assert_non_null(strstr(jstr(j, "last_error"), "tick failed"));
    json_decref(j);
    j = post(f, "flaky", "enable", 200);
    assert_true(jbool(json_object_get(j, "script"), "running"));
    assert_true(json_is_null(json_object_get(json_object_get(j, "script"), "last_error")));
    json_decref(j);
    json_decref(post(f, "flaky", "disable", 200));
}

/* ---- the shipped examples ------------------------------------------------ */

static int64_t echo_stat(fx *f, const char *key)
{
    char *out = NULL;
    json_t *j;
    int64_t v;

    assert_int_equal(oa_registry_command(f->h.reg, ECHO_PLUGIN, "stats", "{}", &out), 0);
    j = json_loads(out, 0, NULL);
    assert_non_null(j);
    v = json_integer_value(json_object_get(j, key));
    json_decref(j);
    free(out);
    return v;
}

static void echo_once(fx *f)
{
    char *out = NULL;
    assert_int_equal(oa_registry_command(f->h.reg, ECHO_PLUGIN, "echo", "{\"text\":\"x\"}", &out),
                     0);
    free(out);
}

static void test_example_watchdog(void **state)
{
    fx *f = *state;
    static const char bad[] = "{\"name\":\"" ECHO_PLUGIN "\",\"health\":\"bad\",\"detail\":{}}";
    json_t *j = post(f, "watchdog", "enable", 200);
    size_t before;

    assert_true(jbool(json_object_get(j, "script"), "running"));
    json_decref(j);
    wait_log(f, "watchdog", "watching plugin health");
    echo_once(f);
    assert_int_equal(echo_stat(f, "echoes"), 1);
    run_for(f, 20);
    f->nstates = 0;

    /* Bad health: the plugin is restarted (a fresh instance counts from 0). */
    oa_host_publish(&f->h, "plugin.health", bad);
    wait_log(f, "watchdog", "restarted plugin " ECHO_PLUGIN);
    run_for(f, 20);
    assert_true(f->nstates >= 2);
    assert_string_equal(f->states[f->nstates - 1], "running");
    assert_string_not_equal(f->states[0], "running");
    assert_int_equal(echo_stat(f, "echoes"), 0);
    assert_int_equal(log_count(f, "watchdog", "reports bad health; restarting it"), 1);

    /* Again within the minute: left alone, and said so. */
    before = f->nstates;
    echo_once(f);
    oa_host_publish(&f->h, "plugin.health", bad);
    wait_log(f, "watchdog", "not restarting it before 60 s");
    run_for(f, 20);
    assert_int_equal(f->nstates, before);
    assert_int_equal(echo_stat(f, "echoes"), 1);
    /* Other health values and other plugins' names do nothing. */
    oa_host_publish(&f->h, "plugin.health",
                    "{\"name\":\"" ECHO_PLUGIN "\",\"health\":\"degraded\",\"detail\":{}}");
    oa_host_publish(&f->h, "plugin.health", "{\"name\":\"nosuch\",\"health\":\"ok\"}");
    run_for(f, 30);
    assert_int_equal(f->nstates, before);
    j = get(f, "watchdog");
    assert_true(jbool(j, "running"));
    assert_int_equal(json_integer_value(json_object_get(j, "failures")), 0);
    json_decref(j);
}

static void test_example_scheduler(void **state)
{
    fx *f = *state;
    char *src = read_text(f->examples, "scheduler.lua");
    char *fast = replace(src, "local PERIOD_MS = 5 * 60 * 1000", "local PERIOD_MS = 30");
    json_t *j;
    char msg[600];

    j = put(f, "scheduler", fast, 1, 200);
    assert_true(jbool(json_object_get(j, "script"), "running"));
    json_decref(j);
    wait_log(f, "scheduler", "run 2: example-echo echo answered");
    assert_int_equal(log_count(f, "scheduler",
                               "run 1: example-echo echo answered \"hello scheduled run 1\""),
                     1);
    assert_true(echo_stat(f, "echoes") >= 2);

    /* With the plugin off, a run fails politely and the schedule goes on. */
    assert_int_equal(oa_registry_disable(f->h.reg, ECHO_PLUGIN, msg, sizeof(msg)), 0);
    wait_log(f, "scheduler", "echo failed: plugin 'example-echo' is not running");
    j = get(f, "scheduler");
    assert_true(jbool(j, "running"));
    assert_int_equal(json_integer_value(json_object_get(j, "failures")), 0);
    json_decref(j);
    free(src);
    free(fast);
}

typedef struct count_want {
    const char *topic;
    json_int_t n;
} count_want;

/* The stored count of a topic, or -1. */
static json_int_t stored_count(fx *f, const char *topic)
{
    char *raw = NULL;
    size_t len = 0;
    json_t *j;
    json_int_t n = -1;

    if (oa_store_kv_get(f->h.store, "script:event_logger", "counts", &raw, &len) != 0) {
        return -1;
    }
    j = json_loadb(raw, len, 0, NULL);
    free(raw);
    if (json_is_integer(json_object_get(j, topic))) {
        n = json_integer_value(json_object_get(j, topic));
    }
    json_decref(j);
    return n;
}

static int pred_count(fx *f, const void *arg)
{
    const count_want *w = arg;
    return stored_count(f, w->topic) == w->n;
}

static void test_example_event_logger(void **state)
{
    fx *f = *state;
    char *src = read_text(f->examples, "event_logger.lua");
    char *fast = replace(src, "local FLUSH_MS = 10 * 1000", "local FLUSH_MS = 20");
    count_want alpha3 = {"test.alpha", 3};
    count_want beta1 = {"test.beta", 1};
    count_want alpha4 = {"test.alpha", 4};

    json_decref(put(f, "event_logger", fast, 1, 200));
    for (int i = 0; i < 3; i++) {
        oa_host_publish(&f->h, "test.alpha", "{}");
    }
    oa_host_publish(&f->h, "test.beta", "{\"x\":1}");
    assert_true(run_until(f, pred_count, &alpha3));
    assert_true(run_until(f, pred_count, &beta1));

    /* The counts survive a restart of the engine and keep growing. */
    fx_reopen(f);
    oa_host_publish(&f->h, "test.alpha", "{}");
    assert_true(run_until(f, pred_count, &alpha4));
    assert_int_equal(stored_count(f, "test.beta"), 1);
    free(src);
    free(fast);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seed_examples_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_waits_for_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_enable_disable_delete_persist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_put_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_error_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_policy_disables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_example_watchdog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_example_scheduler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_example_event_logger, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

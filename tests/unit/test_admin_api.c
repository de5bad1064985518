/* The admin API (docs/admin-api.md) on a real host: the example-echo plugin
 * loaded from the build, a built-in plugin with choices and a secret, a
 * real SQLite store, requests built by hand and routed through the
 * dispatcher without sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "testutil.h"
#include "testutil_host.h"

#define ECHO_PLUGIN "example-echo"

/* ---- a built-in plugin with a choice list, a secret and a double ------- */

static const oa_config_def cfg_config[] = {
    {.key = "mode", .type = OA_CFG_STRING, .default_value = "fast", .choices = "fast|slow",
     .help = "How hard to try."},
    {.key = "token", .type = OA_CFG_STRING, .default_value = "", .help = "A secret.",
     .flags = OA_CFG_SECRET},
    {.key = "ratio", .type = OA_CFG_DOUBLE, .default_value = "1", .min = 0.5, .max = 2.5},
    {.key = "label", .type = OA_CFG_STRING, .default_value = "", .help = "Any text."},
    {.key = NULL},
};

static const oa_plugin_desc cfg_desc = {
    OA_PLUGIN_HEADER,
    .name = "cfgtest",
    .version = "2.0.0",
    .kind = OA_KIND_TRANSPORT,
    .summary = "Settings with choices and a secret.",
    .license = "MIT",
    .config = cfg_config,
    .init = oa_test_plugin_init,
    .start = oa_test_plugin_start,
    .stop = oa_test_plugin_stop,
    .destroy = oa_test_plugin_destroy,
};

/* ---- fixture ------------------------------------------------------------ */

typedef struct fx {
    char *dir;
    char *plugins;
    oa_host h;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    char err[512];

    assert_non_null(f);
    oa_log_init(OA_LOG_INFO, 0, 0);
    f->dir = oa_test_tmpdir();
    f->plugins = oa_test_build_path("tests/echo-plugins");
    oa_test_host_open(&f->h, f->dir, f->plugins, OA_HTTP_DISPATCH);
    assert_int_equal(oa_registry_add(f->h.reg, NULL, &cfg_desc, err, sizeof(err)), 0);
    oa_registry_resolve(f->h.reg);
    assert_int_equal(oa_registry_start_all(f->h.reg), 2);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    oa_test_host_close(&f->h, f->dir);
    free(f->plugins);
    free(f);
    return 0;
}

/* ---- requests ------------------------------------------------------------- */

/* Dispatches a request as the token user "tester", checks the status and
 * returns the parsed JSON. */
static json_t *call(fx *f, const char *method, const char *target, const char *body,
                    int status)
{
    return oa_test_call(f->h.http, method, target, body, status);
}

/* Checks {"error": {"code": code, "message": "..."}}; frees j. */
static void expect_error(json_t *j, const char *code)
{
    json_t *e = json_object_get(j, "error");
    assert_true(json_is_object(e));
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    assert_true(json_string_length(json_object_get(e, "message")) > 0);
    json_decref(j);
}

static const char *sget(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) {
        fail_msg("'%s' is not a string", key);
    }
    return json_string_value(v);
}

static json_int_t iget(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) {
        fail_msg("'%s' is not an integer", key);
    }
    return json_integer_value(v);
}

static char *config_value(fx *f, const char *plugin, const char *key)
{
    char err[512];
    char *v = NULL;
    assert_int_equal(oa_host_config_get(&f->h, plugin, key, &v, err, sizeof(err)), 0);
    return v;
}

static const char *plugin_state(fx *f, const char *name)
{
    oa_plugin_info info;
    assert_int_equal(oa_registry_info_by_name(f->h.reg, name, &info), 0);
    return oa_state_name(info.state);
}

/* The setting object with key in a settings array. */
static json_t *setting(json_t *settings, const char *key)
{
    size_t i;
    json_t *s;
    json_array_foreach(settings, i, s) {
        if (strcmp(sget(s, "key"), key) == 0) {
            return s;
        }
    }
    fail_msg("no setting '%s'", key);
    return NULL;
}

/* ---- status and plugins ---------------------------------------------------- */

static void test_status_shape(void **state)
{
    fx *f = *state;
    json_t *j = call(f, "GET", "/api/status", NULL, 200);
    json_t *p = json_object_get(j, "plugins");
    json_t *bus = json_object_get(j, "bus");
    json_t *http = json_object_get(j, "http");
    char sdk[16];

    snprintf(sdk, sizeof(sdk), "%d.%d", OA_SDK_MAJOR, OA_SDK_MINOR);
    assert_string_equal(sget(j, "version"), OA_HOST_VERSION);
    assert_string_equal(sget(j, "sdk"), sdk);
    assert_true(json_is_number(json_object_get(j, "uptime_s")));
    assert_true(json_number_value(json_object_get(j, "uptime_s")) >= 0);
    assert_true(iget(j, "rss_kib") > 0);
    assert_int_equal(iget(p, "total"), 2);
    assert_int_equal(iget(p, "running"), 2);
    assert_int_equal(iget(p, "failed"), 0);
    assert_int_equal(iget(p, "disabled"), 0);
    assert_int_equal(iget(p, "rejected"), 0);
    assert_int_equal(iget(p, "discovered"), 0);
    assert_int_equal(iget(p, "starting"), 0);
    assert_true(iget(bus, "published") > 0);
    iget(bus, "delivered");
    iget(bus, "dropped");
    iget(bus, "queued");
    assert_true(iget(http, "requests") >= 1);
    assert_int_equal(iget(http, "streams_open"), 0);
    json_decref(j);
}

static void test_plugins_list_and_single(void **state)
{
    fx *f = *state;
    json_t *j = call(f, "GET", "/api/plugins", NULL, 200);
    json_t *list = json_object_get(j, "plugins");
    json_t *echo = NULL;
    json_t *p;
    size_t i;

    assert_int_equal(json_array_size(list), 2);
    json_array_foreach(list, i, p) {
        if (strcmp(sget(p, "name"), ECHO_PLUGIN) == 0) {
            echo = p;
        }
    }
    assert_non_null(echo);
    assert_true(strstr(sget(echo, "file"), "example-echo.so") != NULL);
    assert_string_equal(sget(echo, "state"), "running");
    assert_true(json_is_true(json_object_get(echo, "enabled")));
    assert_string_equal(sget(echo, "reason"), "");
    assert_string_equal(sget(echo, "version"), "1.0.0");
    assert_string_equal(sget(echo, "kind"), "engine");
    assert_string_equal(sget(echo, "license"), "MIT");
    assert_true(strlen(sget(echo, "summary")) > 0);
    assert_true(strlen(sget(echo, "sdk")) >= 3);
    assert_int_equal(json_array_size(json_object_get(echo, "requires")), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(echo, "provides"), 0)),
                        "echo");
    assert_true(json_is_null(json_object_get(echo, "health"))); /* not asked yet */
    assert_int_equal(iget(echo, "crash_count"), 0);
    assert_true(json_is_true(json_object_get(echo, "has_commands")));
    json_decref(j);

    /* The single object asks for health and adds the plugin's detail. */
    j = call(f, "GET", "/api/plugins/" ECHO_PLUGIN, NULL, 200);
    assert_string_equal(sget(j, "name"), ECHO_PLUGIN);
    assert_string_equal(sget(j, "health"), "ok");
    assert_true(json_is_integer(json_object_get(json_object_get(j, "health_detail"), "ticks")));
    json_decref(j);

    j = call(f, "GET", "/api/plugins/cfgtest", NULL, 200);
    assert_true(json_is_null(json_object_get(j, "file")));
    assert_string_equal(sget(j, "kind"), "transport");
    assert_true(json_is_false(json_object_get(j, "has_commands")));
    assert_null(json_object_get(j, "health_detail"));
    json_decref(j);
}

static void test_unknown_plugin_and_routes(void **state)
{
    fx *f = *state;
    char longname[128];

    expect_error(call(f, "GET", "/api/plugins/nosuch", NULL, 404), "not_found");
    expect_error(call(f, "POST", "/api/plugins/nosuch/enable", NULL, 404), "not_found");
    expect_error(call(f, "GET", "/api/plugins/nosuch/config", NULL, 404), "not_found");
    expect_error(call(f, "POST", "/api/plugins/nosuch/commands/echo", NULL, 404), "not_found");
    /* Names outside [a-z0-9_-] or longer than 64 bytes. */
    expect_error(call(f, "GET", "/api/plugins/Example-Echo", NULL, 404), "not_found");
    expect_error(call(f, "GET", "/api/plugins/a.b", NULL, 404), "not_found");
    snprintf(longname, sizeof(longname), "/api/plugins/");
    memset(longname + strlen(longname), 'a', 65);
    longname[strlen("/api/plugins/") + 65] = '\0';
    expect_error(call(f, "GET", longname, NULL, 404), "not_found");
    /* Unknown sub-paths. */
    expect_error(call(f, "GET", "/api/plugins/" ECHO_PLUGIN "/nothing", NULL, 404), "not_found");
    expect_error(call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/commands", NULL, 404), "not_found");
    expect_error(call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/commands/echo/x", NULL, 404),
                 "not_found");
    expect_error(call(f, "GET", "/api/plugins//config", NULL, 404), "not_found");
    /* HEAD is served like GET. */
    json_decref(call(f, "HEAD", "/api/plugins/" ECHO_PLUGIN "/config", NULL, 200));
    /* Wrong methods. */
    expect_error(call(f, "GET", "/api/plugins/" ECHO_PLUGIN "/enable", NULL, 405),
                 "method_not_allowed");
    expect_error(call(f, "DELETE", "/api/plugins/" ECHO_PLUGIN, NULL, 405), "method_not_allowed");
    expect_error(call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/config", "{}", 405),
                 "method_not_allowed");
    expect_error(call(f, "POST", "/api/plugins", NULL, 405), "method_not_allowed");
    expect_error(call(f, "POST", "/api/status", NULL, 405), "method_not_allowed");
    /* Nothing was changed, so nothing was audited. */
    {
        json_t *j = call(f, "GET", "/api/audit", NULL, 200);
        assert_int_equal(json_array_size(json_object_get(j, "entries")), 0);
        json_decref(j);
    }
}

static void test_login_required(void **state)
{
    fx *f = *state;
    static const char *const paths[] = {"/api/status", "/api/plugins", "/api/logs",
                                        "/api/audit",  "/api/events",  "/metrics"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        oa_http_req *req = oa_test_req("GET", paths[i], NULL);
        req->auth = OA_AUTH_NONE;
        req->user[0] = '\0';
        oa_http_dispatch(f->h.http, req);
        assert_int_equal(req->status, 401);
        assert_null(req->stream);
        oa_http_req_free(req);
    }
}

static void test_enable_disable_restart(void **state)
{
    fx *f = *state;
    json_t *j = call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/disable", NULL, 200);

    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_true(strstr(sget(j, "message"), "disabled") != NULL);
    assert_string_equal(sget(json_object_get(j, "plugin"), "state"), "disabled");
    assert_true(json_is_false(json_object_get(json_object_get(j, "plugin"), "enabled")));
    assert_string_equal(plugin_state(f, ECHO_PLUGIN), "disabled");
    json_decref(j);

    /* Restarting a disabled plugin is refused. */
    expect_error(call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/restart", NULL, 409), "conflict");
    assert_string_equal(plugin_state(f, ECHO_PLUGIN), "disabled");

    j = call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/enable", NULL, 200);
    assert_true(strstr(sget(j, "message"), "enabled and started") != NULL);
    assert_string_equal(sget(json_object_get(j, "plugin"), "state"), "running");
    assert_string_equal(plugin_state(f, ECHO_PLUGIN), "running");
    json_decref(j);

    j = call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/restart", NULL, 200);
    assert_true(strstr(sget(j, "message"), "restarted") != NULL);
    assert_string_equal(plugin_state(f, ECHO_PLUGIN), "running");
    json_decref(j);

    /* A plugin that fails to start: the refusal carries its reason. */
    {
        char err[512];
        assert_int_equal(oa_host_config_set(&f->h, ECHO_PLUGIN, "fail_start", "true", err, sizeof(err)),
                         OA_EFAIL);
    }
    assert_string_equal(plugin_state(f, ECHO_PLUGIN), "failed");
    j = call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/restart", NULL, 500);
    assert_true(strstr(sget(json_object_get(j, "error"), "message"), "fail_start") != NULL);
    expect_error(j, "plugin_error");
}

/* ---- settings ------------------------------------------------------------ */

static void test_config_get_shape(void **state)
{
    fx *f = *state;
    json_t *j = call(f, "GET", "/api/plugins/" ECHO_PLUGIN "/config", NULL, 200);
    json_t *st = json_object_get(j, "settings");
    json_t *s;

    assert_string_equal(sget(j, "plugin"), ECHO_PLUGIN);
    assert_int_equal(json_array_size(st), 3);
    s = setting(st, "interval_ms");
    assert_string_equal(sget(s, "type"), "int");
    assert_string_equal(sget(s, "value"), "0");
    assert_string_equal(sget(s, "default"), "0");
    assert_int_equal(iget(s, "min"), 0);
    assert_int_equal(iget(s, "max"), 3600000);
    assert_true(strlen(sget(s, "help")) > 0);
    assert_true(json_is_true(json_object_get(s, "live")));
    assert_true(json_is_false(json_object_get(s, "secret")));
    assert_null(json_object_get(s, "choices"));
    s = setting(st, "greeting");
    assert_string_equal(sget(s, "type"), "string");
    assert_string_equal(sget(s, "value"), "hello");
    assert_null(json_object_get(s, "min"));
    assert_null(json_object_get(s, "max"));
    assert_int_equal(iget(s, "max_length"), 64);
    assert_true(json_is_false(json_object_get(s, "live")));
    s = setting(st, "fail_start");
    assert_string_equal(sget(s, "type"), "bool");
    assert_string_equal(sget(s, "value"), "false");
    assert_null(json_object_get(s, "min"));
    json_decref(j);

    j = call(f, "GET", "/api/plugins/cfgtest/config", NULL, 200);
    st = json_object_get(j, "settings");
    s = setting(st, "mode");
    assert_int_equal(json_array_size(json_object_get(s, "choices")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(s, "choices"), 1)),
                        "slow");
    s = setting(st, "ratio");
    assert_string_equal(sget(s, "type"), "double");
    assert_true(json_real_value(json_object_get(s, "min")) == 0.5);
    assert_true(json_real_value(json_object_get(s, "max")) == 2.5);
    s = setting(st, "token");
    assert_true(json_is_true(json_object_get(s, "secret")));
    assert_string_equal(sget(s, "value"), "***");
    json_decref(j);
}

static void test_config_put_bad_value_stores_nothing(void **state)
{
    fx *f = *state;
    json_t *j = call(f, "PUT", "/api/plugins/" ECHO_PLUGIN "/config",
                     "{\"values\": {\"greeting\": \"hi\", \"interval_ms\": \"abc\"}}", 400);
    json_t *e = json_object_get(j, "error");
    json_t *fields = json_object_get(e, "fields");
    char *v;

    assert_string_equal(sget(e, "code"), "invalid_value");
    assert_true(strstr(sget(e, "message"), "interval_ms") != NULL);
    assert_int_equal(json_object_size(fields), 1);
    assert_true(strstr(sget(fields, "interval_ms"), "interval_ms") != NULL);
    json_decref(j);
    v = config_value(f, ECHO_PLUGIN, "greeting");
    assert_string_equal(v, "hello");
    free(v);

    /* Out of range, and an unknown key: each named in fields. */
    j = call(f, "PUT", "/api/plugins/" ECHO_PLUGIN "/config",
             "{\"values\": {\"interval_ms\": 99999999, \"colour\": \"red\", \"greeting\": \"x\"}}",
             400);
    fields = json_object_get(json_object_get(j, "error"), "fields");
    assert_int_equal(json_object_size(fields), 2);
    assert_true(strstr(sget(fields, "interval_ms"), "between 0 and 3600000") != NULL);
    assert_true(strstr(sget(fields, "colour"), "no setting 'colour'") != NULL);
    assert_true(strstr(sget(json_object_get(j, "error"), "message"), "1 more") != NULL);
    json_decref(j);
    v = config_value(f, ECHO_PLUGIN, "greeting");
    assert_string_equal(v, "hello");
    free(v);
    v = config_value(f, ECHO_PLUGIN, "interval_ms");
    assert_string_equal(v, "0");
    free(v);

    /* A choice outside the list. */
    j = call(f, "PUT", "/api/plugins/cfgtest/config", "{\"values\": {\"mode\": \"medium\"}}",
             400);
    assert_true(strstr(sget(json_object_get(json_object_get(j, "error"), "fields"), "mode"),
                       "fast, slow") != NULL);
    json_decref(j);
}

/* Calls a command and returns its result object. */
static json_t *command(fx *f, const char *name, const char *args)
{
    char path[128];
    json_t *j;
    json_t *res;
    snprintf(path, sizeof(path), "/api/plugins/" ECHO_PLUGIN "/commands/%s", name);
    j = call(f, "POST", path, args, 200);
    res = json_incref(json_object_get(j, "result"));
    json_decref(j);
    assert_non_null(res);
    return res;
}

static void test_config_put_live_and_restart(void **state)
{
    fx *f = *state;
    json_t *res = command(f, "echo", "{\"text\": \"a\"}");
    json_t *j;
    char *v;

    json_decref(res);
    /* interval_ms is live: applied through configure(), no restart, so the
     * in-memory echo count survives. */
    j = call(f, "PUT", "/api/plugins/" ECHO_PLUGIN "/config", "{\"values\": {\"interval_ms\": 250}}",
             200);
    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_true(strstr(sget(j, "message"), "applied") != NULL);
    assert_string_equal(sget(setting(json_object_get(j, "settings"), "interval_ms"), "value"),
                        "250");
    json_decref(j);
    v = config_value(f, ECHO_PLUGIN, "interval_ms");
    assert_string_equal(v, "250");
    free(v);
    res = command(f, "stats", NULL);
    assert_int_equal(iget(res, "echoes"), 1);
    json_decref(res);
    assert_string_equal(plugin_state(f, ECHO_PLUGIN), "running");

    /* A whole real is written without decimals. */
    j = call(f, "PUT", "/api/plugins/" ECHO_PLUGIN "/config", "{\"values\": {\"interval_ms\": 300.0}}",
             200);
    json_decref(j);
    v = config_value(f, ECHO_PLUGIN, "interval_ms");
    assert_string_equal(v, "300");
    free(v);

    /* greeting is not live: the plugin restarts (echo count back to 0)
     * and uses the new value; a boolean is accepted for fail_start. */
    j = call(f, "PUT", "/api/plugins/" ECHO_PLUGIN "/config",
             "{\"values\": {\"greeting\": \"hey\", \"fail_start\": false}}", 200);
    assert_true(strstr(sget(j, "message"), "restarted") != NULL);
    json_decref(j);
    res = command(f, "stats", NULL);
    assert_int_equal(iget(res, "echoes"), 0);
    json_decref(res);
    res = command(f, "echo", "{\"text\": \"b\"}");
    assert_string_equal(sget(res, "echo"), "hey b");
    json_decref(res);

    /* The same value again changes nothing. */
    j = call(f, "PUT", "/api/plugins/" ECHO_PLUGIN "/config", "{\"values\": {\"greeting\": \"hey\"}}",
             200);
    assert_true(strstr(sget(j, "message"), "no value changed") != NULL);
    json_decref(j);

    /* A secret is stored as given and listed as ***. */
    j = call(f, "PUT", "/api/plugins/cfgtest/config",
             "{\"values\": {\"token\": \"s3cret\", \"ratio\": 0.75, \"mode\": \"slow\"}}", 200);
    assert_string_equal(sget(setting(json_object_get(j, "settings"), "token"), "value"), "***");
    assert_string_equal(sget(setting(json_object_get(j, "settings"), "ratio"), "value"), "0.75");
    json_decref(j);
    v = config_value(f, "cfgtest", "token");
    assert_string_equal(v, "s3cret");
    free(v);
}

static void test_config_put_bad_bodies(void **state)
{
    fx *f = *state;
    const char *path = "/api/plugins/" ECHO_PLUGIN "/config";
    json_t *j;

    expect_error(call(f, "PUT", path, "{\"values\": {", 400), "bad_json");
    expect_error(call(f, "PUT", path, NULL, 400), "bad_json");
    expect_error(call(f, "PUT", path, "{\"values\": 5}", 400), "bad_request");
    expect_error(call(f, "PUT", path, "{\"values\": {}}", 400), "bad_request");
    expect_error(call(f, "PUT", path, "[1, 2]", 400), "bad_request");
    /* Values of other JSON types, each named. */
    j = call(f, "PUT", path,
             "{\"values\": {\"interval_ms\": [1], \"greeting\": null, \"fail_start\": {}}}", 400);
    {
        json_t *e = json_object_get(j, "error");
        json_t *fields = json_object_get(e, "fields");
        assert_string_equal(sget(e, "code"), "invalid_value");
        assert_int_equal(json_object_size(fields), 3);
        assert_true(strstr(sget(fields, "interval_ms"), "an array") != NULL);
        assert_true(strstr(sget(fields, "greeting"), "null") != NULL);
        assert_true(strstr(sget(fields, "fail_start"), "an object") != NULL);
    }
    json_decref(j);
    /* A string with a NUL inside never reaches a setting. */
    j = call(f, "PUT", path, "{\"values\": {\"greeting\": \"a\\u0000b\"}}", 400);
    expect_error(j, "bad_json");
    {
        char *v = config_value(f, ECHO_PLUGIN, "greeting");
        assert_string_equal(v, "hello");
        free(v);
    }
}

static void test_body_too_large(void **state)
{
    fx *f = *state;
    oa_http_req *req = oa_test_req("PUT", "/api/plugins/" ECHO_PLUGIN "/config", NULL);
    json_t *j;
    req->body_too_large = 1;
    oa_http_dispatch(f->h.http, req);
    assert_int_equal(req->status, 413);
    j = json_loads(req->resp_body, 0, NULL);
    oa_http_req_free(req);
    expect_error(j, "too_large");
}

/* ---- commands ------------------------------------------------------------ */

static void test_commands(void **state)
{
    fx *f = *state;
    json_t *res = command(f, "echo", "{\"text\":\"hi\"}");
    json_t *j;

    assert_string_equal(sget(res, "echo"), "hello hi");
    assert_int_equal(iget(res, "count"), 1);
    json_decref(res);
    /* No body means {}. */
    res = command(f, "stats", "");
    assert_int_equal(iget(res, "echoes"), 1);
    json_decref(res);

    expect_error(call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/commands/nosuch", "{}", 404),
                 "not_found");
    expect_error(call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/commands/bad%20name", "{}", 404),
                 "not_found");
    expect_error(call(f, "POST", "/api/plugins/cfgtest/commands/echo", "{}", 404),
                 "not_found");
    expect_error(call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/commands/echo", "{\"text\": 5}", 400),
                 "bad_request");
    expect_error(call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/commands/echo", "{\"text\": ", 400),
                 "bad_json");
    j = call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/commands/fail", "{}", 500);
    assert_string_equal(sget(json_object_get(j, "error"), "message"), "asked to fail");
    expect_error(j, "plugin_error");

    json_decref(call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/disable", NULL, 200));
    j = call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/commands/echo", "{\"text\":\"hi\"}", 409);
    assert_true(strstr(sget(json_object_get(j, "error"), "message"), "not running") != NULL);
    expect_error(j, "conflict");
}

/* ---- logs and audit ------------------------------------------------------ */

static json_t *log_lines(fx *f, const char *query, json_int_t *last)
{
    char path[256];
    json_t *j;
    json_t *lines;
    snprintf(path, sizeof(path), "/api/logs?%s", query);
    j = call(f, "GET", path, NULL, 200);
    lines = json_incref(json_object_get(j, "lines"));
    if (last != NULL) {
        *last = iget(j, "last_seq");
    }
    json_decref(j);
    assert_true(json_is_array(lines));
    return lines;
}

static const char *line_msg(json_t *lines, size_t i)
{
    return sget(json_array_get(lines, i), "msg");
}

static void test_logs_filters_and_paging(void **state)
{
    fx *f = *state;
    json_t *lines;
    json_t *l;
    json_int_t last = 0;
    json_int_t last2 = 0;

    oa_log_write(OA_LOG_ERROR, "tplug", "zq-marker one");
    oa_log_write(OA_LOG_WARN, "tplug", "zq-marker two");
    oa_log_write(OA_LOG_INFO, "tplug", "zq-marker three");
    oa_log_write(OA_LOG_INFO, "other", "ZQ-MARKER four");
    oa_log_write(OA_LOG_INFO, "tplug", "unrelated");

    lines = log_lines(f, "level=warn&q=ZQ-marker", NULL);
    assert_int_equal(json_array_size(lines), 2);
    assert_string_equal(line_msg(lines, 0), "zq-marker one");
    assert_string_equal(line_msg(lines, 1), "zq-marker two");
    l = json_array_get(lines, 0);
    assert_string_equal(sget(l, "level"), "error");
    assert_string_equal(sget(l, "tag"), "tplug");
    assert_int_equal(strlen(sget(l, "time")), 24);
    assert_int_equal(sget(l, "time")[23], 'Z');
    assert_int_equal(iget(json_array_get(lines, 1), "seq"), iget(l, "seq") + 1);
    json_decref(lines);

    lines = log_lines(f, "plugin=tplug&q=zq-marker", NULL);
    assert_int_equal(json_array_size(lines), 3);
    json_decref(lines);

    /* Paging: two at a time, then the rest after last_seq. */
    lines = log_lines(f, "q=zq-marker&limit=2", &last);
    assert_int_equal(json_array_size(lines), 2);
    assert_int_equal(last, iget(json_array_get(lines, 1), "seq"));
    json_decref(lines);
    {
        char q[64];
        snprintf(q, sizeof(q), "q=zq-marker&after=%lld", (long long)last);
        lines = log_lines(f, q, &last2);
    }
    assert_int_equal(json_array_size(lines), 2);
    assert_string_equal(line_msg(lines, 0), "zq-marker three");
    assert_string_equal(line_msg(lines, 1), "ZQ-MARKER four");
    assert_true(last2 >= iget(json_array_get(lines, 1), "seq"));
    json_decref(lines);
    /* Nothing newer: the same last_seq comes back. */
    {
        char q[64];
        snprintf(q, sizeof(q), "after=%lld&level=error&q=zq-marker", (long long)last2);
        lines = log_lines(f, q, &last);
    }
    assert_int_equal(json_array_size(lines), 0);
    assert_int_equal(last, last2);
    json_decref(lines);

    expect_error(call(f, "GET", "/api/logs?level=loud", NULL, 400), "bad_request");
    expect_error(call(f, "GET", "/api/logs?limit=0", NULL, 400), "bad_request");
    expect_error(call(f, "GET", "/api/logs?limit=5000", NULL, 400), "bad_request");
    expect_error(call(f, "GET", "/api/logs?after=-1", NULL, 400), "bad_request");
}

static void test_audit_entries(void **state)
{
    fx *f = *state;
    json_t *j;
    json_t *e;
    json_t *first;
    char path[64];

    json_decref(call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/disable", NULL, 200));
    json_decref(call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/enable", NULL, 200));
    json_decref(call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/restart", NULL, 200));
    json_decref(call(f, "PUT", "/api/plugins/cfgtest/config",
                     "{\"values\": {\"mode\": \"slow\", \"token\": \"abc\"}}", 200));
    json_decref(call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/commands/echo", "{\"text\":\"x\"}", 200));
    /* A refused change stores nothing and records nothing. */
    json_decref(call(f, "PUT", "/api/plugins/cfgtest/config", "{\"values\": {\"mode\": \"no\"}}",
                     400));

    j = call(f, "GET", "/api/audit", NULL, 200);
    e = json_object_get(j, "entries");
    assert_int_equal(json_array_size(e), 5);
    first = json_array_get(e, 0);
    assert_string_equal(sget(first, "action"), "plugin.command");
    assert_string_equal(sget(first, "detail"), ECHO_PLUGIN " echo");
    assert_string_equal(sget(first, "who"), "tester");
    assert_string_equal(sget(first, "client"), "127.0.0.1");
    assert_true(strlen(sget(first, "time")) >= 20);
    assert_string_equal(sget(json_array_get(e, 1), "action"), "plugin.config");
    assert_string_equal(sget(json_array_get(e, 1), "detail"), "cfgtest mode=slow token=***");
    assert_string_equal(sget(json_array_get(e, 2), "action"), "plugin.restart");
    assert_string_equal(sget(json_array_get(e, 2), "detail"), ECHO_PLUGIN);
    assert_string_equal(sget(json_array_get(e, 3), "action"), "plugin.enable");
    assert_string_equal(sget(json_array_get(e, 4), "action"), "plugin.disable");
    assert_string_equal(sget(json_array_get(e, 4), "detail"), ECHO_PLUGIN);
    assert_true(iget(first, "id") > iget(json_array_get(e, 1), "id"));

    /* A long value is cut in the detail, between characters. */
    {
        char body[400];
        char want[200];
        char value[256];
        size_t n = 0;
        value[n++] = 'a';
        for (int i = 0; i < 50; i++) {
            memcpy(value + n, "\xc3\xa9", 2); /* e-acute */
            n += 2;
        }
        value[n] = '\0';
        snprintf(body, sizeof(body), "{\"values\": {\"label\": \"%s\"}}", value);
        json_decref(call(f, "PUT", "/api/plugins/cfgtest/config", body, 200));
        snprintf(want, sizeof(want), "cfgtest label=%.63s...", value);
        json_decref(j);
        j = call(f, "GET", "/api/audit?limit=1", NULL, 200);
        e = json_object_get(j, "entries");
        assert_string_equal(sget(json_array_get(e, 0), "detail"), want);
        json_decref(j);
        j = call(f, "GET", "/api/audit", NULL, 200);
        e = json_object_get(j, "entries");
        assert_int_equal(json_array_size(e), 6);
        json_array_remove(e, 0);
    }

    /* Paging with limit and before. */
    snprintf(path, sizeof(path), "/api/audit?limit=2&before=%lld",
             (long long)iget(json_array_get(e, 1), "id"));
    json_decref(j);
    j = call(f, "GET", path, NULL, 200);
    e = json_object_get(j, "entries");
    assert_int_equal(json_array_size(e), 2);
    assert_string_equal(sget(json_array_get(e, 0), "action"), "plugin.restart");
    assert_string_equal(sget(json_array_get(e, 1), "action"), "plugin.enable");
    json_decref(j);

    expect_error(call(f, "GET", "/api/audit?limit=0", NULL, 400), "bad_request");
    expect_error(call(f, "GET", "/api/audit?before=x", NULL, 400), "bad_request");
}

/* ---- metrics --------------------------------------------------------------- */

static void test_metrics_text(void **state)
{
    fx *f = *state;
    static const char *const want[] = {
        "# TYPE openace_uptime_seconds gauge\nopenace_uptime_seconds ",
        "# HELP openace_resident_memory_bytes ",
        "\nopenace_resident_memory_bytes ",
        "\nopenace_plugins{state=\"running\"} 1\n",
        "\nopenace_plugins{state=\"disabled\"} 1\n",
        "\nopenace_plugins{state=\"failed\"} 0\n",
        "\nopenace_plugin_up{plugin=\"example-echo\"} 1\n",
        "\nopenace_plugin_up{plugin=\"cfgtest\"} 0\n",
        "# TYPE openace_plugin_crashes_total counter\n",
        "\nopenace_plugin_crashes_total{plugin=\"example-echo\"} 0\n",
        "# TYPE openace_bus_events_published_total counter\n",
        "\nopenace_bus_events_delivered_total ",
        "\nopenace_bus_events_dropped_total 0\n",
        "\nopenace_http_requests_total ",
        "\nopenace_http_responses_total{class=\"4xx\"} 1\n",
        "\nopenace_http_responses_total{class=\"5xx\"} 0\n",
        "\nopenace_http_streams_open 0\n",
    };
    oa_http_req *req;

    expect_error(call(f, "GET", "/api/plugins/nosuch", NULL, 404), "not_found");
    json_decref(call(f, "POST", "/api/plugins/cfgtest/disable", NULL, 200));
    req = oa_test_req("GET", "/metrics", NULL);
    oa_http_dispatch(f->h.http, req);
    assert_int_equal(req->status, 200);
    assert_string_equal(req->content_type, "text/plain; version=0.0.4");
    assert_int_equal(strlen(req->resp_body), req->resp_len);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(req->resp_body, want[i]) == NULL) {
            fail_msg("metrics lack \"%s\":\n%s", want[i], req->resp_body);
        }
    }
    oa_http_req_free(req);
}

/* ---- events ---------------------------------------------------------------- */

/* Opens /api/events?query and returns its stream; checks the headers. */
static oa_http_stream *open_events(fx *f, const char *query)
{
    char path[256];
    oa_http_req *req;
    oa_http_stream *s;
    int cache = 0;

    snprintf(path, sizeof(path), "/api/events%s", query);
    req = oa_test_req("GET", path, NULL);
    oa_http_dispatch(f->h.http, req);
    assert_int_equal(req->status, 200);
    assert_string_equal(req->content_type, "text/event-stream");
    assert_non_null(req->stream);
    for (size_t i = 0; i < req->nresp_headers; i++) {
        if (strcmp(req->resp_headers[i].name, "Cache-Control") == 0) {
            assert_string_equal(req->resp_headers[i].value, "no-cache");
            cache = 1;
        }
    }
    assert_true(cache);
    s = req->stream;
    oa_http_req_free(req);
    return s;
}

/* Runs the loop until queued events are delivered. */
static void pump(fx *f)
{
    for (int i = 0; i < 5; i++) {
        uv_run(f->h.loop, UV_RUN_NOWAIT);
    }
}

/* Takes everything queued on s as a NUL-terminated string (free()). */
static char *take_all(oa_http_stream *s)
{
    size_t cap = 4096;
    size_t n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        ssize_t got;
        if (cap - n < 2048) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        got = oa_http_stream_take(s, buf + n, cap - n - 1);
        if (got <= 0) {
            break;
        }
        n += (size_t)got;
    }
    buf[n] = '\0';
    return buf;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* The client goes away: the stream reports CLOSED and the API lets go of
 * its subscriptions and timer. */
static void close_events(fx *f, oa_http_stream *s, size_t nsubs)
{
    oa_http_stats hs;
    oa_bus_stats bs;
    size_t subs_before;
    oa_bus_get_stats(f->h.bus, &bs);
    subs_before = bs.subscribers - nsubs;
    oa_http_stream_closed(s);
    pump(f);
    oa_http_get_stats(f->h.http, &hs);
    assert_int_equal(hs.streams_open, 0);
    oa_bus_get_stats(f->h.bus, &bs);
    assert_int_equal(bs.subscribers, subs_before);
}

static size_t subscribers(fx *f)
{
    oa_bus_stats bs;
    oa_bus_get_stats(f->h.bus, &bs);
    return bs.subscribers;
}

static void test_events_stream(void **state)
{
    fx *f = *state;
    size_t subs = subscribers(f);
    oa_http_stream *s = open_events(f, "?topics=test.*,%20config.changed");
    char *text;
    json_t *j;

    pump(f);
    text = take_all(s);
    assert_string_equal(text, ": connected\n\n"); /* earlier plugin events do not match */
    free(text);
    assert_int_equal(subscribers(f), subs + 2);

    assert_int_equal(oa_host_publish(&f->h, "test.one", "{\"x\": 1,\n \"y\": [2]}"), 0);
    assert_int_equal(oa_host_publish(&f->h, "other.topic", "{}"), 0);
    json_decref(call(f, "PUT", "/api/plugins/cfgtest/config", "{\"values\": {\"token\": \"t\"}}",
                     200));
    pump(f);
    text = take_all(s);
    /* One data line per event; the newline inside the JSON became a space. */
    assert_non_null(strstr(text, "event: test.one\ndata: {\"x\": 1,  \"y\": [2]}\n\n"));
    assert_null(strstr(text, "other.topic"));
    assert_non_null(strstr(text, "event: config.changed\ndata: {"));
    {
        const char *head = "event: config.changed\ndata: ";
        j = json_loads(strstr(text, head) + strlen(head), JSON_DISABLE_EOF_CHECK, NULL);
    }
    assert_non_null(j);
    assert_string_equal(sget(j, "value"), "***");
    json_decref(j);
    free(text);

    close_events(f, s, 2);
    /* Nothing more is written to a closed stream. */
    assert_int_equal(oa_host_publish(&f->h, "test.two", "{}"), 0);
    pump(f);
}

static void test_events_default_all(void **state)
{
    fx *f = *state;
    size_t subs = subscribers(f);
    oa_http_stream *s = open_events(f, "");
    char *text;

    assert_int_equal(subscribers(f), subs + 1);
    json_decref(call(f, "POST", "/api/plugins/" ECHO_PLUGIN "/disable", NULL, 200));
    pump(f);
    text = take_all(s);
    assert_true(strncmp(text, ": connected\n\n", 13) == 0);
    assert_non_null(strstr(text, "event: plugin.state\ndata: {\"name\":\"example-echo\""));
    free(text);
    close_events(f, s, 1);
}

static void test_events_dropped(void **state)
{
    fx *f = *state;
    size_t subs = subscribers(f);
    oa_http_stream *s = open_events(f, "?topics=test.big");
    char *pad = malloc(8001);
    char *json = malloc(8100);
    char *text;
    const char *d;
    size_t sent;
    unsigned long long dropped = 0;

    memset(pad, 'x', 8000);
    pad[8000] = '\0';
    snprintf(json, 8100, "{\"pad\":\"%s\"}", pad);
    /* 40 events of 8 KB pass the 256 KiB queue of a client that reads
     * nothing. */
    for (int i = 0; i < 40; i++) {
        assert_int_equal(oa_host_publish(&f->h, "test.big", json), 0);
    }
    pump(f);
    text = take_all(s);
    sent = count_of(text, "event: test.big\n");
    assert_true(sent > 20);
    assert_true(sent < 40);
    assert_null(strstr(text, "event: dropped"));
    free(text);

    /* The next event that goes out tells how many were lost. */
    assert_int_equal(oa_host_publish(&f->h, "test.big", "{\"last\":true}"), 0);
    pump(f);
    text = take_all(s);
    assert_true(strncmp(text, "event: dropped\ndata: {\"dropped\":", 32) == 0);
    d = text + 32;
    dropped = strtoull(d, NULL, 10);
    assert_int_equal(dropped, 40 - sent);
    assert_non_null(strstr(text, "}\n\nevent: test.big\ndata: {\"last\":true}\n\n"));
    free(text);

    /* Only once. */
    assert_int_equal(oa_host_publish(&f->h, "test.big", "{}"), 0);
    pump(f);
    text = take_all(s);
    assert_string_equal(text, "event: test.big\ndata: {}\n\n");
    free(text);
    free(pad);
    free(json);
    assert_int_equal(subscribers(f), subs + 1);
    close_events(f, s, 1);
}

static void count_timer(uv_handle_t *hd, void *arg)
{
    if (uv_handle_get_type(hd) == UV_TIMER && !uv_is_closing(hd)) {
        (*(int *)arg)++;
    }
}

static int open_timers(fx *f)
{
    int n = 0;
    uv_walk(f->h.loop, count_timer, &n);
    return n;
}

/* Stopping the host ends open event streams and frees their clients: the
 * teardown's oa_host_close() neither hangs on a keep-alive timer nor finds
 * one left open (and ASan finds nothing leaked). */
static void test_events_end_when_host_stops(void **state)
{
    fx *f = *state;
    int timers = open_timers(f);
    oa_http_stream *s = open_events(f, "?topics=test.*");
    char buf[64];
    char *text;

    assert_int_equal(open_timers(f), timers + 1);
    oa_host_stop(&f->h);
    /* What was queued still goes out, then the stream ends. */
    text = take_all(s);
    assert_string_equal(text, ": connected\n\n");
    free(text);
    assert_int_equal(oa_http_stream_take(s, buf, sizeof(buf)), -1);
    uv_run(f->h.loop, UV_RUN_NOWAIT);
    assert_int_equal(open_timers(f), timers);
    /* No new streams while stopping. */
    expect_error(call(f, "GET", "/api/events", NULL, 409), "conflict");
}

static void test_events_bad_topics(void **state)
{
    fx *f = *state;
    static const char *const bad[] = {
        "/api/events?topics=plugin.**", "/api/events?topics=a..b",
        "/api/events?topics=plugin.*,", "/api/events?topics=*.state",
        "/api/events?topics=a%20b",     "/api/events?topics=%2A.x",
    };
    size_t subs = subscribers(f);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        oa_http_req *req = oa_test_req("GET", bad[i], NULL);
        oa_http_dispatch(f->h.http, req);
        if (req->status != 400) {
            fail_msg("%s: status %d", bad[i], req->status);
        }
        assert_null(req->stream);
        assert_string_equal(req->content_type, "application/json");
        assert_non_null(strstr(req->resp_body, "\"bad_request\""));
        oa_http_req_free(req);
    }
    assert_int_equal(subscribers(f), subs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plugins_list_and_single, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_plugin_and_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enable_disable_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_get_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_put_bad_value_stores_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_put_live_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_put_bad_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs_filters_and_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_default_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_end_when_host_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_bad_topics, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

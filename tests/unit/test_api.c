/* The host API as a plugin sees it: config, kv, timers, bus, work, services
 * and host options, through a plugin descriptor built into the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"
#include "testutil.h"
#include "testutil_host.h"

static oa_plugin *g_self;
static const oa_host_api *g_api;

static int p_init(oa_plugin *self, const oa_host_api *api, void **state)
{
    g_self = self;
    g_api = api;
    *state = NULL;
    return 0;
}

static const oa_config_def p_config[] = {
    {.key = "port", .type = OA_CFG_INT, .default_value = "8621", .min = 1, .max = 65535},
    {.key = "ratio", .type = OA_CFG_DOUBLE, .default_value = "1.5"},
    {.key = "on", .type = OA_CFG_BOOL, .default_value = "yes"},
    {.key = "mode", .type = OA_CFG_STRING, .default_value = "fast", .choices = "fast|slow"},
    {.key = NULL},
};

static const oa_plugin_desc p_desc = {
    OA_PLUGIN_HEADER,
    .name = "apitest",
    .version = "1",
    .kind = OA_KIND_ENGINE,
    .config = p_config,
    .init = p_init,
    .start = oa_test_plugin_start,
    .stop = oa_test_plugin_stop,
    .destroy = oa_test_plugin_destroy,
};

typedef struct fx {
    char *dir;
    oa_host h;
} fx;

static void open_host(fx *f)
{
    char err[512];
    oa_test_host_open(&f->h, f->dir, NULL, OA_HTTP_OFF);
    assert_int_equal(oa_registry_add(f->h.reg, NULL, &p_desc, err, sizeof(err)), 0);
    oa_registry_resolve(f->h.reg);
    assert_int_equal(oa_registry_start_all(f->h.reg), 1);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    oa_log_init(OA_LOG_ERROR, 0, 0);
    f->dir = oa_test_tmpdir();
    open_host(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    oa_test_host_close(&f->h, f->dir);
    free(f);
    return 0;
}

static void test_table_header(void **state)
{
    (void)state;
    assert_int_equal(g_api->size, sizeof(oa_host_api));
    assert_int_equal(g_api->sdk_major, OA_SDK_MAJOR);
    assert_true(OA_API_HAS(g_api, now_ms));
    assert_string_equal(g_api->host_version, OA_HOST_VERSION);
}

static void test_config_defaults_types_and_validation(void **state)
{
    fx *f = *state;
    char *v = NULL;
    int64_t i = 0;
    double d = 0;
    int b = 0;
    assert_int_equal(g_api->config_get(g_self, "mode", &v), 0);
    assert_string_equal(v, "fast");
    g_api->free(v);
    assert_int_equal(g_api->config_get_int(g_self, "port", &i), 0);
    assert_int_equal(i, 8621);
    assert_int_equal(g_api->config_get_double(g_self, "ratio", &d), 0);
    assert_true(d > 1.49 && d < 1.51);
    assert_int_equal(g_api->config_get_bool(g_self, "on", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(g_api->config_get_int(g_self, "mode", &i), OA_ETYPE);
    assert_int_equal(g_api->config_get(g_self, "nope", &v), OA_ENOENT);

    assert_int_equal(g_api->config_set(g_self, "port", "6881"), 0);
    assert_int_equal(g_api->config_get_int(g_self, "port", &i), 0);
    assert_int_equal(i, 6881);
    /* Refused values leave the stored one alone. */
    assert_int_equal(g_api->config_set(g_self, "port", "0"), OA_ERANGE);
    assert_int_equal(g_api->config_set(g_self, "port", "12ab"), OA_ETYPE);
    assert_int_equal(g_api->config_set(g_self, "mode", "medium"), OA_EINVAL);
    assert_int_equal(g_api->config_get_int(g_self, "port", &i), 0);
    assert_int_equal(i, 6881);

    /* And they survive a restart of the host. */
    assert_int_equal(oa_host_close(&f->h), 0);
    open_host(f);
    assert_int_equal(g_api->config_get_int(g_self, "port", &i), 0);
    assert_int_equal(i, 6881);
}

static void test_kv_persists(void **state)
{
    fx *f = *state;
    char *v = NULL;
    size_t len = 0;
    const char blob[] = {'a', 0, 'b'};
    assert_int_equal(g_api->kv_get(g_self, "k", &v, &len), OA_ENOENT);
    assert_int_equal(g_api->kv_set(g_self, "k", blob, sizeof(blob)), 0);
    assert_int_equal(oa_host_close(&f->h), 0);
    open_host(f);
    assert_int_equal(g_api->kv_get(g_self, "k", &v, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(v, blob, 3);
    g_api->free(v);
    assert_int_equal(g_api->kv_del(g_self, "k"), 0);
    assert_int_equal(g_api->kv_get(g_self, "k", &v, &len), OA_ENOENT);
}

static int one_shots;
static int repeats;

static void on_once(void *arg, oa_timer *t)
{
    (void)arg;
    (void)t;
    one_shots++;
}

static void on_repeat(void *arg, oa_timer *t)
{
    (void)arg;
    repeats++;
    if (repeats == 3) {
        g_api->timer_stop(t); /* from inside its own callback */
    }
}

static void run_for(fx *f, int ms)
{
    for (int i = 0; i < ms; i++) {
        uv_run(f->h.loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static void test_timers(void **state)
{
    fx *f = *state;
    oa_timer *t = NULL;
    one_shots = 0;
    repeats = 0;
    assert_int_equal(g_api->timer_start(g_self, 1, 0, on_once, NULL, NULL), 0);
    assert_int_equal(g_api->timer_start(g_self, 1, 1, on_repeat, NULL, &t), 0);
    assert_int_equal(g_api->timer_start(g_self, 1, 1, NULL, NULL, NULL), OA_EINVAL);
    run_for(f, 50);
    assert_int_equal(one_shots, 1);
    assert_int_equal(repeats, 3);
}

static int got;
static char got_json[64];

static void on_ev(void *arg, const char *topic, const char *json, size_t len)
{
    (void)arg;
    (void)len;
    got++;
    snprintf(got_json, sizeof(got_json), "%s %s", topic, json);
}

static void test_bus_through_api(void **state)
{
    fx *f = *state;
    uint64_t id = 0;
    got = 0;
    assert_int_equal(g_api->subscribe(g_self, "demo.*", on_ev, NULL, &id), 0);
    assert_int_equal(g_api->publish(g_self, "demo.hello", "{\"a\":1}"), 0);
    assert_int_equal(got, 0); /* never inside publish */
    run_for(f, 5);
    assert_int_equal(got, 1);
    assert_string_equal(got_json, "demo.hello {\"a\":1}");
    assert_int_equal(g_api->publish(g_self, "demo.bad", "{oops"), OA_EINVAL);
    assert_int_equal(g_api->publish(g_self, "demo..bad", NULL), OA_EINVAL);
    assert_int_equal(g_api->unsubscribe(g_self, id), 0);
    assert_int_equal(g_api->unsubscribe(g_self, id), OA_ENOENT);
    g_api->publish(g_self, "demo.hello", NULL);
    run_for(f, 5);
    assert_int_equal(got, 1);
}

static int work_ran;
static int work_status = 99;

static void w_fn(void *arg)
{
    (void)arg;
    work_ran = 1;
}

static void w_done(void *arg, int status)
{
    (void)arg;
    work_status = status;
}

static void test_work(void **state)
{
    fx *f = *state;
    assert_int_equal(g_api->queue_work(g_self, w_fn, w_done, NULL), 0);
    assert_int_equal(g_api->queue_work(g_self, NULL, w_done, NULL), OA_EINVAL);
    run_for(f, 50);
    assert_int_equal(work_ran, 1);
    assert_int_equal(work_status, 0);
}

static void test_services_and_options(void **state)
{
    fx *f = *state;
    static const uint32_t iface[2] = {sizeof(iface), 7};
    static const uint32_t bad[1] = {0};
    uint32_t ver = 0;
    const uint32_t *found;
    struct stat st;
    assert_int_equal(g_api->service_register(g_self, "thing", 3, iface), 0);
    assert_int_equal(g_api->service_register(g_self, "thing", 4, iface), OA_EEXIST);
    assert_int_equal(g_api->service_register(g_self, "zero", 1, bad), OA_EINVAL);
    found = g_api->service_lookup(g_self, "thing", 2, &ver);
    assert_non_null(found);
    assert_int_equal(ver, 3);
    assert_int_equal(found[1], 7);
    assert_null(g_api->service_lookup(g_self, "thing", 4, NULL));
    assert_int_equal(oa_registry_service_unregister(f->h.reg, NULL, "thing"), OA_EACCES);
    assert_int_equal(g_api->service_unregister(g_self, "thing"), 0);
    assert_null(g_api->service_lookup(g_self, "thing", 1, NULL));

    assert_string_equal(g_api->host_option(g_self, "p2p_port"), "9999");
    assert_string_equal(g_api->host_option(g_self, "http_listen"), "127.0.0.1:6878");
    assert_null(g_api->host_option(g_self, "nope"));
    assert_int_equal(stat(g_api->data_dir(g_self), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_non_null(strstr(g_api->data_dir(g_self), "/plugins/apitest"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_table_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_defaults_types_and_validation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kv_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_through_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_work, setup, teardown),
        cmocka_unit_test_setup_teardown(test_services_and_options, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

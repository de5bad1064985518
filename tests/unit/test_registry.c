/* Registry: dependency order, cycles, missing dependencies, enable/disable/
 * restart with dependents, failures, commands, persistence, and the release
 * of what a stopped plugin held. Plugins here are descriptors built into the
 * test, driven through a real host on a temporary data directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"
#include "plugin.h"
#include "testutil.h"
#include "testutil_host.h"

/* ---- a configurable fake plugin ------------------------------------------ */

/* What happened, in order: "start:a", "stop:b", "destroy:a", ... */
static char events[64][160];
static int nevents;

static void note(const char *what, const char *name)
{
    if (nevents < 64) {
        snprintf(events[nevents++], sizeof(events[0]), "%s:%s", what, name);
    }
}

static int find_event(const char *e)
{
    for (int i = 0; i < nevents; i++) {
        if (strcmp(events[i], e) == 0) {
            return i;
        }
    }
    return -1;
}

static int count_event(const char *e)
{
    int n = 0;
    for (int i = 0; i < nevents; i++) {
        n += strcmp(events[i], e) == 0;
    }
    return n;
}

typedef struct fake {
    oa_plugin *self;
    const oa_host_api *api;
    const char *name;
    oa_timer *timer;
    int ticks;
} fake;

typedef struct fake_opts {
    int fail_init;
    int fail_start;
    int timer;     /* start a 1 ms repeating timer */
    int subscribe; /* subscribe to "t.*" */
    int work;      /* queue 100 ms of work at start */
    int service;   /* register service "svc" v2 */
} fake_opts;

/* Options per plugin name, looked up at init. */
static struct {
    const char *name;
    fake_opts o;
} opts_tab[16];
static int nopts;
static int work_done_status = 1;
static int ticks_total;
static int events_seen;

static fake_opts opts_for(const char *name)
{
    fake_opts none;
    memset(&none, 0, sizeof(none));
    for (int i = 0; i < nopts; i++) {
        if (strcmp(opts_tab[i].name, name) == 0) {
            return opts_tab[i].o;
        }
    }
    return none;
}

static void set_opts(const char *name, fake_opts o)
{
    opts_tab[nopts].name = name;
    opts_tab[nopts].o = o;
    nopts++;
}

static const char *name_of(oa_plugin *self)
{
    return self->name;
}

static int f_init(oa_plugin *self, const oa_host_api *api, void **state)
{
    fake *f;
    fake_opts o = opts_for(name_of(self));
    note("init", name_of(self));
    if (o.fail_init) {
        api->set_error(self, "cannot open /dev/nothing");
        return OA_EIO;
    }
    f = calloc(1, sizeof(*f));
    f->self = self;
    f->api = api;
    f->name = name_of(self);
    *state = f;
    return 0;
}

static void f_tick(void *arg, oa_timer *t)
{
    fake *f = arg;
    (void)t;
    f->ticks++;
    ticks_total++;
}

static void f_event(void *arg, const char *topic, const char *json, size_t len)
{
    (void)arg;
    (void)topic;
    (void)json;
    (void)len;
    events_seen++;
}

static void f_work(void *arg)
{
    (void)arg;
    usleep(100 * 1000);
}

static void f_work_done(void *arg, int status)
{
    fake *f = arg;
    work_done_status = status;
    note("workdone", f->name);
}

static const uint32_t svc_iface[2] = {sizeof(svc_iface), 42};

static int f_start(void *state)
{
    fake *f = state;
    fake_opts o = opts_for(f->name);
    note("start", f->name);
    if (o.fail_start) {
        f->api->set_error(f->self, "port already in use");
        return OA_EIO;
    }
    if (o.timer) {
        assert_int_equal(f->api->timer_start(f->self, 1, 1, f_tick, f, &f->timer), 0);
    }
    if (o.subscribe) {
        assert_int_equal(f->api->subscribe(f->self, "t.*", f_event, f, NULL), 0);
    }
    if (o.work) {
        assert_int_equal(f->api->queue_work(f->self, f_work, f_work_done, f), 0);
    }
    if (o.service) {
        assert_int_equal(f->api->service_register(f->self, "svc", 2, svc_iface), 0);
    }
    return 0;
}

static void f_stop(void *state)
{
    fake *f = state;
    note("stop", f->name);
}

static void f_destroy(void *state)
{
    fake *f = state;
    note("destroy", f->name);
    free(f);
}

static int f_command(void *state, const char *name, const char *args, char **out)
{
    fake *f = state;
    if (strcmp(name, "ping") == 0) {
        *out = f->api->str_dup(args);
        return 0;
    }
    if (strcmp(name, "garbage") == 0) {
        *out = f->api->str_dup("{not json");
        return 0;
    }
    return OA_ENOTFOUND;
}

static int configured;

static int f_configure(void *state, const char *key, const char *value)
{
    (void)state;
    (void)value;
    configured++;
    return strcmp(key, "live") == 0 ? 0 : OA_ENOSYS;
}

static const oa_config_def f_config[] = {
    {.key = "live", .type = OA_CFG_INT, .default_value = "1", .flags = OA_CFG_LIVE},
    {.key = "cold", .type = OA_CFG_INT, .default_value = "1", .min = 0, .max = 10},
    {.key = NULL},
};

#define FAKE(var, nm, req, prov)                                                          \
    static const oa_plugin_desc var = {                                                   \
        OA_PLUGIN_HEADER,                                                                 \
        .name = nm,                                                                       \
        .version = "1.0",                                                                 \
        .kind = OA_KIND_ENGINE,                                                           \
        .requires = req,                                                                  \
        .provides = prov,                                                                 \
        .config = f_config,                                                               \
        .init = f_init,                                                                   \
        .start = f_start,                                                                 \
        .stop = f_stop,                                                                   \
        .destroy = f_destroy,                                                             \
        .command = f_command,                                                             \
        .configure = f_configure,                                                         \
    }

static const char *const req_a[] = {"a", NULL};
static const char *const req_b[] = {"b", NULL};
static const char *const req_c[] = {"c", NULL};
static const char *const req_cy1[] = {"cy1", NULL};
static const char *const req_cy2[] = {"cy2", NULL};
static const char *const req_cy3[] = {"cy3", NULL};
static const char *const req_tr[] = {"transport", NULL};
static const char *const req_none[] = {"nothing-provides-this", NULL};
static const char *const prov_tr[] = {"transport", NULL};

FAKE(d_a, "a", NULL, NULL);
FAKE(d_b, "b", req_a, NULL);
FAKE(d_c, "c", req_b, NULL);
FAKE(d_tcp, "tcp", NULL, prov_tr);
FAKE(d_swarm, "swarm", req_tr, NULL);
FAKE(d_x, "x", req_c, NULL); /* with c->b->a no cycle; see cycle test */
FAKE(d_cy1, "cy1", req_cy2, NULL);
FAKE(d_cy2, "cy2", req_cy3, NULL);
FAKE(d_cy3, "cy3", req_cy1, NULL);
FAKE(d_orphan, "orphan", req_none, NULL);
FAKE(d_fi, "fail-init", NULL, NULL);
FAKE(d_fs, "fail-start", NULL, NULL);
FAKE(d_res, "res", NULL, NULL);
FAKE(d_dup, "a", NULL, NULL);

/* ---- fixture -------------------------------------------------------------- */

typedef struct fx {
    char *dir;
    oa_host h;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    oa_log_init(OA_LOG_ERROR, 0, 0);
    f->dir = oa_test_tmpdir();
    nevents = 0;
    nopts = 0;
    configured = 0;
    ticks_total = 0;
    events_seen = 0;
    work_done_status = 1;
    oa_test_host_open(&f->h, f->dir, NULL, OA_HTTP_OFF);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    /* Every test is a leak check: the loop must close with nothing open. */
    oa_test_host_close(&f->h, f->dir);
    free(f);
    return 0;
}

static void add(fx *f, const oa_plugin_desc *d)
{
    char err[512];
    assert_int_equal(oa_registry_add(f->h.reg, NULL, d, err, sizeof(err)), 0);
}

static oa_plugin_state state_of(fx *f, const char *name, const char **reason)
{
    oa_plugin_info info;
    assert_int_equal(oa_registry_info_by_name(f->h.reg, name, &info), 0);
    if (reason != NULL) {
        *reason = info.reason;
    }
    return info.state;
}

/* Runs the loop until it has nothing to do right now. */
static void spin(fx *f, int ms)
{
    uint64_t end = uv_now(f->h.loop) + (uint64_t)ms;
    while (uv_now(f->h.loop) < end) {
        uv_run(f->h.loop, UV_RUN_NOWAIT);
        usleep(1000);
        uv_update_time(f->h.loop);
    }
}

/* ---- tests ------------------------------------------------------------------ */

static void test_start_order_follows_dependencies(void **state)
{
    fx *f = *state;
    /* Added in an order that is wrong on purpose. */
    add(f, &d_c);
    add(f, &d_swarm);
    add(f, &d_b);
    add(f, &d_tcp);
    add(f, &d_a);
    oa_registry_resolve(f->h.reg);
    assert_int_equal(oa_registry_start_all(f->h.reg), 5);
    assert_true(find_event("start:a") < find_event("start:b"));
    assert_true(find_event("start:b") < find_event("start:c"));
    assert_true(find_event("start:tcp") < find_event("start:swarm"));
    assert_int_equal(state_of(f, "swarm", NULL), OA_STATE_RUNNING);

    oa_registry_stop_all(f->h.reg);
    assert_true(find_event("stop:c") < find_event("stop:b"));
    assert_true(find_event("stop:b") < find_event("stop:a"));
    assert_true(find_event("stop:swarm") < find_event("stop:tcp"));
    assert_int_equal(count_event("destroy:a"), 1);
}

static void test_cycle_is_named_and_others_run(void **state)
{
    fx *f = *state;
    const char *why = NULL;
    add(f, &d_cy1);
    add(f, &d_cy2);
    add(f, &d_cy3);
    add(f, &d_a);
    oa_registry_resolve(f->h.reg);
    assert_int_equal(oa_registry_start_all(f->h.reg), 1);
    assert_int_equal(state_of(f, "cy1", &why), OA_STATE_FAILED);
    assert_non_null(strstr(why, "dependency cycle"));
    assert_non_null(strstr(why, "cy1 -> cy2 -> cy3 -> cy1"));
    assert_int_equal(state_of(f, "cy3", &why), OA_STATE_FAILED);
    assert_non_null(strstr(why, "cy1"));
    assert_int_equal(state_of(f, "a", NULL), OA_STATE_RUNNING);
    assert_int_equal(find_event("init:cy1"), -1);
}

static void test_missing_dependency_is_named(void **state)
{
    fx *f = *state;
    const char *why = NULL;
    add(f, &d_orphan);
    add(f, &d_x); /* requires c, which is absent */
    oa_registry_resolve(f->h.reg);
    assert_int_equal(oa_registry_start_all(f->h.reg), 0);
    assert_int_equal(state_of(f, "orphan", &why), OA_STATE_FAILED);
    assert_string_equal(why, "requires 'nothing-provides-this', which no loaded plugin provides");
    assert_int_equal(state_of(f, "x", &why), OA_STATE_FAILED);
    assert_non_null(strstr(why, "'c'"));
}

static void test_disable_stops_dependents_and_enable_restarts_them(void **state)
{
    fx *f = *state;
    char msg[512];
    const char *why = NULL;
    int enabled = -1;
    add(f, &d_a);
    add(f, &d_b);
    add(f, &d_c);
    oa_registry_resolve(f->h.reg);
    assert_int_equal(oa_registry_start_all(f->h.reg), 3);

    assert_int_equal(oa_registry_disable(f->h.reg, "a", msg, sizeof(msg)), 0);
    assert_non_null(strstr(msg, "disabled 'a'"));
    assert_non_null(strstr(msg, "stopped c, b"));
    assert_true(find_event("stop:c") < find_event("stop:b"));
    assert_true(find_event("stop:b") < find_event("stop:a"));
    assert_int_equal(state_of(f, "a", NULL), OA_STATE_DISABLED);
    assert_int_equal(state_of(f, "b", &why), OA_STATE_FAILED);
    assert_string_equal(why, "requires 'a', which was disabled");
    assert_int_equal(oa_store_plugin_enabled_get(f->h.store, "a", &enabled), 0);
    assert_int_equal(enabled, 0);

    /* b cannot be enabled on its own while a is off, and says why. */
    assert_int_equal(oa_registry_enable(f->h.reg, "b", msg, sizeof(msg)), OA_EDEPEND);
    assert_non_null(strstr(msg, "requires 'a', which is disabled"));

    assert_int_equal(oa_registry_enable(f->h.reg, "a", msg, sizeof(msg)), 0);
    assert_non_null(strstr(msg, "started b, c"));
    assert_int_equal(state_of(f, "c", NULL), OA_STATE_RUNNING);
    assert_int_equal(count_event("start:c"), 2);
    assert_int_equal(oa_store_plugin_enabled_get(f->h.store, "a", &enabled), 0);
    assert_int_equal(enabled, 1);
}

static void test_restart_and_bad_names(void **state)
{
    fx *f = *state;
    char msg[512];
    add(f, &d_a);
    add(f, &d_b);
    oa_registry_resolve(f->h.reg);
    oa_registry_start_all(f->h.reg);
    assert_int_equal(oa_registry_restart(f->h.reg, "a", msg, sizeof(msg)), 0);
    assert_int_equal(count_event("start:a"), 2);
    assert_int_equal(count_event("start:b"), 2);
    assert_int_equal(count_event("destroy:a"), 1);
    assert_int_equal(state_of(f, "b", NULL), OA_STATE_RUNNING);

    assert_int_equal(oa_registry_enable(f->h.reg, "nope", msg, sizeof(msg)), OA_ENOENT);
    assert_string_equal(msg, "no plugin named 'nope'");
    assert_int_equal(oa_registry_disable(f->h.reg, "b", msg, sizeof(msg)), 0);
    assert_int_equal(oa_registry_restart(f->h.reg, "b", msg, sizeof(msg)), OA_ESTATE);
    assert_non_null(strstr(msg, "disabled"));
}

static void test_disabled_state_persists_across_reopen(void **state)
{
    fx *f = *state;
    char msg[512];
    add(f, &d_a);
    oa_registry_resolve(f->h.reg);
    oa_registry_start_all(f->h.reg);
    assert_int_equal(oa_registry_disable(f->h.reg, "a", msg, sizeof(msg)), 0);
    assert_int_equal(oa_host_close(&f->h), 0);

    nevents = 0;
    oa_test_host_open(&f->h, f->dir, NULL, OA_HTTP_OFF);
    add(f, &d_a);
    oa_registry_resolve(f->h.reg);
    assert_int_equal(oa_registry_start_all(f->h.reg), 0);
    assert_int_equal(state_of(f, "a", NULL), OA_STATE_DISABLED);
    assert_int_equal(find_event("init:a"), -1);
}

static void test_init_and_start_failures(void **state)
{
    fx *f = *state;
    const char *why = NULL;
    oa_plugin_info info;
    set_opts("fail-init", (fake_opts){.fail_init = 1});
    set_opts("fail-start", (fake_opts){.fail_start = 1, .timer = 0});
    add(f, &d_fi);
    add(f, &d_fs);
    add(f, &d_a);
    oa_registry_resolve(f->h.reg);
    assert_int_equal(oa_registry_start_all(f->h.reg), 1);
    assert_int_equal(state_of(f, "fail-init", &why), OA_STATE_FAILED);
    assert_string_equal(why, "init failed: cannot open /dev/nothing");
    assert_int_equal(find_event("destroy:fail-init"), -1);
    assert_int_equal(state_of(f, "fail-start", &why), OA_STATE_FAILED);
    assert_string_equal(why, "start failed: port already in use");
    /* A failed start is destroyed without stop. */
    assert_true(find_event("destroy:fail-start") >= 0);
    assert_int_equal(find_event("stop:fail-start"), -1);
    assert_int_equal(oa_registry_info_by_name(f->h.reg, "fail-start", &info), 0);
    assert_int_equal(info.crash_count, 1);
    assert_int_equal(state_of(f, "a", NULL), OA_STATE_RUNNING);
}

static void test_duplicate_name_refused(void **state)
{
    fx *f = *state;
    char err[512];
    add(f, &d_a);
    assert_int_equal(oa_registry_add(f->h.reg, "/tmp/other-a.so", &d_dup, err, sizeof(err)),
                     OA_EEXIST);
    assert_non_null(strstr(err, "duplicate plugin name 'a'"));
    oa_registry_resolve(f->h.reg);
    assert_int_equal(oa_registry_count(f->h.reg), 2);
    assert_int_equal(oa_registry_start_all(f->h.reg), 1);
}

static void test_commands(void **state)
{
    fx *f = *state;
    char *out = NULL;
    char msg[256];
    add(f, &d_a);
    oa_registry_resolve(f->h.reg);
    oa_registry_start_all(f->h.reg);

    assert_int_equal(oa_registry_command(f->h.reg, "a", "ping", "{\"x\":1}", &out), 0);
    assert_string_equal(out, "{\"x\":1}");
    free(out);
    assert_int_equal(oa_registry_command(f->h.reg, "a", "ping", NULL, &out), 0);
    assert_string_equal(out, "{}");
    free(out);
    assert_int_equal(oa_registry_command(f->h.reg, "a", "ping", "{bad", &out), OA_EINVAL);
    assert_non_null(strstr(out, "not valid JSON"));
    free(out);
    assert_int_equal(oa_registry_command(f->h.reg, "a", "garbage", "{}", &out), OA_EPROTO);
    assert_non_null(strstr(out, "invalid JSON"));
    free(out);
    assert_int_equal(oa_registry_command(f->h.reg, "a", "nosuch", "{}", &out), OA_ENOTFOUND);
    assert_string_equal(out, "plugin 'a' has no command 'nosuch'");
    free(out);
    assert_int_equal(oa_registry_command(f->h.reg, "zz", "ping", "{}", &out), OA_ENOENT);
    free(out);
    oa_registry_disable(f->h.reg, "a", msg, sizeof(msg));
    assert_int_equal(oa_registry_command(f->h.reg, "a", "ping", "{}", &out), OA_ESTATE);
    assert_non_null(strstr(out, "not running"));
    free(out);
}

static void test_stop_releases_timers_subscriptions_services(void **state)
{
    fx *f = *state;
    char msg[256];
    oa_bus_stats st;
    int before;
    set_opts("res", (fake_opts){.timer = 1, .subscribe = 1, .service = 1});
    add(f, &d_res);
    oa_registry_resolve(f->h.reg);
    oa_registry_start_all(f->h.reg);
    spin(f, 30);
    assert_true(ticks_total > 0);
    assert_non_null(oa_registry_service_lookup(f->h.reg, "svc", 1, NULL));
    assert_null(oa_registry_service_lookup(f->h.reg, "svc", 3, NULL));
    oa_bus_publish(f->h.bus, "t.x", NULL);
    spin(f, 5);
    assert_int_equal(events_seen, 1);

    assert_int_equal(oa_registry_disable(f->h.reg, "res", msg, sizeof(msg)), 0);
    before = ticks_total;
    spin(f, 30);
    assert_int_equal(ticks_total, before);
    oa_bus_get_stats(f->h.bus, &st);
    assert_int_equal(st.subscribers, 0);
    assert_null(oa_registry_service_lookup(f->h.reg, "svc", 1, NULL));
    oa_bus_publish(f->h.bus, "t.x", NULL);
    spin(f, 5);
    assert_int_equal(events_seen, 1);
}

static void test_work_in_flight_delays_destroy(void **state)
{
    fx *f = *state;
    char msg[256];
    set_opts("res", (fake_opts){.work = 1});
    add(f, &d_res);
    oa_registry_resolve(f->h.reg);
    oa_registry_start_all(f->h.reg);
    /* Disable while the 100 ms of work runs: destroy must wait for done. */
    assert_int_equal(oa_registry_disable(f->h.reg, "res", msg, sizeof(msg)), 0);
    assert_true(find_event("stop:res") >= 0);
    assert_int_equal(find_event("destroy:res"), -1);
    /* Re-enabling before the old instance is gone is refused, not racy. */
    assert_int_equal(oa_registry_enable(f->h.reg, "res", msg, sizeof(msg)), OA_EBUSY);
    spin(f, 400);
    assert_int_equal(work_done_status, OA_ECANCELED);
    assert_true(find_event("workdone:res") < find_event("destroy:res"));
    assert_true(find_event("destroy:res") >= 0);
    assert_int_equal(oa_registry_enable(f->h.reg, "res", msg, sizeof(msg)), 0);
    spin(f, 300);
    assert_int_equal(work_done_status, 0);
}

static void test_config_applies_live_or_restarts(void **state)
{
    fx *f = *state;
    char err[512];
    char *v = NULL;
    add(f, &d_a);
    oa_registry_resolve(f->h.reg);
    oa_registry_start_all(f->h.reg);

    assert_int_equal(oa_host_config_set(&f->h, "a", "live", "5", err, sizeof(err)), 0);
    assert_int_equal(configured, 1);
    assert_int_equal(count_event("start:a"), 1);
    assert_non_null(strstr(err, "while running"));

    assert_int_equal(oa_host_config_set(&f->h, "a", "cold", "7", err, sizeof(err)), 0);
    assert_int_equal(count_event("start:a"), 2);

    assert_int_equal(oa_host_config_set(&f->h, "a", "cold", "11", err, sizeof(err)), OA_ERANGE);
    assert_non_null(strstr(err, "cold"));
    assert_int_equal(count_event("start:a"), 2);
    assert_int_equal(oa_host_config_get(&f->h, "a", "cold", &v, err, sizeof(err)), 0);
    assert_string_equal(v, "7");
    free(v);
    assert_int_equal(oa_host_config_set(&f->h, "a", "nokey", "1", err, sizeof(err)), OA_ENOENT);
    assert_non_null(strstr(err, "its settings: live, cold"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_order_follows_dependencies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cycle_is_named_and_others_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_dependency_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disable_stops_dependents_and_enable_restarts_them,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_and_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disabled_state_persists_across_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_init_and_start_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_name_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_releases_timers_subscriptions_services, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_work_in_flight_delays_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_applies_live_or_restarts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

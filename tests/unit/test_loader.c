/* Loader: real plugin files with deliberate defects are each refused with a
 * reason a user can act on, and a host scanning a directory of them keeps
 * the good ones running and records every rejection. */
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
#include <utime.h>

#include "host.h"
#include "loader.h"
#include "testutil.h"

static const char *plugin_dir(void)
{
    const char *d = getenv("OA_TEST_PLUGIN_DIR");
    if (d == NULL) {
        fail_msg("OA_TEST_PLUGIN_DIR is not set (run through ctest)");
    }
    return d;
}

/* Loads tests/plugins/<file>; returns the code and the reason. */
static int load(const char *file, const oa_plugin_desc **d, char *err, size_t len)
{
    char *path = oa_test_path(plugin_dir(), file);
    int rc = oa_loader_load(path, d, err, len);
    free(path);
    return rc;
}

static void test_good_plugin_loads(void **state)
{
    const oa_plugin_desc *d = NULL;
    char err[512] = "";
    (void)state;
    assert_int_equal(load("tp_good.so", &d, err, sizeof(err)), 0);
    assert_non_null(d);
    assert_string_equal(d->name, "test-good");
    assert_int_equal(d->sdk_major, OA_SDK_MAJOR);
}

/* Minor versions are backward compatible: a 1.0 plugin loads on 1.x. */
static void test_older_minor_loads(void **state)
{
    const oa_plugin_desc *d = NULL;
    char err[512] = "";
    (void)state;
    assert_int_equal(load("tp_sdk10.so", &d, err, sizeof(err)), 0);
    assert_int_equal(d->sdk_minor, 0);
    assert_string_equal(d->name, "test-sdk10");
}

static void test_wrong_major_refused(void **state)
{
    const oa_plugin_desc *d = NULL;
    char err[512] = "";
    char want[64];
    (void)state;
    assert_int_equal(load("tp_bad_major.so", &d, err, sizeof(err)), OA_EVERSION);
    assert_non_null(strstr(err, "built for SDK 2.0"));
    snprintf(want, sizeof(want), "this host provides SDK %d.%d", OA_SDK_MAJOR, OA_SDK_MINOR);
    assert_non_null(strstr(err, want));
    assert_null(d);
}

static void test_newer_minor_refused(void **state)
{
    const oa_plugin_desc *d = NULL;
    char err[512] = "";
    char want[64];
    (void)state;
    assert_int_equal(load("tp_newer_minor.so", &d, err, sizeof(err)), OA_EVERSION);
    snprintf(want, sizeof(want), "built for SDK %d.%d, newer than", OA_SDK_MAJOR,
             OA_SDK_MINOR + 1);
    assert_non_null(strstr(err, want));
}

static void test_small_struct_refused(void **state)
{
    const oa_plugin_desc *d = NULL;
    char err[512] = "";
    (void)state;
    assert_int_equal(load("tp_small.so", &d, err, sizeof(err)), OA_EINVAL);
    assert_non_null(strstr(err, "descriptor is 16 bytes, smaller than"));
}

static void test_no_entry_refused(void **state)
{
    const oa_plugin_desc *d = NULL;
    char err[512] = "";
    (void)state;
    assert_int_equal(load("tp_no_entry.so", &d, err, sizeof(err)), OA_EINVAL);
    assert_non_null(strstr(err, "no 'oa_plugin_entry' symbol"));
}

static void test_missing_callback_refused(void **state)
{
    const oa_plugin_desc *d = NULL;
    char err[512] = "";
    (void)state;
    assert_int_equal(load("tp_no_stop.so", &d, err, sizeof(err)), OA_EINVAL);
    assert_string_equal(err, "plugin 'test-no-stop' lacks the mandatory stop callback");
    /* The name was readable, so listings can show it. */
    assert_non_null(d);
    assert_string_equal(d->name, "test-no-stop");
}

static void test_not_a_library_refused(void **state)
{
    const oa_plugin_desc *d = NULL;
    char err[512] = "";
    char *dir = oa_test_tmpdir();
    char *path = oa_test_path(dir, "junk.so");
    FILE *fp = fopen(path, "w");
    (void)state;
    fputs("this is not an ELF file\n", fp);
    fclose(fp);
    assert_int_equal(oa_loader_load(path, &d, err, sizeof(err)), OA_EIO);
    assert_non_null(strstr(err, "cannot load"));
    assert_int_equal(oa_loader_load("/nonexistent/x.so", &d, err, sizeof(err)), OA_EIO);
    oa_test_rmtree(dir);
    free(path);
    free(dir);
}

static void test_probe_survives_crashing_constructor(void **state)
{
    char name[65];
    char err[512];
    char *path = oa_test_path(plugin_dir(), "tp_crash.so");
    (void)state;
    assert_int_equal(oa_loader_probe(path, 10000, name, sizeof(name), err, sizeof(err)),
                     OA_EFAIL);
    assert_non_null(strstr(err, "crashed while loading (signal 11"));
    free(path);
    path = oa_test_path(plugin_dir(), "tp_good.so");
    assert_int_equal(oa_loader_probe(path, 10000, name, sizeof(name), err, sizeof(err)), 0);
    assert_string_equal(name, "test-good");
    free(path);
    path = oa_test_path(plugin_dir(), "tp_undef.so");
    assert_int_equal(oa_loader_probe(path, 10000, name, sizeof(name), err, sizeof(err)), OA_EIO);
    assert_non_null(strstr(err, "undefined symbol: oa_host_internal_function"));
    free(path);
    path = oa_test_path(plugin_dir(), "tp_bad_major.so");
    assert_int_equal(oa_loader_probe(path, 10000, name, sizeof(name), err, sizeof(err)),
                     OA_EVERSION);
    assert_non_null(strstr(err, "SDK 2.0"));
    free(path);
}

/* Copies the test plugins into one directory and lets a host scan it. */
static void copy(const char *dir, const char *file)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "cp '%s/%s' '%s/'", plugin_dir(), file, dir);
    assert_int_equal(system(cmd), 0);
}

static const char *reason_of(oa_host *h, const char *file_suffix, oa_plugin_state *st)
{
    for (size_t i = 0; i < oa_registry_count(h->reg); i++) {
        oa_plugin_info info;
        oa_registry_info(h->reg, i, &info);
        if (info.file != NULL && strlen(info.file) >= strlen(file_suffix) &&
            strcmp(info.file + strlen(info.file) - strlen(file_suffix), file_suffix) == 0) {
            *st = info.state;
            return info.reason;
        }
    }
    fail_msg("no entry for %s", file_suffix);
    return NULL;
}

static void test_scan_keeps_host_running_and_records_rejections(void **state)
{
    char *data = oa_test_tmpdir();
    char *plugins = oa_test_tmpdir();
    const char *files[] = {"tp_good.so",  "tp_needs_good.so", "tp_bad_major.so",
                           "tp_newer_minor.so", "tp_small.so", "tp_no_entry.so",
                           "tp_no_stop.so", "tp_fail_init.so", "tp_dup_1.so", "tp_dup_2.so",
                           "tp_crash.so"};
    oa_host h;
    oa_host_options o;
    oa_plugin_state st;
    oa_plugin_row *rows = NULL;
    size_t nrows = 0;
    size_t rejected_rows = 0;
    char err[512];
    (void)state;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        copy(plugins, files[i]);
    }
    oa_log_init(OA_LOG_ERROR, 0, 0);
    memset(&o, 0, sizeof(o));
    o.data_dir = data;
    o.plugin_dir = plugins;
    o.engine = 1;
    assert_int_equal(oa_host_open(&h, NULL, &o, err, sizeof(err)), 0);
    assert_int_equal(oa_registry_count(h.reg), 11);
    assert_int_equal(oa_registry_start_all(h.reg), 3); /* good, needs-good, dup_1 */

    assert_non_null(strstr(reason_of(&h, "tp_bad_major.so", &st), "SDK 2.0"));
    assert_int_equal(st, OA_STATE_REJECTED);
    assert_non_null(strstr(reason_of(&h, "tp_newer_minor.so", &st), "newer"));
    assert_int_equal(st, OA_STATE_REJECTED);
    assert_non_null(strstr(reason_of(&h, "tp_small.so", &st), "smaller"));
    assert_non_null(strstr(reason_of(&h, "tp_no_entry.so", &st), "oa_plugin_entry"));
    assert_non_null(strstr(reason_of(&h, "tp_no_stop.so", &st), "stop callback"));
    assert_non_null(strstr(reason_of(&h, "tp_dup_2.so", &st), "duplicate plugin name 'test-dup'"));
    assert_int_equal(st, OA_STATE_REJECTED);
    assert_non_null(strstr(reason_of(&h, "tp_fail_init.so", &st), "refuses to initialise"));
    assert_int_equal(st, OA_STATE_FAILED);
    reason_of(&h, "tp_needs_good.so", &st);
    assert_int_equal(st, OA_STATE_RUNNING);
    assert_non_null(strstr(reason_of(&h, "tp_crash.so", &st), "crashed while loading"));
    assert_int_equal(st, OA_STATE_REJECTED);

    /* Every rejection has a row with its reason in the store. */
    assert_int_equal(oa_store_plugin_rows(h.store, &rows, &nrows), 0);
    for (size_t i = 0; i < nrows; i++) {
        if (rows[i].state != NULL && strcmp(rows[i].state, "rejected") == 0) {
            assert_non_null(rows[i].last_error);
            assert_true(strlen(rows[i].last_error) > 10);
            rejected_rows++;
        }
    }
    oa_store_plugin_rows_free(rows, nrows);
    assert_int_equal(rejected_rows, 7);
    assert_int_equal(oa_host_close(&h), 0);

    oa_test_rmtree(data);
    oa_test_rmtree(plugins);
    free(data);
    free(plugins);
}

/* Unchanged files are not probed again; a changed one is. */
static void test_probe_verdicts_are_cached(void **state)
{
    char *data = oa_test_tmpdir();
    char *plugins = oa_test_tmpdir();
    char *good;
    oa_host h;
    oa_host_options o;
    oa_plugin_state st;
    struct utimbuf ut;
    unsigned before;
    char err[512];
    (void)state;

    copy(plugins, "tp_good.so");
    copy(plugins, "tp_crash.so");
    good = oa_test_path(plugins, "tp_good.so");
    oa_log_init(OA_LOG_ERROR, 0, 0);
    memset(&o, 0, sizeof(o));
    o.data_dir = data;
    o.plugin_dir = plugins;
    o.engine = 1;

    before = oa_loader_probe_count();
    assert_int_equal(oa_host_open(&h, NULL, &o, err, sizeof(err)), 0);
    assert_int_equal(oa_loader_probe_count() - before, 2);
    assert_int_equal(oa_host_close(&h), 0);

    before = oa_loader_probe_count();
    assert_int_equal(oa_host_open(&h, NULL, &o, err, sizeof(err)), 0);
    assert_int_equal(oa_loader_probe_count() - before, 0);
    assert_non_null(strstr(reason_of(&h, "tp_crash.so", &st), "crashed while loading"));
    assert_int_equal(st, OA_STATE_REJECTED);
    assert_int_equal(oa_registry_start_all(h.reg), 1);
    assert_int_equal(oa_host_close(&h), 0);

    ut.actime = 1000000000;
    ut.modtime = 1000000000;
    assert_int_equal(utime(good, &ut), 0);
    before = oa_loader_probe_count();
    assert_int_equal(oa_host_open(&h, NULL, &o, err, sizeof(err)), 0);
    assert_int_equal(oa_loader_probe_count() - before, 1);
    assert_int_equal(oa_registry_start_all(h.reg), 1);
    assert_int_equal(oa_host_close(&h), 0);

    oa_test_rmtree(data);
    oa_test_rmtree(plugins);
    free(good);
    free(data);
    free(plugins);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_plugin_loads),
        cmocka_unit_test(test_older_minor_loads),
        cmocka_unit_test(test_wrong_major_refused),
        cmocka_unit_test(test_newer_minor_refused),
        cmocka_unit_test(test_small_struct_refused),
        cmocka_unit_test(test_no_entry_refused),
        cmocka_unit_test(test_missing_callback_refused),
        cmocka_unit_test(test_not_a_library_refused),
        cmocka_unit_test(test_probe_survives_crashing_constructor),
        cmocka_unit_test(test_scan_keeps_host_running_and_records_rejections),
        cmocka_unit_test(test_probe_verdicts_are_cached),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    oa_loader_exit();
    return rc;
}

/* Unit tests of the store (host/store.c) on real SQLite files in a fresh
 * temporary directory per test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "testutil.h"

typedef struct fixture {
    char *dir;
    char *path; /* <dir>/state.db, not created */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = oa_test_tmpdir();
    assert_non_null(f->dir);
    f->path = oa_test_path(f->dir, "state.db");
    assert_non_null(f->path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    oa_test_rmtree(f->dir);
    /* The test's files are gone: nothing is left behind. */
    assert_int_not_equal(access(f->dir, F_OK), 0);
    free(f->path);
    free(f->dir);
    free(f);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    return oa_log_init(OA_LOG_WARN, 0, 0);
}

static int group_teardown(void **state)
{
    (void)state;
    oa_log_shutdown();
    return 0;
}

static oa_store *open_ok(const char *path)
{
    oa_store *s = NULL;
    char err[512] = "";
    int rc = oa_store_open(path, &s, err, sizeof(err));

    if (rc != 0) {
        fail_msg("oa_store_open(%s) = %d: %s", path, rc, err);
    }
    assert_non_null(s);
    return s;
}

/* The first column of the first row of sql as an integer. */
static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The first column of the first row of sql as text, copied into buf. */
static void query_text(sqlite3 *db, const char *sql, char *buf, size_t buflen)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *t;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    t = sqlite3_column_text(st, 0);
    assert_non_null(t);
    snprintf(buf, buflen, "%s", (const char *)t);
    sqlite3_finalize(st);
}

/* Runs sql on path through a plain SQLite connection of its own. */
static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("raw_exec(%s): %s", sql, msg);
    }
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int table_exists(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    int found;

    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT 1 FROM sqlite_master"
                                        " WHERE type = 'table' AND name = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

static void assert_config(oa_store *s, const char *scope, const char *key, const char *want)
{
    char *v = NULL;

    assert_int_equal(oa_store_config_get(s, scope, key, &v), 0);
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
}

static void put_row(oa_store *s, const char *file, const char *name, const char *version)
{
    oa_plugin_row row;

    memset(&row, 0, sizeof(row));
    row.file = (char *)file;
    row.name = (char *)name;
    row.version = (char *)version;
    row.kind = (char *)"engine";
    row.state = (char *)"loaded";
    row.sdk_major = 1;
    assert_int_equal(oa_store_plugin_row_put(s, &row), 0);
}

/* ------------------------------------------------------------------------ */

static void test_open_creates_fresh_database(void **state)
{
    fixture *f = *state;
    oa_store *s;

    assert_true(oa_store_schema_version() >= 1);
    assert_int_not_equal(access(f->path, F_OK), 0);
    s = open_ok(f->path);
    assert_int_equal(access(f->path, F_OK), 0);
    assert_string_equal(s->path, f->path);
    assert_int_equal(query_int(s->db, "PRAGMA user_version"), oa_store_schema_version());
    assert_true(table_exists(s->db, "config"));
    assert_true(table_exists(s->db, "kv"));
    assert_true(table_exists(s->db, "plugin_enabled"));
    assert_true(table_exists(s->db, "plugins"));
    assert_true(table_exists(s->db, "plugin_crash"));
    assert_true(table_exists(s->db, "events"));
    assert_true(table_exists(s->db, "audit"));
    oa_store_close(s);
}

static void test_open_uses_wal_and_pragmas(void **state)
{
    fixture *f = *state;
    oa_store *s = open_ok(f->path);
    sqlite3 *raw = NULL;
    char mode[32];

    query_text(s->db, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_int_equal(query_int(s->db, "PRAGMA synchronous"), 1); /* NORMAL */
    assert_int_equal(query_int(s->db, "PRAGMA foreign_keys"), 1);
    assert_int_equal(query_int(s->db, "PRAGMA busy_timeout"), 5000);
    oa_store_close(s);

    /* WAL is a property of the file: a plain connection sees it too. */
    assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
    query_text(raw, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_int_equal(sqlite3_close(raw), SQLITE_OK);
}

static void test_open_empty_existing_file(void **state)
{
    fixture *f = *state;
    FILE *fp = fopen(f->path, "wb");
    oa_store *s;

    /* A zero-byte file (e.g. from touch) is an empty database. */
    assert_non_null(fp);
    fclose(fp);
    s = open_ok(f->path);
    assert_int_equal(query_int(s->db, "PRAGMA user_version"), oa_store_schema_version());
    oa_store_close(s);
}

/* The database holds secrets: a new one is created readable by its owner
 * only, an existing one is made so, and SQLite's -wal file follows. */
static void test_open_owner_only(void **state)
{
    fixture *f = *state;
    char wal[1100];
    struct stat st;
    FILE *fp;
    oa_store *s = open_ok(f->path);

    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(oa_store_config_set(s, "host", "k", "v"), 0);
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    oa_store_close(s);

    /* A world-readable file from an older build is tightened. */
    unlink(f->path);
    fp = fopen(f->path, "wb");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(chmod(f->path, 0644), 0);
    s = open_ok(f->path);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    oa_store_close(s);
}

static void test_config_set_get_overwrite_del(void **state)
{
    fixture *f = *state;
    oa_store *s = open_ok(f->path);
    char *v = (char *)"untouched";

    assert_int_equal(oa_store_config_set(s, "host", "http_listen", "127.0.0.1:6878"), 0);
    assert_config(s, "host", "http_listen", "127.0.0.1:6878");
    assert_int_equal(oa_store_config_set(s, "host", "http_listen", "0.0.0.0:80"), 0);
    assert_config(s, "host", "http_listen", "0.0.0.0:80");
    assert_int_equal(query_int(s->db, "SELECT count(*) FROM config"), 1);

    /* Quotes and SQL text are data, not SQL. */
    assert_int_equal(oa_store_config_set(s, "it's", "k'; DROP TABLE config; --", "v'\"x"), 0);
    assert_config(s, "it's", "k'; DROP TABLE config; --", "v'\"x");
    assert_int_equal(oa_store_config_set(s, "host", "empty", ""), 0);
    assert_config(s, "host", "empty", "");

    assert_int_equal(oa_store_config_del(s, "host", "http_listen"), 0);
    assert_int_equal(oa_store_config_get(s, "host", "http_listen", &v), OA_ENOENT);
    assert_string_equal(v, "untouched");
    /* Deleting what is not stored is not an error. */
    assert_int_equal(oa_store_config_del(s, "host", "http_listen"), 0);
    assert_config(s, "host", "empty", "");
    oa_store_close(s);
}

static void test_config_missing_is_enoent(void **state)
{
    fixture *f = *state;
    oa_store *s = open_ok(f->path);
    char *v = NULL;

    assert_int_equal(oa_store_config_get(s, "host", "nothing", &v), OA_ENOENT);
    assert_null(v);
    /* Scopes are separate namespaces. */
    assert_int_equal(oa_store_config_set(s, "alpha", "port", "1"), 0);
    assert_int_equal(oa_store_config_get(s, "beta", "port", &v), OA_ENOENT);
    assert_int_equal(oa_store_config_get(s, "alpha", "Port", &v), OA_ENOENT);
    assert_null(v);
    assert_config(s, "alpha", "port", "1");
    oa_store_close(s);
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    oa_store *s = open_ok(f->path);
    oa_store *other = NULL;
    char *v = NULL;
    size_t len = 0;
    int enabled = 0;
    char err[128] = "";

    assert_int_equal(oa_store_open(NULL, &other, err, sizeof(err)), OA_EINVAL);
    assert_true(strlen(err) > 0);
    assert_int_equal(oa_store_open("", &other, NULL, 0), OA_EINVAL);
    assert_null(other);
    assert_int_equal(oa_store_config_set(s, "host", "k", NULL), OA_EINVAL);
    assert_int_equal(oa_store_config_set(s, NULL, "k", "v"), OA_EINVAL);
    assert_int_equal(oa_store_config_get(s, "host", NULL, &v), OA_EINVAL);
    assert_int_equal(oa_store_kv_set(s, "p", "k", NULL, 3), OA_EINVAL);
    assert_int_equal(oa_store_kv_get(NULL, "p", "k", &v, &len), OA_EINVAL);
    assert_int_equal(oa_store_plugin_enabled_get(s, NULL, &enabled), OA_EINVAL);
    assert_int_equal(oa_store_plugin_enabled_set(s, "", 1), OA_EINVAL);
    assert_int_equal(oa_store_plugin_crash_inc(s, NULL), OA_EINVAL);
    assert_int_equal(oa_store_plugin_row_put(s, NULL), OA_EINVAL);
    assert_int_equal(oa_store_plugin_rows_prune(s, NULL, 2), OA_EINVAL);
    assert_int_equal(oa_store_exec(s, NULL), OA_EINVAL);
    assert_int_equal(query_int(s->db, "SELECT count(*) FROM config"), 0);
    oa_store_close(s);
    oa_store_close(NULL);
}

static void test_kv_binary_values(void **state)
{
    fixture *f = *state;
    oa_store *s = open_ok(f->path);
    static const char blob[] = {'a', 0, 'b', 0, 0, (char)0xff, 'c'};
    char *v = NULL;
    size_t len = 99;

    assert_int_equal(oa_store_kv_set(s, "alpha", "blob", blob, sizeof(blob)), 0);
    assert_int_equal(oa_store_kv_get(s, "alpha", "blob", &v, &len), 0);
    assert_int_equal(len, sizeof(blob));
    assert_memory_equal(v, blob, sizeof(blob));
    assert_int_equal(v[len], '\0'); /* NUL beyond the data */
    free(v);

    /* An empty value is stored and is not "missing". */
    assert_int_equal(oa_store_kv_set(s, "alpha", "empty", "", 0), 0);
    v = NULL;
    assert_int_equal(oa_store_kv_get(s, "alpha", "empty", &v, &len), 0);
    assert_int_equal(len, 0);
    assert_non_null(v);
    assert_int_equal(v[0], '\0');
    free(v);

    /* Overwrite, len may be NULL, scopes are separate. */
    assert_int_equal(oa_store_kv_set(s, "alpha", "blob", "xyz", 3), 0);
    assert_int_equal(oa_store_kv_get(s, "alpha", "blob", &v, NULL), 0);
    assert_string_equal(v, "xyz");
    free(v);
    v = NULL;
    assert_int_equal(oa_store_kv_get(s, "beta", "blob", &v, &len), OA_ENOENT);
    assert_null(v);

    assert_int_equal(oa_store_kv_del(s, "alpha", "blob"), 0);
    assert_int_equal(oa_store_kv_get(s, "alpha", "blob", &v, &len), OA_ENOENT);
    assert_int_equal(oa_store_kv_del(s, "alpha", "blob"), 0);
    /* kv and config are separate. */
    assert_int_equal(oa_store_config_get(s, "alpha", "empty", &v), OA_ENOENT);
    oa_store_close(s);
}

static void test_enabled_default_and_set(void **state)
{
    fixture *f = *state;
    oa_store *s = open_ok(f->path);
    int enabled = -1;

    assert_int_equal(oa_store_plugin_enabled_get(s, "alpha", &enabled), 0);
    assert_int_equal(enabled, 1);
    assert_int_equal(oa_store_plugin_enabled_set(s, "alpha", 0), 0);
    assert_int_equal(oa_store_plugin_enabled_get(s, "alpha", &enabled), 0);
    assert_int_equal(enabled, 0);
    assert_int_equal(oa_store_plugin_enabled_get(s, "beta", &enabled), 0);
    assert_int_equal(enabled, 1);
    /* Any non-zero value means enabled. */
    assert_int_equal(oa_store_plugin_enabled_set(s, "alpha", 7), 0);
    assert_int_equal(oa_store_plugin_enabled_get(s, "alpha", &enabled), 0);
    assert_int_equal(enabled, 1);
    oa_store_close(s);
}

static void test_plugin_row_put_get(void **state)
{
    fixture *f = *state;
    oa_store *s = open_ok(f->path);
    oa_plugin_row in;
    oa_plugin_row out;

    memset(&in, 0, sizeof(in));
    in.file = (char *)"/plugins/alpha.so";
    in.name = (char *)"alpha";
    in.version = (char *)"1.2.0";
    in.kind = (char *)"engine";
    in.summary = (char *)"Alpha engine";
    in.state = (char *)"failed";
    in.last_error = (char *)"init failed: port 8621 is in use";
    in.sdk_major = 1;
    in.sdk_minor = 3;
    in.mtime = INT64_C(1700000000123);
    in.size = INT64_C(5000000000);
    in.enabled = 0;       /* not written by put */
    in.crash_count = 99;  /* not written by put */
    assert_int_equal(oa_store_plugin_row_put(s, &in), 0);

    assert_int_equal(oa_store_plugin_row_by_file(s, "/plugins/alpha.so", &out), 0);
    assert_string_equal(out.file, in.file);
    assert_string_equal(out.name, "alpha");
    assert_string_equal(out.version, "1.2.0");
    assert_string_equal(out.kind, "engine");
    assert_string_equal(out.summary, "Alpha engine");
    assert_string_equal(out.state, "failed");
    assert_string_equal(out.last_error, in.last_error);
    assert_int_equal(out.sdk_major, 1);
    assert_int_equal(out.sdk_minor, 3);
    assert_true(out.mtime == INT64_C(1700000000123));
    assert_true(out.size == INT64_C(5000000000));
    assert_int_equal(out.enabled, 1);
    assert_int_equal(out.crash_count, 0);
    oa_store_plugin_row_free(&out);
    assert_null(out.file);

    /* enabled and crash_count come from their own tables, by name. */
    assert_int_equal(oa_store_plugin_enabled_set(s, "alpha", 0), 0);
    assert_int_equal(oa_store_plugin_crash_inc(s, "alpha"), 0);
    assert_int_equal(oa_store_plugin_crash_inc(s, "alpha"), 0);
    assert_int_equal(oa_store_plugin_crash_inc(s, "beta"), 0);
    assert_int_equal(oa_store_plugin_row_by_file(s, "/plugins/alpha.so", &out), 0);
    assert_int_equal(out.enabled, 0);
    assert_int_equal(out.crash_count, 2);
    oa_store_plugin_row_free(&out);

    /* Put again replaces the row; NULL fields come back NULL. */
    in.version = (char *)"1.3.0";
    in.state = (char *)"running";
    in.last_error = NULL;
    assert_int_equal(oa_store_plugin_row_put(s, &in), 0);
    assert_int_equal(oa_store_plugin_row_by_file(s, "/plugins/alpha.so", &out), 0);
    assert_string_equal(out.version, "1.3.0");
    assert_string_equal(out.state, "running");
    assert_null(out.last_error);
    assert_int_equal(out.crash_count, 2);
    oa_store_plugin_row_free(&out);
    assert_int_equal(query_int(s->db, "SELECT count(*) FROM plugins"), 1);

    assert_int_equal(oa_store_plugin_row_by_file(s, "/plugins/none.so", &out), OA_ENOENT);
    assert_null(out.file);
    oa_store_plugin_row_free(&out);
    oa_store_close(s);
}

static void test_plugin_row_without_name(void **state)
{
    fixture *f = *state;
    oa_store *s = open_ok(f->path);
    oa_plugin_row out;

    /* A file rejected before its name was known. */
    put_row(s, "/plugins/broken.so", NULL, NULL);
    assert_int_equal(oa_store_plugin_row_by_file(s, "/plugins/broken.so", &out), 0);
    assert_string_equal(out.file, "/plugins/broken.so");
    assert_null(out.name);
    assert_null(out.version);
    assert_int_equal(out.enabled, 1);
    assert_int_equal(out.crash_count, 0);
    oa_store_plugin_row_free(&out);
    oa_store_close(s);
}

static void test_crash_inc_counts(void **state)
{
    fixture *f = *state;
    oa_store *s = open_ok(f->path);
    int i;

    for (i = 0; i < 5; i++) {
        assert_int_equal(oa_store_plugin_crash_inc(s, "alpha"), 0);
    }
    assert_int_equal(oa_store_plugin_crash_inc(s, "beta"), 0);
    assert_int_equal(query_int(s->db, "SELECT count FROM plugin_crash WHERE name = 'alpha'"), 5);
    assert_int_equal(query_int(s->db, "SELECT count FROM plugin_crash WHERE name = 'beta'"), 1);
    oa_store_close(s);
}

static void test_plugin_rows_list_order(void **state)
{
    fixture *f = *state;
    oa_store *s = open_ok(f->path);
    oa_plugin_row *rows = NULL;
    size_t n = 99;

    assert_int_equal(oa_store_plugin_rows(s, &rows, &n), 0);
    assert_int_equal(n, 0);
    oa_store_plugin_rows_free(rows, n);

    put_row(s, "/p/b.so", "beta", "2");
    put_row(s, "/p/a2.so", "alpha", "1");
    put_row(s, "/p/z.so", NULL, NULL);
    put_row(s, "/p/a1.so", "alpha", "1");
    assert_int_equal(oa_store_plugin_enabled_set(s, "beta", 0), 0);
    assert_int_equal(oa_store_plugin_crash_inc(s, "alpha"), 0);

    assert_int_equal(oa_store_plugin_rows(s, &rows, &n), 0);
    assert_int_equal(n, 4);
    /* By name (no name first), then file. */
    assert_null(rows[0].name);
    assert_string_equal(rows[0].file, "/p/z.so");
    assert_string_equal(rows[1].file, "/p/a1.so");
    assert_string_equal(rows[2].file, "/p/a2.so");
    assert_string_equal(rows[3].file, "/p/b.so");
    assert_int_equal(rows[1].enabled, 1);
    assert_int_equal(rows[1].crash_count, 1);
    assert_int_equal(rows[2].crash_count, 1);
    assert_int_equal(rows[3].enabled, 0);
    assert_int_equal(rows[3].crash_count, 0);
    assert_string_equal(rows[3].version, "2");
    oa_store_plugin_rows_free(rows, n);
    oa_store_close(s);
}

static void test_plugin_rows_prune(void **state)
{
    fixture *f = *state;
    oa_store *s = open_ok(f->path);
    const char *keep[] = {"/p/a.so", "/p/not-stored.so", NULL, "/p/c.so"};
    oa_plugin_row *rows = NULL;
    size_t n = 0;
    int enabled = 1;

    put_row(s, "/p/a.so", "alpha", "1");
    put_row(s, "/p/b.so", "beta", "1");
    put_row(s, "/p/c.so", "gamma", "1");
    put_row(s, "/p/d.so", NULL, NULL);
    assert_int_equal(oa_store_plugin_enabled_set(s, "beta", 0), 0);

    assert_int_equal(oa_store_plugin_rows_prune(s, keep, 4), 0);
    assert_int_equal(oa_store_plugin_rows(s, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].file, "/p/a.so");
    assert_string_equal(rows[1].file, "/p/c.so");
    oa_store_plugin_rows_free(rows, n);

    /* The enabled flag belongs to the name and outlives the row. */
    assert_int_equal(oa_store_plugin_enabled_get(s, "beta", &enabled), 0);
    assert_int_equal(enabled, 0);

    /* Keeping nothing removes every row; pruning again is harmless. */
    assert_int_equal(oa_store_plugin_rows_prune(s, NULL, 0), 0);
    assert_int_equal(oa_store_plugin_rows_prune(s, NULL, 0), 0);
    assert_int_equal(query_int(s->db, "SELECT count(*) FROM plugins"), 0);
    oa_store_close(s);
}

static void test_prune_inside_caller_transaction(void **state)
{
    fixture *f = *state;
    oa_store *s = open_ok(f->path);
    const char *keep[] = {"/p/a.so"};

    put_row(s, "/p/a.so", "alpha", "1");
    put_row(s, "/p/b.so", "beta", "1");
    /* Prune nests in a transaction the caller opened and rolls back with it. */
    assert_int_equal(oa_store_exec(s, "BEGIN"), 0);
    assert_int_equal(oa_store_plugin_rows_prune(s, keep, 1), 0);
    assert_int_equal(query_int(s->db, "SELECT count(*) FROM plugins"), 1);
    assert_int_equal(oa_store_exec(s, "ROLLBACK"), 0);
    assert_int_equal(query_int(s->db, "SELECT count(*) FROM plugins"), 2);
    oa_store_close(s);
}

static void test_persistence_across_reopen(void **state)
{
    fixture *f = *state;
    static const char blob[] = {0, 1, 0, 2, 0};
    oa_store *s = open_ok(f->path);
    oa_plugin_row row;
    char *v = NULL;
    size_t len = 0;
    int enabled = 1;

    assert_int_equal(oa_store_config_set(s, "alpha", "port", "8621"), 0);
    assert_int_equal(oa_store_plugin_enabled_set(s, "alpha", 0), 0);
    assert_int_equal(oa_store_kv_set(s, "alpha", "state", blob, sizeof(blob)), 0);
    put_row(s, "/p/alpha.so", "alpha", "1.0.0");
    assert_int_equal(oa_store_plugin_crash_inc(s, "alpha"), 0);
    oa_store_close(s);

    s = open_ok(f->path);
    assert_config(s, "alpha", "port", "8621");
    assert_int_equal(oa_store_plugin_enabled_get(s, "alpha", &enabled), 0);
    assert_int_equal(enabled, 0);
    assert_int_equal(oa_store_kv_get(s, "alpha", "state", &v, &len), 0);
    assert_int_equal(len, sizeof(blob));
    assert_memory_equal(v, blob, sizeof(blob));
    free(v);
    assert_int_equal(oa_store_plugin_row_by_file(s, "/p/alpha.so", &row), 0);
    assert_string_equal(row.name, "alpha");
    assert_string_equal(row.version, "1.0.0");
    assert_int_equal(row.enabled, 0);
    assert_int_equal(row.crash_count, 1);
    oa_store_plugin_row_free(&row);
    oa_store_close(s);
}

static void test_reopen_runs_no_migration(void **state)
{
    fixture *f = *state;
    oa_store *s = open_ok(f->path);

    assert_int_equal(oa_store_config_set(s, "host", "k", "v"), 0);
    oa_store_close(s);
    /* A marker migration 1 would undo if it ran again: drop a table it
     * creates. */
    raw_exec(f->path, "DROP TABLE audit");

    s = open_ok(f->path);
    assert_int_equal(query_int(s->db, "PRAGMA user_version"), oa_store_schema_version());
    assert_false(table_exists(s->db, "audit"));
    assert_config(s, "host", "k", "v");
    oa_store_close(s);
}

static void test_failed_migration_rolls_back(void **state)
{
    fixture *f = *state;
    oa_store untouched;
    oa_store *s = &untouched;
    char err[512] = "";
    sqlite3 *raw = NULL;

    /* A fresh file (version 0) whose "config" table already exists makes
     * migration 1 fail half-way. */
    raw_exec(f->path, "CREATE TABLE config (x INTEGER)");
    assert_int_equal(oa_store_open(f->path, &s, err, sizeof(err)), OA_EIO);
    assert_ptr_equal(s, &untouched);
    assert_non_null(strstr(err, "migration 1"));
    assert_non_null(strstr(err, "already exists"));

    /* Nothing of the migration stayed. */
    assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
    assert_int_equal(query_int(raw, "PRAGMA user_version"), 0);
    assert_false(table_exists(raw, "kv"));
    assert_false(table_exists(raw, "plugins"));
    assert_true(table_exists(raw, "config"));
    assert_int_equal(sqlite3_close(raw), SQLITE_OK);
}

static void test_newer_schema_refused(void **state)
{
    fixture *f = *state;
    oa_store untouched;
    oa_store *s = &untouched;
    char err[512] = "";
    char want[512];
    char sql[64];
    sqlite3 *raw = NULL;
    int newer = oa_store_schema_version() + 1;

    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", newer);
    raw_exec(f->path, sql);
    assert_int_equal(oa_store_open(f->path, &s, err, sizeof(err)), OA_EVERSION);
    assert_ptr_equal(s, &untouched);
    snprintf(want, sizeof(want),
             "database schema version %d is newer than this build understands (%d); "
             "upgrade openace",
             newer, oa_store_schema_version());
    assert_string_equal(err, want);

    /* The file is left as it was. */
    assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
    assert_int_equal(query_int(raw, "PRAGMA user_version"), newer);
    assert_false(table_exists(raw, "config"));
    assert_int_equal(sqlite3_close(raw), SQLITE_OK);
}

static void test_not_a_database_refused(void **state)
{
    fixture *f = *state;
    oa_store untouched;
    oa_store *s = &untouched;
    char err[512] = "";
    unsigned char junk[4096];
    unsigned char back[sizeof(junk) + 1];
    FILE *fp;
    size_t i;

    for (i = 0; i < sizeof(junk); i++) {
        junk[i] = (unsigned char)((i * 131u + 7u) ^ (i >> 3));
    }
    fp = fopen(f->path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
    fclose(fp);

    assert_int_equal(oa_store_open(f->path, &s, err, sizeof(err)), OA_EIO);
    assert_ptr_equal(s, &untouched);
    assert_non_null(strstr(err, f->path));
    assert_non_null(strstr(err, "not a database"));

    /* The user's file is not touched. */
    fp = fopen(f->path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(back, 1, sizeof(back), fp), sizeof(junk));
    fclose(fp);
    assert_memory_equal(back, junk, sizeof(junk));
}

static void test_missing_directory_refused(void **state)
{
    fixture *f = *state;
    oa_store untouched;
    oa_store *s = &untouched;
    char err[512] = "";
    char *missing = oa_test_path(f->dir, "missing");
    char *path = oa_test_path(missing, "state.db");

    assert_int_equal(oa_store_open(path, &s, err, sizeof(err)), OA_EIO);
    assert_ptr_equal(s, &untouched);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "does not exist"));
    assert_int_not_equal(access(missing, F_OK), 0);
    free(path);
    free(missing);
}

static void test_two_handles_share_committed_writes(void **state)
{
    fixture *f = *state;
    oa_store *a = open_ok(f->path);
    oa_store *b = open_ok(f->path);
    oa_plugin_row *rows = NULL;
    size_t n = 0;
    int enabled = 1;

    assert_int_equal(oa_store_config_set(a, "host", "p2p_port", "8621"), 0);
    assert_config(b, "host", "p2p_port", "8621");
    assert_int_equal(oa_store_plugin_enabled_set(b, "alpha", 0), 0);
    assert_int_equal(oa_store_plugin_enabled_get(a, "alpha", &enabled), 0);
    assert_int_equal(enabled, 0);
    put_row(b, "/p/alpha.so", "alpha", "1");
    assert_int_equal(oa_store_plugin_rows(a, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].enabled, 0);
    oa_store_plugin_rows_free(rows, n);
    oa_store_close(b);
    oa_store_close(a);
}

static void test_writer_commits_while_reader_reads(void **state)
{
    fixture *f = *state;
    oa_store *a = open_ok(f->path);
    oa_store *b = open_ok(f->path);

    assert_int_equal(oa_store_config_set(a, "host", "k", "old"), 0);
    /* b holds a read transaction open (the offline CLI listing). */
    assert_int_equal(oa_store_exec(b, "BEGIN"), 0);
    assert_config(b, "host", "k", "old");
    /* Under WAL the writer commits at once (a rollback journal would wait
     * for the reader and fail with busy). */
    assert_int_equal(oa_store_config_set(a, "host", "k", "new"), 0);
    assert_config(b, "host", "k", "old"); /* b's snapshot */
    assert_int_equal(oa_store_exec(b, "COMMIT"), 0);
    assert_config(b, "host", "k", "new");
    oa_store_close(a);
    oa_store_close(b);
}

static void test_sql_error_is_logged(void **state)
{
    fixture *f = *state;
    oa_store *s = open_ok(f->path);
    oa_log_line lines[16];
    uint64_t last = 0;
    size_t got;
    size_t i;
    int found = 0;

    for (;;) {
        got = oa_log_recent(last, lines, 16);
        if (got == 0) {
            break;
        }
        last = lines[got - 1].seq;
    }
    assert_int_equal(oa_store_exec(s, "THIS IS NOT SQL"), OA_EIO);
    got = oa_log_recent(last, lines, 16);
    for (i = 0; i < got; i++) {
        if (strcmp(lines[i].tag, "store") == 0 && lines[i].level == OA_LOG_ERROR &&
            strstr(lines[i].msg, "syntax error") != NULL) {
            found = 1;
        }
    }
    assert_true(found);
    oa_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_fresh_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_uses_wal_and_pragmas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_empty_existing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_owner_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_set_get_overwrite_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_missing_is_enoent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv_binary_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enabled_default_and_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plugin_row_put_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plugin_row_without_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_inc_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plugin_rows_list_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plugin_rows_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_inside_caller_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_runs_no_migration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_migration_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_database_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_directory_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_handles_share_committed_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_writer_commits_while_reader_reads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sql_error_is_logged, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* openace script run FILE.lua (see scripts_cli.h). The script runs in this
 * process against a host opened offline on a scratch copy of the data
 * directory's database: plugins are loaded but not started (a running
 * engine may own their ports), HTTP is off, and whatever the script stores
 * is thrown away with the copy. A watch timer follows the script: its
 * errors as the runtime reports them, and whether it still has timers. */
#include "scripts_cli.h"

#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "host.h"
#include "lua.h"
#include "scripts.h"

/* How often the watch timer looks at the script. */
#define WATCH_MS 10
#define ERR_MAX 4096

typedef struct run_state {
    oa_host *h;
    oa_lua *L;
    const char *name;
    uv_timer_t watch;
    uv_timer_t deadline;
    int timers_open;
    int timed_out;
    int disabled;        /* the failure policy stopped the script */
    unsigned errors;     /* callback errors seen */
    unsigned last_failures;
    char first[ERR_MAX]; /* the first callback error */
} run_state;

/* Reads the script into *out. Returns 0, or 1 with a sentence on stderr. */
static int read_source(const char *file, char **out)
{
    FILE *f = fopen(file, "rb");
    char *buf;
    size_t n;

    *out = NULL;
    if (f == NULL) {
        fprintf(stderr, "openace: cannot read %s: %s\n", file, strerror(errno));
        return 1;
    }
    buf = malloc(OA_SCRIPT_SOURCE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        fprintf(stderr, "openace: out of memory\n");
        return 1;
    }
    n = fread(buf, 1, OA_SCRIPT_SOURCE_MAX + 1, f);
    if (ferror(f) || n > OA_SCRIPT_SOURCE_MAX || memchr(buf, '\0', n) != NULL) {
        fprintf(stderr, "openace: %s is not a Lua text file of at most %u bytes\n", file,
                OA_SCRIPT_SOURCE_MAX);
        fclose(f);
        free(buf);
        return 1;
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    return 0;
}

/* The script's name: the file's base name without ".lua", lower-cased,
 * every other character than a-z 0-9 _ - made '_', at most 64. */
static void name_from_file(const char *file, char *name, size_t len)
{
    const char *base = strrchr(file, '/');
    size_t n;
    size_t i;

    base = base != NULL ? base + 1 : file;
    n = strlen(base);
    if (n > 4 && strcmp(base + n - 4, ".lua") == 0) {
        n -= 4;
    }
    if (n > OA_SCRIPT_NAME_MAX) {
        n = OA_SCRIPT_NAME_MAX;
    }
    if (n >= len) {
        n = len - 1;
    }
    for (i = 0; i < n; i++) {
        char c = base[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            c = '_';
        }
        name[i] = c;
    }
    name[i] = '\0';
    if (i == 0) {
        snprintf(name, len, "script");
    }
}

/* Copies <data_dir>/openace.db into <scratch>/openace.db with SQLite's
 * backup (safe beside a running engine). No database yet: nothing to copy.
 * Returns 0, or 1 with a sentence on stderr. */
static int copy_database(const char *data_dir, const char *scratch)
{
    char from_path[PATH_MAX];
    char to_path[PATH_MAX];
    sqlite3 *from = NULL;
    sqlite3 *to = NULL;
    sqlite3_backup *b;
    int rc;

    if ((size_t)snprintf(from_path, sizeof(from_path), "%s/openace.db", data_dir) >=
            sizeof(from_path) ||
        (size_t)snprintf(to_path, sizeof(to_path), "%s/openace.db", scratch) >= sizeof(to_path)) {
        fprintf(stderr, "openace: the data directory path is too long\n");
        return 1;
    }
    if (access(from_path, F_OK) != 0) {
        return 0;
    }
    rc = sqlite3_open_v2(from_path, &from, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(from, 5000);
        rc = sqlite3_open_v2(to_path, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    }
    if (rc == SQLITE_OK) {
        b = sqlite3_backup_init(to, "main", from, "main");
        if (b != NULL) {
            sqlite3_backup_step(b, -1);
            sqlite3_backup_finish(b);
        }
        rc = sqlite3_errcode(to);
    }
    if (rc != SQLITE_OK) {
        fprintf(stderr, "openace: cannot copy the database %s for the test run: %s\n", from_path,
                from != NULL ? sqlite3_errmsg(to != NULL ? to : from) : sqlite3_errstr(rc));
    }
    sqlite3_close(to);
    sqlite3_close(from);
    return rc == SQLITE_OK ? 0 : 1;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* ---- following the script ------------------------------------------------ */

typedef struct timer_count {
    const uv_handle_t *skip; /* our deadline */
    size_t n;
} timer_count;

/* Counts the active, referenced timers other than our deadline: with no
 * plugin started, those are the script's. */
static void count_timer(uv_handle_t *hd, void *arg)
{
    timer_count *tc = arg;

    if (hd != tc->skip && uv_handle_get_type(hd) == UV_TIMER && uv_is_active(hd) &&
        uv_has_ref(hd) && !uv_is_closing(hd)) {
        tc->n++;
    }
}

static void on_run_timer_closed(uv_handle_t *hd)
{
    run_state *r = hd->data;
    r->timers_open--;
}

static void finish(run_state *r)
{
    uv_close((uv_handle_t *)&r->watch, on_run_timer_closed);
    uv_close((uv_handle_t *)&r->deadline, on_run_timer_closed);
    uv_stop(r->h->loop);
}

/* Notes a callback error the runtime reports: a new error text, or more
 * consecutive failures than last time. */
static void note_errors(run_state *r)
{
    oa_lua_script_info info;

    if (oa_lua_info(r->L, r->name, &info) != 0 || !info.running) {
        r->disabled = 1;
        return;
    }
    r->last_failures = info.failures;
}

/* Each callback error is published as script.error; counting those is
 * exact, where polling the runtime could miss the last one. */
static void on_script_error(void *arg, const char *topic, const char *json, size_t len)
{
    run_state *r = arg;
    json_t *ev = json_loadb(json, len, 0, NULL);
    const char *script = json_string_value(json_object_get(ev, "script"));
    const char *error = json_string_value(json_object_get(ev, "error"));
    (void)topic;
    if (script != NULL && strcmp(script, r->name) == 0) {
        r->errors++;
        if (r->first[0] == '\0' && error != NULL) {
            snprintf(r->first, sizeof(r->first), "%s", error);
        }
    }
    json_decref(ev);
}

static void on_watch(uv_timer_t *t)
{
    run_state *r = t->data;
    oa_bus_stats bs;
    timer_count tc = {(const uv_handle_t *)&r->deadline, 0};

    note_errors(r);
    if (r->disabled) {
        finish(r);
        return;
    }
    oa_bus_get_stats(r->h->bus, &bs);
    /* The watch timer is unreferenced, the deadline skipped. */
    uv_walk(r->h->loop, count_timer, &tc);
    if (bs.queued == 0 && tc.n == 0) {
        finish(r);
    }
}

static void on_deadline(uv_timer_t *t)
{
    run_state *r = t->data;

    note_errors(r);
    r->timed_out = 1;
    finish(r);
}

static void on_disabled(void *arg, const char *name, const char *reason)
{
    run_state *r = arg;

    (void)name;
    r->disabled = 1;
    if (r->first[0] == '\0' && reason != NULL) {
        snprintf(r->first, sizeof(r->first), "%s", reason);
    }
}

/* Runs the loop until the script is done; returns the exit code. */
static int follow(run_state *r, unsigned timeout_ms)
{
    oa_bus_subscribe(r->h->bus, "script.error", on_script_error, r, r, NULL);
    uv_timer_init(r->h->loop, &r->watch);
    uv_timer_init(r->h->loop, &r->deadline);
    r->watch.data = r;
    r->deadline.data = r;
    r->timers_open = 2;
    uv_timer_start(&r->watch, on_watch, 0, WATCH_MS);
    uv_timer_start(&r->deadline, on_deadline, timeout_ms, 0);
    /* The deadline stays referenced, so the loop always has it to wait for. */
    uv_unref((uv_handle_t *)&r->watch);
    while (r->timers_open > 0) {
        uv_run(r->h->loop, UV_RUN_DEFAULT);
    }
    /* Deliver script.error events still queued, then stop counting. */
    oa_bus_flush(r->h->bus);
    oa_bus_unsubscribe_owner(r->h->bus, r);
    if (r->errors > 0 || r->disabled) {
        const char *what = r->first[0] != '\0' ? r->first : "the script stopped";
        fprintf(stderr, "openace: script %s failed: %s\n", r->name, what);
        if (r->errors > 1) {
            fprintf(stderr, "openace: %u callback errors in all\n", r->errors);
        }
        if (r->disabled) {
            fprintf(stderr, "openace: the engine's failure policy disabled the script\n");
        }
        return 1;
    }
    if (r->timed_out) {
        printf("script %s ran without errors for %u ms (stopped with timers still set)\n",
               r->name, timeout_ms);
    } else {
        printf("script %s ran without errors (no timers left)\n", r->name);
    }
    return 0;
}

/* Opens the offline host on scratch and runs the script. */
static int run_in(const char *scratch, const char *plugin_dir, const char *file,
                  const char *source, unsigned timeout_ms)
{
    char name[OA_SCRIPT_NAME_MAX + 1];
    char modules[PATH_MAX];
    char err[ERR_MAX];
    oa_host_options opt;
    oa_log_level saved = oa_log_get_level();
    struct stat st;
    run_state *r;
    oa_host h;
    int rc;

    name_from_file(file, name, sizeof(name));
    if (realpath(file, modules) == NULL) {
        snprintf(modules, sizeof(modules), "%s", file);
    }
    memset(&opt, 0, sizeof(opt));
    opt.data_dir = scratch;
    opt.plugin_dir = plugin_dir != NULL && stat(plugin_dir, &st) == 0 && S_ISDIR(st.st_mode)
                         ? plugin_dir
                         : NULL;
    opt.engine = 0;
    opt.http = OA_HTTP_OFF;
    if (oa_host_open(&h, NULL, &opt, err, sizeof(err)) != 0) {
        fprintf(stderr, "openace: %s\n", err);
        return 1;
    }
    r = calloc(1, sizeof(*r));
    rc = r != NULL ? oa_lua_new(&h, NULL, dirname(modules), &r->L) : OA_ENOMEM;
    if (rc != 0) {
        fprintf(stderr, "openace: cannot start the Lua runtime: %s\n", oa_strerror(rc));
        free(r);
        oa_host_close(&h);
        return 1;
    }
    r->h = &h;
    r->name = name;
    oa_lua_on_disabled(r->L, on_disabled, r);
    /* The script's info lines are what this command is for. */
    if (saved < OA_LOG_INFO) {
        oa_log_set_level(OA_LOG_INFO);
    }
    err[0] = '\0';
    rc = oa_lua_load(r->L, name, source, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "openace: script %s failed: %s\n", name,
                err[0] != '\0' ? err : oa_strerror(rc));
        rc = 1;
    } else {
        rc = follow(r, timeout_ms);
    }
    oa_lua_on_disabled(r->L, NULL, NULL);
    oa_lua_free(r->L);
    oa_log_set_level(saved);
    if (oa_host_close(&h) != 0) {
        fprintf(stderr, "openace: the test host did not close cleanly\n");
    }
    free(r);
    return rc;
}

int oa_cli_script_run(const char *data_dir, const char *plugin_dir, const char *file,
                      unsigned timeout_ms)
{
    const char *tmp = getenv("TMPDIR");
    char scratch[PATH_MAX];
    char *source = NULL;
    int rc;

    if (file == NULL || data_dir == NULL) {
        fprintf(stderr, "openace: script run needs a FILE.lua\n");
        return 2;
    }
    if (read_source(file, &source) != 0) {
        return 1;
    }
    snprintf(scratch, sizeof(scratch), "%s/openace-script-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(scratch) == NULL) {
        fprintf(stderr, "openace: cannot create a scratch directory in %s: %s\n",
                tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", strerror(errno));
        free(source);
        return 1;
    }
    rc = copy_database(data_dir, scratch);
    if (rc == 0) {
        rc = run_in(scratch, plugin_dir, file, source,
                    timeout_ms != 0 ? timeout_ms : OA_CLI_SCRIPT_TIMEOUT_MS);
    }
    nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(source);
    return rc;
}

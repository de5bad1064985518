/* Scripts (see scripts.h): the table scripts in the store, the first-start
 * import of the shipped examples, loading the enabled scripts into the
 * runtime, and the changes the admin API makes. The rule throughout: the
 * runtime is asked first and the store follows only what it accepted, so a
 * refused change leaves both as they were. Every statement is prepared with
 * bound parameters; a store failure is logged with the tag "host" and
 * returned as OA_EIO. */
#include "scripts.h"

#include <dirent.h>
/* Lua's own lua.h comes through lauxlib.h: host/lua.h shadows <lua.h>. */
#include <lauxlib.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "host.h"

#define SCRIPTS_TAG "host"
#define SEED_SCOPE "host"
#define SEED_KEY "scripts_seeded"
/* Longest last_error and audit detail kept. */
#define ERROR_KEEP 4000
#define AUDIT_DETAIL_MAX 300

struct oa_scripts {
    struct oa_host *h;
    oa_lua *L;
};

/* One stored row. */
typedef struct script_row {
    char *source;
    char *last_error;
    int enabled;
    int64_t updated;
} script_row;

static void row_free(script_row *r)
{
    free(r->source);
    free(r->last_error);
    memset(r, 0, sizeof(*r));
}

static void set_err(char *err, size_t errlen, const char *fmt, ...) OA_PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int oa_scripts_name_valid(const char *name)
{
    size_t n = 0;

    if (name == NULL) {
        return 0;
    }
    for (; name[n] != '\0'; n++) {
        char c = name[n];
        if (n >= OA_SCRIPT_NAME_MAX) {
            return 0;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            return 0;
        }
    }
    return n > 0;
}

int oa_scripts_error_line(const char *err)
{
    const char *p;

    if (err == NULL) {
        return 0;
    }
    /* The first ":<digits>:" on the first line: "name:12: message". */
    for (p = err; *p != '\0' && *p != '\n'; p++) {
        const char *d = p + 1;
        long line = 0;

        if (*p != ':' || *d < '0' || *d > '9') {
            continue;
        }
        while (*d >= '0' && *d <= '9' && line < 100000000) {
            line = line * 10 + (*d - '0');
            d++;
        }
        if (*d == ':' && line > 0) {
            return (int)line;
        }
    }
    return 0;
}

/* ---- the table ------------------------------------------------------------ */

/* Logs a failed statement about script name with SQLite's message. */
static int db_fail(oa_scripts *s, const char *what, const char *name)
{
    oa_log_write(OA_LOG_ERROR, SCRIPTS_TAG, "scripts: %s of '%s' in database %s failed: %s",
                 what, name != NULL ? name : "", s->h->store->path,
                 sqlite3_errmsg(s->h->store->db));
    return OA_EIO;
}

/* Prepares sql. Returns 0 or OA_EIO (logged). */
static int db_prepare(oa_scripts *s, sqlite3_stmt **st, const char *sql, const char *what,
                      const char *name)
{
    if (sqlite3_prepare_v2(s->h->store->db, sql, -1, st, NULL) != SQLITE_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
        return db_fail(s, what, name);
    }
    return 0;
}

/* A statement parameter: text (NULL binds SQL NULL) or, with is_num, an
 * integer. */
typedef struct db_arg {
    const char *text;
    int64_t num;
    int is_num;
} db_arg;

#define ARG_T(t) {(t), 0, 0}
#define ARG_I(i) {NULL, (int64_t)(i), 1}

/* Binds args[0..n-1] to ?1..?n (texts are copied). Returns an SQLite code. */
static int db_bind(sqlite3_stmt *st, const db_arg *args, int n)
{
    int rc = SQLITE_OK;

    for (int i = 0; rc == SQLITE_OK && i < n; i++) {
        if (args[i].is_num) {
            rc = sqlite3_bind_int64(st, i + 1, (sqlite3_int64)args[i].num);
        } else if (args[i].text == NULL) {
            rc = sqlite3_bind_null(st, i + 1);
        } else {
            rc = sqlite3_bind_text(st, i + 1, args[i].text, -1, SQLITE_TRANSIENT);
        }
    }
    return rc;
}

/* Runs a statement with parameters and no result rows, about script
 * name. Returns 0 or OA_EIO (logged). */
static int db_run(oa_scripts *s, const char *sql, const db_arg *args, int n, const char *what,
                  const char *name)
{
    sqlite3_stmt *st = NULL;
    int rc = db_prepare(s, &st, sql, what, name);

    if (rc != 0) {
        return rc;
    }
    rc = db_bind(st, args, n);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s, what, name);
}

static char *col_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *t;

    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        return NULL;
    }
    t = sqlite3_column_text(st, col);
    return t != NULL ? strdup((const char *)t) : NULL;
}

/* Reads the row of name. OA_ENOENT when there is none. */
static int db_get(oa_scripts *s, const char *name, script_row *row)
{
    sqlite3_stmt *st = NULL;
    int rc = db_prepare(s, &st,
                        "SELECT source, enabled, last_error, updated FROM scripts WHERE name = ?1",
                        "reading the script", name);

    memset(row, 0, sizeof(*row));
    if (rc != 0) {
        return rc;
    }
    {
        db_arg arg[] = {ARG_T(name)};
        rc = db_bind(st, arg, 1);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_ROW) {
        row->source = col_dup(st, 0);
        row->enabled = sqlite3_column_int(st, 1) != 0;
        row->last_error = col_dup(st, 2);
        row->updated = sqlite3_column_int64(st, 3);
        rc = row->source != NULL ? 0 : OA_ENOMEM;
    } else if (rc == SQLITE_DONE) {
        rc = OA_ENOENT;
    } else {
        rc = db_fail(s, "reading the script", name);
    }
    sqlite3_finalize(st);
    if (rc != 0) {
        row_free(row);
    }
    return rc;
}

/* Creates or replaces a script; its last error is cleared. */
static int db_put(oa_scripts *s, const char *name, const char *source, int enabled)
{
    db_arg arg[] = {ARG_T(name), ARG_T(source), ARG_I(enabled != 0), ARG_I(time(NULL))};

    return db_run(s,
                  "INSERT INTO scripts (name, source, enabled, last_error, updated) "
                  "VALUES (?1, ?2, ?3, NULL, ?4) ON CONFLICT (name) DO UPDATE SET "
                  "source = excluded.source, enabled = excluded.enabled, "
                  "last_error = NULL, updated = excluded.updated",
                  arg, 4, "storing the script", name);
}

/* Stores the enabled flag and the last error (NULL clears it; a long one
 * is cut). */
static int db_set_state(oa_scripts *s, const char *name, int enabled, const char *last_error)
{
    char cut[ERROR_KEEP];
    db_arg arg[] = {ARG_T(name), ARG_I(enabled != 0), ARG_T(last_error != NULL ? cut : NULL),
                    ARG_I(time(NULL))};

    snprintf(cut, sizeof(cut), "%s", last_error != NULL ? last_error : "");
    return db_run(s,
                  "UPDATE scripts SET enabled = ?2, last_error = ?3, updated = ?4 "
                  "WHERE name = ?1",
                  arg, 4, "storing the script's state", name);
}

/* Records only the last error (NULL clears it), keeping updated: a load at
 * start is not a change by anyone. */
static int db_set_error(oa_scripts *s, const char *name, const char *last_error)
{
    char cut[ERROR_KEEP];
    db_arg arg[] = {ARG_T(name), ARG_T(last_error != NULL ? cut : NULL)};

    snprintf(cut, sizeof(cut), "%s", last_error != NULL ? last_error : "");
    return db_run(s, "UPDATE scripts SET last_error = ?2 WHERE name = ?1", arg, 2,
                  "storing the script's error", name);
}

static int db_delete(oa_scripts *s, const char *name)
{
    db_arg arg[] = {ARG_T(name)};

    return db_run(s, "DELETE FROM scripts WHERE name = ?1", arg, 1, "deleting the script", name);
}

/* ---- first start: the shipped examples ------------------------------------ */

/* Reads a whole file of at most OA_SCRIPT_SOURCE_MAX bytes into *out. */
static int read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    *out = NULL;
    if (f == NULL) {
        return OA_EIO;
    }
    buf = malloc(OA_SCRIPT_SOURCE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return OA_ENOMEM;
    }
    n = fread(buf, 1, OA_SCRIPT_SOURCE_MAX + 1, f);
    if (ferror(f) || n > OA_SCRIPT_SOURCE_MAX || memchr(buf, '\0', n) != NULL) {
        fclose(f);
        free(buf);
        return OA_EINVAL;
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    return 0;
}

static int lua_file_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 4 && strcmp(d->d_name + n - 4, ".lua") == 0 && d->d_name[0] != '.';
}

/* Adds one example as a disabled script, unless a script of that name is
 * stored already. */
static void seed_one(oa_scripts *s, const char *dir, const char *file)
{
    char name[OA_SCRIPT_NAME_MAX + 8];
    char path[4096];
    char *source = NULL;
    size_t n = strlen(file) - 4;
    int rc;

    if (n >= sizeof(name)) {
        n = sizeof(name) - 1;
    }
    memcpy(name, file, n);
    name[n] = '\0';
    if (!oa_scripts_name_valid(name) || n != strlen(file) - 4) {
        oa_log_write(OA_LOG_WARN, SCRIPTS_TAG,
                     "scripts: not importing %s/%s: script names are 1-64 characters of "
                     "a-z, 0-9, '_' and '-'",
                     dir, file);
        return;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    rc = read_file(path, &source);
    if (rc != 0) {
        oa_log_write(OA_LOG_WARN, SCRIPTS_TAG,
                     "scripts: not importing %s: %s", path,
                     rc == OA_EINVAL ? "not a text file of at most 512 KiB" : oa_strerror(rc));
        return;
    }
    {
        db_arg arg[] = {ARG_T(name), ARG_T(source), ARG_I(time(NULL))};
        rc = db_run(s,
                    "INSERT OR IGNORE INTO scripts (name, source, enabled, last_error, updated) "
                    "VALUES (?1, ?2, 0, NULL, ?3)",
                    arg, 3, "importing the example", name);
    }
    if (rc == 0) {
        oa_log_write(OA_LOG_INFO, SCRIPTS_TAG,
                     "scripts: imported example %s from %s, disabled until an administrator "
                     "enables it",
                     name, path);
    }
    free(source);
}

/* On the first start, imports every *.lua of dir as a disabled script and
 * sets the seeded flag. Without a readable dir the flag stays unset, so a
 * later start with the examples installed still imports them. */
static void seed(oa_scripts *s, const char *dir)
{
    struct dirent **list = NULL;
    char *flag = NULL;
    size_t len = 0;
    int n;

    if (oa_store_kv_get(s->h->store, SEED_SCOPE, SEED_KEY, &flag, &len) == 0) {
        free(flag);
        return;
    }
    if (dir == NULL) {
        return;
    }
    n = scandir(dir, &list, lua_file_filter, alphasort);
    if (n < 0) {
        oa_log_write(OA_LOG_WARN, SCRIPTS_TAG,
                     "scripts: cannot read the example directory %s; no examples imported", dir);
        return;
    }
    for (int i = 0; i < n; i++) {
        seed_one(s, dir, list[i]->d_name);
        free(list[i]);
    }
    free(list);
    oa_store_kv_set(s->h->store, SEED_SCOPE, SEED_KEY, "1", 1);
}

/* ---- runtime hook --------------------------------------------------------- */

/* The failure policy disabled a script: store it disabled with the reason,
 * and record who did it (the engine). */
static void on_disabled(void *arg, const char *name, const char *reason)
{
    oa_scripts *s = arg;
    char detail[AUDIT_DETAIL_MAX];
    int rc;

    oa_log_write(OA_LOG_WARN, SCRIPTS_TAG, "script %s was disabled: %s", name,
                 reason != NULL ? reason : "");
    rc = db_set_state(s, name, 0, reason != NULL ? reason : "disabled by the failure policy");
    if (rc != 0) {
        return;
    }
    snprintf(detail, sizeof(detail), "%s (by the engine: %s)", name,
             reason != NULL ? reason : "");
    detail[strcspn(detail, "\n")] = '\0';
    oa_audit_add(s->h->store, NULL, NULL, "script.disable", detail);
}

/* ---- open and close ------------------------------------------------------- */

/* Loads every enabled script; a failure is logged and kept as the
 * script's last error, and does not stop the others. */
static int load_enabled(oa_scripts *s)
{
    oa_script_view *v = NULL;
    size_t n = 0;
    char err[ERROR_KEEP];
    int rc = oa_scripts_list(s, &v, &n);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        script_row row;

        if (!v[i].enabled || db_get(s, v[i].name, &row) != 0) {
            continue;
        }
        err[0] = '\0';
        if (oa_lua_load(s->L, v[i].name, row.source, err, sizeof(err)) != 0) {
            oa_log_write(OA_LOG_WARN, SCRIPTS_TAG, "script %s did not load: %s", v[i].name,
                         err);
            db_set_error(s, v[i].name, err[0] != '\0' ? err : "the script did not load");
        } else {
            oa_log_write(OA_LOG_INFO, SCRIPTS_TAG, "script %s: running", v[i].name);
            if (row.last_error != NULL) {
                db_set_error(s, v[i].name, NULL);
            }
        }
        row_free(&row);
    }
    oa_script_views_free(v, n);
    return rc;
}

int oa_scripts_open(struct oa_host *h, oa_lua *L, const char *install_dir, oa_scripts **out)
{
    oa_scripts *s;
    int rc;

    if (h == NULL || h->store == NULL || L == NULL || out == NULL) {
        return OA_EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return OA_ENOMEM;
    }
    s->h = h;
    s->L = L;
    seed(s, install_dir);
    oa_lua_on_disabled(L, on_disabled, s);
    rc = load_enabled(s);
    if (rc != 0) {
        oa_lua_on_disabled(L, NULL, NULL);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void oa_scripts_close(oa_scripts *s)
{
    if (s == NULL) {
        return;
    }
    oa_lua_on_disabled(s->L, NULL, NULL);
    if (s->h->http != NULL) {
        oa_http_unroute_owner(s->h->http, s);
    }
    free(s);
}

struct oa_host *oa_scripts_host(oa_scripts *s)
{
    return s->h;
}

/* ---- views ---------------------------------------------------------------- */

/* Fills the runtime's part of a view: running, failures and, for a
 * running script with a callback error, that error in place of the stored
 * one. */
static int view_runtime(oa_scripts *s, oa_script_view *v)
{
    oa_lua_script_info info;

    v->running = 0;
    v->failures = 0;
    if (oa_lua_info(s->L, v->name, &info) != 0) {
        return 0;
    }
    v->running = info.running != 0;
    v->failures = info.failures;
    /* A stopped script's stored error says why it stopped. */
    if (info.running && info.last_error != NULL && info.last_error[0] != '\0') {
        char *e = strdup(info.last_error);
        if (e == NULL) {
            return OA_ENOMEM;
        }
        free(v->last_error);
        v->last_error = e;
    }
    return 0;
}

void oa_script_view_free(oa_script_view *view)
{
    if (view == NULL) {
        return;
    }
    free(view->name);
    free(view->source);
    free(view->last_error);
    memset(view, 0, sizeof(*view));
}

void oa_script_views_free(oa_script_view *views, size_t n)
{
    for (size_t i = 0; views != NULL && i < n; i++) {
        oa_script_view_free(&views[i]);
    }
    free(views);
}

int oa_scripts_list(oa_scripts *s, oa_script_view **views, size_t *n)
{
    sqlite3_stmt *st = NULL;
    oa_script_view *v = NULL;
    size_t cnt = 0;
    size_t cap = 0;
    int step = SQLITE_DONE;
    int rc = db_prepare(s, &st,
                        "SELECT name, enabled, last_error, updated FROM scripts ORDER BY name",
                        "listing the scripts", "*");

    *views = NULL;
    *n = 0;
    if (rc != 0) {
        return rc;
    }
    for (;;) {
        oa_script_view *e;

        step = sqlite3_step(st);
        if (step != SQLITE_ROW) {
            break;
        }
        if (cnt == cap) {
            size_t ncap = cap != 0 ? cap * 2 : 8;
            oa_script_view *nv = realloc(v, ncap * sizeof(*nv));
            if (nv == NULL) {
                rc = OA_ENOMEM;
                break;
            }
            v = nv;
            cap = ncap;
        }
        e = &v[cnt];
        memset(e, 0, sizeof(*e));
        cnt++;
        e->name = col_dup(st, 0);
        e->enabled = sqlite3_column_int(st, 1) != 0;
        e->last_error = col_dup(st, 2);
        e->updated = sqlite3_column_int64(st, 3);
        if (e->name == NULL) {
            rc = OA_ENOMEM;
            break;
        }
    }
    if (rc == 0 && step != SQLITE_DONE) {
        rc = db_fail(s, "listing the scripts", "*");
    }
    sqlite3_finalize(st);
    for (size_t i = 0; rc == 0 && i < cnt; i++) {
        rc = view_runtime(s, &v[i]);
    }
    if (rc != 0) {
        oa_script_views_free(v, cnt);
        return rc;
    }
    *views = v;
    *n = cnt;
    return 0;
}

int oa_scripts_get(oa_scripts *s, const char *name, oa_script_view *view)
{
    script_row row;
    int rc;

    memset(view, 0, sizeof(*view));
    if (!oa_scripts_name_valid(name)) {
        return OA_ENOENT;
    }
    rc = db_get(s, name, &row);
    if (rc != 0) {
        return rc;
    }
    view->name = strdup(name);
    view->source = row.source;
    view->last_error = row.last_error;
    view->enabled = row.enabled;
    view->updated = row.updated;
    row.source = NULL;
    row.last_error = NULL;
    rc = view->name != NULL ? view_runtime(s, view) : OA_ENOMEM;
    if (rc != 0) {
        oa_script_view_free(view);
    }
    return rc;
}

/* ---- changes -------------------------------------------------------------- */

/* Compiles source as text without running it: the check for a script
 * stored disabled. The message has the runtime's form, "name:line: ...". */
static int compile_check(const char *name, const char *source, char *err, size_t errlen)
{
    char chunk[OA_SCRIPT_NAME_MAX + 2];
    lua_State *ls = luaL_newstate();
    int rc;

    if (ls == NULL) {
        set_err(err, errlen, "out of memory");
        return OA_ENOMEM;
    }
    snprintf(chunk, sizeof(chunk), "=%s", name);
    rc = luaL_loadbufferx(ls, source, strlen(source), chunk, "t");
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(ls, -1);
        set_err(err, errlen, "%s", msg != NULL ? msg : "the script does not compile");
        lua_close(ls);
        return rc == LUA_ERRMEM ? OA_ENOMEM : OA_EINVAL;
    }
    lua_close(ls);
    return 0;
}

/* Reads a script's row: OA_ENOENT with "no script named ..." for an unknown
 * or invalid name, OA_EIO-like codes with a sentence for a database error.
 * On success the caller frees row with row_free. */
static int fetch_row(oa_scripts *s, const char *name, script_row *row, char *err, size_t errlen)
{
    int rc = oa_scripts_name_valid(name) ? db_get(s, name, row) : OA_ENOENT;

    if (rc == OA_ENOENT) {
        set_err(err, errlen, "no script named '%.80s'", name != NULL ? name : "");
    } else if (rc != 0) {
        set_err(err, errlen, "cannot read script '%s' from the database", name);
    }
    return rc;
}

/* Loads source into the runtime; on refusal returns OA_EINVAL with the
 * runtime's error (or a sentence naming the code) in err. */
static int load_or_explain(oa_scripts *s, const char *name, const char *source, char *err,
                           size_t errlen)
{
    int rc = oa_lua_load(s->L, name, source, err, errlen);

    if (rc == 0) {
        return 0;
    }
    if (err != NULL && errlen > 0 && err[0] == '\0') {
        set_err(err, errlen, "script '%s' did not load: %s", name, oa_strerror(rc));
    }
    return OA_EINVAL;
}

/* Whether the runtime runs name now. */
static int is_running(oa_scripts *s, const char *name)
{
    oa_lua_script_info info;
    return oa_lua_info(s->L, name, &info) == 0 && info.running;
}

static int check_name(const char *name, char *err, size_t errlen)
{
    if (!oa_scripts_name_valid(name)) {
        set_err(err, errlen,
                "script names are 1-64 characters of a-z, 0-9, '_' and '-'; got '%.80s'",
                name != NULL ? name : "");
        return OA_EINVAL;
    }
    return 0;
}

int oa_scripts_put(oa_scripts *s, const char *name, const char *source, int enabled, char *err,
                   size_t errlen)
{
    script_row old;
    int had;
    int rc = check_name(name, err, errlen);

    if (rc != 0) {
        return rc;
    }
    if (source == NULL || strlen(source) > OA_SCRIPT_SOURCE_MAX) {
        set_err(err, errlen, "a script's source is text of at most %u bytes",
                OA_SCRIPT_SOURCE_MAX);
        return OA_EINVAL;
    }
    rc = db_get(s, name, &old);
    if (rc != 0 && rc != OA_ENOENT) {
        set_err(err, errlen, "cannot read script '%s' from the database", name);
        return rc;
    }
    had = rc == 0;
    if (enabled < 0) {
        enabled = had ? old.enabled : 1;
    }
    if (!enabled) {
        /* Stored disabled: checked, stored, then stopped if it ran. */
        rc = compile_check(name, source, err, errlen);
        if (rc == 0) {
            rc = db_put(s, name, source, 0);
            if (rc != 0) {
                set_err(err, errlen, "cannot store script '%s' in the database", name);
            }
        }
        if (rc == 0) {
            oa_lua_unload(s->L, name);
        }
        row_free(&old);
        return rc;
    }
    /* Enabled: the runtime decides; on refusal the old script runs on. */
    rc = load_or_explain(s, name, source, err, errlen);
    if (rc != 0) {
        row_free(&old);
        return rc;
    }
    rc = db_put(s, name, source, 1);
    if (rc != 0) {
        char ignore[256];

        set_err(err, errlen, "cannot store script '%s' in the database", name);
        /* Put the runtime back in step with what is stored. */
        if (had && old.enabled) {
            oa_lua_load(s->L, name, old.source, ignore, sizeof(ignore));
        } else {
            oa_lua_unload(s->L, name);
        }
    }
    row_free(&old);
    return rc;
}

int oa_scripts_enable(oa_scripts *s, const char *name, char *err, size_t errlen)
{
    script_row row;
    int rc = fetch_row(s, name, &row, err, errlen);

    if (rc != 0) {
        return rc;
    }
    if (row.enabled && is_running(s, name)) {
        row_free(&row);
        return 0;
    }
    rc = load_or_explain(s, name, row.source, err, errlen);
    if (rc != 0) {
        row_free(&row);
        return rc;
    }
    rc = db_set_state(s, name, 1, NULL);
    if (rc != 0) {
        set_err(err, errlen, "cannot store script '%s' in the database", name);
        oa_lua_unload(s->L, name);
    }
    row_free(&row);
    return rc;
}

int oa_scripts_disable(oa_scripts *s, const char *name, char *err, size_t errlen)
{
    script_row row;
    int rc = fetch_row(s, name, &row, err, errlen);

    if (rc != 0) {
        return rc;
    }
    /* An error the failure policy recorded stays for the administrator. */
    rc = db_set_state(s, name, 0, row.last_error);
    if (rc != 0) {
        set_err(err, errlen, "cannot store script '%s' in the database", name);
    } else {
        oa_lua_unload(s->L, name);
    }
    row_free(&row);
    return rc;
}

int oa_scripts_delete(oa_scripts *s, const char *name, char *err, size_t errlen)
{
    script_row row;
    int rc = fetch_row(s, name, &row, err, errlen);

    if (rc != 0) {
        return rc;
    }
    row_free(&row);
    rc = db_delete(s, name);
    if (rc != 0) {
        set_err(err, errlen, "cannot delete script '%s' from the database", name);
        return rc;
    }
    oa_lua_unload(s->L, name);
    return 0;
}

/* Store: the host's SQLite database (see store.h): opening, schema
 * migrations, config values and kv blobs. Plugin rows, enabled flags and
 * crash counts are in store_plugins.c; store_int.h holds the helpers both
 * use. Every statement is prepared with bound parameters; every SQLite
 * failure is logged with the tag "store" and returned as OA_EIO. */
#include "store.h"

#include "log.h"
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STORE_TAG "store"
#define STORE_BUSY_TIMEOUT_MS 5000

/* Migration i takes PRAGMA user_version from i to i + 1 and runs in its own
 * transaction. Append only: a migration that has shipped never changes. */
static const char *const store_migrations[] = {
    /* Migration 1 (schema version 0 to 1): the initial schema. */
    "CREATE TABLE config ("
    "  scope TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  updated INTEGER,"
    "  PRIMARY KEY (scope, key));"
    "CREATE TABLE kv ("
    "  scope TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value BLOB NOT NULL,"
    "  PRIMARY KEY (scope, key));"
    "CREATE TABLE plugin_enabled ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  enabled INTEGER NOT NULL);"
    "CREATE TABLE plugins ("
    "  file TEXT PRIMARY KEY NOT NULL,"
    "  name TEXT,"
    "  version TEXT,"
    "  kind TEXT,"
    "  summary TEXT,"
    "  state TEXT,"
    "  last_error TEXT,"
    "  sdk_major INTEGER,"
    "  sdk_minor INTEGER,"
    "  mtime INTEGER,"
    "  size INTEGER,"
    "  updated INTEGER);"
    "CREATE INDEX plugins_by_name ON plugins (name);"
    "CREATE TABLE plugin_crash ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  count INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  time INTEGER,"
    "  topic TEXT,"
    "  json TEXT);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  time INTEGER,"
    "  who TEXT,"
    "  action TEXT,"
    "  detail TEXT);",
    /* Migration 2 (schema version 1 to 2): admin users, login sessions and
     * API tokens (auth.c; only hashes of session ids and tokens), and the
     * client address of audit entries. */
    "CREATE TABLE users ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  hash TEXT NOT NULL,"
    "  created INTEGER);"
    "CREATE TABLE sessions ("
    "  id_hash TEXT PRIMARY KEY NOT NULL,"
    "  user TEXT NOT NULL,"
    "  csrf TEXT NOT NULL,"
    "  created INTEGER,"
    "  last_seen INTEGER,"
    "  expires INTEGER);"
    "CREATE INDEX sessions_by_user ON sessions (user);"
    "CREATE TABLE api_tokens ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  token_hash TEXT UNIQUE NOT NULL,"
    "  user TEXT NOT NULL,"
    "  created INTEGER);"
    "ALTER TABLE audit ADD COLUMN client TEXT;",
    /* Migration 3 (schema version 2 to 3): Lua automation scripts
     * (scripts.c); names are 1-64 of [a-z0-9_-]. */
    "CREATE TABLE scripts ("
    "  name TEXT PRIMARY KEY NOT NULL,"
    "  source TEXT NOT NULL,"
    "  enabled INTEGER NOT NULL DEFAULT 1,"
    "  last_error TEXT,"
    "  updated INTEGER);",
};

static void store_err(char *err, size_t errlen, const char *fmt, ...) OA_PRINTF(3, 4);

static void store_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Logs a failed operation with SQLite's message and returns OA_EIO. Values
 * are never logged (they may be secrets); scopes and keys are. */
int store_fail(oa_store *s, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    oa_log_write(OA_LOG_ERROR, STORE_TAG, "%s in database %s failed: %s", what, s->path,
                 sqlite3_errmsg(s->db));
    return OA_EIO;
}

/* Logs a failed operation on the identifiers ids[0..nid-1] (scopes, keys,
 * names; never values, which may be secrets) and returns OA_EIO. */
int store_fail_on(oa_store *s, const char *what, const char *const *ids, int nid)
{
    char subject[200] = "";
    size_t used = 0;
    int i;

    for (i = 0; i < nid && used < sizeof(subject); i++) {
        int w = snprintf(subject + used, sizeof(subject) - used, "%s%s", i > 0 ? "/" : " ",
                         ids[i] != NULL ? ids[i] : "(null)");

        if (w < 0) {
            break;
        }
        used += (size_t)w;
    }
    return store_fail(s, "%s%s", what, subject);
}

/* Prepares sql and binds texts[0..n-1] to ?1..?n (a NULL pointer binds SQL
 * NULL; the texts must outlive the statement's steps). The first nid texts
 * are identifiers named in the log line on failure. */
int store_stmt(oa_store *s, sqlite3_stmt **st, const char *sql, const char *const *texts,
               int n, int nid, const char *what)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    int i;

    for (i = 0; rc == SQLITE_OK && i < n; i++) {
        if (texts[i] == NULL) {
            rc = sqlite3_bind_null(*st, i + 1);
        } else {
            rc = sqlite3_bind_text(*st, i + 1, texts[i], -1, SQLITE_STATIC);
        }
    }
    if (rc != SQLITE_OK) {
        int ret = store_fail_on(s, what, texts, nid);

        sqlite3_finalize(*st);
        *st = NULL;
        return ret;
    }
    return 0;
}

/* Steps a prepared statement that returns no rows, then finalizes it. */
int store_finish(oa_store *s, sqlite3_stmt *st, const char *const *ids, int nid,
                 const char *what)
{
    int ret = 0;

    if (sqlite3_step(st) != SQLITE_DONE) {
        ret = store_fail_on(s, what, ids, nid);
    }
    sqlite3_finalize(st);
    return ret;
}

/* Runs a statement with text parameters and no result rows. */
int store_run(oa_store *s, const char *sql, const char *const *texts, int n, int nid,
              const char *what)
{
    sqlite3_stmt *st = NULL;
    int ret = store_stmt(s, &st, sql, texts, n, nid, what);

    if (ret != 0) {
        return ret;
    }
    return store_finish(s, st, texts, nid, what);
}

/* Copies a text column into *out, NULL for SQL NULL. Returns 0 or
 * OA_ENOMEM. */
int store_column_dup(sqlite3_stmt *st, int col, char **out)
{
    const unsigned char *text;

    *out = NULL;
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        return 0;
    }
    text = sqlite3_column_text(st, col);
    if (text == NULL) {
        return OA_ENOMEM;
    }
    *out = strdup((const char *)text);
    if (*out == NULL) {
        return OA_ENOMEM;
    }
    return 0;
}

/* Reads PRAGMA user_version. Returns an SQLite result code. */
static int store_user_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *version = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Refuses a database from a newer build (or a corrupt version number). */
static int store_check_version(int version, char *err, size_t errlen)
{
    int ours = oa_store_schema_version();

    if (version > ours) {
        store_err(err, errlen,
                  "database schema version %d is newer than this build understands (%d); "
                  "upgrade openace",
                  version, ours);
        return OA_EVERSION;
    }
    if (version < 0) {
        store_err(err, errlen, "database schema version %d is not valid; the file is damaged",
                  version);
        return OA_EVERSION;
    }
    return 0;
}

/* Runs the pending migrations, each in one BEGIN IMMEDIATE transaction. The
 * version is read again inside the transaction, so that two processes
 * opening a fresh file at once do not both run the same migration. */
static int store_migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    int target = oa_store_schema_version();

    for (;;) {
        int version = 0;
        int locked_version = 0;
        int rc;
        char pragma[64];

        rc = store_user_version(db, &version);
        if (rc != SQLITE_OK) {
            store_err(err, errlen, "cannot read the schema version of database '%s': %s", path,
                      sqlite3_errmsg(db));
            return OA_EIO;
        }
        rc = store_check_version(version, err, errlen);
        if (rc != 0) {
            return rc;
        }
        if (version == target) {
            return 0;
        }
        rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            store_err(err, errlen,
                      "cannot start migration %d (schema version %d to %d) of database '%s': %s",
                      version + 1, version, version + 1, path, sqlite3_errmsg(db));
            return OA_EIO;
        }
        rc = store_user_version(db, &locked_version);
        if (rc == SQLITE_OK && locked_version != version) {
            /* Another process migrated meanwhile: look again. */
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            continue;
        }
        if (rc == SQLITE_OK) {
            rc = sqlite3_exec(db, store_migrations[version], NULL, NULL, NULL);
        }
        if (rc == SQLITE_OK) {
            /* PRAGMA takes no bound parameters; the number is our own. */
            snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
            rc = sqlite3_exec(db, pragma, NULL, NULL, NULL);
        }
        if (rc == SQLITE_OK) {
            rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        }
        if (rc != SQLITE_OK) {
            store_err(err, errlen,
                      "migration %d (schema version %d to %d) of database '%s' failed and was "
                      "rolled back: %s",
                      version + 1, version, version + 1, path, sqlite3_errmsg(db));
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return OA_EIO;
        }
        oa_log_write(OA_LOG_INFO, STORE_TAG, "database %s migrated to schema version %d", path,
                     version + 1);
    }
}

/* Switches to WAL and sets the per-connection pragmas. This is also the
 * first statement that reads the file, so a file that is not a database
 * fails here. */
static int store_setup(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    const char *mode = NULL;
    int rc;

    rc = sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            mode = (const char *)sqlite3_column_text(st, 0);
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK) {
        store_err(err, errlen, "cannot use '%s' as the openace database: %s", path,
                  sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return OA_EIO;
    }
    if (mode == NULL || strcmp(mode, "wal") != 0) {
        /* An in-memory database reports "memory"; anything else still
         * works, only without concurrent readers. */
        if (mode == NULL || strcmp(mode, "memory") != 0) {
            oa_log_write(OA_LOG_WARN, STORE_TAG,
                         "database %s could not switch to WAL and stays in %s journal mode",
                         path, mode != NULL ? mode : "an unknown");
        }
    }
    sqlite3_finalize(st);
    rc = sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        store_err(err, errlen, "cannot set up database '%s': %s", path, sqlite3_errmsg(db));
        return OA_EIO;
    }
    return 0;
}

/* Returns the schema version this build migrates to: the number of
 * migrations. */
int oa_store_schema_version(void)
{
    return (int)(sizeof(store_migrations) / sizeof(store_migrations[0]));
}

/* Opens or creates the database at path and brings its schema up to date.
 * On success *out is a new handle (close with oa_store_close). On failure
 * *out is untouched, err holds a sentence and the result is OA_EINVAL (no
 * path), OA_EIO (cannot open, not a database, migration failed),
 * OA_EVERSION (made by a newer build) or OA_ENOMEM. */
int oa_store_open(const char *path, oa_store **out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    oa_store *s;
    int rc;

    if (path == NULL || path[0] == '\0' || out == NULL) {
        store_err(err, errlen, "no database path was given");
        return OA_EINVAL;
    }
    /* The database holds password hashes, API tokens and plugins' secrets
     * (the broadcasts' private keys): readable by the engine's user only.
     * SQLite gives its -wal and -shm files the database file's mode. */
    {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            (void)fchmod(fd, 0600);
            close(fd);
        }
    }
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        int sys = db != NULL ? sqlite3_system_errno(db) : 0;

        if (sys == ENOENT) {
            store_err(err, errlen,
                      "cannot open database '%s': the directory it should be in does not exist",
                      path);
        } else if (sys != 0) {
            store_err(err, errlen, "cannot open database '%s': %s", path, strerror(sys));
        } else {
            store_err(err, errlen, "cannot open database '%s': %s", path,
                      db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        }
        sqlite3_close(db);
        return rc == SQLITE_NOMEM ? OA_ENOMEM : OA_EIO;
    }
    rc = store_setup(db, path, err, errlen);
    if (rc == 0) {
        rc = store_migrate(db, path, err, errlen);
    }
    if (rc != 0) {
        sqlite3_close(db);
        return rc;
    }
    s = calloc(1, sizeof(*s));
    if (s != NULL) {
        s->path = strdup(path);
    }
    if (s == NULL || s->path == NULL) {
        free(s);
        sqlite3_close(db);
        store_err(err, errlen, "out of memory opening database '%s'", path);
        return OA_ENOMEM;
    }
    s->db = db;
    *out = s;
    return 0;
}

/* Closes the database and frees the handle; NULL is ignored. */
void oa_store_close(oa_store *s)
{
    if (s == NULL) {
        return;
    }
    if (sqlite3_close(s->db) != SQLITE_OK) {
        /* Only a statement left unfinalized can cause this; close anyway
         * once it is gone rather than leak the file. */
        oa_log_write(OA_LOG_ERROR, STORE_TAG, "closing database %s: %s", s->path,
                     sqlite3_errmsg(s->db));
        sqlite3_close_v2(s->db);
    }
    free(s->path);
    free(s);
}

/* Runs trusted SQL text (one or more statements, no values from users).
 * Returns 0, OA_EINVAL, or OA_EIO (logged). */
int oa_store_exec(oa_store *s, const char *sql)
{
    if (s == NULL || sql == NULL) {
        return OA_EINVAL;
    }
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return store_fail(s, "running SQL");
    }
    return 0;
}

/* Begins a write transaction, or a savepoint when the caller already has a
 * transaction open. *own tells store_tx_end which one it was. */
int store_tx_begin(oa_store *s, int *own, const char *what)
{
    const char *sql = "SAVEPOINT oa_store";

    *own = sqlite3_get_autocommit(s->db);
    if (*own) {
        sql = "BEGIN IMMEDIATE";
    }
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return store_fail(s, "%s (starting a transaction)", what);
    }
    return 0;
}

/* Commits (ok) or rolls back what store_tx_begin started. */
int store_tx_end(oa_store *s, int own, int ok, const char *what)
{
    const char *sql;

    if (ok) {
        sql = own ? "COMMIT" : "RELEASE oa_store";
    } else {
        sql = own ? "ROLLBACK" : "ROLLBACK TO oa_store; RELEASE oa_store";
    }
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        int ret = store_fail(s, "%s (ending a transaction)", what);

        if (ok && own) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        }
        return ret;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Config values. */

/* Reads one setting of a scope into *value (malloc'd, free()). Returns 0,
 * OA_ENOENT when it is not stored, OA_EINVAL or OA_EIO. */
int oa_store_config_get(oa_store *s, const char *scope, const char *key, char **value)
{
    sqlite3_stmt *st = NULL;
    const char *args[] = {scope, key};
    int rc;
    int ret;

    if (s == NULL || scope == NULL || key == NULL || value == NULL) {
        return OA_EINVAL;
    }
    ret = store_stmt(s, &st, "SELECT value FROM config WHERE scope = ?1 AND key = ?2", args, 2,
                     2, "reading setting");
    if (ret != 0) {
        return ret;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        char *copy = NULL;

        ret = store_column_dup(st, 0, &copy);
        if (ret == 0) {
            *value = copy;
        }
    } else if (rc == SQLITE_DONE) {
        ret = OA_ENOENT;
    } else {
        ret = store_fail_on(s, "reading setting", args, 2);
    }
    sqlite3_finalize(st);
    return ret;
}

/* Stores (inserts or replaces) one setting of a scope. The value is stored
 * as given: validation is the caller's (config.c). Returns 0, OA_EINVAL for
 * a NULL argument, or OA_EIO. */
int oa_store_config_set(oa_store *s, const char *scope, const char *key, const char *value)
{
    sqlite3_stmt *st = NULL;
    const char *args[] = {scope, key, value};
    int ret;

    if (s == NULL || scope == NULL || key == NULL || value == NULL) {
        return OA_EINVAL;
    }
    ret = store_stmt(s, &st,
                     "INSERT INTO config (scope, key, value, updated) VALUES (?1, ?2, ?3, ?4)"
                     " ON CONFLICT (scope, key) DO UPDATE"
                     " SET value = excluded.value, updated = excluded.updated",
                     args, 3, 2, "storing setting");
    if (ret != 0) {
        return ret;
    }
    if (sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL)) != SQLITE_OK) {
        ret = store_fail_on(s, "storing setting", args, 2);
        sqlite3_finalize(st);
        return ret;
    }
    return store_finish(s, st, args, 2, "storing setting");
}

/* Forgets one setting of a scope, so that its default applies again.
 * Deleting a setting that is not stored succeeds (returns 0). */
int oa_store_config_del(oa_store *s, const char *scope, const char *key)
{
    const char *args[] = {scope, key};

    if (s == NULL || scope == NULL || key == NULL) {
        return OA_EINVAL;
    }
    return store_run(s, "DELETE FROM config WHERE scope = ?1 AND key = ?2", args, 2, 2,
                     "deleting setting");
}

/* ------------------------------------------------------------------------ */
/* Key-value blobs. */

/* Reads one blob into *value (malloc'd, free(); one NUL byte beyond the
 * data) and its length into *len (len may be NULL). Returns 0, OA_ENOENT,
 * OA_EINVAL, OA_ENOMEM or OA_EIO. */
int oa_store_kv_get(oa_store *s, const char *scope, const char *key, char **value, size_t *len)
{
    sqlite3_stmt *st = NULL;
    const char *args[] = {scope, key};
    int rc;
    int ret;

    if (s == NULL || scope == NULL || key == NULL || value == NULL) {
        return OA_EINVAL;
    }
    ret = store_stmt(s, &st, "SELECT value FROM kv WHERE scope = ?1 AND key = ?2", args, 2, 2,
                     "reading kv value");
    if (ret != 0) {
        return ret;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *blob = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        char *copy = malloc(n + 1);

        if (copy == NULL || (blob == NULL && n > 0)) {
            free(copy);
            ret = OA_ENOMEM;
        } else {
            if (n > 0) {
                memcpy(copy, blob, n);
            }
            copy[n] = '\0';
            *value = copy;
            if (len != NULL) {
                *len = n;
            }
        }
    } else if (rc == SQLITE_DONE) {
        ret = OA_ENOENT;
    } else {
        ret = store_fail_on(s, "reading kv value", args, 2);
    }
    sqlite3_finalize(st);
    return ret;
}

/* Stores len bytes of value (any bytes, zeros included; len 0 stores an
 * empty value). Returns 0, OA_EINVAL or OA_EIO. */
int oa_store_kv_set(oa_store *s, const char *scope, const char *key, const void *value,
                    size_t len)
{
    sqlite3_stmt *st = NULL;
    const char *args[] = {scope, key};
    int rc;
    int ret;

    if (s == NULL || scope == NULL || key == NULL || (value == NULL && len > 0)) {
        return OA_EINVAL;
    }
    ret = store_stmt(s, &st,
                     "INSERT INTO kv (scope, key, value) VALUES (?1, ?2, ?3)"
                     " ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value",
                     args, 2, 2, "storing kv value");
    if (ret != 0) {
        return ret;
    }
    /* A zero-length value is an empty blob, not SQL NULL. */
    if (len == 0) {
        rc = sqlite3_bind_zeroblob(st, 3, 0);
    } else {
        rc = sqlite3_bind_blob64(st, 3, value, (sqlite3_uint64)len, SQLITE_STATIC);
    }
    if (rc != SQLITE_OK) {
        ret = store_fail_on(s, "storing kv value", args, 2);
        sqlite3_finalize(st);
        return ret;
    }
    return store_finish(s, st, args, 2, "storing kv value");
}

/* Deletes one blob. Deleting a missing key succeeds (returns 0). */
int oa_store_kv_del(oa_store *s, const char *scope, const char *key)
{
    const char *args[] = {scope, key};

    if (s == NULL || scope == NULL || key == NULL) {
        return OA_EINVAL;
    }
    return store_run(s, "DELETE FROM kv WHERE scope = ?1 AND key = ?2", args, 2, 2,
                     "deleting kv value");
}

/* Store: plugin rows (the last known row of each plugin file, for listings
 * and the probe cache) and the enabled flags and crash counts kept per
 * plugin name (see store.h). As in store.c, every statement binds its
 * parameters, and every SQLite failure is logged with the tag "store" and
 * returned as OA_EIO. */
#include "store.h"

#include "store_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The columns of one oa_plugin_row, in the order store_row_read expects. */
#define STORE_ROW_SELECT                                                                  \
    "SELECT p.file, p.name, p.version, p.kind, p.summary, p.state, p.last_error,"         \
    " COALESCE(e.enabled, 1), p.sdk_major, p.sdk_minor, p.mtime, p.size,"                 \
    " COALESCE(c.count, 0)"                                                               \
    " FROM plugins AS p"                                                                  \
    " LEFT JOIN plugin_enabled AS e ON e.name = p.name"                                   \
    " LEFT JOIN plugin_crash AS c ON c.name = p.name"

/* ------------------------------------------------------------------------ */
/* Plugin enabled flags and crash counts. */

/* Reads whether the plugin called name is enabled into *enabled (1 when
 * nothing is stored). Returns 0, OA_EINVAL or OA_EIO. */
int oa_store_plugin_enabled_get(oa_store *s, const char *name, int *enabled)
{
    sqlite3_stmt *st = NULL;
    const char *args[] = {name};
    int rc;
    int ret;

    if (s == NULL || name == NULL || enabled == NULL) {
        return OA_EINVAL;
    }
    ret = store_stmt(s, &st, "SELECT enabled FROM plugin_enabled WHERE name = ?1", args, 1, 1,
                     "reading the enabled flag of");
    if (ret != 0) {
        return ret;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *enabled = sqlite3_column_int(st, 0) != 0;
    } else if (rc == SQLITE_DONE) {
        *enabled = 1;
    } else {
        ret = store_fail_on(s, "reading the enabled flag of", args, 1);
    }
    sqlite3_finalize(st);
    return ret;
}

/* Stores whether the plugin called name is enabled (any non-zero enabled
 * is stored as 1). Returns 0, OA_EINVAL or OA_EIO. */
int oa_store_plugin_enabled_set(oa_store *s, const char *name, int enabled)
{
    sqlite3_stmt *st = NULL;
    const char *args[] = {name};
    int ret;

    if (s == NULL || name == NULL || name[0] == '\0') {
        return OA_EINVAL;
    }
    ret = store_stmt(s, &st,
                     "INSERT INTO plugin_enabled (name, enabled) VALUES (?1, ?2)"
                     " ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled",
                     args, 1, 1, "storing the enabled flag of");
    if (ret != 0) {
        return ret;
    }
    if (sqlite3_bind_int(st, 2, enabled != 0) != SQLITE_OK) {
        ret = store_fail_on(s, "storing the enabled flag of", args, 1);
        sqlite3_finalize(st);
        return ret;
    }
    return store_finish(s, st, args, 1, "storing the enabled flag of");
}

/* Adds one to the crash count of the plugin called name (starting at 0).
 * Returns 0, OA_EINVAL or OA_EIO. */
int oa_store_plugin_crash_inc(oa_store *s, const char *name)
{
    const char *args[] = {name};

    if (s == NULL || name == NULL || name[0] == '\0') {
        return OA_EINVAL;
    }
    return store_run(s,
                     "INSERT INTO plugin_crash (name, count) VALUES (?1, 1)"
                     " ON CONFLICT (name) DO UPDATE SET count = count + 1",
                     args, 1, 1, "counting a crash of");
}

/* ------------------------------------------------------------------------ */
/* Plugin rows. */

/* Stores (inserts or replaces) the row of row->file. row->enabled and
 * row->crash_count are not written: they live in their own tables, keyed
 * by name, so that they outlive the file. Returns 0, OA_EINVAL or OA_EIO. */
int oa_store_plugin_row_put(oa_store *s, const oa_plugin_row *row)
{
    sqlite3_stmt *st = NULL;
    const char *args[7];
    int ret;

    if (s == NULL || row == NULL || row->file == NULL || row->file[0] == '\0') {
        return OA_EINVAL;
    }
    args[0] = row->file;
    args[1] = row->name;
    args[2] = row->version;
    args[3] = row->kind;
    args[4] = row->summary;
    args[5] = row->state;
    args[6] = row->last_error;
    ret = store_stmt(s, &st,
                     "INSERT OR REPLACE INTO plugins (file, name, version, kind, summary,"
                     " state, last_error, sdk_major, sdk_minor, mtime, size, updated)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                     args, 7, 1, "storing the plugin row of");
    if (ret != 0) {
        return ret;
    }
    if (sqlite3_bind_int(st, 8, row->sdk_major) != SQLITE_OK ||
        sqlite3_bind_int(st, 9, row->sdk_minor) != SQLITE_OK ||
        sqlite3_bind_int64(st, 10, row->mtime) != SQLITE_OK ||
        sqlite3_bind_int64(st, 11, row->size) != SQLITE_OK ||
        sqlite3_bind_int64(st, 12, (sqlite3_int64)time(NULL)) != SQLITE_OK) {
        ret = store_fail_on(s, "storing the plugin row of", args, 1);
        sqlite3_finalize(st);
        return ret;
    }
    return store_finish(s, st, args, 1, "storing the plugin row of");
}

/* Fills row from the current result of a STORE_ROW_SELECT statement. On
 * failure the row is freed again and zeroed. */
static int store_row_read(sqlite3_stmt *st, oa_plugin_row *row)
{
    char **text[] = {&row->file,    &row->name,  &row->version,   &row->kind,
                     &row->summary, &row->state, &row->last_error};
    size_t i;

    memset(row, 0, sizeof(*row));
    for (i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
        int ret = store_column_dup(st, (int)i, text[i]);

        if (ret != 0) {
            oa_store_plugin_row_free(row);
            return ret;
        }
    }
    row->enabled = sqlite3_column_int(st, 7) != 0;
    row->sdk_major = sqlite3_column_int(st, 8);
    row->sdk_minor = sqlite3_column_int(st, 9);
    row->mtime = sqlite3_column_int64(st, 10);
    row->size = sqlite3_column_int64(st, 11);
    row->crash_count = sqlite3_column_int64(st, 12);
    return 0;
}

/* Reads the row of file, with enabled (1 when not stored) and crash_count
 * (0 when none) joined in by name. *row is zeroed first, so
 * oa_store_plugin_row_free is safe whatever this returns. Returns 0,
 * OA_ENOENT, OA_EINVAL, OA_ENOMEM or OA_EIO. */
int oa_store_plugin_row_by_file(oa_store *s, const char *file, oa_plugin_row *row)
{
    sqlite3_stmt *st = NULL;
    const char *args[] = {file};
    int rc;
    int ret;

    if (s == NULL || file == NULL || row == NULL) {
        return OA_EINVAL;
    }
    memset(row, 0, sizeof(*row));
    ret = store_stmt(s, &st, STORE_ROW_SELECT " WHERE p.file = ?1", args, 1, 1,
                     "reading the plugin row of");
    if (ret != 0) {
        return ret;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        ret = store_row_read(st, row);
    } else if (rc == SQLITE_DONE) {
        ret = OA_ENOENT;
    } else {
        ret = store_fail_on(s, "reading the plugin row of", args, 1);
    }
    sqlite3_finalize(st);
    return ret;
}

/* Lists every row ordered by name (rows without a name first) then file.
 * On success *rows is a malloc'd array of *n rows (NULL when there are
 * none); free it with oa_store_plugin_rows_free. */
int oa_store_plugin_rows(oa_store *s, oa_plugin_row **rows, size_t *n)
{
    sqlite3_stmt *st = NULL;
    oa_plugin_row *list = NULL;
    size_t count = 0;
    size_t cap = 0;
    int rc = SQLITE_DONE;
    int ret;

    if (s == NULL || rows == NULL || n == NULL) {
        return OA_EINVAL;
    }
    ret = store_stmt(s, &st, STORE_ROW_SELECT " ORDER BY p.name, p.file", NULL, 0, 0,
                     "listing plugin rows");
    while (ret == 0) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            break;
        }
        if (count == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            oa_plugin_row *grown = realloc(list, ncap * sizeof(*list));

            if (grown == NULL) {
                ret = OA_ENOMEM;
                break;
            }
            list = grown;
            cap = ncap;
        }
        ret = store_row_read(st, &list[count]);
        if (ret == 0) {
            count++;
        }
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        ret = store_fail(s, "listing plugin rows");
    }
    sqlite3_finalize(st);
    if (ret != 0) {
        oa_store_plugin_rows_free(list, count);
        return ret;
    }
    *rows = list;
    *n = count;
    return 0;
}

/* Whether file is one of keep[0..n-1] (NULL entries never match). */
static int store_kept(const char *file, const char *const *keep, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (keep[i] != NULL && strcmp(keep[i], file) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Collects into *gone (malloc'd strings) the files of rows not in keep. */
static int store_rows_unkept(oa_store *s, const char *const *keep, size_t n, char ***gone,
                             size_t *ngone)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = SQLITE_DONE;
    int ret;

    ret = store_stmt(s, &st, "SELECT file FROM plugins", NULL, 0, 0, "pruning plugin rows");
    while (ret == 0) {
        const char *file;

        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            break;
        }
        file = (const char *)sqlite3_column_text(st, 0);
        if (file == NULL || store_kept(file, keep, n)) {
            continue;
        }
        if (*ngone == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            char **grown = realloc(*gone, ncap * sizeof(**gone));

            if (grown == NULL) {
                ret = OA_ENOMEM;
                break;
            }
            *gone = grown;
            cap = ncap;
        }
        (*gone)[*ngone] = strdup(file);
        if ((*gone)[*ngone] == NULL) {
            ret = OA_ENOMEM;
            break;
        }
        (*ngone)++;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        ret = store_fail(s, "pruning plugin rows");
    }
    sqlite3_finalize(st);
    return ret;
}

/* Deletes, in one transaction, the row of every file not in keep[0..n-1]
 * (keep may be NULL when n is 0: every row goes). Enabled flags and crash
 * counts are kept: they belong to plugin names, not files. Returns 0,
 * OA_EINVAL, OA_ENOMEM or OA_EIO. */
int oa_store_plugin_rows_prune(oa_store *s, const char *const *keep, size_t n)
{
    sqlite3_stmt *st = NULL;
    char **gone = NULL;
    size_t ngone = 0;
    size_t i;
    int own = 0;
    int ret;

    if (s == NULL || (keep == NULL && n > 0)) {
        return OA_EINVAL;
    }
    ret = store_tx_begin(s, &own, "pruning plugin rows");
    if (ret != 0) {
        return ret;
    }
    /* Collect first, delete after: the scan never sees its own deletes. */
    ret = store_rows_unkept(s, keep, n, &gone, &ngone);
    if (ret == 0 && ngone > 0) {
        ret = store_stmt(s, &st, "DELETE FROM plugins WHERE file = ?1", NULL, 0, 0,
                         "pruning plugin rows");
    }
    for (i = 0; ret == 0 && i < ngone; i++) {
        const char *args[] = {gone[i]};

        if (sqlite3_bind_text(st, 1, gone[i], -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_DONE) {
            ret = store_fail_on(s, "pruning the plugin row of", args, 1);
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (ret == 0) {
        ret = store_tx_end(s, own, 1, "pruning plugin rows");
    } else {
        store_tx_end(s, own, 0, "pruning plugin rows");
    }
    for (i = 0; i < ngone; i++) {
        free(gone[i]);
    }
    free(gone);
    return ret;
}

/* Frees the strings of one row and zeroes it (not the row itself). */
void oa_store_plugin_row_free(oa_plugin_row *row)
{
    if (row == NULL) {
        return;
    }
    free(row->file);
    free(row->name);
    free(row->version);
    free(row->kind);
    free(row->summary);
    free(row->state);
    free(row->last_error);
    memset(row, 0, sizeof(*row));
}

/* Frees an array returned by oa_store_plugin_rows. */
void oa_store_plugin_rows_free(oa_plugin_row *rows, size_t n)
{
    size_t i;

    if (rows == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        oa_store_plugin_row_free(&rows[i]);
    }
    free(rows);
}

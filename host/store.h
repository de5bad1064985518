/* Store: the host's SQLite database in the data directory (WAL mode, schema
 * migrations by PRAGMA user_version). Only the loop thread uses a store
 * handle; offline commands open their own handle on the same file. */
#ifndef OA_HOST_STORE_H
#define OA_HOST_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

typedef struct oa_store {
    sqlite3 *db;
    char *path;
} oa_store;

/* The schema version this build migrates to. */
int oa_store_schema_version(void);

/* Opens (creating if needed) path, switches to WAL, runs pending
 * migrations in one transaction each. On failure writes a sentence into
 * err and returns a negative OA_E* code; *out is then untouched. */
int oa_store_open(const char *path, oa_store **out, char *err, size_t errlen);
void oa_store_close(oa_store *s);

/* Runs SQL with no result rows. Returns 0 or OA_EIO (logged). */
int oa_store_exec(oa_store *s, const char *sql);

/* Config values per scope (a plugin name, or "host"). get allocates *value
 * (free()); OA_ENOENT when not stored. del of a key that is not stored
 * returns 0. */
int oa_store_config_get(oa_store *s, const char *scope, const char *key, char **value);
int oa_store_config_set(oa_store *s, const char *scope, const char *key, const char *value);
int oa_store_config_del(oa_store *s, const char *scope, const char *key);

/* Per-scope key-value blobs (plugin kv). get allocates *value (free()),
 * NUL-terminated beyond len. del of a key that is not stored returns 0. */
int oa_store_kv_get(oa_store *s, const char *scope, const char *key, char **value, size_t *len);
int oa_store_kv_set(oa_store *s, const char *scope, const char *key, const void *value,
                    size_t len);
int oa_store_kv_del(oa_store *s, const char *scope, const char *key);

/* Plugin enabled flag by name. get: *enabled = 1 when no row exists
 * (plugins are enabled by default). */
int oa_store_plugin_enabled_get(oa_store *s, const char *name, int *enabled);
int oa_store_plugin_enabled_set(oa_store *s, const char *name, int enabled);

/* The last known row of a plugin or a rejected file, for listings and the
 * probe cache. name is NULL for a file rejected before its name was known.
 * oa_store_plugin_row_put ignores enabled and crash_count: they are stored
 * per plugin name (oa_store_plugin_enabled_set, oa_store_plugin_crash_inc),
 * so they outlive the file, and the getters (oa_store_plugin_row_by_file,
 * oa_store_plugin_rows) fill them in from there. */
typedef struct oa_plugin_row {
    char *file;
    char *name;
    char *version;
    char *kind;
    char *summary;
    char *state;
    char *last_error;
    int enabled;
    int sdk_major;
    int sdk_minor;
    int64_t mtime;
    int64_t size;
    int64_t crash_count;
} oa_plugin_row;

int oa_store_plugin_row_put(oa_store *s, const oa_plugin_row *row);
/* Looks up the row of a file. Fills *row (free with oa_store_plugin_row_free). */
int oa_store_plugin_row_by_file(oa_store *s, const char *file, oa_plugin_row *row);
/* Removes the rows of files not listed in keep[0..n-1]. */
int oa_store_plugin_rows_prune(oa_store *s, const char *const *keep, size_t n);
/* Every row, ordered by name (rows without a name first) then file. *rows
 * is an array of *n rows; free with oa_store_plugin_rows_free. */
int oa_store_plugin_rows(oa_store *s, oa_plugin_row **rows, size_t *n);
int oa_store_plugin_crash_inc(oa_store *s, const char *name);
void oa_store_plugin_row_free(oa_plugin_row *row);
void oa_store_plugin_rows_free(oa_plugin_row *rows, size_t n);

#endif

/* Store internals shared by store.c (opening, migrations, config values,
 * kv blobs) and store_plugins.c (plugin rows, enabled flags, crash counts).
 * Not part of the host's interface: everything else includes store.h. */
#ifndef OA_HOST_STORE_INT_H
#define OA_HOST_STORE_INT_H

#include <openace/sdk.h>
#include <sqlite3.h>

#include "store.h"

/* Logs a failed operation (what, formatted) with SQLite's message and
 * returns OA_EIO. Never pass values: they may be secrets. */
int store_fail(oa_store *s, const char *fmt, ...) OA_PRINTF(2, 3);
/* Logs a failed operation on the identifiers ids[0..nid-1] (scopes, keys,
 * names; never values) and returns OA_EIO. */
int store_fail_on(oa_store *s, const char *what, const char *const *ids, int nid);
/* Prepares sql into *st and binds texts[0..n-1] to ?1..?n (a NULL pointer
 * binds SQL NULL; the texts must outlive the statement's steps). The first
 * nid texts are identifiers named in the log line on failure. Returns 0, or
 * OA_EIO with *st finalized and set to NULL. */
int store_stmt(oa_store *s, sqlite3_stmt **st, const char *sql, const char *const *texts,
               int n, int nid, const char *what);
/* Steps a prepared statement that returns no rows, then finalizes it.
 * Returns 0 or OA_EIO. */
int store_finish(oa_store *s, sqlite3_stmt *st, const char *const *ids, int nid,
                 const char *what);
/* Runs a statement with text parameters and no result rows (store_stmt,
 * then store_finish). Returns 0 or OA_EIO. */
int store_run(oa_store *s, const char *sql, const char *const *texts, int n, int nid,
              const char *what);
/* Copies text column col into *out (malloc'd), NULL for SQL NULL. Returns
 * 0 or OA_ENOMEM. */
int store_column_dup(sqlite3_stmt *st, int col, char **out);
/* Begins a write transaction, or a savepoint when the caller already has a
 * transaction open; *own tells store_tx_end which one it was. Returns 0 or
 * OA_EIO. */
int store_tx_begin(oa_store *s, int *own, const char *what);
/* Commits (ok) or rolls back what store_tx_begin started. Returns 0 or
 * OA_EIO. */
int store_tx_end(oa_store *s, int own, int ok, const char *what);

#endif

/* Audit: a capped table of changes made through the admin API (logins,
 * logouts, failed logins, plugin and setting changes) and by the offline
 * commands. Times are stored as unix milliseconds and listed as ISO 8601
 * UTC. See auth.h for the contract and docs/admin-api.md ("Audit"). */
#include "auth.h"

#include "log.h"

#include <openace/sdk.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define AUDIT_TAG "audit"
/* Rows kept, and how often (in inserted rows) older ones are deleted. */
#define AUDIT_KEEP 10000
#define AUDIT_PRUNE_EVERY 100
/* Longest stored detail, in bytes (cut on a UTF-8 character boundary). */
#define AUDIT_DETAIL_MAX 2000
#define AUDIT_LIST_MAX 1000

static int audit_fail(oa_store *s, const char *what)
{
    oa_log_write(OA_LOG_ERROR, AUDIT_TAG, "%s in database %s failed: %s", what, s->path,
                 sqlite3_errmsg(s->db));
    return OA_EIO;
}

/* Binds text, or SQL NULL for NULL, cut to at most max bytes without
 * splitting a UTF-8 sequence. */
static int audit_bind_text(sqlite3_stmt *st, int col, const char *text, size_t max)
{
    size_t n;

    if (text == NULL) {
        return sqlite3_bind_null(st, col);
    }
    n = strlen(text);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    return sqlite3_bind_text(st, col, text, (int)n, SQLITE_TRANSIENT);
}

/* Deletes the rows older than the newest AUDIT_KEEP. */
static int audit_prune(oa_store *s)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(s->db,
                            "DELETE FROM audit WHERE id <= (SELECT id FROM audit"
                            " ORDER BY id DESC LIMIT 1 OFFSET ?1)",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_int(st, 1, AUDIT_KEEP);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return audit_fail(s, "pruning the audit log");
    }
    return 0;
}

static int64_t audit_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Records one entry stamped with the wall clock. who is the user (NULL for
 * the engine itself or an offline command), client the address the change
 * came from (NULL when none; a port, as in "ip:port", is dropped so that
 * entries from one address read alike), action a dotted name such as
 * "plugin.disable", detail free text (NULL for none; cut at 2000 bytes).
 * Every 100th entry deletes those beyond the newest 10000. Returns 0,
 * OA_EINVAL (no store or action) or OA_EIO. */
int oa_audit_add(oa_store *s, const char *who, const char *client, const char *action,
                 const char *detail)
{
    sqlite3_stmt *st = NULL;
    char addr[64];
    int64_t id;
    int rc;

    if (s == NULL || action == NULL || action[0] == '\0') {
        return OA_EINVAL;
    }
    if (client != NULL) {
        oa_auth_client_addr(client, addr, sizeof(addr));
    }
    rc = sqlite3_prepare_v2(s->db,
                            "INSERT INTO audit (time, who, client, action, detail)"
                            " VALUES (?1, ?2, ?3, ?4, ?5)",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_int64(st, 1, audit_now_ms());
    }
    if (rc == SQLITE_OK) {
        rc = audit_bind_text(st, 2, who, 64);
    }
    if (rc == SQLITE_OK) {
        rc = audit_bind_text(st, 3, client != NULL ? addr : NULL, sizeof(addr));
    }
    if (rc == SQLITE_OK) {
        rc = audit_bind_text(st, 4, action, 64);
    }
    if (rc == SQLITE_OK) {
        rc = audit_bind_text(st, 5, detail, AUDIT_DETAIL_MAX);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return audit_fail(s, "recording an audit entry");
    }
    /* Ids only grow (the newest row is never deleted), so every hundredth
     * id is every hundredth insert, across processes too. */
    id = sqlite3_last_insert_rowid(s->db);
    if (id % AUDIT_PRUNE_EVERY == 0) {
        return audit_prune(s);
    }
    return 0;
}

/* Formats unix milliseconds as "2026-11-21T04:40:00Z". */
static void audit_iso_time(int64_t ms, char *out, size_t len)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;

    if (ms < 0 || gmtime_r(&sec, &tm) == NULL ||
        strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        snprintf(out, len, "1970-01-01T00:00:00Z");
    }
}

/* A text column as a JSON string, or JSON null for SQL NULL. */
static json_t *audit_column_json(sqlite3_stmt *st, int col)
{
    const unsigned char *text;
    json_t *value;

    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        return json_null();
    }
    text = sqlite3_column_text(st, col);
    if (text == NULL) {
        return NULL;
    }
    /* A damaged row must not make the listing fail: text that is not
     * valid UTF-8 becomes null. */
    value = json_string((const char *)text);
    if (value == NULL) {
        return json_null();
    }
    return value;
}

/* Lists entries newest first: those with an id below before_id (0 starts
 * at the newest), at most limit (1-1000). On success *entries is a new
 * JSON array (the caller owns the reference) of objects {id, time, who,
 * client, action, detail}; who, client and detail are null when not
 * recorded. Returns 0, OA_EINVAL (bad arguments), OA_ENOMEM or OA_EIO. */
int oa_audit_list(oa_store *s, int64_t before_id, int limit, json_t **entries)
{
    sqlite3_stmt *st = NULL;
    json_t *arr;
    int rc;
    int ret = 0;

    if (s == NULL || entries == NULL || before_id < 0 || limit < 1 ||
        limit > AUDIT_LIST_MAX) {
        return OA_EINVAL;
    }
    arr = json_array();
    if (arr == NULL) {
        return OA_ENOMEM;
    }
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT id, time, who, client, action, detail FROM audit"
                            " WHERE ?1 = 0 OR id < ?1 ORDER BY id DESC LIMIT ?2",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_int64(st, 1, before_id);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_int(st, 2, limit);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    while (rc == SQLITE_ROW && ret == 0) {
        char when[32];
        json_t *e;

        audit_iso_time(sqlite3_column_int64(st, 1), when, sizeof(when));
        e = json_object();
        if (e == NULL || json_array_append_new(arr, e) != 0 ||
            json_object_set_new(e, "id", json_integer(sqlite3_column_int64(st, 0))) != 0 ||
            json_object_set_new(e, "time", json_string(when)) != 0 ||
            json_object_set_new(e, "who", audit_column_json(st, 2)) != 0 ||
            json_object_set_new(e, "client", audit_column_json(st, 3)) != 0 ||
            json_object_set_new(e, "action", audit_column_json(st, 4)) != 0 ||
            json_object_set_new(e, "detail", audit_column_json(st, 5)) != 0) {
            ret = OA_ENOMEM;
            break;
        }
        rc = sqlite3_step(st);
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        ret = audit_fail(s, "listing the audit log");
    }
    sqlite3_finalize(st);
    if (ret != 0) {
        json_decref(arr);
        return ret;
    }
    *entries = arr;
    return 0;
}

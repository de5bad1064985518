/*
 * swarm: the catalog. Content the swarm has is recorded in the plugin's
 * key-value store so that it resumes after a restart:
 *
 *   "index"     the info-hashes in hex, one per line (the store cannot list
 *               its keys)
 *   "c/<hex>"   a JSON record {"uri", "dir", "added", "last_played",
 *               "completed"}: how it was added (magnet, info-hash, .torrent
 *               path, or null for .torrent bytes), where it is stored, when
 *               it was added and last played (unix seconds) and whether it
 *               was complete when last recorded
 *   "t/<hex>"   the .torrent bytes once the metadata is known, so that a
 *               magnet does not have to fetch it again
 *
 * A store failure is logged and otherwise ignored: the content keeps
 * working, it only may not resume.
 */
#include "engine.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INDEX_KEY "index"

static void key_of(char *out, size_t len, char kind, const char *hex)
{
    snprintf(out, len, "%c/%s", kind, hex);
}

static int is_hex40(const char *s, size_t n)
{
    size_t i;
    if (n != 40) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* The index text (allocated with api->alloc; "" when absent) or NULL on a
 * store error. */
static char *index_read(oa_engine *e)
{
    char *v = NULL;
    int rc = e->api->kv_get(e->self, INDEX_KEY, &v, NULL);
    if (rc == OA_ENOENT) {
        return e->api->str_dup("");
    }
    if (rc != 0) {
        OA_LOG(e, OA_LOG_WARN, "cannot read the catalog index: %s", oa_strerror(rc));
        return NULL;
    }
    return v;
}

/* Where the line hex starts in idx, or NULL. */
static const char *index_find(const char *idx, const char *hex)
{
    const char *p = idx;
    while (*p != '\0') {
        const char *end = strchr(p, '\n');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == 40 && memcmp(p, hex, 40) == 0) {
            return p;
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    return NULL;
}

static void index_add(oa_engine *e, const char *hex)
{
    char *idx = index_read(e);
    size_t n;
    char *buf;
    int rc;
    if (idx == NULL || index_find(idx, hex) != NULL) {
        e->api->free(idx);
        return;
    }
    n = strlen(idx);
    buf = malloc(n + 42);
    if (buf == NULL) {
        e->api->free(idx);
        return;
    }
    memcpy(buf, idx, n);
    if (n > 0 && buf[n - 1] != '\n') {
        buf[n++] = '\n';
    }
    memcpy(buf + n, hex, 40);
    buf[n + 40] = '\n';
    rc = e->api->kv_set(e->self, INDEX_KEY, buf, n + 41);
    if (rc != 0) {
        OA_LOG(e, OA_LOG_WARN, "cannot add %s to the catalog index: %s", hex, oa_strerror(rc));
    }
    free(buf);
    e->api->free(idx);
}

static void index_drop(oa_engine *e, const char *hex)
{
    char *idx = index_read(e);
    const char *at;
    size_t n;
    size_t head;
    size_t tail;
    char *buf;
    int rc;
    if (idx == NULL) {
        return;
    }
    at = index_find(idx, hex);
    if (at == NULL) {
        e->api->free(idx);
        return;
    }
    n = strlen(idx);
    head = (size_t)(at - idx);
    tail = head + 40 < n && idx[head + 40] == '\n' ? head + 41 : head + 40;
    buf = malloc(n + 1);
    if (buf == NULL) {
        e->api->free(idx);
        return;
    }
    memcpy(buf, idx, head);
    memcpy(buf + head, idx + tail, n - tail);
    rc = e->api->kv_set(e->self, INDEX_KEY, buf, head + (n - tail));
    if (rc != 0) {
        OA_LOG(e, OA_LOG_WARN, "cannot drop %s from the catalog index: %s", hex,
               oa_strerror(rc));
    }
    free(buf);
    e->api->free(idx);
}

/* The stored record of hex, parsed; NULL when absent or malformed. */
static json_t *record_read(oa_engine *e, const char *hex, int *malformed)
{
    char key[48];
    char *v = NULL;
    size_t len = 0;
    json_t *j;
    int rc;
    *malformed = 0;
    key_of(key, sizeof(key), 'c', hex);
    rc = e->api->kv_get(e->self, key, &v, &len);
    if (rc != 0) {
        if (rc != OA_ENOENT) {
            OA_LOG(e, OA_LOG_WARN, "cannot read the catalog record of %s: %s", hex,
                   oa_strerror(rc));
        } else {
            *malformed = 1; /* in the index without a record */
        }
        return NULL;
    }
    j = json_loadb(v, len, 0, NULL);
    e->api->free(v);
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        *malformed = 1;
        return NULL;
    }
    return j;
}

static void record_write(oa_engine *e, const char *hex, json_t *rec)
{
    char key[48];
    char *text = json_dumps(rec, JSON_COMPACT);
    int rc;
    if (text == NULL) {
        OA_LOG(e, OA_LOG_WARN, "cannot record %s in the catalog: out of memory", hex);
        return;
    }
    key_of(key, sizeof(key), 'c', hex);
    rc = e->api->kv_set(e->self, key, text, strlen(text));
    if (rc != 0) {
        OA_LOG(e, OA_LOG_WARN, "cannot record %s in the catalog: %s", hex, oa_strerror(rc));
    }
    free(text);
}

/* Sets key of rec to a string that may not be UTF-8 (dropped then). */
static void set_str(json_t *rec, const char *key, const char *s)
{
    json_t *v = s != NULL ? json_string(s) : NULL;
    json_object_set_new(rec, key, v != NULL ? v : json_null());
}

/* Brings rec (new or stored) up to date with t. */
static void record_update(oa_torrent *t, json_t *rec)
{
    json_t *added = json_object_get(rec, "added");
    json_t *uri = json_object_get(rec, "uri");
    if (!json_is_string(uri)) {
        /* The first uri stays: content resumed from its stored .torrent
         * bytes gets a uri made from them, without the trackers of the
         * magnet it was added by. */
        set_str(rec, "uri", t->uri);
    }
    set_str(rec, "dir", t->save_dir);
    if (!json_is_integer(added)) {
        json_object_set_new(rec, "added", json_integer((json_int_t)time(NULL)));
    }
    json_object_set_new(rec, "last_played", json_integer((json_int_t)t->last_played));
    if (t->state == OA_SWARM_SEEDING || t->state == OA_SWARM_DOWNLOADING ||
        !json_is_boolean(json_object_get(rec, "completed"))) {
        /* while the metadata or the check is pending, what was known stays */
        json_object_set_new(rec, "completed", json_boolean(t->state == OA_SWARM_SEEDING));
    }
}

void oa_catalog_save(oa_torrent *t)
{
    oa_engine *e = t->e;
    int malformed = 0;
    json_t *rec;
    if (t->live != NULL) {
        return; /* live streams are opened by the live plugin, never resumed */
    }
    rec = record_read(e, t->hex, &malformed);
    if (rec == NULL) {
        rec = json_object();
        if (rec == NULL) {
            OA_LOG(e, OA_LOG_WARN, "cannot record %s in the catalog: out of memory", t->hex);
            return;
        }
    }
    record_update(t, rec);
    record_write(e, t->hex, rec);
    json_decref(rec);
    if (t->mi != NULL) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        char key[48];
        int rc = oa_metainfo_serialize(t->mi, &bytes, &len);
        if (rc == 0) {
            key_of(key, sizeof(key), 't', t->hex);
            rc = e->api->kv_set(e->self, key, bytes, len);
            free(bytes);
        }
        if (rc != 0) {
            OA_LOG(e, OA_LOG_WARN, "cannot keep the .torrent of %s in the catalog: %s", t->hex,
                   oa_strerror(rc));
        }
    }
    index_add(e, t->hex);
}

void oa_catalog_touch(oa_torrent *t)
{
    oa_engine *e = t->e;
    int malformed = 0;
    json_t *rec;
    if (t->live != NULL) {
        return; /* not recorded (oa_catalog_save) */
    }
    rec = record_read(e, t->hex, &malformed);
    if (rec == NULL) {
        oa_catalog_save(t);
        return;
    }
    record_update(t, rec);
    record_write(e, t->hex, rec);
    json_decref(rec);
}

void oa_catalog_delete(oa_engine *e, const char hex[41])
{
    char key[48];
    key_of(key, sizeof(key), 'c', hex);
    e->api->kv_del(e->self, key);
    key_of(key, sizeof(key), 't', hex);
    e->api->kv_del(e->self, key);
    index_drop(e, hex);
}

/* Adds one recorded content. 1 added, 0 skipped (kept for the next start),
 * -1 the record is malformed (delete it). */
static int load_one(oa_engine *e, const char *hex)
{
    char key[48];
    char err[256] = "";
    char *bytes = NULL;
    size_t len = 0;
    int malformed = 0;
    json_t *rec = record_read(e, hex, &malformed);
    json_t *juri;
    json_t *jdir;
    oa_torrent_opts opts;
    oa_torrent *t = NULL;
    int existed = 0;
    int rc;

    if (rec == NULL) {
        return malformed ? -1 : 0;
    }
    juri = json_object_get(rec, "uri");
    jdir = json_object_get(rec, "dir");
    if ((juri != NULL && !json_is_string(juri) && !json_is_null(juri)) ||
        (jdir != NULL && !json_is_string(jdir) && !json_is_null(jdir))) {
        json_decref(rec);
        return -1;
    }
    key_of(key, sizeof(key), 't', hex);
    rc = e->api->kv_get(e->self, key, &bytes, &len);
    if (rc != 0 && rc != OA_ENOENT) {
        OA_LOG(e, OA_LOG_WARN, "cannot read the .torrent of %s from the catalog: %s", hex,
               oa_strerror(rc));
        json_decref(rec);
        return 0;
    }
    if (rc == OA_ENOENT && !json_is_string(juri)) {
        json_decref(rec);
        return -1; /* nothing to resume from */
    }
    memset(&opts, 0, sizeof(opts));
    opts.save_dir = json_is_string(jdir) ? json_string_value(jdir) : NULL;
    opts.from_catalog = 1;
    if (bytes != NULL) {
        opts.torrent = bytes;
        opts.torrent_len = len;
        rc = oa_torrent_add(e, &opts, &t, &existed, err, sizeof(err));
        if (rc == OA_EPROTO && json_is_string(juri)) {
            OA_LOG(e, OA_LOG_WARN, "the stored .torrent of %s is damaged (%s); using its uri",
                   hex, err);
            e->api->kv_del(e->self, key);
            opts.torrent = NULL;
            opts.torrent_len = 0;
            err[0] = '\0';
        } else if (rc == OA_EPROTO) {
            OA_LOG(e, OA_LOG_WARN, "the stored .torrent of %s is damaged: %s", hex, err);
            e->api->free(bytes);
            json_decref(rec);
            return -1;
        }
    }
    if (opts.torrent == NULL) {
        opts.uri = json_string_value(juri);
        rc = oa_torrent_add(e, &opts, &t, &existed, err, sizeof(err));
    }
    e->api->free(bytes);
    if ((rc == OA_EINVAL || rc == OA_EPROTO) && opts.uri != NULL) {
        OA_LOG(e, OA_LOG_WARN, "the recorded uri of %s is invalid: %s", hex, err);
        json_decref(rec);
        return -1;
    }
    json_decref(rec);
    if (rc != 0) {
        OA_LOG(e, OA_LOG_WARN, "cannot resume %s: %s (kept for the next start)", hex,
               err[0] != '\0' ? err : oa_strerror(rc));
        return 0;
    }
    if (strcmp(t->hex, hex) != 0) {
        OA_LOG(e, OA_LOG_WARN, "catalog entry %s resumed as %s", hex, t->hex);
    }
    OA_LOG(e, OA_LOG_DEBUG, "resumed %s%s", hex, existed ? " (already open)" : "");
    return existed ? 0 : 1;
}

size_t oa_catalog_load(oa_engine *e)
{
    char *idx = index_read(e);
    char *clean;
    size_t n_clean = 0;
    size_t added = 0;
    size_t i;
    const char *p;
    if (idx == NULL) {
        return 0;
    }
    /* The valid, distinct lines; the index is rewritten without the rest. */
    clean = malloc(strlen(idx) + 1);
    if (clean == NULL) {
        e->api->free(idx);
        return 0;
    }
    clean[0] = '\0';
    for (p = idx; *p != '\0';) {
        const char *end = strchr(p, '\n');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        char hex[41];
        if (is_hex40(p, n)) {
            memcpy(hex, p, 40);
            hex[40] = '\0';
            if (index_find(clean, hex) == NULL) {
                memcpy(clean + n_clean, hex, 40);
                clean[n_clean + 40] = '\n';
                n_clean += 41;
                clean[n_clean] = '\0';
            }
        } else if (n > 0) {
            OA_LOG(e, OA_LOG_WARN, "dropping a malformed line of the catalog index");
        }
        p = end != NULL ? end + 1 : p + n;
    }
    if (strcmp(clean, idx) != 0) {
        e->api->kv_set(e->self, INDEX_KEY, clean, n_clean);
    }
    e->api->free(idx);
    /* clean is a copy: records may be deleted while it is walked */
    for (i = 0; i + 41 <= n_clean && !e->stopping; i += 41) {
        char hex[41];
        int rc;
        memcpy(hex, clean + i, 40);
        hex[40] = '\0';
        rc = load_one(e, hex);
        if (rc < 0) {
            OA_LOG(e, OA_LOG_WARN, "dropping the malformed catalog record of %s", hex);
            oa_catalog_delete(e, hex);
        } else {
            added += (size_t)rc;
        }
    }
    free(clean);
    return added;
}

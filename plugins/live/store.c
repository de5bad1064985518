/*
 * live: what a broadcast keeps in the plugin's kv store (broadcast.c
 * explains the keys): the index of names, each broadcast's record and
 * key, and a broadcast rebuilt from its record at start.
 */
#include "live_int.h"

#include <openssl/evp.h>
#include <stdlib.h>

/* ---- the kv store ---------------------------------------------------------- */

void lv_kv_name(char *out, size_t len, const char *prefix, const char *name)
{
    snprintf(out, len, "%s%s", prefix, name);
}

json_t *lv_kv_json(lv_plugin *p, const char *key)
{
    char *v = NULL;
    size_t len = 0;
    json_t *o;
    if (p->api->kv_get(p->self, key, &v, &len) != 0) {
        return NULL;
    }
    o = json_loadb(v, len, 0, NULL);
    p->api->free(v);
    return o;
}

static int kv_put_json(lv_plugin *p, const char *key, json_t *o)
{
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    int rc;
    json_decref(o);
    if (text == NULL) {
        return OA_ENOMEM;
    }
    rc = p->api->kv_set(p->self, key, text, strlen(text));
    free(text);
    return rc;
}

int lv_bc_save_index(lv_plugin *p)
{
    json_t *names = json_array();
    for (lv_bc *bc = p->bcs; bc != NULL; bc = bc->next) {
        json_array_append_new(names, json_string(bc->a.name));
    }
    return kv_put_json(p, "bcs", names);
}

static char *b64_encode(const uint8_t *in, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out != NULL) {
        EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    }
    return out;
}

static uint8_t *b64_decode(const char *in, size_t *len)
{
    size_t n = strlen(in);
    uint8_t *out;
    int got;
    size_t pad = 0;
    if (n == 0 || n % 4 != 0) {
        return NULL;
    }
    out = malloc(n / 4 * 3 + 1);
    if (out == NULL) {
        return NULL;
    }
    got = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (got < 0) {
        free(out);
        return NULL;
    }
    pad = (in[n - 1] == '=') + (in[n - 2] == '=');
    *len = (size_t)got - pad;
    return out;
}

/* Writes the broadcast's record. */
int lv_bc_save_record(lv_bc *bc)
{
    lv_plugin *p = bc->p;
    char key[LV_NAME_MAX + 8];
    json_t *trackers = json_array();
    json_t *o;
    for (size_t i = 0; i < bc->a.ntrackers; i++) {
        json_array_append_new(trackers, json_string(bc->a.trackers[i]));
    }
    o = json_pack("{s:s, s:s, s:b, s:f, s:I, s:o, s:b, s:b}", "name", bc->a.name,
                  "source", bc->a.source, "loop", bc->a.loop, "chunk_seconds",
                  bc->a.chunk_seconds, "window", (json_int_t)bc->a.window, "trackers", trackers,
                  "auto_start", bc->a.auto_start, "stopped", bc->user_stopped);
    if (o == NULL) {
        return OA_ENOMEM;
    }
    if (bc->has_last) {
        json_object_set_new(o, "last_seq", json_integer((json_int_t)bc->last_seq));
        json_object_set_new(o, "last_ts", json_integer((json_int_t)bc->last_ts));
    }
    if (bc->desc != NULL) {
        char *b = b64_encode(bc->desc, bc->desc_len);
        if (b != NULL) {
            json_object_set_new(o, "descriptor", json_string(b));
            free(b);
        }
    }
    lv_kv_name(key, sizeof(key), "bc/", bc->a.name);
    return kv_put_json(p, key, o);
}

/* Loads the broadcast's key, or makes and stores one. */
int lv_bc_load_key(lv_bc *bc)
{
    lv_plugin *p = bc->p;
    char key[LV_NAME_MAX + 8];
    char *v = NULL;
    size_t len = 0;
    int rc;
    if (bc->have_key) {
        return 0;
    }
    lv_kv_name(key, sizeof(key), "key/", bc->a.name);
    rc = p->api->kv_get(p->self, key, &v, &len);
    if (rc == 0 && len == OA_LC_KEY_LEN) {
        memcpy(bc->seed, v, OA_LC_KEY_LEN);
        p->api->free(v);
        rc = oa_lc_pubkey(bc->seed, bc->pub);
    } else {
        if (rc == 0) {
            p->api->free(v);
            p->api->log(p->self, OA_LOG_WARN, "broadcast \"%s\": its stored key is damaged; "
                        "making a new one (its content ID changes)", bc->a.name);
        }
        rc = oa_lc_keygen(bc->seed, bc->pub);
        if (rc == 0) {
            rc = p->api->kv_set(p->self, key, bc->seed, OA_LC_KEY_LEN);
            bc->key_made = rc == 0;
        }
    }
    bc->have_key = rc == 0;
    return rc;
}

/* ---- records ---------------------------------------------------------------------- */

void lv_bc_set_descriptor(lv_bc *bc, uint8_t *desc, size_t len)
{
    uint8_t id[OA_LC_ID_LEN];
    free(bc->desc);
    bc->desc = desc;
    bc->desc_len = len;
    oa_lc_content_id(desc, len, id);
    oa_lc_hex40(id, bc->hex);
}

/* A broadcast from a stored record (not running). NULL when the record is
 * missing or damaged (logged). */
lv_bc *lv_bc_from_record(lv_plugin *p, const char *name)
{
    char key[LV_NAME_MAX + 8];
    char err[200];
    json_t *o;
    json_t *v;
    lv_bc *bc = calloc(1, sizeof(*bc));
    if (bc == NULL) {
        return NULL;
    }
    bc->p = p;
    lv_kv_name(key, sizeof(key), "bc/", name);
    o = lv_kv_json(p, key);
    if (o == NULL || lv_args_parse(o, p->cfg.default_chunk_seconds, p->cfg.default_window,
                                   &bc->a, err, sizeof(err)) != 0) {
        p->api->log(p->self, OA_LOG_WARN, "the stored broadcast \"%s\" is missing or damaged; "
                    "start it again", name);
        json_decref(o);
        free(bc);
        return NULL;
    }
    v = json_object_get(o, "last_seq");
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        bc->has_last = 1;
        bc->last_seq = (uint64_t)json_integer_value(v);
        bc->last_ts = (int64_t)json_integer_value(json_object_get(o, "last_ts"));
    }
    bc->user_stopped = json_is_true(json_object_get(o, "stopped"));
    v = json_object_get(o, "descriptor");
    if (json_is_string(v)) {
        size_t len = 0;
        uint8_t *d = b64_decode(json_string_value(v), &len);
        if (d != NULL) {
            lv_bc_set_descriptor(bc, d, len);
        }
    }
    json_decref(o);
    return bc;
}

/*
 * swarm: the plugin's commands (add, remove, list, stats; docs/swarm.md)
 * with their JSON in and out, and the JSON helpers every engine file uses
 * for events (oa_json_str). The rest of the plugin is in plugin.c.
 */
#include "engine.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers --------------------------------------------------------- */

static const char *state_name(int state)
{
    switch (state) {
    case OA_SWARM_METADATA: return "metadata";
    case OA_SWARM_CHECKING: return "checking";
    case OA_SWARM_DOWNLOADING: return "downloading";
    case OA_SWARM_SEEDING: return "seeding";
    case OA_SWARM_ERROR: return "error";
    default: return "error";
    }
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    size_t i;
    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return len;
}

const char *oa_json_str(const char *s, char *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    size_t left;
    if (buf == NULL || len == 0) {
        return buf;
    }
    if (s == NULL) {
        snprintf(buf, len, "%s", len >= 5 ? "null" : "");
        return buf;
    }
    if (len < 3) {
        buf[0] = '\0';
        return buf;
    }
    buf[n++] = '"';
    left = strlen(s);
    while (left > 0) {
        char esc[8];
        size_t take = 1;
        size_t out;
        const char *src = esc;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            out = 2;
        } else if (*p < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            out = 6;
        } else {
            take = utf8_seq(p, left);
            if (take == 0) {
                src = "\\ufffd"; /* a byte that is not UTF-8 */
                out = 6;
                take = 1;
            } else {
                src = (const char *)p;
                out = take;
            }
        }
        if (n + out + 2 > len) {
            break; /* the closing quote and the NUL must fit */
        }
        memcpy(buf + n, src, out);
        n += out;
        p += take;
        left -= take;
    }
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}

/* A jansson string of s; bytes that are not UTF-8 become '?'. NULL gives
 * JSON null. */
static json_t *jstr(const char *s)
{
    json_t *j;
    char *copy;
    size_t i = 0;
    size_t n;
    if (s == NULL) {
        return json_null();
    }
    j = json_string(s);
    if (j != NULL) {
        return j;
    }
    copy = strdup(s);
    if (copy == NULL) {
        return NULL;
    }
    n = strlen(copy);
    while (i < n) {
        size_t k = utf8_seq((const unsigned char *)copy + i, n - i);
        if (k == 0) {
            copy[i] = '?';
            k = 1;
        }
        i += k;
    }
    j = json_string(copy);
    free(copy);
    return j;
}

static int parse_hex20(const char *hex, uint8_t out[20])
{
    size_t i;
    if (hex == NULL || strlen(hex) != 40) {
        return OA_EINVAL;
    }
    for (i = 0; i < 40; i++) {
        char c = hex[i];
        int v;
        if (c >= '0' && c <= '9') {
            v = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v = c - 'A' + 10;
        } else {
            return OA_EINVAL;
        }
        if (i % 2 == 0) {
            out[i / 2] = (uint8_t)(v << 4);
        } else {
            out[i / 2] |= (uint8_t)v;
        }
    }
    return 0;
}

/* ---- commands ------------------------------------------------------------------- */

static int cmd_fail(oa_engine *e, int code, const char *fmt, ...) OA_PRINTF(3, 4);
static int cmd_fail(oa_engine *e, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e->api->set_error(e->self, "%s", msg);
    return code;
}

/* Hands j to the host as *out (and releases j). */
static int cmd_reply(oa_engine *e, json_t *j, char **out)
{
    char *text;
    if (j == NULL) {
        return cmd_fail(e, OA_ENOMEM, "out of memory while building the answer");
    }
    text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text == NULL) {
        return cmd_fail(e, OA_ENOMEM, "out of memory while building the answer");
    }
    *out = e->api->str_dup(text);
    free(text);
    return *out != NULL ? 0 : OA_ENOMEM;
}

static int b64_decode(const char *in, uint8_t **out, size_t *outlen)
{
    size_t n = strlen(in);
    EVP_ENCODE_CTX *ctx;
    uint8_t *buf;
    int len1 = 0;
    int len2 = 0;
    int rc;
    if (n == 0 || n > (size_t)1 << 30) {
        return OA_EINVAL;
    }
    buf = malloc(n / 4 * 3 + 4);
    ctx = EVP_ENCODE_CTX_new();
    if (buf == NULL || ctx == NULL) {
        free(buf);
        EVP_ENCODE_CTX_free(ctx);
        return OA_ENOMEM;
    }
    EVP_DecodeInit(ctx);
    rc = EVP_DecodeUpdate(ctx, buf, &len1, (const unsigned char *)in, (int)n);
    if (rc >= 0) {
        rc = EVP_DecodeFinal(ctx, buf + len1, &len2);
    }
    EVP_ENCODE_CTX_free(ctx);
    if (rc < 0 || len1 + len2 == 0) {
        free(buf);
        return OA_EINVAL;
    }
    *out = buf;
    *outlen = (size_t)(len1 + len2);
    return 0;
}

/* Parses args into an object; on failure sets the error sentence. */
static int args_object(oa_engine *e, const char *name, const char *args, json_t **out)
{
    json_error_t jerr;
    json_t *j = json_loads(args != NULL ? args : "{}", 0, &jerr);
    if (j == NULL || !json_is_object(j)) {
        json_decref(j);
        return cmd_fail(e, OA_EINVAL, "%s needs a JSON object as its arguments", name);
    }
    *out = j;
    return 0;
}

/* The torrent named by args' "infohash"; sets the error otherwise. */
static int args_torrent(oa_engine *e, json_t *args, oa_torrent **out)
{
    json_t *jh = json_object_get(args, "infohash");
    uint8_t ih[20];
    if (!json_is_string(jh) || parse_hex20(json_string_value(jh), ih) != 0) {
        return cmd_fail(e, OA_EINVAL, "give \"infohash\" as 40 hex digits");
    }
    *out = oa_engine_find(e, ih);
    if (*out == NULL) {
        return cmd_fail(e, OA_ENOENT, "no content with info-hash %s", json_string_value(jh));
    }
    return 0;
}

static int cmd_add(oa_engine *e, json_t *args, char **out)
{
    json_t *juri = json_object_get(args, "uri");
    json_t *jtor = json_object_get(args, "torrent");
    json_t *jdir = json_object_get(args, "dir");
    oa_torrent_opts opts;
    oa_torrent *t = NULL;
    uint8_t *bytes = NULL;
    int existed = 0;
    char err[256] = "";
    int rc;

    memset(&opts, 0, sizeof(opts));
    if (json_is_string(juri) && json_string_length(juri) > 0 && jtor == NULL) {
        opts.uri = json_string_value(juri);
    } else if (json_is_string(jtor) && juri == NULL) {
        rc = b64_decode(json_string_value(jtor), &bytes, &opts.torrent_len);
        if (rc != 0) {
            return cmd_fail(e, rc, rc == OA_ENOMEM ? "out of memory"
                                                   : "\"torrent\" is not valid base64");
        }
        opts.torrent = bytes;
    } else {
        return cmd_fail(e, OA_EINVAL, "add needs {\"uri\": magnet, info-hash or .torrent path} "
                                      "or {\"torrent\": base64 .torrent bytes}");
    }
    if (jdir != NULL && !json_is_null(jdir)) {
        if (!json_is_string(jdir) || json_string_value(jdir)[0] != '/') {
            free(bytes);
            return cmd_fail(e, OA_EINVAL, "\"dir\" must be an absolute folder path");
        }
        opts.save_dir = json_string_value(jdir);
    }
    if (e->stopping) {
        free(bytes);
        return cmd_fail(e, OA_ESTATE, "the swarm is stopping");
    }
    rc = oa_torrent_add(e, &opts, &t, &existed, err, sizeof(err));
    free(bytes);
    if (rc != 0) {
        return cmd_fail(e, rc, "%s", err[0] != '\0' ? err : oa_strerror(rc));
    }
    return cmd_reply(e,
                     json_pack("{s:s, s:o, s:s, s:b}", "infohash", t->hex, "name",
                               t->mi != NULL ? jstr(t->mi->name) : json_null(), "state",
                               state_name(t->state), "existed", existed),
                     out);
}

static int cmd_remove(oa_engine *e, json_t *args, char **out)
{
    json_t *jdel = json_object_get(args, "delete_files");
    char hex[41];
    oa_torrent *t;
    int rc = args_torrent(e, args, &t);
    if (rc != 0) {
        return rc;
    }
    if (jdel != NULL && !json_is_boolean(jdel)) {
        return cmd_fail(e, OA_EINVAL, "\"delete_files\" must be true or false");
    }
    if (t->live != NULL) {
        return cmd_fail(e, OA_ESTATE, "%s is a live stream, which is closed by the live plugin "
                        "(live stop), not removed here", t->hex);
    }
    memcpy(hex, t->hex, sizeof(hex));
    OA_LOG(e, OA_LOG_INFO, "removing %s%s", hex, json_is_true(jdel) ? " and its files" : "");
    oa_torrent_remove(t, json_is_true(jdel));
    return cmd_reply(e, json_pack("{s:s}", "removed", hex), out);
}

/* The fields list and stats share. */
static json_t *content_json(oa_torrent *t, oa_swarm_stats *st)
{
    double progress = 0.0;
    memset(st, 0, sizeof(*st));
    st->size = (uint32_t)sizeof(*st);
    oa_torrent_stats(t, st);
    if (st->total_length > 0) {
        progress = (double)st->have_bytes / (double)st->total_length;
    }
    return json_pack("{s:s, s:o, s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
                     "infohash", t->hex, "name",
                     t->mi != NULL ? jstr(st->name[0] != '\0' ? st->name : t->mi->name)
                                   : json_null(),
                     "state", state_name(st->state), "total_length", (json_int_t)st->total_length,
                     "have_bytes", (json_int_t)st->have_bytes, "progress", progress, "peers",
                     (json_int_t)st->peers, "seeds", (json_int_t)st->seeds, "download_rate",
                     (json_int_t)st->download_rate, "upload_rate", (json_int_t)st->upload_rate,
                     "downloaded", (json_int_t)st->downloaded, "uploaded",
                     (json_int_t)st->uploaded, "dir", jstr(t->save_dir));
}

/* Live streams (issue 7): "live" on every content, and the live stats of
 * a live one. */
static json_t *with_live(oa_torrent *t, json_t *j)
{
    oa_swarm_live_stats ls;
    json_t *lj;
    if (j == NULL) {
        return NULL;
    }
    json_object_set_new(j, "live", json_boolean(t->live != NULL));
    if (t->live == NULL) {
        return j;
    }
    if (t->mi == NULL && oa_live_name(t) != NULL) {
        json_object_set_new(j, "name", jstr(oa_live_name(t)));
    }
    memset(&ls, 0, sizeof(ls));
    ls.size = (uint32_t)sizeof(ls);
    oa_live_stats(t, &ls);
    lj = json_pack("{s:b, s:b, s:I, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:i, s:o}",
                   "have_descriptor", ls.have_descriptor, "has_edge", ls.has_edge, "first",
                   (json_int_t)ls.first, "last", (json_int_t)ls.last, "peers", (int)ls.peers,
                   "downloaded", (json_int_t)ls.downloaded, "uploaded", (json_int_t)ls.uploaded,
                   "download_rate", (json_int_t)ls.download_rate, "upload_rate",
                   (json_int_t)ls.upload_rate, "chunks_in", (json_int_t)ls.chunks_in,
                   "rejected", (json_int_t)ls.rejected, "latency_median_ms",
                   (int)ls.latency_median_ms, "latency_p95_ms", (int)ls.latency_p95_ms,
                   "latency_samples", (int)ls.latency_samples, "error", jstr(ls.error));
    if (lj != NULL) {
        json_object_set_new(j, "live_stats", lj);
    }
    return j;
}

static int cmd_list(oa_engine *e, char **out)
{
    json_t *arr = json_array();
    oa_torrent *t;
    oa_swarm_stats st;
    if (arr == NULL) {
        return cmd_fail(e, OA_ENOMEM, "out of memory");
    }
    for (t = e->torrents; t != NULL; t = t->next) {
        if (!t->closing && json_array_append_new(arr, with_live(t, content_json(t, &st))) != 0) {
            json_decref(arr);
            return cmd_fail(e, OA_ENOMEM, "out of memory");
        }
    }
    return cmd_reply(e, json_pack("{s:o}", "content", arr), out);
}

/* A peer's client: its BEP 10 "v", else the Azureus-style peer id prefix. */
static void peer_client(const oa_peer *p, char *out, size_t len)
{
    const uint8_t *id = p->peer_id;
    size_t i;
    if (p->extp.client[0] != '\0') {
        snprintf(out, len, "%s", p->extp.client);
        return;
    }
    out[0] = '\0';
    if (id[0] == '-' && id[7] == '-' && len > 7) {
        for (i = 1; i < 7; i++) {
            if (id[i] < 0x20 || id[i] > 0x7e) {
                return;
            }
        }
        memcpy(out, id + 1, 6);
        out[6] = '\0';
    }
}

/* A count the trackers gave, or null when none did. */
static json_t *count_or_null(int64_t n)
{
    return n >= 0 ? json_integer((json_int_t)n) : json_null();
}

static int cmd_stats_one(oa_engine *e, oa_torrent *t, char **out)
{
    oa_swarm_stats st;
    json_t *j = with_live(t, content_json(t, &st));
    json_t *files = json_array();
    json_t *peers = json_array();
    const oa_peer *p;
    size_t i;
    int bad = j == NULL || files == NULL || peers == NULL;

    for (i = 0; !bad && t->mi != NULL && i < t->mi->file_count; i++) {
        const oa_mi_file *f = &t->mi->files[i];
        char *path;
        if (f->flags & OA_MI_FILE_PAD) {
            continue;
        }
        /* relative to the save folder, as on disk: a multi-file torrent's
         * files are in a folder named after it */
        path = malloc(strlen(t->mi->name) + strlen(f->path) + 2);
        if (path == NULL) {
            bad = 1;
            break;
        }
        if (t->mi->multi_file) {
            sprintf(path, "%s/%s", t->mi->name, f->path);
        } else {
            strcpy(path, f->path);
        }
        bad = json_array_append_new(files, json_pack("{s:o, s:I}", "path", jstr(path), "length",
                                                     (json_int_t)f->length)) != 0;
        free(path);
    }
    for (p = t->peers; !bad && p != NULL; p = p->tnext) {
        char client[64];
        peer_client(p, client, sizeof(client));
        bad = json_array_append_new(
                  peers, json_pack("{s:o, s:o, s:b, s:b, s:I, s:I}", "addr", jstr(p->addr),
                                   "client", jstr(client), "outbound", p->outbound, "seed",
                                   p->seed, "download_rate", (json_int_t)p->down_rate,
                                   "upload_rate", (json_int_t)p->up_rate)) != 0;
    }
    if (!bad) {
        bad = json_object_set_new(j, "pieces", json_integer(st.pieces)) != 0 ||
              json_object_set_new(j, "pieces_have", json_integer(st.pieces_have)) != 0 ||
              json_object_set_new(j, "piece_length", json_integer(st.piece_length)) != 0 ||
              json_object_set_new(j, "wasted", json_integer((json_int_t)st.wasted)) != 0 ||
              json_object_set_new(j, "hash_failures", json_integer(st.hash_failures)) != 0 ||
              json_object_set_new(j, "error", jstr(st.error)) != 0 ||
              json_object_set_new(j, "tracker_seeds", count_or_null(t->swarm_seeds)) != 0 ||
              json_object_set_new(j, "tracker_leechers", count_or_null(t->swarm_leechers)) != 0 ||
              json_object_set_new(j, "tracker_downloads", count_or_null(t->swarm_downloads)) != 0 ||
              json_object_set(j, "files", files) != 0 ||
              json_object_set(j, "peer_list", peers) != 0;
    }
    json_decref(files);
    json_decref(peers);
    if (bad) {
        json_decref(j);
        return cmd_fail(e, OA_ENOMEM, "out of memory");
    }
    return cmd_reply(e, j, out);
}

static int cmd_stats_all(oa_engine *e, char **out)
{
    json_t *bans = json_array();
    uint64_t now = oa_engine_now(e);
    uint64_t down = 0;
    uint64_t up = 0;
    size_t contents = 0;
    oa_torrent *t;
    size_t i;
    if (bans == NULL) {
        return cmd_fail(e, OA_ENOMEM, "out of memory");
    }
    for (t = e->torrents; t != NULL; t = t->next) {
        if (!t->closing) {
            contents++;
            down += t->rate_down;
            up += t->rate_up;
        }
    }
    for (i = 0; i < e->ban_count; i++) {
        const oa_ban *b = &e->bans[i];
        if (b->until_ms <= now) {
            continue;
        }
        if (json_array_append_new(bans, json_pack("{s:o, s:o, s:I}", "ip", jstr(b->ip), "why",
                                                  jstr(b->why), "seconds_left",
                                                  (json_int_t)((b->until_ms - now + 999) / 1000))) !=
            0) {
            json_decref(bans);
            return cmd_fail(e, OA_ENOMEM, "out of memory");
        }
    }
    return cmd_reply(e,
                     json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:o}", "contents",
                               (json_int_t)contents, "peers", (json_int_t)e->peer_count,
                               "download_rate", (json_int_t)down, "upload_rate", (json_int_t)up,
                               "downloaded", (json_int_t)e->downloaded, "uploaded",
                               (json_int_t)e->uploaded, "port", (int)e->cfg.port, "bans", bans),
                     out);
}

int oa_engine_command(void *state, const char *name, const char *json_args, char **out)
{
    oa_engine *e = state;
    json_t *args = NULL;
    int rc;
    if (strcmp(name, "add") != 0 && strcmp(name, "remove") != 0 && strcmp(name, "list") != 0 &&
        strcmp(name, "stats") != 0) {
        return OA_ENOTFOUND;
    }
    rc = args_object(e, name, json_args, &args);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(name, "add") == 0) {
        rc = cmd_add(e, args, out);
    } else if (strcmp(name, "remove") == 0) {
        rc = cmd_remove(e, args, out);
    } else if (strcmp(name, "list") == 0) {
        rc = cmd_list(e, out);
    } else if (json_object_get(args, "infohash") != NULL) {
        oa_torrent *t = NULL;
        rc = args_torrent(e, args, &t);
        if (rc == 0) {
            rc = cmd_stats_one(e, t, out);
        }
    } else {
        rc = cmd_stats_all(e, out);
    }
    json_decref(args);
    return rc;
}

/*
 * swarm: the plugin. Descriptor and settings, the lifecycle, the 1 s tick,
 * bans, bus events, the global rate limits and the oa_swarm service
 * (sdk/include/openace/swarm.h), whose functions forward to torrent.c.
 * commands.c has the commands (add, remove, list, stats) and the JSON
 * helpers. docs/swarm.md is the user's guide.
 *
 * Memory: the engine is one calloc'd block with plugin.c's own state in
 * e->priv. The HTTP driver for trackers closes asynchronously; when
 * destroy() runs before its closed callback, the callback frees the engine
 * (the .so stays loaded while the host runs, so the callback is safe).
 */
#include "engine.h"
#include "magnet.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRANSPORT_NAME OA_TRANSPORT_SERVICE_PREFIX "tcp"
#define KIB 1024u
#define MIB ((uint64_t)1024 * 1024)

/* plugin.c's own state, in e->priv. */
typedef struct engine_priv {
    oa_swarm svc;        /* the registered service */
    int svc_registered;
    int http_closing;    /* oa_curl_uv_close() called, closed callback not yet */
    int destroyed;       /* destroy() ran while http_closing: the callback frees */
    oa_curl_uv *http_to_close; /* waiting for stopped announces to end */
} engine_priv;

static engine_priv *PRIV(oa_engine *e)
{
    return (engine_priv *)e->priv;
}

/* ---- small helpers --------------------------------------------------------- */

/* Copies the address part of "ip:port", "[v6]:port", "[v6]", "v6" or
 * "ip" into out. */
static void addr_ip(const char *addr, char *out, size_t len)
{
    const char *colon;
    size_t n;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        n = end != NULL ? (size_t)(end - addr - 1) : strlen(addr + 1);
        addr++;
    } else {
        colon = strchr(addr, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            n = (size_t)(colon - addr); /* one colon: IPv4 with a port */
        } else {
            n = strlen(addr); /* no port, or a bare IPv6 address */
        }
    }
    if (n >= len) {
        n = len - 1;
    }
    memcpy(out, addr, n);
    out[n] = '\0';
}

/* Creates dir and its parents; 0 or -errno. */
static int mkdir_p(const char *dir)
{
    char path[1024];
    size_t i;
    struct stat sb;
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
        return -ENAMETOOLONG;
    }
    for (i = 1; path[i] != '\0'; i++) {
        if (path[i] == '/') {
            path[i] = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) {
                return -errno;
            }
            path[i] = '/';
        }
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        return -errno;
    }
    if (stat(path, &sb) != 0) {
        return -errno;
    }
    if (!S_ISDIR(sb.st_mode)) {
        return -ENOTDIR;
    }
    return access(path, W_OK | X_OK) == 0 ? 0 : -errno;
}

/* ---- engine services for the other files ------------------------------------ */

void oa_engine_event(oa_engine *e, const char *topic, const char *fmt, ...)
{
    char small[512];
    char *buf = small;
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= sizeof(small)) {
        buf = malloc((size_t)n + 1);
        if (buf == NULL) {
            return;
        }
        va_start(ap, fmt);
        vsnprintf(buf, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    if (e->api->publish(e->self, topic, buf) == OA_EINVAL) {
        OA_LOG(e, OA_LOG_DEBUG, "event %s dropped: not valid JSON", topic);
    }
    if (buf != small) {
        free(buf);
    }
}

uint64_t oa_engine_now(oa_engine *e)
{
    return e->api->now_ms(e->self);
}

uint64_t oa_engine_random(oa_engine *e)
{
    uint64_t x = e->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    e->rng = x;
    return x;
}

oa_torrent *oa_engine_find(oa_engine *e, const uint8_t info_hash[20])
{
    oa_torrent *t;
    for (t = e->torrents; t != NULL; t = t->next) {
        if (!t->closing && memcmp(t->info_hash, info_hash, 20) == 0) {
            return t;
        }
    }
    return NULL;
}

static oa_ban *ban_find(oa_engine *e, const char *ip)
{
    size_t i;
    for (i = 0; i < e->ban_count; i++) {
        if (strcmp(e->bans[i].ip, ip) == 0) {
            return &e->bans[i];
        }
    }
    return NULL;
}

void oa_engine_ban(oa_engine *e, const char *addr, const char *why)
{
    char ip[48];
    char jaddr[120];
    char jwhy[220];
    unsigned minutes = (unsigned)(e->cfg.ban_ms / 60000);
    oa_ban *b;
    if (addr == NULL || addr[0] == '\0') {
        return;
    }
    if (why == NULL) {
        why = "no reason given";
    }
    if (e->cfg.ban_ms == 0) {
        OA_LOG(e, OA_LOG_INFO, "not banning %s (ban_minutes is 0): %s", addr, why);
        return;
    }
    addr_ip(addr, ip, sizeof(ip));
    b = ban_find(e, ip);
    if (b == NULL) {
        if (e->ban_count == e->ban_cap) {
            size_t cap = e->ban_cap == 0 ? 16 : e->ban_cap * 2;
            oa_ban *nb = realloc(e->bans, cap * sizeof(*nb));
            if (nb == NULL) {
                OA_LOG(e, OA_LOG_WARN, "cannot ban %s: out of memory", ip);
                return;
            }
            e->bans = nb;
            e->ban_cap = cap;
        }
        b = &e->bans[e->ban_count++];
        memset(b, 0, sizeof(*b));
        snprintf(b->ip, sizeof(b->ip), "%s", ip);
    }
    b->until_ms = oa_engine_now(e) + e->cfg.ban_ms;
    snprintf(b->why, sizeof(b->why), "%s", why);
    OA_LOG(e, OA_LOG_WARN, "banned %s for %u min: %s", ip, minutes, why);
    oa_engine_event(e, "swarm.peer.banned", "{\"addr\":%s,\"why\":%s,\"minutes\":%u}",
                    oa_json_str(addr, jaddr, sizeof(jaddr)), oa_json_str(why, jwhy, sizeof(jwhy)),
                    minutes);
}

int oa_engine_banned(oa_engine *e, const char *addr)
{
    char ip[48];
    oa_ban *b;
    if (addr == NULL || e->ban_count == 0) {
        return 0;
    }
    addr_ip(addr, ip, sizeof(ip));
    b = ban_find(e, ip);
    return b != NULL && b->until_ms > oa_engine_now(e);
}

static void bans_expire(oa_engine *e, uint64_t now)
{
    size_t i = 0;
    while (i < e->ban_count) {
        if (e->bans[i].until_ms <= now) {
            OA_LOG(e, OA_LOG_INFO, "ban of %s ended", e->bans[i].ip);
            e->bans[i] = e->bans[--e->ban_count];
        } else {
            i++;
        }
    }
}

/* ---- settings ------------------------------------------------------------------ */

static int cfg_int(oa_engine *e, const char *key, int64_t *out)
{
    int rc = e->api->config_get_int(e->self, key, out);
    if (rc != 0) {
        e->api->set_error(e->self, "cannot read the setting %s: %s", key, oa_strerror(rc));
    }
    return rc;
}

static int cfg_str(oa_engine *e, const char *key, char *out, size_t len)
{
    char *v = NULL;
    int rc = e->api->config_get(e->self, key, &v);
    if (rc != 0) {
        e->api->set_error(e->self, "cannot read the setting %s: %s", key, oa_strerror(rc));
        return rc;
    }
    if (snprintf(out, len, "%s", v) >= (int)len) {
        e->api->set_error(e->self, "the setting %s is longer than %zu bytes", key, len - 1);
        rc = OA_ERANGE;
    }
    e->api->free(v);
    return rc;
}

static int read_config(oa_engine *e)
{
    oa_engine_config *c = &e->cfg;
    struct {
        const char *key;
        int64_t v;
    } ints[] = {{"max_torrents", 0},   {"max_peers", 0},         {"max_connections", 0},
                {"upload_slots", 0},   {"upload_rate_kib", 0},   {"download_rate_kib", 0},
                {"max_requests", 0},   {"hash_fail_strikes", 0}, {"ban_minutes", 0},
                {"cache_limit_mb", 0}, {"read_cache_mb", 0},     {"stream_window_mb", 0},
                {"live_join_behind", 0}, {"live_source_fanout", 0}, {"live_max_mb", 0}};
    size_t i;
    char dir[1024];
    int rc;

    for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        rc = cfg_int(e, ints[i].key, &ints[i].v);
        if (rc != 0) {
            return rc;
        }
        if (ints[i].v < 0) {
            ints[i].v = 0; /* the schema keeps them in range */
        }
    }
    c->max_torrents = (unsigned)ints[0].v;
    c->max_peers = (unsigned)ints[1].v;
    c->max_connections = (unsigned)ints[2].v;
    c->upload_slots = (unsigned)ints[3].v;
    c->upload_rate = (uint64_t)ints[4].v * KIB;
    c->download_rate = (uint64_t)ints[5].v * KIB;
    c->max_requests = (unsigned)ints[6].v;
    c->hash_fail_strikes = (unsigned)ints[7].v;
    c->ban_ms = (uint64_t)ints[8].v * 60000;
    c->cache_limit = (uint64_t)ints[9].v * MIB;
    c->read_cache_bytes = (uint64_t)ints[10].v * MIB;
    c->stream_window_bytes = (uint64_t)ints[11].v * MIB;
    c->live_join_behind = (unsigned)ints[12].v;
    c->live_source_fanout = ints[13].v > 0 ? (unsigned)ints[13].v : 1;
    c->live_max_bytes = (uint64_t)(ints[14].v > 0 ? ints[14].v : 64) * MIB;
    c->connect_per_tick = 8;
    c->request_timeout_ms = 30000;
    c->peer_timeout_ms = 120000;
    c->handshake_timeout_ms = 20000;

    rc = e->api->config_get_bool(e->self, "pex", &c->pex);
    if (rc == 0) {
        rc = e->api->config_get_bool(e->self, "seed", &c->seed);
    }
    if (rc != 0) {
        e->api->set_error(e->self, "cannot read the settings pex and seed: %s", oa_strerror(rc));
        return rc;
    }
    rc = cfg_str(e, "trackers", c->trackers, sizeof(c->trackers));
    if (rc == 0) {
        rc = cfg_str(e, "bootstrap_peers", c->bootstrap_peers, sizeof(c->bootstrap_peers));
    }
    if (rc == 0) {
        rc = cfg_str(e, "download_dir", dir, sizeof(dir));
    }
    if (rc != 0) {
        return rc;
    }
    if (dir[0] == '/') {
        snprintf(c->download_dir, sizeof(c->download_dir), "%s", dir);
    } else {
        /* "" is <data dir>/downloads; a relative folder is below the data dir */
        const char *data = e->api->data_dir(e->self);
        if (snprintf(c->download_dir, sizeof(c->download_dir), "%s/%s", data != NULL ? data : ".",
                     dir[0] != '\0' ? dir : "downloads") >= (int)sizeof(c->download_dir)) {
            e->api->set_error(e->self, "the download folder path is too long");
            return OA_ERANGE;
        }
    }
    return 0;
}

/* Adds the bootstrap_peers setting to t's candidates. */
static void add_bootstrap(oa_engine *e, oa_torrent *t)
{
    char list[sizeof(e->cfg.bootstrap_peers)];
    const char *addrs[64];
    size_t n = 0;
    char *save = NULL;
    char *w;
    snprintf(list, sizeof(list), "%s", e->cfg.bootstrap_peers);
    for (w = strtok_r(list, " \t,", &save); w != NULL && n < 64;
         w = strtok_r(NULL, " \t,", &save)) {
        addrs[n++] = w;
    }
    if (n > 0) {
        oa_torrent_add_candidates(t, addrs, n);
    }
}

static int swarm_configure(void *state, const char *key, const char *value)
{
    oa_engine *e = state;
    uint64_t now = oa_engine_now(e);
    long long v = strtoll(value, NULL, 10);
    if (v < 0) {
        v = 0;
    }
    if (strcmp(key, "upload_rate_kib") == 0) {
        e->cfg.upload_rate = (uint64_t)v * KIB;
        oa_rate_limit_set(&e->up_limit, e->cfg.upload_rate, 0, now);
    } else if (strcmp(key, "download_rate_kib") == 0) {
        e->cfg.download_rate = (uint64_t)v * KIB;
        oa_rate_limit_set(&e->down_limit, e->cfg.download_rate, 0, now);
    } else if (strcmp(key, "upload_slots") == 0) {
        e->cfg.upload_slots = (unsigned)v;
    } else if (strcmp(key, "hash_fail_strikes") == 0) {
        e->cfg.hash_fail_strikes = (unsigned)v;
    } else if (strcmp(key, "ban_minutes") == 0) {
        size_t i;
        e->cfg.ban_ms = (uint64_t)v * 60000;
        for (i = 0; i < e->ban_count; i++) {
            /* bans in force end no later than the new length allows */
            if (e->bans[i].until_ms > now + e->cfg.ban_ms) {
                e->bans[i].until_ms = now + e->cfg.ban_ms;
            }
        }
        bans_expire(e, now);
    } else if (strcmp(key, "live_join_behind") == 0) {
        e->cfg.live_join_behind = (unsigned)v;
    } else if (strcmp(key, "live_source_fanout") == 0) {
        e->cfg.live_source_fanout = v > 0 ? (unsigned)v : 1;
    } else if (strcmp(key, "live_max_mb") == 0) {
        e->cfg.live_max_bytes = (uint64_t)(v > 0 ? v : 64) * MIB;
    } else if (strcmp(key, "trackers") == 0) {
        snprintf(e->cfg.trackers, sizeof(e->cfg.trackers), "%s", value);
    } else if (strcmp(key, "bootstrap_peers") == 0) {
        oa_torrent *t;
        snprintf(e->cfg.bootstrap_peers, sizeof(e->cfg.bootstrap_peers), "%s", value);
        for (t = e->torrents; t != NULL; t = t->next) {
            if (!t->closing) {
                add_bootstrap(e, t);
            }
        }
    } else {
        return OA_ENOSYS;
    }
    OA_LOG(e, OA_LOG_INFO, "setting %s is now '%s'", key, value);
    return 0;
}

/* ---- the service (swarm.h) ---------------------------------------------------- */

static int svc_open(void *instance, const char *uri, const void *torrent, size_t torrent_len,
                    oa_swarm_ready_cb ready, void *arg, oa_swarm_handle **out)
{
    oa_engine *e = instance;
    oa_torrent_opts opts;
    oa_torrent *t = NULL;
    int existed = 0;
    char err[256] = "";
    int rc;
    if (out == NULL || ready == NULL || (uri == NULL && (torrent == NULL || torrent_len == 0))) {
        e->api->set_error(e->self, "swarm open needs a URI or .torrent bytes, a ready "
                                   "callback and a handle pointer");
        return OA_EINVAL;
    }
    if (e->stopping) {
        e->api->set_error(e->self, "the swarm is stopping");
        return OA_ESTATE;
    }
    memset(&opts, 0, sizeof(opts));
    opts.uri = uri;
    opts.torrent = torrent;
    opts.torrent_len = torrent_len;
    rc = oa_torrent_add(e, &opts, &t, &existed, err, sizeof(err));
    if (rc != 0) {
        OA_LOG(e, OA_LOG_WARN, "cannot open %s: %s", uri != NULL ? uri : "torrent bytes",
               err[0] != '\0' ? err : oa_strerror(rc));
        e->api->set_error(e->self, "%s", err[0] != '\0' ? err : oa_strerror(rc));
        return rc;
    }
    /* oa_torrent_add recorded new content in the catalog. A failed handle
     * leaves it in place: it downloads like content added by command. */
    rc = oa_torrent_handle_open(t, ready, arg, out);
    if (rc != 0) {
        e->api->set_error(e->self, "cannot open a handle on %s: %s", t->hex, oa_strerror(rc));
    }
    return rc;
}

static void svc_close(oa_swarm_handle *h)
{
    if (h != NULL && h->t != NULL && h->t->live != NULL) {
        oa_live_handle_close(h); /* the last live handle removes the stream */
    } else if (h != NULL) {
        oa_torrent_handle_close(h);
    }
}

/* A handle whose content was removed is detached: h->t is NULL and every
 * function answers as engine.h (oa_torrent_remove) says. */

static void svc_info_hash(oa_swarm_handle *h, uint8_t out[20])
{
    if (h != NULL) {
        memcpy(out, h->info_hash, 20); /* kept by detached handles too */
    } else {
        memset(out, 0, 20);
    }
}

static size_t svc_file_count(oa_swarm_handle *h)
{
    if (h == NULL || h->t == NULL || h->t->mi == NULL) {
        return 0;
    }
    return h->t->mi->file_count;
}

static int svc_file(oa_swarm_handle *h, size_t index, oa_swarm_file *out)
{
    const oa_mi_file *f;
    if (h == NULL || out == NULL) {
        return OA_EINVAL;
    }
    if (h->t == NULL) {
        return OA_ECANCELED;
    }
    if (h->t->mi == NULL) {
        return OA_ESTATE;
    }
    if (index >= h->t->mi->file_count) {
        return OA_ENOENT;
    }
    f = &h->t->mi->files[index];
    out->path = f->path;
    out->offset = f->offset;
    out->length = f->length;
    return 0;
}

static int svc_read(oa_swarm_handle *h, uint64_t offset, size_t len, oa_swarm_read_cb cb,
                    void *arg, oa_swarm_read **out)
{
    oa_swarm_read *r = NULL;
    int rc;
    if (h == NULL || cb == NULL) {
        return OA_EINVAL;
    }
    if (h->t == NULL) {
        return OA_ECANCELED;
    }
    /* An oa_swarm_read is torrent.c's read record under the service's name. */
    rc = oa_torrent_read_start(h->t, h, offset, len, cb, arg, (void *)&r);
    if (rc == 0 && out != NULL) {
        *out = r;
    }
    return rc;
}

static void svc_read_cancel(oa_swarm_read *r)
{
    if (r != NULL) {
        oa_torrent_read_cancel((void *)r);
    }
}

static int svc_set_playhead(oa_swarm_handle *h, uint64_t offset, uint64_t bitrate)
{
    if (h == NULL) {
        return OA_EINVAL;
    }
    if (h->t == NULL) {
        return OA_ECANCELED;
    }
    return oa_torrent_set_playhead(h->t, h, offset, bitrate);
}

static uint64_t svc_available(oa_swarm_handle *h, uint64_t offset)
{
    if (h == NULL || h->t == NULL) {
        return 0;
    }
    return oa_torrent_available(h->t, offset);
}

static void svc_stats(oa_swarm_handle *h, oa_swarm_stats *st)
{
    oa_swarm_stats full;
    uint32_t size;
    if (h == NULL || st == NULL) {
        return;
    }
    if (h->t != NULL) {
        oa_torrent_stats(h->t, st);
        return;
    }
    /* detached: the fields that fit in the caller's version, as torrent.c */
    size = st->size;
    memset(&full, 0, sizeof(full));
    full.size = size;
    full.state = OA_SWARM_ERROR;
    oa_infohash_to_hex(h->info_hash, full.info_hash);
    snprintf(full.error, sizeof(full.error), "content removed");
    if (size >= sizeof(full)) {
        memcpy(st, &full, sizeof(full));
    } else if (size > sizeof(uint32_t)) {
        memcpy(st, &full, size);
    }
    st->size = size;
}

static int svc_metainfo(oa_swarm_handle *h, uint8_t **out, size_t *len)
{
    uint8_t *bytes = NULL;
    size_t n = 0;
    int rc;
    if (h == NULL || out == NULL || len == NULL) {
        return OA_EINVAL;
    }
    if (h->t == NULL) {
        return OA_ECANCELED;
    }
    if (h->t->mi == NULL) {
        return OA_ESTATE;
    }
    rc = oa_metainfo_serialize(h->t->mi, &bytes, &n);
    if (rc != 0) {
        return rc;
    }
    *out = h->t->e->api->alloc(n);
    if (*out == NULL) {
        free(bytes);
        return OA_ENOMEM;
    }
    memcpy(*out, bytes, n);
    *len = n;
    free(bytes);
    return 0;
}

/* ---- live streams (issue 7): forwarded to live.c ---------------------------------- */

static int svc_live_open(void *instance, const uint8_t id[20], const void *descriptor,
                         size_t descriptor_len, int publish, const oa_swarm_live_cbs *cbs,
                         void *arg, oa_swarm_handle **out)
{
    oa_engine *e = instance;
    if (e->stopping) {
        e->api->set_error(e->self, "the swarm is stopping");
        return OA_ESTATE;
    }
    return oa_live_open(e, id, descriptor, descriptor_len, publish, cbs, arg, out);
}

static void svc_live_stats(oa_swarm_handle *h, oa_swarm_live_stats *st)
{
    uint32_t size;
    if (h == NULL || st == NULL) {
        return;
    }
    if (h->t != NULL && h->t->live != NULL) {
        oa_live_stats(h->t, st);
        return;
    }
    size = st->size;
    if (size > sizeof(uint32_t)) {
        memset((uint8_t *)st + sizeof(uint32_t), 0,
               (size < sizeof(*st) ? size : sizeof(*st)) - sizeof(uint32_t));
    }
    if (size >= offsetof(oa_swarm_live_stats, error) + sizeof(st->error)) {
        snprintf(st->error, sizeof(st->error), "%s",
                 h->t == NULL ? "content removed" : "not a live stream");
    }
    st->size = size;
}

static void svc_fill(oa_engine *e, oa_swarm *s)
{
    memset(s, 0, sizeof(*s));
    s->size = (uint32_t)sizeof(*s);
    s->instance = e;
    s->open = svc_open;
    s->close = svc_close;
    s->info_hash = svc_info_hash;
    s->file_count = svc_file_count;
    s->file = svc_file;
    s->read = svc_read;
    s->read_cancel = svc_read_cancel;
    s->set_playhead = svc_set_playhead;
    s->available = svc_available;
    s->stats = svc_stats;
    s->metainfo = svc_metainfo;
    s->live_open = svc_live_open;
    s->live_publish = oa_live_publish;
    s->live_chat = oa_live_chat;
    s->live_stats = svc_live_stats;
}

/* ---- health --------------------------------------------------------------------- */

static int swarm_health(void *state, char **detail)
{
    oa_engine *e = state;
    char buf[256];
    size_t contents = 0;
    const oa_torrent *t;
    for (t = e->torrents; t != NULL; t = t->next) {
        contents += !t->closing;
    }
    snprintf(buf, sizeof(buf),
             "{\"status\":\"ok: %zu contents, %zu peers, port %u\",\"contents\":%zu,"
             "\"peers\":%zu,\"port\":%u}",
             contents, e->peer_count, (unsigned)e->cfg.port, contents, e->peer_count,
             (unsigned)e->cfg.port);
    *detail = e->api->str_dup(buf);
    return OA_HEALTH_OK;
}

/* ---- lifecycle ------------------------------------------------------------------ */

/* Bytes of verified pieces on disk for t. */
static uint64_t disk_bytes(oa_torrent *t)
{
    uint64_t n;
    if (t->mi == NULL || t->have.count == 0) {
        return 0;
    }
    n = (uint64_t)oa_bitfield_count(&t->have) * t->mi->piece_length;
    return n < t->mi->total_length ? n : t->mi->total_length;
}

/* cache_limit: while the content on disk is over it, removes (with its
 * files) the complete content played least recently that no handle holds.
 * Content still downloading or open is never removed. */
static void cache_enforce(oa_engine *e)
{
    for (;;) {
        uint64_t total = 0;
        oa_torrent *victim = NULL;
        oa_torrent *t;
        for (t = e->torrents; t != NULL; t = t->next) {
            if (t->closing) {
                continue;
            }
            total += disk_bytes(t);
            if (t->state == OA_SWARM_SEEDING && t->handles == NULL &&
                (victim == NULL || t->last_played < victim->last_played)) {
                victim = t;
            }
        }
        if (total <= e->cfg.cache_limit || victim == NULL) {
            return;
        }
        OA_LOG(e, OA_LOG_INFO, "cache limit %llu MiB reached (%llu MiB on disk): removing %s (%s)",
               (unsigned long long)(e->cfg.cache_limit / MIB), (unsigned long long)(total / MIB),
               victim->hex, victim->mi != NULL ? victim->mi->name : "");
        oa_torrent_remove(victim, 1);
    }
}

static void on_tick(void *arg, oa_timer *timer)
{
    oa_engine *e = arg;
    uint64_t now = oa_engine_now(e);
    oa_torrent *t;
    oa_peer *p;
    oa_peer *next;
    (void)timer;
    if (e->stopping) {
        return;
    }
    /* A torrent's tick never frees it; t->next is read after the tick so
     * that the tick may change the list behind it. */
    for (t = e->torrents; t != NULL; t = t->next) {
        if (!t->closing) {
            oa_torrent_tick(t, now);
        }
    }
    for (p = e->unattached; p != NULL; p = next) {
        next = p->tnext; /* the peer may close itself */
        oa_peer_tick(p, now);
    }
    oa_torrent_detached_tick(e);
    bans_expire(e, now);
    if (e->cfg.cache_limit > 0) {
        cache_enforce(e);
    }
}

static void on_accept(void *arg, oa_conn *conn)
{
    oa_peer_accept(arg, conn);
}

static void engine_free(oa_engine *e)
{
    free(e->bans);
    free(e->priv);
    free(e);
}

static void on_http_closed(void *arg)
{
    oa_engine *e = arg;
    engine_priv *pv = PRIV(e);
    pv->http_closing = 0;
    if (pv->destroyed) {
        engine_free(e); /* destroy() already ran: only free() from here */
    }
}

static void http_close_now(oa_engine *e)
{
    engine_priv *pv = PRIV(e);
    oa_curl_uv *http = pv->http_to_close;

    pv->http_to_close = NULL;
    if (http != NULL) {
        oa_curl_uv_close(http, on_http_closed, e);
    }
}

void oa_engine_tracker_closed(void *arg)
{
    oa_engine *e = arg;

    if (e->trackers_closing > 0 && --e->trackers_closing == 0) {
        http_close_now(e);
    }
}

/* Ends everything start() began; safe on a partial start. */
static void engine_shutdown(oa_engine *e)
{
    engine_priv *pv = PRIV(e);
    oa_torrent *t;
    oa_torrent *tnext;
    oa_peer *p;
    oa_peer *pnext;
    size_t n = 0;

    e->stopping = 1;
    if (pv->svc_registered) {
        e->api->service_unregister(e->self, OA_SWARM_SERVICE);
        pv->svc_registered = 0;
    }
    if (e->tick != NULL) {
        e->api->timer_stop(e->tick);
        e->tick = NULL;
    }
    /* Removal while stopping keeps the catalog records. A removed torrent
     * may be freed at once: its next pointer is read first. */
    for (t = e->torrents; t != NULL; t = tnext) {
        tnext = t->next;
        if (!t->closing) {
            oa_torrent_remove(t, 0);
            n++;
        }
    }
    for (p = e->unattached; p != NULL; p = pnext) {
        pnext = p->tnext;
        oa_peer_close(p, "the swarm is stopping", 0);
    }
    /* handles of content removed earlier that their holders never closed
     * (consumers stop before us, so normally none) */
    while (e->detached != NULL) {
        oa_torrent_handle_close(e->detached);
    }
    if (e->listener != NULL) {
        e->tp->listen_close(e->listener);
        e->listener = NULL;
    }
    if (e->http != NULL && !pv->http_closing) {
        pv->http_closing = 1;
        pv->http_to_close = e->http;
        if (e->trackers_closing == 0) {
            http_close_now(e);
        } /* else the last stopped announce's end closes it */
    }
    e->http = NULL; /* freed by the driver once closed */
    e->tp = NULL;
    if (n > 0) {
        OA_LOG(e, OA_LOG_INFO, "stopped; %zu content(s) will resume at the next start", n);
    }
}

static int swarm_init(oa_plugin *self, const oa_host_api *api, void **state)
{
    static const char alnum[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    oa_engine *e = calloc(1, sizeof(*e));
    uint8_t rnd[20];
    size_t i;
    int rc;
    if (e == NULL) {
        api->set_error(self, "out of memory");
        return OA_ENOMEM;
    }
    e->priv = calloc(1, sizeof(engine_priv));
    if (e->priv == NULL) {
        free(e);
        api->set_error(self, "out of memory");
        return OA_ENOMEM;
    }
    e->self = self;
    e->api = api;
    rc = read_config(e);
    if (rc != 0) {
        engine_free(e);
        return rc;
    }
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        engine_free(e);
        api->set_error(self, "cannot get random bytes from OpenSSL for the peer id");
        return OA_EIO;
    }
    memcpy(e->peer_id, OA_PEER_ID_PREFIX, 8);
    for (i = 8; i < 20; i++) {
        e->peer_id[i] = (uint8_t)alnum[rnd[i - 8] % (sizeof(alnum) - 1)];
    }
    memcpy(&e->rng, rnd + 12, sizeof(e->rng));
    if (e->rng == 0) {
        e->rng = 0x9e3779b97f4a7c15ull;
    }
    e->next_id = 1;
    svc_fill(e, &PRIV(e)->svc);
    *state = e;
    return 0;
}

static int swarm_start(void *state)
{
    oa_engine *e = state;
    engine_priv *pv = PRIV(e);
    uint64_t now = oa_engine_now(e);
    const char *p2p = e->api->host_option(e->self, "p2p_port");
    size_t loaded;
    int port;
    int rc;

    e->stopping = 0;
    e->tp = e->api->service_lookup(e->self, TRANSPORT_NAME, OA_TRANSPORT_VERSION, NULL);
    if (e->tp == NULL) {
        e->api->set_error(e->self, "the service %s v%d is not running; enable the "
                                   "transport-tcp plugin",
                          TRANSPORT_NAME, OA_TRANSPORT_VERSION);
        return OA_EDEPEND;
    }
    rc = mkdir_p(e->cfg.download_dir);
    if (rc != 0) {
        e->api->set_error(e->self, "cannot create the download folder %s: %s",
                          e->cfg.download_dir, strerror(-rc));
        e->tp = NULL;
        return OA_EIO;
    }
    rc = e->tp->listen(e->tp->instance, NULL, on_accept, e, &e->listener);
    if (rc != 0) {
        e->listener = NULL;
        e->tp = NULL;
        e->api->set_error(e->self,
                          "cannot listen for peers on port %s: %s (is the port in use by "
                          "another program? the transport-tcp log says more)",
                          p2p != NULL ? p2p : "(the transport's setting)", oa_strerror(rc));
        return rc;
    }
    port = e->tp->listen_port(e->listener);
    e->cfg.port = port > 0 && port <= 65535 ? (uint16_t)port : 0;
    rc = oa_curl_uv_new(e->api->loop(e->self), &e->http);
    if (rc != 0) {
        e->http = NULL;
        engine_shutdown(e);
        e->api->set_error(e->self, "cannot start the HTTP client for trackers: %s",
                          oa_strerror(rc));
        return rc;
    }
    oa_rate_limit_init(&e->up_limit, e->cfg.upload_rate, 0, now);
    oa_rate_limit_init(&e->down_limit, e->cfg.download_rate, 0, now);
    rc = e->api->timer_start(e->self, 1000, 1000, on_tick, e, &e->tick);
    if (rc != 0) {
        e->tick = NULL;
        engine_shutdown(e);
        e->api->set_error(e->self, "cannot start the swarm's timer: %s", oa_strerror(rc));
        return rc;
    }
    rc = e->api->service_register(e->self, OA_SWARM_SERVICE, OA_SWARM_VERSION, &pv->svc);
    if (rc != 0) {
        engine_shutdown(e);
        e->api->set_error(e->self, "cannot register the service %s: %s", OA_SWARM_SERVICE,
                          oa_strerror(rc));
        return rc;
    }
    pv->svc_registered = 1;
    OA_LOG(e, OA_LOG_INFO, "listening for peers on port %u; content goes to %s",
           (unsigned)e->cfg.port, e->cfg.download_dir);
    loaded = oa_catalog_load(e);
    if (loaded > 0) {
        OA_LOG(e, OA_LOG_INFO, "resumed %zu content(s) from the catalog", loaded);
    }
    return 0;
}

static void swarm_stop(void *state)
{
    engine_shutdown(state);
}

static void swarm_destroy(void *state)
{
    oa_engine *e = state;
    engine_priv *pv = PRIV(e);
    if (e->torrents != NULL) {
        /* The host waited for every worker job, so this is a bug elsewhere;
         * leaking is safer than freeing what a job may still name. */
        OA_LOG(e, OA_LOG_ERROR, "content still allocated at destroy; leaking it");
    }
    if (pv->http_closing) {
        pv->destroyed = 1; /* on_http_closed frees the engine */
        return;
    }
    engine_free(e);
}

/* ---- descriptor ----------------------------------------------------------------- */

static const oa_config_def swarm_config[] = {
    {.key = "download_dir", .type = OA_CFG_STRING, .default_value = "", .max = 1000,
     .help = "Folder where content is stored; empty means <plugin data dir>/downloads, a "
             "relative path is below the plugin data dir."},
    {.key = "max_torrents", .type = OA_CFG_INT, .default_value = "200", .min = 1, .max = 10000,
     .help = "Most contents (torrents) kept at once; adding more fails until one is removed."},
    {.key = "max_peers", .type = OA_CFG_INT, .default_value = "50", .min = 1, .max = 1000,
     .help = "Most connected peers per content."},
    {.key = "max_connections", .type = OA_CFG_INT, .default_value = "400", .min = 1,
     .max = 10000, .help = "Most peer connections over all contents, inbound and outbound."},
    {.key = "upload_slots", .type = OA_CFG_INT, .default_value = "4", .min = 0, .max = 100,
     .flags = OA_CFG_LIVE,
     .help = "Peers unchoked (uploaded to) at once per content, besides the optimistic slot."},
    {.key = "upload_rate_kib", .type = OA_CFG_INT, .default_value = "0", .min = 0,
     .max = 10000000, .flags = OA_CFG_LIVE,
     .help = "Upload limit over all contents in KiB/s; 0 means unlimited."},
    {.key = "download_rate_kib", .type = OA_CFG_INT, .default_value = "0", .min = 0,
     .max = 10000000, .flags = OA_CFG_LIVE,
     .help = "Download limit over all contents in KiB/s; 0 means unlimited."},
    {.key = "max_requests", .type = OA_CFG_INT, .default_value = "500", .min = 1, .max = 4096,
     .help = "Most block requests outstanding to one peer."},
    {.key = "hash_fail_strikes", .type = OA_CFG_INT, .default_value = "2", .min = 1, .max = 100,
     .flags = OA_CFG_LIVE,
     .help = "Pieces from one peer that fail their hash check before it is banned."},
    {.key = "ban_minutes", .type = OA_CFG_INT, .default_value = "30", .min = 0, .max = 10080,
     .flags = OA_CFG_LIVE,
     .help = "How long a misbehaving peer's address stays banned, in minutes; 0 turns bans "
             "off."},
    {.key = "pex", .type = OA_CFG_BOOL, .default_value = "true",
     .help = "Exchange peer addresses with peers (BEP 11); never for private torrents."},
    {.key = "seed", .type = OA_CFG_BOOL, .default_value = "true",
     .help = "Keep uploading content to others after it is complete."},
    {.key = "cache_limit_mb", .type = OA_CFG_INT, .default_value = "0", .min = 0,
     .max = 100000000,
     .help = "Most MiB of content kept on disk; the least recently played content is "
             "removed first. 0 means unlimited."},
    {.key = "read_cache_mb", .type = OA_CFG_INT, .default_value = "16", .min = 1, .max = 1024,
     .help = "MiB of verified pieces kept in memory for serving reads and peers."},
    {.key = "stream_window_mb", .type = OA_CFG_INT, .default_value = "8", .min = 1, .max = 256,
     .help = "MiB ahead of a playhead fetched first, in order, while streaming."},
    {.key = "trackers", .type = OA_CFG_STRING, .default_value = "", .max = 1000,
     .flags = OA_CFG_LIVE,
     .help = "Extra tracker URLs (http or https, space separated) announced to for content "
             "added from now on."},
    {.key = "bootstrap_peers", .type = OA_CFG_STRING, .default_value = "", .max = 1000,
     .flags = OA_CFG_LIVE,
     .help = "Peer addresses (ip:port or [ipv6]:port, space separated) tried for every "
             "content."},
    {.key = "live_join_behind", .type = OA_CFG_INT, .default_value = "3", .min = 0, .max = 100,
     .flags = OA_CFG_LIVE,
     .help = "Live streams: how many chunks behind the live edge a newly joined viewer "
             "starts (more is smoother, less is closer to live)."},
    {.key = "live_source_fanout", .type = OA_CFG_INT, .default_value = "1", .min = 1, .max = 50,
     .flags = OA_CFG_LIVE,
     .help = "Live streams: how many peers a broadcasting source announces each new chunk "
             "to; the others get it from those peers, which keeps the source's upload low."},
    {.key = "live_max_mb", .type = OA_CFG_INT, .default_value = "64", .min = 4, .max = 4096,
     .flags = OA_CFG_LIVE,
     .help = "Live streams: MiB of chunk data one stream keeps at most; past it the bytes of "
             "the oldest chunks are freed (a long window of large chunks cannot fill memory)."},
    {.key = NULL},
};

static const char *const swarm_requires[] = {"transport", NULL};

static const char *const swarm_provides[] = {"swarm", NULL};

static const oa_plugin_desc swarm_desc = {
    OA_PLUGIN_HEADER,
    .name = "swarm",
    .version = "0.1.0",
    .kind = OA_KIND_ENGINE,
    .summary = "BitTorrent engine: downloads, streams and seeds content by magnet, info-hash "
               "or .torrent, as the swarm service.",
    .license = "MIT",
    .requires = swarm_requires,
    .provides = swarm_provides,
    .config = swarm_config,
    .init = swarm_init,
    .start = swarm_start,
    .stop = swarm_stop,
    .destroy = swarm_destroy,
    .health = swarm_health,
    .command = oa_engine_command,
    .configure = swarm_configure,
};

OA_PLUGIN_ENTRY(swarm_desc)

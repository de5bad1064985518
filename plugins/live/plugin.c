/*
 * live: live broadcasting (issue 7, docs/live.md).
 *
 * This file: the plugin's lifecycle, settings and commands, small helpers
 * shared by the other files, and the wiring of the chat (chat.c). The
 * streams open here and the `live` service of media.h that the streamer
 * plays them through are stream.c's; broadcasts are broadcast.c's.
 * live_int.h is the contract between them.
 */
#include "live_int.h"

#include <stdarg.h>
#include <stdlib.h>

/* ---- small helpers ----------------------------------------------------------- */

void lv_publish(lv_plugin *p, const char *topic, json_t *obj)
{
    char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (text != NULL) {
        p->api->publish(p->self, topic, text);
        free(text);
    }
}

int lv_reply(lv_plugin *p, json_t *obj, char **out)
{
    char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (text == NULL) {
        return OA_ENOMEM;
    }
    *out = p->api->str_dup(text);
    free(text);
    return *out != NULL ? 0 : OA_ENOMEM;
}

int lv_fail(lv_plugin *p, int rc, char **out, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->api->set_error(p->self, "%s", msg);
    if (out != NULL) {
        *out = p->api->str_dup(msg);
    }
    return rc;
}

/* ---- chat wiring ------------------------------------------------------------------ */

static int chat_send(void *arg, const uint8_t id[20], const uint8_t *msg, size_t len)
{
    lv_plugin *p = arg;
    lv_stream *s = lv_stream_find(p, id);
    if (s == NULL || s->h == NULL || p->swarm == NULL) {
        return OA_ENOENT;
    }
    return p->swarm->live_chat(s->h, msg, len);
}

static const uint8_t *chat_seed(void *arg, const uint8_t id[20])
{
    return lv_bc_seed_for(arg, id);
}

/* The engine's chat key: made once, kept in the kv store. */
static int load_chat_key(lv_plugin *p)
{
    char *v = NULL;
    size_t len = 0;
    uint8_t pub[OA_LC_KEY_LEN];
    int rc = p->api->kv_get(p->self, "chatkey", &v, &len);
    if (rc == 0 && len == OA_LC_KEY_LEN) {
        memcpy(p->chat_seed, v, OA_LC_KEY_LEN);
        p->api->free(v);
        return 0;
    }
    if (rc == 0) {
        p->api->free(v);
    }
    rc = oa_lc_keygen(p->chat_seed, pub);
    if (rc == 0) {
        rc = p->api->kv_set(p->self, "chatkey", p->chat_seed, OA_LC_KEY_LEN);
    }
    return rc;
}

/* ---- commands ---------------------------------------------------------------------- */

static json_t *stream_json(lv_stream *s)
{
    oa_swarm_live_stats ss;
    const lv_hdr *a = lv_stream_hdr(s, 0);
    const lv_hdr *b = lv_stream_hdr(s, 1);
    lv_stream_swarm_stats(s, &ss);
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
                     "content_id", s->hex, "role", s->bc != NULL ? "source" : "viewer",
                     "peers", (json_int_t)ss.peers, "first",
                     (json_int_t)(a != NULL ? a->seq : 0), "last",
                     (json_int_t)(b != NULL ? b->seq : 0), "downloaded",
                     (json_int_t)(s->bc != NULL ? s->bytes_in : ss.downloaded), "uploaded",
                     (json_int_t)ss.uploaded, "rejected", (json_int_t)ss.rejected,
                     "latency_median_ms", (json_int_t)ss.latency_median_ms, "latency_p95_ms",
                     (json_int_t)ss.latency_p95_ms, "players", (json_int_t)s->nsubs, "error",
                     s->failed ? s->error : ss.error);
}

static int cmd_list(lv_plugin *p, char **out)
{
    json_t *streams = json_array();
    for (lv_stream *s = p->streams; s != NULL; s = s->next) {
        if (!s->closing) {
            json_array_append_new(streams, stream_json(s));
        }
    }
    return lv_reply(p, json_pack("{s:o, s:o}", "broadcasts", lv_bc_list_json(p), "streams",
                                 streams),
                    out);
}

/* The stream named by {"content_id"} of a command, or NULL after an
 * error reply. */
static lv_stream *cmd_stream(lv_plugin *p, const char *json_args, char **out, int *rc)
{
    json_t *o = json_loads(json_args, 0, NULL);
    const char *hex = json_string_value(json_object_get(o, "content_id"));
    uint8_t id[OA_LC_ID_LEN];
    lv_stream *s = NULL;
    if (hex == NULL || oa_lc_unhex40(hex, id) != 0) {
        *rc = lv_fail(p, OA_EINVAL, out, "give {\"content_id\": \"<40 hex digits>\"}");
    } else {
        s = lv_stream_find(p, id);
        if (s == NULL) {
            *rc = lv_fail(p, OA_ENOENT, out, "no live stream %s is open on this engine (see "
                                             "the list command)", hex);
        }
    }
    json_decref(o);
    return s;
}

static int cmd_chunks(lv_plugin *p, const char *json_args, char **out)
{
    int rc = 0;
    lv_stream *s = cmd_stream(p, json_args, out, &rc);
    json_t *list;
    const lv_hdr *a;
    const lv_hdr *b;
    uint64_t n;
    if (s == NULL) {
        return rc;
    }
    list = json_array();
    n = s->hcap == 0 ? 0 : (s->hcount < s->hcap ? s->hcount : s->hcap);
    for (uint64_t i = s->hcount - n; i < s->hcount; i++) {
        const lv_hdr *h = &s->hdrs[i % s->hcap];
        char hash[OA_LC_HASH_LEN * 2 + 1];
        lv_hex_encode(h->hash, OA_LC_HASH_LEN, hash);
        json_array_append_new(list, json_pack("{s:I, s:I, s:s, s:I}", "seq", (json_int_t)h->seq,
                                              "size", (json_int_t)h->size, "sha256", hash,
                                              "ts_ms", (json_int_t)h->ts_ms));
    }
    a = lv_stream_hdr(s, 0);
    b = lv_stream_hdr(s, 1);
    return lv_reply(p, json_pack("{s:I, s:I, s:o}", "first", (json_int_t)(a ? a->seq : 0),
                                 "last", (json_int_t)(b ? b->seq : 0), "chunks", list),
                    out);
}

static int cmd_stats(lv_plugin *p, const char *json_args, char **out)
{
    int rc = 0;
    lv_stream *s = cmd_stream(p, json_args, out, &rc);
    oa_swarm_live_stats ss;
    json_t *o;
    if (s == NULL) {
        return rc;
    }
    lv_stream_swarm_stats(s, &ss);
    o = json_pack("{s:s, s:s, s:b, s:I, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                  "content_id", s->hex, "role", s->bc != NULL ? "source" : "viewer",
                  "have_descriptor", ss.have_descriptor, "first", (json_int_t)ss.first, "last",
                  (json_int_t)ss.last, "has_edge", ss.has_edge, "peers", (json_int_t)ss.peers,
                  "downloaded", (json_int_t)ss.downloaded, "uploaded", (json_int_t)ss.uploaded,
                  "download_rate", (json_int_t)ss.download_rate, "upload_rate",
                  (json_int_t)ss.upload_rate, "chunks_in", (json_int_t)ss.chunks_in,
                  "rejected", (json_int_t)ss.rejected);
    if (o != NULL) {
        json_object_set_new(o, "latency_median_ms", json_integer(ss.latency_median_ms));
        json_object_set_new(o, "latency_p95_ms", json_integer(ss.latency_p95_ms));
        json_object_set_new(o, "latency_samples", json_integer(ss.latency_samples));
        json_object_set_new(o, "error", json_string(ss.error));
        json_object_set_new(o, "players", json_integer((json_int_t)s->nsubs));
        json_object_set_new(o, "chunks_here", json_integer((json_int_t)s->chunks_in));
    }
    return lv_reply(p, o, out);
}

/* The plugin's commands (docs/live.md): start, stop, list (broadcast.c and
 * above), chunks, stats (above), and chat, chat_history, chat_mute (chat.c,
 * docs/live-chat.md). An unknown name is OA_ENOTFOUND. */
static int live_command(void *state, const char *name, const char *json_args, char **out)
{
    lv_plugin *p = state;
    if (!p->running) {
        return lv_fail(p, OA_ESTATE, out, "the live plugin is not running");
    }
    if (strcmp(name, "start") == 0) {
        return lv_bc_cmd_start(p, json_args, out);
    }
    if (strcmp(name, "stop") == 0) {
        return lv_bc_cmd_stop(p, json_args, out);
    }
    if (strcmp(name, "list") == 0) {
        return cmd_list(p, out);
    }
    if (strcmp(name, "chunks") == 0) {
        return cmd_chunks(p, json_args, out);
    }
    if (strcmp(name, "stats") == 0) {
        return cmd_stats(p, json_args, out);
    }
    if (strcmp(name, "chat") == 0 || strcmp(name, "chat_history") == 0 ||
        strcmp(name, "chat_mute") == 0) {
        if (p->chat == NULL) {
            return lv_fail(p, OA_ENOSYS, out, "the chat is not available (see the log)");
        }
        return lv_chat_command(p->chat, name, json_args, out);
    }
    return OA_ENOTFOUND;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void load_settings(lv_plugin *p)
{
    lv_settings *c = &p->cfg;
    char *url = NULL;
    p->api->config_get_double(p->self, "default_chunk_seconds", &c->default_chunk_seconds);
    p->api->config_get_int(p->self, "default_window", &c->default_window);
    p->api->config_get_int(p->self, "stall_seconds", &c->stall_seconds);
    p->api->config_get_int(p->self, "retry_max_seconds", &c->retry_max_seconds);
    p->api->config_get(p->self, "listen_url", &url);
    lv_base_url(url, p->api->host_option(p->self, "http_listen"), c->listen_url,
                sizeof(c->listen_url));
    p->api->free(url);
}

static void on_tick(void *arg, oa_timer *t)
{
    lv_plugin *p = arg;
    (void)t;
    lv_bc_tick(p, p->api->now_ms(p->self));
    lv_stream_tick(p);
}

static int live_init(oa_plugin *self, const oa_host_api *api, void **state)
{
    lv_plugin *p;
    if (!OA_API_HAS(api, http_stream_end)) {
        api->set_error(self, "the host is too old: the live plugin needs HTTP routes (SDK 1.1)");
        return OA_EVERSION;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        api->set_error(self, "out of memory");
        return OA_ENOMEM;
    }
    p->self = self;
    p->api = api;
    *state = p;
    return 0;
}

static int live_start(void *state)
{
    lv_plugin *p = state;
    lv_chat_host ch;
    int rc;
    load_settings(p);
    p->seg = p->api->service_lookup(p->self, OA_SEGMENTER_SERVICE, OA_SEGMENTER_VERSION, NULL);
    if (p->seg == NULL ||
        p->seg->size < offsetof(oa_segmenter, close) + sizeof(p->seg->close)) {
        p->api->set_error(p->self, "the segmenter service is not running; enable the "
                                   "segmenter plugin");
        return OA_EDEPEND;
    }
    p->swarm = p->api->service_lookup(p->self, OA_SWARM_SERVICE, OA_SWARM_VERSION, NULL);
    if (p->swarm == NULL) {
        p->api->set_error(p->self, "the swarm service is not running; enable the swarm plugin");
        return OA_EDEPEND;
    }
    p->swarm_why[0] = '\0';
    if (!OA_SWARM_HAS(p->swarm, live_stats)) {
        snprintf(p->swarm_why, sizeof(p->swarm_why),
                 "the running swarm plugin has no live streams (it is older than the live "
                 "plugin): update the swarm plugin");
        p->api->log(p->self, OA_LOG_WARN, "%s; broadcasts and viewing are unavailable",
                    p->swarm_why);
        p->swarm = NULL;
    }
    rc = load_chat_key(p);
    if (rc != 0) {
        p->api->set_error(p->self, "cannot make or store this engine's chat key: %s",
                          oa_strerror(rc));
        return rc;
    }
    lv_stream_service_init(p);
    rc = p->api->http_route(p->self, "GET", "/live", OA_HTTP_PUBLIC | OA_HTTP_PREFIX,
                            lv_stream_http_acelive, p);
    if (rc != 0) {
        p->api->set_error(p->self, "cannot serve /live/<content_id>.acelive: %s",
                          oa_strerror(rc));
        return rc;
    }
    memset(&ch, 0, sizeof(ch));
    ch.self = p->self;
    ch.api = p->api;
    ch.node_seed = p->chat_seed;
    ch.arg = p;
    ch.send = chat_send;
    ch.broadcaster_seed = chat_seed;
    p->chat = lv_chat_new(&ch);
    if (p->chat == NULL) {
        p->api->log(p->self, OA_LOG_WARN, "the chat is unavailable (see above)");
    }
    p->running = 1;
    rc = p->api->service_register(p->self, OA_LIVE_SERVICE, OA_LIVE_VERSION, &p->service);
    if (rc == 0) {
        rc = p->api->timer_start(p->self, 1000, 1000, on_tick, p, &p->tick);
    }
    if (rc != 0) {
        p->running = 0;
        if (p->chat != NULL) {
            lv_chat_free(p->chat);
            p->chat = NULL;
        }
        p->api->set_error(p->self, "cannot register the live service: %s", oa_strerror(rc));
        return rc;
    }
    lv_bc_load_all(p);
    return 0;
}

static void live_stop(void *state)
{
    lv_plugin *p = state;
    lv_bc_stop_all(p);
    p->running = 0;
    lv_stream_cancel_all(p);
    if (p->chat != NULL) {
        lv_chat_free(p->chat);
        p->chat = NULL;
    }
    if (p->tick != NULL) {
        p->api->timer_stop(p->tick);
        p->tick = NULL;
    }
}

static void live_destroy(void *state)
{
    lv_plugin *p = state;
    lv_bc_free_all(p);
    memset(p->chat_seed, 0, sizeof(p->chat_seed));
    free(p);
}

static int live_configure(void *state, const char *key, const char *value)
{
    lv_plugin *p = state;
    (void)key;
    (void)value;
    load_settings(p);
    return 0;
}

static int live_health(void *state, char **detail)
{
    lv_plugin *p = state;
    char buf[256];
    size_t nstreams = 0;
    for (lv_stream *s = p->streams; s != NULL; s = s->next) {
        nstreams += s->closing ? 0 : 1;
    }
    snprintf(buf, sizeof(buf), "{\"streams\":%zu,\"swarm_live\":%s,\"chat\":%s}", nstreams,
             p->swarm != NULL ? "true" : "false", p->chat != NULL ? "true" : "false");
    *detail = p->api->str_dup(buf);
    return p->swarm != NULL ? OA_HEALTH_OK : OA_HEALTH_BAD;
}

/* ---- descriptor ---------------------------------------------------------------------- */

static const oa_config_def live_config[] = {
    {"default_chunk_seconds", OA_CFG_DOUBLE, "1", 0.2, 10, NULL,
     "Chunk duration of a broadcast started without chunk_seconds.", OA_CFG_LIVE},
    {"default_window", OA_CFG_INT, "60", 4, 10000, NULL,
     "Chunks peers keep of a broadcast started without window.", OA_CFG_LIVE},
    {"stall_seconds", OA_CFG_INT, "10", 1, 3600, NULL,
     "A broadcast's source that gives no chunk this long is reconnected.", OA_CFG_LIVE},
    {"retry_max_seconds", OA_CFG_INT, "30", 1, 3600, NULL,
     "Longest wait between two attempts to reopen a failed source (1, 2, 4 ... s).",
     OA_CFG_LIVE},
    {"listen_url", OA_CFG_STRING, "", 0, 200, NULL,
     "Base of the URLs in answers (e.g. http://box.lan:6878); empty: the host's HTTP "
     "listen address.",
     OA_CFG_LIVE},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const char *const live_requires[] = {"swarm", "segmenter", NULL};
static const char *const live_provides[] = {"live", NULL};

static const oa_plugin_desc live_desc = {
    OA_PLUGIN_HEADER,
    .name = "live",
    .version = "0.1.0",
    .kind = OA_KIND_ENGINE,
    .summary = "Live broadcasting: signed live streams from any FFmpeg source, relayed by "
               "every viewer, with chat.",
    .license = "MIT",
    .requires = live_requires,
    .provides = live_provides,
    .config = live_config,
    .init = live_init,
    .start = live_start,
    .stop = live_stop,
    .destroy = live_destroy,
    .health = live_health,
    .command = live_command,
    .configure = live_configure,
};

OA_PLUGIN_ENTRY(live_desc)

/*
 * streamer: the plugin. Playback over HTTP with the API Ace Stream clients
 * speak (docs/http-api.md): settings, lifecycle, the 1 s tick, the
 * engine probes (/webui/api/service, /server/api) and the sessions command.
 * session.c serves the playback routes.
 */
#include "streamer.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const oa_config_def streamer_config[] = {
    {"idle_timeout", OA_CFG_INT, "30", 1, 86400, NULL,
     "Seconds a playback session may go unread before it stops and frees its resources.",
     OA_CFG_LIVE},
    {"start_timeout", OA_CFG_INT, "60", 1, 3600, NULL,
     "Seconds a playback request waits for the content's metadata, a url= fetch or the first "
     "HLS segment before it gets an error.",
     OA_CFG_LIVE},
    {"client_queue_kb", OA_CFG_INT, "1024", 64, 65536, NULL,
     "Bytes (KiB) queued for one player before the engine waits for it.", OA_CFG_LIVE},
    {"cache_mb", OA_CFG_INT, "32", 1, 4096, NULL,
     "Verified bytes (MiB) of one content kept in memory and shared by all its players.",
     OA_CFG_LIVE},
    {"readahead_mb", OA_CFG_INT, "8", 1, 1024, NULL,
     "MiB read ahead of each player's position.", OA_CFG_LIVE},
    {"slow_client", OA_CFG_STRING, "drop", 0, 0, "wait|drop",
     "Live streams: a player that cannot keep up waits (wait) or skips to the live edge "
     "(drop).",
     OA_CFG_LIVE},
    {"hls_segment_seconds", OA_CFG_DOUBLE, "2", 0.5, 30, NULL,
     "Target length of an HLS segment; cuts fall on the first keyframe after it.", 0},
    {"hls_ahead", OA_CFG_INT, "10", 1, 1000, NULL,
     "HLS segments cut ahead of the newest one a player asked for.", OA_CFG_LIVE},
    {"hls_memory_mb", OA_CFG_INT, "64", 4, 4096, NULL,
     "MiB of HLS segments kept per content; older fetched ones are dropped past it.",
     OA_CFG_LIVE},
    {"stall_seconds", OA_CFG_INT, "5", 1, 3600, NULL,
     "Seconds players may wait for data before the stream counts as stalled.", OA_CFG_LIVE},
    {"live_buffer_chunks", OA_CFG_INT, "30", 4, 10000, NULL,
     "Chunks of a live stream kept in memory for its players (and its HLS window).", 0},
    {"allow_file_urls", OA_CFG_BOOL, "false", 0, 0, NULL,
     "Accept url=file:///... (transport files on this machine's disk).", OA_CFG_LIVE},
    {"compat_version", OA_CFG_STRING, "3.2.11", 0, 31, NULL,
     "The Ace Stream engine version reported to clients that check it.", OA_CFG_LIVE},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static int64_t cfg_int(st_plugin *p, const char *key)
{
    int64_t v = 0;
    p->api->config_get_int(p->self, key, &v);
    return v;
}

static void load_settings(st_plugin *p)
{
    st_settings *c = &p->cfg;
    char *s = NULL;
    int b = 0;
    c->idle_timeout_s = cfg_int(p, "idle_timeout");
    c->start_timeout_s = cfg_int(p, "start_timeout");
    c->client_queue_kb = cfg_int(p, "client_queue_kb");
    c->cache_mb = cfg_int(p, "cache_mb");
    c->readahead_mb = cfg_int(p, "readahead_mb");
    c->hls_ahead = cfg_int(p, "hls_ahead");
    c->hls_memory_mb = cfg_int(p, "hls_memory_mb");
    c->stall_seconds = cfg_int(p, "stall_seconds");
    c->live_buffer_chunks = cfg_int(p, "live_buffer_chunks");
    p->api->config_get_double(p->self, "hls_segment_seconds", &c->hls_segment_seconds);
    p->api->config_get_bool(p->self, "allow_file_urls", &b);
    c->allow_file_urls = b;
    if (p->api->config_get(p->self, "slow_client", &s) == 0) {
        c->slow_client_drop = strcmp(s, "drop") == 0;
        p->api->free(s);
    }
    s = NULL;
    if (p->api->config_get(p->self, "compat_version", &s) == 0) {
        snprintf(c->compat_version, sizeof(c->compat_version), "%s", s);
        p->api->free(s);
    }
}

/* ---- probes -------------------------------------------------------------- */

/* {"code", "platform", "version", "engine", "engine_version"}: the version
 * Ace Stream clients check, and ours beside it. */
static json_t *version_object(st_plugin *p)
{
    unsigned a = 0;
    unsigned b = 0;
    unsigned c = 0;
    sscanf(p->cfg.compat_version, "%u.%u.%u", &a, &b, &c);
    return json_pack("{s:I, s:s, s:s, s:s, s:s}", "code",
                     (json_int_t)a * 1000000 + (json_int_t)b * 10000 + (json_int_t)c * 100,
                     "platform", "linux", "version", p->cfg.compat_version, "engine", "openace",
                     "engine_version", p->api->host_version);
}

static void reply_result(st_plugin *p, oa_http_req *req, json_t *result, const char *error)
{
    char *r = result != NULL ? json_dumps(result, JSON_COMPACT) : NULL;
    char *text = NULL;
    json_decref(result);
    if (r != NULL) {
        text = st_json_result(r);
        free(r);
    } else {
        json_t *o = json_pack("{s:n, s:s}", "result", "error", error != NULL ? error : "?");
        text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
    }
    if (text == NULL) {
        p->api->http_reply(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    p->api->http_reply(req, 200, "application/json", text, strlen(text));
    free(text);
}

static int h_service(void *arg, oa_http_req *req)
{
    st_plugin *p = arg;
    const char *method = p->api->http_query(req, "method");
    if (method != NULL && strcmp(method, "get_version") == 0) {
        reply_result(p, req, version_object(p), NULL);
    } else {
        reply_result(p, req, NULL, "unknown method: the supported one is get_version");
    }
    return 0;
}

static int h_server(void *arg, oa_http_req *req)
{
    st_plugin *p = arg;
    const char *method = p->api->http_query(req, "method");
    if (method == NULL) {
        reply_result(p, req, NULL, "missing method");
    } else if (strcmp(method, "get_status") == 0) {
        reply_result(p, req,
                     json_pack("{s:o, s:b, s:I}", "version", version_object(p),
                               "playlist_loaded", 0, "sessions", (json_int_t)p->nsessions),
                     NULL);
    } else if (strcmp(method, "get_network_connection_status") == 0) {
        reply_result(p, req, json_pack("{s:b}", "connected", 1), NULL);
    } else if (strcmp(method, "get_content_id") == 0) {
        /* The playback parser: hex in any case or base32, clear errors. */
        st_request *rq = malloc(sizeof(*rq));
        char err[200];
        char id[41];
        int rc = rq != NULL ? st_request_of(p, req, rq, err, sizeof(err)) : OA_ENOMEM;
        if (rc == 0 && rq->kind != ST_SRC_INFOHASH) {
            snprintf(err, sizeof(err), "get_content_id needs infohash=");
            rc = OA_EINVAL;
        }
        if (rc != 0) {
            reply_result(p, req, NULL, rq != NULL ? err : "out of memory");
        } else if (st_catalog_id_for(p, rq->id, id) != 0) {
            reply_result(p, req, NULL,
                         "unknown infohash: its content has not been played on this engine");
        } else {
            reply_result(p, req, json_pack("{s:s}", "content_id", id), NULL);
        }
        free(rq);
    } else {
        reply_result(p, req, NULL,
                     "unknown method: supported are get_status, "
                     "get_network_connection_status and get_content_id");
    }
    return 0;
}

/* ---- the tick ------------------------------------------------------------ */

static void on_tick(void *arg, oa_timer *t)
{
    st_plugin *p = arg;
    uint64_t now = p->api->now_ms(p->self);
    (void)t;
    for (st_content *c = p->contents; c != NULL; c = c->next) {
        st_content_tick(c, now);
        st_hls_tick(c, now);
    }
    st_sessions_tick(p, now);
}

/* ---- commands ------------------------------------------------------------ */

static int streamer_command(void *state, const char *name, const char *json_args, char **out)
{
    st_plugin *p = state;
    json_t *list;
    char *text;
    (void)json_args;
    if (strcmp(name, "sessions") != 0) {
        return OA_ENOTFOUND;
    }
    list = json_array();
    for (st_session *s = p->sessions; s != NULL; s = s->next) {
        char *stat = st_session_stat_json(s);
        json_t *o = stat != NULL ? json_loads(stat, 0, NULL) : NULL;
        free(stat);
        if (o != NULL) {
            json_object_set_new(o, "pid", json_string(s->pid));
            json_object_set_new(o, "bytes_out", json_integer((json_int_t)s->bytes_out));
            json_array_append_new(list, o);
        }
    }
    {
        json_t *o = json_pack("{s:o}", "sessions", list);
        text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
    }
    if (text == NULL) {
        return OA_ENOMEM;
    }
    *out = p->api->str_dup(text);
    free(text);
    return *out != NULL ? 0 : OA_ENOMEM;
}

/* ---- lifecycle ----------------------------------------------------------- */

static int streamer_init(oa_plugin *self, const oa_host_api *api, void **state)
{
    st_plugin *p;
    if (!OA_API_HAS(api, http_stream_end)) {
        api->set_error(self, "the host is too old: the streamer needs HTTP streams (SDK 1.1)");
        return OA_EVERSION;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return OA_ENOMEM;
    }
    p->self = self;
    p->api = api;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(p);
        api->set_error(self, "cannot initialise libcurl");
        return OA_EFAIL;
    }
    *state = p;
    return 0;
}

static int streamer_start(void *state)
{
    st_plugin *p = state;
    int rc;
    load_settings(p);
    p->stopping = 0;
    p->swarm = p->api->service_lookup(p->self, OA_SWARM_SERVICE, 1, NULL);
    if (p->swarm == NULL) {
        p->api->set_error(p->self, "the swarm service is not running");
        return OA_EDEPEND;
    }
    p->seg = p->api->service_lookup(p->self, OA_SEGMENTER_SERVICE, 1, NULL);
    if (p->seg == NULL) {
        p->api->log(p->self, OA_LOG_WARN,
                    "no segmenter service: HLS (/ace/manifest.m3u8) is unavailable");
    }
    rc = st_session_routes(p);
    if (rc != 0) {
        return rc;
    }
    rc = p->api->http_route(p->self, "GET", "/webui/api/service", OA_HTTP_PUBLIC, h_service,
                            p);
    if (rc == 0) {
        rc = p->api->http_route(p->self, "GET", "/server/api", OA_HTTP_PUBLIC, h_server, p);
    }
    if (rc != 0) {
        p->api->set_error(p->self, "cannot serve the engine probes: %s", oa_strerror(rc));
        return rc;
    }
    return p->api->timer_start(p->self, 1000, 1000, on_tick, p, &p->tick);
}

static void streamer_stop(void *state)
{
    st_plugin *p = state;
    /* The host ends our streams and answers our kept requests after this. */
    p->stopping = 1;
    st_sessions_stop(p);
    st_vod_free_orphans(p);
    st_live_free_orphans(p);
    p->tick = NULL;
}

static void streamer_destroy(void *state)
{
    st_plugin *p = state;
    st_vod_free_orphans(p);
    st_live_free_orphans(p);
    curl_global_cleanup();
    free(p);
}

static int streamer_configure(void *state, const char *key, const char *value)
{
    st_plugin *p = state;
    (void)key;
    (void)value;
    load_settings(p);
    return 0;
}

static int streamer_health(void *state, char **detail)
{
    st_plugin *p = state;
    char buf[128];
    snprintf(buf, sizeof(buf), "{\"sessions\":%zu,\"hls\":%s}", p->nsessions,
             p->seg != NULL ? "true" : "false");
    *detail = p->api->str_dup(buf);
    return p->seg != NULL ? OA_HEALTH_OK : OA_HEALTH_DEGRADED;
}

static const char *const streamer_requires[] = {"swarm", "segmenter", NULL};

static const oa_plugin_desc streamer_desc = {
    OA_PLUGIN_HEADER,
    .name = "streamer",
    .version = "0.1.0",
    .kind = OA_KIND_ENGINE,
    .summary = "Playback over HTTP with the Ace Stream API: /ace/getstream (progressive, "
               "Range), /ace/manifest.m3u8 (HLS), any number of players per stream.",
    .license = "MIT",
    .requires = streamer_requires,
    .provides = NULL,
    .config = streamer_config,
    .init = streamer_init,
    .start = streamer_start,
    .stop = streamer_stop,
    .destroy = streamer_destroy,
    .health = streamer_health,
    .command = streamer_command,
    .configure = streamer_configure,
};

OA_PLUGIN_ENTRY(streamer_desc)

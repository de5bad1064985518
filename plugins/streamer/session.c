/*
 * streamer: playback sessions and the Ace Stream playback routes.
 *
 * /ace/getstream and /ace/manifest.m3u8 name content (content_id, infohash,
 * url, magnet), find or open it, and find (same pid) or create a playback
 * session on it. With format=json they answer the session's URLs at once;
 * otherwise they wait (the request is kept, up to start_timeout) until the
 * content's metadata is known and answer like the session URLs would:
 * /ace/r/<infohash>/<session> (progressive bytes, vod.c) and
 * /ace/m/<infohash>/<session>.m3u8 (HLS, hls.c). /ace/stat and /ace/cmd
 * report on and stop a session. A session that nobody reads for
 * idle_timeout stops by itself.
 */
#include "streamer.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A playback request waiting for a url= fetch or for the content's
 * metadata. */
struct st_start {
    st_start *next;
    st_plugin *p;
    oa_http_req *req;
    st_request rq;
    int hls;
    st_fetch *fetch;
    st_session *s;           /* once the content is open */
    st_wait w;
    uint64_t deadline_ms;
    char base[160];          /* "http://host:port" for the JSON URLs */
};

/* ---- small helpers ------------------------------------------------------- */

void st_reply_text(st_plugin *p, oa_http_req *req, int status, const char *msg)
{
    char buf[600];
    int n = snprintf(buf, sizeof(buf), "%s\n", msg);
    p->api->http_reply(req, status, "text/plain; charset=utf-8", buf,
                       n > 0 && (size_t)n < sizeof(buf) ? (size_t)n : strlen(buf));
}

static void reply_json_text(st_plugin *p, oa_http_req *req, char *text)
{
    if (text == NULL) {
        st_reply_text(p, req, 500, "out of memory");
        return;
    }
    p->api->http_reply(req, 200, "application/json", text, strlen(text));
    free(text);
}

/* An Ace Stream error: the JSON envelope with format=json, else an HTTP
 * status with the sentence. */
static void reply_error(st_plugin *p, oa_http_req *req, int json, int status, const char *msg)
{
    if (json) {
        reply_json_text(p, req, st_json_error(msg));
    } else {
        st_reply_text(p, req, status, msg);
    }
}

static int safe_host(const char *h)
{
    if (h == NULL || h[0] == '\0' || strlen(h) > 120) {
        return 0;
    }
    for (const char *q = h; *q != '\0'; q++) {
        char ch = *q;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == ':' ||
                 ch == '[' || ch == ']' || ch == '_';
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

static void base_url(st_plugin *p, oa_http_req *req, char *out, size_t len)
{
    const char *h = p->api->http_header(req, "Host");
    if (!safe_host(h)) {
        h = p->api->host_option(p->self, "http_listen");
    }
    snprintf(out, len, "http://%s", h != NULL ? h : "127.0.0.1:6878");
}

static const char *query_get(void *ctx, const char *name)
{
    void **a = ctx;
    st_plugin *p = a[0];
    return p->api->http_query((oa_http_req *)a[1], name);
}

int st_request_of(st_plugin *p, oa_http_req *req, st_request *rq, char *err, size_t errlen)
{
    void *qctx[2] = {p, req};
    return st_request_parse(query_get, qctx, rq, err, errlen);
}

/* ---- sessions ------------------------------------------------------------ */

st_session *st_session_find(st_plugin *p, const char *id)
{
    for (st_session *s = p->sessions; s != NULL; s = s->next) {
        if (strcmp(s->id, id) == 0) {
            return s;
        }
    }
    return NULL;
}

void st_session_touch(st_session *s)
{
    if (s->nreaders == 0) {
        s->idle_since_ms = s->p->api->now_ms(s->p->self);
    }
}

void st_session_hls_seen(st_session *s, oa_http_req *req)
{
    st_plugin *p = s->p;
    const char *client;
    char json[256];
    st_session_touch(s);
    if (s->hls_clients) {
        return;
    }
    client = p->api->http_client(req);
    snprintf(s->hls_client, sizeof(s->hls_client), "%s", client != NULL ? client : "?");
    s->hls_clients = 1;
    snprintf(json, sizeof(json), "{\"session\":\"%s\",\"client\":\"%s\",\"kind\":\"hls\"}",
             s->id, s->hls_client);
    p->api->publish(p->self, "streamer.client.joined", json);
}

void st_session_reader_joined(st_session *s, const char *client, const char *fields)
{
    st_plugin *p = s->p;
    char json[320];
    s->nreaders++;
    s->idle_since_ms = 0;
    snprintf(json, sizeof(json), "{\"session\":\"%s\",\"client\":\"%s\",%s}", s->id,
             client, fields);
    p->api->publish(p->self, "streamer.client.joined", json);
}

void st_session_reader_left(st_session *s, const char *client, uint64_t bytes)
{
    st_plugin *p = s->p;
    char json[256];
    s->nreaders--;
    if (s->nreaders == 0) {
        s->idle_since_ms = p->api->now_ms(p->self);
    }
    snprintf(json, sizeof(json), "{\"session\":\"%s\",\"client\":\"%s\",\"bytes\":%llu}",
             s->id, client, (unsigned long long)bytes);
    p->api->publish(p->self, "streamer.client.left", json);
}

static st_session *session_new(st_plugin *p, st_content *c, const char *pid)
{
    st_session *s;
    unsigned char rnd[16];
    char json[512];
    if (pid[0] != '\0') {
        for (s = p->sessions; s != NULL; s = s->next) {
            if (s->c == c && strcmp(s->pid, pid) == 0) {
                st_session_touch(s);
                return s;
            }
        }
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        free(s);
        return NULL;
    }
    st_hex(rnd, sizeof(rnd), s->id);
    s->p = p;
    snprintf(s->pid, sizeof(s->pid), "%s", pid);
    s->c = c;
    st_content_ref(c);
    s->idle_since_ms = p->api->now_ms(p->self);
    s->next = p->sessions;
    p->sessions = s;
    p->nsessions++;
    {
        json_t *o = json_pack("{s:s, s:s, s:s?, s:s?, s:i}", "session", s->id, "infohash",
                              c->infohash, "content_id",
                              c->content_id[0] != '\0' ? c->content_id : NULL, "pid",
                              pid[0] != '\0' ? pid : NULL, "is_live", c->is_live);
        char *t = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        snprintf(json, sizeof(json), "%s", t != NULL ? t : "{}");
        free(t);
        json_decref(o);
    }
    p->api->publish(p->self, "streamer.session.started", json);
    p->api->log(p->self, OA_LOG_INFO, "session %s started on %s%s%s", s->id, c->infohash,
                pid[0] != '\0' ? " pid " : "", pid);
    return s;
}

static void start_free(st_start *st);
static void start_unlink(st_start *st);

void st_session_end(st_session *s, const char *reason)
{
    st_plugin *p = s->p;
    char json[160];
    for (st_session **pp = &p->sessions; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    p->nsessions--;
    /* Requests still waiting on this session are answered. */
    for (st_start *st = p->starts; st != NULL;) {
        st_start *next = st->next;
        if (st->s == s) {
            if (!p->stopping) {
                reply_error(p, st->req, st->rq.format_json, 410,
                            "the playback session was stopped");
            }
            start_unlink(st);
            start_free(st);
        }
        st = next;
    }
    /* Readers go before the session they point to (at stop too: the host
     * clears their stream callbacks afterwards, and the orphans are freed). */
    st_vod_close_all(s);
    st_live_close_session(s);
    if (s->hls_clients) {
        char left[256];
        snprintf(left, sizeof(left),
                 "{\"session\":\"%s\",\"client\":\"%s\",\"kind\":\"hls\",\"bytes\":%llu}",
                 s->id, s->hls_client, (unsigned long long)s->hls_bytes);
        p->api->publish(p->self, "streamer.client.left", left);
    }
    snprintf(json, sizeof(json), "{\"session\":\"%s\",\"reason\":\"%s\"}", s->id, reason);
    p->api->publish(p->self, "streamer.session.stopped", json);
    p->api->log(p->self, OA_LOG_INFO, "session %s stopped (%s)", s->id, reason);
    st_content_unref(s->c);
    free(s);
}

void st_sessions_tick(st_plugin *p, uint64_t now)
{
    uint64_t idle = (uint64_t)p->cfg.idle_timeout_s * 1000;
    for (st_session *s = p->sessions; s != NULL;) {
        st_session *next = s->next;
        int waiting = 0;
        for (st_start *st = p->starts; st != NULL; st = st->next) {
            waiting |= st->s == s;
        }
        if (s->nreaders == 0 && !waiting && s->idle_since_ms != 0 &&
            now - s->idle_since_ms >= idle) {
            st_session_end(s, "idle");
        }
        s = next;
    }
    for (st_start *st = p->starts; st != NULL;) {
        st_start *next = st->next;
        if (now >= st->deadline_ms) {
            char msg[200];
            snprintf(msg, sizeof(msg),
                     "the content did not start within %lld s (start_timeout): no peer has "
                     "its metadata or data yet",
                     (long long)p->cfg.start_timeout_s);
            reply_error(p, st->req, st->rq.format_json, 504, msg);
            start_unlink(st);
            start_free(st);
        }
        st = next;
    }
}

static const char *status_of(st_session *s, const oa_swarm_stats *st)
{
    st_content *c = s->c;
    if (c->ready < 0 || st->state == OA_SWARM_ERROR) {
        return "err";
    }
    if (st->state == OA_SWARM_METADATA) {
        return "prebuf";
    }
    if (st->state == OA_SWARM_CHECKING) {
        return "check";
    }
    if (c->stalled) {
        return "wait";
    }
    if (s->first_byte_ms == 0) {
        return "prebuf";
    }
    return "dl";
}

static json_t *session_stat(st_session *s)
{
    oa_swarm_stats st;
    oa_live_status ls;
    st_content *c = s->c;
    json_t *o;
    int progress = 0;
    if (c->is_live) {
        st_live_stats(c, &st, &ls);
    } else {
        st_content_stats(c, &st);
    }
    if (st.total_length > 0) {
        progress = (int)(st.have_bytes * 100 / st.total_length);
    }
    o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:s, s:s, s:I, s:b, s:i, s:s}",
                  "status", status_of(s, &st), "peers", (json_int_t)st.peers, "speed_down",
                  (json_int_t)(st.download_rate / 1024), "speed_up",
                  (json_int_t)(st.upload_rate / 1024), "downloaded",
                  (json_int_t)st.downloaded, "uploaded", (json_int_t)st.uploaded,
                  "total_progress", progress, "is_live", c->is_live, "playback_session_id", s->id,
                  "infohash", c->infohash, "clients", (json_int_t)s->nreaders, "stalled",
                  c->stalled, "file_index", c->file_index, "name", c->name);
    if (o != NULL && c->ready < 0) {
        json_object_set_new(o, "error_message", json_string(c->error));
    } else if (o != NULL && st.state == OA_SWARM_ERROR) {
        json_object_set_new(o, "error_message", json_string(st.error));
    }
    if (o != NULL && c->content_id[0] != '\0') {
        json_object_set_new(o, "content_id", json_string(c->content_id));
    }
    if (o != NULL && c->is_live) {
        uint64_t pos = st_live_pos(s);
        json_object_set_new(
            o, "livepos",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "first", (json_int_t)ls.first, "last",
                      (json_int_t)ls.last, "pos", (json_int_t)pos, "first_ts",
                      (json_int_t)ls.first_ts, "last_ts", (json_int_t)ls.last_ts,
                      "buffer_pieces", (json_int_t)(ls.last >= pos ? ls.last - pos : 0)));
    }
    return o;
}

char *st_session_stat_json(st_session *s)
{
    json_t *o = session_stat(s);
    char *t = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return t;
}

/* ---- starting playback --------------------------------------------------- */

static void start_unlink(st_start *st)
{
    for (st_start **pp = &st->p->starts; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == st) {
            *pp = st->next;
            return;
        }
    }
}

static void start_free(st_start *st)
{
    if (st->fetch != NULL) {
        st_fetch_cancel(st->fetch);
    }
    if (st->s != NULL) {
        st_content_unwait(st->s->c, &st->w);
    }
    free(st);
}

/* The content is ready (or failed): answer the kept direct request. */
static void on_start_ready(st_wait *w, int status)
{
    st_start *st = (st_start *)((char *)w - offsetof(st_start, w));
    st_plugin *p = st->p;
    st_session *s = st->s;
    oa_http_req *req = st->req;
    int hls = st->hls;
    int rc;
    start_unlink(st);
    st->s = NULL; /* not parked any more */
    free(st);
    if (status != 0) {
        st_reply_text(p, req, status == OA_ENOENT ? 404 : 502,
                   s->c->error[0] != '\0' ? s->c->error : oa_strerror(status));
        return;
    }
    if (hls) {
        st_session_hls_seen(s, req);
    }
    if (s->c->is_live) {
        rc = hls ? st_live_playlist(s, req) : st_live_start_reader(s, req);
    } else {
        rc = hls ? st_hls_playlist(s, req) : st_vod_start(s, req);
    }
    if (rc != 0) {
        st_reply_text(p, req, 500, oa_strerror(rc));
    }
}

/* Waits (kept) for the session's content, or answers now. */
static void serve_when_ready(st_plugin *p, st_session *s, oa_http_req *req, int hls,
                             st_start *st)
{
    if (st == NULL) {
        st = calloc(1, sizeof(*st));
        if (st == NULL) {
            st_reply_text(p, req, 500, "out of memory");
            return;
        }
        st->p = p;
        st->req = req;
        st->deadline_ms = p->api->now_ms(p->self) + (uint64_t)p->cfg.start_timeout_s * 1000;
    }
    st->s = s;
    st->hls = hls;
    st->w.cb = on_start_ready;
    st->next = p->starts;
    p->starts = st;
    st_content_when_ready(s->c, &st->w);
}

static void answer_json(st_plugin *p, st_start *st, st_session *s)
{
    char buf[1600];
    char *text;
    if (st->hls) {
        snprintf(buf, sizeof(buf),
                 "{\"playback_url\": \"%s/ace/m/%s/%s.m3u8\", ", st->base, s->c->infohash,
                 s->id);
    } else {
        snprintf(buf, sizeof(buf), "{\"playback_url\": \"%s/ace/r/%s/%s\", ", st->base,
                 s->c->infohash, s->id);
    }
    snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
             "\"stat_url\": \"%s/ace/stat/%s/%s\", \"command_url\": \"%s/ace/cmd/%s/%s\", "
             "\"infohash\": \"%s\", \"playback_session_id\": \"%s\", \"is_live\": %d, "
             "\"is_encrypted\": 0, \"client_session_id\": -1}",
             st->base, s->c->infohash, s->id, st->base, s->c->infohash, s->id,
             s->c->infohash, s->id, s->c->is_live);
    text = st_json_response(buf);
    reply_json_text(p, st->req, text);
}

static void begin_session(st_start *st, st_content *c);

/* The content is named: open it, find or make the session, answer. */
static void begin_with(st_start *st, const char *uri, const void *file, size_t len)
{
    st_plugin *p = st->p;
    st_content *c = NULL;
    char err[200];
    const oa_live *live = NULL;
    char live_id[41];
    int rc;
    if (file != NULL) {
        live = p->api->service_lookup(p->self, OA_LIVE_SERVICE, 1, NULL);
        if (live != NULL && live->probe(live->instance, file, len, live_id) != 0) {
            live = NULL;
        }
    }
    if (live != NULL) {
        rc = st_content_open_live(p, live, live_id, file, len, &c, err, sizeof(err));
        if (rc == 0) {
            st_catalog_add(p, file, len, live_id, c->content_id);
        }
    } else {
        rc = st_content_open(p, uri, file, len, st->rq.file_index, &c, err, sizeof(err));
        if (rc == OA_EPROTO) {
            snprintf(err, sizeof(err),
                     "the transport file is neither a valid .torrent nor a live descriptor a "
                     "running live engine accepts");
        }
    }
    if (rc != 0) {
        reply_error(p, st->req, st->rq.format_json, rc == OA_EINVAL || rc == OA_EPROTO ? 400 : 503,
                    err);
        free(st);
        return;
    }
    if (file != NULL && !c->is_live && c->content_id[0] == '\0') {
        st_catalog_add(p, file, len, c->infohash, c->content_id);
    }
    begin_session(st, c);
}

/* The content is open: find or make the session and answer. */
static void begin_session(st_start *st, st_content *c)
{
    st_plugin *p = st->p;
    st_session *s;
    /* A session holds the reference; a new content with no session yet is
     * referenced here so that a failure below frees it. */
    st_content_ref(c);
    s = session_new(p, c, st->rq.pid);
    st_content_unref(c);
    if (s == NULL) {
        reply_error(p, st->req, st->rq.format_json, 500, "cannot create a playback session");
        free(st);
        return;
    }
    if (st->rq.format_json) {
        answer_json(p, st, s);
        free(st);
        return;
    }
    serve_when_ready(p, s, st->req, st->hls, st);
}

static void on_fetched(void *arg, int status, const uint8_t *data, size_t len, const char *why)
{
    st_start *st = arg;
    st->fetch = NULL;
    start_unlink(st);
    if (status != 0) {
        reply_error(st->p, st->req, st->rq.format_json, 502, why);
        free(st);
        return;
    }
    begin_with(st, NULL, data, len);
}

/* A content ID this engine has no transport file for may still be a live
 * stream that peers know: when a live engine runs, it is asked to fetch
 * the descriptor from them. Returns 1 when the request is taken care of
 * (playing or answered), 0 when there is no live engine to ask. */
static int begin_live_by_id(st_start *st)
{
    st_plugin *p = st->p;
    const oa_live *live = p->api->service_lookup(p->self, OA_LIVE_SERVICE, 1, NULL);
    st_content *c = NULL;
    char err[200];
    int rc;
    if (live == NULL) {
        return 0;
    }
    rc = st_content_open_live(p, live, st->rq.id, NULL, 0, &c, err, sizeof(err));
    if (rc != 0) {
        reply_error(p, st->req, st->rq.format_json, rc == OA_EINVAL ? 400 : 503, err);
        free(st);
        return 1;
    }
    begin_session(st, c);
    return 1;
}

static int begin(st_plugin *p, oa_http_req *req, int hls)
{
    st_start *st = calloc(1, sizeof(*st));
    char err[200];
    int rc;
    if (st == NULL) {
        return OA_ENOMEM;
    }
    st->p = p;
    st->req = req;
    st->hls = hls;
    st->deadline_ms = p->api->now_ms(p->self) + (uint64_t)p->cfg.start_timeout_s * 1000;
    base_url(p, req, st->base, sizeof(st->base));
    rc = st_request_of(p, req, &st->rq, err, sizeof(err));
    if (rc != 0) {
        const char *fmt = p->api->http_query(req, "format");
        reply_error(p, req, fmt != NULL && strcmp(fmt, "json") == 0, 400, err);
        free(st);
        return 0;
    }
    if (hls && p->seg == NULL) {
        reply_error(p, req, st->rq.format_json, 503,
                    "HLS needs the segmenter plugin, which is not running");
        free(st);
        return 0;
    }
    switch (st->rq.kind) {
    case ST_SRC_INFOHASH:
        begin_with(st, st->rq.id, NULL, 0);
        break;
    case ST_SRC_MAGNET:
        begin_with(st, st->rq.value, NULL, 0);
        break;
    case ST_SRC_CONTENT_ID: {
        uint8_t *file = NULL;
        size_t len = 0;
        if (st_catalog_get(p, st->rq.id, &file, &len) != 0) {
            char msg[200];
            if (begin_live_by_id(st)) {
                break;
            }
            snprintf(msg, sizeof(msg),
                     "unknown content_id %s: this engine has not seen its transport file "
                     "(play it once by url=, magnet= or infohash=)",
                     st->rq.id);
            reply_error(p, req, st->rq.format_json, 404, msg);
            free(st);
            break;
        }
        begin_with(st, NULL, file, len);
        p->api->free(file);
        break;
    }
    case ST_SRC_URL:
        if (strncmp(st->rq.value, "file://", 7) == 0 && !p->cfg.allow_file_urls) {
            reply_error(p, req, st->rq.format_json, 403,
                        "file:// URLs are turned off (setting allow_file_urls)");
            free(st);
            break;
        }
        rc = st_fetch_start(p, st->rq.value, p->cfg.start_timeout_s, on_fetched, st,
                            &st->fetch);
        if (rc != 0) {
            reply_error(p, req, st->rq.format_json, 500, oa_strerror(rc));
            free(st);
            break;
        }
        st->next = p->starts;
        p->starts = st;
        break;
    default:
        reply_error(p, req, st->rq.format_json, 400,
                    "missing content_id, infohash, url or magnet");
        free(st);
        break;
    }
    return 0;
}

static int h_getstream(void *arg, oa_http_req *req)
{
    return begin(arg, req, 0);
}

static int h_manifest(void *arg, oa_http_req *req)
{
    return begin(arg, req, 1);
}

/* ---- session URLs -------------------------------------------------------- */

/* Splits "/ace/<x>/<a>/<b>" after prefix into a and b (b may be absent). */
static int split2(const char *path, const char *prefix, char *a, size_t alen, char *b,
                  size_t blen)
{
    size_t pl = strlen(prefix);
    const char *rest;
    const char *slash;
    if (strncmp(path, prefix, pl) != 0) {
        return OA_EINVAL;
    }
    rest = path + pl;
    slash = strchr(rest, '/');
    if (slash == NULL) {
        if (strlen(rest) >= alen) {
            return OA_EINVAL;
        }
        snprintf(a, alen, "%s", rest);
        b[0] = '\0';
        return 0;
    }
    if ((size_t)(slash - rest) >= alen || strlen(slash + 1) >= blen ||
        strchr(slash + 1, '/') != NULL) {
        return OA_EINVAL;
    }
    memcpy(a, rest, (size_t)(slash - rest));
    a[slash - rest] = '\0';
    snprintf(b, blen, "%s", slash + 1);
    return 0;
}

static st_session *session_of(st_plugin *p, const char *ih, const char *id)
{
    st_session *s = st_session_find(p, id);
    if (s != NULL && ih != NULL && strcmp(s->c->infohash, ih) != 0) {
        return NULL;
    }
    return s;
}

static int h_r(void *arg, oa_http_req *req)
{
    st_plugin *p = arg;
    char ih[48];
    char id[48];
    st_session *s;
    if (split2(p->api->http_path(req), "/ace/r/", ih, sizeof(ih), id, sizeof(id)) != 0) {
        st_reply_text(p, req, 404, "expected /ace/r/<infohash>/<session>");
        return 0;
    }
    s = session_of(p, ih, id);
    if (s == NULL) {
        st_reply_text(p, req, 404, "unknown playback session");
        return 0;
    }
    serve_when_ready(p, s, req, 0, NULL);
    return 0;
}

static int h_m(void *arg, oa_http_req *req)
{
    st_plugin *p = arg;
    char ih[48];
    char id[48];
    size_t n;
    st_session *s;
    if (split2(p->api->http_path(req), "/ace/m/", ih, sizeof(ih), id, sizeof(id)) != 0 ||
        (n = strlen(id)) < 6 || strcmp(id + n - 5, ".m3u8") != 0) {
        st_reply_text(p, req, 404, "expected /ace/m/<infohash>/<session>.m3u8");
        return 0;
    }
    id[n - 5] = '\0';
    s = session_of(p, ih, id);
    if (s == NULL) {
        st_reply_text(p, req, 404, "unknown playback session");
        return 0;
    }
    if (p->seg == NULL) {
        st_reply_text(p, req, 503, "HLS needs the segmenter plugin, which is not running");
        return 0;
    }
    st_session_touch(s);
    serve_when_ready(p, s, req, 1, NULL);
    return 0;
}

static int h_c(void *arg, oa_http_req *req)
{
    st_plugin *p = arg;
    char id[48];
    char seg[48];
    char *end = NULL;
    unsigned long long n;
    size_t len;
    st_session *s;
    if (split2(p->api->http_path(req), "/ace/c/", id, sizeof(id), seg, sizeof(seg)) != 0 ||
        (len = strlen(seg)) < 4 || strcmp(seg + len - 3, ".ts") != 0 || seg[0] < '0' ||
        seg[0] > '9') {
        st_reply_text(p, req, 404, "expected /ace/c/<session>/<n>.ts");
        return 0;
    }
    n = strtoull(seg, &end, 10);
    if (end != seg + len - 3) {
        st_reply_text(p, req, 404, "expected /ace/c/<session>/<n>.ts");
        return 0;
    }
    s = session_of(p, NULL, id);
    if (s == NULL || s->c->ready <= 0) {
        st_reply_text(p, req, 404, "unknown playback session");
        return 0;
    }
    st_session_hls_seen(s, req);
    if (s->c->is_live) {
        return st_live_segment(s, req, n);
    }
    return st_hls_segment(s, req, n);
}

static int h_stat(void *arg, oa_http_req *req)
{
    st_plugin *p = arg;
    char ih[48];
    char id[48];
    st_session *s;
    char *stat;
    if (split2(p->api->http_path(req), "/ace/stat/", ih, sizeof(ih), id, sizeof(id)) != 0) {
        reply_json_text(p, req, st_json_error("expected /ace/stat/<infohash>/<session>"));
        return 0;
    }
    s = session_of(p, ih, id);
    if (s == NULL) {
        reply_json_text(p, req, st_json_error("unknown playback session"));
        return 0;
    }
    stat = st_session_stat_json(s);
    reply_json_text(p, req, stat != NULL ? st_json_response(stat) : NULL);
    free(stat);
    return 0;
}

static int h_cmd(void *arg, oa_http_req *req)
{
    st_plugin *p = arg;
    char ih[48];
    char id[48];
    const char *method = p->api->http_query(req, "method");
    st_session *s;
    if (split2(p->api->http_path(req), "/ace/cmd/", ih, sizeof(ih), id, sizeof(id)) != 0) {
        reply_json_text(p, req, st_json_error("expected /ace/cmd/<infohash>/<session>"));
        return 0;
    }
    s = session_of(p, ih, id);
    if (s == NULL) {
        reply_json_text(p, req, st_json_error("unknown playback session"));
        return 0;
    }
    if (method == NULL || strcmp(method, "stop") != 0) {
        reply_json_text(p, req, st_json_error("unknown method: the supported one is stop"));
        return 0;
    }
    st_session_end(s, "stop");
    reply_json_text(p, req, st_json_response("\"ok\""));
    return 0;
}

int st_session_routes(st_plugin *p)
{
    static const struct {
        const char *path;
        unsigned flags;
        oa_http_handler fn;
    } routes[] = {{"/ace/getstream", OA_HTTP_PUBLIC, h_getstream},
                  {"/ace/manifest.m3u8", OA_HTTP_PUBLIC, h_manifest},
                  {"/ace/r", OA_HTTP_PUBLIC | OA_HTTP_PREFIX, h_r},
                  {"/ace/m", OA_HTTP_PUBLIC | OA_HTTP_PREFIX, h_m},
                  {"/ace/c", OA_HTTP_PUBLIC | OA_HTTP_PREFIX, h_c},
                  {"/ace/stat", OA_HTTP_PUBLIC | OA_HTTP_PREFIX, h_stat},
                  {"/ace/cmd", OA_HTTP_PUBLIC | OA_HTTP_PREFIX, h_cmd},
                  {NULL, 0, NULL}};
    for (size_t i = 0; routes[i].path != NULL; i++) {
        int rc = p->api->http_route(p->self, "GET", routes[i].path, routes[i].flags,
                                    routes[i].fn, p);
        if (rc != 0) {
            p->api->set_error(p->self, "cannot serve %s: %s", routes[i].path,
                              rc == OA_EEXIST ? "another plugin holds that path"
                                              : oa_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* Ends every session and frees waiting requests without answering them
 * (the plugin stops; the host answers kept requests itself). */
void st_sessions_stop(st_plugin *p)
{
    while (p->starts != NULL) {
        st_start *st = p->starts;
        p->starts = st->next;
        start_free(st);
    }
    while (p->sessions != NULL) {
        st_session_end(p->sessions, "shutdown");
    }
}

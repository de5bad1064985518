/*
 * streamer: HLS of on-demand content. The first playlist or segment request
 * of a content starts one segmenter job over the played file's bytes (read
 * through the content's shared block cache, so the swarm's playhead follows);
 * its chunks are the segments, kept in memory.
 *
 * The media playlist is an EVENT playlist that starts at the beginning
 * (EXT-X-START) and lists the segments cut so far, but at most three past
 * the newest one a player asked for, so that players which treat a growing
 * playlist as live (and start three segments from its end) start at the
 * beginning too. Once the whole file is cut it is a complete VOD playlist.
 * The job runs at most hls_ahead segments ahead of the newest asked for;
 * when the segments pass hls_memory_mb, the oldest already-fetched ones are
 * dropped (a player seeking back to one gets 410).
 */
#include "streamer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_AHEAD 3

typedef struct hls_seg {
    int64_t duration_us;
    uint8_t *data; /* NULL once dropped */
    size_t len;
    uint32_t flags;
} hls_seg;

#define HLS_OPENING 0
#define HLS_RUNNING 1
#define HLS_ENDED 2

struct st_hls {
    st_content *c;
    oa_media_job *job;
    int state;            /* HLS_* or < 0 failed */
    char error[256];
    hls_seg *segs;
    size_t nsegs;
    size_t cap;
    size_t mem;
    int64_t asked_max;    /* newest segment asked for, -1 none */
    int paused;
    st_wait w;            /* the source read parked on a block */
    uint64_t src_off;
    size_t src_len;
    int src_pending;
    st_kept *kept;
};

static st_plugin *plug(st_hls *h)
{
    return h->c->p;
}

/* ---- replies ------------------------------------------------------------- */

static size_t listed(st_hls *h)
{
    size_t n;
    if (h->state == HLS_ENDED || h->state < 0) {
        return h->nsegs;
    }
    n = (size_t)(h->asked_max + 1 + LIST_AHEAD);
    return n < h->nsegs ? n : h->nsegs;
}

static void reply_playlist(st_hls *h, oa_http_req *req, const char *sid)
{
    st_plugin *p = plug(h);
    size_t n = listed(h);
    st_segment *segs = calloc(n > 0 ? n : 1, sizeof(*segs));
    char prefix[64];
    char *text;
    size_t len = 0;
    if (segs == NULL) {
        p->api->http_reply(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        segs[i].seq = i;
        segs[i].duration = (double)h->segs[i].duration_us / 1e6;
        segs[i].discontinuity = (h->segs[i].flags & OA_MEDIA_DISCONTINUITY) != 0;
    }
    snprintf(prefix, sizeof(prefix), "/ace/c/%s/", sid);
    text = st_playlist_build(segs, n, ST_PLAYLIST_EVENT, h->state == HLS_ENDED, prefix, &len);
    free(segs);
    if (text == NULL) {
        p->api->http_reply(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    p->api->http_set_header(req, "Cache-Control", "no-cache");
    p->api->http_reply(req, 200, "application/vnd.apple.mpegurl", text, len);
    free(text);
}

/* Answers what can be answered now. Returns 1 when req was answered. */
static int try_answer(st_hls *h, oa_http_req *req, int playlist, uint64_t n, const char *sid)
{
    if (playlist) {
        if (h->nsegs == 0 && h->state < 0) {
            st_reply_text(plug(h), req, 502, h->error);
            return 1;
        }
        if (h->nsegs == 0 && h->state != HLS_ENDED) {
            return 0;
        }
        reply_playlist(h, req, sid);
        return 1;
    }
    if (n < h->nsegs) {
        hls_seg *g = &h->segs[n];
        if (g->data == NULL) {
            st_reply_text(plug(h), req, 410,
                       "this segment was dropped from memory (hls_memory_mb); play on from a "
                       "newer one");
            return 1;
        }
        st_session *s = st_session_find(plug(h), sid);
        if (s != NULL) {
            s->hls_bytes += g->len;
        }
        plug(h)->api->http_reply(req, 200, "video/mp2t", g->data, g->len);
        return 1;
    }
    if (h->state == HLS_ENDED) {
        st_reply_text(plug(h), req, 404, "no such segment: the media ends before it");
        return 1;
    }
    if (h->state < 0) {
        st_reply_text(plug(h), req, 502, h->error);
        return 1;
    }
    return 0;
}

static int try_kept(void *arg, oa_http_req *req, int playlist, uint64_t n, const char *sid)
{
    return try_answer(arg, req, playlist, n, sid);
}

static void answer_kept(st_hls *h, uint64_t now)
{
    st_kept_answer(plug(h), &h->kept, try_kept, h, now,
                   "no HLS segment was ready within start_timeout");
}

/* ---- flow control -------------------------------------------------------- */

static void trim_and_pace(st_hls *h)
{
    st_plugin *p = plug(h);
    size_t limit = (size_t)p->cfg.hls_memory_mb * 1024 * 1024;
    int over;
    int want_pause;
    for (size_t i = 0; i < h->nsegs && h->mem > limit; i++) {
        hls_seg *g = &h->segs[i];
        if (g->data != NULL && (int64_t)i < h->asked_max - 2) {
            h->mem -= g->len;
            free(g->data);
            g->data = NULL;
        }
    }
    over = h->mem > limit;
    want_pause = over || (int64_t)h->nsegs > h->asked_max + 1 + p->cfg.hls_ahead;
    if (h->job != NULL && want_pause != h->paused && h->state == HLS_RUNNING) {
        h->paused = want_pause;
        p->seg->pause(h->job, want_pause);
    }
}

/* ---- the segmenter job --------------------------------------------------- */

static void source_pump(st_hls *h)
{
    st_plugin *p = plug(h);
    st_block *b = NULL;
    const uint8_t *data;
    size_t n;
    int rc;
    if (!h->src_pending || h->job == NULL) {
        return;
    }
    if (h->src_off >= h->c->file_length) {
        h->src_pending = 0;
        p->seg->source_data(h->job, 0, NULL, 0);
        return;
    }
    rc = st_content_get(h->c, h->src_off, &h->w, &b);
    if (rc == OA_EAGAIN) {
        return;
    }
    h->src_pending = 0;
    if (rc != 0) {
        p->seg->source_data(h->job, rc, NULL, 0);
        return;
    }
    data = st_block_bytes(h->c, b, h->src_off, &n);
    if (n > h->src_len) {
        n = h->src_len;
    }
    p->seg->source_data(h->job, 0, data, n);
}

static void on_source_block(st_wait *w, int status)
{
    st_hls *h = (st_hls *)((char *)w - offsetof(st_hls, w));
    if (status != 0) {
        h->src_pending = 0;
        if (h->job != NULL) {
            plug(h)->seg->source_data(h->job, status, NULL, 0);
        }
        return;
    }
    source_pump(h);
}

static int on_source_read(void *arg, oa_media_job *job, uint64_t offset, size_t len)
{
    st_hls *h = arg;
    (void)job;
    h->src_off = offset;
    h->src_len = len;
    h->src_pending = 1;
    source_pump(h);
    return 0;
}

static void on_open(void *arg, oa_media_job *job, int status, const char *reason)
{
    st_hls *h = arg;
    st_plugin *p = plug(h);
    (void)job;
    if (status != 0) {
        h->state = status;
        snprintf(h->error, sizeof(h->error), "cannot cut %s into HLS segments: %s", h->c->name,
                 reason != NULL ? reason : oa_strerror(status));
        p->api->log(p->self, OA_LOG_WARN, "%s: %s", h->c->infohash, h->error);
        answer_kept(h, 0);
        return;
    }
    h->state = HLS_RUNNING;
    trim_and_pace(h);
}

static void on_chunk(void *arg, const oa_media_chunk *chunk)
{
    st_hls *h = arg;
    hls_seg *g;
    if (h->nsegs == h->cap) {
        size_t cap = h->cap != 0 ? h->cap * 2 : 64;
        hls_seg *grown = realloc(h->segs, cap * sizeof(*grown));
        if (grown == NULL) {
            return;
        }
        h->segs = grown;
        h->cap = cap;
    }
    g = &h->segs[h->nsegs];
    g->data = malloc(chunk->len > 0 ? chunk->len : 1);
    if (g->data == NULL) {
        return;
    }
    memcpy(g->data, chunk->data, chunk->len);
    g->len = chunk->len;
    g->duration_us = chunk->duration_us;
    g->flags = chunk->flags;
    h->mem += chunk->len;
    h->nsegs++;
    trim_and_pace(h);
    answer_kept(h, 0);
}

static void on_end(void *arg, oa_media_job *job, int status, const char *reason)
{
    st_hls *h = arg;
    st_plugin *p = plug(h);
    (void)job;
    if (status == 0) {
        h->state = HLS_ENDED;
        p->api->log(p->self, OA_LOG_INFO, "%s: HLS: %zu segments cut", h->c->infohash,
                    h->nsegs);
    } else {
        h->state = status;
        snprintf(h->error, sizeof(h->error), "cutting %s stopped: %s", h->c->name,
                 reason != NULL ? reason : oa_strerror(status));
        p->api->log(p->self, OA_LOG_WARN, "%s: %s", h->c->infohash, h->error);
    }
    answer_kept(h, 0);
}

static st_hls *hls_get(st_content *c)
{
    st_plugin *p = c->p;
    st_hls *h;
    oa_segmenter_opts o;
    oa_media_source src;
    int rc;
    if (c->hls != NULL) {
        return c->hls;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    h->c = c;
    h->asked_max = -1;
    h->w.cb = on_source_block;
    memset(&o, 0, sizeof(o));
    o.size = sizeof(o);
    o.target_seconds = p->cfg.hls_segment_seconds;
    memset(&src, 0, sizeof(src));
    src.size = c->file_length;
    src.read = on_source_read;
    src.arg = h;
    rc = p->seg->open(p->seg->instance, &o, &src, on_open, on_chunk, on_end, h, &h->job);
    if (rc != 0) {
        h->state = rc;
        snprintf(h->error, sizeof(h->error), "cannot start cutting %s: %s", c->name,
                 oa_strerror(rc));
    }
    c->hls = h;
    return h;
}

/* ---- the service to session.c ------------------------------------------- */

int st_hls_playlist(st_session *s, oa_http_req *req)
{
    st_hls *h = hls_get(s->c);
    if (h == NULL) {
        return OA_ENOMEM;
    }
    if (try_answer(h, req, 1, 0, s->id)) {
        return 0;
    }
    return st_kept_add(plug(h), &h->kept, req, 1, 0, s->id);
}

int st_hls_segment(st_session *s, oa_http_req *req, uint64_t n)
{
    st_hls *h = hls_get(s->c);
    if (h == NULL) {
        return OA_ENOMEM;
    }
    if ((int64_t)n > h->asked_max) {
        h->asked_max = (int64_t)n;
        trim_and_pace(h);
    }
    if (try_answer(h, req, 0, n, s->id)) {
        return 0;
    }
    return st_kept_add(plug(h), &h->kept, req, 0, n, s->id);
}

void st_hls_tick(st_content *c, uint64_t now)
{
    st_hls *h = c->hls;
    if (h == NULL) {
        return;
    }
    answer_kept(h, now);
}

void st_hls_free(st_content *c)
{
    st_hls *h = c->hls;
    st_plugin *p = c->p;
    if (h == NULL) {
        return;
    }
    c->hls = NULL;
    if (h->job != NULL) {
        p->seg->close(h->job);
        h->job = NULL;
    }
    st_content_unwait(c, &h->w);
    st_kept_drop(p, &h->kept);
    for (size_t i = 0; i < h->nsegs; i++) {
        free(h->segs[i].data);
    }
    free(h->segs);
    free(h);
}

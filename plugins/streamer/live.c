/*
 * streamer: live content, fed by the live service (media.h) as MPEG-TS
 * chunks. The chunks of one stream are kept in one ring (live_buffer_chunks)
 * shared by every session and reader of it:
 *
 *  - a progressive reader (/ace/r, /ace/getstream) starts a few chunks
 *    behind the live edge and gets whole chunks in order; its queue is
 *    bounded (client_queue_kb). When it cannot keep up, slow_client=drop
 *    skips it to the live edge at the next chunk boundary, slow_client=wait
 *    lets it fall behind until its chunk leaves the ring, then it jumps to
 *    the oldest one kept;
 *  - HLS (/ace/m, /ace/c) is a sliding LIVE playlist over the ring.
 *
 * A stream with no new chunk for stall_seconds is reported as stalled
 * (stat, streamer.stall).
 */
#include "streamer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define START_BEHIND 3 /* chunks behind the edge a new reader starts */

typedef struct live_reader live_reader;

/* A chunk's bytes, shared by the ring and the readers sending it: a reader
 * in the middle of a chunk keeps it until it has sent all of it, even when
 * the ring has moved on, so that players only ever get whole chunks. */
typedef struct live_buf {
    int refs;
    size_t len;
    uint8_t data[];
} live_buf;

static live_buf *buf_new(const uint8_t *data, size_t len)
{
    live_buf *b = malloc(sizeof(*b) + (len > 0 ? len : 1));
    if (b == NULL) {
        return NULL;
    }
    b->refs = 1;
    b->len = len;
    memcpy(b->data, data, len);
    return b;
}

static void buf_put(live_buf *b)
{
    if (b != NULL && --b->refs == 0) {
        free(b);
    }
}

typedef struct live_chunk {
    uint64_t seq;
    live_buf *buf;
    int64_t duration_us;
    int64_t wallclock_ms;
    uint32_t flags;
} live_chunk;

struct live_reader {
    live_reader *next;
    st_plugin *p;
    st_live *l;             /* NULL once detached */
    st_session *s;          /* NULL once detached */
    oa_http_stream *stream;
    uint64_t seq;           /* chunk being sent */
    live_buf *cur;          /* its bytes while some are sent (a reference) */
    size_t off;             /* bytes of it already queued */
    size_t slice;           /* most bytes per write: fits the queue */
    uint64_t bytes;
    char client[64];
    int ended;
    int pumping;
};

struct st_live {
    st_content *c;
    const oa_live *svc;
    oa_live_sub *sub;
    live_chunk *ring;
    size_t cap;
    uint64_t first;         /* oldest seq held */
    uint64_t next;          /* one past the newest; first == next: empty */
    uint64_t started_ms;
    live_reader *readers;
    st_kept *kept;
};

static st_plugin *plug(st_live *l)
{
    return l->c->p;
}

static live_chunk *chunk_at(st_live *l, uint64_t seq)
{
    if (seq < l->first || seq >= l->next) {
        return NULL;
    }
    return &l->ring[seq % l->cap];
}

/* ---- progressive readers ------------------------------------------------- */

/* Takes the reader off its session and stream; it waits in the plugin's
 * live_orphans for its CLOSED event (or the plugin's stop). */
static void reader_detach(live_reader *r)
{
    st_session *s = r->s;
    st_plugin *p = r->p;
    if (r->l == NULL) {
        return;
    }
    for (live_reader **pp = &r->l->readers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    st_session_reader_left(s, r->client, r->bytes);
    r->s = NULL;
    r->l = NULL;
    r->next = p->live_orphans;
    p->live_orphans = r;
}

static void reader_end(live_reader *r)
{
    if (r->stream != NULL && !r->ended) {
        r->ended = 1;
        r->p->api->http_stream_end(r->stream);
    }
}

void st_live_free_orphans(st_plugin *p)
{
    while (p->live_orphans != NULL) {
        live_reader *r = p->live_orphans;
        p->live_orphans = r->next;
        buf_put(r->cur);
        free(r);
    }
}

static void pump(live_reader *r)
{
    st_live *l = r->l;
    st_plugin *p = r->p;
    if (r->pumping || l == NULL || r->stream == NULL || r->ended) {
        return;
    }
    r->pumping = 1;
    for (;;) {
        size_t n;
        int rc;
        if (r->cur == NULL) {
            live_chunk *ch;
            if (r->seq < l->first) {
                /* Its next chunk left the ring while it waited: on from
                 * the oldest one held. */
                r->seq = l->first;
            }
            ch = chunk_at(l, r->seq);
            if (ch == NULL) {
                break; /* at the edge: the next chunk wakes it */
            }
            r->cur = ch->buf;
            r->cur->refs++;
            r->off = 0;
        }
        n = r->cur->len - r->off;
        if (n > r->slice) {
            n = r->slice;
        }
        rc = p->api->http_stream_write(r->stream, r->cur->data + r->off, n);
        if (rc == OA_EOVERFLOW) {
            if (p->cfg.slow_client_drop && r->off == 0 && l->next - r->seq > 1) {
                /* Behind and blocked at a chunk boundary: skip to the
                 * newest chunk; it goes out once the queue drains. */
                buf_put(r->cur);
                r->cur = NULL;
                r->seq = l->next - 1;
            }
            break;
        }
        if (rc != 0) {
            reader_end(r);
            break;
        }
        if (r->s->first_byte_ms == 0) {
            r->s->first_byte_ms = p->api->now_ms(p->self);
        }
        r->off += n;
        r->bytes += n;
        r->s->bytes_out += n;
        if (r->off == r->cur->len) {
            buf_put(r->cur);
            r->cur = NULL;
            r->seq++;
            r->off = 0;
        }
    }
    r->pumping = 0;
}

static void on_stream(void *arg, oa_http_stream *stream, int event)
{
    live_reader *r = arg;
    (void)stream;
    if (event == OA_HTTP_STREAM_DRAINED) {
        pump(r);
    } else if (event == OA_HTTP_STREAM_CLOSED) {
        st_plugin *p = r->p;
        r->stream = NULL;
        reader_detach(r);
        for (live_reader **pp = &p->live_orphans; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == r) {
                *pp = r->next;
                break;
            }
        }
        buf_put(r->cur);
        free(r);
    }
}

int st_live_start_reader(st_session *s, oa_http_req *req)
{
    st_live *l = s->c->live;
    st_plugin *p = s->p;
    live_reader *r = calloc(1, sizeof(*r));
    const char *client = p->api->http_client(req);
    int rc;
    if (r == NULL) {
        return OA_ENOMEM;
    }
    r->p = p;
    r->l = l;
    r->s = s;
    r->slice = (size_t)p->cfg.client_queue_kb * 1024 / 4;
    if (r->slice > 256 * 1024) {
        r->slice = 256 * 1024;
    }
    r->seq = l->next > l->first + START_BEHIND ? l->next - START_BEHIND : l->first;
    snprintf(r->client, sizeof(r->client), "%s", client != NULL ? client : "?");
    p->api->http_set_header(req, "Cache-Control", "no-cache");
    rc = p->api->http_stream_open(req, 200, "video/mp2t", -1,
                                  (size_t)p->cfg.client_queue_kb * 1024, on_stream, r,
                                  &r->stream);
    if (rc != 0) {
        free(r);
        return rc;
    }
    r->next = l->readers;
    l->readers = r;
    st_session_reader_joined(s, r->client, "\"kind\":\"ts\",\"live\":true");
    pump(r);
    return 0;
}

void st_live_close_session(st_session *s)
{
    st_live *l = s->c->live;
    if (l == NULL) {
        return;
    }
    for (live_reader *r = l->readers; r != NULL;) {
        live_reader *next = r->next;
        if (r->s == s) {
            reader_detach(r);
            reader_end(r);
        }
        r = next;
    }
}

/* ---- HLS ----------------------------------------------------------------- */

static void reply_playlist(st_live *l, oa_http_req *req, const char *sid)
{
    st_plugin *p = plug(l);
    size_t n = (size_t)(l->next - l->first);
    st_segment *segs = calloc(n > 0 ? n : 1, sizeof(*segs));
    char prefix[64];
    char *text;
    size_t len = 0;
    if (segs == NULL) {
        st_reply_text(plug(l), req, 500, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        live_chunk *ch = chunk_at(l, l->first + i);
        segs[i].seq = ch->seq;
        segs[i].duration = (double)ch->duration_us / 1e6;
        segs[i].discontinuity = (ch->flags & OA_MEDIA_DISCONTINUITY) != 0;
    }
    snprintf(prefix, sizeof(prefix), "/ace/c/%s/", sid);
    text = st_playlist_build(segs, n, ST_PLAYLIST_LIVE, 0, prefix, &len);
    free(segs);
    if (text == NULL) {
        st_reply_text(plug(l), req, 500, "out of memory");
        return;
    }
    p->api->http_set_header(req, "Cache-Control", "no-cache");
    p->api->http_reply(req, 200, "application/vnd.apple.mpegurl", text, len);
    free(text);
}

static int try_answer(st_live *l, oa_http_req *req, int playlist, uint64_t seq, const char *sid)
{
    live_chunk *ch;
    if (l->c->ready < 0) {
        st_reply_text(plug(l), req, 502, l->c->error);
        return 1;
    }
    if (playlist) {
        if (l->next == l->first) {
            return 0;
        }
        reply_playlist(l, req, sid);
        return 1;
    }
    ch = chunk_at(l, seq);
    if (ch != NULL) {
        st_session *s = st_session_find(plug(l), sid);
        if (s != NULL) {
            s->hls_bytes += ch->buf->len;
        }
        plug(l)->api->http_reply(req, 200, "video/mp2t", ch->buf->data, ch->buf->len);
        return 1;
    }
    if (seq < l->first || seq > l->next + 2) {
        st_reply_text(plug(l), req, 404, "this segment is not in the live window");
        return 1;
    }
    return 0;
}

static int try_kept(void *arg, oa_http_req *req, int playlist, uint64_t n, const char *sid)
{
    return try_answer(arg, req, playlist, n, sid);
}

static void answer_kept(st_live *l, uint64_t now)
{
    st_kept_answer(plug(l), &l->kept, try_kept, l, now,
                   "the live stream sent nothing within start_timeout");
}

int st_live_playlist(st_session *s, oa_http_req *req)
{
    st_live *l = s->c->live;
    if (try_answer(l, req, 1, 0, s->id)) {
        return 0;
    }
    return st_kept_add(plug(l), &l->kept, req, 1, 0, s->id);
}

int st_live_segment(st_session *s, oa_http_req *req, uint64_t seq)
{
    st_live *l = s->c->live;
    if (try_answer(l, req, 0, seq, s->id)) {
        return 0;
    }
    return st_kept_add(plug(l), &l->kept, req, 0, seq, s->id);
}

/* ---- the subscription ---------------------------------------------------- */

static void fail(st_live *l, int status, const char *reason)
{
    st_content *c = l->c;
    st_plugin *p = plug(l);
    c->ready = status < 0 ? status : OA_EIO;
    snprintf(c->error, sizeof(c->error), "the live stream failed: %s",
             reason != NULL ? reason : oa_strerror(status));
    p->api->log(p->self, OA_LOG_WARN, "%s: %s", c->infohash, c->error);
    for (live_reader *r = l->readers; r != NULL; r = r->next) {
        reader_end(r);
    }
    answer_kept(l, 0);
}

static void on_state(void *arg, oa_live_sub *sub, int status, const char *reason)
{
    st_live *l = arg;
    st_content *c = l->c;
    (void)sub;
    if (status != 0) {
        if (status == OA_ECANCELED) {
            l->sub = NULL; /* freed by the provider */
        }
        fail(l, status, reason);
    } else {
        c->ready = 1;
        snprintf(c->name, sizeof(c->name), "live %s", c->infohash);
    }
    st_content_wake_ready(c);
}

static void on_chunk(void *arg, const oa_media_chunk *chunk)
{
    st_live *l = arg;
    st_plugin *p = plug(l);
    live_chunk *slot;
    live_buf *copy;
    if (l->next != l->first && chunk->seq != l->next) {
        /* A gap or a restart of the numbering: start the ring again. */
        for (uint64_t q = l->first; q < l->next; q++) {
            buf_put(l->ring[q % l->cap].buf);
        }
        l->first = l->next = chunk->seq;
    } else if (l->next == l->first) {
        l->first = l->next = chunk->seq;
    }
    copy = buf_new(chunk->data, chunk->len);
    if (copy == NULL) {
        return;
    }
    if (l->next - l->first == l->cap) {
        buf_put(l->ring[l->first % l->cap].buf);
        l->first++;
    }
    slot = &l->ring[l->next % l->cap];
    slot->seq = chunk->seq;
    slot->buf = copy;
    slot->duration_us = chunk->duration_us;
    slot->wallclock_ms = chunk->wallclock_ms;
    slot->flags = chunk->flags;
    l->next++;
    l->c->last_progress_ms = p->api->now_ms(p->self);
    l->c->stalled = 0;
    for (live_reader *r = l->readers; r != NULL; r = r->next) {
        pump(r);
    }
    answer_kept(l, 0);
}

int st_content_open_live(st_plugin *p, const oa_live *svc, const char id[41], const void *file,
                         size_t len, st_content **out, char *err, size_t errlen)
{
    st_content *c;
    st_live *l;
    int rc;
    for (c = p->contents; c != NULL; c = c->next) {
        if (c->is_live && strcmp(c->infohash, id) == 0 && c->ready >= 0) {
            *out = c;
            return 0;
        }
    }
    c = calloc(1, sizeof(*c));
    l = calloc(1, sizeof(*l));
    if (c == NULL || l == NULL) {
        free(c);
        free(l);
        snprintf(err, errlen, "out of memory");
        return OA_ENOMEM;
    }
    l->cap = (size_t)p->cfg.live_buffer_chunks;
    l->ring = calloc(l->cap, sizeof(*l->ring));
    if (l->ring == NULL) {
        free(c);
        free(l);
        snprintf(err, errlen, "out of memory");
        return OA_ENOMEM;
    }
    c->p = p;
    c->is_live = 1;
    c->live = l;
    c->want_index = -1;
    c->file_index = 0;
    snprintf(c->infohash, sizeof(c->infohash), "%s", id);
    snprintf(c->content_id, sizeof(c->content_id), "%s", id);
    l->c = c;
    l->svc = svc;
    l->started_ms = p->api->now_ms(p->self);
    rc = svc->subscribe(svc->instance, id, file, len, on_state, on_chunk, l, &l->sub);
    if (rc != 0) {
        snprintf(err, errlen, "the live engine refused the stream: %s", oa_strerror(rc));
        free(l->ring);
        free(l);
        free(c);
        return rc;
    }
    c->next = p->contents;
    p->contents = c;
    *out = c;
    return 0;
}

void st_live_stats(st_content *c, oa_swarm_stats *st, oa_live_status *ls)
{
    st_live *l = c->live;
    memset(st, 0, sizeof(*st));
    st->size = sizeof(*st);
    memset(ls, 0, sizeof(*ls));
    ls->size = sizeof(*ls);
    if (l->sub != NULL) {
        l->svc->status(l->sub, ls);
    }
    /* What the streamer holds is what players can get. */
    if (l->next != l->first) {
        ls->first = l->first;
        ls->last = l->next - 1;
        ls->first_ts = chunk_at(l, l->first)->wallclock_ms / 1000;
        ls->last_ts = chunk_at(l, l->next - 1)->wallclock_ms / 1000;
    }
    st->state = c->ready < 0 ? OA_SWARM_ERROR : OA_SWARM_DOWNLOADING;
    snprintf(st->info_hash, sizeof(st->info_hash), "%s", c->infohash);
    st->peers = ls->peers;
    st->downloaded = ls->downloaded;
    st->uploaded = ls->uploaded;
    st->download_rate = ls->download_rate;
    st->upload_rate = ls->upload_rate;
    snprintf(st->error, sizeof(st->error), "%s", ls->error);
}

uint64_t st_live_pos(st_session *s)
{
    st_live *l = s->c->live;
    uint64_t pos = l->next > 0 ? l->next - 1 : 0;
    for (live_reader *r = l->readers; r != NULL; r = r->next) {
        if (r->s == s && r->seq < pos) {
            pos = r->seq;
        }
    }
    return pos;
}

void st_live_tick(st_content *c, uint64_t now)
{
    st_live *l = c->live;
    st_plugin *p = c->p;
    uint64_t since = c->last_progress_ms != 0 ? c->last_progress_ms : l->started_ms;
    uint64_t limit = (uint64_t)p->cfg.stall_seconds * 1000;
    answer_kept(l, now);
    if (c->stalled || c->ready <= 0 || now - since < limit) {
        return;
    }
    st_content_stall(c, (now - since) / 1000, "no new chunk");
}

void st_live_free(st_content *c)
{
    st_live *l = c->live;
    st_plugin *p = c->p;
    if (l == NULL) {
        return;
    }
    c->live = NULL;
    if (l->sub != NULL) {
        l->svc->unsubscribe(l->sub);
    }
    st_kept_drop(p, &l->kept);
    /* Readers still here go to the plugin's orphans until CLOSED. */
    while (l->readers != NULL) {
        live_reader *r = l->readers;
        reader_end(r);
        reader_detach(r);
    }
    for (uint64_t q = l->first; q < l->next; q++) {
        buf_put(l->ring[q % l->cap].buf);
    }
    free(l->ring);
    free(l);
}

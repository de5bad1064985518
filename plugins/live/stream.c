/*
 * live: the streams open here and the `live` service of media.h
 * (docs/live.md; live_int.h is the contract with plugin.c and
 * broadcast.c).
 *
 * A stream (lv_stream) is a broadcast of this engine, or a stream viewed
 * through the swarm's live part. It keeps the headers of its last `window`
 * chunks (the `chunks` command) and the bytes of its last LV_KEEP chunks,
 * so that a new local player starts LV_BACKLOG chunks behind the edge.
 * Local players of a broadcast are fed from the broadcast's own chunks,
 * never through the swarm. A viewed stream whose last player left stays
 * open LV_LINGER_MS, so that a player reconnecting does not join from
 * scratch. Subscriptions of the streamer, the viewer events and
 * GET /live/<content_id>.acelive are here too.
 */
#include "live_int.h"

#include <stdlib.h>

struct oa_live_sub {
    oa_live_sub *next;
    lv_stream *s;
    oa_live_state_cb on_state;
    oa_media_chunk_cb on_chunk;
    void *arg;
    oa_timer *kick;    /* pending first delivery (state and backlog) */
    int state_sent;    /* on_state(0) delivered */
    int ended;         /* on_state(< 0) delivered: nothing more */
    int dead;          /* unsubscribed or canceled: freed when the stream is not busy */
    int has_next;      /* next_seq is set (else: the next chunk that comes) */
    uint64_t next_seq;
};

static void viewer_event(lv_plugin *p, const char *hex, const char *kind, const char *addr,
                         int joined)
{
    lv_publish(p, joined ? "live.viewer.joined" : "live.viewer.left",
               json_pack("{s:s, s:s, s:s}", "content_id", hex, "kind", kind, "addr",
                         addr != NULL ? addr : ""));
}

/* ---- streams: the held chunks ------------------------------------------------ */

lv_stream *lv_stream_find(lv_plugin *p, const uint8_t id[OA_LC_ID_LEN])
{
    for (lv_stream *s = p->streams; s != NULL; s = s->next) {
        if (!s->closing && !s->failed && memcmp(s->id, id, OA_LC_ID_LEN) == 0) {
            return s;
        }
    }
    return NULL;
}

static lv_stream *stream_find_hex(lv_plugin *p, const char *hex)
{
    uint8_t id[OA_LC_ID_LEN];
    if (hex == NULL || oa_lc_unhex40(hex, id) != 0) {
        return NULL;
    }
    return lv_stream_find(p, id);
}

/* The kept chunk `back` places before the newest (0: the newest), or NULL. */
static lv_data *kept_at(lv_stream *s, uint64_t index)
{
    uint64_t oldest = s->kcount > LV_KEEP ? s->kcount - LV_KEEP : 0;
    if (index < oldest || index >= s->kcount) {
        return NULL;
    }
    return &s->keep[index % LV_KEEP];
}

/* Sizes the header ring to the descriptor's window (once). */
static int stream_set_descriptor(lv_stream *s, const uint8_t *desc, size_t len)
{
    char err[160];
    int rc;
    uint8_t *copy;
    if (s->desc != NULL) {
        return 0;
    }
    rc = oa_lc_desc_decode(desc, len, &s->d, err, sizeof(err));
    if (rc != 0) {
        snprintf(s->error, sizeof(s->error), "the live descriptor is invalid: %.120s", err);
        return rc;
    }
    copy = malloc(len);
    s->hdrs = calloc(s->d.window, sizeof(*s->hdrs));
    if (copy == NULL || s->hdrs == NULL) {
        free(copy);
        free(s->hdrs);
        s->hdrs = NULL;
        snprintf(s->error, sizeof(s->error), "out of memory");
        return OA_ENOMEM;
    }
    memcpy(copy, desc, len);
    s->desc = copy;
    s->desc_len = len;
    s->hcap = s->d.window;
    return 0;
}

/* ---- streams: subscribers ---------------------------------------------------- */

/* Delivers to sub every kept chunk after the last one it got. */
static void sub_pump(lv_stream *s, oa_live_sub *sub)
{
    uint64_t oldest = s->kcount > LV_KEEP ? s->kcount - LV_KEEP : 0;
    for (uint64_t i = oldest; i < s->kcount; i++) {
        lv_data *k = &s->keep[i % LV_KEEP];
        oa_media_chunk mc;
        if (sub->dead || sub->ended || !sub->state_sent) {
            return;
        }
        if (k->data == NULL || (sub->has_next && k->seq < sub->next_seq)) {
            continue;
        }
        memset(&mc, 0, sizeof(mc));
        mc.size = sizeof(mc);
        mc.seq = k->seq;
        mc.data = k->data;
        mc.len = k->len;
        mc.pts_us = k->pts_us;
        mc.duration_us = k->duration_us;
        mc.wallclock_ms = k->ts_ms;
        mc.flags = k->flags & OA_MEDIA_DISCONTINUITY;
        if (sub->has_next && k->seq != sub->next_seq) {
            mc.flags |= OA_MEDIA_DISCONTINUITY; /* chunks were lost in between */
        }
        sub->has_next = 1;
        sub->next_seq = k->seq + 1;
        sub->on_chunk(sub->arg, &mc);
    }
}

/* A subscriber's first delivery: its state, then the chunks from
 * LV_BACKLOG behind the newest. */
static void sub_start(lv_stream *s, oa_live_sub *sub)
{
    if (s->failed) {
        sub->ended = 1;
        sub->on_state(sub->arg, sub, OA_EIO, s->error);
        return;
    }
    sub->state_sent = 1;
    if (s->kcount > 0) {
        uint64_t newest = s->kcount - 1;
        uint64_t start = newest >= LV_BACKLOG ? newest - LV_BACKLOG : 0;
        lv_data *k = kept_at(s, start);
        if (k == NULL) {
            k = kept_at(s, s->kcount > LV_KEEP ? s->kcount - LV_KEEP : 0);
        }
        if (k != NULL && k->data != NULL) {
            sub->has_next = 1;
            sub->next_seq = k->seq;
        }
    }
    sub->on_state(sub->arg, sub, 0, "");
    sub_pump(s, sub);
}

static void stream_free(lv_stream *s);
static void stream_enter(lv_stream *s)
{
    s->busy++;
}

static void on_linger(void *arg, oa_timer *t);

/* Frees the subscriptions ended while the stream was busy; then frees a
 * closed stream nobody holds, or lets a viewed one linger. The stream may
 * be gone afterwards. */
static void stream_leave(lv_stream *s)
{
    lv_plugin *p = s->p;
    oa_live_sub **pp;
    if (--s->busy > 0) {
        return;
    }
    pp = &s->subs;
    while (*pp != NULL) {
        oa_live_sub *sub = *pp;
        if (sub->dead) {
            *pp = sub->next;
            if (sub->kick != NULL) {
                p->api->timer_stop(sub->kick);
            }
            free(sub);
        } else {
            pp = &sub->next;
        }
    }
    if (s->subs != NULL) {
        return;
    }
    if (s->closing) {
        stream_free(s);
    } else if (s->bc == NULL && s->linger == NULL && p->running) {
        /* A viewed stream without players: closed after a while. */
        if (p->api->timer_start(p->self, LV_LINGER_MS, 0, on_linger, s, &s->linger) != 0) {
            s->linger = NULL;
        }
    }
}

/* Tells every subscriber still open that the stream failed. */
static void stream_fail_subs(lv_stream *s, int status, const char *reason)
{
    s->failed = 1;
    snprintf(s->error, sizeof(s->error), "%s",
             reason != NULL && reason[0] != '\0' ? reason : "the live stream failed");
    stream_enter(s);
    for (oa_live_sub *sub = s->subs; sub != NULL; sub = sub->next) {
        if (!sub->dead && !sub->ended && sub->kick == NULL) {
            sub->ended = 1;
            sub->on_state(sub->arg, sub, status < 0 ? status : OA_EIO, s->error);
        }
    }
    stream_leave(s);
}

/* Takes the stream out of use: no new subscriber finds it, its swarm
 * handle and chat close. Freed once no subscriber holds it. */
static void stream_retire(lv_stream *s)
{
    lv_plugin *p = s->p;
    if (s->closing) {
        return;
    }
    s->closing = 1;
    if (s->linger != NULL) {
        p->api->timer_stop(s->linger);
        s->linger = NULL;
    }
    if (s->chat_open && p->chat != NULL) {
        lv_chat_stream_close(p->chat, s->id);
    }
    s->chat_open = 0;
    if (s->h != NULL) {
        oa_swarm_handle *h = s->h;
        s->h = NULL;
        p->swarm->close(h);
    }
    if (s->bc != NULL) {
        lv_bc *bc = s->bc;
        s->bc = NULL;
        lv_bc_stream_gone(bc, s);
    }
}

static void stream_free(lv_stream *s)
{
    lv_plugin *p = s->p;
    stream_retire(s);
    for (lv_stream **pp = &p->streams; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    while (s->subs != NULL) {
        oa_live_sub *sub = s->subs;
        s->subs = sub->next;
        if (sub->kick != NULL) {
            p->api->timer_stop(sub->kick);
        }
        free(sub);
    }
    for (size_t i = 0; i < LV_KEEP; i++) {
        free(s->keep[i].data);
    }
    p->api->log(p->self, OA_LOG_DEBUG, "stream %.8s closed after %llu chunk(s)", s->hex,
                (unsigned long long)s->chunks_in);
    free(s->hdrs);
    free(s->desc);
    free(s);
}

static void on_linger(void *arg, oa_timer *t)
{
    lv_stream *s = arg;
    (void)t;
    s->linger = NULL;
    if (s->failed) {
        stream_enter(s);
        stream_retire(s);
        stream_leave(s); /* frees it when nobody holds it */
        return;
    }
    if (s->subs == NULL && s->busy == 0) {
        s->p->api->log(s->p->self, OA_LOG_INFO,
                       "stream %.8s: no player for %d s, leaving its swarm", s->hex,
                       LV_LINGER_MS / 1000);
        stream_free(s);
    }
}

void lv_stream_close(lv_stream *s, int status, const char *reason)
{
    if (s == NULL || s->closing) {
        return;
    }
    stream_enter(s);
    stream_fail_subs(s, status, reason);
    stream_retire(s);
    stream_leave(s); /* frees it when nobody holds it */
}

void lv_stream_chunk(lv_stream *s, const lv_hdr *hdr, const uint8_t *data, size_t len,
                     int64_t pts_us, int64_t duration_us, uint32_t flags)
{
    lv_plugin *p = s->p;
    lv_data *k = &s->keep[s->kcount % LV_KEEP];
    uint8_t *copy;
    if (s->closing) {
        return;
    }
    if (s->hcap > 0) {
        s->hdrs[s->hcount % s->hcap] = *hdr;
        s->hcount++;
    }
    s->chunks_in++;
    s->bytes_in += len;
    s->last_chunk_ms = p->api->now_ms(p->self);
    copy = malloc(len > 0 ? len : 1);
    if (copy == NULL) {
        p->api->log(p->self, OA_LOG_WARN, "stream %.8s: out of memory for chunk %llu", s->hex,
                    (unsigned long long)hdr->seq);
        return;
    }
    memcpy(copy, data, len);
    free(k->data);
    k->data = copy;
    k->len = len;
    k->seq = hdr->seq;
    k->pts_us = pts_us;
    k->duration_us = duration_us;
    k->ts_ms = hdr->ts_ms;
    k->flags = flags & OA_MEDIA_DISCONTINUITY;
    s->kcount++;
    stream_enter(s);
    for (oa_live_sub *sub = s->subs; sub != NULL; sub = sub->next) {
        sub_pump(s, sub);
    }
    stream_leave(s);
}

void lv_stream_swarm_stats(lv_stream *s, oa_swarm_live_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->size = sizeof(*st);
    if (s->h != NULL) {
        s->p->swarm->live_stats(s->h, st);
    }
}

/* ---- streams: the swarm's callbacks ------------------------------------------ */

static void start_waiting_subs(lv_stream *s)
{
    stream_enter(s);
    for (oa_live_sub *sub = s->subs; sub != NULL; sub = sub->next) {
        if (!sub->dead && !sub->state_sent && !sub->ended && sub->kick == NULL) {
            sub_start(s, sub);
        }
    }
    stream_leave(s);
}

static void on_swarm_descriptor(void *arg, oa_swarm_handle *h, int status, const char *reason,
                                const uint8_t *desc, size_t len)
{
    lv_stream *s = arg;
    lv_plugin *p = s->p;
    uint8_t id[OA_LC_ID_LEN];
    (void)h;
    if (s->closing) {
        return;
    }
    if (s->bc != NULL) {
        if (status != 0) {
            p->api->log(p->self, OA_LOG_WARN, "broadcast stream %.8s: the swarm refused it: %s",
                        s->hex, reason != NULL ? reason : oa_strerror(status));
            snprintf(s->error, sizeof(s->error), "%s",
                     reason != NULL ? reason : oa_strerror(status));
        }
        return; /* a source knows its descriptor already */
    }
    if (status == 0 && desc != NULL) {
        oa_lc_content_id(desc, len, id);
        if (memcmp(id, s->id, OA_LC_ID_LEN) != 0) {
            status = OA_EPROTO;
            reason = "the descriptor received does not match the content ID";
        } else {
            status = stream_set_descriptor(s, desc, len);
            reason = s->error;
        }
    } else if (status == 0) {
        status = OA_EPROTO;
        reason = "the swarm gave no descriptor";
    }
    if (status != 0) {
        char why[200];
        snprintf(why, sizeof(why), "%s",
                 reason != NULL && reason[0] != '\0' ? reason : oa_strerror(status));
        p->api->log(p->self, OA_LOG_WARN, "stream %.8s cannot be joined: %s", s->hex, why);
        /* The handle is closed out of its own callback, on a later turn
         * (on_linger, as the stream failed). */
        stream_enter(s);
        stream_fail_subs(s, status, why);
        if (s->linger != NULL) {
            p->api->timer_stop(s->linger);
            s->linger = NULL;
        }
        if (p->api->timer_start(p->self, 0, 0, on_linger, s, &s->linger) != 0) {
            s->linger = NULL;
        }
        stream_leave(s);
        return;
    }
    p->api->log(p->self, OA_LOG_INFO, "stream %.8s: descriptor of \"%s\" received (%u ms "
                "chunks, window %u)", s->hex, s->d.name, s->d.chunk_ms, s->d.window);
    if (p->chat != NULL && !s->chat_open) {
        lv_chat_stream_open(p->chat, s->id, s->d.pubkey);
        s->chat_open = 1;
    }
    start_waiting_subs(s);
}

static void on_swarm_chunk(void *arg, oa_swarm_handle *h, const oa_swarm_live_chunk *c)
{
    lv_stream *s = arg;
    lv_hdr hdr;
    (void)h;
    if (s->closing || c == NULL || c->data == NULL) {
        return;
    }
    hdr.seq = c->seq;
    hdr.size = (uint32_t)c->len;
    hdr.ts_ms = c->ts_ms;
    memcpy(hdr.hash, c->hash, sizeof(hdr.hash));
    lv_stream_chunk(s, &hdr, c->data, c->len, c->pts_us, c->duration_us,
                    c->gap ? OA_MEDIA_DISCONTINUITY : 0u);
}

static void on_swarm_chat(void *arg, oa_swarm_handle *h, const uint8_t *msg, size_t len)
{
    lv_stream *s = arg;
    (void)h;
    if (!s->closing && s->p->chat != NULL) {
        lv_chat_received(s->p->chat, s->id, msg, len);
    }
}

static void on_swarm_peer(void *arg, oa_swarm_handle *h, const char *addr, int joined)
{
    lv_stream *s = arg;
    (void)h;
    if (!s->closing) {
        viewer_event(s->p, s->hex, "peer", addr, joined);
    }
}

static lv_stream *stream_new(lv_plugin *p, const uint8_t id[OA_LC_ID_LEN])
{
    lv_stream *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->p = p;
    memcpy(s->id, id, OA_LC_ID_LEN);
    oa_lc_hex40(id, s->hex);
    s->last_chunk_ms = p->api->now_ms(p->self);
    return s;
}

static int stream_open_swarm(lv_stream *s, const uint8_t *desc, size_t len, int publish)
{
    lv_plugin *p = s->p;
    oa_swarm_live_cbs cbs;
    memset(&cbs, 0, sizeof(cbs));
    cbs.size = sizeof(cbs);
    cbs.descriptor = on_swarm_descriptor;
    cbs.chunk = on_swarm_chunk;
    cbs.chat = on_swarm_chat;
    cbs.peer = on_swarm_peer;
    return p->swarm->live_open(p->swarm->instance, s->id, desc, len, publish, &cbs, s, &s->h);
}

int lv_stream_open_source(lv_plugin *p, lv_bc *bc, const uint8_t *desc, size_t desc_len,
                          lv_stream **out, char *err, size_t errlen)
{
    uint8_t id[OA_LC_ID_LEN];
    lv_stream *old;
    lv_stream *s;
    int rc;
    if (p->swarm == NULL) {
        snprintf(err, errlen, "%s", p->swarm_why);
        return OA_EDEPEND;
    }
    oa_lc_content_id(desc, desc_len, id);
    old = lv_stream_find(p, id);
    if (old != NULL) {
        lv_stream_close(old, OA_EIO, "this engine now broadcasts the stream itself; "
                                     "play it again");
    }
    s = stream_new(p, id);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return OA_ENOMEM;
    }
    rc = stream_set_descriptor(s, desc, desc_len);
    if (rc == 0) {
        rc = stream_open_swarm(s, desc, desc_len, 1);
        if (rc != 0) {
            snprintf(s->error, sizeof(s->error),
                     "the swarm refused to publish the stream: %s%s", oa_strerror(rc),
                     rc == OA_EEXIST ? " (the content ID is open as ordinary content; "
                                       "remove it from the swarm)" : "");
        }
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s", s->error);
        free(s->hdrs);
        free(s->desc);
        free(s);
        return rc;
    }
    s->bc = bc;
    s->next = p->streams;
    p->streams = s;
    if (p->chat != NULL) {
        lv_chat_stream_open(p->chat, s->id, s->d.pubkey);
        s->chat_open = 1;
    }
    *out = s;
    return 0;
}

/* ---- the live service ---------------------------------------------------------- */

static int svc_probe(void *instance, const void *file, size_t len, char id[41])
{
    oa_lc_descriptor d;
    uint8_t cid[OA_LC_ID_LEN];
    char err[160];
    (void)instance;
    if (file == NULL || len == 0 || len > OA_LC_MAX_DESCRIPTOR || !oa_lc_desc_is(file, len) ||
        oa_lc_desc_decode(file, len, &d, err, sizeof(err)) != 0) {
        return OA_EINVAL;
    }
    oa_lc_content_id(file, len, cid);
    oa_lc_hex40(cid, id);
    return 0;
}

static void on_kick(void *arg, oa_timer *t)
{
    oa_live_sub *sub = arg;
    lv_stream *s = sub->s;
    (void)t;
    sub->kick = NULL;
    if (sub->dead || (s->desc == NULL && !s->failed)) {
        return; /* the descriptor's arrival starts it */
    }
    stream_enter(s);
    sub_start(s, sub);
    stream_leave(s);
}

static int svc_subscribe(void *instance, const char id[41], const void *descriptor,
                         size_t descriptor_len, oa_live_state_cb on_state,
                         oa_media_chunk_cb on_chunk, void *arg, oa_live_sub **out)
{
    lv_plugin *p = instance;
    uint8_t bin[OA_LC_ID_LEN];
    char hex[41];
    lv_stream *s;
    oa_live_sub *sub;
    int created = 0;
    int rc;
    if (p == NULL || !p->running) {
        return OA_ESTATE;
    }
    if (id == NULL || on_state == NULL || on_chunk == NULL || out == NULL) {
        return OA_EINVAL;
    }
    memcpy(hex, id, 40);
    hex[40] = '\0';
    if (oa_lc_unhex40(hex, bin) != 0) {
        p->api->log(p->self, OA_LOG_WARN, "refused a subscription: %.40s is not a content ID",
                    hex);
        return OA_EINVAL;
    }
    if (descriptor != NULL) {
        uint8_t got[OA_LC_ID_LEN];
        if (svc_probe(p, descriptor, descriptor_len, hex) != 0) {
            p->api->log(p->self, OA_LOG_WARN, "refused a subscription: not a valid live "
                                              "descriptor");
            return OA_EINVAL;
        }
        oa_lc_content_id(descriptor, descriptor_len, got);
        if (memcmp(got, bin, OA_LC_ID_LEN) != 0) {
            p->api->log(p->self, OA_LOG_WARN, "refused a subscription: the descriptor's SHA-1 "
                                              "is not the content ID");
            return OA_EINVAL;
        }
    }
    sub = calloc(1, sizeof(*sub));
    if (sub == NULL) {
        return OA_ENOMEM;
    }
    s = lv_stream_find(p, bin);
    if (s == NULL) {
        if (p->swarm == NULL) {
            p->api->log(p->self, OA_LOG_WARN, "cannot view %.8s: %s", hex, p->swarm_why);
            free(sub);
            return OA_ENOSYS;
        }
        s = stream_new(p, bin);
        if (s == NULL) {
            free(sub);
            return OA_ENOMEM;
        }
        rc = descriptor != NULL ? stream_set_descriptor(s, descriptor, descriptor_len) : 0;
        if (rc == 0) {
            rc = stream_open_swarm(s, descriptor, descriptor != NULL ? descriptor_len : 0, 0);
        }
        if (rc != 0) {
            p->api->log(p->self, OA_LOG_WARN, "the swarm refused to join %.8s: %s", s->hex,
                        oa_strerror(rc));
            free(s->hdrs);
            free(s->desc);
            free(s);
            free(sub);
            return rc;
        }
        if (p->chat != NULL && s->desc != NULL) {
            lv_chat_stream_open(p->chat, s->id, s->d.pubkey);
            s->chat_open = 1;
        }
        s->next = p->streams;
        p->streams = s;
        created = 1;
        p->api->log(p->self, OA_LOG_INFO, "joining live stream %s%s", s->hex,
                    descriptor != NULL ? "" : " (descriptor from peers)");
    }
    sub->s = s;
    sub->on_state = on_state;
    sub->on_chunk = on_chunk;
    sub->arg = arg;
    if (s->desc != NULL || s->failed) {
        rc = p->api->timer_start(p->self, 0, 0, on_kick, sub, &sub->kick);
        if (rc != 0) {
            free(sub);
            if (created) {
                stream_free(s);
            }
            return rc;
        }
    }
    if (s->linger != NULL) {
        p->api->timer_stop(s->linger);
        s->linger = NULL;
    }
    sub->next = s->subs;
    s->subs = sub;
    s->nsubs++;
    viewer_event(p, s->hex, "http", "local", 1);
    *out = sub;
    return 0;
}

static void svc_unsubscribe(oa_live_sub *sub)
{
    lv_stream *s;
    if (sub == NULL || sub->dead) {
        return;
    }
    s = sub->s;
    sub->dead = 1;
    s->nsubs--;
    if (sub->kick != NULL) {
        s->p->api->timer_stop(sub->kick);
        sub->kick = NULL;
    }
    viewer_event(s->p, s->hex, "http", "local", 0);
    stream_enter(s);
    stream_leave(s);
}

static uint64_t stream_rate(lv_stream *s)
{
    uint64_t bytes = 0;
    int64_t us = 0;
    uint64_t oldest = s->kcount > LV_KEEP ? s->kcount - LV_KEEP : 0;
    for (uint64_t i = oldest; i < s->kcount; i++) {
        lv_data *k = &s->keep[i % LV_KEEP];
        if (k->data != NULL && k->duration_us > 0) {
            bytes += k->len;
            us += k->duration_us;
        }
    }
    return us > 0 ? (uint64_t)((double)bytes * 1e6 / (double)us) : 0;
}

static int stream_stalled(lv_stream *s)
{
    uint64_t now = s->p->api->now_ms(s->p->self);
    uint64_t chunk_ms = s->desc != NULL ? s->d.chunk_ms : 1000;
    return now > s->last_chunk_ms && now - s->last_chunk_ms > LV_STALL_FACTOR * chunk_ms;
}

/* The oldest (newest 0) or newest (newest 1) header held, NULL when none. */
const lv_hdr *lv_stream_hdr(lv_stream *s, int newest)
{
    uint64_t n;
    if (s->hcap == 0 || s->hcount == 0) {
        return NULL;
    }
    n = s->hcount < s->hcap ? s->hcount : s->hcap;
    return &s->hdrs[(newest ? s->hcount - 1 : s->hcount - n) % s->hcap];
}

static void svc_status(oa_live_sub *sub, oa_live_status *st)
{
    lv_stream *s;
    oa_live_status out;
    oa_swarm_live_stats ss;
    const lv_hdr *a;
    const lv_hdr *b;
    if (sub == NULL || st == NULL || st->size == 0) {
        return;
    }
    s = sub->s;
    memset(&out, 0, sizeof(out));
    out.size = st->size < sizeof(out) ? st->size : (uint32_t)sizeof(out);
    lv_stream_swarm_stats(s, &ss);
    a = lv_stream_hdr(s, 0);
    b = lv_stream_hdr(s, 1);
    if (a != NULL && b != NULL) {
        out.first = a->seq;
        out.last = b->seq;
        out.first_ts = a->ts_ms / 1000;
        out.last_ts = b->ts_ms / 1000;
    }
    if (ss.has_edge && s->bc == NULL) {
        out.first = ss.first;
        out.last = ss.last;
    }
    out.peers = ss.peers;
    out.downloaded = s->bc != NULL ? s->bytes_in : ss.downloaded;
    out.uploaded = ss.uploaded;
    out.stalled = stream_stalled(s);
    out.download_rate = s->bc != NULL ? (out.stalled ? 0 : stream_rate(s)) : ss.download_rate;
    out.upload_rate = ss.upload_rate;
    snprintf(out.error, sizeof(out.error), "%s", s->failed ? s->error : ss.error);
    memcpy(st, &out, out.size);
}

/* Cancels every subscription (on_state(OA_ECANCELED)) and frees every
 * stream: the provider is stopping. */
void lv_stream_cancel_all(lv_plugin *p)
{
    while (p->streams != NULL) {
        lv_stream *s = p->streams;
        stream_enter(s);
        for (oa_live_sub *sub = s->subs; sub != NULL; sub = sub->next) {
            if (sub->kick != NULL) {
                p->api->timer_stop(sub->kick);
                sub->kick = NULL;
            }
            if (!sub->dead) {
                sub->dead = 1;
                s->nsubs--;
                sub->on_state(sub->arg, sub, OA_ECANCELED, "the live engine stopped");
            }
        }
        stream_retire(s);
        stream_leave(s); /* every subscription is dead: frees them and the stream */
    }
}

/* Fills p->service: the `live` service of media.h over the streams. */
void lv_stream_service_init(lv_plugin *p)
{
    memset(&p->service, 0, sizeof(p->service));
    p->service.size = sizeof(p->service);
    p->service.instance = p;
    p->service.probe = svc_probe;
    p->service.subscribe = svc_subscribe;
    p->service.unsubscribe = svc_unsubscribe;
    p->service.status = svc_status;
}

/* ---- GET /live/<content_id>.acelive -------------------------------------------- */

/* Serves GET /live/<content_id>.acelive: the descriptor of a stream open here. */
int lv_stream_http_acelive(void *arg, oa_http_req *req)
{
    lv_plugin *p = arg;
    const char *path = p->api->http_path(req);
    char hex[41];
    char msg[200];
    lv_stream *s;
    if (lv_acelive_path(path, hex) != 0) {
        snprintf(msg, sizeof(msg), "not found: descriptors are at /live/<40-hex content "
                                   "ID>.acelive\n");
        return p->api->http_reply(req, 404, "text/plain", msg, strlen(msg));
    }
    s = stream_find_hex(p, hex);
    if (s == NULL || s->desc == NULL) {
        snprintf(msg, sizeof(msg), "no live stream %s is open on this engine\n", hex);
        return p->api->http_reply(req, 404, "text/plain", msg, strlen(msg));
    }
    p->api->http_set_header(req, "Cache-Control", "no-cache");
    return p->api->http_reply(req, 200, "application/x-openace-live", s->desc, s->desc_len);
}

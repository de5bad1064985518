/*
 * live: the streams open here (docs/live.md; live_int.h is the contract
 * with plugin.c, service.c and broadcast.c).
 *
 * A stream (lv_stream) is a broadcast of this engine, or a stream viewed
 * through the swarm's live part. It keeps the headers of its last `window`
 * chunks (the `chunks` command) and the bytes of its last LV_KEEP chunks,
 * so that a new local player starts LV_BACKLOG chunks behind the edge.
 * Local players of a broadcast are fed from the broadcast's own chunks,
 * never through the swarm. A viewed stream whose last player left stays
 * open LV_LINGER_MS, so that a player reconnecting does not join from
 * scratch. The `live` service that subscribes the streamer's players is
 * service.c's.
 */
#include "live_int.h"

#include <stdlib.h>

void lv_viewer_event(lv_plugin *p, const char *hex, const char *kind, const char *addr,
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

lv_stream *lv_stream_find_hex(lv_plugin *p, const char *hex)
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
int lv_stream_set_descriptor(lv_stream *s, const uint8_t *desc, size_t len)
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
void lv_sub_start(lv_stream *s, oa_live_sub *sub)
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

void lv_stream_enter(lv_stream *s)
{
    s->busy++;
}

static void on_linger(void *arg, oa_timer *t);

/* Frees the subscriptions ended while the stream was busy; then frees a
 * closed stream nobody holds, or lets a viewed one linger. The stream may
 * be gone afterwards. */
void lv_stream_leave(lv_stream *s)
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
        lv_stream_free(s);
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
    lv_stream_enter(s);
    for (oa_live_sub *sub = s->subs; sub != NULL; sub = sub->next) {
        if (!sub->dead && !sub->ended && sub->kick == NULL) {
            sub->ended = 1;
            sub->on_state(sub->arg, sub, status < 0 ? status : OA_EIO, s->error);
        }
    }
    lv_stream_leave(s);
}

/* Takes the stream out of use: no new subscriber finds it, its swarm
 * handle and chat close. Freed once no subscriber holds it. */
void lv_stream_retire(lv_stream *s)
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

void lv_stream_free(lv_stream *s)
{
    lv_plugin *p = s->p;
    lv_stream_retire(s);
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
        lv_stream_enter(s);
        lv_stream_retire(s);
        lv_stream_leave(s); /* frees it when nobody holds it */
        return;
    }
    if (s->subs == NULL && s->busy == 0) {
        s->p->api->log(s->p->self, OA_LOG_INFO,
                       "stream %.8s: no player for %d s, leaving its swarm", s->hex,
                       LV_LINGER_MS / 1000);
        lv_stream_free(s);
    }
}

void lv_stream_close(lv_stream *s, int status, const char *reason)
{
    if (s == NULL || s->closing) {
        return;
    }
    lv_stream_enter(s);
    stream_fail_subs(s, status, reason);
    lv_stream_retire(s);
    lv_stream_leave(s); /* frees it when nobody holds it */
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
    lv_stream_enter(s);
    for (oa_live_sub *sub = s->subs; sub != NULL; sub = sub->next) {
        sub_pump(s, sub);
    }
    lv_stream_leave(s);
}

void lv_stream_swarm_stats(lv_stream *s, oa_swarm_live_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->size = sizeof(*st);
    if (s->h != NULL) {
        s->p->swarm->live_stats(s->h, st);
    }
}

void lv_stream_swarm_close(lv_stream *s)
{
    if (s->h != NULL) {
        oa_swarm_handle *h = s->h;
        s->h = NULL;
        s->p->swarm->close(h);
    }
}

int lv_stream_swarm_reopen(lv_stream *s, char *err, size_t errlen)
{
    int rc;
    if (s->h != NULL) {
        return 0;
    }
    if (s->closing || s->desc == NULL || s->p->swarm == NULL) {
        snprintf(err, errlen, "the stream is closing");
        return OA_ESTATE;
    }
    rc = lv_stream_open_swarm(s, s->desc, s->desc_len, 1);
    if (rc != 0) {
        s->h = NULL;
        snprintf(err, errlen, "the swarm refused to publish the stream again: %s",
                 oa_strerror(rc));
        return rc;
    }
    s->swarm_bad = 0;
    s->error[0] = '\0';
    return 0;
}

/* Why the stream's swarm content is unusable ("" when it is fine): the
 * swarm failed it or removed it (its handle is detached then). */
static void swarm_trouble(lv_stream *s, char *why, size_t len)
{
    oa_swarm_stats st;
    why[0] = '\0';
    if (s->h == NULL) {
        return;
    }
    if (s->swarm_bad) {
        snprintf(why, len, "the swarm refused the stream: %s", s->error);
        return;
    }
    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    s->p->swarm->stats(s->h, &st);
    if (st.state == OA_SWARM_ERROR) {
        snprintf(why, len, "the swarm dropped the live stream: %s",
                 st.error[0] != '\0' ? st.error : "content error");
    }
}

void lv_stream_tick(lv_plugin *p)
{
    lv_stream *s = p->streams;
    while (s != NULL) {
        char why[220];
        if (s->closing || s->failed || s->h == NULL) {
            s = s->next;
            continue;
        }
        swarm_trouble(s, why, sizeof(why));
        if (why[0] == '\0') {
            s = s->next;
            continue;
        }
        p->api->log(p->self, OA_LOG_WARN, "stream %.8s: %s", s->hex, why);
        if (s->bc != NULL) {
            lv_bc_swarm_failed(s->bc, why);
        } else {
            /* Its players learn it; the handle closes, the stream goes once
             * they leave; a new player opens a fresh one. */
            lv_stream_enter(s);
            stream_fail_subs(s, OA_EIO, why);
            lv_stream_retire(s);
            lv_stream_leave(s);
        }
        s = p->streams; /* the list may have changed: start over (each is done once) */
    }
}

/* ---- streams: the swarm's callbacks ------------------------------------------ */

static void start_waiting_subs(lv_stream *s)
{
    lv_stream_enter(s);
    for (oa_live_sub *sub = s->subs; sub != NULL; sub = sub->next) {
        if (!sub->dead && !sub->state_sent && !sub->ended && sub->kick == NULL) {
            lv_sub_start(s, sub);
        }
    }
    lv_stream_leave(s);
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
            s->swarm_bad = 1; /* closed out of this callback: lv_stream_tick */
        }
        return; /* a source knows its descriptor already */
    }
    if (status == 0 && desc != NULL) {
        oa_lc_content_id(desc, len, id);
        if (memcmp(id, s->id, OA_LC_ID_LEN) != 0) {
            status = OA_EPROTO;
            reason = "the descriptor received does not match the content ID";
        } else {
            status = lv_stream_set_descriptor(s, desc, len);
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
        lv_stream_enter(s);
        stream_fail_subs(s, status, why);
        if (s->linger != NULL) {
            p->api->timer_stop(s->linger);
            s->linger = NULL;
        }
        if (p->api->timer_start(p->self, 0, 0, on_linger, s, &s->linger) != 0) {
            s->linger = NULL;
        }
        lv_stream_leave(s);
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
        lv_viewer_event(s->p, s->hex, "peer", addr, joined);
    }
}

/* A failed stream of this ID that is not closed yet (lingering) still
 * holds the swarm's failed content: it is closed now, so that the stream
 * opened next gets fresh content instead of failing at once. */
void lv_stream_retire_failed(lv_plugin *p, const uint8_t id[OA_LC_ID_LEN])
{
    lv_stream *s = p->streams;
    while (s != NULL) {
        if (!s->closing && s->failed && memcmp(s->id, id, OA_LC_ID_LEN) == 0) {
            lv_stream_enter(s);
            lv_stream_retire(s);
            lv_stream_leave(s); /* may free it */
            s = p->streams;
            continue;
        }
        s = s->next;
    }
}

lv_stream *lv_stream_new(lv_plugin *p, const uint8_t id[OA_LC_ID_LEN])
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

int lv_stream_open_swarm(lv_stream *s, const uint8_t *desc, size_t len, int publish)
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
    lv_stream_retire_failed(p, id);
    s = lv_stream_new(p, id);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return OA_ENOMEM;
    }
    rc = lv_stream_set_descriptor(s, desc, desc_len);
    if (rc == 0) {
        rc = lv_stream_open_swarm(s, desc, desc_len, 1);
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

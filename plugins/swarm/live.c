/*
 * Live streams in the swarm engine (issue 7; live_int.h): the service's
 * live calls (open, publish, stats, close), the window store and its
 * memory bound (live_max_mb), the in-order delivery to handles with gap
 * skipping, and the kick and pulse timers from which every consumer
 * callback runs. live_peer.c has the oa_live messages of each peer,
 * live_chat.c chat (acceptance, gossip, oa_live_chat), live_desc.c the
 * descriptor (given, served, fetched by BEP 9).
 */
#include "live_int.h"
#include "magnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void live_deliver(oa_live *lv, uint64_t now);

/* ---- small helpers --------------------------------------------------------- */

uint64_t live_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t skip_after_ms(const oa_live *lv)
{
    uint64_t ms = 2u * (uint64_t)lv->d.chunk_ms;
    return ms > 2000 ? ms : 2000;
}

/* Frees a chunk's bytes (its header stays) and takes them off lv->held. */
static void chunk_drop_data(oa_live *lv, live_chunk *c)
{
    if (c->data != NULL) {
        lv->held -= lv->held >= c->hdr.size ? c->hdr.size : lv->held;
        free(c->data);
        c->data = NULL;
    }
}

static void chunk_free(oa_live *lv, live_chunk *c)
{
    if (c != NULL) {
        chunk_drop_data(lv, c);
        free(c->have);
        free(c->from);
        free(c->served); /* told shares its block */
        free(c);
    }
}

live_chunk *live_get(oa_live *lv, uint64_t seq)
{
    live_chunk *c;
    if (lv->nslots == 0 || !lv->win.has_edge || seq > lv->win.edge ||
        seq < oa_lc_window_first(&lv->win)) {
        return NULL;
    }
    c = lv->slots[seq % lv->nslots];
    return c != NULL && c->hdr.seq == seq ? c : NULL;
}

live_chunk *live_slot_new(oa_live *lv, uint64_t seq)
{
    live_chunk **slot;
    if (lv->nslots == 0) {
        return NULL;
    }
    slot = &lv->slots[seq % lv->nslots];
    if (*slot != NULL) {
        live_unassign(lv, *slot);
        chunk_free(lv, *slot);
    }
    *slot = calloc(1, sizeof(live_chunk));
    if (*slot != NULL) {
        (*slot)->hdr.seq = seq;
    }
    return *slot;
}

/* Recomputes the range of complete chunks held. */
static void have_range(oa_live *lv)
{
    uint64_t first, s;
    lv->has_complete = 0;
    if (!lv->win.has_edge) {
        return;
    }
    first = oa_lc_window_first(&lv->win);
    for (s = first; s <= lv->win.edge; s++) {
        live_chunk *c = live_get(lv, s);
        if (live_held(c)) {
            if (!lv->has_complete) {
                lv->have_first = s;
            }
            lv->has_complete = 1;
            lv->have_last = s;
        }
    }
}

void live_evict(oa_live *lv)
{
    uint64_t first;
    uint32_t i;
    if (!lv->win.has_edge) {
        return;
    }
    first = oa_lc_window_first(&lv->win);
    for (i = 0; i < lv->nslots; i++) {
        live_chunk *c = lv->slots[i];
        if (c != NULL && (c->hdr.seq < first || c->hdr.seq > lv->win.edge)) {
            live_unassign(lv, c);
            chunk_free(lv, c);
            lv->slots[i] = NULL;
        }
    }
    have_range(lv);
}

void live_unassign(oa_live *lv, live_chunk *c)
{
    oa_peer *p;
    if (c->assigned == 0) {
        return;
    }
    p = oa_torrent_peer_find(lv->t, c->assigned);
    if (p != NULL && p->live != NULL && p->live->inflight > 0) {
        p->live->inflight--;
    }
    c->assigned = 0;
}

/* Frees the bytes of the oldest complete chunk below before (header kept);
 * 0, or OA_ENOENT when there is none. */
static int drop_oldest(oa_live *lv, uint64_t before)
{
    uint64_t s;
    for (s = oa_lc_window_first(&lv->win); lv->win.has_edge && s <= lv->win.edge && s < before;
         s++) {
        live_chunk *c = live_get(lv, s);
        if (live_held(c)) {
            chunk_drop_data(lv, c);
            return 0;
        }
    }
    return OA_ENOENT;
}

int live_mem_reserve(oa_live *lv, uint64_t size)
{
    uint64_t max = lv->e->cfg.live_max_bytes;
    uint64_t past = UINT64_MAX; /* the lowest next_seq of the viewer handles */
    live_handle *lh;
    int dropped = 0;
    if (max == 0) {
        return 0;
    }
    for (lh = lv->handles; lh != NULL; lh = lh->next) {
        if (lh->h != NULL && !lh->publish) {
            uint64_t n = lh->started ? lh->next_seq : 0;
            past = n < past ? n : past;
        }
    }
    while (lv->held > 0 && lv->held + size > max) {
        /* chunks every handle is past first, then the oldest whatever */
        if (drop_oldest(lv, past) != 0 && drop_oldest(lv, UINT64_MAX) != 0) {
            break;
        }
        dropped = 1;
    }
    if (dropped) {
        have_range(lv);
    }
    return lv->held == 0 || lv->held + size <= max ? 0 : OA_ENOMEM;
}

void live_completed(oa_live *lv, live_chunk *c)
{
    int64_t lat = (int64_t)live_unix_ms() - c->hdr.ts_ms;
    c->complete = 1;
    live_unassign(lv, c);
    free(c->have);
    free(c->from);
    c->have = NULL;
    c->from = NULL;
    lv->chunks_in++;
    if (!lv->publish) {
        lv->lat[lv->lat_next] = lat < 0 ? 0 : (lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat);
        lv->lat_next = (lv->lat_next + 1) % LIVE_LAT_SAMPLES;
        if (lv->nlat < LIVE_LAT_SAMPLES) {
            lv->nlat++;
        }
    }
    have_range(lv);
    live_spread(lv, c);
    live_have_all(lv); /* at once: the source's late announces skip who has it */
    live_kick(lv);
}

/* ---- events for the handles ---------------------------------------------------- */

live_event *live_event_push(oa_live *lv, int kind)
{
    live_event *ev = &lv->events[lv->ev_head % LIVE_EVENTS];
    free(ev->data); /* the oldest one, overwritten */
    memset(ev, 0, sizeof(*ev));
    ev->id = lv->ev_head++;
    ev->kind = kind;
    return ev;
}

void live_event_peer(oa_live *lv, int kind, const char *addr)
{
    live_event *ev = live_event_push(lv, kind);
    snprintf(ev->addr, sizeof(ev->addr), "%s", addr);
    live_kick(lv);
}

/* ---- handles ----------------------------------------------------------------- */

static live_handle *handle_find(oa_live *lv, const oa_swarm_handle *h)
{
    live_handle *lh;
    for (lh = lv->handles; lh != NULL; lh = lh->next) {
        if (lh->h == h && h != NULL) {
            return lh;
        }
    }
    return NULL;
}

/* Frees the records of closed handles (not while a callback runs). */
static void handles_reap(oa_live *lv)
{
    live_handle **pp = &lv->handles;
    if (lv->holds > 0) {
        return;
    }
    while (*pp != NULL) {
        live_handle *lh = *pp;
        if (lh->h == NULL) {
            *pp = lh->next;
            free(lh);
        } else {
            pp = &lh->next;
        }
    }
}

static void kick_fire(void *arg, oa_timer *timer)
{
    oa_live *lv = arg;
    (void)timer;
    lv->kick = NULL; /* a one-shot timer: the host releases it */
    if (lv->t == NULL || lv->t->closing) {
        return;
    }
    live_request_pass(lv, oa_engine_now(lv->e));
    live_deliver(lv, oa_engine_now(lv->e)); /* last: lv may be gone after it */
}

void live_kick(oa_live *lv)
{
    if (lv->kick != NULL || lv->t == NULL || lv->t->closing) {
        return;
    }
    if (lv->e->api->timer_start(lv->e->self, 0, 0, kick_fire, lv, &lv->kick) != 0) {
        lv->kick = NULL; /* the pulse does it */
    }
}

/* The periodic work of a stream (the pulse, or the engine tick without
 * one): the descriptor fetch, the peers' pulse, requests. */
static void live_periodic(oa_live *lv, uint64_t now)
{
    live_fetch_retry(lv, now);
    live_peers_pulse(lv, now);
    live_request_pass(lv, now);
}

static void pulse_fire(void *arg, oa_timer *timer)
{
    oa_live *lv = arg;
    uint64_t now;
    (void)timer;
    if (lv->t == NULL || lv->t->closing) {
        return;
    }
    now = oa_engine_now(lv->e);
    live_periodic(lv, now);
    live_deliver(lv, now); /* last: lv may be gone after it */
}

int oa_live_open(oa_engine *e, const uint8_t id[20], const void *desc, size_t desc_len,
                 int publish, const oa_swarm_live_cbs *cbs, void *arg, oa_swarm_handle **out)
{
    oa_lc_descriptor d;
    oa_torrent *t;
    oa_live *lv = NULL;
    live_handle *lh;
    char err[256] = "";
    char hex[41];
    int rc;
    if (id == NULL || out == NULL || (desc == NULL && desc_len > 0)) {
        e->api->set_error(e->self, "live_open needs a content ID and a handle pointer");
        return OA_EINVAL;
    }
    oa_lc_hex40(id, hex);
    if (desc != NULL) {
        uint8_t digest[OA_LC_ID_LEN];
        oa_lc_content_id(desc, desc_len, digest);
        if (memcmp(digest, id, OA_LC_ID_LEN) != 0) {
            e->api->set_error(e->self, "the live descriptor given does not match the content "
                                       "ID %s (its SHA-1 differs)", hex);
            return OA_EINVAL;
        }
        rc = oa_lc_desc_decode(desc, desc_len, &d, err, sizeof(err));
        if (rc != 0) {
            e->api->set_error(e->self, "not a live descriptor: %s", err);
            return OA_EINVAL;
        }
    } else if (publish) {
        e->api->set_error(e->self, "publishing live stream %s needs its descriptor", hex);
        return OA_EINVAL;
    }
    lh = calloc(1, sizeof(*lh));
    if (lh == NULL) {
        return OA_ENOMEM;
    }
    if (cbs != NULL) {
        size_t n = cbs->size < sizeof(lh->cbs) ? cbs->size : sizeof(lh->cbs);
        memcpy(&lh->cbs, cbs, n);
    }
    lh->arg = arg;
    lh->publish = publish != 0;
    t = oa_engine_find(e, id);
    if (t != NULL && t->live == NULL) {
        free(lh);
        e->api->set_error(e->self, "%s is already open as ordinary content, not a live stream",
                          hex);
        return OA_EEXIST;
    }
    if (t == NULL) {
        oa_torrent_opts opts;
        const char *tr[OA_LC_MAX_TRACKERS];
        char *uri = NULL;
        size_t i;
        int existed = 0;
        lv = calloc(1, sizeof(*lv));
        if (lv == NULL) {
            free(lh);
            return OA_ENOMEM;
        }
        lv->e = e;
        memcpy(lv->id, id, OA_LC_ID_LEN);
        for (i = 0; desc != NULL && i < d.tracker_count; i++) {
            tr[i] = d.trackers[i];
        }
        rc = oa_magnet_make(id, desc != NULL ? d.name : NULL, tr, desc != NULL ? d.tracker_count : 0,
                            &uri);
        if (rc != 0) {
            free(lv);
            free(lh);
            return rc;
        }
        memset(&opts, 0, sizeof(opts));
        opts.uri = uri;
        opts.live = lv;
        rc = oa_torrent_add(e, &opts, &t, &existed, err, sizeof(err));
        free(uri);
        if (rc != 0) {
            free(lv);
            free(lh);
            e->api->set_error(e->self, "%s", err[0] != '\0' ? err : oa_strerror(rc));
            return rc;
        }
        lv->t = t;
        if (e->api->timer_start(e->self, LIVE_PULSE_MS, LIVE_PULSE_MS, pulse_fire, lv,
                                &lv->pulse) != 0) {
            lv->pulse = NULL; /* the engine tick still runs the stream, coarser */
        }
    }
    lv = t->live;
    if (publish) {
        lv->publish = 1;
    }
    if (desc != NULL && lv->desc == NULL) {
        rc = live_desc_set(lv, desc, desc_len, err, sizeof(err));
        if (rc != 0) {
            free(lh);
            if (t->handles == NULL) {
                oa_torrent_remove(t, 0);
            }
            e->api->set_error(e->self, "%s", err);
            return rc;
        }
    }
    if (lv->desc != NULL && lv->publish) {
        t->state = OA_SWARM_SEEDING;
    }
    rc = oa_torrent_handle_open(t, NULL, NULL, &lh->h);
    if (rc != 0) {
        free(lh);
        if (t->handles == NULL) {
            oa_torrent_remove(t, 0);
        }
        return rc;
    }
    lh->ev_next = lv->ev_head;
    lh->next = lv->handles;
    lv->handles = lh;
    *out = lh->h;
    live_kick(lv);
    return 0;
}

void oa_live_handle_close(oa_swarm_handle *h)
{
    oa_torrent *t = h->t;
    oa_live *lv = t != NULL ? t->live : NULL;
    live_handle *lh = lv != NULL ? handle_find(lv, h) : NULL;
    int publishers = 0;
    if (lh != NULL) {
        lh->h = NULL;
    }
    oa_torrent_handle_close(h);
    if (lv == NULL) {
        return;
    }
    handles_reap(lv);
    for (lh = lv->handles; lh != NULL; lh = lh->next) {
        publishers += lh->h != NULL && lh->publish;
    }
    lv->publish = publishers > 0;
    if (t->handles == NULL && !t->closing) {
        OA_LOG(lv->e, OA_LOG_INFO, "%s: live stream closed (no handle left)", t->hex);
        oa_torrent_remove(t, 0);
    }
}

void oa_live_free(oa_torrent *t)
{
    oa_live *lv = t->live;
    uint32_t i;
    if (lv == NULL) {
        return;
    }
    if (lv->kick != NULL) {
        lv->e->api->timer_stop(lv->kick);
    }
    if (lv->pulse != NULL) {
        lv->e->api->timer_stop(lv->pulse);
    }
    for (i = 0; i < lv->nslots; i++) {
        chunk_free(lv, lv->slots[i]);
    }
    for (i = 0; i < LIVE_EVENTS; i++) {
        free(lv->events[i].data);
    }
    while (lv->handles != NULL) {
        live_handle *lh = lv->handles;
        lv->handles = lh->next;
        free(lh);
    }
    free(lv->slots);
    free(lv->desc);
    free(lv);
    t->live = NULL;
}

/* ---- publishing ---------------------------------------------------------------- */

int oa_live_publish(oa_swarm_handle *h, const oa_swarm_live_chunk *chunk)
{
    oa_live *lv;
    live_handle *lh;
    live_chunk *c;
    oa_lc_chunk hdr;
    char err[160];
    int rc;
    if (h == NULL || chunk == NULL || (chunk->data == NULL && chunk->len > 0)) {
        return OA_EINVAL;
    }
    if (h->t == NULL) {
        return OA_ECANCELED;
    }
    lv = h->t->live;
    lh = lv != NULL ? handle_find(lv, h) : NULL;
    if (lh == NULL || !lh->publish || lv->desc == NULL) {
        return OA_ESTATE;
    }
    if (chunk->len == 0 || chunk->len > OA_LC_MAX_CHUNK) {
        return OA_EPROTO;
    }
    memset(&hdr, 0, sizeof(hdr));
    hdr.seq = chunk->seq;
    hdr.ts_ms = chunk->ts_ms;
    hdr.size = (uint32_t)chunk->len;
    hdr.pts_us = chunk->pts_us;
    hdr.duration_us = chunk->duration_us;
    memcpy(hdr.hash, chunk->hash, OA_LC_HASH_LEN);
    memcpy(hdr.sig, chunk->sig, OA_LC_SIG_LEN);
    rc = oa_lc_chunk_verify(lv->d.pubkey, &hdr, err, sizeof(err));
    if (rc == 0) {
        rc = oa_lc_chunk_check_data(&hdr, chunk->data, chunk->len, err, sizeof(err));
    }
    if (rc != 0) {
        OA_LOG(lv->e, OA_LOG_WARN, "%s: live_publish refused chunk %llu: %s", h->t->hex,
               (unsigned long long)chunk->seq, err);
        return OA_EPROTO;
    }
    if (live_get(lv, hdr.seq) != NULL ||
        oa_lc_window_check(&lv->win, hdr.seq, hdr.ts_ms, (int64_t)live_unix_ms(), err,
                           sizeof(err)) != 0) {
        return OA_ERANGE;
    }
    c = live_slot_new(lv, hdr.seq);
    if (c == NULL) {
        return OA_ENOMEM;
    }
    c->hdr = hdr;
    (void)live_mem_reserve(lv, chunk->len); /* the oldest make room; this one is kept */
    c->data = malloc(chunk->len);
    if (c->data == NULL) {
        lv->slots[hdr.seq % lv->nslots] = NULL;
        chunk_free(lv, c);
        return OA_ENOMEM;
    }
    lv->held += chunk->len;
    memcpy(c->data, chunk->data, chunk->len);
    c->header_ms = oa_engine_now(lv->e);
    oa_lc_window_advance(&lv->win, hdr.seq, hdr.ts_ms);
    live_evict(lv);
    live_completed(lv, c);
    return 0;
}

/* ---- delivery ---------------------------------------------------------------------- */

/* The next chunk a handle may get, or NULL; moves next_seq past chunks
 * missing too long (gap). */
static live_chunk *next_for(oa_live *lv, live_handle *lh, uint64_t now)
{
    uint64_t first = oa_lc_window_first(&lv->win);
    uint64_t s;
    live_chunk *c;
    if (!lv->win.has_edge || !lv->has_complete) {
        return NULL;
    }
    if (lh->next_seq < first) {
        lh->next_seq = first;
        lh->gap = 1;
    }
    c = live_get(lv, lh->next_seq);
    while (c != NULL && c->complete && c->data == NULL && lh->next_seq < lv->win.edge) {
        lh->next_seq++; /* its bytes were freed for memory (live_max_mb): a gap */
        lh->gap = 1;
        lh->stall_ms = 0;
        c = live_get(lv, lh->next_seq);
    }
    if (live_held(c)) {
        return c;
    }
    if (lh->next_seq >= lv->have_last) {
        lh->stall_ms = 0;
        return NULL;
    }
    for (s = lh->next_seq + 1; s <= lv->have_last; s++) {
        c = live_get(lv, s);
        if (live_held(c)) {
            break;
        }
    }
    if (s > lv->have_last) {
        return NULL;
    }
    if (lh->stall_ms == 0) {
        lh->stall_ms = now;
        return NULL;
    }
    if (now < lh->stall_ms + skip_after_ms(lv)) {
        return NULL;
    }
    OA_LOG(lv->e, OA_LOG_DEBUG, "%s: live chunks %llu..%llu skipped (missing)", lv->t->hex,
           (unsigned long long)lh->next_seq, (unsigned long long)(s - 1));
    lh->next_seq = s;
    lh->gap = 1;
    lh->stall_ms = 0;
    return c;
}

/* Where a viewer handle starts: join_behind chunks behind the edge, not
 * before the stream's own start. */
static void handle_start(oa_live *lv, live_handle *lh)
{
    uint64_t jb = lv->e->cfg.live_join_behind;
    uint64_t s = lv->win.edge >= jb ? lv->win.edge - jb : 0;
    if (lv->started && s < lv->start_seq) {
        s = lv->start_seq;
    }
    lh->next_seq = s;
    lh->started = 1;
}

/* Makes every pending callback; may free lv (and its torrent) on return. */
static void live_deliver(oa_live *lv, uint64_t now)
{
    oa_torrent *t = lv->t;
    live_handle *lh;
    lv->holds++;
    tpriv(t)->holds++;
    for (lh = lv->handles; lh != NULL && !t->closing; lh = lh->next) {
        if (lh->h == NULL) {
            continue;
        }
        if (!lh->desc_done && (lv->desc != NULL || lv->failed)) {
            lh->desc_done = 1;
            if (lh->cbs.descriptor != NULL) {
                if (lv->desc != NULL) {
                    lh->cbs.descriptor(lh->arg, lh->h, 0, NULL, lv->desc, lv->desc_len);
                } else {
                    lh->cbs.descriptor(lh->arg, lh->h, OA_EPROTO, lv->error, NULL, 0);
                }
            }
        }
        while (lh->h != NULL && !t->closing && lh->ev_next < lv->ev_head) {
            live_event *ev;
            if (lv->ev_head - lh->ev_next > LIVE_EVENTS) {
                lh->ev_next = lv->ev_head - LIVE_EVENTS; /* it fell behind: lost */
            }
            ev = &lv->events[lh->ev_next % LIVE_EVENTS];
            lh->ev_next++;
            if (ev->kind == LIVE_EV_CHAT && ev->data != NULL && lh->cbs.chat != NULL) {
                lh->cbs.chat(lh->arg, lh->h, ev->data, ev->len);
            } else if (ev->kind != LIVE_EV_CHAT && lh->cbs.peer != NULL) {
                lh->cbs.peer(lh->arg, lh->h, ev->addr, ev->kind == LIVE_EV_JOINED);
            }
        }
        if (lh->publish || lv->desc == NULL || !lv->has_complete) {
            continue;
        }
        if (!lh->started) {
            handle_start(lv, lh);
        }
        while (lh->h != NULL && !t->closing) {
            live_chunk *c = next_for(lv, lh, now);
            oa_swarm_live_chunk out;
            if (c == NULL) {
                break;
            }
            memset(&out, 0, sizeof(out));
            out.seq = c->hdr.seq;
            out.ts_ms = c->hdr.ts_ms;
            out.pts_us = c->hdr.pts_us;
            out.duration_us = c->hdr.duration_us;
            memcpy(out.hash, c->hdr.hash, sizeof(out.hash));
            memcpy(out.sig, c->hdr.sig, sizeof(out.sig));
            out.data = c->data;
            out.len = c->hdr.size;
            out.gap = lh->gap;
            lh->gap = 0;
            lh->next_seq = c->hdr.seq + 1;
            if (lh->cbs.chunk != NULL) {
                lh->cbs.chunk(lh->arg, lh->h, &out);
            }
        }
    }
    lv->holds--;
    if (!t->closing) {
        handles_reap(lv);
    }
    tpriv(t)->holds--;
    tor_maybe_free(t);
}

/* ---- the engine tick and stats ---------------------------------------------------- */

void oa_live_tick(oa_torrent *t, uint64_t now_ms)
{
    oa_live *lv = t->live;
    if (lv == NULL) {
        return;
    }
    if (lv->rate_ms != 0 && now_ms > lv->rate_ms) {
        uint64_t dt = now_ms - lv->rate_ms;
        lv->rate_down = (lv->rate_down + (lv->downloaded - lv->down_mark) * 1000 / dt) / 2;
        lv->rate_up = (lv->rate_up + (lv->uploaded - lv->up_mark) * 1000 / dt) / 2;
    }
    lv->rate_ms = now_ms;
    lv->down_mark = lv->downloaded;
    lv->up_mark = lv->uploaded;
    /* alone: the bootstrap peers again (the first tries may have come too
     * early, before they were up) */
    if (t->peer_count == 0 && t->connecting == 0 && lv->e->cfg.bootstrap_peers[0] != '\0' &&
        now_ms >= lv->last_bootstrap_ms + 5000) {
        size_t i;
        lv->last_bootstrap_ms = now_ms;
        for (i = 0; i < TRIED_MAX; i++) {
            tpriv(t)->tried[i].addr[0] = '\0'; /* they may be tried at once */
        }
        tor_add_candidate_list(t, lv->e->cfg.bootstrap_peers);
    }
    if (lv->pulse == NULL) {
        live_periodic(lv, now_ms);
        live_kick(lv); /* deliveries on the next loop turn: lv may go inside them */
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void oa_live_stats(oa_torrent *t, oa_swarm_live_stats *st)
{
    oa_swarm_live_stats full;
    oa_live *lv = t->live;
    uint32_t size = st->size;
    oa_peer *p;
    memset(&full, 0, sizeof(full));
    if (lv != NULL) {
        uint32_t lat[LIVE_LAT_SAMPLES];
        full.have_descriptor = lv->desc != NULL;
        full.has_edge = lv->win.has_edge;
        if (lv->has_complete) {
            full.first = lv->have_first;
            full.last = lv->have_last;
        }
        for (p = t->peers; p != NULL; p = p->tnext) {
            full.peers += p->live != NULL && p->live->ready;
        }
        full.downloaded = lv->downloaded;
        full.uploaded = lv->uploaded;
        full.download_rate = lv->rate_down;
        full.upload_rate = lv->rate_up;
        full.chunks_in = lv->chunks_in;
        full.rejected = lv->rejected;
        full.latency_samples = (uint32_t)lv->nlat;
        if (lv->nlat > 0) {
            memcpy(lat, lv->lat, lv->nlat * sizeof(lat[0]));
            qsort(lat, lv->nlat, sizeof(lat[0]), cmp_u32);
            full.latency_median_ms = lat[lv->nlat / 2];
            full.latency_p95_ms = lat[(lv->nlat * 95 + 99) / 100 - 1];
        }
        snprintf(full.error, sizeof(full.error), "%s", lv->failed ? lv->error : t->error);
    }
    if (size > sizeof(full)) {
        size = sizeof(full);
    }
    if (size > sizeof(uint32_t)) {
        memcpy((uint8_t *)st + sizeof(uint32_t), (uint8_t *)&full + sizeof(uint32_t),
               size - sizeof(uint32_t));
    }
}

/*
 * The "oa_live" BEP 10 extension of the peers on a live stream (issue 7;
 * live_int.h, docs/live-protocol.md): the messages a peer sends us (HAVE,
 * ANNOUNCE, REQUEST, DATA, REJECT, ACK; CHAT goes to live_chat.c),
 * requesting chunks from holders with timeouts and strikes, serving chunks
 * (at most a chunk's size per peer), relaying new chunks, the source's
 * fanout and its late announces. A peer's arrival and leaving are in
 * live_desc.c.
 *
 * Everything here runs inside a peer's call stack or a live timer: peers
 * are never closed here, only failed (oa_peer_fail: closed on their next
 * read or tick); consumer callbacks are left to live.c's timers.
 */
#include "live_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- sending ---------------------------------------------------------------- */

void live_send(oa_peer *p, const oa_lc_msg *m)
{
    uint8_t *out = NULL;
    size_t len = 0;
    if (!oa_peer_usable(p) || p->live == NULL || !p->live->ready) {
        return;
    }
    if (oa_lc_msg_encode(m, &out, &len) != 0) {
        return;
    }
    oa_peer_send_live(p, out, len);
    free(out);
}

void live_send_have(oa_live *lv, oa_peer *p)
{
    oa_lc_msg m;
    if (!lv->has_complete || p->live == NULL) {
        return;
    }
    memset(&m, 0, sizeof(m));
    m.type = OA_LC_HAVE;
    m.first = lv->have_first;
    m.last = lv->have_last;
    live_send(p, &m);
    p->live->sent_have = 1;
    p->live->sent_have_last = lv->have_last;
}

void live_send_announce(oa_peer *p, const live_chunk *c)
{
    oa_lc_msg m;
    memset(&m, 0, sizeof(m));
    m.type = OA_LC_ANNOUNCE;
    m.chunk = c->hdr;
    live_send(p, &m);
}

static void send_reject(oa_peer *p, uint64_t seq, uint32_t off)
{
    oa_lc_msg m;
    memset(&m, 0, sizeof(m));
    m.type = OA_LC_REJECT;
    m.seq = seq;
    m.off = off;
    live_send(p, &m);
}

static int id_in(const uint64_t *ids, size_t n, uint64_t id)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (ids[i] == id) {
            return 1;
        }
    }
    return 0;
}

/* The peer has the chunk (it announced it, or its HAVE covers it). */
static int peer_has(const live_chunk *c, const oa_peer *p)
{
    const oa_live_peer *lp = p->live;
    return id_in(c->holders, c->nholders, p->id) ||
           (lp != NULL && lp->has_have && lp->have_first <= c->hdr.seq &&
            c->hdr.seq <= lp->have_last);
}

/* Remembers id as having c; 1 when it was not known to have it before. */
static int holder_add(live_chunk *c, uint64_t id)
{
    if (!id_in(c->holders, c->nholders, id) && c->nholders < LIVE_HOLDERS) {
        c->holders[c->nholders++] = id;
        return 1;
    }
    return 0;
}

/* The source's per-chunk lists (served, told), made on first use: a
 * viewer's chunks never have them. 0, or OA_ENOMEM. */
static int source_lists(live_chunk *c)
{
    if (c->served != NULL) {
        return 0;
    }
    c->served = calloc(2 * LIVE_SERVED, sizeof(*c->served));
    if (c->served == NULL) {
        return OA_ENOMEM;
    }
    c->told = c->served + LIVE_SERVED;
    return 0;
}

/* ---- spreading a new chunk --------------------------------------------------- */

void live_source_announce(live_chunk *c, oa_peer *p)
{
    live_send_announce(p, c);
    if (source_lists(c) == 0 && !id_in(c->told, c->ntold, p->id) && c->ntold < LIVE_SERVED) {
        c->told[c->ntold++] = p->id;
    }
}

typedef struct ranked {
    oa_peer *p;
    uint64_t score;
    uint64_t order;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a;
    const ranked *y = b;
    if (x->score != y->score) {
        return x->score > y->score ? -1 : 1;
    }
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The source: the best uploaders (ACK deltas) take half the fanout, the
 * rest goes round-robin so that newcomers get a turn. */
static void source_fanout(oa_live *lv, live_chunk *c)
{
    oa_torrent *t = lv->t;
    unsigned fanout = lv->e->cfg.live_source_fanout > 0 ? lv->e->cfg.live_source_fanout : 1;
    ranked *r;
    size_t n = 0, i, best, picked = 0;
    oa_peer *p;
    r = calloc(t->peer_count + 1, sizeof(*r));
    if (r == NULL) {
        return;
    }
    for (p = t->peers; p != NULL && n <= t->peer_count; p = p->tnext) {
        if (oa_peer_usable(p) && p->live != NULL && p->live->ready) {
            r[n].p = p;
            r[n].score = p->live->up_delta;
            r[n].order = p->id;
            n++;
        }
    }
    if (n <= fanout) {
        for (i = 0; i < n; i++) {
            live_source_announce(c, r[i].p);
        }
        free(r);
        return;
    }
    qsort(r, n, sizeof(*r), cmp_ranked);
    best = fanout / 2;
    for (i = 0; i < best && r[i].score > 0; i++) {
        live_source_announce(c, r[i].p);
        r[i].p = NULL;
        picked++;
    }
    /* round-robin over the others in a stable order (peer ids) */
    for (i = 0; picked < fanout && i < n; i++) {
        ranked *q = &r[(lv->rr + i) % n];
        if (q->p != NULL) {
            live_source_announce(c, q->p);
            q->p = NULL;
            picked++;
        }
    }
    lv->rr = (lv->rr + fanout) % n;
    free(r);
}

void live_spread(oa_live *lv, live_chunk *c)
{
    oa_peer *p;
    if (lv->publish) {
        source_fanout(lv, c);
        return;
    }
    for (p = lv->t->peers; p != NULL; p = p->tnext) {
        if (p->live != NULL && p->live->ready && !peer_has(c, p)) {
            live_send_announce(p, c);
        }
    }
}

/* The source, for its newest chunks published chunk_ms/2 ago or more: an
 * ANNOUNCE to every peer that has not shown it has it (HAVE, or its own
 * ANNOUNCE to us) and was not told of it yet, so that a viewer no relay
 * reached (no connection to the fanout's peers) still gets the header. */
static void source_late(oa_live *lv, uint64_t now)
{
    uint64_t s, from;
    oa_peer *p;
    if (!lv->publish || !lv->has_complete) {
        return;
    }
    from = lv->have_last >= LIVE_RECENT ? lv->have_last - LIVE_RECENT + 1 : 0;
    if (from < lv->have_first) {
        from = lv->have_first;
    }
    for (s = from; s <= lv->have_last; s++) {
        live_chunk *c = live_get(lv, s);
        unsigned n = 0;
        if (!live_held(c) || now < c->header_ms + lv->d.chunk_ms / 2 ||
            c->ntold >= LIVE_SERVED) {
            continue;
        }
        for (p = lv->t->peers; p != NULL; p = p->tnext) {
            oa_live_peer *lp = p->live;
            if (lp == NULL || !lp->ready || !oa_peer_usable(p) ||
                (lp->has_have && lp->have_last >= s) || id_in(c->holders, c->nholders, p->id) ||
                id_in(c->told, c->ntold, p->id)) {
                continue;
            }
            live_source_announce(c, p);
            n++;
        }
        if (n > 0) {
            OA_LOG(lv->e, OA_LOG_DEBUG, "%s: late announce of live chunk %llu to %u peers",
                   lv->t->hex, (unsigned long long)s, n);
        }
    }
}

/* ---- requesting ---------------------------------------------------------------- */

static uint64_t fetch_timeout_ms(const oa_live *lv)
{
    return lv->d.chunk_ms > 2000 ? lv->d.chunk_ms : 2000;
}

/* A peer to fetch c from: an announcer first (fewest chunks in flight),
 * a peer whose HAVE covers it once chunk_ms/2 passed without one. */
static oa_peer *pick_holder(oa_live *lv, const live_chunk *c, uint64_t now)
{
    oa_peer *best = NULL;
    int best_ann = 0;
    oa_peer *p;
    int late = now >= c->header_ms + lv->d.chunk_ms / 2;
    for (p = lv->t->peers; p != NULL; p = p->tnext) {
        oa_live_peer *lp = p->live;
        int ann;
        if (lp == NULL || !lp->ready || !oa_peer_usable(p) || lp->inflight >= LIVE_PEER_CHUNKS ||
            id_in(c->refused, c->nrefused, p->id)) {
            continue;
        }
        ann = id_in(c->holders, c->nholders, p->id);
        if (!ann && !(late && peer_has(c, p))) {
            continue;
        }
        if (best == NULL || (ann && !best_ann) ||
            (ann == best_ann && lp->inflight < best->live->inflight)) {
            best = p;
            best_ann = ann;
        }
    }
    return best;
}

static int chunk_buffers(oa_live *lv, live_chunk *c)
{
    if (c->data != NULL) {
        return 0;
    }
    if (live_mem_reserve(lv, c->hdr.size) != 0) {
        return OA_ENOMEM; /* over live_max_mb: asked again once chunks are freed */
    }
    c->nblocks = (c->hdr.size + OA_LC_BLOCK - 1) / OA_LC_BLOCK;
    c->data = malloc(c->hdr.size);
    c->have = calloc(c->nblocks, 1);
    c->from = calloc(c->nblocks, sizeof(*c->from));
    if (c->data == NULL || c->have == NULL || c->from == NULL) {
        free(c->data);
        free(c->have);
        free(c->from);
        c->data = NULL;
        c->have = NULL;
        c->from = NULL;
        return OA_ENOMEM;
    }
    lv->held += c->hdr.size;
    c->nhave = 0;
    return 0;
}

/* Asks p for every block of c not in yet. Blocks another peer sent are
 * asked again: every block of a chunk comes from one peer, so a chunk
 * that fails its hash has one sender to blame. */
static void assign(oa_live *lv, live_chunk *c, oa_peer *p, uint64_t now)
{
    oa_lc_msg m;
    uint32_t b;
    if (chunk_buffers(lv, c) != 0) {
        return;
    }
    for (b = 0; b < c->nblocks && c->nhave > 0; b++) {
        if (c->have[b] && c->from[b] != p->id) {
            c->have[b] = 0;
            c->nhave--;
        }
    }
    c->assigned = p->id;
    c->assigned_ms = now;
    c->progress_ms = now;
    p->live->inflight++;
    memset(&m, 0, sizeof(m));
    m.type = OA_LC_REQUEST;
    m.seq = c->hdr.seq;
    for (b = 0; b < c->nblocks; b++) {
        if (!c->have[b]) {
            m.off = b * OA_LC_BLOCK;
            m.len = live_block_len(c, b);
            live_send(p, &m);
        }
    }
}

static void refuse(live_chunk *c, uint64_t id)
{
    if (id_in(c->refused, c->nrefused, id)) {
        return;
    }
    if (c->nrefused == LIVE_REFUSED) {
        memmove(c->refused, c->refused + 1, (LIVE_REFUSED - 1) * sizeof(c->refused[0]));
        c->nrefused--;
    }
    c->refused[c->nrefused++] = id;
}

/* A chunk asked of p timed out, or p rejected a chunk it announced: past
 * LIVE_STRIKES in a row (no chunk delivered between) p is closed, so that
 * a peer relaying headers but never data is not preferred for ever. */
static void strike(oa_peer *p)
{
    char why[128];
    if (p == NULL || p->live == NULL) {
        return;
    }
    if (++p->live->strikes >= LIVE_STRIKES) {
        snprintf(why, sizeof(why), "did not deliver the last %u live chunks asked of it",
                 p->live->strikes);
        oa_peer_fail(p, why, 0);
    }
}

/* Where a viewer starts: join_behind chunks behind the edge, at the first
 * chunk whose header it has from there. */
static void choose_start(oa_live *lv)
{
    uint64_t jb = lv->e->cfg.live_join_behind;
    uint64_t first = oa_lc_window_first(&lv->win);
    uint64_t s = lv->win.edge >= jb ? lv->win.edge - jb : 0;
    if (s < first) {
        s = first;
    }
    while (s < lv->win.edge && live_get(lv, s) == NULL) {
        s++;
    }
    lv->start_seq = s;
    lv->started = 1;
    OA_LOG(lv->e, OA_LOG_DEBUG, "%s: live viewer starts at chunk %llu (edge %llu)", lv->t->hex,
           (unsigned long long)s, (unsigned long long)lv->win.edge);
}

void live_request_pass(oa_live *lv, uint64_t now)
{
    uint64_t s, first;
    if (lv->desc == NULL || lv->publish || !lv->win.has_edge || lv->t->closing) {
        return;
    }
    if (!lv->started) {
        choose_start(lv);
    }
    first = oa_lc_window_first(&lv->win);
    for (s = lv->start_seq > first ? lv->start_seq : first; s <= lv->win.edge; s++) {
        live_chunk *c = live_get(lv, s);
        oa_peer *p;
        if (c == NULL || c->complete) {
            continue;
        }
        if (c->assigned != 0) {
            uint64_t since = c->progress_ms > c->assigned_ms ? c->progress_ms : c->assigned_ms;
            p = oa_torrent_peer_find(lv->t, c->assigned);
            if (p != NULL && now < since + fetch_timeout_ms(lv)) {
                continue;
            }
            strike(p);
            refuse(c, c->assigned);
            live_unassign(lv, c);
        }
        p = pick_holder(lv, c, now);
        if (p == NULL && c->nrefused > 0 && now >= c->header_ms + 4 * fetch_timeout_ms(lv)) {
            c->nrefused = 0; /* everyone failed once: try them all again */
            p = pick_holder(lv, c, now);
        }
        if (p != NULL) {
            assign(lv, c, p, now);
        }
    }
}

/* ---- messages ------------------------------------------------------------------- */

void live_header_in(oa_live *lv, oa_peer *p, uint64_t peer_id, const oa_lc_chunk *hdr)
{
    live_chunk *c;
    char err[160];
    char why[224];
    int rc;
    if (lv->desc == NULL) {
        if (lv->npending == LIVE_PENDING) {
            memmove(lv->pending, lv->pending + 1, (LIVE_PENDING - 1) * sizeof(lv->pending[0]));
            lv->npending--;
        }
        lv->pending[lv->npending].hdr = *hdr;
        lv->pending[lv->npending].peer = peer_id;
        lv->npending++;
        return;
    }
    c = live_get(lv, hdr->seq);
    if (c != NULL && memcmp(c->hdr.hash, hdr->hash, OA_LC_HASH_LEN) == 0 &&
        memcmp(c->hdr.sig, hdr->sig, OA_LC_SIG_LEN) == 0 && c->hdr.ts_ms == hdr->ts_ms &&
        c->hdr.size == hdr->size) {
        /* known: no need to check the signature again; a pass only when
         * this peer is a new holder (a repeated ANNOUNCE costs nothing) */
        if (holder_add(c, peer_id) && !c->complete && c->assigned == 0) {
            live_request_pass(lv, oa_engine_now(lv->e));
        }
        return;
    }
    rc = oa_lc_chunk_verify(lv->d.pubkey, hdr, err, sizeof(err));
    if (rc != 0) {
        lv->rejected++;
        snprintf(why, sizeof(why), "announced a forged live chunk %llu: %s",
                 (unsigned long long)hdr->seq, err);
        OA_LOG(lv->e, OA_LOG_WARN, "%s: peer %s %s", lv->t->hex, p != NULL ? p->addr : "?", why);
        if (p != NULL) {
            oa_peer_fail(p, why, 1);
        }
        return;
    }
    if (c != NULL || lv->publish) {
        return; /* another header for a seq we hold, or our own stream: ignored */
    }
    rc = oa_lc_window_check(&lv->win, hdr->seq, hdr->ts_ms, (int64_t)live_unix_ms(), err,
                            sizeof(err));
    if (rc != 0) {
        lv->rejected++;
        OA_LOG(lv->e, OA_LOG_DEBUG, "%s: live chunk %llu from %s ignored: %s", lv->t->hex,
               (unsigned long long)hdr->seq, p != NULL ? p->addr : "?", err);
        return;
    }
    if (lv->started && hdr->seq < lv->start_seq) {
        return; /* before where this viewer started: never fetched */
    }
    c = live_slot_new(lv, hdr->seq);
    if (c == NULL) {
        return;
    }
    c->hdr = *hdr;
    c->header_ms = oa_engine_now(lv->e);
    holder_add(c, peer_id);
    oa_lc_window_advance(&lv->win, hdr->seq, hdr->ts_ms);
    live_evict(lv);
    if (lv->started) {
        live_request_pass(lv, c->header_ms);
    } else {
        live_kick(lv); /* the start is chosen once this burst is read */
    }
}

/* Counts len more bytes of c served to the peer: OA_EACCES past the
 * chunk's size (it asks for blocks it had), or for a chunk older than
 * those it is still counted for. */
static int serve_account(oa_live_peer *lp, const live_chunk *c, uint32_t len)
{
    size_t i, low = 0;
    live_served *r = NULL;
    for (i = 0; i < lp->nsrv; i++) {
        if (lp->srv[i].seq == c->hdr.seq) {
            r = &lp->srv[i];
            break;
        }
        if (lp->srv[i].seq < lp->srv[low].seq) {
            low = i;
        }
    }
    if (r == NULL) {
        if (lp->has_floor && c->hdr.seq <= lp->srv_floor) {
            return OA_EACCES;
        }
        if (lp->nsrv < LIVE_SERVE_TRACK) {
            low = lp->nsrv++;
        } else if (lp->srv[low].seq < c->hdr.seq) {
            lp->srv_floor = lp->has_floor && lp->srv_floor > lp->srv[low].seq
                                ? lp->srv_floor : lp->srv[low].seq;
            lp->has_floor = 1;
        } else {
            return OA_EACCES; /* older than every chunk counted: served before */
        }
        r = &lp->srv[low];
        r->seq = c->hdr.seq;
        r->bytes = 0;
    }
    if ((uint64_t)r->bytes + len > c->hdr.size) {
        return OA_EACCES;
    }
    r->bytes += len;
    return 0;
}

static void on_request(oa_live *lv, oa_peer *p, const oa_lc_msg *m)
{
    live_chunk *c = live_get(lv, m->seq);
    oa_engine *e = lv->e;
    oa_lc_msg d;
    uint8_t *out = NULL;
    size_t len = 0;
    char why[160];
    if (!live_held(c)) {
        send_reject(p, m->seq, m->off); /* not here, or freed for memory */
        return;
    }
    if (m->len == 0 || m->len > OA_LC_MAX_BLOCK || m->off >= c->hdr.size ||
        m->len > c->hdr.size - m->off) {
        snprintf(why, sizeof(why), "asked for bytes %u..%u of live chunk %llu, which has %u",
                 m->off, m->off + m->len, (unsigned long long)m->seq, c->hdr.size);
        oa_peer_fail(p, why, 0);
        return;
    }
    if (p->conn != NULL && e->tp->write_queued(p->conn) > LIVE_QUEUE_MAX) {
        send_reject(p, m->seq, m->off); /* it does not read fast enough */
        return;
    }
    if (serve_account(p->live, c, m->len) != 0) {
        send_reject(p, m->seq, m->off); /* it had this chunk's bytes from us already */
        return;
    }
    if (lv->publish && !id_in(c->served, c->nserved, p->id)) {
        unsigned cap = 2 * (e->cfg.live_source_fanout > 0 ? e->cfg.live_source_fanout : 1);
        /* past the cap only the peers it announced the chunk to (fanout,
         * late announces): no relay serves them */
        if ((c->nserved >= cap && !id_in(c->told, c->ntold, p->id)) ||
            c->nserved >= LIVE_SERVED || source_lists(c) != 0) {
            send_reject(p, m->seq, m->off); /* the source's upload stays low */
            return;
        }
        c->served[c->nserved++] = p->id;
    }
    memset(&d, 0, sizeof(d));
    d.type = OA_LC_DATA;
    d.seq = m->seq;
    d.off = m->off;
    d.len = m->len;
    d.data = c->data + m->off;
    if (oa_lc_msg_encode(&d, &out, &len) != 0) {
        send_reject(p, m->seq, m->off);
        return;
    }
    oa_peer_send_live(p, out, len);
    free(out);
    oa_rate_limit_take(&e->up_limit, oa_engine_now(e), m->len);
    p->up_bytes += m->len;
    lv->t->uploaded += m->len;
    e->uploaded += m->len;
    lv->uploaded += m->len;
}

static void on_data(oa_live *lv, oa_peer *p, const oa_lc_msg *m)
{
    live_chunk *c = live_get(lv, m->seq);
    oa_engine *e = lv->e;
    uint64_t now = oa_engine_now(e);
    oa_live_peer *lp = p->live;
    uint32_t blk = m->off / OA_LC_BLOCK;
    char err[160];
    char why[224];
    /* only a block asked of this peer: the chunk is assigned to it */
    if (c == NULL || c->complete || c->data == NULL || c->assigned != p->id ||
        m->off % OA_LC_BLOCK != 0 || blk >= c->nblocks || m->len != live_block_len(c, blk) ||
        c->have[blk]) {
        if (now >= lp->unsolicited_ms + 10000) {
            lp->unsolicited_ms = now;
            lp->unsolicited = 0;
        }
        lp->unsolicited += m->len;
        if (lp->unsolicited > LIVE_UNSOLICITED_MAX) {
            oa_peer_fail(p, "sends live chunk data nobody asked for", 0);
        }
        return;
    }
    memcpy(c->data + m->off, m->data, m->len);
    c->have[blk] = 1;
    c->from[blk] = p->id;
    c->nhave++;
    c->progress_ms = now;
    p->down_bytes += m->len;
    p->last_block_ms = now;
    lv->t->downloaded += m->len;
    e->downloaded += m->len;
    lv->downloaded += m->len;
    oa_rate_limit_take(&e->down_limit, now, m->len);
    if (c->nhave < c->nblocks) {
        return;
    }
    if (oa_lc_chunk_check_data(&c->hdr, c->data, c->hdr.size, err, sizeof(err)) != 0) {
        /* every block came from p (assign() asks again what others sent) */
        lv->rejected++;
        snprintf(why, sizeof(why), "sent live chunk %llu whose bytes do not match its signed "
                 "hash", (unsigned long long)c->hdr.seq);
        OA_LOG(e, OA_LOG_WARN, "%s: peer %s %s (%s)", lv->t->hex, p->addr, why, err);
        oa_peer_fail(p, why, 1);
        refuse(c, p->id);
        memset(c->have, 0, c->nblocks);
        c->nhave = 0;
        live_unassign(lv, c);
        live_request_pass(lv, now);
        return;
    }
    lp->strikes = 0;
    live_completed(lv, c);
    live_request_pass(lv, now);
}

static void on_reject(oa_live *lv, oa_peer *p, const oa_lc_msg *m)
{
    live_chunk *c = live_get(lv, m->seq);
    if (c == NULL || c->complete || c->assigned != p->id) {
        return;
    }
    if (id_in(c->holders, c->nholders, p->id)) {
        strike(p); /* it announced the chunk, then would not send it */
    }
    refuse(c, p->id);
    live_unassign(lv, c);
    live_request_pass(lv, oa_engine_now(lv->e));
}

void oa_live_peer_message(oa_peer *p, const uint8_t *data, size_t len)
{
    oa_live *lv = p->t != NULL ? p->t->live : NULL;
    oa_live_peer *lp = p->live;
    oa_lc_msg m;
    char err[160];
    char why[224];
    if (lv == NULL || lp == NULL || p->closing) {
        return;
    }
    if (oa_lc_msg_decode(data, len, &m, err, sizeof(err)) != 0) {
        snprintf(why, sizeof(why), "sent a malformed oa_live message: %s", err);
        oa_peer_fail(p, why, 0);
        return;
    }
    switch (m.type) {
    case OA_LC_HAVE: /* first <= last: checked by oa_lc_msg_decode() */
        lp->has_have = 1;
        lp->have_first = m.first;
        lp->have_last = m.last;
        break;
    case OA_LC_ANNOUNCE:
        live_header_in(lv, p, p->id, &m.chunk);
        break;
    case OA_LC_REQUEST:
        on_request(lv, p, &m);
        break;
    case OA_LC_DATA:
        on_data(lv, p, &m);
        break;
    case OA_LC_REJECT:
        on_reject(lv, p, &m);
        break;
    case OA_LC_CHAT:
        live_chat_from_peer(lv, p, &m);
        break;
    case OA_LC_ACK:
        lp->up_delta = m.up > lp->up_total ? m.up - lp->up_total : 0;
        lp->up_total = m.up;
        break;
    default:
        break;
    }
}

/* ---- every pulse -------------------------------------------------------------------- */

void live_peers_pulse(oa_live *lv, uint64_t now)
{
    oa_peer *p;
    int ack = now >= lv->last_ack_ms + LIVE_ACK_MS && !lv->publish;
    oa_lc_msg m;
    if (ack) {
        lv->last_ack_ms = now;
    }
    memset(&m, 0, sizeof(m));
    m.type = OA_LC_ACK;
    m.up = lv->uploaded;
    for (p = lv->t->peers; p != NULL; p = p->tnext) {
        oa_live_peer *lp = p->live;
        if (lp == NULL) {
            continue;
        }
        if (!lp->ready) {
            if (now >= lp->attached_ms + LIVE_HELLO_MS) {
                oa_peer_fail(p, "not a live peer: no oa_live extension handshake in time", 0);
            }
            continue;
        }
        if (ack) {
            live_send(p, &m);
        }
    }
    live_have_all(lv);
    source_late(lv, now);
}

void live_have_all(oa_live *lv)
{
    oa_peer *p;
    if (!lv->has_complete) {
        return;
    }
    for (p = lv->t->peers; p != NULL; p = p->tnext) {
        oa_live_peer *lp = p->live;
        if (lp != NULL && lp->ready && (!lp->sent_have || lp->sent_have_last != lv->have_last)) {
            live_send_have(lv, p);
        }
    }
}

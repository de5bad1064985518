/*
 * One content's swarm and metadata (engine.h, torrent_int.h): its attached
 * peers, candidate addresses and outbound connects, choker rounds, the BEP 9
 * metadata fetch, the resume check once the metadata is known, trackers,
 * and reading what oa_torrent_add() is given. The lifetime and re-entrancy
 * rules are at the top of torrent.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "torrent_int.h"

#define TORRENT_FILE_MAX ((size_t)16 * 1024 * 1024) /* a .torrent read from a path */
#define CHECK_PIECES_PER_JOB 64u   /* resume check: pieces per worker job */
#define CHECK_JOBS_MAX 4u          /* resume check jobs in flight per torrent */
#define CAND_MAX 1000u             /* candidate addresses kept */
#define TRIED_RETRY_MS 60000u      /* an address is tried again after this */
#define HAVE_BURST_MAX 64u         /* HAVEs sent after the check, at most */
#define LEFT_UNKNOWN ((uint64_t)OA_PICKER_BLOCK_SIZE) /* "left" before the metadata */

static void check_finished(oa_torrent *t);

/* ---- peers --------------------------------------------------------------- */

oa_peer *oa_torrent_peer_find(oa_torrent *t, uint64_t peer_id)
{
    oa_peer *p;

    for (p = t->peers; p != NULL; p = p->tnext) {
        if (p->id == peer_id) {
            return p;
        }
    }
    return NULL;
}

oa_peer *tor_peer_by_pk(oa_torrent *t, oa_picker_peer pk)
{
    oa_peer *p;

    if (pk == 0) {
        return NULL;
    }
    for (p = t->peers; p != NULL; p = p->tnext) {
        if (p->pk == pk) {
            return p;
        }
    }
    return NULL;
}

/* The ids of the attached peers, for loops that may close some; the caller
 * frees the array. NULL (and *n 0) when there are none or memory is short. */
uint64_t *tor_peer_ids(oa_torrent *t, size_t *n)
{
    uint64_t *ids;
    oa_peer *p;
    size_t i = 0;

    *n = 0;
    if (t->peer_count == 0) {
        return NULL;
    }
    ids = malloc(t->peer_count * sizeof(*ids));
    if (ids == NULL) {
        return NULL;
    }
    for (p = t->peers; p != NULL && i < t->peer_count; p = p->tnext) {
        ids[i++] = p->id;
    }
    *n = i;
    return ids;
}

void tor_close_all_peers(oa_torrent *t, const char *why)
{
    oa_peer *p;

    while ((p = t->peers) != NULL) {
        size_t before = t->peer_count;

        oa_peer_close(p, why, 0);
        if (t->peers == p && t->peer_count == before) {
            /* peer.c did not detach it: unlink it ourselves, never loop */
            oa_torrent_peer_detach(t, p);
        }
    }
}

void tor_fill_all_peers(oa_torrent *t)
{
    uint64_t *ids;
    size_t n, i;

    if (t->picker == NULL) {
        return;
    }
    ids = tor_peer_ids(t, &n);
    for (i = 0; i < n; i++) {
        oa_peer *p = oa_torrent_peer_find(t, ids[i]);

        if (p != NULL && p->pk != 0) {
            oa_peer_fill(p);
        }
    }
    free(ids);
}

int oa_torrent_peer_attach(oa_torrent *t, oa_peer *p)
{
    int rc;

    if (t->closing || t->state == OA_SWARM_ERROR) {
        return OA_ESTATE;
    }
    if (t->e->cfg.max_peers > 0 && t->peer_count >= t->e->cfg.max_peers) {
        return OA_EAGAIN;
    }
    p->t = t;
    p->tnext = t->peers;
    t->peers = p;
    t->peer_count++;
    if (t->picker != NULL) {
        rc = oa_picker_peer_add(t->picker, &p->pk);
        if (rc != 0) {
            t->peers = p->tnext;
            t->peer_count--;
            p->tnext = NULL;
            p->pk = 0;
            return rc == OA_ENOMEM ? OA_ENOMEM : OA_EAGAIN;
        }
        oa_peer_metadata_ready(p);
    }
    if (t->live != NULL) {
        oa_live_peer_attach(t, p); /* live_desc.c: its oa_live state */
    }
    return 0;
}

void oa_torrent_peer_detach(oa_torrent *t, oa_peer *p)
{
    oa_peer **pp;
    int found = 0;

    for (pp = &t->peers; *pp != NULL; pp = &(*pp)->tnext) {
        if (*pp == p) {
            *pp = p->tnext;
            p->tnext = NULL;
            t->peer_count--;
            found = 1;
            break;
        }
    }
    if (!found) {
        return;
    }
    if (p->live != NULL) {
        oa_live_peer_detach(t, p); /* live_desc.c frees p->live */
    }
    if (t->picker != NULL && p->pk != 0) {
        oa_picker_peer_remove(t->picker, p->pk);
    }
    p->pk = 0;
    if (t->fetch != NULL) {
        oa_meta_fetch_peer_gone(t->fetch, p->id);
    }
    if (!t->closing && !p->am_choking) {
        tpriv(t)->choke_due = 1;
        tor_kick(t);
    }
}

void oa_torrent_peer_interested(oa_torrent *t, oa_peer *p)
{
    unsigned unchoked = 0;
    oa_peer *q;

    if (t->closing || t->choker == NULL || !p->am_choking || tpriv(t)->choke_due) {
        return;
    }
    for (q = t->peers; q != NULL; q = q->tnext) {
        unchoked += q->am_choking ? 0 : 1;
    }
    /* the regular slots and the optimistic one */
    if (unchoked < t->e->cfg.upload_slots + 1) {
        tpriv(t)->choke_due = 1;
        tor_kick(t);
    }
}

/* ---- candidates and connects --------------------------------------------- */

static int tried_recently(oa_torrent *t, const char *addr, uint64_t now)
{
    torrent_priv *pv = tpriv(t);
    size_t i;

    for (i = 0; i < TRIED_MAX; i++) {
        if (pv->tried[i].addr[0] != '\0' && strcmp(pv->tried[i].addr, addr) == 0) {
            return now < pv->tried[i].ms + TRIED_RETRY_MS;
        }
    }
    return 0;
}

static void tried_note(oa_torrent *t, const char *addr, uint64_t now)
{
    torrent_priv *pv = tpriv(t);
    size_t i;

    for (i = 0; i < TRIED_MAX; i++) {
        if (strcmp(pv->tried[i].addr, addr) == 0) {
            pv->tried[i].ms = now;
            return;
        }
    }
    snprintf(pv->tried[pv->tried_next].addr, OA_ADDR_MAX, "%s", addr);
    pv->tried[pv->tried_next].ms = now;
    pv->tried_next = (pv->tried_next + 1) % TRIED_MAX;
}

/* Our own listening address as peers might report it. */
static int is_self(oa_torrent *t, const char *addr)
{
    char buf[OA_ADDR_MAX];
    uint16_t port = t->e->cfg.port;

    if (strncmp(addr, "0.0.0.0:", 8) == 0 || strncmp(addr, "[::]:", 5) == 0) {
        return 1;
    }
    if (port == 0) {
        return 0;
    }
    snprintf(buf, sizeof(buf), "127.0.0.1:%u", (unsigned)port);
    if (strcmp(addr, buf) == 0) {
        return 1;
    }
    snprintf(buf, sizeof(buf), "[::1]:%u", (unsigned)port);
    return strcmp(addr, buf) == 0;
}

void oa_torrent_add_candidates(oa_torrent *t, const char *const *addrs, size_t n)
{
    uint64_t now;
    size_t i, j;

    if (t->closing || addrs == NULL) {
        return;
    }
    now = oa_engine_now(t->e);
    for (i = 0; i < n; i++) {
        const char *a = addrs[i];
        oa_peer *p;
        int dup = 0;
        char *copy;

        if (a == NULL || a[0] == '\0' || strlen(a) >= OA_ADDR_MAX) {
            continue;
        }
        if (t->cand_count >= CAND_MAX) {
            break;
        }
        if (is_self(t, a) || oa_engine_banned(t->e, a) || tried_recently(t, a, now)) {
            continue;
        }
        for (j = 0; j < t->cand_count && !dup; j++) {
            dup = strcmp(t->candidates[j], a) == 0;
        }
        for (p = t->peers; p != NULL && !dup; p = p->tnext) {
            dup = strcmp(p->addr, a) == 0;
        }
        if (dup) {
            continue;
        }
        if (t->cand_count == t->cand_cap) {
            size_t cap = t->cand_cap > 0 ? t->cand_cap * 2 : 32;
            char **v;

            if (cap > CAND_MAX) {
                cap = CAND_MAX;
            }
            v = realloc(t->candidates, cap * sizeof(*v));
            if (v == NULL) {
                return;
            }
            t->candidates = v;
            t->cand_cap = cap;
        }
        copy = strdup(a);
        if (copy == NULL) {
            return;
        }
        t->candidates[t->cand_count++] = copy;
    }
}

/* Adds the space separated addresses of list. */
void tor_add_candidate_list(oa_torrent *t, const char *list)
{
    const char *s = list;

    while (*s != '\0') {
        char addr[OA_ADDR_MAX];
        const char *one[1];
        size_t n = 0;

        while (*s == ' ' || *s == '\t' || *s == ',') {
            s++;
        }
        while (s[n] != '\0' && s[n] != ' ' && s[n] != '\t' && s[n] != ',') {
            n++;
        }
        if (n > 0 && n < sizeof(addr)) {
            memcpy(addr, s, n);
            addr[n] = '\0';
            one[0] = addr;
            oa_torrent_add_candidates(t, one, 1);
        }
        s += n;
    }
}

void tor_connect_candidates(oa_torrent *t, uint64_t now)
{
    const oa_engine_config *cfg = &t->e->cfg;
    unsigned started = 0;
    unsigned per_tick = cfg->connect_per_tick > 0 ? cfg->connect_per_tick : 8;

    while (t->cand_count > 0 && started < per_tick && !t->closing) {
        char *addr;
        int rc;

        if (cfg->max_peers > 0 && t->peer_count + t->connecting >= cfg->max_peers) {
            break;
        }
        addr = t->candidates[0];
        t->cand_count--;
        memmove(t->candidates, t->candidates + 1, t->cand_count * sizeof(*t->candidates));
        if (tried_recently(t, addr, now) || oa_engine_banned(t->e, addr)) {
            free(addr);
            continue;
        }
        tried_note(t, addr, now);
        rc = oa_peer_connect(t, addr);
        free(addr);
        if (rc == 0) {
            started++;
        } else if (rc == OA_EAGAIN) {
            break; /* the engine is full */
        }
    }
}

/* ---- the resume check ----------------------------------------------------- */

static void check_issue(oa_torrent *t)
{
    torrent_priv *pv = tpriv(t);
    uint32_t n = (uint32_t)t->mi->piece_count;

    while (pv->check_inflight < CHECK_JOBS_MAX && pv->check_next < n) {
        job *j = calloc(1, sizeof(*j));
        uint32_t count = n - pv->check_next;

        if (count > CHECK_PIECES_PER_JOB) {
            count = CHECK_PIECES_PER_JOB;
        }
        if (j != NULL) {
            j->kind = JOB_CHECK;
            j->first = pv->check_next;
            j->count = count;
            j->bf = &pv->check_bf;
        }
        if (j == NULL || tor_job_queue(t, j) != 0) {
            /* those pieces count as missing: they are downloaded again */
            OA_LOG(t->e, OA_LOG_WARN, "%s: pieces %u to %u were not checked (no worker)",
                   t->hex, (unsigned)pv->check_next, (unsigned)(pv->check_next + count - 1));
            free(j);
            pv->check_next += count;
            continue;
        }
        pv->check_next += count;
        pv->check_inflight++;
    }
    if (pv->checking && pv->check_inflight == 0 && pv->check_next >= n) {
        check_finished(t);
    }
}

void tor_check_done(oa_torrent *t, job *j)
{
    torrent_priv *pv = tpriv(t);

    pv->check_inflight--;
    if (j->rc != 0) {
        OA_LOG(t->e, OA_LOG_WARN, "%s: resume check of pieces %u to %u failed: %s", t->hex,
               (unsigned)j->first, (unsigned)(j->first + j->count - 1), j->err);
    }
    check_issue(t);
}

static void check_finished(oa_torrent *t)
{
    oa_engine *e = t->e;
    torrent_priv *pv = tpriv(t);
    const oa_metainfo *mi = t->mi;
    uint32_t n = (uint32_t)mi->piece_count;
    uint32_t i, have;
    oa_picker_config pc;
    uint64_t *ids;
    size_t nids, k;
    int rc;

    pv->checking = 0;
    if (oa_bitfield_bytes(n) > 0) {
        memcpy(t->have.bits, pv->check_bf.bits, oa_bitfield_bytes(n));
    }
    oa_bitfield_free(&pv->check_bf);
    oa_picker_config_default(&pc);
    pc.total_length = mi->total_length;
    pc.piece_length = (uint32_t)mi->piece_length;
    pc.seed = oa_engine_random(e);
    rc = oa_picker_new(&pc, &t->picker);
    if (rc != 0) {
        char msg[160];

        t->picker = NULL;
        snprintf(msg, sizeof(msg), "The piece picker could not be created: %s.",
                 oa_strerror(rc));
        tor_set_error(t, rc, msg);
        return;
    }
    for (i = 0; i < n; i++) {
        if (oa_bitfield_get(&t->have, i)) {
            oa_picker_we_have(t->picker, i);
        }
    }
    have = oa_bitfield_count(&t->have);
    if (have == n) {
        t->state = OA_SWARM_SEEDING;
        t->completed_sent = 1; /* complete on disk already: no event again */
    } else {
        t->state = OA_SWARM_DOWNLOADING;
    }
    OA_LOG(e, OA_LOG_INFO, "%s: checked %u of %u pieces present", t->hex, (unsigned)have,
           (unsigned)n);
    tor_apply_stream(t);
    ids = tor_peer_ids(t, &nids);
    for (k = 0; k < nids; k++) {
        oa_peer *p = oa_torrent_peer_find(t, ids[k]);

        if (p == NULL) {
            continue;
        }
        if (oa_picker_peer_add(t->picker, &p->pk) != 0) {
            p->pk = 0;
            oa_peer_close(p, "no room for it in the piece picker", 0);
            continue;
        }
        oa_peer_metadata_ready(p);
        /* It learned nothing from us before the metadata: a few HAVEs. */
        if (have > 0 && have <= HAVE_BURST_MAX) {
            for (i = 0; i < n; i++) {
                if (oa_bitfield_get(&t->have, i)) {
                    p = oa_torrent_peer_find(t, ids[k]);
                    if (p == NULL) {
                        break;
                    }
                    oa_peer_send_have(p, i);
                }
            }
        }
    }
    free(ids);
    if (pv->mi_fetched) {
        oa_catalog_save(t); /* now with the .torrent bytes */
    }
    if (t->state == OA_SWARM_SEEDING && !e->cfg.seed) {
        tor_close_all_peers(t, "content complete and seeding is off");
    }
    tor_kick(t); /* reads waiting for the check */
}

/* The metadata is known (at add, adopted, or fetched): open the storage
 * and start the resume check. Takes ownership of mi. */
void tor_metadata_known(oa_torrent *t, oa_metainfo *mi, int fetched)
{
    torrent_priv *pv = tpriv(t);
    char err[200];
    uint32_t n;
    int rc;

    t->mi = mi;
    pv->mi_fetched = fetched;
    if (t->fetch != NULL) {
        oa_meta_fetch_free(t->fetch);
        t->fetch = NULL;
    }
    t->state = OA_SWARM_CHECKING;
    t->error[0] = '\0';
    tor_ready_schedule_all(t);
    if (mi->piece_count == 0 || mi->piece_count > (size_t)INT32_MAX ||
        mi->piece_length > ((uint64_t)1 << 31)) {
        tor_set_error(t, OA_ERANGE, "The content's pieces are too many or too large.");
        return;
    }
    n = (uint32_t)mi->piece_count;
    err[0] = '\0';
    rc = oa_storage_open(mi, t->save_dir, NULL, &t->storage, err, sizeof(err));
    if (rc != 0) {
        char msg[260];

        t->storage = NULL;
        snprintf(msg, sizeof(msg), "The download folder cannot be used: %s",
                 err[0] != '\0' ? err : oa_strerror(rc));
        tor_set_error(t, rc == OA_ENOMEM ? rc : OA_EIO, msg);
        return;
    }
    if (oa_bitfield_init(&t->have, n) != 0 || oa_bitfield_init(&pv->check_bf, n) != 0) {
        tor_set_error(t, OA_ENOMEM, "Out of memory for the content's piece bitfield.");
        return;
    }
    pv->checking = 1;
    pv->check_next = 0;
    pv->check_inflight = 0;
    check_issue(t);
}

/* ---- the metadata fetch ---------------------------------------------------- */

void tor_fetch_service(oa_torrent *t, uint64_t now)
{
    oa_meta_ban bans[16];
    oa_meta_request req;
    oa_metainfo *mi = NULL;
    char err[200];
    size_t n, i;
    int rc;

    if (t->fetch == NULL || t->closing) {
        return;
    }
    do {
        n = oa_meta_fetch_take_bans(t->fetch, bans, 16);
        for (i = 0; i < n; i++) {
            oa_peer *p = oa_torrent_peer_find(t, bans[i].peer);

            if (p != NULL) {
                oa_peer_close(p, bans[i].why, 1);
            }
        }
    } while (n == 16 && t->fetch != NULL);
    if (t->fetch == NULL || t->closing) {
        return;
    }
    err[0] = '\0';
    /* live: oa_live_meta_data() takes the descriptor, never a parsed result */
    rc = t->live != NULL ? OA_ESTATE : oa_meta_fetch_result(t->fetch, &mi, err, sizeof(err));
    if (rc == 0) {
        OA_LOG(t->e, OA_LOG_INFO, "%s: metadata fetched from peers (%s)", t->hex, mi->name);
        tor_metadata_known(t, mi, 1);
        return;
    }
    if (rc != OA_ESTATE) {
        char msg[260];

        oa_meta_fetch_free(t->fetch);
        t->fetch = NULL;
        snprintf(msg, sizeof(msg), "The metadata from peers is not a valid torrent: %s",
                 err[0] != '\0' ? err : oa_strerror(rc));
        tor_set_error(t, rc, msg);
        return;
    }
    while (t->fetch != NULL && oa_meta_fetch_next(t->fetch, now, &req) == 1) {
        oa_peer *p = oa_torrent_peer_find(t, req.peer);

        if (p == NULL) {
            oa_meta_fetch_peer_gone(t->fetch, req.peer);
            continue;
        }
        oa_peer_send_meta_request(p, req.piece);
    }
}

void oa_torrent_meta_peer(oa_torrent *t, oa_peer *p, uint64_t metadata_size)
{
    if (t->fetch == NULL || t->closing) {
        return;
    }
    if (t->live != NULL && !oa_live_meta_size_ok(t, p, metadata_size)) {
        return; /* live.c failed the peer: no descriptor is that large */
    }
    if (oa_meta_fetch_peer(t->fetch, p->id, metadata_size) == 0) {
        tor_kick(t);
    }
}

void oa_torrent_meta_data(oa_torrent *t, oa_peer *p, const oa_meta_msg *msg)
{
    int rc;

    if (t->fetch == NULL || t->closing) {
        return;
    }
    if (t->live != NULL) {
        oa_live_meta_data(t, p, msg); /* a live descriptor, not an info dictionary */
        tor_kick(t);
        return;
    }
    rc = oa_meta_fetch_on_data(t->fetch, p->id, msg);
    if (rc == OA_META_HASH_FAILED) {
        OA_LOG(t->e, OA_LOG_WARN, "%s: fetched metadata does not match the info-hash; refetching",
               t->hex);
    }
    /* bans, the result and further requests are handled on the kick, out
     * of the peer's own call stack */
    tor_kick(t);
}

void oa_torrent_meta_reject(oa_torrent *t, oa_peer *p, uint32_t piece)
{
    if (t->fetch == NULL || t->closing) {
        return;
    }
    if (oa_meta_fetch_on_reject(t->fetch, p->id, piece, oa_engine_now(t->e)) == 0) {
        tor_kick(t);
    }
}

/* ---- choking ------------------------------------------------------------- */

/* A new choker for cfg.upload_slots; 0 or OA_E*. t->choker is replaced
 * only on success. */
int tor_choker_make(oa_torrent *t)
{
    oa_engine *e = t->e;
    oa_choker_config cc;
    oa_choker *ch = NULL;
    int rc;

    oa_choker_config_default(&cc);
    cc.upload_slots = e->cfg.upload_slots;
    cc.seed = oa_engine_random(e);
    rc = oa_choker_new(&cc, &ch);
    if (rc != 0) {
        return rc;
    }
    oa_choker_free(t->choker);
    t->choker = ch;
    tpriv(t)->choker_slots = cc.upload_slots;
    return 0;
}

void tor_choke_round(oa_torrent *t, uint64_t now)
{
    oa_choker_peer *views;
    oa_choker_change *changes;
    size_t n = 0, nch = 0, i;
    oa_peer *p;

    tpriv(t)->choke_due = 0;
    /* upload_slots is live: the choker has no setter, and a round computes
     * everything again, so a new choker takes the new count */
    if (t->choker != NULL && tpriv(t)->choker_slots != t->e->cfg.upload_slots &&
        tor_choker_make(t) != 0) {
        OA_LOG(t->e, OA_LOG_WARN, "%s: the choker keeps %u upload slots (out of memory)",
               t->hex, tpriv(t)->choker_slots);
        tpriv(t)->choker_slots = t->e->cfg.upload_slots; /* not every round again */
    }
    if (t->choker == NULL || t->peer_count == 0) {
        return;
    }
    views = calloc(t->peer_count, sizeof(*views));
    changes = calloc(t->peer_count, sizeof(*changes));
    if (views == NULL || changes == NULL) {
        free(views);
        free(changes);
        return;
    }
    for (p = t->peers; p != NULL && n < t->peer_count; p = p->tnext) {
        oa_peer_choker_view(p, &views[n]);
        views[n].id = p->id;
        n++;
    }
    if (oa_choker_round(t->choker, now, t->state == OA_SWARM_SEEDING, views, n, changes,
                        &nch) == 0) {
        for (i = 0; i < nch; i++) {
            p = oa_torrent_peer_find(t, changes[i].id);
            if (p != NULL) {
                oa_peer_send_choke(p, changes[i].unchoke ? 0 : 1);
            }
        }
    }
    free(views);
    free(changes);
}

/* ---- trackers ----------------------------------------------------------- */

static void tracker_peers(void *arg, const char *const *peers, size_t count)
{
    oa_torrent_add_candidates((oa_torrent *)arg, peers, count);
}

static void tracker_status(void *arg, const oa_tracker_status *st)
{
    oa_torrent *t = arg;

    if (st->error != 0) {
        OA_LOG(t->e, OA_LOG_DEBUG, "%s: tracker %s: %s", t->hex, st->url,
               st->message != NULL ? st->message : oa_strerror(st->error));
    } else {
        OA_LOG(t->e, OA_LOG_DEBUG, "%s: tracker %s gave %zu peers", t->hex, st->url,
               st->peer_count);
        if (st->complete >= 0) {
            t->swarm_seeds = st->complete;
        }
        if (st->incomplete >= 0) {
            t->swarm_leechers = st->incomplete;
        }
    }
}

/* ---- scrape (BEP 48): the swarm's size between announces ------------------- */

#define SCRAPE_FIRST_MS 30000u               /* after the started announce */
#define SCRAPE_INTERVAL_MS (15u * 60u * 1000u)

static void scrape_done(void *arg, int error, const char *message,
                        const oa_tracker_scrape_file *file)
{
    oa_torrent *t = arg;

    tpriv(t)->scraping = 0;
    if (error != 0) {
        OA_LOG(t->e, OA_LOG_DEBUG, "%s: scrape: %s", t->hex,
               message != NULL ? message : oa_strerror(error));
        return;
    }
    if (file->complete >= 0) {
        t->swarm_seeds = file->complete;
    }
    if (file->incomplete >= 0) {
        t->swarm_leechers = file->incomplete;
    }
    if (file->downloaded >= 0) {
        t->swarm_downloads = file->downloaded;
    }
}

void tor_scrape_tick(oa_torrent *t, uint64_t now)
{
    torrent_priv *pv = tpriv(t);
    int rc;

    if (t->tracker == NULL || t->closing || pv->scraping || pv->next_scrape_ms == UINT64_MAX) {
        return;
    }
    if (pv->next_scrape_ms == 0) {
        pv->next_scrape_ms = now + SCRAPE_FIRST_MS;
        return;
    }
    if (now < pv->next_scrape_ms) {
        return;
    }
    rc = oa_tracker_scrape(t->tracker, scrape_done, t);
    if (rc == OA_ENOSYS) {
        pv->next_scrape_ms = UINT64_MAX; /* no tracker of this content has a scrape URL */
        return;
    }
    pv->scraping = rc == 0;
    pv->next_scrape_ms = now + SCRAPE_INTERVAL_MS;
}

static void tracker_counters(void *arg, uint64_t *uploaded, uint64_t *downloaded, uint64_t *left)
{
    oa_torrent *t = arg;

    *uploaded = t->uploaded;
    *downloaded = t->downloaded;
    if (t->mi == NULL) {
        *left = LEFT_UNKNOWN;
    } else {
        *left = t->mi->total_length - tor_have_bytes(t);
    }
}

/* Adds urls as one tier when any is accepted; *tiers counts tiers made. */
static void tracker_add_tier(oa_tracker *tr, const char *const *urls, size_t n, size_t *tiers)
{
    size_t i;
    int added = 0;

    for (i = 0; i < n; i++) {
        if (urls[i] != NULL && oa_tracker_add(tr, *tiers, urls[i]) == 0) {
            added = 1;
        }
    }
    if (added) {
        (*tiers)++;
    }
}

void tor_trackers_start(oa_torrent *t, const oa_magnet *mag)
{
    oa_engine *e = t->e;
    oa_tracker_config tc;
    oa_tracker_callbacks cbs;
    oa_tracker *tr = NULL;
    size_t tiers = 0, i;
    int rc;

    if (e->http == NULL) {
        return;
    }
    memset(&tc, 0, sizeof(tc));
    memcpy(tc.info_hash, t->info_hash, 20);
    memcpy(tc.peer_id, e->peer_id, 20);
    tc.port = e->cfg.port;
    tc.stop_timeout_ms = 3000; /* bounds how long a shutdown waits for trackers */
    memset(&cbs, 0, sizeof(cbs));
    cbs.peers = tracker_peers;
    cbs.status = tracker_status;
    cbs.counters = tracker_counters;
    if (oa_tracker_new(e->http, &tc, &cbs, t, &tr) != 0) {
        return;
    }
    if (t->mi != NULL) {
        for (i = 0; i < t->mi->tier_count; i++) {
            tracker_add_tier(tr, (const char *const *)t->mi->tiers[i].urls,
                             t->mi->tiers[i].count, &tiers);
        }
        if (t->mi->tier_count == 0 && t->mi->announce != NULL) {
            const char *one[1] = {t->mi->announce};

            tracker_add_tier(tr, one, 1, &tiers);
        }
    }
    if (mag != NULL && mag->tracker_count > 0) {
        tracker_add_tier(tr, (const char *const *)mag->trackers, mag->tracker_count, &tiers);
    }
    if (e->cfg.trackers[0] != '\0') {
        char list[sizeof(e->cfg.trackers)];
        char *save = NULL;
        char *tok;
        int added = 0;

        snprintf(list, sizeof(list), "%s", e->cfg.trackers);
        for (tok = strtok_r(list, " \t,", &save); tok != NULL;
             tok = strtok_r(NULL, " \t,", &save)) {
            if (oa_tracker_add(tr, tiers, tok) == 0) {
                added = 1;
            }
        }
        if (added) {
            tiers++;
        }
    }
    rc = oa_tracker_count(tr) > 0 ? oa_tracker_start(tr) : OA_ENOENT;
    if (rc != 0) {
        if (rc != OA_ENOENT) {
            OA_LOG(e, OA_LOG_WARN, "%s: trackers could not start: %s", t->hex, oa_strerror(rc));
        }
        oa_tracker_close(tr, 0, NULL, NULL);
        return;
    }
    t->tracker = tr;
}

/* ---- adding ----------------------------------------------------------------- */

int tor_read_torrent_file(const char *path, uint8_t **out, size_t *len, char *err,
                          size_t errlen)
{
    FILE *f;
    struct stat sb;
    uint8_t *buf;
    size_t got;

    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "The torrent file %s cannot be opened: %s.", path,
                 strerror(errno));
        return OA_EIO;
    }
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file.", path);
        fclose(f);
        return OA_EIO;
    }
    if ((uint64_t)sb.st_size > TORRENT_FILE_MAX || sb.st_size == 0) {
        snprintf(err, errlen, "The torrent file %s is %s (at most 16 MiB).", path,
                 sb.st_size == 0 ? "empty" : "too large");
        fclose(f);
        return OA_EPROTO;
    }
    buf = malloc((size_t)sb.st_size);
    if (buf == NULL) {
        fclose(f);
        snprintf(err, errlen, "Out of memory reading %s.", path);
        return OA_ENOMEM;
    }
    got = fread(buf, 1, (size_t)sb.st_size, f);
    if (got != (size_t)sb.st_size) {
        snprintf(err, errlen, "The torrent file %s could not be read in full.", path);
        free(buf);
        fclose(f);
        return OA_EIO;
    }
    fclose(f);
    *out = buf;
    *len = got;
    return 0;
}

int tor_is_hex40(const char *s)
{
    size_t i;

    for (i = 0; i < 40; i++) {
        char c = s[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return s[40] == '\0';
}

void tor_magnet_candidates(oa_torrent *t, const oa_magnet *mag)
{
    size_t i;

    for (i = 0; mag != NULL && i < mag->peer_count; i++) {
        char addr[OA_ADDR_MAX];
        const char *one[1];
        const char *host = mag->peers[i].host;
        int n;

        if (strchr(host, ':') != NULL) {
            n = snprintf(addr, sizeof(addr), "[%s]:%u", host, (unsigned)mag->peers[i].port);
        } else {
            n = snprintf(addr, sizeof(addr), "%s:%u", host, (unsigned)mag->peers[i].port);
        }
        if (n <= 0 || (size_t)n >= sizeof(addr)) {
            continue;
        }
        one[0] = addr;
        oa_torrent_add_candidates(t, one, 1);
    }
}

/*
 * One content's data (engine.h, torrent_int.h): the service's reads, the
 * read cache of verified pieces, serving blocks to peers, piece buffers
 * filled by peers, hashed and written by worker jobs, and the jobs' done
 * callback. The lifetime and re-entrancy rules are at the top of
 * torrent.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "torrent_int.h"

#define READ_MAX ((size_t)4 * 1024 * 1024)
#define VERIFIED_EVENT_MS 1000u    /* swarm.piece.verified at most this often */
#define SENDERS_CAP 64u
#define SERVE_LOADING_MIN ((uint64_t)16 * 1024 * 1024) /* pieces being read to serve */

static void job_done(void *arg, int status);

/* ---- the read cache ----------------------------------------------------- */

static cache_ent *cache_find(oa_torrent *t, uint32_t piece)
{
    cache_ent *c;

    for (c = tcache(t)->head; c != NULL; c = c->next) {
        if (c->piece == piece) {
            return c;
        }
    }
    return NULL;
}

static void cache_unlink(oa_torrent *t, cache_ent *ent)
{
    cache_ent **pc;

    for (pc = &tcache(t)->head; *pc != NULL; pc = &(*pc)->next) {
        if (*pc == ent) {
            *pc = ent->next;
            return;
        }
    }
}

static void cache_ent_free(cache_ent *ent)
{
    serve_waiter *w;

    while ((w = ent->waiters) != NULL) {
        ent->waiters = w->next;
        free(w);
    }
    free(ent->data);
    free(ent);
}

/* Drops least recently used pieces over cfg.read_cache_bytes; entries being
 * loaded stay. */
static void cache_evict(oa_torrent *t)
{
    read_cache *rc = tcache(t);
    uint64_t limit = t->e->cfg.read_cache_bytes;

    while (rc->bytes > limit) {
        cache_ent *c;
        cache_ent *victim = NULL;

        for (c = rc->head; c != NULL; c = c->next) {
            if (!c->loading && c->data != NULL && (victim == NULL || c->lru < victim->lru)) {
                victim = c;
            }
        }
        if (victim == NULL) {
            break;
        }
        cache_unlink(t, victim);
        rc->bytes -= victim->length;
        cache_ent_free(victim);
    }
}

/* Keeps data (length bytes of piece, malloc'd) as a verified piece; takes
 * ownership either way. */
static void cache_put(oa_torrent *t, uint32_t piece, uint8_t *data, uint32_t length)
{
    read_cache *rc = tcache(t);
    cache_ent *ent = cache_find(t, piece);

    if (ent != NULL || t->e->cfg.read_cache_bytes < length) {
        free(data); /* already there (cannot happen), or no room at all */
        return;
    }
    ent = calloc(1, sizeof(*ent));
    if (ent == NULL) {
        free(data);
        return;
    }
    ent->piece = piece;
    ent->length = length;
    ent->data = data;
    ent->lru = ++rc->clock;
    ent->wtail = &ent->waiters;
    ent->next = rc->head;
    rc->head = ent;
    rc->bytes += length;
    cache_evict(t);
}

void tor_cache_free_all(oa_torrent *t)
{
    read_cache *rc = tcache(t);
    cache_ent *c;

    if (rc == NULL) {
        return;
    }
    while ((c = rc->head) != NULL) {
        rc->head = c->next;
        cache_ent_free(c);
    }
    free(rc);
    t->cache = NULL;
}

/* ---- worker jobs ---------------------------------------------------------- */

static void job_work(void *arg)
{
    job *j = arg;

    switch (j->kind) {
    case JOB_CHECK:
        j->rc = oa_storage_check(j->storage, j->first, j->count, j->bf, j->err, sizeof(j->err));
        break;
    case JOB_HASH: {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;

        j->ok = 0;
        j->rc = 0;
        if (EVP_Digest(j->buf->data, j->buf->length, md, &mdlen, EVP_sha1(), NULL) != 1 ||
            mdlen != OA_SHA1_LEN) {
            j->rc = OA_ENOSYS;
            snprintf(j->err, sizeof(j->err), "SHA-1 is not available from OpenSSL");
            break;
        }
        if (memcmp(md, j->expect, OA_SHA1_LEN) != 0) {
            break;
        }
        j->ok = 1;
        j->rc = oa_storage_write(j->storage, j->buf->piece, 0, j->buf->data, j->buf->length,
                                 j->err, sizeof(j->err));
        break;
    }
    case JOB_SERVE:
        j->rc = oa_storage_read(j->storage, j->piece, 0, j->data, j->length, j->err,
                                sizeof(j->err));
        break;
    case JOB_READ:
        j->rc = oa_storage_read_at(j->storage, j->offset, j->data, j->len, j->err,
                                   sizeof(j->err));
        break;
    }
}

int tor_job_queue(oa_torrent *t, job *j)
{
    int rc;

    j->t = t;
    j->storage = t->storage;
    rc = t->e->api->queue_work(t->e->self, job_work, job_done, j);
    if (rc == 0) {
        t->jobs++;
    }
    return rc;
}

/* ---- reads of the service ---------------------------------------------------- */

void tor_read_unlink(oa_torrent *t, struct oa_torrent_read *r)
{
    struct oa_torrent_read **pr;

    for (pr = &t->reads; *pr != NULL; pr = &(*pr)->next) {
        if (*pr == r) {
            *pr = r->next;
            r->next = NULL;
            return;
        }
    }
}

void tor_read_free(oa_torrent *t, struct oa_torrent_read *r)
{
    tor_read_unlink(t, r);
    free((read_priv *)r);
}

static int range_have(oa_torrent *t, uint64_t offset, size_t len)
{
    uint64_t plen = t->mi->piece_length;
    uint32_t first = (uint32_t)(offset / plen);
    uint32_t last = (uint32_t)((offset + len - 1) / plen);
    uint32_t i;

    for (i = first; i <= last; i++) {
        if (!oa_bitfield_get(&t->have, i)) {
            return 0;
        }
    }
    return 1;
}

static int range_cached(oa_torrent *t, uint64_t offset, size_t len)
{
    uint64_t plen = t->mi->piece_length;
    uint32_t first = (uint32_t)(offset / plen);
    uint32_t last = (uint32_t)((offset + len - 1) / plen);
    uint32_t i;

    for (i = first; i <= last; i++) {
        cache_ent *c = cache_find(t, i);

        if (c == NULL || c->data == NULL) {
            return 0;
        }
    }
    return 1;
}

/* Calls a read's callback and frees the read; the caller holds t. */
static void read_finish(oa_torrent *t, struct oa_torrent_read *r, int status, const uint8_t *data,
                        size_t len)
{
    oa_swarm_read_cb cb = r->cb;
    void *arg = r->arg;
    oa_swarm_handle *h = r->h;

    tor_read_free(t, r);
    if (cb != NULL) {
        cb(arg, h, status, status == 0 ? data : NULL, status == 0 ? len : 0);
    }
}

/* Serves one read from the cache; returns 0, or OA_ENOMEM. */
static int read_from_cache(oa_torrent *t, struct oa_torrent_read *r)
{
    read_cache *rc = tcache(t);
    uint64_t plen = t->mi->piece_length;
    uint32_t first = (uint32_t)(r->offset / plen);
    uint32_t last = (uint32_t)((r->offset + r->len - 1) / plen);
    uint8_t *buf;
    size_t done = 0;
    uint32_t i;

    if (first == last) {
        cache_ent *c = cache_find(t, first);

        c->lru = ++rc->clock;
        read_finish(t, r, 0, c->data + (r->offset - (uint64_t)first * plen), r->len);
        return 0;
    }
    buf = malloc(r->len);
    if (buf == NULL) {
        return OA_ENOMEM;
    }
    for (i = first; i <= last; i++) {
        cache_ent *c = cache_find(t, i);
        uint64_t pstart = (uint64_t)i * plen;
        uint64_t from = r->offset + done - pstart;
        size_t n = c->length - (size_t)from;

        if (n > r->len - done) {
            n = r->len - done;
        }
        memcpy(buf + done, c->data + from, n);
        done += n;
        c->lru = ++rc->clock;
    }
    read_finish(t, r, 0, buf, r->len);
    free(buf);
    return 0;
}

/* Completes the reads whose pieces are all verified. Consumer callbacks run
 * here: call it only from the kick (never inside a call into the torrent).
 * t may be freed when it returns. */
void tor_reads_pump(oa_torrent *t)
{
    torrent_priv *pv = tpriv(t);
    struct oa_torrent_read *r;

    pv->holds++;
restart:
    for (r = t->reads; r != NULL && !t->closing; r = r->next) {
        job *j;

        if (r->in_flight || r->cancelled) {
            continue;
        }
        if (t->state == OA_SWARM_ERROR) {
            read_finish(t, r, pv->err_code != 0 ? pv->err_code : OA_EIO, NULL, 0);
            goto restart;
        }
        if (t->mi == NULL || t->storage == NULL || !range_have(t, r->offset, r->len)) {
            continue;
        }
        if (range_cached(t, r->offset, r->len)) {
            if (read_from_cache(t, r) != 0) {
                read_finish(t, r, OA_ENOMEM, NULL, 0);
            }
            goto restart;
        }
        j = calloc(1, sizeof(*j));
        if (j != NULL) {
            j->data = malloc(r->len);
        }
        if (j == NULL || j->data == NULL) {
            if (j != NULL) {
                free(j);
            }
            read_finish(t, r, OA_ENOMEM, NULL, 0);
            goto restart;
        }
        j->kind = JOB_READ;
        j->rd = (read_priv *)r;
        j->offset = r->offset;
        j->len = r->len;
        if (tor_job_queue(t, j) != 0) {
            free(j->data);
            free(j);
            read_finish(t, r, OA_ENOMEM, NULL, 0);
            goto restart;
        }
        r->in_flight = 1;
        ((read_priv *)r)->jb = j;
    }
    pv->holds--;
    tor_maybe_free(t);
}

static void read_done(oa_torrent *t, job *j, int status)
{
    struct oa_torrent_read *r;

    if (j->rd == NULL) {
        return; /* its handle was detached: the read stays with the handle */
    }
    r = &j->rd->r;
    r->in_flight = 0;
    j->rd->jb = NULL;
    if (status != 0 || t->closing || r->cancelled) {
        tor_read_free(t, r);
        return;
    }
    if (j->rc != 0) {
        OA_LOG(t->e, OA_LOG_WARN, "%s: read of %zu bytes at %llu failed: %s", t->hex, j->len,
               (unsigned long long)j->offset, j->err);
    }
    tpriv(t)->holds++;
    read_finish(t, r, j->rc == 0 ? 0 : (j->rc == OA_ENOMEM ? OA_ENOMEM : OA_EIO), j->data,
                j->len);
    tpriv(t)->holds--;
}

int oa_torrent_read_start(oa_torrent *t, oa_swarm_handle *h, uint64_t offset, size_t len,
                          oa_swarm_read_cb cb, void *arg, struct oa_torrent_read **out)
{
    read_priv *rd;
    struct oa_torrent_read **tail;

    if (t == NULL || cb == NULL) {
        return OA_EINVAL;
    }
    if (t->closing || t->mi == NULL) {
        return OA_ESTATE;
    }
    if (len == 0 || len > READ_MAX) {
        return OA_EINVAL;
    }
    if (offset >= t->mi->total_length) {
        return OA_ERANGE;
    }
    if (len > t->mi->total_length - offset) {
        len = (size_t)(t->mi->total_length - offset);
    }
    rd = calloc(1, sizeof(*rd));
    if (rd == NULL) {
        return OA_ENOMEM;
    }
    rd->t = t;
    rd->r.h = h;
    rd->r.offset = offset;
    rd->r.len = len;
    rd->r.cb = cb;
    rd->r.arg = arg;
    for (tail = &t->reads; *tail != NULL; tail = &(*tail)->next) {
    }
    *tail = &rd->r;
    if (out != NULL) {
        *out = &rd->r;
    }
    tor_kick(t);
    return 0;
}

void oa_torrent_read_cancel(struct oa_torrent_read *r)
{
    oa_torrent *t;

    if (r == NULL) {
        return;
    }
    t = ((read_priv *)r)->t;
    if (t == NULL) {
        /* cancelled by the removal of its content: on its handle's list */
        handle_priv *hp = (handle_priv *)r->h;
        struct oa_torrent_read **pr;

        for (pr = &hp->dead; *pr != NULL; pr = &(*pr)->next) {
            if (*pr == r) {
                *pr = r->next;
                break;
            }
        }
        free((read_priv *)r);
        return;
    }
    if (r->in_flight) {
        r->cancelled = 1; /* the job's done callback frees it */
        return;
    }
    tor_read_free(t, r);
}

/* ---- serving peers ------------------------------------------------------- */

void oa_torrent_block_wanted(oa_torrent *t, oa_peer *p, uint32_t piece, uint32_t begin,
                             uint32_t length)
{
    read_cache *rc = tcache(t);
    uint64_t limit;
    cache_ent *ent;
    serve_waiter *w;
    uint64_t psize;

    if (t->closing || t->mi == NULL || t->storage == NULL || t->state == OA_SWARM_ERROR ||
        !oa_bitfield_get(&t->have, piece)) {
        oa_peer_reject(p, piece, begin, length);
        return;
    }
    psize = oa_metainfo_piece_size(t->mi, piece);
    if (length == 0 || begin >= psize || length > psize - begin) {
        oa_peer_reject(p, piece, begin, length);
        return;
    }
    ent = cache_find(t, piece);
    if (ent != NULL && ent->data != NULL) {
        ent->lru = ++rc->clock;
        oa_peer_send_block(p, piece, begin, ent->data + begin, length); /* counts uploaded */
        return;
    }
    limit = t->e->cfg.read_cache_bytes > SERVE_LOADING_MIN ? t->e->cfg.read_cache_bytes
                                                           : SERVE_LOADING_MIN;
    if (ent == NULL && rc->loading_bytes + psize > limit) {
        oa_peer_reject(p, piece, begin, length); /* too much being read now */
        return;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        oa_peer_reject(p, piece, begin, length);
        return;
    }
    w->peer = p->id;
    w->begin = begin;
    w->length = length;
    if (ent == NULL) {
        job *j = calloc(1, sizeof(*j));

        ent = calloc(1, sizeof(*ent));
        if (j != NULL) {
            j->kind = JOB_SERVE;
            j->piece = piece;
            j->length = (uint32_t)psize;
            j->data = malloc((size_t)psize);
        }
        /* tor_job_queue() is tried last: once it succeeds the job is the
         * pool's, so nothing after it may fail */
        if (ent == NULL || j == NULL || j->data == NULL || tor_job_queue(t, j) != 0) {
            if (j != NULL) {
                free(j->data);
            }
            free(j);
            free(ent);
            free(w);
            oa_peer_reject(p, piece, begin, length);
            return;
        }
        ent->piece = piece;
        ent->length = (uint32_t)psize;
        ent->loading = 1;
        ent->wtail = &ent->waiters;
        ent->next = rc->head;
        rc->head = ent;
        rc->loading_bytes += psize;
    }
    *ent->wtail = w;
    ent->wtail = &w->next;
}

static void serve_done(oa_torrent *t, job *j, int status)
{
    read_cache *rc = tcache(t);
    cache_ent *ent;
    serve_waiter *w;

    if (status != 0 || t->closing) {
        return; /* the entry goes with the torrent */
    }
    for (ent = rc->head; ent != NULL; ent = ent->next) {
        if (ent->piece == j->piece && ent->loading) {
            break;
        }
    }
    if (ent == NULL) {
        return;
    }
    ent->loading = 0;
    rc->loading_bytes -= ent->length;
    if (j->rc != 0) {
        OA_LOG(t->e, OA_LOG_WARN, "%s: piece %u could not be read to serve it: %s", t->hex,
               (unsigned)j->piece, j->err);
        cache_unlink(t, ent);
    } else {
        ent->data = j->data;
        j->data = NULL;
        ent->lru = ++rc->clock;
        rc->bytes += ent->length;
    }
    while ((w = ent->waiters) != NULL) {
        oa_peer *p = oa_torrent_peer_find(t, w->peer);

        ent->waiters = w->next;
        if (p != NULL) {
            if (j->rc == 0) {
                oa_peer_send_block(p, ent->piece, w->begin, ent->data + w->begin, w->length);
            } else {
                oa_peer_reject(p, ent->piece, w->begin, w->length);
            }
        }
        free(w);
    }
    ent->wtail = &ent->waiters;
    if (j->rc != 0) {
        cache_ent_free(ent);
    } else {
        cache_evict(t);
    }
}

/* ---- blocks in, hashing, verification ------------------------------------------ */

void tor_verified_event(oa_torrent *t, uint64_t now, int force)
{
    if (t->verified_since_event == 0 || t->mi == NULL) {
        return;
    }
    if (!force && now < t->last_verified_event_ms + VERIFIED_EVENT_MS) {
        return;
    }
    oa_engine_event(t->e, "swarm.piece.verified",
                    "{\"infohash\":\"%s\",\"pieces\":%u,\"have\":%u,\"total\":%u}", t->hex,
                    (unsigned)t->verified_since_event, (unsigned)oa_bitfield_count(&t->have),
                    (unsigned)t->mi->piece_count);
    t->verified_since_event = 0;
    t->last_verified_event_ms = now;
}

static void piece_buf_unlink(oa_torrent *t, oa_piece_buf *b)
{
    oa_piece_buf **pb;

    for (pb = &t->bufs; *pb != NULL; pb = &(*pb)->next) {
        if (*pb == b) {
            *pb = b->next;
            b->next = NULL;
            return;
        }
    }
}

static void content_completed(oa_torrent *t)
{
    oa_engine *e = t->e;
    char js[300];
    uint64_t *ids;
    size_t n, i;

    t->state = OA_SWARM_SEEDING;
    if (t->completed_sent) {
        return;
    }
    t->completed_sent = 1;
    OA_LOG(e, OA_LOG_INFO, "%s: download complete (%s)", t->hex, t->mi->name);
    oa_engine_event(e, "swarm.content.completed",
                    "{\"infohash\":\"%s\",\"name\":%s,\"total_length\":%llu}", t->hex,
                    oa_json_str(t->mi->name, js, sizeof(js)),
                    (unsigned long long)t->mi->total_length);
    if (t->tracker != NULL) {
        oa_tracker_completed(t->tracker);
    }
    oa_catalog_touch(t);
    if (!e->cfg.seed) {
        ids = tor_peer_ids(t, &n);
        for (i = 0; i < n; i++) {
            oa_peer *p = oa_torrent_peer_find(t, ids[i]);

            if (p != NULL && p->seed) {
                oa_peer_close(p, "both sides have everything and seeding is off", 0);
            }
        }
        free(ids);
    }
}

/* A piece was hashed (and written when it matched), on the loop. */
static void piece_done(oa_torrent *t, oa_piece_buf *b, int ok, int write_rc, const char *werr)
{
    oa_engine *e = t->e;
    uint32_t piece = b->piece;
    uint32_t length = b->length;
    oa_picker_peer senders[SENDERS_CAP];
    size_t nsend = 0, i;
    uint64_t *ids;
    size_t n;

    piece_buf_unlink(t, b);
    if (ok && write_rc != 0) {
        char msg[260];

        free(b->data);
        free(b);
        snprintf(msg, sizeof(msg), "Piece %u could not be written: %s", (unsigned)piece, werr);
        tor_set_error(t, write_rc, msg);
        return;
    }
    if (t->picker == NULL ||
        oa_picker_piece_verified(t->picker, piece, ok, senders, SENDERS_CAP, &nsend) != 0) {
        nsend = 0;
    }
    if (nsend > SENDERS_CAP) {
        nsend = SENDERS_CAP;
    }
    if (ok) {
        oa_bitfield_set(&t->have, piece);
        cache_put(t, piece, b->data, length);
        free(b);
        ids = tor_peer_ids(t, &n);
        for (i = 0; i < n; i++) {
            oa_peer *p = oa_torrent_peer_find(t, ids[i]);

            if (p != NULL) {
                oa_peer_send_have(p, piece);
            }
        }
        free(ids);
        t->verified_since_event++;
        tor_verified_event(t, oa_engine_now(e), 0);
        tor_kick(t); /* reads waiting for this piece */
        if (oa_bitfield_count(&t->have) == t->have.count) {
            tor_verified_event(t, oa_engine_now(e), 1);
            content_completed(t);
        }
        return;
    }
    t->hash_failures++;
    t->wasted += length;
    free(b->data);
    free(b);
    OA_LOG(e, OA_LOG_WARN, "%s: piece %u failed its hash check (%zu senders)", t->hex,
           (unsigned)piece, nsend);
    for (i = 0; i < nsend; i++) {
        oa_peer *p = tor_peer_by_pk(t, senders[i]);

        if (p == NULL) {
            continue;
        }
        p->hash_strikes++;
        if (e->cfg.hash_fail_strikes > 0 && p->hash_strikes >= e->cfg.hash_fail_strikes) {
            char why[96];

            snprintf(why, sizeof(why), "sent %u pieces that failed their hash",
                     p->hash_strikes);
            OA_LOG(e, OA_LOG_WARN, "%s: banning %s: %s", t->hex, p->addr, why);
            oa_peer_close(p, why, 1);
        }
    }
    tor_fill_all_peers(t);
}

/* A complete piece whose buffer was lost (out of memory) or could not be
 * hashed: the picker forgets it and it is downloaded again. */
static void piece_redo(oa_torrent *t, uint32_t piece)
{
    size_t nsend = 0;

    if (t->picker != NULL) {
        oa_picker_piece_verified(t->picker, piece, 0, NULL, 0, &nsend);
    }
    tor_fill_all_peers(t);
}

static void hash_done(oa_torrent *t, job *j, int status)
{
    oa_piece_buf *b = j->buf;

    if (status != 0 || t->closing) {
        return; /* the buffer goes with the torrent */
    }
    b->hashing = 0;
    if (j->rc == OA_ENOSYS) {
        piece_buf_unlink(t, b);
        free(b->data);
        free(b);
        tor_set_error(t, OA_ENOSYS, j->err);
        return;
    }
    piece_done(t, b, j->ok, j->rc, j->err);
}

void oa_torrent_block_in(oa_torrent *t, oa_peer *p, uint32_t piece, uint32_t begin,
                         const uint8_t *data, size_t len)
{
    oa_picker_arrival res;
    oa_piece_buf *b;
    size_t i;
    int rc;

    /* peer.c counts t->downloaded (and the waste it sees itself) */
    if (t->closing || t->picker == NULL || p->pk == 0 || t->state == OA_SWARM_ERROR ||
        len > UINT32_MAX) {
        t->wasted += len;
        return;
    }
    memset(&res, 0, sizeof(res));
    rc = oa_picker_block_received(t->picker, p->pk, piece, begin, (uint32_t)len, &res);
    if (rc != 0) {
        t->wasted += len;
        return;
    }
    for (i = 0; i < res.n_cancel && i < OA_PICKER_MAX_HOLDERS; i++) {
        oa_peer *q = tor_peer_by_pk(t, res.cancel[i]);

        if (q != NULL && q != p) {
            oa_peer_send_cancel(q, piece, begin, (uint32_t)len);
        }
    }
    if (!res.wanted) {
        t->wasted += len;
        return;
    }
    for (b = t->bufs; b != NULL; b = b->next) {
        if (b->piece == piece) {
            break;
        }
    }
    if (b == NULL) {
        uint32_t plen = oa_picker_piece_size(t->picker, piece);

        b = calloc(1, sizeof(*b));
        if (b != NULL) {
            b->data = malloc(plen);
        }
        if (b == NULL || b->data == NULL) {
            free(b);
            b = NULL;
            OA_LOG(t->e, OA_LOG_ERROR, "%s: out of memory for piece %u", t->hex,
                   (unsigned)piece);
        } else {
            b->piece = piece;
            b->length = plen;
            b->next = t->bufs;
            t->bufs = b;
        }
    }
    if (b != NULL && !b->hashing && (uint64_t)begin + len <= b->length) {
        memcpy(b->data + begin, data, len);
    } else if (b != NULL) {
        b = NULL; /* cannot happen with the picker's grid; refetch */
    }
    if (!res.piece_complete) {
        return;
    }
    if (b == NULL) {
        for (b = t->bufs; b != NULL; b = b->next) {
            if (b->piece == piece && !b->hashing) {
                piece_buf_unlink(t, b);
                free(b->data);
                free(b);
                break;
            }
        }
        piece_redo(t, piece);
        return;
    }
    {
        job *j = calloc(1, sizeof(*j));

        if (j != NULL) {
            j->kind = JOB_HASH;
            j->buf = b;
            memcpy(j->expect, t->mi->piece_hashes + (size_t)piece * OA_SHA1_LEN, OA_SHA1_LEN);
            b->hashing = 1;
        }
        if (j == NULL || tor_job_queue(t, j) != 0) {
            OA_LOG(t->e, OA_LOG_WARN, "%s: piece %u cannot be hashed now (no worker)", t->hex,
                   (unsigned)piece);
            free(j);
            piece_buf_unlink(t, b);
            free(b->data);
            free(b);
            piece_redo(t, piece);
        }
    }
}

/* ---- the job done callback ---------------------------------------------------- */

static void job_done(void *arg, int status)
{
    job *j = arg;
    oa_torrent *t = j->t;

    t->jobs--;
    if (status == 0 && !t->closing) {
        switch (j->kind) {
        case JOB_CHECK:
            tor_check_done(t, j);
            break;
        case JOB_HASH:
            hash_done(t, j, status);
            break;
        case JOB_SERVE:
            serve_done(t, j, status);
            break;
        case JOB_READ:
            read_done(t, j, status);
            break;
        }
    } else if (j->kind == JOB_READ && j->rd != NULL) {
        /* cancelled or removed: the read goes without its callback */
        j->rd->r.in_flight = 0;
        j->rd->jb = NULL;
        tor_read_free(t, &j->rd->r);
    }
    /* A JOB_SERVE entry or JOB_HASH buffer left behind is freed with the
     * torrent (both are still linked to it). */
    free(j->data);
    free(j);
    tor_maybe_free(t);
}

/* ---- playheads -------------------------------------------------------------- */

uint64_t oa_torrent_available(oa_torrent *t, uint64_t offset)
{
    uint64_t plen, end;
    uint32_t piece, next;

    if (t == NULL || t->mi == NULL || t->have.count == 0 || offset >= t->mi->total_length) {
        return 0;
    }
    plen = t->mi->piece_length;
    piece = (uint32_t)(offset / plen);
    if (!oa_bitfield_get(&t->have, piece)) {
        return 0;
    }
    next = oa_bitfield_first_missing(&t->have, piece);
    end = (uint64_t)next * plen;
    if (end > t->mi->total_length) {
        end = t->mi->total_length;
    }
    return end - offset;
}

/*
 * One content of the swarm engine (engine.h): metadata from a .torrent or
 * fetched with BEP 9, the resume check, piece buffers hashed and written on
 * worker threads, the read cache of verified pieces that serves peers and
 * the service's reads, playheads, choker rounds, trackers, candidates and
 * outbound connects.
 *
 * Lifetimes. A torrent is freed once it is closing, no worker job is in
 * flight (t->jobs) and no callback into a consumer is running (holds).
 * Job done callbacks therefore always find their torrent; after a
 * removal, or with OA_ECANCELED, they only free what they own.
 *
 * Re-entrancy. Consumer callbacks (ready, reads) run only from a timer of
 * our own (the "kick", or a handle's ready timer) or from a job's done
 * callback, never inside a call from peer.c or plugin.c, so that a consumer
 * may close handles or remove content from them. Loops over peers that may
 * close a peer (sending, ticking, banning) collect the peer ids first and
 * find each peer again.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "engine.h"
#include "magnet.h"

#define TORRENT_FILE_MAX ((size_t)16 * 1024 * 1024) /* a .torrent read from a path */
#define CHECK_PIECES_PER_JOB 64u   /* resume check: pieces per worker job */
#define CHECK_JOBS_MAX 4u          /* resume check jobs in flight per torrent */
#define CAND_MAX 1000u             /* candidate addresses kept */
#define TRIED_MAX 256u             /* recently tried addresses remembered */
#define TRIED_RETRY_MS 60000u      /* an address is tried again after this */
#define ANNOUNCE_LOW_PEERS 5u      /* fewer peers: ask the trackers for more */
#define ANNOUNCE_MIN_MS 60000u
#define HAVE_BURST_MAX 64u         /* HAVEs sent after the check, at most */
#define READ_MAX ((size_t)4 * 1024 * 1024)
#define TOUCH_MIN_MS 60000u        /* catalog touches for playheads */
#define VERIFIED_EVENT_MS 1000u    /* swarm.piece.verified at most this often */
#define SENDERS_CAP 64u
#define SERVE_LOADING_MIN ((uint64_t)16 * 1024 * 1024) /* pieces being read to serve */
#define LEFT_UNKNOWN ((uint64_t)OA_PICKER_BLOCK_SIZE) /* "left" before the metadata */

/* ---- private state --------------------------------------------------- */

typedef struct tried_addr {
    char addr[OA_ADDR_MAX];
    uint64_t ms;
} tried_addr;

/* A block a peer asked for while its piece is read from disk. */
typedef struct serve_waiter {
    struct serve_waiter *next;
    uint64_t peer;
    uint32_t begin;
    uint32_t length;
} serve_waiter;

/* A verified piece in memory, or one being read (loading, data NULL). */
typedef struct cache_ent {
    struct cache_ent *next;
    uint32_t piece;
    uint32_t length;
    uint8_t *data;
    int loading;
    uint64_t lru;
    serve_waiter *waiters;
    serve_waiter **wtail;
} cache_ent;

typedef struct read_cache {
    cache_ent *head;
    uint64_t bytes;         /* data held by entries that are not loading */
    uint64_t loading_bytes; /* pieces being read for peers */
    uint64_t clock;
} read_cache;

typedef struct torrent_priv {
    char *dn;                 /* the magnet's name, for events until mi */
    oa_bitfield check_bf;     /* the resume check writes here, off the loop */
    uint32_t check_next;
    unsigned check_inflight;
    int checking;
    int mi_fetched;           /* mi came from BEP 9: save the catalog again */
    int err_code;             /* OA_E* of the ERROR state */
    unsigned holds;           /* consumer callbacks running */
    int delete_files;
    int choke_due;            /* an unchoked peer left: a round soon */
    oa_timer *kick;
    oa_swarm_handle *stream_owner;
    tried_addr tried[TRIED_MAX];
    size_t tried_next;
    uint64_t last_announce_ms;
    uint64_t last_touch_ms;
    uint64_t last_tick_ms;
    uint64_t down_mark, up_mark;
} torrent_priv;

typedef struct handle_priv {
    oa_swarm_handle h; /* first: the service's pointer is ours */
    oa_timer *timer;   /* the ready timer, while pending */
} handle_priv;

typedef struct read_priv {
    struct oa_torrent_read r; /* first */
    oa_torrent *t;
} read_priv;

enum job_kind { JOB_CHECK, JOB_HASH, JOB_SERVE, JOB_READ };

typedef struct job {
    enum job_kind kind;
    oa_torrent *t;
    oa_storage *storage;
    int rc;
    char err[160];
    /* JOB_CHECK */
    uint32_t first, count;
    oa_bitfield *bf;
    /* JOB_HASH */
    oa_piece_buf *buf;
    uint8_t expect[OA_SHA1_LEN];
    int ok;
    /* JOB_SERVE */
    uint32_t piece, length;
    uint8_t *data;
    /* JOB_READ */
    read_priv *rd;
    uint64_t offset;
    size_t len;
} job;

static torrent_priv *tpriv(oa_torrent *t)
{
    return (torrent_priv *)t->priv;
}

static read_cache *tcache(oa_torrent *t)
{
    return (read_cache *)t->cache;
}

static void torrent_kick(oa_torrent *t);
static void set_error(oa_torrent *t, int code, const char *msg);
static void maybe_free(oa_torrent *t);

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

static oa_peer *peer_by_pk(oa_torrent *t, oa_picker_peer pk)
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
static uint64_t *peer_ids(oa_torrent *t, size_t *n)
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

static void close_all_peers(oa_torrent *t, const char *why)
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

static void fill_all_peers(oa_torrent *t)
{
    uint64_t *ids;
    size_t n, i;

    if (t->picker == NULL) {
        return;
    }
    ids = peer_ids(t, &n);
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
    if (t->picker != NULL && p->pk != 0) {
        oa_picker_peer_remove(t->picker, p->pk);
    }
    p->pk = 0;
    if (t->fetch != NULL) {
        oa_meta_fetch_peer_gone(t->fetch, p->id);
    }
    if (!t->closing && !p->am_choking) {
        tpriv(t)->choke_due = 1;
        torrent_kick(t);
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
static void add_candidate_list(oa_torrent *t, const char *list)
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

static void connect_candidates(oa_torrent *t, uint64_t now)
{
    const oa_engine_config *cfg = &t->e->cfg;
    unsigned started = 0;
    unsigned per_tick = cfg->connect_per_tick > 0 ? cfg->connect_per_tick : 8;

    while (t->cand_count > 0 && started < per_tick && !t->closing) {
        char *addr;
        int rc;

        if (cfg->max_peers > 0 && t->peer_count + started >= cfg->max_peers) {
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

/* ---- handles and ready callbacks ----------------------------------------- */

static void ready_fire(void *arg, oa_timer *timer)
{
    handle_priv *hp = arg;
    oa_swarm_handle *h = &hp->h;
    oa_torrent *t = h->t;
    int status;

    (void)timer;
    hp->timer = NULL; /* the host releases a one-shot timer itself */
    if (h->ready_called || t->closing) {
        return;
    }
    if (t->state == OA_SWARM_ERROR) {
        status = tpriv(t)->err_code;
    } else if (t->mi != NULL) {
        status = 0;
    } else {
        return; /* still fetching the metadata */
    }
    h->ready_called = 1;
    if (h->ready != NULL) {
        h->ready(h->arg, h, status); /* may close h: touch nothing after */
    }
}

static void ready_schedule(oa_swarm_handle *h)
{
    handle_priv *hp = (handle_priv *)h;
    oa_torrent *t = h->t;
    oa_engine *e = t->e;

    if (h->ready_called || hp->timer != NULL || t->closing) {
        return;
    }
    if (t->mi == NULL && t->state != OA_SWARM_ERROR) {
        return;
    }
    if (e->api->timer_start(e->self, 0, 0, ready_fire, hp, &hp->timer) != 0) {
        hp->timer = NULL; /* the tick tries again */
    }
}

static void ready_schedule_all(oa_torrent *t)
{
    oa_swarm_handle *h;

    for (h = t->handles; h != NULL; h = h->next) {
        ready_schedule(h);
    }
}

int oa_torrent_handle_open(oa_torrent *t, oa_swarm_ready_cb ready, void *arg,
                           oa_swarm_handle **out)
{
    handle_priv *hp;

    if (t == NULL || out == NULL) {
        return OA_EINVAL;
    }
    if (t->closing) {
        return OA_ESTATE;
    }
    hp = calloc(1, sizeof(*hp));
    if (hp == NULL) {
        return OA_ENOMEM;
    }
    hp->h.t = t;
    hp->h.ready = ready;
    hp->h.arg = arg;
    hp->h.playhead = UINT64_MAX;
    hp->h.next = t->handles;
    t->handles = &hp->h;
    ready_schedule(&hp->h);
    *out = &hp->h;
    return 0;
}

static void read_free(oa_torrent *t, struct oa_torrent_read *r);
static void apply_stream(oa_torrent *t);
static void playhead_clear(oa_torrent *t, oa_swarm_handle *h);

/* Frees a handle that is no longer in t->handles. */
static void handle_release(oa_torrent *t, oa_swarm_handle *h)
{
    handle_priv *hp = (handle_priv *)h;
    struct oa_torrent_read *r;
    struct oa_torrent_read *next;

    for (r = t->reads; r != NULL; r = next) {
        next = r->next;
        if (r->h == h) {
            oa_torrent_read_cancel(r);
        }
    }
    if (hp->timer != NULL) {
        t->e->api->timer_stop(hp->timer);
        hp->timer = NULL;
    }
    free(hp);
}

void oa_torrent_handle_close(oa_swarm_handle *h)
{
    oa_torrent *t;
    oa_swarm_handle **hh;

    if (h == NULL) {
        return;
    }
    t = h->t;
    if (h->playhead != UINT64_MAX && !t->closing) {
        playhead_clear(t, h);
    }
    if (tpriv(t)->stream_owner == h) {
        tpriv(t)->stream_owner = NULL;
    }
    for (hh = &t->handles; *hh != NULL; hh = &(*hh)->next) {
        if (*hh == h) {
            *hh = h->next;
            break;
        }
    }
    handle_release(t, h);
}

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

static void cache_free_all(oa_torrent *t)
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

static void job_done(void *arg, int status);

static int job_queue(oa_torrent *t, job *j)
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

/* ---- the resume check ----------------------------------------------------- */

static void check_finished(oa_torrent *t);

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
        if (j == NULL || job_queue(t, j) != 0) {
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

static void check_done(oa_torrent *t, job *j)
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
        set_error(t, rc, msg);
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
    apply_stream(t);
    ids = peer_ids(t, &nids);
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
        close_all_peers(t, "content complete and seeding is off");
    }
    torrent_kick(t); /* reads waiting for the check */
}

/* The metadata is known (at add, adopted, or fetched): open the storage
 * and start the resume check. Takes ownership of mi. */
static void metadata_known(oa_torrent *t, oa_metainfo *mi, int fetched)
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
    ready_schedule_all(t);
    if (mi->piece_count == 0 || mi->piece_count > (size_t)INT32_MAX ||
        mi->piece_length > ((uint64_t)1 << 31)) {
        set_error(t, OA_ERANGE, "The content's pieces are too many or too large.");
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
        set_error(t, rc == OA_ENOMEM ? rc : OA_EIO, msg);
        return;
    }
    if (oa_bitfield_init(&t->have, n) != 0 || oa_bitfield_init(&pv->check_bf, n) != 0) {
        set_error(t, OA_ENOMEM, "Out of memory for the content's piece bitfield.");
        return;
    }
    pv->checking = 1;
    pv->check_next = 0;
    pv->check_inflight = 0;
    check_issue(t);
}

/* ---- errors ------------------------------------------------------------- */

static void set_error(oa_torrent *t, int code, const char *msg)
{
    char js[400];

    if (t->state == OA_SWARM_ERROR || t->closing) {
        return;
    }
    t->state = OA_SWARM_ERROR;
    tpriv(t)->err_code = code < 0 ? code : OA_EIO;
    snprintf(t->error, sizeof(t->error), "%s", msg);
    OA_LOG(t->e, OA_LOG_ERROR, "%s: %s", t->hex, msg);
    oa_engine_event(t->e, "swarm.content.error", "{\"infohash\":\"%s\",\"error\":%s}", t->hex,
                    oa_json_str(msg, js, sizeof(js)));
    ready_schedule_all(t);
    close_all_peers(t, "content error");
    torrent_kick(t); /* fails the pending reads */
}

/* ---- the metadata fetch ---------------------------------------------------- */

static void fetch_service(oa_torrent *t, uint64_t now)
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
    rc = oa_meta_fetch_result(t->fetch, &mi, err, sizeof(err));
    if (rc == 0) {
        OA_LOG(t->e, OA_LOG_INFO, "%s: metadata fetched from peers (%s)", t->hex, mi->name);
        metadata_known(t, mi, 1);
        return;
    }
    if (rc != OA_ESTATE) {
        char msg[260];

        oa_meta_fetch_free(t->fetch);
        t->fetch = NULL;
        snprintf(msg, sizeof(msg), "The metadata from peers is not a valid torrent: %s",
                 err[0] != '\0' ? err : oa_strerror(rc));
        set_error(t, rc, msg);
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
    if (oa_meta_fetch_peer(t->fetch, p->id, metadata_size) == 0) {
        torrent_kick(t);
    }
}

void oa_torrent_meta_data(oa_torrent *t, oa_peer *p, const oa_meta_msg *msg)
{
    int rc;

    if (t->fetch == NULL || t->closing) {
        return;
    }
    rc = oa_meta_fetch_on_data(t->fetch, p->id, msg);
    if (rc == OA_META_HASH_FAILED) {
        OA_LOG(t->e, OA_LOG_WARN, "%s: fetched metadata does not match the info-hash; refetching",
               t->hex);
    }
    /* bans, the result and further requests are handled on the kick, out
     * of the peer's own call stack */
    torrent_kick(t);
}

void oa_torrent_meta_reject(oa_torrent *t, oa_peer *p, uint32_t piece)
{
    if (t->fetch == NULL || t->closing) {
        return;
    }
    if (oa_meta_fetch_on_reject(t->fetch, p->id, piece, oa_engine_now(t->e)) == 0) {
        torrent_kick(t);
    }
}

/* ---- choking ------------------------------------------------------------- */

static void choke_round(oa_torrent *t, uint64_t now)
{
    oa_choker_peer *views;
    oa_choker_change *changes;
    size_t n = 0, nch = 0, i;
    oa_peer *p;

    tpriv(t)->choke_due = 0;
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

/* ---- reads of the service ---------------------------------------------------- */

static void read_unlink(oa_torrent *t, struct oa_torrent_read *r)
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

static void read_free(oa_torrent *t, struct oa_torrent_read *r)
{
    read_unlink(t, r);
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

    read_free(t, r);
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
static void reads_pump(oa_torrent *t)
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
        if (job_queue(t, j) != 0) {
            free(j->data);
            free(j);
            read_finish(t, r, OA_ENOMEM, NULL, 0);
            goto restart;
        }
        r->in_flight = 1;
    }
    pv->holds--;
    maybe_free(t);
}

static void read_done(oa_torrent *t, job *j, int status)
{
    struct oa_torrent_read *r = &j->rd->r;

    r->in_flight = 0;
    if (status != 0 || t->closing || r->cancelled) {
        read_free(t, r);
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
    torrent_kick(t);
    return 0;
}

void oa_torrent_read_cancel(struct oa_torrent_read *r)
{
    oa_torrent *t;

    if (r == NULL) {
        return;
    }
    t = ((read_priv *)r)->t;
    if (r->in_flight) {
        r->cancelled = 1; /* the job's done callback frees it */
        return;
    }
    read_free(t, r);
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
            j->data = malloc((size_t)psize);
        }
        if (ent == NULL || j == NULL || j->data == NULL) {
            if (j != NULL) {
                free(j->data);
            }
            free(j);
            free(ent);
            free(w);
            oa_peer_reject(p, piece, begin, length);
            return;
        }
        j->kind = JOB_SERVE;
        j->piece = piece;
        j->length = (uint32_t)psize;
        if (job_queue(t, j) != 0) {
            free(j->data);
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

static void verified_event(oa_torrent *t, uint64_t now, int force)
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
        ids = peer_ids(t, &n);
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
        set_error(t, write_rc, msg);
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
        ids = peer_ids(t, &n);
        for (i = 0; i < n; i++) {
            oa_peer *p = oa_torrent_peer_find(t, ids[i]);

            if (p != NULL) {
                oa_peer_send_have(p, piece);
            }
        }
        free(ids);
        t->verified_since_event++;
        verified_event(t, oa_engine_now(e), 0);
        torrent_kick(t); /* reads waiting for this piece */
        if (oa_bitfield_count(&t->have) == t->have.count) {
            verified_event(t, oa_engine_now(e), 1);
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
        oa_peer *p = peer_by_pk(t, senders[i]);

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
    fill_all_peers(t);
}

/* A complete piece whose buffer was lost (out of memory) or could not be
 * hashed: the picker forgets it and it is downloaded again. */
static void piece_redo(oa_torrent *t, uint32_t piece)
{
    size_t nsend = 0;

    if (t->picker != NULL) {
        oa_picker_piece_verified(t->picker, piece, 0, NULL, 0, &nsend);
    }
    fill_all_peers(t);
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
        set_error(t, OA_ENOSYS, j->err);
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
        oa_peer *q = peer_by_pk(t, res.cancel[i]);

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
        if (j == NULL || job_queue(t, j) != 0) {
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
            check_done(t, j);
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
    } else if (j->kind == JOB_READ) {
        /* cancelled or removed: the read goes without its callback */
        j->rd->r.in_flight = 0;
        read_free(t, &j->rd->r);
    }
    /* A JOB_SERVE entry or JOB_HASH buffer left behind is freed with the
     * torrent (both are still linked to it). */
    free(j->data);
    free(j);
    maybe_free(t);
}

/* ---- playheads -------------------------------------------------------------- */

static void apply_stream(oa_torrent *t)
{
    oa_swarm_handle *h = tpriv(t)->stream_owner;
    oa_picker_stream st;

    if (t->picker == NULL) {
        return;
    }
    if (h == NULL || h->playhead == UINT64_MAX) {
        oa_picker_clear_stream(t->picker);
        return;
    }
    memset(&st, 0, sizeof(st));
    st.playhead = h->playhead;
    st.window_bytes = t->e->cfg.stream_window_bytes;
    st.window_pieces = 4;
    st.bitrate = h->bitrate;
    st.fallback = 1;
    if (oa_picker_set_stream(t->picker, &st, h->playhead_set_ms) != 0) {
        oa_picker_clear_stream(t->picker);
    }
}

/* Drops h's playhead; the content follows the handle that set one last
 * among the others, or none. */
static void playhead_clear(oa_torrent *t, oa_swarm_handle *h)
{
    torrent_priv *pv = tpriv(t);
    oa_swarm_handle *o;

    h->playhead = UINT64_MAX;
    if (pv->stream_owner != h && pv->stream_owner != NULL) {
        return;
    }
    pv->stream_owner = NULL;
    for (o = t->handles; o != NULL; o = o->next) {
        if (o != h && o->playhead != UINT64_MAX &&
            (pv->stream_owner == NULL || o->playhead_set_ms > pv->stream_owner->playhead_set_ms)) {
            pv->stream_owner = o;
        }
    }
    apply_stream(t);
    fill_all_peers(t);
}

int oa_torrent_set_playhead(oa_torrent *t, oa_swarm_handle *h, uint64_t offset, uint64_t bitrate)
{
    torrent_priv *pv;
    uint64_t now;

    if (t == NULL || h == NULL) {
        return OA_EINVAL;
    }
    if (t->closing || t->mi == NULL) {
        return OA_ESTATE;
    }
    pv = tpriv(t);
    now = oa_engine_now(t->e);
    if (offset == UINT64_MAX) {
        if (h->playhead != UINT64_MAX || pv->stream_owner == h) {
            playhead_clear(t, h);
        }
        return 0;
    }
    if (offset >= t->mi->total_length) {
        return OA_ERANGE;
    }
    h->playhead = offset;
    h->bitrate = bitrate;
    h->playhead_set_ms = now;
    pv->stream_owner = h;
    apply_stream(t);
    fill_all_peers(t);
    t->last_played = (uint64_t)time(NULL);
    if (pv->last_touch_ms == 0 || now >= pv->last_touch_ms + TOUCH_MIN_MS) {
        pv->last_touch_ms = now;
        oa_catalog_touch(t);
    }
    return 0;
}

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

/* ---- the kick: deferred work on the next loop turn --------------------------- */

static void kick_fire(void *arg, oa_timer *timer)
{
    oa_torrent *t = arg;
    torrent_priv *pv = tpriv(t);
    uint64_t now;

    (void)timer;
    pv->kick = NULL;
    if (t->closing) {
        return;
    }
    now = oa_engine_now(t->e);
    pv->holds++;
    fetch_service(t, now);
    if (!t->closing && pv->choke_due) {
        choke_round(t, now);
    }
    pv->holds--;
    reads_pump(t); /* last: t may be gone after it */
}

static void torrent_kick(oa_torrent *t)
{
    torrent_priv *pv = tpriv(t);
    oa_engine *e = t->e;

    if (pv->kick != NULL || t->closing) {
        return;
    }
    if (e->api->timer_start(e->self, 0, 0, kick_fire, t, &pv->kick) != 0) {
        pv->kick = NULL; /* the tick does the work instead */
    }
}

/* ---- the tick ------------------------------------------------------------ */

void oa_torrent_tick(oa_torrent *t, uint64_t now_ms)
{
    torrent_priv *pv = tpriv(t);
    uint64_t *ids;
    size_t n, i;
    oa_swarm_handle *h;

    if (t->closing) {
        return;
    }
    pv->holds++;
    /* rates */
    if (pv->last_tick_ms != 0 && now_ms > pv->last_tick_ms) {
        uint64_t dt = now_ms - pv->last_tick_ms;
        uint64_t down = (t->downloaded - pv->down_mark) * 1000 / dt;
        uint64_t up = (t->uploaded - pv->up_mark) * 1000 / dt;

        t->rate_down = (t->rate_down + down) / 2;
        t->rate_up = (t->rate_up + up) / 2;
    }
    pv->last_tick_ms = now_ms;
    pv->down_mark = t->downloaded;
    pv->up_mark = t->uploaded;

    /* peers: keep-alives, timeouts; a peer may close itself */
    ids = peer_ids(t, &n);
    for (i = 0; i < n && !t->closing; i++) {
        oa_peer *p = oa_torrent_peer_find(t, ids[i]);

        if (p != NULL) {
            oa_peer_tick(p, now_ms);
        }
    }
    free(ids);

    if (!t->closing && t->choker != NULL &&
        (pv->choke_due || oa_choker_next_round(t->choker) <= now_ms)) {
        choke_round(t, now_ms);
    }
    if (!t->closing && t->state != OA_SWARM_ERROR &&
        !(t->state == OA_SWARM_SEEDING && !t->e->cfg.seed)) {
        connect_candidates(t, now_ms);
    }
    if (!t->closing) {
        fetch_service(t, now_ms);
    }
    if (!t->closing && t->tracker != NULL && t->state != OA_SWARM_ERROR &&
        t->peer_count < ANNOUNCE_LOW_PEERS &&
        (pv->last_announce_ms == 0 || now_ms >= pv->last_announce_ms + ANNOUNCE_MIN_MS)) {
        pv->last_announce_ms = now_ms;
        oa_tracker_announce(t->tracker);
    }
    if (!t->closing) {
        verified_event(t, now_ms, 0);
        for (h = t->handles; h != NULL; h = h->next) {
            ready_schedule(h); /* a timer that could not start earlier */
        }
        if (t->reads != NULL) {
            torrent_kick(t);
        }
    }
    /* cfg.cache_limit (disk space over all contents) is plugin.c's. */
    pv->holds--;
    maybe_free(t);
}

/* ---- stats ---------------------------------------------------------------- */

static uint64_t have_bytes(oa_torrent *t)
{
    uint32_t n, cnt;
    uint64_t bytes;

    if (t->mi == NULL || t->have.count == 0) {
        return 0;
    }
    n = t->have.count;
    cnt = oa_bitfield_count(&t->have);
    bytes = (uint64_t)cnt * t->mi->piece_length;
    if (oa_bitfield_get(&t->have, n - 1)) {
        bytes -= t->mi->piece_length - oa_metainfo_piece_size(t->mi, n - 1);
    }
    return bytes;
}

void oa_torrent_stats(oa_torrent *t, oa_swarm_stats *st)
{
    oa_swarm_stats full;
    uint32_t size;
    oa_peer *p;

    if (t == NULL || st == NULL) {
        return;
    }
    size = st->size;
    memset(&full, 0, sizeof(full));
    full.size = size;
    full.state = t->state;
    memcpy(full.info_hash, t->hex, sizeof(full.info_hash));
    if (t->mi != NULL) {
        snprintf(full.name, sizeof(full.name), "%s", t->mi->name);
        full.total_length = t->mi->total_length;
        full.pieces = (uint32_t)t->mi->piece_count;
        full.piece_length = t->mi->piece_length <= UINT32_MAX ? (uint32_t)t->mi->piece_length : 0;
    }
    if (t->state == OA_SWARM_ERROR) {
        snprintf(full.error, sizeof(full.error), "%s", t->error);
    }
    full.have_bytes = have_bytes(t);
    full.pieces_have = t->have.count > 0 ? oa_bitfield_count(&t->have) : 0;
    full.peers = (uint32_t)t->peer_count;
    for (p = t->peers; p != NULL; p = p->tnext) {
        if (p->seed) {
            full.seeds++;
        }
    }
    full.downloaded = t->downloaded;
    full.uploaded = t->uploaded;
    full.download_rate = t->rate_down;
    full.upload_rate = t->rate_up;
    full.wasted = t->wasted;
    full.hash_failures = t->hash_failures;
    if (size >= sizeof(full)) {
        memcpy(st, &full, sizeof(full));
    } else if (size > sizeof(uint32_t)) {
        memcpy(st, &full, size);
    }
    st->size = size;
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
    }
}

static void tracker_counters(void *arg, uint64_t *uploaded, uint64_t *downloaded, uint64_t *left)
{
    oa_torrent *t = arg;

    *uploaded = t->uploaded;
    *downloaded = t->downloaded;
    if (t->mi == NULL) {
        *left = LEFT_UNKNOWN;
    } else {
        *left = t->mi->total_length - have_bytes(t);
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

static void trackers_start(oa_torrent *t, const oa_magnet *mag)
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

static int read_torrent_file(const char *path, uint8_t **out, size_t *len, char *err,
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

static int is_hex40(const char *s)
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

static void magnet_candidates(oa_torrent *t, const oa_magnet *mag)
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

static void torrent_free(oa_torrent *t);

static void put_err(char *err, size_t errlen, const char *fmt, ...) OA_PRINTF(3, 4);

static void put_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int oa_torrent_add(oa_engine *e, const oa_torrent_opts *opts, oa_torrent **out, int *existed,
                   char *err, size_t errlen)
{
    oa_magnet *mag = NULL;
    oa_metainfo *mi = NULL;
    oa_torrent *t = NULL;
    oa_torrent *last;
    torrent_priv *pv;
    const uint8_t *hash;
    char ebuf[256];
    char js1[300], js2[2048];
    const char *save_dir;
    int rc;

    if (existed != NULL) {
        *existed = 0;
    }
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (e == NULL || opts == NULL || out == NULL) {
        return OA_EINVAL;
    }
    ebuf[0] = '\0';
    if (opts->uri != NULL) {
        if (strncasecmp(opts->uri, "magnet:", 7) == 0 || is_hex40(opts->uri)) {
            rc = oa_magnet_parse(opts->uri, &mag, ebuf, sizeof(ebuf));
            if (rc != 0) {
                put_err(err, errlen, "%s", ebuf[0] != '\0' ? ebuf : "The magnet link is malformed.");
                return rc == OA_ENOMEM ? rc : OA_EINVAL;
            }
        } else {
            uint8_t *buf = NULL;
            size_t len = 0;

            if (opts->uri[0] == '\0') {
                put_err(err, errlen, "The content URI is empty.");
                return OA_EINVAL;
            }
            rc = read_torrent_file(opts->uri, &buf, &len, ebuf, sizeof(ebuf));
            if (rc == 0) {
                rc = oa_metainfo_parse(buf, len, &mi, ebuf, sizeof(ebuf));
                free(buf);
            }
            if (rc != 0) {
                put_err(err, errlen, "%s", ebuf);
                return rc;
            }
        }
    } else if (opts->torrent != NULL && opts->torrent_len > 0) {
        rc = oa_metainfo_parse(opts->torrent, opts->torrent_len, &mi, ebuf, sizeof(ebuf));
        if (rc != 0) {
            put_err(err, errlen, "%s", ebuf);
            return rc;
        }
    } else {
        put_err(err, errlen, "Neither a URI nor torrent bytes were given.");
        return OA_EINVAL;
    }
    hash = mag != NULL ? mag->info_hash : mi->info_hash;

    t = oa_engine_find(e, hash);
    if (t != NULL && !t->closing) {
        if (mi != NULL && t->mi == NULL) {
            OA_LOG(e, OA_LOG_INFO, "%s: metadata adopted from a .torrent", t->hex);
            t->state = OA_SWARM_METADATA; /* leaves a metadata ERROR behind */
            t->error[0] = '\0';
            metadata_known(t, mi, 1);
            mi = NULL;
        }
        magnet_candidates(t, mag);
        oa_magnet_free(mag);
        oa_metainfo_free(mi);
        if (existed != NULL) {
            *existed = 1;
        }
        *out = t;
        return 0;
    }
    if (e->cfg.max_torrents > 0 && e->torrent_count >= e->cfg.max_torrents) {
        put_err(err, errlen, "The content limit (%u) is reached.", e->cfg.max_torrents);
        rc = OA_EAGAIN;
        goto fail;
    }

    t = calloc(1, sizeof(*t));
    pv = calloc(1, sizeof(*pv));
    if (t == NULL || pv == NULL) {
        free(pv);
        free(t);
        t = NULL;
        rc = OA_ENOMEM;
        goto fail_nomem;
    }
    t->priv = pv;
    t->e = e;
    memcpy(t->info_hash, hash, 20);
    oa_infohash_to_hex(t->info_hash, t->hex);
    t->cache = calloc(1, sizeof(read_cache));
    save_dir = opts->save_dir != NULL && opts->save_dir[0] != '\0' ? opts->save_dir
                                                                  : e->cfg.download_dir;
    t->save_dir = strdup(save_dir);
    if (mag != NULL && mag->name != NULL) {
        pv->dn = strdup(mag->name);
    }
    if (opts->uri != NULL) {
        if (mag == NULL) {
            char *abs = realpath(opts->uri, NULL);

            t->uri = abs != NULL ? abs : strdup(opts->uri);
        } else {
            t->uri = strdup(opts->uri);
        }
    } else {
        const char *tr[1];
        size_t ntr = 0;

        if (mi->announce != NULL) {
            tr[ntr++] = mi->announce;
        }
        if (oa_magnet_make(t->info_hash, mi->name, tr, ntr, &t->uri) != 0) {
            t->uri = NULL;
        }
    }
    {
        oa_choker_config cc;

        oa_choker_config_default(&cc);
        cc.upload_slots = e->cfg.upload_slots;
        cc.seed = oa_engine_random(e);
        rc = oa_choker_new(&cc, &t->choker);
        if (rc != 0) {
            t->choker = NULL;
        }
    }
    if (t->cache == NULL || t->save_dir == NULL || t->uri == NULL || t->choker == NULL ||
        (mag != NULL && mag->name != NULL && pv->dn == NULL)) {
        rc = OA_ENOMEM;
        goto fail_nomem;
    }
    if (mi == NULL) {
        rc = oa_meta_fetch_new(t->info_hash, NULL, &t->fetch);
        if (rc != 0) {
            t->fetch = NULL;
            goto fail_nomem;
        }
        t->state = OA_SWARM_METADATA;
    } else {
        t->state = OA_SWARM_CHECKING;
    }
    t->added_ms = oa_engine_now(e);
    t->last_played = (uint64_t)time(NULL);

    /* link at the tail: listings keep the order of adding */
    if (e->torrents == NULL) {
        e->torrents = t;
    } else {
        for (last = e->torrents; last->next != NULL; last = last->next) {
        }
        last->next = t;
    }
    e->torrent_count++;

    if (!opts->from_catalog) {
        oa_engine_event(e, "swarm.content.added", "{\"infohash\":\"%s\",\"name\":%s,\"uri\":%s}",
                        t->hex, oa_json_str(mi != NULL ? mi->name : (pv->dn ? pv->dn : ""), js1,
                                            sizeof(js1)),
                        oa_json_str(t->uri, js2, sizeof(js2)));
    }
    OA_LOG(e, OA_LOG_INFO, "%s: added (%s)", t->hex, mi != NULL ? mi->name : "metadata unknown");
    if (mi != NULL) {
        t->mi = mi; /* trackers read it; metadata_known takes it over */
    }
    trackers_start(t, mag);
    if (mi != NULL) {
        t->mi = NULL;
        metadata_known(t, mi, 0);
        mi = NULL;
    }
    oa_catalog_save(t);
    add_candidate_list(t, e->cfg.bootstrap_peers);
    magnet_candidates(t, mag);
    oa_magnet_free(mag);
    *out = t;
    return 0;

fail_nomem:
    put_err(err, errlen, "Out of memory adding content.");
    if (t != NULL) {
        t->closing = 1;
        torrent_free(t);
    }
fail:
    oa_magnet_free(mag);
    oa_metainfo_free(mi);
    return rc;
}

/* ---- removing and freeing ----------------------------------------------------- */

/* Removes the files of the content below save_dir, then the folders they
 * leave empty, never following a symbolic link. */
static int open_dir_at(int dirfd, const char *name)
{
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static void delete_one(oa_engine *e, int base, const char *path)
{
    char buf[4096];
    char *comp[64];
    int fds[64];
    size_t n = 0, i;
    char *s;
    struct stat sb;

    if (strlen(path) >= sizeof(buf)) {
        return;
    }
    snprintf(buf, sizeof(buf), "%s", path);
    for (s = buf; s != NULL && n < 64;) {
        char *slash = strchr(s, '/');

        comp[n++] = s;
        if (slash != NULL) {
            *slash = '\0';
            s = slash + 1;
        } else {
            s = NULL;
        }
    }
    if (s != NULL || n == 0) {
        return; /* deeper than we walk */
    }
    fds[0] = base;
    for (i = 1; i < n; i++) {
        fds[i] = open_dir_at(fds[i - 1], comp[i - 1]);
        if (fds[i] < 0) {
            break;
        }
    }
    if (i == n) {
        if (fstatat(fds[n - 1], comp[n - 1], &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(sb.st_mode) && unlinkat(fds[n - 1], comp[n - 1], 0) != 0) {
            OA_LOG(e, OA_LOG_WARN, "%s could not be deleted: %s", path, strerror(errno));
        }
    }
    /* folders left empty, deepest first; the walk stops at a full one */
    while (i > 1) {
        i--;
        close(fds[i]);
        if (unlinkat(fds[i - 1], comp[i - 1], AT_REMOVEDIR) != 0) {
            while (i > 1) {
                i--;
                close(fds[i]);
            }
            break;
        }
    }
}

static void delete_content_files(oa_torrent *t)
{
    const oa_metainfo *mi = t->mi;
    int root, base;
    size_t i;

    if (mi == NULL || t->save_dir == NULL) {
        return;
    }
    root = open(t->save_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        return;
    }
    base = root;
    if (mi->multi_file) {
        base = open_dir_at(root, mi->name);
        if (base < 0) {
            close(root);
            return;
        }
    }
    for (i = 0; i < mi->file_count; i++) {
        if (mi->files[i].flags & (OA_MI_FILE_PAD | OA_MI_FILE_SYMLINK)) {
            continue;
        }
        delete_one(t->e, base, mi->files[i].path);
    }
    if (base != root) {
        close(base);
        unlinkat(root, mi->name, AT_REMOVEDIR); /* only when empty */
    }
    close(root);
    OA_LOG(t->e, OA_LOG_INFO, "%s: files deleted", t->hex);
}

static void torrent_free(oa_torrent *t)
{
    torrent_priv *pv = tpriv(t);
    oa_piece_buf *b;
    oa_swarm_handle *h;
    size_t i;

    if (pv != NULL && pv->kick != NULL) {
        t->e->api->timer_stop(pv->kick);
        pv->kick = NULL;
    }
    while ((h = t->handles) != NULL) {
        t->handles = h->next;
        handle_release(t, h);
    }
    while (t->reads != NULL) {
        read_free(t, t->reads);
    }
    oa_storage_close(t->storage);
    if (pv != NULL && pv->delete_files) {
        delete_content_files(t);
    }
    while ((b = t->bufs) != NULL) {
        t->bufs = b->next;
        free(b->data);
        free(b);
    }
    cache_free_all(t);
    for (i = 0; i < t->cand_count; i++) {
        free(t->candidates[i]);
    }
    free(t->candidates);
    oa_picker_free(t->picker);
    oa_choker_free(t->choker);
    oa_meta_fetch_free(t->fetch);
    oa_bitfield_free(&t->have);
    if (pv != NULL) {
        oa_bitfield_free(&pv->check_bf);
        free(pv->dn);
        free(pv);
    }
    oa_metainfo_free(t->mi);
    free(t->uri);
    free(t->save_dir);
    free(t);
}

static void maybe_free(oa_torrent *t)
{
    if (t->closing && t->jobs == 0 && tpriv(t)->holds == 0) {
        torrent_free(t);
    }
}

void oa_torrent_remove(oa_torrent *t, int delete_files)
{
    oa_engine *e;
    torrent_priv *pv;
    oa_swarm_handle *h;
    oa_torrent **pt;
    oa_peer *p;
    unsigned rounds;
    int found;

    if (t == NULL || t->closing) {
        return;
    }
    e = t->e;
    pv = tpriv(t);
    t->closing = 1;
    if (pv->kick != NULL) {
        e->api->timer_stop(pv->kick);
        pv->kick = NULL;
    }
    /* handles: reads cancelled, no callbacks */
    pv->stream_owner = NULL;
    while ((h = t->handles) != NULL) {
        t->handles = h->next;
        handle_release(t, h);
    }
    {
        struct oa_torrent_read *r;
        struct oa_torrent_read *next;

        for (r = t->reads; r != NULL; r = next) {
            next = r->next;
            oa_torrent_read_cancel(r);
        }
    }
    close_all_peers(t, "content removed");
    /* outbound connects still under way for this torrent (bounded, in case
     * a closed peer were not unlinked at once) */
    for (rounds = 0; rounds < 100000; rounds++) {
        found = 0;
        for (p = e->unattached; p != NULL; p = p->tnext) {
            if (p->t == t) {
                oa_peer_close(p, "content removed", 0);
                found = 1;
                break;
            }
        }
        if (!found) {
            break;
        }
    }
    if (t->tracker != NULL) {
        oa_tracker_close(t->tracker, e->stopping ? 0 : 1, NULL, NULL);
        t->tracker = NULL;
    }
    for (pt = &e->torrents; *pt != NULL; pt = &(*pt)->next) {
        if (*pt == t) {
            *pt = t->next;
            e->torrent_count--;
            break;
        }
    }
    t->next = NULL;
    if (!e->stopping) {
        oa_catalog_delete(e, t->hex);
        oa_engine_event(e, "swarm.content.removed", "{\"infohash\":\"%s\"}", t->hex);
        OA_LOG(e, OA_LOG_INFO, "%s: removed%s", t->hex, delete_files ? " with its files" : "");
    }
    pv->delete_files = delete_files;
    maybe_free(t);
}

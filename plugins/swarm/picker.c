/* Piece picker, requests: lifecycle, our pieces, the streaming window, the
 * pick passes, arrivals and hash results, over the block states of started
 * pieces (see picker.h for the interface and picker_int.h for the shared
 * state). Peers and the availability order the passes walk are kept in
 * picker_avail.c. */
#include "picker_int.h"

#include <stdlib.h>
#include <string.h>

#define MAX_FAST 64 /* allowed-fast pieces considered per pick */

/* ------------------------------------------------------------------------ */
/* Small helpers. */

static uint32_t block_len(const oa_picker *pk, uint32_t p, uint32_t bi)
{
    uint32_t rest = piece_len(pk, p) - bi * BLK;
    return rest < BLK ? rest : BLK;
}

/* Maps (piece, offset) to a block index; -1 when it is not on the grid. */
static int64_t block_index(const oa_picker *pk, uint32_t p, uint32_t offset)
{
    if (p >= pk->npieces || offset % BLK != 0 || offset >= piece_len(pk, p))
        return -1;
    return offset / BLK;
}

static int available(const oa_picker *pk, uint32_t p)
{
    return pk->avail[p] > 0 || pk->nseeds > 0;
}

static void unreq_delta(oa_picker *pk, uint32_t p, pk_dl *d, int delta)
{
    d->nunreq = (uint32_t)((int64_t)d->nunreq + delta);
    if (available(pk, p))
        pk->unreq += delta;
}

/* ------------------------------------------------------------------------ */
/* Started pieces. */

static int active_add(oa_picker *pk, uint32_t p)
{
    if (pk->nactive == pk->active_cap) {
        uint32_t cap = pk->active_cap ? pk->active_cap * 2 : 16;
        uint32_t *a = realloc(pk->active, cap * sizeof(*a));

        if (a == NULL)
            return OA_ENOMEM;
        pk->active = a;
        pk->active_cap = cap;
    }
    pk->active[pk->nactive++] = p;
    return 0;
}

static void active_remove(oa_picker *pk, uint32_t p)
{
    for (uint32_t i = 0; i < pk->nactive; i++) {
        if (pk->active[i] == p) {
            memmove(&pk->active[i], &pk->active[i + 1],
                    (pk->nactive - i - 1) * sizeof(pk->active[0]));
            pk->nactive--;
            return;
        }
    }
}

/* Returns the download state of p, creating it (all blocks free) if asked. */
static pk_dl *dl_get(oa_picker *pk, uint32_t p, int create)
{
    uint32_t n = piece_blocks(pk, p);
    pk_dl *d = pk->dl[p];

    if (d != NULL || !create)
        return d;
    d = calloc(1, sizeof(*d) + (size_t)n * sizeof(pk_block));
    if (d == NULL)
        return NULL;
    if (active_add(pk, p) != 0) {
        free(d);
        return NULL;
    }
    d->nblocks = n;
    d->nunreq = n;
    pk->dl[p] = d;
    return d;
}

static void dl_free(oa_picker *pk, uint32_t p)
{
    free(pk->dl[p]);
    pk->dl[p] = NULL;
    active_remove(pk, p);
}

/* Removes holder k of block bi of piece p. */
static void holder_remove(oa_picker *pk, uint32_t p, pk_dl *d, pk_block *b, unsigned k)
{
    pk_peer *pr = peer_get(pk, b->holder[k]);

    if (pr != NULL)
        pr->outstanding--;
    for (unsigned i = k + 1; i < b->nreq; i++) {
        b->holder[i - 1] = b->holder[i];
        b->req_ms[i - 1] = b->req_ms[i];
    }
    b->nreq--;
    if (b->nreq == 0 && !b->received)
        unreq_delta(pk, p, d, +1);
}

static int holder_find(const pk_block *b, oa_picker_peer h)
{
    for (unsigned i = 0; i < b->nreq; i++) {
        if (b->holder[i] == h)
            return (int)i;
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Lifecycle. */

void oa_picker_config_default(oa_picker_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = 1;
    cfg->max_duplicates = 1;
    cfg->late_permille = 500;
    cfg->late_min_ms = 250;
}

int oa_picker_new(const oa_picker_config *cfg, oa_picker **out)
{
    oa_picker *pk;
    uint64_t n;
    uint64_t s;

    if (cfg == NULL || out == NULL || cfg->total_length == 0 || cfg->piece_length == 0 ||
        cfg->max_duplicates >= MAXH)
        return OA_EINVAL;
    n = (cfg->total_length + cfg->piece_length - 1) / cfg->piece_length;
    if (n > 0x80000000ull || cfg->piece_length > 0x80000000u)
        return OA_ERANGE;
    pk = calloc(1, sizeof(*pk));
    if (pk == NULL)
        return OA_ENOMEM;
    pk->cfg = *cfg;
    pk->npieces = (uint32_t)n;
    pk->last_len = (uint32_t)(cfg->total_length - (n - 1) * cfg->piece_length);
    /* splitmix64 of the seed gives a non-zero xorshift state. */
    s = cfg->seed + 0x9E3779B97F4A7C15ull;
    s = (s ^ (s >> 30)) * 0xBF58476D1CE4E5B9ull;
    s = (s ^ (s >> 27)) * 0x94D049BB133111EBull;
    s ^= s >> 31;
    pk->rng = s != 0 ? s : 0x2545F4914F6CDD1Dull;
    pk->avail = calloc(n, sizeof(uint32_t));
    pk->order = calloc(n, sizeof(uint32_t));
    pk->pos = calloc(n, sizeof(uint32_t));
    pk->have = calloc(n, 1);
    pk->dl = calloc(n, sizeof(pk_dl *));
    pk->bstart = calloc(2, sizeof(uint32_t));
    if (pk->avail == NULL || pk->order == NULL || pk->pos == NULL || pk->have == NULL ||
        pk->dl == NULL || pk->bstart == NULL) {
        oa_picker_free(pk);
        return OA_ENOMEM;
    }
    pk_order_init(pk);
    *out = pk;
    return 0;
}

void oa_picker_free(oa_picker *pk)
{
    if (pk == NULL)
        return;
    if (pk->dl != NULL) {
        for (uint32_t i = 0; i < pk->nactive; i++)
            free(pk->dl[pk->active[i]]);
    }
    for (uint32_t i = 0; i < pk->peer_cap; i++)
        free(pk->peers[i].bits);
    free(pk->peers);
    free(pk->active);
    free(pk->dl);
    free(pk->have);
    free(pk->bstart);
    free(pk->pos);
    free(pk->order);
    free(pk->avail);
    free(pk);
}

uint32_t oa_picker_num_pieces(const oa_picker *pk)
{
    return pk->npieces;
}

uint32_t oa_picker_piece_size(const oa_picker *pk, uint32_t piece)
{
    return piece < pk->npieces ? piece_len(pk, piece) : 0;
}

/* ------------------------------------------------------------------------ */
/* Our pieces. */

int oa_picker_we_have(oa_picker *pk, uint32_t piece)
{
    pk_dl *d;

    if (piece >= pk->npieces)
        return OA_ERANGE;
    if (pk->have[piece])
        return 0;
    d = pk->dl[piece];
    if (d != NULL) {
        for (uint32_t i = 0; i < d->nblocks; i++) {
            while (d->b[i].nreq > 0)
                holder_remove(pk, piece, d, &d->b[i], d->b[i].nreq - 1);
        }
    }
    if (available(pk, piece))
        pk->unreq -= unreq_of(pk, piece);
    if (d != NULL)
        dl_free(pk, piece);
    pk_order_remove(pk, piece);
    pk->have[piece] = 1;
    pk->nhave++;
    for (uint32_t i = 0; i < pk->peer_cap; i++) {
        pk_peer *pr = &pk->peers[i];

        if (pr->used && !pr->seed && pr->bits != NULL && bit_get(pr->bits, piece))
            pr->interesting--;
    }
    return 0;
}

int oa_picker_have(const oa_picker *pk, uint32_t piece)
{
    return piece < pk->npieces && pk->have[piece];
}

/* ------------------------------------------------------------------------ */
/* Streaming. */

int oa_picker_set_stream(oa_picker *pk, const oa_picker_stream *st, uint64_t now_ms)
{
    uint64_t hi;

    if (st == NULL)
        return OA_EINVAL;
    if (st->playhead >= pk->cfg.total_length)
        return OA_ERANGE;
    pk->st = *st;
    pk->st_ms = now_ms;
    pk->streaming = 1;
    pk->win_lo = (uint32_t)(st->playhead / pk->cfg.piece_length);
    hi = pk->win_lo;
    if (st->window_pieces > 0)
        hi = (uint64_t)pk->win_lo + st->window_pieces - 1;
    if (st->window_bytes > 0) {
        uint64_t last = st->playhead + st->window_bytes - 1;

        if (last >= pk->cfg.total_length || last < st->playhead)
            last = pk->cfg.total_length - 1;
        if (last / pk->cfg.piece_length > hi)
            hi = last / pk->cfg.piece_length;
    }
    pk->win_hi = hi >= pk->npieces ? pk->npieces - 1 : (uint32_t)hi;
    return 0;
}

void oa_picker_clear_stream(oa_picker *pk)
{
    pk->streaming = 0;
}

static int in_window(const oa_picker *pk, uint32_t p)
{
    return pk->streaming && p >= pk->win_lo && p <= pk->win_hi;
}

int oa_picker_deadline(const oa_picker *pk, uint32_t piece, uint64_t *deadline_ms)
{
    uint64_t start;

    if (piece >= pk->npieces)
        return OA_ERANGE;
    if (!in_window(pk, piece) || pk->st.bitrate == 0)
        return OA_ENOENT;
    start = (uint64_t)piece * pk->cfg.piece_length;
    *deadline_ms = pk->st_ms;
    if (start > pk->st.playhead)
        *deadline_ms += (start - pk->st.playhead) * 1000 / pk->st.bitrate;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Picking. */

typedef struct pick_ctx {
    oa_picker *pk;
    pk_peer *pr;
    oa_picker_peer h;
    const oa_picker_ask *ask;
    uint64_t now;
    oa_picker_request *out;
    size_t max;
    size_t n;
} pick_ctx;

static int is_fast(const oa_picker_ask *ask, uint32_t p)
{
    for (size_t i = 0; i < ask->n_allowed_fast; i++) {
        if (ask->allowed_fast[i] == p)
            return 1;
    }
    return 0;
}

/* The peer may be asked for blocks of p. */
static int can_ask(const pick_ctx *c, uint32_t p)
{
    const pk_dl *d = c->pk->dl[p];

    if (c->pk->have[p] || !peer_has(c->pr, p) || (d != NULL && d->verifying))
        return 0;
    return !c->ask->choked || is_fast(c->ask, p);
}

static void assign(pick_ctx *c, uint32_t p, pk_dl *d, uint32_t bi)
{
    pk_block *b = &d->b[bi];

    if (b->nreq == 0)
        unreq_delta(c->pk, p, d, -1);
    b->holder[b->nreq] = c->h;
    b->req_ms[b->nreq] = c->now;
    b->nreq++;
    c->pr->outstanding++;
    c->out[c->n].piece = p;
    c->out[c->n].offset = bi * BLK;
    c->out[c->n].length = block_len(c->pk, p, bi);
    c->n++;
}

/* Takes the free blocks of p in order until the batch is full. */
static int take_free(pick_ctx *c, uint32_t p)
{
    pk_dl *d = c->pk->dl[p];

    if (d != NULL && d->nunreq == 0)
        return 0;
    d = dl_get(c->pk, p, 1);
    if (d == NULL)
        return OA_ENOMEM;
    for (uint32_t bi = 0; bi < d->nblocks && c->n < c->max; bi++) {
        if (!d->b[bi].received && d->b[bi].nreq == 0)
            assign(c, p, d, bi);
    }
    return 0;
}

/* A requested block of a window piece may be duplicated to this peer: the
 * newest request is late for the piece's deadline and this peer is faster
 * than every peer holding it. */
static int late_dup_ok(const pick_ctx *c, uint32_t p, const pk_block *b)
{
    const oa_picker *pk = c->pk;
    uint64_t t = 0;
    uint64_t deadline;
    uint64_t allow = 0;

    if (b->nreq == 0 || b->nreq > pk->cfg.max_duplicates || holder_find(b, c->h) >= 0)
        return 0;
    if (oa_picker_deadline(pk, p, &deadline) != 0)
        return 0;
    for (unsigned i = 0; i < b->nreq; i++) {
        const pk_peer *hp = peer_get(pk, b->holder[i]);

        if (hp != NULL && hp->rate >= c->pr->rate)
            return 0;
        if (b->req_ms[i] > t)
            t = b->req_ms[i];
    }
    if (deadline > t)
        allow = (deadline - t) * pk->cfg.late_permille / 1000;
    if (allow < pk->cfg.late_min_ms)
        allow = pk->cfg.late_min_ms;
    return c->now > t && c->now - t > allow;
}

static int take_window(pick_ctx *c)
{
    oa_picker *pk = c->pk;

    for (uint32_t p = pk->win_lo; p <= pk->win_hi && c->n < c->max; p++) {
        pk_dl *d = pk->dl[p];

        if (!can_ask(c, p))
            continue;
        if (d == NULL) {
            if (take_free(c, p) != 0)
                return OA_ENOMEM;
            continue;
        }
        for (uint32_t bi = 0; bi < d->nblocks && c->n < c->max; bi++) {
            pk_block *b = &d->b[bi];

            if (b->received)
                continue;
            if (b->nreq == 0 || late_dup_ok(c, p, b))
                assign(c, p, d, bi);
        }
    }
    return 0;
}

static int take_started(pick_ctx *c)
{
    oa_picker *pk = c->pk;

    for (uint32_t i = 0; i < pk->nactive && c->n < c->max; i++) {
        uint32_t p = pk->active[i];

        if (!in_window(pk, p) && can_ask(c, p) && take_free(c, p) != 0)
            return OA_ENOMEM;
    }
    return 0;
}

static int by_rank(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static int take_rarest(pick_ctx *c)
{
    oa_picker *pk = c->pk;

    if (c->ask->choked) {
        /* Only the allowed-fast pieces, in availability order. */
        uint64_t key[MAX_FAST];
        size_t n = 0;

        for (size_t i = 0; i < c->ask->n_allowed_fast && n < MAX_FAST; i++) {
            uint32_t p = c->ask->allowed_fast[i];

            if (p < pk->npieces && !pk->have[p])
                key[n++] = ((uint64_t)pk->pos[p] << 32) | p;
        }
        qsort(key, n, sizeof(key[0]), by_rank);
        for (size_t i = 0; i < n && c->n < c->max; i++) {
            uint32_t p = (uint32_t)key[i];

            if (!in_window(pk, p) && can_ask(c, p) && take_free(c, p) != 0)
                return OA_ENOMEM;
        }
        return 0;
    }
    for (uint32_t i = 0; i < pk->nlack && c->n < c->max; i++) {
        uint32_t p = pk->order[i];

        if (!in_window(pk, p) && can_ask(c, p) && take_free(c, p) != 0)
            return OA_ENOMEM;
    }
    return 0;
}

/* End-game: blocks held by fewer peers first, oldest started pieces first. */
static void take_endgame(pick_ctx *c)
{
    oa_picker *pk = c->pk;

    if (pk->unreq != 0 || pk->nlack == 0)
        return;
    for (unsigned level = 1; level <= pk->cfg.max_duplicates; level++) {
        for (uint32_t i = 0; i < pk->nactive && c->n < c->max; i++) {
            uint32_t p = pk->active[i];
            pk_dl *d = pk->dl[p];

            if (!can_ask(c, p))
                continue;
            for (uint32_t bi = 0; bi < d->nblocks && c->n < c->max; bi++) {
                pk_block *b = &d->b[bi];

                if (!b->received && b->nreq == level && holder_find(b, c->h) < 0)
                    assign(c, p, d, bi);
            }
        }
    }
}

int oa_picker_pick(oa_picker *pk, oa_picker_peer peer, const oa_picker_ask *ask,
                   uint64_t now_ms, oa_picker_request *out, size_t max, size_t *n_out)
{
    static const oa_picker_ask unchoked = {0, NULL, 0};
    pick_ctx c;
    int rc = 0;

    if (n_out == NULL || (out == NULL && max > 0) ||
        (ask != NULL && ask->allowed_fast == NULL && ask->n_allowed_fast > 0))
        return OA_EINVAL;
    *n_out = 0;
    c.pk = pk;
    c.pr = peer_get(pk, peer);
    if (c.pr == NULL)
        return OA_ENOENT;
    c.h = peer;
    c.ask = ask != NULL ? ask : &unchoked;
    c.now = now_ms;
    c.out = out;
    c.max = max;
    c.n = 0;
    if (max == 0 || (c.ask->choked && c.ask->n_allowed_fast == 0))
        return 0;
    if (pk->streaming)
        rc = take_window(&c);
    if (rc == 0 && (!pk->streaming || pk->st.fallback)) {
        rc = take_started(&c);
        if (rc == 0)
            rc = take_rarest(&c);
    }
    if (rc == 0)
        take_endgame(&c);
    *n_out = c.n;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Requests, arrivals and verification. */

int oa_picker_request_cancelled(oa_picker *pk, oa_picker_peer peer, uint32_t piece,
                                uint32_t offset)
{
    int64_t bi = block_index(pk, piece, offset);
    pk_dl *d;
    int k;

    if (bi < 0)
        return OA_EPROTO;
    d = pk->dl[piece];
    if (d == NULL)
        return OA_ENOENT;
    k = holder_find(&d->b[bi], peer);
    if (k < 0)
        return OA_ENOENT;
    holder_remove(pk, piece, d, &d->b[bi], (unsigned)k);
    return 0;
}

int oa_picker_peer_drop_requests(oa_picker *pk, oa_picker_peer peer)
{
    int n = 0;

    if (peer_get(pk, peer) == NULL)
        return OA_ENOENT;
    for (uint32_t i = 0; i < pk->nactive; i++) {
        uint32_t p = pk->active[i];
        pk_dl *d = pk->dl[p];

        for (uint32_t bi = 0; bi < d->nblocks; bi++) {
            int k = holder_find(&d->b[bi], peer);

            if (k >= 0) {
                holder_remove(pk, p, d, &d->b[bi], (unsigned)k);
                n++;
            }
        }
    }
    return n;
}

int oa_picker_block_received(oa_picker *pk, oa_picker_peer peer, uint32_t piece,
                             uint32_t offset, uint32_t length, oa_picker_arrival *res)
{
    int64_t bi = block_index(pk, piece, offset);
    pk_dl *d;
    pk_block *b;
    int was_free;
    int k;

    if (res == NULL)
        return OA_EINVAL;
    memset(res, 0, sizeof(*res));
    if (peer_get(pk, peer) == NULL)
        return OA_ENOENT;
    if (bi < 0 || length != block_len(pk, piece, (uint32_t)bi))
        return OA_EPROTO;
    if (pk->have[piece])
        return 0;
    d = dl_get(pk, piece, 1);
    if (d == NULL)
        return OA_ENOMEM;
    b = &d->b[bi];
    if (b->received)
        return 0;
    was_free = b->nreq == 0;
    b->received = 1; /* before the holders go, so none counts it as free */
    k = holder_find(b, peer);
    res->expected = k >= 0;
    if (k >= 0)
        holder_remove(pk, piece, d, b, (unsigned)k);
    while (b->nreq > 0) {
        res->cancel[res->n_cancel++] = b->holder[b->nreq - 1];
        holder_remove(pk, piece, d, b, b->nreq - 1);
    }
    if (was_free)
        unreq_delta(pk, piece, d, -1);
    b->sender = peer;
    d->nreceived++;
    res->wanted = 1;
    if (d->nreceived == d->nblocks) {
        d->verifying = 1;
        res->piece_complete = 1;
    }
    return 0;
}

int oa_picker_piece_verified(oa_picker *pk, uint32_t piece, int ok, oa_picker_peer *senders,
                             size_t cap, size_t *n_senders)
{
    pk_dl *d;
    size_t n = 0;

    if (piece >= pk->npieces)
        return OA_ERANGE;
    d = pk->dl[piece];
    if (senders == NULL && cap > 0)
        return OA_EINVAL;
    if (d == NULL || !d->verifying)
        return OA_ESTATE;
    for (uint32_t bi = 0; bi < d->nblocks; bi++) {
        oa_picker_peer s = d->b[bi].sender;
        int seen = 0;

        for (uint32_t j = 0; j < bi && !seen; j++)
            seen = d->b[j].sender == s;
        if (seen)
            continue;
        if (n < cap)
            senders[n] = s;
        n++;
    }
    if (n_senders != NULL)
        *n_senders = n;
    if (ok)
        return oa_picker_we_have(pk, piece);
    /* Every block is free again: the piece counts as not started. */
    dl_free(pk, piece);
    if (available(pk, piece))
        pk->unreq += piece_blocks(pk, piece);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Inspection. */

int oa_picker_block_state(const oa_picker *pk, uint32_t piece, uint32_t offset,
                          oa_picker_peer *holders, size_t cap, size_t *n_holders)
{
    int64_t bi = block_index(pk, piece, offset);
    const pk_block *b;

    if (n_holders != NULL)
        *n_holders = 0;
    if (bi < 0)
        return OA_EPROTO;
    if (pk->have[piece])
        return OA_PICKER_BLOCK_RECEIVED;
    if (pk->dl[piece] == NULL)
        return OA_PICKER_BLOCK_FREE;
    b = &pk->dl[piece]->b[bi];
    for (unsigned i = 0; i < b->nreq && i < cap && holders != NULL; i++)
        holders[i] = b->holder[i];
    if (n_holders != NULL)
        *n_holders = b->nreq;
    if (b->received)
        return OA_PICKER_BLOCK_RECEIVED;
    return b->nreq > 0 ? OA_PICKER_BLOCK_REQUESTED : OA_PICKER_BLOCK_FREE;
}

void oa_picker_get_stats(const oa_picker *pk, oa_picker_stats *st)
{
    st->pieces = pk->npieces;
    st->have = pk->nhave;
    st->active = pk->nactive;
    st->unrequested = pk->unreq > 0 ? (uint64_t)pk->unreq : 0;
    st->endgame = pk->unreq == 0 && pk->nlack > 0 && pk->cfg.max_duplicates > 0;
}

/*
 * One peer connection of the swarm engine (engine.h, "one connection"):
 * connect and accept over the transport service, the handshake, the peer
 * wire with BEP 6 (fast), BEP 10 (extended), BEP 9 (ut_metadata) and
 * BEP 11 (ut_pex), request pipelining, serving blocks, keep-alives,
 * timeouts and protocol violations.
 *
 * Lifetime and re-entrancy. A peer is freed by peer_finish(), reached from
 * oa_peer_close(), the transport's close callback or a failed connect.
 * Calls into the torrent (attach, block_in, block_wanted, meta_data, ...)
 * may close the very peer that is calling, so every entry from the loop
 * (read, write, connect and close callbacks, the tick) holds the peer with
 * peer_enter()/peer_leave(): a close while it is held does everything but
 * the free, which happens when the outermost holder leaves. Functions that
 * torrent.c calls never close the peer themselves: a failure there (a write
 * refused, a bitfield that does not fit the metadata) is recorded with
 * peer_fail() and the peer is closed on its next read or tick.
 *
 * Outbound peers wait on e->unattached like inbound ones until their
 * handshake, with p->t NULL: the torrent is found again by info-hash then,
 * so a torrent removed meanwhile is never touched.
 */
#include "engine.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEER_EXT (OA_WIRE_EXT_EXTENDED | OA_WIRE_EXT_FAST)
#define PEER_KEEPALIVE_MS 90000u
#define PEER_PEX_CHECK_MS 5000u       /* how often a PEX message is considered */
#define PEER_UPLOAD_WINDOW (4u * 1024u * 1024u) /* bytes queued or being read for it */
#define PEER_MAX_BLOCK OA_WIRE_DEFAULT_MAX_BLOCK
#define PEER_PICK_CHUNK 64
#define PEER_MAX_ALLOWED_FAST 16

enum { WHERE_NONE = 0, WHERE_UNATTACHED, WHERE_ATTACHED };

/* A request it sent us. */
enum { IN_QUEUED = 0, /* not asked of the torrent yet (back-pressure) */
       IN_ASKED,      /* oa_torrent_block_wanted() called, block not here yet */
       IN_READY };    /* block here (data), waiting for upload tokens */

typedef struct peer_in {
    uint32_t piece, begin, length;
    int state;
    uint8_t *data; /* IN_READY: a copy of the block */
} peer_in;

/* A request we sent it. */
typedef struct peer_out {
    uint32_t piece, begin, length;
    uint64_t sent_ms;
} peer_out;

typedef struct peer_priv {
    int busy;              /* peer_enter() depth */
    int where;             /* WHERE_* */
    int connecting;        /* outbound connect in progress */
    uint8_t want_hash[20]; /* outbound: the torrent's info-hash */
    char fail_why[256];    /* peer_fail(): close on the next read or tick */
    int fail_ban;
    int failed;
    int intro_sent;        /* our extension handshake and pieces went out */
    int read_paused;       /* download bucket empty: reading stopped */
    int pumping;
    oa_ext_local local;    /* what we announced (our ids for dispatch) */
    oa_bitfield bf;        /* its pieces once the piece count is known */
    oa_picker_peer synced; /* the picker handle bf was given to; 0: none */
    peer_out *out;
    size_t n_out, cap_out;
    peer_in *in;
    size_t n_in, cap_in;
    uint64_t last_tick_ms;
    uint64_t pex_checked_ms;
} peer_priv;

/* The peer and its private state in one allocation. */
typedef struct peer_block {
    oa_peer p;
    peer_priv pv;
} peer_block;

static peer_priv *PV(const oa_peer *p)
{
    return (peer_priv *)p->priv;
}

static void peer_finish(oa_peer *p, const char *why, int ban, int conn_gone);
static void peer_fill(oa_peer *p);
static void peer_update_interest(oa_peer *p);
static void on_written(void *arg, oa_conn *conn, int status);

/* ---- lifetime ------------------------------------------------------------ */

static void peer_enter(oa_peer *p)
{
    PV(p)->busy++;
}

static void peer_free(oa_peer *p)
{
    peer_priv *pv = PV(p);
    oa_wire_decoder_free(&p->dec);
    oa_pex_tracker_free(&p->pex);
    free(p->early_bits);
    free(p->early_haves);
    oa_bitfield_free(&pv->bf);
    for (size_t i = 0; i < pv->n_in; i++) {
        free(pv->in[i].data);
    }
    free(pv->in);
    free(pv->out);
    free(p);
}

/* Returns 1 while the peer lives on; 0 when it closed and is now freed (or
 * will be by an outer holder): the caller must not touch it then. */
static int peer_leave(oa_peer *p)
{
    peer_priv *pv = PV(p);
    pv->busy--;
    if (p->closing) {
        if (pv->busy == 0) {
            peer_free(p);
        }
        return 0;
    }
    return 1;
}

/* Records a failure to close on the next read or tick (see the top). */
static void peer_fail(oa_peer *p, const char *why, int ban)
{
    peer_priv *pv = PV(p);
    if (pv->failed) {
        return;
    }
    pv->failed = 1;
    pv->fail_ban = ban;
    snprintf(pv->fail_why, sizeof(pv->fail_why), "%s", why);
}

static int peer_live(const oa_peer *p)
{
    return !p->closing && !PV(p)->failed && p->conn != NULL && !PV(p)->connecting;
}

static int peer_attached(const oa_peer *p)
{
    return !p->closing && PV(p)->where == WHERE_ATTACHED && p->t != NULL;
}

static void unattached_link(oa_peer *p)
{
    oa_engine *e = p->e;
    p->tnext = e->unattached;
    e->unattached = p;
    PV(p)->where = WHERE_UNATTACHED;
}

static void unattached_unlink(oa_peer *p)
{
    oa_engine *e = p->e;
    for (oa_peer **pp = &e->unattached; *pp != NULL; pp = &(*pp)->tnext) {
        if (*pp == p) {
            *pp = p->tnext;
            break;
        }
    }
    p->tnext = NULL;
    PV(p)->where = WHERE_NONE;
}

static oa_peer *peer_new(oa_engine *e, const char *addr, int outbound)
{
    peer_block *b = calloc(1, sizeof(*b));
    oa_peer *p;
    if (b == NULL) {
        return NULL;
    }
    p = &b->p;
    p->priv = &b->pv;
    if (oa_wire_decoder_init(&p->dec, NULL, OA_WIRE_DECODE_HANDSHAKE) != 0) {
        free(b);
        return NULL;
    }
    p->e = e;
    p->id = ++e->next_id;
    snprintf(p->addr, sizeof(p->addr), "%s", addr);
    p->outbound = outbound;
    oa_ext_peer_init(&p->extp);
    oa_pex_tracker_init(&p->pex);
    oa_ext_local_init(&b->pv.local);
    p->am_choking = 1;
    p->peer_choking = 1;
    p->connected_ms = oa_engine_now(e);
    p->last_recv_ms = p->connected_ms;
    p->last_send_ms = p->connected_ms;
    b->pv.last_tick_ms = p->connected_ms;
    e->peer_count++;
    return p;
}

/* ---- writing --------------------------------------------------------------- */

static int peer_write(oa_peer *p, const void *data, size_t len)
{
    int rc;
    if (!peer_live(p)) {
        return OA_ESTATE;
    }
    rc = p->e->tp->write(p->conn, data, len, on_written, p);
    if (rc != 0) {
        char why[96];
        snprintf(why, sizeof(why), "writing to the connection failed (error %d)", rc);
        peer_fail(p, why, 0);
        return rc;
    }
    p->last_send_ms = oa_engine_now(p->e);
    return 0;
}

static int peer_send_buf(oa_peer *p, oa_wire_buf *b)
{
    int rc = 0;
    if (b->len > 0) {
        rc = peer_write(p, b->data, b->len);
    }
    oa_wire_buf_free(b);
    return rc;
}

static int peer_send(oa_peer *p, const oa_wire_msg *msg)
{
    uint8_t small[32];
    size_t n = 0;
    oa_wire_buf b;
    if (!peer_live(p)) {
        return OA_ESTATE;
    }
    if (oa_wire_encode(msg, small, sizeof(small), &n) == 0) {
        return peer_write(p, small, n);
    }
    oa_wire_buf_init(&b);
    if (oa_wire_buf_put(&b, msg) != 0) {
        oa_wire_buf_free(&b);
        peer_fail(p, "out of memory encoding a message", 0);
        return OA_ENOMEM;
    }
    return peer_send_buf(p, &b);
}

static void peer_send_simple(oa_peer *p, oa_wire_kind kind, uint32_t index, uint32_t begin,
                             uint32_t length)
{
    oa_wire_msg m;
    memset(&m, 0, sizeof(m));
    m.kind = kind;
    m.index = index;
    m.begin = begin;
    m.length = length;
    peer_send(p, &m);
}

static void peer_send_extended(oa_peer *p, uint8_t ext_id, const uint8_t *data, size_t size)
{
    oa_wire_msg m;
    memset(&m, 0, sizeof(m));
    m.kind = OA_WIRE_EXTENDED;
    m.ext_id = ext_id;
    m.data = data;
    m.size = size;
    peer_send(p, &m);
}

static int buf_put_simple(oa_wire_buf *b, oa_wire_kind kind, uint32_t index, uint32_t begin,
                          uint32_t length)
{
    oa_wire_msg m;
    memset(&m, 0, sizeof(m));
    m.kind = kind;
    m.index = index;
    m.begin = begin;
    m.length = length;
    return oa_wire_buf_put(b, &m);
}

/* ---- request lists ---------------------------------------------------------- */

static long out_find(const peer_priv *pv, uint32_t piece, uint32_t begin, uint32_t length)
{
    for (size_t i = 0; i < pv->n_out; i++) {
        const peer_out *o = &pv->out[i];
        if (o->piece == piece && o->begin == begin && (length == 0 || o->length == length)) {
            return (long)i;
        }
    }
    return -1;
}

static void out_remove(oa_peer *p, size_t i)
{
    peer_priv *pv = PV(p);
    memmove(&pv->out[i], &pv->out[i + 1], (pv->n_out - i - 1) * sizeof(pv->out[0]));
    pv->n_out--;
    p->outstanding = (unsigned)pv->n_out;
}

static void out_clear(oa_peer *p)
{
    PV(p)->n_out = 0;
    p->outstanding = 0;
}

static int out_add(oa_peer *p, const oa_picker_request *r, uint64_t now)
{
    peer_priv *pv = PV(p);
    if (pv->n_out == pv->cap_out) {
        size_t cap = pv->cap_out > 0 ? pv->cap_out * 2 : 64;
        peer_out *n = realloc(pv->out, cap * sizeof(*n));
        if (n == NULL) {
            return OA_ENOMEM;
        }
        pv->out = n;
        pv->cap_out = cap;
    }
    pv->out[pv->n_out].piece = r->piece;
    pv->out[pv->n_out].begin = r->offset;
    pv->out[pv->n_out].length = r->length;
    pv->out[pv->n_out].sent_ms = now;
    pv->n_out++;
    p->outstanding = (unsigned)pv->n_out;
    return 0;
}

static void in_recount(oa_peer *p)
{
    peer_priv *pv = PV(p);
    unsigned asked = 0;
    for (size_t i = 0; i < pv->n_in; i++) {
        asked += pv->in[i].state != IN_QUEUED;
    }
    p->served_pending = asked;
    p->peer_requests = (unsigned)pv->n_in;
}

static long in_find(const peer_priv *pv, uint32_t piece, uint32_t begin, uint32_t length)
{
    for (size_t i = 0; i < pv->n_in; i++) {
        const peer_in *r = &pv->in[i];
        if (r->piece == piece && r->begin == begin && r->length == length) {
            return (long)i;
        }
    }
    return -1;
}

static void in_remove(oa_peer *p, size_t i)
{
    peer_priv *pv = PV(p);
    free(pv->in[i].data);
    memmove(&pv->in[i], &pv->in[i + 1], (pv->n_in - i - 1) * sizeof(pv->in[0]));
    pv->n_in--;
    in_recount(p);
}

static int in_add(oa_peer *p, uint32_t piece, uint32_t begin, uint32_t length)
{
    peer_priv *pv = PV(p);
    if (pv->n_in == pv->cap_in) {
        size_t cap = pv->cap_in > 0 ? pv->cap_in * 2 : 32;
        peer_in *n = realloc(pv->in, cap * sizeof(*n));
        if (n == NULL) {
            return OA_ENOMEM;
        }
        pv->in = n;
        pv->cap_in = cap;
    }
    memset(&pv->in[pv->n_in], 0, sizeof(pv->in[0]));
    pv->in[pv->n_in].piece = piece;
    pv->in[pv->n_in].begin = begin;
    pv->in[pv->n_in].length = length;
    pv->in[pv->n_in].state = IN_QUEUED;
    pv->n_in++;
    in_recount(p);
    return 0;
}

/* Drops every request it sent us; with the fast extension each gets a
 * REJECT (BEP 6: every request is answered), all in one write. */
static void in_drop_all(oa_peer *p)
{
    peer_priv *pv = PV(p);
    oa_wire_buf b;
    oa_wire_buf_init(&b);
    for (size_t i = 0; i < pv->n_in; i++) {
        if (p->ext & OA_WIRE_EXT_FAST) {
            buf_put_simple(&b, OA_WIRE_REJECT, pv->in[i].piece, pv->in[i].begin,
                           pv->in[i].length);
        }
        free(pv->in[i].data);
    }
    pv->n_in = 0;
    in_recount(p);
    peer_send_buf(p, &b);
}

/* ---- serving blocks ----------------------------------------------------------- */

static uint64_t upload_need(const oa_rate_limit *rl, uint32_t length)
{
    /* A bucket smaller than a block would never hold one: wait until it is
     * full instead. */
    return rl->rate > 0 && rl->burst < length ? rl->burst : length;
}

static int upload_allowed(oa_peer *p, uint32_t length, uint64_t now)
{
    oa_rate_limit *rl = &p->e->up_limit;
    return oa_rate_limit_available(rl, now) >= upload_need(rl, length);
}

static void block_write(oa_peer *p, uint32_t piece, uint32_t begin, const uint8_t *data,
                        uint32_t length, uint64_t now)
{
    uint8_t buf[OA_WIRE_PIECE_HEADER_LEN + PEER_MAX_BLOCK];
    oa_engine *e = p->e;
    if (length > PEER_MAX_BLOCK) {
        return;
    }
    oa_rate_limit_take(&e->up_limit, now, length);
    if (oa_wire_encode_piece_header(buf, piece, begin, length) != 0) {
        return;
    }
    memcpy(buf + OA_WIRE_PIECE_HEADER_LEN, data, length);
    if (peer_write(p, buf, OA_WIRE_PIECE_HEADER_LEN + (size_t)length) != 0) {
        return;
    }
    p->up_bytes += length;
    if (p->t != NULL) {
        p->t->uploaded += length;
    }
    e->uploaded += length;
}

/* Sends the blocks waiting for upload tokens, in order, while there are
 * tokens. */
static void serve_ready(oa_peer *p, uint64_t now)
{
    peer_priv *pv = PV(p);
    size_t i = 0;
    while (i < pv->n_in && peer_live(p)) {
        peer_in *r = &pv->in[i];
        if (r->state != IN_READY) {
            i++;
            continue;
        }
        if (!upload_allowed(p, r->length, now)) {
            break;
        }
        block_write(p, r->piece, r->begin, r->data, r->length, now);
        in_remove(p, i);
    }
}

/* Asks the torrent for queued blocks while its write queue and the blocks
 * being read for it stay under PEER_UPLOAD_WINDOW. The torrent may answer
 * at once (oa_peer_send_block from inside) or close the peer: call only
 * while the peer is held. */
static void pump(oa_peer *p)
{
    peer_priv *pv = PV(p);
    if (pv->pumping || !peer_live(p) || !peer_attached(p) || p->am_choking) {
        return;
    }
    pv->pumping = 1;
    while (peer_live(p)) {
        size_t queued = p->e->tp->write_queued(p->conn);
        size_t inflight = 0;
        long next = -1;
        uint32_t piece, begin, length;
        for (size_t i = 0; i < pv->n_in; i++) {
            if (pv->in[i].state == IN_QUEUED) {
                if (next < 0) {
                    next = (long)i;
                }
            } else {
                inflight += pv->in[i].length;
            }
        }
        if (next < 0 || queued + inflight > PEER_UPLOAD_WINDOW) {
            break;
        }
        pv->in[next].state = IN_ASKED;
        in_recount(p);
        piece = pv->in[next].piece;
        begin = pv->in[next].begin;
        length = pv->in[next].length;
        oa_torrent_block_wanted(p->t, p, piece, begin, length);
    }
    pv->pumping = 0;
}

/* ---- what the peer has ----------------------------------------------------------- */

static int peer_piece_count(const oa_peer *p)
{
    return PV(p)->bf.count > 0;
}

static void early_clear(oa_peer *p)
{
    free(p->early_bits);
    p->early_bits = NULL;
    p->early_bits_len = 0;
    free(p->early_haves);
    p->early_haves = NULL;
    p->early_have_count = 0;
    p->early_have_all = 0;
}

static void recount_pieces(oa_peer *p)
{
    peer_priv *pv = PV(p);
    p->pieces_have = oa_bitfield_count(&pv->bf);
    p->seed = pv->bf.count > 0 && p->pieces_have == pv->bf.count;
}

/* Gives the picker what bf holds when p->pk is new to it. */
static void picker_sync(oa_peer *p)
{
    peer_priv *pv = PV(p);
    oa_picker *pk;
    if (!peer_attached(p) || p->pk == 0 || p->t->picker == NULL || pv->synced == p->pk ||
        pv->bf.count == 0 || oa_picker_num_pieces(p->t->picker) != pv->bf.count) {
        return;
    }
    pk = p->t->picker;
    if (p->seed) {
        oa_picker_peer_have_all(pk, p->pk);
    } else if (p->pieces_have > 0) {
        oa_picker_peer_bitfield(pk, p->pk, pv->bf.bits, oa_bitfield_bytes(pv->bf.count));
    } else {
        oa_picker_peer_have_none(pk, p->pk);
    }
    pv->synced = p->pk;
}

/* The picker handle is up to date with bf, so that a change can be given
 * as it comes. */
static int picker_in_sync(oa_peer *p)
{
    picker_sync(p);
    return peer_attached(p) && p->pk != 0 && PV(p)->synced == p->pk && p->t->picker != NULL;
}

/* Applies what arrived before the piece count was known; 0, or OA_EPROTO
 * with why set when it does not fit. */
static int early_apply(oa_peer *p, char *why, size_t whylen)
{
    peer_priv *pv = PV(p);
    uint32_t count = pv->bf.count;
    if (p->early_have_all) {
        oa_bitfield_fill(&pv->bf, 1);
    } else if (p->early_bits != NULL) {
        if (oa_bitfield_load(&pv->bf, p->early_bits, p->early_bits_len) != 0) {
            snprintf(why, whylen, "bitfield of %zu bytes does not fit %u pieces",
                     p->early_bits_len, count);
            return OA_EPROTO;
        }
    }
    for (size_t i = 0; i < p->early_have_count; i++) {
        if (oa_bitfield_set(&pv->bf, p->early_haves[i]) != 0) {
            snprintf(why, whylen, "have index %u beyond %u pieces", p->early_haves[i], count);
            return OA_EPROTO;
        }
    }
    early_clear(p);
    recount_pieces(p);
    return 0;
}

/* Sets up the piece count (decoder and bf) once the metadata is known. */
static int pieces_known(oa_peer *p)
{
    peer_priv *pv = PV(p);
    char why[128];
    uint32_t count;
    int rc;
    if (pv->bf.count > 0 || p->t == NULL || p->t->mi == NULL || p->t->mi->piece_count == 0 ||
        p->t->mi->piece_count > UINT32_MAX) {
        return 0;
    }
    count = (uint32_t)p->t->mi->piece_count;
    rc = oa_wire_decoder_set_piece_count(&p->dec, count);
    if (rc != 0) {
        peer_fail(p, "the content has too many pieces for the peer wire", 0);
        return rc;
    }
    if (oa_bitfield_init(&pv->bf, count) != 0) {
        peer_fail(p, "out of memory for the peer's bitfield", 0);
        return OA_ENOMEM;
    }
    rc = early_apply(p, why, sizeof(why));
    if (rc != 0) {
        early_clear(p);
        peer_fail(p, why, 1);
        return rc;
    }
    return 0;
}

static void on_have(oa_peer *p, uint32_t index)
{
    peer_priv *pv = PV(p);
    if (!peer_piece_count(p)) {
        if (p->early_have_all || p->early_have_count >= OA_PEER_MAX_HAVES_EARLY) {
            return;
        }
        if (p->early_haves == NULL) {
            p->early_haves = malloc(OA_PEER_MAX_HAVES_EARLY * sizeof(uint32_t));
            if (p->early_haves == NULL) {
                return;
            }
        }
        p->early_haves[p->early_have_count++] = index;
        p->pieces_have++;
        return;
    }
    if (oa_bitfield_get(&pv->bf, index)) {
        return;
    }
    if (oa_bitfield_set(&pv->bf, index) != 0) {
        return; /* the decoder checks indexes once it knows the count */
    }
    p->pieces_have++;
    p->seed = p->pieces_have == pv->bf.count;
    /* a handle new to the picker gets the whole of bf from picker_in_sync() */
    if (pv->synced == p->pk && picker_in_sync(p)) {
        oa_picker_peer_have(p->t->picker, p->pk, index);
    }
}

static void on_bitfield(oa_peer *p, const uint8_t *bits, size_t size)
{
    peer_priv *pv = PV(p);
    if (!peer_piece_count(p)) {
        uint8_t *copy = malloc(size > 0 ? size : 1);
        if (copy == NULL) {
            peer_fail(p, "out of memory for the peer's bitfield", 0);
            return;
        }
        memcpy(copy, bits, size);
        early_clear(p);
        p->early_bits = copy;
        p->early_bits_len = size;
        p->pieces_have = (uint32_t)oa_bitfield_popcount(bits, size);
        return;
    }
    if (oa_bitfield_load(&pv->bf, bits, size) != 0) {
        peer_fail(p, "bitfield does not fit the piece count", 1);
        return;
    }
    recount_pieces(p);
    if (pv->synced == p->pk && picker_in_sync(p)) {
        oa_picker_peer_bitfield(p->t->picker, p->pk, bits, size);
    }
}

static void on_have_all_none(oa_peer *p, int all)
{
    peer_priv *pv = PV(p);
    if (!peer_piece_count(p)) {
        early_clear(p);
        p->early_have_all = all;
        p->seed = all;
        p->pieces_have = 0;
        return;
    }
    oa_bitfield_fill(&pv->bf, all);
    recount_pieces(p);
    if (pv->synced == p->pk && picker_in_sync(p)) {
        if (all) {
            oa_picker_peer_have_all(p->t->picker, p->pk);
        } else {
            oa_picker_peer_have_none(p->t->picker, p->pk);
        }
    }
}

/* ---- our side of the introduction ---------------------------------------------- */

static int pex_allowed(const oa_peer *p)
{
    return p->e->cfg.pex && p->t != NULL && !(p->t->mi != NULL && p->t->mi->is_private);
}

/* Our BEP 10 handshake (when negotiated) and what we have, in one write,
 * after our BitTorrent handshake when hs is not NULL. */
static void send_intro(oa_peer *p, const oa_wire_handshake *hs)
{
    peer_priv *pv = PV(p);
    oa_engine *e = p->e;
    oa_torrent *t = p->t;
    oa_wire_buf b;
    int fast = (p->ext & OA_WIRE_EXT_FAST) != 0;
    int rc = 0;

    oa_wire_buf_init(&b);
    if (hs != NULL) {
        /* the handshake is not a length-prefixed message: its raw bytes go
         * first into the buffer, which grows with realloc */
        b.data = malloc(1024);
        if (b.data == NULL) {
            peer_fail(p, "out of memory for the handshake", 0);
            return;
        }
        b.cap = 1024;
        oa_wire_handshake_encode(hs, b.data);
        b.len = OA_WIRE_HANDSHAKE_LEN;
        p->handshake_sent = 1;
    }

    oa_ext_local_init(&pv->local);
    pv->local.port = e->cfg.port;
    pv->local.reqq = e->cfg.max_requests;
    pv->local.metadata_size = 0;
    if (t->mi != NULL && t->mi->info != NULL && t->mi->info_len <= OA_EXT_MAX_METADATA_SIZE) {
        pv->local.metadata_size = t->mi->info_len;
    }
    if (!pex_allowed(p)) {
        pv->local.enabled &= ~OA_EXT_BIT(OA_EXT_UT_PEX);
    }
    if (t->mi != NULL && t->mi->is_private) {
        p->meta_srv.refuse = 1; /* BEP 27: the metadata stays with its tracker */
    }
    if (p->ext & OA_WIRE_EXT_EXTENDED) {
        uint8_t *payload = NULL;
        size_t plen = 0;
        rc = oa_ext_handshake_build(&pv->local, &payload, &plen);
        if (rc == 0) {
            oa_wire_msg m;
            memset(&m, 0, sizeof(m));
            m.kind = OA_WIRE_EXTENDED;
            m.ext_id = 0;
            m.data = payload;
            m.size = plen;
            rc = oa_wire_buf_put(&b, &m);
            free(payload);
        }
    }

    if (rc == 0 && t->mi != NULL) {
        uint32_t count = (uint32_t)t->mi->piece_count;
        uint32_t have = t->have.count == count ? oa_bitfield_count(&t->have) : 0;
        if (fast && have == count) {
            rc = buf_put_simple(&b, OA_WIRE_HAVE_ALL, 0, 0, 0);
        } else if (fast && have == 0) {
            rc = buf_put_simple(&b, OA_WIRE_HAVE_NONE, 0, 0, 0);
        } else if (have > 0) {
            oa_wire_msg m;
            memset(&m, 0, sizeof(m));
            m.kind = OA_WIRE_BITFIELD;
            m.data = t->have.bits;
            m.size = oa_bitfield_bytes(count);
            rc = oa_wire_buf_put(&b, &m);
        }
    } else if (rc == 0 && fast) {
        rc = buf_put_simple(&b, OA_WIRE_HAVE_NONE, 0, 0, 0);
    }
    if (rc != 0) {
        oa_wire_buf_free(&b);
        peer_fail(p, "cannot encode our first messages", 0);
        return;
    }
    peer_send_buf(p, &b);
    pv->intro_sent = 1;
}

/* ---- interest and requests -------------------------------------------------------- */

static void peer_update_interest(oa_peer *p)
{
    int want = 0;
    if (!peer_live(p) || !PV(p)->intro_sent) {
        return;
    }
    if (picker_in_sync(p)) {
        want = oa_picker_peer_interesting(p->t->picker, p->pk) == 1;
    }
    if (want == p->am_interested) {
        return;
    }
    p->am_interested = want;
    if (want) {
        p->we_interested_ms = oa_engine_now(p->e);
    }
    peer_send_simple(p, want ? OA_WIRE_INTERESTED : OA_WIRE_NOT_INTERESTED, 0, 0, 0);
}

static int allowed_fast_has(const oa_peer *p, uint32_t piece)
{
    for (size_t i = 0; i < p->n_allowed_fast; i++) {
        if (p->allowed_fast[i] == piece) {
            return 1;
        }
    }
    return 0;
}

static unsigned pipeline_depth(oa_peer *p)
{
    uint64_t cap = p->e->cfg.max_requests > 0 ? p->e->cfg.max_requests : OA_EXT_DEFAULT_REQQ;
    uint64_t depth;
    if (p->extp.reqq > 0 && p->extp.reqq < cap) {
        cap = p->extp.reqq;
    }
    depth = p->down_rate * 2 / OA_PICKER_BLOCK_SIZE + 16;
    if (depth > cap) {
        depth = cap;
    }
    return (unsigned)depth;
}

static void peer_fill(oa_peer *p)
{
    peer_priv *pv = PV(p);
    oa_picker_ask ask;
    oa_picker_request reqs[PEER_PICK_CHUNK];
    oa_wire_buf b;
    uint64_t now;
    int choked_fast;

    if (!peer_live(p) || !pv->intro_sent || p->t->mi == NULL || !picker_in_sync(p)) {
        return;
    }
    peer_update_interest(p);
    if (!p->am_interested) {
        return;
    }
    choked_fast = p->peer_choking && (p->ext & OA_WIRE_EXT_FAST) && p->n_allowed_fast > 0;
    if (p->peer_choking && !choked_fast) {
        return;
    }
    p->max_outstanding = pipeline_depth(p);
    if (pv->n_out >= p->max_outstanding) {
        return;
    }
    memset(&ask, 0, sizeof(ask));
    ask.choked = p->peer_choking;
    ask.allowed_fast = p->allowed_fast;
    ask.n_allowed_fast = p->n_allowed_fast;
    now = oa_engine_now(p->e);
    oa_wire_buf_init(&b);
    while (pv->n_out < p->max_outstanding) {
        size_t want = p->max_outstanding - pv->n_out;
        size_t got = 0;
        int rc;
        if (want > PEER_PICK_CHUNK) {
            want = PEER_PICK_CHUNK;
        }
        rc = oa_picker_pick(p->t->picker, p->pk, p->peer_choking ? &ask : NULL, now, reqs, want,
                            &got);
        for (size_t i = 0; i < got; i++) {
            if (out_add(p, &reqs[i], now) != 0 ||
                buf_put_simple(&b, OA_WIRE_REQUEST, reqs[i].piece, reqs[i].offset,
                               reqs[i].length) != 0) {
                /* cannot keep or send it: give it back */
                long k = out_find(pv, reqs[i].piece, reqs[i].offset, reqs[i].length);
                if (k >= 0) {
                    out_remove(p, (size_t)k);
                }
                oa_picker_request_cancelled(p->t->picker, p->pk, reqs[i].piece, reqs[i].offset);
                rc = OA_ENOMEM;
            }
        }
        if (rc != 0 || got < want) {
            break;
        }
    }
    peer_send_buf(p, &b);
}

/* ---- messages ------------------------------------------------------------------- */

static void on_request(oa_peer *p, const oa_wire_msg *m)
{
    oa_engine *e = p->e;
    oa_torrent *t = p->t;
    unsigned limit = 2 * (e->cfg.max_requests > 0 ? e->cfg.max_requests : OA_EXT_DEFAULT_REQQ);
    int fast = (p->ext & OA_WIRE_EXT_FAST) != 0;
    uint32_t psize;
    int ok;

    if (in_find(PV(p), m->index, m->begin, m->length) >= 0) {
        return; /* asked twice: one answer */
    }
    ok = t->picker != NULL && oa_picker_have(t->picker, m->index) == 1;
    psize = ok ? oa_picker_piece_size(t->picker, m->index) : 0;
    ok = ok && m->length > 0 && m->length <= PEER_MAX_BLOCK && m->begin < psize &&
         m->length <= psize - m->begin;
    if (!ok || p->am_choking) {
        if (fast) {
            peer_send_simple(p, OA_WIRE_REJECT, m->index, m->begin, m->length);
        }
        return;
    }
    if (PV(p)->n_in >= limit) {
        peer_fail(p, "request flood: more requests pending than twice our reqq", 1);
        return;
    }
    if (in_add(p, m->index, m->begin, m->length) != 0) {
        if (fast) {
            peer_send_simple(p, OA_WIRE_REJECT, m->index, m->begin, m->length);
        }
        return;
    }
    pump(p);
}

static void on_piece(oa_peer *p, const oa_wire_msg *m)
{
    peer_priv *pv = PV(p);
    oa_engine *e = p->e;
    oa_torrent *t = p->t;
    uint64_t now = oa_engine_now(e);
    long k = out_find(pv, m->index, m->begin, (uint32_t)m->size);
    int useful = k >= 0;

    if (k >= 0) {
        out_remove(p, (size_t)k);
    }
    p->down_bytes += m->size;
    t->downloaded += m->size;
    e->downloaded += m->size;
    p->last_block_ms = now;
    oa_rate_limit_take(&e->down_limit, now, m->size);

    if (t->picker == NULL || m->size == 0) {
        useful = 0;
    } else if (!useful) {
        size_t n = 0;
        int st = oa_picker_block_state(t->picker, m->index, m->begin, NULL, 0, &n);
        useful = (st == OA_PICKER_BLOCK_FREE || st == OA_PICKER_BLOCK_REQUESTED) &&
                 (m->size == OA_PICKER_BLOCK_SIZE ||
                  m->begin + m->size == oa_picker_piece_size(t->picker, m->index));
    }
    if (!useful) {
        t->wasted += m->size;
        return;
    }
    oa_torrent_block_in(t, p, m->index, m->begin, m->data, m->size);
    if (!p->closing) {
        peer_fill(p);
    }
}

static void on_choke(oa_peer *p)
{
    p->peer_choking = 1;
    if (p->ext & OA_WIRE_EXT_FAST) {
        return; /* BEP 6: requests stay until rejected */
    }
    if (p->pk != 0 && p->t->picker != NULL) {
        oa_picker_peer_drop_requests(p->t->picker, p->pk);
    }
    out_clear(p);
}

static void on_reject(oa_peer *p, const oa_wire_msg *m)
{
    long k = out_find(PV(p), m->index, m->begin, m->length);
    if (k < 0) {
        return; /* after our cancel or a timeout */
    }
    out_remove(p, (size_t)k);
    if (p->pk != 0 && p->t->picker != NULL) {
        oa_picker_request_cancelled(p->t->picker, p->pk, m->index, m->begin);
    }
}

static void on_cancel(oa_peer *p, const oa_wire_msg *m)
{
    long k = in_find(PV(p), m->index, m->begin, m->length);
    if (k < 0) {
        return;
    }
    in_remove(p, (size_t)k);
    if (p->ext & OA_WIRE_EXT_FAST) {
        peer_send_simple(p, OA_WIRE_REJECT, m->index, m->begin, m->length);
    }
}

static void on_allowed_fast(oa_peer *p, uint32_t index)
{
    if (allowed_fast_has(p, index) || p->n_allowed_fast >= PEER_MAX_ALLOWED_FAST) {
        return;
    }
    if (peer_piece_count(p) && index >= PV(p)->bf.count) {
        return;
    }
    p->allowed_fast[p->n_allowed_fast++] = index;
    if (p->peer_choking) {
        peer_fill(p);
    }
}

static void pex_to_addr(const oa_pex_peer *pp, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    if (pp->v6) {
        inet_ntop(AF_INET6, pp->ip, ip, sizeof(ip));
        snprintf(out, len, "[%s]:%u", ip, (unsigned)pp->port);
    } else {
        inet_ntop(AF_INET, pp->ip, ip, sizeof(ip));
        snprintf(out, len, "%s:%u", ip, (unsigned)pp->port);
    }
}

/* Parses "ip:port" or "[v6]:port"; 0 or OA_EINVAL. */
static int addr_to_pex(const char *addr, uint16_t port_override, uint8_t flags, oa_pex_peer *out)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon;
    const char *h = addr;
    size_t hl;
    unsigned long port;
    uint8_t ip[16];
    char *end;

    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':') {
            return OA_EINVAL;
        }
        h = addr + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL) {
            return OA_EINVAL;
        }
        hl = (size_t)(colon - addr);
    }
    if (hl == 0 || hl >= sizeof(host)) {
        return OA_EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port == 0 || port > 65535) {
        return OA_EINVAL;
    }
    if (port_override != 0) {
        port = port_override;
    }
    if (inet_pton(AF_INET, host, ip) == 1) {
        return oa_pex_peer_set(out, ip, 4, (uint16_t)port, flags);
    }
    if (inet_pton(AF_INET6, host, ip) == 1) {
        return oa_pex_peer_set(out, ip, 16, (uint16_t)port, flags);
    }
    return OA_EINVAL;
}

static void on_pex(oa_peer *p, const uint8_t *data, size_t size)
{
    oa_pex_msg *msg;
    char err[128];
    char addrs[OA_PEX_MAX_ADDED][OA_ADDR_MAX];
    const char *list[OA_PEX_MAX_ADDED];
    size_t n = 0;

    if (!pex_allowed(p) || oa_pex_tracker_received(&p->pex, oa_engine_now(p->e)) != 0) {
        return;
    }
    msg = malloc(sizeof(*msg));
    if (msg == NULL) {
        return;
    }
    if (oa_pex_decode(data, size, msg, err, sizeof(err)) != 0) {
        OA_LOG(p->e, OA_LOG_DEBUG, "peer %s: ignoring a ut_pex message: %s", p->addr, err);
        free(msg);
        return;
    }
    for (size_t i = 0; i < msg->added_count && n < OA_PEX_MAX_ADDED; i++) {
        pex_to_addr(&msg->added[i], addrs[n], sizeof(addrs[n]));
        list[n] = addrs[n];
        n++;
    }
    free(msg);
    if (n > 0) {
        oa_torrent_add_candidates(p->t, list, n);
    }
}

static void on_ut_metadata(oa_peer *p, const uint8_t *data, size_t size)
{
    oa_torrent *t = p->t;
    oa_meta_msg mm;
    char err[128];
    int rc = oa_meta_decode(data, size, &mm, err, sizeof(err));
    if (rc == OA_ENOSYS) {
        return; /* BEP 9: an unknown msg_type is ignored */
    }
    if (rc == OA_ENOMEM) {
        peer_fail(p, "out of memory decoding ut_metadata", 0);
        return;
    }
    if (rc != 0) {
        char why[192];
        snprintf(why, sizeof(why), "bad ut_metadata message: %s", err);
        peer_fail(p, why, 1);
        return;
    }
    if (mm.type == OA_META_REQUEST) {
        uint8_t their = oa_ext_peer_id(&p->extp, OA_EXT_UT_METADATA);
        uint8_t *out = NULL;
        size_t len = 0;
        const uint8_t *info = t->mi != NULL ? t->mi->info : NULL;
        size_t info_len = t->mi != NULL ? t->mi->info_len : 0;
        if (their == 0) {
            return;
        }
        if (info != NULL && (info_len == 0 || info_len > OA_EXT_MAX_METADATA_SIZE)) {
            info = NULL;
        }
        rc = oa_meta_serve(&p->meta_srv, info, info_len, &mm, &out, &len);
        if (rc >= 0) {
            peer_send_extended(p, their, out, len);
        }
        free(out);
    } else if (mm.type == OA_META_DATA) {
        oa_torrent_meta_data(t, p, &mm);
    } else if (mm.type == OA_META_REJECT) {
        oa_torrent_meta_reject(t, p, mm.piece);
    }
}

static void on_extended(oa_peer *p, const oa_wire_msg *m)
{
    if (m->ext_id == 0) {
        char err[128];
        int rc = oa_ext_peer_receive(&p->extp, m->data, m->size, err, sizeof(err));
        if (rc != 0) {
            char why[192];
            snprintf(why, sizeof(why), "bad extension handshake: %s", err);
            peer_fail(p, why, rc == OA_EPROTO);
            return;
        }
        if (p->extp.metadata_size > 0 && oa_ext_peer_id(&p->extp, OA_EXT_UT_METADATA) != 0) {
            oa_torrent_meta_peer(p->t, p, p->extp.metadata_size);
        }
        return;
    }
    switch (oa_ext_dispatch(&PV(p)->local, m->ext_id)) {
    case OA_EXT_UT_METADATA:
        on_ut_metadata(p, m->data, m->size);
        break;
    case OA_EXT_UT_PEX:
        on_pex(p, m->data, m->size);
        break;
    default:
        break; /* not ours: ignored */
    }
}

/* ---- the handshake ---------------------------------------------------------------- */

static void client_from_peer_id(const uint8_t id[20], char *out, size_t len)
{
    /* Azureus style: "-XX1234-" */
    out[0] = '\0';
    if (len < 9 || id[0] != '-' || id[7] != '-') {
        return;
    }
    for (int i = 0; i < 8; i++) {
        if (id[i] < 0x20 || id[i] > 0x7e) {
            return;
        }
    }
    memcpy(out, id, 8);
    out[8] = '\0';
}

/* Another attached peer of t with this peer id, or NULL. */
static oa_peer *find_same_peer(oa_torrent *t, const oa_peer *p)
{
    for (oa_peer *q = t->peers; q != NULL; q = q->tnext) {
        if (q != p && !q->closing && memcmp(q->peer_id, p->peer_id, 20) == 0) {
            return q;
        }
    }
    return NULL;
}

/* Their handshake: find the torrent, answer (inbound), send our first
 * messages, attach. The peer may be closed on return. */
static void on_handshake(oa_peer *p, const oa_wire_handshake *hs)
{
    peer_priv *pv = PV(p);
    oa_engine *e = p->e;
    oa_torrent *t;
    oa_peer *dup;
    oa_wire_handshake ours;
    char a[96], c[64], client[16];
    int rc;

    if (memcmp(hs->peer_id, e->peer_id, 20) == 0) {
        oa_peer_close(p, "connected to ourselves", 0);
        return;
    }
    if (p->outbound && memcmp(hs->info_hash, pv->want_hash, 20) != 0) {
        oa_peer_close(p, "its handshake names another info-hash", 0);
        return;
    }
    t = oa_engine_find(e, hs->info_hash);
    if (t == NULL || t->closing || e->stopping) {
        oa_peer_close(p, "its handshake names content we do not have", 0);
        return;
    }
    memcpy(p->peer_id, hs->peer_id, 20);
    p->ext = PEER_EXT & oa_wire_handshake_extensions(hs);
    oa_wire_decoder_set_extensions(&p->dec, p->ext);
    p->handshake_done = 1;
    p->last_recv_ms = oa_engine_now(e);

    /* One connection per peer: both sides keep the one opened by the lower
     * peer id, so simultaneous connects do not end with none. */
    dup = find_same_peer(t, p);
    if (dup != NULL) {
        const uint8_t *mine = p->outbound ? e->peer_id : p->peer_id;
        const uint8_t *theirs = dup->outbound ? e->peer_id : dup->peer_id;
        if (p->outbound == dup->outbound || memcmp(mine, theirs, 20) > 0) {
            oa_peer_close(p, "already connected to this peer", 0);
            return;
        }
        oa_peer_close(dup, "replaced by another connection with the same peer", 0);
    }

    unattached_unlink(p);
    p->t = t;
    if (pieces_known(p) != 0) {
        peer_finish(p, pv->fail_why, pv->fail_ban, 0);
        return;
    }
    if (!p->outbound) {
        oa_wire_handshake_init(&ours, t->info_hash, e->peer_id, PEER_EXT);
        send_intro(p, &ours);
    } else {
        send_intro(p, NULL);
    }
    if (pv->failed) {
        peer_finish(p, pv->fail_why, pv->fail_ban, 0);
        return;
    }

    pv->where = WHERE_ATTACHED;
    rc = oa_torrent_peer_attach(t, p);
    if (p->closing) {
        return;
    }
    if (rc != 0) {
        pv->where = WHERE_NONE;
        oa_peer_close(p, rc == OA_EAGAIN ? "the content has its most peers" :
                                           "the content is closing", 0);
        return;
    }
    client_from_peer_id(p->peer_id, client, sizeof(client));
    oa_engine_event(e, "swarm.peer.connected",
                    "{\"infohash\":\"%s\",\"addr\":%s,\"client\":%s,\"outbound\":%s}", t->hex,
                    oa_json_str(p->addr, a, sizeof(a)), oa_json_str(client, c, sizeof(c)),
                    p->outbound ? "true" : "false");
    OA_LOG(e, OA_LOG_DEBUG, "peer %s: connected (%s, %s%s)", p->addr,
           p->outbound ? "outbound" : "inbound",
           (p->ext & OA_WIRE_EXT_FAST) ? "fast " : "",
           (p->ext & OA_WIRE_EXT_EXTENDED) ? "extended" : "");
    picker_sync(p);
    peer_update_interest(p);
}

/* One message after the handshake. */
static void on_message(oa_peer *p, const oa_wire_msg *m)
{
    switch (m->kind) {
    case OA_WIRE_HANDSHAKE:
        on_handshake(p, &m->handshake);
        return;
    case OA_WIRE_KEEPALIVE:
        return;
    default:
        break;
    }
    if (!peer_attached(p)) {
        return;
    }
    switch (m->kind) {
    case OA_WIRE_CHOKE:
        on_choke(p);
        break;
    case OA_WIRE_UNCHOKE:
        p->peer_choking = 0;
        p->unchoked_us_ms = oa_engine_now(p->e);
        peer_fill(p);
        break;
    case OA_WIRE_INTERESTED:
        p->peer_interested = 1;
        break;
    case OA_WIRE_NOT_INTERESTED:
        p->peer_interested = 0;
        break;
    case OA_WIRE_HAVE:
        on_have(p, m->index);
        peer_fill(p);
        break;
    case OA_WIRE_BITFIELD:
        on_bitfield(p, m->data, m->size);
        peer_fill(p);
        break;
    case OA_WIRE_HAVE_ALL:
    case OA_WIRE_HAVE_NONE:
        on_have_all_none(p, m->kind == OA_WIRE_HAVE_ALL);
        peer_fill(p);
        break;
    case OA_WIRE_REQUEST:
        on_request(p, m);
        break;
    case OA_WIRE_PIECE:
        on_piece(p, m);
        break;
    case OA_WIRE_CANCEL:
        on_cancel(p, m);
        break;
    case OA_WIRE_REJECT:
        on_reject(p, m);
        break;
    case OA_WIRE_ALLOWED_FAST:
        on_allowed_fast(p, m->index);
        break;
    case OA_WIRE_EXTENDED:
        on_extended(p, m);
        break;
    default:
        break; /* port, suggest, unknown ids: ignored */
    }
}

/* ---- transport callbacks -------------------------------------------------------------- */

static void on_read(void *arg, oa_conn *conn, const uint8_t *data, size_t len)
{
    oa_peer *p = arg;
    peer_priv *pv = PV(p);
    oa_engine *e = p->e;
    (void)conn;
    if (p->closing) {
        return;
    }
    peer_enter(p);
    p->last_recv_ms = oa_engine_now(e);
    while (len > 0 && !p->closing) {
        oa_wire_msg m;
        size_t used = 0;
        int rc;
        if (pv->failed) {
            break;
        }
        rc = oa_wire_decoder_next(&p->dec, data, len, &used, &m);
        data += used;
        len -= used;
        if (rc == 0) {
            break;
        }
        if (rc == OA_ENOMEM) {
            oa_peer_close(p, "out of memory reading from the peer", 0);
            break;
        }
        if (rc < 0) {
            char why[200];
            snprintf(why, sizeof(why), "protocol error: %s", oa_wire_decoder_error(&p->dec));
            oa_peer_close(p, why, 1);
            break;
        }
        on_message(p, &m);
    }
    if (!p->closing && pv->failed) {
        oa_peer_close(p, pv->fail_why, pv->fail_ban);
    }
    if (!p->closing && !pv->read_paused &&
        oa_rate_limit_available(&e->down_limit, oa_engine_now(e)) == 0) {
        pv->read_paused = 1;
        e->tp->read_stop(p->conn);
    }
    peer_leave(p);
}

static void on_close(void *arg, oa_conn *conn, int reason)
{
    oa_peer *p = arg;
    static const char *const why[] = {"closed locally", "the peer closed the connection",
                                      "connection error", "idle too long",
                                      "the transport is stopping"};
    (void)conn;
    if (p->closing) {
        return;
    }
    peer_enter(p);
    peer_finish(p, reason >= 0 && reason <= OA_CLOSE_SHUTDOWN ? why[reason] : "closed", 0, 1);
    peer_leave(p);
}

static void on_written(void *arg, oa_conn *conn, int status)
{
    oa_peer *p = arg;
    peer_priv *pv = PV(p);
    (void)conn;
    if (p->closing || status != 0 || pv->n_in == 0) {
        return;
    }
    peer_enter(p);
    serve_ready(p, oa_engine_now(p->e));
    pump(p);
    peer_leave(p);
}

static void on_connect(void *arg, oa_conn *conn, int status)
{
    oa_peer *p = arg;
    peer_priv *pv = PV(p);
    oa_engine *e = p->e;
    oa_wire_handshake hs;
    uint8_t buf[OA_WIRE_HANDSHAKE_LEN];
    int rc;

    if (p->closing) {
        return; /* our own close of a connect in progress */
    }
    pv->connecting = 0;
    peer_enter(p);
    if (status != 0) {
        char why[96];
        p->conn = NULL; /* already gone */
        snprintf(why, sizeof(why), "connect failed (error %d)", status);
        peer_finish(p, why, 0, 1);
        peer_leave(p);
        return;
    }
    p->conn = conn;
    p->connected_ms = oa_engine_now(e);
    p->last_recv_ms = p->connected_ms;
    e->tp->set_callbacks(conn, on_read, on_close, p);
    oa_wire_handshake_init(&hs, pv->want_hash, e->peer_id, PEER_EXT);
    oa_wire_handshake_encode(&hs, buf);
    rc = peer_write(p, buf, sizeof(buf));
    if (rc == 0) {
        p->handshake_sent = 1;
        rc = e->tp->read_start(conn);
    }
    if (rc != 0) {
        oa_peer_close(p, "cannot start the connection", 0);
    }
    peer_leave(p);
}

/* ---- closing -------------------------------------------------------------------------- */

/* Closes and frees (now, or when the outermost holder leaves). conn_gone:
 * the transport has closed the connection already. */
static void peer_finish(oa_peer *p, const char *why, int ban, int conn_gone)
{
    peer_priv *pv = PV(p);
    oa_engine *e = p->e;
    oa_conn *c;

    if (p->closing) {
        return;
    }
    p->closing = 1;
    OA_LOG(e, OA_LOG_DEBUG, "peer %s: closing: %s", p->addr, why);
    if (ban) {
        oa_engine_ban(e, p->addr, why);
    }
    if (pv->where == WHERE_ATTACHED && p->t != NULL) {
        char a[96], r[160];
        oa_engine_event(e, "swarm.peer.disconnected",
                        "{\"infohash\":\"%s\",\"addr\":%s,\"reason\":%s}", p->t->hex,
                        oa_json_str(p->addr, a, sizeof(a)), oa_json_str(why, r, sizeof(r)));
        oa_torrent_peer_detach(p->t, p);
        p->pk = 0;
        pv->where = WHERE_NONE;
    } else if (pv->where == WHERE_UNATTACHED) {
        unattached_unlink(p);
    }
    c = p->conn;
    p->conn = NULL;
    if (c != NULL && !conn_gone) {
        e->tp->close(c); /* our callbacks see closing and return */
    }
    if (e->peer_count > 0) {
        e->peer_count--;
    }
    if (pv->busy == 0) {
        peer_free(p);
    }
}

void oa_peer_close(oa_peer *p, const char *why, int ban)
{
    if (p == NULL || p->closing) {
        return;
    }
    peer_finish(p, why != NULL ? why : "closed", ban, 0);
}

/* ---- connect and accept ----------------------------------------------------------------- */

void oa_peer_accept(oa_engine *e, oa_conn *conn)
{
    char addr[OA_ADDR_MAX];
    oa_peer *p;

    if (e->tp->remote_addr(conn, addr, sizeof(addr)) != 0) {
        snprintf(addr, sizeof(addr), "?");
    }
    if (e->stopping || oa_engine_banned(e, addr) ||
        e->peer_count >= e->cfg.max_connections) {
        OA_LOG(e, OA_LOG_DEBUG, "refusing %s: %s", addr,
               e->stopping ? "stopping" : e->peer_count >= e->cfg.max_connections ?
               "too many connections" : "banned");
        e->tp->close(conn);
        return;
    }
    p = peer_new(e, addr, 0);
    if (p == NULL) {
        e->tp->close(conn);
        return;
    }
    p->conn = conn;
    unattached_link(p);
    e->tp->set_callbacks(conn, on_read, on_close, p);
    if (e->tp->read_start(conn) != 0) {
        oa_peer_close(p, "cannot read from the connection", 0);
    }
}

int oa_peer_connect(oa_torrent *t, const char *addr)
{
    oa_engine *e;
    oa_peer *p;
    int rc;

    if (t == NULL || addr == NULL || addr[0] == '\0' || strlen(addr) >= OA_ADDR_MAX) {
        return OA_EINVAL;
    }
    e = t->e;
    if (t->closing || e->stopping) {
        return OA_ESTATE;
    }
    if (e->peer_count >= e->cfg.max_connections || t->peer_count >= e->cfg.max_peers) {
        return OA_EAGAIN;
    }
    if (oa_engine_banned(e, addr)) {
        return OA_EACCES;
    }
    for (oa_peer *q = t->peers; q != NULL; q = q->tnext) {
        if (!q->closing && strcmp(q->addr, addr) == 0) {
            return OA_EEXIST;
        }
    }
    for (oa_peer *q = e->unattached; q != NULL; q = q->tnext) {
        if (!q->closing && q->outbound && strcmp(q->addr, addr) == 0 &&
            memcmp(PV(q)->want_hash, t->info_hash, 20) == 0) {
            return OA_EEXIST;
        }
    }
    p = peer_new(e, addr, 1);
    if (p == NULL) {
        return OA_ENOMEM;
    }
    memcpy(PV(p)->want_hash, t->info_hash, 20);
    PV(p)->connecting = 1;
    unattached_link(p);
    /* held, in case a transport calls back before connect returns */
    peer_enter(p);
    rc = e->tp->connect(e->tp->instance, addr, 0, on_connect, p, &p->conn);
    if (rc != 0) {
        /* no callback was called (transport.h) */
        unattached_unlink(p);
        e->peer_count--;
        peer_free(p);
        return rc;
    }
    peer_leave(p);
    return 0;
}

/* ---- called by torrent.c ---------------------------------------------------------------- */

void oa_peer_send_have(oa_peer *p, uint32_t piece)
{
    if (p == NULL || !peer_live(p) || !PV(p)->intro_sent) {
        return;
    }
    peer_send_simple(p, OA_WIRE_HAVE, piece, 0, 0);
    peer_update_interest(p);
}

void oa_peer_send_choke(oa_peer *p, int choke)
{
    choke = choke != 0;
    if (p == NULL || !peer_live(p) || !PV(p)->intro_sent || p->am_choking == choke) {
        return;
    }
    p->am_choking = choke;
    peer_send_simple(p, choke ? OA_WIRE_CHOKE : OA_WIRE_UNCHOKE, 0, 0, 0);
    if (choke) {
        in_drop_all(p);
    }
}

void oa_peer_send_cancel(oa_peer *p, uint32_t piece, uint32_t begin, uint32_t length)
{
    long k;
    if (p == NULL || !peer_live(p)) {
        return;
    }
    k = out_find(PV(p), piece, begin, length);
    if (k < 0) {
        return;
    }
    out_remove(p, (size_t)k);
    if (p->pk != 0 && p->t != NULL && p->t->picker != NULL) {
        /* usually forgotten already (a block arrived elsewhere); harmless */
        oa_picker_request_cancelled(p->t->picker, p->pk, piece, begin);
    }
    peer_send_simple(p, OA_WIRE_CANCEL, piece, begin, length);
}

void oa_peer_send_block(oa_peer *p, uint32_t piece, uint32_t begin, const uint8_t *data,
                        uint32_t length)
{
    peer_priv *pv;
    uint64_t now;
    long k;
    int ready_before = 0;

    if (p == NULL || data == NULL || !peer_live(p)) {
        return;
    }
    pv = PV(p);
    k = in_find(pv, piece, begin, length);
    if (k < 0 || pv->in[k].state != IN_ASKED) {
        return; /* cancelled, rejected, or never asked */
    }
    if (p->am_choking) {
        in_remove(p, (size_t)k);
        return;
    }
    for (long i = 0; i < k; i++) {
        ready_before |= pv->in[i].state == IN_READY;
    }
    now = oa_engine_now(p->e);
    if (!ready_before && upload_allowed(p, length, now)) {
        in_remove(p, (size_t)k);
        block_write(p, piece, begin, data, length, now);
        return;
    }
    /* wait for upload tokens: the tick or a write callback sends it */
    pv->in[k].data = malloc(length > 0 ? length : 1);
    if (pv->in[k].data == NULL) {
        in_remove(p, (size_t)k);
        if (p->ext & OA_WIRE_EXT_FAST) {
            peer_send_simple(p, OA_WIRE_REJECT, piece, begin, length);
        }
        return;
    }
    memcpy(pv->in[k].data, data, length);
    pv->in[k].state = IN_READY;
    in_recount(p);
}

void oa_peer_reject(oa_peer *p, uint32_t piece, uint32_t begin, uint32_t length)
{
    long k;
    if (p == NULL || !peer_live(p)) {
        return;
    }
    k = in_find(PV(p), piece, begin, length);
    if (k < 0) {
        return; /* cancelled: answered then */
    }
    in_remove(p, (size_t)k);
    if (p->ext & OA_WIRE_EXT_FAST) {
        peer_send_simple(p, OA_WIRE_REJECT, piece, begin, length);
    }
}

void oa_peer_send_meta_request(oa_peer *p, uint32_t piece)
{
    oa_meta_msg mm;
    uint8_t *out = NULL;
    size_t len = 0;
    uint8_t their;
    if (p == NULL || !peer_live(p)) {
        return;
    }
    their = oa_ext_peer_id(&p->extp, OA_EXT_UT_METADATA);
    if (their == 0) {
        return;
    }
    memset(&mm, 0, sizeof(mm));
    mm.type = OA_META_REQUEST;
    mm.piece = piece;
    if (oa_meta_encode(&mm, &out, &len) != 0) {
        return;
    }
    peer_send_extended(p, their, out, len);
    free(out);
}

void oa_peer_metadata_ready(oa_peer *p)
{
    if (p == NULL || p->closing || PV(p)->failed || p->t == NULL || p->t->mi == NULL) {
        return;
    }
    if (pieces_known(p) != 0) {
        return; /* closed on its next read or tick */
    }
    picker_sync(p);
    peer_update_interest(p);
    peer_fill(p);
}

void oa_peer_fill(oa_peer *p)
{
    if (p == NULL) {
        return;
    }
    peer_fill(p);
}

void oa_peer_choker_view(const oa_peer *p, oa_choker_peer *out)
{
    memset(out, 0, sizeof(*out));
    out->id = p->id;
    out->download_rate = p->down_rate;
    out->upload_rate = p->up_rate;
    out->connected_ms = p->connected_ms;
    out->last_block_ms = p->last_block_ms;
    out->unchoked_us_ms = p->unchoked_us_ms;
    out->we_interested_ms = p->we_interested_ms;
    out->interested = (uint8_t)(p->peer_interested != 0);
    out->choked = (uint8_t)(p->am_choking != 0);
    out->chokes_us = (uint8_t)(p->peer_choking != 0);
    out->we_interested = (uint8_t)(p->am_interested != 0);
}

/* ---- the tick ------------------------------------------------------------------------- */

static void tick_rates(oa_peer *p, uint64_t now)
{
    peer_priv *pv = PV(p);
    uint64_t dt = now > pv->last_tick_ms ? now - pv->last_tick_ms : 0;
    if (dt == 0) {
        return;
    }
    p->down_rate = (p->down_bytes - p->down_mark) * 1000 / dt;
    p->up_rate = (p->up_bytes - p->up_mark) * 1000 / dt;
    p->down_mark = p->down_bytes;
    p->up_mark = p->up_bytes;
    pv->last_tick_ms = now;
    if (peer_attached(p) && p->pk != 0 && p->t->picker != NULL) {
        oa_picker_peer_set_rate(p->t->picker, p->pk, p->down_rate);
    }
}

static void tick_request_timeouts(oa_peer *p, uint64_t now)
{
    peer_priv *pv = PV(p);
    uint64_t limit = p->e->cfg.request_timeout_ms;
    oa_wire_buf b;
    size_t i = 0;
    if (limit == 0 || pv->n_out == 0) {
        return;
    }
    oa_wire_buf_init(&b);
    while (i < pv->n_out) {
        peer_out o = pv->out[i];
        if (now - o.sent_ms < limit) {
            i++;
            continue;
        }
        if (p->pk != 0 && p->t->picker != NULL) {
            oa_picker_request_cancelled(p->t->picker, p->pk, o.piece, o.begin);
        }
        buf_put_simple(&b, OA_WIRE_CANCEL, o.piece, o.begin, o.length);
        out_remove(p, i);
    }
    peer_send_buf(p, &b);
}

static void tick_pex(oa_peer *p, uint64_t now)
{
    peer_priv *pv = PV(p);
    uint8_t their = oa_ext_peer_id(&p->extp, OA_EXT_UT_PEX);
    oa_pex_peer *peers;
    oa_pex_msg *msg;
    size_t n = 0;
    uint8_t *out = NULL;
    size_t len = 0;

    if (their == 0 || !pex_allowed(p) || !(pv->local.enabled & OA_EXT_BIT(OA_EXT_UT_PEX)) ||
        now - pv->pex_checked_ms < PEER_PEX_CHECK_MS) {
        return;
    }
    pv->pex_checked_ms = now; /* the tracker keeps OA_PEX_INTERVAL_MS between messages */
    peers = calloc(p->t->peer_count + 1, sizeof(*peers));
    msg = malloc(sizeof(*msg));
    if (peers == NULL || msg == NULL) {
        free(peers);
        free(msg);
        return;
    }
    for (oa_peer *q = p->t->peers; q != NULL && n <= p->t->peer_count; q = q->tnext) {
        uint8_t flags = 0;
        if (q == p || q->closing || !q->handshake_done) {
            continue;
        }
        if (!q->outbound && q->extp.port == 0) {
            continue; /* its listen port is unknown */
        }
        flags |= q->outbound ? OA_PEX_F_OUTGOING : 0;
        flags |= q->seed ? OA_PEX_F_SEED : 0;
        if (addr_to_pex(q->addr, q->outbound ? 0 : q->extp.port, flags, &peers[n]) == 0) {
            n++;
        }
    }
    if (oa_pex_tracker_next(&p->pex, peers, n, now, msg) == 1 &&
        oa_pex_encode(msg, &out, &len) == 0) {
        peer_send_extended(p, their, out, len);
        free(out);
    }
    free(peers);
    free(msg);
}

void oa_peer_tick(oa_peer *p, uint64_t now_ms)
{
    peer_priv *pv;
    oa_engine *e;
    char why[96];

    if (p == NULL || p->closing) {
        return;
    }
    pv = PV(p);
    e = p->e;
    peer_enter(p);
    if (pv->failed) {
        oa_peer_close(p, pv->fail_why, pv->fail_ban);
        peer_leave(p);
        return;
    }
    if (pv->connecting) {
        /* the transport times the connect out; this is a safety net */
        if (now_ms - p->connected_ms > 2 * e->cfg.handshake_timeout_ms + 60000) {
            oa_peer_close(p, "connect never finished", 0);
        }
        peer_leave(p);
        return;
    }
    if (!p->handshake_done && e->cfg.handshake_timeout_ms > 0 &&
        now_ms - p->connected_ms >= e->cfg.handshake_timeout_ms) {
        oa_peer_close(p, "no handshake in time", 0);
        peer_leave(p);
        return;
    }
    if (e->cfg.peer_timeout_ms > 0 && now_ms - p->last_recv_ms >= e->cfg.peer_timeout_ms) {
        snprintf(why, sizeof(why), "nothing received for %llu s",
                 (unsigned long long)((now_ms - p->last_recv_ms) / 1000));
        oa_peer_close(p, why, 0);
        peer_leave(p);
        return;
    }
    tick_rates(p, now_ms);
    if (peer_attached(p)) {
        if (now_ms - p->last_send_ms >= PEER_KEEPALIVE_MS) {
            peer_send_simple(p, OA_WIRE_KEEPALIVE, 0, 0, 0);
        }
        tick_request_timeouts(p, now_ms);
        tick_pex(p, now_ms);
        serve_ready(p, now_ms);
        pump(p);
    }
    if (!p->closing && pv->read_paused && p->conn != NULL &&
        oa_rate_limit_available(&e->down_limit, now_ms) > 0) {
        pv->read_paused = 0;
        e->tp->read_start(p->conn);
    }
    if (!p->closing && peer_attached(p)) {
        peer_fill(p);
    }
    if (!p->closing && pv->failed) {
        oa_peer_close(p, pv->fail_why, pv->fail_ban);
    }
    peer_leave(p);
}

/*
 * One peer connection's messages (engine.h, peer_int.h): what it sends us
 * after the handshake, our requests to it and their pipelining, its
 * requests and serving them under the upload limit, what it has (before
 * and after the metadata is known), our interest, and the calls torrent.c
 * makes on a peer. The lifetime and re-entrancy rules are at the top of
 * peer.c: functions that torrent.c calls never close the peer themselves.
 */
#include "peer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEER_UPLOAD_WINDOW (4u * 1024u * 1024u) /* bytes queued or being read for it */
#define PEER_MAX_BLOCK OA_WIRE_DEFAULT_MAX_BLOCK
#define PEER_PICK_CHUNK 64
#define PEER_MAX_ALLOWED_FAST 16

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

void peer_out_remove(oa_peer *p, size_t i)
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
            peer_buf_put_simple(&b, OA_WIRE_REJECT, pv->in[i].piece, pv->in[i].begin,
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
void peer_serve_ready(oa_peer *p, uint64_t now)
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
void peer_pump(oa_peer *p)
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
void peer_picker_sync(oa_peer *p)
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
    peer_picker_sync(p);
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
int peer_pieces_known(oa_peer *p)
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

/* ---- interest and requests -------------------------------------------------------- */

void peer_update_interest(oa_peer *p)
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
    /* 64 blocks (1 MiB) from the start: a seeder woken for 16 requests at a
     * time spends itself on wake-ups (docs/performance.md) */
    depth = p->down_rate * 2 / OA_PICKER_BLOCK_SIZE + 64;
    if (depth > cap) {
        depth = cap;
    }
    return (unsigned)depth;
}

void peer_fill(oa_peer *p)
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
                peer_buf_put_simple(&b, OA_WIRE_REQUEST, reqs[i].piece, reqs[i].offset,
                                    reqs[i].length) != 0) {
                /* cannot keep or send it: give it back */
                long k = out_find(pv, reqs[i].piece, reqs[i].offset, reqs[i].length);
                if (k >= 0) {
                    peer_out_remove(p, (size_t)k);
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
    peer_pump(p);
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
        peer_out_remove(p, (size_t)k);
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
    peer_out_remove(p, (size_t)k);
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
        if (t->live != NULL && oa_live_descriptor(t, &info, &info_len) != 0) {
            info = NULL; /* live: the descriptor stands for the info dictionary */
            info_len = 0;
        }
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
        if (p->t->live != NULL) {
            oa_live_peer_ext_handshake(p); /* live: it must speak oa_live */
        }
        return;
    }
    switch (oa_ext_dispatch(&PV(p)->local, m->ext_id)) {
    case OA_EXT_UT_METADATA:
        on_ut_metadata(p, m->data, m->size);
        break;
    case OA_EXT_UT_PEX:
        peer_on_pex(p, m->data, m->size);
        break;
    case OA_EXT_OA_LIVE:
        if (p->t->live != NULL) {
            oa_live_peer_message(p, m->data, m->size); /* live_peer.c, issue 7 */
        }
        break;
    default:
        break; /* not ours: ignored */
    }
}

/* ---- the handshake ---------------------------------------------------------------- */

/* One message after the handshake. */
void peer_on_message(oa_peer *p, const oa_wire_msg *m)
{
    switch (m->kind) {
    case OA_WIRE_HANDSHAKE:
        peer_on_handshake(p, &m->handshake);
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
        if (p->t != NULL) {
            oa_torrent_peer_interested(p->t, p);
        }
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
    peer_out_remove(p, (size_t)k);
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
    if (peer_pieces_known(p) != 0) {
        return; /* closed on its next read or tick */
    }
    peer_picker_sync(p);
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

/* ---- live streams (issue 7): what live_peer.c needs of a connection ------------------ */

void oa_peer_send_live(oa_peer *p, const uint8_t *payload, size_t len)
{
    uint8_t their;
    if (p == NULL || !peer_live(p) || !peer_attached(p)) {
        return;
    }
    their = oa_ext_peer_id(&p->extp, OA_EXT_OA_LIVE);
    if (their == 0) {
        return;
    }
    peer_send_extended(p, their, payload, len);
}

void oa_peer_fail(oa_peer *p, const char *why, int ban)
{
    if (p != NULL && !p->closing) {
        peer_fail(p, why, ban);
    }
}

int oa_peer_usable(const oa_peer *p)
{
    return p != NULL && peer_live(p) && peer_attached(p) && p->handshake_done;
}

void oa_peer_send_ext_update(oa_peer *p)
{
    peer_priv *pv;
    const uint8_t *desc = NULL;
    size_t dlen = 0;
    uint8_t *payload = NULL;
    size_t plen = 0;
    if (p == NULL || p->t == NULL || p->t->live == NULL || !peer_live(p) || !peer_attached(p) ||
        !(p->ext & OA_WIRE_EXT_EXTENDED)) {
        return;
    }
    pv = PV(p);
    if (!pv->intro_sent || oa_live_descriptor(p->t, &desc, &dlen) != 0 ||
        dlen > OA_EXT_MAX_METADATA_SIZE || pv->local.metadata_size == dlen) {
        return; /* not sent yet (send_intro will say it), or nothing new to say */
    }
    pv->local.metadata_size = dlen;
    if (oa_ext_handshake_build(&pv->local, &payload, &plen) != 0) {
        return;
    }
    peer_send_extended(p, 0, payload, plen); /* BEP 10: a later handshake updates */
    free(payload);
}

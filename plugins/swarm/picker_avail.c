/* Piece picker, availability: the peers, what each announced, and the
 * order of the pieces we lack by how many peers have them (see picker.h for
 * the interface and picker_int.h for the shared state; picker.c picks from
 * this order).
 *
 * Availability order (after libtorrent's piece buckets, without its global
 * re-sorts): order[0, nlack) holds the pieces we lack sorted by availability,
 * in buckets; bucket a is order[bstart[a], bstart[a + 1]) and holds the pieces
 * that exactly a non-seed peers have (seeds are counted once, in nseeds,
 * because they shift every piece alike). A change of one piece's availability
 * by one moves it across a single bucket boundary in O(1); it then swaps with
 * a random member of its new bucket, which keeps every bucket a uniformly
 * random permutation, so ties are broken at random and a rarest-first walk
 * is a walk from order[0]. Pieces we have sit in order[nlack, npieces).
 *
 * Every change of availability also keeps pk->unreq (missing blocks that
 * some connected peer has and nobody was asked for) in step: a piece's
 * blocks count there while at least one peer or seed has it. */
#include "picker_int.h"

#include <stdlib.h>
#include <string.h>

#include "bitfield.h"

#define MAX_SLOTS 0xFFFFu

/* ------------------------------------------------------------------------ */
/* Availability order. */

static void order_swap(oa_picker *pk, uint32_t i, uint32_t j)
{
    uint32_t a = pk->order[i];
    uint32_t b = pk->order[j];

    pk->order[i] = b;
    pk->order[j] = a;
    pk->pos[b] = i;
    pk->pos[a] = j;
}

/* Swaps piece p with a random member of the bucket [lo, hi) it sits in. */
static void order_mix(oa_picker *pk, uint32_t p, uint32_t lo, uint32_t hi)
{
    order_swap(pk, pk->pos[p], lo + rng_below(&pk->rng, hi - lo));
}

static void buckets_trim(oa_picker *pk)
{
    while (pk->nbuckets > 1 && pk->bstart[pk->nbuckets - 1] == pk->bstart[pk->nbuckets])
        pk->nbuckets--;
}

static void avail_inc(oa_picker *pk, uint32_t p)
{
    uint32_t a = pk->avail[p];

    if (!pk->have[p] && pk->nseeds == 0 && a == 0)
        pk->unreq += unreq_of(pk, p);
    pk->avail[p]++;
    if (pk->have[p])
        return;
    if (a + 1 == pk->nbuckets) {
        pk->bstart[pk->nbuckets + 1] = pk->bstart[pk->nbuckets];
        pk->nbuckets++;
    }
    order_swap(pk, pk->pos[p], pk->bstart[a + 1] - 1);
    pk->bstart[a + 1]--;
    order_mix(pk, p, pk->bstart[a + 1], pk->bstart[a + 2]);
}

static void avail_dec(oa_picker *pk, uint32_t p)
{
    uint32_t a = pk->avail[p];

    if (!pk->have[p] && pk->nseeds == 0 && a == 1)
        pk->unreq -= unreq_of(pk, p);
    pk->avail[p]--;
    if (pk->have[p])
        return;
    order_swap(pk, pk->pos[p], pk->bstart[a]);
    pk->bstart[a]++;
    order_mix(pk, p, pk->bstart[a - 1], pk->bstart[a]);
    buckets_trim(pk);
}

/* Starts the order: every piece in bucket 0, shuffled. */
void pk_order_init(oa_picker *pk)
{
    for (uint32_t i = 0; i < pk->npieces; i++) {
        uint32_t j = rng_below(&pk->rng, i + 1); /* inside-out Fisher-Yates */

        if (j != i) {
            pk->order[i] = pk->order[j];
            pk->pos[pk->order[i]] = i;
        }
        pk->order[j] = i;
        pk->pos[i] = j;
    }
    pk->nlack = pk->npieces;
    pk->nbuckets = 1;
    pk->bstart[1] = pk->npieces;
}

/* Moves piece p out of the sorted prefix, bucket by bucket. */
void pk_order_remove(oa_picker *pk, uint32_t p)
{
    for (uint32_t b = pk->avail[p]; b < pk->nbuckets; b++) {
        order_swap(pk, pk->pos[p], pk->bstart[b + 1] - 1);
        pk->bstart[b + 1]--;
    }
    pk->nlack = pk->bstart[pk->nbuckets];
    buckets_trim(pk);
}

/* Seeds make every piece available: blocks of pieces nobody else has
 * (bucket 0) enter or leave the unrequested count. */
static void seeds_inc(oa_picker *pk)
{
    if (pk->nseeds == 0) {
        for (uint32_t i = pk->bstart[0]; i < pk->bstart[1]; i++)
            pk->unreq += unreq_of(pk, pk->order[i]);
    }
    pk->nseeds++;
}

static void seeds_dec(oa_picker *pk)
{
    pk->nseeds--;
    if (pk->nseeds == 0) {
        for (uint32_t i = pk->bstart[0]; i < pk->bstart[1]; i++)
            pk->unreq -= unreq_of(pk, pk->order[i]);
    }
}

/* ------------------------------------------------------------------------ */
/* Peers. */

int oa_picker_peer_add(oa_picker *pk, oa_picker_peer *out)
{
    uint32_t slot = 0;
    pk_peer *pr;

    while (slot < pk->peer_cap && pk->peers[slot].used)
        slot++;
    if (slot == pk->peer_cap) {
        uint32_t cap = pk->peer_cap ? pk->peer_cap * 2 : 8;
        pk_peer *np;
        uint32_t *nb;

        if (pk->peer_cap >= MAX_SLOTS)
            return OA_EOVERFLOW;
        if (cap > MAX_SLOTS)
            cap = MAX_SLOTS;
        /* A bucket per possible availability: no later update can fail. */
        nb = realloc(pk->bstart, ((size_t)cap + 2) * sizeof(*nb));
        if (nb == NULL)
            return OA_ENOMEM;
        pk->bstart = nb;
        np = realloc(pk->peers, cap * sizeof(*np));
        if (np == NULL)
            return OA_ENOMEM;
        memset(np + pk->peer_cap, 0, (cap - pk->peer_cap) * sizeof(*np));
        pk->peers = np;
        pk->peer_cap = cap;
    }
    pr = &pk->peers[slot];
    pr->gen++;
    pr->used = 1;
    pr->seed = 0;
    pr->count = 0;
    pr->interesting = 0;
    pr->outstanding = 0;
    pr->rate = 0;
    *out = ((uint32_t)pr->gen << 16) | (slot + 1);
    return 0;
}

/* Drops every piece the peer announced, seed or not. */
static void peer_clear(oa_picker *pk, pk_peer *pr)
{
    if (pr->seed) {
        pr->seed = 0;
        seeds_dec(pk);
    } else if (pr->bits != NULL && pr->count > 0) {
        for (uint32_t p = 0; p < pk->npieces; p++) {
            if (bit_get(pr->bits, p))
                avail_dec(pk, p);
        }
        memset(pr->bits, 0, oa_bitfield_bytes(pk->npieces));
    }
    pr->count = 0;
    pr->interesting = 0;
}

static void peer_make_seed(oa_picker *pk, pk_peer *pr)
{
    peer_clear(pk, pr);
    pr->seed = 1;
    seeds_inc(pk);
}

static int peer_set(oa_picker *pk, pk_peer *pr, uint32_t p)
{
    if (pr->bits == NULL) {
        pr->bits = calloc(oa_bitfield_bytes(pk->npieces), 1);
        if (pr->bits == NULL)
            return OA_ENOMEM;
    }
    pr->bits[p >> 3] |= (uint8_t)(0x80u >> (p & 7));
    pr->count++;
    if (!pk->have[p])
        pr->interesting++;
    avail_inc(pk, p);
    return 0;
}

int oa_picker_peer_remove(oa_picker *pk, oa_picker_peer peer)
{
    pk_peer *pr = peer_get(pk, peer);

    if (pr == NULL)
        return OA_ENOENT;
    oa_picker_peer_drop_requests(pk, peer);
    peer_clear(pk, pr);
    free(pr->bits);
    pr->bits = NULL;
    pr->used = 0;
    return 0;
}

int oa_picker_peer_have(oa_picker *pk, oa_picker_peer peer, uint32_t piece)
{
    pk_peer *pr = peer_get(pk, peer);
    int rc;

    if (pr == NULL)
        return OA_ENOENT;
    if (piece >= pk->npieces)
        return OA_EPROTO;
    if (peer_has(pr, piece))
        return 0;
    rc = peer_set(pk, pr, piece);
    if (rc == 0 && pr->count == pk->npieces)
        peer_make_seed(pk, pr);
    return rc;
}

int oa_picker_peer_bitfield(oa_picker *pk, oa_picker_peer peer, const uint8_t *bits,
                            size_t len)
{
    pk_peer *pr = peer_get(pk, peer);
    uint32_t n = 0;

    if (pr == NULL)
        return OA_ENOENT;
    /* Exactly oa_bitfield_bytes(npieces) bytes, spare bits zero. NULL bits
     * are a bad message here too (oa_bitfield_check would say OA_EINVAL). */
    if (bits == NULL || oa_bitfield_check(bits, len, pk->npieces) != 0)
        return OA_EPROTO;
    for (uint32_t p = 0; p < pk->npieces; p++)
        n += (uint32_t)bit_get(bits, p);
    if (n == pk->npieces) {
        peer_make_seed(pk, pr);
        return 0;
    }
    peer_clear(pk, pr);
    for (uint32_t p = 0; p < pk->npieces; p++) {
        if (bit_get(bits, p) && peer_set(pk, pr, p) != 0) {
            peer_clear(pk, pr);
            return OA_ENOMEM;
        }
    }
    return 0;
}

int oa_picker_peer_have_all(oa_picker *pk, oa_picker_peer peer)
{
    pk_peer *pr = peer_get(pk, peer);

    if (pr == NULL)
        return OA_ENOENT;
    if (!pr->seed)
        peer_make_seed(pk, pr);
    return 0;
}

int oa_picker_peer_have_none(oa_picker *pk, oa_picker_peer peer)
{
    pk_peer *pr = peer_get(pk, peer);

    if (pr == NULL)
        return OA_ENOENT;
    peer_clear(pk, pr);
    return 0;
}

int oa_picker_peer_set_rate(oa_picker *pk, oa_picker_peer peer, uint64_t bytes_per_s)
{
    pk_peer *pr = peer_get(pk, peer);

    if (pr == NULL)
        return OA_ENOENT;
    pr->rate = bytes_per_s;
    return 0;
}

int oa_picker_peer_interesting(const oa_picker *pk, oa_picker_peer peer)
{
    const pk_peer *pr = peer_get(pk, peer);

    if (pr == NULL)
        return OA_ENOENT;
    return pr->seed ? pk->nlack > 0 : pr->interesting > 0;
}

int oa_picker_peer_outstanding(const oa_picker *pk, oa_picker_peer peer)
{
    const pk_peer *pr = peer_get(pk, peer);

    return pr != NULL ? (int)pr->outstanding : OA_ENOENT;
}

/* ------------------------------------------------------------------------ */
/* Inspection. */

uint32_t oa_picker_availability(const oa_picker *pk, uint32_t piece)
{
    return piece < pk->npieces ? pk->avail[piece] + pk->nseeds : 0;
}

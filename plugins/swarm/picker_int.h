/* Internal to the piece picker, shared by picker.c (lifecycle, our pieces,
 * streaming, the pick passes, arrivals and hash results) and picker_avail.c
 * (peers and the availability order in rarity buckets). Not installed and
 * not for other files: picker.h is the interface.
 *
 * Both halves work on one struct oa_picker; each keeps its own invariants
 * and calls the other only through the functions declared at the bottom
 * (and through the public API). */
#ifndef OA_SWARM_PICKER_INT_H
#define OA_SWARM_PICKER_INT_H

#include <stdint.h>

#include "picker.h"

#define BLK OA_PICKER_BLOCK_SIZE
#define MAXH OA_PICKER_MAX_HOLDERS

typedef struct pk_block {
    uint64_t req_ms[MAXH];       /* when each holder was asked */
    oa_picker_peer holder[MAXH]; /* peers with an outstanding request */
    oa_picker_peer sender;       /* who delivered the data, once received */
    uint8_t nreq;
    uint8_t received;
} pk_block;

/* Download state of one started piece; freed when it is verified or fails. */
typedef struct pk_dl {
    uint32_t nblocks;
    uint32_t nreceived;
    uint32_t nunreq; /* blocks neither requested nor received */
    int verifying;   /* every block received, waiting for the hash check */
    pk_block b[];
} pk_dl;

typedef struct pk_peer {
    uint8_t *bits;        /* owned; pieces it has, NULL until the first one */
    uint64_t rate;        /* bytes per second we get from it */
    uint32_t count;       /* pieces set in bits */
    uint32_t interesting; /* pieces set in bits that we lack */
    uint32_t outstanding; /* block requests it holds */
    uint16_t gen;
    uint8_t used;
    uint8_t seed; /* has every piece; bits unused */
} pk_peer;

struct oa_picker {
    oa_picker_config cfg;
    uint64_t rng;
    uint32_t npieces;
    uint32_t last_len; /* bytes in the last piece */
    uint32_t nhave;
    uint32_t nlack;
    uint32_t nseeds;
    uint32_t *avail;  /* per piece: non-seed peers that have it */
    uint32_t *order;  /* see the top of picker_avail.c */
    uint32_t *pos;    /* per piece: its index in order */
    uint32_t *bstart; /* nbuckets + 1 used, room for every peer + 2 */
    uint32_t nbuckets;
    uint8_t *have;
    pk_dl **dl;       /* per piece, owned; NULL when not started */
    uint32_t *active; /* started pieces, oldest first */
    uint32_t nactive;
    uint32_t active_cap;
    int64_t unreq; /* missing blocks some peer has, not requested */
    pk_peer *peers;
    uint32_t peer_cap;
    int streaming;
    oa_picker_stream st;
    uint64_t st_ms;
    uint32_t win_lo;
    uint32_t win_hi;
};

/* ------------------------------------------------------------------------ */
/* Small helpers used by both halves. */

static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

static inline uint32_t rng_below(uint64_t *s, uint32_t n)
{
    return (uint32_t)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

static inline uint32_t piece_len(const oa_picker *pk, uint32_t p)
{
    return p + 1 == pk->npieces ? pk->last_len : pk->cfg.piece_length;
}

static inline uint32_t piece_blocks(const oa_picker *pk, uint32_t p)
{
    return (piece_len(pk, p) + BLK - 1) / BLK;
}

static inline int bit_get(const uint8_t *bits, uint32_t i)
{
    return (bits[i >> 3] >> (7 - (i & 7))) & 1;
}

/* Returns the peer behind handle h, or NULL when h is not (or no longer)
 * registered. */
static inline pk_peer *peer_get(const oa_picker *pk, oa_picker_peer h)
{
    uint32_t slot = h & 0xFFFFu;
    pk_peer *pr;

    if (slot == 0 || slot > pk->peer_cap)
        return NULL;
    pr = &pk->peers[slot - 1];
    if (!pr->used || pr->gen != (h >> 16))
        return NULL;
    return pr;
}

static inline int peer_has(const pk_peer *pr, uint32_t p)
{
    return pr->seed || (pr->bits != NULL && bit_get(pr->bits, p));
}

/* Blocks of piece p neither requested nor received. */
static inline uint32_t unreq_of(const oa_picker *pk, uint32_t p)
{
    if (pk->have[p])
        return 0;
    return pk->dl[p] != NULL ? pk->dl[p]->nunreq : piece_blocks(pk, p);
}

/* ------------------------------------------------------------------------ */
/* The availability order (picker_avail.c). */

/* Puts every piece in bucket 0 (no peer has it) in a random order drawn from
 * pk->rng. Called once by oa_picker_new on zeroed order and pos arrays. */
void pk_order_init(oa_picker *pk);

/* Moves piece p out of the sorted prefix of pieces we lack; called once,
 * when p becomes ours, before pk->have[p] is set. */
void pk_order_remove(oa_picker *pk, uint32_t p);

#endif

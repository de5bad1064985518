/* Choker for the swarm plugin (BEP 3 tit-for-tat), and the token bucket the
 * swarm uses to cap upload and download rates. Both are pure: no sockets, no
 * clock; the caller passes the time in milliseconds.
 *
 * A round (the caller runs one every round_ms, 10 s by default, and may run
 * one early when an unchoked peer leaves):
 *  1. Regular slots: the upload_slots interested peers with the best rate
 *     stay or become unchoked. The rate is what they send us while we
 *     download, what we send them once we seed. Ties go to peers already
 *     unchoked (no flapping), then at random. While we download, snubbed
 *     peers get no regular slot.
 *  2. Optimistic slot: one more interested peer, outside the regular slots,
 *     chosen at random every optimistic_ms (30 s, every third round), never
 *     the previous one when another candidate exists. Newcomers, connected
 *     less than newcomer_ms ago, weigh newcomer_weight (3) against 1. A
 *     snubbed peer can win it: that is its chance to recover. It is chosen
 *     again early when the current one leaves or loses interest.
 *  3. Everyone else is choked, interested or not.
 *
 * Snubbed, precisely: we download (not seeding), we are interested in the
 * peer, it does not choke us, and for snub_ms (60 s) it has sent no block
 * while both held: now - max(last block, it unchoked us, we became
 * interested) >= snub_ms. */
#ifndef OA_SWARM_CHOKER_H
#define OA_SWARM_CHOKER_H

#include <openace/sdk.h>
#include <stddef.h>
#include <stdint.h>

typedef struct oa_choker oa_choker;

typedef struct oa_choker_config {
    unsigned upload_slots;    /* regular unchoke slots; 0 leaves only the optimistic one */
    uint64_t round_ms;        /* between rounds, > 0 */
    uint64_t optimistic_ms;   /* between optimistic rotations, > 0 */
    uint64_t snub_ms;         /* silence that makes an unchoking peer snubbed, > 0 */
    uint64_t newcomer_ms;     /* a peer connected less than this long ago is new */
    unsigned newcomer_weight; /* its weight in the optimistic draw, >= 1 */
    uint64_t seed;            /* seeds the generator for draws and ties */
} oa_choker_config;

/* One connected peer as the caller sees it at the start of a round. */
typedef struct oa_choker_peer {
    uint64_t id;               /* the caller's name for it, unique within one call */
    uint64_t download_rate;    /* bytes per second it sends us */
    uint64_t upload_rate;      /* bytes per second we send it */
    uint64_t connected_ms;     /* when the connection came up */
    uint64_t last_block_ms;    /* when it last sent us a block; 0: never */
    uint64_t unchoked_us_ms;   /* when it last unchoked us */
    uint64_t we_interested_ms; /* when we last became interested in it */
    uint8_t interested;        /* it is interested in us */
    uint8_t choked;            /* we choke it now */
    uint8_t chokes_us;         /* it chokes us */
    uint8_t we_interested;     /* we are interested in it */
} oa_choker_peer;

/* One change to send: CHOKE or UNCHOKE to the peer named id. */
typedef struct oa_choker_change {
    uint64_t id;
    uint8_t unchoke;    /* 1: unchoke, 0: choke */
    uint8_t optimistic; /* 1: this unchoke is the optimistic slot */
} oa_choker_change;

/* Fills cfg with the BEP 3 defaults: 4 slots, rounds of 10 s, rotation every
 * 30 s, snubbed after 60 s, newcomers for 30 s at weight 3, seed 1. */
void oa_choker_config_default(oa_choker_config *cfg);

/* Creates a choker with no optimistic peer. The caller owns *out and frees
 * it with oa_choker_free. OA_EINVAL for a zero interval or weight, OA_ENOMEM. */
int oa_choker_new(const oa_choker_config *cfg, oa_choker **out);
/* Frees the choker; NULL is allowed. */
void oa_choker_free(oa_choker *ch);

/* Runs one round over the n peers connected now (see the top of this file)
 * and writes the changes to make into changes (caller-owned, room for n),
 * their number into *n_changes, in the order of peers. seeding != 0 when we
 * have every piece. Fails with OA_EINVAL or OA_ENOMEM, and then changes
 * nothing, the optimistic choice included. */
int oa_choker_round(oa_choker *ch, uint64_t now_ms, int seeding, const oa_choker_peer *peers,
                    size_t n, oa_choker_change *changes, size_t *n_changes);
/* Returns when the next round is due: the last round's time plus round_ms,
 * or 0 before the first round. */
uint64_t oa_choker_next_round(const oa_choker *ch);
/* Writes the optimistic peer's id into *id; OA_ENOENT when there is none. */
int oa_choker_optimistic(const oa_choker *ch, uint64_t *id);
/* Returns 1 when p is snubbed at now_ms by the definition at the top of this
 * file (seeding aside: the caller knows whether it downloads), else 0. */
int oa_choker_snubbed(const oa_choker *ch, const oa_choker_peer *p, uint64_t now_ms);

/* ------------------------------------------------------------------------ */
/* Token bucket. The swarm holds one for uploads and one for downloads. The
 * bucket earns rate bytes per second, exactly (fractions of a byte carry
 * over between calls), and holds at most burst bytes. rate 0 is unlimited.
 * Rates and bursts are clamped to 2^53. The struct is plain data the caller
 * allocates; these functions never fail. */
typedef struct oa_rate_limit {
    uint64_t rate;   /* bytes per second; 0: unlimited */
    uint64_t burst;  /* most bytes the bucket holds */
    uint64_t tokens; /* bytes that may pass now */
    uint64_t milli;  /* thousandths of a byte earned beyond tokens */
    uint64_t last_ms;
} oa_rate_limit;

/* Starts a full bucket. burst 0 means one second's worth (rate bytes). */
void oa_rate_limit_init(oa_rate_limit *rl, uint64_t rate, uint64_t burst, uint64_t now_ms);
/* Changes the limits: what was earned at the old rate until now_ms is kept,
 * cut to the new burst. */
void oa_rate_limit_set(oa_rate_limit *rl, uint64_t rate, uint64_t burst, uint64_t now_ms);
/* Returns the bytes that may pass at now_ms (UINT64_MAX when unlimited). */
uint64_t oa_rate_limit_available(oa_rate_limit *rl, uint64_t now_ms);
/* Takes up to want bytes from the bucket and returns how many were granted. */
uint64_t oa_rate_limit_take(oa_rate_limit *rl, uint64_t now_ms, uint64_t want);
/* Returns in how many milliseconds need bytes (cut to the burst) will be
 * available, 0 when they are now. */
uint64_t oa_rate_limit_wait_ms(oa_rate_limit *rl, uint64_t now_ms, uint64_t need);

#endif

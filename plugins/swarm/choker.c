/* Choker rounds and the token bucket; the rules are in choker.h. */
#include "choker.h"

#include <stdlib.h>
#include <string.h>

#define RL_MAX (1ull << 53)

struct oa_choker {
    oa_choker_config cfg;
    uint64_t rng;
    uint64_t last_round_ms;
    int rounds;           /* a round has run */
    int has_opt;          /* opt_id names the optimistic peer */
    uint64_t opt_id;
    uint64_t opt_ms;      /* when it was chosen */
    struct rank *scratch; /* owned; one entry per peer of the largest round */
    size_t scratch_cap;
};

/* A peer in the ranking of one round. */
typedef struct rank {
    size_t idx;
    uint64_t rate;
    uint64_t tie; /* random */
    int unchoked;
} rank;

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

void oa_choker_config_default(oa_choker_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->upload_slots = 4;
    cfg->round_ms = 10000;
    cfg->optimistic_ms = 30000;
    cfg->snub_ms = 60000;
    cfg->newcomer_ms = 30000;
    cfg->newcomer_weight = 3;
    cfg->seed = 1;
}

int oa_choker_new(const oa_choker_config *cfg, oa_choker **out)
{
    oa_choker *ch;
    uint64_t s;

    if (cfg == NULL || out == NULL || cfg->round_ms == 0 || cfg->optimistic_ms == 0 ||
        cfg->snub_ms == 0 || cfg->newcomer_weight == 0)
        return OA_EINVAL;
    ch = calloc(1, sizeof(*ch));
    if (ch == NULL)
        return OA_ENOMEM;
    ch->cfg = *cfg;
    /* splitmix64 of the seed gives a non-zero xorshift state. */
    s = cfg->seed + 0x9E3779B97F4A7C15ull;
    s = (s ^ (s >> 30)) * 0xBF58476D1CE4E5B9ull;
    s = (s ^ (s >> 27)) * 0x94D049BB133111EBull;
    s ^= s >> 31;
    ch->rng = s != 0 ? s : 0x2545F4914F6CDD1Dull;
    *out = ch;
    return 0;
}

void oa_choker_free(oa_choker *ch)
{
    if (ch == NULL)
        return;
    free(ch->scratch);
    free(ch);
}

uint64_t oa_choker_next_round(const oa_choker *ch)
{
    return ch->rounds ? ch->last_round_ms + ch->cfg.round_ms : 0;
}

int oa_choker_optimistic(const oa_choker *ch, uint64_t *id)
{
    if (!ch->has_opt)
        return OA_ENOENT;
    *id = ch->opt_id;
    return 0;
}

int oa_choker_snubbed(const oa_choker *ch, const oa_choker_peer *p, uint64_t now_ms)
{
    uint64_t since = p->last_block_ms;

    if (!p->we_interested || p->chokes_us)
        return 0;
    if (p->unchoked_us_ms > since)
        since = p->unchoked_us_ms;
    if (p->we_interested_ms > since)
        since = p->we_interested_ms;
    return now_ms >= since && now_ms - since >= ch->cfg.snub_ms;
}

/* Best rate first; among equals, peers unchoked now first, then at random. */
static int by_rate(const void *a, const void *b)
{
    const rank *x = a;
    const rank *y = b;

    if (x->rate != y->rate)
        return x->rate > y->rate ? -1 : 1;
    if (x->unchoked != y->unchoked)
        return x->unchoked ? -1 : 1;
    if (x->tie != y->tie)
        return x->tie < y->tie ? -1 : 1;
    return 0;
}

static int scratch_reserve(oa_choker *ch, size_t n)
{
    rank *r;

    if (n <= ch->scratch_cap)
        return 0;
    r = realloc(ch->scratch, n * sizeof(*r));
    if (r == NULL)
        return OA_ENOMEM;
    ch->scratch = r;
    ch->scratch_cap = n;
    return 0;
}

static uint64_t newcomer_weight(const oa_choker *ch, const oa_choker_peer *p, uint64_t now_ms)
{
    int fresh = now_ms < p->connected_ms || now_ms - p->connected_ms < ch->cfg.newcomer_ms;

    return fresh ? ch->cfg.newcomer_weight : 1;
}

/* Draws the optimistic peer among interested peers outside the regular
 * slots (marked in want), avoiding prev when another one qualifies. Returns
 * its index, or n when there is none. */
static size_t draw_optimistic(oa_choker *ch, uint64_t now_ms, const oa_choker_peer *peers,
                              size_t n, const uint8_t *want, size_t prev)
{
    uint64_t total = 0;
    uint64_t pick;
    int others = 0;

    for (size_t i = 0; i < n; i++)
        others |= peers[i].interested && !want[i] && i != prev;
    for (size_t i = 0; i < n; i++) {
        if (peers[i].interested && !want[i] && !(others && i == prev))
            total += newcomer_weight(ch, &peers[i], now_ms);
    }
    if (total == 0)
        return n;
    pick = rng_next(&ch->rng) % total;
    for (size_t i = 0; i < n; i++) {
        uint64_t w;

        if (!peers[i].interested || want[i] || (others && i == prev))
            continue;
        w = newcomer_weight(ch, &peers[i], now_ms);
        if (pick < w)
            return i;
        pick -= w;
    }
    return n; /* not reached */
}

int oa_choker_round(oa_choker *ch, uint64_t now_ms, int seeding, const oa_choker_peer *peers,
                    size_t n, oa_choker_change *changes, size_t *n_changes)
{
    uint8_t *want;
    size_t opt = n;
    size_t nrank = 0;
    size_t nch = 0;
    int rotate;

    if (ch == NULL || n_changes == NULL || (n > 0 && (peers == NULL || changes == NULL)))
        return OA_EINVAL;
    *n_changes = 0;
    if (scratch_reserve(ch, n) != 0)
        return OA_ENOMEM;
    want = calloc(n > 0 ? n : 1, 1);
    if (want == NULL)
        return OA_ENOMEM;
    for (size_t i = 0; i < n && ch->has_opt; i++) {
        if (peers[i].id == ch->opt_id && peers[i].interested)
            opt = i;
    }
    rotate = opt == n || now_ms < ch->opt_ms || now_ms - ch->opt_ms >= ch->cfg.optimistic_ms;

    /* Regular slots. Between rotations the optimistic peer keeps its slot
     * and does not compete for a regular one. */
    for (size_t i = 0; i < n; i++) {
        const oa_choker_peer *p = &peers[i];
        rank *r;

        if (!p->interested || (!rotate && i == opt) ||
            (!seeding && oa_choker_snubbed(ch, p, now_ms)))
            continue;
        r = &ch->scratch[nrank++];
        r->idx = i;
        r->rate = seeding ? p->upload_rate : p->download_rate;
        r->unchoked = !p->choked;
        r->tie = rng_next(&ch->rng);
    }
    if (nrank > 1)
        qsort(ch->scratch, nrank, sizeof(rank), by_rate);
    for (size_t i = 0; i < nrank && i < ch->cfg.upload_slots; i++)
        want[ch->scratch[i].idx] = 1;

    if (rotate) {
        opt = draw_optimistic(ch, now_ms, peers, n, want, opt);
        ch->has_opt = opt < n;
        if (ch->has_opt) {
            ch->opt_id = peers[opt].id;
            ch->opt_ms = now_ms;
        }
    }
    if (opt < n)
        want[opt] = 1;

    for (size_t i = 0; i < n; i++) {
        if (want[i] == !peers[i].choked)
            continue;
        changes[nch].id = peers[i].id;
        changes[nch].unchoke = want[i];
        changes[nch].optimistic = want[i] && i == opt;
        nch++;
    }
    free(want);
    *n_changes = nch;
    ch->last_round_ms = now_ms;
    ch->rounds = 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Token bucket. */

static void rl_refill(oa_rate_limit *rl, uint64_t now_ms)
{
    uint64_t elapsed;
    uint64_t room;
    uint64_t earned;

    if (now_ms <= rl->last_ms) /* time never runs backwards here */
        return;
    elapsed = now_ms - rl->last_ms;
    rl->last_ms = now_ms;
    if (rl->rate == 0 || rl->tokens >= rl->burst) {
        rl->milli = 0;
        return;
    }
    room = rl->burst - rl->tokens;
    /* Filling the room takes ceil((room * 1000 - milli) / rate) ms. */
    if (elapsed >= (room * 1000 - rl->milli + rl->rate - 1) / rl->rate) {
        rl->tokens = rl->burst;
        rl->milli = 0;
        return;
    }
    earned = rl->rate * elapsed + rl->milli;
    rl->tokens += earned / 1000;
    rl->milli = earned % 1000;
}

void oa_rate_limit_init(oa_rate_limit *rl, uint64_t rate, uint64_t burst, uint64_t now_ms)
{
    memset(rl, 0, sizeof(*rl));
    rl->last_ms = now_ms;
    oa_rate_limit_set(rl, rate, burst, now_ms);
    rl->tokens = rl->burst;
}

void oa_rate_limit_set(oa_rate_limit *rl, uint64_t rate, uint64_t burst, uint64_t now_ms)
{
    int was_unlimited = rl->rate == 0;

    rl_refill(rl, now_ms);
    rl->rate = rate < RL_MAX ? rate : RL_MAX;
    rl->burst = burst != 0 ? burst : rl->rate;
    if (rl->burst > RL_MAX)
        rl->burst = RL_MAX;
    if (was_unlimited || rl->tokens >= rl->burst) { /* from unlimited: start full */
        rl->tokens = rl->burst;
        rl->milli = 0;
    }
}

uint64_t oa_rate_limit_available(oa_rate_limit *rl, uint64_t now_ms)
{
    if (rl->rate == 0)
        return UINT64_MAX;
    rl_refill(rl, now_ms);
    return rl->tokens;
}

uint64_t oa_rate_limit_take(oa_rate_limit *rl, uint64_t now_ms, uint64_t want)
{
    uint64_t got;

    if (rl->rate == 0)
        return want;
    rl_refill(rl, now_ms);
    got = want < rl->tokens ? want : rl->tokens;
    rl->tokens -= got;
    return got;
}

uint64_t oa_rate_limit_wait_ms(oa_rate_limit *rl, uint64_t now_ms, uint64_t need)
{
    uint64_t deficit;

    if (rl->rate == 0)
        return 0;
    rl_refill(rl, now_ms);
    if (need > rl->burst)
        need = rl->burst;
    if (rl->tokens >= need)
        return 0;
    deficit = need - rl->tokens;
    return (deficit * 1000 - rl->milli + rl->rate - 1) / rl->rate;
}

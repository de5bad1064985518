/* Unit tests for plugins/swarm/choker.c: the top upload_slots interested
 * peers by rate (download rate while we download, upload rate once we seed),
 * optimistic rotation every third round, the newcomer weighting of the
 * optimistic draw over many rounds with a fixed seed, snubbing, and the exact
 * arithmetic of the token bucket. Every test frees what it made. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "choker.h"

#define ROUND 10000u

static oa_choker *mk(unsigned slots, uint64_t seed)
{
    oa_choker_config cfg;
    oa_choker *ch = NULL;

    oa_choker_config_default(&cfg);
    cfg.upload_slots = slots;
    cfg.seed = seed;
    assert_int_equal(oa_choker_new(&cfg, &ch), 0);
    return ch;
}

/* An interested, choked peer connected long ago, sending us rate bytes/s. */
static oa_choker_peer peer(uint64_t id, uint64_t rate)
{
    oa_choker_peer p;

    memset(&p, 0, sizeof(p));
    p.id = id;
    p.download_rate = rate;
    p.interested = 1;
    p.choked = 1;
    p.chokes_us = 1;
    return p;
}

/* Runs a round at now and applies its changes to the peers, as the swarm
 * does after sending them. Returns the number of changes. */
static size_t round_at(oa_choker *ch, uint64_t now, int seeding, oa_choker_peer *peers,
                       size_t n, oa_choker_change *changes)
{
    size_t nc = 99;

    assert_int_equal(oa_choker_round(ch, now, seeding, peers, n, changes, &nc), 0);
    for (size_t i = 0; i < nc; i++) {
        for (size_t j = 0; j < n; j++) {
            if (peers[j].id == changes[i].id) {
                assert_int_equal(peers[j].choked, changes[i].unchoke); /* a real change */
                peers[j].choked = !changes[i].unchoke;
            }
        }
    }
    return nc;
}

static size_t unchoked_count(const oa_choker_peer *peers, size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        k += !peers[i].choked;
    return k;
}

static uint64_t optimistic(const oa_choker *ch)
{
    uint64_t id = 0;

    assert_int_equal(oa_choker_optimistic(ch, &id), 0);
    return id;
}

/* ------------------------------------------------------------------------ */

static void test_config_and_args(void **state)
{
    oa_choker_config cfg;
    oa_choker *ch = NULL;
    oa_choker_change c[1];
    size_t n;
    uint64_t id;
    (void)state;

    oa_choker_config_default(&cfg);
    assert_int_equal(cfg.upload_slots, 4);
    assert_int_equal(cfg.round_ms, 10000);
    assert_int_equal(cfg.optimistic_ms, 30000);
    assert_int_equal(cfg.snub_ms, 60000);
    assert_int_equal(cfg.newcomer_weight, 3);
    cfg.round_ms = 0;
    assert_int_equal(oa_choker_new(&cfg, &ch), OA_EINVAL);
    assert_null(ch);
    ch = mk(4, 1);
    assert_int_equal(oa_choker_next_round(ch), 0);
    assert_int_equal(oa_choker_optimistic(ch, &id), OA_ENOENT);
    assert_int_equal(oa_choker_round(ch, 0, 0, NULL, 1, c, &n), OA_EINVAL);
    assert_int_equal(oa_choker_round(ch, 0, 0, NULL, 0, NULL, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(oa_choker_next_round(ch), ROUND);
    oa_choker_free(ch);
    oa_choker_free(NULL);
}

static void test_top_slots_by_rate(void **state)
{
    oa_choker *ch = mk(2, 5);
    oa_choker_peer p[6] = {peer(1, 100), peer(2, 500), peer(3, 300),
                           peer(4, 50),  peer(5, 400), peer(6, 1000)};
    oa_choker_change c[6];
    size_t nc;
    uint64_t opt;
    uint64_t other = 0;
    (void)state;

    p[5].interested = 0; /* the fastest, but not interested: it does not count */
    nc = round_at(ch, 0, 0, p, 6, c);
    assert_int_equal(nc, 3);
    opt = optimistic(ch);
    assert_true(opt == 1 || opt == 3 || opt == 4);
    assert_false(p[1].choked);
    assert_false(p[4].choked);
    assert_true(p[5].choked);
    assert_int_equal(unchoked_count(p, 6), 3);
    for (size_t i = 0; i < nc; i++)
        assert_int_equal(c[i].optimistic, c[i].id == opt);

    /* Same rates: nothing changes. */
    assert_int_equal(round_at(ch, ROUND, 0, p, 6, c), 0);

    /* A peer outside the slots (not the optimistic one) becomes the
     * fastest: it takes the slot of the slower regular, 5. */
    for (size_t i = 0; i < 6 && other == 0; i++) {
        if (p[i].choked && p[i].interested)
            other = p[i].id;
    }
    p[other - 1].download_rate = 450;
    nc = round_at(ch, 2 * ROUND, 0, p, 6, c);
    assert_int_equal(nc, 2);
    assert_false(p[other - 1].choked);
    assert_true(p[4].choked);
    assert_int_equal(optimistic(ch), opt);

    /* Once we seed, upload rates rank: 4 and 1 are the best receivers. */
    for (size_t i = 0; i < 6; i++)
        p[i].upload_rate = (uint64_t[]){900, 10, 20, 1000, 30, 5000}[i];
    round_at(ch, 3 * ROUND, 1, p, 6, c); /* a rotation round too */
    assert_false(p[0].choked);
    assert_false(p[3].choked);
    assert_true(p[5].choked);
    assert_int_equal(unchoked_count(p, 6), 3);
    oa_choker_free(ch);
}

static void test_ties_keep_current_slots(void **state)
{
    oa_choker *ch = mk(1, 9);
    oa_choker_peer p[3] = {peer(1, 100), peer(2, 100), peer(3, 100)};
    oa_choker_change c[3];
    uint64_t regular = 0;
    (void)state;

    round_at(ch, 0, 0, p, 3, c);
    for (size_t i = 0; i < 3; i++) {
        if (!p[i].choked && p[i].id != optimistic(ch))
            regular = p[i].id;
    }
    assert_int_not_equal(regular, 0);
    /* Equal rates for many rounds: the regular slot never flaps. */
    for (uint64_t r = 1; r < 3; r++) {
        round_at(ch, r * ROUND, 0, p, 3, c);
        assert_false(p[regular - 1].choked);
    }
    oa_choker_free(ch);
}

static void test_optimistic_rotates_every_third_round(void **state)
{
    oa_choker *ch = mk(1, 3);
    oa_choker_peer p[5] = {peer(1, 900), peer(2, 10), peer(3, 10), peer(4, 10), peer(5, 10)};
    oa_choker_change c[5];
    uint64_t prev = 0;
    (void)state;

    for (uint64_t r = 0; r < 12; r++) {
        size_t nc = round_at(ch, r * ROUND, 0, p, 5, c);
        uint64_t opt = optimistic(ch);

        assert_false(p[0].choked); /* the regular slot */
        assert_int_not_equal(opt, 1);
        assert_int_equal(unchoked_count(p, 5), 2);
        if (r % 3 == 0) {
            /* A new optimistic peer: the old one choked, the new unchoked. */
            assert_int_not_equal(opt, prev);
            assert_int_equal(nc, 2);
            for (size_t i = 0; i < nc; i++)
                assert_int_equal(c[i].optimistic, c[i].unchoke && c[i].id == opt);
        } else {
            assert_int_equal(opt, prev);
            assert_int_equal(nc, 0);
        }
        prev = opt;
    }
    oa_choker_free(ch);
}

static void test_optimistic_replaced_when_it_leaves(void **state)
{
    oa_choker *ch = mk(0, 4);
    oa_choker_peer p[3] = {peer(1, 0), peer(2, 0), peer(3, 0)};
    oa_choker_change c[3];
    uint64_t opt;
    size_t k = 0;
    (void)state;

    round_at(ch, 0, 0, p, 3, c);
    opt = optimistic(ch);
    /* It disconnects: the next round, before the rotation is due, picks
     * another one. */
    for (size_t i = 0; i < 3; i++) {
        if (p[i].id != opt)
            p[k++] = p[i];
    }
    round_at(ch, ROUND, 0, p, 2, c);
    assert_int_not_equal(optimistic(ch), opt);
    assert_int_equal(unchoked_count(p, 2), 1);
    /* It loses interest: choked, and replaced. */
    opt = optimistic(ch);
    p[0].interested = p[0].id != opt;
    p[1].interested = p[1].id != opt;
    round_at(ch, 2 * ROUND, 0, p, 2, c);
    assert_int_not_equal(optimistic(ch), opt);
    assert_int_equal(unchoked_count(p, 2), 1);
    oa_choker_free(ch);
}

/* Three old peers and one that is always new, over 3000 rotations with
 * slots 0 so only the optimistic draw matters. With weight 3 and no repeat
 * of the previous choice, the newcomer's share is 3/8 (old: 5/24 each);
 * with weight 1 it is 1/4. */
static void draw_shares(unsigned weight, int share[4])
{
    oa_choker_config cfg;
    oa_choker *ch = NULL;
    oa_choker_peer p[4] = {peer(1, 0), peer(2, 0), peer(3, 0), peer(4, 0)};
    oa_choker_change c[4];

    oa_choker_config_default(&cfg);
    cfg.upload_slots = 0;
    cfg.newcomer_weight = weight;
    cfg.seed = 2024;
    assert_int_equal(oa_choker_new(&cfg, &ch), 0);
    memset(share, 0, 4 * sizeof(int));
    for (uint64_t r = 0; r < 3000; r++) {
        uint64_t now = 1000000 + r * cfg.optimistic_ms;

        for (size_t i = 0; i < 3; i++)
            p[i].connected_ms = 0;
        p[3].connected_ms = now - 1000; /* connected a second ago */
        round_at(ch, now, 0, p, 4, c);
        share[optimistic(ch) - 1]++;
    }
    oa_choker_free(ch);
}

static void test_newcomers_weigh_three(void **state)
{
    int share[4];
    (void)state;

    draw_shares(3, share);
    assert_in_range(share[3], 1050, 1200); /* expect 1125 */
    for (size_t i = 0; i < 3; i++)
        assert_in_range(share[i], 540, 710); /* expect 625 */
    draw_shares(1, share);
    assert_in_range(share[3], 670, 830); /* expect 750 */
}

static void test_snubbed_definition(void **state)
{
    oa_choker *ch = mk(4, 1);
    oa_choker_peer p = peer(1, 0);
    (void)state;

    p.we_interested = 1;
    p.chokes_us = 0;
    p.we_interested_ms = 1000;
    p.unchoked_us_ms = 5000;
    p.last_block_ms = 2000;
    assert_false(oa_choker_snubbed(ch, &p, 64999));
    assert_true(oa_choker_snubbed(ch, &p, 65000)); /* 60 s after it unchoked us */
    p.last_block_ms = 30000;
    assert_false(oa_choker_snubbed(ch, &p, 65000));
    assert_true(oa_choker_snubbed(ch, &p, 90000));
    p.chokes_us = 1; /* choking us is not snubbing */
    assert_false(oa_choker_snubbed(ch, &p, 90000));
    p.chokes_us = 0;
    p.we_interested = 0; /* nor is silence when we want nothing */
    assert_false(oa_choker_snubbed(ch, &p, 90000));
    p.we_interested = 1;
    p.we_interested_ms = 80000; /* the clock restarts when we become interested */
    assert_false(oa_choker_snubbed(ch, &p, 90000));
    oa_choker_free(ch);
}

static void test_snubbed_peer_loses_its_slot(void **state)
{
    oa_choker *ch = mk(2, 6);
    oa_choker_peer p[4] = {peer(1, 900), peer(2, 800), peer(3, 100), peer(4, 50)};
    oa_choker_change c[4];
    uint64_t opt;
    uint64_t other;
    size_t nc;
    (void)state;

    /* 1 unchoked us at 0 and sent its last block at 10 s; its measured rate
     * is still high. */
    p[0].we_interested = 1;
    p[0].chokes_us = 0;
    p[0].last_block_ms = 10000;
    for (uint64_t r = 0; r <= 6; r++) {
        round_at(ch, r * ROUND, 0, p, 4, c);
        assert_false(p[0].choked);
        assert_false(p[1].choked);
    }
    /* At 70 s it is snubbed: choked, and the slot goes to the best of the
     * rest that is not already the optimistic peer. */
    opt = optimistic(ch);
    other = opt == 3 ? 4 : 3;
    nc = round_at(ch, 7 * ROUND, 0, p, 4, c);
    assert_int_equal(nc, 2);
    assert_true(p[0].choked);
    assert_false(p[1].choked);
    assert_false(p[other - 1].choked);
    assert_int_equal(optimistic(ch), opt);

    /* It sends a block: snubbing ends. Once we seed, snubbing does not apply. */
    p[0].last_block_ms = 75000;
    round_at(ch, 8 * ROUND, 0, p, 4, c);
    assert_false(p[0].choked);
    p[0].last_block_ms = 10000;
    p[0].upload_rate = 1000;
    round_at(ch, 9 * ROUND, 1, p, 4, c);
    assert_false(p[0].choked);
    oa_choker_free(ch);
}

/* ------------------------------------------------------------------------ */
/* Token bucket. */

static void test_rate_limit_math(void **state)
{
    oa_rate_limit rl;
    uint64_t got = 0;
    (void)state;

    /* 300 B/s, 500 B burst: starts full. */
    oa_rate_limit_init(&rl, 300, 500, 1000);
    assert_int_equal(oa_rate_limit_available(&rl, 1000), 500);
    assert_int_equal(oa_rate_limit_take(&rl, 1000, 800), 500);
    assert_int_equal(oa_rate_limit_take(&rl, 1000, 1), 0);
    /* 0.3 byte per ms: fractions carry over exactly between calls. */
    assert_int_equal(oa_rate_limit_available(&rl, 1003), 0);
    assert_int_equal(oa_rate_limit_available(&rl, 1004), 1);
    for (uint64_t t = 1005; t <= 2000; t++)
        got += oa_rate_limit_take(&rl, t, 1000);
    assert_int_equal(got, 300); /* a second earns 300 bytes, taken in pieces */
    assert_int_equal(oa_rate_limit_take(&rl, 2000, 1000), 0);

    /* Waiting: 10 bytes from empty take ceil(10 / 0.3) = 34 ms. */
    assert_int_equal(oa_rate_limit_wait_ms(&rl, 2000, 10), 34);
    assert_int_equal(oa_rate_limit_available(&rl, 2033), 9);
    assert_int_equal(oa_rate_limit_wait_ms(&rl, 2033, 10), 1);
    assert_int_equal(oa_rate_limit_available(&rl, 2034), 10);
    assert_int_equal(oa_rate_limit_wait_ms(&rl, 2034, 10), 0);
    /* More than the burst is cut to the burst. */
    assert_int_equal(oa_rate_limit_wait_ms(&rl, 2034, 1u << 30),
                     ((500 - 10) * 1000 - 200 + 299) / 300);

    /* Idle for an hour: full, not more. Time running backwards earns nothing. */
    assert_int_equal(oa_rate_limit_available(&rl, 3600000), 500);
    assert_int_equal(oa_rate_limit_take(&rl, 3600000, 200), 200);
    assert_int_equal(oa_rate_limit_available(&rl, 10), 300);

    /* A lower burst cuts what is saved; a higher rate applies from now on. */
    oa_rate_limit_set(&rl, 1000, 100, 3600000);
    assert_int_equal(oa_rate_limit_available(&rl, 3600000), 100);
    oa_rate_limit_take(&rl, 3600000, 100);
    assert_int_equal(oa_rate_limit_available(&rl, 3600050), 50);
    oa_rate_limit_set(&rl, 1000, 0, 3600050); /* burst 0: one second's worth */
    assert_int_equal(rl.burst, 1000);
    assert_int_equal(oa_rate_limit_available(&rl, 3601050), 1000);
}

static void test_rate_limit_unlimited_and_huge(void **state)
{
    oa_rate_limit rl;
    (void)state;

    oa_rate_limit_init(&rl, 0, 0, 0);
    assert_int_equal(oa_rate_limit_take(&rl, 0, 123456789), 123456789);
    assert_int_equal(oa_rate_limit_wait_ms(&rl, 0, 1u << 30), 0);
    assert_true(oa_rate_limit_available(&rl, 0) == UINT64_MAX);
    /* From unlimited to limited: the bucket starts full. */
    oa_rate_limit_set(&rl, 1000, 2000, 5);
    assert_int_equal(oa_rate_limit_available(&rl, 5), 2000);

    /* Rates near the clamp neither overflow nor lose bytes. */
    oa_rate_limit_init(&rl, UINT64_MAX, UINT64_MAX, 0);
    assert_true(rl.rate == (1ull << 53));
    assert_true(oa_rate_limit_take(&rl, 0, UINT64_MAX) == (1ull << 53));
    assert_true(oa_rate_limit_available(&rl, 1) == (1ull << 53) / 1000);
    assert_true(oa_rate_limit_available(&rl, UINT64_MAX) == (1ull << 53));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_and_args),
        cmocka_unit_test(test_top_slots_by_rate),
        cmocka_unit_test(test_ties_keep_current_slots),
        cmocka_unit_test(test_optimistic_rotates_every_third_round),
        cmocka_unit_test(test_optimistic_replaced_when_it_leaves),
        cmocka_unit_test(test_newcomers_weigh_three),
        cmocka_unit_test(test_snubbed_definition),
        cmocka_unit_test(test_snubbed_peer_loses_its_slot),
        cmocka_unit_test(test_rate_limit_math),
        cmocka_unit_test(test_rate_limit_unlimited_and_huge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

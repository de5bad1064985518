/* The piece picker (plugins/swarm/picker.c) under long runs of random
 * announcements, picks, cancels, arrivals, hash results and streaming
 * changes: after every step the counts it keeps incrementally must match a
 * recount from its public view, and the runs must reach end-game, cancels,
 * completed pieces and hash failures. Seeded, so a failure reproduces.
 * Every run frees its picker, so ASan also checks for leaks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "picker.h"
#include "picker_books.h"

#define KB16 16384u

static oa_picker *mk(uint64_t total, uint32_t plen, uint64_t seed, unsigned dup)
{
    oa_picker_config cfg;
    oa_picker *pk = NULL;

    oa_picker_config_default(&cfg);
    cfg.total_length = total;
    cfg.piece_length = plen;
    cfg.seed = seed;
    cfg.max_duplicates = dup;
    assert_int_equal(oa_picker_new(&cfg, &pk), 0);
    return pk;
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

typedef struct run_counts {
    int completes;
    int failures;
    int endgame_steps;
    int cancels;
} run_counts;

/* One run of random announcements, picks, cancels, arrivals and hash
 * results against a fresh picker, checking the books after every step. */
static void random_run(uint64_t seed, int steps, run_counts *rc)
{
    oa_picker *pk = mk(23 * 3 * KB16 + 700, 3 * KB16, seed, 2); /* 24 pieces, last short */
    oa_picker_peer peers[12];
    size_t np = 0;
    uint64_t s = seed * 7919;
    uint64_t now = 0;

    for (int step = 0; step < steps; step++) {
        uint64_t op = lcg(&s) % 100;
        oa_picker_peer p = np > 0 ? peers[lcg(&s) % np] : 0;
        uint32_t piece = (uint32_t)(lcg(&s) % 24);
        uint32_t off = (uint32_t)(lcg(&s) % 3) * KB16;
        oa_picker_request r[8];
        oa_picker_arrival a;
        oa_picker_stats st;
        size_t n;

        now += lcg(&s) % 50;
        if (off >= oa_picker_piece_size(pk, piece))
            off = 0;
        if (op < 5 && np < 12) {
            assert_int_equal(oa_picker_peer_add(pk, &peers[np]), 0);
            np++;
        } else if (op < 8 && np > 0) {
            size_t i = lcg(&s) % np;

            assert_int_equal(oa_picker_peer_remove(pk, peers[i]), 0);
            peers[i] = peers[--np];
        } else if (op < 30 && np > 0) {
            assert_int_equal(oa_picker_peer_have(pk, p, piece), 0);
        } else if (op < 32 && np > 0) {
            assert_int_equal(op == 30 ? oa_picker_peer_have_all(pk, p)
                                      : oa_picker_peer_have_none(pk, p),
                             0);
        } else if (op < 55 && np > 0) {
            assert_int_equal(oa_picker_pick(pk, p, NULL, now, r, lcg(&s) % 8, &n), 0);
        } else if (op < 60 && np > 0) {
            oa_picker_request_cancelled(pk, p, piece, off);
        } else if (op < 62 && np > 0) {
            assert_true(oa_picker_peer_drop_requests(pk, p) >= 0);
        } else if (op < 85 && np > 0) {
            uint32_t len = oa_picker_piece_size(pk, piece) - off;

            assert_int_equal(oa_picker_block_received(pk, p, piece, off,
                                                      len > KB16 ? KB16 : len, &a),
                             0);
            rc->cancels += a.n_cancel > 0;
            if (a.piece_complete) {
                oa_picker_peer who[4];
                size_t nw;
                int ok = lcg(&s) % 3 != 0;

                assert_int_equal(oa_picker_piece_verified(pk, piece, ok, who, 4, &nw), 0);
                assert_true(nw >= 1);
                rc->completes++;
                rc->failures += !ok;
            }
        } else if (op < 87) {
            oa_picker_stream sm = {0};

            sm.playhead = lcg(&s) % (23 * 3 * KB16);
            sm.window_pieces = (uint32_t)(lcg(&s) % 5);
            sm.bitrate = lcg(&s) % 100000;
            sm.fallback = (int)(lcg(&s) % 2);
            assert_int_equal(oa_picker_set_stream(pk, &sm, now), 0);
        } else if (op < 88) {
            oa_picker_clear_stream(pk);
        } else if (np > 0) {
            oa_picker_peer_set_rate(pk, p, lcg(&s) % 1000);
        }
        oa_test_check_books(pk, peers, np);
        oa_picker_get_stats(pk, &st);
        rc->endgame_steps += st.endgame;
    }
    oa_picker_free(pk);
}

static void test_random_operations_keep_books(void **state)
{
    run_counts rc = {0};
    (void)state;

    for (uint64_t seed = 21; seed < 24; seed++)
        random_run(seed, 3000, &rc);
    /* The runs reached the paths they are meant to check. */
    assert_true(rc.completes >= 30);
    assert_true(rc.failures >= 5);
    assert_true(rc.endgame_steps >= 100);
    assert_true(rc.cancels >= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_operations_keep_books),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

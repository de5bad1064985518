/* Unit tests for plugins/swarm/picker.c: rarest-first order with seeded
 * random tie-breaks, strict priority to started pieces, the streaming window
 * and its deadlines, duplicate requests for late blocks and in end-game,
 * cancels, hash failures, allowed-fast pieces while choked, and availability
 * from every kind of announcement; the bookkeeping under random operations
 * is in test_picker_random.c. Every test frees its picker, so ASan also
 * checks for leaks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "picker.h"
#include "picker_books.h"

#define KB16 16384u

/* ------------------------------------------------------------------------ */
/* Helpers. */

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

static oa_picker_peer add_seed(oa_picker *pk)
{
    oa_picker_peer p;

    assert_int_equal(oa_picker_peer_add(pk, &p), 0);
    assert_int_equal(oa_picker_peer_have_all(pk, p), 0);
    return p;
}

/* Adds a peer whose pieces are given as "1011...": one character per piece. */
static oa_picker_peer add_bits(oa_picker *pk, const char *pattern)
{
    uint8_t bits[64] = {0};
    size_t n = strlen(pattern);
    oa_picker_peer p;

    assert_int_equal(n, oa_picker_num_pieces(pk));
    for (size_t i = 0; i < n; i++) {
        if (pattern[i] == '1')
            bits[i / 8] |= (uint8_t)(0x80u >> (i % 8));
    }
    assert_int_equal(oa_picker_peer_add(pk, &p), 0);
    assert_int_equal(oa_picker_peer_bitfield(pk, p, bits, (n + 7) / 8), 0);
    return p;
}

static size_t pick(oa_picker *pk, oa_picker_peer p, uint64_t now, oa_picker_request *out,
                   size_t max)
{
    size_t n = 99;

    assert_int_equal(oa_picker_pick(pk, p, NULL, now, out, max, &n), 0);
    return n;
}

static void deliver(oa_picker *pk, oa_picker_peer p, uint32_t piece, uint32_t offset,
                    oa_picker_arrival *a)
{
    uint32_t len = oa_picker_piece_size(pk, piece) - offset;

    if (len > KB16)
        len = KB16;
    assert_int_equal(oa_picker_block_received(pk, p, piece, offset, len, a), 0);
}

static unsigned holders(const oa_picker *pk, uint32_t piece, uint32_t offset,
                        oa_picker_peer *h)
{
    size_t n = 0;

    oa_picker_block_state(pk, piece, offset, h, OA_PICKER_MAX_HOLDERS, &n);
    return (unsigned)n;
}

/* ------------------------------------------------------------------------ */
/* Geometry and arguments. */

static void test_geometry_and_args(void **state)
{
    oa_picker_config cfg;
    oa_picker *pk = NULL;
    oa_picker_request r[16];
    oa_picker_arrival a;
    oa_picker_peer s;
    uint64_t sum = 0;
    size_t n;
    (void)state;

    oa_picker_config_default(&cfg);
    assert_int_equal(oa_picker_new(&cfg, &pk), OA_EINVAL); /* no sizes */
    cfg.total_length = 100000;
    cfg.piece_length = 32768;
    cfg.max_duplicates = OA_PICKER_MAX_HOLDERS;
    assert_int_equal(oa_picker_new(&cfg, &pk), OA_EINVAL);
    cfg.max_duplicates = 1;
    cfg.total_length = (1ull << 31) * 2 + 1;
    cfg.piece_length = 1;
    assert_int_equal(oa_picker_new(&cfg, &pk), OA_ERANGE);
    assert_null(pk);

    pk = mk(100000, 32768, 1, 1); /* 3 full pieces and one of 1696 bytes */
    assert_int_equal(oa_picker_num_pieces(pk), 4);
    assert_int_equal(oa_picker_piece_size(pk, 3), 1696);
    assert_int_equal(oa_picker_piece_size(pk, 4), 0);
    s = add_seed(pk);
    n = pick(pk, s, 0, r, 16);
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++) {
        sum += r[i].length;
        assert_int_equal(r[i].offset % KB16, 0);
        if (r[i].piece == 3)
            assert_int_equal(r[i].length, 1696);
    }
    assert_int_equal(sum, 100000);

    assert_int_equal(oa_picker_block_received(pk, s, 0, 0, KB16, NULL), OA_EINVAL);
    assert_int_equal(oa_picker_block_received(pk, s + 1, 0, 0, KB16, &a), OA_ENOENT);
    assert_int_equal(oa_picker_pick(pk, s, NULL, 0, r, 16, NULL), OA_EINVAL);
    oa_picker_free(pk);
}

static void test_bad_handles_and_messages(void **state)
{
    oa_picker *pk = mk(4 * KB16, KB16, 1, 1);
    oa_picker_peer a;
    oa_picker_peer b;
    oa_picker_arrival arr;
    oa_picker_request r[4];
    size_t n;
    uint8_t bits[2] = {0xF0, 0};
    (void)state;

    assert_int_equal(oa_picker_peer_add(pk, &a), 0);
    assert_int_equal(oa_picker_block_received(pk, a, 0, 100, KB16, &arr), OA_EPROTO);
    assert_int_equal(oa_picker_block_received(pk, a, 0, 0, 100, &arr), OA_EPROTO);
    assert_int_equal(oa_picker_block_received(pk, a, 4, 0, KB16, &arr), OA_EPROTO);
    assert_int_equal(oa_picker_peer_have(pk, a, 4), OA_EPROTO);
    assert_int_equal(oa_picker_peer_bitfield(pk, a, bits, 2), OA_EPROTO); /* too long */
    bits[0] = 0xF8;                                                        /* spare bit set */
    assert_int_equal(oa_picker_peer_bitfield(pk, a, bits, 1), OA_EPROTO);
    assert_int_equal(oa_picker_peer_bitfield(pk, a, NULL, 1), OA_EPROTO); /* not EINVAL */
    assert_int_equal(oa_picker_availability(pk, 0), 0);
    assert_int_equal(oa_picker_request_cancelled(pk, a, 0, 0), OA_ENOENT);

    /* A handle outlives nothing: after removal it is refused, and the slot's
     * next handle is a different number. */
    assert_int_equal(oa_picker_peer_remove(pk, a), 0);
    assert_int_equal(oa_picker_peer_remove(pk, a), OA_ENOENT);
    assert_int_equal(oa_picker_peer_have(pk, a, 0), OA_ENOENT);
    assert_int_equal(oa_picker_pick(pk, a, NULL, 0, r, 4, &n), OA_ENOENT);
    assert_int_equal(oa_picker_peer_add(pk, &b), 0);
    assert_int_not_equal(a, b);
    assert_int_equal(oa_picker_peer_interesting(pk, a), OA_ENOENT);
    assert_int_equal(oa_picker_piece_verified(pk, 0, 1, NULL, 0, NULL), OA_ESTATE);
    assert_int_equal(oa_picker_piece_verified(pk, 9, 1, NULL, 0, NULL), OA_ERANGE);
    oa_picker_free(pk);
}

/* ------------------------------------------------------------------------ */
/* Rarest-first. */

/* Availability (not counting the seed S): pieces 1,3,6,7 have 1; 2,5 have 2;
 * 0,4 have 3. */
static oa_picker *rarest_setup(uint64_t seed, oa_picker_peer *s)
{
    oa_picker *pk = mk(8 * KB16, KB16, seed, 1);

    add_bits(pk, "11111100"); /* B */
    add_bits(pk, "10101111"); /* C */
    add_bits(pk, "10001000"); /* D */
    *s = add_seed(pk);
    return pk;
}

static int rank_of(uint32_t piece)
{
    static const int group[8] = {2, 0, 1, 0, 2, 1, 0, 0};
    return group[piece];
}

static void test_rarest_first_exact_under_seed(void **state)
{
    /* Recorded from this implementation with seed 42; it changes only if the
     * generator or the order structure changes, which this test guards. */
    static const uint32_t expect[8] = {3, 7, 1, 6, 2, 5, 0, 4};
    oa_picker_request r[8];
    oa_picker_peer s;
    oa_picker *pk = rarest_setup(42, &s);
    (void)state;

    assert_int_equal(oa_picker_availability(pk, 1), 2);
    assert_int_equal(oa_picker_availability(pk, 5), 3);
    assert_int_equal(oa_picker_availability(pk, 0), 4);
    assert_int_equal(pick(pk, s, 0, r, 8), 8);
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(r[i].offset, 0);
        assert_int_equal(r[i].piece, expect[i]);
        if (i > 0) /* never a more common piece before a rarer one */
            assert_true(rank_of(r[i - 1].piece) <= rank_of(r[i].piece));
    }
    oa_picker_free(pk);

    /* The same seed picks the same order again. */
    pk = rarest_setup(42, &s);
    assert_int_equal(pick(pk, s, 0, r, 8), 8);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(r[i].piece, expect[i]);
    oa_picker_free(pk);
}

/* Over many seeds, each of the four rarest pieces comes first about a
 * quarter of the time, and the order inside the next group also varies:
 * ties are random, not by index or arrival. */
static void test_rarest_ties_are_random(void **state)
{
    int first[8] = {0};
    int fifth[8] = {0};
    (void)state;

    for (uint64_t seed = 1; seed <= 800; seed++) {
        oa_picker_request r[8];
        oa_picker_peer s;
        oa_picker *pk = rarest_setup(seed, &s);

        assert_int_equal(pick(pk, s, 0, r, 8), 8);
        first[r[0].piece]++;
        fifth[r[4].piece]++;
        oa_picker_free(pk);
    }
    for (uint32_t p = 0; p < 8; p++) {
        if (rank_of(p) == 0)
            assert_in_range(first[p], 140, 260); /* expect 200 */
        else
            assert_int_equal(first[p], 0);
        if (rank_of(p) == 1)
            assert_in_range(fifth[p], 320, 480); /* expect 400 */
        else
            assert_int_equal(fifth[p], 0);
    }
}

/* Pieces that gain availability one HAVE at a time, in index order, still
 * end up in random order among themselves. */
static void test_ties_random_after_have_messages(void **state)
{
    int first_common[4] = {0};
    (void)state;

    for (uint64_t seed = 1; seed <= 400; seed++) {
        oa_picker *pk = mk(8 * KB16, KB16, seed, 1);
        oa_picker_request r[8];
        oa_picker_peer x;
        oa_picker_peer s;

        assert_int_equal(oa_picker_peer_add(pk, &x), 0);
        for (uint32_t p = 0; p < 4; p++)
            assert_int_equal(oa_picker_peer_have(pk, x, p), 0);
        s = add_seed(pk);
        assert_int_equal(pick(pk, s, 0, r, 8), 8);
        for (size_t i = 0; i < 4; i++)
            assert_true(r[i].piece >= 4); /* the rarer ones first */
        first_common[r[4].piece]++;
        oa_picker_free(pk);
    }
    for (uint32_t p = 0; p < 4; p++)
        assert_in_range(first_common[p], 60, 140); /* expect 100 */
}

static void test_started_pieces_first(void **state)
{
    oa_picker *pk = mk(4 * 4 * KB16, 4 * KB16, 7, 1); /* 4 pieces of 4 blocks */
    oa_picker_peer a = add_bits(pk, "1011");
    oa_picker_peer b = add_bits(pk, "1011");
    oa_picker_peer s = add_seed(pk);
    oa_picker_peer all[3] = {a, b, s};
    oa_picker_request r[8];
    uint32_t started;
    (void)state;

    assert_int_equal(pick(pk, a, 0, r, 2), 2);
    started = r[0].piece;
    assert_true(started != 1);
    assert_int_equal(r[1].piece, started);
    assert_int_equal(r[0].offset, 0);
    assert_int_equal(r[1].offset, KB16);

    /* Piece 1 is rarer (only the seed has it), but the started piece comes
     * first; then the rarest new piece. */
    assert_int_equal(pick(pk, s, 0, r, 3), 3);
    assert_int_equal(r[0].piece, started);
    assert_int_equal(r[0].offset, 2 * KB16);
    assert_int_equal(r[1].piece, started);
    assert_int_equal(r[1].offset, 3 * KB16);
    assert_int_equal(r[2].piece, 1);
    assert_int_equal(r[2].offset, 0);
    oa_test_check_books(pk, all, 3);
    oa_picker_free(pk);
}

/* ------------------------------------------------------------------------ */
/* Streaming. */

static void test_stream_window_in_order(void **state)
{
    oa_picker *pk = mk(10 * 2 * KB16, 2 * KB16, 3, 1); /* 10 pieces of 2 blocks */
    oa_picker_stream st = {0};
    oa_picker_request r[10];
    oa_picker_peer s = add_seed(pk);
    uint64_t d;
    (void)state;

    st.playhead = 3 * 2 * KB16 + 100; /* inside piece 3 */
    st.window_pieces = 3;
    st.bitrate = 2 * KB16; /* one piece per second */
    st.fallback = 1;
    assert_int_equal(oa_picker_we_have(pk, 4), 0);
    assert_int_equal(oa_picker_set_stream(pk, &st, 1000), 0);
    assert_int_equal(pick(pk, s, 1000, r, 6), 6);
    /* Pieces 3 and 5 in order (we have 4), then rarest-first elsewhere. */
    assert_int_equal(r[0].piece, 3);
    assert_int_equal(r[0].offset, 0);
    assert_int_equal(r[1].piece, 3);
    assert_int_equal(r[1].offset, KB16);
    assert_int_equal(r[2].piece, 5);
    assert_int_equal(r[3].piece, 5);
    assert_true(r[4].piece < 3 || r[4].piece > 5);
    assert_int_equal(r[5].piece, r[4].piece);

    /* Deadlines: now + (piece start - playhead) / bitrate. */
    assert_int_equal(oa_picker_deadline(pk, 3, &d), 0);
    assert_int_equal(d, 1000);
    assert_int_equal(oa_picker_deadline(pk, 4, &d), 0);
    assert_int_equal(d, 1000 + (2 * KB16 - 100) * 1000ull / (2 * KB16));
    assert_int_equal(oa_picker_deadline(pk, 5, &d), 0);
    assert_int_equal(d, 1000 + (4 * KB16 - 100) * 1000ull / (2 * KB16));
    assert_int_equal(oa_picker_deadline(pk, 6, &d), OA_ENOENT);
    assert_int_equal(oa_picker_deadline(pk, 99, &d), OA_ERANGE);

    /* A window in bytes: 5 pieces' worth from the middle of piece 3 reaches
     * into piece 8; moving the playhead moves the window. */
    st.window_pieces = 0;
    st.window_bytes = 5 * 2 * KB16;
    assert_int_equal(oa_picker_set_stream(pk, &st, 2000), 0);
    assert_int_equal(oa_picker_deadline(pk, 8, &d), 0);
    assert_int_equal(oa_picker_deadline(pk, 9, &d), OA_ENOENT);
    st.playhead = 20 * KB16;
    assert_int_equal(oa_picker_set_stream(pk, &st, 2000), OA_ERANGE);
    oa_picker_clear_stream(pk);
    assert_int_equal(oa_picker_deadline(pk, 5, &d), OA_ENOENT);
    oa_picker_free(pk);
}

static void test_stream_strict_mode(void **state)
{
    oa_picker *pk = mk(10 * KB16, KB16, 3, 1);
    oa_picker_stream st = {0};
    oa_picker_request r[10];
    oa_picker_peer s = add_seed(pk);
    (void)state;

    st.playhead = 6 * KB16;
    st.window_pieces = 3;
    st.fallback = 0; /* live-like: nothing outside the window */
    assert_int_equal(oa_picker_set_stream(pk, &st, 0), 0);
    assert_int_equal(pick(pk, s, 0, r, 10), 3);
    assert_int_equal(r[0].piece, 6);
    assert_int_equal(r[1].piece, 7);
    assert_int_equal(r[2].piece, 8);
    assert_int_equal(pick(pk, s, 0, r, 10), 0);

    /* The playhead advances: the window slides. */
    st.playhead = 8 * KB16;
    assert_int_equal(oa_picker_set_stream(pk, &st, 1000), 0);
    assert_int_equal(pick(pk, s, 1000, r, 10), 1);
    assert_int_equal(r[0].piece, 9);
    oa_picker_free(pk);
}

static oa_picker *late_setup(oa_picker_peer *slow, oa_picker_peer *fast,
                             oa_picker_peer *slower)
{
    oa_picker_config cfg;
    oa_picker *pk = NULL;
    oa_picker_stream st = {0};

    oa_picker_config_default(&cfg);
    cfg.total_length = 4 * KB16;
    cfg.piece_length = KB16;
    cfg.max_duplicates = 1;
    cfg.late_permille = 500;
    cfg.late_min_ms = 100;
    assert_int_equal(oa_picker_new(&cfg, &pk), 0);
    *slow = add_seed(pk);
    *fast = add_seed(pk);
    *slower = add_seed(pk);
    oa_picker_peer_set_rate(pk, *slow, 10000);
    oa_picker_peer_set_rate(pk, *fast, 100000);
    oa_picker_peer_set_rate(pk, *slower, 5000);
    st.playhead = 0;
    st.window_pieces = 2;
    st.bitrate = KB16; /* deadlines: piece 0 at 0 ms, piece 1 at 1000 ms */
    assert_int_equal(oa_picker_set_stream(pk, &st, 0), 0);
    return pk;
}

static void test_stream_duplicates_late_blocks_to_faster_peer(void **state)
{
    oa_picker_peer slow;
    oa_picker_peer fast;
    oa_picker_peer slower;
    oa_picker *pk = late_setup(&slow, &fast, &slower);
    oa_picker_peer all[3] = {slow, fast, slower};
    oa_picker_request r[4];
    oa_picker_arrival a;
    oa_picker_peer h[OA_PICKER_MAX_HOLDERS];
    (void)state;

    assert_int_equal(pick(pk, slow, 0, r, 2), 2);
    assert_int_equal(r[0].piece, 0);
    assert_int_equal(r[1].piece, 1);

    /* Not late yet: piece 0 was due at once but gets the 100 ms floor;
     * piece 1 gets half of its 1000 ms. */
    assert_int_equal(pick(pk, fast, 100, r, 4), 0);
    assert_int_equal(pick(pk, fast, 101, r, 4), 1);
    assert_int_equal(r[0].piece, 0);
    assert_int_equal(holders(pk, 0, 0, h), 2);
    assert_int_equal(h[0], slow);
    assert_int_equal(h[1], fast);
    assert_int_equal(pick(pk, fast, 500, r, 4), 0);

    /* Late, but a slower peer never gets the duplicate. */
    assert_int_equal(pick(pk, slower, 900, r, 4), 0);
    assert_int_equal(pick(pk, fast, 501, r, 4), 1);
    assert_int_equal(r[0].piece, 1);

    /* At most one duplicate: an even faster peer gets nothing more. */
    oa_picker_peer_set_rate(pk, slower, 1000000);
    assert_int_equal(pick(pk, slower, 5000, r, 4), 0);
    oa_test_check_books(pk, all, 3);

    /* The fast copy lands: cancel the slow one; the slow copy is then waste. */
    deliver(pk, fast, 0, 0, &a);
    assert_true(a.wanted);
    assert_true(a.expected);
    assert_true(a.piece_complete);
    assert_int_equal(a.n_cancel, 1);
    assert_int_equal(a.cancel[0], slow);
    assert_int_equal(oa_picker_peer_outstanding(pk, slow), 1);
    deliver(pk, slow, 0, 0, &a);
    assert_false(a.wanted);
    assert_false(a.expected);
    oa_test_check_books(pk, all, 3);
    oa_picker_free(pk);
}

static void test_stream_no_bitrate_no_duplicates(void **state)
{
    oa_picker_peer slow;
    oa_picker_peer fast;
    oa_picker_peer slower;
    oa_picker *pk = late_setup(&slow, &fast, &slower);
    oa_picker_stream st = {0};
    oa_picker_request r[4];
    (void)state;

    st.window_pieces = 2; /* bitrate unknown */
    st.fallback = 1;
    assert_int_equal(oa_picker_set_stream(pk, &st, 0), 0);
    assert_int_equal(pick(pk, slow, 0, r, 2), 2);
    assert_int_equal(pick(pk, fast, 100000, r, 2), 2); /* new pieces, no duplicates */
    assert_true(r[0].piece >= 2 && r[1].piece >= 2 && r[0].piece != r[1].piece);
    oa_picker_free(pk);
}

/* ------------------------------------------------------------------------ */
/* End-game. */

static void test_endgame_duplicates_and_cancels(void **state)
{
    oa_picker *pk = mk(2 * 2 * KB16, 2 * KB16, 5, 1); /* 2 pieces of 2 blocks */
    oa_picker_peer a = add_seed(pk);
    oa_picker_peer b = add_seed(pk);
    oa_picker_peer c = add_seed(pk);
    oa_picker_peer all[3] = {a, b, c};
    oa_picker_request r[8];
    oa_picker_arrival arr;
    oa_picker_stats st;
    (void)state;

    assert_int_equal(pick(pk, a, 0, r, 3), 3);
    oa_picker_get_stats(pk, &st);
    assert_false(st.endgame);
    assert_int_equal(st.unrequested, 1);
    /* Before end-game, b gets the one free block, not duplicates. */
    assert_int_equal(pick(pk, b, 0, r, 8), 1 + 3);
    oa_picker_get_stats(pk, &st);
    assert_true(st.endgame);
    /* ... and after it, a duplicate of each of a's three blocks. */
    for (size_t i = 1; i < 4; i++)
        assert_int_equal(holders(pk, r[i].piece, r[i].offset, NULL), 2);
    /* a may still duplicate the one block only b holds; then every block is
     * at the limit and c gets nothing. */
    assert_int_equal(pick(pk, a, 0, r, 8), 1);
    assert_int_equal(pick(pk, c, 0, r, 8), 0);
    oa_test_check_books(pk, all, 3);

    /* The first copy wins and the other holder is told to cancel. */
    deliver(pk, b, 0, 0, &arr);
    assert_true(arr.wanted);
    assert_true(arr.expected);
    assert_false(arr.piece_complete);
    assert_int_equal(arr.n_cancel, 1);
    assert_int_equal(arr.cancel[0], a);
    assert_int_equal(oa_picker_peer_outstanding(pk, a), 3);
    assert_int_equal(oa_picker_peer_outstanding(pk, b), 3);
    deliver(pk, a, 0, 0, &arr);
    assert_false(arr.wanted);
    oa_test_check_books(pk, all, 3);
    oa_picker_free(pk);
}

/* Pieces nobody has do not hold end-game back; a peer announcing one does. */
static void test_endgame_ignores_unavailable_pieces(void **state)
{
    oa_picker *pk = mk(3 * KB16, KB16, 5, 2);
    oa_picker_peer a = add_bits(pk, "110");
    oa_picker_peer b = add_bits(pk, "110");
    oa_picker_peer all[2] = {a, b};
    oa_picker_request r[8];
    oa_picker_stats st;
    (void)state;

    assert_int_equal(pick(pk, a, 0, r, 8), 2);
    oa_picker_get_stats(pk, &st);
    assert_true(st.endgame);
    assert_int_equal(pick(pk, b, 0, r, 8), 2);
    oa_test_check_books(pk, all, 2);
    assert_int_equal(oa_picker_peer_have(pk, b, 2), 0);
    oa_picker_get_stats(pk, &st);
    assert_false(st.endgame);
    assert_int_equal(st.unrequested, 1);
    assert_int_equal(pick(pk, b, 0, r, 8), 1);
    assert_int_equal(r[0].piece, 2);
    oa_test_check_books(pk, all, 2);
    oa_picker_free(pk);
}

/* ------------------------------------------------------------------------ */
/* Verification. */

static void test_hash_failure_resets_and_names_senders(void **state)
{
    oa_picker *pk = mk(2 * 4 * KB16, 4 * KB16, 9, 1); /* 2 pieces of 4 blocks */
    oa_picker_peer a = add_bits(pk, "10");
    oa_picker_peer b = add_bits(pk, "10");
    oa_picker_peer c = add_bits(pk, "10");
    oa_picker_peer all[3] = {a, b, c};
    oa_picker_peer who[4];
    oa_picker_request r[4];
    oa_picker_arrival arr;
    oa_picker_stats st;
    size_t n = 0;
    (void)state;

    assert_int_equal(pick(pk, a, 0, r, 2), 2);
    assert_int_equal(pick(pk, b, 0, r, 2), 2);
    assert_int_equal(r[0].offset, 2 * KB16);
    for (uint32_t off = 0; off < 4 * KB16; off += KB16) {
        deliver(pk, off < 2 * KB16 ? a : b, 0, off, &arr);
        assert_true(arr.expected);
        assert_int_equal(arr.piece_complete, off == 3 * KB16);
    }
    assert_int_equal(oa_picker_block_state(pk, 0, 0, NULL, 0, NULL), OA_PICKER_BLOCK_RECEIVED);
    deliver(pk, c, 0, 0, &arr); /* waiting for the hash: nothing more wanted */
    assert_false(arr.wanted);
    assert_int_equal(pick(pk, c, 0, r, 4), 0);

    /* Only one slot for senders: both are counted, one is written. */
    assert_int_equal(oa_picker_piece_verified(pk, 0, 0, who, 1, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(who[0], a);
    assert_false(oa_picker_have(pk, 0));
    assert_int_equal(oa_picker_block_state(pk, 0, 3 * KB16, NULL, 0, NULL), OA_PICKER_BLOCK_FREE);
    oa_picker_get_stats(pk, &st);
    assert_int_equal(st.unrequested, 4);
    assert_int_equal(st.active, 0);
    assert_int_equal(oa_picker_piece_verified(pk, 0, 0, who, 4, &n), OA_ESTATE);
    oa_test_check_books(pk, all, 3);

    /* Downloaded again from c alone, it passes and names c. */
    assert_int_equal(pick(pk, c, 0, r, 4), 4);
    for (uint32_t off = 0; off < 4 * KB16; off += KB16)
        deliver(pk, c, 0, off, &arr);
    assert_true(arr.piece_complete);
    assert_int_equal(oa_picker_piece_verified(pk, 0, 1, who, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(who[0], c);
    assert_true(oa_picker_have(pk, 0));
    assert_int_equal(oa_picker_peer_interesting(pk, a), 0);
    deliver(pk, a, 0, 0, &arr);
    assert_false(arr.wanted);
    oa_picker_get_stats(pk, &st);
    assert_int_equal(st.have, 1);
    assert_int_equal(st.unrequested, 0);
    oa_test_check_books(pk, all, 3);
    oa_picker_free(pk);
}

static void test_unrequested_block_is_accepted(void **state)
{
    oa_picker *pk = mk(2 * KB16 + 5, 2 * KB16, 9, 1);
    oa_picker_peer a = add_seed(pk);
    oa_picker_arrival arr;
    oa_picker_stats st;
    (void)state;

    deliver(pk, a, 1, 0, &arr); /* the 5-byte last piece, never requested */
    assert_true(arr.wanted);
    assert_false(arr.expected);
    assert_true(arr.piece_complete);
    oa_picker_get_stats(pk, &st);
    assert_int_equal(st.unrequested, 2);
    oa_test_check_books(pk, &a, 1);
    oa_picker_free(pk);
}

/* ------------------------------------------------------------------------ */
/* Choking and allowed-fast. */

static void test_allowed_fast_while_choked(void **state)
{
    oa_picker *pk = mk(6 * KB16, KB16, 11, 1);
    oa_picker_peer a = add_bits(pk, "111110");
    oa_picker_request r[6];
    uint32_t fast[4] = {1, 3, 4, 5};
    oa_picker_ask ask = {1, fast, 4};
    oa_picker_ask none = {1, NULL, 0};
    size_t n = 0;
    (void)state;

    assert_int_equal(oa_picker_we_have(pk, 4), 0);
    none.n_allowed_fast = 2; /* a count without a list */
    assert_int_equal(oa_picker_pick(pk, a, &none, 0, r, 6, &n), OA_EINVAL);
    none.n_allowed_fast = 0;
    assert_int_equal(oa_picker_pick(pk, a, &none, 0, r, 6, &n), 0);
    assert_int_equal(n, 0);
    /* Fast pieces it has and we lack: 1 and 3 (not 4: ours; not 5: not its). */
    assert_int_equal(oa_picker_pick(pk, a, &ask, 0, r, 6, &n), 0);
    assert_int_equal(n, 2);
    assert_true((r[0].piece == 1 && r[1].piece == 3) || (r[0].piece == 3 && r[1].piece == 1));
    /* Unchoked, it is asked for the rest. */
    ask.choked = 0;
    assert_int_equal(oa_picker_pick(pk, a, &ask, 0, r, 6, &n), 0);
    assert_int_equal(n, 2);
    assert_true(r[0].piece != 1 && r[0].piece != 3 && r[0].piece < 4);
    oa_test_check_books(pk, &a, 1);

    /* It chokes us without the fast extension: its requests are dropped. */
    assert_int_equal(oa_picker_peer_drop_requests(pk, a), 4);
    assert_int_equal(oa_picker_peer_outstanding(pk, a), 0);
    oa_test_check_books(pk, &a, 1);
    oa_picker_free(pk);
}

/* A choked peer gets no block of a started piece outside its allowed-fast
 * set, nor of a window piece, nor an end-game duplicate. */
static void test_choked_peer_gets_only_fast_pieces(void **state)
{
    oa_picker *pk = mk(2 * 2 * KB16, 2 * KB16, 11, 1); /* 2 pieces of 2 blocks */
    oa_picker_peer a = add_seed(pk);
    oa_picker_peer b = add_seed(pk);
    oa_picker_request r[4];
    oa_picker_stream st = {0};
    uint32_t fast[1];
    oa_picker_ask ask = {1, fast, 1};
    size_t n = 0;
    (void)state;

    assert_int_equal(pick(pk, a, 0, r, 1), 1); /* starts one piece */
    fast[0] = r[0].piece ^ 1;                  /* the other piece is fast */
    assert_int_equal(oa_picker_pick(pk, b, &ask, 0, r, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].piece, fast[0]);
    assert_int_equal(r[1].piece, fast[0]);
    st.window_pieces = 2;
    assert_int_equal(oa_picker_set_stream(pk, &st, 0), 0);
    assert_int_equal(oa_picker_pick(pk, b, &ask, 0, r, 4, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(pick(pk, a, 0, r, 1), 1); /* the last free block: end-game */
    assert_int_equal(r[0].piece, fast[0] ^ 1);
    fast[0] ^= 1;
    assert_int_equal(oa_picker_pick(pk, b, &ask, 0, r, 4, &n), 0);
    assert_int_equal(n, 2); /* duplicates, but only of the now-fast piece */
    assert_int_equal(r[0].piece, fast[0]);
    assert_int_equal(r[1].piece, fast[0]);
    oa_picker_free(pk);
}

static void test_cancel_and_reject_free_the_block(void **state)
{
    oa_picker *pk = mk(KB16, KB16, 11, 1);
    oa_picker_peer a = add_seed(pk);
    oa_picker_peer b = add_seed(pk);
    oa_picker_peer all[2] = {a, b};
    oa_picker_request r[1];
    (void)state;

    assert_int_equal(pick(pk, a, 0, r, 1), 1);
    assert_int_equal(oa_picker_request_cancelled(pk, b, 0, 0), OA_ENOENT);
    assert_int_equal(oa_picker_request_cancelled(pk, a, 0, 0), 0); /* rejected */
    assert_int_equal(oa_picker_block_state(pk, 0, 0, NULL, 0, NULL), OA_PICKER_BLOCK_FREE);
    assert_int_equal(pick(pk, b, 0, r, 1), 1);
    assert_int_equal(oa_picker_peer_outstanding(pk, b), 1);
    oa_test_check_books(pk, all, 2);
    oa_picker_free(pk);
}

/* ------------------------------------------------------------------------ */
/* Availability. */

static void test_have_all_have_none_and_peer_gone(void **state)
{
    oa_picker *pk = mk(5 * KB16, KB16, 13, 1);
    oa_picker_peer a;
    oa_picker_peer b = add_bits(pk, "01100");
    oa_picker_peer c;
    oa_picker_peer all[2];
    oa_picker_request r[5];
    (void)state;

    assert_int_equal(oa_picker_peer_add(pk, &a), 0);
    assert_int_equal(oa_picker_peer_interesting(pk, a), 0);
    assert_int_equal(pick(pk, a, 0, r, 5), 0);
    assert_int_equal(oa_picker_peer_have_all(pk, a), 0);
    assert_int_equal(oa_picker_peer_interesting(pk, a), 1);
    assert_int_equal(oa_picker_availability(pk, 0), 1);
    assert_int_equal(oa_picker_availability(pk, 1), 2);

    /* A peer that gets every piece by HAVE messages counts as a seed too. */
    for (uint32_t p = 0; p < 5; p++)
        assert_int_equal(oa_picker_peer_have(pk, b, p), 0);
    assert_int_equal(oa_picker_availability(pk, 0), 2);
    assert_int_equal(oa_picker_availability(pk, 4), 2);

    /* HAVE NONE clears, a second HAVE ALL is idempotent. */
    assert_int_equal(oa_picker_peer_have_none(pk, b), 0);
    assert_int_equal(oa_picker_availability(pk, 1), 1);
    assert_int_equal(oa_picker_peer_interesting(pk, b), 0);
    assert_int_equal(oa_picker_peer_have_all(pk, a), 0);
    assert_int_equal(oa_picker_availability(pk, 1), 1);

    /* A bitfield replaces what was announced before. */
    c = add_bits(pk, "10001");
    assert_int_equal(oa_picker_peer_bitfield(pk, c, (const uint8_t[]){0x40}, 1), 0);
    assert_int_equal(oa_picker_availability(pk, 0), 1);
    assert_int_equal(oa_picker_availability(pk, 1), 2);

    /* The seed asks for everything; when it leaves, availability drops and
     * its requests are free for c. */
    assert_int_equal(pick(pk, a, 0, r, 5), 5);
    assert_int_equal(r[4].piece, 1); /* the only piece two peers have comes last */
    assert_int_equal(oa_picker_peer_remove(pk, a), 0);
    assert_int_equal(oa_picker_availability(pk, 0), 0);
    assert_int_equal(oa_picker_availability(pk, 1), 1);
    all[0] = b;
    all[1] = c;
    oa_test_check_books(pk, all, 2);
    assert_int_equal(pick(pk, c, 0, r, 5), 1);
    assert_int_equal(r[0].piece, 1);
    oa_picker_free(pk);
}

static void test_we_have_from_resume(void **state)
{
    oa_picker *pk = mk(3 * KB16, KB16, 17, 1);
    oa_picker_peer a = add_bits(pk, "011");
    oa_picker_request r[3];
    oa_picker_stats st;
    (void)state;

    assert_int_equal(pick(pk, a, 0, r, 1), 1);
    assert_int_equal(oa_picker_we_have(pk, r[0].piece), 0); /* its request is forgotten */
    assert_int_equal(oa_picker_we_have(pk, r[0].piece), 0);
    assert_int_equal(oa_picker_we_have(pk, 9), OA_ERANGE);
    assert_int_equal(oa_picker_peer_outstanding(pk, a), 0);
    assert_int_equal(oa_picker_peer_interesting(pk, a), 1);
    assert_int_equal(oa_picker_we_have(pk, 1), 0);
    assert_int_equal(oa_picker_we_have(pk, 2), 0);
    assert_int_equal(oa_picker_peer_interesting(pk, a), 0);
    assert_int_equal(pick(pk, a, 0, r, 3), 0);
    oa_picker_get_stats(pk, &st);
    assert_int_equal(st.have, 2);
    assert_int_equal(st.unrequested, 0); /* piece 0: nobody has it */
    oa_test_check_books(pk, &a, 1);
    oa_picker_free(pk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry_and_args),
        cmocka_unit_test(test_bad_handles_and_messages),
        cmocka_unit_test(test_rarest_first_exact_under_seed),
        cmocka_unit_test(test_rarest_ties_are_random),
        cmocka_unit_test(test_ties_random_after_have_messages),
        cmocka_unit_test(test_started_pieces_first),
        cmocka_unit_test(test_stream_window_in_order),
        cmocka_unit_test(test_stream_strict_mode),
        cmocka_unit_test(test_stream_duplicates_late_blocks_to_faster_peer),
        cmocka_unit_test(test_stream_no_bitrate_no_duplicates),
        cmocka_unit_test(test_endgame_duplicates_and_cancels),
        cmocka_unit_test(test_endgame_ignores_unavailable_pieces),
        cmocka_unit_test(test_hash_failure_resets_and_names_senders),
        cmocka_unit_test(test_unrequested_block_is_accepted),
        cmocka_unit_test(test_allowed_fast_while_choked),
        cmocka_unit_test(test_choked_peer_gets_only_fast_pieces),
        cmocka_unit_test(test_cancel_and_reject_free_the_block),
        cmocka_unit_test(test_have_all_have_none_and_peer_gone),
        cmocka_unit_test(test_we_have_from_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* BEP 11 ut_pex (plugins/swarm/pex.h): messages against bytes written out
 * by hand from BEP 11, the 50-peer limits, fields of bad length or type
 * ignored with a sentence, the per-peer diff tracker over time (the once a
 * minute rule, big swarms split over several messages, and a random walk
 * after which the peer's view equals ours), and a deterministic mutation
 * fuzz loop of the decoder meant to run under AddressSanitizer; inputs are
 * exact-size heap copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "pex.h"
#include "testutil.h"

#define FUZZ_ITERATIONS 200000

static int decode_copy(const void *bytes, size_t n, oa_pex_msg *m, char *err, size_t errlen)
{
    uint8_t *copy = oa_test_exact_copy(bytes, n);
    int rc;

    assert_non_null(copy);
    rc = oa_pex_decode(n > 0 ? copy : NULL, n, m, err, errlen);
    free(copy);
    return rc;
}

static oa_pex_peer v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port, uint8_t flags)
{
    uint8_t ip[4] = {a, b, c, d};
    oa_pex_peer p;

    assert_int_equal(oa_pex_peer_set(&p, ip, 4, port, flags), 0);
    return p;
}

static oa_pex_peer v6(uint16_t last, uint16_t port, uint8_t flags)
{
    uint8_t ip[16] = {0x20, 0x01, 0x0d, 0xb8};
    oa_pex_peer p;

    ip[14] = (uint8_t)(last >> 8);
    ip[15] = (uint8_t)last;
    assert_int_equal(oa_pex_peer_set(&p, ip, 16, port, flags), 0);
    return p;
}

static int same_peer(const oa_pex_peer *a, const oa_pex_peer *b)
{
    return oa_pex_peer_cmp(a, b) == 0 && a->flags == b->flags;
}

/* ---- codec -------------------------------------------------------------- */

/* 10.0.0.1:6881 (encryption, outgoing), 192.168.1.20:51413 (seed),
 * [2001:db8::1]:6881 (uTP); dropped 1.2.3.4:80. */
static const char known[] =
    "d5:added12:"
    "\x0a\x00\x00\x01\x1a\xe1"
    "\xc0\xa8\x01\x14\xc8\xd5"
    "7:added.f2:\x11\x02"
    "6:added618:"
    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1"
    "8:added6.f1:\x04"
    "7:dropped6:\x01\x02\x03\x04\x00\x50"
    "8:dropped60:"
    "e";

static void test_known_bytes(void **state)
{
    oa_pex_msg m;
    oa_pex_msg back;
    uint8_t *out = NULL;
    size_t len = 0;
    char err[200];

    (void)state;
    memset(&m, 0, sizeof(m));
    m.added[0] = v4(10, 0, 0, 1, 6881, OA_PEX_F_ENCRYPTION | OA_PEX_F_OUTGOING);
    m.added[1] = v6(1, 6881, OA_PEX_F_UTP); /* families may be mixed in the list */
    m.added[2] = v4(192, 168, 1, 20, 51413, OA_PEX_F_SEED);
    m.added_count = 3;
    m.dropped[0] = v4(1, 2, 3, 4, 80, 0);
    m.dropped_count = 1;
    assert_int_equal(oa_pex_encode(&m, &out, &len), 0);
    assert_int_equal(len, sizeof(known) - 1);
    assert_memory_equal(out, known, len);
    free(out);

    assert_int_equal(decode_copy(known, sizeof(known) - 1, &back, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(back.added_count, 3);
    /* Decoded: IPv4 first, then IPv6. */
    assert_true(same_peer(&back.added[0], &m.added[0]));
    assert_true(same_peer(&back.added[1], &m.added[2]));
    assert_true(same_peer(&back.added[2], &m.added[1]));
    assert_int_equal(back.added[2].v6, 1);
    assert_int_equal(back.dropped_count, 1);
    assert_true(same_peer(&back.dropped[0], &m.dropped[0]));
    assert_int_equal(back.ignored, 0);
    assert_int_equal(back.truncated, 0);
    assert_int_equal(back.invalid, 0);

    /* Empty: all six keys, all empty. */
    memset(&m, 0, sizeof(m));
    assert_int_equal(oa_pex_encode(&m, &out, &len), 0);
    {
        static const char empty[] =
            "d5:added0:7:added.f0:6:added60:8:added6.f0:7:dropped0:8:dropped60:e";

        assert_int_equal(len, sizeof(empty) - 1);
        assert_memory_equal(out, empty, len);
    }
    free(out);
}

/* Shapes other clients send: only some keys, no flags, extra keys, keys
 * out of order. */
static void test_other_shapes(void **state)
{
    static const char v4_only[] = "d5:added6:\x7f\x00\x00\x01\x1a\xe1" "7:dropped0:e";
    static const char odd[] = "d7:dropped6:\x0a\x00\x00\x02\x00\x50"
                              "5:added6:\x0a\x00\x00\x03\x00\x51"
                              "7:added.f1:\x10"
                              "9:somethingi1ee";
    oa_pex_msg m;
    char err[200];

    (void)state;
    assert_int_equal(decode_copy(v4_only, sizeof(v4_only) - 1, &m, err, sizeof(err)), 0);
    assert_int_equal(m.added_count, 1);
    assert_int_equal(m.added[0].port, 6881);
    assert_int_equal(m.added[0].flags, 0);
    assert_int_equal(m.dropped_count, 0);
    assert_int_equal(decode_copy(odd, sizeof(odd) - 1, &m, err, sizeof(err)), 0);
    assert_int_equal(m.added_count, 1);
    assert_int_equal(m.added[0].ip[3], 3);
    assert_int_equal(m.added[0].port, 81);
    assert_int_equal(m.added[0].flags, OA_PEX_F_OUTGOING);
    assert_int_equal(m.dropped_count, 1);
    assert_int_equal(m.dropped[0].port, 80);
}

/* Writes a message with n4 IPv4 and n6 IPv6 added, d4 dropped. */
static uint8_t *raw_message(size_t n4, size_t n6, size_t d4, size_t *len)
{
    uint8_t *buf = malloc(n6 * 18 + (n4 + d4) * 6 + 1);
    oa_benc_writer w;
    uint8_t *out = NULL;
    size_t i;

    assert_non_null(buf);
    for (i = 0; i < n4; i++) {
        const uint8_t e[6] = {10, 1, (uint8_t)(i >> 8), (uint8_t)i, 0x1a, 0xe1};

        memcpy(buf + i * 6, e, 6);
    }
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "added");
    oa_benc_put_bytes(&w, buf, n4 * 6);
    for (i = 0; i < n6; i++) {
        memset(buf + i * 18, 0, 18);
        buf[i * 18] = 0x20;
        buf[i * 18 + 14] = (uint8_t)(i >> 8);
        buf[i * 18 + 15] = (uint8_t)i;
        buf[i * 18 + 17] = 0x50;
    }
    oa_benc_put_str(&w, "added6");
    oa_benc_put_bytes(&w, buf, n6 * 18);
    for (i = 0; i < d4; i++) {
        const uint8_t e[6] = {10, 2, (uint8_t)(i >> 8), (uint8_t)i, 0x00, 0x50};

        memcpy(buf + i * 6, e, 6);
    }
    oa_benc_put_str(&w, "dropped");
    oa_benc_put_bytes(&w, buf, d4 * 6);
    oa_benc_end(&w);
    assert_int_equal(oa_benc_writer_finish(&w, &out, len), 0);
    free(buf);
    return out;
}

static void test_limits(void **state)
{
    oa_pex_msg m;
    uint8_t *raw;
    uint8_t *out;
    size_t len;
    char err[200];

    (void)state;
    raw = raw_message(60, 0, 0, &len);
    assert_int_equal(decode_copy(raw, len, &m, err, sizeof(err)), 0);
    assert_int_equal(m.added_count, 50);
    assert_int_equal(m.truncated, 10);
    assert_int_equal(m.added[49].ip[3], 49); /* the first 50 are kept */
    free(raw);

    /* 50 in all, IPv4 and IPv6 together. */
    raw = raw_message(30, 30, 51, &len);
    assert_int_equal(decode_copy(raw, len, &m, err, sizeof(err)), 0);
    assert_int_equal(m.added_count, 50);
    assert_int_equal(m.added[29].v6, 0);
    assert_int_equal(m.added[30].v6, 1);
    assert_int_equal(m.dropped_count, 50);
    assert_int_equal(m.truncated, 10 + 1);
    free(raw);

    /* Far past the limits: refused. */
    raw = raw_message(600, 0, 401, &len);
    memset(&m, 0x11, sizeof(m));
    assert_int_equal(decode_copy(raw, len, &m, err, sizeof(err)), OA_ERANGE);
    assert_string_equal(err, "ut_pex: 1001 peers in one message, more than 1000");
    assert_int_equal(m.added_count, 0);
    free(raw);
    raw = raw_message(600, 0, 400, &len);
    assert_int_equal(decode_copy(raw, len, &m, err, sizeof(err)), 0);
    free(raw);

    /* We never send more than 50 of each. */
    memset(&m, 0, sizeof(m));
    m.added_count = 51;
    assert_int_equal(oa_pex_encode(&m, &out, &len), OA_ERANGE);
    m.added_count = 1;
    assert_int_equal(oa_pex_encode(&m, &out, &len), OA_EINVAL); /* port 0 */
    m.added_count = 0;
    m.dropped_count = 51;
    assert_int_equal(oa_pex_encode(&m, &out, &len), OA_ERANGE);
}

static void expect_ignored(const char *bytes, size_t n, unsigned bits, const char *sentence,
                           oa_pex_msg *m)
{
    char err[200];

    assert_int_equal(decode_copy(bytes, n, m, err, sizeof(err)), 0);
    assert_int_equal(m->ignored, bits);
    assert_string_equal(err, sentence);
}

#define IGNORED(lit, bits, sentence, m) expect_ignored(lit, sizeof(lit) - 1, bits, sentence, m)

static void test_bad_fields(void **state)
{
    oa_pex_msg m;
    char err[200];

    (void)state;
    /* A bad list is left out; the rest of the message still counts. */
    IGNORED("d5:added7:\x01\x02\x03\x04\x00\x50\x00" "7:dropped6:\x01\x02\x03\x04\x00\x50" "e",
            OA_PEX_BAD_ADDED, "ut_pex: added is 7 bytes, not a multiple of 6; ignored", &m);
    assert_int_equal(m.added_count, 0);
    assert_int_equal(m.dropped_count, 1);
    IGNORED("d5:added6:\x01\x02\x03\x04\x00\x50" "7:added.f2:\x01\x02" "e", OA_PEX_BAD_ADDED_F,
            "ut_pex: added.f does not hold one byte for each of the 1 peers; ignored", &m);
    assert_int_equal(m.added_count, 1);
    assert_int_equal(m.added[0].flags, 0);
    IGNORED("d6:added6i5e8:dropped617:xxxxxxxxxxxxxxxxxe", OA_PEX_BAD_ADDED6 | OA_PEX_BAD_DROPPED6,
            "ut_pex: added6 is not a string; ignored", &m);
    IGNORED("d6:added618:xxxxxxxxxxxxxxxx\x00\x01" "8:added6.f3:abce", OA_PEX_BAD_ADDED6_F,
            "ut_pex: added6.f does not hold one byte for each of the 1 peers; ignored", &m);
    assert_int_equal(m.added_count, 1);
    assert_int_equal(m.added[0].v6, 1);
    IGNORED("d7:dropped1:xe", OA_PEX_BAD_DROPPED,
            "ut_pex: dropped is 1 bytes, not a multiple of 6; ignored", &m);

    /* Port 0 cannot be dialled: left out and counted. */
    IGNORED("d5:added12:\x01\x02\x03\x04\x00\x00\x01\x02\x03\x05\x00\x01" "e", 0, "", &m);
    assert_int_equal(m.added_count, 1);
    assert_int_equal(m.invalid, 1);

    /* Not a message at all. */
    assert_int_equal(decode_copy("le", 2, &m, err, sizeof(err)), OA_EPROTO);
    assert_string_equal(err, "ut_pex: the message is not a dictionary");
    assert_int_equal(decode_copy("d5:added", 8, &m, err, sizeof(err)), OA_EPROTO);
    assert_true(strncmp(err, "ut_pex: bencode: ", 17) == 0);
    assert_int_equal(decode_copy("", 0, &m, err, sizeof(err)), OA_EPROTO);
    assert_int_equal(oa_pex_decode(NULL, 0, NULL, err, sizeof(err)), OA_EINVAL);
}

/* ---- tracker ------------------------------------------------------------ */

static int has_peer(const oa_pex_peer *list, size_t n, const oa_pex_peer *p)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (oa_pex_peer_cmp(&list[i], p) == 0) {
            return 1;
        }
    }
    return 0;
}

static void test_tracker_minutes(void **state)
{
    oa_pex_peer a = v4(10, 0, 0, 1, 6881, 0);
    oa_pex_peer b = v4(10, 0, 0, 2, 6881, OA_PEX_F_UTP);
    oa_pex_peer c = v6(3, 6881, 0);
    oa_pex_peer d = v4(10, 0, 0, 4, 6881, OA_PEX_F_SEED);
    oa_pex_peer zero = v4(10, 0, 0, 9, 1, 0);
    oa_pex_peer set[6];
    oa_pex_tracker t;
    oa_pex_msg m;

    (void)state;
    zero.port = 0;
    oa_pex_tracker_init(&t);
    set[0] = a;
    set[1] = b;
    set[2] = c;
    set[3] = a;    /* a duplicate */
    set[4] = zero; /* cannot be dialled */
    assert_int_equal(oa_pex_tracker_next(&t, set, 5, 1000, &m), 1);
    assert_int_equal(m.added_count, 3);
    assert_int_equal(m.dropped_count, 0);
    assert_true(has_peer(m.added, 3, &a) && has_peer(m.added, 3, &b) && has_peer(m.added, 3, &c));
    assert_int_equal(m.added[1].flags, OA_PEX_F_UTP); /* sorted: a, b, then IPv6 c */
    /* Less than a minute later: nothing, whatever changed. */
    set[2] = d;
    assert_int_equal(oa_pex_tracker_next(&t, set, 3, 60999, &m), 0);
    assert_int_equal(m.added_count, 0);
    /* A minute on: d added, c dropped. */
    assert_int_equal(oa_pex_tracker_next(&t, set, 3, 61000, &m), 1);
    assert_int_equal(m.added_count, 1);
    assert_true(same_peer(&m.added[0], &d));
    assert_int_equal(m.dropped_count, 1);
    assert_int_equal(oa_pex_peer_cmp(&m.dropped[0], &c), 0);
    /* No change: nothing to send, and the clock is not reset. */
    assert_int_equal(oa_pex_tracker_next(&t, set, 3, 200000, &m), 0);
    assert_int_equal(oa_pex_tracker_next(&t, set, 1, 200001, &m), 1);
    assert_int_equal(m.added_count, 0);
    assert_int_equal(m.dropped_count, 2);
    assert_int_equal(m.dropped[0].flags, 0); /* dropped peers carry no flags */
    /* Everyone gone. */
    assert_int_equal(oa_pex_tracker_next(&t, NULL, 0, 261001, &m), 1);
    assert_int_equal(m.dropped_count, 1);
    assert_int_equal(oa_pex_tracker_next(&t, NULL, 0, 400000, &m), 0);
    assert_int_equal(oa_pex_tracker_next(NULL, NULL, 0, 1, &m), OA_EINVAL);
    assert_int_equal(oa_pex_tracker_next(&t, NULL, 3, 1, &m), OA_EINVAL);

    /* Incoming: one message a minute, with the agreed tolerance. */
    assert_int_equal(oa_pex_tracker_received(&t, 5000), 0);
    assert_int_equal(oa_pex_tracker_received(&t, 49999), OA_EBUSY);
    assert_int_equal(oa_pex_tracker_received(&t, 50000), 0);
    assert_int_equal(oa_pex_tracker_received(&t, 50001), OA_EBUSY);
    oa_pex_tracker_free(&t);
    assert_null(t.told);
    oa_pex_tracker_free(&t);
}

/* 120 peers reach a new connection over three messages; when they all
 * leave, the drops take three more; a swap of 60 for 60 takes two. */
static void test_tracker_big_swarm(void **state)
{
    oa_pex_peer set[120];
    oa_pex_peer other[60];
    oa_pex_tracker t;
    oa_pex_msg m;
    uint64_t now = 0;
    size_t i;
    size_t n;

    (void)state;
    for (i = 0; i < 120; i++) {
        set[i] = i % 2 ? v4(172, 16, (uint8_t)(i >> 8), (uint8_t)i, 6881, 0)
                       : v6((uint16_t)i, 6881, OA_PEX_F_ENCRYPTION);
    }
    for (i = 0; i < 60; i++) {
        other[i] = v4(192, 168, 7, (uint8_t)i, 7000, 0);
    }
    oa_pex_tracker_init(&t);
    for (n = 0; n < 3; n++, now += OA_PEX_INTERVAL_MS) {
        assert_int_equal(oa_pex_tracker_next(&t, set, 120, now, &m), 1);
        assert_int_equal(m.added_count, n < 2 ? 50 : 20);
        assert_int_equal(m.dropped_count, 0);
    }
    assert_int_equal(oa_pex_tracker_next(&t, set, 120, now, &m), 0);
    assert_int_equal(t.told_count, 120);
    /* Swap the first 60 for 60 others. */
    memcpy(set, other, sizeof(other));
    assert_int_equal(oa_pex_tracker_next(&t, set, 120, now, &m), 1);
    assert_int_equal(m.added_count, 50);
    assert_int_equal(m.dropped_count, 50);
    now += OA_PEX_INTERVAL_MS;
    assert_int_equal(oa_pex_tracker_next(&t, set, 120, now, &m), 1);
    assert_int_equal(m.added_count, 10);
    assert_int_equal(m.dropped_count, 10);
    assert_int_equal(t.told_count, 120);
    for (n = 0; n < 3; n++) {
        now += OA_PEX_INTERVAL_MS;
        assert_int_equal(oa_pex_tracker_next(&t, set, 0, now, &m), 1);
        assert_int_equal(m.dropped_count, n < 2 ? 50 : 20);
    }
    assert_int_equal(t.told_count, 0);
    oa_pex_tracker_free(&t);
}

static size_t pool_index(const oa_pex_peer *pool, size_t n, const oa_pex_peer *p)
{
    size_t j = 0;

    while (j < n && oa_pex_peer_cmp(&pool[j], p) != 0) {
        j++;
    }
    assert_true(j < n);
    return j;
}

/* A random walk of our peer list: the peer, applying every message we
 * send, ends up seeing exactly our list once it stops changing. */
static void test_tracker_random_walk(void **state)
{
    enum { POOL = 200 };
    oa_pex_peer pool[POOL];
    int ours[POOL];
    int theirs[POOL];
    oa_pex_peer cur[POOL];
    oa_pex_tracker t;
    uint64_t now = 0;
    size_t round;
    size_t i;
    size_t j;

    (void)state;
    oa_test_rng_seed(0x9E3779B97F4A7C15ULL);
    for (i = 0; i < POOL; i++) {
        pool[i] = i % 3 ? v4(10, 9, (uint8_t)(i / 200), (uint8_t)i, 6881, (uint8_t)(i & 0x1f))
                        : v6((uint16_t)i, 51413, 0);
        ours[i] = 0;
        theirs[i] = 0;
    }
    oa_pex_tracker_init(&t);
    for (round = 0; round < 400; round++) {
        size_t n = 0;
        oa_pex_msg m;
        int rc;

        if (round < 300) {
            for (i = oa_test_rng_below(40); i > 0; i--) {
                j = oa_test_rng_below(POOL);
                ours[j] = !ours[j];
            }
        }
        for (i = 0; i < POOL; i++) {
            if (ours[i]) {
                cur[n++] = pool[i];
            }
        }
        now += 20000 + oa_test_rng_below(30000);
        rc = oa_pex_tracker_next(&t, cur, n, now, &m);
        assert_true(rc == 0 || rc == 1);
        if (rc == 0) {
            continue;
        }
        assert_true(m.added_count <= 50 && m.dropped_count <= 50);
        for (i = 0; i < m.added_count; i++) {
            j = pool_index(pool, POOL, &m.added[i]);
            assert_int_equal(theirs[j], 0); /* never told twice */
            assert_int_equal(m.added[i].flags, pool[j].flags);
            theirs[j] = 1;
        }
        for (i = 0; i < m.dropped_count; i++) {
            j = pool_index(pool, POOL, &m.dropped[i]);
            assert_int_equal(theirs[j], 1); /* only what it was told */
            theirs[j] = 0;
        }
    }
    assert_memory_equal(theirs, ours, sizeof(ours));
    oa_pex_tracker_free(&t);
}

/* ---- fuzz ----------------------------------------------------------------- */

static void mutate(uint8_t *s, size_t *n, size_t cap)
{
    size_t ops = oa_test_rng_below(4) == 0 ? 2 : 1;
    size_t i;
    size_t k;
    size_t at;

    for (i = 0; i < ops && *n > 0; i++) {
        at = oa_test_rng_below(*n);
        switch (oa_test_rng_below(6)) {
        case 0:
            s[at] = (uint8_t)oa_test_rng();
            break;
        case 1:
            s[at] = (uint8_t)(s[at] + (oa_test_rng_below(2) ? 1 : 0xff));
            break;
        case 2:
            *n = at + oa_test_rng_below(*n - at);
            break;
        case 3:
            k = 1 + oa_test_rng_below(8);
            k = k < *n - at ? k : *n - at;
            memmove(s + at, s + at + k, *n - at - k);
            *n -= k;
            break;
        default:
            k = 1 + oa_test_rng_below(8);
            if (*n + k <= cap) {
                memmove(s + at + k, s + at, *n - at);
                for (size_t j = 0; j < k; j++) {
                    s[at + j] = oa_test_rng_below(2) ? (uint8_t)oa_test_rng() : (uint8_t)"0123456789:ied"[oa_test_rng_below(14)];
                }
                *n += k;
            }
            break;
        }
    }
}

static void test_fuzz_decode(void **state)
{
    uint8_t buf[256];
    size_t accepted = 0;
    size_t flagged = 0;
    size_t it;

    (void)state;
    oa_test_rng_seed(0x9E99E99E9ULL);
    for (it = 0; it < FUZZ_ITERATIONS; it++) {
        size_t n = sizeof(known) - 1;
        oa_pex_msg m;
        oa_pex_msg back;
        uint8_t *out = NULL;
        size_t len = 0;
        char err[200];
        size_t i;
        int rc;

        memcpy(buf, known, n);
        mutate(buf, &n, sizeof(buf));
        rc = decode_copy(buf, n, &m, err, sizeof(err));
        if (rc != 0) {
            assert_true(rc == OA_EPROTO || rc == OA_ERANGE);
            assert_true(strncmp(err, "ut_pex: ", 8) == 0);
            assert_int_equal(m.added_count + m.dropped_count, 0);
            continue;
        }
        accepted++;
        assert_true(m.added_count <= OA_PEX_MAX_ADDED && m.dropped_count <= OA_PEX_MAX_DROPPED);
        assert_true((m.ignored == 0) == (err[0] == '\0'));
        flagged += m.ignored != 0;
        for (i = 0; i < m.added_count; i++) {
            assert_true(m.added[i].port != 0);
        }
        /* What we read, we can send on unchanged. */
        assert_int_equal(oa_pex_encode(&m, &out, &len), 0);
        assert_int_equal(decode_copy(out, len, &back, err, sizeof(err)), 0);
        free(out);
        assert_int_equal(back.added_count, m.added_count);
        assert_int_equal(back.dropped_count, m.dropped_count);
        for (i = 0; i < m.added_count; i++) {
            assert_true(same_peer(&back.added[i], &m.added[i]));
        }
        for (i = 0; i < m.dropped_count; i++) {
            assert_int_equal(oa_pex_peer_cmp(&back.dropped[i], &m.dropped[i]), 0);
        }
    }
    assert_true(accepted > FUZZ_ITERATIONS / 10);
    assert_true(accepted < FUZZ_ITERATIONS - FUZZ_ITERATIONS / 10);
    assert_true(flagged > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_bytes),
        cmocka_unit_test(test_other_shapes),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_tracker_minutes),
        cmocka_unit_test(test_tracker_big_swarm),
        cmocka_unit_test(test_tracker_random_walk),
        cmocka_unit_test(test_fuzz_decode),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

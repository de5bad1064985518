/* BEP 9 ut_metadata messages (plugins/swarm/metadata.h): the codec against
 * bytes written out by hand from BEP 9, malformed input with its sentence,
 * the serving side and its limits, and a deterministic mutation fuzz loop
 * of the decoder, whose accepted messages also go into a fetch, meant to
 * run under AddressSanitizer; inputs are exact-size heap copies. The fetch
 * state machine is tested in test_metadata_fetch.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "info_fixture.h"
#include "bencode.h"
#include "metadata.h"
#include "testutil.h"

#define FUZZ_ITERATIONS 200000


/* Decodes an exact-size heap copy. */
static int decode_copy(const void *bytes, size_t n, oa_meta_msg *m, uint8_t **keep, char *err,
                       size_t errlen)
{
    uint8_t *copy = oa_test_exact_copy(bytes, n);
    int rc;

    assert_non_null(copy);
    rc = oa_meta_decode(n > 0 ? copy : NULL, n, m, err, errlen);
    if (keep != NULL) {
        *keep = copy; /* m->data points into it */
    } else {
        free(copy);
    }
    return rc;
}

/* ---- codec -------------------------------------------------------------- */

static void expect_encode(const oa_meta_msg *m, const void *want, size_t want_len)
{
    uint8_t *out = NULL;
    size_t len = 0;

    assert_int_equal(oa_meta_encode(m, &out, &len), 0);
    assert_int_equal(len, want_len);
    assert_memory_equal(out, want, want_len);
    free(out);
}

static void test_known_bytes(void **state)
{
    static const char req[] = "d8:msg_typei0e5:piecei0ee";
    static const char rej[] = "d8:msg_typei2e5:piecei3ee";
    static const char data[] = "d8:msg_typei1e5:piecei1e10:total_sizei16389eehello";
    /* Keys out of order, an extra key: both accepted. */
    static const char odd[] = "d5:piecei0e8:msg_typei1e10:total_sizei3e4:xtrai1eeabc";
    oa_meta_msg m;
    uint8_t *keep = NULL;
    char err[200];

    (void)state;
    memset(&m, 0, sizeof(m));
    m.type = OA_META_REQUEST;
    expect_encode(&m, req, sizeof(req) - 1);
    m.type = OA_META_REJECT;
    m.piece = 3;
    expect_encode(&m, rej, sizeof(rej) - 1);
    m.type = OA_META_DATA;
    m.piece = 1;
    m.total_size = 16389;
    m.data = (const uint8_t *)"hello";
    m.size = 5;
    expect_encode(&m, data, sizeof(data) - 1);

    assert_int_equal(decode_copy(req, sizeof(req) - 1, &m, NULL, err, sizeof(err)), 0);
    assert_int_equal(m.type, OA_META_REQUEST);
    assert_int_equal(m.piece, 0);
    assert_null(m.data);
    assert_int_equal(decode_copy(rej, sizeof(rej) - 1, &m, NULL, err, sizeof(err)), 0);
    assert_int_equal(m.type, OA_META_REJECT);
    assert_int_equal(m.piece, 3);
    assert_int_equal(decode_copy(data, sizeof(data) - 1, &m, &keep, err, sizeof(err)), 0);
    assert_int_equal(m.type, OA_META_DATA);
    assert_int_equal(m.piece, 1);
    assert_int_equal(m.total_size, 16389);
    assert_int_equal(m.size, 5);
    assert_ptr_equal(m.data, keep + sizeof(data) - 1 - 5); /* borrowed, not copied */
    assert_memory_equal(m.data, "hello", 5);
    free(keep);
    assert_int_equal(decode_copy(odd, sizeof(odd) - 1, &m, &keep, err, sizeof(err)), 0);
    assert_int_equal(m.total_size, 3);
    assert_memory_equal(m.data, "abc", 3);
    free(keep);

    assert_int_equal(oa_meta_piece_count(0), 0);
    assert_int_equal(oa_meta_piece_count(1), 1);
    assert_int_equal(oa_meta_piece_count(16384), 1);
    assert_int_equal(oa_meta_piece_count(16385), 2);
    assert_int_equal(oa_meta_piece_size(16385, 0), 16384);
    assert_int_equal(oa_meta_piece_size(16385, 1), 1);
    assert_int_equal(oa_meta_piece_size(16385, 2), 0);
}

static void test_round_trip_full_pieces(void **state)
{
    uint8_t *block = malloc(OA_META_PIECE_LEN);
    uint64_t totals[] = {1, 16383, 16384, 16385, 100000, OA_EXT_MAX_METADATA_SIZE};
    size_t t;

    (void)state;
    assert_non_null(block);
    for (t = 0; t < OA_META_PIECE_LEN; t++) {
        block[t] = (uint8_t)(t ^ 0x5A);
    }
    for (t = 0; t < sizeof(totals) / sizeof(totals[0]); t++) {
        uint32_t count = oa_meta_piece_count(totals[t]);
        uint32_t pieces[2] = {0, count - 1};
        int k;

        for (k = 0; k < 2; k++) {
            oa_meta_msg m = {OA_META_DATA, pieces[k], totals[t], block, 0};
            oa_meta_msg back;
            uint8_t *out = NULL;
            uint8_t *keep = NULL;
            size_t len = 0;
            char err[200];

            m.size = oa_meta_piece_size(totals[t], pieces[k]);
            assert_int_equal(oa_meta_encode(&m, &out, &len), 0);
            assert_int_equal(decode_copy(out, len, &back, &keep, err, sizeof(err)), 0);
            assert_int_equal(back.piece, m.piece);
            assert_int_equal(back.total_size, m.total_size);
            assert_int_equal(back.size, m.size);
            assert_memory_equal(back.data, block, m.size);
            free(out);
            free(keep);
        }
    }
    free(block);
}

static void expect_decode_fail(const void *bytes, size_t n, int code, const char *sentence)
{
    oa_meta_msg m;
    char err[200];

    memset(&m, 0x5A, sizeof(m));
    assert_int_equal(decode_copy(bytes, n, &m, NULL, err, sizeof(err)), code);
    if (strstr(err, sentence) == NULL) {
        fail_msg("error \"%s\" does not contain \"%s\"", err, sentence);
    }
    assert_null(m.data);
    assert_int_equal(m.size, 0);
}

#define DECODE_FAIL(lit, code, sentence) expect_decode_fail(lit, sizeof(lit) - 1, code, sentence)

static void test_decode_errors(void **state)
{
    uint8_t *longdict;
    size_t i;

    (void)state;
    DECODE_FAIL("", OA_EPROTO, "ut_metadata: bencode: empty input");
    DECODE_FAIL("le", OA_EPROTO, "ut_metadata: the message is not a dictionary");
    DECODE_FAIL("d5:piecei0ee", OA_EPROTO, "the message has no msg_type");
    DECODE_FAIL("d8:msg_type1:05:piecei0ee", OA_EPROTO, "msg_type is not an integer");
    DECODE_FAIL("d8:msg_typei3e5:piecei0ee", OA_ENOSYS, "unknown msg_type 3, ignored");
    DECODE_FAIL("d8:msg_typei-1ee", OA_ENOSYS, "unknown msg_type -1");
    DECODE_FAIL("d8:msg_typei0ee", OA_EPROTO, "the message has no piece");
    DECODE_FAIL("d8:msg_typei0e5:piecei-1ee", OA_ERANGE, "piece -1 is outside 0..1023");
    DECODE_FAIL("d8:msg_typei0e5:piecei1024ee", OA_ERANGE, "piece 1024 is outside");
    DECODE_FAIL("d8:msg_typei0e5:piecei0eeX", OA_EPROTO, "1 bytes follow a request message");
    DECODE_FAIL("d8:msg_typei2e5:piecei0eeXY", OA_EPROTO, "2 bytes follow a reject message");
    DECODE_FAIL("d8:msg_typei1e5:piecei0eeabc", OA_EPROTO, "the message has no total_size");
    DECODE_FAIL("d8:msg_typei1e5:piecei0e10:total_sizei0eeabc", OA_ERANGE,
                "total_size 0 is outside 1..16777216");
    DECODE_FAIL("d8:msg_typei1e5:piecei0e10:total_sizei16777217eeabc", OA_ERANGE,
                "total_size 16777217 is outside");
    DECODE_FAIL("d8:msg_typei1e5:piecei1e10:total_sizei16384eeabc", OA_ERANGE,
                "piece 1 is past the end of 16384 bytes");
    DECODE_FAIL("d8:msg_typei1e5:piecei0e10:total_sizei4eeabc", OA_EPROTO,
                "piece 0 of 4 bytes carries 3 bytes instead of 4");
    DECODE_FAIL("d8:msg_typei1e5:piecei0e10:total_sizei2eeabc", OA_EPROTO,
                "carries 3 bytes instead of 2");
    DECODE_FAIL("d8:msg_typei1e5:piecei0e10:total_sizei3e", OA_EPROTO, "bencode:");
    DECODE_FAIL("d8:msg_typei01e5:piecei0ee", OA_EPROTO, "leading zero");

    /* A dictionary that does not end within 512 bytes, with a piece after. */
    longdict = malloc(20000);
    assert_non_null(longdict);
    memcpy(longdict, "d8:msg_typei1e5:piecei0e10:total_sizei3e3:pad600:", 50);
    for (i = 50; i < 650; i++) {
        longdict[i] = 'p';
    }
    memcpy(longdict + 650, "eabc", 4);
    expect_decode_fail(longdict, 654, OA_EPROTO, "no dictionary in the first 512 bytes");
    free(longdict);
}

static void test_encode_errors(void **state)
{
    oa_meta_msg m;
    uint8_t *out = (uint8_t *)&m;
    size_t len;

    (void)state;
    memset(&m, 0, sizeof(m));
    m.type = (oa_meta_type)3;
    assert_int_equal(oa_meta_encode(&m, &out, &len), OA_EINVAL);
    assert_null(out);
    m.type = OA_META_REQUEST;
    m.piece = OA_META_MAX_PIECES;
    assert_int_equal(oa_meta_encode(&m, &out, &len), OA_EINVAL);
    m.type = OA_META_DATA;
    m.piece = 0;
    m.total_size = 10;
    m.data = (const uint8_t *)"0123456789";
    m.size = 9;
    assert_int_equal(oa_meta_encode(&m, &out, &len), OA_EINVAL);
    m.size = 10;
    m.total_size = 0;
    assert_int_equal(oa_meta_encode(&m, &out, &len), OA_EINVAL);
    m.total_size = 10;
    m.data = NULL;
    assert_int_equal(oa_meta_encode(&m, &out, &len), OA_EINVAL);
    assert_int_equal(oa_meta_encode(NULL, &out, &len), OA_EINVAL);
}

/* ---- serving ------------------------------------------------------------ */

static int serve_decode(oa_meta_server *srv, const uint8_t *info, size_t info_len, uint32_t piece,
                        oa_meta_msg *ans, uint8_t **keep)
{
    oa_meta_msg req = {OA_META_REQUEST, piece, 0, NULL, 0};
    uint8_t *out = NULL;
    size_t len = 0;
    char err[200];
    int rc = oa_meta_serve(srv, info, info_len, &req, &out, &len);

    assert_true(rc == OA_META_DATA || rc == OA_META_REJECT);
    assert_int_equal(decode_copy(out, len, ans, keep, err, sizeof(err)), 0);
    assert_int_equal(ans->type, rc);
    assert_int_equal(ans->piece, piece);
    free(out);
    return rc;
}

static void test_serve(void **state)
{
    oa_meta_server srv;
    oa_meta_msg ans;
    oa_meta_msg req = {OA_META_REQUEST, 0, 0, NULL, 0};
    uint8_t *keep = NULL;
    uint8_t *out;
    size_t info_len;
    uint8_t *info = oa_test_make_info(2100, &info_len);
    size_t len;
    uint32_t i;

    (void)state;
    assert_int_equal(oa_meta_piece_count(info_len), 3);
    memset(&srv, 0, sizeof(srv));
    for (i = 0; i < 3; i++) {
        assert_int_equal(serve_decode(&srv, info, info_len, i, &ans, &keep), OA_META_DATA);
        assert_int_equal(ans.total_size, info_len);
        assert_int_equal(ans.size, oa_meta_piece_size(info_len, i));
        assert_memory_equal(ans.data, info + i * OA_META_PIECE_LEN, ans.size);
        free(keep);
    }
    assert_int_equal(srv.served, 3);
    /* Past the end, and before we have the metadata: reject. */
    assert_int_equal(serve_decode(&srv, info, info_len, 3, &ans, &keep), OA_META_REJECT);
    free(keep);
    assert_int_equal(serve_decode(&srv, NULL, 0, 0, &ans, &keep), OA_META_REJECT);
    free(keep);
    /* The default limit is 4 times the piece count: 12 pieces. */
    for (i = 3; i < 12; i++) {
        assert_int_equal(serve_decode(&srv, info, info_len, i % 3, &ans, &keep), OA_META_DATA);
        free(keep);
    }
    assert_int_equal(serve_decode(&srv, info, info_len, 0, &ans, &keep), OA_META_REJECT);
    free(keep);
    assert_int_equal(srv.served, 12);
    /* An explicit limit, and a refusing policy. */
    memset(&srv, 0, sizeof(srv));
    srv.limit = 1;
    assert_int_equal(serve_decode(&srv, info, info_len, 2, &ans, &keep), OA_META_DATA);
    free(keep);
    assert_int_equal(serve_decode(&srv, info, info_len, 2, &ans, &keep), OA_META_REJECT);
    free(keep);
    memset(&srv, 0, sizeof(srv));
    srv.refuse = 1;
    assert_int_equal(serve_decode(&srv, info, info_len, 0, &ans, &keep), OA_META_REJECT);
    free(keep);
    /* No server state: no limit. */
    assert_int_equal(serve_decode(NULL, info, info_len, 1, &ans, &keep), OA_META_DATA);
    free(keep);
    /* Misuse. */
    req.type = OA_META_DATA;
    assert_int_equal(oa_meta_serve(&srv, info, info_len, &req, &out, &len), OA_EINVAL);
    req.type = OA_META_REQUEST;
    req.piece = OA_META_MAX_PIECES;
    assert_int_equal(oa_meta_serve(&srv, info, info_len, &req, &out, &len), OA_EINVAL);
    req.piece = 0;
    assert_int_equal(oa_meta_serve(&srv, info, 0, &req, &out, &len), OA_EINVAL);
    free(info);
}

/* ---- fuzz ----------------------------------------------------------------- */

static void mutate(uint8_t *s, size_t *n, size_t cap, size_t window)
{
    size_t ops = oa_test_rng_below(4) == 0 ? 2 : 1;
    size_t i;
    size_t k;
    size_t at;

    for (i = 0; i < ops && *n > 0; i++) {
        at = oa_test_rng_below(*n < window ? *n : window);
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
            k = 1 + oa_test_rng_below(4);
            k = k < *n - at ? k : *n - at;
            memmove(s + at, s + at + k, *n - at - k);
            *n -= k;
            break;
        case 4:
            if (*n + 1 <= cap) {
                memmove(s + at + 1, s + at, *n - at);
                s[at] = "0123456789ie:dl-"[oa_test_rng_below(16)];
                (*n)++;
            }
            break;
        default:
            k = 1 + oa_test_rng_below(8);
            if (*n + k <= cap) {
                memmove(s + at + k, s + at, *n - at);
                for (size_t j = 0; j < k; j++) {
                    s[at + j] = (uint8_t)oa_test_rng();
                }
                *n += k;
            }
            break;
        }
    }
}

static void test_fuzz_decode(void **state)
{
    static const char *const seeds[] = {
        "d8:msg_typei0e5:piecei0ee",
        "d8:msg_typei2e5:piecei7ee",
        "d8:msg_typei1e5:piecei0e10:total_sizei9eeABCDEFGHI",
        "d8:msg_typei1e5:piecei0e10:total_sizei40ee0123456789012345678901234567890123456789",
        "d8:msg_typei1e5:piecei1e10:total_sizei16390eeABCDEF",
        "d5:piecei0e8:msg_typei1e10:total_sizei3e4:xtrad1:ai1eeeabc",
    };
    const size_t cap = 96;
    size_t accepted = 0;
    size_t fed = 0;
    size_t it;
    oa_meta_fetch *f = NULL;
    uint8_t ih[20] = {0};

    (void)state;
    oa_test_rng_seed(0xBEB9BEB9ULL);
    assert_int_equal(oa_meta_fetch_new(ih, NULL, &f), 0);
    assert_int_equal(oa_meta_fetch_peer(f, 1, 9), 0);
    for (it = 0; it < FUZZ_ITERATIONS; it++) {
        const char *seed = seeds[oa_test_rng_below(sizeof(seeds) / sizeof(seeds[0]))];
        size_t n = strlen(seed);
        uint8_t *buf = malloc(cap);
        uint8_t *copy;
        oa_meta_msg m;
        char err[200];
        int rc;

        assert_non_null(buf);
        memcpy(buf, seed, n);
        mutate(buf, &n, cap, oa_test_rng_below(2) ? 48 : n);
        copy = malloc(n > 0 ? n : 1);
        assert_non_null(copy);
        memcpy(copy, buf, n);
        free(buf);
        rc = oa_meta_decode(n > 0 ? copy : NULL, n, &m, err, sizeof(err));
        if (rc != 0) {
            assert_true(rc == OA_EPROTO || rc == OA_ERANGE || rc == OA_ENOSYS);
            assert_true(strncmp(err, "ut_metadata: ", 13) == 0);
            assert_null(m.data);
            free(copy);
            continue;
        }
        accepted++;
        assert_true(m.piece < OA_META_MAX_PIECES);
        if (m.type == OA_META_DATA) {
            uint8_t *out = NULL;
            size_t len = 0;
            oa_meta_msg back;

            assert_int_equal(m.size, oa_meta_piece_size(m.total_size, m.piece));
            assert_ptr_equal(m.data + m.size, copy + n); /* the piece ends the payload */
            assert_int_equal(oa_meta_encode(&m, &out, &len), 0);
            assert_int_equal(oa_meta_decode(out, len, &back, err, sizeof(err)), 0);
            assert_int_equal(back.piece, m.piece);
            assert_int_equal(back.total_size, m.total_size);
            assert_memory_equal(back.data, m.data, m.size);
            free(out);
            /* Into a fetch: whatever the data, no crash, no leak. A
             * banned or finished fetch is replaced. */
            rc = oa_meta_fetch_on_data(f, 1, &m);
            assert_true(rc == OA_META_PENDING || rc == OA_META_HASH_FAILED || rc == OA_EPROTO ||
                        rc == OA_EACCES);
            if (rc == OA_EPROTO || rc == OA_EACCES || rc == OA_META_HASH_FAILED) {
                oa_meta_fetch_free(f);
                assert_int_equal(oa_meta_fetch_new(ih, NULL, &f), 0);
                assert_int_equal(oa_meta_fetch_peer(f, 1, 9 + oa_test_rng_below(2) * 16381), 0);
            }
            fed++;
        } else {
            assert_null(m.data);
        }
        free(copy);
    }
    /* Both outcomes, or the loop tested nothing: a mutated dictionary is
     * rarely still a valid message, so a few percent are accepted. */
    assert_true(accepted > FUZZ_ITERATIONS / 50);
    assert_true(accepted < FUZZ_ITERATIONS / 2);
    assert_true(fed > FUZZ_ITERATIONS / 50);
    oa_meta_fetch_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_bytes),
        cmocka_unit_test(test_round_trip_full_pieces),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_serve),
        cmocka_unit_test(test_fuzz_decode),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

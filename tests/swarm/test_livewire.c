/* The "oa_live" extension messages (plugins/swarm/livecore.h, livewire.c):
 * every type against bytes written out by hand from docs/live-protocol.md,
 * round trips, malformed payloads refused with a sentence (truncated, wrong
 * types, wrong lengths, a block too big, DATA without bytes, trailing
 * bytes), and a deterministic mutation loop meant to run under ASan. Inputs
 * are exact-size heap copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livecore.h"
#include "testutil.h"

#define FUZZ_ITERATIONS 100000

/* Decodes an exact-size copy; *copy_out keeps the copy for pointer checks
 * (free it), or NULL to free it here. */
static int decode_copy(const void *bytes, size_t n, oa_lc_msg *m, char *err, size_t errlen)
{
    uint8_t *copy = oa_test_exact_copy(bytes, n);
    int rc;

    assert_non_null(copy);
    rc = oa_lc_msg_decode(copy, n, m, err, errlen);
    free(copy);
    return rc;
}

#define LIT(s) s, sizeof(s) - 1

/* Encodes m, checks the bytes are want, decodes them back into *back. */
static void check_bytes(const oa_lc_msg *m, const char *want, size_t want_len, oa_lc_msg *back)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256] = "";

    assert_int_equal(oa_lc_msg_encode(m, &buf, &len), 0);
    assert_int_equal(len, want_len);
    assert_memory_equal(buf, want, len);
    assert_int_equal(oa_lc_msg_decode(buf, len, back, err, sizeof(err)), 0);
    assert_int_equal(back->type, m->type);
    free(buf);
}

static void expect_bad(const char *bytes, size_t n, const char *needle)
{
    oa_lc_msg m;
    char err[256] = "";

    assert_int_equal(decode_copy(bytes, n, &m, err, sizeof(err)), OA_EPROTO);
    assert_true(strncmp(err, "oa_live: ", 9) == 0);
    if (needle != NULL && strstr(err, needle) == NULL) {
        fail_msg("\"%s\" lacks \"%s\"", err, needle);
    }
    assert_int_equal(m.type, 0);
    assert_null(m.data);
}

static void test_have(void **state)
{
    oa_lc_msg m = {0};
    oa_lc_msg back;

    (void)state;
    m.type = OA_LC_HAVE;
    m.first = 40;
    m.last = 99;
    check_bytes(&m, LIT("d5:firsti40e4:lasti99e1:ti0ee"), &back);
    assert_int_equal(back.first, 40);
    assert_int_equal(back.last, 99);
    m.first = 100;
    {
        uint8_t *buf = NULL;
        size_t len = 0;

        assert_int_equal(oa_lc_msg_encode(&m, &buf, &len), OA_EINVAL);
        assert_null(buf);
    }
    expect_bad(LIT("d5:firsti100e4:lasti99e1:ti0ee"), "after last");
    expect_bad(LIT("d5:firsti-1e4:lasti99e1:ti0ee"), "first");
    expect_bad(LIT("d4:lasti99e1:ti0ee"), "first");
}

static void test_announce(void **state)
{
    uint8_t seed[32];
    uint8_t pub[32];
    oa_lc_msg m = {0};
    oa_lc_msg back;
    uint8_t *buf = NULL;
    size_t len = 0;
    char want[512];
    size_t wl;
    char err[256] = "";

    (void)state;
    assert_int_equal(oa_lc_keygen(seed, pub), 0);
    m.type = OA_LC_ANNOUNCE;
    assert_int_equal(
        oa_lc_chunk_sign(seed, 7, 1700000000000, 123456, 1000000, "abcd", 4, &m.chunk), 0);
    wl = (size_t)snprintf(want, sizeof(want), "d3:duri1000000e4:hash32:");
    memcpy(want + wl, m.chunk.hash, 32);
    wl += 32;
    wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "3:ptsi123456e3:seqi7e3:sig64:");
    memcpy(want + wl, m.chunk.sig, 64);
    wl += 64;
    wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "4:sizei4e1:ti1e2:tsi1700000000000ee");
    check_bytes(&m, want, wl, &back);
    assert_memory_equal(&back.chunk, &m.chunk, sizeof(m.chunk));
    assert_int_equal(oa_lc_chunk_verify(pub, &back.chunk, err, sizeof(err)), 0);

    /* A hash of 31 bytes, a sig of 65, a missing size, size 0. */
    assert_int_equal(oa_lc_msg_encode(&m, &buf, &len), 0);
    {
        char *bad = malloc(len + 8);
        size_t i;
        size_t bl;

        assert_non_null(bad);
        for (i = 0; i + 8 <= len; i++) {
            if (memcmp(buf + i, "4:hash32", 8) == 0) {
                break;
            }
        }
        memcpy(bad, buf, len);
        bad[i + 6] = '3';
        bad[i + 7] = '1';
        /* "4:hash31:" then 32 bytes: the parser reads 31 and meets garbage. */
        expect_bad(bad, len, NULL);
        free(bad);
        bl = (size_t)snprintf(want, sizeof(want),
                              "d3:duri0e4:hash3:abc3:ptsi0e3:seqi7e3:sig3:abc4:sizei4e1:ti1e"
                              "2:tsi5ee");
        expect_bad(want, bl, "hash");
    }
    free(buf);
    m.chunk.size = 0;
    assert_int_equal(oa_lc_msg_encode(&m, &buf, &len), OA_EINVAL);
}

static void test_request_data_reject(void **state)
{
    static const uint8_t block[5] = {0, 1, 2, 0xff, 'e'};
    oa_lc_msg m = {0};
    oa_lc_msg back;
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256] = "";

    (void)state;
    m.type = OA_LC_REQUEST;
    m.seq = 12;
    m.off = 16384;
    m.len = 16384;
    check_bytes(&m, LIT("d3:leni16384e3:offi16384e3:seqi12e1:ti2ee"), &back);
    assert_int_equal(back.seq, 12);
    assert_int_equal(back.off, 16384);
    assert_int_equal(back.len, 16384);

    memset(&m, 0, sizeof(m));
    m.type = OA_LC_DATA;
    m.seq = 12;
    m.off = 32768;
    m.data = block;
    m.len = sizeof(block);
    check_bytes(&m, LIT("d3:offi32768e3:seqi12e1:ti3ee\x00\x01\x02\xff" "e"), &back);
    /* DATA points into the payload. */
    assert_int_equal(oa_lc_msg_encode(&m, &buf, &len), 0);
    assert_int_equal(oa_lc_msg_decode(buf, len, &back, err, sizeof(err)), 0);
    assert_ptr_equal(back.data, buf + len - 5);
    assert_int_equal(back.len, 5);
    assert_int_equal(back.off, 32768);
    free(buf);

    memset(&m, 0, sizeof(m));
    m.type = OA_LC_REJECT;
    m.seq = 3;
    m.off = 0;
    check_bytes(&m, LIT("d3:offi0e3:seqi3e1:ti4ee"), &back);
    assert_int_equal(back.seq, 3);

    /* Blocks too big, empty, past the largest chunk. */
    expect_bad(LIT("d3:leni131073e3:offi0e3:seqi1e1:ti2ee"), "len");
    expect_bad(LIT("d3:leni0e3:offi0e3:seqi1e1:ti2ee"), "REQUEST");
    expect_bad(LIT("d3:leni131072e3:offi16777200e3:seqi1e1:ti2ee"), "REQUEST");
    expect_bad(LIT("d3:leni1e3:offi-1e3:seqi1e1:ti2ee"), "off");
    expect_bad(LIT("d3:offi0e3:seqi1e1:ti3ee"), "no bytes");
    {
        size_t hl = strlen("d3:offi0e3:seqi1e1:ti3ee");
        size_t n = hl + OA_LC_MAX_BLOCK + 1;
        uint8_t *big = calloc(1, n);
        oa_lc_msg got;

        assert_non_null(big);
        memcpy(big, "d3:offi0e3:seqi1e1:ti3ee", hl);
        assert_int_equal(decode_copy(big, n, &got, err, sizeof(err)), OA_EPROTO);
        assert_non_null(strstr(err, "DATA carries"));
        /* The largest block passes. */
        assert_int_equal(decode_copy(big, n - 1, &got, err, sizeof(err)), 0);
        assert_int_equal(got.len, OA_LC_MAX_BLOCK);
        free(big);
    }
    /* Encoder refuses what the decoder would. */
    memset(&m, 0, sizeof(m));
    m.type = OA_LC_REQUEST;
    m.len = OA_LC_MAX_BLOCK + 1;
    assert_int_equal(oa_lc_msg_encode(&m, &buf, &len), OA_EINVAL);
    m.type = OA_LC_DATA;
    m.len = 4;
    assert_int_equal(oa_lc_msg_encode(&m, &buf, &len), OA_EINVAL); /* no data */
    m.type = (oa_lc_msg_type)9;
    assert_int_equal(oa_lc_msg_encode(&m, &buf, &len), OA_EINVAL);
}

static void test_chat_ack(void **state)
{
    static const uint8_t chat[3] = {'d', 'e', 0};
    oa_lc_msg m = {0};
    oa_lc_msg back;
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256] = "";

    (void)state;
    m.type = OA_LC_CHAT;
    m.chat = chat;
    m.chat_len = 3;
    check_bytes(&m, LIT("d3:msg3:de\x00" "1:ti5ee"), &back);
    assert_int_equal(back.chat_len, 3);
    assert_int_equal(oa_lc_msg_encode(&m, &buf, &len), 0);
    assert_int_equal(oa_lc_msg_decode(buf, len, &back, err, sizeof(err)), 0);
    assert_ptr_equal(back.chat, buf + 8);
    assert_memory_equal(back.chat, chat, 3);
    free(buf);
    expect_bad(LIT("d3:msg0:1:ti5ee"), "msg");
    expect_bad(LIT("d3:msgi1e1:ti5ee"), "msg");
    expect_bad(LIT("d1:ti5ee"), "msg");

    memset(&m, 0, sizeof(m));
    m.type = OA_LC_ACK;
    m.up = 123456789012ull;
    check_bytes(&m, LIT("d1:ti6e2:upi123456789012ee"), &back);
    assert_int_equal(back.up, 123456789012ull);
    expect_bad(LIT("d1:ti6e2:upi-1ee"), "up");
}

static void test_malformed(void **state)
{
    oa_lc_msg m;
    char err[256] = "";
    static const char good[] = "d5:firsti1e4:lasti2e1:ti0ee";
    size_t i;

    (void)state;
    /* Every truncation of a good message. */
    for (i = 0; i < sizeof(good) - 1; i++) {
        if (i == 0) {
            assert_int_equal(oa_lc_msg_decode(NULL, 0, &m, err, sizeof(err)), OA_EPROTO);
            continue;
        }
        expect_bad(good, i, NULL);
    }
    expect_bad(LIT("le"), "not a dictionary");
    expect_bad(LIT("i3e"), "not a dictionary");
    expect_bad(LIT("de"), "\"t\"");
    expect_bad(LIT("d1:t1:0e"), "\"t\"");
    expect_bad(LIT("d1:ti7ee"), "unknown message type");
    expect_bad(LIT("d1:ti-1ee"), "\"t\"");
    expect_bad(LIT("d5:first1:14:lasti2e1:ti0ee"), "first");
    /* Trailing bytes after anything but DATA. */
    expect_bad(LIT("d5:firsti1e4:lasti2e1:ti0eex"), "follow");
    expect_bad(LIT("d1:ti6e2:upi1eed1:ti6e2:upi1ee"), "follow");
    /* Unsorted and duplicate keys. */
    expect_bad(LIT("d4:lasti2e5:firsti1e1:ti0ee"), NULL);
    expect_bad(LIT("d5:firsti1e5:firsti1e4:lasti2e1:ti0ee"), NULL);
    /* Too long. */
    {
        size_t n = OA_LC_MAX_MSG + 1;
        char *big = calloc(1, n);

        assert_non_null(big);
        memcpy(big, "d3:offi0e3:seqi1e1:ti3ee", 24);
        expect_bad(big, n, "outside");
        free(big);
    }
    /* Unknown keys are ignored (room for later versions). */
    assert_int_equal(decode_copy(LIT("d1:ti6e2:upi5e1:zi0ee"), &m, err, sizeof(err)), 0);
    assert_int_equal(m.up, 5);
}

/* Random mutations of valid messages never crash, and what still decodes
 * encodes back to a message that decodes to the same fields. */
static void test_mutations(void **state)
{
    uint8_t seed[32];
    uint8_t pub[32];
    oa_lc_msg ms[7];
    uint8_t *bufs[7];
    size_t lens[7];
    static const uint8_t block[40] = {1};
    size_t i;
    char err[256];

    (void)state;
    memset(ms, 0, sizeof(ms));
    assert_int_equal(oa_lc_keygen(seed, pub), 0);
    ms[0].type = OA_LC_HAVE;
    ms[0].last = 12;
    ms[1].type = OA_LC_ANNOUNCE;
    assert_int_equal(oa_lc_chunk_sign(seed, 7, 17, -1, 0, "abcd", 4, &ms[1].chunk), 0);
    ms[2].type = OA_LC_REQUEST;
    ms[2].len = 16384;
    ms[3].type = OA_LC_DATA;
    ms[3].data = block;
    ms[3].len = sizeof(block);
    ms[4].type = OA_LC_REJECT;
    ms[5].type = OA_LC_CHAT;
    ms[5].chat = block;
    ms[5].chat_len = 10;
    ms[6].type = OA_LC_ACK;
    for (i = 0; i < 7; i++) {
        assert_int_equal(oa_lc_msg_encode(&ms[i], &bufs[i], &lens[i]), 0);
    }
    oa_test_rng_seed(11);
    for (i = 0; i < FUZZ_ITERATIONS; i++) {
        size_t k = oa_test_rng_below(7);
        size_t n = lens[k];
        uint8_t *c;
        oa_lc_msg got;
        int flips = 1 + (int)oa_test_rng_below(3);
        int f;

        if (oa_test_rng_below(4) == 0) {
            n = oa_test_rng_below(n) + 1;
        }
        c = oa_test_exact_copy(bufs[k], n);
        for (f = 0; f < flips; f++) {
            c[oa_test_rng_below(n)] = (uint8_t)oa_test_rng();
        }
        if (oa_lc_msg_decode(c, n, &got, err, sizeof(err)) == 0) {
            uint8_t *again = NULL;
            size_t again_len = 0;
            oa_lc_msg back;

            assert_int_equal(oa_lc_msg_encode(&got, &again, &again_len), 0);
            assert_int_equal(oa_lc_msg_decode(again, again_len, &back, err, sizeof(err)), 0);
            assert_int_equal(back.type, got.type);
            assert_int_equal(back.seq, got.seq);
            assert_int_equal(back.off, got.off);
            assert_int_equal(back.len, got.len);
            assert_int_equal(back.first, got.first);
            assert_int_equal(back.last, got.last);
            assert_int_equal(back.up, got.up);
            assert_memory_equal(&back.chunk, &got.chunk, sizeof(got.chunk));
            free(again);
        }
        free(c);
    }
    for (i = 0; i < 7; i++) {
        free(bufs[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_have),
        cmocka_unit_test(test_announce),
        cmocka_unit_test(test_request_data_reject),
        cmocka_unit_test(test_chat_ack),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_mutations),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

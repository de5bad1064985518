/* Live streams' pure parts (plugins/swarm/livecore.h): Ed25519 keys and
 * signatures against the RFC 8032 test vector, the live descriptor (round
 * trip, content ID = SHA-1 of its bytes, bytes written out by hand,
 * non-canonical forms, unknown keys and out-of-range fields refused), signed
 * chunk headers (wrong key, a flipped byte anywhere refused; data checked
 * against the signed hash) and the sliding window's anti-replay rule. Inputs
 * are exact-size heap copies so that a read past the end is an ASan error. */
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

static int unhex(const char *hex, uint8_t *out, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned v;

        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int decode_copy(const void *bytes, size_t n, oa_lc_descriptor *d, char *err,
                       size_t errlen)
{
    uint8_t *copy = oa_test_exact_copy(bytes, n);
    int rc;

    assert_non_null(copy);
    rc = oa_lc_desc_decode(copy, n, d, err, errlen);
    free(copy);
    return rc;
}

static void sample_desc(oa_lc_descriptor *d)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->name, sizeof(d->name), "%s", "Test \xc3\xa9t\xc3\xa9 channel");
    memset(d->pubkey, 0xab, sizeof(d->pubkey));
    d->chunk_ms = 1000;
    d->window = 60;
    d->created = 1700000000;
    snprintf(d->trackers[0], sizeof(d->trackers[0]), "%s", "http://tracker.example/announce");
    snprintf(d->trackers[1], sizeof(d->trackers[1]), "%s", "udp://t.example:6969");
    d->tracker_count = 2;
    snprintf(d->video, sizeof(d->video), "%s", "h264");
    snprintf(d->audio, sizeof(d->audio), "%s", "aac");
    d->width = 640;
    d->height = 360;
    d->bitrate = 800000;
}

/* ---- keys --------------------------------------------------------------- */

/* RFC 8032 section 7.1, test 2: a known seed, public key and signature of
 * the one-byte message 0x72. */
static void test_rfc8032_vector(void **state)
{
    uint8_t seed[32];
    uint8_t pub[32];
    uint8_t want_pub[32];
    uint8_t sig[64];
    uint8_t want_sig[64];
    const uint8_t msg = 0x72;

    (void)state;
    assert_int_equal(
        unhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", seed, 32), 0);
    assert_int_equal(
        unhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", want_pub, 32),
        0);
    assert_int_equal(unhex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                           "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
                           want_sig, 64),
                     0);
    assert_int_equal(oa_lc_pubkey(seed, pub), 0);
    assert_memory_equal(pub, want_pub, 32);
    assert_int_equal(oa_lc_sign(seed, &msg, 1, sig), 0);
    assert_memory_equal(sig, want_sig, 64);
    assert_int_equal(oa_lc_verify(pub, &msg, 1, sig), 0);
}

static void test_keygen_sign_verify(void **state)
{
    uint8_t seed[32];
    uint8_t pub[32];
    uint8_t seed2[32];
    uint8_t pub2[32];
    uint8_t again[32];
    uint8_t sig[64];
    const char msg[] = "hello live";

    (void)state;
    assert_int_equal(oa_lc_keygen(seed, pub), 0);
    assert_int_equal(oa_lc_keygen(seed2, pub2), 0);
    assert_memory_not_equal(seed, seed2, 32);
    assert_int_equal(oa_lc_pubkey(seed, again), 0);
    assert_memory_equal(again, pub, 32);
    assert_int_equal(oa_lc_sign(seed, msg, strlen(msg), sig), 0);
    assert_int_equal(oa_lc_verify(pub, msg, strlen(msg), sig), 0);
    assert_int_equal(oa_lc_verify(pub2, msg, strlen(msg), sig), OA_EPROTO);
    assert_int_equal(oa_lc_verify(pub, msg, strlen(msg) - 1, sig), OA_EPROTO);
    sig[10] ^= 1;
    assert_int_equal(oa_lc_verify(pub, msg, strlen(msg), sig), OA_EPROTO);
    /* The empty message is a message too. */
    assert_int_equal(oa_lc_sign(seed, NULL, 0, sig), 0);
    assert_int_equal(oa_lc_verify(pub, NULL, 0, sig), 0);
}

static void test_hashes_and_hex(void **state)
{
    uint8_t h[32];
    uint8_t id[20];
    uint8_t back[20];
    char hex[41];

    (void)state;
    oa_lc_sha256("abc", 3, h);
    assert_int_equal(h[0], 0xba);
    assert_int_equal(h[31], 0xad);
    oa_lc_sha1("abc", 3, id);
    oa_lc_hex40(id, hex);
    assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert_int_equal(oa_lc_unhex40(hex, back), 0);
    assert_memory_equal(back, id, 20);
    assert_int_equal(oa_lc_unhex40("A9993E364706816ABA3E25717850C26C9CD0D89D", back), 0);
    assert_memory_equal(back, id, 20);
    assert_int_equal(oa_lc_unhex40("a9993e364706816aba3e25717850c26c9cd0d89", back), OA_EINVAL);
    assert_int_equal(oa_lc_unhex40("a9993e364706816aba3e25717850c26c9cd0d89d0", back),
                     OA_EINVAL);
    assert_int_equal(oa_lc_unhex40("g9993e364706816aba3e25717850c26c9cd0d89d", back),
                     OA_EINVAL);
    assert_int_equal(oa_lc_unhex40("", back), OA_EINVAL);
}

/* ---- descriptor --------------------------------------------------------- */

static void test_desc_round_trip(void **state)
{
    oa_lc_descriptor d;
    oa_lc_descriptor back;
    uint8_t *buf = NULL;
    size_t len = 0;
    uint8_t id[20];
    uint8_t sha[20];
    char err[256] = "";

    (void)state;
    sample_desc(&d);
    assert_int_equal(oa_lc_desc_encode(&d, &buf, &len, err, sizeof(err)), 0);
    assert_true(oa_lc_desc_is(buf, len));
    assert_int_equal(decode_copy(buf, len, &back, err, sizeof(err)), 0);
    assert_memory_equal(&back, &d, sizeof(d));
    oa_lc_content_id(buf, len, id);
    oa_lc_sha1(buf, len, sha);
    assert_memory_equal(id, sha, 20);
    /* A change of any field changes the content ID. */
    d.window = 61;
    {
        uint8_t *buf2 = NULL;
        size_t len2 = 0;
        uint8_t id2[20];

        assert_int_equal(oa_lc_desc_encode(&d, &buf2, &len2, err, sizeof(err)), 0);
        oa_lc_content_id(buf2, len2, id2);
        assert_memory_not_equal(id, id2, 20);
        free(buf2);
    }
    free(buf);
}

/* The exact bytes of a small descriptor, written out by hand. */
static void test_desc_bytes(void **state)
{
    static const char want[] = "d5:audio0:7:bitratei0e8:chunk_msi500e7:createdi1e6:heighti0e"
                               "4:name1:x7:oa_livei1e6:pubkey32:"
                               "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"
                               "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"
                               "8:trackersle5:video0:5:widthi0e6:windowi4ee";
    oa_lc_descriptor d;
    oa_lc_descriptor back;
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256] = "";

    (void)state;
    memset(&d, 0, sizeof(d));
    d.name[0] = 'x';
    memset(d.pubkey, 1, 32);
    d.chunk_ms = 500;
    d.window = 4;
    d.created = 1;
    assert_int_equal(oa_lc_desc_encode(&d, &buf, &len, err, sizeof(err)), 0);
    assert_int_equal(len, sizeof(want) - 1);
    assert_memory_equal(buf, want, len);
    assert_int_equal(decode_copy(want, sizeof(want) - 1, &back, err, sizeof(err)), 0);
    assert_memory_equal(&back, &d, sizeof(d));
    free(buf);
}

/* Replaces the first occurrence of from by to in a descriptor's bytes, into
 * a new buffer; the length is in *len. */
static uint8_t *replaced(const uint8_t *buf, size_t n, const char *from, const char *to,
                         size_t *len)
{
    size_t fl = strlen(from);
    size_t tl = strlen(to);
    uint8_t *out;
    size_t i;

    for (i = 0; i + fl <= n; i++) {
        if (memcmp(buf + i, from, fl) == 0) {
            break;
        }
    }
    assert_true(i + fl <= n);
    out = malloc(n - fl + tl);
    assert_non_null(out);
    memcpy(out, buf, i);
    memcpy(out + i, to, tl);
    memcpy(out + i + tl, buf + i + fl, n - i - fl);
    *len = n - fl + tl;
    return out;
}

static void expect_refused(const uint8_t *buf, size_t n, const char *from, const char *to)
{
    oa_lc_descriptor d;
    char err[256] = "";
    size_t len = 0;
    uint8_t *bad = replaced(buf, n, from, to, &len);

    assert_int_equal(decode_copy(bad, len, &d, err, sizeof(err)), OA_EPROTO);
    assert_true(strncmp(err, "live descriptor: ", 17) == 0);
    free(bad);
}

static void test_desc_refused(void **state)
{
    oa_lc_descriptor d;
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256] = "";

    (void)state;
    sample_desc(&d);
    assert_int_equal(oa_lc_desc_encode(&d, &buf, &len, err, sizeof(err)), 0);
    /* Out of range. */
    expect_refused(buf, len, "8:chunk_msi1000e", "8:chunk_msi99e");
    expect_refused(buf, len, "8:chunk_msi1000e", "8:chunk_msi60001e");
    expect_refused(buf, len, "6:windowi60e", "6:windowi3e");
    expect_refused(buf, len, "6:windowi60e", "6:windowi10001e");
    expect_refused(buf, len, "7:createdi1700000000e", "7:createdi0e");
    expect_refused(buf, len, "7:oa_livei1e", "7:oa_livei2e");
    expect_refused(buf, len, "5:widthi640e", "5:widthi-1e");
    expect_refused(buf, len, "7:bitratei800000e", "7:bitratei-5e");
    expect_refused(buf, len, "4:name", "4:namx");  /* unknown key, order kept */
    expect_refused(buf, len, "4:h264", "4:H264"); /* not a codec name */
    expect_refused(buf, len, "3:aac", "4:aac"); /* broken bencode */
    /* Wrong types and lengths. */
    expect_refused(buf, len, "6:pubkey32:", "6:pubkeyi1e31:");
    expect_refused(buf, len, "8:chunk_msi1000e", "8:chunk_ms4:1000");
    expect_refused(buf, len, "8:trackersl", "8:trackersli1e");
    /* Not canonical: keys out of order (audio moved after bitrate), a key
     * missing, a duplicate key, trailing bytes. */
    expect_refused(buf, len, "5:audio3:aac7:bitratei800000e", "7:bitratei800000e5:audio3:aac");
    expect_refused(buf, len, "5:audio3:aac", "");
    expect_refused(buf, len, "5:audio3:aac", "5:audio3:aac5:audio3:aac");
    expect_refused(buf, len, "6:windowi60ee", "6:windowi60eex");
    /* A name that is not UTF-8, and a tracker that is not a URL. */
    expect_refused(buf, len, "\xc3\xa9t\xc3\xa9", "\xc3\xc3t\xc3\xa9");
    expect_refused(buf, len, "udp://t.example:6969", "ftp://t.example:6969");
    /* An unknown key added at its sorted place. */
    expect_refused(buf, len, "6:height", "5:extrai1e6:height");
    free(buf);

    assert_int_equal(decode_copy("le", 2, &d, err, sizeof(err)), OA_EPROTO);
    assert_int_equal(decode_copy("de", 2, &d, err, sizeof(err)), OA_EPROTO);
    assert_false(oa_lc_desc_is("de", 2));
    assert_false(oa_lc_desc_is("d4:infodee", 10));
    assert_true(oa_lc_desc_is("d7:oa_livei1ee", 14));
    assert_false(oa_lc_desc_is("d7:oa_livei1e", 13));
}

static void test_desc_encode_refused(void **state)
{
    oa_lc_descriptor d;
    uint8_t *buf = (uint8_t *)&d;
    size_t len = 1;
    char err[256] = "";

    (void)state;
    sample_desc(&d);
    d.name[0] = '\0';
    assert_int_equal(oa_lc_desc_encode(&d, &buf, &len, err, sizeof(err)), OA_EINVAL);
    assert_null(buf);
    assert_non_null(strstr(err, "name"));
    sample_desc(&d);
    d.chunk_ms = 50;
    assert_int_equal(oa_lc_desc_encode(&d, &buf, &len, err, sizeof(err)), OA_EINVAL);
    sample_desc(&d);
    d.window = 20000;
    assert_int_equal(oa_lc_desc_encode(&d, &buf, &len, err, sizeof(err)), OA_EINVAL);
    sample_desc(&d);
    d.tracker_count = 9;
    assert_int_equal(oa_lc_desc_encode(&d, &buf, &len, err, sizeof(err)), OA_EINVAL);
    sample_desc(&d);
    snprintf(d.trackers[1], sizeof(d.trackers[1]), "%s", "not a url");
    assert_int_equal(oa_lc_desc_encode(&d, &buf, &len, err, sizeof(err)), OA_EINVAL);
    sample_desc(&d);
    d.created = 0;
    assert_int_equal(oa_lc_desc_encode(&d, &buf, &len, err, sizeof(err)), OA_EINVAL);
    sample_desc(&d);
    memset(d.name, 'a', sizeof(d.name));
    assert_int_equal(oa_lc_desc_encode(&d, &buf, &len, err, sizeof(err)), OA_EINVAL);
    sample_desc(&d);
    memset(d.name, 'a', 127);
    d.name[127] = '\0';
    assert_int_equal(oa_lc_desc_encode(&d, &buf, &len, err, sizeof(err)), 0);
    free(buf);
}

/* Truncations and random byte flips of a valid descriptor never crash, and
 * whatever still decodes encodes back to the same bytes. */
static void test_desc_mutations(void **state)
{
    oa_lc_descriptor d;
    uint8_t *buf = NULL;
    size_t len = 0;
    size_t i;
    char err[256];

    (void)state;
    sample_desc(&d);
    assert_int_equal(oa_lc_desc_encode(&d, &buf, &len, err, sizeof(err)), 0);
    for (i = 0; i < len; i++) {
        assert_int_equal(decode_copy(buf, i, &d, err, sizeof(err)), OA_EPROTO);
    }
    oa_test_rng_seed(7);
    for (i = 0; i < 20000; i++) {
        uint8_t *m = oa_test_exact_copy(buf, len);
        size_t pos = oa_test_rng_below(len);

        m[pos] = (uint8_t)oa_test_rng();
        if (oa_lc_desc_decode(m, len, &d, err, sizeof(err)) == 0) {
            uint8_t *again = NULL;
            size_t again_len = 0;

            assert_int_equal(oa_lc_desc_encode(&d, &again, &again_len, err, sizeof(err)), 0);
            assert_int_equal(again_len, len);
            assert_memory_equal(again, m, len);
            free(again);
        }
        free(m);
    }
    free(buf);
}

/* ---- chunk headers ------------------------------------------------------ */

static void test_chunk_sign_verify(void **state)
{
    uint8_t seed[32];
    uint8_t pub[32];
    uint8_t seed2[32];
    uint8_t pub2[32];
    uint8_t data[1000];
    oa_lc_chunk c;
    oa_lc_chunk bad;
    char err[256] = "";
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i * 7);
    }
    assert_int_equal(oa_lc_keygen(seed, pub), 0);
    assert_int_equal(oa_lc_keygen(seed2, pub2), 0);
    assert_int_equal(oa_lc_chunk_sign(seed, 42, 1700000000123, 9000000, 1000000, data,
                                      sizeof(data), &c),
                     0);
    assert_int_equal(c.size, sizeof(data));
    assert_int_equal(oa_lc_chunk_verify(pub, &c, err, sizeof(err)), 0);
    assert_int_equal(oa_lc_chunk_check_data(&c, data, sizeof(data), err, sizeof(err)), 0);

    /* Wrong key. */
    assert_int_equal(oa_lc_chunk_verify(pub2, &c, err, sizeof(err)), OA_EPROTO);
    assert_non_null(strstr(err, "signature"));
    /* Every signed field, and every byte of hash and sig. */
    bad = c;
    bad.seq ^= 1;
    assert_int_equal(oa_lc_chunk_verify(pub, &bad, err, sizeof(err)), OA_EPROTO);
    bad = c;
    bad.ts_ms += 1;
    assert_int_equal(oa_lc_chunk_verify(pub, &bad, err, sizeof(err)), OA_EPROTO);
    bad = c;
    bad.pts_us += 1;
    assert_int_equal(oa_lc_chunk_verify(pub, &bad, err, sizeof(err)), OA_EPROTO);
    bad = c;
    bad.duration_us -= 1;
    assert_int_equal(oa_lc_chunk_verify(pub, &bad, err, sizeof(err)), OA_EPROTO);
    for (i = 0; i < 32; i++) {
        bad = c;
        bad.hash[i] ^= 0x80;
        assert_int_equal(oa_lc_chunk_verify(pub, &bad, err, sizeof(err)), OA_EPROTO);
    }
    for (i = 0; i < 64; i++) {
        bad = c;
        bad.sig[i] ^= 0x01;
        assert_int_equal(oa_lc_chunk_verify(pub, &bad, err, sizeof(err)), OA_EPROTO);
    }
    /* Size is not signed but bounded; the data check binds it. */
    bad = c;
    bad.size = 0;
    assert_int_equal(oa_lc_chunk_verify(pub, &bad, err, sizeof(err)), OA_EPROTO);
    bad.size = OA_LC_MAX_CHUNK + 1;
    assert_int_equal(oa_lc_chunk_verify(pub, &bad, err, sizeof(err)), OA_EPROTO);
    bad.size = 999;
    assert_int_equal(oa_lc_chunk_check_data(&bad, data, 999, err, sizeof(err)), OA_EPROTO);

    /* Flipped data bytes and a wrong length. */
    for (i = 0; i < sizeof(data); i += 97) {
        data[i] ^= 0x10;
        assert_int_equal(oa_lc_chunk_check_data(&c, data, sizeof(data), err, sizeof(err)),
                         OA_EPROTO);
        assert_non_null(strstr(err, "SHA-256"));
        data[i] ^= 0x10;
    }
    assert_int_equal(oa_lc_chunk_check_data(&c, data, sizeof(data) - 1, err, sizeof(err)),
                     OA_EPROTO);
    assert_int_equal(oa_lc_chunk_check_data(&c, data, sizeof(data), err, sizeof(err)), 0);
    assert_int_equal(oa_lc_chunk_sign(seed, 1, 1, 0, 0, data, 0, &c), OA_EINVAL);
}

/* The signed message is the documented 64 bytes: checked by signing them
 * by hand and comparing with the chunk's signature. */
static void test_chunk_signed_bytes(void **state)
{
    uint8_t seed[32];
    uint8_t pub[32];
    uint8_t msg[64];
    uint8_t sig[64];
    oa_lc_chunk c;
    char err[128];

    (void)state;
    assert_int_equal(oa_lc_keygen(seed, pub), 0);
    assert_int_equal(oa_lc_chunk_sign(seed, 0x0102030405060708ull, 0x1112131415161718ll, -1, 0,
                                      "x", 1, &c),
                     0);
    memcpy(msg, "\x01\x02\x03\x04\x05\x06\x07\x08\x11\x12\x13\x14\x15\x16\x17\x18", 16);
    oa_lc_sha256("x", 1, msg + 16);
    memset(msg + 48, 0xff, 8);
    memset(msg + 56, 0, 8);
    assert_int_equal(oa_lc_sign(seed, msg, 64, sig), 0);
    assert_memory_equal(sig, c.sig, 64); /* Ed25519 is deterministic */
    assert_int_equal(oa_lc_verify(pub, msg, 64, c.sig), 0);
    assert_int_equal(oa_lc_chunk_verify(pub, &c, err, sizeof(err)), 0);
}

/* The examples of docs/live-protocol.md, with the RFC 8032 test 1 key: the
 * descriptor's bytes and content ID, and a chunk's signed message and
 * signature. */
static void test_doc_examples(void **state)
{
    static const char want_desc[] =
        "d5:audio3:aac7:bitratei1500000e8:chunk_msi1000e7:createdi1700000000e"
        "6:heighti360e4:name4:Demo7:oa_livei1e6:pubkey32:"
        "\xd7\x5a\x98\x01\x82\xb1\x0a\xb7\xd5\x4b\xfe\xd3\xc9\x64\x07\x3a"
        "\x0e\xe1\x72\xf3\xda\xa6\x23\x25\xaf\x02\x1a\x68\xf7\x07\x51\x1a"
        "8:trackersl35:udp://tracker.example:6969/announcee5:video4:h264"
        "5:widthi640e6:windowi60ee";
    uint8_t seed[32];
    uint8_t pub[32];
    uint8_t want_sig[64];
    uint8_t id[20];
    char hex[41];
    oa_lc_descriptor d;
    oa_lc_chunk c;
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256] = "";

    (void)state;
    assert_int_equal(
        unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", seed, 32), 0);
    assert_int_equal(oa_lc_pubkey(seed, pub), 0);
    memset(&d, 0, sizeof(d));
    snprintf(d.name, sizeof(d.name), "%s", "Demo");
    memcpy(d.pubkey, pub, 32);
    d.chunk_ms = 1000;
    d.window = 60;
    d.created = 1700000000;
    snprintf(d.trackers[0], sizeof(d.trackers[0]), "%s", "udp://tracker.example:6969/announce");
    d.tracker_count = 1;
    snprintf(d.video, sizeof(d.video), "%s", "h264");
    snprintf(d.audio, sizeof(d.audio), "%s", "aac");
    d.width = 640;
    d.height = 360;
    d.bitrate = 1500000;
    assert_int_equal(oa_lc_desc_encode(&d, &buf, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 236);
    assert_int_equal(sizeof(want_desc) - 1, 236);
    assert_memory_equal(buf, want_desc, len);
    oa_lc_content_id(buf, len, id);
    oa_lc_hex40(id, hex);
    assert_string_equal(hex, "6c85d67d79ed0e6db76ae2ed737cae32d50c550b");
    free(buf);

    assert_int_equal(unhex("6a08a90c3e3c0e97e093df9a3f083ad6882573ecff7b59d7e0f7e7c379805e80"
                           "cf1acd4515cb1904111c43e55ca23feba202d130a914a64e761d29ef7297f203",
                           want_sig, 64),
                     0);
    assert_int_equal(oa_lc_chunk_sign(seed, 7, 1700000000500, 2000000, 1000000, "hello", 5, &c),
                     0);
    assert_memory_equal(c.sig, want_sig, 64);
    assert_int_equal(c.hash[0], 0x2c);
    assert_int_equal(c.hash[31], 0x24);
}

/* ---- window ------------------------------------------------------------- */

static void test_window(void **state)
{
    const int64_t now = 1700000000000;
    oa_lc_window w;
    char err[256] = "";

    (void)state;
    oa_lc_window_init(&w, 10, 1000);
    assert_int_equal(oa_lc_window_first(&w), 0);
    /* Before any edge: any sequence with a current time. */
    assert_int_equal(oa_lc_window_check(&w, 500, now, now, err, sizeof(err)), 0);
    oa_lc_window_advance(&w, 500, now);
    assert_int_equal(oa_lc_window_first(&w), 491);

    /* Inside the window, also behind the edge and the edge itself again. */
    assert_int_equal(oa_lc_window_check(&w, 491, now - 9000, now, err, sizeof(err)), 0);
    assert_int_equal(oa_lc_window_check(&w, 500, now, now, err, sizeof(err)), 0);
    /* Replayed old sequence: outside the window. */
    assert_int_equal(oa_lc_window_check(&w, 490, now - 10000, now, err, sizeof(err)),
                     OA_ERANGE);
    assert_non_null(strstr(err, "older than the window"));
    assert_int_equal(oa_lc_window_check(&w, 0, now, now, err, sizeof(err)), OA_ERANGE);
    /* Old timestamp: window * chunk_ms + 30 s. */
    assert_int_equal(oa_lc_window_check(&w, 501, now - 40000, now + 1, err, sizeof(err)),
                     OA_ERANGE);
    assert_int_equal(oa_lc_window_check(&w, 495, now - 40001, now, err, sizeof(err)),
                     OA_ERANGE);
    /* From the future. */
    assert_int_equal(oa_lc_window_check(&w, 501, now + 30001, now, err, sizeof(err)),
                     OA_ERANGE);
    assert_non_null(strstr(err, "future"));
    assert_int_equal(oa_lc_window_check(&w, 501, now + 30000, now, err, sizeof(err)), 0);
    /* Newer number, older time. */
    assert_int_equal(oa_lc_window_check(&w, 501, now - 1, now, err, sizeof(err)), OA_ERANGE);
    /* Forward jump accepted; it moves the edge; older seqs do not. */
    assert_int_equal(oa_lc_window_check(&w, 100000, now + 1000, now, err, sizeof(err)), 0);
    oa_lc_window_advance(&w, 100000, now + 1000);
    assert_int_equal(w.edge, 100000);
    assert_int_equal(oa_lc_window_first(&w), 99991);
    oa_lc_window_advance(&w, 99995, now);
    assert_int_equal(w.edge, 100000);
    assert_int_equal(w.edge_ts_ms, now + 1000);
    assert_int_equal(oa_lc_window_check(&w, 500, now, now, err, sizeof(err)), OA_ERANGE);
    /* Near zero: no underflow. */
    oa_lc_window_init(&w, 10, 1000);
    oa_lc_window_advance(&w, 3, now);
    assert_int_equal(oa_lc_window_first(&w), 0);
    assert_int_equal(oa_lc_window_check(&w, 0, now, now, err, sizeof(err)), 0);
    oa_lc_window_advance(&w, 9, now);
    assert_int_equal(oa_lc_window_first(&w), 0);
    oa_lc_window_advance(&w, 10, now);
    assert_int_equal(oa_lc_window_first(&w), 1);
    assert_int_equal(oa_lc_window_check(&w, 0, now, now, err, sizeof(err)), OA_ERANGE);
    assert_int_equal(oa_lc_window_check(&w, 1, now, now, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8032_vector),
        cmocka_unit_test(test_keygen_sign_verify),
        cmocka_unit_test(test_hashes_and_hex),
        cmocka_unit_test(test_desc_round_trip),
        cmocka_unit_test(test_desc_bytes),
        cmocka_unit_test(test_desc_refused),
        cmocka_unit_test(test_desc_encode_refused),
        cmocka_unit_test(test_desc_mutations),
        cmocka_unit_test(test_chunk_sign_verify),
        cmocka_unit_test(test_chunk_signed_bytes),
        cmocka_unit_test(test_doc_examples),
        cmocka_unit_test(test_window),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

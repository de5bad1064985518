/* Unit tests of magnet link parsing and writing (plugins/swarm/magnet.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openace/sdk.h>
#include <stdlib.h>
#include <string.h>

#include "magnet.h"

static char err[512];

/* The hash every link below names, in three spellings. The base32 form was
 * computed independently:
 *   python3 -c "import base64; print(base64.b32encode(bytes.fromhex(
 *     'c12fe1c06bba254a9dc9f519b335aa7c1367a88a')).decode())" */
#define HEX_LOWER "c12fe1c06bba254a9dc9f519b335aa7c1367a88a"
#define HEX_UPPER "C12FE1C06BBA254A9DC9F519B335AA7C1367A88A"
#define BASE32 "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK"

static const uint8_t HASH[20] = {0xc1, 0x2f, 0xe1, 0xc0, 0x6b, 0xba, 0x25, 0x4a, 0x9d, 0xc9,
                                 0xf5, 0x19, 0xb3, 0x35, 0xaa, 0x7c, 0x13, 0x67, 0xa8, 0x8a};

static oa_magnet *parse_ok(const char *link)
{
    oa_magnet *m = NULL;
    int rc = oa_magnet_parse(link, &m, err, sizeof(err));

    if (rc != 0) {
        fail_msg("parse(%s) = %d: %s", link, rc, err);
    }
    assert_non_null(m);
    return m;
}

static void parse_fail(const char *link, int code, const char *what)
{
    oa_magnet *m = (oa_magnet *)&m;
    int rc = oa_magnet_parse(link, &m, err, sizeof(err));

    if (rc != code) {
        fail_msg("parse(%s) = %d, want %d (%s)", link, rc, code, err);
    }
    assert_null(m);
    if (strstr(err, what) == NULL) {
        fail_msg("parse(%s): error \"%s\" does not mention \"%s\"", link, err, what);
    }
}

static void test_full_link(void **state)
{
    oa_magnet *m;

    (void)state;
    m = parse_ok("magnet:?xt=urn:btih:" HEX_LOWER "&dn=Big+Buck%20Bunny%E2%9C%93"
                 "&tr=udp%3A%2F%2Ftracker.example%3A6969%2Fannounce"
                 "&tr=http://t2.example/announce?key=a+b"
                 "&tr=udp%3a%2f%2ftracker.example%3a6969%2fannounce"
                 "&x.pe=10.0.0.1:6881&x.pe=[2001:db8::1]:51413&x.pe=peer.example:1"
                 "&unknown=whatever&ws=http://ignored/");
    assert_memory_equal(m->info_hash, HASH, 20);
    /* '+' is a space in dn only; escapes decode to UTF-8 bytes. */
    assert_string_equal(m->name, "Big Buck Bunny\xe2\x9c\x93");
    /* Trackers decoded, in order, the repeated one dropped. */
    assert_int_equal(m->tracker_count, 2);
    assert_string_equal(m->trackers[0], "udp://tracker.example:6969/announce");
    assert_string_equal(m->trackers[1], "http://t2.example/announce?key=a+b");
    assert_int_equal(m->peer_count, 3);
    assert_string_equal(m->peers[0].host, "10.0.0.1");
    assert_int_equal(m->peers[0].port, 6881);
    assert_string_equal(m->peers[1].host, "2001:db8::1");
    assert_int_equal(m->peers[1].port, 51413);
    assert_string_equal(m->peers[2].host, "peer.example");
    assert_int_equal(m->peers[2].port, 1);
    oa_magnet_free(m);
}

static void test_hash_spellings(void **state)
{
    static const char *const links[] = {
        "magnet:?xt=urn:btih:" HEX_LOWER,
        "magnet:?xt=urn:btih:" HEX_UPPER,
        "MAGNET:?XT=URN:BTIH:" HEX_UPPER,
        "magnet:?xt=urn:btih:" BASE32,
        "magnet:?xt=urn:btih:yex6dqdlxisuvhoj6um3gnnkpqjwpkek",
        "magnet:?dn=x&xt.1=urn:btih:" HEX_LOWER,
        /* values are percent-decoded before they are read */
        "magnet:?xt=urn%3Abtih%3Ac12fe1c06bba254a9dc9f519b335aa7c1367a8%38a",
        /* a hybrid link: the v1 hash is used, the v2 one ignored */
        "magnet:?xt=urn:btih:" HEX_LOWER "&xt=urn:btmh:1220"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        /* the same hash twice, in two spellings */
        "magnet:?xt=urn:btih:" HEX_LOWER "&xt=urn:btih:" BASE32,
        HEX_LOWER,
        HEX_UPPER,
        "  " HEX_LOWER "\n",
        " magnet:?xt=urn:btih:" HEX_LOWER "\r\n",
    };
    size_t k;

    (void)state;
    for (k = 0; k < sizeof(links) / sizeof(links[0]); k++) {
        oa_magnet *m = parse_ok(links[k]);

        assert_memory_equal(m->info_hash, HASH, 20);
        oa_magnet_free(m);
    }
}

static void test_rejected(void **state)
{
    (void)state;
    /* Other kinds of content names, with a reason. */
    parse_fail("magnet:?xt=urn:btmh:12200123456789abcdef0123456789abcdef0123456789abcdef0123"
               "456789abcdef",
               OA_ENOSYS, "BitTorrent v2");
    parse_fail("magnet:?xt=urn:sha1:YNCKHTQCWBTRNJIV4WNAE52SJUQCZO5C", OA_ENOSYS, "urn:sha1");
    parse_fail("magnet:?xt=urn:ed2k:31D6CFE0D16AE931B73C59D7E0C089C0", OA_ENOSYS, "urn:ed2k");
    parse_fail("magnet:?dn=nothing&tr=http://t/", OA_EPROTO, "no xt=urn:btih:");
    parse_fail("magnet:?", OA_EPROTO, "no xt=urn:btih:");
    /* Bad hashes. */
    parse_fail("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88", OA_EPROTO,
               "not an info-hash");
    parse_fail("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88g", OA_EPROTO,
               "not an info-hash");
    parse_fail("magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKE1", OA_EPROTO,
               "not an info-hash");
    parse_fail("magnet:?xt=urn:btih:", OA_EPROTO, "not an info-hash");
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&xt=urn:btih:"
               "0000000000000000000000000000000000000000",
               OA_EPROTO, "two different");
    /* Bad escapes. */
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&dn=a%zzb", OA_EPROTO, "%-escape");
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&dn=a%4", OA_EPROTO, "%-escape");
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&dn=a%", OA_EPROTO, "%-escape");
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&tr=a%00b", OA_EPROTO, "NUL");
    /* Bad peers. */
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&x.pe=10.0.0.1", OA_EPROTO, "no port");
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&x.pe=10.0.0.1:0", OA_EPROTO, "outside");
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&x.pe=10.0.0.1:65536", OA_EPROTO, "outside");
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&x.pe=10.0.0.1:", OA_EPROTO, "bad port");
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&x.pe=10.0.0.1:12a", OA_EPROTO, "bad port");
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&x.pe=2001:db8::1:80", OA_EPROTO, "brackets");
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&x.pe=[2001:db8::1]", OA_EPROTO, "]:port");
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&x.pe=[2001:db8::1", OA_EPROTO, "]:port");
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&x.pe=:80", OA_EPROTO, "no host");
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&x.pe=[]:80", OA_EPROTO, "no host");
    parse_fail("magnet:?xt=urn:btih:" HEX_LOWER "&x.pe=a%2Fb:80", OA_EPROTO, "bad host");
    /* Not a link at all. */
    parse_fail("http://example.com/a.torrent", OA_EPROTO, "magnet:?");
    parse_fail("magnet:xt=urn:btih:" HEX_LOWER, OA_EPROTO, "magnet:?");
    parse_fail(HEX_LOWER "0", OA_EPROTO, "magnet:?");
    parse_fail("", OA_EPROTO, "magnet:?");
    {
        oa_magnet *m = NULL;

        assert_int_equal(oa_magnet_parse(NULL, &m, err, sizeof(err)), OA_EINVAL);
        assert_int_equal(oa_magnet_parse(HEX_LOWER, NULL, NULL, 0), OA_EINVAL);
    }
}

static void test_make_round_trip(void **state)
{
    static const char *const trackers[] = {"udp://tracker.example:6969/announce",
                                           "http://t.example/a?x=1&y=2 3"};
    char *link = NULL;
    oa_magnet *m;

    (void)state;
    assert_int_equal(oa_magnet_make(HASH, "Night & Day +100% \xc3\xa9t\xc3\xa9", trackers, 2,
                                    &link),
                     0);
    assert_string_equal(link, "magnet:?xt=urn:btih:" HEX_LOWER
                              "&dn=Night%20%26%20Day%20%2B100%25%20%C3%A9t%C3%A9"
                              "&tr=udp%3A%2F%2Ftracker.example%3A6969%2Fannounce"
                              "&tr=http%3A%2F%2Ft.example%2Fa%3Fx%3D1%26y%3D2%203");
    m = parse_ok(link);
    assert_memory_equal(m->info_hash, HASH, 20);
    assert_string_equal(m->name, "Night & Day +100% \xc3\xa9t\xc3\xa9");
    assert_int_equal(m->tracker_count, 2);
    assert_string_equal(m->trackers[0], trackers[0]);
    assert_string_equal(m->trackers[1], trackers[1]);
    oa_magnet_free(m);
    free(link);

    assert_int_equal(oa_magnet_make(HASH, NULL, NULL, 0, &link), 0);
    assert_string_equal(link, "magnet:?xt=urn:btih:" HEX_LOWER);
    free(link);
    assert_int_equal(oa_magnet_make(HASH, NULL, NULL, 1, &link), OA_EINVAL);
    assert_null(link);
}

static void test_hex_helpers(void **state)
{
    uint8_t h[20];
    char hex[41];

    (void)state;
    assert_int_equal(oa_infohash_from_hex(HEX_UPPER, h), 0);
    assert_memory_equal(h, HASH, 20);
    oa_infohash_to_hex(h, hex);
    assert_string_equal(hex, HEX_LOWER);
    assert_int_equal(oa_infohash_from_hex("c12fe1c06bba254a9dc9f519b335aa7c1367a8", h), OA_EPROTO);
    assert_int_equal(oa_infohash_from_hex("x12fe1c06bba254a9dc9f519b335aa7c1367a88a", h), OA_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_link),
        cmocka_unit_test(test_hash_spellings),
        cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_make_round_trip),
        cmocka_unit_test(test_hex_helpers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The BEP 10 extension handshake (plugins/swarm/extension.h): ours against
 * bytes written out by hand from BEP 10 and BEP 9, theirs from the shapes
 * other clients send (libtorrent, Transmission, uTorrent; bytes written
 * here from the BEPs, not captured), the additive "m" of a second
 * handshake, malformed and oversized input with its sentence, the client
 * name sanitizer, dispatch of incoming ids, and a deterministic mutation
 * fuzz loop meant to run under AddressSanitizer. Inputs are exact-size
 * heap copies, so a read past the end is an ASan error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "extension.h"
#include "testutil.h"

#define FUZZ_ITERATIONS 200000

/* ---- helpers ------------------------------------------------------------ */

/* Parses an exact-size heap copy of n bytes. */
static int parse_copy(const void *bytes, size_t n, oa_ext_handshake *hs, char *err, size_t errlen)
{
    uint8_t *copy = oa_test_exact_copy(bytes, n);
    int rc;

    assert_non_null(copy);
    rc = oa_ext_handshake_parse(n > 0 ? copy : NULL, n, hs, err, errlen);
    free(copy);
    return rc;
}

#define PARSE_LIT(lit, hs, err) parse_copy(lit, sizeof(lit) - 1, hs, err, sizeof(err))

/* ---- real-looking handshakes of other clients --------------------------- */

/* libtorrent 2 (qBittorrent): ut_pex 1, ut_metadata 2, and extensions we
 * do not take; complete_ago and upload_only are unknown keys to us. */
static const char hs_libtorrent[] =
    "d12:complete_agoi-1e"
    "1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e"
    "11:ut_metadatai2e6:ut_pexi1ee"
    "13:metadata_sizei31235e1:pi51413e4:reqqi500e11:upload_onlyi0e"
    "1:v17:qBittorrent/4.5.2"
    "6:yourip4:\xc0\xa8\x01\x02"
    "e";

/* Transmission 4: ut_pex 1, ut_metadata 3, "e" (encryption), its IPv6
 * address, reqq 512. */
static const char hs_transmission[] =
    "d1:ei0e"
    "4:ipv616:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
    "1:md12:ut_holepunchi4e11:ut_metadatai3e6:ut_pexi1ee"
    "13:metadata_sizei5678e1:pi51413e4:reqqi512e11:upload_onlyi1e"
    "1:v18:Transmission 4.0.5"
    "6:yourip16:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
    "e";

/* uTorrent 3.5: its name in UTF-8 (U+00B5 MICRO SIGN), ipv4, ut_comment. */
static const char hs_utorrent[] =
    "d12:complete_agoi1e1:ei0e4:ipv44:\x0a\x00\x00\x05"
    "1:md11:upload_onlyi3e10:ut_commenti6e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee"
    "13:metadata_sizei17000e1:pi22222e4:reqqi255e"
    "1:v15:\xc2\xb5Torrent 3.5.5"
    "6:yourip4:\x7f\x00\x00\x01"
    "e";

/* A peer without metadata (a magnet download like ours): no metadata_size. */
static const char hs_magnet_peer[] = "d1:md11:ut_metadatai3e6:ut_pexi4ee1:v7:aria2/1e";

static void test_other_clients(void **state)
{
    static const uint8_t ip_lt[4] = {192, 168, 1, 2};
    oa_ext_handshake hs;
    oa_ext_peer peer;
    char err[200];

    (void)state;
    assert_int_equal(PARSE_LIT(hs_libtorrent, &hs, err), 0);
    assert_string_equal(err, "");
    assert_int_equal(hs.ids[OA_EXT_UT_METADATA], 2);
    assert_int_equal(hs.ids[OA_EXT_UT_PEX], 1);
    assert_int_equal(hs.m_present, OA_EXT_BIT(OA_EXT_UT_METADATA) | OA_EXT_BIT(OA_EXT_UT_PEX));
    assert_int_equal(hs.ids[OA_EXT_OA_LIVE], 0);
    assert_int_equal(hs.metadata_size, 31235);
    assert_int_equal(hs.port, 51413);
    assert_int_equal(hs.reqq, 500);
    assert_string_equal(hs.client, "qBittorrent/4.5.2");
    assert_int_equal(hs.yourip_len, 4);
    assert_memory_equal(hs.yourip, ip_lt, 4);
    assert_int_equal(hs.present, OA_EXT_HAS_M | OA_EXT_HAS_PORT | OA_EXT_HAS_CLIENT |
                                     OA_EXT_HAS_REQQ | OA_EXT_HAS_METADATA_SIZE |
                                     OA_EXT_HAS_YOURIP);

    assert_int_equal(PARSE_LIT(hs_transmission, &hs, err), 0);
    assert_int_equal(hs.ids[OA_EXT_UT_METADATA], 3);
    assert_int_equal(hs.ids[OA_EXT_UT_PEX], 1);
    assert_int_equal(hs.metadata_size, 5678);
    assert_int_equal(hs.reqq, 512);
    assert_string_equal(hs.client, "Transmission 4.0.5");
    assert_int_equal(hs.yourip_len, 16);
    assert_int_equal(hs.yourip[15], 2);
    assert_true((hs.present & OA_EXT_HAS_IPV6) != 0);
    assert_int_equal(hs.ipv6[0], 0x20);
    assert_int_equal(hs.ipv6[15], 1);

    assert_int_equal(PARSE_LIT(hs_utorrent, &hs, err), 0);
    assert_string_equal(hs.client, "\xc2\xb5Torrent 3.5.5"); /* valid UTF-8 is kept */
    assert_int_equal(hs.ids[OA_EXT_UT_METADATA], 2);
    assert_int_equal(hs.metadata_size, 17000);
    assert_int_equal(hs.reqq, 255);
    assert_true((hs.present & OA_EXT_HAS_IPV4) != 0);
    assert_int_equal(hs.ipv4[0], 10);
    assert_int_equal(hs.ipv4[3], 5);

    assert_int_equal(PARSE_LIT(hs_magnet_peer, &hs, err), 0);
    assert_int_equal(hs.present & OA_EXT_HAS_METADATA_SIZE, 0);
    assert_int_equal(hs.metadata_size, 0);

    /* Into a per-peer table: ids to send under, by kind and by name. */
    oa_ext_peer_init(&peer);
    assert_int_equal(peer.reqq, OA_EXT_DEFAULT_REQQ);
    assert_int_equal(oa_ext_peer_id(&peer, OA_EXT_UT_METADATA), 0);
    assert_int_equal(oa_ext_peer_receive(&peer, (const uint8_t *)hs_transmission,
                                         sizeof(hs_transmission) - 1, err, sizeof(err)),
                     0);
    assert_int_equal(peer.handshakes, 1);
    assert_int_equal(oa_ext_peer_id(&peer, OA_EXT_UT_METADATA), 3);
    assert_int_equal(oa_ext_peer_id(&peer, OA_EXT_UT_PEX), 1);
    assert_int_equal(oa_ext_peer_id(&peer, OA_EXT_OA_LIVE), 0);
    assert_int_equal(oa_ext_peer_id(&peer, OA_EXT_HANDSHAKE), 0);
    assert_int_equal(oa_ext_peer_id(&peer, OA_EXT_UNKNOWN), 0);
    assert_int_equal(oa_ext_peer_id_by_name(&peer, "ut_metadata", 11), 3);
    assert_int_equal(oa_ext_peer_id_by_name(&peer, "ut_holepunch", 12), 0);
    assert_int_equal(peer.metadata_size, 5678);
    assert_int_equal(peer.port, 51413);
    assert_string_equal(peer.client, "Transmission 4.0.5");
}

/* BEP 10: "m" of a later handshake is additive; 0 disables. */
static void test_additive_m(void **state)
{
    static const char first[] =
        "d1:md7:oa_livei9e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei100e1:v3:abce";
    static const char second[] = "d1:md6:ut_pexi0e11:ut_metadatai7ee1:pi7000ee";
    oa_ext_peer peer;
    char err[200];

    (void)state;
    oa_ext_peer_init(&peer);
    assert_int_equal(oa_ext_peer_receive(&peer, (const uint8_t *)first, sizeof(first) - 1, err,
                                         sizeof(err)),
                     0);
    assert_int_equal(oa_ext_peer_id(&peer, OA_EXT_OA_LIVE), 9);
    /* The second handshake is unsorted: accepted, as the decoder is lenient. */
    assert_int_equal(oa_ext_peer_receive(&peer, (const uint8_t *)second, sizeof(second) - 1, err,
                                         sizeof(err)),
                     0);
    assert_int_equal(peer.handshakes, 2);
    assert_int_equal(oa_ext_peer_id(&peer, OA_EXT_UT_PEX), 0);      /* disabled */
    assert_int_equal(oa_ext_peer_id(&peer, OA_EXT_UT_METADATA), 7); /* moved */
    assert_int_equal(oa_ext_peer_id(&peer, OA_EXT_OA_LIVE), 9);     /* left alone */
    assert_int_equal(peer.metadata_size, 100);                       /* not repeated: kept */
    assert_int_equal(peer.port, 7000);
    assert_string_equal(peer.client, "abc");

    /* A failed handshake leaves the table as it was. */
    assert_int_equal(oa_ext_peer_receive(&peer, (const uint8_t *)"d1:md6:ut_pexi5eee", 19, err,
                                         sizeof(err)),
                     OA_EPROTO);
    assert_int_equal(oa_ext_peer_id(&peer, OA_EXT_UT_PEX), 0);
    assert_int_equal(peer.handshakes, 2);
}

/* ---- ours --------------------------------------------------------------- */

static void expect_build(const oa_ext_local *local, const char *want, size_t want_len)
{
    uint8_t *out = NULL;
    size_t len = 0;

    assert_int_equal(oa_ext_handshake_build(local, &out, &len), 0);
    assert_int_equal(len, want_len);
    assert_memory_equal(out, want, want_len);
    free(out);
}

static void test_build_bytes(void **state)
{
    static const char full[] = "d1:md11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei31235e"
                               "1:pi6881e4:reqqi250e1:v11:OpenAce 0.16:yourip4:\x7f\x00\x00\x01"
                               "e";
    static const char bare[] = "d1:md11:ut_metadatai1e6:ut_pexi2ee4:reqqi250e1:v11:OpenAce 0.1e";
    static const char live_private[] =
        "d1:md7:oa_livei3e11:ut_metadatai1ee1:v6:Test/2e";
    static const char none[] = "d1:mde1:v11:OpenAce 0.1e";
    oa_ext_local l;

    (void)state;
    oa_ext_local_init(&l);
    expect_build(&l, bare, sizeof(bare) - 1);
    l.port = 6881;
    l.metadata_size = 31235;
    l.yourip[0] = 127;
    l.yourip[3] = 1;
    l.yourip_len = 4;
    expect_build(&l, full, sizeof(full) - 1);

    /* A private torrent: no ut_pex (BEP 27); oa_live turned on. */
    oa_ext_local_init(&l);
    l.enabled = OA_EXT_BIT(OA_EXT_UT_METADATA) | OA_EXT_BIT(OA_EXT_OA_LIVE);
    l.reqq = 0;
    l.client = "Test/2";
    expect_build(&l, live_private, sizeof(live_private) - 1);

    oa_ext_local_init(&l);
    l.enabled = 0;
    l.reqq = 0;
    expect_build(&l, none, sizeof(none) - 1);
}

static void test_build_errors(void **state)
{
    oa_ext_local l;
    uint8_t *out = (uint8_t *)&l;
    size_t len;

    (void)state;
    oa_ext_local_init(&l);
    l.yourip_len = 6;
    assert_int_equal(oa_ext_handshake_build(&l, &out, &len), OA_EINVAL);
    assert_null(out);
    oa_ext_local_init(&l);
    l.metadata_size = OA_EXT_MAX_METADATA_SIZE + 1;
    assert_int_equal(oa_ext_handshake_build(&l, &out, &len), OA_EINVAL);
    oa_ext_local_init(&l);
    l.enabled |= OA_EXT_BIT(OA_EXT_UNKNOWN);
    assert_int_equal(oa_ext_handshake_build(&l, &out, &len), OA_EINVAL);
    l.enabled = OA_EXT_BIT(OA_EXT_HANDSHAKE);
    assert_int_equal(oa_ext_handshake_build(&l, &out, &len), OA_EINVAL);
    assert_int_equal(oa_ext_handshake_build(NULL, &out, &len), OA_EINVAL);
    assert_int_equal(oa_ext_handshake_build(&l, NULL, &len), OA_EINVAL);
}

static void test_round_trip(void **state)
{
    oa_ext_local l;
    oa_ext_handshake hs;
    uint8_t *out = NULL;
    size_t len = 0;
    char err[200];
    size_t i;

    (void)state;
    oa_ext_local_init(&l);
    l.enabled |= OA_EXT_BIT(OA_EXT_OA_LIVE);
    l.port = 65535;
    l.reqq = OA_EXT_MAX_REQQ;
    l.metadata_size = OA_EXT_MAX_METADATA_SIZE;
    l.client = "OpenAce 0.1 (test)";
    for (i = 0; i < 16; i++) {
        l.yourip[i] = (uint8_t)(0xF0 + i);
    }
    l.yourip_len = 16;
    assert_int_equal(oa_ext_handshake_build(&l, &out, &len), 0);
    assert_int_equal(parse_copy(out, len, &hs, err, sizeof(err)), 0);
    free(out);
    for (i = OA_EXT_UT_METADATA; i < OA_EXT_SLOTS; i++) {
        assert_int_equal(hs.ids[i], i); /* our ids are the kinds */
    }
    assert_int_equal(hs.port, 65535);
    assert_int_equal(hs.reqq, OA_EXT_MAX_REQQ);
    assert_int_equal(hs.metadata_size, OA_EXT_MAX_METADATA_SIZE);
    assert_string_equal(hs.client, "OpenAce 0.1 (test)");
    assert_int_equal(hs.yourip_len, 16);
    assert_memory_equal(hs.yourip, l.yourip, 16);
}

/* ---- malformed, oversized and odd input --------------------------------- */

static void expect_fail(const char *bytes, size_t n, int code, const char *sentence)
{
    oa_ext_handshake hs;
    char err[200];

    memset(&hs, 0xAB, sizeof(hs));
    assert_int_equal(parse_copy(bytes, n, &hs, err, sizeof(err)), code);
    if (strstr(err, sentence) == NULL) {
        fail_msg("error \"%s\" does not contain \"%s\"", err, sentence);
    }
    assert_int_equal(hs.present, 0);
    assert_int_equal(hs.metadata_size, 0);
}

#define FAIL_LIT(lit, code, sentence) expect_fail(lit, sizeof(lit) - 1, code, sentence)

static void test_malformed(void **state)
{
    char *big;
    char *deep;
    size_t i;

    (void)state;
    FAIL_LIT("", OA_EPROTO, "extension handshake: bencode: empty input");
    FAIL_LIT("le", OA_EPROTO, "extension handshake: the payload is not a dictionary");
    FAIL_LIT("i5e", OA_EPROTO, "not a dictionary");
    FAIL_LIT("d1:md11:ut_metadatai1e", OA_EPROTO, "extension handshake: bencode:");
    FAIL_LIT("d1:v3:abce\x00", OA_EPROTO, "trailing data");
    FAIL_LIT("d1:pi06ee", OA_EPROTO, "leading zero");
    FAIL_LIT("d13:metadata_sizei16777217ee", OA_ERANGE,
             "metadata_size 16777217 is outside 1..16777216 bytes");
    FAIL_LIT("d13:metadata_sizei-5ee", OA_ERANGE, "metadata_size -5 is outside");
    FAIL_LIT("d13:metadata_sizei0ee", OA_ERANGE, "metadata_size 0 is outside");
    FAIL_LIT("d13:metadata_sizei99999999999999999999ee", OA_ERANGE, "bencode:");

    /* Over the size we parse at all. */
    big = malloc(OA_EXT_MAX_HANDSHAKE + 8);
    assert_non_null(big);
    memcpy(big, "d1:v16378:", 10);
    memset(big + 10, 'x', 16378);
    big[16388] = 'e';
    expect_fail(big, 16389, OA_ERANGE, "16389 bytes, more than the 16384 we accept");
    free(big);

    /* Nested deeper than a handshake ever is. */
    deep = malloc(64);
    assert_non_null(deep);
    memcpy(deep, "d1:x", 4);
    for (i = 0; i < 20; i++) {
        deep[4 + i] = 'l';
    }
    for (i = 0; i < 21; i++) {
        deep[24 + i] = 'e';
    }
    expect_fail(deep, 45, OA_ERANGE, "extension handshake: bencode:");
    free(deep);
}

/* Known keys with the wrong type or range are ignored, not fatal. */
static void test_odd_values_ignored(void **state)
{
    static const char odd[] = "d1:m"
                              "d6:ut_pexi300e11:ut_metadata1:15:zzzzzi3ee"
                              "1:p4:68814:reqqi-1e1:vi5e6:yourip3:abce";
    static const char ranges[] = "d1:md6:ut_pexi-1ee1:pi70000e4:reqqi99999999e6:yourip5:abcdee";
    static const char m_not_dict[] = "d1:mi1e1:pi0ee";
    static const char dup[] = "d1:md6:ut_pexi5e6:ut_pexi6eee";
    oa_ext_handshake hs;
    char err[200];

    (void)state;
    assert_int_equal(PARSE_LIT(odd, &hs, err), 0);
    assert_int_equal(hs.present, OA_EXT_HAS_M);
    assert_int_equal(hs.m_present, 0);
    assert_int_equal(hs.ids[OA_EXT_UT_PEX], 0);

    assert_int_equal(PARSE_LIT(ranges, &hs, err), 0);
    assert_int_equal(hs.m_present, 0);
    assert_int_equal(hs.present & OA_EXT_HAS_PORT, 0);
    assert_int_equal(hs.reqq, OA_EXT_MAX_REQQ); /* clamped */
    assert_int_equal(hs.present & OA_EXT_HAS_YOURIP, 0);

    assert_int_equal(PARSE_LIT(m_not_dict, &hs, err), 0);
    assert_int_equal(hs.present, 0);

    /* A repeated name: the first one counts, as in the lenient decoder. */
    assert_int_equal(PARSE_LIT(dup, &hs, err), 0);
    assert_int_equal(hs.ids[OA_EXT_UT_PEX], 5);
}

/* ---- names, dispatch, sanitizer ------------------------------------------ */

static void test_names_and_dispatch(void **state)
{
    oa_ext_local l;

    (void)state;
    assert_string_equal(oa_ext_kind_name(OA_EXT_UT_METADATA), "ut_metadata");
    assert_string_equal(oa_ext_kind_name(OA_EXT_UT_PEX), "ut_pex");
    assert_string_equal(oa_ext_kind_name(OA_EXT_OA_LIVE), "oa_live");
    assert_string_equal(oa_ext_kind_name(OA_EXT_HANDSHAKE), "handshake");
    assert_string_equal(oa_ext_kind_name(OA_EXT_UNKNOWN), "unknown");
    assert_int_equal(oa_ext_kind_from_name("ut_pex", 6), OA_EXT_UT_PEX);
    assert_int_equal(oa_ext_kind_from_name("ut_pe", 5), OA_EXT_UNKNOWN);
    assert_int_equal(oa_ext_kind_from_name("ut_pexx", 7), OA_EXT_UNKNOWN);
    assert_int_equal(oa_ext_kind_from_name("handshake", 9), OA_EXT_UNKNOWN);
    assert_int_equal(oa_ext_kind_from_name(NULL, 0), OA_EXT_UNKNOWN);

    /* Incoming ids are ours: defaults take 1 and 2, not 3 until enabled. */
    assert_int_equal(oa_ext_dispatch(NULL, 0), OA_EXT_HANDSHAKE);
    assert_int_equal(oa_ext_dispatch(NULL, 1), OA_EXT_UT_METADATA);
    assert_int_equal(oa_ext_dispatch(NULL, 2), OA_EXT_UT_PEX);
    assert_int_equal(oa_ext_dispatch(NULL, 3), OA_EXT_UNKNOWN);
    assert_int_equal(oa_ext_dispatch(NULL, 255), OA_EXT_UNKNOWN);
    oa_ext_local_init(&l);
    l.enabled = OA_EXT_BIT(OA_EXT_UT_METADATA) | OA_EXT_BIT(OA_EXT_OA_LIVE);
    assert_int_equal(oa_ext_dispatch(&l, 2), OA_EXT_UNKNOWN); /* pex off: private */
    assert_int_equal(oa_ext_dispatch(&l, 3), OA_EXT_OA_LIVE);
    assert_int_equal(oa_ext_dispatch(&l, 4), OA_EXT_UNKNOWN);
}

static void expect_clean(const char *in, size_t n, size_t cap, const char *want)
{
    char out[80];

    assert_true(cap <= sizeof(out));
    assert_int_equal(oa_ext_sanitize_client((const uint8_t *)in, n, out, cap), strlen(want));
    assert_string_equal(out, want);
}

static void test_sanitize(void **state)
{
    char out[4];

    (void)state;
    expect_clean("abc", 3, 64, "abc");
    expect_clean("a\nb\tc\x1b[0m\x7f", 10, 64, "a?b?c?[0m?");
    expect_clean("a\0b", 3, 64, "a?b");
    /* Invalid UTF-8: a lone continuation, an overlong '/', a surrogate, a
     * truncated sequence, a code point past U+10FFFF. */
    expect_clean("\x80x", 2, 64, "?x");
    expect_clean("\xc0\xafx", 3, 64, "??x");
    expect_clean("\xed\xa0\x80x", 4, 64, "???x");
    expect_clean("x\xe2\x82", 3, 64, "x??");
    expect_clean("\xf4\x90\x80\x80", 4, 64, "????");
    /* C1 controls and text-reordering marks become one '?' each. */
    expect_clean("a\xc2\x85" "b", 4, 64, "a?b");
    expect_clean("evil\xe2\x80\xae" "gpj.exe", 14, 64, "evil?gpj.exe");
    expect_clean("\xef\xbb\xbfok", 5, 64, "?ok");
    /* Kept: Latin, CJK, emoji. */
    expect_clean("\xc2\xb5T \xe4\xb8\xad \xf0\x9f\x98\x80", 12, 64,
                 "\xc2\xb5T \xe4\xb8\xad \xf0\x9f\x98\x80");
    /* Cut to fit, never inside a character. */
    expect_clean("abcdef", 6, 4, "abc");
    expect_clean("ab\xc2\xb5", 4, 4, "ab");
    expect_clean("a\xf0\x9f\x98\x80", 5, 5, "a");
    expect_clean("abc", 3, 1, "");
    assert_int_equal(oa_ext_sanitize_client(NULL, 5, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(oa_ext_sanitize_client((const uint8_t *)"x", 1, NULL, 4), 0);
}

/* ---- fuzz ----------------------------------------------------------------- */

static void mutate(uint8_t *s, size_t *n, size_t cap)
{
    static const char *const tokens[] = {"i0e", "i-1e", "de", "le", "13:metadata_size",
                                         "1:m", "i16777217e", "4:reqq", "1:v", "e"};
    size_t ops = 1 + oa_test_rng_below(2);
    size_t i;
    size_t k;
    size_t at;

    for (i = 0; i < ops && *n > 0; i++) {
        at = oa_test_rng_below(*n);
        switch (oa_test_rng_below(7)) {
        case 0:
            s[at] = (uint8_t)oa_test_rng();
            break;
        case 1:
            s[at] ^= (uint8_t)(1u << oa_test_rng_below(8));
            break;
        case 2:
            *n = at;
            break;
        case 3: /* a digit one off: lengths and integers near their edges */
            s[at] = (uint8_t)(s[at] + (oa_test_rng_below(2) ? 1 : 0xff));
            break;
        case 4:
            k = 1 + oa_test_rng_below(8);
            k = k < *n - at ? k : *n - at;
            memmove(s + at, s + at + k, *n - at - k);
            *n -= k;
            break;
        case 5: { /* a bencode token where it may or may not fit */
            const char *t = tokens[oa_test_rng_below(sizeof(tokens) / sizeof(tokens[0]))];

            k = strlen(t);
            if (*n + k <= cap) {
                memmove(s + at + k, s + at, *n - at);
                memcpy(s + at, t, k);
                *n += k;
            }
            break;
        }
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

/* Checks what must hold of any accepted handshake. */
static void check_accepted(const oa_ext_handshake *hs)
{
    char again[OA_EXT_CLIENT_MAX];
    size_t n = strnlen(hs->client, sizeof(hs->client));
    oa_ext_local l;
    oa_ext_handshake back;
    uint8_t *out = NULL;
    size_t len = 0;
    char err[200];

    assert_true(n < sizeof(hs->client));
    /* Sanitized text is a fixed point: nothing in it is unprintable. */
    oa_ext_sanitize_client((const uint8_t *)hs->client, n, again, sizeof(again));
    assert_string_equal(again, hs->client);
    if ((hs->present & OA_EXT_HAS_METADATA_SIZE) != 0) {
        assert_true(hs->metadata_size >= 1 && hs->metadata_size <= OA_EXT_MAX_METADATA_SIZE);
    } else {
        assert_int_equal(hs->metadata_size, 0);
    }
    if ((hs->present & OA_EXT_HAS_REQQ) != 0) {
        assert_true(hs->reqq >= 1 && hs->reqq <= OA_EXT_MAX_REQQ);
    }
    if ((hs->present & OA_EXT_HAS_PORT) != 0) {
        assert_true(hs->port >= 1);
    }
    if ((hs->present & OA_EXT_HAS_YOURIP) != 0) {
        assert_true(hs->yourip_len == 4 || hs->yourip_len == 16);
    }
    /* What we read, we can say back the same way. */
    oa_ext_local_init(&l);
    l.port = hs->port;
    l.reqq = hs->reqq;
    l.metadata_size = hs->metadata_size;
    l.client = hs->client;
    memcpy(l.yourip, hs->yourip, sizeof(l.yourip));
    l.yourip_len = hs->yourip_len;
    assert_int_equal(oa_ext_handshake_build(&l, &out, &len), 0);
    assert_int_equal(parse_copy(out, len, &back, err, sizeof(err)), 0);
    free(out);
    assert_int_equal(back.port, hs->port);
    assert_int_equal(back.reqq, hs->reqq);
    assert_int_equal(back.metadata_size, hs->metadata_size);
    assert_string_equal(back.client, hs->client);
    assert_int_equal(back.yourip_len, hs->yourip_len);
}

static void test_fuzz_mutations(void **state)
{
    static const struct {
        const char *p;
        size_t n;
    } seeds[] = {
        {hs_libtorrent, sizeof(hs_libtorrent) - 1},
        {hs_transmission, sizeof(hs_transmission) - 1},
        {hs_utorrent, sizeof(hs_utorrent) - 1},
        {hs_magnet_peer, sizeof(hs_magnet_peer) - 1},
    };
    uint8_t buf[512];
    oa_ext_handshake hs;
    oa_ext_peer peer;
    char err[200];
    size_t accepted = 0;
    size_t ranged = 0;
    size_t it;

    (void)state;
    oa_test_rng_seed(0xE10E10E10ULL);
    oa_ext_peer_init(&peer);
    for (it = 0; it < FUZZ_ITERATIONS; it++) {
        size_t which = oa_test_rng_below(sizeof(seeds) / sizeof(seeds[0]));
        size_t n = seeds[which].n;
        int rc;

        memcpy(buf, seeds[which].p, n);
        mutate(buf, &n, sizeof(buf));
        rc = parse_copy(buf, n, &hs, err, sizeof(err));
        if (rc == 0) {
            accepted++;
            check_accepted(&hs);
            oa_ext_peer_apply(&peer, &hs);
            continue;
        }
        assert_true(rc == OA_EPROTO || rc == OA_ERANGE);
        assert_true(strncmp(err, "extension handshake: ", 21) == 0);
        assert_int_equal(hs.present, 0);
        ranged += rc == OA_ERANGE;
    }
    /* Both outcomes, or the loop tested nothing. */
    assert_true(accepted > FUZZ_ITERATIONS / 10);
    assert_true(accepted < FUZZ_ITERATIONS - FUZZ_ITERATIONS / 10);
    assert_true(ranged > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_other_clients),
        cmocka_unit_test(test_additive_m),
        cmocka_unit_test(test_build_bytes),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_odd_values_ignored),
        cmocka_unit_test(test_names_and_dispatch),
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_fuzz_mutations),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

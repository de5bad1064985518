/* Unit tests of the tracker messages (plugins/swarm/tracker_proto.c):
 * announce URLs with binary info-hashes, scrape URL derivation (BEP 48),
 * and parsing of announce replies (compact, peers6, dictionary peers,
 * failure reasons, broken bencode, absurd intervals) and scrape replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openace/sdk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "tracker.h"

static char err[512];

/* Bytes chosen to hit every encoding rule: NUL, controls, high bytes, the
 * four unreserved punctuation marks, letters, digits and reserved ones.
 * The expected encodings were computed independently:
 *   python3 -c "from urllib.parse import quote; print(quote(bytes([...]), safe=''))" */
static const uint8_t HASH[20] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x25, 0x26, 0x2b, 0x2d,
                                 0x2e, 0x5f, 0x7e, 0x41, 0x7a, 0x30, 0x39, 0x2f, 0x3d, 0x3f};
#define HASH_ENC "%00%01%7F%80%FF%20%25%26%2B-._~Az09%2F%3D%3F"
static const uint8_t PEER_ID[20] = {'-',  'O',  'A',  '0',  '0',  '0',  '1',  '-',  0xde, 0xad,
                                    0xbe, 0xef, 0x0a, 0x0d, 0x00, 0x3a, 0x40, 0x5b, 0x5d, 0x23};
#define PEER_ID_ENC "-OA0001-%DE%AD%BE%EF%0A%0D%00%3A%40%5B%5D%23"

static oa_tracker_announce_args base_args(void)
{
    oa_tracker_announce_args a;

    memset(&a, 0, sizeof(a));
    memcpy(a.info_hash, HASH, 20);
    memcpy(a.peer_id, PEER_ID, 20);
    a.port = 6881;
    a.uploaded = 1;
    a.downloaded = 22;
    a.left = (uint64_t)1 << 50;
    a.event = OA_TRACKER_EVENT_STARTED;
    a.numwant = 50;
    a.has_key = 1;
    a.key = 0xDEADBEEFu;
    return a;
}

static void url_is(const char *announce, const oa_tracker_announce_args *a, const char *want)
{
    char *url = NULL;
    int rc = oa_tracker_announce_url(announce, a, &url);

    if (rc != 0) {
        fail_msg("announce_url(%s) = %d", announce, rc);
    }
    assert_string_equal(url, want);
    free(url);
}

static void test_announce_url_exact(void **state)
{
    oa_tracker_announce_args a = base_args();

    (void)state;
    url_is("http://tr.example:6969/announce", &a,
           "http://tr.example:6969/announce?info_hash=" HASH_ENC "&peer_id=" PEER_ID_ENC
           "&port=6881&uploaded=1&downloaded=22&left=1125899906842624&compact=1"
           "&event=started&numwant=50&key=DEADBEEF");

    /* A query is kept and continued, a fragment dropped; a regular
     * announce has no event; numwant can be left out; the tracker id is
     * sent back percent-encoded. */
    a.event = OA_TRACKER_EVENT_NONE;
    a.numwant = -1;
    a.trackerid = "a b/c&d";
    url_is("https://tr.example/x/announce.php?passkey=abc#frag", &a,
           "https://tr.example/x/announce.php?passkey=abc&info_hash=" HASH_ENC
           "&peer_id=" PEER_ID_ENC "&port=6881&uploaded=1&downloaded=22"
           "&left=1125899906842624&compact=1&key=DEADBEEF&trackerid=a%20b%2Fc%26d");

    a.trackerid = NULL;
    a.has_key = 0;
    a.event = OA_TRACKER_EVENT_STOPPED;
    a.numwant = 0;
    a.uploaded = UINT64_MAX;
    url_is("HTTP://tr.example/announce?", &a,
           "HTTP://tr.example/announce?info_hash=" HASH_ENC "&peer_id=" PEER_ID_ENC
           "&port=6881&uploaded=18446744073709551615&downloaded=22"
           "&left=1125899906842624&compact=1&event=stopped&numwant=0");

    a.event = OA_TRACKER_EVENT_COMPLETED;
    a.numwant = -1;
    a.uploaded = 0;
    a.left = 0;
    url_is("http://tr.example/announce?a=1&", &a,
           "http://tr.example/announce?a=1&info_hash=" HASH_ENC "&peer_id=" PEER_ID_ENC
           "&port=6881&uploaded=0&downloaded=22&left=0&compact=1&event=completed");
}

static void test_announce_url_refused(void **state)
{
    oa_tracker_announce_args a = base_args();
    char *url = (char *)"untouched";

    (void)state;
    assert_int_equal(oa_tracker_announce_url("udp://tr.example:1337/announce", &a, &url),
                     OA_ENOSYS);
    assert_null(url);
    assert_int_equal(oa_tracker_announce_url("http://", &a, &url), OA_EINVAL);
    assert_int_equal(oa_tracker_announce_url("http:///announce", &a, &url), OA_EINVAL);
    assert_int_equal(oa_tracker_announce_url("tr.example/announce", &a, &url), OA_EINVAL);
    assert_int_equal(oa_tracker_announce_url(NULL, &a, &url), OA_EINVAL);
    assert_int_equal(oa_tracker_announce_url("http://tr.example/", NULL, &url), OA_EINVAL);
    assert_int_equal(oa_tracker_url_check("https://tr.example"), 0);
    assert_int_equal(oa_tracker_url_check("wss://tr.example/announce"), OA_ENOSYS);
}

static void scrape_is(const char *announce, const char *want)
{
    char *url = NULL;
    int rc = oa_tracker_scrape_url(announce, NULL, 0, &url);

    if (want == NULL) {
        if (rc != OA_ENOSYS) {
            fail_msg("scrape_url(%s) = %d (%s), want OA_ENOSYS", announce, rc,
                     url != NULL ? url : "-");
        }
        assert_null(url);
        return;
    }
    if (rc != 0) {
        fail_msg("scrape_url(%s) = %d", announce, rc);
    }
    assert_string_equal(url, want);
    free(url);
}

static void test_scrape_url(void **state)
{
    static const uint8_t two[2][20] = {{0xab, 0x01}, {'x', 'y', 'z'}};
    char *url = NULL;

    (void)state;
    /* BEP 48's own examples. */
    scrape_is("http://example.com/announce", "http://example.com/scrape");
    scrape_is("http://example.com/x/announce", "http://example.com/x/scrape");
    scrape_is("http://example.com/announce.php", "http://example.com/scrape.php");
    scrape_is("http://example.com/a", NULL);
    scrape_is("http://example.com/announce?x2%0644", "http://example.com/scrape?x2%0644");
    scrape_is("http://example.com/announce?x=2/4", "http://example.com/scrape?x=2/4");
    scrape_is("http://example.com/x%064announce", NULL);
    /* Only the last path component counts, and only at its start. */
    scrape_is("http://example.com/announce/x", NULL);
    scrape_is("http://example.com/xannounce", NULL);
    scrape_is("http://example.com/announc", NULL);
    scrape_is("http://example.com/", NULL);
    scrape_is("http://example.com", NULL);
    scrape_is("http://example.com?announce", NULL);
    scrape_is("https://example.com:8443/announce#frag", "https://example.com:8443/scrape");
    scrape_is("udp://example.com/announce", NULL);

    assert_int_equal(oa_tracker_scrape_url("http://h/tr/announce?passkey=1", two, 2, &url), 0);
    assert_string_equal(url, "http://h/tr/scrape?passkey=1"
                             "&info_hash=%AB%01%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00"
                             "&info_hash=xyz%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00");
    free(url);
    assert_int_equal(oa_tracker_scrape_url("http://h/announce", two, 1, &url), 0);
    assert_string_equal(url, "http://h/scrape?info_hash=%AB%01%00%00%00%00%00%00%00%00%00%00"
                             "%00%00%00%00%00%00%00%00");
    free(url);
    assert_int_equal(oa_tracker_scrape_url("http://h/announce", NULL, 1, &url), OA_EINVAL);
}

/* ---- announce replies ------------------------------------------------------ */

/* Writes a reply with the writer, which checks key order. */
static uint8_t *finish(oa_benc_writer *w, size_t *len)
{
    uint8_t *out = NULL;

    assert_int_equal(oa_benc_writer_finish(w, &out, len), 0);
    return out;
}

static oa_tracker_reply *parse_ok(const void *body, size_t len)
{
    oa_tracker_reply *r = NULL;
    int rc = oa_tracker_parse_announce(body, len, &r, err, sizeof(err));

    if (rc != 0) {
        fail_msg("parse = %d: %s", rc, err);
    }
    assert_non_null(r);
    return r;
}

static void parse_fails(const void *body, size_t len, int code, const char *what)
{
    oa_tracker_reply *r = (oa_tracker_reply *)(uintptr_t)1;
    int rc;

    err[0] = '\0';
    rc = oa_tracker_parse_announce(body, len, &r, err, sizeof(err));
    if (rc != code) {
        fail_msg("parse = %d (%s), want %d", rc, err, code);
    }
    assert_null(r);
    if (strstr(err, what) == NULL) {
        fail_msg("error \"%s\" does not mention \"%s\"", err, what);
    }
}

static void test_parse_compact(void **state)
{
    static const uint8_t peers[] = {10, 0, 0, 1, 0x1a, 0xe1,         /* 10.0.0.1:6881 */
                                    192, 168, 1, 2, 0xc8, 0xd5,      /* 192.168.1.2:51413 */
                                    10, 0, 0, 1, 0x1a, 0xe1,         /* duplicate */
                                    192, 168, 1, 2, 0xc8, 0xd5,      /* duplicate */
                                    10, 0, 0, 1, 0x1a, 0xe1,         /* and again */
                                    0, 0, 0, 0, 0x1a, 0xe1,          /* unspecified */
                                    8, 8, 4, 4, 0, 0};               /* port 0 */
    oa_benc_writer w;
    oa_tracker_reply *r;
    uint8_t *body;
    size_t len;

    (void)state;
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "complete");
    oa_benc_put_int(&w, 5);
    oa_benc_put_str(&w, "incomplete");
    oa_benc_put_int(&w, 3);
    oa_benc_put_str(&w, "interval");
    oa_benc_put_int(&w, 1800);
    oa_benc_put_str(&w, "min interval");
    oa_benc_put_int(&w, 900);
    oa_benc_put_str(&w, "peers");
    oa_benc_put_bytes(&w, peers, sizeof(peers));
    oa_benc_put_str(&w, "tracker id");
    oa_benc_put_str(&w, "t-42");
    oa_benc_put_str(&w, "warning message");
    oa_benc_put_str(&w, "slow down\nplease");
    oa_benc_end(&w);
    body = finish(&w, &len);
    r = parse_ok(body, len);
    assert_int_equal(r->interval, 1800);
    assert_int_equal(r->min_interval, 900);
    assert_int_equal(r->complete, 5);
    assert_int_equal(r->incomplete, 3);
    assert_int_equal(r->tracker_id_len, 4);
    assert_memory_equal(r->tracker_id, "t-42", 5);
    assert_string_equal(r->warning, "slow down?please");
    assert_int_equal(r->peer_count, 2);
    assert_string_equal(r->peers[0], "10.0.0.1:6881");
    assert_string_equal(r->peers[1], "192.168.1.2:51413");
    oa_tracker_reply_free(r);
    free(body);
}

/* "d6:peers6" + 18 bytes: [2001:db8::2]:80 + "e" */
#define ALONE6 "d6:peers618:\x20\x01\x0d\xb8" "\0\0\0\0\0\0\0\0\0\0\0\x02\x00\x50" "e"

static void test_parse_peers6(void **state)
{
    static const uint8_t v4[] = {1, 2, 3, 4, 0, 80};
    static const uint8_t v6[] = {
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1a, 0xe1, /* 2001:db8::1 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4, 0, 80,       /* mapped 1.2.3.4 */
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55, 0xff,
        0xff, /* fe80::211:22ff:fe33:4455 port 65535 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x1a, 0xe1}; /* :: dropped */
    oa_benc_writer w;
    oa_tracker_reply *r;
    uint8_t *body;
    size_t len;

    (void)state;
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "interval");
    oa_benc_put_int(&w, 60);
    oa_benc_put_str(&w, "peers");
    oa_benc_put_bytes(&w, v4, sizeof(v4));
    oa_benc_put_str(&w, "peers6");
    oa_benc_put_bytes(&w, v6, sizeof(v6));
    oa_benc_end(&w);
    body = finish(&w, &len);
    r = parse_ok(body, len);
    assert_int_equal(r->interval, 60);
    assert_int_equal(r->min_interval, 0);
    assert_int_equal(r->complete, -1);
    assert_null(r->tracker_id);
    assert_null(r->warning);
    assert_int_equal(r->peer_count, 3);
    assert_string_equal(r->peers[0], "1.2.3.4:80");
    assert_string_equal(r->peers[1], "[2001:db8::1]:6881");
    assert_string_equal(r->peers[2], "[fe80::211:22ff:fe33:4455]:65535");
    oa_tracker_reply_free(r);
    free(body);

    /* peers6 alone, without peers. */
    r = parse_ok(ALONE6, sizeof(ALONE6) - 1);
    assert_int_equal(r->peer_count, 1);
    assert_string_equal(r->peers[0], "[2001:db8::2]:80");
    assert_int_equal(r->interval, OA_TRACKER_DEFAULT_INTERVAL);
    oa_tracker_reply_free(r);
}

static void put_peer(oa_benc_writer *w, const char *ip, int64_t port)
{
    oa_benc_dict_begin(w);
    if (ip != NULL) {
        oa_benc_put_str(w, "ip");
        oa_benc_put_str(w, ip);
    }
    oa_benc_put_str(w, "peer id");
    oa_benc_put_str(w, "-XX0000-abcdefghijkl");
    if (port >= 0) {
        oa_benc_put_str(w, "port");
        oa_benc_put_int(w, port);
    }
    oa_benc_end(w);
}

static void test_parse_dict_peers(void **state)
{
    oa_benc_writer w;
    oa_tracker_reply *r;
    uint8_t *body;
    size_t len;

    (void)state;
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "interval");
    oa_benc_put_int(&w, 120);
    oa_benc_put_str(&w, "peers");
    oa_benc_list_begin(&w);
    put_peer(&w, "10.0.0.5", 6881);
    put_peer(&w, "2001:DB8:0:0::7", 7000);   /* written canonically */
    put_peer(&w, "tracker.example", 6881);   /* a host name: dropped */
    put_peer(&w, "10.0.0.6", 70000);         /* bad port */
    put_peer(&w, "10.0.0.7", 0);             /* port 0 */
    put_peer(&w, "10.0.0.8", -1);            /* no port */
    put_peer(&w, NULL, 6881);                /* no ip */
    put_peer(&w, "10.0.0.5", 6881);          /* duplicate */
    put_peer(&w, "::ffff:10.0.0.9", 1);      /* mapped: written as IPv4 */
    oa_benc_put_int(&w, 7);                  /* not a dictionary */
    oa_benc_end(&w);
    oa_benc_end(&w);
    body = finish(&w, &len);
    r = parse_ok(body, len);
    assert_int_equal(r->peer_count, 3);
    assert_string_equal(r->peers[0], "10.0.0.5:6881");
    assert_string_equal(r->peers[1], "[2001:db8::7]:7000");
    assert_string_equal(r->peers[2], "10.0.0.9:1");
    oa_tracker_reply_free(r);
    free(body);
}

static void test_parse_failure_reason(void **state)
{
    static const char refused[] = "d14:failure reason22:torrent not registered8:intervali60ee";
    static const char ctl[] = "d14:failure reason9:bad\x01\x1b[31me";
    oa_tracker_scrape_reply *s = NULL;

    (void)state;
    parse_fails(refused, strlen(refused), OA_EFAIL, "torrent not registered");
    assert_string_equal(err, "tracker: refused: torrent not registered");
    /* The tracker's text cannot smuggle terminal controls into logs. */
    parse_fails(ctl, strlen(ctl), OA_EFAIL, "bad??[31m");
    /* A scrape reply may refuse too. */
    assert_int_equal(oa_tracker_parse_scrape(refused, strlen(refused), &s, err, sizeof(err)),
                     OA_EFAIL);
    assert_null(s);
    assert_non_null(strstr(err, "torrent not registered"));
}

static void test_parse_broken(void **state)
{
    static const char truncated[] = "d8:intervali1800e5:peers12:abcdef";
    static const char html[] = "<html><body>502 Bad Gateway</body></html>";
    static const char trailing[] = "d8:intervali60eeXYZ";
    static const char odd[] = "d5:peers13:abcdefghijklme";
    static const char odd6[] = "d6:peers617:abcdefghijklmnopqe";
    oa_tracker_scrape_reply *s = NULL;

    (void)state;
    parse_fails(truncated, strlen(truncated), OA_EPROTO, "not valid bencode");
    parse_fails(truncated, strlen(truncated), OA_EPROTO, "offset");
    parse_fails(html, strlen(html), OA_EPROTO, "not valid bencode");
    parse_fails(trailing, strlen(trailing), OA_EPROTO, "not valid bencode");
    parse_fails("", 0, OA_EPROTO, "empty");
    parse_fails("li1ee", 5, OA_EPROTO, "not a dictionary");
    parse_fails("4:spam", 6, OA_EPROTO, "not a dictionary");
    parse_fails(odd, strlen(odd), OA_EPROTO, "13 bytes, not a multiple of 6");
    parse_fails(odd6, strlen(odd6), OA_EPROTO, "\"peers6\" string is 17 bytes");
    parse_fails(NULL, 4, OA_EINVAL, "no reply body");
    assert_int_equal(oa_tracker_parse_announce("de", 2, NULL, err, sizeof(err)), OA_EINVAL);
    assert_int_equal(oa_tracker_parse_scrape(truncated, 10, &s, err, sizeof(err)), OA_EPROTO);
    assert_null(s);
    assert_non_null(strstr(err, "not valid bencode"));
}

static void interval_case(const char *body, int64_t interval, int64_t min_interval)
{
    oa_tracker_reply *r = parse_ok(body, strlen(body));

    assert_int_equal(r->interval, interval);
    assert_int_equal(r->min_interval, min_interval);
    assert_int_equal(r->peer_count, 0);
    oa_tracker_reply_free(r);
}

static void test_parse_intervals_clamped(void **state)
{
    (void)state;
    interval_case("de", OA_TRACKER_DEFAULT_INTERVAL, 0);
    interval_case("d8:intervali0ee", OA_TRACKER_DEFAULT_INTERVAL, 0);
    interval_case("d8:intervali-5ee", OA_TRACKER_DEFAULT_INTERVAL, 0);
    interval_case("d8:interval4:1800e", OA_TRACKER_DEFAULT_INTERVAL, 0);
    interval_case("d8:intervali9223372036854775807e12:min intervali-1ee",
                  OA_TRACKER_MAX_INTERVAL, 0);
    interval_case("d8:intervali1e12:min intervali99999999999ee", 1, OA_TRACKER_MAX_INTERVAL);
    interval_case("d8:intervali14400e12:min intervali14401ee", 14400, OA_TRACKER_MAX_INTERVAL);
}

static void test_parse_peer_cap(void **state)
{
    const size_t n = OA_TRACKER_MAX_PEERS + 500;
    uint8_t *peers = malloc(n * 6);
    oa_benc_writer w;
    oa_tracker_reply *r;
    uint8_t *body;
    size_t len;
    size_t i;

    (void)state;
    for (i = 0; i < n; i++) {
        peers[i * 6] = 10;
        peers[i * 6 + 1] = (uint8_t)(i >> 16);
        peers[i * 6 + 2] = (uint8_t)(i >> 8);
        peers[i * 6 + 3] = (uint8_t)i;
        peers[i * 6 + 4] = 0x1a;
        peers[i * 6 + 5] = 0xe1;
    }
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "peers");
    oa_benc_put_bytes(&w, peers, n * 6);
    oa_benc_end(&w);
    body = finish(&w, &len);
    r = parse_ok(body, len);
    assert_int_equal(r->peer_count, OA_TRACKER_MAX_PEERS);
    assert_string_equal(r->peers[0], "10.0.0.0:6881");
    assert_string_equal(r->peers[OA_TRACKER_MAX_PEERS - 1], "10.0.15.255:6881");
    oa_tracker_reply_free(r);
    free(body);
    free(peers);
}

/* ---- scrape replies ------------------------------------------------------- */

static void test_parse_scrape(void **state)
{
    static const uint8_t a[20] = {0xaa, 1, 2, 3};
    static const uint8_t b[20] = {0xbb, 0, 0xff};
    static const uint8_t other[20] = {0xcc};
    oa_tracker_scrape_reply *s = NULL;
    const oa_tracker_scrape_file *f;
    oa_benc_writer w;
    uint8_t *body;
    size_t len;

    (void)state;
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "files");
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "short key");           /* not 20 bytes: skipped */
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "complete");
    oa_benc_put_int(&w, 1);
    oa_benc_end(&w);
    oa_benc_put_bytes(&w, a, 20);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "complete");
    oa_benc_put_int(&w, 7);
    oa_benc_put_str(&w, "downloaded");
    oa_benc_put_int(&w, 42);
    oa_benc_put_str(&w, "incomplete");
    oa_benc_put_int(&w, 3);
    oa_benc_put_str(&w, "name");
    oa_benc_put_str(&w, "a file");
    oa_benc_end(&w);
    oa_benc_put_bytes(&w, b, 20);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "incomplete");
    oa_benc_put_int(&w, -4);                    /* nonsense: not given */
    oa_benc_end(&w);
    oa_benc_end(&w);
    oa_benc_put_str(&w, "flags");
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "min_request_interval");
    oa_benc_put_int(&w, 3600);
    oa_benc_end(&w);
    oa_benc_end(&w);
    body = finish(&w, &len);
    assert_int_equal(oa_tracker_parse_scrape(body, len, &s, err, sizeof(err)), 0);
    assert_int_equal(s->count, 2);
    assert_int_equal(s->min_request_interval, 3600);
    f = oa_tracker_scrape_find(s, a);
    assert_non_null(f);
    assert_int_equal(f->complete, 7);
    assert_int_equal(f->downloaded, 42);
    assert_int_equal(f->incomplete, 3);
    f = oa_tracker_scrape_find(s, b);
    assert_non_null(f);
    assert_int_equal(f->complete, -1);
    assert_int_equal(f->downloaded, -1);
    assert_int_equal(f->incomplete, -1);
    assert_null(oa_tracker_scrape_find(s, other));
    oa_tracker_scrape_reply_free(s);
    free(body);

    assert_int_equal(oa_tracker_parse_scrape("d5:filesdee", 11, &s, err, sizeof(err)), 0);
    assert_int_equal(s->count, 0);
    oa_tracker_scrape_reply_free(s);
    s = NULL;
    assert_int_equal(oa_tracker_parse_scrape("d8:intervali5ee", 15, &s, err, sizeof(err)),
                     OA_EPROTO);
    assert_null(s);
    assert_non_null(strstr(err, "no \"files\" dictionary"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_announce_url_exact),
        cmocka_unit_test(test_announce_url_refused),
        cmocka_unit_test(test_scrape_url),
        cmocka_unit_test(test_parse_compact),
        cmocka_unit_test(test_parse_peers6),
        cmocka_unit_test(test_parse_dict_peers),
        cmocka_unit_test(test_parse_failure_reason),
        cmocka_unit_test(test_parse_broken),
        cmocka_unit_test(test_parse_intervals_clamped),
        cmocka_unit_test(test_parse_peer_cap),
        cmocka_unit_test(test_parse_scrape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

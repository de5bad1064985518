/* Unit tests of playback request parsing (plugins/streamer/params.c): the
 * query of /ace/getstream and /ace/manifest.m3u8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openace/sdk.h>
#include <stdlib.h>
#include <string.h>

#include "acehttp.h"
#include "testutil.h"

/* One hash in three spellings. The base32 form was computed independently:
 *   python3 -c "import base64; print(base64.b32encode(bytes.fromhex(
 *     'c12fe1c06bba254a9dc9f519b335aa7c1367a88a')).decode())" */
#define HEX_LOWER "c12fe1c06bba254a9dc9f519b335aa7c1367a88a"
#define HEX_UPPER "C12FE1C06BBA254A9DC9F519B335AA7C1367A88A"
#define BASE32 "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK"
#define HEX_OTHER "0123456789abcdef0123456789abcdef01234567"

/* A query: NULL-terminated name, value pairs. */
typedef struct query {
    const char *const *pairs;
} query;

static const char *query_get(void *ctx, const char *name)
{
    const query *q = ctx;
    size_t i;

    for (i = 0; q->pairs[i] != NULL; i += 2) {
        if (strcmp(q->pairs[i], name) == 0) {
            return q->pairs[i + 1];
        }
    }
    return NULL;
}

static st_request req;
static char err[256];

static void parse_ok_(const char *const *pairs, const char *where)
{
    query q = {pairs};
    int rc;

    memset(err, 'x', sizeof(err));
    rc = st_request_parse(query_get, &q, &req, err, sizeof(err));
    if (rc != 0) {
        fail_msg("%s: parse = %d: %s", where, rc, err);
    }
}

static void parse_fail_(const char *const *pairs, const char *what, const char *where)
{
    query q = {pairs};
    int rc;

    memset(err, 'x', sizeof(err));
    rc = st_request_parse(query_get, &q, &req, err, sizeof(err));
    if (rc != OA_EINVAL) {
        fail_msg("%s: parse = %d, want OA_EINVAL (%.*s)", where, rc, (int)sizeof(err) - 1, err);
    }
    if (memchr(err, '\0', sizeof(err)) == NULL) {
        fail_msg("%s: err is not NUL-terminated", where);
    }
    if (strstr(err, what) == NULL) {
        fail_msg("%s: error \"%s\" does not mention \"%s\"", where, err, what);
    }
    assert_int_equal(req.kind, ST_SRC_NONE);
}

#define Q(...) ((const char *const[]){__VA_ARGS__, NULL})
#define parse_ok(...) parse_ok_(Q(__VA_ARGS__), #__VA_ARGS__)
#define parse_fail(what, ...) parse_fail_(Q(__VA_ARGS__), (what), #__VA_ARGS__)

static void test_content_id(void **state)
{
    (void)state;
    parse_ok("content_id", HEX_UPPER);
    assert_int_equal(req.kind, ST_SRC_CONTENT_ID);
    assert_string_equal(req.id, HEX_LOWER);
    assert_string_equal(req.value, "");
    assert_string_equal(req.pid, "");
    assert_int_equal(req.file_index, -1);
    assert_int_equal(req.format_json, 0);
    assert_string_equal(err, "");

    /* id is the same source under another name. */
    parse_ok("id", HEX_LOWER);
    assert_int_equal(req.kind, ST_SRC_CONTENT_ID);
    assert_string_equal(req.id, HEX_LOWER);
}

static void test_infohash_spellings(void **state)
{
    (void)state;
    parse_ok("infohash", HEX_LOWER);
    assert_int_equal(req.kind, ST_SRC_INFOHASH);
    assert_string_equal(req.id, HEX_LOWER);
    parse_ok("infohash", HEX_UPPER);
    assert_string_equal(req.id, HEX_LOWER);
    parse_ok("infohash", BASE32);
    assert_int_equal(req.kind, ST_SRC_INFOHASH);
    assert_string_equal(req.id, HEX_LOWER);
    parse_ok("infohash", "yex6dqdlxisuvhoj6um3gnnkpqjwpkek");
    assert_string_equal(req.id, HEX_LOWER);
    /* The extremes of the alphabet. */
    parse_ok("infohash", "77777777777777777777777777777777");
    assert_string_equal(req.id, "ffffffffffffffffffffffffffffffffffffffff");
    parse_ok("infohash", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_string_equal(req.id, "0000000000000000000000000000000000000000");
}

static void test_url_and_magnet(void **state)
{
    (void)state;
    parse_ok("url", "http://example.org/a.acelive");
    assert_int_equal(req.kind, ST_SRC_URL);
    assert_string_equal(req.value, "http://example.org/a.acelive");
    assert_string_equal(req.id, "");
    parse_ok("url", "https://example.org/a?b=c&d=e");
    assert_string_equal(req.value, "https://example.org/a?b=c&d=e");
    parse_ok("url", "file:///srv/a.torrent");
    assert_string_equal(req.value, "file:///srv/a.torrent");
    parse_ok("url", "HTTP://EXAMPLE.ORG/");
    assert_string_equal(req.value, "HTTP://EXAMPLE.ORG/");

    parse_ok("magnet", "magnet:?xt=urn:btih:" HEX_LOWER);
    assert_int_equal(req.kind, ST_SRC_MAGNET);
    assert_string_equal(req.value, "magnet:?xt=urn:btih:" HEX_LOWER);
}

static void test_precedence(void **state)
{
    (void)state;
    /* Listed in the reverse order of precedence: the order of the query
     * does not matter. */
    parse_ok("magnet", "magnet:?xt=urn:btih:" HEX_LOWER, "url", "http://a/", "infohash",
             HEX_OTHER, "id", HEX_OTHER, "content_id", HEX_LOWER);
    assert_int_equal(req.kind, ST_SRC_CONTENT_ID);
    assert_string_equal(req.id, HEX_LOWER);
    assert_string_equal(req.value, "");

    parse_ok("magnet", "magnet:?x", "url", "http://a/", "infohash", HEX_OTHER, "id", HEX_LOWER);
    assert_int_equal(req.kind, ST_SRC_CONTENT_ID);
    assert_string_equal(req.id, HEX_LOWER);

    parse_ok("magnet", "magnet:?x", "url", "http://a/", "infohash", HEX_OTHER);
    assert_int_equal(req.kind, ST_SRC_INFOHASH);
    assert_string_equal(req.id, HEX_OTHER);

    parse_ok("magnet", "magnet:?x", "url", "http://a/");
    assert_int_equal(req.kind, ST_SRC_URL);
    assert_string_equal(req.value, "http://a/");

    /* Only the winner is checked: a bad loser does not matter... */
    parse_ok("content_id", HEX_LOWER, "infohash", "nonsense", "url", "ftp://x");
    assert_int_equal(req.kind, ST_SRC_CONTENT_ID);
    /* ...but a bad winner is not replaced by a good loser. */
    parse_fail("content_id must be 40 hexadecimal digits", "content_id", "zz", "id", HEX_LOWER);
    parse_fail("content_id is empty", "content_id", "", "infohash", HEX_LOWER);
}

static void test_options(void **state)
{
    (void)state;
    parse_ok("id", HEX_LOWER, "format", "json", "pid", "a1-B2_c3.~!", "_idx", "3");
    assert_int_equal(req.format_json, 1);
    assert_string_equal(req.pid, "a1-B2_c3.~!");
    assert_int_equal(req.file_index, 3);

    parse_ok("id", HEX_LOWER, "format", "JSON");
    assert_int_equal(req.format_json, 0);
    parse_ok("id", HEX_LOWER, "format", "jsonp");
    assert_int_equal(req.format_json, 0);
    parse_ok("id", HEX_LOWER, "format", "");
    assert_int_equal(req.format_json, 0);

    parse_ok("id", HEX_LOWER, "file_index", "65535");
    assert_int_equal(req.file_index, 65535);
    parse_ok("id", HEX_LOWER, "_idx", "0");
    assert_int_equal(req.file_index, 0);
    parse_ok("id", HEX_LOWER, "_idx", "007");
    assert_int_equal(req.file_index, 7);
    /* _idx wins over its alias. */
    parse_ok("id", HEX_LOWER, "file_index", "9", "_idx", "2");
    assert_int_equal(req.file_index, 2);

    /* A 64-byte pid is the longest accepted. */
    parse_ok("id", HEX_LOWER, "pid", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_int_equal(strlen(req.pid), 64);
}

static void test_rejected(void **state)
{
    (void)state;
    parse_fail("missing content_id, infohash, url or magnet", "pid", "x");
    parse_fail("missing content_id, infohash, url or magnet", "format", "json");

    parse_fail("content_id must be 40 hexadecimal digits", "content_id", HEX_LOWER "0");
    parse_fail("content_id must be 40 hexadecimal digits", "content_id",
               "g12fe1c06bba254a9dc9f519b335aa7c1367a88a");
    parse_fail("content_id must be 40 hexadecimal digits", "content_id", BASE32);
    parse_fail("id must be 40 hexadecimal digits", "id", "c12fe1c06bba254a9dc9f519b335aa7c1367a88");
    parse_fail("infohash must be 40 hexadecimal digits or 32 base32",
               "infohash", "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKE1");
    parse_fail("infohash must be 40 hexadecimal digits", "infohash", BASE32 "A");
    parse_fail("infohash must be 40 hexadecimal digits", "infohash", " " HEX_LOWER);

    parse_fail("url must start with http://, https:// or file://", "url", "ftp://x/y");
    parse_fail("url must start with http://", "url", "/srv/a.torrent");
    parse_fail("url must start with http://", "url", "http:/x");
    parse_fail("magnet must start with \"magnet:?\"", "magnet", "xt=urn:btih:" HEX_LOWER);

    parse_fail("content_id is empty", "content_id", "");
    parse_fail("id is empty", "id", "");
    parse_fail("infohash is empty", "infohash", "");
    parse_fail("url is empty", "url", "");
    parse_fail("magnet is empty", "magnet", "");
    parse_fail("pid is empty", "id", HEX_LOWER, "pid", "");
    parse_fail("_idx is empty", "id", HEX_LOWER, "_idx", "");

    parse_fail("pid must be printable ASCII", "id", HEX_LOWER, "pid", "a b");
    parse_fail("pid must be printable ASCII", "id", HEX_LOWER, "pid", "a\tb");
    parse_fail("pid must be printable ASCII", "id", HEX_LOWER, "pid", "caf\xc3\xa9");
    parse_fail("pid is longer than 64 bytes", "id", HEX_LOWER, "pid",
               "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefX");

    parse_fail("_idx must be a number from 0 to 65535", "id", HEX_LOWER, "_idx", "65536");
    parse_fail("_idx must be a number from 0 to 65535", "id", HEX_LOWER, "_idx", "-1");
    parse_fail("_idx must be a number from 0 to 65535", "id", HEX_LOWER, "_idx", "+1");
    parse_fail("_idx must be a number from 0 to 65535", "id", HEX_LOWER, "_idx", "1a");
    parse_fail("_idx must be a number from 0 to 65535", "id", HEX_LOWER, "_idx",
               "99999999999999999999999999");
    parse_fail("file_index must be a number from 0 to 65535", "id", HEX_LOWER, "file_index", "x");
}

/* Values at, and one past, the length limits; exact-size heap copies so
 * that ASan sees any read past the end. */
static void test_limits(void **state)
{
    char *big = malloc(ST_MAX_MAGNET + 2);
    char *v;

    (void)state;
    assert_non_null(big);

    memset(big, 'a', ST_MAX_URL + 1);
    memcpy(big, "http://", 7);
    big[ST_MAX_URL] = '\0';
    v = oa_test_exact_copy(big, ST_MAX_URL + 1);
    parse_ok("url", v);
    assert_int_equal(req.kind, ST_SRC_URL);
    assert_int_equal(strlen(req.value), ST_MAX_URL);
    free(v);

    big[ST_MAX_URL] = 'a';
    big[ST_MAX_URL + 1] = '\0';
    v = oa_test_exact_copy(big, ST_MAX_URL + 2);
    parse_fail("url is longer than 4096 bytes", "url", v);
    free(v);

    memset(big, 'a', ST_MAX_MAGNET + 1);
    memcpy(big, "magnet:?", 8);
    big[ST_MAX_MAGNET] = '\0';
    v = oa_test_exact_copy(big, ST_MAX_MAGNET + 1);
    parse_ok("magnet", v);
    assert_int_equal(req.kind, ST_SRC_MAGNET);
    assert_int_equal(strlen(req.value), ST_MAX_MAGNET);
    assert_memory_equal(req.value, big, ST_MAX_MAGNET + 1);
    free(v);

    big[ST_MAX_MAGNET] = 'a';
    big[ST_MAX_MAGNET + 1] = '\0';
    v = oa_test_exact_copy(big, ST_MAX_MAGNET + 2);
    parse_fail("magnet is longer than 8192 bytes", "magnet", v);
    free(v);

    /* A huge content_id is refused by its shape. */
    v = oa_test_exact_copy(big, ST_MAX_MAGNET + 2);
    parse_fail("content_id must be 40 hexadecimal digits", "content_id", v);
    free(v);
    free(big);
}

/* The error text is cut to errlen and still NUL-terminated. */
static void test_short_err(void **state)
{
    const char *const *pairs = Q("url", "gopher://x");
    query q = {pairs};
    char small[8];

    (void)state;
    memset(small, 'x', sizeof(small));
    assert_int_equal(st_request_parse(query_get, &q, &req, small, sizeof(small)), OA_EINVAL);
    assert_string_equal(small, "url mus");
    /* errlen 0 writes nothing and does not crash. */
    assert_int_equal(st_request_parse(query_get, &q, &req, small, 0), OA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_id), cmocka_unit_test(test_infohash_spellings),
        cmocka_unit_test(test_url_and_magnet), cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_options), cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_limits), cmocka_unit_test(test_short_err),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The live plugin's pure helpers (plugins/live/helpers.c): checking the
 * arguments of `start` as a user types them (defaults, every refusal with
 * its sentence), the rule that sequence numbers never repeat across
 * restarts, chunk timestamps that never go backwards, the back-off 1, 2,
 * 4 ... max, when a stored descriptor is reused (the content ID stays),
 * the source split for lavfi, the path of /live/<id>.acelive, the base of
 * the URLs in answers and hex. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live_int.h"

static int parse(const char *text, lv_bc_args *a, char *err, size_t errlen)
{
    json_t *o = json_loads(text, 0, NULL);
    int rc;
    err[0] = '\0';
    rc = lv_args_parse(o, 1.0, 60, a, err, errlen);
    json_decref(o);
    return rc;
}

static void test_args_defaults(void **state)
{
    lv_bc_args a;
    char err[300];
    (void)state;
    assert_int_equal(parse("{\"name\": \"demo\", \"source\": \"lavfi:testsrc2\"}", &a, err,
                           sizeof(err)),
                     0);
    assert_string_equal(a.name, "demo");
    assert_string_equal(a.source, "lavfi:testsrc2");
    assert_int_equal(a.loop, 0);
    assert_true(a.chunk_seconds == 1.0);
    assert_int_equal(a.window, 60);
    assert_int_equal(a.ntrackers, 0);
    assert_int_equal(a.auto_start, 1);
}

static void test_args_all(void **state)
{
    lv_bc_args a;
    char err[300];
    (void)state;
    assert_int_equal(parse("{\"name\": \"Caf\xc3\xa9 TV\", \"source\": \"/media/a.ts\", "
                           "\"loop\": true, \"chunk_seconds\": 0.5, \"window\": 4, "
                           "\"trackers\": [\"http://t.example/announce\", "
                           "\"udp://t.example:6969\"], \"auto_start\": false}",
                           &a, err, sizeof(err)),
                     0);
    assert_string_equal(a.name, "Caf\xc3\xa9 TV");
    assert_int_equal(a.loop, 1);
    assert_true(a.chunk_seconds == 0.5);
    assert_int_equal(a.window, 4);
    assert_int_equal(a.ntrackers, 2);
    assert_string_equal(a.trackers[1], "udp://t.example:6969");
    assert_int_equal(a.auto_start, 0);
}

static void refused(const char *text, const char *words)
{
    lv_bc_args a;
    char err[300];
    assert_int_equal(parse(text, &a, err, sizeof(err)), OA_EINVAL);
    if (strstr(err, words) == NULL) {
        fail_msg("for %s the sentence \"%s\" lacks \"%s\"", text, err, words);
    }
}

static void test_args_refused(void **state)
{
    char big[400];
    char longname[200];
    (void)state;
    refused("[]", "JSON object");
    refused("{\"source\": \"x\"}", "\"name\" is required");
    refused("{\"name\": \"\", \"source\": \"x\"}", "\"name\" is required");
    refused("{\"name\": \"a\\nb\", \"source\": \"x\"}", "control characters");
    refused("{\"name\": \"a\\u007f\", \"source\": \"x\"}", "UTF-8");
    /* jansson refuses bytes that are not UTF-8 before the check sees them. */
    refused("{\"name\": \"\xff\", \"source\": \"x\"}", "JSON object");
    memset(longname, 'n', 128);
    longname[128] = '\0';
    snprintf(big, sizeof(big), "{\"name\": \"%s\", \"source\": \"x\"}", longname);
    refused(big, "1 to 127 bytes");
    refused("{\"name\": \"a\"}", "\"source\" is required");
    refused("{\"name\": \"a\", \"source\": \"lavfi:\"}", "lavfi:<filtergraph>");
    refused("{\"name\": \"a\", \"source\": \"x\", \"loop\": 1}", "\"loop\" must be");
    refused("{\"name\": \"a\", \"source\": \"x\", \"chunk_seconds\": 0.1}", "0.2 to 10");
    refused("{\"name\": \"a\", \"source\": \"x\", \"chunk_seconds\": 11}", "0.2 to 10");
    refused("{\"name\": \"a\", \"source\": \"x\", \"chunk_seconds\": \"1\"}", "0.2 to 10");
    refused("{\"name\": \"a\", \"source\": \"x\", \"window\": 3}", "4 to 10000");
    refused("{\"name\": \"a\", \"source\": \"x\", \"window\": 10001}", "4 to 10000");
    refused("{\"name\": \"a\", \"source\": \"x\", \"window\": 5.5}", "4 to 10000");
    refused("{\"name\": \"a\", \"source\": \"x\", \"trackers\": \"http://t/a\"}", "list");
    refused("{\"name\": \"a\", \"source\": \"x\", \"trackers\": [\"ftp://t/a\"]}", "tracker 1");
    refused("{\"name\": \"a\", \"source\": \"x\", \"trackers\": [\"http://a\", 5]}",
            "tracker 2");
    refused("{\"name\": \"a\", \"source\": \"x\", \"trackers\": [\"http://1\", \"http://2\", "
            "\"http://3\", \"http://4\", \"http://5\", \"http://6\", \"http://7\", "
            "\"http://8\", \"http://9\"]}",
            "at most 8");
    refused("{\"name\": \"a\", \"source\": \"x\", \"auto_start\": \"yes\"}", "auto_start");
}

/* Sequence numbers: a new broadcast starts at 0; after a restart the next
 * one is past every number that may have been used since the last store
 * (stored every LV_PERSIST_EVERY chunks). */
static void test_seq_resume(void **state)
{
    (void)state;
    assert_int_equal(lv_seq_resume(0, 0), 0);
    assert_int_equal(lv_seq_resume(1, 0), 11);
    assert_int_equal(lv_seq_resume(1, 1000), 1011);
    /* The worst case: stored at S, then LV_PERSIST_EVERY - 1 more chunks
     * were made before a crash; the resumed number is above all of them. */
    for (uint64_t stored = 0; stored < 50; stored++) {
        uint64_t made_last = stored + LV_PERSIST_EVERY - 1;
        assert_true(lv_seq_resume(1, stored) > made_last);
    }
}

/* Chunk timestamps never go backwards: a wall clock stepped back gives the
 * previous chunk's time + 1 ms, so the window rule (a newer sequence
 * number with an older time is refused) keeps passing. */
static void test_chunk_ts(void **state)
{
    oa_lc_window w;
    char err[200];
    int64_t wall[] = {100000, 101000, 102000, 101500, 95000, 95100, 102001, 103000};
    int64_t want[] = {100000, 101000, 102000, 102001, 102002, 102003, 102004, 103000};
    int64_t last = 0;
    (void)state;
    assert_int_equal(lv_chunk_ts(5000, 0, 0), 5000);
    assert_int_equal(lv_chunk_ts(5000, 0, 9000), 5000); /* no previous chunk */
    assert_int_equal(lv_chunk_ts(5000, 1, 4000), 5000);
    assert_int_equal(lv_chunk_ts(5000, 1, 5000), 5001);
    assert_int_equal(lv_chunk_ts(5000, 1, 7000), 7001);
    oa_lc_window_init(&w, 60, 1000);
    for (size_t i = 0; i < sizeof(wall) / sizeof(wall[0]); i++) {
        int64_t ts = lv_chunk_ts(wall[i], i > 0, last);
        assert_int_equal(ts, want[i]);
        assert_int_equal(oa_lc_window_check(&w, 10 + i, ts, 102500, err, sizeof(err)), 0);
        oa_lc_window_advance(&w, 10 + i, ts);
        last = ts;
    }
    /* What the rule prevents: the raw clock's step back is refused. */
    assert_int_equal(oa_lc_window_check(&w, 30, 95000, 102500, err, sizeof(err)), OA_ERANGE);
    /* A step back as large as the allowed clock skew: a time that far
     * ahead would be refused as "from the future", the wall clock is used. */
    assert_int_equal(lv_chunk_ts(200000, 1, 200000 + OA_LC_CLOCK_SKEW_MS - 1),
                     200000 + OA_LC_CLOCK_SKEW_MS);
    assert_int_equal(lv_chunk_ts(200000, 1, 200000 + OA_LC_CLOCK_SKEW_MS), 200000);
    assert_int_equal(oa_lc_window_check(&w, 31, 102004 + OA_LC_CLOCK_SKEW_MS + 1, 102004, err,
                                        sizeof(err)),
                     OA_ERANGE);
}

static void test_hex_encode(void **state)
{
    const uint8_t b[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];
    (void)state;
    lv_hex_encode(b, sizeof(b), out);
    assert_string_equal(out, "000fa5ff");
    lv_hex_encode(b, 0, out);
    assert_string_equal(out, "");
}

static void test_backoff(void **state)
{
    uint32_t b = 0;
    const uint32_t want[] = {1, 2, 4, 8, 16, 30, 30};
    (void)state;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        b = lv_backoff_next(b, 30);
        assert_int_equal(b, want[i]);
    }
    assert_int_equal(lv_backoff_next(0, 0), 1);
    assert_int_equal(lv_backoff_next(4, 5), 5);
}

static void test_source_split(void **state)
{
    const char *format;
    const char *url;
    (void)state;
    lv_source_split("lavfi:testsrc2=size=640x360:rate=25[out0]", &format, &url);
    assert_string_equal(format, "lavfi");
    assert_string_equal(url, "testsrc2=size=640x360:rate=25[out0]");
    lv_source_split("udp://239.0.0.1:1234", &format, &url);
    assert_null(format);
    assert_string_equal(url, "udp://239.0.0.1:1234");
    /* Generated sources, loops and local files are paced; network inputs
     * come at their own pace. */
    assert_true(lv_source_realtime("lavfi:testsrc2", 0));
    assert_true(lv_source_realtime("/srv/a.ts", 0));
    assert_true(lv_source_realtime("file:///srv/a.ts", 0));
    assert_true(lv_source_realtime("http://cam/stream.ts", 1));
    assert_false(lv_source_realtime("udp://239.0.0.1:1234", 0));
    assert_false(lv_source_realtime("rtmp://host/app/key", 0));
}

static void test_desc_fits(void **state)
{
    lv_bc_args a;
    oa_lc_descriptor d;
    char err[300];
    (void)state;
    assert_int_equal(parse("{\"name\": \"n\", \"source\": \"x\", \"chunk_seconds\": 2, "
                           "\"window\": 30, \"trackers\": [\"http://t/a\"]}",
                           &a, err, sizeof(err)),
                     0);
    memset(&d, 0, sizeof(d));
    strcpy(d.name, "n");
    d.chunk_ms = 2000;
    d.window = 30;
    strcpy(d.trackers[0], "http://t/a");
    d.tracker_count = 1;
    assert_true(lv_desc_fits(&d, &a));
    /* Source, loop and auto_start do not change the content ID. */
    strcpy(a.source, "/other.ts");
    a.loop = 1;
    a.auto_start = 0;
    assert_true(lv_desc_fits(&d, &a));
    d.chunk_ms = 1000;
    assert_false(lv_desc_fits(&d, &a));
    d.chunk_ms = 2000;
    d.window = 31;
    assert_false(lv_desc_fits(&d, &a));
    d.window = 30;
    strcpy(d.trackers[0], "http://t/b");
    assert_false(lv_desc_fits(&d, &a));
    strcpy(d.trackers[0], "http://t/a");
    strcpy(d.name, "m");
    assert_false(lv_desc_fits(&d, &a));
    strcpy(d.name, "n");
    d.tracker_count = 0;
    assert_false(lv_desc_fits(&d, &a));
    assert_int_equal(lv_chunk_ms(0.2), 200);
    assert_int_equal(lv_chunk_ms(1.0005), 1001);
}

static void test_acelive_path(void **state)
{
    char hex[41];
    (void)state;
    assert_int_equal(lv_acelive_path("/live/0123456789ABCDEF0123456789abcdef01234567.acelive",
                                     hex),
                     0);
    assert_string_equal(hex, "0123456789abcdef0123456789abcdef01234567");
    assert_int_equal(lv_acelive_path("/live/0123456789abcdef0123456789abcdef0123456.acelive",
                                     hex),
                     OA_EINVAL);
    assert_int_equal(lv_acelive_path("/live/0123456789abcdef0123456789abcdef0123456g.acelive",
                                     hex),
                     OA_EINVAL);
    assert_int_equal(lv_acelive_path("/live/0123456789abcdef0123456789abcdef01234567.torrent",
                                     hex),
                     OA_EINVAL);
    assert_int_equal(lv_acelive_path("/live/", hex), OA_EINVAL);
    assert_int_equal(lv_acelive_path(NULL, hex), OA_EINVAL);
}

static void test_base_url(void **state)
{
    char out[256];
    (void)state;
    lv_base_url("", "127.0.0.1:6878", out, sizeof(out));
    assert_string_equal(out, "http://127.0.0.1:6878");
    lv_base_url(NULL, "0.0.0.0:7000", out, sizeof(out));
    assert_string_equal(out, "http://127.0.0.1:7000");
    lv_base_url("", "[::]:7000", out, sizeof(out));
    assert_string_equal(out, "http://127.0.0.1:7000");
    lv_base_url("", "192.168.1.5:6878", out, sizeof(out));
    assert_string_equal(out, "http://192.168.1.5:6878");
    lv_base_url("http://box.lan:6878//", "127.0.0.1:6878", out, sizeof(out));
    assert_string_equal(out, "http://box.lan:6878");
    lv_base_url("", NULL, out, sizeof(out));
    assert_string_equal(out, "http://127.0.0.1:6878");
}

static void test_text_ok(void **state)
{
    (void)state;
    assert_true(lv_text_ok("abc", 3));
    assert_true(lv_text_ok("\xc3\xa9", 2));
    assert_true(lv_text_ok("\xe2\x82\xac", 3));
    assert_true(lv_text_ok("\xf0\x9f\x98\x80", 4));
    assert_false(lv_text_ok("\xc3", 1));
    assert_false(lv_text_ok("\xe2\x82", 2));
    assert_false(lv_text_ok("\x80", 1));
    assert_false(lv_text_ok("a\tb", 3));
    assert_false(lv_text_ok("\xc0\x80", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_defaults), cmocka_unit_test(test_args_all),
        cmocka_unit_test(test_args_refused),  cmocka_unit_test(test_seq_resume),
        cmocka_unit_test(test_backoff),       cmocka_unit_test(test_source_split),
        cmocka_unit_test(test_desc_fits),     cmocka_unit_test(test_acelive_path),
        cmocka_unit_test(test_base_url),      cmocka_unit_test(test_text_ok),
        cmocka_unit_test(test_chunk_ts),      cmocka_unit_test(test_hex_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

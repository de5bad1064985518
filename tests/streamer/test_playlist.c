/* Unit tests of HLS media playlists (plugins/streamer/playlist.c): the
 * whole text for EVENT, ended EVENT and LIVE playlists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "acehttp.h"

static void expect_(const st_segment *segs, size_t n, int type, int ended, const char *prefix,
                    const char *want)
{
    size_t len = 0;
    char *text = st_playlist_build(segs, n, type, ended, prefix, &len);

    assert_non_null(text);
    assert_string_equal(text, want);
    assert_int_equal(len, strlen(want));
    free(text);
}

static const st_segment SEGS[] = {
    {0, 4.0, 0},
    {1, 3.5, 0},
    {2, 4.2, 1},
};

static void test_event_growing(void **state)
{
    (void)state;
    expect_(SEGS, 3, ST_PLAYLIST_EVENT, 0, "/ace/c/abc/",
            "#EXTM3U\n"
            "#EXT-X-VERSION:3\n"
            "#EXT-X-TARGETDURATION:5\n"
            "#EXT-X-PLAYLIST-TYPE:EVENT\n"
            "#EXT-X-START:TIME-OFFSET=0\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXTINF:4.000,\n"
            "/ace/c/abc/0.ts\n"
            "#EXTINF:3.500,\n"
            "/ace/c/abc/1.ts\n"
            "#EXT-X-DISCONTINUITY\n"
            "#EXTINF:4.200,\n"
            "/ace/c/abc/2.ts\n");
}

static void test_event_ended(void **state)
{
    (void)state;
    expect_(SEGS, 3, ST_PLAYLIST_EVENT, 1, "/ace/c/abc/",
            "#EXTM3U\n"
            "#EXT-X-VERSION:3\n"
            "#EXT-X-TARGETDURATION:5\n"
            "#EXT-X-PLAYLIST-TYPE:VOD\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXTINF:4.000,\n"
            "/ace/c/abc/0.ts\n"
            "#EXTINF:3.500,\n"
            "/ace/c/abc/1.ts\n"
            "#EXT-X-DISCONTINUITY\n"
            "#EXTINF:4.200,\n"
            "/ace/c/abc/2.ts\n"
            "#EXT-X-ENDLIST\n");
}

static void test_live_window(void **state)
{
    static const st_segment live[] = {
        {1041, 2.0, 0},
        {1042, 1.9996, 0}, /* rounds to 2.000 */
        {1043, 6.0, 1},
        {18446744073709551615u, 0.0005, 0},
    };

    (void)state;
    expect_(live, 4, ST_PLAYLIST_LIVE, 0, "s/",
            "#EXTM3U\n"
            "#EXT-X-VERSION:3\n"
            "#EXT-X-TARGETDURATION:6\n"
            "#EXT-X-MEDIA-SEQUENCE:1041\n"
            "#EXTINF:2.000,\n"
            "s/1041.ts\n"
            "#EXTINF:2.000,\n"
            "s/1042.ts\n"
            "#EXT-X-DISCONTINUITY\n"
            "#EXTINF:6.000,\n"
            "s/1043.ts\n"
            "#EXTINF:0.001,\n"
            "s/18446744073709551615.ts\n");

    /* A live stream that stopped. */
    expect_(live, 1, ST_PLAYLIST_LIVE, 1, "",
            "#EXTM3U\n"
            "#EXT-X-VERSION:3\n"
            "#EXT-X-TARGETDURATION:2\n"
            "#EXT-X-MEDIA-SEQUENCE:1041\n"
            "#EXTINF:2.000,\n"
            "1041.ts\n"
            "#EXT-X-ENDLIST\n");
}

static void test_empty(void **state)
{
    (void)state;
    expect_(NULL, 0, ST_PLAYLIST_EVENT, 0, "/p/",
            "#EXTM3U\n"
            "#EXT-X-VERSION:3\n"
            "#EXT-X-TARGETDURATION:1\n"
            "#EXT-X-PLAYLIST-TYPE:EVENT\n"
            "#EXT-X-START:TIME-OFFSET=0\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n");
    expect_(SEGS, 0, ST_PLAYLIST_LIVE, 0, NULL,
            "#EXTM3U\n"
            "#EXT-X-VERSION:3\n"
            "#EXT-X-TARGETDURATION:1\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n");
}

/* EXT-X-TARGETDURATION is the longest EXTINF (as written) rounded up, so
 * that no segment rounds above it (RFC 8216 §4.3.3.1). */
static void test_target_duration(void **state)
{
    static const st_segment a[] = {{0, 10.0, 0}, {1, 10.001, 0}};
    static const st_segment b[] = {{0, 10.0004, 0}};
    static const st_segment c[] = {{0, -3.0, 0}, {1, 0.0, 0}};
    size_t len;
    char *text;

    (void)state;
    text = st_playlist_build(a, 2, ST_PLAYLIST_LIVE, 0, "", &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "#EXT-X-TARGETDURATION:11\n"));
    free(text);
    /* 10.0004 is written 10.000, so 10 is the target. */
    text = st_playlist_build(b, 1, ST_PLAYLIST_LIVE, 0, "", &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "#EXT-X-TARGETDURATION:10\n#"));
    assert_non_null(strstr(text, "#EXTINF:10.000,\n"));
    free(text);
    /* Nonsense durations are written as 0 and the target stays at 1. */
    text = st_playlist_build(c, 2, ST_PLAYLIST_LIVE, 0, "", &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "#EXT-X-TARGETDURATION:1\n"));
    assert_non_null(strstr(text, "#EXTINF:0.000,\n0.ts\n#EXTINF:0.000,\n1.ts\n"));
    free(text);
}

/* Many segments with a long prefix: the length is right and the text is
 * one line per tag. */
static void test_many(void **state)
{
    enum { N = 5000 };
    st_segment *segs = calloc(N, sizeof(*segs));
    char prefix[301];
    size_t len = 0;
    size_t lines = 0;
    size_t i;
    char *text;

    (void)state;
    assert_non_null(segs);
    memset(prefix, 'p', 300);
    prefix[300] = '\0';
    for (i = 0; i < N; i++) {
        segs[i].seq = 1000000 + i;
        segs[i].duration = 1.5;
        segs[i].discontinuity = 1;
    }
    text = st_playlist_build(segs, N, ST_PLAYLIST_EVENT, 1, prefix, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    for (i = 0; i < len; i++) {
        lines += text[i] == '\n';
    }
    /* 5 header lines, 3 per segment, the end list. */
    assert_int_equal(lines, 5 + 3 * N + 1);
    free(text);
    free(segs);
}

/* The text does not depend on the process locale. */
static void test_locale(void **state)
{
    const char *set;

    (void)state;
    set = setlocale(LC_NUMERIC, "de_DE.UTF-8");
    if (set == NULL) {
        set = setlocale(LC_NUMERIC, "fr_FR.UTF-8");
    }
    expect_(SEGS, 1, ST_PLAYLIST_LIVE, 0, "",
            "#EXTM3U\n"
            "#EXT-X-VERSION:3\n"
            "#EXT-X-TARGETDURATION:4\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXTINF:4.000,\n"
            "0.ts\n");
    setlocale(LC_NUMERIC, "C");
    if (set == NULL) {
        skip();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_growing), cmocka_unit_test(test_event_ended),
        cmocka_unit_test(test_live_window),   cmocka_unit_test(test_empty),
        cmocka_unit_test(test_target_duration), cmocka_unit_test(test_many),
        cmocka_unit_test(test_locale),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

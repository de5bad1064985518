/*
 * HLS media playlists (RFC 8216) for the segments the segmenter has cut.
 * Numbers are written with integer arithmetic so that the text does not
 * depend on the process locale (a "," decimal point would break players).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acehttp.h"

/* The longest line a segment adds besides the prefix: the discontinuity
 * tag, "#EXTINF:<20 digits>.<3 digits>,", "<20 digits>.ts" and newlines. */
#define SEGMENT_TEXT_MAX 96
/* The longest text of the tags before the first segment and after the last. */
#define HEADER_TEXT_MAX 256

typedef struct buf {
    char *p;
    size_t len;
    size_t cap;
} buf;

/* Appends formatted text. The buffer is sized beforehand, so running out
 * of room is a bug; it returns -1 then and the caller gives up. */
static int put(buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len) {
        return -1;
    }
    b->len += (size_t)n;
    return 0;
}

/* A duration in whole milliseconds, rounded to the nearest; negative or
 * not-a-number durations count as 0, huge ones are capped. */
static uint64_t duration_ms(double seconds)
{
    double ms;

    if (!(seconds > 0.0)) {
        return 0;
    }
    ms = seconds * 1000.0 + 0.5;
    if (ms >= 1.8e19) {
        return UINT64_C(18000000000000000000);
    }
    return (uint64_t)ms;
}

/* Builds a media playlist of n segments (see acehttp.h). EXTINF carries
 * the duration with three decimals; EXT-X-TARGETDURATION is the longest of
 * those rounded up, and at least 1. EXT-X-MEDIA-SEQUENCE (0 when there is
 * no segment) is written for every type, so that a client following an
 * EVENT playlist also knows where it begins. */
char *st_playlist_build(const st_segment *segs, size_t n, int type, int ended, const char *prefix,
                        size_t *len)
{
    buf b = {NULL, 0, 0};
    size_t plen;
    uint64_t longest_ms = 0;
    uint64_t target;
    size_t i;
    int rc = 0;

    if (prefix == NULL) {
        prefix = "";
    }
    if (segs == NULL) {
        n = 0;
    }
    plen = strlen(prefix);
    if (n > 0 && plen + SEGMENT_TEXT_MAX > (SIZE_MAX - HEADER_TEXT_MAX) / n) {
        return NULL;
    }
    b.cap = HEADER_TEXT_MAX + n * (plen + SEGMENT_TEXT_MAX);
    b.p = malloc(b.cap);
    if (b.p == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        uint64_t ms = duration_ms(segs[i].duration);

        if (ms > longest_ms) {
            longest_ms = ms;
        }
    }
    target = longest_ms / 1000 + (longest_ms % 1000 != 0 ? 1 : 0);
    if (target < 1) {
        target = 1;
    }

    rc |= put(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%" PRIu64 "\n", target);
    if (type == ST_PLAYLIST_EVENT) {
        if (ended) {
            rc |= put(&b, "#EXT-X-PLAYLIST-TYPE:VOD\n");
        } else {
            rc |= put(&b, "#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-START:TIME-OFFSET=0\n");
        }
    }
    rc |= put(&b, "#EXT-X-MEDIA-SEQUENCE:%" PRIu64 "\n", n > 0 ? segs[0].seq : (uint64_t)0);
    for (i = 0; i < n; i++) {
        uint64_t ms = duration_ms(segs[i].duration);

        if (segs[i].discontinuity) {
            rc |= put(&b, "#EXT-X-DISCONTINUITY\n");
        }
        rc |= put(&b, "#EXTINF:%" PRIu64 ".%03u,\n%s%" PRIu64 ".ts\n", ms / 1000,
                  (unsigned)(ms % 1000), prefix, segs[i].seq);
    }
    if (ended) {
        rc |= put(&b, "#EXT-X-ENDLIST\n");
    }
    if (rc != 0) {
        free(b.p);
        return NULL;
    }
    if (len != NULL) {
        *len = b.len;
    }
    return b.p;
}

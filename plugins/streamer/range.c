/*
 * The Range request header (RFC 9110 §14) against a body of known size:
 * one byte range, or nothing usable.
 */
#include <inttypes.h>
#include <stdio.h>

#include "acehttp.h"

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    return p;
}

/* Reads a run of decimal digits at *pp into *out and moves *pp past it.
 * Returns 1 when at least one digit was read, 0 when there is none, or -1
 * when the number does not fit in 64 bits. */
static int read_u64(const char **pp, uint64_t *out)
{
    const char *p = *pp;
    uint64_t n = 0;
    int any = 0;

    while (*p >= '0' && *p <= '9') {
        uint64_t d = (uint64_t)(*p - '0');

        if (n > (UINT64_MAX - d) / 10) {
            return -1;
        }
        n = n * 10 + d;
        any = 1;
        p++;
    }
    *pp = p;
    *out = n;
    return any;
}

/* True when p starts with "bytes", ASCII case ignored (range units are
 * case-insensitive). */
static int is_bytes_unit(const char *p)
{
    static const char unit[] = "bytes";
    size_t i;

    for (i = 0; unit[i] != '\0'; i++) {
        char c = p[i];

        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != unit[i]) {
            return 0;
        }
    }
    return 1;
}

static int none(uint64_t size, uint64_t *first, uint64_t *last)
{
    *first = size > 0 ? 0 : 1;
    *last = size > 0 ? size - 1 : 0;
    return ST_RANGE_NONE;
}

static int unsatisfiable(uint64_t *first, uint64_t *last)
{
    *first = 1;
    *last = 0;
    return ST_RANGE_UNSATISFIABLE;
}

/* Reads a Range header value against a body of size bytes (see acehttp.h).
 * On ST_RANGE_NONE, [*first, *last] is the whole body (1, 0 when it is
 * empty); on ST_RANGE_UNSATISFIABLE it is (1, 0) so that st_content_range
 * writes "bytes * / size" from it directly. */
int st_range_parse(const char *header, uint64_t size, uint64_t *first, uint64_t *last)
{
    const char *p;
    uint64_t a = 0;
    uint64_t b = 0;
    int has_a;
    int has_b;

    if (header == NULL) {
        return none(size, first, last);
    }
    p = skip_ws(header);
    if (!is_bytes_unit(p)) {
        return none(size, first, last);
    }
    p = skip_ws(p + 5);
    if (*p != '=') {
        return none(size, first, last);
    }
    p = skip_ws(p + 1);
    has_a = read_u64(&p, &a);
    if (has_a < 0) {
        return none(size, first, last);
    }
    p = skip_ws(p);
    if (*p != '-') {
        return none(size, first, last);
    }
    p = skip_ws(p + 1);
    has_b = read_u64(&p, &b);
    if (has_b < 0) {
        return none(size, first, last);
    }
    p = skip_ws(p);
    if (*p != '\0') {
        /* Several ranges, or trailing bytes: ignored as the RFC allows. */
        return none(size, first, last);
    }

    if (!has_a && !has_b) {
        return none(size, first, last);
    }
    if (!has_a) {
        /* bytes=-n: the last n bytes. */
        if (b == 0 || size == 0) {
            return unsatisfiable(first, last);
        }
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return ST_RANGE_PARTIAL;
    }
    if (has_b && a > b) {
        return none(size, first, last);
    }
    if (a >= size) {
        return unsatisfiable(first, last);
    }
    *first = a;
    *last = (!has_b || b >= size) ? size - 1 : b;
    return ST_RANGE_PARTIAL;
}

/* Writes the Content-Range value for [first, last] of size into out (see
 * acehttp.h). */
int st_content_range(char *out, size_t outlen, uint64_t first, uint64_t last, uint64_t size)
{
    int n;

    if (out == NULL || outlen == 0) {
        return -1;
    }
    if (first > last) {
        n = snprintf(out, outlen, "bytes */%" PRIu64, size);
    } else {
        n = snprintf(out, outlen, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
    }
    if (n < 0 || (size_t)n >= outlen) {
        out[0] = '\0';
        return -1;
    }
    return n;
}

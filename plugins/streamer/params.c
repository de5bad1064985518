/*
 * The query of /ace/getstream and /ace/manifest.m3u8: which content is
 * asked for (content_id, id, infohash, url or magnet) and the options that
 * go with it (format, pid, _idx).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openace/sdk.h>

#include "acehttp.h"

/* Writes a sentence into err (always NUL-terminated when errlen > 0) and
 * returns OA_EINVAL. */
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return OA_EINVAL;
}

static int lower_ascii(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A' + 'a';
    }
    return c;
}

/* True when s starts with prefix, ASCII case ignored (URI schemes are
 * case-insensitive, RFC 3986 §3.1). */
static int has_prefix_ci(const char *s, const char *prefix)
{
    size_t i;

    for (i = 0; prefix[i] != '\0'; i++) {
        if (lower_ascii((unsigned char)s[i]) != lower_ascii((unsigned char)prefix[i])) {
            return 0;
        }
    }
    return 1;
}

void st_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = lower_ascii(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Copies 40 hex digits of s into out (41 bytes) in lower case. Returns 0,
 * or -1 when s is not exactly 40 hex digits. */
static int copy_hex40(const char *s, char out[41])
{
    size_t i;

    if (strlen(s) != 40) {
        return -1;
    }
    for (i = 0; i < 40; i++) {
        if (hex_value((unsigned char)s[i]) < 0) {
            return -1;
        }
        out[i] = (char)lower_ascii((unsigned char)s[i]);
    }
    out[40] = '\0';
    return 0;
}

static int base32_value(int c)
{
    c = lower_ascii(c);
    if (c >= 'a' && c <= 'z') {
        return c - 'a';
    }
    if (c >= '2' && c <= '7') {
        return c - '2' + 26;
    }
    return -1;
}

/* Decodes 32 base32 characters (RFC 4648 alphabet, any case, no padding)
 * of s into 40 lower-case hex digits in out (41 bytes). Returns 0, or -1
 * when s is not exactly that. */
static int base32_to_hex40(const char *s, char out[41])
{
    uint8_t bytes[20];
    uint32_t acc = 0;
    int bits = 0;
    size_t nbytes = 0;
    size_t i;

    if (strlen(s) != 32) {
        return -1;
    }
    for (i = 0; i < 32; i++) {
        int v = base32_value((unsigned char)s[i]);

        if (v < 0) {
            return -1;
        }
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            bytes[nbytes] = (uint8_t)(acc >> bits);
            nbytes++;
            acc &= (1u << bits) - 1u;
        }
    }
    st_hex(bytes, sizeof(bytes), out);
    return 0;
}

/* Reads a source parameter by name and stores it into out. Returns 1 when
 * the parameter is absent, 0 when stored, or OA_EINVAL with err set. */
static int take_source(st_query_fn get, void *ctx, const char *name, st_src_kind kind,
                       st_request *out, char *err, size_t errlen)
{
    const char *v = get(ctx, name);
    size_t len;

    if (v == NULL) {
        return 1;
    }
    if (v[0] == '\0') {
        return fail(err, errlen, "%s is empty", name);
    }
    len = strlen(v);
    switch (kind) {
    case ST_SRC_CONTENT_ID:
        if (copy_hex40(v, out->id) != 0) {
            return fail(err, errlen, "%s must be 40 hexadecimal digits", name);
        }
        break;
    case ST_SRC_INFOHASH:
        if (copy_hex40(v, out->id) != 0 && base32_to_hex40(v, out->id) != 0) {
            return fail(err, errlen, "%s must be 40 hexadecimal digits or 32 base32 characters",
                        name);
        }
        break;
    case ST_SRC_URL:
        if (len > ST_MAX_URL) {
            return fail(err, errlen, "%s is longer than %d bytes", name, ST_MAX_URL);
        }
        if (!has_prefix_ci(v, "http://") && !has_prefix_ci(v, "https://") &&
            !has_prefix_ci(v, "file://")) {
            return fail(err, errlen, "%s must start with http://, https:// or file://", name);
        }
        memcpy(out->value, v, len + 1);
        break;
    case ST_SRC_MAGNET:
        if (len > ST_MAX_MAGNET) {
            return fail(err, errlen, "%s is longer than %d bytes", name, ST_MAX_MAGNET);
        }
        if (!has_prefix_ci(v, "magnet:?")) {
            return fail(err, errlen, "%s must start with \"magnet:?\"", name);
        }
        memcpy(out->value, v, len + 1);
        break;
    default:
        return fail(err, errlen, "%s is not a content source", name);
    }
    out->kind = kind;
    return 0;
}

/* Reads pid: printable ASCII without spaces, at most ST_MAX_PID bytes. */
static int take_pid(st_query_fn get, void *ctx, st_request *out, char *err, size_t errlen)
{
    const char *v = get(ctx, "pid");
    size_t len;
    size_t i;

    if (v == NULL) {
        return 0;
    }
    if (v[0] == '\0') {
        return fail(err, errlen, "pid is empty");
    }
    len = strlen(v);
    if (len > ST_MAX_PID) {
        return fail(err, errlen, "pid is longer than %d bytes", ST_MAX_PID);
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];

        if (c < 0x21 || c > 0x7e) {
            return fail(err, errlen, "pid must be printable ASCII characters without spaces");
        }
    }
    memcpy(out->pid, v, len + 1);
    return 0;
}

/* Reads _idx (alias file_index; _idx wins when both are given): a decimal
 * number from 0 to 65535. */
static int take_index(st_query_fn get, void *ctx, st_request *out, char *err, size_t errlen)
{
    const char *name = "_idx";
    const char *v = get(ctx, name);
    long n = 0;
    size_t i;

    if (v == NULL) {
        name = "file_index";
        v = get(ctx, name);
    }
    if (v == NULL) {
        return 0;
    }
    if (v[0] == '\0') {
        return fail(err, errlen, "%s is empty", name);
    }
    for (i = 0; v[i] != '\0'; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return fail(err, errlen, "%s must be a number from 0 to 65535", name);
        }
        n = n * 10 + (v[i] - '0');
        if (n > 65535) {
            return fail(err, errlen, "%s must be a number from 0 to 65535", name);
        }
    }
    out->file_index = (int)n;
    return 0;
}

/* Parses a playback request from its query parameters (see acehttp.h). */
int st_request_parse(st_query_fn get, void *ctx, st_request *out, char *err, size_t errlen)
{
    static const struct {
        const char *name;
        st_src_kind kind;
    } sources[] = {
        {"content_id", ST_SRC_CONTENT_ID},
        {"id", ST_SRC_CONTENT_ID},
        {"infohash", ST_SRC_INFOHASH},
        {"url", ST_SRC_URL},
        {"magnet", ST_SRC_MAGNET},
    };
    const char *format;
    size_t i;
    int rc = 1;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (out == NULL || get == NULL) {
        return fail(err, errlen, "st_request_parse needs a query and a request to fill");
    }
    memset(out, 0, sizeof(*out));
    out->kind = ST_SRC_NONE;
    out->file_index = -1;

    for (i = 0; i < sizeof(sources) / sizeof(sources[0]) && rc == 1; i++) {
        rc = take_source(get, ctx, sources[i].name, sources[i].kind, out, err, errlen);
    }
    if (rc == 1) {
        return fail(err, errlen, "missing content_id, infohash, url or magnet");
    }
    if (rc != 0) {
        goto failed;
    }
    format = get(ctx, "format");
    out->format_json = format != NULL && strcmp(format, "json") == 0;
    rc = take_pid(get, ctx, out, err, errlen);
    if (rc != 0) {
        goto failed;
    }
    rc = take_index(get, ctx, out, err, errlen);
    if (rc != 0) {
        goto failed;
    }
    return 0;

failed:
    /* A refused request names no source, so a caller cannot use half of it. */
    out->kind = ST_SRC_NONE;
    out->id[0] = '\0';
    out->value[0] = '\0';
    return rc;
}

/*
 * Magnet links: parsing (BEP 9 link format) and writing.
 */
#include "magnet.h"
#include "swarm_err.h"

#include <openace/sdk.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Error sentences start with "magnet:". */
#define mfail(err, errlen, code, ...) oa_swarm_fail((err), (errlen), (code), "magnet: ", __VA_ARGS__)


static int hex_val(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Compares n bytes of a with the lowercase text b, ignoring ASCII case. */
static int prefix_ci(const char *a, size_t n, const char *b)
{
    size_t i;
    size_t bl = strlen(b);

    if (n < bl) {
        return 0;
    }
    for (i = 0; i < bl; i++) {
        if (lower(a[i]) != b[i]) {
            return 0;
        }
    }
    return 1;
}

int oa_infohash_from_hex(const char *hex, uint8_t out[OA_INFOHASH_LEN])
{
    size_t i;

    for (i = 0; i < OA_INFOHASH_LEN; i++) {
        int hi = hex_val(hex[2 * i]);
        int lo = hi >= 0 ? hex_val(hex[2 * i + 1]) : -1;

        if (lo < 0) {
            return OA_EPROTO;
        }
        out[i] = (uint8_t)(hi * 16 + lo);
    }
    return 0;
}

void oa_infohash_to_hex(const uint8_t info_hash[OA_INFOHASH_LEN], char out[OA_INFOHASH_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < OA_INFOHASH_LEN; i++) {
        out[2 * i] = digits[info_hash[i] >> 4];
        out[2 * i + 1] = digits[info_hash[i] & 15];
    }
    out[OA_INFOHASH_HEX_LEN] = '\0';
}

/* Decodes 32 base32 letters (RFC 4648, either case) into 20 bytes. */
static int from_base32(const char *s, uint8_t out[OA_INFOHASH_LEN])
{
    uint32_t acc = 0;
    int bits = 0;
    size_t i;
    size_t o = 0;

    for (i = 0; i < 32; i++) {
        char c = lower(s[i]);
        int v;

        if (c >= 'a' && c <= 'z') {
            v = c - 'a';
        } else if (c >= '2' && c <= '7') {
            v = c - '2' + 26;
        } else {
            return OA_EPROTO;
        }
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out[o] = (uint8_t)(acc >> bits);
            o++;
            acc &= (1u << bits) - 1;
        }
    }
    return 0;
}

/* Percent-decodes n bytes of s into a new string; '+' becomes a space when
 * plus_space is set. Returns 0, OA_EPROTO (bad escape or NUL) or
 * OA_ENOMEM. */
static int pct_decode(const char *s, size_t n, int plus_space, char **out)
{
    char *d = malloc(n + 1);
    size_t i;
    size_t j = 0;

    if (d == NULL) {
        return OA_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (c == '%') {
            int hi = n - i >= 3 ? hex_val(s[i + 1]) : -1;
            int lo = n - i >= 3 ? hex_val(s[i + 2]) : -1;

            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(d);
                return OA_EPROTO;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        d[j] = c;
        j++;
    }
    d[j] = '\0';
    *out = d;
    return 0;
}

static int is_host_char(char c, int v6)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.') {
        return 1;
    }
    return v6 ? c == ':' : (c == '-' || c == '_');
}

/* Parses "host:port" or "[v6]:port" into p (host copied). */
static int parse_peer(const char *v, oa_magnet_peer *p, char *err, size_t errlen)
{
    const char *host = v;
    const char *host_end;
    const char *port;
    unsigned long n = 0;
    int v6 = v[0] == '[';
    const char *c;

    if (v6) {
        host = v + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL || host_end[1] != ':') {
            return mfail(err, errlen, OA_EPROTO,
                         "peer \"%.100s\" has no \"]:port\" after its IPv6 address", v);
        }
        port = host_end + 2;
    } else {
        host_end = strrchr(v, ':');
        if (host_end == NULL) {
            return mfail(err, errlen, OA_EPROTO, "peer \"%.100s\" has no port", v);
        }
        port = host_end + 1;
    }
    if (host_end == host) {
        return mfail(err, errlen, OA_EPROTO, "peer \"%.100s\" has no host", v);
    }
    for (c = host; c < host_end; c++) {
        if (!is_host_char(*c, v6)) {
            return mfail(err, errlen, OA_EPROTO,
                         "peer \"%.100s\" has a bad host (IPv6 needs [brackets])", v);
        }
    }
    if (*port == '\0' || strlen(port) > 5) {
        return mfail(err, errlen, OA_EPROTO, "peer \"%.100s\" has a bad port", v);
    }
    for (c = port; *c != '\0'; c++) {
        if (*c < '0' || *c > '9') {
            return mfail(err, errlen, OA_EPROTO, "peer \"%.100s\" has a bad port", v);
        }
        n = n * 10 + (unsigned long)(*c - '0');
    }
    if (n == 0 || n > 65535) {
        return mfail(err, errlen, OA_EPROTO, "peer \"%.100s\" has port %lu, outside 1-65535", v,
                     n);
    }
    p->host = malloc((size_t)(host_end - host) + 1);
    if (p->host == NULL) {
        return OA_ENOMEM;
    }
    memcpy(p->host, host, (size_t)(host_end - host));
    p->host[host_end - host] = '\0';
    p->port = (uint16_t)n;
    return 0;
}

/* Returns 1 when key (n bytes) is base, optionally followed by "." and
 * digits ("tr.1"). */
static int key_is(const char *key, size_t n, const char *base)
{
    size_t bl = strlen(base);
    size_t i;

    if (n < bl || !prefix_ci(key, bl, base)) {
        return 0;
    }
    if (n == bl) {
        return 1;
    }
    if (key[bl] != '.' || n == bl + 1) {
        return 0;
    }
    for (i = bl + 1; i < n; i++) {
        if (key[i] < '0' || key[i] > '9') {
            return 0;
        }
    }
    return 1;
}

typedef struct mstate {
    oa_magnet *m;
    int have_hash;
    char other[24]; /* the first other xt kind seen, such as "urn:btmh" */
} mstate;

static int on_xt(mstate *st, const char *v, char *err, size_t errlen)
{
    size_t n = strlen(v);
    uint8_t h[OA_INFOHASH_LEN];
    const char *hash = v + 9;
    int rc;

    if (!prefix_ci(v, n, "urn:btih:")) {
        if (st->other[0] == '\0') {
            const char *colon = prefix_ci(v, n, "urn:") ? strchr(v + 4, ':') : NULL;
            size_t kind = colon != NULL ? (size_t)(colon - v) : n;

            snprintf(st->other, sizeof(st->other), "%.*s", (int)(kind < 23 ? kind : 23), v);
        }
        return 0;
    }
    if (n - 9 == OA_INFOHASH_HEX_LEN) {
        rc = oa_infohash_from_hex(hash, h);
    } else if (n - 9 == 32) {
        rc = from_base32(hash, h);
    } else {
        rc = OA_EPROTO;
    }
    if (rc != 0) {
        return mfail(err, errlen, OA_EPROTO,
                     "\"%.80s\" is not an info-hash of 40 hex digits or 32 base32 letters", hash);
    }
    if (st->have_hash && memcmp(h, st->m->info_hash, sizeof(h)) != 0) {
        return mfail(err, errlen, OA_EPROTO, "the link names two different btih info-hashes");
    }
    memcpy(st->m->info_hash, h, sizeof(h));
    st->have_hash = 1;
    return 0;
}

static int has_tracker(const oa_magnet *m, const char *url)
{
    size_t i;

    for (i = 0; i < m->tracker_count; i++) {
        if (strcmp(m->trackers[i], url) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Handles one key=value parameter; takes v (decoded, malloc'd). */
static int on_param(mstate *st, const char *key, size_t klen, char *v, char *err, size_t errlen)
{
    oa_magnet *m = st->m;
    int rc = 0;

    if (key_is(key, klen, "xt")) {
        rc = on_xt(st, v, err, errlen);
    } else if (key_is(key, klen, "dn")) {
        if (m->name == NULL) {
            m->name = v;
            v = NULL;
        }
    } else if (key_is(key, klen, "tr")) {
        if (v[0] != '\0' && !has_tracker(m, v)) {
            char **t = realloc(m->trackers, (m->tracker_count + 1) * sizeof(*t));

            if (t == NULL) {
                free(v);
                return mfail(err, errlen, OA_ENOMEM, "out of memory");
            }
            m->trackers = t;
            m->trackers[m->tracker_count] = v;
            m->tracker_count++;
            v = NULL;
        }
    } else if (key_is(key, klen, "x.pe")) {
        oa_magnet_peer *p = realloc(m->peers, (m->peer_count + 1) * sizeof(*p));

        if (p == NULL) {
            free(v);
            return mfail(err, errlen, OA_ENOMEM, "out of memory");
        }
        m->peers = p;
        rc = parse_peer(v, &m->peers[m->peer_count], err, errlen);
        if (rc == 0) {
            m->peer_count++;
        }
    }
    free(v);
    return rc;
}

static int parse_query(mstate *st, const char *q, size_t n, char *err, size_t errlen)
{
    size_t i = 0;
    int rc;

    while (i < n) {
        const char *amp = memchr(q + i, '&', n - i);
        size_t end = amp != NULL ? (size_t)(amp - q) : n;
        const char *eq = memchr(q + i, '=', end - i);

        if (eq != NULL) {
            size_t klen = (size_t)(eq - (q + i));
            size_t voff = (size_t)(eq + 1 - q);
            char *v = NULL;

            rc = pct_decode(q + voff, end - voff, key_is(q + i, klen, "dn"), &v);
            if (rc == OA_EPROTO) {
                return mfail(err, errlen, rc,
                             "the value of \"%.*s\" has a bad %%-escape (or an escaped NUL)",
                             (int)(klen < 20 ? klen : 20), q + i);
            }
            if (rc != 0) {
                return mfail(err, errlen, rc, "out of memory");
            }
            rc = on_param(st, q + i, klen, v, err, errlen);
            if (rc != 0) {
                return rc;
            }
        }
        i = end + 1;
    }
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int oa_magnet_parse(const char *link, oa_magnet **out, char *err, size_t errlen)
{
    mstate st;
    const char *s;
    size_t n;
    int rc;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (link == NULL || out == NULL) {
        return OA_EINVAL;
    }
    *out = NULL;
    /* Pasted links often carry surrounding blanks. */
    s = link;
    while (is_space(*s)) {
        s++;
    }
    n = strlen(s);
    while (n > 0 && is_space(s[n - 1])) {
        n--;
    }
    memset(&st, 0, sizeof(st));
    st.m = calloc(1, sizeof(*st.m));
    if (st.m == NULL) {
        return mfail(err, errlen, OA_ENOMEM, "out of memory");
    }
    if (n == OA_INFOHASH_HEX_LEN && oa_infohash_from_hex(s, st.m->info_hash) == 0) {
        *out = st.m;
        return 0;
    }
    if (!prefix_ci(s, n, "magnet:?")) {
        oa_magnet_free(st.m);
        return mfail(err, errlen, OA_EPROTO,
                     "this is neither a link starting with \"magnet:?\" nor a 40-digit hex "
                     "info-hash");
    }
    rc = parse_query(&st, s + 8, n - 8, err, errlen);
    if (rc == 0 && !st.have_hash) {
        if (st.other[0] != '\0' && prefix_ci(st.other, strlen(st.other), "urn:btmh")) {
            rc = mfail(err, errlen, OA_ENOSYS,
                       "the link names a BitTorrent v2 hash (urn:btmh) only; this engine needs "
                       "a v1 urn:btih info-hash");
        } else if (st.other[0] != '\0') {
            rc = mfail(err, errlen, OA_ENOSYS,
                       "the link names its content by %s, not by a BitTorrent urn:btih "
                       "info-hash",
                       st.other);
        } else {
            rc = mfail(err, errlen, OA_EPROTO, "the link has no xt=urn:btih: info-hash");
        }
    }
    if (rc != 0) {
        oa_magnet_free(st.m);
        return rc;
    }
    *out = st.m;
    return 0;
}

void oa_magnet_free(oa_magnet *m)
{
    size_t i;

    if (m == NULL) {
        return;
    }
    free(m->name);
    for (i = 0; i < m->tracker_count; i++) {
        free(m->trackers[i]);
    }
    free(m->trackers);
    for (i = 0; i < m->peer_count; i++) {
        free(m->peers[i].host);
    }
    free(m->peers);
    free(m);
}

/* Returns the length of s percent-encoded, or writes it to out when out is
 * not NULL. Only RFC 3986 unreserved characters stay as they are. */
static size_t pct_encode(const char *s, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t n = 0;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '-' || c == '.' || c == '_' || c == '~';

        if (plain) {
            if (out != NULL) {
                out[n] = (char)c;
            }
            n++;
        } else {
            if (out != NULL) {
                out[n] = '%';
                out[n + 1] = digits[c >> 4];
                out[n + 2] = digits[c & 15];
            }
            n += 3;
        }
    }
    return n;
}

int oa_magnet_make(const uint8_t info_hash[OA_INFOHASH_LEN], const char *name,
                   const char *const *trackers, size_t count, char **out)
{
    size_t len = strlen("magnet:?xt=urn:btih:") + OA_INFOHASH_HEX_LEN + 1;
    size_t i;
    char *s;
    size_t at;

    if (out == NULL) {
        return OA_EINVAL;
    }
    *out = NULL;
    if (info_hash == NULL || (count > 0 && trackers == NULL)) {
        return OA_EINVAL;
    }
    if (name != NULL) {
        len += 4 + pct_encode(name, NULL);
    }
    for (i = 0; i < count; i++) {
        if (trackers[i] == NULL) {
            return OA_EINVAL;
        }
        len += 4 + pct_encode(trackers[i], NULL);
    }
    s = malloc(len);
    if (s == NULL) {
        return OA_ENOMEM;
    }
    memcpy(s, "magnet:?xt=urn:btih:", 20);
    oa_infohash_to_hex(info_hash, s + 20);
    at = 20 + OA_INFOHASH_HEX_LEN;
    if (name != NULL) {
        memcpy(s + at, "&dn=", 4);
        at += 4;
        at += pct_encode(name, s + at);
    }
    for (i = 0; i < count; i++) {
        memcpy(s + at, "&tr=", 4);
        at += 4;
        at += pct_encode(trackers[i], s + at);
    }
    s[at] = '\0';
    *out = s;
    return 0;
}

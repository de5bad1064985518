/*
 * Tracker messages (see tracker.h): announce and scrape URLs, and the
 * parsing of their bencoded replies.
 */
#include "tracker.h"

#include <openace/sdk.h>

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "swarm_err.h"

/* Longest peer text: "[" + 45 (INET6_ADDRSTRLEN - 1) + "]:65535". */
#define PEER_TEXT_MAX 64

/* Error sentences start with "tracker:". */
#define tfail(err, errlen, code, ...) oa_swarm_fail((err), (errlen), (code), "tracker: ", __VA_ARGS__)


/* ---- a growable string with a sticky error ------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len;
    size_t cap;
    int err;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->err != 0) {
        return;
    }
    if (n > (SIZE_MAX >> 2) - b->len) {
        b->err = OA_ENOMEM;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 256;
        char *p;

        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        p = realloc(b->p, cap);
        if (p == NULL) {
            b->err = OA_ENOMEM;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_u64(sbuf *b, uint64_t v)
{
    char num[24];

    snprintf(num, sizeof(num), "%" PRIu64, v);
    sb_str(b, num);
}

/* Appends bytes percent-encoded: unreserved characters (RFC 3986) as they
 * are, everything else as %XX with uppercase hex. */
static void sb_escape(sbuf *b, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < n; i++) {
        uint8_t c = p[i];
        char enc[3];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            enc[0] = (char)c;
            sb_add(b, enc, 1);
            continue;
        }
        enc[0] = '%';
        enc[1] = hex[c >> 4];
        enc[2] = hex[c & 15];
        sb_add(b, enc, 3);
    }
}

static int sb_finish(sbuf *b, char **out)
{
    if (b->err != 0) {
        free(b->p);
        return b->err;
    }
    *out = b->p;
    return 0;
}

/* ---- URLs ---------------------------------------------------------------- */

/* Where the parts of a tracker URL are: the path runs [path, query), the
 * query (with its '?') [query, end), and a fragment, dropped, follows. */
typedef struct url_parts {
    size_t path;
    size_t query;
    size_t end;
} url_parts;

static int prefix_ci(const char *s, const char *lower_prefix)
{
    size_t i;

    for (i = 0; lower_prefix[i] != '\0'; i++) {
        char c = s[i];

        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != lower_prefix[i]) {
            return 0;
        }
    }
    return 1;
}

/* Splits an http(s) URL; OA_ENOSYS for another scheme, OA_EINVAL for no
 * scheme or no host. */
static int url_split(const char *url, url_parts *u)
{
    size_t host;
    size_t i;

    if (url == NULL) {
        return OA_EINVAL;
    }
    if (prefix_ci(url, "http://")) {
        host = 7;
    } else if (prefix_ci(url, "https://")) {
        host = 8;
    } else {
        return strstr(url, "://") != NULL ? OA_ENOSYS : OA_EINVAL;
    }
    i = host;
    while (url[i] != '\0' && url[i] != '/' && url[i] != '?' && url[i] != '#') {
        i++;
    }
    if (i == host) {
        return OA_EINVAL;
    }
    u->path = i;
    while (url[i] != '\0' && url[i] != '?' && url[i] != '#') {
        i++;
    }
    u->query = i;
    while (url[i] != '\0' && url[i] != '#') {
        i++;
    }
    u->end = i;
    return 0;
}

int oa_tracker_url_check(const char *url)
{
    url_parts u;

    return url_split(url, &u);
}

/* Appends the separator before the next query parameter. */
static void sb_sep(sbuf *b)
{
    char last = b->len > 0 ? b->p[b->len - 1] : '\0';

    if (b->p != NULL && strchr(b->p, '?') != NULL) {
        if (last != '?' && last != '&') {
            sb_add(b, "&", 1);
        }
    } else {
        sb_add(b, "?", 1);
    }
}

static const char *event_name(oa_tracker_event ev)
{
    switch (ev) {
    case OA_TRACKER_EVENT_STARTED:
        return "started";
    case OA_TRACKER_EVENT_STOPPED:
        return "stopped";
    case OA_TRACKER_EVENT_COMPLETED:
        return "completed";
    default:
        return NULL;
    }
}

int oa_tracker_announce_url(const char *announce, const oa_tracker_announce_args *a, char **out)
{
    sbuf b = {0};
    url_parts u;
    const char *ev;
    int rc;

    if (out == NULL || a == NULL) {
        return OA_EINVAL;
    }
    *out = NULL;
    rc = url_split(announce, &u);
    if (rc != 0) {
        return rc;
    }
    sb_add(&b, announce, u.end);
    sb_sep(&b);
    sb_str(&b, "info_hash=");
    sb_escape(&b, a->info_hash, OA_TRACKER_ID_LEN);
    sb_str(&b, "&peer_id=");
    sb_escape(&b, a->peer_id, OA_TRACKER_ID_LEN);
    sb_str(&b, "&port=");
    sb_u64(&b, a->port);
    sb_str(&b, "&uploaded=");
    sb_u64(&b, a->uploaded);
    sb_str(&b, "&downloaded=");
    sb_u64(&b, a->downloaded);
    sb_str(&b, "&left=");
    sb_u64(&b, a->left);
    sb_str(&b, "&compact=1");
    ev = event_name(a->event);
    if (ev != NULL) {
        sb_str(&b, "&event=");
        sb_str(&b, ev);
    }
    if (a->numwant >= 0) {
        sb_str(&b, "&numwant=");
        sb_u64(&b, (uint64_t)a->numwant);
    }
    if (a->has_key) {
        char key[16];

        snprintf(key, sizeof(key), "%08" PRIX32, a->key);
        sb_str(&b, "&key=");
        sb_str(&b, key);
    }
    if (a->trackerid != NULL) {
        sb_str(&b, "&trackerid=");
        sb_escape(&b, (const uint8_t *)a->trackerid, strlen(a->trackerid));
    }
    return sb_finish(&b, out);
}

int oa_tracker_scrape_url(const char *announce, const uint8_t (*hashes)[OA_TRACKER_ID_LEN],
                          size_t count, char **out)
{
    static const char word[] = "announce";
    const size_t wlen = sizeof(word) - 1;
    sbuf b = {0};
    url_parts u;
    size_t slash;
    size_t i;
    int rc;

    if (out == NULL || (hashes == NULL && count > 0)) {
        return OA_EINVAL;
    }
    *out = NULL;
    rc = url_split(announce, &u);
    if (rc != 0) {
        return rc;
    }
    /* The last '/' of the path; the path starts with one when not empty. */
    slash = u.query;
    while (slash > u.path && announce[slash - 1] != '/') {
        slash--;
    }
    if (slash == u.path || u.query - slash < wlen || memcmp(announce + slash, word, wlen) != 0) {
        return OA_ENOSYS;
    }
    sb_add(&b, announce, slash);
    sb_str(&b, "scrape");
    sb_add(&b, announce + slash + wlen, u.end - slash - wlen);
    for (i = 0; i < count; i++) {
        sb_sep(&b);
        sb_str(&b, "info_hash=");
        sb_escape(&b, hashes[i], OA_TRACKER_ID_LEN);
    }
    return sb_finish(&b, out);
}

/* ---- replies ------------------------------------------------------------- */

/* Copies at most OA_TRACKER_MAX_TEXT bytes of tracker text into a new
 * string, control characters replaced by '?'. NULL when out of memory. */
static char *text_dup(const uint8_t *p, size_t n)
{
    char *s;
    size_t i;

    if (n > OA_TRACKER_MAX_TEXT) {
        n = OA_TRACKER_MAX_TEXT;
    }
    s = malloc(n + 1);
    if (s == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        s[i] = (p[i] < 0x20 || p[i] == 0x7f) ? '?' : (char)p[i];
    }
    s[n] = '\0';
    return s;
}

/* Decodes a reply into a document whose root is a dictionary; reports a
 * failure reason as OA_EFAIL. */
static int decode_reply(const void *body, size_t len, oa_benc_doc **doc, char *err,
                        size_t errlen)
{
    char why[256];
    const oa_benc_node *root;
    const uint8_t *p;
    size_t n;
    int rc;

    *doc = NULL;
    if (body == NULL && len > 0) {
        return tfail(err, errlen, OA_EINVAL, "no reply body");
    }
    if (len == 0) {
        return tfail(err, errlen, OA_EPROTO, "the reply is empty");
    }
    rc = oa_benc_decode(body, len, NULL, doc, why, sizeof(why));
    if (rc == OA_ENOMEM) {
        return tfail(err, errlen, rc, "out of memory decoding the reply");
    }
    if (rc != 0) {
        return tfail(err, errlen, OA_EPROTO, "the reply is not valid bencode (%s)", why);
    }
    root = oa_benc_doc_root(*doc);
    if (oa_benc_type_of(root) != OA_BENC_DICT) {
        oa_benc_doc_free(*doc);
        *doc = NULL;
        return tfail(err, errlen, OA_EPROTO, "the reply is not a dictionary");
    }
    if (oa_benc_dict_bytes(root, "failure reason", &p, &n) == 0) {
        char *text = text_dup(p, n);

        oa_benc_doc_free(*doc);
        *doc = NULL;
        if (text == NULL) {
            return OA_ENOMEM;
        }
        rc = tfail(err, errlen, OA_EFAIL, "refused: %s", text);
        free(text);
        return rc;
    }
    return 0;
}

static int64_t clamp_interval(int64_t v, int64_t if_bad)
{
    if (v <= 0) {
        return if_bad;
    }
    return v > OA_TRACKER_MAX_INTERVAL ? OA_TRACKER_MAX_INTERVAL : v;
}

/* A list of peer texts being collected. */
typedef struct peer_list {
    char **v;
    size_t n;
    size_t cap;
    size_t seen; /* entries looked at, capped by OA_TRACKER_MAX_PEERS */
} peer_list;

static int peers_add(peer_list *pl, const char *text)
{
    char *s;

    if (pl->n == pl->cap) {
        size_t cap = pl->cap > 0 ? pl->cap * 2 : 32;
        char **v = realloc(pl->v, cap * sizeof(*v));

        if (v == NULL) {
            return OA_ENOMEM;
        }
        pl->v = v;
        pl->cap = cap;
    }
    s = strdup(text);
    if (s == NULL) {
        return OA_ENOMEM;
    }
    pl->v[pl->n++] = s;
    return 0;
}

/* Adds an address (4 or 16 bytes, network order) and port as text. */
static int peers_add_addr(peer_list *pl, const uint8_t *addr, size_t alen, uint16_t port)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t zero[16] = {0};
    char ip[INET6_ADDRSTRLEN];
    char text[PEER_TEXT_MAX];

    if (alen == 16 && memcmp(addr, mapped, sizeof(mapped)) == 0) {
        addr += 12;
        alen = 4;
    }
    if (port == 0 || memcmp(addr, zero, alen) == 0) {
        return 0;
    }
    if (alen == 4) {
        inet_ntop(AF_INET, addr, ip, sizeof(ip));
        snprintf(text, sizeof(text), "%s:%u", ip, (unsigned)port);
    } else {
        inet_ntop(AF_INET6, addr, ip, sizeof(ip));
        snprintf(text, sizeof(text), "[%s]:%u", ip, (unsigned)port);
    }
    return peers_add(pl, text);
}

/* Reads compact entries of width bytes (4 or 16 address bytes, 2 port). */
static int peers_compact(peer_list *pl, const uint8_t *p, size_t n, size_t width,
                         const char *key, char *err, size_t errlen)
{
    size_t i;

    if (n % width != 0) {
        return tfail(err, errlen, OA_EPROTO,
                     "the compact \"%s\" string is %zu bytes, not a multiple of %zu", key, n,
                     width);
    }
    for (i = 0; i + width <= n && pl->seen < OA_TRACKER_MAX_PEERS; i += width, pl->seen++) {
        uint16_t port = (uint16_t)((p[i + width - 2] << 8) | p[i + width - 1]);
        int rc = peers_add_addr(pl, p + i, width - 2, port);

        if (rc != 0) {
            return tfail(err, errlen, rc, "out of memory reading peers");
        }
    }
    return 0;
}

/* Reads the dictionary form: a list of {ip, port[, peer id]}. Entries
 * without a numeric address or a valid port are skipped. */
static int peers_dicts(peer_list *pl, const oa_benc_node *list, char *err, size_t errlen)
{
    oa_benc_iter it;
    const oa_benc_node *item;

    oa_benc_iter_init(&it, list);
    while (pl->seen < OA_TRACKER_MAX_PEERS && oa_benc_iter_next(&it, NULL, &item)) {
        const uint8_t *ip;
        size_t iplen;
        int64_t port;
        char text[INET6_ADDRSTRLEN];
        uint8_t addr[16];
        int rc = 0;

        pl->seen++;
        if (oa_benc_dict_bytes(item, "ip", &ip, &iplen) != 0 || iplen == 0 ||
            iplen >= sizeof(text) || oa_benc_dict_int(item, "port", &port) != 0 || port <= 0 ||
            port > 65535) {
            continue;
        }
        memcpy(text, ip, iplen);
        text[iplen] = '\0';
        if (inet_pton(AF_INET, text, addr) == 1) {
            rc = peers_add_addr(pl, addr, 4, (uint16_t)port);
        } else if (inet_pton(AF_INET6, text, addr) == 1) {
            rc = peers_add_addr(pl, addr, 16, (uint16_t)port);
        }
        if (rc != 0) {
            return tfail(err, errlen, rc, "out of memory reading peers");
        }
    }
    return 0;
}

typedef struct dedup_key {
    const char *s;
    size_t index;
} dedup_key;

static int dedup_cmp(const void *a, const void *b)
{
    const dedup_key *x = a;
    const dedup_key *y = b;
    int c = strcmp(x->s, y->s);

    if (c != 0) {
        return c;
    }
    return x->index < y->index ? -1 : (x->index > y->index ? 1 : 0);
}

/* Drops later copies of a peer, keeping the order of first appearance. */
static int peers_dedup(peer_list *pl)
{
    dedup_key *keys;
    const char *run;
    size_t i;
    size_t w = 0;

    if (pl->n < 2) {
        return 0;
    }
    keys = malloc(pl->n * sizeof(*keys));
    if (keys == NULL) {
        return OA_ENOMEM;
    }
    for (i = 0; i < pl->n; i++) {
        keys[i].s = pl->v[i];
        keys[i].index = i;
    }
    qsort(keys, pl->n, sizeof(*keys), dedup_cmp);
    /* Equal texts sort together, first appearance first; that one stays. */
    run = keys[0].s;
    for (i = 1; i < pl->n; i++) {
        if (strcmp(keys[i].s, run) == 0) {
            free(pl->v[keys[i].index]);
            pl->v[keys[i].index] = NULL;
        } else {
            run = keys[i].s;
        }
    }
    free(keys);
    for (i = 0; i < pl->n; i++) {
        if (pl->v[i] != NULL) {
            pl->v[w++] = pl->v[i];
        }
    }
    pl->n = w;
    return 0;
}

void oa_tracker_reply_free(oa_tracker_reply *r)
{
    size_t i;

    if (r == NULL) {
        return;
    }
    for (i = 0; i < r->peer_count; i++) {
        free(r->peers[i]);
    }
    free(r->peers);
    free(r->warning);
    free(r->tracker_id);
    free(r);
}

/* Fills the fields of r other than peers from the reply dictionary. */
static int read_fields(oa_tracker_reply *r, const oa_benc_node *root)
{
    const uint8_t *p;
    size_t n;
    int64_t v;

    r->interval = OA_TRACKER_DEFAULT_INTERVAL;
    r->complete = -1;
    r->incomplete = -1;
    if (oa_benc_dict_int(root, "interval", &v) == 0) {
        r->interval = clamp_interval(v, OA_TRACKER_DEFAULT_INTERVAL);
    }
    if (oa_benc_dict_int(root, "min interval", &v) == 0) {
        r->min_interval = clamp_interval(v, 0);
    }
    if (oa_benc_dict_int(root, "complete", &v) == 0 && v >= 0) {
        r->complete = v;
    }
    if (oa_benc_dict_int(root, "incomplete", &v) == 0 && v >= 0) {
        r->incomplete = v;
    }
    if (oa_benc_dict_bytes(root, "warning message", &p, &n) == 0) {
        r->warning = text_dup(p, n);
        if (r->warning == NULL) {
            return OA_ENOMEM;
        }
    }
    if (oa_benc_dict_bytes(root, "tracker id", &p, &n) == 0 && n > 0 &&
        n <= OA_TRACKER_MAX_TEXT) {
        r->tracker_id = malloc(n + 1);
        if (r->tracker_id == NULL) {
            return OA_ENOMEM;
        }
        memcpy(r->tracker_id, p, n);
        r->tracker_id[n] = '\0';
        r->tracker_id_len = n;
    }
    return 0;
}

int oa_tracker_parse_announce(const void *body, size_t len, oa_tracker_reply **out, char *err,
                              size_t errlen)
{
    oa_benc_doc *doc = NULL;
    const oa_benc_node *root;
    const oa_benc_node *peers;
    oa_tracker_reply *r;
    peer_list pl = {0};
    const uint8_t *p;
    size_t n;
    int rc;

    if (out == NULL) {
        return tfail(err, errlen, OA_EINVAL, "no place for the reply");
    }
    *out = NULL;
    rc = decode_reply(body, len, &doc, err, errlen);
    if (rc != 0) {
        return rc;
    }
    root = oa_benc_doc_root(doc);
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        oa_benc_doc_free(doc);
        return tfail(err, errlen, OA_ENOMEM, "out of memory");
    }
    rc = read_fields(r, root);
    if (rc != 0) {
        rc = tfail(err, errlen, rc, "out of memory");
        goto fail;
    }
    peers = oa_benc_dict_get(root, "peers");
    if (oa_benc_bytes(peers, &p, &n) == 0) {
        rc = peers_compact(&pl, p, n, 6, "peers", err, errlen);
    } else if (oa_benc_type_of(peers) == OA_BENC_LIST) {
        rc = peers_dicts(&pl, peers, err, errlen);
    }
    if (rc == 0 && oa_benc_dict_bytes(root, "peers6", &p, &n) == 0) {
        rc = peers_compact(&pl, p, n, 18, "peers6", err, errlen);
    }
    if (rc == 0 && peers_dedup(&pl) != 0) {
        rc = tfail(err, errlen, OA_ENOMEM, "out of memory");
    }
    r->peers = pl.v;
    r->peer_count = pl.n;
    if (rc != 0) {
        goto fail;
    }
    oa_benc_doc_free(doc);
    *out = r;
    return 0;

fail:
    oa_benc_doc_free(doc);
    oa_tracker_reply_free(r);
    return rc;
}

void oa_tracker_scrape_reply_free(oa_tracker_scrape_reply *r)
{
    if (r == NULL) {
        return;
    }
    free(r->files);
    free(r);
}

static int64_t count_field(const oa_benc_node *d, const char *key)
{
    int64_t v;

    if (oa_benc_dict_int(d, key, &v) != 0 || v < 0) {
        return -1;
    }
    return v;
}

int oa_tracker_parse_scrape(const void *body, size_t len, oa_tracker_scrape_reply **out,
                            char *err, size_t errlen)
{
    oa_benc_doc *doc = NULL;
    const oa_benc_node *root;
    const oa_benc_node *files;
    const oa_benc_node *flags;
    const oa_benc_node *key;
    const oa_benc_node *val;
    oa_tracker_scrape_reply *r;
    oa_benc_iter it;
    int64_t v;
    int rc;

    if (out == NULL) {
        return tfail(err, errlen, OA_EINVAL, "no place for the reply");
    }
    *out = NULL;
    rc = decode_reply(body, len, &doc, err, errlen);
    if (rc != 0) {
        return rc;
    }
    root = oa_benc_doc_root(doc);
    files = oa_benc_dict_dict(root, "files");
    if (files == NULL) {
        oa_benc_doc_free(doc);
        return tfail(err, errlen, OA_EPROTO, "the scrape reply has no \"files\" dictionary");
    }
    r = calloc(1, sizeof(*r));
    if (r != NULL && oa_benc_count(files) > 0) {
        r->files = calloc(oa_benc_count(files), sizeof(*r->files));
    }
    if (r == NULL || (r->files == NULL && oa_benc_count(files) > 0)) {
        oa_tracker_scrape_reply_free(r);
        oa_benc_doc_free(doc);
        return tfail(err, errlen, OA_ENOMEM, "out of memory");
    }
    oa_benc_iter_init(&it, files);
    while (oa_benc_iter_next(&it, &key, &val)) {
        const uint8_t *k;
        size_t klen;
        oa_tracker_scrape_file *f;

        if (oa_benc_bytes(key, &k, &klen) != 0 || klen != OA_TRACKER_ID_LEN ||
            oa_benc_type_of(val) != OA_BENC_DICT) {
            continue;
        }
        f = &r->files[r->count++];
        memcpy(f->info_hash, k, OA_TRACKER_ID_LEN);
        f->complete = count_field(val, "complete");
        f->downloaded = count_field(val, "downloaded");
        f->incomplete = count_field(val, "incomplete");
    }
    flags = oa_benc_dict_dict(root, "flags");
    if (oa_benc_dict_int(flags, "min_request_interval", &v) == 0) {
        r->min_request_interval = clamp_interval(v, 0);
    }
    oa_benc_doc_free(doc);
    *out = r;
    return 0;
}

const oa_tracker_scrape_file *oa_tracker_scrape_find(const oa_tracker_scrape_reply *r,
                                                     const uint8_t info_hash[OA_TRACKER_ID_LEN])
{
    size_t i;

    if (r == NULL || info_hash == NULL) {
        return NULL;
    }
    for (i = 0; i < r->count; i++) {
        if (memcmp(r->files[i].info_hash, info_hash, OA_TRACKER_ID_LEN) == 0) {
            return &r->files[i];
        }
    }
    return NULL;
}

/*
 * BEP 11 ut_pex: the message codec and the per-peer diff tracker.
 */
#include "pex.h"

#include "bencode.h"
#include "swarm_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V4_ENTRY 6
#define V6_ENTRY 18

/* Error sentences start with "ut_pex:". */
#define pfail(err, errlen, code, ...) oa_swarm_fail((err), (errlen), (code), "ut_pex: ", __VA_ARGS__)


int oa_pex_peer_set(oa_pex_peer *p, const uint8_t *ip, size_t ip_len, uint16_t port,
                    uint8_t flags)
{
    if (p == NULL || ip == NULL || (ip_len != 4 && ip_len != 16) || port == 0) {
        return OA_EINVAL;
    }
    memset(p, 0, sizeof(*p));
    memcpy(p->ip, ip, ip_len);
    p->v6 = ip_len == 16;
    p->port = port;
    p->flags = flags;
    return 0;
}

int oa_pex_peer_cmp(const oa_pex_peer *a, const oa_pex_peer *b)
{
    int c;

    if ((a->v6 != 0) != (b->v6 != 0)) {
        return a->v6 != 0 ? 1 : -1;
    }
    c = memcmp(a->ip, b->ip, a->v6 != 0 ? 16 : 4);
    if (c != 0) {
        return c;
    }
    if (a->port != b->port) {
        return a->port < b->port ? -1 : 1;
    }
    return 0;
}

/* ---- codec -------------------------------------------------------------- */

/* Appends the compact form of the peers of one family to dst. */
static size_t put_compact(uint8_t *dst, const oa_pex_peer *peers, size_t n, int v6)
{
    size_t o = 0;
    size_t i;
    size_t iplen = v6 ? 16 : 4;

    for (i = 0; i < n; i++) {
        if ((peers[i].v6 != 0) != v6) {
            continue;
        }
        memcpy(dst + o, peers[i].ip, iplen);
        dst[o + iplen] = (uint8_t)(peers[i].port >> 8);
        dst[o + iplen + 1] = (uint8_t)(peers[i].port & 0xFF);
        o += iplen + 2;
    }
    return o;
}

static size_t put_flags(uint8_t *dst, const oa_pex_peer *peers, size_t n, int v6)
{
    size_t o = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if ((peers[i].v6 != 0) == v6) {
            dst[o++] = peers[i].flags;
        }
    }
    return o;
}

int oa_pex_encode(const oa_pex_msg *msg, uint8_t **out, size_t *len)
{
    /* The largest field: 50 IPv6 entries. */
    uint8_t tmp[OA_PEX_MAX_ADDED * V6_ENTRY];
    oa_benc_writer w;
    size_t i;
    size_t n;

    if (out != NULL) {
        *out = NULL;
    }
    if (msg == NULL || out == NULL || len == NULL) {
        return OA_EINVAL;
    }
    if (msg->added_count > OA_PEX_MAX_ADDED || msg->dropped_count > OA_PEX_MAX_DROPPED) {
        return OA_ERANGE;
    }
    for (i = 0; i < msg->added_count; i++) {
        if (msg->added[i].port == 0) {
            return OA_EINVAL;
        }
    }
    for (i = 0; i < msg->dropped_count; i++) {
        if (msg->dropped[i].port == 0) {
            return OA_EINVAL;
        }
    }
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "added");
    n = put_compact(tmp, msg->added, msg->added_count, 0);
    oa_benc_put_bytes(&w, tmp, n);
    oa_benc_put_str(&w, "added.f");
    n = put_flags(tmp, msg->added, msg->added_count, 0);
    oa_benc_put_bytes(&w, tmp, n);
    oa_benc_put_str(&w, "added6");
    n = put_compact(tmp, msg->added, msg->added_count, 1);
    oa_benc_put_bytes(&w, tmp, n);
    oa_benc_put_str(&w, "added6.f");
    n = put_flags(tmp, msg->added, msg->added_count, 1);
    oa_benc_put_bytes(&w, tmp, n);
    oa_benc_put_str(&w, "dropped");
    n = put_compact(tmp, msg->dropped, msg->dropped_count, 0);
    oa_benc_put_bytes(&w, tmp, n);
    oa_benc_put_str(&w, "dropped6");
    n = put_compact(tmp, msg->dropped, msg->dropped_count, 1);
    oa_benc_put_bytes(&w, tmp, n);
    oa_benc_end(&w);
    return oa_benc_writer_finish(&w, out, len);
}

/* One compact list of a message being decoded. */
typedef struct pex_field {
    const char *key;
    const char *flags_key; /* NULL for dropped lists */
    size_t entry;          /* 6 or 18 */
    unsigned bad;          /* OA_PEX_BAD_* of the list */
    unsigned bad_flags;
    const uint8_t *p;      /* the entries, once checked */
    size_t n;              /* entries */
    const uint8_t *f;      /* n flag bytes, or NULL */
} pex_field;

/* Notes a field left out; the first one's sentence goes into err. */
static void ignore_field(oa_pex_msg *msg, unsigned bit, char *err, size_t errlen,
                         const char *key, const char *why)
{
    if (msg->ignored == 0) {
        pfail(err, errlen, 0, "%s %s; ignored", key, why);
    }
    msg->ignored |= bit;
}

static void read_field(const oa_benc_node *root, pex_field *fl, oa_pex_msg *msg, char *err,
                       size_t errlen)
{
    const oa_benc_node *node = oa_benc_dict_get(root, fl->key);
    const uint8_t *p;
    size_t len;
    char why[96];

    if (node == NULL) {
        return;
    }
    if (oa_benc_bytes(node, &p, &len) != 0) {
        ignore_field(msg, fl->bad, err, errlen, fl->key, "is not a string");
        return;
    }
    if (len % fl->entry != 0) {
        snprintf(why, sizeof(why), "is %zu bytes, not a multiple of %zu", len, fl->entry);
        ignore_field(msg, fl->bad, err, errlen, fl->key, why);
        return;
    }
    fl->p = p;
    fl->n = len / fl->entry;
    if (fl->flags_key == NULL) {
        return;
    }
    node = oa_benc_dict_get(root, fl->flags_key);
    if (node == NULL) {
        return;
    }
    if (oa_benc_bytes(node, &p, &len) != 0 || len != fl->n) {
        snprintf(why, sizeof(why), "does not hold one byte for each of the %zu peers", fl->n);
        ignore_field(msg, fl->bad_flags, err, errlen, fl->flags_key, why);
        return;
    }
    fl->f = p;
}

/* Appends the entries of a field to a list of at most cap. */
static void take_entries(const pex_field *fl, oa_pex_peer *list, size_t *count, size_t cap,
                         oa_pex_msg *msg)
{
    size_t iplen = fl->entry - 2;
    size_t i;

    for (i = 0; i < fl->n; i++) {
        const uint8_t *e = fl->p + i * fl->entry;
        uint16_t port = (uint16_t)((e[iplen] << 8) | e[iplen + 1]);

        if (port == 0) {
            msg->invalid++;
            continue;
        }
        if (*count == cap) {
            msg->truncated++;
            continue;
        }
        (void)oa_pex_peer_set(&list[*count], e, iplen, port, fl->f != NULL ? fl->f[i] : 0);
        (*count)++;
    }
}

int oa_pex_decode(const uint8_t *payload, size_t len, oa_pex_msg *msg, char *err, size_t errlen)
{
    pex_field fields[4] = {
        {"added", "added.f", V4_ENTRY, OA_PEX_BAD_ADDED, OA_PEX_BAD_ADDED_F, NULL, 0, NULL},
        {"added6", "added6.f", V6_ENTRY, OA_PEX_BAD_ADDED6, OA_PEX_BAD_ADDED6_F, NULL, 0, NULL},
        {"dropped", NULL, V4_ENTRY, OA_PEX_BAD_DROPPED, 0, NULL, 0, NULL},
        {"dropped6", NULL, V6_ENTRY, OA_PEX_BAD_DROPPED6, 0, NULL, 0, NULL},
    };
    oa_benc_opts opts;
    oa_benc_doc *doc = NULL;
    const oa_benc_node *root;
    char why[160];
    size_t total = 0;
    size_t i;
    int rc;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (msg == NULL || (payload == NULL && len > 0)) {
        return OA_EINVAL;
    }
    memset(msg, 0, sizeof(*msg));
    memset(&opts, 0, sizeof(opts));
    opts.max_depth = 4;
    opts.max_nodes = 256;
    rc = oa_benc_decode(payload, len, &opts, &doc, why, sizeof(why));
    if (rc != 0) {
        return pfail(err, errlen, rc == OA_ENOMEM || rc == OA_ERANGE ? rc : OA_EPROTO, "%s",
                     why);
    }
    root = oa_benc_doc_root(doc);
    if (oa_benc_type_of(root) != OA_BENC_DICT) {
        oa_benc_doc_free(doc);
        return pfail(err, errlen, OA_EPROTO, "the message is not a dictionary");
    }
    for (i = 0; i < 4; i++) {
        read_field(root, &fields[i], msg, err, errlen);
        total += fields[i].n;
    }
    if (total > OA_PEX_REFUSE_ENTRIES) {
        oa_benc_doc_free(doc);
        memset(msg, 0, sizeof(*msg));
        return pfail(err, errlen, OA_ERANGE, "%zu peers in one message, more than %d", total,
                     OA_PEX_REFUSE_ENTRIES);
    }
    take_entries(&fields[0], msg->added, &msg->added_count, OA_PEX_MAX_ADDED, msg);
    take_entries(&fields[1], msg->added, &msg->added_count, OA_PEX_MAX_ADDED, msg);
    take_entries(&fields[2], msg->dropped, &msg->dropped_count, OA_PEX_MAX_DROPPED, msg);
    take_entries(&fields[3], msg->dropped, &msg->dropped_count, OA_PEX_MAX_DROPPED, msg);
    oa_benc_doc_free(doc);
    return 0;
}

/* ---- the per-peer tracker ----------------------------------------------- */

void oa_pex_tracker_init(oa_pex_tracker *t)
{
    memset(t, 0, sizeof(*t));
}

void oa_pex_tracker_free(oa_pex_tracker *t)
{
    if (t == NULL) {
        return;
    }
    free(t->told);
    memset(t, 0, sizeof(*t));
}

static int cmp_peer(const void *a, const void *b)
{
    return oa_pex_peer_cmp(a, b);
}

/* Copies the usable peers, sorted and without duplicates, into a new
 * array; *n is how many. */
static oa_pex_peer *sorted_set(const oa_pex_peer *peers, size_t count, size_t *n)
{
    oa_pex_peer *s = malloc((count > 0 ? count : 1) * sizeof(*s));
    size_t k = 0;
    size_t i;

    if (s == NULL) {
        return NULL;
    }
    for (i = 0; i < count; i++) {
        if (peers[i].port != 0) {
            s[k] = peers[i];
            s[k].v6 = peers[i].v6 != 0;
            if (!s[k].v6) {
                memset(s[k].ip + 4, 0, 12);
            }
            k++;
        }
    }
    qsort(s, k, sizeof(*s), cmp_peer);
    *n = 0;
    for (i = 0; i < k; i++) {
        if (*n == 0 || oa_pex_peer_cmp(&s[*n - 1], &s[i]) != 0) {
            s[(*n)++] = s[i];
        }
    }
    return s;
}

int oa_pex_tracker_next(oa_pex_tracker *t, const oa_pex_peer *peers, size_t count,
                        uint64_t now_ms, oa_pex_msg *out)
{
    oa_pex_peer *cur;
    oa_pex_peer *told;
    size_t ncur = 0;
    size_t a = 0;
    size_t b = 0;
    size_t k = 0;

    if (t == NULL || out == NULL || (peers == NULL && count > 0)) {
        return OA_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (t->sent && now_ms >= t->last_sent_ms && now_ms - t->last_sent_ms < OA_PEX_INTERVAL_MS) {
        return 0;
    }
    cur = sorted_set(peers, count, &ncur);
    told = cur != NULL ? malloc((t->told_count + ncur + 1) * sizeof(*told)) : NULL;
    if (told == NULL) {
        free(cur);
        return OA_ENOMEM;
    }
    /* Walk both sorted lists: in cur only is news, in told only is gone. */
    while (a < t->told_count || b < ncur) {
        int c = a == t->told_count ? 1 : b == ncur ? -1 : oa_pex_peer_cmp(&t->told[a], &cur[b]);

        if (c == 0) {
            told[k++] = t->told[a++];
            b++;
        } else if (c < 0) {
            if (out->dropped_count < OA_PEX_MAX_DROPPED) {
                out->dropped[out->dropped_count] = t->told[a];
                out->dropped[out->dropped_count].flags = 0;
                out->dropped_count++;
            } else {
                told[k++] = t->told[a]; /* still told; dropped next time */
            }
            a++;
        } else {
            if (out->added_count < OA_PEX_MAX_ADDED) {
                out->added[out->added_count++] = cur[b];
                told[k++] = cur[b];
            }
            b++;
        }
    }
    free(cur);
    if (out->added_count == 0 && out->dropped_count == 0) {
        free(told);
        return 0;
    }
    free(t->told);
    t->told = told;
    t->told_count = k;
    t->told_cap = t->told_count;
    t->last_sent_ms = now_ms;
    t->sent = 1;
    return 1;
}

int oa_pex_tracker_received(oa_pex_tracker *t, uint64_t now_ms)
{
    if (t == NULL) {
        return OA_EINVAL;
    }
    if (t->received && now_ms >= t->last_received_ms &&
        now_ms - t->last_received_ms < OA_PEX_MIN_RECEIVE_MS) {
        return OA_EBUSY;
    }
    t->received = 1;
    t->last_received_ms = now_ms;
    return 0;
}

/*
 * Bencode writer: messages built value by value, and canonical encoding of
 * decoded trees (BEP 3). Uses only the public tree accessors.
 */
#include "bencode.h"

#include <openace/sdk.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void oa_benc_writer_init(oa_benc_writer *w)
{
    memset(w, 0, sizeof(*w));
}

void oa_benc_writer_free(oa_benc_writer *w)
{
    free(w->data);
    memset(w, 0, sizeof(*w));
}

static void w_fail(oa_benc_writer *w, int code)
{
    if (w->err == 0) {
        w->err = code;
    }
}

static void w_append(oa_benc_writer *w, const void *p, size_t n)
{
    if (w->err != 0 || n == 0) {
        return;
    }
    if (n > SIZE_MAX - w->len) {
        w_fail(w, OA_ENOMEM);
        return;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap > 0 ? w->cap : 256;
        uint8_t *d;

        while (cap < w->len + n) {
            if (cap > SIZE_MAX / 2) {
                cap = w->len + n;
                break;
            }
            cap *= 2;
        }
        d = realloc(w->data, cap);
        if (d == NULL) {
            w_fail(w, OA_ENOMEM);
            return;
        }
        w->data = d;
        w->cap = cap;
    }
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

/* Accounts for one value about to be written at the current level. Returns
 * 1 when it is a dictionary key, 0 for a value, -1 when the writer failed. */
static int w_value(oa_benc_writer *w, int is_bytes)
{
    if (w->err != 0) {
        return -1;
    }
    if (w->depth == 0) {
        if (w->len > 0) {
            w_fail(w, OA_EINVAL); /* a second top-level value */
            return -1;
        }
        return 0;
    }
    if (!w->open[w->depth - 1].dict) {
        return 0;
    }
    if (w->open[w->depth - 1].want_key) {
        if (!is_bytes) {
            w_fail(w, OA_EINVAL); /* keys are byte strings */
            return -1;
        }
        w->open[w->depth - 1].want_key = 0;
        return 1;
    }
    w->open[w->depth - 1].want_key = 1;
    return 0;
}

static void w_begin(oa_benc_writer *w, int dict)
{
    if (w_value(w, 0) < 0) {
        return;
    }
    if (w->depth >= OA_BENC_WRITER_MAX_DEPTH) {
        w_fail(w, OA_ERANGE);
        return;
    }
    w_append(w, dict ? "d" : "l", 1);
    memset(&w->open[w->depth], 0, sizeof(w->open[0]));
    w->open[w->depth].dict = (uint8_t)dict;
    w->open[w->depth].want_key = (uint8_t)dict;
    w->depth++;
}

void oa_benc_dict_begin(oa_benc_writer *w)
{
    w_begin(w, 1);
}

void oa_benc_list_begin(oa_benc_writer *w)
{
    w_begin(w, 0);
}

void oa_benc_end(oa_benc_writer *w)
{
    if (w->err != 0) {
        return;
    }
    if (w->depth == 0 || (w->open[w->depth - 1].dict && !w->open[w->depth - 1].want_key)) {
        w_fail(w, OA_EINVAL); /* nothing open, or a key without its value */
        return;
    }
    w_append(w, "e", 1);
    w->depth--;
}

static void w_int(oa_benc_writer *w, int64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "i%" PRId64 "e", v);

    w_append(w, tmp, (size_t)n);
}

static void w_bytes(oa_benc_writer *w, const void *p, size_t len)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%zu:", len);

    w_append(w, tmp, (size_t)n);
    w_append(w, p, len);
}

typedef struct pair {
    const oa_benc_node *key;
    const oa_benc_node *val;
} pair;

/* Compares two byte strings as BEP 3 orders keys: raw bytes, a prefix
 * first. */
static int bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;

    if (c != 0) {
        return c;
    }
    if (alen == blen) {
        return 0;
    }
    return alen < blen ? -1 : 1;
}

static int key_cmp(const oa_benc_node *a, const oa_benc_node *b)
{
    const uint8_t *pa;
    const uint8_t *pb;
    size_t na;
    size_t nb;

    oa_benc_bytes(a, &pa, &na);
    oa_benc_bytes(b, &pb, &nb);
    return bytes_cmp(pa, na, pb, nb);
}

static int pair_cmp(const void *a, const void *b)
{
    return key_cmp(((const pair *)a)->key, ((const pair *)b)->key);
}

void oa_benc_put_int(oa_benc_writer *w, int64_t v)
{
    if (w_value(w, 0) < 0) {
        return;
    }
    w_int(w, v);
}

void oa_benc_put_bytes(oa_benc_writer *w, const void *p, size_t len)
{
    int key = w_value(w, 1);

    if (key < 0) {
        return;
    }
    if (key == 1) {
        oa_benc_wframe *f = &w->open[w->depth - 1];

        if (f->has_key && bytes_cmp(w->data + f->key_off, f->key_len, p, len) >= 0) {
            w_fail(w, OA_EINVAL); /* keys out of order or repeated */
            return;
        }
        w_bytes(w, p, len);
        f->has_key = 1;
        f->key_off = w->len - len;
        f->key_len = len;
        return;
    }
    w_bytes(w, p, len);
}

void oa_benc_put_str(oa_benc_writer *w, const char *s)
{
    oa_benc_put_bytes(w, s, strlen(s));
}

void oa_benc_put_raw(oa_benc_writer *w, const void *p, size_t len)
{
    if (w_value(w, 0) < 0) {
        return;
    }
    w_append(w, p, len);
}

/* Writes a dictionary's pairs sorted by key. */
static void w_dict(oa_benc_writer *w, const oa_benc_node *node);

/* Writes node canonically. Recursion depth is bounded by the decoder's
 * depth ceiling. */
static void w_node(oa_benc_writer *w, const oa_benc_node *node)
{
    oa_benc_iter it;
    const oa_benc_node *v;
    const uint8_t *p;
    size_t n;
    int64_t i;

    switch (oa_benc_type_of(node)) {
    case OA_BENC_INT:
        oa_benc_int(node, &i);
        w_int(w, i);
        return;
    case OA_BENC_BYTES:
        oa_benc_bytes(node, &p, &n);
        w_bytes(w, p, n);
        return;
    case OA_BENC_LIST:
        w_append(w, "l", 1);
        oa_benc_iter_init(&it, node);
        while (w->err == 0 && oa_benc_iter_next(&it, NULL, &v)) {
            w_node(w, v);
        }
        w_append(w, "e", 1);
        return;
    case OA_BENC_DICT:
        w_dict(w, node);
        return;
    }
}

static void w_dict(oa_benc_writer *w, const oa_benc_node *node)
{
    oa_benc_iter it;
    const oa_benc_node *k;
    const oa_benc_node *v;
    size_t count = oa_benc_count(node);
    pair *pairs = malloc((count > 0 ? count : 1) * sizeof(*pairs));
    size_t i = 0;

    if (pairs == NULL) {
        w_fail(w, OA_ENOMEM);
        return;
    }
    oa_benc_iter_init(&it, node);
    while (oa_benc_iter_next(&it, &k, &v)) {
        pairs[i].key = k;
        pairs[i].val = v;
        i++;
    }
    qsort(pairs, count, sizeof(*pairs), pair_cmp);
    w_append(w, "d", 1);
    for (i = 0; i < count && w->err == 0; i++) {
        if (i > 0 && key_cmp(pairs[i - 1].key, pairs[i].key) == 0) {
            w_fail(w, OA_EINVAL); /* a duplicate key has no canonical form */
            break;
        }
        w_node(w, pairs[i].key);
        w_node(w, pairs[i].val);
    }
    w_append(w, "e", 1);
    free(pairs);
}

void oa_benc_put_node(oa_benc_writer *w, const oa_benc_node *node)
{
    const uint8_t *p;
    size_t n;

    if (node == NULL) {
        w_fail(w, OA_EINVAL);
        return;
    }
    if (oa_benc_bytes(node, &p, &n) == 0) {
        oa_benc_put_bytes(w, p, n); /* may be a key */
        return;
    }
    if (w_value(w, 0) < 0) {
        return;
    }
    w_node(w, node);
}

int oa_benc_writer_finish(oa_benc_writer *w, uint8_t **out, size_t *len)
{
    int rc = w->err;

    *out = NULL;
    *len = 0;
    if (rc == 0 && (w->depth != 0 || w->len == 0)) {
        rc = OA_EINVAL;
    }
    if (rc != 0) {
        oa_benc_writer_free(w);
        return rc;
    }
    *out = w->data;
    *len = w->len;
    w->data = NULL;
    oa_benc_writer_free(w);
    return 0;
}

int oa_benc_encode(const oa_benc_node *node, uint8_t **out, size_t *len)
{
    oa_benc_writer w;

    oa_benc_writer_init(&w);
    oa_benc_put_node(&w, node);
    return oa_benc_writer_finish(&w, out, len);
}

/*
 * Bencode decoder and tree accessors (BEP 3); the writer is in
 * bencode_write.c.
 *
 * The decoder walks the input once with an explicit stack (never the C
 * stack), appending nodes to one array in document order. A container's
 * children follow it in that array; each node knows how many nodes its
 * subtree holds (skip), so the next sibling is always node + skip.
 */
#include "bencode.h"

#include <openace/sdk.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct oa_benc_node {
    oa_benc_type type;
    const uint8_t *raw; /* first byte of the encoding, inside the document */
    size_t raw_len;     /* bytes of the whole encoding */
    size_t skip;        /* nodes in this subtree, this one included */
    size_t count;       /* list items, dictionary pairs, byte-string length */
    int64_t i;          /* integer value */
};

struct oa_benc_doc {
    uint8_t *base; /* the document's copy of the input (owned) */
    size_t len;
    size_t consumed;
    oa_benc_node *nodes; /* nodes[0] is the root (owned) */
    size_t n;
};

/* One open container while decoding. */
typedef struct frame {
    size_t node;     /* index of the container's node */
    size_t last_key; /* index of the previous key node, when has_key */
    int dict;
    int want_key;
    int has_key;
} frame;

typedef struct parser {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    unsigned max_depth;
    size_t max_nodes;
    int strict;
    oa_benc_node *nodes;
    size_t n;
    size_t cap;
    frame *stack;
    unsigned depth;
    char *err;
    size_t errlen;
} parser;

static int fail(parser *p, int code, const char *fmt, ...) OA_PRINTF(3, 4);

/* Writes "bencode: <message>" into the caller's error buffer. */
static int fail(parser *p, int code, const char *fmt, ...)
{
    va_list ap;
    int used;

    if (p->err == NULL || p->errlen == 0) {
        return code;
    }
    used = snprintf(p->err, p->errlen, "bencode: ");
    if (used < 0 || (size_t)used >= p->errlen) {
        return code;
    }
    va_start(ap, fmt);
    vsnprintf(p->err + used, p->errlen - (size_t)used, fmt, ap);
    va_end(ap);
    return code;
}

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static int truncated(parser *p)
{
    return fail(p, OA_EPROTO, "input ends in the middle of a value at offset %zu", p->len);
}

/* Appends a node and returns its index in *idx. */
static int add_node(parser *p, oa_benc_type type, size_t start, size_t *idx)
{
    oa_benc_node *nn;

    if (p->n >= p->max_nodes) {
        return fail(p, OA_ERANGE, "more than %zu values at offset %zu", p->max_nodes, start);
    }
    if (p->n == p->cap) {
        size_t cap = p->cap * 2;

        if (cap > p->max_nodes) {
            cap = p->max_nodes;
        }
        nn = realloc(p->nodes, cap * sizeof(*nn));
        if (nn == NULL) {
            return fail(p, OA_ENOMEM, "out of memory for %zu values at offset %zu", cap, start);
        }
        p->nodes = nn;
        p->cap = cap;
    }
    nn = &p->nodes[p->n];
    memset(nn, 0, sizeof(*nn));
    nn->type = type;
    nn->raw = p->buf + start;
    nn->skip = 1;
    *idx = p->n;
    p->n++;
    return 0;
}

/* Decodes i<digits>e at p->pos. */
static int parse_int(parser *p, size_t *idx)
{
    size_t start = p->pos;
    size_t i = start + 1;
    int neg = 0;
    uint64_t mag = 0;
    uint64_t limit = (uint64_t)INT64_MAX;
    int rc;

    if (i < p->len && p->buf[i] == '-') {
        neg = 1;
        limit = (uint64_t)INT64_MAX + 1;
        i++;
    }
    if (i >= p->len) {
        return truncated(p);
    }
    if (!is_digit(p->buf[i])) {
        if (p->buf[i] == 'e') {
            return fail(p, OA_EPROTO, "integer without digits at offset %zu", start);
        }
        return fail(p, OA_EPROTO, "unexpected byte 0x%02x in integer at offset %zu", p->buf[i], i);
    }
    if (p->buf[i] == '0' && i + 1 < p->len && is_digit(p->buf[i + 1])) {
        return fail(p, OA_EPROTO, "integer with leading zero at offset %zu", start);
    }
    if (p->buf[i] == '0' && neg) {
        return fail(p, OA_EPROTO, "integer -0 at offset %zu", start);
    }
    while (i < p->len && is_digit(p->buf[i])) {
        uint64_t d = (uint64_t)(p->buf[i] - '0');

        if (mag > (limit - d) / 10) {
            return fail(p, OA_ERANGE, "integer does not fit in 64 bits at offset %zu", start);
        }
        mag = mag * 10 + d;
        i++;
    }
    if (i >= p->len) {
        return truncated(p);
    }
    if (p->buf[i] != 'e') {
        return fail(p, OA_EPROTO, "unexpected byte 0x%02x in integer at offset %zu", p->buf[i], i);
    }
    rc = add_node(p, OA_BENC_INT, start, idx);
    if (rc != 0) {
        return rc;
    }
    if (neg) {
        /* mag is at most 2^63, which only INT64_MIN represents. */
        p->nodes[*idx].i = mag == limit ? INT64_MIN : -(int64_t)mag;
    } else {
        p->nodes[*idx].i = (int64_t)mag;
    }
    p->nodes[*idx].raw_len = i + 1 - start;
    p->pos = i + 1;
    return 0;
}

/* Decodes <length>:<bytes> at p->pos. The length is checked against the
 * bytes left before anything is allocated. */
static int parse_bytes(parser *p, size_t *idx)
{
    size_t start = p->pos;
    size_t i = start;
    size_t n = 0;
    size_t left;
    int rc;

    if (p->buf[i] == '0' && i + 1 < p->len && is_digit(p->buf[i + 1])) {
        return fail(p, OA_EPROTO, "byte-string length with leading zero at offset %zu", start);
    }
    while (i < p->len && is_digit(p->buf[i])) {
        size_t d = (size_t)(p->buf[i] - '0');

        /* n stays at most len, so it never overflows. */
        if (n > p->len / 10 || d > p->len - n * 10) {
            return fail(p, OA_EPROTO,
                        "byte string at offset %zu is longer than the %zu bytes of input", start,
                        p->len);
        }
        n = n * 10 + d;
        i++;
    }
    if (i >= p->len) {
        return truncated(p);
    }
    if (p->buf[i] != ':') {
        return fail(p, OA_EPROTO, "expected ':' after byte-string length at offset %zu", i);
    }
    i++;
    left = p->len - i;
    if (n > left) {
        return fail(p, OA_EPROTO,
                    "byte string of %zu bytes at offset %zu runs past the end of the input "
                    "(%zu bytes left)",
                    n, start, left);
    }
    rc = add_node(p, OA_BENC_BYTES, start, idx);
    if (rc != 0) {
        return rc;
    }
    p->nodes[*idx].count = n;
    p->nodes[*idx].raw_len = i + n - start;
    p->pos = i + n;
    return 0;
}

static int key_cmp(const oa_benc_node *a, const oa_benc_node *b)
{
    const uint8_t *pa = a->raw + (a->raw_len - a->count);
    const uint8_t *pb = b->raw + (b->raw_len - b->count);
    size_t n = a->count < b->count ? a->count : b->count;
    int c = n > 0 ? memcmp(pa, pb, n) : 0;

    if (c != 0) {
        return c;
    }
    if (a->count == b->count) {
        return 0;
    }
    return a->count < b->count ? -1 : 1;
}

/* A value at node index idx is complete: account for it in its parent. */
static int value_done(parser *p, size_t idx)
{
    frame *f;

    if (p->depth == 0) {
        return 0;
    }
    f = &p->stack[p->depth - 1];
    if (!f->dict) {
        p->nodes[f->node].count++;
        return 0;
    }
    if (!f->want_key) {
        f->want_key = 1;
        p->nodes[f->node].count++;
        return 0;
    }
    if (p->strict && f->has_key) {
        int c = key_cmp(&p->nodes[f->last_key], &p->nodes[idx]);

        if (c == 0) {
            return fail(p, OA_EPROTO, "duplicate dictionary key at offset %zu",
                        (size_t)(p->nodes[idx].raw - p->buf));
        }
        if (c > 0) {
            return fail(p, OA_EPROTO, "dictionary key out of order at offset %zu",
                        (size_t)(p->nodes[idx].raw - p->buf));
        }
    }
    f->last_key = idx;
    f->has_key = 1;
    f->want_key = 0;
    return 0;
}

static int open_container(parser *p, oa_benc_type type)
{
    size_t idx;
    frame *f;
    int rc;

    if (p->depth >= p->max_depth) {
        return fail(p, OA_ERANGE, "nesting deeper than %u levels at offset %zu", p->max_depth,
                    p->pos);
    }
    rc = add_node(p, type, p->pos, &idx);
    if (rc != 0) {
        return rc;
    }
    f = &p->stack[p->depth];
    memset(f, 0, sizeof(*f));
    f->node = idx;
    f->dict = type == OA_BENC_DICT;
    f->want_key = f->dict;
    p->depth++;
    p->pos++;
    return 0;
}

static int close_container(parser *p, size_t *idx)
{
    frame *f = &p->stack[p->depth - 1];
    oa_benc_node *c = &p->nodes[f->node];

    if (f->dict && !f->want_key) {
        return fail(p, OA_EPROTO, "dictionary key has no value before 'e' at offset %zu", p->pos);
    }
    p->pos++;
    c->raw_len = (size_t)(p->buf + p->pos - c->raw);
    c->skip = p->n - f->node;
    *idx = f->node;
    p->depth--;
    return 0;
}

/* Decodes one value and everything inside it, starting at p->pos. */
static int parse(parser *p)
{
    int rc;

    do {
        uint8_t c;
        size_t idx = 0;
        const frame *top = p->depth > 0 ? &p->stack[p->depth - 1] : NULL;

        if (p->pos >= p->len) {
            return truncated(p);
        }
        c = p->buf[p->pos];
        if (top != NULL && top->dict && top->want_key && c != 'e' && !is_digit(c)) {
            return fail(p, OA_EPROTO, "dictionary key at offset %zu is not a byte string",
                        p->pos);
        }
        if (c == 'l' || c == 'd') {
            rc = open_container(p, c == 'l' ? OA_BENC_LIST : OA_BENC_DICT);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        if (c == 'e') {
            if (top == NULL) {
                return fail(p, OA_EPROTO, "unexpected 'e' at offset %zu", p->pos);
            }
            rc = close_container(p, &idx);
        } else if (c == 'i') {
            rc = parse_int(p, &idx);
        } else if (is_digit(c)) {
            rc = parse_bytes(p, &idx);
        } else {
            return fail(p, OA_EPROTO, "unexpected byte 0x%02x at offset %zu", c, p->pos);
        }
        if (rc != 0) {
            return rc;
        }
        rc = value_done(p, idx);
        if (rc != 0) {
            return rc;
        }
    } while (p->depth > 0);
    return 0;
}

int oa_benc_decode(const void *buf, size_t len, const oa_benc_opts *opts, oa_benc_doc **out,
                   char *err, size_t errlen)
{
    parser p;
    oa_benc_doc *doc;
    int rc;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (out == NULL) {
        return OA_EINVAL;
    }
    *out = NULL;
    memset(&p, 0, sizeof(p));
    p.err = err;
    p.errlen = errlen;
    if (buf == NULL && len > 0) {
        return fail(&p, OA_EINVAL, "no input buffer at offset 0");
    }
    if (len == 0) {
        return fail(&p, OA_EPROTO, "empty input at offset 0");
    }
    p.max_depth = opts != NULL && opts->max_depth > 0 ? opts->max_depth : OA_BENC_DEFAULT_MAX_DEPTH;
    if (p.max_depth > OA_BENC_DEPTH_CEILING) {
        p.max_depth = OA_BENC_DEPTH_CEILING;
    }
    p.max_nodes = opts != NULL && opts->max_nodes > 0 ? opts->max_nodes : OA_BENC_DEFAULT_MAX_NODES;
    p.strict = opts != NULL && opts->strict;
    /* Every value takes at least two bytes ("0:", "le"), so the input
     * bounds the node count; start small and grow. */
    p.cap = len / 2 + 1 < 64 ? len / 2 + 1 : 64;
    if (p.cap > p.max_nodes) {
        p.cap = p.max_nodes;
    }
    doc = calloc(1, sizeof(*doc));
    if (doc == NULL) {
        return fail(&p, OA_ENOMEM, "out of memory at offset 0");
    }
    doc->base = malloc(len);
    p.nodes = malloc(p.cap * sizeof(*p.nodes));
    p.stack = malloc(p.max_depth * sizeof(*p.stack));
    if (doc->base == NULL || p.nodes == NULL || p.stack == NULL) {
        rc = fail(&p, OA_ENOMEM, "out of memory at offset 0");
        goto out;
    }
    memcpy(doc->base, buf, len);
    doc->len = len;
    p.buf = doc->base;
    p.len = len;
    rc = parse(&p);
    if (rc == 0 && !(opts != NULL && opts->allow_trailing) && p.pos != len) {
        rc = fail(&p, OA_EPROTO, "trailing data after the value at offset %zu", p.pos);
    }
out:
    free(p.stack);
    if (rc != 0) {
        free(p.nodes);
        free(doc->base);
        free(doc);
        return rc;
    }
    doc->nodes = p.nodes;
    doc->n = p.n;
    doc->consumed = p.pos;
    *out = doc;
    return 0;
}

void oa_benc_doc_free(oa_benc_doc *doc)
{
    if (doc == NULL) {
        return;
    }
    free(doc->nodes);
    free(doc->base);
    free(doc);
}

const oa_benc_node *oa_benc_doc_root(const oa_benc_doc *doc)
{
    return doc != NULL ? &doc->nodes[0] : NULL;
}

size_t oa_benc_doc_consumed(const oa_benc_doc *doc)
{
    return doc != NULL ? doc->consumed : 0;
}

void oa_benc_span(const oa_benc_doc *doc, const oa_benc_node *node, size_t *offset, size_t *len)
{
    *offset = (size_t)(node->raw - doc->base);
    *len = node->raw_len;
}

const uint8_t *oa_benc_raw(const oa_benc_node *node, size_t *len)
{
    *len = node->raw_len;
    return node->raw;
}

oa_benc_type oa_benc_type_of(const oa_benc_node *node)
{
    return node != NULL ? node->type : (oa_benc_type)0;
}

int oa_benc_int(const oa_benc_node *node, int64_t *v)
{
    if (node == NULL || node->type != OA_BENC_INT) {
        return OA_ETYPE;
    }
    *v = node->i;
    return 0;
}

int oa_benc_bytes(const oa_benc_node *node, const uint8_t **p, size_t *len)
{
    if (node == NULL || node->type != OA_BENC_BYTES) {
        return OA_ETYPE;
    }
    *p = node->raw + (node->raw_len - node->count);
    *len = node->count;
    return 0;
}

int oa_benc_bytes_eq(const oa_benc_node *node, const char *s)
{
    const uint8_t *p;
    size_t n;

    if (oa_benc_bytes(node, &p, &n) != 0) {
        return 0;
    }
    return n == strlen(s) && (n == 0 || memcmp(p, s, n) == 0);
}

size_t oa_benc_count(const oa_benc_node *node)
{
    if (node == NULL || (node->type != OA_BENC_LIST && node->type != OA_BENC_DICT)) {
        return 0;
    }
    return node->count;
}

void oa_benc_iter_init(oa_benc_iter *it, const oa_benc_node *node)
{
    it->next = node != NULL ? node + 1 : NULL;
    it->left = oa_benc_count(node);
    it->dict = node != NULL && node->type == OA_BENC_DICT;
}

int oa_benc_iter_next(oa_benc_iter *it, const oa_benc_node **key, const oa_benc_node **val)
{
    if (it->left == 0) {
        return 0;
    }
    if (it->dict) {
        if (key != NULL) {
            *key = it->next;
        }
        it->next += it->next->skip;
    } else if (key != NULL) {
        *key = NULL;
    }
    *val = it->next;
    it->next += it->next->skip;
    it->left--;
    return 1;
}

const oa_benc_node *oa_benc_list_at(const oa_benc_node *list, size_t i)
{
    oa_benc_iter it;
    const oa_benc_node *v;

    if (list == NULL || list->type != OA_BENC_LIST || i >= list->count) {
        return NULL;
    }
    oa_benc_iter_init(&it, list);
    while (oa_benc_iter_next(&it, NULL, &v)) {
        if (i == 0) {
            return v;
        }
        i--;
    }
    return NULL;
}

const oa_benc_node *oa_benc_dict_getn(const oa_benc_node *dict, const void *key, size_t keylen)
{
    oa_benc_iter it;
    const oa_benc_node *k;
    const oa_benc_node *v;

    if (dict == NULL || dict->type != OA_BENC_DICT) {
        return NULL;
    }
    oa_benc_iter_init(&it, dict);
    while (oa_benc_iter_next(&it, &k, &v)) {
        const uint8_t *kp = k->raw + (k->raw_len - k->count);

        if (k->count == keylen && (keylen == 0 || memcmp(kp, key, keylen) == 0)) {
            return v;
        }
    }
    return NULL;
}

const oa_benc_node *oa_benc_dict_get(const oa_benc_node *dict, const char *key)
{
    return oa_benc_dict_getn(dict, key, strlen(key));
}

int oa_benc_dict_int(const oa_benc_node *dict, const char *key, int64_t *v)
{
    const oa_benc_node *n = oa_benc_dict_get(dict, key);

    if (n == NULL) {
        return OA_ENOENT;
    }
    return oa_benc_int(n, v);
}

int oa_benc_dict_bytes(const oa_benc_node *dict, const char *key, const uint8_t **p, size_t *len)
{
    const oa_benc_node *n = oa_benc_dict_get(dict, key);

    if (n == NULL) {
        return OA_ENOENT;
    }
    return oa_benc_bytes(n, p, len);
}

const oa_benc_node *oa_benc_dict_list(const oa_benc_node *dict, const char *key)
{
    const oa_benc_node *n = oa_benc_dict_get(dict, key);

    return n != NULL && n->type == OA_BENC_LIST ? n : NULL;
}

const oa_benc_node *oa_benc_dict_dict(const oa_benc_node *dict, const char *key)
{
    const oa_benc_node *n = oa_benc_dict_get(dict, key);

    return n != NULL && n->type == OA_BENC_DICT ? n : NULL;
}

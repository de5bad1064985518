/*
 * The "oa_live" BEP 10 extension messages (livecore.h): one bencoded
 * dictionary per payload with its type in "t", and for DATA the block's raw
 * bytes after it. Byte by byte in docs/live-protocol.md.
 */
#include "livecore.h"

#include "bencode.h"
#include "swarm_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Error sentences start with "oa_live: ". */
#define lfail(err, errlen, code, ...) \
    oa_swarm_fail((err), (errlen), (code), "oa_live: ", __VA_ARGS__)

#define SEQ_MAX INT64_MAX

/* 1 when a block at off of len bytes lies inside the largest chunk. */
static int block_ok(uint64_t off, uint64_t len)
{
    return len >= 1 && len <= OA_LC_MAX_BLOCK && off < OA_LC_MAX_CHUNK &&
           off + len <= OA_LC_MAX_CHUNK;
}

/* 1 when the signed fields of a chunk header are inside their ranges. */
static int chunk_fields_ok(const oa_lc_chunk *c)
{
    return c->seq <= SEQ_MAX && c->ts_ms >= 0 && c->size >= 1 && c->size <= OA_LC_MAX_CHUNK &&
           c->pts_us >= -1 && c->duration_us >= 0;
}

/* 1 when m's fields of its type are inside their ranges. */
static int msg_ok(const oa_lc_msg *m)
{
    switch (m->type) {
    case OA_LC_HAVE:
        return m->first <= m->last && m->last <= SEQ_MAX;
    case OA_LC_ANNOUNCE:
        return chunk_fields_ok(&m->chunk);
    case OA_LC_REQUEST:
        return m->seq <= SEQ_MAX && block_ok(m->off, m->len);
    case OA_LC_DATA:
        return m->seq <= SEQ_MAX && m->data != NULL && block_ok(m->off, m->len);
    case OA_LC_REJECT:
        return m->seq <= SEQ_MAX && m->off < OA_LC_MAX_CHUNK;
    case OA_LC_CHAT:
        return m->chat != NULL && m->chat_len >= 1 && m->chat_len <= OA_LC_CHAT_MAX;
    case OA_LC_ACK:
        return m->up <= SEQ_MAX;
    }
    return 0;
}

int oa_lc_msg_encode(const oa_lc_msg *m, uint8_t **out, size_t *len)
{
    oa_benc_writer w;
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (len != NULL) {
        *len = 0;
    }
    if (m == NULL || out == NULL || len == NULL || !msg_ok(m)) {
        return OA_EINVAL;
    }
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    switch (m->type) {
    case OA_LC_HAVE:
        oa_benc_put_str(&w, "first");
        oa_benc_put_int(&w, (int64_t)m->first);
        oa_benc_put_str(&w, "last");
        oa_benc_put_int(&w, (int64_t)m->last);
        break;
    case OA_LC_ANNOUNCE:
        oa_benc_put_str(&w, "dur");
        oa_benc_put_int(&w, m->chunk.duration_us);
        oa_benc_put_str(&w, "hash");
        oa_benc_put_bytes(&w, m->chunk.hash, OA_LC_HASH_LEN);
        oa_benc_put_str(&w, "pts");
        oa_benc_put_int(&w, m->chunk.pts_us);
        oa_benc_put_str(&w, "seq");
        oa_benc_put_int(&w, (int64_t)m->chunk.seq);
        oa_benc_put_str(&w, "sig");
        oa_benc_put_bytes(&w, m->chunk.sig, OA_LC_SIG_LEN);
        oa_benc_put_str(&w, "size");
        oa_benc_put_int(&w, m->chunk.size);
        break;
    case OA_LC_REQUEST:
        oa_benc_put_str(&w, "len");
        oa_benc_put_int(&w, m->len);
        oa_benc_put_str(&w, "off");
        oa_benc_put_int(&w, m->off);
        oa_benc_put_str(&w, "seq");
        oa_benc_put_int(&w, (int64_t)m->seq);
        break;
    case OA_LC_DATA:
        oa_benc_put_str(&w, "off");
        oa_benc_put_int(&w, m->off);
        oa_benc_put_str(&w, "seq");
        oa_benc_put_int(&w, (int64_t)m->seq);
        break;
    case OA_LC_REJECT:
        oa_benc_put_str(&w, "off");
        oa_benc_put_int(&w, m->off);
        oa_benc_put_str(&w, "seq");
        oa_benc_put_int(&w, (int64_t)m->seq);
        break;
    case OA_LC_CHAT:
        oa_benc_put_str(&w, "msg");
        oa_benc_put_bytes(&w, m->chat, m->chat_len);
        break;
    case OA_LC_ACK:
        break;
    }
    oa_benc_put_str(&w, "t");
    oa_benc_put_int(&w, (int64_t)m->type);
    if (m->type == OA_LC_ANNOUNCE) {
        oa_benc_put_str(&w, "ts");
        oa_benc_put_int(&w, m->chunk.ts_ms);
    }
    if (m->type == OA_LC_ACK) {
        oa_benc_put_str(&w, "up");
        oa_benc_put_int(&w, (int64_t)m->up);
    }
    oa_benc_end(&w);
    rc = oa_benc_writer_finish(&w, &buf, &n);
    if (rc < 0) {
        return rc;
    }
    if (m->type == OA_LC_DATA) {
        uint8_t *grown = realloc(buf, n + m->len);

        if (grown == NULL) {
            free(buf);
            return OA_ENOMEM;
        }
        memcpy(grown + n, m->data, m->len);
        buf = grown;
        n += m->len;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* Reads a non-negative integer under key, at most max. */
static int get_uint(const oa_benc_node *d, const char *key, uint64_t max, uint64_t *v,
                    char *err, size_t errlen)
{
    int64_t x;
    int rc = oa_benc_dict_int(d, key, &x);

    if (rc == OA_ENOENT) {
        return lfail(err, errlen, OA_EPROTO, "a message lacks its \"%s\" key", key);
    }
    if (rc < 0) {
        return lfail(err, errlen, OA_EPROTO, "\"%s\" is not an integer", key);
    }
    if (x < 0 || (uint64_t)x > max) {
        return lfail(err, errlen, OA_EPROTO, "\"%s\" is %lld, outside 0..%llu", key,
                     (long long)x, (unsigned long long)max);
    }
    *v = (uint64_t)x;
    return 0;
}

/* Reads a signed integer under key, at least min. */
static int get_int(const oa_benc_node *d, const char *key, int64_t min, int64_t *v, char *err,
                   size_t errlen)
{
    int rc = oa_benc_dict_int(d, key, v);

    if (rc == OA_ENOENT) {
        return lfail(err, errlen, OA_EPROTO, "a message lacks its \"%s\" key", key);
    }
    if (rc < 0) {
        return lfail(err, errlen, OA_EPROTO, "\"%s\" is not an integer", key);
    }
    if (*v < min) {
        return lfail(err, errlen, OA_EPROTO, "\"%s\" is %lld, below %lld", key, (long long)*v,
                     (long long)min);
    }
    return 0;
}

/* Reads a byte string under key of exactly n bytes into dst. */
static int get_fixed(const oa_benc_node *d, const char *key, uint8_t *dst, size_t n, char *err,
                     size_t errlen)
{
    const uint8_t *p;
    size_t got;
    int rc = oa_benc_dict_bytes(d, key, &p, &got);

    if (rc == OA_ENOENT) {
        return lfail(err, errlen, OA_EPROTO, "a message lacks its \"%s\" key", key);
    }
    if (rc < 0 || got != n) {
        return lfail(err, errlen, OA_EPROTO, "\"%s\" is not a %zu-byte string", key, n);
    }
    memcpy(dst, p, n);
    return 0;
}

/* Fills m's fields of its type from the dictionary d. */
static int msg_fields(const oa_benc_node *d, oa_lc_msg *m, char *err, size_t errlen)
{
    uint64_t v = 0;
    uint64_t u = 0;
    int rc = 0;

    switch (m->type) {
    case OA_LC_HAVE:
        rc = get_uint(d, "first", SEQ_MAX, &m->first, err, errlen);
        if (rc == 0) {
            rc = get_uint(d, "last", SEQ_MAX, &m->last, err, errlen);
        }
        if (rc == 0 && m->first > m->last) {
            rc = lfail(err, errlen, OA_EPROTO, "HAVE has first %llu after last %llu",
                       (unsigned long long)m->first, (unsigned long long)m->last);
        }
        return rc;
    case OA_LC_ANNOUNCE:
        rc = get_uint(d, "seq", SEQ_MAX, &m->chunk.seq, err, errlen);
        if (rc == 0) {
            rc = get_int(d, "ts", 0, &m->chunk.ts_ms, err, errlen);
        }
        if (rc == 0) {
            rc = get_uint(d, "size", OA_LC_MAX_CHUNK, &v, err, errlen);
        }
        if (rc == 0 && v == 0) {
            rc = lfail(err, errlen, OA_EPROTO, "ANNOUNCE has a chunk of 0 bytes");
        }
        m->chunk.size = (uint32_t)v;
        if (rc == 0) {
            rc = get_int(d, "pts", -1, &m->chunk.pts_us, err, errlen);
        }
        if (rc == 0) {
            rc = get_int(d, "dur", 0, &m->chunk.duration_us, err, errlen);
        }
        if (rc == 0) {
            rc = get_fixed(d, "hash", m->chunk.hash, OA_LC_HASH_LEN, err, errlen);
        }
        if (rc == 0) {
            rc = get_fixed(d, "sig", m->chunk.sig, OA_LC_SIG_LEN, err, errlen);
        }
        return rc;
    case OA_LC_REQUEST:
        rc = get_uint(d, "seq", SEQ_MAX, &m->seq, err, errlen);
        if (rc == 0) {
            rc = get_uint(d, "off", OA_LC_MAX_CHUNK - 1, &u, err, errlen);
        }
        if (rc == 0) {
            rc = get_uint(d, "len", OA_LC_MAX_BLOCK, &v, err, errlen);
        }
        if (rc == 0 && !block_ok(u, v)) {
            rc = lfail(err, errlen, OA_EPROTO,
                       "REQUEST asks for %llu bytes at %llu: blocks are 1..%u bytes inside a "
                       "chunk",
                       (unsigned long long)v, (unsigned long long)u, OA_LC_MAX_BLOCK);
        }
        m->off = (uint32_t)u;
        m->len = (uint32_t)v;
        return rc;
    case OA_LC_DATA:
    case OA_LC_REJECT:
        rc = get_uint(d, "seq", SEQ_MAX, &m->seq, err, errlen);
        if (rc == 0) {
            rc = get_uint(d, "off", OA_LC_MAX_CHUNK - 1, &u, err, errlen);
        }
        m->off = (uint32_t)u;
        return rc;
    case OA_LC_CHAT: {
        const uint8_t *p;
        size_t n;

        rc = oa_benc_dict_bytes(d, "msg", &p, &n);
        if (rc == OA_ENOENT) {
            return lfail(err, errlen, OA_EPROTO, "a message lacks its \"msg\" key");
        }
        if (rc < 0 || n == 0 || n > OA_LC_CHAT_MAX) {
            return lfail(err, errlen, OA_EPROTO, "\"msg\" is not a string of 1..%u bytes",
                         OA_LC_CHAT_MAX);
        }
        m->chat = p;
        m->chat_len = n;
        return 0;
    }
    case OA_LC_ACK:
        return get_uint(d, "up", SEQ_MAX, &m->up, err, errlen);
    }
    return lfail(err, errlen, OA_EPROTO, "unknown message type");
}

int oa_lc_msg_decode(const uint8_t *payload, size_t len, oa_lc_msg *m, char *err,
                     size_t errlen)
{
    oa_benc_opts opts = {0};
    oa_benc_doc *doc = NULL;
    const oa_benc_node *root;
    char berr[128];
    uint64_t t = 0;
    size_t used;
    size_t raw_len = 0;
    int rc;

    if (m == NULL || (payload == NULL && len > 0)) {
        return lfail(err, errlen, OA_EINVAL, "nothing to decode");
    }
    memset(m, 0, sizeof(*m));
    if (len == 0 || len > OA_LC_MAX_MSG) {
        return lfail(err, errlen, OA_EPROTO, "a message of %zu bytes is outside 1..%u", len,
                     OA_LC_MAX_MSG);
    }
    opts.strict = 1;
    opts.allow_trailing = 1;
    opts.max_depth = 4;
    opts.max_nodes = 64;
    rc = oa_benc_decode(payload, len, &opts, &doc, berr, sizeof(berr));
    if (rc < 0) {
        return lfail(err, errlen, OA_EPROTO, "a malformed message (%s)", berr);
    }
    root = oa_benc_doc_root(doc);
    used = oa_benc_doc_consumed(doc);
    if (oa_benc_type_of(root) != OA_BENC_DICT) {
        oa_benc_doc_free(doc);
        return lfail(err, errlen, OA_EPROTO, "a message is not a dictionary");
    }
    rc = get_uint(root, "t", 1000, &t, err, errlen);
    if (rc == 0 && t > OA_LC_ACK) {
        rc = lfail(err, errlen, OA_EPROTO, "unknown message type %llu", (unsigned long long)t);
    }
    if (rc == 0) {
        m->type = (oa_lc_msg_type)t;
        rc = msg_fields(root, m, err, errlen);
    }
    if (rc == 0 && m->type == OA_LC_CHAT) {
        /* Point into the caller's payload, not into the document: the
         * root starts at offset 0 of both. */
        m->chat = payload + (m->chat - oa_benc_raw(root, &raw_len));
    }
    oa_benc_doc_free(doc);
    if (rc < 0) {
        memset(m, 0, sizeof(*m));
        return rc;
    }
    if (m->type == OA_LC_DATA) {
        size_t n = len - used;

        if (n == 0) {
            memset(m, 0, sizeof(*m));
            return lfail(err, errlen, OA_EPROTO, "DATA carries no bytes");
        }
        if (!block_ok(m->off, n)) {
            rc = lfail(err, errlen, OA_EPROTO,
                       "DATA carries %zu bytes at %u: blocks are 1..%u bytes inside a chunk", n,
                       (unsigned)m->off, OA_LC_MAX_BLOCK);
            memset(m, 0, sizeof(*m));
            return rc;
        }
        m->data = payload + used;
        m->len = (uint32_t)n;
    } else if (used != len) {
        rc = lfail(err, errlen, OA_EPROTO, "%zu bytes follow a message of type %d", len - used,
                   (int)m->type);
        memset(m, 0, sizeof(*m));
        return rc;
    }
    return 0;
}

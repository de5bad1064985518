/*
 * BEP 9 ut_metadata messages: the codec and the serving side. The fetch
 * state machine is in metadata_fetch.c.
 */
#include "metadata.h"

#include "bencode.h"
#include "swarm_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Error sentences start with "ut_metadata:". */
#define mfail(err, errlen, code, ...) oa_swarm_fail((err), (errlen), (code), "ut_metadata: ", __VA_ARGS__)


uint32_t oa_meta_piece_count(uint64_t size)
{
    uint64_t n = (size + OA_META_PIECE_LEN - 1) / OA_META_PIECE_LEN;

    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

size_t oa_meta_piece_size(uint64_t size, uint32_t index)
{
    uint64_t begin = (uint64_t)index * OA_META_PIECE_LEN;
    uint64_t left;

    if (begin >= size) {
        return 0;
    }
    left = size - begin;
    return left < OA_META_PIECE_LEN ? (size_t)left : OA_META_PIECE_LEN;
}

/* ---- codec -------------------------------------------------------------- */

int oa_meta_encode(const oa_meta_msg *msg, uint8_t **out, size_t *len)
{
    oa_benc_writer w;
    uint8_t *buf = NULL;
    uint8_t *grown;
    size_t n = 0;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (msg == NULL || out == NULL || len == NULL || msg->piece >= OA_META_MAX_PIECES) {
        return OA_EINVAL;
    }
    if (msg->type != OA_META_REQUEST && msg->type != OA_META_DATA &&
        msg->type != OA_META_REJECT) {
        return OA_EINVAL;
    }
    if (msg->type == OA_META_DATA &&
        (msg->total_size == 0 || msg->total_size > OA_EXT_MAX_METADATA_SIZE ||
         msg->size != oa_meta_piece_size(msg->total_size, msg->piece) || msg->data == NULL)) {
        return OA_EINVAL;
    }
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "msg_type");
    oa_benc_put_int(&w, msg->type);
    oa_benc_put_str(&w, "piece");
    oa_benc_put_int(&w, msg->piece);
    if (msg->type == OA_META_DATA) {
        oa_benc_put_str(&w, "total_size");
        oa_benc_put_int(&w, (int64_t)msg->total_size);
    }
    oa_benc_end(&w);
    rc = oa_benc_writer_finish(&w, &buf, &n);
    if (rc != 0) {
        return rc;
    }
    if (msg->type == OA_META_DATA) {
        grown = realloc(buf, n + msg->size);
        if (grown == NULL) {
            free(buf);
            return OA_ENOMEM;
        }
        buf = grown;
        memcpy(buf + n, msg->data, msg->size);
        n += msg->size;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* Reads the integer under key into *v: 0, or OA_EPROTO with a sentence. */
static int need_int(const oa_benc_node *root, const char *key, int64_t *v, char *err,
                    size_t errlen)
{
    int rc = oa_benc_dict_int(root, key, v);

    if (rc == OA_ENOENT) {
        return mfail(err, errlen, OA_EPROTO, "the message has no %s", key);
    }
    if (rc != 0) {
        return mfail(err, errlen, OA_EPROTO, "%s is not an integer", key);
    }
    return 0;
}

static int decode_doc(const oa_benc_doc *doc, const uint8_t *payload, size_t len,
                      oa_meta_msg *msg, char *err, size_t errlen)
{
    const oa_benc_node *root = oa_benc_doc_root(doc);
    size_t used = oa_benc_doc_consumed(doc);
    int64_t type;
    int64_t piece;
    int64_t total;
    size_t want;
    int rc;

    if (oa_benc_type_of(root) != OA_BENC_DICT) {
        return mfail(err, errlen, OA_EPROTO, "the message is not a dictionary");
    }
    rc = need_int(root, "msg_type", &type, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (type != OA_META_REQUEST && type != OA_META_DATA && type != OA_META_REJECT) {
        return mfail(err, errlen, OA_ENOSYS, "unknown msg_type %lld, ignored",
                     (long long)type);
    }
    rc = need_int(root, "piece", &piece, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (piece < 0 || piece >= (int64_t)OA_META_MAX_PIECES) {
        return mfail(err, errlen, OA_ERANGE, "piece %lld is outside 0..%u", (long long)piece,
                     OA_META_MAX_PIECES - 1);
    }
    msg->type = (oa_meta_type)type;
    msg->piece = (uint32_t)piece;
    if (type != OA_META_DATA) {
        if (used != len) {
            return mfail(err, errlen, OA_EPROTO, "%zu bytes follow a %s message", len - used,
                         type == OA_META_REQUEST ? "request" : "reject");
        }
        return 0;
    }
    rc = need_int(root, "total_size", &total, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (total <= 0 || (uint64_t)total > OA_EXT_MAX_METADATA_SIZE) {
        return mfail(err, errlen, OA_ERANGE, "total_size %lld is outside 1..%llu",
                     (long long)total, (unsigned long long)OA_EXT_MAX_METADATA_SIZE);
    }
    want = oa_meta_piece_size((uint64_t)total, msg->piece);
    if (want == 0) {
        return mfail(err, errlen, OA_ERANGE, "piece %u is past the end of %lld bytes",
                     msg->piece, (long long)total);
    }
    if (len - used != want) {
        return mfail(err, errlen, OA_EPROTO,
                     "piece %u of %lld bytes carries %zu bytes instead of %zu", msg->piece,
                     (long long)total, len - used, want);
    }
    msg->total_size = (uint64_t)total;
    msg->data = payload + used;
    msg->size = want;
    return 0;
}

int oa_meta_decode(const uint8_t *payload, size_t len, oa_meta_msg *msg, char *err,
                   size_t errlen)
{
    oa_benc_opts opts;
    oa_benc_doc *doc = NULL;
    char why[160];
    size_t head = len < OA_META_MAX_DICT ? len : OA_META_MAX_DICT;
    int rc;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (msg == NULL || (payload == NULL && len > 0)) {
        return OA_EINVAL;
    }
    memset(msg, 0, sizeof(*msg));
    /* The dictionary is small; decoding only its first bytes keeps the
     * piece that follows from being copied. */
    memset(&opts, 0, sizeof(opts));
    opts.max_depth = 4;
    opts.max_nodes = 64;
    opts.allow_trailing = 1;
    rc = oa_benc_decode(payload, head, &opts, &doc, why, sizeof(why));
    if (rc == OA_ENOMEM) {
        return mfail(err, errlen, rc, "out of memory");
    }
    if (rc != 0) {
        if (head < len) {
            return mfail(err, errlen, OA_EPROTO, "no dictionary in the first %u bytes (%s)",
                         OA_META_MAX_DICT, why);
        }
        return mfail(err, errlen, rc == OA_ERANGE ? OA_ERANGE : OA_EPROTO, "%s", why);
    }
    rc = decode_doc(doc, payload, len, msg, err, errlen);
    oa_benc_doc_free(doc);
    if (rc != 0) {
        memset(msg, 0, sizeof(*msg));
    }
    return rc;
}

/* ---- serving ------------------------------------------------------------ */

int oa_meta_serve(oa_meta_server *srv, const uint8_t *info, size_t info_len,
                  const oa_meta_msg *req, uint8_t **out, size_t *len)
{
    oa_meta_msg ans;
    uint32_t count;
    uint64_t limit;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (req == NULL || out == NULL || len == NULL || req->type != OA_META_REQUEST ||
        req->piece >= OA_META_MAX_PIECES) {
        return OA_EINVAL;
    }
    if (info != NULL && (info_len == 0 || info_len > OA_EXT_MAX_METADATA_SIZE)) {
        return OA_EINVAL;
    }
    memset(&ans, 0, sizeof(ans));
    ans.type = OA_META_REJECT;
    ans.piece = req->piece;
    count = info != NULL ? oa_meta_piece_count(info_len) : 0;
    limit = srv != NULL && srv->limit > 0 ? srv->limit : (uint64_t)count * 4;
    if (info != NULL && req->piece < count && !(srv != NULL && srv->refuse) &&
        !(srv != NULL && srv->served >= limit)) {
        ans.type = OA_META_DATA;
        ans.total_size = info_len;
        ans.data = info + (size_t)req->piece * OA_META_PIECE_LEN;
        ans.size = oa_meta_piece_size(info_len, req->piece);
    }
    rc = oa_meta_encode(&ans, out, len);
    if (rc != 0) {
        return rc;
    }
    if (ans.type == OA_META_DATA && srv != NULL) {
        srv->served++;
    }
    return (int)ans.type;
}

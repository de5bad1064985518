/*
 * Live streams, the pure parts (livecore.h): Ed25519 keys and signatures,
 * hashes, the live descriptor and its content ID, signed chunk headers and
 * the sliding window. The wire format is in docs/live-protocol.md.
 */
#include "livecore.h"
#include "livecore_int.h"

#include "bencode.h"
#include "magnet.h"
#include "swarm_err.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Error sentences start with "live descriptor: ", "live chunk: " or "live window: ". */
#define dfail(err, errlen, code, ...) \
    oa_swarm_fail((err), (errlen), (code), "live descriptor: ", __VA_ARGS__)
#define cfail(err, errlen, code, ...) \
    oa_swarm_fail((err), (errlen), (code), "live chunk: ", __VA_ARGS__)
#define wfail(err, errlen, code, ...) \
    oa_swarm_fail((err), (errlen), (code), "live window: ", __VA_ARGS__)

/* Ranges of descriptor fields (docs/live-protocol.md). */
#define DESC_MIN_CHUNK_MS 100u
#define DESC_MAX_CHUNK_MS 60000u
#define DESC_MIN_WINDOW 4u
#define DESC_MAX_WINDOW 10000u
#define DESC_MAX_DIMENSION 65535u
#define DESC_MAX_BITRATE 1000000000000ull /* 1 Tbit/s */
#define DESC_KEYS 12

/* ---- keys and signatures ----------------------------------------------- */

int oa_lc_pubkey(const uint8_t seed[OA_LC_KEY_LEN], uint8_t pub[OA_LC_KEY_LEN])
{
    EVP_PKEY *pkey;
    size_t len = OA_LC_KEY_LEN;
    int rc = 0;

    if (seed == NULL || pub == NULL) {
        return OA_EINVAL;
    }
    pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, OA_LC_KEY_LEN);
    if (pkey == NULL) {
        return OA_ENOMEM;
    }
    if (EVP_PKEY_get_raw_public_key(pkey, pub, &len) != 1 || len != OA_LC_KEY_LEN) {
        rc = OA_EFAIL;
    }
    EVP_PKEY_free(pkey);
    return rc;
}

int oa_lc_keygen(uint8_t seed[OA_LC_KEY_LEN], uint8_t pub[OA_LC_KEY_LEN])
{
    if (seed == NULL || pub == NULL) {
        return OA_EINVAL;
    }
    if (RAND_bytes(seed, OA_LC_KEY_LEN) != 1) {
        return OA_EIO;
    }
    return oa_lc_pubkey(seed, pub);
}

int oa_lc_sign(const uint8_t seed[OA_LC_KEY_LEN], const void *msg, size_t len,
               uint8_t sig[OA_LC_SIG_LEN])
{
    EVP_PKEY *pkey;
    EVP_MD_CTX *ctx;
    size_t siglen = OA_LC_SIG_LEN;
    int rc = 0;

    if (seed == NULL || sig == NULL || (msg == NULL && len > 0)) {
        return OA_EINVAL;
    }
    pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, OA_LC_KEY_LEN);
    if (pkey == NULL) {
        return OA_ENOMEM;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        EVP_PKEY_free(pkey);
        return OA_ENOMEM;
    }
    if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
        EVP_DigestSign(ctx, sig, &siglen, len > 0 ? msg : (const void *)"", len) != 1 ||
        siglen != OA_LC_SIG_LEN) {
        rc = OA_EFAIL;
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return rc;
}

int oa_lc_verify(const uint8_t pub[OA_LC_KEY_LEN], const void *msg, size_t len,
                 const uint8_t sig[OA_LC_SIG_LEN])
{
    EVP_PKEY *pkey;
    EVP_MD_CTX *ctx;
    int rc = OA_EPROTO;

    if (pub == NULL || sig == NULL || (msg == NULL && len > 0)) {
        return OA_EINVAL;
    }
    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, OA_LC_KEY_LEN);
    if (pkey == NULL) {
        /* Not a point on the curve: no signature can be valid. */
        return OA_EPROTO;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        EVP_PKEY_free(pkey);
        return OA_ENOMEM;
    }
    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
        EVP_DigestVerify(ctx, sig, OA_LC_SIG_LEN, len > 0 ? msg : (const void *)"", len) == 1) {
        rc = 0;
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return rc;
}

void oa_lc_sha256(const void *data, size_t len, uint8_t out[OA_LC_HASH_LEN])
{
    unsigned int n = 0;

    if (EVP_Digest(len > 0 ? data : "", len, out, &n, EVP_sha256(), NULL) != 1) {
        memset(out, 0, OA_LC_HASH_LEN);
    }
}

void oa_lc_sha1(const void *data, size_t len, uint8_t out[OA_LC_ID_LEN])
{
    unsigned int n = 0;

    if (EVP_Digest(len > 0 ? data : "", len, out, &n, EVP_sha1(), NULL) != 1) {
        memset(out, 0, OA_LC_ID_LEN);
    }
}

/* A content ID is an info-hash: magnet.h's hex helpers serve both. */
_Static_assert(OA_LC_ID_LEN == OA_INFOHASH_LEN, "a content ID is a SHA-1 info-hash");

void oa_lc_hex40(const uint8_t id[OA_LC_ID_LEN], char out[41])
{
    oa_infohash_to_hex(id, out);
}

int oa_lc_unhex40(const char *hex, uint8_t id[OA_LC_ID_LEN])
{
    uint8_t tmp[OA_LC_ID_LEN];

    if (hex == NULL || id == NULL || strnlen(hex, 41) != 40 ||
        oa_infohash_from_hex(hex, tmp) != 0) {
        return OA_EINVAL;
    }
    memcpy(id, tmp, sizeof(tmp));
    return 0;
}

/* ---- UTF-8 -------------------------------------------------------------- */

int oa_lc_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        unsigned c = p[i];
        size_t n;
        uint32_t cp;
        uint32_t min;
        size_t k;

        if (c == 0) {
            return 0;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return 0;
        }
        if (len - i - 1 < n) {
            return 0;
        }
        for (k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
        i += n + 1;
    }
    return 1;
}

/* ---- decoding a bencoded dictionary (livecore_int.h) -------------------- */

int oa_lc_decode_dict(const void *buf, size_t len, size_t max, int max_depth, int max_nodes,
                      const char *prefix, const char *noun, oa_lc_fields_fn fields, void *out,
                      char *err, size_t errlen)
{
    oa_benc_opts opts = {0};
    oa_benc_doc *doc = NULL;
    const oa_benc_node *root;
    char berr[128];
    int rc;

    if (len == 0 || len > max) {
        return oa_swarm_fail(err, errlen, OA_EPROTO, prefix, "a %s of %zu bytes is outside 1..%zu",
                             noun, len, max);
    }
    opts.strict = 1;
    opts.max_depth = max_depth;
    opts.max_nodes = max_nodes;
    rc = oa_benc_decode(buf, len, &opts, &doc, berr, sizeof(berr));
    if (rc < 0) {
        return oa_swarm_fail(err, errlen, OA_EPROTO, prefix, "a malformed %s (%s)", noun, berr);
    }
    root = oa_benc_doc_root(doc);
    if (oa_benc_type_of(root) != OA_BENC_DICT) {
        rc = oa_swarm_fail(err, errlen, OA_EPROTO, prefix, "a %s is not a dictionary", noun);
    } else {
        rc = fields(root, out, err, errlen);
    }
    oa_benc_doc_free(doc);
    return rc;
}

/* ---- the live descriptor ------------------------------------------------ */

/* 1 when s (len bytes) is a codec name: 0..31 bytes of [a-z0-9_.-]. */
static int codec_ok(const char *s, size_t len)
{
    size_t i;

    if (len >= 32) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-')) {
            return 0;
        }
    }
    return 1;
}

/* 1 when s (len bytes) is an announce URL: 1..255 printable ASCII bytes
 * starting with http://, https:// or udp://. */
static int tracker_ok(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > 255) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) {
            return 0;
        }
    }
    return (len > 7 && strncmp(s, "http://", 7) == 0) ||
           (len > 8 && strncmp(s, "https://", 8) == 0) ||
           (len > 6 && strncmp(s, "udp://", 6) == 0);
}

/* Checks every field of d against its range; 0 or OA_EINVAL with a sentence. */
static int desc_check(const oa_lc_descriptor *d, char *err, size_t errlen)
{
    size_t n = strnlen(d->name, sizeof(d->name));
    size_t i;

    if (n == 0 || n >= sizeof(d->name)) {
        return dfail(err, errlen, OA_EINVAL, "the name must be 1 to 127 bytes long");
    }
    if (!oa_lc_utf8_valid(d->name, n)) {
        return dfail(err, errlen, OA_EINVAL, "the name is not valid UTF-8");
    }
    if (d->chunk_ms < DESC_MIN_CHUNK_MS || d->chunk_ms > DESC_MAX_CHUNK_MS) {
        return dfail(err, errlen, OA_EINVAL, "chunk_ms %u is outside 100..60000",
                     (unsigned)d->chunk_ms);
    }
    if (d->window < DESC_MIN_WINDOW || d->window > DESC_MAX_WINDOW) {
        return dfail(err, errlen, OA_EINVAL, "window %u is outside 4..10000 chunks",
                     (unsigned)d->window);
    }
    if (d->created <= 0) {
        return dfail(err, errlen, OA_EINVAL, "the creation time must be a positive unix time");
    }
    if (d->tracker_count > OA_LC_MAX_TRACKERS) {
        return dfail(err, errlen, OA_EINVAL, "at most %d trackers are allowed",
                     OA_LC_MAX_TRACKERS);
    }
    for (i = 0; i < d->tracker_count; i++) {
        size_t tl = strnlen(d->trackers[i], sizeof(d->trackers[i]));

        if (tl >= sizeof(d->trackers[i]) || !tracker_ok(d->trackers[i], tl)) {
            return dfail(err, errlen, OA_EINVAL,
                         "tracker %zu is not an http://, https:// or udp:// URL of at most "
                         "255 bytes",
                         i + 1);
        }
    }
    if (!codec_ok(d->video, strnlen(d->video, sizeof(d->video))) ||
        !codec_ok(d->audio, strnlen(d->audio, sizeof(d->audio)))) {
        return dfail(err, errlen, OA_EINVAL,
                     "a codec name must be at most 31 bytes of a-z, 0-9, '_', '.' or '-'");
    }
    if (d->width > DESC_MAX_DIMENSION || d->height > DESC_MAX_DIMENSION) {
        return dfail(err, errlen, OA_EINVAL, "width and height must be at most 65535");
    }
    if (d->bitrate > DESC_MAX_BITRATE) {
        return dfail(err, errlen, OA_EINVAL, "the bitrate must be at most 10^12 bits/s");
    }
    return 0;
}

int oa_lc_desc_encode(const oa_lc_descriptor *d, uint8_t **out, size_t *len, char *err,
                      size_t errlen)
{
    oa_benc_writer w;
    size_t i;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (len != NULL) {
        *len = 0;
    }
    if (d == NULL || out == NULL || len == NULL) {
        return dfail(err, errlen, OA_EINVAL, "nothing to encode");
    }
    rc = desc_check(d, err, errlen);
    if (rc < 0) {
        return rc;
    }
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "audio");
    oa_benc_put_str(&w, d->audio);
    oa_benc_put_str(&w, "bitrate");
    oa_benc_put_int(&w, (int64_t)d->bitrate);
    oa_benc_put_str(&w, "chunk_ms");
    oa_benc_put_int(&w, d->chunk_ms);
    oa_benc_put_str(&w, "created");
    oa_benc_put_int(&w, d->created);
    oa_benc_put_str(&w, "height");
    oa_benc_put_int(&w, d->height);
    oa_benc_put_str(&w, "name");
    oa_benc_put_str(&w, d->name);
    oa_benc_put_str(&w, "oa_live");
    oa_benc_put_int(&w, OA_LC_VERSION);
    oa_benc_put_str(&w, "pubkey");
    oa_benc_put_bytes(&w, d->pubkey, OA_LC_KEY_LEN);
    oa_benc_put_str(&w, "trackers");
    oa_benc_list_begin(&w);
    for (i = 0; i < d->tracker_count; i++) {
        oa_benc_put_str(&w, d->trackers[i]);
    }
    oa_benc_end(&w);
    oa_benc_put_str(&w, "video");
    oa_benc_put_str(&w, d->video);
    oa_benc_put_str(&w, "width");
    oa_benc_put_int(&w, d->width);
    oa_benc_put_str(&w, "window");
    oa_benc_put_int(&w, d->window);
    oa_benc_end(&w);
    rc = oa_benc_writer_finish(&w, out, len);
    if (rc < 0) {
        return dfail(err, errlen, rc, "could not write it (%s)", oa_strerror(rc));
    }
    if (*len > OA_LC_MAX_DESCRIPTOR) {
        free(*out);
        *out = NULL;
        *len = 0;
        return dfail(err, errlen, OA_EINVAL, "it would be larger than %u bytes",
                     OA_LC_MAX_DESCRIPTOR);
    }
    return 0;
}

/* Copies a byte-string value into dst (cap bytes with the NUL); 0 when it
 * fits and holds no NUL, else -1. */
static int copy_str(const oa_benc_node *v, char *dst, size_t cap)
{
    const uint8_t *p;
    size_t n;

    if (oa_benc_bytes(v, &p, &n) < 0 || n >= cap || memchr(p, 0, n) != NULL) {
        return -1;
    }
    memcpy(dst, p, n);
    dst[n] = '\0';
    return 0;
}

/* Reads the integer under key into *v, within lo..hi. */
static int desc_int(const oa_benc_node *root, const char *key, int64_t lo, int64_t hi,
                    int64_t *v, char *err, size_t errlen)
{
    int rc = oa_benc_dict_int(root, key, v);

    if (rc == OA_ENOENT) {
        return dfail(err, errlen, OA_EPROTO, "the key \"%s\" is missing", key);
    }
    if (rc < 0) {
        return dfail(err, errlen, OA_EPROTO, "\"%s\" is not an integer", key);
    }
    if (*v < lo || *v > hi) {
        return dfail(err, errlen, OA_EPROTO, "\"%s\" is %lld, outside %lld..%lld", key,
                     (long long)*v, (long long)lo, (long long)hi);
    }
    return 0;
}

/* Reads the string under key into dst. */
static int desc_str(const oa_benc_node *root, const char *key, char *dst, size_t cap,
                    char *err, size_t errlen)
{
    const oa_benc_node *v = oa_benc_dict_get(root, key);

    if (v == NULL) {
        return dfail(err, errlen, OA_EPROTO, "the key \"%s\" is missing", key);
    }
    if (copy_str(v, dst, cap) < 0) {
        return dfail(err, errlen, OA_EPROTO,
                     "\"%s\" is not a byte string of at most %zu bytes without NUL", key,
                     cap - 1);
    }
    return 0;
}

/* Fills the descriptor out from a decoded dictionary; keys and types only,
 * ranges later. */
static int desc_fields(const oa_benc_node *root, void *out, char *err, size_t errlen)
{
    oa_lc_descriptor *d = out;
    static const char *const keys[DESC_KEYS] = {"audio",  "bitrate",  "chunk_ms", "created",
                                                "height", "name",     "oa_live",  "pubkey",
                                                "trackers", "video",  "width",    "window"};
    const oa_benc_node *list;
    const oa_benc_node *item;
    const uint8_t *p;
    oa_benc_iter it;
    const oa_benc_node *key;
    const oa_benc_node *val;
    size_t n;
    int64_t v;
    int rc;

    oa_benc_iter_init(&it, root);
    while (oa_benc_iter_next(&it, &key, &val)) {
        size_t k;
        int known = 0;

        for (k = 0; k < DESC_KEYS; k++) {
            if (oa_benc_bytes_eq(key, keys[k])) {
                known = 1;
            }
        }
        if (!known) {
            return dfail(err, errlen, OA_EPROTO, "it has a key this version does not know");
        }
    }
    rc = desc_int(root, "oa_live", INT64_MIN, INT64_MAX, &v, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (v != OA_LC_VERSION) {
        return dfail(err, errlen, OA_EPROTO, "version %lld is not the supported version %d",
                     (long long)v, OA_LC_VERSION);
    }
    rc = desc_str(root, "name", d->name, sizeof(d->name), err, errlen);
    if (rc < 0) {
        return rc;
    }
    rc = oa_benc_dict_bytes(root, "pubkey", &p, &n);
    if (rc < 0 || n != OA_LC_KEY_LEN) {
        return dfail(err, errlen, OA_EPROTO, "\"pubkey\" is not a 32-byte string");
    }
    memcpy(d->pubkey, p, OA_LC_KEY_LEN);
    rc = desc_int(root, "chunk_ms", DESC_MIN_CHUNK_MS, DESC_MAX_CHUNK_MS, &v, err, errlen);
    if (rc < 0) {
        return rc;
    }
    d->chunk_ms = (uint32_t)v;
    rc = desc_int(root, "window", DESC_MIN_WINDOW, DESC_MAX_WINDOW, &v, err, errlen);
    if (rc < 0) {
        return rc;
    }
    d->window = (uint32_t)v;
    rc = desc_int(root, "created", 1, INT64_MAX, &d->created, err, errlen);
    if (rc < 0) {
        return rc;
    }
    rc = desc_int(root, "width", 0, DESC_MAX_DIMENSION, &v, err, errlen);
    if (rc < 0) {
        return rc;
    }
    d->width = (uint32_t)v;
    rc = desc_int(root, "height", 0, DESC_MAX_DIMENSION, &v, err, errlen);
    if (rc < 0) {
        return rc;
    }
    d->height = (uint32_t)v;
    rc = desc_int(root, "bitrate", 0, (int64_t)DESC_MAX_BITRATE, &v, err, errlen);
    if (rc < 0) {
        return rc;
    }
    d->bitrate = (uint64_t)v;
    rc = desc_str(root, "video", d->video, sizeof(d->video), err, errlen);
    if (rc < 0) {
        return rc;
    }
    rc = desc_str(root, "audio", d->audio, sizeof(d->audio), err, errlen);
    if (rc < 0) {
        return rc;
    }
    list = oa_benc_dict_list(root, "trackers");
    if (list == NULL) {
        return dfail(err, errlen, OA_EPROTO, "\"trackers\" is missing or not a list");
    }
    if (oa_benc_count(list) > OA_LC_MAX_TRACKERS) {
        return dfail(err, errlen, OA_EPROTO, "it lists more than %d trackers",
                     OA_LC_MAX_TRACKERS);
    }
    oa_benc_iter_init(&it, list);
    while (oa_benc_iter_next(&it, NULL, &item)) {
        if (copy_str(item, d->trackers[d->tracker_count], sizeof(d->trackers[0])) < 0) {
            return dfail(err, errlen, OA_EPROTO, "tracker %zu is not a string of at most 255 bytes",
                         d->tracker_count + 1);
        }
        d->tracker_count++;
    }
    return 0;
}

int oa_lc_desc_decode(const void *buf, size_t len, oa_lc_descriptor *d, char *err,
                      size_t errlen)
{
    uint8_t *again = NULL;
    size_t again_len = 0;
    int rc;

    if (d == NULL || (buf == NULL && len > 0)) {
        return dfail(err, errlen, OA_EINVAL, "nothing to decode");
    }
    memset(d, 0, sizeof(*d));
    rc = oa_lc_decode_dict(buf, len, OA_LC_MAX_DESCRIPTOR, 4, 64, "live descriptor: ",
                           "descriptor", desc_fields, d, err, errlen);
    if (rc < 0) {
        memset(d, 0, sizeof(*d));
        return rc;
    }
    rc = oa_lc_desc_encode(d, &again, &again_len, err, errlen);
    if (rc < 0) {
        memset(d, 0, sizeof(*d));
        return OA_EPROTO;
    }
    if (again_len != len || memcmp(again, buf, len) != 0) {
        free(again);
        memset(d, 0, sizeof(*d));
        return dfail(err, errlen, OA_EPROTO,
                     "it is not in canonical form (every key once, sorted, nothing else)");
    }
    free(again);
    return 0;
}

int oa_lc_desc_is(const void *buf, size_t len)
{
    oa_benc_opts opts = {0};
    oa_benc_doc *doc = NULL;
    int yes;

    if (buf == NULL || len < 2 || len > OA_LC_MAX_DESCRIPTOR || ((const uint8_t *)buf)[0] != 'd') {
        return 0;
    }
    opts.max_depth = 4;
    opts.max_nodes = 256;
    if (oa_benc_decode(buf, len, &opts, &doc, NULL, 0) < 0) {
        return 0;
    }
    yes = oa_benc_dict_get(oa_benc_doc_root(doc), "oa_live") != NULL;
    oa_benc_doc_free(doc);
    return yes;
}

void oa_lc_content_id(const void *buf, size_t len, uint8_t id[OA_LC_ID_LEN])
{
    oa_lc_sha1(buf, len, id);
}

/* ---- signed chunk headers ---------------------------------------------- */

static void put_be64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

/* The 64 signed bytes of a chunk header. */
static void chunk_message(const oa_lc_chunk *c, uint8_t msg[64])
{
    put_be64(msg, c->seq);
    put_be64(msg + 8, (uint64_t)c->ts_ms);
    memcpy(msg + 16, c->hash, OA_LC_HASH_LEN);
    put_be64(msg + 48, (uint64_t)c->pts_us);
    put_be64(msg + 56, (uint64_t)c->duration_us);
}

int oa_lc_chunk_sign(const uint8_t seed[OA_LC_KEY_LEN], uint64_t seq, int64_t ts_ms,
                     int64_t pts_us, int64_t duration_us, const void *data, size_t len,
                     oa_lc_chunk *c)
{
    uint8_t msg[64];

    if (seed == NULL || c == NULL || data == NULL || len == 0 || len > OA_LC_MAX_CHUNK) {
        return OA_EINVAL;
    }
    memset(c, 0, sizeof(*c));
    c->seq = seq;
    c->ts_ms = ts_ms;
    c->size = (uint32_t)len;
    c->pts_us = pts_us;
    c->duration_us = duration_us;
    oa_lc_sha256(data, len, c->hash);
    chunk_message(c, msg);
    return oa_lc_sign(seed, msg, sizeof(msg), c->sig);
}

int oa_lc_chunk_verify(const uint8_t pub[OA_LC_KEY_LEN], const oa_lc_chunk *c, char *err,
                       size_t errlen)
{
    uint8_t msg[64];
    int rc;

    if (pub == NULL || c == NULL) {
        return cfail(err, errlen, OA_EINVAL, "nothing to verify");
    }
    if (c->size == 0 || c->size > OA_LC_MAX_CHUNK) {
        return cfail(err, errlen, OA_EPROTO, "chunk %llu has a size of %u bytes, outside 1..%u",
                     (unsigned long long)c->seq, (unsigned)c->size, OA_LC_MAX_CHUNK);
    }
    chunk_message(c, msg);
    rc = oa_lc_verify(pub, msg, sizeof(msg), c->sig);
    if (rc == OA_EPROTO) {
        return cfail(err, errlen, OA_EPROTO,
                     "the signature of chunk %llu is not the broadcaster's",
                     (unsigned long long)c->seq);
    }
    if (rc < 0) {
        return cfail(err, errlen, rc, "could not check the signature of chunk %llu (%s)",
                     (unsigned long long)c->seq, oa_strerror(rc));
    }
    return 0;
}

int oa_lc_chunk_check_data(const oa_lc_chunk *c, const void *data, size_t len, char *err,
                           size_t errlen)
{
    uint8_t hash[OA_LC_HASH_LEN];

    if (c == NULL || (data == NULL && len > 0)) {
        return cfail(err, errlen, OA_EINVAL, "nothing to check");
    }
    if (len != c->size) {
        return cfail(err, errlen, OA_EPROTO, "chunk %llu has %zu bytes where %u were signed",
                     (unsigned long long)c->seq, len, (unsigned)c->size);
    }
    oa_lc_sha256(data, len, hash);
    if (memcmp(hash, c->hash, OA_LC_HASH_LEN) != 0) {
        return cfail(err, errlen, OA_EPROTO,
                     "the bytes of chunk %llu do not match its signed SHA-256",
                     (unsigned long long)c->seq);
    }
    return 0;
}

/* ---- the sliding window ------------------------------------------------- */

void oa_lc_window_init(oa_lc_window *w, uint32_t window, uint32_t chunk_ms)
{
    memset(w, 0, sizeof(*w));
    w->window = window > 0 ? window : 1;
    w->chunk_ms = chunk_ms;
}

int oa_lc_window_check(const oa_lc_window *w, uint64_t seq, int64_t ts_ms, int64_t now_ms,
                       char *err, size_t errlen)
{
    int64_t max_age = (int64_t)w->window * (int64_t)w->chunk_ms + OA_LC_CLOCK_SKEW_MS;

    if (w->has_edge && w->edge >= w->window && seq <= w->edge - w->window) {
        return wfail(err, errlen, OA_ERANGE,
                     "chunk %llu is older than the window of %u chunks behind the edge %llu",
                     (unsigned long long)seq, (unsigned)w->window,
                     (unsigned long long)w->edge);
    }
    if (ts_ms < now_ms - max_age) {
        return wfail(err, errlen, OA_ERANGE,
                     "chunk %llu was made %lld ms ago, longer than the window allows",
                     (unsigned long long)seq, (long long)(now_ms - ts_ms));
    }
    if (ts_ms > now_ms + OA_LC_CLOCK_SKEW_MS) {
        return wfail(err, errlen, OA_ERANGE,
                     "chunk %llu is %lld ms in the future: the broadcaster's clock is off",
                     (unsigned long long)seq, (long long)(ts_ms - now_ms));
    }
    if (w->has_edge && seq > w->edge && ts_ms < w->edge_ts_ms) {
        return wfail(err, errlen, OA_ERANGE,
                     "chunk %llu is newer than the edge %llu but was made before it",
                     (unsigned long long)seq, (unsigned long long)w->edge);
    }
    return 0;
}

void oa_lc_window_advance(oa_lc_window *w, uint64_t seq, int64_t ts_ms)
{
    if (!w->has_edge || seq > w->edge) {
        w->has_edge = 1;
        w->edge = seq;
        w->edge_ts_ms = ts_ms;
    }
}

uint64_t oa_lc_window_first(const oa_lc_window *w)
{
    if (!w->has_edge || w->edge < w->window) {
        return 0;
    }
    return w->edge + 1 - w->window;
}

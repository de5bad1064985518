/*
 * The BEP 10 extension handshake: ours built with the bencode writer,
 * theirs parsed from a bounded decode, and the per-peer table of ids.
 */
#include "extension.h"

#include "bencode.h"
#include "swarm_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A handshake is a flat dictionary with "m" inside: depth 2. A little
 * room for keys we do not know, whose values may nest. */
#define EXT_MAX_DEPTH 8
#define EXT_MAX_NODES 1024

static const char *const kind_names[OA_EXT_SLOTS] = {
    "handshake", "ut_metadata", "ut_pex", "oa_live",
};

/* Error sentences start with "extension handshake:". */
#define efail(err, errlen, code, ...) oa_swarm_fail((err), (errlen), (code), "extension handshake: ", __VA_ARGS__)


/* ---- names and ids ------------------------------------------------------ */

const char *oa_ext_kind_name(oa_ext_kind kind)
{
    if ((unsigned)kind < OA_EXT_SLOTS) {
        return kind_names[kind];
    }
    return "unknown";
}

oa_ext_kind oa_ext_kind_from_name(const void *name, size_t n)
{
    unsigned k;

    if (name == NULL) {
        return OA_EXT_UNKNOWN;
    }
    for (k = OA_EXT_UT_METADATA; k < OA_EXT_SLOTS; k++) {
        if (strlen(kind_names[k]) == n && memcmp(kind_names[k], name, n) == 0) {
            return (oa_ext_kind)k;
        }
    }
    return OA_EXT_UNKNOWN;
}

oa_ext_kind oa_ext_dispatch(const oa_ext_local *local, uint8_t ext_id)
{
    unsigned enabled = local != NULL ? local->enabled : OA_EXT_DEFAULT_ENABLED;

    if (ext_id == 0) {
        return OA_EXT_HANDSHAKE;
    }
    /* Our id for each extension is its kind value. */
    if (ext_id < OA_EXT_SLOTS && (enabled & OA_EXT_BIT(ext_id)) != 0) {
        return (oa_ext_kind)ext_id;
    }
    return OA_EXT_UNKNOWN;
}

/* ---- our handshake ------------------------------------------------------ */

void oa_ext_local_init(oa_ext_local *local)
{
    memset(local, 0, sizeof(*local));
    local->enabled = OA_EXT_DEFAULT_ENABLED;
    local->reqq = OA_EXT_DEFAULT_REQQ;
}

int oa_ext_handshake_build(const oa_ext_local *local, uint8_t **out, size_t *len)
{
    static const unsigned all = OA_EXT_BIT(OA_EXT_UT_METADATA) | OA_EXT_BIT(OA_EXT_UT_PEX) |
                                OA_EXT_BIT(OA_EXT_OA_LIVE);
    oa_benc_writer w;

    if (out != NULL) {
        *out = NULL;
    }
    if (local == NULL || out == NULL || len == NULL) {
        return OA_EINVAL;
    }
    if ((local->enabled & ~all) != 0 || local->metadata_size > OA_EXT_MAX_METADATA_SIZE ||
        (local->yourip_len != 0 && local->yourip_len != 4 && local->yourip_len != 16)) {
        return OA_EINVAL;
    }
    /* Keys in raw byte order, as the writer checks: m, metadata_size, p,
     * reqq, v, yourip; inside m: oa_live, ut_metadata, ut_pex. */
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "m");
    oa_benc_dict_begin(&w);
    if ((local->enabled & OA_EXT_BIT(OA_EXT_OA_LIVE)) != 0) {
        oa_benc_put_str(&w, "oa_live");
        oa_benc_put_int(&w, OA_EXT_OA_LIVE);
    }
    if ((local->enabled & OA_EXT_BIT(OA_EXT_UT_METADATA)) != 0) {
        oa_benc_put_str(&w, "ut_metadata");
        oa_benc_put_int(&w, OA_EXT_UT_METADATA);
    }
    if ((local->enabled & OA_EXT_BIT(OA_EXT_UT_PEX)) != 0) {
        oa_benc_put_str(&w, "ut_pex");
        oa_benc_put_int(&w, OA_EXT_UT_PEX);
    }
    oa_benc_end(&w);
    if (local->metadata_size > 0) {
        oa_benc_put_str(&w, "metadata_size");
        oa_benc_put_int(&w, (int64_t)local->metadata_size);
    }
    if (local->port > 0) {
        oa_benc_put_str(&w, "p");
        oa_benc_put_int(&w, local->port);
    }
    if (local->reqq > 0) {
        oa_benc_put_str(&w, "reqq");
        oa_benc_put_int(&w, local->reqq);
    }
    oa_benc_put_str(&w, "v");
    oa_benc_put_str(&w, local->client != NULL ? local->client : OA_EXT_CLIENT_NAME);
    if (local->yourip_len > 0) {
        oa_benc_put_str(&w, "yourip");
        oa_benc_put_bytes(&w, local->yourip, local->yourip_len);
    }
    oa_benc_end(&w);
    return oa_benc_writer_finish(&w, out, len);
}

/* ---- sanitizing "v" ----------------------------------------------------- */

/* Returns the length of the valid UTF-8 sequence at in (n bytes left) and
 * its code point in *cp, or 0 when it is not one (overlong, surrogate,
 * truncated, above U+10FFFF). */
static size_t utf8_seq(const uint8_t *in, size_t n, uint32_t *cp)
{
    uint8_t c = in[0];
    size_t need;
    size_t i;
    uint32_t v;
    uint8_t lo = 0x80;
    uint8_t hi = 0xBF;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = c & 0x0Fu;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
        hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = c & 0x07u;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n < need + 1) {
        return 0;
    }
    for (i = 1; i <= need; i++) {
        uint8_t b = in[i];

        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) {
            return 0;
        }
        v = (v << 6) | (b & 0x3Fu);
    }
    *cp = v;
    return need + 1;
}

/* Code points a user interface must not be handed from a stranger:
 * controls (C0, DEL, C1), line and paragraph separators, and the marks
 * and overrides that reorder text (they make "v" spoof other text). */
static int unprintable(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
           (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

size_t oa_ext_sanitize_client(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t i = 0;
    size_t o = 0;

    if (out == NULL || cap == 0) {
        return 0;
    }
    while (in != NULL && i < n) {
        uint32_t cp = 0;
        size_t k = utf8_seq(in + i, n - i, &cp);

        if (k == 0 || unprintable(cp)) {
            if (o + 1 >= cap) {
                break;
            }
            out[o++] = '?';
            i += k > 0 ? k : 1;
            continue;
        }
        if (o + k >= cap) {
            break; /* cut before a character that does not fit whole */
        }
        memcpy(out + o, in + i, k);
        o += k;
        i += k;
    }
    out[o] = '\0';
    return o;
}

/* ---- their handshake ---------------------------------------------------- */

/* Reads "m": known names with an id in 0..255. */
static void parse_m(const oa_benc_node *m, oa_ext_handshake *hs)
{
    oa_benc_iter it;
    const oa_benc_node *key;
    const oa_benc_node *val;

    oa_benc_iter_init(&it, m);
    while (oa_benc_iter_next(&it, &key, &val)) {
        const uint8_t *name;
        size_t n;
        int64_t id;
        oa_ext_kind kind;

        if (oa_benc_bytes(key, &name, &n) != 0 || oa_benc_int(val, &id) != 0) {
            continue;
        }
        kind = oa_ext_kind_from_name(name, n);
        if (kind == OA_EXT_UNKNOWN || id < 0 || id > 255) {
            continue;
        }
        /* Lenient decoding returns the first of two equal keys; here the
         * first one wins as well. */
        if ((hs->m_present & OA_EXT_BIT(kind)) != 0) {
            continue;
        }
        hs->ids[kind] = (uint8_t)id;
        hs->m_present |= OA_EXT_BIT(kind);
    }
}

/* Copies a byte string of exactly want bytes (or of 4 or 16 when want is
 * 0) and returns its length, or 0 when absent or of another size. */
static size_t get_addr(const oa_benc_node *root, const char *key, uint8_t *dst, size_t want)
{
    const uint8_t *p;
    size_t n;

    if (oa_benc_dict_bytes(root, key, &p, &n) != 0) {
        return 0;
    }
    if (want != 0 ? n != want : n != 4 && n != 16) {
        return 0;
    }
    memcpy(dst, p, n);
    return n;
}

int oa_ext_handshake_parse(const uint8_t *payload, size_t len, oa_ext_handshake *hs, char *err,
                           size_t errlen)
{
    oa_benc_opts opts;
    oa_benc_doc *doc = NULL;
    const oa_benc_node *root;
    const oa_benc_node *m;
    const uint8_t *p;
    size_t n;
    int64_t v;
    char why[160];
    int rc;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (hs == NULL || (payload == NULL && len > 0)) {
        return OA_EINVAL;
    }
    memset(hs, 0, sizeof(*hs));
    if (len > OA_EXT_MAX_HANDSHAKE) {
        return efail(err, errlen, OA_ERANGE, "%zu bytes, more than the %u we accept", len,
                     OA_EXT_MAX_HANDSHAKE);
    }
    memset(&opts, 0, sizeof(opts));
    opts.max_depth = EXT_MAX_DEPTH;
    opts.max_nodes = EXT_MAX_NODES;
    rc = oa_benc_decode(payload, len, &opts, &doc, why, sizeof(why));
    if (rc != 0) {
        return efail(err, errlen, rc, "%s", why);
    }
    root = oa_benc_doc_root(doc);
    if (oa_benc_type_of(root) != OA_BENC_DICT) {
        oa_benc_doc_free(doc);
        return efail(err, errlen, OA_EPROTO, "the payload is not a dictionary");
    }
    rc = oa_benc_dict_int(root, "metadata_size", &v);
    if (rc == 0) {
        if (v <= 0 || (uint64_t)v > OA_EXT_MAX_METADATA_SIZE) {
            oa_benc_doc_free(doc);
            memset(hs, 0, sizeof(*hs));
            return efail(err, errlen, OA_ERANGE,
                         "metadata_size %lld is outside 1..%llu bytes", (long long)v,
                         (unsigned long long)OA_EXT_MAX_METADATA_SIZE);
        }
        hs->metadata_size = (uint64_t)v;
        hs->present |= OA_EXT_HAS_METADATA_SIZE;
    }
    m = oa_benc_dict_dict(root, "m");
    if (m != NULL) {
        hs->present |= OA_EXT_HAS_M;
        parse_m(m, hs);
    }
    if (oa_benc_dict_int(root, "p", &v) == 0 && v >= 1 && v <= 65535) {
        hs->port = (uint16_t)v;
        hs->present |= OA_EXT_HAS_PORT;
    }
    if (oa_benc_dict_int(root, "reqq", &v) == 0 && v >= 1) {
        hs->reqq = v > (int64_t)OA_EXT_MAX_REQQ ? OA_EXT_MAX_REQQ : (uint32_t)v;
        hs->present |= OA_EXT_HAS_REQQ;
    }
    if (oa_benc_dict_bytes(root, "v", &p, &n) == 0) {
        oa_ext_sanitize_client(p, n, hs->client, sizeof(hs->client));
        hs->present |= OA_EXT_HAS_CLIENT;
    }
    hs->yourip_len = (uint8_t)get_addr(root, "yourip", hs->yourip, 0);
    if (hs->yourip_len > 0) {
        hs->present |= OA_EXT_HAS_YOURIP;
    }
    if (get_addr(root, "ipv4", hs->ipv4, 4) > 0) {
        hs->present |= OA_EXT_HAS_IPV4;
    }
    if (get_addr(root, "ipv6", hs->ipv6, 16) > 0) {
        hs->present |= OA_EXT_HAS_IPV6;
    }
    oa_benc_doc_free(doc);
    return 0;
}

/* ---- the per-peer table ------------------------------------------------- */

void oa_ext_peer_init(oa_ext_peer *peer)
{
    memset(peer, 0, sizeof(*peer));
    peer->reqq = OA_EXT_DEFAULT_REQQ;
}

void oa_ext_peer_apply(oa_ext_peer *peer, const oa_ext_handshake *hs)
{
    unsigned k;

    for (k = OA_EXT_UT_METADATA; k < OA_EXT_SLOTS; k++) {
        if ((hs->m_present & OA_EXT_BIT(k)) != 0) {
            peer->ids[k] = hs->ids[k];
        }
    }
    if ((hs->present & OA_EXT_HAS_PORT) != 0) {
        peer->port = hs->port;
    }
    if ((hs->present & OA_EXT_HAS_REQQ) != 0) {
        peer->reqq = hs->reqq;
    }
    if ((hs->present & OA_EXT_HAS_METADATA_SIZE) != 0) {
        peer->metadata_size = hs->metadata_size;
    }
    if ((hs->present & OA_EXT_HAS_CLIENT) != 0) {
        memcpy(peer->client, hs->client, sizeof(peer->client));
    }
    if ((hs->present & OA_EXT_HAS_YOURIP) != 0) {
        memcpy(peer->yourip, hs->yourip, sizeof(peer->yourip));
        peer->yourip_len = hs->yourip_len;
    }
    peer->handshakes++;
}

int oa_ext_peer_receive(oa_ext_peer *peer, const uint8_t *payload, size_t len, char *err,
                        size_t errlen)
{
    oa_ext_handshake hs;
    int rc;

    if (peer == NULL) {
        return OA_EINVAL;
    }
    rc = oa_ext_handshake_parse(payload, len, &hs, err, errlen);
    if (rc != 0) {
        return rc;
    }
    oa_ext_peer_apply(peer, &hs);
    return 0;
}

uint8_t oa_ext_peer_id(const oa_ext_peer *peer, oa_ext_kind kind)
{
    if (peer == NULL || kind == OA_EXT_HANDSHAKE || (unsigned)kind >= OA_EXT_SLOTS) {
        return 0;
    }
    return peer->ids[kind];
}

uint8_t oa_ext_peer_id_by_name(const oa_ext_peer *peer, const void *name, size_t n)
{
    return oa_ext_peer_id(peer, oa_ext_kind_from_name(name, n));
}

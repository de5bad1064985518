/* The BitTorrent peer wire codec (see wire.h).
 *
 * The decoder is a small state machine over one connection's bytes: first
 * the handshake when asked for, then for every message the 4-byte length
 * prefix and the id byte, collected in head, then the payload. The length is
 * judged twice before any payload byte is kept: against the largest message
 * any kind may have as soon as the prefix is complete, and against the exact
 * rule of its kind once the id is known. A payload that lies whole in the
 * caller's chunk is returned in place; one cut across chunks is gathered in
 * small (up to 16 bytes) or in buf, which grows to the longest such payload
 * and never past its limit. Checks that need the payload (indexes, block
 * lengths, spare bits) run once it is complete. */
#include "wire.h"

#include "bitfield.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
           (uint32_t)p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* memcpy, which must not see a NULL pointer even for zero bytes. */
static void copy(uint8_t *dst, const uint8_t *src, size_t n)
{
    if (n > 0) {
        memcpy(dst, src, n);
    }
}

static void set_err(char *err, size_t errlen, const char *fmt, ...) OA_PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#define VAR 0xFF /* a rule for a message of variable length */

/* The length prefix each known id must have (id byte plus payload), VAR when
 * it varies, 0 for an id this codec does not know. */
static const uint8_t rule[OA_WIRE_EXTENDED + 1] = {
    [OA_WIRE_CHOKE] = 1,    [OA_WIRE_UNCHOKE] = 1,   [OA_WIRE_INTERESTED] = 1,
    [OA_WIRE_NOT_INTERESTED] = 1,                    [OA_WIRE_HAVE] = 5,
    [OA_WIRE_BITFIELD] = VAR, [OA_WIRE_REQUEST] = 13, [OA_WIRE_PIECE] = VAR,
    [OA_WIRE_CANCEL] = 13,  [OA_WIRE_PORT] = 3,      [OA_WIRE_SUGGEST] = 5,
    [OA_WIRE_HAVE_ALL] = 1, [OA_WIRE_HAVE_NONE] = 1, [OA_WIRE_REJECT] = 13,
    [OA_WIRE_ALLOWED_FAST] = 5,                      [OA_WIRE_EXTENDED] = VAR,
};

static const char *const names[OA_WIRE_EXTENDED + 1] = {
    "choke", "unchoke", "interested", "not interested", "have", "bitfield", "request", "piece",
    "cancel", "port", NULL, NULL, NULL, "suggest piece", "have all", "have none",
    "reject request", "allowed fast", NULL, NULL, "extended",
};

static uint8_t rule_of(unsigned id)
{
    return id < sizeof rule ? rule[id] : 0;
}

static int is_fast(unsigned id)
{
    return id >= OA_WIRE_SUGGEST && id <= OA_WIRE_ALLOWED_FAST;
}

const char *oa_wire_kind_name(oa_wire_kind kind)
{
    if (kind == OA_WIRE_HANDSHAKE) {
        return "handshake";
    }
    if (kind == OA_WIRE_KEEPALIVE) {
        return "keep-alive";
    }
    if ((unsigned)kind < sizeof rule && names[kind] != NULL) {
        return names[kind];
    }
    return "unknown";
}

/* ---- handshake --------------------------------------------------------- */

/* Where each extension's bit lives in the reserved bytes. */
static const struct {
    unsigned ext;
    uint8_t byte;
    uint8_t mask;
} ext_bits[] = {
    {OA_WIRE_EXT_EXTENDED, 5, 0x10},
    {OA_WIRE_EXT_FAST, 7, 0x04},
    {OA_WIRE_EXT_DHT, 7, 0x01},
};

void oa_wire_handshake_init(oa_wire_handshake *hs, const uint8_t info_hash[20],
                            const uint8_t peer_id[20], unsigned ext)
{
    size_t i;

    memset(hs, 0, sizeof *hs);
    for (i = 0; i < sizeof ext_bits / sizeof ext_bits[0]; i++) {
        if (ext & ext_bits[i].ext) {
            hs->reserved[ext_bits[i].byte] |= ext_bits[i].mask;
        }
    }
    memcpy(hs->info_hash, info_hash, 20);
    memcpy(hs->peer_id, peer_id, 20);
}

unsigned oa_wire_handshake_extensions(const oa_wire_handshake *hs)
{
    unsigned ext = 0;
    size_t i;

    for (i = 0; i < sizeof ext_bits / sizeof ext_bits[0]; i++) {
        if (hs->reserved[ext_bits[i].byte] & ext_bits[i].mask) {
            ext |= ext_bits[i].ext;
        }
    }
    return ext;
}

void oa_wire_handshake_encode(const oa_wire_handshake *hs, uint8_t out[OA_WIRE_HANDSHAKE_LEN])
{
    out[0] = OA_WIRE_PSTR_LEN;
    memcpy(out + 1, OA_WIRE_PSTR, OA_WIRE_PSTR_LEN);
    memcpy(out + 20, hs->reserved, 8);
    memcpy(out + 28, hs->info_hash, 20);
    memcpy(out + 48, hs->peer_id, 20);
}

int oa_wire_handshake_decode(const uint8_t *in, size_t len, oa_wire_handshake *hs, char *err,
                             size_t errlen)
{
    size_t name_len;

    if (in == NULL && len > 0) {
        return OA_EINVAL;
    }
    if (len >= 1 && in[0] != OA_WIRE_PSTR_LEN) {
        set_err(err, errlen, "handshake starts with byte %u instead of 19: not a BitTorrent peer",
                (unsigned)in[0]);
        return OA_EPROTO;
    }
    name_len = len > 1 ? len - 1 : 0;
    if (name_len > OA_WIRE_PSTR_LEN) {
        name_len = OA_WIRE_PSTR_LEN;
    }
    if (name_len > 0 && memcmp(in + 1, OA_WIRE_PSTR, name_len) != 0) {
        set_err(err, errlen, "handshake protocol name is not \"BitTorrent protocol\"");
        return OA_EPROTO;
    }
    if (len < OA_WIRE_HANDSHAKE_LEN) {
        return OA_EAGAIN;
    }
    if (hs != NULL) {
        memcpy(hs->reserved, in + 20, 8);
        memcpy(hs->info_hash, in + 28, 20);
        memcpy(hs->peer_id, in + 48, 20);
    }
    return 0;
}

/* ---- decoder ----------------------------------------------------------- */

static int fail(oa_wire_decoder *d, const char *fmt, ...) OA_PRINTF(2, 3);

/* Writes the sentence and returns OA_EPROTO; the caller makes it sticky. */
static int fail(oa_wire_decoder *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(d->why, sizeof d->why, fmt, ap);
    va_end(ap);
    return OA_EPROTO;
}

static uint32_t limit_or(uint32_t v, uint32_t dflt)
{
    return v == 0 ? dflt : v;
}

int oa_wire_decoder_init(oa_wire_decoder *d, const oa_wire_limits *limits, unsigned flags)
{
    oa_wire_limits lim;

    if (d == NULL) {
        return OA_EINVAL;
    }
    memset(d, 0, sizeof *d);
    memset(&lim, 0, sizeof lim);
    if (limits != NULL) {
        lim = *limits;
    }
    if (lim.max_block > OA_WIRE_LIMIT_CEILING || lim.max_bitfield > OA_WIRE_LIMIT_CEILING ||
        lim.max_extended > OA_WIRE_LIMIT_CEILING || lim.max_unknown > OA_WIRE_LIMIT_CEILING) {
        return OA_EINVAL;
    }
    d->limits.max_block = limit_or(lim.max_block, OA_WIRE_DEFAULT_MAX_BLOCK);
    d->limits.max_bitfield = limit_or(lim.max_bitfield, OA_WIRE_DEFAULT_MAX_BITFIELD);
    d->limits.max_extended = limit_or(lim.max_extended, OA_WIRE_DEFAULT_MAX_EXTENDED);
    d->limits.max_unknown = limit_or(lim.max_unknown, OA_WIRE_DEFAULT_MAX_UNKNOWN);
    d->extensions = OA_WIRE_EXT_ALL;
    d->want_handshake = (flags & OA_WIRE_DECODE_HANDSHAKE) != 0;
    return 0;
}

void oa_wire_decoder_free(oa_wire_decoder *d)
{
    if (d == NULL) {
        return;
    }
    free(d->buf);
    d->buf = NULL;
    d->buf_cap = 0;
    d->pay_have = 0;
}

int oa_wire_decoder_set_piece_count(oa_wire_decoder *d, uint32_t pieces)
{
    if (oa_bitfield_bytes(pieces) > d->limits.max_bitfield) {
        return OA_ERANGE;
    }
    d->piece_count = pieces;
    return 0;
}

void oa_wire_decoder_set_extensions(oa_wire_decoder *d, unsigned ext)
{
    d->extensions = ext & OA_WIRE_EXT_ALL;
}

const char *oa_wire_decoder_error(const oa_wire_decoder *d)
{
    return d->why;
}

size_t oa_wire_decoder_pending(const oa_wire_decoder *d)
{
    return d->have + d->pay_have;
}

/* The longest payload a bitfield may have now. */
static uint32_t bitfield_limit(const oa_wire_decoder *d)
{
    if (d->piece_count > 0) {
        return (uint32_t)oa_bitfield_bytes(d->piece_count);
    }
    return d->limits.max_bitfield;
}

static uint32_t max32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

/* The longest length prefix any message may have now. Limits are at most
 * 64 MiB, so none of the sums overflow. */
static uint32_t overall_limit(const oa_wire_decoder *d)
{
    uint32_t m = max32(13, 9 + d->limits.max_block);

    m = max32(m, 1 + bitfield_limit(d));
    m = max32(m, 2 + d->limits.max_extended);
    return max32(m, 1 + d->limits.max_unknown);
}

/* Judges the length prefix by the rule of its id, before any payload. */
static int check_header(oa_wire_decoder *d)
{
    uint8_t id = d->head[4];
    uint8_t want = rule_of(id);
    uint32_t len = d->msg_len;
    const char *name = oa_wire_kind_name((oa_wire_kind)id);

    if (want == 0) {
        if (len - 1 > d->limits.max_unknown) {
            return fail(d, "unknown message id %u of %u bytes exceeds the %u-byte limit",
                        (unsigned)id, (unsigned)len, (unsigned)(1 + d->limits.max_unknown));
        }
        return 0;
    }
    if (is_fast(id) && !(d->extensions & OA_WIRE_EXT_FAST)) {
        return fail(d, "%s message without the fast extension (BEP 6) negotiated", name);
    }
    if (want != VAR) {
        if (len != want) {
            return fail(d, "%s message of %u bytes, expected %u", name, (unsigned)len,
                        (unsigned)want);
        }
        return 0;
    }
    if (id == OA_WIRE_BITFIELD) {
        if (len == 1) {
            return fail(d, "bitfield of 0 bytes");
        }
        if (d->piece_count > 0 && len - 1 != oa_bitfield_bytes(d->piece_count)) {
            return fail(d, "bitfield of %u bytes for %u pieces", (unsigned)(len - 1),
                        (unsigned)d->piece_count);
        }
        if (len - 1 > d->limits.max_bitfield) {
            return fail(d, "bitfield of %u bytes exceeds the %u-byte limit", (unsigned)(len - 1),
                        (unsigned)d->limits.max_bitfield);
        }
        return 0;
    }
    if (id == OA_WIRE_PIECE) {
        if (len < 9) {
            return fail(d, "piece message of %u bytes is shorter than its 9-byte header",
                        (unsigned)len);
        }
        if (len == 9) {
            return fail(d, "piece message with an empty block");
        }
        if (len - 9 > d->limits.max_block) {
            return fail(d, "piece block of %u bytes exceeds %u", (unsigned)(len - 9),
                        (unsigned)d->limits.max_block);
        }
        return 0;
    }
    if (!(d->extensions & OA_WIRE_EXT_EXTENDED)) {
        return fail(d, "extended message without the extension protocol (BEP 10) negotiated");
    }
    if (len < 2) {
        return fail(d, "extended message of 1 byte has no extended message id");
    }
    if (len - 2 > d->limits.max_extended) {
        return fail(d, "extended message payload of %u bytes exceeds the %u-byte limit",
                    (unsigned)(len - 2), (unsigned)d->limits.max_extended);
    }
    return 0;
}

static int check_index(oa_wire_decoder *d, const oa_wire_msg *msg)
{
    if (d->piece_count > 0 && msg->index >= d->piece_count) {
        return fail(d, "%s index %u beyond %u pieces", oa_wire_kind_name(msg->kind),
                    (unsigned)msg->index, (unsigned)d->piece_count);
    }
    return 0;
}

/* Request, cancel and reject name a block: index, begin, length. */
static int parse_block_ref(oa_wire_decoder *d, const uint8_t *p, oa_wire_msg *msg)
{
    const char *name = oa_wire_kind_name(msg->kind);

    msg->index = get32(p);
    msg->begin = get32(p + 4);
    msg->length = get32(p + 8);
    if (check_index(d, msg) < 0) {
        return OA_EPROTO;
    }
    if (msg->length == 0) {
        return fail(d, "%s for 0 bytes", name);
    }
    if (msg->length > d->limits.max_block) {
        return fail(d, "%s for %u bytes exceeds %u", name, (unsigned)msg->length,
                    (unsigned)d->limits.max_block);
    }
    if (msg->begin > UINT32_MAX - msg->length) {
        return fail(d, "%s at offset %u for %u bytes runs past 4 GiB", name, (unsigned)msg->begin,
                    (unsigned)msg->length);
    }
    return 1;
}

/* Turns a complete payload of n bytes (after the id) into msg. */
static int parse(oa_wire_decoder *d, uint8_t id, const uint8_t *p, size_t n, oa_wire_msg *msg)
{
    msg->kind = (oa_wire_kind)id;
    switch (id) {
    case OA_WIRE_CHOKE:
    case OA_WIRE_UNCHOKE:
    case OA_WIRE_INTERESTED:
    case OA_WIRE_NOT_INTERESTED:
    case OA_WIRE_HAVE_ALL:
    case OA_WIRE_HAVE_NONE:
        return 1;
    case OA_WIRE_HAVE:
    case OA_WIRE_SUGGEST:
    case OA_WIRE_ALLOWED_FAST:
        msg->index = get32(p);
        return check_index(d, msg) < 0 ? OA_EPROTO : 1;
    case OA_WIRE_REQUEST:
    case OA_WIRE_CANCEL:
    case OA_WIRE_REJECT:
        return parse_block_ref(d, p, msg);
    case OA_WIRE_BITFIELD:
        msg->data = p;
        msg->size = n;
        if (d->piece_count == 0) {
            return 1;
        }
        if (n != oa_bitfield_bytes(d->piece_count)) {
            return fail(d, "bitfield of %zu bytes for %u pieces", n, (unsigned)d->piece_count);
        }
        if (oa_bitfield_check(p, n, d->piece_count) < 0) {
            return fail(d, "bitfield for %u pieces sets spare bits after the last piece",
                        (unsigned)d->piece_count);
        }
        return 1;
    case OA_WIRE_PIECE:
        msg->index = get32(p);
        msg->begin = get32(p + 4);
        msg->data = p + 8;
        msg->size = n - 8;
        if (check_index(d, msg) < 0) {
            return OA_EPROTO;
        }
        if (msg->begin > UINT32_MAX - msg->size) {
            return fail(d, "piece at offset %u for %zu bytes runs past 4 GiB", (unsigned)msg->begin,
                        msg->size);
        }
        return 1;
    case OA_WIRE_PORT:
        msg->port = (uint16_t)((p[0] << 8) | p[1]);
        return 1;
    case OA_WIRE_EXTENDED:
        msg->ext_id = p[0];
        msg->data = p + 1;
        msg->size = n - 1;
        return 1;
    default:
        msg->kind = OA_WIRE_UNKNOWN;
        msg->id = id;
        msg->data = p;
        msg->size = n;
        snprintf(d->why, sizeof d->why, "unknown message id %u", (unsigned)id);
        return 1;
    }
}

/* Where a payload of need bytes that arrives in pieces is gathered. */
static uint8_t *storage(oa_wire_decoder *d, size_t need)
{
    uint8_t *p;

    if (need <= sizeof d->small) {
        return d->small;
    }
    if (d->buf_cap < need) {
        p = realloc(d->buf, need);
        if (p == NULL) {
            return NULL;
        }
        d->buf = p;
        d->buf_cap = need;
    }
    return d->buf;
}

static int feed_handshake(oa_wire_decoder *d, const uint8_t *data, size_t len, size_t *pos,
                          oa_wire_msg *msg)
{
    size_t take = OA_WIRE_HANDSHAKE_LEN - d->have;
    int rc;

    if (take > len) {
        take = len;
    }
    copy(d->head + d->have, data, take);
    d->have += take;
    *pos = take;
    rc = oa_wire_handshake_decode(d->head, d->have, &msg->handshake, d->why, sizeof d->why);
    if (rc == OA_EAGAIN) {
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    d->want_handshake = 0;
    d->have = 0;
    msg->kind = OA_WIRE_HANDSHAKE;
    return 1;
}

static int feed_message(oa_wire_decoder *d, const uint8_t *data, size_t len, size_t *pos,
                        oa_wire_msg *msg)
{
    size_t p = 0;
    size_t need;
    size_t take;
    const uint8_t *payload;
    uint8_t *store;
    int rc;

    while (d->have < 5 && p < len) {
        d->head[d->have] = data[p];
        d->have++;
        p++;
        *pos = p;
        if (d->have == 4) {
            d->msg_len = get32(d->head);
            if (d->msg_len == 0) {
                d->have = 0;
                msg->kind = OA_WIRE_KEEPALIVE;
                return 1;
            }
            if (d->msg_len > overall_limit(d)) {
                return fail(d, "message of %u bytes exceeds the %u-byte limit",
                            (unsigned)d->msg_len, (unsigned)overall_limit(d));
            }
        } else if (d->have == 5) {
            rc = check_header(d);
            if (rc < 0) {
                return rc;
            }
        }
    }
    if (d->have < 5) {
        return 0;
    }
    need = (size_t)d->msg_len - 1;
    if (p == len && need > 0) {
        return 0; /* nothing of the payload yet: allocate nothing */
    }
    if (d->pay_have == 0 && len - p >= need) {
        payload = data + p;
        p += need;
    } else {
        store = storage(d, need);
        if (store == NULL) {
            snprintf(d->why, sizeof d->why, "out of memory for a message of %u bytes",
                     (unsigned)d->msg_len);
            return OA_ENOMEM;
        }
        take = need - d->pay_have;
        if (take > len - p) {
            take = len - p;
        }
        copy(store + d->pay_have, data + p, take);
        d->pay_have += take;
        p += take;
        if (d->pay_have < need) {
            *pos = p;
            return 0;
        }
        payload = store;
    }
    *pos = p;
    d->have = 0;
    d->pay_have = 0;
    return parse(d, d->head[4], payload, need, msg);
}

int oa_wire_decoder_next(oa_wire_decoder *d, const uint8_t *data, size_t len, size_t *used,
                         oa_wire_msg *msg)
{
    size_t pos = 0;
    int rc;

    if (d == NULL || used == NULL || msg == NULL || (data == NULL && len > 0)) {
        return OA_EINVAL;
    }
    *used = 0;
    memset(msg, 0, sizeof *msg);
    if (d->error != 0) {
        return d->error;
    }
    if (d->want_handshake) {
        rc = feed_handshake(d, data, len, &pos, msg);
    } else {
        rc = feed_message(d, data, len, &pos, msg);
    }
    *used = pos;
    if (rc == OA_EPROTO) {
        d->error = rc;
    }
    if (rc < 0) {
        memset(msg, 0, sizeof *msg);
    } else if (rc == 1 && msg->kind != OA_WIRE_UNKNOWN) {
        d->why[0] = '\0';
    }
    return rc;
}

/* ---- encoders ---------------------------------------------------------- */

/* Finds the id byte of msg and the length of its payload after the id;
 * returns -1 when msg cannot be encoded. Keep-alive and handshake are
 * handled apart. */
static int payload_len(const oa_wire_msg *msg, uint8_t *id, uint64_t *n)
{
    uint64_t extra = 0;
    uint8_t want = VAR;

    if (msg->kind == OA_WIRE_UNKNOWN) {
        *id = msg->id;
    } else if ((unsigned)msg->kind < sizeof rule && rule[msg->kind] != 0) {
        *id = (uint8_t)msg->kind;
        want = rule[msg->kind];
    } else {
        return -1;
    }
    if (want != VAR) {
        *n = (uint64_t)want - 1;
        return 0;
    }
    if (msg->kind == OA_WIRE_PIECE) {
        extra = 8;
    } else if (msg->kind == OA_WIRE_EXTENDED) {
        extra = 1;
    }
    if ((msg->data == NULL && msg->size > 0) || (uint64_t)msg->size > UINT32_MAX - 1 - extra) {
        return -1;
    }
    *n = extra + msg->size;
    return 0;
}

size_t oa_wire_encoded_size(const oa_wire_msg *msg)
{
    uint8_t id;
    uint64_t n;

    if (msg == NULL) {
        return 0;
    }
    if (msg->kind == OA_WIRE_KEEPALIVE) {
        return 4;
    }
    if (msg->kind == OA_WIRE_HANDSHAKE) {
        return OA_WIRE_HANDSHAKE_LEN;
    }
    if (payload_len(msg, &id, &n) < 0) {
        return 0;
    }
    return (size_t)(5 + n);
}

int oa_wire_encode(const oa_wire_msg *msg, uint8_t *out, size_t cap, size_t *written)
{
    size_t size = oa_wire_encoded_size(msg);
    uint8_t id = 0;
    uint64_t n = 0;

    if (written != NULL) {
        *written = size;
    }
    if (size == 0) {
        return OA_EINVAL;
    }
    if (out == NULL || cap < size) {
        return OA_EOVERFLOW;
    }
    if (msg->kind == OA_WIRE_HANDSHAKE) {
        oa_wire_handshake_encode(&msg->handshake, out);
        return 0;
    }
    if (msg->kind == OA_WIRE_KEEPALIVE) {
        put32(out, 0);
        return 0;
    }
    payload_len(msg, &id, &n);
    put32(out, (uint32_t)(n + 1));
    out[4] = id;
    switch (msg->kind) {
    case OA_WIRE_HAVE:
    case OA_WIRE_SUGGEST:
    case OA_WIRE_ALLOWED_FAST:
        put32(out + 5, msg->index);
        break;
    case OA_WIRE_REQUEST:
    case OA_WIRE_CANCEL:
    case OA_WIRE_REJECT:
        put32(out + 5, msg->index);
        put32(out + 9, msg->begin);
        put32(out + 13, msg->length);
        break;
    case OA_WIRE_PORT:
        out[5] = (uint8_t)(msg->port >> 8);
        out[6] = (uint8_t)msg->port;
        break;
    case OA_WIRE_PIECE:
        put32(out + 5, msg->index);
        put32(out + 9, msg->begin);
        copy(out + 13, msg->data, msg->size);
        break;
    case OA_WIRE_EXTENDED:
        out[5] = msg->ext_id;
        copy(out + 6, msg->data, msg->size);
        break;
    case OA_WIRE_BITFIELD:
    case OA_WIRE_UNKNOWN:
        copy(out + 5, msg->data, msg->size);
        break;
    default: /* nothing after the id */
        break;
    }
    return 0;
}

int oa_wire_encode_piece_header(uint8_t out[OA_WIRE_PIECE_HEADER_LEN], uint32_t index,
                                uint32_t begin, size_t block_len)
{
    if ((uint64_t)block_len > (uint64_t)UINT32_MAX - 9) {
        return OA_ERANGE;
    }
    put32(out, (uint32_t)(block_len + 9));
    out[4] = OA_WIRE_PIECE;
    put32(out + 5, index);
    put32(out + 9, begin);
    return 0;
}

void oa_wire_buf_init(oa_wire_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int oa_wire_buf_put(oa_wire_buf *b, const oa_wire_msg *msg)
{
    size_t size = oa_wire_encoded_size(msg);
    size_t cap;
    uint8_t *p;

    if (size == 0) {
        return OA_EINVAL;
    }
    if (size > SIZE_MAX / 2 - b->len) {
        return OA_ENOMEM;
    }
    if (b->len + size > b->cap) {
        cap = b->cap < 256 ? 256 : b->cap * 2;
        if (cap < b->len + size) {
            cap = b->len + size;
        }
        p = realloc(b->data, cap);
        if (p == NULL) {
            return OA_ENOMEM;
        }
        b->data = p;
        b->cap = cap;
    }
    oa_wire_encode(msg, b->data + b->len, b->cap - b->len, NULL);
    b->len += size;
    return 0;
}

void oa_wire_buf_free(oa_wire_buf *b)
{
    free(b->data);
    oa_wire_buf_init(b);
}

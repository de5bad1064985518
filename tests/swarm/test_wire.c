/* The peer wire codec (plugins/swarm/wire.h): every message against bytes
 * written out by hand from BEP 3, 5, 6 and 10, round trips, the same stream
 * cut at every position, each kind of malformed input with its sentence,
 * limits enforced before allocation, and a deterministic mutation fuzz loop
 * meant to run under AddressSanitizer (the bitfield type is tested in
 * test_bitfield.c). Chunks are fed
 * from exact-size heap copies, so a read past a chunk is an ASan error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "bitfield.h"
#include "wire.h"
#include "testutil.h"

#define MAX_SAMPLES 32
#define FUZZ_ITERATIONS 200000

static uint8_t big_block[OA_WIRE_DEFAULT_MAX_BLOCK];
static uint8_t small_block[64];
static uint8_t bits100[13]; /* 100 pieces: 4 spare bits, kept zero */
static const uint8_t ext_payload[] = "d1:md11:ut_metadatai1ee1:pi6881ee";
static const uint8_t odd_payload[] = {0xde, 0xad, 0x00};

static void make_handshake(oa_wire_handshake *hs, unsigned ext)
{
    uint8_t ih[20];
    uint8_t id[20];
    size_t i;

    for (i = 0; i < 20; i++) {
        ih[i] = (uint8_t)(0xA0 + i);
        id[i] = (uint8_t)('0' + i % 10);
    }
    oa_wire_handshake_init(hs, ih, id, ext);
}

/* One message of every kind, valid for 100 pieces. */
static size_t make_samples(oa_wire_msg *m, int with_handshake, int big)
{
    size_t n = 0;
    size_t i;

    for (i = 0; i < sizeof big_block; i++) {
        big_block[i] = (uint8_t)(i * 31 + 7);
    }
    for (i = 0; i < sizeof small_block; i++) {
        small_block[i] = (uint8_t)(255 - i);
    }
    for (i = 0; i < sizeof bits100; i++) {
        bits100[i] = (uint8_t)(0x5A ^ i);
    }
    bits100[12] = 0xA0;
    memset(m, 0, sizeof *m * MAX_SAMPLES);
    if (with_handshake) {
        m[n].kind = OA_WIRE_HANDSHAKE;
        make_handshake(&m[n++].handshake, OA_WIRE_EXT_ALL);
    }
    m[n++].kind = OA_WIRE_KEEPALIVE;
    m[n++].kind = OA_WIRE_CHOKE;
    m[n++].kind = OA_WIRE_UNCHOKE;
    m[n++].kind = OA_WIRE_INTERESTED;
    m[n++].kind = OA_WIRE_NOT_INTERESTED;
    m[n] = (oa_wire_msg){.kind = OA_WIRE_HAVE, .index = 7};
    n++;
    m[n] = (oa_wire_msg){.kind = OA_WIRE_BITFIELD, .data = bits100, .size = sizeof bits100};
    n++;
    m[n] = (oa_wire_msg){.kind = OA_WIRE_REQUEST, .index = 1, .begin = 16384, .length = 16384};
    n++;
    m[n] = (oa_wire_msg){.kind = OA_WIRE_PIECE, .index = 3, .begin = 32768};
    m[n].data = big ? big_block : small_block;
    m[n++].size = big ? sizeof big_block : sizeof small_block;
    m[n] = (oa_wire_msg){.kind = OA_WIRE_CANCEL, .index = 99, .begin = 0, .length = 1};
    n++;
    m[n] = (oa_wire_msg){.kind = OA_WIRE_PORT, .port = 6881};
    n++;
    m[n] = (oa_wire_msg){.kind = OA_WIRE_SUGGEST, .index = 5};
    n++;
    m[n++].kind = OA_WIRE_HAVE_ALL;
    m[n++].kind = OA_WIRE_HAVE_NONE;
    m[n] = (oa_wire_msg){.kind = OA_WIRE_REJECT, .index = 2, .begin = 0, .length = 16384};
    n++;
    m[n] = (oa_wire_msg){.kind = OA_WIRE_ALLOWED_FAST, .index = 0};
    n++;
    m[n] = (oa_wire_msg){.kind = OA_WIRE_EXTENDED, .ext_id = 0, .data = ext_payload};
    m[n++].size = sizeof ext_payload - 1;
    m[n] = (oa_wire_msg){.kind = OA_WIRE_EXTENDED, .ext_id = 3};
    n++;
    m[n] = (oa_wire_msg){.kind = OA_WIRE_UNKNOWN, .id = 99, .data = odd_payload};
    m[n++].size = sizeof odd_payload;
    m[n] = (oa_wire_msg){.kind = OA_WIRE_PIECE, .index = 99, .begin = 0, .data = small_block};
    m[n++].size = 1;
    m[n++].kind = OA_WIRE_KEEPALIVE;
    return n;
}

static void encode_all(const oa_wire_msg *m, size_t n, oa_wire_buf *out)
{
    size_t i;

    oa_wire_buf_init(out);
    for (i = 0; i < n; i++) {
        assert_int_equal(oa_wire_buf_put(out, &m[i]), 0);
    }
}

static void assert_msg_equal(const oa_wire_msg *a, const oa_wire_msg *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->id, b->id);
    assert_int_equal(a->ext_id, b->ext_id);
    assert_int_equal(a->port, b->port);
    assert_int_equal(a->index, b->index);
    assert_int_equal(a->begin, b->begin);
    assert_int_equal(a->length, b->length);
    assert_int_equal(a->size, b->size);
    if (a->size > 0) {
        assert_memory_equal(a->data, b->data, a->size);
    }
    assert_memory_equal(&a->handshake, &b->handshake, sizeof a->handshake);
}

/* How a stream is cut into chunks. */
typedef struct feeder {
    int mode; /* 0: cut once at split; 1: one byte at a time; 2: random sizes */
    size_t split;
} feeder;

static size_t next_chunk(const feeder *f, size_t pos, size_t n)
{
    size_t left = n - pos;
    size_t c;

    if (f->mode == 0) {
        return pos < f->split ? f->split - pos : left;
    }
    if (f->mode == 1) {
        return 1;
    }
    c = 1 + oa_test_rng_below(oa_test_rng_below(4) == 0 ? 40 : 3000);
    return c < left ? c : left;
}

typedef struct run {
    unsigned flags;
    uint32_t pieces;
    unsigned ext;
    const oa_wire_limits *limits;
    int rc;       /* OA_EPROTO when the stream was refused, else 0 */
    size_t count; /* messages */
    size_t pending;
    char why[160];
} run;

static uint32_t limit_or(uint32_t v, uint32_t dflt)
{
    return v == 0 ? dflt : v;
}

/* The longest payload after the id that the run's limits allow. */
static size_t max_payload(const run *r)
{
    oa_wire_limits l = {0, 0, 0, 0};
    size_t m;
    size_t bf;

    if (r->limits != NULL) {
        l = *r->limits;
    }
    m = 8 + (size_t)limit_or(l.max_block, OA_WIRE_DEFAULT_MAX_BLOCK);
    bf = r->pieces > 0 ? oa_bitfield_bytes(r->pieces)
                       : limit_or(l.max_bitfield, OA_WIRE_DEFAULT_MAX_BITFIELD);
    m = m > bf ? m : bf;
    bf = 1 + (size_t)limit_or(l.max_extended, OA_WIRE_DEFAULT_MAX_EXTENDED);
    m = m > bf ? m : bf;
    bf = limit_or(l.max_unknown, OA_WIRE_DEFAULT_MAX_UNKNOWN);
    return m > bf ? m : bf;
}

/* Decodes in[0..n) fed as f cuts it, each chunk from its own exact heap
 * copy. Every message must re-encode to exactly the bytes it came from;
 * those re-encodings are appended to out when out is not NULL. */
static void decode_stream(const uint8_t *in, size_t n, const feeder *f, run *r, oa_wire_buf *out)
{
    oa_wire_decoder d;
    oa_wire_msg m;
    oa_wire_buf one;
    size_t pos = 0;
    size_t start = 0;
    size_t chunk;
    size_t off;
    size_t used;
    uint8_t *c;
    int rc = 0;

    assert_int_equal(oa_wire_decoder_init(&d, r->limits, r->flags), 0);
    assert_int_equal(oa_wire_decoder_set_piece_count(&d, r->pieces), 0);
    oa_wire_decoder_set_extensions(&d, r->ext);
    oa_wire_buf_init(&one);
    r->count = 0;
    while (pos < n && rc >= 0) {
        chunk = next_chunk(f, pos, n);
        c = malloc(chunk);
        assert_non_null(c);
        memcpy(c, in + pos, chunk);
        off = 0;
        for (;;) {
            rc = oa_wire_decoder_next(&d, c + off, chunk - off, &used, &m);
            assert_true(used <= chunk - off);
            off += used;
            if (rc <= 0) {
                break;
            }
            one.len = 0;
            assert_int_equal(oa_wire_buf_put(&one, &m), 0);
            assert_int_equal(one.len, pos + off - start);
            assert_memory_equal(one.data, in + start, one.len);
            if (out != NULL) {
                assert_int_equal(oa_wire_buf_put(out, &m), 0);
            }
            start = pos + off;
            r->count++;
        }
        free(c);
        assert_true(rc == 0 || rc == OA_EPROTO);
        if (rc == 0) {
            assert_int_equal(off, chunk);
        }
        pos += chunk;
        assert_true(d.buf_cap <= max_payload(r));
    }
    r->rc = rc;
    r->pending = oa_wire_decoder_pending(&d);
    strcpy(r->why, oa_wire_decoder_error(&d));
    if (rc == OA_EPROTO) {
        assert_true(r->why[0] != '\0');
        assert_int_equal(oa_wire_decoder_next(&d, in, n, &used, &m), OA_EPROTO);
        assert_int_equal(used, 0);
    }
    oa_wire_buf_free(&one);
    oa_wire_decoder_free(&d);
}

static run default_run(void)
{
    run r;

    memset(&r, 0, sizeof r);
    r.flags = OA_WIRE_DECODE_HANDSHAKE;
    r.pieces = 100;
    r.ext = OA_WIRE_EXT_ALL;
    return r;
}

/* ---- the format, byte for byte -------------------------------------------- */

static void expect_bytes(const oa_wire_msg *m, const uint8_t *want, size_t n)
{
    uint8_t out[64];
    size_t written = 0;

    assert_int_equal(oa_wire_encoded_size(m), n);
    assert_int_equal(oa_wire_encode(m, out, sizeof out, &written), 0);
    assert_int_equal(written, n);
    assert_memory_equal(out, want, n);
}

static void test_known_bytes(void **state)
{
    static const uint8_t ka[] = {0, 0, 0, 0};
    static const uint8_t unchoke[] = {0, 0, 0, 1, 1};
    static const uint8_t have[] = {0, 0, 0, 5, 4, 0, 0, 0x01, 0x02};
    static const uint8_t req[] = {0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0};
    static const uint8_t cancel[] = {0, 0, 0, 13, 8, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
    static const uint8_t port[] = {0, 0, 0, 3, 9, 0x1A, 0xE1};
    static const uint8_t piece[] = {0, 0, 0, 11, 7, 0, 0, 0, 1, 0, 0, 0, 2, 'x', 'y'};
    static const uint8_t suggest[] = {0, 0, 0, 5, 13, 0, 0, 0, 9};
    static const uint8_t have_all[] = {0, 0, 0, 1, 14};
    static const uint8_t have_none[] = {0, 0, 0, 1, 15};
    static const uint8_t reject[] = {0, 0, 0, 13, 16, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3};
    static const uint8_t fast[] = {0, 0, 0, 5, 17, 0, 0, 0, 4};
    static const uint8_t ext[] = {0, 0, 0, 4, 20, 3, 'a', 'b'};
    static const uint8_t bf[] = {0, 0, 0, 3, 5, 0xFF, 0x80};
    oa_wire_msg m;
    uint8_t hdr[OA_WIRE_PIECE_HEADER_LEN];

    (void)state;
    assert_string_equal(oa_wire_kind_name(OA_WIRE_KEEPALIVE), "keep-alive");
    assert_string_equal(oa_wire_kind_name(OA_WIRE_HANDSHAKE), "handshake");
    assert_string_equal(oa_wire_kind_name(OA_WIRE_REJECT), "reject request");
    assert_string_equal(oa_wire_kind_name((oa_wire_kind)11), "unknown");
    expect_bytes(&(oa_wire_msg){.kind = OA_WIRE_KEEPALIVE}, ka, sizeof ka);
    expect_bytes(&(oa_wire_msg){.kind = OA_WIRE_UNCHOKE}, unchoke, sizeof unchoke);
    expect_bytes(&(oa_wire_msg){.kind = OA_WIRE_HAVE, .index = 0x102}, have, sizeof have);
    m = (oa_wire_msg){.kind = OA_WIRE_REQUEST, .index = 1, .begin = 16384, .length = 16384};
    expect_bytes(&m, req, sizeof req);
    m = (oa_wire_msg){.kind = OA_WIRE_CANCEL, .index = 2, .begin = 3, .length = 4};
    expect_bytes(&m, cancel, sizeof cancel);
    expect_bytes(&(oa_wire_msg){.kind = OA_WIRE_PORT, .port = 6881}, port, sizeof port);
    m = (oa_wire_msg){.kind = OA_WIRE_PIECE, .index = 1, .begin = 2};
    m.data = (const uint8_t *)"xy";
    m.size = 2;
    expect_bytes(&m, piece, sizeof piece);
    assert_int_equal(oa_wire_encode_piece_header(hdr, 1, 2, 2), 0);
    assert_memory_equal(hdr, piece, sizeof hdr);
    assert_int_equal(oa_wire_encode_piece_header(hdr, 1, 2, (size_t)UINT32_MAX), OA_ERANGE);
    expect_bytes(&(oa_wire_msg){.kind = OA_WIRE_SUGGEST, .index = 9}, suggest, sizeof suggest);
    expect_bytes(&(oa_wire_msg){.kind = OA_WIRE_HAVE_ALL}, have_all, sizeof have_all);
    expect_bytes(&(oa_wire_msg){.kind = OA_WIRE_HAVE_NONE}, have_none, sizeof have_none);
    m = (oa_wire_msg){.kind = OA_WIRE_REJECT, .index = 1, .begin = 2, .length = 3};
    expect_bytes(&m, reject, sizeof reject);
    expect_bytes(&(oa_wire_msg){.kind = OA_WIRE_ALLOWED_FAST, .index = 4}, fast, sizeof fast);
    m = (oa_wire_msg){.kind = OA_WIRE_EXTENDED, .ext_id = 3, .data = (const uint8_t *)"ab"};
    m.size = 2;
    expect_bytes(&m, ext, sizeof ext);
    m = (oa_wire_msg){.kind = OA_WIRE_BITFIELD, .data = bf + 5, .size = 2};
    expect_bytes(&m, bf, sizeof bf);
    /* Fields a kind does not use are ignored, never sent. */
    m = (oa_wire_msg){.kind = OA_WIRE_CHOKE, .index = 5, .data = bf, .size = 7};
    expect_bytes(&m, (const uint8_t[]){0, 0, 0, 1, 0}, 5);
}

/* ---- round trips ------------------------------------------------------------ */

static void test_round_trip_each(void **state)
{
    oa_wire_msg samples[MAX_SAMPLES];
    oa_wire_msg got;
    oa_wire_decoder d;
    oa_wire_buf b;
    size_t n = make_samples(samples, 1, 1);
    size_t i;
    size_t used;
    unsigned flags;

    (void)state;
    for (i = 0; i < n; i++) {
        oa_wire_buf_init(&b);
        assert_int_equal(oa_wire_buf_put(&b, &samples[i]), 0);
        assert_int_equal(b.len, oa_wire_encoded_size(&samples[i]));
        flags = samples[i].kind == OA_WIRE_HANDSHAKE ? OA_WIRE_DECODE_HANDSHAKE : 0;
        assert_int_equal(oa_wire_decoder_init(&d, NULL, flags), 0);
        assert_int_equal(oa_wire_decoder_set_piece_count(&d, 100), 0);
        assert_int_equal(oa_wire_decoder_next(&d, b.data, b.len, &used, &got), 1);
        assert_int_equal(used, b.len);
        assert_msg_equal(&samples[i], &got);
        if (got.size > 0) { /* exactly one message in the chunk: still in place */
            assert_true(got.data > b.data && got.data + got.size == b.data + b.len);
        }
        assert_null(d.buf);
        assert_int_equal(oa_wire_decoder_pending(&d), 0);
        assert_int_equal(oa_wire_decoder_next(&d, b.data + used, 0, &used, &got), 0);
        if (samples[i].kind == OA_WIRE_UNKNOWN) {
            assert_string_equal(oa_wire_decoder_error(&d), "unknown message id 99");
        } else {
            assert_string_equal(oa_wire_decoder_error(&d), "");
        }
        oa_wire_decoder_free(&d);
        oa_wire_buf_free(&b);
    }
}

static void test_handshake(void **state)
{
    oa_wire_handshake hs;
    oa_wire_handshake back;
    uint8_t out[OA_WIRE_HANDSHAKE_LEN];
    char err[128] = "";

    (void)state;
    make_handshake(&hs, OA_WIRE_EXT_ALL);
    oa_wire_handshake_encode(&hs, out);
    assert_int_equal(out[0], 19);
    assert_memory_equal(out + 1, "BitTorrent protocol", 19);
    assert_memory_equal(out + 20, ((const uint8_t[]){0, 0, 0, 0, 0, 0x10, 0, 0x05}), 8);
    assert_int_equal(out[28], 0xA0);
    assert_int_equal(out[48], '0');
    assert_int_equal(oa_wire_handshake_decode(out, sizeof out, &back, err, sizeof err), 0);
    assert_memory_equal(&hs, &back, sizeof hs);
    assert_int_equal(oa_wire_handshake_extensions(&back), OA_WIRE_EXT_ALL);

    make_handshake(&hs, OA_WIRE_EXT_FAST);
    assert_int_equal(oa_wire_handshake_extensions(&hs), OA_WIRE_EXT_FAST);
    assert_int_equal(hs.reserved[7], 0x04);
    make_handshake(&hs, OA_WIRE_EXT_DHT);
    assert_int_equal(oa_wire_handshake_extensions(&hs), OA_WIRE_EXT_DHT);
    make_handshake(&hs, 0);
    hs.reserved[0] = 0xFF; /* bits of other extensions are not ours */
    hs.reserved[5] = 0xEF;
    hs.reserved[7] = 0xFA;
    assert_int_equal(oa_wire_handshake_extensions(&hs), 0);
    hs.reserved[5] = 0x10;
    assert_int_equal(oa_wire_handshake_extensions(&hs), OA_WIRE_EXT_EXTENDED);

    /* A prefix that is right so far asks for more. */
    assert_int_equal(oa_wire_handshake_decode(out, 0, NULL, NULL, 0), OA_EAGAIN);
    assert_int_equal(oa_wire_handshake_decode(out, 67, NULL, NULL, 0), OA_EAGAIN);
}

static void test_handshake_bad_pstr(void **state)
{
    static const uint8_t http[] = "GET /announce HTTP/1.1\r\n";
    uint8_t out[OA_WIRE_HANDSHAKE_LEN];
    oa_wire_handshake hs;
    oa_wire_decoder d;
    oa_wire_msg m;
    char err[128] = "";
    size_t used;

    (void)state;
    make_handshake(&hs, 0);
    oa_wire_handshake_encode(&hs, out);
    /* A stranger is refused at its first byte. */
    assert_int_equal(oa_wire_handshake_decode(http, 1, NULL, err, sizeof err), OA_EPROTO);
    assert_string_equal(err, "handshake starts with byte 71 instead of 19: not a BitTorrent peer");
    out[11] = 'P'; /* "BitTorrent Protocol" */
    assert_int_equal(oa_wire_handshake_decode(out, 11, NULL, err, sizeof err), OA_EAGAIN);
    assert_int_equal(oa_wire_handshake_decode(out, 12, NULL, err, sizeof err), OA_EPROTO);
    assert_string_equal(err, "handshake protocol name is not \"BitTorrent protocol\"");

    assert_int_equal(oa_wire_decoder_init(&d, NULL, OA_WIRE_DECODE_HANDSHAKE), 0);
    assert_int_equal(oa_wire_decoder_next(&d, out, 5, &used, &m), 0);
    assert_int_equal(used, 5);
    assert_int_equal(oa_wire_decoder_pending(&d), 5);
    assert_int_equal(oa_wire_decoder_next(&d, out + 5, sizeof out - 5, &used, &m), OA_EPROTO);
    assert_int_equal(m.kind, 0);
    assert_string_equal(oa_wire_decoder_error(&d),
                        "handshake protocol name is not \"BitTorrent protocol\"");
    assert_int_equal(oa_wire_decoder_next(&d, out, 1, &used, &m), OA_EPROTO);
    assert_int_equal(used, 0);
    oa_wire_decoder_free(&d);
}

/* ---- cut anywhere ------------------------------------------------------------- */

static void check_cut(const uint8_t *in, size_t n, const feeder *f, size_t want_count,
                      const oa_wire_buf *whole)
{
    run r = default_run();
    oa_wire_buf out;

    oa_wire_buf_init(&out);
    decode_stream(in, n, f, &r, &out);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, want_count);
    assert_int_equal(r.pending, 0);
    assert_int_equal(out.len, whole->len);
    assert_memory_equal(out.data, whole->data, out.len);
    oa_wire_buf_free(&out);
}

static void test_split_everywhere(void **state)
{
    oa_wire_msg samples[MAX_SAMPLES];
    size_t n = make_samples(samples, 1, 1);
    oa_wire_buf b;
    feeder f = {0, 0};
    size_t i;

    (void)state;
    encode_all(samples, n, &b);
    assert_true(b.len > OA_WIRE_DEFAULT_MAX_BLOCK);
    for (f.split = 0; f.split <= b.len; f.split++) {
        check_cut(b.data, b.len, &f, n, &b);
    }
    f.mode = 1;
    check_cut(b.data, b.len, &f, n, &b);
    f.mode = 2;
    oa_test_rng_seed(0x5EED5EEDULL);
    for (i = 0; i < 2000; i++) {
        check_cut(b.data, b.len, &f, n, &b);
    }
    oa_wire_buf_free(&b);
}

static void test_merged_in_place(void **state)
{
    oa_wire_msg samples[MAX_SAMPLES];
    size_t n = make_samples(samples, 1, 1);
    oa_wire_decoder d;
    oa_wire_msg m;
    oa_wire_buf b;
    size_t off = 0;
    size_t used;
    size_t i;

    (void)state;
    encode_all(samples, n, &b);
    assert_int_equal(oa_wire_decoder_init(&d, NULL, OA_WIRE_DECODE_HANDSHAKE), 0);
    for (i = 0; i < n; i++) {
        assert_int_equal(oa_wire_decoder_next(&d, b.data + off, b.len - off, &used, &m), 1);
        assert_msg_equal(&samples[i], &m);
        /* A message whole in the chunk is returned in place: no copy. */
        if (m.size > 0) {
            assert_true(m.data >= b.data + off && m.data + m.size <= b.data + off + used);
        }
        off += used;
    }
    assert_int_equal(off, b.len);
    assert_int_equal(oa_wire_decoder_next(&d, b.data + off, 0, &used, &m), 0);
    assert_null(d.buf);
    oa_wire_decoder_free(&d);
    oa_wire_buf_free(&b);
}

/* ---- malformed input ------------------------------------------------------------ */

typedef struct bad_case {
    uint8_t bytes[24];
    size_t len;
    uint32_t pieces;
    unsigned ext;
    uint32_t max_bitfield;
    const char *why;
} bad_case;

#define ALL OA_WIRE_EXT_ALL

static const bad_case bad_cases[] = {
    {{0xff, 0xff, 0xff, 0xff}, 4, 100, ALL, 0,
     "message of 4294967295 bytes exceeds the 65538-byte limit"},
    {{0xff, 0xff, 0xff, 0xff}, 4, 0, ALL, 0,
     "message of 4294967295 bytes exceeds the 262145-byte limit"},
    {{0, 0, 0, 8, 7}, 5, 100, ALL, 0, "piece message of 8 bytes is shorter than its 9-byte header"},
    {{0, 0, 0, 9, 7}, 5, 100, ALL, 0, "piece message with an empty block"},
    {{0, 0, 0x40, 0x0a, 7}, 5, 100, ALL, 0, "piece block of 16385 bytes exceeds 16384"},
    {{0, 0, 0, 10, 7, 0, 0, 0, 100, 0, 0, 0, 0, 1}, 14, 100, ALL, 0,
     "piece index 100 beyond 100 pieces"},
    {{0, 0, 0, 10, 7, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 1}, 14, 100, ALL, 0,
     "piece at offset 4294967295 for 1 bytes runs past 4 GiB"},
    {{0, 0, 0, 13, 5}, 5, 100, ALL, 0, "bitfield of 12 bytes for 100 pieces"},
    {{0, 0, 0, 1, 5}, 5, 0, ALL, 0, "bitfield of 0 bytes"},
    {{0, 0, 0, 66, 5}, 5, 0, ALL, 64, "bitfield of 65 bytes exceeds the 64-byte limit"},
    {{0, 0, 0, 14, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01}, 18, 100, ALL, 0,
     "bitfield for 100 pieces sets spare bits after the last piece"},
    {{0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0}, 17, 100, ALL, 0,
     "request for 65536 bytes exceeds 16384"},
    {{0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, 17, 100, ALL, 0, "request for 0 bytes"},
    {{0, 0, 0, 13, 6, 0, 0, 0, 1, 0xff, 0xff, 0xc0, 1, 0, 0, 0x40, 0}, 17, 100, ALL, 0,
     "request at offset 4294950913 for 16384 bytes runs past 4 GiB"},
    {{0, 0, 0, 13, 8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x40, 0}, 17, 100, ALL, 0,
     "cancel index 256 beyond 100 pieces"},
    {{0, 0, 0, 13, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x40, 1}, 17, 100, ALL, 0,
     "reject request for 16385 bytes exceeds 16384"},
    {{0, 0, 0, 5, 4, 0, 0, 0x01, 0xf4}, 9, 100, ALL, 0, "have index 500 beyond 100 pieces"},
    {{0, 0, 0, 5, 13, 0, 0, 0, 100}, 9, 100, ALL, 0, "suggest piece index 100 beyond 100 pieces"},
    {{0, 0, 0, 5, 17, 0xff, 0, 0, 0}, 9, 100, ALL, 0,
     "allowed fast index 4278190080 beyond 100 pieces"},
    {{0, 0, 0, 9, 4}, 5, 100, ALL, 0, "have message of 9 bytes, expected 5"},
    {{0, 0, 0, 2, 0}, 5, 100, ALL, 0, "choke message of 2 bytes, expected 1"},
    {{0, 0, 0, 4, 9}, 5, 100, ALL, 0, "port message of 4 bytes, expected 3"},
    {{0, 0, 0, 12, 6}, 5, 100, ALL, 0, "request message of 12 bytes, expected 13"},
    {{0, 0, 0, 2, 15}, 5, 100, ALL, 0, "have none message of 2 bytes, expected 1"},
    {{0, 0, 0, 1, 20}, 5, 100, ALL, 0, "extended message of 1 byte has no extended message id"},
    {{0, 1, 0, 3, 20}, 5, 0, ALL, 0,
     "extended message payload of 65537 bytes exceeds the 65536-byte limit"},
    {{0, 0, 0x4e, 0x20, 99}, 5, 100, ALL, 0,
     "unknown message id 99 of 20000 bytes exceeds the 16385-byte limit"},
    {{0, 0, 0, 1, 14}, 5, 100, OA_WIRE_EXT_EXTENDED, 0,
     "have all message without the fast extension (BEP 6) negotiated"},
    {{0, 0, 0, 5, 13}, 5, 100, OA_WIRE_EXT_EXTENDED | OA_WIRE_EXT_DHT, 0,
     "suggest piece message without the fast extension (BEP 6) negotiated"},
    {{0, 0, 0, 5, 17}, 5, 100, OA_WIRE_EXT_EXTENDED, 0,
     "allowed fast message without the fast extension (BEP 6) negotiated"},
    {{0, 0, 0, 13, 16}, 5, 100, 0, 0,
     "reject request message without the fast extension (BEP 6) negotiated"},
    {{0, 0, 0, 2, 20, 0}, 6, 100, OA_WIRE_EXT_FAST | OA_WIRE_EXT_DHT, 0,
     "extended message without the extension protocol (BEP 10) negotiated"},
};

static void test_malformed(void **state)
{
    oa_wire_limits lim;
    feeder f = {0, 0};
    size_t i;
    run r;

    (void)state;
    for (i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];

        for (f.mode = 0; f.mode < 2; f.mode++) { /* one chunk, then byte by byte */
            memset(&lim, 0, sizeof lim);
            lim.max_bitfield = c->max_bitfield;
            r = default_run();
            r.flags = 0;
            r.pieces = c->pieces;
            r.ext = c->ext;
            r.limits = &lim;
            f.split = c->len;
            decode_stream(c->bytes, c->len, &f, &r, NULL);
            if (r.rc != OA_EPROTO || strcmp(r.why, c->why) != 0) {
                fail_msg("case %zu: rc %d, \"%s\", expected \"%s\"", i, r.rc, r.why, c->why);
            }
            assert_int_equal(r.count, 0);
        }
    }
}

static void test_unknown_id_is_returned(void **state)
{
    static const uint8_t in[] = {0, 0, 0, 4, 99, 'a', 'b', 'c', 0, 0, 0, 5, 4, 0, 0, 0, 1};
    oa_wire_decoder d;
    oa_wire_msg m;
    size_t used;

    (void)state;
    assert_int_equal(oa_wire_decoder_init(&d, NULL, 0), 0);
    assert_int_equal(oa_wire_decoder_next(&d, in, sizeof in, &used, &m), 1);
    assert_int_equal(m.kind, OA_WIRE_UNKNOWN);
    assert_int_equal(m.id, 99);
    assert_int_equal(m.size, 3);
    assert_memory_equal(m.data, "abc", 3);
    assert_string_equal(oa_wire_decoder_error(&d), "unknown message id 99");
    assert_int_equal(oa_wire_decoder_next(&d, in + used, sizeof in - used, &used, &m), 1);
    assert_int_equal(m.kind, OA_WIRE_HAVE);
    assert_int_equal(m.index, 1);
    assert_string_equal(oa_wire_decoder_error(&d), "");
    oa_wire_decoder_free(&d);
}

/* ---- limits before allocation -------------------------------------------------- */

static void feed_bytes(oa_wire_decoder *d, const uint8_t *in, size_t n, int want_last)
{
    oa_wire_msg m;
    size_t used;
    size_t i;

    for (i = 0; i < n; i++) {
        int rc = oa_wire_decoder_next(d, in + i, 1, &used, &m);

        assert_int_equal(rc, i + 1 == n ? want_last : 0);
        assert_int_equal(used, 1);
    }
}

static void test_limits_before_allocation(void **state)
{
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
    static const uint8_t piece_hdr[] = {0, 0, 0x40, 9, 7, 0, 0, 0, 1, 0, 0, 0, 0};
    oa_wire_limits lim = {.max_block = 1024};
    oa_wire_decoder d;
    uint8_t *ext;
    size_t ext_len = 6 + OA_WIRE_DEFAULT_MAX_EXTENDED;

    (void)state;
    /* The prefix alone is refused: nothing allocated, no payload awaited. */
    assert_int_equal(oa_wire_decoder_init(&d, NULL, 0), 0);
    feed_bytes(&d, huge, sizeof huge, OA_EPROTO);
    assert_null(d.buf);
    oa_wire_decoder_free(&d);

    /* A header promising a block is not allocated for until bytes come. */
    assert_int_equal(oa_wire_decoder_init(&d, NULL, 0), 0);
    feed_bytes(&d, piece_hdr, 5, 0);
    assert_null(d.buf);
    feed_bytes(&d, piece_hdr + 5, sizeof piece_hdr - 5, 0);
    assert_int_equal(d.buf_cap, 16392); /* index, begin, block: the payload, exactly */
    assert_int_equal(oa_wire_decoder_pending(&d), sizeof piece_hdr);
    oa_wire_decoder_free(&d);

    /* A lower block limit refuses the same header. */
    assert_int_equal(oa_wire_decoder_init(&d, &lim, 0), 0);
    feed_bytes(&d, piece_hdr, 5, OA_EPROTO);
    assert_string_equal(oa_wire_decoder_error(&d), "piece block of 16384 bytes exceeds 1024");
    oa_wire_decoder_free(&d);

    /* The largest extended message, a byte at a time, fits the limit. */
    ext = calloc(1, ext_len);
    assert_non_null(ext);
    ext[1] = 1;
    ext[3] = 2;
    ext[4] = OA_WIRE_EXTENDED;
    assert_int_equal(oa_wire_decoder_init(&d, NULL, 0), 0);
    feed_bytes(&d, ext, ext_len, 1);
    assert_int_equal(d.buf_cap, 1 + OA_WIRE_DEFAULT_MAX_EXTENDED);
    oa_wire_decoder_free(&d);
    oa_wire_decoder_free(&d); /* twice is fine */
    free(ext);

    lim = (oa_wire_limits){.max_unknown = OA_WIRE_LIMIT_CEILING + 1};
    assert_int_equal(oa_wire_decoder_init(&d, &lim, 0), OA_EINVAL);
}

static void test_piece_count(void **state)
{
    static const uint8_t have500[] = {0, 0, 0, 5, 4, 0, 0, 0x01, 0xf4};
    oa_wire_decoder d;
    oa_wire_msg m;
    size_t used;

    (void)state;
    assert_int_equal(oa_wire_decoder_init(&d, NULL, 0), 0);
    assert_int_equal(oa_wire_decoder_set_piece_count(&d, 8 * OA_WIRE_DEFAULT_MAX_BITFIELD + 1),
                     OA_ERANGE);
    assert_int_equal(oa_wire_decoder_set_piece_count(&d, 8 * OA_WIRE_DEFAULT_MAX_BITFIELD), 0);
    assert_int_equal(oa_wire_decoder_set_piece_count(&d, 0), 0);
    /* Unknown piece count: any index passes. */
    assert_int_equal(oa_wire_decoder_next(&d, have500, sizeof have500, &used, &m), 1);
    assert_int_equal(m.index, 500);
    assert_int_equal(oa_wire_decoder_set_piece_count(&d, 501), 0);
    assert_int_equal(oa_wire_decoder_next(&d, have500, sizeof have500, &used, &m), 1);
    assert_int_equal(oa_wire_decoder_set_piece_count(&d, 500), 0);
    assert_int_equal(oa_wire_decoder_next(&d, have500, sizeof have500, &used, &m), OA_EPROTO);
    assert_string_equal(oa_wire_decoder_error(&d), "have index 500 beyond 500 pieces");
    oa_wire_decoder_free(&d);

    /* The piece count changes while a bitfield is on its way. */
    assert_int_equal(oa_wire_decoder_init(&d, NULL, 0), 0);
    assert_int_equal(oa_wire_decoder_set_piece_count(&d, 100), 0);
    feed_bytes(&d, (const uint8_t[]){0, 0, 0, 14, 5, 0xff}, 6, 0);
    assert_int_equal(oa_wire_decoder_set_piece_count(&d, 200), 0);
    feed_bytes(&d, bits100, 12, OA_EPROTO);
    assert_string_equal(oa_wire_decoder_error(&d), "bitfield of 13 bytes for 200 pieces");
    oa_wire_decoder_free(&d);
}

/* ---- encoders ------------------------------------------------------------------- */

static void test_encode_errors_and_growth(void **state)
{
    oa_wire_msg m = {.kind = OA_WIRE_REQUEST, .index = 1, .begin = 0, .length = 16384};
    uint8_t out[16];
    size_t written = 0;
    oa_wire_buf b;
    run r = default_run();
    feeder f = {2, 0};
    uint32_t i;

    (void)state;
    assert_int_equal(oa_wire_encode(&m, out, sizeof out, &written), OA_EOVERFLOW);
    assert_int_equal(written, 17);
    m = (oa_wire_msg){.kind = (oa_wire_kind)11};
    assert_int_equal(oa_wire_encoded_size(&m), 0);
    assert_int_equal(oa_wire_encode(&m, out, sizeof out, &written), OA_EINVAL);
    m = (oa_wire_msg){.kind = OA_WIRE_EXTENDED, .size = 3};
    assert_int_equal(oa_wire_encode(&m, out, sizeof out, &written), OA_EINVAL);
    m = (oa_wire_msg){.kind = OA_WIRE_PIECE, .data = out, .size = (size_t)UINT32_MAX - 8};
    assert_int_equal(oa_wire_encoded_size(&m), 0);
    oa_wire_buf_init(&b);
    assert_int_equal(oa_wire_buf_put(&b, &m), OA_EINVAL);
    assert_int_equal(b.len, 0);

    for (i = 0; i < 5000; i++) {
        m = (oa_wire_msg){.kind = OA_WIRE_HAVE, .index = i % 100};
        assert_int_equal(oa_wire_buf_put(&b, &m), 0);
    }
    assert_int_equal(b.len, 5000 * 9);
    r.flags = 0;
    oa_test_rng_seed(42);
    decode_stream(b.data, b.len, &f, &r, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.count, 5000);
    oa_wire_buf_free(&b);
    assert_null(b.data);
}

/* ---- fuzz ----------------------------------------------------------------------- */

static void mutate(uint8_t *s, size_t *n, size_t cap)
{
    size_t ops = 1 + oa_test_rng_below(4);
    size_t i;
    size_t at;
    size_t k;

    for (i = 0; i < ops && *n > 0; i++) {
        at = oa_test_rng_below(*n);
        switch (oa_test_rng_below(6)) {
        case 0:
            s[at] = (uint8_t)oa_test_rng();
            break;
        case 1:
            s[at] ^= (uint8_t)(1u << oa_test_rng_below(8));
            break;
        case 2:
            *n = at; /* truncate */
            break;
        case 3: /* a length prefix where one is read: a near-miss size */
            s[at] = (uint8_t)(s[at] + (oa_test_rng_below(2) ? 1 : 0xff));
            break;
        case 4: /* drop bytes */
            k = 1 + oa_test_rng_below(8);
            k = k < *n - at ? k : *n - at;
            memmove(s + at, s + at + k, *n - at - k);
            *n -= k;
            break;
        default: /* insert bytes */
            k = 1 + oa_test_rng_below(8);
            if (*n + k <= cap) {
                memmove(s + at + k, s + at, *n - at);
                for (size_t j = 0; j < k; j++) {
                    s[at + j] = (uint8_t)oa_test_rng();
                }
                *n += k;
            }
            break;
        }
    }
}

static void test_fuzz_mutations(void **state)
{
    static const uint32_t piece_counts[] = {100, 100, 0, 1, 9};
    oa_wire_msg samples[MAX_SAMPLES];
    oa_wire_buf base[2];
    oa_wire_limits lim;
    uint8_t *s;
    size_t cap;
    size_t n;
    size_t it;
    size_t refused = 0;
    feeder f = {2, 0};
    run r;

    (void)state;
    n = make_samples(samples, 1, 0);
    encode_all(samples, n, &base[0]);     /* with the handshake */
    encode_all(samples + 1, n - 1, &base[1]); /* without */
    cap = base[0].len + 64;
    s = malloc(cap);
    assert_non_null(s);
    oa_test_rng_seed(0xF0220F022ULL);
    for (it = 0; it < FUZZ_ITERATIONS; it++) {
        int hs = (int)oa_test_rng_below(2);

        n = base[1 - hs].len;
        memcpy(s, base[1 - hs].data, n);
        mutate(s, &n, cap);
        memset(&lim, 0, sizeof lim);
        if (oa_test_rng_below(4) == 0) {
            lim.max_block = (uint32_t)(1 + oa_test_rng_below(128));
            lim.max_extended = (uint32_t)(1 + oa_test_rng_below(64));
            lim.max_bitfield = (uint32_t)(13 + oa_test_rng_below(16)); /* 100 pieces fit */
            lim.max_unknown = (uint32_t)(1 + oa_test_rng_below(8));
        }
        r = default_run();
        r.flags = hs ? OA_WIRE_DECODE_HANDSHAKE : 0;
        r.pieces = piece_counts[oa_test_rng_below(5)];
        r.ext = oa_test_rng_below(4) == 0 ? (unsigned)oa_test_rng_below(8) : OA_WIRE_EXT_ALL;
        r.limits = &lim;
        decode_stream(s, n, &f, &r, NULL);
        refused += r.rc == OA_EPROTO;
    }
    /* The loop must have seen both outcomes, or it tested nothing. */
    assert_true(refused > FUZZ_ITERATIONS / 10);
    assert_true(refused < FUZZ_ITERATIONS);
    free(s);
    oa_wire_buf_free(&base[0]);
    oa_wire_buf_free(&base[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_bytes),
        cmocka_unit_test(test_round_trip_each),
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_handshake_bad_pstr),
        cmocka_unit_test(test_split_everywhere),
        cmocka_unit_test(test_merged_in_place),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_unknown_id_is_returned),
        cmocka_unit_test(test_limits_before_allocation),
        cmocka_unit_test(test_piece_count),
        cmocka_unit_test(test_encode_errors_and_growth),
        cmocka_unit_test(test_fuzz_mutations),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

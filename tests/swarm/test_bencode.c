/* Unit tests of the bencode decoder, encoder and writer
 * (plugins/swarm/bencode.c, bencode_write.c), ending with a deterministic
 * mutation fuzz loop so that every CI run under ASan and UBSan exercises
 * the decoder on malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openace/sdk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"

static char err[256];

/* Decodes the C string s; strict selects the key-order mode. */
static int dec(const char *s, int strict, oa_benc_doc **doc)
{
    oa_benc_opts o;

    memset(&o, 0, sizeof(o));
    o.strict = strict;
    return oa_benc_decode(s, strlen(s), &o, doc, err, sizeof(err));
}

/* Decodes s, which must succeed. */
static oa_benc_doc *dec_ok(const char *s, int strict)
{
    oa_benc_doc *doc = NULL;
    int rc = dec(s, strict, &doc);

    if (rc != 0) {
        fail_msg("decode(%s) = %d: %s", s, rc, err);
    }
    assert_non_null(doc);
    return doc;
}

/* Decodes s, which must fail with code and an error naming the offset. */
static void dec_fail(const char *s, int strict, int code, const char *msg)
{
    oa_benc_doc *doc = (oa_benc_doc *)&doc;
    int rc = dec(s, strict, &doc);

    if (rc != code) {
        fail_msg("decode(%.60s) = %d, want %d (%s)", s, rc, code, err);
    }
    assert_null(doc);
    if (msg != NULL && strcmp(err, msg) != 0) {
        fail_msg("decode(%.60s): error \"%s\", want \"%s\"", s, err, msg);
    }
    assert_non_null(strstr(err, " at offset "));
}

static void test_dict_and_lookups(void **state)
{
    const char *s = "d3:bar4:spam3:fooi42e4:listli1e0:d1:xleee5:zzzzzi-7ee";
    oa_benc_doc *doc = dec_ok(s, 1);
    const oa_benc_node *root = oa_benc_doc_root(doc);
    const oa_benc_node *list;
    const oa_benc_node *k;
    const oa_benc_node *v;
    const uint8_t *p;
    oa_benc_iter it;
    size_t n;
    size_t off;
    int64_t i;
    int keys = 0;

    (void)state;
    assert_int_equal(oa_benc_type_of(root), OA_BENC_DICT);
    assert_int_equal(oa_benc_count(root), 4);
    assert_int_equal(oa_benc_dict_bytes(root, "bar", &p, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(p, "spam", 4);
    assert_int_equal(oa_benc_dict_int(root, "foo", &i), 0);
    assert_int_equal(i, 42);
    assert_int_equal(oa_benc_dict_int(root, "zzzzz", &i), 0);
    assert_int_equal(i, -7);
    assert_int_equal(oa_benc_dict_int(root, "bar", &i), OA_ETYPE);
    assert_int_equal(oa_benc_dict_int(root, "nope", &i), OA_ENOENT);
    assert_int_equal(oa_benc_dict_bytes(root, "foo", &p, &n), OA_ETYPE);
    assert_null(oa_benc_dict_dict(root, "list"));
    list = oa_benc_dict_list(root, "list");
    assert_non_null(list);
    assert_int_equal(oa_benc_count(list), 3);
    assert_int_equal(oa_benc_int(oa_benc_list_at(list, 0), &i), 0);
    assert_int_equal(i, 1);
    assert_int_equal(oa_benc_bytes(oa_benc_list_at(list, 1), &p, &n), 0);
    assert_int_equal(n, 0);
    v = oa_benc_list_at(list, 2);
    assert_int_equal(oa_benc_type_of(v), OA_BENC_DICT);
    assert_int_equal(oa_benc_count(oa_benc_dict_list(v, "x")), 0);
    assert_null(oa_benc_list_at(list, 3));
    /* The list's span is its exact source bytes. */
    oa_benc_span(doc, list, &off, &n);
    assert_int_equal(off, 27);
    assert_int_equal(n, strlen("li1e0:d1:xleee"));
    assert_memory_equal(oa_benc_raw(list, &n), "li1e0:d1:xleee", n);
    oa_benc_span(doc, root, &off, &n);
    assert_int_equal(off, 0);
    assert_int_equal(n, strlen(s));
    assert_int_equal(oa_benc_doc_consumed(doc), strlen(s));
    /* Iteration visits pairs in source order. */
    oa_benc_iter_init(&it, root);
    while (oa_benc_iter_next(&it, &k, &v)) {
        keys++;
        if (keys == 4) {
            assert_true(oa_benc_bytes_eq(k, "zzzzz"));
        }
    }
    assert_int_equal(keys, 4);
    oa_benc_doc_free(doc);
}

static void test_integers(void **state)
{
    static const struct {
        const char *s;
        int64_t v;
    } ok[] = {{"i0e", 0},
              {"i-1e", -1},
              {"i1234567890e", 1234567890},
              {"i9223372036854775807e", INT64_MAX},
              {"i-9223372036854775808e", INT64_MIN}};
    size_t k;

    (void)state;
    for (k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
        oa_benc_doc *doc = dec_ok(ok[k].s, 1);
        int64_t v = 0;

        assert_int_equal(oa_benc_int(oa_benc_doc_root(doc), &v), 0);
        assert_true(v == ok[k].v);
        oa_benc_doc_free(doc);
    }
    dec_fail("i03e", 1, OA_EPROTO, "bencode: integer with leading zero at offset 0");
    dec_fail("d3:fooi03ee", 0, OA_EPROTO, "bencode: integer with leading zero at offset 6");
    dec_fail("i00e", 1, OA_EPROTO, "bencode: integer with leading zero at offset 0");
    dec_fail("i-03e", 1, OA_EPROTO, "bencode: integer with leading zero at offset 0");
    dec_fail("i-0e", 1, OA_EPROTO, "bencode: integer -0 at offset 0");
    dec_fail("ie", 1, OA_EPROTO, "bencode: integer without digits at offset 0");
    dec_fail("i-e", 1, OA_EPROTO, "bencode: integer without digits at offset 0");
    dec_fail("i+1e", 1, OA_EPROTO, NULL);
    dec_fail("i1.5e", 1, OA_EPROTO, "bencode: unexpected byte 0x2e in integer at offset 2");
    dec_fail("i12", 1, OA_EPROTO, "bencode: input ends in the middle of a value at offset 3");
    dec_fail("i9223372036854775808e", 1, OA_ERANGE,
             "bencode: integer does not fit in 64 bits at offset 0");
    dec_fail("i-9223372036854775809e", 1, OA_ERANGE, NULL);
    dec_fail("i99999999999999999999999999e", 1, OA_ERANGE, NULL);
}

static void test_byte_strings(void **state)
{
    oa_benc_doc *doc;
    const uint8_t *p;
    size_t n;
    static const uint8_t bin[] = {'3', ':', 0, 0xff, 'e'};

    (void)state;
    doc = dec_ok("0:", 1);
    assert_int_equal(oa_benc_bytes(oa_benc_doc_root(doc), &p, &n), 0);
    assert_int_equal(n, 0);
    oa_benc_doc_free(doc);
    /* Bytes are bytes: NUL and 0xff are fine, the copy is the document's. */
    assert_int_equal(oa_benc_decode(bin, sizeof(bin), NULL, &doc, err, sizeof(err)), 0);
    assert_int_equal(oa_benc_bytes(oa_benc_doc_root(doc), &p, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(p, bin + 2, 3);
    assert_ptr_not_equal(p, bin + 2);
    oa_benc_doc_free(doc);

    dec_fail("03:abc", 1, OA_EPROTO, "bencode: byte-string length with leading zero at offset 0");
    dec_fail("5:abc", 1, OA_EPROTO,
             "bencode: byte string of 5 bytes at offset 0 runs past the end of the input "
             "(3 bytes left)");
    dec_fail("4:", 1, OA_EPROTO, NULL);
    dec_fail("4", 1, OA_EPROTO, NULL);
    dec_fail("1xa", 1, OA_EPROTO, "bencode: expected ':' after byte-string length at offset 1");
    /* Huge lengths fail on the length alone: nothing that size is allocated,
     * and digits past 2^64 do not wrap around to a small number. */
    dec_fail("99999999999:", 1, OA_EPROTO,
             "bencode: byte string at offset 0 is longer than the 12 bytes of input");
    dec_fail("l99999999999:e", 1, OA_EPROTO,
             "bencode: byte string at offset 1 is longer than the 14 bytes of input");
    dec_fail("18446744073709551621:abcde", 1, OA_EPROTO, NULL);
    dec_fail("18446744073709551616:", 1, OA_EPROTO, NULL);
}

static void test_structure_errors(void **state)
{
    oa_benc_doc *doc = NULL;

    (void)state;
    dec_fail("", 1, OA_EPROTO, "bencode: empty input at offset 0");
    dec_fail("x", 1, OA_EPROTO, "bencode: unexpected byte 0x78 at offset 0");
    dec_fail("e", 1, OA_EPROTO, "bencode: unexpected 'e' at offset 0");
    dec_fail("l", 1, OA_EPROTO, "bencode: input ends in the middle of a value at offset 1");
    dec_fail("d1:a", 1, OA_EPROTO, NULL);
    dec_fail("d1:ae", 1, OA_EPROTO,
             "bencode: dictionary key has no value before 'e' at offset 4");
    dec_fail("di1ei2ee", 0, OA_EPROTO, "bencode: dictionary key at offset 1 is not a byte string");
    dec_fail("dlei1ee", 0, OA_EPROTO, NULL);
    dec_fail("i1ei2e", 1, OA_EPROTO, "bencode: trailing data after the value at offset 3");
    dec_fail("le ", 1, OA_EPROTO, NULL);
    /* With allow_trailing the rest is left to the caller (ut_metadata). */
    {
        oa_benc_opts o;
        const char *msg = "d8:msg_typei1e5:piecei0ee<piece bytes>";

        memset(&o, 0, sizeof(o));
        o.allow_trailing = 1;
        assert_int_equal(oa_benc_decode(msg, strlen(msg), &o, &doc, err, sizeof(err)), 0);
        assert_int_equal(oa_benc_doc_consumed(doc), strlen("d8:msg_typei1e5:piecei0ee"));
        oa_benc_doc_free(doc);
    }
    assert_int_equal(oa_benc_decode(NULL, 0, NULL, &doc, err, sizeof(err)), OA_EPROTO);
    assert_int_equal(oa_benc_decode(NULL, 3, NULL, &doc, NULL, 0), OA_EINVAL);
    assert_int_equal(oa_benc_decode("i1e", 3, NULL, NULL, NULL, 0), OA_EINVAL);
}

/* Every proper prefix of a valid document is an error, never a crash. */
static void test_truncated(void **state)
{
    const char *s = "d4:infod6:lengthi1048576e4:name5:a.mkv12:piece lengthi16384e"
                    "6:pieces20:01234567890123456789e4:listl0:i-5eleee";
    size_t n = strlen(s);
    size_t cut;

    (void)state;
    for (cut = 0; cut < n; cut++) {
        oa_benc_doc *doc = (oa_benc_doc *)&doc;
        int rc = oa_benc_decode(s, cut, NULL, &doc, err, sizeof(err));

        assert_int_equal(rc, OA_EPROTO);
        assert_null(doc);
        assert_non_null(strstr(err, " at offset "));
    }
    oa_benc_doc_free(dec_ok(s, 1));
}

static char *repeat(const char *open, size_t n, const char *close)
{
    size_t lo = strlen(open);
    size_t lc = strlen(close);
    char *s = malloc(n * (lo + lc) + 1);
    size_t i;

    assert_non_null(s);
    for (i = 0; i < n; i++) {
        memcpy(s + i * lo, open, lo);
        memcpy(s + n * lo + i * lc, close, lc);
    }
    s[n * (lo + lc)] = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    oa_benc_opts o;
    oa_benc_doc *doc = NULL;
    char *s;
    uint8_t *enc;
    size_t len;

    (void)state;
    /* 64 levels are fine, 65 are not. */
    s = repeat("l", 64, "e");
    doc = dec_ok(s, 1);
    oa_benc_doc_free(doc);
    free(s);
    s = repeat("l", 65, "e");
    dec_fail(s, 1, OA_ERANGE, "bencode: nesting deeper than 64 levels at offset 64");
    free(s);
    s = repeat("d1:a", 65, "e");
    dec_fail(s, 1, OA_ERANGE, "bencode: nesting deeper than 64 levels at offset 256");
    free(s);
    /* A million levels: a clean error, no stack overflow. */
    s = repeat("l", 1000000, "e");
    dec_fail(s, 1, OA_ERANGE, NULL);
    /* Asking for more is clamped to the ceiling, which the encoder's
     * recursion handles. */
    memset(&o, 0, sizeof(o));
    o.max_depth = 4000000;
    assert_int_equal(oa_benc_decode(s, strlen(s), &o, &doc, err, sizeof(err)), OA_ERANGE);
    assert_non_null(strstr(err, "deeper than 1024 levels"));
    free(s);
    s = repeat("l", OA_BENC_DEPTH_CEILING, "e");
    assert_int_equal(oa_benc_decode(s, strlen(s), &o, &doc, err, sizeof(err)), 0);
    assert_int_equal(oa_benc_encode(oa_benc_doc_root(doc), &enc, &len), 0);
    assert_int_equal(len, strlen(s));
    assert_memory_equal(enc, s, len);
    free(enc);
    oa_benc_doc_free(doc);
    free(s);
}

static void test_node_limit(void **state)
{
    oa_benc_opts o;
    oa_benc_doc *doc = NULL;
    const char *s = "li1ei2ei3ei4ei5ee";

    (void)state;
    memset(&o, 0, sizeof(o));
    o.max_nodes = 6;
    assert_int_equal(oa_benc_decode(s, strlen(s), &o, &doc, err, sizeof(err)), 0);
    oa_benc_doc_free(doc);
    o.max_nodes = 5;
    assert_int_equal(oa_benc_decode(s, strlen(s), &o, &doc, err, sizeof(err)), OA_ERANGE);
    assert_null(doc);
    assert_string_equal(err, "bencode: more than 5 values at offset 13");
}

static void test_key_order(void **state)
{
    oa_benc_doc *doc;
    int64_t v;
    uint8_t *enc;
    size_t len;

    (void)state;
    /* Strict: BEP 3 order by raw bytes, a prefix before its extensions. */
    oa_benc_doc_free(dec_ok("d1:ai1e2:aai2e1:bi3e2:\xff\x01i4ee", 1));
    dec_fail("d1:bi1e1:ai2ee", 1, OA_EPROTO, "bencode: dictionary key out of order at offset 7");
    dec_fail("d2:aai1e1:ai2ee", 1, OA_EPROTO, "bencode: dictionary key out of order at offset 8");
    dec_fail("d1:ai1e1:ai2ee", 1, OA_EPROTO, "bencode: duplicate dictionary key at offset 7");
    dec_fail("d1:ad1:yi1e1:xi2eee", 1, OA_EPROTO,
             "bencode: dictionary key out of order at offset 11");
    /* Lenient: accepted; lookups find the first of duplicates. */
    doc = dec_ok("d1:bi1e1:ai2ee", 0);
    assert_int_equal(oa_benc_dict_int(oa_benc_doc_root(doc), "a", &v), 0);
    assert_int_equal(v, 2);
    /* Encoding sorts the keys. */
    assert_int_equal(oa_benc_encode(oa_benc_doc_root(doc), &enc, &len), 0);
    assert_int_equal(len, 14);
    assert_memory_equal(enc, "d1:ai2e1:bi1ee", len);
    free(enc);
    oa_benc_doc_free(doc);
    doc = dec_ok("d1:ai1e1:ai2ee", 0);
    assert_int_equal(oa_benc_dict_int(oa_benc_doc_root(doc), "a", &v), 0);
    assert_int_equal(v, 1);
    /* A repeated key has no canonical form. */
    assert_int_equal(oa_benc_encode(oa_benc_doc_root(doc), &enc, &len), OA_EINVAL);
    assert_null(enc);
    oa_benc_doc_free(doc);
}

static void test_writer(void **state)
{
    oa_benc_writer w;
    uint8_t *out;
    size_t len;
    const char *want = "d1:md11:ut_metadatai3e6:ut_pexi1ee13:metadata_sizei31235e"
                       "1:pi6881e1:v7:OpenAce4:yourli-9223372036854775808e3:\x00\x01\x02" "ee";
    size_t want_len = strlen("d1:md11:ut_metadatai3e6:ut_pexi1ee13:metadata_sizei31235e"
                             "1:pi6881e1:v7:OpenAce4:yourli-9223372036854775808e3:") +
                      5;
    oa_benc_doc *doc;

    (void)state;
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "m");
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "ut_metadata");
    oa_benc_put_int(&w, 3);
    oa_benc_put_str(&w, "ut_pex");
    oa_benc_put_int(&w, 1);
    oa_benc_end(&w);
    oa_benc_put_str(&w, "metadata_size");
    oa_benc_put_int(&w, 31235);
    oa_benc_put_str(&w, "p");
    oa_benc_put_raw(&w, "i6881e", 6);
    oa_benc_put_str(&w, "v");
    oa_benc_put_str(&w, "OpenAce");
    oa_benc_put_str(&w, "your");
    oa_benc_list_begin(&w);
    oa_benc_put_int(&w, INT64_MIN);
    oa_benc_put_bytes(&w, "\x00\x01\x02", 3);
    oa_benc_end(&w);
    oa_benc_end(&w);
    assert_int_equal(oa_benc_writer_finish(&w, &out, &len), 0);
    assert_int_equal(len, want_len);
    assert_memory_equal(out, want, len);
    /* What the writer writes, the strict decoder reads. */
    {
        oa_benc_opts o;

        memset(&o, 0, sizeof(o));
        o.strict = 1;
        assert_int_equal(oa_benc_decode(out, len, &o, &doc, err, sizeof(err)), 0);
        oa_benc_doc_free(doc);
    }
    free(out);
    /* The struct can be reused after finish. */
    oa_benc_put_int(&w, 7);
    assert_int_equal(oa_benc_writer_finish(&w, &out, &len), 0);
    assert_int_equal(len, 3);
    free(out);
}

static void test_writer_errors(void **state)
{
    oa_benc_writer w;
    uint8_t *out = (uint8_t *)&out;
    size_t len;
    int i;

    (void)state;
    /* Keys out of order, repeated, or not byte strings. */
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "b");
    oa_benc_put_int(&w, 1);
    oa_benc_put_str(&w, "a");
    oa_benc_put_int(&w, 2);
    oa_benc_end(&w);
    assert_int_equal(oa_benc_writer_finish(&w, &out, &len), OA_EINVAL);
    assert_null(out);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "a");
    oa_benc_put_int(&w, 1);
    oa_benc_put_str(&w, "a");
    oa_benc_put_int(&w, 2);
    oa_benc_end(&w);
    assert_int_equal(oa_benc_writer_finish(&w, &out, &len), OA_EINVAL);
    oa_benc_dict_begin(&w);
    oa_benc_put_int(&w, 1);
    oa_benc_put_int(&w, 2);
    oa_benc_end(&w);
    assert_int_equal(oa_benc_writer_finish(&w, &out, &len), OA_EINVAL);
    /* A key without a value, an unclosed container, a stray end, two
     * top-level values, nothing at all. */
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "a");
    oa_benc_end(&w);
    assert_int_equal(oa_benc_writer_finish(&w, &out, &len), OA_EINVAL);
    oa_benc_list_begin(&w);
    assert_int_equal(oa_benc_writer_finish(&w, &out, &len), OA_EINVAL);
    oa_benc_end(&w);
    assert_int_equal(oa_benc_writer_finish(&w, &out, &len), OA_EINVAL);
    oa_benc_put_int(&w, 1);
    oa_benc_put_int(&w, 2);
    assert_int_equal(oa_benc_writer_finish(&w, &out, &len), OA_EINVAL);
    assert_int_equal(oa_benc_writer_finish(&w, &out, &len), OA_EINVAL);
    /* Too deep for a message. */
    for (i = 0; i < OA_BENC_WRITER_MAX_DEPTH + 1; i++) {
        oa_benc_list_begin(&w);
    }
    assert_int_equal(oa_benc_writer_finish(&w, &out, &len), OA_ERANGE);
    /* The error is sticky: later writes are ignored. */
    oa_benc_dict_begin(&w);
    oa_benc_put_int(&w, 1);
    oa_benc_put_str(&w, "a");
    assert_int_equal(w.err, OA_EINVAL);
    oa_benc_writer_free(&w);
    assert_null(w.data);
}

/* ---- deterministic fuzz loop ------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng(void)
{
    /* xorshift64*: the same sequence on every platform and libc. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static size_t below(size_t n)
{
    return n > 0 ? (size_t)(rng() % n) : 0;
}

/* Checks the properties that hold for any input: see fuzz/fuzz_bencode.c. */
static int fuzz_one(const uint8_t *data, size_t size, int strict)
{
    oa_benc_opts o;
    oa_benc_doc *doc = NULL;
    oa_benc_doc *again = NULL;
    uint8_t *enc = NULL;
    uint8_t *enc2 = NULL;
    size_t len;
    size_t len2;
    int rc;

    memset(&o, 0, sizeof(o));
    o.strict = strict;
    o.max_depth = 16;
    o.allow_trailing = (int)(size & 1);
    rc = oa_benc_decode(data, size, &o, &doc, err, sizeof(err));
    if (rc != 0) {
        assert_null(doc);
        assert_true(rc == OA_EPROTO || rc == OA_ERANGE);
        assert_non_null(strstr(err, " at offset "));
        return 0;
    }
    rc = oa_benc_encode(oa_benc_doc_root(doc), &enc, &len);
    if (rc != 0) {
        assert_false(strict);
        assert_int_equal(rc, OA_EINVAL);
    } else {
        o.strict = 1;
        o.allow_trailing = 0;
        assert_int_equal(oa_benc_decode(enc, len, &o, &again, err, sizeof(err)), 0);
        assert_int_equal(oa_benc_encode(oa_benc_doc_root(again), &enc2, &len2), 0);
        assert_int_equal(len2, len);
        assert_memory_equal(enc, enc2, len);
        if (strict) {
            assert_int_equal(len, oa_benc_doc_consumed(doc));
            assert_memory_equal(enc, data, len);
        }
    }
    free(enc);
    free(enc2);
    oa_benc_doc_free(again);
    oa_benc_doc_free(doc);
    return 1;
}

static const char seed_torrent[] =
    "d8:announce35:udp://tracker.example:6969/announce4:infod6:lengthi1048576e"
    "4:name5:a.mkv12:piece lengthi262144e6:pieces20:abcdefghijklmnopqrstee";

static void test_fuzz_loop(void **state)
{
    static const char *const seeds[] = {
        seed_torrent,
        "d1:md11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei4096e1:pi6881e1:v7:OpenAcee",
        "d8:msg_typei1e5:piecei0e10:total_sizei34256ee",
        "li-1ei0ei9223372036854775807e0:3:abcl0:eldeedee",
        "d5:addeds0:7:added.f0:6:added64:0:7:dropped0:e",
        "i-9223372036854775808e",
    };
    static const uint8_t interesting[] = {'i', 'e', 'l', 'd', ':', '-', '0', '1', '9', 0, 0xff};
    uint8_t buf[512];
    int iter;
    int accepted = 0;

    (void)state;
    rng_state = 0x5eed0ace5eed0aceULL;
    for (iter = 0; iter < 100000; iter++) {
        const char *seed = seeds[below(sizeof(seeds) / sizeof(seeds[0]))];
        size_t n = strlen(seed);
        int muts = 1 + (int)below(4);
        int m;

        memcpy(buf, seed, n);
        for (m = 0; m < muts; m++) {
            size_t at = below(n + 1);
            size_t k;

            switch (below(6)) {
            case 0: /* flip bits */
                if (n > 0) {
                    buf[below(n)] ^= (uint8_t)(1u << below(8));
                }
                break;
            case 1: /* insert a byte that matters to the grammar */
                if (n < sizeof(buf)) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = interesting[below(sizeof(interesting))];
                    n++;
                }
                break;
            case 2: /* delete a run */
                k = below(4) + 1;
                if (at + k <= n) {
                    memmove(buf + at, buf + at + k, n - at - k);
                    n -= k;
                }
                break;
            case 3: /* truncate */
                n = below(n + 1);
                break;
            case 4: /* duplicate a run somewhere else */
                k = below(16) + 1;
                if (at + k <= n && n + k <= sizeof(buf)) {
                    size_t to = below(n + 1);
                    uint8_t tmp[16];

                    memcpy(tmp, buf + at, k);
                    memmove(buf + to + k, buf + to, n - to);
                    memcpy(buf + to, tmp, k);
                    n += k;
                }
                break;
            default: /* overwrite with a digit, to make lengths large */
                if (n > 0) {
                    buf[below(n)] = (uint8_t)('0' + below(10));
                }
                break;
            }
        }
        accepted += fuzz_one(buf, n, (int)(iter & 1));
    }
    /* The mutations leave enough valid inputs to exercise the encoder. */
    assert_true(accepted > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dict_and_lookups),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_byte_strings),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_node_limit),
        cmocka_unit_test(test_key_order),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_fuzz_loop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

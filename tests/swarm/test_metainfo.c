/* Unit tests of .torrent parsing, serializing and building
 * (plugins/swarm/metainfo.c, metainfo_build.c).
 *
 * Torrents are written out byte by byte here, not with the engine's own
 * writer, and info-hashes are checked two ways: against OpenSSL run on the
 * bytes the test knows are the info dictionary, and against constants
 * from Python's hashlib over the same bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openace/sdk.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metainfo.h"
#include "testutil.h"

static char err[512];

/* ---- building bytes by hand ---------------------------------------------- */

typedef struct tbuf {
    uint8_t data[8192];
    size_t len;
} tbuf;

static void put(tbuf *b, const void *p, size_t n)
{
    assert_true(b->len + n <= sizeof(b->data));
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void puts_(tbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* Appends "<n>:" and n bytes of 0, 1, 2, ...: piece hashes that match no
 * data, which parsing does not check. */
static void put_pieces(tbuf *b, size_t n)
{
    char head[32];
    size_t i;

    snprintf(head, sizeof(head), "%zu:", n);
    puts_(b, head);
    for (i = 0; i < n; i++) {
        uint8_t c = (uint8_t)i;

        put(b, &c, 1);
    }
}

static void sha1(const void *p, size_t n, uint8_t out[20])
{
    unsigned int len = 0;

    assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha1(), NULL), 1);
    assert_int_equal(len, 20);
}

static void hex(const uint8_t *h, char out[41])
{
    size_t i;

    for (i = 0; i < 20; i++) {
        snprintf(out + 2 * i, 3, "%02x", h[i]);
    }
}

static oa_metainfo *parse_ok(const tbuf *b)
{
    oa_metainfo *mi = NULL;
    int rc = oa_metainfo_parse(b->data, b->len, &mi, err, sizeof(err));

    if (rc != 0) {
        fail_msg("parse = %d: %s", rc, err);
    }
    return mi;
}

/* Parses b, which must fail with code and an error containing what. */
static void parse_fail(const tbuf *b, int code, const char *what)
{
    oa_metainfo *mi = (oa_metainfo *)&mi;
    int rc = oa_metainfo_parse(b->data, b->len, &mi, err, sizeof(err));

    if (rc != code) {
        fail_msg("parse = %d, want %d (%s)", rc, code, err);
    }
    assert_null(mi);
    if (strstr(err, what) == NULL) {
        fail_msg("error \"%s\" does not mention \"%s\"", err, what);
    }
    assert_int_equal(strncmp(err, "metainfo: ", 10), 0);
}

/* The single-file info dictionary whose SHA-1 Python computed:
 *   python3 -c "import hashlib; print(hashlib.sha1(b'd6:lengthi100000e4:name9:hello.txt'
 *     b'12:piece lengthi32768e6:pieces80:' + bytes(range(80)) + b'e').hexdigest())" */
#define SINGLE_HASH "02a24f5ba16fbbbe5ef268830fe1299ccbdb7937"

static void put_single_info(tbuf *b)
{
    puts_(b, "d6:lengthi100000e4:name9:hello.txt12:piece lengthi32768e6:pieces");
    put_pieces(b, 80);
    puts_(b, "e");
}

/* The multi-file info dictionary; Python's SHA-1 of the same bytes (with
 * bytes(range(60)) as pieces) is MULTI_HASH. */
#define MULTI_HASH "4f3336955c989562b515dbc64ebf06af15378b17"

static void put_multi_info(tbuf *b)
{
    puts_(b, "d5:filesl"
             "d6:lengthi10e4:pathl5:a.txtee"
             "d6:lengthi0e4:pathl3:sub5:emptyee"
             "d6:lengthi40000e4:pathl3:sub5:b.binee"
             "d6:lengthi5e4:pathl5:c.txtee"
             "e4:name5:multi12:piece lengthi16384e6:pieces");
    put_pieces(b, 60);
    puts_(b, "e");
}

static void test_single_file(void **state)
{
    tbuf b = {.len = 0};
    size_t info_at;
    size_t info_len;
    uint8_t h[20];
    char hx[41];
    oa_metainfo *mi;

    (void)state;
    puts_(&b, "d8:announce31:http://tracker.example/announce13:announce-listl"
              "l31:http://tracker.example/announce22:udp://backup.example:1e"
              "li42e0:e"
              "l21:udp://tier2.example:2ee"
              "7:comment5:hello10:created by7:OpenAce13:creation datei1700000000e4:info");
    info_at = b.len;
    put_single_info(&b);
    info_len = b.len - info_at;
    puts_(&b, "8:url-list22:http://seed.example/a/e");
    mi = parse_ok(&b);

    /* The info-hash: OpenSSL over the bytes the test put there, and Python. */
    sha1(b.data + info_at, info_len, h);
    assert_memory_equal(mi->info_hash, h, 20);
    hex(mi->info_hash, hx);
    assert_string_equal(hx, SINGLE_HASH);
    assert_int_equal(mi->info_len, info_len);
    assert_memory_equal(mi->info, b.data + info_at, info_len);

    assert_string_equal(mi->name, "hello.txt");
    assert_false(mi->multi_file);
    assert_int_equal(mi->file_count, 1);
    assert_string_equal(mi->files[0].path, "hello.txt");
    assert_int_equal(mi->files[0].length, 100000);
    assert_int_equal(mi->files[0].offset, 0);
    assert_int_equal(mi->total_length, 100000);
    assert_int_equal(mi->piece_length, 32768);
    assert_int_equal(mi->piece_count, 4);
    assert_int_equal(mi->piece_hashes[79], 79);
    assert_int_equal(oa_metainfo_piece_size(mi, 0), 32768);
    assert_int_equal(oa_metainfo_piece_size(mi, 3), 100000 - 3 * 32768);
    assert_int_equal(oa_metainfo_piece_size(mi, 4), 0);
    assert_false(mi->is_private);

    assert_string_equal(mi->announce, "http://tracker.example/announce");
    /* Tiers keep their order; entries that are not URLs and empty tiers
     * are dropped. */
    assert_int_equal(mi->tier_count, 2);
    assert_int_equal(mi->tiers[0].count, 2);
    assert_string_equal(mi->tiers[0].urls[1], "udp://backup.example:1");
    assert_int_equal(mi->tiers[1].count, 1);
    assert_string_equal(mi->tiers[1].urls[0], "udp://tier2.example:2");
    assert_int_equal(mi->url_count, 1);
    assert_string_equal(mi->url_list[0], "http://seed.example/a/");
    assert_string_equal(mi->comment, "hello");
    assert_string_equal(mi->created_by, "OpenAce");
    assert_int_equal(mi->creation_date, 1700000000);
    oa_metainfo_free(mi);
}

static void test_multi_file_offsets(void **state)
{
    tbuf b = {.len = 0};
    oa_metainfo *mi;
    char hx[41];
    size_t idx = 99;
    static const struct {
        uint64_t offset;
        size_t file;
    } at[] = {{0, 0}, {9, 0}, {10, 2}, {16384, 2}, {40009, 2}, {40010, 3}, {40014, 3}};
    size_t k;

    (void)state;
    puts_(&b, "d4:info");
    put_multi_info(&b);
    puts_(&b, "8:url-listl12:http://a.ex/12:http://b.ex/ee");
    mi = parse_ok(&b);
    hex(mi->info_hash, hx);
    assert_string_equal(hx, MULTI_HASH);
    assert_true(mi->multi_file);
    assert_string_equal(mi->name, "multi");
    assert_int_equal(mi->file_count, 4);
    assert_string_equal(mi->files[0].path, "a.txt");
    assert_string_equal(mi->files[1].path, "sub/empty");
    assert_string_equal(mi->files[2].path, "sub/b.bin");
    assert_string_equal(mi->files[3].path, "c.txt");
    assert_int_equal(mi->files[0].offset, 0);
    assert_int_equal(mi->files[1].offset, 10);
    assert_int_equal(mi->files[2].offset, 10);
    assert_int_equal(mi->files[3].offset, 40010);
    assert_int_equal(mi->total_length, 40015);
    assert_int_equal(mi->piece_count, 3);
    assert_int_equal(mi->url_count, 2);
    assert_null(mi->announce);
    for (k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
        assert_int_equal(oa_metainfo_file_at(mi, at[k].offset, &idx), 0);
        assert_int_equal(idx, at[k].file);
    }
    assert_int_equal(oa_metainfo_file_at(mi, 40015, &idx), OA_ERANGE);
    oa_metainfo_free(mi);
}

/* The hash covers the bytes as they came, even when their keys are out of
 * order (which lenient reading accepts). */
static void test_unsorted_info_hash(void **state)
{
    tbuf b = {.len = 0};
    size_t info_at;
    uint8_t h[20];
    oa_metainfo *mi;
    oa_metainfo *bare = NULL;
    uint8_t *out;
    size_t len;

    (void)state;
    puts_(&b, "d4:info");
    info_at = b.len;
    puts_(&b, "d4:name1:x6:lengthi20000e7:privatei1e12:piece lengthi16384e6:pieces");
    put_pieces(&b, 40);
    puts_(&b, "e8:announce9:http://t/e");
    mi = parse_ok(&b);
    sha1(b.data + info_at, b.len - info_at - strlen("8:announce9:http://t/e"), h);
    assert_memory_equal(mi->info_hash, h, 20);
    assert_true(mi->is_private);
    assert_string_equal(mi->announce, "http://t/");

    /* The bare info dictionary (as BEP 9 delivers it) has the same hash. */
    assert_int_equal(oa_metainfo_parse_info(mi->info, mi->info_len, &bare, err, sizeof(err)), 0);
    assert_memory_equal(bare->info_hash, h, 20);
    assert_null(bare->announce);
    oa_metainfo_free(bare);

    /* Serializing keeps the info bytes, so the hash survives a round trip. */
    assert_int_equal(oa_metainfo_serialize(mi, &out, &len), 0);
    assert_int_equal(oa_metainfo_parse(out, len, &bare, err, sizeof(err)), 0);
    assert_memory_equal(bare->info_hash, h, 20);
    assert_string_equal(bare->announce, "http://t/");
    oa_metainfo_free(bare);
    free(out);
    oa_metainfo_free(mi);
}

/* A one-file torrent with the given path list (bencoded, "l...e"). */
static void put_with_path(tbuf *b, const char *path_list, size_t path_len)
{
    puts_(b, "d4:infod5:filesld6:lengthi100e4:path");
    put(b, path_list, path_len);
    puts_(b, "ee4:name4:root12:piece lengthi16384e6:pieces");
    put_pieces(b, 20);
    puts_(b, "ee");
}

static void test_path_traversal(void **state)
{
    static const struct {
        const char *list;
        size_t len;
        const char *why;
    } bad[] = {
        {"l2:..6:passwde", 14, "\"..\""},
        {"l3:sub2:..2:..3:etce", 20, "\"..\""},
        {"l1:.1:ae", 8, "\".\""},
        {"l0:1:ae", 7, "empty"},
        {"l11:/etc/passwde", 16, "'/'"},
        {"l5:a/../e", 9, "'/'"},
        {"l3:a\0be", 7, "NUL"},
        {"le", 2, "no \"path\""},
        {"4:file", 6, "no \"path\""},
        {"li1ee", 5, "not text"},
    };
    size_t k;

    (void)state;
    for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        tbuf b = {.len = 0};

        put_with_path(&b, bad[k].list, bad[k].len);
        parse_fail(&b, OA_EPROTO, bad[k].why);
    }
    /* The name is a path component too. */
    {
        static const char *const names[] = {"2:..", "1:.", "0:", "9:/tmp/evil", "3:a/b"};

        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
            tbuf b = {.len = 0};

            puts_(&b, "d4:infod6:lengthi100e4:name");
            puts_(&b, names[k]);
            puts_(&b, "12:piece lengthi16384e6:pieces");
            put_pieces(&b, 20);
            puts_(&b, "ee");
            parse_fail(&b, OA_EPROTO, "name");
        }
    }
}

static void test_path_collisions(void **state)
{
    static const char *const files[] = {
        /* the same path twice */
        "d6:lengthi1e4:pathl1:aeed6:lengthi1e4:pathl1:aee",
        /* "a" is a file and a folder; "a-b" sorts between them bytewise */
        "d6:lengthi1e4:pathl1:aeed6:lengthi1e4:pathl3:a-beed6:lengthi1e4:pathl1:a1:bee",
    };
    static const char *const why[] = {"same path", "both a file and a folder"};
    size_t k;

    (void)state;
    for (k = 0; k < 2; k++) {
        tbuf b = {.len = 0};

        puts_(&b, "d4:infod5:filesl");
        puts_(&b, files[k]);
        puts_(&b, "e4:name1:r12:piece lengthi16384e6:pieces");
        put_pieces(&b, 20);
        puts_(&b, "ee");
        parse_fail(&b, OA_EPROTO, why[k]);
    }
}

/* A single-file torrent with the given piece length, length and number of
 * piece-hash bytes. */
static void put_sized(tbuf *b, const char *plen, const char *length, size_t hash_bytes)
{
    puts_(b, "d4:infod6:length");
    puts_(b, length);
    puts_(b, "4:name1:x12:piece length");
    puts_(b, plen);
    puts_(b, "6:pieces");
    put_pieces(b, hash_bytes);
    puts_(b, "ee");
}

static void test_sizes(void **state)
{
    static const char *const bad_plen[] = {"i0e", "i-16384e", "i1000e", "i16383e", "i24576e",
                                           "1:x"};
    tbuf b;
    size_t k;
    oa_metainfo *mi;

    (void)state;
    for (k = 0; k < sizeof(bad_plen) / sizeof(bad_plen[0]); k++) {
        b.len = 0;
        put_sized(&b, bad_plen[k], "i100e", 20);
        parse_fail(&b, OA_EPROTO, "piece length");
    }
    /* Any power of two from 16 KiB up is fine. */
    b.len = 0;
    put_sized(&b, "i16384e", "i16384e", 20);
    oa_metainfo_free(parse_ok(&b));
    b.len = 0;
    put_sized(&b, "i4294967296e", "i100e", 20);
    mi = parse_ok(&b);
    assert_true(mi->piece_length == 4294967296ULL);
    oa_metainfo_free(mi);
    /* Hashes must be whole and match the size. */
    b.len = 0;
    put_sized(&b, "i16384e", "i16385e", 30);
    parse_fail(&b, OA_EPROTO, "not a multiple of 20");
    b.len = 0;
    put_sized(&b, "i16384e", "i16385e", 20);
    parse_fail(&b, OA_EPROTO, "1 piece hashes do not match 16385 bytes");
    b.len = 0;
    put_sized(&b, "i16384e", "i16384e", 40);
    parse_fail(&b, OA_EPROTO, "do not match");
    /* Lengths: negative, zero, over 2^50, missing. */
    b.len = 0;
    put_sized(&b, "i16384e", "i-1e", 0);
    parse_fail(&b, OA_EPROTO, "negative");
    b.len = 0;
    put_sized(&b, "i16384e", "i0e", 0);
    parse_fail(&b, OA_EPROTO, "no data");
    b.len = 0;
    put_sized(&b, "i1073741824e", "i1125899906842625e", 20);
    parse_fail(&b, OA_ERANGE, "2^50");
}

static void test_total_limit_multi(void **state)
{
    tbuf b = {.len = 0};

    (void)state;
    /* Two files of 2^49 + 1: the sum crosses the limit without overflow. */
    puts_(&b, "d4:infod5:filesld6:lengthi562949953421313e4:pathl1:aee"
              "d6:lengthi562949953421313e4:pathl1:beee"
              "4:name1:r12:piece lengthi16384e6:pieces20:01234567890123456789ee");
    parse_fail(&b, OA_ERANGE, "2^50");
}

static void test_v2_and_hybrid(void **state)
{
    tbuf b = {.len = 0};
    oa_metainfo *mi;

    (void)state;
    /* v2-only: refused with a reason. */
    puts_(&b, "d4:infod9:file treed1:ad0:d6:lengthi100e11:pieces root32:"
              "0123456789abcdef0123456789abcdefeee"
              "12:meta versioni2e4:name1:a12:piece lengthi16384eee");
    parse_fail(&b, OA_ENOSYS, "v2-only");
    /* Hybrid: the v1 part is used. */
    b.len = 0;
    puts_(&b, "d4:infod9:file treed1:ad0:d6:lengthi100e11:pieces root32:"
              "0123456789abcdef0123456789abcdefeee"
              "6:lengthi100e12:meta versioni2e4:name1:a12:piece lengthi16384e6:pieces");
    put_pieces(&b, 20);
    puts_(&b, "ee");
    mi = parse_ok(&b);
    assert_int_equal(mi->total_length, 100);
    oa_metainfo_free(mi);
    /* No pieces and no version: an ordinary error. */
    b.len = 0;
    puts_(&b, "d4:infod6:lengthi100e4:name1:a12:piece lengthi16384eee");
    parse_fail(&b, OA_EPROTO, "no \"pieces\"");
}

static void test_malformed(void **state)
{
    tbuf b = {.len = 0};

    (void)state;
    puts_(&b, "d4:infod6:lengthi100e4:name1:a");
    parse_fail(&b, OA_EPROTO, "not valid bencode: bencode: input ends");
    b.len = 0;
    puts_(&b, "li1ee");
    parse_fail(&b, OA_EPROTO, "not a bencoded dictionary");
    b.len = 0;
    puts_(&b, "d8:announce1:xe");
    parse_fail(&b, OA_EPROTO, "no \"info\"");
    b.len = 0;
    puts_(&b, "d4:infoli1eee");
    parse_fail(&b, OA_EPROTO, "no \"info\"");
    b.len = 0;
    puts_(&b, "d4:infod5:filesi1e4:name1:a12:piece lengthi16384e6:pieces0:ee");
    parse_fail(&b, OA_EPROTO, "\"files\" is not a list");
    b.len = 0;
    puts_(&b, "d4:infod5:filesle4:name1:a12:piece lengthi16384e6:pieces0:ee");
    parse_fail(&b, OA_EPROTO, "empty");
    b.len = 0;
    puts_(&b, "d4:infod5:filesli1ee4:name1:a12:piece lengthi16384e6:pieces0:ee");
    parse_fail(&b, OA_EPROTO, "file 0 is not a dictionary");
}

static void test_file_attributes(void **state)
{
    tbuf b = {.len = 0};
    oa_metainfo *mi;

    (void)state;
    puts_(&b, "d4:infod5:filesl"
              "d4:attr1:x6:lengthi100e4:pathl1:aee"
              "d4:attr1:p6:lengthi16284e4:pathl4:.pad5:16284ee"
              "d4:attr2:hl6:lengthi10e4:pathl1:bee"
              "e4:name1:r12:piece lengthi16384e6:pieces");
    put_pieces(&b, 40);
    puts_(&b, "ee");
    mi = parse_ok(&b);
    assert_int_equal(mi->files[0].flags, OA_MI_FILE_EXEC);
    assert_int_equal(mi->files[1].flags, OA_MI_FILE_PAD);
    assert_int_equal(mi->files[2].flags, OA_MI_FILE_HIDDEN | OA_MI_FILE_SYMLINK);
    assert_int_equal(mi->files[2].offset, 16384);
    oa_metainfo_free(mi);
}

/* ---- building from files ------------------------------------------------ */

typedef struct fixture {
    char *dir;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = oa_test_tmpdir();
    assert_non_null(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    oa_test_rmtree(f->dir);
    assert_int_not_equal(access(f->dir, F_OK), 0);
    free(f->dir);
    free(f);
    return 0;
}

/* Content byte i of the whole torrent, the same whichever file holds it. */
static uint8_t byte_at(uint64_t i)
{
    return (uint8_t)((i * 2654435761u) >> 13);
}

/* Writes a file of len bytes holding the torrent bytes from offset on. */
static char *write_file(const char *dir, const char *name, uint64_t offset, size_t len)
{
    char *path = oa_test_path(dir, name);
    FILE *fp = fopen(path, "wb");
    size_t i;

    assert_non_null(fp);
    for (i = 0; i < len; i++) {
        fputc(byte_at(offset + i), fp);
    }
    assert_int_equal(fclose(fp), 0);
    return path;
}

typedef struct hash_job {
    oa_mi_build *b;
    size_t first;
    size_t count;
    int rc;
    char err[256];
} hash_job;

static void *hash_thread(void *arg)
{
    hash_job *j = arg;

    j->rc = oa_mi_build_hash(j->b, j->first, j->count, j->err, sizeof(j->err));
    return NULL;
}

static void test_build_multi(void **state)
{
    fixture *f = *state;
    static const size_t sizes[] = {20000, 0, 50000, 7};
    static const char *const rel[] = {"a.bin", "sub/empty", "sub/b.bin", "c.txt"};
    char *paths[4];
    oa_mi_build *b = NULL;
    oa_metainfo *mi = NULL;
    oa_metainfo *back = NULL;
    uint64_t off = 0;
    size_t pieces = 0;
    size_t k;
    uint8_t *all;
    uint8_t *torrent;
    size_t len;
    pthread_t th[2];
    hash_job jobs[2];

    for (k = 0; k < 4; k++) {
        char name[32];

        snprintf(name, sizeof(name), "f%zu", k);
        paths[k] = write_file(f->dir, name, off, sizes[k]);
        off += sizes[k];
    }
    assert_int_equal(oa_mi_build_new("My Show", 16384, &b, err, sizeof(err)), 0);
    for (k = 0; k < 4; k++) {
        assert_int_equal(oa_mi_build_add_file(b, rel[k], paths[k], err, sizeof(err)), 0);
    }
    assert_int_equal(oa_mi_build_add_tracker(b, 0, "http://t1.example/announce"), 0);
    assert_int_equal(oa_mi_build_add_tracker(b, 0, "http://t2.example/announce"), 0);
    assert_int_equal(oa_mi_build_add_tracker(b, 1, "udp://t3.example:6969"), 0);
    assert_int_equal(oa_mi_build_add_tracker(b, 3, "udp://nope"), OA_EINVAL);
    assert_int_equal(oa_mi_build_add_web_seed(b, "http://seed.example/"), 0);
    assert_int_equal(oa_mi_build_set_comment(b, "built in a test"), 0);
    assert_int_equal(oa_mi_build_set_created_by(b, "OpenAce test"), 0);
    oa_mi_build_set_creation_date(b, 1700000000);
    assert_int_equal(oa_mi_build_set_private(b, 1), 0);
    assert_int_equal(oa_mi_build_finish(b, &mi, err, sizeof(err)), OA_ESTATE);
    assert_int_equal(oa_mi_build_hash(b, 0, 1, err, sizeof(err)), OA_ESTATE);

    assert_int_equal(oa_mi_build_start(b, &pieces, err, sizeof(err)), 0);
    assert_int_equal(pieces, 5); /* 70007 bytes in pieces of 16384 */
    assert_int_equal(oa_mi_build_add_file(b, "late", paths[0], err, sizeof(err)), OA_ESTATE);
    assert_int_equal(oa_mi_build_set_private(b, 0), OA_ESTATE);
    assert_int_equal(oa_mi_build_hash(b, 4, 2, err, sizeof(err)), OA_ERANGE);
    /* Two threads hash disjoint ranges at once, as workers would. */
    jobs[0] = (hash_job){.b = b, .first = 0, .count = 2};
    jobs[1] = (hash_job){.b = b, .first = 2, .count = 2};
    for (k = 0; k < 2; k++) {
        assert_int_equal(pthread_create(&th[k], NULL, hash_thread, &jobs[k]), 0);
    }
    for (k = 0; k < 2; k++) {
        assert_int_equal(pthread_join(th[k], NULL), 0);
        assert_int_equal(jobs[k].rc, 0);
    }
    assert_int_equal(oa_mi_build_finish(b, &mi, err, sizeof(err)), OA_ESTATE);
    assert_non_null(strstr(err, "piece 4 of 5"));
    assert_int_equal(oa_mi_build_hash(b, 4, 1, err, sizeof(err)), 0);
    assert_int_equal(oa_mi_build_finish(b, &mi, err, sizeof(err)), 0);

    /* Every piece hash matches SHA-1 over the concatenated content. */
    all = malloc(off);
    assert_non_null(all);
    for (k = 0; k < off; k++) {
        all[k] = byte_at(k);
    }
    for (k = 0; k < pieces; k++) {
        uint8_t h[20];
        size_t start = k * 16384;
        size_t n = off - start < 16384 ? off - start : 16384;

        sha1(all + start, n, h);
        assert_memory_equal(mi->piece_hashes + 20 * k, h, 20);
    }
    free(all);
    assert_string_equal(mi->name, "My Show");
    assert_int_equal(mi->file_count, 4);
    assert_string_equal(mi->files[2].path, "sub/b.bin");
    assert_int_equal(mi->files[3].offset, 70000);
    assert_true(mi->is_private);
    assert_string_equal(mi->announce, "http://t1.example/announce");
    assert_int_equal(mi->tier_count, 2);
    assert_string_equal(mi->tiers[1].urls[0], "udp://t3.example:6969");
    assert_string_equal(mi->url_list[0], "http://seed.example/");
    assert_int_equal(mi->creation_date, 1700000000);

    /* .torrent bytes read back to the same torrent. */
    assert_int_equal(oa_metainfo_serialize(mi, &torrent, &len), 0);
    assert_int_equal(oa_metainfo_parse(torrent, len, &back, err, sizeof(err)), 0);
    assert_memory_equal(back->info_hash, mi->info_hash, 20);
    assert_string_equal(back->comment, "built in a test");
    assert_string_equal(back->created_by, "OpenAce test");
    assert_int_equal(back->tiers[0].count, 2);
    free(torrent);
    oa_metainfo_free(back);
    oa_metainfo_free(mi);
    oa_mi_build_free(b);
    for (k = 0; k < 4; k++) {
        free(paths[k]);
    }
}

static void test_build_single_and_errors(void **state)
{
    fixture *f = *state;
    char *p1 = write_file(f->dir, "one", 0, 40000);
    char *p2 = write_file(f->dir, "two", 0, 10);
    oa_mi_build *b = NULL;
    oa_metainfo *mi = NULL;
    size_t pieces;
    uint8_t *all;
    uint8_t h[20];
    size_t k;

    /* Bad names and piece lengths. */
    assert_int_equal(oa_mi_build_new("..", 16384, &b, err, sizeof(err)), OA_EINVAL);
    assert_int_equal(oa_mi_build_new("a/b", 16384, &b, err, sizeof(err)), OA_EINVAL);
    assert_int_equal(oa_mi_build_new("x", 0, &b, err, sizeof(err)), OA_EINVAL);
    assert_int_equal(oa_mi_build_new("x", 20000, &b, err, sizeof(err)), OA_EINVAL);
    assert_null(b);

    /* A single file. */
    assert_int_equal(oa_mi_build_new("one.mkv", 32768, &b, err, sizeof(err)), 0);
    assert_int_equal(oa_mi_build_add_file(b, NULL, p1, err, sizeof(err)), 0);
    assert_int_equal(oa_mi_build_add_file(b, NULL, p2, err, sizeof(err)), OA_EINVAL);
    assert_int_equal(oa_mi_build_add_file(b, "x", p2, err, sizeof(err)), OA_EINVAL);
    assert_int_equal(oa_mi_build_start(b, &pieces, err, sizeof(err)), 0);
    assert_int_equal(pieces, 2);
    assert_int_equal(oa_mi_build_hash(b, 0, pieces, err, sizeof(err)), 0);
    assert_int_equal(oa_mi_build_finish(b, &mi, err, sizeof(err)), 0);
    assert_false(mi->multi_file);
    assert_string_equal(mi->files[0].path, "one.mkv");
    assert_int_equal(mi->total_length, 40000);
    assert_null(mi->announce);
    all = malloc(40000);
    assert_non_null(all);
    for (k = 0; k < 40000; k++) {
        all[k] = byte_at(k);
    }
    sha1(all + 32768, 40000 - 32768, h);
    assert_memory_equal(mi->piece_hashes + 20, h, 20);
    free(all);
    oa_metainfo_free(mi);
    oa_mi_build_free(b);

    /* Paths that would leave the folder, a missing file, a folder. */
    assert_int_equal(oa_mi_build_new("multi", 16384, &b, err, sizeof(err)), 0);
    assert_int_equal(oa_mi_build_add_file(b, "../x", p1, err, sizeof(err)), OA_EINVAL);
    assert_non_null(strstr(err, "\"..\""));
    assert_int_equal(oa_mi_build_add_file(b, "/abs", p1, err, sizeof(err)), OA_EINVAL);
    assert_int_equal(oa_mi_build_add_file(b, "a//b", p1, err, sizeof(err)), OA_EINVAL);
    assert_int_equal(oa_mi_build_add_file(b, "a/./b", p1, err, sizeof(err)), OA_EINVAL);
    assert_int_equal(oa_mi_build_add_file(b, "a", f->dir, err, sizeof(err)), OA_EIO);
    assert_int_equal(oa_mi_build_add_file(b, "a", "/nonexistent/x", err, sizeof(err)), OA_EIO);
    assert_int_equal(oa_mi_build_add_file(b, NULL, p1, err, sizeof(err)), 0);
    oa_mi_build_free(b);

    /* Nothing, empty files only, a duplicate path: refused at start. */
    assert_int_equal(oa_mi_build_new("multi", 16384, &b, err, sizeof(err)), 0);
    assert_int_equal(oa_mi_build_start(b, &pieces, err, sizeof(err)), OA_EINVAL);
    oa_mi_build_free(b);
    assert_int_equal(oa_mi_build_new("multi", 16384, &b, err, sizeof(err)), 0);
    assert_int_equal(oa_mi_build_add_file(b, "d/a", p1, err, sizeof(err)), 0);
    assert_int_equal(oa_mi_build_add_file(b, "d/a", p2, err, sizeof(err)), 0);
    assert_int_equal(oa_mi_build_start(b, &pieces, err, sizeof(err)), OA_EINVAL);
    assert_non_null(strstr(err, "same path"));
    oa_mi_build_free(b);

    /* A file that shrinks after it was added fails the hash, not silently. */
    assert_int_equal(oa_mi_build_new("multi", 16384, &b, err, sizeof(err)), 0);
    assert_int_equal(oa_mi_build_add_file(b, "a", p1, err, sizeof(err)), 0);
    assert_int_equal(oa_mi_build_start(b, &pieces, err, sizeof(err)), 0);
    assert_int_equal(truncate(p1, 100), 0);
    assert_int_equal(oa_mi_build_hash(b, 0, pieces, err, sizeof(err)), OA_EIO);
    assert_non_null(strstr(err, "changed size"));
    oa_mi_build_free(b);
    free(p1);
    free(p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_file),
        cmocka_unit_test(test_multi_file_offsets),
        cmocka_unit_test(test_unsorted_info_hash),
        cmocka_unit_test(test_path_traversal),
        cmocka_unit_test(test_path_collisions),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_total_limit_multi),
        cmocka_unit_test(test_v2_and_hybrid),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_file_attributes),
        cmocka_unit_test_setup_teardown(test_build_multi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_single_and_errors, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

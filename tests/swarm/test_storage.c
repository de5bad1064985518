/* Unit tests of torrent storage (plugins/swarm/storage.c): writing blocks,
 * reading ranges, hashing and the resume check, zero-length and padding
 * files, disk usage. Real files in a temporary folder (storage_fixture.h);
 * links, the descriptor cache and threads are in test_storage_files.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <openace/sdk.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bencode.h"
#include "storage_fixture.h"
#include "testutil.h"

/* ---- writing ------------------------------------------------------------- */

static void test_write_random_order(void **state)
{
    fx *f = fx_new(k_files, k_nfiles);
    uint64_t seed = 42;
    uint32_t *blocks;
    size_t nb = 0;
    size_t i;
    uint32_t p;
    oa_storage *s;
    oa_bitfield have;
    struct stat st;
    char *path;

    (void)state;
    s = open_ok(f, f->dl, 0, 0);
    /* Zero-length files are there from the start, the others only once
     * written. */
    path = tor_path(f->dl, "sub/empty.txt");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0);
    free(path);
    path = tor_path(f->dl, "a.bin");
    assert_int_equal(stat(path, &st), -1);
    free(path);

    blocks = malloc(sizeof(*blocks) * f->mi->piece_count * (PL / BLOCK));
    assert_non_null(blocks);
    for (p = 0; p < f->mi->piece_count; p++) {
        for (i = 0; i * BLOCK < oa_metainfo_piece_size(f->mi, p); i++) {
            blocks[nb++] = p * (uint32_t)(PL / BLOCK) + (uint32_t)i;
        }
    }
    for (i = nb; i > 1; i--) {
        size_t j = rng_next(&seed) % i;
        uint32_t t = blocks[i - 1];

        blocks[i - 1] = blocks[j];
        blocks[j] = t;
    }
    for (i = 0; i < nb; i++) {
        uint64_t abs = (uint64_t)blocks[i] * BLOCK;
        size_t n = f->mi->total_length - abs < BLOCK ? (size_t)(f->mi->total_length - abs) : BLOCK;

        assert_int_equal(oa_storage_write(s, (uint32_t)(abs / PL), abs % PL, f->whole + abs, n,
                                          fx_err, sizeof(fx_err)),
                         0);
    }
    free(blocks);
    for (p = 0; p < f->mi->piece_count; p++) {
        int valid = -1;

        assert_int_equal(oa_storage_verify_piece(s, p, &valid, fx_err, sizeof(fx_err)), 0);
        assert_int_equal(valid, 1);
    }
    assert_int_equal(oa_bitfield_init(&have, (uint32_t)f->mi->piece_count), 0);
    check_all(s, &have, (uint32_t)f->mi->piece_count);
    assert_int_equal(oa_bitfield_count(&have), f->mi->piece_count);
    oa_bitfield_free(&have);
    oa_storage_close(s);
    assert_files_equal(f, k_files, k_nfiles);
    fx_free(f);
}

/* One block from the end of a.bin through b.bin (5 bytes) and the empty
 * file into c.bin. */
static void test_block_spans_files(void **state)
{
    fx *f = fx_new(k_files, k_nfiles);
    const oa_mi_file *c = NULL;
    uint64_t start = 40000 - 10;
    uint8_t *data;
    size_t len = 0;
    char *path;
    oa_storage *s;

    (void)state;
    s = open_ok(f, f->dl, 0, 0);
    assert_int_equal(oa_storage_write(s, (uint32_t)(start / PL), start % PL, f->whole + start, 30,
                                      fx_err, sizeof(fx_err)),
                     0);
    oa_storage_close(s);
    c = file_named(f, "sub/deeper/c.bin");
    assert_int_equal(c->offset, 40005);

    path = tor_path(f->dl, "a.bin"); /* a hole, then its last 10 bytes */
    data = slurp(path, &len);
    assert_int_equal(len, 40000);
    assert_memory_equal(data + 39990, f->whole + 39990, 10);
    assert_int_equal(data[0], 0);
    free(data);
    free(path);
    path = tor_path(f->dl, "sub/b.bin");
    data = slurp(path, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(data, f->whole + 40000, 5);
    free(data);
    free(path);
    path = tor_path(f->dl, "sub/deeper/c.bin");
    data = slurp(path, &len);
    assert_int_equal(len, 15);
    assert_memory_equal(data, f->whole + 40005, 15);
    free(data);
    free(path);
    fx_free(f);
}

/* ---- reading ------------------------------------------------------------- */

static void test_read_across_files(void **state)
{
    fx *f = fx_new(k_files, k_nfiles);
    uint64_t total = f->mi->total_length;
    uint64_t seed = 7;
    uint8_t *buf = malloc(total);
    oa_storage *s;
    int i;

    (void)state;
    assert_non_null(buf);
    s = open_ok(f, f->dl, 0, 0);
    /* Nothing written yet: the data is not on disk, and the sentence says
     * which file. */
    assert_int_equal(oa_storage_read_at(s, 0, buf, 10, fx_err, sizeof(fx_err)), OA_ENOENT);
    assert_non_null(strstr(fx_err, "a.bin"));
    assert_int_equal(write_pieces(s, f, 0, 1, fx_err, sizeof(fx_err)), 0);

    assert_int_equal(oa_storage_read_at(s, 0, buf, total, fx_err, sizeof(fx_err)), 0);
    assert_memory_equal(buf, f->whole, total);
    for (i = 0; i < 300; i++) {
        uint64_t off = rng_next(&seed) % total;
        size_t n = (size_t)(rng_next(&seed) % (total - off + 1));

        assert_int_equal(oa_storage_read_at(s, off, buf, n, fx_err, sizeof(fx_err)), 0);
        assert_memory_equal(buf, f->whole + off, n);
    }
    /* Piece-relative: piece 2 holds a.bin's end, b.bin, empty.txt, c.bin. */
    assert_int_equal(oa_storage_read(s, 2, 7000, buf, 9000, fx_err, sizeof(fx_err)), 0);
    assert_memory_equal(buf, f->whole + 2 * PL + 7000, 9000);
    assert_int_equal(oa_storage_read_at(s, total, buf, 0, fx_err, sizeof(fx_err)), 0);
    assert_int_equal(oa_storage_read_at(s, total - 1, buf, 2, fx_err, sizeof(fx_err)), OA_ERANGE);
    assert_int_equal(oa_storage_read(s, 2, PL - 1, buf, 2, fx_err, sizeof(fx_err)), OA_ERANGE);
    assert_int_equal(
        oa_storage_read(s, (uint32_t)f->mi->piece_count, 0, buf, 1, fx_err, sizeof(fx_err)),
        OA_ERANGE);
    assert_int_equal(oa_storage_write(s, 0, PL, buf, 1, fx_err, sizeof(fx_err)), OA_ERANGE);
    oa_storage_close(s);
    free(buf);
    fx_free(f);
}

/* ---- the resume check ---------------------------------------------------- */

static void test_resume_full_readonly(void **state)
{
    fx *f = fx_new(k_files, k_nfiles);
    uint8_t b = 0;
    oa_bitfield have;
    oa_storage *s;
    int before;

    (void)state;
    before = entries(f->src);
    s = open_ok(f, f->src, OA_STORAGE_READONLY, 0);
    assert_int_equal(oa_bitfield_init(&have, (uint32_t)f->mi->piece_count), 0);
    check_all(s, &have, 3);
    assert_int_equal(oa_bitfield_count(&have), f->mi->piece_count);
    assert_int_equal(oa_storage_write(s, 0, 0, &b, 1, fx_err, sizeof(fx_err)), OA_ESTATE);
    /* A bitfield of the wrong size and a range past the end are refused. */
    assert_int_equal(oa_storage_check(s, 9, 2, &have, fx_err, sizeof(fx_err)), OA_ERANGE);
    oa_bitfield_free(&have);
    assert_int_equal(oa_bitfield_init(&have, 3), 0);
    assert_int_equal(oa_storage_check(s, 0, 1, &have, fx_err, sizeof(fx_err)), OA_EINVAL);
    oa_bitfield_free(&have);
    oa_storage_close(s);
    assert_int_equal(entries(f->src), before);
    /* Read-only storage never creates a missing root. */
    assert_int_equal(oa_storage_open(f->mi, f->dl, &(oa_storage_options){OA_STORAGE_READONLY, 0},
                                     &s, fx_err, sizeof(fx_err)),
                     OA_ENOENT);
    assert_null(s);
    fx_free(f);
}

static void test_resume_truncated_and_corrupt(void **state)
{
    fx *f = fx_new(k_files, k_nfiles);
    const oa_mi_file *d = file_named(f, "d.bin");
    const oa_mi_file *a = file_named(f, "a.bin");
    oa_bitfield have;
    oa_bitfield want;
    uint8_t md[OA_SHA1_LEN];
    oa_storage *s;
    char *path;
    int valid = -1;
    int fd;
    uint8_t x;

    (void)state;
    s = open_ok(f, f->dl, 0, 0);
    assert_int_equal(write_pieces(s, f, 0, 1, fx_err, sizeof(fx_err)), 0);
    oa_storage_close(s);
    path = tor_path(f->dl, "d.bin");
    assert_int_equal(truncate(path, 20000), 0);
    free(path);
    path = tor_path(f->dl, "a.bin");
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    x = (uint8_t)(f->whole[20000] ^ 0x5a);
    assert_int_equal(pwrite(fd, &x, 1, 20000), 1);
    close(fd);
    free(path);

    assert_int_equal(oa_bitfield_init(&have, (uint32_t)f->mi->piece_count), 0);
    assert_int_equal(oa_bitfield_init(&want, (uint32_t)f->mi->piece_count), 0);
    oa_bitfield_fill(&want, 1);
    expect_missing(&want, a->offset + 20000, a->offset + 20001);
    expect_missing(&want, d->offset + 20000, d->offset + d->length);
    s = open_ok(f, f->dl, 0, 0);
    oa_bitfield_fill(&have, 1); /* stale bits are cleared */
    check_all(s, &have, 2);
    assert_same_bits(&have, &want);
    assert_true(oa_bitfield_count(&have) > 0 && oa_bitfield_count(&have) < have.count);
    /* The corrupt piece hashes but does not match; the short one is not on
     * disk, and the sentence names the file. */
    assert_int_equal(oa_storage_verify_piece(s, 1, &valid, fx_err, sizeof(fx_err)), 0);
    assert_int_equal(valid, 0);
    assert_int_equal(oa_storage_hash_piece(s, (uint32_t)(d->offset + d->length - 1) / PL, md,
                                           fx_err, sizeof(fx_err)),
                     OA_ENOENT);
    assert_non_null(strstr(fx_err, "d.bin"));
    /* Writing the lost pieces again repairs them. */
    assert_int_equal(write_pieces(s, f, 0, 1, fx_err, sizeof(fx_err)), 0);
    check_all(s, &have, 4);
    assert_int_equal(oa_bitfield_count(&have), have.count);
    oa_storage_close(s);
    assert_files_equal(f, k_files, k_nfiles);
    oa_bitfield_free(&have);
    oa_bitfield_free(&want);
    fx_free(f);
}

static void test_resume_missing_and_larger_files(void **state)
{
    fx *f = fx_new(k_files, k_nfiles);
    const oa_mi_file *c = file_named(f, "sub/deeper/c.bin");
    const oa_mi_file *g = file_named(f, "e/f/g.bin");
    oa_bitfield have;
    oa_bitfield want;
    struct stat st;
    oa_storage *s;
    char *path;
    uint64_t used_all = 0;
    uint64_t used = 0;

    (void)state;
    s = open_ok(f, f->dl, 0, 0);
    assert_int_equal(write_pieces(s, f, 0, 1, fx_err, sizeof(fx_err)), 0);
    assert_int_equal(oa_storage_disk_usage(s, &used_all, fx_err, sizeof(fx_err)), 0);
    oa_storage_close(s);
    assert_true(used_all >= f->mi->total_length);

    /* c.bin deleted, the folder e/ with g.bin gone. */
    path = tor_path(f->dl, "sub/deeper/c.bin");
    assert_int_equal(unlink(path), 0);
    free(path);
    path = tor_path(f->dl, "e");
    oa_test_rmtree(path);
    free(path);
    assert_int_equal(oa_bitfield_init(&have, (uint32_t)f->mi->piece_count), 0);
    assert_int_equal(oa_bitfield_init(&want, (uint32_t)f->mi->piece_count), 0);
    oa_bitfield_fill(&want, 1);
    expect_missing(&want, c->offset, c->offset + c->length);
    expect_missing(&want, g->offset, g->offset + g->length);
    s = open_ok(f, f->dl, 0, 0);
    check_all(s, &have, 1);
    assert_same_bits(&have, &want);
    assert_int_equal(oa_storage_disk_usage(s, &used, fx_err, sizeof(fx_err)), 0);
    assert_true(used < used_all);
    oa_storage_close(s);

    /* A file larger than the torrent says: left alone, its pieces hashed
     * from the bytes the torrent covers. */
    s = open_ok(f, f->dl, 0, 0);
    assert_int_equal(write_pieces(s, f, 0, 1, fx_err, sizeof(fx_err)), 0);
    oa_storage_close(s);
    path = tor_path(f->dl, "a.bin");
    write_file(path, f->whole, 50000); /* 10000 bytes too many */
    s = open_ok(f, f->dl, 0, 0);
    check_all(s, &have, 5);
    assert_int_equal(oa_bitfield_count(&have), have.count);
    assert_int_equal(write_pieces(s, f, 0, 1, fx_err, sizeof(fx_err)), 0);
    oa_storage_close(s);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 50000);
    free(path);
    oa_bitfield_free(&have);
    oa_bitfield_free(&want);
    fx_free(f);
}

/* Zero-length files first, in the middle (two in a row, one alone in its
 * folder) and last. */
static void test_zero_length_files(void **state)
{
    static const tfile files[] = {{"0start", 0}, {"x.bin", 20000}, {"m1", 0},
                                  {"z/m2", 0},   {"y.bin", 13000}, {"end/last", 0}};
    fx *f = fx_new(files, sizeof(files) / sizeof(files[0]));
    uint8_t *buf = malloc(f->mi->total_length);
    oa_bitfield have;
    oa_storage *s;

    (void)state;
    assert_non_null(buf);
    s = open_ok(f, f->dl, 0, 0);
    assert_int_equal(write_pieces(s, f, 0, 1, fx_err, sizeof(fx_err)), 0);
    assert_int_equal(oa_storage_read_at(s, 19990, buf, 20, fx_err, sizeof(fx_err)), 0);
    assert_memory_equal(buf, f->whole + 19990, 20);
    assert_int_equal(oa_bitfield_init(&have, (uint32_t)f->mi->piece_count), 0);
    check_all(s, &have, 1);
    assert_int_equal(oa_bitfield_count(&have), have.count);
    oa_bitfield_free(&have);
    oa_storage_close(s);
    assert_files_equal(f, files, sizeof(files) / sizeof(files[0]));
    free(buf);
    fx_free(f);
}

/* ---- disk usage and padding ---------------------------------------------- */

static void test_sparse_disk_usage(void **state)
{
    static const tfile files[] = {{"big", (size_t)4 << 20}, {"small", 1000}};
    fx *f = fx_new(files, 2);
    uint32_t last = (uint32_t)(((uint64_t)4 << 20) / PL) - 1;
    uint64_t used = 1;
    struct stat st;
    oa_storage *s;
    char *path;

    (void)state;
    s = open_ok(f, f->dl, 0, 0);
    assert_int_equal(oa_storage_disk_usage(s, &used, fx_err, sizeof(fx_err)), 0);
    assert_int_equal(used, 0);
    assert_int_equal(oa_storage_write(s, last, 0, f->whole + last * PL, PL, fx_err, sizeof(fx_err)),
                     0);
    path = tor_path(f->dl, "big");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, (off_t)4 << 20);
    free(path);
    assert_int_equal(oa_storage_disk_usage(s, &used, fx_err, sizeof(fx_err)), 0);
    assert_true(used >= PL && used < 1024 * 1024);
    assert_int_equal(write_pieces(s, f, 0, 1, fx_err, sizeof(fx_err)), 0);
    assert_int_equal(oa_storage_disk_usage(s, &used, fx_err, sizeof(fx_err)), 0);
    assert_true(used >= f->mi->total_length);
    oa_storage_close(s);
    fx_free(f);
}

static void sha1(const void *p, size_t n, uint8_t *out)
{
    unsigned int len = 0;

    assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha1(), NULL), 1);
}

/* a.bin, a BEP 47 padding file up to the piece boundary, b.bin: the pad is
 * never created, reads as zeros, and the pieces verify. */
static void test_padding_files(void **state)
{
    enum { A = 10000, PAD = 16384 - A, B = 16000, TOTAL = A + PAD + B };
    uint8_t *data = calloc(1, TOTAL);
    uint8_t hashes[2 * OA_SHA1_LEN];
    oa_benc_writer w;
    oa_metainfo *mi = NULL;
    oa_storage *s = NULL;
    uint8_t *info = NULL;
    size_t info_len = 0;
    uint8_t buf[64];
    char *tmp = oa_test_tmpdir();
    char *pad;
    size_t i;

    (void)state;
    assert_non_null(data);
    for (i = 0; i < TOTAL; i++) {
        data[i] = i >= A && i < A + PAD ? 0 : (uint8_t)(i * 7 + 3);
    }
    sha1(data, 16384, hashes);
    sha1(data + 16384, TOTAL - 16384, hashes + OA_SHA1_LEN);
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "files");
    oa_benc_list_begin(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "length");
    oa_benc_put_int(&w, A);
    oa_benc_put_str(&w, "path");
    oa_benc_list_begin(&w);
    oa_benc_put_str(&w, "a.bin");
    oa_benc_end(&w);
    oa_benc_end(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "attr");
    oa_benc_put_str(&w, "p");
    oa_benc_put_str(&w, "length");
    oa_benc_put_int(&w, PAD);
    oa_benc_put_str(&w, "path");
    oa_benc_list_begin(&w);
    oa_benc_put_str(&w, ".pad");
    oa_benc_put_str(&w, "6384");
    oa_benc_end(&w);
    oa_benc_end(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "length");
    oa_benc_put_int(&w, B);
    oa_benc_put_str(&w, "path");
    oa_benc_list_begin(&w);
    oa_benc_put_str(&w, "b.bin");
    oa_benc_end(&w);
    oa_benc_end(&w);
    oa_benc_end(&w);
    oa_benc_put_str(&w, "name");
    oa_benc_put_str(&w, "tor");
    oa_benc_put_str(&w, "piece length");
    oa_benc_put_int(&w, 16384);
    oa_benc_put_str(&w, "pieces");
    oa_benc_put_bytes(&w, hashes, sizeof(hashes));
    oa_benc_end(&w);
    assert_int_equal(oa_benc_writer_finish(&w, &info, &info_len), 0);
    if (oa_metainfo_parse_info(info, info_len, &mi, fx_err, sizeof(fx_err)) != 0) {
        fail_msg("%s", fx_err);
    }
    assert_int_equal(mi->files[1].flags & OA_MI_FILE_PAD, OA_MI_FILE_PAD);

    assert_int_equal(oa_storage_open(mi, tmp, NULL, &s, fx_err, sizeof(fx_err)), 0);
    assert_int_equal(oa_storage_write(s, 0, 0, data, 16384, fx_err, sizeof(fx_err)), 0);
    assert_int_equal(oa_storage_write(s, 1, 0, data + 16384, TOTAL - 16384, fx_err, sizeof(fx_err)),
                     0);
    assert_int_equal(oa_storage_read_at(s, A - 32, buf, sizeof(buf), fx_err, sizeof(fx_err)), 0);
    assert_memory_equal(buf, data + A - 32, sizeof(buf));
    for (i = 0; i < 2; i++) {
        int valid = 0;

        assert_int_equal(oa_storage_verify_piece(s, (uint32_t)i, &valid, fx_err, sizeof(fx_err)),
                         0);
        assert_int_equal(valid, 1);
    }
    oa_storage_close(s);
    pad = oa_test_path(tmp, "tor/.pad");
    assert_int_equal(access(pad, F_OK), -1);
    free(pad);
    oa_metainfo_free(mi);
    free(info);
    free(data);
    oa_test_rmtree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_random_order),
        cmocka_unit_test(test_block_spans_files),
        cmocka_unit_test(test_read_across_files),
        cmocka_unit_test(test_resume_full_readonly),
        cmocka_unit_test(test_resume_truncated_and_corrupt),
        cmocka_unit_test(test_resume_missing_and_larger_files),
        cmocka_unit_test(test_zero_length_files),
        cmocka_unit_test(test_sparse_disk_usage),
        cmocka_unit_test(test_padding_files),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

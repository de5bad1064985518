/* Fixture shared by the storage tests (test_storage.c and
 * test_storage_files.c): generated files, their torrent, and checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage_fixture.h"
#include "testutil.h"

char fx_err[512];

const tfile k_files[] = {
    {"a.bin", 40000}, {"sub/b.bin", 5},    {"sub/empty.txt", 0}, {"sub/deeper/c.bin", 32868},
    {"d.bin", 70001}, {"e/f/g.bin", 9000},
};
const size_t k_nfiles = sizeof(k_files) / sizeof(k_files[0]);

uint64_t rng_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    for (e = readdir(d); e != NULL; e = readdir(d)) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n - 1; /* the DIR's own */
}

void mkdirs_for(const char *path)
{
    char buf[1024];
    char *p;

    snprintf(buf, sizeof(buf), "%s", path);
    for (p = strchr(buf + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
        *p = '\0';
        assert_true(mkdir(buf, 0777) == 0 || errno == EEXIST);
        *p = '/';
    }
}

void write_file(const char *path, const void *p, size_t n)
{
    FILE *f;

    mkdirs_for(path);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Reads a whole file into a malloc'd buffer; NULL when it cannot be read. */
uint8_t *slurp(const char *path, size_t *len)
{
    struct stat st;
    uint8_t *buf;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        return NULL;
    }
    assert_int_equal(fstat(fileno(f), &st), 0);
    buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    *len = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    return buf;
}

/* <root>/tor/<rel>, malloc'd. */
char *tor_path(const char *root, const char *rel)
{
    char buf[1024];

    snprintf(buf, sizeof(buf), "%s/tor/%s", root, rel);
    return strdup(buf);
}

int entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    for (e = readdir(d); e != NULL; e = readdir(d)) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

/* Generates the files under <tmp>/src/tor and builds their torrent. */
fx *fx_new(const tfile *files, size_t n)
{
    fx *f = calloc(1, sizeof(*f));
    oa_mi_build *b = NULL;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    size_t total = 0;
    size_t pieces = 0;
    size_t i;
    size_t j;

    assert_non_null(f);
    f->fds_before = count_fds();
    f->tmp = oa_test_tmpdir();
    assert_non_null(f->tmp);
    f->src = oa_test_path(f->tmp, "src");
    f->dl = oa_test_path(f->tmp, "dl");
    f->outside = oa_test_path(f->tmp, "outside");
    assert_int_equal(mkdir(f->outside, 0777), 0);
    for (i = 0; i < n; i++) {
        total += files[i].len;
    }
    f->whole = malloc(total + 1);
    assert_non_null(f->whole);
    assert_int_equal(oa_mi_build_new("tor", PL, &b, fx_err, sizeof(fx_err)), 0);
    total = 0;
    for (i = 0; i < n; i++) {
        char *path = tor_path(f->src, files[i].rel);

        for (j = 0; j < files[i].len; j++) {
            f->whole[total + j] = (uint8_t)rng_next(&seed);
        }
        write_file(path, f->whole + total, files[i].len);
        assert_int_equal(oa_mi_build_add_file(b, files[i].rel, path, fx_err, sizeof(fx_err)), 0);
        total += files[i].len;
        free(path);
    }
    assert_int_equal(oa_mi_build_start(b, &pieces, fx_err, sizeof(fx_err)), 0);
    assert_int_equal(oa_mi_build_hash(b, 0, pieces, fx_err, sizeof(fx_err)), 0);
    assert_int_equal(oa_mi_build_finish(b, &f->mi, fx_err, sizeof(fx_err)), 0);
    oa_mi_build_free(b);
    assert_int_equal(f->mi->total_length, total);
    return f;
}

void fx_free(fx *f)
{
    oa_metainfo_free(f->mi);
    oa_test_rmtree(f->tmp);
    free(f->whole);
    free(f->tmp);
    free(f->src);
    free(f->dl);
    free(f->outside);
    assert_int_equal(count_fds(), f->fds_before);
    free(f);
}

oa_storage *open_ok(fx *f, const char *root, unsigned flags, unsigned max_fds)
{
    oa_storage_options o = {flags, max_fds};
    oa_storage *s = NULL;
    int rc = oa_storage_open(f->mi, root, &o, &s, fx_err, sizeof(fx_err));

    if (rc != 0) {
        fail_msg("oa_storage_open: %s", fx_err);
    }
    return s;
}

/* Writes pieces [first, ...) stepping by step, in BLOCK-sized blocks. */
int write_pieces(oa_storage *s, const fx *f, uint32_t first, uint32_t step, char *e, size_t elen)
{
    uint32_t p;

    for (p = first; p < f->mi->piece_count; p += step) {
        uint64_t size = oa_metainfo_piece_size(f->mi, p);
        uint64_t off;

        for (off = 0; off < size; off += BLOCK) {
            size_t n = size - off < BLOCK ? (size_t)(size - off) : BLOCK;
            int rc = oa_storage_write(s, p, off, f->whole + p * PL + off, n, e, elen);

            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* Runs the resume check over every piece in chunks of chunk pieces. */
void check_all(oa_storage *s, oa_bitfield *have, uint32_t chunk)
{
    uint32_t first;
    uint32_t count = have->count;

    for (first = 0; first < count; first += chunk) {
        uint32_t n = count - first < chunk ? count - first : chunk;

        assert_int_equal(oa_storage_check(s, first, n, have, fx_err, sizeof(fx_err)), 0);
    }
}

/* Pieces that hold any byte of [lo, hi) of the torrent. */
void expect_missing(oa_bitfield *want, uint64_t lo, uint64_t hi)
{
    uint64_t p;

    for (p = lo / PL; p * PL < hi; p++) {
        assert_int_equal(oa_bitfield_clear(want, (uint32_t)p), 0);
    }
}

void assert_same_bits(const oa_bitfield *a, const oa_bitfield *b)
{
    uint32_t i;

    for (i = 0; i < a->count; i++) {
        if (oa_bitfield_get(a, i) != oa_bitfield_get(b, i)) {
            fail_msg("piece %u: have %d, expected %d", i, oa_bitfield_get(a, i),
                     oa_bitfield_get(b, i));
        }
    }
}

void assert_files_equal(const fx *f, const tfile *files, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char *a = tor_path(f->src, files[i].rel);
        char *b = tor_path(f->dl, files[i].rel);
        size_t la = 0;
        size_t lb = 0;
        uint8_t *da = slurp(a, &la);
        uint8_t *db = slurp(b, &lb);

        if (db == NULL) {
            fail_msg("%s is missing", b);
        }
        assert_non_null(da);
        assert_int_equal(la, lb);
        assert_memory_equal(da, db, la);
        free(da);
        free(db);
        free(a);
        free(b);
    }
}

const oa_mi_file *file_named(const fx *f, const char *rel)
{
    size_t i;

    for (i = 0; i < f->mi->file_count; i++) {
        if (strcmp(f->mi->files[i].path, rel) == 0) {
            return &f->mi->files[i];
        }
    }
    fail_msg("no file %s", rel);
    return NULL;
}

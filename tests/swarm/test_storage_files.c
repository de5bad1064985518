/* Unit tests of torrent storage's files (plugins/swarm/storage_files.c):
 * links planted in the download folder, unsafe paths, the descriptor cache
 * and calls from four threads at once. Real files in a temporary folder
 * (storage_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openace/sdk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "storage_fixture.h"
#include "testutil.h"

/* ---- links --------------------------------------------------------------- */

static void test_symlinks_refused(void **state)
{
    fx *f = fx_new(k_files, k_nfiles);
    char *tor = oa_test_path(f->dl, "tor");
    char *victim = oa_test_path(f->outside, "victim");
    char *src_tor = oa_test_path(f->src, "tor");
    char *link;
    oa_bitfield have;
    oa_bitfield want;
    oa_storage *s = NULL;
    uint8_t b[16];

    (void)state;
    assert_int_equal(oa_bitfield_init(&have, (uint32_t)f->mi->piece_count), 0);
    assert_int_equal(oa_bitfield_init(&want, (uint32_t)f->mi->piece_count), 0);
    assert_int_equal(mkdir(f->dl, 0777), 0);

    /* The torrent's folder is a link to an empty folder outside: opening
     * (which creates sub/empty.txt) is refused, nothing appears outside. */
    assert_int_equal(symlink(f->outside, tor), 0);
    assert_int_equal(oa_storage_open(f->mi, f->dl, NULL, &s, fx_err, sizeof(fx_err)), OA_EACCES);
    assert_null(s);
    assert_non_null(strstr(fx_err, "symbolic link"));
    assert_int_equal(entries(f->outside), 0);

    /* A link to the complete originals is not read through either. */
    assert_int_equal(unlink(tor), 0);
    assert_int_equal(symlink(src_tor, tor), 0);
    s = open_ok(f, f->dl, OA_STORAGE_READONLY, 0);
    check_all(s, &have, 4);
    assert_int_equal(oa_bitfield_count(&have), 0);
    assert_int_equal(oa_storage_read_at(s, 0, b, sizeof(b), fx_err, sizeof(fx_err)), OA_EACCES);
    oa_storage_close(s);

    /* Deeper down: a.bin is a dangling link to outside/victim, sub/deeper a
     * link to outside, e/f/g.bin a FIFO; the rest is real. Only the pieces
     * that touch a link or the FIFO fail, and victim is never created. */
    assert_int_equal(unlink(tor), 0);
    assert_int_equal(mkdir(tor, 0777), 0);
    link = tor_path(f->dl, "a.bin");
    assert_int_equal(symlink(victim, link), 0);
    free(link);
    link = tor_path(f->dl, "sub/deeper");
    mkdirs_for(link);
    assert_int_equal(symlink(f->outside, link), 0);
    free(link);
    link = tor_path(f->dl, "e/f/g.bin");
    mkdirs_for(link);
    assert_int_equal(mkfifo(link, 0666), 0);
    free(link);
    s = open_ok(f, f->dl, 0, 0);
    assert_int_equal(oa_storage_write(s, 0, 0, f->whole, 100, fx_err, sizeof(fx_err)), OA_EACCES);
    assert_non_null(strstr(fx_err, "a.bin"));
    assert_non_null(strstr(fx_err, "symbolic link"));
    assert_int_equal(oa_storage_write(s, 3, 0, f->whole + 3 * PL, BLOCK, fx_err, sizeof(fx_err)),
                     OA_EACCES);
    assert_non_null(strstr(fx_err, "deeper"));
    assert_int_equal(oa_storage_write(s, (uint32_t)f->mi->piece_count - 1, 0,
                                      f->whole + (f->mi->piece_count - 1) * PL, 100, fx_err,
                                      sizeof(fx_err)),
                     OA_EACCES);
    assert_non_null(strstr(fx_err, "not a regular file"));
    {
        /* Every piece that touches none of them is written and verified. */
        const oa_mi_file *a = file_named(f, "a.bin");
        const oa_mi_file *c = file_named(f, "sub/deeper/c.bin");
        const oa_mi_file *g = file_named(f, "e/f/g.bin");
        uint32_t p;

        oa_bitfield_fill(&want, 1);
        expect_missing(&want, a->offset, a->offset + a->length);
        expect_missing(&want, c->offset, c->offset + c->length);
        expect_missing(&want, g->offset, g->offset + g->length);
        for (p = 0; p < want.count; p++) {
            if (oa_bitfield_get(&want, p)) {
                assert_int_equal(oa_storage_write(s, p, 0, f->whole + p * PL,
                                                  oa_metainfo_piece_size(f->mi, p), fx_err,
                                                  sizeof(fx_err)),
                                 0);
            }
        }
    }
    check_all(s, &have, 3);
    assert_same_bits(&have, &want);
    oa_storage_close(s);
    assert_int_equal(entries(f->outside), 0);
    oa_bitfield_free(&have);
    oa_bitfield_free(&want);
    free(tor);
    free(victim);
    free(src_tor);
    fx_free(f);
}

/* A path from a metainfo that skipped the parser's checks is refused by the
 * storage itself. */
static void test_unsafe_paths_refused(void **state)
{
    fx *f = fx_new(k_files, k_nfiles);
    char *saved = f->mi->files[0].path;
    char evil[] = "../../outside/evil";
    char longname[300];
    oa_storage *s = NULL;

    (void)state;
    f->mi->files[0].path = evil;
    assert_int_equal(oa_storage_open(f->mi, f->dl, NULL, &s, fx_err, sizeof(fx_err)), OA_EINVAL);
    assert_non_null(strstr(fx_err, "\"..\""));
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    f->mi->files[0].path = longname;
    assert_int_equal(oa_storage_open(f->mi, f->dl, NULL, &s, fx_err, sizeof(fx_err)), OA_EINVAL);
    f->mi->files[0].path = saved;
    assert_null(s);
    assert_int_equal(entries(f->outside), 0);
    assert_int_equal(oa_storage_open(NULL, f->dl, NULL, &s, fx_err, sizeof(fx_err)), OA_EINVAL);
    assert_int_equal(oa_storage_open(f->mi, NULL, NULL, &s, fx_err, sizeof(fx_err)), OA_EINVAL);
    oa_storage_close(NULL);
    fx_free(f);
}

/* ---- threads and the descriptor cache ------------------------------------ */

typedef struct worker {
    oa_storage *s;
    fx *f;
    uint32_t first;
    oa_bitfield *have;
    int rc;
    int invalid;
    char err[256];
} worker;

static void write_worker(void *arg)
{
    worker *w = arg;
    uint32_t p;

    w->rc = write_pieces(w->s, w->f, w->first, 4, w->err, sizeof(w->err));
    for (p = w->first; w->rc == 0 && p < w->f->mi->piece_count; p += 4) {
        int valid = 0;

        w->rc = oa_storage_verify_piece(w->s, p, &valid, w->err, sizeof(w->err));
        w->invalid += !valid;
    }
}

/* Chunks of 5 pieces, round robin: neighbours share bitfield bytes. */
static void check_worker(void *arg)
{
    worker *w = arg;
    uint32_t count = w->have->count;
    uint32_t first;

    for (first = w->first * 5; w->rc == 0 && first < count; first += 20) {
        uint32_t n = count - first < 5 ? count - first : 5;

        w->rc = oa_storage_check(w->s, first, n, w->have, w->err, sizeof(w->err));
    }
}

/* Random reads compared with the originals: with one cache slot and four
 * threads, descriptors are evicted while other reads are under way. */
static void read_worker(void *arg)
{
    worker *w = arg;
    uint64_t total = w->f->mi->total_length;
    uint64_t seed = 0x1234567ull + w->first;
    uint8_t buf[40000];
    int i;

    for (i = 0; w->rc == 0 && i < 3000; i++) {
        uint64_t off = rng_next(&seed) % total;
        size_t n = (size_t)(rng_next(&seed) % sizeof(buf));

        n = n < total - off ? n : (size_t)(total - off);
        w->rc = oa_storage_read_at(w->s, off, buf, n, w->err, sizeof(w->err));
        w->invalid += w->rc == 0 && memcmp(buf, w->f->whole + off, n) != 0;
    }
}

static void run_workers(oa_storage *s, fx *f, oa_bitfield *have, uv_thread_cb fn)
{
    uv_thread_t t[4];
    worker w[4];
    int i;

    memset(w, 0, sizeof(w));
    for (i = 0; i < 4; i++) {
        w[i].s = s;
        w[i].f = f;
        w[i].first = (uint32_t)i;
        w[i].have = have;
        assert_int_equal(uv_thread_create(&t[i], fn, &w[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        assert_int_equal(uv_thread_join(&t[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        if (w[i].rc != 0) {
            fail_msg("thread %d: %s", i, w[i].err);
        }
        assert_int_equal(w[i].invalid, 0);
    }
}

/* Twelve files of mixed sizes: pieces span up to four files. */
static const tfile k_many[] = {
    {"m/00", 100000}, {"m/01", 3000},   {"m/02", 5},     {"m/03", 65536},
    {"m/04", 20000},  {"n/05", 1},      {"n/06", 99999}, {"n/07", 16384},
    {"n/08", 7000},   {"o/09", 250000}, {"o/10", 4321},  {"o/11", 60000},
};

static void test_concurrent_disjoint_pieces(void **state)
{
    fx *f = fx_new(k_many, sizeof(k_many) / sizeof(k_many[0]));
    oa_bitfield have;
    oa_storage *s;

    (void)state;
    s = open_ok(f, f->dl, 0, 3); /* fewer slots than threads: uncached fallbacks */
    run_workers(s, f, NULL, write_worker);
    assert_true(oa_storage_cached_fds(s) <= 3);
    assert_int_equal(oa_bitfield_init(&have, (uint32_t)f->mi->piece_count), 0);
    run_workers(s, f, &have, check_worker);
    assert_int_equal(oa_bitfield_count(&have), have.count);
    oa_bitfield_free(&have);
    oa_storage_close(s);
    s = open_ok(f, f->dl, OA_STORAGE_READONLY, 1);
    run_workers(s, f, NULL, read_worker);
    oa_storage_close(s);
    assert_files_equal(f, k_many, sizeof(k_many) / sizeof(k_many[0]));
    fx_free(f);
}

static void test_fd_cache_cap(void **state)
{
    tfile files[40];
    char names[40][16];
    fx *f;
    oa_storage *s;
    uint8_t *buf;
    int i;

    (void)state;
    for (i = 0; i < 40; i++) {
        snprintf(names[i], sizeof(names[i]), "f/%02d", i);
        files[i].rel = names[i];
        files[i].len = 3000 + (size_t)i;
    }
    f = fx_new(files, 40);
    buf = malloc(f->mi->total_length);
    assert_non_null(buf);
    s = open_ok(f, f->dl, 0, 8);
    assert_int_equal(write_pieces(s, f, 0, 1, fx_err, sizeof(fx_err)), 0);
    assert_int_equal(oa_storage_cached_fds(s), 8);
    assert_true(count_fds() - f->fds_before <= 8 + 1); /* and the root */
    assert_int_equal(oa_storage_read_at(s, 0, buf, f->mi->total_length, fx_err, sizeof(fx_err)), 0);
    assert_memory_equal(buf, f->whole, f->mi->total_length);
    assert_int_equal(oa_storage_cached_fds(s), 8);
    oa_storage_release_fds(s);
    assert_int_equal(oa_storage_cached_fds(s), 0);
    assert_int_equal(count_fds() - f->fds_before, 1);
    oa_storage_close(s);
    assert_files_equal(f, files, 40);

    s = open_ok(f, f->dl, 0, 0); /* the default cap */
    assert_int_equal(oa_storage_read_at(s, 0, buf, f->mi->total_length, fx_err, sizeof(fx_err)), 0);
    assert_int_equal(oa_storage_cached_fds(s), OA_STORAGE_DEFAULT_FDS);
    oa_storage_close(s);
    free(buf);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symlinks_refused),
        cmocka_unit_test(test_unsafe_paths_refused),
        cmocka_unit_test(test_concurrent_disjoint_pieces),
        cmocka_unit_test(test_fd_cache_cap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Fixture shared by the storage tests (test_storage.c and
 * test_storage_files.c). Each torrent is built with oa_mi_build_* from files
 * generated under <tmp>/src/tor, so <tmp>/src is itself a complete download
 * folder; the storage under test writes into <tmp>/dl. fx_free() checks
 * that the process holds exactly the descriptors it held at fx_new(), so
 * every test is also a descriptor leak check. */
#ifndef OA_TEST_STORAGE_FIXTURE_H
#define OA_TEST_STORAGE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "bitfield.h"
#include "metainfo.h"
#include "storage.h"

#define PL ((uint64_t)16384) /* the fixture's piece length */
#define BLOCK 4096u          /* write_pieces()' block size */

/* The last error sentence of a call made by the fixture or a test. */
extern char fx_err[512];

typedef struct tfile {
    const char *rel; /* path inside the torrent */
    size_t len;
} tfile;

typedef struct fx {
    char *tmp;       /* owned: the temporary folder */
    char *src;       /* owned: <tmp>/src, holding tor/<rel> originals */
    char *dl;        /* owned: <tmp>/dl, the storage's root (not created here) */
    char *outside;   /* owned: <tmp>/outside (empty), where planted links point */
    oa_metainfo *mi; /* owned */
    uint8_t *whole;  /* owned: the torrent's bytes in order */
    int fds_before;
} fx;

/* a.bin, sub/b.bin (5 bytes), sub/empty.txt (0), sub/deeper/c.bin, d.bin,
 * e/f/g.bin: piece 2 spans a.bin, b.bin, empty.txt and c.bin. */
extern const tfile k_files[];
extern const size_t k_nfiles;

uint64_t rng_next(uint64_t *x);
/* Descriptors the process holds now. */
int count_fds(void);
/* Creates the folders above path. */
void mkdirs_for(const char *path);
void write_file(const char *path, const void *p, size_t n);
/* A whole file, malloc'd (free it); NULL when it cannot be opened. */
uint8_t *slurp(const char *path, size_t *len);
/* <root>/tor/<rel>, malloc'd. */
char *tor_path(const char *root, const char *rel);
/* Entries in a folder, "." and ".." aside. */
int entries(const char *dir);

/* Generates n files of random bytes and builds their torrent "tor". */
fx *fx_new(const tfile *files, size_t n);
/* Removes everything, then checks for leaked descriptors. */
void fx_free(fx *f);

oa_storage *open_ok(fx *f, const char *root, unsigned flags, unsigned max_fds);
/* Writes pieces first, first + step, ... in BLOCK-sized blocks. */
int write_pieces(oa_storage *s, const fx *f, uint32_t first, uint32_t step, char *e, size_t elen);
/* The resume check over every piece, chunk pieces per call. */
void check_all(oa_storage *s, oa_bitfield *have, uint32_t chunk);
/* Clears in want the pieces holding any byte of [lo, hi). */
void expect_missing(oa_bitfield *want, uint64_t lo, uint64_t hi);
void assert_same_bits(const oa_bitfield *a, const oa_bitfield *b);
/* Every file under <dl>/tor is byte-identical to its original. */
void assert_files_equal(const fx *f, const tfile *files, size_t n);
const oa_mi_file *file_named(const fx *f, const char *rel);

#endif

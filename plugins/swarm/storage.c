/*
 * Storage: a torrent's pieces onto files below a download folder (see
 * storage.h). This half maps byte ranges onto files, hashes pieces, runs
 * the resume check and holds the public calls; storage_files.c opens the
 * files safely and caches their descriptors.
 */
#include "storage_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(off_t) >= 8, "storage needs a 64-bit off_t for torrents over 2 GiB");

#define IO_CHUNK ((size_t)256 * 1024)

/* ---- byte ranges across files -------------------------------------------- */

/* Reads into dst, or writes from src (exactly one is set), n bytes at byte
 * at of file. */
static int file_io(oa_storage *s, size_t file, uint64_t at, uint8_t *dst, const uint8_t *src,
                   size_t n, char *err, size_t errlen)
{
    char ebuf[128];
    size_t done = 0;
    stg_ref ref;
    int rc;

    rc = stg_acquire(s, file, src != NULL, &ref, err, errlen);
    if (rc != 0) {
        return rc;
    }
    while (done < n && rc == 0) {
        off_t pos = (off_t)(at + done);
        ssize_t r = src != NULL ? pwrite(ref.fd, src + done, n - done, pos)
                                : pread(ref.fd, dst + done, n - done, pos);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            int e = errno;

            rc = stg_fail(err, errlen, OA_EIO, "cannot %s %s/%s at byte %llu: %s",
                          src != NULL ? "write" : "read", s->root, s->rel[file],
                          (unsigned long long)pos, stg_errtext(e, ebuf, sizeof(ebuf)));
        } else if (r == 0 && src != NULL) {
            rc = stg_fail(err, errlen, OA_EIO,
                          "cannot write %s/%s at byte %llu: nothing was written", s->root,
                          s->rel[file], (unsigned long long)pos);
        } else if (r == 0) {
            rc = stg_fail(err, errlen, OA_ENOENT,
                          "%s/%s ends at byte %llu; the torrent's data up to byte %llu is not on "
                          "disk yet",
                          s->root, s->rel[file], (unsigned long long)pos,
                          (unsigned long long)(at + n));
        } else {
            done += (size_t)r;
        }
    }
    stg_release(s, &ref);
    return rc;
}

/* Reads into dst or writes from src len bytes at byte off of the torrent,
 * file by file. The caller has checked the range. */
static int span_io(oa_storage *s, uint64_t off, size_t len, uint8_t *dst, const uint8_t *src,
                   char *err, size_t errlen)
{
    const oa_metainfo *mi = s->mi;
    size_t f = 0;
    int rc;

    if (len == 0) {
        return 0;
    }
    if (oa_metainfo_file_at(mi, off, &f) != 0) {
        return stg_fail(err, errlen, OA_ERANGE, "byte %llu is past the torrent's end",
                        (unsigned long long)off);
    }
    while (len > 0) {
        const oa_mi_file *mf;
        uint64_t in_file;
        size_t n;

        /* Skip files that end at or before off: zero-length ones included. */
        while (mi->files[f].offset + mi->files[f].length <= off) {
            f++;
        }
        mf = &mi->files[f];
        in_file = off - mf->offset;
        n = mf->length - in_file < len ? (size_t)(mf->length - in_file) : len;
        if ((mf->flags & STG_NOT_STORED) != 0) {
            if (dst != NULL) {
                memset(dst, 0, n);
            }
        } else {
            rc = file_io(s, f, in_file, dst, src, n, err, errlen);
            if (rc != 0) {
                return rc;
            }
        }
        off += n;
        len -= n;
        if (dst != NULL) {
            dst += n;
        } else {
            src += n;
        }
    }
    return 0;
}

/* Checks that [offset, offset + len) lies inside piece and stores where it
 * starts in the torrent in *abs. */
static int piece_range(const oa_storage *s, uint32_t piece, uint64_t offset, size_t len,
                       uint64_t *abs, char *err, size_t errlen)
{
    uint64_t size = oa_metainfo_piece_size(s->mi, piece);

    if (piece >= s->mi->piece_count) {
        return stg_fail(err, errlen, OA_ERANGE, "piece %u is past the last piece (%zu)", piece,
                        s->mi->piece_count - 1);
    }
    if (offset > size || len > size - offset) {
        return stg_fail(err, errlen, OA_ERANGE,
                        "bytes %llu to %llu are outside piece %u, which holds %llu bytes",
                        (unsigned long long)offset, (unsigned long long)(offset + len), piece,
                        (unsigned long long)size);
    }
    *abs = (uint64_t)piece * s->mi->piece_length + offset;
    return 0;
}

/* ---- hashing ------------------------------------------------------------- */

/* What hashing needs per call (or per resume-check range). */
typedef struct hasher {
    EVP_MD_CTX *ctx; /* owned */
    uint8_t *buf;    /* IO_CHUNK bytes; owned */
} hasher;

static int hasher_init(oa_storage *s, hasher *h, char *err, size_t errlen)
{
    h->ctx = EVP_MD_CTX_new();
    h->buf = malloc(IO_CHUNK);
    if (h->ctx == NULL || h->buf == NULL) {
        EVP_MD_CTX_free(h->ctx);
        free(h->buf);
        return stg_fail(err, errlen, OA_ENOMEM, "out of memory for hashing");
    }
    if (EVP_DigestInit_ex(h->ctx, s->sha1, NULL) != 1) {
        EVP_MD_CTX_free(h->ctx);
        free(h->buf);
        return stg_fail(err, errlen, OA_ENOSYS, "SHA-1 is not available from OpenSSL");
    }
    return 0;
}

static void hasher_free(hasher *h)
{
    EVP_MD_CTX_free(h->ctx);
    free(h->buf);
}

static int hash_with(oa_storage *s, hasher *h, uint32_t piece, uint8_t out[OA_SHA1_LEN], char *err,
                     size_t errlen)
{
    uint64_t off = (uint64_t)piece * s->mi->piece_length;
    uint64_t left = oa_metainfo_piece_size(s->mi, piece);
    unsigned int mdlen = 0;
    int rc;

    if (EVP_DigestInit_ex(h->ctx, s->sha1, NULL) != 1) {
        return stg_fail(err, errlen, OA_ENOSYS, "SHA-1 is not available from OpenSSL");
    }
    while (left > 0) {
        size_t n = left < IO_CHUNK ? (size_t)left : IO_CHUNK;

        rc = span_io(s, off, n, h->buf, NULL, err, errlen);
        if (rc != 0) {
            return rc;
        }
        if (EVP_DigestUpdate(h->ctx, h->buf, n) != 1) {
            return stg_fail(err, errlen, OA_ENOSYS, "SHA-1 failed in OpenSSL");
        }
        off += n;
        left -= n;
    }
    if (EVP_DigestFinal_ex(h->ctx, out, &mdlen) != 1 || mdlen != OA_SHA1_LEN) {
        return stg_fail(err, errlen, OA_ENOSYS, "SHA-1 failed in OpenSSL");
    }
    return 0;
}

/* ---- the public calls ---------------------------------------------------- */

/* Fills s->rel: <name>/<path> for a multi-file torrent, <path> (which is
 * the name) for a single file. */
static int make_paths(oa_storage *s, char *err, size_t errlen)
{
    const oa_metainfo *mi = s->mi;
    size_t i;
    int rc;

    s->rel = calloc(mi->file_count, sizeof(*s->rel));
    if (s->rel == NULL) {
        return stg_fail(err, errlen, OA_ENOMEM, "out of memory");
    }
    for (i = 0; i < mi->file_count; i++) {
        const char *path = mi->files[i].path;
        size_t n;

        if (path == NULL || (mi->multi_file && mi->name == NULL)) {
            return stg_fail(err, errlen, OA_EINVAL, "file %zu of the torrent has no path", i);
        }
        n = (mi->multi_file ? strlen(mi->name) + 1 : 0) + strlen(path) + 1;
        s->rel[i] = malloc(n);
        if (s->rel[i] == NULL) {
            return stg_fail(err, errlen, OA_ENOMEM, "out of memory");
        }
        if (mi->multi_file) {
            snprintf(s->rel[i], n, "%s/%s", mi->name, path);
        } else {
            snprintf(s->rel[i], n, "%s", path);
        }
        rc = stg_check_rel(s->rel[i], err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Opens (creating it one level deep unless read-only) the root folder. */
static int open_root(oa_storage *s, char *err, size_t errlen)
{
    char ebuf[128];
    int e;

    if ((s->flags & OA_STORAGE_READONLY) == 0 && mkdir(s->root, 0777) != 0 && errno != EEXIST) {
        e = errno;
        return stg_fail(err, errlen, stg_code_of(e), "cannot create the download folder %s: %s",
                        s->root, stg_errtext(e, ebuf, sizeof(ebuf)));
    }
    s->root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->root_fd < 0) {
        e = errno;
        return stg_fail(err, errlen, stg_code_of(e), "cannot open the download folder %s: %s",
                        s->root, stg_errtext(e, ebuf, sizeof(ebuf)));
    }
    return 0;
}

/* Creates the zero-length files, which no write ever reaches. */
static int create_empty_files(oa_storage *s, char *err, size_t errlen)
{
    size_t i;
    int writable;
    int fd;
    int rc;

    for (i = 0; i < s->mi->file_count; i++) {
        const oa_mi_file *mf = &s->mi->files[i];

        if (mf->length != 0 || (mf->flags & STG_NOT_STORED) != 0) {
            continue;
        }
        rc = stg_open_file(s, i, 1, &fd, &writable, err, errlen);
        if (rc != 0) {
            return rc;
        }
        close(fd);
    }
    return 0;
}

int oa_storage_open(const oa_metainfo *mi, const char *root, const oa_storage_options *opts,
                    oa_storage **out, char *err, size_t errlen)
{
    oa_storage *s;
    size_t i;
    int rc;

    if (out == NULL) {
        return OA_EINVAL;
    }
    *out = NULL;
    if (mi == NULL || root == NULL || *root == '\0' || mi->file_count == 0 ||
        mi->piece_length == 0) {
        return stg_fail(err, errlen, OA_EINVAL, "storage needs a torrent and a download folder");
    }
    if (mi->piece_count > UINT32_MAX) {
        return stg_fail(err, errlen, OA_ERANGE, "the torrent has %zu pieces, more than %u",
                        mi->piece_count, (unsigned)UINT32_MAX);
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return stg_fail(err, errlen, OA_ENOMEM, "out of memory");
    }
    s->mi = mi;
    s->root_fd = -1;
    s->flags = opts != NULL ? opts->flags : 0;
    s->slot_count = opts != NULL && opts->max_fds > 0 ? opts->max_fds : OA_STORAGE_DEFAULT_FDS;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return stg_fail(err, errlen, OA_ENOMEM, "cannot make a mutex for the storage");
    }
    s->root = strdup(root);
    s->slots = calloc(s->slot_count, sizeof(*s->slots));
    s->slot_of = calloc(mi->file_count, sizeof(*s->slot_of));
    if (s->root == NULL || s->slots == NULL || s->slot_of == NULL) {
        oa_storage_close(s);
        return stg_fail(err, errlen, OA_ENOMEM, "out of memory");
    }
    for (i = 0; i < s->slot_count; i++) {
        s->slots[i].fd = -1;
    }
    for (i = 0; i < mi->file_count; i++) {
        s->slot_of[i] = -1;
    }
    s->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    rc = s->sha1 == NULL ? stg_fail(err, errlen, OA_ENOSYS, "SHA-1 is not available from OpenSSL")
                         : make_paths(s, err, errlen);
    if (rc == 0) {
        rc = open_root(s, err, errlen);
    }
    if (rc == 0 && (s->flags & OA_STORAGE_READONLY) == 0) {
        rc = create_empty_files(s, err, errlen);
    }
    if (rc != 0) {
        oa_storage_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void oa_storage_close(oa_storage *s)
{
    size_t i;

    if (s == NULL) {
        return;
    }
    for (i = 0; s->slots != NULL && i < s->slot_count; i++) {
        if (s->slots[i].fd >= 0) {
            close(s->slots[i].fd);
        }
    }
    if (s->root_fd >= 0) {
        close(s->root_fd);
    }
    for (i = 0; s->rel != NULL && i < s->mi->file_count; i++) {
        free(s->rel[i]);
    }
    free(s->rel);
    EVP_MD_free(s->sha1);
    free(s->slots);
    free(s->slot_of);
    free(s->root);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int oa_storage_write(oa_storage *s, uint32_t piece, uint64_t offset, const void *data, size_t len,
                     char *err, size_t errlen)
{
    uint64_t abs;
    int rc;

    if (s == NULL || (data == NULL && len > 0)) {
        return stg_fail(err, errlen, OA_EINVAL, "write needs storage and data");
    }
    if ((s->flags & OA_STORAGE_READONLY) != 0) {
        return stg_fail(err, errlen, OA_ESTATE, "cannot write to %s: the storage is read-only",
                        s->root);
    }
    rc = piece_range(s, piece, offset, len, &abs, err, errlen);
    if (rc != 0) {
        return rc;
    }
    return span_io(s, abs, len, NULL, data, err, errlen);
}

int oa_storage_read(oa_storage *s, uint32_t piece, uint64_t offset, void *buf, size_t len,
                    char *err, size_t errlen)
{
    uint64_t abs;
    int rc;

    if (s == NULL || (buf == NULL && len > 0)) {
        return stg_fail(err, errlen, OA_EINVAL, "read needs storage and a buffer");
    }
    rc = piece_range(s, piece, offset, len, &abs, err, errlen);
    if (rc != 0) {
        return rc;
    }
    return span_io(s, abs, len, buf, NULL, err, errlen);
}

int oa_storage_read_at(oa_storage *s, uint64_t offset, void *buf, size_t len, char *err,
                       size_t errlen)
{
    if (s == NULL || (buf == NULL && len > 0)) {
        return stg_fail(err, errlen, OA_EINVAL, "read needs storage and a buffer");
    }
    if (offset > s->mi->total_length || len > s->mi->total_length - offset) {
        return stg_fail(err, errlen, OA_ERANGE,
                        "bytes %llu to %llu are past the torrent's end at byte %llu",
                        (unsigned long long)offset, (unsigned long long)offset + len,
                        (unsigned long long)s->mi->total_length);
    }
    return span_io(s, offset, len, buf, NULL, err, errlen);
}

int oa_storage_hash_piece(oa_storage *s, uint32_t piece, uint8_t out[OA_SHA1_LEN], char *err,
                          size_t errlen)
{
    hasher h;
    uint64_t abs;
    int rc;

    if (s == NULL || out == NULL) {
        return stg_fail(err, errlen, OA_EINVAL, "hashing needs storage and room for the digest");
    }
    rc = piece_range(s, piece, 0, 0, &abs, err, errlen);
    if (rc != 0) {
        return rc;
    }
    rc = hasher_init(s, &h, err, errlen);
    if (rc != 0) {
        return rc;
    }
    rc = hash_with(s, &h, piece, out, err, errlen);
    hasher_free(&h);
    return rc;
}

int oa_storage_verify_piece(oa_storage *s, uint32_t piece, int *valid, char *err, size_t errlen)
{
    uint8_t md[OA_SHA1_LEN];
    int rc;

    if (valid == NULL) {
        return stg_fail(err, errlen, OA_EINVAL, "verify needs somewhere to store the result");
    }
    *valid = 0;
    rc = oa_storage_hash_piece(s, piece, md, err, errlen);
    if (rc == OA_ENOENT) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    *valid = memcmp(md, s->mi->piece_hashes + (size_t)piece * OA_SHA1_LEN, OA_SHA1_LEN) == 0;
    return 0;
}

/* Sets or clears bit i of bf atomically: neighbouring pieces in one byte may
 * be checked by other threads at the same time. */
static void bit_put(oa_bitfield *bf, uint32_t i, int on)
{
    uint8_t mask = (uint8_t)(0x80u >> (i & 7u));

    if (on) {
        __atomic_fetch_or(&bf->bits[i >> 3], mask, __ATOMIC_RELAXED);
    } else {
        __atomic_fetch_and(&bf->bits[i >> 3], (uint8_t)~mask, __ATOMIC_RELAXED);
    }
}

int oa_storage_check(oa_storage *s, uint32_t first, uint32_t count, oa_bitfield *have, char *err,
                     size_t errlen)
{
    uint8_t md[OA_SHA1_LEN];
    hasher h;
    uint32_t i;
    int rc;

    if (s == NULL || have == NULL || have->count != s->mi->piece_count ||
        (have->bits == NULL && have->count > 0)) {
        return stg_fail(err, errlen, OA_EINVAL,
                        "the resume check needs a bitfield of the torrent's %zu pieces",
                        s != NULL ? s->mi->piece_count : (size_t)0);
    }
    if (first > have->count || count > have->count - first) {
        return stg_fail(err, errlen, OA_ERANGE, "pieces %u to %llu are past the last piece (%u)",
                        first, (unsigned long long)first + count, have->count);
    }
    if (count == 0) {
        return 0;
    }
    rc = hasher_init(s, &h, err, errlen);
    if (rc != 0) {
        return rc;
    }
    for (i = first; i < first + count; i++) {
        /* Whatever keeps this piece from hashing (a missing, short,
         * unreadable or refused file) only makes it missing. */
        int ok = hash_with(s, &h, i, md, NULL, 0) == 0 &&
                 memcmp(md, s->mi->piece_hashes + (size_t)i * OA_SHA1_LEN, OA_SHA1_LEN) == 0;

        bit_put(have, i, ok);
    }
    hasher_free(&h);
    return 0;
}

int oa_storage_disk_usage(oa_storage *s, uint64_t *bytes, char *err, size_t errlen)
{
    uint64_t total = 0;
    size_t i;

    if (s == NULL || bytes == NULL) {
        return stg_fail(err, errlen, OA_EINVAL, "disk usage needs storage and a result");
    }
    for (i = 0; i < s->mi->file_count; i++) {
        struct stat st;
        size_t last;
        int dir;

        if ((s->mi->files[i].flags & STG_NOT_STORED) != 0 ||
            stg_walk_parent(s, i, 0, &dir, &last, NULL, 0) != 0) {
            continue;
        }
        if (fstatat(dir, s->rel[i] + last, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
            total += (uint64_t)st.st_blocks * 512u;
        }
        stg_close_dir(s, dir);
    }
    *bytes = total;
    return 0;
}

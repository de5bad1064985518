/*
 * Building a v1 torrent from files on disk, for seeding.
 *
 * The build writes its info dictionary with the same writer the engine
 * uses for messages and validates it with the same parser that reads
 * torrents from elsewhere: oa_mi_build_start() parses a draft with empty
 * hashes, so a bad path or size is reported before any file is read, and
 * oa_mi_build_finish() parses the final bytes into the oa_metainfo it
 * returns.
 */
#include "metainfo.h"

#include "bencode.h"
#include "swarm_err.h"

#include <openace/sdk.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK ((size_t)256 * 1024)

typedef struct build_file {
    char *rel;  /* path inside the torrent; NULL for a single-file torrent */
    char *disk; /* where to read it */
    uint64_t length;
    uint64_t offset;
} build_file;

struct oa_mi_build {
    char *name;
    uint64_t piece_length;
    build_file *files;
    size_t file_count;
    uint64_t total;
    oa_mi_tier *tiers;
    size_t tier_count;
    char **seeds;
    size_t seed_count;
    int is_private;
    char *comment;
    char *created_by;
    int64_t creation_date;
    int started;
    size_t piece_count;
    uint8_t *hashes; /* piece_count * 20, filled by oa_mi_build_hash() */
    uint8_t *done;   /* one flag per piece */
};

/* Error sentences start with "torrent build:". */
#define bfail(err, errlen, code, ...) oa_swarm_fail((err), (errlen), (code), "torrent build: ", __VA_ARGS__)


int oa_mi_build_new(const char *name, uint64_t piece_length, oa_mi_build **out, char *err,
                    size_t errlen)
{
    oa_mi_build *b;
    const char *why;

    if (out == NULL) {
        return OA_EINVAL;
    }
    *out = NULL;
    if (name == NULL || oa_mi_check_component(name, strlen(name), &why) != 0) {
        return bfail(err, errlen, OA_EINVAL, "the name has %s", name == NULL ? "no text" : why);
    }
    if (piece_length < OA_MI_MIN_PIECE_LENGTH || (piece_length & (piece_length - 1)) != 0) {
        return bfail(err, errlen, OA_EINVAL,
                     "piece length %llu is not a power of two of at least 16384 bytes",
                     (unsigned long long)piece_length);
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return bfail(err, errlen, OA_ENOMEM, "out of memory");
    }
    b->name = strdup(name);
    if (b->name == NULL) {
        free(b);
        return bfail(err, errlen, OA_ENOMEM, "out of memory");
    }
    b->piece_length = piece_length;
    *out = b;
    return 0;
}

void oa_mi_build_free(oa_mi_build *b)
{
    size_t i;
    size_t j;

    if (b == NULL) {
        return;
    }
    for (i = 0; i < b->file_count; i++) {
        free(b->files[i].rel);
        free(b->files[i].disk);
    }
    free(b->files);
    for (i = 0; i < b->tier_count; i++) {
        for (j = 0; j < b->tiers[i].count; j++) {
            free(b->tiers[i].urls[j]);
        }
        free(b->tiers[i].urls);
    }
    free(b->tiers);
    for (i = 0; i < b->seed_count; i++) {
        free(b->seeds[i]);
    }
    free(b->seeds);
    free(b->name);
    free(b->comment);
    free(b->created_by);
    free(b->hashes);
    free(b->done);
    free(b);
}

/* Checks a '/'-separated relative path component by component. */
static int check_rel_path(const char *rel, char *err, size_t errlen)
{
    const char *p = rel;

    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
        const char *why;

        if (oa_mi_check_component(p, n, &why) != 0) {
            return bfail(err, errlen, OA_EINVAL,
                         "path \"%.200s\" has %s; give a relative path like \"dir/file\"", rel,
                         why);
        }
        if (slash == NULL) {
            return 0;
        }
        p = slash + 1;
    }
}

int oa_mi_build_add_file(oa_mi_build *b, const char *rel_path, const char *disk_path, char *err,
                         size_t errlen)
{
    struct stat st;
    build_file *nf;
    build_file f;
    int fd;
    int rc;

    if (b == NULL || disk_path == NULL) {
        return OA_EINVAL;
    }
    if (b->started) {
        return bfail(err, errlen, OA_ESTATE, "files cannot be added once hashing has started");
    }
    if (b->file_count > 0 && (rel_path == NULL || b->files[0].rel == NULL)) {
        return bfail(err, errlen, OA_EINVAL,
                     "a single-file torrent (no path inside the torrent) holds only one file");
    }
    if (rel_path != NULL) {
        rc = check_rel_path(rel_path, err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    fd = open(disk_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return bfail(err, errlen, OA_EIO, "cannot open %.200s: %s", disk_path, strerror(errno));
    }
    rc = fstat(fd, &st);
    close(fd);
    if (rc != 0 || !S_ISREG(st.st_mode)) {
        return bfail(err, errlen, OA_EIO, "%.200s is not a regular file", disk_path);
    }
    if ((uint64_t)st.st_size > OA_MI_MAX_TOTAL_LENGTH - b->total) {
        return bfail(err, errlen, OA_ERANGE, "the torrent would be larger than 2^50 bytes");
    }
    memset(&f, 0, sizeof(f));
    f.rel = rel_path != NULL ? strdup(rel_path) : NULL;
    f.disk = strdup(disk_path);
    f.length = (uint64_t)st.st_size;
    f.offset = b->total;
    nf = realloc(b->files, (b->file_count + 1) * sizeof(*nf));
    if (nf == NULL || f.disk == NULL || (rel_path != NULL && f.rel == NULL)) {
        if (nf != NULL) {
            b->files = nf;
        }
        free(f.rel);
        free(f.disk);
        return bfail(err, errlen, OA_ENOMEM, "out of memory");
    }
    b->files = nf;
    b->files[b->file_count] = f;
    b->file_count++;
    b->total += f.length;
    return 0;
}

/* Appends a copy of url to an array of strings. */
static int push_copy(char ***arr, size_t *count, const char *url)
{
    char **a;
    char *s;

    if (url == NULL || url[0] == '\0') {
        return OA_EINVAL;
    }
    s = strdup(url);
    if (s == NULL) {
        return OA_ENOMEM;
    }
    a = realloc(*arr, (*count + 1) * sizeof(**arr));
    if (a == NULL) {
        free(s);
        return OA_ENOMEM;
    }
    a[*count] = s;
    *arr = a;
    (*count)++;
    return 0;
}

int oa_mi_build_add_tracker(oa_mi_build *b, size_t tier, const char *url)
{
    int rc;

    if (b == NULL || tier > b->tier_count || url == NULL || url[0] == '\0') {
        return OA_EINVAL;
    }
    if (tier == b->tier_count) {
        oa_mi_tier *t = realloc(b->tiers, (b->tier_count + 1) * sizeof(*t));

        if (t == NULL) {
            return OA_ENOMEM;
        }
        b->tiers = t;
        memset(&b->tiers[tier], 0, sizeof(b->tiers[tier]));
    }
    rc = push_copy(&b->tiers[tier].urls, &b->tiers[tier].count, url);
    if (rc == 0 && tier == b->tier_count) {
        b->tier_count++; /* a tier exists once it holds a URL */
    }
    return rc;
}

int oa_mi_build_add_web_seed(oa_mi_build *b, const char *url)
{
    if (b == NULL) {
        return OA_EINVAL;
    }
    return push_copy(&b->seeds, &b->seed_count, url);
}

int oa_mi_build_set_private(oa_mi_build *b, int on)
{
    if (b == NULL) {
        return OA_EINVAL;
    }
    if (b->started) {
        return OA_ESTATE;
    }
    b->is_private = on != 0;
    return 0;
}

/* Replaces *slot with a copy of s (NULL clears). */
static int set_text(char **slot, const char *s)
{
    char *c = NULL;

    if (s != NULL) {
        c = strdup(s);
        if (c == NULL) {
            return OA_ENOMEM;
        }
    }
    free(*slot);
    *slot = c;
    return 0;
}

int oa_mi_build_set_comment(oa_mi_build *b, const char *comment)
{
    return b != NULL ? set_text(&b->comment, comment) : OA_EINVAL;
}

int oa_mi_build_set_created_by(oa_mi_build *b, const char *created_by)
{
    return b != NULL ? set_text(&b->created_by, created_by) : OA_EINVAL;
}

void oa_mi_build_set_creation_date(oa_mi_build *b, int64_t unix_seconds)
{
    if (b != NULL) {
        b->creation_date = unix_seconds;
    }
}

/* Writes one relative path as a list of components. */
static void write_path(oa_benc_writer *w, const char *rel)
{
    const char *p = rel;

    oa_benc_list_begin(w);
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);

        oa_benc_put_bytes(w, p, n);
        if (slash == NULL) {
            break;
        }
        p = slash + 1;
    }
    oa_benc_end(w);
}

/* Writes the info dictionary with the given piece hashes (count * 20). */
static void write_info(oa_benc_writer *w, const oa_mi_build *b, const uint8_t *hashes,
                       size_t count)
{
    size_t i;
    int single = b->file_count == 1 && b->files[0].rel == NULL;

    oa_benc_dict_begin(w);
    if (single) {
        oa_benc_put_str(w, "length");
        oa_benc_put_int(w, (int64_t)b->files[0].length);
    } else {
        oa_benc_put_str(w, "files");
        oa_benc_list_begin(w);
        for (i = 0; i < b->file_count; i++) {
            oa_benc_dict_begin(w);
            oa_benc_put_str(w, "length");
            oa_benc_put_int(w, (int64_t)b->files[i].length);
            oa_benc_put_str(w, "path");
            write_path(w, b->files[i].rel);
            oa_benc_end(w);
        }
        oa_benc_end(w);
    }
    oa_benc_put_str(w, "name");
    oa_benc_put_str(w, b->name);
    oa_benc_put_str(w, "piece length");
    oa_benc_put_int(w, (int64_t)b->piece_length);
    oa_benc_put_str(w, "pieces");
    oa_benc_put_bytes(w, hashes, count * OA_SHA1_LEN);
    if (b->is_private) {
        oa_benc_put_str(w, "private");
        oa_benc_put_int(w, 1);
    }
    oa_benc_end(w);
}

int oa_mi_build_start(oa_mi_build *b, size_t *piece_count, char *err, size_t errlen)
{
    oa_benc_writer w;
    oa_metainfo *draft = NULL;
    uint8_t *bytes = NULL;
    size_t len = 0;
    size_t n;
    int rc;

    if (b == NULL || piece_count == NULL) {
        return OA_EINVAL;
    }
    if (b->started) {
        *piece_count = b->piece_count;
        return 0;
    }
    if (b->file_count == 0) {
        return bfail(err, errlen, OA_EINVAL, "no files were added");
    }
    n = (size_t)((b->total + b->piece_length - 1) / b->piece_length);
    free(b->hashes);
    free(b->done);
    b->hashes = calloc(n > 0 ? n : 1, OA_SHA1_LEN);
    b->done = calloc(n > 0 ? n : 1, 1);
    if (b->hashes == NULL || b->done == NULL) {
        return bfail(err, errlen, OA_ENOMEM, "out of memory");
    }
    /* The draft, with empty hashes, goes through the real parser: duplicate
     * paths, a file that is also a folder, or no data at all fail here. */
    oa_benc_writer_init(&w);
    write_info(&w, b, b->hashes, n);
    rc = oa_benc_writer_finish(&w, &bytes, &len);
    if (rc != 0) {
        return bfail(err, errlen, rc, "cannot encode the info dictionary");
    }
    rc = oa_metainfo_parse_info(bytes, len, &draft, err, errlen);
    free(bytes);
    oa_metainfo_free(draft);
    if (rc != 0) {
        return rc == OA_ENOMEM ? rc : OA_EINVAL;
    }
    b->piece_count = n;
    b->started = 1;
    *piece_count = n;
    return 0;
}

/* Reads len bytes at offset of file f into buf, opening it on *fd when
 * *fd_file is another file. Returns 0 or OA_EIO with err set. */
static int read_at(const oa_mi_build *b, size_t f, int *fd, size_t *fd_file, uint64_t offset,
                   uint8_t *buf, size_t len, char *err, size_t errlen)
{
    const build_file *bf = &b->files[f];
    size_t got = 0;

    if (*fd_file != f) {
        struct stat st;

        if (*fd >= 0) {
            close(*fd);
        }
        *fd_file = SIZE_MAX;
        *fd = open(bf->disk, O_RDONLY | O_CLOEXEC);
        if (*fd < 0) {
            return bfail(err, errlen, OA_EIO, "cannot open %.200s: %s", bf->disk, strerror(errno));
        }
        if (fstat(*fd, &st) != 0 || (uint64_t)st.st_size != bf->length) {
            return bfail(err, errlen, OA_EIO, "%.200s changed size since it was added", bf->disk);
        }
        *fd_file = f;
    }
    while (got < len) {
        ssize_t r = pread(*fd, buf + got, len - got, (off_t)(offset + got));

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return bfail(err, errlen, OA_EIO, "cannot read %.200s: %s", bf->disk, strerror(errno));
        }
        if (r == 0) {
            return bfail(err, errlen, OA_EIO, "%.200s became shorter while hashing", bf->disk);
        }
        got += (size_t)r;
    }
    return 0;
}

/* Hashes one piece into b->hashes. *f is a file index at or before the
 * piece's first byte; it moves forward as files are read. */
static int hash_piece(oa_mi_build *b, size_t piece, EVP_MD_CTX *ctx, uint8_t *buf, size_t *f,
                      int *fd, size_t *fd_file, char *err, size_t errlen)
{
    uint64_t off = (uint64_t)piece * b->piece_length;
    uint64_t left = b->total - off < b->piece_length ? b->total - off : b->piece_length;
    unsigned int mdlen = 0;
    int rc;

    if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1) {
        return bfail(err, errlen, OA_ENOSYS, "SHA-1 is not available from OpenSSL");
    }
    while (left > 0) {
        const build_file *bf;
        uint64_t in_file;
        uint64_t chunk;

        while (b->files[*f].offset + b->files[*f].length <= off) {
            (*f)++;
        }
        bf = &b->files[*f];
        in_file = off - bf->offset;
        chunk = bf->length - in_file;
        if (chunk > left) {
            chunk = left;
        }
        if (chunk > READ_CHUNK) {
            chunk = READ_CHUNK;
        }
        rc = read_at(b, *f, fd, fd_file, in_file, buf, (size_t)chunk, err, errlen);
        if (rc != 0) {
            return rc;
        }
        EVP_DigestUpdate(ctx, buf, (size_t)chunk);
        off += chunk;
        left -= chunk;
    }
    if (EVP_DigestFinal_ex(ctx, b->hashes + piece * OA_SHA1_LEN, &mdlen) != 1) {
        return bfail(err, errlen, OA_ENOSYS, "SHA-1 is not available from OpenSSL");
    }
    b->done[piece] = 1;
    return 0;
}

int oa_mi_build_hash(oa_mi_build *b, size_t first, size_t count, char *err, size_t errlen)
{
    EVP_MD_CTX *ctx;
    uint8_t *buf;
    size_t f = 0;
    size_t fd_file = SIZE_MAX;
    int fd = -1;
    size_t i;
    int rc = 0;

    if (b == NULL) {
        return OA_EINVAL;
    }
    if (!b->started) {
        return bfail(err, errlen, OA_ESTATE, "call oa_mi_build_start() before hashing");
    }
    if (first > b->piece_count || count > b->piece_count - first) {
        return bfail(err, errlen, OA_ERANGE, "pieces %zu..%zu are past the last piece %zu",
                     first, first + count, b->piece_count);
    }
    if (count == 0) {
        return 0;
    }
    ctx = EVP_MD_CTX_new();
    buf = malloc(READ_CHUNK);
    if (ctx == NULL || buf == NULL) {
        EVP_MD_CTX_free(ctx);
        free(buf);
        return bfail(err, errlen, OA_ENOMEM, "out of memory");
    }
    /* Start at the last file that begins at or before the first byte. */
    {
        uint64_t start = (uint64_t)first * b->piece_length;
        size_t lo = 0;
        size_t hi = b->file_count;

        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;

            if (b->files[mid].offset + b->files[mid].length > start) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        f = lo;
    }
    for (i = first; i < first + count && rc == 0; i++) {
        rc = hash_piece(b, i, ctx, buf, &f, &fd, &fd_file, err, errlen);
    }
    if (fd >= 0) {
        close(fd);
    }
    EVP_MD_CTX_free(ctx);
    free(buf);
    return rc;
}

int oa_mi_build_finish(oa_mi_build *b, oa_metainfo **out, char *err, size_t errlen)
{
    oa_benc_writer w;
    oa_metainfo view;
    uint8_t *info = NULL;
    size_t info_len = 0;
    uint8_t *bytes = NULL;
    size_t len = 0;
    size_t i;
    size_t trackers = 0;
    int rc;

    if (b == NULL || out == NULL) {
        return OA_EINVAL;
    }
    *out = NULL;
    if (!b->started) {
        return bfail(err, errlen, OA_ESTATE, "call oa_mi_build_start() and hash every piece first");
    }
    for (i = 0; i < b->piece_count; i++) {
        if (!b->done[i]) {
            return bfail(err, errlen, OA_ESTATE, "piece %zu of %zu has not been hashed", i,
                         b->piece_count);
        }
    }
    for (i = 0; i < b->tier_count; i++) {
        trackers += b->tiers[i].count;
    }
    oa_benc_writer_init(&w);
    write_info(&w, b, b->hashes, b->piece_count);
    rc = oa_benc_writer_finish(&w, &info, &info_len);
    if (rc != 0) {
        return bfail(err, errlen, rc, "cannot encode the info dictionary");
    }
    /* The outer dictionary is what oa_metainfo_serialize() writes for a
     * parsed torrent: the first tracker as announce, and announce-list only
     * when there is more than one tracker (BEP 12). */
    memset(&view, 0, sizeof(view));
    view.announce = trackers > 0 ? b->tiers[0].urls[0] : NULL;
    view.tiers = trackers > 1 ? b->tiers : NULL;
    view.tier_count = trackers > 1 ? b->tier_count : 0;
    view.comment = b->comment;
    view.created_by = b->created_by;
    view.creation_date = b->creation_date;
    view.url_list = b->seeds;
    view.url_count = b->seed_count;
    view.info = info;
    view.info_len = info_len;
    rc = oa_metainfo_serialize(&view, &bytes, &len);
    free(info);
    if (rc != 0) {
        return bfail(err, errlen, rc, "cannot encode the torrent");
    }
    rc = oa_metainfo_parse(bytes, len, out, err, errlen);
    free(bytes);
    return rc;
}

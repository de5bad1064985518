/*
 * Reading and writing .torrent metainfo (BEP 3, BEP 12, BEP 19, BEP 47).
 */
#include "metainfo.h"

#include "bencode.h"
#include "swarm_err.h"

#include <openace/sdk.h>

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Lenient reading: real torrents exist with unsorted keys; the info-hash is
 * taken over the original bytes anyway. The node limit (about 300,000
 * files) bounds the decoder's memory to about 100 MB. */
#define MI_MAX_NODES ((size_t)1 << 21)

/* Error sentences start with "metainfo:". */
#define mi_fail(err, errlen, code, ...) oa_swarm_fail((err), (errlen), (code), "metainfo: ", __VA_ARGS__)


/* Copies n bytes into a new NUL-terminated string; NULL when out of memory
 * or when the bytes hold a NUL (which a C string cannot carry). */
static char *dup_text(const uint8_t *p, size_t n)
{
    char *s;

    if (n > 0 && memchr(p, '\0', n) != NULL) {
        return NULL;
    }
    s = malloc(n + 1);
    if (s == NULL) {
        return NULL;
    }
    if (n > 0) {
        memcpy(s, p, n);
    }
    s[n] = '\0';
    return s;
}

/* Copies a component into out as printable text for an error message. */
static void show(char *out, size_t outlen, const uint8_t *p, size_t n)
{
    size_t i;
    size_t j = 0;

    for (i = 0; i < n && j + 4 < outlen; i++) {
        out[j] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
        j++;
    }
    if (i < n) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
}

int oa_mi_check_component(const void *p, size_t n, const char **why)
{
    const char *reason = NULL;

    if (n == 0) {
        reason = "an empty path component";
    } else if (n == 1 && memcmp(p, ".", 1) == 0) {
        reason = "the path component \".\"";
    } else if (n == 2 && memcmp(p, "..", 2) == 0) {
        reason = "the path component \"..\" (parent folder)";
    } else if (memchr(p, '/', n) != NULL) {
        reason = "a '/' inside a path component (absolute or nested path)";
    } else if (memchr(p, '\0', n) != NULL) {
        reason = "a NUL byte inside a path component";
    }
    if (why != NULL) {
        *why = reason;
    }
    return reason != NULL ? OA_EPROTO : 0;
}

static int is_pow2(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

static unsigned parse_attr(const oa_benc_node *file)
{
    const uint8_t *p;
    size_t n;
    size_t i;
    unsigned flags = 0;

    if (oa_benc_dict_bytes(file, "attr", &p, &n) != 0) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (p[i] == 'p') {
            flags |= OA_MI_FILE_PAD;
        } else if (p[i] == 'x') {
            flags |= OA_MI_FILE_EXEC;
        } else if (p[i] == 'h') {
            flags |= OA_MI_FILE_HIDDEN;
        } else if (p[i] == 'l') {
            flags |= OA_MI_FILE_SYMLINK;
        }
    }
    return flags;
}

/* Reads one file's length, checked against what the torrent already holds. */
static int read_length(const oa_benc_node *d, uint64_t total, const char *what, uint64_t *out,
                       char *err, size_t errlen)
{
    int64_t v;
    int rc = oa_benc_dict_int(d, "length", &v);

    if (rc != 0) {
        return mi_fail(err, errlen, OA_EPROTO, "%s has no integer \"length\"", what);
    }
    if (v < 0) {
        return mi_fail(err, errlen, OA_EPROTO, "%s has a negative length", what);
    }
    if ((uint64_t)v > OA_MI_MAX_TOTAL_LENGTH - total) {
        return mi_fail(err, errlen, OA_ERANGE,
                       "the torrent is larger than 2^50 bytes, the most this engine accepts");
    }
    *out = (uint64_t)v;
    return 0;
}

/* Joins the components of a "path" list into "a/b/c", checking each. */
static int read_path(const oa_benc_node *list, size_t index, char **out, char *err, size_t errlen)
{
    oa_benc_iter it;
    const oa_benc_node *c;
    size_t total = 0;
    char *s;
    size_t at = 0;

    if (list == NULL || oa_benc_count(list) == 0) {
        return mi_fail(err, errlen, OA_EPROTO, "file %zu has no \"path\" list", index);
    }
    oa_benc_iter_init(&it, list);
    while (oa_benc_iter_next(&it, NULL, &c)) {
        const uint8_t *p;
        size_t n;
        const char *why;
        char shown[48];

        if (oa_benc_bytes(c, &p, &n) != 0) {
            return mi_fail(err, errlen, OA_EPROTO, "file %zu has a path component that is not text",
                           index);
        }
        if (oa_mi_check_component(p, n, &why) != 0) {
            show(shown, sizeof(shown), p, n);
            return mi_fail(err, errlen, OA_EPROTO,
                           "file %zu path has %s (\"%s\"); refusing a path that could leave the "
                           "download folder",
                           index, why, shown);
        }
        total += n + 1;
    }
    s = malloc(total);
    if (s == NULL) {
        return mi_fail(err, errlen, OA_ENOMEM, "out of memory");
    }
    oa_benc_iter_init(&it, list);
    while (oa_benc_iter_next(&it, NULL, &c)) {
        const uint8_t *p;
        size_t n;

        oa_benc_bytes(c, &p, &n);
        if (at > 0) {
            s[at] = '/';
            at++;
        }
        memcpy(s + at, p, n);
        at += n;
    }
    s[at] = '\0';
    *out = s;
    return 0;
}

/* Orders paths so that "a" is directly followed by everything below "a/":
 * '/' sorts before every other byte. */
static int path_cmp(const char *a, const char *b)
{
    while (*a != '\0' && *a == *b) {
        a++;
        b++;
    }
    if (*a == *b) {
        return 0;
    }
    if (*a == '\0') {
        return -1;
    }
    if (*b == '\0') {
        return 1;
    }
    if (*a == '/') {
        return -1;
    }
    if (*b == '/') {
        return 1;
    }
    return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
}

static int path_ptr_cmp(const void *a, const void *b)
{
    return path_cmp(*(char *const *)a, *(char *const *)b);
}

/* Refuses two files at one path, and a file that is also a folder ("a" and
 * "a/b"), since either would make one file overwrite another. */
static int check_unique_paths(const oa_metainfo *mi, char *err, size_t errlen)
{
    char **paths;
    size_t i;
    int rc = 0;

    if (mi->file_count < 2) {
        return 0;
    }
    paths = malloc(mi->file_count * sizeof(*paths));
    if (paths == NULL) {
        return mi_fail(err, errlen, OA_ENOMEM, "out of memory");
    }
    for (i = 0; i < mi->file_count; i++) {
        paths[i] = mi->files[i].path;
    }
    qsort(paths, mi->file_count, sizeof(*paths), path_ptr_cmp);
    for (i = 1; i < mi->file_count && rc == 0; i++) {
        size_t n = strlen(paths[i - 1]);

        if (strcmp(paths[i - 1], paths[i]) == 0) {
            rc = mi_fail(err, errlen, OA_EPROTO, "two files have the same path \"%.200s\"",
                         paths[i]);
        } else if (strncmp(paths[i - 1], paths[i], n) == 0 && paths[i][n] == '/') {
            rc = mi_fail(err, errlen, OA_EPROTO, "\"%.200s\" is both a file and a folder",
                         paths[i - 1]);
        }
    }
    free(paths);
    return rc;
}

static int parse_files(oa_metainfo *mi, const oa_benc_node *files, char *err, size_t errlen)
{
    oa_benc_iter it;
    const oa_benc_node *f;
    size_t count = oa_benc_count(files);
    uint64_t total = 0;
    int rc;

    if (count == 0) {
        return mi_fail(err, errlen, OA_EPROTO, "the \"files\" list is empty");
    }
    mi->files = calloc(count, sizeof(*mi->files));
    if (mi->files == NULL) {
        return mi_fail(err, errlen, OA_ENOMEM, "out of memory");
    }
    oa_benc_iter_init(&it, files);
    while (oa_benc_iter_next(&it, NULL, &f)) {
        size_t i = mi->file_count;
        oa_mi_file *mf = &mi->files[i];
        char what[40];

        if (oa_benc_type_of(f) != OA_BENC_DICT) {
            return mi_fail(err, errlen, OA_EPROTO, "file %zu is not a dictionary", i);
        }
        snprintf(what, sizeof(what), "file %zu", i);
        rc = read_length(f, total, what, &mf->length, err, errlen);
        if (rc != 0) {
            return rc;
        }
        rc = read_path(oa_benc_dict_list(f, "path"), i, &mf->path, err, errlen);
        if (rc != 0) {
            return rc;
        }
        mf->offset = total;
        mf->flags = parse_attr(f);
        total += mf->length;
        mi->file_count++;
    }
    mi->total_length = total;
    return check_unique_paths(mi, err, errlen);
}

/* Fills the info fields of mi from the info dictionary. */
static int parse_info(oa_metainfo *mi, const oa_benc_node *info, char *err, size_t errlen)
{
    const uint8_t *p;
    size_t n;
    int64_t v;
    const oa_benc_node *files;
    const char *why;
    char shown[48];
    unsigned int mdlen = 0;
    int rc;

    p = oa_benc_raw(info, &n);
    mi->info = malloc(n);
    if (mi->info == NULL) {
        return mi_fail(err, errlen, OA_ENOMEM, "out of memory");
    }
    memcpy(mi->info, p, n);
    mi->info_len = n;
    if (EVP_Digest(mi->info, mi->info_len, mi->info_hash, &mdlen, EVP_sha1(), NULL) != 1 ||
        mdlen != OA_SHA1_LEN) {
        return mi_fail(err, errlen, OA_ENOSYS, "SHA-1 is not available from OpenSSL");
    }

    if (oa_benc_dict_bytes(info, "pieces", &p, &n) != 0) {
        if (oa_benc_dict_int(info, "meta version", &v) == 0 && v >= 2) {
            return mi_fail(err, errlen, OA_ENOSYS,
                           "this is a BitTorrent v2-only torrent (meta version %lld without "
                           "\"pieces\"); this engine speaks v1 and needs a v1 or hybrid torrent",
                           (long long)v);
        }
        return mi_fail(err, errlen, OA_EPROTO, "the info dictionary has no \"pieces\" string");
    }
    if (n % OA_SHA1_LEN != 0) {
        return mi_fail(err, errlen, OA_EPROTO,
                       "\"pieces\" is %zu bytes, not a multiple of 20 (one SHA-1 per piece)", n);
    }
    mi->piece_count = n / OA_SHA1_LEN;
    mi->piece_hashes = malloc(n > 0 ? n : 1);
    if (mi->piece_hashes == NULL) {
        return mi_fail(err, errlen, OA_ENOMEM, "out of memory");
    }
    if (n > 0) {
        memcpy(mi->piece_hashes, p, n);
    }

    if (oa_benc_dict_int(info, "piece length", &v) != 0) {
        return mi_fail(err, errlen, OA_EPROTO, "the info dictionary has no integer \"piece length\"");
    }
    if (v < (int64_t)OA_MI_MIN_PIECE_LENGTH || !is_pow2((uint64_t)v)) {
        return mi_fail(err, errlen, OA_EPROTO,
                       "piece length %lld is not a power of two of at least 16384 bytes",
                       (long long)v);
    }
    mi->piece_length = (uint64_t)v;

    if (oa_benc_dict_bytes(info, "name", &p, &n) != 0) {
        return mi_fail(err, errlen, OA_EPROTO, "the info dictionary has no \"name\" string");
    }
    if (oa_mi_check_component(p, n, &why) != 0) {
        show(shown, sizeof(shown), p, n);
        return mi_fail(err, errlen, OA_EPROTO,
                       "the name has %s (\"%s\"); refusing a name that could leave the download "
                       "folder",
                       why, shown);
    }
    mi->name = dup_text(p, n);
    if (mi->name == NULL) {
        return mi_fail(err, errlen, OA_ENOMEM, "out of memory");
    }

    files = oa_benc_dict_get(info, "files");
    if (files != NULL) {
        if (oa_benc_type_of(files) != OA_BENC_LIST) {
            return mi_fail(err, errlen, OA_EPROTO, "\"files\" is not a list");
        }
        mi->multi_file = 1;
        rc = parse_files(mi, files, err, errlen);
    } else {
        mi->files = calloc(1, sizeof(*mi->files));
        if (mi->files == NULL) {
            return mi_fail(err, errlen, OA_ENOMEM, "out of memory");
        }
        rc = read_length(info, 0, "the single file", &mi->files[0].length, err, errlen);
        if (rc == 0) {
            mi->files[0].path = strdup(mi->name);
            mi->file_count = 1;
            mi->total_length = mi->files[0].length;
            rc = mi->files[0].path != NULL ? 0 : mi_fail(err, errlen, OA_ENOMEM, "out of memory");
        }
    }
    if (rc != 0) {
        return rc;
    }
    if (mi->total_length == 0) {
        return mi_fail(err, errlen, OA_EPROTO, "the torrent holds no data (total length 0)");
    }
    if ((mi->total_length + mi->piece_length - 1) / mi->piece_length != mi->piece_count) {
        return mi_fail(err, errlen, OA_EPROTO,
                       "%zu piece hashes do not match %llu bytes in pieces of %llu",
                       mi->piece_count, (unsigned long long)mi->total_length,
                       (unsigned long long)mi->piece_length);
    }
    mi->is_private = oa_benc_dict_int(info, "private", &v) == 0 && v == 1;
    return 0;
}

/* Copies a URL string node, or returns NULL for anything that is not one
 * (not a string, empty, holding NUL) or when out of memory. */
static char *dup_url(const oa_benc_node *n)
{
    const uint8_t *p;
    size_t len;

    if (oa_benc_bytes(n, &p, &len) != 0 || len == 0) {
        return NULL;
    }
    return dup_text(p, len);
}

/* Appends s to a growing array of strings; takes s, frees it on failure. */
static int push_str(char ***arr, size_t *count, char *s)
{
    char **a = realloc(*arr, (*count + 1) * sizeof(**arr));

    if (a == NULL) {
        free(s);
        return OA_ENOMEM;
    }
    a[*count] = s;
    *arr = a;
    (*count)++;
    return 0;
}

static void free_tier(oa_mi_tier *t)
{
    size_t i;

    for (i = 0; i < t->count; i++) {
        free(t->urls[i]);
    }
    free(t->urls);
}

/* Reads the fields outside the info dictionary. Trackers are optional, so
 * malformed entries are dropped rather than refusing the torrent. */
static int parse_outer(oa_metainfo *mi, const oa_benc_node *root)
{
    const oa_benc_node *n;
    const oa_benc_node *tier;
    const oa_benc_node *u;
    oa_benc_iter it;
    oa_benc_iter jt;
    int64_t v;

    n = oa_benc_dict_get(root, "announce");
    mi->announce = n != NULL ? dup_url(n) : NULL;
    n = oa_benc_dict_list(root, "announce-list");
    oa_benc_iter_init(&it, n);
    while (n != NULL && oa_benc_iter_next(&it, NULL, &tier)) {
        oa_mi_tier t = {NULL, 0};

        oa_benc_iter_init(&jt, tier);
        while (oa_benc_iter_next(&jt, NULL, &u)) {
            char *s = dup_url(u);

            if (s != NULL && push_str(&t.urls, &t.count, s) != 0) {
                free_tier(&t);
                return OA_ENOMEM;
            }
        }
        if (t.count > 0) {
            oa_mi_tier *tt = realloc(mi->tiers, (mi->tier_count + 1) * sizeof(*tt));

            if (tt == NULL) {
                free_tier(&t);
                return OA_ENOMEM;
            }
            tt[mi->tier_count] = t;
            mi->tiers = tt;
            mi->tier_count++;
        }
    }
    n = oa_benc_dict_get(root, "url-list");
    if (n != NULL && oa_benc_type_of(n) == OA_BENC_BYTES) {
        char *s = dup_url(n);

        if (s != NULL && push_str(&mi->url_list, &mi->url_count, s) != 0) {
            return OA_ENOMEM;
        }
    }
    oa_benc_iter_init(&it, n);
    while (oa_benc_iter_next(&it, NULL, &u)) {
        char *s = dup_url(u);

        if (s != NULL && push_str(&mi->url_list, &mi->url_count, s) != 0) {
            return OA_ENOMEM;
        }
    }
    n = oa_benc_dict_get(root, "comment");
    mi->comment = n != NULL ? dup_url(n) : NULL;
    n = oa_benc_dict_get(root, "created by");
    mi->created_by = n != NULL ? dup_url(n) : NULL;
    if (oa_benc_dict_int(root, "creation date", &v) == 0) {
        mi->creation_date = v;
    }
    return 0;
}

static int decode(const void *buf, size_t len, oa_benc_doc **doc, char *err, size_t errlen)
{
    oa_benc_opts opts;
    char why[200];
    int rc;

    memset(&opts, 0, sizeof(opts));
    opts.max_nodes = MI_MAX_NODES;
    rc = oa_benc_decode(buf, len, &opts, doc, why, sizeof(why));
    if (rc != 0) {
        return mi_fail(err, errlen, rc, "the file is not valid bencode: %s", why);
    }
    if (oa_benc_type_of(oa_benc_doc_root(*doc)) != OA_BENC_DICT) {
        oa_benc_doc_free(*doc);
        *doc = NULL;
        return mi_fail(err, errlen, OA_EPROTO, "the file is not a bencoded dictionary");
    }
    return 0;
}

static int parse_common(const void *buf, size_t len, int bare, oa_metainfo **out, char *err,
                        size_t errlen)
{
    oa_benc_doc *doc = NULL;
    const oa_benc_node *root;
    const oa_benc_node *info;
    oa_metainfo *mi;
    int rc;

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (out == NULL || (buf == NULL && len > 0)) {
        return OA_EINVAL;
    }
    *out = NULL;
    rc = decode(buf, len, &doc, err, errlen);
    if (rc != 0) {
        return rc;
    }
    root = oa_benc_doc_root(doc);
    info = bare ? root : oa_benc_dict_dict(root, "info");
    mi = calloc(1, sizeof(*mi));
    if (mi == NULL) {
        rc = mi_fail(err, errlen, OA_ENOMEM, "out of memory");
    } else if (info == NULL) {
        rc = mi_fail(err, errlen, OA_EPROTO, "there is no \"info\" dictionary");
    } else {
        rc = parse_info(mi, info, err, errlen);
    }
    if (rc == 0 && !bare) {
        rc = parse_outer(mi, root);
        if (rc != 0) {
            mi_fail(err, errlen, rc, "out of memory");
        }
    }
    oa_benc_doc_free(doc);
    if (rc != 0) {
        oa_metainfo_free(mi);
        return rc;
    }
    *out = mi;
    return 0;
}

int oa_metainfo_parse(const void *buf, size_t len, oa_metainfo **out, char *err, size_t errlen)
{
    return parse_common(buf, len, 0, out, err, errlen);
}

int oa_metainfo_parse_info(const void *buf, size_t len, oa_metainfo **out, char *err,
                           size_t errlen)
{
    return parse_common(buf, len, 1, out, err, errlen);
}

void oa_metainfo_free(oa_metainfo *mi)
{
    size_t i;

    if (mi == NULL) {
        return;
    }
    for (i = 0; i < mi->file_count; i++) {
        free(mi->files[i].path);
    }
    free(mi->files);
    for (i = 0; i < mi->tier_count; i++) {
        free_tier(&mi->tiers[i]);
    }
    free(mi->tiers);
    for (i = 0; i < mi->url_count; i++) {
        free(mi->url_list[i]);
    }
    free(mi->url_list);
    free(mi->name);
    free(mi->piece_hashes);
    free(mi->announce);
    free(mi->comment);
    free(mi->created_by);
    free(mi->info);
    free(mi);
}

uint64_t oa_metainfo_piece_size(const oa_metainfo *mi, size_t i)
{
    uint64_t start;

    if (i >= mi->piece_count) {
        return 0;
    }
    start = (uint64_t)i * mi->piece_length;
    if (mi->total_length - start < mi->piece_length) {
        return mi->total_length - start;
    }
    return mi->piece_length;
}

int oa_metainfo_file_at(const oa_metainfo *mi, uint64_t offset, size_t *index)
{
    size_t lo = 0;
    size_t hi = mi->file_count;

    if (offset >= mi->total_length) {
        return OA_ERANGE;
    }
    /* File ends are non-decreasing: find the first file ending after offset.
     * It starts at or before offset, so it is not empty. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (mi->files[mid].offset + mi->files[mid].length > offset) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    *index = lo;
    return 0;
}

int oa_metainfo_serialize(const oa_metainfo *mi, uint8_t **out, size_t *len)
{
    oa_benc_writer w;
    size_t i;
    size_t j;

    if (mi == NULL || mi->info == NULL || out == NULL || len == NULL) {
        return OA_EINVAL;
    }
    /* Keys in the byte order BEP 3 asks for; the writer checks it. */
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    if (mi->announce != NULL) {
        oa_benc_put_str(&w, "announce");
        oa_benc_put_str(&w, mi->announce);
    }
    if (mi->tier_count > 0) {
        oa_benc_put_str(&w, "announce-list");
        oa_benc_list_begin(&w);
        for (i = 0; i < mi->tier_count; i++) {
            oa_benc_list_begin(&w);
            for (j = 0; j < mi->tiers[i].count; j++) {
                oa_benc_put_str(&w, mi->tiers[i].urls[j]);
            }
            oa_benc_end(&w);
        }
        oa_benc_end(&w);
    }
    if (mi->comment != NULL) {
        oa_benc_put_str(&w, "comment");
        oa_benc_put_str(&w, mi->comment);
    }
    if (mi->created_by != NULL) {
        oa_benc_put_str(&w, "created by");
        oa_benc_put_str(&w, mi->created_by);
    }
    if (mi->creation_date != 0) {
        oa_benc_put_str(&w, "creation date");
        oa_benc_put_int(&w, mi->creation_date);
    }
    oa_benc_put_str(&w, "info");
    oa_benc_put_raw(&w, mi->info, mi->info_len);
    if (mi->url_count > 0) {
        oa_benc_put_str(&w, "url-list");
        oa_benc_list_begin(&w);
        for (i = 0; i < mi->url_count; i++) {
            oa_benc_put_str(&w, mi->url_list[i]);
        }
        oa_benc_end(&w);
    }
    oa_benc_end(&w);
    return oa_benc_writer_finish(&w, out, len);
}

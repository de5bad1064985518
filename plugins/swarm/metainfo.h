/*
 * Metainfo: the contents of a BitTorrent v1 .torrent file (BEP 3), with
 * multitracker tiers (BEP 12), web seeds (BEP 19 url-list) and file
 * attributes (BEP 47).
 *
 * Parsing checks everything the engine later relies on: the piece length
 * is a power of two of at least 16 KiB, the piece hashes match the total
 * size, every file path stays inside the download folder, and the total
 * size is at most 2^50 bytes. The info-hash is the SHA-1 of the info
 * dictionary's original bytes, whatever order their keys were written in.
 * BitTorrent v2-only torrents (BEP 52) are refused with a reason; hybrid
 * torrents are read through their v1 part.
 *
 * Building (metainfo_build.c) goes the other way for seeding: it hashes
 * files on disk, one range of pieces per call so that the work can be
 * spread over worker threads, and yields an oa_metainfo that
 * oa_metainfo_serialize() turns into .torrent bytes.
 */
#ifndef OA_SWARM_METAINFO_H
#define OA_SWARM_METAINFO_H

#include <stddef.h>
#include <stdint.h>

#define OA_SHA1_LEN 20
#define OA_MI_MIN_PIECE_LENGTH ((uint64_t)16 * 1024)
#define OA_MI_MAX_TOTAL_LENGTH ((uint64_t)1 << 50)

/* File attributes (BEP 47 "attr"). */
#define OA_MI_FILE_PAD 0x1u     /* 'p': padding, never written to disk */
#define OA_MI_FILE_EXEC 0x2u    /* 'x': executable */
#define OA_MI_FILE_HIDDEN 0x4u  /* 'h': hidden */
#define OA_MI_FILE_SYMLINK 0x8u /* 'l': a symbolic link; the engine never creates it */

typedef struct oa_mi_file {
    /* Path below the torrent's folder, components joined with '/'; for a
     * single-file torrent, the name. Every component is non-empty and none
     * is "." or "..", holds '/' or NUL. Owned by the metainfo. */
    char *path;
    uint64_t length;
    uint64_t offset; /* where the file starts in the torrent's byte space */
    unsigned flags;  /* OA_MI_FILE_* */
} oa_mi_file;

/* One tier of trackers (BEP 12): tried in order, tiers one after another. */
typedef struct oa_mi_tier {
    char **urls; /* owned by the metainfo */
    size_t count;
} oa_mi_tier;

/* A parsed torrent. Everything it points to is owned by it and released by
 * oa_metainfo_free(). */
typedef struct oa_metainfo {
    uint8_t info_hash[OA_SHA1_LEN];
    char *name;              /* the info dictionary's name: a valid path component */
    uint64_t piece_length;   /* a power of two, at least 16 KiB */
    uint64_t total_length;   /* 1 .. 2^50 */
    size_t piece_count;      /* ceil(total_length / piece_length) */
    uint8_t *piece_hashes;   /* piece_count SHA-1 digests, 20 bytes each */
    oa_mi_file *files;       /* in torrent order; one entry for a single-file torrent */
    size_t file_count;
    int multi_file;          /* the info dictionary has "files" */
    int is_private;          /* "private" is 1: no DHT, PEX or local discovery */
    char *announce;          /* NULL when absent */
    oa_mi_tier *tiers;       /* announce-list; entries that are not URLs are dropped */
    size_t tier_count;
    char **url_list;         /* web seeds (BEP 19) */
    size_t url_count;
    char *comment;           /* NULL when absent */
    char *created_by;        /* NULL when absent */
    int64_t creation_date;   /* seconds since 1970; 0 when absent */
    uint8_t *info;           /* the info dictionary's original bytes (served by BEP 9) */
    size_t info_len;
} oa_metainfo;

/* Parses the .torrent bytes buf[0..len) into a new metainfo stored in *out;
 * buf is not referenced after the call. The caller owns *out and releases
 * it with oa_metainfo_free(). Fails with OA_EINVAL for bad arguments,
 * OA_EPROTO for malformed bencode or a field that breaks the rules above,
 * OA_ENOSYS for a v2-only torrent, OA_ERANGE for sizes over the limits and
 * OA_ENOMEM; err (may be NULL) then holds a sentence a user can act on. */
int oa_metainfo_parse(const void *buf, size_t len, oa_metainfo **out, char *err, size_t errlen);

/* Parses a bare info dictionary, as fetched from peers with BEP 9, into a
 * new metainfo without trackers. Ownership and errors as for
 * oa_metainfo_parse(); the caller compares info_hash with the one it
 * asked for. */
int oa_metainfo_parse_info(const void *buf, size_t len, oa_metainfo **out, char *err,
                           size_t errlen);

/* Releases a metainfo and everything it owns; NULL is allowed. */
void oa_metainfo_free(oa_metainfo *mi);

/* Returns the size of piece i (the last one may be short), or 0 when i is
 * out of range. */
uint64_t oa_metainfo_piece_size(const oa_metainfo *mi, size_t i);

/* Stores in *index the file that holds byte offset of the torrent (files
 * of length 0 hold none). Returns 0, or OA_ERANGE when offset is at or
 * past total_length. */
int oa_metainfo_file_at(const oa_metainfo *mi, uint64_t offset, size_t *index);

/* Writes mi as .torrent bytes: the info dictionary exactly as it was read
 * or built (so the info-hash does not change) and the announce, tiers, web
 * seeds, comment, creator and date it holds. The caller frees *out with
 * free(). Fails with OA_EINVAL or OA_ENOMEM. */
int oa_metainfo_serialize(const oa_metainfo *mi, uint8_t **out, size_t *len);

/* Checks one path component (n bytes at p): returns 0 when it is safe to
 * use as a file or folder name below the download folder, else OA_EPROTO
 * with *why (static text, may be NULL) saying why: empty, ".", "..", or
 * holding '/' or NUL. */
int oa_mi_check_component(const void *p, size_t n, const char **why);

/* ---- building a torrent from files (metainfo_build.c) ------------------- */

typedef struct oa_mi_build oa_mi_build;

/* Starts a new torrent called name (a valid path component) with the given
 * piece length (a power of two of at least 16 KiB). The caller owns *out
 * and releases it with oa_mi_build_free(). Fails with OA_EINVAL (reason in
 * err) or OA_ENOMEM. */
int oa_mi_build_new(const char *name, uint64_t piece_length, oa_mi_build **out, char *err,
                    size_t errlen);

/* Releases a build; NULL is allowed. */
void oa_mi_build_free(oa_mi_build *b);

/* Adds the regular file at disk_path, taking its size now. rel_path is its
 * path inside the torrent ('/'-separated, each component valid), or NULL
 * for a single-file torrent, which then holds only this file under the
 * torrent's name. Both strings are copied. Fails with OA_EINVAL (bad path
 * component, or single- and multi-file mixed), OA_EIO (not a readable
 * regular file), OA_ERANGE (over 2^50 bytes in all), OA_ESTATE (after
 * oa_mi_build_start) or OA_ENOMEM, with err set. */
int oa_mi_build_add_file(oa_mi_build *b, const char *rel_path, const char *disk_path, char *err,
                         size_t errlen);

/* Adds a tracker URL to tier number tier, which is at most the number of
 * tiers so far (equal opens a new tier). OA_EINVAL, OA_ENOMEM. */
int oa_mi_build_add_tracker(oa_mi_build *b, size_t tier, const char *url);

/* Adds a web seed URL (BEP 19). OA_EINVAL, OA_ENOMEM. */
int oa_mi_build_add_web_seed(oa_mi_build *b, const char *url);

/* Optional fields outside the pieces: the private flag (in the info
 * dictionary, so it changes the info-hash), a comment, the creator and the
 * creation date. Strings are copied; NULL clears. OA_EINVAL, OA_ENOMEM,
 * OA_ESTATE once hashing may have begun (private only). */
int oa_mi_build_set_private(oa_mi_build *b, int on);
int oa_mi_build_set_comment(oa_mi_build *b, const char *comment);
int oa_mi_build_set_created_by(oa_mi_build *b, const char *created_by);
void oa_mi_build_set_creation_date(oa_mi_build *b, int64_t unix_seconds);

/* Fixes the file list and stores the number of pieces to hash in
 * *piece_count. The draft info dictionary is checked by the parser, so
 * this fails with OA_EINVAL (reason in err) for no files, only empty files,
 * two files at one path, or a path that is both a file and a folder, and
 * with OA_ENOMEM. Calling it again returns the same count. */
int oa_mi_build_start(oa_mi_build *b, size_t *piece_count, char *err, size_t errlen);

/* Hashes pieces [first, first + count) by reading the files. Any thread:
 * calls with ranges that do not overlap may run at the same time, and
 * nothing else may touch b meanwhile. Fails with OA_ESTATE before
 * oa_mi_build_start(), OA_ERANGE for a range past the end, OA_EIO when a
 * file cannot be read or changed size, with err set. */
int oa_mi_build_hash(oa_mi_build *b, size_t first, size_t count, char *err, size_t errlen);

/* Makes the metainfo once every piece has been hashed: the caller owns
 * *out (oa_metainfo_free). Fails with OA_ESTATE when pieces are missing,
 * OA_ENOMEM, with err set. b stays valid and must still be freed. */
int oa_mi_build_finish(oa_mi_build *b, oa_metainfo **out, char *err, size_t errlen);

#endif

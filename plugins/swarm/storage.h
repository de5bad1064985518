/*
 * Storage: a torrent's pieces on disk, as files below a download folder.
 *
 * The torrent's byte space (metainfo.h) is cut into its files: a
 * single-file torrent is <root>/<name>, a multi-file torrent is
 * <root>/<name>/<path>. Files and their folders are created when the first
 * block lands in them, sparse: a write extends a file only to the end of
 * what it wrote, nothing allocates a file's full size ahead of time, and a
 * file shorter than the torrent says simply lacks its tail. Zero-length
 * files are created by oa_storage_open() (no block ever reaches them).
 * Padding files (BEP 47 'p') and files marked as symbolic links ('l') are
 * never created: their bytes read as zeros and writes to them are dropped.
 *
 * Nothing below the root is followed through a symbolic link. Every path
 * is opened one component at a time from a descriptor of the root, folders
 * with O_DIRECTORY | O_NOFOLLOW and the file itself with O_NOFOLLOW, so a
 * link planted anywhere inside the download folder (pointing outside or
 * not) is refused with OA_EACCES instead of being written or read through.
 * The root itself may be a link: the user chose it. Path components are
 * checked again here even though the metainfo parser has checked them.
 *
 * A file larger than the torrent says is left as it is, never truncated (it
 * may be someone else's data under the same name). Nothing is trusted
 * because of a file's size: its pieces count as present only once
 * oa_storage_check() or oa_storage_verify_piece() has hashed them from the
 * bytes the torrent covers; the bytes past the end are never read or
 * written.
 *
 * Threads: made to be called from libuv worker threads; nothing here
 * touches a loop. Once oa_storage_open() has returned, every call except
 * oa_storage_close() may run at the same time as any other on any thread.
 * Writes to ranges that overlap, at the same time, leave either write's
 * bytes; a read of a range being written may see old or new bytes. Callers
 * work on disjoint pieces, so neither happens. oa_storage_close() runs
 * alone, after every other call has returned.
 *
 * Open files are kept in a small cache (at most max_fds descriptors, least
 * recently used closed first) guarded by a mutex; a descriptor in use by a
 * call is never closed under it. When every cached descriptor is busy, a
 * call opens one of its own and closes it when done.
 *
 * Errors: functions return 0 for success and a negative OA_E* code from
 * <openace/sdk.h>; err (may be NULL) then holds a sentence with the path
 * and the system's reason. OA_ENOENT means the data is not on disk (file
 * missing or too short), OA_EACCES a refused path (link, not a regular
 * file, permission), OA_EIO any other system error.
 */
#ifndef OA_SWARM_STORAGE_H
#define OA_SWARM_STORAGE_H

#include "bitfield.h"
#include "metainfo.h"

#include <stddef.h>
#include <stdint.h>

#define OA_STORAGE_DEFAULT_FDS 32u

/* Open for reading only: nothing is created, writes fail with OA_ESTATE.
 * For seeding files that must not change. */
#define OA_STORAGE_READONLY 0x1u

typedef struct oa_storage_options {
    unsigned flags;   /* OA_STORAGE_* */
    unsigned max_fds; /* descriptors kept open; 0 means OA_STORAGE_DEFAULT_FDS */
} oa_storage_options;

typedef struct oa_storage oa_storage;

/* Opens storage for mi below the folder root. mi is borrowed: it must stay
 * alive and unchanged until oa_storage_close(). opts may be NULL for the
 * defaults. Unless read-only, a missing root folder is created (one level,
 * its parent must exist), and so are the torrent's zero-length files with
 * their folders. The caller owns *out and releases it with
 * oa_storage_close(). Fails with OA_EINVAL (bad arguments, or a path
 * component that is unsafe or too long), OA_ERANGE (more pieces than a
 * bitfield holds), OA_ENOENT (no root folder, read-only), OA_EACCES or
 * OA_EIO (the root or a zero-length file cannot be opened or created), or
 * OA_ENOMEM, with err set. */
int oa_storage_open(const oa_metainfo *mi, const char *root, const oa_storage_options *opts,
                    oa_storage **out, char *err, size_t errlen);

/* Closes every cached file and releases s; NULL is allowed. No other call
 * on s may be running. Data already written stays in the page cache and
 * reaches the disk as the kernel sees fit (no fsync). */
void oa_storage_close(oa_storage *s);

/* Writes len bytes of data at offset inside piece, across as many files as
 * the range covers, creating files and folders as needed. The range must
 * lie inside the piece (OA_ERANGE otherwise). Fails with OA_ESTATE on
 * read-only storage, OA_EACCES for a refused path or a file that can only
 * be opened read-only, OA_EIO for a system error (a full disk among them);
 * bytes before the failing file may have been written. */
int oa_storage_write(oa_storage *s, uint32_t piece, uint64_t offset, const void *data, size_t len,
                     char *err, size_t errlen);

/* Reads len bytes at offset inside piece into buf (the caller's, len bytes
 * long). Padding reads as zeros. Fails with OA_ERANGE for a range outside
 * the piece, OA_ENOENT when part of it is not on disk, OA_EACCES, OA_EIO. */
int oa_storage_read(oa_storage *s, uint32_t piece, uint64_t offset, void *buf, size_t len,
                    char *err, size_t errlen);

/* As oa_storage_read(), at offset in the torrent's byte space; the range
 * may cover any number of pieces and must end at or before total_length. */
int oa_storage_read_at(oa_storage *s, uint64_t offset, void *buf, size_t len, char *err,
                       size_t errlen);

/* Stores the SHA-1 of piece as it is on disk in out, read through the same
 * path as oa_storage_read(). Fails as oa_storage_read() does, and with
 * OA_ENOSYS when OpenSSL has no SHA-1, OA_ENOMEM. */
int oa_storage_hash_piece(oa_storage *s, uint32_t piece, uint8_t out[OA_SHA1_LEN], char *err,
                          size_t errlen);

/* Hashes piece and stores 1 in *valid when it matches the metainfo, 0 when
 * it differs or is not (all) on disk. Returns 0 in both cases; fails only
 * for what is not about this piece's data: OA_ERANGE, OA_EINVAL,
 * OA_EACCES, OA_EIO, OA_ENOSYS, OA_ENOMEM, with err set. */
int oa_storage_verify_piece(oa_storage *s, uint32_t piece, int *valid, char *err, size_t errlen);

/* The resume check: verifies pieces [first, first + count) from what is on
 * disk and sets their bits in have (which has mi's piece count) for the
 * pieces that match, clearing the others; bits outside the range are left
 * alone. A missing, short, unreadable or refused file only makes the
 * pieces it touches missing: it never fails the call. Bits are updated
 * atomically, so calls on ranges that do not overlap may run at the same
 * time on one bitfield, split however the caller likes (for progress,
 * count the bits of each finished range). Run it on a freshly opened
 * storage, or after oa_storage_release_fds() when files may have changed
 * on disk since they were opened. Fails only with OA_EINVAL (have
 * is not mi's size), OA_ERANGE (range past the last piece), OA_ENOSYS or
 * OA_ENOMEM, with err set, before touching have. */
int oa_storage_check(oa_storage *s, uint32_t first, uint32_t count, oa_bitfield *have, char *err,
                     size_t errlen);

/* Stores in *bytes the disk space the torrent's files take, the sum of
 * their allocated blocks (st_blocks * 512): sparse holes are not counted,
 * a file's size past the torrent's is. Missing and refused files count 0.
 * Fails with OA_EINVAL only. */
int oa_storage_disk_usage(oa_storage *s, uint64_t *bytes, char *err, size_t errlen);

/* Closes every cached descriptor that no call is using now; may run at the
 * same time as other calls. For a paused torrent (so that the user can move
 * its files) and before a recheck of files that may have changed: until
 * then a deleted or replaced file is still read through its old descriptor.
 */
void oa_storage_release_fds(oa_storage *s);

/* Returns the number of descriptors the cache holds open now (at most
 * max_fds; descriptors of calls in progress when the cache was full are
 * not counted). */
size_t oa_storage_cached_fds(oa_storage *s);

#endif

/*
 * OpenAce swarm service (SDK 1.1): content from the P2P engine.
 *
 * The swarm plugin registers one oa_swarm struct with
 * api->service_register(self, OA_SWARM_SERVICE, OA_SWARM_VERSION, &its_struct)
 * and lists "swarm" in its descriptor's provides. A consumer (the streamer,
 * a third-party plugin) lists "swarm" in its requires and looks the struct
 * up with api->service_lookup(self, OA_SWARM_SERVICE, 1, NULL) in start().
 * Like every service struct it begins with its size and only grows at the
 * end: check st->size (or the struct's size) before using a field added in
 * a later version.
 *
 * Threads: every function is called on the host's loop thread and every
 * callback runs on it. A callback is never called inside the call that
 * registered it (libuv's rule), and a call that fails never calls its
 * callback.
 *
 * Handles: open() gives the caller its own oa_swarm_handle. Several handles
 * may name the same content (one torrent, one set of peers, one copy on
 * disk); each has its own reads and its own playhead. close() ends a handle:
 * its pending reads are cancelled without their callbacks, and the content
 * keeps seeding or is dropped as the swarm's settings say. When content is
 * removed (by the swarm's remove command, or an error that drops it), its
 * handles are detached, not freed: their pending reads are cancelled
 * without their callbacks (read_cancel on one stays allowed), a handle
 * whose ready was not called yet gets ready(OA_ECANCELED) on a later loop
 * turn, and the handle stays valid until its holder calls close(). On a
 * detached handle read, set_playhead and file fail with OA_ECANCELED,
 * file_count and available return 0, stats gives state OA_SWARM_ERROR with
 * error "content removed", and info_hash still gives the hash. When the swarm plugin stops, every handle is closed for
 * its holders: a consumer must require "swarm" so that it is stopped first
 * and never sees that.
 *
 * Offsets are in the content's byte space: the files of a multi-file
 * torrent one after another, in torrent order (file(i).offset gives where
 * each begins).
 *
 * Errors are negative OA_E* codes: OA_EINVAL (bad argument or URI), OA_ESTATE
 * (metadata not known yet, handle closing), OA_ERANGE (offset past the end),
 * OA_ENOENT (no such file index), OA_EPROTO (a malformed .torrent), OA_EIO
 * (a disk error), OA_ECANCELED (the content was removed).
 */
#ifndef OPENACE_SWARM_H
#define OPENACE_SWARM_H

#include <stddef.h>
#include <stdint.h>

#include "sdk.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OA_SWARM_SERVICE "swarm"
#define OA_SWARM_VERSION 1

typedef struct oa_swarm_handle oa_swarm_handle; /* one consumer's view of one content */
typedef struct oa_swarm_read oa_swarm_read;     /* one pending read */

/* States of a content (oa_swarm_stats.state). */
#define OA_SWARM_METADATA 0   /* a magnet: fetching the info dictionary from peers */
#define OA_SWARM_CHECKING 1   /* verifying what is already on disk */
#define OA_SWARM_DOWNLOADING 2
#define OA_SWARM_SEEDING 3    /* every piece is here */
#define OA_SWARM_ERROR 4      /* stopped by an error: see stats.error */

/* Called once when the content's metadata is known (status 0: the file
 * list, sizes and reads are usable) or when the content failed before that
 * (status < 0: a bad .torrent fetched by BEP 9, a disk error, removed). For
 * content whose metadata is known at open(), it is called on the next loop
 * turn with status 0. */
typedef void (*oa_swarm_ready_cb)(void *arg, oa_swarm_handle *h, int status);

/* A read finished: status 0 and len bytes at data (valid during the call
 * only; every byte is from verified pieces), or a negative OA_E* and no
 * data. After the callback the read is gone. */
typedef void (*oa_swarm_read_cb)(void *arg, oa_swarm_handle *h, int status, const uint8_t *data,
                                 size_t len);

/* One file of the content. path is '/'-separated below the content's name
 * and valid until the handle is closed. */
typedef struct oa_swarm_file {
    const char *path;
    uint64_t offset; /* where the file begins in the content's byte space */
    uint64_t length;
} oa_swarm_file;

/* The caller sets size to sizeof(oa_swarm_stats); the swarm fills the
 * fields that fit in both versions. Rates are bytes per second, averaged
 * over the last few seconds. */
typedef struct oa_swarm_stats {
    uint32_t size;
    int state;                  /* OA_SWARM_* */
    char info_hash[41];         /* 40 lowercase hex digits */
    char name[128];             /* "" until the metadata is known */
    char error[160];            /* "" unless state is OA_SWARM_ERROR */
    uint64_t total_length;      /* 0 until the metadata is known */
    uint64_t have_bytes;        /* bytes of verified pieces */
    uint32_t pieces;
    uint32_t pieces_have;
    uint32_t piece_length;
    uint32_t peers;             /* connected */
    uint32_t seeds;             /* connected peers that have everything */
    uint64_t downloaded;        /* payload bytes received since open */
    uint64_t uploaded;          /* payload bytes sent since open */
    uint64_t download_rate;
    uint64_t upload_rate;
    uint64_t wasted;            /* bytes received twice or in pieces that failed their hash */
    uint32_t hash_failures;
} oa_swarm_stats;

typedef struct oa_swarm {
    uint32_t size; /* sizeof(oa_swarm) of the provider */
    void *instance;

    /* Opens content named by uri: "magnet:?xt=urn:btih:...", a bare
     * 40-hex info-hash, or the path of a .torrent file; or, with uri NULL,
     * by the .torrent bytes torrent[0..torrent_len). Content the swarm
     * already has (same info-hash) is shared, not added twice. The content
     * is recorded in the catalog and resumes after a restart. ready is
     * called as described above; *out receives the handle. Fails with
     * OA_EINVAL (a bad URI: the log and api->set_error say why), OA_EPROTO
     * (a malformed .torrent), OA_EIO (the file cannot be read), OA_EAGAIN
     * (the content limit is reached), OA_ENOMEM. */
    int (*open)(void *instance, const char *uri, const void *torrent, size_t torrent_len,
                oa_swarm_ready_cb ready, void *arg, oa_swarm_handle **out);
    /* Ends the handle (see "Handles" above). */
    void (*close)(oa_swarm_handle *h);

    /* The 20-byte info-hash; known from the start. */
    void (*info_hash)(oa_swarm_handle *h, uint8_t out[20]);
    /* Number of files (0 until the metadata is known) and one of them. */
    size_t (*file_count)(oa_swarm_handle *h);
    int (*file)(oa_swarm_handle *h, size_t index, oa_swarm_file *out);

    /* Reads len bytes (1 .. 4 MiB) at offset; the range is cut at the end
     * of the content. cb runs once every piece the range touches is
     * verified and the bytes are read from disk, which may take as long as
     * the swarm needs: the pieces are asked for with the priority of the
     * handle's playhead when one is set. *out (may be NULL) is for
     * read_cancel. Fails with OA_ESTATE before the metadata, OA_ERANGE
     * for an offset at or past the end, OA_EINVAL for len 0 or too long. */
    int (*read)(oa_swarm_handle *h, uint64_t offset, size_t len, oa_swarm_read_cb cb, void *arg,
                oa_swarm_read **out);
    /* Cancels a pending read: its callback is not called. */
    void (*read_cancel)(oa_swarm_read *r);

    /* Streams from offset: pieces from there on come first, in order, with
     * deadlines from bitrate (bytes per second; 0: unknown). The content
     * follows the playhead of the handle that set one last; offset
     * UINT64_MAX clears this handle's playhead. OA_ESTATE before the
     * metadata, OA_ERANGE past the end. */
    int (*set_playhead)(oa_swarm_handle *h, uint64_t offset, uint64_t bitrate);

    /* How many bytes from offset on are readable now without waiting (0
     * when the piece at offset is missing). */
    uint64_t (*available)(oa_swarm_handle *h, uint64_t offset);

    /* Fills *st (set st->size first). */
    void (*stats)(oa_swarm_handle *h, oa_swarm_stats *st);

    /* ---- appended later in version 1: check OA_SWARM_HAS(s, metainfo) ---- */

    /* The content's .torrent bytes (for a magnet: built from the fetched
     * info dictionary, so the info-hash is the same), for a consumer that
     * records transport files (the streamer's content IDs are their SHA-1).
     * *out is allocated with the host's api->alloc; the caller frees it
     * with api->free. OA_ESTATE before the metadata, OA_ECANCELED on a
     * detached handle, OA_ENOMEM. */
    int (*metainfo)(oa_swarm_handle *h, uint8_t **out, size_t *len);
} oa_swarm;

/* True when the provider's struct has the named field. */
#define OA_SWARM_HAS(s, field)                                                             \
    ((s)->size >= offsetof(oa_swarm, field) + sizeof((s)->field))

#ifdef __cplusplus
}
#endif

#endif /* OPENACE_SWARM_H */

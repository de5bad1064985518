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
struct oa_swarm_live_cbs;
struct oa_swarm_live_chunk;
struct oa_swarm_live_stats;

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

    /* ---- appended later in version 1: live streams (issue 7) ----------
     * Check OA_SWARM_HAS(s, live_stats). A live stream is a swarm content
     * whose info-hash is the SHA-1 of its live descriptor (the content
     * ID); peers speak the "oa_live" BEP 10 extension
     * (docs/live-protocol.md). Its handles work with close() and
     * info_hash(); read, file and the other byte-space calls fail with
     * OA_ESTATE. */

    /* Joins (or, with publish, sources) the live stream id. descriptor
     * (may be NULL when not publishing) is its bytes; without them they
     * are fetched from peers found through the trackers and
     * bootstrap_peers (BEP 9, verified against id). cbs is copied.
     * Viewers receive verified chunks from join_behind chunks behind the
     * live edge on (the swarm's live_join_behind setting), in sequence
     * order. OA_EINVAL (bad id, descriptor not matching id, not a
     * descriptor), OA_EEXIST (id already open as ordinary content),
     * OA_EAGAIN, OA_ENOMEM. */
    int (*live_open)(void *instance, const uint8_t id[20], const void *descriptor,
                     size_t descriptor_len, int publish, const struct oa_swarm_live_cbs *cbs,
                     void *arg, oa_swarm_handle **out);
    /* Source only (a handle opened with publish): adds a chunk the caller
     * signed with the descriptor's key (the fields of oa_swarm_live_chunk;
     * gap is ignored) and announces it. The bytes are copied. OA_EPROTO when its signature or hash is
     * wrong, OA_ERANGE when the window rule refuses it, OA_ESTATE on a
     * viewer handle. */
    int (*live_publish)(oa_swarm_handle *h, const struct oa_swarm_live_chunk *chunk);
    /* Sends a signed chat message (livecore's encoding) to the swarm; it
     * also comes back through cbs->chat once accepted. OA_EPROTO when it
     * does not verify, OA_EAGAIN over the sender's rate limit. */
    int (*live_chat)(oa_swarm_handle *h, const uint8_t *msg, size_t len);
    /* Fills *st (set st->size first). */
    void (*live_stats)(oa_swarm_handle *h, struct oa_swarm_live_stats *st);
} oa_swarm;

/* One verified chunk of a live stream (and what live_publish takes). */
typedef struct oa_swarm_live_chunk {
    uint64_t seq;
    int64_t ts_ms;          /* unix ms when the source made it */
    int64_t pts_us;         /* -1 unknown */
    int64_t duration_us;    /* 0 unknown */
    uint8_t hash[32];       /* SHA-256 of data */
    uint8_t sig[64];        /* Ed25519 over seq|ts|hash|pts|duration */
    const uint8_t *data;    /* valid during the call */
    size_t len;
    int gap;                /* chunks before this one were skipped */
} oa_swarm_live_chunk;

/* Callbacks of a live handle, on the loop. descriptor: status 0 and the
 * verified descriptor's bytes once known (at once on a later loop turn
 * when given to live_open), or status < 0 with reason (the stream could
 * not be joined; nothing more comes). chunk: each verified chunk, in
 * order (not called on a publishing handle). chat: each accepted chat
 * message (signature checked, de-duplicated, within limits, sender not
 * muted), the encoded bytes. peer: a peer joined (joined 1) or left (0)
 * the live swarm; addr is "ip:port". Any callback may be NULL. */
typedef struct oa_swarm_live_cbs {
    uint32_t size;          /* sizeof(oa_swarm_live_cbs) of the caller */
    void (*descriptor)(void *arg, oa_swarm_handle *h, int status, const char *reason,
                       const uint8_t *desc, size_t len);
    void (*chunk)(void *arg, oa_swarm_handle *h, const oa_swarm_live_chunk *c);
    void (*chat)(void *arg, oa_swarm_handle *h, const uint8_t *msg, size_t len);
    void (*peer)(void *arg, oa_swarm_handle *h, const char *addr, int joined);
} oa_swarm_live_cbs;

typedef struct oa_swarm_live_stats {
    uint32_t size;          /* the caller sets sizeof(oa_swarm_live_stats) */
    int have_descriptor;
    uint64_t first, last;   /* chunks held; last is the edge (0/0 when none) */
    int has_edge;
    uint32_t peers;
    uint64_t downloaded, uploaded;   /* payload bytes of chunks */
    uint64_t download_rate, upload_rate;
    uint64_t chunks_in;     /* chunks verified and kept */
    uint64_t rejected;      /* chunks or headers refused (signature, hash, window) */
    /* latency of the last chunks, ms from ts_ms to verified here */
    uint32_t latency_median_ms, latency_p95_ms;
    uint32_t latency_samples;
    char error[160];
} oa_swarm_live_stats;

/* True when the provider's struct has the named field. */
#define OA_SWARM_HAS(s, field)                                                             \
    ((s)->size >= offsetof(oa_swarm, field) + sizeof((s)->field))

#ifdef __cplusplus
}
#endif

#endif /* OPENACE_SWARM_H */

/*
 * OpenAce media services: chunks of MPEG-TS between the segmenter, the live
 * engine and the streamer.
 *
 * A chunk is a self-contained piece of MPEG-TS: it begins with a PAT and a
 * PMT, its first video frame (when there is video) is a keyframe, and it
 * holds whole 188-byte packets. Played one after another, chunks make one
 * continuous TS stream; each one alone is an HLS segment.
 *
 * Two services are declared here:
 *
 *  - "segmenter" (OA_SEGMENTER_SERVICE), from plugins/segmenter: opens an
 *    input (a byte source the caller serves, e.g. a file inside a swarm, or
 *    a URL libavformat reads, or a libavfilter graph with format "lavfi"
 *    or a "lavfi:<graph>" URL), remuxes it to MPEG-TS (encoding to
 *    H.264/AAC only the streams MPEG-TS cannot carry, such as raw video or
 *    PCM) and cuts it into chunks at keyframes close to a target duration. Demuxing
 *    runs on a thread of the segmenter's own; chunks reach the caller on the
 *    loop thread.
 *
 *  - "live" (OA_LIVE_SERVICE), from the live engine (plugins/live): a live
 *    stream's chunks for a viewer, by content ID. The streamer looks it up
 *    when a transport file turns out to be a live descriptor (probe());
 *    without it, live content is refused with a clear error. The streamer
 *    does not require the live engine, so the live engine may stop first:
 *    then every open subscription gets on_state(OA_ECANCELED, "the live
 *    engine stopped") and is freed by the provider; the subscriber forgets
 *    it and never calls unsubscribe() on it.
 *
 * Threads: every function is called on the host's loop thread and every
 * callback runs on it, never inside the call that registered it; a call that
 * fails never calls its callbacks. Like every service struct, each begins
 * with its size and only grows at the end.
 */
#ifndef OPENACE_MEDIA_H
#define OPENACE_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include "sdk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Chunks. */

#define OA_MEDIA_TS_PACKET 188

/* oa_media_chunk.flags */
#define OA_MEDIA_DISCONTINUITY 0x1u /* timestamps do not follow the previous chunk */
#define OA_MEDIA_LAST 0x2u          /* the input ended after this chunk */

typedef struct oa_media_chunk {
    uint32_t size;           /* sizeof(oa_media_chunk) of the producer */
    uint64_t seq;            /* 0, 1, 2, ... in the order chunks are cut */
    const uint8_t *data;     /* MPEG-TS, len a multiple of 188; valid during the call */
    size_t len;
    int64_t pts_us;          /* presentation time of the first frame, microseconds */
    int64_t duration_us;     /* until the next chunk's first frame */
    int64_t wallclock_ms;    /* unix time in ms when the chunk was cut */
    uint32_t flags;          /* OA_MEDIA_* */
} oa_media_chunk;

/* A chunk is ready. The callee copies what it keeps. */
typedef void (*oa_media_chunk_cb)(void *arg, const oa_media_chunk *chunk);

/* ------------------------------------------------------------------------ */
/* The segmenter service. */

#define OA_SEGMENTER_SERVICE "segmenter"
#define OA_SEGMENTER_VERSION 1

typedef struct oa_media_job oa_media_job; /* one input being cut */

/* Where the bytes come from when the input is not a URL: the caller serves
 * reads. read() asks for up to len bytes at offset (offset < size); the
 * caller answers once, later or inside the call, with
 * segmenter->source_data(job, ...). While a read is outstanding no other
 * is asked for. */
typedef struct oa_media_source {
    uint64_t size; /* total bytes; must be known */
    int (*read)(void *arg, oa_media_job *job, uint64_t offset, size_t len);
    void *arg;
} oa_media_source;

/* Options; zero fields take the defaults. */
typedef struct oa_segmenter_opts {
    uint32_t size;              /* sizeof(oa_segmenter_opts) */
    const char *url;            /* input for libavformat (file path, udp://, http://,
                                   ...); NULL when a source is given */
    const char *format;         /* input format name (e.g. "mpegts", "lavfi"), or NULL
                                   to probe */
    double target_seconds;      /* cut at the first keyframe at or after this many
                                   seconds since the chunk began; default 2 */
    double max_seconds;         /* cut even without a keyframe after this long (a
                                   stream with rare keyframes); default 4 x target */
    int realtime;               /* 1: deliver at the input's own pace (a file played
                                   as if live); 0: as fast as it can be read */
    int loop;                   /* 1: start again at the end (with realtime, a file
                                   as an endless live source) */
} oa_segmenter_opts;

/* Facts about the input, known once it is opened (status 0 of on_open). */
typedef struct oa_media_info {
    uint32_t size;              /* the caller sets sizeof(oa_media_info) */
    int64_t duration_us;        /* of the whole input; -1 unknown or live */
    int has_video;
    int has_audio;
    char video_codec[32];       /* libavcodec names, "" if none */
    char audio_codec[32];
    int width;
    int height;
    int64_t bitrate;            /* bits per second, 0 unknown */
} oa_media_info;

/* on_open: status 0 when the input is open and info() works; < 0 with a
 * sentence in reason when it could not be opened (then on_end is not
 * called). on_end: the input ended (status 0: after the last chunk, which
 * carries OA_MEDIA_LAST) or failed (status < 0, reason says why). After
 * on_end the job produces nothing more; the caller still closes it. */
typedef void (*oa_media_open_cb)(void *arg, oa_media_job *job, int status, const char *reason);
typedef void (*oa_media_end_cb)(void *arg, oa_media_job *job, int status, const char *reason);

typedef struct oa_segmenter {
    uint32_t size;
    void *instance;

    /* Starts a job on opts->url, or on src when url is NULL (src is copied).
     * Fails with OA_EINVAL (neither or both inputs, bad options) or
     * OA_ENOMEM; *out gets the job, valid until close(). */
    int (*open)(void *instance, const oa_segmenter_opts *opts, const oa_media_source *src,
                oa_media_open_cb on_open, oa_media_chunk_cb on_chunk, oa_media_end_cb on_end,
                void *arg, oa_media_job **out);
    /* Answers the outstanding source read: status 0 and len bytes (copied;
     * fewer than asked is fine, 0 means end of input), or a negative OA_E*
     * that fails the job with OA_EIO. OA_ESTATE when no read is
     * outstanding. */
    int (*source_data)(oa_media_job *job, int status, const uint8_t *data, size_t len);
    /* Flow control: while paused no chunk is delivered and the job stops
     * reading once one more chunk is ready. */
    void (*pause)(oa_media_job *job, int paused);
    /* Fills *info (set info->size first). OA_ESTATE before on_open(0). */
    int (*info)(oa_media_job *job, oa_media_info *info);
    /* Ends the job: no callback runs afterwards. Its thread is told to stop
     * and is joined off the loop. */
    void (*close)(oa_media_job *job);
} oa_segmenter;

/* ------------------------------------------------------------------------ */
/* The live service (provided by the live engine). */

#define OA_LIVE_SERVICE "live"
#define OA_LIVE_VERSION 1

typedef struct oa_live_sub oa_live_sub; /* one viewer's subscription */

/* Where a live stream stands, as Ace Stream's livepos reports it. */
typedef struct oa_live_status {
    uint32_t size;            /* the caller sets sizeof(oa_live_status) */
    uint64_t first;           /* oldest chunk sequence held */
    uint64_t last;            /* newest chunk sequence held (the live edge) */
    int64_t first_ts;         /* unix seconds of first / last */
    int64_t last_ts;
    uint32_t peers;
    uint64_t downloaded;      /* payload bytes */
    uint64_t uploaded;
    uint64_t download_rate;   /* bytes per second */
    uint64_t upload_rate;
    int stalled;              /* no new chunk for longer than the stream's
                                 chunk duration allows */
    char error[160];          /* "" unless the subscription failed */
} oa_live_status;

/* A subscription's state changed: status 0 when the stream's descriptor is
 * known and chunks will follow; < 0 with a reason when it failed (then no
 * more chunks come). */
typedef void (*oa_live_state_cb)(void *arg, oa_live_sub *sub, int status, const char *reason);

typedef struct oa_live {
    uint32_t size;
    void *instance;

    /* Tells whether bytes are a live descriptor: 0 and the 40-hex content
     * ID in id, or OA_EINVAL when they are not one. */
    int (*probe)(void *instance, const void *file, size_t len, char id[41]);
    /* Subscribes to a live stream by its content ID; descriptor (may be
     * NULL) is the descriptor's bytes when the caller has them, otherwise
     * they are fetched from peers. Chunks start a few behind the live edge
     * and arrive in order; a gap (chunks lost) is flagged with
     * OA_MEDIA_DISCONTINUITY. */
    int (*subscribe)(void *instance, const char id[41], const void *descriptor,
                     size_t descriptor_len, oa_live_state_cb on_state,
                     oa_media_chunk_cb on_chunk, void *arg, oa_live_sub **out);
    /* Ends a subscription: no callback runs afterwards. */
    void (*unsubscribe)(oa_live_sub *sub);
    /* Fills *st (set st->size first). */
    void (*status)(oa_live_sub *sub, oa_live_status *st);
} oa_live;

#ifdef __cplusplus
}
#endif

#endif /* OPENACE_MEDIA_H */

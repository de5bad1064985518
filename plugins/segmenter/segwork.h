/*
 * A segmenter job's worker state (segjob_int.h), shared by the two halves of
 * the worker thread: segopen.c opens the input and the muxer (and bridges
 * the caller's byte source to libavformat), segwork.c reads, cuts and hands
 * chunks to the loop.
 */
#ifndef OA_SEGMENTER_SEGWORK_H
#define OA_SEGMENTER_SEGWORK_H

#include <libavformat/avformat.h>

#include "cut.h"
#include "segenc.h"
#include "seglavfi.h"
#include "segjob_int.h"

typedef struct segwork {
    oa_media_job *job;
    char name[220]; /* the input as named in sentences */

    /* Input. */
    AVFormatContext *ic;
    AVIOContext *avio; /* custom I/O for a source; NULL for a URL */
    seglavfi *lavfi;   /* a filtergraph input: ic has no demuxer, read through this */
    uint64_t pos;      /* source position */
    char read_error[200];
    int in_video;      /* input stream indexes, -1 when absent */
    int in_audio;
    int encode_video;  /* the stream MPEG-TS cannot carry: re-encoded (segenc.h) */
    int encode_audio;
    segenc *venc;      /* set when encode_video, after the output opened */
    segenc *aenc;
    char fail[320];    /* the sentence of a re-encoding failure, "" none */

    /* Output. */
    AVFormatContext *oc;
    int out_video;
    int out_audio;
    int write_errors;

    /* Cutting. */
    seg_cut cut;
    int chunk_started;  /* the first cut happened: a chunk is being filled */
    int chunk_has_data; /* the muxer wrote packets since the last cut */
    int64_t chunk_start_us;
    int64_t chunk_end_us; /* end of the latest reference-stream frame */
    uint64_t seq;
    uint32_t next_flags;

    /* Looping: timestamps of later passes are shifted by offset_us. */
    int64_t offset_us;
    int64_t pass_min_us;
    int64_t pass_max_us;
    uint64_t pass_packets;

    /* Realtime pacing: a packet at pts p is due at wall_base + (p - pts_base). */
    int paced;
    uint64_t wall_base_ns;
    int64_t pts_base_us;
} segwork;

/* Whether close() told the job to stop. Any thread. */
static inline int segwork_stopping(oa_media_job *job)
{
    return atomic_load(&job->stopping);
}

/* Opens the input and picks its streams, sets up the MPEG-TS muxer on a
 * memory buffer, and records the input's facts in job->info. Returns 0, or
 * an OA_E* code with a sentence in reason (OA_ECANCELED when the job was
 * told to stop). */
int segwork_open(segwork *w, char *reason, size_t len);

/* Reads the input's next packet (av_read_frame() or the filtergraph). */
int segwork_read(segwork *w, AVPacket *pkt);

/* Frees everything segwork_open() set up, whatever it got to. */
void segwork_close(segwork *w);

#endif

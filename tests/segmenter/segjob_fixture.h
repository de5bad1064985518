/*
 * What the segmenter job tests (test_segjob.c, test_segenc.c) share: a job
 * run on its own uv loop that keeps every chunk, a byte source answering
 * late and in uneven sizes, demuxing MPEG-TS back with libavformat, and the
 * checks every finished run must pass.
 */
#ifndef OA_SEGJOB_FIXTURE_H
#define OA_SEGJOB_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "segjob.h"

/* The temporary directory of the inputs, set by fixture_setup(). */
extern char *g_dir;

/* Creates g_dir; 0 or -1. */
int fixture_setup(void);

/* Removes g_dir and all it holds. */
void fixture_teardown(void);

/* Runs the ffmpeg CLI with args writing out; its exit status (0 is fine). */
int run_ffmpeg(const char *args, const char *out);

/* ---- demuxing ------------------------------------------------------------------ */

typedef struct demuxed {
    int video_frames;
    int audio_frames;
    int first_video_key; /* 1 key, 0 not, -1 no video */
} demuxed;

/* Demuxes MPEG-TS bytes (or a file when path is set) and counts frames. */
int demux(const uint8_t *data, size_t len, const char *path, demuxed *out);

/* The PID of the MPEG-TS packet at p. */
unsigned pid_of(const uint8_t *p);

/* ---- a job run ----------------------------------------------------------------- */

typedef struct got_chunk {
    oa_media_chunk c;
    uint8_t *data;
} got_chunk;

typedef struct run {
    uv_loop_t loop;
    uv_timer_t watchdog;
    uv_timer_t answer; /* answers source reads later */
    uv_timer_t pause_timer;
    oa_media_job *job;
    int closed;
    int after_close; /* callbacks seen after close: must stay 0 */

    int open_calls;
    int open_status;
    char open_reason[512];
    oa_media_info info;
    int info_rc_before;
    int end_calls;
    int end_status;
    char end_reason[512];

    got_chunk chunks[256];
    size_t nchunks;
    size_t close_after; /* close inside on_chunk after this many; 0 never */

    /* Source mode. */
    uint8_t *file;
    size_t file_len;
    int garbage_fail; /* answer reads with an error */
    uint64_t rd_off;
    size_t rd_len;
    int rd_pending;
    unsigned reads;
    unsigned answers;
    int never_answer;

    /* Pause test. */
    int paused;
    unsigned reads_at_check;
    int stable_looks;
    size_t served; /* bytes answered */
    int looks;
} run;

/* The job callbacks and the byte source read of a run (arg is the run):
 * they keep what they see and close the job on a failed open or the end. */
void run_on_open(void *arg, oa_media_job *job, int status, const char *reason);
void run_on_chunk(void *arg, const oa_media_chunk *c);
void run_on_end(void *arg, oa_media_job *job, int status, const char *reason);
int run_src_read(void *arg, oa_media_job *job, uint64_t off, size_t len);

/* Stops the run's timers (after the job was closed). */
void run_stop_all(run *r);

/* Makes a fresh loop with its timers and a 120 s watchdog. */
void run_init(run *r);

/* Opens the job over url (with format, may be NULL) or, when src_path is
 * set, over that file served as a byte source. */
int run_open_fmt(run *r, const char *url, const char *format, const char *src_path,
                 double target, int realtime, int loop);

/* run_open_fmt() without a format. */
int run_open(run *r, const char *url, const char *src_path, double target, int realtime,
             int loop);

/* Runs the loop until the job is over, closes every handle and the loop. */
void run_finish(run *r);

/* Frees what the run kept (after the checks). */
void run_free(run *r);

/* ---- checks -------------------------------------------------------------------- */

/* Every chunk: whole packets, sync bytes, a PAT first, a keyframe first,
 * seq and timestamps continuous, durations near target; the last one
 * flagged; together they hold expect_frames video frames. */
void check_chunks(run *r, double target, double key_interval, int expect_frames,
                  int has_video);

/* Writes the chunks one after another to name in g_dir; the malloc'd path. */
char *write_chunks(run *r, const char *name);

/* ffprobe counts the video frames of the chunks written one after another. */
int ffprobe_frames(run *r);

#endif

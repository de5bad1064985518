/*
 * One segmenter job: an input demuxed by libavformat on a thread of its own,
 * remuxed without re-encoding into one MPEG-TS stream and cut into chunks
 * (media.h). Everything here runs on the thread of the uv loop given to
 * segjob_open(), and every callback runs on that loop, never inside the call
 * that caused it. It knows nothing of the host, so tests drive it on a loop
 * of their own.
 *
 * Lifetime: segjob_open() returns the job; segjob_close() ends it. After
 * close no callback runs; the worker is told to stop and is joined on a
 * thread of libuv's pool, and the job's memory is freed after that, so the
 * loop never waits for a busy worker. The loop must run until then (the
 * handles closing) before uv_loop_close() can succeed.
 */
#ifndef OA_SEGMENTER_SEGJOB_H
#define OA_SEGMENTER_SEGJOB_H

#include <openace/media.h>
#include <uv.h>

/* Log levels as in oa_log_level. Called on any thread: the worker's or the
 * loop's. msg is valid during the call. */
typedef void (*segjob_log_fn)(void *log_arg, int level, const char *msg);

typedef struct segjob_cbs {
    oa_media_open_cb on_open;
    oa_media_chunk_cb on_chunk;
    oa_media_end_cb on_end;
    void *arg;
    segjob_log_fn log; /* may be NULL */
    void *log_arg;
} segjob_cbs;

/* Checks options and fills *out with the defaults applied (out->url and
 * out->format are the caller's pointers). Returns 0, or OA_EINVAL with a
 * sentence in why. */
int segjob_check_opts(const oa_segmenter_opts *opts, oa_segmenter_opts *out, char *why,
                      size_t whylen);

/* Starts a job on opts->url or on src (copied), exactly one of them. The
 * options are copied. Returns 0 and the job in *out, or OA_EINVAL (bad
 * input choice or options, the reason in why when why is not NULL),
 * OA_ENOMEM, or OA_EIO (no thread); on failure no callback is called. */
int segjob_open(uv_loop_t *loop, const oa_segmenter_opts *opts, const oa_media_source *src,
                const segjob_cbs *cbs, oa_media_job **out, char *why, size_t whylen);

/* Answers the outstanding source read (media.h, source_data). */
int segjob_source_data(oa_media_job *job, int status, const uint8_t *data, size_t len);

/* Pauses (paused != 0) or resumes chunk delivery (media.h, pause). */
void segjob_pause(oa_media_job *job, int paused);

/* Fills *info once on_open(0) was delivered; OA_ESTATE before, OA_EINVAL
 * for a NULL or too small info. */
int segjob_info(oa_media_job *job, oa_media_info *info);

/* Ends the job: no callback afterwards; memory freed later (see above).
 * done (may be NULL) runs on the loop once the job's memory is gone, with
 * done_arg; it is how an owner counts jobs still winding down. */
void segjob_close(oa_media_job *job, void (*done)(void *done_arg), void *done_arg);

/* An owner's pointer kept with the job (e.g. the plugin that opened it);
 * NULL until set. Loop thread. */
void segjob_set_owner(oa_media_job *job, void *owner);
void *segjob_owner(const oa_media_job *job);

#endif

/*
 * A segmenter job's loop side (segjob.h): starting the worker, forwarding
 * its source reads, delivering its results, pause, info and close.
 */
#include "segjob_int.h"

#include <libavutil/mem.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers shared with the worker ------------------------------------------ */

void segjob_log(oa_media_job *job, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    uv_mutex_lock(&job->mu);
    if (job->log == NULL) {
        uv_mutex_unlock(&job->mu);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Under the lock, so that close() can take the hook away for good. */
    job->log(job->log_arg, level, msg);
    uv_mutex_unlock(&job->mu);
}

void segjob_wake_loop(oa_media_job *job)
{
    uv_async_send(&job->async);
}

static void set_why(char *why, size_t whylen, const char *text)
{
    if (why != NULL && whylen > 0) {
        snprintf(why, whylen, "%s", text);
    }
}

int segjob_check_opts(const oa_segmenter_opts *opts, oa_segmenter_opts *out, char *why,
                      size_t whylen)
{
    memset(out, 0, sizeof(*out));
    out->size = sizeof(*out);
    if (opts == NULL || opts->size < offsetof(oa_segmenter_opts, loop) + sizeof(int)) {
        set_why(why, whylen, "The segmenter options are missing or too old (size field).");
        return OA_EINVAL;
    }
    out->url = opts->url;
    out->format = opts->format;
    out->target_seconds = opts->target_seconds;
    out->max_seconds = opts->max_seconds;
    out->realtime = opts->realtime;
    out->loop = opts->loop;
    if (!isfinite(out->target_seconds) || out->target_seconds < 0 ||
        out->target_seconds > 3600) {
        set_why(why, whylen, "target_seconds must be between 0 (the default, 2) and 3600.");
        return OA_EINVAL;
    }
    if (out->target_seconds == 0) {
        out->target_seconds = 2;
    }
    if (!isfinite(out->max_seconds) || out->max_seconds < 0 || out->max_seconds > 14400) {
        set_why(why, whylen, "max_seconds must be between 0 (the default, 4 x target) and "
                             "14400.");
        return OA_EINVAL;
    }
    if (out->max_seconds == 0) {
        out->max_seconds = 4 * out->target_seconds;
    }
    if (out->max_seconds < out->target_seconds) {
        set_why(why, whylen, "max_seconds must not be smaller than target_seconds.");
        return OA_EINVAL;
    }
    return 0;
}

/* ---- delivery on the loop -------------------------------------------------- */

static void free_chunk(segjob_chunk *ch)
{
    av_free(ch->data);
    free(ch);
}

/* Forwards a posted read to the caller. Called and returns with mu held. */
static void forward_read(oa_media_job *job)
{
    uint64_t off = job->rd_off;
    size_t len = job->rd_len;
    int rc;

    job->rd_state = SEGJOB_RD_ASKED;
    uv_mutex_unlock(&job->mu);
    rc = job->src.read(job->src.arg, job, off, len);
    uv_mutex_lock(&job->mu);
    if (rc < 0 && !job->closed && job->rd_state == SEGJOB_RD_ASKED) {
        job->rd_status = rc;
        job->rd_got = 0;
        job->rd_state = SEGJOB_RD_DONE;
        uv_cond_broadcast(&job->cond);
    }
}

static void on_async(uv_async_t *h)
{
    oa_media_job *job = h->data;

    if (job->closed) {
        return;
    }
    uv_mutex_lock(&job->mu);
    if (job->rd_state == SEGJOB_RD_POSTED) {
        forward_read(job);
        if (job->closed) {
            uv_mutex_unlock(&job->mu);
            return;
        }
    }
    if (job->open_ready && !job->open_delivered) {
        int status = job->open_status;
        char reason[sizeof(job->open_reason)];
        memcpy(reason, job->open_reason, sizeof(reason));
        job->open_delivered = 1;
        uv_mutex_unlock(&job->mu);
        if (status == 0) {
            job->opened = 1;
        }
        job->cbs.on_open(job->cbs.arg, job, status, status == 0 ? NULL : reason);
        if (job->closed || status != 0) {
            return;
        }
        uv_mutex_lock(&job->mu);
    }
    while (job->open_delivered && !job->paused && job->q_head != NULL) {
        segjob_chunk *ch = job->q_head;
        job->q_head = ch->next;
        if (job->q_head == NULL) {
            job->q_tail = NULL;
        }
        job->q_len--;
        uv_cond_broadcast(&job->cond);
        uv_mutex_unlock(&job->mu);
        job->cbs.on_chunk(job->cbs.arg, &ch->c);
        free_chunk(ch);
        if (job->closed) {
            return;
        }
        uv_mutex_lock(&job->mu);
    }
    if (job->end_ready && job->open_delivered && job->q_head == NULL && !job->end_delivered) {
        int status = job->end_status;
        char reason[sizeof(job->end_reason)];
        memcpy(reason, job->end_reason, sizeof(reason));
        job->end_delivered = 1;
        uv_mutex_unlock(&job->mu);
        job->cbs.on_end(job->cbs.arg, job, status, status == 0 ? NULL : reason);
        return;
    }
    uv_mutex_unlock(&job->mu);
}

static void job_free(oa_media_job *job)
{
    segjob_chunk *ch = job->q_head;
    while (ch != NULL) {
        segjob_chunk *next = ch->next;
        free_chunk(ch);
        ch = next;
    }
    uv_cond_destroy(&job->cond);
    uv_mutex_destroy(&job->mu);
    free(job->url);
    free(job->format);
    free(job);
}

static char *dup_or_null(const char *s, int *failed)
{
    char *d;
    if (s == NULL) {
        return NULL;
    }
    d = strdup(s);
    if (d == NULL) {
        *failed = 1;
    }
    return d;
}

/* ---- close ----------------------------------------------------------------- */

static void reap_work(uv_work_t *req)
{
    oa_media_job *job = req->data;
    uv_thread_join(&job->thread);
}

static void reap_after(uv_work_t *req, int status)
{
    oa_media_job *job = req->data;
    void (*done)(void *) = job->done;
    void *done_arg = job->done_arg;
    (void)status;
    job_free(job);
    if (done != NULL) {
        done(done_arg);
    }
}

static void on_async_closed(uv_handle_t *h)
{
    oa_media_job *job = h->data;

    if (!job->thread_started) {
        job_free(job);
        return;
    }
    job->reap.data = job;
    if (uv_queue_work(job->loop, &job->reap, reap_work, reap_after) != 0) {
        /* Only when the loop is going away; the worker was told to stop. */
        uv_thread_join(&job->thread);
        reap_after(&job->reap, 0);
    }
}

void segjob_close(oa_media_job *job, void (*done)(void *done_arg), void *done_arg)
{
    if (job == NULL || job->closed) {
        return;
    }
    job->closed = 1;
    job->done = done;
    job->done_arg = done_arg;
    uv_mutex_lock(&job->mu);
    atomic_store(&job->stopping, 1);
    job->log = NULL;
    uv_cond_broadcast(&job->cond);
    uv_mutex_unlock(&job->mu);
    uv_close((uv_handle_t *)&job->async, on_async_closed);
}

/* ---- the caller's calls ------------------------------------------------------ */

int segjob_source_data(oa_media_job *job, int status, const uint8_t *data, size_t len)
{
    if (job == NULL || (data == NULL && len > 0 && status == 0)) {
        return OA_EINVAL;
    }
    if (job->closed) {
        return OA_ESTATE;
    }
    uv_mutex_lock(&job->mu);
    if (job->rd_state != SEGJOB_RD_ASKED) {
        uv_mutex_unlock(&job->mu);
        return OA_ESTATE;
    }
    if (status < 0) {
        job->rd_status = status;
        job->rd_got = 0;
    } else {
        size_t n = len < job->rd_len ? len : job->rd_len;
        if (n > 0) {
            memcpy(job->rd_buf, data, n);
        }
        job->rd_status = 0;
        job->rd_got = n;
    }
    job->rd_state = SEGJOB_RD_DONE;
    uv_cond_broadcast(&job->cond);
    uv_mutex_unlock(&job->mu);
    return 0;
}

void segjob_pause(oa_media_job *job, int paused)
{
    if (job == NULL || job->closed) {
        return;
    }
    uv_mutex_lock(&job->mu);
    job->paused = paused != 0;
    uv_cond_broadcast(&job->cond);
    uv_mutex_unlock(&job->mu);
    if (!paused) {
        /* Chunks held back are delivered from the loop, later. */
        uv_async_send(&job->async);
    }
}

int segjob_info(oa_media_job *job, oa_media_info *info)
{
    uint32_t size;

    if (job == NULL || info == NULL || info->size < sizeof(uint32_t)) {
        return OA_EINVAL;
    }
    if (!job->opened || job->closed) {
        return OA_ESTATE;
    }
    size = info->size < sizeof(*info) ? info->size : (uint32_t)sizeof(*info);
    uv_mutex_lock(&job->mu);
    memcpy(info, &job->info, size);
    uv_mutex_unlock(&job->mu);
    info->size = size;
    return 0;
}

void segjob_set_owner(oa_media_job *job, void *owner)
{
    job->owner = owner;
}

void *segjob_owner(const oa_media_job *job)
{
    return job->owner;
}

/* ---- open ------------------------------------------------------------------ */

int segjob_open(uv_loop_t *loop, const oa_segmenter_opts *opts, const oa_media_source *src,
                const segjob_cbs *cbs, oa_media_job **out, char *why, size_t whylen)
{
    oa_segmenter_opts o;
    oa_media_job *job;
    int failed = 0;
    int rc;

    if (loop == NULL || cbs == NULL || out == NULL || cbs->on_open == NULL ||
        cbs->on_chunk == NULL || cbs->on_end == NULL) {
        set_why(why, whylen, "The segmenter needs a loop and the open, chunk and end "
                             "callbacks.");
        return OA_EINVAL;
    }
    rc = segjob_check_opts(opts, &o, why, whylen);
    if (rc != 0) {
        return rc;
    }
    if ((o.url == NULL) == (src == NULL)) {
        set_why(why, whylen, "Give the segmenter exactly one input: a URL or a byte source.");
        return OA_EINVAL;
    }
    if (o.url != NULL && o.url[0] == '\0') {
        set_why(why, whylen, "The segmenter's input URL is empty.");
        return OA_EINVAL;
    }
    if (src != NULL && (src->read == NULL || src->size == 0)) {
        set_why(why, whylen, "The segmenter's byte source needs a read function and a size "
                             "above 0.");
        return OA_EINVAL;
    }
    job = calloc(1, sizeof(*job));
    if (job == NULL) {
        return OA_ENOMEM;
    }
    job->url = dup_or_null(o.url, &failed);
    job->format = dup_or_null(o.format, &failed);
    if (failed) {
        free(job->url);
        free(job->format);
        free(job);
        return OA_ENOMEM;
    }
    job->opts = o;
    job->opts.url = job->url;
    job->opts.format = job->format;
    if (src != NULL) {
        job->has_src = 1;
        job->src = *src;
    }
    job->cbs = *cbs;
    job->log = cbs->log;
    job->log_arg = cbs->log_arg;
    job->loop = loop;
    atomic_init(&job->stopping, 0);
    if (uv_mutex_init(&job->mu) != 0) {
        free(job->url);
        free(job->format);
        free(job);
        return OA_ENOMEM;
    }
    if (uv_cond_init(&job->cond) != 0) {
        uv_mutex_destroy(&job->mu);
        free(job->url);
        free(job->format);
        free(job);
        return OA_ENOMEM;
    }
    if (uv_async_init(loop, &job->async, on_async) != 0) {
        job_free(job);
        return OA_EIO;
    }
    job->async.data = job;
    if (uv_thread_create(&job->thread, segjob_worker, job) != 0) {
        /* The handle closes later; the job is freed once it has. */
        job->closed = 1;
        uv_close((uv_handle_t *)&job->async, on_async_closed);
        set_why(why, whylen, "The segmenter could not start a thread for the job.");
        return OA_EIO;
    }
    job->thread_started = 1;
    *out = job;
    return 0;
}

/*
 * A segmenter job's worker thread (segjob_int.h): once segopen.c opened the
 * input and the muxer, it reads packets, keeps those of the chosen video and
 * audio streams, writes them to the MPEG-TS muxer's memory buffer, and hands
 * the buffer over as a chunk at every cut (cut.h). The muxer is told to
 * resend its PAT and PMT after each cut, so that each chunk stands alone,
 * while timestamps and continuity counters run on, so that chunks played in
 * a row make one stream. A stream MPEG-TS cannot carry as it is goes
 * through its encoder (segenc.h) first, and the cut is decided on the
 * encoded packets.
 */
#include "segwork.h"

#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
#include <libavutil/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Write errors in a row (e.g. timestamps that go backwards) before the job
 * gives up; single bad packets are dropped. */
#define SEGWORK_MAX_WRITE_ERRORS 100

/* ---- results to the loop ----------------------------------------------------- */

static void post_open(segwork *w, int status, const char *reason)
{
    oa_media_job *job = w->job;
    uv_mutex_lock(&job->mu);
    job->open_status = status;
    snprintf(job->open_reason, sizeof(job->open_reason), "%s", reason != NULL ? reason : "");
    job->open_ready = 1;
    uv_mutex_unlock(&job->mu);
    segjob_wake_loop(job);
}

static void post_end(segwork *w, int status, const char *reason)
{
    oa_media_job *job = w->job;
    uv_mutex_lock(&job->mu);
    job->end_status = status;
    snprintf(job->end_reason, sizeof(job->end_reason), "%s", reason != NULL ? reason : "");
    job->end_ready = 1;
    uv_mutex_unlock(&job->mu);
    segjob_wake_loop(job);
}

/* Queues a chunk, then waits while the queue is full: one chunk when the
 * caller paused the job. Returns how long it waited, in ns. */
static uint64_t post_chunk(segwork *w, segjob_chunk *ch)
{
    oa_media_job *job = w->job;
    uint64_t t0;
    uint64_t waited = 0;

    uv_mutex_lock(&job->mu);
    if (job->q_tail != NULL) {
        job->q_tail->next = ch;
    } else {
        job->q_head = ch;
    }
    job->q_tail = ch;
    job->q_len++;
    uv_mutex_unlock(&job->mu);
    segjob_wake_loop(job);

    t0 = uv_hrtime();
    uv_mutex_lock(&job->mu);
    while (!segwork_stopping(job) &&
           (job->paused ? job->q_len >= 1 : job->q_len >= SEGJOB_QUEUE_MAX)) {
        uv_cond_wait(&job->cond, &job->mu);
        waited = 1;
    }
    uv_mutex_unlock(&job->mu);
    return waited ? uv_hrtime() - t0 : 0;
}

/* Sleeps until a packet at pts_us is due, in realtime mode; wakes early
 * when the job stops. */
static void pace(segwork *w, int64_t pts_us)
{
    oa_media_job *job = w->job;
    uint64_t due;

    if (!job->opts.realtime) {
        return;
    }
    if (!w->paced) {
        w->paced = 1;
        w->wall_base_ns = uv_hrtime();
        w->pts_base_us = pts_us;
        return;
    }
    if (pts_us <= w->pts_base_us) {
        return;
    }
    due = w->wall_base_ns + (uint64_t)(pts_us - w->pts_base_us) * 1000u;
    uv_mutex_lock(&job->mu);
    while (!segwork_stopping(job)) {
        uint64_t now = uv_hrtime();
        if (now >= due) {
            break;
        }
        uv_cond_timedwait(&job->cond, &job->mu, due - now);
    }
    uv_mutex_unlock(&job->mu);
}

static int64_t wallclock_ms(void)
{
    uv_timeval64_t tv;
    if (uv_gettimeofday(&tv) != 0) {
        return 0;
    }
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- cutting and writing ---------------------------------------------------------- */

/* Takes what the muxer wrote since the last cut as one chunk and queues it;
 * the last chunk also ends the muxer. */
static int emit_chunk(segwork *w, int64_t end_us, int last)
{
    uint8_t *buf = NULL;
    segjob_chunk *ch;
    uint64_t waited;
    int n;

    if (last) {
        av_write_trailer(w->oc);
    } else {
        av_write_frame(w->oc, NULL); /* flushes audio the muxer still holds */
    }
    n = avio_close_dyn_buf(w->oc->pb, &buf);
    w->oc->pb = NULL;
    if (!last) {
        if (avio_open_dyn_buf(&w->oc->pb) < 0) {
            av_free(buf);
            return OA_ENOMEM;
        }
        /* The next chunk begins with a PAT and a PMT of its own. */
        av_opt_set(w->oc->priv_data, "mpegts_flags", "+resend_headers", 0);
    }
    if (n % OA_MEDIA_TS_PACKET != 0) {
        segjob_log(w->job, OA_LOG_WARN, "chunk %llu of %s is %d bytes, not whole TS packets",
                   (unsigned long long)w->seq, w->name, n);
        n -= n % OA_MEDIA_TS_PACKET;
    }
    if (n <= 0) {
        av_free(buf);
        return 0;
    }
    if (!seg_ts_pat_first(buf, (size_t)n)) {
        segjob_log(w->job, OA_LOG_WARN, "chunk %llu of %s does not begin with a PAT",
                   (unsigned long long)w->seq, w->name);
    }
    ch = calloc(1, sizeof(*ch));
    if (ch == NULL) {
        av_free(buf);
        return OA_ENOMEM;
    }
    ch->data = buf;
    ch->c.size = sizeof(ch->c);
    ch->c.seq = w->seq++;
    ch->c.data = buf;
    ch->c.len = (size_t)n;
    ch->c.pts_us = w->chunk_start_us;
    ch->c.duration_us = end_us > w->chunk_start_us ? end_us - w->chunk_start_us : 0;
    ch->c.wallclock_ms = wallclock_ms();
    ch->c.flags = w->next_flags | (last ? OA_MEDIA_LAST : 0u);
    w->next_flags = 0;
    w->chunk_has_data = 0;
    waited = post_chunk(w, ch);
    if (w->paced) {
        /* Time spent paused does not count against the input's pace. */
        w->wall_base_ns += waited;
    }
    return 0;
}

static int64_t frame_us(const AVPacket *pkt, const AVStream *st, int is_video)
{
    if (pkt->duration > 0) {
        return av_rescale_q(pkt->duration, st->time_base, AV_TIME_BASE_Q);
    }
    if (is_video && st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0) {
        return av_rescale_q(1, av_inv_q(st->avg_frame_rate), AV_TIME_BASE_Q);
    }
    return 0;
}

static int write_packet(segwork *w, AVPacket *pkt, AVRational in_tb, int out_index,
                        int64_t offset_us)
{
    AVStream *out = w->oc->streams[out_index];
    int64_t off = av_rescale_q(offset_us, AV_TIME_BASE_Q, in_tb);
    char err[128];
    int rc;

    if (pkt->pts != AV_NOPTS_VALUE) {
        pkt->pts += off;
    }
    if (pkt->dts != AV_NOPTS_VALUE) {
        pkt->dts += off;
    }
    pkt->stream_index = out_index;
    pkt->pos = -1;
    av_packet_rescale_ts(pkt, in_tb, out->time_base);
    rc = av_write_frame(w->oc, pkt);
    if (rc >= 0) {
        w->write_errors = 0;
        w->chunk_has_data = 1;
        return 0;
    }
    w->write_errors++;
    av_make_error_string(err, sizeof(err), rc);
    segjob_log(w->job, OA_LOG_DEBUG, "dropped a packet of %s: %s", w->name, err);
    if (w->write_errors >= SEGWORK_MAX_WRITE_ERRORS) {
        return rc;
    }
    return 0;
}

/* Cuts before a packet at pts_us (has_ts 0: no timestamp, never cuts) when
 * it begins a chunk. Returns the cutter's action, or < 0 when emitting the
 * finished chunk failed. */
static int cut_before(segwork *w, int64_t pts_us, int has_ts, int is_video, int is_key)
{
    seg_cut_action act = SEG_CUT_KEEP;
    int rc;

    if (has_ts) {
        act = seg_cut_packet(&w->cut, pts_us, is_video, is_key);
    }
    if (act == SEG_CUT_START) {
        if (w->chunk_started && w->chunk_has_data) {
            rc = emit_chunk(w, pts_us, 0);
            if (rc < 0) {
                return rc;
            }
        }
        w->chunk_started = 1;
        w->chunk_start_us = pts_us;
        w->chunk_end_us = pts_us;
    }
    return (int)act;
}

/* Notes a packet of the input in this pass's span (for looping). */
static void track_pass(segwork *w, int64_t raw_us, int64_t dts_us, int64_t dur_us)
{
    if (w->pass_packets == 0 || (raw_us < w->pass_min_us)) {
        w->pass_min_us = raw_us;
    }
    if (dts_us < w->pass_min_us) {
        w->pass_min_us = dts_us;
    }
    if (w->pass_packets == 0 || raw_us + dur_us > w->pass_max_us) {
        w->pass_max_us = raw_us + dur_us;
    }
    if (dts_us + dur_us > w->pass_max_us) {
        w->pass_max_us = dts_us + dur_us;
    }
}

/* One packet out of an encoder (segenc_out_fn): its timestamps already
 * include the loop offset; cut before it if it starts a chunk, then write
 * it. */
static int place_encoded(void *arg, AVPacket *pkt, AVRational tb, int is_video)
{
    segwork *w = arg;
    int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
    int64_t pts_us = ts != AV_NOPTS_VALUE ? av_rescale_q(ts, tb, AV_TIME_BASE_Q) : 0;
    int64_t dur_us = pkt->duration > 0 ? av_rescale_q(pkt->duration, tb, AV_TIME_BASE_Q) : 0;
    int act;

    if (ts == AV_NOPTS_VALUE && !w->cut.started) {
        return 0;
    }
    act = cut_before(w, pts_us, ts != AV_NOPTS_VALUE, is_video,
                     (pkt->flags & AV_PKT_FLAG_KEY) != 0);
    if (act < 0) {
        return act;
    }
    if (act == SEG_CUT_DROP) {
        return 0;
    }
    if (ts != AV_NOPTS_VALUE && (is_video || w->in_video < 0) &&
        pts_us + dur_us > w->chunk_end_us) {
        w->chunk_end_us = pts_us + dur_us;
    }
    return write_packet(w, pkt, tb, is_video ? w->out_video : w->out_audio, 0);
}

/* Feeds a packet of a re-encoded stream to its encoder (segenc.h), after
 * pacing it like a remuxed one. */
static int encode_packet(segwork *w, AVPacket *pkt, segenc *enc, int is_video)
{
    AVStream *st = w->ic->streams[pkt->stream_index];
    int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
    uint64_t skipped = segenc_skipped(enc);
    int rc;

    if (ts != AV_NOPTS_VALUE) {
        int64_t raw = av_rescale_q(ts, st->time_base, AV_TIME_BASE_Q);
        int64_t dts_us = pkt->dts != AV_NOPTS_VALUE
                             ? av_rescale_q(pkt->dts, st->time_base, AV_TIME_BASE_Q)
                             : raw;
        track_pass(w, raw, dts_us, frame_us(pkt, st, is_video));
        pace(w, dts_us + w->offset_us);
    }
    w->pass_packets++;
    rc = segenc_packet(enc, pkt, w->offset_us, place_encoded, w);
    if (rc < 0 && segenc_error(enc)[0] != '\0') {
        snprintf(w->fail, sizeof(w->fail), "%s", segenc_error(enc));
    }
    if (segenc_skipped(enc) != skipped) {
        segjob_log(w->job, OA_LOG_DEBUG, "the decoder skipped a packet of %s", w->name);
    }
    return rc;
}

/* One packet from the demuxer: a stream that is re-encoded goes to its
 * encoder; otherwise cut before it if it starts a chunk, then write it.
 * Returns 0, an OA_E* code, or an AVERROR of the muxer. */
static int handle_packet(segwork *w, AVPacket *pkt)
{
    int idx = pkt->stream_index;
    int is_video = idx == w->in_video;
    AVStream *st;
    int64_t ts;
    int64_t pts_us = 0;
    int64_t dur_us;
    int act;

    if (!is_video && idx != w->in_audio) {
        return 0;
    }
    if (is_video && w->venc != NULL) {
        return encode_packet(w, pkt, w->venc, 1);
    }
    if (!is_video && w->aenc != NULL) {
        return encode_packet(w, pkt, w->aenc, 0);
    }
    st = w->ic->streams[idx];
    ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
    if (ts == AV_NOPTS_VALUE) {
        if (!w->cut.started) {
            return 0; /* nothing to place it by before the first cut */
        }
    } else {
        pts_us = av_rescale_q(ts, st->time_base, AV_TIME_BASE_Q) + w->offset_us;
    }
    act = cut_before(w, pts_us, ts != AV_NOPTS_VALUE, is_video,
                     (pkt->flags & AV_PKT_FLAG_KEY) != 0);
    if (act < 0) {
        return act;
    }
    if (act == SEG_CUT_DROP) {
        return 0;
    }
    dur_us = frame_us(pkt, st, is_video);
    if (ts != AV_NOPTS_VALUE) {
        int64_t raw = pts_us - w->offset_us;
        int64_t dts_us = pkt->dts != AV_NOPTS_VALUE
                             ? av_rescale_q(pkt->dts, st->time_base, AV_TIME_BASE_Q)
                             : raw;
        track_pass(w, raw, dts_us, dur_us);
        if ((is_video || w->in_video < 0) && pts_us + dur_us > w->chunk_end_us) {
            w->chunk_end_us = pts_us + dur_us;
        }
        pace(w, dts_us + w->offset_us);
    }
    w->pass_packets++;
    return write_packet(w, pkt, st->time_base, is_video ? w->out_video : w->out_audio,
                        w->offset_us);
}

/* At the end of a pass (finish 0) or of the input (finish 1): what the
 * decoders still hold is encoded; at the end the encoders are drained too.
 * Returns as handle_packet(). */
static int drain_encoders(segwork *w, int finish)
{
    segenc *encs[2] = {w->venc, w->aenc};
    int rc;

    for (int i = 0; i < 2; i++) {
        if (encs[i] == NULL) {
            continue;
        }
        if (finish) {
            rc = segenc_finish(encs[i], place_encoded, w);
        } else {
            rc = segenc_packet(encs[i], NULL, w->offset_us, place_encoded, w);
        }
        if (rc < 0) {
            if (segenc_error(encs[i])[0] != '\0') {
                snprintf(w->fail, sizeof(w->fail), "%s", segenc_error(encs[i]));
            }
            return rc;
        }
    }
    return 0;
}

/* The sentence for a failed handle_packet() or drain_encoders(). */
static void failure_reason(segwork *w, int rc, char *reason, size_t len)
{
    char err[128];

    if (w->fail[0] != '\0') {
        snprintf(reason, len, "%s", w->fail);
    } else if (rc == OA_ENOMEM) {
        snprintf(reason, len, "Out of memory cutting the input %s.", w->name);
    } else {
        av_make_error_string(err, sizeof(err), rc);
        snprintf(reason, len, "The MPEG-TS muxer kept refusing packets of the input %s: %s.",
                 w->name, err);
    }
}

/* The input ended and the job loops: finish the chunk, shift later
 * timestamps past this pass, and read again from the start. */
static int restart(segwork *w, char *reason, size_t len)
{
    int64_t start = w->ic->start_time != AV_NOPTS_VALUE ? w->ic->start_time : 0;
    int rc;

    rc = drain_encoders(w, 0);
    if (rc < 0) {
        failure_reason(w, rc, reason, len);
        return rc == OA_ENOMEM ? rc : OA_EIO;
    }
    if (w->chunk_started && w->chunk_has_data) {
        rc = emit_chunk(w, w->chunk_end_us, 0);
        if (rc < 0) {
            snprintf(reason, len, "Out of memory cutting the input %s.", w->name);
            return rc;
        }
    }
    w->offset_us += w->pass_max_us - w->pass_min_us;
    w->pass_packets = 0;
    w->chunk_started = 0;
    seg_cut_reset(&w->cut);
    w->next_flags |= OA_MEDIA_DISCONTINUITY;
    if (w->venc != NULL) {
        segenc_force_key(w->venc); /* the new pass begins a chunk */
    }
    if (w->lavfi != NULL) {
        rc = seglavfi_rewind(w->lavfi); /* a filtergraph starts again */
    } else {
        rc = avformat_seek_file(w->ic, -1, INT64_MIN, start, start, 0);
        if (rc < 0) {
            rc = av_seek_frame(w->ic, -1, 0, AVSEEK_FLAG_BYTE);
        }
    }
    if (rc < 0) {
        char err[128];
        av_make_error_string(err, sizeof(err), rc);
        snprintf(reason, len, "Cannot loop the input %s: seeking back to its start failed "
                              "(%s).", w->name, err);
        return OA_EIO;
    }
    segjob_log(w->job, OA_LOG_DEBUG, "looping %s", w->name);
    return 0;
}

/* Reads and cuts until the input ends, fails, or the job stops. */
static void run(segwork *w)
{
    char reason[512];
    char err[128];
    AVPacket *pkt = av_packet_alloc();
    int rc;

    if (pkt == NULL) {
        post_end(w, OA_ENOMEM, "Out of memory while cutting the input.");
        return;
    }
    for (;;) {
        if (segwork_stopping(w->job)) {
            break;
        }
        rc = segwork_read(w, pkt);
        if (rc == AVERROR(EAGAIN)) {
            av_usleep(10000);
            continue;
        }
        if (rc == AVERROR_EXIT || segwork_stopping(w->job)) {
            av_packet_unref(pkt);
            break;
        }
        if (rc == AVERROR_EOF) {
            if (w->job->opts.loop && w->pass_packets > 0) {
                rc = restart(w, reason, sizeof(reason));
                if (rc < 0) {
                    post_end(w, rc, reason);
                    break;
                }
                continue;
            }
            rc = drain_encoders(w, 1);
            if (rc < 0) {
                failure_reason(w, rc, reason, sizeof(reason));
                post_end(w, rc == OA_ENOMEM ? rc : OA_EIO, reason);
                break;
            }
            if (w->chunk_started && w->chunk_has_data) {
                rc = emit_chunk(w, w->chunk_end_us, 1);
                if (rc < 0) {
                    post_end(w, rc, "Out of memory cutting the last chunk of the input.");
                    break;
                }
            }
            post_end(w, 0, NULL);
            break;
        }
        if (rc < 0) {
            av_make_error_string(err, sizeof(err), rc);
            snprintf(reason, sizeof(reason), "Reading the input %s failed: %s.", w->name,
                     w->read_error[0] ? w->read_error : err);
            post_end(w, OA_EIO, reason);
            break;
        }
        rc = handle_packet(w, pkt);
        av_packet_unref(pkt);
        if (rc < 0) {
            failure_reason(w, rc, reason, sizeof(reason));
            post_end(w, rc == OA_ENOMEM ? rc : OA_EIO, reason);
            break;
        }
    }
    av_packet_free(&pkt);
}

/* ---- the thread ------------------------------------------------------------------- */

void segjob_worker(void *arg)
{
    oa_media_job *job = arg;
    segwork w;
    char reason[512];
    int rc;

    memset(&w, 0, sizeof(w));
    w.job = job;
    w.in_video = -1;
    w.in_audio = -1;
    if (job->has_src) {
        snprintf(w.name, sizeof(w.name), "from the byte source (%llu bytes)",
                 (unsigned long long)job->src.size);
    } else {
        snprintf(w.name, sizeof(w.name), "'%.200s'", job->url);
    }
    reason[0] = '\0';
    rc = segwork_open(&w, reason, sizeof(reason));
    if (rc != 0) {
        if (rc == OA_ECANCELED) {
            snprintf(reason, sizeof(reason), "Opening the input %s was canceled.", w.name);
        }
        post_open(&w, rc, reason);
        segwork_close(&w);
        return;
    }
    segjob_log(job, OA_LOG_INFO, "opened %s: video %s%s, audio %s%s", w.name,
               w.in_video >= 0 ? avcodec_get_name(w.ic->streams[w.in_video]->codecpar->codec_id)
                               : "none",
               w.venc != NULL ? " (encoding to h264)" : "",
               w.in_audio >= 0 ? avcodec_get_name(w.ic->streams[w.in_audio]->codecpar->codec_id)
                               : "none",
               w.aenc != NULL ? " (encoding to aac)" : "");
    post_open(&w, 0, NULL);
    seg_cut_init(&w.cut, job->opts.target_seconds, job->opts.max_seconds, w.in_video >= 0);
    run(&w);
    segwork_close(&w);
}

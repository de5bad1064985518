/*
 * Opening a segmenter job's input and muxer, on its worker thread
 * (segwork.h): the caller's byte source as an AVIOContext whose reads wait
 * for the loop, filtergraphs for generated sources (seglavfi.h), capture
 * devices (libavdevice, loaded when a format needs it: segdyn.h), the
 * choice of streams (those MPEG-TS cannot carry are re-encoded, segenc.h),
 * and the muxer writing to a memory buffer.
 */
#include "segwork.h"

#include <libavcodec/avcodec.h>
#include <stdio.h>
#include <string.h>

#include "segdyn.h"

/* ---- helpers --------------------------------------------------------------------- */

static int interrupt_cb(void *opaque)
{
    return segwork_stopping(opaque);
}

/* ---- the source as an AVIOContext ---------------------------------------------- */

static int source_read(void *opaque, uint8_t *buf, int buf_size)
{
    segwork *w = opaque;
    oa_media_job *job = w->job;
    uint64_t size = job->src.size;
    size_t want;
    int status;
    size_t got;

    if (w->pos >= size) {
        return AVERROR_EOF;
    }
    if (buf_size <= 0) {
        return 0;
    }
    want = (size_t)buf_size;
    if (want > size - w->pos) {
        want = (size_t)(size - w->pos);
    }
    uv_mutex_lock(&job->mu);
    if (segwork_stopping(job)) {
        uv_mutex_unlock(&job->mu);
        return AVERROR_EXIT;
    }
    job->rd_off = w->pos;
    job->rd_len = want;
    job->rd_buf = buf;
    job->rd_got = 0;
    job->rd_status = 0;
    job->rd_state = SEGJOB_RD_POSTED;
    uv_mutex_unlock(&job->mu);
    segjob_wake_loop(job);

    uv_mutex_lock(&job->mu);
    while (job->rd_state != SEGJOB_RD_DONE && !segwork_stopping(job)) {
        uv_cond_wait(&job->cond, &job->mu);
    }
    if (job->rd_state != SEGJOB_RD_DONE) {
        job->rd_state = SEGJOB_RD_IDLE;
        job->rd_buf = NULL;
        uv_mutex_unlock(&job->mu);
        return AVERROR_EXIT;
    }
    status = job->rd_status;
    got = job->rd_got;
    job->rd_state = SEGJOB_RD_IDLE;
    job->rd_buf = NULL;
    uv_mutex_unlock(&job->mu);
    if (status < 0) {
        snprintf(w->read_error, sizeof(w->read_error),
                 "the source failed a read of %zu bytes at offset %llu (%s)", want,
                 (unsigned long long)w->pos, oa_strerror(status));
        return AVERROR(EIO);
    }
    if (got == 0) {
        return AVERROR_EOF;
    }
    w->pos += got;
    return (int)got;
}

static int64_t source_seek(void *opaque, int64_t offset, int whence)
{
    segwork *w = opaque;
    int64_t size = (int64_t)w->job->src.size;
    int64_t to;

    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE) {
        return size;
    }
    if (whence == SEEK_SET) {
        to = offset;
    } else if (whence == SEEK_CUR) {
        to = (int64_t)w->pos + offset;
    } else if (whence == SEEK_END) {
        to = size + offset;
    } else {
        return AVERROR(EINVAL);
    }
    if (to < 0 || to > size) {
        return AVERROR(EINVAL);
    }
    w->pos = (uint64_t)to;
    return to;
}

/* ---- opening ------------------------------------------------------------------ */

/* Codecs the MPEG-TS muxer gives a stream type players know. */
static int ts_video_codec(enum AVCodecID id)
{
    switch (id) {
    case AV_CODEC_ID_MPEG1VIDEO:
    case AV_CODEC_ID_MPEG2VIDEO:
    case AV_CODEC_ID_MPEG4:
    case AV_CODEC_ID_H264:
    case AV_CODEC_ID_HEVC:
    case AV_CODEC_ID_CAVS:
    case AV_CODEC_ID_DIRAC:
    case AV_CODEC_ID_VC1:
        return 1;
    default:
        return 0;
    }
}

static int ts_audio_codec(enum AVCodecID id)
{
    switch (id) {
    case AV_CODEC_ID_MP2:
    case AV_CODEC_ID_MP3:
    case AV_CODEC_ID_AAC:
    case AV_CODEC_ID_AAC_LATM:
    case AV_CODEC_ID_AC3:
    case AV_CODEC_ID_EAC3:
    case AV_CODEC_ID_DTS:
    case AV_CODEC_ID_TRUEHD:
    case AV_CODEC_ID_OPUS:
        return 1;
    default:
        return 0;
    }
}

/* Picks the streams to keep, and marks those MPEG-TS cannot carry as they
 * are for re-encoding; fills reason and returns < 0 when the input has
 * neither video nor audio. */
static int pick_streams(segwork *w, char *reason, size_t len)
{
    AVFormatContext *ic = w->ic;
    int v = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    int a;

    if (v >= 0 && (ic->streams[v]->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
        v = -1;
        for (unsigned i = 0; i < ic->nb_streams; i++) {
            AVStream *st = ic->streams[i];
            if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
                !(st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
                v = (int)i;
                break;
            }
        }
    }
    a = av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, v, NULL, 0);
    if (a >= 0 && !ts_audio_codec(ic->streams[a]->codecpar->codec_id)) {
        /* Another audio stream MPEG-TS can carry, if there is one. */
        for (unsigned i = 0; i < ic->nb_streams; i++) {
            AVCodecParameters *par = ic->streams[i]->codecpar;
            if (par->codec_type == AVMEDIA_TYPE_AUDIO && ts_audio_codec(par->codec_id)) {
                a = (int)i;
                break;
            }
        }
    }
    if (v < 0 && a < 0) {
        snprintf(reason, len, "The input %s has no audio or video stream.", w->name);
        return OA_EINVAL;
    }
    /* What MPEG-TS cannot carry as it is gets re-encoded (segenc.h). */
    w->encode_video = v >= 0 && !ts_video_codec(ic->streams[v]->codecpar->codec_id);
    w->encode_audio = a >= 0 && !ts_audio_codec(ic->streams[a]->codecpar->codec_id);
    w->in_video = v;
    w->in_audio = a;
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        if ((int)i != v && (int)i != a) {
            ic->streams[i]->discard = AVDISCARD_ALL;
        }
    }
    return 0;
}

static int open_input(segwork *w, char *reason, size_t len)
{
    oa_media_job *job = w->job;
    const AVInputFormat *fmt = NULL;
    const char *format = job->opts.format;
    const char *url = job->url;
    char err[128];
    int rc;

    /* "lavfi:<filtergraph>" names a generated source without a format. */
    if (format == NULL && url != NULL && strncmp(url, "lavfi:", 6) == 0) {
        format = "lavfi";
        url += 6;
    }
    if (format != NULL && strcmp(format, "lavfi") == 0) {
        if (job->has_src) {
            snprintf(reason, len, "The lavfi format takes a filtergraph as its URL, not a "
                                  "byte source.");
            return OA_EINVAL;
        }
        if (url[0] == '\0') {
            snprintf(reason, len, "The lavfi input needs a filtergraph, e.g. "
                                  "\"testsrc2=size=640x360:rate=25\".");
            return OA_EINVAL;
        }
        /* Run with libavfilter here rather than libavdevice's lavfi (see
         * seglavfi.h). */
        rc = seglavfi_open(&w->lavfi, &w->ic, url, reason, len);
        if (rc != 0) {
            return rc;
        }
        return pick_streams(w, reason, len);
    }
    if (format != NULL) {
        fmt = av_find_input_format(format);
        if (fmt == NULL) {
            /* Devices (v4l2, alsa, x11grab, ...) are known to libavformat
             * only once libavdevice registered them; it is loaded for the
             * first job that names a format libavformat lacks (segdyn.h). */
            char why[300];
            if (segdyn_avdevice_register(why, sizeof(why)) != 0) {
                snprintf(reason, len, "The input format '%s' is not known to libavformat, "
                                      "and %s", format, why);
                return OA_ENOSYS;
            }
            fmt = av_find_input_format(format);
        }
        if (fmt == NULL) {
            snprintf(reason, len, "The input format '%s' is not known to this FFmpeg.",
                     format);
            return OA_EINVAL;
        }
    }
    w->ic = avformat_alloc_context();
    if (w->ic == NULL) {
        snprintf(reason, len, "Out of memory opening the input %s.", w->name);
        return OA_ENOMEM;
    }
    w->ic->interrupt_callback.callback = interrupt_cb;
    w->ic->interrupt_callback.opaque = job;
    if (job->has_src) {
        uint8_t *buf = av_malloc(SEGJOB_READ_SIZE);
        if (buf != NULL) {
            w->avio = avio_alloc_context(buf, SEGJOB_READ_SIZE, 0, w, source_read, NULL,
                                         source_seek);
        }
        if (w->avio == NULL) {
            av_free(buf);
            avformat_free_context(w->ic);
            w->ic = NULL;
            snprintf(reason, len, "Out of memory opening the input %s.", w->name);
            return OA_ENOMEM;
        }
        w->ic->pb = w->avio;
        w->ic->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    rc = avformat_open_input(&w->ic, job->has_src ? NULL : url, fmt, NULL);
    if (rc < 0) {
        /* avformat_open_input() freed the context on failure. */
        if (rc == AVERROR_EXIT) {
            return OA_ECANCELED;
        }
        av_make_error_string(err, sizeof(err), rc);
        snprintf(reason, len, "Cannot open the input %s: %s.", w->name,
                 w->read_error[0] ? w->read_error : err);
        return w->read_error[0] ? OA_EIO : OA_EINVAL;
    }
    rc = avformat_find_stream_info(w->ic, NULL);
    if (rc < 0) {
        if (rc == AVERROR_EXIT) {
            return OA_ECANCELED;
        }
        av_make_error_string(err, sizeof(err), rc);
        snprintf(reason, len, "Cannot find the streams of the input %s: %s.", w->name,
                 w->read_error[0] ? w->read_error : err);
        return w->read_error[0] ? OA_EIO : OA_EINVAL;
    }
    if (segwork_stopping(job)) {
        return OA_ECANCELED;
    }
    return pick_streams(w, reason, len);
}

/* Adds the output stream for an input stream: its parameters copied, or
 * those of its encoder (enc not NULL). */
static int add_output_stream(segwork *w, int in_index, const segenc *enc)
{
    AVStream *in = w->ic->streams[in_index];
    AVStream *out = avformat_new_stream(w->oc, NULL);
    if (out == NULL) {
        return -1;
    }
    if (enc != NULL) {
        const AVCodecContext *c = segenc_encoder(enc);
        if (avcodec_parameters_from_context(out->codecpar, c) < 0) {
            return -1;
        }
        out->time_base = c->time_base;
    } else {
        if (avcodec_parameters_copy(out->codecpar, in->codecpar) < 0) {
            return -1;
        }
        out->time_base = in->time_base;
    }
    out->codecpar->codec_tag = 0;
    return out->index;
}

/* Opens the encoders of the streams that need one. */
static int open_encoders(segwork *w, char *reason, size_t len)
{
    int rc;

    if (w->encode_video) {
        rc = segenc_open_video(&w->venc, w->ic, w->ic->streams[w->in_video],
                               w->job->opts.target_seconds, reason, len);
        if (rc != 0) {
            return rc;
        }
    }
    if (w->encode_audio) {
        rc = segenc_open_audio(&w->aenc, w->ic->streams[w->in_audio], reason, len);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static int open_output(segwork *w, char *reason, size_t len)
{
    char err[128];
    int rc = open_encoders(w, reason, len);

    if (rc != 0) {
        return rc;
    }
    rc = avformat_alloc_output_context2(&w->oc, NULL, "mpegts", NULL);
    if (rc < 0 || w->oc == NULL) {
        snprintf(reason, len, "This FFmpeg has no MPEG-TS muxer.");
        return OA_ENOSYS;
    }
    w->out_video = -1;
    w->out_audio = -1;
    if (w->in_video >= 0) {
        w->out_video = add_output_stream(w, w->in_video, w->venc);
    }
    if (w->in_audio >= 0) {
        w->out_audio = add_output_stream(w, w->in_audio, w->aenc);
    }
    if ((w->in_video >= 0 && w->out_video < 0) || (w->in_audio >= 0 && w->out_audio < 0) ||
        avio_open_dyn_buf(&w->oc->pb) < 0) {
        snprintf(reason, len, "Out of memory setting up the MPEG-TS muxer for %s.", w->name);
        return OA_ENOMEM;
    }
    if (w->aenc != NULL) {
        /* AAC's first packet starts 1024 samples before zero (the encoder's
         * priming); the muxer's shift away from negative timestamps would
         * only warn about it. MPEG-TS's own delay keeps it positive. */
        w->oc->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
    }
    rc = avformat_write_header(w->oc, NULL);
    if (rc < 0) {
        av_make_error_string(err, sizeof(err), rc);
        snprintf(reason, len, "The MPEG-TS muxer refused the streams of the input %s: %s.",
                 w->name, err);
        return OA_EINVAL;
    }
    return 0;
}

static void fill_info(segwork *w)
{
    oa_media_job *job = w->job;
    oa_media_info info;

    memset(&info, 0, sizeof(info));
    info.size = sizeof(info);
    info.duration_us = w->ic->duration != AV_NOPTS_VALUE && w->ic->duration > 0
                           ? w->ic->duration
                           : -1;
    /* The codecs and sizes of the output: what the encoders make when the
     * input is re-encoded. */
    if (w->out_video >= 0) {
        AVCodecParameters *par = w->oc->streams[w->out_video]->codecpar;
        info.has_video = 1;
        snprintf(info.video_codec, sizeof(info.video_codec), "%s",
                 avcodec_get_name(par->codec_id));
        info.width = par->width;
        info.height = par->height;
    }
    if (w->out_audio >= 0) {
        info.has_audio = 1;
        snprintf(info.audio_codec, sizeof(info.audio_codec), "%s",
                 avcodec_get_name(w->oc->streams[w->out_audio]->codecpar->codec_id));
    }
    if (w->venc == NULL && w->aenc == NULL) {
        info.bitrate = w->ic->bit_rate > 0 ? w->ic->bit_rate : 0;
    } else {
        /* The encoders' targets, plus what a remuxed stream says of itself. */
        if (w->out_video >= 0) {
            info.bitrate += w->venc != NULL
                                ? segenc_encoder(w->venc)->bit_rate
                                : w->ic->streams[w->in_video]->codecpar->bit_rate;
        }
        if (w->out_audio >= 0) {
            info.bitrate += w->aenc != NULL
                                ? segenc_encoder(w->aenc)->bit_rate
                                : w->ic->streams[w->in_audio]->codecpar->bit_rate;
        }
    }
    uv_mutex_lock(&job->mu);
    job->info = info;
    uv_mutex_unlock(&job->mu);
}

int segwork_read(segwork *w, AVPacket *pkt)
{
    if (w->lavfi != NULL) {
        return seglavfi_read(w->lavfi, w->ic, pkt);
    }
    return av_read_frame(w->ic, pkt);
}

int segwork_open(segwork *w, char *reason, size_t len)
{
    int rc = open_input(w, reason, len);
    if (rc == 0) {
        rc = open_output(w, reason, len);
    }
    if (rc == 0) {
        fill_info(w);
    }
    return rc;
}

void segwork_close(segwork *w)
{
    segenc_free(&w->venc);
    segenc_free(&w->aenc);
    if (w->lavfi != NULL) {
        seglavfi_free(&w->lavfi, &w->ic);
    }
    if (w->oc != NULL) {
        if (w->oc->pb != NULL) {
            uint8_t *buf = NULL;
            avio_close_dyn_buf(w->oc->pb, &buf);
            av_free(buf);
            w->oc->pb = NULL;
        }
        avformat_free_context(w->oc);
        w->oc = NULL;
    }
    if (w->ic != NULL) {
        avformat_close_input(&w->ic);
    }
    if (w->avio != NULL) {
        av_freep(&w->avio->buffer);
        avio_context_free(&w->avio);
    }
}

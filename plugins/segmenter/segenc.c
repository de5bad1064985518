/*
 * Re-encoding a stream MPEG-TS cannot carry (segenc.h): decode, convert,
 * encode H.264 or AAC.
 */
#include "segenc.h"

#include <libavcodec/avcodec.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/pixdesc.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openace/sdk.h>

#include "cut.h"

/* Video bits per pixel and frame: about 1 Mbit/s at 640x360, 25 fps. */
#define SEGENC_BITS_PER_PIXEL 0.174
#define SEGENC_VIDEO_MIN_BPS 150000
#define SEGENC_VIDEO_MAX_BPS 12000000
#define SEGENC_AUDIO_BPS 128000
/* An audio input whose timestamps stray this far from the samples counted
 * (a gap, a jump) has the count set again, in seconds. */
#define SEGENC_AUDIO_RESYNC_S 0.5

struct segenc {
    int is_video;
    AVCodecContext *dec;
    AVCodecContext *enc;
    AVRational in_tb;
    AVFrame *frame; /* decoded */
    AVFrame *conv;  /* scaled video, or an audio frame for the encoder */
    AVPacket *pkt;  /* encoded */
    uint64_t skipped;
    char err[300];

    /* Video. */
    struct SwsContext *sws;
    int64_t last_pts;  /* in in_tb (= the encoder's), AV_NOPTS_VALUE before the first */
    int64_t frame_dur; /* one frame, in in_tb */
    int64_t target_us;
    int have_key;
    int force_key;
    int64_t last_key_us;

    /* Audio. */
    SwrContext *swr;
    int swr_rate;
    int swr_fmt;
    AVChannelLayout swr_layout;
    AVAudioFifo *fifo;
    uint8_t **cbuf; /* converted samples, cbuf_cap per channel */
    int cbuf_cap;
    int64_t next_pts; /* of the FIFO's first sample, 1/sample_rate; NOPTS before */
};

static segenc *alloc_enc(int is_video, const AVStream *in)
{
    segenc *e = av_mallocz(sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    e->is_video = is_video;
    e->in_tb = in->time_base;
    e->last_pts = AV_NOPTS_VALUE;
    e->next_pts = AV_NOPTS_VALUE;
    e->frame = av_frame_alloc();
    e->conv = av_frame_alloc();
    e->pkt = av_packet_alloc();
    if (e->frame == NULL || e->conv == NULL || e->pkt == NULL) {
        segenc_free(&e);
        return NULL;
    }
    return e;
}

static int open_decoder(segenc *e, const AVStream *in, const char *what, char *reason,
                        size_t len)
{
    enum AVCodecID id = in->codecpar->codec_id;
    const AVCodec *dc = avcodec_find_decoder(id);
    char err[128];
    int rc;

    if (dc == NULL) {
        snprintf(reason, len,
                 "The input has %s in %s, which MPEG-TS cannot carry and this FFmpeg cannot "
                 "decode to re-encode it.",
                 what, avcodec_get_name(id));
        return OA_ENOSYS;
    }
    e->dec = avcodec_alloc_context3(dc);
    if (e->dec == NULL || avcodec_parameters_to_context(e->dec, in->codecpar) < 0) {
        snprintf(reason, len, "Out of memory opening the %s decoder.", what);
        return OA_ENOMEM;
    }
    e->dec->pkt_timebase = in->time_base;
    rc = avcodec_open2(e->dec, dc, NULL);
    if (rc < 0) {
        av_make_error_string(err, sizeof(err), rc);
        snprintf(reason, len, "The %s decoder for the input's %s refused it: %s.", what,
                 avcodec_get_name(id), err);
        return OA_EINVAL;
    }
    return 0;
}

/* Sets up what a video and an audio re-encoder share: the segenc with the
 * input's decoder open and an encoder context (e->enc) for the encoder
 * called name, or else the default one for id, which *codec receives.
 * missing names that encoder in the error when this FFmpeg has neither. */
static int start_enc(segenc **out, const AVStream *in, int is_video, const char *name,
                     enum AVCodecID id, const char *missing, const AVCodec **codec,
                     char *reason, size_t len)
{
    const char *what = is_video ? "video" : "audio";
    segenc *e = alloc_enc(is_video, in);
    int rc;

    *out = NULL;
    if (e == NULL) {
        snprintf(reason, len, "Out of memory setting up the %s encoder.", what);
        return OA_ENOMEM;
    }
    rc = open_decoder(e, in, what, reason, len);
    if (rc != 0) {
        segenc_free(&e);
        return rc;
    }
    *codec = avcodec_find_encoder_by_name(name);
    if (*codec == NULL) {
        *codec = avcodec_find_encoder(id);
    }
    if (*codec == NULL) {
        snprintf(reason, len,
                 "The input's %s is in %s, which MPEG-TS cannot carry, and this FFmpeg has "
                 "no %s to re-encode it.",
                 what, avcodec_get_name(in->codecpar->codec_id), missing);
        segenc_free(&e);
        return OA_ENOSYS;
    }
    e->enc = avcodec_alloc_context3(*codec);
    if (e->enc == NULL) {
        snprintf(reason, len, "Out of memory setting up the %s encoder.", what);
        segenc_free(&e);
        return OA_ENOMEM;
    }
    *out = e;
    return 0;
}

/* ---- opening ---------------------------------------------------------------------- */

int segenc_open_video(segenc **out, AVFormatContext *ic, const AVStream *in, double target_s,
                      char *reason, size_t len)
{
    segenc *e = NULL;
    const AVCodec *codec = NULL;
    AVCodecContext *enc;
    AVDictionary *opts = NULL;
    AVRational fr;
    double fps;
    double bps;
    char err[128];
    char num[96];
    int gop;
    int rc;

    *out = NULL;
    rc = start_enc(&e, in, 1, "libx264", AV_CODEC_ID_H264, "H.264 encoder (libx264)", &codec,
                   reason, len);
    if (rc != 0) {
        return rc;
    }
    enc = e->enc;
    fr = av_guess_frame_rate(ic, (AVStream *)in, NULL);
    if (fr.num <= 0 || fr.den <= 0 || av_q2d(fr) > 1000) {
        fr = (AVRational){25, 1};
    }
    fps = av_q2d(fr);
    /* yuv420p wants even sizes: an odd one is scaled down by a pixel. */
    enc->width = e->dec->width & ~1;
    enc->height = e->dec->height & ~1;
    if (enc->width < 2 || enc->height < 2) {
        snprintf(reason, len, "The input's video has no usable size (%dx%d).", e->dec->width,
                 e->dec->height);
        segenc_free(&e);
        return OA_EINVAL;
    }
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->time_base = in->time_base;
    enc->framerate = fr;
    enc->sample_aspect_ratio = e->dec->sample_aspect_ratio;
    gop = (int)ceil(fps * target_s - 1e-6);
    enc->gop_size = gop < 1 ? 1 : gop;
    enc->keyint_min = enc->gop_size;
    enc->max_b_frames = 0;
    enc->thread_count = 1;
    bps = (double)enc->width * enc->height * fps * SEGENC_BITS_PER_PIXEL;
    if (bps < SEGENC_VIDEO_MIN_BPS) {
        bps = SEGENC_VIDEO_MIN_BPS;
    }
    if (bps > SEGENC_VIDEO_MAX_BPS) {
        bps = SEGENC_VIDEO_MAX_BPS;
    }
    enc->bit_rate = (int64_t)bps;
    enc->rc_max_rate = enc->bit_rate * 3 / 2;
    enc->rc_buffer_size = (int)enc->bit_rate;
    /* libx264's own options; another encoder leaves them in the dictionary. */
    av_dict_set(&opts, "preset", "ultrafast", 0);
    av_dict_set(&opts, "tune", "zerolatency", 0);
    av_dict_set(&opts, "forced-idr", "1", 0);
    snprintf(num, sizeof(num), "scenecut=0:keyint=%d:min-keyint=%d", enc->gop_size,
             enc->gop_size);
    av_dict_set(&opts, "x264-params", num, 0);
    rc = avcodec_open2(enc, codec, &opts);
    av_dict_free(&opts);
    if (rc < 0) {
        av_make_error_string(err, sizeof(err), rc);
        snprintf(reason, len, "The H.264 encoder %s refused the input's %dx%d video: %s.",
                 codec->name, enc->width, enc->height, err);
        segenc_free(&e);
        return OA_EINVAL;
    }
    e->frame_dur = av_rescale_q(1, av_inv_q(fr), in->time_base);
    if (e->frame_dur < 1) {
        e->frame_dur = 1;
    }
    e->target_us = (int64_t)(target_s * 1e6);
    *out = e;
    return 0;
}

/* The sample rate AAC gets: the input's if the encoder lists it. */
static int pick_rate(const AVCodec *codec, int rate)
{
    const int *r = codec->supported_samplerates;
    if (r == NULL) {
        return rate > 0 ? rate : 48000;
    }
    for (; *r != 0; r++) {
        if (*r == rate) {
            return rate;
        }
    }
    return 48000;
}

int segenc_open_audio(segenc **out, const AVStream *in, char *reason, size_t len)
{
    segenc *e = NULL;
    const AVCodec *codec = NULL;
    AVCodecContext *enc;
    char err[128];
    int rc;

    *out = NULL;
    rc = start_enc(&e, in, 0, "aac", AV_CODEC_ID_AAC, "AAC encoder", &codec, reason, len);
    if (rc != 0) {
        return rc;
    }
    enc = e->enc;
    enc->sample_rate = pick_rate(codec, e->dec->sample_rate);
    av_channel_layout_default(&enc->ch_layout, e->dec->ch_layout.nb_channels == 1 ? 1 : 2);
    enc->sample_fmt = codec->sample_fmts != NULL ? codec->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
    enc->bit_rate = SEGENC_AUDIO_BPS;
    enc->time_base = (AVRational){1, enc->sample_rate};
    rc = avcodec_open2(enc, codec, NULL);
    if (rc < 0) {
        av_make_error_string(err, sizeof(err), rc);
        snprintf(reason, len, "The AAC encoder refused the input's audio (%d Hz, %d channels): "
                              "%s.",
                 e->dec->sample_rate, e->dec->ch_layout.nb_channels, err);
        segenc_free(&e);
        return OA_EINVAL;
    }
    e->fifo = av_audio_fifo_alloc(enc->sample_fmt, enc->ch_layout.nb_channels,
                                  enc->frame_size > 0 ? enc->frame_size * 4 : 4096);
    if (e->fifo == NULL) {
        snprintf(reason, len, "Out of memory setting up the audio encoder.");
        segenc_free(&e);
        return OA_ENOMEM;
    }
    *out = e;
    return 0;
}

/* ---- encoding ------------------------------------------------------------------ */

static int fail(segenc *e, int err, const char *what)
{
    char txt[128];
    av_make_error_string(txt, sizeof(txt), err);
    snprintf(e->err, sizeof(e->err), "Re-encoding the input's %s failed: %s (%s).",
             e->is_video ? "video" : "audio", what, txt);
    return OA_EIO;
}

/* Sends frame (NULL: end) to the encoder and hands out what comes back. */
static int encode(segenc *e, AVFrame *frame, segenc_out_fn out, void *arg)
{
    int rc = avcodec_send_frame(e->enc, frame);
    if (rc < 0 && rc != AVERROR_EOF) {
        return fail(e, rc, "the encoder refused a frame");
    }
    for (;;) {
        rc = avcodec_receive_packet(e->enc, e->pkt);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) {
            return 0;
        }
        if (rc < 0) {
            return fail(e, rc, "the encoder failed");
        }
        if (e->pkt->duration <= 0 && e->is_video) {
            e->pkt->duration = e->frame_dur;
        }
        rc = out(arg, e->pkt, e->enc->time_base, e->is_video);
        av_packet_unref(e->pkt);
        if (rc < 0) {
            return rc;
        }
    }
}

static int video_frame(segenc *e, AVFrame *f, int64_t offset_us, segenc_out_fn out, void *arg)
{
    AVCodecContext *enc = e->enc;
    AVFrame *src = f;
    int64_t pts = f->best_effort_timestamp;
    int64_t pts_us;
    int rc;

    if (pts == AV_NOPTS_VALUE) {
        pts = f->pts;
    }
    if (pts == AV_NOPTS_VALUE) {
        pts = e->last_pts == AV_NOPTS_VALUE ? 0 : e->last_pts + e->frame_dur;
    } else {
        pts += av_rescale_q(offset_us, AV_TIME_BASE_Q, e->in_tb);
    }
    if (e->last_pts != AV_NOPTS_VALUE && pts <= e->last_pts) {
        return 0; /* the encoder wants rising timestamps: a repeated frame goes */
    }
    if (f->format != AV_PIX_FMT_YUV420P || f->width != enc->width ||
        f->height != enc->height) {
        e->sws = sws_getCachedContext(e->sws, f->width, f->height, f->format, enc->width,
                                      enc->height, AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL,
                                      NULL, NULL);
        if (e->sws == NULL) {
            snprintf(e->err, sizeof(e->err),
                     "Re-encoding the input's video failed: no conversion from %s %dx%d to "
                     "yuv420p.",
                     av_get_pix_fmt_name((enum AVPixelFormat)f->format) != NULL
                         ? av_get_pix_fmt_name((enum AVPixelFormat)f->format)
                         : "?",
                     f->width, f->height);
            return OA_EIO;
        }
        av_frame_unref(e->conv);
        e->conv->format = AV_PIX_FMT_YUV420P;
        e->conv->width = enc->width;
        e->conv->height = enc->height;
        rc = av_frame_get_buffer(e->conv, 0);
        if (rc < 0) {
            return fail(e, rc, "no memory for a converted frame");
        }
        sws_scale(e->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height,
                  e->conv->data, e->conv->linesize);
        e->conv->sample_aspect_ratio = f->sample_aspect_ratio;
        src = e->conv;
    }
    src->pts = pts;
    e->last_pts = pts;
    pts_us = av_rescale_q(pts, e->in_tb, AV_TIME_BASE_Q);
    /* A keyframe each target duration since the previous one, as the cutter
     * (cut.h) counts: each chunk is one GOP. */
    if (e->force_key || !e->have_key || pts_us < e->last_key_us ||
        pts_us - e->last_key_us >= e->target_us - SEG_CUT_TOLERANCE_US) {
        src->pict_type = AV_PICTURE_TYPE_I;
        src->key_frame = 1;
        e->have_key = 1;
        e->force_key = 0;
        e->last_key_us = pts_us;
    } else {
        src->pict_type = AV_PICTURE_TYPE_NONE;
        src->key_frame = 0;
    }
    rc = encode(e, src, out, arg);
    av_frame_unref(e->conv);
    return rc;
}

/* Makes room for n converted samples per channel. */
static int cbuf_reserve(segenc *e, int n)
{
    if (n <= e->cbuf_cap) {
        return 0;
    }
    if (e->cbuf != NULL) {
        av_freep(&e->cbuf[0]);
        av_freep(&e->cbuf);
    }
    e->cbuf_cap = 0;
    if (av_samples_alloc_array_and_samples(&e->cbuf, NULL, e->enc->ch_layout.nb_channels, n,
                                           e->enc->sample_fmt, 0) < 0) {
        e->cbuf = NULL;
        return OA_ENOMEM;
    }
    e->cbuf_cap = n;
    return 0;
}

/* Encodes whole frames from the FIFO; at the end (final) the rest too. */
static int audio_pump(segenc *e, int final, segenc_out_fn out, void *arg)
{
    AVCodecContext *enc = e->enc;
    int fs = enc->frame_size > 0 ? enc->frame_size : 1024;
    int rc;

    while (av_audio_fifo_size(e->fifo) >= fs || (final && av_audio_fifo_size(e->fifo) > 0)) {
        int n = av_audio_fifo_size(e->fifo) < fs ? av_audio_fifo_size(e->fifo) : fs;
        AVFrame *f = e->conv;
        av_frame_unref(f);
        f->nb_samples = n;
        f->format = enc->sample_fmt;
        f->sample_rate = enc->sample_rate;
        rc = av_channel_layout_copy(&f->ch_layout, &enc->ch_layout);
        if (rc >= 0) {
            rc = av_frame_get_buffer(f, 0);
        }
        if (rc < 0) {
            return fail(e, rc, "no memory for an audio frame");
        }
        if (av_audio_fifo_read(e->fifo, (void **)f->data, n) != n) {
            return fail(e, AVERROR_BUG, "the sample FIFO came up short");
        }
        f->pts = e->next_pts;
        e->next_pts += n;
        rc = encode(e, f, out, arg);
        av_frame_unref(f);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* Converts n samples (in NULL: what the resampler still holds) into the
 * FIFO. */
static int audio_convert(segenc *e, const uint8_t **in, int n)
{
    int cap = swr_get_out_samples(e->swr, n);
    int got;
    int rc;

    if (cap <= 0) {
        return 0;
    }
    rc = cbuf_reserve(e, cap);
    if (rc < 0) {
        snprintf(e->err, sizeof(e->err), "Out of memory re-encoding the input's audio.");
        return OA_EIO;
    }
    got = swr_convert(e->swr, e->cbuf, cap, in, n);
    if (got < 0) {
        return fail(e, got, "resampling failed");
    }
    if (got > 0 && av_audio_fifo_write(e->fifo, (void **)e->cbuf, got) < got) {
        snprintf(e->err, sizeof(e->err), "Out of memory re-encoding the input's audio.");
        return OA_EIO;
    }
    return 0;
}

static int audio_frame(segenc *e, AVFrame *f, int64_t offset_us, segenc_out_fn out, void *arg)
{
    AVCodecContext *enc = e->enc;
    int64_t ts = f->best_effort_timestamp;
    int rc;

    if (e->swr == NULL || f->format != e->swr_fmt || f->sample_rate != e->swr_rate ||
        av_channel_layout_compare(&f->ch_layout, &e->swr_layout) != 0) {
        /* First frame, or the input's audio format changed. */
        swr_free(&e->swr);
        av_channel_layout_uninit(&e->swr_layout);
        rc = swr_alloc_set_opts2(&e->swr, &enc->ch_layout, enc->sample_fmt, enc->sample_rate,
                                 &f->ch_layout, f->format, f->sample_rate, 0, NULL);
        if (rc >= 0) {
            rc = swr_init(e->swr);
        }
        if (rc < 0) {
            swr_free(&e->swr);
            return fail(e, rc, "no resampler for its sample format");
        }
        e->swr_fmt = f->format;
        e->swr_rate = f->sample_rate;
        rc = av_channel_layout_copy(&e->swr_layout, &f->ch_layout);
        if (rc < 0) {
            return fail(e, rc, "out of memory");
        }
    }
    if (ts == AV_NOPTS_VALUE) {
        ts = f->pts;
    }
    if (ts != AV_NOPTS_VALUE) {
        int64_t at = av_rescale_q(ts, e->in_tb, enc->time_base) +
                     av_rescale_q(offset_us, AV_TIME_BASE_Q, enc->time_base);
        int64_t queued = av_audio_fifo_size(e->fifo);
        if (e->next_pts == AV_NOPTS_VALUE ||
            llabs(at - (e->next_pts + queued)) > (int64_t)(SEGENC_AUDIO_RESYNC_S *
                                                            enc->sample_rate)) {
            e->next_pts = at - queued;
        }
    } else if (e->next_pts == AV_NOPTS_VALUE) {
        e->next_pts = 0;
    }
    rc = audio_convert(e, (const uint8_t **)f->extended_data, f->nb_samples);
    if (rc < 0) {
        return rc;
    }
    return audio_pump(e, 0, out, arg);
}

int segenc_packet(segenc *e, const AVPacket *pkt, int64_t offset_us, segenc_out_fn out,
                  void *arg)
{
    int rc;

    e->err[0] = '\0';
    rc = avcodec_send_packet(e->dec, pkt);
    if (rc < 0 && rc != AVERROR_EOF) {
        if (pkt != NULL) {
            e->skipped++;
        }
        return 0;
    }
    for (;;) {
        rc = avcodec_receive_frame(e->dec, e->frame);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) {
            break;
        }
        if (rc < 0) {
            e->skipped++;
            break;
        }
        if (e->is_video) {
            rc = video_frame(e, e->frame, offset_us, out, arg);
        } else {
            rc = audio_frame(e, e->frame, offset_us, out, arg);
        }
        av_frame_unref(e->frame);
        if (rc < 0) {
            return rc;
        }
    }
    if (pkt == NULL) {
        /* Drained: ready for the input's next pass. */
        avcodec_flush_buffers(e->dec);
    }
    return 0;
}

void segenc_force_key(segenc *e)
{
    e->force_key = 1;
}

int segenc_finish(segenc *e, segenc_out_fn out, void *arg)
{
    int rc = segenc_packet(e, NULL, 0, out, arg);

    if (rc < 0) {
        return rc;
    }
    e->err[0] = '\0';
    if (!e->is_video && e->swr != NULL) {
        rc = audio_convert(e, NULL, 0);
        if (rc == 0) {
            rc = audio_pump(e, 1, out, arg);
        }
        if (rc < 0) {
            return rc;
        }
    }
    return encode(e, NULL, out, arg);
}

const AVCodecContext *segenc_encoder(const segenc *e)
{
    return e->enc;
}

const char *segenc_error(const segenc *e)
{
    return e->err;
}

uint64_t segenc_skipped(const segenc *e)
{
    return e->skipped;
}

void segenc_free(segenc **ep)
{
    segenc *e = *ep;
    if (e == NULL) {
        return;
    }
    avcodec_free_context(&e->dec);
    avcodec_free_context(&e->enc);
    av_frame_free(&e->frame);
    av_frame_free(&e->conv);
    av_packet_free(&e->pkt);
    sws_freeContext(e->sws);
    swr_free(&e->swr);
    av_channel_layout_uninit(&e->swr_layout);
    if (e->fifo != NULL) {
        av_audio_fifo_free(e->fifo);
    }
    if (e->cbuf != NULL) {
        av_freep(&e->cbuf[0]);
        av_freep(&e->cbuf);
    }
    av_free(e);
    *ep = NULL;
}

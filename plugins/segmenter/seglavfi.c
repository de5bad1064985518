/*
 * A filtergraph as the segmenter's input (seglavfi.h).
 */
#include "seglavfi.h"

#include "segdyn.h"

#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <stdio.h>
#include <string.h>

#include <openace/sdk.h>

struct seglavfi {
    const segdyn_avfilter *af; /* libavfilter, loaded at run time */
    char *graph_str;
    AVFilterGraph *graph;
    int n;                  /* outputs */
    AVFilterContext **sinks; /* by output, in the graph's order */
    int *stream;            /* stream index of each output */
    AVFrame **pending;      /* each output's next frame, or NULL */
    int *eof;
};

static void free_graph(seglavfi *g)
{
    for (int i = 0; i < g->n && g->pending != NULL; i++) {
        av_frame_free(&g->pending[i]);
        g->eof[i] = 0;
    }
    g->af->avfilter_graph_free(&g->graph);
}

/* Stream indexes: "outN" takes N when free, others the lowest free one. */
static void map_streams(seglavfi *g, AVFilterInOut *outs)
{
    AVFilterInOut *io;
    int i;

    for (i = 0; i < g->n; i++) {
        g->stream[i] = -1;
    }
    for (i = 0, io = outs; io != NULL; i++, io = io->next) {
        int idx = -1;
        int end = 0;
        int taken = 0;
        if (io->name == NULL || sscanf(io->name, "out%d%n", &idx, &end) != 1 ||
            io->name[end] != '\0' || idx < 0 || idx >= g->n) {
            continue;
        }
        for (int j = 0; j < i; j++) {
            taken |= g->stream[j] == idx;
        }
        if (!taken) {
            g->stream[i] = idx;
        }
    }
    for (i = 0; i < g->n; i++) {
        int idx = 0;
        int taken = 1;
        if (g->stream[i] >= 0) {
            continue;
        }
        while (taken) {
            taken = 0;
            for (int j = 0; j < g->n; j++) {
                taken |= g->stream[j] == idx;
            }
            idx += taken;
        }
        g->stream[i] = idx;
    }
}

static int alloc_arrays(seglavfi *g, int n)
{
    g->n = n;
    g->sinks = av_calloc((size_t)n, sizeof(*g->sinks));
    g->stream = av_calloc((size_t)n, sizeof(*g->stream));
    g->pending = av_calloc((size_t)n, sizeof(*g->pending));
    g->eof = av_calloc((size_t)n, sizeof(*g->eof));
    return g->sinks && g->stream && g->pending && g->eof ? 0 : AVERROR(ENOMEM);
}

/* Creates the sink of one output: yuv420p video or f32 audio. */
static int make_sink(seglavfi *g, AVFilterInOut *io, int i, char *reason, size_t len)
{
    static const enum AVPixelFormat pix[] = {AV_PIX_FMT_YUV420P, AV_PIX_FMT_NONE};
    static const enum AVSampleFormat smp[] = {AV_SAMPLE_FMT_FLT, AV_SAMPLE_FMT_NONE};
    enum AVMediaType type =
        g->af->avfilter_pad_get_type(io->filter_ctx->output_pads, io->pad_idx);
    char name[32];
    int rc;

    snprintf(name, sizeof(name), "oa_sink%d", i);
    if (type == AVMEDIA_TYPE_VIDEO) {
        rc = g->af->avfilter_graph_create_filter(&g->sinks[i],
                                                 g->af->avfilter_get_by_name("buffersink"), name,
                                                 NULL, NULL, g->graph);
        if (rc >= 0) {
            rc = av_opt_set_int_list(g->sinks[i], "pix_fmts", pix, AV_PIX_FMT_NONE,
                                     AV_OPT_SEARCH_CHILDREN);
        }
    } else if (type == AVMEDIA_TYPE_AUDIO) {
        rc = g->af->avfilter_graph_create_filter(&g->sinks[i],
                                                 g->af->avfilter_get_by_name("abuffersink"), name,
                                                 NULL, NULL, g->graph);
        if (rc >= 0) {
            rc = av_opt_set_int_list(g->sinks[i], "sample_fmts", smp, AV_SAMPLE_FMT_NONE,
                                     AV_OPT_SEARCH_CHILDREN);
        }
        if (rc >= 0) {
            rc = av_opt_set_int(g->sinks[i], "all_channel_counts", 1, AV_OPT_SEARCH_CHILDREN);
        }
    } else {
        snprintf(reason, len, "The filtergraph's output '%s' is neither audio nor video.",
                 io->name != NULL ? io->name : "?");
        return OA_EINVAL;
    }
    if (rc >= 0) {
        rc = g->af->avfilter_link(io->filter_ctx, (unsigned)io->pad_idx, g->sinks[i], 0);
    }
    if (rc < 0) {
        snprintf(reason, len, "Cannot connect the filtergraph's output '%s'.",
                 io->name != NULL ? io->name : "?");
        return OA_EINVAL;
    }
    return 0;
}

/* Parses and configures the graph; the first time (n == 0) also sizes the
 * arrays and maps the outputs to streams. */
static int build(seglavfi *g, char *reason, size_t len)
{
    AVFilterInOut *ins = NULL;
    AVFilterInOut *outs = NULL;
    AVFilterInOut *io;
    char err[128];
    int n = 0;
    int rc;
    int i;

    g->graph = g->af->avfilter_graph_alloc();
    if (g->graph == NULL) {
        snprintf(reason, len, "Out of memory setting up the filtergraph.");
        return OA_ENOMEM;
    }
    /* One thread per graph: the job's worker is the only user. */
    g->graph->nb_threads = 1;
    rc = g->af->avfilter_graph_parse_ptr(g->graph, g->graph_str, &ins, &outs, NULL);
    if (rc < 0) {
        av_make_error_string(err, sizeof(err), rc);
        snprintf(reason, len, "The filtergraph '%.200s' does not parse: %s.", g->graph_str,
                 err);
        rc = OA_EINVAL;
        goto end;
    }
    if (ins != NULL) {
        snprintf(reason, len, "The filtergraph '%.200s' has an open input; a generated "
                              "source must make its own frames.", g->graph_str);
        rc = OA_EINVAL;
        goto end;
    }
    for (io = outs; io != NULL; io = io->next) {
        n++;
    }
    if (n == 0) {
        snprintf(reason, len, "The filtergraph '%.200s' has no output.", g->graph_str);
        rc = OA_EINVAL;
        goto end;
    }
    if (g->n == 0) {
        if (alloc_arrays(g, n) < 0) {
            snprintf(reason, len, "Out of memory setting up the filtergraph.");
            rc = OA_ENOMEM;
            goto end;
        }
        map_streams(g, outs);
    } else if (n != g->n) {
        snprintf(reason, len, "The filtergraph changed its outputs.");
        rc = OA_EINVAL;
        goto end;
    }
    for (i = 0, io = outs; io != NULL; i++, io = io->next) {
        rc = make_sink(g, io, i, reason, len);
        if (rc != 0) {
            goto end;
        }
    }
    rc = g->af->avfilter_graph_config(g->graph, NULL);
    if (rc < 0) {
        av_make_error_string(err, sizeof(err), rc);
        snprintf(reason, len, "The filtergraph '%.200s' cannot be set up: %s.", g->graph_str,
                 err);
        rc = OA_EINVAL;
        goto end;
    }
    rc = 0;
end:
    g->af->avfilter_inout_free(&ins);
    g->af->avfilter_inout_free(&outs);
    return rc;
}

/* Describes each output as a stream of *ic, as raw video or PCM. */
static int describe(seglavfi *g, AVFormatContext *ic)
{
    for (int s = 0; s < g->n; s++) {
        if (avformat_new_stream(ic, NULL) == NULL) {
            return OA_ENOMEM;
        }
    }
    for (int i = 0; i < g->n; i++) {
        AVFilterContext *sink = g->sinks[i];
        AVStream *st = ic->streams[g->stream[i]];
        AVCodecParameters *par = st->codecpar;
        st->id = i;
        st->time_base = g->af->av_buffersink_get_time_base(sink);
        par->codec_type = g->af->av_buffersink_get_type(sink);
        par->format = g->af->av_buffersink_get_format(sink);
        if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
            par->codec_id = AV_CODEC_ID_RAWVIDEO;
            par->width = g->af->av_buffersink_get_w(sink);
            par->height = g->af->av_buffersink_get_h(sink);
            par->sample_aspect_ratio = g->af->av_buffersink_get_sample_aspect_ratio(sink);
            st->sample_aspect_ratio = par->sample_aspect_ratio;
            st->avg_frame_rate = g->af->av_buffersink_get_frame_rate(sink);
            st->r_frame_rate = st->avg_frame_rate;
        } else {
            par->codec_id = av_get_pcm_codec(AV_SAMPLE_FMT_FLT, -1);
            par->sample_rate = g->af->av_buffersink_get_sample_rate(sink);
            if (g->af->av_buffersink_get_ch_layout(sink, &par->ch_layout) < 0) {
                return OA_ENOMEM;
            }
            par->block_align = 4 * par->ch_layout.nb_channels;
            par->bit_rate = (int64_t)par->block_align * 8 * par->sample_rate;
        }
    }
    return 0;
}

int seglavfi_open(seglavfi **out, AVFormatContext **ic, const char *graph, char *reason,
                  size_t len)
{
    const segdyn_avfilter *af;
    seglavfi *g;
    int rc;

    *out = NULL;
    *ic = NULL;
    af = segdyn_avfilter_load(reason, len);
    if (af == NULL) {
        return OA_ENOSYS;
    }
    g = av_mallocz(sizeof(*g));
    if (g != NULL) {
        g->af = af;
        g->graph_str = av_strdup(graph);
    }
    if (g == NULL || g->graph_str == NULL) {
        av_free(g);
        snprintf(reason, len, "Out of memory setting up the filtergraph.");
        return OA_ENOMEM;
    }
    rc = build(g, reason, len);
    if (rc == 0) {
        *ic = avformat_alloc_context();
        rc = *ic != NULL ? describe(g, *ic) : OA_ENOMEM;
        if (rc != 0) {
            snprintf(reason, len, "Out of memory setting up the filtergraph.");
        }
    }
    if (rc != 0) {
        seglavfi_free(&g, ic);
        return rc;
    }
    *out = g;
    return 0;
}

/* Packs a frame of output i as a packet: whole image or interleaved
 * samples, as the stream's codec (raw video, PCM) reads them. */
static int to_packet(seglavfi *g, AVFormatContext *ic, int i, const AVFrame *f, AVPacket *pkt)
{
    AVStream *st = ic->streams[g->stream[i]];
    int size;
    int rc;

    if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
        AVRational fr = st->avg_frame_rate;
        size = av_image_get_buffer_size((enum AVPixelFormat)f->format, f->width, f->height, 1);
        if (size < 0) {
            return size;
        }
        rc = av_new_packet(pkt, size);
        if (rc < 0) {
            return rc;
        }
        rc = av_image_copy_to_buffer(pkt->data, size, (const uint8_t *const *)f->data,
                                     f->linesize, (enum AVPixelFormat)f->format, f->width,
                                     f->height, 1);
        if (rc < 0) {
            av_packet_unref(pkt);
            return rc;
        }
        if (fr.num > 0 && fr.den > 0) {
            pkt->duration = av_rescale_q(1, av_inv_q(fr), st->time_base);
        }
    } else {
        size = av_samples_get_buffer_size(NULL, f->ch_layout.nb_channels, f->nb_samples,
                                          (enum AVSampleFormat)f->format, 1);
        if (size < 0) {
            return size;
        }
        rc = av_new_packet(pkt, size);
        if (rc < 0) {
            return rc;
        }
        memcpy(pkt->data, f->data[0], (size_t)size);
        pkt->duration = av_rescale_q(f->nb_samples, (AVRational){1, f->sample_rate},
                                     st->time_base);
    }
    pkt->pts = f->pts;
    pkt->dts = f->pts;
    pkt->flags |= AV_PKT_FLAG_KEY;
    pkt->stream_index = g->stream[i];
    return 0;
}

int seglavfi_read(seglavfi *g, AVFormatContext *ic, AVPacket *pkt)
{
    int best = -1;
    int64_t best_us = 0;
    AVFrame *f;
    int rc;

    for (int i = 0; i < g->n; i++) {
        int64_t us;
        if (g->eof[i]) {
            continue;
        }
        if (g->pending[i] == NULL) {
            f = av_frame_alloc();
            if (f == NULL) {
                return AVERROR(ENOMEM);
            }
            rc = g->af->av_buffersink_get_frame(g->sinks[i], f);
            if (rc == AVERROR_EOF) {
                g->eof[i] = 1;
                av_frame_free(&f);
                continue;
            }
            if (rc < 0) {
                av_frame_free(&f);
                return rc;
            }
            g->pending[i] = f;
        }
        us = g->pending[i]->pts == AV_NOPTS_VALUE
                 ? 0
                 : av_rescale_q(g->pending[i]->pts,
                                g->af->av_buffersink_get_time_base(g->sinks[i]),
                                AV_TIME_BASE_Q);
        if (best < 0 || us < best_us) {
            best = i;
            best_us = us;
        }
    }
    if (best < 0) {
        return AVERROR_EOF;
    }
    f = g->pending[best];
    g->pending[best] = NULL;
    rc = to_packet(g, ic, best, f, pkt);
    av_frame_free(&f);
    return rc;
}

int seglavfi_rewind(seglavfi *g)
{
    char reason[300];

    free_graph(g);
    return build(g, reason, sizeof(reason)) == 0 ? 0 : AVERROR(EINVAL);
}

void seglavfi_free(seglavfi **gp, AVFormatContext **ic)
{
    seglavfi *g = *gp;

    if (ic != NULL && *ic != NULL) {
        avformat_free_context(*ic);
        *ic = NULL;
    }
    if (g == NULL) {
        return;
    }
    free_graph(g);
    av_freep(&g->sinks);
    av_freep(&g->stream);
    av_freep(&g->pending);
    av_freep(&g->eof);
    av_freep(&g->graph_str);
    av_free(g);
    *gp = NULL;
}

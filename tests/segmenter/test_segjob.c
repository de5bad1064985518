/*
 * Segmenter jobs (plugins/segmenter/segjob.h) on a real uv loop, over inputs
 * made by the ffmpeg CLI: by URL and by a byte source answering late and in
 * uneven sizes, and over lavfi filtergraphs; raw and PCM inputs are
 * encoded. Every chunk is checked as MPEG-TS (whole packets, a PAT first, a
 * keyframe first) by demuxing it back with libavformat, and the codecs of
 * the whole with ffprobe. Only media timestamps are checked, never the
 * wall clock (except that realtime is not faster than the input).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libavformat/avformat.h>

#include "segjob.h"
#include "testutil.h"

/* ---- inputs ------------------------------------------------------------------ */

static char *g_dir;
static char *g_ts;      /* 12 s, 320x240 25 fps H.264 (a keyframe each second) + AAC */
static char *g_mp4;     /* the same in MP4 (AVCC: the annexb filter path) */
static char *g_short;   /* 3 s of the same, MPEG-TS */
static char *g_long;    /* 40 s of the same, MPEG-TS */
static char *g_audio;   /* 6 s AAC only, MPEG-TS */
static char *g_raw;     /* 3 s 160x120 25 fps rawvideo + pcm_s16le in NUT */
static char *g_rawodd;  /* 2 s 161x121 rgb24 rawvideo + pcm_s16le stereo 44.1 kHz in MKV */
static char *g_h264pcm; /* 3 s H.264 (a keyframe each second) + pcm_s16le in MKV */
static char *g_garbage; /* random bytes */
static int g_ts_frames; /* video frames in g_ts */

static int run_ffmpeg(const char *args, const char *out)
{
    char cmd[2200];
    int n = snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -hide_banner -loglevel error -y %s '%s'",
                     args, out);
    if (n < 0 || (size_t)n >= sizeof(cmd)) {
        return -1;
    }
    return system(cmd);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* ---- demuxing from memory ------------------------------------------------------ */

typedef struct membuf {
    const uint8_t *data;
    size_t len;
    size_t pos;
} membuf;

static int mem_read(void *opaque, uint8_t *buf, int size)
{
    membuf *m = opaque;
    size_t n = m->len - m->pos;
    if (n == 0) {
        return AVERROR_EOF;
    }
    if (n > (size_t)size) {
        n = (size_t)size;
    }
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (int)n;
}

typedef struct demuxed {
    int video_frames;
    int audio_frames;
    int first_video_key; /* 1 key, 0 not, -1 no video */
} demuxed;

/* Demuxes MPEG-TS bytes (or a file when path is set) and counts frames. */
static int demux(const uint8_t *data, size_t len, const char *path, demuxed *out)
{
    AVFormatContext *ic = avformat_alloc_context();
    AVIOContext *pb = NULL;
    membuf m = {data, len, 0};
    AVPacket *pkt = av_packet_alloc();
    int rc;

    memset(out, 0, sizeof(*out));
    out->first_video_key = -1;
    if (path == NULL) {
        uint8_t *buf = av_malloc(65536);
        pb = avio_alloc_context(buf, 65536, 0, &m, mem_read, NULL, NULL);
        ic->pb = pb;
        ic->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    rc = avformat_open_input(&ic, path, path ? NULL : av_find_input_format("mpegts"), NULL);
    if (rc == 0) {
        rc = avformat_find_stream_info(ic, NULL);
    }
    while (rc >= 0) {
        AVStream *st;
        rc = av_read_frame(ic, pkt);
        if (rc < 0) {
            break;
        }
        st = ic->streams[pkt->stream_index];
        if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
            if (out->first_video_key < 0) {
                out->first_video_key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
            }
            out->video_frames++;
        } else if (st->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
            out->audio_frames++;
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_close_input(&ic);
    if (pb != NULL) {
        av_freep(&pb->buffer);
        avio_context_free(&pb);
    }
    return rc == AVERROR_EOF ? 0 : rc;
}

/* ---- a job run ---------------------------------------------------------------- */

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

static void stop_all(run *r);

static void on_watchdog(uv_timer_t *t)
{
    run *r = t->data;
    fail_msg("the job did not finish in time (%zu chunks)", r->nchunks);
}

static void on_open(void *arg, oa_media_job *job, int status, const char *reason)
{
    run *r = arg;
    if (r->closed) {
        r->after_close++;
    }
    assert_ptr_equal(job, r->job);
    r->open_calls++;
    r->open_status = status;
    if (status == 0) {
        assert_null(reason);
        r->info.size = sizeof(r->info);
        assert_int_equal(segjob_info(job, &r->info), 0);
    } else {
        assert_non_null(reason);
        snprintf(r->open_reason, sizeof(r->open_reason), "%s", reason);
        segjob_close(job, NULL, NULL);
        r->closed = 1;
        stop_all(r);
    }
}

static void on_chunk(void *arg, const oa_media_chunk *c)
{
    run *r = arg;
    got_chunk *g;
    if (r->closed) {
        r->after_close++;
    }
    assert_int_equal(r->open_calls, 1);
    assert_false(r->paused);
    assert_true(r->nchunks < 256);
    g = &r->chunks[r->nchunks++];
    g->c = *c;
    g->data = malloc(c->len);
    memcpy(g->data, c->data, c->len);
    g->c.data = g->data;
    if (r->close_after > 0 && r->nchunks == r->close_after) {
        segjob_close(r->job, NULL, NULL);
        r->closed = 1;
        stop_all(r);
    }
}

static void on_end(void *arg, oa_media_job *job, int status, const char *reason)
{
    run *r = arg;
    if (r->closed) {
        r->after_close++;
    }
    r->end_calls++;
    r->end_status = status;
    if (status != 0) {
        snprintf(r->end_reason, sizeof(r->end_reason), "%s", reason);
    }
    segjob_close(job, NULL, NULL);
    r->closed = 1;
    stop_all(r);
}

static void stop_all(run *r)
{
    uv_timer_stop(&r->watchdog);
    uv_timer_stop(&r->answer);
    uv_timer_stop(&r->pause_timer);
}

/* Uneven answer sizes, some of them not a multiple of anything. */
static size_t uneven(unsigned n, size_t want)
{
    static const size_t sizes[] = {1, 4093, 70001, 188 * 3 + 5, 262144, 999, 65536};
    size_t s = sizes[n % (sizeof(sizes) / sizeof(sizes[0]))];
    return s < want ? s : want;
}

static void answer_read(run *r)
{
    size_t n;
    r->rd_pending = 0;
    r->answers++;
    if (r->garbage_fail) {
        assert_int_equal(segjob_source_data(r->job, OA_EIO, NULL, 0), 0);
        return;
    }
    assert_true(r->rd_off < r->file_len);
    n = uneven(r->answers, r->rd_len);
    r->served += n;
    assert_int_equal(segjob_source_data(r->job, 0, r->file + r->rd_off, n), 0);
}

static void on_answer(uv_timer_t *t)
{
    run *r = t->data;
    if (r->rd_pending) {
        answer_read(r);
    }
}

static int src_read(void *arg, oa_media_job *job, uint64_t off, size_t len)
{
    run *r = arg;
    if (r->closed) {
        r->after_close++;
    }
    assert_ptr_equal(job, r->job);
    assert_false(r->rd_pending);
    assert_true(len > 0);
    assert_true(len <= 256 * 1024);
    r->reads++;
    r->rd_off = off;
    r->rd_len = len;
    r->rd_pending = 1;
    if (r->never_answer) {
        return 0;
    }
    if (r->reads % 3 == 0) {
        answer_read(r); /* inside the call */
    } else {
        uv_timer_start(&r->answer, on_answer, r->reads % 2, 0);
    }
    return 0;
}

static void run_init(run *r)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(uv_loop_init(&r->loop), 0);
    uv_timer_init(&r->loop, &r->watchdog);
    uv_timer_init(&r->loop, &r->answer);
    uv_timer_init(&r->loop, &r->pause_timer);
    r->watchdog.data = r;
    r->answer.data = r;
    r->pause_timer.data = r;
    uv_timer_start(&r->watchdog, on_watchdog, 120000, 0);
}

static int run_open_fmt(run *r, const char *url, const char *format, const char *src_path,
                        double target, int realtime, int loop)
{
    oa_segmenter_opts o;
    oa_media_source src;
    segjob_cbs cbs;
    memset(&o, 0, sizeof(o));
    o.size = sizeof(o);
    o.url = url;
    o.format = format;
    o.target_seconds = target;
    o.realtime = realtime;
    o.loop = loop;
    memset(&cbs, 0, sizeof(cbs));
    cbs.on_open = on_open;
    cbs.on_chunk = on_chunk;
    cbs.on_end = on_end;
    cbs.arg = r;
    if (src_path != NULL) {
        r->file = read_file(src_path, &r->file_len);
        assert_non_null(r->file);
        src.size = r->file_len;
        src.read = src_read;
        src.arg = r;
    }
    return segjob_open(&r->loop, &o, src_path ? &src : NULL, &cbs, &r->job, NULL, 0);
}

static int run_open(run *r, const char *url, const char *src_path, double target, int realtime,
                    int loop)
{
    return run_open_fmt(r, url, NULL, src_path, target, realtime, loop);
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

/* Runs the loop until the job is over, closes every handle and the loop. */
static void run_finish(run *r)
{
    uv_run(&r->loop, UV_RUN_DEFAULT);
    if (!r->closed) {
        segjob_close(r->job, NULL, NULL);
        r->closed = 1;
    }
    uv_walk(&r->loop, close_handle, NULL);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&r->loop), 0);
    assert_int_equal(r->after_close, 0);
}

/* Frees what the run kept (after the checks). */
static void run_free(run *r)
{
    for (size_t i = 0; i < r->nchunks; i++) {
        free(r->chunks[i].data);
    }
    r->nchunks = 0;
    free(r->file);
    r->file = NULL;
}

/* ---- checks ------------------------------------------------------------------- */

static unsigned pid_of(const uint8_t *p)
{
    return ((unsigned)(p[1] & 0x1f) << 8) | p[2];
}

/* Every chunk: whole packets, sync bytes, a PAT first, a keyframe first,
 * seq and timestamps continuous, durations near target; the last one
 * flagged; together they hold expect_frames video frames. */
static void check_chunks(run *r, double target, double key_interval, int expect_frames,
                         int has_video)
{
    size_t total = 0;
    uint8_t *all;
    demuxed d;
    int frames = 0;

    assert_true(r->nchunks >= 2);
    for (size_t i = 0; i < r->nchunks; i++) {
        const oa_media_chunk *c = &r->chunks[i].c;
        int last = i + 1 == r->nchunks;
        assert_int_equal(c->size, sizeof(oa_media_chunk));
        assert_int_equal(c->seq, i);
        assert_true(c->len > 0);
        assert_int_equal(c->len % OA_MEDIA_TS_PACKET, 0);
        for (size_t off = 0; off < c->len; off += OA_MEDIA_TS_PACKET) {
            if (c->data[off] != 0x47) {
                fail_msg("chunk %zu (%zu bytes): no sync byte at %zu", i, c->len, off);
            }
        }
        assert_int_equal(pid_of(c->data), 0);
        assert_true(c->wallclock_ms > 1500000000000LL);
        assert_int_equal(c->flags & OA_MEDIA_LAST, last ? OA_MEDIA_LAST : 0u);
        assert_int_equal(c->flags & OA_MEDIA_DISCONTINUITY, 0);
        if (!last) {
            assert_true(c->duration_us >= (int64_t)(target * 1e6) - 2000);
            assert_true(c->duration_us <= (int64_t)((target + key_interval) * 1e6) + 2000);
            assert_int_equal(c->pts_us + c->duration_us, r->chunks[i + 1].c.pts_us);
        } else {
            assert_true(c->duration_us > 0);
            assert_true(c->duration_us <= (int64_t)((target + key_interval) * 1e6) + 50000);
        }
        assert_int_equal(demux(c->data, c->len, NULL, &d), 0);
        if (has_video) {
            assert_int_equal(d.first_video_key, 1);
            assert_true(d.video_frames > 0);
        } else {
            assert_int_equal(d.first_video_key, -1);
            assert_true(d.audio_frames > 0);
        }
        frames += d.video_frames;
        total += c->len;
    }
    all = malloc(total);
    total = 0;
    for (size_t i = 0; i < r->nchunks; i++) {
        memcpy(all + total, r->chunks[i].c.data, r->chunks[i].c.len);
        total += r->chunks[i].c.len;
    }
    assert_int_equal(demux(all, total, NULL, &d), 0);
    if (has_video) {
        assert_int_equal(frames, expect_frames);
        assert_int_equal(d.video_frames, expect_frames);
    }
    free(all);
}

/* ffprobe counts the video frames of the chunks written one after another. */
static int ffprobe_frames(run *r)
{
    char *path = oa_test_path(g_dir, "concat.ts");
    char cmd[1024];
    FILE *f = fopen(path, "wb");
    FILE *p;
    int n = -1;
    for (size_t i = 0; i < r->nchunks; i++) {
        fwrite(r->chunks[i].c.data, 1, r->chunks[i].c.len, f);
    }
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
             "stream=nb_read_frames -of csv=p=0 '%s'",
             path);
    p = popen(cmd, "r");
    if (p != NULL) {
        if (fscanf(p, "%d", &n) != 1) {
            n = -1;
        }
        pclose(p);
    }
    free(path);
    return n;
}

/* ffprobe's codec names of the chunks written one after another, joined by
 * commas (e.g. "h264,aac"), into out. */
static void ffprobe_codecs(run *r, char *out, size_t len)
{
    char *path = oa_test_path(g_dir, "concat-codecs.ts");
    char cmd[1024];
    char line[64];
    FILE *f = fopen(path, "wb");
    FILE *p;

    out[0] = '\0';
    assert_non_null(f);
    for (size_t i = 0; i < r->nchunks; i++) {
        fwrite(r->chunks[i].c.data, 1, r->chunks[i].c.len, f);
    }
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -show_entries stream=codec_name -of csv=p=0 '%s'", path);
    p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof(line), p) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        /* ffprobe lists the streams of the program, then all streams. */
        if (line[0] == '\0') {
            break;
        }
        if (out[0] != '\0') {
            strncat(out, ",", len - strlen(out) - 1);
        }
        strncat(out, line, len - strlen(out) - 1);
    }
    pclose(p);
    free(path);
}

/* Chunks of a job closed before its input ended: seq in order, whole
 * packets, a PAT and a keyframe first, each one's duration within
 * [0.9, 1.1] x target and its pts where the previous one ended. */
static void check_open_chunks(run *r, double target, int has_audio)
{
    for (size_t i = 0; i < r->nchunks; i++) {
        const oa_media_chunk *c = &r->chunks[i].c;
        demuxed d;
        assert_int_equal(c->seq, i);
        assert_true(c->len > 0);
        assert_int_equal(c->len % OA_MEDIA_TS_PACKET, 0);
        assert_int_equal(c->data[0], 0x47);
        assert_int_equal(pid_of(c->data), 0);
        assert_int_equal(c->flags & OA_MEDIA_LAST, 0);
        assert_true(c->duration_us >= (int64_t)(0.9 * target * 1e6));
        assert_true(c->duration_us <= (int64_t)(1.1 * target * 1e6));
        if (i + 1 < r->nchunks) {
            assert_int_equal(c->pts_us + c->duration_us, r->chunks[i + 1].c.pts_us);
        }
        assert_int_equal(demux(c->data, c->len, NULL, &d), 0);
        assert_int_equal(d.first_video_key, 1);
        assert_true(d.video_frames > 0);
        if (has_audio && i > 0) {
            assert_true(d.audio_frames > 0);
        }
    }
}

/* ---- tests --------------------------------------------------------------------- */

static void test_url_ts(void **state)
{
    run r;
    (void)state;
    run_init(&r);
    assert_int_equal(run_open(&r, g_ts, NULL, 2, 0, 0), 0);
    r.info.size = sizeof(r.info);
    assert_int_equal(segjob_info(r.job, &r.info), OA_ESTATE);
    run_finish(&r);
    assert_int_equal(r.open_calls, 1);
    assert_int_equal(r.open_status, 0);
    assert_int_equal(r.end_calls, 1);
    assert_int_equal(r.end_status, 0);
    assert_true(r.info.has_video);
    assert_true(r.info.has_audio);
    assert_string_equal(r.info.video_codec, "h264");
    assert_string_equal(r.info.audio_codec, "aac");
    assert_int_equal(r.info.width, 320);
    assert_int_equal(r.info.height, 240);
    assert_true(r.info.duration_us > 11500000 && r.info.duration_us < 12500000);
    assert_true(r.info.bitrate > 0);
    assert_int_equal(r.nchunks, 6);
    check_chunks(&r, 2, 1, g_ts_frames, 1);
    assert_int_equal(ffprobe_frames(&r), g_ts_frames);
    run_free(&r);
}

static void test_url_mp4(void **state)
{
    run r;
    (void)state;
    run_init(&r);
    assert_int_equal(run_open(&r, g_mp4, NULL, 3, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_status, 0);
    assert_int_equal(r.end_status, 0);
    assert_int_equal(r.nchunks, 4);
    check_chunks(&r, 3, 1, g_ts_frames, 1);
    assert_int_equal(ffprobe_frames(&r), g_ts_frames);
    run_free(&r);
}

static void test_source_uneven_mp4(void **state)
{
    run r;
    (void)state;
    run_init(&r);
    /* MP4 from the ffmpeg CLI keeps its index at the end: reads seek. */
    assert_int_equal(run_open(&r, NULL, g_mp4, 2, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_status, 0);
    assert_int_equal(r.end_status, 0);
    assert_true(r.reads > 3);
    assert_int_equal(r.nchunks, 6);
    check_chunks(&r, 2, 1, g_ts_frames, 1);
    run_free(&r);
}

static void test_source_uneven_ts(void **state)
{
    run r;
    (void)state;
    run_init(&r);
    assert_int_equal(run_open(&r, NULL, g_ts, 1.5, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_status, 0);
    assert_int_equal(r.end_status, 0);
    /* Keyframes each second, target 1.5 s: chunks of 2 s. */
    assert_int_equal(r.nchunks, 6);
    check_chunks(&r, 1.5, 1, g_ts_frames, 1);
    run_free(&r);
}

static void test_audio_only(void **state)
{
    run r;
    (void)state;
    run_init(&r);
    assert_int_equal(run_open(&r, g_audio, NULL, 2, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_status, 0);
    assert_int_equal(r.end_status, 0);
    assert_false(r.info.has_video);
    assert_true(r.info.has_audio);
    assert_true(r.nchunks >= 3 && r.nchunks <= 4);
    check_chunks(&r, 2, 0.1, 0, 0);
    run_free(&r);
}

/* Pause right after open: nothing is delivered, and reading stops (the
 * count of reads holds still over several looks) well before the input
 * ends; resume delivers everything. */
static void on_pause_check(uv_timer_t *t)
{
    run *r = t->data;
    assert_int_equal(r->nchunks, 0);
    if (r->reads != r->reads_at_check || r->rd_pending) {
        r->reads_at_check = r->reads;
        r->stable_looks = 0;
    } else {
        r->stable_looks++;
    }
    if (r->stable_looks < 3) {
        r->looks++;
        /* 20 s of looks at most: a worker that never stops fails here. */
        assert_true(r->looks < 200);
        uv_timer_start(&r->pause_timer, on_pause_check, 100, 0);
        return;
    }
    /* Probing reads about 5 s of the input, a chunk 2 s more: far from all
     * of its 40 s. */
    assert_true(r->reads > 0);
    assert_true(r->served < r->file_len / 2);
    r->paused = 0;
    segjob_pause(r->job, 0);
}

static void test_pause_resume(void **state)
{
    run r;
    (void)state;
    run_init(&r);
    assert_int_equal(run_open(&r, NULL, g_long, 2, 0, 0), 0);
    segjob_pause(r.job, 1);
    r.paused = 1;
    uv_timer_start(&r.pause_timer, on_pause_check, 100, 0);
    run_finish(&r);
    assert_true(r.reads_at_check > 0);
    assert_int_equal(r.end_status, 0);
    assert_int_equal(r.nchunks, 20);
    check_chunks(&r, 2, 1, 1000, 1);
    run_free(&r);
}

static void test_close_mid_job(void **state)
{
    run r;
    (void)state;
    /* Inside on_chunk, by URL. */
    run_init(&r);
    r.close_after = 2;
    assert_int_equal(run_open(&r, g_ts, NULL, 1, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.nchunks, 2);
    assert_int_equal(r.end_calls, 0);

    /* With a source read never answered: the worker must still stop. */
    run_free(&r);
    run_init(&r);
    r.never_answer = 1;
    assert_int_equal(run_open(&r, NULL, g_ts, 2, 0, 0), 0);
    uv_run(&r.loop, UV_RUN_NOWAIT);
    while (r.reads == 0) {
        uv_run(&r.loop, UV_RUN_ONCE);
    }
    segjob_close(r.job, NULL, NULL);
    r.closed = 1;
    stop_all(&r);
    run_finish(&r);
    assert_int_equal(r.open_calls, 0);

    /* Right after open, before anything happened. */
    run_free(&r);
    run_init(&r);
    assert_int_equal(run_open(&r, g_ts, NULL, 2, 0, 0), 0);
    segjob_close(r.job, NULL, NULL);
    r.closed = 1;
    stop_all(&r);
    run_finish(&r);
    assert_int_equal(r.open_calls, 0);
    run_free(&r);
}

static void test_missing_file(void **state)
{
    run r;
    char *path = oa_test_path(g_dir, "no-such-file.ts");
    (void)state;
    run_init(&r);
    assert_int_equal(run_open(&r, path, NULL, 2, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_calls, 1);
    assert_true(r.open_status < 0);
    assert_int_equal(r.end_calls, 0);
    assert_non_null(strstr(r.open_reason, "no-such-file.ts"));
    assert_non_null(strstr(r.open_reason, "No such file"));
    free(path);
    run_free(&r);
}

static void test_garbage_source(void **state)
{
    run r;
    (void)state;
    run_init(&r);
    assert_int_equal(run_open(&r, NULL, g_garbage, 2, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_calls, 1);
    assert_true(r.open_status < 0);
    assert_int_equal(r.end_calls, 0);
    assert_non_null(strstr(r.open_reason, "byte source"));
    assert_int_equal(r.nchunks, 0);

    /* A source whose reads fail names the failure. */
    run_free(&r);
    run_init(&r);
    r.garbage_fail = 1;
    assert_int_equal(run_open(&r, NULL, g_ts, 2, 0, 0), 0);
    run_finish(&r);
    assert_true(r.open_status < 0);
    assert_non_null(strstr(r.open_reason, "the source failed a read"));
    run_free(&r);
}

/* Raw video and PCM audio, which MPEG-TS cannot carry, are encoded to H.264
 * and AAC: the chunks are those of any other input, keyframes where the
 * target wants them. */
static void test_raw_encoded(void **state)
{
    run r;
    char codecs[64];
    (void)state;
    run_init(&r);
    assert_int_equal(run_open(&r, g_raw, NULL, 1, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_calls, 1);
    assert_int_equal(r.open_status, 0);
    assert_int_equal(r.end_status, 0);
    assert_string_equal(r.info.video_codec, "h264");
    assert_string_equal(r.info.audio_codec, "aac");
    assert_int_equal(r.info.width, 160);
    assert_int_equal(r.info.height, 120);
    assert_true(r.info.bitrate >= 128000 + 150000);
    /* A keyframe each second exactly: 3 chunks of 25 frames. */
    assert_int_equal(r.nchunks, 3);
    check_chunks(&r, 1, 0.04, 75, 1);
    ffprobe_codecs(&r, codecs, sizeof(codecs));
    assert_string_equal(codecs, "h264,aac");
    assert_int_equal(ffprobe_frames(&r), 75);
    run_free(&r);

    /* By a byte source, RGB at an odd size (scaled to even), stereo 44.1 kHz
     * (kept: AAC has that rate), half-second chunks. */
    run_init(&r);
    assert_int_equal(run_open(&r, NULL, g_rawodd, 0.5, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_status, 0);
    assert_int_equal(r.end_status, 0);
    assert_string_equal(r.info.video_codec, "h264");
    assert_string_equal(r.info.audio_codec, "aac");
    assert_int_equal(r.info.width, 160);
    assert_int_equal(r.info.height, 120);
    /* 12.5 frames per target: a keyframe each 13 frames, 0.52 s. */
    assert_int_equal(r.nchunks, 4);
    check_chunks(&r, 0.5, 0.04, 50, 1);
    ffprobe_codecs(&r, codecs, sizeof(codecs));
    assert_string_equal(codecs, "h264,aac");
    run_free(&r);
}

/* H.264 is remuxed as it is while the PCM beside it is encoded. */
static void test_mixed_remux_encode(void **state)
{
    run r;
    char codecs[64];
    (void)state;
    run_init(&r);
    assert_int_equal(run_open(&r, g_h264pcm, NULL, 1, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_status, 0);
    assert_int_equal(r.end_status, 0);
    assert_string_equal(r.info.video_codec, "h264");
    assert_string_equal(r.info.audio_codec, "aac");
    assert_int_equal(r.info.width, 320);
    assert_int_equal(r.info.height, 240);
    assert_int_equal(r.nchunks, 3);
    check_chunks(&r, 1, 1, 75, 1);
    ffprobe_codecs(&r, codecs, sizeof(codecs));
    assert_string_equal(codecs, "h264,aac");
    run_free(&r);
}

/* A generated source (lavfi) with video and audio, as fast as it goes: a
 * graph of 5 s ends, and gives 5 chunks of 1 s, each with a PAT and a
 * keyframe first; ffprobe finds H.264 and AAC. */
static void test_lavfi_av(void **state)
{
    static const char *graph = "testsrc2=size=640x360:rate=25:duration=5[out0];"
                               "sine=frequency=440:sample_rate=48000:duration=5[out1]";
    run r;
    char codecs[64];
    demuxed d;
    (void)state;
    run_init(&r);
    assert_int_equal(run_open_fmt(&r, graph, "lavfi", NULL, 1, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_status, 0);
    assert_int_equal(r.end_status, 0);
    assert_true(r.info.has_video);
    assert_true(r.info.has_audio);
    assert_string_equal(r.info.video_codec, "h264");
    assert_string_equal(r.info.audio_codec, "aac");
    assert_int_equal(r.info.width, 640);
    assert_int_equal(r.info.height, 360);
    /* About 1 Mbit/s of video plus 128 kbit/s of audio. */
    assert_true(r.info.bitrate > 800000 && r.info.bitrate < 1500000);
    assert_int_equal(r.nchunks, 5);
    check_chunks(&r, 1, 0.04, 125, 1);
    for (size_t i = 0; i + 1 < r.nchunks; i++) {
        assert_true(r.chunks[i].c.duration_us >= 900000);
        assert_true(r.chunks[i].c.duration_us <= 1100000);
        assert_int_equal(demux(r.chunks[i].c.data, r.chunks[i].c.len, NULL, &d), 0);
        assert_true(d.audio_frames > 0);
    }
    ffprobe_codecs(&r, codecs, sizeof(codecs));
    assert_string_equal(codecs, "h264,aac");
    assert_int_equal(ffprobe_frames(&r), 125);
    run_free(&r);
}

/* An endless generated source named "lavfi:<graph>", video only, closed
 * after 6 chunks of 0.5 s. */
static void test_lavfi_endless(void **state)
{
    run r;
    char codecs[64];
    (void)state;
    run_init(&r);
    r.close_after = 6;
    assert_int_equal(run_open(&r, "lavfi:testsrc2=size=320x240:rate=25", NULL, 0.5, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_status, 0);
    assert_int_equal(r.end_calls, 0);
    assert_true(r.info.has_video);
    assert_false(r.info.has_audio);
    assert_string_equal(r.info.video_codec, "h264");
    assert_int_equal(r.nchunks, 6);
    check_open_chunks(&r, 0.5, 0);
    ffprobe_codecs(&r, codecs, sizeof(codecs));
    assert_string_equal(codecs, "h264");
    run_free(&r);
}

/* Realtime over an endless lavfi source: chunks come, and the job closes
 * cleanly in the middle, from a chunk and from a timer while it paces. */
static void on_close_timer(uv_timer_t *t)
{
    run *r = t->data;
    segjob_close(r->job, NULL, NULL);
    r->closed = 1;
    stop_all(r);
}

static void test_lavfi_realtime(void **state)
{
    static const char *graph = "testsrc2=size=640x360:rate=25[out0];"
                               "sine=frequency=440:sample_rate=48000[out1]";
    run r;
    (void)state;
    run_init(&r);
    r.close_after = 3;
    assert_int_equal(run_open_fmt(&r, graph, "lavfi", NULL, 0.5, 1, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_status, 0);
    assert_int_equal(r.end_calls, 0);
    assert_int_equal(r.nchunks, 3);
    check_open_chunks(&r, 0.5, 1);
    run_free(&r);

    run_init(&r);
    assert_int_equal(run_open_fmt(&r, graph, "lavfi", NULL, 1, 1, 0), 0);
    uv_timer_start(&r.pause_timer, on_close_timer, 1500, 0);
    run_finish(&r);
    assert_int_equal(r.open_status, 0);
    assert_int_equal(r.end_calls, 0);
    assert_true(r.nchunks <= 2);
    run_free(&r);
}

/* A raw file and a filtergraph played in a loop: encoding runs on across
 * passes, each pass begins with a keyframe, timestamps keep growing. */
static void test_raw_loop(void **state)
{
    run r;
    size_t disc = 0;
    (void)state;
    run_init(&r);
    r.close_after = 7;
    assert_int_equal(run_open(&r, g_raw, NULL, 1, 0, 1), 0);
    run_finish(&r);
    assert_int_equal(r.nchunks, 7);
    for (size_t i = 0; i < r.nchunks; i++) {
        demuxed d;
        const oa_media_chunk *c = &r.chunks[i].c;
        assert_int_equal(pid_of(c->data), 0);
        assert_int_equal(demux(c->data, c->len, NULL, &d), 0);
        assert_int_equal(d.first_video_key, 1);
        assert_int_equal(d.video_frames, 25);
        if (c->flags & OA_MEDIA_DISCONTINUITY) {
            assert_true(disc == 0 || i == disc + 3);
            disc = i;
        }
        if (i > 0) {
            assert_int_equal(c->pts_us, r.chunks[i - 1].c.pts_us + 1000000);
        }
    }
    assert_int_equal(disc, 6);
    run_free(&r);

    /* A 2 s filtergraph in a loop is built again at each end. */
    run_init(&r);
    r.close_after = 5;
    assert_int_equal(run_open_fmt(&r,
                                  "testsrc2=size=160x120:rate=25:duration=2[out0];"
                                  "sine=sample_rate=48000:duration=2[out1]",
                                  "lavfi", NULL, 1, 0, 1),
                     0);
    run_finish(&r);
    assert_int_equal(r.nchunks, 5);
    disc = 0;
    for (size_t i = 0; i < r.nchunks; i++) {
        demuxed d;
        const oa_media_chunk *c = &r.chunks[i].c;
        assert_int_equal(demux(c->data, c->len, NULL, &d), 0);
        assert_int_equal(d.first_video_key, 1);
        assert_int_equal(d.video_frames, 25);
        if (c->flags & OA_MEDIA_DISCONTINUITY) {
            disc += i;
        }
        if (i > 0) {
            assert_int_equal(c->pts_us, r.chunks[i - 1].c.pts_us + 1000000);
        }
    }
    assert_int_equal(disc, 2 + 4);
    run_free(&r);
}

/* A lavfi graph that does not parse fails the open with FFmpeg's reason;
 * lavfi with a byte source is refused. */
static void test_lavfi_bad(void **state)
{
    run r;
    (void)state;
    run_init(&r);
    assert_int_equal(run_open_fmt(&r, "nosuchfilter=1", "lavfi", NULL, 1, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_calls, 1);
    assert_true(r.open_status < 0);
    assert_non_null(strstr(r.open_reason, "nosuchfilter"));
    run_free(&r);

    run_init(&r);
    assert_int_equal(run_open_fmt(&r, NULL, "lavfi", g_raw, 1, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_status, OA_EINVAL);
    assert_non_null(strstr(r.open_reason, "filtergraph"));
    run_free(&r);
}

static void test_bad_arguments(void **state)
{
    uv_loop_t loop;
    oa_segmenter_opts o;
    oa_media_source src = {100, src_read, NULL};
    segjob_cbs cbs = {on_open, on_chunk, on_end, NULL, NULL, NULL};
    oa_media_job *job = NULL;
    char why[200];
    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    memset(&o, 0, sizeof(o));
    o.size = sizeof(o);
    /* Neither input, both inputs. */
    assert_int_equal(segjob_open(&loop, &o, NULL, &cbs, &job, why, sizeof(why)), OA_EINVAL);
    assert_non_null(strstr(why, "exactly one input"));
    o.url = g_ts;
    assert_int_equal(segjob_open(&loop, &o, &src, &cbs, &job, why, sizeof(why)), OA_EINVAL);
    /* Bad durations. */
    o.target_seconds = -1;
    assert_int_equal(segjob_open(&loop, &o, NULL, &cbs, &job, why, sizeof(why)), OA_EINVAL);
    assert_non_null(strstr(why, "target_seconds"));
    o.target_seconds = 4;
    o.max_seconds = 2;
    assert_int_equal(segjob_open(&loop, &o, NULL, &cbs, &job, why, sizeof(why)), OA_EINVAL);
    assert_non_null(strstr(why, "max_seconds"));
    /* A source of unknown size. */
    o.url = NULL;
    o.max_seconds = 0;
    src.size = 0;
    assert_int_equal(segjob_open(&loop, &o, &src, &cbs, &job, why, sizeof(why)), OA_EINVAL);
    assert_null(job);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Loop a 3 s file: the chunks run on past its end with timestamps that keep
 * growing, and the first chunk of the second pass is flagged. */
static void test_loop(void **state)
{
    run r;
    size_t disc = 0;
    (void)state;
    run_init(&r);
    r.close_after = 5;
    assert_int_equal(run_open(&r, g_short, NULL, 1, 0, 1), 0);
    run_finish(&r);
    assert_int_equal(r.nchunks, 5);
    for (size_t i = 0; i < r.nchunks; i++) {
        demuxed d;
        const oa_media_chunk *c = &r.chunks[i].c;
        assert_int_equal(c->seq, i);
        assert_int_equal(c->flags & OA_MEDIA_LAST, 0);
        assert_int_equal(pid_of(c->data), 0);
        assert_int_equal(demux(c->data, c->len, NULL, &d), 0);
        assert_int_equal(d.first_video_key, 1);
        if (c->flags & OA_MEDIA_DISCONTINUITY) {
            disc = i;
        }
        if (i > 0) {
            assert_true(c->pts_us >= r.chunks[i - 1].c.pts_us + 900000);
            assert_true(c->pts_us <= r.chunks[i - 1].c.pts_us + 1100000);
        }
    }
    assert_int_equal(disc, 3);
    run_free(&r);
}

/* Realtime: 3 s of input take about 3 s to arrive, never much less. */
static void test_realtime(void **state)
{
    run r;
    uint64_t t0 = uv_hrtime();
    (void)state;
    run_init(&r);
    assert_int_equal(run_open(&r, g_short, NULL, 1, 1, 0), 0);
    run_finish(&r);
    assert_int_equal(r.end_status, 0);
    assert_int_equal(r.nchunks, 3);
    /* The last chunk cannot be cut before the input's last frame is due. */
    assert_true(uv_hrtime() - t0 >= 2500000000ULL);
    check_chunks(&r, 1, 1, 75, 1);
    run_free(&r);
}

/* ---- setup ---------------------------------------------------------------------- */

static int count_input_frames(const char *path)
{
    demuxed d;
    if (demux(NULL, 0, path, &d) != 0) {
        return -1;
    }
    return d.video_frames;
}

static int setup(void **state)
{
    static const char *av = "-f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i "
                            "sine=frequency=440:sample_rate=48000 -c:v libx264 -preset "
                            "ultrafast -g 25 -keyint_min 25 -sc_threshold 0 -pix_fmt yuv420p "
                            "-c:a aac";
    char args[1024];
    uint8_t junk[100000];
    FILE *f;
    (void)state;
    g_dir = oa_test_tmpdir();
    g_ts = oa_test_path(g_dir, "in.ts");
    g_mp4 = oa_test_path(g_dir, "in.mp4");
    g_short = oa_test_path(g_dir, "short.ts");
    g_long = oa_test_path(g_dir, "long.ts");
    g_audio = oa_test_path(g_dir, "audio.ts");
    g_raw = oa_test_path(g_dir, "raw.nut");
    g_rawodd = oa_test_path(g_dir, "rawodd.mkv");
    g_h264pcm = oa_test_path(g_dir, "h264pcm.mkv");
    g_garbage = oa_test_path(g_dir, "garbage.bin");
    snprintf(args, sizeof(args), "%s -t 12 -f mpegts", av);
    if (run_ffmpeg(args, g_ts) != 0) {
        return -1;
    }
    snprintf(args, sizeof(args), "%s -t 12 -f mp4", av);
    if (run_ffmpeg(args, g_mp4) != 0) {
        return -1;
    }
    snprintf(args, sizeof(args), "%s -t 3 -f mpegts", av);
    if (run_ffmpeg(args, g_short) != 0) {
        return -1;
    }
    snprintf(args, sizeof(args), "%s -t 40 -f mpegts", av);
    if (run_ffmpeg(args, g_long) != 0) {
        return -1;
    }
    if (run_ffmpeg("-f lavfi -i sine=frequency=440:sample_rate=48000 -t 6 -c:a aac -f mpegts",
                   g_audio) != 0) {
        return -1;
    }
    if (run_ffmpeg("-f lavfi -i testsrc=size=160x120:rate=25 -f lavfi -i "
                   "sine=frequency=440:sample_rate=48000 -t 3 -c:v rawvideo -c:a pcm_s16le "
                   "-f nut",
                   g_raw) != 0) {
        return -1;
    }
    if (run_ffmpeg("-f lavfi -i testsrc=size=161x121:rate=25 -f lavfi -i "
                   "sine=frequency=440:sample_rate=44100 -t 2 -ac 2 -c:v rawvideo "
                   "-pix_fmt rgb24 -c:a pcm_s16le -allow_raw_vfw 1 -f matroska",
                   g_rawodd) != 0) {
        return -1;
    }
    if (run_ffmpeg("-f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i "
                   "sine=frequency=440:sample_rate=48000 -t 3 -c:v libx264 -preset ultrafast "
                   "-g 25 -keyint_min 25 -sc_threshold 0 -pix_fmt yuv420p -c:a pcm_s16le "
                   "-f matroska",
                   g_h264pcm) != 0) {
        return -1;
    }
    oa_test_rng_seed(7);
    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (uint8_t)oa_test_rng();
    }
    f = fopen(g_garbage, "wb");
    fwrite(junk, 1, sizeof(junk), f);
    fclose(f);
    g_ts_frames = count_input_frames(g_ts);
    return g_ts_frames == 300 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    oa_test_rmtree(g_dir);
    free(g_dir);
    free(g_ts);
    free(g_mp4);
    free(g_short);
    free(g_long);
    free(g_audio);
    free(g_raw);
    free(g_rawodd);
    free(g_h264pcm);
    free(g_garbage);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_ts),
        cmocka_unit_test(test_url_mp4),
        cmocka_unit_test(test_source_uneven_mp4),
        cmocka_unit_test(test_source_uneven_ts),
        cmocka_unit_test(test_audio_only),
        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_close_mid_job),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_garbage_source),
        cmocka_unit_test(test_raw_encoded),
        cmocka_unit_test(test_mixed_remux_encode),
        cmocka_unit_test(test_lavfi_av),
        cmocka_unit_test(test_lavfi_endless),
        cmocka_unit_test(test_lavfi_realtime),
        cmocka_unit_test(test_raw_loop),
        cmocka_unit_test(test_lavfi_bad),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_loop),
        cmocka_unit_test(test_realtime),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

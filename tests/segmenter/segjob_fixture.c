/*
 * The shared part of the segmenter job tests (segjob_fixture.h): a job run
 * on its own loop, the byte source, demuxing from memory, the common checks.
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

#include "segjob_fixture.h"
#include "testutil.h"

char *g_dir;

int fixture_setup(void)
{
    g_dir = oa_test_tmpdir();
    return g_dir != NULL ? 0 : -1;
}

void fixture_teardown(void)
{
    oa_test_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
}

/* Runs the ffmpeg CLI with args writing out; its exit status. */
int run_ffmpeg(const char *args, const char *out)
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

/* Demuxes MPEG-TS bytes (or a file when path is set) and counts frames. */
int demux(const uint8_t *data, size_t len, const char *path, demuxed *out)
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

/* The PID of the MPEG-TS packet at p. */
unsigned pid_of(const uint8_t *p)
{
    return ((unsigned)(p[1] & 0x1f) << 8) | p[2];
}

/* ---- a job run ---------------------------------------------------------------- */

static void on_watchdog(uv_timer_t *t)
{
    run *r = t->data;
    fail_msg("the job did not finish in time (%zu chunks)", r->nchunks);
}

/* The job's open callback: keeps the info, or the reason and closes. */
void run_on_open(void *arg, oa_media_job *job, int status, const char *reason)
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
        run_stop_all(r);
    }
}

/* The job's chunk callback: keeps a copy, closes after close_after. */
void run_on_chunk(void *arg, const oa_media_chunk *c)
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
        run_stop_all(r);
    }
}

/* The job's end callback: keeps the status and closes the job. */
void run_on_end(void *arg, oa_media_job *job, int status, const char *reason)
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
    run_stop_all(r);
}

/* Stops the run's timers (after the job was closed). */
void run_stop_all(run *r)
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

/* The byte source's read: answered inside the call or from a timer. */
int run_src_read(void *arg, oa_media_job *job, uint64_t off, size_t len)
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

/* Makes a fresh loop with its timers and a 120 s watchdog. */
void run_init(run *r)
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

/* Opens the job over url (and format) or over src_path as a byte source. */
int run_open_fmt(run *r, const char *url, const char *format, const char *src_path,
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
    cbs.on_open = run_on_open;
    cbs.on_chunk = run_on_chunk;
    cbs.on_end = run_on_end;
    cbs.arg = r;
    if (src_path != NULL) {
        r->file = read_file(src_path, &r->file_len);
        assert_non_null(r->file);
        src.size = r->file_len;
        src.read = run_src_read;
        src.arg = r;
    }
    return segjob_open(&r->loop, &o, src_path ? &src : NULL, &cbs, &r->job, NULL, 0);
}

/* run_open_fmt() without a format. */
int run_open(run *r, const char *url, const char *src_path, double target, int realtime,
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
void run_finish(run *r)
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
void run_free(run *r)
{
    for (size_t i = 0; i < r->nchunks; i++) {
        free(r->chunks[i].data);
    }
    r->nchunks = 0;
    free(r->file);
    r->file = NULL;
}

/* ---- checks ------------------------------------------------------------------- */

/* Every chunk: whole packets, sync bytes, a PAT first, a keyframe first,
 * seq and timestamps continuous, durations near target; the last one
 * flagged; together they hold expect_frames video frames. */
void check_chunks(run *r, double target, double key_interval, int expect_frames,
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

/* Writes the chunks one after another to name in g_dir; the malloc'd path. */
char *write_chunks(run *r, const char *name)
{
    char *path = oa_test_path(g_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < r->nchunks; i++) {
        fwrite(r->chunks[i].c.data, 1, r->chunks[i].c.len, f);
    }
    fclose(f);
    return path;
}

/* ffprobe counts the video frames of the chunks written one after another. */
int ffprobe_frames(run *r)
{
    char *path = write_chunks(r, "concat.ts");
    char cmd[1024];
    FILE *p;
    int n = -1;
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

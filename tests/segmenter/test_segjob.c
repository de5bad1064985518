/*
 * Segmenter jobs (plugins/segmenter/segjob.h) on a real uv loop, remuxing
 * inputs made by the ffmpeg CLI: by URL and by a byte source answering late
 * and in uneven sizes; pause, close in the middle, bad inputs, loop and
 * realtime. Every chunk is checked as MPEG-TS (whole packets, a PAT first, a
 * keyframe first) by demuxing it back with libavformat. Only media
 * timestamps are checked, never the wall clock (except that realtime is not
 * faster than the input). Encoding and lavfi sources: test_segenc.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "segjob_fixture.h"
#include "testutil.h"

/* ---- inputs ------------------------------------------------------------------ */

static char *g_ts;      /* 12 s, 320x240 25 fps H.264 (a keyframe each second) + AAC */
static char *g_mp4;     /* the same in MP4 (AVCC: the annexb filter path) */
static char *g_short;   /* 3 s of the same, MPEG-TS */
static char *g_long;    /* 40 s of the same, MPEG-TS */
static char *g_audio;   /* 6 s AAC only, MPEG-TS */
static char *g_garbage; /* random bytes */
static int g_ts_frames; /* video frames in g_ts */

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
    /* Inside run_on_chunk, by URL. */
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
    run_stop_all(&r);
    run_finish(&r);
    assert_int_equal(r.open_calls, 0);

    /* Right after open, before anything happened. */
    run_free(&r);
    run_init(&r);
    assert_int_equal(run_open(&r, g_ts, NULL, 2, 0, 0), 0);
    segjob_close(r.job, NULL, NULL);
    r.closed = 1;
    run_stop_all(&r);
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

static void test_bad_arguments(void **state)
{
    uv_loop_t loop;
    oa_segmenter_opts o;
    oa_media_source src = {100, run_src_read, NULL};
    segjob_cbs cbs = {run_on_open, run_on_chunk, run_on_end, NULL, NULL, NULL};
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
    if (fixture_setup() != 0) {
        return -1;
    }
    g_ts = oa_test_path(g_dir, "in.ts");
    g_mp4 = oa_test_path(g_dir, "in.mp4");
    g_short = oa_test_path(g_dir, "short.ts");
    g_long = oa_test_path(g_dir, "long.ts");
    g_audio = oa_test_path(g_dir, "audio.ts");
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
    fixture_teardown();
    free(g_ts);
    free(g_mp4);
    free(g_short);
    free(g_long);
    free(g_audio);
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
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_loop),
        cmocka_unit_test(test_realtime),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

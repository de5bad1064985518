/*
 * Segmenter jobs (plugins/segmenter/segjob.h) that encode: raw video and PCM
 * inputs made by the ffmpeg CLI are encoded to H.264 and AAC (alone or
 * beside remuxed H.264), and lavfi filtergraphs are generated, as fast as
 * they go, in real time and in a loop. Every chunk is checked as MPEG-TS (a
 * PAT first, a keyframe first) by demuxing it back with libavformat, and
 * the codecs of the whole with ffprobe. libavfilter (lavfi) and libavdevice
 * (device formats) are loaded at run time here, as in the plugin (segdyn.h).
 * Remuxing: test_segjob.c.
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

static char *g_raw;     /* 3 s 160x120 25 fps rawvideo + pcm_s16le in NUT */
static char *g_rawodd;  /* 2 s 161x121 rgb24 rawvideo + pcm_s16le stereo 44.1 kHz in MKV */
static char *g_h264pcm; /* 3 s H.264 (a keyframe each second) + pcm_s16le in MKV */

/* ---- checks ------------------------------------------------------------------- */

/* ffprobe's codec names of the chunks written one after another, joined by
 * commas (e.g. "h264,aac"), into out. */
static void ffprobe_codecs(run *r, char *out, size_t len)
{
    char *path;
    char cmd[1024];
    char line[64];
    FILE *p;

    out[0] = '\0';
    path = write_chunks(r, "concat-codecs.ts");
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
    run_stop_all(r);
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
 * a graph with an open input, one with no output, an empty graph and lavfi
 * with a byte source are refused with a sentence saying so. */
static void test_lavfi_bad(void **state)
{
    static const struct {
        const char *url;
        const char *says;
    } refused[] = {
        {"lavfi:scale=320:240", "has an open input"},
        {"lavfi:testsrc2=size=320x240,nullsink", "has no output"},
        {"lavfi:", "needs a filtergraph"},
    };
    run r;
    (void)state;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        run_init(&r);
        assert_int_equal(run_open(&r, refused[i].url, NULL, 1, 0, 0), 0);
        run_finish(&r);
        assert_int_equal(r.open_calls, 1);
        assert_int_equal(r.open_status, OA_EINVAL);
        assert_non_null(strstr(r.open_reason, refused[i].says));
        run_free(&r);
    }
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

/* Formats: one libavformat lacks loads libavdevice (segdyn.h) and is then
 * known, so the open fails on the missing device, not on the format; an
 * unknown one is refused with a sentence naming it. */
static void test_device_formats(void **state)
{
    run r;
    (void)state;
    run_init(&r);
    assert_int_equal(run_open_fmt(&r, "/nonexistent/oa-video99", "v4l2", NULL, 1, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_calls, 1);
    assert_true(r.open_status < 0);
    assert_non_null(strstr(r.open_reason, "Cannot open the input"));
    run_free(&r);

    run_init(&r);
    assert_int_equal(run_open_fmt(&r, "x", "oa-no-such-format", NULL, 1, 0, 0), 0);
    run_finish(&r);
    assert_int_equal(r.open_status, OA_EINVAL);
    assert_non_null(strstr(r.open_reason, "'oa-no-such-format' is not known"));
    run_free(&r);
}

/* ---- setup ---------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    if (fixture_setup() != 0) {
        return -1;
    }
    g_raw = oa_test_path(g_dir, "raw.nut");
    g_rawodd = oa_test_path(g_dir, "rawodd.mkv");
    g_h264pcm = oa_test_path(g_dir, "h264pcm.mkv");
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
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fixture_teardown();
    free(g_raw);
    free(g_rawodd);
    free(g_h264pcm);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_encoded),
        cmocka_unit_test(test_mixed_remux_encode),
        cmocka_unit_test(test_lavfi_av),
        cmocka_unit_test(test_lavfi_endless),
        cmocka_unit_test(test_lavfi_realtime),
        cmocka_unit_test(test_raw_loop),
        cmocka_unit_test(test_lavfi_bad),
        cmocka_unit_test(test_device_formats),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* The segmenter's cut decisions (plugins/segmenter/cut.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cut.h"

#define S(x) ((int64_t)((x) * 1000000.0))

/* Feeds a 25 fps video stream with a keyframe every key_every frames from
 * t0 and returns how many chunks began within n frames; starts[] gets their
 * frame numbers. */
static int feed_video(seg_cut *c, int64_t t0, int n, int key_every, int *starts, int max)
{
    int count = 0;
    for (int i = 0; i < n; i++) {
        int64_t pts = t0 + (int64_t)i * 40000;
        int key = key_every > 0 && i % key_every == 0;
        seg_cut_action a = seg_cut_packet(c, pts, 1, key);
        if (a == SEG_CUT_START) {
            if (count < max) {
                starts[count] = i;
            }
            count++;
        }
    }
    return count;
}

static void test_first_packet_starts_a_chunk(void **state)
{
    seg_cut c;
    (void)state;
    seg_cut_init(&c, 2, 8, 1);
    /* Audio before any video stays in the first chunk. */
    assert_int_equal(seg_cut_packet(&c, S(1.0), 0, 1), SEG_CUT_KEEP);
    assert_int_equal(seg_cut_packet(&c, S(1.0), 1, 1), SEG_CUT_START);
    assert_int_equal(c.start_us, S(1.0));

    seg_cut_init(&c, 2, 8, 0);
    assert_int_equal(seg_cut_packet(&c, S(5.0), 0, 1), SEG_CUT_START);
}

static void test_video_before_first_keyframe_is_dropped(void **state)
{
    seg_cut c;
    (void)state;
    seg_cut_init(&c, 2, 8, 1);
    assert_int_equal(seg_cut_packet(&c, S(0.00), 1, 0), SEG_CUT_DROP);
    assert_int_equal(seg_cut_packet(&c, S(0.04), 1, 0), SEG_CUT_DROP);
    assert_int_equal(seg_cut_packet(&c, S(0.04), 0, 0), SEG_CUT_KEEP);
    assert_int_equal(seg_cut_packet(&c, S(0.08), 1, 1), SEG_CUT_START);
    assert_int_equal(seg_cut_packet(&c, S(0.12), 1, 0), SEG_CUT_KEEP);
}

static void test_cut_at_keyframe_at_target(void **state)
{
    seg_cut c;
    int starts[16];
    (void)state;
    /* Keyframes every second, target 2 s: chunks begin every 50 frames. */
    seg_cut_init(&c, 2, 8, 1);
    assert_int_equal(feed_video(&c, S(1.4), 300, 25, starts, 16), 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(starts[i], i * 50);
    }
}

static void test_cut_at_first_keyframe_after_target(void **state)
{
    seg_cut c;
    int starts[16];
    (void)state;
    /* Keyframes every 1.2 s, target 2 s: the first keyframe at or past 2 s
     * is at 2.4 s (every second keyframe). */
    seg_cut_init(&c, 2, 8, 1);
    assert_int_equal(feed_video(&c, 0, 300, 30, starts, 16), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(starts[i], i * 60);
    }
}

static void test_rounding_below_target_still_cuts(void **state)
{
    seg_cut c;
    (void)state;
    seg_cut_init(&c, 2, 8, 1);
    assert_int_equal(seg_cut_packet(&c, 1000000, 1, 1), SEG_CUT_START);
    /* 1 us short of the target, as 90 kHz to us rounding can leave it. */
    assert_int_equal(seg_cut_packet(&c, 2999999, 1, 1), SEG_CUT_START);
    /* Well short: no cut. */
    assert_int_equal(seg_cut_packet(&c, 4000000, 1, 1), SEG_CUT_KEEP);
}

static void test_no_keyframe_forced_at_max(void **state)
{
    seg_cut c;
    int starts[16];
    (void)state;
    /* Only the first frame is a keyframe: cuts are forced every 3 s. */
    seg_cut_init(&c, 1, 3, 1);
    assert_int_equal(seg_cut_packet(&c, 0, 1, 1), SEG_CUT_START);
    assert_int_equal(feed_video(&c, 40000, 299, 0, starts, 16), 3);
    /* Frames at 3.0 s, 6.0 s, 9.0 s: indexes 74, 149, 224 of the tail. */
    assert_int_equal(starts[0], 74);
    assert_int_equal(starts[1], 149);
    assert_int_equal(starts[2], 224);
    assert_true(c.forced);
    /* A keyframe past the target cuts normally again. */
    assert_int_equal(seg_cut_packet(&c, S(10.2), 1, 1), SEG_CUT_START);
    assert_false(c.forced);
}

static void test_audio_never_cuts_video_input(void **state)
{
    seg_cut c;
    (void)state;
    seg_cut_init(&c, 2, 8, 1);
    assert_int_equal(seg_cut_packet(&c, 0, 1, 1), SEG_CUT_START);
    for (int i = 1; i < 1000; i++) {
        assert_int_equal(seg_cut_packet(&c, (int64_t)i * 21333, 0, 1), SEG_CUT_KEEP);
    }
}

static void test_audio_only_cuts_after_target(void **state)
{
    seg_cut c;
    int cuts = 0;
    int64_t last = -1;
    (void)state;
    seg_cut_init(&c, 2, 8, 0);
    /* AAC frames of 1024 samples at 48 kHz over 10 s. */
    for (int i = 0; i < 469; i++) {
        int64_t pts = (int64_t)i * 1024 * 1000000 / 48000;
        if (seg_cut_packet(&c, pts, 0, 1) == SEG_CUT_START) {
            if (last >= 0) {
                assert_true(pts - last >= S(2) - SEG_CUT_TOLERANCE_US);
                assert_true(pts - last < S(2) + 21334);
            }
            last = pts;
            cuts++;
        }
    }
    assert_int_equal(cuts, 5);
}

static void test_clock_jump_back_cuts_at_keyframe(void **state)
{
    seg_cut c;
    (void)state;
    seg_cut_init(&c, 2, 8, 1);
    assert_int_equal(seg_cut_packet(&c, S(100), 1, 1), SEG_CUT_START);
    assert_int_equal(seg_cut_packet(&c, S(100.5), 1, 0), SEG_CUT_KEEP);
    assert_int_equal(seg_cut_packet(&c, S(1), 1, 0), SEG_CUT_KEEP);
    assert_int_equal(seg_cut_packet(&c, S(1.04), 1, 1), SEG_CUT_START);
    assert_int_equal(c.start_us, S(1.04));
}

static void test_reset_and_defaults(void **state)
{
    seg_cut c;
    (void)state;
    /* A max below the target is raised to it. */
    seg_cut_init(&c, 2, 1, 1);
    assert_int_equal(c.max_us, S(2));
    assert_int_equal(seg_cut_packet(&c, S(0), 1, 1), SEG_CUT_START);
    assert_int_equal(seg_cut_packet(&c, S(0.5), 1, 1), SEG_CUT_KEEP);
    seg_cut_reset(&c);
    /* After a reset the next keyframe begins a chunk whatever its time. */
    assert_int_equal(seg_cut_packet(&c, S(0.6), 1, 0), SEG_CUT_DROP);
    assert_int_equal(seg_cut_packet(&c, S(0.64), 1, 1), SEG_CUT_START);
}

static void put_packet(uint8_t *p, unsigned pid, uint8_t fill)
{
    memset(p, fill, 188);
    p[0] = 0x47;
    p[1] = (uint8_t)(0x40 | (pid >> 8));
    p[2] = (uint8_t)(pid & 0xff);
}

static void test_pat_first(void **state)
{
    uint8_t ts[6 * 188];
    (void)state;
    /* SDT, PAT, PMT, video, video, SDT. */
    put_packet(ts, 0x11, 1);
    put_packet(ts + 188, 0, 2);
    put_packet(ts + 376, 0x1000, 3);
    put_packet(ts + 564, 0x100, 4);
    put_packet(ts + 752, 0x100, 5);
    put_packet(ts + 940, 0x11, 6);
    assert_int_equal(seg_ts_pat_first(ts, sizeof(ts)), 1);
    assert_int_equal(ts[2], 0x00);
    assert_int_equal(ts[3], 2);
    assert_int_equal(ts[188 + 2], 0x00);
    assert_int_equal(ts[188 + 3], 3);
    assert_int_equal(ts[376 + 2], 0x11);
    assert_int_equal(ts[376 + 3], 1);
    assert_int_equal(ts[564 + 3], 4);
    /* Already in order: unchanged. */
    assert_int_equal(seg_ts_pat_first(ts, sizeof(ts)), 1);
    assert_int_equal(ts[3], 2);
    /* No PAT after the SDT: left alone and reported. */
    put_packet(ts, 0x11, 1);
    put_packet(ts + 188, 0x100, 2);
    assert_int_equal(seg_ts_pat_first(ts, sizeof(ts)), 0);
    assert_int_equal(ts[3], 1);
    /* Too short or not TS. */
    assert_int_equal(seg_ts_pat_first(ts, 100), 0);
    ts[0] = 0;
    assert_int_equal(seg_ts_pat_first(ts, sizeof(ts)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_packet_starts_a_chunk),
        cmocka_unit_test(test_video_before_first_keyframe_is_dropped),
        cmocka_unit_test(test_cut_at_keyframe_at_target),
        cmocka_unit_test(test_cut_at_first_keyframe_after_target),
        cmocka_unit_test(test_rounding_below_target_still_cuts),
        cmocka_unit_test(test_no_keyframe_forced_at_max),
        cmocka_unit_test(test_audio_never_cuts_video_input),
        cmocka_unit_test(test_audio_only_cuts_after_target),
        cmocka_unit_test(test_clock_jump_back_cuts_at_keyframe),
        cmocka_unit_test(test_reset_and_defaults),
        cmocka_unit_test(test_pat_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

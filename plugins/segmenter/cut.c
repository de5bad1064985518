/* The cut decision (cut.h). */
#include "cut.h"

#include <string.h>

#include <openace/media.h>

void seg_cut_init(seg_cut *c, double target_s, double max_s, int has_video)
{
    c->target_us = (int64_t)(target_s * 1e6);
    c->max_us = (int64_t)(max_s * 1e6);
    if (c->max_us < c->target_us) {
        c->max_us = c->target_us;
    }
    c->has_video = has_video;
    c->started = 0;
    c->start_us = 0;
    c->forced = 0;
}

void seg_cut_reset(seg_cut *c)
{
    c->started = 0;
    c->forced = 0;
}

static seg_cut_action begin(seg_cut *c, int64_t pts_us, int forced)
{
    c->started = 1;
    c->start_us = pts_us;
    c->forced = forced;
    return SEG_CUT_START;
}

seg_cut_action seg_cut_packet(seg_cut *c, int64_t pts_us, int is_video, int is_key)
{
    int64_t elapsed;

    if (c->has_video && !is_video) {
        /* Audio before the first keyframe goes into the first chunk. */
        return SEG_CUT_KEEP;
    }
    if (!c->started) {
        if (c->has_video && !is_key) {
            return SEG_CUT_DROP;
        }
        return begin(c, pts_us, 0);
    }
    elapsed = pts_us - c->start_us;
    if (!c->has_video || is_key) {
        if (elapsed >= c->target_us - SEG_CUT_TOLERANCE_US || elapsed < 0) {
            return begin(c, pts_us, 0);
        }
        return SEG_CUT_KEEP;
    }
    if (elapsed >= c->max_us - SEG_CUT_TOLERANCE_US) {
        return begin(c, pts_us, 1);
    }
    return SEG_CUT_KEEP;
}

/* ---- chunk heads ------------------------------------------------------------ */

#define TS_PID_PAT 0x0000u
#define TS_PID_SDT 0x0011u
/* SDT packets looked past for the PAT. */
#define TS_HEAD_MAX 8

static unsigned ts_pid(const uint8_t *p)
{
    return ((unsigned)(p[1] & 0x1f) << 8) | p[2];
}

int seg_ts_pat_first(uint8_t *data, size_t len)
{
    uint8_t sdt[TS_HEAD_MAX * OA_MEDIA_TS_PACKET];
    size_t n = len / OA_MEDIA_TS_PACKET;
    size_t k = 0;

    if (n == 0 || data[0] != 0x47) {
        return 0;
    }
    while (k < n && k < TS_HEAD_MAX && ts_pid(data + k * OA_MEDIA_TS_PACKET) == TS_PID_SDT) {
        k++;
    }
    if (k == 0) {
        return ts_pid(data) == TS_PID_PAT;
    }
    /* Needs the PAT and one more packet (the PMT) right after the SDTs. */
    if (k + 2 > n || ts_pid(data + k * OA_MEDIA_TS_PACKET) != TS_PID_PAT) {
        return 0;
    }
    memcpy(sdt, data, k * OA_MEDIA_TS_PACKET);
    memmove(data, data + k * OA_MEDIA_TS_PACKET, 2 * OA_MEDIA_TS_PACKET);
    memcpy(data + 2 * OA_MEDIA_TS_PACKET, sdt, k * OA_MEDIA_TS_PACKET);
    return 1;
}

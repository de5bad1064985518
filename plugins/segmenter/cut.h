/*
 * Where the segmenter cuts: the pure decision, packet by packet, of whether
 * a new chunk begins before a packet. No FFmpeg, no threads; tests/segmenter
 * checks it on made-up timelines.
 *
 * With video in the input, chunks begin only at video packets: at the first
 * keyframe whose pts is at least target after the chunk's start (or earlier
 * than the start: the input's clock jumped back), or at any video frame once
 * max has passed (a stream with rare keyframes). Video frames before the
 * first keyframe are dropped, so the first chunk starts with one. Audio
 * packets never cut a video input. An input without video cuts at the first
 * packet at least target after the chunk's start.
 */
#ifndef OA_SEGMENTER_CUT_H
#define OA_SEGMENTER_CUT_H

#include <stddef.h>
#include <stdint.h>

/* Timestamps this close below the target still count as reaching it, so
 * that rounding to microseconds does not push a cut one keyframe later. */
#define SEG_CUT_TOLERANCE_US 1000

typedef enum seg_cut_action {
    SEG_CUT_KEEP = 0,  /* the packet goes into the current chunk */
    SEG_CUT_START = 1, /* a new chunk begins with this packet (also the first one) */
    SEG_CUT_DROP = 2   /* video before the first keyframe: skip the packet */
} seg_cut_action;

typedef struct seg_cut {
    int64_t target_us;
    int64_t max_us;
    int has_video; /* the input has a video stream: cut at video packets only */
    int started;   /* a chunk is open */
    int64_t start_us; /* pts of the packet that began the open chunk */
    int forced;    /* the open chunk began without a keyframe */
} seg_cut;

/* Sets up a cutter for chunks of target_s seconds, forced after max_s
 * seconds without a keyframe (max_s is raised to target_s when smaller). */
void seg_cut_init(seg_cut *c, double target_s, double max_s, int has_video);

/* Decides what happens to a packet with presentation time pts_us. */
seg_cut_action seg_cut_packet(seg_cut *c, int64_t pts_us, int is_video, int is_key);

/* Forgets the open chunk: the next packet starts a new one as if it were the
 * first (used when a looping input restarts). */
void seg_cut_reset(seg_cut *c);

/* Makes a chunk begin with its PAT: FFmpeg's MPEG-TS muxer writes its SDT
 * (PID 0x11) before the PAT and PMT it resends. When data (whole 188-byte
 * packets) starts with SDT packets followed by the PAT and the PMT, the SDT
 * packets are moved behind the PMT; packets of different PIDs may be
 * reordered without touching their continuity counters. Returns 1 when the
 * chunk now starts with a PAT, 0 when it could not be arranged. */
int seg_ts_pat_first(uint8_t *data, size_t len);

#endif

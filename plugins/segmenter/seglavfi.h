/*
 * A generated source: an FFmpeg filtergraph ("lavfi", e.g.
 * "testsrc2=size=640x360:rate=25[out0];sine=frequency=440[out1]") run with
 * libavfilter (loaded at run time by the first graph, segdyn.h) and read as
 * packets of raw video (yuv420p) and PCM audio (f32le), as libavdevice's
 * lavfi input would give them. The segmenter does not use libavdevice's
 * lavfi for it: in FFmpeg 5.1 that input leaks a frame each time a graph
 * with two outputs is closed before its end (the buffersink keeps the frame
 * lavfi peeked at). Here every frame taken from
 * the graph is ours and freed on close.
 *
 * Outputs named "outN" become stream N (as with libavdevice); others take
 * the next free index. Runs on a job's worker thread (segwork.h).
 */
#ifndef OA_SEGMENTER_SEGLAVFI_H
#define OA_SEGMENTER_SEGLAVFI_H

#include <libavformat/avformat.h>

typedef struct seglavfi seglavfi;

/* Builds the graph and an input context *ic (no demuxer: read it with
 * seglavfi_read(), free it with seglavfi_free()) whose streams describe the
 * graph's outputs. Returns 0, or OA_EINVAL (the graph does not parse or has
 * an open input or an output other than audio or video), OA_ENOSYS
 * (libavfilter cannot be loaded), OA_ENOMEM, with a sentence in reason. */
int seglavfi_open(seglavfi **out, AVFormatContext **ic, const char *graph, char *reason,
                  size_t len);

/* The next packet, from the output whose next frame comes first. Returns 0,
 * AVERROR_EOF when every output ended, or another AVERROR. */
int seglavfi_read(seglavfi *g, AVFormatContext *ic, AVPacket *pkt);

/* Builds the graph again, to play it from its start (a looping input).
 * Returns 0 or an AVERROR. */
int seglavfi_rewind(seglavfi *g);

/* Frees the graph, the frames it gave, and *ic; both pointers become NULL. */
void seglavfi_free(seglavfi **g, AVFormatContext **ic);

#endif

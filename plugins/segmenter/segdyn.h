/*
 * FFmpeg libraries the segmenter loads only when a job needs them, so that
 * an engine which never reads a generated source or a capture device does
 * not map them (libavfilter and libavdevice with their dependencies cost
 * about 16 MB of resident memory per process):
 *   - libavfilter, for "lavfi" inputs (seglavfi.c), through a table of the
 *     few functions the segmenter calls;
 *   - libavdevice, whose only use is avdevice_register_all(), for input
 *     formats libavformat does not know by itself (v4l2, alsa, x11grab...).
 * Each library is loaded with dlopen() by the SONAME of the headers the
 * segmenter was built against, at most once per process, and never
 * unloaded. Both functions may be called from any thread.
 */
#ifndef OA_SEGMENTER_SEGDYN_H
#define OA_SEGMENTER_SEGDYN_H

#include <stddef.h>

#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>

/* The libavfilter functions the segmenter calls, X(name) for each. */
#define SEGDYN_AVFILTER_FUNCS(X)                                                              \
    X(avfilter_get_by_name)                                                                   \
    X(avfilter_pad_get_type)                                                                  \
    X(avfilter_link)                                                                          \
    X(avfilter_graph_alloc)                                                                   \
    X(avfilter_graph_free)                                                                    \
    X(avfilter_graph_create_filter)                                                           \
    X(avfilter_graph_parse_ptr)                                                               \
    X(avfilter_graph_config)                                                                  \
    X(avfilter_inout_free)                                                                    \
    X(av_buffersink_get_frame)                                                                \
    X(av_buffersink_get_type)                                                                 \
    X(av_buffersink_get_time_base)                                                            \
    X(av_buffersink_get_format)                                                               \
    X(av_buffersink_get_frame_rate)                                                           \
    X(av_buffersink_get_w)                                                                    \
    X(av_buffersink_get_h)                                                                    \
    X(av_buffersink_get_sample_aspect_ratio)                                                  \
    X(av_buffersink_get_sample_rate)                                                          \
    X(av_buffersink_get_ch_layout)

/* Pointers to those functions, each of the type the headers declare, named
 * as the function: af->avfilter_graph_alloc(). */
typedef struct segdyn_avfilter {
#define SEGDYN_FIELD(name) __typeof__(&name) name;
    SEGDYN_AVFILTER_FUNCS(SEGDYN_FIELD)
#undef SEGDYN_FIELD
} segdyn_avfilter;

/* Returns libavfilter's function table, loading the library the first
 * time; or NULL, with a sentence saying what to install in reason, when the
 * library cannot be loaded or lacks one of the functions. */
const segdyn_avfilter *segdyn_avfilter_load(char *reason, size_t len);

/* Loads libavdevice the first time and registers its devices with
 * libavformat (avdevice_register_all()). Returns 0, or OA_ENOSYS with a
 * sentence saying what to install in reason. */
int segdyn_avdevice_register(char *reason, size_t len);

#endif

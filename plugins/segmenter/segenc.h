/*
 * Re-encoding one input stream that MPEG-TS cannot carry as it is (raw
 * video, PCM audio, a codec without a TS stream type): libavcodec decodes
 * it, libswscale turns video into yuv420p and libswresample turns audio into
 * the encoder's sample format, and libavcodec encodes video as H.264
 * (libx264: preset ultrafast, tune zerolatency, a keyframe every target
 * chunk duration) and audio as AAC (the native encoder, 128 kbit/s, whole
 * 1024-sample frames through an AVAudioFifo). Runs on a job's worker thread
 * (segwork.h); no threads or callbacks of its own besides the output
 * function it is given.
 *
 * Timestamps: encoded packets carry the input's timestamps shifted by the
 * offset the caller gives (a looping input's later passes), in the encoder's
 * time base, so the output runs on without a jump.
 */
#ifndef OA_SEGMENTER_SEGENC_H
#define OA_SEGMENTER_SEGENC_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

typedef struct segenc segenc;

/* Receives each encoded packet (pkt's timestamps in tb); the callee may
 * modify and unreference pkt. Returns 0, or < 0 to stop (passed back to the
 * caller of segenc_packet() / segenc_finish()). */
typedef int (*segenc_out_fn)(void *arg, AVPacket *pkt, AVRational tb, int is_video);

/* Opens a decoder for the input stream in and an H.264 encoder for it with
 * a keyframe every target_s seconds; ic is the input the stream belongs to
 * (for its frame rate). Returns 0 and the transcoder in *out (freed with
 * segenc_free()), or OA_ENOSYS (no decoder or no H.264 encoder in this
 * FFmpeg), OA_EINVAL (the encoder refused the stream), OA_ENOMEM, with a
 * sentence in reason. */
int segenc_open_video(segenc **out, AVFormatContext *ic, const AVStream *in, double target_s,
                      char *reason, size_t len);

/* Opens a decoder for the audio stream in and an AAC encoder for it: the
 * input's sample rate when AAC has it (48 kHz otherwise), mono stays mono,
 * anything else becomes stereo. Errors as segenc_open_video(). */
int segenc_open_audio(segenc **out, const AVStream *in, char *reason, size_t len);

/* The encoder, for the output stream's parameters and the job's facts. */
const AVCodecContext *segenc_encoder(const segenc *e);

/* Decodes a packet of the input stream (pkt may be NULL: drains the decoder
 * and resets it for a new pass of a looping input) and encodes what it
 * yields, timestamps shifted by offset_us; every packet out goes to out().
 * A packet the decoder refuses is skipped (counted in segenc_skipped()).
 * Returns 0, out()'s code, or OA_EIO with a sentence in segenc_error(). */
int segenc_packet(segenc *e, const AVPacket *pkt, int64_t offset_us, segenc_out_fn out,
                  void *arg);

/* Makes the next video frame a keyframe (the first of a looping input's new
 * pass, which begins a chunk). No effect on audio. */
void segenc_force_key(segenc *e);

/* At the end of the input: drains the decoder, the resampler, the sample
 * FIFO and the encoder, every packet to out(). Returns as segenc_packet(). */
int segenc_finish(segenc *e, segenc_out_fn out, void *arg);

/* The sentence of the last OA_EIO, "" when none. */
const char *segenc_error(const segenc *e);

/* Input packets the decoder refused so far. */
uint64_t segenc_skipped(const segenc *e);

/* Frees a transcoder and everything it holds; *e becomes NULL. */
void segenc_free(segenc **e);

#endif

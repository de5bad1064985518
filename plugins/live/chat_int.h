/*
 * live: what chat.c (history, messages, commands, lifecycle) and
 * chat_http.c (HTTP routes, SSE streams) share. Internal to the chat: not
 * part of chat.h, included by these two files only. Loop thread only.
 */
#ifndef OA_LIVE_CHAT_INT_H
#define OA_LIVE_CHAT_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "chat.h"
#include "livecore.h"

#define MAX_MUTES 256u                   /* mutes remembered per stream */
#define MUTE_DEFAULT_MINUTES 10
#define API_PREFIX "/api/live"

typedef struct hist_entry {
    uint64_t recv_ms;   /* the host's monotonic clock when it arrived */
    char *frame;        /* the whole SSE frame */
    size_t frame_len;
    size_t json_off;    /* the JSON data inside frame */
    size_t json_len;
} hist_entry;

typedef struct mute_entry {
    uint8_t target[OA_LC_KEY_LEN];
    int64_t until;      /* unix seconds */
} mute_entry;

typedef struct chat_stream {
    struct chat_stream *next;
    uint8_t id[OA_LC_ID_LEN];
    char hex[41];
    uint8_t pub[OA_LC_KEY_LEN]; /* the broadcaster's key */
    int refs;                   /* stream_open calls not yet closed */
    hist_entry *ring;
    size_t cap, head, count, bytes;
    uint64_t first_id;          /* id of ring[head] */
    uint64_t next_id;           /* id the next entry gets */
    mute_entry mutes[MAX_MUTES];
    size_t nmutes;
} chat_stream;

struct lv_chat {
    lv_chat_host host;
    oa_timer *tick;
    chat_stream *streams;
    uint8_t node_pub[OA_LC_KEY_LEN]; /* this engine's chat key */
    uint64_t seq;               /* last seq this engine signed (grows, starts at unix ms) */
    size_t nclients;            /* SSE clients (chat_http.c) */
};

/* ---- chat.c ----------------------------------------------------------------- */

/* Returns the host's monotonic clock in ms. */
uint64_t chat_mono_ms(lv_chat *c);
/* Decodes exactly 2*n hex digits of s into n bytes: 0 or OA_EINVAL. */
int chat_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n);
/* Returns the open stream with this content ID, or NULL. */
chat_stream *chat_find_stream(lv_chat *c, const uint8_t id[20]);
/* Returns the history entry numbered id, or NULL when it is not (or no
 * longer) in the ring. */
hist_entry *chat_hist_at(chat_stream *st, uint64_t id);
/* Signs text as this engine's message on stream id and hands it to the
 * swarm; *seq gets its seq. 0, or OA_E* with a sentence in err. */
int chat_send_text(lv_chat *c, const uint8_t id[20], const char *text, uint64_t *seq,
                   char *err, size_t errlen);
/* Signs and sends the broadcaster's mute of target_hex (64 hex digits)
 * for minutes on stream id; *until gets its end (unix seconds). 0, or
 * OA_E* with a sentence in err (OA_ESTATE when not the broadcaster). */
int chat_send_mute(lv_chat *c, const uint8_t id[20], const char *target_hex, json_int_t minutes,
                   int64_t *until, char *err, size_t errlen);

/* ---- chat_http.c ------------------------------------------------------------ */

/* Serves /api/live/<content_id>/chat (GET, POST) and
 * /api/live/<content_id>/mute (POST): the handler of the prefix route on
 * API_PREFIX, arg is the lv_chat. */
int chat_on_http(void *arg, oa_http_req *req);
/* Writes the new history entries of st to every SSE client of st. */
void chat_pump_stream(lv_chat *c, chat_stream *st);
/* Ends every SSE client of c (of st only when st is not NULL). */
void chat_drop_clients(lv_chat *c, chat_stream *st);
/* The SSE part of the 15 s tick: drops clients stuck on a full queue for
 * a minute, sends the keep-alive comment to the others. now is
 * chat_mono_ms(). */
void chat_http_tick(lv_chat *c, uint64_t now);

#endif

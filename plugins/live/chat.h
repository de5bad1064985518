/*
 * The chat of live streams (chat.c: history, messages, commands; chat_http.c:
 * the HTTP routes and SSE streams; chat_int.h is internal to those two),
 * driven by the live plugin (plugin.c).
 *
 * Messages are livecore's signed chat messages (livecore.h). The swarm
 * verifies, de-duplicates, rate-limits and gossips them; what it accepts
 * reaches lv_chat_received(), our own sends included. chat.c keeps a
 * one-hour history per stream, serves HTTP and publishes "live.chat":
 *   GET  /api/live/<content_id>/chat   text/event-stream: the history, then
 *        each new message as "event: chat" with a JSON data line
 *        {"content_id","from","seq","text","mentions":[..],"emotes":[..],"ts_ms"}
 *   POST /api/live/<content_id>/chat   {"text": "..."}: signs with this
 *        engine's chat key and sends; 200 {"sent": true, "seq": n}, 400 with
 *        a sentence for an empty, too long or non-UTF-8 text, 404 for a
 *        stream not open here, 429 over the rate limit
 *   POST /api/live/<content_id>/mute   {"from": "<64 hex pubkey>", "minutes": n}:
 *        the broadcaster only (409 otherwise): a signed mute message
 * Both admin routes (authenticated). Everything runs on the loop.
 */
#ifndef OA_LIVE_CHAT_H
#define OA_LIVE_CHAT_H

#include <openace/sdk.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lv_chat lv_chat;

/* What plugin.c gives chat.c. */
typedef struct lv_chat_host {
    oa_plugin *self;
    const oa_host_api *api;
    const uint8_t *node_seed; /* 32 bytes: this engine's chat key, kept by plugin.c */
    void *arg;                /* for the calls below */
    /* Sends an encoded message to the stream's swarm (swarm live_chat):
     * 0, OA_ENOENT (stream not open here), OA_EAGAIN (rate limit) or
     * another OA_E*. */
    int (*send)(void *arg, const uint8_t id[20], const uint8_t *msg, size_t len);
    /* The broadcaster's private seed when this engine broadcasts the
     * stream, else NULL. */
    const uint8_t *(*broadcaster_seed)(void *arg, const uint8_t id[20]);
} lv_chat_host;

/* Makes the chat, starts its timer and registers its HTTP routes (a
 * prefix route on /api/live/). Call it from the plugin's start(): routes
 * and timers are begun there (sdk.h). host is copied. NULL on failure
 * (logged). */
lv_chat *lv_chat_new(const lv_chat_host *host);
/* Ends every SSE stream, stops the timer and frees everything. Call it from
 * the plugin's stop(), never from destroy(): after stop() the host has
 * released the timer and the HTTP streams, which lv_chat_free() still
 * uses. NULL is accepted. */
void lv_chat_free(lv_chat *c);
/* A stream was opened here (broadcast or viewed) / closed: chat for it
 * is available / ends (its SSE streams end, its history is dropped). */
void lv_chat_stream_open(lv_chat *c, const uint8_t id[20], const uint8_t broadcaster_pub[32]);
void lv_chat_stream_close(lv_chat *c, const uint8_t id[20]);
/* A message the swarm accepted for stream id (the swarm's chat
 * callback): parsed, kept in the history, sent to SSE clients, published
 * as "live.chat". Malformed bytes are ignored (logged at debug). */
void lv_chat_received(lv_chat *c, const uint8_t id[20], const uint8_t *msg, size_t len);
/* The "chat" command (Lua: oa.call("live", "chat", {content_id=..., text=...})),
 * "chat_history" ({content_id} -> {"messages":[...]}) and "chat_mute"
 * ({content_id, from, minutes}, the broadcaster only): 0 with *out a JSON
 * object (api->str_dup'd), or OA_E* with *out a plain sentence (not an
 * error object), as sdk.h asks of a failed command. OA_ENOTFOUND with
 * *out NULL for another name. */
int lv_chat_command(lv_chat *c, const char *name, const char *json_args, char **out);

#endif

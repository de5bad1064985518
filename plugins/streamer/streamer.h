/*
 * The streamer plugin: the contract between its files.
 *
 *   plugin.c    descriptor, settings, lifecycle, routes, the probes
 *               (/webui/api/service, /server/api), the sessions command
 *   catalog.c   content IDs: SHA-1 of transport files, kept in the
 *               plugin's kv store; url= fetches (libcurl on a worker)
 *   content.c   one played file of one swarm content, shared by every
 *               session and reader: its swarm handle, the shared block
 *               cache with coalesced reads and read-ahead, the playhead,
 *               stall detection
 *   session.c   playback sessions (/ace/getstream, /ace/manifest.m3u8,
 *               /ace/stat, /ace/cmd), pid reuse, idle stop, events
 *   vod.c       readers of the progressive stream (/ace/r) with Range
 *   hls.c       HLS of a content: a segmenter job over the content's
 *               bytes, the segments, playlists (/ace/m) and segments (/ace/c)
 *
 * Everything runs on the host's loop thread. Lifetimes:
 *  - st_content lives while a session refers to it (refs); the last
 *    session's end frees it, which closes its swarm handle, cancels its
 *    reads and its segmenter job.
 *  - st_session lives from getstream until stop, idle timeout, or the
 *    plugin's stop. Readers and kept requests hang on it; ending it ends
 *    their streams (their CLOSED events then find no session: readers are
 *    detached first).
 *  - An st_wait is a callback parked on a cache block until its bytes are
 *    verified; its owner removes it before it goes away.
 */
#ifndef OA_STREAMER_H
#define OA_STREAMER_H

#include <openace/media.h>
#include <openace/sdk.h>
#include <openace/swarm.h>
#include <stddef.h>
#include <stdint.h>

#include "acehttp.h"

typedef struct st_plugin st_plugin;
typedef struct st_content st_content;
typedef struct st_session st_session;
typedef struct st_reader st_reader;
typedef struct st_hls st_hls;
typedef struct st_block st_block;
typedef struct st_wait st_wait;
typedef struct st_start st_start;
typedef struct st_live st_live;

/* Settings (read at start; the live ones are applied by configure()). */
typedef struct st_settings {
    int64_t idle_timeout_s;
    int64_t start_timeout_s;
    int64_t client_queue_kb;
    int64_t cache_mb;
    int64_t readahead_mb;
    int slow_client_drop;
    double hls_segment_seconds;
    int64_t hls_ahead;
    int64_t hls_memory_mb;
    int64_t stall_seconds;
    int64_t live_buffer_chunks;
    int allow_file_urls;
    char compat_version[32];
} st_settings;

struct st_plugin {
    oa_plugin *self;
    const oa_host_api *api;
    const oa_swarm *swarm;
    const oa_segmenter *seg;   /* NULL: HLS unavailable */
    st_settings cfg;
    st_content *contents;
    st_session *sessions;
    size_t nsessions;
    oa_timer *tick;            /* 1 s: idle sessions, stalls, start timeouts */
    st_reader *orphans;        /* readers off their session, until CLOSED */
    st_start *starts;          /* playback requests waiting (session.c) */
    struct live_reader *live_orphans; /* live readers off their session (live.c) */
    int stopping;
};

/* ---- catalog.c ---------------------------------------------------------- */

/* Records a transport file: returns its content ID (SHA-1, 40 hex) in id
 * and stores "cid/<id>" -> bytes and "ih/<infohash hex>" -> id. Store
 * failures are logged, not returned. */
void st_catalog_add(st_plugin *p, const void *file, size_t len, const char *infohash_hex,
                    char id[41]);
/* Looks a content ID up: 0 and the transport file (allocated with
 * api->alloc, free with api->free), or OA_ENOENT. */
int st_catalog_get(st_plugin *p, const char id[41], uint8_t **file, size_t *len);
/* The content ID last recorded for an info-hash: 0, or OA_ENOENT. */
int st_catalog_id_for(st_plugin *p, const char infohash_hex[41], char id[41]);

/* A url= fetch finished: status 0 and the bytes (valid during the call),
 * or < 0 with a sentence. */
typedef void (*st_fetch_cb)(void *arg, int status, const uint8_t *data, size_t len,
                            const char *why);
typedef struct st_fetch st_fetch;
/* Fetches url (http://, https://, or file:// when allowed) on a worker
 * thread, at most 8 MiB within timeout_s. cb runs on the loop unless
 * st_fetch_cancel() was called first. */
int st_fetch_start(st_plugin *p, const char *url, int64_t timeout_s, st_fetch_cb cb, void *arg,
                   st_fetch **out);
void st_fetch_cancel(st_fetch *f);

/* ---- content.c ---------------------------------------------------------- */

/* A callback parked until a block is verified (status 0) or failed. */
struct st_wait {
    st_wait *next;
    st_block *block;           /* where it is parked; NULL when not */
    void (*cb)(st_wait *w, int status);
};

struct st_block {
    st_block *next;
    st_content *owner;
    uint64_t index;            /* content offset / block size */
    uint8_t *data;             /* NULL while pending */
    size_t len;
    oa_swarm_read *read;       /* pending swarm read */
    st_wait *waiters;
    uint64_t used_ms;
    int pinned;                /* in use on the stack: never evicted then */
};

struct st_content {
    st_content *next;
    st_plugin *p;
    int refs;                  /* sessions */
    oa_swarm_handle *h;
    char infohash[41];
    char content_id[41];       /* "" until known */
    int ready;                 /* 1 metadata known, < 0 failed */
    char error[256];
    int want_index;            /* _idx asked for, -1: pick */
    int file_index;            /* chosen once ready */
    char name[160];            /* the file's path */
    uint64_t file_offset;      /* in the content's byte space */
    uint64_t file_length;
    uint32_t block_size;
    st_block *blocks;
    size_t nblocks;
    size_t block_bytes;        /* data held */
    uint64_t playhead;         /* content offset last given to the swarm */
    uint64_t last_progress_ms; /* last block verified */
    uint64_t waiting_since_ms; /* a reader waits for a missing block; 0 none */
    int stalled;
    st_hls *hls;
    st_wait *ready_waiters;    /* parked until ready (block NULL) */
    int is_live;               /* fed by the live service: no swarm handle */
    st_live *live;
};

/* Finds or opens the content (swarm uri, or transport bytes) for file
 * want_index (-1: the largest video file). On failure err says why. */
int st_content_open(st_plugin *p, const char *uri, const void *torrent, size_t len,
                    int want_index, st_content **out, char *err, size_t errlen);
void st_content_ref(st_content *c);
void st_content_unref(st_content *c);
/* Parks w until the content is ready (or failed); when it already is, the
 * callback runs on this call's stack: callers handle both. */
void st_content_when_ready(st_content *c, st_wait *w);
void st_content_unwait(st_content *c, st_wait *w);
/* Gets the block holding file offset off: 0 and *b when its bytes are here;
 * OA_EAGAIN when w was parked on it (reads started, read-ahead too); <0 on
 * failure. */
int st_content_get(st_content *c, uint64_t off, st_wait *w, st_block **b);
/* The bytes of block b from file offset off on: pointer and count. */
const uint8_t *st_block_bytes(st_content *c, st_block *b, uint64_t off, size_t *n);
/* Stats in Ace Stream's terms, for stat and sessions. */
void st_content_stats(st_content *c, oa_swarm_stats *st);
/* The 1 s tick: stall detection, cache trimming. */
void st_content_tick(st_content *c, uint64_t now);
/* Wakes the callbacks parked until ready (st_content_when_ready) with 0
 * when the content is ready, else its failure status. */
void st_content_wake_ready(st_content *c);
/* Marks the content stalled for seconds: streamer.stall for each of its
 * sessions, and a log line saying why. */
void st_content_stall(st_content *c, uint64_t seconds, const char *why);

/* ---- session.c ---------------------------------------------------------- */

struct st_session {
    st_session *next;
    st_plugin *p;
    char id[33];
    char pid[ST_MAX_PID + 1];
    st_content *c;
    st_reader *readers;
    size_t nreaders;
    uint64_t idle_since_ms;    /* no reader since; 0 while read */
    uint64_t bytes_out;        /* to every reader */
    uint64_t first_byte_ms;    /* 0 until the first byte went out */
    int hls_clients;           /* 1 once an HLS player asked (joined event sent) */
    char hls_client[64];       /* its address */
    uint64_t hls_bytes;        /* segment bytes sent */
};

int st_session_routes(st_plugin *p);
void st_session_end(st_session *s, const char *reason);
st_session *st_session_find(st_plugin *p, const char *id);
void st_session_touch(st_session *s);
/* Parses the playback parameters of req's query (acehttp.h). */
int st_request_of(st_plugin *p, oa_http_req *req, st_request *rq, char *err, size_t errlen);
/* Answers req with status and a one-line text/plain sentence. */
void st_reply_text(st_plugin *p, oa_http_req *req, int status, const char *msg);
/* A progressive reader joined (fields: more JSON members, e.g.
 * "\"kind\":\"ts\"") or left the session: counts it, publishes
 * streamer.client.joined / .left, starts the idle clock at the last. */
void st_session_reader_joined(st_session *s, const char *client, const char *fields);
void st_session_reader_left(st_session *s, const char *client, uint64_t bytes);
/* An HLS request of the session: the first one publishes
 * streamer.client.joined (kind "hls"); the session's end publishes left. */
void st_session_hls_seen(st_session *s, oa_http_req *req);
void st_sessions_tick(st_plugin *p, uint64_t now);
/* Ends every session and drops waiting requests unanswered (the plugin
 * stops: the host answers kept requests and ends streams itself). */
void st_sessions_stop(st_plugin *p);
/* A JSON object text (malloc'ed) of the session's stats as /ace/stat
 * gives them. */
char *st_session_stat_json(st_session *s);

/* ---- vod.c -------------------------------------------------------------- */

/* Starts a progressive reader on the request (Range honoured) for a ready
 * content. Replies on failure. */
int st_vod_start(st_session *s, oa_http_req *req);
/* Ends the session's readers' streams (the session is ending); each is
 * freed when its stream reports CLOSED. */
void st_vod_close_all(st_session *s);
/* Frees readers still waiting for CLOSED (the plugin stops; the host
 * clears their callbacks). */
void st_vod_free_orphans(st_plugin *p);

/* ---- kept.c ------------------------------------------------------------- */

/* An HLS request waiting for its playlist's first segment (playlist) or
 * for segment n, for session sid, until deadline_ms. */
typedef struct st_kept {
    struct st_kept *next;
    oa_http_req *req;
    int playlist;
    uint64_t n;
    char sid[33];
    uint64_t deadline_ms;
} st_kept;

/* Answers req when it can (returns 1), or leaves it (0). */
typedef int (*st_try_fn)(void *arg, oa_http_req *req, int playlist, uint64_t n, const char *sid);

/* Keeps req on list until start_timeout from now. */
int st_kept_add(st_plugin *p, st_kept **list, oa_http_req *req, int playlist, uint64_t n,
                const char *sid);
/* Answers every kept request try_fn can; with now != 0, those past their
 * deadline get 504 with timeout_msg. */
void st_kept_answer(st_plugin *p, st_kept **list, st_try_fn try_fn, void *arg, uint64_t now,
                    const char *timeout_msg);
/* Answers every kept request 410 (unless the plugin stops) and frees them. */
void st_kept_drop(st_plugin *p, st_kept **list);

/* ---- hls.c -------------------------------------------------------------- */

/* Replies with the session's playlist (kept until the first segment). */
int st_hls_playlist(st_session *s, oa_http_req *req);
/* Replies with segment n of the session's content. */
int st_hls_segment(st_session *s, oa_http_req *req, uint64_t n);
/* Frees the content's HLS state (its job, segments, kept requests). */
void st_hls_free(st_content *c);
void st_hls_tick(st_content *c, uint64_t now);

/* ---- live.c ------------------------------------------------------------- */

/* Finds or subscribes to the live stream id (its descriptor's bytes in
 * file). On failure err says why. */
int st_content_open_live(st_plugin *p, const oa_live *svc, const char id[41], const void *file,
                         size_t len, st_content **out, char *err, size_t errlen);
/* A progressive reader from near the live edge. */
int st_live_start_reader(st_session *s, oa_http_req *req);
/* The sliding playlist, and segment seq (kept until it exists). */
int st_live_playlist(st_session *s, oa_http_req *req);
int st_live_segment(st_session *s, oa_http_req *req, uint64_t seq);
/* Ends the session's live readers. */
void st_live_close_session(st_session *s);
/* Stats as the swarm's, plus the live position. */
void st_live_stats(st_content *c, oa_swarm_stats *st, oa_live_status *ls);
/* The chunk the session's slowest reader is at (the edge without one). */
uint64_t st_live_pos(st_session *s);
void st_live_tick(st_content *c, uint64_t now);
/* Unsubscribes and frees the content's live state. */
void st_live_free(st_content *c);
void st_live_free_orphans(st_plugin *p);

#endif /* OA_STREAMER_H */

/*
 * The live plugin's internal contract (plugin.c, stream.c, broadcast.c;
 * chat.c has its own, chat.h).
 *
 * plugin.c: the lifecycle, the settings, the commands, small helpers
 * (events, replies, errors) and the chat wiring.
 *
 * stream.c: the streams open here (lv_stream: one per content ID, either
 * a broadcast of this engine or a stream viewed through the swarm): held
 * chunks, subscribers, lingering, the swarm's callbacks and failures.
 * service.c: the `live` service of media.h over them (subscribe, status)
 * and GET /live/<content_id>.acelive.
 *
 * broadcast.c: broadcasts (lv_bc): the descriptor, the segmenter job,
 * signing each chunk and publishing it to the swarm, reconnecting with
 * back-off (the source or the swarm's stream). store.c: their persistent
 * key and record in the kv store.
 *
 * helpers.c: the pure helpers declared at the end (argument checks, the
 * sequence resume rule, chunk timestamps, back-off, URLs, hex, the wall
 * clock), used by chat.c too and linked alone by tests/live.
 *
 * Everything runs on the host's loop thread.
 */
#ifndef OA_LIVE_INT_H
#define OA_LIVE_INT_H

#include <openace/media.h>
#include <openace/sdk.h>
#include <openace/swarm.h>

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "chat.h"
#include "livecore.h"

#define LV_BACKLOG 3          /* a new local player starts this many chunks behind the edge */
#define LV_KEEP 8             /* chunk bytes kept per stream for new local players */
#define LV_LINGER_MS 10000    /* a viewed stream stays open this long after its last player */
#define LV_STALL_FACTOR 3     /* status(): stalled after this many chunk durations */
#define LV_SEQ_MARGIN 10      /* sequence numbers skipped after a restart */
#define LV_PERSIST_EVERY 10   /* last_seq is stored every this many chunks */
#define LV_HEALTHY_MS 60000   /* a source this long without trouble resets its back-off */
#define LV_SOURCE_MAX 2048    /* bytes of a source URL or lavfi graph */
#define LV_NAME_MAX 127       /* bytes of a broadcast's name */
#define LV_PUBLISH_FAILS 5    /* chunks refused in a row by the swarm: its stream failed */

typedef struct lv_plugin lv_plugin;
typedef struct lv_stream lv_stream;
typedef struct lv_bc lv_bc;

/* Settings (plugin.c reads them at start and on live changes). */
typedef struct lv_settings {
    double default_chunk_seconds;
    int64_t default_window;
    int64_t stall_seconds;
    int64_t retry_max_seconds;
    char listen_url[256]; /* the base of URLs in answers, never "" once read */
} lv_settings;

/* The arguments of `start`, and the fields of a stored record. */
typedef struct lv_bc_args {
    char name[LV_NAME_MAX + 1];
    char source[LV_SOURCE_MAX + 1];
    int loop;
    double chunk_seconds;
    uint32_t window;
    char trackers[OA_LC_MAX_TRACKERS][256];
    size_t ntrackers;
    int auto_start;
} lv_bc_args;

/* The header of a chunk a stream holds (the `chunks` command, status). */
typedef struct lv_hdr {
    uint64_t seq;
    uint32_t size;
    int64_t ts_ms;
    uint8_t hash[OA_LC_HASH_LEN];
} lv_hdr;

/* A chunk's bytes kept for new local players. */
typedef struct lv_data {
    uint64_t seq;
    uint8_t *data; /* NULL: empty slot */
    size_t len;
    int64_t pts_us;
    int64_t duration_us;
    int64_t ts_ms;
    uint32_t flags; /* OA_MEDIA_DISCONTINUITY */
} lv_data;

struct lv_plugin {
    oa_plugin *self;
    const oa_host_api *api;
    const oa_swarm *swarm;    /* NULL when its live part is missing */
    const oa_segmenter *seg;
    oa_live service;
    lv_chat *chat;
    uint8_t chat_seed[OA_LC_KEY_LEN];
    lv_settings cfg;
    lv_bc *bcs;               /* every broadcast known (running or stopped) */
    lv_stream *streams;       /* every stream open here */
    oa_timer *tick;           /* 1 s: stalls, back-off resets */
    int running;
    char swarm_why[200];      /* why live streams are unavailable, "" when they are */
};

/* One stream open here: a broadcast's (bc != NULL) or one viewed through
 * the swarm. */
struct lv_stream {
    lv_stream *next;
    lv_plugin *p;
    uint8_t id[OA_LC_ID_LEN];
    char hex[41];
    lv_bc *bc;                /* the broadcast feeding it, or NULL (viewer) */
    oa_swarm_handle *h;       /* the swarm's handle, NULL once closed */
    uint8_t *desc;            /* descriptor bytes (malloc), NULL until known */
    size_t desc_len;
    oa_lc_descriptor d;
    int failed;               /* subscribers got on_state(< 0) */
    int swarm_bad;            /* a source's handle was refused: lv_stream_tick acts */
    char error[160];
    lv_hdr *hdrs;             /* ring of the last window headers, by arrival */
    uint32_t hcap;
    uint64_t hcount;          /* headers ever added */
    lv_data keep[LV_KEEP];    /* ring of the last chunks' bytes, by arrival */
    uint64_t kcount;
    uint64_t chunks_in;
    uint64_t bytes_in;
    uint64_t last_chunk_ms;   /* monotonic; the stream's opening before any chunk */
    oa_live_sub *subs;
    size_t nsubs;             /* live (not dead) subscriptions */
    int busy;
    oa_timer *linger;
    int chat_open;
    int closing;              /* being freed: callbacks are ignored */
};

/* ---- stream.c ------------------------------------------------------------ */

/* The stream open here with content ID id, or NULL. */
lv_stream *lv_stream_find(lv_plugin *p, const uint8_t id[OA_LC_ID_LEN]);
/* Opens the stream of broadcast bc (descriptor bytes copied) and its
 * publishing swarm handle. An existing viewer stream of the same ID is
 * failed and closed first. 0, or OA_E* with a sentence in err. */
int lv_stream_open_source(lv_plugin *p, lv_bc *bc, const uint8_t *desc, size_t desc_len,
                          lv_stream **out, char *err, size_t errlen);
/* The broadcast's stream ends: its subscribers get on_state(status,
 * reason); the swarm handle closes; the stream is freed once its
 * subscribers are gone. */
void lv_stream_close(lv_stream *s, int status, const char *reason);
/* A chunk of stream s (already verified or signed here): keeps its header
 * and bytes and hands it to every local player. */
void lv_stream_chunk(lv_stream *s, const lv_hdr *hdr, const uint8_t *data, size_t len,
                     int64_t pts_us, int64_t duration_us, uint32_t flags);
/* Closes the stream's swarm handle (the swarm dropped or keeps refusing
 * a broadcast's stream); its local players go on. */
void lv_stream_swarm_close(lv_stream *s);
/* Opens a broadcast stream's publishing swarm handle again after
 * lv_stream_swarm_close (no-op when it is open). 0, or OA_E* with a
 * sentence in err. */
int lv_stream_swarm_reopen(lv_stream *s, char *err, size_t errlen);
/* The 1 s tick: a stream whose swarm content failed or was removed (the
 * handle detached) fails its players (viewer) or tells its broadcast
 * (lv_bc_swarm_failed). */
void lv_stream_tick(lv_plugin *p);
/* Fills st from the swarm (zeroed when the handle is gone). */
void lv_stream_swarm_stats(lv_stream *s, oa_swarm_live_stats *st);
/* The oldest (newest 0) or newest (newest 1) chunk header the stream
 * holds, NULL when it holds none. */
const lv_hdr *lv_stream_hdr(lv_stream *s, int newest);
/* Fills p->service: the `live` service of media.h over the streams. */
void lv_stream_service_init(lv_plugin *p);
/* Cancels every subscription (on_state(OA_ECANCELED)) and frees every
 * stream: the plugin is stopping. */
void lv_stream_cancel_all(lv_plugin *p);
/* The handler of GET /live/<content_id>.acelive (arg: the lv_plugin): the
 * descriptor bytes of a stream open here, 404 otherwise. */
int lv_stream_http_acelive(void *arg, oa_http_req *req);

/* ---- stream.c, for service.c ----------------------------------------------- */

/* A subscription of the `live` service (a local player through the
 * streamer). */
struct oa_live_sub {
    oa_live_sub *next;
    lv_stream *s;
    oa_live_state_cb on_state;
    oa_media_chunk_cb on_chunk;
    void *arg;
    oa_timer *kick;    /* pending first delivery (state and backlog) */
    int state_sent;    /* on_state(0) delivered */
    int ended;         /* on_state(< 0) delivered: nothing more */
    int dead;          /* unsubscribed or canceled: freed when the stream is not busy */
    int has_next;      /* next_seq is set (else: the next chunk that comes) */
    uint64_t next_seq;
};

/* A stream's use by a caller that may end or free subscriptions: leave
 * frees the subscriptions that ended meanwhile, then frees a closed stream
 * nobody holds or lets a viewed one without players linger (the stream may
 * be gone after lv_stream_leave). */
void lv_stream_enter(lv_stream *s);
void lv_stream_leave(lv_stream *s);
/* Frees the stream, its subscriptions and held chunks at once. */
void lv_stream_free(lv_stream *s);
/* Takes the stream out of use: no new subscriber finds it, its swarm
 * handle and chat close; freed once no subscriber holds it. */
void lv_stream_retire(lv_stream *s);
/* Retires every failed stream of this ID still open (lingering), so that
 * the one opened next gets fresh swarm content. */
void lv_stream_retire_failed(lv_plugin *p, const uint8_t id[OA_LC_ID_LEN]);
/* A new stream (not in the list, no handle yet); NULL without memory. */
lv_stream *lv_stream_new(lv_plugin *p, const uint8_t id[OA_LC_ID_LEN]);
/* Keeps the descriptor's bytes and sizes the header ring (once). 0, or
 * OA_E* with a sentence in s->error. */
int lv_stream_set_descriptor(lv_stream *s, const uint8_t *desc, size_t len);
/* Opens the stream's swarm handle (viewer, or source with publish). */
int lv_stream_open_swarm(lv_stream *s, const uint8_t *desc, size_t len, int publish);
/* The stream open here with this content ID in hex, or NULL. */
lv_stream *lv_stream_find_hex(lv_plugin *p, const char *hex);
/* A subscriber's first delivery: its state, then the chunks from
 * LV_BACKLOG behind the newest. */
void lv_sub_start(lv_stream *s, oa_live_sub *sub);
/* Publishes live.viewer.joined (joined 1) or live.viewer.left. */
void lv_viewer_event(lv_plugin *p, const char *hex, const char *kind, const char *addr,
                     int joined);

/* ---- plugin.c ------------------------------------------------------------ */

/* Publishes topic with a JSON object (consumed). */
void lv_publish(lv_plugin *p, const char *topic, json_t *obj);
/* api->str_dup of the object's compact text (consumed); OA_ENOMEM. */
int lv_reply(lv_plugin *p, json_t *obj, char **out);
/* api->set_error and *out = the sentence; returns rc. */
int lv_fail(lv_plugin *p, int rc, char **out, const char *fmt, ...) OA_PRINTF(4, 5);

/* ---- store.c, for broadcast.c ------------------------------------------ */

/* A broadcast (broadcast.c): its arguments, key, descriptor, state and
 * running parts. */
struct lv_bc {
    lv_bc *next;
    lv_plugin *p;
    lv_bc_args a;
    int has_last;             /* a chunk was ever made */
    uint64_t last_seq;        /* the newest sequence number used */
    int64_t last_ts;          /* ts_ms of that chunk (0: unknown) */
    uint32_t publish_fails;   /* chunks the swarm refused in a row */
    uint64_t next_seq;        /* the next one to use */
    int have_key;
    int key_made;             /* load_key made and stored a new key */
    uint8_t seed[OA_LC_KEY_LEN];
    uint8_t pub[OA_LC_KEY_LEN];
    uint8_t *desc;            /* malloc'd descriptor bytes, NULL until made */
    size_t desc_len;
    char hex[41];             /* content ID, "" until the descriptor is made */
    int state;
    int user_stopped;
    char source_error[256];
    oa_media_job *job;
    oa_timer *retry;
    uint32_t backoff_s;       /* the last back-off used; 0 after a healthy minute */
    uint64_t last_chunk_ms;   /* monotonic: the newest chunk, or when the job was opened */
    uint64_t healthy_since;   /* monotonic: first chunk of this job, 0 none */
    uint64_t chunks;          /* chunks made since the broadcast (re)started */
    uint32_t since_persist;
    int gap;                  /* skip a sequence number: the source was reopened */
    lv_stream *stream;
};

/* Writes "<prefix><name>" (a kv key) to out. */
void lv_kv_name(char *out, size_t len, const char *prefix, const char *name);
/* The JSON stored under key, or NULL (missing or damaged). */
json_t *lv_kv_json(lv_plugin *p, const char *key);
/* Stores the names of every broadcast ("bcs"). */
int lv_bc_save_index(lv_plugin *p);
/* Writes the broadcast's record (bc/<name>). */
int lv_bc_save_record(lv_bc *bc);
/* Loads the broadcast's key (key/<name>), or makes and stores one (then
 * bc->key_made). */
int lv_bc_load_key(lv_bc *bc);
/* Takes desc (malloc'd) as the broadcast's descriptor; sets its hex ID. */
void lv_bc_set_descriptor(lv_bc *bc, uint8_t *desc, size_t len);
/* A broadcast from its stored record (not running, not listed); NULL when
 * the record is missing or damaged (logged). */
lv_bc *lv_bc_from_record(lv_plugin *p, const char *name);

/* ---- broadcast.c ------------------------------------------------------- */

/* Loads every stored broadcast and starts those marked auto_start that
 * were not stopped by the user. */
void lv_bc_load_all(lv_plugin *p);
/* Closes every broadcast's job and stream (plugin stop); records stay. */
void lv_bc_stop_all(lv_plugin *p);
/* Frees every broadcast (destroy). */
void lv_bc_free_all(lv_plugin *p);
/* The `start`, `stop` and `list` commands (list fills both arrays). */
int lv_bc_cmd_start(lv_plugin *p, const char *json_args, char **out);
int lv_bc_cmd_stop(lv_plugin *p, const char *json_args, char **out);
json_t *lv_bc_list_json(lv_plugin *p);
/* The 1 s tick: stalled sources, back-off resets. */
void lv_bc_tick(lv_plugin *p, uint64_t now_ms);
/* The broadcast's private seed when this engine broadcasts id, else NULL. */
const uint8_t *lv_bc_seed_for(lv_plugin *p, const uint8_t id[OA_LC_ID_LEN]);
/* The swarm dropped the broadcast's stream or keeps refusing its chunks:
 * its swarm handle closes, live.source.error tells reason, and the retry
 * path (back-off) reopens the handle with the source. */
void lv_bc_swarm_failed(lv_bc *bc, const char *reason);
/* The broadcast whose stream is s was told its stream closed (the stream
 * is no longer its). */
void lv_bc_stream_gone(lv_bc *bc, lv_stream *s);

/* ---- helpers.c: pure helpers (tests/live uses them) ---------------------- */

/* Unix time in ms (the wall clock). */
int64_t lv_wallclock_ms(void);

/* Writes the 2*n lowercase hex digits of b and a NUL to out (2*n + 1
 * bytes); 20-byte IDs use livecore's oa_lc_hex40 instead. */
void lv_hex_encode(const uint8_t *b, size_t n, char *out);

/* The timestamp of a broadcast's next chunk: max(the wall clock, the
 * previous chunk's last_ts + 1) when has_last, so that a clock stepped back
 * cannot make chunks fail the window rule (a newer number with an older
 * time). A step back of OA_LC_CLOCK_SKEW_MS or more gives the wall clock:
 * a time that far ahead of the clock would be refused as "from the future"
 * until the clock caught up; then the swarm's refusals reopen the stream
 * (LV_PUBLISH_FAILS). */
int64_t lv_chunk_ts(int64_t wall_ms, int has_last, int64_t last_ts);

/* The first sequence number to use: 0 for a broadcast that never made a
 * chunk, else past the stored last one by a margin that covers chunks
 * made after the last store (persisted every LV_PERSIST_EVERY). */
uint64_t lv_seq_resume(int has_last, uint64_t last_seq);

/* The back-off after cur seconds: doubled, at most max (at least 1). */
uint32_t lv_backoff_next(uint32_t cur, uint32_t max);

/* Splits a source: "lavfi:<graph>" gives format "lavfi" and url the graph;
 * anything else is a URL for libavformat to probe (format NULL). */
void lv_source_split(const char *source, const char **format, const char **url);

/* Whether the segmenter should pace the source in real time: a generated
 * (lavfi) source, a looping file, and a local file (a path or file://)
 * are paced; network inputs (udp://, http://, rtmp:// ...) come at their
 * own pace already. */
int lv_source_realtime(const char *source, int loop);

/* 1 when the text is valid UTF-8 without control characters. */
int lv_text_ok(const char *s, size_t len);

/* Checks the arguments of `start` (or a stored record: the same keys) and
 * fills *a; defaults for what is absent. 0, or OA_EINVAL with a sentence
 * a user can act on in err. */
int lv_args_parse(const json_t *o, double default_chunk, int64_t default_window,
                  lv_bc_args *a, char *err, size_t errlen);

/* The descriptor's chunk duration for chunk_seconds. */
uint32_t lv_chunk_ms(double chunk_seconds);

/* Whether a stored descriptor still fits the arguments (same name, chunk
 * duration, window and trackers): then it is reused unchanged and the
 * content ID stays. */
int lv_desc_fits(const oa_lc_descriptor *d, const lv_bc_args *a);

/* The content ID of a path "/live/<40 hex>.acelive" (lower-cased into
 * hex); OA_EINVAL for any other path. */
int lv_acelive_path(const char *path, char hex[41]);

/* The base URL of answers: the listen_url setting when set (without a
 * trailing '/'), else http://<the host's http_listen>, with a wildcard
 * address replaced by 127.0.0.1. */
void lv_base_url(const char *setting, const char *http_listen, char *out, size_t len);

#endif

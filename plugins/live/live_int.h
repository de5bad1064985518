/*
 * The live plugin's internal contract (plugin.c, stream.c, broadcast.c;
 * chat.c has its own, chat.h).
 *
 * plugin.c: the lifecycle, the settings, the commands, small helpers
 * (events, replies, errors) and the chat wiring.
 *
 * stream.c: the streams open here (lv_stream: one per content ID, either
 * a broadcast of this engine or a stream viewed through the swarm), the
 * `live` service of media.h (subscriptions, lingering, status, viewer
 * events) and GET /live/<content_id>.acelive.
 *
 * broadcast.c: broadcasts (lv_bc): the persistent key and record in the
 * kv store, the descriptor, the segmenter job, signing each chunk and
 * publishing it to the swarm, reconnecting with back-off.
 *
 * The pure helpers at the end (argument checks, the sequence resume rule,
 * back-off, URLs) are static inline so that tests/live can use them
 * without the plugin.
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

/* ---- plugin.c ------------------------------------------------------------ */

/* Publishes topic with a JSON object (consumed). */
void lv_publish(lv_plugin *p, const char *topic, json_t *obj);
/* api->str_dup of the object's compact text (consumed); OA_ENOMEM. */
int lv_reply(lv_plugin *p, json_t *obj, char **out);
/* api->set_error and *out = the sentence; returns rc. */
int lv_fail(lv_plugin *p, int rc, char **out, const char *fmt, ...) OA_PRINTF(4, 5);

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
/* The broadcast whose stream is s was told its stream closed (the stream
 * is no longer its). */
void lv_bc_stream_gone(lv_bc *bc, lv_stream *s);

/* ---- pure helpers -------------------------------------------------------- */

/* Unix time in ms (the wall clock). */
int64_t lv_wallclock_ms(void);

/* The first sequence number to use: 0 for a broadcast that never made a
 * chunk, else past the stored last one by a margin that covers chunks
 * made after the last store (persisted every LV_PERSIST_EVERY). */
static inline uint64_t lv_seq_resume(int has_last, uint64_t last_seq)
{
    return has_last ? last_seq + 1 + LV_SEQ_MARGIN : 0;
}

/* The back-off after cur seconds: doubled, at most max (at least 1). */
static inline uint32_t lv_backoff_next(uint32_t cur, uint32_t max)
{
    uint64_t n = cur == 0 ? 1 : (uint64_t)cur * 2;
    if (max < 1) {
        max = 1;
    }
    return n > max ? max : (uint32_t)n;
}

/* Splits a source: "lavfi:<graph>" gives format "lavfi" and url the graph;
 * anything else is a URL for libavformat to probe (format NULL). */
static inline void lv_source_split(const char *source, const char **format, const char **url)
{
    if (strncmp(source, "lavfi:", 6) == 0) {
        *format = "lavfi";
        *url = source + 6;
    } else {
        *format = NULL;
        *url = source;
    }
}

/* Whether the segmenter should pace the source in real time: a generated
 * (lavfi) source, a looping file, and a local file (a path or file://)
 * are paced; network inputs (udp://, http://, rtmp:// ...) come at their
 * own pace already. */
static inline int lv_source_realtime(const char *source, int loop)
{
    if (loop || strncmp(source, "lavfi:", 6) == 0 || strncmp(source, "file:", 5) == 0) {
        return 1;
    }
    return strstr(source, "://") == NULL;
}

/* 1 when the text is valid UTF-8 without control characters. */
static inline int lv_text_ok(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t n;
        if (c < 0x20 || c == 0x7f) {
            return 0;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
            n = 1;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
        } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
            n = 3;
        } else {
            return 0;
        }
        if (i + n >= len) {
            return 0;
        }
        for (size_t k = 1; k <= n; k++) {
            if (((unsigned char)s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
        }
        i += n + 1;
    }
    return 1;
}

/* Checks the arguments of `start` (or a stored record: the same keys) and
 * fills *a; defaults for what is absent. 0, or OA_EINVAL with a sentence
 * a user can act on in err. */
static inline int lv_args_parse(const json_t *o, double default_chunk, int64_t default_window,
                                lv_bc_args *a, char *err, size_t errlen)
{
    const json_t *v;
    memset(a, 0, sizeof(*a));
    a->chunk_seconds = default_chunk;
    a->window = (uint32_t)default_window;
    a->auto_start = 1;
    if (!json_is_object(o)) {
        snprintf(err, errlen, "the arguments must be a JSON object, e.g. {\"name\": \"demo\", "
                              "\"source\": \"lavfi:testsrc2\"}");
        return OA_EINVAL;
    }
    v = json_object_get(o, "name");
    if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > LV_NAME_MAX ||
        !lv_text_ok(json_string_value(v), json_string_length(v))) {
        snprintf(err, errlen, "\"name\" is required: the broadcast's name, 1 to %d bytes of "
                              "UTF-8 text without control characters", LV_NAME_MAX);
        return OA_EINVAL;
    }
    memcpy(a->name, json_string_value(v), json_string_length(v) + 1);
    v = json_object_get(o, "source");
    if (!json_is_string(v) || json_string_length(v) < 1 ||
        json_string_length(v) > LV_SOURCE_MAX ||
        strlen(json_string_value(v)) != json_string_length(v) ||
        strcmp(json_string_value(v), "lavfi:") == 0) {
        snprintf(err, errlen, "\"source\" is required: an FFmpeg URL or path, or "
                              "\"lavfi:<filtergraph>\" (at most %d bytes)", LV_SOURCE_MAX);
        return OA_EINVAL;
    }
    memcpy(a->source, json_string_value(v), json_string_length(v) + 1);
    v = json_object_get(o, "loop");
    if (v != NULL && !json_is_boolean(v)) {
        snprintf(err, errlen, "\"loop\" must be true or false");
        return OA_EINVAL;
    }
    a->loop = json_is_true(v);
    v = json_object_get(o, "chunk_seconds");
    if (v != NULL) {
        double d = json_number_value(v);
        if (!json_is_number(v) || !(d >= 0.2 && d <= 10.0)) {
            snprintf(err, errlen, "\"chunk_seconds\" must be a number from 0.2 to 10");
            return OA_EINVAL;
        }
        a->chunk_seconds = d;
    }
    v = json_object_get(o, "window");
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 4 ||
            json_integer_value(v) > 10000) {
            snprintf(err, errlen, "\"window\" must be a whole number of chunks from 4 to 10000");
            return OA_EINVAL;
        }
        a->window = (uint32_t)json_integer_value(v);
    }
    v = json_object_get(o, "trackers");
    if (v != NULL) {
        size_t i;
        const json_t *t;
        if (!json_is_array(v) || json_array_size(v) > OA_LC_MAX_TRACKERS) {
            snprintf(err, errlen, "\"trackers\" must be a list of at most %d announce URLs",
                     OA_LC_MAX_TRACKERS);
            return OA_EINVAL;
        }
        json_array_foreach(v, i, t)
        {
            const char *u = json_string_value(t);
            size_t n = u != NULL ? strlen(u) : 0;
            if (u == NULL || n >= sizeof(a->trackers[0]) || n != json_string_length(t) ||
                !(strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0 ||
                  strncmp(u, "udp://", 6) == 0) ||
                !lv_text_ok(u, n)) {
                snprintf(err, errlen, "tracker %zu is not an http://, https:// or udp:// "
                                      "announce URL shorter than 256 bytes", i + 1);
                return OA_EINVAL;
            }
            memcpy(a->trackers[a->ntrackers++], u, n + 1);
        }
    }
    v = json_object_get(o, "auto_start");
    if (v != NULL && !json_is_boolean(v)) {
        snprintf(err, errlen, "\"auto_start\" must be true or false");
        return OA_EINVAL;
    }
    if (v != NULL) {
        a->auto_start = json_is_true(v);
    }
    return 0;
}

/* The descriptor's chunk duration for chunk_seconds. */
static inline uint32_t lv_chunk_ms(double chunk_seconds)
{
    return (uint32_t)(chunk_seconds * 1000.0 + 0.5);
}

/* Whether a stored descriptor still fits the arguments (same name, chunk
 * duration, window and trackers): then it is reused unchanged and the
 * content ID stays. */
static inline int lv_desc_fits(const oa_lc_descriptor *d, const lv_bc_args *a)
{
    if (strcmp(d->name, a->name) != 0 || d->chunk_ms != lv_chunk_ms(a->chunk_seconds) ||
        d->window != a->window || d->tracker_count != a->ntrackers) {
        return 0;
    }
    for (size_t i = 0; i < a->ntrackers; i++) {
        if (strcmp(d->trackers[i], a->trackers[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

/* The content ID of a path "/live/<40 hex>.acelive" (lower-cased into
 * hex); OA_EINVAL for any other path. */
static inline int lv_acelive_path(const char *path, char hex[41])
{
    static const char prefix[] = "/live/";
    static const char suffix[] = ".acelive";
    size_t pl = sizeof(prefix) - 1;
    size_t sl = sizeof(suffix) - 1;
    if (path == NULL || strlen(path) != pl + 40 + sl || strncmp(path, prefix, pl) != 0 ||
        strcmp(path + pl + 40, suffix) != 0) {
        return OA_EINVAL;
    }
    for (size_t i = 0; i < 40; i++) {
        char c = path[pl + i];
        if (c >= 'A' && c <= 'F') {
            c = (char)(c - 'A' + 'a');
        }
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return OA_EINVAL;
        }
        hex[i] = c;
    }
    hex[40] = '\0';
    return 0;
}

/* The base URL of answers: the listen_url setting when set (without a
 * trailing '/'), else http://<the host's http_listen>, with a wildcard
 * address replaced by 127.0.0.1. */
static inline void lv_base_url(const char *setting, const char *http_listen, char *out,
                               size_t len)
{
    const char *h = http_listen != NULL && http_listen[0] != '\0' ? http_listen
                                                                  : "127.0.0.1:6878";
    const char *port;
    if (setting != NULL && setting[0] != '\0') {
        size_t n = strlen(setting);
        while (n > 0 && setting[n - 1] == '/') {
            n--;
        }
        snprintf(out, len, "%.*s", (int)n, setting);
        return;
    }
    port = strrchr(h, ':');
    if (port != NULL && (strncmp(h, "0.0.0.0:", 8) == 0 || strncmp(h, "[::]:", 5) == 0 ||
                         h[0] == ':')) {
        snprintf(out, len, "http://127.0.0.1%s", port);
        return;
    }
    snprintf(out, len, "http://%s", h);
}

#endif

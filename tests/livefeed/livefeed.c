/*
 * test-live: a stand-in live engine for tests. It provides the "live"
 * service (media.h) from a media file played in a loop at its own pace, so
 * that the streamer's live path is tested alone, without the live plugin
 * and its swarm. It is built into build/tests/live-plugins, never
 * build/plugins.
 *
 * Descriptor (test only), a text file:
 *
 *     openace-test-live
 *     source=/absolute/path/of/a/media/file
 *     chunk=1        (seconds per chunk, default 1)
 *     window=30      (chunks kept, default 30)
 *
 * Its content ID is the SHA-1 of all its bytes. One feed runs per content
 * ID, shared by every subscriber: a segmenter job on the source with
 * realtime=1 and loop=1, whose last `window` chunks are kept in a ring. A
 * new subscriber gets on_state(0) on a later loop turn once the job is
 * open, then the chunks from 3 behind the newest (or what there is), then
 * every new chunk in order. A feed ends when its last subscriber leaves.
 *
 * Commands:
 *   status {}                            -> {"feeds": [{id, source, ...}]}
 *   stall  {"id": "<40 hex>", "seconds": N} pauses that feed's job for N s,
 *          so that no chunk comes (to test stall reporting).
 */
#include <openace/media.h>
#include <openace/sdk.h>

#include <jansson.h>
#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LF_MAGIC "openace-test-live\n"
#define LF_DESC_MAX 8192
#define LF_BACKLOG 3 /* a new subscriber starts this many chunks behind the newest */
#define LF_STALL_FACTOR 3

typedef struct lf_plugin lf_plugin;
typedef struct lf_feed lf_feed;

typedef struct lf_chunk {
    uint64_t seq;
    uint8_t *data;
    size_t len;
    int64_t pts_us;
    int64_t duration_us;
    int64_t wallclock_ms;
    uint32_t flags;
} lf_chunk;

struct oa_live_sub {
    oa_live_sub *next;
    lf_feed *feed;
    oa_live_state_cb on_state;
    oa_media_chunk_cb on_chunk;
    void *arg;
    oa_timer *kick;   /* pending first delivery (state and backlog) */
    int state_sent;   /* on_state(0) delivered */
    int ended;        /* on_state(< 0) delivered: nothing more */
    int dead;         /* unsubscribed or canceled; freed when the feed is not busy */
    int discontinuity; /* the next chunk follows a gap */
    uint64_t next_seq; /* the next chunk to deliver */
};

struct lf_feed {
    lf_feed *next;
    lf_plugin *p;
    char id[41];
    char *source;
    double chunk_s;
    uint32_t window;
    oa_media_job *job;
    int opened;
    int failed;
    char error[160];
    lf_chunk *ring;        /* window slots, seq % window */
    uint64_t count;        /* chunks produced; the newest is count - 1 */
    uint64_t downloaded;   /* bytes produced */
    uint64_t last_chunk_ms; /* monotonic, when the newest chunk came (or the feed began) */
    int paused;
    oa_timer *resume;
    oa_live_sub *subs;
    int busy; /* delivering: frees wait until it is 0 */
};

struct lf_plugin {
    oa_plugin *self;
    const oa_host_api *api;
    const oa_segmenter *seg;
    oa_live service;
    lf_feed *feeds;
    int running;
};

/* ---- descriptors ---------------------------------------------------------------- */

static void sha1_hex(const void *data, size_t len, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";

    if (EVP_Digest(data, len, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20) {
        memset(out, '0', 40);
        out[40] = '\0';
        return;
    }
    for (unsigned i = 0; i < 20; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[40] = '\0';
}

static int is_descriptor(const void *file, size_t len)
{
    size_t m = strlen(LF_MAGIC);
    return file != NULL && len >= m && memcmp(file, LF_MAGIC, m) == 0;
}

typedef struct lf_desc {
    char *source; /* allocated */
    double chunk_s;
    uint32_t window;
} lf_desc;

/* Parses a descriptor's lines; fills why on failure. */
static int parse_descriptor(const void *file, size_t len, lf_desc *d, char *why, size_t whylen)
{
    char *text;
    char *line;
    char *save = NULL;
    int rc = 0;

    memset(d, 0, sizeof(*d));
    d->chunk_s = 1.0;
    d->window = 30;
    if (!is_descriptor(file, len) || len > LF_DESC_MAX) {
        snprintf(why, whylen, "the descriptor does not begin with \"openace-test-live\" or "
                              "is longer than %d bytes", LF_DESC_MAX);
        return OA_EINVAL;
    }
    text = malloc(len + 1);
    if (text == NULL) {
        return OA_ENOMEM;
    }
    memcpy(text, file, len);
    text[len] = '\0';
    line = strtok_r(text + strlen(LF_MAGIC), "\r\n", &save);
    while (line != NULL && rc == 0) {
        char *end = NULL;
        if (strncmp(line, "source=", 7) == 0) {
            free(d->source);
            d->source = strdup(line + 7);
            if (d->source == NULL) {
                rc = OA_ENOMEM;
            }
        } else if (strncmp(line, "chunk=", 6) == 0) {
            d->chunk_s = strtod(line + 6, &end);
            if (end == line + 6 || *end != '\0' || !(d->chunk_s >= 0.1 && d->chunk_s <= 60)) {
                snprintf(why, whylen, "the descriptor's chunk= must be seconds from 0.1 to 60");
                rc = OA_EINVAL;
            }
        } else if (strncmp(line, "window=", 7) == 0) {
            long w = strtol(line + 7, &end, 10);
            if (end == line + 7 || *end != '\0' || w < 4 || w > 10000) {
                snprintf(why, whylen, "the descriptor's window= must be 4 to 10000 chunks");
                rc = OA_EINVAL;
            }
            d->window = (uint32_t)w;
        }
        line = strtok_r(NULL, "\r\n", &save);
    }
    free(text);
    if (rc == 0 && (d->source == NULL || d->source[0] != '/')) {
        snprintf(why, whylen, "the descriptor needs a line source=<absolute path of a media "
                              "file>");
        rc = OA_EINVAL;
    }
    if (rc != 0) {
        free(d->source);
        d->source = NULL;
    }
    return rc;
}

/* ---- feeds ------------------------------------------------------------------------- */

static lf_feed *find_feed(lf_plugin *p, const char *id)
{
    for (lf_feed *f = p->feeds; f != NULL; f = f->next) {
        if (strcmp(f->id, id) == 0) {
            return f;
        }
    }
    return NULL;
}

static const lf_chunk *ring_get(const lf_feed *f, uint64_t seq)
{
    const lf_chunk *c;
    if (seq >= f->count) {
        return NULL;
    }
    c = &f->ring[seq % f->window];
    return c->data != NULL && c->seq == seq ? c : NULL;
}

static uint64_t ring_first(const lf_feed *f)
{
    return f->count > f->window ? f->count - f->window : 0;
}

static void feed_free(lf_feed *f)
{
    lf_plugin *p = f->p;
    lf_feed **pp = &p->feeds;

    while (*pp != NULL && *pp != f) {
        pp = &(*pp)->next;
    }
    if (*pp == f) {
        *pp = f->next;
    }
    if (f->resume != NULL) {
        p->api->timer_stop(f->resume);
    }
    if (f->job != NULL) {
        p->seg->close(f->job);
    }
    while (f->subs != NULL) {
        oa_live_sub *s = f->subs;
        f->subs = s->next;
        if (s->kick != NULL) {
            p->api->timer_stop(s->kick);
        }
        free(s);
    }
    for (uint32_t i = 0; f->ring != NULL && i < f->window; i++) {
        free(f->ring[i].data);
    }
    p->api->log(p->self, OA_LOG_DEBUG, "feed %.8s closed after %llu chunk(s)", f->id,
                (unsigned long long)f->count);
    free(f->ring);
    free(f->source);
    free(f);
}

static void feed_enter(lf_feed *f)
{
    f->busy++;
}

/* Frees the subscriptions ended while the feed was busy, and the feed when
 * none is left. The feed may be gone afterwards. */
static void feed_leave(lf_feed *f)
{
    oa_live_sub **pp;

    if (--f->busy > 0) {
        return;
    }
    pp = &f->subs;
    while (*pp != NULL) {
        oa_live_sub *s = *pp;
        if (s->dead) {
            *pp = s->next;
            if (s->kick != NULL) {
                f->p->api->timer_stop(s->kick);
            }
            free(s);
        } else {
            pp = &s->next;
        }
    }
    if (f->subs == NULL) {
        feed_free(f);
    }
}

/* Delivers to s every chunk from its next_seq to the newest. */
static void sub_pump(lf_feed *f, oa_live_sub *s)
{
    while (!s->dead && s->state_sent && !s->ended && s->next_seq < f->count) {
        oa_media_chunk mc;
        const lf_chunk *c;
        uint64_t first = ring_first(f);

        if (s->next_seq < first) {
            s->next_seq = first;
            s->discontinuity = 1;
        }
        c = ring_get(f, s->next_seq);
        if (c == NULL) {
            s->next_seq++;
            s->discontinuity = 1;
            continue;
        }
        memset(&mc, 0, sizeof(mc));
        mc.size = sizeof(mc);
        mc.seq = c->seq;
        mc.data = c->data;
        mc.len = c->len;
        mc.pts_us = c->pts_us;
        mc.duration_us = c->duration_us;
        mc.wallclock_ms = c->wallclock_ms;
        mc.flags = c->flags | (s->discontinuity ? OA_MEDIA_DISCONTINUITY : 0u);
        s->discontinuity = 0;
        s->next_seq++;
        s->on_chunk(s->arg, &mc);
    }
}

/* Tells every subscriber still open that the feed failed. */
static void feed_fail(lf_feed *f, int status, const char *reason)
{
    f->failed = 1;
    snprintf(f->error, sizeof(f->error), "%s", reason != NULL && reason[0] != '\0' ? reason
                                                          : "the live source failed");
    f->p->api->log(f->p->self, OA_LOG_WARN, "feed %.8s (%s) failed: %s", f->id, f->source,
                   f->error);
    feed_enter(f);
    for (oa_live_sub *s = f->subs; s != NULL; s = s->next) {
        if (!s->dead && !s->ended && s->kick == NULL) {
            s->ended = 1;
            s->on_state(s->arg, s, status < 0 ? status : OA_EIO, f->error);
        }
    }
    feed_leave(f);
}

/* A subscriber's first delivery: its state, then the backlog. */
static void sub_start(lf_feed *f, oa_live_sub *s)
{
    if (f->failed) {
        s->ended = 1;
        s->on_state(s->arg, s, OA_EIO, f->error);
        return;
    }
    s->state_sent = 1;
    if (f->count == 0) {
        s->next_seq = 0;
    } else {
        uint64_t newest = f->count - 1;
        uint64_t start = newest >= LF_BACKLOG ? newest - LF_BACKLOG : 0;
        uint64_t first = ring_first(f);
        s->next_seq = start < first ? first : start;
    }
    s->on_state(s->arg, s, 0, "");
    sub_pump(f, s);
}

static void on_kick(void *arg, oa_timer *t)
{
    oa_live_sub *s = arg;
    lf_feed *f = s->feed;

    (void)t;
    s->kick = NULL;
    if (s->dead || (!f->opened && !f->failed)) {
        return; /* the job's on_open starts it */
    }
    feed_enter(f);
    sub_start(f, s);
    feed_leave(f);
}

static void on_job_open(void *arg, oa_media_job *job, int status, const char *reason)
{
    lf_feed *f = arg;

    (void)job;
    if (status != 0) {
        feed_fail(f, status, reason);
        return;
    }
    f->opened = 1;
    f->last_chunk_ms = f->p->api->now_ms(f->p->self);
    f->p->api->log(f->p->self, OA_LOG_INFO, "feed %.8s playing %s in a loop, %.1f s chunks",
                   f->id, f->source, f->chunk_s);
    feed_enter(f);
    for (oa_live_sub *s = f->subs; s != NULL; s = s->next) {
        if (!s->dead && !s->state_sent && !s->ended && s->kick == NULL) {
            sub_start(f, s);
        }
    }
    feed_leave(f);
}

static void on_job_chunk(void *arg, const oa_media_chunk *chunk)
{
    lf_feed *f = arg;
    lf_chunk *slot = &f->ring[f->count % f->window];
    uint8_t *copy = malloc(chunk->len > 0 ? chunk->len : 1);

    if (copy == NULL) {
        feed_fail(f, OA_ENOMEM, "out of memory for a chunk");
        return;
    }
    memcpy(copy, chunk->data, chunk->len);
    free(slot->data);
    slot->data = copy;
    slot->len = chunk->len;
    slot->seq = f->count;
    slot->pts_us = chunk->pts_us;
    slot->duration_us = chunk->duration_us;
    slot->wallclock_ms = chunk->wallclock_ms;
    slot->flags = chunk->flags & OA_MEDIA_DISCONTINUITY;
    f->count++;
    f->downloaded += chunk->len;
    f->last_chunk_ms = f->p->api->now_ms(f->p->self);
    feed_enter(f);
    for (oa_live_sub *s = f->subs; s != NULL; s = s->next) {
        sub_pump(f, s);
    }
    feed_leave(f);
}

static void on_job_end(void *arg, oa_media_job *job, int status, const char *reason)
{
    lf_feed *f = arg;

    (void)job;
    feed_fail(f, status < 0 ? status : OA_EIO,
              status < 0 ? reason : "the live source ended although it was set to loop");
}

static int feed_open(lf_plugin *p, const char id[41], const lf_desc *d, lf_feed **out)
{
    lf_feed *f = calloc(1, sizeof(*f));
    oa_segmenter_opts opts;
    int rc;

    if (f == NULL) {
        return OA_ENOMEM;
    }
    f->p = p;
    memcpy(f->id, id, 41);
    f->chunk_s = d->chunk_s;
    f->window = d->window;
    f->source = strdup(d->source);
    f->ring = calloc(d->window, sizeof(*f->ring));
    if (f->source == NULL || f->ring == NULL) {
        free(f->source);
        free(f->ring);
        free(f);
        return OA_ENOMEM;
    }
    f->last_chunk_ms = p->api->now_ms(p->self);
    memset(&opts, 0, sizeof(opts));
    opts.size = sizeof(opts);
    opts.url = f->source;
    opts.target_seconds = f->chunk_s;
    opts.realtime = 1;
    opts.loop = 1;
    rc = p->seg->open(p->seg->instance, &opts, NULL, on_job_open, on_job_chunk, on_job_end, f,
                      &f->job);
    if (rc != 0) {
        p->api->log(p->self, OA_LOG_WARN, "the segmenter refused %s: %s", f->source,
                    oa_strerror(rc));
        free(f->source);
        free(f->ring);
        free(f);
        return rc;
    }
    f->next = p->feeds;
    p->feeds = f;
    *out = f;
    return 0;
}

/* ---- the live service -------------------------------------------------------------- */

static int svc_probe(void *instance, const void *file, size_t len, char id[41])
{
    (void)instance;
    if (!is_descriptor(file, len)) {
        return OA_EINVAL;
    }
    sha1_hex(file, len, id);
    return 0;
}

static int svc_subscribe(void *instance, const char id[41], const void *descriptor,
                         size_t descriptor_len, oa_live_state_cb on_state,
                         oa_media_chunk_cb on_chunk, void *arg, oa_live_sub **out)
{
    lf_plugin *p = instance;
    lf_feed *f;
    oa_live_sub *s;
    char got[41];
    char why[200];
    lf_desc d;
    int rc;

    if (p == NULL || !p->running) {
        return OA_ESTATE;
    }
    if (id == NULL || on_state == NULL || on_chunk == NULL || out == NULL) {
        return OA_EINVAL;
    }
    if (descriptor == NULL) {
        p->api->log(p->self, OA_LOG_WARN,
                    "cannot subscribe to %.40s without its descriptor: the test live engine "
                    "does not fetch descriptors from peers",
                    id);
        return OA_ENOSYS;
    }
    why[0] = '\0';
    rc = parse_descriptor(descriptor, descriptor_len, &d, why, sizeof(why));
    if (rc != 0) {
        p->api->log(p->self, OA_LOG_WARN, "refused a descriptor: %s",
                    why[0] != '\0' ? why : oa_strerror(rc));
        return rc;
    }
    sha1_hex(descriptor, descriptor_len, got);
    if (strncmp(got, id, 40) != 0) {
        p->api->log(p->self, OA_LOG_WARN,
                    "refused a descriptor: its SHA-1 %s is not the content ID %.40s", got, id);
        free(d.source);
        return OA_EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        free(d.source);
        return OA_ENOMEM;
    }
    f = find_feed(p, got);
    if (f == NULL) {
        rc = feed_open(p, got, &d, &f);
    }
    free(d.source);
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->feed = f;
    s->on_state = on_state;
    s->on_chunk = on_chunk;
    s->arg = arg;
    if (f->opened || f->failed) {
        rc = p->api->timer_start(p->self, 0, 0, on_kick, s, &s->kick);
        if (rc != 0) {
            if (f->subs == NULL && f->busy == 0) {
                feed_free(f);
            }
            free(s);
            return rc;
        }
    }
    s->next = f->subs;
    f->subs = s;
    *out = s;
    return 0;
}

static void svc_unsubscribe(oa_live_sub *sub)
{
    lf_feed *f;

    if (sub == NULL || sub->dead) {
        return;
    }
    f = sub->feed;
    sub->dead = 1;
    if (sub->kick != NULL) {
        f->p->api->timer_stop(sub->kick);
        sub->kick = NULL;
    }
    feed_enter(f);
    feed_leave(f);
}

static uint64_t feed_rate(const lf_feed *f)
{
    uint64_t bytes = 0;
    int64_t us = 0;
    uint64_t first = ring_first(f);

    for (uint64_t q = first; q < f->count; q++) {
        const lf_chunk *c = ring_get(f, q);
        if (c != NULL) {
            bytes += c->len;
            us += c->duration_us > 0 ? c->duration_us : 0;
        }
    }
    return us > 0 ? (uint64_t)((double)bytes * 1e6 / (double)us) : 0;
}

static int feed_stalled(const lf_feed *f)
{
    uint64_t now = f->p->api->now_ms(f->p->self);
    double limit_ms = LF_STALL_FACTOR * f->chunk_s * 1000.0;
    return now > f->last_chunk_ms && (double)(now - f->last_chunk_ms) > limit_ms;
}

static void svc_status(oa_live_sub *sub, oa_live_status *st)
{
    const lf_feed *f;
    oa_live_status out;
    size_t n;

    if (sub == NULL || st == NULL || st->size == 0) {
        return;
    }
    f = sub->feed;
    memset(&out, 0, sizeof(out));
    out.size = st->size < sizeof(out) ? st->size : (uint32_t)sizeof(out);
    if (f->count > 0) {
        const lf_chunk *a = ring_get(f, ring_first(f));
        const lf_chunk *b = ring_get(f, f->count - 1);
        out.first = ring_first(f);
        out.last = f->count - 1;
        out.first_ts = a != NULL ? a->wallclock_ms / 1000 : 0;
        out.last_ts = b != NULL ? b->wallclock_ms / 1000 : 0;
    }
    out.peers = 0;
    out.downloaded = f->downloaded;
    out.download_rate = feed_stalled(f) ? 0 : feed_rate(f);
    out.stalled = feed_stalled(f);
    snprintf(out.error, sizeof(out.error), "%s", f->failed ? f->error : "");
    n = out.size;
    memcpy(st, &out, n);
}

/* ---- commands ---------------------------------------------------------------------- */

static void on_resume(void *arg, oa_timer *t)
{
    lf_feed *f = arg;

    (void)t;
    f->resume = NULL;
    f->paused = 0;
    if (f->job != NULL && !f->failed) {
        f->p->seg->pause(f->job, 0);
    }
    f->p->api->log(f->p->self, OA_LOG_INFO, "feed %.8s resumed", f->id);
}

static int reply_json(lf_plugin *p, json_t *v, char **out)
{
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (text == NULL) {
        return OA_ENOMEM;
    }
    *out = p->api->str_dup(text);
    free(text);
    return *out != NULL ? 0 : OA_ENOMEM;
}

static int reply_error(lf_plugin *p, int rc, const char *msg, char **out)
{
    p->api->set_error(p->self, "%s", msg);
    *out = p->api->str_dup(msg);
    return rc;
}

static int cmd_stall(lf_plugin *p, const char *args, char **out)
{
    json_t *root = json_loads(args, 0, NULL);
    const char *id = json_string_value(json_object_get(root, "id"));
    json_t *secs = json_object_get(root, "seconds");
    lf_feed *f;
    double seconds;
    int rc;

    if (id == NULL || !json_is_number(secs) || json_number_value(secs) <= 0 ||
        json_number_value(secs) > 3600) {
        json_decref(root);
        return reply_error(p, OA_EINVAL,
                           "stall needs {\"id\": \"<content ID>\", \"seconds\": 1 to 3600}",
                           out);
    }
    seconds = json_number_value(secs);
    f = find_feed(p, id);
    json_decref(root);
    if (f == NULL || f->job == NULL) {
        return reply_error(p, OA_ENOENT,
                           "no feed runs for that content ID; play it first (see the status "
                           "command)",
                           out);
    }
    if (f->resume != NULL) {
        p->api->timer_stop(f->resume);
        f->resume = NULL;
    }
    rc = p->api->timer_start(p->self, (uint64_t)(seconds * 1000.0), 0, on_resume, f,
                             &f->resume);
    if (rc != 0) {
        return reply_error(p, rc, "cannot start the resume timer", out);
    }
    f->paused = 1;
    p->seg->pause(f->job, 1);
    p->api->log(p->self, OA_LOG_INFO, "feed %.8s paused for %.1f s", f->id, seconds);
    return reply_json(p, json_pack("{s:s, s:f}", "stalled", f->id, "seconds", seconds), out);
}

static int cmd_status(lf_plugin *p, char **out)
{
    json_t *list = json_array();

    for (lf_feed *f = p->feeds; f != NULL; f = f->next) {
        size_t nsubs = 0;
        for (oa_live_sub *s = f->subs; s != NULL; s = s->next) {
            nsubs += s->dead ? 0 : 1;
        }
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:f, s:i, s:I, s:I, s:I, s:I, s:b, s:b, s:b, s:s}",
                            "id", f->id, "source", f->source, "chunk", f->chunk_s, "window",
                            (int)f->window, "subscribers", (json_int_t)nsubs, "first",
                            (json_int_t)ring_first(f), "last",
                            (json_int_t)(f->count > 0 ? f->count - 1 : 0), "downloaded",
                            (json_int_t)f->downloaded, "opened", f->opened, "paused",
                            f->paused, "stalled", feed_stalled(f), "error",
                            f->failed ? f->error : ""));
    }
    return reply_json(p, json_pack("{s:o}", "feeds", list), out);
}

static int lf_command(void *state, const char *name, const char *json_args, char **out)
{
    lf_plugin *p = state;

    if (strcmp(name, "stall") == 0) {
        return cmd_stall(p, json_args, out);
    }
    if (strcmp(name, "status") == 0) {
        return cmd_status(p, out);
    }
    return OA_ENOTFOUND;
}

/* ---- lifecycle --------------------------------------------------------------------- */

static int lf_init(oa_plugin *self, const oa_host_api *api, void **state)
{
    lf_plugin *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        api->set_error(self, "out of memory");
        return OA_ENOMEM;
    }
    p->self = self;
    p->api = api;
    *state = p;
    return 0;
}

static int lf_start(void *state)
{
    lf_plugin *p = state;
    int rc;

    p->seg = p->api->service_lookup(p->self, OA_SEGMENTER_SERVICE, OA_SEGMENTER_VERSION, NULL);
    if (p->seg == NULL || p->seg->size < offsetof(oa_segmenter, close) + sizeof(p->seg->close)) {
        p->api->set_error(p->self, "the segmenter service is not running; enable the "
                                   "segmenter plugin");
        return OA_EDEPEND;
    }
    memset(&p->service, 0, sizeof(p->service));
    p->service.size = sizeof(p->service);
    p->service.instance = p;
    p->service.probe = svc_probe;
    p->service.subscribe = svc_subscribe;
    p->service.unsubscribe = svc_unsubscribe;
    p->service.status = svc_status;
    p->running = 1;
    rc = p->api->service_register(p->self, OA_LIVE_SERVICE, OA_LIVE_VERSION, &p->service);
    if (rc != 0) {
        p->running = 0;
        p->api->set_error(p->self, "cannot register the live service: %s", oa_strerror(rc));
        return rc;
    }
    return 0;
}

/* Cancels every subscription (on_state(OA_ECANCELED)), frees it, and closes
 * every job: the subscribers forget their subscriptions. */
static void lf_stop(void *state)
{
    lf_plugin *p = state;

    p->running = 0;
    while (p->feeds != NULL) {
        lf_feed *f = p->feeds;
        if (f->job != NULL) {
            p->seg->close(f->job);
            f->job = NULL;
        }
        feed_enter(f);
        for (oa_live_sub *s = f->subs; s != NULL; s = s->next) {
            if (s->kick != NULL) {
                p->api->timer_stop(s->kick);
                s->kick = NULL;
            }
            if (!s->dead) {
                s->dead = 1;
                s->on_state(s->arg, s, OA_ECANCELED, "the live engine stopped");
            }
        }
        feed_leave(f); /* every subscription is dead: frees them and the feed */
    }
}

static void lf_destroy(void *state)
{
    free(state);
}

/* ---- descriptor -------------------------------------------------------------------- */

static const char *const lf_requires[] = {"segmenter", NULL};
static const char *const lf_provides[] = {"live", NULL};

static const oa_plugin_desc lf_desc_plugin = {
    OA_PLUGIN_HEADER,
    .name = "test-live",
    .version = "0.1.0",
    .kind = OA_KIND_ENGINE,
    .summary = "A stand-in live engine for tests: plays a media file in a loop as a live "
               "stream (the live service).",
    .license = "MIT",
    .requires = lf_requires,
    .provides = lf_provides,
    .config = NULL,
    .init = lf_init,
    .start = lf_start,
    .stop = lf_stop,
    .destroy = lf_destroy,
    .health = NULL,
    .command = lf_command,
    .configure = NULL,
};

OA_PLUGIN_ENTRY(lf_desc_plugin)

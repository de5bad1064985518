/*
 * live: broadcasts (live_int.h).
 *
 * A broadcast is a name, a source and its options. What survives a restart
 * is in the plugin's kv store:
 *   key/<name>  the broadcast's Ed25519 private seed (32 bytes)
 *   bc/<name>   its record, JSON: the start arguments, last_seq,
 *               stopped (by the user), the descriptor (base64)
 *   bcs         the names of every broadcast, a JSON array (the kv store
 *               cannot list keys)
 * The descriptor is made the first time and reused unchanged while the
 * name, chunk duration, window and trackers stay the same, so the content
 * ID survives restarts. Sequence numbers never repeat: after a restart they
 * go on from the stored last_seq plus a margin (lv_seq_resume).
 *
 * Running: a segmenter job cuts the source into chunks; each one is
 * numbered, signed with the broadcast's key, published to the swarm and
 * handed to the broadcast's stream (local players). A source that fails,
 * ends (without loop) or stalls is closed and reopened after a back-off of
 * 1, 2, 4 ... retry_max_seconds; one healthy minute resets it.
 */
#include "live_int.h"

#include <stdlib.h>
#include <strings.h>

enum { BC_STOPPED = 0, BC_STARTING, BC_LIVE, BC_RECONNECTING };

static const char *const state_names[] = {"stopped", "starting", "live", "reconnecting"};

/* ---- broadcasts ----------------------------------------------------------------- */

static lv_bc *bc_find(lv_plugin *p, const char *name)
{
    for (lv_bc *bc = p->bcs; bc != NULL; bc = bc->next) {
        if (strcmp(bc->a.name, name) == 0) {
            return bc;
        }
    }
    return NULL;
}

static lv_bc *bc_find_hex(lv_plugin *p, const char *hex)
{
    for (lv_bc *bc = p->bcs; bc != NULL; bc = bc->next) {
        if (bc->hex[0] != '\0' && strcasecmp(bc->hex, hex) == 0) {
            return bc;
        }
    }
    return NULL;
}

static void close_job(lv_bc *bc)
{
    lv_plugin *p = bc->p;
    if (bc->job != NULL) {
        oa_media_job *job = bc->job;
        bc->job = NULL;
        p->seg->close(job);
    }
    if (bc->retry != NULL) {
        p->api->timer_stop(bc->retry);
        bc->retry = NULL;
    }
}

static void on_retry(void *arg, oa_timer *t);

/* The source failed, ended or stalled: close it, tell, retry later. */
static void source_fail(lv_bc *bc, const char *reason)
{
    lv_plugin *p = bc->p;
    uint32_t delay;
    close_job(bc);
    delay = lv_backoff_next(bc->backoff_s, (uint32_t)p->cfg.retry_max_seconds);
    bc->backoff_s = delay;
    bc->state = BC_RECONNECTING;
    bc->healthy_since = 0;
    bc->gap = 1;
    snprintf(bc->source_error, sizeof(bc->source_error), "%s",
             reason != NULL && reason[0] != '\0' ? reason : "the source failed");
    p->api->log(p->self, OA_LOG_WARN, "broadcast \"%s\": %s; reopening in %u s", bc->a.name,
                bc->source_error, delay);
    lv_publish(p, "live.source.error",
               json_pack("{s:s, s:s, s:s, s:I}", "name", bc->a.name, "content_id", bc->hex,
                         "reason", bc->source_error, "retry_in_ms", (json_int_t)delay * 1000));
    if (p->api->timer_start(p->self, (uint64_t)delay * 1000, 0, on_retry, bc, &bc->retry) != 0) {
        bc->retry = NULL;
    }
}

static void on_open(void *arg, oa_media_job *job, int status, const char *reason)
{
    lv_bc *bc = arg;
    lv_plugin *p = bc->p;
    oa_media_info info;
    (void)job;
    if (status != 0) {
        char why[300];
        snprintf(why, sizeof(why), "cannot open the source: %s",
                 reason != NULL ? reason : oa_strerror(status));
        source_fail(bc, why);
        return;
    }
    memset(&info, 0, sizeof(info));
    info.size = sizeof(info);
    if (p->seg->info(bc->job, &info) == 0) {
        p->api->log(p->self, OA_LOG_INFO,
                    "broadcast \"%s\": source open: video %s %dx%d, audio %s, %lld bit/s",
                    bc->a.name, info.video_codec[0] ? info.video_codec : "none", info.width,
                    info.height, info.audio_codec[0] ? info.audio_codec : "none",
                    (long long)info.bitrate);
    }
}

void lv_bc_swarm_failed(lv_bc *bc, const char *reason)
{
    if (bc->stream != NULL) {
        lv_stream_swarm_close(bc->stream);
    }
    bc->publish_fails = 0;
    source_fail(bc, reason);
}

/* What live_publish answered for chunk seq: removed content (the handle
 * is detached) or LV_PUBLISH_FAILS refusals in a row fail the swarm
 * stream (lv_bc_swarm_failed); a single refusal is only logged. */
static void publish_result(lv_bc *bc, uint64_t seq, int rc)
{
    lv_plugin *p = bc->p;
    char why[200];
    if (rc == 0) {
        bc->publish_fails = 0;
        return;
    }
    bc->publish_fails++;
    p->api->log(p->self, OA_LOG_WARN, "broadcast \"%s\": the swarm refused chunk %llu: %s",
                bc->a.name, (unsigned long long)seq, oa_strerror(rc));
    if (rc == OA_ECANCELED) {
        snprintf(why, sizeof(why), "the swarm removed the stream's content");
    } else if (bc->publish_fails >= LV_PUBLISH_FAILS) {
        snprintf(why, sizeof(why), "the swarm refused %u chunks in a row: %s",
                 bc->publish_fails, oa_strerror(rc));
    } else {
        return;
    }
    lv_bc_swarm_failed(bc, why);
}

static void on_chunk(void *arg, const oa_media_chunk *chunk)
{
    lv_bc *bc = arg;
    lv_plugin *p = bc->p;
    oa_lc_chunk c;
    lv_hdr hdr;
    uint64_t seq = bc->next_seq + (bc->gap ? 1 : 0);
    int64_t ts = lv_chunk_ts(lv_wallclock_ms(), bc->has_last, bc->last_ts);
    uint32_t flags = chunk->flags & OA_MEDIA_DISCONTINUITY;
    int rc;
    if (chunk->len == 0 || chunk->len > OA_LC_MAX_CHUNK) {
        p->api->log(p->self, OA_LOG_WARN, "broadcast \"%s\": dropped a chunk of %zu bytes "
                    "(limit %u)", bc->a.name, chunk->len, OA_LC_MAX_CHUNK);
        return;
    }
    if (bc->gap) {
        flags |= OA_MEDIA_DISCONTINUITY;
        bc->gap = 0;
    }
    rc = oa_lc_chunk_sign(bc->seed, seq, ts, chunk->pts_us, chunk->duration_us, chunk->data,
                          chunk->len, &c);
    if (rc != 0) {
        source_fail(bc, "cannot sign a chunk (OpenSSL failed)");
        return;
    }
    bc->last_seq = seq;
    bc->last_ts = ts;
    bc->has_last = 1;
    bc->next_seq = seq + 1;
    bc->chunks++;
    bc->last_chunk_ms = p->api->now_ms(p->self);
    if (bc->healthy_since == 0) {
        bc->healthy_since = bc->last_chunk_ms;
    }
    if (bc->state != BC_LIVE) {
        bc->state = BC_LIVE;
        bc->source_error[0] = '\0';
        p->api->log(p->self, OA_LOG_INFO, "broadcast \"%s\" is live as %s (first chunk %llu)",
                    bc->a.name, bc->hex, (unsigned long long)seq);
    }
    if (++bc->since_persist >= LV_PERSIST_EVERY) {
        bc->since_persist = 0;
        lv_bc_save_record(bc);
    }
    if (bc->stream == NULL) {
        return;
    }
    if (bc->stream->h != NULL) {
        oa_swarm_live_chunk sc;
        memset(&sc, 0, sizeof(sc));
        sc.seq = seq;
        sc.ts_ms = ts;
        sc.pts_us = c.pts_us;
        sc.duration_us = c.duration_us;
        memcpy(sc.hash, c.hash, sizeof(sc.hash));
        memcpy(sc.sig, c.sig, sizeof(sc.sig));
        sc.data = chunk->data;
        sc.len = chunk->len;
        rc = p->swarm->live_publish(bc->stream->h, &sc);
        publish_result(bc, seq, rc);
    }
    if (bc->stream == NULL) {
        return;
    }
    hdr.seq = seq;
    hdr.size = (uint32_t)chunk->len;
    hdr.ts_ms = ts;
    memcpy(hdr.hash, c.hash, sizeof(hdr.hash));
    lv_stream_chunk(bc->stream, &hdr, chunk->data, chunk->len, c.pts_us, c.duration_us, flags);
}

static void on_end(void *arg, oa_media_job *job, int status, const char *reason)
{
    lv_bc *bc = arg;
    char why[300];
    (void)job;
    if (status < 0) {
        snprintf(why, sizeof(why), "the source failed: %s",
                 reason != NULL ? reason : oa_strerror(status));
    } else if (bc->a.loop) {
        snprintf(why, sizeof(why), "the source ended although it was set to loop");
    } else {
        snprintf(why, sizeof(why), "the source ended (set \"loop\": true to play a file "
                                   "again and again)");
    }
    source_fail(bc, why);
}

/* Opens the segmenter job on the source. A refusal counts as a source
 * failure (retried). */
static void open_job(lv_bc *bc)
{
    lv_plugin *p = bc->p;
    oa_segmenter_opts opts;
    const char *format;
    const char *url;
    int rc;
    lv_source_split(bc->a.source, &format, &url);
    memset(&opts, 0, sizeof(opts));
    opts.size = sizeof(opts);
    opts.url = url;
    opts.format = format;
    opts.target_seconds = bc->a.chunk_seconds;
    opts.realtime = lv_source_realtime(bc->a.source, bc->a.loop);
    opts.loop = bc->a.loop;
    bc->last_chunk_ms = p->api->now_ms(p->self);
    bc->healthy_since = 0;
    rc = p->seg->open(p->seg->instance, &opts, NULL, on_open, on_chunk, on_end, bc, &bc->job);
    if (rc != 0) {
        char why[200];
        bc->job = NULL;
        snprintf(why, sizeof(why), "the segmenter refused the source: %s%s", oa_strerror(rc),
                 rc == OA_EAGAIN ? " (raise the segmenter's max_jobs)" : "");
        source_fail(bc, why);
    }
}

static void on_retry(void *arg, oa_timer *t)
{
    lv_bc *bc = arg;
    (void)t;
    bc->retry = NULL;
    if (bc->state == BC_RECONNECTING && bc->job == NULL) {
        char err[300];
        int rc = 0;
        if (bc->stream == NULL) {
            rc = lv_stream_open_source(bc->p, bc, bc->desc, bc->desc_len, &bc->stream, err,
                                       sizeof(err));
            if (rc != 0) {
                bc->stream = NULL;
            }
        } else if (bc->stream->h == NULL) {
            rc = lv_stream_swarm_reopen(bc->stream, err, sizeof(err));
        }
        if (rc != 0) {
            source_fail(bc, err);
            return;
        }
        bc->p->api->log(bc->p->self, OA_LOG_INFO, "broadcast \"%s\": reopening %s",
                        bc->a.name, bc->a.source);
        open_job(bc);
    }
}

/* Makes the descriptor, unless the stored one still fits. */
static int make_descriptor(lv_bc *bc, char *err, size_t errlen)
{
    lv_plugin *p = bc->p;
    oa_lc_descriptor d;
    uint8_t *out = NULL;
    size_t len = 0;
    int rc;
    if (bc->desc != NULL &&
        oa_lc_desc_decode(bc->desc, bc->desc_len, &d, err, errlen) == 0 &&
        memcmp(d.pubkey, bc->pub, OA_LC_KEY_LEN) == 0 && lv_desc_fits(&d, &bc->a)) {
        return 0;
    }
    memset(&d, 0, sizeof(d));
    snprintf(d.name, sizeof(d.name), "%s", bc->a.name);
    memcpy(d.pubkey, bc->pub, OA_LC_KEY_LEN);
    d.chunk_ms = lv_chunk_ms(bc->a.chunk_seconds);
    d.window = bc->a.window;
    d.created = lv_wallclock_ms() / 1000;
    for (size_t i = 0; i < bc->a.ntrackers; i++) {
        snprintf(d.trackers[i], sizeof(d.trackers[i]), "%s", bc->a.trackers[i]);
    }
    d.tracker_count = bc->a.ntrackers;
    /* Stream facts (codecs, size, bitrate) stay unknown: the content ID
     * must be known when start answers, before the source is open. */
    rc = oa_lc_desc_encode(&d, &out, &len, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (bc->desc != NULL) {
        p->api->log(p->self, OA_LOG_INFO, "broadcast \"%s\": name, chunk duration, window or "
                    "trackers changed, so it gets a new content ID", bc->a.name);
    }
    lv_bc_set_descriptor(bc, out, len);
    return 0;
}

static int bc_run_inner(lv_bc *bc, char *err, size_t errlen);

/* Starts (or restarts) a broadcast: key, descriptor, stream, job. 0, or
 * OA_E* with a sentence in err (then it is stopped). */
static int bc_run(lv_bc *bc, char *err, size_t errlen)
{
    int rc = bc_run_inner(bc, err, errlen);
    if (rc != 0) {
        close_job(bc);
        if (bc->stream != NULL) {
            lv_stream *s = bc->stream;
            bc->stream = NULL;
            s->bc = NULL;
            lv_stream_close(s, OA_EIO, "the broadcast could not restart");
        }
        bc->state = BC_STOPPED;
        snprintf(bc->source_error, sizeof(bc->source_error), "%.250s", err);
    }
    return rc;
}

static int bc_run_inner(lv_bc *bc, char *err, size_t errlen)
{
    lv_plugin *p = bc->p;
    char old_hex[41];
    int rc;
    if (p->swarm == NULL) {
        snprintf(err, errlen, "%s", p->swarm_why);
        return OA_EDEPEND;
    }
    snprintf(old_hex, sizeof(old_hex), "%s", bc->hex);
    close_job(bc);
    rc = lv_bc_load_key(bc);
    if (rc != 0) {
        snprintf(err, errlen, "cannot make or store the broadcast's key: %s", oa_strerror(rc));
        return rc;
    }
    rc = make_descriptor(bc, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (bc->stream != NULL && strcmp(old_hex, bc->hex) != 0) {
        lv_stream *old = bc->stream;
        bc->stream = NULL;
        old->bc = NULL;
        lv_stream_close(old, OA_EIO, "the broadcast restarted with a new content ID");
        lv_publish(p, "live.stopped", json_pack("{s:s, s:s, s:s}", "name", bc->a.name,
                                                "content_id", old_hex, "reason",
                                                "restarted with a new content ID"));
    }
    if (bc->stream == NULL) {
        rc = lv_stream_open_source(p, bc, bc->desc, bc->desc_len, &bc->stream, err, errlen);
        if (rc != 0) {
            bc->stream = NULL;
            return rc;
        }
    } else {
        /* Its swarm handle may be closed, waiting for the retry. */
        rc = lv_stream_swarm_reopen(bc->stream, err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    bc->next_seq = lv_seq_resume(bc->has_last, bc->has_last ? bc->last_seq : 0);
    if (bc->has_last) {
        /* The margin is skipped: viewers see a gap (a discontinuity). */
        bc->last_seq = bc->next_seq - 1;
    }
    bc->gap = 0;
    bc->user_stopped = 0;
    bc->backoff_s = 0;
    bc->chunks = 0;
    bc->since_persist = 0;
    bc->source_error[0] = '\0';
    bc->state = BC_STARTING;
    lv_bc_save_record(bc);
    lv_bc_save_index(p);
    p->api->log(p->self, OA_LOG_INFO, "broadcast \"%s\" (%s) starting from %s, chunk %llu on",
                bc->a.name, bc->hex, bc->a.source, (unsigned long long)bc->next_seq);
    lv_publish(p, "live.started",
               json_pack("{s:s, s:s}", "name", bc->a.name, "content_id", bc->hex));
    open_job(bc);
    return 0;
}

/* Stops a running broadcast: job, stream, record; publishes live.stopped. */
static void bc_halt(lv_bc *bc, const char *reason, int by_user)
{
    lv_plugin *p = bc->p;
    int was_running = bc->state != BC_STOPPED;
    close_job(bc);
    if (bc->stream != NULL) {
        lv_stream *s = bc->stream;
        bc->stream = NULL;
        s->bc = NULL;
        lv_stream_close(s, OA_EIO, "the broadcast was stopped");
    }
    bc->state = BC_STOPPED;
    if (by_user) {
        bc->user_stopped = 1;
    }
    if (bc->have_key) {
        lv_bc_save_record(bc);
    }
    if (was_running) {
        p->api->log(p->self, OA_LOG_INFO, "broadcast \"%s\" stopped (%s) after chunk %llu",
                    bc->a.name, reason, (unsigned long long)bc->last_seq);
        lv_publish(p, "live.stopped", json_pack("{s:s, s:s, s:s}", "name", bc->a.name,
                                                "content_id", bc->hex, "reason", reason));
    }
}

static void bc_unlink_free(lv_bc *bc)
{
    lv_plugin *p = bc->p;
    for (lv_bc **pp = &p->bcs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == bc) {
            *pp = bc->next;
            break;
        }
    }
    memset(bc->seed, 0, sizeof(bc->seed));
    free(bc->desc);
    free(bc);
}

void lv_bc_stream_gone(lv_bc *bc, lv_stream *s)
{
    if (bc->stream == s) {
        bc->stream = NULL;
    }
}

const uint8_t *lv_bc_seed_for(lv_plugin *p, const uint8_t id[OA_LC_ID_LEN])
{
    char hex[41];
    lv_bc *bc;
    oa_lc_hex40(id, hex);
    bc = bc_find_hex(p, hex);
    return bc != NULL && bc->have_key && bc->stream != NULL ? bc->seed : NULL;
}

/* ---- loading and stopping -------------------------------------------------------- */

void lv_bc_load_all(lv_plugin *p)
{
    json_t *names = lv_kv_json(p, "bcs");
    size_t i;
    json_t *v;
    lv_bc **tail = &p->bcs;
    json_array_foreach(names, i, v)
    {
        const char *name = json_string_value(v);
        lv_bc *bc;
        if (name == NULL || bc_find(p, name) != NULL) {
            continue;
        }
        bc = lv_bc_from_record(p, name);
        if (bc == NULL) {
            continue;
        }
        *tail = bc;
        tail = &bc->next;
    }
    json_decref(names);
    for (lv_bc *bc = p->bcs; bc != NULL; bc = bc->next) {
        char err[300];
        if (!bc->a.auto_start || bc->user_stopped) {
            continue;
        }
        if (bc_run(bc, err, sizeof(err)) != 0) {
            p->api->log(p->self, OA_LOG_WARN, "broadcast \"%s\" cannot resume: %s", bc->a.name,
                        err);
        }
    }
}

void lv_bc_stop_all(lv_plugin *p)
{
    for (lv_bc *bc = p->bcs; bc != NULL; bc = bc->next) {
        int stopped = bc->user_stopped;
        if (bc->stream != NULL) {
            /* plugin.c cancels the stream's players (OA_ECANCELED). */
            bc->stream->bc = NULL;
            bc->stream = NULL;
        }
        if (bc->state != BC_STOPPED) {
            bc_halt(bc, "the live plugin stopped", 0);
        }
        bc->user_stopped = stopped;
    }
    lv_bc_free_all(p);
}

void lv_bc_free_all(lv_plugin *p)
{
    while (p->bcs != NULL) {
        lv_bc *bc = p->bcs;
        close_job(bc);
        if (bc->stream != NULL) {
            bc->stream->bc = NULL;
        }
        bc_unlink_free(bc);
    }
}

void lv_bc_tick(lv_plugin *p, uint64_t now_ms)
{
    uint64_t stall_ms = (uint64_t)p->cfg.stall_seconds * 1000;
    for (lv_bc *bc = p->bcs; bc != NULL; bc = bc->next) {
        if (bc->job == NULL) {
            continue;
        }
        if (bc->healthy_since != 0 && now_ms - bc->healthy_since >= LV_HEALTHY_MS) {
            bc->backoff_s = 0;
        }
        if (now_ms - bc->last_chunk_ms > stall_ms) {
            char why[160];
            snprintf(why, sizeof(why), "the source gave no chunk for %llu s",
                     (unsigned long long)((now_ms - bc->last_chunk_ms) / 1000));
            source_fail(bc, why);
        }
    }
}

/* ---- commands -------------------------------------------------------------------- */

static json_t *answer(lv_bc *bc)
{
    const char *base = bc->p->cfg.listen_url;
    char gs[400];
    char mf[400];
    char ds[400];
    snprintf(gs, sizeof(gs), "%s/ace/getstream?id=%s", base, bc->hex);
    snprintf(mf, sizeof(mf), "%s/ace/manifest.m3u8?id=%s", base, bc->hex);
    snprintf(ds, sizeof(ds), "%s/live/%s.acelive", base, bc->hex);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "name", bc->a.name,
                     "content_id", bc->hex, "state", state_names[bc->state], "getstream", gs,
                     "manifest", mf, "descriptor", ds, "next_seq", (json_int_t)bc->next_seq,
                     "source_error", bc->source_error);
}

int lv_bc_cmd_start(lv_plugin *p, const char *json_args, char **out)
{
    json_t *o = json_loads(json_args, 0, NULL);
    lv_bc_args a;
    char err[300];
    lv_bc *bc;
    int created = 0;
    int rc = lv_args_parse(o, p->cfg.default_chunk_seconds, p->cfg.default_window, &a, err,
                           sizeof(err));
    json_decref(o);
    if (rc != 0) {
        return lv_fail(p, rc, out, "%s", err);
    }
    if (p->swarm == NULL) {
        return lv_fail(p, OA_EDEPEND, out, "%s", p->swarm_why);
    }
    bc = bc_find(p, a.name);
    if (bc == NULL) {
        bc = calloc(1, sizeof(*bc));
        if (bc == NULL) {
            return lv_fail(p, OA_ENOMEM, out, "out of memory");
        }
        bc->p = p;
        bc->next = p->bcs;
        p->bcs = bc;
        created = 1;
    } else if (bc->state != BC_STOPPED) {
        p->api->log(p->self, OA_LOG_INFO, "broadcast \"%s\" restarts", a.name);
    }
    bc->a = a;
    rc = bc_run(bc, err, sizeof(err));
    if (rc != 0) {
        if (created) {
            /* A new name leaves nothing behind: lv_bc_load_key stored its key. */
            char key[LV_NAME_MAX + 8];
            if (bc->key_made) {
                lv_kv_name(key, sizeof(key), "key/", bc->a.name);
                p->api->kv_del(p->self, key);
            }
            bc_unlink_free(bc);
        }
        return lv_fail(p, rc, out, "the broadcast cannot start: %s", err);
    }
    return lv_reply(p, answer(bc), out);
}

int lv_bc_cmd_stop(lv_plugin *p, const char *json_args, char **out)
{
    json_t *o = json_loads(json_args, 0, NULL);
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *hex = json_string_value(json_object_get(o, "content_id"));
    json_t *forget = json_object_get(o, "forget");
    lv_bc *bc = NULL;
    json_t *reply;
    int rc;
    if ((name == NULL && hex == NULL) || (forget != NULL && !json_is_boolean(forget))) {
        json_decref(o);
        return lv_fail(p, OA_EINVAL, out, "give {\"name\": \"...\"} or {\"content_id\": "
                                          "\"...\"}, and optionally \"forget\": true");
    }
    bc = name != NULL ? bc_find(p, name) : bc_find_hex(p, hex);
    if (bc == NULL) {
        rc = lv_fail(p, OA_ENOENT, out, "no broadcast %s \"%s\" (see the list command)",
                     name != NULL ? "named" : "with content ID", name != NULL ? name : hex);
        json_decref(o);
        return rc;
    }
    bc_halt(bc, "stopped", 1);
    reply = json_pack("{s:s, s:s, s:s, s:b}", "name", bc->a.name, "content_id", bc->hex,
                      "state", "stopped", "forgotten", json_is_true(forget));
    if (json_is_true(forget)) {
        char key[LV_NAME_MAX + 8];
        lv_kv_name(key, sizeof(key), "key/", bc->a.name);
        p->api->kv_del(p->self, key);
        lv_kv_name(key, sizeof(key), "bc/", bc->a.name);
        p->api->kv_del(p->self, key);
        p->api->log(p->self, OA_LOG_INFO, "broadcast \"%s\" forgotten with its key",
                    bc->a.name);
        bc_unlink_free(bc);
        lv_bc_save_index(p);
    }
    json_decref(o);
    return lv_reply(p, reply, out);
}

json_t *lv_bc_list_json(lv_plugin *p)
{
    json_t *list = json_array();
    for (lv_bc *bc = p->bcs; bc != NULL; bc = bc->next) {
        oa_swarm_live_stats ss;
        size_t players = 0;
        memset(&ss, 0, sizeof(ss));
        if (bc->stream != NULL) {
            lv_stream_swarm_stats(bc->stream, &ss);
            players = bc->stream->nsubs;
        }
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
                            "name", bc->a.name, "content_id", bc->hex, "state",
                            state_names[bc->state], "source", bc->a.source, "auto_start",
                            bc->a.auto_start, "loop", bc->a.loop, "chunks",
                            (json_int_t)bc->chunks, "last_seq", (json_int_t)bc->last_seq,
                            "uploaded", (json_int_t)ss.uploaded, "peers", (json_int_t)ss.peers,
                            "viewers", (json_int_t)(ss.peers + players), "players",
                            (json_int_t)players, "source_error", bc->source_error));
    }
    return list;
}

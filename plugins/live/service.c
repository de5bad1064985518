/*
 * live: the `live` service of media.h over the streams of stream.c
 * (subscriptions of the streamer, their first delivery, status) and
 * GET /live/<content_id>.acelive. live_int.h is the contract.
 */
#include "live_int.h"

#include <stdlib.h>

/* ---- the live service ---------------------------------------------------------- */

static int svc_probe(void *instance, const void *file, size_t len, char id[41])
{
    oa_lc_descriptor d;
    uint8_t cid[OA_LC_ID_LEN];
    char err[160];
    (void)instance;
    if (file == NULL || len == 0 || len > OA_LC_MAX_DESCRIPTOR || !oa_lc_desc_is(file, len) ||
        oa_lc_desc_decode(file, len, &d, err, sizeof(err)) != 0) {
        return OA_EINVAL;
    }
    oa_lc_content_id(file, len, cid);
    oa_lc_hex40(cid, id);
    return 0;
}

static void on_kick(void *arg, oa_timer *t)
{
    oa_live_sub *sub = arg;
    lv_stream *s = sub->s;
    (void)t;
    sub->kick = NULL;
    if (sub->dead || (s->desc == NULL && !s->failed)) {
        return; /* the descriptor's arrival starts it */
    }
    lv_stream_enter(s);
    lv_sub_start(s, sub);
    lv_stream_leave(s);
}

static int svc_subscribe(void *instance, const char id[41], const void *descriptor,
                         size_t descriptor_len, oa_live_state_cb on_state,
                         oa_media_chunk_cb on_chunk, void *arg, oa_live_sub **out)
{
    lv_plugin *p = instance;
    uint8_t bin[OA_LC_ID_LEN];
    char hex[41];
    lv_stream *s;
    oa_live_sub *sub;
    int created = 0;
    int rc;
    if (p == NULL || !p->running) {
        return OA_ESTATE;
    }
    if (id == NULL || on_state == NULL || on_chunk == NULL || out == NULL) {
        return OA_EINVAL;
    }
    memcpy(hex, id, 40);
    hex[40] = '\0';
    if (oa_lc_unhex40(hex, bin) != 0) {
        p->api->log(p->self, OA_LOG_WARN, "refused a subscription: %.40s is not a content ID",
                    hex);
        return OA_EINVAL;
    }
    if (descriptor != NULL) {
        uint8_t got[OA_LC_ID_LEN];
        if (svc_probe(p, descriptor, descriptor_len, hex) != 0) {
            p->api->log(p->self, OA_LOG_WARN, "refused a subscription: not a valid live "
                                              "descriptor");
            return OA_EINVAL;
        }
        oa_lc_content_id(descriptor, descriptor_len, got);
        if (memcmp(got, bin, OA_LC_ID_LEN) != 0) {
            p->api->log(p->self, OA_LOG_WARN, "refused a subscription: the descriptor's SHA-1 "
                                              "is not the content ID");
            return OA_EINVAL;
        }
    }
    sub = calloc(1, sizeof(*sub));
    if (sub == NULL) {
        return OA_ENOMEM;
    }
    s = lv_stream_find(p, bin);
    if (s == NULL) {
        lv_stream_retire_failed(p, bin);
        if (p->swarm == NULL) {
            p->api->log(p->self, OA_LOG_WARN, "cannot view %.8s: %s", hex, p->swarm_why);
            free(sub);
            return OA_ENOSYS;
        }
        s = lv_stream_new(p, bin);
        if (s == NULL) {
            free(sub);
            return OA_ENOMEM;
        }
        rc = descriptor != NULL ? lv_stream_set_descriptor(s, descriptor, descriptor_len) : 0;
        if (rc == 0) {
            rc = lv_stream_open_swarm(s, descriptor, descriptor != NULL ? descriptor_len : 0, 0);
        }
        if (rc != 0) {
            p->api->log(p->self, OA_LOG_WARN, "the swarm refused to join %.8s: %s", s->hex,
                        oa_strerror(rc));
            free(s->hdrs);
            free(s->desc);
            free(s);
            free(sub);
            return rc;
        }
        if (p->chat != NULL && s->desc != NULL) {
            lv_chat_stream_open(p->chat, s->id, s->d.pubkey);
            s->chat_open = 1;
        }
        s->next = p->streams;
        p->streams = s;
        created = 1;
        p->api->log(p->self, OA_LOG_INFO, "joining live stream %s%s", s->hex,
                    descriptor != NULL ? "" : " (descriptor from peers)");
    }
    sub->s = s;
    sub->on_state = on_state;
    sub->on_chunk = on_chunk;
    sub->arg = arg;
    if (s->desc != NULL || s->failed) {
        rc = p->api->timer_start(p->self, 0, 0, on_kick, sub, &sub->kick);
        if (rc != 0) {
            free(sub);
            if (created) {
                lv_stream_free(s);
            }
            return rc;
        }
    }
    if (s->linger != NULL) {
        p->api->timer_stop(s->linger);
        s->linger = NULL;
    }
    sub->next = s->subs;
    s->subs = sub;
    s->nsubs++;
    lv_viewer_event(p, s->hex, "http", "local", 1);
    *out = sub;
    return 0;
}

static void svc_unsubscribe(oa_live_sub *sub)
{
    lv_stream *s;
    if (sub == NULL || sub->dead) {
        return;
    }
    s = sub->s;
    sub->dead = 1;
    s->nsubs--;
    if (sub->kick != NULL) {
        s->p->api->timer_stop(sub->kick);
        sub->kick = NULL;
    }
    lv_viewer_event(s->p, s->hex, "http", "local", 0);
    lv_stream_enter(s);
    lv_stream_leave(s);
}

static uint64_t stream_rate(lv_stream *s)
{
    uint64_t bytes = 0;
    int64_t us = 0;
    uint64_t oldest = s->kcount > LV_KEEP ? s->kcount - LV_KEEP : 0;
    for (uint64_t i = oldest; i < s->kcount; i++) {
        lv_data *k = &s->keep[i % LV_KEEP];
        if (k->data != NULL && k->duration_us > 0) {
            bytes += k->len;
            us += k->duration_us;
        }
    }
    return us > 0 ? (uint64_t)((double)bytes * 1e6 / (double)us) : 0;
}

static int stream_stalled(lv_stream *s)
{
    uint64_t now = s->p->api->now_ms(s->p->self);
    uint64_t chunk_ms = s->desc != NULL ? s->d.chunk_ms : 1000;
    return now > s->last_chunk_ms && now - s->last_chunk_ms > LV_STALL_FACTOR * chunk_ms;
}

static void svc_status(oa_live_sub *sub, oa_live_status *st)
{
    lv_stream *s;
    oa_live_status out;
    oa_swarm_live_stats ss;
    const lv_hdr *a;
    const lv_hdr *b;
    if (sub == NULL || st == NULL || st->size == 0) {
        return;
    }
    s = sub->s;
    memset(&out, 0, sizeof(out));
    out.size = st->size < sizeof(out) ? st->size : (uint32_t)sizeof(out);
    lv_stream_swarm_stats(s, &ss);
    a = lv_stream_hdr(s, 0);
    b = lv_stream_hdr(s, 1);
    if (a != NULL && b != NULL) {
        out.first = a->seq;
        out.last = b->seq;
        out.first_ts = a->ts_ms / 1000;
        out.last_ts = b->ts_ms / 1000;
    }
    if (ss.has_edge && s->bc == NULL) {
        out.first = ss.first;
        out.last = ss.last;
    }
    out.peers = ss.peers;
    out.downloaded = s->bc != NULL ? s->bytes_in : ss.downloaded;
    out.uploaded = ss.uploaded;
    out.stalled = stream_stalled(s);
    out.download_rate = s->bc != NULL ? (out.stalled ? 0 : stream_rate(s)) : ss.download_rate;
    out.upload_rate = ss.upload_rate;
    snprintf(out.error, sizeof(out.error), "%s", s->failed ? s->error : ss.error);
    memcpy(st, &out, out.size);
}

/* Cancels every subscription (on_state(OA_ECANCELED)) and frees every
 * stream: the provider is stopping. */
void lv_stream_cancel_all(lv_plugin *p)
{
    while (p->streams != NULL) {
        lv_stream *s = p->streams;
        lv_stream_enter(s);
        for (oa_live_sub *sub = s->subs; sub != NULL; sub = sub->next) {
            if (sub->kick != NULL) {
                p->api->timer_stop(sub->kick);
                sub->kick = NULL;
            }
            if (!sub->dead) {
                sub->dead = 1;
                s->nsubs--;
                sub->on_state(sub->arg, sub, OA_ECANCELED, "the live engine stopped");
            }
        }
        lv_stream_retire(s);
        lv_stream_leave(s); /* every subscription is dead: frees them and the stream */
    }
}

/* Fills p->service: the `live` service of media.h over the streams. */
void lv_stream_service_init(lv_plugin *p)
{
    memset(&p->service, 0, sizeof(p->service));
    p->service.size = sizeof(p->service);
    p->service.instance = p;
    p->service.probe = svc_probe;
    p->service.subscribe = svc_subscribe;
    p->service.unsubscribe = svc_unsubscribe;
    p->service.status = svc_status;
}

/* ---- GET /live/<content_id>.acelive -------------------------------------------- */

/* Serves GET /live/<content_id>.acelive: the descriptor of a stream open here. */
int lv_stream_http_acelive(void *arg, oa_http_req *req)
{
    lv_plugin *p = arg;
    const char *path = p->api->http_path(req);
    char hex[41];
    char msg[200];
    lv_stream *s;
    if (lv_acelive_path(path, hex) != 0) {
        snprintf(msg, sizeof(msg), "not found: descriptors are at /live/<40-hex content "
                                   "ID>.acelive\n");
        return p->api->http_reply(req, 404, "text/plain", msg, strlen(msg));
    }
    s = lv_stream_find_hex(p, hex);
    if (s == NULL || s->desc == NULL) {
        snprintf(msg, sizeof(msg), "no live stream %s is open on this engine\n", hex);
        return p->api->http_reply(req, 404, "text/plain", msg, strlen(msg));
    }
    p->api->http_set_header(req, "Cache-Control", "no-cache");
    return p->api->http_reply(req, 200, "application/x-openace-live", s->desc, s->desc_len);
}

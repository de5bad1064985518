/*
 * plugins/live/stream.c and service.c against a fake host and swarm: what
 * happens when the swarm's content of a live stream fails or is removed
 * (its handle detached: stats give OA_SWARM_ERROR). A viewer's players get
 * on_state(< 0) with the reason instead of a silent stall; a broadcast's
 * stream tells its broadcast (lv_bc_swarm_failed) and its handle opens
 * again; a new player of a failed stream still lingering gets fresh swarm
 * content, not the failed one. Descriptors are real livecore ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "live_int.h"

/* ---- the fake host: a log sink, a clock and timers fired on demand ------------ */

#define NTIMERS 32

struct oa_timer {
    oa_timer_cb cb;
    void *arg;
    uint64_t timeout;
    int active;
};

static struct oa_timer timers[NTIMERS];

static void f_log(oa_plugin *self, oa_log_level level, const char *fmt, ...)
{
    (void)self;
    (void)level;
    (void)fmt;
}

static uint64_t f_now(oa_plugin *self)
{
    (void)self;
    return 1000;
}

static int f_timer_start(oa_plugin *self, uint64_t timeout, uint64_t repeat, oa_timer_cb cb,
                         void *arg, oa_timer **t)
{
    (void)self;
    (void)repeat;
    for (size_t i = 0; i < NTIMERS; i++) {
        if (!timers[i].active) {
            timers[i].cb = cb;
            timers[i].arg = arg;
            timers[i].timeout = timeout;
            timers[i].active = 1;
            *t = &timers[i];
            return 0;
        }
    }
    return OA_ENOMEM;
}

static void f_timer_stop(oa_timer *t)
{
    t->active = 0;
}

/* Fires every active timer due within max_ms (one pass). */
static void run_timers(uint64_t max_ms)
{
    for (size_t i = 0; i < NTIMERS; i++) {
        if (timers[i].active && timers[i].timeout <= max_ms) {
            timers[i].active = 0;
            timers[i].cb(timers[i].arg, &timers[i]);
        }
    }
}

/* ---- the fake swarm: handles that remember their callbacks -------------------- */

#define NHANDLES 8

struct oa_swarm_handle {
    int open;
    int closed;
    int publish;
    oa_swarm_live_cbs cbs;
    void *arg;
    int state;
    char error[160];
};

static struct oa_swarm_handle handles[NHANDLES];
static size_t nhandles;

static int f_live_open(void *instance, const uint8_t id[20], const void *descriptor,
                       size_t descriptor_len, int publish, const oa_swarm_live_cbs *cbs,
                       void *arg, oa_swarm_handle **out)
{
    oa_swarm_handle *h;
    (void)instance;
    (void)id;
    (void)descriptor;
    (void)descriptor_len;
    assert_true(nhandles < NHANDLES);
    h = &handles[nhandles++];
    memset(h, 0, sizeof(*h));
    h->open = 1;
    h->publish = publish;
    h->cbs = *cbs;
    h->arg = arg;
    h->state = OA_SWARM_DOWNLOADING;
    *out = h;
    return 0;
}

static void f_close(oa_swarm_handle *h)
{
    assert_true(h->open);
    h->open = 0;
    h->closed = 1;
}

static void f_stats(oa_swarm_handle *h, oa_swarm_stats *st)
{
    assert_true(h->open);
    memset((uint8_t *)st + sizeof(uint32_t), 0, sizeof(*st) - sizeof(uint32_t));
    st->state = h->state;
    snprintf(st->error, sizeof(st->error), "%s", h->error);
}

static void f_live_stats(oa_swarm_handle *h, oa_swarm_live_stats *st)
{
    (void)h;
    memset((uint8_t *)st + sizeof(uint32_t), 0, sizeof(*st) - sizeof(uint32_t));
}

/* The content is removed under the handle (what the swarm's stats say of a
 * detached handle). */
static void detach(oa_swarm_handle *h)
{
    h->state = OA_SWARM_ERROR;
    snprintf(h->error, sizeof(h->error), "content removed");
}

/* ---- test doubles of the plugin's other files ------------------------------------ */

static int swarm_failed_calls;
static char swarm_failed_reason[256];

void lv_publish(lv_plugin *p, const char *topic, json_t *obj)
{
    (void)p;
    (void)topic;
    json_decref(obj);
}

void lv_bc_stream_gone(lv_bc *bc, lv_stream *s)
{
    if (bc->stream == s) {
        bc->stream = NULL;
    }
}

/* What broadcast.c does first: the swarm handle closes (the retry path
 * reopens it). */
void lv_bc_swarm_failed(lv_bc *bc, const char *reason)
{
    swarm_failed_calls++;
    snprintf(swarm_failed_reason, sizeof(swarm_failed_reason), "%s", reason);
    lv_stream_swarm_close(bc->stream);
}

void lv_chat_stream_open(lv_chat *c, const uint8_t id[20], const uint8_t broadcaster_pub[32])
{
    (void)c;
    (void)id;
    (void)broadcaster_pub;
}

void lv_chat_stream_close(lv_chat *c, const uint8_t id[20])
{
    (void)c;
    (void)id;
}

void lv_chat_received(lv_chat *c, const uint8_t id[20], const uint8_t *msg, size_t len)
{
    (void)c;
    (void)id;
    (void)msg;
    (void)len;
}

/* ---- fixture -------------------------------------------------------------------- */

static oa_host_api api;
static oa_swarm swarm;
static lv_plugin plug;
static uint8_t *desc;
static size_t desc_len;
static uint8_t cid[OA_LC_ID_LEN];
static char cid_hex[41];

typedef struct player {
    int states;
    int last_status;
    char last_reason[256];
} player;

static void on_state(void *arg, oa_live_sub *sub, int status, const char *reason)
{
    player *pl = arg;
    (void)sub;
    pl->states++;
    pl->last_status = status;
    snprintf(pl->last_reason, sizeof(pl->last_reason), "%s", reason != NULL ? reason : "");
}

static void on_chunk(void *arg, const oa_media_chunk *chunk)
{
    (void)arg;
    (void)chunk;
}

static int setup(void **state)
{
    oa_lc_descriptor d;
    uint8_t seed[OA_LC_KEY_LEN];
    char err[160];
    (void)state;
    memset(timers, 0, sizeof(timers));
    memset(handles, 0, sizeof(handles));
    nhandles = 0;
    swarm_failed_calls = 0;
    memset(&api, 0, sizeof(api));
    api.size = sizeof(api);
    api.log = f_log;
    api.now_ms = f_now;
    api.timer_start = f_timer_start;
    api.timer_stop = f_timer_stop;
    memset(&swarm, 0, sizeof(swarm));
    swarm.size = sizeof(swarm);
    swarm.close = f_close;
    swarm.stats = f_stats;
    swarm.live_open = f_live_open;
    swarm.live_stats = f_live_stats;
    memset(&plug, 0, sizeof(plug));
    plug.api = &api;
    plug.swarm = &swarm;
    plug.running = 1;
    lv_stream_service_init(&plug);
    memset(&d, 0, sizeof(d));
    snprintf(d.name, sizeof(d.name), "test");
    assert_int_equal(oa_lc_keygen(seed, d.pubkey), 0);
    d.chunk_ms = 1000;
    d.window = 10;
    d.created = 1700000000;
    assert_int_equal(oa_lc_desc_encode(&d, &desc, &desc_len, err, sizeof(err)), 0);
    oa_lc_content_id(desc, desc_len, cid);
    oa_lc_hex40(cid, cid_hex);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lv_stream_cancel_all(&plug);
    assert_null(plug.streams);
    free(desc);
    desc = NULL;
    return 0;
}

static oa_live_sub *subscribe(player *pl, int with_desc)
{
    oa_live_sub *sub = NULL;
    assert_int_equal(plug.service.subscribe(plug.service.instance, cid_hex,
                                            with_desc ? desc : NULL, with_desc ? desc_len : 0,
                                            on_state, on_chunk, pl, &sub),
                     0);
    return sub;
}

/* ---- cases ---------------------------------------------------------------------- */

/* A viewer's swarm content is removed: its player learns it with the
 * swarm's reason at the next tick; the handle closes; the stream goes once
 * the player leaves. */
static void test_viewer_detached(void **state)
{
    player pl = {0};
    oa_live_sub *sub;
    (void)state;
    sub = subscribe(&pl, 1);
    assert_int_equal(nhandles, 1);
    run_timers(0);
    assert_int_equal(pl.states, 1);
    assert_int_equal(pl.last_status, 0);
    lv_stream_tick(&plug);
    assert_int_equal(pl.states, 1); /* healthy: nothing */
    detach(&handles[0]);
    lv_stream_tick(&plug);
    assert_int_equal(pl.states, 2);
    assert_true(pl.last_status < 0);
    assert_non_null(strstr(pl.last_reason, "content removed"));
    assert_true(handles[0].closed);
    lv_stream_tick(&plug); /* told once */
    assert_int_equal(pl.states, 2);
    plug.service.unsubscribe(sub);
    assert_null(plug.streams);
}

/* A stream failed (the descriptor could not be had) and lingers: a new
 * player gets a fresh swarm content, not the failed one. */
static void test_failed_stream_reopened(void **state)
{
    player a = {0};
    player b = {0};
    oa_live_sub *sa;
    oa_live_sub *sb;
    (void)state;
    sa = subscribe(&a, 0);
    assert_int_equal(nhandles, 1);
    handles[0].cbs.descriptor(handles[0].arg, &handles[0], OA_EPROTO, "no peer has it", NULL,
                              0);
    assert_int_equal(a.states, 1);
    assert_true(a.last_status < 0);
    assert_false(handles[0].closed); /* closed out of its callback, later */
    sb = subscribe(&b, 0);
    assert_true(handles[0].closed);
    assert_int_equal(nhandles, 2);
    assert_true(handles[1].open);
    handles[1].cbs.descriptor(handles[1].arg, &handles[1], 0, NULL, desc, desc_len);
    run_timers(0);
    assert_int_equal(b.states, 1);
    assert_int_equal(b.last_status, 0);
    plug.service.unsubscribe(sa);
    plug.service.unsubscribe(sb);
}

/* A broadcast's swarm content is removed, or the swarm refused its handle:
 * the broadcast is told (lv_bc_swarm_failed), the handle closes and opens
 * again for publishing; local players are not ended. */
static void test_source_swarm_failed(void **state)
{
    lv_bc bc;
    lv_stream *s = NULL;
    player pl = {0};
    oa_live_sub *sub;
    char err[200];
    (void)state;
    memset(&bc, 0, sizeof(bc));
    bc.p = &plug;
    assert_int_equal(lv_stream_open_source(&plug, &bc, desc, desc_len, &s, err, sizeof(err)),
                     0);
    bc.stream = s;
    assert_int_equal(handles[0].publish, 1);
    sub = subscribe(&pl, 0);
    run_timers(0);
    assert_int_equal(pl.last_status, 0);
    detach(&handles[0]);
    lv_stream_tick(&plug);
    assert_int_equal(swarm_failed_calls, 1);
    assert_non_null(strstr(swarm_failed_reason, "content removed"));
    assert_true(handles[0].closed);
    assert_null(s->h);
    lv_stream_tick(&plug); /* no handle: nothing more */
    assert_int_equal(swarm_failed_calls, 1);
    assert_int_equal(lv_stream_swarm_reopen(s, err, sizeof(err)), 0);
    assert_int_equal(nhandles, 2);
    assert_int_equal(handles[1].publish, 1);
    /* The swarm refuses the new handle in its descriptor callback: acted
     * on at the next tick, out of the callback. */
    handles[1].cbs.descriptor(handles[1].arg, &handles[1], OA_EIO, "disk full", NULL, 0);
    assert_false(handles[1].closed);
    lv_stream_tick(&plug);
    assert_int_equal(swarm_failed_calls, 2);
    assert_non_null(strstr(swarm_failed_reason, "disk full"));
    assert_true(handles[1].closed);
    assert_int_equal(pl.states, 1); /* the local player goes on */
    plug.service.unsubscribe(sub);
    lv_stream_close(s, OA_EIO, "the broadcast was stopped");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_viewer_detached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_stream_reopened, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_swarm_failed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

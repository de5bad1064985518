/* The tracker client (plugins/swarm/tracker.c) end to end: real HTTP
 * trackers served on loopback by the host's HTTP server, one libuv loop
 * for both sides. Each simulated tracker lives under its own path prefix
 * ("/a/announce", "/b/announce", ...) and records what it was sent.
 * Covers the started announce and its peers, the re-announce on the
 * tracker's interval (1 s: the test checks what is sent, not when), failure
 * reasons and back-off doubling, failing over within a tier and across
 * tiers on HTTP 500 and on broken replies, completed sent once, scrape,
 * stopped on close, cancel while in flight, and a loop left with nothing
 * open. Only 127.0.0.1 is contacted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "http_int.h"
#include "log.h"
#include "tracker.h"

#define MAX_HITS 16
#define MAX_STATUS 16

/* No zero byte: the server's query decoding ends values at one. */
static const uint8_t HASH[20] = {0xc1, 0x2f, 0xe1, 0xc0, 0x6b, 0xba, 0x25, 0x4a, 0x9d, 0xc9,
                                 0xf5, 0x19, 0xb3, 0x35, 0xaa, 0x7c, 0x13, 0x67, 0xa8, 0x8a};
static const uint8_t PEER_ID[20] = "-OA0001-\xfe\x01 +%&=?#/xy";

typedef enum mode { OK, REFUSE, HTTP500, HOLD, GARBAGE, TRUNCATED } mode;

typedef struct fx fx;

typedef struct trk {
    fx *f;
    char name[8]; /* "a" serves /a/announce and /a/scrape */
    mode mode;
    int interval;
    int hits;
    char event[MAX_HITS][16];
    char numwant[MAX_HITS][8];
    char trackerid[MAX_HITS][16];
    char key[MAX_HITS][16];
    char left[MAX_HITS][24];
    int hash_ok[MAX_HITS];
    int peer_id_ok[MAX_HITS];
    int other_ok[MAX_HITS]; /* port, uploaded, downloaded, compact as sent */
    int scrapes;
} trk;

typedef struct st_rec {
    char url[128];
    oa_tracker_event event;
    int error;
    long http_code;
    char message[256];
    size_t peer_count;
    uint64_t next_ms;
} st_rec;

struct fx {
    uv_loop_t loop;
    oa_http *h;
    int port;
    oa_curl_uv *d;
    oa_tracker *t;
    uv_timer_t deadline;
    int deadline_hit;
    trk trk[3];
    st_rec st[MAX_STATUS];
    int nst;
    char peers[8][64];
    int npeers;
    int peer_calls;
    int closed;
    int scraped;
    int scrape_error;
    oa_tracker_scrape_file scrape_file;
    int http_closed;
};

/* ---- the trackers ------------------------------------------------------------ */

static void copy_query(oa_http_req *req, const char *name, char *out, size_t len)
{
    const char *v = oa_http_query(req, name);

    snprintf(out, len, "%s", v != NULL ? v : "-");
}

static int is(const char *v, const char *want)
{
    return v != NULL && strcmp(v, want) == 0;
}

static int reply_ok(trk *k, oa_http_req *req)
{
    static const uint8_t v4[] = {10, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0x1a, 0xe2,
                                 10, 0, 0, 1, 0x1a, 0xe1};
    static const uint8_t v6[] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0,
                                 0,    0,    0,    0,    0, 1, 0x1a, 0xe1};
    oa_benc_writer w;
    uint8_t *body = NULL;
    size_t len = 0;
    char id[16];
    int rc;

    snprintf(id, sizeof(id), "tid-%s", k->name);
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "complete");
    oa_benc_put_int(&w, 7);
    oa_benc_put_str(&w, "incomplete");
    oa_benc_put_int(&w, 3);
    oa_benc_put_str(&w, "interval");
    oa_benc_put_int(&w, k->interval);
    oa_benc_put_str(&w, "peers");
    oa_benc_put_bytes(&w, v4, sizeof(v4));
    oa_benc_put_str(&w, "peers6");
    oa_benc_put_bytes(&w, v6, sizeof(v6));
    oa_benc_put_str(&w, "tracker id");
    oa_benc_put_str(&w, id);
    oa_benc_end(&w);
    assert_int_equal(oa_benc_writer_finish(&w, &body, &len), 0);
    rc = oa_http_reply(req, 200, "text/plain", body, len);
    free(body);
    return rc;
}

static int h_announce(void *arg, oa_http_req *req)
{
    trk *k = arg;
    int i = k->hits++;
    const char *ih = oa_http_query(req, "info_hash");
    const char *pid = oa_http_query(req, "peer_id");
    static const char refusal[] = "d14:failure reason20:unregistered torrente";

    assert_true(i < MAX_HITS);
    uv_stop(&k->f->loop);
    copy_query(req, "event", k->event[i], sizeof(k->event[i]));
    copy_query(req, "numwant", k->numwant[i], sizeof(k->numwant[i]));
    copy_query(req, "trackerid", k->trackerid[i], sizeof(k->trackerid[i]));
    copy_query(req, "key", k->key[i], sizeof(k->key[i]));
    copy_query(req, "left", k->left[i], sizeof(k->left[i]));
    k->hash_ok[i] = ih != NULL && strlen(ih) == 20 && memcmp(ih, HASH, 20) == 0;
    k->peer_id_ok[i] = pid != NULL && strlen(pid) == 20 && memcmp(pid, PEER_ID, 20) == 0;
    k->other_ok[i] = is(oa_http_query(req, "port"), "6881") &&
                     is(oa_http_query(req, "uploaded"), "100") &&
                     is(oa_http_query(req, "downloaded"), "200") &&
                     is(oa_http_query(req, "compact"), "1");
    switch (k->mode) {
    case OK:
        return reply_ok(k, req);
    case REFUSE:
        return oa_http_reply(req, 200, "text/plain", refusal, sizeof(refusal) - 1);
    case HTTP500:
        return oa_http_reply(req, 500, "text/plain", "oops", 4);
    case GARBAGE:
        return oa_http_reply(req, 200, "text/html", "<html>hi</html>", 15);
    case TRUNCATED:
        return oa_http_reply(req, 200, "text/plain", "d8:intervali60e5:peers12:ab", 27);
    case HOLD:
    default:
        return 0; /* kept; oa_http_close() answers it */
    }
}

static int h_scrape(void *arg, oa_http_req *req)
{
    trk *k = arg;
    const char *ih = oa_http_query(req, "info_hash");
    oa_benc_writer w;
    uint8_t *body = NULL;
    size_t len = 0;
    int rc;

    k->scrapes++;
    uv_stop(&k->f->loop);
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "files");
    oa_benc_dict_begin(&w);
    if (ih != NULL && strlen(ih) == 20) {
        oa_benc_put_bytes(&w, ih, 20);
        oa_benc_dict_begin(&w);
        oa_benc_put_str(&w, "complete");
        oa_benc_put_int(&w, 7);
        oa_benc_put_str(&w, "downloaded");
        oa_benc_put_int(&w, 42);
        oa_benc_put_str(&w, "incomplete");
        oa_benc_put_int(&w, 3);
        oa_benc_end(&w);
    }
    oa_benc_end(&w);
    oa_benc_end(&w);
    assert_int_equal(oa_benc_writer_finish(&w, &body, &len), 0);
    rc = oa_http_reply(req, 200, "text/plain", body, len);
    free(body);
    return rc;
}

/* ---- the client's callbacks ------------------------------------------------------- */

static void on_peers(void *arg, const char *const *peers, size_t count)
{
    fx *f = arg;
    size_t i;

    assert_false(f->closed);
    uv_stop(&f->loop);
    f->peer_calls++;
    f->npeers = 0;
    for (i = 0; i < count && i < 8; i++) {
        snprintf(f->peers[f->npeers++], sizeof(f->peers[0]), "%s", peers[i]);
    }
}

static void on_status(void *arg, const oa_tracker_status *st)
{
    fx *f = arg;
    st_rec *r;

    assert_false(f->closed);
    assert_true(f->nst < MAX_STATUS);
    r = &f->st[f->nst++];
    uv_stop(&f->loop);
    snprintf(r->url, sizeof(r->url), "%s", strstr(st->url, "/announce") - 2);
    r->event = st->event;
    r->error = st->error;
    r->http_code = st->http_code;
    snprintf(r->message, sizeof(r->message), "%s", st->message);
    r->peer_count = st->peer_count;
    r->next_ms = st->next_ms;
}

static void on_counters(void *arg, uint64_t *up, uint64_t *down, uint64_t *left)
{
    (void)arg;
    *up = 100;
    *down = 200;
    *left = 300;
}

static void on_closed(void *arg)
{
    fx *f = arg;

    f->closed = 1;
    uv_stop(&f->loop);
}

static void on_scrape(void *arg, int error, const char *message, const oa_tracker_scrape_file *file)
{
    fx *f = arg;

    (void)message;
    f->scraped++;
    uv_stop(&f->loop);
    f->scrape_error = error;
    if (file != NULL) {
        f->scrape_file = *file;
    }
}

/* ---- helpers ----------------------------------------------------------------------- */

static void on_deadline(uv_timer_t *t)
{
    fx *f = t->data;

    f->deadline_hit = 1;
    uv_stop(t->loop);
}

/* Runs the loop until pred holds; fails the test after 15 s without.
 * Every callback that changes what a predicate reads stops the loop, so
 * that the predicate is checked again right away. */
static void run_until(fx *f, int (*pred)(const fx *f, int n), int n)
{
    f->deadline_hit = 0;
    uv_timer_start(&f->deadline, on_deadline, 15000, 0);
    while (!pred(f, n) && !f->deadline_hit) {
        uv_run(&f->loop, UV_RUN_DEFAULT);
    }
    uv_timer_stop(&f->deadline);
    if (!pred(f, n)) {
        fail_msg("the loop ran 15 s without reaching the expected state");
    }
}

static int a_hits(const fx *f, int n)
{
    return f->trk[0].hits >= n;
}

static int b_hits(const fx *f, int n)
{
    return f->trk[1].hits >= n;
}

static int nst_is(const fx *f, int n)
{
    return f->nst >= n;
}

static int is_closed(const fx *f, int n)
{
    (void)n;
    return f->closed;
}

static int scraped(const fx *f, int n)
{
    return f->scraped >= n;
}

static oa_tracker_config config(void)
{
    oa_tracker_config c;

    memset(&c, 0, sizeof(c));
    memcpy(c.info_hash, HASH, 20);
    memcpy(c.peer_id, PEER_ID, 20);
    c.port = 6881;
    c.interval_floor_ms = 1000;
    c.backoff_base_ms = 100;
    c.backoff_max_ms = 300;
    c.stop_timeout_ms = 2000;
    c.keep_order = 1;
    return c;
}

static void new_client(fx *f, const oa_tracker_config *c)
{
    oa_tracker_callbacks cbs = {on_peers, on_status, on_counters};

    assert_int_equal(oa_tracker_new(f->d, c, &cbs, f, &f->t), 0);
}

/* Adds tracker k (0 = "a") to tier. */
static void add(fx *f, size_t tier, int k)
{
    char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s/announce", f->port, f->trk[k].name);
    assert_int_equal(oa_tracker_add(f->t, tier, url), 0);
}

/* Closes the client and waits until it is gone. */
static void close_client(fx *f, int send_stopped)
{
    int nst = f->nst;
    int calls = f->peer_calls;

    oa_tracker_close(f->t, send_stopped, on_closed, f);
    f->t = NULL;
    run_until(f, is_closed, 1);
    assert_int_equal(f->nst, nst);
    assert_int_equal(f->peer_calls, calls);
}

/* ---- fixture ----------------------------------------------------------------------- */

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    char err[256];
    char path[64];
    int i;

    oa_log_init(OA_LOG_ERROR, 0, 0);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(oa_http_new(&f->loop, "127.0.0.1:0", &f->h, err, sizeof(err)), 0);
    f->port = oa_http_server_port(f->h);
    assert_true(f->port > 0);
    for (i = 0; i < 3; i++) {
        trk *k = &f->trk[i];

        k->f = f;
        snprintf(k->name, sizeof(k->name), "%c", 'a' + i);
        k->interval = 1;
        snprintf(path, sizeof(path), "/%s/announce", k->name);
        oa_http_route(f->h, NULL, "GET", path, OA_HTTP_PUBLIC, h_announce, k);
        snprintf(path, sizeof(path), "/%s/scrape", k->name);
        oa_http_route(f->h, NULL, "GET", path, OA_HTTP_PUBLIC, h_scrape, k);
    }
    uv_timer_init(&f->loop, &f->deadline);
    f->deadline.data = f;
    assert_int_equal(oa_curl_uv_new(&f->loop, &f->d), 0);
    *state = f;
    return 0;
}

static void on_http_closed(void *arg)
{
    fx *f = arg;

    f->http_closed = 1;
}

static int teardown(void **state)
{
    fx *f = *state;

    if (f->t != NULL) {
        close_client(f, 0);
    }
    oa_curl_uv_close(f->d, on_http_closed, f);
    oa_http_close(f->h);
    uv_close((uv_handle_t *)&f->deadline, NULL);
    /* A callback's uv_stop() may end a run early: run until nothing is left. */
    while (uv_run(&f->loop, UV_RUN_DEFAULT) != 0) {
    }
    assert_true(f->http_closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_announce_reannounce_stop(void **state)
{
    fx *f = *state;
    oa_tracker_config c = config();
    trk *a = &f->trk[0];

    new_client(f, &c);
    add(f, 0, 0);
    assert_int_equal(oa_tracker_start(f->t), 0);
    assert_int_equal(oa_tracker_start(f->t), OA_ESTATE);
    assert_int_equal(f->nst, 0); /* nothing happens inside start() */
    run_until(f, a_hits, 2);     /* the started announce and one re-announce */

    assert_string_equal(a->event[0], "started");
    assert_string_equal(a->event[1], "-");
    assert_true(a->hash_ok[0] && a->hash_ok[1]);
    assert_true(a->peer_id_ok[0] && a->peer_id_ok[1]);
    assert_true(a->other_ok[0] && a->other_ok[1]);
    assert_string_equal(a->numwant[0], "50");
    assert_string_equal(a->left[0], "300");
    assert_int_equal(strlen(a->key[0]), 8);
    assert_string_equal(a->key[0], a->key[1]);
    assert_string_equal(a->trackerid[0], "-");
    assert_string_equal(a->trackerid[1], "tid-a"); /* sent back */

    run_until(f, nst_is, 2);
    assert_int_equal(f->peer_calls, 2);
    assert_int_equal(f->npeers, 3); /* the duplicate is gone */
    assert_string_equal(f->peers[0], "10.0.0.1:6881");
    assert_string_equal(f->peers[1], "10.0.0.2:6882");
    assert_string_equal(f->peers[2], "[2001:db8::1]:6881");
    assert_int_equal(f->st[0].error, 0);
    assert_int_equal(f->st[0].event, OA_TRACKER_EVENT_STARTED);
    assert_int_equal(f->st[0].http_code, 200);
    assert_int_equal(f->st[0].peer_count, 3);
    assert_int_equal(f->st[0].next_ms, 1000);
    assert_int_equal(f->st[1].event, OA_TRACKER_EVENT_NONE);

    close_client(f, 1);
    assert_int_equal(a->hits, 3);
    assert_string_equal(a->event[2], "stopped");
    assert_string_equal(a->numwant[2], "0");
    assert_string_equal(a->trackerid[2], "tid-a");
    assert_true(a->other_ok[2]);
}

static void test_failure_reason_backs_off(void **state)
{
    fx *f = *state;
    oa_tracker_config c = config();
    trk *a = &f->trk[0];
    int i;

    a->mode = REFUSE;
    new_client(f, &c);
    add(f, 0, 0);
    assert_int_equal(oa_tracker_start(f->t), 0);
    run_until(f, nst_is, 4);
    for (i = 0; i < 4; i++) {
        assert_int_equal(f->st[i].error, OA_EFAIL);
        assert_non_null(strstr(f->st[i].message, "unregistered torrent"));
        assert_string_equal(a->event[i], "started"); /* never answered: again */
    }
    /* The wait doubles from the base up to the cap. */
    assert_int_equal(f->st[0].next_ms, 100);
    assert_int_equal(f->st[1].next_ms, 200);
    assert_int_equal(f->st[2].next_ms, 300);
    assert_int_equal(f->st[3].next_ms, 300);
    assert_int_equal(f->peer_calls, 0);
    /* No tracker took the started announce: no stopped is sent. */
    i = a->hits;
    close_client(f, 1);
    assert_int_equal(a->hits, i);
}

static void test_http500_next_in_tier(void **state)
{
    fx *f = *state;
    oa_tracker_config c = config();
    trk *a = &f->trk[0];
    trk *b = &f->trk[1];

    a->mode = HTTP500;
    new_client(f, &c);
    add(f, 0, 0);
    add(f, 0, 1);
    assert_int_equal(oa_tracker_start(f->t), 0);
    run_until(f, b_hits, 2);
    assert_string_equal(f->st[0].url, "/a/announce");
    assert_int_equal(f->st[0].error, OA_EIO);
    assert_int_equal(f->st[0].http_code, 500);
    assert_non_null(strstr(f->st[0].message, "HTTP 500"));
    assert_int_equal(f->st[0].next_ms, 100);
    assert_string_equal(f->st[1].url, "/b/announce");
    assert_int_equal(f->st[1].error, 0);
    assert_int_equal(f->peer_calls, 1);
    /* b answered, so it leads its tier now: the re-announce goes to b
     * although a's back-off has long ended. */
    assert_int_equal(a->hits, 1);
    assert_string_equal(b->event[0], "started");
    assert_string_equal(b->event[1], "-");
    close_client(f, 1);
    assert_int_equal(a->hits, 1); /* a never took started */
    assert_int_equal(b->hits, 3);
    assert_string_equal(b->event[2], "stopped");
}

static void test_tiers_in_order(void **state)
{
    fx *f = *state;
    oa_tracker_config c = config();
    trk *a = &f->trk[0];
    trk *b = &f->trk[1];
    trk *x = &f->trk[2];

    a->mode = HTTP500;
    x->mode = GARBAGE;
    new_client(f, &c);
    add(f, 0, 0);
    add(f, 1, 2);
    add(f, 2, 1);
    assert_int_equal(oa_tracker_start(f->t), 0);
    run_until(f, b_hits, 2);
    /* Every round starts at the first tier again (BEP 12): a, then c with
     * a reply that is not bencode, then b; a's wait doubles. */
    assert_int_equal(a->hits, 2);
    assert_int_equal(x->hits, 2);
    assert_string_equal(b->event[0], "started");
    assert_string_equal(b->event[1], "-");
    assert_string_equal(f->st[0].url, "/a/announce");
    assert_string_equal(f->st[1].url, "/c/announce");
    assert_int_equal(f->st[1].error, OA_EPROTO);
    assert_non_null(strstr(f->st[1].message, "not valid bencode"));
    assert_string_equal(f->st[2].url, "/b/announce");
    assert_int_equal(f->st[2].error, 0);
    run_until(f, nst_is, 6);
    assert_string_equal(f->st[3].url, "/a/announce");
    assert_int_equal(f->st[3].next_ms, 200);
    assert_string_equal(f->st[5].url, "/b/announce");
    close_client(f, 0);
}

static void test_broken_replies(void **state)
{
    fx *f = *state;
    oa_tracker_config c = config();

    f->trk[0].mode = TRUNCATED;
    f->trk[1].mode = OK;
    new_client(f, &c);
    add(f, 0, 0);
    add(f, 0, 1);
    assert_int_equal(oa_tracker_start(f->t), 0);
    run_until(f, nst_is, 2);
    assert_int_equal(f->st[0].error, OA_EPROTO);
    assert_non_null(strstr(f->st[0].message, "not valid bencode"));
    assert_int_equal(f->st[1].error, 0);
    assert_int_equal(f->npeers, 3);
    close_client(f, 0);
    assert_int_equal(f->trk[1].hits, 1); /* closed without stopped */
}

static void test_cancel_in_flight(void **state)
{
    fx *f = *state;
    oa_tracker_config c = config();
    trk *a = &f->trk[0];

    a->mode = HOLD;
    new_client(f, &c);
    add(f, 0, 0);
    assert_int_equal(oa_tracker_start(f->t), 0);
    run_until(f, a_hits, 1); /* the started announce is at the tracker */
    a->mode = OK;
    /* Closing cancels it without a callback, and tells the tracker, which
     * may have seen started, that we stopped. */
    close_client(f, 1);
    assert_int_equal(f->nst, 0);
    assert_int_equal(f->peer_calls, 0);
    assert_int_equal(a->hits, 2);
    assert_string_equal(a->event[1], "stopped");
}

static void test_completed_once_and_scrape(void **state)
{
    fx *f = *state;
    oa_tracker_config c = config();
    trk *a = &f->trk[0];

    a->interval = 1800;
    new_client(f, &c);
    add(f, 0, 0);
    assert_int_equal(oa_tracker_completed(f->t), OA_ESTATE); /* not started */
    assert_int_equal(oa_tracker_start(f->t), 0);
    run_until(f, nst_is, 1);
    assert_int_equal(oa_tracker_completed(f->t), 0);
    assert_int_equal(oa_tracker_completed(f->t), 0);
    run_until(f, nst_is, 2); /* right away, not after 1800 s */
    assert_string_equal(a->event[1], "completed");
    assert_int_equal(f->st[1].event, OA_TRACKER_EVENT_COMPLETED);
    assert_int_equal(f->st[1].next_ms, 1800 * 1000);
    /* Asking for peers early waits for the interval floor only. */
    assert_int_equal(oa_tracker_announce(f->t), 0);
    run_until(f, nst_is, 3);
    assert_string_equal(a->event[2], "-");
    assert_int_equal(a->hits, 3);

    assert_int_equal(oa_tracker_scrape(f->t, on_scrape, f), 0);
    assert_int_equal(oa_tracker_scrape(f->t, on_scrape, f), OA_EBUSY);
    run_until(f, scraped, 1);
    assert_int_equal(a->scrapes, 1);
    assert_int_equal(f->scrape_error, 0);
    assert_memory_equal(f->scrape_file.info_hash, HASH, 20);
    assert_int_equal(f->scrape_file.complete, 7);
    assert_int_equal(f->scrape_file.downloaded, 42);
    assert_int_equal(f->scrape_file.incomplete, 3);
    /* A scrape in flight at close never calls back. */
    assert_int_equal(oa_tracker_scrape(f->t, on_scrape, f), 0);
    close_client(f, 1);
    assert_int_equal(f->scraped, 1);
    assert_string_equal(a->event[a->hits - 1], "stopped");
}

static void test_setup_errors(void **state)
{
    fx *f = *state;
    oa_tracker_config c = config();
    oa_tracker_callbacks cbs = {on_peers, NULL, NULL};
    oa_tracker_callbacks none = {NULL, NULL, NULL};
    oa_tracker *t = (oa_tracker *)(uintptr_t)1;
    char url[128];
    char *tier0[] = {(char *)"udp://127.0.0.1:1/announce", url};
    char *tier1[] = {url};
    oa_mi_tier tiers[2] = {{tier0, 2}, {tier1, 1}};
    oa_metainfo mi;

    assert_int_equal(oa_tracker_new(NULL, &c, &cbs, f, &t), OA_EINVAL);
    assert_null(t);
    assert_int_equal(oa_tracker_new(f->d, &c, &none, f, &t), OA_EINVAL);
    assert_int_equal(oa_tracker_new(f->d, &c, &cbs, f, &f->t), 0);
    assert_int_equal(oa_tracker_start(f->t), OA_ENOENT);
    assert_int_equal(oa_tracker_announce(f->t), OA_ESTATE);
    assert_int_equal(oa_tracker_add(f->t, 0, "udp://127.0.0.1:1/announce"), OA_ENOSYS);
    assert_int_equal(oa_tracker_add(f->t, 1, "http://127.0.0.1:1/announce"), OA_EINVAL);
    assert_int_equal(oa_tracker_add(f->t, 0, "not a url"), OA_EINVAL);

    /* announce-list tiers win over announce; unusable URLs are skipped. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/tr", f->port);
    memset(&mi, 0, sizeof(mi));
    mi.announce = (char *)"http://127.0.0.1:1/ignored/announce";
    mi.tiers = tiers;
    mi.tier_count = 2;
    assert_int_equal(oa_tracker_add_metainfo(f->t, &mi), 0);
    assert_int_equal(oa_tracker_count(f->t), 1);
    assert_int_equal(oa_tracker_add(f->t, 0, url), OA_EEXIST);
    assert_int_equal(oa_tracker_add_metainfo(f->t, &mi), OA_ENOENT);
    /* "/tr" has no scrape URL (BEP 48). */
    assert_int_equal(oa_tracker_scrape(f->t, on_scrape, f), OA_ENOSYS);
    close_client(f, 1);
    assert_int_equal(f->nst, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_announce_reannounce_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_reason_backs_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http500_next_in_tier, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tiers_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_completed_once_and_scrape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setup_errors, setup, teardown),
    };

    /* Loopback only, whatever proxy the environment names. */
    setenv("NO_PROXY", "*", 1);
    setenv("no_proxy", "*", 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

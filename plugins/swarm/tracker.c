/*
 * The tracker client (see tracker.h): keeps one torrent announced to its
 * tiers of HTTP(S) trackers, as BEP 12 describes.
 *
 * An announce round walks the tiers in order, and each tier in its order,
 * skipping trackers that are backing off. The first tracker that answers
 * ends the round and moves to the front of its tier; one that fails backs
 * off (the wait doubling per failure up to backoff_max_ms) and the round
 * goes on with the next. When every tracker is backing off, the round
 * resumes as soon as the first one may be tried again. After a successful
 * round the next starts when the tracker's interval has passed.
 *
 * One announce is in flight at a time. Every user callback runs from a
 * loop callback (never inside the call that caused it) and may close the
 * client; the code checks t->closing after each one. t is freed only from
 * a later loop callback, after its timer has closed and the stopped
 * announces have ended.
 */
#include "tracker.h"

#include <openace/sdk.h>

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_NUMWANT 50
#define DEFAULT_FLOOR_MS 60000u
#define DEFAULT_BACKOFF_BASE_MS 15000u
#define DEFAULT_BACKOFF_MAX_MS (30u * 60u * 1000u)
#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_STOP_TIMEOUT_MS 5000L

typedef struct tr_entry {
    char *url;
    char *tracker_id; /* the tracker's "tracker id", sent back; NULL when none */
    unsigned fails;   /* failures in a row */
    uint64_t retry_at; /* loop time (ms) before which it is not tried */
    int started;      /* it answered an announce with event=started */
} tr_entry;

typedef struct tr_tier {
    tr_entry **v;
    size_t n;
    size_t cap;
} tr_tier;

struct oa_tracker {
    oa_curl_uv *http;
    uv_loop_t *loop;
    oa_tracker_config cfg;
    oa_tracker_callbacks cbs;
    void *arg;
    tr_tier *tiers;
    size_t ntiers;
    size_t ntrackers;
    uv_timer_t timer; /* starts the next round */
    int running;      /* oa_tracker_start() was called */
    int closing;

    /* The round in progress and its announce in flight. */
    size_t cur_tier;
    size_t cur_idx;
    oa_curl_req *req;
    tr_entry *req_entry;
    oa_tracker_event req_event;
    int completed_pending; /* event=completed still to be answered */
    int completed_asked;   /* oa_tracker_completed() was called */
    uint64_t not_before;   /* no regular announce before this loop time */
    uint64_t counters[3];  /* uploaded, downloaded, left as last asked */

    oa_curl_req *scrape_req;
    oa_tracker_scrape_cb scrape_cb;
    void *scrape_arg;

    size_t stops;   /* stopped announces in flight after close */
    int timer_open;
    oa_tracker_closed_cb closed_cb;
    void *closed_arg;
};

static void round_continue(oa_tracker *t);

/* ---- small helpers ------------------------------------------------------- */

/* Returns a uniformly random number below n (n > 0). */
static size_t rand_below(size_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;

    do {
        if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1) {
            r = uv_hrtime() * 0x9E3779B97F4A7C15ull;
        }
    } while (r >= limit);
    return (size_t)(r % n);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static void entry_free(tr_entry *e)
{
    free(e->url);
    free(e->tracker_id);
    free(e);
}

static void on_round(uv_timer_t *timer)
{
    oa_tracker *t = timer->data;

    if (t->closing || t->req != NULL) {
        return;
    }
    t->cur_tier = 0;
    t->cur_idx = 0;
    round_continue(t);
}

/* Starts the next round after delay_ms. */
static void schedule(oa_tracker *t, uint64_t delay_ms)
{
    uv_timer_start(&t->timer, on_round, delay_ms, 0);
}

static void report(oa_tracker *t, const tr_entry *e, oa_tracker_event ev, int error, long code,
                   const char *message, const oa_tracker_reply *r, uint64_t next_ms)
{
    oa_tracker_status st;

    if (t->cbs.status == NULL || t->closing) {
        return;
    }
    memset(&st, 0, sizeof(st));
    st.url = e->url;
    st.event = ev;
    st.error = error;
    st.http_code = code;
    st.message = message != NULL ? message : "";
    st.complete = r != NULL ? r->complete : -1;
    st.incomplete = r != NULL ? r->incomplete : -1;
    st.peer_count = r != NULL ? r->peer_count : 0;
    st.next_ms = next_ms;
    t->cbs.status(t->arg, &st);
}

/* ---- one announce -------------------------------------------------------- */

static oa_tracker_event pick_event(const oa_tracker *t, const tr_entry *e)
{
    if (!e->started) {
        return OA_TRACKER_EVENT_STARTED;
    }
    return t->completed_pending ? OA_TRACKER_EVENT_COMPLETED : OA_TRACKER_EVENT_NONE;
}

static void fill_args(oa_tracker *t, const tr_entry *e, oa_tracker_event ev,
                      oa_tracker_announce_args *a)
{
    memset(a, 0, sizeof(*a));
    memcpy(a->info_hash, t->cfg.info_hash, OA_TRACKER_ID_LEN);
    memcpy(a->peer_id, t->cfg.peer_id, OA_TRACKER_ID_LEN);
    a->port = t->cfg.port;
    if (t->cbs.counters != NULL && !t->closing) {
        t->cbs.counters(t->arg, &t->counters[0], &t->counters[1], &t->counters[2]);
    }
    a->uploaded = t->counters[0];
    a->downloaded = t->counters[1];
    a->left = t->counters[2];
    a->event = ev;
    a->numwant = ev == OA_TRACKER_EVENT_STOPPED ? 0 : t->cfg.numwant;
    a->has_key = 1;
    a->key = t->cfg.key;
    a->trackerid = e->tracker_id;
}

/* Takes e out of the rotation for a while after a failure and says so. */
static void entry_failed(oa_tracker *t, tr_entry *e, oa_tracker_event ev, int error, long code,
                         const char *message)
{
    uint64_t wait = t->cfg.backoff_base_ms;
    unsigned i;

    e->fails++;
    for (i = 1; i < e->fails && wait < t->cfg.backoff_max_ms; i++) {
        wait *= 2;
    }
    if (wait > t->cfg.backoff_max_ms) {
        wait = t->cfg.backoff_max_ms;
    }
    e->retry_at = uv_now(t->loop) + wait;
    report(t, e, ev, error, code, message, NULL, wait);
}

/* Moves the tracker at the round's cursor to the front of its tier. */
static void move_to_front(oa_tracker *t)
{
    tr_tier *tier = &t->tiers[t->cur_tier];
    tr_entry *e = tier->v[t->cur_idx];

    memmove(&tier->v[1], &tier->v[0], t->cur_idx * sizeof(tier->v[0]));
    tier->v[0] = e;
}

static void entry_answered(oa_tracker *t, tr_entry *e, oa_tracker_event ev,
                           const oa_tracker_reply *r)
{
    uint64_t floor = t->cfg.interval_floor_ms;
    uint64_t min_ms = max_u64((uint64_t)r->min_interval * 1000u, floor);
    uint64_t next = max_u64((uint64_t)r->interval * 1000u, min_ms);

    e->fails = 0;
    e->retry_at = 0;
    if (ev == OA_TRACKER_EVENT_STARTED) {
        e->started = 1;
    } else if (ev == OA_TRACKER_EVENT_COMPLETED) {
        t->completed_pending = 0;
    }
    if (r->tracker_id != NULL) {
        char *id = strdup((const char *)r->tracker_id);

        if (id != NULL) {
            free(e->tracker_id);
            e->tracker_id = id;
        }
    }
    move_to_front(t);
    t->not_before = uv_now(t->loop) + min_ms;
    /* An event still to send (completed, asked for while this announce was
     * in flight) goes right away; events are not held to intervals. */
    schedule(t, t->completed_pending ? 0 : next);
    if (r->peer_count > 0) {
        t->cbs.peers(t->arg, (const char *const *)r->peers, r->peer_count);
    }
    report(t, e, ev, 0, 200, r->warning, r, t->completed_pending ? 0 : next);
}

static void on_announce_done(void *arg, oa_curl_req *req, const oa_curl_result *res)
{
    oa_tracker *t = arg;
    tr_entry *e = t->req_entry;
    oa_tracker_event ev = t->req_event;
    oa_tracker_reply *r = NULL;
    char msg[OA_TRACKER_MAX_TEXT + 128];
    int rc;

    (void)req;
    t->req = NULL;
    t->req_entry = NULL;
    if (res->status != 0) {
        snprintf(msg, sizeof(msg), "could not announce to the tracker: %s", res->error);
        entry_failed(t, e, ev, res->status, res->http_code, msg);
    } else {
        rc = oa_tracker_parse_announce(res->body, res->body_len, &r, msg, sizeof(msg));
        if (rc == 0 && res->http_code == 200) {
            entry_answered(t, e, ev, r);
            oa_tracker_reply_free(r);
            return; /* the next round is scheduled */
        }
        oa_tracker_reply_free(r);
        if (res->http_code != 200 && rc != OA_EFAIL) {
            snprintf(msg, sizeof(msg), "the tracker answered HTTP %ld", res->http_code);
            rc = OA_EIO;
        }
        entry_failed(t, e, ev, rc, res->http_code, msg);
    }
    if (t->closing) {
        return;
    }
    t->cur_idx++;
    round_continue(t);
}

/* Sends an announce to e; returns 0 or the error of starting it. */
static int send_announce(oa_tracker *t, tr_entry *e, oa_tracker_event ev, oa_curl_done_cb cb,
                         long timeout_ms, oa_curl_req **out)
{
    oa_tracker_announce_args a;
    oa_curl_opts opts;
    char *url = NULL;
    int rc;

    fill_args(t, e, ev, &a);
    rc = oa_tracker_announce_url(e->url, &a, &url);
    if (rc != 0) {
        return rc;
    }
    memset(&opts, 0, sizeof(opts));
    opts.timeout_ms = timeout_ms;
    rc = oa_curl_get(t->http, url, &opts, cb, t, out);
    free(url);
    return rc;
}

/* Finds the next tracker of the round that is not backing off and
 * announces to it; when none is left, waits for the first back-off to end. */
static void round_continue(oa_tracker *t)
{
    for (;;) {
        uint64_t now = uv_now(t->loop);
        uint64_t first = UINT64_MAX;
        tr_entry *e = NULL;
        oa_tracker_event ev;
        char msg[128];
        size_t i;
        size_t j;
        int rc;

        while (e == NULL && t->cur_tier < t->ntiers) {
            tr_tier *tier = &t->tiers[t->cur_tier];

            if (t->cur_idx >= tier->n) {
                t->cur_tier++;
                t->cur_idx = 0;
            } else if (tier->v[t->cur_idx]->retry_at > now) {
                t->cur_idx++;
            } else {
                e = tier->v[t->cur_idx];
            }
        }
        if (e == NULL) {
            for (i = 0; i < t->ntiers; i++) {
                for (j = 0; j < t->tiers[i].n; j++) {
                    if (t->tiers[i].v[j]->retry_at < first) {
                        first = t->tiers[i].v[j]->retry_at;
                    }
                }
            }
            schedule(t, first > now ? first - now : 0);
            return;
        }
        ev = pick_event(t, e);
        rc = send_announce(t, e, ev, on_announce_done, t->cfg.timeout_ms, &t->req);
        if (rc == 0) {
            t->req_entry = e;
            t->req_event = ev;
            return;
        }
        snprintf(msg, sizeof(msg), "could not start the announce: %s", oa_strerror(rc));
        entry_failed(t, e, ev, rc, 0, msg);
        if (t->closing) {
            return;
        }
        t->cur_idx++;
    }
}

/* ---- scrape -------------------------------------------------------------- */

static void on_scrape_done(void *arg, oa_curl_req *req, const oa_curl_result *res)
{
    oa_tracker *t = arg;
    oa_tracker_scrape_cb cb = t->scrape_cb;
    oa_tracker_scrape_reply *r = NULL;
    const oa_tracker_scrape_file *f = NULL;
    char msg[OA_TRACKER_MAX_TEXT + 128];
    int rc;

    (void)req;
    t->scrape_req = NULL;
    t->scrape_cb = NULL;
    if (res->status != 0) {
        snprintf(msg, sizeof(msg), "could not scrape the tracker: %s", res->error);
        rc = res->status;
    } else {
        rc = oa_tracker_parse_scrape(res->body, res->body_len, &r, msg, sizeof(msg));
        if (res->http_code != 200 && rc != OA_EFAIL) {
            snprintf(msg, sizeof(msg), "the tracker answered HTTP %ld", res->http_code);
            rc = OA_EIO;
        } else if (rc == 0) {
            f = oa_tracker_scrape_find(r, t->cfg.info_hash);
            if (f == NULL) {
                snprintf(msg, sizeof(msg), "the tracker does not know this torrent");
                rc = OA_ENOENT;
            }
        }
    }
    cb(t->scrape_arg, rc, rc == 0 ? "" : msg, f);
    oa_tracker_scrape_reply_free(r);
}

int oa_tracker_scrape(oa_tracker *t, oa_tracker_scrape_cb cb, void *cb_arg)
{
    oa_curl_opts opts;
    char *url = NULL;
    size_t i;
    size_t j;
    int rc = OA_ENOSYS;

    if (t == NULL || cb == NULL) {
        return OA_EINVAL;
    }
    if (t->closing) {
        return OA_ESTATE;
    }
    if (t->scrape_req != NULL) {
        return OA_EBUSY;
    }
    for (i = 0; i < t->ntiers && rc == OA_ENOSYS; i++) {
        for (j = 0; j < t->tiers[i].n && rc == OA_ENOSYS; j++) {
            rc = oa_tracker_scrape_url(t->tiers[i].v[j]->url,
                                       (const uint8_t(*)[OA_TRACKER_ID_LEN])&t->cfg.info_hash, 1,
                                       &url);
        }
    }
    if (rc != 0) {
        return rc;
    }
    memset(&opts, 0, sizeof(opts));
    opts.timeout_ms = t->cfg.timeout_ms;
    t->scrape_cb = cb;
    t->scrape_arg = cb_arg;
    rc = oa_curl_get(t->http, url, &opts, on_scrape_done, t, &t->scrape_req);
    free(url);
    if (rc != 0) {
        t->scrape_cb = NULL;
    }
    return rc;
}

/* ---- lifecycle ----------------------------------------------------------- */

int oa_tracker_new(oa_curl_uv *http, const oa_tracker_config *cfg,
                   const oa_tracker_callbacks *cbs, void *arg, oa_tracker **out)
{
    oa_tracker *t;

    if (out != NULL) {
        *out = NULL;
    }
    if (http == NULL || cfg == NULL || cbs == NULL || cbs->peers == NULL || out == NULL) {
        return OA_EINVAL;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return OA_ENOMEM;
    }
    t->http = http;
    t->loop = oa_curl_uv_loop(http);
    t->cfg = *cfg;
    t->cbs = *cbs;
    t->arg = arg;
    if (t->cfg.numwant == 0) {
        t->cfg.numwant = DEFAULT_NUMWANT;
    }
    if (t->cfg.key == 0) {
        t->cfg.key = (uint32_t)rand_below(UINT32_MAX) + 1u;
    }
    if (t->cfg.interval_floor_ms == 0) {
        t->cfg.interval_floor_ms = DEFAULT_FLOOR_MS;
    }
    if (t->cfg.backoff_base_ms == 0) {
        t->cfg.backoff_base_ms = DEFAULT_BACKOFF_BASE_MS;
    }
    if (t->cfg.backoff_max_ms == 0) {
        t->cfg.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
    }
    if (t->cfg.backoff_max_ms < t->cfg.backoff_base_ms) {
        t->cfg.backoff_max_ms = t->cfg.backoff_base_ms;
    }
    if (t->cfg.timeout_ms <= 0) {
        t->cfg.timeout_ms = DEFAULT_TIMEOUT_MS;
    }
    if (t->cfg.stop_timeout_ms <= 0) {
        t->cfg.stop_timeout_ms = DEFAULT_STOP_TIMEOUT_MS;
    }
    uv_timer_init(t->loop, &t->timer);
    t->timer.data = t;
    t->timer_open = 1;
    *out = t;
    return 0;
}

int oa_tracker_add(oa_tracker *t, size_t tier, const char *url)
{
    tr_entry *e;
    tr_tier *tr;
    size_t i;
    size_t j;
    int rc;

    if (t == NULL || url == NULL || tier > t->ntiers) {
        return OA_EINVAL;
    }
    if (t->running || t->closing) {
        return OA_ESTATE;
    }
    rc = oa_tracker_url_check(url);
    if (rc != 0) {
        return rc;
    }
    for (i = 0; i < t->ntiers; i++) {
        for (j = 0; j < t->tiers[i].n; j++) {
            if (strcmp(t->tiers[i].v[j]->url, url) == 0) {
                return OA_EEXIST;
            }
        }
    }
    if (tier == t->ntiers) {
        tr_tier *v = realloc(t->tiers, (t->ntiers + 1) * sizeof(*v));

        if (v == NULL) {
            return OA_ENOMEM;
        }
        t->tiers = v;
        memset(&t->tiers[t->ntiers], 0, sizeof(*v));
    }
    tr = &t->tiers[tier];
    if (tr->n == tr->cap) {
        size_t cap = tr->cap > 0 ? tr->cap * 2 : 4;
        tr_entry **v = realloc(tr->v, cap * sizeof(*v));

        if (v == NULL) {
            return OA_ENOMEM;
        }
        tr->v = v;
        tr->cap = cap;
    }
    e = calloc(1, sizeof(*e));
    if (e != NULL) {
        e->url = strdup(url);
    }
    if (e == NULL || e->url == NULL) {
        free(e);
        return OA_ENOMEM;
    }
    tr->v[tr->n++] = e;
    if (tier == t->ntiers) {
        t->ntiers++;
    }
    t->ntrackers++;
    return 0;
}

int oa_tracker_add_metainfo(oa_tracker *t, const oa_metainfo *mi)
{
    size_t before;
    size_t i;
    size_t j;
    int rc;

    if (t == NULL || mi == NULL) {
        return OA_EINVAL;
    }
    before = t->ntrackers;
    for (i = 0; i < mi->tier_count; i++) {
        size_t tier = t->ntiers;

        for (j = 0; j < mi->tiers[i].count; j++) {
            rc = oa_tracker_add(t, tier, mi->tiers[i].urls[j]);
            if (rc == OA_ENOMEM || rc == OA_ESTATE) {
                return rc;
            }
        }
    }
    if (mi->tier_count == 0 && mi->announce != NULL) {
        rc = oa_tracker_add(t, t->ntiers, mi->announce);
        if (rc == OA_ENOMEM || rc == OA_ESTATE) {
            return rc;
        }
    }
    return t->ntrackers > before ? 0 : OA_ENOENT;
}

size_t oa_tracker_count(const oa_tracker *t)
{
    return t != NULL ? t->ntrackers : 0;
}

int oa_tracker_start(oa_tracker *t)
{
    size_t i;

    if (t == NULL) {
        return OA_EINVAL;
    }
    if (t->running || t->closing) {
        return OA_ESTATE;
    }
    if (t->ntrackers == 0) {
        return OA_ENOENT;
    }
    for (i = 0; i < t->ntiers && !t->cfg.keep_order; i++) {
        tr_tier *tier = &t->tiers[i];
        size_t k;

        for (k = tier->n; k > 1; k--) {
            size_t r = rand_below(k);
            tr_entry *tmp = tier->v[k - 1];

            tier->v[k - 1] = tier->v[r];
            tier->v[r] = tmp;
        }
    }
    t->running = 1;
    schedule(t, 0);
    return 0;
}

int oa_tracker_announce(oa_tracker *t)
{
    uint64_t now;
    uint64_t due;

    if (t == NULL) {
        return OA_EINVAL;
    }
    if (!t->running || t->closing) {
        return OA_ESTATE;
    }
    if (t->req != NULL) {
        return 0;
    }
    now = uv_now(t->loop);
    due = t->not_before > now ? t->not_before - now : 0;
    if (!uv_is_active((uv_handle_t *)&t->timer) || uv_timer_get_due_in(&t->timer) > due) {
        schedule(t, due);
    }
    return 0;
}

int oa_tracker_completed(oa_tracker *t)
{
    if (t == NULL) {
        return OA_EINVAL;
    }
    if (!t->running || t->closing) {
        return OA_ESTATE;
    }
    if (t->completed_asked) {
        return 0;
    }
    t->completed_asked = 1;
    t->completed_pending = 1;
    if (t->req == NULL) {
        schedule(t, 0);
    }
    return 0;
}

static void maybe_free(oa_tracker *t)
{
    oa_tracker_closed_cb cb = t->closed_cb;
    void *arg = t->closed_arg;
    size_t i;
    size_t j;

    if (t->timer_open || t->stops > 0) {
        return;
    }
    for (i = 0; i < t->ntiers; i++) {
        for (j = 0; j < t->tiers[i].n; j++) {
            entry_free(t->tiers[i].v[j]);
        }
        free(t->tiers[i].v);
    }
    free(t->tiers);
    free(t);
    if (cb != NULL) {
        cb(arg);
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    oa_tracker *t = h->data;

    t->timer_open = 0;
    maybe_free(t);
}

static void on_stop_done(void *arg, oa_curl_req *req, const oa_curl_result *res)
{
    oa_tracker *t = arg;

    (void)req;
    (void)res;
    t->stops--;
    maybe_free(t);
}

void oa_tracker_close(oa_tracker *t, int send_stopped, oa_tracker_closed_cb cb, void *cb_arg)
{
    tr_entry *pending = NULL;
    size_t i;
    size_t j;

    if (t == NULL || t->closing) {
        return;
    }
    /* The stopped announce carries the final counters. */
    if (t->cbs.counters != NULL && send_stopped) {
        t->cbs.counters(t->arg, &t->counters[0], &t->counters[1], &t->counters[2]);
    }
    t->closing = 1;
    t->closed_cb = cb;
    t->closed_arg = cb_arg;
    if (t->req != NULL) {
        /* A started announce may have reached the tracker: tell it too. */
        if (t->req_event == OA_TRACKER_EVENT_STARTED) {
            pending = t->req_entry;
        }
        oa_curl_cancel(t->req);
        t->req = NULL;
        t->req_entry = NULL;
    }
    oa_curl_cancel(t->scrape_req);
    t->scrape_req = NULL;
    t->scrape_cb = NULL;
    uv_timer_stop(&t->timer);
    for (i = 0; i < t->ntiers && send_stopped; i++) {
        for (j = 0; j < t->tiers[i].n; j++) {
            tr_entry *e = t->tiers[i].v[j];

            if ((e->started || e == pending) &&
                send_announce(t, e, OA_TRACKER_EVENT_STOPPED, on_stop_done,
                              t->cfg.stop_timeout_ms, NULL) == 0) {
                t->stops++;
            }
        }
    }
    uv_close((uv_handle_t *)&t->timer, on_timer_closed);
}

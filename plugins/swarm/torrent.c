/*
 * One content of the swarm engine (engine.h): adding it (from a magnet, an
 * info-hash or a .torrent), removing and freeing it, the service's handles
 * and their ready callbacks, playheads, errors, the kick, the tick and
 * stats. torrent_io.c has the reads, the read cache, serving and the piece
 * jobs; torrent_meta.c the peers, candidates, choker rounds, the metadata
 * fetch, the resume check and trackers; torrent_int.h what they share.
 *
 * Lifetimes. A torrent is freed once it is closing, no worker job is in
 * flight (t->jobs) and no callback into a consumer is running (holds).
 * Job done callbacks therefore always find their torrent; after a
 * removal, or with OA_ECANCELED, they only free what they own.
 *
 * Re-entrancy. Consumer callbacks (ready, reads) run only from a timer of
 * our own (the "kick", or a handle's ready timer) or from a job's done
 * callback, never inside a call from peer.c or plugin.c, so that a consumer
 * may close handles or remove content from them. Loops over peers that may
 * close a peer (sending, ticking, banning) collect the peer ids first and
 * find each peer again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "swarm_err.h"
#include "torrent_int.h"

#define ANNOUNCE_LOW_PEERS 5u      /* fewer peers: ask the trackers for more */
#define ANNOUNCE_MIN_MS 60000u
#define TOUCH_MIN_MS 60000u        /* catalog touches for playheads */

static void playhead_clear(oa_torrent *t, oa_swarm_handle *h);
static void torrent_free(oa_torrent *t);

/* ---- handles and ready callbacks ----------------------------------------- */

static void ready_fire(void *arg, oa_timer *timer)
{
    handle_priv *hp = arg;
    oa_swarm_handle *h = &hp->h;
    oa_torrent *t = h->t;
    int status;

    (void)timer;
    hp->timer = NULL; /* the host releases a one-shot timer itself */
    if (h->ready_called) {
        return;
    }
    if (t == NULL) {
        status = OA_ECANCELED; /* detached: its content was removed */
    } else if (t->closing) {
        return;
    } else if (t->state == OA_SWARM_ERROR) {
        status = tpriv(t)->err_code;
    } else if (t->mi != NULL) {
        status = 0;
    } else {
        return; /* still fetching the metadata */
    }
    h->ready_called = 1;
    if (h->ready != NULL) {
        h->ready(h->arg, h, status); /* may close h: touch nothing after */
    }
}

static void ready_schedule(oa_swarm_handle *h)
{
    handle_priv *hp = (handle_priv *)h;
    oa_torrent *t = h->t;
    oa_engine *e = hp->e;

    if (h->ready_called || hp->timer != NULL) {
        return;
    }
    if (t != NULL && (t->closing || (t->mi == NULL && t->state != OA_SWARM_ERROR))) {
        return;
    }
    if (e->api->timer_start(e->self, 0, 0, ready_fire, hp, &hp->timer) != 0) {
        hp->timer = NULL; /* the tick tries again */
    }
}

void tor_ready_schedule_all(oa_torrent *t)
{
    oa_swarm_handle *h;

    for (h = t->handles; h != NULL; h = h->next) {
        ready_schedule(h);
    }
}

int oa_torrent_handle_open(oa_torrent *t, oa_swarm_ready_cb ready, void *arg,
                           oa_swarm_handle **out)
{
    handle_priv *hp;

    if (t == NULL || out == NULL) {
        return OA_EINVAL;
    }
    if (t->closing) {
        return OA_ESTATE;
    }
    hp = calloc(1, sizeof(*hp));
    if (hp == NULL) {
        return OA_ENOMEM;
    }
    hp->e = t->e;
    hp->h.t = t;
    memcpy(hp->h.info_hash, t->info_hash, sizeof(hp->h.info_hash));
    hp->h.ready = ready;
    hp->h.arg = arg;
    hp->h.playhead = UINT64_MAX;
    hp->h.next = t->handles;
    t->handles = &hp->h;
    ready_schedule(&hp->h);
    *out = &hp->h;
    return 0;
}

/* Frees a handle that is no longer in t->handles. */
static void handle_release(oa_torrent *t, oa_swarm_handle *h)
{
    handle_priv *hp = (handle_priv *)h;
    struct oa_torrent_read *r;
    struct oa_torrent_read *next;

    for (r = t->reads; r != NULL; r = next) {
        next = r->next;
        if (r->h == h) {
            oa_torrent_read_cancel(r);
        }
    }
    if (hp->timer != NULL) {
        t->e->api->timer_stop(hp->timer);
        hp->timer = NULL;
    }
    free(hp);
}

/* Detaches h, no longer in t->handles, from its removed content (engine.h,
 * oa_torrent_remove): its reads go to its dead list, cancelled; a ready not
 * called yet is called with OA_ECANCELED on a later loop turn. */
static void handle_detach(oa_torrent *t, oa_swarm_handle *h)
{
    handle_priv *hp = (handle_priv *)h;
    oa_engine *e = t->e;
    struct oa_torrent_read *r;
    struct oa_torrent_read *next;

    for (r = t->reads; r != NULL; r = next) {
        read_priv *rd = (read_priv *)r;

        next = r->next;
        if (r->h != h) {
            continue;
        }
        tor_read_unlink(t, r);
        if (r->in_flight && rd->jb != NULL) {
            rd->jb->rd = NULL; /* the job ends without it */
        }
        rd->jb = NULL;
        rd->t = NULL;
        r->in_flight = 0;
        r->cancelled = 1;
        r->next = hp->dead;
        hp->dead = r;
    }
    h->t = NULL;
    h->playhead = UINT64_MAX;
    h->next = e->detached;
    e->detached = h;
    ready_schedule(h); /* ready(OA_ECANCELED) unless called already */
}

/* Frees a detached handle: its holder closed it, or the plugin stops. */
static void handle_free_detached(oa_swarm_handle *h)
{
    handle_priv *hp = (handle_priv *)h;
    oa_engine *e = hp->e;
    oa_swarm_handle **hh;
    struct oa_torrent_read *r;

    for (hh = &e->detached; *hh != NULL; hh = &(*hh)->next) {
        if (*hh == h) {
            *hh = h->next;
            break;
        }
    }
    while ((r = hp->dead) != NULL) {
        hp->dead = r->next;
        free((read_priv *)r);
    }
    if (hp->timer != NULL) {
        e->api->timer_stop(hp->timer);
        hp->timer = NULL;
    }
    free(hp);
}

void oa_torrent_detached_tick(oa_engine *e)
{
    oa_swarm_handle *h;

    for (h = e->detached; h != NULL; h = h->next) {
        ready_schedule(h); /* a timer that could not start earlier */
    }
}

void oa_torrent_handle_close(oa_swarm_handle *h)
{
    oa_torrent *t;
    oa_swarm_handle **hh;

    if (h == NULL) {
        return;
    }
    if (h->t == NULL) {
        handle_free_detached(h);
        return;
    }
    t = h->t;
    if (h->playhead != UINT64_MAX && !t->closing) {
        playhead_clear(t, h);
    }
    if (tpriv(t)->stream_owner == h) {
        tpriv(t)->stream_owner = NULL;
    }
    for (hh = &t->handles; *hh != NULL; hh = &(*hh)->next) {
        if (*hh == h) {
            *hh = h->next;
            break;
        }
    }
    handle_release(t, h);
}

/* ---- errors ------------------------------------------------------------- */

void tor_set_error(oa_torrent *t, int code, const char *msg)
{
    char js[400];

    if (t->state == OA_SWARM_ERROR || t->closing) {
        return;
    }
    t->state = OA_SWARM_ERROR;
    tpriv(t)->err_code = code < 0 ? code : OA_EIO;
    snprintf(t->error, sizeof(t->error), "%s", msg);
    OA_LOG(t->e, OA_LOG_ERROR, "%s: %s", t->hex, msg);
    oa_engine_event(t->e, "swarm.content.error", "{\"infohash\":\"%s\",\"error\":%s}", t->hex,
                    oa_json_str(msg, js, sizeof(js)));
    tor_ready_schedule_all(t);
    tor_close_all_peers(t, "content error");
    tor_kick(t); /* fails the pending reads */
}

/* ---- playheads -------------------------------------------------------------- */

void tor_apply_stream(oa_torrent *t)
{
    oa_swarm_handle *h = tpriv(t)->stream_owner;
    oa_picker_stream st;

    if (t->picker == NULL) {
        return;
    }
    if (h == NULL || h->playhead == UINT64_MAX) {
        oa_picker_clear_stream(t->picker);
        return;
    }
    memset(&st, 0, sizeof(st));
    st.playhead = h->playhead;
    st.window_bytes = t->e->cfg.stream_window_bytes;
    st.window_pieces = 4;
    st.bitrate = h->bitrate;
    st.fallback = 1;
    if (oa_picker_set_stream(t->picker, &st, h->playhead_set_ms) != 0) {
        oa_picker_clear_stream(t->picker);
    }
}

/* Drops h's playhead; the content follows the handle that set one last
 * among the others, or none. */
static void playhead_clear(oa_torrent *t, oa_swarm_handle *h)
{
    torrent_priv *pv = tpriv(t);
    oa_swarm_handle *o;

    h->playhead = UINT64_MAX;
    if (pv->stream_owner != h && pv->stream_owner != NULL) {
        return;
    }
    pv->stream_owner = NULL;
    for (o = t->handles; o != NULL; o = o->next) {
        if (o != h && o->playhead != UINT64_MAX &&
            (pv->stream_owner == NULL || o->playhead_set_ms > pv->stream_owner->playhead_set_ms)) {
            pv->stream_owner = o;
        }
    }
    tor_apply_stream(t);
    tor_fill_all_peers(t);
}

int oa_torrent_set_playhead(oa_torrent *t, oa_swarm_handle *h, uint64_t offset, uint64_t bitrate)
{
    torrent_priv *pv;
    uint64_t now;

    if (t == NULL || h == NULL) {
        return OA_EINVAL;
    }
    if (t->closing || t->mi == NULL) {
        return OA_ESTATE;
    }
    pv = tpriv(t);
    now = oa_engine_now(t->e);
    if (offset == UINT64_MAX) {
        if (h->playhead != UINT64_MAX || pv->stream_owner == h) {
            playhead_clear(t, h);
        }
        return 0;
    }
    if (offset >= t->mi->total_length) {
        return OA_ERANGE;
    }
    h->playhead = offset;
    h->bitrate = bitrate;
    h->playhead_set_ms = now;
    pv->stream_owner = h;
    tor_apply_stream(t);
    tor_fill_all_peers(t);
    t->last_played = (uint64_t)time(NULL);
    if (pv->last_touch_ms == 0 || now >= pv->last_touch_ms + TOUCH_MIN_MS) {
        pv->last_touch_ms = now;
        oa_catalog_touch(t);
    }
    return 0;
}

/* ---- the kick: deferred work on the next loop turn --------------------------- */

static void kick_fire(void *arg, oa_timer *timer)
{
    oa_torrent *t = arg;
    torrent_priv *pv = tpriv(t);
    uint64_t now;

    (void)timer;
    pv->kick = NULL;
    if (t->closing) {
        return;
    }
    now = oa_engine_now(t->e);
    pv->holds++;
    tor_fetch_service(t, now);
    if (!t->closing && pv->choke_due) {
        tor_choke_round(t, now);
    }
    pv->holds--;
    tor_reads_pump(t); /* last: t may be gone after it */
}

void tor_kick(oa_torrent *t)
{
    torrent_priv *pv = tpriv(t);
    oa_engine *e = t->e;

    if (pv->kick != NULL || t->closing) {
        return;
    }
    if (e->api->timer_start(e->self, 0, 0, kick_fire, t, &pv->kick) != 0) {
        pv->kick = NULL; /* the tick does the work instead */
    }
}

/* ---- the tick ------------------------------------------------------------ */

void oa_torrent_tick(oa_torrent *t, uint64_t now_ms)
{
    torrent_priv *pv = tpriv(t);
    uint64_t *ids;
    size_t n, i;
    oa_swarm_handle *h;

    if (t->closing) {
        return;
    }
    pv->holds++;
    /* rates */
    if (pv->last_tick_ms != 0 && now_ms > pv->last_tick_ms) {
        uint64_t dt = now_ms - pv->last_tick_ms;
        uint64_t down = (t->downloaded - pv->down_mark) * 1000 / dt;
        uint64_t up = (t->uploaded - pv->up_mark) * 1000 / dt;

        t->rate_down = (t->rate_down + down) / 2;
        t->rate_up = (t->rate_up + up) / 2;
    }
    pv->last_tick_ms = now_ms;
    pv->down_mark = t->downloaded;
    pv->up_mark = t->uploaded;

    /* peers: keep-alives, timeouts; a peer may close itself */
    ids = tor_peer_ids(t, &n);
    for (i = 0; i < n && !t->closing; i++) {
        oa_peer *p = oa_torrent_peer_find(t, ids[i]);

        if (p != NULL) {
            oa_peer_tick(p, now_ms);
        }
    }
    free(ids);

    if (!t->closing && t->choker != NULL &&
        (pv->choke_due || oa_choker_next_round(t->choker) <= now_ms)) {
        tor_choke_round(t, now_ms);
    }
    if (!t->closing && t->state != OA_SWARM_ERROR &&
        !(t->state == OA_SWARM_SEEDING && !t->e->cfg.seed)) {
        tor_connect_candidates(t, now_ms);
    }
    if (!t->closing) {
        tor_fetch_service(t, now_ms);
    }
    if (!t->closing && t->tracker != NULL && t->state != OA_SWARM_ERROR &&
        t->peer_count < ANNOUNCE_LOW_PEERS &&
        (pv->last_announce_ms == 0 || now_ms >= pv->last_announce_ms + ANNOUNCE_MIN_MS)) {
        pv->last_announce_ms = now_ms;
        oa_tracker_announce(t->tracker);
    }
    if (!t->closing) {
        tor_scrape_tick(t, now_ms);
    }
    if (!t->closing) {
        tor_verified_event(t, now_ms, 0);
        for (h = t->handles; h != NULL; h = h->next) {
            ready_schedule(h); /* a timer that could not start earlier */
        }
        if (t->reads != NULL) {
            tor_kick(t);
        }
    }
    if (!t->closing && t->live != NULL) {
        oa_live_tick(t, now_ms); /* live.c: timeouts, HAVE/ACK, stats */
    }
    /* cfg.cache_limit (disk space over all contents) is plugin.c's. */
    pv->holds--;
    tor_maybe_free(t);
}

/* ---- stats ---------------------------------------------------------------- */

uint64_t tor_have_bytes(oa_torrent *t)
{
    uint32_t n, cnt;
    uint64_t bytes;

    if (t->mi == NULL || t->have.count == 0) {
        return 0;
    }
    n = t->have.count;
    cnt = oa_bitfield_count(&t->have);
    bytes = (uint64_t)cnt * t->mi->piece_length;
    if (oa_bitfield_get(&t->have, n - 1)) {
        bytes -= t->mi->piece_length - oa_metainfo_piece_size(t->mi, n - 1);
    }
    return bytes;
}

void oa_torrent_stats(oa_torrent *t, oa_swarm_stats *st)
{
    oa_swarm_stats full;
    uint32_t size;
    oa_peer *p;

    if (t == NULL || st == NULL) {
        return;
    }
    size = st->size;
    memset(&full, 0, sizeof(full));
    full.size = size;
    full.state = t->state;
    memcpy(full.info_hash, t->hex, sizeof(full.info_hash));
    if (t->mi != NULL) {
        snprintf(full.name, sizeof(full.name), "%s", t->mi->name);
        full.total_length = t->mi->total_length;
        full.pieces = (uint32_t)t->mi->piece_count;
        full.piece_length = t->mi->piece_length <= UINT32_MAX ? (uint32_t)t->mi->piece_length : 0;
    }
    if (t->live != NULL && oa_live_name(t) != NULL) {
        snprintf(full.name, sizeof(full.name), "%s", oa_live_name(t));
    }
    if (t->state == OA_SWARM_ERROR) {
        snprintf(full.error, sizeof(full.error), "%s", t->error);
    }
    full.have_bytes = tor_have_bytes(t);
    full.pieces_have = t->have.count > 0 ? oa_bitfield_count(&t->have) : 0;
    full.peers = (uint32_t)t->peer_count;
    for (p = t->peers; p != NULL; p = p->tnext) {
        if (p->seed) {
            full.seeds++;
        }
    }
    full.downloaded = t->downloaded;
    full.uploaded = t->uploaded;
    full.download_rate = t->rate_down;
    full.upload_rate = t->rate_up;
    full.wasted = t->wasted;
    full.hash_failures = t->hash_failures;
    if (size >= sizeof(full)) {
        memcpy(st, &full, sizeof(full));
    } else if (size > sizeof(uint32_t)) {
        memcpy(st, &full, size);
    }
    st->size = size;
}

/* ---- adding ----------------------------------------------------------------- */

int oa_torrent_add(oa_engine *e, const oa_torrent_opts *opts, oa_torrent **out, int *existed,
                   char *err, size_t errlen)
{
    oa_magnet *mag = NULL;
    oa_metainfo *mi = NULL;
    oa_torrent *t = NULL;
    oa_torrent *last;
    torrent_priv *pv;
    const uint8_t *hash;
    char ebuf[256];
    char js1[300], js2[2048];
    const char *save_dir;
    int rc;

    if (existed != NULL) {
        *existed = 0;
    }
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (e == NULL || opts == NULL || out == NULL) {
        return OA_EINVAL;
    }
    ebuf[0] = '\0';
    if (opts->uri != NULL) {
        if (strncasecmp(opts->uri, "magnet:", 7) == 0 || tor_is_hex40(opts->uri)) {
            rc = oa_magnet_parse(opts->uri, &mag, ebuf, sizeof(ebuf));
            if (rc != 0) {
                (void)oa_swarm_fail(err, errlen, 0, "", "%s",
                                    ebuf[0] != '\0' ? ebuf : "The magnet link is malformed.");
                return rc == OA_ENOMEM ? rc : OA_EINVAL;
            }
        } else {
            uint8_t *buf = NULL;
            size_t len = 0;

            if (opts->uri[0] == '\0') {
                (void)oa_swarm_fail(err, errlen, 0, "", "The content URI is empty.");
                return OA_EINVAL;
            }
            rc = tor_read_torrent_file(opts->uri, &buf, &len, ebuf, sizeof(ebuf));
            if (rc == 0) {
                rc = oa_metainfo_parse(buf, len, &mi, ebuf, sizeof(ebuf));
                free(buf);
            }
            if (rc != 0) {
                (void)oa_swarm_fail(err, errlen, 0, "", "%s", ebuf);
                return rc;
            }
        }
    } else if (opts->torrent != NULL && opts->torrent_len > 0) {
        rc = oa_metainfo_parse(opts->torrent, opts->torrent_len, &mi, ebuf, sizeof(ebuf));
        if (rc != 0) {
            (void)oa_swarm_fail(err, errlen, 0, "", "%s", ebuf);
            return rc;
        }
    } else {
        (void)oa_swarm_fail(err, errlen, 0, "", "Neither a URI nor torrent bytes were given.");
        return OA_EINVAL;
    }
    hash = mag != NULL ? mag->info_hash : mi->info_hash;

    t = oa_engine_find(e, hash);
    if (t != NULL && !t->closing && (t->live != NULL) != (opts->live != NULL)) {
        /* live (issue 7): one info-hash is either a live stream or content */
        rc = oa_swarm_fail(err, errlen, OA_EEXIST, "",
                           "%s is already open as %s.", t->hex,
                           t->live != NULL ? "a live stream" : "ordinary content");
        goto fail;
    }
    if (t != NULL && !t->closing) {
        if (mi != NULL && t->mi == NULL) {
            OA_LOG(e, OA_LOG_INFO, "%s: metadata adopted from a .torrent", t->hex);
            t->state = OA_SWARM_METADATA; /* leaves a metadata ERROR behind */
            t->error[0] = '\0';
            tor_metadata_known(t, mi, 1);
            mi = NULL;
        }
        tor_magnet_candidates(t, mag);
        oa_magnet_free(mag);
        oa_metainfo_free(mi);
        if (existed != NULL) {
            *existed = 1;
        }
        *out = t;
        return 0;
    }
    if (e->cfg.max_torrents > 0 && e->torrent_count >= e->cfg.max_torrents) {
        rc = oa_swarm_fail(err, errlen, OA_EAGAIN, "", "The content limit (%u) is reached.",
                           e->cfg.max_torrents);
        goto fail;
    }

    t = calloc(1, sizeof(*t));
    pv = calloc(1, sizeof(*pv));
    if (t == NULL || pv == NULL) {
        free(pv);
        free(t);
        t = NULL;
        rc = OA_ENOMEM;
        goto fail_nomem;
    }
    t->priv = pv;
    t->e = e;
    t->live = opts->live;
    memcpy(t->info_hash, hash, 20);
    oa_infohash_to_hex(t->info_hash, t->hex);
    t->cache = calloc(1, sizeof(read_cache));
    save_dir = opts->save_dir != NULL && opts->save_dir[0] != '\0' ? opts->save_dir
                                                                  : e->cfg.download_dir;
    t->save_dir = strdup(save_dir);
    if (mag != NULL && mag->name != NULL) {
        pv->dn = strdup(mag->name);
    }
    if (opts->uri != NULL) {
        if (mag == NULL) {
            char *abs = realpath(opts->uri, NULL);

            t->uri = abs != NULL ? abs : strdup(opts->uri);
        } else {
            t->uri = strdup(opts->uri);
        }
    } else {
        const char *tr[1];
        size_t ntr = 0;

        if (mi->announce != NULL) {
            tr[ntr++] = mi->announce;
        }
        if (oa_magnet_make(t->info_hash, mi->name, tr, ntr, &t->uri) != 0) {
            t->uri = NULL;
        }
    }
    if (tor_choker_make(t) != 0) {
        t->choker = NULL;
    }
    if (t->cache == NULL || t->save_dir == NULL || t->uri == NULL || t->choker == NULL ||
        (mag != NULL && mag->name != NULL && pv->dn == NULL)) {
        rc = OA_ENOMEM;
        goto fail_nomem;
    }
    if (mi == NULL) {
        rc = oa_meta_fetch_new(t->info_hash, NULL, &t->fetch);
        if (rc != 0) {
            t->fetch = NULL;
            goto fail_nomem;
        }
        t->state = OA_SWARM_METADATA;
    } else {
        t->state = OA_SWARM_CHECKING;
    }
    t->added_ms = oa_engine_now(e);
    t->swarm_seeds = t->swarm_leechers = t->swarm_downloads = -1;
    t->last_played = (uint64_t)time(NULL);

    /* link at the tail: listings keep the order of adding */
    if (e->torrents == NULL) {
        e->torrents = t;
    } else {
        for (last = e->torrents; last->next != NULL; last = last->next) {
        }
        last->next = t;
    }
    e->torrent_count++;

    if (!opts->from_catalog) {
        oa_engine_event(e, "swarm.content.added", "{\"infohash\":\"%s\",\"name\":%s,\"uri\":%s}",
                        t->hex, oa_json_str(mi != NULL ? mi->name : (pv->dn ? pv->dn : ""), js1,
                                            sizeof(js1)),
                        oa_json_str(t->uri, js2, sizeof(js2)));
    }
    OA_LOG(e, OA_LOG_INFO, "%s: added (%s)", t->hex, mi != NULL ? mi->name : "metadata unknown");
    if (mi != NULL) {
        t->mi = mi; /* trackers read it; tor_metadata_known takes it over */
    }
    tor_trackers_start(t, mag);
    if (mi != NULL) {
        t->mi = NULL;
        tor_metadata_known(t, mi, 0);
        mi = NULL;
    }
    oa_catalog_save(t);
    tor_add_candidate_list(t, e->cfg.bootstrap_peers);
    tor_magnet_candidates(t, mag);
    oa_magnet_free(mag);
    /* Known peers are dialled now, not at the next 1 s tick: a player
     * waiting for its first bytes should not wait for the timer. */
    if (!t->closing && t->state != OA_SWARM_ERROR) {
        tor_connect_candidates(t, oa_engine_now(e));
    }
    *out = t;
    return 0;

fail_nomem:
    (void)oa_swarm_fail(err, errlen, 0, "", "Out of memory adding content.");
    if (t != NULL) {
        t->live = NULL; /* on failure opts->live stays the caller's (live.c frees it) */
        t->closing = 1;
        torrent_free(t);
    }
fail:
    oa_magnet_free(mag);
    oa_metainfo_free(mi);
    return rc;
}

/* ---- removing and freeing ----------------------------------------------------- */

/* Removes the files of the content below save_dir, then the folders they
 * leave empty, never following a symbolic link. */
static int open_dir_at(int dirfd, const char *name)
{
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static void delete_one(oa_engine *e, int base, const char *path)
{
    char buf[4096];
    char *comp[64];
    int fds[64];
    size_t n = 0, i;
    char *s;
    struct stat sb;

    if (strlen(path) >= sizeof(buf)) {
        return;
    }
    snprintf(buf, sizeof(buf), "%s", path);
    for (s = buf; s != NULL && n < 64;) {
        char *slash = strchr(s, '/');

        comp[n++] = s;
        if (slash != NULL) {
            *slash = '\0';
            s = slash + 1;
        } else {
            s = NULL;
        }
    }
    if (s != NULL || n == 0) {
        return; /* deeper than we walk */
    }
    fds[0] = base;
    for (i = 1; i < n; i++) {
        fds[i] = open_dir_at(fds[i - 1], comp[i - 1]);
        if (fds[i] < 0) {
            break;
        }
    }
    if (i == n) {
        if (fstatat(fds[n - 1], comp[n - 1], &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(sb.st_mode) && unlinkat(fds[n - 1], comp[n - 1], 0) != 0) {
            OA_LOG(e, OA_LOG_WARN, "%s could not be deleted: %s", path, strerror(errno));
        }
    }
    /* folders left empty, deepest first; the walk stops at a full one */
    while (i > 1) {
        i--;
        close(fds[i]);
        if (unlinkat(fds[i - 1], comp[i - 1], AT_REMOVEDIR) != 0) {
            while (i > 1) {
                i--;
                close(fds[i]);
            }
            break;
        }
    }
}

static void delete_content_files(oa_torrent *t)
{
    const oa_metainfo *mi = t->mi;
    int root, base;
    size_t i;

    if (mi == NULL || t->save_dir == NULL) {
        return;
    }
    root = open(t->save_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        return;
    }
    base = root;
    if (mi->multi_file) {
        base = open_dir_at(root, mi->name);
        if (base < 0) {
            close(root);
            return;
        }
    }
    for (i = 0; i < mi->file_count; i++) {
        if (mi->files[i].flags & (OA_MI_FILE_PAD | OA_MI_FILE_SYMLINK)) {
            continue;
        }
        delete_one(t->e, base, mi->files[i].path);
    }
    if (base != root) {
        close(base);
        unlinkat(root, mi->name, AT_REMOVEDIR); /* only when empty */
    }
    close(root);
    OA_LOG(t->e, OA_LOG_INFO, "%s: files deleted", t->hex);
}

static void torrent_free(oa_torrent *t)
{
    torrent_priv *pv = tpriv(t);
    oa_piece_buf *b;
    oa_swarm_handle *h;
    size_t i;

    if (pv != NULL && pv->kick != NULL) {
        t->e->api->timer_stop(pv->kick);
        pv->kick = NULL;
    }
    while ((h = t->handles) != NULL) {
        t->handles = h->next;
        handle_release(t, h);
    }
    while (t->reads != NULL) {
        tor_read_free(t, t->reads);
    }
    oa_storage_close(t->storage);
    if (pv != NULL && pv->delete_files) {
        delete_content_files(t);
    }
    while ((b = t->bufs) != NULL) {
        t->bufs = b->next;
        free(b->data);
        free(b);
    }
    tor_cache_free_all(t);
    for (i = 0; i < t->cand_count; i++) {
        free(t->candidates[i]);
    }
    free(t->candidates);
    oa_picker_free(t->picker);
    oa_choker_free(t->choker);
    oa_meta_fetch_free(t->fetch);
    oa_bitfield_free(&t->have);
    if (pv != NULL) {
        oa_bitfield_free(&pv->check_bf);
        free(pv->dn);
        free(pv);
    }
    oa_metainfo_free(t->mi);
    if (t->live != NULL) {
        oa_live_free(t); /* live.c's state, handles' records and chunks */
    }
    free(t->uri);
    free(t->save_dir);
    free(t);
}

void tor_maybe_free(oa_torrent *t)
{
    if (t->closing && t->jobs == 0 && tpriv(t)->holds == 0) {
        torrent_free(t);
    }
}

void oa_torrent_remove(oa_torrent *t, int delete_files)
{
    oa_engine *e;
    torrent_priv *pv;
    oa_swarm_handle *h;
    oa_torrent **pt;
    oa_peer *p;
    unsigned rounds;
    int found;

    if (t == NULL || t->closing) {
        return;
    }
    e = t->e;
    pv = tpriv(t);
    t->closing = 1;
    if (pv->kick != NULL) {
        e->api->timer_stop(pv->kick);
        pv->kick = NULL;
    }
    /* handles: reads cancelled, no callbacks; detached (engine.h), or
     * freed while the plugin stops */
    pv->stream_owner = NULL;
    while ((h = t->handles) != NULL) {
        t->handles = h->next;
        if (e->stopping) {
            handle_release(t, h);
        } else {
            handle_detach(t, h);
        }
    }
    {
        struct oa_torrent_read *r;
        struct oa_torrent_read *next;

        for (r = t->reads; r != NULL; r = next) {
            next = r->next;
            oa_torrent_read_cancel(r);
        }
    }
    tor_close_all_peers(t, "content removed");
    /* outbound connects still under way for this torrent (bounded, in case
     * a closed peer were not unlinked at once) */
    for (rounds = 0; rounds < 100000; rounds++) {
        found = 0;
        for (p = e->unattached; p != NULL; p = p->tnext) {
            if (p->t == t) {
                oa_peer_close(p, "content removed", 0);
                found = 1;
                break;
            }
        }
        if (!found) {
            break;
        }
    }
    if (t->tracker != NULL) {
        if (e->stopping) {
            /* BEP 3: a graceful shutdown tells the trackers too; the HTTP
             * driver stays open until these announces end (plugin.c). */
            e->trackers_closing++;
            oa_tracker_close(t->tracker, 1, oa_engine_tracker_closed, e);
        } else {
            oa_tracker_close(t->tracker, 1, NULL, NULL);
        }
        t->tracker = NULL;
    }
    for (pt = &e->torrents; *pt != NULL; pt = &(*pt)->next) {
        if (*pt == t) {
            *pt = t->next;
            e->torrent_count--;
            break;
        }
    }
    t->next = NULL;
    if (!e->stopping) {
        oa_catalog_delete(e, t->hex);
        oa_engine_event(e, "swarm.content.removed", "{\"infohash\":\"%s\"}", t->hex);
        OA_LOG(e, OA_LOG_INFO, "%s: removed%s", t->hex, delete_files ? " with its files" : "");
    }
    pv->delete_files = delete_files;
    tor_maybe_free(t);
}

/*
 * A live stream's descriptor (issue 7; live_int.h, docs/live-protocol.md
 * section 2): adopting it (given to live_open or fetched), serving it in
 * place of an info dictionary, and fetching it by BEP 9 (ut_metadata) from
 * peers when a viewer knows only the content ID; and a peer's arrival on
 * the stream (its oa_live state, its BEP 10 handshake) and leaving.
 */
#include "live_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the descriptor ---------------------------------------------------------- */

int live_desc_set(oa_live *lv, const uint8_t *bytes, size_t len, char *err, size_t errlen)
{
    oa_torrent *t = lv->t;
    oa_peer *p;
    size_t i, n;
    int rc;
    if (lv->desc != NULL) {
        return 0;
    }
    rc = oa_lc_desc_decode(bytes, len, &lv->d, err, errlen);
    if (rc != 0) {
        return rc;
    }
    lv->slots = calloc(lv->d.window, sizeof(*lv->slots));
    lv->desc = malloc(len);
    if (lv->slots == NULL || lv->desc == NULL) {
        free(lv->slots);
        free(lv->desc);
        lv->slots = NULL;
        lv->desc = NULL;
        snprintf(err, errlen, "Out of memory for the live window.");
        return OA_ENOMEM;
    }
    memcpy(lv->desc, bytes, len);
    lv->desc_len = len;
    lv->nslots = lv->d.window;
    oa_lc_window_init(&lv->win, lv->d.window, lv->d.chunk_ms);
    if (t != NULL) {
        if (t->fetch != NULL) {
            oa_meta_fetch_free(t->fetch);
            t->fetch = NULL;
        }
        t->state = lv->publish ? OA_SWARM_SEEDING : OA_SWARM_DOWNLOADING;
        OA_LOG(lv->e, OA_LOG_INFO, "%s: live stream \"%s\" (%u ms chunks, window %u)", t->hex,
               lv->d.name, (unsigned)lv->d.chunk_ms, (unsigned)lv->d.window);
        /* peers that connected before we knew it: a later BEP 10 handshake
         * with metadata_size lets those fetching it ask us */
        for (p = t->peers; p != NULL; p = p->tnext) {
            oa_peer_send_ext_update(p);
        }
        /* announces that came before the descriptor could be checked */
        n = lv->npending;
        lv->npending = 0;
        for (i = 0; i < n; i++) {
            live_pending pd = lv->pending[i];
            live_header_in(lv, oa_torrent_peer_find(t, pd.peer), pd.peer, &pd.hdr);
        }
    }
    live_kick(lv);
    return 0;
}

int oa_live_descriptor(oa_torrent *t, const uint8_t **bytes, size_t *len)
{
    if (t == NULL || t->live == NULL || t->live->desc == NULL) {
        return OA_ESTATE;
    }
    *bytes = t->live->desc;
    *len = t->live->desc_len;
    return 0;
}

const char *oa_live_name(oa_torrent *t)
{
    return t != NULL && t->live != NULL && t->live->desc != NULL ? t->live->d.name : NULL;
}

int oa_live_meta_size_ok(oa_torrent *t, oa_peer *p, uint64_t metadata_size)
{
    char why[160];
    if (t->live == NULL || metadata_size <= OA_LC_MAX_DESCRIPTOR) {
        return 1;
    }
    snprintf(why, sizeof(why), "announced a live descriptor of %llu bytes (at most %u)",
             (unsigned long long)metadata_size, OA_LC_MAX_DESCRIPTOR);
    oa_peer_fail(p, why, 0);
    return 0;
}

void live_fetch_retry(oa_live *lv, uint64_t now)
{
    oa_torrent *t = lv->t;
    oa_peer *p;
    if (lv->desc != NULL || lv->failed || now < lv->last_fetch_ms + 1000) {
        return;
    }
    lv->last_fetch_ms = now;
    if (t->fetch == NULL) {
        if (oa_meta_fetch_new(t->info_hash, NULL, &t->fetch) != 0) {
            t->fetch = NULL;
            return;
        }
    }
    for (p = t->peers; p != NULL; p = p->tnext) {
        if (p->extp.metadata_size > 0 && oa_ext_peer_id(&p->extp, OA_EXT_UT_METADATA) != 0 &&
            oa_peer_usable(p) && oa_live_meta_size_ok(t, p, p->extp.metadata_size)) {
            oa_torrent_meta_peer(t, p, p->extp.metadata_size);
        }
    }
}

/* A descriptor is at most OA_LC_MAX_DESCRIPTOR == OA_META_PIECE_LEN bytes:
 * one piece. Piece 0 holding all of it whose SHA-1 is the content ID is
 * taken whoever sent it; anything else goes to the fetch, which ignores
 * what it did not ask for and bans a peer whose copy does not match. */
void oa_live_meta_data(oa_torrent *t, oa_peer *p, const oa_meta_msg *msg)
{
    oa_live *lv = t->live;
    uint8_t digest[OA_LC_ID_LEN];
    char err[100];
    int rc;
    if (lv == NULL || lv->desc != NULL || t->fetch == NULL) {
        return;
    }
    if (msg->piece != 0 || msg->total_size == 0 || msg->total_size > OA_LC_MAX_DESCRIPTOR ||
        msg->size != msg->total_size || msg->data == NULL) {
        (void)oa_meta_fetch_on_data(t->fetch, p->id, msg);
        return;
    }
    oa_lc_sha1(msg->data, msg->size, digest);
    if (memcmp(digest, lv->id, OA_LC_ID_LEN) != 0) {
        (void)oa_meta_fetch_on_data(t->fetch, p->id, msg);
        return;
    }
    err[0] = '\0';
    rc = live_desc_set(lv, msg->data, msg->size, err, sizeof(err));
    if (rc != 0) {
        char msgtxt[160];
        snprintf(msgtxt, sizeof(msgtxt), "The live descriptor from peers is not valid: %s", err);
        lv->failed = 1;
        snprintf(lv->error, sizeof(lv->error), "%s", msgtxt);
        oa_meta_fetch_free(t->fetch);
        t->fetch = NULL;
        tor_set_error(t, rc, msgtxt);
        live_kick(lv);
        return;
    }
    OA_LOG(lv->e, OA_LOG_INFO, "%s: live descriptor fetched from peers", t->hex);
}

/* ---- a peer's lifetime on a live stream ------------------------------------------- */

void oa_live_peer_attach(oa_torrent *t, oa_peer *p)
{
    if (t->live == NULL || p->live != NULL) {
        return;
    }
    if (!(p->ext & OA_WIRE_EXT_EXTENDED)) {
        oa_peer_fail(p, "not a live peer: it does not speak the extension protocol (BEP 10)",
                     0);
        return;
    }
    p->live = calloc(1, sizeof(*p->live));
    if (p->live == NULL) {
        oa_peer_fail(p, "out of memory for the peer's live state", 0);
        return;
    }
    p->live->attached_ms = oa_engine_now(t->e);
    p->live->chat.tokens = LIVE_PEER_CHAT_BURST;
    p->live->chat.last_ms = (int64_t)p->live->attached_ms;
}

void oa_live_peer_ext_handshake(oa_peer *p)
{
    oa_live *lv = p->t != NULL ? p->t->live : NULL;
    oa_live_peer *lp = p->live;
    uint64_t s, from;
    if (lv == NULL || lp == NULL) {
        return;
    }
    if (oa_ext_peer_id(&p->extp, OA_EXT_OA_LIVE) == 0) {
        oa_peer_fail(p, "not a live peer: its extension handshake has no oa_live", 0);
        return;
    }
    if (lp->ready) {
        return;
    }
    lp->ready = 1;
    live_event_peer(lv, LIVE_EV_JOINED, p->addr);
    if (!lv->has_complete) {
        return;
    }
    /* what we hold, and the headers of the newest chunks so that a
     * newcomer can start a few chunks behind the edge */
    live_send_have(lv, p);
    from = lv->have_last >= LIVE_RECENT ? lv->have_last - LIVE_RECENT + 1 : 0;
    if (from < lv->have_first) {
        from = lv->have_first;
    }
    for (s = from; s <= lv->have_last; s++) {
        live_chunk *c = live_get(lv, s);
        if (live_held(c) && lv->publish) {
            live_source_announce(c, p);
        } else if (live_held(c)) {
            live_send_announce(p, c);
        }
    }
}

void oa_live_peer_detach(oa_torrent *t, oa_peer *p)
{
    oa_live *lv = t->live;
    oa_live_peer *lp = p->live;
    uint32_t i;
    if (lp == NULL) {
        return;
    }
    if (lv != NULL) {
        for (i = 0; i < lv->nslots; i++) {
            live_chunk *c = lv->slots[i];
            if (c != NULL && c->assigned == p->id) {
                c->assigned = 0; /* asked of another holder on the next pass */
            }
        }
        if (lp->ready && !t->closing) {
            live_event_peer(lv, LIVE_EV_LEFT, p->addr);
        }
    }
    free(lp);
    p->live = NULL;
}

/*
 * A live stream's descriptor (issue 7; live_int.h, docs/live-protocol.md
 * section 2): adopting it (given to live_open or fetched), serving it in
 * place of an info dictionary, and fetching it by BEP 9 (ut_metadata) from
 * peers when a viewer knows only the content ID.
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

/* The fetched copy is complete but wrong: start the fetch over. */
static void fetch_restart(oa_live *lv)
{
    oa_torrent *t = lv->t;
    oa_peer *p;
    memset(lv->fhave, 0, sizeof(lv->fhave));
    oa_meta_fetch_free(t->fetch);
    t->fetch = NULL;
    if (oa_meta_fetch_new(t->info_hash, NULL, &t->fetch) != 0) {
        t->fetch = NULL;
        return;
    }
    for (p = t->peers; p != NULL; p = p->tnext) {
        if (p->extp.metadata_size > 0) {
            oa_meta_fetch_peer(t->fetch, p->id, p->extp.metadata_size);
        }
    }
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
        memset(lv->fhave, 0, sizeof(lv->fhave));
        if (oa_meta_fetch_new(t->info_hash, NULL, &t->fetch) != 0) {
            t->fetch = NULL;
            return;
        }
    }
    for (p = t->peers; p != NULL; p = p->tnext) {
        if (p->extp.metadata_size > 0 && oa_ext_peer_id(&p->extp, OA_EXT_UT_METADATA) != 0 &&
            oa_peer_usable(p)) {
            oa_torrent_meta_peer(t, p, p->extp.metadata_size);
        }
    }
}

void oa_live_meta_data(oa_torrent *t, oa_peer *p, const oa_meta_msg *msg)
{
    oa_live *lv = t->live;
    uint8_t digest[OA_LC_ID_LEN];
    uint32_t npieces, i;
    char err[100];
    int rc;
    if (lv == NULL || lv->desc != NULL || t->fetch == NULL) {
        return;
    }
    if (msg->total_size == 0 || msg->total_size > OA_LC_MAX_DESCRIPTOR) {
        return; /* not a descriptor: never asked again once it times out */
    }
    if (lv->fsize != msg->total_size) {
        uint8_t *nb = realloc(lv->fbuf, (size_t)msg->total_size);
        if (nb == NULL) {
            return;
        }
        lv->fbuf = nb;
        lv->fsize = (size_t)msg->total_size;
        memset(lv->fhave, 0, sizeof(lv->fhave));
    }
    npieces = oa_meta_piece_count(lv->fsize);
    if (msg->piece < npieces && !lv->fhave[msg->piece] &&
        msg->size == oa_meta_piece_size(lv->fsize, msg->piece)) {
        memcpy(lv->fbuf + (size_t)msg->piece * OA_META_PIECE_LEN, msg->data, msg->size);
        lv->fhave[msg->piece] = 1;
    }
    rc = oa_meta_fetch_on_data(t->fetch, p->id, msg);
    if (rc == OA_META_HASH_FAILED) {
        memset(lv->fhave, 0, sizeof(lv->fhave));
        return;
    }
    if (rc != OA_META_DONE) {
        return;
    }
    for (i = 0; i < npieces; i++) {
        if (!lv->fhave[i]) {
            fetch_restart(lv);
            return;
        }
    }
    oa_lc_sha1(lv->fbuf, lv->fsize, digest);
    if (memcmp(digest, lv->id, OA_LC_ID_LEN) != 0) {
        fetch_restart(lv);
        return;
    }
    err[0] = '\0';
    rc = live_desc_set(lv, lv->fbuf, lv->fsize, err, sizeof(err));
    free(lv->fbuf);
    lv->fbuf = NULL;
    lv->fsize = 0;
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

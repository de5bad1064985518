/*
 * Chat on a live stream (issue 7; live_int.h, docs/live-protocol.md
 * section 8): taking a signed message from a peer or a local handle (stream
 * check, de-duplication, replays: ts_ms within LIVE_CHAT_SKEW_MS of now and
 * each sender's seq rising, the broadcaster's mutes, each sender's rate
 * limit), queueing it as an event for the handles and gossiping it to the
 * other peers. live_peer.c limits the messages of each peer.
 */
#include "live_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- chat -------------------------------------------------------------------------- */

static live_sender *sender_get(oa_live *lv, const uint8_t from[OA_LC_KEY_LEN], uint64_t now)
{
    size_t i, oldest = 0;
    for (i = 0; i < lv->nsenders; i++) {
        if (memcmp(lv->senders[i].from, from, OA_LC_KEY_LEN) == 0) {
            return &lv->senders[i];
        }
        if (lv->senders[i].used_ms < lv->senders[oldest].used_ms) {
            oldest = i;
        }
    }
    i = lv->nsenders < LIVE_SENDERS ? lv->nsenders++ : oldest;
    memset(&lv->senders[i], 0, sizeof(lv->senders[i]));
    memcpy(lv->senders[i].from, from, OA_LC_KEY_LEN);
    lv->senders[i].b.tokens = LIVE_CHAT_BURST;
    lv->senders[i].b.last_ms = (int64_t)now;
    return &lv->senders[i];
}

static int muted(oa_live *lv, const uint8_t who[OA_LC_KEY_LEN], int64_t now_s)
{
    size_t i;
    for (i = 0; i < lv->nmutes; i++) {
        if (memcmp(lv->mutes[i].who, who, OA_LC_KEY_LEN) == 0) {
            return lv->mutes[i].until > now_s;
        }
    }
    return 0;
}

static void mute_add(oa_live *lv, const uint8_t who[OA_LC_KEY_LEN], int64_t until)
{
    size_t i, oldest = 0;
    for (i = 0; i < lv->nmutes; i++) {
        if (memcmp(lv->mutes[i].who, who, OA_LC_KEY_LEN) == 0) {
            lv->mutes[i].until = until;
            return;
        }
        if (lv->mutes[i].until < lv->mutes[oldest].until) {
            oldest = i;
        }
    }
    i = lv->nmutes < LIVE_MUTES ? lv->nmutes++ : oldest;
    memcpy(lv->mutes[i].who, who, OA_LC_KEY_LEN);
    lv->mutes[i].until = until;
}

/* Sends a chat message to every ready peer but except_peer. */
static void live_forward_chat(oa_live *lv, const uint8_t *msg, size_t len, uint64_t except_peer)
{
    oa_lc_msg m;
    oa_peer *p;
    memset(&m, 0, sizeof(m));
    m.type = OA_LC_CHAT;
    m.chat = msg;
    m.chat_len = len;
    for (p = lv->t->peers; p != NULL; p = p->tnext) {
        if (p->id != except_peer) {
            live_send(p, &m);
        }
    }
}

/* Takes a chat message (from a peer: its id; local: 0). 0 accepted; OA_EPROTO
 * (malformed or forged; err says why), OA_EINVAL (another stream),
 * OA_EEXIST (seen before), OA_ERANGE (a replay: stamped far from now, or a
 * seq not after its sender's last), OA_EACCES (muted, or a mute not from
 * the broadcaster), OA_EAGAIN (over the sender's limit), OA_ENOMEM. */
static int live_chat_take(oa_live *lv, const uint8_t *msg, size_t len, uint64_t from_peer,
                          char *err, size_t errlen)
{
    oa_lc_chat c;
    live_event *ev;
    uint64_t now = oa_engine_now(lv->e);
    int64_t unix_ms = (int64_t)live_unix_ms();
    int64_t now_s = unix_ms / 1000;
    live_sender *snd;
    size_t i;
    int rc;
    if (len > OA_LC_CHAT_MAX) {
        snprintf(err, errlen, "a chat message of %zu bytes (at most %u)", len, OA_LC_CHAT_MAX);
        return OA_EPROTO;
    }
    rc = oa_lc_chat_decode(msg, len, &c, err, errlen);
    if (rc != 0) {
        return rc == OA_ENOMEM ? rc : OA_EPROTO;
    }
    if (memcmp(c.stream, lv->id, OA_LC_ID_LEN) != 0) {
        snprintf(err, errlen, "a chat message for another stream");
        return OA_EINVAL;
    }
    for (i = 0; i < LIVE_DEDUPE; i++) {
        const live_seen *s = &lv->seen[i];
        if (s->ms != 0 && s->seq == c.seq && now < s->ms + LIVE_DEDUPE_MS &&
            memcmp(s->from, c.from, OA_LC_KEY_LEN) == 0) {
            return OA_EEXIST;
        }
    }
    /* a replay: far from now (the de-duplication above remembers an hour),
     * or not newer than what its sender sent last */
    if (c.ts_ms < unix_ms - (int64_t)LIVE_CHAT_SKEW_MS ||
        c.ts_ms > unix_ms + (int64_t)LIVE_CHAT_SKEW_MS) {
        snprintf(err, errlen, "a chat message stamped more than %u minutes from now",
                 LIVE_CHAT_SKEW_MS / 60000u);
        return OA_ERANGE;
    }
    if (c.kind == 1 && (lv->desc == NULL || memcmp(c.from, lv->d.pubkey, OA_LC_KEY_LEN) != 0)) {
        snprintf(err, errlen, "a mute not signed by the broadcaster");
        return OA_EACCES;
    }
    if (c.kind == 0 && muted(lv, c.from, now_s)) {
        snprintf(err, errlen, "the sender is muted");
        return OA_EACCES;
    }
    snd = sender_get(lv, c.from, now);
    if (snd->has_seq && c.seq <= snd->last_seq) {
        snprintf(err, errlen, "a chat message whose seq %llu is not after its sender's last "
                 "(%llu)", (unsigned long long)c.seq, (unsigned long long)snd->last_seq);
        return OA_ERANGE;
    }
    if (!oa_lc_bucket_take(&snd->b, (int64_t)now, LIVE_CHAT_BURST, LIVE_CHAT_PER_MIN)) {
        snprintf(err, errlen, "the sender is over %u messages a minute", LIVE_CHAT_PER_MIN);
        return OA_EAGAIN;
    }
    snd->used_ms = now;
    snd->last_seq = c.seq;
    snd->has_seq = 1;
    memcpy(lv->seen[lv->seen_next].from, c.from, OA_LC_KEY_LEN);
    lv->seen[lv->seen_next].seq = c.seq;
    lv->seen[lv->seen_next].ms = now > 0 ? now : 1;
    lv->seen_next = (lv->seen_next + 1) % LIVE_DEDUPE;
    if (c.kind == 1) {
        mute_add(lv, c.target, c.until);
    }
    ev = live_event_push(lv, LIVE_EV_CHAT);
    ev->data = malloc(len);
    if (ev->data != NULL) {
        memcpy(ev->data, msg, len);
        ev->len = len;
    }
    live_forward_chat(lv, msg, len, from_peer);
    live_kick(lv);
    return 0;
}

void live_chat_from_peer(oa_live *lv, oa_peer *p, const oa_lc_msg *m)
{
    char err[160] = "";
    char why[224];
    int rc;
    if (!oa_lc_bucket_take(&p->live->chat, (int64_t)oa_engine_now(lv->e), LIVE_PEER_CHAT_BURST,
                           LIVE_PEER_CHAT_PER_MIN)) {
        snprintf(why, sizeof(why), "sent more than %u live chat messages a minute",
                 LIVE_PEER_CHAT_PER_MIN);
        oa_peer_fail(p, why, 0);
        return;
    }
    rc = live_chat_take(lv, m->chat, m->chat_len, p->id, err, sizeof(err));
    if (rc == OA_EPROTO) {
        snprintf(why, sizeof(why), "sent a forged or malformed chat message: %s", err);
        oa_peer_fail(p, why, 1);
    } else if (rc == OA_EINVAL) {
        snprintf(why, sizeof(why), "sent %s", err);
        oa_peer_fail(p, why, 0);
    }
    /* seen, muted, over the limit: dropped quietly */
}

int oa_live_chat(oa_swarm_handle *h, const uint8_t *msg, size_t len)
{
    oa_live *lv;
    char err[160] = "";
    int rc;
    if (h == NULL || msg == NULL || len == 0) {
        return OA_EINVAL;
    }
    if (h->t == NULL) {
        return OA_ECANCELED;
    }
    lv = h->t->live;
    if (lv == NULL) {
        return OA_ESTATE;
    }
    rc = live_chat_take(lv, msg, len, 0, err, sizeof(err));
    if (rc == OA_EEXIST) {
        return 0; /* accepted before: nothing more to do */
    }
    if (rc == OA_EINVAL) {
        rc = OA_EPROTO;
    }
    if (rc != 0) {
        lv->e->api->set_error(lv->e->self, "chat message refused: %s", err);
    }
    return rc;
}

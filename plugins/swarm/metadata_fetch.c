/*
 * BEP 9 metadata fetch: which piece to ask of which peer, assembling,
 * verifying against the info-hash, and finding out who lied when the hash
 * does not match. See metadata.h for the policy.
 *
 * Invariant: a peer's outstanding count is the number of pieces in state
 * ASKED whose peer field names it; every change of a piece's state out
 * of ASKED goes through unask().
 */
#include "metadata.h"

#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_BACKOFF_MS 60000u
#define DEFAULT_MAX_PER_PEER 2u

enum { P_MISSING = 0, P_ASKED = 1, P_HAVE = 2 };

typedef struct mf_peer {
    uint64_t id;
    uint64_t size;       /* metadata_size it announced; 0: none */
    uint64_t rest_until; /* not asked before this time */
    uint64_t last_pick;  /* turn number of its last request, for taking turns */
    uint32_t order;      /* when it was added: ties go to the older peer */
    unsigned outstanding;
    uint8_t banned;
    uint8_t tried;       /* one-source mode: was the source in this round */
    uint8_t suspect;     /* sent a piece of the copy thrown away last */
} mf_peer;

typedef struct mf_piece {
    uint8_t state;
    uint64_t peer;      /* ASKED: asked of; HAVE: sent by */
    uint64_t at;        /* ASKED: when */
    uint8_t digest[OA_SHA1_LEN];
    /* The same piece in the thrown-away copy that had several senders. */
    uint8_t prev_valid;
    uint64_t prev_peer;
    uint8_t prev_digest[OA_SHA1_LEN];
} mf_piece;

struct oa_meta_fetch {
    uint8_t info_hash[OA_SHA1_LEN];
    oa_meta_fetch_config cfg;
    mf_peer *peers;
    size_t npeers;
    size_t cap_peers;
    uint32_t next_order;
    uint64_t turn;
    uint64_t size;    /* being fetched; 0: none known */
    uint32_t npieces;
    uint32_t have;
    uint8_t *buf;     /* size bytes */
    mf_piece *pieces; /* npieces */
    int solo;         /* every piece from one peer at a time */
    int has_source;
    uint64_t source;
    uint64_t *suspects;
    size_t nsuspects;
    oa_meta_ban *bans;
    size_t nbans;
    size_t cap_bans;
    int done;
    int taken;
    int result_rc;
    oa_metainfo *mi;
    char result_err[256];
};

static int sha1(const uint8_t *p, size_t n, uint8_t out[OA_SHA1_LEN])
{
    unsigned mdlen = 0;

    if (EVP_Digest(p, n, out, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != OA_SHA1_LEN) {
        return OA_ENOMEM;
    }
    return 0;
}

static mf_peer *find_peer(oa_meta_fetch *f, uint64_t id)
{
    size_t i;

    for (i = 0; i < f->npeers; i++) {
        if (f->peers[i].id == id) {
            return &f->peers[i];
        }
    }
    return NULL;
}

static mf_peer *add_peer(oa_meta_fetch *f, uint64_t id)
{
    mf_peer *p;

    if (f->npeers == f->cap_peers) {
        size_t cap = f->cap_peers > 0 ? f->cap_peers * 2 : 8;
        mf_peer *grown = realloc(f->peers, cap * sizeof(*grown));

        if (grown == NULL) {
            return NULL;
        }
        f->peers = grown;
        f->cap_peers = cap;
    }
    p = &f->peers[f->npeers++];
    memset(p, 0, sizeof(*p));
    p->id = id;
    p->order = f->next_order++;
    return p;
}

/* Takes piece i out of ASKED, into state. */
static void unask(oa_meta_fetch *f, uint32_t i, uint8_t state)
{
    mf_piece *pc = &f->pieces[i];

    if (pc->state == P_ASKED) {
        mf_peer *p = find_peer(f, pc->peer);

        if (p != NULL && p->outstanding > 0) {
            p->outstanding--;
        }
    }
    pc->state = state;
}

static void drop_requests_of(oa_meta_fetch *f, uint64_t id)
{
    uint32_t i;

    for (i = 0; i < f->npieces; i++) {
        if (f->pieces[i].state == P_ASKED && f->pieces[i].peer == id) {
            unask(f, i, P_MISSING);
        }
    }
}

/* Throws the copy away: every piece is missing again. */
static void discard_copy(oa_meta_fetch *f)
{
    uint32_t i;

    for (i = 0; i < f->npieces; i++) {
        unask(f, i, P_MISSING);
    }
    f->have = 0;
}

/* The source of one-source mode leaves, rejects or times out: what it
 * sent is thrown away, so that a copy always has one sender. */
static void drop_source(oa_meta_fetch *f)
{
    mf_peer *p = f->has_source ? find_peer(f, f->source) : NULL;

    if (p != NULL) {
        p->tried = 1;
    }
    f->has_source = 0;
    discard_copy(f);
}

/* Starts over with another metadata size. */
static int start_size(oa_meta_fetch *f, uint64_t size)
{
    uint32_t n = oa_meta_piece_count(size);
    uint8_t *buf = malloc((size_t)size);
    mf_piece *pieces = calloc(n, sizeof(*pieces));
    size_t i;

    if (buf == NULL || pieces == NULL) {
        free(buf);
        free(pieces);
        return OA_ENOMEM;
    }
    free(f->buf);
    free(f->pieces);
    f->buf = buf;
    f->pieces = pieces;
    f->size = size;
    f->npieces = n;
    f->have = 0;
    f->solo = 0;
    f->has_source = 0;
    for (i = 0; i < f->npeers; i++) {
        f->peers[i].outstanding = 0;
        f->peers[i].tried = 0;
        f->peers[i].suspect = 0;
    }
    return 0;
}

/* When no peer that may be asked announces the size being fetched, moves
 * to the size most of the others announce (ties: the older peer's). */
static int maybe_switch_size(oa_meta_fetch *f)
{
    size_t i;
    size_t j;
    size_t best = 0;
    size_t best_votes = 0;

    if (f->done) {
        return 0;
    }
    for (i = 0; i < f->npeers; i++) {
        if (!f->peers[i].banned && f->size != 0 && f->peers[i].size == f->size) {
            return 0;
        }
    }
    for (i = 0; i < f->npeers; i++) {
        const mf_peer *p = &f->peers[i];
        size_t votes = 0;

        if (p->banned || p->size == 0) {
            continue;
        }
        for (j = 0; j < f->npeers; j++) {
            votes += !f->peers[j].banned && f->peers[j].size == p->size;
        }
        if (votes > best_votes ||
            (votes == best_votes && votes > 0 && p->order < f->peers[best].order)) {
            best = i;
            best_votes = votes;
        }
    }
    if (best_votes == 0) {
        return 0;
    }
    return start_size(f, f->peers[best].size);
}

/* Bans a peer (adding it if it is unknown) and queues the ban. */
static int ban(oa_meta_fetch *f, uint64_t id, const char *why)
{
    mf_peer *p = find_peer(f, id);

    if (p == NULL) {
        p = add_peer(f, id);
        if (p == NULL) {
            return OA_ENOMEM;
        }
    }
    if (p->banned) {
        return 0;
    }
    if (f->nbans == f->cap_bans) {
        size_t cap = f->cap_bans > 0 ? f->cap_bans * 2 : 8;
        oa_meta_ban *grown = realloc(f->bans, cap * sizeof(*grown));

        if (grown == NULL) {
            return OA_ENOMEM;
        }
        f->bans = grown;
        f->cap_bans = cap;
    }
    f->bans[f->nbans].peer = id;
    f->bans[f->nbans].why = why;
    f->nbans++;
    p->banned = 1;
    if (f->done) {
        return 0;
    }
    drop_requests_of(f, id);
    if (f->solo && f->has_source && f->source == id) {
        drop_source(f);
    }
    return maybe_switch_size(f);
}

/* ---- lifecycle ---------------------------------------------------------- */

int oa_meta_fetch_new(const uint8_t info_hash[OA_SHA1_LEN], const oa_meta_fetch_config *cfg,
                      oa_meta_fetch **out)
{
    oa_meta_fetch *f;

    if (out != NULL) {
        *out = NULL;
    }
    if (info_hash == NULL || out == NULL) {
        return OA_EINVAL;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return OA_ENOMEM;
    }
    memcpy(f->info_hash, info_hash, OA_SHA1_LEN);
    if (cfg != NULL) {
        f->cfg = *cfg;
    }
    if (f->cfg.timeout_ms == 0) {
        f->cfg.timeout_ms = DEFAULT_TIMEOUT_MS;
    }
    if (f->cfg.backoff_ms == 0) {
        f->cfg.backoff_ms = DEFAULT_BACKOFF_MS;
    }
    if (f->cfg.max_per_peer == 0) {
        f->cfg.max_per_peer = DEFAULT_MAX_PER_PEER;
    }
    *out = f;
    return 0;
}

void oa_meta_fetch_free(oa_meta_fetch *f)
{
    if (f == NULL) {
        return;
    }
    free(f->peers);
    free(f->buf);
    free(f->pieces);
    free(f->suspects);
    free(f->bans);
    oa_metainfo_free(f->mi);
    free(f);
}

/* ---- peers -------------------------------------------------------------- */

int oa_meta_fetch_peer(oa_meta_fetch *f, uint64_t peer, uint64_t metadata_size)
{
    mf_peer *p;

    if (f == NULL) {
        return OA_EINVAL;
    }
    if (metadata_size > OA_EXT_MAX_METADATA_SIZE) {
        return OA_ERANGE;
    }
    p = find_peer(f, peer);
    if (p != NULL && p->banned) {
        return OA_EACCES;
    }
    if (p == NULL) {
        p = add_peer(f, peer);
        if (p == NULL) {
            return OA_ENOMEM;
        }
    } else if (p->size != metadata_size && f->size != 0) {
        drop_requests_of(f, peer);
        if (f->solo && f->has_source && f->source == peer) {
            drop_source(f);
        }
    }
    p->size = metadata_size;
    if (f->done) {
        return 0;
    }
    if (f->size == 0 && metadata_size > 0) {
        return start_size(f, metadata_size);
    }
    return maybe_switch_size(f);
}

void oa_meta_fetch_peer_gone(oa_meta_fetch *f, uint64_t peer)
{
    mf_peer *p = f != NULL ? find_peer(f, peer) : NULL;

    if (p == NULL) {
        return;
    }
    if (f->size != 0 && !f->done) {
        drop_requests_of(f, peer);
        if (f->solo && f->has_source && f->source == peer) {
            drop_source(f);
        }
    }
    if (p->banned) {
        p->outstanding = 0;
        p->size = 0; /* kept only to stay banned */
        return;
    }
    *p = f->peers[--f->npeers];
    (void)maybe_switch_size(f);
}

/* ---- requests ----------------------------------------------------------- */

size_t oa_meta_fetch_expire(oa_meta_fetch *f, uint64_t now_ms)
{
    size_t n = 0;
    uint32_t i;

    if (f == NULL || f->done) {
        return 0;
    }
    for (i = 0; i < f->npieces; i++) {
        mf_piece *pc = &f->pieces[i];
        mf_peer *p;

        if (pc->state != P_ASKED || now_ms < pc->at || now_ms - pc->at < f->cfg.timeout_ms) {
            continue;
        }
        p = find_peer(f, pc->peer);
        if (p != NULL) {
            p->rest_until = now_ms + f->cfg.backoff_ms;
        }
        n++;
        if (f->solo && f->has_source && f->source == pc->peer) {
            drop_source(f);
            continue;
        }
        unask(f, i, P_MISSING);
    }
    return n;
}

/* May peer p be asked for a piece now? */
static int usable(const oa_meta_fetch *f, const mf_peer *p, uint64_t now_ms)
{
    return !p->banned && p->size == f->size && now_ms >= p->rest_until &&
           p->outstanding < f->cfg.max_per_peer;
}

/* Chooses the source of one-source mode: one not yet tried this round,
 * preferring peers that sent nothing of the thrown-away copy, then the
 * oldest. When every peer was tried, a new round starts. */
static mf_peer *pick_source(oa_meta_fetch *f, uint64_t now_ms)
{
    mf_peer *best = NULL;
    int round;
    size_t i;

    for (round = 0; round < 2 && best == NULL; round++) {
        for (i = 0; i < f->npeers; i++) {
            mf_peer *p = &f->peers[i];

            if (!usable(f, p, now_ms) || p->tried) {
                continue;
            }
            if (best == NULL || p->suspect < best->suspect ||
                (p->suspect == best->suspect && p->order < best->order)) {
                best = p;
            }
        }
        if (best == NULL) {
            for (i = 0; i < f->npeers; i++) {
                f->peers[i].tried = 0;
            }
        }
    }
    return best;
}

/* Chooses whom to ask in the usual mode: the least loaded peer, then the
 * one whose turn came longest ago, then the oldest. */
static mf_peer *pick_peer(oa_meta_fetch *f, uint64_t now_ms)
{
    mf_peer *best = NULL;
    size_t i;

    for (i = 0; i < f->npeers; i++) {
        mf_peer *p = &f->peers[i];

        if (!usable(f, p, now_ms)) {
            continue;
        }
        if (best == NULL || p->outstanding < best->outstanding ||
            (p->outstanding == best->outstanding &&
             (p->last_pick < best->last_pick ||
              (p->last_pick == best->last_pick && p->order < best->order)))) {
            best = p;
        }
    }
    return best;
}

int oa_meta_fetch_next(oa_meta_fetch *f, uint64_t now_ms, oa_meta_request *req)
{
    mf_peer *p;
    uint32_t i;

    if (f == NULL || req == NULL) {
        return OA_EINVAL;
    }
    if (f->done || f->size == 0) {
        return 0;
    }
    oa_meta_fetch_expire(f, now_ms);
    i = 0;
    while (i < f->npieces && f->pieces[i].state != P_MISSING) {
        i++;
    }
    if (i == f->npieces) {
        return 0;
    }
    if (f->solo) {
        p = f->has_source ? find_peer(f, f->source) : NULL;
        if (p == NULL) {
            p = pick_source(f, now_ms);
            if (p == NULL) {
                return 0;
            }
            f->has_source = 1;
            f->source = p->id;
        }
        if (!usable(f, p, now_ms)) {
            return 0;
        }
    } else {
        p = pick_peer(f, now_ms);
        if (p == NULL) {
            return 0;
        }
    }
    f->pieces[i].state = P_ASKED;
    f->pieces[i].peer = p->id;
    f->pieces[i].at = now_ms;
    p->outstanding++;
    p->last_pick = ++f->turn;
    req->peer = p->id;
    req->piece = i;
    return 1;
}

int oa_meta_fetch_on_reject(oa_meta_fetch *f, uint64_t peer, uint32_t piece, uint64_t now_ms)
{
    mf_peer *p;

    if (f == NULL) {
        return OA_EINVAL;
    }
    p = find_peer(f, peer);
    if (p == NULL) {
        return OA_ENOENT;
    }
    if (f->done || piece >= f->npieces || f->pieces[piece].state != P_ASKED ||
        f->pieces[piece].peer != peer) {
        return OA_ESTATE;
    }
    p->rest_until = now_ms + f->cfg.backoff_ms;
    if (f->solo && f->has_source && f->source == peer) {
        drop_source(f);
        return 0;
    }
    unask(f, piece, P_MISSING);
    return 0;
}

/* ---- verifying ---------------------------------------------------------- */

/* Stores the distinct senders of the copy as the suspects. */
static int note_suspects(oa_meta_fetch *f, size_t *distinct)
{
    uint64_t *ids = realloc(f->suspects, (f->npieces > 0 ? f->npieces : 1) * sizeof(*ids));
    size_t n = 0;
    uint32_t i;
    size_t j;

    if (ids == NULL) {
        return OA_ENOMEM;
    }
    f->suspects = ids;
    for (i = 0; i < f->npieces; i++) {
        uint64_t id = f->pieces[i].peer;
        mf_peer *p = find_peer(f, id);

        j = 0;
        while (j < n && ids[j] != id) {
            j++;
        }
        if (j == n) {
            ids[n++] = id;
        }
        if (p != NULL) {
            p->suspect = 1;
        }
    }
    f->nsuspects = n;
    *distinct = n;
    return 0;
}

static int verified(oa_meta_fetch *f)
{
    uint32_t i;
    int rc;

    f->done = 1;
    f->result_rc = oa_metainfo_parse_info(f->buf, (size_t)f->size, &f->mi, f->result_err,
                                          sizeof(f->result_err));
    /* Pieces of the thrown-away copy that differ from the truth name
     * their senders. */
    for (i = 0; i < f->npieces; i++) {
        const mf_piece *pc = &f->pieces[i];

        if (pc->prev_valid && memcmp(pc->prev_digest, pc->digest, OA_SHA1_LEN) != 0) {
            rc = ban(f, pc->prev_peer, "sent a metadata piece that differs from the verified one");
            if (rc != 0) {
                return rc;
            }
        }
    }
    free(f->buf);
    free(f->pieces);
    f->buf = NULL;
    f->pieces = NULL;
    f->npieces = 0;
    return OA_META_DONE;
}

static int hash_failed(oa_meta_fetch *f)
{
    size_t distinct = 0;
    uint32_t i;
    int rc = note_suspects(f, &distinct);

    if (rc != 0) {
        return rc;
    }
    if (f->solo || distinct == 1) {
        uint64_t liar = f->pieces[0].peer;

        f->has_source = 0;
        discard_copy(f);
        rc = ban(f, liar, "sent metadata that does not match the info-hash");
        return rc != 0 ? rc : OA_META_HASH_FAILED;
    }
    for (i = 0; i < f->npieces; i++) {
        mf_piece *pc = &f->pieces[i];

        pc->prev_valid = 1;
        pc->prev_peer = pc->peer;
        memcpy(pc->prev_digest, pc->digest, OA_SHA1_LEN);
    }
    f->solo = 1;
    f->has_source = 0;
    discard_copy(f);
    return OA_META_HASH_FAILED;
}

int oa_meta_fetch_on_data(oa_meta_fetch *f, uint64_t peer, const oa_meta_msg *msg)
{
    uint8_t digest[OA_SHA1_LEN];
    mf_peer *p;
    mf_piece *pc;
    int rc;

    if (f == NULL || msg == NULL || msg->type != OA_META_DATA ||
        (msg->data == NULL && msg->size > 0)) {
        return OA_EINVAL;
    }
    if (f->done) {
        return OA_META_DONE;
    }
    p = find_peer(f, peer);
    if (p == NULL) {
        return OA_ENOENT;
    }
    if (p->banned) {
        return OA_EACCES;
    }
    if (f->size == 0 || p->size != f->size) {
        return OA_META_PENDING;
    }
    if (msg->total_size != f->size) {
        rc = ban(f, peer, "sent a total_size other than its handshake's metadata_size");
        return rc != 0 ? rc : OA_EPROTO;
    }
    if (msg->piece >= f->npieces || msg->size != oa_meta_piece_size(f->size, msg->piece)) {
        rc = ban(f, peer, "sent a metadata piece of the wrong length");
        return rc != 0 ? rc : OA_EPROTO;
    }
    pc = &f->pieces[msg->piece];
    if (pc->state == P_HAVE || (f->solo && !(f->has_source && f->source == peer))) {
        return OA_META_PENDING;
    }
    rc = sha1(msg->data, msg->size, digest);
    if (rc != 0) {
        return rc;
    }
    unask(f, msg->piece, P_HAVE);
    pc->peer = peer;
    memcpy(pc->digest, digest, OA_SHA1_LEN);
    memcpy(f->buf + (size_t)msg->piece * OA_META_PIECE_LEN, msg->data, msg->size);
    f->have++;
    if (f->have < f->npieces) {
        return OA_META_PENDING;
    }
    rc = sha1(f->buf, (size_t)f->size, digest);
    if (rc != 0) {
        return rc;
    }
    if (memcmp(digest, f->info_hash, OA_SHA1_LEN) == 0) {
        return verified(f);
    }
    return hash_failed(f);
}

/* ---- reports ------------------------------------------------------------ */

size_t oa_meta_fetch_take_bans(oa_meta_fetch *f, oa_meta_ban *bans, size_t cap)
{
    size_t n;

    if (f == NULL || bans == NULL) {
        return 0;
    }
    n = f->nbans < cap ? f->nbans : cap;
    if (n == 0) {
        return 0;
    }
    memcpy(bans, f->bans, n * sizeof(*bans));
    memmove(f->bans, f->bans + n, (f->nbans - n) * sizeof(*bans));
    f->nbans -= n;
    return n;
}

size_t oa_meta_fetch_suspects(const oa_meta_fetch *f, uint64_t *ids, size_t cap)
{
    size_t n;

    if (f == NULL) {
        return 0;
    }
    n = f->nsuspects < cap ? f->nsuspects : cap;
    if (ids != NULL && n > 0) {
        memcpy(ids, f->suspects, n * sizeof(*ids));
    }
    return f->nsuspects;
}

uint64_t oa_meta_fetch_progress(const oa_meta_fetch *f, uint32_t *have, uint32_t *total)
{
    uint32_t all;

    if (f == NULL) {
        return 0;
    }
    all = f->done ? oa_meta_piece_count(f->size) : f->npieces;
    if (have != NULL) {
        *have = f->done ? all : f->have;
    }
    if (total != NULL) {
        *total = all;
    }
    return f->size;
}

int oa_meta_fetch_result(oa_meta_fetch *f, oa_metainfo **out, char *err, size_t errlen)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (f == NULL || out == NULL) {
        return OA_EINVAL;
    }
    if (!f->done || f->taken) {
        return OA_ESTATE;
    }
    f->taken = 1;
    if (f->result_rc != 0) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "%s", f->result_err);
        }
        return f->result_rc;
    }
    *out = f->mi;
    f->mi = NULL;
    return 0;
}

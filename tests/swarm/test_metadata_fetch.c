/* The BEP 9 metadata fetch (oa_meta_fetch in plugins/swarm/metadata.h),
 * driven by simulated peers that answer through the real codec and the
 * real serving side: requests spread over peers, a corrupt piece (hash
 * mismatch, the liar banned and the honest not, refetched, done), a lone
 * liar, rejects, timeouts and late answers, protocol errors, disagreeing
 * sizes, metadata that matches the hash but does not parse, and 300
 * random swarms of honest peers, liars, rejecters and silent peers that
 * come and go. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "info_fixture.h"
#include "bencode.h"
#include "metadata.h"
#include "testutil.h"

#define MAX_SIM 8

static void sha1(const void *p, size_t n, uint8_t out[20])
{
    unsigned len = 0;

    assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha1(), NULL), 1);
}


/* Decodes an exact-size heap copy. */

/* ---- simulated peers ---------------------------------------------------- */

enum { HONEST = 0, LIAR = 1, REJECTER = 2, SILENT = 3 };

typedef struct sim_peer {
    uint64_t id;
    int kind;
    int corrupt_piece; /* LIAR: -1 every piece, else that one */
    uint64_t size;     /* announced */
    int present;
} sim_peer;

typedef struct sim {
    const uint8_t *info;
    size_t info_len;
    sim_peer peers[MAX_SIM];
    size_t n;
    int last_status;
    int hash_failures;
    int asked[MAX_SIM][4]; /* requests per peer per piece (first 4 pieces) */
} sim;

static sim_peer *sim_find(sim *s, uint64_t id)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        if (s->peers[i].id == id) {
            return &s->peers[i];
        }
    }
    fail_msg("request to unknown peer %llu", (unsigned long long)id);
    return NULL;
}

/* The peer answers one request through the real codec. */
static int sim_answer(sim *s, oa_meta_fetch *f, const oa_meta_request *req, uint64_t now,
                      int reject_half)
{
    sim_peer *p = sim_find(s, req->peer);
    oa_meta_server srv;
    oa_meta_msg q = {OA_META_REQUEST, req->piece, 0, NULL, 0};
    oa_meta_msg ans;
    uint8_t *out = NULL;
    size_t len = 0;
    char err[200];
    int rc;

    if (req->piece < 4) {
        s->asked[p - s->peers][req->piece]++;
    }
    if (p->kind == SILENT || (reject_half && p->kind == REJECTER && oa_test_rng_below(2) == 0)) {
        return OA_META_PENDING;
    }
    memset(&srv, 0, sizeof(srv));
    srv.refuse = p->kind == REJECTER;
    rc = oa_meta_serve(&srv, s->info, s->info_len, &q, &out, &len);
    assert_true(rc >= 0);
    if (rc == OA_META_DATA && p->kind == LIAR &&
        (p->corrupt_piece < 0 || (uint32_t)p->corrupt_piece == req->piece)) {
        out[len - 1] ^= 0x01; /* the last byte of the piece */
    }
    assert_int_equal(oa_meta_decode(out, len, &ans, err, sizeof(err)), 0);
    if (ans.type == OA_META_REJECT) {
        rc = oa_meta_fetch_on_reject(f, req->peer, ans.piece, now);
        free(out);
        return rc;
    }
    rc = oa_meta_fetch_on_data(f, req->peer, &ans);
    free(out);
    if (rc == OA_META_HASH_FAILED) {
        s->hash_failures++;
    }
    if (rc >= 0) {
        s->last_status = rc;
    }
    return rc;
}

/* One round: every request due now, then every answer. Returns how many
 * requests went out. */
static size_t sim_round(sim *s, oa_meta_fetch *f, uint64_t now, int reject_half)
{
    oa_meta_request reqs[64];
    size_t n = 0;
    size_t i;

    while (n < 64 && oa_meta_fetch_next(f, now, &reqs[n]) == 1) {
        n++;
    }
    for (i = 0; i < n; i++) {
        int rc = sim_answer(s, f, &reqs[i], now, reject_half);

        assert_true(rc >= 0 || rc == OA_EPROTO || rc == OA_ESTATE);
    }
    return n;
}

static void sim_add(sim *s, oa_meta_fetch *f, uint64_t id, int kind, int corrupt)
{
    sim_peer *p = &s->peers[s->n++];

    p->id = id;
    p->kind = kind;
    p->corrupt_piece = corrupt;
    p->size = s->info_len;
    p->present = 1;
    assert_int_equal(oa_meta_fetch_peer(f, id, p->size), 0);
}

static oa_meta_fetch *new_fetch(const uint8_t *info, size_t info_len)
{
    uint8_t ih[20];
    oa_meta_fetch *f = NULL;

    sha1(info, info_len, ih);
    assert_int_equal(oa_meta_fetch_new(ih, NULL, &f), 0);
    return f;
}

/* Takes the result and checks it is the metadata that was served. */
static void expect_result(oa_meta_fetch *f, const uint8_t *info, size_t info_len)
{
    oa_metainfo *mi = NULL;
    uint8_t ih[20];
    char err[256];

    assert_int_equal(oa_meta_fetch_result(f, &mi, err, sizeof(err)), 0);
    assert_non_null(mi);
    sha1(info, info_len, ih);
    assert_memory_equal(mi->info_hash, ih, 20);
    assert_int_equal(mi->info_len, info_len);
    assert_memory_equal(mi->info, info, info_len);
    assert_string_equal(mi->name, "stream.ts");
    oa_metainfo_free(mi);
    assert_int_equal(oa_meta_fetch_result(f, &mi, err, sizeof(err)), OA_ESTATE);
}

static void test_fetch_three_peers(void **state)
{
    size_t info_len;
    uint8_t *info = oa_test_make_info(2100, &info_len);
    oa_meta_fetch *f = new_fetch(info, info_len);
    oa_meta_ban bans[4];
    uint32_t have;
    uint32_t total;
    sim s;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.info = info;
    s.info_len = info_len;
    sim_add(&s, f, 10, HONEST, 0);
    sim_add(&s, f, 11, HONEST, 0);
    sim_add(&s, f, 12, HONEST, 0);
    assert_int_equal(oa_meta_fetch_progress(f, &have, &total), info_len);
    assert_int_equal(have, 0);
    assert_int_equal(total, 3);
    assert_int_equal(sim_round(&s, f, 1000, 0), 3);
    /* Spread: one piece to each peer. */
    assert_int_equal(s.asked[0][0] + s.asked[1][1] + s.asked[2][2], 3);
    assert_int_equal(s.last_status, OA_META_DONE);
    assert_int_equal(oa_meta_fetch_take_bans(f, bans, 4), 0);
    assert_int_equal(oa_meta_fetch_suspects(f, NULL, 0), 0);
    oa_meta_fetch_progress(f, &have, &total);
    assert_int_equal(have, 3);
    expect_result(f, info, info_len);
    assert_int_equal(sim_round(&s, f, 2000, 0), 0); /* nothing more to ask */
    oa_meta_fetch_free(f);
    free(info);
}

/* One of three peers corrupts its piece: the first copy fails the hash,
 * the next one comes from a single peer, and the liar alone is banned. */
static void run_corrupt(int liar_index)
{
    size_t info_len;
    uint8_t *info = oa_test_make_info(2100, &info_len);
    oa_meta_fetch *f = new_fetch(info, info_len);
    uint64_t suspects[4];
    oa_meta_ban bans[4];
    uint64_t now = 1000;
    int rounds = 0;
    sim s;

    memset(&s, 0, sizeof(s));
    s.info = info;
    s.info_len = info_len;
    sim_add(&s, f, 20, liar_index == 0 ? LIAR : HONEST, 0);
    sim_add(&s, f, 21, liar_index == 1 ? LIAR : HONEST, 1);
    sim_add(&s, f, 22, liar_index == 2 ? LIAR : HONEST, 2);
    assert_int_equal(sim_round(&s, f, now, 0), 3);
    assert_int_equal(s.last_status, OA_META_HASH_FAILED);
    assert_int_equal(s.hash_failures, 1);
    /* Three senders: all suspects, none banned yet. */
    assert_int_equal(oa_meta_fetch_suspects(f, suspects, 4), 3);
    assert_int_equal(oa_meta_fetch_take_bans(f, bans, 4), 0);
    while (s.last_status != OA_META_DONE && rounds++ < 10) {
        now += 1000;
        sim_round(&s, f, now, 0);
    }
    assert_int_equal(s.last_status, OA_META_DONE);
    assert_int_equal(oa_meta_fetch_take_bans(f, bans, 4), 1);
    assert_int_equal(bans[0].peer, 20 + (uint64_t)liar_index);
    assert_non_null(bans[0].why);
    /* The liar proves itself when it is the single source; otherwise its
     * piece differs from the verified one. */
    assert_string_equal(bans[0].why,
                        liar_index == 0 ? "sent metadata that does not match the info-hash"
                                        : "sent a metadata piece that differs from the verified one");
    assert_int_equal(s.hash_failures, liar_index == 0 ? 2 : 1);
    expect_result(f, info, info_len);
    assert_int_equal(oa_meta_fetch_peer(f, 20 + (uint64_t)liar_index, info_len), OA_EACCES);
    oa_meta_fetch_free(f);
    free(info);
}

static void test_fetch_corrupt_piece(void **state)
{
    (void)state;
    run_corrupt(2);
    run_corrupt(0);
    run_corrupt(1);
}

/* One peer sends the whole copy: the mismatch proves it lied. */
static void test_fetch_single_liar(void **state)
{
    size_t info_len;
    uint8_t *info = oa_test_make_info(100, &info_len); /* one metadata piece */
    oa_meta_fetch *f = new_fetch(info, info_len);
    oa_meta_ban bans[2];
    sim s;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.info = info;
    s.info_len = info_len;
    sim_add(&s, f, 1, LIAR, -1);
    assert_int_equal(sim_round(&s, f, 5, 0), 1);
    assert_int_equal(s.last_status, OA_META_HASH_FAILED);
    assert_int_equal(oa_meta_fetch_take_bans(f, bans, 2), 1);
    assert_int_equal(bans[0].peer, 1);
    assert_int_equal(sim_round(&s, f, 6, 0), 0); /* nobody left to ask */
    sim_add(&s, f, 2, HONEST, 0);
    assert_int_equal(sim_round(&s, f, 7, 0), 1);
    assert_int_equal(s.last_status, OA_META_DONE);
    expect_result(f, info, info_len);
    oa_meta_fetch_free(f);
    free(info);
}

/* A reject puts the piece back and rests the peer for the backoff. */
static void test_fetch_reject(void **state)
{
    size_t info_len;
    uint8_t *info = oa_test_make_info(2100, &info_len);
    oa_meta_fetch_config cfg = {5000, 20000, 2};
    oa_meta_fetch *f = NULL;
    oa_meta_request r;
    oa_meta_msg rej;
    uint8_t ih[20];
    sim s;

    (void)state;
    sha1(info, info_len, ih);
    assert_int_equal(oa_meta_fetch_new(ih, &cfg, &f), 0);
    memset(&s, 0, sizeof(s));
    s.info = info;
    s.info_len = info_len;
    sim_add(&s, f, 1, REJECTER, 0);
    /* Alone: asked twice (max_per_peer), rejects both, then rests. */
    assert_int_equal(sim_round(&s, f, 1000, 0), 2);
    assert_int_equal(oa_meta_fetch_next(f, 1000, &r), 0);
    assert_int_equal(oa_meta_fetch_next(f, 20999, &r), 0);
    assert_int_equal(oa_meta_fetch_next(f, 21000, &r), 1);
    assert_int_equal(r.peer, 1);
    assert_int_equal(r.piece, 0);
    /* A reject of a piece not asked of it is ignored. */
    assert_int_equal(oa_meta_fetch_on_reject(f, 1, 2, 21000), OA_ESTATE);
    assert_int_equal(oa_meta_fetch_on_reject(f, 9, 0, 21000), OA_ENOENT);
    assert_int_equal(oa_meta_fetch_on_reject(f, 1, 0, 21000), 0);
    /* Another peer arrives and gets everything, the rejecter nothing. */
    sim_add(&s, f, 2, HONEST, 0);
    memset(s.asked, 0, sizeof(s.asked));
    assert_int_equal(sim_round(&s, f, 22000, 0), 2);
    assert_int_equal(sim_round(&s, f, 22001, 0), 1);
    assert_int_equal(s.last_status, OA_META_DONE);
    assert_int_equal(s.asked[0][0] + s.asked[0][1] + s.asked[0][2], 0);
    expect_result(f, info, info_len);
    /* Once done, data and rejects change nothing. */
    memset(&rej, 0, sizeof(rej));
    rej.type = OA_META_DATA;
    assert_int_equal(oa_meta_fetch_on_data(f, 2, &rej), OA_META_DONE);
    assert_int_equal(oa_meta_fetch_on_reject(f, 2, 0, 22002), OA_ESTATE);
    oa_meta_fetch_free(f);
    free(info);
}

/* A silent peer's requests time out and go to another; its late answer
 * is still welcome while the piece is missing. */
static void test_fetch_timeout(void **state)
{
    size_t info_len;
    uint8_t *info = oa_test_make_info(2100, &info_len);
    oa_meta_fetch_config cfg = {10000, 30000, 2};
    oa_meta_fetch *f = NULL;
    oa_meta_request r[4];
    oa_meta_msg m;
    uint8_t ih[20];
    uint8_t *out = NULL;
    size_t len;
    char err[200];
    oa_meta_msg q = {OA_META_REQUEST, 0, 0, NULL, 0};

    (void)state;
    sha1(info, info_len, ih);
    assert_int_equal(oa_meta_fetch_new(ih, &cfg, &f), 0);
    assert_int_equal(oa_meta_fetch_peer(f, 1, info_len), 0);
    assert_int_equal(oa_meta_fetch_peer(f, 2, info_len), 0);
    assert_int_equal(oa_meta_fetch_next(f, 0, &r[0]), 1);
    assert_int_equal(oa_meta_fetch_next(f, 0, &r[1]), 1);
    assert_int_equal(oa_meta_fetch_next(f, 0, &r[2]), 1);
    assert_int_equal(oa_meta_fetch_next(f, 0, &r[3]), 0); /* every piece asked */
    assert_int_equal(r[0].peer, 1);
    assert_int_equal(r[1].peer, 2);
    assert_int_equal(r[2].peer, 1); /* peer 2's turn came later */
    assert_int_equal(oa_meta_fetch_expire(f, 9999), 0);
    assert_int_equal(oa_meta_fetch_next(f, 9999, &r[3]), 0);
    /* At the timeout all three come back; peer 1 rests, peer 2 too. */
    assert_int_equal(oa_meta_fetch_expire(f, 10000), 3);
    assert_int_equal(oa_meta_fetch_next(f, 10000, &r[3]), 0);
    assert_int_equal(oa_meta_fetch_next(f, 40000, &r[0]), 1);
    assert_int_equal(r[0].piece, 0);
    /* Peer 2's late answer for piece 0 (asked of peer 1 now) is taken. */
    q.piece = 0;
    assert_int_equal(oa_meta_serve(NULL, info, info_len, &q, &out, &len), OA_META_DATA);
    assert_int_equal(oa_meta_decode(out, len, &m, err, sizeof(err)), 0);
    assert_int_equal(oa_meta_fetch_on_data(f, 2, &m), OA_META_PENDING);
    /* And peer 1's answer for it is then a duplicate, ignored. */
    assert_int_equal(oa_meta_fetch_on_data(f, 1, &m), OA_META_PENDING);
    free(out);
    {
        uint32_t have = 0;

        oa_meta_fetch_progress(f, &have, NULL);
        assert_int_equal(have, 1);
    }
    oa_meta_fetch_free(f);
    free(info);
}

/* A wrong total_size or piece length is a protocol error: banned at once. */
static void test_fetch_protocol_errors(void **state)
{
    size_t info_len;
    uint8_t *info = oa_test_make_info(2100, &info_len);
    oa_meta_fetch *f = new_fetch(info, info_len);
    oa_meta_request r;
    oa_meta_ban bans[4];
    oa_meta_msg m;

    (void)state;
    assert_int_equal(oa_meta_fetch_peer(f, 1, info_len), 0);
    assert_int_equal(oa_meta_fetch_peer(f, 2, info_len), 0);
    assert_int_equal(oa_meta_fetch_next(f, 0, &r), 1);
    memset(&m, 0, sizeof(m));
    m.type = OA_META_DATA;
    m.piece = 0;
    m.total_size = info_len + 1;
    m.data = info;
    m.size = OA_META_PIECE_LEN;
    assert_int_equal(oa_meta_fetch_on_data(f, 1, &m), OA_EPROTO);
    m.total_size = info_len;
    m.size = 100;
    assert_int_equal(oa_meta_fetch_on_data(f, 2, &m), OA_EPROTO);
    assert_int_equal(oa_meta_fetch_take_bans(f, bans, 1), 1);
    assert_int_equal(bans[0].peer, 1);
    assert_string_equal(bans[0].why, "sent a total_size other than its handshake's metadata_size");
    assert_int_equal(oa_meta_fetch_take_bans(f, bans, 4), 1);
    assert_int_equal(bans[0].peer, 2);
    assert_string_equal(bans[0].why, "sent a metadata piece of the wrong length");
    assert_int_equal(oa_meta_fetch_on_data(f, 1, &m), OA_EACCES);
    assert_int_equal(oa_meta_fetch_on_data(f, 3, &m), OA_ENOENT);
    m.type = OA_META_REJECT;
    assert_int_equal(oa_meta_fetch_on_data(f, 1, &m), OA_EINVAL);
    assert_int_equal(oa_meta_fetch_next(f, 3, &r), 0);
    assert_int_equal(oa_meta_fetch_peer(f, 3, OA_EXT_MAX_METADATA_SIZE + 1), OA_ERANGE);
    /* A banned peer that leaves stays banned. */
    oa_meta_fetch_peer_gone(f, 1);
    assert_int_equal(oa_meta_fetch_peer(f, 1, info_len), OA_EACCES);
    oa_meta_fetch_free(f);
    free(info);
}

/* Peers that disagree on the size: the first size is fetched; the other
 * only once no peer of the first is left. */
static void test_fetch_sizes_disagree(void **state)
{
    size_t info_len;
    uint8_t *info = oa_test_make_info(2100, &info_len);
    oa_meta_fetch *f = new_fetch(info, info_len);
    oa_meta_request r;
    oa_meta_ban bans[4];
    sim s;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.info = info;
    s.info_len = info_len;
    assert_int_equal(oa_meta_fetch_progress(f, NULL, NULL), 0);
    assert_int_equal(oa_meta_fetch_next(f, 0, &r), 0); /* no size known */
    assert_int_equal(oa_meta_fetch_peer(f, 7, 0), 0);   /* no metadata: not asked */
    assert_int_equal(oa_meta_fetch_next(f, 0, &r), 0);
    assert_int_equal(oa_meta_fetch_peer(f, 1, info_len), 0);
    assert_int_equal(oa_meta_fetch_peer(f, 2, 50000), 0);
    assert_int_equal(oa_meta_fetch_peer(f, 3, 50000), 0);
    assert_int_equal(oa_meta_fetch_progress(f, NULL, NULL), info_len);
    assert_int_equal(oa_meta_fetch_next(f, 0, &r), 1);
    assert_int_equal(r.peer, 1);
    assert_int_equal(oa_meta_fetch_next(f, 0, &r), 1);
    assert_int_equal(r.peer, 1);
    assert_int_equal(oa_meta_fetch_next(f, 0, &r), 0); /* 2 and 3 are not asked */
    /* Peer 1 leaves: most of the rest say 50000. */
    oa_meta_fetch_peer_gone(f, 1);
    assert_int_equal(oa_meta_fetch_progress(f, NULL, NULL), 50000);
    assert_int_equal(oa_meta_fetch_next(f, 0, &r), 1);
    assert_true(r.peer == 2 || r.peer == 3);
    /* Both are banned for a wrong-size answer: the fetch has nobody left;
     * a peer with the true size starts it over and finishes. */
    oa_meta_fetch_peer_gone(f, 2);
    oa_meta_fetch_peer_gone(f, 3);
    assert_int_equal(oa_meta_fetch_next(f, 0, &r), 0);
    sim_add(&s, f, 4, HONEST, 0);
    assert_int_equal(oa_meta_fetch_progress(f, NULL, NULL), info_len);
    /* A peer that changes its size mid-fetch loses its requests. */
    assert_int_equal(oa_meta_fetch_next(f, 0, &r), 1);
    assert_int_equal(oa_meta_fetch_peer(f, 4, 50000), 0);
    assert_int_equal(oa_meta_fetch_progress(f, NULL, NULL), 50000);
    assert_int_equal(oa_meta_fetch_peer(f, 4, info_len), 0);
    while (s.last_status != OA_META_DONE) {
        assert_true(sim_round(&s, f, 1, 0) > 0);
    }
    assert_int_equal(oa_meta_fetch_take_bans(f, bans, 4), 0);
    expect_result(f, info, info_len);
    oa_meta_fetch_free(f);
    free(info);
}

/* Metadata that matches the info-hash but is no info dictionary: the
 * torrent itself is bad; the reason comes from the metainfo parser. */
static void test_fetch_bad_info(void **state)
{
    static const uint8_t bogus[] = "d3:fooi1ee";
    oa_meta_fetch *f = new_fetch(bogus, sizeof(bogus) - 1);
    oa_meta_msg m = {OA_META_DATA, 0, sizeof(bogus) - 1, bogus, sizeof(bogus) - 1};
    oa_metainfo *mi = (oa_metainfo *)&m;
    oa_meta_request r;
    char err[256];

    (void)state;
    assert_int_equal(oa_meta_fetch_result(f, &mi, err, sizeof(err)), OA_ESTATE);
    assert_int_equal(oa_meta_fetch_peer(f, 1, sizeof(bogus) - 1), 0);
    assert_int_equal(oa_meta_fetch_next(f, 0, &r), 1);
    assert_int_equal(oa_meta_fetch_on_data(f, 1, &m), OA_META_DONE);
    assert_int_equal(oa_meta_fetch_result(f, &mi, err, sizeof(err)), OA_EPROTO);
    assert_null(mi);
    assert_true(strncmp(err, "metainfo: ", 10) == 0);
    oa_meta_fetch_free(f);
}

/* Random swarms: honest peers, liars, rejecters and silent peers, peers
 * that leave and come back. Whatever happens, an honest peer is never
 * banned, and with one honest peer around the fetch completes. */
static void test_fetch_random_swarms(void **state)
{
    size_t info_len;
    uint8_t *info = oa_test_make_info(4000, &info_len); /* 5 metadata pieces */
    size_t swarm;
    size_t liars_banned = 0;

    (void)state;
    oa_test_rng_seed(0x5EED5EEDULL);
    for (swarm = 0; swarm < 300; swarm++) {
        oa_meta_fetch_config cfg = {3000, 5000, (unsigned)(1 + oa_test_rng_below(3))};
        oa_meta_fetch *f = NULL;
        oa_meta_ban bans[MAX_SIM];
        uint8_t ih[20];
        uint64_t now = 0;
        size_t npeers = 2 + oa_test_rng_below(MAX_SIM - 1);
        size_t honest = oa_test_rng_below(npeers);
        size_t i;
        size_t k;
        int steps = 0;
        sim s;

        sha1(info, info_len, ih);
        assert_int_equal(oa_meta_fetch_new(ih, &cfg, &f), 0);
        memset(&s, 0, sizeof(s));
        s.info = info;
        s.info_len = info_len;
        for (i = 0; i < npeers; i++) {
            int kind = i == honest ? HONEST : (int)oa_test_rng_below(4);

            sim_add(&s, f, 100 + i, kind, kind == LIAR ? (int)oa_test_rng_below(6) - 1 : 0);
        }
        while (s.last_status != OA_META_DONE && steps++ < 2000) {
            now += 1000;
            sim_round(&s, f, now, 1);
            /* Now and then a peer that is not the honest one leaves or
             * comes back. */
            k = oa_test_rng_below(npeers * 8);
            if (k < npeers && k != honest) {
                if (s.peers[k].present) {
                    oa_meta_fetch_peer_gone(f, s.peers[k].id);
                    s.peers[k].present = 0;
                } else {
                    int rc = oa_meta_fetch_peer(f, s.peers[k].id, s.peers[k].size);

                    assert_true(rc == 0 || rc == OA_EACCES);
                    s.peers[k].present = 1;
                }
            }
        }
        assert_int_equal(s.last_status, OA_META_DONE);
        k = oa_meta_fetch_take_bans(f, bans, MAX_SIM);
        for (i = 0; i < k; i++) {
            sim_peer *p = sim_find(&s, bans[i].peer);

            if (p->kind != LIAR) {
                fail_msg("swarm %zu: %s peer %llu banned: %s", swarm,
                         p->kind == HONEST ? "honest" : "non-lying",
                         (unsigned long long)p->id, bans[i].why);
            }
            liars_banned++;
        }
        expect_result(f, info, info_len);
        oa_meta_fetch_free(f);
    }
    assert_true(liars_banned > 50); /* the liars were caught, not just survived */
    free(info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetch_three_peers),
        cmocka_unit_test(test_fetch_corrupt_piece),
        cmocka_unit_test(test_fetch_single_liar),
        cmocka_unit_test(test_fetch_reject),
        cmocka_unit_test(test_fetch_timeout),
        cmocka_unit_test(test_fetch_protocol_errors),
        cmocka_unit_test(test_fetch_sizes_disagree),
        cmocka_unit_test(test_fetch_bad_info),
        cmocka_unit_test(test_fetch_random_swarms),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * One peer connection of the swarm engine (engine.h, "one connection"):
 * connect and accept over the transport service, the handshake, the peer
 * wire with BEP 6 (fast), BEP 10 (extended), BEP 9 (ut_metadata) and
 * BEP 11 (ut_pex), request pipelining, serving blocks, keep-alives,
 * timeouts and protocol violations. peer.c has the connection's lifetime,
 * writing, the handshake and our first messages, the transport callbacks,
 * closing, connect and accept, PEX and the tick; peer_msg.c the messages
 * it sends us, request lists, serving blocks and the calls torrent.c
 * makes; peer_int.h what they share.
 *
 * Lifetime and re-entrancy. A peer is freed by peer_finish(), reached from
 * oa_peer_close(), the transport's close callback or a failed connect.
 * Calls into the torrent (attach, block_in, block_wanted, meta_data, ...)
 * may close the very peer that is calling, so every entry from the loop
 * (read, write, connect and close callbacks, the tick) holds the peer with
 * peer_enter()/peer_leave(): a close while it is held does everything but
 * the free, which happens when the outermost holder leaves. Functions that
 * torrent.c calls never close the peer themselves: a failure there (a write
 * refused, a bitfield that does not fit the metadata) is recorded with
 * peer_fail() and the peer is closed on its next read or tick.
 *
 * Outbound peers wait on e->unattached like inbound ones until their
 * handshake, with p->t naming the torrent they connect for and counted in
 * its t->connecting until they attach or close; removing the torrent closes
 * them, so p->t never outlives it. Inbound peers have p->t NULL until
 * their handshake names a torrent.
 */
#include "peer_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEER_EXT (OA_WIRE_EXT_EXTENDED | OA_WIRE_EXT_FAST)
#define PEER_KEEPALIVE_MS 90000u
#define PEER_PEX_CHECK_MS 5000u       /* how often a PEX message is considered */

/* The peer and its private state in one allocation. */
typedef struct peer_block {
    oa_peer p;
    peer_priv pv;
} peer_block;

static void on_written(void *arg, oa_conn *conn, int status);
static void peer_finish(oa_peer *p, const char *why, int ban, int conn_gone);

/* ---- lifetime ------------------------------------------------------------ */

static void peer_enter(oa_peer *p)
{
    PV(p)->busy++;
}

static void peer_free(oa_peer *p)
{
    peer_priv *pv = PV(p);
    oa_wire_decoder_free(&p->dec);
    oa_pex_tracker_free(&p->pex);
    free(p->early_bits);
    free(p->early_haves);
    oa_bitfield_free(&pv->bf);
    for (size_t i = 0; i < pv->n_in; i++) {
        free(pv->in[i].data);
    }
    free(pv->in);
    free(pv->out);
    free(p);
}

/* Returns 1 while the peer lives on; 0 when it closed and is now freed (or
 * will be by an outer holder): the caller must not touch it then. */
static int peer_leave(oa_peer *p)
{
    peer_priv *pv = PV(p);
    pv->busy--;
    if (p->closing) {
        if (pv->busy == 0) {
            peer_free(p);
        }
        return 0;
    }
    return 1;
}

/* Records a failure to close on the next read or tick (see the top). */
void peer_fail(oa_peer *p, const char *why, int ban)
{
    peer_priv *pv = PV(p);
    if (pv->failed) {
        return;
    }
    pv->failed = 1;
    pv->fail_ban = ban;
    snprintf(pv->fail_why, sizeof(pv->fail_why), "%s", why);
}

int peer_live(const oa_peer *p)
{
    return !p->closing && !PV(p)->failed && p->conn != NULL && !PV(p)->connecting;
}

int peer_attached(const oa_peer *p)
{
    return !p->closing && PV(p)->where == WHERE_ATTACHED && p->t != NULL;
}

/* An outbound peer stops counting as a connect under way for its torrent
 * (it attaches or closes). */
static void connect_uncount(oa_peer *p)
{
    peer_priv *pv = PV(p);
    if (pv->counted) {
        pv->counted = 0;
        if (p->t != NULL && p->t->connecting > 0) {
            p->t->connecting--;
        }
    }
}

static void unattached_link(oa_peer *p)
{
    oa_engine *e = p->e;
    p->tnext = e->unattached;
    e->unattached = p;
    PV(p)->where = WHERE_UNATTACHED;
}

static void unattached_unlink(oa_peer *p)
{
    oa_engine *e = p->e;
    for (oa_peer **pp = &e->unattached; *pp != NULL; pp = &(*pp)->tnext) {
        if (*pp == p) {
            *pp = p->tnext;
            break;
        }
    }
    p->tnext = NULL;
    PV(p)->where = WHERE_NONE;
}

static oa_peer *peer_new(oa_engine *e, const char *addr, int outbound)
{
    peer_block *b = calloc(1, sizeof(*b));
    oa_peer *p;
    if (b == NULL) {
        return NULL;
    }
    p = &b->p;
    p->priv = &b->pv;
    if (oa_wire_decoder_init(&p->dec, NULL, OA_WIRE_DECODE_HANDSHAKE) != 0) {
        free(b);
        return NULL;
    }
    p->e = e;
    p->id = ++e->next_id;
    snprintf(p->addr, sizeof(p->addr), "%s", addr);
    p->outbound = outbound;
    oa_ext_peer_init(&p->extp);
    oa_pex_tracker_init(&p->pex);
    oa_ext_local_init(&b->pv.local);
    p->am_choking = 1;
    p->peer_choking = 1;
    p->connected_ms = oa_engine_now(e);
    p->last_recv_ms = p->connected_ms;
    p->last_send_ms = p->connected_ms;
    b->pv.last_tick_ms = p->connected_ms;
    e->peer_count++;
    return p;
}

/* ---- writing --------------------------------------------------------------- */

int peer_write(oa_peer *p, const void *data, size_t len)
{
    int rc;
    if (!peer_live(p)) {
        return OA_ESTATE;
    }
    rc = p->e->tp->write(p->conn, data, len, on_written, p);
    if (rc != 0) {
        char why[96];
        snprintf(why, sizeof(why), "writing to the connection failed (error %d)", rc);
        peer_fail(p, why, 0);
        return rc;
    }
    p->last_send_ms = oa_engine_now(p->e);
    return 0;
}

int peer_send_buf(oa_peer *p, oa_wire_buf *b)
{
    int rc = 0;
    if (b->len > 0) {
        rc = peer_write(p, b->data, b->len);
    }
    oa_wire_buf_free(b);
    return rc;
}

static int peer_send(oa_peer *p, const oa_wire_msg *msg)
{
    uint8_t small[32];
    size_t n = 0;
    oa_wire_buf b;
    if (!peer_live(p)) {
        return OA_ESTATE;
    }
    if (oa_wire_encode(msg, small, sizeof(small), &n) == 0) {
        return peer_write(p, small, n);
    }
    oa_wire_buf_init(&b);
    if (oa_wire_buf_put(&b, msg) != 0) {
        oa_wire_buf_free(&b);
        peer_fail(p, "out of memory encoding a message", 0);
        return OA_ENOMEM;
    }
    return peer_send_buf(p, &b);
}

/* A message of the kinds that carry at most index, begin and length. */
static oa_wire_msg simple_msg(oa_wire_kind kind, uint32_t index, uint32_t begin, uint32_t length)
{
    oa_wire_msg m;
    memset(&m, 0, sizeof(m));
    m.kind = kind;
    m.index = index;
    m.begin = begin;
    m.length = length;
    return m;
}

void peer_send_simple(oa_peer *p, oa_wire_kind kind, uint32_t index, uint32_t begin,
                      uint32_t length)
{
    oa_wire_msg m = simple_msg(kind, index, begin, length);
    peer_send(p, &m);
}

void peer_send_extended(oa_peer *p, uint8_t ext_id, const uint8_t *data, size_t size)
{
    oa_wire_msg m;
    memset(&m, 0, sizeof(m));
    m.kind = OA_WIRE_EXTENDED;
    m.ext_id = ext_id;
    m.data = data;
    m.size = size;
    peer_send(p, &m);
}

int peer_buf_put_simple(oa_wire_buf *b, oa_wire_kind kind, uint32_t index, uint32_t begin,
                        uint32_t length)
{
    oa_wire_msg m = simple_msg(kind, index, begin, length);
    return oa_wire_buf_put(b, &m);
}

/* ---- our side of the introduction ---------------------------------------------- */

static int pex_allowed(const oa_peer *p)
{
    return p->e->cfg.pex && p->t != NULL && !(p->t->mi != NULL && p->t->mi->is_private);
}

/* Our BEP 10 handshake (when negotiated) and what we have, in one write,
 * after our BitTorrent handshake when hs is not NULL. */
static void send_intro(oa_peer *p, const oa_wire_handshake *hs)
{
    peer_priv *pv = PV(p);
    oa_engine *e = p->e;
    oa_torrent *t = p->t;
    oa_wire_buf b;
    int fast = (p->ext & OA_WIRE_EXT_FAST) != 0;
    int rc = 0;

    oa_wire_buf_init(&b);
    if (hs != NULL) {
        /* the handshake is not a length-prefixed message: its raw bytes go
         * first into the buffer, which grows with realloc */
        b.data = malloc(1024);
        if (b.data == NULL) {
            peer_fail(p, "out of memory for the handshake", 0);
            return;
        }
        b.cap = 1024;
        oa_wire_handshake_encode(hs, b.data);
        b.len = OA_WIRE_HANDSHAKE_LEN;
        p->handshake_sent = 1;
    }

    oa_ext_local_init(&pv->local);
    pv->local.port = e->cfg.port;
    pv->local.reqq = e->cfg.max_requests;
    pv->local.metadata_size = 0;
    if (t->mi != NULL && t->mi->info != NULL && t->mi->info_len <= OA_EXT_MAX_METADATA_SIZE) {
        pv->local.metadata_size = t->mi->info_len;
    }
    if (!pex_allowed(p)) {
        pv->local.enabled &= ~OA_EXT_BIT(OA_EXT_UT_PEX);
    }
    if (t->live != NULL) {
        /* live (issue 7): oa_live on, and ut_metadata serves the descriptor */
        const uint8_t *desc = NULL;
        size_t dlen = 0;
        pv->local.enabled |= OA_EXT_BIT(OA_EXT_OA_LIVE);
        if (oa_live_descriptor(t, &desc, &dlen) == 0) {
            pv->local.metadata_size = dlen;
        }
    }
    if (t->mi != NULL && t->mi->is_private) {
        p->meta_srv.refuse = 1; /* BEP 27: the metadata stays with its tracker */
    }
    if (p->ext & OA_WIRE_EXT_EXTENDED) {
        uint8_t *payload = NULL;
        size_t plen = 0;
        rc = oa_ext_handshake_build(&pv->local, &payload, &plen);
        if (rc == 0) {
            oa_wire_msg m;
            memset(&m, 0, sizeof(m));
            m.kind = OA_WIRE_EXTENDED;
            m.ext_id = 0;
            m.data = payload;
            m.size = plen;
            rc = oa_wire_buf_put(&b, &m);
            free(payload);
        }
    }

    if (rc == 0 && t->mi != NULL) {
        uint32_t count = (uint32_t)t->mi->piece_count;
        uint32_t have = t->have.count == count ? oa_bitfield_count(&t->have) : 0;
        if (fast && have == count) {
            rc = peer_buf_put_simple(&b, OA_WIRE_HAVE_ALL, 0, 0, 0);
        } else if (fast && have == 0) {
            rc = peer_buf_put_simple(&b, OA_WIRE_HAVE_NONE, 0, 0, 0);
        } else if (have > 0) {
            oa_wire_msg m;
            memset(&m, 0, sizeof(m));
            m.kind = OA_WIRE_BITFIELD;
            m.data = t->have.bits;
            m.size = oa_bitfield_bytes(count);
            rc = oa_wire_buf_put(&b, &m);
        }
    } else if (rc == 0 && fast) {
        rc = peer_buf_put_simple(&b, OA_WIRE_HAVE_NONE, 0, 0, 0);
    }
    if (rc != 0) {
        oa_wire_buf_free(&b);
        peer_fail(p, "cannot encode our first messages", 0);
        return;
    }
    peer_send_buf(p, &b);
    pv->intro_sent = 1;
}

/* ---- messages ------------------------------------------------------------------- */

static void pex_to_addr(const oa_pex_peer *pp, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    if (pp->v6) {
        inet_ntop(AF_INET6, pp->ip, ip, sizeof(ip));
        snprintf(out, len, "[%s]:%u", ip, (unsigned)pp->port);
    } else {
        inet_ntop(AF_INET, pp->ip, ip, sizeof(ip));
        snprintf(out, len, "%s:%u", ip, (unsigned)pp->port);
    }
}

/* Parses "ip:port" or "[v6]:port"; 0 or OA_EINVAL. */
static int addr_to_pex(const char *addr, uint16_t port_override, uint8_t flags, oa_pex_peer *out)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon;
    const char *h = addr;
    size_t hl;
    unsigned long port;
    uint8_t ip[16];
    char *end;

    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':') {
            return OA_EINVAL;
        }
        h = addr + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL) {
            return OA_EINVAL;
        }
        hl = (size_t)(colon - addr);
    }
    if (hl == 0 || hl >= sizeof(host)) {
        return OA_EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port == 0 || port > 65535) {
        return OA_EINVAL;
    }
    if (port_override != 0) {
        port = port_override;
    }
    if (inet_pton(AF_INET, host, ip) == 1) {
        return oa_pex_peer_set(out, ip, 4, (uint16_t)port, flags);
    }
    if (inet_pton(AF_INET6, host, ip) == 1) {
        return oa_pex_peer_set(out, ip, 16, (uint16_t)port, flags);
    }
    return OA_EINVAL;
}

void peer_on_pex(oa_peer *p, const uint8_t *data, size_t size)
{
    oa_pex_msg *msg;
    char err[128];
    char addrs[OA_PEX_MAX_ADDED][OA_ADDR_MAX];
    const char *list[OA_PEX_MAX_ADDED];
    size_t n = 0;

    if (!pex_allowed(p) || oa_pex_tracker_received(&p->pex, oa_engine_now(p->e)) != 0) {
        return;
    }
    msg = malloc(sizeof(*msg));
    if (msg == NULL) {
        return;
    }
    if (oa_pex_decode(data, size, msg, err, sizeof(err)) != 0) {
        OA_LOG(p->e, OA_LOG_DEBUG, "peer %s: ignoring a ut_pex message: %s", p->addr, err);
        free(msg);
        return;
    }
    for (size_t i = 0; i < msg->added_count && n < OA_PEX_MAX_ADDED; i++) {
        pex_to_addr(&msg->added[i], addrs[n], sizeof(addrs[n]));
        list[n] = addrs[n];
        n++;
    }
    free(msg);
    if (n > 0) {
        oa_torrent_add_candidates(p->t, list, n);
    }
}

/* ---- the handshake ---------------------------------------------------------------- */

static void client_from_peer_id(const uint8_t id[20], char *out, size_t len)
{
    /* Azureus style: "-XX1234-" */
    out[0] = '\0';
    if (len < 9 || id[0] != '-' || id[7] != '-') {
        return;
    }
    for (int i = 0; i < 8; i++) {
        if (id[i] < 0x20 || id[i] > 0x7e) {
            return;
        }
    }
    memcpy(out, id, 8);
    out[8] = '\0';
}

/* Another attached peer of t with this peer id, or NULL. */
static oa_peer *find_same_peer(oa_torrent *t, const oa_peer *p)
{
    for (oa_peer *q = t->peers; q != NULL; q = q->tnext) {
        if (q != p && !q->closing && memcmp(q->peer_id, p->peer_id, 20) == 0) {
            return q;
        }
    }
    return NULL;
}

/* Their handshake: find the torrent, answer (inbound), send our first
 * messages, attach. The peer may be closed on return. */
void peer_on_handshake(oa_peer *p, const oa_wire_handshake *hs)
{
    peer_priv *pv = PV(p);
    oa_engine *e = p->e;
    oa_torrent *t;
    oa_peer *dup;
    oa_wire_handshake ours;
    char a[96], c[64], client[16];
    int rc;

    if (memcmp(hs->peer_id, e->peer_id, 20) == 0) {
        oa_peer_close(p, "connected to ourselves", 0);
        return;
    }
    if (p->outbound && memcmp(hs->info_hash, pv->want_hash, 20) != 0) {
        oa_peer_close(p, "its handshake names another info-hash", 0);
        return;
    }
    t = oa_engine_find(e, hs->info_hash);
    if (t == NULL || t->closing || e->stopping) {
        oa_peer_close(p, "its handshake names content we do not have", 0);
        return;
    }
    memcpy(p->peer_id, hs->peer_id, 20);
    p->ext = PEER_EXT & oa_wire_handshake_extensions(hs);
    oa_wire_decoder_set_extensions(&p->dec, p->ext);
    p->handshake_done = 1;
    p->last_recv_ms = oa_engine_now(e);

    /* One connection per peer: both sides keep the one opened by the lower
     * peer id, so simultaneous connects do not end with none. */
    dup = find_same_peer(t, p);
    if (dup != NULL) {
        const uint8_t *mine = p->outbound ? e->peer_id : p->peer_id;
        const uint8_t *theirs = dup->outbound ? e->peer_id : dup->peer_id;
        if (p->outbound == dup->outbound || memcmp(mine, theirs, 20) > 0) {
            oa_peer_close(p, "already connected to this peer", 0);
            return;
        }
        oa_peer_close(dup, "replaced by another connection with the same peer", 0);
    }

    unattached_unlink(p);
    connect_uncount(p);
    p->t = t;
    if (peer_pieces_known(p) != 0) {
        peer_finish(p, pv->fail_why, pv->fail_ban, 0);
        return;
    }
    if (!p->outbound) {
        oa_wire_handshake_init(&ours, t->info_hash, e->peer_id, PEER_EXT);
        send_intro(p, &ours);
    } else {
        send_intro(p, NULL);
    }
    if (pv->failed) {
        peer_finish(p, pv->fail_why, pv->fail_ban, 0);
        return;
    }

    pv->where = WHERE_ATTACHED;
    rc = oa_torrent_peer_attach(t, p);
    if (p->closing) {
        return;
    }
    if (rc != 0) {
        pv->where = WHERE_NONE;
        oa_peer_close(p, rc == OA_EAGAIN ? "the content has its most peers" :
                                           "the content is closing", 0);
        return;
    }
    client_from_peer_id(p->peer_id, client, sizeof(client));
    oa_engine_event(e, "swarm.peer.connected",
                    "{\"infohash\":\"%s\",\"addr\":%s,\"client\":%s,\"outbound\":%s}", t->hex,
                    oa_json_str(p->addr, a, sizeof(a)), oa_json_str(client, c, sizeof(c)),
                    p->outbound ? "true" : "false");
    OA_LOG(e, OA_LOG_DEBUG, "peer %s: connected (%s, %s%s)", p->addr,
           p->outbound ? "outbound" : "inbound",
           (p->ext & OA_WIRE_EXT_FAST) ? "fast " : "",
           (p->ext & OA_WIRE_EXT_EXTENDED) ? "extended" : "");
    peer_picker_sync(p);
    peer_update_interest(p);
}

/* ---- transport callbacks -------------------------------------------------------------- */

static void on_read(void *arg, oa_conn *conn, const uint8_t *data, size_t len)
{
    oa_peer *p = arg;
    peer_priv *pv = PV(p);
    oa_engine *e = p->e;
    (void)conn;
    if (p->closing) {
        return;
    }
    peer_enter(p);
    p->last_recv_ms = oa_engine_now(e);
    while (len > 0 && !p->closing) {
        oa_wire_msg m;
        size_t used = 0;
        int rc;
        if (pv->failed) {
            break;
        }
        rc = oa_wire_decoder_next(&p->dec, data, len, &used, &m);
        data += used;
        len -= used;
        if (rc == 0) {
            break;
        }
        if (rc == OA_ENOMEM) {
            oa_peer_close(p, "out of memory reading from the peer", 0);
            break;
        }
        if (rc < 0) {
            char why[200];
            snprintf(why, sizeof(why), "protocol error: %s", oa_wire_decoder_error(&p->dec));
            /* A bad handshake is closed without a ban: clients such as
             * libtorrent first try an encrypted (MSE) handshake, which we
             * do not speak, then retry in plain text from the same
             * address. Only a peer that broke the protocol after a valid
             * handshake is banned. */
            oa_peer_close(p, why, p->handshake_done);
            break;
        }
        peer_on_message(p, &m);
    }
    if (!p->closing && pv->failed) {
        oa_peer_close(p, pv->fail_why, pv->fail_ban);
    }
    if (!p->closing && !pv->read_paused &&
        oa_rate_limit_available(&e->down_limit, oa_engine_now(e)) == 0) {
        pv->read_paused = 1;
        e->tp->read_stop(p->conn);
    }
    peer_leave(p);
}

static void on_close(void *arg, oa_conn *conn, int reason)
{
    oa_peer *p = arg;
    static const char *const why[] = {"closed locally", "the peer closed the connection",
                                      "connection error", "idle too long",
                                      "the transport is stopping"};
    (void)conn;
    if (p->closing) {
        return;
    }
    peer_enter(p);
    peer_finish(p, reason >= 0 && reason <= OA_CLOSE_SHUTDOWN ? why[reason] : "closed", 0, 1);
    peer_leave(p);
}

static void on_written(void *arg, oa_conn *conn, int status)
{
    oa_peer *p = arg;
    peer_priv *pv = PV(p);
    (void)conn;
    if (p->closing || status != 0 || pv->n_in == 0) {
        return;
    }
    peer_enter(p);
    peer_serve_ready(p, oa_engine_now(p->e));
    peer_pump(p);
    peer_leave(p);
}

static void on_connect(void *arg, oa_conn *conn, int status)
{
    oa_peer *p = arg;
    peer_priv *pv = PV(p);
    oa_engine *e = p->e;
    oa_wire_handshake hs;
    uint8_t buf[OA_WIRE_HANDSHAKE_LEN];
    int rc;

    if (p->closing) {
        return; /* our own close of a connect in progress */
    }
    pv->connecting = 0;
    peer_enter(p);
    if (status != 0) {
        char why[96];
        p->conn = NULL; /* already gone */
        snprintf(why, sizeof(why), "connect failed (error %d)", status);
        peer_finish(p, why, 0, 1);
        peer_leave(p);
        return;
    }
    p->conn = conn;
    p->connected_ms = oa_engine_now(e);
    p->last_recv_ms = p->connected_ms;
    e->tp->set_callbacks(conn, on_read, on_close, p);
    oa_wire_handshake_init(&hs, pv->want_hash, e->peer_id, PEER_EXT);
    oa_wire_handshake_encode(&hs, buf);
    rc = peer_write(p, buf, sizeof(buf));
    if (rc == 0) {
        p->handshake_sent = 1;
        rc = e->tp->read_start(conn);
    }
    if (rc != 0) {
        oa_peer_close(p, "cannot start the connection", 0);
    }
    peer_leave(p);
}

/* ---- closing -------------------------------------------------------------------------- */

/* Closes and frees (now, or when the outermost holder leaves). conn_gone:
 * the transport has closed the connection already. */
static void peer_finish(oa_peer *p, const char *why, int ban, int conn_gone)
{
    peer_priv *pv = PV(p);
    oa_engine *e = p->e;
    oa_conn *c;

    if (p->closing) {
        return;
    }
    p->closing = 1;
    connect_uncount(p);
    OA_LOG(e, OA_LOG_DEBUG, "peer %s: closing: %s", p->addr, why);
    if (ban) {
        oa_engine_ban(e, p->addr, why);
    }
    if (pv->where == WHERE_ATTACHED && p->t != NULL) {
        char a[96], r[160];
        oa_engine_event(e, "swarm.peer.disconnected",
                        "{\"infohash\":\"%s\",\"addr\":%s,\"reason\":%s}", p->t->hex,
                        oa_json_str(p->addr, a, sizeof(a)), oa_json_str(why, r, sizeof(r)));
        oa_torrent_peer_detach(p->t, p);
        p->pk = 0;
        pv->where = WHERE_NONE;
    } else if (pv->where == WHERE_UNATTACHED) {
        unattached_unlink(p);
    }
    c = p->conn;
    p->conn = NULL;
    if (c != NULL && !conn_gone) {
        e->tp->close(c); /* our callbacks see closing and return */
    }
    if (e->peer_count > 0) {
        e->peer_count--;
    }
    if (pv->busy == 0) {
        peer_free(p);
    }
}

void oa_peer_close(oa_peer *p, const char *why, int ban)
{
    if (p == NULL || p->closing) {
        return;
    }
    peer_finish(p, why != NULL ? why : "closed", ban, 0);
}

/* ---- connect and accept ----------------------------------------------------------------- */

void oa_peer_accept(oa_engine *e, oa_conn *conn)
{
    char addr[OA_ADDR_MAX];
    oa_peer *p;

    if (e->tp->remote_addr(conn, addr, sizeof(addr)) != 0) {
        snprintf(addr, sizeof(addr), "?");
    }
    if (e->stopping || oa_engine_banned(e, addr) ||
        e->peer_count >= e->cfg.max_connections) {
        OA_LOG(e, OA_LOG_DEBUG, "refusing %s: %s", addr,
               e->stopping ? "stopping" : e->peer_count >= e->cfg.max_connections ?
               "too many connections" : "banned");
        e->tp->close(conn);
        return;
    }
    p = peer_new(e, addr, 0);
    if (p == NULL) {
        e->tp->close(conn);
        return;
    }
    p->conn = conn;
    unattached_link(p);
    e->tp->set_callbacks(conn, on_read, on_close, p);
    if (e->tp->read_start(conn) != 0) {
        oa_peer_close(p, "cannot read from the connection", 0);
    }
}

int oa_peer_connect(oa_torrent *t, const char *addr)
{
    oa_engine *e;
    oa_peer *p;
    int rc;

    if (t == NULL || addr == NULL || addr[0] == '\0' || strlen(addr) >= OA_ADDR_MAX) {
        return OA_EINVAL;
    }
    e = t->e;
    if (t->closing || e->stopping) {
        return OA_ESTATE;
    }
    if (e->peer_count >= e->cfg.max_connections || t->peer_count >= e->cfg.max_peers) {
        return OA_EAGAIN;
    }
    if (oa_engine_banned(e, addr)) {
        return OA_EACCES;
    }
    for (oa_peer *q = t->peers; q != NULL; q = q->tnext) {
        if (!q->closing && strcmp(q->addr, addr) == 0) {
            return OA_EEXIST;
        }
    }
    for (oa_peer *q = e->unattached; q != NULL; q = q->tnext) {
        if (!q->closing && q->outbound && strcmp(q->addr, addr) == 0 &&
            memcmp(PV(q)->want_hash, t->info_hash, 20) == 0) {
            return OA_EEXIST;
        }
    }
    p = peer_new(e, addr, 1);
    if (p == NULL) {
        return OA_ENOMEM;
    }
    memcpy(PV(p)->want_hash, t->info_hash, 20);
    PV(p)->connecting = 1;
    unattached_link(p);
    p->t = t;
    PV(p)->counted = 1;
    t->connecting++;
    /* held, in case a transport calls back before connect returns */
    peer_enter(p);
    rc = e->tp->connect(e->tp->instance, addr, 0, on_connect, p, &p->conn);
    if (rc != 0) {
        /* no callback was called (transport.h) */
        connect_uncount(p);
        unattached_unlink(p);
        e->peer_count--;
        peer_free(p);
        return rc;
    }
    peer_leave(p);
    return 0;
}

/* ---- the tick ------------------------------------------------------------------------- */

static void tick_rates(oa_peer *p, uint64_t now)
{
    peer_priv *pv = PV(p);
    uint64_t dt = now > pv->last_tick_ms ? now - pv->last_tick_ms : 0;
    if (dt == 0) {
        return;
    }
    p->down_rate = (p->down_bytes - p->down_mark) * 1000 / dt;
    p->up_rate = (p->up_bytes - p->up_mark) * 1000 / dt;
    p->down_mark = p->down_bytes;
    p->up_mark = p->up_bytes;
    pv->last_tick_ms = now;
    if (peer_attached(p) && p->pk != 0 && p->t->picker != NULL) {
        oa_picker_peer_set_rate(p->t->picker, p->pk, p->down_rate);
    }
}

static void tick_request_timeouts(oa_peer *p, uint64_t now)
{
    peer_priv *pv = PV(p);
    uint64_t limit = p->e->cfg.request_timeout_ms;
    oa_wire_buf b;
    size_t i = 0;
    if (limit == 0 || pv->n_out == 0) {
        return;
    }
    oa_wire_buf_init(&b);
    while (i < pv->n_out) {
        peer_out o = pv->out[i];
        if (now - o.sent_ms < limit) {
            i++;
            continue;
        }
        if (p->pk != 0 && p->t->picker != NULL) {
            oa_picker_request_cancelled(p->t->picker, p->pk, o.piece, o.begin);
        }
        peer_buf_put_simple(&b, OA_WIRE_CANCEL, o.piece, o.begin, o.length);
        peer_out_remove(p, i);
    }
    peer_send_buf(p, &b);
}

static void tick_pex(oa_peer *p, uint64_t now)
{
    peer_priv *pv = PV(p);
    uint8_t their = oa_ext_peer_id(&p->extp, OA_EXT_UT_PEX);
    oa_pex_peer *peers;
    oa_pex_msg *msg;
    size_t n = 0;
    uint8_t *out = NULL;
    size_t len = 0;

    if (their == 0 || !pex_allowed(p) || !(pv->local.enabled & OA_EXT_BIT(OA_EXT_UT_PEX)) ||
        now - pv->pex_checked_ms < PEER_PEX_CHECK_MS) {
        return;
    }
    pv->pex_checked_ms = now; /* the tracker keeps OA_PEX_INTERVAL_MS between messages */
    peers = calloc(p->t->peer_count + 1, sizeof(*peers));
    msg = malloc(sizeof(*msg));
    if (peers == NULL || msg == NULL) {
        free(peers);
        free(msg);
        return;
    }
    for (oa_peer *q = p->t->peers; q != NULL && n <= p->t->peer_count; q = q->tnext) {
        uint8_t flags = 0;
        if (q == p || q->closing || !q->handshake_done) {
            continue;
        }
        if (!q->outbound && q->extp.port == 0) {
            continue; /* its listen port is unknown */
        }
        flags |= q->outbound ? OA_PEX_F_OUTGOING : 0;
        flags |= q->seed ? OA_PEX_F_SEED : 0;
        if (addr_to_pex(q->addr, q->outbound ? 0 : q->extp.port, flags, &peers[n]) == 0) {
            n++;
        }
    }
    if (oa_pex_tracker_next(&p->pex, peers, n, now, msg) == 1 &&
        oa_pex_encode(msg, &out, &len) == 0) {
        peer_send_extended(p, their, out, len);
        free(out);
    }
    free(peers);
    free(msg);
}

void oa_peer_tick(oa_peer *p, uint64_t now_ms)
{
    peer_priv *pv;
    oa_engine *e;
    char why[96];

    if (p == NULL || p->closing) {
        return;
    }
    pv = PV(p);
    e = p->e;
    peer_enter(p);
    if (pv->failed) {
        oa_peer_close(p, pv->fail_why, pv->fail_ban);
        peer_leave(p);
        return;
    }
    if (pv->connecting) {
        /* the transport times the connect out; this is a safety net */
        if (now_ms - p->connected_ms > 2 * e->cfg.handshake_timeout_ms + 60000) {
            oa_peer_close(p, "connect never finished", 0);
        }
        peer_leave(p);
        return;
    }
    if (!p->handshake_done && e->cfg.handshake_timeout_ms > 0 &&
        now_ms - p->connected_ms >= e->cfg.handshake_timeout_ms) {
        oa_peer_close(p, "no handshake in time", 0);
        peer_leave(p);
        return;
    }
    if (e->cfg.peer_timeout_ms > 0 && now_ms - p->last_recv_ms >= e->cfg.peer_timeout_ms) {
        snprintf(why, sizeof(why), "nothing received for %llu s",
                 (unsigned long long)((now_ms - p->last_recv_ms) / 1000));
        oa_peer_close(p, why, 0);
        peer_leave(p);
        return;
    }
    tick_rates(p, now_ms);
    if (peer_attached(p)) {
        if (now_ms - p->last_send_ms >= PEER_KEEPALIVE_MS) {
            peer_send_simple(p, OA_WIRE_KEEPALIVE, 0, 0, 0);
        }
        tick_request_timeouts(p, now_ms);
        tick_pex(p, now_ms);
        peer_serve_ready(p, now_ms);
        peer_pump(p);
    }
    if (!p->closing && pv->read_paused && p->conn != NULL &&
        oa_rate_limit_available(&e->down_limit, now_ms) > 0) {
        pv->read_paused = 0;
        e->tp->read_start(p->conn);
    }
    if (!p->closing && peer_attached(p)) {
        peer_fill(p);
    }
    if (!p->closing && pv->failed) {
        oa_peer_close(p, pv->fail_why, pv->fail_ban);
    }
    peer_leave(p);
}

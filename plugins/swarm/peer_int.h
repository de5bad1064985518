/*
 * Internal to one peer connection of the swarm engine, shared by peer.c
 * (the connection's lifetime, writing, the handshake and our first
 * messages, transport callbacks, closing, connect and accept, PEX, the
 * tick) and peer_msg.c (the messages it sends us, request lists and
 * pipelining, serving blocks, what it has, the calls torrent.c makes). Not
 * for other files: engine.h is the interface.
 */
#ifndef OA_SWARM_PEER_INT_H
#define OA_SWARM_PEER_INT_H

#include "engine.h"

#include <stddef.h>
#include <stdint.h>

enum { WHERE_NONE = 0, WHERE_UNATTACHED, WHERE_ATTACHED };

/* A request it sent us. */
enum { IN_QUEUED = 0, /* not asked of the torrent yet (back-pressure) */
       IN_ASKED,      /* oa_torrent_block_wanted() called, block not here yet */
       IN_READY };    /* block here (data), waiting for upload tokens */

typedef struct peer_in {
    uint32_t piece, begin, length;
    int state;
    uint8_t *data; /* IN_READY: a copy of the block */
} peer_in;

/* A request we sent it. */
typedef struct peer_out {
    uint32_t piece, begin, length;
    uint64_t sent_ms;
} peer_out;

typedef struct peer_priv {
    int busy;              /* peer_enter() depth */
    int where;             /* WHERE_* */
    int connecting;        /* outbound connect in progress */
    int counted;           /* outbound, counted in p->t->connecting */
    uint8_t want_hash[20]; /* outbound: the torrent's info-hash */
    char fail_why[256];    /* peer_fail(): close on the next read or tick */
    int fail_ban;
    int failed;
    int intro_sent;        /* our extension handshake and pieces went out */
    int read_paused;       /* download bucket empty: reading stopped */
    int pumping;
    oa_ext_local local;    /* what we announced (our ids for dispatch) */
    oa_bitfield bf;        /* its pieces once the piece count is known */
    oa_picker_peer synced; /* the picker handle bf was given to; 0: none */
    peer_out *out;
    size_t n_out, cap_out;
    peer_in *in;
    size_t n_in, cap_in;
    uint64_t last_tick_ms;
    uint64_t pex_checked_ms;
} peer_priv;

static inline peer_priv *PV(const oa_peer *p)
{
    return (peer_priv *)p->priv;
}

/* ---- peer.c ----------------------------------------------------------- */

void peer_fail(oa_peer *p, const char *why, int ban);
int peer_live(const oa_peer *p);
int peer_attached(const oa_peer *p);
int peer_write(oa_peer *p, const void *data, size_t len);
int peer_send_buf(oa_peer *p, oa_wire_buf *b);
void peer_send_simple(oa_peer *p, oa_wire_kind kind, uint32_t index, uint32_t begin,
                      uint32_t length);
void peer_send_extended(oa_peer *p, uint8_t ext_id, const uint8_t *data, size_t size);
int peer_buf_put_simple(oa_wire_buf *b, oa_wire_kind kind, uint32_t index, uint32_t begin,
                        uint32_t length);
void peer_on_pex(oa_peer *p, const uint8_t *data, size_t size);
void peer_on_handshake(oa_peer *p, const oa_wire_handshake *hs);

/* ---- peer_msg.c ------------------------------------------------------- */

void peer_out_remove(oa_peer *p, size_t i);
void peer_serve_ready(oa_peer *p, uint64_t now);
void peer_pump(oa_peer *p);
void peer_picker_sync(oa_peer *p);
int peer_pieces_known(oa_peer *p);
void peer_update_interest(oa_peer *p);
void peer_fill(oa_peer *p);
void peer_on_message(oa_peer *p, const oa_wire_msg *m);

#endif

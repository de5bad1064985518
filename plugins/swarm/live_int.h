/*
 * Live streams inside the swarm engine (issue 7), shared by live.c (the
 * service's live calls, handles and their callbacks, the window store and
 * its memory bound, in-order delivery, stats, timers), live_desc.c (the
 * descriptor and its BEP 9 fetch; a peer's attach, BEP 10 handshake and
 * detach), live_chat.c (chat acceptance, replay and per-peer limits,
 * gossip) and live_peer.c (the "oa_live" BEP 10 messages of a peer: HAVE,
 * ANNOUNCE, REQUEST, DATA, REJECT, ACK; requesting chunks, serving them,
 * relaying, the source's fanout and its late announces). Not for other files: engine.h
 * has the hooks the engine files call.
 *
 * A live stream is an oa_torrent with t->live set: the info-hash machinery
 * (peers, candidates, trackers, PEX, bans) is the engine's; it has no
 * pieces, picker or storage, and no catalog record. Chunks live in a ring
 * of descriptor.window slots indexed by seq % window; their bytes are
 * bounded by the window and by live_max_mb (the oldest chunks' bytes are
 * freed past it, their headers kept). Consumer callbacks run only from
 * the live kick or pulse timers, never inside a peer's call stack
 * (torrent.c's re-entrancy rule).
 */
#ifndef OA_SWARM_LIVE_INT_H
#define OA_SWARM_LIVE_INT_H

#include "engine.h"
#include "livecore.h"
#include "torrent_int.h"

#include <stddef.h>
#include <stdint.h>

#define LIVE_HOLDERS 16          /* peers remembered per chunk as having it */
#define LIVE_SERVED 64           /* peers a source remembers serving a chunk to */
#define LIVE_SERVE_TRACK 16      /* chunks whose bytes served to one peer are counted */
#define LIVE_STRIKES 8           /* timeouts/REJECTs in a row before a peer is closed */
#define LIVE_PEER_CHAT_BURST 60u /* chat messages one peer may send (any senders) */
#define LIVE_PEER_CHAT_PER_MIN 240u
#define LIVE_CHAT_SKEW_MS (10u * 60u * 1000u) /* chat ts_ms this far from now: dropped */
#define LIVE_REFUSED 8           /* peers that rejected or timed out a chunk */
#define LIVE_LAT_SAMPLES 64      /* latency samples for the median and p95 */
#define LIVE_EVENTS 256          /* chat and peer events waiting for handles */
#define LIVE_PENDING 64          /* announces kept until the descriptor is known */
#define LIVE_DEDUPE 4096         /* chat (from, seq) pairs remembered */
#define LIVE_DEDUPE_MS (3600u * 1000u) /* ... for an hour */
#define LIVE_SENDERS 512         /* chat senders' rate buckets */
#define LIVE_MUTES 256           /* muted chat senders */
#define LIVE_CHAT_BURST 5u
#define LIVE_CHAT_PER_MIN 20u
#define LIVE_RECENT 8            /* newest chunks announced to a peer that joins */
#define LIVE_PEER_CHUNKS 3       /* chunks in flight from one peer at once */
#define LIVE_QUEUE_MAX (8u * 1024u * 1024u) /* bytes queued to a peer: REJECT beyond */
#define LIVE_UNSOLICITED_MAX (4u * 1024u * 1024u) /* unasked DATA bytes per 10 s */
#define LIVE_PULSE_MS 200u       /* timeouts, HAVE, ACK, skips */
#define LIVE_ACK_MS 2000u        /* viewers report their upload this often */
#define LIVE_HELLO_MS 15000u     /* an attached peer must name oa_live by then */

/* One chunk of the window: its signed header, and its bytes while they
 * arrive (blocks of OA_LC_BLOCK) and once complete. */
typedef struct live_chunk {
    oa_lc_chunk hdr;
    int complete;                /* verified and kept */
    uint8_t *data;               /* hdr.size bytes; NULL until fetched or published */
    uint32_t nblocks;
    uint32_t nhave;
    uint8_t *have;               /* per block: 1 once in */
    uint64_t *from;              /* per block: the peer id that sent it */
    uint64_t assigned;           /* peer id fetching it now; 0: none */
    uint64_t assigned_ms, progress_ms;
    uint64_t refused[LIVE_REFUSED]; /* not asked again (rejected, timed out) */
    size_t nrefused;
    uint64_t holders[LIVE_HOLDERS]; /* peers that announced it */
    size_t nholders;
    uint64_t *served;            /* source only (LIVE_SERVED, with told): peers it was
                                  * served to; NULL on a viewer */
    size_t nserved;
    uint64_t *told;              /* source only: peers it ANNOUNCEd it to (fanout, late) */
    size_t ntold;
    uint64_t header_ms;          /* when its header arrived (loop ms) */
} live_chunk;

/* One handle of the service on a live stream. */
typedef struct live_handle {
    struct live_handle *next;
    oa_swarm_handle *h;          /* NULL once closed (freed when no callback runs) */
    oa_swarm_live_cbs cbs;
    void *arg;
    int publish;
    int desc_done;               /* its descriptor callback was made */
    int started;
    uint64_t next_seq;           /* next chunk to deliver */
    uint64_t stall_ms;           /* next_seq missing behind a complete one since */
    int gap;
    uint64_t ev_next;            /* next event id to deliver */
} live_handle;

enum { LIVE_EV_CHAT = 1, LIVE_EV_JOINED, LIVE_EV_LEFT };

typedef struct live_event {
    uint64_t id;
    int kind;
    uint8_t *data;               /* chat: the encoded message */
    size_t len;
    char addr[OA_ADDR_MAX];      /* peer events */
} live_event;

typedef struct live_pending {
    oa_lc_chunk hdr;
    uint64_t peer;
} live_pending;

typedef struct live_seen {
    uint8_t from[OA_LC_KEY_LEN];
    uint64_t seq;
    uint64_t ms;                 /* 0: empty */
} live_seen;

typedef struct live_sender {
    uint8_t from[OA_LC_KEY_LEN];
    oa_lc_bucket b;
    uint64_t used_ms;
    uint64_t last_seq;           /* newest seq taken from it (valid with has_seq) */
    int has_seq;
} live_sender;

typedef struct live_mute {
    uint8_t who[OA_LC_KEY_LEN];
    int64_t until;               /* unix seconds */
} live_mute;

struct oa_live {
    oa_torrent *t;
    oa_engine *e;
    uint8_t id[OA_LC_ID_LEN];
    uint8_t *desc;               /* the descriptor's bytes; NULL until known */
    size_t desc_len;
    oa_lc_descriptor d;
    int publish;                 /* a handle sources it */
    int failed;
    char error[160];
    oa_lc_window win;
    live_chunk **slots;          /* d.window slots, seq % d.window */
    uint32_t nslots;
    int started;                 /* viewer: start_seq chosen */
    uint64_t start_seq;
    int has_complete;
    uint64_t have_first, have_last; /* complete chunks held */
    live_handle *handles;
    live_event events[LIVE_EVENTS];
    uint64_t ev_head;            /* id of the next event */
    live_pending pending[LIVE_PENDING];
    size_t npending;
    live_seen seen[LIVE_DEDUPE];
    size_t seen_next;
    live_sender senders[LIVE_SENDERS];
    size_t nsenders;
    live_mute mutes[LIVE_MUTES];
    size_t nmutes;
    uint64_t held;               /* chunk bytes allocated (bounded by cfg.live_max_bytes) */
    uint64_t downloaded, uploaded, chunks_in, rejected;
    uint64_t down_mark, up_mark, rate_down, rate_up, rate_ms;
    uint32_t lat[LIVE_LAT_SAMPLES];
    size_t nlat, lat_next;
    oa_timer *kick;              /* one-shot: deliveries on the next loop turn */
    oa_timer *pulse;             /* LIVE_PULSE_MS */
    unsigned holds;              /* callbacks running: records are not freed */
    uint64_t rr;                 /* source fanout: round-robin cursor */
    uint64_t last_ack_ms;
    uint64_t last_bootstrap_ms;
    uint64_t last_fetch_ms;      /* descriptor fetch: candidates last refreshed */
};

typedef struct live_served {
    uint64_t seq;
    uint32_t bytes;              /* served to this peer, at most the chunk's size */
} live_served;

struct oa_live_peer {
    int ready;                   /* its extension handshake named oa_live */
    uint64_t attached_ms;
    int has_have;
    uint64_t have_first, have_last;
    uint64_t up_total, up_delta; /* from its ACKs */
    int sent_have;
    uint64_t sent_have_last;     /* our last HAVE to it */
    uint64_t unsolicited;        /* DATA bytes nobody asked for, this period */
    uint64_t unsolicited_ms;
    unsigned inflight;           /* chunks assigned to it */
    unsigned strikes;            /* timeouts and REJECTs of announced chunks in a row */
    oa_lc_bucket chat;           /* chat messages it sends (LIVE_PEER_CHAT_*) */
    live_served srv[LIVE_SERVE_TRACK]; /* bytes served per chunk (seq 0 + bytes 0: free) */
    size_t nsrv;
    int has_floor;
    uint64_t srv_floor;          /* chunks at or below it are not served to it again */
};

static inline uint32_t live_block_len(const live_chunk *c, uint32_t blk)
{
    uint64_t off = (uint64_t)blk * OA_LC_BLOCK;
    uint64_t left = c->hdr.size > off ? c->hdr.size - off : 0;
    return (uint32_t)(left < OA_LC_BLOCK ? left : OA_LC_BLOCK);
}

/* ---- live.c ------------------------------------------------------------ */

uint64_t live_unix_ms(void);
/* The chunk seq when it is in the window, or NULL. */
live_chunk *live_get(oa_live *lv, uint64_t seq);
/* A fresh slot for seq (whatever it held is freed); NULL without memory. */
live_chunk *live_slot_new(oa_live *lv, uint64_t seq);
/* Frees the bytes of chunks that fell out of the window. */
void live_evict(oa_live *lv);
/* Gives the chunk's fetch up (its peer's count drops). */
void live_unassign(oa_live *lv, live_chunk *c);
/* A chunk was verified (complete set): stats, latency, HAVE range, kick. */
void live_completed(oa_live *lv, live_chunk *c);
/* Room for size more chunk bytes under live_max_mb: frees the data of the
 * oldest complete chunks (those every handle is past first; their headers
 * stay). 0 when size fits or nothing else is held, OA_ENOMEM otherwise. */
int live_mem_reserve(oa_live *lv, uint64_t size);
/* A complete chunk whose bytes are still held (not freed for memory). */
static inline int live_held(const live_chunk *c)
{
    return c != NULL && c->complete && c->data != NULL;
}
/* Runs deliveries on the next loop turn. */
void live_kick(oa_live *lv);
/* A new event for the handles (the oldest is overwritten). */
live_event *live_event_push(oa_live *lv, int kind);
/* Queues a peer event for the handles. */
void live_event_peer(oa_live *lv, int kind, const char *addr);
/* ---- live_desc.c ------------------------------------------------------- */

/* Adopts verified descriptor bytes (their SHA-1 is lv->id): the window,
 * a later BEP 10 handshake with metadata_size to the peers already there,
 * the announces kept until now. 0, or OA_EPROTO/OA_ENOMEM with err set. */
int live_desc_set(oa_live *lv, const uint8_t *bytes, size_t len, char *err, size_t errlen);
/* Still without the descriptor: every peer that reports a metadata_size
 * (in its first or a later BEP 10 handshake) is a candidate of the fetch,
 * made anew when it was given up; once a second. */
void live_fetch_retry(oa_live *lv, uint64_t now);

/* ---- live_chat.c ------------------------------------------------------- */

/* A CHAT from p: the per-peer limit (p is failed past it), then taken. */
void live_chat_from_peer(oa_live *lv, oa_peer *p, const oa_lc_msg *m);

/* ---- live_peer.c ------------------------------------------------------- */

/* Sends one message to p (encoding it). */
void live_send(oa_peer *p, const oa_lc_msg *m);
void live_send_have(oa_live *lv, oa_peer *p);
void live_send_announce(oa_peer *p, const live_chunk *c);
/* A signed header from a peer (or a pending one): verified, windowed,
 * stored; p may be NULL when it left. */
void live_header_in(oa_live *lv, oa_peer *p, uint64_t peer_id, const oa_lc_chunk *hdr);
/* Announces a complete chunk: a source to its fanout, a viewer to every
 * peer that does not have it. */
void live_spread(oa_live *lv, live_chunk *c);
/* Assigns missing chunks to holders and requests their blocks. */
void live_request_pass(oa_live *lv, uint64_t now);
/* Every pulse: HAVE on window moves, ACKs, peers that never named oa_live;
 * a source's late announces (chunks no relay brought to a peer). */
void live_peers_pulse(oa_live *lv, uint64_t now);
/* HAVE to every peer not yet told of the newest complete chunk. */
void live_have_all(oa_live *lv);
/* The source announces c to p and remembers it did (its late announces
 * skip p; p may fetch c from it past the fanout's serving cap). */
void live_source_announce(live_chunk *c, oa_peer *p);

#endif

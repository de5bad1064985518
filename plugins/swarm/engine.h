/*
 * The swarm plugin's engine: the contract between its files.
 *
 *   plugin.c    descriptor, config schema, lifecycle, bus events, the
 *               oa_swarm service struct (sdk/include/openace/swarm.h),
 *               bans, the global rate limits, the 1 s tick, the cache limit
 *   commands.c  the commands (add, remove, list, stats), JSON helpers
 *   catalog.c   content recorded in the plugin's kv store, resumed at start
 *   torrent.c   one content: adding, removing, the service's handles,
 *               playheads, errors, the tick, stats; with torrent_io.c
 *               (reads for the service, the read cache, serving blocks,
 *               storage through worker threads, piece verification) and
 *               torrent_meta.c (metadata fetched by BEP 9, the resume check,
 *               peers, candidates and outbound connects, choker rounds,
 *               trackers), sharing torrent_int.h
 *   peer.c      one connection: handshake, keep-alives, timeouts, PEX,
 *               closing; with peer_msg.c (the peer wire's messages, BEP
 *               6/10/9, request pipelining, serving blocks, protocol
 *               violations), sharing peer_int.h
 *
 * Everything here runs on the host's loop thread, except the work functions
 * torrent.c hands to api->queue_work (they touch only oa_storage, a job
 * struct and its buffers). Pure modules (wire, picker, choker, storage,
 * extension, metadata, pex, tracker) are used as their headers say.
 *
 * Object lifetimes:
 *  - oa_engine lives from init to destroy.
 *  - oa_torrent lives from oa_torrent_add() until oa_torrent_remove() and
 *    the end of its last worker job (t->jobs == 0); removal closes its
 *    peers first. t->closing is set from removal on; nothing new starts.
 *  - oa_peer lives from accept/connect until oa_peer_close() (or the
 *    transport's close callback), which detaches it from its torrent and
 *    frees it before returning. Code that may outlive a peer (worker jobs,
 *    timers) keeps p->id and finds the peer again with oa_torrent_peer_find().
 */
#ifndef OA_SWARM_ENGINE_H
#define OA_SWARM_ENGINE_H

#include <openace/sdk.h>
#include <openace/swarm.h>
#include <openace/transport.h>
#include <stddef.h>
#include <stdint.h>

#include "bitfield.h"
#include "choker.h"
#include "curl_uv.h"
#include "extension.h"
#include "metadata.h"
#include "metainfo.h"
#include "pex.h"
#include "picker.h"
#include "storage.h"
#include "tracker.h"
#include "wire.h"

typedef struct oa_engine oa_engine;
typedef struct oa_torrent oa_torrent;
typedef struct oa_peer oa_peer;
typedef struct oa_live oa_live;           /* a live stream's state (live_int.h, issue 7) */
typedef struct oa_live_peer oa_live_peer; /* one peer's oa_live state (live_int.h) */

#define OA_PEER_ID_PREFIX "-OA0100-" /* Azureus style: OpenAce 0.1.0.0 */
#define OA_ADDR_MAX 64               /* "[v6]:port" and a NUL */

/* ---- settings (plugin.c fills them from the config schema) ------------- */

typedef struct oa_engine_config {
    char download_dir[1024];     /* where content is stored; "" = <data>/downloads */
    unsigned max_torrents;       /* contents at once (200) */
    unsigned max_peers;          /* connected peers per torrent (50) */
    unsigned max_connections;    /* peers over all torrents (400) */
    unsigned connect_per_tick;   /* outbound connects started per torrent and tick (8) */
    unsigned upload_slots;       /* choker regular slots (4) */
    uint64_t upload_rate;        /* bytes/s, 0 = unlimited */
    uint64_t download_rate;      /* bytes/s, 0 = unlimited */
    unsigned max_requests;       /* most requests outstanding to one peer (500) */
    uint64_t request_timeout_ms; /* a block not delivered this long is asked again (30 s) */
    uint64_t peer_timeout_ms;    /* nothing received this long: close (120 s) */
    uint64_t handshake_timeout_ms; /* handshake not complete (20 s) */
    unsigned hash_fail_strikes;  /* pieces failing their hash before a ban (2) */
    uint64_t ban_ms;             /* how long a ban lasts (30 min) */
    int pex;                     /* BEP 11 on (not for private torrents) */
    int seed;                    /* keep seeding after completion */
    uint64_t cache_limit;        /* bytes of content on disk, 0 = unlimited; least
                                  * recently played evicted first (plugin.c enforces
                                  * it each tick: complete content no handle holds) */
    uint64_t read_cache_bytes;   /* verified pieces kept in memory for serving (16 MiB) */
    uint64_t stream_window_bytes;/* streaming window ahead of the playhead (8 MiB) */
    char trackers[1024];         /* extra trackers for every content, space separated */
    char bootstrap_peers[1024];  /* "ip:port" tried for every content, space separated */
    uint16_t port;               /* where peers reach us (from the listener) */
    unsigned live_join_behind;   /* live: a newcomer starts this many chunks behind the edge (3) */
    unsigned live_source_fanout; /* live: peers a source announces each chunk to (1) */
    uint64_t live_max_bytes;     /* live: chunk bytes one stream keeps (live_max_mb, 64 MiB) */
} oa_engine_config;

/* ---- the engine (plugin.c) --------------------------------------------- */

typedef struct oa_ban {
    char ip[48];      /* address without the port */
    uint64_t until_ms;
    char why[96];
} oa_ban;

struct oa_engine {
    oa_plugin *self;
    const oa_host_api *api;
    oa_engine_config cfg;
    const oa_transport *tp;      /* "transport.tcp" */
    oa_listener *listener;
    oa_curl_uv *http;            /* for trackers */
    uint8_t peer_id[20];
    oa_torrent *torrents;        /* list through t->next */
    size_t torrent_count;
    size_t peer_count;           /* connected peers over all torrents (and handshaking) */
    oa_peer *unattached;         /* peers before their handshake: inbound ones (p->t NULL)
                                  * and outbound ones (p->t the torrent they connect for) */
    oa_swarm_handle *detached;   /* handles of removed content until their holders close
                                  * them (torrent.c), list through h->next */
    oa_ban *bans;
    size_t ban_count, ban_cap;
    oa_rate_limit up_limit;      /* global, payload bytes */
    oa_rate_limit down_limit;
    oa_timer *tick;              /* 1 s */
    uint64_t next_id;            /* ids for peers, reads, jobs */
    uint64_t rng;                /* xorshift state */
    int stopping;
    uint64_t uploaded, downloaded;   /* payload totals */
    unsigned trackers_closing;   /* stopped announces in flight at shutdown */
    void *priv;                  /* plugin.c's own state */
};

/* Logs with the plugin's tag. */
#define OA_LOG(e, lvl, ...) (e)->api->log((e)->self, (lvl), __VA_ARGS__)

/* Publishes topic with a JSON object built from fmt (printf style; the
 * caller escapes strings with oa_json_str). Never fails loudly: a full bus
 * drops the event. */
void oa_engine_event(oa_engine *e, const char *topic, const char *fmt, ...) OA_PRINTF(3, 4);
/* Writes s as a JSON string literal (quotes included) into buf (cut to
 * fit, still valid JSON) and returns buf. */
const char *oa_json_str(const char *s, char *buf, size_t len);

uint64_t oa_engine_now(oa_engine *e);           /* api->now_ms */
uint64_t oa_engine_random(oa_engine *e);        /* xorshift64 */

/* Bans the address of "ip:port" for cfg.ban_ms (logs why, publishes
 * swarm.peer.banned). oa_engine_banned() says whether an address (with or
 * without port) is banned now. */
void oa_engine_ban(oa_engine *e, const char *addr, const char *why);
int oa_engine_banned(oa_engine *e, const char *addr);

/* The closed callback of a tracker client closed while the plugin stops
 * (arg is the engine): the HTTP driver closes after the last one. */
void oa_engine_tracker_closed(void *arg);

/* The torrent with this info-hash, or NULL. */
oa_torrent *oa_engine_find(oa_engine *e, const uint8_t info_hash[20]);

/* The plugin's command entry (commands.c; the descriptor's command with
 * state the engine): add, remove, list, stats; OA_ENOTFOUND otherwise. */
int oa_engine_command(void *state, const char *name, const char *json_args, char **out);

/* ---- one content (torrent.c) ------------------------------------------- */

/* A pending read of the service, or of a command; kept in t->reads. */
typedef struct oa_torrent_read {
    struct oa_torrent_read *next;
    oa_swarm_handle *h;          /* NULL for internal reads */
    uint64_t offset;
    size_t len;
    oa_swarm_read_cb cb;
    void *arg;
    int in_flight;               /* a worker job reads it now */
    int cancelled;
} oa_torrent_read;

/* One piece being received: its blocks go here, then one worker job hashes
 * and writes it. */
typedef struct oa_piece_buf {
    struct oa_piece_buf *next;
    uint32_t piece;
    uint32_t length;
    uint8_t *data;               /* length bytes */
    int hashing;                 /* a worker job owns data now */
} oa_piece_buf;

struct oa_swarm_handle {         /* the service's handle (swarm.h) */
    struct oa_swarm_handle *next; /* in t->handles, or e->detached once detached */
    oa_torrent *t;               /* NULL once detached: its content was removed */
    uint8_t info_hash[20];       /* kept for info_hash() after detaching */
    oa_swarm_ready_cb ready;
    void *arg;
    int ready_called;
    uint64_t playhead;           /* UINT64_MAX: none */
    uint64_t bitrate;
    uint64_t playhead_set_ms;
};

struct oa_torrent {
    oa_torrent *next;
    oa_engine *e;
    uint8_t info_hash[20];
    char hex[41];
    char *uri;                   /* how it was added (magnet, path), for the catalog */
    char *save_dir;              /* storage root */
    oa_metainfo *mi;             /* NULL until the metadata is known */
    oa_meta_fetch *fetch;        /* BEP 9 fetch while mi is NULL */
    oa_picker *picker;           /* NULL until mi */
    oa_storage *storage;         /* NULL until mi */
    oa_bitfield have;            /* verified pieces (count 0 until mi) */
    oa_choker *choker;
    oa_tracker *tracker;         /* NULL without http(s) trackers */
    int state;                   /* OA_SWARM_* */
    char error[160];
    oa_peer *peers;              /* attached peers, list through p->tnext */
    size_t peer_count;
    unsigned connecting;         /* outbound connects under way for it, handshake
                                  * included (peer.c keeps it); the connect cap counts them */
    char **candidates;           /* addresses to try, FIFO, bounded */
    size_t cand_count, cand_cap;
    oa_piece_buf *bufs;
    oa_torrent_read *reads;
    oa_swarm_handle *handles;
    unsigned jobs;               /* worker jobs in flight */
    int closing;
    int completed_sent;
    uint64_t added_ms;
    uint64_t last_played;        /* unix seconds, for cache eviction */
    uint64_t downloaded, uploaded, wasted;
    uint64_t rate_down, rate_up; /* bytes/s, updated by the tick */
    uint32_t hash_failures;
    /* the swarm as trackers count it (announce replies, scrape); -1 unknown */
    int64_t swarm_seeds, swarm_leechers, swarm_downloads;
    uint32_t verified_since_event; /* for rate-limited swarm.piece.verified */
    uint64_t last_verified_event_ms;
    void *cache;                 /* torrent.c's read cache of verified pieces */
    void *priv;                  /* torrent.c's own further state */
    oa_live *live;               /* a live stream (live.c): no pieces, no catalog record,
                                  * peers speak oa_live; NULL for ordinary content */
};

/* Options of oa_torrent_add(). */
typedef struct oa_torrent_opts {
    const char *uri;             /* magnet, 40-hex or .torrent path; or NULL and: */
    const void *torrent;         /* .torrent bytes */
    size_t torrent_len;
    const char *save_dir;        /* NULL: cfg.download_dir */
    int from_catalog;            /* resuming: do not publish swarm.content.added again */
    oa_live *live;               /* live.c adds a live stream: t->live is set before
                                  * trackers and connects start; never recorded */
} oa_torrent_opts;

/* Adds content (or finds it: *existed is then 1) and starts it: resume
 * check of files on disk, trackers, connects. err gets a sentence on
 * failure. Errors as for oa_swarm.open. */
int oa_torrent_add(oa_engine *e, const oa_torrent_opts *opts, oa_torrent **out, int *existed,
                   char *err, size_t errlen);
/* Removes content: detaches its handles (below), closes its peers and
 * outbound connects, trackers (stopped announce), deletes the files when
 * delete_files, drops it from the catalog, frees it once its worker jobs
 * have ended.
 *
 * Detaching a handle (the content is removed by the remove command or by
 * an error that drops it): the handle is not freed. Its pending reads are
 * cancelled without their callbacks (a read record stays valid for
 * read_cancel until the handle is closed); a handle whose ready was not
 * called yet gets ready(OA_ECANCELED) on a later loop turn; h->t becomes
 * NULL and the handle waits in e->detached until its holder calls close().
 * The service then answers a detached handle: read and set_playhead fail
 * with OA_ECANCELED, file_count and available return 0, stats has state
 * OA_SWARM_ERROR and error "content removed", info_hash still gives the
 * hash. Exception: while the plugin stops (e->stopping) handles are freed
 * (their consumers were stopped before us). */
void oa_torrent_remove(oa_torrent *t, int delete_files);
/* Every second: rates, choker rounds when due (upload_slots taken live),
 * connects to candidates, request timeouts through peers, metadata fetch
 * requests. (cfg.cache_limit is plugin.c's.) */
void oa_torrent_tick(oa_torrent *t, uint64_t now_ms);
/* Fills st (service stats). */
void oa_torrent_stats(oa_torrent *t, oa_swarm_stats *st);

/* Adds peer addresses to try (from trackers, PEX, magnet x.pe, bootstrap);
 * duplicates, banned and our own addresses are skipped. */
void oa_torrent_add_candidates(oa_torrent *t, const char *const *addrs, size_t n);

/* The service's reads (swarm.h semantics). */
int oa_torrent_read_start(oa_torrent *t, oa_swarm_handle *h, uint64_t offset, size_t len,
                    oa_swarm_read_cb cb, void *arg, oa_torrent_read **out);
void oa_torrent_read_cancel(oa_torrent_read *r);
int oa_torrent_set_playhead(oa_torrent *t, oa_swarm_handle *h, uint64_t offset, uint64_t bitrate);
uint64_t oa_torrent_available(oa_torrent *t, uint64_t offset);

/* Handles of the service (swarm.h): open on a torrent and close. The
 * ready callback is called on a later loop turn (at once if the metadata
 * is known, else when it becomes known or the torrent fails). Closing
 * cancels the handle's reads without callbacks and drops its playhead;
 * closing a detached handle (see oa_torrent_remove) frees it. */
int oa_torrent_handle_open(oa_torrent *t, oa_swarm_ready_cb ready, void *arg,
                           oa_swarm_handle **out);
void oa_torrent_handle_close(oa_swarm_handle *h);
/* Every second (plugin.c): ready timers of detached handles that could not
 * start before are tried again. */
void oa_torrent_detached_tick(oa_engine *e);

/* Called by peer.c: */
/* A peer finished its handshake for this torrent: 0 to keep it, OA_EAGAIN
 * when the torrent is full, OA_ESTATE when closing. On 0 the peer is in
 * t->peers and, when the metadata is known, has a picker handle. */
int oa_torrent_peer_attach(oa_torrent *t, oa_peer *p);
/* A peer is going away: its picker handle and fetch state are dropped. */
void oa_torrent_peer_detach(oa_torrent *t, oa_peer *p);
/* p became interested in us: when an upload slot is free, a choker round
 * runs on the next loop turn instead of at the next 10 s round, so that a
 * newcomer does not wait for its first block. */
void oa_torrent_peer_interested(oa_torrent *t, oa_peer *p);
/* The attached peer with this id, or NULL. */
oa_peer *oa_torrent_peer_find(oa_torrent *t, uint64_t peer_id);
/* A block arrived from p: picker bookkeeping, cancels to other holders,
 * buffering, and hashing once the piece is complete. */
void oa_torrent_block_in(oa_torrent *t, oa_peer *p, uint32_t piece, uint32_t begin,
                         const uint8_t *data, size_t len);
/* p asks for a block we have: the torrent reads it (cache or worker) and
 * calls oa_peer_send_block() if p is still there and still wants it. Every
 * call ends in oa_peer_send_block() or oa_peer_reject() (unless p left). */
void oa_torrent_block_wanted(oa_torrent *t, oa_peer *p, uint32_t piece, uint32_t begin,
                             uint32_t length);
/* ut_metadata: a peer announced metadata_size in its extension handshake,
 * sent a data message or rejected a request. */
void oa_torrent_meta_peer(oa_torrent *t, oa_peer *p, uint64_t metadata_size);
void oa_torrent_meta_data(oa_torrent *t, oa_peer *p, const oa_meta_msg *msg);
void oa_torrent_meta_reject(oa_torrent *t, oa_peer *p, uint32_t piece);

/* ---- one connection (peer.c) ------------------------------------------- */

#define OA_PEER_MAX_HAVES_EARLY 4096 /* haves kept before the metadata is known */

struct oa_peer {
    oa_peer *tnext;              /* in t->peers or e->unattached */
    oa_engine *e;
    oa_torrent *t;               /* NULL before the handshake names it (inbound) */
    oa_conn *conn;
    uint64_t id;                 /* unique in the engine, never reused */
    char addr[OA_ADDR_MAX];      /* remote "ip:port" */
    int outbound;
    int handshake_sent, handshake_done;
    uint8_t peer_id[20];
    unsigned ext;                /* OA_WIRE_EXT_* both sides announced */
    oa_wire_decoder dec;
    oa_ext_peer extp;            /* their BEP 10 ids and handshake data */
    oa_meta_server meta_srv;
    oa_pex_tracker pex;
    oa_picker_peer pk;           /* 0 until attached with metadata */
    /* what the peer has before the metadata is known (applied at attach
     * or at oa_peer_metadata_ready) */
    uint8_t *early_bits; size_t early_bits_len;
    uint32_t *early_haves; size_t early_have_count;
    int early_have_all;
    uint32_t pieces_have;        /* what it has, counted */
    int seed;                    /* it has every piece */
    /* choking state */
    int am_choking, am_interested, peer_choking, peer_interested;
    uint64_t connected_ms, last_recv_ms, last_send_ms, last_block_ms;
    uint64_t unchoked_us_ms, we_interested_ms;
    uint32_t allowed_fast[16]; size_t n_allowed_fast;   /* pieces it lets us fetch while choked */
    /* requests we sent: outstanding count (the picker has the list) */
    unsigned outstanding;
    unsigned max_outstanding;    /* pipeline depth, from its rate and reqq */
    /* requests it sent us, not served yet */
    unsigned served_pending;     /* blocks being read for it */
    unsigned peer_requests;      /* queued requests from it (flood check) */
    /* rates, bytes/s, updated each tick */
    uint64_t down_bytes, up_bytes;         /* payload totals */
    uint64_t down_rate, up_rate;
    uint64_t down_mark, up_mark;           /* totals at the last tick */
    unsigned hash_strikes;
    int closing;
    void *priv;                  /* peer.c's own further state (its request list, ...) */
    oa_live_peer *live;          /* live.c's state while attached to a live stream */
};

/* Accepts an inbound connection (the listener's callback); banned
 * addresses and a full engine are closed at once. */
void oa_peer_accept(oa_engine *e, oa_conn *conn);
/* Connects to addr for t; 0 when the connect started. OA_EAGAIN over the
 * caps, OA_EINVAL for a bad address, OA_EEXIST when already connected.
 * The peer waits in e->unattached with p->t = t and counts in
 * t->connecting until it attaches or closes. */
int oa_peer_connect(oa_torrent *t, const char *addr);
/* Closes the connection now, with why logged at debug level; detaches it
 * from its torrent, frees it. ban != 0 bans its address first. */
void oa_peer_close(oa_peer *p, const char *why, int ban);

/* Called by torrent.c: */
void oa_peer_send_have(oa_peer *p, uint32_t piece);
void oa_peer_send_choke(oa_peer *p, int choke);
void oa_peer_send_cancel(oa_peer *p, uint32_t piece, uint32_t begin, uint32_t length);
/* Sends a block it asked for (the data is copied), unless it cancelled. */
void oa_peer_send_block(oa_peer *p, uint32_t piece, uint32_t begin, const uint8_t *data,
                        uint32_t length);
/* Answers a block request with REJECT (fast extension) or drops it. */
void oa_peer_reject(oa_peer *p, uint32_t piece, uint32_t begin, uint32_t length);
/* Sends a ut_metadata request for piece. */
void oa_peer_send_meta_request(oa_peer *p, uint32_t piece);
/* The torrent's metadata became known: set the decoder's piece count,
 * apply early haves (the torrent has given p->pk), update interest. */
void oa_peer_metadata_ready(oa_peer *p);
/* Asks the picker for requests to fill the pipeline and sends them, and
 * updates our interest. */
void oa_peer_fill(oa_peer *p);
/* Every second: keep-alive, timeouts, rates, PEX, read throttling. It may
 * close and free p: callers save p->tnext first. e->unattached holds
 * inbound and outbound peers until their handshake. */
void oa_peer_tick(oa_peer *p, uint64_t now_ms);
/* Its view for a choker round. */
void oa_peer_choker_view(const oa_peer *p, oa_choker_peer *out);

/* Sends an oa_live extension payload under the peer's own id for it
 * (nothing when it did not announce oa_live or is going away). */
void oa_peer_send_live(oa_peer *p, const uint8_t *payload, size_t len);
/* Records a failure: the peer is closed (and banned with ban) on its next
 * read or tick, never inside this call. */
void oa_peer_fail(oa_peer *p, const char *why, int ban);
/* 1 while the peer is attached, handshaken and not failing. */
int oa_peer_usable(const oa_peer *p);
/* Live: sends a later BEP 10 handshake now carrying metadata_size once the
 * stream's descriptor became known after our first one (nothing when it
 * already said so, or before our first handshake went out). */
void oa_peer_send_ext_update(oa_peer *p);

/* ---- live streams (live.c, live_peer.c; issue 7) ----------------------- */

/* The service's live calls (swarm.h semantics). */
int oa_live_open(oa_engine *e, const uint8_t id[20], const void *desc, size_t desc_len,
                 int publish, const oa_swarm_live_cbs *cbs, void *arg, oa_swarm_handle **out);
int oa_live_publish(oa_swarm_handle *h, const oa_swarm_live_chunk *chunk);
int oa_live_chat(oa_swarm_handle *h, const uint8_t *msg, size_t len);
/* Fills st for a live content (st->size set by the caller). */
void oa_live_stats(oa_torrent *t, oa_swarm_live_stats *st);
/* Closes a live handle; the last one removes the live content. */
void oa_live_handle_close(oa_swarm_handle *h);
/* Hooks of the engine files for a live content (t->live != NULL): */
void oa_live_tick(oa_torrent *t, uint64_t now_ms);
void oa_live_free(oa_torrent *t);
/* The descriptor bytes when known (0), else OA_ESTATE: what ut_metadata
 * serves and metadata_size announces for a live content. */
int oa_live_descriptor(oa_torrent *t, const uint8_t **bytes, size_t *len);
/* The descriptor's name, or NULL before it is known. */
const char *oa_live_name(oa_torrent *t);
/* 1 when a peer's metadata_size may be a live descriptor's; otherwise the
 * peer is failed (a descriptor is at most OA_LC_MAX_DESCRIPTOR bytes) and
 * 0 is returned. */
int oa_live_meta_size_ok(oa_torrent *t, oa_peer *p, uint64_t metadata_size);
/* A ut_metadata data message for a live content's descriptor fetch. */
void oa_live_meta_data(oa_torrent *t, oa_peer *p, const oa_meta_msg *msg);
/* Peers of a live content: attached, extension handshake received, an
 * oa_live message, detached. */
void oa_live_peer_attach(oa_torrent *t, oa_peer *p);
void oa_live_peer_ext_handshake(oa_peer *p);
void oa_live_peer_message(oa_peer *p, const uint8_t *data, size_t len);
void oa_live_peer_detach(oa_torrent *t, oa_peer *p);

/* ---- catalog (catalog.c) ----------------------------------------------- */

/* Records content (and its .torrent bytes once known) in the kv store. */
void oa_catalog_save(oa_torrent *t);
/* Updates last_played / completion. */
void oa_catalog_touch(oa_torrent *t);
void oa_catalog_delete(oa_engine *e, const char hex[41]);
/* Adds every recorded content again (at start). Returns how many. */
size_t oa_catalog_load(oa_engine *e);

#endif

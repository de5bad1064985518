/*
 * Internal to one content of the swarm engine, shared by torrent.c (add,
 * remove, lifecycle, the tick, handles, playheads, stats), torrent_io.c
 * (the service's reads, the read cache, serving blocks, piece buffers,
 * hashing and writing on worker threads) and torrent_meta.c (peers of the
 * torrent, candidates and connects, choker rounds, the BEP 9 fetch, the
 * resume check, trackers). Not for other files: engine.h is the interface.
 */
#ifndef OA_SWARM_TORRENT_INT_H
#define OA_SWARM_TORRENT_INT_H

#include "engine.h"
#include "magnet.h"

#include <stddef.h>
#include <stdint.h>

#define TRIED_MAX 256u             /* recently tried addresses remembered */

/* ---- private state --------------------------------------------------- */

typedef struct tried_addr {
    char addr[OA_ADDR_MAX];
    uint64_t ms;
} tried_addr;

/* A block a peer asked for while its piece is read from disk. */
typedef struct serve_waiter {
    struct serve_waiter *next;
    uint64_t peer;
    uint32_t begin;
    uint32_t length;
} serve_waiter;

/* A verified piece in memory, or one being read (loading, data NULL). */
typedef struct cache_ent {
    struct cache_ent *next;
    uint32_t piece;
    uint32_t length;
    uint8_t *data;
    int loading;
    uint64_t lru;
    serve_waiter *waiters;
    serve_waiter **wtail;
} cache_ent;

typedef struct read_cache {
    cache_ent *head;
    uint64_t bytes;         /* data held by entries that are not loading */
    uint64_t loading_bytes; /* pieces being read for peers */
    uint64_t clock;
} read_cache;

typedef struct torrent_priv {
    char *dn;                 /* the magnet's name, for events until mi */
    oa_bitfield check_bf;     /* the resume check writes here, off the loop */
    uint32_t check_next;
    unsigned check_inflight;
    int checking;
    int mi_fetched;           /* mi came from BEP 9: save the catalog again */
    int err_code;             /* OA_E* of the ERROR state */
    unsigned holds;           /* consumer callbacks running */
    int delete_files;
    int choke_due;            /* an unchoked peer left: a round soon */
    unsigned choker_slots;    /* the upload_slots t->choker was made with */
    oa_timer *kick;
    oa_swarm_handle *stream_owner;
    tried_addr tried[TRIED_MAX];
    size_t tried_next;
    uint64_t last_announce_ms;
    uint64_t next_scrape_ms;  /* 0: soon after start; UINT64_MAX: no scrape URL */
    int scraping;
    uint64_t last_touch_ms;
    uint64_t last_tick_ms;
    uint64_t down_mark, up_mark;
} torrent_priv;

typedef struct handle_priv {
    oa_swarm_handle h; /* first: the service's pointer is ours */
    oa_engine *e;
    oa_timer *timer;   /* the ready timer, while pending */
    struct oa_torrent_read *dead; /* detached: its reads cancelled by the removal,
                                   * kept for read_cancel until close */
} handle_priv;

struct job;

typedef struct read_priv {
    struct oa_torrent_read r; /* first */
    oa_torrent *t;            /* NULL once on its detached handle's dead list */
    struct job *jb;           /* the job reading it while r.in_flight */
} read_priv;

enum job_kind { JOB_CHECK, JOB_HASH, JOB_SERVE, JOB_READ };

typedef struct job {
    enum job_kind kind;
    oa_torrent *t;
    oa_storage *storage;
    int rc;
    char err[160];
    /* JOB_CHECK */
    uint32_t first, count;
    oa_bitfield *bf;
    /* JOB_HASH */
    oa_piece_buf *buf;
    uint8_t expect[OA_SHA1_LEN];
    int ok;
    /* JOB_SERVE */
    uint32_t piece, length;
    uint8_t *data;
    /* JOB_READ */
    read_priv *rd;
    uint64_t offset;
    size_t len;
} job;

static inline torrent_priv *tpriv(oa_torrent *t)
{
    return (torrent_priv *)t->priv;
}

static inline read_cache *tcache(oa_torrent *t)
{
    return (read_cache *)t->cache;
}

/* ---- torrent.c ------------------------------------------------------- */

void tor_apply_stream(oa_torrent *t);
uint64_t tor_have_bytes(oa_torrent *t);
void tor_maybe_free(oa_torrent *t);
void tor_ready_schedule_all(oa_torrent *t);
void tor_set_error(oa_torrent *t, int code, const char *msg);
void tor_kick(oa_torrent *t);

/* ---- torrent_io.c ---------------------------------------------------- */

void tor_cache_free_all(oa_torrent *t);
int tor_job_queue(oa_torrent *t, job *j);
void tor_read_free(oa_torrent *t, struct oa_torrent_read *r);
void tor_read_unlink(oa_torrent *t, struct oa_torrent_read *r);
void tor_reads_pump(oa_torrent *t);
void tor_verified_event(oa_torrent *t, uint64_t now, int force);

/* ---- torrent_meta.c -------------------------------------------------- */

void tor_add_candidate_list(oa_torrent *t, const char *list);
void tor_check_done(oa_torrent *t, job *j);
void tor_choke_round(oa_torrent *t, uint64_t now);
int tor_choker_make(oa_torrent *t);
void tor_close_all_peers(oa_torrent *t, const char *why);
void tor_connect_candidates(oa_torrent *t, uint64_t now);
void tor_fetch_service(oa_torrent *t, uint64_t now);
void tor_fill_all_peers(oa_torrent *t);
int tor_is_hex40(const char *s);
void tor_magnet_candidates(oa_torrent *t, const oa_magnet *mag);
void tor_metadata_known(oa_torrent *t, oa_metainfo *mi, int fetched);
oa_peer *tor_peer_by_pk(oa_torrent *t, oa_picker_peer pk);
uint64_t *tor_peer_ids(oa_torrent *t, size_t *n);
int tor_read_torrent_file(const char *path, uint8_t **out, size_t *len, char *err,
                          size_t errlen);
void tor_trackers_start(oa_torrent *t, const oa_magnet *mag);
void tor_scrape_tick(oa_torrent *t, uint64_t now);

#endif

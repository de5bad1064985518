/* Piece picker for the swarm plugin: which 16 KiB blocks to ask which peer
 * for next. It is pure bookkeeping with no sockets, no clock and no global
 * state: the caller feeds it what peers announce (have, bitfield, have-all,
 * have-none, disconnect), what arrives and what the hash check says, and
 * passes the current time in milliseconds to every call that needs it.
 * Tie-breaks use a xorshift generator seeded from the config, so a run is
 * reproducible.
 *
 * Order of picks for one peer:
 *  1. streaming window (when set): the pieces from the playhead onward, in
 *     order; a block whose request is late for its deadline may also be asked
 *     of a faster peer;
 *  2. pieces already started, oldest first ("strict priority to started
 *     pieces"), so few pieces are partial at once;
 *  3. the rest rarest-first, pieces of equal availability in random order;
 *     steps 2 and 3 are skipped in strict streaming mode;
 *  4. end-game: once every missing block that a connected peer has is
 *     requested, blocks still in flight may be asked of further peers.
 *
 * Peers are handles issued by the picker. A handle is never reused while its
 * generation lasts (65536 connections through one slot), so data attributed
 * to a peer that left is never blamed on a newcomer. One picker is used from
 * one thread. */
#ifndef OA_SWARM_PICKER_H
#define OA_SWARM_PICKER_H

#include <openace/sdk.h>
#include <stddef.h>
#include <stdint.h>

#define OA_PICKER_BLOCK_SIZE 16384u
/* At most this many peers hold a request for one block at once: the first
 * request plus up to three duplicates. */
#define OA_PICKER_MAX_HOLDERS 4u

typedef struct oa_picker oa_picker;

/* A peer handle; 0 is never a valid handle. */
typedef uint32_t oa_picker_peer;

typedef struct oa_picker_config {
    uint64_t total_length;   /* bytes of content, > 0 */
    uint32_t piece_length;   /* bytes per piece, > 0; the last piece may be shorter */
    uint64_t seed;           /* seeds the tie-break generator; any value */
    /* Extra requests allowed per block, in end-game and for late streaming
     * blocks: 0 (never duplicate) to OA_PICKER_MAX_HOLDERS - 1. */
    unsigned max_duplicates;
    /* A streaming request is late once it has been outstanding longer than
     * this share (per mille) of the time it had until its piece's deadline, */
    unsigned late_permille;
    /* ... and longer than this many milliseconds in any case. */
    uint64_t late_min_ms;
} oa_picker_config;

/* What the caller knows about the peer it asks picks for. */
typedef struct oa_picker_ask {
    int choked;                   /* the peer chokes us */
    const uint32_t *allowed_fast; /* pieces it allows while choked (BEP 6); borrowed */
    size_t n_allowed_fast;
} oa_picker_ask;

/* One block request: send REQUEST(piece, offset, length). */
typedef struct oa_picker_request {
    uint32_t piece;
    uint32_t offset;
    uint32_t length;
} oa_picker_request;

/* Streaming mode. The window starts at the playhead's piece and covers
 * window_pieces pieces or window_bytes bytes from the playhead, whichever
 * reaches further (at least the playhead's piece). */
typedef struct oa_picker_stream {
    uint64_t playhead;      /* byte offset the player reads next */
    uint64_t window_bytes;
    uint32_t window_pieces;
    uint64_t bitrate;       /* bytes per second the player consumes; 0: unknown, no deadlines */
    int fallback;           /* 1: outside the window pick rarest-first; 0: strict (live) */
} oa_picker_stream;

/* What a block arrival means. */
typedef struct oa_picker_arrival {
    int wanted;         /* 1: the data fills a block we lack; store it. 0: discard it */
    int expected;       /* 1: the sender had an outstanding request for this block */
    int piece_complete; /* 1: every block of the piece is here; hash it, then
                         * call oa_picker_piece_verified */
    size_t n_cancel;    /* other peers still asked for this block: send them CANCEL */
    oa_picker_peer cancel[OA_PICKER_MAX_HOLDERS];
} oa_picker_arrival;

typedef struct oa_picker_stats {
    uint32_t pieces;      /* pieces in the content */
    uint32_t have;        /* pieces verified */
    uint32_t active;      /* pieces started and not yet verified */
    uint64_t unrequested; /* missing blocks some connected peer has, not requested */
    int endgame;          /* 1 when duplicate requests are allowed */
} oa_picker_stats;

/* Block states reported by oa_picker_block_state. */
#define OA_PICKER_BLOCK_FREE 0      /* missing and not requested */
#define OA_PICKER_BLOCK_REQUESTED 1 /* missing, requested from at least one peer */
#define OA_PICKER_BLOCK_RECEIVED 2  /* received, or its piece is verified */

/* Fills the tunables of cfg with defaults (one duplicate per block, late at
 * half the time to the deadline but not before 250 ms, seed 1) and zeroes
 * the sizes, which the caller then sets. */
void oa_picker_config_default(oa_picker_config *cfg);

/* Creates a picker for content of cfg->total_length bytes in pieces of
 * cfg->piece_length bytes, lacking every piece and knowing no peer. The
 * caller owns *out and frees it with oa_picker_free. Fails with OA_EINVAL
 * for a zero size or a duplicate limit over OA_PICKER_MAX_HOLDERS - 1,
 * OA_ERANGE when the content has more than 2^31 pieces or a piece is over
 * 2^31 bytes, OA_ENOMEM when out of memory. */
int oa_picker_new(const oa_picker_config *cfg, oa_picker **out);
/* Frees the picker and everything it holds; NULL is allowed. */
void oa_picker_free(oa_picker *pk);

/* Number of pieces, and the size in bytes of one piece (0 past the end). */
uint32_t oa_picker_num_pieces(const oa_picker *pk);
uint32_t oa_picker_piece_size(const oa_picker *pk, uint32_t piece);

/* ---- our pieces ---- */

/* Marks a piece as ours without downloading it (resumed from disk). Any
 * requests still outstanding for it are forgotten; the caller cancels them
 * on the wire. Idempotent. OA_ERANGE for a piece past the end. */
int oa_picker_we_have(oa_picker *pk, uint32_t piece);
/* Returns 1 when the piece is ours (verified), 0 otherwise or past the end. */
int oa_picker_have(const oa_picker *pk, uint32_t piece);

/* ---- peers ---- */

/* Registers a newly connected peer that has no piece yet and returns its
 * handle in *out. OA_EOVERFLOW past 65535 peers at once, OA_ENOMEM. */
int oa_picker_peer_add(oa_picker *pk, oa_picker_peer *out);
/* Forgets a peer that left: its pieces no longer count as available and its
 * outstanding requests become free to pick again. OA_ENOENT for a handle
 * that is not (or no longer) registered. */
int oa_picker_peer_remove(oa_picker *pk, oa_picker_peer peer);
/* Records a HAVE message. A peer that thereby has every piece is counted as
 * a seed. OA_ENOENT, OA_EPROTO for a piece past the end, OA_ENOMEM. */
int oa_picker_peer_have(oa_picker *pk, oa_picker_peer peer, uint32_t piece);
/* Replaces the peer's pieces with a BITFIELD message: len bytes, the high bit
 * of byte 0 being piece 0. OA_EPROTO when len is not exactly enough bytes for
 * every piece or a spare bit at the end is set (nothing changes then),
 * OA_ENOENT for an unknown handle, OA_ENOMEM (the peer then has no piece). */
int oa_picker_peer_bitfield(oa_picker *pk, oa_picker_peer peer, const uint8_t *bits,
                            size_t len);
/* Records HAVE ALL / HAVE NONE (BEP 6): the peer becomes a seed, or has no
 * piece. OA_ENOENT for an unknown handle. */
int oa_picker_peer_have_all(oa_picker *pk, oa_picker_peer peer);
int oa_picker_peer_have_none(oa_picker *pk, oa_picker_peer peer);
/* Sets the download rate we measure from the peer, in bytes per second; a
 * late streaming block is only duplicated to a strictly faster peer. */
int oa_picker_peer_set_rate(oa_picker *pk, oa_picker_peer peer, uint64_t bytes_per_s);
/* Returns 1 when the peer has a piece we lack (we should be interested), 0
 * when not, OA_ENOENT for an unknown handle. */
int oa_picker_peer_interesting(const oa_picker *pk, oa_picker_peer peer);
/* Returns how many block requests to the peer are outstanding, or OA_ENOENT. */
int oa_picker_peer_outstanding(const oa_picker *pk, oa_picker_peer peer);

/* ---- streaming ---- */

/* Switches to streaming mode, or moves the playhead, window or bitrate.
 * now_ms is when the player was at st->playhead; deadlines are computed from
 * it. OA_ERANGE when the playhead is past the end. */
int oa_picker_set_stream(oa_picker *pk, const oa_picker_stream *st, uint64_t now_ms);
/* Back to plain rarest-first. */
void oa_picker_clear_stream(oa_picker *pk);
/* Writes when the player will need the piece into *deadline_ms:
 * playhead time + (piece start - playhead) / bitrate, or the playhead time
 * for the piece under the playhead. OA_ENOENT when the piece is outside the
 * window or no bitrate is known, OA_ERANGE past the end. */
int oa_picker_deadline(const oa_picker *pk, uint32_t piece, uint64_t *deadline_ms);

/* ---- requests ---- */

/* Picks up to max block requests for peer, in the order described at the
 * top of this file, records them as outstanding to that peer at now_ms, and
 * writes them to out (caller-owned, room for max) with their count in
 * *n_out. ask NULL means the peer does not choke us; when it chokes us only
 * its allowed-fast pieces are picked (new pieces from the first 64 of them;
 * BEP 6 suggests 10). Never asks one peer twice for one
 * block. Fails with OA_ENOENT for an unknown handle or OA_EINVAL; on
 * OA_ENOMEM the *n_out requests already written are recorded and must be
 * sent (or cancelled with oa_picker_request_cancelled). */
int oa_picker_pick(oa_picker *pk, oa_picker_peer peer, const oa_picker_ask *ask,
                   uint64_t now_ms, oa_picker_request *out, size_t max, size_t *n_out);
/* Forgets one outstanding request: we sent CANCEL, it timed out, or the peer
 * rejected it (BEP 6). The block is free to pick again unless another peer
 * also holds a request for it. OA_ENOENT when no such request is
 * outstanding, OA_EPROTO for a block outside the piece grid. */
int oa_picker_request_cancelled(oa_picker *pk, oa_picker_peer peer, uint32_t piece,
                                uint32_t offset);
/* Forgets every outstanding request to the peer (it choked us without the
 * fast extension, or it stalled). Returns how many, or OA_ENOENT. */
int oa_picker_peer_drop_requests(oa_picker *pk, oa_picker_peer peer);

/* Records a PIECE message from peer and describes in *res what it means.
 * Blocks received from peers that did not request them are accepted when
 * still missing. OA_EPROTO when the piece, offset or length is not one block
 * of the grid (nothing changes), OA_ENOENT for an unknown handle, OA_ENOMEM. */
int oa_picker_block_received(oa_picker *pk, oa_picker_peer peer, uint32_t piece,
                             uint32_t offset, uint32_t length, oa_picker_arrival *res);
/* Reports the hash check of a complete piece. ok != 0: the piece becomes
 * ours. ok == 0: every block of the piece is dropped and becomes free to pick
 * again. Either way the distinct peers that sent its blocks are written to
 * senders (caller-owned, room for cap; may be NULL when cap is 0) and their
 * number to *n_senders, which may exceed cap; on a failure the caller counts
 * a strike against each and bans repeat offenders. Handles of peers that
 * have since left may appear. OA_ESTATE when the piece was not complete,
 * OA_ERANGE past the end. */
int oa_picker_piece_verified(oa_picker *pk, uint32_t piece, int ok, oa_picker_peer *senders,
                             size_t cap, size_t *n_senders);

/* ---- inspection ---- */

/* Returns the number of connected peers that have the piece (seeds
 * included), or 0 past the end. */
uint32_t oa_picker_availability(const oa_picker *pk, uint32_t piece);
/* Returns the OA_PICKER_BLOCK_* state of the block at offset in piece and
 * writes the peers holding a request for it to holders (room for cap, may be
 * NULL) and their number to *n_holders (may be NULL). OA_EPROTO for a block
 * outside the grid. */
int oa_picker_block_state(const oa_picker *pk, uint32_t piece, uint32_t offset,
                          oa_picker_peer *holders, size_t cap, size_t *n_holders);
/* Fills *st with counters. */
void oa_picker_get_stats(const oa_picker *pk, oa_picker_stats *st);

#endif

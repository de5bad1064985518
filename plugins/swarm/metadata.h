/*
 * BEP 9 ut_metadata: fetching a torrent's info dictionary (the
 * "metadata") from peers, for a download that starts from a magnet link,
 * and serving it to peers that ask.
 *
 * The metadata is cut into 16 KiB pieces, the last one shorter. Each
 * message is a bencoded dictionary with msg_type (0 request, 1 data,
 * 2 reject) and piece; a data message adds total_size and is followed,
 * outside the dictionary, by the piece's bytes. The size comes from the
 * extension handshake's metadata_size (extension.h).
 *
 * metadata.c holds the message codec and the serving side;
 * metadata_fetch.c the fetch state machine. Both are pure: no sockets, no
 * clock (the caller passes the time in milliseconds), no logging. Errors:
 * 0 (or a documented non-negative value) or a negative OA_E* code.
 */
#ifndef OA_SWARM_METADATA_H
#define OA_SWARM_METADATA_H

#include <openace/sdk.h>
#include <stddef.h>
#include <stdint.h>

#include "extension.h"
#include "metainfo.h"

#define OA_META_PIECE_LEN 16384u
/* Pieces in the largest metadata we accept (OA_EXT_MAX_METADATA_SIZE). */
#define OA_META_MAX_PIECES ((uint32_t)(OA_EXT_MAX_METADATA_SIZE / OA_META_PIECE_LEN))
/* Bytes of the dictionary of a data message, at most: a little room over
 * the three keys we know. A longer one is refused. */
#define OA_META_MAX_DICT 512u

typedef enum oa_meta_type {
    OA_META_REQUEST = 0,
    OA_META_DATA = 1,
    OA_META_REJECT = 2
} oa_meta_type;

/* One ut_metadata message. */
typedef struct oa_meta_msg {
    oa_meta_type type;
    uint32_t piece;       /* below OA_META_MAX_PIECES */
    uint64_t total_size;  /* DATA: the whole metadata's size */
    /* DATA: the piece's bytes. From oa_meta_decode() they are borrowed from
     * the payload that was decoded; for oa_meta_encode() they are the
     * caller's, copied. */
    const uint8_t *data;
    size_t size;
} oa_meta_msg;

/* Returns the number of pieces of a metadata of size bytes (0 for 0). */
uint32_t oa_meta_piece_count(uint64_t size);

/* Returns the length of piece index of a metadata of size bytes: 16 KiB
 * but for the last piece, and 0 when index is past the end. */
size_t oa_meta_piece_size(uint64_t size, uint32_t index);

/* ---- codec -------------------------------------------------------------- */

/* Writes msg as an extended message payload (what follows the extended
 * id) into a new malloc'd buffer the caller frees:
 *   d8:msg_typei<t>e5:piecei<n>e[10:total_sizei<n>e]e[<data>]
 * Fails with OA_EINVAL for an unknown type, a piece at or beyond
 * OA_META_MAX_PIECES, or a data message whose total_size is 0 or above
 * OA_EXT_MAX_METADATA_SIZE or whose size is not oa_meta_piece_size() of
 * that total and piece; and with OA_ENOMEM. */
int oa_meta_encode(const oa_meta_msg *msg, uint8_t **out, size_t *len);

/* Decodes one payload (len bytes after the extended id) into *msg, whose
 * data then points into payload. The dictionary may carry keys we do not
 * know. Fails, with a sentence in err and *msg zeroed, with:
 *   OA_EPROTO: not a dictionary followed by nothing (or, for data, by the
 *              piece), msg_type or piece missing or not integers, a
 *              request or reject followed by bytes, a data message without
 *              total_size or whose bytes are not the piece's size;
 *   OA_ERANGE: piece at or beyond OA_META_MAX_PIECES, total_size not in
 *              1..OA_EXT_MAX_METADATA_SIZE or not reaching the piece;
 *   OA_ENOSYS: a msg_type we do not know: BEP 9 says to ignore it;
 *   OA_ENOMEM. */
int oa_meta_decode(const uint8_t *payload, size_t len, oa_meta_msg *msg, char *err,
                   size_t errlen);

/* ---- serving ------------------------------------------------------------ */

/* What one connection has been served, for a limit per connection that
 * stops a peer from draining our upload with metadata requests. The
 * caller owns it (zero it per connection); limit 0 means 4 times the
 * metadata's piece count (enough for a few restarts of a fetch). */
typedef struct oa_meta_server {
    uint32_t served;
    uint32_t limit;
    int refuse;     /* nonzero: reject every request (policy, e.g. a
                     * private torrent that must not spread its metadata) */
} oa_meta_server;

/* Answers a request: writes into a new malloc'd buffer (the caller frees
 * it) the payload of a data message carrying piece req->piece of info
 * (info_len bytes, the metadata we have), or of a reject when info is NULL
 * (we do not have the metadata yet), the piece is past the end, the
 * server refuses or its limit is reached. Returns OA_META_DATA or
 * OA_META_REJECT, telling which was written, or OA_EINVAL (req not a
 * request, its piece at or beyond OA_META_MAX_PIECES, info_len 0 or above
 * OA_EXT_MAX_METADATA_SIZE) or OA_ENOMEM. srv may be NULL: no limit. */
int oa_meta_serve(oa_meta_server *srv, const uint8_t *info, size_t info_len,
                  const oa_meta_msg *req, uint8_t **out, size_t *len);

/* ---- fetching ----------------------------------------------------------- */

/* A fetch learns the metadata size from the peers' handshakes: it fetches
 * the first size announced, and peers that announce another are not
 * asked, unless every peer of that size is gone or banned; the fetch then
 * starts over with the size most remaining peers announce (ties: the
 * older peer's). Pieces go one per request to the
 * least loaded peers in turn, at most max_per_peer at a time each. A
 * reject or a timeout puts the piece back and rests that peer for
 * backoff_ms. Once every piece is in, the SHA-1 of the whole is compared
 * with the info-hash:
 *   - a match: the bytes go to oa_metainfo_parse_info() and the fetch is
 *     done (oa_meta_fetch_result());
 *   - a mismatch: the copy is thrown away. The peers that sent its pieces
 *     become suspects (oa_meta_fetch_suspects()); if one peer sent all of
 *     it, that peer is banned. From then on the fetch takes every piece
 *     from one peer at a time, so that a second mismatch proves that
 *     peer's guilt (it is banned) and a match proves its innocence; the
 *     match also bans every suspect whose piece of the thrown-away copy
 *     differs from the verified one. So a liar is banned and honest
 *     peers never are.
 * A peer that answers with a piece of the wrong length or a total_size
 * other than its handshake's is banned at once. Banned peers are listed by
 * oa_meta_fetch_take_bans(); the caller disconnects them. */
typedef struct oa_meta_fetch oa_meta_fetch;

typedef struct oa_meta_fetch_config {
    uint64_t timeout_ms;   /* a request unanswered this long is given up; 0: 30000 */
    uint64_t backoff_ms;   /* rest after a reject or timeout; 0: 60000 */
    unsigned max_per_peer; /* requests outstanding per peer; 0: 2 */
} oa_meta_fetch_config;

/* One request to send: ut_metadata msg_type 0 for piece, to peer. */
typedef struct oa_meta_request {
    uint64_t peer;
    uint32_t piece;
} oa_meta_request;

/* One banned peer and why (static text). */
typedef struct oa_meta_ban {
    uint64_t peer;
    const char *why;
} oa_meta_ban;

/* Progress reported by oa_meta_fetch_on_data(). */
typedef enum oa_meta_status {
    OA_META_PENDING = 0,    /* stored (or ignored); more pieces to come */
    OA_META_DONE = 1,       /* verified: take it with oa_meta_fetch_result() */
    OA_META_HASH_FAILED = 2 /* complete but wrong: thrown away, refetching */
} oa_meta_status;

/* Starts fetching the metadata of info_hash; cfg NULL (or zero fields)
 * takes the defaults. The caller owns *out and releases it with
 * oa_meta_fetch_free(). Fails with OA_EINVAL or OA_ENOMEM. */
int oa_meta_fetch_new(const uint8_t info_hash[OA_SHA1_LEN], const oa_meta_fetch_config *cfg,
                      oa_meta_fetch **out);

/* Releases a fetch and everything it holds, a result not taken included;
 * NULL is allowed. */
void oa_meta_fetch_free(oa_meta_fetch *f);

/* Adds a peer under the caller's id, or updates it after a new
 * handshake, with the metadata_size it announced (0: it has none and is
 * not asked). Requests it had outstanding are dropped when its size
 * changes. Fails with OA_EACCES for a banned peer, OA_ERANGE for a size
 * above OA_EXT_MAX_METADATA_SIZE, OA_ENOMEM. */
int oa_meta_fetch_peer(oa_meta_fetch *f, uint64_t peer, uint64_t metadata_size);

/* Forgets a peer that disconnected; its outstanding requests go back to
 * be asked of others. A banned peer stays banned. */
void oa_meta_fetch_peer_gone(oa_meta_fetch *f, uint64_t peer);

/* Picks the next request to send at time now_ms: returns 1 with *req
 * filled (and counts it as sent), 0 when nothing is to be sent now (all
 * asked, or no peer free), OA_EINVAL. Call it until it returns 0. It
 * first gives up requests that timed out, as oa_meta_fetch_expire(). */
int oa_meta_fetch_next(oa_meta_fetch *f, uint64_t now_ms, oa_meta_request *req);

/* Gives up requests older than the timeout at now_ms: their pieces go
 * back to be asked again, their peers rest. Returns how many. */
size_t oa_meta_fetch_expire(oa_meta_fetch *f, uint64_t now_ms);

/* Takes a decoded data message from peer. Returns an oa_meta_status, or:
 *   OA_EPROTO: the peer broke BEP 9 (a wrong length or total_size); it is
 *              banned (see oa_meta_fetch_take_bans());
 *   OA_ENOENT: an unknown peer; OA_EACCES: a banned one (ignored);
 *   OA_EINVAL: msg is not a data message; OA_ENOMEM.
 * Data for a piece already in, or from a peer whose metadata size is not
 * the one being fetched, or not asked of it while fetching from one peer
 * at a time, is ignored (OA_META_PENDING). After OA_META_DONE every call
 * returns OA_META_DONE. */
int oa_meta_fetch_on_data(oa_meta_fetch *f, uint64_t peer, const oa_meta_msg *msg);

/* Takes a reject of piece from peer: the piece goes back to be asked of
 * another peer and this one rests. Returns 0, OA_ENOENT for an unknown
 * peer, OA_ESTATE when that piece was not asked of it (ignored). */
int oa_meta_fetch_on_reject(oa_meta_fetch *f, uint64_t peer, uint32_t piece, uint64_t now_ms);

/* Moves up to cap bans made since the last call into bans and returns
 * how many; call again while it returns cap. */
size_t oa_meta_fetch_take_bans(oa_meta_fetch *f, oa_meta_ban *bans, size_t cap);

/* Stores up to cap ids of the peers that sent the pieces of the copy
 * thrown away last (none before a mismatch) and returns their number. */
size_t oa_meta_fetch_suspects(const oa_meta_fetch *f, uint64_t *ids, size_t cap);

/* Returns the size being fetched (0: none known yet) and stores in *have
 * and *total (either may be NULL) the pieces in and the pieces in all. */
uint64_t oa_meta_fetch_progress(const oa_meta_fetch *f, uint32_t *have, uint32_t *total);

/* Hands over the result once on_data returned OA_META_DONE: 0 with *out
 * (the caller frees it with oa_metainfo_free(); its info holds the
 * metadata bytes to serve), or the parse error of metadata that matched
 * the info-hash but is not a valid info dictionary (OA_EPROTO, OA_ERANGE,
 * OA_ENOSYS with the sentence in err): the torrent itself is bad.
 * OA_ESTATE before the fetch is done or once the result was taken. */
int oa_meta_fetch_result(oa_meta_fetch *f, oa_metainfo **out, char *err, size_t errlen);

#endif

/*
 * BEP 11 ut_pex: peer exchange. Every minute at most, each side tells the
 * other which peers it connected to ("added") and which it lost
 * ("dropped") since its last message, as compact addresses: 6 bytes for
 * IPv4 (address, port, network order) in added/dropped, 18 for IPv6 in
 * added6/dropped6, with one byte of flags per added peer in
 * added.f/added6.f.
 *
 * The limits agreed between clients: no more than 50 added and 50 dropped
 * peers in one message, IPv4 and IPv6 together, and no more than one
 * message a minute. The decoder keeps the first 50 of each and counts the
 * rest; it refuses a message that lists more than OA_PEX_REFUSE_ENTRIES
 * in all, which no client sends by mistake.
 *
 * The tracker remembers, per connection, what we told that peer, and
 * turns our current peer list into the next message for it.
 *
 * Pure: no sockets, no clock (the time comes in milliseconds), no
 * logging. Errors: 0 (or a documented count) or a negative OA_E* code.
 * Never send or accept ut_pex for a private torrent (BEP 27).
 */
#ifndef OA_SWARM_PEX_H
#define OA_SWARM_PEX_H

#include <openace/sdk.h>
#include <stddef.h>
#include <stdint.h>

#define OA_PEX_MAX_ADDED 50
#define OA_PEX_MAX_DROPPED 50
#define OA_PEX_REFUSE_ENTRIES 1000
/* Between two messages to one peer. */
#define OA_PEX_INTERVAL_MS 60000u
/* Between two messages from one peer, with the tolerance the clients
 * agreed on for one sent a little early. */
#define OA_PEX_MIN_RECEIVE_MS 45000u

/* Flags of an added peer (added.f, added6.f). */
#define OA_PEX_F_ENCRYPTION 0x01u /* prefers encryption */
#define OA_PEX_F_SEED 0x02u       /* seed or upload-only */
#define OA_PEX_F_UTP 0x04u        /* supports uTP */
#define OA_PEX_F_HOLEPUNCH 0x08u  /* supports ut_holepunch */
#define OA_PEX_F_OUTGOING 0x10u   /* the sender connected to it: it is reachable */

/* Fields a decode ignored (oa_pex_msg.ignored). */
#define OA_PEX_BAD_ADDED 0x01u    /* not a string of 6-byte entries */
#define OA_PEX_BAD_ADDED_F 0x02u  /* not one byte per added peer: flags taken as 0 */
#define OA_PEX_BAD_DROPPED 0x04u
#define OA_PEX_BAD_ADDED6 0x08u   /* not a string of 18-byte entries */
#define OA_PEX_BAD_ADDED6_F 0x10u
#define OA_PEX_BAD_DROPPED6 0x20u

/* One peer's address. */
typedef struct oa_pex_peer {
    uint8_t ip[16];   /* IPv4: the first 4 bytes, the others zero */
    uint8_t v6;       /* 1: IPv6, 0: IPv4 */
    uint8_t flags;    /* OA_PEX_F_*; only added peers carry them */
    uint16_t port;    /* host order; never 0 */
} oa_pex_peer;

/* One message, IPv4 and IPv6 peers in the same lists. */
typedef struct oa_pex_msg {
    oa_pex_peer added[OA_PEX_MAX_ADDED];
    size_t added_count;
    oa_pex_peer dropped[OA_PEX_MAX_DROPPED];
    size_t dropped_count;
    size_t truncated; /* decode: entries past the limits, left out */
    size_t invalid;   /* decode: entries with port 0, left out */
    unsigned ignored; /* decode: OA_PEX_BAD_* of fields left out */
} oa_pex_msg;

/* What we told one peer, and when. The caller owns the struct (embed it
 * in the connection); the tracker owns told, released by
 * oa_pex_tracker_free(). Fields are private. */
typedef struct oa_pex_tracker {
    oa_pex_peer *told; /* sorted by address */
    size_t told_count;
    size_t told_cap;
    uint64_t last_sent_ms;
    uint64_t last_received_ms;
    int sent;          /* a message went out */
    int received;      /* a message came in */
} oa_pex_tracker;

/* Fills p with an IPv4 (4 bytes) or IPv6 (16 bytes) address. Returns 0,
 * or OA_EINVAL for another length or port 0. */
int oa_pex_peer_set(oa_pex_peer *p, const uint8_t *ip, size_t ip_len, uint16_t port,
                    uint8_t flags);

/* Orders two peers by family, address and port (flags do not count);
 * returns <0, 0 or >0 like memcmp. */
int oa_pex_peer_cmp(const oa_pex_peer *a, const oa_pex_peer *b);

/* Writes msg as a ut_pex payload into a new malloc'd buffer the caller
 * frees. All six keys are written, empty when there is nothing for them:
 *   d5:added<6n>7:added.f<n>6:added6<18m>8:added6.f<m>
 *     7:dropped<6k>8:dropped6<18l>e
 * Fails with OA_ERANGE for more than 50 added or dropped, OA_EINVAL for a
 * port of 0, OA_ENOMEM. */
int oa_pex_encode(const oa_pex_msg *msg, uint8_t **out, size_t *len);

/* Decodes a ut_pex payload into *msg. A field of the wrong type or of a
 * length that is not a whole number of entries is left out, with its
 * OA_PEX_BAD_* bit in msg->ignored and a sentence in err; the call still
 * returns 0, since the rest of the message is good. Fails, with *msg
 * zeroed, with OA_EPROTO for bytes that are not one bencoded dictionary,
 * OA_ERANGE for more than OA_PEX_REFUSE_ENTRIES entries in all, and
 * OA_ENOMEM. */
int oa_pex_decode(const uint8_t *payload, size_t len, oa_pex_msg *msg, char *err, size_t errlen);

/* ---- the per-peer tracker ----------------------------------------------- */

/* Makes a tracker that told nothing yet. */
void oa_pex_tracker_init(oa_pex_tracker *t);

/* Releases what the tracker holds; it may be initialized again. */
void oa_pex_tracker_free(oa_pex_tracker *t);

/* Works out the next message to this peer at time now_ms, from the count
 * peers we are connected to now (leave this peer itself out; duplicates
 * and port-0 entries are skipped). Returns 1 with *out filled when a
 * message is due: the peers connected that we did not tell it about
 * (added, with their flags) and those we told it about that are gone
 * (dropped), 50 of each at most, the rest left for later messages. The
 * tracker then counts it as sent at now_ms. Returns 0 when there is no
 * change to tell or the last message went out less than
 * OA_PEX_INTERVAL_MS ago, OA_EINVAL, or OA_ENOMEM (the tracker
 * unchanged). */
int oa_pex_tracker_next(oa_pex_tracker *t, const oa_pex_peer *peers, size_t count,
                        uint64_t now_ms, oa_pex_msg *out);

/* Notes a message received from this peer at now_ms. Returns 0, or
 * OA_EBUSY when its previous one came less than OA_PEX_MIN_RECEIVE_MS
 * ago: a peer that floods; the caller ignores the message. */
int oa_pex_tracker_received(oa_pex_tracker *t, uint64_t now_ms);

#endif

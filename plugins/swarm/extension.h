/*
 * The BEP 10 extension protocol: the extended handshake (extended message
 * id 0) that each side sends once it has seen the reserved bit
 * (OA_WIRE_EXT_EXTENDED in wire.h), and the ids extended messages use.
 *
 * Each side names the extensions it takes in the handshake's "m"
 * dictionary, mapping a name to the extended message id it wants to
 * receive that extension's messages under; 0 means disabled. So there are
 * two id spaces per connection:
 *   - ours: what we announced. A peer sends us ut_metadata under our id,
 *     and oa_ext_dispatch() turns an incoming id into an extension;
 *   - theirs: what the peer announced. We send it ut_metadata under its
 *     id, which oa_ext_peer_id() looks up in the per-peer table.
 * A later handshake may change some ids: "m" is additive (BEP 10), so a
 * name it leaves out keeps its id, and a name set to 0 is disabled.
 *
 * Our ids are fixed: ut_metadata (BEP 9) 1, ut_pex (BEP 11) 2, and 3 is
 * kept for "oa_live", OpenAce's live stream extension, announced only when
 * enabled.
 *
 * Pure: bytes in, structs out, and back; no logging, no loop, no global
 * state. Errors: 0 or a negative OA_E* code, with a sentence in err.
 */
#ifndef OA_SWARM_EXTENSION_H
#define OA_SWARM_EXTENSION_H

#include <openace/sdk.h>
#include <stddef.h>
#include <stdint.h>

/* The client name we announce in "v" unless the caller gives another. */
#define OA_EXT_CLIENT_NAME "OpenAce 0.1"
/* The largest metadata (info dictionary) we accept or announce: a peer
 * that claims more is refused. 16 MiB is 1024 pieces of 16 KiB. */
#define OA_EXT_MAX_METADATA_SIZE ((uint64_t)16 * 1024 * 1024)
/* "reqq": the default when a peer does not say (BEP 10 cites libtorrent's
 * 250), and the most we believe. */
#define OA_EXT_DEFAULT_REQQ 250u
#define OA_EXT_MAX_REQQ 4096u
/* Bytes of the peer's "v" kept, with the terminating NUL. */
#define OA_EXT_CLIENT_MAX 64
/* Longest handshake payload we parse (the wire allows 64 KiB). */
#define OA_EXT_MAX_HANDSHAKE 16384u

/* Extensions, and our extended message id for each: the value is the id. */
typedef enum oa_ext_kind {
    OA_EXT_HANDSHAKE = 0,   /* extended id 0: the extension handshake itself */
    OA_EXT_UT_METADATA = 1, /* BEP 9: metadata from peers, for magnet links */
    OA_EXT_UT_PEX = 2,      /* BEP 11: peer exchange */
    OA_EXT_OA_LIVE = 3,     /* reserved: OpenAce live streams */
    OA_EXT_UNKNOWN = 4      /* an id we did not announce */
} oa_ext_kind;

/* Number of slots in the id tables below (index = kind, 0 unused). */
#define OA_EXT_SLOTS 4
/* A bit per kind, for oa_ext_local.enabled and the present masks. */
#define OA_EXT_BIT(kind) (1u << (unsigned)(kind))
#define OA_EXT_DEFAULT_ENABLED (OA_EXT_BIT(OA_EXT_UT_METADATA) | OA_EXT_BIT(OA_EXT_UT_PEX))

/* Keys of a parsed handshake, for oa_ext_handshake.present. */
#define OA_EXT_HAS_M 0x01u             /* "m" was a dictionary */
#define OA_EXT_HAS_PORT 0x02u          /* "p" */
#define OA_EXT_HAS_CLIENT 0x04u        /* "v" */
#define OA_EXT_HAS_REQQ 0x08u          /* "reqq" */
#define OA_EXT_HAS_METADATA_SIZE 0x10u /* "metadata_size" */
#define OA_EXT_HAS_YOURIP 0x20u        /* "yourip" */
#define OA_EXT_HAS_IPV4 0x40u          /* "ipv4" */
#define OA_EXT_HAS_IPV6 0x80u          /* "ipv6" */

/* What we announce. The caller owns the struct and the client string. */
typedef struct oa_ext_local {
    unsigned enabled;       /* OA_EXT_BIT() of each extension we take; clear
                             * ut_pex for a private torrent (BEP 27) */
    uint16_t port;          /* "p": our TCP listen port; 0: not sent */
    const char *client;     /* "v"; NULL: OA_EXT_CLIENT_NAME */
    uint32_t reqq;          /* "reqq"; 0: not sent */
    uint64_t metadata_size; /* "metadata_size": the info dictionary's size
                             * when we have it; 0 (a magnet download): not sent */
    uint8_t yourip[16];     /* "yourip": the peer's address as we see it */
    uint8_t yourip_len;     /* 0 (not sent), 4 or 16 */
} oa_ext_local;

/* One extension handshake as received. Only what was present and valid is
 * set; present says which keys those were. */
typedef struct oa_ext_handshake {
    unsigned present;                /* OA_EXT_HAS_* */
    unsigned m_present;              /* OA_EXT_BIT() of each known name in "m" */
    uint8_t ids[OA_EXT_SLOTS];       /* their id per kind, when in m_present */
    uint16_t port;                   /* 1..65535 */
    uint32_t reqq;                   /* 1..OA_EXT_MAX_REQQ (larger is clamped) */
    uint64_t metadata_size;          /* 1..OA_EXT_MAX_METADATA_SIZE */
    char client[OA_EXT_CLIENT_MAX];  /* "v", sanitized (oa_ext_sanitize_client) */
    uint8_t yourip[16];              /* our address as the peer sees it */
    uint8_t yourip_len;              /* 4 or 16 */
    uint8_t ipv4[4];                 /* the peer's own addresses */
    uint8_t ipv6[16];
} oa_ext_handshake;

/* What we know of one peer's extensions, merged over its handshakes. The
 * caller owns it (embed it in the connection); nothing inside is
 * allocated. */
typedef struct oa_ext_peer {
    unsigned handshakes;            /* received so far; 0: none yet */
    uint8_t ids[OA_EXT_SLOTS];      /* their id per kind; 0: they do not take it */
    uint16_t port;                  /* 0: not given */
    uint32_t reqq;                  /* OA_EXT_DEFAULT_REQQ until they say */
    uint64_t metadata_size;         /* 0: they have no metadata or did not say */
    char client[OA_EXT_CLIENT_MAX]; /* "" until they say */
    uint8_t yourip[16];
    uint8_t yourip_len;             /* 0: not given */
} oa_ext_peer;

/* ---- names and ids ------------------------------------------------------ */

/* Returns the name an extension goes by in "m" ("ut_metadata", "ut_pex",
 * "oa_live"), "handshake" for OA_EXT_HANDSHAKE and "unknown" otherwise.
 * Static text. */
const char *oa_ext_kind_name(oa_ext_kind kind);

/* Returns the extension named by the n bytes at name, or OA_EXT_UNKNOWN
 * for a name we do not implement. */
oa_ext_kind oa_ext_kind_from_name(const void *name, size_t n);

/* Says which extension an incoming extended message is for: ext_id is
 * the id byte after message id 20, in our id space. Returns
 * OA_EXT_HANDSHAKE for 0, the extension for an id local announces as
 * enabled, and OA_EXT_UNKNOWN for anything else (ignore the message or
 * close, by policy). local NULL means the default set. */
oa_ext_kind oa_ext_dispatch(const oa_ext_local *local, uint8_t ext_id);

/* ---- our handshake ------------------------------------------------------ */

/* Fills local with the defaults: ut_metadata and ut_pex enabled, reqq
 * OA_EXT_DEFAULT_REQQ, our client name, nothing else. */
void oa_ext_local_init(oa_ext_local *local);

/* Writes our extension handshake payload (the bencoded dictionary that
 * follows extended id 0) into a new malloc'd buffer the caller frees:
 *   d 1:m d [6:oa_live i3e] [11:ut_metadata i1e] [6:ut_pex i2e] e
 *     [13:metadata_size i<n>e] [1:p i<port>e] [4:reqq i<n>e] 1:v <client>
 *     [6:yourip <4 or 16 bytes>] e
 * Disabled extensions are left out of "m". Fails with OA_EINVAL for a
 * yourip_len other than 0, 4 or 16, a metadata size above
 * OA_EXT_MAX_METADATA_SIZE or an enabled bit we do not know, and with
 * OA_ENOMEM. */
int oa_ext_handshake_build(const oa_ext_local *local, uint8_t **out, size_t *len);

/* ---- their handshake ---------------------------------------------------- */

/* Parses a peer's extension handshake payload (len bytes at payload, the
 * bencoded dictionary after extended id 0) into *hs. Unknown keys and
 * unknown names in "m" are ignored, and so are known keys whose value has
 * the wrong type or range (an id outside 0..255, a port of 0, a yourip
 * that is not 4 or 16 bytes); "reqq" above OA_EXT_MAX_REQQ is clamped and
 * "v" is sanitized. Fails, with *hs zeroed and a sentence in err, with
 * OA_EPROTO for bytes that are not one bencoded dictionary, OA_ERANGE for
 * a metadata_size that is not positive or above OA_EXT_MAX_METADATA_SIZE,
 * for a payload above OA_EXT_MAX_HANDSHAKE or for one too deeply nested,
 * and OA_ENOMEM. */
int oa_ext_handshake_parse(const uint8_t *payload, size_t len, oa_ext_handshake *hs, char *err,
                           size_t errlen);

/* Makes the table of a peer that has not sent a handshake: no extensions,
 * reqq OA_EXT_DEFAULT_REQQ. */
void oa_ext_peer_init(oa_ext_peer *peer);

/* Merges a parsed handshake into the peer's table: ids named in "m"
 * replace the old ones (0 disables), the others stay; every other key that
 * was present replaces its old value. */
void oa_ext_peer_apply(oa_ext_peer *peer, const oa_ext_handshake *hs);

/* Parses payload with oa_ext_handshake_parse() and merges it into peer;
 * on failure peer is unchanged. Errors as for the parse. */
int oa_ext_peer_receive(oa_ext_peer *peer, const uint8_t *payload, size_t len, char *err,
                        size_t errlen);

/* Returns the id to send an extension's messages to this peer under, or 0
 * when the peer does not take it (do not send). */
uint8_t oa_ext_peer_id(const oa_ext_peer *peer, oa_ext_kind kind);

/* Like oa_ext_peer_id() by name (n bytes); 0 for a name we do not know. */
uint8_t oa_ext_peer_id_by_name(const oa_ext_peer *peer, const void *name, size_t n);

/* Copies the n bytes of a client name into out (cap bytes, at least 1) as
 * printable text: valid UTF-8 is kept except control characters, any
 * other byte becomes '?', and the text is cut at a character boundary to
 * fit with its NUL. Returns the length written. */
size_t oa_ext_sanitize_client(const uint8_t *in, size_t n, char *out, size_t cap);

#endif

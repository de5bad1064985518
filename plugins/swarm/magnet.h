/*
 * Magnet links for BitTorrent v1 (BEP 9 link format):
 *
 *   magnet:?xt=urn:btih:<info-hash>&dn=<name>&tr=<tracker>&x.pe=<host:port>
 *
 * The info-hash is 40 hex digits (either case) or 32 base32 letters. Values
 * are percent-decoded; "+" in dn means a space. Parameters may repeat (tr,
 * x.pe) and may carry a numeric suffix ("tr.1"). A bare 40-digit hex
 * info-hash is accepted as a link with nothing but the hash.
 */
#ifndef OA_SWARM_MAGNET_H
#define OA_SWARM_MAGNET_H

#include <stddef.h>
#include <stdint.h>

#define OA_INFOHASH_LEN 20
#define OA_INFOHASH_HEX_LEN 40

/* A peer address from x.pe: host is a name, an IPv4 address or an IPv6
 * address without brackets. */
typedef struct oa_magnet_peer {
    char *host; /* owned by the magnet */
    uint16_t port;
} oa_magnet_peer;

/* A parsed link; everything it points to is owned by it and released by
 * oa_magnet_free(). */
typedef struct oa_magnet {
    uint8_t info_hash[OA_INFOHASH_LEN];
    char *name;       /* dn, decoded; NULL when absent */
    char **trackers;  /* tr, decoded, in link order, duplicates dropped */
    size_t tracker_count;
    oa_magnet_peer *peers; /* x.pe */
    size_t peer_count;
} oa_magnet;

/* Parses a magnet link or a bare 40-digit hex info-hash into a new magnet
 * stored in *out, which the caller releases with oa_magnet_free(). Unknown
 * parameters are ignored. Fails with OA_EINVAL for bad arguments, OA_EPROTO
 * for a malformed link (bad escape, bad hash, bad x.pe, no xt, two
 * different btih hashes), OA_ENOSYS for a link that names the content in
 * another way only (urn:btmh of BitTorrent v2, urn:sha1, ...), and
 * OA_ENOMEM; err (may be NULL) then holds a sentence saying why. */
int oa_magnet_parse(const char *link, oa_magnet **out, char *err, size_t errlen);

/* Releases a magnet and everything it owns; NULL is allowed. */
void oa_magnet_free(oa_magnet *m);

/* Writes a magnet link for info_hash with an optional name (NULL: no dn)
 * and count trackers, percent-encoding every value. The caller frees *out
 * with free(). Fails with OA_EINVAL or OA_ENOMEM. */
int oa_magnet_make(const uint8_t info_hash[OA_INFOHASH_LEN], const char *name,
                   const char *const *trackers, size_t count, char **out);

/* Decodes 40 hex digits (either case) at hex into 20 bytes. Returns 0 or
 * OA_EPROTO. */
int oa_infohash_from_hex(const char *hex, uint8_t out[OA_INFOHASH_LEN]);

/* Writes the 40 lowercase hex digits of info_hash and a NUL into out. */
void oa_infohash_to_hex(const uint8_t info_hash[OA_INFOHASH_LEN],
                        char out[OA_INFOHASH_HEX_LEN + 1]);

#endif

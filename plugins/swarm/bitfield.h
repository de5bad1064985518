/*
 * The pieces one side of a BitTorrent connection has (BEP 3): one bit per
 * piece, most significant bit of byte 0 first, as the bitfield message
 * carries them. The peer wire (wire.c) checks received bitfields with
 * oa_bitfield_check(); the piece picker (picker.c) does the same before it
 * counts a peer's pieces.
 *
 * Pure: no logging, no loop, no global state. One bitfield is used by one
 * thread at a time.
 *
 * Errors: functions return 0 for success and a negative OA_E* code from
 * <openace/sdk.h> for failure.
 */
#ifndef OA_SWARM_BITFIELD_H
#define OA_SWARM_BITFIELD_H

#include <openace/sdk.h>
#include <stddef.h>
#include <stdint.h>

/* The pieces one side has: bit i is piece i, most significant bit of byte 0
 * first (BEP 3). The caller owns the struct; bits is owned by the bitfield
 * and released by oa_bitfield_free(). Spare bits past count stay zero. */
typedef struct oa_bitfield {
    uint8_t *bits;  /* oa_bitfield_bytes(count) bytes; NULL when count is 0 */
    uint32_t count; /* pieces */
} oa_bitfield;

/* Returns the bytes a bitfield of count pieces takes: ceil(count / 8). */
size_t oa_bitfield_bytes(uint32_t count);

/* Makes a bitfield of count pieces, none of them set. Fails with OA_ENOMEM.
 * Release it with oa_bitfield_free(). */
int oa_bitfield_init(oa_bitfield *bf, uint32_t count);

/* Releases bf's bits and leaves it with no pieces. Safe to call twice. */
void oa_bitfield_free(oa_bitfield *bf);

/* Sets or clears piece index. OA_ERANGE when index is not below count. */
int oa_bitfield_set(oa_bitfield *bf, uint32_t index);
int oa_bitfield_clear(oa_bitfield *bf, uint32_t index);

/* Returns 1 when piece index is set, 0 when not or when index is out of
 * range. */
int oa_bitfield_get(const oa_bitfield *bf, uint32_t index);

/* Sets every piece (value nonzero, as after "have all") or none. */
void oa_bitfield_fill(oa_bitfield *bf, int value);

/* Returns how many pieces are set. */
uint32_t oa_bitfield_count(const oa_bitfield *bf);

/* Returns the first piece at or after from that is not set, or count when
 * every one from there on is. */
uint32_t oa_bitfield_first_missing(const oa_bitfield *bf, uint32_t from);

/* Returns the number of one bits in size raw bytes. */
uint64_t oa_bitfield_popcount(const uint8_t *bits, size_t size);

/* Checks raw bits received for count pieces: returns 0 when size is
 * oa_bitfield_bytes(count) and every spare bit after the last piece is zero,
 * OA_EPROTO when not (BEP 3: drop such a peer), OA_EINVAL for NULL bits with
 * size above 0. */
int oa_bitfield_check(const uint8_t *bits, size_t size, uint32_t count);

/* Replaces bf's pieces with raw bits received from a peer, after
 * oa_bitfield_check() against bf->count; bf is unchanged on failure. */
int oa_bitfield_load(oa_bitfield *bf, const uint8_t *bits, size_t size);

#endif

/* The bitfield of pieces a peer has (see bitfield.h). */
#include "bitfield.h"

#include <stdlib.h>
#include <string.h>

size_t oa_bitfield_bytes(uint32_t count)
{
    return ((size_t)count + 7) / 8;
}

int oa_bitfield_init(oa_bitfield *bf, uint32_t count)
{
    bf->bits = NULL;
    bf->count = 0;
    if (count > 0) {
        bf->bits = calloc(oa_bitfield_bytes(count), 1);
        if (bf->bits == NULL) {
            return OA_ENOMEM;
        }
    }
    bf->count = count;
    return 0;
}

void oa_bitfield_free(oa_bitfield *bf)
{
    free(bf->bits);
    bf->bits = NULL;
    bf->count = 0;
}

int oa_bitfield_set(oa_bitfield *bf, uint32_t index)
{
    if (index >= bf->count) {
        return OA_ERANGE;
    }
    bf->bits[index >> 3] |= (uint8_t)(0x80u >> (index & 7));
    return 0;
}

int oa_bitfield_clear(oa_bitfield *bf, uint32_t index)
{
    if (index >= bf->count) {
        return OA_ERANGE;
    }
    bf->bits[index >> 3] &= (uint8_t) ~(0x80u >> (index & 7));
    return 0;
}

int oa_bitfield_get(const oa_bitfield *bf, uint32_t index)
{
    if (index >= bf->count) {
        return 0;
    }
    return (bf->bits[index >> 3] >> (7 - (index & 7))) & 1;
}

void oa_bitfield_fill(oa_bitfield *bf, int value)
{
    size_t n = oa_bitfield_bytes(bf->count);

    if (n == 0) {
        return;
    }
    memset(bf->bits, value ? 0xFF : 0, n);
    if (value && (bf->count & 7) != 0) {
        bf->bits[n - 1] = (uint8_t)(0xFFu << (8 - (bf->count & 7)));
    }
}

uint64_t oa_bitfield_popcount(const uint8_t *bits, size_t size)
{
    uint64_t total = 0;
    size_t i = 0;
    uint64_t word;

    for (; i + 8 <= size; i += 8) {
        memcpy(&word, bits + i, 8);
        total += (uint64_t)__builtin_popcountll(word);
    }
    for (; i < size; i++) {
        total += (uint64_t)__builtin_popcount(bits[i]);
    }
    return total;
}

uint32_t oa_bitfield_count(const oa_bitfield *bf)
{
    return (uint32_t)oa_bitfield_popcount(bf->bits, oa_bitfield_bytes(bf->count));
}

uint32_t oa_bitfield_first_missing(const oa_bitfield *bf, uint32_t from)
{
    uint64_t i = from;
    uint8_t byte;

    while (i < bf->count) {
        byte = bf->bits[i >> 3];
        if ((i & 7) == 0 && byte == 0xFF) {
            i += 8;
            continue;
        }
        if (((byte >> (7 - (i & 7))) & 1) == 0) {
            return (uint32_t)i;
        }
        i++;
    }
    return bf->count;
}

int oa_bitfield_check(const uint8_t *bits, size_t size, uint32_t count)
{
    unsigned spare = (unsigned)(oa_bitfield_bytes(count) * 8 - count);

    if (bits == NULL && size > 0) {
        return OA_EINVAL;
    }
    if (size != oa_bitfield_bytes(count)) {
        return OA_EPROTO;
    }
    if (spare > 0 && (bits[size - 1] & (uint8_t)((1u << spare) - 1)) != 0) {
        return OA_EPROTO;
    }
    return 0;
}

int oa_bitfield_load(oa_bitfield *bf, const uint8_t *bits, size_t size)
{
    int rc = oa_bitfield_check(bits, size, bf->count);

    if (rc < 0) {
        return rc;
    }
    if (size > 0) { /* bits is NULL for a bitfield of no pieces */
        memcpy(bf->bits, bits, size);
    }
    return 0;
}

/* The bitfield of pieces a peer has (plugins/swarm/bitfield.h): bit order
 * as BEP 3 sends it, set, clear, fill and counts, the first missing piece
 * from any start, and the size and spare-bit checks on bits from a peer,
 * including a bitfield of no pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "bitfield.h"

static void test_bitfield(void **state)
{
    static const uint8_t ones[9] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t raw[13];
    oa_bitfield bf;
    oa_bitfield none;

    (void)state;
    assert_int_equal(oa_bitfield_bytes(100), 13);
    assert_int_equal(oa_bitfield_init(&bf, 100), 0);
    assert_int_equal(oa_bitfield_count(&bf), 0);
    assert_int_equal(oa_bitfield_set(&bf, 0), 0);
    assert_int_equal(oa_bitfield_set(&bf, 7), 0);
    assert_int_equal(oa_bitfield_set(&bf, 8), 0);
    assert_int_equal(oa_bitfield_set(&bf, 99), 0);
    assert_int_equal(oa_bitfield_set(&bf, 100), OA_ERANGE);
    assert_int_equal(bf.bits[0], 0x81);
    assert_int_equal(bf.bits[1], 0x80);
    assert_int_equal(bf.bits[12], 0x10);
    assert_int_equal(oa_bitfield_get(&bf, 7), 1);
    assert_int_equal(oa_bitfield_get(&bf, 6), 0);
    assert_int_equal(oa_bitfield_get(&bf, 100), 0);
    assert_int_equal(oa_bitfield_count(&bf), 4);
    assert_int_equal(oa_bitfield_first_missing(&bf, 0), 1);
    assert_int_equal(oa_bitfield_first_missing(&bf, 7), 9);
    assert_int_equal(oa_bitfield_first_missing(&bf, 99), 100);
    assert_int_equal(oa_bitfield_first_missing(&bf, 5000), 100);
    assert_int_equal(oa_bitfield_check(bf.bits, 13, 100), 0);

    oa_bitfield_fill(&bf, 1);
    assert_int_equal(oa_bitfield_count(&bf), 100);
    assert_int_equal(bf.bits[12], 0xF0); /* spare bits stay zero */
    assert_int_equal(oa_bitfield_first_missing(&bf, 0), 100);
    assert_int_equal(oa_bitfield_clear(&bf, 64), 0);
    assert_int_equal(oa_bitfield_clear(&bf, 100), OA_ERANGE);
    assert_int_equal(oa_bitfield_first_missing(&bf, 0), 64);
    assert_int_equal(oa_bitfield_first_missing(&bf, 65), 100);
    bf.bits[1] = 0x3F; /* a full byte skipped from inside it lands right */
    assert_int_equal(oa_bitfield_first_missing(&bf, 3), 8);
    assert_int_equal(oa_bitfield_first_missing(&bf, 9), 9);
    bf.bits[1] = 0xFF;

    /* Spare bits and sizes of bits from a peer. */
    memcpy(raw, bf.bits, sizeof raw);
    raw[12] |= 0x01;
    assert_int_equal(oa_bitfield_check(raw, 13, 100), OA_EPROTO);
    assert_int_equal(oa_bitfield_load(&bf, raw, 13), OA_EPROTO);
    assert_int_equal(oa_bitfield_count(&bf), 99); /* unchanged */
    assert_int_equal(oa_bitfield_check(raw, 12, 96), 0); /* no spare bits at all */
    assert_int_equal(oa_bitfield_check(raw, 12, 100), OA_EPROTO);
    assert_int_equal(oa_bitfield_check(raw, 14, 100), OA_EPROTO);
    assert_int_equal(oa_bitfield_check(NULL, 1, 8), OA_EINVAL);
    memset(raw, 0, sizeof raw);
    raw[3] = 0x10;
    assert_int_equal(oa_bitfield_load(&bf, raw, 13), 0);
    assert_int_equal(oa_bitfield_count(&bf), 1);
    assert_int_equal(oa_bitfield_get(&bf, 27), 1);
    oa_bitfield_fill(&bf, 0);
    assert_int_equal(oa_bitfield_count(&bf), 0);
    oa_bitfield_free(&bf);
    oa_bitfield_free(&bf);

    assert_int_equal(oa_bitfield_popcount(ones, sizeof ones), 72);
    assert_int_equal(oa_bitfield_popcount(ones, 0), 0);
    assert_int_equal(oa_bitfield_init(&none, 0), 0);
    assert_null(none.bits);
    assert_int_equal(oa_bitfield_first_missing(&none, 0), 0);
    assert_int_equal(oa_bitfield_check(NULL, 0, 0), 0);
    oa_bitfield_fill(&none, 1);
    oa_bitfield_free(&none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bitfield),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

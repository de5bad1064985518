/* The picker's bookkeeping, recounted from its public view (see
 * picker_books.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "picker_books.h"

void oa_test_check_books(const oa_picker *pk, const oa_picker_peer *peers, size_t npeers)
{
    oa_picker_stats st;
    uint64_t unreq = 0;
    int count[64] = {0};

    assert_true(npeers <= 64);
    for (uint32_t p = 0; p < oa_picker_num_pieces(pk); p++) {
        for (uint32_t off = 0; off < oa_picker_piece_size(pk, p); off += OA_PICKER_BLOCK_SIZE) {
            oa_picker_peer h[OA_PICKER_MAX_HOLDERS];
            size_t nh = 0;
            int s = oa_picker_block_state(pk, p, off, h, OA_PICKER_MAX_HOLDERS, &nh);

            if (s == OA_PICKER_BLOCK_FREE && oa_picker_availability(pk, p) > 0)
                unreq++;
            for (size_t i = 0; i < nh; i++) {
                size_t j = 0;

                while (j < npeers && peers[j] != h[i])
                    j++;
                assert_true(j < npeers); /* no request held by a peer that left */
                count[j]++;
            }
        }
    }
    oa_picker_get_stats(pk, &st);
    assert_int_equal(st.unrequested, unreq);
    for (size_t j = 0; j < npeers; j++)
        assert_int_equal(oa_picker_peer_outstanding(pk, peers[j]), count[j]);
}

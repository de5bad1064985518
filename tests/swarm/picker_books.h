/* A check shared by the piece picker's tests (test_picker.c and
 * test_picker_random.c). */
#ifndef OA_TEST_PICKER_BOOKS_H
#define OA_TEST_PICKER_BOOKS_H

#include <stddef.h>

#include "picker.h"

/* Recounts from the public view what the picker keeps incrementally: the
 * unrequested blocks of missing, available pieces, and each peer's
 * outstanding requests. peers lists every connected peer (at most 64); a
 * request held by any other handle fails the test, as does any count that
 * differs. */
void oa_test_check_books(const oa_picker *pk, const oa_picker_peer *peers, size_t npeers);

#endif

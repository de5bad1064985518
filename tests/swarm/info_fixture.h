/* A bare info dictionary for the BEP 9 tests (test_metadata and
 * test_metadata_fetch). */
#ifndef OA_TEST_INFO_FIXTURE_H
#define OA_TEST_INFO_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

/* A valid single-file info dictionary with `pieces` piece hashes: about
 * 20 bytes a piece, so 2100 pieces make 3 metadata pieces. The hashes
 * match no data: only the dictionary's bytes matter to these tests. The
 * caller frees the result; *len gets its size. Fails the test on error. */
uint8_t *oa_test_make_info(size_t pieces, size_t *len);

#endif

#include "info_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "bencode.h"

uint8_t *oa_test_make_info(size_t pieces, size_t *len)
{
    uint8_t *hashes = malloc(pieces * 20);
    oa_benc_writer w;
    uint8_t *out = NULL;
    size_t i;

    assert_non_null(hashes);
    for (i = 0; i < pieces * 20; i++) {
        hashes[i] = (uint8_t)(i * 7 + 3);
    }
    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "length");
    oa_benc_put_int(&w, (int64_t)pieces * 16384);
    oa_benc_put_str(&w, "name");
    oa_benc_put_str(&w, "stream.ts");
    oa_benc_put_str(&w, "piece length");
    oa_benc_put_int(&w, 16384);
    oa_benc_put_str(&w, "pieces");
    oa_benc_put_bytes(&w, hashes, pieces * 20);
    oa_benc_end(&w);
    assert_int_equal(oa_benc_writer_finish(&w, &out, len), 0);
    free(hashes);
    return out;
}

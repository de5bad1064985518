/*
 * libFuzzer harness for the bencode decoder and encoder
 * (plugins/swarm/bencode.c, bencode_write.c).
 *
 * Build and run (clang only; see tests/swarm/CMakeLists.txt):
 *   CC=clang cmake -S . -B build-fuzz
 *   cmake --build build-fuzz --target fuzz_bencode
 *   build-fuzz/tests/fuzz_bencode -max_total_time=300
 *
 * Besides crashes and sanitizer reports it checks properties that hold for
 * every input: a failure comes with a sentence naming an offset; a decoded
 * tree re-encodes to bytes that decode strictly and re-encode to the same
 * bytes; and input accepted in strict mode is already canonical, so it
 * re-encodes to itself.
 */
#include "bencode.h"

#include <openace/sdk.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok) {
        abort();
    }
}

static void one(const uint8_t *data, size_t size, int strict, int trailing)
{
    oa_benc_opts opts;
    oa_benc_doc *doc = NULL;
    oa_benc_doc *again = NULL;
    uint8_t *enc = NULL;
    uint8_t *enc2 = NULL;
    size_t len = 0;
    size_t len2 = 0;
    size_t off;
    size_t span;
    char err[256];
    int rc;

    memset(&opts, 0, sizeof(opts));
    opts.strict = strict;
    opts.allow_trailing = trailing;
    opts.max_depth = 48;
    rc = oa_benc_decode(data, size, &opts, &doc, err, sizeof(err));
    if (rc != 0) {
        check(doc == NULL);
        check(strncmp(err, "bencode: ", 9) == 0 && strstr(err, " at offset ") != NULL);
        return;
    }
    oa_benc_span(doc, oa_benc_doc_root(doc), &off, &span);
    check(off == 0 && span == oa_benc_doc_consumed(doc));
    check(trailing || span == size);
    rc = oa_benc_encode(oa_benc_doc_root(doc), &enc, &len);
    if (rc == 0) {
        memset(&opts, 0, sizeof(opts));
        opts.strict = 1;
        opts.max_depth = 48;
        check(oa_benc_decode(enc, len, &opts, &again, err, sizeof(err)) == 0);
        check(oa_benc_encode(oa_benc_doc_root(again), &enc2, &len2) == 0);
        check(len2 == len && memcmp(enc, enc2, len) == 0);
        if (strict) {
            check(len == span && memcmp(enc, data, len) == 0);
        }
    } else {
        /* Only a lenient tree with a repeated key has no canonical form. */
        check(!strict && rc == OA_EINVAL);
    }
    free(enc);
    free(enc2);
    oa_benc_doc_free(again);
    oa_benc_doc_free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size, 0, 0);
    one(data, size, 1, 0);
    one(data, size, 0, 1);
    return 0;
}

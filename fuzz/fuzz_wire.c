/* libFuzzer harness for the peer wire decoder (plugins/swarm/wire.c, with
 * bitfield.c for its bitfield checks).
 *
 * Build and run (clang only; see tests/swarm/CMakeLists.txt, where CTest
 * also runs it for a fixed number of inputs as a smoke test):
 *   CC=clang cmake -S . -B build-fuzz
 *   cmake --build build-fuzz --target fuzz_wire
 *   build-fuzz/tests/fuzz_wire -max_total_time=300 fuzz-corpus/
 *
 * The first input byte chooses the decoder's settings (handshake first or
 * not, piece count, negotiated extensions, default or tiny limits), the
 * second how the rest is cut into chunks; the rest is the stream. Each chunk
 * is fed from its own exact-size heap copy, so reading past it is an ASan
 * error. Besides not crashing, the decoder must be exact: every message it
 * returns re-encodes to precisely the bytes it was decoded from, it returns
 * nothing but 0, 1 or OA_EPROTO, an OA_EPROTO comes with a sentence, and its
 * buffer never grows past the largest payload its limits allow. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bitfield.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t piece_counts[8] = {0, 1, 7, 8, 9, 100, 1000, 1u << 21};

/* The longest payload after the id that lim allows with pieces known. */
static size_t max_payload(const oa_wire_limits *lim, uint32_t pieces)
{
    size_t m = 8 + (size_t)lim->max_block;
    size_t bf = pieces > 0 ? oa_bitfield_bytes(pieces) : lim->max_bitfield;

    m = m > bf ? m : bf;
    m = m > 1 + (size_t)lim->max_extended ? m : 1 + (size_t)lim->max_extended;
    return m > lim->max_unknown ? m : lim->max_unknown;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    oa_wire_limits lim = {OA_WIRE_DEFAULT_MAX_BLOCK, OA_WIRE_DEFAULT_MAX_BITFIELD,
                          OA_WIRE_DEFAULT_MAX_EXTENDED, OA_WIRE_DEFAULT_MAX_UNKNOWN};
    oa_wire_decoder d;
    oa_wire_msg m;
    oa_wire_buf out;
    uint8_t cfg;
    uint32_t pieces;
    uint32_t cut_state;
    size_t pos = 0;
    size_t start = 0;
    size_t chunk;
    size_t off;
    size_t used;
    uint8_t *c;
    int rc = 0;

    if (size < 2) {
        return 0;
    }
    cfg = data[0];
    if (cfg & 0x80) {
        lim = (oa_wire_limits){64, 200, 32, 8};
    }
    pieces = piece_counts[(cfg >> 1) & 7];
    cut_state = data[1];
    data += 2;
    size -= 2;
    if (oa_wire_decoder_init(&d, &lim, (cfg & 1) ? OA_WIRE_DECODE_HANDSHAKE : 0) != 0) {
        abort();
    }
    if (oa_wire_decoder_set_piece_count(&d, pieces) != 0) {
        if (oa_bitfield_bytes(pieces) <= lim.max_bitfield) {
            abort();
        }
        pieces = 0;
    }
    oa_wire_decoder_set_extensions(&d, (cfg >> 4) & 7);
    oa_wire_buf_init(&out);
    while (pos < size && rc >= 0) {
        chunk = size - pos;
        if (cut_state != 0) {
            cut_state = cut_state * 1103515245u + 12345u;
            chunk = 1 + (cut_state >> 16) % 97;
            chunk = chunk < size - pos ? chunk : size - pos;
        }
        c = malloc(chunk);
        if (c == NULL) {
            abort();
        }
        memcpy(c, data + pos, chunk);
        off = 0;
        for (;;) {
            rc = oa_wire_decoder_next(&d, c + off, chunk - off, &used, &m);
            if (used > chunk - off) {
                abort();
            }
            off += used;
            if (rc <= 0) {
                break;
            }
            out.len = 0;
            if (oa_wire_buf_put(&out, &m) != 0 || out.len != pos + off - start ||
                memcmp(out.data, data + start, out.len) != 0) {
                abort(); /* the decoder returned something other than what it read */
            }
            start = pos + off;
        }
        free(c);
        if (rc != 0 && rc != OA_EPROTO) {
            abort();
        }
        if (rc == 0 && off != chunk) {
            abort();
        }
        if (d.buf_cap > max_payload(&lim, pieces)) {
            abort();
        }
        pos += chunk;
    }
    if (rc == OA_EPROTO && oa_wire_decoder_error(&d)[0] == '\0') {
        abort();
    }
    oa_wire_buf_free(&out);
    oa_wire_decoder_free(&d);
    return 0;
}

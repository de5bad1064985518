/*
 * Bencode (BEP 3): the encoding of .torrent files, tracker replies and the
 * extension messages of the peer wire.
 *
 * Decoding turns a byte buffer into a read-only tree held by one
 * oa_benc_doc. The document keeps its own copy of the input, so the caller's
 * buffer may go away right after oa_benc_decode() returns, and every node
 * remembers the exact bytes it was decoded from (oa_benc_span), which is what
 * an info-hash is computed over. The decoder never recurses, checks every
 * length against the bytes that are left before it allocates anything, and
 * stops at configurable limits on nesting depth and node count.
 *
 * Encoding goes the other way: oa_benc_encode() writes a tree back in
 * canonical form (dictionary keys sorted), and the oa_benc_writer builder
 * writes messages directly into a growable buffer.
 *
 * Errors: functions return 0 or a negative OA_E* code; decode failures also
 * write one sentence into err naming the byte offset, for example
 * "bencode: integer with leading zero at offset 17".
 */
#ifndef OA_SWARM_BENCODE_H
#define OA_SWARM_BENCODE_H

#include <stddef.h>
#include <stdint.h>

#define OA_BENC_DEFAULT_MAX_DEPTH 64
#define OA_BENC_DEFAULT_MAX_NODES ((size_t)1 << 20)
/* max_depth is clamped to this, so that encoding a tree may recurse. */
#define OA_BENC_DEPTH_CEILING 1024
/* Nesting a writer accepts; deeper begin calls set OA_ERANGE. */
#define OA_BENC_WRITER_MAX_DEPTH 32

typedef enum oa_benc_type {
    OA_BENC_INT = 1,   /* i<decimal>e, a signed 64-bit integer */
    OA_BENC_BYTES = 2, /* <length>:<bytes>, any bytes, not necessarily text */
    OA_BENC_LIST = 3,  /* l<values>e */
    OA_BENC_DICT = 4   /* d<byte-string key><value>...e */
} oa_benc_type;

/* Decoder settings. A zeroed struct (or a NULL pointer) means: depth 64,
 * 2^20 nodes, lenient key order, no trailing bytes. */
typedef struct oa_benc_opts {
    unsigned max_depth; /* 0: OA_BENC_DEFAULT_MAX_DEPTH; above the ceiling: clamped */
    size_t max_nodes;   /* 0: OA_BENC_DEFAULT_MAX_NODES; every value counts, keys too */
    /* Nonzero: dictionary keys must be in strictly increasing raw-byte order
     * (BEP 3), which rejects unsorted and duplicate keys. Zero (lenient):
     * both are accepted, and lookups return the first matching key. */
    int strict;
    /* Nonzero: the value may be followed by other bytes (a ut_metadata
     * message carries a piece after its dictionary); oa_benc_doc_consumed()
     * tells where the value ended. Zero: trailing bytes are an error. */
    int allow_trailing;
} oa_benc_opts;

typedef struct oa_benc_doc oa_benc_doc;
typedef struct oa_benc_node oa_benc_node;

/* Iterates over a list's items or a dictionary's pairs; see
 * oa_benc_iter_init(). The fields are private. */
typedef struct oa_benc_iter {
    const oa_benc_node *next;
    size_t left;
    int dict;
} oa_benc_iter;

/* A growable output buffer with a sticky error: after the first failure
 * every write is ignored and oa_benc_writer_finish() reports the error. The
 * caller owns the struct; the writer owns data until it is taken by
 * oa_benc_writer_finish() or released by oa_benc_writer_free(). */
/* One open container of a writer: dictionary or list, expecting a key,
 * and where the previous key is, to check key order. */
typedef struct oa_benc_wframe {
    uint8_t dict;
    uint8_t want_key;
    uint8_t has_key;
    size_t key_off;
    size_t key_len;
} oa_benc_wframe;

typedef struct oa_benc_writer {
    uint8_t *data;
    size_t len;
    size_t cap;
    int err; /* 0 or the first OA_E* code */
    unsigned depth;
    oa_benc_wframe open[OA_BENC_WRITER_MAX_DEPTH];
} oa_benc_writer;

/* ---- decoding ----------------------------------------------------------- */

/* Decodes the single bencoded value in buf[0..len) into a new document
 * stored in *out. The document holds a copy of the input, so buf is not
 * referenced after the call; the caller owns *out and releases it with
 * oa_benc_doc_free(). Fails with OA_EINVAL for bad arguments, OA_EPROTO for
 * malformed input (truncated, leading zeros, "-0", unsorted keys in strict
 * mode, trailing bytes), OA_ERANGE when a limit is crossed (depth, node
 * count, an integer outside int64) and OA_ENOMEM; on failure *out is NULL
 * and err (may be NULL) holds a sentence with the byte offset. */
int oa_benc_decode(const void *buf, size_t len, const oa_benc_opts *opts, oa_benc_doc **out,
                   char *err, size_t errlen);

/* Releases a document and every node in it; NULL is allowed. */
void oa_benc_doc_free(oa_benc_doc *doc);

/* Returns the root value of a document; owned by the document. */
const oa_benc_node *oa_benc_doc_root(const oa_benc_doc *doc);

/* Returns how many input bytes the root value took; with allow_trailing the
 * rest of the input follows at that offset. */
size_t oa_benc_doc_consumed(const oa_benc_doc *doc);

/* Returns where node was in the decoded input: its offset from the start
 * and the length of its whole encoding (for a dictionary, from 'd' to 'e'
 * inclusive). The info-hash is the SHA-1 of the info dictionary's span. */
void oa_benc_span(const oa_benc_doc *doc, const oa_benc_node *node, size_t *offset,
                  size_t *len);

/* Returns a pointer to node's original encoding (owned by the document) and
 * stores its length in *len. */
const uint8_t *oa_benc_raw(const oa_benc_node *node, size_t *len);

/* Returns the type of node, or 0 for NULL (a lookup that found nothing). */
oa_benc_type oa_benc_type_of(const oa_benc_node *node);

/* Stores an integer node's value in *v; OA_ETYPE for any other type. */
int oa_benc_int(const oa_benc_node *node, int64_t *v);

/* Stores a byte-string node's bytes (owned by the document, not
 * NUL-terminated) and length; OA_ETYPE for any other type. */
int oa_benc_bytes(const oa_benc_node *node, const uint8_t **p, size_t *len);

/* Returns 1 when node is a byte string equal to the C string s, else 0. */
int oa_benc_bytes_eq(const oa_benc_node *node, const char *s);

/* Returns the number of items in a list or pairs in a dictionary, and 0
 * for other types. */
size_t oa_benc_count(const oa_benc_node *node);

/* Starts iterating over a list or dictionary; for other types and NULL
 * the iteration is empty. */
void oa_benc_iter_init(oa_benc_iter *it, const oa_benc_node *node);

/* Steps the iteration: returns 1 and stores the next value in *val (and,
 * for a dictionary, its key in *key; key may be NULL), or returns 0 at the
 * end. The nodes are owned by the document. */
int oa_benc_iter_next(oa_benc_iter *it, const oa_benc_node **key, const oa_benc_node **val);

/* Returns a list's item at index i, or NULL when out of range or not a
 * list. It walks from the start: use an iterator to visit every item. */
const oa_benc_node *oa_benc_list_at(const oa_benc_node *list, size_t i);

/* Returns the value stored under key (keylen bytes) in dict, or NULL when
 * it is absent or dict is not a dictionary. */
const oa_benc_node *oa_benc_dict_getn(const oa_benc_node *dict, const void *key, size_t keylen);

/* Like oa_benc_dict_getn() for a NUL-terminated key. */
const oa_benc_node *oa_benc_dict_get(const oa_benc_node *dict, const char *key);

/* Typed lookups: store the value under key and return 0, OA_ENOENT when
 * the key is absent, or OA_ETYPE when its value has another type. */
int oa_benc_dict_int(const oa_benc_node *dict, const char *key, int64_t *v);
int oa_benc_dict_bytes(const oa_benc_node *dict, const char *key, const uint8_t **p,
                       size_t *len);

/* Typed lookups for containers: the value under key when it has that type,
 * else NULL. */
const oa_benc_node *oa_benc_dict_list(const oa_benc_node *dict, const char *key);
const oa_benc_node *oa_benc_dict_dict(const oa_benc_node *dict, const char *key);

/* ---- encoding ----------------------------------------------------------- */

/* Prepares an empty writer; it allocates on first write. */
void oa_benc_writer_init(oa_benc_writer *w);

/* Releases the writer's buffer; the struct may be initialized again. */
void oa_benc_writer_free(oa_benc_writer *w);

/* Opens a dictionary or a list; close it with oa_benc_end(). Inside a
 * dictionary, values alternate with byte-string keys, which must come in
 * strictly increasing order, else the writer fails with OA_EINVAL. */
void oa_benc_dict_begin(oa_benc_writer *w);
void oa_benc_list_begin(oa_benc_writer *w);
void oa_benc_end(oa_benc_writer *w);

/* Writes one value (or, where a dictionary expects one, a key). */
void oa_benc_put_int(oa_benc_writer *w, int64_t v);
void oa_benc_put_bytes(oa_benc_writer *w, const void *p, size_t len);
void oa_benc_put_str(oa_benc_writer *w, const char *s);

/* Writes len bytes that already are one complete bencoded value (such as
 * an info dictionary's original span), unchecked and as they are. */
void oa_benc_put_raw(oa_benc_writer *w, const void *p, size_t len);

/* Writes node and everything below it in canonical form: dictionary keys
 * sorted by raw bytes. A lenient tree with a duplicate key fails with
 * OA_EINVAL, since no canonical form exists for it. */
void oa_benc_put_node(oa_benc_writer *w, const oa_benc_node *node);

/* Ends writing: returns the sticky error, or OA_EINVAL when containers are
 * still open or nothing was written. On success the caller takes the
 * malloc'd bytes (*out, free() them) and their length, and the writer is
 * empty again; on failure the writer is freed and *out is NULL. */
int oa_benc_writer_finish(oa_benc_writer *w, uint8_t **out, size_t *len);

/* Encodes node canonically into a new malloc'd buffer the caller frees;
 * OA_EINVAL for a duplicate key, OA_ENOMEM. */
int oa_benc_encode(const oa_benc_node *node, uint8_t **out, size_t *len);

#endif

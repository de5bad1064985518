/*
 * What the files of livecore.h (livecore.c, livewire.c, livechat.c) share
 * inside the oa_swarm_core library; not part of the live contract.
 */
#ifndef OA_SWARM_LIVECORE_INT_H
#define OA_SWARM_LIVECORE_INT_H

#include "bencode.h"

#include <stddef.h>

/* Reads the fields of root, a decoded dictionary, into out. Returns 0 or a
 * negative OA_E* with a sentence in err. */
typedef int (*oa_lc_fields_fn)(const oa_benc_node *root, void *out, char *err, size_t errlen);

/* Decodes buf, a bencoded dictionary of 1..max bytes in canonical order
 * (strict), with at most max_depth levels and max_nodes values, and hands
 * its root to fields(root, out, err, errlen); the document is freed before
 * returning. Returns 0, fields's error, or OA_EPROTO with a sentence in err
 * that starts with prefix and calls the input "a <noun>". */
int oa_lc_decode_dict(const void *buf, size_t len, size_t max, int max_depth, int max_nodes,
                      const char *prefix, const char *noun, oa_lc_fields_fn fields, void *out,
                      char *err, size_t errlen);

#endif

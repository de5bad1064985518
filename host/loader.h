/* Loader: opens a plugin file with libltdl (RTLD_LOCAL), finds the entry
 * symbol and checks the descriptor. Handles are never closed while the host
 * runs; oa_loader_exit() closes all at process end. */
#ifndef OA_HOST_LOADER_H
#define OA_HOST_LOADER_H

#include <openace/sdk.h>
#include <stddef.h>

int oa_loader_init(void);
void oa_loader_exit(void);

/* Loads file and validates its descriptor. On success *desc points into the
 * loaded object and 0 is returned. On refusal returns a negative OA_E* code
 * and writes the reason (a sentence naming the file and what is wrong) into
 * err; *desc is set when the descriptor could be read (so its name is known)
 * and NULL otherwise. */
int oa_loader_load(const char *file, const oa_plugin_desc **desc, char *err, size_t errlen);

/* The descriptor checks alone (used for plugins linked into tests too). */
int oa_loader_check_desc(const oa_plugin_desc *d, char *err, size_t errlen);

/* Returns 1 if the descriptor is big enough to carry field at offset off. */
#define OA_DESC_HAS(d, field)                                                             \
    ((d)->struct_size >= offsetof(oa_plugin_desc, field) + sizeof((d)->field))

const char *oa_kind_name(oa_plugin_kind k);

#endif

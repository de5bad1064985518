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

/* Loads file in a forked child process and reports whether the host could
 * load it: a plugin whose library constructor crashes or hangs is refused
 * here instead of taking the host down. Returns 0 (and the plugin's name in
 * name), or a negative OA_E* code with the reason in err (name filled when
 * it was readable). timeout_ms bounds the child. Call it before threads
 * that hold locks exist (at start-up or from a command-line tool). */
int oa_loader_probe(const char *file, unsigned timeout_ms, char *name, size_t namelen, char *err,
                    size_t errlen);

/* How many probes this process has run (for tests and diagnostics). */
unsigned oa_loader_probe_count(void);

/* The descriptor checks alone (used for plugins linked into tests too). */
int oa_loader_check_desc(const oa_plugin_desc *d, char *err, size_t errlen);

/* Returns 1 if the descriptor is big enough to carry field at offset off. */
#define OA_DESC_HAS(d, field)                                                             \
    ((d)->struct_size >= offsetof(oa_plugin_desc, field) + sizeof((d)->field))

const char *oa_kind_name(oa_plugin_kind k);

#endif

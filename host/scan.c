/* Registry: the plugin directory scan. Each new or changed *.so file is
 * probed in a child process first (the verdict is cached in the store by
 * size, mtime and SDK version), then loaded and added to the registry; a
 * refused file is kept as rejected with its reason. */
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host.h"
#include "loader.h"
#include "plugin.h"
#include "registry_int.h"

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s);
    size_t b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int so_filter(const struct dirent *d)
{
    return d->d_name[0] != '.' && has_suffix(d->d_name, ".so");
}

#define PROBE_TIMEOUT_MS 10000

/* Decides whether a file may be loaded into this process. A file the store
 * has seen with the same size and mtime (and the same host SDK) reuses the
 * earlier verdict; a new or changed one is probed in a child process first.
 * Returns 0 to go ahead; otherwise the file has been recorded as rejected. */
static int probe_cached(oa_registry *reg, const char *path, const struct stat *st, int cache_ok,
                        char *why, size_t whylen)
{
    oa_store *store = reg->host != NULL ? reg->host->store : NULL;
    oa_plugin_row row;
    char name[65];
    int rc;

    if (store != NULL && cache_ok && oa_store_plugin_row_by_file(store, path, &row) == 0) {
        int same = row.mtime == (int64_t)st->st_mtime && row.size == (int64_t)st->st_size;
        /* Only verdicts about the file itself are reused: a duplicate name
         * depends on the other files present, so it is judged afresh. */
        int was_rejected = row.state != NULL && strcmp(row.state, "rejected") == 0 &&
                           (row.last_error == NULL ||
                            strncmp(row.last_error, "duplicate plugin name", 21) != 0);
        if (same && was_rejected) {
            snprintf(why, whylen, "%s", row.last_error ? row.last_error : "rejected earlier");
            oa_registry_add_rejected(reg, path, row.name, why);
        }
        oa_store_plugin_row_free(&row);
        if (same) {
            return was_rejected ? OA_EINVAL : 0;
        }
    }
    rc = oa_loader_probe(path, PROBE_TIMEOUT_MS, name, sizeof(name), why, whylen);
    if (rc != 0) {
        oa_registry_add_rejected(reg, path, name[0] ? name : NULL, why);
    }
    return rc;
}

int oa_registry_scan(oa_registry *reg, const char *dir, char *err, size_t errlen)
{
    struct dirent **names = NULL;
    int count = scandir(dir, &names, so_filter, alphasort);
    int added = 0;
    int cache_ok = 0;
    char *sdk = NULL;
    char host_sdk[32];

    /* Cached verdicts hold only for the SDK version that made them. */
    snprintf(host_sdk, sizeof(host_sdk), "%d.%d", OA_SDK_MAJOR, OA_SDK_MINOR);
    if (reg->host != NULL && reg->host->store != NULL) {
        if (oa_store_kv_get(reg->host->store, "host", "probe_sdk", &sdk, NULL) == 0) {
            cache_ok = strcmp(sdk, host_sdk) == 0;
        }
        free(sdk);
        if (!cache_ok) {
            oa_store_kv_set(reg->host->store, "host", "probe_sdk", host_sdk, strlen(host_sdk));
        }
    }

    if (count < 0) {
        snprintf(err, errlen, "cannot read plugin directory %s: %s", dir, strerror(errno));
        return OA_EIO;
    }
    for (int i = 0; i < count; i++) {
        char path[4096];
        char why[512];
        const oa_plugin_desc *desc = NULL;
        struct stat st;
        int known = 0;
        int rc;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        free(names[i]);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        for (size_t j = 0; j < reg->n; j++) {
            if (reg->v[j]->file != NULL && strcmp(reg->v[j]->file, path) == 0) {
                known = 1;
            }
        }
        if (known) {
            /* A loaded file is never unloaded while the host runs; a changed
             * one is picked up at the next start. */
            continue;
        }
        rc = probe_cached(reg, path, &st, cache_ok, why, sizeof(why));
        if (rc != 0) {
            continue;
        }
        rc = oa_loader_load(path, &desc, why, sizeof(why));
        if (rc != 0) {
            oa_registry_add_rejected(reg, path, desc ? desc->name : NULL, why);
            continue;
        }
        if (oa_registry_add(reg, path, desc, why, sizeof(why)) == 0) {
            added++;
        }
    }
    free(names);
    if (reg->host != NULL && reg->host->store != NULL) {
        const char **keep = calloc(reg->n + 1, sizeof(*keep));
        size_t nk = 0;
        if (keep != NULL) {
            for (size_t j = 0; j < reg->n; j++) {
                if (reg->v[j]->file != NULL) {
                    keep[nk++] = reg->v[j]->file;
                }
            }
            oa_store_plugin_rows_prune(reg->host->store, keep, nk);
            free(keep);
        }
    }
    oa_registry_resolve(reg);
    return added;
}

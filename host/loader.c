/* Loader: opens plugin files with libltdl and checks their descriptors. */
#include "loader.h"

#include <ltdl.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

static int loader_ready;

int oa_loader_init(void)
{
    if (loader_ready) {
        return 0;
    }
    if (lt_dlinit() != 0) {
        return OA_EIO;
    }
    loader_ready = 1;
    return 0;
}

void oa_loader_exit(void)
{
    if (loader_ready) {
        lt_dlexit();
        loader_ready = 0;
    }
}

const char *oa_kind_name(oa_plugin_kind k)
{
    switch (k) {
    case OA_KIND_TRANSPORT: return "transport";
    case OA_KIND_ENGINE: return "engine";
    case OA_KIND_HWACCEL: return "hwaccel";
    case OA_KIND_CODEC: return "codec";
    }
    return "unknown";
}

static int name_valid(const char *s)
{
    size_t n = 0;
    if (s == NULL || *s == '\0') {
        return 0;
    }
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok || n >= 64) {
            return 0;
        }
    }
    return 1;
}

static int list_valid(const char *const *list, const char *what, const char *plugin, char *err,
                      size_t errlen)
{
    if (list == NULL) {
        return 0;
    }
    for (size_t i = 0; list[i] != NULL; i++) {
        if (!name_valid(list[i])) {
            snprintf(err, errlen, "plugin '%s' has an invalid %s entry '%s' (use [a-z0-9_-])",
                     plugin, what, list[i]);
            return OA_EINVAL;
        }
        if (i >= 64) {
            snprintf(err, errlen, "plugin '%s' lists more than 64 %s entries", plugin, what);
            return OA_EINVAL;
        }
    }
    return 0;
}

int oa_loader_check_desc(const oa_plugin_desc *d, char *err, size_t errlen)
{
    int rc;
    char cerr[256];

    if (d == NULL) {
        snprintf(err, errlen, "oa_plugin_entry() returned NULL instead of a descriptor");
        return OA_EINVAL;
    }
    if (d->sdk_major != OA_SDK_MAJOR) {
        snprintf(err, errlen,
                 "built for SDK %u.%u, but this host provides SDK %d.%d (major versions must "
                 "match); rebuild the plugin against SDK %d.x",
                 d->sdk_major, d->sdk_minor, OA_SDK_MAJOR, OA_SDK_MINOR, OA_SDK_MAJOR);
        return OA_EVERSION;
    }
    if (d->sdk_minor > OA_SDK_MINOR) {
        snprintf(err, errlen,
                 "built for SDK %u.%u, newer than this host's SDK %d.%d; upgrade openace or "
                 "rebuild the plugin against SDK %d.%d",
                 d->sdk_major, d->sdk_minor, OA_SDK_MAJOR, OA_SDK_MINOR, OA_SDK_MAJOR,
                 OA_SDK_MINOR);
        return OA_EVERSION;
    }
    if (d->struct_size < OA_PLUGIN_DESC_MIN_SIZE) {
        snprintf(err, errlen,
                 "descriptor is %u bytes, smaller than the %zu bytes SDK %d.0 requires; use "
                 "OA_PLUGIN_HEADER to fill it",
                 d->struct_size, (size_t)OA_PLUGIN_DESC_MIN_SIZE, OA_SDK_MAJOR);
        return OA_EINVAL;
    }
    if (!name_valid(d->name)) {
        snprintf(err, errlen, "descriptor name %s%s%s is not valid (1 to 64 of [a-z0-9_-])",
                 d->name ? "'" : "", d->name ? d->name : "(null)", d->name ? "'" : "");
        return OA_EINVAL;
    }
    if (d->version == NULL || *d->version == '\0') {
        snprintf(err, errlen, "plugin '%s' has no version string", d->name);
        return OA_EINVAL;
    }
    if (d->kind < OA_KIND_TRANSPORT || d->kind > OA_KIND_CODEC) {
        snprintf(err, errlen, "plugin '%s' has an unknown kind %d", d->name, (int)d->kind);
        return OA_EINVAL;
    }
    if (d->init == NULL || d->start == NULL || d->stop == NULL || d->destroy == NULL) {
        snprintf(err, errlen, "plugin '%s' lacks the mandatory %s callback", d->name,
                 d->init == NULL    ? "init"
                 : d->start == NULL ? "start"
                 : d->stop == NULL  ? "stop"
                                    : "destroy");
        return OA_EINVAL;
    }
    rc = list_valid(d->requires, "requires", d->name, err, errlen);
    if (rc != 0) {
        return rc;
    }
    rc = list_valid(d->provides, "provides", d->name, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (oa_config_check_schema(d->config, cerr, sizeof(cerr)) != 0) {
        snprintf(err, errlen, "plugin '%s' has a bad config schema: %s", d->name, cerr);
        return OA_EINVAL;
    }
    return 0;
}

int oa_loader_load(const char *file, const oa_plugin_desc **desc, char *err, size_t errlen)
{
    lt_dladvise advise;
    lt_dlhandle handle = NULL;
    oa_plugin_entry_fn entry;
    const oa_plugin_desc *d;
    int rc;

    *desc = NULL;
    rc = oa_loader_init();
    if (rc != 0) {
        snprintf(err, errlen, "cannot initialise libltdl: %s", lt_dlerror());
        return rc;
    }
    if (lt_dladvise_init(&advise) != 0) {
        snprintf(err, errlen, "cannot initialise libltdl: %s", lt_dlerror());
        return OA_ENOMEM;
    }
    /* RTLD_LOCAL: one plugin's symbols never resolve another's. Open the
     * exact file: no extension search, no library path. */
    lt_dladvise_local(&advise);
    handle = lt_dlopenadvise(file, advise);
    lt_dladvise_destroy(&advise);
    if (handle == NULL) {
        const char *why = lt_dlerror();
        snprintf(err, errlen, "cannot load: %s", why ? why : "unknown error");
        return OA_EIO;
    }
    entry = (oa_plugin_entry_fn)(uintptr_t)lt_dlsym(handle, OA_PLUGIN_ENTRY_SYMBOL);
    if (entry == NULL) {
        snprintf(err, errlen,
                 "no '%s' symbol: not an OpenAce plugin, or built without OA_PLUGIN_ENTRY",
                 OA_PLUGIN_ENTRY_SYMBOL);
        /* Never unloaded while the host runs (a foreign library's destructor
         * could run code we did not vet); released at oa_loader_exit. */
        return OA_EINVAL;
    }
    d = entry();
    rc = oa_loader_check_desc(d, err, errlen);
    if (rc != 0) {
        if (d != NULL && d->sdk_major == OA_SDK_MAJOR && d->struct_size >= OA_PLUGIN_DESC_MIN_SIZE &&
            name_valid(d->name)) {
            *desc = d;
        }
        return rc;
    }
    *desc = d;
    return 0;
}

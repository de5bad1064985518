/* Registry: the service registry. A plugin (or the host) registers a
 * versioned interface table under a name; others look it up by name and
 * minimum version. A service belongs to its owner and goes when the owner
 * stops. */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "plugin.h"
#include "registry_int.h"

int oa_registry_service_register(oa_registry *reg, oa_plugin *owner, const char *name,
                                 uint32_t version, const void *iface)
{
    if (name == NULL || *name == '\0' || strlen(name) > 64 || iface == NULL) {
        return OA_EINVAL;
    }
    if (*(const uint32_t *)iface < sizeof(uint32_t)) {
        return OA_EINVAL;
    }
    for (size_t i = 0; i < reg->nsvc; i++) {
        if (strcmp(reg->svc[i].name, name) == 0) {
            return OA_EEXIST;
        }
    }
    if (reg->nsvc == reg->capsvc) {
        size_t cap = reg->capsvc ? reg->capsvc * 2 : 8;
        oa_service *s = realloc(reg->svc, cap * sizeof(*s));
        if (s == NULL) {
            return OA_ENOMEM;
        }
        reg->svc = s;
        reg->capsvc = cap;
    }
    snprintf(reg->svc[reg->nsvc].name, sizeof(reg->svc[reg->nsvc].name), "%s", name);
    reg->svc[reg->nsvc].version = version;
    reg->svc[reg->nsvc].iface = iface;
    reg->svc[reg->nsvc].owner = owner;
    reg->nsvc++;
    oa_log_write(OA_LOG_DEBUG, "host", "service %s v%u registered by %s", name, version,
                 owner ? owner->name : "host");
    return 0;
}

int oa_registry_service_unregister(oa_registry *reg, oa_plugin *owner, const char *name)
{
    for (size_t i = 0; i < reg->nsvc; i++) {
        if (strcmp(reg->svc[i].name, name) == 0) {
            if (reg->svc[i].owner != owner) {
                return OA_EACCES;
            }
            reg->svc[i] = reg->svc[reg->nsvc - 1];
            reg->nsvc--;
            return 0;
        }
    }
    return OA_ENOENT;
}

const void *oa_registry_service_lookup(oa_registry *reg, const char *name, uint32_t min_version,
                                       uint32_t *version)
{
    for (size_t i = 0; name != NULL && i < reg->nsvc; i++) {
        if (strcmp(reg->svc[i].name, name) == 0 && reg->svc[i].version >= min_version) {
            if (version != NULL) {
                *version = reg->svc[i].version;
            }
            return reg->svc[i].iface;
        }
    }
    return NULL;
}

/* Drops every service p registered (p stopped, or failed to start). */
void reg_unregister_services(oa_registry *reg, oa_plugin *p)
{
    size_t k = 0;
    for (size_t i = 0; i < reg->nsvc; i++) {
        if (reg->svc[i].owner != p) {
            reg->svc[k++] = reg->svc[i];
        }
    }
    reg->nsvc = k;
}

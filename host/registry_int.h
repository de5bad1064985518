/* Registry internals shared by the registry's files: registry.c (records,
 * states, lifecycle), scan.c (directory scan and probe cache), deps.c
 * (dependencies and start order) and service.c (services). Not part of the
 * host's interface: everything else includes registry.h. Loop thread only. */
#ifndef OA_HOST_REGISTRY_INT_H
#define OA_HOST_REGISTRY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "host.h"
#include "plugin.h"
#include "registry.h"

typedef struct oa_service {
    char name[65];
    uint32_t version;
    const void *iface;
    oa_plugin *owner;
} oa_service;

struct oa_registry {
    oa_host *host;
    oa_plugin **v; /* every entry, in the order added */
    size_t n;
    size_t cap;
    oa_plugin **list; /* listing order: start order, then the rest */
    size_t nlist;
    oa_service *svc;
    size_t nsvc;
    size_t capsvc;
};

/* registry.c: whether p takes part in ordering and lifecycle at all (it has
 * a descriptor and was not rejected). */
int reg_usable(const oa_plugin *p);
/* registry.c: moves p to state s; a non-NULL reason is copied into
 * p->reason. Writes the row to the store when the host records live states,
 * then logs the change and publishes it on the bus as "plugin.state" (unless
 * the state is unchanged and reason is NULL). */
void reg_set_state(oa_registry *reg, oa_plugin *p, oa_plugin_state s, const char *reason);

/* deps.c: returns 1 when every requirement of p has a running provider;
 * otherwise writes why into buf (len bytes) and returns 0. */
int reg_deps_running(oa_registry *reg, oa_plugin *p, char *buf, size_t len);
/* deps.c: returns 1 when running plugin q would lose its last running
 * provider of some requirement if p stopped. */
int reg_depends_on(oa_registry *reg, oa_plugin *q, oa_plugin *p);

/* service.c: drops every service p registered (p stopped, or failed to
 * start). */
void reg_unregister_services(oa_registry *reg, oa_plugin *p);

#endif

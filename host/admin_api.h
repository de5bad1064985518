/* Admin API: the JSON routes of docs/admin-api.md (status, plugins and
 * their lifecycle, settings, commands, logs, audit, events over SSE and
 * Prometheus metrics) on the host's dispatcher. Authentication routes live
 * in auth.c. Loop thread only. */
#ifndef OA_HOST_ADMIN_API_H
#define OA_HOST_ADMIN_API_H

struct oa_host;

/* Registers every admin route on h->http, owned by the host (owner NULL),
 * each needing a login, and subscribes to host.stopping on h->bus, where
 * open event streams are ended and their clients freed. The routes use h's
 * registry, store, bus and loop while the host is open; they end with the
 * dispatcher (oa_http_close). Returns 0, OA_EINVAL when h has no
 * dispatcher or bus, or the first error oa_bus_subscribe or oa_http_route
 * reports (e.g. OA_EEXIST when a path is taken); what was added before a
 * failure stays until the host closes. */
int oa_admin_api_register(struct oa_host *h);

#endif

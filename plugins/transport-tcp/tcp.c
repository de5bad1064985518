/*
 * transport-tcp: TCP connections for the swarm, over libuv.
 *
 * It registers the service "transport.tcp" (sdk/include/openace/transport.h,
 * OA_TRANSPORT_VERSION) in start() and provides "transport". Users (the
 * swarm) require "transport", so they start after this plugin and stop
 * before it; they close their own connections and listeners in their stop().
 * What is still open when this plugin stops is closed then: connections with
 * OA_CLOSE_SHUTDOWN, connects in progress with OA_ECANCELED, all delivered
 * before stop() returns.
 *
 * Settings (README.md in this folder has the details):
 *   listen              the default listen address: "" = 0.0.0.0 and [::] on
 *                       the host's p2p port, or ip:port / [ipv6]:port
 *   auto_listen         bind it at start instead of when the swarm asks
 *   max_connections     open connections, both directions (live)
 *   connect_timeout_ms  default connect timeout (live)
 *   idle_timeout_s      close after this long without a byte; 0 = never (live)
 *
 * Commands: stats {} -> the counters and settings.
 */
#include "tcp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- settings ------------------------------------------------------------ */

static int read_int(tcp_plugin *p, const char *key, uint32_t *out)
{
    int64_t v = 0;
    int rc = p->api->config_get_int(p->self, key, &v);
    if (rc == 0) {
        *out = (uint32_t)v; /* the schema keeps it in range */
    }
    return rc;
}

static int read_settings(tcp_plugin *p)
{
    char *s = NULL;
    int rc = p->api->config_get(p->self, "listen", &s);
    if (rc != 0) {
        return rc;
    }
    snprintf(p->listen_addr, sizeof(p->listen_addr), "%s", s);
    p->api->free(s);
    rc = p->api->config_get_bool(p->self, "auto_listen", &p->auto_listen);
    if (rc == 0) {
        rc = read_int(p, "max_connections", &p->max_conns);
    }
    if (rc == 0) {
        rc = read_int(p, "connect_timeout_ms", &p->connect_timeout_ms);
    }
    if (rc == 0) {
        rc = read_int(p, "idle_timeout_s", &p->idle_timeout_s);
    }
    return rc;
}

/* ---- the idle sweep -------------------------------------------------------- */

static void on_idle_timer(void *arg, oa_timer *t)
{
    (void)t;
    tcp_conn_idle_sweep(arg);
}

/* One timer for every connection; it runs often enough to close an idle
 * connection within a quarter of the timeout (at most a second) after it
 * passed. */
static int start_idle_timer(tcp_plugin *p)
{
    uint64_t period;
    if (p->idle_timer != NULL) {
        p->api->timer_stop(p->idle_timer);
        p->idle_timer = NULL;
    }
    if (p->idle_timeout_s == 0) {
        return 0;
    }
    period = (uint64_t)p->idle_timeout_s * 250;
    if (period > 1000) {
        period = 1000;
    }
    return p->api->timer_start(p->self, period, period, on_idle_timer, p, &p->idle_timer);
}

/* ---- stats, health, commands ------------------------------------------------ */

static void fill_stats(const tcp_plugin *p, oa_transport_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->bytes_in = p->bytes_in;
    st->bytes_out = p->bytes_out;
    st->connections = p->n_open;
    st->listeners = p->n_listen_socks;
    st->accepted = p->accepted;
    st->refused = p->refused;
    st->connect_failures = p->connect_failures;
}

static void tcp_stats(void *instance, oa_transport_stats *st)
{
    oa_transport_stats full;
    size_t n;
    if (instance == NULL || st == NULL || st->size < sizeof(st->size)) {
        return;
    }
    /* Fill only what the caller's version of the struct holds. */
    n = st->size < sizeof(full) ? st->size : sizeof(full);
    fill_stats(instance, &full);
    full.size = (uint32_t)n;
    memcpy(st, &full, n);
}

static char *stats_json(tcp_plugin *p)
{
    char buf[512];
    oa_transport_stats st;
    fill_stats(p, &st);
    snprintf(buf, sizeof(buf),
             "{\"connections\":%u,\"connecting\":%u,\"listeners\":%u,\"accepted\":%llu,"
             "\"refused\":%llu,\"connect_failures\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
             "\"max_connections\":%u}",
             st.connections, p->n_connecting, st.listeners, (unsigned long long)st.accepted,
             (unsigned long long)st.refused, (unsigned long long)st.connect_failures,
             (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out, p->max_conns);
    return p->api->str_dup(buf);
}

static int tcp_health(void *state, char **detail)
{
    *detail = stats_json(state);
    return OA_HEALTH_OK;
}

static int tcp_command(void *state, const char *name, const char *args, char **out)
{
    (void)args;
    if (strcmp(name, "stats") == 0) {
        *out = stats_json(state);
        return *out != NULL ? 0 : OA_ENOMEM;
    }
    return OA_ENOTFOUND;
}

static int tcp_configure(void *state, const char *key, const char *value)
{
    tcp_plugin *p = state;
    (void)value;
    if (strcmp(key, "max_connections") == 0) {
        /* Connections already open over a lower cap stay open. */
        return read_int(p, key, &p->max_conns);
    }
    if (strcmp(key, "connect_timeout_ms") == 0) {
        return read_int(p, key, &p->connect_timeout_ms); /* for new connects */
    }
    if (strcmp(key, "idle_timeout_s") == 0) {
        int rc = read_int(p, key, &p->idle_timeout_s);
        return rc == 0 ? start_idle_timer(p) : rc;
    }
    return OA_ENOSYS;
}

/* ---- lifecycle ---------------------------------------------------------------- */

static int tcp_init(oa_plugin *self, const oa_host_api *api, void **state)
{
    tcp_plugin *p = calloc(1, sizeof(*p));
    int rc;
    if (p == NULL) {
        return OA_ENOMEM;
    }
    p->self = self;
    p->api = api;
    p->loop = api->loop(self);
    rc = read_settings(p);
    if (rc != 0) {
        api->set_error(self, "cannot read the settings: %s", oa_strerror(rc));
        free(p);
        return rc;
    }
    p->svc.size = (uint32_t)sizeof(p->svc);
    p->svc.name = "tcp";
    p->svc.instance = p;
    p->svc.listen = tcp_listen;
    p->svc.listen_close = tcp_listen_close;
    p->svc.listen_port = tcp_listen_port;
    tcp_conn_fill_api(&p->svc);
    p->svc.stats = tcp_stats;
    *state = p;
    return 0;
}

static int tcp_start(void *state)
{
    tcp_plugin *p = state;
    const char *port = p->api->host_option(p->self, "p2p_port");
    struct sockaddr_storage ss;
    char err[256];
    int rc;

    p->p2p_port = port != NULL ? atoi(port) : 8621;
    if (p->p2p_port <= 0 || p->p2p_port > 65535) {
        p->api->set_error(p->self, "the host's p2p port '%s' is not a port number",
                          port != NULL ? port : "");
        return OA_EINVAL;
    }
    if (p->listen_addr[0] != '\0' && tcp_addr_parse(p->listen_addr, 0, &ss) != 0) {
        p->api->set_error(p->self,
                          "setting 'listen' must be empty (0.0.0.0 and [::] on the p2p port), "
                          "ip:port or [ipv6]:port; got '%s'",
                          p->listen_addr);
        return OA_EINVAL;
    }
    p->running = 1;
    if (p->auto_listen) {
        rc = tcp_listener_open(p, NULL, err, sizeof(err), &p->auto_l);
        if (rc != 0) {
            p->running = 0;
            p->api->set_error(p->self, "auto_listen: %s", err);
            return rc;
        }
        p->auto_l->is_auto = 1;
    }
    rc = p->api->service_register(p->self, TCP_SERVICE_NAME, OA_TRANSPORT_VERSION, &p->svc);
    if (rc == 0) {
        rc = start_idle_timer(p);
    }
    if (rc != 0) {
        p->running = 0;
        tcp_listener_close_all(p);
        p->api->set_error(p->self, "cannot register the service %s: %s", TCP_SERVICE_NAME,
                          oa_strerror(rc));
        return rc;
    }
    p->api->log(p->self, OA_LOG_INFO,
                "ready: at most %u connections, connect timeout %u ms, idle timeout %u s%s",
                p->max_conns, p->connect_timeout_ms, p->idle_timeout_s,
                p->idle_timeout_s == 0 ? " (off)" : "");
    return 0;
}

static void tcp_stop(void *state)
{
    tcp_plugin *p = state;
    uint32_t open = p->n_open + p->n_connecting;
    /* From here listen and connect refuse (OA_ESTATE), also from inside the
     * callbacks below. */
    p->running = 0;
    if (p->idle_timer != NULL) {
        p->api->timer_stop(p->idle_timer);
        p->idle_timer = NULL;
    }
    tcp_listener_close_all(p);
    tcp_conn_close_all(p);
    p->api->service_unregister(p->self, TCP_SERVICE_NAME);
    if (open > 0) {
        p->api->log(p->self, OA_LOG_INFO, "stopped; closed %u connection(s) still open", open);
    }
}

static void tcp_destroy(void *state)
{
    tcp_plugin *p = state;
    /* Handles still closing own their blocks; nothing of p is touched by
     * their callbacks. */
    tcp_pool_free(p);
    free(p);
}

/* ---- descriptor ------------------------------------------------------------------ */

static const oa_config_def tcp_config[] = {
    {.key = "listen", .type = OA_CFG_STRING, .default_value = "", .max = 100,
     .help = "Where the default listener listens: ip:port or [ipv6]:port; empty means "
             "0.0.0.0 and [::] on the host's p2p port."},
    {.key = "auto_listen", .type = OA_CFG_BOOL, .default_value = "false",
     .help = "Bind the default listener when the plugin starts, so that a taken port fails "
             "the start; connections wait until the swarm listens. Off: the swarm decides "
             "when to listen."},
    {.key = "max_connections", .type = OA_CFG_INT, .default_value = "200", .min = 1,
     .max = 10000, .flags = OA_CFG_LIVE,
     .help = "Most connections open at once, inbound and outbound; inbound ones over it are "
             "accepted and closed at once, outbound ones are refused."},
    {.key = "connect_timeout_ms", .type = OA_CFG_INT, .default_value = "10000", .min = 100,
     .max = 120000, .flags = OA_CFG_LIVE,
     .help = "How long a connect may take when the caller gives no timeout, in milliseconds."},
    {.key = "idle_timeout_s", .type = OA_CFG_INT, .default_value = "300", .min = 0,
     .max = 86400, .flags = OA_CFG_LIVE,
     .help = "Close a connection after this many seconds without a byte in or out; 0 turns "
             "it off."},
    {.key = NULL},
};

static const char *const tcp_provides[] = {"transport", NULL};

static const oa_plugin_desc tcp_desc = {
    OA_PLUGIN_HEADER,
    .name = "transport-tcp",
    .version = "1.0.0",
    .kind = OA_KIND_TRANSPORT,
    .summary = "TCP connections for the swarm (IPv4 and IPv6), as the transport.tcp service.",
    .license = "MIT",
    .requires = NULL,
    .provides = tcp_provides,
    .config = tcp_config,
    .init = tcp_init,
    .start = tcp_start,
    .stop = tcp_stop,
    .destroy = tcp_destroy,
    .health = tcp_health,
    .command = tcp_command,
    .configure = tcp_configure,
};

OA_PLUGIN_ENTRY(tcp_desc)

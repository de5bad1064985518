/*
 * transport-tcp: listeners. A listener is one socket, or two for the
 * default address (0.0.0.0 and [::] with IPV6_V6ONLY on the host's p2p
 * port; IPv4 alone when the host has no IPv6).
 *
 * The auto_listen listener is bound in start() before anyone listens. A
 * connection that arrives while nobody has adopted it waits: libuv holds the
 * accepted socket and stops watching the listener until it is taken. A
 * listen(NULL) adopts the listener and takes what waits; listen_close() on
 * it hands it back to the plugin, still bound, until the plugin stops.
 */
#include "tcp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_listener_closed(uv_handle_t *h)
{
    oa_listener *l = h->data;
    l->handles--;
    if (l->handles == 0) {
        free(l);
    }
}

static void accept_on(oa_listener *l, int i)
{
    oa_conn *c = tcp_conn_accept(l->p, (uv_stream_t *)&l->socks[i]);
    if (c != NULL) {
        l->cb(l->arg, c);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    oa_listener *l = server->data;
    tcp_plugin *p = l->p;
    int i = (int)((uv_tcp_t *)server - l->socks);
    if (p == NULL) {
        return;
    }
    if (status < 0) {
        /* Out of file descriptors, typically: libuv drops the connection.
         * Logged at most every 10 s, since it repeats for each one. */
        uint64_t now = uv_now(p->loop);
        if (p->accept_warned_at == 0 || now - p->accept_warned_at >= 10000) {
            p->accept_warned_at = now;
            p->api->log(p->self, OA_LOG_WARN, "accepting a connection on port %d failed: %s",
                        l->port, uv_strerror(status));
        }
        return;
    }
    if (l->cb == NULL) {
        l->held[i] = 1; /* libuv keeps it until uv_accept */
        return;
    }
    accept_on(l, i);
}

/* After an adoption: takes the connections that waited (a timer, so that
 * the accept callback never runs inside listen()). */
static void on_resume(void *arg, oa_timer *t)
{
    oa_listener *l = arg;
    (void)t;
    l->resume = NULL;
    for (int i = 0; i < l->nsocks; i++) {
        if (l->p != NULL && l->cb != NULL && l->held[i]) {
            l->held[i] = 0;
            accept_on(l, i);
        }
    }
}

/* Initialises, binds and listens one more socket. A libuv error. */
static int bind_sock(oa_listener *l, const struct sockaddr *sa, unsigned flags)
{
    tcp_plugin *p = l->p;
    int i = l->nsocks;
    uv_tcp_t *s = &l->socks[i];
    int rc = uv_tcp_init(p->loop, s);
    if (rc != 0) {
        return rc;
    }
    s->data = l;
    l->nsocks++;
    l->handles++;
    rc = uv_tcp_bind(s, sa, flags);
    if (rc == 0) {
        /* EADDRINUSE shows up here: libuv delays it from bind to listen. */
        rc = uv_listen((uv_stream_t *)s, TCP_BACKLOG, on_connection);
    }
    if (rc == 0) {
        l->listening[i] = 1;
        p->n_listen_socks++;
    }
    return rc;
}

static void sock_close(oa_listener *l, int i)
{
    if (l->listening[i]) {
        l->listening[i] = 0;
        l->p->n_listen_socks--;
    }
    if (!uv_is_closing((uv_handle_t *)&l->socks[i])) {
        uv_close((uv_handle_t *)&l->socks[i], on_listener_closed);
    }
}

/* Closes the sockets of a listener that is not linked; frees it when none
 * was initialised. */
static void listener_release(oa_listener *l)
{
    if (l->resume != NULL) {
        l->p->api->timer_stop(l->resume);
        l->resume = NULL;
    }
    for (int i = 0; i < l->nsocks; i++) {
        sock_close(l, i);
    }
    l->p = NULL;
    if (l->nsocks == 0) {
        free(l);
    }
}

static void listener_close(oa_listener *l)
{
    tcp_plugin *p = l->p;
    if (l->prev != NULL) {
        l->prev->next = l->next;
    } else {
        p->listeners = l->next;
    }
    if (l->next != NULL) {
        l->next->prev = l->prev;
    }
    if (p->auto_l == l) {
        p->auto_l = NULL;
    }
    listener_release(l);
}

static int is_no_ipv6(int rc)
{
    return rc == UV_EAFNOSUPPORT || rc == UV_EADDRNOTAVAIL || rc == UV_EPROTONOSUPPORT;
}

/* "0.0.0.0:8621 and [::]:8621" for the log. */
static void describe(const oa_listener *l, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < l->nsocks; i++) {
        struct sockaddr_storage ss;
        char a[TCP_ADDR_MAX];
        int sl = (int)sizeof(ss);
        if (!l->listening[i] ||
            uv_tcp_getsockname(&l->socks[i], (struct sockaddr *)&ss, &sl) != 0 ||
            tcp_addr_format((struct sockaddr *)&ss, a, sizeof(a)) != 0) {
            continue;
        }
        n += (size_t)snprintf(buf + n, len - n, "%s%s", n > 0 ? " and " : "", a);
        if (n >= len) {
            return;
        }
    }
}

int tcp_listener_open(tcp_plugin *p, const char *addr, char *err, size_t errlen,
                      oa_listener **out)
{
    struct sockaddr_storage ss;
    char where[2 * TCP_ADDR_MAX + 8];
    oa_listener *l;
    int rc;

    if (addr == NULL && p->listen_addr[0] != '\0') {
        addr = p->listen_addr;
    }
    if (addr != NULL && tcp_addr_parse(addr, 0, &ss) != 0) {
        snprintf(err, errlen, "cannot listen on '%s': give ip:port or [ipv6]:port", addr);
        return OA_EINVAL;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return OA_ENOMEM;
    }
    l->p = p;
    if (addr != NULL) {
        rc = bind_sock(l, (struct sockaddr *)&ss, 0);
        if (rc != 0) {
            snprintf(err, errlen, "cannot listen on %s: %s", addr, uv_strerror(rc));
            listener_release(l);
            return tcp_uv_err(rc);
        }
    } else {
        struct sockaddr_in a4;
        struct sockaddr_in6 a6;
        uv_ip4_addr("0.0.0.0", p->p2p_port, &a4);
        uv_ip6_addr("::", p->p2p_port, &a6);
        rc = bind_sock(l, (struct sockaddr *)&a4, 0);
        if (rc != 0) {
            snprintf(err, errlen, "cannot listen on 0.0.0.0:%d (the p2p port): %s", p->p2p_port,
                     uv_strerror(rc));
            listener_release(l);
            return tcp_uv_err(rc);
        }
        rc = bind_sock(l, (struct sockaddr *)&a6, UV_TCP_IPV6ONLY);
        if (rc != 0 && is_no_ipv6(rc)) {
            p->api->log(p->self, OA_LOG_INFO,
                        "IPv6 is not available here (%s); listening on IPv4 only",
                        uv_strerror(rc));
            sock_close(l, 1);
        } else if (rc != 0) {
            snprintf(err, errlen, "cannot listen on [::]:%d (the p2p port): %s", p->p2p_port,
                     uv_strerror(rc));
            listener_release(l);
            return tcp_uv_err(rc);
        }
    }
    {
        struct sockaddr_storage bound;
        int sl = (int)sizeof(bound);
        uv_tcp_getsockname(&l->socks[0], (struct sockaddr *)&bound, &sl);
        l->port = bound.ss_family == AF_INET6
                      ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                      : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    }
    l->next = p->listeners;
    if (p->listeners != NULL) {
        p->listeners->prev = l;
    }
    p->listeners = l;
    describe(l, where, sizeof(where));
    p->api->log(p->self, OA_LOG_INFO, "listening on %s", where);
    *out = l;
    return 0;
}

int tcp_listen(void *instance, const char *addr, oa_conn_accept_cb cb, void *arg,
               oa_listener **out)
{
    tcp_plugin *p = instance;
    char err[256];
    oa_listener *l = NULL;
    int rc;

    if (p == NULL || cb == NULL || out == NULL) {
        return OA_EINVAL;
    }
    if (!p->running) {
        return OA_ESTATE;
    }
    if (addr == NULL && p->auto_l != NULL) {
        l = p->auto_l;
        if (l->cb != NULL) {
            p->api->log(p->self, OA_LOG_WARN,
                        "the default listener (port %d) is in use already; close it first",
                        l->port);
            return OA_EBUSY;
        }
        l->cb = cb;
        l->arg = arg;
        if ((l->held[0] || l->held[1]) && l->resume == NULL) {
            rc = p->api->timer_start(p->self, 0, 0, on_resume, l, &l->resume);
            if (rc != 0) {
                p->api->log(p->self, OA_LOG_WARN,
                            "cannot schedule the connections waiting on port %d: %s", l->port,
                            oa_strerror(rc));
            }
        }
        *out = l;
        return 0;
    }
    rc = tcp_listener_open(p, addr, err, sizeof(err), &l);
    if (rc != 0) {
        p->api->log(p->self, OA_LOG_WARN, "%s", err);
        return rc;
    }
    l->cb = cb;
    l->arg = arg;
    *out = l;
    return 0;
}

void tcp_listen_close(oa_listener *l)
{
    if (l == NULL || l->p == NULL) {
        return;
    }
    if (l->is_auto) {
        /* Back to the plugin: still bound, connections wait again. */
        if (l->resume != NULL) {
            l->p->api->timer_stop(l->resume);
            l->resume = NULL;
        }
        l->cb = NULL;
        l->arg = NULL;
        return;
    }
    listener_close(l);
}

int tcp_listen_port(oa_listener *l)
{
    if (l == NULL) {
        return OA_EINVAL;
    }
    if (l->p == NULL) {
        return OA_ESTATE;
    }
    return l->port;
}

void tcp_listener_close_all(tcp_plugin *p)
{
    while (p->listeners != NULL) {
        listener_close(p->listeners);
    }
    p->auto_l = NULL;
}

/*
 * transport-tcp: connections. Outbound connects with a timeout, accepted
 * connections, reading with a pooled buffer, writing a copy per write, the
 * logical close with its callbacks, and the idle sweep.
 *
 * Callbacks to the user are made synchronously from close() and stop():
 * when close() returns, the write callbacks of dropped writes (OA_ECANCELED)
 * and then the close callback (or, for a connect in progress, the connect
 * callback with OA_ECANCELED) have run, and nothing more is called for that
 * connection. So a user that closes its connections in its own stop() is
 * never called after it.
 */
#include "tcp_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- list and bookkeeping ----------------------------------------------- */

static void conn_link(tcp_plugin *p, oa_conn *c)
{
    c->prev = NULL;
    c->next = p->conns;
    if (p->conns != NULL) {
        p->conns->prev = c;
    }
    p->conns = c;
}

static void conn_unlink(tcp_plugin *p, oa_conn *c)
{
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        p->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->prev = NULL;
    c->next = NULL;
}

static void wq_remove(oa_conn *c, tcp_write *w)
{
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else {
        c->wq_head = w->next;
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    } else {
        c->wq_tail = w->prev;
    }
}

/* The close callback of each of a connection's handles: only the block. */
static void on_handle_closed(uv_handle_t *h)
{
    oa_conn *c = h->data;
    c->handles--;
    if (c->handles == 0) {
        free(c);
    }
}

static oa_conn *conn_new(tcp_plugin *p, int outbound)
{
    oa_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    if (uv_tcp_init(p->loop, &c->tcp) != 0) {
        free(c);
        return NULL;
    }
    c->tcp.data = c;
    c->handles = 1;
    if (outbound) {
        if (uv_timer_init(p->loop, &c->timer) != 0) {
            uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
            return NULL;
        }
        c->timer.data = c;
        c->handles = 2;
        c->outbound = 1;
    }
    c->p = p;
    return c;
}

/* Closes the handles of a connection that is not (or no longer) linked. */
static void conn_release(oa_conn *c)
{
    c->p = NULL;
    c->state = TCP_CLOSED;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    if (c->outbound) {
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    }
}

/* The socket works: options, addresses, counters. */
static void conn_opened(tcp_plugin *p, oa_conn *c)
{
    struct sockaddr_storage ss;
    int n = (int)sizeof(ss);
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, TCP_KEEPALIVE_S);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &n) == 0) {
        tcp_addr_format((struct sockaddr *)&ss, c->remote, sizeof(c->remote));
    }
    n = (int)sizeof(ss);
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &n) == 0) {
        tcp_addr_format((struct sockaddr *)&ss, c->local, sizeof(c->local));
    }
    c->state = TCP_OPEN;
    c->last_active = uv_now(p->loop);
    p->n_open++;
}

void tcp_conn_end(oa_conn *c, int reason, int status)
{
    tcp_plugin *p = c->p;
    int was = c->state;

    if (p == NULL || was == TCP_CLOSED) {
        return;
    }
    conn_unlink(p, c);
    if (was == TCP_OPEN) {
        p->n_open--;
    } else {
        p->n_connecting--;
    }
    /* libuv stops reading and cancels the writes and the connect; their
     * callbacks see state CLOSED and only free. */
    conn_release(c);
    c->reading = 0;
    c->queued = 0;
    if (was == TCP_CONNECTING) {
        if (c->on_connect != NULL) {
            c->on_connect(c->connect_arg, c, status);
        }
        return;
    }
    /* Writes that will not complete, oldest first. A callback cannot add
     * writes: the connection is closed. */
    for (tcp_write *w = c->wq_head; w != NULL; w = w->next) {
        if (!w->reported) {
            w->reported = 1;
            if (w->cb != NULL) {
                w->cb(w->arg, c, OA_ECANCELED);
            }
        }
    }
    if (c->on_close != NULL) {
        c->on_close(c->arg, c, reason);
    }
}

/* ---- connect -------------------------------------------------------------- */

static void on_connect_timeout(uv_timer_t *t)
{
    oa_conn *c = t->data;
    tcp_plugin *p = c->p;
    if (p == NULL || c->state != TCP_CONNECTING) {
        return;
    }
    p->connect_failures++;
    p->api->log(p->self, OA_LOG_DEBUG, "connect to %s timed out", c->remote);
    tcp_conn_end(c, OA_CLOSE_ERROR, OA_ETIMEDOUT);
}

static void on_connected(uv_connect_t *req, int status)
{
    oa_conn *c = req->data;
    tcp_plugin *p = c->p;
    if (p == NULL || c->state != TCP_CONNECTING) {
        return; /* closed or timed out: already reported */
    }
    uv_timer_stop(&c->timer);
    if (status < 0) {
        p->connect_failures++;
        p->api->log(p->self, OA_LOG_DEBUG, "connect to %s failed: %s", c->remote,
                    uv_strerror(status));
        tcp_conn_end(c, OA_CLOSE_ERROR, tcp_uv_err(status));
        return;
    }
    p->n_connecting--;
    conn_opened(p, c);
    c->on_connect(c->connect_arg, c, 0);
}

int tcp_connect(void *instance, const char *addr, uint32_t timeout_ms, oa_conn_connect_cb cb,
                void *arg, oa_conn **out)
{
    tcp_plugin *p = instance;
    struct sockaddr_storage ss;
    oa_conn *c;
    int rc;

    if (p == NULL || cb == NULL || out == NULL) {
        return OA_EINVAL;
    }
    if (!p->running) {
        return OA_ESTATE;
    }
    if (tcp_addr_parse(addr, 1, &ss) != 0) {
        p->api->log(p->self, OA_LOG_DEBUG,
                    "cannot connect to '%s': give ip:port or [ipv6]:port, port 1 to 65535",
                    addr != NULL ? addr : "(null)");
        return OA_EINVAL;
    }
    if (p->n_open + p->n_connecting >= p->max_conns) {
        p->api->log(p->self, OA_LOG_DEBUG,
                    "not connecting to %s: %u connections is the max_connections cap", addr,
                    p->max_conns);
        return OA_EAGAIN;
    }
    c = conn_new(p, 1);
    if (c == NULL) {
        return OA_ENOMEM;
    }
    c->creq.data = c;
    /* The peer's address as given, for logs until the connect finishes. */
    tcp_addr_format((struct sockaddr *)&ss, c->remote, sizeof(c->remote));
    rc = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&ss, on_connected);
    if (rc == 0) {
        rc = uv_timer_start(&c->timer, on_connect_timeout,
                            timeout_ms > 0 ? timeout_ms : p->connect_timeout_ms, 0);
    }
    if (rc != 0) {
        p->api->log(p->self, OA_LOG_DEBUG, "cannot connect to %s: %s", c->remote,
                    uv_strerror(rc));
        conn_release(c);
        return tcp_uv_err(rc);
    }
    c->state = TCP_CONNECTING;
    c->on_connect = cb;
    c->connect_arg = arg;
    conn_link(p, c);
    p->n_connecting++;
    *out = c;
    return 0;
}

/* ---- accept ---------------------------------------------------------------- */

static void on_refused_closed(uv_handle_t *h)
{
    free(h);
}

/* Accepts the waiting connection and closes it at once. */
static void refuse(tcp_plugin *p, uv_stream_t *server)
{
    uv_tcp_t *t = malloc(sizeof(*t));
    if (t == NULL || uv_tcp_init(p->loop, t) != 0) {
        free(t);
        return; /* libuv keeps it waiting; the next accept tries again */
    }
    uv_accept(server, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, on_refused_closed);
    p->refused++;
    if (!p->cap_warned) {
        p->cap_warned = 1;
        p->api->log(p->self, OA_LOG_WARN,
                    "%u connections open, the max_connections cap: refusing inbound "
                    "connections until some close (raise max_connections to allow more)",
                    p->n_open + p->n_connecting);
    }
}

oa_conn *tcp_conn_accept(tcp_plugin *p, uv_stream_t *server)
{
    oa_conn *c;
    int rc;
    if (p->n_open + p->n_connecting >= p->max_conns) {
        refuse(p, server);
        return NULL;
    }
    c = conn_new(p, 0);
    if (c == NULL) {
        return NULL;
    }
    rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc != 0) {
        p->api->log(p->self, OA_LOG_DEBUG, "accept failed: %s", uv_strerror(rc));
        conn_release(c);
        return NULL;
    }
    p->cap_warned = 0;
    conn_opened(p, c);
    conn_link(p, c);
    p->accepted++;
    return c;
}

/* ---- reading --------------------------------------------------------------- */

static uint8_t *pool_get(tcp_plugin *p)
{
    if (p->pool_n > 0) {
        return p->pool[--p->pool_n];
    }
    return malloc(TCP_READ_BUF);
}

static void pool_put(tcp_plugin *p, void *b)
{
    if (b == NULL) {
        return;
    }
    if (p->pool_n < TCP_POOL_KEEP) {
        p->pool[p->pool_n++] = b;
    } else {
        free(b);
    }
}

void tcp_pool_free(tcp_plugin *p)
{
    while (p->pool_n > 0) {
        free(p->pool[--p->pool_n]);
    }
}

/* libuv asks for a buffer right before each read and hands it back in
 * on_read, so one buffer from the pool serves every connection in turn. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    oa_conn *c = h->data;
    (void)suggested;
    buf->base = c->p != NULL ? (char *)pool_get(c->p) : NULL;
    buf->len = buf->base != NULL ? TCP_READ_BUF : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    oa_conn *c = s->data;
    tcp_plugin *p = c->p;
    if (p == NULL) {
        free(buf->base);
        return;
    }
    if (n > 0) {
        c->bytes_in += (uint64_t)n;
        p->bytes_in += (uint64_t)n;
        c->last_active = uv_now(p->loop);
        if (c->on_read != NULL) {
            c->on_read(c->arg, c, (const uint8_t *)buf->base, (size_t)n);
        }
    }
    pool_put(p, buf->base);
    if (n < 0 && c->state == TCP_OPEN) {
        if (n != UV_EOF) {
            p->api->log(p->self, OA_LOG_DEBUG, "connection with %s failed: %s", c->remote,
                        uv_strerror((int)n));
        }
        tcp_conn_end(c, n == UV_EOF ? OA_CLOSE_EOF : OA_CLOSE_ERROR, 0);
    }
}

static void conn_set_callbacks(oa_conn *c, oa_conn_read_cb on_read_cb, oa_conn_close_cb on_close,
                               void *arg)
{
    if (c == NULL || c->state == TCP_CLOSED) {
        return;
    }
    c->on_read = on_read_cb;
    c->on_close = on_close;
    c->arg = arg;
    if (on_read_cb == NULL && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static int conn_read_start(oa_conn *c)
{
    int rc;
    if (c == NULL) {
        return OA_EINVAL;
    }
    if (c->state != TCP_OPEN || c->on_read == NULL) {
        return OA_ESTATE;
    }
    if (c->reading) {
        return 0;
    }
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0) {
        return tcp_uv_err(rc);
    }
    c->reading = 1;
    return 0;
}

static int conn_read_stop(oa_conn *c)
{
    if (c == NULL) {
        return OA_EINVAL;
    }
    if (c->state != TCP_OPEN) {
        return OA_ESTATE;
    }
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    return 0;
}

/* ---- writing --------------------------------------------------------------- */

static void on_written(uv_write_t *req, int status)
{
    tcp_write *w = req->data;
    oa_conn *c = w->c;
    tcp_plugin *p = c->p;
    oa_conn_write_cb cb = w->reported ? NULL : w->cb;
    void *arg = w->arg;
    size_t len = w->len;

    wq_remove(c, w);
    free(w);
    if (p == NULL || c->state != TCP_OPEN) {
        return; /* closed: the callback was called with OA_ECANCELED */
    }
    c->queued -= len;
    if (status == 0) {
        c->bytes_out += len;
        p->bytes_out += len;
        c->last_active = uv_now(p->loop);
    }
    if (cb != NULL) {
        cb(arg, c, tcp_uv_err(status));
    }
    if (status < 0 && c->state == TCP_OPEN) {
        p->api->log(p->self, OA_LOG_DEBUG, "writing to %s failed: %s", c->remote,
                    uv_strerror(status));
        tcp_conn_end(c, OA_CLOSE_ERROR, 0);
    }
}

static int conn_write(oa_conn *c, const void *data, size_t len, oa_conn_write_cb cb, void *arg)
{
    tcp_write *w;
    uv_buf_t buf;
    int rc;
    if (c == NULL || (data == NULL && len > 0)) {
        return OA_EINVAL;
    }
    if (c->state != TCP_OPEN) {
        return OA_ESTATE;
    }
    if (len > SIZE_MAX - sizeof(*w)) {
        return OA_ENOMEM;
    }
    w = malloc(sizeof(*w) + len);
    if (w == NULL) {
        return OA_ENOMEM;
    }
    memset(w, 0, sizeof(*w));
    if (len > 0) {
        memcpy(w->data, data, len);
    }
    w->req.data = w;
    w->c = c;
    w->cb = cb;
    w->arg = arg;
    w->len = len;
    buf.base = (char *)w->data;
    buf.len = len;
    rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written);
    if (rc != 0) {
        free(w);
        return tcp_uv_err(rc);
    }
    w->prev = c->wq_tail;
    if (c->wq_tail != NULL) {
        c->wq_tail->next = w;
    } else {
        c->wq_head = w;
    }
    c->wq_tail = w;
    c->queued += len;
    return 0;
}

static size_t conn_write_queued(oa_conn *c)
{
    return c != NULL && c->state == TCP_OPEN ? c->queued : 0;
}

/* ---- close, addresses, counters --------------------------------------------- */

static void conn_close(oa_conn *c)
{
    if (c != NULL) {
        tcp_conn_end(c, OA_CLOSE_LOCAL, OA_ECANCELED);
    }
}

void tcp_conn_close_all(tcp_plugin *p)
{
    /* Callbacks may close other connections; new ones cannot start. */
    while (p->conns != NULL) {
        tcp_conn_end(p->conns, OA_CLOSE_SHUTDOWN, OA_ECANCELED);
    }
}

void tcp_conn_idle_sweep(tcp_plugin *p)
{
    uint64_t limit = (uint64_t)p->idle_timeout_s * 1000;
    uint64_t now = uv_now(p->loop);
    oa_conn *c = p->conns;
    if (limit == 0) {
        return;
    }
    while (c != NULL) {
        if (c->state == TCP_OPEN && now - c->last_active >= limit) {
            p->api->log(p->self, OA_LOG_DEBUG, "closing the connection with %s: idle for %u s",
                        c->remote, p->idle_timeout_s);
            tcp_conn_end(c, OA_CLOSE_IDLE, 0);
            /* The callback may have closed others: start over. Every pass
             * closes one, so this ends. */
            c = p->conns;
            continue;
        }
        c = c->next;
    }
}

static int copy_addr(const oa_conn *c, const char *s, char *buf, size_t len)
{
    size_t n;
    if (c == NULL || buf == NULL) {
        return OA_EINVAL;
    }
    /* Known from the connect call (remote) or once connected (both); kept
     * for the close callback too. */
    n = strlen(s);
    if (n == 0) {
        return OA_ESTATE;
    }
    if (n >= len) {
        return OA_EINVAL;
    }
    memcpy(buf, s, n + 1);
    return 0;
}

static int conn_remote_addr(oa_conn *c, char *buf, size_t len)
{
    return copy_addr(c, c != NULL ? c->remote : "", buf, len);
}

static int conn_local_addr(oa_conn *c, char *buf, size_t len)
{
    return copy_addr(c, c != NULL ? c->local : "", buf, len);
}

static void conn_bytes(oa_conn *c, uint64_t *in, uint64_t *out)
{
    if (in != NULL) {
        *in = c != NULL ? c->bytes_in : 0;
    }
    if (out != NULL) {
        *out = c != NULL ? c->bytes_out : 0;
    }
}

void tcp_conn_fill_api(oa_transport *svc)
{
    svc->connect = tcp_connect;
    svc->set_callbacks = conn_set_callbacks;
    svc->read_start = conn_read_start;
    svc->read_stop = conn_read_stop;
    svc->write = conn_write;
    svc->write_queued = conn_write_queued;
    svc->close = conn_close;
    svc->remote_addr = conn_remote_addr;
    svc->local_addr = conn_local_addr;
    svc->conn_bytes = conn_bytes;
}

/*
 * The TCP transport plugin (plugins/transport-tcp) driven through a real
 * engine-mode host: the host scans a plugin directory holding the built
 * transport-tcp.so, starts it, and the test uses the "transport.tcp" service
 * the way the swarm does. Every byte goes over loopback (127.0.0.1 and ::1);
 * the one listener on 0.0.0.0/[::] only ever sees loopback connections.
 *
 * Each test ends with oa_host_close() == 0: the loop closed with nothing
 * left open, so every test is also a handle leak check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp_fixture.h"

/* ---- tests --------------------------------------------------------------------- */

static void test_service_registered(void **state)
{
    fx *f = *state;
    oa_plugin_info info;
    uint32_t version = 0;
    oa_transport_stats st;
    assert_int_equal(fx_host_up(f, 0, NULL), 1);
    assert_non_null(f->t);
    assert_ptr_equal(oa_registry_service_lookup(f->h.reg, "transport.tcp", 1, &version), f->t);
    assert_int_equal(version, OA_TRANSPORT_VERSION);
    assert_int_equal(f->t->size, sizeof(oa_transport));
    assert_string_equal(f->t->name, "tcp");
    assert_int_equal(oa_registry_info_by_name(f->h.reg, PLUGIN, &info), 0);
    assert_int_equal(info.state, OA_STATE_RUNNING);
    assert_int_equal(info.desc->kind, OA_KIND_TRANSPORT);
    assert_string_equal(info.desc->provides[0], "transport");
    assert_null(info.desc->provides[1]);
    /* auto_listen is off: nothing listens until someone asks. */
    st = fx_stats(f);
    assert_int_equal(st.listeners, 0);
    assert_int_equal(st.connections, 0);
    assert_int_equal(st.accepted, 0);
}

/* 10 MiB each way at once, checked byte by byte, with write completions,
 * the queue, addresses and counters. */
static void exchange(fx *f, const char *listen_addr, const char *host)
{
    const oa_transport *t = f->t;
    const uint64_t total = 10 * MIB;
    side *a;
    side *b;
    oa_listener *l;
    oa_transport_stats st;
    char want[128];
    char ra[128];
    char la[128];
    char rb[128];
    char lb[128];
    uint64_t in = 0;
    uint64_t out = 0;
    int na;
    int nb;

    fx_pair(f, listen_addr, 0, &a, &b, &l);
    snprintf(want, sizeof(want), "%s:%d", host, t->listen_port(l));
    a->rx_seed = 2;
    b->rx_seed = 1;
    assert_int_equal(t->read_start(a->c), 0);
    assert_int_equal(t->read_start(b->c), 0);
    na = fx_send(a, 1, 0, total, 256 * 1024);
    nb = fx_send(b, 2, 0, total, 256 * 1024);
    /* Nothing has completed yet: callbacks only come from the loop. */
    assert_int_equal(t->write_queued(a->c), total);
    assert_int_equal(t->write_queued(b->c), total);
    WAIT_FOR(f, a->rx == total && b->rx == total && a->writes_ok == na && b->writes_ok == nb,
             120000);
    assert_int_equal(b->rx, total);
    assert_int_equal(a->rx, total);
    assert_int_equal(a->rx_bad, 0);
    assert_int_equal(b->rx_bad, 0);
    assert_int_equal(a->writes_ok, na);
    assert_int_equal(b->writes_ok, nb);
    assert_int_equal(a->writes_failed + a->writes_canceled + b->writes_failed, 0);
    assert_int_equal(t->write_queued(a->c), 0);
    assert_int_equal(t->write_queued(b->c), 0);

    /* The client's remote end is the listener; each end's local address is
     * the other's remote one. */
    assert_int_equal(t->remote_addr(a->c, ra, sizeof(ra)), 0);
    assert_int_equal(t->local_addr(a->c, la, sizeof(la)), 0);
    assert_int_equal(t->remote_addr(b->c, rb, sizeof(rb)), 0);
    assert_int_equal(t->local_addr(b->c, lb, sizeof(lb)), 0);
    assert_string_equal(ra, want);
    assert_string_equal(lb, want);
    assert_string_equal(la, rb);
    assert_true(strncmp(rb, host, strlen(host)) == 0);
    assert_int_equal(t->remote_addr(a->c, ra, 4), OA_EINVAL);

    t->conn_bytes(a->c, &in, &out);
    assert_int_equal(in, total);
    assert_int_equal(out, total);
    st = fx_stats(f);
    assert_int_equal(st.connections, 2);
    assert_int_equal(st.listeners, 1);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.refused, 0);
    assert_int_equal(st.connect_failures, 0);
    assert_int_equal(st.bytes_in, 2 * total);
    assert_int_equal(st.bytes_out, 2 * total);

    /* close() reports before it returns; the peer sees EOF. */
    t->close(a->c);
    assert_int_equal(a->closed, 1);
    assert_int_equal(a->close_reason, OA_CLOSE_LOCAL);
    assert_int_equal(a->write_in_close_rc, OA_ESTATE);
    WAIT_FOR(f, b->closed == 1, 10000);
    assert_int_equal(b->closed, 1);
    assert_int_equal(b->close_reason, OA_CLOSE_EOF);
    assert_int_equal(fx_stats(f).connections, 0);
    t->listen_close(l);
    assert_int_equal(fx_stats(f).listeners, 0);
    RUN_FOR(f, 50);
    assert_int_equal(a->closed, 1);
    assert_int_equal(b->closed, 1);
}

static void test_exchange_ipv4(void **state)
{
    fx *f = *state;
    assert_int_equal(fx_host_up(f, 0, NULL), 1);
    exchange(f, "127.0.0.1:0", "127.0.0.1");
}

static void test_exchange_ipv6(void **state)
{
    fx *f = *state;
    if (!fx_have_ipv6()) {
        skip();
    }
    assert_int_equal(fx_host_up(f, 0, NULL), 1);
    exchange(f, "[::1]:0", "[::1]");
}

static uint64_t proc_max(const char *path)
{
    unsigned long long a = 0;
    unsigned long long b = 0;
    unsigned long long c = 0;
    FILE *fp = fopen(path, "r");
    if (fp != NULL) {
        if (fscanf(fp, "%llu %llu %llu", &a, &b, &c) != 3) {
            c = 0;
        }
        fclose(fp);
    }
    return c > 0 ? c : 8 * MIB;
}

/* The reader stops (from inside its read callback); the writer's queue
 * stays full while it is stopped and drains after read_start. */
static void test_backpressure(void **state)
{
    fx *f = *state;
    const oa_transport *t;
    side *a;
    side *b;
    uint64_t kernel;
    uint64_t total;
    size_t q1;
    int n;
    assert_int_equal(fx_host_up(f, 0, NULL), 1);
    t = f->t;
    fx_pair(f, "127.0.0.1:0", 0, &a, &b, NULL);
    /* More than the kernel can buffer between the two ends. */
    kernel = proc_max("/proc/sys/net/ipv4/tcp_wmem") + proc_max("/proc/sys/net/ipv4/tcp_rmem");
    total = kernel + 8 * MIB;
    b->rx_seed = 7;
    b->stop_at = MIB;
    assert_int_equal(t->read_start(b->c), 0);
    n = fx_send(a, 7, 0, total, MIB);
    assert_int_equal(t->write_queued(a->c), total);

    WAIT_FOR(f, b->stopped, 30000);
    assert_true(b->stopped);
    RUN_FOR(f, 500);
    /* Nothing arrives while stopped, and the writer's queue holds what the
     * kernel could not take. */
    assert_int_equal(b->rx, b->rx_at_stop);
    q1 = t->write_queued(a->c);
    assert_true(q1 > 0);
    assert_true(q1 >= total - kernel - b->rx);
    assert_true(a->writes_ok < n);
    /* More writes make it grow. */
    n += fx_send(a, 7, total, MIB, MIB);
    assert_int_equal(t->write_queued(a->c), q1 + MIB);
    /* A second stop is harmless. */
    assert_int_equal(t->read_stop(b->c), 0);

    assert_int_equal(t->read_start(b->c), 0);
    WAIT_FOR(f, b->rx == total + MIB && t->write_queued(a->c) == 0 && a->writes_ok == n, 120000);
    assert_int_equal(b->rx, total + MIB);
    assert_int_equal(b->rx_bad, 0);
    assert_int_equal(t->write_queued(a->c), 0);
    assert_int_equal(a->writes_ok, n);
    t->close(a->c);
    t->close(b->c);
    assert_int_equal(fx_stats(f).connections, 0);
}

static void test_connect_failures(void **state)
{
    fx *f = *state;
    const oa_transport *t;
    side *s = f->out;
    char to[64];
    int port;
    int bound;
    int full;
    assert_int_equal(fx_host_up(f, 0, NULL), 1);
    t = f->t;

    /* A bound port without a listener answers with a reset. */
    bound = fx_raw_socket(-1, &port);
    snprintf(to, sizeof(to), "127.0.0.1:%d", port);
    assert_int_equal(t->connect(t->instance, to, 0, fx_on_connect, &s[0], &s[0].c), 0);
    WAIT_FOR(f, s[0].connect_calls == 1, 10000);
    assert_int_equal(s[0].connect_calls, 1);
    assert_int_equal(s[0].connect_status, OA_EIO);
    assert_int_equal(s[0].closed, 0);
    assert_int_equal(fx_stats(f).connect_failures, 1);
    assert_int_equal(fx_stats(f).connections, 0);
    close(bound);

    /* A listener with backlog 0 that never accepts: the first connection
     * fills its queue, and Linux drops the SYNs of the next ones, so those
     * connects hang until our timeout (loopback only, nothing leaves). */
    full = fx_raw_socket(0, &port);
    snprintf(to, sizeof(to), "127.0.0.1:%d", port);
    assert_int_equal(t->connect(t->instance, to, 5000, fx_on_connect, &s[1], &s[1].c), 0);
    WAIT_FOR(f, s[1].connect_calls == 1, 10000);
    assert_int_equal(s[1].connect_status, 0);
    assert_int_equal(t->connect(t->instance, to, 300, fx_on_connect, &s[2], &s[2].c), 0);
    WAIT_FOR(f, s[2].connect_calls == 1, 10000);
    assert_int_equal(s[2].connect_calls, 1);
    assert_int_equal(s[2].connect_status, OA_ETIMEDOUT);

    /* Timeout 0 takes the connect_timeout_ms setting (live). */
    fx_config(f, "connect_timeout_ms", "100");
    assert_ptr_equal(oa_registry_service_lookup(f->h.reg, "transport.tcp", 1, NULL), f->t);
    assert_int_equal(t->connect(t->instance, to, 0, fx_on_connect, &s[3], &s[3].c), 0);
    WAIT_FOR(f, s[3].connect_calls == 1, 10000);
    assert_int_equal(s[3].connect_status, OA_ETIMEDOUT);
    assert_int_equal(fx_stats(f).connect_failures, 3);

    /* Closing a connect in progress cancels it before close() returns. */
    fx_config(f, "connect_timeout_ms", "10000");
    assert_int_equal(t->connect(t->instance, to, 0, fx_on_connect, &s[4], &s[4].c), 0);
    assert_int_equal(t->write(s[4].c, "x", 1, NULL, NULL), OA_ESTATE);
    assert_int_equal(t->read_start(s[4].c), OA_ESTATE);
    t->close(s[4].c);
    assert_int_equal(s[4].connect_calls, 1);
    assert_int_equal(s[4].connect_status, OA_ECANCELED);
    RUN_FOR(f, 100);
    assert_int_equal(s[4].connect_calls, 1);
    assert_int_equal(s[4].closed, 0);
    assert_int_equal(fx_stats(f).connect_failures, 3);
    assert_int_equal(fx_stats(f).connections, 1);

    t->close(s[1].c);
    assert_int_equal(s[1].closed, 1);
    assert_int_equal(s[1].close_reason, OA_CLOSE_LOCAL);
    close(full);
}

/* Over max_connections, inbound connections are accepted and closed at
 * once; outbound connects are refused. The cap is a live setting. */
static void test_max_connections(void **state)
{
    fx *f = *state;
    const oa_transport *t;
    oa_listener *l;
    struct pollfd pfd;
    oa_conn *c = NULL;
    char to[64];
    char byte;
    int port;
    int raw[4];
    assert_int_equal(fx_host_up(f, 0, NULL), 1);
    t = f->t;
    fx_config(f, "max_connections", "2");
    /* Applied without a restart: the same service. */
    assert_ptr_equal(oa_registry_service_lookup(f->h.reg, "transport.tcp", 1, NULL), t);
    f->accept_read = 1;
    assert_int_equal(t->listen(t->instance, "127.0.0.1:0", fx_on_accept, f, &l), 0);
    port = t->listen_port(l);

    raw[0] = fx_raw_connect(port);
    raw[1] = fx_raw_connect(port);
    WAIT_FOR(f, f->naccepted == 2, 10000);
    assert_int_equal(f->naccepted, 2);
    raw[2] = fx_raw_connect(port);
    WAIT_FOR(f, fx_stats(f).refused == 1, 10000);
    assert_int_equal(fx_stats(f).refused, 1);
    assert_int_equal(fx_stats(f).accepted, 2);
    assert_int_equal(fx_stats(f).connections, 2);
    assert_int_equal(f->naccepted, 2);
    /* The refused client sees the connection end. */
    pfd.fd = raw[2];
    pfd.events = POLLIN;
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    assert_int_equal(recv(raw[2], &byte, 1, 0), 0);

    snprintf(to, sizeof(to), "127.0.0.1:%d", port);
    assert_int_equal(t->connect(t->instance, to, 0, fx_on_connect, &f->out[0], &c), OA_EAGAIN);
    assert_int_equal(f->out[0].connect_calls, 0);

    /* One leaves; the next one gets in. */
    close(raw[0]);
    WAIT_FOR(f, f->acc[0].closed == 1, 10000);
    assert_int_equal(f->acc[0].close_reason, OA_CLOSE_EOF);
    assert_int_equal(fx_stats(f).connections, 1);
    raw[3] = fx_raw_connect(port);
    WAIT_FOR(f, f->naccepted == 3, 10000);
    assert_int_equal(f->naccepted, 3);
    assert_int_equal(fx_stats(f).accepted, 3);
    assert_int_equal(fx_stats(f).refused, 1);

    close(raw[1]);
    close(raw[2]);
    close(raw[3]);
    WAIT_FOR(f, fx_stats(f).connections == 0, 10000);
    assert_int_equal(fx_stats(f).connections, 0);
    assert_int_equal(f->acc[1].close_reason, OA_CLOSE_EOF);
    assert_int_equal(f->acc[2].close_reason, OA_CLOSE_EOF);
    t->listen_close(l);
}

static side *g_ticker_side;

static void on_ticker(uv_timer_t *tm)
{
    fx *f = tm->data;
    side *s = g_ticker_side;
    uint8_t b = fx_pat(s->rx_seed, s->tx);
    (void)f;
    if (s->c != NULL && s->f->t->write(s->c, &b, 1, fx_on_write, s) == 0) {
        s->tx++;
    }
}

/* idle_timeout_s 1: a silent pair is closed with OA_CLOSE_IDLE within a
 * couple of seconds of loop time, while a pair that moves a byte every
 * 200 ms stays. */
static void test_idle_timeout(void **state)
{
    fx *f = *state;
    const oa_transport *t;
    uv_timer_t ticker;
    side *a;
    side *b;
    side *c;
    side *d;
    assert_int_equal(fx_host_up(f, 0, "idle_timeout_s", "1", NULL), 1);
    t = f->t;
    fx_pair(f, "127.0.0.1:0", 0, &a, &b, NULL);
    fx_pair(f, "127.0.0.1:0", 1, &c, &d, NULL);
    /* c writes a byte every 200 ms; d reads it. a and b do nothing (and do
     * not read, so neither notices the other closing first). */
    c->rx_seed = 3;
    d->rx_seed = 3;
    assert_int_equal(t->read_start(d->c), 0);
    g_ticker_side = c;
    uv_timer_init(f->h.loop, &ticker);
    ticker.data = f;
    uv_timer_start(&ticker, on_ticker, 200, 200);

    WAIT_FOR(f, a->closed && b->closed, 10000);
    assert_int_equal(a->closed, 1);
    assert_int_equal(b->closed, 1);
    assert_int_equal(a->close_reason, OA_CLOSE_IDLE);
    assert_int_equal(b->close_reason, OA_CLOSE_IDLE);
    RUN_FOR(f, 1500);
    assert_int_equal(c->closed, 0);
    assert_int_equal(d->closed, 0);
    assert_true(d->rx >= 5);
    assert_int_equal(d->rx_bad, 0);

    uv_close((uv_handle_t *)&ticker, NULL);
    t->close(c->c);
    WAIT_FOR(f, d->closed == 1, 10000);
    assert_int_equal(d->close_reason, OA_CLOSE_EOF);
    assert_int_equal(fx_stats(f).connections, 0);
}

/* Disabling the plugin closes what is open: connections with
 * OA_CLOSE_SHUTDOWN after their unfinished writes with OA_ECANCELED, and
 * connects in progress with OA_ECANCELED, all before disable returns. The
 * host keeps running, and the plugin comes back when enabled. */
static void test_disable_closes_everything(void **state)
{
    fx *f = *state;
    const oa_transport *t;
    oa_plugin_info info;
    oa_listener *l;
    side *a;
    side *b;
    side *e = &f->out[1];
    char msg[512];
    char to[64];
    assert_int_equal(fx_host_up(f, 0, NULL), 1);
    t = f->t;
    fx_pair(f, "127.0.0.1:0", 0, &a, &b, &l);
    assert_int_equal(t->read_start(b->c), 0);
    fx_send(a, 1, 0, 3 * 65536, 65536);
    snprintf(to, sizeof(to), "127.0.0.1:%d", t->listen_port(l));
    assert_int_equal(t->connect(t->instance, to, 0, fx_on_connect, e, &e->c), 0);

    assert_int_equal(oa_registry_disable(f->h.reg, PLUGIN, msg, sizeof(msg)), 0);
    assert_int_equal(a->writes_canceled, 3);
    assert_int_equal(a->writes_ok, 0);
    assert_int_equal(a->closed, 1);
    assert_int_equal(a->close_reason, OA_CLOSE_SHUTDOWN);
    assert_int_equal(a->write_in_close_rc, OA_ESTATE);
    assert_int_equal(b->closed, 1);
    assert_int_equal(b->close_reason, OA_CLOSE_SHUTDOWN);
    assert_int_equal(e->connect_calls, 1);
    assert_int_equal(e->connect_status, OA_ECANCELED);
    assert_null(oa_registry_service_lookup(f->h.reg, "transport.tcp", 1, NULL));
    assert_int_equal(oa_registry_info_by_name(f->h.reg, PLUGIN, &info), 0);
    assert_int_equal(info.state, OA_STATE_DISABLED);
    /* Nothing is called after stop; the handles finish closing. */
    RUN_FOR(f, 200);
    assert_int_equal(a->closed + b->closed + e->connect_calls, 3);
    assert_int_equal(a->writes_canceled + a->writes_ok + a->writes_failed, 3);
    assert_int_equal(f->naccepted, 1);

    /* Back again: a new instance that works. */
    assert_int_equal(oa_registry_enable(f->h.reg, PLUGIN, msg, sizeof(msg)), 0);
    f->t = oa_registry_service_lookup(f->h.reg, "transport.tcp", 1, NULL);
    assert_non_null(f->t);
    t = f->t;
    assert_int_equal(fx_stats(f).accepted, 0);
    fx_pair(f, "127.0.0.1:0", 2, &a, &b, &l);
    b->rx_seed = 5;
    assert_int_equal(t->read_start(b->c), 0);
    fx_send(a, 5, 0, 4096, 1024);
    WAIT_FOR(f, b->rx == 4096, 10000);
    assert_int_equal(b->rx, 4096);
    assert_int_equal(b->rx_bad, 0);

    /* Left open: the host's own shutdown closes them the same way. */
    fx_host_down(f);
    assert_int_equal(a->closed, 1);
    assert_int_equal(a->close_reason, OA_CLOSE_SHUTDOWN);
    assert_int_equal(b->closed, 1);
    assert_int_equal(b->close_reason, OA_CLOSE_SHUTDOWN);
}

/* listen(NULL) with the default setting: 0.0.0.0 and [::] on the host's p2p
 * port (IPv4 alone without IPv6). Connections come only from loopback. */
static void test_default_listener(void **state)
{
    fx *f = *state;
    const oa_transport *t;
    oa_listener *l;
    int port = fx_free_port();
    int v6 = fx_have_ipv6();
    char to[64];
    char ra[128];
    assert_int_equal(fx_host_up(f, port, NULL), 1);
    t = f->t;
    assert_int_equal(t->listen(t->instance, NULL, fx_on_accept, f, &l), 0);
    assert_int_equal(t->listen_port(l), port);
    assert_int_equal(fx_stats(f).listeners, v6 ? 2 : 1);

    snprintf(to, sizeof(to), "127.0.0.1:%d", port);
    assert_int_equal(t->connect(t->instance, to, 0, fx_on_connect, &f->out[0], &f->out[0].c), 0);
    WAIT_FOR(f, f->naccepted == 1 && f->out[0].connect_calls == 1, 10000);
    assert_int_equal(f->out[0].connect_status, 0);
    assert_int_equal(f->naccepted, 1);
    assert_int_equal(t->remote_addr(f->acc[0].c, ra, sizeof(ra)), 0);
    assert_true(strncmp(ra, "127.0.0.1:", 10) == 0);
    if (v6) {
        snprintf(to, sizeof(to), "[::1]:%d", port);
        assert_int_equal(t->connect(t->instance, to, 0, fx_on_connect, &f->out[1], &f->out[1].c),
                         0);
        WAIT_FOR(f, f->naccepted == 2 && f->out[1].connect_calls == 1, 10000);
        assert_int_equal(f->out[1].connect_status, 0);
        assert_int_equal(f->naccepted, 2);
        assert_int_equal(t->remote_addr(f->acc[1].c, ra, sizeof(ra)), 0);
        assert_true(strncmp(ra, "[::1]:", 6) == 0);
    }
    /* A second listener on the same port is refused. */
    {
        oa_listener *l2 = NULL;
        assert_int_equal(t->listen(t->instance, to, fx_on_accept, f, &l2), OA_EBUSY);
        assert_null(l2);
    }
    t->listen_close(l);
    assert_int_equal(fx_stats(f).listeners, 0);
    /* Connections outlive their listener; the host closes them at the end. */
    assert_int_equal(fx_stats(f).connections, v6 ? 4 : 2);
}

/* auto_listen binds at start; a connection that arrives before anyone
 * listens waits, and is accepted once listen(NULL) adopts the listener. */
static void test_auto_listen(void **state)
{
    fx *f = *state;
    const oa_transport *t;
    oa_listener *l;
    oa_listener *l2 = NULL;
    int port = fx_free_port();
    char addr[64];
    int raw;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    assert_int_equal(fx_host_up(f, 0, "auto_listen", "true", "listen", addr, NULL), 1);
    t = f->t;
    assert_int_equal(fx_stats(f).listeners, 1);
    raw = fx_raw_connect(port);
    RUN_FOR(f, 200);
    assert_int_equal(fx_stats(f).accepted, 0);

    assert_int_equal(t->listen(t->instance, NULL, fx_on_accept, f, &l), 0);
    assert_int_equal(t->listen_port(l), port);
    assert_int_equal(f->naccepted, 0); /* never inside listen() */
    WAIT_FOR(f, f->naccepted == 1, 10000);
    assert_int_equal(f->naccepted, 1);
    assert_int_equal(fx_stats(f).accepted, 1);
    assert_int_equal(t->listen(t->instance, NULL, fx_on_accept, f, &l2), OA_EBUSY);

    /* listen_close hands it back: still bound, and adoptable again. */
    t->listen_close(l);
    assert_int_equal(fx_stats(f).listeners, 1);
    assert_int_equal(t->listen(t->instance, NULL, fx_on_accept, f, &l2), 0);
    assert_ptr_equal(l2, l);
    t->listen_close(l2);
    close(raw);
    t->close(f->acc[0].c);
    assert_int_equal(f->acc[0].closed, 1);
    assert_int_equal(f->acc[0].close_reason, OA_CLOSE_LOCAL);
    assert_int_equal(fx_stats(f).connections, 0);
}

/* A start that cannot work fails with a sentence, and the host is fine. */
static void test_start_failures(void **state)
{
    fx *f = *state;
    oa_plugin_info info;
    char addr[64];
    int port;
    int taken;

    assert_int_equal(fx_host_up(f, 0, "listen", "nonsense", NULL), 0);
    assert_null(f->t);
    assert_int_equal(oa_registry_info_by_name(f->h.reg, PLUGIN, &info), 0);
    assert_int_equal(info.state, OA_STATE_FAILED);
    assert_non_null(strstr(info.reason, "setting 'listen' must be empty"));
    fx_host_down(f);

    taken = fx_raw_socket(8, &port);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    assert_int_equal(fx_host_up(f, 0, "listen", addr, "auto_listen", "true", NULL), 0);
    assert_int_equal(oa_registry_info_by_name(f->h.reg, PLUGIN, &info), 0);
    assert_int_equal(info.state, OA_STATE_FAILED);
    assert_non_null(strstr(info.reason, "auto_listen: cannot listen on"));
    assert_non_null(strstr(info.reason, "address already in use"));
    fx_host_down(f);
    close(taken);

    /* The port free again: the same settings start. */
    assert_int_equal(fx_host_up(f, 0, NULL), 1);
    assert_non_null(f->t);
    assert_int_equal(fx_stats(f).listeners, 1);
}

static void test_api_misuse_and_reentry(void **state)
{
    fx *f = *state;
    const oa_transport *t;
    static const char *const bad[] = {"",          "localhost:1", "127.0.0.1", "::1:80",
                                      "[::1]:99999", "127.0.0.1:http", "[::1]80", "1.2.3:4",
                                      "[127.0.0.1]:5", "127.0.0.1:-1"};
    oa_listener *l = NULL;
    oa_conn *c = NULL;
    side *a;
    side *b;
    char *out = NULL;
    assert_int_equal(fx_host_up(f, 0, NULL), 1);
    t = f->t;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(t->listen(t->instance, bad[i], fx_on_accept, f, &l), OA_EINVAL);
        assert_int_equal(t->connect(t->instance, bad[i], 0, fx_on_connect, &f->out[0], &c),
                         OA_EINVAL);
    }
    assert_int_equal(t->connect(t->instance, "127.0.0.1:0", 0, fx_on_connect, &f->out[0], &c),
                     OA_EINVAL);
    assert_int_equal(t->connect(t->instance, "127.0.0.1:9", 0, NULL, NULL, &c), OA_EINVAL);
    assert_int_equal(t->listen(t->instance, "127.0.0.1:0", NULL, NULL, &l), OA_EINVAL);
    assert_int_equal(f->out[0].connect_calls, 0);
    assert_int_equal(fx_stats(f).listeners, 0);

    /* No reading before callbacks are set. */
    f->accept_bare = 1;
    fx_pair(f, "127.0.0.1:0", 0, &a, &b, NULL);
    assert_int_equal(t->read_start(b->c), OA_ESTATE);
    t->set_callbacks(b->c, fx_on_read, fx_on_close, b);
    assert_int_equal(t->read_start(b->c), 0);
    assert_int_equal(t->read_start(b->c), 0);

    /* An empty write completes like any other. */
    assert_int_equal(t->write(a->c, "", 0, fx_on_write, a), 0);
    WAIT_FOR(f, a->writes_ok == 1, 10000);
    assert_int_equal(a->writes_ok, 1);

    /* Closing from inside the read callback; writing from inside the close
     * callback is refused. */
    b->rx_seed = 9;
    b->close_in_read = 1;
    assert_int_equal(t->read_start(a->c), 0);
    fx_send(a, 9, 0, 10, 10);
    WAIT_FOR(f, b->closed == 1 && a->closed == 1, 10000);
    assert_int_equal(b->rx, 10);
    assert_int_equal(b->close_reason, OA_CLOSE_LOCAL);
    assert_int_equal(b->write_in_close_rc, OA_ESTATE);
    assert_int_equal(a->closed, 1);
    assert_int_equal(a->close_reason, OA_CLOSE_EOF);
    assert_int_equal(a->writes_ok, 2);

    /* The plugin's stats command. */
    assert_int_equal(oa_registry_command(f->h.reg, PLUGIN, "stats", "{}", &out), 0);
    assert_non_null(strstr(out, "\"accepted\":1"));
    assert_non_null(strstr(out, "\"connections\":0"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_service_registered, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_exchange_ipv4, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_exchange_ipv6, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_connect_failures, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_max_connections, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_disable_closes_everything, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_default_listener, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_auto_listen, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_start_failures, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_api_misuse_and_reentry, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

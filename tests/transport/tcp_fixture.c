/* The fixture of the transport tests (tcp_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp_fixture.h"
#include "testutil.h"

/* ---- the loop ------------------------------------------------------------- */

static void fx_on_deadline(uv_timer_t *t)
{
    fx *f = t->data;
    f->expired = 1;
}

void fx_deadline_start(fx *f, uint64_t ms)
{
    f->expired = 0;
    uv_timer_start(&f->deadline, fx_on_deadline, ms, 0);
}

/* ---- the host -------------------------------------------------------------- */

int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    const char *build = getenv("OA_BUILD_DIR");
    char *so;
    char *link;
    oa_log_level level = OA_LOG_ERROR;
    const char *lv = getenv("OA_TEST_LOG");
    if (lv != NULL) {
        oa_log_parse_level(lv, &level);
    }
    oa_log_init(level, 0, 0);
    assert_non_null(f);
    assert_non_null(build); /* set by CTest (oa_add_test) */
    f->data = oa_test_tmpdir();
    /* A directory with only this plugin, so that other plugins in the build
     * (the swarm, which requires a transport) do not start with it. */
    f->plugins = oa_test_tmpdir();
    assert_non_null(f->data);
    assert_non_null(f->plugins);
    so = oa_test_path(build, "plugins/" PLUGIN ".so");
    link = oa_test_path(f->plugins, PLUGIN ".so");
    assert_int_equal(access(so, R_OK), 0);
    assert_int_equal(symlink(so, link), 0);
    free(so);
    free(link);
    for (int i = 0; i < MAX_SIDES; i++) {
        f->acc[i].f = f;
        f->out[i].f = f;
    }
    *state = f;
    return 0;
}

void fx_host_down(fx *f)
{
    if (f->open) {
        uv_close((uv_handle_t *)&f->deadline, NULL);
        f->open = 0;
        assert_int_equal(oa_host_close(&f->h), 0);
    }
}

int fx_teardown(void **state)
{
    fx *f = *state;
    fx_host_down(f);
    oa_test_rmtree(f->data);
    oa_test_rmtree(f->plugins);
    free(f->data);
    free(f->plugins);
    free(f);
    return 0;
}

void fx_config(fx *f, const char *key, const char *value)
{
    char err[512];
    int rc = oa_host_config_set(&f->h, PLUGIN, key, value, err, sizeof(err));
    if (rc != 0) {
        fail_msg("config set %s=%s: %s", key, value, err);
    }
}

/* Opens the host with settings (key, value pairs, then NULL), starts the
 * plugins and looks up the service. Returns how many plugins run. */
int fx_host_up(fx *f, int p2p_port, ...)
{
    oa_host_options o;
    char err[512];
    va_list ap;
    const char *k;
    int running;
    memset(&o, 0, sizeof(o));
    o.data_dir = f->data;
    o.plugin_dir = f->plugins;
    o.engine = 1;
    o.p2p_port = p2p_port > 0 ? p2p_port : 18621;
    if (oa_host_open(&f->h, NULL, &o, err, sizeof(err)) != 0) {
        fail_msg("host open: %s", err);
    }
    f->open = 1;
    uv_timer_init(f->h.loop, &f->deadline);
    f->deadline.data = f;
    va_start(ap, p2p_port);
    k = va_arg(ap, const char *);
    while (k != NULL) {
        fx_config(f, k, va_arg(ap, const char *));
        k = va_arg(ap, const char *);
    }
    va_end(ap);
    running = oa_registry_start_all(f->h.reg);
    f->t = oa_registry_service_lookup(f->h.reg, "transport.tcp", OA_TRANSPORT_VERSION, NULL);
    return running;
}

oa_transport_stats fx_stats(fx *f)
{
    oa_transport_stats st;
    memset(&st, 0, sizeof(st));
    st.size = (uint32_t)sizeof(st);
    f->t->stats(f->t->instance, &st);
    assert_int_equal(st.size, sizeof(st));
    return st;
}

int fx_have_ipv6(void)
{
    struct sockaddr_in6 a;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    int ok;
    if (fd < 0) {
        return 0;
    }
    memset(&a, 0, sizeof(a));
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* ---- raw sockets (the other end, where the test needs one) ----------------- */

/* A socket on 127.0.0.1:0; listening with backlog when backlog >= 0. */
int fx_raw_socket(int backlog, int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    if (backlog >= 0) {
        assert_int_equal(listen(fd, backlog), 0);
    }
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A blocking connect to 127.0.0.1:port; the kernel completes it before the
 * listener accepts. */
int fx_raw_connect(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* A port free on 0.0.0.0 right now. */
int fx_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;
    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* ---- callbacks --------------------------------------------------------------- */

uint8_t fx_pat(uint32_t seed, uint64_t i)
{
    uint64_t x = (i + seed * 0x100000001ull) * 0x9E3779B97F4A7C15ull;
    return (uint8_t)(x >> 56);
}

void fx_on_read(void *arg, oa_conn *c, const uint8_t *d, size_t n)
{
    side *s = arg;
    for (size_t k = 0; k < n; k++) {
        if (d[k] != fx_pat(s->rx_seed, s->rx + k)) {
            s->rx_bad++;
        }
    }
    s->rx += n;
    if (s->stop_at > 0 && !s->stopped && s->rx >= s->stop_at) {
        s->stopped = 1;
        s->rx_at_stop = s->rx;
        if (s->f->t->read_stop(c) != 0) {
            s->rx_bad++;
        }
    }
    if (s->close_in_read) {
        s->f->t->close(c);
    }
}

void fx_on_close(void *arg, oa_conn *c, int reason)
{
    side *s = arg;
    s->closed++;
    s->close_reason = reason;
    /* The connection is closed: writing is refused. */
    s->write_in_close_rc = s->f->t->write(c, "x", 1, NULL, NULL);
    s->c = NULL;
}

void fx_on_write(void *arg, oa_conn *c, int status)
{
    side *s = arg;
    (void)c;
    if (status == 0) {
        s->writes_ok++;
    } else if (status == OA_ECANCELED) {
        s->writes_canceled++;
    } else {
        s->writes_failed++;
    }
}

void fx_on_accept(void *arg, oa_conn *c)
{
    fx *f = arg;
    side *s;
    if (f->naccepted >= MAX_SIDES) {
        f->t->close(c);
        return;
    }
    s = &f->acc[f->naccepted++];
    s->c = c;
    if (f->accept_bare) {
        return;
    }
    f->t->set_callbacks(c, fx_on_read, fx_on_close, s);
    if (f->accept_read) {
        f->t->read_start(c);
    }
}

void fx_on_connect(void *arg, oa_conn *c, int status)
{
    side *s = arg;
    s->connect_calls++;
    s->connect_status = status;
    if (status != 0) {
        s->c = NULL; /* gone */
        return;
    }
    s->f->t->set_callbacks(c, fx_on_read, fx_on_close, s);
    if (s->read_on_connect) {
        s->f->t->read_start(c);
    }
}

/* Queues total bytes of the pattern seed in writes of chunk bytes. Returns
 * the number of writes. */
int fx_send(side *s, uint32_t seed, uint64_t from, uint64_t total, size_t chunk)
{
    uint8_t *buf = malloc(chunk);
    int n = 0;
    assert_non_null(buf);
    for (uint64_t off = 0; off < total; off += chunk) {
        size_t len = total - off < chunk ? (size_t)(total - off) : chunk;
        for (size_t k = 0; k < len; k++) {
            buf[k] = fx_pat(seed, from + off + k);
        }
        assert_int_equal(s->f->t->write(s->c, buf, len, fx_on_write, s), 0);
        n++;
    }
    free(buf);
    return n;
}

/* Listens on addr, connects to it and returns both ends (outbound out[k],
 * inbound acc[naccepted - 1]). *l gets the listener unless l is NULL (then
 * it is closed). */
void fx_pair(fx *f, const char *addr, int k, side **client, side **server,
                      oa_listener **l)
{
    const oa_transport *t = f->t;
    oa_listener *lis;
    char to[128];
    int before = f->naccepted;
    int port;
    assert_int_equal(t->listen(t->instance, addr, fx_on_accept, f, &lis), 0);
    port = t->listen_port(lis);
    assert_true(port > 0 && port < 65536);
    if (addr[0] == '[') {
        snprintf(to, sizeof(to), "[::1]:%d", port);
    } else {
        snprintf(to, sizeof(to), "127.0.0.1:%d", port);
    }
    assert_int_equal(t->connect(t->instance, to, 0, fx_on_connect, &f->out[k], &f->out[k].c), 0);
    WAIT_FOR(f, f->out[k].connect_calls == 1 && f->naccepted == before + 1, 10000);
    assert_int_equal(f->out[k].connect_calls, 1);
    assert_int_equal(f->out[k].connect_status, 0);
    assert_int_equal(f->naccepted, before + 1);
    *client = &f->out[k];
    *server = &f->acc[before];
    if (l != NULL) {
        *l = lis;
    } else {
        t->listen_close(lis);
    }
}

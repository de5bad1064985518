/* The HTTP server on a real loopback socket: libmicrohttpd driven by the
 * libuv loop, with a blocking client in another thread. Covers plain
 * replies, query decoding, bodies and their cap, replies given later from a
 * timer, chunked streams written over time, and a port already in use. */
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

#include "http_int.h"
#include "log.h"

typedef struct fx {
    uv_loop_t loop;
    oa_http *h;
    int port;
    uv_async_t done;
    uv_timer_t later;
    oa_http_req *kept;
    oa_http_stream *stream;
    int step;
} fx;

static fx *g;

/* ---- handlers ------------------------------------------------------------------ */

static int h_hello(void *arg, oa_http_req *req)
{
    (void)arg;
    return oa_http_reply(req, 200, "text/plain", "hello", 5);
}

static int h_query(void *arg, oa_http_req *req)
{
    const char *a = oa_http_query(req, "a");
    (void)arg;
    return oa_http_reply(req, 200, "text/plain", a ? a : "-", a ? strlen(a) : 1);
}

static int h_echo(void *arg, oa_http_req *req)
{
    (void)arg;
    return oa_http_reply(req, 200, "text/plain", req->body ? req->body : "", req->body_len);
}

static void reply_later(uv_timer_t *t)
{
    fx *f = t->data;
    oa_http_reply(f->kept, 200, "text/plain", "later", 5);
    f->kept = NULL;
}

static int h_later(void *arg, oa_http_req *req)
{
    fx *f = arg;
    f->kept = req;
    uv_timer_start(&f->later, reply_later, 50, 0);
    return 0;
}

static void stream_more(uv_timer_t *t)
{
    fx *f = t->data;
    f->step++;
    if (f->step == 1) {
        oa_http_stream_write(f->stream, "two,", 4);
        uv_timer_start(&f->later, stream_more, 30, 0);
    } else {
        oa_http_stream_write(f->stream, "three", 5);
        oa_http_stream_end(f->stream);
    }
}

static void on_stream(void *arg, oa_http_stream *s, int ev)
{
    fx *f = arg;
    (void)s;
    if (ev == OA_HTTP_STREAM_CLOSED) {
        f->stream = NULL;
    }
}

static int h_stream(void *arg, oa_http_req *req)
{
    fx *f = arg;
    int rc = oa_http_stream_open(req, 200, "text/plain", -1, 0, on_stream, f, &f->stream);
    if (rc == 0) {
        f->step = 0;
        oa_http_stream_write(f->stream, "one,", 4);
        uv_timer_start(&f->later, stream_more, 30, 0);
    }
    return rc;
}

/* ---- client ----------------------------------------------------------------------- */

typedef struct call {
    const char *request; /* raw HTTP, "%d" for nothing */
    size_t extra_body;   /* bytes of 'x' appended after the request */
    char response[8192];
} call;

static call calls[8];
static int ncalls;

static void do_call(call *c)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t got = 0;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)g->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        snprintf(c->response, sizeof(c->response), "connect failed");
        close(fd);
        return;
    }
    if (write(fd, c->request, strlen(c->request)) < 0) {
        c->response[0] = '\0';
    }
    if (c->extra_body > 0) {
        char *b = malloc(c->extra_body);
        memset(b, 'x', c->extra_body);
        /* The server may answer 413 and close before reading it all. */
        if (send(fd, b, c->extra_body, MSG_NOSIGNAL) < 0) {
            c->response[0] = '\0';
        }
        free(b);
    }
    for (;;) {
        ssize_t n = read(fd, c->response + got, sizeof(c->response) - 1 - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        if (got >= sizeof(c->response) - 1) {
            break;
        }
    }
    c->response[got] = '\0';
    close(fd);
}

static void client_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < ncalls; i++) {
        do_call(&calls[i]);
    }
    uv_async_send(&g->done);
}

static void on_done(uv_async_t *a)
{
    uv_stop(a->loop);
}

static void run_calls(fx *f)
{
    uv_thread_t t;
    uv_thread_create(&t, client_thread, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_thread_join(&t);
}

/* ---- fixture ----------------------------------------------------------------------- */

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    char err[256];
    oa_log_init(OA_LOG_ERROR, 0, 0);
    uv_loop_init(&f->loop);
    assert_int_equal(oa_http_new(&f->loop, "127.0.0.1:0", &f->h, err, sizeof(err)), 0);
    f->port = oa_http_server_port(f->h);
    assert_true(f->port > 0);
    uv_async_init(&f->loop, &f->done, on_done);
    uv_timer_init(&f->loop, &f->later);
    f->later.data = f;
    oa_http_route(f->h, NULL, "GET", "/hello", OA_HTTP_PUBLIC, h_hello, f);
    oa_http_route(f->h, NULL, "GET", "/query", OA_HTTP_PUBLIC, h_query, f);
    oa_http_route(f->h, NULL, "POST", "/echo", OA_HTTP_PUBLIC, h_echo, f);
    oa_http_route(f->h, NULL, "GET", "/later", OA_HTTP_PUBLIC, h_later, f);
    oa_http_route(f->h, NULL, "GET", "/stream", OA_HTTP_PUBLIC, h_stream, f);
    oa_http_route(f->h, NULL, "GET", "/private", 0, h_hello, f);
    ncalls = 0;
    memset(calls, 0, sizeof(calls));
    g = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    oa_http_close(f->h);
    uv_close((uv_handle_t *)&f->done, NULL);
    uv_close((uv_handle_t *)&f->later, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static call *add_call(const char *req)
{
    calls[ncalls].request = req;
    return &calls[ncalls++];
}

static void test_plain_query_and_auth(void **state)
{
    fx *f = *state;
    call *a = add_call("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    call *b = add_call("GET /query?a=one%20two&b=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    call *c = add_call("GET /private HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    call *d = add_call("DELETE /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    run_calls(f);
    assert_non_null(strstr(a->response, "HTTP/1.1 200"));
    assert_non_null(strstr(a->response, "\r\n\r\nhello"));
    assert_non_null(strstr(b->response, "\r\n\r\none two"));
    assert_non_null(strstr(c->response, "HTTP/1.1 401"));
    assert_non_null(strstr(c->response, "\"unauthorized\""));
    assert_non_null(strstr(d->response, "HTTP/1.1 405"));
}

static void test_bodies_and_cap(void **state)
{
    fx *f = *state;
    call *a = add_call("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
                       "Connection: close\r\n\r\nhello world");
    call *b = add_call("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
                       "Connection: close\r\n\r\n");
    b->extra_body = 5000;
    oa_http_set_body_limit(f->h, 1024);
    run_calls(f);
    assert_non_null(strstr(a->response, "\r\n\r\nhello world"));
    assert_non_null(strstr(b->response, "HTTP/1.1 413"));
}

static void test_reply_later_and_stream(void **state)
{
    fx *f = *state;
    call *a = add_call("GET /later HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    call *b = add_call("GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    oa_http_stats st;
    run_calls(f);
    assert_non_null(strstr(a->response, "HTTP/1.1 200"));
    assert_non_null(strstr(a->response, "\r\n\r\nlater"));
    assert_non_null(strstr(b->response, "Transfer-Encoding: chunked"));
    assert_non_null(strstr(b->response, "one,"));
    assert_non_null(strstr(b->response, "two,"));
    assert_non_null(strstr(b->response, "three"));
    assert_true(strstr(b->response, "one,") < strstr(b->response, "three"));
    /* The CLOSED report comes from the loop after the connection ends. */
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_null(f->stream);
    oa_http_get_stats(f->h, &st);
    assert_int_equal(st.streams_open, 0);
    assert_int_equal(st.stream_bytes, 13);
}

static void test_port_in_use(void **state)
{
    fx *f = *state;
    oa_http *other = NULL;
    char addr[64];
    char err[256];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", f->port);
    assert_int_equal(oa_http_new(&f->loop, addr, &other, err, sizeof(err)), OA_EIO);
    assert_non_null(strstr(err, "Address already in use"));
    assert_int_equal(oa_http_new(&f->loop, "nonsense", &other, err, sizeof(err)), OA_EINVAL);
    assert_non_null(strstr(err, "want ADDR:PORT"));
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain_query_and_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bodies_and_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_later_and_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_in_use, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

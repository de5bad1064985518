/* The libcurl driver (plugins/swarm/curl_uv.c) against the host's HTTP
 * server on a real loopback socket, both on one libuv loop: replies and
 * HTTP error statuses, the body cap (with and without Content-Length), the
 * total timeout, cancel while in flight, closing the driver with requests
 * in flight and from inside a completion callback, and failures that are
 * reported without a callback. Only 127.0.0.1 is contacted. */
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

#include "curl_uv.h"
#include "http_int.h"
#include "log.h"

#define MAX_DONE 32
#define BIG_LEN 5000

typedef struct done_rec {
    int status;
    long code;
    char body[BIG_LEN + 1];
    size_t len;
    char error[256];
    const char *tag;
} done_rec;

typedef struct fx {
    uv_loop_t loop;
    oa_http *h;
    int port;
    oa_curl_uv *d;
    uv_timer_t deadline;
    int deadline_hit;
    int holds;       /* requests the /hold route has kept */
    done_rec done[MAX_DONE];
    int ndone;
    int closed;      /* the driver's closed callback ran */
    int close_in_cb; /* the next completion closes the driver */
} fx;

/* ---- the server ---------------------------------------------------------------- */

static int h_hello(void *arg, oa_http_req *req)
{
    (void)arg;
    return oa_http_reply(req, 200, "text/plain", "hello", 5);
}

static int h_big(void *arg, oa_http_req *req)
{
    char *b = malloc(BIG_LEN);
    int rc;

    (void)arg;
    memset(b, 'x', BIG_LEN);
    rc = oa_http_reply(req, 200, "application/octet-stream", b, BIG_LEN);
    free(b);
    return rc;
}

/* The same body without Content-Length: chunked. */
static int h_chunked(void *arg, oa_http_req *req)
{
    oa_http_stream *s = NULL;
    char *b = malloc(BIG_LEN);
    int rc;

    (void)arg;
    memset(b, 'x', BIG_LEN);
    rc = oa_http_stream_open(req, 200, "application/octet-stream", -1, 0, NULL, NULL, &s);
    if (rc == 0) {
        oa_http_stream_write(s, b, BIG_LEN);
        oa_http_stream_end(s);
    }
    free(b);
    return rc;
}

/* Never answers; oa_http_close() answers 503 at the end. */
static int h_hold(void *arg, oa_http_req *req)
{
    fx *f = arg;

    (void)req;
    f->holds++;
    uv_stop(&f->loop);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------- */

static void on_deadline(uv_timer_t *t)
{
    fx *f = t->data;

    f->deadline_hit = 1;
    uv_stop(t->loop);
}

/* Runs the loop until pred holds; fails the test after 10 s without.
 * Every callback that changes what a predicate reads stops the loop, so
 * that the predicate is checked again right away. */
static void run_until(fx *f, int (*pred)(const fx *f, int n), int n)
{
    f->deadline_hit = 0;
    uv_timer_start(&f->deadline, on_deadline, 10000, 0);
    while (!pred(f, n) && !f->deadline_hit) {
        uv_run(&f->loop, UV_RUN_DEFAULT);
    }
    uv_timer_stop(&f->deadline);
    if (!pred(f, n)) {
        fail_msg("the loop ran 10 s without reaching the expected state");
    }
}

static int ndone_is(const fx *f, int n)
{
    return f->ndone >= n;
}

static int holds_is(const fx *f, int n)
{
    return f->holds >= n;
}

static int is_closed(const fx *f, int n)
{
    (void)n;
    return f->closed;
}

static void on_closed(void *arg)
{
    fx *f = arg;

    f->closed = 1;
    uv_stop(&f->loop);
}

static void on_done(void *arg, oa_curl_req *req, const oa_curl_result *res)
{
    fx *f = arg;
    done_rec *r;

    assert_true(f->ndone < MAX_DONE);
    r = &f->done[f->ndone++];
    uv_stop(&f->loop);
    assert_false(f->closed);
    r->status = res->status;
    r->code = res->http_code;
    r->len = res->body_len < BIG_LEN ? res->body_len : BIG_LEN;
    memcpy(r->body, res->body, r->len);
    r->body[r->len] = '\0';
    assert_int_equal(res->body[res->body_len], '\0');
    snprintf(r->error, sizeof(r->error), "%s", res->error);
    r->tag = oa_curl_uv_active(f->d) == 0 ? "last" : "more";
    /* Canceling itself inside its callback is harmless. */
    oa_curl_cancel(req);
    if (f->close_in_cb) {
        f->close_in_cb = 0;
        oa_curl_uv_close(f->d, on_closed, f);
        f->d = NULL;
    }
}

static char *url_for(const fx *f, const char *path)
{
    char *u = malloc(128);

    snprintf(u, 128, "http://127.0.0.1:%d%s", f->port, path);
    return u;
}

static void get(fx *f, const char *path, const oa_curl_opts *o, oa_curl_req **out)
{
    char *u = url_for(f, path);

    assert_int_equal(oa_curl_get(f->d, u, o, on_done, f, out), 0);
    free(u);
}

/* ---- fixture ------------------------------------------------------------------------ */

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    char err[256];

    oa_log_init(OA_LOG_ERROR, 0, 0);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(oa_http_new(&f->loop, "127.0.0.1:0", &f->h, err, sizeof(err)), 0);
    f->port = oa_http_server_port(f->h);
    assert_true(f->port > 0);
    oa_http_route(f->h, NULL, "GET", "/hello", OA_HTTP_PUBLIC, h_hello, f);
    oa_http_route(f->h, NULL, "GET", "/big", OA_HTTP_PUBLIC, h_big, f);
    oa_http_route(f->h, NULL, "GET", "/chunked", OA_HTTP_PUBLIC, h_chunked, f);
    oa_http_route(f->h, NULL, "GET", "/hold", OA_HTTP_PUBLIC, h_hold, f);
    uv_timer_init(&f->loop, &f->deadline);
    f->deadline.data = f;
    assert_int_equal(oa_curl_uv_new(&f->loop, &f->d), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    if (f->d != NULL) {
        oa_curl_uv_close(f->d, on_closed, f);
        f->d = NULL;
    }
    oa_http_close(f->h);
    uv_close((uv_handle_t *)&f->deadline, NULL);
    /* A callback's uv_stop() may end a run early: run until nothing is left. */
    while (uv_run(&f->loop, UV_RUN_DEFAULT) != 0) {
    }
    assert_true(f->closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_replies_and_statuses(void **state)
{
    fx *f = *state;
    int i;

    get(f, "/hello", NULL, NULL);
    /* Never inside the call that started it. */
    assert_int_equal(f->ndone, 0);
    assert_int_equal(oa_curl_uv_active(f->d), 1);
    run_until(f, ndone_is, 1);
    assert_int_equal(f->done[0].status, 0);
    assert_int_equal(f->done[0].code, 200);
    assert_string_equal(f->done[0].body, "hello");
    assert_string_equal(f->done[0].error, "");

    /* An HTTP error status is a response: status 0, the code, the body. */
    get(f, "/missing", NULL, NULL);
    run_until(f, ndone_is, 2);
    assert_int_equal(f->done[1].status, 0);
    assert_int_equal(f->done[1].code, 404);
    assert_true(f->done[1].len > 0);

    /* Many at once, over kept-alive connections. */
    for (i = 0; i < 20; i++) {
        get(f, i % 2 ? "/hello" : "/big", NULL, NULL);
    }
    assert_int_equal(oa_curl_uv_active(f->d), 20);
    run_until(f, ndone_is, 22);
    for (i = 2; i < 22; i++) {
        assert_int_equal(f->done[i].status, 0);
        assert_int_equal(f->done[i].code, 200);
        assert_true(f->done[i].len == 5 || f->done[i].len == BIG_LEN);
    }
    assert_string_equal(f->done[21].tag, "last");
    assert_int_equal(oa_curl_uv_active(f->d), 0);
}

static void test_body_cap(void **state)
{
    fx *f = *state;
    oa_curl_opts o = {0};

    o.max_body = BIG_LEN - 1;
    get(f, "/big", &o, NULL);     /* Content-Length says too much */
    get(f, "/chunked", &o, NULL); /* found out while reading */
    run_until(f, ndone_is, 2);
    assert_int_equal(f->done[0].status, OA_EOVERFLOW);
    assert_int_equal(f->done[1].status, OA_EOVERFLOW);
    assert_non_null(strstr(f->done[0].error, "larger than 4999 bytes"));
    assert_non_null(strstr(f->done[1].error, "larger than 4999 bytes"));

    o.max_body = BIG_LEN; /* exactly the cap is fine */
    get(f, "/big", &o, NULL);
    get(f, "/chunked", &o, NULL);
    run_until(f, ndone_is, 4);
    assert_int_equal(f->done[2].status, 0);
    assert_int_equal(f->done[2].len, BIG_LEN);
    assert_int_equal(f->done[3].status, 0);
    assert_int_equal(f->done[3].len, BIG_LEN);
}

static void test_timeout(void **state)
{
    fx *f = *state;
    oa_curl_opts o = {0};

    o.timeout_ms = 200;
    get(f, "/hold", &o, NULL);
    run_until(f, ndone_is, 1);
    assert_int_equal(f->holds, 1);
    assert_int_equal(f->done[0].status, OA_ETIMEDOUT);
    assert_int_equal(f->done[0].code, 0);
    assert_true(strlen(f->done[0].error) > 0);
}

static void test_cancel_in_flight(void **state)
{
    fx *f = *state;
    oa_curl_req *a = NULL;
    oa_curl_req *b = NULL;
    oa_curl_req *c = NULL;

    get(f, "/hold", NULL, &a);
    get(f, "/hold", NULL, &b);
    get(f, "/hello", NULL, &c);
    oa_curl_cancel(c); /* before it even started */
    assert_int_equal(oa_curl_uv_active(f->d), 2);
    run_until(f, holds_is, 2); /* both reached the server */
    oa_curl_cancel(a);
    oa_curl_cancel(b);
    oa_curl_cancel(NULL);
    assert_int_equal(oa_curl_uv_active(f->d), 0);
    /* The loop goes on; a later request completes, the canceled never. */
    get(f, "/hello", NULL, NULL);
    run_until(f, ndone_is, 1);
    assert_int_equal(f->ndone, 1);
    assert_string_equal(f->done[0].body, "hello");
}

static void test_close_with_requests_in_flight(void **state)
{
    fx *f = *state;

    get(f, "/hold", NULL, NULL);
    get(f, "/hold", NULL, NULL);
    get(f, "/hold", NULL, NULL);
    run_until(f, holds_is, 3);
    oa_curl_uv_close(f->d, on_closed, f);
    oa_curl_uv_close(f->d, on_closed, f); /* again while closing: nothing */
    f->d = NULL;
    run_until(f, is_closed, 1);
    assert_int_equal(f->ndone, 0);
}

static void test_close_inside_callback(void **state)
{
    fx *f = *state;

    get(f, "/hold", NULL, NULL);
    run_until(f, holds_is, 1);
    get(f, "/hello", NULL, NULL);
    f->close_in_cb = 1;
    run_until(f, is_closed, 1);
    assert_int_equal(f->ndone, 1); /* /hello; the held one never */
    assert_string_equal(f->done[0].body, "hello");
}

static void test_failures(void **state)
{
    fx *f = *state;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char url[128];
    oa_curl_req *r = (oa_curl_req *)(uintptr_t)1;

    /* A loopback port nobody listens on: bound, then closed. */
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/announce", (unsigned)ntohs(sa.sin_port));
    assert_int_equal(oa_curl_get(f->d, url, NULL, on_done, f, NULL), 0);
    run_until(f, ndone_is, 1);
    assert_int_equal(f->done[0].status, OA_EIO);
    assert_non_null(strstr(f->done[0].error, "onnect"));
    /* Only http and https. */
    assert_int_equal(oa_curl_get(f->d, "ftp://127.0.0.1/x", NULL, on_done, f, NULL), 0);
    run_until(f, ndone_is, 2);
    assert_int_equal(f->done[1].status, OA_EINVAL);

    /* Refused calls never call back. */
    assert_int_equal(oa_curl_get(f->d, NULL, NULL, on_done, f, &r), OA_EINVAL);
    assert_null(r);
    assert_int_equal(oa_curl_get(f->d, url, NULL, NULL, f, NULL), OA_EINVAL);
    assert_int_equal(oa_curl_get(NULL, url, NULL, on_done, f, NULL), OA_EINVAL);
    oa_curl_uv_close(f->d, on_closed, f);
    assert_int_equal(oa_curl_get(f->d, url, NULL, on_done, f, NULL), OA_ESTATE);
    f->d = NULL;
    run_until(f, is_closed, 1);
    assert_int_equal(f->ndone, 2);
    assert_int_equal(oa_curl_uv_new(NULL, &f->d), OA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replies_and_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_with_requests_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_inside_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
    };

    /* Loopback only, whatever proxy the environment names. */
    setenv("NO_PROXY", "*", 1);
    setenv("no_proxy", "*", 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

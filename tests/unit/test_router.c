/* The HTTP dispatcher without sockets: routing, the auth hook, errors,
 * async replies, streams and their back-pressure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"
#include "log.h"

typedef struct fx {
    uv_loop_t loop;
    oa_http *h;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    char err[256];
    oa_log_init(OA_LOG_ERROR, 0, 0);
    uv_loop_init(&f->loop);
    assert_int_equal(oa_http_new(&f->loop, NULL, &f->h, err, sizeof(err)), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    oa_http_close(f->h);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static oa_http_req *mkreq(const char *method, const char *path)
{
    oa_http_req *r = calloc(1, sizeof(*r));
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->path = strdup(path);
    snprintf(r->client, sizeof(r->client), "127.0.0.1:5555");
    return r;
}

static void add_header(oa_http_req *r, const char *n, const char *v)
{
    r->headers = realloc(r->headers, (r->nheaders + 1) * sizeof(*r->headers));
    r->headers[r->nheaders].name = strdup(n);
    r->headers[r->nheaders].value = strdup(v);
    r->nheaders++;
}

/* The error code of a JSON error reply. */
static const char *err_code(oa_http_req *r, char *buf, size_t len)
{
    json_t *j = json_loads(r->resp_body, 0, NULL);
    const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    snprintf(buf, len, "%s", c ? c : "(none)");
    json_decref(j);
    return buf;
}

static int h_name(void *arg, oa_http_req *req)
{
    return oa_http_reply(req, 200, "text/plain", arg, strlen(arg));
}

static int h_fail(void *arg, oa_http_req *req)
{
    (void)req;
    return (int)(intptr_t)arg;
}

static oa_http_req *kept_req;

static int h_keep(void *arg, oa_http_req *req)
{
    (void)arg;
    kept_req = req;
    return 0;
}

static void test_routing(void **state)
{
    fx *f = *state;
    char c[64];
    oa_http_req *r;
    assert_int_equal(oa_http_route(f->h, NULL, "GET", "/a", OA_HTTP_PUBLIC, h_name, "exact-a"), 0);
    assert_int_equal(oa_http_route(f->h, NULL, "*", "/api", OA_HTTP_PUBLIC | OA_HTTP_PREFIX,
                                   h_name, "api"),
                     0);
    assert_int_equal(oa_http_route(f->h, NULL, "GET", "/api/plugins",
                                   OA_HTTP_PUBLIC | OA_HTTP_PREFIX, h_name, "plugins"),
                     0);
    assert_int_equal(oa_http_route(f->h, NULL, "GET", "/a", 0, h_name, "dup"), OA_EEXIST);
    assert_int_equal(oa_http_route(f->h, NULL, "GET", "no-slash", 0, h_name, "x"), OA_EINVAL);

    r = mkreq("GET", "/a");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->resp_body, "exact-a");
    oa_http_req_free(r);

    r = mkreq("GET", "/api/plugins/example-echo/config");
    oa_http_dispatch(f->h, r);
    assert_string_equal(r->resp_body, "plugins"); /* the longest match wins */
    oa_http_req_free(r);

    r = mkreq("GET", "/api/pluginsx");
    oa_http_dispatch(f->h, r);
    assert_string_equal(r->resp_body, "api"); /* a prefix ends at a '/' */
    oa_http_req_free(r);

    r = mkreq("HEAD", "/a");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 200); /* GET routes answer HEAD */
    oa_http_req_free(r);

    r = mkreq("POST", "/a");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 405);
    assert_string_equal(err_code(r, c, sizeof(c)), "method_not_allowed");
    oa_http_req_free(r);

    r = mkreq("GET", "/nothing");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 404);
    assert_string_equal(err_code(r, c, sizeof(c)), "not_found");
    oa_http_req_free(r);

    r = mkreq("GET", "/a/");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 404); /* /a is exact, not a prefix */
    oa_http_req_free(r);
}

static int auth_calls;

static int fake_auth(void *arg, oa_http_req *req, int *status, char *why, size_t len)
{
    const char *tok = oa_http_header(req, "authorization");
    (void)arg;
    auth_calls++;
    if (tok != NULL && strcmp(tok, "Bearer good") == 0) {
        req->auth = OA_AUTH_TOKEN;
        snprintf(req->user, sizeof(req->user), "admin");
        return 0;
    }
    if (tok != NULL && strcmp(tok, "Bearer nocsrf") == 0) {
        *status = 403;
        snprintf(why, len, "missing CSRF token");
        return OA_EACCES;
    }
    *status = 401;
    snprintf(why, len, "log in first");
    return OA_EACCES;
}

static void test_auth_hook(void **state)
{
    fx *f = *state;
    char c[64];
    oa_http_req *r;
    oa_http_route(f->h, NULL, "GET", "/private", 0, h_name, "secret");
    oa_http_route(f->h, NULL, "GET", "/public", OA_HTTP_PUBLIC, h_name, "open");

    r = mkreq("GET", "/private");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 401); /* no hook installed: refused */
    oa_http_req_free(r);

    oa_http_set_auth(f->h, fake_auth, NULL);
    r = mkreq("GET", "/private");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 401);
    assert_string_equal(err_code(r, c, sizeof(c)), "unauthorized");
    assert_null(strstr(r->resp_body, "secret"));
    oa_http_req_free(r);

    r = mkreq("GET", "/private");
    add_header(r, "Authorization", "Bearer nocsrf");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 403);
    assert_string_equal(err_code(r, c, sizeof(c)), "csrf");
    oa_http_req_free(r);

    r = mkreq("GET", "/private");
    add_header(r, "AUTHORIZATION", "Bearer good"); /* names are case-insensitive */
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->resp_body, "secret");
    assert_string_equal(r->user, "admin");
    oa_http_req_free(r);

    auth_calls = 0;
    r = mkreq("GET", "/public");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 200);
    assert_int_equal(auth_calls, 0);
    oa_http_req_free(r);
}

static void test_errors_and_limits(void **state)
{
    fx *f = *state;
    char c[64];
    oa_http_req *r;
    json_t *j;
    oa_http_route(f->h, NULL, "*", "/fail-inval", OA_HTTP_PUBLIC, h_fail,
                  (void *)(intptr_t)OA_EINVAL);
    oa_http_route(f->h, NULL, "*", "/fail-state", OA_HTTP_PUBLIC, h_fail,
                  (void *)(intptr_t)OA_ESTATE);
    oa_http_route(f->h, NULL, "*", "/fail-io", OA_HTTP_PUBLIC, h_fail, (void *)(intptr_t)OA_EIO);

    r = mkreq("GET", "/fail-inval");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 400);
    oa_http_req_free(r);
    r = mkreq("GET", "/fail-state");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 409);
    assert_string_equal(err_code(r, c, sizeof(c)), "conflict");
    oa_http_req_free(r);
    r = mkreq("GET", "/fail-io");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 500);
    oa_http_req_free(r);

    r = mkreq("POST", "/fail-inval");
    r->body_too_large = 1;
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 413);
    assert_string_equal(err_code(r, c, sizeof(c)), "too_large");
    oa_http_req_free(r);

    /* Body parsing helper. */
    r = mkreq("POST", "/x");
    r->http = f->h;
    r->body = strdup("{\"a\": [1, 2");
    r->body_len = strlen(r->body);
    assert_null(oa_http_body_json(r));
    assert_int_equal(r->status, 400);
    assert_string_equal(err_code(r, c, sizeof(c)), "bad_json");
    oa_http_req_free(r);
    r = mkreq("POST", "/x");
    r->http = f->h;
    r->body = strdup("42");
    r->body_len = 2;
    assert_null(oa_http_body_json(r));
    assert_int_equal(r->status, 400);
    oa_http_req_free(r);
    r = mkreq("POST", "/x");
    r->http = f->h;
    r->body = strdup("{\"a\":1}");
    r->body_len = strlen(r->body);
    j = oa_http_body_json(r);
    assert_non_null(j);
    assert_int_equal(r->replied, 0);
    json_decref(j);
    oa_http_req_free(r);

    /* Header injection and double replies are refused. */
    r = mkreq("GET", "/x");
    assert_int_equal(oa_http_set_header(r, "X-A", "1\r\nSet-Cookie: evil=1"), OA_EINVAL);
    assert_int_equal(oa_http_reply(r, 200, "text/plain", "ok", 2), 0);
    assert_int_equal(oa_http_reply(r, 200, "text/plain", "again", 5), OA_ESTATE);
    oa_http_req_free(r);
}

static void test_async_reply_and_owner_release(void **state)
{
    fx *f = *state;
    int owner = 0;
    oa_http_req *r;
    oa_http_route(f->h, &owner, "GET", "/later", OA_HTTP_PUBLIC, h_keep, NULL);

    r = mkreq("GET", "/later");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->replied, 0);
    assert_int_equal(r->kept, 1);
    assert_ptr_equal(kept_req, r);
    assert_int_equal(oa_http_reply(r, 202, "text/plain", "done", 4), 0);
    assert_int_equal(r->kept, 0);
    assert_int_equal(r->status, 202);
    oa_http_req_free(r);

    /* The owner stops: its kept requests get 503 and its routes go. */
    r = mkreq("GET", "/later");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->kept, 1);
    oa_http_unroute_owner(f->h, &owner);
    assert_int_equal(r->status, 503);
    oa_http_req_free(r);
    r = mkreq("GET", "/later");
    oa_http_dispatch(f->h, r);
    assert_int_equal(r->status, 404);
    oa_http_req_free(r);
}

static int drained;
static int closed;
static oa_http_stream *opened;

static void on_stream(void *arg, oa_http_stream *s, int ev)
{
    (void)arg;
    (void)s;
    if (ev == OA_HTTP_STREAM_DRAINED) {
        drained++;
    } else if (ev == OA_HTTP_STREAM_CLOSED) {
        closed++;
    }
}

static int h_stream(void *arg, oa_http_req *req)
{
    (void)arg;
    return oa_http_stream_open(req, 200, "video/mp2t", -1, 100, on_stream, NULL, &opened);
}

static void test_stream_backpressure(void **state)
{
    fx *f = *state;
    char buf[256];
    char data[40];
    oa_http_req *r;
    int owner = 0;
    memset(data, 'x', sizeof(data));
    drained = 0;
    closed = 0;
    oa_http_route(f->h, &owner, "GET", "/ts", OA_HTTP_PUBLIC, h_stream, NULL);
    r = mkreq("GET", "/ts");
    oa_http_dispatch(f->h, r);
    assert_non_null(r->stream);
    assert_int_equal(r->status, 200);

    assert_int_equal(oa_http_stream_write(opened, data, 40), 0);
    assert_int_equal(oa_http_stream_write(opened, data, 40), 0);
    /* The limit is 100 bytes: a third write would pass it. */
    assert_int_equal(oa_http_stream_write(opened, data, 40), OA_EOVERFLOW);
    assert_int_equal(oa_http_stream_queued(opened), 80);
    assert_int_equal(oa_http_stream_take(opened, buf, 30), 30);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(drained, 0); /* 50 queued: above a quarter of the limit */
    assert_int_equal(oa_http_stream_take(opened, buf, 30), 30);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(drained, 1);
    assert_int_equal(oa_http_stream_take(opened, buf, sizeof(buf)), 20);
    assert_int_equal(oa_http_stream_take(opened, buf, sizeof(buf)), 0); /* waiting */

    /* The owner stops: the stream is ended and no callback reaches it. */
    oa_http_unroute_owner(f->h, &owner);
    assert_int_equal(oa_http_stream_write(opened, data, 1), OA_ESTATE);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(closed, 0);
    oa_http_req_free(r);
}

static void test_stream_end_reports_closed(void **state)
{
    fx *f = *state;
    oa_http_req *r;
    closed = 0;
    oa_http_route(f->h, NULL, "GET", "/ts", OA_HTTP_PUBLIC, h_stream, NULL);
    r = mkreq("GET", "/ts");
    oa_http_dispatch(f->h, r);
    assert_int_equal(oa_http_stream_write(opened, "abc", 3), 0);
    assert_int_equal(oa_http_stream_end(opened), 0);
    assert_int_equal(oa_http_stream_write(opened, "d", 1), OA_ESTATE);
    {
        char buf[8];
        assert_int_equal(oa_http_stream_take(opened, buf, sizeof(buf)), 3);
        assert_int_equal(oa_http_stream_take(opened, buf, sizeof(buf)), -1);
    }
    oa_http_stream_closed(opened); /* what the server does at the end */
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(closed, 1);
    oa_http_req_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_reply_and_owner_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_end_reports_closed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

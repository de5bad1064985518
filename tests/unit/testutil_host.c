#include "testutil_host.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

char *oa_test_build_path(const char *rel)
{
    const char *build = getenv("OA_BUILD_DIR");

    assert_non_null(build);
    return oa_test_path(build, rel);
}

void oa_test_host_open(oa_host *h, const char *data_dir, const char *plugin_dir,
                       oa_http_mode http)
{
    oa_host_options o;
    char err[512];

    memset(&o, 0, sizeof(o));
    o.data_dir = data_dir;
    o.plugin_dir = plugin_dir;
    o.engine = 1;
    o.p2p_port = 9999;
    o.http = http;
    if (oa_host_open(h, NULL, &o, err, sizeof(err)) != 0) {
        fail_msg("oa_host_open: %s", err);
    }
    if (http != OA_HTTP_OFF) {
        assert_non_null(h->http);
    }
}

void oa_test_host_close(oa_host *h, char *data_dir)
{
    assert_int_equal(oa_host_close(h), 0);
    oa_test_rmtree(data_dir);
    free(data_dir);
}

/* ---- plugins built into a test ---------------------------------------------- */

int oa_test_plugin_init(oa_plugin *self, const oa_host_api *api, void **state)
{
    (void)self;
    (void)api;
    *state = NULL;
    return 0;
}

int oa_test_plugin_start(void *state)
{
    (void)state;
    return 0;
}

void oa_test_plugin_stop(void *state)
{
    (void)state;
}

void oa_test_plugin_destroy(void *state)
{
    (void)state;
}

/* ---- requests --------------------------------------------------------------- */

/* Decodes %XX escapes in place, as the server does for paths and query
 * arguments. */
static char *url_decode(char *s)
{
    char *out = s;
    for (const char *p = s; *p != '\0'; p++) {
        unsigned v;
        if (p[0] == '%' && p[1] != '\0' && p[2] != '\0' && sscanf(p + 1, "%2x", &v) == 1) {
            *out++ = (char)v;
            p += 2;
        } else {
            *out++ = *p;
        }
    }
    *out = '\0';
    return s;
}

oa_http_req *oa_test_req(const char *method, const char *target, const char *body)
{
    oa_http_req *req = calloc(1, sizeof(*req));
    const char *qm = strchr(target, '?');

    assert_non_null(req);
    snprintf(req->method, sizeof(req->method), "%s", method);
    req->path = url_decode(qm != NULL ? strndup(target, (size_t)(qm - target)) : strdup(target));
    if (qm != NULL) {
        const char *p = qm + 1;
        while (*p != '\0') {
            const char *amp = strchr(p, '&');
            size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
            const char *eq = memchr(p, '=', len);
            oa_kv *kv;
            req->query = realloc(req->query, (req->nquery + 1) * sizeof(*req->query));
            assert_non_null(req->query);
            kv = &req->query[req->nquery++];
            kv->name = strndup(p, eq != NULL ? (size_t)(eq - p) : len);
            kv->value = url_decode(eq != NULL ? strndup(eq + 1, len - (size_t)(eq + 1 - p))
                                              : strdup(""));
            p += len;
            if (*p == '&') {
                p++;
            }
        }
    }
    if (body != NULL) {
        req->body = strdup(body);
        req->body_len = strlen(body);
    }
    snprintf(req->client, sizeof(req->client), "127.0.0.1:40000");
    req->auth = OA_AUTH_TOKEN;
    snprintf(req->user, sizeof(req->user), "tester");
    return req;
}

json_t *oa_test_call(oa_http *http, const char *method, const char *target, const char *body,
                     int status)
{
    oa_http_req *req = oa_test_req(method, target, body);
    json_error_t jerr;
    json_t *j;

    oa_http_dispatch(http, req);
    assert_true(req->replied);
    if (req->status != status) {
        fail_msg("%s %s: status %d, wanted %d: %s", method, target, req->status, status,
                 req->resp_body ? req->resp_body : "");
    }
    assert_string_equal(req->content_type, "application/json");
    j = json_loadb(req->resp_body, req->resp_len, JSON_DECODE_ANY, &jerr);
    if (j == NULL) {
        fail_msg("%s %s: not JSON (%s): %s", method, target, jerr.text, req->resp_body);
    }
    oa_http_req_free(req);
    return j;
}

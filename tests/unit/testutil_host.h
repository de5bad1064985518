/* Fixtures shared by the unit tests that drive a whole host: an engine-mode
 * host on a temporary data directory, and admin requests dispatched without
 * sockets. Each helper fails the running cmocka test (fail_msg, assert_*)
 * instead of returning an error. Kept apart from testutil.h, which the
 * swarm tests share without linking the host. */
#ifndef OA_TESTUTIL_HOST_H
#define OA_TESTUTIL_HOST_H

#include <jansson.h>

#include "host.h"

/* Joins the build directory (OA_BUILD_DIR, which CTest sets; the test fails
 * without it) and rel into a malloc'd string. */
char *oa_test_build_path(const char *rel);

/* Opens *h as the engine does (engine=1, P2P port 9999, which nothing
 * binds) on data_dir, scanning plugin_dir (NULL: no scan), with HTTP mode
 * http (with OA_HTTP_OFF, h->http stays NULL; otherwise it must be set).
 * Fails the test with oa_host_open's sentence when the host does not open;
 * otherwise the caller closes it with oa_host_close(). */
void oa_test_host_open(oa_host *h, const char *data_dir, const char *plugin_dir,
                       oa_http_mode http);

/* Closes h, failing the test unless the loop closed with nothing left open
 * (every test is also a leak check), then removes the data directory
 * data_dir and frees the string. */
void oa_test_host_close(oa_host *h, char *data_dir);

/* Lifecycle entries for a plugin descriptor built into a test, for a plugin
 * with no state of its own: init sets *state to NULL, start succeeds, stop
 * and destroy do nothing. */
int oa_test_plugin_init(oa_plugin *self, const oa_host_api *api, void **state);
int oa_test_plugin_start(void *state);
void oa_test_plugin_stop(void *state);
void oa_test_plugin_destroy(void *state);

/* Builds a request for target, "path" or "path?a=b&c=d" (%XX escapes
 * decoded in both, as the server does), with a copy of body (NULL: none),
 * from 127.0.0.1:40000 as the token user "tester". The caller frees it with
 * oa_http_req_free(). */
oa_http_req *oa_test_req(const char *method, const char *target, const char *body);

/* Dispatches oa_test_req(method, target, body) on http and fails the test
 * unless it was answered with status and a JSON body; returns that body
 * parsed (the caller json_decref()s it). */
json_t *oa_test_call(oa_http *http, const char *method, const char *target, const char *body,
                     int status);

#endif

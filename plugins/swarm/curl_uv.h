/*
 * HTTP(S) GET requests on the libuv loop: libcurl's multi interface driven
 * by the loop. Each socket libcurl opens is watched by one uv_poll_t
 * (CURLMOPT_SOCKETFUNCTION), libcurl's timeout is one uv_timer_t
 * (CURLMOPT_TIMERFUNCTION), readiness and timeouts are handed back with
 * curl_multi_socket_action(), and finished transfers are collected with
 * curl_multi_info_read().
 *
 * Every request ends in exactly one call of its completion callback, on the
 * loop thread, unless it was canceled first: after oa_curl_cancel() or
 * oa_curl_uv_close() its callback is never called. A request never
 * completes inside the call that started it. Connections are kept alive
 * between requests to the same server until the driver closes.
 *
 * Nothing here is thread-safe: every function is called on the loop thread.
 */
#ifndef OA_SWARM_CURL_UV_H
#define OA_SWARM_CURL_UV_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Default largest response body a request accepts. */
#define OA_CURL_DEFAULT_MAX_BODY ((size_t)1 << 20)
/* Default total time a request may take, connecting included. */
#define OA_CURL_DEFAULT_TIMEOUT_MS 30000L

typedef struct oa_curl_uv oa_curl_uv;
typedef struct oa_curl_req oa_curl_req;

/* How a request ended, as its completion callback sees it. */
typedef struct oa_curl_result {
    /* 0 when a response arrived (whatever its HTTP status), else
     * OA_ETIMEDOUT (the total timeout passed), OA_EOVERFLOW (the body was
     * larger than the cap), OA_EINVAL (a malformed or non-HTTP URL),
     * OA_ENOMEM, or OA_EIO (name resolution, connection, TLS or transfer
     * failed). */
    int status;
    long http_code;      /* the response's HTTP status; 0 when none came */
    const uint8_t *body; /* the body (NUL-terminated for convenience) */
    size_t body_len;
    const char *error;   /* a sentence about the failure; "" when status is 0 */
} oa_curl_result;

/* Called once when req ends; res and everything it points to are valid
 * until the callback returns, and so is req, which is freed afterwards.
 * The callback may start new requests, cancel others and close the
 * driver. */
typedef void (*oa_curl_done_cb)(void *arg, oa_curl_req *req, const oa_curl_result *res);

/* Per-request settings; a NULL pointer or zero fields mean the defaults. */
typedef struct oa_curl_opts {
    long timeout_ms;         /* total time; 0: OA_CURL_DEFAULT_TIMEOUT_MS */
    size_t max_body;         /* body cap in bytes; 0: OA_CURL_DEFAULT_MAX_BODY */
    const char *user_agent;  /* copied by libcurl; NULL: "OpenAce/<version>" */
} oa_curl_opts;

/* Called when a closed driver has released its last handle. */
typedef void (*oa_curl_closed_cb)(void *arg);

/* Creates a driver on loop and stores it in *out. The caller releases it
 * with oa_curl_uv_close() and runs the loop until the closed callback.
 * Fails with OA_EINVAL, OA_ENOMEM, or OA_EIO when libcurl cannot start. */
int oa_curl_uv_new(uv_loop_t *loop, oa_curl_uv **out);

/* Returns the loop the driver runs on. */
uv_loop_t *oa_curl_uv_loop(const oa_curl_uv *d);

/* Returns how many requests are in flight. */
size_t oa_curl_uv_active(const oa_curl_uv *d);

/* Cancels every request in flight (their callbacks are not called), drops
 * the kept-alive connections and closes the driver's libuv handles; d is
 * freed once the last handle has closed, after which cb (may be NULL) is
 * called with arg. Calling it again while closing does nothing. Allowed
 * inside a completion callback. */
void oa_curl_uv_close(oa_curl_uv *d, oa_curl_closed_cb cb, void *arg);

/* Starts a GET of url (http:// or https:// only; redirects are followed up
 * to five times, within the same two schemes). On success stores the
 * request in *out (may be NULL), which stays valid until its callback
 * returns or it is canceled; the driver owns it. Fails with OA_EINVAL (no
 * url or cb), OA_ESTATE (the driver is closing) or OA_ENOMEM, and then
 * never calls cb. */
int oa_curl_get(oa_curl_uv *d, const char *url, const oa_curl_opts *opts, oa_curl_done_cb cb,
                void *arg, oa_curl_req **out);

/* Stops req and frees it; its callback is never called. NULL is allowed,
 * and so is req itself inside its own completion callback (nothing
 * happens then). */
void oa_curl_cancel(oa_curl_req *req);

#endif

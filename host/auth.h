/* Authentication: admin users (salted PBKDF2-HMAC-SHA256), login sessions
 * with a CSRF token, API tokens, and throttling of failed logins per client
 * address. State lives in the store (users, sessions, api_tokens); only
 * hashes of session ids and tokens are stored. Loop thread only (given a
 * loop, HTTP logins run their PBKDF2 on its worker threads). */
#ifndef OA_HOST_AUTH_H
#define OA_HOST_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "http.h"
#include "store.h"

#define OA_AUTH_PBKDF2_ITERATIONS 210000
#define OA_AUTH_MIN_PASSWORD 8
#define OA_AUTH_SESSION_COOKIE "oa_session"
#define OA_AUTH_CSRF_HEADER "X-CSRF-Token"

typedef struct oa_auth oa_auth;

/* The clock auth uses, in seconds since the epoch (tests replace it). */
typedef int64_t (*oa_auth_clock_fn)(void);

/* Creates the auth state over an open store (not owned). */
int oa_auth_new(oa_store *store, oa_auth **out);
/* Frees it; logins in flight are cancelled (their work still finishes on
 * the loop, then frees itself without touching a or the request). */
void oa_auth_free(oa_auth *a);
/* Gives auth the loop (not owned) on whose worker threads POST /api/login
 * runs PBKDF2, so that a login does not stall the loop; the route then
 * answers from the loop once the hash is done. Without a loop (the
 * default, or NULL) logins hash on the loop thread. Changing it cancels
 * logins in flight: their requests stay unanswered, for the dispatcher
 * to answer 503 when it closes. Call it with NULL before oa_http_close. */
void oa_auth_set_loop(oa_auth *a, uv_loop_t *loop);
void oa_auth_set_clock(oa_auth *a, oa_auth_clock_fn clock);
/* Session lifetimes: idle seconds (default 12 h) and maximum age (7 days). */
void oa_auth_set_lifetimes(oa_auth *a, int64_t idle_s, int64_t max_s);
/* Iterations for new hashes (default OA_AUTH_PBKDF2_ITERATIONS; tests may
 * lower it, never below 1000). Stored hashes keep their own count. */
void oa_auth_set_iterations(oa_auth *a, unsigned iterations);

/* When no user exists, creates "admin" with a random password (20
 * characters, base64url), writes it into password (len >= 32) and returns
 * 1; returns 0 when users exist; negative on error. */
int oa_auth_ensure_admin(oa_auth *a, char *password, size_t len);
/* Creates user or changes the password. Names: 1-64 of [A-Za-z0-9_.-].
 * Passwords: at least OA_AUTH_MIN_PASSWORD bytes. On refusal err says why.
 * Changing a password ends that user's sessions. */
int oa_auth_set_password(oa_auth *a, const char *user, const char *password, char *err,
                         size_t errlen);
/* 1 when name is a valid user or token name (1-64 of [A-Za-z0-9_.-]), else
 * 0. (Added: the CLI checks a name before asking for a password.) */
int oa_auth_name_valid(const char *name);
/* 0 when the password is right, OA_EACCES when not or no such user. Takes
 * about the same time either way. Hashes on the calling thread. */
int oa_auth_check_password(oa_auth *a, const char *user, const char *password);

/* Logs in from client (an address, "ip" or "ip:port"; the port is ignored
 * for throttling), hashing on the calling thread. On success fills
 * session (>= 80 bytes), csrf (>= 80) and *expires (unix seconds).
 * OA_EACCES: wrong user or password. OA_EAGAIN: throttled, *retry_after
 * seconds to wait. */
int oa_auth_login(oa_auth *a, const char *client, const char *user, const char *password,
                  char *session, char *csrf, int64_t *expires, int *retry_after);
/* Validates a session id: 0 and user (>= 65), csrf (>= 80), *expires when
 * valid (and slides its idle time), OA_EACCES when unknown or expired. */
int oa_auth_session_check(oa_auth *a, const char *session, char *user, char *csrf,
                          int64_t *expires);
int oa_auth_logout(oa_auth *a, const char *session);

/* API tokens: create prints-once secret into token (>= 80 bytes). */
int oa_auth_token_create(oa_auth *a, const char *user, const char *name, char *token,
                         char *err, size_t errlen);
int oa_auth_token_check(oa_auth *a, const char *token, char *user);
int oa_auth_token_revoke(oa_auth *a, const char *name);
/* Calls fn for each token (name, user, created unix seconds). */
int oa_auth_token_list(oa_auth *a, void (*fn)(void *arg, const char *name, const char *user,
                                              int64_t created),
                       void *arg);

/* Writes the address part of client into out: "ip:port" gives "ip",
 * "[v6]:port" and "[v6]" give "v6", a bare IPv4 or IPv6 address stays as
 * it is. NULL gives "". Cut to len - 1 bytes. (Added to the contract: auth
 * throttles per address and audit records addresses without the port.) */
void oa_auth_client_addr(const char *client, char *out, size_t len);

/* The dispatcher hook (oa_http_auth_fn): cookie session or bearer token,
 * and the CSRF header for mutating methods with a session. */
int oa_auth_http_check(void *arg, oa_http_req *req, int *status, char *why, size_t whylen);

/* Registers POST /api/login (public), POST /api/logout, GET /api/session.
 * With a loop set, a login's request is kept and answered from the loop. */
int oa_auth_register_routes(oa_auth *a, oa_http *h);

/* Records an audit entry (who may be NULL for the engine itself). */
int oa_audit_add(oa_store *s, const char *who, const char *client, const char *action,
                 const char *detail);
/* Newest first, ids below before_id (0: from the newest), at most limit
 * (1-1000). *entries is a new JSON array of {id, time (ISO 8601 UTC), who,
 * client, action, detail}. */
int oa_audit_list(oa_store *s, int64_t before_id, int limit, json_t **entries);

#endif

/* Internals shared by auth.c (users, passwords, throttling, sessions and
 * tokens) and auth_http.c (the dispatcher hook, the routes, and logins
 * whose PBKDF2 runs on a libuv worker thread). Loop thread only, except
 * auth_verify_run. */
#ifndef OA_HOST_AUTH_INT_H
#define OA_HOST_AUTH_INT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "auth.h"

#define AUTH_TAG "auth"
#define AUTH_HASH_BYTES 32
#define AUTH_NAME_MAX 64
/* Longest session id or token accepted from a client (fits req->session). */
#define AUTH_SECRET_MAX 79
/* A client address without its port ("ip" or "v6"). */
#define AUTH_ADDR_MAX 64

/* The failed-login records (auth.c) and the logins in flight (auth_http.c). */
typedef struct auth_throttle auth_throttle;
typedef struct auth_pending auth_pending;

struct oa_auth {
    oa_store *store;
    oa_auth_clock_fn clock;
    int64_t idle_s;
    int64_t max_s;
    unsigned iterations;
    auth_throttle *throttle; /* AUTH_THROTTLE_CAP entries */
    uv_loop_t *loop;         /* NULL: logins hash on the loop thread */
    auth_pending *pending;   /* logins whose PBKDF2 runs on a worker */
    unsigned npending;
};

/* One password check, split so that its PBKDF2 can leave the loop thread:
 * auth_login_begin (or auth.c's loader) fills it on the loop thread,
 * auth_verify_run needs nothing else, auth_login_finish acts on the
 * verdict on the loop thread again. */
typedef struct auth_verify {
    char addr[AUTH_ADDR_MAX];     /* the client's address, for throttling */
    char user[AUTH_NAME_MAX + 1]; /* the user name; "" when it is not valid */
    int known;                    /* the user exists and its hash is sound */
    unsigned iterations;          /* for an unknown user, the current count */
    size_t saltlen;
    unsigned char salt[64];
    unsigned char want[AUTH_HASH_BYTES];
    int result;                   /* auth_verify_run: 0, OA_EACCES or OA_EIO */
} auth_verify;

/* Writes a sentence into err (ignored when err is NULL or errlen is 0). */
void auth_err(char *err, size_t errlen, const char *fmt, ...) OA_PRINTF(3, 4);

/* First half of a login from client (its port is ignored): OA_EAGAIN with
 * *retry_after seconds while the address is locked out; OA_EBUSY (retry
 * after 1 s) while inflight logins from it are as many as its free
 * attempts left (one may always run once a lock-out is over), so parallel
 * guesses get no more tries than sequential ones; otherwise reads the
 * stored hash of user into v. OA_EIO on a storage failure. */
int auth_login_begin(oa_auth *a, const char *client, const char *user, unsigned inflight,
                     auth_verify *v, int *retry_after);
/* Runs PBKDF2 over password with v's salt and count and sets v->result:
 * 0 when it matches, OA_EACCES when not or when the user is unknown (one
 * PBKDF2 run either way), OA_EIO when OpenSSL fails. Touches only v and
 * password: safe on any thread. */
void auth_verify_run(auth_verify *v, const char *password);
/* Second half of a login, on v->result: a failure counts against the
 * address and is audited ("login.failed", OA_EACCES); a success clears
 * the address's failures, creates the session (session, csrf >= 80 bytes,
 * *expires may be NULL) and is audited ("login"). OA_EIO on failure. */
int auth_login_finish(oa_auth *a, auth_verify *v, char *session, char *csrf,
                      int64_t *expires);

/* auth_http.c: detaches every login in flight from a and from its
 * request; their work frees them when it completes, and the requests are
 * left to the router (which answers kept requests 503 when it closes). */
void auth_pending_cancel(oa_auth *a);

#endif

/* The HTTP side of authentication (see auth.h): the dispatcher's hook
 * (cookie session or bearer token, CSRF header), and the routes
 * POST /api/login, POST /api/logout and GET /api/session.
 *
 * A login's PBKDF2 (about 70 ms at the default count) runs on a libuv
 * worker thread when auth has a loop (oa_auth_set_loop): the handler
 * checks throttling and reads the stored hash on the loop thread, queues
 * the hash, and returns without replying, so the dispatcher keeps the
 * request; the after-work callback, back on the loop thread, counts the
 * verdict, creates the session and replies. Each such login is an
 * auth_pending record that the router does not see; cancelling it
 * (oa_auth_free, oa_auth_set_loop) makes its callback free it and touch
 * nothing else. The owner of the loop cancels before oa_http_close: the
 * router answers kept requests 503 there, and the server frees them as
 * soon as they are sent, before the work drains. */
#include "auth_int.h"

#include "log.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Cookie candidates tried per request (several oa_session cookies can
 * arrive when paths or domains differ). */
#define AUTH_COOKIE_TRIES 8
/* Logins hashing at once, from all addresses; more are answered 503 (each
 * holds one of libuv's few worker threads for tens of milliseconds). */
#define AUTH_PENDING_MAX 32

/* ------------------------------------------------------------------------ */
/* The dispatcher hook. */

/* The first request header called name (case-insensitive), or NULL. */
static const char *auth_req_header(oa_http_req *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->nheaders; i++) {
        if (req->headers[i].name != NULL && req->headers[i].value != NULL &&
            strcasecmp(req->headers[i].name, name) == 0) {
            return req->headers[i].value;
        }
    }
    return NULL;
}

/* Parses "Bearer <token>". Returns 1 and the token ("" when missing or too
 * long) when the scheme is Bearer, 0 for another scheme. */
static int auth_parse_bearer(const char *header, char *token, size_t len)
{
    const char *p = header;
    const char *end;
    size_t n;

    token[0] = '\0';
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != '\0' && p[6] != ' ' && p[6] != '\t')) {
        return 0;
    }
    p += 6;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    n = (size_t)(end - p);
    if (n > 0 && n < len) {
        memcpy(token, p, n);
        token[n] = '\0';
    }
    return 1;
}

static int auth_is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Finds the next cookie called name in the Cookie header value at *pos
 * ("a=1; oa_session=xyz; b=2"), copies its value (unquoted) into value
 * and advances *pos. Returns 1 when one was found, 0 at the end. Values
 * that are empty or do not fit are skipped. */
static int auth_cookie_next(const char **pos, const char *name, char *value, size_t len)
{
    const char *s = *pos;
    size_t nlen = strlen(name);

    while (*s != '\0') {
        const char *end = strchr(s, ';');
        const char *eq;
        const char *k_end;
        const char *v;
        const char *v_end;

        if (end == NULL) {
            end = s + strlen(s);
        }
        while (s < end && auth_is_space(*s)) {
            s++;
        }
        eq = memchr(s, '=', (size_t)(end - s));
        if (eq != NULL) {
            k_end = eq;
            while (k_end > s && auth_is_space(k_end[-1])) {
                k_end--;
            }
            v = eq + 1;
            v_end = end;
            while (v < v_end && auth_is_space(*v)) {
                v++;
            }
            while (v_end > v && auth_is_space(v_end[-1])) {
                v_end--;
            }
            if (v_end - v >= 2 && *v == '"' && v_end[-1] == '"') {
                v++;
                v_end--;
            }
            if ((size_t)(k_end - s) == nlen && memcmp(s, name, nlen) == 0 && v_end > v &&
                (size_t)(v_end - v) < len) {
                memcpy(value, v, (size_t)(v_end - v));
                value[v_end - v] = '\0';
                *pos = *end == ';' ? end + 1 : end;
                return 1;
            }
        }
        s = *end == ';' ? end + 1 : end;
    }
    *pos = s;
    return 0;
}

/* Looks for a valid session among the oa_session cookies of every Cookie
 * header. Returns 0 with session, user and csrf filled; OA_EACCES with
 * *seen set when cookies were there but none is valid; OA_EIO. */
static int auth_find_session(oa_auth *a, oa_http_req *req, char *session, char *user,
                             char *csrf, int *seen)
{
    int tries = 0;
    size_t i;

    *seen = 0;
    for (i = 0; i < req->nheaders && tries < AUTH_COOKIE_TRIES; i++) {
        const char *pos;

        if (req->headers[i].name == NULL || req->headers[i].value == NULL ||
            strcasecmp(req->headers[i].name, "Cookie") != 0) {
            continue;
        }
        pos = req->headers[i].value;
        while (tries < AUTH_COOKIE_TRIES &&
               auth_cookie_next(&pos, OA_AUTH_SESSION_COOKIE, session, 80)) {
            int ret = oa_auth_session_check(a, session, user, csrf, NULL);

            tries++;
            *seen = 1;
            if (ret != OA_EACCES) {
                return ret;
            }
        }
    }
    session[0] = '\0';
    return OA_EACCES;
}

/* 1 for methods that may change state: everything but GET, HEAD and
 * OPTIONS (so a route for "*" is covered whatever the method). */
static int auth_mutating(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

/* The dispatcher's hook (arg is the oa_auth): a valid API token in
 * "Authorization: Bearer" wins; otherwise a valid oa_session cookie, plus
 * for a mutating method an X-CSRF-Token header equal to the session's
 * token. Returns 0 with req->auth, req->user (and req->session) filled;
 * otherwise OA_EACCES with *status 401 (no valid credentials) or 403 (bad
 * CSRF token), or OA_EIO with 500, and a sentence in why. */
int oa_auth_http_check(void *arg, oa_http_req *req, int *status, char *why, size_t whylen)
{
    oa_auth *a = arg;
    const char *header;
    char token[AUTH_SECRET_MAX + 1];
    char session[80];
    char user[AUTH_NAME_MAX + 1];
    char csrf[80];
    int seen = 0;
    int ret;

    if (a == NULL || req == NULL || status == NULL) {
        return OA_EINVAL;
    }
    req->auth = OA_AUTH_NONE;
    req->user[0] = '\0';
    req->session[0] = '\0';
    *status = 401;
    header = auth_req_header(req, "Authorization");
    if (header != NULL && auth_parse_bearer(header, token, sizeof(token))) {
        ret = token[0] != '\0' ? oa_auth_token_check(a, token, user) : OA_EACCES;
        OPENSSL_cleanse(token, sizeof(token));
        if (ret == 0) {
            req->auth = OA_AUTH_TOKEN;
            snprintf(req->user, sizeof(req->user), "%s", user);
            return 0;
        }
        if (ret == OA_EACCES) {
            auth_err(why, whylen, "the API token is not valid (revoked, or mistyped)");
        } else {
            *status = 500;
            auth_err(why, whylen, "cannot check the API token: %s", oa_strerror(ret));
        }
        return ret;
    }
    ret = auth_find_session(a, req, session, user, csrf, &seen);
    if (ret != 0) {
        if (ret != OA_EACCES) {
            *status = 500;
            auth_err(why, whylen, "cannot check the session: %s", oa_strerror(ret));
        } else if (seen) {
            auth_err(why, whylen, "the session has ended or expired; log in again");
        } else {
            auth_err(why, whylen, "log in first, or send an API token");
        }
        return ret;
    }
    if (auth_mutating(req->method)) {
        header = auth_req_header(req, OA_AUTH_CSRF_HEADER);
        if (header == NULL || strlen(header) != strlen(csrf) ||
            CRYPTO_memcmp(header, csrf, strlen(csrf)) != 0) {
            *status = 403;
            auth_err(why, whylen,
                     "this request needs the header %s with the session's token (from "
                     "GET /api/session)",
                     OA_AUTH_CSRF_HEADER);
            return OA_EACCES;
        }
    }
    req->auth = OA_AUTH_SESSION;
    snprintf(req->user, sizeof(req->user), "%s", user);
    snprintf(req->session, sizeof(req->session), "%s", session);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Routes. */

static int auth_set_cookie(oa_auth *a, oa_http_req *req, const char *session)
{
    char cookie[192];

    snprintf(cookie, sizeof(cookie), "%s=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%lld",
             OA_AUTH_SESSION_COOKIE, session, session[0] != '\0' ? (long long)a->max_s : 0LL);
    return oa_http_set_header(req, "Set-Cookie", cookie);
}

/* {"user", "csrf", "expires"} for a session; replies 200. */
static int auth_reply_session(oa_http_req *req, const char *user, const char *csrf,
                              int64_t expires)
{
    /* oa_http_reply_json adds Cache-Control: no-store (the reply holds
     * the CSRF token). */
    return oa_http_reply_json(req, 200,
                              json_pack("{s:s, s:s, s:I}", "user", user, "csrf", csrf, "expires",
                                        (json_int_t)expires));
}

/* 1 when the Content-Type is JSON. Requiring it keeps other web sites from
 * posting logins through a plain HTML form (which cannot set it without a
 * CORS preflight), so they cannot lock the admin's address out. */
static int auth_is_json(oa_http_req *req)
{
    const char *type = auth_req_header(req, "Content-Type");
    size_t n = strlen("application/json");

    if (type == NULL) {
        return 0;
    }
    while (auth_is_space(*type)) {
        type++;
    }
    return strncasecmp(type, "application/json", n) == 0 &&
           (type[n] == '\0' || type[n] == ';' || auth_is_space(type[n]));
}

/* ------------------------------------------------------------------------ */
/* Login. */

/* A login whose PBKDF2 runs on a worker thread. */
struct auth_pending {
    uv_work_t work;
    oa_auth *auth;     /* NULL once cancelled: then neither it nor req is used */
    oa_http_req *req;  /* kept by the dispatcher until auth_login_done replies */
    auth_pending *next;
    char *password;    /* a copy, cleansed before it is freed */
    size_t password_len;
    auth_verify v;
};

/* Reads {"user", "password"} from the body into *body, *user and
 * *password (borrowed from *body). Returns 1, or 0 after replying 400. */
static int auth_login_body(oa_http_req *req, json_t **body, const char **user,
                           const char **password, size_t *password_len)
{
    json_t *juser;
    json_t *jpass;

    if (!auth_is_json(req)) {
        oa_http_reply_error(req, 400, "bad_request",
                            "send the login as JSON with 'Content-Type: application/json'");
        return 0;
    }
    *body = oa_http_body_json(req);
    if (*body == NULL) {
        return 0;
    }
    juser = json_object_get(*body, "user");
    jpass = json_object_get(*body, "password");
    if (!json_is_string(juser) || !json_is_string(jpass) ||
        strlen(json_string_value(juser)) != json_string_length(juser) ||
        strlen(json_string_value(jpass)) != json_string_length(jpass)) {
        json_decref(*body);
        *body = NULL;
        oa_http_reply_error(req, 400, "bad_request",
                            "the body must be {\"user\": \"...\", \"password\": \"...\"}");
        return 0;
    }
    *user = json_string_value(juser);
    *password = json_string_value(jpass);
    *password_len = json_string_length(jpass);
    return 1;
}

/* Replies to a login that ended with ret (0 with session, csrf and
 * expires; OA_EAGAIN with retry_after; OA_EBUSY). Always replies; returns 0 or the
 * reply's failure. */
static int auth_login_reply(oa_auth *a, oa_http_req *req, int ret, const char *user,
                            const char *session, const char *csrf, int64_t expires,
                            int retry_after)
{
    char retry[24];

    if (ret == 0) {
        ret = auth_set_cookie(a, req, session);
        if (ret == 0) {
            return auth_reply_session(req, user, csrf, expires);
        }
    }
    if (ret == OA_EAGAIN) {
        snprintf(retry, sizeof(retry), "%d", retry_after);
        oa_http_set_header(req, "Retry-After", retry);
        return oa_http_reply_error(req, 429, "throttled",
                                   "too many failed logins from this address; try again in %d "
                                   "seconds",
                                   retry_after);
    }
    if (ret == OA_EBUSY) {
        oa_http_set_header(req, "Retry-After", "1");
        return oa_http_reply_error(req, 429, "throttled",
                                   "logins from this address are being checked; try again in "
                                   "a second");
    }
    if (ret == OA_EACCES) {
        return oa_http_reply_error(req, 401, "unauthorized", "wrong user name or password");
    }
    return oa_http_reply_error(req, 500, "internal", "cannot log in: %s (see the log)",
                               oa_strerror(ret));
}

static void auth_pending_free(auth_pending *p)
{
    if (p->password != NULL) {
        OPENSSL_cleanse(p->password, p->password_len);
        free(p->password);
    }
    OPENSSL_cleanse(&p->v, sizeof(p->v));
    free(p);
}

static void auth_pending_unlink(oa_auth *a, auth_pending *p)
{
    auth_pending **pp = &a->pending;

    while (*pp != NULL && *pp != p) {
        pp = &(*pp)->next;
    }
    if (*pp == p) {
        *pp = p->next;
        a->npending--;
    }
    p->next = NULL;
}

/* Logins in flight from addr. */
static unsigned auth_pending_from(oa_auth *a, const char *addr)
{
    unsigned n = 0;

    for (auth_pending *p = a->pending; p != NULL; p = p->next) {
        if (strcmp(p->v.addr, addr) == 0) {
            n++;
        }
    }
    return n;
}

void auth_pending_cancel(oa_auth *a)
{
    auth_pending *p = a->pending;

    while (p != NULL) {
        auth_pending *next = p->next;

        p->auth = NULL;
        p->req = NULL;
        p->next = NULL;
        p = next;
    }
    a->pending = NULL;
    a->npending = 0;
}

/* Worker thread: only the record's own copies are used. */
static void auth_login_work(uv_work_t *w)
{
    auth_pending *p = w->data;

    auth_verify_run(&p->v, p->password);
    /* OpenSSL's per-thread state (PBKDF2 made some): freed now, since this
     * libuv thread may outlive OpenSSL's cleanup at exit. */
    OPENSSL_thread_stop();
}

/* Loop thread, after the work (or its cancellation by libuv). */
static void auth_login_done(uv_work_t *w, int status)
{
    auth_pending *p = w->data;
    oa_auth *a = p->auth;
    oa_http_req *req = p->req;
    char session[80] = "";
    char csrf[80] = "";
    int64_t expires = 0;
    int ret;

    if (a != NULL) {
        auth_pending_unlink(a, p);
        if (status != 0) {
            p->v.result = OA_EIO;
        }
        ret = auth_login_finish(a, &p->v, session, csrf, &expires);
        ret = auth_login_reply(a, req, ret, p->v.user, session, csrf, expires, 0);
        OPENSSL_cleanse(session, sizeof(session));
        if (ret != 0 && !req->replied) {
            oa_http_reply_error(req, 500, "internal", "cannot answer the login: %s",
                                oa_strerror(ret));
        }
    }
    auth_pending_free(p);
}

/* Checks throttling and reads the stored hash here, then queues the
 * PBKDF2. Returns 0 with the request left unanswered (kept), or after
 * replying; a negative code when the dispatcher should reply. */
static int auth_login_queue(oa_auth *a, oa_http_req *req, const char *user,
                            const char *password, size_t password_len)
{
    char addr[AUTH_ADDR_MAX];
    auth_pending *p = calloc(1, sizeof(*p));
    int retry_after = 0;
    int ret;

    if (p == NULL) {
        return OA_ENOMEM;
    }
    oa_auth_client_addr(req->client, addr, sizeof(addr));
    ret = auth_login_begin(a, req->client, user, auth_pending_from(a, addr), &p->v,
                           &retry_after);
    if (ret == 0 && a->npending >= AUTH_PENDING_MAX) {
        auth_pending_free(p);
        oa_http_set_header(req, "Retry-After", "1");
        return oa_http_reply_error(req, 503, "unavailable",
                                   "too many logins are in progress; try again in a second");
    }
    if (ret == 0) {
        p->password = malloc(password_len + 1);
        ret = p->password != NULL ? 0 : OA_ENOMEM;
    }
    if (ret != 0) {
        auth_pending_free(p);
        return auth_login_reply(a, req, ret, user, "", "", 0, retry_after);
    }
    memcpy(p->password, password, password_len + 1);
    p->password_len = password_len;
    p->auth = a;
    p->req = req;
    p->work.data = p;
    ret = uv_queue_work(a->loop, &p->work, auth_login_work, auth_login_done);
    if (ret != 0) {
        oa_log_write(OA_LOG_ERROR, AUTH_TAG, "cannot queue a login's password check: %s",
                     uv_strerror(ret));
        auth_pending_free(p);
        return oa_http_reply_error(req, 500, "internal",
                                   "cannot check the password now; try again");
    }
    p->next = a->pending;
    a->pending = p;
    a->npending++;
    return 0;
}

/* POST /api/login {"user", "password"}: off the loop thread when auth has
 * a loop, else at once. */
static int auth_route_login(void *arg, oa_http_req *req)
{
    oa_auth *a = arg;
    char session[80] = "";
    char csrf[80] = "";
    const char *user = NULL;
    const char *password = NULL;
    size_t password_len = 0;
    int64_t expires = 0;
    int retry_after = 0;
    json_t *body = NULL;
    int ret;

    if (!auth_login_body(req, &body, &user, &password, &password_len)) {
        return 0;
    }
    if (a->loop != NULL) {
        ret = auth_login_queue(a, req, user, password, password_len);
    } else {
        ret = oa_auth_login(a, req->client, user, password, session, csrf, &expires,
                            &retry_after);
        ret = auth_login_reply(a, req, ret, user, session, csrf, expires, retry_after);
        OPENSSL_cleanse(session, sizeof(session));
    }
    json_decref(body);
    return ret;
}

/* Gives auth the loop whose worker threads run login PBKDF2 (NULL: on the
 * loop thread). Changing it cancels logins in flight (see auth_int.h):
 * take it away (NULL) before closing the dispatcher. */
void oa_auth_set_loop(oa_auth *a, uv_loop_t *loop)
{
    if (a == NULL) {
        return;
    }
    if (loop != a->loop) {
        auth_pending_cancel(a);
    }
    a->loop = loop;
}

/* ------------------------------------------------------------------------ */
/* Logout and the session. */

/* POST /api/logout: ends the cookie session and clears the cookie. */
static int auth_route_logout(void *arg, oa_http_req *req)
{
    oa_auth *a = arg;
    int ret;

    if (req->auth != OA_AUTH_SESSION) {
        return oa_http_reply_error(req, 400, "bad_request",
                                   "logout ends a cookie session; API tokens are revoked with "
                                   "'openace token revoke NAME'");
    }
    ret = oa_auth_logout(a, req->session);
    if (ret != 0 && ret != OA_ENOENT) {
        return oa_http_reply_error(req, 500, "internal", "cannot end the session: %s",
                                   oa_strerror(ret));
    }
    oa_audit_add(a->store, req->user, req->client, "logout", NULL);
    ret = auth_set_cookie(a, req, "");
    if (ret != 0) {
        return ret;
    }
    return oa_http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

/* GET /api/session: the current session (for an API token, the user with
 * null csrf and expires). */
static int auth_route_session(void *arg, oa_http_req *req)
{
    oa_auth *a = arg;
    char user[AUTH_NAME_MAX + 1];
    char csrf[80];
    int64_t expires = 0;
    int ret;

    if (req->auth != OA_AUTH_SESSION) {
        return oa_http_reply_json(req, 200,
                                  json_pack("{s:s, s:n, s:n}", "user", req->user, "csrf",
                                            "expires"));
    }
    ret = oa_auth_session_check(a, req->session, user, csrf, &expires);
    if (ret == OA_EACCES) {
        return oa_http_reply_error(req, 401, "unauthorized",
                                   "the session has ended or expired; log in again");
    }
    if (ret != 0) {
        return oa_http_reply_error(req, 500, "internal", "cannot read the session: %s",
                                   oa_strerror(ret));
    }
    return auth_reply_session(req, user, csrf, expires);
}

/* Registers POST /api/login (public), POST /api/logout and GET
 * /api/session on h, owned by the host (a must outlive the routes).
 * Returns 0 or the first oa_http_route failure. */
int oa_auth_register_routes(oa_auth *a, oa_http *h)
{
    int ret;

    if (a == NULL || h == NULL) {
        return OA_EINVAL;
    }
    ret = oa_http_route(h, NULL, "POST", "/api/login", OA_HTTP_PUBLIC, auth_route_login, a);
    if (ret == 0) {
        ret = oa_http_route(h, NULL, "POST", "/api/logout", 0, auth_route_logout, a);
    }
    if (ret == 0) {
        ret = oa_http_route(h, NULL, "GET", "/api/session", 0, auth_route_session, a);
    }
    return ret;
}

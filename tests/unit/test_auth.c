/* Unit tests of authentication (host/auth.c), the audit log (host/audit.c)
 * and the offline user and token commands (host/auth_cli.c), on a real
 * SQLite store in a fresh temporary directory per test, with an injected
 * clock. The login routes are driven through the real dispatcher
 * (host/router.c) with hand-built requests, without sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <uv.h>

#include "auth.h"
#include "auth_cli.h"
#include "http.h"
#include "log.h"
#include "store.h"
#include "testutil.h"

#define T0 ((int64_t)1800000000) /* 2027-01-15, an arbitrary start */
#define PW "correct horse"
#define CLIENT "10.0.0.1:40000"

static int64_t fake_now;

static int64_t fake_clock(void)
{
    return fake_now;
}

typedef struct fixture {
    char *dir;
    char *path; /* <dir>/openace.db */
    oa_store *store;
    oa_auth *auth;
    /* The loop and dispatcher of a route test (web_open), until web_close;
     * teardown closes them when a failed assertion skipped it. */
    uv_loop_t *loop;
    oa_http *http;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char err[512] = "";

    assert_non_null(f);
    f->dir = oa_test_tmpdir();
    assert_non_null(f->dir);
    f->path = oa_test_path(f->dir, "openace.db");
    assert_non_null(f->path);
    if (oa_store_open(f->path, &f->store, err, sizeof(err)) != 0) {
        fail_msg("oa_store_open: %s", err);
    }
    assert_int_equal(oa_auth_new(f->store, &f->auth), 0);
    oa_auth_set_iterations(f->auth, 1000);
    fake_now = T0;
    oa_auth_set_clock(f->auth, fake_clock);
    *state = f;
    return 0;
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

static int teardown(void **state)
{
    fixture *f = *state;

    if (f->loop != NULL) {
        oa_auth_set_loop(f->auth, NULL);
        oa_http_close(f->http);
        uv_run(f->loop, UV_RUN_DEFAULT);
        uv_walk(f->loop, close_any, NULL);
        uv_run(f->loop, UV_RUN_DEFAULT);
        uv_loop_close(f->loop);
        free(f->loop);
    }
    oa_auth_free(f->auth);
    oa_store_close(f->store);
    oa_test_rmtree(f->dir);
    assert_int_not_equal(access(f->dir, F_OK), 0);
    free(f->path);
    free(f->dir);
    free(f);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    return oa_log_init(OA_LOG_ERROR, 0, 0);
}

static int group_teardown(void **state)
{
    (void)state;
    oa_log_shutdown();
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* The first column of the first row of sql (with ?1 bound to arg when not
 * NULL) as an integer; -1 when there is no row. */
static int64_t query_int(sqlite3 *db, const char *sql, const char *arg)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (arg != NULL) {
        assert_int_equal(sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC), SQLITE_OK);
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* The first text column of the first row into out ("" when none). */
static void query_text(sqlite3 *db, const char *sql, const char *arg, char *out, size_t len)
{
    sqlite3_stmt *st = NULL;

    out[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (arg != NULL) {
        assert_int_equal(sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC), SQLITE_OK);
    }
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL) {
        snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
}

static void sha256_hex(const char *text, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    unsigned int i;

    assert_int_equal(EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL), 1);
    for (i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

static int is_b64url(const char *s, size_t len)
{
    size_t i;

    if (strlen(s) != len) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", s[i]) ==
            NULL) {
            return 0;
        }
    }
    return 1;
}

static void set_pw(fixture *f, const char *user, const char *password)
{
    char err[256] = "";

    if (oa_auth_set_password(f->auth, user, password, err, sizeof(err)) != 0) {
        fail_msg("set_password(%s): %s", user, err);
    }
}

/* Logs in from client and expects success. */
static void login_ok(fixture *f, const char *client, const char *user, const char *password,
                     char *session, char *csrf)
{
    int64_t expires = 0;
    int retry = -1;

    assert_int_equal(oa_auth_login(f->auth, client, user, password, session, csrf, &expires,
                                   &retry),
                     0);
    assert_int_equal(retry, 0);
    assert_true(is_b64url(session, 43));
    assert_true(is_b64url(csrf, 43));
}

/* Expects a failed login; returns the retry_after of a throttled one, or
 * 0 for a wrong password. */
static int login_fails(fixture *f, const char *client, const char *user, const char *password)
{
    char session[80] = "";
    char csrf[80] = "";
    int retry = -1;
    int rc = oa_auth_login(f->auth, client, user, password, session, csrf, NULL, &retry);

    if (rc == OA_EACCES) {
        assert_int_equal(retry, 0);
        return 0;
    }
    assert_int_equal(rc, OA_EAGAIN);
    assert_true(retry > 0);
    assert_string_equal(session, "");
    return retry;
}

/* A request as the server makes it; headers are name, value pairs ending
 * with NULL. Free with oa_http_req_free. */
static oa_http_req *mkreq(const char *method, const char *path, const char *body, ...)
{
    oa_http_req *req = calloc(1, sizeof(*req));
    const char *name;
    va_list ap;

    assert_non_null(req);
    snprintf(req->method, sizeof(req->method), "%s", method);
    req->path = strdup(path);
    snprintf(req->client, sizeof(req->client), "%s", CLIENT);
    if (body != NULL) {
        req->body = strdup(body);
        req->body_len = strlen(body);
    }
    va_start(ap, body);
    name = va_arg(ap, const char *);
    while (name != NULL) {
        const char *value = va_arg(ap, const char *);

        req->headers = realloc(req->headers, (req->nheaders + 1) * sizeof(*req->headers));
        assert_non_null(req->headers);
        req->headers[req->nheaders].name = strdup(name);
        req->headers[req->nheaders].value = strdup(value);
        req->nheaders++;
        name = va_arg(ap, const char *);
    }
    va_end(ap);
    return req;
}

/* Runs the hook on req; returns its result, *status and why. */
static int check(fixture *f, oa_http_req *req, int *status)
{
    char why[256] = "";
    int rc;

    *status = 0;
    rc = oa_auth_http_check(f->auth, req, status, why, sizeof(why));
    if (rc != 0) {
        assert_true(strlen(why) > 10);
        assert_int_equal(req->auth, OA_AUTH_NONE);
        assert_string_equal(req->user, "");
    }
    return rc;
}

static const char *resp_header(oa_http_req *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->nresp_headers; i++) {
        if (strcasecmp(req->resp_headers[i].name, name) == 0) {
            return req->resp_headers[i].value;
        }
    }
    return NULL;
}

/* ---- passwords ---------------------------------------------------------- */

static void test_hash_format_and_verify(void **state)
{
    fixture *f = *state;
    char hash[256];
    char *p;
    char *salt;
    char *digest;

    set_pw(f, "alice", PW);
    query_text(f->store->db, "SELECT hash FROM users WHERE name = ?1", "alice", hash,
               sizeof(hash));
    /* pbkdf2-sha256$<count>$<16-byte salt hex>$<32-byte hash hex> */
    assert_int_equal(strncmp(hash, "pbkdf2-sha256$1000$", 19), 0);
    salt = hash + 19;
    p = strchr(salt, '$');
    assert_non_null(p);
    assert_int_equal(p - salt, 32);
    digest = p + 1;
    assert_int_equal(strlen(digest), 64);
    assert_int_equal(strspn(digest, "0123456789abcdef"), 64);
    assert_null(strstr(hash, PW));
    assert_int_equal(oa_auth_check_password(f->auth, "alice", PW), 0);
    /* A hash made at one count stays valid when the count changes. */
    oa_auth_set_iterations(f->auth, 2000);
    assert_int_equal(oa_auth_check_password(f->auth, "alice", PW), 0);
    /* The count is never below 1000. */
    oa_auth_set_iterations(f->auth, 10);
    set_pw(f, "bob", PW);
    query_text(f->store->db, "SELECT hash FROM users WHERE name = ?1", "bob", hash,
               sizeof(hash));
    assert_int_equal(strncmp(hash, "pbkdf2-sha256$1000$", 19), 0);
}

static void test_default_iterations(void **state)
{
    fixture *f = *state;
    oa_auth *plain = NULL;
    char hash[256];

    /* A fresh auth state hashes at the default count. */
    assert_int_equal(oa_auth_new(f->store, &plain), 0);
    assert_int_equal(oa_auth_set_password(plain, "alice", PW, NULL, 0), 0);
    query_text(f->store->db, "SELECT hash FROM users WHERE name = ?1", "alice", hash,
               sizeof(hash));
    assert_int_equal(strncmp(hash, "pbkdf2-sha256$", 14), 0);
    assert_true(strtoul(hash + 14, NULL, 10) >= 200000);
    assert_int_equal(oa_auth_check_password(plain, "alice", PW), 0);
    assert_int_equal(oa_auth_check_password(plain, "alice", "wrong password"), OA_EACCES);
    oa_auth_free(plain);
}

static void test_wrong_password_and_unknown_user(void **state)
{
    fixture *f = *state;

    set_pw(f, "alice", PW);
    assert_int_equal(oa_auth_check_password(f->auth, "alice", "correct hors"), OA_EACCES);
    assert_int_equal(oa_auth_check_password(f->auth, "alice", ""), OA_EACCES);
    assert_int_equal(oa_auth_check_password(f->auth, "Alice", PW), OA_EACCES);
    /* An unknown or impossible name gives the same answer. */
    assert_int_equal(oa_auth_check_password(f->auth, "nobody", PW), OA_EACCES);
    assert_int_equal(oa_auth_check_password(f->auth, "bad name", PW), OA_EACCES);
    assert_int_equal(oa_auth_check_password(f->auth, "", PW), OA_EACCES);
    assert_int_equal(oa_auth_check_password(f->auth, NULL, PW), OA_EINVAL);
    /* A damaged stored hash refuses, it does not crash or accept. */
    assert_int_equal(oa_store_exec(f->store, "UPDATE users SET hash = 'pbkdf2-sha256$1000$zz$'"),
                     0);
    assert_int_equal(oa_auth_check_password(f->auth, "alice", PW), OA_EACCES);
}

static void test_salts_differ(void **state)
{
    fixture *f = *state;
    char a[256];
    char b[256];
    char a2[256];

    set_pw(f, "alice", PW);
    set_pw(f, "bob", PW);
    query_text(f->store->db, "SELECT hash FROM users WHERE name = ?1", "alice", a, sizeof(a));
    query_text(f->store->db, "SELECT hash FROM users WHERE name = ?1", "bob", b, sizeof(b));
    assert_string_not_equal(a, b);
    /* The salts themselves differ, not only the hashes. */
    assert_int_not_equal(strncmp(a + 19, b + 19, 32), 0);
    set_pw(f, "alice", PW);
    query_text(f->store->db, "SELECT hash FROM users WHERE name = ?1", "alice", a2, sizeof(a2));
    assert_string_not_equal(a, a2);
    assert_int_equal(oa_auth_check_password(f->auth, "alice", PW), 0);
    assert_int_equal(oa_auth_check_password(f->auth, "bob", PW), 0);
}

static void test_password_change_ends_sessions(void **state)
{
    fixture *f = *state;
    char s1[80];
    char c1[80];
    char s2[80];
    char c2[80];
    char sb[80];
    char cb[80];
    char token[80];
    char user[65];

    set_pw(f, "alice", PW);
    set_pw(f, "bob", PW);
    login_ok(f, CLIENT, "alice", PW, s1, c1);
    login_ok(f, CLIENT, "alice", PW, s2, c2);
    login_ok(f, CLIENT, "bob", PW, sb, cb);
    assert_string_not_equal(s1, s2);
    assert_string_not_equal(c1, c2);
    assert_int_equal(oa_auth_token_create(f->auth, "alice", "ci", token, NULL, 0), 0);
    set_pw(f, "alice", "a new password");
    assert_int_equal(oa_auth_session_check(f->auth, s1, NULL, NULL, NULL), OA_EACCES);
    assert_int_equal(oa_auth_session_check(f->auth, s2, NULL, NULL, NULL), OA_EACCES);
    assert_int_equal(oa_auth_check_password(f->auth, "alice", PW), OA_EACCES);
    assert_int_equal(oa_auth_check_password(f->auth, "alice", "a new password"), 0);
    /* Other users' sessions and the user's API tokens stay. */
    assert_int_equal(oa_auth_session_check(f->auth, sb, user, NULL, NULL), 0);
    assert_string_equal(user, "bob");
    assert_int_equal(oa_auth_token_check(f->auth, token, user), 0);
    assert_string_equal(user, "alice");
}

static void test_refused_passwords_and_names(void **state)
{
    fixture *f = *state;
    static const char *const bad[] = {"",       "a b",    "x/y",  "caf\xc3\xa9", "a\tb",
                                      "semi;c", "quo'te", "new\n"};
    char name64[65];
    char name65[66];
    char longpw[1026];
    char err[256];
    size_t i;

    memset(name64, 'n', 64);
    name64[64] = '\0';
    memset(name65, 'n', 65);
    name65[65] = '\0';
    memset(longpw, 'p', 1025);
    longpw[1025] = '\0';

    err[0] = '\0';
    assert_int_equal(oa_auth_set_password(f->auth, "alice", "1234567", err, sizeof(err)),
                     OA_EINVAL);
    assert_non_null(strstr(err, "at least 8"));
    err[0] = '\0';
    assert_int_equal(oa_auth_set_password(f->auth, "alice", longpw, err, sizeof(err)),
                     OA_EINVAL);
    assert_non_null(strstr(err, "too long"));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(oa_auth_set_password(f->auth, bad[i], PW, err, sizeof(err)), OA_EINVAL);
        assert_non_null(strstr(err, "user name"));
        assert_false(oa_auth_name_valid(bad[i]));
    }
    assert_int_equal(oa_auth_set_password(f->auth, name65, PW, err, sizeof(err)), OA_EINVAL);
    assert_int_equal(oa_auth_set_password(f->auth, NULL, PW, err, sizeof(err)), OA_EINVAL);
    assert_int_equal(query_int(f->store->db, "SELECT COUNT(*) FROM users", NULL), 0);
    /* The edges are accepted. */
    assert_int_equal(oa_auth_set_password(f->auth, name64, "12345678", err, sizeof(err)), 0);
    assert_int_equal(oa_auth_set_password(f->auth, "A-z_0.9", PW, err, sizeof(err)), 0);
    assert_true(oa_auth_name_valid(name64));
    assert_int_equal(oa_auth_check_password(f->auth, name64, "12345678"), 0);
}

static void test_ensure_admin_once(void **state)
{
    fixture *f = *state;
    char pw[32];
    char again[32] = "untouched";
    char hash[256];

    assert_int_equal(oa_auth_ensure_admin(f->auth, pw, 16), OA_EINVAL);
    assert_int_equal(oa_auth_ensure_admin(f->auth, pw, sizeof(pw)), 1);
    assert_true(is_b64url(pw, 20));
    assert_int_equal(oa_auth_check_password(f->auth, "admin", pw), 0);
    query_text(f->store->db, "SELECT hash FROM users WHERE name = 'admin'", NULL, hash,
               sizeof(hash));
    assert_null(strstr(hash, pw));
    /* A second start finds the user and changes nothing. */
    assert_int_equal(oa_auth_ensure_admin(f->auth, again, sizeof(again)), 0);
    assert_string_equal(again, "untouched");
    assert_int_equal(oa_auth_check_password(f->auth, "admin", pw), 0);
    assert_int_equal(query_int(f->store->db, "SELECT COUNT(*) FROM users", NULL), 1);
}

static void test_ensure_admin_skips_when_users_exist(void **state)
{
    fixture *f = *state;
    char pw[32] = "";

    set_pw(f, "alice", PW);
    assert_int_equal(oa_auth_ensure_admin(f->auth, pw, sizeof(pw)), 0);
    assert_string_equal(pw, "");
    assert_int_equal(query_int(f->store->db, "SELECT COUNT(*) FROM users WHERE name = 'admin'",
                               NULL),
                     0);
}

/* ---- sessions ----------------------------------------------------------- */

static void test_session_login_check_logout(void **state)
{
    fixture *f = *state;
    char session[80];
    char csrf[80];
    char user[65];
    char csrf2[80];
    char id_hash[65];
    int64_t expires = 0;
    int retry = -1;

    set_pw(f, "alice", PW);
    assert_int_equal(oa_auth_login(f->auth, CLIENT, "alice", PW, session, csrf, &expires, &retry),
                     0);
    assert_int_equal(expires, T0 + 12 * 3600);
    assert_int_equal(retry, 0);
    /* Only the SHA-256 of the id is stored. */
    sha256_hex(session, id_hash);
    assert_int_equal(query_int(f->store->db, "SELECT COUNT(*) FROM sessions WHERE id_hash = ?1",
                               id_hash),
                     1);
    assert_int_equal(query_int(f->store->db,
                               "SELECT COUNT(*) FROM sessions WHERE id_hash = ?1 OR user = ?1"
                               " OR csrf = ?1",
                               session),
                     0);
    fake_now += 60;
    assert_int_equal(oa_auth_session_check(f->auth, session, user, csrf2, &expires), 0);
    assert_string_equal(user, "alice");
    assert_string_equal(csrf2, csrf);
    assert_int_equal(expires, T0 + 60 + 12 * 3600);
    /* Wrong, malformed and overlong ids. */
    assert_int_equal(oa_auth_session_check(f->auth, csrf, NULL, NULL, NULL), OA_EACCES);
    assert_int_equal(oa_auth_session_check(f->auth, "", NULL, NULL, NULL), OA_EACCES);
    assert_int_equal(oa_auth_session_check(f->auth, "a b", NULL, NULL, NULL), OA_EACCES);
    assert_int_equal(oa_auth_session_check(f->auth, NULL, NULL, NULL, NULL), OA_EINVAL);
    assert_int_equal(oa_auth_logout(f->auth, session), 0);
    assert_int_equal(oa_auth_session_check(f->auth, session, user, NULL, NULL), OA_EACCES);
    assert_int_equal(oa_auth_logout(f->auth, session), OA_ENOENT);
    assert_int_equal(query_int(f->store->db, "SELECT COUNT(*) FROM sessions", NULL), 0);
}

static void test_session_idle_expiry_slides(void **state)
{
    fixture *f = *state;
    char session[80];
    char csrf[80];
    int64_t expires = 0;

    oa_auth_set_lifetimes(f->auth, 100, 100000);
    set_pw(f, "alice", PW);
    login_ok(f, CLIENT, "alice", PW, session, csrf);
    /* Each request slides the idle time. */
    fake_now = T0 + 99;
    assert_int_equal(oa_auth_session_check(f->auth, session, NULL, NULL, &expires), 0);
    assert_int_equal(expires, T0 + 199);
    fake_now = T0 + 198;
    assert_int_equal(oa_auth_session_check(f->auth, session, NULL, NULL, &expires), 0);
    assert_int_equal(expires, T0 + 298);
    /* 100 s without a request ends it, and the row is gone. */
    fake_now = T0 + 298;
    assert_int_equal(oa_auth_session_check(f->auth, session, NULL, NULL, NULL), OA_EACCES);
    assert_int_equal(query_int(f->store->db, "SELECT COUNT(*) FROM sessions", NULL), 0);
    fake_now = T0 + 250;
    assert_int_equal(oa_auth_session_check(f->auth, session, NULL, NULL, NULL), OA_EACCES);
}

static void test_session_max_age(void **state)
{
    fixture *f = *state;
    char session[80];
    char csrf[80];
    int64_t expires = 0;

    oa_auth_set_lifetimes(f->auth, 100, 250);
    set_pw(f, "alice", PW);
    login_ok(f, CLIENT, "alice", PW, session, csrf);
    fake_now = T0 + 90;
    assert_int_equal(oa_auth_session_check(f->auth, session, NULL, NULL, &expires), 0);
    fake_now = T0 + 180;
    assert_int_equal(oa_auth_session_check(f->auth, session, NULL, NULL, &expires), 0);
    /* The maximum age caps the sliding expiry. */
    fake_now = T0 + 240;
    assert_int_equal(oa_auth_session_check(f->auth, session, NULL, NULL, &expires), 0);
    assert_int_equal(expires, T0 + 250);
    fake_now = T0 + 250;
    assert_int_equal(oa_auth_session_check(f->auth, session, NULL, NULL, NULL), OA_EACCES);
}

static void test_lower_lifetime_applies_to_existing(void **state)
{
    fixture *f = *state;
    char session[80];
    char csrf[80];

    set_pw(f, "alice", PW);
    login_ok(f, CLIENT, "alice", PW, session, csrf);
    fake_now = T0 + 3600;
    assert_int_equal(oa_auth_session_check(f->auth, session, NULL, NULL, NULL), 0);
    oa_auth_set_lifetimes(f->auth, 60, 0);
    fake_now = T0 + 3660;
    assert_int_equal(oa_auth_session_check(f->auth, session, NULL, NULL, NULL), OA_EACCES);
    /* The same for a shorter maximum age. */
    oa_auth_set_lifetimes(f->auth, 3600, 0);
    login_ok(f, CLIENT, "alice", PW, session, csrf);
    fake_now += 1800;
    assert_int_equal(oa_auth_session_check(f->auth, session, NULL, NULL, NULL), 0);
    oa_auth_set_lifetimes(f->auth, 0, 1800);
    assert_int_equal(oa_auth_session_check(f->auth, session, NULL, NULL, NULL), OA_EACCES);
}

static void test_expired_sessions_swept_on_login(void **state)
{
    fixture *f = *state;
    char session[80];
    char csrf[80];
    char keep[80];

    oa_auth_set_lifetimes(f->auth, 100, 1000);
    set_pw(f, "alice", PW);
    login_ok(f, CLIENT, "alice", PW, session, csrf);
    login_ok(f, CLIENT, "alice", PW, session, csrf);
    fake_now = T0 + 50;
    login_ok(f, CLIENT, "alice", PW, keep, csrf);
    assert_int_equal(query_int(f->store->db, "SELECT COUNT(*) FROM sessions", NULL), 3);
    fake_now = T0 + 120;
    login_ok(f, CLIENT, "alice", PW, session, csrf);
    /* The two idle ones are gone; the one from T0 + 50 and the new one stay. */
    assert_int_equal(query_int(f->store->db, "SELECT COUNT(*) FROM sessions", NULL), 2);
    assert_int_equal(oa_auth_session_check(f->auth, keep, NULL, NULL, NULL), 0);
}

/* ---- API tokens --------------------------------------------------------- */

static void token_count(void *arg, const char *name, const char *user, int64_t created)
{
    int *n = arg;

    assert_string_equal(name, *n == 0 ? "backup" : "ci");
    assert_string_equal(user, "alice");
    assert_int_equal(created, T0);
    (*n)++;
}

static void test_tokens_create_list_revoke(void **state)
{
    fixture *f = *state;
    char token[80];
    char other[80];
    char user[65];
    char hash[65];
    char err[256];
    int n = 0;

    set_pw(f, "alice", PW);
    assert_int_equal(oa_auth_token_create(f->auth, "alice", "ci", token, err, sizeof(err)), 0);
    assert_int_equal(strncmp(token, "oat_", 4), 0);
    assert_true(is_b64url(token + 4, 43));
    sha256_hex(token, hash);
    assert_int_equal(query_int(f->store->db,
                               "SELECT COUNT(*) FROM api_tokens WHERE token_hash = ?1", hash),
                     1);
    assert_int_equal(query_int(f->store->db,
                               "SELECT COUNT(*) FROM api_tokens WHERE token_hash = ?1"
                               " OR name = ?1",
                               token),
                     0);
    assert_int_equal(oa_auth_token_check(f->auth, token, user), 0);
    assert_string_equal(user, "alice");
    /* Refusals, each with a sentence. */
    err[0] = '\0';
    assert_int_equal(oa_auth_token_create(f->auth, "alice", "ci", other, err, sizeof(err)),
                     OA_EEXIST);
    assert_non_null(strstr(err, "exists already"));
    err[0] = '\0';
    assert_int_equal(oa_auth_token_create(f->auth, "nobody", "x", other, err, sizeof(err)),
                     OA_ENOENT);
    assert_non_null(strstr(err, "no user named 'nobody'"));
    err[0] = '\0';
    assert_int_equal(oa_auth_token_create(f->auth, "alice", "bad name", other, err, sizeof(err)),
                     OA_EINVAL);
    assert_non_null(strstr(err, "token name"));
    assert_int_equal(oa_auth_token_create(f->auth, "alice", "backup", other, err, sizeof(err)),
                     0);
    assert_string_not_equal(token, other);
    assert_int_equal(oa_auth_token_list(f->auth, token_count, &n), 0);
    assert_int_equal(n, 2);
    /* Wrong tokens. */
    assert_int_equal(oa_auth_token_check(f->auth, "oat_nothing", NULL), OA_EACCES);
    assert_int_equal(oa_auth_token_check(f->auth, "", NULL), OA_EACCES);
    assert_int_equal(oa_auth_token_check(f->auth, hash, NULL), OA_EACCES);
    /* Revoked. */
    assert_int_equal(oa_auth_token_revoke(f->auth, "ci"), 0);
    assert_int_equal(oa_auth_token_check(f->auth, token, NULL), OA_EACCES);
    assert_int_equal(oa_auth_token_revoke(f->auth, "ci"), OA_ENOENT);
    assert_int_equal(oa_auth_token_check(f->auth, other, NULL), 0);
    /* A token of a user that is gone is not valid. */
    assert_int_equal(oa_store_exec(f->store, "DELETE FROM users WHERE name = 'alice'"), 0);
    assert_int_equal(oa_auth_token_check(f->auth, other, NULL), OA_EACCES);
}

/* ---- the HTTP hook ------------------------------------------------------ */

static void test_http_no_credentials(void **state)
{
    fixture *f = *state;
    oa_http_req *req = mkreq("GET", "/api/status", NULL, NULL);
    int status = 0;

    assert_int_equal(check(f, req, &status), OA_EACCES);
    assert_int_equal(status, 401);
    oa_http_req_free(req);
    /* Other cookies only. */
    req = mkreq("GET", "/api/status", NULL, "Cookie", "theme=dark; lang=en", NULL);
    assert_int_equal(check(f, req, &status), OA_EACCES);
    assert_int_equal(status, 401);
    oa_http_req_free(req);
}

static void test_http_cookie_session(void **state)
{
    fixture *f = *state;
    char session[80];
    char csrf[80];
    char bogus[80];
    char cookie[400];
    oa_http_req *req;
    int status = 0;
    size_t i;
    const char *forms[] = {"oa_session=%s", "theme=dark; oa_session=%s; x=y",
                           "  oa_session = %s  ;", "oa_session=\"%s\"", "a=b;oa_session=%s"};

    set_pw(f, "alice", PW);
    login_ok(f, CLIENT, "alice", PW, session, csrf);
    for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        snprintf(cookie, sizeof(cookie), forms[i], session);
        req = mkreq("GET", "/api/status", NULL, "cookie", cookie, NULL);
        assert_int_equal(check(f, req, &status), 0);
        assert_int_equal(req->auth, OA_AUTH_SESSION);
        assert_string_equal(req->user, "alice");
        assert_string_equal(req->session, session);
        oa_http_req_free(req);
    }
    /* A stale cookie before the good one, and the good one in a second
     * Cookie header. */
    login_ok(f, CLIENT, "alice", PW, bogus, csrf);
    assert_int_equal(oa_auth_logout(f->auth, bogus), 0);
    snprintf(cookie, sizeof(cookie), "oa_session=%s", bogus);
    req = mkreq("GET", "/api/status", NULL, "Cookie", cookie, "Cookie", "x=1", NULL);
    assert_int_equal(check(f, req, &status), OA_EACCES);
    assert_int_equal(status, 401);
    oa_http_req_free(req);
    snprintf(cookie, sizeof(cookie), "oa_session=%s; oa_session=%s", bogus, session);
    req = mkreq("GET", "/api/status", NULL, "Cookie", cookie, NULL);
    assert_int_equal(check(f, req, &status), 0);
    assert_string_equal(req->session, session);
    oa_http_req_free(req);
    snprintf(cookie, sizeof(cookie), "oa_session=%s", session);
    req = mkreq("GET", "/api/status", NULL, "Cookie", "a=1", "Cookie", cookie, NULL);
    assert_int_equal(check(f, req, &status), 0);
    oa_http_req_free(req);
    /* A cookie with a similar name is not the session. */
    snprintf(cookie, sizeof(cookie), "xoa_session=%s; oa_session2=%s", session, session);
    req = mkreq("GET", "/api/status", NULL, "Cookie", cookie, NULL);
    assert_int_equal(check(f, req, &status), OA_EACCES);
    oa_http_req_free(req);
}

static void test_http_csrf(void **state)
{
    fixture *f = *state;
    static const char *const methods[] = {"POST", "PUT", "PATCH", "DELETE"};
    char session[80];
    char csrf[80];
    char wrong[100];
    char cookie[200];
    oa_http_req *req;
    int status = 0;
    size_t i;

    set_pw(f, "alice", PW);
    login_ok(f, CLIENT, "alice", PW, session, csrf);
    snprintf(cookie, sizeof(cookie), "oa_session=%s", session);
    snprintf(wrong, sizeof(wrong), "%s", csrf);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        req = mkreq(methods[i], "/api/x", NULL, "Cookie", cookie, NULL);
        assert_int_equal(check(f, req, &status), OA_EACCES);
        assert_int_equal(status, 403);
        oa_http_req_free(req);
        req = mkreq(methods[i], "/api/x", NULL, "Cookie", cookie, "X-CSRF-Token", wrong, NULL);
        assert_int_equal(check(f, req, &status), OA_EACCES);
        assert_int_equal(status, 403);
        oa_http_req_free(req);
        req = mkreq(methods[i], "/api/x", NULL, "Cookie", cookie, "X-CSRF-Token", "", NULL);
        assert_int_equal(check(f, req, &status), OA_EACCES);
        assert_int_equal(status, 403);
        oa_http_req_free(req);
        /* The session id is not the CSRF token. */
        req = mkreq(methods[i], "/api/x", NULL, "Cookie", cookie, "X-CSRF-Token", session,
                    NULL);
        assert_int_equal(check(f, req, &status), OA_EACCES);
        assert_int_equal(status, 403);
        oa_http_req_free(req);
        req = mkreq(methods[i], "/api/x", NULL, "Cookie", cookie, "x-csrf-token", csrf, NULL);
        assert_int_equal(check(f, req, &status), 0);
        assert_int_equal(req->auth, OA_AUTH_SESSION);
        assert_string_equal(req->user, "alice");
        oa_http_req_free(req);
    }
    /* A prefix of the token is not enough, nor the token with more. */
    snprintf(wrong, sizeof(wrong), "%.42s", csrf);
    req = mkreq("POST", "/api/x", NULL, "Cookie", cookie, "X-CSRF-Token", wrong, NULL);
    assert_int_equal(check(f, req, &status), OA_EACCES);
    assert_int_equal(status, 403);
    oa_http_req_free(req);
    snprintf(wrong, sizeof(wrong), "%sx", csrf);
    req = mkreq("POST", "/api/x", NULL, "Cookie", cookie, "X-CSRF-Token", wrong, NULL);
    assert_int_equal(check(f, req, &status), OA_EACCES);
    assert_int_equal(status, 403);
    oa_http_req_free(req);
    /* Reading needs no CSRF token. */
    req = mkreq("HEAD", "/api/x", NULL, "Cookie", cookie, NULL);
    assert_int_equal(check(f, req, &status), 0);
    oa_http_req_free(req);
}

static void test_http_bearer_token(void **state)
{
    fixture *f = *state;
    char token[80];
    char session[80];
    char csrf[80];
    char header[200];
    char cookie[200];
    oa_http_req *req;
    int status = 0;

    set_pw(f, "alice", PW);
    assert_int_equal(oa_auth_token_create(f->auth, "alice", "ci", token, NULL, 0), 0);
    snprintf(header, sizeof(header), "Bearer %s", token);
    /* Mutating without a CSRF token. */
    req = mkreq("POST", "/api/x", NULL, "Authorization", header, NULL);
    assert_int_equal(check(f, req, &status), 0);
    assert_int_equal(req->auth, OA_AUTH_TOKEN);
    assert_string_equal(req->user, "alice");
    assert_string_equal(req->session, "");
    oa_http_req_free(req);
    snprintf(header, sizeof(header), "  bearer   %s  ", token);
    req = mkreq("DELETE", "/api/x", NULL, "authorization", header, NULL);
    assert_int_equal(check(f, req, &status), 0);
    oa_http_req_free(req);
    /* A bad token is refused even with a good cookie beside it. */
    login_ok(f, CLIENT, "alice", PW, session, csrf);
    snprintf(cookie, sizeof(cookie), "oa_session=%s", session);
    req = mkreq("GET", "/api/x", NULL, "Cookie", cookie, "Authorization", "Bearer oat_xyz",
                NULL);
    assert_int_equal(check(f, req, &status), OA_EACCES);
    assert_int_equal(status, 401);
    oa_http_req_free(req);
    /* Another scheme leaves the cookie to decide. */
    req = mkreq("GET", "/api/x", NULL, "Cookie", cookie, "Authorization", "Basic YTpi", NULL);
    assert_int_equal(check(f, req, &status), 0);
    assert_int_equal(req->auth, OA_AUTH_SESSION);
    oa_http_req_free(req);
    /* Revoked. */
    assert_int_equal(oa_auth_token_revoke(f->auth, "ci"), 0);
    snprintf(header, sizeof(header), "Bearer %s", token);
    req = mkreq("GET", "/api/x", NULL, "Authorization", header, NULL);
    assert_int_equal(check(f, req, &status), OA_EACCES);
    assert_int_equal(status, 401);
    oa_http_req_free(req);
}

static void test_http_malformed_headers(void **state)
{
    fixture *f = *state;
    static const char *const cookies[] = {"",
                                          ";",
                                          ";;; ;",
                                          "oa_session",
                                          "oa_session=",
                                          "oa_session=\"\"",
                                          "oa_session=\"",
                                          "=",
                                          "oa_session=a b c",
                                          "oa_session=%00%00",
                                          "oa_session=\xff\xfe",
                                          "oa_session=../../etc/passwd"};
    static const char *const auths[] = {"Bearer",  "Bearer ",  "Bearer\t", "  Bearer   ",
                                        "Bearerx", "Bearer a b", "Bearer \xff", ""};
    char *big = malloc(70000);
    oa_http_req *req;
    int status = 0;
    size_t i;

    assert_non_null(big);
    set_pw(f, "alice", PW);
    for (i = 0; i < sizeof(cookies) / sizeof(cookies[0]); i++) {
        req = mkreq("GET", "/api/x", NULL, "Cookie", cookies[i], NULL);
        assert_int_equal(check(f, req, &status), OA_EACCES);
        assert_int_equal(status, 401);
        oa_http_req_free(req);
    }
    for (i = 0; i < sizeof(auths) / sizeof(auths[0]); i++) {
        req = mkreq("POST", "/api/x", NULL, "Authorization", auths[i], NULL);
        assert_int_equal(check(f, req, &status), OA_EACCES);
        assert_int_equal(status, 401);
        oa_http_req_free(req);
    }
    /* Very long headers of every kind. */
    memcpy(big, "oa_session=", 11);
    memset(big + 11, 'A', 70000 - 12);
    big[70000 - 1] = '\0';
    req = mkreq("GET", "/api/x", NULL, "Cookie", big, NULL);
    assert_int_equal(check(f, req, &status), OA_EACCES);
    assert_int_equal(status, 401);
    oa_http_req_free(req);
    memcpy(big, "Bearer ", 7);
    req = mkreq("GET", "/api/x", NULL, "Authorization", big, NULL);
    assert_int_equal(check(f, req, &status), OA_EACCES);
    assert_int_equal(status, 401);
    oa_http_req_free(req);
    memset(big, ';', 70000 - 1);
    req = mkreq("GET", "/api/x", NULL, "Cookie", big, NULL);
    assert_int_equal(check(f, req, &status), OA_EACCES);
    oa_http_req_free(req);
    free(big);
}

/* ---- throttling --------------------------------------------------------- */

static void test_client_addr(void **state)
{
    static const char *const cases[][2] = {
        {"127.0.0.1:6878", "127.0.0.1"}, {"127.0.0.1", "127.0.0.1"}, {"[::1]:6878", "::1"},
        {"[::1]", "::1"},                {"::1", "::1"},             {"fe80::1%eth0", "fe80::1%eth0"},
        {"[fe80::1", "fe80::1"},         {"", ""},                   {":80", ""},
    };
    char out[64];
    char tiny[4];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        oa_auth_client_addr(cases[i][0], out, sizeof(out));
        assert_string_equal(out, cases[i][1]);
    }
    oa_auth_client_addr(NULL, out, sizeof(out));
    assert_string_equal(out, "");
    oa_auth_client_addr("192.168.100.100:1", tiny, sizeof(tiny));
    assert_string_equal(tiny, "192");
}

static void test_throttle_lockout(void **state)
{
    fixture *f = *state;
    char session[80];
    char csrf[80];
    int i;

    set_pw(f, "alice", PW);
    /* Five failures, from different ports of one address. */
    for (i = 0; i < 5; i++) {
        char client[64];

        snprintf(client, sizeof(client), "10.0.0.1:%d", 50000 + i);
        assert_int_equal(login_fails(f, client, "alice", "wrong password"), 0);
    }
    /* Then even the right password is refused, with the time to wait. */
    assert_int_equal(login_fails(f, "10.0.0.1:1", "alice", PW), 30);
    assert_int_equal(login_fails(f, "10.0.0.1", "nobody", "x"), 30);
    fake_now = T0 + 10;
    assert_int_equal(login_fails(f, CLIENT, "alice", PW), 20);
    /* Another address is not affected. */
    login_ok(f, "10.0.0.2:1", "alice", PW, session, csrf);
    login_ok(f, "[::1]:1", "alice", PW, session, csrf);
    /* After the lock-out, the right password works again. */
    fake_now = T0 + 30;
    login_ok(f, CLIENT, "alice", PW, session, csrf);
    /* ...and the count starts again. */
    for (i = 0; i < 4; i++) {
        assert_int_equal(login_fails(f, CLIENT, "alice", "wrong password"), 0);
    }
    login_ok(f, CLIENT, "alice", PW, session, csrf);
}

static void test_throttle_doubling(void **state)
{
    fixture *f = *state;
    static const int locks[] = {60, 120, 240, 480, 900, 900};
    char session[80];
    char csrf[80];
    size_t i;

    set_pw(f, "alice", PW);
    for (i = 0; i < 5; i++) {
        assert_int_equal(login_fails(f, "[2001:db8::7]:1000", "alice", "wrong password"), 0);
    }
    assert_int_equal(login_fails(f, "[2001:db8::7]:1001", "alice", PW), 30);
    fake_now += 30;
    /* Each failure after a lock-out doubles the next one, up to 15 min. */
    for (i = 0; i < sizeof(locks) / sizeof(locks[0]); i++) {
        assert_int_equal(login_fails(f, "[2001:db8::7]:1002", "alice", "wrong password"), 0);
        assert_int_equal(login_fails(f, "2001:db8::7", "alice", PW), locks[i]);
        fake_now += locks[i] - 1;
        assert_int_equal(login_fails(f, "[2001:db8::7]:9", "alice", PW), 1);
        fake_now += 1;
    }
    login_ok(f, "[2001:db8::7]:1003", "alice", PW, session, csrf);
}

static void test_throttle_window(void **state)
{
    fixture *f = *state;
    char session[80];
    char csrf[80];
    int i;

    set_pw(f, "alice", PW);
    for (i = 0; i < 4; i++) {
        assert_int_equal(login_fails(f, CLIENT, "alice", "wrong password"), 0);
    }
    /* Failures older than 15 minutes no longer count. */
    fake_now = T0 + 900;
    for (i = 0; i < 4; i++) {
        assert_int_equal(login_fails(f, CLIENT, "alice", "wrong password"), 0);
    }
    login_ok(f, CLIENT, "alice", PW, session, csrf);
}

static void test_throttle_survives_address_flood(void **state)
{
    fixture *f = *state;
    char client[64];
    int i;

    set_pw(f, "alice", PW);
    for (i = 0; i < 5; i++) {
        assert_int_equal(login_fails(f, "192.0.2.1:1", "alice", "wrong password"), 0);
    }
    /* Many more addresses than the table holds, each failing once, do not
     * push the locked address out. */
    fake_now += 1;
    for (i = 0; i < 1100; i++) {
        snprintf(client, sizeof(client), "[2001:db8::%x]:1", i);
        assert_int_equal(login_fails(f, client, "nobody", "x"), 0);
    }
    assert_int_equal(login_fails(f, "192.0.2.1:2", "alice", PW), 29);
}

/* ---- audit -------------------------------------------------------------- */

static void test_login_is_audited(void **state)
{
    fixture *f = *state;
    char session[80];
    char csrf[80];
    json_t *e = NULL;
    json_t *x;
    int i;

    set_pw(f, "alice", PW);
    assert_int_equal(login_fails(f, "10.1.1.1:5", "alice", "wrong password"), 0);
    assert_int_equal(login_fails(f, "[::1]:5", "no body", "x"), 0);
    login_ok(f, "10.1.1.1:6", "alice", PW, session, csrf);
    for (i = 0; i < 4; i++) {
        assert_int_equal(login_fails(f, "10.2.2.2:1", "alice", "wrong password"), 0);
    }
    assert_int_equal(oa_audit_list(f->store, 0, 100, &e), 0);
    assert_int_equal(json_array_size(e), 7);
    x = json_array_get(e, 6);
    assert_string_equal(json_string_value(json_object_get(x, "action")), "login.failed");
    assert_true(json_is_null(json_object_get(x, "who")));
    assert_string_equal(json_string_value(json_object_get(x, "client")), "10.1.1.1");
    assert_string_equal(json_string_value(json_object_get(x, "detail")), "user 'alice'");
    x = json_array_get(e, 5);
    assert_string_equal(json_string_value(json_object_get(x, "client")), "::1");
    assert_null(strstr(json_string_value(json_object_get(x, "detail")), "no body"));
    x = json_array_get(e, 4);
    assert_string_equal(json_string_value(json_object_get(x, "action")), "login");
    assert_string_equal(json_string_value(json_object_get(x, "who")), "alice");
    assert_string_equal(json_string_value(json_object_get(x, "client")), "10.1.1.1");
    /* The failure that starts a lock-out says so. */
    x = json_array_get(e, 0);
    assert_null(strstr(json_string_value(json_object_get(x, "detail")), "locked out"));
    json_decref(e);
    assert_int_equal(login_fails(f, "10.2.2.2:1", "alice", "wrong password"), 0);
    assert_int_equal(oa_audit_list(f->store, 0, 1, &e), 0);
    x = json_array_get(e, 0);
    assert_non_null(strstr(json_string_value(json_object_get(x, "detail")), "locked out for 30 s"));
    json_decref(e);
    /* Throttled attempts are not audited one by one. */
    assert_int_equal(login_fails(f, "10.2.2.2:1", "alice", PW), 30);
    assert_int_equal(query_int(f->store->db, "SELECT COUNT(*) FROM audit", NULL), 8);
}

static void test_audit_order_limit_paging(void **state)
{
    fixture *f = *state;
    json_t *e = NULL;
    json_t *x;
    int64_t last;
    char detail[32];
    int i;

    for (i = 1; i <= 25; i++) {
        snprintf(detail, sizeof(detail), "n%d", i);
        assert_int_equal(oa_audit_add(f->store, i % 2 ? "alice" : NULL,
                                      i % 3 ? "192.0.2.9:443" : NULL, "plugin.disable", detail),
                         0);
    }
    assert_int_equal(oa_audit_list(f->store, 0, 10, &e), 0);
    assert_int_equal(json_array_size(e), 10);
    x = json_array_get(e, 0);
    /* Newest first. */
    assert_string_equal(json_string_value(json_object_get(x, "detail")), "n25");
    assert_string_equal(json_string_value(json_object_get(x, "who")), "alice");
    assert_string_equal(json_string_value(json_object_get(x, "client")), "192.0.2.9");
    assert_string_equal(json_string_value(json_object_get(x, "action")), "plugin.disable");
    assert_true(json_is_integer(json_object_get(x, "id")));
    {
        const char *t = json_string_value(json_object_get(x, "time"));
        int y = 0;
        int mo = 0;
        int d = 0;
        int h = 0;
        int mi = 0;
        int s = 0;
        char z = 0;

        assert_non_null(t);
        assert_int_equal(strlen(t), 20);
        assert_int_equal(sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &s, &z),
                         7);
        assert_true(y >= 2024);
        assert_int_equal(z, 'Z');
    }
    x = json_array_get(e, 1);
    assert_true(json_is_null(json_object_get(x, "who")));
    x = json_array_get(e, 4);
    assert_string_equal(json_string_value(json_object_get(x, "detail")), "n21");
    assert_true(json_is_null(json_object_get(x, "client")));
    last = json_integer_value(json_object_get(json_array_get(e, 9), "id"));
    json_decref(e);
    /* The next pages. */
    assert_int_equal(oa_audit_list(f->store, last, 10, &e), 0);
    assert_int_equal(json_array_size(e), 10);
    assert_string_equal(json_string_value(json_object_get(json_array_get(e, 0), "detail")),
                        "n15");
    last = json_integer_value(json_object_get(json_array_get(e, 9), "id"));
    json_decref(e);
    assert_int_equal(oa_audit_list(f->store, last, 10, &e), 0);
    assert_int_equal(json_array_size(e), 5);
    assert_string_equal(json_string_value(json_object_get(json_array_get(e, 4), "detail")),
                        "n1");
    json_decref(e);
    assert_int_equal(oa_audit_list(f->store, 1, 10, &e), 0);
    assert_int_equal(json_array_size(e), 0);
    json_decref(e);
    /* Bad arguments. */
    e = NULL;
    assert_int_equal(oa_audit_list(f->store, 0, 0, &e), OA_EINVAL);
    assert_int_equal(oa_audit_list(f->store, 0, 1001, &e), OA_EINVAL);
    assert_int_equal(oa_audit_list(f->store, -1, 10, &e), OA_EINVAL);
    assert_null(e);
    assert_int_equal(oa_audit_list(f->store, 0, 1000, &e), 0);
    assert_int_equal(json_array_size(e), 25);
    json_decref(e);
    assert_int_equal(oa_audit_add(f->store, "alice", NULL, NULL, NULL), OA_EINVAL);
    assert_int_equal(oa_audit_add(f->store, "alice", NULL, "", NULL), OA_EINVAL);
}

static void test_audit_detail_cut_and_cap(void **state)
{
    fixture *f = *state;
    char *detail = malloc(5000);
    json_t *e = NULL;
    const char *got;
    int i;

    assert_non_null(detail);
    /* A long detail is cut on a UTF-8 boundary: byte 2000 is the second
     * byte of a 2-byte character, so 1999 bytes stay. */
    detail[0] = 'x';
    for (i = 0; i < 2499; i++) {
        memcpy(detail + 1 + 2 * i, "\xc3\xa9", 2);
    }
    detail[4999] = '\0';
    assert_int_equal(oa_audit_add(f->store, NULL, NULL, "x", detail), 0);
    assert_int_equal(oa_audit_list(f->store, 0, 1, &e), 0);
    got = json_string_value(json_object_get(json_array_get(e, 0), "detail"));
    assert_non_null(got);
    assert_int_equal(strlen(got), 1999);
    json_decref(e);
    free(detail);
    /* The table keeps the newest 10000 rows. */
    assert_int_equal(oa_store_exec(f->store, "BEGIN"), 0);
    for (i = 0; i < 10199; i++) {
        assert_int_equal(oa_audit_add(f->store, NULL, NULL, "bulk", NULL), 0);
    }
    assert_int_equal(oa_store_exec(f->store, "COMMIT"), 0);
    assert_int_equal(query_int(f->store->db, "SELECT COUNT(*) FROM audit", NULL), 10000);
    assert_int_equal(query_int(f->store->db, "SELECT MIN(id) FROM audit", NULL), 201);
    assert_int_equal(query_int(f->store->db, "SELECT MAX(id) FROM audit", NULL), 10200);
}

/* ---- the routes through the dispatcher ---------------------------------- */

typedef struct web {
    fixture *f;
    uv_loop_t *loop;
    oa_http *http;
} web;

/* A loop and a dispatcher with the auth hook and routes; auth gets the
 * loop, as the host gives it. */
static void web_open(fixture *f, web *w)
{
    char err[256] = "";

    w->f = f;
    w->loop = calloc(1, sizeof(*w->loop));
    assert_non_null(w->loop);
    assert_int_equal(uv_loop_init(w->loop), 0);
    if (oa_http_new(w->loop, NULL, &w->http, err, sizeof(err)) != 0) {
        fail_msg("oa_http_new: %s", err);
    }
    f->loop = w->loop;
    f->http = w->http;
    oa_auth_set_loop(f->auth, w->loop);
    oa_http_set_auth(w->http, oa_auth_http_check, f->auth);
    assert_int_equal(oa_auth_register_routes(f->auth, w->http), 0);
}

/* Shuts down in the host's order: auth lets go of the loop (cancelling
 * logins in flight), the dispatcher closes (answering kept requests 503),
 * the loop drains; nothing may be left open. */
static void web_close(web *w)
{
    fixture *f = w->f;

    oa_auth_set_loop(f->auth, NULL);
    oa_http_close(w->http);
    f->http = NULL;
    f->loop = NULL;
    assert_int_equal(uv_run(w->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(w->loop), 0);
    free(w->loop);
}

/* Runs the loop until req is answered (a login is answered from the loop
 * once its PBKDF2 ran on a worker thread) or nothing is left to run. */
static void run_until_replied(web *w, oa_http_req *req)
{
    while (!req->replied) {
        if (uv_run(w->loop, UV_RUN_ONCE) == 0) {
            break;
        }
    }
    assert_true(req->replied);
    assert_false(req->kept);
}

/* Dispatches req, runs the loop until it is answered, expects status and
 * returns the parsed body (the caller frees it and req). */
static json_t *dispatch(web *w, oa_http_req *req, int status)
{
    json_t *body;

    oa_http_dispatch(w->http, req);
    run_until_replied(w, req);
    if (req->status != status) {
        fail_msg("%s %s: status %d, wanted %d: %s", req->method, req->path, req->status, status,
                 req->resp_body != NULL ? req->resp_body : "");
    }
    assert_string_equal(req->content_type, "application/json");
    body = json_loads(req->resp_body, 0, NULL);
    assert_non_null(body);
    return body;
}

static void expect_error(json_t *body, const char *code)
{
    json_t *err = json_object_get(body, "error");

    assert_string_equal(json_string_value(json_object_get(err, "code")), code);
    assert_true(strlen(json_string_value(json_object_get(err, "message"))) > 5);
    json_decref(body);
}

static oa_http_req *login_req(const char *body)
{
    return mkreq("POST", "/api/login", body, "Content-Type", "application/json", NULL);
}

static void test_route_login_session_logout(void **state)
{
    fixture *f = *state;
    web w;
    oa_http_req *req;
    json_t *j;
    char session[80];
    char csrf[80];
    char cookie[120];
    const char *set;

    set_pw(f, "alice", PW);
    web_open(f, &w);
    req = login_req("{\"user\": \"alice\", \"password\": \"" PW "\"}");
    j = dispatch(&w, req, 200);
    assert_string_equal(json_string_value(json_object_get(j, "user")), "alice");
    snprintf(csrf, sizeof(csrf), "%s", json_string_value(json_object_get(j, "csrf")));
    assert_true(is_b64url(csrf, 43));
    assert_int_equal(json_integer_value(json_object_get(j, "expires")), T0 + 12 * 3600);
    json_decref(j);
    set = resp_header(req, "Set-Cookie");
    assert_non_null(set);
    assert_int_equal(strncmp(set, "oa_session=", 11), 0);
    assert_int_equal(strspn(set + 11,
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     43);
    snprintf(session, sizeof(session), "%.43s", set + 11);
    assert_string_equal(set + 54, "; HttpOnly; SameSite=Strict; Path=/; Max-Age=604800");
    assert_string_equal(resp_header(req, "Cache-Control"), "no-store");
    oa_http_req_free(req);
    snprintf(cookie, sizeof(cookie), "oa_session=%s", session);

    /* The session. */
    fake_now += 5;
    req = mkreq("GET", "/api/session", NULL, "Cookie", cookie, NULL);
    j = dispatch(&w, req, 200);
    assert_string_equal(json_string_value(json_object_get(j, "user")), "alice");
    assert_string_equal(json_string_value(json_object_get(j, "csrf")), csrf);
    assert_int_equal(json_integer_value(json_object_get(j, "expires")), T0 + 5 + 12 * 3600);
    json_decref(j);
    oa_http_req_free(req);
    req = mkreq("GET", "/api/session", NULL, NULL);
    expect_error(dispatch(&w, req, 401), "unauthorized");
    oa_http_req_free(req);

    /* Logout needs the CSRF token, then ends the session and the cookie. */
    req = mkreq("POST", "/api/logout", NULL, "Cookie", cookie, NULL);
    expect_error(dispatch(&w, req, 403), "csrf");
    oa_http_req_free(req);
    req = mkreq("POST", "/api/logout", NULL, "Cookie", cookie, "X-CSRF-Token", csrf, NULL);
    j = dispatch(&w, req, 200);
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_decref(j);
    set = resp_header(req, "Set-Cookie");
    assert_non_null(set);
    assert_string_equal(set, "oa_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    oa_http_req_free(req);
    req = mkreq("GET", "/api/session", NULL, "Cookie", cookie, NULL);
    expect_error(dispatch(&w, req, 401), "unauthorized");
    oa_http_req_free(req);

    /* login and logout are in the audit log, newest first. */
    assert_int_equal(oa_audit_list(f->store, 0, 10, &j), 0);
    assert_int_equal(json_array_size(j), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "action")),
                        "logout");
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "who")),
                        "alice");
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "client")),
                        "10.0.0.1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 1), "action")),
                        "login");
    json_decref(j);
    web_close(&w);
}

static void test_route_login_refusals(void **state)
{
    fixture *f = *state;
    static const char *const bad[] = {"{}",
                                      "[]",
                                      "{\"user\": \"alice\"}",
                                      "{\"password\": \"x\"}",
                                      "{\"user\": 1, \"password\": \"x\"}",
                                      "{\"user\": \"alice\", \"password\": null}"};
    web w;
    oa_http_req *req;
    json_t *j;
    json_t *wrong;
    json_t *unknown;
    size_t i;

    set_pw(f, "alice", PW);
    web_open(f, &w);
    /* Wrong password and unknown user read alike. */
    req = login_req("{\"user\": \"alice\", \"password\": \"nope\"}");
    wrong = dispatch(&w, req, 401);
    assert_null(resp_header(req, "Set-Cookie"));
    oa_http_req_free(req);
    req = login_req("{\"user\": \"mallory\", \"password\": \"nope\"}");
    unknown = dispatch(&w, req, 401);
    oa_http_req_free(req);
    assert_true(json_equal(wrong, unknown));
    expect_error(wrong, "unauthorized");
    json_decref(unknown);
    /* Malformed bodies. */
    req = login_req("{\"user\": ");
    expect_error(dispatch(&w, req, 400), "bad_json");
    oa_http_req_free(req);
    req = login_req(NULL);
    expect_error(dispatch(&w, req, 400), "bad_json");
    oa_http_req_free(req);
    /* An embedded NUL could cut a password short: refused by the parser. */
    req = login_req("{\"user\": \"alice\", \"password\": \"" PW "\\u0000x\"}");
    expect_error(dispatch(&w, req, 400), "bad_json");
    oa_http_req_free(req);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req = login_req(bad[i]);
        expect_error(dispatch(&w, req, 400), "bad_request");
        oa_http_req_free(req);
    }
    /* A form post (what another web site could send) is refused. */
    req = mkreq("POST", "/api/login", "{\"user\": \"alice\", \"password\": \"" PW "\"}",
                "Content-Type", "text/plain", NULL);
    expect_error(dispatch(&w, req, 400), "bad_request");
    oa_http_req_free(req);
    req = mkreq("POST", "/api/login", "{\"user\": \"alice\", \"password\": \"" PW "\"}", NULL);
    expect_error(dispatch(&w, req, 400), "bad_request");
    oa_http_req_free(req);
    req = mkreq("POST", "/api/login", "{\"user\": \"alice\", \"password\": \"" PW "\"}",
                "Content-Type", "application/json; charset=utf-8", NULL);
    j = dispatch(&w, req, 200);
    json_decref(j);
    oa_http_req_free(req);
    req = login_req("{\"user\": \"alice\", \"password\": \"" PW "\"}");
    snprintf(req->method, sizeof(req->method), "GET");
    expect_error(dispatch(&w, req, 405), "method_not_allowed");
    oa_http_req_free(req);
    web_close(&w);
}

static void test_route_login_throttled(void **state)
{
    fixture *f = *state;
    web w;
    oa_http_req *req;
    int i;

    set_pw(f, "alice", PW);
    web_open(f, &w);
    for (i = 0; i < 5; i++) {
        req = login_req("{\"user\": \"alice\", \"password\": \"nope\"}");
        expect_error(dispatch(&w, req, 401), "unauthorized");
        oa_http_req_free(req);
    }
    fake_now += 12;
    req = login_req("{\"user\": \"alice\", \"password\": \"" PW "\"}");
    expect_error(dispatch(&w, req, 429), "throttled");
    assert_non_null(resp_header(req, "Retry-After"));
    assert_string_equal(resp_header(req, "Retry-After"), "18");
    assert_null(resp_header(req, "Set-Cookie"));
    oa_http_req_free(req);
    fake_now += 18;
    req = login_req("{\"user\": \"alice\", \"password\": \"" PW "\"}");
    json_decref(dispatch(&w, req, 200));
    oa_http_req_free(req);
    web_close(&w);
}

static void test_route_with_token(void **state)
{
    fixture *f = *state;
    char token[80];
    char header[120];
    web w;
    oa_http_req *req;
    json_t *j;

    set_pw(f, "alice", PW);
    assert_int_equal(oa_auth_token_create(f->auth, "alice", "ci", token, NULL, 0), 0);
    snprintf(header, sizeof(header), "Bearer %s", token);
    web_open(f, &w);
    req = mkreq("GET", "/api/session", NULL, "Authorization", header, NULL);
    j = dispatch(&w, req, 200);
    assert_string_equal(json_string_value(json_object_get(j, "user")), "alice");
    assert_true(json_is_null(json_object_get(j, "csrf")));
    assert_true(json_is_null(json_object_get(j, "expires")));
    json_decref(j);
    oa_http_req_free(req);
    /* There is no session to end. */
    req = mkreq("POST", "/api/logout", NULL, "Authorization", header, NULL);
    expect_error(dispatch(&w, req, 400), "bad_request");
    oa_http_req_free(req);
    req = mkreq("GET", "/api/session", NULL, "Authorization", "Bearer oat_wrong", NULL);
    expect_error(dispatch(&w, req, 401), "unauthorized");
    oa_http_req_free(req);
    web_close(&w);
}

/* ---- logins off the loop thread ------------------------------------------ */

/* A 1 ms timer that counts its ticks while a login is in flight and
 * closes (and frees itself) once the login is answered. */
typedef struct ticker {
    uv_timer_t timer;
    oa_http_req *req;
    int *ticks_pending;
} ticker;

static void ticker_free(uv_handle_t *h)
{
    free(h->data);
}

static void ticker_tick(uv_timer_t *t)
{
    ticker *k = t->data;

    if (!k->req->replied) {
        (*k->ticks_pending)++;
    } else {
        uv_close((uv_handle_t *)t, ticker_free);
    }
}

/* At the default count a PBKDF2 takes tens of milliseconds; meanwhile the
 * loop keeps running (a 1 ms timer fires) and the request waits. */
static void test_route_login_does_not_block_loop(void **state)
{
    fixture *f = *state;
    web w;
    ticker *k = calloc(1, sizeof(*k));
    int ticks_pending = 0;
    oa_http_req *req;
    json_t *j;

    oa_auth_set_iterations(f->auth, OA_AUTH_PBKDF2_ITERATIONS);
    set_pw(f, "alice", PW);
    web_open(f, &w);
    req = login_req("{\"user\": \"alice\", \"password\": \"" PW "\"}");
    oa_http_dispatch(w.http, req);
    /* The handler returned without the answer: the request is kept. */
    assert_false(req->replied);
    assert_true(req->kept);
    assert_int_equal(query_int(f->store->db, "SELECT COUNT(*) FROM sessions", NULL), 0);
    assert_non_null(k);
    k->req = req;
    k->ticks_pending = &ticks_pending;
    k->timer.data = k;
    assert_int_equal(uv_timer_init(w.loop, &k->timer), 0);
    assert_int_equal(uv_timer_start(&k->timer, ticker_tick, 1, 1), 0);
    assert_int_equal(uv_run(w.loop, UV_RUN_DEFAULT), 0);
    assert_true(ticks_pending >= 1);
    assert_true(req->replied);
    assert_false(req->kept);
    assert_int_equal(req->status, 200);
    j = json_loads(req->resp_body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "user")), "alice");
    assert_true(is_b64url(json_string_value(json_object_get(j, "csrf")), 43));
    json_decref(j);
    assert_non_null(resp_header(req, "Set-Cookie"));
    assert_int_equal(query_int(f->store->db, "SELECT COUNT(*) FROM sessions", NULL), 1);
    assert_int_equal(
        query_int(f->store->db, "SELECT COUNT(*) FROM audit WHERE action = ?1", "login"), 1);
    oa_http_req_free(req);

    /* An unknown user waits for one PBKDF2 as well, and reads alike. */
    req = login_req("{\"user\": \"mallory\", \"password\": \"" PW "\"}");
    oa_http_dispatch(w.http, req);
    assert_true(req->kept);
    run_until_replied(&w, req);
    assert_int_equal(req->status, 401);
    oa_http_req_free(req);
    web_close(&w);
}

/* Without a loop the route hashes at once, as before. */
static void test_route_login_without_loop(void **state)
{
    fixture *f = *state;
    web w;
    oa_http_req *req;

    set_pw(f, "alice", PW);
    web_open(f, &w);
    oa_auth_set_loop(f->auth, NULL);
    req = login_req("{\"user\": \"alice\", \"password\": \"" PW "\"}");
    oa_http_dispatch(w.http, req);
    assert_true(req->replied);
    assert_false(req->kept);
    assert_int_equal(req->status, 200);
    assert_non_null(resp_header(req, "Set-Cookie"));
    oa_http_req_free(req);
    req = login_req("{\"user\": \"alice\", \"password\": \"nope\"}");
    oa_http_dispatch(w.http, req);
    assert_true(req->replied);
    assert_int_equal(req->status, 401);
    oa_http_req_free(req);
    web_close(&w);
}

/* Expects req, a login that was in flight at shutdown, to be answered once
 * by the dispatcher (503) and never by the login: no cookie, no session,
 * no "login" audit entry. */
static void expect_login_dropped(fixture *f, oa_http_req *req)
{
    assert_true(req->replied);
    assert_false(req->kept);
    assert_int_equal(req->status, 503);
    assert_null(resp_header(req, "Set-Cookie"));
    assert_int_equal(query_int(f->store->db, "SELECT COUNT(*) FROM sessions", NULL), 0);
    assert_int_equal(
        query_int(f->store->db, "SELECT COUNT(*) FROM audit WHERE action = ?1", "login"), 0);
    expect_error(json_loads(req->resp_body, 0, NULL), "unavailable");
}

/* Shutting down with logins in flight: the work still completes while the
 * loop drains, but touches neither the request nor the auth state (the
 * sanitizer build checks the second). */
static void test_route_login_shutdown_in_flight(void **state)
{
    fixture *f = *state;
    web w;
    oa_http_req *req;
    oa_http_req *req2;

    set_pw(f, "alice", PW);
    /* The host's order (web_close): loop taken away, dispatcher closed. */
    web_open(f, &w);
    req = login_req("{\"user\": \"alice\", \"password\": \"" PW "\"}");
    oa_http_dispatch(w.http, req);
    assert_true(req->kept);
    web_close(&w);
    expect_login_dropped(f, req);
    oa_http_req_free(req);

    /* The auth state freed first, with two logins in flight. */
    web_open(f, &w);
    req = login_req("{\"user\": \"alice\", \"password\": \"" PW "\"}");
    req2 = login_req("{\"user\": \"alice\", \"password\": \"nope\"}");
    oa_http_dispatch(w.http, req);
    oa_http_dispatch(w.http, req2);
    assert_true(req->kept);
    assert_true(req2->kept);
    oa_auth_free(f->auth);
    f->auth = NULL;
    web_close(&w);
    expect_login_dropped(f, req);
    expect_login_dropped(f, req2);
    assert_int_equal(
        query_int(f->store->db, "SELECT COUNT(*) FROM audit WHERE action = ?1", "login.failed"),
        0);
    oa_http_req_free(req);
    oa_http_req_free(req2);
}

/* Guesses sent in parallel get no more tries than one after another: with
 * five free failures, five may be in flight from one address and a sixth
 * waits; after the five fail the address is locked out. */
static void test_route_login_parallel_throttled(void **state)
{
    fixture *f = *state;
    web w;
    oa_http_req *reqs[5];
    oa_http_req *req;
    size_t i;

    set_pw(f, "alice", PW);
    web_open(f, &w);
    for (i = 0; i < 5; i++) {
        reqs[i] = login_req("{\"user\": \"alice\", \"password\": \"nope\"}");
        oa_http_dispatch(w.http, reqs[i]);
        assert_true(reqs[i]->kept);
    }
    req = login_req("{\"user\": \"alice\", \"password\": \"" PW "\"}");
    oa_http_dispatch(w.http, req);
    assert_true(req->replied);
    assert_int_equal(req->status, 429);
    assert_string_equal(resp_header(req, "Retry-After"), "1");
    expect_error(json_loads(req->resp_body, 0, NULL), "throttled");
    oa_http_req_free(req);
    for (i = 0; i < 5; i++) {
        run_until_replied(&w, reqs[i]);
        assert_int_equal(reqs[i]->status, 401);
        oa_http_req_free(reqs[i]);
    }
    req = login_req("{\"user\": \"alice\", \"password\": \"" PW "\"}");
    expect_error(dispatch(&w, req, 429), "throttled");
    assert_string_equal(resp_header(req, "Retry-After"), "30");
    oa_http_req_free(req);
    /* Another address is not held up. */
    req = login_req("{\"user\": \"alice\", \"password\": \"" PW "\"}");
    snprintf(req->client, sizeof(req->client), "10.0.0.2:40000");
    json_decref(dispatch(&w, req, 200));
    oa_http_req_free(req);
    web_close(&w);
}

/* At most 32 logins hash at once (each holds a worker thread); more are
 * answered 503 until some finish. */
static void test_route_login_busy(void **state)
{
    fixture *f = *state;
    web w;
    oa_http_req *reqs[32];
    oa_http_req *req;
    size_t i;

    set_pw(f, "alice", PW);
    web_open(f, &w);
    for (i = 0; i < 32; i++) {
        reqs[i] = login_req("{\"user\": \"alice\", \"password\": \"" PW "\"}");
        snprintf(reqs[i]->client, sizeof(reqs[i]->client), "10.1.0.%zu:40000", i + 1);
        oa_http_dispatch(w.http, reqs[i]);
        assert_true(reqs[i]->kept);
    }
    req = login_req("{\"user\": \"alice\", \"password\": \"" PW "\"}");
    snprintf(req->client, sizeof(req->client), "10.2.0.1:40000");
    oa_http_dispatch(w.http, req);
    assert_true(req->replied);
    assert_int_equal(req->status, 503);
    assert_string_equal(resp_header(req, "Retry-After"), "1");
    expect_error(json_loads(req->resp_body, 0, NULL), "unavailable");
    oa_http_req_free(req);
    for (i = 0; i < 32; i++) {
        run_until_replied(&w, reqs[i]);
        assert_int_equal(reqs[i]->status, 200);
        oa_http_req_free(reqs[i]);
    }
    assert_int_equal(query_int(f->store->db, "SELECT COUNT(*) FROM sessions", NULL), 32);
    req = login_req("{\"user\": \"alice\", \"password\": \"" PW "\"}");
    snprintf(req->client, sizeof(req->client), "10.2.0.1:40000");
    json_decref(dispatch(&w, req, 200));
    oa_http_req_free(req);
    web_close(&w);
}

/* ---- the offline commands ------------------------------------------------ */

/* Runs fn with standard input from text and standard output into out. */
typedef int (*cli_fn)(fixture *f, void *arg);

static int with_stdio(fixture *f, const char *text, char *out, size_t outlen, cli_fn fn,
                      void *arg)
{
    char *in_path = oa_test_path(f->dir, "stdin.txt");
    char *out_path = oa_test_path(f->dir, "stdout.txt");
    FILE *fp = fopen(in_path, "w");
    int saved_in = dup(STDIN_FILENO);
    int saved_out = dup(STDOUT_FILENO);
    int fd;
    int rc;
    size_t n;

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    fd = open(in_path, O_RDONLY);
    assert_true(fd >= 0);
    assert_true(dup2(fd, STDIN_FILENO) >= 0);
    close(fd);
    clearerr(stdin);
    fflush(stdout);
    fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
    close(fd);
    rc = fn(f, arg);
    fflush(stdout);
    assert_true(dup2(saved_out, STDOUT_FILENO) >= 0);
    assert_true(dup2(saved_in, STDIN_FILENO) >= 0);
    close(saved_out);
    close(saved_in);
    clearerr(stdin);
    fp = fopen(out_path, "r");
    assert_non_null(fp);
    n = fread(out, 1, outlen - 1, fp);
    out[n] = '\0';
    fclose(fp);
    free(in_path);
    free(out_path);
    return rc;
}

static int run_passwd(fixture *f, void *arg)
{
    return oa_cli_passwd(f->dir, arg);
}

static int run_token(fixture *f, void *arg)
{
    char **argv = arg;
    int argc = 0;

    while (argv[argc] != NULL) {
        argc++;
    }
    return oa_cli_token(f->dir, argc, argv);
}

static void test_cli_passwd(void **state)
{
    fixture *f = *state;
    char session[80];
    char csrf[80];
    char out[512];

    /* Beside an open store, as beside a running engine. */
    assert_int_equal(with_stdio(f, "first password\n", out, sizeof(out), run_passwd, "carol"),
                     0);
    assert_non_null(strstr(out, "created user 'carol'"));
    assert_int_equal(oa_auth_check_password(f->auth, "carol", "first password"), 0);
    login_ok(f, CLIENT, "carol", "first password", session, csrf);
    assert_int_equal(with_stdio(f, "second password\r\n", out, sizeof(out), run_passwd, "carol"),
                     0);
    assert_non_null(strstr(out, "changed the password"));
    assert_int_equal(oa_auth_check_password(f->auth, "carol", "second password"), 0);
    assert_int_equal(oa_auth_session_check(f->auth, session, NULL, NULL, NULL), OA_EACCES);
    /* Refusals change nothing. */
    assert_int_equal(with_stdio(f, "short\n", out, sizeof(out), run_passwd, "carol"), 1);
    assert_int_equal(with_stdio(f, "", out, sizeof(out), run_passwd, "carol"), 1);
    assert_int_equal(with_stdio(f, "long enough\n", out, sizeof(out), run_passwd, "bad name"), 1);
    assert_int_equal(oa_auth_check_password(f->auth, "carol", "second password"), 0);
    assert_int_equal(oa_cli_passwd(f->dir, NULL), 2);
}

static void test_cli_token(void **state)
{
    fixture *f = *state;
    char *create[] = {"token", "create", "alice", "ci", NULL};
    char *dup_create[] = {"create", "alice", "ci", NULL};
    char *list[] = {"list", NULL};
    char *revoke[] = {"revoke", "ci", NULL};
    char *bad[] = {"create", "alice", NULL};
    char out[512];
    char user[65];

    set_pw(f, "alice", PW);
    assert_int_equal(with_stdio(f, "", out, sizeof(out), run_token, create), 0);
    assert_int_equal(strncmp(out, "oat_", 4), 0);
    assert_int_equal(strlen(out), 48);
    out[47] = '\0';
    assert_int_equal(oa_auth_token_check(f->auth, out, user), 0);
    assert_string_equal(user, "alice");
    assert_int_equal(with_stdio(f, "", out, sizeof(out), run_token, dup_create), 1);
    assert_int_equal(with_stdio(f, "", out, sizeof(out), run_token, list), 0);
    assert_non_null(strstr(out, "NAME"));
    assert_non_null(strstr(out, "ci "));
    assert_non_null(strstr(out, "alice"));
    assert_non_null(strstr(out, "Z\n"));
    assert_int_equal(with_stdio(f, "", out, sizeof(out), run_token, revoke), 0);
    assert_int_equal(with_stdio(f, "", out, sizeof(out), run_token, revoke), 1);
    assert_int_equal(with_stdio(f, "", out, sizeof(out), run_token, list), 0);
    assert_non_null(strstr(out, "no API tokens"));
    assert_int_equal(with_stdio(f, "", out, sizeof(out), run_token, bad), 2);
    assert_int_equal(oa_cli_token(f->dir, 0, NULL), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hash_format_and_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_iterations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password_and_unknown_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_salts_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_change_ends_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_passwords_and_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ensure_admin_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ensure_admin_skips_when_users_exist, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_session_login_check_logout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_idle_expiry_slides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_max_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lower_lifetime_applies_to_existing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_expired_sessions_swept_on_login, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_create_list_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_no_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_cookie_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_csrf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_bearer_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_malformed_headers, setup, teardown),
        cmocka_unit_test(test_client_addr),
        cmocka_unit_test_setup_teardown(test_throttle_lockout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttle_doubling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttle_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttle_survives_address_flood, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_is_audited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_order_limit_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_detail_cut_and_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_login_session_logout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_login_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_login_throttled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_with_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_login_does_not_block_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_login_without_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_login_shutdown_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_login_parallel_throttled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_login_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_passwd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_token, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

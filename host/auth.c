/* Authentication (see auth.h, and docs/admin-api.md, "Authentication"):
 * admin users with salted PBKDF2-HMAC-SHA256 password hashes, login
 * sessions with a CSRF token, API tokens, throttling of failed logins per
 * client address. The HTTP side (the dispatcher's hook, the routes, logins
 * hashed off the loop thread) is in auth_http.c.
 *
 * Session ids and API tokens are 32 random bytes in base64url; the store
 * keeps only their SHA-256 (they carry 256 bits of entropy, so a plain hash
 * is enough), never the secret itself. The CSRF token is stored as it is:
 * it is shown to the logged-in user and is useless without the session. */
#include "auth_int.h"

#include "log.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Password hashes: "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>". */
#define AUTH_HASH_SCHEME "pbkdf2-sha256"
#define AUTH_SALT_BYTES 16
#define AUTH_HASH_TEXT 192
#define AUTH_MIN_ITERATIONS 1000u
/* A stored count above this is a damaged row, not a stronger hash. */
#define AUTH_MAX_ITERATIONS 100000000u
#define AUTH_MAX_PASSWORD 1024

/* Secrets: 32 random bytes, 43 base64url characters. */
#define AUTH_SECRET_BYTES 32
#define AUTH_TOKEN_PREFIX "oat_"
/* The first admin's password: 15 bytes, 20 base64url characters. */
#define AUTH_ADMIN_PASSWORD_BYTES 15

#define AUTH_IDLE_DEFAULT ((int64_t)12 * 3600)
#define AUTH_MAX_AGE_DEFAULT ((int64_t)7 * 24 * 3600)

/* Throttling: AUTH_THROTTLE_FREE failures from one address within the
 * window lock it out for AUTH_THROTTLE_FIRST_LOCK seconds, doubling with
 * each further failure up to AUTH_THROTTLE_MAX_LOCK. */
#define AUTH_THROTTLE_CAP 1024
#define AUTH_THROTTLE_FREE 5
#define AUTH_THROTTLE_WINDOW 900
#define AUTH_THROTTLE_FIRST_LOCK 30
#define AUTH_THROTTLE_MAX_LOCK 900

/* The failed-login record of one client address. Kept in memory only: a
 * restart of the engine forgets every count and lock-out. */
struct auth_throttle {
    int in_use;
    char addr[AUTH_ADDR_MAX];
    int fails;            /* failures in the current streak */
    int64_t first;        /* time of the streak's first failure */
    int64_t last;         /* time of its latest failure */
    int64_t locked_until; /* attempts before this time are refused */
};

/* ------------------------------------------------------------------------ */
/* Small helpers: clock, encoding, randomness, hashing. */

static int64_t auth_system_clock(void)
{
    return (int64_t)time(NULL);
}

static int64_t auth_min64(int64_t x, int64_t y)
{
    return x < y ? x : y;
}

static void auth_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xF];
    }
    out[2 * n] = '\0';
}

static int auth_hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes nchars hex digits (an even count) into out. Returns 0 or -1. */
static int auth_unhex(const char *in, size_t nchars, unsigned char *out)
{
    size_t i;

    if (nchars % 2 != 0) {
        return -1;
    }
    for (i = 0; i < nchars; i += 2) {
        int hi = auth_hex_digit(in[i]);
        int lo = auth_hex_digit(in[i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* Encodes n bytes as base64url without padding; out needs 4 * n / 3 + 2
 * bytes. */
static void auth_b64url(const unsigned char *in, size_t n, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i;
    size_t o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];

        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;

        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;

        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
}

static int auth_random(unsigned char *buf, size_t n)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        oa_log_write(OA_LOG_ERROR, AUTH_TAG, "the system random generator failed");
        return OA_EIO;
    }
    return 0;
}

/* Writes prefix and 32 random bytes in base64url into out (>= 80 bytes). */
static int auth_secret(const char *prefix, char *out)
{
    unsigned char raw[AUTH_SECRET_BYTES];
    size_t plen = strlen(prefix);
    int ret = auth_random(raw, sizeof(raw));

    if (ret == 0) {
        memcpy(out, prefix, plen);
        auth_b64url(raw, sizeof(raw), out + plen);
    }
    OPENSSL_cleanse(raw, sizeof(raw));
    return ret;
}

/* The SHA-256 of text as 64 hex digits into out (>= 65 bytes). */
static int auth_sha256_hex(const char *text, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mdlen != AUTH_HASH_BYTES) {
        oa_log_write(OA_LOG_ERROR, AUTH_TAG, "SHA-256 from OpenSSL failed");
        return OA_EIO;
    }
    auth_hex(md, mdlen, out);
    return 0;
}

static int auth_pbkdf2(const char *password, const unsigned char *salt, size_t saltlen,
                       unsigned iterations, unsigned char *out)
{
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)saltlen,
                          (int)iterations, EVP_sha256(), AUTH_HASH_BYTES, out) != 1) {
        oa_log_write(OA_LOG_ERROR, AUTH_TAG, "PBKDF2 from OpenSSL failed");
        return OA_EIO;
    }
    return 0;
}

/* Returns 1 when name is a valid user or token name: 1-64 characters of
 * [A-Za-z0-9_.-]; 0 otherwise (NULL included). */
int oa_auth_name_valid(const char *name)
{
    size_t n = 0;

    if (name == NULL) {
        return 0;
    }
    for (n = 0; name[n] != '\0'; n++) {
        char c = name[n];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';

        if (!ok || n >= AUTH_NAME_MAX) {
            return 0;
        }
    }
    return n > 0;
}

/* 1 when s looks like a session id or token we issued: 1-79 characters of
 * the base64url alphabet (the token prefix is made of them too). Anything
 * else is refused before it reaches a hash or the database. */
static int auth_secret_shape_ok(const char *s)
{
    size_t n;

    for (n = 0; s[n] != '\0'; n++) {
        char c = s[n];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-';

        if (!ok || n >= AUTH_SECRET_MAX) {
            return 0;
        }
    }
    return n > 0;
}

void auth_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Statements. Parameters are bound by type letters: 't' a const char *
 * (NULL binds SQL NULL), 'i' an int64_t. */

static int auth_fail(oa_auth *a, const char *what)
{
    oa_log_write(OA_LOG_ERROR, AUTH_TAG, "%s in database %s failed: %s", what, a->store->path,
                 sqlite3_errmsg(a->store->db));
    return OA_EIO;
}

static int auth_stmtv(oa_auth *a, sqlite3_stmt **st, const char *what, const char *sql,
                      const char *types, va_list ap)
{
    int rc = sqlite3_prepare_v2(a->store->db, sql, -1, st, NULL);
    int i;

    for (i = 0; rc == SQLITE_OK && types[i] != '\0'; i++) {
        if (types[i] == 't') {
            const char *text = va_arg(ap, const char *);

            if (text == NULL) {
                rc = sqlite3_bind_null(*st, i + 1);
            } else {
                rc = sqlite3_bind_text(*st, i + 1, text, -1, SQLITE_TRANSIENT);
            }
        } else {
            rc = sqlite3_bind_int64(*st, i + 1, va_arg(ap, int64_t));
        }
    }
    if (rc != SQLITE_OK) {
        int ret = auth_fail(a, what);

        sqlite3_finalize(*st);
        *st = NULL;
        return ret;
    }
    return 0;
}

/* Prepares sql with its parameters bound. */
static int auth_stmt(oa_auth *a, sqlite3_stmt **st, const char *what, const char *sql,
                     const char *types, ...)
{
    va_list ap;
    int ret;

    va_start(ap, types);
    ret = auth_stmtv(a, st, what, sql, types, ap);
    va_end(ap);
    return ret;
}

/* Runs sql (no result rows) with its parameters bound; *changes (may be
 * NULL) gets the number of rows changed. */
static int auth_run(oa_auth *a, int *changes, const char *what, const char *sql,
                    const char *types, ...)
{
    sqlite3_stmt *st = NULL;
    va_list ap;
    int ret;

    va_start(ap, types);
    ret = auth_stmtv(a, &st, what, sql, types, ap);
    va_end(ap);
    if (ret != 0) {
        return ret;
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        ret = auth_fail(a, what);
    }
    sqlite3_finalize(st);
    if (ret == 0 && changes != NULL) {
        *changes = sqlite3_changes(a->store->db);
    }
    return ret;
}

static int auth_exec(oa_auth *a, const char *sql, const char *what)
{
    if (sqlite3_exec(a->store->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return auth_fail(a, what);
    }
    return 0;
}

/* Ends a transaction begun with BEGIN IMMEDIATE: commits when ret is 0,
 * rolls back otherwise. Returns ret, or the commit's failure. */
static int auth_tx_end(oa_auth *a, int ret)
{
    if (ret == 0) {
        ret = auth_exec(a, "COMMIT", "committing");
    }
    if (ret != 0) {
        sqlite3_exec(a->store->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return ret;
}

/* Counts the rows of sql (a SELECT COUNT(*)) into *n. */
static int auth_count(oa_auth *a, int64_t *n, const char *what, const char *sql,
                      const char *name)
{
    sqlite3_stmt *st = NULL;
    int ret = auth_stmt(a, &st, what, sql, name != NULL ? "t" : "", name);

    if (ret != 0) {
        return ret;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        *n = sqlite3_column_int64(st, 0);
    } else {
        ret = auth_fail(a, what);
    }
    sqlite3_finalize(st);
    return ret;
}

/* ------------------------------------------------------------------------ */
/* The auth state. */

/* Creates the auth state over store (not owned; it must outlive the auth
 * state and hold schema version 2 or later). Returns 0, OA_EINVAL or
 * OA_ENOMEM. */
int oa_auth_new(oa_store *store, oa_auth **out)
{
    oa_auth *a;

    if (store == NULL || out == NULL) {
        return OA_EINVAL;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return OA_ENOMEM;
    }
    a->throttle = calloc(AUTH_THROTTLE_CAP, sizeof(*a->throttle));
    if (a->throttle == NULL) {
        free(a);
        return OA_ENOMEM;
    }
    a->store = store;
    a->clock = auth_system_clock;
    a->idle_s = AUTH_IDLE_DEFAULT;
    a->max_s = AUTH_MAX_AGE_DEFAULT;
    a->iterations = OA_AUTH_PBKDF2_ITERATIONS;
    *out = a;
    return 0;
}

/* Frees the auth state (not the store, not the stored sessions); NULL is
 * ignored. Logins in flight are cancelled: their work still completes on
 * the loop, but touches neither the auth state nor the request. */
void oa_auth_free(oa_auth *a)
{
    if (a == NULL) {
        return;
    }
    auth_pending_cancel(a);
    free(a->throttle);
    free(a);
}

/* Replaces the clock (NULL restores the system clock). */
void oa_auth_set_clock(oa_auth *a, oa_auth_clock_fn clock)
{
    a->clock = clock != NULL ? clock : auth_system_clock;
}

/* Sets the idle and maximum session lifetimes in seconds; a value below 1
 * leaves that lifetime unchanged. Applies to existing sessions too. */
void oa_auth_set_lifetimes(oa_auth *a, int64_t idle_s, int64_t max_s)
{
    if (idle_s > 0) {
        a->idle_s = idle_s;
    }
    if (max_s > 0) {
        a->max_s = max_s;
    }
}

/* Sets the PBKDF2 count for new hashes, raised to 1000 when lower. */
void oa_auth_set_iterations(oa_auth *a, unsigned iterations)
{
    if (iterations < AUTH_MIN_ITERATIONS) {
        iterations = AUTH_MIN_ITERATIONS;
    }
    if (iterations > AUTH_MAX_ITERATIONS) {
        iterations = AUTH_MAX_ITERATIONS;
    }
    a->iterations = iterations;
}

/* ------------------------------------------------------------------------ */
/* Passwords. */

/* Hashes password with a fresh salt at the current count into out. */
static int auth_hash_password(oa_auth *a, const char *password, char *out, size_t len)
{
    unsigned char salt[AUTH_SALT_BYTES];
    unsigned char hash[AUTH_HASH_BYTES];
    char salt_hex[2 * AUTH_SALT_BYTES + 1];
    char hash_hex[2 * AUTH_HASH_BYTES + 1];
    int ret = auth_random(salt, sizeof(salt));

    if (ret == 0) {
        ret = auth_pbkdf2(password, salt, sizeof(salt), a->iterations, hash);
    }
    if (ret == 0) {
        auth_hex(salt, sizeof(salt), salt_hex);
        auth_hex(hash, sizeof(hash), hash_hex);
        snprintf(out, len, "%s$%u$%s$%s", AUTH_HASH_SCHEME, a->iterations, salt_hex, hash_hex);
    }
    OPENSSL_cleanse(hash, sizeof(hash));
    return ret;
}

/* Splits a stored hash. Salts of 8 to 64 bytes are accepted, so that the
 * salt size, like the count, can change later. Returns 0 or -1. */
static int auth_hash_parse(const char *stored, unsigned *iterations, unsigned char *salt,
                           size_t *saltlen, unsigned char *hash)
{
    size_t plen = strlen(AUTH_HASH_SCHEME);
    const char *p = stored;
    const char *salt_end;
    unsigned long count = 0;
    size_t digits = 0;

    if (strncmp(p, AUTH_HASH_SCHEME, plen) != 0 || p[plen] != '$') {
        return -1;
    }
    p += plen + 1;
    while (*p >= '0' && *p <= '9' && digits < 10) {
        count = count * 10 + (unsigned long)(*p - '0');
        p++;
        digits++;
    }
    if (digits == 0 || *p != '$' || count < 1 || count > AUTH_MAX_ITERATIONS) {
        return -1;
    }
    p++;
    salt_end = strchr(p, '$');
    if (salt_end == NULL || salt_end - p < 16 || salt_end - p > 128 ||
        auth_unhex(p, (size_t)(salt_end - p), salt) != 0) {
        return -1;
    }
    *saltlen = (size_t)(salt_end - p) / 2;
    p = salt_end + 1;
    if (strlen(p) != 2 * AUTH_HASH_BYTES || auth_unhex(p, 2 * AUTH_HASH_BYTES, hash) != 0) {
        return -1;
    }
    *iterations = (unsigned)count;
    return 0;
}

/* Reads the stored hash of user. OA_ENOENT when there is no such user (or
 * the name is not valid). */
static int auth_user_hash(oa_auth *a, const char *user, char *out, size_t len)
{
    sqlite3_stmt *st = NULL;
    int ret;
    int rc;

    if (!oa_auth_name_valid(user)) {
        return OA_ENOENT;
    }
    ret = auth_stmt(a, &st, "reading a password hash", "SELECT hash FROM users WHERE name = ?1",
                    "t", user);
    if (ret != 0) {
        return ret;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(st, 0);

        snprintf(out, len, "%s", text != NULL ? (const char *)text : "");
    } else if (rc == SQLITE_DONE) {
        ret = OA_ENOENT;
    } else {
        ret = auth_fail(a, "reading a password hash");
    }
    sqlite3_finalize(st);
    return ret;
}

/* Reads what a check of user's password needs into v (addr is left
 * alone). An unknown user, a name that is not valid or a damaged hash
 * gets a zero salt and the current count, so that its check costs the
 * same. Returns 0, or OA_EIO on a storage failure. */
static int auth_verify_load(oa_auth *a, const char *user, auth_verify *v)
{
    char stored[AUTH_HASH_TEXT];
    int ret;

    v->known = 0;
    v->result = OA_EACCES;
    v->user[0] = '\0';
    if (oa_auth_name_valid(user)) {
        snprintf(v->user, sizeof(v->user), "%s", user);
    }
    ret = auth_user_hash(a, user, stored, sizeof(stored));
    if (ret == 0 &&
        auth_hash_parse(stored, &v->iterations, v->salt, &v->saltlen, v->want) != 0) {
        oa_log_write(OA_LOG_ERROR, AUTH_TAG,
                     "the stored password hash of user '%s' is damaged; set a new password "
                     "with 'openace passwd %s'",
                     user, user);
        ret = OA_ENOENT;
    }
    if (ret == OA_ENOENT) {
        memset(v->salt, 0, sizeof(v->salt));
        memset(v->want, 0, sizeof(v->want));
        v->saltlen = AUTH_SALT_BYTES;
        v->iterations = a->iterations;
        return 0;
    }
    if (ret == 0) {
        v->known = 1;
    }
    return ret;
}

/* PBKDF2 over password with v's salt and count (see auth_int.h); any
 * thread. */
void auth_verify_run(auth_verify *v, const char *password)
{
    unsigned char got[AUTH_HASH_BYTES];
    int ret = auth_pbkdf2(password, v->salt, v->saltlen, v->iterations, got);

    if (!v->known) {
        /* The same work as for a real user, and the same answer. */
        ret = OA_EACCES;
    } else if (ret == 0 && CRYPTO_memcmp(got, v->want, sizeof(got)) != 0) {
        ret = OA_EACCES;
    }
    OPENSSL_cleanse(got, sizeof(got));
    v->result = ret;
}

/* Checks password against the stored hash of user. Returns 0 when it is
 * right, OA_EACCES when it is wrong or there is no such user (one PBKDF2
 * run either way, so the time does not tell names apart), OA_EINVAL for
 * NULL arguments, OA_EIO on a storage or OpenSSL failure. Runs PBKDF2 on
 * the calling thread (the CLI and tests; HTTP logins use the loop's
 * workers, see auth_http.c). */
int oa_auth_check_password(oa_auth *a, const char *user, const char *password)
{
    auth_verify v;
    int ret;

    if (a == NULL || user == NULL || password == NULL) {
        return OA_EINVAL;
    }
    ret = auth_verify_load(a, user, &v);
    if (ret != 0) {
        return ret;
    }
    auth_verify_run(&v, password);
    ret = v.result;
    OPENSSL_cleanse(&v, sizeof(v));
    return ret;
}

/* Stores a new hash for user (creating the user) and ends its sessions, in
 * one transaction. */
static int auth_store_password(oa_auth *a, const char *user, const char *hash)
{
    int64_t now = a->clock();
    int ret = auth_exec(a, "BEGIN IMMEDIATE", "starting a password change");

    if (ret != 0) {
        return ret;
    }
    ret = auth_run(a, NULL, "storing a password hash",
                   "INSERT INTO users (name, hash, created) VALUES (?1, ?2, ?3)"
                   " ON CONFLICT (name) DO UPDATE SET hash = excluded.hash",
                   "tti", user, hash, now);
    if (ret == 0) {
        ret = auth_run(a, NULL, "ending the sessions of a user",
                       "DELETE FROM sessions WHERE user = ?1", "t", user);
    }
    return auth_tx_end(a, ret);
}

/* Creates user with password, or changes the password of an existing user
 * and ends all of its sessions (its API tokens stay valid). Returns 0;
 * OA_EINVAL with a sentence in err when the name or password is refused;
 * OA_EIO on a storage or OpenSSL failure. */
int oa_auth_set_password(oa_auth *a, const char *user, const char *password, char *err,
                         size_t errlen)
{
    char hash[AUTH_HASH_TEXT];
    size_t len;
    int ret;

    if (a == NULL || user == NULL || password == NULL) {
        auth_err(err, errlen, "no user name or password was given");
        return OA_EINVAL;
    }
    if (!oa_auth_name_valid(user)) {
        auth_err(err, errlen,
                 "a user name is 1 to %d characters of A-Z, a-z, 0-9, '_', '.' and '-'",
                 AUTH_NAME_MAX);
        return OA_EINVAL;
    }
    len = strlen(password);
    if (len < OA_AUTH_MIN_PASSWORD) {
        auth_err(err, errlen, "the password is too short: it needs at least %d characters",
                 OA_AUTH_MIN_PASSWORD);
        return OA_EINVAL;
    }
    if (len > AUTH_MAX_PASSWORD) {
        auth_err(err, errlen, "the password is too long: at most %d characters are accepted",
                 AUTH_MAX_PASSWORD);
        return OA_EINVAL;
    }
    ret = auth_hash_password(a, password, hash, sizeof(hash));
    if (ret == 0) {
        ret = auth_store_password(a, user, hash);
    }
    if (ret != 0) {
        auth_err(err, errlen, "cannot store the password: %s (see the log)", oa_strerror(ret));
    }
    return ret;
}

/* When no user exists, creates "admin" with a random 20-character
 * password, copies it into password (len >= 32) and returns 1; the caller
 * shows it once. Returns 0 when a user exists, OA_EINVAL, or OA_EIO. */
int oa_auth_ensure_admin(oa_auth *a, char *password, size_t len)
{
    unsigned char raw[AUTH_ADMIN_PASSWORD_BYTES];
    char secret[2 * AUTH_ADMIN_PASSWORD_BYTES];
    char hash[AUTH_HASH_TEXT];
    int64_t users = 0;
    int64_t now;
    int ret;

    if (a == NULL || password == NULL || len < 32) {
        return OA_EINVAL;
    }
    ret = auth_count(a, &users, "counting users", "SELECT COUNT(*) FROM users", NULL);
    if (ret != 0 || users > 0) {
        return ret;
    }
    ret = auth_random(raw, sizeof(raw));
    if (ret == 0) {
        auth_b64url(raw, sizeof(raw), secret);
        ret = auth_hash_password(a, secret, hash, sizeof(hash));
    }
    OPENSSL_cleanse(raw, sizeof(raw));
    if (ret == 0) {
        ret = auth_exec(a, "BEGIN IMMEDIATE", "starting to create the first user");
    }
    if (ret != 0) {
        OPENSSL_cleanse(secret, sizeof(secret));
        return ret;
    }
    /* Counted again under the write lock: another process (openace passwd)
     * may have created a user meanwhile. */
    ret = auth_count(a, &users, "counting users", "SELECT COUNT(*) FROM users", NULL);
    now = a->clock();
    if (ret == 0 && users == 0) {
        ret = auth_run(a, NULL, "creating the first user",
                       "INSERT INTO users (name, hash, created) VALUES ('admin', ?1, ?2)", "ti",
                       hash, now);
    }
    ret = auth_tx_end(a, ret);
    if (ret == 0 && users == 0) {
        snprintf(password, len, "%s", secret);
        ret = 1;
    }
    OPENSSL_cleanse(secret, sizeof(secret));
    return ret;
}

/* ------------------------------------------------------------------------ */
/* Throttling of failed logins, per client address, in memory. */

void oa_auth_client_addr(const char *client, char *out, size_t len)
{
    const char *start;
    const char *end;
    const char *colon;
    size_t n;

    if (out == NULL || len == 0) {
        return;
    }
    out[0] = '\0';
    if (client == NULL) {
        return;
    }
    start = client;
    if (client[0] == '[') {
        start = client + 1;
        end = strchr(start, ']');
        if (end == NULL) {
            end = start + strlen(start);
        }
    } else {
        /* One colon is "ip:port"; more are a bare IPv6 address. */
        colon = strchr(client, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            end = colon;
        } else {
            end = client + strlen(client);
        }
    }
    n = (size_t)(end - start);
    if (n >= len) {
        n = len - 1;
    }
    memcpy(out, start, n);
    out[n] = '\0';
}

/* A streak ends 15 minutes after its first failure while the address is
 * not locked, or 15 minutes after the lock-out ends. */
static int auth_throttle_stale(const auth_throttle *t, int64_t now)
{
    if (t->fails < AUTH_THROTTLE_FREE) {
        return now - t->first >= AUTH_THROTTLE_WINDOW;
    }
    return now >= t->locked_until + AUTH_THROTTLE_WINDOW;
}

/* The record of addr, or NULL when there is none (a stale one is
 * dropped). */
static auth_throttle *auth_throttle_find(oa_auth *a, const char *addr, int64_t now)
{
    size_t i;

    for (i = 0; i < AUTH_THROTTLE_CAP; i++) {
        auth_throttle *t = &a->throttle[i];

        if (t->in_use && strcmp(t->addr, addr) == 0) {
            if (auth_throttle_stale(t, now)) {
                memset(t, 0, sizeof(*t));
                return NULL;
            }
            return t;
        }
    }
    return NULL;
}

/* A slot for a new address: a free or stale one; else the unlocked one
 * whose last failure is oldest; else (every slot locked) the one whose
 * lock-out ends first. So a flood of new addresses cannot push a locked
 * one out before its lock-out has mostly run. */
static auth_throttle *auth_throttle_slot(oa_auth *a, int64_t now)
{
    auth_throttle *unlocked = NULL;
    auth_throttle *locked = NULL;
    size_t i;

    for (i = 0; i < AUTH_THROTTLE_CAP; i++) {
        auth_throttle *t = &a->throttle[i];

        if (!t->in_use || auth_throttle_stale(t, now)) {
            return t;
        }
        if (t->locked_until <= now) {
            if (unlocked == NULL || t->last < unlocked->last) {
                unlocked = t;
            }
        } else if (locked == NULL || t->locked_until < locked->locked_until) {
            locked = t;
        }
    }
    return unlocked != NULL ? unlocked : locked;
}

/* Counts a failure from addr. Returns the seconds of the lock-out it
 * starts, 0 when none. */
static int auth_throttle_fail(oa_auth *a, const char *addr, int64_t now)
{
    auth_throttle *t = auth_throttle_find(a, addr, now);
    int lock = AUTH_THROTTLE_FIRST_LOCK;
    int extra;

    if (t == NULL) {
        t = auth_throttle_slot(a, now);
        memset(t, 0, sizeof(*t));
        t->in_use = 1;
        snprintf(t->addr, sizeof(t->addr), "%s", addr);
        t->first = now;
    }
    t->fails++;
    t->last = now;
    if (t->fails < AUTH_THROTTLE_FREE) {
        return 0;
    }
    for (extra = t->fails - AUTH_THROTTLE_FREE; extra > 0 && lock < AUTH_THROTTLE_MAX_LOCK;
         extra--) {
        lock *= 2;
    }
    if (lock > AUTH_THROTTLE_MAX_LOCK) {
        lock = AUTH_THROTTLE_MAX_LOCK;
    }
    t->locked_until = now + lock;
    return lock;
}

/* ------------------------------------------------------------------------ */
/* Sessions. */

/* Deletes the sessions past their idle or maximum lifetime. */
static int auth_sweep(oa_auth *a, int64_t now)
{
    int64_t idle_edge = now - a->idle_s;
    int64_t max_edge = now - a->max_s;

    return auth_run(a, NULL, "deleting expired sessions",
                    "DELETE FROM sessions WHERE expires <= ?1 OR last_seen <= ?2"
                    " OR created <= ?3",
                    "iii", now, idle_edge, max_edge);
}

static int auth_session_create(oa_auth *a, const char *user, int64_t now, char *session,
                               char *csrf, int64_t *expires)
{
    char id[80];
    char token[80];
    char id_hash[65];
    int64_t exp = auth_min64(now + a->idle_s, now + a->max_s);
    int ret = auth_secret("", id);

    if (ret == 0) {
        ret = auth_secret("", token);
    }
    if (ret == 0) {
        ret = auth_sha256_hex(id, id_hash);
    }
    if (ret == 0) {
        ret = auth_run(a, NULL, "storing a session",
                       "INSERT INTO sessions (id_hash, user, csrf, created, last_seen, expires)"
                       " VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                       "tttii", id_hash, user, token, now, exp);
    }
    if (ret == 0) {
        snprintf(session, 80, "%s", id);
        snprintf(csrf, 80, "%s", token);
        if (expires != NULL) {
            *expires = exp;
        }
    }
    OPENSSL_cleanse(id, sizeof(id));
    return ret;
}

/* The two halves of a login around auth_verify_run (see auth_int.h). */
int auth_login_begin(oa_auth *a, const char *client, const char *user, unsigned inflight,
                     auth_verify *v, int *retry_after)
{
    auth_throttle *t;
    int64_t now = a->clock();
    int fails;

    *retry_after = 0;
    oa_auth_client_addr(client, v->addr, sizeof(v->addr));
    t = auth_throttle_find(a, v->addr, now);
    if (t != NULL && t->locked_until > now) {
        *retry_after = (int)(t->locked_until - now);
        return OA_EAGAIN;
    }
    /* Logins in flight count as failures to come, so that parallel guesses
     * get no more tries than one after another. */
    fails = t != NULL ? t->fails : 0;
    if (inflight > 0 && (int64_t)fails + inflight >= AUTH_THROTTLE_FREE) {
        *retry_after = 1;
        return OA_EBUSY;
    }
    return auth_verify_load(a, user, v);
}

int auth_login_finish(oa_auth *a, auth_verify *v, char *session, char *csrf,
                      int64_t *expires)
{
    char detail[160];
    auth_throttle *t;
    int64_t now = a->clock();
    int lock;
    int ret = v->result;

    if (ret == OA_EACCES) {
        lock = auth_throttle_fail(a, v->addr, now);
        if (v->user[0] != '\0') {
            snprintf(detail, sizeof(detail), "user '%s'", v->user);
        } else {
            snprintf(detail, sizeof(detail), "a user name that is not valid");
        }
        if (lock > 0) {
            size_t used = strlen(detail);

            snprintf(detail + used, sizeof(detail) - used,
                     "; the address is locked out for %d s", lock);
            oa_log_write(OA_LOG_WARN, AUTH_TAG,
                         "too many failed logins from %s: its logins are refused for %d s",
                         v->addr[0] != '\0' ? v->addr : "an unknown address", lock);
        }
        oa_audit_add(a->store, NULL, v->addr, "login.failed", detail);
        return OA_EACCES;
    }
    if (ret != 0) {
        return ret;
    }
    t = auth_throttle_find(a, v->addr, now);
    if (t != NULL) {
        memset(t, 0, sizeof(*t));
    }
    ret = auth_sweep(a, now);
    if (ret == 0) {
        ret = auth_session_create(a, v->user, now, session, csrf, expires);
    }
    if (ret == 0) {
        oa_audit_add(a->store, v->user, v->addr, "login", NULL);
    }
    return ret;
}

/* Logs user in from client. On success fills session and csrf (>= 80
 * bytes each) and *expires (may be NULL), records a "login" audit entry and
 * clears the address's failures. A wrong user or password returns
 * OA_EACCES, counts a failure against the address and records
 * "login.failed". While the address is locked out the password is not
 * checked at all: OA_EAGAIN, with the seconds left in *retry_after (may be
 * NULL). OA_EINVAL for NULL arguments, OA_EIO on storage failure. Runs
 * PBKDF2 on the calling thread. */
int oa_auth_login(oa_auth *a, const char *client, const char *user, const char *password,
                  char *session, char *csrf, int64_t *expires, int *retry_after)
{
    auth_verify v;
    int retry = 0;
    int ret;

    if (retry_after != NULL) {
        *retry_after = 0;
    }
    if (a == NULL || user == NULL || password == NULL || session == NULL || csrf == NULL) {
        return OA_EINVAL;
    }
    ret = auth_login_begin(a, client, user, 0, &v, &retry);
    if (ret == 0) {
        auth_verify_run(&v, password);
        ret = auth_login_finish(a, &v, session, csrf, expires);
    }
    if (retry_after != NULL) {
        *retry_after = retry;
    }
    OPENSSL_cleanse(&v, sizeof(v));
    return ret;
}

/* Checks a session id. When it is valid returns 0, fills user (>= 65
 * bytes), csrf (>= 80) and *expires (each may be NULL) and slides its idle
 * time. An unknown, malformed or expired id is OA_EACCES (an expired one
 * is deleted). OA_EINVAL for NULL arguments, OA_EIO on storage failure. */
int oa_auth_session_check(oa_auth *a, const char *session, char *user, char *csrf,
                          int64_t *expires)
{
    sqlite3_stmt *st = NULL;
    char id_hash[65];
    char who[AUTH_NAME_MAX + 1] = "";
    char token[80] = "";
    int64_t created = 0;
    int64_t last_seen = 0;
    int64_t exp = 0;
    int64_t now;
    int rc;
    int ret;

    if (a == NULL || session == NULL) {
        return OA_EINVAL;
    }
    if (!auth_secret_shape_ok(session)) {
        return OA_EACCES;
    }
    ret = auth_sha256_hex(session, id_hash);
    if (ret == 0) {
        ret = auth_stmt(a, &st, "reading a session",
                        "SELECT user, csrf, created, last_seen, expires FROM sessions"
                        " WHERE id_hash = ?1",
                        "t", id_hash);
    }
    if (ret != 0) {
        return ret;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *u = sqlite3_column_text(st, 0);
        const unsigned char *c = sqlite3_column_text(st, 1);

        snprintf(who, sizeof(who), "%s", u != NULL ? (const char *)u : "");
        snprintf(token, sizeof(token), "%s", c != NULL ? (const char *)c : "");
        created = sqlite3_column_int64(st, 2);
        last_seen = sqlite3_column_int64(st, 3);
        exp = sqlite3_column_int64(st, 4);
    } else if (rc == SQLITE_DONE) {
        ret = OA_EACCES;
    } else {
        ret = auth_fail(a, "reading a session");
    }
    sqlite3_finalize(st);
    if (ret != 0) {
        return ret;
    }
    now = a->clock();
    if (now >= exp || now - last_seen >= a->idle_s || now - created >= a->max_s) {
        auth_run(a, NULL, "deleting an expired session", "DELETE FROM sessions WHERE id_hash = ?1",
                 "t", id_hash);
        return OA_EACCES;
    }
    /* At most one write per session and second, however many requests. */
    if (now != last_seen) {
        exp = auth_min64(now + a->idle_s, created + a->max_s);
        ret = auth_run(a, NULL, "refreshing a session",
                       "UPDATE sessions SET last_seen = ?2, expires = ?3 WHERE id_hash = ?1",
                       "tii", id_hash, now, exp);
        if (ret != 0) {
            return ret;
        }
    }
    if (user != NULL) {
        snprintf(user, AUTH_NAME_MAX + 1, "%s", who);
    }
    if (csrf != NULL) {
        snprintf(csrf, 80, "%s", token);
    }
    if (expires != NULL) {
        *expires = exp;
    }
    return 0;
}

/* Ends a session at once. Returns 0, OA_ENOENT when there is no such
 * session, OA_EINVAL or OA_EIO. */
int oa_auth_logout(oa_auth *a, const char *session)
{
    char id_hash[65];
    int changes = 0;
    int ret;

    if (a == NULL || session == NULL) {
        return OA_EINVAL;
    }
    if (!auth_secret_shape_ok(session)) {
        return OA_ENOENT;
    }
    ret = auth_sha256_hex(session, id_hash);
    if (ret == 0) {
        ret = auth_run(a, &changes, "ending a session", "DELETE FROM sessions WHERE id_hash = ?1",
                       "t", id_hash);
    }
    if (ret == 0 && changes == 0) {
        ret = OA_ENOENT;
    }
    return ret;
}

/* ------------------------------------------------------------------------ */
/* API tokens. */

/* Creates the API token name for an existing user and writes the secret
 * into token (>= 80 bytes; only its hash is stored, so this is the one
 * time it can be shown). Returns 0; OA_EINVAL (bad name), OA_ENOENT (no
 * such user) or OA_EEXIST (name taken) with a sentence in err; OA_EIO. */
int oa_auth_token_create(oa_auth *a, const char *user, const char *name, char *token,
                         char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    char secret[80];
    char token_hash[65];
    int64_t users = 0;
    int64_t now;
    int ret;

    if (a == NULL || user == NULL || name == NULL || token == NULL) {
        auth_err(err, errlen, "no user or token name was given");
        return OA_EINVAL;
    }
    if (!oa_auth_name_valid(name)) {
        auth_err(err, errlen,
                 "a token name is 1 to %d characters of A-Z, a-z, 0-9, '_', '.' and '-'",
                 AUTH_NAME_MAX);
        return OA_EINVAL;
    }
    if (oa_auth_name_valid(user)) {
        ret = auth_count(a, &users, "looking up a user",
                         "SELECT COUNT(*) FROM users WHERE name = ?1", user);
        if (ret != 0) {
            auth_err(err, errlen, "cannot read the users: %s", oa_strerror(ret));
            return ret;
        }
    }
    if (users == 0) {
        auth_err(err, errlen, "there is no user named '%s'; create it with 'openace passwd'",
                 user);
        return OA_ENOENT;
    }
    ret = auth_secret(AUTH_TOKEN_PREFIX, secret);
    if (ret == 0) {
        ret = auth_sha256_hex(secret, token_hash);
    }
    now = a->clock();
    if (ret == 0) {
        ret = auth_stmt(a, &st, "storing an API token",
                        "INSERT INTO api_tokens (name, token_hash, user, created)"
                        " VALUES (?1, ?2, ?3, ?4)",
                        "ttti", name, token_hash, user, now);
    }
    if (ret == 0 && sqlite3_step(st) != SQLITE_DONE) {
        if (sqlite3_extended_errcode(a->store->db) == SQLITE_CONSTRAINT_PRIMARYKEY) {
            ret = OA_EEXIST;
        } else {
            ret = auth_fail(a, "storing an API token");
        }
    }
    sqlite3_finalize(st);
    if (ret == OA_EEXIST) {
        auth_err(err, errlen, "a token named '%s' exists already; revoke it or pick another name",
                 name);
    } else if (ret != 0) {
        auth_err(err, errlen, "cannot store the token: %s (see the log)", oa_strerror(ret));
    } else {
        snprintf(token, 80, "%s", secret);
    }
    OPENSSL_cleanse(secret, sizeof(secret));
    return ret;
}

/* Checks an API token. Returns 0 and fills user (>= 65 bytes; may be
 * NULL) when it is valid and its user exists; OA_EACCES when not;
 * OA_EINVAL; OA_EIO. */
int oa_auth_token_check(oa_auth *a, const char *token, char *user)
{
    sqlite3_stmt *st = NULL;
    char token_hash[65];
    int rc;
    int ret;

    if (a == NULL || token == NULL) {
        return OA_EINVAL;
    }
    if (!auth_secret_shape_ok(token)) {
        return OA_EACCES;
    }
    ret = auth_sha256_hex(token, token_hash);
    if (ret == 0) {
        ret = auth_stmt(a, &st, "reading an API token",
                        "SELECT t.user FROM api_tokens AS t JOIN users AS u ON u.name = t.user"
                        " WHERE t.token_hash = ?1",
                        "t", token_hash);
    }
    if (ret != 0) {
        return ret;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *u = sqlite3_column_text(st, 0);

        if (user != NULL) {
            snprintf(user, AUTH_NAME_MAX + 1, "%s", u != NULL ? (const char *)u : "");
        }
    } else if (rc == SQLITE_DONE) {
        ret = OA_EACCES;
    } else {
        ret = auth_fail(a, "reading an API token");
    }
    sqlite3_finalize(st);
    return ret;
}

/* Deletes the API token name. Returns 0, OA_ENOENT when there is none,
 * OA_EINVAL, OA_EIO. */
int oa_auth_token_revoke(oa_auth *a, const char *name)
{
    int changes = 0;
    int ret;

    if (a == NULL || name == NULL) {
        return OA_EINVAL;
    }
    ret = auth_run(a, &changes, "revoking an API token", "DELETE FROM api_tokens WHERE name = ?1",
                   "t", name);
    if (ret == 0 && changes == 0) {
        ret = OA_ENOENT;
    }
    return ret;
}

/* Calls fn(arg, name, user, created) for each token, ordered by name.
 * Returns 0, OA_EINVAL or OA_EIO. */
int oa_auth_token_list(oa_auth *a, void (*fn)(void *arg, const char *name, const char *user,
                                              int64_t created),
                       void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int ret;

    if (a == NULL || fn == NULL) {
        return OA_EINVAL;
    }
    ret = auth_stmt(a, &st, "listing API tokens",
                    "SELECT name, user, created FROM api_tokens ORDER BY name", "");
    if (ret != 0) {
        return ret;
    }
    rc = sqlite3_step(st);
    while (rc == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(st, 0);
        const unsigned char *user = sqlite3_column_text(st, 1);

        fn(arg, name != NULL ? (const char *)name : "", user != NULL ? (const char *)user : "",
           sqlite3_column_int64(st, 2));
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) {
        ret = auth_fail(a, "listing API tokens");
    }
    sqlite3_finalize(st);
    return ret;
}

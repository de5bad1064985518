/* Offline user and token commands (see auth_cli.h): openace passwd USER,
 * openace token create|list|revoke. They work on <data>/openace.db through
 * their own store handle; a running engine sees the change at its next
 * request, since it reads users, sessions and tokens from the database. */
#include "auth_cli.h"

#include "auth.h"
#include "store.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CLI_USAGE_TOKEN "use: token create USER NAME | token list | token revoke NAME"

/* The terminal settings to restore when a signal ends the program while
 * echo is off. */
static struct termios cli_saved_tio;
static volatile sig_atomic_t cli_tio_saved;
static const int cli_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define CLI_NSIGNALS (sizeof(cli_signals) / sizeof(cli_signals[0]))

static int cli_usage(const char *what)
{
    fprintf(stderr, "openace: %s\nTry 'openace --help'.\n", what);
    return 2;
}

/* Opens <data_dir>/openace.db and the auth state over it. Returns 0, or 1
 * with a sentence on stderr. */
static int cli_open(const char *data_dir, oa_store **store, oa_auth **auth)
{
    char path[PATH_MAX];
    char err[512] = "";
    int ret;

    if (data_dir == NULL || data_dir[0] == '\0') {
        fprintf(stderr, "openace: no data directory was given\n");
        return 1;
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/openace.db", data_dir) >= sizeof(path)) {
        fprintf(stderr, "openace: the data directory path is too long\n");
        return 1;
    }
    ret = oa_store_open(path, store, err, sizeof(err));
    if (ret != 0) {
        fprintf(stderr, "openace: %s\n", err);
        return 1;
    }
    ret = oa_auth_new(*store, auth);
    if (ret != 0) {
        fprintf(stderr, "openace: cannot set up authentication: %s\n", oa_strerror(ret));
        oa_store_close(*store);
        return 1;
    }
    return 0;
}

static void cli_close(oa_store *store, oa_auth *auth)
{
    oa_auth_free(auth);
    oa_store_close(store);
}

/* Frees a password buffer after wiping it. */
static void cli_free_secret(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* Reads one line from standard input without its line end into *out
 * (free with cli_free_secret). Returns 0, or -1 at end of input. */
static int cli_read_line(char **out)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);

    if (n < 0) {
        free(line);
        return -1;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        line[--n] = '\0';
    }
    *out = line;
    return 0;
}

static void cli_signal_restore(int sig)
{
    if (cli_tio_saved) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &cli_saved_tio);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Prompts on stderr and reads a line from the terminal with echo off; the
 * terminal is restored afterwards, and also when a signal ends the
 * program meanwhile. Returns 0, or -1 (at end of input or when the
 * terminal cannot be set). */
static int cli_read_hidden(const char *prompt, char **out)
{
    struct sigaction sa;
    struct sigaction old[CLI_NSIGNALS];
    struct termios tio;
    size_t i;
    int ret;

    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &cli_saved_tio) != 0) {
        return -1;
    }
    tio = cli_saved_tio;
    tio.c_lflag &= ~(tcflag_t)ECHO;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = cli_signal_restore;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < CLI_NSIGNALS; i++) {
        sigaction(cli_signals[i], &sa, &old[i]);
    }
    cli_tio_saved = 1;
    ret = tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio) == 0 ? cli_read_line(out) : -1;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &cli_saved_tio);
    cli_tio_saved = 0;
    for (i = 0; i < CLI_NSIGNALS; i++) {
        sigaction(cli_signals[i], &old[i], NULL);
    }
    fputc('\n', stderr);
    return ret;
}

/* Gets the new password of user: twice from a terminal, or one line from
 * a pipe or file. Returns 0 with *out set, or 1 with a sentence on
 * stderr. */
static int cli_get_password(const char *user, char **out)
{
    char prompt[128];
    char *first = NULL;
    char *second = NULL;
    int same;

    if (!isatty(STDIN_FILENO)) {
        if (cli_read_line(out) != 0) {
            fprintf(stderr, "openace: no password on standard input; nothing was changed\n");
            return 1;
        }
        return 0;
    }
    snprintf(prompt, sizeof(prompt), "New password for '%s': ", user);
    if (cli_read_hidden(prompt, &first) != 0) {
        fprintf(stderr, "openace: no password was entered; nothing was changed\n");
        return 1;
    }
    if (strlen(first) < OA_AUTH_MIN_PASSWORD) {
        fprintf(stderr,
                "openace: the password is too short: it needs at least %d characters; nothing "
                "was changed\n",
                OA_AUTH_MIN_PASSWORD);
        cli_free_secret(first);
        return 1;
    }
    if (cli_read_hidden("Repeat the password: ", &second) != 0) {
        fprintf(stderr, "openace: the password was not repeated; nothing was changed\n");
        cli_free_secret(first);
        return 1;
    }
    same = strcmp(first, second) == 0;
    cli_free_secret(second);
    if (!same) {
        fprintf(stderr, "openace: the two passwords differ; nothing was changed\n");
        cli_free_secret(first);
        return 1;
    }
    *out = first;
    return 0;
}

/* 1 when user exists, 0 when not, -1 on a database error. */
static int cli_user_exists(oa_store *store, const char *user)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(store->db, "SELECT 1 FROM users WHERE name = ?1", -1, &st, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) {
        return 1;
    }
    return rc == SQLITE_DONE ? 0 : -1;
}

/* openace passwd USER: sets the password of user (creating it), read from
 * standard input. Returns 0, 1 when refused or failed (a sentence on
 * stderr says why), 2 without a user name. */
int oa_cli_passwd(const char *data_dir, const char *user)
{
    oa_store *store = NULL;
    oa_auth *auth = NULL;
    char *password = NULL;
    char err[256] = "";
    int existed;
    int ret;

    if (user == NULL) {
        return cli_usage("use: passwd USER");
    }
    if (!oa_auth_name_valid(user)) {
        fprintf(stderr,
                "openace: '%s' is not a valid user name: use 1 to 64 characters of A-Z, a-z, "
                "0-9, '_', '.' and '-'\n",
                user);
        return 1;
    }
    if (cli_open(data_dir, &store, &auth) != 0) {
        return 1;
    }
    existed = cli_user_exists(store, user);
    if (existed < 0) {
        fprintf(stderr, "openace: cannot read the users from %s: %s\n", store->path,
                sqlite3_errmsg(store->db));
        cli_close(store, auth);
        return 1;
    }
    ret = cli_get_password(user, &password);
    if (ret == 0 && oa_auth_set_password(auth, user, password, err, sizeof(err)) != 0) {
        fprintf(stderr, "openace: %s; nothing was changed\n", err);
        ret = 1;
    }
    cli_free_secret(password);
    if (ret == 0 && existed) {
        printf("changed the password of '%s'; its sessions have ended\n", user);
        oa_audit_add(store, NULL, NULL, "user.password", user);
    } else if (ret == 0) {
        printf("created user '%s'\n", user);
        oa_audit_add(store, NULL, NULL, "user.create", user);
    }
    cli_close(store, auth);
    return ret;
}

static void cli_token_row(void *arg, const char *name, const char *user, int64_t created)
{
    int *count = arg;
    time_t t = (time_t)created;
    struct tm tm;
    char when[32] = "-";

    if (gmtime_r(&t, &tm) != NULL) {
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    if (*count == 0) {
        printf("%-24s %-24s %s\n", "NAME", "USER", "CREATED");
    }
    printf("%-24s %-24s %s\n", name, user, when);
    (*count)++;
}

static int cli_token_create(oa_store *store, oa_auth *auth, const char *user, const char *name)
{
    char token[80];
    char err[256] = "";
    char detail[160];

    if (oa_auth_token_create(auth, user, name, token, err, sizeof(err)) != 0) {
        fprintf(stderr, "openace: %s\n", err);
        return 1;
    }
    printf("%s\n", token);
    fflush(stdout);
    OPENSSL_cleanse(token, sizeof(token));
    fprintf(stderr,
            "openace: created token '%s' for user '%s'. It is shown only this once: store it "
            "now, and send it as 'Authorization: Bearer <token>'.\n",
            name, user);
    snprintf(detail, sizeof(detail), "%s (user %s)", name, user);
    oa_audit_add(store, NULL, NULL, "token.create", detail);
    return 0;
}

static int cli_token_revoke(oa_store *store, oa_auth *auth, const char *name)
{
    int ret = oa_auth_token_revoke(auth, name);

    if (ret == OA_ENOENT) {
        fprintf(stderr, "openace: there is no token named '%s' (see 'openace token list')\n",
                name);
        return 1;
    }
    if (ret != 0) {
        fprintf(stderr, "openace: cannot revoke token '%s': %s\n", name, oa_strerror(ret));
        return 1;
    }
    printf("revoked token '%s'\n", name);
    oa_audit_add(store, NULL, NULL, "token.revoke", name);
    return 0;
}

/* openace token create USER NAME | list | revoke NAME (argv: the words
 * after "token"). Returns 0, 1 when refused or failed (a sentence on
 * stderr), 2 for a usage error. */
int oa_cli_token(const char *data_dir, int argc, char **argv)
{
    oa_store *store = NULL;
    oa_auth *auth = NULL;
    const char *sub;
    int count = 0;
    int ret;

    if (argc > 0 && argv != NULL && strcmp(argv[0], "token") == 0) {
        argc--;
        argv++;
    }
    if (argc < 1 || argv == NULL) {
        return cli_usage(CLI_USAGE_TOKEN);
    }
    sub = argv[0];
    if (!((strcmp(sub, "create") == 0 && argc == 3) || (strcmp(sub, "list") == 0 && argc == 1) ||
          (strcmp(sub, "revoke") == 0 && argc == 2))) {
        return cli_usage(CLI_USAGE_TOKEN);
    }
    if (cli_open(data_dir, &store, &auth) != 0) {
        return 1;
    }
    if (strcmp(sub, "create") == 0) {
        ret = cli_token_create(store, auth, argv[1], argv[2]);
    } else if (strcmp(sub, "revoke") == 0) {
        ret = cli_token_revoke(store, auth, argv[1]);
    } else {
        ret = oa_auth_token_list(auth, cli_token_row, &count) == 0 ? 0 : 1;
        if (ret != 0) {
            fprintf(stderr, "openace: cannot list the tokens (see the log)\n");
        } else if (count == 0) {
            printf("(no API tokens; create one with 'openace token create USER NAME')\n");
        }
    }
    cli_close(store, auth);
    return ret;
}

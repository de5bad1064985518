/* Unit tests for host/log.c: level filtering, the ring, truncation, level
 * names, and the text and JSON-lines output on stderr. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "log.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Capturing stderr into a temporary file. Assertions are made only after
 * capture_end, so that cmocka's own messages reach the real stderr. */

typedef struct capture {
    FILE *file;
    int saved_fd;
} capture;

static void capture_begin(capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    assert_non_null(c->file);
    c->saved_fd = dup(STDERR_FILENO);
    assert_true(c->saved_fd >= 0);
    assert_int_equal(dup2(fileno(c->file), STDERR_FILENO), STDERR_FILENO);
}

/* Restores stderr and returns what was written to it (malloc'd). */
static char *capture_end(capture *c)
{
    long size;
    size_t got;
    char *text;

    fflush(stderr);
    assert_int_equal(dup2(c->saved_fd, STDERR_FILENO), STDERR_FILENO);
    close(c->saved_fd);
    assert_int_equal(fseek(c->file, 0, SEEK_END), 0);
    size = ftell(c->file);
    assert_true(size >= 0);
    rewind(c->file);
    text = malloc((size_t)size + 1);
    assert_non_null(text);
    got = fread(text, 1, (size_t)size, c->file);
    assert_int_equal(got, (size_t)size);
    text[size] = '\0';
    fclose(c->file);
    return text;
}

/* Splits text at newlines in place; returns the number of lines (a final
 * newline does not start another one). */
static size_t split_lines(char *text, char **lines, size_t max)
{
    size_t n = 0;
    char *p = text;
    char *nl;

    while (*p != '\0' && n < max) {
        lines[n] = p;
        n++;
        nl = strchr(p, '\n');
        if (nl == NULL) {
            break;
        }
        *nl = '\0';
        p = nl + 1;
    }
    return n;
}

/* Formats time_ms as the log does: 2026-11-21T04:25:08.123Z. */
static void stamp_of(int64_t time_ms, char *buf, size_t size)
{
    time_t secs = (time_t)(time_ms / 1000);
    struct tm tm;
    char base[32];

    gmtime_r(&secs, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", base, (int)(time_ms % 1000));
}

static int teardown_log(void **state)
{
    (void)state;
    oa_log_shutdown();
    return 0;
}

/* ------------------------------------------------------------------------ */

static void test_levels_filter(void **state)
{
    oa_log_line lines[8];
    capture cap;
    char *out;
    char *rows[8];
    size_t n;

    (void)state;
    assert_int_equal(oa_log_init(OA_LOG_WARN, 0, 16), 0);
    assert_int_equal(oa_log_get_level(), OA_LOG_WARN);

    capture_begin(&cap);
    oa_log_write(OA_LOG_ERROR, "t", "e1");
    oa_log_write(OA_LOG_WARN, "t", "w1");
    oa_log_write(OA_LOG_INFO, "t", "i1");
    oa_log_write(OA_LOG_DEBUG, "t", "d1");
    oa_log_write(OA_LOG_TRACE, "t", "t1");
    oa_log_set_level(OA_LOG_TRACE);
    oa_log_write(OA_LOG_TRACE, "t", "t2");
    oa_log_set_level(OA_LOG_ERROR);
    oa_log_write(OA_LOG_WARN, "t", "w2");
    oa_log_write(OA_LOG_ERROR, "t", "e2");
    /* An unknown level changes nothing and an unknown line level is dropped. */
    oa_log_set_level((oa_log_level)9);
    oa_log_write((oa_log_level)9, "t", "bad");
    out = capture_end(&cap);

    assert_int_equal(oa_log_get_level(), OA_LOG_ERROR);
    n = oa_log_recent(0, lines, 8);
    assert_int_equal(n, 4);
    assert_string_equal(lines[0].msg, "e1");
    assert_int_equal(lines[0].level, OA_LOG_ERROR);
    assert_string_equal(lines[1].msg, "w1");
    assert_int_equal(lines[1].level, OA_LOG_WARN);
    assert_string_equal(lines[2].msg, "t2");
    assert_int_equal(lines[2].level, OA_LOG_TRACE);
    assert_string_equal(lines[3].msg, "e2");

    /* What is not kept is not printed either. */
    n = split_lines(out, rows, 8);
    assert_int_equal(n, 4);
    assert_non_null(strstr(rows[0], "ERROR [t] e1"));
    assert_non_null(strstr(rows[1], "WARN  [t] w1"));
    assert_non_null(strstr(rows[2], "TRACE [t] t2"));
    assert_non_null(strstr(rows[3], "ERROR [t] e2"));
    free(out);
}

static void test_text_format(void **state)
{
    oa_log_line line;
    capture cap;
    char stamp[40];
    char expect[600];
    char *out;
    char *rest;
    int64_t now_ms = (int64_t)time(NULL) * 1000;

    (void)state;
    assert_int_equal(oa_log_init(OA_LOG_INFO, 0, 0), 0);
    capture_begin(&cap);
    oa_log_write(OA_LOG_INFO, "swarm", "peer %s:%d connected", "10.0.0.1", 8621);
    oa_log_write(OA_LOG_WARN, NULL, "two\nlines\tand \x01");
    out = capture_end(&cap);

    assert_int_equal(oa_log_recent(0, &line, 1), 1);
    assert_int_equal(line.seq, 1);
    assert_string_equal(line.tag, "swarm");
    assert_string_equal(line.msg, "peer 10.0.0.1:8621 connected");
    assert_true(line.time_ms > now_ms - 60000 && line.time_ms < now_ms + 60000);
    stamp_of(line.time_ms, stamp, sizeof(stamp));
    assert_int_equal(strlen(stamp), 24);
    snprintf(expect, sizeof(expect), "%s INFO  [swarm] peer 10.0.0.1:8621 connected\n", stamp);
    assert_memory_equal(out, expect, strlen(expect));

    /* Control characters are escaped so that one entry stays one line. */
    rest = out + strlen(expect);
    assert_non_null(strstr(rest, " WARN  [-] two\\nlines\\tand \\x01\n"));
    assert_ptr_equal(strchr(rest, '\n'), out + strlen(out) - 1);
    free(out);
}

static void test_write_before_init(void **state)
{
    oa_log_line lines[4];
    capture cap;
    char *out;

    (void)state;
    /* This test runs first: nothing has called oa_log_init yet. */
    assert_int_equal(oa_log_get_level(), OA_LOG_INFO);
    assert_int_equal(oa_log_recent(0, lines, 4), 0);
    capture_begin(&cap);
    oa_log_write(OA_LOG_INFO, "early", "before init %d", 1);
    oa_log_write(OA_LOG_DEBUG, "early", "not shown");
    out = capture_end(&cap);

    assert_int_equal(oa_log_recent(0, lines, 4), 1);
    assert_int_equal(lines[0].seq, 1);
    assert_string_equal(lines[0].msg, "before init 1");
    assert_non_null(strstr(out, "INFO  [early] before init 1\n"));
    assert_null(strstr(out, "not shown"));
    free(out);

    /* Shutdown twice, then log again: still no crash, seq starts over. */
    oa_log_shutdown();
    oa_log_shutdown();
    capture_begin(&cap);
    oa_log_write(OA_LOG_ERROR, "late", "after shutdown");
    out = capture_end(&cap);
    assert_int_equal(oa_log_recent(0, lines, 4), 1);
    assert_int_equal(lines[0].seq, 1);
    assert_non_null(strstr(out, "ERROR [late] after shutdown\n"));
    free(out);
}

static void test_ring_wraps_keeping_newest(void **state)
{
    oa_log_line lines[32];
    capture cap;
    char expect[32];
    size_t n;
    size_t i;
    int k;

    (void)state;
    assert_int_equal(oa_log_init(OA_LOG_INFO, 0, 8), 0);
    capture_begin(&cap);
    for (k = 0; k < 20; k++) {
        oa_log_write(OA_LOG_INFO, "ring", "line %d", k);
    }
    free(capture_end(&cap));

    n = oa_log_recent(0, lines, 32);
    assert_int_equal(n, 8);
    for (i = 0; i < n; i++) {
        snprintf(expect, sizeof(expect), "line %zu", i + 12);
        assert_string_equal(lines[i].msg, expect);
        assert_int_equal(lines[i].seq, i + 13);
    }
}

static void test_recent_paging(void **state)
{
    oa_log_line lines[10];
    capture cap;
    uint64_t after = 0;
    uint64_t expect_seq = 1;
    size_t n;
    size_t i;
    int pages = 0;
    int k;

    (void)state;
    assert_int_equal(oa_log_init(OA_LOG_INFO, 0, 100), 0);
    capture_begin(&cap);
    for (k = 0; k < 25; k++) {
        oa_log_write(OA_LOG_INFO, "page", "m%d", k);
    }
    free(capture_end(&cap));

    for (;;) {
        n = oa_log_recent(after, lines, 10);
        if (n == 0) {
            break;
        }
        pages++;
        assert_int_equal(n, pages < 3 ? 10 : 5);
        for (i = 0; i < n; i++) {
            assert_int_equal(lines[i].seq, expect_seq);
            expect_seq++;
        }
        after = lines[n - 1].seq;
    }
    assert_int_equal(pages, 3);
    assert_int_equal(expect_seq, 26);
    assert_int_equal(oa_log_recent(25, lines, 10), 0);
    assert_int_equal(oa_log_recent(1000, lines, 10), 0);
    assert_int_equal(oa_log_recent(0, lines, 0), 0);
    assert_int_equal(oa_log_recent(0, NULL, 10), 0);
    assert_int_equal(oa_log_recent(24, lines, 10), 1);
    assert_string_equal(lines[0].msg, "m24");

    /* After a wrap, an old after_seq starts at the oldest line kept. */
    assert_int_equal(oa_log_init(OA_LOG_INFO, 0, 4), 0);
    capture_begin(&cap);
    for (k = 0; k < 6; k++) {
        oa_log_write(OA_LOG_INFO, "page", "w%d", k);
    }
    free(capture_end(&cap));
    n = oa_log_recent(3, lines, 10);
    assert_int_equal(n, 4);
    assert_int_equal(lines[0].seq, 28);
    assert_string_equal(lines[0].msg, "w2");
    n = oa_log_recent(29, lines, 10);
    assert_int_equal(n, 2);
    assert_int_equal(lines[0].seq, 30);
    assert_string_equal(lines[1].msg, "w5");
}

static void test_reinit_keeps_ring_of_same_size(void **state)
{
    oa_log_line lines[8];
    capture cap;

    (void)state;
    assert_int_equal(oa_log_init(OA_LOG_INFO, 0, 8), 0);
    capture_begin(&cap);
    oa_log_write(OA_LOG_INFO, "re", "one");
    assert_int_equal(oa_log_init(OA_LOG_DEBUG, 0, 8), 0);
    oa_log_write(OA_LOG_DEBUG, "re", "two");
    free(capture_end(&cap));
    assert_int_equal(oa_log_recent(0, lines, 8), 2);
    assert_string_equal(lines[0].msg, "one");
    assert_string_equal(lines[1].msg, "two");

    /* A new size starts an empty ring; seq numbers go on. */
    capture_begin(&cap);
    assert_int_equal(oa_log_init(OA_LOG_INFO, 0, 4), 0);
    oa_log_write(OA_LOG_INFO, "re", "three");
    free(capture_end(&cap));
    assert_int_equal(oa_log_recent(0, lines, 8), 1);
    assert_string_equal(lines[0].msg, "three");
    assert_int_equal(lines[0].seq, 3);

    /* A bad level is refused and changes nothing. */
    assert_int_equal(oa_log_init((oa_log_level)7, 0, 4), OA_EINVAL);
    assert_int_equal(oa_log_get_level(), OA_LOG_INFO);
    assert_int_equal(oa_log_recent(0, lines, 8), 1);
}

static void test_long_message_truncated(void **state)
{
    oa_log_line line;
    capture cap;
    char big[1001];
    char tag[41];
    size_t msg_max = sizeof(line.msg) - 1;
    size_t i;

    (void)state;
    assert_int_equal(oa_log_init(OA_LOG_INFO, 0, 0), 0);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memset(tag, 'g', sizeof(tag) - 1);
    tag[sizeof(tag) - 1] = '\0';

    capture_begin(&cap);
    oa_log_write(OA_LOG_INFO, tag, "%s", big);
    /* Exactly as long as the field allows: kept whole. */
    oa_log_write(OA_LOG_INFO, "t", "%.*s", (int)msg_max, big);
    /* One byte more: cut. */
    oa_log_write(OA_LOG_INFO, "t", "%.*s", (int)msg_max + 1, big);
    /* A two-byte character across the cut point goes as a whole. */
    oa_log_write(OA_LOG_INFO, "t", "%.*s\xc3\xa9%s", (int)msg_max - 4, big, "bbbbbbbbbb");
    /* Same for a tag. */
    oa_log_write(OA_LOG_INFO, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9", "utf8 tag");
    free(capture_end(&cap));

    assert_int_equal(oa_log_recent(0, &line, 1), 1);
    assert_int_equal(strlen(line.msg), msg_max);
    assert_string_equal(line.msg + msg_max - 3, "...");
    for (i = 0; i < msg_max - 3; i++) {
        assert_int_equal(line.msg[i], 'x');
    }
    assert_int_equal(strlen(line.tag), sizeof(line.tag) - 1);
    assert_memory_equal(line.tag, tag, sizeof(line.tag) - 1);

    assert_int_equal(oa_log_recent(1, &line, 1), 1);
    assert_int_equal(strlen(line.msg), msg_max);
    assert_int_equal(line.msg[msg_max - 1], 'x');

    assert_int_equal(oa_log_recent(2, &line, 1), 1);
    assert_int_equal(strlen(line.msg), msg_max);
    assert_string_equal(line.msg + msg_max - 3, "...");
    assert_int_equal(line.msg[msg_max - 4], 'x');

    assert_int_equal(oa_log_recent(3, &line, 1), 1);
    assert_int_equal(strlen(line.msg), msg_max - 1);
    assert_string_equal(line.msg + msg_max - 4, "...");
    assert_null(strchr(line.msg, '\xc3'));

    assert_int_equal(oa_log_recent(4, &line, 1), 1);
    assert_string_equal(line.tag, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
}

static void test_parse_level(void **state)
{
    static const struct {
        const char *text;
        oa_log_level level;
    } good[] = {
        {"error", OA_LOG_ERROR}, {"warn", OA_LOG_WARN},   {"warning", OA_LOG_WARN},
        {"WARNING", OA_LOG_WARN}, {"info", OA_LOG_INFO},  {"Info", OA_LOG_INFO},
        {"debug", OA_LOG_DEBUG}, {"TRACE", OA_LOG_TRACE},
    };
    static const char *const bad[] = {"", "verbose", "inf", "infos", " info", "5"};
    oa_log_level level;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        level = OA_LOG_TRACE;
        assert_int_equal(oa_log_parse_level(good[i].text, &level), 0);
        assert_int_equal(level, good[i].level);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        level = OA_LOG_DEBUG;
        assert_int_equal(oa_log_parse_level(bad[i], &level), OA_EINVAL);
        assert_int_equal(level, OA_LOG_DEBUG);
    }
    assert_int_equal(oa_log_parse_level(NULL, &level), OA_EINVAL);
    assert_int_equal(oa_log_parse_level("info", NULL), OA_EINVAL);

    for (i = OA_LOG_ERROR; i <= OA_LOG_TRACE; i++) {
        assert_int_equal(oa_log_parse_level(oa_log_level_name((oa_log_level)i), &level), 0);
        assert_int_equal(level, i);
    }
    assert_string_equal(oa_log_level_name(OA_LOG_WARN), "warn");
    assert_string_equal(oa_log_level_name((oa_log_level)42), "unknown");
}

/* Parses one JSON line and checks its fields. */
static void check_json_line(const char *row, const char *level, const char *tag, const char *msg)
{
    json_error_t err;
    json_t *obj = json_loads(row, 0, &err);
    const char *time_text;

    if (obj == NULL) {
        fail_msg("not JSON (%s): %s", err.text, row);
    }
    assert_true(json_is_object(obj));
    assert_int_equal(json_object_size(obj), 4);
    time_text = json_string_value(json_object_get(obj, "time"));
    assert_non_null(time_text);
    assert_int_equal(strlen(time_text), 24);
    assert_int_equal(time_text[10], 'T');
    assert_int_equal(time_text[23], 'Z');
    assert_string_equal(json_string_value(json_object_get(obj, "level")), level);
    assert_string_equal(json_string_value(json_object_get(obj, "tag")), tag);
    if (msg != NULL) {
        assert_string_equal(json_string_value(json_object_get(obj, "msg")), msg);
    }
    json_decref(obj);
}

static void test_json_lines_valid(void **state)
{
    static const char tricky[] = "say \"hi\" to C:\\dir\\ and\nnext line\ttab \x01\x1f\x7f end";
    oa_log_line line;
    capture cap;
    char controls[600];
    char *out;
    char *rows[8];
    json_t *obj;
    size_t n;

    (void)state;
    memset(controls, '\x02', sizeof(controls) - 1);
    controls[sizeof(controls) - 1] = '\0';
    assert_int_equal(oa_log_init(OA_LOG_INFO, 1, 0), 0);
    capture_begin(&cap);
    oa_log_write(OA_LOG_INFO, "json", "%s", tricky);
    oa_log_write(OA_LOG_WARN, "t\"a\\g", "plain");
    oa_log_write(OA_LOG_DEBUG, "json", "filtered");
    oa_log_write(OA_LOG_ERROR, "utf8", "caf\xc3\xa9 \xff \xe2\x82 end");
    oa_log_write(OA_LOG_INFO, "worst", "%s", controls);
    out = capture_end(&cap);

    n = split_lines(out, rows, 8);
    assert_int_equal(n, 4);
    check_json_line(rows[0], "info", "json", tricky);
    check_json_line(rows[1], "warn", "t\"a\\g", "plain");
    /* Bytes that are not UTF-8 come out as U+FFFD. */
    check_json_line(rows[2], "error", "utf8", "caf\xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd end");
    check_json_line(rows[3], "info", "worst", NULL);
    obj = json_loads(rows[3], 0, NULL);
    assert_non_null(obj);
    assert_int_equal(strlen(json_string_value(json_object_get(obj, "msg"))), sizeof(line.msg) - 1);
    json_decref(obj);
    free(out);

    /* The ring keeps the raw text. */
    assert_int_equal(oa_log_recent(0, &line, 1), 1);
    assert_string_equal(line.msg, tricky);
}

/* ------------------------------------------------------------------------ */
/* Four threads log at once; with a ring big enough nothing is lost. */

#define THREADS 4
#define LINES_PER_THREAD 2500

static void log_worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    char tag[16];
    int i;

    snprintf(tag, sizeof(tag), "thread%d", t);
    for (i = 0; i < LINES_PER_THREAD; i++) {
        oa_log_write(OA_LOG_INFO, tag, "thread %d line %d", t, i);
    }
}

static void test_concurrent_threads(void **state)
{
    const size_t total = THREADS * LINES_PER_THREAD;
    uv_thread_t threads[THREADS];
    int next_line[THREADS] = {0};
    oa_log_line *lines;
    capture cap;
    char *out;
    char *p;
    size_t newlines = 0;
    size_t n;
    size_t i;
    int t;
    int k;

    (void)state;
    lines = calloc(total + 1, sizeof(*lines));
    assert_non_null(lines);
    assert_int_equal(oa_log_init(OA_LOG_INFO, 0, total), 0);
    capture_begin(&cap);
    for (t = 0; t < THREADS; t++) {
        assert_int_equal(uv_thread_create(&threads[t], log_worker, (void *)(intptr_t)t), 0);
    }
    for (t = 0; t < THREADS; t++) {
        assert_int_equal(uv_thread_join(&threads[t]), 0);
    }
    out = capture_end(&cap);

    for (p = out; *p != '\0'; p++) {
        if (*p == '\n') {
            newlines++;
        }
    }
    assert_int_equal(newlines, total);
    free(out);

    n = oa_log_recent(0, lines, total + 1);
    assert_int_equal(n, total);
    for (i = 0; i < n; i++) {
        assert_int_equal(lines[i].seq, i + 1);
        assert_int_equal(sscanf(lines[i].msg, "thread %d line %d", &t, &k), 2);
        assert_true(t >= 0 && t < THREADS);
        /* Each thread's lines appear once each, in the order it wrote them. */
        assert_int_equal(k, next_line[t]);
        next_line[t]++;
    }
    for (t = 0; t < THREADS; t++) {
        assert_int_equal(next_line[t], LINES_PER_THREAD);
    }
    free(lines);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_write_before_init, teardown_log),
        cmocka_unit_test_teardown(test_levels_filter, teardown_log),
        cmocka_unit_test_teardown(test_text_format, teardown_log),
        cmocka_unit_test_teardown(test_ring_wraps_keeping_newest, teardown_log),
        cmocka_unit_test_teardown(test_recent_paging, teardown_log),
        cmocka_unit_test_teardown(test_reinit_keeps_ring_of_same_size, teardown_log),
        cmocka_unit_test_teardown(test_long_message_truncated, teardown_log),
        cmocka_unit_test_teardown(test_parse_level, teardown_log),
        cmocka_unit_test_teardown(test_json_lines_valid, teardown_log),
        cmocka_unit_test_teardown(test_concurrent_threads, teardown_log),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

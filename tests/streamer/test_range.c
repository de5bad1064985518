/* Unit tests of Range header handling (plugins/streamer/range.c): which of
 * 200, 206 or 416 a request gets, and the Content-Range text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "acehttp.h"
#include "testutil.h"

static void check_(const char *header, uint64_t size, int want, uint64_t want_first,
                   uint64_t want_last, int line)
{
    uint64_t first = 12345;
    uint64_t last = 12345;
    char *h = header != NULL ? oa_test_exact_copy(header, strlen(header) + 1) : NULL;
    int rc = st_range_parse(h, size, &first, &last);

    free(h);
    if (rc != want) {
        fail_msg("line %d: \"%s\" of %llu = %d, want %d", line, header ? header : "(null)",
                 (unsigned long long)size, rc, want);
    }
    if (want == ST_RANGE_PARTIAL && (first != want_first || last != want_last)) {
        fail_msg("line %d: \"%s\" of %llu = [%llu, %llu], want [%llu, %llu]", line, header,
                 (unsigned long long)size, (unsigned long long)first, (unsigned long long)last,
                 (unsigned long long)want_first, (unsigned long long)want_last);
    }
}

#define partial(h, size, a, b) check_((h), (size), ST_RANGE_PARTIAL, (a), (b), __LINE__)
#define none(h, size) check_((h), (size), ST_RANGE_NONE, 0, 0, __LINE__)
#define unsat(h, size) check_((h), (size), ST_RANGE_UNSATISFIABLE, 0, 0, __LINE__)

static void test_partial(void **state)
{
    (void)state;
    partial("bytes=0-99", 1000, 0, 99);
    partial("bytes=0-0", 1000, 0, 0);          /* the first byte */
    partial("bytes=999-999", 1000, 999, 999);  /* the last byte */
    partial("bytes=999-", 1000, 999, 999);
    partial("bytes=500-", 1000, 500, 999);     /* open end */
    partial("bytes=0-", 1000, 0, 999);
    partial("bytes=500-5000", 1000, 500, 999); /* end past the body is cut */
    partial("bytes=0-18446744073709551615", 1000, 0, 999);
    partial("bytes=-1", 1000, 999, 999);       /* suffix: the last byte */
    partial("bytes=-100", 1000, 900, 999);
    partial("bytes=-1000", 1000, 0, 999);
    partial("bytes=-5000", 1000, 0, 999);      /* suffix longer than the body */
    partial("bytes=0-0", 1, 0, 0);
    partial("bytes=-1", 1, 0, 0);
    partial("bytes=5-5", 1000, 5, 5);
    /* Unit case and whitespace around tokens are tolerated. */
    partial("Bytes=1-2", 1000, 1, 2);
    partial("  bytes = 1 - 2  ", 1000, 1, 2);
    partial("bytes=\t-7\t", 1000, 993, 999);
    /* Bodies too large for 32 bits. */
    partial("bytes=4294967296-", UINT64_C(8589934592), UINT64_C(4294967296),
            UINT64_C(8589934591));
    partial("bytes=-1", UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 1);
}

static void test_unsatisfiable(void **state)
{
    uint64_t first = 7;
    uint64_t last = 7;

    (void)state;
    unsat("bytes=1000-", 1000);
    unsat("bytes=1000-1000", 1000);
    unsat("bytes=5000-6000", 1000);
    unsat("bytes=-0", 1000);
    /* An empty body satisfies no range at all. */
    unsat("bytes=0-", 0);
    unsat("bytes=0-0", 0);
    unsat("bytes=-1", 0);
    unsat("bytes=-0", 0);

    /* The bounds it leaves make st_content_range write "bytes * / size". */
    assert_int_equal(st_range_parse("bytes=2000-", 1000, &first, &last), ST_RANGE_UNSATISFIABLE);
    assert_true(first > last);
}

static void test_ignored(void **state)
{
    uint64_t first = 7;
    uint64_t last = 7;

    (void)state;
    none(NULL, 1000);
    none(NULL, 0);
    none("", 1000);
    none("bytes=5-2", 1000);      /* first after last: invalid */
    none("bytes=5-2", 0);
    none("bytes=0-1,5-6", 1000);  /* several ranges */
    none("bytes=0-1, 5-6", 1000);
    none("bytes=-", 1000);
    none("bytes=", 1000);
    none("bytes", 1000);
    none("bytes 0-1", 1000);
    none("items=0-1", 1000);      /* another unit */
    none("bytesx=0-1", 1000);
    none("bytes=a-1", 1000);
    none("bytes=1-b", 1000);
    none("bytes=1-2x", 1000);
    none("bytes=1 2-3", 1000);
    none("bytes=+1-2", 1000);
    none("bytes=--1", 1000);
    none("bytes=0x10-", 1000);
    /* Numbers past 64 bits. */
    none("bytes=18446744073709551616-", 1000);
    none("bytes=0-18446744073709551616", 1000);
    none("bytes=-99999999999999999999999", 1000);

    /* Ignored means the whole body. */
    assert_int_equal(st_range_parse(NULL, 1000, &first, &last), ST_RANGE_NONE);
    assert_int_equal(first, 0);
    assert_int_equal(last, 999);
}

static void test_content_range(void **state)
{
    char out[96];
    char tiny[16];

    (void)state;
    assert_int_equal(st_content_range(out, sizeof(out), 0, 99, 1000), 15);
    assert_string_equal(out, "bytes 0-99/1000");
    assert_int_equal(st_content_range(out, sizeof(out), 999, 999, 1000), 18);
    assert_string_equal(out, "bytes 999-999/1000");
    assert_int_equal(st_content_range(out, sizeof(out), 1, 0, 1000), 12);
    assert_string_equal(out, "bytes */1000");
    assert_int_equal(st_content_range(out, sizeof(out), 1, 0, 0), 9);
    assert_string_equal(out, "bytes */0");
    assert_int_equal(st_content_range(out, sizeof(out), UINT64_MAX - 1, UINT64_MAX - 1,
                                      UINT64_MAX),
                     6 + 20 + 1 + 20 + 1 + 20);
    assert_string_equal(out, "bytes 18446744073709551614-18446744073709551614/"
                             "18446744073709551615");

    /* Exactly the room for the text and its NUL, then one byte less. */
    assert_int_equal(st_content_range(tiny, 16, 0, 99, 1000), 15);
    assert_string_equal(tiny, "bytes 0-99/1000");
    assert_true(st_content_range(tiny, 15, 0, 99, 1000) < 0);
    assert_true(st_content_range(tiny, 0, 0, 99, 1000) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partial),
        cmocka_unit_test(test_unsatisfiable),
        cmocka_unit_test(test_ignored),
        cmocka_unit_test(test_content_range),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

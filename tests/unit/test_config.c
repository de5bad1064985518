/* Unit tests of setting validation (host/config.c): every rule, with its
 * boundaries, and the sentences a user sees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static const oa_config_def port_def = {
    .key = "port", .type = OA_CFG_INT, .default_value = "8621", .min = 1, .max = 65535,
    .help = "The TCP port."};
static const oa_config_def count_def = {
    .key = "count", .type = OA_CFG_INT, .default_value = "0", .help = "Any integer."};
static const oa_config_def offset_def = {
    .key = "offset", .type = OA_CFG_INT, .default_value = "0", .min = -10, .max = 0,
    .help = "A range whose max is 0."};
static const oa_config_def half_def = {
    .key = "half", .type = OA_CFG_INT, .default_value = "1", .min = 0.5, .max = 10.5,
    .help = "A range with fractional bounds."};
static const oa_config_def scale_def = {
    .key = "scale", .type = OA_CFG_DOUBLE, .default_value = "1", .help = "Any number."};
static const oa_config_def ratio_def = {
    .key = "ratio", .type = OA_CFG_DOUBLE, .default_value = "1", .min = 0.5, .max = 2,
    .help = "A ratio."};
static const oa_config_def flag_def = {
    .key = "cache.enabled", .type = OA_CFG_BOOL, .default_value = "true", .help = "A flag."};
static const oa_config_def mode_def = {
    .key = "mode", .type = OA_CFG_STRING, .default_value = "auto", .choices = "fast|slow|auto",
    .help = "A choice."};
static const oa_config_def name_def = {
    .key = "name", .type = OA_CFG_STRING, .default_value = "", .max = 8, .help = "Short text."};
static const oa_config_def text_def = {
    .key = "text", .type = OA_CFG_STRING, .default_value = "", .help = "Any text."};
static const oa_config_def token_def = {
    .key = "token", .type = OA_CFG_STRING, .default_value = "", .max = 8, .choices = NULL,
    .help = "A secret.", .flags = OA_CFG_SECRET};
static const oa_config_def pin_def = {
    .key = "pin", .type = OA_CFG_STRING, .default_value = "0000", .choices = "0000|1234",
    .help = "A secret choice.", .flags = OA_CFG_SECRET};
static const oa_config_def seed_def = {
    .key = "seed", .type = OA_CFG_INT, .default_value = "1", .min = 1, .max = 10,
    .help = "A secret number.", .flags = OA_CFG_SECRET};
static const oa_config_def below_zero_def = {
    .key = "below_zero", .type = OA_CFG_INT, .default_value = "-1", .min = -10.5, .max = -0.5,
    .help = "A negative range with fractional bounds."};

static char g_norm[128];
static char g_err[512];

/* Validates into the global buffers (both pre-filled with garbage). */
static int check(const oa_config_def *def, const char *value)
{
    memset(g_norm, 'X', sizeof(g_norm) - 1);
    g_norm[sizeof(g_norm) - 1] = '\0';
    memset(g_err, 0, sizeof(g_err));
    return oa_config_validate(def, value, g_norm, sizeof(g_norm), g_err, sizeof(g_err));
}

static void accepts(const oa_config_def *def, const char *value, const char *norm)
{
    int rc = check(def, value);

    if (rc != 0) {
        fail_msg("'%s' for %s refused (%d): %s", value, def->key, rc, g_err);
    }
    assert_string_equal(g_norm, norm);
}

static void refuses(const oa_config_def *def, const char *value, int code)
{
    char named[128];
    int rc = check(def, value);

    if (rc != code) {
        fail_msg("'%s' for %s: got %d, want %d (%s)", value, def->key, rc, code, g_err);
    }
    /* Every refusal is a sentence that names the setting. */
    snprintf(named, sizeof(named), "setting '%s' ", def->key);
    assert_non_null(strstr(g_err, named));
}

/* ------------------------------------------------------------------------ */

static void test_find(void **state)
{
    static const oa_config_def schema[] = {
        {.key = "a", .type = OA_CFG_INT, .default_value = "1"},
        {.key = "b", .type = OA_CFG_BOOL, .default_value = "true"},
        {.key = NULL},
    };

    (void)state;
    assert_ptr_equal(oa_config_find(schema, "a"), &schema[0]);
    assert_ptr_equal(oa_config_find(schema, "b"), &schema[1]);
    assert_null(oa_config_find(schema, "c"));
    assert_null(oa_config_find(schema, "A"));
    assert_null(oa_config_find(schema, NULL));
    assert_null(oa_config_find(NULL, "a"));
}

static void test_type_name(void **state)
{
    (void)state;
    assert_string_equal(oa_config_type_name(OA_CFG_BOOL), "bool");
    assert_string_equal(oa_config_type_name(OA_CFG_INT), "int");
    assert_string_equal(oa_config_type_name(OA_CFG_DOUBLE), "double");
    assert_string_equal(oa_config_type_name(OA_CFG_STRING), "string");
    assert_string_equal(oa_config_type_name((oa_config_type)99), "unknown");
}

static void test_bool_accepts_and_normalises(void **state)
{
    (void)state;
    accepts(&flag_def, "true", "true");
    accepts(&flag_def, "TRUE", "true");
    accepts(&flag_def, "1", "true");
    accepts(&flag_def, "yes", "true");
    accepts(&flag_def, "Yes", "true");
    accepts(&flag_def, "on", "true");
    accepts(&flag_def, "ON", "true");
    accepts(&flag_def, "false", "false");
    accepts(&flag_def, "False", "false");
    accepts(&flag_def, "0", "false");
    accepts(&flag_def, "no", "false");
    accepts(&flag_def, "NO", "false");
    accepts(&flag_def, "off", "false");
    accepts(&flag_def, "oFf", "false");
}

static void test_bool_refuses(void **state)
{
    (void)state;
    refuses(&flag_def, "maybe", OA_ETYPE);
    assert_non_null(strstr(g_err, "got 'maybe'"));
    refuses(&flag_def, "", OA_ETYPE);
    refuses(&flag_def, " true", OA_ETYPE);
    refuses(&flag_def, "true ", OA_ETYPE);
    refuses(&flag_def, "2", OA_ETYPE);
    refuses(&flag_def, "y", OA_ETYPE);
    refuses(&flag_def, "tru", OA_ETYPE);
    refuses(&flag_def, "truee", OA_ETYPE);
    refuses(&flag_def, "01", OA_ETYPE);
}

static void test_int_accepts_and_normalises(void **state)
{
    (void)state;
    accepts(&count_def, "42", "42");
    accepts(&count_def, "+42", "42");
    accepts(&count_def, "-7", "-7");
    accepts(&count_def, "007", "7");
    accepts(&count_def, "-0", "0");
    accepts(&count_def, "0", "0");
    accepts(&count_def, "9223372036854775807", "9223372036854775807");
    accepts(&count_def, "-9223372036854775808", "-9223372036854775808");
}

static void test_int_refuses_non_integers(void **state)
{
    (void)state;
    refuses(&port_def, "abc", OA_ETYPE);
    assert_string_equal(g_err, "setting 'port' must be an integer; got 'abc'");
    refuses(&port_def, " 42", OA_ETYPE);
    refuses(&port_def, "42 ", OA_ETYPE);
    refuses(&port_def, "0x10", OA_ETYPE);
    refuses(&port_def, "1e3", OA_ETYPE);
    refuses(&port_def, "10.0", OA_ETYPE);
    refuses(&port_def, "4 2", OA_ETYPE);
    refuses(&port_def, "", OA_ETYPE);
    refuses(&port_def, "+", OA_ETYPE);
    refuses(&port_def, "-", OA_ETYPE);
    refuses(&port_def, "--1", OA_ETYPE);
    refuses(&port_def, "+-1", OA_ETYPE);
    refuses(&port_def, "42\n", OA_ETYPE);
}

static void test_int_overflow(void **state)
{
    (void)state;
    refuses(&count_def, "9223372036854775808", OA_ERANGE);
    refuses(&count_def, "-9223372036854775809", OA_ERANGE);
    refuses(&count_def, "99999999999999999999999", OA_ERANGE);
}

static void test_int_range_boundaries(void **state)
{
    (void)state;
    accepts(&port_def, "1", "1");
    accepts(&port_def, "65535", "65535");
    accepts(&port_def, "8621", "8621");
    refuses(&port_def, "0", OA_ERANGE);
    refuses(&port_def, "65536", OA_ERANGE);
    refuses(&port_def, "-1", OA_ERANGE);
    refuses(&port_def, "9223372036854775807", OA_ERANGE);
    refuses(&port_def, "70000", OA_ERANGE);
    assert_string_equal(g_err, "setting 'port' must be between 1 and 65535; got 70000");
}

/* Large whole bounds are written out, never in exponent form. */
static void test_int_range_message_has_no_exponent(void **state)
{
    static const oa_config_def ms_def = {.key = "interval_ms", .type = OA_CFG_INT,
                                         .default_value = "0", .min = 0, .max = 3600000};
    (void)state;
    refuses(&ms_def, "99999999", OA_ERANGE);
    assert_string_equal(g_err,
                        "setting 'interval_ms' must be between 0 and 3600000; got 99999999");
}

static void test_int_range_with_zero_bound(void **state)
{
    (void)state;
    /* min != 0 is enough for the range to apply, max 0 included. */
    accepts(&offset_def, "-10", "-10");
    accepts(&offset_def, "0", "0");
    refuses(&offset_def, "-11", OA_ERANGE);
    refuses(&offset_def, "1", OA_ERANGE);
    /* min == max == 0: no range. */
    accepts(&count_def, "-5", "-5");
    accepts(&count_def, "1000000", "1000000");
}

static void test_int_fractional_bounds(void **state)
{
    (void)state;
    refuses(&half_def, "0", OA_ERANGE);
    accepts(&half_def, "1", "1");
    accepts(&half_def, "10", "10");
    refuses(&half_def, "11", OA_ERANGE);
    accepts(&below_zero_def, "-1", "-1");
    accepts(&below_zero_def, "-10", "-10");
    refuses(&below_zero_def, "0", OA_ERANGE);
    refuses(&below_zero_def, "-11", OA_ERANGE);
}

static void test_double_accepts_and_normalises(void **state)
{
    (void)state;
    accepts(&scale_def, "1.5", "1.5");
    /* The shortest text that reads back exactly, not %.17g's 0.10000000000000001. */
    accepts(&scale_def, "0.1", "0.1");
    accepts(&scale_def, "0.30000000000000004", "0.30000000000000004");
    accepts(&scale_def, "123456789012345678", "1.2345678901234568e+17");
    accepts(&scale_def, "2500000", "2500000");
    accepts(&scale_def, "1e3", "1000");
    accepts(&scale_def, "1E-2", "0.01");
    accepts(&scale_def, "-2.5", "-2.5");
    accepts(&scale_def, "+2", "2");
    accepts(&scale_def, ".5", "0.5");
    accepts(&scale_def, "5.", "5");
    accepts(&scale_def, "0", "0");
}

static void test_double_refuses(void **state)
{
    (void)state;
    refuses(&scale_def, "abc", OA_ETYPE);
    assert_string_equal(g_err, "setting 'scale' must be a number; got 'abc'");
    refuses(&scale_def, "nan", OA_ETYPE);
    refuses(&scale_def, "NaN", OA_ETYPE);
    refuses(&scale_def, "inf", OA_ETYPE);
    refuses(&scale_def, "-inf", OA_ETYPE);
    refuses(&scale_def, "infinity", OA_ETYPE);
    refuses(&scale_def, " 1", OA_ETYPE);
    refuses(&scale_def, "1 ", OA_ETYPE);
    refuses(&scale_def, "", OA_ETYPE);
    refuses(&scale_def, "0x10", OA_ETYPE);
    refuses(&scale_def, "1e", OA_ETYPE);
    refuses(&scale_def, "1,5", OA_ETYPE);
    refuses(&scale_def, "--1", OA_ETYPE);
    refuses(&scale_def, ".", OA_ETYPE);
    /* Finite only. */
    refuses(&scale_def, "1e999", OA_ERANGE);
    refuses(&scale_def, "-1e999", OA_ERANGE);
}

static void test_double_range_boundaries(void **state)
{
    (void)state;
    accepts(&ratio_def, "0.5", "0.5");
    accepts(&ratio_def, "2", "2");
    accepts(&ratio_def, "2.0", "2");
    accepts(&ratio_def, "1", "1");
    refuses(&ratio_def, "0.49999999", OA_ERANGE);
    refuses(&ratio_def, "2.0000001", OA_ERANGE);
    refuses(&ratio_def, "-1", OA_ERANGE);
    refuses(&ratio_def, "3", OA_ERANGE);
    assert_string_equal(g_err, "setting 'ratio' must be between 0.5 and 2; got 3");
}

static void test_string_plain(void **state)
{
    (void)state;
    accepts(&text_def, "hello world", "hello world");
    accepts(&text_def, "", "");
    accepts(&text_def, "tab\there", "tab\there");
    accepts(&text_def, " spaces kept ", " spaces kept ");
    accepts(&text_def, "caf\xc3\xa9", "caf\xc3\xa9");
}

static void test_string_control_characters(void **state)
{
    (void)state;
    refuses(&text_def, "a\nb", OA_EINVAL);
    assert_null(strchr(g_err, '\n'));
    refuses(&text_def, "line\r", OA_EINVAL);
    refuses(&text_def, "\x1b[31mred", OA_EINVAL);
    refuses(&text_def, "\x01", OA_EINVAL);
    refuses(&text_def, "\x1f", OA_EINVAL);
}

static void test_string_choices(void **state)
{
    (void)state;
    accepts(&mode_def, "fast", "fast");
    accepts(&mode_def, "slow", "slow");
    accepts(&mode_def, "auto", "auto");
    refuses(&mode_def, "turbo", OA_EINVAL);
    assert_non_null(strstr(g_err, "fast, slow, auto"));
    assert_non_null(strstr(g_err, "got 'turbo'"));
    refuses(&mode_def, "SLOW", OA_EINVAL);
    refuses(&mode_def, "fas", OA_EINVAL);
    refuses(&mode_def, "fastt", OA_EINVAL);
    refuses(&mode_def, "fast|slow", OA_EINVAL);
    refuses(&mode_def, "", OA_EINVAL);
}

static void test_string_max_length(void **state)
{
    (void)state;
    accepts(&name_def, "12345678", "12345678");
    accepts(&name_def, "", "");
    refuses(&name_def, "123456789", OA_ERANGE);
    assert_string_equal(g_err, "setting 'name' must be at most 8 bytes long; got 9 bytes");
    /* Bytes, not characters: 4 x 2-byte é fits, 5 does not. */
    accepts(&name_def, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    refuses(&name_def, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", OA_ERANGE);
}

static void test_null_value(void **state)
{
    const oa_config_def *defs[] = {&flag_def, &port_def, &scale_def, &text_def, &mode_def};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        refuses(defs[i], NULL, OA_EINVAL);
    }
}

static void test_unknown_type_and_null_def(void **state)
{
    oa_config_def odd = {.key = "odd", .type = (oa_config_type)99, .default_value = "x"};

    (void)state;
    refuses(&odd, "x", OA_EINVAL);
    assert_int_equal(oa_config_validate(NULL, "x", g_norm, sizeof(g_norm), g_err, sizeof(g_err)),
                     OA_EINVAL);
}

static void test_norm_buffer_size(void **state)
{
    char norm[16];
    char err[256];

    (void)state;
    /* "true" needs 5 bytes with its NUL. */
    assert_int_equal(oa_config_validate(&flag_def, "yes", norm, 4, err, sizeof(err)), OA_ERANGE);
    assert_non_null(strstr(err, "setting 'cache.enabled'"));
    assert_int_equal(oa_config_validate(&flag_def, "yes", norm, 5, err, sizeof(err)), 0);
    assert_string_equal(norm, "true");
    /* The normalised length counts, not the input's: "+42" is "42". */
    assert_int_equal(oa_config_validate(&count_def, "+42", norm, 3, err, sizeof(err)), 0);
    assert_string_equal(norm, "42");
    assert_int_equal(oa_config_validate(&text_def, "0123456789", norm, 10, err, sizeof(err)),
                     OA_ERANGE);
    assert_int_equal(oa_config_validate(&text_def, "0123456789", norm, 11, err, sizeof(err)), 0);
    assert_string_equal(norm, "0123456789");
    assert_int_equal(oa_config_validate(&text_def, "x", norm, 0, err, sizeof(err)), OA_ERANGE);
}

static void test_optional_buffers(void **state)
{
    char err[8];

    (void)state;
    /* norm NULL only checks; err NULL or short is safe. */
    assert_int_equal(oa_config_validate(&port_def, "80", NULL, 0, NULL, 0), 0);
    assert_int_equal(oa_config_validate(&port_def, "0", NULL, 0, NULL, 0), OA_ERANGE);
    memset(err, 'X', sizeof(err));
    assert_int_equal(oa_config_validate(&port_def, "abc", NULL, 0, err, sizeof(err)), OA_ETYPE);
    assert_int_equal(strlen(err), sizeof(err) - 1);
}

static void test_secret_not_echoed(void **state)
{
    (void)state;
    refuses(&token_def, "hunter2-hunter2", OA_ERANGE);
    assert_null(strstr(g_err, "hunter2"));
    refuses(&token_def, "hunt\ner", OA_EINVAL);
    assert_null(strstr(g_err, "hunt"));
    refuses(&pin_def, "9876", OA_EINVAL);
    assert_null(strstr(g_err, "9876"));
    refuses(&seed_def, "31337", OA_ERANGE);
    assert_null(strstr(g_err, "31337"));
    refuses(&seed_def, "x31337", OA_ETYPE);
    assert_null(strstr(g_err, "31337"));
    /* A normal setting does quote the value. */
    refuses(&name_def, "hunter2-hunter2", OA_ERANGE);
    refuses(&mode_def, "hunter2", OA_EINVAL);
    assert_non_null(strstr(g_err, "hunter2"));
}

static void test_long_value_quoted_short(void **state)
{
    char value[1000];

    (void)state;
    memset(value, '7', sizeof(value) - 1);
    value[0] = 'x';
    value[sizeof(value) - 1] = '\0';
    refuses(&port_def, value, OA_ETYPE);
    assert_true(strlen(g_err) < 200);
    assert_non_null(strstr(g_err, "..."));
}

/* ------------------------------------------------------------------------ */
/* Schemas. */

static int check_schema(const oa_config_def *schema)
{
    memset(g_err, 0, sizeof(g_err));
    return oa_config_check_schema(schema, g_err, sizeof(g_err));
}

static void test_schema_valid(void **state)
{
    static const oa_config_def schema[] = {
        {.key = "port", .type = OA_CFG_INT, .default_value = "8621", .min = 1, .max = 65535},
        {.key = "ratio", .type = OA_CFG_DOUBLE, .default_value = "1.5", .min = 0.5, .max = 2},
        {.key = "cache.enabled", .type = OA_CFG_BOOL, .default_value = "yes"},
        {.key = "mode", .type = OA_CFG_STRING, .default_value = "auto",
         .choices = "fast|slow|auto"},
        {.key = "name_2-x", .type = OA_CFG_STRING, .default_value = "", .max = 8},
        {.key = NULL},
        /* Past the terminator: never looked at. */
        {.key = "BAD KEY", .type = (oa_config_type)0, .default_value = NULL},
    };
    static const oa_config_def empty[] = {{.key = NULL}};

    (void)state;
    assert_int_equal(check_schema(schema), 0);
    assert_int_equal(check_schema(empty), 0);
    assert_int_equal(check_schema(NULL), 0);
}

static void test_schema_key_syntax(void **state)
{
    static const char *const bad[] = {"Port", "a b", "key!", "k\xc3\xa9y", "a/b", "a:b"};
    char long_key[80];
    oa_config_def schema[2];
    size_t i;

    (void)state;
    memset(schema, 0, sizeof(schema));
    schema[0].type = OA_CFG_INT;
    schema[0].default_value = "1";
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        schema[0].key = bad[i];
        assert_int_equal(check_schema(schema), OA_EINVAL);
        if (bad[i][1] != '\xc3') {
            assert_non_null(strstr(g_err, bad[i]));
        }
    }
    schema[0].key = "";
    assert_int_equal(check_schema(schema), OA_EINVAL);
    assert_true(strlen(g_err) > 0);

    /* 64 bytes is the longest key. */
    memset(long_key, 'k', sizeof(long_key));
    long_key[64] = '\0';
    schema[0].key = long_key;
    assert_int_equal(check_schema(schema), 0);
    long_key[64] = 'k';
    long_key[65] = '\0';
    assert_int_equal(check_schema(schema), OA_EINVAL);

    schema[0].key = "a.b-c_9";
    assert_int_equal(check_schema(schema), 0);
}

static void test_schema_duplicate_keys(void **state)
{
    static const oa_config_def schema[] = {
        {.key = "dup", .type = OA_CFG_INT, .default_value = "1"},
        {.key = "other", .type = OA_CFG_BOOL, .default_value = "true"},
        {.key = "dup", .type = OA_CFG_STRING, .default_value = ""},
        {.key = NULL},
    };

    (void)state;
    assert_int_equal(check_schema(schema), OA_EINVAL);
    assert_non_null(strstr(g_err, "'dup'"));
    assert_non_null(strstr(g_err, "more than once"));
}

static void test_schema_unknown_type(void **state)
{
    static const oa_config_def schema[] = {
        {.key = "odd", .type = (oa_config_type)0, .default_value = "1"},
        {.key = NULL},
    };
    static const oa_config_def schema5[] = {
        {.key = "odd5", .type = (oa_config_type)5, .default_value = "1"},
        {.key = NULL},
    };

    (void)state;
    assert_int_equal(check_schema(schema), OA_EINVAL);
    assert_non_null(strstr(g_err, "'odd'"));
    assert_int_equal(check_schema(schema5), OA_EINVAL);
    assert_non_null(strstr(g_err, "'odd5'"));
}

static void test_schema_missing_default(void **state)
{
    static const oa_config_def schema[] = {
        {.key = "nodefault", .type = OA_CFG_STRING, .default_value = NULL},
        {.key = NULL},
    };

    (void)state;
    assert_int_equal(check_schema(schema), OA_EINVAL);
    assert_non_null(strstr(g_err, "'nodefault'"));
    assert_non_null(strstr(g_err, "no default"));
}

static void test_schema_invalid_default(void **state)
{
    static const oa_config_def defs[] = {
        {.key = "i", .type = OA_CFG_INT, .default_value = "abc"},
        {.key = "r", .type = OA_CFG_INT, .default_value = "0", .min = 1, .max = 65535},
        {.key = "d", .type = OA_CFG_DOUBLE, .default_value = "nan"},
        {.key = "b", .type = OA_CFG_BOOL, .default_value = "maybe"},
        {.key = "c", .type = OA_CFG_STRING, .default_value = "turbo", .choices = "fast|slow"},
        {.key = "l", .type = OA_CFG_STRING, .default_value = "too long", .max = 3},
        {.key = "e", .type = OA_CFG_INT, .default_value = "5", .min = 5, .max = 0},
    };
    oa_config_def schema[3];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        char named[32];

        memset(schema, 0, sizeof(schema));
        schema[0] = port_def;
        schema[1] = defs[i];
        assert_int_equal(check_schema(schema), OA_EINVAL);
        snprintf(named, sizeof(named), "setting '%s'", defs[i].key);
        assert_non_null(strstr(g_err, named));
        assert_non_null(strstr(g_err, "default"));
    }
    /* A default that is valid only after normalisation is valid. */
    memset(schema, 0, sizeof(schema));
    schema[0] = flag_def;
    schema[0].default_value = "on";
    assert_int_equal(check_schema(schema), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_type_name),
        cmocka_unit_test(test_bool_accepts_and_normalises),
        cmocka_unit_test(test_bool_refuses),
        cmocka_unit_test(test_int_accepts_and_normalises),
        cmocka_unit_test(test_int_refuses_non_integers),
        cmocka_unit_test(test_int_overflow),
        cmocka_unit_test(test_int_range_boundaries),
        cmocka_unit_test(test_int_range_message_has_no_exponent),
        cmocka_unit_test(test_int_range_with_zero_bound),
        cmocka_unit_test(test_int_fractional_bounds),
        cmocka_unit_test(test_double_accepts_and_normalises),
        cmocka_unit_test(test_double_refuses),
        cmocka_unit_test(test_double_range_boundaries),
        cmocka_unit_test(test_string_plain),
        cmocka_unit_test(test_string_control_characters),
        cmocka_unit_test(test_string_choices),
        cmocka_unit_test(test_string_max_length),
        cmocka_unit_test(test_null_value),
        cmocka_unit_test(test_unknown_type_and_null_def),
        cmocka_unit_test(test_norm_buffer_size),
        cmocka_unit_test(test_optional_buffers),
        cmocka_unit_test(test_secret_not_echoed),
        cmocka_unit_test(test_long_value_quoted_short),
        cmocka_unit_test(test_schema_valid),
        cmocka_unit_test(test_schema_key_syntax),
        cmocka_unit_test(test_schema_duplicate_keys),
        cmocka_unit_test(test_schema_unknown_type),
        cmocka_unit_test(test_schema_missing_default),
        cmocka_unit_test(test_schema_invalid_default),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

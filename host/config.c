/* Validation of setting values against a plugin's config schema (see
 * config.h). Every refusal carries a sentence that names the setting and
 * says what it accepts; the value itself is only echoed back when the
 * setting is not flagged OA_CFG_SECRET. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_KEY_MAX 64
/* How much of a refused value an error sentence quotes. */
#define CONFIG_QUOTE_MAX 60
/* 2^63 as a double: the first value above every int64. */
#define CONFIG_TWO_POW_63 9223372036854775808.0

static void config_err(char *err, size_t errlen, const char *fmt, ...) OA_PRINTF(3, 4);

static void config_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Copies value into buf for quoting in a sentence: control bytes become
 * '?' and a long value is cut short with "...". */
static void config_quote(const char *value, char *buf, size_t buflen)
{
    size_t i;

    for (i = 0; i < CONFIG_QUOTE_MAX && i + 4 < buflen && value[i] != '\0'; i++) {
        unsigned char c = (unsigned char)value[i];

        buf[i] = value[i];
        if (c < 0x20 || c == 0x7f) {
            buf[i] = '?';
        }
    }
    buf[i] = '\0';
    if (value[i] != '\0' && i + 4 <= buflen) {
        memcpy(buf + i, "...", 4);
    }
}

/* Writes "; got 'value'" (or "; got value" when not quoted) into buf for
 * an error sentence; or nothing for a secret setting. */
static void config_got(const oa_config_def *def, const char *value, int quoted, char *buf,
                       size_t buflen)
{
    char shown[CONFIG_QUOTE_MAX + 4];

    if ((def->flags & OA_CFG_SECRET) != 0) {
        buf[0] = '\0';
        return;
    }
    config_quote(value, shown, sizeof(shown));
    snprintf(buf, buflen, quoted ? "; got '%s'" : "; got %s", shown);
}

/* Formats a number with the fewest digits that read back exactly (range
 * bounds in messages, and normalised DOUBLE values). */
static void config_fmt_bound(double v, char *buf, size_t buflen)
{
    int prec;

    /* Whole numbers read best without an exponent: 3600000, not 3.6e+06. */
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, buflen, "%.0f", v);
        return;
    }
    for (prec = 1; prec < 17; prec++) {
        snprintf(buf, buflen, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) {
            return;
        }
    }
    snprintf(buf, buflen, "%.17g", v);
}

/* Whether the integer v is below the bound b, compared exactly (converting
 * v to double would round above 2^53). */
static int config_int_below(int64_t v, double b)
{
    int64_t t;

    if (isnan(b)) {
        return 0;
    }
    if (b >= CONFIG_TWO_POW_63) {
        return 1;
    }
    if (b <= -CONFIG_TWO_POW_63) {
        return 0;
    }
    t = (int64_t)b; /* toward zero; exact when b has no fraction */
    if ((double)t == b || b < 0) {
        return v < t;
    }
    return v <= t;
}

/* Whether the integer v is above the bound b, compared exactly. */
static int config_int_above(int64_t v, double b)
{
    int64_t t;

    if (isnan(b)) {
        return 0;
    }
    if (b >= CONFIG_TWO_POW_63) {
        return 0;
    }
    if (b < -CONFIG_TWO_POW_63) {
        return 1;
    }
    t = (int64_t)b;
    if ((double)t == b || b > 0) {
        return v > t;
    }
    return v >= t;
}

/* Whether def has a numeric range (INT and DOUBLE). */
static int config_has_range(const oa_config_def *def)
{
    return def->min != 0 || def->max != 0;
}

/* Writes "must be between MIN and MAX" into reason. */
static void config_range_reason(const oa_config_def *def, const char *value, char *reason,
                                size_t reasonlen)
{
    char lo[32];
    char hi[32];
    char got[CONFIG_QUOTE_MAX + 16];

    config_fmt_bound(def->min, lo, sizeof(lo));
    config_fmt_bound(def->max, hi, sizeof(hi));
    config_got(def, value, 0, got, sizeof(got));
    snprintf(reason, reasonlen, "must be between %s and %s%s", lo, hi, got);
}

/* BOOL: true/false, yes/no, on/off, 1/0 in any case; normalised to
 * "true" or "false". */
static int config_check_bool(const oa_config_def *def, const char *value, const char **norm,
                             char *reason, size_t reasonlen)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    char got[CONFIG_QUOTE_MAX + 16];
    size_t i;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(value, yes[i]) == 0) {
            *norm = "true";
            return 0;
        }
        if (strcasecmp(value, no[i]) == 0) {
            *norm = "false";
            return 0;
        }
    }
    config_got(def, value, 1, got, sizeof(got));
    snprintf(reason, reasonlen, "must be true or false (or yes/no, on/off, 1/0)%s", got);
    return OA_ETYPE;
}

/* INT: an optional sign and decimal digits, nothing else, within int64
 * and the range; normalised without sign or leading zeros ("+007" is
 * "7"). */
static int config_check_int(const oa_config_def *def, const char *value, char *buf,
                            size_t buflen, char *reason, size_t reasonlen)
{
    char got[CONFIG_QUOTE_MAX + 16];
    const char *digits = value;
    char *end = NULL;
    long long v;

    if (value[0] == '+' || value[0] == '-') {
        digits++;
    }
    if (digits[0] == '\0' || strspn(digits, "0123456789") != strlen(digits)) {
        config_got(def, value, 1, got, sizeof(got));
        snprintf(reason, reasonlen, "must be an integer%s", got);
        return OA_ETYPE;
    }
    errno = 0;
    v = strtoll(value, &end, 10);
    if (errno == ERANGE || end == NULL || *end != '\0') {
        config_got(def, value, 0, got, sizeof(got));
        snprintf(reason, reasonlen,
                 "must be an integer between -9223372036854775808 and 9223372036854775807%s",
                 got);
        return OA_ERANGE;
    }
    if (config_has_range(def) &&
        (config_int_below((int64_t)v, def->min) || config_int_above((int64_t)v, def->max))) {
        config_range_reason(def, value, reason, reasonlen);
        return OA_ERANGE;
    }
    snprintf(buf, buflen, "%" PRId64, (int64_t)v);
    return 0;
}

/* DOUBLE: a finite number in decimal notation within the range;
 * normalised to the shortest text that reads back exactly. */
static int config_check_double(const oa_config_def *def, const char *value, char *buf,
                               size_t buflen, char *reason, size_t reasonlen)
{
    char got[CONFIG_QUOTE_MAX + 16];
    char *end = NULL;
    double v;

    /* Decimal notation only: this refuses leading spaces (which strtod
     * would skip), hex floats, "nan" and "inf" before strtod sees them. */
    if (value[0] == '\0' || strspn(value, "0123456789+-.eE") != strlen(value)) {
        config_got(def, value, 1, got, sizeof(got));
        snprintf(reason, reasonlen, "must be a number%s", got);
        return OA_ETYPE;
    }
    v = strtod(value, &end);
    if (end == value || *end != '\0') {
        config_got(def, value, 1, got, sizeof(got));
        snprintf(reason, reasonlen, "must be a number%s", got);
        return OA_ETYPE;
    }
    if (!isfinite(v)) {
        config_got(def, value, 0, got, sizeof(got));
        snprintf(reason, reasonlen, "must be a finite number%s", got);
        return OA_ERANGE;
    }
    /* An underflow ("1e-999") is finite and keeps its rounded value. */
    if (config_has_range(def) && (v < def->min || v > def->max)) {
        config_range_reason(def, value, reason, reasonlen);
        return OA_ERANGE;
    }
    config_fmt_bound(v, buf, buflen);
    return 0;
}

/* Whether value is one of the '|'-separated choices. */
static int config_in_choices(const char *choices, const char *value)
{
    size_t vlen = strlen(value);
    const char *p = choices;

    for (;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);

        if (len == vlen && strncmp(p, value, len) == 0) {
            return 1;
        }
        if (bar == NULL) {
            return 0;
        }
        p = bar + 1;
    }
}

/* STRING: no control bytes but tab, at most max bytes when max > 0, one
 * of the choices when there are choices; kept as given. */
static int config_check_string(const oa_config_def *def, const char *value, char *reason,
                               size_t reasonlen)
{
    char got[CONFIG_QUOTE_MAX + 16];
    size_t len = strlen(value);
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];

        if (c < 0x20 && c != '\t') {
            snprintf(reason, reasonlen,
                     "must not contain control characters (byte 0x%02x at offset %zu)", c, i);
            return OA_EINVAL;
        }
    }
    if (def->max > 0) {
        size_t limit = def->max >= (double)SIZE_MAX ? SIZE_MAX : (size_t)def->max;

        if (len > limit) {
            snprintf(reason, reasonlen, "must be at most %zu bytes long; got %zu bytes", limit,
                     len);
            return OA_ERANGE;
        }
    }
    if (def->choices != NULL && !config_in_choices(def->choices, value)) {
        char allowed[256];
        size_t j;
        size_t k = 0;

        /* "a|b|c" reads "a, b, c". */
        for (j = 0; def->choices[j] != '\0' && k + 3 < sizeof(allowed); j++) {
            if (def->choices[j] == '|') {
                allowed[k++] = ',';
                allowed[k++] = ' ';
            } else {
                allowed[k++] = def->choices[j];
            }
        }
        allowed[k] = '\0';
        config_got(def, value, 1, got, sizeof(got));
        snprintf(reason, reasonlen, "must be one of: %s%s", allowed, got);
        return OA_EINVAL;
    }
    return 0;
}

/* Checks value against def without naming the key: on failure reason
 * holds the rest of the sentence ("must be ..."). On success *out points
 * at the normalised text (value itself, buf or a literal). */
static int config_check(const oa_config_def *def, const char *value, char *buf, size_t buflen,
                        const char **out, char *reason, size_t reasonlen)
{
    int ret;

    *out = value;
    if (value == NULL) {
        snprintf(reason, reasonlen, "needs a value; got none");
        return OA_EINVAL;
    }
    switch (def->type) {
    case OA_CFG_BOOL:
        return config_check_bool(def, value, out, reason, reasonlen);
    case OA_CFG_INT:
        ret = config_check_int(def, value, buf, buflen, reason, reasonlen);
        *out = buf;
        return ret;
    case OA_CFG_DOUBLE:
        ret = config_check_double(def, value, buf, buflen, reason, reasonlen);
        *out = buf;
        return ret;
    case OA_CFG_STRING:
        return config_check_string(def, value, reason, reasonlen);
    default:
        snprintf(reason, reasonlen, "has an unknown type (%d)", (int)def->type);
        return OA_EINVAL;
    }
}

/* Finds key in a NULL-key-terminated schema. Returns the definition, or
 * NULL when schema or key is NULL or the key is not declared. */
const oa_config_def *oa_config_find(const oa_config_def *schema, const char *key)
{
    size_t i;

    if (schema == NULL || key == NULL) {
        return NULL;
    }
    for (i = 0; schema[i].key != NULL; i++) {
        if (strcmp(schema[i].key, key) == 0) {
            return &schema[i];
        }
    }
    return NULL;
}

/* Checks value against def and writes the normalised text into norm
 * (normlen bytes; norm may be NULL to only check). Returns 0, or OA_ETYPE,
 * OA_ERANGE or OA_EINVAL with a sentence naming the key in err. A value
 * whose normalised text does not fit normlen is refused with OA_ERANGE. */
int oa_config_validate(const oa_config_def *def, const char *value, char *norm, size_t normlen,
                       char *err, size_t errlen)
{
    char buf[64];
    char reason[512];
    const char *out = NULL;
    const char *key;
    size_t len;
    int ret;

    if (def == NULL) {
        config_err(err, errlen, "no setting definition was given");
        return OA_EINVAL;
    }
    key = def->key != NULL ? def->key : "(unnamed)";
    ret = config_check(def, value, buf, sizeof(buf), &out, reason, sizeof(reason));
    if (ret != 0) {
        config_err(err, errlen, "setting '%s' %s", key, reason);
        return ret;
    }
    if (norm == NULL) {
        return 0;
    }
    len = strlen(out);
    if (len >= normlen) {
        config_err(err, errlen, "setting '%s' is too long to store: it needs %zu bytes, %zu fit",
                   key, len + 1, normlen);
        return OA_ERANGE;
    }
    memmove(norm, out, len + 1);
    return 0;
}

/* Whether key is 1 to 64 bytes of [a-z0-9_.-]. */
static int config_key_ok(const char *key)
{
    size_t len = strlen(key);

    if (len == 0 || len > CONFIG_KEY_MAX) {
        return 0;
    }
    return strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == len;
}

/* Checks a whole schema (NULL is a valid empty schema): every key is 1 to
 * 64 bytes of [a-z0-9_.-] and declared once, every type is known, every
 * default is present and valid. Returns 0, or OA_EINVAL with a sentence
 * naming the first bad key in err. */
int oa_config_check_schema(const oa_config_def *schema, char *err, size_t errlen)
{
    size_t i;
    size_t j;

    if (schema == NULL) {
        return 0;
    }
    for (i = 0; schema[i].key != NULL; i++) {
        const oa_config_def *def = &schema[i];
        char reason[512];
        char buf[64];
        const char *out = NULL;

        if (!config_key_ok(def->key)) {
            char shown[CONFIG_QUOTE_MAX + 4];

            config_quote(def->key, shown, sizeof(shown));
            config_err(err, errlen,
                       "setting key '%s' (setting %zu) is not valid: a key is 1 to %d "
                       "characters of a-z, 0-9, '_', '.' and '-'",
                       shown, i + 1, CONFIG_KEY_MAX);
            return OA_EINVAL;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(schema[j].key, def->key) == 0) {
                config_err(err, errlen, "setting '%s' is declared more than once", def->key);
                return OA_EINVAL;
            }
        }
        if (def->type != OA_CFG_BOOL && def->type != OA_CFG_INT && def->type != OA_CFG_DOUBLE &&
            def->type != OA_CFG_STRING) {
            config_err(err, errlen, "setting '%s' has an unknown type (%d)", def->key,
                       (int)def->type);
            return OA_EINVAL;
        }
        if (def->default_value == NULL) {
            config_err(err, errlen, "setting '%s' has no default value", def->key);
            return OA_EINVAL;
        }
        if (config_check(def, def->default_value, buf, sizeof(buf), &out, reason,
                         sizeof(reason)) != 0) {
            config_err(err, errlen, "setting '%s' has an invalid default: it %s", def->key,
                       reason);
            return OA_EINVAL;
        }
    }
    return 0;
}

/* Returns the lower-case name of a setting type ("bool", "int", "double",
 * "string"), or "unknown". */
const char *oa_config_type_name(oa_config_type t)
{
    switch (t) {
    case OA_CFG_BOOL: return "bool";
    case OA_CFG_INT: return "int";
    case OA_CFG_DOUBLE: return "double";
    case OA_CFG_STRING: return "string";
    default: return "unknown";
    }
}

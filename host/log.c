/* Host log: one process-wide state behind a mutex, lines printed to stderr as
 * text or JSON lines, and a fixed-size ring of the most recent lines.
 *
 * Before oa_log_init (and again after oa_log_shutdown) the log works with its
 * defaults: level INFO, text output, and a ring of OA_LOG_DEFAULT_RING lines
 * allocated at the first line that is kept. */
#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define OA_LOG_DEFAULT_RING 1000

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
/* Read without the lock to drop filtered lines cheaply; written under it. */
static atomic_int g_level = OA_LOG_INFO;
static int g_json;
static oa_log_line *g_ring;  /* NULL until the first kept line or init */
static size_t g_ring_size;   /* entries in g_ring */
static size_t g_ring_count;  /* entries in use */
static size_t g_ring_next;   /* index the next line goes to */
static uint64_t g_next_seq = 1;

static const char *const g_level_names[] = {"error", "warn", "info", "debug", "trace"};
/* Padded to one width so that text lines line up. */
static const char *const g_level_upper[] = {"ERROR", "WARN ", "INFO ", "DEBUG", "TRACE"};

static int level_ok(int level)
{
    return level >= (int)OA_LOG_ERROR && level <= (int)OA_LOG_TRACE;
}

/* Allocates the default ring if there is none. Called with the lock held.
 * On allocation failure lines are still printed, just not kept. */
static void ring_ensure(void)
{
    if (g_ring != NULL) {
        return;
    }
    g_ring = calloc(OA_LOG_DEFAULT_RING, sizeof(*g_ring));
    if (g_ring != NULL) {
        g_ring_size = OA_LOG_DEFAULT_RING;
    }
    g_ring_count = 0;
    g_ring_next = 0;
}

/* Drops the ring and resets the settings to the defaults. Lock held. */
static void reset_locked(void)
{
    free(g_ring);
    g_ring = NULL;
    g_ring_size = 0;
    g_ring_count = 0;
    g_ring_next = 0;
    g_next_seq = 1;
    g_json = 0;
    atomic_store(&g_level, OA_LOG_INFO);
}

/* Sets the level, the output format and the ring size (0 for 1000 lines).
 * A ring of a new size starts empty; seq numbers keep counting. Fails with
 * OA_EINVAL for an unknown level or OA_ENOMEM, changing nothing. */
int oa_log_init(oa_log_level level, int json, size_t ring_lines)
{
    oa_log_line *ring = NULL;
    oa_log_line *old = NULL;

    if (!level_ok((int)level)) {
        return OA_EINVAL;
    }
    if (ring_lines == 0) {
        ring_lines = OA_LOG_DEFAULT_RING;
    }
    pthread_mutex_lock(&g_lock);
    if (g_ring == NULL || g_ring_size != ring_lines) {
        ring = calloc(ring_lines, sizeof(*ring));
        if (ring == NULL) {
            pthread_mutex_unlock(&g_lock);
            return OA_ENOMEM;
        }
        old = g_ring;
        g_ring = ring;
        g_ring_size = ring_lines;
        g_ring_count = 0;
        g_ring_next = 0;
    }
    g_json = json != 0;
    atomic_store(&g_level, (int)level);
    pthread_mutex_unlock(&g_lock);
    free(old);
    return 0;
}

/* Frees the ring and returns to the defaults (INFO, text, seq from 1). A
 * line written later allocates a default ring again, so call this last. */
void oa_log_shutdown(void)
{
    pthread_mutex_lock(&g_lock);
    reset_locked();
    pthread_mutex_unlock(&g_lock);
}

/* Changes the level; an unknown level is ignored. */
void oa_log_set_level(oa_log_level level)
{
    if (!level_ok((int)level)) {
        return;
    }
    atomic_store(&g_level, (int)level);
}

/* Returns the current level. */
oa_log_level oa_log_get_level(void)
{
    return (oa_log_level)atomic_load(&g_level);
}

/* Parses a level name, any case, "warning" included. Leaves *out untouched
 * and returns OA_EINVAL for anything else. */
int oa_log_parse_level(const char *s, oa_log_level *out)
{
    size_t i;

    if (s == NULL || out == NULL) {
        return OA_EINVAL;
    }
    for (i = 0; i < sizeof(g_level_names) / sizeof(g_level_names[0]); i++) {
        if (strcasecmp(s, g_level_names[i]) == 0) {
            *out = (oa_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = OA_LOG_WARN;
        return 0;
    }
    return OA_EINVAL;
}

/* Returns the lower-case name of level, or "unknown"; never NULL. */
const char *oa_log_level_name(oa_log_level level)
{
    if (!level_ok((int)level)) {
        return "unknown";
    }
    return g_level_names[level];
}

/* Returns the length of the valid UTF-8 sequence at s (at most n bytes
 * available), or 0 when the bytes there are not valid UTF-8. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t len;
    size_t i;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;

    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        if (s[0] == 0xE0) {
            lo = 0xA0; /* overlong */
        } else if (s[0] == 0xED) {
            hi = 0x9F; /* UTF-16 surrogates */
        }
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        if (s[0] == 0xF0) {
            lo = 0x90; /* overlong */
        } else if (s[0] == 0xF4) {
            hi = 0x8F; /* above U+10FFFF */
        }
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    if (s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            return 0;
        }
    }
    return len;
}

/* Appends s to buf (at *pos, capacity cap, always NUL-terminated) escaped as
 * the inside of a JSON string: quote and backslash get a backslash, control
 * characters become \u00XX, bytes that are not valid UTF-8 become U+FFFD. */
static void put_json_str(char *buf, size_t cap, size_t *pos, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    size_t i = 0;
    size_t len;

    while (i < n && *pos + 7 < cap) {
        if (p[i] == '"' || p[i] == '\\') {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = (char)p[i];
            i++;
            continue;
        }
        if (p[i] < 0x20 || p[i] == 0x7F) {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = 'u';
            buf[(*pos)++] = '0';
            buf[(*pos)++] = '0';
            buf[(*pos)++] = hex[p[i] >> 4];
            buf[(*pos)++] = hex[p[i] & 0xF];
            i++;
            continue;
        }
        len = utf8_seq_len(p + i, n - i);
        if (len == 0) {
            memcpy(buf + *pos, "\\ufffd", 6);
            *pos += 6;
            i++;
            continue;
        }
        memcpy(buf + *pos, p + i, len);
        *pos += len;
        i += len;
    }
    buf[*pos] = '\0';
}

/* Appends s to buf for the text format: printable bytes as they are, and
 * control characters as \n, \r, \t or \xNN so that one entry stays one line. */
static void put_text_str(char *buf, size_t cap, size_t *pos, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;

    for (; *p != '\0' && *pos + 5 < cap; p++) {
        if (*p >= 0x20 && *p != 0x7F) {
            buf[(*pos)++] = (char)*p;
            continue;
        }
        buf[(*pos)++] = '\\';
        if (*p == '\n') {
            buf[(*pos)++] = 'n';
        } else if (*p == '\r') {
            buf[(*pos)++] = 'r';
        } else if (*p == '\t') {
            buf[(*pos)++] = 't';
        } else {
            buf[(*pos)++] = 'x';
            buf[(*pos)++] = hex[*p >> 4];
            buf[(*pos)++] = hex[*p & 0xF];
        }
    }
    buf[*pos] = '\0';
}

/* Appends the literal s (no escaping) to buf. */
static void put_raw(char *buf, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);

    if (*pos + n >= cap) {
        n = cap - *pos - 1;
    }
    memcpy(buf + *pos, s, n);
    *pos += n;
    buf[*pos] = '\0';
}

/* Returns how many bytes of s (length len) fit in max bytes without
 * splitting a UTF-8 character. */
static size_t utf8_fit(const char *s, size_t len, size_t max)
{
    if (len <= max) {
        return len;
    }
    /* s[max] is the first byte left out: when it continues a character, the
     * start of that character must go too. */
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) {
        max--;
    }
    return max;
}

/* Formats the output line for l into buf. */
static void format_line(const oa_log_line *l, int json, char *buf, size_t cap)
{
    char stamp[32];
    char frac[8];
    struct tm tm;
    time_t secs = (time_t)(l->time_ms / 1000);
    size_t pos = 0;

    gmtime_r(&secs, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(frac, sizeof(frac), ".%03dZ", (int)(l->time_ms % 1000));
    buf[0] = '\0';
    if (json) {
        put_raw(buf, cap, &pos, "{\"time\":\"");
        put_raw(buf, cap, &pos, stamp);
        put_raw(buf, cap, &pos, frac);
        put_raw(buf, cap, &pos, "\",\"level\":\"");
        put_raw(buf, cap, &pos, g_level_names[l->level]);
        put_raw(buf, cap, &pos, "\",\"tag\":\"");
        put_json_str(buf, cap, &pos, l->tag);
        put_raw(buf, cap, &pos, "\",\"msg\":\"");
        put_json_str(buf, cap, &pos, l->msg);
        put_raw(buf, cap, &pos, "\"}\n");
        return;
    }
    put_raw(buf, cap, &pos, stamp);
    put_raw(buf, cap, &pos, frac);
    put_raw(buf, cap, &pos, " ");
    put_raw(buf, cap, &pos, g_level_upper[l->level]);
    put_raw(buf, cap, &pos, " [");
    put_text_str(buf, cap, &pos, l->tag);
    put_raw(buf, cap, &pos, "] ");
    put_text_str(buf, cap, &pos, l->msg);
    put_raw(buf, cap, &pos, "\n");
}

/* Logs one line; see oa_log_vwrite. */
void oa_log_write(oa_log_level level, const char *tag, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    oa_log_vwrite(level, tag, fmt, ap);
    va_end(ap);
}

/* Formats one line and, unless its level is above the current one, prints
 * it to stderr and keeps it in the ring. A message longer than the msg field
 * is cut and ends in "..."; a long tag is cut; NULL tag prints as "-". */
static void log_vwrite(oa_log_level level, const char *tag, const char *ring_text,
                       const char *fmt, va_list ap);

void oa_log_vwrite(oa_log_level level, const char *tag, const char *fmt, va_list ap)
{
    log_vwrite(level, tag, NULL, fmt, ap);
}

void oa_log_write_private(oa_log_level level, const char *tag, const char *ring_text,
                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, tag, ring_text, fmt, ap);
    va_end(ap);
}

/* Writes one line to stderr and the ring; ring_text, when not NULL, is
 * what the ring keeps instead of the message. */
static void log_vwrite(oa_log_level level, const char *tag, const char *ring_text,
                       const char *fmt, va_list ap)
{
    oa_log_line line;
    /* Every message and tag byte may grow to six bytes ("\u00XX") once
     * escaped, plus the time, the level and the punctuation. */
    char out[6 * (sizeof(line.msg) + sizeof(line.tag)) + 128];
    struct timespec ts;
    size_t keep;
    int n;

    if (!level_ok((int)level) || (int)level > atomic_load(&g_level)) {
        return;
    }
    if (tag == NULL) {
        tag = "-";
    }
    if (fmt == NULL) {
        fmt = "";
    }
    memset(&line, 0, sizeof(line));
    line.level = level;
    memcpy(line.tag, tag, utf8_fit(tag, strlen(tag), sizeof(line.tag) - 1));
    n = vsnprintf(line.msg, sizeof(line.msg), fmt, ap);
    if (n < 0) {
        line.msg[0] = '\0';
    } else if ((size_t)n >= sizeof(line.msg)) {
        /* Too long: keep what fits before a final "...". */
        keep = utf8_fit(line.msg, sizeof(line.msg) - 1, sizeof(line.msg) - 4);
        memcpy(line.msg + keep, "...", 4);
    }

    pthread_mutex_lock(&g_lock);
    /* The level may have changed since the unlocked check; respect it. */
    if ((int)level > atomic_load(&g_level)) {
        pthread_mutex_unlock(&g_lock);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    line.time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    ring_ensure();
    line.seq = g_next_seq++;
    if (g_ring != NULL) {
        g_ring[g_ring_next] = line;
        if (ring_text != NULL) {
            oa_log_line *kept = &g_ring[g_ring_next];
            memset(kept->msg, 0, sizeof(kept->msg));
            memcpy(kept->msg, ring_text,
                   utf8_fit(ring_text, strlen(ring_text), sizeof(kept->msg) - 1));
        }
        g_ring_next = (g_ring_next + 1) % g_ring_size;
        if (g_ring_count < g_ring_size) {
            g_ring_count++;
        }
    }
    format_line(&line, g_json, out, sizeof(out));
    fputs(out, stderr);
    pthread_mutex_unlock(&g_lock);
}

/* Copies kept lines newer than after_seq, oldest first, at most max of
 * them. Lines that already left the ring are skipped silently. */
size_t oa_log_recent(uint64_t after_seq, oa_log_line *out, size_t max)
{
    uint64_t oldest_seq;
    size_t skip = 0;
    size_t n;
    size_t start;
    size_t i;

    if (out == NULL || max == 0) {
        return 0;
    }
    pthread_mutex_lock(&g_lock);
    if (g_ring == NULL || g_ring_count == 0) {
        pthread_mutex_unlock(&g_lock);
        return 0;
    }
    /* Kept lines carry consecutive seq numbers, newest is g_next_seq - 1. */
    oldest_seq = g_next_seq - g_ring_count;
    if (after_seq >= oldest_seq) {
        if (after_seq - oldest_seq + 1 >= g_ring_count) {
            pthread_mutex_unlock(&g_lock);
            return 0;
        }
        skip = (size_t)(after_seq - oldest_seq + 1);
    }
    n = g_ring_count - skip;
    if (n > max) {
        n = max;
    }
    start = (g_ring_next + g_ring_size - g_ring_count + skip) % g_ring_size;
    for (i = 0; i < n; i++) {
        out[i] = g_ring[(start + i) % g_ring_size];
    }
    pthread_mutex_unlock(&g_lock);
    return n;
}

/* Host log: levels, a tag per line (the plugin's name or "host"), output to
 * stderr as text or JSON lines, and an in-memory ring of recent lines for the
 * admin UI. All functions are safe to call from any thread. */
#ifndef OA_HOST_LOG_H
#define OA_HOST_LOG_H

#include <openace/sdk.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct oa_log_line {
    uint64_t seq;     /* increasing from 1 */
    int64_t time_ms;  /* wall clock, milliseconds since the epoch */
    oa_log_level level;
    char tag[32];
    char msg[480];
} oa_log_line;

/* Sets up the log. ring_lines is the number of recent lines kept in memory
 * (0 for the default, 1000). Calling it again changes the settings and keeps
 * the ring only if its size is unchanged. */
int oa_log_init(oa_log_level level, int json, size_t ring_lines);
void oa_log_shutdown(void);
void oa_log_set_level(oa_log_level level);
oa_log_level oa_log_get_level(void);

/* Parses "error", "warn", "info", "debug", "trace". Returns 0 or OA_EINVAL. */
int oa_log_parse_level(const char *s, oa_log_level *out);
const char *oa_log_level_name(oa_log_level level);

void oa_log_write(oa_log_level level, const char *tag, const char *fmt, ...) OA_PRINTF(3, 4);
void oa_log_vwrite(oa_log_level level, const char *tag, const char *fmt, va_list ap);

/* Like oa_log_write, but the in-memory ring (which the admin API serves)
 * keeps ring_text instead of the message: for a line with a secret that
 * belongs on the console only. */
void oa_log_write_private(oa_log_level level, const char *tag, const char *ring_text,
                          const char *fmt, ...) OA_PRINTF(4, 5);

/* Copies up to max lines with seq > after_seq, oldest first, into out.
 * Returns how many were copied. */
size_t oa_log_recent(uint64_t after_seq, oa_log_line *out, size_t max);

#define OA_LOG_HOST(level, ...) oa_log_write((level), "host", __VA_ARGS__)

#endif

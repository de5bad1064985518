/*
 * streamer: the pure parts of the Ace Stream-compatible HTTP API. Nothing
 * here touches the host, the loop or a socket, so each part is tested alone
 * (tests/streamer).
 *
 *   params.c    the query of /ace/getstream and /ace/manifest.m3u8
 *   range.c     the Range request header against a body's size
 *   playlist.c  HLS media playlists (RFC 8216)
 *   acejson.c   the JSON envelopes Ace Stream clients expect
 */
#ifndef OA_STREAMER_ACEHTTP_H
#define OA_STREAMER_ACEHTTP_H

#include <stddef.h>
#include <stdint.h>

/* ---- params.c ----------------------------------------------------------- */

/* What names the content of a playback request. */
typedef enum st_src_kind {
    ST_SRC_NONE = 0,
    ST_SRC_CONTENT_ID = 1, /* content_id= or id=: SHA-1 of a transport file */
    ST_SRC_INFOHASH = 2,   /* infohash=: a BitTorrent v1 info-hash */
    ST_SRC_URL = 3,        /* url=: where a transport file is (http://, https://, file://) */
    ST_SRC_MAGNET = 4      /* magnet=: a magnet link */
} st_src_kind;

/* Longest accepted values, in bytes. A longer value is refused. */
#define ST_MAX_URL 4096
#define ST_MAX_MAGNET 8192
#define ST_MAX_PID 64

/* A parsed playback request. Strings are copies owned by the struct. */
typedef struct st_request {
    st_src_kind kind;
    char id[41];                 /* CONTENT_ID / INFOHASH: 40 lowercase hex digits */
    char value[ST_MAX_MAGNET + 1]; /* URL / MAGNET: the value as given */
    int format_json;             /* format=json */
    char pid[ST_MAX_PID + 1];    /* pid=, "" when absent */
    int file_index;              /* _idx= (or file_index=), -1 when absent */
} st_request;

/* Returns the value of query parameter name (already URL-decoded), or NULL
 * when it is absent. */
typedef const char *(*st_query_fn)(void *ctx, const char *name);

/* Parses a playback request from its query parameters. Exactly one source
 * is used: when several are given the first of content_id (alias id),
 * infohash, url, magnet wins. A 40-hex id or infohash is accepted in either
 * case and stored lower case; an infohash may also be 32 base32 characters
 * (as in magnet links). Returns 0, or OA_EINVAL with a sentence in err
 * (errlen bytes; e.g. "missing content_id, infohash, url or magnet",
 * "content_id must be 40 hexadecimal digits", "pid is longer than 64
 * bytes", "_idx must be a number from 0 to 65535"). */
int st_request_parse(st_query_fn get, void *ctx, st_request *out, char *err, size_t errlen);

/* Writes n bytes as 2n lower-case hex digits and a NUL into out (2n + 1
 * bytes): info-hashes, content IDs, session IDs. */
void st_hex(const uint8_t *in, size_t n, char *out);

/* ---- range.c ------------------------------------------------------------ */

#define ST_RANGE_NONE 0        /* no usable Range: answer 200 with the whole body */
#define ST_RANGE_PARTIAL 1     /* answer 206 with [*first, *last] */
#define ST_RANGE_UNSATISFIABLE 2 /* answer 416 with Content-Range: bytes * / size */

/* Reads a Range header value (NULL when absent) against a body of size
 * bytes (RFC 9110 §14): "bytes=a-b", "bytes=a-", "bytes=-n". A header with
 * several ranges, another unit or bad syntax is ignored (ST_RANGE_NONE), as
 * the RFC allows. b past the end is cut to size - 1. */
int st_range_parse(const char *header, uint64_t size, uint64_t *first, uint64_t *last);

/* Writes the Content-Range value for [first, last] of size into out
 * ("bytes 0-99/1000"), or "bytes * / size" (without spaces) when first >
 * last. Returns the length written, or a negative value when it does not
 * fit. */
int st_content_range(char *out, size_t outlen, uint64_t first, uint64_t last, uint64_t size);

/* ---- playlist.c --------------------------------------------------------- */

/* One segment of a media playlist. */
typedef struct st_segment {
    uint64_t seq;          /* media sequence number; also the segment's name */
    double duration;       /* seconds */
    int discontinuity;     /* an EXT-X-DISCONTINUITY goes before it */
} st_segment;

#define ST_PLAYLIST_EVENT 0 /* on-demand being cut: grows, starts at the beginning */
#define ST_PLAYLIST_LIVE 1  /* live: a sliding window */

/* Builds a media playlist of n segments (in order) whose URIs are prefix
 * followed by "<seq>.ts" (e.g. prefix "/ace/c/<session>/"). EVENT
 * playlists carry EXT-X-PLAYLIST-TYPE:EVENT and EXT-X-START:TIME-OFFSET=0
 * so that players start at the beginning, and EXT-X-ENDLIST once ended is
 * set (then the type says VOD); LIVE playlists carry EXT-X-MEDIA-SEQUENCE
 * of the first segment. EXT-X-TARGETDURATION is the longest segment
 * rounded up. Returns a malloc'ed NUL-terminated text (*len its length), or
 * NULL when out of memory. */
char *st_playlist_build(const st_segment *segs, size_t n, int type, int ended, const char *prefix,
                        size_t *len);

/* ---- acejson.c ---------------------------------------------------------- */

/* {"response": <response JSON text>, "error": null}. response is a JSON text
 * (object, string, ...). Returns malloc'ed text or NULL. */
char *st_json_response(const char *response);
/* {"response": null, "error": "<message>"} with message escaped. */
char *st_json_error(const char *message);
/* {"result": <result JSON text>, "error": null} (the /webui and /server
 * probes). */
char *st_json_result(const char *result);

#endif /* OA_STREAMER_ACEHTTP_H */

/*
 * HTTP(S) trackers: the announce and scrape messages (BEP 3, BEP 23 compact
 * peers, BEP 7 peers6, BEP 48 scrape) and a client that keeps one torrent
 * announced to its tiers of trackers (BEP 12).
 *
 * tracker_proto.c holds the messages: it builds request URLs and parses
 * replies, touching neither sockets nor the loop. tracker.c holds the
 * client, which sends them with the curl_uv driver.
 *
 * Peers come out as text, "a.b.c.d:port" for IPv4 and "[v6]:port" for
 * IPv6 (IPv4-mapped IPv6 addresses are written as IPv4), with duplicates
 * removed and the tracker's order otherwise kept. Entries with port 0, an
 * unspecified address or (in the dictionary form) a host name instead of
 * an address are dropped.
 */
#ifndef OA_SWARM_TRACKER_H
#define OA_SWARM_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "curl_uv.h"
#include "metainfo.h"

#define OA_TRACKER_ID_LEN 20 /* info-hash and peer id */
/* Interval used when a reply has none or a non-positive one, in seconds. */
#define OA_TRACKER_DEFAULT_INTERVAL 1800
/* Intervals and min intervals above this are clamped to it, in seconds. */
#define OA_TRACKER_MAX_INTERVAL (4 * 3600)
/* Peers taken from one reply (before removing duplicates); more are ignored. */
#define OA_TRACKER_MAX_PEERS 4096
/* Longest failure reason, warning or tracker id kept from a reply. */
#define OA_TRACKER_MAX_TEXT 512

typedef enum oa_tracker_event {
    OA_TRACKER_EVENT_NONE = 0,    /* a regular announce: no event parameter */
    OA_TRACKER_EVENT_STARTED = 1, /* the first announce to a tracker */
    OA_TRACKER_EVENT_STOPPED = 2, /* leaving the swarm */
    OA_TRACKER_EVENT_COMPLETED = 3 /* the download finished (sent once) */
} oa_tracker_event;

/* ---- messages (tracker_proto.c) ------------------------------------------ */

/* What one announce tells the tracker. */
typedef struct oa_tracker_announce_args {
    uint8_t info_hash[OA_TRACKER_ID_LEN];
    uint8_t peer_id[OA_TRACKER_ID_LEN];
    uint16_t port;
    uint64_t uploaded;
    uint64_t downloaded;
    uint64_t left;
    oa_tracker_event event;
    int numwant;           /* negative: not sent */
    int has_key;           /* nonzero: send key */
    uint32_t key;          /* sent as 8 uppercase hex digits */
    const char *trackerid; /* the tracker id a tracker gave earlier; NULL: not sent */
} oa_tracker_announce_args;

/* Checks that url can be announced to here: returns 0 for an http:// or
 * https:// URL with a host, OA_ENOSYS for another scheme (udp://, ...) and
 * OA_EINVAL for anything else. */
int oa_tracker_url_check(const char *url);

/* Writes the announce request URL for the tracker at announce: its URL
 * (fragment dropped, query kept) followed by info_hash, peer_id, port,
 * uploaded, downloaded, left, compact=1 and, when set, event, numwant, key
 * and trackerid. The info-hash, peer id and tracker id are sent as raw
 * bytes, percent-encoding all but A-Z a-z 0-9 - . _ ~ with uppercase hex.
 * The caller frees *out with free(). Fails with OA_EINVAL for no URL or an
 * http(s) URL without a host, OA_ENOSYS for other schemes (udp://, ...)
 * and OA_ENOMEM. */
int oa_tracker_announce_url(const char *announce, const oa_tracker_announce_args *args,
                            char **out);

/* Writes the scrape URL of the tracker at announce (BEP 48): the text
 * after the last '/' of the URL's path must begin with "announce", which is
 * replaced by "scrape", keeping the rest and the query. Then one
 * info_hash parameter per hash (count may be 0). The caller frees *out
 * with free(). Fails with OA_ENOSYS when the tracker has no scrape URL by
 * that rule (or is not http(s)), OA_EINVAL and OA_ENOMEM. */
int oa_tracker_scrape_url(const char *announce, const uint8_t (*hashes)[OA_TRACKER_ID_LEN],
                          size_t count, char **out);

/* A parsed announce reply; everything it points to is owned by it. */
typedef struct oa_tracker_reply {
    char *warning;        /* "warning message", NULL when none */
    int64_t interval;     /* seconds, 1 .. OA_TRACKER_MAX_INTERVAL */
    int64_t min_interval; /* seconds, 0 (none) .. OA_TRACKER_MAX_INTERVAL */
    uint8_t *tracker_id;  /* "tracker id" bytes, NUL-terminated too; NULL when none */
    size_t tracker_id_len;
    int64_t complete;     /* seeders; -1 when not given */
    int64_t incomplete;   /* leechers; -1 when not given */
    char **peers;         /* "ip:port" / "[ip6]:port", unique */
    size_t peer_count;
} oa_tracker_reply;

/* Parses the announce reply body[0..len) into a new reply stored in *out,
 * which the caller releases with oa_tracker_reply_free(). A reply with a
 * "failure reason" fails with OA_EFAIL, err holding "tracker refused: "
 * and the tracker's text (control characters replaced by '?'). Malformed
 * bencode, a reply that is not a dictionary, and compact peer strings whose
 * length is not a multiple of 6 (peers) or 18 (peers6) fail with
 * OA_EPROTO; also OA_EINVAL and OA_ENOMEM. On failure *out is NULL and err
 * (may be NULL) says why. */
int oa_tracker_parse_announce(const void *body, size_t len, oa_tracker_reply **out, char *err,
                              size_t errlen);

/* Releases a reply; NULL is allowed. */
void oa_tracker_reply_free(oa_tracker_reply *r);

/* One torrent of a scrape reply. Counts are -1 when not given. */
typedef struct oa_tracker_scrape_file {
    uint8_t info_hash[OA_TRACKER_ID_LEN];
    int64_t complete;   /* seeders */
    int64_t downloaded; /* completed downloads ever */
    int64_t incomplete; /* leechers */
} oa_tracker_scrape_file;

typedef struct oa_tracker_scrape_reply {
    oa_tracker_scrape_file *files; /* owned by the reply */
    size_t count;
    int64_t min_request_interval; /* flags.min_request_interval, seconds; 0 when none */
} oa_tracker_scrape_reply;

/* Parses a scrape reply body[0..len) into *out (release it with
 * oa_tracker_scrape_reply_free()). Keys of "files" that are not 20 bytes
 * are skipped. Errors as for oa_tracker_parse_announce(); a reply without
 * a "files" dictionary is OA_EPROTO. */
int oa_tracker_parse_scrape(const void *body, size_t len, oa_tracker_scrape_reply **out,
                            char *err, size_t errlen);

/* Releases a scrape reply; NULL is allowed. */
void oa_tracker_scrape_reply_free(oa_tracker_scrape_reply *r);

/* Returns the entry for info_hash in r, or NULL when the reply has none. */
const oa_tracker_scrape_file *oa_tracker_scrape_find(const oa_tracker_scrape_reply *r,
                                                     const uint8_t info_hash[OA_TRACKER_ID_LEN]);

/* ---- the client (tracker.c) ---------------------------------------------- */

typedef struct oa_tracker oa_tracker;

/* The outcome of one announce, for logs and the UI. */
typedef struct oa_tracker_status {
    const char *url;       /* the tracker's announce URL */
    oa_tracker_event event;
    int error;             /* 0, or OA_EFAIL (the tracker refused), OA_EPROTO (bad
                            * reply), OA_EIO (HTTP error status, connection),
                            * OA_ETIMEDOUT, OA_EOVERFLOW (reply too large) */
    long http_code;        /* 0 when no response came */
    const char *message;   /* on error a sentence (with the tracker's failure
                            * reason); on success its warning message or "" */
    size_t peer_count;     /* unique peers in the reply */
    int64_t complete;      /* -1 when not given */
    int64_t incomplete;
    uint64_t next_ms;      /* success: until the next regular announce; error:
                            * how long this tracker is now left alone */
} oa_tracker_status;

typedef struct oa_tracker_callbacks {
    /* New peers from a successful announce (count > 0). The strings are
     * valid during the call only. */
    void (*peers)(void *arg, const char *const *peers, size_t count);
    /* After every announce that ends, success or not. May be NULL. */
    void (*status)(void *arg, const oa_tracker_status *st);
    /* Fills in the transfer counters just before each announce. May be
     * NULL: all three are then sent as 0. */
    void (*counters)(void *arg, uint64_t *uploaded, uint64_t *downloaded, uint64_t *left);
} oa_tracker_callbacks;

/* Settings of a client; zero fields mean the defaults. */
typedef struct oa_tracker_config {
    uint8_t info_hash[OA_TRACKER_ID_LEN];
    uint8_t peer_id[OA_TRACKER_ID_LEN];
    uint16_t port;             /* where peers reach us */
    int numwant;               /* 0: 50; negative: not sent */
    uint32_t key;              /* 0: a random key */
    uint64_t interval_floor_ms; /* 0: 60 s; no two announces closer, except events */
    uint64_t backoff_base_ms;  /* 0: 15 s; the first wait after a tracker fails */
    uint64_t backoff_max_ms;   /* 0: 30 min; the wait doubles up to this */
    long timeout_ms;           /* 0: 30 s per announce or scrape */
    long stop_timeout_ms;      /* 0: 5 s for the stopped announce at close */
    int keep_order;            /* nonzero: do not shuffle within tiers */
} oa_tracker_config;

/* Called when a scrape ends: error 0 and file (the torrent's entry, valid
 * during the call), or an OA_E* code and a sentence; OA_ENOENT when the
 * tracker does not know the torrent. */
typedef void (*oa_tracker_scrape_cb)(void *arg, int error, const char *message,
                                     const oa_tracker_scrape_file *file);

/* Called when a closed client is gone. */
typedef void (*oa_tracker_closed_cb)(void *arg);

/* Creates a client for one torrent, sending through http (which must stay
 * open until the client's closed callback). cfg and cbs are copied; arg
 * goes to every callback. Add trackers, then oa_tracker_start(). The
 * caller releases it with oa_tracker_close(). Fails with OA_EINVAL (NULL
 * http, cfg or cbs, no peers callback) or OA_ENOMEM. */
int oa_tracker_new(oa_curl_uv *http, const oa_tracker_config *cfg,
                   const oa_tracker_callbacks *cbs, void *arg, oa_tracker **out);

/* Adds the tracker url to tier number tier, which is at most the number of
 * tiers so far (equal opens a new tier). The URL is copied. Fails with
 * OA_ENOSYS for a URL that is not http(s) (UDP trackers are elsewhere),
 * OA_EEXIST for one already added, OA_EINVAL (a bad tier or URL),
 * OA_ESTATE after oa_tracker_start() and OA_ENOMEM. */
int oa_tracker_add(oa_tracker *t, size_t tier, const char *url);

/* Adds the trackers of a torrent: its announce-list tiers, or when it has
 * none its announce URL (BEP 12), skipping URLs that oa_tracker_add()
 * refuses with OA_ENOSYS or OA_EEXIST. Fails with OA_ENOENT when no
 * tracker was added, else as oa_tracker_add(). */
int oa_tracker_add_metainfo(oa_tracker *t, const oa_metainfo *mi);

/* Returns the number of trackers added. */
size_t oa_tracker_count(const oa_tracker *t);

/* Shuffles each tier (unless keep_order) and sends the started announce.
 * From then on the client re-announces on the tracker's interval, fails
 * over along the tiers and backs off from failing trackers by itself.
 * Fails with OA_ENOENT (no trackers) or OA_ESTATE (started already). */
int oa_tracker_start(oa_tracker *t);

/* Asks for an announce as soon as the trackers allow (after the last one's
 * min interval and the interval floor), for instance when peers run low.
 * Does nothing when one is in flight. OA_ESTATE before start or when
 * closing. */
int oa_tracker_announce(oa_tracker *t);

/* Reports the download complete: the next announce (sent right away when
 * none is in flight) carries event=completed; this happens once, later
 * calls do nothing. OA_ESTATE before start or when closing. */
int oa_tracker_completed(oa_tracker *t);

/* Scrapes the first tracker, in tier order, that has a scrape URL, and
 * reports the torrent's counts through cb. Fails (without calling cb) with
 * OA_ENOSYS when no tracker has one, OA_EBUSY when a scrape is in flight,
 * OA_ESTATE when closing, OA_ENOMEM. */
int oa_tracker_scrape(oa_tracker *t, oa_tracker_scrape_cb cb, void *cb_arg);

/* Stops the client: cancels what is in flight (no callback is called after
 * this, scrape callbacks included) and, when send_stopped is nonzero, asks
 * the counters callback one last time, within this call, and sends
 * event=stopped with them and a short timeout to every tracker that was
 * told started (or was being told), without waiting for answers. t is freed once those requests
 * have ended and its timer has closed; then cb (may be NULL) is called
 * with cb_arg. */
void oa_tracker_close(oa_tracker *t, int send_stopped, oa_tracker_closed_cb cb, void *cb_arg);

#endif

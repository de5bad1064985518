/*
 * libFuzzer harness for the tracker messages (plugins/swarm/tracker_proto.c):
 * announce and scrape replies, and announce and scrape URLs built from
 * arbitrary tracker URLs.
 *
 * Build and run (clang only; see tests/swarm/CMakeLists.txt):
 *   CC=clang cmake -S . -B build-fuzz
 *   cmake --build build-fuzz --target fuzz_tracker
 *   build-fuzz/tests/fuzz_tracker -max_total_time=300
 *
 * Besides crashes and sanitizer reports it checks what holds for every
 * input: a failed parse leaves nothing behind and says why; a parsed reply
 * has its interval in range and unique, well-formed peers; a scrape URL is
 * only made from a URL that has an announce URL.
 */
#include "tracker.h"

#include <openace/sdk.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok) {
        abort();
    }
}

static void replies(const uint8_t *data, size_t size)
{
    oa_tracker_reply *r = NULL;
    oa_tracker_scrape_reply *s = NULL;
    char err[256];
    size_t i;
    size_t j;
    int rc;

    err[0] = '\0';
    rc = oa_tracker_parse_announce(data, size, &r, err, sizeof(err));
    if (rc != 0) {
        check(r == NULL && err[0] != '\0');
    } else {
        check(r->interval >= 1 && r->interval <= OA_TRACKER_MAX_INTERVAL);
        check(r->min_interval >= 0 && r->min_interval <= OA_TRACKER_MAX_INTERVAL);
        check(r->peer_count <= OA_TRACKER_MAX_PEERS);
        for (i = 0; i < r->peer_count; i++) {
            check(strchr(r->peers[i], ':') != NULL);
            for (j = 0; j < i; j++) {
                check(strcmp(r->peers[i], r->peers[j]) != 0);
            }
        }
        oa_tracker_reply_free(r);
    }
    err[0] = '\0';
    rc = oa_tracker_parse_scrape(data, size, &s, err, sizeof(err));
    if (rc != 0) {
        check(s == NULL && err[0] != '\0');
    } else {
        oa_tracker_scrape_reply_free(s);
    }
}

static void urls(const uint8_t *data, size_t size)
{
    static const uint8_t hash[1][OA_TRACKER_ID_LEN] = {{0x00, 0xff, '%'}};
    oa_tracker_announce_args a;
    char *url = malloc(size + 1);
    char *ann = NULL;
    char *scr = NULL;
    int arc;
    int src;

    if (url == NULL) {
        return;
    }
    memcpy(url, data, size);
    url[size] = '\0';
    memset(&a, 0, sizeof(a));
    a.numwant = 50;
    a.trackerid = url;
    arc = oa_tracker_announce_url(url, &a, &ann);
    src = oa_tracker_scrape_url(url, hash, 1, &scr);
    check(arc == oa_tracker_url_check(url));
    check((arc == 0) == (ann != NULL));
    check((src == 0) == (scr != NULL));
    if (src == 0) {
        check(arc == 0 && strstr(scr, "scrape") != NULL);
    }
    free(ann);
    free(scr);
    free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    replies(data, size);
    if (size <= 4096) {
        urls(data, size);
    }
    return 0;
}

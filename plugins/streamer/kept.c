/*
 * streamer: HLS requests that wait (kept by the host, their connection
 * suspended) for a playlist's first segment or for a segment not cut or
 * received yet. On-demand HLS (hls.c) and live HLS (live.c) keep them the
 * same way; each says with its own try function when one can be answered.
 */
#include "streamer.h"

#include <stdio.h>
#include <stdlib.h>

int st_kept_add(st_plugin *p, st_kept **list, oa_http_req *req, int playlist, uint64_t n,
                const char *sid)
{
    st_kept *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        return OA_ENOMEM;
    }
    k->req = req;
    k->playlist = playlist;
    k->n = n;
    snprintf(k->sid, sizeof(k->sid), "%s", sid);
    k->deadline_ms = p->api->now_ms(p->self) + (uint64_t)p->cfg.start_timeout_s * 1000;
    k->next = *list;
    *list = k;
    return 0;
}

void st_kept_answer(st_plugin *p, st_kept **list, st_try_fn try_fn, void *arg, uint64_t now,
                    const char *timeout_msg)
{
    for (st_kept **pp = list; *pp != NULL;) {
        st_kept *k = *pp;
        int done = try_fn(arg, k->req, k->playlist, k->n, k->sid);
        if (!done && now != 0 && now >= k->deadline_ms) {
            st_reply_text(p, k->req, 504, timeout_msg);
            done = 1;
        }
        if (done) {
            *pp = k->next;
            free(k);
        } else {
            pp = &k->next;
        }
    }
}

void st_kept_drop(st_plugin *p, st_kept **list)
{
    while (*list != NULL) {
        st_kept *k = *list;
        *list = k->next;
        if (!p->stopping) {
            st_reply_text(p, k->req, 410, "the playback session was stopped");
        }
        free(k);
    }
}

/*
 * libcurl's multi interface on the libuv loop (see curl_uv.h).
 *
 * libcurl tells which sockets to watch through on_curl_socket() and when to
 * call it back through on_curl_timer(); neither may call libcurl again, so
 * they only start or stop libuv watchers. The libuv callbacks (on_poll,
 * on_timeout) then call curl_multi_socket_action() and collect finished
 * transfers with collect(), which runs the completion callbacks outside any
 * libcurl call.
 *
 * Lifetime: the driver owns one uv_timer_t and one uv_poll_t per socket;
 * each closes through a callback that counts down open_handles, and the
 * driver is freed after the last. Memory of a socket watcher stays valid
 * until its close callback even when libcurl has dropped the socket.
 */
#include "curl_uv.h"

#include <openace/sdk.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OA_CURL_USER_AGENT "OpenAce/0.1"
#define OA_CURL_MAX_REDIRS 5L

typedef struct oa_curl_sock {
    uv_poll_t poll;
    oa_curl_uv *d;
    curl_socket_t fd;
    struct oa_curl_sock *prev;
    struct oa_curl_sock *next;
} oa_curl_sock;

struct oa_curl_req {
    oa_curl_uv *d;
    CURL *easy;
    oa_curl_done_cb cb;
    void *arg;
    uint8_t *body;
    size_t len;
    size_t cap;
    size_t max;
    int overflow; /* the body passed max: the write callback refused it */
    int done;     /* its completion callback is running */
    char errbuf[CURL_ERROR_SIZE];
    struct oa_curl_req *prev;
    struct oa_curl_req *next;
};

struct oa_curl_uv {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    oa_curl_sock *socks;
    oa_curl_req *reqs;
    size_t active;
    int open_handles;
    int closing;
    oa_curl_closed_cb closed_cb;
    void *closed_arg;
};

static uv_once_t global_once = UV_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- handle lifetime ----------------------------------------------------- */

static void handle_closed(oa_curl_uv *d)
{
    oa_curl_closed_cb cb;
    void *arg;

    d->open_handles--;
    if (d->open_handles > 0) {
        return;
    }
    cb = d->closed_cb;
    arg = d->closed_arg;
    free(d);
    if (cb != NULL) {
        cb(arg);
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void on_sock_closed(uv_handle_t *h)
{
    oa_curl_sock *sk = h->data;
    oa_curl_uv *d = sk->d;

    free(sk);
    handle_closed(d);
}

/* Stops watching a socket: unlinks the watcher and closes it; the memory
 * goes in on_sock_closed(). */
static void sock_close(oa_curl_sock *sk)
{
    oa_curl_uv *d = sk->d;

    if (sk->prev != NULL) {
        sk->prev->next = sk->next;
    } else {
        d->socks = sk->next;
    }
    if (sk->next != NULL) {
        sk->next->prev = sk->prev;
    }
    sk->prev = NULL;
    sk->next = NULL;
    uv_close((uv_handle_t *)&sk->poll, on_sock_closed);
}

/* ---- requests ------------------------------------------------------------ */

static void req_unlink(oa_curl_req *req)
{
    oa_curl_uv *d = req->d;

    if (req->prev != NULL) {
        req->prev->next = req->next;
    } else {
        d->reqs = req->next;
    }
    if (req->next != NULL) {
        req->next->prev = req->prev;
    }
    req->prev = NULL;
    req->next = NULL;
    d->active--;
}

/* Takes req out of the multi handle and the driver's list and releases its
 * easy handle; the struct and its body stay. */
static void req_detach(oa_curl_req *req)
{
    oa_curl_uv *d = req->d;

    if (req->easy != NULL) {
        if (d->multi != NULL) {
            curl_multi_remove_handle(d->multi, req->easy);
        }
        curl_easy_cleanup(req->easy);
        req->easy = NULL;
    }
    req_unlink(req);
}

static void req_free(oa_curl_req *req)
{
    free(req->body);
    free(req);
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    oa_curl_req *req = userdata;
    size_t n = size * nmemb;
    size_t need;

    if (n > req->max - req->len) {
        req->overflow = 1;
        return 0; /* CURLE_WRITE_ERROR ends the transfer */
    }
    need = req->len + n + 1; /* room for a NUL */
    if (need > req->cap) {
        size_t cap = req->cap > 0 ? req->cap : 4096;
        uint8_t *p;

        while (cap < need) {
            cap *= 2;
        }
        p = realloc(req->body, cap);
        if (p == NULL) {
            return 0;
        }
        req->body = p;
        req->cap = cap;
    }
    memcpy(req->body + req->len, ptr, n);
    req->len += n;
    req->body[req->len] = '\0';
    return n;
}

static int status_for(const oa_curl_req *req, CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return OA_ETIMEDOUT;
    case CURLE_FILESIZE_EXCEEDED:
        return OA_EOVERFLOW;
    case CURLE_WRITE_ERROR:
        return req->overflow ? OA_EOVERFLOW : OA_ENOMEM;
    case CURLE_OUT_OF_MEMORY:
        return OA_ENOMEM;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return OA_EINVAL;
    default:
        return OA_EIO;
    }
}

/* Ends req with the transfer result rc: detaches it, then calls its
 * callback, then frees it. */
static void req_finish(oa_curl_req *req, CURLcode rc)
{
    oa_curl_result res;
    char msg[CURL_ERROR_SIZE + 64];
    long code = 0;

    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &code);
    req_detach(req);
    memset(&res, 0, sizeof(res));
    res.status = status_for(req, rc);
    res.http_code = code;
    res.body = req->body != NULL ? req->body : (const uint8_t *)"";
    res.body_len = req->len;
    msg[0] = '\0';
    if (res.status == OA_EOVERFLOW) {
        snprintf(msg, sizeof(msg), "the response body is larger than %zu bytes", req->max);
    } else if (res.status != 0) {
        snprintf(msg, sizeof(msg), "%s",
                 req->errbuf[0] != '\0' ? req->errbuf : curl_easy_strerror(rc));
    }
    res.error = msg;
    req->done = 1;
    req->cb(req->arg, req, &res);
    req_free(req);
}

/* Runs the completion callbacks of finished transfers. Stops when a
 * callback closed the driver, since the multi handle is gone then. */
static void collect(oa_curl_uv *d)
{
    for (;;) {
        CURLMsg *msg;
        int left = 0;
        char *priv = NULL;

        if (d->closing) {
            return;
        }
        msg = curl_multi_info_read(d->multi, &left);
        if (msg == NULL) {
            return;
        }
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv != NULL) {
            req_finish((oa_curl_req *)(void *)priv, msg->data.result);
        }
    }
}

/* ---- libuv side ---------------------------------------------------------- */

static void on_poll(uv_poll_t *h, int status, int events)
{
    oa_curl_sock *sk = h->data;
    oa_curl_uv *d = sk->d;
    int flags = 0;
    int running = 0;

    if (d->closing) {
        return;
    }
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE) {
            flags |= CURL_CSELECT_IN;
        }
        if (events & UV_WRITABLE) {
            flags |= CURL_CSELECT_OUT;
        }
    }
    curl_multi_socket_action(d->multi, sk->fd, flags, &running);
    collect(d);
}

static void on_timeout(uv_timer_t *t)
{
    oa_curl_uv *d = t->data;
    int running = 0;

    if (d->closing) {
        return;
    }
    curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect(d);
}

/* ---- libcurl side: no libcurl calls from here but curl_multi_assign ------ */

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    oa_curl_uv *d = userp;
    oa_curl_sock *sk = socketp;
    int events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (sk != NULL) {
            sock_close(sk);
            curl_multi_assign(d->multi, s, NULL);
        }
        return 0;
    }
    if (d->closing) {
        return 0;
    }
    if (sk == NULL) {
        sk = calloc(1, sizeof(*sk));
        if (sk == NULL) {
            return -1;
        }
        if (uv_poll_init_socket(d->loop, &sk->poll, s) != 0) {
            free(sk);
            return -1;
        }
        sk->poll.data = sk;
        sk->d = d;
        sk->fd = s;
        sk->next = d->socks;
        if (d->socks != NULL) {
            d->socks->prev = sk;
        }
        d->socks = sk;
        d->open_handles++;
        curl_multi_assign(d->multi, s, sk);
    }
    if (what & CURL_POLL_IN) {
        events |= UV_READABLE;
    }
    if (what & CURL_POLL_OUT) {
        events |= UV_WRITABLE;
    }
    if (uv_poll_start(&sk->poll, events, on_poll) != 0) {
        return -1;
    }
    return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    oa_curl_uv *d = userp;

    (void)multi;
    if (d->closing) {
        return 0;
    }
    if (timeout_ms < 0) {
        uv_timer_stop(&d->timer);
        return 0;
    }
    /* 0 means "as soon as possible": the next loop iteration, since
     * curl_multi_socket_action() must not be called from here. */
    if (uv_timer_start(&d->timer, on_timeout, (uint64_t)timeout_ms, 0) != 0) {
        return -1;
    }
    return 0;
}

/* ---- public -------------------------------------------------------------- */

int oa_curl_uv_new(uv_loop_t *loop, oa_curl_uv **out)
{
    oa_curl_uv *d;

    if (out != NULL) {
        *out = NULL;
    }
    if (loop == NULL || out == NULL) {
        return OA_EINVAL;
    }
    uv_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        return OA_EIO;
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return OA_ENOMEM;
    }
    d->loop = loop;
    d->multi = curl_multi_init();
    if (d->multi == NULL) {
        free(d);
        return OA_ENOMEM;
    }
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    d->open_handles = 1;
    *out = d;
    return 0;
}

uv_loop_t *oa_curl_uv_loop(const oa_curl_uv *d)
{
    return d->loop;
}

size_t oa_curl_uv_active(const oa_curl_uv *d)
{
    return d->active;
}

void oa_curl_uv_close(oa_curl_uv *d, oa_curl_closed_cb cb, void *arg)
{
    if (d == NULL || d->closing) {
        return;
    }
    d->closing = 1;
    d->closed_cb = cb;
    d->closed_arg = arg;
    while (d->reqs != NULL) {
        oa_curl_req *req = d->reqs;

        req_detach(req);
        req_free(req);
    }
    /* Closing the kept-alive connections may report their sockets as
     * removed (on_curl_socket closes their watchers then). */
    curl_multi_cleanup(d->multi);
    d->multi = NULL;
    while (d->socks != NULL) {
        sock_close(d->socks);
    }
    uv_close((uv_handle_t *)&d->timer, on_timer_closed);
}

int oa_curl_get(oa_curl_uv *d, const char *url, const oa_curl_opts *opts, oa_curl_done_cb cb,
                void *arg, oa_curl_req **out)
{
    oa_curl_req *req;
    CURL *e;
    long timeout = OA_CURL_DEFAULT_TIMEOUT_MS;
    const char *agent = OA_CURL_USER_AGENT;
    CURLMcode mrc;

    if (out != NULL) {
        *out = NULL;
    }
    if (d == NULL || url == NULL || cb == NULL) {
        return OA_EINVAL;
    }
    if (d->closing) {
        return OA_ESTATE;
    }
    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        return OA_ENOMEM;
    }
    req->d = d;
    req->cb = cb;
    req->arg = arg;
    req->max = OA_CURL_DEFAULT_MAX_BODY;
    if (opts != NULL) {
        if (opts->timeout_ms > 0) {
            timeout = opts->timeout_ms;
        }
        if (opts->max_body > 0) {
            req->max = opts->max_body;
        }
        if (opts->user_agent != NULL) {
            agent = opts->user_agent;
        }
    }
    e = curl_easy_init();
    if (e == NULL) {
        free(req);
        return OA_ENOMEM;
    }
    req->easy = e;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)req);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, OA_CURL_MAX_REDIRS);
    /* Accept whatever compression libcurl can undo (trackers gzip). */
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_USERAGENT, agent);
    if (curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK) {
        curl_easy_cleanup(e);
        free(req);
        return OA_ENOMEM;
    }
    req->next = d->reqs;
    if (d->reqs != NULL) {
        d->reqs->prev = req;
    }
    d->reqs = req;
    d->active++;
    mrc = curl_multi_add_handle(d->multi, e);
    if (mrc != CURLM_OK) {
        req_unlink(req);
        curl_easy_cleanup(e);
        free(req);
        return mrc == CURLM_OUT_OF_MEMORY ? OA_ENOMEM : OA_EIO;
    }
    if (out != NULL) {
        *out = req;
    }
    return 0;
}

void oa_curl_cancel(oa_curl_req *req)
{
    if (req == NULL || req->done) {
        return;
    }
    req_detach(req);
    req_free(req);
}

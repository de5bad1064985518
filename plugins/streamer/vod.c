/*
 * streamer: progressive readers (/ace/r, and /ace/getstream without
 * format=json). Each reader has its own position and its own bounded HTTP
 * queue; bytes come from the content's shared block cache. A reader whose
 * queue is full waits for DRAINED, so a slow player costs at most its queue
 * limit; one whose block is missing parks on it.
 */
#include "streamer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct st_reader {
    st_reader *next;
    st_session *s;  /* NULL once detached */
    st_plugin *p;
    oa_http_stream *stream;
    st_wait w;
    uint64_t pos;   /* next file offset to send */
    uint64_t end;   /* one past the last */
    uint64_t bytes;
    size_t slice;
    char client[64];
    int pumping;
    int ended;      /* http_stream_end called */
};

static const char *content_type_of(const char *path)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {{".ts", "video/mp2t"},        {".m2ts", "video/mp2t"},
                 {".mts", "video/mp2t"},       {".mp4", "video/mp4"},
                 {".m4v", "video/mp4"},        {".mkv", "video/x-matroska"},
                 {".webm", "video/webm"},      {".avi", "video/x-msvideo"},
                 {".mov", "video/quicktime"},  {".flv", "video/x-flv"},
                 {".mpg", "video/mpeg"},       {".mpeg", "video/mpeg"},
                 {".mp3", "audio/mpeg"},       {".aac", "audio/aac"},
                 {NULL, NULL}};
    const char *dot = strrchr(path, '.');
    if (dot != NULL) {
        for (size_t i = 0; types[i].ext != NULL; i++) {
            if (strcasecmp(dot, types[i].ext) == 0) {
                return types[i].type;
            }
        }
    }
    return "application/octet-stream";
}

/* Takes the reader off its session (it reads no more); it is freed when
 * its stream reports CLOSED, or with the plugin. */
static void reader_detach(st_reader *r)
{
    st_session *s = r->s;
    st_plugin *p;
    if (s == NULL) {
        return;
    }
    p = s->p;
    st_content_unwait(s->c, &r->w);
    for (st_reader **pp = &s->readers; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    st_session_reader_left(s, r->client, r->bytes);
    r->s = NULL;
    r->p = p;
    r->next = p->orphans;
    p->orphans = r;
}

static void reader_free(st_reader *r)
{
    st_plugin *p = r->p;
    for (st_reader **pp = &p->orphans; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    free(r);
}

void st_vod_free_orphans(st_plugin *p)
{
    while (p->orphans != NULL) {
        st_reader *r = p->orphans;
        p->orphans = r->next;
        free(r);
    }
}

static void pump(st_reader *r);

static void on_block(st_wait *w, int status)
{
    st_reader *r = (st_reader *)((char *)w - offsetof(st_reader, w));
    if (r->s == NULL) {
        return;
    }
    if (status != 0) {
        /* The bytes cannot come: end the response short, the player sees it. */
        r->s->p->api->log(r->s->p->self, OA_LOG_WARN, "%s: reader %s: %s", r->s->id,
                          r->client, oa_strerror(status));
        if (r->stream != NULL && !r->ended) {
            r->ended = 1;
            r->s->p->api->http_stream_end(r->stream);
        }
        return;
    }
    pump(r);
}

static void pump(st_reader *r)
{
    st_session *s = r->s;
    const oa_host_api *api = s->p->api;
    if (r->pumping || r->stream == NULL || r->s == NULL || r->ended) {
        return;
    }
    r->pumping = 1;
    while (r->pos < r->end) {
        st_block *b = NULL;
        const uint8_t *data;
        size_t n;
        int rc = st_content_get(s->c, r->pos, &r->w, &b);
        if (rc == OA_EAGAIN) {
            break;
        }
        if (rc != 0) {
            api->log(s->p->self, OA_LOG_WARN, "%s: reader %s at %llu: %s", s->id, r->client,
                     (unsigned long long)r->pos, oa_strerror(rc));
            r->pos = r->end;
            break;
        }
        data = st_block_bytes(s->c, b, r->pos, &n);
        if (n > r->end - r->pos) {
            n = (size_t)(r->end - r->pos);
        }
        while (n > 0) {
            size_t k = n < r->slice ? n : r->slice;
            rc = api->http_stream_write(r->stream, data, k);
            if (rc != 0) {
                break;
            }
            if (s->first_byte_ms == 0) {
                s->first_byte_ms = api->now_ms(s->p->self);
            }
            data += k;
            n -= k;
            r->pos += k;
            r->bytes += k;
            s->bytes_out += k;
        }
        if (n > 0) {
            break; /* the queue is full: DRAINED resumes */
        }
    }
    if (r->pos >= r->end && r->stream != NULL) {
        r->ended = 1;
        api->http_stream_end(r->stream);
    }
    r->pumping = 0;
}

static void on_stream(void *arg, oa_http_stream *stream, int event)
{
    st_reader *r = arg;
    (void)stream;
    if (event == OA_HTTP_STREAM_DRAINED) {
        if (r->s != NULL) {
            pump(r);
        }
    } else if (event == OA_HTTP_STREAM_CLOSED) {
        r->stream = NULL;
        reader_detach(r);
        reader_free(r);
    }
}

int st_vod_start(st_session *s, oa_http_req *req)
{
    st_plugin *p = s->p;
    const oa_host_api *api = p->api;
    st_content *c = s->c;
    st_reader *r;
    uint64_t first = 0;
    uint64_t last = c->file_length - 1;
    int status = 200;
    int kind;
    char cr[96];
    char json[256];
    const char *client;
    size_t queue = (size_t)p->cfg.client_queue_kb * 1024;
    int rc;

    kind = st_range_parse(api->http_header(req, "Range"), c->file_length, &first, &last);
    api->http_set_header(req, "Accept-Ranges", "bytes");
    if (kind == ST_RANGE_UNSATISFIABLE) {
        st_content_range(cr, sizeof(cr), 1, 0, c->file_length);
        api->http_set_header(req, "Content-Range", cr);
        return api->http_reply(req, 416, "text/plain", "range not satisfiable\n", 22);
    }
    if (kind == ST_RANGE_PARTIAL) {
        status = 206;
        st_content_range(cr, sizeof(cr), first, last, c->file_length);
        api->http_set_header(req, "Content-Range", cr);
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return OA_ENOMEM;
    }
    r->s = s;
    r->p = p;
    r->pos = first;
    r->end = last + 1;
    r->w.cb = on_block;
    r->slice = queue / 4 > 0 ? queue / 4 : 4096;
    if (r->slice > 256 * 1024) {
        r->slice = 256 * 1024;
    }
    client = api->http_client(req);
    snprintf(r->client, sizeof(r->client), "%s", client != NULL ? client : "?");
    rc = api->http_stream_open(req, status, content_type_of(c->name), (int64_t)(last - first + 1),
                               queue, on_stream, r, &r->stream);
    if (rc != 0) {
        free(r);
        return rc;
    }
    r->next = s->readers;
    s->readers = r;
    snprintf(json, sizeof(json), "\"kind\":\"ts\",\"offset\":%llu", (unsigned long long)first);
    st_session_reader_joined(s, r->client, json);
    pump(r);
    return 0;
}

void st_vod_close_all(st_session *s)
{
    while (s->readers != NULL) {
        st_reader *r = s->readers;
        /* The stream's CLOSED event comes later and frees the reader. */
        reader_detach(r);
        if (r->stream != NULL && !r->ended) {
            r->ended = 1;
            s->p->api->http_stream_end(r->stream);
        }
    }
}

/*
 * streamer: content IDs and transport files.
 *
 * A content ID is the SHA-1 (40 hex) of a transport file, as in Ace
 * Stream. Every transport file the streamer sees (fetched by url=, or the
 * .torrent the swarm builds for a magnet= or infohash= playback) is kept in
 * the plugin's kv store (SQLite):
 *
 *   "cid/<id>"          the transport file's bytes
 *   "ih/<infohash hex>" the content ID last recorded for that info-hash
 *
 * url= fetches run libcurl's easy interface on a worker thread: a transport
 * file is small and fetched once per playback start.
 */
#include "streamer.h"

#include <curl/curl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_MAX (8u * 1024u * 1024u)

void st_catalog_add(st_plugin *p, const void *file, size_t len, const char *infohash_hex,
                    char id[41])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    char key[64];
    int rc;
    SHA1(file, len, md);
    st_hex(md, SHA_DIGEST_LENGTH, id);
    snprintf(key, sizeof(key), "cid/%s", id);
    rc = p->api->kv_set(p->self, key, file, len);
    if (rc == 0 && infohash_hex != NULL && infohash_hex[0] != '\0') {
        snprintf(key, sizeof(key), "ih/%s", infohash_hex);
        rc = p->api->kv_set(p->self, key, id, 40);
    }
    if (rc != 0) {
        p->api->log(p->self, OA_LOG_WARN, "cannot record content %s: %s", id, oa_strerror(rc));
    }
}

int st_catalog_get(st_plugin *p, const char id[41], uint8_t **file, size_t *len)
{
    char key[64];
    char *v = NULL;
    int rc;
    snprintf(key, sizeof(key), "cid/%s", id);
    rc = p->api->kv_get(p->self, key, &v, len);
    if (rc != 0) {
        return OA_ENOENT;
    }
    *file = (uint8_t *)v;
    return 0;
}

int st_catalog_id_for(st_plugin *p, const char infohash_hex[41], char id[41])
{
    char key[64];
    char *v = NULL;
    size_t len = 0;
    snprintf(key, sizeof(key), "ih/%s", infohash_hex);
    if (p->api->kv_get(p->self, key, &v, &len) != 0) {
        return OA_ENOENT;
    }
    if (len != 40) {
        p->api->free(v);
        return OA_ENOENT;
    }
    memcpy(id, v, 40);
    id[40] = '\0';
    p->api->free(v);
    return 0;
}

/* ---- url= fetches -------------------------------------------------------- */

struct st_fetch {
    st_plugin *p;
    char *url;
    int allow_file;
    long timeout_s;
    st_fetch_cb cb;
    void *arg;
    int cancelled;
    /* filled by the worker */
    uint8_t *data;
    size_t len;
    int status;
    char why[512];
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    st_fetch *f = userdata;
    size_t n = size * nmemb;
    uint8_t *grown;
    if (f->len + n > FETCH_MAX) {
        snprintf(f->why, sizeof(f->why), "the transport file at %s is larger than %u MiB",
                 f->url, FETCH_MAX >> 20);
        return 0;
    }
    grown = realloc(f->data, f->len + n + 1);
    if (grown == NULL) {
        return 0;
    }
    f->data = grown;
    memcpy(f->data + f->len, ptr, n);
    f->len += n;
    return n;
}

static void fetch_work(void *arg)
{
    st_fetch *f = arg;
    CURL *curl = curl_easy_init();
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode cc;
    long code = 0;
    if (curl == NULL) {
        f->status = OA_ENOMEM;
        snprintf(f->why, sizeof(f->why), "cannot start an HTTP client");
        return;
    }
    curl_easy_setopt(curl, CURLOPT_URL, f->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, f->allow_file ? "http,https,file"
                                                                : "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, f->timeout_s);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "OpenAce");
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
    cc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(curl);
    if (cc != CURLE_OK) {
        f->status = OA_EIO;
        if (f->why[0] == '\0') {
            snprintf(f->why, sizeof(f->why), "cannot fetch %s: %s", f->url,
                     errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
        }
    } else if (code != 0 && code != 200) {
        f->status = OA_EIO;
        snprintf(f->why, sizeof(f->why), "cannot fetch %s: the server answered HTTP %ld",
                 f->url, code);
    } else if (f->len == 0) {
        f->status = OA_EIO;
        snprintf(f->why, sizeof(f->why), "%s is empty", f->url);
    }
}

static void fetch_done(void *arg, int status)
{
    st_fetch *f = arg;
    if (!f->cancelled) {
        if (status != 0 && f->status == 0) {
            f->status = status;
            snprintf(f->why, sizeof(f->why), "fetching %s was cancelled", f->url);
        }
        f->cb(f->arg, f->status, f->data, f->len, f->why);
    }
    free(f->data);
    free(f->url);
    free(f);
}

int st_fetch_start(st_plugin *p, const char *url, int64_t timeout_s, st_fetch_cb cb, void *arg,
                   st_fetch **out)
{
    st_fetch *f = calloc(1, sizeof(*f));
    int rc;
    if (f == NULL) {
        return OA_ENOMEM;
    }
    f->url = strdup(url);
    if (f->url == NULL) {
        free(f);
        return OA_ENOMEM;
    }
    f->p = p;
    f->allow_file = p->cfg.allow_file_urls;
    f->timeout_s = (long)(timeout_s > 0 ? timeout_s : 30);
    f->cb = cb;
    f->arg = arg;
    rc = p->api->queue_work(p->self, fetch_work, fetch_done, f);
    if (rc != 0) {
        free(f->url);
        free(f);
        return rc;
    }
    *out = f;
    return 0;
}

void st_fetch_cancel(st_fetch *f)
{
    if (f != NULL) {
        f->cancelled = 1;
    }
}

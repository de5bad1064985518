/*
 * The JSON envelopes Ace Stream clients expect: {"response": ..., "error":
 * ...} and {"result": ..., "error": ...}, keys in that order. The caller's
 * JSON text is checked with jansson and then placed in the envelope as
 * given, so that its numbers keep their spelling.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "acehttp.h"

static int is_json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Returns {"<key>": <text>, "error": null} as malloc'ed text, or NULL when
 * text is not one JSON value or memory runs out. */
static char *envelope(const char *key, const char *text)
{
    json_error_t jerr;
    json_t *check;
    size_t start = 0;
    size_t end;
    size_t size;
    char *out;
    int n;

    if (text == NULL) {
        return NULL;
    }
    check = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (check == NULL) {
        return NULL;
    }
    json_decref(check);

    end = strlen(text);
    while (start < end && is_json_ws(text[start])) {
        start++;
    }
    while (end > start && is_json_ws(text[end - 1])) {
        end--;
    }
    size = strlen(key) + (end - start) + 32;
    out = malloc(size);
    if (out == NULL) {
        return NULL;
    }
    n = snprintf(out, size, "{\"%s\": %.*s, \"error\": null}", key, (int)(end - start),
                 text + start);
    if (n < 0 || (size_t)n >= size) {
        free(out);
        return NULL;
    }
    return out;
}

/* {"response": <response JSON text>, "error": null}; see acehttp.h. */
char *st_json_response(const char *response)
{
    return envelope("response", response);
}

/* {"result": <result JSON text>, "error": null}; see acehttp.h. */
char *st_json_result(const char *result)
{
    return envelope("result", result);
}

/* {"response": null, "error": "<message>"}: message is escaped by jansson.
 * Bytes that are not valid UTF-8 become '?' rather than losing the whole
 * message. Returns malloc'ed text, or NULL when memory runs out or message
 * is NULL. */
char *st_json_error(const char *message)
{
    static const char HEAD[] = "{\"response\": null, \"error\": ";
    static const char TAIL[] = "}";
    json_t *str;
    char *out = NULL;
    size_t need;
    size_t size;

    if (message == NULL) {
        return NULL;
    }
    str = json_string(message);
    if (str == NULL) {
        size_t mlen = strlen(message);
        char *clean = malloc(mlen + 1);
        size_t i;

        if (clean == NULL) {
            return NULL;
        }
        memcpy(clean, message, mlen + 1);
        for (i = 0; clean[i] != '\0'; i++) {
            if ((unsigned char)clean[i] >= 0x80) {
                clean[i] = '?';
            }
        }
        str = json_string(clean);
        free(clean);
        if (str == NULL) {
            return NULL;
        }
    }
    /* json_dumpb rather than json_dumps: the text is ours to free() even
     * when someone installed other jansson allocators. */
    need = json_dumpb(str, NULL, 0, JSON_ENCODE_ANY);
    if (need == 0) {
        json_decref(str);
        return NULL;
    }
    size = sizeof(HEAD) - 1 + need + sizeof(TAIL);
    out = malloc(size);
    if (out != NULL) {
        memcpy(out, HEAD, sizeof(HEAD) - 1);
        json_dumpb(str, out + sizeof(HEAD) - 1, need, JSON_ENCODE_ANY);
        memcpy(out + sizeof(HEAD) - 1 + need, TAIL, sizeof(TAIL));
    }
    json_decref(str);
    return out;
}

/* Unit tests of the Ace Stream JSON envelopes (plugins/streamer/acejson.c):
 * exact text, key order, and the shapes parsed back with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "acehttp.h"

/* Parses text (which must be an object of exactly two keys, first then
 * "error") and returns it; the caller json_decref()s it. */
static json_t *parse_envelope(const char *text, const char *first)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    void *it;

    if (root == NULL) {
        fail_msg("not JSON (%s): %s", jerr.text, text);
    }
    assert_true(json_is_object(root));
    assert_int_equal(json_object_size(root), 2);
    it = json_object_iter(root);
    assert_string_equal(json_object_iter_key(it), first);
    it = json_object_iter_next(root, it);
    assert_string_equal(json_object_iter_key(it), "error");
    return root;
}

static void test_response(void **state)
{
    const char *in = "{\"playback_url\": \"http://127.0.0.1:6878/ace/r/abc/def\", "
                     "\"stat_url\": \"http://127.0.0.1:6878/ace/stat/abc/def\", "
                     "\"is_live\": 0, \"x\": 0.1}";
    char *text;
    json_t *root;
    json_t *resp;

    (void)state;
    text = st_json_response(in);
    assert_non_null(text);
    /* The response text is kept as given (0.1 stays 0.1). */
    assert_string_equal(text, "{\"response\": {\"playback_url\": "
                              "\"http://127.0.0.1:6878/ace/r/abc/def\", \"stat_url\": "
                              "\"http://127.0.0.1:6878/ace/stat/abc/def\", \"is_live\": 0, "
                              "\"x\": 0.1}, \"error\": null}");
    root = parse_envelope(text, "response");
    assert_true(json_is_null(json_object_get(root, "error")));
    resp = json_object_get(root, "response");
    assert_true(json_is_object(resp));
    assert_string_equal(json_string_value(json_object_get(resp, "playback_url")),
                        "http://127.0.0.1:6878/ace/r/abc/def");
    assert_int_equal(json_integer_value(json_object_get(resp, "is_live")), 0);
    json_decref(root);
    free(text);

    /* Any JSON value; whitespace around it is dropped. */
    text = st_json_response("  \"ok\"\n");
    assert_non_null(text);
    assert_string_equal(text, "{\"response\": \"ok\", \"error\": null}");
    root = parse_envelope(text, "response");
    assert_string_equal(json_string_value(json_object_get(root, "response")), "ok");
    json_decref(root);
    free(text);

    text = st_json_response("[1,2,3]");
    assert_non_null(text);
    root = parse_envelope(text, "response");
    assert_int_equal(json_array_size(json_object_get(root, "response")), 3);
    json_decref(root);
    free(text);

    text = st_json_response("null");
    assert_non_null(text);
    assert_string_equal(text, "{\"response\": null, \"error\": null}");
    free(text);
}

static void test_result(void **state)
{
    char *text;
    json_t *root;

    (void)state;
    text = st_json_result("{\"version\": \"3.1.74\", \"code\": 3017400}");
    assert_non_null(text);
    assert_string_equal(text, "{\"result\": {\"version\": \"3.1.74\", \"code\": 3017400}, "
                              "\"error\": null}");
    root = parse_envelope(text, "result");
    assert_true(json_is_null(json_object_get(root, "error")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(root, "result"),
                                                          "version")),
                        "3.1.74");
    json_decref(root);
    free(text);
}

static void test_invalid_text(void **state)
{
    (void)state;
    assert_null(st_json_response(NULL));
    assert_null(st_json_response(""));
    assert_null(st_json_response("   "));
    assert_null(st_json_response("{"));
    assert_null(st_json_response("{\"a\": 1}}"));
    assert_null(st_json_response("{\"a\": 1}, \"error\": \"injected\""));
    assert_null(st_json_response("1 2"));
    assert_null(st_json_response("'single'"));
    assert_null(st_json_result("{\"a\": }"));
    assert_null(st_json_result(NULL));
    /* Not UTF-8. */
    assert_null(st_json_response("\"\xff\""));
}

static void test_error(void **state)
{
    const char *msg = "bad \"id\"\\ line\nnext\ttab \x01 caf\xc3\xa9";
    char *text;
    json_t *root;

    (void)state;
    text = st_json_error("content_id must be 40 hexadecimal digits");
    assert_non_null(text);
    assert_string_equal(text, "{\"response\": null, \"error\": "
                              "\"content_id must be 40 hexadecimal digits\"}");
    root = parse_envelope(text, "response");
    assert_true(json_is_null(json_object_get(root, "response")));
    json_decref(root);
    free(text);

    /* Quotes, backslashes and control characters are escaped; the message
     * parses back to itself. */
    text = st_json_error(msg);
    assert_non_null(text);
    root = parse_envelope(text, "response");
    assert_string_equal(json_string_value(json_object_get(root, "error")), msg);
    json_decref(root);
    free(text);

    /* Bytes that are not UTF-8 become '?' instead of losing the message. */
    text = st_json_error("bad \xff byte");
    assert_non_null(text);
    root = parse_envelope(text, "response");
    assert_string_equal(json_string_value(json_object_get(root, "error")), "bad ? byte");
    json_decref(root);
    free(text);

    text = st_json_error("");
    assert_non_null(text);
    assert_string_equal(text, "{\"response\": null, \"error\": \"\"}");
    free(text);

    assert_null(st_json_error(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_result),
        cmocka_unit_test(test_invalid_text),
        cmocka_unit_test(test_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Chat messages of live streams (plugins/swarm/livecore.h, livechat.c):
 * signing and decoding of messages and mutes against bytes written out by
 * hand, tampered messages refused, text limits (length, UTF-8), non-canonical
 * forms refused, @mention and :emote: tokens with their edge cases, and the
 * per-sender token bucket on a fake clock. Inputs are exact-size heap
 * copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "livecore.h"
#include "testutil.h"

static int decode_copy(const void *bytes, size_t n, oa_lc_chat *c, char *err, size_t errlen)
{
    uint8_t *copy = oa_test_exact_copy(bytes, n);
    int rc;

    assert_non_null(copy);
    rc = oa_lc_chat_decode(copy, n, c, err, errlen);
    free(copy);
    return rc;
}

static uint8_t g_seed[32];
static uint8_t g_pub[32];

static int setup(void **state)
{
    (void)state;
    return oa_lc_keygen(g_seed, g_pub);
}

static void sample(oa_lc_chat *c, const char *text)
{
    memset(c, 0, sizeof(*c));
    c->kind = 0;
    c->seq = 5;
    memset(c->stream, 0x11, sizeof(c->stream));
    c->ts_ms = 1700000000000;
    size_t n = strlen(text);
    if (n >= sizeof(c->text)) {
        n = sizeof(c->text) - 1;
    }
    memcpy(c->text, text, n);
    c->text[n] = '\0';
}

static void test_sign_decode(void **state)
{
    oa_lc_chat c;
    oa_lc_chat back;
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256] = "";
    char want[512];
    size_t wl;
    uint8_t *body = NULL;

    (void)state;
    sample(&c, "hello @bob :wave:");
    assert_int_equal(oa_lc_chat_sign(g_seed, &c, &buf, &len, err, sizeof(err)), 0);
    assert_memory_equal(c.from, g_pub, 32);
    /* The exact bytes. */
    wl = (size_t)snprintf(want, sizeof(want), "d4:from32:");
    memcpy(want + wl, g_pub, 32);
    wl += 32;
    wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "4:kindi0e3:seqi5e3:sig64:");
    memcpy(want + wl, c.sig, 64);
    wl += 64;
    wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "6:stream20:");
    memset(want + wl, 0x11, 20);
    wl += 20;
    wl += (size_t)snprintf(want + wl, sizeof(want) - wl,
                           "4:text17:hello @bob :wave:2:tsi1700000000000ee");
    assert_int_equal(len, wl);
    assert_memory_equal(buf, want, wl);
    /* The signature covers the same dictionary without "sig". */
    {
        size_t sig_at = 10 + 32 + strlen("4:kindi0e3:seqi5e");
        size_t sig_len = strlen("3:sig64:") + 64;

        body = malloc(len - sig_len);
        assert_non_null(body);
        memcpy(body, buf, sig_at);
        memcpy(body + sig_at, buf + sig_at + sig_len, len - sig_at - sig_len);
        assert_int_equal(oa_lc_verify(g_pub, body, len - sig_len, c.sig), 0);
        free(body);
    }
    assert_int_equal(decode_copy(buf, len, &back, err, sizeof(err)), 0);
    assert_memory_equal(&back, &c, sizeof(c));
    free(buf);
}

static void test_mute(void **state)
{
    oa_lc_chat c;
    oa_lc_chat back;
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256] = "";
    static const char tail[] = "2:tsi9e5:untili1700003600ee";

    (void)state;
    sample(&c, "ignored");
    c.kind = 1;
    c.ts_ms = 9;
    memset(c.target, 0x22, 32);
    c.until = 1700003600;
    assert_int_equal(oa_lc_chat_sign(g_seed, &c, &buf, &len, err, sizeof(err)), 0);
    assert_int_equal(c.text[0], '\0');
    assert_memory_equal(buf + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
    assert_null(memmem(buf, len, "4:text", 6));
    assert_non_null(memmem(buf, len, "6:target32:", 11));
    assert_int_equal(decode_copy(buf, len, &back, err, sizeof(err)), 0);
    assert_int_equal(back.kind, 1);
    assert_int_equal(back.until, 1700003600);
    assert_memory_equal(back.target, c.target, 32);
    free(buf);
}

static void test_tampered(void **state)
{
    oa_lc_chat c;
    oa_lc_chat back;
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256] = "";
    size_t i;
    uint8_t seed2[32];
    uint8_t pub2[32];

    (void)state;
    sample(&c, "hello");
    assert_int_equal(oa_lc_chat_sign(g_seed, &c, &buf, &len, err, sizeof(err)), 0);
    /* Every single-byte change is refused. */
    for (i = 0; i < len; i++) {
        uint8_t *m = oa_test_exact_copy(buf, len);

        m[i] ^= 0x01;
        assert_int_not_equal(oa_lc_chat_decode(m, len, &back, err, sizeof(err)), 0);
        free(m);
    }
    /* Text changed with its length: the signature fails. */
    {
        uint8_t *m = oa_test_exact_copy(buf, len);
        uint8_t *t = memmem(m, len, "5:hello", 7);

        assert_non_null(t);
        memcpy(t, "5:jello", 7);
        assert_int_equal(oa_lc_chat_decode(m, len, &back, err, sizeof(err)), OA_EPROTO);
        assert_non_null(strstr(err, "signature"));
        free(m);
    }
    /* Another sender's key in "from". */
    assert_int_equal(oa_lc_keygen(seed2, pub2), 0);
    {
        uint8_t *m = oa_test_exact_copy(buf, len);

        memcpy(m + 10, pub2, 32);
        assert_int_equal(oa_lc_chat_decode(m, len, &back, err, sizeof(err)), OA_EPROTO);
        free(m);
    }
    /* Truncations. */
    for (i = 0; i < len; i++) {
        assert_int_equal(decode_copy(buf, i, &back, err, sizeof(err)), OA_EPROTO);
    }
    free(buf);
}

static void test_text_limits(void **state)
{
    oa_lc_chat c;
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256] = "";
    char text[OA_LC_CHAT_MAX_TEXT + 2];

    (void)state;
    sample(&c, "");
    assert_int_equal(oa_lc_chat_sign(g_seed, &c, &buf, &len, err, sizeof(err)), OA_EINVAL);
    assert_non_null(strstr(err, "empty"));
    assert_null(buf);
    sample(&c, "bad \xc3\x28 utf-8");
    assert_int_equal(oa_lc_chat_sign(g_seed, &c, &buf, &len, err, sizeof(err)), OA_EINVAL);
    assert_non_null(strstr(err, "UTF-8"));
    sample(&c, "overlong \xc0\xaf");
    assert_int_equal(oa_lc_chat_sign(g_seed, &c, &buf, &len, err, sizeof(err)), OA_EINVAL);
    sample(&c, "surrogate \xed\xa0\x80");
    assert_int_equal(oa_lc_chat_sign(g_seed, &c, &buf, &len, err, sizeof(err)), OA_EINVAL);
    sample(&c, "cut \xe2\x82");
    assert_int_equal(oa_lc_chat_sign(g_seed, &c, &buf, &len, err, sizeof(err)), OA_EINVAL);
    /* 500 bytes pass, 501 do not. */
    memset(text, 'x', sizeof(text));
    text[OA_LC_CHAT_MAX_TEXT] = '\0';
    sample(&c, text);
    assert_int_equal(oa_lc_chat_sign(g_seed, &c, &buf, &len, err, sizeof(err)), 0);
    assert_true(len <= OA_LC_CHAT_MAX);
    free(buf);
    sample(&c, "");
    memset(c.text, 'x', sizeof(c.text)); /* no NUL: 501 bytes */
    assert_int_equal(oa_lc_chat_sign(g_seed, &c, &buf, &len, err, sizeof(err)), OA_EINVAL);
    assert_non_null(strstr(err, "longer"));
    sample(&c, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    assert_int_equal(oa_lc_chat_sign(g_seed, &c, &buf, &len, err, sizeof(err)), 0);
    free(buf);
    sample(&c, "x");
    c.kind = 2;
    assert_int_equal(oa_lc_chat_sign(g_seed, &c, &buf, &len, err, sizeof(err)), OA_EINVAL);
}

/* Messages built by hand: text too long, bad UTF-8, unknown keys, missing
 * keys. Unsigned here; each must fail before or at the signature. */
static void test_decode_refused(void **state)
{
    oa_lc_chat c;
    oa_lc_chat back;
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256] = "";
    char *big;
    size_t n;

    (void)state;
    sample(&c, "hey");
    assert_int_equal(oa_lc_chat_sign(g_seed, &c, &buf, &len, err, sizeof(err)), 0);
    /* Replace "4:text3:hey" by a 501-byte text. */
    {
        uint8_t *t = memmem(buf, len, "4:text3:hey", 11);
        size_t before = (size_t)(t - buf);
        size_t after = len - before - 11;
        int w;

        big = malloc(len + 600);
        assert_non_null(big);
        memcpy(big, buf, before);
        w = sprintf(big + before, "4:text501:");
        memset(big + before + w, 'a', 501);
        memcpy(big + before + w + 501, t + 11, after);
        n = before + (size_t)w + 501 + after;
        assert_int_equal(decode_copy(big, n, &back, err, sizeof(err)), OA_EPROTO);
        assert_non_null(strstr(err, "outside"));
        /* Bad UTF-8 of the same length as "hey". */
        memcpy(big, buf, len);
        memcpy(big + before, "4:text3:h\xff" "y", 11);
        assert_int_equal(decode_copy(big, len, &back, err, sizeof(err)), OA_EPROTO);
        assert_non_null(strstr(err, "UTF-8"));
        /* An unknown key in sorted place (before "ts"). */
        memcpy(big, buf, before + 11);
        memcpy(big + before + 11, "2:tri1e", 7);
        memcpy(big + before + 18, t + 11, after);
        assert_int_equal(decode_copy(big, len + 7, &back, err, sizeof(err)), OA_EPROTO);
        assert_non_null(strstr(err, "canonical"));
        /* Text missing. */
        memcpy(big, buf, before);
        memcpy(big + before, t + 11, after);
        assert_int_equal(decode_copy(big, len - 11, &back, err, sizeof(err)), OA_EPROTO);
        assert_non_null(strstr(err, "text"));
        free(big);
    }
    /* A kind 0 message carrying "target"/"until" is not canonical. */
    assert_int_equal(decode_copy("le", 2, &back, err, sizeof(err)), OA_EPROTO);
    assert_int_equal(decode_copy("d4:kindi2ee", 11, &back, err, sizeof(err)), OA_EPROTO);
    free(buf);
}

/* ---- tokens ------------------------------------------------------------- */

static void expect_tokens(const char *text, const char *want)
{
    oa_lc_token t[OA_LC_CHAT_MAX_TOKENS];
    char got[512] = "";
    size_t n = oa_lc_chat_tokens(text, t, OA_LC_CHAT_MAX_TOKENS);
    size_t i;

    for (i = 0; i < n && i < OA_LC_CHAT_MAX_TOKENS; i++) {
        size_t used = strlen(got);

        snprintf(got + used, sizeof(got) - used, "%s%c:%s@%zu+%zu", i > 0 ? " " : "",
                 t[i].kind, t[i].name, t[i].off, t[i].len);
        /* The token's bytes are what off/len say. */
        if (t[i].kind == 'm') {
            assert_int_equal(text[t[i].off], '@');
            assert_int_equal(t[i].len, strlen(t[i].name) + 1);
        } else {
            assert_int_equal(text[t[i].off], ':');
            assert_int_equal(text[t[i].off + t[i].len - 1], ':');
            assert_int_equal(t[i].len, strlen(t[i].name) + 2);
        }
        assert_memory_equal(text + t[i].off + 1, t[i].name, strlen(t[i].name));
    }
    if (strcmp(got, want) != 0) {
        fail_msg("tokens of \"%s\": got \"%s\", want \"%s\"", text, got, want);
    }
}

static void test_tokens(void **state)
{
    oa_lc_token t[2];

    (void)state;
    expect_tokens("hello", "");
    expect_tokens("", "");
    expect_tokens("@bob hi", "m:bob@0+4");
    expect_tokens("hi @bob_1.x-y", "m:bob_1.x-y@3+10");
    expect_tokens("hi @bob.", "m:bob@3+4");
    expect_tokens("hi @bob, @al!", "m:bob@3+4 m:al@9+3");
    expect_tokens("a@b", "");
    expect_tokens("mail me: a@b.c", "");
    expect_tokens("@", "");
    expect_tokens("@ bob", "");
    expect_tokens("@@bob", "");
    expect_tokens("x\t@tab", "m:tab@2+4");
    expect_tokens("@jos\xc3\xa9 hi", "");
    expect_tokens("@abcdefghijabcdefghijabcdefghijab", "m:abcdefghijabcdefghijabcdefghijab@0+33");
    expect_tokens("@abcdefghijabcdefghijabcdefghijabc", "");
    expect_tokens(":wave:", "e:wave@0+6");
    expect_tokens("hi :+1: :thumbs_up-2:", "e:+1@3+4 e:thumbs_up-2@8+13");
    expect_tokens("::", "");
    expect_tokens(":x", "");
    expect_tokens("x:", "");
    expect_tokens(":::", "");
    expect_tokens("::smile::", "e:smile@1+7");
    expect_tokens(":a:b:", "e:a@0+3");
    expect_tokens(":a b:", "");
    expect_tokens(":too long to be an emote:", "");
    expect_tokens(":caf\xc3\xa9:", "");
    expect_tokens("\xf0\x9f\x98\x80 :ok: @\xc3\xa9 @ok", "e:ok@5+4 m:ok@14+3");
    expect_tokens(":abcdefghijabcdefghijabcdefghijab:", "e:abcdefghijabcdefghijabcdefghijab@0+34");
    expect_tokens(":abcdefghijabcdefghijabcdefghijabc:", "");
    expect_tokens("a:x:b", "e:x@1+3");
    /* Counted beyond max, only max written. */
    assert_int_equal(oa_lc_chat_tokens(":a: :b: :c: @d", t, 2), 4);
    assert_int_equal(t[1].kind, 'e');
    assert_string_equal(t[1].name, "b");
    assert_int_equal(oa_lc_chat_tokens(":a: :b:", NULL, 0), 2);
    assert_int_equal(oa_lc_chat_tokens(NULL, t, 2), 0);
}

/* ---- bucket ------------------------------------------------------------- */

static void test_bucket(void **state)
{
    oa_lc_bucket b = {0};
    int64_t now = 5000000;
    int i;

    (void)state;
    /* A zeroed bucket starts full: burst 5 pass, the 6th does not. */
    for (i = 0; i < 5; i++) {
        assert_true(oa_lc_bucket_take(&b, now, 5, 20));
    }
    assert_false(oa_lc_bucket_take(&b, now, 5, 20));
    /* 20 a minute: one token every 3 s. */
    now += 2999;
    assert_false(oa_lc_bucket_take(&b, now, 5, 20));
    now += 1;
    assert_true(oa_lc_bucket_take(&b, now, 5, 20));
    assert_false(oa_lc_bucket_take(&b, now, 5, 20));
    /* A long pause refills to burst, not beyond. */
    now += 3600 * 1000;
    for (i = 0; i < 5; i++) {
        assert_true(oa_lc_bucket_take(&b, now, 5, 20));
    }
    assert_false(oa_lc_bucket_take(&b, now, 5, 20));
    /* A clock going back refills nothing and breaks nothing. */
    assert_false(oa_lc_bucket_take(&b, now - 10000, 5, 20));
    assert_false(oa_lc_bucket_take(&b, now, 5, 20));
    /* A steady sender at the rate always passes. */
    for (i = 0; i < 100; i++) {
        now += 3000;
        assert_true(oa_lc_bucket_take(&b, now, 5, 20));
    }
    /* No refill rate: only the burst. */
    memset(&b, 0, sizeof(b));
    assert_true(oa_lc_bucket_take(&b, now, 1, 0));
    assert_false(oa_lc_bucket_take(&b, now + 100000, 1, 0));
    assert_false(oa_lc_bucket_take(&b, now, 0, 60));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_decode),
        cmocka_unit_test(test_mute),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_text_limits),
        cmocka_unit_test(test_decode_refused),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_bucket),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}

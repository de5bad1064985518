#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *oa_test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/oa-test-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(tmpl) == NULL) {
        return NULL;
    }
    return strdup(tmpl);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void oa_test_rmtree(const char *path)
{
    if (path != NULL) {
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
}

char *oa_test_path(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p != NULL) {
        snprintf(p, n, "%s/%s", a, b);
    }
    return p;
}

static uint64_t rng_state = 1;

void oa_test_rng_seed(uint64_t seed)
{
    rng_state = seed != 0 ? seed : 1;
}

uint64_t oa_test_rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

size_t oa_test_rng_below(size_t n)
{
    return n == 0 ? 0 : (size_t)(oa_test_rng() % n);
}

void *oa_test_exact_copy(const void *bytes, size_t n)
{
    void *copy = malloc(n > 0 ? n : 1);
    if (copy != NULL && n > 0) {
        memcpy(copy, bytes, n);
    }
    return copy;
}

/* Small helpers shared by the unit tests. */
#ifndef OA_TESTUTIL_H
#define OA_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Creates a fresh empty temporary directory and returns its path (static
 * storage per call site is not needed: the string is malloc'd, free()). */
char *oa_test_tmpdir(void);
/* Removes a directory tree (best effort). */
void oa_test_rmtree(const char *path);
/* Joins a and b with '/' into a malloc'd string. */
char *oa_test_path(const char *a, const char *b);

/* A deterministic xorshift64 generator for fuzz loops and random tests:
 * the same sequence for a seed on every platform. Seed must not be 0. */
void oa_test_rng_seed(uint64_t seed);
uint64_t oa_test_rng(void);
/* A number in [0, n); 0 when n is 0. */
size_t oa_test_rng_below(size_t n);

/* An exact-size heap copy of n bytes (at least one byte is allocated), so
 * that AddressSanitizer catches any read past the end. free() it. */
void *oa_test_exact_copy(const void *bytes, size_t n);

#endif

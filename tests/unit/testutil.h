/* Small helpers shared by the unit tests. */
#ifndef OA_TESTUTIL_H
#define OA_TESTUTIL_H

#include <stddef.h>

/* Creates a fresh empty temporary directory and returns its path (static
 * storage per call site is not needed: the string is malloc'd, free()). */
char *oa_test_tmpdir(void);
/* Removes a directory tree (best effort). */
void oa_test_rmtree(const char *path);
/* Joins a and b with '/' into a malloc'd string. */
char *oa_test_path(const char *a, const char *b);

#endif

/* Validation of setting values against a plugin's config schema. The same
 * check runs for the UI, the API, Lua, the offline command line and the
 * plugin's own config_set. */
#ifndef OA_HOST_CONFIG_H
#define OA_HOST_CONFIG_H

#include <openace/sdk.h>
#include <stddef.h>

/* Finds key in a NULL-key-terminated schema; NULL if absent. */
const oa_config_def *oa_config_find(const oa_config_def *schema, const char *key);

/* Checks value against def. On success writes the normalised text (e.g.
 * "yes" -> "true", " 42" refused) into norm (normlen bytes) and returns 0.
 * On failure returns OA_ETYPE, OA_ERANGE or OA_EINVAL and writes a sentence
 * naming the key and the reason into err. */
int oa_config_validate(const oa_config_def *def, const char *value, char *norm, size_t normlen,
                       char *err, size_t errlen);

/* Checks a whole schema: key syntax, duplicates, known types, defaults that
 * pass their own validation. Returns 0 or OA_EINVAL with a sentence. */
int oa_config_check_schema(const oa_config_def *schema, char *err, size_t errlen);

const char *oa_config_type_name(oa_config_type t);

#endif

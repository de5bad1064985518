/* Scripts: the Lua automation scripts an administrator manages. Sources,
 * enabled flags and the last error live in the store (table scripts); the
 * runtime (lua.h) runs the enabled ones. This module keeps the two in step:
 * a script is stored as changed only when the runtime accepted it, and one
 * the runtime's failure policy disables is stored disabled with its reason.
 * Loop thread only. */
#ifndef OA_HOST_SCRIPTS_H
#define OA_HOST_SCRIPTS_H

#include <stddef.h>
#include <stdint.h>

#include "lua.h"

struct oa_host;
typedef struct oa_scripts oa_scripts;

/* Longest script name and source accepted. */
#define OA_SCRIPT_NAME_MAX 64
#define OA_SCRIPT_SOURCE_MAX (512u * 1024u)

/* What the admin API shows of one script. Strings are allocated; free the
 * whole view with oa_script_view_free. */
typedef struct oa_script_view {
    char *name;
    char *source;     /* NULL in listings */
    int enabled;      /* stored flag */
    int running;      /* loaded in the runtime and not disabled by its policy */
    unsigned failures; /* consecutive callback errors of the running script */
    char *last_error; /* the newest callback error of a running script, else
                         the stored error (why it did not load or was
                         stopped); NULL when there is none */
    int64_t updated;  /* unix seconds of the last stored change, 0 if unknown */
} oa_script_view;

/* 1 when name is a valid script name: 1-64 characters of [a-z0-9_-]. */
int oa_scripts_name_valid(const char *name);

/* Sets up script management for host h over the runtime L (not owned; it
 * must outlive the returned handle). On the first start (the store has no
 * "host"/"scripts_seeded" kv flag) every *.lua file in install_dir (may be
 * NULL: nothing to import) is imported as a DISABLED script named after the
 * file; examples never run before an administrator enables them. Then every
 * enabled script is loaded; one that fails is logged and keeps its error in
 * last_error, without failing the host. Installs the runtime's disabled
 * hook. Returns 0, OA_EINVAL (no host, store or runtime), OA_ENOMEM, or
 * OA_EIO when the store cannot be read. */
int oa_scripts_open(struct oa_host *h, oa_lua *L, const char *install_dir, oa_scripts **out);

/* Removes the runtime's disabled hook and the /api/scripts route (when the
 * host's dispatcher is still open), and frees s. The scripts keep running:
 * oa_lua_free, called afterwards, stops them. NULL is a no-op. */
void oa_scripts_close(oa_scripts *s);

/* The host s was opened for. */
struct oa_host *oa_scripts_host(oa_scripts *s);

/* Every stored script, ordered by name, without sources. *views is an array
 * of *n views; free with oa_script_views_free. Returns 0, OA_EIO, OA_ENOMEM. */
int oa_scripts_list(oa_scripts *s, oa_script_view **views, size_t *n);
void oa_script_views_free(oa_script_view *views, size_t n);

/* One script with its source. OA_ENOENT when none has that name. Free the
 * view with oa_script_view_free. */
int oa_scripts_get(oa_scripts *s, const char *name, oa_script_view *view);
void oa_script_view_free(oa_script_view *view);

/* Creates or replaces the source of a script. enabled is 1 or 0, or -1 to
 * keep the stored flag (a new script is enabled). An enabled script is
 * loaded into the runtime first; a disabled one is only compiled, and
 * stopped if it runs. On refusal nothing is stored, a running script of
 * that name keeps running, err gets the reason ("name:line: message" for a
 * script error) and the result is OA_EINVAL; OA_EIO when the store fails
 * (the runtime then runs what was stored before). */
int oa_scripts_put(oa_scripts *s, const char *name, const char *source, int enabled, char *err,
                   size_t errlen);

/* Loads a stored script and, only if it loads, stores it enabled. A script
 * already running stays as it is. OA_ENOENT unknown name, OA_EINVAL the
 * script failed to load (err has the error), OA_EIO store failure. */
int oa_scripts_enable(oa_scripts *s, const char *name, char *err, size_t errlen);
/* Stops a script and stores it disabled. OA_ENOENT unknown, OA_EIO. */
int oa_scripts_disable(oa_scripts *s, const char *name, char *err, size_t errlen);
/* Stops a script and deletes it from the store. OA_ENOENT unknown, OA_EIO. */
int oa_scripts_delete(oa_scripts *s, const char *name, char *err, size_t errlen);

/* The line number in a script error ("name:12: message"), or 0 when the
 * first line of err carries none. */
int oa_scripts_error_line(const char *err);

/* Registers the routes under /api/scripts (docs/admin-api.md, "Scripts") on
 * h->http, needing a login; changes are audited as script.put,
 * script.enable, script.disable and script.delete. The route is owned by s
 * and removed by oa_scripts_close. Returns 0, OA_EINVAL when h has no
 * dispatcher or s belongs to another host, or what oa_http_route reports
 * (OA_EEXIST when registered twice). */
int oa_admin_scripts_register(struct oa_host *h, oa_scripts *s);

#endif

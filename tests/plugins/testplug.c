/* One source, built several times with different defects, for the loader
 * and registry tests. Macros:
 *   TP_NAME        descriptor name (default "test-good")
 *   TP_MAJOR/TP_MINOR  SDK version it claims
 *   TP_SIZE        struct_size it claims
 *   TP_NO_ENTRY    export no entry symbol
 *   TP_NO_STOP     leave the stop callback NULL
 *   TP_FAIL_INIT   init fails with a reason
 *   TP_REQUIRES    one required name
 *   TP_CRASH       the library constructor crashes (SIGSEGV) on load
 *   TP_UNDEF       start() calls a function no library defines
 */
#include <openace/sdk.h>

#include <signal.h>
#include <stdlib.h>

#ifdef TP_CRASH
__attribute__((constructor)) static void tp_boom(void)
{
    raise(SIGSEGV);
}
#endif

#ifndef TP_NAME
#define TP_NAME "test-good"
#endif
#ifndef TP_MAJOR
#define TP_MAJOR OA_SDK_MAJOR
#endif
#ifndef TP_MINOR
#define TP_MINOR OA_SDK_MINOR
#endif
#ifndef TP_SIZE
#define TP_SIZE sizeof(oa_plugin_desc)
#endif

static int tp_init(oa_plugin *self, const oa_host_api *api, void **state)
{
#ifdef TP_FAIL_INIT
    api->set_error(self, "test plugin refuses to initialise");
    (void)state;
    return OA_EFAIL;
#else
    (void)self;
    (void)api;
    *state = malloc(1);
    return *state != NULL ? 0 : OA_ENOMEM;
#endif
}

#ifdef TP_UNDEF
int oa_host_internal_function(void);
#endif

static int tp_start(void *state)
{
    (void)state;
#ifdef TP_UNDEF
    return oa_host_internal_function();
#else
    return 0;
#endif
}

#ifndef TP_NO_STOP
static void tp_stop(void *state)
{
    (void)state;
}
#endif

static void tp_destroy(void *state)
{
    free(state);
}

#ifdef TP_REQUIRES
static const char *const tp_requires[] = {TP_REQUIRES, NULL};
#endif

static const oa_plugin_desc tp_desc = {
    .sdk_major = TP_MAJOR,
    .sdk_minor = TP_MINOR,
    .struct_size = (uint32_t)(TP_SIZE),
    .name = TP_NAME,
    .version = "0.0.1",
    .kind = OA_KIND_ENGINE,
    .summary = "test plugin",
    .license = "MIT",
#ifdef TP_REQUIRES
    .requires = tp_requires,
#endif
    .init = tp_init,
    .start = tp_start,
#ifndef TP_NO_STOP
    .stop = tp_stop,
#endif
    .destroy = tp_destroy,
};

#ifdef TP_NO_ENTRY
/* A symbol so the library is not empty, but not the entry point. */
OA_EXPORT const oa_plugin_desc *not_the_entry(void);
OA_EXPORT const oa_plugin_desc *not_the_entry(void) { return &tp_desc; }
#else
OA_PLUGIN_ENTRY(tp_desc)
#endif

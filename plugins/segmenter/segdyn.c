/*
 * libavfilter and libavdevice loaded when a job needs them (segdyn.h).
 */
#include "segdyn.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include <libavdevice/avdevice.h>
#include <libavutil/macros.h>

#include <openace/sdk.h>

#define AVFILTER_SONAME "libavfilter.so." AV_STRINGIFY(LIBAVFILTER_VERSION_MAJOR)
#define AVFILTER_DEB "libavfilter" AV_STRINGIFY(LIBAVFILTER_VERSION_MAJOR)
#define AVDEVICE_SONAME "libavdevice.so." AV_STRINGIFY(LIBAVDEVICE_VERSION_MAJOR)
#define AVDEVICE_DEB "libavdevice" AV_STRINGIFY(LIBAVDEVICE_VERSION_MAJOR)

/* Written once under pthread_once(), read only after it returned. */
static pthread_once_t avfilter_once = PTHREAD_ONCE_INIT;
static segdyn_avfilter avfilter_table;
static int avfilter_ok;
static char avfilter_error[300];

static pthread_once_t avdevice_once = PTHREAD_ONCE_INIT;
static int avdevice_ok;
static char avdevice_error[300];

/* dlerror()'s text, or a stand-in when it has none. */
static const char *dl_reason(void)
{
    const char *e = dlerror();
    return e != NULL ? e : "no reason given";
}

/* Opens a library for good: RTLD_LOCAL keeps its symbols out of the global
 * scope, and the handle is never closed (its allocations and FFmpeg's
 * registrations outlive every job). */
static void *open_library(const char *soname)
{
    return dlopen(soname, RTLD_NOW | RTLD_LOCAL);
}

static void load_avfilter(void)
{
    void *h = open_library(AVFILTER_SONAME);
    segdyn_avfilter t;

    if (h == NULL) {
        snprintf(avfilter_error, sizeof(avfilter_error),
                 "lavfi inputs need libavfilter (Debian package " AVFILTER_DEB "): %s.",
                 dl_reason());
        return;
    }
    (void)dlerror();
#define SEGDYN_RESOLVE(name)                                                                  \
    t.name = (__typeof__(t.name))dlsym(h, #name);                                             \
    if (t.name == NULL) {                                                                     \
        snprintf(avfilter_error, sizeof(avfilter_error),                                      \
                 "lavfi inputs need libavfilter (Debian package " AVFILTER_DEB                \
                 "), but the loaded " AVFILTER_SONAME " lacks " #name ": %s.",                \
                 dl_reason());                                                                \
        return;                                                                               \
    }
    SEGDYN_AVFILTER_FUNCS(SEGDYN_RESOLVE)
#undef SEGDYN_RESOLVE
    avfilter_table = t;
    avfilter_ok = 1;
}

const segdyn_avfilter *segdyn_avfilter_load(char *reason, size_t len)
{
    pthread_once(&avfilter_once, load_avfilter);
    if (!avfilter_ok) {
        snprintf(reason, len, "%s", avfilter_error);
        return NULL;
    }
    return &avfilter_table;
}

static void load_avdevice(void)
{
    void *h = open_library(AVDEVICE_SONAME);
    __typeof__(&avdevice_register_all) register_all;

    if (h == NULL) {
        snprintf(avdevice_error, sizeof(avdevice_error),
                 "capture devices need libavdevice (Debian package " AVDEVICE_DEB "): %s.",
                 dl_reason());
        return;
    }
    (void)dlerror();
    register_all = (__typeof__(register_all))dlsym(h, "avdevice_register_all");
    if (register_all == NULL) {
        snprintf(avdevice_error, sizeof(avdevice_error),
                 "capture devices need libavdevice (Debian package " AVDEVICE_DEB
                 "), but the loaded " AVDEVICE_SONAME " lacks avdevice_register_all: %s.",
                 dl_reason());
        return;
    }
    register_all();
    avdevice_ok = 1;
}

int segdyn_avdevice_register(char *reason, size_t len)
{
    pthread_once(&avdevice_once, load_avdevice);
    if (!avdevice_ok) {
        snprintf(reason, len, "%s", avdevice_error);
        return OA_ENOSYS;
    }
    return 0;
}

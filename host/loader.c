/* Loader: opens plugin files with libltdl and checks their descriptors. */
#include "loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <ltdl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

static int loader_ready;
static unsigned probes;

unsigned oa_loader_probe_count(void)
{
    return probes;
}

int oa_loader_init(void)
{
    if (loader_ready) {
        return 0;
    }
    if (lt_dlinit() != 0) {
        return OA_EIO;
    }
    loader_ready = 1;
    return 0;
}

void oa_loader_exit(void)
{
    if (loader_ready) {
        lt_dlexit();
        loader_ready = 0;
    }
}

const char *oa_kind_name(oa_plugin_kind k)
{
    switch (k) {
    case OA_KIND_TRANSPORT: return "transport";
    case OA_KIND_ENGINE: return "engine";
    case OA_KIND_HWACCEL: return "hwaccel";
    case OA_KIND_CODEC: return "codec";
    }
    return "unknown";
}

static int name_valid(const char *s)
{
    size_t n = 0;
    if (s == NULL || *s == '\0') {
        return 0;
    }
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok || n >= 64) {
            return 0;
        }
    }
    return 1;
}

static int list_valid(const char *const *list, const char *what, const char *plugin, char *err,
                      size_t errlen)
{
    if (list == NULL) {
        return 0;
    }
    for (size_t i = 0; list[i] != NULL; i++) {
        if (!name_valid(list[i])) {
            snprintf(err, errlen, "plugin '%s' has an invalid %s entry '%s' (use [a-z0-9_-])",
                     plugin, what, list[i]);
            return OA_EINVAL;
        }
        if (i >= 64) {
            snprintf(err, errlen, "plugin '%s' lists more than 64 %s entries", plugin, what);
            return OA_EINVAL;
        }
    }
    return 0;
}

int oa_loader_check_desc(const oa_plugin_desc *d, char *err, size_t errlen)
{
    int rc;
    char cerr[256];

    if (d == NULL) {
        snprintf(err, errlen, "oa_plugin_entry() returned NULL instead of a descriptor");
        return OA_EINVAL;
    }
    if (d->sdk_major != OA_SDK_MAJOR) {
        snprintf(err, errlen,
                 "built for SDK %u.%u, but this host provides SDK %d.%d (major versions must "
                 "match); rebuild the plugin against SDK %d.x",
                 d->sdk_major, d->sdk_minor, OA_SDK_MAJOR, OA_SDK_MINOR, OA_SDK_MAJOR);
        return OA_EVERSION;
    }
    if (d->sdk_minor > OA_SDK_MINOR) {
        snprintf(err, errlen,
                 "built for SDK %u.%u, newer than this host's SDK %d.%d; upgrade openace or "
                 "rebuild the plugin against SDK %d.%d",
                 d->sdk_major, d->sdk_minor, OA_SDK_MAJOR, OA_SDK_MINOR, OA_SDK_MAJOR,
                 OA_SDK_MINOR);
        return OA_EVERSION;
    }
    if (d->struct_size < OA_PLUGIN_DESC_MIN_SIZE) {
        snprintf(err, errlen,
                 "descriptor is %u bytes, smaller than the %zu bytes SDK %d.0 requires; use "
                 "OA_PLUGIN_HEADER to fill it",
                 d->struct_size, (size_t)OA_PLUGIN_DESC_MIN_SIZE, OA_SDK_MAJOR);
        return OA_EINVAL;
    }
    if (!name_valid(d->name)) {
        snprintf(err, errlen, "descriptor name %s%s%s is not valid (1 to 64 of [a-z0-9_-])",
                 d->name ? "'" : "", d->name ? d->name : "(null)", d->name ? "'" : "");
        return OA_EINVAL;
    }
    if (d->version == NULL || *d->version == '\0') {
        snprintf(err, errlen, "plugin '%s' has no version string", d->name);
        return OA_EINVAL;
    }
    if (d->kind < OA_KIND_TRANSPORT || d->kind > OA_KIND_CODEC) {
        snprintf(err, errlen, "plugin '%s' has an unknown kind %d", d->name, (int)d->kind);
        return OA_EINVAL;
    }
    if (d->init == NULL || d->start == NULL || d->stop == NULL || d->destroy == NULL) {
        snprintf(err, errlen, "plugin '%s' lacks the mandatory %s callback", d->name,
                 d->init == NULL    ? "init"
                 : d->start == NULL ? "start"
                 : d->stop == NULL  ? "stop"
                                    : "destroy");
        return OA_EINVAL;
    }
    rc = list_valid(d->requires, "requires", d->name, err, errlen);
    if (rc != 0) {
        return rc;
    }
    rc = list_valid(d->provides, "provides", d->name, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (oa_config_check_schema(d->config, cerr, sizeof(cerr)) != 0) {
        snprintf(err, errlen, "plugin '%s' has a bad config schema: %s", d->name, cerr);
        return OA_EINVAL;
    }
    return 0;
}

int oa_loader_load(const char *file, const oa_plugin_desc **desc, char *err, size_t errlen)
{
    lt_dladvise advise;
    lt_dlhandle handle = NULL;
    oa_plugin_entry_fn entry;
    const oa_plugin_desc *d;
    int rc;

    *desc = NULL;
    /* A bare "my.so" means the file here, not a search of library paths. */
    if (strchr(file, '/') == NULL) {
        char *local = malloc(strlen(file) + 3);
        if (local == NULL) {
            return OA_ENOMEM;
        }
        sprintf(local, "./%s", file);
        rc = oa_loader_load(local, desc, err, errlen);
        free(local);
        return rc;
    }
    rc = oa_loader_init();
    if (rc != 0) {
        snprintf(err, errlen, "cannot initialise libltdl: %s", lt_dlerror());
        return rc;
    }
    if (lt_dladvise_init(&advise) != 0) {
        snprintf(err, errlen, "cannot initialise libltdl: %s", lt_dlerror());
        return OA_ENOMEM;
    }
    /* RTLD_LOCAL: one plugin's symbols never resolve another's. Open the
     * exact file: no extension search, no library path. */
    lt_dladvise_local(&advise);
    handle = lt_dlopenadvise(file, advise);
    lt_dladvise_destroy(&advise);
    if (handle == NULL) {
        const char *why = lt_dlerror();
        snprintf(err, errlen, "cannot load: %s", why ? why : "unknown error");
        return OA_EIO;
    }
    entry = (oa_plugin_entry_fn)(uintptr_t)lt_dlsym(handle, OA_PLUGIN_ENTRY_SYMBOL);
    if (entry == NULL) {
        snprintf(err, errlen,
                 "no '%s' symbol: not an OpenAce plugin, or built without OA_PLUGIN_ENTRY",
                 OA_PLUGIN_ENTRY_SYMBOL);
        /* Never unloaded while the host runs (a foreign library's destructor
         * could run code we did not vet); released at oa_loader_exit. */
        return OA_EINVAL;
    }
    d = entry();
    rc = oa_loader_check_desc(d, err, errlen);
    if (rc != 0) {
        if (d != NULL && d->sdk_major == OA_SDK_MAJOR && d->struct_size >= OA_PLUGIN_DESC_MIN_SIZE &&
            name_valid(d->name)) {
            *desc = d;
        }
        return rc;
    }
    *desc = d;
    return 0;
}

/* The child's answer: "<rc>\n<name>\n<reason>". */
static void probe_child(int fd, const char *file)
{
    const oa_plugin_desc *d = NULL;
    char err[1024] = "";
    char out[1200];
    const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    int rc;
    int n;
    /* A crash must end this child, whatever handlers the parent had. */
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
        signal(fatal[i], SIG_DFL);
    }
    /* Bind every symbol now: a plugin that calls something neither it nor
     * its libraries define (a host-internal function, say) is refused here
     * rather than killing the engine when the call first happens. */
    if (strchr(file, '/') != NULL) {
        void *strict = dlopen(file, RTLD_NOW | RTLD_LOCAL);
        if (strict == NULL) {
            const char *why = dlerror();
            n = snprintf(out, sizeof(out), "%d\n\ncannot load: %s", OA_EIO,
                         why ? why : "unknown error");
            if (n > 0) {
                ssize_t w = write(fd, out, (size_t)n < sizeof(out) ? (size_t)n : sizeof(out) - 1);
                (void)w;
            }
            _exit(0);
        }
    }
    rc = oa_loader_load(file, &d, err, sizeof(err));
    n = snprintf(out, sizeof(out), "%d\n%s\n%s", rc, d != NULL ? d->name : "", err);
    if (n > 0) {
        ssize_t w = write(fd, out, (size_t)n < sizeof(out) ? (size_t)n : sizeof(out) - 1);
        (void)w;
    }
    _exit(0);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int oa_loader_probe(const char *file, unsigned timeout_ms, char *name, size_t namelen, char *err,
                    size_t errlen)
{
    char buf[1200];
    size_t got = 0;
    int fds[2];
    int status = 0;
    int timed_out = 0;
    uint64_t deadline = mono_ms() + timeout_ms;
    pid_t pid;

    name[0] = '\0';
    if (strchr(file, '/') == NULL) {
        char local[4096];
        snprintf(local, sizeof(local), "./%s", file);
        return oa_loader_probe(local, timeout_ms, name, namelen, err, errlen);
    }
    probes++;
    if (pipe(fds) != 0) {
        snprintf(err, errlen, "cannot probe: pipe: %s", strerror(errno));
        return OA_EIO;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot probe: fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return OA_EIO;
    }
    if (pid == 0) {
        close(fds[0]);
        probe_child(fds[1], file);
    }
    close(fds[1]);
    for (;;) {
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        uint64_t now = mono_ms();
        ssize_t r;
        int pr;
        if (now >= deadline) {
            timed_out = 1;
            break;
        }
        pr = poll(&pfd, 1, (int)(deadline - now));
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr <= 0) {
            timed_out = pr == 0;
            break;
        }
        r = read(fds[0], buf + got, sizeof(buf) - 1 - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
        if (got >= sizeof(buf) - 1) {
            break;
        }
    }
    close(fds[0]);
    if (timed_out) {
        kill(pid, SIGKILL);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    buf[got] = '\0';
    if (timed_out) {
        snprintf(err, errlen, "did not finish loading within %u ms (a library constructor "
                 "hangs?)", timeout_ms);
        return OA_ETIMEDOUT;
    }
    if (WIFSIGNALED(status)) {
        snprintf(err, errlen, "crashed while loading (signal %d, %s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
        return OA_EFAIL;
    }
    {
        char *nl1 = strchr(buf, '\n');
        char *nl2 = nl1 != NULL ? strchr(nl1 + 1, '\n') : NULL;
        int rc;
        if (nl1 == NULL || nl2 == NULL) {
            snprintf(err, errlen, "exited while loading (status %d) without an answer",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            return OA_EFAIL;
        }
        *nl1 = '\0';
        *nl2 = '\0';
        rc = atoi(buf);
        snprintf(name, namelen, "%s", nl1 + 1);
        snprintf(err, errlen, "%s", nl2 + 1);
        return rc > 0 ? OA_EFAIL : rc;
    }
}

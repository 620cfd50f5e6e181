/* hook_common.c: what every transport hook shares: the process context
 * (built once, reset in a forked child), lookup of the real functions and
 * the diagnostics.  Must never exit or abort the host, and never call a
 * hooked function while initialising. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hook.h"

__thread int al_in_hook;
__thread int al_in_curl;

static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;
static al_ctx ctx;
static int init_started, init_done;
static int debug_on = -1; /* -1: AIRLOCK_DEBUG not read yet */

/* Writes s to stderr with the raw system call: write() may be hooked. */
static void put_stderr(const char *s, size_t n)
{
    int saved = errno;
    while (n > 0) {
        long w = syscall(SYS_write, 2, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        s += w;
        n -= (size_t)w;
    }
    errno = saved;
}

static void vline(const char *fmt, va_list ap)
{
    char line[512];
    int off = snprintf(line, sizeof line, "airlock: ");
    int n = vsnprintf(line + off, sizeof line - (size_t)off - 1, fmt, ap);
    size_t len = (size_t)off + (n < 0 ? 0 : (size_t)n);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    put_stderr(line, len);
}

void al_hook_debug(const char *fmt, ...)
{
    if (debug_on < 0) {
        const char *d = getenv("AIRLOCK_DEBUG");
        debug_on = d && *d && strcmp(d, "0") != 0;
    }
    if (!debug_on) return;
    va_list ap;
    va_start(ap, fmt);
    vline(fmt, ap);
    va_end(ap);
}

void al_hook_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline(fmt, ap);
    va_end(ap);
}

void al_hook_env_modes(int *monitor, int *fail_open)
{
    const char *m = getenv("AIRLOCK_MODE"), *f = getenv("AIRLOCK_FAIL");
    *monitor = m && !strcasecmp(m, "monitor");
    *fail_open = f && !strcasecmp(f, "open");
}

void *al_hook_real(const char *sym, void *self, const char *const *sonames)
{
    void *p = dlsym(RTLD_NEXT, sym);
    if (p == self) p = NULL;
    for (size_t i = 0; !p && sonames && sonames[i]; i++) {
        void *h = dlopen(sonames[i], RTLD_LAZY | RTLD_NOLOAD);
        if (!h) continue;
        p = dlsym(h, sym);
        if (p == self) p = NULL;
        dlclose(h); /* drops only the reference NOLOAD took */
    }
    if (!p) al_hook_debug("real %s not found", sym);
    return p;
}

/* <dir of this library>/../rules when it exists, else the installed packs.
 * Worked out when the library is loaded, before the program can change
 * directory (LD_PRELOAD may name the library by a relative path). */
static char rules_dir[PATH_MAX];

__attribute__((constructor)) static void find_rules_dir(void)
{
    Dl_info info;
    char lib[PATH_MAX];
    if (!dladdr((void *)find_rules_dir, &info) || !info.dli_fname || !realpath(info.dli_fname, lib))
        return;
    char *slash = strrchr(lib, '/');
    if (!slash) return;
    *slash = '\0';
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/../rules", lib);
    struct stat sb;
    if (n > 0 && (size_t)n < sizeof path && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) &&
        !realpath(path, rules_dir))
        rules_dir[0] = '\0';
}

static const char *default_rules(void)
{
    return rules_dir[0] ? rules_dir : AL_PREFIX "/share/airlock/rules";
}

static void atfork_child(void)
{
    /* A fork during another thread's init leaves the once control locked in
     * the child: start over.  A finished context is immutable and the child
     * keeps it (the audit descriptor is O_APPEND, one write per line). */
    if (init_started && !init_done) {
        ctx_once = (pthread_once_t)PTHREAD_ONCE_INIT;
        init_started = 0;
        memset(&ctx, 0, sizeof ctx);
        ctx.audit_fd = -1;
    } else if (init_done) {
        al_ctx_after_fork(&ctx); /* a rules load under way in another thread */
    }
    debug_on = -1;
}

/* ctx.warn: the rules-not-loaded line, at the first LLM call */
static void warn_line(const char *line)
{
    const char *m = strncmp(line, "airlock: ", 9) == 0 ? line + 9 : line;
    size_t n = strlen(m);
    while (n > 0 && m[n - 1] == '\n') n--;
    al_hook_warn("%.*s", (int)n, m);
}

static void ctx_init(void)
{
    al_in_hook++;
    __atomic_store_n(&init_started, 1, __ATOMIC_SEQ_CST);
    static int atfork_registered;
    if (!atfork_registered) {
        atfork_registered = 1;
        pthread_atfork(NULL, NULL, atfork_child);
    }
    char err[512] = "";
    const char *rules = default_rules();
    if (al_ctx_from_env(&ctx, rules, err, sizeof err) != AL_OK && !err[0])
        snprintf(err, sizeof err, "cannot set up from the environment");
    ctx.warn = warn_line;
    if (err[0]) {
        /* al_ctx_from_env's message may already carry the prefix. */
        const char *m = strncmp(err, "airlock: ", 9) == 0 ? err + 9 : err;
        size_t n = strlen(m);
        while (n > 0 && m[n - 1] == '\n') n--;
        al_hook_warn("%.*s", (int)n, m);
    }
    al_hook_debug("initialised: rules %s, engine %s, mode %s, fail %s",
                  getenv("AIRLOCK_RULES") ? "from AIRLOCK_RULES" : rules,
                  ctx.lazy ? "loaded at the first LLM call" : "absent",
                  ctx.mode == AL_MODE_MONITOR ? "monitor" : "enforce",
                  ctx.fail == AL_FAIL_OPEN ? "open" : "closed");
    __atomic_store_n(&init_done, 1, __ATOMIC_SEQ_CST);
    al_in_hook--;
}

const al_ctx *al_hook_ctx(void)
{
    pthread_once(&ctx_once, ctx_init);
    return &ctx;
}

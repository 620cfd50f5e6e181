/* ctx.c: builds the process-wide context from the environment: rule packs,
 * mode, fail mode, audit log, body cap and policy overrides.  Never fails
 * hard: what cannot be loaded is reported once (errbuf at set-up, the warn
 * callback for the rule packs) and fail mode decides.  The rule packs load on
 * first need (al_ctx_engine), so a process that never calls an LLM does not
 * pay for them.  Opens exactly one descriptor (the audit log). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "budget.h"
#include "exchange.h"
#include "policy.h"
#include "scancache.h"
#include "signmem.h"

struct al_ctx_lazy {
    pthread_mutex_t mu;
    int done;          /* atomic: engine (or its failure) is final */
    al_engine *engine; /* NULL when the packs could not be loaded */
    char path[];       /* the resolved AIRLOCK_RULES or default */
};

static void note(char *errbuf, size_t errlen, const char *fmt, const char *a, const char *b)
{
    if (!errbuf || !errlen || errbuf[0]) return; /* keep the first message */
    snprintf(errbuf, errlen, fmt, a, b);
}

al_code al_ctx_from_env(al_ctx *ctx, const char *default_rules, char *errbuf, size_t errlen)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->audit_fd = -1;
    ctx->max_body = 16u << 20;
    if (errbuf && errlen) errbuf[0] = '\0';
    al_policy_default(&ctx->policy);
    extern char *program_invocation_short_name;
    ctx->exe = program_invocation_short_name;

    const char *v = getenv("AIRLOCK_MODE");
    if (v && *v) {
        if (!strcasecmp(v, "monitor"))
            ctx->mode = AL_MODE_MONITOR;
        else if (strcasecmp(v, "enforce"))
            note(errbuf, errlen, "airlock: AIRLOCK_MODE=%s is not enforce|monitor%s", v,
                 "; enforcing");
    }
    v = getenv("AIRLOCK_FAIL");
    if (v && *v) {
        if (!strcasecmp(v, "open"))
            ctx->fail = AL_FAIL_OPEN;
        else if (strcasecmp(v, "closed"))
            note(errbuf, errlen, "airlock: AIRLOCK_FAIL=%s is not closed|open%s", v,
                 "; failing closed");
    }
    /* a value that does not parse keeps the default and says so (a silent
     * default would hide a typo such as "0,8") */
    v = getenv("AIRLOCK_MAX_BODY");
    if (v && *v) {
        ctx->max_body = al_parse_size(v, 0);
        if (!ctx->max_body) {
            ctx->max_body = 16u << 20;
            note(errbuf, errlen, "airlock: AIRLOCK_MAX_BODY=%s is not a size%s", v,
                 " such as 16M; keeping 16 MiB");
        }
    }
    /* prompt cap, thresholds and per-category actions */
    al_policy_from_env(&ctx->policy, errbuf, errlen);

    v = getenv("AIRLOCK_AUDIT");
    if (v && *v) {
        /* O_NONBLOCK: a FIFO nobody reads fails now (ENXIO) instead of
         * hanging the host; it is cleared again for ordinary writes */
        ctx->audit_fd = open(v, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
        if (ctx->audit_fd >= 0) {
            int fl = fcntl(ctx->audit_fd, F_GETFL);
            if (fl >= 0) fcntl(ctx->audit_fd, F_SETFL, fl & ~O_NONBLOCK);
        }
        if (ctx->audit_fd < 0)
            note(errbuf, errlen, "airlock: cannot open audit log %s: %s", v, strerror(errno));
    }

    /* the memo of prompt scans (AIRLOCK_SCAN_CACHE=0 turns it off, =N keeps N) */
    v = getenv("AIRLOCK_SCAN_CACHE");
    long entries = 256;
    if (v && *v) {
        char *end;
        long n = strtol(v, &end, 10);
        if (end != v && !*end && n >= 0 && n <= 65536)
            entries = n;
        else
            note(errbuf, errlen, "airlock: AIRLOCK_SCAN_CACHE=%s is not a count%s", v,
                 "; keeping 256");
    }
    ctx->scache = entries ? al_scancache_new((size_t)entries, 8u << 20) : NULL;
    /* thinking blocks whose text the scrubber changed: 256, 8 MiB at most */
    ctx->signmem = al_signmem_new(256, 8u << 20);

    /* rate limit and token budget: a value that does not parse must not
     * quietly lift the limit, so LLM calls then follow AIRLOCK_FAIL */
    int no_limits = 0;
    char lerr[200];
    ctx->limits = al_limits_new(getenv("AIRLOCK_RATE"), getenv("AIRLOCK_BUDGET_TOKENS"),
                                getenv("AIRLOCK_LIMITS_FILE"), &no_limits, lerr, sizeof lerr);
    if (!ctx->limits && !no_limits) {
        note(errbuf, errlen, "airlock: %s%s", lerr, "; LLM calls follow AIRLOCK_FAIL");
        return AL_OK;
    }
    if (getenv("AIRLOCK_POLICY_ERROR")) {
        /* the policy file did not apply (reported when the shim loaded): no
         * engine, so every LLM call follows AIRLOCK_FAIL */
        return AL_OK;
    }
    const char *rules = getenv("AIRLOCK_RULES");
    if (!rules || !*rules) rules = default_rules;
    if (!rules || !*rules) {
        note(errbuf, errlen, "airlock: no rules found%s%s", "", "; LLM calls follow AIRLOCK_FAIL");
        return AL_OK;
    }
    size_t n = strlen(rules);
    ctx->lazy = malloc(sizeof *ctx->lazy + n + 1);
    if (!ctx->lazy) {
        note(errbuf, errlen, "airlock: rules not loaded: %s%s", al_strerror(AL_ENOMEM),
             "; LLM calls follow AIRLOCK_FAIL");
        return AL_OK;
    }
    pthread_mutex_init(&ctx->lazy->mu, NULL);
    ctx->lazy->done = 0;
    ctx->lazy->engine = NULL;
    memcpy(ctx->lazy->path, rules, n + 1);
    return AL_OK;
}

const al_engine *al_ctx_engine(const al_ctx *ctx)
{
    if (!ctx) return NULL;
    if (ctx->engine || !ctx->lazy) return ctx->engine;
    al_ctx_lazy *l = ctx->lazy;
    if (__atomic_load_n(&l->done, __ATOMIC_ACQUIRE)) return l->engine;
    char line[512] = "";
    pthread_mutex_lock(&l->mu);
    if (!__atomic_load_n(&l->done, __ATOMIC_ACQUIRE)) {
        char err[400] = "";
        al_engine *e = NULL;
        al_code c = al_engine_new(l->path, &e, err, sizeof err);
        if (c != AL_OK) {
            e = NULL;
            snprintf(line, sizeof line,
                     "airlock: rules not loaded: %s; LLM calls follow AIRLOCK_FAIL (%s)",
                     err[0] ? err : al_strerror(c), ctx->fail == AL_FAIL_OPEN ? "open" : "closed");
        }
        l->engine = e;
        __atomic_store_n(&l->done, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&l->mu);
    /* only the loading call has a line: reported once, outside the lock */
    if (line[0] && ctx->warn) ctx->warn(line);
    return l->engine;
}

void al_ctx_after_fork(al_ctx *ctx)
{
    /* Only the forking thread survives: a mutex another thread held stays
     * held forever in the child, and its half-built engine is abandoned. */
    if (ctx && ctx->lazy && !__atomic_load_n(&ctx->lazy->done, __ATOMIC_ACQUIRE))
        pthread_mutex_init(&ctx->lazy->mu, NULL);
    if (ctx) al_signmem_after_fork(ctx->signmem);
}

void al_ctx_free(al_ctx *ctx)
{
    if (!ctx) return;
    al_engine_free(ctx->engine);
    ctx->engine = NULL;
    if (ctx->lazy) {
        al_engine_free(ctx->lazy->engine);
        pthread_mutex_destroy(&ctx->lazy->mu);
        free(ctx->lazy);
        ctx->lazy = NULL;
    }
    if (ctx->audit_fd >= 0) close(ctx->audit_fd);
    ctx->audit_fd = -1;
    al_limits_free(ctx->limits);
    ctx->limits = NULL;
    al_scancache_free(ctx->scache);
    ctx->scache = NULL;
    al_signmem_free(ctx->signmem);
    ctx->signmem = NULL;
}

/* budget.c: rate limits (token bucket) and token budgets for LLM calls,
 * counted in this process or in a state file shared by processes (one text
 * line, read and rewritten under flock).  Never logs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "budget.h"

#define STATE_MAGIC "airlock-limits 1"

typedef struct {
    double bucket; /* calls that may start now */
    double last;   /* when bucket was last brought up to date */
    long long used;
    int fresh; /* no state yet: the bucket starts full */
} state;

struct al_limits {
    double calls, window; /* 0 calls: no rate limit */
    long long budget;     /* 0: no budget */
    char *file;           /* NULL: this process only */
    pthread_mutex_t mu;
    state mem;
};

int al_limits_parse_rate(const char *s, double *calls, double *window_s)
{
    if (!s) return -1;
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno || end == s || n <= 0 || n > 100000000 || *end != '/') return -1;
    const char *u = end + 1;
    double w;
    if (!strcmp(u, "s") || !strcmp(u, "sec") || !strcmp(u, "second"))
        w = 1;
    else if (!strcmp(u, "min") || !strcmp(u, "m") || !strcmp(u, "minute"))
        w = 60;
    else if (!strcmp(u, "h") || !strcmp(u, "hour"))
        w = 3600;
    else if (!strcmp(u, "d") || !strcmp(u, "day"))
        w = 86400;
    else
        return -1;
    *calls = (double)n;
    *window_s = w;
    return 0;
}

al_limits *al_limits_new(const char *rate, const char *budget, const char *state_file, int *none,
                         char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    *none = 0;
    double calls = 0, window = 0;
    long long b = 0;
    if (rate && *rate && al_limits_parse_rate(rate, &calls, &window) != 0) {
        if (err)
            snprintf(err, errlen,
                     "AIRLOCK_RATE: '%.40s' is not a rate such as 60/min, 5/s or 1000/h", rate);
        return NULL;
    }
    if (budget && *budget) {
        char *end;
        errno = 0;
        b = strtoll(budget, &end, 10);
        if (errno || end == budget || *end || b <= 0) {
            if (err)
                snprintf(err, errlen,
                         "AIRLOCK_BUDGET_TOKENS: '%.40s' is not a positive number of tokens",
                         budget);
            return NULL;
        }
    }
    if (calls == 0 && b == 0) {
        *none = 1;
        return NULL;
    }
    al_limits *l = calloc(1, sizeof *l);
    if (!l) {
        if (err) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->calls = calls;
    l->window = window;
    l->budget = b;
    if (state_file && *state_file && !(l->file = strdup(state_file))) {
        free(l);
        if (err) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->mem.fresh = 1;
    return l;
}

void al_limits_free(al_limits *l)
{
    if (!l) return;
    pthread_mutex_destroy(&l->mu);
    free(l->file);
    free(l);
}

long long al_limits_budget(const al_limits *l)
{
    return l ? l->budget : 0;
}

/* ---- state: in memory, or in the file under an exclusive lock ---------- */

/* Opens and locks the file and reads the state: the descriptor, or -1. */
static int file_lock_read(const al_limits *l, state *st)
{
    int fd = open(l->file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    }
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n < 0) {
        close(fd);
        return -1;
    }
    buf[n] = 0;
    memset(st, 0, sizeof *st);
    if (n == 0) {
        st->fresh = 1;
        return fd;
    }
    double bucket, last;
    long long used;
    if (sscanf(buf, STATE_MAGIC " %lf %lf %lld", &bucket, &last, &used) != 3 || used < 0 ||
        !isfinite(bucket) || !isfinite(last) || bucket < 0) { /* "nan" and "inf" scan too */
        close(fd); /* not ours, or damaged: refuse to guess */
        errno = EINVAL;
        return -1;
    }
    st->bucket = bucket;
    st->last = last;
    st->used = used;
    return fd;
}

static int file_write_unlock(int fd, const state *st)
{
    char buf[256];
    int n =
        snprintf(buf, sizeof buf, STATE_MAGIC " %.6f %.6f %lld\n", st->bucket, st->last, st->used);
    int ok = n > 0 && pwrite(fd, buf, (size_t)n, 0) == n && ftruncate(fd, n) == 0;
    close(fd); /* releases the lock */
    return ok ? 0 : -1;
}

al_limit_verdict al_limits_admit(al_limits *l, double now, double *retry_after)
{
    if (retry_after) *retry_after = 0;
    if (!l) return AL_LIMIT_OK;
    pthread_mutex_lock(&l->mu);
    state st = l->mem;
    int fd = -1;
    if (l->file && (fd = file_lock_read(l, &st)) < 0) {
        pthread_mutex_unlock(&l->mu);
        return AL_LIMIT_ERROR;
    }
    al_limit_verdict v = AL_LIMIT_OK;
    if (st.fresh) {
        st.bucket = l->calls;
        st.last = now;
        st.fresh = 0;
    }
    if (l->budget > 0 && st.used >= l->budget) {
        v = AL_LIMIT_BUDGET;
    } else if (l->calls > 0) {
        double rate = l->calls / l->window; /* calls per second */
        double dt = now > st.last ? now - st.last : 0;
        st.bucket += dt * rate;
        if (st.bucket > l->calls) st.bucket = l->calls;
        st.last = now > st.last ? now : st.last;
        if (st.bucket >= 1.0) {
            st.bucket -= 1.0;
        } else {
            v = AL_LIMIT_RATE;
            /* a clock behind the last call refills nothing until it catches up */
            if (retry_after) *retry_after = (1.0 - st.bucket) / rate + (st.last - now);
        }
    }
    if (fd >= 0) {
        if (file_write_unlock(fd, &st) != 0) v = AL_LIMIT_ERROR;
    } else {
        l->mem = st;
    }
    pthread_mutex_unlock(&l->mu);
    return v;
}

long long al_limits_retry_headers(al_limit_verdict v, double retry_after, char *out, size_t n)
{
    if (!out || !n) return 0;
    out[0] = 0;
    if (v == AL_LIMIT_BUDGET) {
        static const char no_retry[] = "x-should-retry: false\r\n";
        if (n >= sizeof no_retry) memcpy(out, no_retry, sizeof no_retry);
        return 0;
    }
    if (v != AL_LIMIT_RATE) return 0;
    /* NaN, negative or absurd waits: at least 1 s, at most a year */
    double w = retry_after > 0 ? retry_after : 0;
    if (!(w < 31536000)) w = 31536000;
    long long ms = (long long)ceil(w * 1000), s = (long long)ceil(w);
    if (ms < 1) ms = 1;
    if (s < 1) s = 1;
    int k = snprintf(out, n, "Retry-After: %lld\r\nretry-after-ms: %lld\r\n", s, ms);
    if (k < 0 || (size_t)k >= n) out[0] = 0;
    return s;
}

al_code al_limits_account(al_limits *l, long long tokens)
{
    if (!l || tokens <= 0) return AL_OK;
    pthread_mutex_lock(&l->mu);
    al_code rc = AL_OK;
    if (l->file) {
        state st;
        int fd = file_lock_read(l, &st);
        if (fd < 0) {
            rc = AL_EIO;
        } else {
            if (st.fresh) {
                st.bucket = l->calls;
                st.fresh = 0;
            }
            st.used = st.used > LLONG_MAX - tokens ? LLONG_MAX : st.used + tokens;
            if (file_write_unlock(fd, &st) != 0) rc = AL_EIO;
        }
    } else {
        /* saturating: a reply claiming absurd usage must not wrap the count */
        l->mem.used = l->mem.used > LLONG_MAX - tokens ? LLONG_MAX : l->mem.used + tokens;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

long long al_limits_tokens_used(al_limits *l)
{
    if (!l) return 0;
    pthread_mutex_lock(&l->mu);
    long long used = l->mem.used;
    if (l->file) {
        state st;
        int fd = file_lock_read(l, &st);
        if (fd < 0) {
            used = -1;
        } else {
            used = st.used;
            close(fd);
        }
    }
    pthread_mutex_unlock(&l->mu);
    return used;
}

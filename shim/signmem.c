/* signmem.c: the original texts of signed blocks airlock changed (see
 * signmem.h).  A small array searched linearly (a few hundred entries at
 * most), oldest out first by last use.  Never logs; never waits on a lock
 * across anything but memory work. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "signmem.h"

typedef struct {
    char *sig, *orig, *shown; /* one allocation: sig, then orig, then shown */
    size_t siglen, olen, slen;
    unsigned long long used; /* last put or hit */
} entry;

struct al_signmem {
    pthread_mutex_t mu;
    entry *v;
    size_t n, cap, max_bytes, bytes;
    unsigned long long clock;
};

al_signmem *al_signmem_new(size_t entries, size_t max_bytes)
{
    if (!entries) return NULL;
    al_signmem *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->v = calloc(entries, sizeof *m->v);
    if (!m->v) {
        free(m);
        return NULL;
    }
    m->cap = entries;
    m->max_bytes = max_bytes;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static size_t entry_bytes(const entry *e)
{
    return e->siglen + e->olen + e->slen + 3;
}

static void drop(al_signmem *m, size_t i)
{
    m->bytes -= entry_bytes(&m->v[i]);
    free(m->v[i].sig);
    m->v[i] = m->v[--m->n];
}

void al_signmem_free(al_signmem *m)
{
    if (!m) return;
    while (m->n) drop(m, m->n - 1);
    free(m->v);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void al_signmem_after_fork(al_signmem *m)
{
    if (m) pthread_mutex_init(&m->mu, NULL);
}

static size_t find(const al_signmem *m, const char *sig, size_t siglen)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].siglen == siglen && !memcmp(m->v[i].sig, sig, siglen)) return i;
    return (size_t)-1;
}

static size_t oldest(const al_signmem *m)
{
    size_t o = 0;
    for (size_t i = 1; i < m->n; i++)
        if (m->v[i].used < m->v[o].used) o = i;
    return o;
}

al_code al_signmem_put(al_signmem *m, const char *sig, const char *orig, size_t olen,
                       const char *shown, size_t slen)
{
    if (!m || !sig || !sig[0]) return AL_OK;
    entry e = {0};
    e.siglen = strlen(sig);
    e.olen = olen;
    e.slen = slen;
    size_t need = entry_bytes(&e);
    if (need > m->max_bytes) return AL_ELIMIT;
    char *p = malloc(need);
    if (!p) return AL_ENOMEM;
    e.sig = p;
    memcpy(e.sig, sig, e.siglen + 1);
    e.orig = e.sig + e.siglen + 1;
    if (olen) memcpy(e.orig, orig, olen);
    e.orig[olen] = '\0';
    e.shown = e.orig + olen + 1;
    if (slen) memcpy(e.shown, shown, slen);
    e.shown[slen] = '\0';
    pthread_mutex_lock(&m->mu);
    size_t i = find(m, sig, e.siglen);
    if (i != (size_t)-1) drop(m, i);
    while (m->n && (m->n == m->cap || m->bytes + need > m->max_bytes)) drop(m, oldest(m));
    e.used = ++m->clock;
    m->v[m->n++] = e;
    m->bytes += need;
    pthread_mutex_unlock(&m->mu);
    return AL_OK;
}

int al_signmem_get(al_signmem *m, const char *sig, const char *text, size_t tlen, char **orig,
                   size_t *olen)
{
    *orig = NULL;
    *olen = 0;
    if (!m || !sig || !sig[0] || !text) return 0;
    int hit = 0;
    pthread_mutex_lock(&m->mu);
    size_t i = find(m, sig, strlen(sig));
    if (i != (size_t)-1 && m->v[i].slen == tlen && !memcmp(m->v[i].shown, text, tlen)) {
        entry *e = &m->v[i];
        e->used = ++m->clock;
        *orig = malloc(e->olen + 1);
        if (*orig) {
            memcpy(*orig, e->orig, e->olen + 1);
            *olen = e->olen;
            hit = 1;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return hit;
}

void al_signmem_stats(al_signmem *m, size_t *entries, size_t *bytes)
{
    *entries = *bytes = 0;
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    *entries = m->n;
    *bytes = m->bytes;
    pthread_mutex_unlock(&m->mu);
}

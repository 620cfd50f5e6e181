/* scancache.c: the memo of prompt scan results (scancache.h).  A small
 * array searched by key; the least recently used entry makes room. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "scancache.h"

typedef struct {
    unsigned char key[32];
    int used;
    unsigned long last; /* use clock */
    size_t bytes;
    al_result r; /* findings and text owned here */
} entry;

struct al_scancache {
    pthread_mutex_t mu;
    entry *v;
    size_t n, max_bytes, bytes;
    unsigned long clock, hits, lookups;
};

al_scancache *al_scancache_new(size_t entries, size_t max_bytes)
{
    if (!entries) return NULL;
    al_scancache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->v = calloc(entries, sizeof *c->v);
    if (!c->v) {
        free(c);
        return NULL;
    }
    c->n = entries;
    c->max_bytes = max_bytes;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void drop(al_scancache *c, entry *e)
{
    if (!e->used) return;
    al_result_free(&e->r);
    c->bytes -= e->bytes;
    memset(e, 0, sizeof *e);
}

void al_scancache_free(al_scancache *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) drop(c, &c->v[i]);
    free(c->v);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* SHA-256 fetched from the provider once: EVP_sha256() in EVP_DigestInit_ex
 * looks the implementation up again (a lock and a table search) per key.
 * Lock-free, so a fork can never leave it half done: threads racing on the
 * first fetch each make one, one is published, the others are freed. */
static EVP_MD *sha256_md;

static const EVP_MD *sha256(void)
{
    EVP_MD *md = __atomic_load_n(&sha256_md, __ATOMIC_ACQUIRE);
    if (md) return md;
    md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!md) return EVP_sha256();
    EVP_MD *expected = NULL;
    if (__atomic_compare_exchange_n(&sha256_md, &expected, md, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return md; /* kept for the life of the process */
    EVP_MD_free(md);
    return expected;
}

int al_scancache_key(const al_engine *e, const al_policy *p, al_direction dir, const char *text,
                     size_t len, unsigned char key[32])
{
    if (!e || !p || !text || len < AL_SCANCACHE_MIN_TEXT) return -1;
    EVP_MD_CTX *s = EVP_MD_CTX_new();
    if (!s) return -1;
    unsigned char d = (unsigned char)dir;
    unsigned int kl = 0;
    /* policy padding may differ between copies: then a miss, never a wrong hit */
    int ok = EVP_DigestInit_ex(s, sha256(), NULL) == 1 && EVP_DigestUpdate(s, &e, sizeof e) == 1 &&
             EVP_DigestUpdate(s, p, sizeof *p) == 1 && EVP_DigestUpdate(s, &d, 1) == 1 &&
             EVP_DigestUpdate(s, text, len) == 1 && EVP_DigestFinal_ex(s, key, &kl) == 1;
    EVP_MD_CTX_free(s);
    return ok ? 0 : -1;
}

/* A deep copy of r into out; AL_ENOMEM leaves out empty. */
static al_code copy_result(const al_result *r, al_result *out)
{
    al_result t = *r;
    t.findings = NULL;
    t.n = t.cap = 0;
    memset(&t.text, 0, sizeof t.text);
    if (r->n) {
        t.findings = malloc(r->n * sizeof *t.findings);
        if (!t.findings) return AL_ENOMEM;
        memcpy(t.findings, r->findings, r->n * sizeof *t.findings);
        t.n = t.cap = r->n;
    }
    if (r->text.len && al_buf_append(&t.text, r->text.data, r->text.len) != AL_OK) {
        free(t.findings);
        return AL_ENOMEM;
    }
    *out = t;
    return AL_OK;
}

int al_scancache_get(al_scancache *c, const unsigned char key[32], al_result *out)
{
    if (!c) return 0;
    if (pthread_mutex_trylock(&c->mu) != 0) return 0; /* busy: scan instead of waiting */
    int hit = 0;
    c->lookups++;
    for (size_t i = 0; i < c->n; i++) {
        entry *en = &c->v[i];
        if (!en->used || memcmp(en->key, key, 32) != 0) continue;
        if (copy_result(&en->r, out) == AL_OK) {
            en->last = ++c->clock;
            c->hits++;
            hit = 1;
        }
        break;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void al_scancache_put(al_scancache *c, const unsigned char key[32], const al_result *r)
{
    if (!c || !r || r->limit_hit) return;
    size_t bytes = sizeof(entry) + r->n * sizeof(al_finding) + r->text.len;
    if (bytes > c->max_bytes) return;
    al_result copy;
    if (copy_result(r, &copy) != AL_OK) return;
    if (pthread_mutex_trylock(&c->mu) != 0) {
        al_result_free(&copy);
        return;
    }
    /* the slot: this key's (a racing scan put it), a free one, else the
     * least recently used; then older entries go until the bytes fit */
    entry *slot = NULL, *lru = NULL;
    for (size_t i = 0; i < c->n; i++) {
        entry *en = &c->v[i];
        if (en->used && !memcmp(en->key, key, 32)) {
            slot = en;
            break;
        }
        if (!en->used) {
            if (!slot) slot = en;
        } else if (!lru || en->last < lru->last) {
            lru = en;
        }
    }
    if (!slot) slot = lru;
    drop(c, slot);
    while (c->bytes + bytes > c->max_bytes) {
        entry *victim = NULL;
        for (size_t i = 0; i < c->n; i++)
            if (c->v[i].used && (!victim || c->v[i].last < victim->last)) victim = &c->v[i];
        if (!victim) break;
        drop(c, victim);
    }
    if (c->bytes + bytes > c->max_bytes) {
        pthread_mutex_unlock(&c->mu);
        al_result_free(&copy);
        return;
    }
    memcpy(slot->key, key, 32);
    slot->used = 1;
    slot->last = ++c->clock;
    slot->bytes = bytes;
    slot->r = copy;
    c->bytes += bytes;
    pthread_mutex_unlock(&c->mu);
}

void al_scancache_stats(al_scancache *c, unsigned long *hits, unsigned long *lookups)
{
    *hits = c ? c->hits : 0;
    *lookups = c ? c->lookups : 0;
}

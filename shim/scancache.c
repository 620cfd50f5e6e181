/* scancache.c: the memo of prompt scan results (scancache.h).  A small
 * array searched by hash, then by comparing everything the key names; the
 * least recently used entry makes room. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "scancache.h"

typedef struct {
    uint64_t hash;
    const al_engine *e;
    al_policy p; /* copied with memcpy: its padding too */
    al_direction dir;
    char *text; /* the text scanned (owned) */
    size_t len;
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
    free(e->text);
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

static inline uint64_t load64(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline uint64_t mix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    return h ^ h >> 32;
}

/* A 64-bit hash of text[0..len): it only picks the entries compared in
 * full, so it has to be fast and spread, not secure.  Four lanes of eight
 * bytes, one multiply each per 32 bytes. */
static uint64_t text_hash(const char *s, size_t n)
{
    const uint64_t k = 0x9e3779b97f4a7c15ULL;
    uint64_t a = n, b = ~n, c = k, d = k ^ n;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a = (a ^ load64(s + i)) * k;
        b = (b ^ load64(s + i + 8)) * k;
        c = (c ^ load64(s + i + 16)) * k;
        d = (d ^ load64(s + i + 24)) * k;
        a ^= a >> 29;
        b ^= b >> 29;
        c ^= c >> 29;
        d ^= d >> 29;
    }
    for (; i + 8 <= n; i += 8) a = mix((a ^ load64(s + i)) * k);
    if (i < n) {
        char t[8] = {0};
        memcpy(t, s + i, n - i);
        b = mix((b ^ load64(t)) * k);
    }
    return mix(a ^ mix(b + (c << 1 | c >> 63)) ^ mix(d * k));
}

int al_scancache_key(const al_engine *e, const al_policy *p, al_direction dir, const char *text,
                     size_t len, al_scankey *key)
{
    if (!e || !p || !text || len < AL_SCANCACHE_MIN_TEXT) return -1;
    *key = (al_scankey){e, p, dir, text, len, text_hash(text, len)};
    return 0;
}

/* 1 when en holds the result of the scan key names */
static int same_scan(const entry *en, const al_scankey *key)
{
    /* policy padding may differ between copies: then a miss, never a wrong hit */
    return en->used && en->hash == key->hash && en->len == key->len && en->e == key->e &&
           en->dir == key->dir && !memcmp(&en->p, key->p, sizeof en->p) &&
           !memcmp(en->text, key->text, key->len);
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

int al_scancache_get(al_scancache *c, const al_scankey *key, al_result *out)
{
    if (!c || !key) return 0;
    if (pthread_mutex_trylock(&c->mu) != 0) return 0; /* busy: scan instead of waiting */
    int hit = 0;
    c->lookups++;
    for (size_t i = 0; i < c->n; i++) {
        entry *en = &c->v[i];
        if (!same_scan(en, key)) continue;
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

void al_scancache_put(al_scancache *c, const al_scankey *key, const al_result *r)
{
    if (!c || !key || !r || r->limit_hit) return;
    size_t bytes = sizeof(entry) + r->n * sizeof(al_finding) + r->text.len + key->len;
    if (bytes > c->max_bytes) return;
    al_result copy;
    if (copy_result(r, &copy) != AL_OK) return;
    char *text = malloc(key->len);
    if (!text) {
        al_result_free(&copy);
        return;
    }
    memcpy(text, key->text, key->len);
    if (pthread_mutex_trylock(&c->mu) != 0) {
        al_result_free(&copy);
        free(text);
        return;
    }
    /* the slot: this key's (a racing scan put it), a free one, else the
     * least recently used; then older entries go until the bytes fit */
    entry *slot = NULL, *lru = NULL;
    for (size_t i = 0; i < c->n; i++) {
        entry *en = &c->v[i];
        if (same_scan(en, key)) {
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
        free(text);
        return;
    }
    slot->hash = key->hash;
    slot->e = key->e;
    memcpy(&slot->p, key->p, sizeof slot->p);
    slot->dir = key->dir;
    slot->text = text;
    slot->len = key->len;
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

/* names.c: gazetteer detectors for PERSON, LOCATION and street addresses
 * (detector.h).  Judges a name by what stands next to it (titles, "my name
 * is", a following surname, "lives in") rather than by a list hit alone, and
 * grades each finding (strong / name / weak) so a pack can redact the strong
 * ones and only flag the rest.  Pure: word lists are loaded once and shared;
 * a scan is one linear pass that allocates only the spans it reports (kept
 * per thread for the other rules over the same text, with checkpoints that
 * let the next window of a stream take it up); it never logs text. */
#include "detector.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Word lists: one open-addressing hash set of lowercase keys, each with the
 * lists it is in (flags) and the context-word lists (cflags). */

enum {
    F_GIVEN = 1 << 0,
    F_SUR = 1 << 1,
    F_PLACE = 1 << 2,      /* whole key is a place ("paris", "new york") */
    F_COMMON = 1 << 3,     /* ordinary English word */
    F_HEAD = 1 << 4,       /* first words of a multi-word place */
    F_STREET = 1 << 5,     /* street type after the name: "Main Street" */
    F_PREFIX = 1 << 6,     /* street type before the name: "Rue de la Paix" */
    F_UNIT = 1 << 7,       /* "Apt", "Suite" */
    F_TITLE = 1 << 8,      /* "Mr", "Dr" */
    F_ORG = 1 << 9,        /* "Inc", "University": the run is not a person */
    F_NOTNAME = 1 << 10,   /* "May", "Monday", "Python": never a lone name */
    F_PLACEHEAD = 1 << 11, /* "Saint", "San", "Port": starts a place name */
    F_BROAD = 1 << 12      /* a country, state or continent: too broad to identify */
};

/* Lists that keep a listed name that is also a word out of a person's name
 * run ("Hall", "Street", "May", "Paris" after "John"). */
#define F_NOT_IN_NAME (F_ORG | F_NOTNAME | F_TITLE | F_STREET | F_UNIT | F_PREFIX | F_PLACE)

#define KEYMAX 48    /* longest key looked up, bytes */
#define PLACEWORDS 6 /* longest multi-word place, words */
#define SUFMAX 8
#define NSUFFIX 64 /* one-word street endings kept (forms.txt "suffix" lines) */

typedef struct {
    uint32_t hash, off;
    uint16_t len, flags;
    uint16_t cflags; /* context-word lists the word is in (CTX_ bits) */
} lex_ent;

typedef struct {
    uint32_t *slot; /* 0 = empty, else SLOT_FP bits of the hash above index + 1 into ent */
    size_t mask;
    lex_ent *ent;
    size_t nent, capent;
    char *pool;
    size_t npool, cappool;
    char suffix[NSUFFIX][SUFMAX + 1]; /* one-word street endings ("straat") */
    size_t suffix_len[NSUFFIX];
    size_t nsuffix;
    uint64_t suffix_by_last[256];     /* bit i: suffix[i] ends in this byte */
    uint64_t suffix_pen[256];         /* by last byte: bit b & 63 for the byte b before it */
    uint32_t title_first[KEYMAX + 1]; /* bit c - 'a': a title of this length starts with c */
    /* shared between the rules that load the same files (see names_load) */
    char *sig;
    int refs;
    uint64_t gen;
    void *next;
} lex;

/* A key of fewer than 8 bytes as one word, read without a loop: its first
 * and last 4 bytes (4..7 bytes), or its first, middle and last (1..3); 0
 * for none.  key_hash and the lookup memo read short keys alike. */
static inline __attribute__((always_inline)) uint64_t short_word(const char *s, size_t n)
{
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, s, 4);
        memcpy(&hi, s + n - 4, 4);
        return lo | (uint64_t)hi << 32;
    }
    return n ? (unsigned char)s[0] | (uint64_t)(unsigned char)s[n / 2] << 8 |
                   (uint64_t)(unsigned char)s[n - 1] << 16
             : 0;
}

/* Hash of a key, a few loads per key instead of a step per byte: 8-byte
 * words, the last one overlapping; 4-byte halves for keys of 4..7 bytes. */
static inline uint32_t key_hash(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ n, w;
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&w, s + i, 8);
            h = (h ^ w) * 0xff51afd7ed558ccdu;
            h ^= h >> 29;
        }
        memcpy(&w, s + n - 8, 8);
    } else {
        w = short_word(s, n);
    }
    h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
    h ^= h >> 32;
    return (uint32_t)h;
}

/* A slot holds the entry's index + 1 in its low SLOT_IDX bits and the top
 * bits of its hash above them, so a probe that misses (most of them: a word
 * of the text is usually in no list) reads the slot array only, not the
 * entry and its key. */
#define SLOT_IDX 20
#define SLOT_MAXENT ((1u << SLOT_IDX) - 2) /* entries a lexicon may hold */
static inline uint32_t slot_of(uint32_t hash, size_t idx)
{
    return (hash >> SLOT_IDX) << SLOT_IDX | (uint32_t)(idx + 1);
}

/* Rehashes the set into cap slots (a power of two). */
static int lex_resize(lex *x, size_t cap)
{
    uint32_t *slot = calloc(cap, sizeof *slot);
    if (!slot) return -1;
    for (size_t i = 0; i < x->nent; i++) {
        size_t j = x->ent[i].hash & (cap - 1);
        while (slot[j]) j = (j + 1) & (cap - 1);
        slot[j] = slot_of(x->ent[i].hash, i);
    }
    free(x->slot);
    x->slot = slot;
    x->mask = cap - 1;
    return 0;
}

static int lex_grow(lex *x)
{
    return lex_resize(x, x->mask ? (x->mask + 1) * 2 : 1024);
}

/* memcmp(a, b, n) == 0 for short keys, without a call: a word at a time,
 * reading only bytes 0..n-1 of each (the last word overlaps, as in
 * key_hash); under 8 bytes, al_eq_upto8. */
static inline int key_eq(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        uint64_t x, y;
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y) return 0;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    return al_eq_upto8(a, b, n);
}

static const lex_ent *lex_get(const lex *x, const char *k, size_t n)
{
    if (!x->mask) return NULL;
    uint32_t h = key_hash(k, n), fp = h >> SLOT_IDX;
    uint32_t v;
    for (size_t j = h & x->mask; (v = x->slot[j]) != 0; j = (j + 1) & x->mask) {
        if (v >> SLOT_IDX != fp) continue;
        const lex_ent *e = &x->ent[(v & ((1u << SLOT_IDX) - 1)) - 1];
        if (e->hash == h && e->len == n && key_eq(x->pool + e->off, k, n)) return e;
    }
    return NULL;
}

/* A memo of lookups in front of the hash set, kept per thread across texts
 * (scan_cache): prose asks for the same few hundred words ("The",
 * "License", "of") again and again, and a key of up to 16 bytes is told by
 * its length and two words, loaded as key_hash loads them, in one probe
 * instead of a hash, a probe sequence and a compare.  Misses are kept too.
 * Valid for one lexicon (scan_cache.memo_gen). */
#define MEMO_BITS 10
typedef struct {
    uint64_t a, b;
    const lex_ent *e;
    size_t n; /* key length; 0: empty */
} memo_ent;

static inline __attribute__((always_inline)) const lex_ent *lex_find(const lex *x, memo_ent *memo,
                                                                     const char *k, size_t n)
{
    if (!memo || n == 0 || n > 16) return lex_get(x, k, n);
    uint64_t a, b = 0;
    if (n >= 8) {
        memcpy(&a, k, 8);
        memcpy(&b, k + n - 8, 8);
    } else {
        a = short_word(k, n);
    }
    memo_ent *m =
        &memo[((a ^ n) * 0x9e3779b97f4a7c15u ^ b * 0xc2b2ae3d27d4eb4fu) >> (64 - MEMO_BITS)];
    if (m->n == n && m->a == a && m->b == b) return m->e;
    const lex_ent *e = lex_get(x, k, n);
    *m = (memo_ent){a, b, e, n};
    return e;
}

/* memcpy(d, s, n) for a key (1 <= n <= KEYMAX) without a call: words, the
 * last one overlapping, as key_eq reads them (nothing past n is touched). */
static inline void key_copy(char *d, const char *s, size_t n)
{
    if (n >= 8) {
        uint64_t w;
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&w, s + i, 8);
            memcpy(d + i, &w, 8);
        }
        memcpy(&w, s + n - 8, 8);
        memcpy(d + n - 8, &w, 8);
    } else {
        al_copy_1to8(d, s, n);
    }
}

/* Makes room for more new entries without a rehash on the way: grows the
 * slot array as lex_add would at each insert, and the entry and key arrays
 * to hold them.  An estimate only: too few and lex_add grows as it goes. */
static int lex_reserve(lex *x, size_t more, size_t bytes)
{
    size_t cap = x->mask ? x->mask + 1 : 1024;
    while ((x->nent + more) * 2 > cap && cap <= SLOT_MAXENT) cap *= 2;
    if (cap != x->mask + 1 && lex_resize(x, cap)) return -1;
    if (x->nent + more > x->capent) {
        size_t c = x->capent ? x->capent : 1024;
        while (c < x->nent + more) c *= 2;
        lex_ent *e = realloc(x->ent, c * sizeof *e);
        if (!e) return -1;
        x->ent = e;
        x->capent = c;
    }
    if (x->npool + bytes > x->cappool) {
        size_t c = x->cappool ? x->cappool : 65536;
        while (c < x->npool + bytes) c *= 2;
        char *p = realloc(x->pool, c);
        if (!p) return -1;
        x->pool = p;
        x->cappool = c;
    }
    return 0;
}

/* Adds key k (or merges flags into its entry): the key is hashed once, and
 * the probe that does not find it ends at the empty slot it goes in. */
static inline __attribute__((always_inline)) int lex_add(lex *x, const char *k, size_t n,
                                                         unsigned flags, unsigned cflags)
{
    if (n == 0 || n > KEYMAX) return 0;
    if (!x->mask && lex_grow(x)) return -1;
    uint32_t h = key_hash(k, n), fp = h >> SLOT_IDX, v;
    size_t j = h & x->mask;
    for (; (v = x->slot[j]) != 0; j = (j + 1) & x->mask) {
        if (v >> SLOT_IDX != fp) continue;
        lex_ent *old = &x->ent[(v & ((1u << SLOT_IDX) - 1)) - 1];
        if (old->hash == h && old->len == n && key_eq(x->pool + old->off, k, n)) {
            old->flags |= (uint16_t)flags;
            old->cflags |= (uint16_t)cflags;
            return 0;
        }
    }
    if (x->nent >= SLOT_MAXENT) return -1; /* more words than a slot can index */
    if ((x->nent + 1) * 2 > x->mask + 1) {
        if (lex_grow(x)) return -1;
        for (j = h & x->mask; x->slot[j]; j = (j + 1) & x->mask) {
        }
    }
    if (x->nent == x->capent) {
        size_t c = x->capent ? x->capent * 2 : 1024;
        lex_ent *e = realloc(x->ent, c * sizeof *e);
        if (!e) return -1;
        x->ent = e;
        x->capent = c;
    }
    if (x->npool + n > x->cappool) {
        size_t c = x->cappool ? x->cappool * 2 : 65536;
        while (c < x->npool + n) c *= 2;
        char *p = realloc(x->pool, c);
        if (!p) return -1;
        x->pool = p;
        x->cappool = c;
    }
    key_copy(x->pool + x->npool, k, n);
    lex_ent *e = &x->ent[x->nent];
    e->hash = h;
    e->off = (uint32_t)x->npool;
    e->len = (uint16_t)n;
    e->flags = (uint16_t)flags;
    e->cflags = (uint16_t)cflags;
    x->npool += n;
    x->slot[j] = slot_of(h, x->nent++);
    return 0;
}

static void lex_free(lex *x)
{
    if (!x) return;
    free(x->sig);
    free(x->slot);
    free(x->ent);
    free(x->pool);
    free(x);
}

static const struct {
    const char *kind;
    unsigned flag;
} form_kinds[] = {{"title", F_TITLE},        {"street", F_STREET}, {"prefix", F_PREFIX},
                  {"unit", F_UNIT},          {"org", F_ORG},       {"notname", F_NOTNAME},
                  {"placehead", F_PLACEHEAD}};

#define LISTMAX (64u << 20) /* largest word list file, bytes */

/* Reads the whole of f into a new buffer (one byte more, for a NUL), which
 * the caller frees with free(); NULL when it cannot or f is over LISTMAX. */
static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = cap < LISTMAX ? realloc(b, cap * 2 + 1) : NULL;
        if (!nb) {
            free(b);
            return NULL;
        }
        b = nb;
        cap *= 2;
    }
    if (b && ferror(f)) {
        free(b);
        return NULL;
    }
    *len = n;
    return b;
}

/* Lines in b[0..n): its line feeds, plus one. */
static size_t count_lines(const char *b, size_t n)
{
    size_t c = 1, i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, b + i, 8);
        x ^= 0x0a0a0a0a0a0a0a0au; /* a line feed is now a zero byte */
        y = ~(((x & 0x7f7f7f7f7f7f7f7fu) + 0x7f7f7f7f7f7f7f7fu) | x) & 0x8080808080808080u;
        c += (size_t)(((y >> 7) * 0x0101010101010101u) >> 56); /* bytes set, summed */
    }
#endif
    for (; i < n; i++) c += b[i] == '\n';
    return c;
}

/* Where the line at b ends: the first CR, LF or NUL of b[0..n), or n. */
static size_t line_end(const char *b, size_t n)
{
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t lo = 0x0101010101010101u, hi = 0x8080808080808080u;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, a, c;
        memcpy(&x, b + i, 8);
        a = x ^ 0x0a0a0a0a0a0a0a0au;
        c = x ^ 0x0d0d0d0d0d0d0d0du;
        /* the lowest byte flagged in each is exact (a borrow only runs past
         * a zero byte), so the lowest of the three is too */
        uint64_t z = ((x - lo) & ~x) | ((a - lo) & ~a) | ((c - lo) & ~c);
        if (z & hi) return i + ((size_t)__builtin_ctzll(z & hi) >> 3);
    }
#endif
    while (i < n && b[i] != '\r' && b[i] != '\n' && b[i] != 0) i++;
    return i;
}

/* Where the line at b ends when b holds no CR nor NUL: its first LF of
 * b[0..n), or n (line_end with one test instead of three). */
static inline size_t lf_end(const char *b, size_t n)
{
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, b + i, 8);
        x ^= 0x0a0a0a0a0a0a0a0au;
        uint64_t z = (x - 0x0101010101010101u) & ~x & 0x8080808080808080u;
        if (z) return i + ((size_t)__builtin_ctzll(z) >> 3);
    }
#endif
    while (i < n && b[i] != '\n') i++;
    return i;
}

/* Adds every line of a list file.  flags 0: a forms file ("kind word").
 * The file is read whole and cut into lines as fgets(line, 256) would cut
 * it (a longer line goes on as the next one), each ending at its first CR,
 * LF or NUL. */
static al_code load_list(lex *x, const char *dir, const char *name, unsigned flags, char *err,
                         size_t errlen)
{
    char path[4096];
    if (name[0] == '/')
        snprintf(path, sizeof path, "%s", name);
    else
        snprintf(path, sizeof path, "%s/%s", dir ? dir : ".", name);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open word list %s", path);
        return AL_EIO;
    }
    size_t len = 0;
    char *buf = read_all(f, &len);
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "cannot read word list %s", path);
        return AL_EIO;
    }
    /* room for a word per line, made at once rather than doubling (no more
     * than a slot can index, nor more key bytes than such lines can hold) */
    size_t lines = count_lines(buf, len);
    if (lines > SLOT_MAXENT) lines = SLOT_MAXENT;
    al_code rc =
        lex_reserve(x, lines, len < lines * KEYMAX ? len : lines * KEYMAX) ? AL_ENOMEM : AL_OK;
    char copy[256];
    /* a file with no CR and no NUL (the usual one) has its lines end at
     * their line feeds only (lf_end) */
    int lf_only = !memchr(buf, '\r', len) && !memchr(buf, 0, len);
    for (size_t p = 0; p < len && rc == AL_OK;) {
        size_t lim = len - p < sizeof copy - 1 ? len - p : sizeof copy - 1;
        char *line = buf + p;
        size_t n = lf_only ? lf_end(line, lim) : line_end(line, lim), take;
        if (n < lim && line[n] == '\n') {
            take = n + 1;
        } else {
            const char *nl = n < lim ? memchr(line + n, '\n', lim - n) : NULL;
            take = nl ? (size_t)(nl - line) + 1 : lim;
            if (!nl && p + take < len) { /* cut at 255 bytes: the rest is read next */
                memcpy(copy, line, take);
                line = copy;
            }
        }
        p += take;
        line[n] = 0;
        if (n == 0 || line[0] == '#') continue;
        char *w = line;
        unsigned fl = flags;
        if (!flags) {
            char *sp = strchr(line, ' ');
            if (!sp) continue;
            *sp = 0;
            w = sp + 1;
            for (size_t i = 0; i < sizeof form_kinds / sizeof form_kinds[0]; i++)
                if (strcmp(line, form_kinds[i].kind) == 0) fl = form_kinds[i].flag;
            if (strcmp(line, "suffix") == 0) {
                if (x->nsuffix < NSUFFIX && strlen(w) <= SUFMAX && strlen(w) > 0) {
                    x->suffix_len[x->nsuffix] = strlen(w);
                    unsigned char lb = (unsigned char)w[strlen(w) - 1];
                    x->suffix_by_last[lb] |= 1ull << x->nsuffix;
                    x->suffix_pen[lb] |=
                        strlen(w) > 1 ? 1ull << ((unsigned char)w[strlen(w) - 2] & 63) : ~0ull;
                    strcpy(x->suffix[x->nsuffix++], w);
                }
                continue;
            }
            if (!fl) continue;
            n = strlen(w);
            if ((fl & F_TITLE) && n && n <= KEYMAX && w[0] >= 'a' && w[0] <= 'z')
                x->title_first[n] |= 1u << (w[0] - 'a');
        }
        if (lex_add(x, w, n, fl, 0)) {
            rc = AL_ENOMEM;
            break;
        }
        /* each word that starts a multi-word place, and each run of its
         * first words ("saint vincent" of "saint vincent and the
         * grenadines"): place_match stops where no place goes on */
        for (const char *sp = (fl & F_PLACE) && n > 1 ? memchr(w + 1, ' ', n - 1) : NULL;
             sp && rc == AL_OK; sp = memchr(sp + 1, ' ', (size_t)(w + n - sp - 1)))
            if (lex_add(x, w, (size_t)(sp - w), F_HEAD, 0)) rc = AL_ENOMEM;
    }
    free(buf);
    if (rc && x->nent >= SLOT_MAXENT)
        snprintf(err, errlen, "too many words (over %u) loading %s", SLOT_MAXENT, path);
    else if (rc)
        snprintf(err, errlen, "out of memory loading %s", path);
    return rc;
}

static int add_context_words(lex *x);

/* What a rule holds: the shared word lists and the evidence levels it
 * reports (bit per level): 1 strong (a name in personal-data context, a
 * home, a street address), 2 name (a full name or a title without such
 * context), 4 weak (a lone first name, a place mentioned). */
typedef struct {
    lex *x;
    unsigned levels;
} det_state;

/* Word lists loaded once per set of files and shared by every rule that
 * names them (the names pack has several rules over the same lists). */
static pthread_mutex_t lex_lock = PTHREAD_MUTEX_INITIALIZER;
static lex *lex_loaded;
static uint64_t lex_gen;

static al_code names_load(const char *rules_dir, const char *params, void **state, char *err,
                          size_t errlen)
{
    static const struct {
        const char *key, *def;
        unsigned flag;
    } files[] = {{"given", "data/given_names.txt", F_GIVEN},
                 {"surnames", "data/surnames.txt", F_SUR},
                 {"places", "data/places.txt", F_PLACE},
                 {"regions", "data/regions.txt", F_PLACE | F_BROAD},
                 {"common", "data/common_words.txt", F_COMMON},
                 {"forms", "data/forms.txt", 0}};
    enum { NFILES = sizeof files / sizeof files[0] };
    *state = NULL;
    cJSON *p = params ? cJSON_Parse(params) : NULL;
    if (params && !cJSON_IsObject(p)) {
        cJSON_Delete(p);
        snprintf(err, errlen, "params must be a JSON object");
        return AL_EPARSE;
    }
    unsigned levels = 7;
    const cJSON *tier = cJSON_GetObjectItemCaseSensitive(p, "evidence");
    if (cJSON_IsString(tier)) {
        if (strcmp(tier->valuestring, "strong") == 0)
            levels = 1;
        else if (strcmp(tier->valuestring, "name") == 0)
            levels = 2;
        else if (strcmp(tier->valuestring, "weak") == 0)
            levels = 4;
        else if (strcmp(tier->valuestring, "any") != 0) {
            snprintf(err, errlen, "params.evidence must be strong, name, weak or any");
            cJSON_Delete(p);
            return AL_EPARSE;
        }
    }
    const char *name[NFILES];
    al_buf sig = {0};
    al_code rc = AL_OK;
    for (size_t i = 0; i < NFILES && rc == AL_OK; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, files[i].key);
        name[i] = cJSON_IsString(v) ? v->valuestring : files[i].def;
        rc = al_buf_printf(&sig, "%s/%s\n", rules_dir ? rules_dir : ".", name[i]);
    }
    det_state *d = rc == AL_OK ? calloc(1, sizeof *d) : NULL;
    if (!d) {
        al_buf_free(&sig);
        cJSON_Delete(p);
        snprintf(err, errlen, "out of memory");
        return AL_ENOMEM;
    }
    d->levels = levels;
    pthread_mutex_lock(&lex_lock);
    for (lex *x = lex_loaded; x; x = x->next)
        if (strcmp(x->sig, sig.data) == 0) {
            x->refs++;
            d->x = x;
            break;
        }
    if (!d->x) {
        lex *x = calloc(1, sizeof *x);
        if (!x || lex_grow(x)) {
            free(x);
            x = NULL;
            rc = AL_ENOMEM;
            snprintf(err, errlen, "out of memory");
        }
        for (size_t i = 0; i < NFILES && rc == AL_OK; i++)
            rc = load_list(x, rules_dir, name[i], files[i].flag, err, errlen);
        if (rc == AL_OK && add_context_words(x)) {
            rc = AL_ENOMEM;
            snprintf(err, errlen, "out of memory");
        }
        if (rc == AL_OK) {
            x->sig = sig.data;
            sig.data = NULL;
            x->refs = 1;
            x->gen = ++lex_gen;
            x->next = lex_loaded;
            lex_loaded = x;
            d->x = x;
        } else {
            lex_free(x);
        }
    }
    pthread_mutex_unlock(&lex_lock);
    al_buf_free(&sig);
    cJSON_Delete(p);
    if (rc) {
        free(d);
        return rc;
    }
    *state = d;
    return AL_OK;
}

static void names_free(void *state)
{
    det_state *d = state;
    if (!d) return;
    pthread_mutex_lock(&lex_lock);
    if (d->x && --d->x->refs == 0) {
        for (lex **pp = &lex_loaded; *pp; pp = (lex **)&(*pp)->next)
            if (*pp == d->x) {
                *pp = d->x->next;
                break;
            }
        lex_free(d->x);
    }
    pthread_mutex_unlock(&lex_lock);
    free(d);
}

/* Tokens: words, numbers and single punctuation marks, read on demand into a
 * ring that keeps a few tokens behind the current one for context. */

enum { T_WORD = 1, T_NUM, T_PUNCT };
enum { C_LOWER = 0, C_CAP, C_ALLCAP };

typedef struct {
    size_t s, e;
    uint8_t type, cap;
    uint8_t nl;    /* a line break in the space before the token */
    uint8_t space; /* any space before the token */
    uint8_t klen;  /* 0: key too long or not a word */
    uint8_t looked;
    uint8_t common;  /* is_common: 0 not yet asked, 1 no, 2 yes */
    uint8_t mixed;   /* capitals after the first letter: "PokeAPI", "McGee" */
    uint8_t ocap;    /* cap as written; cap counts words of all-lowercase text as capitalised */
    uint16_t flags;  /* lexicon flags (after lookup) */
    uint16_t cflags; /* context-word lists (after lookup) */
    const char *key; /* lowercase form: into the text for plain words, else kbuf */
    size_t pre;      /* where reading it started (the end of the token before) */
    size_t tno;      /* its number in the text (in the ring: which token a slot holds) */
    char kbuf[KEYMAX];
} tok;

#define RING 64 /* at most 64: stream.filled has a bit per slot */
typedef struct {
    const lex *x;
    const unsigned char *t;
    size_t len, pos;
    tok ring[RING];
    uint64_t filled; /* bit i: ring[i] holds a token (its tno is set) */
    size_t head, n;  /* ring[head] is the current token, n buffered */
    size_t hist;     /* tokens consumed so far, for look-behind */
    size_t hpos[8];  /* hpos[c % 8]: where token c starts to be read (its pre) */
    int lower;       /* the text has no capital letters: words count as capitalised */
    memo_ent *memo;  /* lookups of this thread (lex_find), or NULL */
    size_t ck_from;  /* no checkpoint before this: skip_plain read up to it (num_inert) */
} stream;

static unsigned lex_flags(const stream *st, const char *k, size_t n)
{
    const lex_ent *e = lex_find(st->x, st->memo, k, n);
    return e ? e->flags : 0;
}

static int lex_cflags(const stream *st, const char *k, size_t n)
{
    const lex_ent *e = lex_find(st->x, st->memo, k, n);
    return e ? e->cflags : 0;
}

/* Decodes one UTF-8 code point at t[i]; returns its length (1 for bad bytes,
 * which then decode as U+FFFD). */
static size_t u8dec(const unsigned char *t, size_t len, size_t i, uint32_t *cp)
{
    unsigned c = t[i];
    size_t n = c < 0x80                ? 1
               : c >= 0xc2 && c < 0xe0 ? 2
               : c >= 0xe0 && c < 0xf0 ? 3
               : c >= 0xf0 && c < 0xf5 ? 4
                                       : 0;
    if (n == 0 || i + n > len) {
        *cp = 0xfffd;
        return 1;
    }
    uint32_t v = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (size_t k = 1; k < n; k++) {
        if ((t[i + k] & 0xc0) != 0x80) {
            *cp = 0xfffd;
            return 1;
        }
        v = (v << 6) | (t[i + k] & 0x3f);
    }
    *cp = v;
    return n;
}

static int cp_letter(uint32_t c)
{
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    if (c < 0xc0) return c == 0xaa || c == 0xb5 || c == 0xba;
    if (c == 0xd7 || c == 0xf7) return 0;
    if (c >= 0x2000 && c < 0x2070) return 0; /* general punctuation */
    if (c >= 0x3000 && c < 0x3040) return 0; /* CJK punctuation */
    if (c == 0xfffd || c == 0xfeff) return 0;
    return 1;
}

/* Upper-case test and lowercase mapping for Latin-1, Latin Extended-A,
 * Greek and Cyrillic; other scripts have no case here. */
static int cp_upper(uint32_t c)
{
    if (c < 0x80) return c >= 'A' && c <= 'Z';
    if (c >= 0xc0 && c <= 0xde) return c != 0xd7;
    if (c >= 0x100 && c <= 0x137) return !(c & 1);
    if (c >= 0x139 && c <= 0x148) return c & 1;
    if (c >= 0x14a && c <= 0x177) return !(c & 1);
    if (c == 0x178 || c == 0x179 || c == 0x17b || c == 0x17d) return 1;
    if (c >= 0x391 && c <= 0x3a9) return 1;
    if (c >= 0x400 && c <= 0x42f) return 1;
    return 0;
}

static uint32_t cp_lower(uint32_t c)
{
    if (!cp_upper(c)) return c;
    if (c < 0x80 || (c >= 0xc0 && c <= 0xde) || (c >= 0x391 && c <= 0x3a9)) return c + 0x20;
    if (c >= 0x400 && c <= 0x40f) return c + 0x50;
    if (c >= 0x410 && c <= 0x42f) return c + 0x20;
    if (c == 0x178) return 0xff;
    return c + 1;
}

static int is_alpha(unsigned c)
{
    return (unsigned)((c | 0x20) - 'a') < 26u;
}

/* Byte classes for skip_plain: 1 white space, 2 lowercase ASCII letter, 3
 * other ASCII punctuation or control byte, 0 what may start a finding or
 * needs the full tokenizer (capitals, digits, non-ASCII). */
static const uint8_t bclass[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 3,
    3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3,
    3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* End of the run of lowercase ASCII letters from t[j]: eight bytes at a
 * time where the text allows (a carry out of a byte only reaches bytes after
 * the first one that is not a letter, so the first such byte is exact). */
static inline size_t lower_run(const unsigned char *t, size_t j, size_t len)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t hi = 0x8080808080808080u;
    while (j + 8 <= len) {
        uint64_t x;
        memcpy(&x, t + j, 8);
        uint64_t in = (x + 0x1f1f1f1f1f1f1f1fu) & ~(x + 0x0505050505050505u) & ~x & hi;
        uint64_t out = ~in & hi;
        if (out) return j + ((size_t)__builtin_ctzll(out) >> 3);
        j += 8;
    }
#endif
    while (j < len && bclass[t[j]] == 2) j++;
    return j;
}

/* End of the run of white space from t[i].  Most gaps are one space; long
 * runs of spaces (indented text) are passed eight at a time. */
static inline size_t space_run(const unsigned char *t, size_t i, size_t len)
{
    if (i >= len || bclass[t[i]] != 1) return i;
    if (++i >= len || bclass[t[i]] != 1) return i;
    for (uint64_t w; i + 8 <= len && (memcpy(&w, t + i, 8), w == 0x2020202020202020u);) i += 8;
    while (i < len && bclass[t[i]] == 1) i++;
    return i;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* High bit of each byte of x that is an ASCII letter, exact up to and
 * including the first byte that is not (see lower_run). */
static inline uint64_t letters8(uint64_t x)
{
    uint64_t y = x | 0x2020202020202020u;
    return (y + 0x1f1f1f1f1f1f1f1fu) & ~(y + 0x0505050505050505u) & ~y & 0x8080808080808080u;
}
#endif

/* Reads an ASCII word whose first letter t[i] is a capital: returns the end
 * of its run of letters, stores its key (lowercase) in key[0..KEYMAX) and
 * says whether every letter after the first is a capital and whether any
 * is.  Bytes past the word's end may be stored too (beyond its length,
 * unread). */
static inline size_t cap_word(const unsigned char *t, size_t i, size_t len, char *key,
                              int *all_upper, int *more_upper)
{
    size_t j = i + 1;
    int all = 1, more = 0;
    key[0] = (char)(t[i] | 0x20);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* eight letters at a time while the key has room for eight more */
    while (j + 8 <= len && j - i + 8 <= KEYMAX) {
        uint64_t x, in;
        memcpy(&x, t + j, 8);
        in = letters8(x);
        uint64_t out = ~in & 0x8080808080808080u;
        size_t m = out ? (size_t)__builtin_ctzll(out) >> 3 : 8;
        uint64_t lw = m == 8 ? in : in & ((1ull << (8 * m)) - 1);
        uint64_t up = lw & (~x << 2); /* 0x20 clear: a capital */
        all &= up == lw;
        more |= up != 0;
        x |= 0x2020202020202020u;
        memcpy(key + (j - i), &x, 8);
        j += m;
        if (m < 8) {
            *all_upper = all;
            *more_upper = more;
            return j;
        }
    }
#endif
    for (; j < len && is_alpha(t[j]); j++) {
        if (j - i < KEYMAX) key[j - i] = (char)(t[j] | 0x20);
        all &= t[j] <= 'Z';
        more |= t[j] <= 'Z';
    }
    *all_upper = all;
    *more_upper = more;
    return j;
}

/* Reads the token at st->pos into *k.  Returns 0 at the end of the text. */
static int lex_next(stream *st, tok *k)
{
    const unsigned char *t = st->t;
    size_t i = st->pos, len = st->len;
    k->pre = i;
    size_t ws = i;
    i = space_run(t, i, len);
    k->space = i > ws;
    k->nl = i - ws == 1 ? t[ws] == '\n' : i > ws && memchr(t + ws, '\n', i - ws) != NULL;
    if (i >= len) {
        st->pos = len;
        return 0;
    }
    k->s = i;
    k->klen = 0;
    k->kbuf[0] = 0;
    k->key = k->kbuf;
    k->looked = 0;
    k->common = 0;
    k->mixed = 0;
    k->ocap = C_LOWER;
    k->flags = 0;
    k->cap = C_LOWER;
    if (t[i] >= 'a' && t[i] <= 'z') {
        /* fast path: a plain lowercase ASCII word is its own key */
        size_t j = lower_run(t, i + 1, len);
        k->type = T_WORD;
        if (j >= len || (t[j] < 0x80 && !is_alpha(t[j]) && t[j] != '-' && t[j] != '\'')) {
            k->key = (const char *)t + i;
            k->klen = j - i <= KEYMAX ? (uint8_t)(j - i) : 0;
            if (st->lower && j - i >= 2) k->cap = C_CAP;
            k->e = j;
            st->pos = j;
            return 1;
        }
        goto word;
    }
    if (t[i] >= 'A' && t[i] <= 'Z') {
        /* fast path: an ASCII word starting with a capital ("Smith", "USA"),
         * judged and keyed as the general loop below would */
        int all_upper, more_upper;
        size_t j = cap_word(t, i, len, k->kbuf, &all_upper, &more_upper);
        if (j >= len || (t[j] < 0x80 && t[j] != '-' && t[j] != '\'')) {
            size_t n = j - i;
            k->type = T_WORD;
            k->cap = all_upper && n >= 2 ? C_ALLCAP : C_CAP;
            k->mixed = k->cap == C_CAP && more_upper;
            k->ocap = k->cap;
            if (n <= KEYMAX) k->klen = (uint8_t)n;
            k->e = j;
            st->pos = j;
            return 1;
        }
    }
    if (t[i] < 0x80 && !is_alpha(t[i]) && !(t[i] >= '0' && t[i] <= '9')) {
        k->type = T_PUNCT; /* fast path: ASCII punctuation */
        k->kbuf[0] = (char)t[i];
        k->key = k->kbuf;
        k->e = i + 1;
        st->pos = i + 1;
        return 1;
    }
    uint32_t c;
    size_t n = t[i] < 0x80 ? (c = t[i], 1) : u8dec(t, len, i, &c);
    if (c >= '0' && c <= '9') {
        k->type = T_NUM;
        i += n; /* an overlong form of a digit ("\xe0\x80\xb7") is one too, and is passed */
        while (i < len && ((t[i] >= '0' && t[i] <= '9') || is_alpha(t[i]) ||
                           (t[i] == '-' && i + 1 < len && t[i + 1] >= '0' && t[i + 1] <= '9')))
            i++;
        k->e = i;
        st->pos = i;
        return 1;
    }
    if (!cp_letter(c)) {
        k->type = T_PUNCT;
        k->e = i + n;
        k->kbuf[0] = (char)(c < 0x80 ? c : 0);
        k->key = k->kbuf;
        st->pos = i + n;
        return 1;
    }
    k->type = T_WORD;
word:
    k->key = k->kbuf;
    size_t kl = 0;
    int upper = 0, letters = 0, keyok = 1;
    while (i < len) {
        unsigned ch = t[i];
        if (ch < 0x80 && is_alpha(ch)) { /* fast path: ASCII letter */
            if (ch <= 'Z') {
                upper++;
                if (letters == 0) k->cap = C_CAP;
            }
            letters++;
            if (keyok) {
                if (kl < KEYMAX)
                    k->kbuf[kl++] = (char)(ch | 0x20);
                else
                    keyok = 0;
            }
            i++;
            continue;
        }
        n = ch < 0x80 ? (c = ch, 1) : u8dec(t, len, i, &c);
        if (!cp_letter(c)) {
            /* keep hyphenated and O'Brien-style words whole */
            if ((c == '-' || c == '\'') && letters && i + 1 < len && t[i + 1] < 0x80 &&
                is_alpha(t[i + 1]) &&
                !(c == '\'' && (t[i + 1] == 's' || t[i + 1] == 't') &&
                  (i + 2 >= len || !is_alpha(t[i + 2])))) {
                if (keyok && kl < KEYMAX) k->kbuf[kl++] = (char)c;
                i++;
                continue;
            }
            break;
        }
        if (cp_upper(c)) {
            upper++;
            if (letters == 0) k->cap = C_CAP;
        }
        letters++;
        if (keyok) {
            char b[4];
            size_t m = al_utf8_put(cp_lower(c), (unsigned char *)b);
            if (kl + m <= KEYMAX) {
                memcpy(k->kbuf + kl, b, m);
                kl += m;
            } else
                keyok = 0;
        }
        i += n;
    }
    if (k->cap == C_CAP && upper == letters && letters >= 2) k->cap = C_ALLCAP;
    k->mixed = k->cap == C_CAP && upper > 1;
    k->klen = keyok ? (uint8_t)kl : 0;
    k->ocap = k->cap;
    if (st->lower && k->cap == C_LOWER && letters >= 2) k->cap = C_CAP;
    k->e = i;
    st->pos = i;
    return 1;
}

/* Token k positions ahead of the current one (0 = current), or NULL. */
static tok *peek_read(stream *st, size_t k);

static inline tok *peek(stream *st, size_t k)
{
    if (k < st->n) return &st->ring[(st->head + k) % RING]; /* already read */
    return peek_read(st, k);
}

static tok *peek_read(stream *st, size_t k)
{
    if (k >= RING - 8) return NULL;
    while (st->n <= k) {
        size_t at = (st->head + st->n) % RING;
        tok *slot = &st->ring[at];
        if (!lex_next(st, slot)) return NULL;
        slot->tno = st->hist + st->n;
        st->filled |= 1ull << at;
        st->n++;
    }
    return &st->ring[(st->head + k) % RING];
}

/* Token k positions behind the current one (1 = previous), or NULL.  The
 * ring keeps the last few consumed tokens; one that skip_plain passed over
 * is read again, from where it started, when asked for. */
static tok *back_read(stream *st, size_t at, size_t c)
{
    tok *slot = &st->ring[at];
    size_t pos = st->pos;
    st->pos = st->hpos[c % 8];
    (void)lex_next(st, slot); /* the same token as before: it was read once */
    slot->tno = c;
    st->filled |= 1ull << at;
    st->pos = pos;
    return slot;
}

static inline tok *back(stream *st, size_t k)
{
    if (k == 0 || k > 6 || k > st->hist) return NULL;
    size_t at = (st->head + RING - k) % RING, c = st->hist - k;
    if (!(st->filled >> at & 1) || st->ring[at].tno != c) return back_read(st, at, c);
    return &st->ring[at];
}

static void advance(stream *st, size_t k)
{
    while (k-- && st->n) {
        st->hpos[st->hist % 8] = st->ring[st->head].pre;
        st->head = (st->head + 1) % RING;
        st->n--;
        st->hist++;
    }
}

static void look_up(const stream *st, tok *k)
{
    const lex_ent *e =
        k->type == T_WORD && k->klen ? lex_find(st->x, st->memo, k->key, k->klen) : NULL;
    k->flags = e ? e->flags : 0;
    k->cflags = e ? e->cflags : 0;
    k->looked = 1;
}

/* Lexicon flags of a word (0 for other tokens), looked up once. */
static inline unsigned flags_of(const stream *st, tok *k)
{
    if (!k) return 0;
    if (!k->looked) look_up(st, k);
    return k->flags;
}

/* Context-word lists, one bit each; the words are in the hash set too, so a
 * membership test is one lookup per token whatever the list's length. */
enum {
    CTX_name_intro = 1 << 0,
    CTX_name_is = 1 << 1,
    CTX_said = 1 << 2,
    CTX_determiners = 1 << 3,
    CTX_place_preps = 1 << 4,
    CTX_particles = 1 << 5,
    CTX_at_place = 1 << 6,
    CTX_home_verbs = 1 << 7,
    CTX_pii_cues = 1 << 8,
    CTX_plain_streets = 1 << 9,
    CTX_field_labels = 1 << 10,
    CTX_salutations = 1 << 11,
};

static inline int in_list(const stream *st, tok *k, unsigned bit)
{
    if (!k) return 0;
    if (!k->looked) look_up(st, k);
    return (k->cflags & bit) != 0;
}

static inline int key_is(const tok *k, const char *w)
{
    size_t n = strlen(w); /* a literal: the compare is inlined */
    return k && k->type == T_WORD && k->klen && k->key[0] == w[0] && k->klen == n &&
           memcmp(k->key, w, n) == 0;
}

static int punct_is(const tok *k, char c)
{
    return k && k->type == T_PUNCT && k->key[0] == c;
}

/* Ordinary English word: in the stem list, directly or after dropping a
 * common inflection. */
static int common_key(const stream *st, const char *key, size_t klen, unsigned f, int ocap)
{
    if (f & F_COMMON) return 1;
    if ((f & (F_GIVEN | F_SUR)) && ocap != C_LOWER) return 0; /* "James" is not "jam"+"es" */
    static const char *const suf[] = {"s", "es", "ed", "ing", "ly", "er", NULL};
    static const uint8_t suflen[] = {1, 2, 2, 3, 2, 2};
    for (size_t i = 0; suf[i]; i++) {
        size_t sl = suflen[i];
        if (klen > sl + 2 && key_eq(key + klen - sl, suf[i], sl)) {
            if (lex_flags(st, key, klen - sl) & F_COMMON) return 1;
            char tmp[KEYMAX + 1];
            memcpy(tmp, key, klen - sl);
            tmp[klen - sl] = 'e';
            if (lex_flags(st, tmp, klen - sl + 1) & F_COMMON) return 1;
        }
    }
    return 0;
}

static int is_common_uncached(const stream *st, tok *k)
{
    return common_key(st, k->key, k->klen, flags_of(st, k), k->ocap);
}

static int is_common(const stream *st, tok *k)
{
    if (!k->common) k->common = (uint8_t)(1 + is_common_uncached(st, k));
    return k->common == 2;
}

/* Start of a sentence: nothing, or . ! ? : or a line break before it. */
static int sentence_start(stream *st, tok *cur)
{
    tok *p = back(st, 1);
    if (!p || cur->nl) return 1;
    if (p->type == T_PUNCT && strchr(".!?:\"(*#>-", p->key[0]) && p->key[0]) return 1;
    return p->type == T_PUNCT && p->key[0] == 0; /* typographic quote or dash */
}

/* Spans of one scan at every evidence level, before a rule picks its own. */
typedef struct {
    al_span *v;
    uint8_t *lvl;
    size_t n, cap;
} sink;

#define MAX_SPANS (1u << 22)

static al_code push(sink *out, size_t s, size_t e, int level)
{
    if (out->n == out->cap) {
        if (out->cap >= MAX_SPANS) return AL_ELIMIT;
        size_t cap = out->cap ? out->cap * 2 : 64;
        al_span *v = realloc(out->v, cap * sizeof *v);
        if (!v) return AL_ENOMEM;
        out->v = v;
        uint8_t *l = realloc(out->lvl, cap);
        if (!l) return AL_ENOMEM;
        out->lvl = l;
        out->cap = cap;
    }
    out->v[out->n] = (al_span){s, e, level == 4 ? 0.6 : 0.85};
    out->lvl[out->n++] = (uint8_t)level;
    return AL_OK;
}

static int has_suffix(const lex *x, const tok *k);
static size_t place_match(stream *st, size_t *e);
static int possessive_s(const stream *st, const tok *a, const tok *b);
static int apos_s_after(stream *st, size_t k, const char *w);

/* PERSON: a run of name-like capitalised words judged by its first word,
 * what follows it and what precedes it. */

static const char *const name_intro[] = {
    "named", "called", "dear", "hi", "hello", "hey", "thanks", "sincerely", "regards", "cheers",
    "signed", "cc", "attn", "attention", "wishes", "faithfully",
    /* greetings, sign-offs and "I am called" in German, French, Spanish,
     * Italian, Dutch and Portuguese ("Hallo Anna", "Cordialement, Luc",
     * "Mit freundlichen Grüßen", "ich heiße", "je m'appelle", "me llamo") */
    "hola", "bonjour", "chère", "estimado", "estimada", "cordialement", "atentamente", "cordiales",
    "saludo", "saludos", "saluti", "cumprimentos", "gruß", "grüße", "grüßen", "groet", "groeten",
    "heiße", "heisse", "appelle", "m'appelle", "llamo", "chiamo", "heet", NULL};
/* The greetings and sign-offs of name_intro: a letter's addressee or
 * writer follows them ("Dear Olivia,", "Thanks, Tom"), not an introduction
 * of oneself ("my name is", "je m'appelle") or a record's field ("Attn:"). */
static const char *const salutations[] = {
    "dear",         "hi",           "hello",       "hey",       "thanks",  "sincerely", "regards",
    "cheers",       "wishes",       "faithfully",  "hola",      "bonjour", "chère",     "estimado",
    "estimada",     "cordialement", "atentamente", "cordiales", "saludo",  "saludos",   "saluti",
    "cumprimentos", "gruß",         "grüße",       "grüßen",    "groet",   "groeten",   NULL};
/* words before "is" in "my name is" (and "mi nombre es", "mijn naam is",
 * "mon nom est", "mein Name ist") */
static const char *const name_is[] = {"name",   "names", "i'm", "im", "am",
                                      "nombre", "naam",  "nom", NULL};
static const char *const said[] = {"says",  "said",   "asks", "asked", "told", "tells", "starring",
                                   "thank", "thanks", "ask",  "call",  "meet", "met",   NULL};
static const char *const determiners[] = {"the",   "a",   "an",   "this",  "that", "these", "those",
                                          "some",  "any", "each", "every", "no",   "our",   "your",
                                          "their", "its", "new",  "nice",  "old",  "my",    NULL};
static const char *const place_preps[] = {"in",     "near",       "visit",   "visited", "across",
                                          "around", "throughout", "outside", "inside",  NULL};
/* Labels of fields that hold a person's name: "Customer: Ana Silva" (roles
 * in records and forms, and their names in other languages). */
static const char *const field_labels[] = {"customer",
                                           "patient",
                                           "client",
                                           "contact",
                                           "employee",
                                           "applicant",
                                           "tenant",
                                           "recipient",
                                           "sender",
                                           "from",
                                           "to",
                                           "cc",
                                           "attn",
                                           "holder",
                                           "owner",
                                           "beneficiary",
                                           "guardian",
                                           "cardholder",
                                           "signed",
                                           "signature",
                                           "borrower",
                                           "insured",
                                           "passenger",
                                           "user",
                                           "username",
                                           "member",
                                           "student",
                                           "subscriber",
                                           "payee",
                                           "payer",
                                           "buyer",
                                           "seller",
                                           "resident",
                                           "guest",
                                           "caller",
                                           "witness",
                                           "nom",
                                           "prénom",
                                           "prenom",
                                           "vorname",
                                           "nachname",
                                           "nombre",
                                           "apellido",
                                           "apellidos",
                                           "nome",
                                           "cognome",
                                           "naam",
                                           "voornaam",
                                           "achternaam",
                                           "kunde",
                                           "empfänger",
                                           "absender",
                                           "ansprechpartner",
                                           "destinataire",
                                           "titulaire",
                                           "inhaber",
                                           "contactpersoon",
                                           "klant",
                                           "cliente",
                                           "paciente",
                                           "physician",
                                           "doctor",
                                           "nurse",
                                           "spouse",
                                           "supervisor",
                                           "landlord",
                                           "landlady",
                                           "representative",
                                           "signatory",
                                           "kin",
                                           "father",
                                           "mother",
                                           "parent",
                                           "by",
                                           "assignee",
                                           "reporter",
                                           "requester",
                                           NULL};
static const char *const particles[] = {"van", "von", "de",  "da",  "di",  "del", "della", "der",
                                        "den", "du",  "la",  "le",  "bin", "ibn", "al",    "el",
                                        "ter", "ten", "dos", "das", "y",   "st",  NULL};

/* Name-like capitalised word: a given name or surname, or a capitalised
 * word that is not ordinary English. */
static int surname_like(stream *st, tok *k)
{
    if (!k || k->type != T_WORD || k->cap != C_CAP || !k->klen) return 0;
    unsigned f = flags_of(st, k);
    if (f & (F_ORG | F_NOTNAME | F_TITLE | F_STREET | F_UNIT | F_PREFIX)) return 0;
    if (is_common(st, k)) return 0;
    return 1;
}

/* After a title and a capitalised name ("Dr. Emily Rose White"): a
 * capitalised listed name, even one that is also a word. */
static int title_run_word(stream *st, tok *k)
{
    if (!k || k->type != T_WORD || k->cap != C_CAP || !k->klen) return 0;
    unsigned f = flags_of(st, k);
    return (f & (F_GIVEN | F_SUR)) && !(f & F_NOT_IN_NAME);
}

/* A listed name that is not also an ordinary word, in any case. */
static int plain_name(stream *st, tok *k, unsigned want)
{
    if (!k || k->type != T_WORD || !k->klen || k->cap == C_ALLCAP) return 0;
    unsigned f = flags_of(st, k);
    return (f & want) && !(f & (F_NOTNAME | F_ORG | F_TITLE | F_STREET | F_UNIT)) &&
           !is_common(st, k);
}

static const char *const pii_cues[] = {
    "email",     "e-mail",    "phone",    "address",   "account",     "card",     "ssn",
    "passport",  "license",   "licence",  "contact",   "dob",         "iban",     "fax",
    "tel",       "customer",  "patient",  "client",    "beneficiary", "guardian", "billing",
    "statement", "applicant", "tenant",   "insurance", "lives",       "resides",  "residing",
    "mailing",   "zip",       "postcode", "apt",       "apartment",   NULL};

static inline int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Digits at t[i..): how many, up to 5 (no more are ever wanted here). */
static size_t digit_run(const unsigned char *t, size_t i, size_t b)
{
    size_t n = 0;
    while (i + n < b && n < 5 && is_digit(t[i + n])) n++;
    return n;
}

/* A number written as a record's SSN, phone or card number at t[i..b)
 * (i at a digit, '(' or '+' with no digit before it): "536-22-1234",
 * "212-555-0199", "212.555.0199", "(212) 555-0199", "+44 20 7946 0958",
 * "4111 1111 1111 1111".  Shapes only, no validation: this is evidence
 * that a name beside it is somebody's record, not a finding. */
static int record_number(const unsigned char *t, size_t i, size_t b)
{
    size_t g[5], n = 0, p = i, digits = 0;
    unsigned char sep[5] = {0};
    if (t[p] == '+') { /* international: '+', then 9-15 digits in groups */
        for (p++; p < b && n < 5;) {
            size_t d = 0;
            while (p + d < b && is_digit(t[p + d])) d++;
            if (!d) break;
            digits += d;
            p += d;
            n++;
            if (p + 1 < b && (t[p] == ' ' || t[p] == '-') && is_digit(t[p + 1]))
                p++;
            else
                break;
        }
        return n >= 2 && digits >= 9 && digits <= 15;
    }
    if (t[p] == '(') { /* "(212) 555-0199", "(212)555-0199" */
        if (digit_run(t, p + 1, b) != 3 || p + 4 >= b || t[p + 4] != ')') return 0;
        p += 5;
        if (p < b && t[p] == ' ') p++;
        return digit_run(t, p, b) == 3 && p + 3 < b && t[p + 3] == '-' &&
               digit_run(t, p + 4, b) == 4 && (p + 8 >= b || !is_digit(t[p + 8]));
    }
    while (n < 5) { /* digit groups joined by one '-', '.' or ' ' */
        g[n] = digit_run(t, p, b);
        if (!g[n] || g[n] == 5) return 0;
        p += g[n];
        n++;
        if (p + 1 < b && (t[p] == '-' || t[p] == '.' || t[p] == ' ') && is_digit(t[p + 1]))
            sep[n - 1] = t[p++];
        else
            break;
    }
    if (p < b && is_digit(t[p])) return 0;
    if (n == 3 && sep[0] == '-' && sep[1] == '-' && g[0] == 3 && g[1] == 2 && g[2] == 4)
        return 1; /* SSN */
    if (n == 3 && sep[0] == sep[1] && sep[0] != ' ' && g[0] == 3 && g[1] == 3 && g[2] == 4)
        return 1; /* phone */
    if (n == 4 && sep[0] == sep[1] && sep[1] == sep[2] && sep[0] != '.' && g[0] == 4 && g[1] == 4 &&
        g[2] == 4 && g[3] == 4)
        return 1; /* card */
    return 0;
}

/* The first byte of t[i..b) that may start a record number (a digit, '('
 * or '+'), or b; eight bytes at a time (each test exact per byte: no sum
 * carries into the next byte). */
static inline size_t num_mark(const unsigned char *t, size_t i, size_t b)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t lo7 = 0x7f7f7f7f7f7f7f7fu, hi = 0x8080808080808080u;
    for (; i + 8 <= b; i += 8) {
        uint64_t x, p, q;
        memcpy(&x, t + i, 8);
        uint64_t x7 = x & lo7;
        uint64_t m = (x7 + 0x5050505050505050u) & ~(x7 + 0x4646464646464646u) & ~x; /* 0-9 */
        p = x ^ 0x2828282828282828u; /* '(' is a zero byte */
        q = x ^ 0x2b2b2b2b2b2b2b2bu; /* '+' */
        m |= ~(((p & lo7) + lo7) | p) | ~(((q & lo7) + lo7) | q);
        if ((m &= hi) != 0) return i + ((size_t)__builtin_ctzll(m) >> 3);
    }
#endif
    while (i < b && !is_digit(t[i]) && t[i] != '(' && t[i] != '+') i++;
    return i;
}

/* Personal-data words (or an '@', or a number written as an SSN, phone or
 * card number) within 60 bytes of [s, e), in the same paragraph: the name
 * is somebody's record, not a mention of a public figure. */
static int near_pii(const stream *st, size_t s, size_t e)
{
    size_t a = s > 60 ? s - 60 : 0, b = e + 60 < st->len ? e + 60 : st->len;
    /* within the same paragraph: a blank line ends the window (a window
     * with no line feed has none: most) */
    const unsigned char *t = st->t;
    if (s > a + 1 && memchr(t + a, '\n', s - a))
        for (size_t i = s; i > a + 1; i--)
            if (t[i - 1] == '\n' && t[i - 2] == '\n') {
                a = i;
                break;
            }
    if (e + 1 < b && memchr(t + e, '\n', b - e))
        for (size_t i = e; i + 1 < b; i++)
            if (t[i] == '\n' && t[i + 1] == '\n') {
                b = i;
                break;
            }
    for (size_t i = num_mark(t, a, b); i < b; i = num_mark(t, i + 1, b))
        if ((i == a || !is_digit(t[i - 1])) && record_number(t, i, b)) return 1;
    /* lex_next reads only these (the ring, some 6 KB, is not cleared); the
     * words are read as written (lower 0).  ASCII words and marks are read
     * here on lex_next's terms, the rest by lex_next. */
    stream w;
    w.x = st->x;
    w.t = st->t;
    w.len = b;
    w.pos = a;
    w.lower = 0;
    w.memo = st->memo;
    tok k;
    int idiom = 0;      /* "into account", "on account of" */
    int since_num = 99; /* tokens since a house number */
    for (size_t i = a;;) {
        i = space_run(t, i, b);
        if (i >= b) break;
        unsigned c = t[i];
        int type, cap = C_LOWER;
        const char *key = NULL; /* a word's key */
        size_t klen = 0, j;
        int all_upper, more_upper;
        if (c >= 'a' && c <= 'z' &&
            ((j = lower_run(t, i + 1, b)) >= b ||
             (t[j] < 0x80 && !is_alpha(t[j]) && t[j] != '-' && t[j] != '\''))) {
            type = T_WORD; /* lex_next's plain lowercase word */
            key = (const char *)t + i;
            klen = j - i <= KEYMAX ? j - i : 0;
        } else if (c >= 'A' && c <= 'Z' &&
                   ((j = cap_word(t, i, b, k.kbuf, &all_upper, &more_upper)) >= b ||
                    (t[j] < 0x80 && t[j] != '-' && t[j] != '\''))) {
            type = T_WORD; /* its capitalised word */
            cap = all_upper && j - i >= 2 ? C_ALLCAP : C_CAP;
            key = k.kbuf;
            klen = j - i <= KEYMAX ? j - i : 0;
        } else if (c < 0x80 && !is_alpha(c) && !(c >= '0' && c <= '9')) {
            type = T_PUNCT; /* its mark */
            j = i + 1;
        } else {
            w.pos = i; /* anything else: lex_next */
            if (!lex_next(&w, &k)) break;
            j = k.e;
            type = k.type;
            cap = k.cap;
            key = k.key;
            klen = k.type == T_WORD ? k.klen : 0;
            c = (unsigned char)k.key[0];
        }
        if (type == T_PUNCT && c == '@') return 1;
        const lex_ent *le = type == T_WORD && klen ? lex_find(st->x, st->memo, key, klen) : NULL;
        /* a street address: a house number, capitalised words, a
         * capitalised street type ("42 Elm Street", "12 Oak Avenue"; not
         * "36 sq ft" or "(0.5 point)") */
        if (type == T_WORD && cap == C_CAP && since_num >= 1 && since_num <= 3 && le &&
            (le->flags & F_STREET))
            return 1;
        if (type == T_NUM && j - i <= 5)
            since_num = 0;
        else if (since_num < 99)
            since_num = type == T_WORD && cap != C_LOWER ? since_num + 1 : 99;
        if (le && (le->cflags & CTX_pii_cues) &&
            !(idiom && klen == 7 && memcmp(key, "account", 7) == 0))
            return 1;
        idiom = type == T_WORD && ((klen == 4 && memcmp(key, "into", 4) == 0) ||
                                   (klen == 2 && memcmp(key, "on", 2) == 0));
        i = j;
    }
    return 0;
}

/* level: 1 strong, 2 name, 4 weak (see det_state.levels); a name with
 * personal data nearby is promoted to strong. */
static al_code emit(const stream *st, sink *out, size_t s, size_t e, int level)
{
    if (level == 2 && near_pii(st, s, e)) level = 1;
    return push(out, s, e, level);
}

/* Words introducing a name just before token 0: "my name is", "Dear",
 * "named", "Hi". */
/* Could p be the word or mark just before an introduced name (see
 * introduced)?  A switch on the length keeps this cheap for every word. */
static int intro_word(const char *k, size_t klen)
{
#define IS(w) (memcmp(k, w, sizeof w - 1) == 0)
    switch (klen) {
    case 2:
        return IS("hi") || IS("is") || IS("as") || IS("am") || IS("cc") || IS("es");
    case 3:
        return IS("hey") || IS("was") || IS("him") || IS("her") || IS("ist") || IS("est");
    case 4:
        return IS("dear") || IS("attn") || IS("hola") || IS("heet");
    case 5:
        return IS("named") || IS("hello") || IS("gruß") || IS("groet") || IS("llamo");
    case 6:
        return IS("called") || IS("thanks") || IS("cheers") || IS("signed") || IS("wishes") ||
               IS("chère") || IS("saludo") || IS("saluti") || IS("heiße") || IS("heisse") ||
               IS("chiamo");
    case 7:
        return IS("regards") || IS("bonjour") || IS("saludos") || IS("grüße") || IS("groeten") ||
               IS("appelle");
    case 8:
        return IS("estimado") || IS("estimada") || IS("grüßen");
    case 9:
        return IS("sincerely") || IS("attention") || IS("cordiales") || IS("m'appelle");
    case 10:
        return IS("faithfully");
    case 11:
        return IS("atentamente");
    case 12:
        return IS("cordialement") || IS("cumprimentos");
    default:
        return 0;
    }
#undef IS
}

static int intro_candidate(const tok *p)
{
    if (!p) return 0;
    if (p->type == T_PUNCT) return p->key[0] == ',' || p->key[0] == ':' || p->key[0] == '?';
    if (p->type != T_WORD) return 0;
    return intro_word(p->key, p->klen);
}

/* The word "name" at back(st, k) labels a person's name field: it starts a
 * line or list item, or says whose name ("Full name:", "Customer name:"),
 * unlike "Brand Name:" or "File name:". */
static int name_field(stream *st, size_t k)
{
    /* whose name: "Full name:", "Customer name:", "Name of employee:" */
    static const char *const whose[] = {
        "full",      "first",     "last",      "given",      "my",         "your",     "his",
        "her",       "their",     "customer",  "patient",    "client",     "contact",  "legal",
        "holder",    "sender",    "recipient", "cardholder", "account",    "employee", "applicant",
        "tenant",    "student",   "member",    "guest",      "passenger",  "insured",  "emergency",
        "maiden",    "ship",      "bill",      "deliver",    "sold",       "reported", "prepared",
        "submitted", "requested", "approved",  "authorised", "authorized", "reviewed", "completed",
        "entered",   "created",   "next",      "attending",  "pt",         "of",       "preferred",
        "middle",    "birth",     NULL};
    tok *n = back(st, k), *w = back(st, k + 1);
    if (!n) return 0;
    /* a line, list item or record field: after a bullet, a dash (also an
     * en or em dash or a bullet, U+2013/2014/2022), ",", ";" or "." ("ID 4411,
     * Name: Ana Silva") */
    if (!w || n->nl || (w->type == T_PUNCT && w->key[0] && strchr("-*>|([,;.", w->key[0])))
        return 1;
    if (w->type == T_PUNCT && !w->key[0] && w->e - w->s == 3) {
        const unsigned char *d = st->t + w->s;
        if (d[0] == 0xe2 && d[1] == 0x80 && (d[2] == 0x93 || d[2] == 0x94 || d[2] == 0xa2))
            return 1;
    }
    for (const char *const *p = whose; *p; p++)
        if (key_is(w, *p)) return 1;
    return 0;
}

/* After "Hola" or "Bonjour" a name is closed by ',' or '!' ("Bonjour
 * Marie,"): the capitalised words from token 0 up to it, on one line. */
static int greeting_closed(stream *st)
{
    for (size_t k = 0; k < 5; k++) {
        tok *b = peek(st, k);
        if (!b || (k > 0 && b->nl)) return 0;
        if (punct_is(b, ',') || punct_is(b, '!')) return k > 0;
        if (b->type != T_WORD || b->cap == C_LOWER) return 0;
    }
    return 0;
}

/* A given name that is also a town ("Mary", "Sydney") before a capitalised
 * surname on its line: "Signed: Mary Stone", not "Berlin" alone. */
static int given_then_surname(stream *st)
{
    tok *b = peek(st, 1);
    return (flags_of(st, peek(st, 0)) & F_GIVEN) && b && !b->nl && b->type == T_WORD &&
           b->cap == C_CAP && (flags_of(st, b) & F_SUR) && !(flags_of(st, b) & F_PLACE);
}

static int introduced(stream *st)
{
    tok *p1 = back(st, 1);
    if (!intro_candidate(p1)) return p1 && apos_s_after(st, 1, "name"); /* "My name's Laura" */
    if ((key_is(p1, "hola") || key_is(p1, "bonjour")) && !greeting_closed(st)) return 0;
    int is = key_is(p1, "is") || key_is(p1, "was") || key_is(p1, "ist") || key_is(p1, "est") ||
             key_is(p1, "es");
    if (p1->type == T_WORD && !in_list(st, p1, CTX_name_intro) && !is && !key_is(p1, "as") &&
        !key_is(p1, "am") && !key_is(p1, "him") && !key_is(p1, "her"))
        return 0;
    tok *p2 = back(st, 2); /* the token before it is read only after a ':' */
    return in_list(st, p1, CTX_name_intro) || (is && in_list(st, p2, CTX_name_is)) ||
           (key_is(p1, "as") && key_is(p2, "known")) || (key_is(p1, "am") && key_is(p2, "i")) ||
           (punct_is(p1, ',') && in_list(st, p2, CTX_name_intro)) ||
           (punct_is(p1, ':') && key_is(p2, "name") && name_field(st, 2)) ||
           (punct_is(p1, '?') && key_is(p2, "name") && name_field(st, 2)) || /* "your name? Ana" */
           (punct_is(p1, ':') && in_list(st, p2, CTX_field_labels) && name_field(st, 2) &&
            (!(flags_of(st, peek(st, 0)) & F_PLACE) ||
             (!key_is(p2, "to") && !key_is(p2, "from") && given_then_surname(st)))) ||
           /* "to: Berlin", "From: Sydney Harbour" */
           (punct_is(p1, ':') && key_is(back(st, 3), "name") && name_field(st, 3)) ||
           ((key_is(p1, "him") || key_is(p1, "her")) && key_is(p2, "named"));
}

/* A field for a role that often holds a product or a team as well
 * ("Manager: Kubernetes"), so it makes only a full name strong:
 * "Manager: Priyanka Sharma", "Assigned to: Lucia Fernandez". */
static int role_field(stream *st)
{
    static const char *const roles[] = {"manager", "partner", "lead", "approver", "reviewer", NULL};
    if (!punct_is(back(st, 1), ':')) return 0;
    tok *p2 = back(st, 2);
    size_t k = 2;
    if (key_is(p2, "to") && key_is(back(st, 3), "assigned"))
        k = 3;
    else {
        const char *const *r = roles;
        while (*r && !key_is(p2, *r)) r++;
        if (!*r) return 0;
    }
    tok *n = back(st, k), *w = back(st, k + 1);
    return !w || n->nl || (w->type == T_PUNCT && w->key[0] && strchr("-*>|([,;.", w->key[0]));
}

/* A one-word name that only a greeting or a sign-off introduces ("Dear
 * Olivia,", "Hi, Tom", "Cheers, Ana"): a lone first name identifies nobody,
 * so it counts as a name mentioned (level 2: redacted in completions only
 * with personal data beside it), not as one introduced. */
static int salutation_only(stream *st)
{
    tok *p1 = back(st, 1);
    return in_list(st, p1, CTX_salutations) ||
           (punct_is(p1, ',') && in_list(st, back(st, 2), CTX_salutations));
}

/* Evidence of what stands before token 0: 1 when the text introduces its
 * own or its addressee's name ("my name is", "Dear"), 2 otherwise (a name
 * given to someone: "named", "called", or none). */
static int intro_level(stream *st)
{
    tok *p1 = back(st, 1);
    if (!introduced(st) || key_is(p1, "named") || key_is(p1, "called") ||
        ((key_is(p1, "him") || key_is(p1, "her")) && key_is(back(st, 2), "named")))
        return 2;
    return 1;
}

/* Part of an address or a place name rather than a person: a number or a
 * street word before it, a number after it, a street ending, "in" before. */
static int address_like(stream *st, size_t n)
{
    tok *cur = peek(st, 0), *p1 = back(st, 1), *last = peek(st, n - 1), *nx = peek(st, n);
    if (p1 && !cur->nl && (p1->type == T_NUM || (flags_of(st, p1) & F_PREFIX))) return 1;
    if (p1 && punct_is(p1, '.') && (flags_of(st, back(st, 2)) & F_PREFIX)) return 1;
    if (nx && !nx->nl && nx->type == T_NUM) return 1;
    if (last && has_suffix(st->x, last)) return 1;
    if (in_list(st, p1, CTX_place_preps) && (flags_of(st, cur) & (F_PLACE | F_HEAD))) return 1;
    size_t e;
    return place_match(st, &e) > 1;
}

/* "Eklund, Warren and Bailey": a listed name next to another one. */
static int in_name_list(stream *st)
{
    /* the tokens two away are read only when the one between is a joiner */
    tok *p1 = back(st, 1), *p2, *n1, *n2;
    if ((punct_is(p1, ',') || key_is(p1, "and") || key_is(p1, "&")) &&
        plain_name(st, p2 = back(st, 2), F_GIVEN | F_SUR) && p2->cap == C_CAP)
        return 1;
    n1 = peek(st, 1);
    if ((punct_is(n1, ',') || key_is(n1, "and")) &&
        plain_name(st, n2 = peek(st, 2), F_GIVEN | F_SUR) && n2->cap == C_CAP)
        return 1;
    return 0;
}

/* The end of an introduced name run of n tokens ending at e, taken on over
 * a listed surname that is also a word a name never is alone ("Jenkins",
 * "May", "Ruby"): the run stops before such a word, which would leave the
 * surname of "Customer: Linda Jenkins" unredacted. */
static size_t notname_surname(stream *st, size_t n, size_t e)
{
    tok *b = peek(st, n);
    if (!b || b->nl || b->type != T_WORD || b->cap != C_CAP) return e;
    unsigned f = flags_of(st, b);
    if (!(f & F_SUR) || !(f & F_NOTNAME) || (f & (F_ORG | F_TITLE | F_STREET | F_UNIT | F_PREFIX)))
        return e;
    return b->e;
}

/* A word of a name written in capitals in a form: a listed given name or
 * surname that is no place, title, street or other word a name never is. */
static int caps_name_word(stream *st, tok *b)
{
    unsigned f = flags_of(st, b);
    return (f & (F_GIVEN | F_SUR)) && !(f & (F_NOT_IN_NAME | F_BROAD));
}

/* Is back(st, k) the "s" of "'s" after the word w ("name's", "it's")? */
static int apos_s_after(stream *st, size_t k, const char *w)
{
    tok *s = back(st, k), *a = back(st, k + 1);
    return key_is(s, "s") && a && possessive_s(st, a, s) && key_is(back(st, k + 2), w);
}

/* Does a possessive "'s" follow the n tokens from token 0 ("This is Robert
 * Frost's best poem")? */
static int possessive_after(stream *st, size_t n)
{
    tok *a = peek(st, n);
    return a && !a->space && a->type == T_PUNCT && possessive_s(st, a, peek(st, n + 1));
}

static int greeting_word(const tok *p)
{
    return key_is(p, "hi") || key_is(p, "hello") || key_is(p, "hey");
}

/* Openings of a chat, call or message that make the full or titled name
 * at token 0 its speaker's or its addressee's: "Good morning Mrs. Patel",
 * "Good afternoon, Mr Okafor", "Hi, this is Dana Whitfield", "This is Dana
 * Whitfield" starting a line, "Hello, it's Laura Bennett". */
static int chat_opening(stream *st)
{
    tok *p1 = back(st, 1), *p2, *p3;
    if (!p1) return 0;
    size_t k = 1;
    if (punct_is(p1, ',')) p1 = back(st, k = 2);
    if (key_is(p1, "morning") || key_is(p1, "afternoon") || key_is(p1, "evening"))
        return key_is(back(st, k + 1), "good");
    if (k == 1 && apos_s_after(st, 1, "it")) {
        /* the greeting before "it's" is read from the bytes: a scan taken
         * up at a checkpoint knows the starts of 4 tokens back only */
        const unsigned char *t = st->t;
        size_t i = back(st, 3)->s, e;
        while (i > 0 && t[i - 1] == ' ') i--;
        if (i > 0 && t[i - 1] == ',') i--;
        while (i > 0 && t[i - 1] == ' ') i--;
        e = i;
        while (i > 0 && e - i < 6 && is_alpha(t[i - 1])) i--;
        if (i > 0 && (is_alpha(t[i - 1]) || t[i - 1] >= 0x80)) return 0;
        char w[6];
        size_t n = e - i;
        if (n < 2 || n > 5) return 0;
        for (size_t q = 0; q < n; q++) w[q] = (char)(t[i + q] | 0x20);
        return (n == 2 && memcmp(w, "hi", 2) == 0) || (n == 3 && memcmp(w, "hey", 3) == 0) ||
               (n == 5 && memcmp(w, "hello", 5) == 0);
    }
    if (k == 1 && key_is(p1, "is") && key_is(p2 = back(st, 2), "this")) {
        p3 = back(st, 3);
        if (!p3 || p2->nl) return 1;
        if (punct_is(p3, ',') || punct_is(p3, '!') || punct_is(p3, '.')) p3 = back(st, 4);
        return greeting_word(p3) || key_is(p3, "morning") || key_is(p3, "afternoon") ||
               key_is(p3, "evening");
    }
    return 0;
}

/* A chat speaker's label: the n tokens from token 0 start a line and a ':'
 * ends them, before words of a chat turn ("Marco Rossi: hi, my order"), or
 * they follow a time stamp in brackets at the start of a line ("[10:42]
 * Marco Rossi:"); not a heading ("Robert Frost: a poet of New England"). */
static int speaker_label(stream *st, size_t n)
{
    tok *cur = peek(st, 0), *p1 = back(st, 1), *c = peek(st, n);
    if (!punct_is(c, ':') || c->space) return 0;
    if (!p1 || cur->nl) {
        static const char *const turn[] = {"i",     "i'm",   "my", "me",    "we",    "our",
                                           "you",   "your",  "hi", "hello", "hey",   "thanks",
                                           "thank", "yes",   "ok", "okay",  "sorry", "please",
                                           "can",   "could", NULL};
        for (size_t k = n + 1; k < n + 7; k++) {
            tok *b = peek(st, k);
            if (!b || b->nl) return 0;
            for (const char *const *w = turn; *w; w++)
                if (key_is(b, *w)) return 1;
        }
        return 0;
    }
    if (!punct_is(p1, ']')) return 0;
    /* "[10:42]", "[10:42:07]", "[9:05 am]" at the start of a line: digits,
     * ':' (one at least: not "[1]"), '.', spaces and am/pm back to the '[' */
    const unsigned char *t = st->t;
    size_t i = p1->s, digits = 0, colon = 0;
    while (i > 0 && p1->s - i < 16) {
        unsigned raw = t[i - 1], ch = raw | 0x20;
        if (raw >= '0' && raw <= '9')
            digits++;
        else if (raw == ':')
            colon++;
        else if (!(raw == '.' || raw == ' ' ||
                   (raw >= 'A' && (ch == 'a' || ch == 'p' || ch == 'm'))))
            break;
        i--;
    }
    return digits && colon && i > 0 && t[i - 1] == '[' && (i == 1 || t[i - 2] == '\n');
}

/* One step of the person scan at token 0; returns the tokens it used. */
static size_t person_step(stream *st, sink *out, al_code *rc)
{
    tok *cur = peek(st, 0);
    if (cur->type != T_WORD || !cur->klen ||
        (cur->cap == C_LOWER && !punct_is(peek(st, 1), '.') && !introduced(st))) {
        return 1; /* most words: no lookup at all */
    }
    unsigned f = flags_of(st, cur);
    size_t used = 1;
    /* title + name: "Dr. Rodney Radolič", "Mr Smith", "mr. larry lombardo" */
    if ((f & F_TITLE) && cur->cap != C_ALLCAP) {
        size_t j = 1;
        int dot = punct_is(peek(st, j), '.');
        if (dot) j++;
        tok *a = peek(st, j);
        int plain_title = key_is(cur, "mr") || key_is(cur, "mrs") || key_is(cur, "ms") ||
                          key_is(cur, "dr") || key_is(cur, "miss") || key_is(cur, "prof") ||
                          key_is(cur, "mister") || key_is(cur, "mx");
        /* two titles sharing the surname: "Mr and Mrs Patel", "Dr. & Mr. Lee" */
        tok *t2;
        if (plain_title && cur->cap == C_CAP && a && !a->nl &&
            (key_is(a, "and") || key_is(a, "&")) && (t2 = peek(st, j + 1)) && !t2->nl &&
            t2->cap == C_CAP &&
            (key_is(t2, "mr") || key_is(t2, "mrs") || key_is(t2, "ms") || key_is(t2, "dr") ||
             key_is(t2, "miss") || key_is(t2, "prof"))) {
            j += 2;
            dot = punct_is(peek(st, j), '.');
            if (dot) j++;
            a = peek(st, j);
        }
        /* "Mr. May" is a name; "Dr. Who"-style words after other titles are not */
        unsigned af = a ? flags_of(st, a) : 0;
        /* a surname that is also a street or organisation word ends the
         * name: "Mrs Hall", "Mr. Park" (not "Dr. Hall Road") */
        int word_org = plain_title && cur->cap == C_CAP && a && a->ocap == C_CAP && (af & F_SUR) &&
                       (af & (F_ORG | F_STREET)) && !(af & (F_TITLE | F_UNIT | F_PREFIX | F_PLACE));
        if (word_org) {
            tok *c = peek(st, j + 1);
            word_org = !c || c->nl || c->type != T_WORD || c->cap == C_LOWER;
        }
        int ok = a && a->type == T_WORD && !a->nl && a->cap != C_ALLCAP &&
                 (word_org || !(af & (F_ORG | F_TITLE | F_STREET | F_UNIT | F_PREFIX))) &&
                 (!(af & F_NOTNAME) || (plain_title && a->cap == C_CAP));
        if (ok && a->cap == C_CAP)
            ok = (plain_title && cur->cap == C_CAP) || !is_common(st, a);
        else if (ok)
            ok = plain_title && (dot || cur->cap == C_CAP) && plain_name(st, a, F_GIVEN | F_SUR);
        if (ok && cur->cap == C_LOWER && !dot) ok = 0;
        if (ok) {
            size_t e = a->e, k = j + 1;
            tok *b;
            while (k < j + 3 && (b = peek(st, k)) && !b->nl &&
                   (a->cap == C_CAP ? surname_like(st, b) || title_run_word(st, b)
                                    : plain_name(st, b, F_GIVEN | F_SUR) ||
                                          (b->cap == C_LOWER && !is_common(st, b) && k == j + 1))) {
                e = b->e;
                k++;
            }
            int level = intro_level(st);
            if (level == 2 && chat_opening(st)) level = 1; /* "Good morning Mrs. Patel" */
            *rc = emit(st, out, cur->s, e, level);
            return k;
        }
    }
    if (cur->cap == C_LOWER) {
        /* lowercase text: "my name is john", "named him joshua", "david lange" */
        if (plain_name(st, cur, F_GIVEN | F_SUR)) {
            tok *b = peek(st, 1);
            int full = (f & F_GIVEN) && b && !b->nl && plain_name(st, b, F_SUR | F_GIVEN) &&
                       b->cap == C_LOWER;
            if (introduced(st)) {
                *rc = emit(st, out, cur->s, full ? b->e : cur->e, intro_level(st) == 1 ? 1 : 2);
                used = full ? 2 : 1;
            } else if (full && (flags_of(st, b) & F_SUR) && !address_like(st, 2)) {
                *rc = emit(st, out, cur->s, b->e, 4);
                used = 2;
            }
        }
        return used;
    }
    if (cur->cap == C_ALLCAP && introduced(st) && intro_level(st) == 1) {
        /* a form's field in capitals: "Name: JOHN SMITH", "Customer: SMITH,
         * John"; every word a listed name */
        size_t k = 0, e = 0;
        tok *b;
        while (k < 4 && (b = peek(st, k)) && (k == 0 || !b->nl) && b->type == T_WORD &&
               b->cap != C_LOWER && caps_name_word(st, b)) {
            e = b->e;
            k++;
            if (k == 1 && punct_is(peek(st, 1), ',') && (b = peek(st, 2)) && !b->nl &&
                b->type == T_WORD && b->cap != C_LOWER && caps_name_word(st, b)) {
                e = b->e; /* "SMITH, John" */
                k = 3;
                break;
            }
        }
        /* not only ordinary words ("To: ALL STAFF") */
        int plain = 0;
        for (size_t i = 0; i < k; i++)
            if (peek(st, i)->type == T_WORD && !(flags_of(st, peek(st, i)) & F_COMMON)) plain = 1;
        if (k && plain) {
            *rc = emit(st, out, cur->s, e, 1);
            return k;
        }
        return 1;
    }
    if (cur->cap != C_CAP) {
        return 1;
    }
    /* initials before a surname after an introduction: "Signed: J. Smith",
     * "Name: K. R. Nowak" (the whole of it, not the first letter alone; an
     * initial that is also a word, "A.", is passed over before this) */
    if (cur->e - cur->s == 1 && punct_is(peek(st, 1), '.') && introduced(st)) {
        size_t k = 2;
        tok *b;
        while (k < 6 && (b = peek(st, k)) && !b->nl && b->type == T_WORD && b->cap == C_CAP &&
               b->e - b->s == 1 && punct_is(peek(st, k + 1), '.'))
            k += 2;
        size_t e = 0, j = k;
        while (j < k + 2 && (b = peek(st, j)) && !b->nl &&
               (surname_like(st, b) || title_run_word(st, b))) {
            e = b->e;
            j++;
        }
        if (e) {
            *rc = emit(st, out, cur->s, e, intro_level(st) == 1 ? 1 : 2);
            return j;
        }
    }
    /* a run of name-like words starting with a given name or surname */
    if ((f & (F_GIVEN | F_SUR)) && !(f & (F_NOTNAME | F_ORG))) {
        int given = (f & F_GIVEN) != 0;
        int ambiguous = is_common(st, cur);
        size_t n = 1, e = cur->e;
        int surname = 0, word_org = 0;
        for (size_t k = 1, kmax = 4; k < kmax; k++) {
            tok *b = peek(st, k);
            if (!b || b->nl) break;
            /* initials ("John F. Kennedy") and particles ("van Dijk", one or
             * two: "de la Cruz", "van der Berg"), which do not count towards
             * the run's four words */
            if (b->type == T_WORD && b->cap == C_CAP && b->e - b->s == 1 &&
                punct_is(peek(st, k + 1), '.')) {
                k++;
                continue;
            }
            if (b->type == T_WORD && b->cap == C_LOWER && in_list(st, b, CTX_particles)) {
                size_t q = k + 1;
                tok *c = peek(st, q);
                if (c && !c->nl && c->type == T_WORD && c->cap == C_LOWER &&
                    in_list(st, c, CTX_particles))
                    c = peek(st, ++q);
                if (c && !c->nl && surname_like(st, c)) {
                    kmax += q - k;
                    k = q - 1;
                    continue;
                }
                break;
            }
            unsigned bf = flags_of(st, b);
            /* a listed surname that is also a word ("John Smith", "Dan Tailor")
             * counts right after a given name that is not one, or at the end
             * of a run of name words it starts ("Johnathan Edward Doe") */
            int word_surname = (k == 1 || surname) && given && !ambiguous && b->ocap == C_CAP &&
                               (bf & F_SUR) && !(bf & F_NOT_IN_NAME);
            /* a surname that is also a street or organisation word ("Hall",
             * "Hill", "Park") right after a given name, and the run ends
             * there: a name when introduced ("My name is Peter Hall", "Dear
             * Mary Hill,") or, when no street word, beside personal data
             * ("Peter Hall, card ..."); not "near Peter Hall", "Mary Hill
             * Road" or "address: 12 William Street" */
            if (k == 1 && given && !ambiguous && b->ocap == C_CAP && b->cap == C_CAP &&
                (bf & F_SUR) && (bf & (F_ORG | F_STREET)) &&
                !(bf & (F_NOTNAME | F_TITLE | F_UNIT | F_PREFIX | F_PLACE))) {
                tok *c = peek(st, 2), *p1 = back(st, 1);
                /* a field ("Customer: Mary Hill") even when the given name
                 * is also a town, which introduced() leaves to "To: Berlin" */
                int intro = (introduced(st) && intro_level(st) == 1) ||
                            (punct_is(p1, ':') && in_list(st, back(st, 2), CTX_field_labels) &&
                             name_field(st, 2)) ||
                            speaker_label(st, 2) || (chat_opening(st) && !possessive_after(st, 2));
                /* a greeting to a group: "Dear Victoria Park visitors," */
                int group = c && !c->nl && c->type == T_WORD && in_list(st, p1, CTX_name_intro);
                if ((!c || c->nl || c->type != T_WORD || c->cap == C_LOWER) && !group &&
                    (intro || (!(bf & F_STREET) && !in_list(st, p1, CTX_at_place) &&
                               near_pii(st, cur->s, b->e))) &&
                    !address_like(st, 2)) {
                    surname = 1;
                    word_org = intro ? 2 : 1;
                    e = b->e;
                    n = 2;
                }
                break;
            }
            if (!surname_like(st, b) && !word_surname) break;
            if ((bf & F_PLACE) && !(bf & (F_SUR | F_GIVEN))) break;
            surname = 1;
            e = b->e;
            n = k + 1;
        }
        tok *nx = peek(st, n), *p1 = back(st, 1);
        int org_after = nx && !nx->nl && nx->type == T_WORD && nx->cap == C_CAP &&
                        (flags_of(st, nx) & (F_ORG | F_STREET));
        int lone_ok = !ambiguous && !in_list(st, p1, CTX_determiners) &&
                      !((f & F_PLACE) && in_list(st, p1, CTX_at_place)) && /* "from Jordan" */
                      !(f & F_BROAD); /* "France", "India" alone are countries */
        /* the way to a name that applies (0: none; -1, -2: by intro_level),
         * asked before the costlier address_like, which matters only then
         * or for a run of several words (a lone word left undecided is
         * passed on as one either way) */
        int decided = 1, how = 0;
        if (surname && given && !(ambiguous && st->lower) &&
            (!ambiguous || !sentence_start(st, cur) || (flags_of(st, peek(st, 1)) & F_SUR) ||
             introduced(st))) /* "Applicant: Grace Oyelaran" */
            how = -1;
        else if (surname && !given && !ambiguous && !sentence_start(st, cur) &&
                 (flags_of(st, peek(st, n - 1)) & F_SUR))
            how = 4;
        else if (introduced(st) && !ambiguous)
            how = -2;
        else if (!surname && lone_ok && (given || in_name_list(st)))
            how = 4;
        else if (!surname && lone_ok && in_list(st, p1, CTX_said) && !sentence_start(st, cur))
            how = 4;
        if ((how || n > 1) && !word_org &&
            (org_after || address_like(st, n) || ((f & F_PLACEHEAD) && surname))) {
            /* "Jackson Street", "Harvard University", "95 Joaquin Suarez 2906",
             * "Saint Lucia", "San Luis" */
        } else if (how == -1) {
            int level = intro_level(st);
            if (level == 2 && (key_is(p1, "i'm") || key_is(p1, "im")))
                level = 1; /* "Hi, I'm Sarah Jones and ...": a full name only */
            if (level == 2 && given &&
                (speaker_label(st, n) || (chat_opening(st) && !possessive_after(st, n))))
                level = 1; /* "Marco Rossi: hi", "Hi, this is Dana Whitfield" */
            if (word_org == 2) level = 1;
            if (level == 1) e = notname_surname(st, n, e); /* "Customer: Linda Jenkins" */
            *rc = emit(st, out, cur->s, e, level == 2 && role_field(st) ? 1 : level);
        } else if (how == -2) {
            int level = intro_level(st) == 1 ? 1 : 2;
            if (level == 1) e = notname_surname(st, n, e);
            if (level == 1 && e == cur->e && salutation_only(st)) level = 2;
            *rc = emit(st, out, cur->s, e, level);
        } else if (how) {
            *rc = emit(st, out, cur->s, e, how);
        } else {
            decided = 0;
        }
        /* undecided: the next word may still start a name ("Then Jennifer") */
        used = decided ? n : 1;
    } else if (!(f & (F_NOTNAME | F_ORG | F_TITLE)) && !is_common(st, cur) && cur->ocap == C_CAP &&
               !address_like(st, 1)) {
        /* unknown capitalised word: a name only when introduced as one (and
         * written with a capital: "i am easygoing" is no name) */
        tok *p1 = back(st, 1), *nx = peek(st, 1);
        if (nx && !nx->nl && nx->type == T_WORD && nx->cap == C_CAP && (flags_of(st, nx) & F_ORG))
            return used; /* "Het Team", "Backend Services" */
        int greet = in_list(st, p1, CTX_name_intro) && nx &&
                    (punct_is(nx, ',') || punct_is(nx, '!') || punct_is(nx, '.'));
        int intro = introduced(st) && !in_list(st, p1, CTX_name_intro);
        int weak = in_list(st, p1, CTX_said) && !sentence_start(st, cur);
        if (intro || greet || key_is(p1, "named") || key_is(p1, "dear") || weak) {
            size_t e = cur->e, k = 1;
            tok *b;
            while (k < 3 && (b = peek(st, k)) && !b->nl && surname_like(st, b)) {
                e = b->e;
                k++;
            }
            int level = weak ? (k > 1 ? 2 : 4) : intro_level(st) == 1 ? 1 : 2;
            if (level == 1 && k == 1 && salutation_only(st)) level = 2;
            *rc = emit(st, out, cur->s, e, level);
            used = k;
        }
    }
    return used;
}

/* LOCATION: listed places (longest match) judged by the preposition or
 * verb before them; unlisted names where only a place fits. */

static const char *const at_place[] = {
    "in",       "at",     "from",   "to",      "near",    "visit",      "visited",
    "visiting", "across", "around", "outside", "inside",  "throughout", "towards",
    "toward",   "via",    "into",   "of",      "between", "à",          NULL};
static const char *const home_verbs[] = {
    "live",  "lives",  "living", "lived",  "born",      "reside",   "resides",
    "moved", "moving", "grew",   "raised", "relocated", "wohne",    "wohnt",
    "lebe",  "lebt",   "woon",   "woont",  "habite",    "j'habite", NULL};

/* The preposition before token 0 follows words about where someone lives or
 * is: "lives in", "grew up in", "I'm in", "moved here from", "is from". */
static int home_context(stream *st)
{
    /* the tokens further back are read only when a test asks for them */
    tok *p1 = back(st, 1);
    if (!in_list(st, p1, CTX_at_place)) return 0;
    size_t k2 = 2; /* how far back p2 is */
    tok *p2 = back(st, 2);
    if (key_is(p2, "here") || key_is(p2, "up")) p2 = back(st, k2 = 3);
    if (in_list(st, p2, CTX_home_verbs)) return 1;
    if ((key_is(p1, "in") || key_is(p1, "from")) &&
        (key_is(p2, "i'm") || key_is(p2, "im") ||
         (key_is(p2, "am") && key_is(back(st, k2 + 1), "i"))))
        return 1;
    /* "she is from", "I come from"; not "tourism comes from" */
    if (!key_is(p1, "from")) return 0;
    if (key_is(p2, "is") || key_is(p2, "are") || key_is(p2, "hails")) return 1;
    if (!key_is(p2, "come") && !key_is(p2, "comes")) return 0;
    tok *p3 = back(st, k2 + 1);
    return key_is(p3, "i") || key_is(p3, "we") || key_is(p3, "you") || key_is(p3, "he") ||
           key_is(p3, "she") || key_is(p3, "they") || key_is(p3, "family");
}

/* Token 0 fills a form's field for a home: "City: Toronto", "Place of
 * birth: Leeds", "Wohnort: Jena" (the label starts its line or follows a
 * mark, as name_field asks of a name's). */
static int home_field(stream *st)
{
    static const char *const labels[] = {
        "city",  "town",    "hometown",   "birthplace", "birth",        "residence",
        "ort",   "wohnort", "stadt",      "ville",      "ciudad",       "città",
        "citta", "plaats",  "woonplaats", "localidade", "municipality", NULL};
    tok *p1 = back(st, 1);
    if (!punct_is(p1, ':')) return 0;
    tok *p2 = back(st, 2);
    if (!p2 || p2->type != T_WORD) return 0;
    for (const char *const *l = labels; *l; l++)
        if (key_is(p2, *l)) {
            tok *w = back(st, 3);
            if (key_is(p2, "birth") && key_is(w, "of")) w = back(st, 5); /* "Place of birth" */
            return !w || p2->nl || (key_is(p2, "birth") && back(st, 4) && back(st, 4)->nl) ||
                   (w->type == T_PUNCT && w->key[0] && strchr("-*>|([,;.", w->key[0]));
        }
    return 0;
}

/* Longest place starting at token 0: returns the number of tokens (0: none)
 * and sets *e to its end and *broad to whether it is a country or region. */
static size_t place_match_broad(stream *st, size_t *e, int *broad)
{
    tok *a = peek(st, 0);
    unsigned f = flags_of(st, a);
    *broad = 0;
    if (!(f & (F_PLACE | F_HEAD))) return 0;
    size_t best = (f & F_PLACE) ? 1 : 0;
    *broad = (f & F_BROAD) != 0;
    *e = a->e;
    if (!(f & F_HEAD)) return best;
    char key[KEYMAX];
    size_t kl = a->klen;
    memcpy(key, a->key, kl);
    for (size_t k = 1; k < PLACEWORDS; k++) {
        tok *b = peek(st, k);
        if (!b || b->nl || b->type != T_WORD || !b->klen || kl + 1 + b->klen > KEYMAX) break;
        key[kl++] = ' ';
        memcpy(key + kl, b->key, b->klen);
        kl += b->klen;
        unsigned kf = lex_flags(st, key, kl);
        if (kf & F_PLACE) {
            best = k + 1;
            *e = b->e;
            *broad = (kf & F_BROAD) != 0;
        }
        if (!(kf & F_HEAD)) break; /* no place goes on from these words */
    }
    return best;
}

static size_t place_match(stream *st, size_t *e)
{
    int broad;
    return place_match_broad(st, e, &broad);
}

/* One step of the location scan at token 0; returns the tokens it used. */
static inline __attribute__((always_inline)) size_t location_step(stream *st, sink *out,
                                                                  al_code *rc)
{
    tok *cur = peek(st, 0);
    if (cur->type != T_WORD || cur->cap == C_LOWER || !cur->klen) {
        return 1;
    }
    int broad;
    size_t e, n = place_match_broad(st, &e, &broad);
    tok *p1 = back(st, 1);
    if (!n) {
        /* an unlisted proper noun where only a place fits: "lives in
         * Knonau", "I'm in Loka pri Zidanem Mostu" */
        if (((in_list(st, p1, CTX_at_place) && home_context(st)) ||
             (punct_is(p1, ':') && home_field(st))) &&
            !is_common(st, cur) && !cur->mixed &&
            !(flags_of(st, cur) & (F_NOTNAME | F_ORG | F_TITLE))) {
            size_t k = 1, end = cur->e;
            tok *b;
            while (k < 6 && (b = peek(st, k)) && !b->nl && b->type == T_WORD) {
                if (b->cap != C_LOWER)
                    end = b->e;
                else if (!(b->klen <= 3 && peek(st, k + 1) && peek(st, k + 1)->cap != C_LOWER))
                    break;
                k++;
            }
            *rc = push(out, cur->s, end, 1);
            return k;
        }
        /* "in Seguin, which ...": an unlisted name after "in" that ends the
         * phrase is probably a place; reported as a mention only */
        if (key_is(p1, "in") && cur->ocap == C_CAP && !cur->mixed && !sentence_start(st, cur) &&
            !is_common(st, cur) &&
            !(flags_of(st, cur) & (F_NOTNAME | F_ORG | F_TITLE | F_GIVEN | F_SUR))) {
            size_t k = 1;
            tok *b;
            while (k < 4 && (b = peek(st, k)) && !b->nl && b->type == T_WORD && b->ocap == C_CAP &&
                   !is_common(st, b))
                k++;
            b = peek(st, k);
            if (!b || b->nl || punct_is(b, ',') || punct_is(b, '.') || punct_is(b, ';')) {
                *rc = push(out, cur->s, peek(st, k - 1)->e, 4);
                return k;
            }
        }
        return 1;
    }
    unsigned f = flags_of(st, cur);
    tok *nx = peek(st, n), *nx2 = peek(st, n + 1);
    /* part of a longer proper noun ("New York Times", "Paris Hilton") */
    int longer = nx && !nx->nl && nx->type == T_WORD && nx->cap == C_CAP &&
                 !(flags_of(st, nx) & F_PLACE) && !is_common(st, nx);
    int after_cap = p1 && !cur->nl && p1->type == T_WORD && p1->cap == C_CAP &&
                    !sentence_start(st, p1) && !(flags_of(st, p1) & F_PLACE);
    int prep = in_list(st, p1, CTX_at_place);
    int home = (prep && home_context(st)) || (punct_is(p1, ':') && home_field(st));
    int comma_place =
        punct_is(nx, ',') && nx2 && nx2->cap != C_LOWER && (flags_of(st, nx2) & F_PLACE);
    tok *p2 = punct_is(p1, ',') ? back(st, 2) : NULL; /* read back only when it matters */
    int after_place_comma =
        punct_is(p1, ',') && p2 && (flags_of(st, p2) & F_PLACE) && p2->cap != C_LOWER;
    int ambiguous =
        is_common(st, cur) || (f & (F_NOTNAME | F_ORG)) || (n == 1 && (f & (F_GIVEN | F_SUR)));
    if (n > 1) ambiguous = 0;
    int strong = 0, weak = 0;
    if (longer && !(prep && !ambiguous)) {
        /* skip */
    } else if (home &&
               !(is_common(st, cur) && cur->cap != C_ALLCAP && n == 1 && sentence_start(st, cur))) {
        /* a home in a town is personal; "lived in Holland" names a country only */
        strong = !broad;
        weak = broad;
    } else if (comma_place || after_place_comma) {
        weak = !after_cap;
    } else if (prep && (!ambiguous || !is_common(st, cur))) {
        weak = 1;
    } else if (!ambiguous && !after_cap) {
        weak = 1;
    }
    if (strong)
        *rc = push(out, cur->s, e, 1);
    else if (weak)
        *rc = push(out, cur->s, e, 4);
    return n;
}

/* Street addresses: number + name + street type, European one-word
 * streets, units, PO boxes, ZIP codes, and the lines of an address block. */

static int key_has_suffix(const lex *x, const char *key, size_t klen)
{
    if (klen < 4) return 0;
    unsigned char last = (unsigned char)key[klen - 1];
    if (!(x->suffix_pen[last] >> ((unsigned char)key[klen - 2] & 63) & 1)) return 0;
    for (uint64_t m = x->suffix_by_last[last]; m; m &= m - 1) {
        size_t i = (size_t)__builtin_ctzll(m), sl = x->suffix_len[i];
        if (klen > sl + 1 && key_eq(key + klen - sl, x->suffix[i], sl)) return 1;
    }
    return 0;
}

static int has_suffix(const lex *x, const tok *k)
{
    return key_has_suffix(x, k->key, k->klen);
}

static int is_zip(const stream *st, const tok *k)
{
    if (!k || k->type != T_NUM) return 0;
    size_t n = k->e - k->s;
    const unsigned char *p = st->t + k->s;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '-')) return 0;
    return n == 5 || n == 10 || n == 4;
}

static int up_at(const unsigned char *t, size_t len, size_t i)
{
    return i < len && t[i] >= 'A' && t[i] <= 'Z';
}
static int dig_at(const unsigned char *t, size_t len, size_t i)
{
    return i < len && t[i] >= '0' && t[i] <= '9';
}

/* End of a postcode written at t[i..) ("97403", "97403-1234", "NW1 6XE",
 * "SW1A 2AA", "M14 6PT", "H2X 1Y4", "1012 AB"), or 0.  A lone four-digit
 * number counts only before a capitalised word ("1010 Wien", "2000
 * Antwerpen"); it is too often a year or a count. */
static size_t postcode_at(const stream *st, size_t i)
{
    const unsigned char *t = st->t;
    size_t len = st->len, j = i, e = 0;
    if (i > 0 && (is_alpha(t[i - 1]) || dig_at(t, len, i - 1))) return 0;
    if (dig_at(t, len, i)) {
        while (dig_at(t, len, j)) j++;
        if (j - i == 3 && j + 3 < len && t[j] == ' ' && dig_at(t, len, j + 1) &&
            dig_at(t, len, j + 2) && t[j + 3] == ' ' && up_at(t, len, j + 4)) {
            e = j + 3; /* "111 51 Stockholm", "110 00 Praha": the town follows */
        } else if (j - i == 5) {
            e = j;
            if (j + 5 <= len && t[j] == '-' && dig_at(t, len, j + 1) && dig_at(t, len, j + 2) &&
                dig_at(t, len, j + 3) && dig_at(t, len, j + 4))
                e = j + 5;
        } else if (j - i == 4) {
            size_t k = j + (j < len && t[j] == ' ');
            if (up_at(t, len, k) && up_at(t, len, k + 1) &&
                !(k + 2 < len && (is_alpha(t[k + 2]) || dig_at(t, len, k + 2))))
                e = k + 2; /* "1012 AB" */
            else if (k > j && up_at(t, len, k) && k + 1 < len &&
                     ((t[k + 1] >= 'a' && t[k + 1] <= 'z') || t[k + 1] >= 0x80))
                e = j; /* "1010 Wien", "2200 København": the town follows */
            else if (j + 4 <= len && t[j] == '-' && dig_at(t, len, j + 1) &&
                     dig_at(t, len, j + 2) && dig_at(t, len, j + 3))
                e = j + 4; /* "1100-053" (Portugal) */
        }
    } else if (up_at(t, len, i) && i + 2 < len &&
               (t[i + 1] == '-' || (up_at(t, len, i + 1) && t[i + 2] == '-'))) {
        /* a country letter or two before a European postcode: "D-80335",
         * "F-69002", "CH-8001", "NL-1012" */
        j = i + (t[i + 1] == '-' ? 2 : 3);
        size_t d = j;
        while (dig_at(t, len, j)) j++;
        if (j - d == 4 || j - d == 5) e = j;
    } else if (up_at(t, len, i)) {
        /* UK: A9 9AA, A99 9AA, AA9 9AA, AA99 9AA, A9A 9AA, AA9A 9AA;
         * Canada: A9A 9A9 */
        j = i + 1;
        if (up_at(t, len, j)) j++;
        if (dig_at(t, len, j)) {
            j++;
            if (dig_at(t, len, j) || up_at(t, len, j)) j++;
            size_t k = j + (j < len && t[j] == ' ');
            if (dig_at(t, len, k) && up_at(t, len, k + 1) && up_at(t, len, k + 2))
                e = k + 3;
            else if (j - i == 3 && up_at(t, len, i + 2) && dig_at(t, len, k) &&
                     up_at(t, len, k + 1) && dig_at(t, len, k + 2))
                e = k + 3;
        }
    }
    if (e && e < len && (is_alpha(t[e]) || dig_at(t, len, e))) return 0;
    return e;
}

static const char *const plain_streets[] = {"street",    "st",   "avenue", "ave", "road", "rd",
                                            "boulevard", "blvd", "lane",   "ln",  NULL};

/* Is the lowercase two-letter key k an Australian state's (their postcodes
 * have four digits; US ZIP codes five)? */
static int au_state(const char *k)
{
    return (k[0] == 's' && k[1] == 'a') || (k[0] == 'w' && k[1] == 'a') ||
           (k[0] == 'n' && k[1] == 't');
}

/* Are the mark a and the word b the "'s" of a possessive, with a straight
 * or a typographic apostrophe (U+2019)? */
static int possessive_s(const stream *st, const tok *a, const tok *b)
{
    if (!b || b->nl || b->space || b->type != T_WORD || !key_is(b, "s")) return 0;
    if (a->key[0] == '\'') return 1;
    const unsigned char *d = st->t + a->s;
    return !a->key[0] && a->e - a->s == 3 && d[0] == 0xe2 && d[1] == 0x80 && d[2] == 0x99;
}

/* Matches an address element at token 0; returns tokens used, sets *e. */
static size_t address_at(stream *st, size_t *e, int in_block)
{
    const lex *x = st->x;
    tok *a = peek(st, 0);
    if (!a) return 0;
    /* "123 Main Street", "12B rue de Rivoli", "8 wressle road" */
    if (a->type == T_NUM && a->e - a->s <= 8) {
        size_t k = 1, words = 0;
        tok *b;
        /* "12 bis rue Victor Hugo", "8 ter avenue Foch" */
        if ((b = peek(st, 1)) && !b->nl && b->ocap == C_LOWER &&
            (key_is(b, "bis") || key_is(b, "ter")))
            k = 2;
        while ((b = peek(st, k)) && !b->nl && words < 5) {
            if (b->type == T_PUNCT && words > 0 && possessive_s(st, b, peek(st, k + 1))) {
                k += 2; /* "19 Queen's Road", "St John’s Street" */
                continue;
            }
            if (b->type != T_WORD) break;
            unsigned bf = flags_of(st, b);
            /* a lowercase street type must be an unmistakable one ("road", not "row") */
            if ((bf & F_STREET) && words > 0 &&
                (b->ocap != C_LOWER || in_list(st, b, CTX_plain_streets))) {
                *e = b->e;
                k++;
                /* a second street type ("Oak Ridge Drive", "Park Lane Road")
                 * and a compass point ("Avenue NW", "Street East") */
                tok *d = peek(st, k);
                if (d && d->type == T_WORD && !d->nl && d->ocap == C_CAP &&
                    (flags_of(st, d) & F_STREET)) {
                    b = d;
                    *e = b->e;
                    d = peek(st, ++k);
                }
                if (d && d->type == T_WORD && !d->nl && d->ocap != C_LOWER &&
                    (d->ocap == C_ALLCAP ? (key_is(d, "nw") || key_is(d, "ne") || key_is(d, "sw") ||
                                            key_is(d, "se"))
                                         : (key_is(d, "north") || key_is(d, "south") ||
                                            key_is(d, "east") || key_is(d, "west")))) {
                    *e = d->e;
                    return k + 1;
                }
                /* the dot of "St." or "Ave." belongs to it; after "Street" it ends
                 * the sentence */
                if (punct_is(peek(st, k), '.') && b->klen <= 4 && !key_is(b, "road") &&
                    !key_is(b, "lane") && !key_is(b, "way") && !key_is(b, "walk") &&
                    !key_is(b, "row") && !key_is(b, "hill") && !key_is(b, "park") &&
                    !key_is(b, "view") && !key_is(b, "run") && !key_is(b, "loop") &&
                    !key_is(b, "gate") && !key_is(b, "mews") && !key_is(b, "quay"))
                    *e = peek(st, k++)->e;
                return k;
            }
            if ((bf & F_PREFIX) && words == 0 && (b->ocap == C_CAP || b->klen > 2)) {
                /* "12 Rue du Koweit": the name follows, up to 4 words */
                size_t j = k + 1, end = 0;
                tok *c;
                while ((c = peek(st, j)) && !c->nl && j < k + 5 &&
                       (c->type == T_WORD || punct_is(c, '.'))) {
                    if (c->type == T_WORD && c->ocap != C_LOWER) end = j;
                    j++;
                }
                if (end) {
                    *e = peek(st, end)->e;
                    return end + 1;
                }
            }
            /* an ordinary word is no street name however it ends ("7 stickers
             * during", "12 Spring Street") */
            if (has_suffix(x, b) && !is_common(st, b)) {
                *e = b->e;
                return k + 1;
            }
            if (b->ocap == C_LOWER && is_common(st, b)) return 0; /* "6 red tulips" */
            words++;
            k++;
        }
        return 0;
    }
    if (a->type != T_WORD || !a->klen) return 0;
    if (a->ocap == C_LOWER &&
        !(a->klen <= 5 && (a->key[0] == 'a' || a->key[0] == 's' || a->key[0] == 'p') &&
          (key_is(a, "apt") || key_is(a, "suite") || key_is(a, "po") || key_is(a, "p"))))
        return 0; /* most words: no lookup at all */
    unsigned f = flags_of(st, a);
    /* "Corellistraat 178", "Strandalléen 61" */
    if ((a->ocap != C_LOWER || st->lower) && has_suffix(x, a) && !is_common(st, a)) {
        tok *b = peek(st, 1);
        if (b && b->type == T_NUM && !b->nl) {
            *e = b->e;
            return 2;
        }
    }
    /* "Apt 4B", "Suite 865", "Apt. 068"; "Unit #3", "Flat 4" only inside an
     * address block (alone they are too often something else) */
    int own_unit = key_is(a, "apt") || key_is(a, "apartment") || key_is(a, "suite");
    if ((f & F_UNIT) && (own_unit || (in_block && a->ocap != C_LOWER)) &&
        (a->ocap != C_LOWER || key_is(a, "apt") || key_is(a, "suite"))) {
        size_t k = 1;
        if (punct_is(peek(st, k), '.')) k++;
        if (punct_is(peek(st, k), '#')) k++;
        tok *b = peek(st, k);
        if (b && b->type == T_NUM && !b->nl && b->e - b->s <= 6) {
            *e = b->e;
            return k + 1;
        }
    }
    /* "Flat 3, 27 Mill Road", "Unit 5, 14 Station Road": a unit before the
     * house number of its street */
    if ((f & F_UNIT) && a->ocap != C_LOWER) {
        tok *b = peek(st, 1), *c = peek(st, 2), *d = peek(st, 3);
        if (b && b->type == T_NUM && !b->nl && b->e - b->s <= 6 && punct_is(c, ',') && d &&
            !d->nl && d->type == T_NUM) {
            *e = b->e;
            return 2;
        }
    }
    /* "Postfach 10 02 34", "Postbus 1234": a post-office box (unit words
     * in forms.txt, so the fast pass stops at them) */
    if (a->ocap != C_LOWER && (f & F_UNIT) &&
        (key_is(a, "postfach") || key_is(a, "postbus") || key_is(a, "postboks"))) {
        size_t k = 1;
        tok *b;
        while (k < 4 && (b = peek(st, k)) && !b->nl && b->type == T_NUM) k++;
        if (k > 1) {
            *e = peek(st, k - 1)->e;
            return k;
        }
    }
    /* "PO Box 123", "P.O. Box 123" */
    if (key_is(a, "po") || key_is(a, "p")) {
        size_t k = 1;
        while (k < 4 && (punct_is(peek(st, k), '.') || key_is(peek(st, k), "o"))) k++;
        if (key_is(peek(st, k), "box")) {
            tok *b = peek(st, k + 1);
            if (b && b->type == T_NUM) {
                *e = b->e;
                return k + 2;
            }
        }
    }
    /* "Rue de Rivoli", "Calle Mayor 5": a prefix street type, capitalised,
     * followed by a capitalised name. */
    if ((f & F_PREFIX) && a->ocap == C_CAP && a->klen > 2) {
        /* one that is also a word ("Via", "Place") only with a house
         * number after the name: "Via Roma 45" */
        int common = is_common(st, a);
        size_t j = 1, end = 0;
        tok *c;
        while ((c = peek(st, j)) && !c->nl && j < 5 && c->type == T_WORD) {
            if (c->ocap != C_LOWER) end = j;
            j++;
        }
        if (end) {
            tok *z = peek(st, end + 1);
            tok *y = z && z->type == T_NUM && !z->nl ? peek(st, end + 2) : NULL;
            if (z && z->type == T_NUM && !z->nl)
                end++;
            else if (common)
                return 0;
            /* "Via Roma 45," ends there; "Via Appia 3 km" goes on */
            if (common && y && !y->nl && !punct_is(y, ',') && !punct_is(y, '.') &&
                !punct_is(y, ';'))
                return 0;
            *e = peek(st, end)->e;
            return end + 1;
        }
    }
    /* "CA 94105", "Texas 75001", "WA 6000"; not "BA 2490" */
    if ((a->ocap == C_ALLCAP && a->klen == 2) || (a->ocap == C_CAP && (f & F_PLACE))) {
        tok *b = peek(st, 1);
        if (is_zip(st, b) && !b->nl &&
            (a->klen == 2 ? b->e - b->s != 4 || au_state(a->key) : b->e - b->s >= 5)) {
            *e = b->e;
            return 2;
        }
    }
    return 0;
}

/* Address blocks span lines: after a street line, the next short lines
 * are the town, region and country. */
typedef struct {
    size_t end; /* end of the last element found */
    int lines;  /* short lines still taken as part of the block */
} addr_block;

/* One step of the address scan at token 0; returns the tokens it used. */
static size_t address_step(stream *st, sink *out, al_code *rc, addr_block *ab)
{
    tok *cur = peek(st, 0);
    size_t e, n = address_at(st, &e, ab->lines > 0);
    if (n) {
        *rc = push(out, cur->s, e, 1);
        /* ", Kostelec nad Orlicí, Iraq": the town and country after a street */
        size_t o = n;
        tok *c;
        /* and their postcodes, before or after the town: ", OR 97403",
         * ", London NW1 6XE", ", 28014 Madrid" */
        while (*rc == AL_OK && o + 10 < RING - 8 && punct_is(peek(st, o), ',') &&
               (c = peek(st, o + 1)) && !c->nl &&
               ((c->type == T_WORD && c->ocap != C_LOWER &&
                 !(flags_of(st, c) & (F_UNIT | F_NOTNAME))) ||
                postcode_at(st, c->s))) {
            size_t k = 1, end = c->s;
            tok *b;
            while (k < 7 && (b = peek(st, o + k)) && !b->nl) {
                size_t pe = postcode_at(st, b->s);
                if (pe && (b->type != T_WORD || k > 1 || pe > b->e)) {
                    end = pe;
                    while ((b = peek(st, o + k)) && !b->nl && b->s < pe) k++;
                    continue;
                }
                if (b->type == T_NUM && k > 1 && b->e - b->s >= 3 && b->e - b->s <= 5 &&
                    peek(st, o + k - 1)->type == T_WORD && peek(st, o + k - 1)->ocap == C_ALLCAP) {
                    end = b->e; /* "Sydney NSW 2000" */
                    k++;
                    continue;
                }
                if (b->type != T_WORD) break;
                if (b->ocap != C_LOWER)
                    end = b->e;
                else if (!(b->klen <= 3 && peek(st, o + k + 1) &&
                           peek(st, o + k + 1)->ocap != C_LOWER))
                    break;
                k++;
            }
            if (end == c->s) break;
            *rc = push(out, c->s, end, 1);
            o += k;
        }
        ab->lines = 3;
        ab->end = e;
        return o;
    }
    /* inside an address block the short lines that follow a street line
     * are the city, region, country: "Harpelunde", "Cape Verde 01683" */
    /* list markers before a line (">Soest", "- Harpelunde") are skipped */
    size_t m = 0;
    tok *w = cur;
    while (ab->lines > 0 && cur->nl && m < 4 && w && (m == 0 || !w->nl) && w->type == T_PUNCT &&
           w->key[0] && strchr("?>-*|#", w->key[0]))
        w = peek(st, ++m);
    if (ab->lines > 0 && cur->nl && w && (m == 0 || !w->nl) && w->type == T_WORD &&
        w->cap != C_LOWER) {
        size_t k = m, e2 = w->e, words = 0;
        tok *b;
        int ok = 1;
        while ((b = peek(st, k)) && (k == m || !b->nl) && k < m + 8) {
            if (b->type == T_WORD) {
                if (b->cap == C_LOWER && !in_list(st, b, CTX_particles) && !key_is(b, "nad") &&
                    !key_is(b, "of") && !key_is(b, "on"))
                    ok = 0;
                words++;
            } else if (!(b->type == T_NUM || punct_is(b, ','))) {
                ok = 0;
            }
            e2 = b->e;
            k++;
        }
        if (b && !b->nl) ok = 0; /* the line goes on: prose, not an address */
        if (ok && words) {
            *rc = push(out, w->s, e2, 1);
            ab->lines--;
            return k;
        }
        ab->lines = 0;
    }
    if (cur->nl && cur->s > ab->end) ab->lines = ab->lines > 0 ? ab->lines - 1 : 0;
    return 1;
}

/* One token as could_intro sees it, in one word: what it is as the token
 * two before a name (IS_ bits: a name_intro word, "name", a word of
 * name_is ("name", "names", "i'm", "im", "am"), "known", "i", "named") and
 * what it needs of the token before it to introduce one (the same bits
 * shifted by NEED, or NEED_ANY: ':' and name_intro words always may). */
enum {
    IS_INTRO = 1 << 0,
    IS_NAME = 1 << 1,
    IS_NAMEIS = 1 << 2,
    IS_KNOWN = 1 << 3,
    IS_I = 1 << 4,
    IS_NAMED = 1 << 5,
    IS_ANY = 1 << 6, /* every token, for NEED_ANY */
    NEED = 8,
    NEED_ANY = IS_ANY << NEED
};
typedef unsigned prev_tok;

/* word_code of a word that passed its first-letter test. */
static prev_tok word_code_slow(const char *w, size_t l)
{
#define IS(lit) (memcmp(w, lit, sizeof lit - 1) == 0)
    switch (l) {
    case 1:
        if (IS("s")) return NEED_ANY; /* "name's" (introduced reads the words before) */
        return IS("i") ? IS_I : 0;
    case 2:
        if (IS("is") || IS("es")) return IS_NAMEIS << NEED;
        if (IS("as")) return IS_KNOWN << NEED;
        if (IS("am")) return IS_NAMEIS | IS_I << NEED;
        if (IS("im")) return IS_NAMEIS;
        return IS("hi") || IS("cc") ? IS_INTRO | NEED_ANY : 0;
    case 3:
        if (IS("was") || IS("ist") || IS("est")) return IS_NAMEIS << NEED;
        if (IS("nom")) return IS_NAMEIS;
        if (IS("him") || IS("her")) return IS_NAMED << NEED;
        if (IS("i'm")) return IS_NAMEIS;
        return IS("hey") ? IS_INTRO | NEED_ANY : 0;
    case 4:
        if (IS("name")) return IS_NAME | IS_NAMEIS;
        if (IS("naam")) return IS_NAMEIS;
        return intro_word(w, l) ? IS_INTRO | NEED_ANY : 0;
    case 5:
        if (IS("named")) return IS_NAMED | IS_INTRO | NEED_ANY;
        if (IS("names")) return IS_NAMEIS;
        if (IS("known")) return IS_KNOWN;
        return intro_word(w, l) ? IS_INTRO | NEED_ANY : 0;
    case 6:
        if (IS("nombre")) return IS_NAMEIS;
        return intro_word(w, l) ? IS_INTRO | NEED_ANY : 0;
    default:
        return intro_word(w, l) ? IS_INTRO | NEED_ANY : 0;
    }
#undef IS
}

/* The prev_tok of a word key (lowercase). */
static inline prev_tok word_code(const char *w, size_t l)
{
    /* first letters of the words below, by length: most words stop here */
#define L(c) (1u << ((c) - 'a'))
    static const uint32_t first[13] = {0,
                                       L('i') | L('s'),
                                       L('h') | L('i') | L('a') | L('c') | L('e'),
                                       L('h') | L('w') | L('i') | L('e') | L('n'),
                                       L('d') | L('a') | L('n') | L('h'),
                                       L('n') | L('h') | L('k') | L('g') | L('l'),
                                       L('c') | L('t') | L('s') | L('w') | L('h') | L('n'),
                                       L('r') | L('b') | L('s') | L('g') | L('a'),
                                       L('e') | L('g'),
                                       L('s') | L('a') | L('c') | L('m'),
                                       L('f'),
                                       L('a'),
                                       L('c')};
#undef L
    if (l > 12 || (unsigned)(w[0] - 'a') >= 26u || !(first[l] & (1u << (w[0] - 'a')))) return 0;
    return word_code_slow(w, l);
}

/* The prev_tok of a mark: ':' may start a name, ',' after a name_intro word
 * ("Hi, Ana") and '?' after "name". */
static inline prev_tok mark_code(char c)
{
    return c == ':' ? NEED_ANY : c == ',' ? IS_INTRO << NEED : c == '?' ? IS_NAME << NEED : 0;
}

static prev_tok prev_of(const tok *k)
{
    if (k && k->type == T_WORD && k->klen) return word_code(k->key, k->klen);
    return k && k->type == T_PUNCT ? mark_code(k->key[0]) : 0;
}

/* Could introduced() hold for a word after p1 and p2 (p1 just before)?  A
 * superset of it that reads only keys (a ':' always may). */
static inline int could_intro(prev_tok p1, prev_tok p2)
{
    return ((p1 >> NEED) & (p2 | IS_ANY)) != 0;
}

/* Puts the capitalised word t[s..e) that skip_plain stopped at into the
 * ring slot for token number c (where cap_word left its key), as lex_next
 * would read it from pre with its lookup le already made; uncommon: known
 * to be no ordinary word (is_common asked).  Returns e. */
static size_t cap_stop(stream *st, size_t c, size_t pre, size_t s, size_t e, int upper, int more,
                       int uncommon, const lex_ent *le)
{
    const unsigned char *t = st->t;
    tok *k = &st->ring[c % RING];
    k->pre = pre;
    k->s = s;
    k->e = e;
    k->space = s > pre;
    k->nl = s - pre == 1 ? t[pre] == '\n' : s > pre && memchr(t + pre, '\n', s - pre) != NULL;
    k->type = T_WORD;
    k->cap = k->ocap = upper ? C_ALLCAP : C_CAP;
    k->mixed = !upper && more;
    k->klen = (uint8_t)(e - s);
    k->key = k->kbuf;
    k->common = (uint8_t)uncommon; /* 1: asked, no; 0: not asked yet */
    k->flags = le ? le->flags : 0;
    k->cflags = le ? le->cflags : 0;
    k->looked = 1;
    k->tno = c;
    st->filled |= 1ull << (c % RING);
    return e;
}

/* Could a word that continues a name follow the capitalised word ending at
 * t[j]?  surname_next's question asked of the text, answered yes for any
 * word on the same line that starts with a capital or a non-ASCII byte,
 * for a lowercase word that lex_next would read on past its letters, and
 * for a lowercase particle ("van"); no for a number, a mark, a line break
 * or the end. */
static int cap_may_go_on(const stream *st, size_t j)
{
    const unsigned char *t = st->t;
    size_t len = st->len, k = space_run(t, j, len);
    if (k >= len || (k > j && memchr(t + j, '\n', k - j))) return 0;
    unsigned c = t[k];
    if (c >= 'a' && c <= 'z') {
        size_t r = lower_run(t, k + 1, len);
        if (r < len && (t[r] >= 0x80 || is_alpha(t[r]) || t[r] == '-' || t[r] == '\'')) return 1;
        return r - k <= KEYMAX && (lex_cflags(st, (const char *)t + k, r - k) & CTX_particles);
    }
    return c >= 0x80 || (c >= 'A' && c <= 'Z');
}

/* Could place_match find a place of several words at the capitalised word
 * t[j - wl..j), key key, which starts some (F_HEAD)?  No (0) when the token
 * after it is on another line, is no word, or is an ASCII word read on
 * lex_next's terms with whose key its own starts no place (the two keys
 * joined are neither F_PLACE nor F_HEAD) or would be longer than a key;
 * else 1. */
static int head_goes_on(const stream *st, const char *key, size_t wl, size_t j)
{
    const unsigned char *t = st->t;
    size_t len = st->len, k = space_run(t, j, len), r;
    if (k >= len || (k > j && memchr(t + j, '\n', k - j))) return 0;
    unsigned c = t[k];
    char kb[KEYMAX + 1 + KEYMAX];
    if (c >= 'a' && c <= 'z') {
        r = lower_run(t, k + 1, len);
        if (r < len && (t[r] >= 0x80 || is_alpha(t[r]) || t[r] == '-' || t[r] == '\'')) return 1;
        if (r - k <= KEYMAX) key_copy(kb + wl + 1, (const char *)t + k, r - k);
    } else if (c >= 'A' && c <= 'Z') {
        int all_upper, more_upper;
        r = cap_word(t, k, len, kb + wl + 1, &all_upper, &more_upper);
        if (r < len && (t[r] >= 0x80 || t[r] == '-' || t[r] == '\'')) return 1;
    } else {
        return c >= 0x80; /* else a mark or a number */
    }
    size_t n = r - k;
    if (n > KEYMAX || wl + 1 + n > KEYMAX) return 0; /* no key, or too long to join */
    key_copy(kb, key, wl);
    kb[wl] = ' ';
    return (lex_flags(st, kb, wl + 1 + n) & (F_PLACE | F_HEAD)) != 0;
}

/* Is the capitalised word t[j - wl..j) (key key), a listed surname that is
 * no ordinary word nor in any list but the surnames' (no given name, place,
 * title, unit, street prefix, "Inc" or "May"), one that no step can use
 * where it stands?  person_step judges such a word alone only when it is
 * introduced (could_intro rules that out), in a list of names (a ',', '&'
 * or "and" before it; a ',' or "and" after it), after a word of said, or
 * when the next word may go on the name (cap_may_go_on); location_step
 * only after an at_place word; address_at only with a street ending.  p1,
 * p2: the codes of the tokens before; w1, l1, *c1: the token before as
 * skip_plain holds it (*c1 looked up if -1); first: there is none; end:
 * where it ends.  Outside address blocks only. */
static int lone_surname(const stream *st, prev_tok p1, prev_tok p2, const char *w1, size_t l1,
                        int *c1, int first, size_t end, const char *key, size_t wl, size_t j)
{
    const unsigned char *t = st->t;
    size_t len = st->len;
    if (could_intro(p1, p2) || key_has_suffix(st->x, key, wl)) return 0;
    if (l1 ? l1 == 3 && memcmp(w1, "and", 3) == 0
           : !first && (t[end - 1] == ',' || t[end - 1] == '&'))
        return 0;
    if (*c1 < 0) *c1 = l1 ? lex_cflags(st, w1, l1) : 0;
    if (*c1 & (CTX_said | CTX_at_place)) return 0;
    size_t k = space_run(t, j, len);
    if (k < len && (t[k] == ',' || (t[k] == 'a' && len - k >= 3 && memcmp(t + k, "and", 3) == 0)))
        return 0;
    return !cap_may_go_on(st, j);
}

/* Does address_at, at a number followed on its line by the word at t[k],
 * find nothing: no street type after a first word, no street type before
 * the name (F_PREFIX) first, no street ending, before an ordinary lowercase
 * word, a mark, a number, a line break or five words ("2 of", "2009 Free
 * Software Foundation,")?  The words are read on lex_next's terms.  Returns
 * where its reads end (past the last byte it read: no checkpoint may come
 * before, see read_bound), or 0: it may find something, or a word is not
 * plain ASCII (lex_next reads it). */
__attribute__((noinline)) static size_t num_inert(const stream *st, size_t k)
{
    const unsigned char *t = st->t;
    size_t len = st->len;
#define READ_TO(x) ((x) < len ? (x) + 1 : len)
    char kb[KEYMAX];
    for (int words = 0; words < 5; words++) {
        unsigned c = t[k];
        size_t j;
        const char *key;
        int ocap;
        if (c >= 'a' && c <= 'z') {
            j = lower_run(t, k + 1, len);
            if (j < len && (t[j] >= 0x80 || is_alpha(t[j]) || t[j] == '-' || t[j] == '\''))
                return 0;
            key = (const char *)t + k;
            ocap = C_LOWER;
        } else if (c >= 'A' && c <= 'Z') {
            int all_upper, more_upper;
            j = cap_word(t, k, len, kb, &all_upper, &more_upper);
            if (j < len && (t[j] >= 0x80 || t[j] == '-' || t[j] == '\'')) return 0;
            key = kb;
            ocap = all_upper && j - k >= 2 ? C_ALLCAP : C_CAP;
        } else {
            return 0;
        }
        size_t n = j - k;
        if (n <= KEYMAX) { /* a longer word has no key: nothing to look up */
            const lex_ent *le = lex_find(st->x, st->memo, key, n);
            unsigned f = le ? le->flags : 0, cf = le ? le->cflags : 0;
            if ((f & F_STREET) && words > 0 && (ocap != C_LOWER || (cf & CTX_plain_streets)))
                return 0;
            if ((f & F_PREFIX) && words == 0 && (ocap == C_CAP || n > 2)) return 0;
            if (key_has_suffix(st->x, key, n)) return 0;
            if (words == 0 && ocap == C_LOWER && n == 3 &&
                (memcmp(key, "bis", 3) == 0 || memcmp(key, "ter", 3) == 0))
                words--; /* "12 bis rue ...": as address_at reads it */
            if (ocap == C_LOWER && common_key(st, key, n, f, C_LOWER)) return READ_TO(j);
        }
        size_t q = space_run(t, j, len);
        if (q >= len || (q > j && memchr(t + j, '\n', q - j))) return READ_TO(q);
        if (!is_alpha(t[q]) && t[q] < 0x80) return READ_TO(q); /* a number or a mark */
        k = q;
    }
    return READ_TO(k);
#undef READ_TO
}

/* The prev_tok of a plain lowercase word w[0..wl) for skip_plain's fast
 * loop, or -1 for a unit word ("apt", "po"), which stops it; a table of
 * first letters by length answers most words with no compare, and one of
 * second letters most of the rest. */
static inline int lane_code(const char *w, size_t wl)
{
#define L(c) (1u << ((c) - 'a'))
    static const uint32_t maybe_code[13] = {0, /* word_code or a unit word */
                                            L('i') | L('p') | L('s'),
                                            L('h') | L('i') | L('a') | L('c') | L('p') | L('e'),
                                            L('h') | L('w') | L('i') | L('a') | L('e') | L('n'),
                                            L('d') | L('a') | L('n') | L('h'),
                                            L('n') | L('h') | L('k') | L('s') | L('g') | L('l'),
                                            L('c') | L('t') | L('s') | L('w') | L('h') | L('n'),
                                            L('r') | L('b') | L('s') | L('g') | L('a'),
                                            L('e'),
                                            L('s') | L('a') | L('c'),
                                            L('f'),
                                            L('a'),
                                            L('c')};
    if (wl > 12 || !(maybe_code[wl] >> (w[0] - 'a') & 1)) return 0;
        /* and by their second letters, for those that passed ("in", "and") */
#define AT(n, c) [n][(c) - 'a']
    static const uint32_t second[13][26] = {AT(2, 'i') = L('s') | L('m'),
                                            AT(2, 'e') = L('s'),
                                            AT(3, 'e') = L('s'),
                                            AT(3, 'n') = L('o'),
                                            AT(4, 'h') = L('o') | L('e'),
                                            AT(5, 'g') = L('r'),
                                            AT(5, 'l') = L('l'),
                                            AT(6, 'w') = L('i'),
                                            AT(6, 'h') = L('e'),
                                            AT(6, 'n') = L('o'),
                                            AT(7, 'b') = L('o'),
                                            AT(7, 's') = L('a'),
                                            AT(7, 'g') = L('r'),
                                            AT(7, 'a') = L('p'),
                                            AT(8, 'e') = L('s'),
                                            AT(9, 'c') = L('o'),
                                            AT(10, 'f') = L('a'),
                                            AT(11, 'a') = L('t'),
                                            AT(12, 'c') = L('o') | L('u'),
                                            AT(2, 'a') = L('s') | L('m'),
                                            AT(2, 'h') = L('i'),
                                            AT(2, 'c') = L('c'),
                                            AT(2, 'p') = L('o'),
                                            AT(3, 'w') = L('a'),
                                            AT(3, 'h') = L('i') | L('e'),
                                            AT(3, 'i') = ~0u,
                                            /* "i'm" */ AT(3, 'a') = L('p'),
                                            AT(4, 'n') = L('a'),
                                            AT(4, 'd') = L('e'),
                                            AT(4, 'a') = L('t'),
                                            AT(5, 'n') = L('a'),
                                            AT(5, 'k') = L('n'),
                                            AT(5, 'h') = L('e'),
                                            AT(5, 's') = L('u'),
                                            AT(6, 'c') = L('a') | L('h'),
                                            AT(6, 't') = L('h'),
                                            AT(6, 's') = L('i') | L('a'),
                                            AT(7, 'r') = L('e'),
                                            AT(9, 's') = L('i'),
                                            AT(9, 'a') = L('t')};
#undef AT
#undef L
    if (wl > 1 && (unsigned)(w[1] - 'a') < 26u && !(second[wl][w[0] - 'a'] >> (w[1] - 'a') & 1))
        return 0;
    if ((wl == 1 && w[0] == 'p') || (wl == 2 && memcmp(w, "po", 2) == 0) ||
        (wl == 3 && memcmp(w, "apt", 3) == 0) || (wl == 5 && memcmp(w, "suite", 5) == 0))
        return -1;
    return (int)word_code(w, wl);
}

/* Checkpoints.  The stream scrubber scans a window of text that has slid on
 * by a few bytes and grown at its end since its last pass, so most of it was
 * just scanned.  A scan of a short text notes points in skip_plain's fast
 * loop where nothing is read ahead, no detector is busy past the point and
 * no address block is open: from such a point on, what the scan does
 * depends only on the text and on where the tokens back() can still read
 * start (CK_BACK).  A scan of a text that starts with the end of the one
 * before reaches such a point in the same state, takes the spans the scan
 * before found from there up to a later point all of whose reads lay in the
 * shared stretch (read_bound, and near_pii's 60 bytes around those spans),
 * and goes on from there: the spans are those a scan of the whole text
 * finds. */
#define CK_BACK 4     /* back() reads at most 4 tokens behind (name_field, home_context) */
#define CK_TEXT 2048  /* texts up to this long note checkpoints */
#define CK_MAX 128    /* checkpoints noted per text */
#define CK_SHARED 128 /* least shared stretch worth looking for */

/* A checkpoint, in terms that hold in every text that takes it up, so that
 * one is taken up by copying it: its position is counted from the origin of
 * the chain of texts (scan_res.org: the text's byte 0 is byte org of it).
 * The spans found before it are those that start before it: each detector
 * reports a span at the token it steps at, and steps on. */
typedef struct {
    uint32_t pos;           /* where the next token is read from, + org */
    uint16_t back[CK_BACK]; /* pos less where each token before starts, the last first */
} ckpt;

/* One scan's results: spans per detector, its checkpoints. */
typedef struct {
    sink s[3];
    ckpt *ck; /* CK_MAX of them, or NULL */
    size_t nck;
    uint32_t org; /* see ckpt */
    int lower;    /* the scan's st.lower */
    al_code rc;
} scan_res;

/* The scan before, taken up where it can be. */
typedef struct {
    const scan_res *pr; /* NULL: no more to take up */
    size_t d, m;        /* the text's [0, m) is the text before's [d, d + m) */
    size_t j;           /* first of pr->ck not yet passed */
} prior;

/* What skip_plain needs to note and take up checkpoints. */
typedef struct {
    scan_res *res;
    prior *pv; /* or NULL */
    al_code rc;
} ck_ctx;

/* Where the text before was read to, at most, by a scan at a checkpoint at
 * pos (less 4): read_bound(pos), the end of the second run of white space
 * after pos (each after a run of other bytes), or the text's end.  The ring
 * is empty there: every token read ends at or before pos, and lex_next
 * reads at most three bytes past one; skip_plain reads the first letter of
 * the word after pos (its fast loop's test), and one word past a token it
 * passed (cap_may_go_on, lone_surname, the '.' test), which ends at or
 * before pos (num_inert reads further: no checkpoint comes before the end
 * of its reads, stream.ck_from).  No token holds white space, so two runs
 * of other bytes and the space after each bound them, with room.
 * read_limit returns the least pos in a shared stretch t[0, m) with
 * read_bound(pos) + 4 > m, found once from the end rather than read forward
 * from one checkpoint after another: read_bound ends where a run of white
 * space ends (a z with t[z - 1] white space and t[z] not) or at m, never
 * earlier for a later pos, and from pos at the second such z after it; so
 * at or before m - 4 exactly when pos lies before the one before the last
 * such z <= m - 4.  0: no pos does. */
static size_t read_limit(const unsigned char *t, size_t m)
{
    if (m < 5) return 0;
    size_t z = m - 4;
    for (int r = 0;; r++) {
        while (z > 0 && !(bclass[t[z - 1]] == 1 && bclass[t[z]] != 1)) z--;
        if (z == 0 || r == 1) return z;
        z--;
    }
}

/* How many of the spans in out start before pos (they are in the order of
 * their starts). */
static size_t spans_before(const sink *out, size_t pos)
{
    size_t lo = 0, hi = out->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (out->v[mid].start < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* At a checkpoint: skip_plain's fast loop has passed token h - 1, which
 * ends at pos, and goes on at the next; no detector is busy past pos and no
 * address block is open, so from here the scan depends on the text and the
 * starts of tokens h - 1 .. h - CK_BACK only (skip_plain at pos with nothing
 * read ahead does what its loop does).  Notes it and, when the scan before
 * has the same point in the same state, takes up its spans and checkpoints
 * as far as its reads stayed in the shared stretch and moves the scan there
 * (st->pos and the starts of tokens h - 1 .. h - CK_BACK; the ring is left
 * empty).  Returns 1 when it moved the scan. */
__attribute__((noinline)) static int take_up(stream *st, size_t h, size_t pos, ck_ctx *cx);

static inline __attribute__((always_inline)) int checkpoint(stream *st, size_t h, size_t pos,
                                                            ck_ctx *cx)
{
    scan_res *res = cx->res;
    if (res->nck < CK_MAX && (res->ck || (res->ck = malloc(CK_MAX * sizeof *res->ck)))) {
        const size_t *hp = st->hpos;
        const unsigned h1 = (unsigned)(h - 1);
        ckpt *k = &res->ck[res->nck++];
        k->pos = (uint32_t)pos + res->org;
        k->back[0] = (uint16_t)(pos - hp[h1 & 7]);
        k->back[1] = (uint16_t)(pos - hp[(h1 - 1) & 7]);
        k->back[2] = (uint16_t)(pos - hp[(h1 - 2) & 7]);
        k->back[3] = (uint16_t)(pos - hp[(h1 - 3) & 7]);
    }
    /* (at h == CK_BACK the last token behind is the text's first, which the
     * scan before read from further back unless the text starts where it
     * started reading it: rarely the same, and not worth a search) */
    return cx->pv && cx->pv->pr && h > CK_BACK ? take_up(st, h, pos, cx) : 0;
}

/* The rest of checkpoint, while the scan before may still be taken up. */
__attribute__((noinline)) static int take_up(stream *st, size_t h, size_t pos, ck_ctx *cx)
{
    scan_res *res = cx->res;
    sink *out = res->s;
    const size_t *hp = st->hpos;
    const unsigned h1 = (unsigned)(h - 1);
    uint16_t back[CK_BACK] = {(uint16_t)(pos - hp[h1 & 7]), (uint16_t)(pos - hp[(h1 - 1) & 7]),
                              (uint16_t)(pos - hp[(h1 - 2) & 7]),
                              (uint16_t)(pos - hp[(h1 - 3) & 7])};
    uint32_t vpos = (uint32_t)pos + res->org;
    prior *pv = cx->pv;
    const scan_res *pr = pv->pr;
    size_t j = pv->j;
    while (j < pr->nck && pr->ck[j].pos < vpos) j++;
    pv->j = j;
    if (j >= pr->nck) {
        pv->pr = NULL; /* the scan before noted nothing further */
        return 0;
    }
    const ckpt *a = &pr->ck[j];
    if (a->pos != vpos || memcmp(a->back, back, sizeof back) != 0) return 0;
    /* the furthest checkpoint whose reads lay in the shared stretch: past
     * it by read_bound, and near_pii's 60 bytes before and after each span
     * found on the way (those before: that far into this text) */
    size_t k = pr->nck, d = pv->d, from[3], to[3], lim = read_limit(st->t, pv->m);
    while (--k > j && pr->ck[k].pos - res->org >= lim) {
    }
    for (int ok = 0; !ok;) {
        if (k <= j) {
            pv->pr = NULL;
            return 0;
        }
        ok = 1;
        for (int s = 0; s < 3; s++) {
            const sink *ps = &pr->s[s];
            from[s] = spans_before(ps, a->pos - pr->org);
            to[s] = spans_before(ps, pr->ck[k].pos - pr->org);
            for (size_t i = from[s]; i < to[s]; i++) {
                if (ps->v[i].start < d + 60) return 0; /* a later checkpoint may do */
                if (ps->v[i].end + 60 > d + pv->m) ok = 0;
            }
        }
        if (!ok) k--;
    }
    const ckpt *b = &pr->ck[k];
    pv->pr = NULL; /* taken up once */
    /* the checkpoints after this one, as they are */
    size_t nk = k - j;
    if (res->ck && nk > CK_MAX - res->nck) nk = CK_MAX - res->nck;
    if (res->ck) {
        memcpy(res->ck + res->nck, pr->ck + j + 1, nk * sizeof *res->ck);
        res->nck += nk;
    }
    for (int s = 0; s < 3; s++) {
        const sink *ps = &pr->s[s];
        for (size_t i = from[s]; i < to[s] && cx->rc == AL_OK; i++)
            cx->rc = push(&out[s], ps->v[i].start - d, ps->v[i].end - d, ps->lvl[i]);
    }
    st->pos = b->pos - res->org;
    for (size_t i = 0; i < CK_BACK; i++) st->hpos[(h1 - i) & 7] = st->pos - b->back[i];
    st->filled = 0; /* tokens behind are read again from their starts */
    return 1;
}

/* home_context at the token skip_plain stands at, n tokens past the ring's
 * current one (those before it passed, their starts in st->hpos): asked
 * with the tokens counted as consumed, so that back() reads them again
 * from their starts as names_raw would see them. */
static int home_after(stream *st, size_t n)
{
    const size_t hist = st->hist, head = st->head;
    st->hist += n;
    st->head = (st->head + n) % RING;
    int r = home_context(st);
    st->hist = hist;
    st->head = head;
    return r;
}

/* Skips, from st->pos, the tokens that names_raw would pass over in its fast
 * lane without a look: lowercase ASCII words that are not a unit word
 * ("apt"), not before a '.' (a title: "mr.") and not after a word or mark
 * that may introduce a name ("named", ","), ASCII punctuation, numbers
 * with no word after them on their line, and the capitalised words and
 * words of all-lowercase text the main loop passes over too.  block: an
 * address block is open, and a token that starts a line is left to the
 * main loop (it may be the block's next line).
 * The last few skipped tokens are read into the ring again so that
 * look-behind (back) sees what a token-by-token scan would.
 * cx: checkpoints are noted and taken up (see checkpoint), or NULL.
 * Returns 1 when a checkpoint moved the scan (st->pos): the main loop
 * goes on from its top. */
static int skip_plain(stream *st, int block, ck_ctx *cx)
{
    /* nothing to skip when the next token is non-ASCII, or one a detector
     * read ahead that is no plain word or mark */
    if (st->n) {
        const tok *k = &st->ring[st->head];
        if (!(k->type == T_PUNCT || (k->type == T_WORD && k->cap == C_LOWER))) return 0;
    } else {
        size_t j = space_run(st->t, st->pos, st->len);
        if (j >= st->len || st->t[j] >= 0x80) return 0;
    }
    /* the token before the one before matters only after ',', '?' or a
     * word such as "is" (see could_intro) */
    const tok *pk = back(st, 1);
    prev_tok p1 = prev_of(pk), p2 = 0;
    if ((p1 >> NEED) & ~IS_ANY) p2 = prev_of(back(st, 2));
    /* and the key of the token before (w1, l1 > 0 for a word) */
    const char *w1 = pk && pk->type == T_WORD ? pk->key : NULL;
    size_t l1 = w1 ? pk->klen : 0;
    /* tokens a detector read ahead: passed over one by one on the fast
     * lane's own terms */
    while (st->n) {
        tok *k = &st->ring[st->head];
        prev_tok cur = 0;
        if (block && k->nl) return 0;
        if (k->type == T_PUNCT) {
            cur = prev_of(k);
        } else if (k->type == T_WORD && k->cap == C_LOWER) {
            if (k->klen <= 5 &&
                (key_is(k, "apt") || key_is(k, "suite") || key_is(k, "po") || key_is(k, "p")))
                return 0;
            /* the next token is '.' (read from the text if not yet read) */
            int dot;
            if (st->n > 1) {
                dot = punct_is(peek(st, 1), '.');
            } else {
                size_t j = space_run(st->t, k->e, st->len);
                dot = j < st->len && st->t[j] == '.';
            }
            if (dot && (flags_of(st, k) & F_TITLE)) return 0;
            if (could_intro(p1, p2)) return 0;
            cur = prev_of(k);
        } else {
            return 0;
        }
        w1 = k->type == T_WORD ? k->key : NULL;
        l1 = w1 ? k->klen : 0;
        advance(st, 1);
        p2 = p1;
        p1 = cur;
    }
    const unsigned char *t = st->t;
    size_t len = st->len, i = st->pos, n = 0, end = i, e;
    const lex_ent *stop = NULL; /* the word list entry of a word of lowercase text stopped at */
    int looked = 0;
    int c1 = -1;       /* context-word lists of the token before, -1: not looked up */
    size_t capped = 0; /* end of a capitalised word stopped at, put in the ring */
    for (;;) {
        i = space_run(t, i, len);
        if (i >= len || (block && i > end && memchr(t + end, '\n', i - end))) break;
        unsigned c = bclass[t[i]];
        prev_tok cur = 0;
        if (c >= 2 && !st->lower && !block) {
            /* the common case first, on the same terms as the branches below:
             * ASCII marks, and lowercase words that end at a space or a mark
             * other than a hyphen or an apostrophe, are no unit word, no
             * title before a '.' (title_first rules most out) and follow
             * no token that could introduce a name; what is left (and the
             * first token of another kind) goes on below */
            const uint32_t *title_first = st->x->title_first;
            for (;;) {
                size_t j, k;
                prev_tok code = 0;
                if (c == 3) {
                    code = mark_code((char)t[i]);
                    j = i + 1;
                    k = space_run(t, j, len);
                    l1 = 0;
                    c1 = 0;
                } else {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                    /* most words: up to seven letters, one space and a
                     * lowercase letter, told from one load of t[i+1..i+9)
                     * (as lower_run reads it) and passed on the terms below */
                    uint64_t x = 0;
                    size_t p = 8;
                    for (;;) {
                        x = 0;
                        p = 8;
                        if (i + 9 <= len) {
                            memcpy(&x, t + i + 1, 8);
                            uint64_t out =
                                ~((x + 0x1f1f1f1f1f1f1f1fu) & ~(x + 0x0505050505050505u) & ~x) &
                                0x8080808080808080u;
                            if (out) p = (size_t)__builtin_ctzll(out) >> 3;
                        }
                        if (!(p <= 6 && (uint8_t)(x >> (8 * p)) == ' ' &&
                              (unsigned)((uint8_t)(x >> (8 * p + 8)) - 'a') < 26u))
                            break;
                        if (could_intro(p1, p2)) goto fast_done;
                        const char *w = (const char *)t + i;
                        size_t wl = p + 1;
                        int wc = lane_code(w, wl);
                        if (wc < 0) goto fast_done;
                        w1 = w;
                        l1 = wl;
                        c1 = -1;
                        p2 = p1;
                        p1 = (prev_tok)wc;
                        st->hpos[(st->hist + n) % 8] = end;
                        n++;
                        end = i + wl;
                        i = end + 1;
                        /* a checkpoint after each such word (noting one is
                         * a few stores: the more there are, the sooner a
                         * window that slid on takes up the scan before,
                         * and the later it leaves it) */
                        if (cx && st->hist + n >= CK_BACK && end >= st->ck_from &&
                            checkpoint(st, st->hist + n, end, cx)) {
                            st->hist += n;
                            st->head = (st->head + n) % RING;
                            return 1;
                        }
                    }
                    j = p < 8 ? i + 1 + p : lower_run(t, i + 1, len);
#else
                    j = lower_run(t, i + 1, len);
#endif
                    if (j < len && bclass[t[j]] != 1 &&
                        (bclass[t[j]] != 3 || t[j] == '-' || t[j] == '\''))
                        break;
                    if (could_intro(p1, p2)) break;
                    size_t wl = j - i;
                    const char *w = (const char *)t + i;
                    int wc = lane_code(w, wl);
                    if (wc < 0) break;
                    code = (prev_tok)wc;
                    k = space_run(t, j, len);
                    if (k < len && t[k] == '.' && wl <= KEYMAX &&
                        (title_first[wl] >> (w[0] - 'a') & 1))
                        break;
                    w1 = w;
                    l1 = wl <= KEYMAX ? wl : 0;
                    c1 = -1;
                }
                p2 = p1;
                p1 = code;
                st->hpos[(st->hist + n) % 8] = end;
                n++;
                end = j;
                i = k;
                /* and after every other token of this loop: from here too
                 * skip_plain called anew does what this loop does */
                if (cx && st->hist + n >= CK_BACK && end >= st->ck_from &&
                    checkpoint(st, st->hist + n, end, cx)) {
                    st->hist += n;
                    st->head = (st->head + n) % RING;
                    return 1;
                }
                if (i >= len || (c = bclass[t[i]]) < 2) break;
            }
        fast_done:
            if (i >= len) break;
            c = bclass[t[i]];
        }
        if (c == 2) {
            /* a lowercase word, hyphenated or with an apostrophe as lex_next
             * joins them ("well-known", "o'clock"; "dog's" ends before the
             * mark); capitals or non-ASCII inside: left to lex_next */
            size_t j = i + 1;
            int odd = 0;
            for (;;) {
                j = lower_run(t, j, len);
                if (j >= len) break;
                unsigned d = t[j];
                if (d >= 0x80) {
                    /* a mark outside ASCII ends it ("don’t"), as in lex_next
                     * (which joins a '-' or '\'' in any form) */
                    uint32_t cp;
                    (void)u8dec(t, len, j, &cp);
                    odd = cp_letter(cp) || cp == '-' || cp == '\'';
                    break;
                }
                if (is_alpha(d)) {
                    odd = 1;
                    break;
                }
                if ((d == '-' || d == '\'') && j + 1 < len && is_alpha(t[j + 1]) &&
                    !(d == '\'' && (t[j + 1] == 's' || t[j + 1] == 't') &&
                      (j + 2 >= len || !is_alpha(t[j + 2])))) {
                    if (bclass[t[j + 1]] != 2) {
                        odd = 1;
                        break;
                    }
                    j += 2;
                    continue;
                }
                break;
            }
            if (odd) break;
            size_t wl = j - i;
            const char *w = (const char *)t + i;
            size_t k = space_run(t, j, len);
            if ((w[0] == 'p' || w[0] == 'a' || w[0] == 's') &&
                ((wl == 1 && w[0] == 'p') || (wl == 2 && memcmp(w, "po", 2) == 0) ||
                 (wl == 3 && memcmp(w, "apt", 3) == 0) || (wl == 5 && memcmp(w, "suite", 5) == 0)))
                break; /* a unit word ("apt 4", "po box") */
            if (st->lower && wl >= 2) {
                /* all-lowercase text, where the word counts as capitalised:
                 * passed over when it is no listed name, title or place and
                 * follows no "in"/"from" (see names_raw) */
                if (wl > KEYMAX) break;
                const lex_ent *le = lex_find(st->x, st->memo, w, wl);
                stop = le;
                looked = 1;
                if (le && (le->flags & (F_GIVEN | F_SUR | F_TITLE | F_PLACE | F_HEAD))) break;
                if (c1 < 0) c1 = l1 ? lex_cflags(st, w1, l1) : 0;
                if (c1 & CTX_at_place) break;
                c1 = le ? le->cflags : 0;
                looked = 0;
            } else {
                /* before a '.', a title ("mr.") is left to the detectors */
                if (k < len && t[k] == '.' && wl <= KEYMAX &&
                    (st->x->title_first[wl] >> (w[0] - 'a') & 1) &&
                    (lex_flags(st, w, wl) & F_TITLE))
                    break; /* (no title is longer than KEYMAX: lex_add keeps none) */
                if (could_intro(p1, p2)) break;
                c1 = -1;
            }
            cur = wl <= KEYMAX ? word_code(w, wl) : 0;
            w1 = w;
            l1 = wl <= KEYMAX ? wl : 0;
            e = j;
            i = k; /* the space after it is passed once */
        } else if (c == 3) {
            cur = mark_code((char)t[i]);
            l1 = 0;
            c1 = 0;
            e = ++i;
        } else if (t[i] >= 0x80) {
            /* a mark outside ASCII ("©", "’", "—"): lex_next's T_PUNCT,
             * which names_raw passes as it passes ASCII marks */
            uint32_t cp;
            size_t m = u8dec(t, len, i, &cp);
            if ((cp >= '0' && cp <= '9') || cp_letter(cp)) break;
            cur = mark_code((char)(cp < 0x80 ? cp : 0));
            l1 = 0;
            c1 = 0;
            e = i += m;
        } else if (t[i] >= '0' && t[i] <= '9') {
            /* a number with no word after it on its line, or words that
             * make no address of it ("2 of", num_inert): only address_at
             * looks at a number, for the words after it ("12 Elm Street") */
            size_t j = i + 1;
            while (j < len && ((t[j] >= '0' && t[j] <= '9') || is_alpha(t[j]) ||
                               (t[j] == '-' && j + 1 < len && t[j + 1] >= '0' && t[j + 1] <= '9')))
                j++;
            size_t k = space_run(t, j, len);
            if (k < len && (is_alpha(t[k]) || t[k] >= 0x80) && !memchr(t + j, '\n', k - j)) {
                size_t r = num_inert(st, k);
                if (!r) break;
                if (r > st->ck_from) st->ck_from = r;
            }
            cur = 0;
            l1 = 0;
            c1 = 0;
            e = i = j;
        } else if (t[i] >= 'A' && t[i] <= 'Z') {
            /* a capitalised ordinary word ("The", "License") or a word in
             * capitals ("WARRANTY") that names_raw passes over without a
             * step: judged here on the same terms */
            char *key = st->ring[(st->head + n) % RING].kbuf; /* its slot, if stopped at */
            int all_upper, more_upper;
            size_t j = cap_word(t, i, len, key, &all_upper, &more_upper), wl = j - i;
            if (j < len && (t[j] >= 0x80 || t[j] == '-' || t[j] == '\'')) break;
            if (wl > KEYMAX || (wl == 1 && key[0] == 'p') ||
                (wl == 2 && key[0] == 'p' && key[1] == 'o'))
                break;
            const lex_ent *le = lex_find(st->x, st->memo, key, wl);
            unsigned f = le ? le->flags : 0;
            int halt = 0; /* 1: stopped at; 2: stopped at, known to be no ordinary word */
            if (all_upper && wl >= 2) {
                /* ("THE" starts a place only if the word after it goes
                 * on one: place_match finds none where head_goes_on
                 * says no) */
                if ((f & (F_PLACE | F_UNIT)) || ((f & F_HEAD) && head_goes_on(st, key, wl, j)) ||
                    key_has_suffix(st->x, key, wl)) {
                    halt = 1;
                } else if (wl == 2 && (e = space_run(t, j, len)) < len && t[e] >= '0' &&
                           t[e] <= '9') {
                    halt = 1; /* "CA 94105" */
                } else {
                    /* a listed name after a field label's ':' ("Name: JOHN
                     * SMITH": the token before is a mark of code NEED_ANY);
                     * after "in", "from": maybe a home (home_context asked
                     * as names_raw asks it).  names_raw asks nothing else
                     * of a word in capitals, an introduction included */
                    if (c1 < 0) c1 = l1 ? lex_cflags(st, w1, l1) : 0;
                    halt = ((f & (F_GIVEN | F_SUR)) && p1 == NEED_ANY && !l1) ||
                           ((c1 & CTX_at_place) && home_after(st, n));
                }
            } else if ((f & (F_PLACE | F_TITLE | F_UNIT | F_PREFIX)) ||
                       ((f & F_HEAD) && head_goes_on(st, key, wl, j))) {
                /* (a word that starts no place here is judged as if it
                 * started none: "The garden") */
                halt = 1;
            } else if (f & (F_NOTNAME | F_ORG)) {
                /* never a name ("Inc", "Monday"): passed as names_raw
                 * passes it, unless it may be a street ("...straat 5") */
                if (key_has_suffix(st->x, key, wl) && !common_key(st, key, wl, f, C_CAP)) halt = 2;
            } else if (f & (F_GIVEN | F_SUR)) {
                /* an ordinary word that is also a name ("You", "Work") is
                 * passed as names_raw passes it: when no word that may be a
                 * surname follows it (cap_may_go_on) */
                if (!common_key(st, key, wl, f, C_CAP))
                    halt = block || (f & F_GIVEN) ||
                                   !lone_surname(st, p1, p2, w1, l1, &c1, st->hist + n == 0, end,
                                                 key, wl, j)
                               ? 2
                               : 0;
                else if (cap_may_go_on(st, j))
                    halt = 1;
            } else if ((le || block || key_has_suffix(st->x, key, wl) || could_intro(p1, p2) ||
                        ((c1 < 0 ? (c1 = l1 ? lex_cflags(st, w1, l1) : 0) : c1) &
                         (CTX_said | CTX_at_place))) &&
                       !common_key(st, key, wl, f, C_CAP)) {
                /* a word in no list at all ("Apache", "Licensor") is passed
                 * over by every step unless what stands before it may
                 * introduce a name (could_intro, a word of said) or a place
                 * (at_place), or it may be a street ("Corellistraat 178");
                 * inside an address block it may be a line of it; and an
                 * ordinary one ("Photosynthesis") always: asked last, as
                 * the stems it tries cost more than the tests before it */
                halt = 2;
            }
            if (halt) {
                capped = cap_stop(st, st->hist + n, end, i, j, all_upper && wl >= 2, more_upper,
                                  halt == 2, le);
                break;
            }
            cur = word_code(key, wl);
            w1 = key;
            l1 = wl;
            c1 = le ? le->cflags : 0;
            e = i = j;
        } else {
            break;
        }
        p2 = p1;
        p1 = cur;
        st->hpos[(st->hist + n) % 8] = end;
        n++;
        end = e;
    }
    st->hist += n;
    st->head = (st->head + n) % RING;
    st->pos = end;
    if (capped) {
        st->n = 1;
        st->pos = capped;
    } else if (looked) { /* read the word stopped at with the lookup already made */
        tok *k = peek(st, 0);
        k->flags = stop ? stop->flags : 0;
        k->cflags = stop ? stop->cflags : 0;
        k->looked = 1;
    }
    return 0;
}

/* Could person_step's run of name words go on after token 0: is token 1,
 * on the same line, a capitalised word that may be a surname (surname_like)
 * or an initial, or a lowercase particle ("van")?  When not, an ordinary
 * word at token 0 starts no name (person_step's surname stays 0). */
static int surname_next(stream *st)
{
    tok *b = peek(st, 1);
    if (!b || b->nl || b->type != T_WORD) return 0;
    if (b->cap == C_CAP) return b->e - b->s == 1 || surname_like(st, b); /* "J." or "Smith" */
    return b->cap == C_LOWER && in_list(st, b, CTX_particles);
}

/* Whether t[0..len) holds an ASCII capital, eight bytes at a time (the
 * high bits cleared first, so no sum carries into the next byte). */
__attribute__((noinline)) static int has_capital(const unsigned char *t, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t x, y;
        memcpy(&x, t + i, 8);
        y = x & 0x7f7f7f7f7f7f7f7fu;
        /* a byte of 0x41..0x5a: >= 0x41, < 0x5b, and ASCII */
        if ((y + 0x3f3f3f3f3f3f3f3fu) & ~(y + 0x2525252525252525u) & ~x & 0x8080808080808080u)
            return 1;
    }
    for (; i < len; i++)
        if (t[i] >= 'A' && t[i] <= 'Z') return 1;
    return 0;
}

/* The three scans in one pass over the tokens: each detector steps at the
 * tokens it has not consumed yet.  res->s[0] person, [1] location, [2]
 * address; note: checkpoints are noted (a text of a stream); pv: the scan
 * before, to take up (or NULL). */
static al_code names_raw(const lex *x, memo_ent *memo, const char *text, size_t len, scan_res *res,
                         int note, prior *pv)
{
    sink *out = res->s;
    stream st; /* the ring is written before it is read (st.filled): not cleared */
    st.x = x;
    st.memo = memo;
    st.t = (const unsigned char *)text;
    st.len = len;
    st.pos = st.head = st.n = st.hist = 0;
    st.filled = 0;
    st.ck_from = 0;
    /* all-lowercase text ("tracy sukhorukova lives in riga"): judge words as if
     * capitalised; the common-word list and the context rules still apply */
    st.lower = !has_capital(st.t, len);
    res->lower = st.lower;
    if (pv && pv->pr->lower != st.lower) pv = NULL;
    int ck = note && len <= CK_TEXT;
    ck_ctx cx = {res, pv, AL_OK};
    al_code rc = AL_OK;
    size_t busy[3] = {0, 0, 0};
    addr_block ab = {0, 0};
    tok *cur;
    while (rc == AL_OK) {
        /* checkpoints only where no detector is busy past the text read */
        int free_ = ck && busy[0] <= st.pos && busy[1] <= st.pos && busy[2] <= st.pos;
        if (skip_plain(&st, ab.lines > 0, free_ ? &cx : NULL)) {
            if ((rc = cx.rc) != AL_OK) break;
            continue;
        }
        if (!(cur = peek(&st, 0))) break;
        /* fast lane: punctuation and plain lowercase words start nothing
         * unless they could be a title ("mr."), follow an introduction ("my
         * name is john") or start a unit ("apt 4") */
        if ((cur->type == T_PUNCT && !(cur->nl && ab.lines > 0)) ||
            (cur->type == T_WORD && cur->cap == C_LOWER &&
             !(cur->klen <= 5 && (key_is(cur, "apt") || key_is(cur, "suite") || key_is(cur, "po") ||
                                  key_is(cur, "p"))) &&
             !(punct_is(peek(&st, 1), '.') && (flags_of(&st, cur) & F_TITLE)) &&
             !introduced(&st))) {
            if (cur->s >= busy[2] && cur->nl && cur->s > ab.end && ab.lines > 0) ab.lines--;
            advance(&st, 1);
            continue;
        }
        /* a word in capitals ("TERMS", "WARRANTY") that is no place, unit or
         * street and follows no "in"/"from": each step would pass it over
         * (person_step judges capitalised words, and listed names in capitals
         * only after a field label's ':', location_step needs a
         * listed place or a preposition before it, address_at a unit, a
         * street ending or a two-letter state) */
        size_t pe;
        if ((ab.lines == 0 || !cur->nl) && cur->type == T_WORD && cur->cap == C_ALLCAP &&
            cur->klen && !(flags_of(&st, cur) & (F_PLACE | F_UNIT)) && !has_suffix(x, cur) &&
            !(cur->klen == 2 &&
              (key_is(cur, "po") || (peek(&st, 1) && peek(&st, 1)->type == T_NUM))) &&
            !(in_list(&st, back(&st, 1), CTX_at_place) && home_context(&st)) &&
            !((cur->flags & F_HEAD) && place_match(&st, &pe)) &&
            !((cur->flags & (F_GIVEN | F_SUR)) && punct_is(back(&st, 1), ':'))) {
            for (int d = 0; d < 3; d++)
                if (cur->s >= busy[d]) busy[d] = cur->e;
            advance(&st, 1);
            continue;
        }
        /* a capitalised word that is no place, title or street word and
         * starts no place of several words ("The" of "The Hague"), and is
         * either an ordinary word ("Copyright", "You") not followed by a
         * word that may be a surname (a capitalised word or a particle:
         * "You Smith"), or a word that is never a name (F_NOTNAME, F_ORG:
         * "Inc", "May") with no street ending or ordinary: no step can use
         * it (person_step judges ordinary names only as the first of a full
         * name, location_step an unlisted word only when not ordinary nor
         * F_NOTNAME/F_ORG, address_at a street ending only when not
         * ordinary) */
        if ((ab.lines == 0 || !cur->nl) && cur->type == T_WORD && cur->cap == C_CAP &&
            cur->ocap == C_CAP && cur->klen && !key_is(cur, "po") && !key_is(cur, "p") &&
            !(flags_of(&st, cur) & (F_PLACE | F_TITLE | F_UNIT | F_PREFIX)) &&
            ((cur->flags & (F_NOTNAME | F_ORG))
                 ? is_common(&st, cur) || !has_suffix(x, cur)
                 : is_common(&st, cur) &&
                       (!(cur->flags & (F_GIVEN | F_SUR)) || !surname_next(&st))) &&
            !((cur->flags & F_HEAD) && place_match(&st, &pe))) {
            for (int d = 0; d < 3; d++)
                if (cur->s >= busy[d]) busy[d] = cur->e;
            advance(&st, 1);
            continue;
        }
        /* a word of all-lowercase text (counted as capitalised) that is no
         * name, title or place and follows no "in"/"from": person_step
         * judges unlisted words only when written with a capital,
         * location_step only after such a preposition, address_at only
         * unit words ("apt") */
        if (st.lower && (ab.lines == 0 || !cur->nl) && cur->type == T_WORD && cur->cap == C_CAP &&
            cur->ocap == C_LOWER && cur->klen &&
            !(flags_of(&st, cur) & (F_GIVEN | F_SUR | F_TITLE | F_PLACE | F_HEAD)) &&
            !(cur->klen <= 5 && (key_is(cur, "apt") || key_is(cur, "suite") || key_is(cur, "po") ||
                                 key_is(cur, "p"))) &&
            !in_list(&st, back(&st, 1), CTX_at_place)) {
            for (int d = 0; d < 3; d++)
                if (cur->s >= busy[d]) busy[d] = cur->e;
            advance(&st, 1);
            continue;
        }
        for (int d = 0; d < 3 && rc == AL_OK; d++) {
            if (cur->s < busy[d]) continue;
            size_t used = d == 0   ? person_step(&st, &out[0], &rc)
                          : d == 1 ? location_step(&st, &out[1], &rc)
                                   : address_step(&st, &out[2], &rc, &ab);
            tok *last = used ? peek(&st, used - 1) : NULL;
            busy[d] = last ? last->e : len;
        }
        advance(&st, 1);
    }
    return rc;
}

/* Adds the context-word lists to the hash set (called once per load). */
static int add_context_words(lex *x)
{
    static const struct {
        const char *const *words;
        unsigned bit;
    } lists[] = {
        {name_intro, CTX_name_intro},
        {name_is, CTX_name_is},
        {said, CTX_said},
        {determiners, CTX_determiners},
        {place_preps, CTX_place_preps},
        {particles, CTX_particles},
        {at_place, CTX_at_place},
        {home_verbs, CTX_home_verbs},
        {pii_cues, CTX_pii_cues},
        {plain_streets, CTX_plain_streets},
        {field_labels, CTX_field_labels},
        {salutations, CTX_salutations},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        for (const char *const *w = lists[i].words; *w; w++)
            if (lex_add(x, *w, strlen(*w), 0, lists[i].bit)) return -1;
    return 0;
}

/* The three detectors share one scan per text. */

/* The spans of the last text scanned on this thread, per detector and at
 * every level: the names pack has several rules per detector (one per
 * evidence level and direction) and the engine runs them over the same
 * text, so the first rule scans for all and the others read the result. */
typedef struct {
    uint64_t gen;
    const char *text;
    size_t len;
    uint64_t pass; /* the caller's pass (al_spans.pass) known to read this text, or 0 */
    char *copy;    /* the text scanned: a buffer reused for new text reads apart */
    size_t copycap;
    scan_res res[2]; /* res[cur]: the last scan's (rc AL_OK or AL_ELIMIT: spans capped) */
    int cur;
    memo_ent *memo;    /* 1 << MEMO_BITS lookups (lex_find), or NULL */
    uint64_t memo_gen; /* the lexicon they were made in (0: none) */
    int keyed;         /* handed to cache_key (its destructor frees the above) */
} scan_cache;
/* initial-exec: the shim is preloaded, never dlopen'd, so its TLS is in the
 * static block and the address needs no __tls_get_addr call */
static __thread scan_cache cache __attribute__((tls_model("initial-exec")));
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

/* Frees a finished thread's cached spans (pthread key destructor). */
static void cache_release(void *p)
{
    scan_cache *c = p;
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < 3; i++) {
            free(c->res[r].s[i].v);
            free(c->res[r].s[i].lvl);
        }
        free(c->res[r].ck);
        c->res[r] = (scan_res){0};
    }
    free(c->copy);
    c->copy = NULL;
    c->copycap = 0;
    c->gen = 0;
    free(c->memo);
    c->memo = NULL;
    c->memo_gen = 0;
    c->keyed = 0; /* a scan from a later destructor keys it again */
}

/* Whether t[0..len) starts with the end of the text before, p[0..plen),
 * from its byte *d on (the first such), for at least CK_SHARED bytes; *m
 * is the length shared. */
static int shared_end(const char *p, size_t plen, const char *t, size_t len, size_t *d, size_t *m)
{
    if (!p || len < CK_SHARED || len > CK_TEXT || plen < CK_SHARED || plen > CK_TEXT) return 0;
    uint64_t w0, w;
    memcpy(&w0, t, 8);
    for (const char *q = p; (q = memchr(q, t[0], (size_t)(p + plen - CK_SHARED + 1 - q))); q++) {
        size_t n = (size_t)(p + plen - q);
        if (memcpy(&w, q, 8), w != w0) continue;
        if (n <= len && memcmp(q + 8, t + 8, n - 8) == 0) {
            *d = (size_t)(q - p);
            *m = n;
            return 1;
        }
    }
    return 0;
}

static void cache_key_init(void)
{
    (void)pthread_key_create(&cache_key, cache_release);
}

/* Scans text for the cache c (the text is not the one it holds): the
 * spans of every detector at every level go to c->res[c->cur], and the
 * text is kept to tell the next call over it.  Returns AL_OK (or AL_ELIMIT:
 * spans capped), else the error of the scan. */
__attribute__((noinline)) static al_code rescan(scan_cache *c, const det_state *d, const char *text,
                                                size_t len)
{
    if (!c->keyed) { /* first use on this thread */
        pthread_once(&cache_once, cache_key_init);
        (void)pthread_setspecific(cache_key, c);
        c->keyed = 1;
    }
    /* a text that starts with the end of the one before is one of a
     * stream: its scan notes checkpoints, and takes up the scan before
     * when that one noted some (a text alone notes none) */
    scan_res *pr = &c->res[c->cur], *nx = &c->res[c->cur ^ 1];
    prior pv = {0};
    int note = c->gen == d->x->gen && shared_end(c->copy, c->len, text, len, &pv.d, &pv.m);
    int take = note && pr->rc == AL_OK && pr->nck && pr->org < (1u << 30);
    pv.pr = pr;
    c->gen = 0;
    for (int i = 0; i < 3; i++) {
        sink *k = &nx->s[i];
        if (k->cap > 65536) { /* do not keep a huge text's spans around */
            free(k->v);
            free(k->lvl);
            k->v = NULL;
            k->lvl = NULL;
            k->cap = 0;
        }
        k->n = 0;
    }
    nx->nck = 0;
    nx->org = take ? pr->org + (uint32_t)pv.d : 0;
    if (c->memo_gen != d->x->gen) { /* a memo made in another lexicon is cleared */
        if (!c->memo) c->memo = malloc(sizeof *c->memo << MEMO_BITS);
        if (c->memo) {
            memset(c->memo, 0, sizeof *c->memo << MEMO_BITS);
            c->memo_gen = d->x->gen;
        }
    }
    nx->rc = names_raw(d->x, c->memo_gen == d->x->gen ? c->memo : NULL, text, len, nx, note,
                       take ? &pv : NULL);
    c->cur ^= 1;
    if (nx->rc != AL_OK && nx->rc != AL_ELIMIT) return nx->rc;
    if (len > c->copycap || (c->copycap > (1u << 20) && len < c->copycap / 4)) {
        free(c->copy);
        c->copy = malloc(len ? len : 1);
        c->copycap = c->copy ? (len ? len : 1) : 0;
    }
    if (c->copy) { /* else not kept: the next rule scans again */
        memcpy(c->copy, text, len);
        c->gen = d->x->gen;
        c->text = text;
        c->len = len;
    }
    return AL_OK;
}

/* Adds the spans of s at the levels asked for to out; returns rc, or the
 * error of adding one. */
__attribute__((noinline)) static al_code report(const sink *s, unsigned levels, al_spans *out,
                                                al_code rc)
{
    for (size_t i = 0; i < s->n; i++) {
        if (!(levels & s->lvl[i])) continue;
        al_code c = al_spans_push(out, s->v[i].start, s->v[i].end, s->v[i].confidence);
        if (c != AL_OK) return c;
    }
    return rc;
}

static al_code run(int kind, const void *state, const char *text, size_t len, al_spans *out)
{
    const det_state *d = state;
    if (!d || !d->x || (!text && len)) return AL_EINVAL;
    if (!text) text = "";
    scan_cache *c = &cache;
    /* the other rules over the text scanned last read its spans: in the
     * pass that scanned it or compared it, the text is known to be the same
     * without comparing it again */
    if (!(c->gen == d->x->gen && c->text == text && c->len == len &&
          ((out->pass && c->pass == out->pass) || len == 0 || memcmp(c->copy, text, len) == 0))) {
        al_code rc = rescan(c, d, text, len);
        if (rc != AL_OK && rc != AL_ELIMIT) return rc;
    }
    c->pass = out->pass; /* (c->gen is 0 when the text was not kept) */
    /* at the span cap (AL_ELIMIT) the spans found so far are still reported */
    const scan_res *r = &c->res[c->cur];
    return r->s[kind].n ? report(&r->s[kind], d->levels, out, r->rc) : r->rc;
}

static al_code person_scan(const void *state, const char *text, size_t len, al_spans *out)
{
    return run(0, state, text, len, out);
}

static al_code location_scan(const void *state, const char *text, size_t len, al_spans *out)
{
    return run(1, state, text, len, out);
}

static al_code address_scan(const void *state, const char *text, size_t len, al_spans *out)
{
    return run(2, state, text, len, out);
}

AL_API const al_detector_ops al_detector_person = {"person", names_load, person_scan, names_free};
AL_API const al_detector_ops al_detector_location = {"location", names_load, location_scan,
                                                     names_free};
AL_API const al_detector_ops al_detector_address = {"address", names_load, address_scan,
                                                    names_free};

/* engine.c: runs the loaded rules over a text and turns matches into
 * findings, a score, a verdict and scrubbed text.  Pure and thread-safe: all
 * mutable state lives in the per-scan matcher; never prints matched text. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SC_AVX2 1 /* find_hits' start-class loop has an AVX2 form, taken when the CPU has it */
#endif

#include "mention.h"
#include "normalize.h"
#include "rules.h"

__attribute__((weak)) double al_model_score(const al_model *m, const char *text, size_t len);
__attribute__((weak)) double al_model_score_normalized(const al_model *m, const char *text,
                                                       size_t len, const char *norm, size_t nlen);
__attribute__((weak)) double al_model_combine(const al_model *m, double rules_score, double p,
                                              double threshold);
__attribute__((weak)) void al_model_thresholds(const al_model *m, double *block, double *assist);

#define DET_MARGIN 16 /* a detector span this close to the end may still grow */

void al_policy_default(al_policy *p)
{
    memset(p, 0, sizeof *p);
    p->prompt[AL_CAT_INJECTION] = AL_ACT_BLOCK;
    p->prompt[AL_CAT_JAILBREAK] = AL_ACT_BLOCK;
    p->prompt[AL_CAT_SECRET] = AL_ACT_REDACT;
    p->prompt[AL_CAT_PII] = AL_ACT_FLAG;
    p->prompt[AL_CAT_SANITIZE] = AL_ACT_REDACT;
    p->prompt[AL_CAT_UNSAFE_OUTPUT] = AL_ACT_ALLOW;
    p->completion[AL_CAT_INJECTION] = AL_ACT_ALLOW;
    p->completion[AL_CAT_JAILBREAK] = AL_ACT_ALLOW;
    p->completion[AL_CAT_SECRET] = AL_ACT_REDACT;
    p->completion[AL_CAT_PII] = AL_ACT_REDACT;
    p->completion[AL_CAT_SANITIZE] = AL_ACT_ALLOW;
    p->completion[AL_CAT_UNSAFE_OUTPUT] = AL_ACT_FLAG;
    p->block_threshold = 1.0;
    p->model_threshold = 0.0;
    p->max_prompt_bytes = 4u << 20; /* as the shim: a prompt up to 4 MiB is screened whole */
    p->placeholder_fmt = NULL;
}

al_code al_engine_new(const char *path, al_engine **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen) err[0] = '\0';
    al_engine *e = al_engine_alloc();
    if (!e) {
        if (err && errlen) snprintf(err, errlen, "%s: -: out of memory", path ? path : "(rules)");
        return AL_ENOMEM;
    }
    al_rules_errs errs = {0};
    al_code c = al_rules_load_path(e, path, &errs);
    if (c == AL_OK && errs.count == 0 && e->n == 0) {
        al_rules_err(&errs, path, NULL, "no rules");
        c = AL_ERULES;
    }
    if (c == AL_OK && errs.count == 0) c = al_rules_finish(e, &errs);
    if (c == AL_OK && errs.count) c = AL_ERULES;
    if (c != AL_OK) {
        if (err && errlen) {
            const char *m = errs.msgs.data ? errs.msgs.data : al_strerror(c);
            size_t l = strcspn(m, "\n");
            snprintf(err, errlen, "%.*s", (int)l, m);
        }
        al_buf_free(&errs.msgs);
        al_engine_free(e);
        return c;
    }
    al_buf_free(&errs.msgs);
    *out = e;
    return AL_OK;
}

/* ---- default rules directory ---- */

static char default_rules[4096];
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Path of the object (the .so or the executable) holding this code, found
 * in /proc/self/maps, so the shim and the CLI both find rules/ beside them. */
static int self_object(char *buf, size_t len)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f) return -1;
    uintptr_t me = (uintptr_t)&self_object;
    char line[4600];
    int found = -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        int off = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &off) < 2 || !off) continue;
        if (me < lo || me >= hi) continue;
        char *path = line + off;
        path[strcspn(path, "\n")] = '\0';
        if (path[0] == '/') {
            snprintf(buf, len, "%s", path);
            found = 0;
        }
        break;
    }
    fclose(f);
    return found;
}

static void find_default_rules(void)
{
    const char *env = getenv("AIRLOCK_RULES");
    if (env && *env && strlen(env) < sizeof default_rules) {
        memcpy(default_rules, env, strlen(env) + 1);
        return;
    }
    char obj[4096];
    if (self_object(obj, sizeof obj) == 0) {
        char *slash = strrchr(obj, '/');
        if (slash) {
            *slash = '\0';
            if (snprintf(default_rules, sizeof default_rules, "%s/../rules", obj) <
                    (int)sizeof default_rules &&
                is_dir(default_rules))
                return;
        }
    }
#ifdef AL_PREFIX
    snprintf(default_rules, sizeof default_rules, "%s/share/airlock/rules", AL_PREFIX);
#else
    snprintf(default_rules, sizeof default_rules, "/usr/local/share/airlock/rules");
#endif
}

const char *al_engine_default_rules(void)
{
    pthread_once(&default_once, find_default_rules);
    return default_rules;
}

/* ---- matcher ---- */

al_code al_matcher_init(al_matcher *m, const al_engine *e)
{
    memset(m, 0, sizeof *m);
    m->e = e;
    m->md = pcre2_match_data_create(e->max_caps + 1, NULL);
    m->mctx = e->mctx ? pcre2_match_context_copy(e->mctx) : pcre2_match_context_create(NULL);
    if (!m->md || !m->mctx) {
        al_matcher_free(m);
        return AL_ENOMEM;
    }
    return AL_OK;
}

void al_matcher_free(al_matcher *m)
{
    free(m->h_pos);
    free(m->h_beg);
    free(m->h_cnt);
    free(m->h_used);
    free(m->h_rule);
    free(m->h_tpos);
    free(m->h_req);
    free(m->t_cand);
    free(m->t_kind);
    free(m->t_win);
    al_spans_free(&m->d_spans);
    free(m->f_run);
    for (int k = 0; k < 4; k++) free(m->a_act[k]);
    if (m->md) pcre2_match_data_free(m->md);
    if (m->mctx) pcre2_match_context_free(m->mctx);
    if (m->stack) pcre2_jit_stack_free(m->stack);
    memset(m, 0, sizeof *m);
}

void al_matcher_stream_reset(al_matcher *m)
{
    m->limit_hit = 0;
    if (m->t_ready) m->t_kind[8 * ((m->e->n + 63) / 64) + 1] = 0; /* resume_real's key */
    m->ks_key = NULL;                                             /* stream_ks's */
}

/* The matcher of the last whole-text scan on this thread, kept for the next
 * scan of the same engine: match data, match context and JIT stack are then
 * allocated once per thread, not once per scan.  busy: a scan holds it. */
typedef struct {
    uint64_t serial; /* engine it was made for; 0: none */
    int busy;
    al_matcher m;
} matcher_cache;
static __thread matcher_cache mcache;
static pthread_key_t mcache_key;
static pthread_once_t mcache_once = PTHREAD_ONCE_INIT;

/* Frees a finished thread's matcher (pthread key destructor). */
static void mcache_release(void *p)
{
    matcher_cache *c = p;
    al_matcher_free(&c->m);
    c->serial = 0;
}

static void mcache_key_init(void)
{
    (void)pthread_key_create(&mcache_key, mcache_release);
}

/* A matcher for e: this thread's kept one when free, else *local freshly
 * initialised.  NULL on allocation failure.  Give it back with
 * matcher_put. */
static al_matcher *matcher_get(const al_engine *e, al_matcher *local)
{
    matcher_cache *c = &mcache;
    if (c->busy || !e->serial) return al_matcher_init(local, e) == AL_OK ? local : NULL;
    if (c->serial != e->serial) {
        al_matcher_free(&c->m);
        c->serial = 0;
        if (al_matcher_init(&c->m, e) != AL_OK) return NULL;
        pthread_once(&mcache_once, mcache_key_init);
        (void)pthread_setspecific(mcache_key, c);
        c->serial = e->serial;
    }
    c->busy = 1;
    c->m.limit_hit = 0;
    return &c->m;
}

static void matcher_put(al_matcher *m)
{
    if (m == &mcache.m)
        mcache.busy = 0;
    else
        al_matcher_free(m);
}

/* The code to match rule r with in hard partial mode (partial) or complete
 * mode: its JIT-compiled copy for that mode, made at the first attempt in
 * it.  A whole-text scan asks hard partial mode alone (match_near), so
 * most rules are compiled for one mode, not two.  Lock-free (a lock held
 * across fork would hang a forked host): threads racing on a rule's first
 * use each compile a copy, one is published, the others are freed.  JIT
 * failure is not an error: the copy then runs in the interpreter, as does
 * the original when even the copy cannot be made. */
static const pcre2_code *jit_code(const al_rule *r, int partial)
{
    /* engines live on the heap, never in const memory */
    pcre2_code **slot = (pcre2_code **)(partial ? &r->jitp : &r->jit);
    pcre2_code *c = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (c) return c;
    pcre2_code *copy = pcre2_code_copy(r->re);
    if (!copy) return r->re;
    (void)pcre2_jit_compile(copy, partial ? PCRE2_JIT_PARTIAL_HARD : PCRE2_JIT_COMPLETE);
    pcre2_code *expected = NULL;
    if (__atomic_compare_exchange_n(slot, &expected, copy, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return copy;
    pcre2_code_free(copy);
    return expected;
}

static size_t valid_seq(const unsigned char *t, size_t len, size_t q);

/* 1 when s[0, len) is valid UTF-8 throughout, 0 when not. */
static int utf8_whole(const char *s, size_t len)
{
    const unsigned char *t = (const unsigned char *)s;
    for (size_t q = al_ascii_end(s, len); q < len;) {
        if (t[q] < 0x80) {
            q += al_ascii_end(s + q, len - q);
            continue;
        }
        size_t n = valid_seq(t, len, q);
        if (!n) return 0;
        q += n;
    }
    return 1;
}

/* The code for a whole-text attempt of rule r in hard partial mode
 * (match_near): its first JIT_AFTER such attempts run in the interpreter
 * (r->re, which pcre2_jit_match refuses and do_match interprets), the
 * next one makes its JIT code.  Compiling a rule costs ~0.9 million
 * instructions on average, an interpreted attempt a few thousand: most
 * rules a text wakes are tried a few times in a process and never pay for
 * the JIT (the first 4 KB prompt a process screens: 5.9 M instructions of
 * JIT code before), while those tried hundreds of times pay it early.
 * Only on a subject that is valid UTF-8 throughout: around invalid bytes
 * the two matchers of PCRE2 10.42 disagree (with PCRE2_MATCH_INVALID_UTF,
 * the JIT finds "\xffN...\xc3G"'s Discord token, the interpreter does
 * not), and the JIT is what scans have always used.  m->utf_ok caches the
 * check for the subject of the current rules_run (-1: not made yet). */
#define JIT_AFTER 8
static const pcre2_code *near_code(al_matcher *m, const al_rule *r, const al_subject *sub)
{
    pcre2_code *c = __atomic_load_n(&r->jitp, __ATOMIC_ACQUIRE);
    if (c) return c;
    if (__atomic_load_n(&r->tries, __ATOMIC_RELAXED) < JIT_AFTER) {
        if (m->utf_ok < 0) m->utf_ok = utf8_whole(sub->s, sub->len);
        if (m->utf_ok) {
            (void)__atomic_add_fetch((unsigned *)&r->tries, 1, __ATOMIC_RELAXED);
            return r->re;
        }
    }
    return jit_code(r, 1);
}

/* One match attempt with the matcher's limits; grows the JIT stack once. */
static int do_match(al_matcher *m, const pcre2_code *re, const char *s, size_t len, size_t from,
                    uint32_t opts)
{
    /* JIT code straight away (what pcre2_match calls after its checks);
     * a rule the JIT could not compile answers BADOPTION and is
     * interpreted */
    int rc = pcre2_jit_match(re, (PCRE2_SPTR)s, len, from, opts, m->md, m->mctx);
    if (rc == PCRE2_ERROR_JIT_BADOPTION)
        rc = pcre2_match(re, (PCRE2_SPTR)s, len, from, opts | PCRE2_NO_UTF_CHECK, m->md, m->mctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !m->stack) {
        m->stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
        if (m->stack) {
            pcre2_jit_stack_assign(m->mctx, NULL, m->stack);
            rc = pcre2_match(re, (PCRE2_SPTR)s, len, from, opts | PCRE2_NO_UTF_CHECK, m->md,
                             m->mctx);
        }
    }
    return rc;
}

static al_code cands_push(al_cands *c, size_t start, size_t end, size_t mend, uint32_t rule, int ok)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        al_cand *v = realloc(c->v, cap * sizeof *v);
        if (!v) return AL_ENOMEM;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = (al_cand){start, end, mend, rule, ok};
    return AL_OK;
}

static inline int is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* 1 when one of the rule's context words occurs (caseless, whole word)
 * within its window around [start, end) of text. */
static int has_context(const al_rule *r, const char *text, size_t len, size_t start, size_t end)
{
    size_t lo = start > r->ctx_window ? start - r->ctx_window : 0;
    size_t hi = end + r->ctx_window < len ? end + r->ctx_window : len;
    const unsigned char *t = (const unsigned char *)text;
    for (size_t i = lo; i < hi; i++) {
        if (!(r->ctxfirst[t[i] >> 3] & (1u << (t[i] & 7)))) continue;
        if (i > 0 && is_word(t[i - 1]) && is_word(t[i])) continue; /* not a word start */
        const unsigned char c = lower(t[i]); /* the words that begin with it */
        for (size_t w = r->ctxbeg[c], we = r->ctxbeg[c + 1]; w < we; w++) {
            size_t wl = r->ctxlen[w];
            if (i + wl > hi) continue;
            const unsigned char *cw = (const unsigned char *)r->ctx[w];
            size_t k = 0;
            while (k < wl && lower(t[i + k]) == cw[k]) k++;
            if (k < wl) continue;
            if (i + wl < len && is_word(t[i + wl]) && is_word(cw[wl - 1])) continue;
            return 1;
        }
    }
    return 0;
}

/* Orig offset of subject byte i (maps normalised offsets back). */
static inline size_t to_orig(const al_subject *sub, size_t i)
{
    return sub->map ? al_nmap_orig(sub->map, i) : i;
}

/* Orig end offset for a subject end offset e > start (covers the whole
 * character that produced subject byte e-1). */
static size_t to_orig_end(const al_subject *sub, size_t e)
{
    if (!sub->map || e == 0) return e;
    size_t p = al_nmap_orig(sub->map, e - 1), lim = al_nmap_orig(sub->map, e);
    const unsigned char *t = (const unsigned char *)sub->orig;
    if (p >= sub->orig_len) return sub->orig_len;
    size_t n = t[p] < 0x80 ? 1 : t[p] >= 0xF0 ? 4 : t[p] >= 0xE0 ? 3 : t[p] >= 0xC0 ? 2 : 1;
    size_t q = p + n;
    /* a character the text spells as a JSON escape ends where the escape does */
    if (t[p] == '\\' || t[p] == 0xEF) {
        size_t x = al_escape_end(sub->orig, sub->orig_len, p);
        if (x) q = x;
    }
    if (q > lim && lim > p) q = lim;
    return q > sub->orig_len ? sub->orig_len : q;
}

/* Decides whether a match [s, e) of rule r is a finding. */
static int accept_match(const al_rule *r, const al_subject *sub, size_t vs, size_t ve, size_t os,
                        size_t oe, double conf)
{
    if (r->validator && !r->validator(sub->s + vs, ve - vs)) return 0;
    if (conf >= 0.5) return 1;
    if (r->nctx && conf + r->ctx_boost >= 0.5 && has_context(r, sub->orig, sub->orig_len, os, oe))
        return 1;
    return 0;
}

static inline size_t next_char(const char *s, size_t len, size_t i)
{
    i++;
    while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
    return i;
}

/* Offsets where a rule's prefixes occur.  The arrays are the matcher's,
 * kept from scan to scan (a stream pass, or the next whole-text scan on this
 * thread, allocates nothing): find_hits fills them, hits_done clears what it
 * set, so cnt[] and req_seen[] are all zero between scans. */
typedef struct {
    al_matcher *m;  /* owner of the arrays */
    size_t *pos;    /* all hits, grouped by rule */
    size_t *beg;    /* per rule with hits: index of its first hit in pos (else stale) */
    uint32_t *cnt;  /* per rule: number of its hits */
    uint32_t *used; /* the rules with hits, nused of them */
    size_t nused;
    uint32_t *rule; /* scratch: rule of each hit in text order */
    size_t *tpos;   /* scratch: offset of each hit in text order */
    size_t n, cap;
    int enomem;
    const unsigned char *active; /* rules to collect hits for (NULL: all) */
    uint32_t nrules;             /* the literal scan reports required literal k as nrules + k */
    unsigned char *req_seen;     /* per required literal: 1 when the text holds it */
    int any_req;                 /* req_seen has an entry set */
    uint64_t sc_hit;             /* the start-class rules (by their bit in e->sc_mask) with a hit */
    size_t sc_zero; /* no byte from here to the end is in e->sc_mask (SIZE_MAX: not known) */
} hits;

/* The index range in h->pos of rule ri's hits. */
static inline size_t hit_lo(const hits *h, uint32_t ri)
{
    return h->cnt[ri] ? h->beg[ri] : 0;
}

static inline size_t hit_hi(const hits *h, uint32_t ri)
{
    return h->cnt[ri] ? h->beg[ri] + h->cnt[ri] : 0;
}

static int on_hit(void *ud, uint32_t rule, size_t p)
{
    hits *h = ud;
    if (rule >= h->nrules) {
        h->req_seen[rule - h->nrules] = 1;
        h->any_req = 1;
        return 0;
    }
    if (h->active && !h->active[rule]) return 0;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        uint32_t *r = realloc(h->rule, cap * sizeof *r);
        if (r) h->rule = r;
        size_t *t = r ? realloc(h->tpos, cap * sizeof *t) : NULL;
        if (t) h->tpos = t;
        size_t *q = t ? realloc(h->pos, cap * sizeof *q) : NULL;
        if (!q) {
            h->enomem = 1;
            return 1;
        }
        h->pos = q;
        h->cap = cap;
    }
    h->rule[h->n] = rule;
    h->tpos[h->n++] = p;
    return 0;
}

/* Hands h's arrays back to its matcher, the per-rule counts and the
 * required literals seen cleared (only the entries this scan set); a very
 * large hit list is freed rather than kept. */
static void hits_done(hits *h)
{
    al_matcher *m = h->m;
    if (!m) return;
    for (size_t k = 0; k < h->nused; k++) h->cnt[h->used[k]] = 0;
    if (h->req_seen && h->any_req) memset(h->req_seen, 0, m->e->n_req ? m->e->n_req : 1);
    if (h->cap > 65536) {
        free(h->rule);
        free(h->tpos);
        free(h->pos);
        h->rule = NULL;
        h->tpos = h->pos = NULL;
        h->cap = 0;
    }
    m->h_rule = h->rule;
    m->h_tpos = h->tpos;
    m->h_pos = h->pos;
    m->h_cap = h->cap;
    h->m = NULL; /* (done: a second call does nothing) */
}

/* 1 when s[0..n) begins with bytes of pf->seq's classes, one each (a
 * complete match of a start-class rule with leading classes fits there). */
static int seq_at(const al_prefilter *pf, const unsigned char *s, size_t n)
{
    if (n < pf->nseq) return 0;
    for (size_t k = 1; k < pf->nseq; k++) /* seq[0] is in first[] already */
        if (!(pf->seq[k][s[k] >> 3] & (1u << (s[k] & 7)))) return 0;
    return 1;
}

/* 0 when no match of pf's rule can start at s[p]: the text is too short
 * there, or one of the bytes after p is not one its shape allows. */
static inline int shape_fits(const al_prefilter *pf, const char *s, size_t len, size_t p)
{
    if (len - p < pf->nshape) return 0;
    const unsigned char *t = (const unsigned char *)s + p;
    for (size_t k = 0; k < pf->nshape; k++)
        if (!(pf->shape[k][t[k] >> 3] & (1u << (t[k] & 7)))) return 0;
    return 1;
}

/* 0 when no match of pf's rule can start at s[p]: it is a digit, and the
 * pf->dspan bytes from there (or the rest of the text) hold fewer digits
 * than every such match does. */
static inline int digits_fit(const al_prefilter *pf, const char *s, size_t len, size_t p)
{
    const unsigned char *t = (const unsigned char *)s;
    if ((unsigned)(t[p] - '0') > 9u) return 1;
    const size_t end = len - p > pf->dspan ? p + pf->dspan : len;
    size_t n = 0, i = p;
#ifdef __SSE2__
    /* 16 bytes at a time: '0'..'9' moved to the 10 lowest signed bytes */
    const __m128i shift = _mm_set1_epi8(0x50), ten = _mm_set1_epi8((char)0x8a);
    for (; i + 16 <= end; i += 16) {
        const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(t + i));
        n += (size_t)__builtin_popcount(
            (unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(_mm_add_epi8(x, shift), ten)));
        if (n >= pf->dmin) return 1;
    }
#endif
    for (; i < end; i++)
        if ((unsigned)(t[i] - '0') <= 9u && ++n >= pf->dmin) return 1;
    return 0;
}

/* The start-class rules that may begin at t[i] (m: e->sc_mask[t[i]], not
 * 0), but those whose lookbehind refuses the byte before or whose leading
 * classes or shape do not fit there: a hit each.  1 on allocation failure. */
static inline __attribute__((always_inline)) int sc_hits_at(const al_engine *e,
                                                            const al_subject *sub, hits *h,
                                                            const unsigned char *t, size_t len,
                                                            size_t from, size_t i, uint64_t m)
{
    if (i > 0) m &= ~e->sc_np[t[i - 1]];
    for (; m; m &= m - 1) {
        uint32_t ri = e->sc_rules[__builtin_ctzll(m)];
        const al_prefilter *pf = &e->rules[ri].pf;
        if (pf->nseq && !seq_at(pf, t + i, len - i)) continue;
        /* whole text: no hit where the match could not go on (a
         * stream's text may still grow) */
        if (!sub->partial && pf->nshape && !shape_fits(pf, sub->s, sub->len, i)) continue;
        if (!sub->partial && pf->dmin && !digits_fit(pf, sub->s, sub->len, i)) continue;
        h->sc_hit |= m & -m;
        if (on_hit(h, ri, i - from)) return 1;
    }
    return 0;
}

#ifdef SC_AVX2
/* The bytes of e->sc_mask (those some start-class rule may begin with) as
 * two 16-byte tables by low nibble: bit h of lo[l] when byte h << 4 | l is
 * one (h < 8), of hi[l] when (h + 8) << 4 | l is.  Made once per engine on
 * each thread (keyed by its serial); avx2: the CPU has AVX2 (-1: not known). */
static __thread struct {
    uint64_t serial;
    uint8_t lo[16], hi[16];
} sc_lut;
static int sc_avx2 = -1;

/* For tests: whether find_hits may take its AVX2 start-class loop (on: only
 * when the CPU has AVX2, BMI1 and BMI2); returns whether it will. */
int al_engine_sc_simd(int on)
{
    const int v = on && al_cpu_avx2_bmi();
    __atomic_store_n(&sc_avx2, v, __ATOMIC_RELAXED);
    return v;
}

/* Bit j set when t[j] is one of the bytes of lo/hi (as sc_lut), j < 32. */
static inline __attribute__((always_inline, target("avx2"))) uint32_t
sc_block_avx2(__m256i lo, __m256i hi, const unsigned char *t)
{
    const __m256i bit =
        _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16,
                         32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
    const __m256i nib = _mm256_set1_epi8(0x0f);
    const __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)t);
    const __m256i ln = _mm256_and_si256(x, nib),
                  hn = _mm256_and_si256(_mm256_srli_epi16(x, 4), nib);
    /* a byte's row: lo's for bytes below 0x80, hi's for the others */
    const __m256i row =
        _mm256_blendv_epi8(_mm256_shuffle_epi8(lo, ln), _mm256_shuffle_epi8(hi, ln), x);
    const __m256i in = _mm256_and_si256(row, _mm256_shuffle_epi8(bit, hn));
    return ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(in, _mm256_setzero_si256()));
}

/* find_hits' start-class loop over t[i..len) 32 bytes at a time, the last
 * few from a copy: sc_hits_at at each byte of e->sc_mask, in order, *nz past
 * the last such byte.  Returns len, or SIZE_MAX on allocation failure. */
static __attribute__((target("avx2"))) size_t sc_scan_avx2(const al_engine *e,
                                                           const al_subject *sub, hits *h,
                                                           const unsigned char *t, size_t len,
                                                           size_t from, size_t i, size_t *nz)
{
    if (sc_lut.serial != e->serial) {
        memset(sc_lut.lo, 0, sizeof sc_lut.lo);
        memset(sc_lut.hi, 0, sizeof sc_lut.hi);
        for (unsigned c = 0; c < 256; c++)
            if (e->sc_mask[c]) {
                if (c < 128)
                    sc_lut.lo[c & 15] |= (uint8_t)(1u << (c >> 4));
                else
                    sc_lut.hi[c & 15] |= (uint8_t)(1u << ((c >> 4) - 8));
            }
        sc_lut.serial = e->serial;
    }
    const __m256i lo = _mm256_broadcastsi128_si256(
                      _mm_loadu_si128((const __m128i *)(const void *)sc_lut.lo)),
                  hi = _mm256_broadcastsi128_si256(
                      _mm_loadu_si128((const __m128i *)(const void *)sc_lut.hi));
    for (; i + 32 <= len; i += 32) {
        for (uint32_t b = sc_block_avx2(lo, hi, t + i); b; b &= b - 1) {
            const size_t p = i + (size_t)__builtin_ctz(b);
            *nz = p + 1;
            if (sc_hits_at(e, sub, h, t, len, from, p, e->sc_mask[t[p]])) return SIZE_MAX;
        }
    }
    if (i < len) { /* the last 1-31 bytes: one block from a copy, its bits past len cleared */
        unsigned char pad[32] = {0};
        memcpy(pad, t + i, len - i);
        uint32_t b = sc_block_avx2(lo, hi, pad) & ((1u << (len - i)) - 1);
        for (; b; b &= b - 1) {
            const size_t p = i + (size_t)__builtin_ctz(b);
            *nz = p + 1;
            if (sc_hits_at(e, sub, h, t, len, from, p, e->sc_mask[t[p]])) return SIZE_MAX;
        }
        i = len;
    }
    return i;
}
#endif

/* One pass over the subject from offset from (sub->from, or lower: see
 * hits_from) for every rule's prefixes, then the hits grouped by rule
 * (each group in text order). */
static al_code find_hits(al_matcher *m, const al_subject *sub, size_t from, int table, hits *h)
{
    const al_engine *e = m->e;
    size_t nr = e->n ? e->n : 1;
    if (!m->h_cnt) {
        m->h_cnt = calloc(nr, sizeof *m->h_cnt);
        m->h_beg = malloc(nr * sizeof *m->h_beg);
        m->h_used = malloc(nr * sizeof *m->h_used);
        m->h_req = calloc(e->n_req ? e->n_req : 1, 1);
        if (!m->h_cnt || !m->h_beg || !m->h_used || !m->h_req) {
            free(m->h_cnt);
            free(m->h_beg);
            free(m->h_used);
            free(m->h_req);
            m->h_cnt = NULL;
            m->h_beg = NULL;
            m->h_used = NULL;
            m->h_req = NULL;
            return AL_ENOMEM;
        }
    }
    *h = (hits){.m = m,
                .pos = m->h_pos,
                .beg = m->h_beg,
                .cnt = m->h_cnt,
                .used = m->h_used,
                .rule = m->h_rule,
                .tpos = m->h_tpos,
                .cap = m->h_cap,
                .active = sub->active,
                .nrules = (uint32_t)e->n,
                .req_seen = m->h_req,
                .sc_zero = SIZE_MAX};
    al_litset_scan(e->lits, table, sub->s + from, sub->len - from, on_hit, h);
    if (e->n_sc && !sub->normalized) {
        /* start-class rules (number-like values): offsets holding one of
         * their first bytes, not preceded by a byte their lookbehind refuses */
        const unsigned char *t = (const unsigned char *)sub->s;
        const uint64_t *mask = e->sc_mask;
        const size_t len = e->n_sc <= 64 ? sub->len : 0; /* else the loop below */
        size_t each = 0;  /* bytes before this are looked at one by one */
        size_t nz = from; /* past the last byte seen in mask */
        size_t i0 = from; /* where the loop below starts */
#ifdef SC_AVX2
        int avx2 = __atomic_load_n(&sc_avx2, __ATOMIC_RELAXED);
        if (avx2 < 0) { /* (every thread finds the same) */
            avx2 = al_cpu_avx2_bmi();
            __atomic_store_n(&sc_avx2, avx2, __ATOMIC_RELAXED);
        }
        if (avx2 && len > from &&
            (i0 = sc_scan_avx2(e, sub, h, t, len, from, from, &nz)) == SIZE_MAX)
            return AL_ENOMEM;
#endif
        for (size_t i = i0; i < len; i++) {
            /* one test rules out eight bytes none of which may begin a
             * match (most of them); eight that fail it are looked at one
             * by one, a table lookup each */
            if (i >= each) {
                while (len - i >= 8 &&
                       !(mask[t[i]] | mask[t[i + 1]] | mask[t[i + 2]] | mask[t[i + 3]] |
                         mask[t[i + 4]] | mask[t[i + 5]] | mask[t[i + 6]] | mask[t[i + 7]]))
                    i += 8;
                if (i >= len) break;
                each = i + 8;
            }
            uint64_t m = mask[t[i]];
            if (!m) continue;
            nz = i + 1;
            if (sc_hits_at(e, sub, h, t, len, from, i, m)) return AL_ENOMEM;
        }
        if (len) h->sc_zero = nz;
        for (size_t i = from; e->n_sc > 64 && i < sub->len && !h->enomem; i++) {
            unsigned char c = t[i];
            if (!(e->sc_first[c >> 3] & (1u << (c & 7)))) continue;
            for (size_t k = 0; k < e->n_sc; k++) {
                const al_prefilter *pf = &e->rules[e->sc_rules[k]].pf;
                if (!(pf->first[c >> 3] & (1u << (c & 7)))) continue;
                if (i > 0 && (pf->notprev[t[i - 1] >> 3] & (1u << (t[i - 1] & 7)))) continue;
                if (pf->nseq && !seq_at(pf, t + i, sub->len - i)) continue;
                on_hit(h, e->sc_rules[k], i - from);
            }
        }
    }
    if (h->enomem) return AL_ENOMEM;
    /* grouped by rule, each group in text order: count, place the groups in
     * the order their rules first hit, then fill them */
    for (size_t i = 0; i < h->n; i++)
        if (h->cnt[h->rule[i]]++ == 0) h->used[h->nused++] = h->rule[i];
    size_t off = 0;
    for (size_t k = 0; k < h->nused; k++) {
        h->beg[h->used[k]] = off;
        off += h->cnt[h->used[k]];
    }
    for (size_t i = 0; i < h->n; i++) h->pos[h->beg[h->rule[i]]++] = h->tpos[i] + from;
    for (size_t k = 0; k < h->nused; k++) h->beg[h->used[k]] -= h->cnt[h->used[k]];
    return AL_OK;
}

/* Handles one complete match in m->md: appends the candidate.  Returns 1 to
 * stop scanning this rule (a stream must wait for more text), 0 to go on,
 * -1 on allocation failure; *next receives where the rule resumes. */
static int take_match(al_matcher *m, const al_subject *sub, uint32_t ri, int rc, al_cands *out,
                      size_t *hold, size_t *next)
{
    const al_rule *r = &m->e->rules[ri];
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
    size_t ms = ov[0], me = ov[1];
    size_t vs = ms, ve = me;
    if (r->value_group && (uint32_t)rc > (uint32_t)r->value_group &&
        ov[2 * r->value_group] != PCRE2_UNSET) {
        vs = ov[2 * r->value_group];
        ve = ov[2 * r->value_group + 1];
    }
    *next = me > ms ? me : next_char(sub->s, sub->len, me);
    if (ve <= vs) return 0;
    size_t os = to_orig(sub, vs), oe = to_orig_end(sub, ve);
    if (sub->partial && r->nctx && oe + r->ctx_window > sub->orig_len) {
        /* the context after the match has not arrived yet */
        size_t h = to_orig(sub, ms);
        if (h < *hold) *hold = h;
        return 1;
    }
    int ok = accept_match(r, sub, vs, ve, os, oe, r->confidence);
    if (ok || sub->keep_rejected) {
        if (cands_push(out, os, oe, to_orig_end(sub, me > ms ? me : ve), ri, ok) != AL_OK)
            return -1;
    }
    return 0;
}

/* do_match() with the offset limit set to limit for this one attempt. */
static int match_limited(al_matcher *m, const pcre2_code *re, const char *s, size_t len,
                         size_t from, size_t limit, uint32_t opts)
{
    pcre2_set_offset_limit(m->mctx, limit);
    int rc = do_match(m, re, s, len, from, opts);
    pcre2_set_offset_limit(m->mctx, PCRE2_UNSET);
    return rc;
}

/* A whole-text attempt of rule r at offset p (anchored there by the offset
 * limit when limit is set) that looks at no more text than it needs: the
 * subject is cut a little past p, with hard partial matching; a complete
 * match or a failure that never reached the cut is exactly what the whole
 * subject gives, and an attempt that reached the cut is retried on a
 * longer cut, finally on the whole text.  So a text with many hits of a
 * prefix costs work per hit bounded by the match, not by the rest of the
 * text.  The whole text too is tried in hard partial mode, and only an
 * attempt that reached its end is asked again in complete mode (with the
 * rule's complete-mode code when some scan made it, else interpreted), so
 * that the rule needs no JIT code for complete mode. */
#define ENDS_JIT 8 /* interpreted attempts at a text's end before a rule's complete-mode JIT */
static int match_near(al_matcher *m, const al_rule *r, const al_subject *sub, size_t p,
                      size_t limit)
{
    static const size_t cut[] = {1024, 65536};
    const pcre2_code *re = near_code(m, r, sub);
    for (size_t k = 0; k < sizeof cut / sizeof cut[0]; k++) {
        if (sub->len - p <= cut[k]) break;
        int rc = match_limited(m, re, sub->s, p + cut[k], p, limit, PCRE2_PARTIAL_HARD);
        if (rc != PCRE2_ERROR_PARTIAL) return rc;
    }
    int rc = match_limited(m, re, sub->s, sub->len, p, limit, PCRE2_PARTIAL_HARD);
    if (rc != PCRE2_ERROR_PARTIAL) return rc;
    /* a rule that keeps reaching the ends of texts gets its complete-mode
     * code after all: the interpreter costs it tens of thousands of
     * instructions an attempt */
    const pcre2_code *c = __atomic_load_n(&r->jit, __ATOMIC_ACQUIRE);
    if (!c && __atomic_add_fetch((unsigned *)&r->ends, 1, __ATOMIC_RELAXED) >= ENDS_JIT)
        c = jit_code(r, 0);
    return match_limited(m, c ? c : r->re, sub->s, sub->len, p, limit, 0);
}

/* Rule ri's first start offset in sub as the caller keeps it (0: none). */
static inline size_t rule_from(const al_subject *sub, uint32_t ri)
{
    if (sub->resume)
        return sub->resume[ri] > sub->resume_base ? sub->resume[ri] - sub->resume_base : 0;
    return sub->rule_from ? sub->rule_from[ri] : 0;
}

/* Stream mode: no match of rule ri starts in [its first start offset, k)
 * however the text goes on. */
static inline void mark_scanned(const al_subject *sub, uint32_t ri, size_t k)
{
    if (sub->resume && sub->resume_base + k > sub->resume[ri])
        sub->resume[ri] = sub->resume_base + k;
}

/* Where rule ri resumes in sub: its own resume point when past sub->from. */
static size_t resume_at(const al_subject *sub, uint32_t ri)
{
    size_t f = rule_from(sub, ri);
    return f > sub->from ? f : sub->from;
}

/* Tries rule ri anchored at each of its prefix hits only. */
static al_code run_anchored(al_matcher *m, const al_subject *sub, uint32_t ri, const hits *h,
                            al_cands *out, size_t *hold)
{
    const al_rule *r = &m->e->rules[ri];
    size_t pos = resume_at(sub, ri);
    for (size_t k = hit_lo(h, ri), lo = k, hi = hit_hi(h, ri); k < hi; k++) {
        size_t p = h->pos[k];
        if (p < pos) continue;
        /* two of the rule's prefixes at one offset: the attempt there failed
         * (a match would have moved pos past it) and would fail again */
        if (k > lo && h->pos[k - 1] == p) continue;
        /* PCRE2 would not start a match at this byte (a case-sensitive
         * rule's prefix found by the caseless literal scan) */
        unsigned char c0 = (unsigned char)sub->s[p];
        if (r->has_start && !(r->start[c0 >> 3] & (1u << (c0 & 7)))) continue;
        /* nor after a byte its leading lookbehind refuses */
        unsigned char cp = p ? (unsigned char)sub->s[p - 1] : 0;
        if (p && r->has_notprev && (r->notprev[cp >> 3] & (1u << (cp & 7)))) continue;
        /* nor where the bytes that follow cannot begin a match */
        if (r->pf.nshape && !shape_fits(&r->pf, sub->s, sub->len, p)) continue;
        /* nor, in a whole text, at a number too short for it */
        if (!sub->partial && r->pf.dmin && !digits_fit(&r->pf, sub->s, sub->len, p)) continue;
        /* anchored at p: JIT ignores a match-time PCRE2_ANCHORED (the
         * interpreter would run instead), but honours the offset limit */
        int rc = match_near(m, r, sub, p, p);
        if (rc == PCRE2_ERROR_NOMATCH) continue;
        if (rc < 0) {
            m->limit_hit = 1;
            break;
        }
        int t = take_match(m, sub, ri, rc, out, hold, &pos);
        if (t < 0) return AL_ENOMEM;
        if (t > 0) break;
    }
    return AL_OK;
}

/* Tries rule ri only near its windowed literal: a match containing the
 * literal at q starts in [q - lead, q]. */
static al_code run_windowed(al_matcher *m, const al_subject *sub, uint32_t ri, const hits *h,
                            al_cands *out, size_t *hold)
{
    const al_rule *r = &m->e->rules[ri];
    size_t pos = resume_at(sub, ri);
    size_t tried = 0; /* starts below this failed already */
    for (size_t k = hit_lo(h, ri), hi = hit_hi(h, ri); k < hi; k++) {
        size_t q = h->pos[k];
        if (q < pos) continue;
        size_t start = q > r->pf.lead ? q - r->pf.lead : 0;
        if (start < pos) start = pos;
        if (start < tried) start = tried;
        while (start <= q) {
            int rc = match_near(m, r, sub, start, q);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                m->limit_hit = 1;
                return AL_OK;
            }
            int t = take_match(m, sub, ri, rc, out, hold, &pos);
            if (t < 0) return AL_ENOMEM;
            if (t > 0) return AL_OK;
            start = pos;
        }
        tried = q + 1;
    }
    return AL_OK;
}

/* Stream mode: the rules looked for from the last bytes of a pass's text
 * (the tail index: prefixed rules whose literals are TAIL_SPAN bytes at most,
 * without a start class, not windowed) and, per kind (raw, normalised),
 * their literals in one sorted table, so that a pass finds at once, for each
 * offset of its tail, the rules one of whose literals begins there and runs
 * past the end.  Made from the engine alone, once per engine on each thread
 * that streams (kept in a thread-local slot, freed at the thread's exit). */
#define TAIL_SPAN 256

typedef struct {
    const unsigned char *s; /* lowercased: the rule's pf.lit[j] */
    uint32_t len;
    uint32_t rule;
    uint32_t wb; /* only at a word start (pf.wb[j]) */
} tail_lit;

typedef struct {
    tail_lit *v; /* sorted bytewise, a literal before the longer ones it begins */
    size_t n;
    uint32_t beg[257];    /* v[beg[c], beg[c + 1]): the literals beginning with byte c */
    uint16_t row[256];    /* where that range is not empty: 1 + its index in one */
    uint64_t *one;        /* per such byte, 2 x W words: the rules with a literal of two
                           * bytes or more beginning with it, then those of them with
                           * such a literal that needs no word start */
    uint32_t (*two)[257]; /* per such byte: v[two[x], two[x + 1]) are its literals
                           * whose second byte is x */
    size_t maxlen;        /* longest literal */
} tail_table;

typedef struct {
    uint64_t serial; /* engine it was made for */
    size_t W;        /* words of a rule bit set */
    uint64_t *done;  /* W words: the rules of the index */
    uint64_t *ks;    /* W words: the rules with a caseless k or s (AL_RK_KS) */
    tail_table t[2]; /* raw, normalised */
    /* the start-class rules (e->sc_rules, 64 at most; else none), by their
     * bit in e->sc_mask: sc_cover[d - 1], d = 1..sc_span, holds those a
     * match running off the end may begin d bytes before it (pf.maxlen >= d) */
    uint64_t sc_all;
    size_t sc_nseg;     /* the distinct pf.maxlen > 0 of those rules, ascending, */
    size_t *sc_end;     /* sc_end[0..sc_nseg), and */
    uint64_t *sc_cover; /* per such length, the rules whose pf.maxlen reaches it */
} tail_index;

static void tail_index_free(tail_index *ti)
{
    if (!ti) return;
    free(ti->done);
    free(ti->sc_end);
    free(ti->sc_cover);
    for (int k = 0; k < 2; k++) {
        free(ti->t[k].v);
        free(ti->t[k].one);
        free(ti->t[k].two);
    }
    free(ti);
}

static int cmp_tail_lit(const void *a, const void *b)
{
    const tail_lit *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    if (x->rule != y->rule) return x->rule < y->rule ? -1 : 1;
    return x->wb < y->wb ? -1 : x->wb > y->wb;
}

static inline int in_index(const al_rule *r)
{
    return !r->det && r->pf.n && !r->pf.startclass && !r->pf.windowed && r->pf.maxlen <= TAIL_SPAN;
}

/* The tail index of e; NULL on allocation failure (free with
 * tail_index_free). */
static tail_index *tail_index_build(const al_engine *e)
{
    size_t W = (e->n + 63) / 64 ? (e->n + 63) / 64 : 1;
    tail_index *ti = calloc(1, sizeof *ti);
    if (!ti) return NULL;
    ti->serial = e->serial;
    ti->W = W;
    ti->done = calloc(2 * W, sizeof *ti->done);
    if (!ti->done) goto fail;
    ti->ks = ti->done + W;
    size_t cnt[2] = {0, 0};
    for (size_t i = 0; i < e->n; i++) {
        const al_rule *r = &e->rules[i];
        if (!in_index(r)) continue;
        ti->done[i >> 6] |= 1ull << (i & 63);
        unsigned k = e->rkind ? e->rkind[i] : (r->pf.ks ? AL_RK_KS : 0);
        if (k & AL_RK_KS) ti->ks[i >> 6] |= 1ull << (i & 63);
        cnt[r->normalized ? 1 : 0] += r->pf.n;
    }
    if (e->n_sc && e->n_sc <= 64 && e->rkind) {
        ti->sc_end = calloc(e->n_sc, sizeof *ti->sc_end);
        ti->sc_cover = calloc(e->n_sc, sizeof *ti->sc_cover);
        if (!ti->sc_end || !ti->sc_cover) goto fail;
        for (size_t k = 0; k < e->n_sc; k++) { /* insertion in order, each length once */
            const size_t ml = e->rules[e->sc_rules[k]].pf.maxlen;
            size_t x = 0;
            while (x < ti->sc_nseg && ti->sc_end[x] < ml) x++;
            if (!ml || (x < ti->sc_nseg && ti->sc_end[x] == ml)) continue;
            memmove(ti->sc_end + x + 1, ti->sc_end + x, (ti->sc_nseg - x) * sizeof *ti->sc_end);
            ti->sc_end[x] = ml;
            ti->sc_nseg++;
        }
        for (size_t x = 0; x < ti->sc_nseg; x++)
            for (size_t k = 0; k < e->n_sc; k++)
                if (e->rules[e->sc_rules[k]].pf.maxlen >= ti->sc_end[x])
                    ti->sc_cover[x] |= 1ull << k;
        ti->sc_all = e->n_sc == 64 ? ~0ull : (1ull << e->n_sc) - 1;
    }
    for (int k = 0; k < 2; k++) {
        tail_table *t = &ti->t[k];
        t->v = malloc((cnt[k] ? cnt[k] : 1) * sizeof *t->v);
        if (!t->v) goto fail;
        for (size_t i = 0; i < e->n; i++) {
            const al_rule *r = &e->rules[i];
            if (!in_index(r) || (r->normalized ? 1 : 0) != k) continue;
            for (size_t j = 0; j < r->pf.n; j++) {
                if (!r->pf.litlen[j]) continue;
                t->v[t->n++] = (tail_lit){.s = (const unsigned char *)r->pf.lit[j],
                                          .len = (uint32_t)r->pf.litlen[j],
                                          .rule = (uint32_t)i,
                                          .wb = r->pf.wb && r->pf.wb[j]};
                if (r->pf.litlen[j] > t->maxlen) t->maxlen = r->pf.litlen[j];
            }
        }
        if (t->n > 1) qsort(t->v, t->n, sizeof *t->v, cmp_tail_lit);
        size_t rows = 0;
        for (size_t x = 0, c = 0; c < 256; c++) {
            t->beg[c] = (uint32_t)x;
            while (x < t->n && t->v[x].s[0] == c) x++;
            if (x > t->beg[c]) t->row[c] = (uint16_t)++rows;
        }
        t->beg[256] = (uint32_t)t->n;
        t->one = calloc((rows ? rows : 1) * 2 * W, sizeof *t->one);
        t->two = malloc((rows ? rows : 1) * sizeof *t->two);
        if (!t->one || !t->two) goto fail;
        for (size_t c = 0; c < 256; c++) {
            if (!t->row[c]) continue;
            uint32_t *two = t->two[t->row[c] - 1], x = t->beg[c];
            while (x < t->beg[c + 1] && t->v[x].len < 2) x++;
            for (size_t y = 0; y < 256; y++) {
                two[y] = x;
                while (x < t->beg[c + 1] && t->v[x].s[1] == y) x++;
            }
            two[256] = x;
        }
        for (size_t x = 0; x < t->n; x++) {
            const tail_lit *l = &t->v[x];
            if (l->len < 2) continue;
            uint64_t *row = t->one + (size_t)(t->row[l->s[0]] - 1) * 2 * W;
            row[l->rule >> 6] |= 1ull << (l->rule & 63);
            if (!l->wb) row[W + (l->rule >> 6)] |= 1ull << (l->rule & 63);
        }
    }
    return ti;
fail:
    tail_index_free(ti);
    return NULL;
}

static __thread tail_index *tindex; /* this thread's tail index */
static pthread_key_t tindex_key;
static pthread_once_t tindex_once = PTHREAD_ONCE_INIT;
static int tindex_keyed;

/* Frees a finished thread's tail index (pthread key destructor). */
static void tindex_release(void *p)
{
    if (tindex == p) tindex = NULL;
    tail_index_free(p);
}

static void tindex_key_init(void)
{
    tindex_keyed = pthread_key_create(&tindex_key, tindex_release) == 0;
}

/* The tail index of e, made on this thread's first stream pass over e (the
 * one kept for another engine is freed).  NULL on allocation failure or for
 * an engine without a serial. */
static const tail_index *tail_index_get(const al_engine *e)
{
    if (tindex && tindex->serial == e->serial) return tindex;
    if (!e->serial) return NULL;
    tail_index *ti = tail_index_build(e);
    if (!ti) return NULL;
    pthread_once(&tindex_once, tindex_key_init);
    tail_index_free(tindex);
    tindex = ti;
    if (tindex_keyed) (void)pthread_setspecific(tindex_key, ti);
    return ti;
}

/* Narrows v[*a, *b), literals that share their first d bytes (and are d
 * bytes long or more), to those whose byte d is x. */
static inline void narrow(const tail_lit *v, uint32_t *a, uint32_t *b, size_t d, unsigned x)
{
    uint32_t lo = *a, hi = *b;
    while (lo < hi) { /* first with byte d >= x (a literal that ends at d is lowest) */
        uint32_t mid = lo + (hi - lo) / 2;
        if (v[mid].len > d && v[mid].s[d] >= x)
            hi = mid;
        else
            lo = mid + 1;
    }
    *a = lo;
    hi = *b;
    while (lo < hi) { /* first with byte d > x */
        uint32_t mid = lo + (hi - lo) / 2;
        if (v[mid].s[d] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    *b = lo;
}

/* A stream pass's tail: the pairs (offset, rule) where one of the rule's
 * literals begins and runs past the end, in offset order. */
#define TAIL_PAIRS 512
typedef struct {
    const tail_index *ti;
    int cand;  /* m->t_cand and the pairs: 1 made for this pass, -1 none, 0 not yet;
                * -2 not made: the whole tail is past defer_from (rules_run) */
    int all;   /* the pairs are every one (else may_start looks for itself) */
    size_t u0; /* cand -2: no literal of the index runs off the end from before u0 */
    size_t n;
    uint32_t at[TAIL_PAIRS], rule[TAIL_PAIRS];
} tail_begins;

/* 1 when one of rule r's literals begins at s[t] and runs past the end of
 * the subject (first byte c, lowercased, already in pf.first). */
static int lit_runs_off(const al_subject *sub, const al_rule *r, size_t t, unsigned char c)
{
    const unsigned char *s = (const unsigned char *)sub->s;
    size_t n = sub->len - t;
    /* as the literal scan decides a word start (\b without UCP: ASCII) */
    int ws = t == 0 || !(is_word(s[t - 1]) && s[t - 1] < 0x80);
    for (size_t j = 0; j < r->pf.n; j++) {
        const unsigned char *l = (const unsigned char *)r->pf.lit[j];
        if (l[0] != c || r->pf.litlen[j] <= n || (r->pf.wb && r->pf.wb[j] && !ws)) continue;
        size_t k = 0;
        while (k < n && lower(s[t + k]) == l[k]) k++;
        if (k == n) return 1;
    }
    return 0;
}

static inline void tail_pair(tail_begins *tb, uint64_t *cand, size_t u, uint32_t ri)
{
    cand[ri >> 6] |= 1ull << (ri & 63);
    if (tb->n == TAIL_PAIRS) {
        tb->all = 0;
        return;
    }
    tb->at[tb->n] = (uint32_t)u;
    tb->rule[tb->n++] = ri;
}

/* The sets a stream pass over the active rules reads (sub->act, else
 * sub->active, else all), made in the matcher at its first pass, with the
 * tail index: m->t_kind, 10 x W + 2 words, holds for the raw then the
 * normalised pass the active rules of the tail index of that kind, those
 * the pass runs at all (detectors in the raw one), and the prefixed ones
 * that read hits (detectors and windowed rules aside), then a pass's rules
 * to visit, and the rules the last raw pass over sub->resume marked scanned
 * to its end without writing their resume points (stream_set, resume_real),
 * that end, and that resume array's address, then m->t_scw's 2 x W words.
 * NULL when the index or the sets cannot be made. */
static __attribute__((noinline)) const tail_index *stream_prep_first(al_matcher *m,
                                                                     const al_subject *sub)
{
    const al_engine *e = m->e;
    const tail_index *ti = tail_index_get(e);
    if (!ti || m->t_ready) return ti;
    const size_t W = ti->W;
    if (!m->t_cand) m->t_cand = calloc(W, sizeof *m->t_cand);
    if (!m->t_kind) m->t_kind = calloc(10 * W + 2, sizeof *m->t_kind);
    if (!m->t_win) m->t_win = malloc((e->n ? e->n : 1) * sizeof *m->t_win);
    if (!m->t_cand || !m->t_kind || !m->t_win) return NULL;
    m->t_scw = m->t_kind + 8 * W + 2; /* (t_kind's last 2 x W words) */
    m->t_nwin = 0;
    size_t n = sub->act ? sub->nact : e->n;
    for (size_t j = 0; j < n; j++) {
        uint32_t i = sub->act ? sub->act[j] : (uint32_t)j;
        if (sub->active && !sub->active[i]) continue;
        const al_rule *r = &e->rules[i];
        const uint64_t bit = 1ull << (i & 63);
        const size_t k = r->det ? 0 : r->normalized ? 1 : 0;
        if (ti->done[i >> 6] & bit) m->t_kind[k * W + (i >> 6)] |= bit;
        m->t_kind[(2 + k) * W + (i >> 6)] |= bit;
        /* (a windowed rule reads no hits in a stream: may_start runs it) */
        if (!r->det && (r->pf.n || r->pf.startclass) && !r->pf.windowed)
            m->t_kind[(4 + k) * W + (i >> 6)] |= bit;
        if (!r->det && !r->normalized && r->pf.n && r->pf.windowed) m->t_win[m->t_nwin++] = i;
        if (m->t_x1 == 0 || (i >> 6) < m->t_x0) m->t_x0 = i >> 6;
        if ((i >> 6) + 1 > m->t_x1) m->t_x1 = (i >> 6) + 1;
    }
    for (size_t k = 0; ti->sc_all && k < e->n_sc; k++) {
        const uint32_t i = e->sc_rules[k];
        const size_t kind = e->rules[i].normalized ? 1 : 0;
        if (!(m->t_kind[(2 + kind) * W + (i >> 6)] >> (i & 63) & 1)) continue;
        m->t_sc[kind] |= 1ull << k;
        if (!kind) m->t_scw[i >> 6] |= 1ull << (i & 63);
        if (e->rkind[i] & AL_RK_KS) m->t_scks |= 1ull << k;
    }
    m->t_ready = 1;
    return ti;
}

static inline const tail_index *stream_prep(al_matcher *m, const al_subject *sub)
{
    if (m->t_ready && tindex && tindex->serial == m->e->serial) return tindex; /* the usual */
    return stream_prep_first(m, sub);
}

/* Fills m->t_cand with the rules of the tail index one of whose literals
 * begins at an offset of the pass from sub->from on and runs past the end
 * (exactly: may_start reads where from tb's pairs).  0 when the index
 * cannot be made. */
static int tail_cands(al_matcher *m, tail_begins *tb, const al_subject *sub)
{
    const tail_index *ti = stream_prep(m, sub);
    if (!ti) return 0;
    const size_t W = ti->W;
    tb->ti = ti;
    tb->n = 0;
    tb->all = 1;
    uint64_t *cand = m->t_cand;
    memset(cand, 0, W * sizeof *cand);
    const tail_table *t = &ti->t[sub->normalized ? 1 : 0];
    const unsigned char *s = (const unsigned char *)sub->s;
    const size_t len = sub->len;
    size_t u = len > t->maxlen ? len - t->maxlen + 1 : 0;
    if (u < sub->from) u = sub->from;
    for (; u < len; u++) {
        const unsigned c = lower(s[u]);
        uint32_t a = t->beg[c], b = t->beg[c + 1];
        if (a == b) continue;
        const size_t n = len - u;
        /* as the literal scan decides a word start (\b without UCP: ASCII) */
        const int ws = u == 0 || !(is_word(s[u - 1]) && s[u - 1] < 0x80);
        if (n == 1) { /* the literals of two bytes or more that begin with c */
            const uint64_t *row = t->one + (size_t)(t->row[c] - 1) * 2 * W + (ws ? 0 : W);
            for (size_t x = 0; x < W; x++)
                for (uint64_t w = row[x]; w; w &= w - 1)
                    tail_pair(tb, cand, u, (uint32_t)(x * 64 + (size_t)__builtin_ctzll(w)));
            continue;
        }
        const uint32_t *two = t->two[t->row[c] - 1];
        const unsigned c1 = lower(s[u + 1]);
        a = two[c1];
        b = two[c1 + 1];
        for (size_t d = 2; d < n && a < b; d++) narrow(t->v, &a, &b, d, lower(s[u + d]));
        while (a < b && t->v[a].len == n) a++; /* ends with the text: does not run past it */
        for (; a < b; a++)
            if (!t->v[a].wb || ws) tail_pair(tb, cand, u, t->v[a].rule);
    }
    return 1;
}

/* Stream mode: 1 when rule r may match from its resume point on: one of
 * its prefixes occurs there, or the text ends in what may be a prefix;
 * then *at is an offset no match starts before (the first such place).
 * -1 (tail not looked at, tb->cand -2): no match starts before *at, which
 * is past defer_from: the rule is left for a later pass. */
static int may_start(al_matcher *m, const al_subject *sub, const al_rule *r, uint32_t ri,
                     const hits *h, const al_litset *m_lits, tail_begins *tb, size_t *at)
{
    size_t from = resume_at(sub, ri);
    *at = from;
    if (r->pf.windowed) return 1; /* a match may start long before its literal */
    size_t t = sub->len > r->pf.maxlen ? sub->len - r->pf.maxlen + 1 : 0;
    if (t < from) t = from;
    for (size_t k = hit_lo(h, ri), hi = hit_hi(h, ri); k < hi; k++) {
        if (h->pos[k] < from) continue;
        /* a rule's hits are in text order; a prefix running off the end
         * begins at t or later */
        if (!r->pf.startclass) *at = h->pos[k] < t ? h->pos[k] : t;
        return 1;
    }
    if (!tb->cand) tb->cand = tail_cands(m, tb, sub) ? 1 : -1;
    if (tb->cand == -2 && (tb->ti->done[ri >> 6] >> (ri & 63) & 1)) {
        /* no complete literal from its resume point on: only one running
         * off the end, from u0 on, may begin a match; leave it for later */
        *at = tb->u0 > from ? tb->u0 : from;
        return -1;
    }
    if (tb->cand > 0 && (tb->ti->done[ri >> 6] >> (ri & 63) & 1)) {
        if (!(m->t_cand[ri >> 6] >> (ri & 63) & 1))
            return 0; /* no literal of the rule runs off the end */
        for (size_t k = 0; tb->all && k < tb->n; k++)
            if (tb->rule[k] == ri && tb->at[k] >= from) {
                *at = tb->at[k]; /* the first such place */
                return 1;
            }
        if (tb->all) return 0;
    }
    const unsigned char *s = (const unsigned char *)sub->s;
    for (; t < sub->len; t++) {
        /* a start class holds bytes as they are (capitals of an IBAN),
         * literals lowercased */
        unsigned char c = r->pf.startclass ? s[t] : lower(s[t]);
        if (!(r->pf.first[c >> 3] & (1u << (c & 7)))) continue;
        if (r->pf.startclass) return 1; /* no literals: the first byte is all we know */
        /* the rest of the text must begin one of the literals (of any
         * rule first: one table lookup rules out most offsets) */
        size_t n = sub->len - t;
        if (!al_litset_may_begin(m_lits, sub->normalized, s + t, n)) continue;
        if (lit_runs_off(sub, r, t, c)) {
            *at = t;
            return 1;
        }
    }
    return 0;
}

static int has_ks(const char *text, size_t len);
static size_t last_ks(const char *text, size_t len);

/* 1 when s[0..n), lowercased, holds one of pf->preq (looked for by the
 * byte of each at preqat). */
static int holds_preq(const al_prefilter *pf, const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (pf->pone >= 0) { /* memchr's 16 bytes at a time */
            const unsigned char *q = memchr(s + i, pf->pone, n - i);
            if (!q) return 0;
            i = (size_t)(q - s);
        } else if (!(pf->pfirst[s[i] >> 3] & (1u << (s[i] & 7)))) {
            continue;
        }
        for (size_t j = 0; j < pf->npreq; j++) {
            const char *l = pf->preq[j];
            size_t ln = pf->preqlen[j], at = pf->preqat[j], k = 0;
            if (at > i || ln > n - (i - at)) continue;
            const unsigned char *b = s + i - at;
            while (k < ln && lower(b[k]) == (unsigned char)l[k]) k++;
            if (k == ln) return 1;
        }
    }
    return 0;
}

/* Stream mode: where a hard partial search of rule r from pos may begin
 * instead and give the same answer.  Every byte a match holds or its
 * lookarounds inspect is in r->pf.run, so an attempt from before the last
 * run of such bytes, [t, len), can neither reach the end (no partial
 * match) nor get past byte t - 1: a complete match from there lies in
 * [pos, t) and holds one of r->pf.preq.  None there: t. */
static size_t partial_from(const al_subject *sub, const al_rule *r, size_t pos)
{
    const al_prefilter *pf = &r->pf;
    if (!pf->npreq || pos >= sub->len) return pos;
    const unsigned char *s = (const unsigned char *)sub->s;
    size_t t = sub->len;
    while (t > pos && (pf->run[s[t - 1] >> 3] & (1u << (s[t - 1] & 7)))) t--;
    if (t == pos) return pos;
    if (pf->preq_ks && has_ks(sub->s + pos, t - pos)) return pos;
    return holds_preq(pf, s + pos, t - pos) ? pos : t;
}

/* Runs rule ri unanchored from its resume point; no match starts before
 * first (the prefixed rules' first possible start, else 0). */
static al_code run_regex(al_matcher *m, const al_subject *sub, uint32_t ri, size_t first,
                         al_cands *out, size_t *hold)
{
    const al_rule *r = &m->e->rules[ri];
    size_t pos = resume_at(sub, ri);
    uint32_t opts = sub->partial ? PCRE2_PARTIAL_HARD : 0;
    int found = 0;
    /* no start in [pos, at) can match or reach the end (partial_from is
     * not asked when the rule is left for later all the same) */
    const int defer = sub->defer_from && !sub->map && sub->deferred;
    size_t at = pos < first ? first : pos;
    if (sub->partial && !(defer && at >= sub->defer_from)) {
        at = partial_from(sub, r, pos);
        if (at < first) at = first;
    }
    if (defer && at >= sub->defer_from) {
        /* nothing it could find or hold back here is released in this pass */
        mark_scanned(sub, ri, at);
        *sub->deferred = 1;
        return AL_OK;
    }
    while (pos <= sub->len) {
        int rc =
            do_match(m, jit_code(r, sub->partial), sub->s, sub->len, pos < at ? at : pos, opts);
        if (rc == PCRE2_ERROR_NOMATCH) {
            /* partial mode: no start in [pos, len) matches or may match */
            if (sub->partial && !found) mark_scanned(sub, ri, sub->len);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
        if (rc == PCRE2_ERROR_PARTIAL) {
            size_t h = to_orig(sub, ov[0]);
            if (h < *hold) *hold = h;
            /* hard partial matching returns at the first start that reaches
             * the end: every start in [pos, ov[0]) failed on text that is
             * here already, so the next pass begins at ov[0] */
            if (!found && ov[0] > pos) mark_scanned(sub, ri, ov[0]);
            break;
        }
        if (rc < 0) { /* match/depth/heap limit or another failure: abandon the rule */
            m->limit_hit = 1;
            break;
        }
        found = 1;
        int t = take_match(m, sub, ri, rc, out, hold, &pos);
        if (t < 0) return AL_ENOMEM;
        if (t > 0) break;
    }
    return AL_OK;
}

/* This thread's last pass number (al_spans.pass): each rules_run that runs
 * a detector takes the next, so no two passes on a thread share one. */
static __thread uint64_t det_pass __attribute__((tls_model("initial-exec")));

static al_code run_detector(al_matcher *m, const al_subject *sub, uint32_t ri, uint64_t pass,
                            al_cands *out, size_t *hold)
{
    const al_rule *r = &m->e->rules[ri];
    al_spans *const sp = &m->d_spans; /* its array kept for the next call */
    sp->n = 0;
    sp->pass = pass; /* sub->orig does not change in a pass */
    al_code c = r->det->scan(r->det_state, sub->orig, sub->orig_len, sp);
    if (c == AL_ENOMEM) {
        al_spans_free(sp);
        return c;
    }
    for (size_t i = 0; i < sp->n; i++) {
        size_t s = sp->v[i].start, e = sp->v[i].end;
        if (e > sub->orig_len) e = sub->orig_len;
        if (s >= e || s < sub->from) continue;
        if (s < rule_from(sub, ri)) continue;
        if (sub->partial &&
            (e + DET_MARGIN > sub->orig_len || (r->nctx && e + r->ctx_window > sub->orig_len))) {
            if (s < *hold) *hold = s;
            continue;
        }
        double conf = sp->v[i].confidence * r->confidence;
        int ok = conf >= 0.5 || (r->nctx && conf + r->ctx_boost >= 0.5 &&
                                 has_context(r, sub->orig, sub->orig_len, s, e));
        if (ok || sub->keep_rejected) {
            if (cands_push(out, s, e, e, ri, ok) != AL_OK) {
                al_spans_free(sp);
                return AL_ENOMEM;
            }
        }
    }
    if (sp->cap > 4096) al_spans_free(sp); /* a very large one is not kept */
    return AL_OK;
}

/* 1 when text holds U+017F (long s) or U+212A (Kelvin sign). */
static int has_ks(const char *text, size_t len)
{
    /* both begin with a byte >= 0x80: none in ASCII text, else from the
     * first such byte on */
    size_t i = al_ascii_end(text, len);
    if (i == len) return 0;
    const char *p = text + i, *end = text + len;
    text = p;
    while ((p = memchr(p, 0xC5, (size_t)(end - p))) && p + 1 < end) {
        if ((unsigned char)p[1] == 0xBF) return 1;
        p++;
    }
    p = text;
    while ((p = memchr(p, 0xE2, (size_t)(end - p))) && p + 2 < end) {
        if ((unsigned char)p[1] == 0x84 && (unsigned char)p[2] == 0xAA) return 1;
        p++;
    }
    return 0;
}

/* 1 + the offset in text of the last U+017F (long s) or U+212A (Kelvin
 * sign), 0 when it holds none. */
static size_t last_ks(const char *text, size_t len)
{
    size_t i = al_ascii_end(text, len);
    const unsigned char *t = (const unsigned char *)text;
    size_t last = 0;
    for (; i + 1 < len; i++) {
        if (t[i] == 0xC5 && t[i + 1] == 0xBF) last = i + 1;
        if (t[i] == 0xE2 && i + 2 < len && t[i + 1] == 0x84 && t[i + 2] == 0xAA) last = i + 1;
    }
    return last;
}

/* The offset of sub to collect literal hits from.  A stream pass reads them only
 * in may_start, as "a hit at or past the rule's resume point" (of a rule
 * not windowed): hits before every such rule's resume point are not looked
 * for.  The scan starts one byte before the lowest such point (or one
 * lower), so that the hits it finds from that point on are the ones a scan
 * from sub->from finds (a literal scan takes its first byte for a word
 * start). */
static size_t hits_from(const al_matcher *m, const al_subject *sub)
{
    const al_engine *e = m->e;
    if (!sub->partial || !sub->act || !(sub->rule_from || sub->resume) || !e->rkind)
        return sub->from;
    size_t lo = sub->len;
    if (m->t_ready) { /* the prefixed rules of the pass's kind, from stream_prep's set */
        const size_t W = (e->n + 63) / 64;
        const uint64_t *pre = m->t_kind + (sub->normalized ? 5 : 4) * W;
        size_t low = SIZE_MAX; /* of their resume points, or of rule_from */
        const size_t *f = sub->resume ? sub->resume : sub->rule_from;
        /* the rules the last raw pass marked scanned to its end have their
         * resume point there or later (resume points only rise) */
        const uint64_t *last = m->t_kind + 7 * W;
        const int known = sub->resume && m->t_kind[8 * W + 1] == (uintptr_t)sub->resume;
        const uint64_t *scl = m->t_scw + W; /* start-class rules alike, at t_scend */
        for (size_t x = m->t_x0; x < m->t_x1; x++) {
            const size_t *fx = f + x * 64;
            uint64_t b = pre[x];
            if (known && (b & last[x])) {
                b &= ~last[x];
                low = m->t_kind[8 * W] < low ? m->t_kind[8 * W] : low;
            }
            if (known && (b & scl[x])) {
                b &= ~scl[x];
                low = m->t_scend < low ? m->t_scend : low;
            }
            for (; b; b &= b - 1) {
                const size_t v = fx[__builtin_ctzll(b)];
                low = v < low ? v : low;
            }
        }
        if (sub->resume) low = low > sub->resume_base ? low - sub->resume_base : 0;
        if (low < lo) lo = low;
    } else {
        const unsigned want = AL_RK_PRE | (sub->normalized ? AL_RK_NORM : 0);
        for (size_t j = 0; j < sub->nact && lo > sub->from + 1; j++) {
            uint32_t i = sub->act[j];
            if ((e->rkind[i] & (AL_RK_DET | AL_RK_NORM | AL_RK_PRE)) != want) continue;
            size_t f = rule_from(sub, i);
            if (f < lo) lo = f;
        }
    }
    return lo <= sub->from + 1 ? sub->from : lo - 1;
}

/* The rules a whole-text pass (normalised when norm) may run, as a bit set
 * of W words: a detector (raw pass) or a rule without prefixes of the
 * pass's kind, and a prefixed one of its kind with a hit (or with a
 * caseless k or s when ks_seen).  Every rule the pass's loop does not pass
 * over at once is in it.  m->f_run, made on first use, holds the raw and
 * normalised passes' rules without and with prefixes, the prefixed rules
 * with a caseless k or s, then the set returned.  NULL on allocation
 * failure. */
static const uint64_t *fast_set(al_matcher *m, const hits *h, int norm, int ks_seen)
{
    const al_engine *e = m->e;
    const size_t W = (e->n + 63) / 64;
    if (!m->f_run) {
        uint64_t *f = calloc(6 * W + 1, sizeof *f);
        if (!f) return NULL;
        for (size_t i = 0; i < e->n; i++) {
            unsigned k = e->rkind[i];
            size_t at = (k & AL_RK_NORM ? W : 0) + (k & AL_RK_PRE ? 2 * W : 0);
            if (k & AL_RK_DET) at = 0; /* raw pass only */
            f[at + (i >> 6)] |= 1ull << (i & 63);
            if ((k & (AL_RK_DET | AL_RK_PRE | AL_RK_KS)) == (AL_RK_PRE | AL_RK_KS))
                f[4 * W + (i >> 6)] |= 1ull << (i & 63);
        }
        m->f_run = f;
    }
    const uint64_t *f = m->f_run;
    const uint64_t *any = f + (norm ? W : 0), *pre = f + (norm ? 3 * W : 2 * W), *ks = f + 4 * W;
    uint64_t *out = m->f_run + 5 * W;
    for (size_t x = 0; x < W; x++) out[x] = ks_seen ? ks[x] : 0;
    for (size_t k = 0; k < h->nused; k++) out[h->used[k] >> 6] |= 1ull << (h->used[k] & 63);
    for (size_t x = 0; x < W; x++) out[x] = any[x] | (pre[x] & out[x]);
    return out;
}

/* Stream mode: the rules the last raw pass over sub->resume marked scanned
 * to its end are kept as a set (m->t_kind, stream_set), their resume points
 * not written: resume[i] is then max(resume[i], that end).  Writes them
 * (every reader but hits_from and stream_set wants them written) and
 * forgets the set. */
static void resume_real(al_matcher *m, const al_subject *sub)
{
    const size_t W = (m->e->n + 63) / 64;
    if (!m->t_ready || !sub->resume || m->t_kind[8 * W + 1] != (uintptr_t)sub->resume) return;
    const size_t end = m->t_kind[8 * W];
    const uint64_t *lazy = m->t_kind + 7 * W, *scl = m->t_scw + W;
    for (size_t x = m->t_x0; x < m->t_x1; x++) {
        for (uint64_t b = lazy[x]; b; b &= b - 1) {
            size_t *r = sub->resume + x * 64 + (size_t)__builtin_ctzll(b);
            *r = *r < end ? end : *r;
        }
        for (uint64_t b = scl[x]; b; b &= b - 1) {
            size_t *r = sub->resume + x * 64 + (size_t)__builtin_ctzll(b);
            *r = *r < m->t_scend ? m->t_scend : *r;
        }
    }
    m->t_kind[8 * W + 1] = 0;
}

/* The rules a stream pass visits, as a bit set of W words (m->t_kind's
 * last): the active rules the pass's kind runs at all, but for those of the
 * tail index that have no hit, no literal running off the end (tail_cands)
 * and no caseless k or s in a text holding a Kelvin sign or long s: those
 * can start no match before the end, and are marked so here. */
static const uint64_t *stream_set(al_matcher *m, const al_subject *sub, const hits *h,
                                  const tail_begins *tb, int ks_seen)
{
    /* tail not looked at (tb->cand -2): the rules of the index without a hit
     * can begin no match before u0, past defer_from, and are left for later */
    const size_t mark = tb->cand == -2 ? tb->u0 : sub->len;
    const size_t W = (m->e->n + 63) / 64, k = sub->normalized ? 1 : 0;
    const uint64_t *idx = m->t_kind + k * W, *run = m->t_kind + (2 + k) * W;
    const uint64_t *ks = tb->ti->ks, *cand = m->t_cand;
    uint64_t *q = m->t_kind + 6 * W;
    /* (only the words that may hold an active rule are read or written) */
    const size_t x0 = m->t_x0, x1 = m->t_x1;
    for (size_t x = x0; x < x1; x++) q[x] = idx[x] & ~cand[x] & (ks_seen ? ~ks[x] : ~0ull);
    for (size_t u = 0; u < h->nused; u++) q[h->used[u] >> 6] &= ~(1ull << (h->used[u] & 63));
    /* mark_scanned(sub, i, sub->len) for each, kept as this set and the end
     * (resume_lazy) but for those of the last such set that leave it */
    size_t *res = sub->resume;
    uint64_t *lazy = m->t_kind + 7 * W;
    const size_t end = sub->resume_base + mark;
    if (res && m->t_kind[8 * W + 1] == (uintptr_t)res && m->t_kind[8 * W] > end)
        resume_real(m, sub); /* (a stream's end never moves back) */
    const int known = res && m->t_kind[8 * W + 1] == (uintptr_t)res;
    const size_t last = m->t_kind[8 * W];
    for (size_t x = x0; x < x1; x++) {
        if (known)
            for (uint64_t b = lazy[x] & ~q[x]; b; b &= b - 1) {
                size_t *r = res + x * 64 + (size_t)__builtin_ctzll(b);
                *r = *r < last ? last : *r;
            }
        if (res) lazy[x] = q[x];
        q[x] = run[x] & ~q[x];
    }
    if (res) {
        m->t_kind[8 * W] = end;
        m->t_kind[8 * W + 1] = (uintptr_t)res;
    }
    /* Of the others, those of the index without a hit whose literals that
     * run off the end all begin at defer_from or later: may_start would give
     * run_regex a first start there, and run_regex would leave them for a
     * later pass; so they are left here, their resume points raised to the
     * first such literal (as far as run_regex would, or less). */
    if (tb->cand == -2) {
        for (size_t x = x0; x < x1; x++)
            if (run[x] != q[x] && sub->deferred) *sub->deferred = 1; /* some left for later */
    } else if (sub->defer_from && !sub->map && sub->deferred && tb->all && W <= 64) {
        uint64_t d[64]; /* first: the rules with such a literal before defer_from */
        memset(d, 0, W * sizeof *d);
        for (size_t n = 0; n < tb->n && tb->at[n] < sub->defer_from; n++)
            d[tb->rule[n] >> 6] |= 1ull << (tb->rule[n] & 63);
        for (size_t x = 0; x < W; x++) d[x] = idx[x] & cand[x] & ~d[x] & (ks_seen ? ~ks[x] : ~0ull);
        for (size_t u = 0; u < h->nused; u++) d[h->used[u] >> 6] &= ~(1ull << (h->used[u] & 63));
        int any = 0;
        for (size_t x = x0; x < x1; x++) {
            q[x] &= ~d[x];
            any |= d[x] != 0;
        }
        if (any) *sub->deferred = 1;
        for (size_t n = 0; any && n < tb->n; n++) { /* offset order: each rule's first */
            const uint32_t ri = tb->rule[n];
            if (!(d[ri >> 6] >> (ri & 63) & 1)) continue;
            d[ri >> 6] &= ~(1ull << (ri & 63));
            mark_scanned(sub, ri, tb->at[n]);
        }
    }
    /* The start-class rules without a hit none of whose first bytes stands
     * where a match of theirs running off the end may begin (pf.maxlen
     * bytes before the end at most): may_start finds no start for them
     * (it would look at those bytes alone), so they are marked scanned to
     * the end here and not visited (a rule with a caseless k or s in a
     * text holding a Kelvin sign or long s is run all the same). */
    uint64_t sc = m->t_sc[k] & ~h->sc_hit & (ks_seen ? ~m->t_scks : ~0ull);
    const int sc_lazy = res && !k && W <= 64; /* (a raw pass over a resume array) */
    if (sc || sc_lazy) {
        const al_engine *e = m->e;
        const tail_index *ti = tb->ti;
        const unsigned char *s = (const unsigned char *)sub->s;
        const size_t len = sub->len;
        /* the bytes d = 1.. before the end, by lengths (the rules that reach
         * d are the same from one length to the next), but for those from
         * sc_zero on, which find_hits saw outside every rule's first bytes */
        const size_t z = h->sc_zero < len ? h->sc_zero : len;
        for (size_t x = 0, d0 = 0; x < ti->sc_nseg && d0 < len; x++) {
            const size_t d1 = ti->sc_end[x] < len ? ti->sc_end[x] : len;
            const size_t hi = len - d0 < z ? len - d0 : z;
            uint64_t any = 0;
            for (size_t p = len - d1; p < hi; p++) any |= e->sc_mask[s[p]];
            sc &= ~(any & ti->sc_cover[x]);
            d0 = d1;
        }
        if (sc_lazy) {
            /* kept as a set and an end, as the tail index's rules are: a
             * rule's resume point is written when it leaves the set */
            uint64_t nl[64]; /* the rules passed over now: the raw start-class ones but */
            for (size_t x = x0; x < x1; x++) nl[x] = m->t_scw[x];
            for (uint64_t b = m->t_sc[0] & ~sc; b; b &= b - 1) { /* those that run */
                const uint32_t ri = e->sc_rules[__builtin_ctzll(b)];
                nl[ri >> 6] &= ~(1ull << (ri & 63));
            }
            uint64_t *scl = m->t_scw + W;
            for (size_t x = x0; x < x1; x++) {
                if (known)
                    for (uint64_t b = scl[x] & ~nl[x]; b; b &= b - 1) {
                        size_t *r = res + x * 64 + (size_t)__builtin_ctzll(b);
                        *r = *r < m->t_scend ? m->t_scend : *r;
                    }
                scl[x] = nl[x];
                q[x] &= ~nl[x];
            }
            m->t_scend = sub->resume_base + len; /* (a stream's end never moves back) */
        } else {
            for (; sc; sc &= sc - 1) {
                const uint32_t ri = e->sc_rules[__builtin_ctzll(sc)];
                q[ri >> 6] &= ~(1ull << (ri & 63));
                mark_scanned(sub, ri, sub->len);
            }
        }
    }
    /* A windowed rule may begin a match anywhere before its literal:
     * may_start lets it run from its resume point, and run_regex leaves it
     * for a later pass, that point raised to sub->from or to where
     * partial_from says no start before can matter, when that is
     * defer_from or later; done so here without a visit. */
    if (sub->defer_from && !sub->map && sub->deferred) {
        for (size_t j = 0; j < m->t_nwin; j++) {
            const uint32_t ri = m->t_win[j];
            const size_t pos = resume_at(sub, ri);
            const size_t at =
                pos < sub->defer_from ? partial_from(sub, &m->e->rules[ri], pos) : pos;
            if (at < sub->defer_from) continue; /* (visited: run_regex runs it) */
            mark_scanned(sub, ri, at);
            *sub->deferred = 1;
            q[ri >> 6] &= ~(1ull << (ri & 63));
        }
    }
    return q;
}

/* has_ks(sub->s + sub->from, sub->len - sub->from) of a stream's raw pass:
 * a stream's text at an offset never changes, so the bytes looked at by the
 * last pass over the same resume array are not looked at again (but for
 * the last two, where a character may have been cut). */
static int stream_ks(al_matcher *m, const al_subject *sub)
{
    const size_t base = sub->resume_base, end = base + sub->len;
    size_t at = base + sub->from; /* stream offset to look from */
    if (m->ks_key == sub->resume && m->ks_done <= end) {
        if (m->ks_done > at + 2) at = m->ks_done - 2;
    } else {
        m->ks_key = sub->resume;
        m->ks_last = 0;
    }
    const size_t k = last_ks(sub->s + (at - base), end - at);
    if (k) m->ks_last = at + k;
    m->ks_done = end;
    return m->ks_last > base + sub->from; /* begins at sub->from or later */
}

/* 1 when the text of h holds one of the n required literals idx (as
 * e->reqs indexes), or when idx is NULL (nothing required). */
static inline int any_seen(const hits *h, const uint32_t *idx, size_t n)
{
    if (!idx) return 1;
    for (size_t k = 0; k < n; k++)
        if (h->req_seen[idx[k]]) return 1;
    return 0;
}

/* al_rules_run(), with the literal hits taken from shared when non-NULL
 * (a whole-text scan whose hits hold both raw and normalised rules'). */
static al_code rules_run(al_matcher *m, const al_subject *sub, al_cands *out, size_t *hold,
                         const hits *shared)
{
    const al_engine *e = m->e;
    *hold = sub->orig_len;
    m->utf_ok = -1; /* (near_code) */
    hits own;
    own.m = NULL; /* (find_hits fills it; hits_done does nothing until then) */
    /* whole text: try prefixed rules at their hits only; stream: skip a
     * prefixed rule unless a prefix occurs or may be starting at the end */
    int use_hits = (sub->prefilter || sub->partial) && e->lits;
    /* stream: the tail index and the matcher's sets (NULL: not to be had) */
    const tail_index *ti = use_hits && sub->partial && e->rkind ? stream_prep(m, sub) : NULL;
    if (use_hits && !shared &&
        find_hits(m, sub, hits_from(m, sub), sub->normalized, &own) != AL_OK) {
        hits_done(&own);
        return AL_ENOMEM;
    }
    const hits *const hp = shared ? shared : &own;
    al_code c = AL_OK;
    /* the Kelvin sign and long s match caseless k and s */
    int ks_seen = use_hits && !sub->normalized &&
                  (sub->partial && sub->resume ? stream_ks(m, sub)
                                               : has_ks(sub->s + sub->from, sub->len - sub->from));
    int fast = use_hits && !sub->partial && e->rkind;
    /* stream, raw pass: rules may be left for a later pass (al_subject.defer_from) */
    const int defer = sub->partial && sub->defer_from && !sub->map && sub->deferred;
    tail_begins tb;
    tb.cand = 0;
    uint64_t pass = 0; /* the detectors' (al_spans.pass), taken at the first */
    /* stream: only the rules of stream_set's set, ascending, as the loop
     * would visit them; those of the tail index without a hit and without a
     * literal running off the end are passed over there, as may_start would */
    const uint64_t *set = NULL;
    if (use_hits && sub->partial && e->rkind && ti) {
        /* past defer_from whatever runs off the end cannot matter now: the
         * tail is not looked at (tail_cands), the rules that could begin
         * there are left for later */
        const size_t ml = ti->t[sub->normalized ? 1 : 0].maxlen;
        tb.u0 = sub->len > ml ? sub->len - ml + 1 : 0;
        if (tb.u0 < sub->from) tb.u0 = sub->from;
        if (defer && tb.u0 >= sub->defer_from) {
            tb.ti = ti;
            tb.cand = -2;
            memset(m->t_cand, 0, ti->W * sizeof *m->t_cand);
        } else {
            tb.cand = tail_cands(m, &tb, sub) ? 1 : -1;
        }
        if (tb.cand > 0 || tb.cand == -2) set = stream_set(m, sub, hp, &tb, ks_seen);
    } else if (use_hits && sub->partial && e->rkind) {
        tb.cand = -1;
    }
    if (!set && sub->resume) resume_real(m, sub); /* the loop reads every resume point */
    /* whole text: only the rules of fast_set's set, ascending, as the loop
     * below would visit them (the others it passes over at once) */
    const size_t nloop = sub->act ? sub->nact : e->n, W = (e->n + 63) / 64;
    /* the last pass of a stream (its matcher's sets made): fast_set's
     * rules of the act list, as the loop over it would visit them */
    const int fast_act = fast && sub->act && m->t_ready;
    if (fast && (!sub->act || fast_act)) set = fast_set(m, hp, sub->normalized, ks_seen);
    if (set && fast_act) {
        uint64_t *o = m->f_run + 5 * W; /* (fast_set's) */
        const uint64_t *run = m->t_kind + (sub->normalized ? 3 : 2) * W;
        for (size_t x = m->t_x0; x < m->t_x1; x++) o[x] &= run[x];
    }
    /* j: the act list's next entry; set: the word at x, its rules so far
     * cleared, up to word xe (a stream's set, or fast_act's: its words
     * [t_x0, t_x1)) */
    const int words = set && (sub->partial || fast_act);
    size_t j = 0, x = words ? m->t_x0 : 0, xe = words ? m->t_x1 : W;
    uint64_t w = set && x < xe ? set[x] : 0;
    for (;;) {
        uint32_t i;
        if (set) {
            while (!w && ++x < xe) w = set[x];
            if (!w) break;
            i = (uint32_t)(x * 64 + (size_t)__builtin_ctzll(w));
            w &= w - 1;
        } else {
            if (j == nloop) break;
            i = sub->act ? sub->act[j] : (uint32_t)j;
            j++;
        }
        if (!words && sub->active && !sub->active[i]) continue; /* (words: only active ones) */
        if (fast) {
            /* whole text: a prefixed rule without a hit has nothing to try */
            unsigned k = e->rkind[i];
            if (k & AL_RK_DET) {
                if (sub->normalized) continue;
            } else if (!(k & AL_RK_NORM) != !sub->normalized) {
                continue;
            } else if ((k & AL_RK_PRE) && !((k & AL_RK_KS) && ks_seen) && !hp->cnt[i]) {
                continue;
            }
            /* a literal every match contains is missing from the text */
            const al_rule *q = &e->rules[i];
            /* a rule without prefixes whose matches all start with one byte
             * (a 4-byte character's first): not where the text lacks it */
            if (!(k & (AL_RK_DET | AL_RK_PRE)) && q->start_unit >= 0 &&
                !memchr(sub->s + sub->from, q->start_unit, sub->len - sub->from))
                continue;
            if (!(k & AL_RK_DET) && (q->req || q->req2) && !(q->pf.req_ks && ks_seen) &&
                (!any_seen(hp, q->req, q->pf.nreq) || !any_seen(hp, q->req2, q->pf.nreq2)))
                continue;
        }
        const al_rule *r = &e->rules[i];
        if (r->det) {
            if (sub->normalized) continue; /* detectors read the text as received */
            if (!pass) pass = ++det_pass;
            c = run_detector(m, sub, i, pass, out, hold);
        } else {
            if (r->normalized != sub->normalized) continue;
            int pre = r->pf.n || r->pf.startclass;
            size_t first = 0;
            if (use_hits && pre && !sub->partial && !(r->pf.ks && ks_seen))
                c = r->pf.windowed ? run_windowed(m, sub, i, hp, out, hold)
                                   : run_anchored(m, sub, i, hp, out, hold);
            else {
                const int ms = use_hits && pre && !(r->pf.ks && ks_seen)
                                   ? may_start(m, sub, r, i, hp, e->lits, &tb, &first)
                                   : 1;
                if (ms < 0) { /* left for later */
                    mark_scanned(sub, i, first);
                    *sub->deferred = 1;
                } else if (!ms) {
                    mark_scanned(sub, i, sub->len); /* no prefix: no start */
                } else {
                    c = run_regex(m, sub, i, first, out, hold);
                }
            }
        }
        if (c != AL_OK) break;
    }
    hits_done(&own);
    return c;
}

al_code al_rules_run(al_matcher *m, const al_subject *sub, al_cands *out, size_t *hold)
{
    return rules_run(m, sub, out, hold, NULL);
}

/* 1 when a and b (n bytes each) are equal after ASCII lowercasing: the
 * literal scan, which lowercases, then finds the same prefixes in both. */
#ifdef __SSE2__
/* 16 bytes with A-Z lowercased, as lower() does each. */
static inline __m128i lower16(const unsigned char *p)
{
    const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    const __m128i d = _mm_sub_epi8(x, _mm_set1_epi8('A'));
    const __m128i up = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(25)), d); /* d <= 25 */
    return _mm_or_si128(x, _mm_and_si128(up, _mm_set1_epi8(0x20)));
}
#endif

static int same_but_case(const unsigned char *a, const unsigned char *b, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 16 <= n; i += 16)
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(lower16(a + i), lower16(b + i))) != 0xFFFF) return 0;
#endif
    for (; i < n; i++)
        if (a[i] != b[i] && lower(a[i]) != lower(b[i])) return 0;
    return 1;
}

al_action al_rule_action(const al_rule *r, const al_policy *p, al_direction dir)
{
    if (r->has_action) return r->action;
    return dir == AL_AS_PROMPT ? p->prompt[r->cat] : p->completion[r->cat];
}

/* ---- whole-text scan ---- */

static int cmp_finding(const void *a, const void *b)
{
    const al_finding *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    if (x->end != y->end) return x->end > y->end ? -1 : 1;
    return strcmp(x->rule, y->rule);
}

void al_findings_sort(al_finding *f, size_t n)
{
    if (n > 1) qsort(f, n, sizeof *f, cmp_finding);
}

static al_code push_finding(al_result *r, const al_finding *f)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        al_finding *v = realloc(r->findings, cap * sizeof *v);
        if (!v) return AL_ENOMEM;
        r->findings = v;
        r->cap = cap;
    }
    r->findings[r->n++] = *f;
    return AL_OK;
}

/* Length of the valid UTF-8 sequence starting at t[q], or 0. */
static size_t valid_seq(const unsigned char *t, size_t len, size_t q)
{
    unsigned char c = t[q];
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (!n || c > 0xF4 || q + n > len) return 0;
    for (size_t k = 1; k < n; k++)
        if ((t[q + k] & 0xC0) != 0x80) return 0;
    if ((c == 0xE0 && t[q + 1] < 0xA0) || (c == 0xED && t[q + 1] > 0x9F) ||
        (c == 0xF0 && t[q + 1] < 0x90) || (c == 0xF4 && t[q + 1] > 0x8F))
        return 0;
    return n;
}

/* If offset p falls inside a valid multi-byte character, sets *start and
 * *end to that character and returns 1. */
static int inside_char(const unsigned char *t, size_t len, size_t p, size_t *start, size_t *end)
{
    if (p == 0 || p >= len || (t[p] & 0xC0) != 0x80) return 0;
    for (size_t q = p; q-- > 0 && p - q < 4;) {
        if ((t[q] & 0xC0) == 0x80) continue;
        size_t n = valid_seq(t, len, q);
        if (n && q + n > p) {
            *start = q;
            *end = q + n;
            return 1;
        }
        return 0;
    }
    return 0;
}

void al_snap_utf8(const char *text, size_t len, size_t *s, size_t *e)
{
    const unsigned char *t = (const unsigned char *)text;
    size_t cs, ce;
    if (inside_char(t, len, *s, &cs, &ce)) *s = cs;
    if (inside_char(t, len, *e, &cs, &ce)) *e = ce;
}

/* A value split by invisible characters ("4111 \u200b1111 1111 1111"):
 * when text[from, len) holds one beside a letter or digit, the active
 * pattern rules (not the normalised rules) and detectors run again over a
 * copy without them, and a finding counts when its span holds one (the raw
 * pass found the others).  Shared by the whole-text scan and the
 * stream; text without such a character costs one byte scan. */
#define STRIP_BACK 96   /* a value split by an invisible character begins this close before it */
#define STRIP_YOUNG 128 /* a stream: a value split by one this close to the end may still grow */

al_code al_rules_run_stripped(al_matcher *m, const al_subject *sub, al_cands *cands, size_t *hold)
{
    const char *text = sub->orig;
    size_t len = sub->orig_len;
    *hold = len;
    size_t at = al_invisible_find_split(text, len, sub->from);
    if (at == len) return AL_OK;
    if (sub->partial) {
        /* the first one whose value may still grow: what may begin that
         * value waits, unlooked at while every such character is that young */
        size_t young = at;
        while (young < len && len - young >= STRIP_YOUNG)
            young = al_invisible_find_split(text, len, young + 1);
        if (young < len) *hold = young > sub->from + STRIP_BACK ? young - STRIP_BACK : sub->from;
        if (young == at) return AL_OK;
    }
    const al_engine *e = m->e;
    unsigned char *act = malloc(e->n ? e->n : 1);
    if (!act) return AL_ENOMEM;
    int any_det = 0;
    for (size_t i = 0; i < e->n; i++) {
        act[i] = (!sub->active || sub->active[i]) && !e->rules[i].det && !e->rules[i].normalized;
        any_det |= (!sub->active || sub->active[i]) && e->rules[i].det;
    }
    al_buf sb = {0};
    al_nmap map = {0};
    al_code c = al_strip_invisible(text, len, &sb, &map);
    const size_t n0 = cands->n;
    if (c == AL_OK) {
        /* a whole-text pass (its literal prefilter) also mid-stream: the
         * hold above keeps back what a partial match would */
        al_subject st = {.orig = text,
                         .orig_len = len,
                         .s = sb.data ? sb.data : "",
                         .len = sb.len,
                         .map = &map,
                         .from = al_nmap_lower_bound(&map, sub->from),
                         .prefilter = 1,
                         .active = act};
        size_t h;
        c = al_rules_run(m, &st, cands, &h);
    }
    if (c == AL_OK && any_det) {
        /* the name and place detectors read the copy as their text
         * ("Dear Jo\u200bhn Smith"); their spans are mapped back */
        for (size_t i = 0; i < e->n; i++)
            act[i] = (!sub->active || sub->active[i]) && e->rules[i].det;
        const char *t = sb.data ? sb.data : "";
        al_subject sd = {.orig = t,
                         .orig_len = sb.len,
                         .s = t,
                         .len = sb.len,
                         .from = al_nmap_lower_bound(&map, sub->from),
                         .prefilter = 1,
                         .active = act};
        const size_t n1 = cands->n;
        size_t h;
        c = al_rules_run(m, &sd, cands, &h);
        for (size_t i = n1; c == AL_OK && i < cands->n; i++) {
            al_cand *d = &cands->v[i];
            const size_t ds = d->start, de = d->end;
            d->start = al_nmap_orig(&map, ds);
            size_t q =
                de > ds ? al_nmap_orig(&map, de - 1) + 1 : d->start; /* its last character's end */
            while (q < len && ((unsigned char)text[q] & 0xC0) == 0x80) q++;
            d->end = d->mend = q;
        }
    }
    size_t w = n0;
    for (size_t i = n0; c == AL_OK && i < cands->n; i++) {
        const al_cand *d = &cands->v[i];
        if (al_invisible_find(text, d->end, d->start) >= d->end) continue;
        size_t k = 0; /* (a pattern that takes such a character in: found once) */
        while (k < n0 && !(cands->v[k].rule == d->rule && cands->v[k].start == d->start &&
                           cands->v[k].end == d->end))
            k++;
        if (k == n0) cands->v[w++] = *d;
    }
    if (c == AL_OK) cands->n = w;
    al_nmap_free(&map);
    al_buf_free(&sb);
    free(act);
    return c;
}

/* Runs the rules active in dir over text (raw and normalised passes) and
 * appends candidates.  Shared by the whole-text scan and the stream.  When
 * norm_out is non-NULL and the normalised pass ran, the normalised text is
 * handed over in *norm_out (caller frees); otherwise it is left empty. */
static al_code collect(al_matcher *m, const al_policy *p, al_direction dir, const char *text,
                       size_t len, const unsigned char *active, int any_norm, al_cands *cands,
                       al_buf *norm_out)
{
    al_subject sub = {
        .orig = text, .orig_len = len, .s = text, .len = len, .active = active, .prefilter = 1};
    size_t hold;
    if (!any_norm) {
        al_code c = al_rules_run(m, &sub, cands, &hold);
        return c == AL_OK ? al_rules_run_stripped(m, &sub, cands, &hold) : c;
    }
    al_buf nb = {0};
    al_nmap map = {0};
    al_code c = al_normalize_seg(text, len, &nb, &map, NULL);
    if (c == AL_OK && m->e->lits && nb.len == len &&
        same_but_case((const unsigned char *)text, (const unsigned char *)nb.data, len)) {
        /* the usual prompt: normalising changed only ASCII case, so one
         * literal scan serves both passes (hits are per rule, in text order) */
        hits h = {0};
        c = find_hits(m, &sub, sub.from, AL_LITSET_BOTH, &h);
        if (c == AL_OK) c = rules_run(m, &sub, cands, &hold, &h);
        if (c == AL_OK) {
            sub.s = nb.data ? nb.data : "";
            sub.map = &map;
            sub.normalized = 1;
            c = rules_run(m, &sub, cands, &hold, &h);
        }
        hits_done(&h);
    } else if (c == AL_OK) {
        c = al_rules_run(m, &sub, cands, &hold);
        if (c == AL_OK) {
            sub.s = nb.data ? nb.data : "";
            sub.len = nb.len;
            sub.map = &map;
            sub.normalized = 1;
            c = al_rules_run(m, &sub, cands, &hold);
        }
    }
    al_nmap_free(&map);
    if (c == AL_OK) c = al_rules_run_stripped(m, &sub, cands, &hold);
    if (c == AL_OK && norm_out)
        *norm_out = nb;
    else
        al_buf_free(&nb);
    return c;
}

/* The rules to run in dir (action not ALLOW, applies to dir), one byte
 * each, and in *any_norm whether one runs on the normalised text.  Kept in
 * m for its next scans under the same actions: two policies per direction
 * (an exchange screens system and user texts under two), the last used in
 * slot 2d.  NULL on allocation failure. */
static const unsigned char *active_rules(al_matcher *m, const al_policy *p, al_direction dir,
                                         int *any_norm)
{
    const al_engine *e = m->e;
    const int d = dir == AL_AS_PROMPT ? 0 : 2;
    const al_action *pol = d ? p->completion : p->prompt;
    if (m->a_act[d] && !memcmp(m->a_pol[d], pol, sizeof m->a_pol[d])) {
        *any_norm = m->a_norm[d];
        return m->a_act[d];
    }
    /* the other slot moves first: on a hit it is the one returned, else its
     * array (if any) is the one rewritten */
    unsigned char *a = m->a_act[d + 1];
    al_action keep[AL_CAT_COUNT];
    memcpy(keep, m->a_pol[d + 1], sizeof keep);
    const int norm = m->a_norm[d + 1];
    m->a_act[d + 1] = m->a_act[d];
    memcpy(m->a_pol[d + 1], m->a_pol[d], sizeof m->a_pol[d]);
    m->a_norm[d + 1] = m->a_norm[d];
    m->a_act[d] = a;
    memcpy(m->a_pol[d], keep, sizeof keep);
    m->a_norm[d] = norm;
    if (a && !memcmp(keep, pol, sizeof keep)) {
        *any_norm = norm;
        return a;
    }
    if (!a && !(a = m->a_act[d] = malloc(e->n ? e->n : 1))) return NULL;
    unsigned bit = dir == AL_AS_PROMPT ? AL_DIR_PROMPT_BIT : AL_DIR_COMPLETION_BIT;
    *any_norm = 0;
    for (size_t i = 0; i < e->n; i++) {
        const al_rule *r = &e->rules[i];
        a[i] = (r->applies & bit) && al_rule_action(r, p, dir) != AL_ACT_ALLOW;
        if (a[i] && r->normalized && !r->det) *any_norm = 1;
    }
    memcpy(m->a_pol[d], pol, sizeof m->a_pol[d]);
    m->a_norm[d] = *any_norm;
    return a;
}

static const char oversize_rule[] = "sanitize.oversize";

/* A prompt that quotes an attack rather than makes it: its quoted spans
 * (mention.h), and each thing read from them worked out at most once per
 * scan and only when asked for.  state 0: spans not yet found, 1: found,
 * -1: no quotes; got: which of def (a quoted prompt assigned to a code
 * name) and meta (test or detection words outside the quotes, kept then
 * holding the quotes that read as mentioned) are known. */
enum { GOT_DEF = 1, GOT_META = 2 };
typedef struct {
    al_spans sp, kept; /* every quote; those that read as mentioned (meta) */
    int state, got, meta, def;
} mention_ctx;

static int mention_spans(mention_ctx *mc, const char *text, size_t len)
{
    if (!mc->state) mc->state = al_mention_spans(text, len, &mc->sp) == AL_OK && mc->sp.n ? 1 : -1;
    return mc->state > 0;
}

/* def, for a text with quotes */
static int mention_def(mention_ctx *mc, const char *text, size_t len)
{
    if (!(mc->got & GOT_DEF)) mc->def = al_mention_prompt_def(text, len, &mc->sp);
    mc->got |= GOT_DEF;
    return mc->def;
}

/* meta, for a text with quotes */
static int mention_meta(mention_ctx *mc, const char *text, size_t len)
{
    if (!(mc->got & GOT_META) && al_mention_meta(text, len, &mc->sp)) {
        /* a quote the words around ask to be acted on, or that stands alone
         * behind a label, is not a mention (al_mention_keep) */
        al_code c = AL_OK;
        for (size_t i = 0; c == AL_OK && i < mc->sp.n; i++)
            c = al_spans_push(&mc->kept, mc->sp.v[i].start, mc->sp.v[i].end, 1.0);
        mc->meta = c == AL_OK && al_mention_keep(text, len, &mc->kept) == AL_OK && mc->kept.n > 0;
    }
    mc->got |= GOT_META;
    return mc->meta;
}

/* An attack quoted where the words around the quotes speak of tests or
 * detection (a red-team case, a guard's unit test, a filter's pattern list)
 * is mentioned, not made: the injection and jailbreak findings that lie
 * inside a quoted span of such a prompt weigh nothing.  What the prompt says
 * outside its quotes, and an unquoted attack, still count. */
static void weigh_mentions(const char *text, size_t len, al_result *out, mention_ctx *mc)
{
    int any = 0;
    for (size_t i = 0; i < out->n && !any; i++) any = out->findings[i].weight > 0;
    if (!any || !mention_spans(mc, text, len)) return;
    /* every quote kept lies inside one of sp: with no weighing finding
     * inside a quote, the words around need not be read */
    any = 0;
    for (size_t i = 0; i < out->n && !any; i++) {
        const al_finding *f = &out->findings[i];
        any = f->weight > 0 && al_mention_inside(&mc->sp, f->start, f->end);
    }
    if (!any || !mention_meta(mc, text, len)) return;
    for (size_t i = 0; i < out->n; i++) {
        al_finding *f = &out->findings[i];
        if (f->weight > 0 && al_mention_inside(&mc->kept, f->start, f->end)) f->weight = 0;
    }
}

/* The classifier's probability for such a prompt, or for one that assigns
 * a quoted prompt to a code name (SYSTEM_PROMPT = """..."""), with what its
 * quotes hold left out (the marks stay), so that it judges the words around
 * them; p when memory runs out.  The rules still read inside the quotes of
 * a prompt definition. */
static double model_unquoted(const al_engine *e, const char *text, size_t len,
                             const mention_ctx *mc, double p)
{
    const al_spans *sp = mc->def ? &mc->sp : &mc->kept;
    al_buf b = {0};
    size_t at = 0;
    al_code c = AL_OK;
    for (size_t i = 0; c == AL_OK && i < sp->n; i++) {
        size_t s = sp->v[i].start, t = sp->v[i].end;
        unsigned char q = (unsigned char)text[s];
        size_t mark =
            q == 0xE2 || (t - s >= 6 && text[s + 1] == text[s] && text[s + 2] == text[s]) ? 3 : 1;
        c = al_buf_append(&b, text + at, s + mark - at);
        at = t - mark;
    }
    if (c == AL_OK) c = al_buf_append(&b, text + at, len - at);
    double u = c == AL_OK ? al_model_score(e->model, b.data ? b.data : "", b.len) : p;
    al_buf_free(&b);
    return u < p ? u : p;
}

al_code al_engine_scan(const al_engine *e, const al_policy *p, al_direction dir, const char *text,
                       size_t len, al_result *out)
{
    al_policy dflt;
    if (!p) {
        al_policy_default(&dflt);
        p = &dflt;
    }
    if (!e || !out || (!text && len)) return AL_EINVAL;
    if (!text) text = "";
    al_buf keep = out->text;
    al_finding *kf = out->findings;
    size_t kcap = out->cap;
    memset(out, 0, sizeof *out);
    out->text = keep;
    out->findings = kf;
    out->cap = kcap;
    al_buf_reset(&out->text);

    int any_norm = 0;
    al_matcher local, *m = matcher_get(e, &local);
    if (!m) return AL_ENOMEM;
    const unsigned char *active = active_rules(m, p, dir, &any_norm);
    if (!active) {
        matcher_put(m);
        return AL_ENOMEM;
    }
    al_cands cands = {0};
    al_buf norm = {0}; /* the normalised text, when the normalised pass ran */
    al_code c = collect(m, p, dir, text, len, active, any_norm, &cands, &norm);
    out->limit_hit = m->limit_hit;
    matcher_put(m);
    for (size_t i = 0; c == AL_OK && i < cands.n; i++) {
        const al_rule *r = &e->rules[cands.v[i].rule];
        al_finding f = {.rule = r->id,
                        .category = r->cat,
                        .entity = r->entity,
                        .start = cands.v[i].start,
                        .end = cands.v[i].end,
                        .action = al_rule_action(r, p, dir)};
        if (r->cat == AL_CAT_INJECTION || r->cat == AL_CAT_JAILBREAK) f.weight = r->weight;
        al_snap_utf8(text, len, &f.start, &f.end);
        c = push_finding(out, &f);
    }
    free(cands.v);
    if (c == AL_OK && dir == AL_AS_PROMPT && p->max_prompt_bytes && len > p->max_prompt_bytes &&
        p->prompt[AL_CAT_SANITIZE] != AL_ACT_ALLOW) {
        size_t s = p->max_prompt_bytes, end = len;
        al_snap_utf8(text, len, &s, &end);
        al_finding f = {.rule = oversize_rule,
                        .category = AL_CAT_SANITIZE,
                        .start = s,
                        .end = len,
                        .action = p->prompt[AL_CAT_SANITIZE]};
        c = push_finding(out, &f);
    }
    if (c != AL_OK) goto fail;
    al_findings_sort(out->findings, out->n);
    mention_ctx mc = {0};
    if (dir == AL_AS_PROMPT) weigh_mentions(text, len, out, &mc);

    /* score: each injection/jailbreak rule counts once, where it weighs */
    int scored = 0, block_hint = 0, other_block = 0;
    for (size_t i = 0; i < out->n; i++) {
        al_finding *f = &out->findings[i];
        if (f->category == AL_CAT_INJECTION || f->category == AL_CAT_JAILBREAK) {
            if (f->action == AL_ACT_BLOCK) block_hint = 1;
            int seen = 0;
            for (size_t j = 0; j < i && !seen; j++)
                seen = out->findings[j].rule == f->rule && out->findings[j].weight > 0;
            if (!seen) out->score += f->weight;
            scored = 1;
        } else if (f->action == AL_ACT_BLOCK) {
            other_block = 1;
        }
    }
    (void)scored;
    al_action inj =
        dir == AL_AS_PROMPT ? p->prompt[AL_CAT_INJECTION] : p->completion[AL_CAT_INJECTION];
    if (e->model && al_model_score && dir == AL_AS_PROMPT && inj != AL_ACT_ALLOW) {
        double prob = any_norm && al_model_score_normalized
                          ? al_model_score_normalized(e->model, text, len,
                                                      norm.data ? norm.data : "", norm.len)
                          : al_model_score(e->model, text, len);
        double assist = 0;
        if (al_model_thresholds) al_model_thresholds(e->model, NULL, &assist);
        if (prob >= assist && mention_spans(&mc, text, len) &&
            (mention_def(&mc, text, len) || mention_meta(&mc, text, len)))
            prob = model_unquoted(e, text, len, &mc, prob);
        out->model_score = prob;
        if (al_model_combine)
            out->score = al_model_combine(e->model, out->score, prob, p->model_threshold);
        if (inj == AL_ACT_BLOCK) block_hint = 1;
    }
    out->blocked = other_block || (block_hint && out->score >= p->block_threshold);
    al_spans_free(&mc.sp);
    al_spans_free(&mc.kept);

    al_buf_free(&norm);
    c = al_scrub_apply(e, p, text, len, out->findings, out->n, &out->text, &out->changed);
    if (c != AL_OK) goto fail;
    return AL_OK;
fail:
    al_buf_free(&norm);
    al_result_free(out);
    return c;
}

void al_result_free(al_result *r)
{
    if (!r) return;
    free(r->findings);
    al_buf_free(&r->text);
    memset(r, 0, sizeof *r);
}

/* ---- one rule alone (check-rules examples) ---- */

int al_rule_test(const al_engine *e, size_t rule, const char *text, size_t len, char *err,
                 size_t errlen)
{
    if (rule >= e->n) return -1;
    unsigned char *active = calloc(e->n, 1);
    if (!active) return -1;
    active[rule] = 1;
    const al_rule *r = &e->rules[rule];
    /* the examples test the JIT code, which scans run after a rule's first
     * JIT_AFTER attempts (the interpreter is PCRE2's reference) */
    if (r->re) (void)jit_code(r, 1);
    al_matcher m;
    al_cands cands = {0};
    al_code c = al_matcher_init(&m, e);
    if (c == AL_OK) {
        al_policy p;
        al_policy_default(&p);
        c = collect(&m, &p, AL_AS_PROMPT, text, len, active, r->normalized && !r->det, &cands,
                    NULL);
    }
    int limit = m.limit_hit;
    al_matcher_free(&m);
    free(active);
    size_t n = cands.n;
    free(cands.v);
    if (c != AL_OK || limit) {
        if (err && errlen) snprintf(err, errlen, "%s", limit ? "match limit hit" : al_strerror(c));
        return -1;
    }
    return n > 0;
}

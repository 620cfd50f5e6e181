/* model.c: the injection/jailbreak classifier: loads a model file (refusing a
 * foreign scheme, a bad checksum or a short body), scores normalised text in
 * one pass over hashed word and character n-grams plus a character language
 * model, and writes model files for training.  Pure; never logs text. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SHA256_Init/Update/Final, deprecated in OpenSSL 3 but kept by it: see
 * sha256() */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* builds of the scoring loops for CPUs with AVX2, BMI1 and BMI2 (m->fast) */
#define MODEL_FAST 1
#endif

#include "model.h"
#include "normalize.h"

struct al_model {
    unsigned dim_bits;
    double len_exp, bias, block, assist, target_fpr, adv_t, adv_k;
    double wscale;  /* 2^-wshift: a weight is wq[i] * wscale */
    double la, lb;  /* logit(assist), logit(block) */
    double adv_cap; /* highest probability the adversarial signal alone gives */
    int8_t *wq;     /* quantised weights: 256 KB at 18 bits stays in cache */
    uint8_t *lm;
    int fast; /* scoring takes score_feed_fast (set at load when the CPU has AVX2 and BMI2) */
};

/* ---- feature extraction: one pass over normalised bytes ---------------- */

typedef struct {
    uint64_t cwin;     /* last 8 bytes, newest in the low byte */
    unsigned nbytes;   /* bytes seen (whitespace runs as one), capped at AL_LM_WINDOW */
    uint64_t tok;      /* FNV-1a of the token being read */
    uint64_t prev_tok; /* hash of the previous token, 0 = none */
    int tok_cls;       /* class of the last byte: 0 space (or text start), 1 word, 2 punctuation */
    /* sinks: either sums over weights, or a feature vector */
    const al_model *m;
    const int8_t *wq; /* m's weights, or NULL */
    al_featvec *v;
    unsigned shift; /* 64 - dim_bits */
    uint64_t *seen; /* bitmap of indices counted so far, or NULL */
    /* or, for one whole text, the thread's stamps (see stamps_take): index i
     * is counted when stamp[i] == gen; taken at the text's first feed */
    int stamped;
    uint8_t *stamp;
    uint8_t gen;
    /* scoring: per group, count * ACC_COUNT + summed quantised weights
     * (integers, so exact whatever the order); training: counts in nw, nc */
    int64_t accw, accc;
    size_t nw, nc;
    int oom;
    /* character language model */
    const uint8_t *lm;
    uint32_t *lm_counts;
    /* the last two classes as lm index offsets: ctx = (c2 * C + c1) * C,
     * c1cc = c1 * C * C */
    uint32_t ctx, c1cc;
    uint8_t ring[AL_LM_WINDOW];
    unsigned rpos;
    uint32_t rsum, rbest;
    /* highest probability of a base64 payload decoded from the text */
    double p_enc;
    unsigned n_enc; /* payloads decoded so far (capped: bounded work per text) */
    int depth;      /* 1 while scoring a decoded payload: no further decoding */
} fstate;

/* Feature hashing is one multiplication per feature: the key (the last n
 * bytes, or a token's FNV-1a hash) times an odd constant per feature kind,
 * whose top dim_bits bits are the index (Fibonacci hashing). */
#define K_CHAR4 0x9e3779b97f4a7c15ULL
#define K_CHAR5 0xc2b2ae3d27d4eb4fULL
#define K_WORD 0xff51afd7ed558ccdULL
#define K_BIGRAM 0xc4ceb9fe1a85ec53ULL

/* token classes: 0 space, 1 word (ASCII letters, digits, _, any byte >= 0x80),
 * 2 punctuation (every other byte) */
static const uint8_t tok_cls[256] = {
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2,
    2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 1,
    2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* byte -> class: space 0, letters 1-26 (case folded), digits 27, non-ASCII 28,
 * punctuation groups 29-42, anything else 43 (3 more bytes: a gather reads
 * 4 at a time) */
static const uint8_t lm_cls[256 + 3] = {
    43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43, 43,
    43, 43, 43, 43, 43, 43, 43, 43, 0,  31, 32, 40, 41, 41, 41, 32, 35, 35, 40, 42, 30, 34, 29, 38,
    27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 33, 33, 37, 42, 37, 31, 41, 1,  2,  3,  4,  5,  6,  7,
    8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 36, 38, 36, 42, 39,
    32, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
    24, 25, 26, 36, 38, 36, 42, 43, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
};

int al_model_lm_class(unsigned char c)
{
    return lm_cls[c];
}

/* Bytes of the bitmap that makes each feature index count once per text. */
static size_t seen_bytes(unsigned dim_bits)
{
    return ((size_t)1 << dim_bits) / 8;
}

static void fs_init(fstate *s, const al_model *m, al_featvec *v, unsigned dim_bits, uint64_t *seen)
{
    memset(s, 0, sizeof *s);
    s->m = m;
    s->v = v;
    s->seen = seen;
    s->shift = 64 - dim_bits;
    s->lm = m ? m->lm : NULL;
    s->wq = m ? m->wq : NULL;
}

/* ---- the thread's stamps: which indices the text being scored has counted.
 * A whole text scored (al_model_score, each base64 payload) marks index i
 * counted by writing its generation into stamp[i], so nothing is cleared
 * between texts (a 32 KB bitmap zeroed per text cost more than a short
 * prompt's features): the table is zeroed only when the 8-bit generation
 * wraps, once per 255 texts.  One table per thread, 2^dim_bits bytes for the
 * largest dim_bits scored on it, freed when the thread exits.  A text takes
 * its generation at its first feed and keeps it to its score, and no other
 * text is scored on the thread in between (its base64 payloads are scored
 * before it is fed).  A stream keeps its own bitmap, since other texts are
 * scored between its pieces; so does al_model_extract, which looks up no
 * weights: there the 32 KB bitmap's cache hits beat the larger table. */
typedef struct {
    uint8_t *st;
    unsigned bits; /* st has 2^bits stamps */
    uint8_t gen;   /* the generation handed out last */
} stamp_table;

static pthread_once_t stamp_once = PTHREAD_ONCE_INIT;
static pthread_key_t stamp_key; /* frees a thread's table when it exits */
static int stamp_key_ok;
static __thread stamp_table *stamp_tls;

static void stamp_table_free(void *p)
{
    stamp_table *t = p;
    if (t == stamp_tls) stamp_tls = NULL;
    if (t) free(t->st);
    free(t);
}

static void stamp_key_init(void)
{
    stamp_key_ok = pthread_key_create(&stamp_key, stamp_table_free) == 0;
}

/* The calling thread's stamps for 2^dim_bits indices, with *gen set to a
 * generation none of them holds; NULL when memory runs out. */
static uint8_t *stamps_take(unsigned dim_bits, uint8_t *gen)
{
    stamp_table *t = stamp_tls;
    if (!t || t->bits < dim_bits) {
        if (!t) {
            pthread_once(&stamp_once, stamp_key_init);
            if (!stamp_key_ok || !(t = calloc(1, sizeof *t))) return NULL;
            if (pthread_setspecific(stamp_key, t)) {
                free(t);
                return NULL;
            }
            stamp_tls = t;
        }
        uint8_t *st = calloc(1, (size_t)1 << dim_bits);
        if (!st) return NULL;
        free(t->st);
        t->st = st;
        t->bits = dim_bits;
        t->gen = 0;
    }
    if (++t->gen == 0) { /* wrapped: stamps of 255 texts ago would look current */
        memset(t->st, 0, (size_t)1 << t->bits);
        t->gen = 1;
    }
    *gen = t->gen;
    return t->st;
}

/* A feature adds its weight and ACC_COUNT to its group's accumulator: the
 * sum stays within +-2^29 (127 times at most 2^22 distinct indices), the
 * count within 2^22, so both fit one int64 and split apart exactly.  2^30
 * is the smallest such unit, and it fits an add's 32-bit immediate. */
#define ACC_COUNT ((int64_t)1 << 30)

static void acc_split(int64_t acc, int64_t *sum, size_t *count)
{
    int64_t lo = acc & (ACC_COUNT - 1);
    if (lo >= ACC_COUNT / 2) lo -= ACC_COUNT;
    *sum = lo;
    *count = (size_t)((acc - lo) / ACC_COUNT);
}

/* Counts feature h once per text (presence, not frequency: repeating a
 * phrase a million times must not make a text look more like an attack).
 * The out-of-line form: token ends at a score and training's vectors. */
static void emit(fstate *s, uint64_t h, int is_char)
{
    uint32_t i = (uint32_t)(h >> s->shift);
    if (!s->v && !s->wq) return; /* language-model only pass */
    if (s->stamp) {
        if (s->stamp[i] == s->gen) return;
        s->stamp[i] = s->gen;
    } else if (s->seen) {
        uint64_t mask = 1ULL << (i & 63);
        if (s->seen[i >> 6] & mask) return;
        s->seen[i >> 6] |= mask;
    }
    if (!s->v) {
        if (is_char)
            s->accc += s->wq[i] + ACC_COUNT;
        else
            s->accw += s->wq[i] + ACC_COUNT;
        return;
    }
    if (is_char)
        s->nc++;
    else
        s->nw++;
    al_featvec *v = s->v;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        uint32_t *p = realloc(v->idx, cap * sizeof *p);
        if (!p) {
            s->oom = 1;
            return;
        }
        v->idx = p;
        v->cap = cap;
    }
    v->idx[v->n++] = is_char ? (i | AL_FEAT_CHAR) : i;
}

/* The features of the token that ends: the token and the bigram with the
 * one before it. */
#define TOKEN_KEY(tok, cls) ((tok) ^ (uint64_t)(cls))
#define BIGRAM_KEY(prev, t) (((prev)*0x9e3779b97f4a7c15ULL) ^ (t))

static void end_token(fstate *s)
{
    if (!s->tok_cls) return;
    uint64_t t = TOKEN_KEY(s->tok, s->tok_cls);
    emit(s, t * K_WORD, 0);
    if (s->prev_tok) emit(s, BIGRAM_KEY(s->prev_tok, t) * K_BIGRAM, 0);
    s->prev_tok = t | 1;
    s->tok_cls = 0;
}

/* The hot loop's 64-bit constants, read from memory: an x86 multiply or
 * cmov takes a memory operand, so a constant there costs neither a register
 * (the loop has too few) nor an instruction to load it. */
static const uint64_t k_char4 = K_CHAR4, k_char5 = K_CHAR5, k_fnv = 0x100000001b3ULL;
#ifdef MODEL_FAST
static const uint64_t k_word = K_WORD, k_bigram = K_BIGRAM; /* feat_block_fast's */
#endif
#if defined(__x86_64__) && defined(__GNUC__)
static const uint64_t k_zero = 0; /* what the asm's cmov drops a seen feature's weight to */
#endif

/* x * *k, with *k read by the multiply itself. */
static inline __attribute__((always_inline)) uint64_t mul_mem(uint64_t x, const uint64_t *k)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __asm__("imulq %1, %0" : "+r"(x) : "m"(*k));
    return x;
#else
    return x * *k;
#endif
}

/* One FNV-1a step, (tok ^ c) * k_fnv, in tok's register. */
static inline __attribute__((always_inline)) uint64_t fnv_step(uint64_t tok, uint64_t c)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __asm__("xorq %1, %0\n\timulq %2, %0" : "+r"(tok) : "r"(c), "m"(k_fnv) : "cc");
    return tok;
#else
    return (tok ^ c) * k_fnv;
#endif
}

/* A feature's contribution to its group's accumulator: its weight and
 * ACC_COUNT the first time index h >> shift is seen in the text, else 0.
 * h is the feature's hash product; the bitmap word is its top bits. */
static inline __attribute__((always_inline)) int64_t count_once(uint64_t *seen, const int8_t *wq,
                                                                uint64_t h, const unsigned shift)
{
    uint64_t i = h >> shift, *word = &seen[h >> (shift + 6)], bits = *word;
    int64_t w = wq[i] + ACC_COUNT;
#if defined(__x86_64__) && defined(__GNUC__)
    /* bts sets the bit and leaves its old value in the carry flag, and cmov
     * drops the weight of a feature seen before: two instructions where GCC
     * spends five shifts and masks and an and; the loop runs this twice per
     * byte */
    __asm__("btsq %q[i], %[bits]\n\tcmovcq %[zero], %[w]"
            : [bits] "+r"(bits), [w] "+r"(w)
            : [i] "r"(i), [zero] "m"(k_zero)
            : "cc");
#else
    w &= (int64_t)(((bits >> (i & 63)) & 1) - 1);
    bits |= 1ULL << (i & 63);
#endif
    *word = bits;
    return w;
}

/* count_once with stamps: index h >> shift is counted when st[i] == gen. */
static inline __attribute__((always_inline)) int64_t
count_stamp(uint8_t *st, uint8_t gen, const int8_t *wq, uint64_t h, const unsigned shift)
{
    uint64_t i = h >> shift;
    int64_t w = wq[i] + ACC_COUNT;
#if defined(__x86_64__) && defined(__GNUC__)
    /* compare and store straight to memory, and cmov: no shift or mask for
     * a bit's word and position */
    __asm__("cmpb %[g], %[s]\n\tmovb %[g], %[s]\n\tcmoveq %[zero], %[w]"
            : [w] "+r"(w), [s] "+m"(st[i])
            : [g] "q"(gen), [zero] "m"(k_zero)
            : "cc");
#else
    w &= -(int64_t)(st[i] != gen);
    st[i] = gen;
#endif
    return w;
}

/* A feature's contribution, with the stamps or the bitmap (stamped is a
 * constant at each call site). */
#define COUNT(h) (stamped ? count_stamp(st, gen, wq, (h), shift) : count_once(seen, wq, (h), shift))
/* The same for a feature whose index i is already known (i < 2^dim_bits):
 * count_stamp and count_once with i as h >> shift. */
#define COUNT_IX(i)                                                                                \
    (stamped ? count_stamp(st, gen, wq, (uint64_t)(i), 0) : count_once(seen, wq, (uint64_t)(i), 0))

enum { FEED_LM, FEED_SCORE, FEED_STAMP, FEED_VEC };

/* ASCII whitespace as a bit set over bytes 0..32: \t \n \v \f \r and space */
#define WS_MASK                                                                                    \
    ((1ULL << ' ') | (1ULL << '\t') | (1ULL << '\n') | (1ULL << '\v') | (1ULL << '\f') |           \
     (1ULL << '\r'))

/* One pass over normalised bytes; mode is a constant at each call site, so
 * each mode compiles to its own loop with the hot state in registers.
 * Training's vectors (FEED_VEC) and the language model's counts take this
 * loop whole; scoring takes it for a text's first 4 bytes, then runs
 * score_loop, which must count the same features in the same order.
 * FEED_SCORE counts a feature without a branch: an index already seen adds
 * 0 to its accumulator.  The language model's window needs no fill test:
 * surprisals are >= 0, so no partial window at the start sums more than
 * the first full one, and fs_lm_max reports 0 below a full window. */
static inline __attribute__((always_inline)) void
feed_loop(fstate *s, const unsigned char *p, size_t n, const int mode, const unsigned shift)
{
    uint64_t cwin = s->cwin, tok = s->tok, prev = s->prev_tok;
    unsigned nbytes = s->nbytes;
    int tcls = s->tok_cls;
    int64_t accw = s->accw, accc = s->accc;
    const int stamped = mode == FEED_STAMP, scoring = mode == FEED_SCORE || stamped;
    uint64_t *seen = s->seen;
    uint8_t *st = s->stamp, gen = s->gen;
    const int8_t *wq = s->wq;
    const uint8_t *lm = s->lm;
    uint32_t *counts = s->lm_counts;
    uint32_t ctx = s->ctx, c1cc = s->c1cc;
    unsigned rpos = s->rpos;
    uint32_t rsum = s->rsum, rbest = s->rbest;
    uint8_t ring[AL_LM_WINDOW];
    memcpy(ring, s->ring, sizeof ring);
    const unsigned char *end = p + n;
#define FEAT(h, ACC, IS_CHAR)                                                                      \
    do {                                                                                           \
        if (scoring) {                                                                             \
            ACC += COUNT(h);                                                                       \
        } else {                                                                                   \
            emit(s, h, IS_CHAR);                                                                   \
        }                                                                                          \
    } while (0)
    for (; p < end; p++) {
        unsigned c = *p;
        if (c <= ' ' && ((1ULL << c) & WS_MASK)) {
            if (!tcls) continue; /* runs of whitespace count as one space */
            c = ' ';
        }
        /* character language model: class trigram surprisal over a window */
        if (mode != FEED_VEC) {
            unsigned k = lm_cls[c];
            size_t ix = ctx + k;
            ctx = c1cc + k * AL_LM_CLASSES;
            c1cc = k * AL_LM_CLASSES * AL_LM_CLASSES;
            if (mode == FEED_LM && counts) counts[ix]++;
            if (scoring || lm) {
                uint8_t q = lm[ix];
                rsum += q - ring[rpos];
                ring[rpos] = q;
                rpos = rpos + 1 == AL_LM_WINDOW ? 0 : rpos + 1;
                rbest = rsum > rbest ? rsum : rbest;
            }
        }
        int cls = tok_cls[c];
        if (nbytes < AL_LM_WINDOW) nbytes++;
        if (mode == FEED_LM) {
            tcls = cls;
            continue;
        }
        /* character 4- and 5-grams (spaces included): in cross-validation
         * and leave-one-source-out they beat 3- and 5-grams */
        cwin = (cwin << 8) | c;
        if (nbytes < 5) { /* the text's first 4 bytes: no 5-gram yet */
            if (nbytes == 4) FEAT((cwin & 0xffffffffULL) * K_CHAR4, accc, 1);
        } else {
            FEAT((cwin & 0xffffffffULL) * K_CHAR4, accc, 1);
            FEAT((cwin & 0xffffffffffULL) * K_CHAR5, accc, 1);
        }
        /* word and punctuation tokens */
        if (cls != tcls) {
            if (tcls) {
                uint64_t t = TOKEN_KEY(tok, tcls);
                FEAT(t * K_WORD, accw, 0);
                if (prev) FEAT(BIGRAM_KEY(prev, t) * K_BIGRAM, accw, 0);
                prev = t | 1;
            }
            tcls = cls;
            tok = 0xcbf29ce484222325ULL;
        }
        tok = (tok ^ c) * 0x100000001b3ULL; /* a space's hash is never used */
    }
#undef FEAT
    s->cwin = cwin;
    s->tok = tok;
    s->prev_tok = prev;
    s->nbytes = nbytes;
    s->tok_cls = tcls;
    s->accw = accw;
    s->accc = accc;
    s->ctx = ctx;
    s->c1cc = c1cc;
    s->rpos = rpos;
    s->rsum = rsum;
    s->rbest = rbest;
    memcpy(s->ring, ring, sizeof ring);
}

/* Bytes of text score_loop takes at a time: its stack holds the block's
 * surprisals and, for a block with whitespace to fold, the folded copy. */
#define SCORE_BLOCK 2048
/* Fewer bytes than this take feed_loop (see fs_feed). */
#define SCORE_MIN 64

/* Whether p[0..n) reaches feed_loop's byte steps unchanged: no whitespace
 * but single spaces, and no space first when the last byte counted was a
 * space (sp).  Normalised text always is, but for where pieces meet.  s:
 * the scoring state (s->m->fast takes 32 bytes at a time first). */
#ifdef MODEL_FAST
/* plain_spaces' test of bytes [0, *ip) 32 at a time (AVX2, m->fast), *ip
 * left where the rest starts; 0 when a byte fails. */
__attribute__((target("avx2"))) static int plain_spaces_avx2(const unsigned char *p, size_t n,
                                                             size_t *ip)
{
    size_t i = 0;
    for (; i + 33 <= n; i += 32) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(p + i)),
                      y = _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 1));
        const __m256i sp1 = _mm256_set1_epi8(' '), d = _mm256_sub_epi8(x, _mm256_set1_epi8('\t'));
        __m256i bad = _mm256_and_si256(_mm256_cmpeq_epi8(x, sp1), _mm256_cmpeq_epi8(y, sp1));
        bad = _mm256_or_si256(bad, _mm256_cmpeq_epi8(_mm256_min_epu8(d, _mm256_set1_epi8(4)), d));
        if (_mm256_movemask_epi8(bad)) return 0;
    }
    *ip = i;
    return 1;
}
#endif

static int plain_spaces(const fstate *s, const unsigned char *p, size_t n, int sp)
{
    size_t i = 0;
    if (n && p[0] == ' ' && sp) return 0;
#ifdef MODEL_FAST
    if (s->m->fast && !plain_spaces_avx2(p, n, &i)) return 0;
#else
    (void)s;
#endif
#ifdef __SSE2__
    for (; i + 17 <= n; i += 16) {
        /* bytes i .. i+15 against their successors i+1 .. i+16 */
        const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i)),
                      y = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 1));
        const __m128i sp1 = _mm_set1_epi8(' '), d = _mm_sub_epi8(x, _mm_set1_epi8('\t'));
        __m128i bad = _mm_and_si128(_mm_cmpeq_epi8(x, sp1), _mm_cmpeq_epi8(y, sp1));
        bad = _mm_or_si128(bad, _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(4)), d)); /* \t-\r */
        if (_mm_movemask_epi8(bad)) return 0;
    }
#endif
    for (; i < n; i++) {
        if (p[i] != ' ' && p[i] <= ' ' && ((1ULL << p[i]) & WS_MASK)) return 0;
        if (p[i] == ' ' && i + 1 < n && p[i + 1] == ' ') return 0;
    }
    return 1;
}

/* Copies p[0..n) to out as feed_loop counts it: whitespace as a space,
 * a run of it as one, none first when sp.  Returns the bytes written. */
static size_t fold_spaces(const unsigned char *p, size_t n, int sp, unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = p[i];
        int ws = c <= ' ' && ((1ULL << c) & WS_MASK);
        if (ws && sp) continue;
        out[o++] = ws ? ' ' : (unsigned char)c;
        sp = ws;
    }
    return o;
}

/* Slides the window over surprisals q[0..n), where q[-AL_LM_WINDOW..0)
 * are the ones before: the window's sum moves by q[j] - q[j - WINDOW] at
 * each byte, and its best is kept.  Sums are at most 40 * 255, so eight
 * of them fit a vector of int16; a vector's eight running sums are its
 * differences' prefix sums plus the sum before it. */
static void lm_window(fstate *s, const uint8_t *q, size_t n)
{
    uint32_t rsum = s->rsum, rbest = s->rbest;
    const uint8_t *leaving = q - AL_LM_WINDOW; /* leaving[j]: the surprisal q[j] replaces */
    size_t j = 0;
#ifdef __SSE2__
    if (n >= 8) {
        const __m128i zero = _mm_setzero_si128();
        __m128i sum = _mm_set1_epi16((short)rsum), best = _mm_set1_epi16((short)rbest);
        for (; j + 8 <= n; j += 8) {
            __m128i in = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(const void *)(q + j)),
                                           zero),
                    out = _mm_unpacklo_epi8(
                        _mm_loadl_epi64((const __m128i *)(const void *)(leaving + j)), zero);
            __m128i d = _mm_sub_epi16(in, out);
            d = _mm_add_epi16(d, _mm_slli_si128(d, 2));
            d = _mm_add_epi16(d, _mm_slli_si128(d, 4));
            d = _mm_add_epi16(d, _mm_slli_si128(d, 8));
            __m128i v = _mm_add_epi16(sum, d);
            best = _mm_max_epi16(best, v);
            sum = _mm_shufflehi_epi16(v, 0xFF);
            sum = _mm_unpackhi_epi64(sum, sum); /* lane 7 everywhere */
        }
        best = _mm_max_epi16(best, _mm_srli_si128(best, 8));
        best = _mm_max_epi16(best, _mm_srli_si128(best, 4));
        best = _mm_max_epi16(best, _mm_srli_si128(best, 2));
        rsum = (uint16_t)_mm_cvtsi128_si32(sum);
        rbest = (uint16_t)_mm_cvtsi128_si32(best);
    }
#endif
    for (; j < n; j++) {
        rsum += q[j] - leaving[j];
        rbest = rsum > rbest ? rsum : rbest;
    }
    s->rsum = rsum;
    s->rbest = rbest;
}

#ifdef MODEL_FAST
/* lm_window 16 surprisals at a time (AVX2, m->fast): each 128-bit half's
 * prefix sums as lm_window's, the low half's total carried into the high
 * half.  Then lm_window's loops finish the rest. */
__attribute__((target("avx2"))) static void lm_window_avx2(fstate *s, const uint8_t *q, size_t n)
{
    const uint8_t *leaving = q - AL_LM_WINDOW;
    size_t j = 0;
    if (n >= 16) {
        __m256i sum = _mm256_set1_epi16((short)s->rsum), best = _mm256_set1_epi16((short)s->rbest);
        for (; j + 16 <= n; j += 16) {
            const __m256i in =
                _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(q + j)));
            const __m256i out =
                _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(leaving + j)));
            __m256i d = _mm256_sub_epi16(in, out);
            d = _mm256_add_epi16(d, _mm256_slli_si256(d, 2));
            d = _mm256_add_epi16(d, _mm256_slli_si256(d, 4));
            d = _mm256_add_epi16(d, _mm256_slli_si256(d, 8));
            __m256i last = _mm256_shufflehi_epi16(d, 0xFF);
            last = _mm256_unpackhi_epi64(last, last); /* each half's total everywhere in it */
            d = _mm256_add_epi16(d, _mm256_permute2x128_si256(last, last, 0x08));
            const __m256i v = _mm256_add_epi16(sum, d);
            best = _mm256_max_epi16(best, v);
            sum = _mm256_shufflehi_epi16(v, 0xFF);
            sum = _mm256_unpackhi_epi64(sum, sum);
            sum = _mm256_permute2x128_si256(sum, sum, 0x11); /* lane 15 everywhere */
        }
        __m128i b = _mm_max_epi16(_mm256_castsi256_si128(best), _mm256_extracti128_si256(best, 1));
        b = _mm_max_epi16(b, _mm_srli_si128(b, 8));
        b = _mm_max_epi16(b, _mm_srli_si128(b, 4));
        b = _mm_max_epi16(b, _mm_srli_si128(b, 2));
        s->rsum = (uint16_t)_mm_cvtsi128_si32(_mm256_castsi256_si128(sum));
        s->rbest = (uint16_t)_mm_cvtsi128_si32(b);
    }
    lm_window(s, q + j, n - j);
}
#endif

/* The language model's surprisal of each byte of p[0..n) (whitespace
 * folded) into q[0..n). */
static void lm_surprisals(fstate *s, const unsigned char *p, size_t n, uint8_t *q)
{
    const uint8_t *lm = s->lm;
    uint32_t ctx = s->ctx, c1cc = s->c1cc;
    /* a negative index counting up to 0: no end pointer to keep */
    p += n;
    q += n;
#pragma GCC unroll 4
    for (ptrdiff_t j = -(ptrdiff_t)n; j; j++) {
        unsigned k = lm_cls[p[j]];
        uint32_t ix = ctx + k;
        ctx = c1cc + k * AL_LM_CLASSES;
        c1cc = k * AL_LM_CLASSES * AL_LM_CLASSES;
        q[j] = lm[ix];
    }
    s->ctx = ctx;
    s->c1cc = c1cc;
}

#ifdef MODEL_FAST
/* lm_surprisals 32 bytes at a time (AVX2, m->fast), then the rest by it:
 * the bytes' classes by gathers (into k, after the two classes before),
 * then each byte's lm index from its class and the two before it in
 * vectors, and its surprisal by a gather.  A gather reads 4 bytes: lm_cls
 * and m->lm have 3 bytes of padding. */
__attribute__((target("avx2"))) static void lm_surprisals_avx2(fstate *s, const unsigned char *p,
                                                               size_t n, uint8_t *q)
{
    const size_t n32 = n & ~(size_t)31;
    if (n32) {
        const uint32_t C = AL_LM_CLASSES, c1 = s->c1cc / (C * C);
        uint8_t k[2 + SCORE_BLOCK]; /* k[j + 2]: the class of p[j] */
        k[0] = (uint8_t)((s->ctx - c1 * C) / (C * C));
        k[1] = (uint8_t)c1;
        const int *cls32 = (const int *)(const void *)lm_cls,
                  *lm32 = (const int *)(const void *)s->lm;
        const __m256i low8 = _mm256_set1_epi32(0xff),
                      order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        const __m256i m1 = _mm256_set1_epi32((int)C), m2 = _mm256_set1_epi32((int)(C * C));
        __m256i v[4];
        for (size_t j = 0; j < n32; j += 32) {
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) {
                const __m256i b = _mm256_cvtepu8_epi32(
                    _mm_loadl_epi64((const __m128i *)(const void *)(p + j + 8 * g)));
                v[g] = _mm256_and_si256(_mm256_i32gather_epi32(cls32, b, 1), low8);
            }
            __m256i pk = _mm256_packus_epi16(_mm256_packus_epi32(v[0], v[1]),
                                             _mm256_packus_epi32(v[2], v[3]));
            _mm256_storeu_si256((__m256i *)(void *)(k + 2 + j),
                                _mm256_permutevar8x32_epi32(pk, order));
        }
        for (size_t j = 0; j < n32; j += 32) {
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) {
                const uint8_t *kk = k + j + 8 * g;
                const __m256i a = _mm256_cvtepu8_epi32(
                                  _mm_loadl_epi64((const __m128i *)(const void *)kk)),
                              b = _mm256_cvtepu8_epi32(
                                  _mm_loadl_epi64((const __m128i *)(const void *)(kk + 1))),
                              c = _mm256_cvtepu8_epi32(
                                  _mm_loadl_epi64((const __m128i *)(const void *)(kk + 2)));
                const __m256i ix = _mm256_add_epi32(
                    _mm256_add_epi32(_mm256_mullo_epi32(a, m2), _mm256_mullo_epi32(b, m1)), c);
                v[g] = _mm256_and_si256(_mm256_i32gather_epi32(lm32, ix, 1), low8);
            }
            __m256i pk = _mm256_packus_epi16(_mm256_packus_epi32(v[0], v[1]),
                                             _mm256_packus_epi32(v[2], v[3]));
            _mm256_storeu_si256((__m256i *)(void *)(q + j), _mm256_permutevar8x32_epi32(pk, order));
        }
        const uint32_t k1 = k[n32 + 1], k2 = k[n32];
        s->ctx = (k2 * C + k1) * C;
        s->c1cc = k1 * C * C;
    }
    lm_surprisals(s, p + n32, n - n32, q + n32);
}
#endif

/* The hashed n-gram features of p[0..n) (whitespace folded, the text's
 * first 4 bytes already fed) into s's accumulators. */
static inline __attribute__((always_inline)) void
feat_block(fstate *s, const unsigned char *p, size_t n, const int stamped, const unsigned shift)
{
    uint64_t cwin = s->cwin, tok = s->tok, prev = s->prev_tok;
    int tcls = s->tok_cls;
    int64_t accc = s->accc, accw = s->accw;
    uint64_t *seen = s->seen;
    uint8_t *st = s->stamp, gen = s->gen;
    const int8_t *wq = s->wq;
    p += n;
    for (ptrdiff_t j = -(ptrdiff_t)n; j; j++) {
        unsigned c = p[j];
        int cls = tok_cls[c];
        cwin = (cwin << 8) | c;
        accc += COUNT(mul_mem(cwin & 0xffffffffULL, &k_char4));
        accc += COUNT(mul_mem(cwin & 0xffffffffffULL, &k_char5));
        if (cls != tcls) {
            if (tcls) {
                uint64_t t = TOKEN_KEY(tok, tcls);
                accw += COUNT(t * K_WORD);
                if (prev) accw += COUNT(BIGRAM_KEY(prev, t) * K_BIGRAM);
                prev = t | 1;
            }
            tcls = cls;
            tok = 0xcbf29ce484222325ULL;
        }
        tok = mul_mem(tok ^ c, &k_fnv);
    }
    s->cwin = cwin;
    s->tok = tok;
    s->prev_tok = prev;
    s->tok_cls = tcls;
    s->accc = accc;
    s->accw = accw;
}

#ifdef MODEL_FAST
/* Bytes of a block whose character n-gram indices feat_block_fast computes
 * at a time (two 4-byte indices per byte on its stack: 2 KB, the 4-grams'
 * FEAT_CHUNK first, then the 5-grams'). */
#define FEAT_CHUNK 256

/* The indices of the character 4- and 5-grams ending at 8 offsets, from
 * b[0..16) holding the 4 bytes before the first offset and the 12 from it:
 * lane l's key is b[l + 1 .. l + 4] (b[l + 4] the low byte), and b[l] above
 * it for the 5-gram.  A key times K is taken mod 2^64 as feed_loop's: its
 * top 32 bits are hi32(x * Klo) + x * Khi (+ y * Klo for the 5-gram's fifth
 * byte y), and the index their top dim_bits bits (cnt = shift - 32).  The
 * 4-grams' indices go to o[0..8), the 5-grams' to o[FEAT_CHUNK..+8). */
static inline __attribute__((always_inline, target("avx2,bmi,bmi2"))) void
hash8(const unsigned char *b, __m128i cnt, uint32_t *o)
{
    const __m256i sh4 = _mm256_setr_epi8(4, 3, 2, 1, 5, 4, 3, 2, 6, 5, 4, 3, 7, 6, 5, 4, 8, 7, 6, 5,
                                         9, 8, 7, 6, 10, 9, 8, 7, 11, 10, 9, 8);
    const __m256i sh5 = _mm256_setr_epi8(0, -128, -128, -128, 1, -128, -128, -128, 2, -128, -128,
                                         -128, 3, -128, -128, -128, 4, -128, -128, -128, 5, -128,
                                         -128, -128, 6, -128, -128, -128, 7, -128, -128, -128);
    const __m256i k4l = _mm256_set1_epi32((int)(uint32_t)K_CHAR4),
                  k4h = _mm256_set1_epi32((int)(uint32_t)(K_CHAR4 >> 32)),
                  k5l = _mm256_set1_epi32((int)(uint32_t)K_CHAR5),
                  k5h = _mm256_set1_epi32((int)(uint32_t)(K_CHAR5 >> 32));
    const __m256i B =
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)b));
    const __m256i x = _mm256_shuffle_epi8(B, sh4), y = _mm256_shuffle_epi8(B, sh5),
                  xo = _mm256_srli_epi64(x, 32);
    __m256i hi = _mm256_blend_epi32(_mm256_srli_epi64(_mm256_mul_epu32(x, k4l), 32),
                                    _mm256_mul_epu32(xo, k4l), 0xAA);
    const __m256i h4 = _mm256_add_epi32(hi, _mm256_mullo_epi32(x, k4h));
    hi = _mm256_blend_epi32(_mm256_srli_epi64(_mm256_mul_epu32(x, k5l), 32),
                            _mm256_mul_epu32(xo, k5l), 0xAA);
    const __m256i h5 = _mm256_add_epi32(_mm256_add_epi32(hi, _mm256_mullo_epi32(x, k5h)),
                                        _mm256_mullo_epi32(y, k5l));
    /* o[l] the 4-gram's, o[FEAT_CHUNK + l] the 5-gram's */
    _mm256_storeu_si256((__m256i *)(void *)o, _mm256_srl_epi32(h4, cnt));
    _mm256_storeu_si256((__m256i *)(void *)(o + FEAT_CHUNK), _mm256_srl_epi32(h5, cnt));
}

/* Per byte of x, its token class (tok_cls) + 1: 1 a space, 2 a word byte
 * (an ASCII letter or digit, '_' or any byte >= 0x80), 3 punctuation.  A
 * byte is a word byte when the bits of its high nibble's groups (hi_lut)
 * and of the groups its low nibble belongs to (lo_lut) meet.  Groups: 0x01
 * high nibble 3, low 0-9; 0x02 high 4 or 6, low 1-f; 0x04 high 5 or 7, low
 * 0-a; 0x08 high 5, low f ('_'); 0x10 high 8-f, any low. */
static inline __attribute__((always_inline, target("avx2,bmi,bmi2"))) __m256i cls32(__m256i x)
{
    const __m256i hi_lut =
                      _mm256_setr_epi8(0, 0, 0, 1, 2, 12, 2, 4, 16, 16, 16, 16, 16, 16, 16, 16, 0,
                                       0, 0, 1, 2, 12, 2, 4, 16, 16, 16, 16, 16, 16, 16, 16),
                  lo_lut = _mm256_setr_epi8(0x15, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17,
                                            0x17, 0x16, 0x12, 0x12, 0x12, 0x12, 0x1a, 0x15, 0x17,
                                            0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x16,
                                            0x12, 0x12, 0x12, 0x12, 0x1a),
                  nib = _mm256_set1_epi8(0x0f);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), nib),
                  lo = _mm256_and_si256(x, nib);
    const __m256i w = _mm256_min_epu8(
        _mm256_and_si256(_mm256_shuffle_epi8(hi_lut, hi), _mm256_shuffle_epi8(lo_lut, lo)),
        _mm256_set1_epi8(1));
    const __m256i sp =
        _mm256_and_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(' ')), _mm256_set1_epi8(2));
    return _mm256_sub_epi8(_mm256_set1_epi8(3), _mm256_or_si256(w, sp)); /* 3 - 1 or 3 - 2 */
}

/* p[k], loaded where a rare branch needs its value: feat_block_ix's loop
 * then tests ends[k] with one compare to memory instead of loading it into
 * a register (which GCC does to reuse the load) for every byte. */
static inline __attribute__((always_inline)) unsigned load_byte(const uint8_t *p, ptrdiff_t k)
{
    unsigned v;
    /* (not for clang, which refuses the whole-array memory operand) */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    __asm__("movzbl (%1,%2), %0" : "=r"(v) : "r"(p), "r"(k), "m"(*(const uint8_t(*)[])p));
#else
    v = p[k];
#endif
    return v;
}

/* ends[k] := 0 when q[k] has the token class of the byte before it (prev:
 * that byte's class for q[0]), else q[k]'s class + 1; k < m.  What
 * feat_block's loop looks up and compares per byte, decided in vectors:
 * whether a token ends there, and the class of the one that begins. */
static inline __attribute__((always_inline, target("avx2,bmi,bmi2"))) void
token_ends(const unsigned char *q, size_t m, int prev, uint8_t *ends)
{
    size_t k = 0;
    if (m >= 32) {
        /* the class before each byte: the vector before's last, then those
         * of the bytes before it in this vector */
        __m256i before = _mm256_set1_epi8((char)(prev + 1));
        for (; k + 32 <= m; k += 32) {
            const __m256i cur = cls32(_mm256_loadu_si256((const __m256i *)(const void *)(q + k)));
            const __m256i shifted =
                _mm256_alignr_epi8(cur, _mm256_permute2x128_si256(before, cur, 0x21), 15);
            _mm256_storeu_si256((__m256i *)(void *)(ends + k),
                                _mm256_andnot_si256(_mm256_cmpeq_epi8(cur, shifted), cur));
            before = cur;
        }
        prev = tok_cls[q[k - 1]];
    }
    for (; k < m; k++) {
        const int cls = tok_cls[q[k]];
        ends[k] = cls == prev ? 0 : (uint8_t)(cls + 1);
        prev = cls;
    }
}

/* feat_block for m->fast: per chunk of FEAT_CHUNK bytes, the character
 * n-grams' indices first (8 offsets at a time by hash8 where the 4 bytes
 * before and the 12 from an offset are in the block, else one by one as
 * feed_loop) and where tokens end (token_ends), then the one loop over the
 * bytes counts them and the tokens, in feat_block's order. */
static inline __attribute__((always_inline, target("avx2,bmi,bmi2"))) void
feat_block_ix(fstate *s, const unsigned char *p, size_t n, const int stamped, const unsigned shift)
{
    uint64_t cwin = s->cwin, tok = s->tok, prev = s->prev_tok;
    int tcls = s->tok_cls;
    int64_t accc = s->accc, accw = s->accw;
    uint64_t *seen = s->seen;
    uint8_t *st = s->stamp, gen = s->gen;
    const int8_t *wq = s->wq;
    const __m128i cnt = _mm_cvtsi32_si128((int)shift - 32);
    uint32_t ix[2 * FEAT_CHUNK]; /* byte j's 4-gram's index ix[j], 5-gram's ix[FEAT_CHUNK + j] */
    uint8_t ends[FEAT_CHUNK];    /* per byte: where a token ends, the next one's class + 1 */
    for (size_t base = 0; base < n; base += FEAT_CHUNK) {
        const size_t m = n - base < FEAT_CHUNK ? n - base : FEAT_CHUNK;
        const unsigned char *q = p + base;
        size_t j = 0;
        for (; j < m && base + j < 4; j++) { /* the 4 bytes before are (partly) in cwin */
            uint64_t cw = cwin << (8 * (j + 1));
            for (size_t k = 0; k <= j; k++) cw |= (uint64_t)q[k] << (8 * (j - k));
            ix[j] = (uint32_t)(((cw & 0xffffffffULL) * K_CHAR4) >> shift);
            ix[FEAT_CHUNK + j] = (uint32_t)(((cw & 0xffffffffffULL) * K_CHAR5) >> shift);
        }
        for (; j + 8 <= m && base + j + 12 <= n; j += 8) hash8(q + j - 4, cnt, ix + j);
        for (; j < m; j++) {
            const unsigned char *e = q + j; /* base + j >= 4 */
            const uint64_t x =
                (uint64_t)e[-3] << 24 | (uint64_t)e[-2] << 16 | (uint64_t)e[-1] << 8 | e[0];
            ix[j] = (uint32_t)((x * K_CHAR4) >> shift);
            ix[FEAT_CHUNK + j] = (uint32_t)(((x | (uint64_t)e[-4] << 32) * K_CHAR5) >> shift);
        }
        token_ends(q, m, tcls, ends);
        /* a negative index counting up to 0: no end pointer to keep */
        const unsigned char *const qe = q + m;
        const uint32_t *const ie = ix + m;
        const uint8_t *const ee = ends + m;
        for (ptrdiff_t k = -(ptrdiff_t)m; k; k++) {
            unsigned c = qe[k];
            accc += COUNT_IX(ie[k]);
            accc += COUNT_IX(ie[FEAT_CHUNK + k]);
            if (ee[k]) {
                if (tcls) {
                    uint64_t t = TOKEN_KEY(tok, tcls);
                    accw += COUNT(mul_mem(t, &k_word));
                    /* BIGRAM_KEY, its multiplier (K_CHAR4's value) from memory */
                    if (prev) accw += COUNT(mul_mem(mul_mem(prev, &k_char4) ^ t, &k_bigram));
                    prev = t | 1;
                }
                tcls = (int)load_byte(ee, k) - 1;
                tok = 0xcbf29ce484222325ULL;
            }
            tok = fnv_step(tok, c);
        }
    }
    /* the last 8 bytes, newest low, as feat_block leaves cwin */
    if (n >= 8) {
        uint64_t last;
        memcpy(&last, p + n - 8, 8);
        cwin = __builtin_bswap64(last);
    } else {
        for (size_t j = 0; j < n; j++) cwin = (cwin << 8) | p[j];
    }
    s->cwin = cwin;
    s->tok = tok;
    s->prev_tok = prev;
    s->tok_cls = tcls;
    s->accc = accc;
    s->accw = accw;
}

__attribute__((target("avx2,bmi,bmi2"))) static void
feat_block_fast(fstate *s, const unsigned char *p, size_t n, int stamped)
{
    /* the shipped size's shift a constant: no register or reload for it */
    if (s->shift == 64 - 18)
        stamped ? feat_block_ix(s, p, n, 1, 64 - 18) : feat_block_ix(s, p, n, 0, 64 - 18);
    else
        stamped ? feat_block_ix(s, p, n, 1, s->shift) : feat_block_ix(s, p, n, 0, s->shift);
}
#endif

/* FEED_SCORE, or FEED_STAMP when stamped, once the text has its first 4
 * bytes (score_feed feeds those to feed_loop): every byte then has both
 * character n-grams.  The same features in the same order as feed_loop (the
 * first feature at an index decides its group), on blocks with whitespace
 * already folded (plain_spaces, else fold_spaces), so the feature loop has
 * one branch that depends on the text: a token ends.  The language model runs over
 * the block first, into an array holding the last AL_LM_WINDOW surprisals
 * before the block's: the one leaving the window is a fixed distance back. */
static inline __attribute__((always_inline)) void
score_loop(fstate *s, const unsigned char *p, size_t n, const int stamped, const unsigned shift)
{
    size_t counted = 0;
    uint8_t q[AL_LM_WINDOW + SCORE_BLOCK];
    unsigned char folded[SCORE_BLOCK];
    /* the ring from its oldest entry (rpos) on */
    memcpy(q, s->ring + s->rpos, AL_LM_WINDOW - s->rpos);
    memcpy(q + AL_LM_WINDOW - s->rpos, s->ring, s->rpos);
    while (n) {
        size_t len = n < SCORE_BLOCK ? n : SCORE_BLOCK, blen = len;
        const unsigned char *b = p;
        if (!plain_spaces(s, p, len, !s->tok_cls)) {
            blen = fold_spaces(p, len, !s->tok_cls, folded);
            b = folded;
        }
        p += len;
        n -= len;
#ifdef MODEL_FAST
        if (s->m->fast) {
            lm_surprisals_avx2(s, b, blen, q + AL_LM_WINDOW);
            lm_window_avx2(s, q + AL_LM_WINDOW, blen);
        } else
#endif
        {
            lm_surprisals(s, b, blen, q + AL_LM_WINDOW);
            lm_window(s, q + AL_LM_WINDOW, blen);
        }
#ifdef MODEL_FAST
        if (s->m->fast)
            feat_block_fast(s, b, blen, stamped);
        else
#endif
            feat_block(s, b, blen, stamped, shift);
        counted += blen;
        memmove(q, q + blen, AL_LM_WINDOW);
    }
    s->nbytes = counted >= AL_LM_WINDOW - s->nbytes ? AL_LM_WINDOW : s->nbytes + (unsigned)counted;
    memcpy(s->ring, q, AL_LM_WINDOW);
    s->rpos = 0;
}

/* Scoring's fs_feed, with the stamps or the bitmap: the text's first 4
 * counted bytes (and any whitespace before them) one at a time, then the
 * rest in score_loop; a stream's pieces of a word or two cost less in
 * feed_loop than score_loop's setup. */
static inline __attribute__((always_inline)) void score_feed(fstate *s, const unsigned char *p,
                                                             size_t n, const int stamped)
{
    const int mode = stamped ? FEED_STAMP : FEED_SCORE;
    for (; n && s->nbytes < 4; p++, n--) feed_loop(s, p, 1, mode, s->shift);
    if (!n) return;
    int shipped = s->shift == 64 - 18; /* the shipped size: a constant shift */
    if (n < SCORE_MIN && shipped)
        feed_loop(s, p, n, mode, 64 - 18);
    else if (n < SCORE_MIN)
        feed_loop(s, p, n, mode, s->shift);
    else if (shipped)
        score_loop(s, p, n, stamped, 64 - 18);
    else
        score_loop(s, p, n, stamped, s->shift);
}

#ifdef MODEL_FAST
/* score_feed built for CPUs with AVX2, BMI1 and BMI2 (m->fast): the same
 * code, but three-operand shifts and VEX forms spare the feature loop its
 * register copies (callgrind: ~4% fewer instructions per byte scored). */
__attribute__((target("avx2,bmi,bmi2"))) static void
score_feed_fast(fstate *s, const unsigned char *p, size_t n, int stamped)
{
    if (stamped)
        score_feed(s, p, n, 1);
    else
        score_feed(s, p, n, 0);
}
#endif

/* Scoring's feed on the thread's stamps (stamped) or the stream's bitmap. */
static void score_feed_any(fstate *s, const unsigned char *p, size_t n, int stamped)
{
#ifdef MODEL_FAST
    if (s->m->fast) {
        score_feed_fast(s, p, n, stamped);
        return;
    }
#endif
    if (stamped)
        score_feed(s, p, n, 1);
    else
        score_feed(s, p, n, 0);
}

static void fs_feed(fstate *s, const unsigned char *p, size_t n)
{
    if (s->v) {
        feed_loop(s, p, n, FEED_VEC, s->shift);
    } else if (s->stamped) {
        if (s->oom) return;
        if (!s->stamp && !(s->stamp = stamps_take(64 - s->shift, &s->gen))) {
            s->oom = 1;
            return;
        }
        score_feed_any(s, p, n, 1);
    } else if (s->wq && s->seen) {
        score_feed_any(s, p, n, 0);
    } else {
        feed_loop(s, p, n, FEED_LM, s->shift);
    }
}

static double fs_lm_max(const fstate *s)
{
    return s->nbytes >= AL_LM_WINDOW ? s->rbest / (AL_LM_SCALE * AL_LM_WINDOW) : 0.0;
}

static double sigmoid(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

static double logit(double p)
{
    if (p < 1e-12) p = 1e-12;
    if (p > 1 - 1e-12) p = 1 - 1e-12;
    return log(p / (1 - p));
}

/* The adversarial-suffix signal raises p toward, but never past, a third of
 * the way into the assist band (in log-odds), where the classifier adds 0.3
 * to the score: an improbable run adds weight to other signals but never
 * blocks alone, nor with a single weak rule. */
static double adv_cap(double assist, double block)
{
    double la = logit(assist);
    return sigmoid(la + (logit(block) - la) / 3.0);
}

static double adv_merge(double adv_t, double adv_k, double cap, double p, double lm_max)
{
    if (!(lm_max > 0) || !(adv_k > 0)) return p;
    double pa = sigmoid(adv_k * (lm_max - adv_t));
    if (pa > cap) pa = cap;
    return pa > p ? pa : p;
}

double al_model_adv_merge(double adv_t, double adv_k, double assist, double block, double p,
                          double lm_max)
{
    return adv_merge(adv_t, adv_k, adv_cap(assist, block), p, lm_max);
}

/* Probability from a finished state (the token in progress is ended on a
 * copy, so s may continue). */
static double fs_prob(const al_model *m, const fstate *s0)
{
    fstate s = *s0;
    end_token(&s);
    double z = m->bias;
    int64_t sw, sc;
    size_t nw, nc;
    acc_split(s.accw, &sw, &nw);
    acc_split(s.accc, &sc, &nc);
    if (nw) z += (double)sw * m->wscale / pow((double)nw, m->len_exp);
    if (nc) z += (double)sc * m->wscale / pow((double)nc, m->len_exp);
    double p = adv_merge(m->adv_t, m->adv_k, m->adv_cap, sigmoid(z), fs_lm_max(&s));
    return s.p_enc > p ? s.p_enc : p;
}

/* ---- streaming: raw text is normalised in pieces that end after ASCII
 * whitespace, so normalisation never sees a split character or word ---- */

#define STREAM_HOLD_MAX 4096

struct al_model_stream {
    const al_model *m;
    fstate fs;
    al_buf pending; /* raw bytes not yet normalised */
    al_buf norm;    /* scratch */
    uint64_t *seen; /* features counted so far (fs.seen) */
    int oom;
};

static int is_ascii_space(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static int feed_piece(fstate *fs, al_buf *norm, const char *raw, size_t n);

/* ---- payloads hidden in base64: plausible runs are decoded and, when they
 * decode to text, scored like a prompt of their own ---------------------- */

#define B64_MIN 20          /* shortest run worth decoding (15 bytes of text) */
#define B64_DECODE_MAX 3072 /* bytes of a run's payload looked at */
#define B64_RUNS_MAX 32     /* payloads decoded and scored per text */

/* base64 digit values (both alphabets), -1 for any other byte */
static const signed char b64_tab[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, 62, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,
    7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48,
    49, 50, 51, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

static inline int b64_val(unsigned char c)
{
    return b64_tab[c];
}

static void score_b64_run(fstate *fs, const unsigned char *p, size_t n)
{
    if (n > B64_DECODE_MAX / 3 * 4) n = B64_DECODE_MAX / 3 * 4; /* what is decoded */
    unsigned char out[B64_DECODE_MAX];
    /* n <= 4096 digits decode to n * 3 / 4 <= sizeof out bytes; at least 90%
     * of them must be printable text, so stop at the first byte too many */
    size_t omax = n * 6 / 8, o = 0, bad = 0;
    if (omax < 15) return;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 6) | (uint32_t)b64_val(p[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            unsigned char c = (unsigned char)(acc >> bits);
            out[o++] = c;
            bad += !((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t' || c == '\r');
            if (bad * 10 > omax) return; /* binary, not hidden text */
        }
    }
    if (fs->n_enc >= B64_RUNS_MAX) return;
    fs->n_enc++;
    fstate sub;
    fs_init(&sub, fs->m, NULL, fs->m->dim_bits, NULL);
    sub.stamped = 1;
    sub.depth = 1;
    al_buf norm = {0};
    if (feed_piece(&sub, &norm, (const char *)out, o) == 0 && !sub.oom) {
        double p2 = fs_prob(fs->m, &sub);
        if (p2 > fs->p_enc) fs->p_enc = p2;
    }
    al_buf_free(&norm);
}

/* base64 digit kinds: 1 upper case, 2 lower case, 4 digit, 8 + / - _,
 * 0 not a base64 digit */
static const uint8_t b64_kind[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 8, 0, 8, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 8,
    0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

#ifdef __SSE2__
/* Bit k set when p[k] (k < 16) is not a base64 digit (b64_kind 0). */
static inline unsigned not_b64_16(const unsigned char *p)
{
    const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    const __m128i lo = _mm_or_si128(x, _mm_set1_epi8(0x20)); /* letters folded */
    const __m128i dl = _mm_sub_epi8(lo, _mm_set1_epi8('a')),
                  dd = _mm_sub_epi8(x, _mm_set1_epi8('0'));
    __m128i ok = _mm_cmpeq_epi8(_mm_min_epu8(dl, _mm_set1_epi8(25)), dl);          /* a-z, A-Z */
    ok = _mm_or_si128(ok, _mm_cmpeq_epi8(_mm_min_epu8(dd, _mm_set1_epi8(9)), dd)); /* 0-9 */
    ok = _mm_or_si128(ok, _mm_cmpeq_epi8(x, _mm_set1_epi8('+')));
    ok = _mm_or_si128(ok, _mm_cmpeq_epi8(x, _mm_set1_epi8('-')));
    ok = _mm_or_si128(ok, _mm_cmpeq_epi8(x, _mm_set1_epi8('/')));
    ok = _mm_or_si128(ok, _mm_cmpeq_epi8(x, _mm_set1_epi8('_')));
    return ~(unsigned)_mm_movemask_epi8(ok) & 0xFFFFu;
}
#endif

#ifdef MODEL_FAST
/* Bit k set when p[k] (k < 32) is a base64 digit (AVX2). */
__attribute__((target("avx2,bmi,bmi2"))) static inline uint32_t b64_digits32(const unsigned char *p)
{
    const __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)p);
    const __m256i lo = _mm256_or_si256(x, _mm256_set1_epi8(0x20)); /* letters folded */
    const __m256i dl = _mm256_sub_epi8(lo, _mm256_set1_epi8('a')),
                  dd = _mm256_sub_epi8(x, _mm256_set1_epi8('0'));
    __m256i ok = _mm256_cmpeq_epi8(_mm256_min_epu8(dl, _mm256_set1_epi8(25)), dl);
    ok = _mm256_or_si256(ok, _mm256_cmpeq_epi8(_mm256_min_epu8(dd, _mm256_set1_epi8(9)), dd));
    ok = _mm256_or_si256(ok, _mm256_cmpeq_epi8(x, _mm256_set1_epi8('+')));
    ok = _mm256_or_si256(ok, _mm256_cmpeq_epi8(x, _mm256_set1_epi8('-')));
    ok = _mm256_or_si256(ok, _mm256_cmpeq_epi8(x, _mm256_set1_epi8('/')));
    ok = _mm256_or_si256(ok, _mm256_cmpeq_epi8(x, _mm256_set1_epi8('_')));
    return (uint32_t)_mm256_movemask_epi8(ok);
}

/* al_model_b64_runs' block loop 64 bytes at a time (AVX2), from i with the
 * run carried in from *start; returns where it stopped.  The run the
 * block's first other byte ends is reported if long enough, then each run
 * of at least B64_MIN between its first and last other bytes (up to 3 fit),
 * in order; the digits after the last other byte begin the next run. */
__attribute__((target("avx2,bmi,bmi2"))) static size_t
b64_runs_avx2(const unsigned char *p, size_t n, size_t i, size_t *startp,
              void (*fn)(void *ud, size_t start, size_t end), void *ud)
{
    size_t start = *startp;
    for (; i + 64 <= n; i += 64) {
        const uint64_t dig = (uint64_t)b64_digits32(p + i) | (uint64_t)b64_digits32(p + i + 32)
                                                                 << 32,
                       nb = ~dig;
        if (!nb) continue;
        const unsigned first = (unsigned)__builtin_ctzll(nb),
                       last = 63u - (unsigned)__builtin_clzll(nb);
        if (i + first - start >= B64_MIN) fn(ud, start, i + first);
        /* bit k of r: digits at k .. k + 19, inside (first, last) */
        uint64_t r = dig & (dig >> 1);
        r &= r >> 2;
        r &= r >> 4;
        r &= r >> 8;
        r &= r >> 4;
        r &= ~((2ULL << first) - 1) & ((1ULL << last) - 1);
        while (r) {
            const unsigned k = (unsigned)__builtin_ctzll(r),
                           e = k + (unsigned)__builtin_ctzll(~(dig >> k)); /* e <= last */
            fn(ud, i + k, i + e);
            r &= ~((1ULL << e) - 1);
        }
        start = i + last + 1;
    }
    *startp = start;
    return i;
}
#endif

void al_model_b64_runs(const unsigned char *p, size_t n, int simd,
                       void (*fn)(void *ud, size_t start, size_t end), void *ud)
{
    size_t start = 0; /* where the run of digits up to p[i] began */
    size_t i = 0;
#ifdef MODEL_FAST
    if (simd == 1 && n >= 64 && al_cpu_avx2_bmi()) i = b64_runs_avx2(p, n, 0, &start, fn, ud);
#endif
#ifdef __SSE2__
    /* 16 bytes at a time: of the runs a block's other bytes end, only the
     * first can reach B64_MIN (it may have begun in an earlier block; the
     * others are shorter than the block), and the digits after the last
     * other byte begin the next run */
    for (; simd && i + 16 <= n; i += 16) {
        unsigned nb = not_b64_16(p + i);
        if (!nb) continue;
        size_t end = i + (unsigned)__builtin_ctz(nb);
        if (end - start >= B64_MIN) fn(ud, start, end);
        start = i + 32 - (unsigned)__builtin_clz(nb);
    }
#endif
    /* the rest byte by byte with a branch-free run length (short texts and
     * a stream's pieces are mostly this loop), first ending the run carried
     * in if it is already long enough */
    size_t run = i - start;
    if (run >= B64_MIN) {
        size_t j = i;
        while (j < n && b64_kind[p[j]]) j++;
        fn(ud, start, j);
        i = j;
        run = 0;
    }
    for (; i < n; i++) {
        run = (run + 1) & (size_t) - (b64_kind[p[i]] != 0);
        if (run < B64_MIN) continue;
        size_t j = i + 1;
        while (j < n && b64_kind[p[j]]) j++;
        fn(ud, i + 1 - run, j);
        i = j; /* p[j] is not base64 (or j == n) */
        run = 0;
    }
}

/* b64_kind of every byte of p[0..n) or'ed together. */
static unsigned b64_kinds(const unsigned char *p, size_t n)
{
    unsigned kinds = 0;
    size_t j = 0;
#ifdef __SSE2__
    if (n >= 16) {
        /* 16 bytes at a time, the last 16 overlapping the ones before */
        __m128i up = _mm_setzero_si128(), lo = up, dg = up;
        for (;; j += 16) {
            if (j + 16 > n) j = n - 16;
            const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + j));
            const __m128i du = _mm_sub_epi8(x, _mm_set1_epi8('A')),
                          dl = _mm_sub_epi8(x, _mm_set1_epi8('a')),
                          dd = _mm_sub_epi8(x, _mm_set1_epi8('0'));
            up = _mm_or_si128(up, _mm_cmpeq_epi8(_mm_min_epu8(du, _mm_set1_epi8(25)), du));
            lo = _mm_or_si128(lo, _mm_cmpeq_epi8(_mm_min_epu8(dl, _mm_set1_epi8(25)), dl));
            dg = _mm_or_si128(dg, _mm_cmpeq_epi8(_mm_min_epu8(dd, _mm_set1_epi8(9)), dd));
            if (j + 16 == n) break;
        }
        return (_mm_movemask_epi8(up) ? 1u : 0) | (_mm_movemask_epi8(lo) ? 2u : 0) |
               (_mm_movemask_epi8(dg) ? 4u : 0);
    }
#endif
    for (; j < n; j++) kinds |= b64_kind[p[j]];
    return kinds & 7;
}

typedef struct {
    fstate *fs;
    const unsigned char *p;
} b64_ctx;

static void b64_found(void *ud, size_t start, size_t end)
{
    b64_ctx *c = ud;
    unsigned kinds = b64_kinds(c->p + start, end - start);
    if (kinds & (kinds - 1)) score_b64_run(c->fs, c->p + start, end - start);
}

/* Scores every maximal run of at least B64_MIN base64 bytes that mixes at
 * least two of upper case, lower case and digits (a long word or a path in
 * one case is not base64).  Prose never reaches the callback. */
static void scan_b64(fstate *fs, const unsigned char *p, size_t n)
{
    b64_ctx c = {fs, p};
    al_model_b64_runs(p, n, 1, b64_found, &c);
}

/* Normalises raw[0..n) and feeds it; a piece that ended in whitespace is
 * followed by one space (the extractor folds runs), so pieces join as whole
 * text would.  Base64 runs never span pieces (pieces end at whitespace). */
static int feed_piece(fstate *fs, al_buf *norm, const char *raw, size_t n)
{
    if (fs->m && !fs->depth) scan_b64(fs, (const unsigned char *)raw, n);
    al_buf_reset(norm);
    if (n && al_normalize(raw, n, norm, NULL, NULL) != AL_OK) return -1;
    fs_feed(fs, (const unsigned char *)norm->data, norm->len);
    if (n && is_ascii_space((unsigned char)raw[n - 1])) fs_feed(fs, (const unsigned char *)" ", 1);
    return 0;
}

/* Start of an incomplete UTF-8 sequence at the end of p[0..n), or n. */
static size_t utf8_safe_cut(const unsigned char *p, size_t n)
{
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && (p[i - 1] & 0xC0) == 0x80) i--, back++;
    if (i == 0) return n;
    unsigned char lead = p[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return back + 1 < need ? i - 1 : n;
}

al_model_stream *al_model_stream_new(const al_model *m)
{
    if (!m) return NULL;
    al_model_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->m = m;
    s->seen = calloc(1, seen_bytes(m->dim_bits));
    if (!s->seen) {
        free(s);
        return NULL;
    }
    fs_init(&s->fs, m, NULL, m->dim_bits, s->seen);
    return s;
}

al_code al_model_stream_feed(al_model_stream *s, const char *text, size_t len)
{
    if (!s || (!text && len)) return AL_EINVAL;
    if (s->oom) return AL_ENOMEM;
    if (len == 0) return AL_OK;
    if (al_buf_append(&s->pending, text, len) != AL_OK) return s->oom = 1, AL_ENOMEM;
    const unsigned char *p = (const unsigned char *)s->pending.data;
    /* pending held no whitespace before this call: look only at the new bytes */
    size_t n = s->pending.len, cut = n;
    while (cut > n - len && !is_ascii_space(p[cut - 1])) cut--;
    if (cut == n - len) cut = 0;
    if (cut == 0 && n > STREAM_HOLD_MAX) cut = utf8_safe_cut(p, n);
    if (cut == 0) return AL_OK;
    if (feed_piece(&s->fs, &s->norm, s->pending.data, cut)) return s->oom = 1, AL_ENOMEM;
    al_buf_consume(&s->pending, cut);
    return AL_OK;
}

double al_model_stream_score(al_model_stream *s)
{
    if (!s) return 0.0;
    /* score a copy (state and bitmap), so the stream can be fed on */
    size_t sb = seen_bytes(s->m->dim_bits);
    uint64_t *seen = malloc(sb);
    if (!seen) return 0.0;
    memcpy(seen, s->seen, sb);
    fstate fs = s->fs;
    fs.seen = seen;
    double p = 0.0;
    if (!s->pending.len || !feed_piece(&fs, &s->norm, s->pending.data, s->pending.len))
        p = fs_prob(s->m, &fs);
    free(seen);
    return p;
}

void al_model_stream_free(al_model_stream *s)
{
    if (!s) return;
    al_buf_free(&s->pending);
    al_buf_free(&s->norm);
    free(s->seen);
    free(s);
}

double al_model_score(const al_model *m, const char *text, size_t len)
{
    if (!m || !text) return 0.0;
    al_model_stream s = {.m = m};
    fs_init(&s.fs, m, NULL, m->dim_bits, NULL);
    s.fs.stamped = 1;
    /* out of memory: no classifier signal, the rules still run */
    double p = feed_piece(&s.fs, &s.norm, text, len) || s.fs.oom ? 0.0 : fs_prob(m, &s.fs);
    al_buf_free(&s.norm);
    return p;
}

double al_model_score_normalized(const al_model *m, const char *text, size_t len, const char *norm,
                                 size_t nlen)
{
    if (!m || !text || (!norm && nlen)) return 0.0;
    fstate fs;
    fs_init(&fs, m, NULL, m->dim_bits, NULL);
    fs.stamped = 1;
    /* what feed_piece does, with the normalisation already done */
    if (len) {
        scan_b64(&fs, (const unsigned char *)text, len);
        fs_feed(&fs, (const unsigned char *)norm, nlen);
        if (is_ascii_space((unsigned char)text[len - 1]))
            fs_feed(&fs, (const unsigned char *)" ", 1);
    }
    return fs.oom ? 0.0 : fs_prob(m, &fs);
}

/* ---- training helpers -------------------------------------------------- */

al_code al_model_extract(const char *text, size_t len, unsigned dim_bits, al_featvec *v)
{
    if (!v || dim_bits < 10 || dim_bits > 22) return AL_EINVAL;
    v->n = v->n_word = v->n_char = 0;
    uint64_t *seen = calloc(1, seen_bytes(dim_bits));
    if (!seen) return AL_ENOMEM;
    fstate fs;
    fs_init(&fs, NULL, v, dim_bits, seen);
    al_buf norm = {0};
    int bad = feed_piece(&fs, &norm, text, len);
    al_buf_free(&norm);
    end_token(&fs);
    free(seen);
    if (bad || fs.oom) return AL_ENOMEM;
    v->n_word = fs.nw;
    v->n_char = fs.nc;
    return AL_OK;
}

void al_featvec_free(al_featvec *v)
{
    if (!v) return;
    free(v->idx);
    memset(v, 0, sizeof *v);
}

al_code al_model_lm_count(const char *text, size_t len, uint32_t *counts)
{
    fstate fs;
    fs_init(&fs, NULL, NULL, 18, NULL);
    fs.lm_counts = counts;
    al_buf norm = {0};
    int bad = feed_piece(&fs, &norm, text, len);
    al_buf_free(&norm);
    return bad ? AL_ENOMEM : AL_OK;
}

double al_model_lm_max(const uint8_t *lm, const char *text, size_t len)
{
    fstate fs;
    fs_init(&fs, NULL, NULL, 18, NULL);
    fs.lm = lm;
    al_buf norm = {0};
    int bad = feed_piece(&fs, &norm, text, len);
    al_buf_free(&norm);
    return bad ? 0.0 : fs_lm_max(&fs);
}

/* ---- the model file ---------------------------------------------------- */

static void seterr(char *err, size_t errlen, const char *fmt, const char *path, const char *what)
{
    if (err && errlen) snprintf(err, errlen, fmt, path, what);
}

static size_t body_size(unsigned dim_bits)
{
    return ((size_t)1 << dim_bits) + AL_LM_SIZE;
}

/* Largest shift e <= AL_WSHIFT_MAX with every |w| * 2^e <= 127. */
static int quant_shift(const float *w, size_t n)
{
    double mx = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(w[i]) > mx) mx = fabs(w[i]);
    int e = AL_WSHIFT_MAX;
    while (e > 0 && mx * ldexp(1.0, e) > 127.0) e--;
    return e;
}

static int8_t quant_one(float w, int e)
{
    double q = nearbyint((double)w * ldexp(1.0, e));
    return (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
}

int al_model_quantize(float *w, size_t n)
{
    int e = quant_shift(w, n);
    for (size_t i = 0; i < n; i++) w[i] = (float)ldexp(quant_one(w[i], e), -e);
    return e;
}

/* The SHA-256 of d[0..n) into dg.  The low-level functions, not SHA256():
 * OpenSSL 3's one-shot goes through EVP_Q_digest, which on a process's
 * first digest reads the OpenSSL configuration and sets up the default
 * provider (5.3 million instructions, 10-14 ms here) in every program the
 * shim is preloaded into that has not used OpenSSL yet; these hash the
 * same bytes with the same code and none of that. */
static void sha256(const void *d, size_t n, unsigned char dg[SHA256_DIGEST_LENGTH])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, d, n);
    SHA256_Final(dg, &c);
}

al_code al_model_write(const al_model_params *p, const char *path, char *err, size_t errlen)
{
    if (!p || !p->w || !p->lm || p->dim_bits < 10 || p->dim_bits > 22) {
        seterr(err, errlen, "%s: %s", path, "invalid model parameters");
        return AL_EINVAL;
    }
    size_t nw = (size_t)1 << p->dim_bits;
    int e = quant_shift(p->w, nw);
    al_buf b = {0};
    al_code rc =
        al_buf_printf(&b,
                      "scheme %s\ndim_bits %u\nlen_exp %.17g\nbias %.17g\nblock %.17g\n"
                      "assist %.17g\ntarget_fpr %.17g\nadv_t %.17g\nadv_k %.17g\n"
                      "lm %d %d %.17g\nwshift %d\nnote %s\nbody %zu\n\n",
                      AL_MODEL_SCHEME, p->dim_bits, p->len_exp, p->bias, p->block, p->assist,
                      p->target_fpr, p->adv_t, p->adv_k, AL_LM_CLASSES, AL_LM_WINDOW, AL_LM_SCALE,
                      e, p->note ? p->note : "-", body_size(p->dim_bits));
    if (rc == AL_OK) rc = al_buf_reserve(&b, body_size(p->dim_bits));
    if (rc != AL_OK) {
        al_buf_free(&b);
        seterr(err, errlen, "%s: %s", path, "out of memory");
        return AL_ENOMEM;
    }
    for (size_t i = 0; i < nw; i++) {
        b.data[b.len++] = (char)(unsigned char)quant_one(p->w[i], e);
    }
    memcpy(b.data + b.len, p->lm, AL_LM_SIZE);
    b.len += AL_LM_SIZE;
    unsigned char dg[SHA256_DIGEST_LENGTH];
    sha256(b.data, b.len, dg);
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) snprintf(hex + 2 * i, 3, "%02x", dg[i]);
    FILE *f = fopen(path, "wb");
    int ok = f && fprintf(f, "%ssha256 %s\n", AL_MODEL_MAGIC, hex) > 0 &&
             fwrite(b.data, 1, b.len, f) == b.len;
    if (f && fclose(f) != 0) ok = 0;
    al_buf_free(&b);
    if (!ok) {
        seterr(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return AL_EIO;
    }
    return AL_OK;
}

#define MODEL_FILE_MAX ((size_t)64 << 20)

static int read_file(const char *path, al_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (out->len + n > MODEL_FILE_MAX || al_buf_append(out, tmp, n) != AL_OK) {
            fclose(f);
            return -2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    return bad ? -1 : 0;
}

/* Finds "key value" among the header lines hdr[0..n); returns the value
 * (up to the newline) copied into v, or NULL. */
static const char *hdr_get(const char *hdr, size_t n, const char *key, char *v, size_t vlen)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(hdr + i, '\n', n - i);
        size_t ll = nl ? (size_t)(nl - (hdr + i)) : n - i;
        if (ll > kl && !memcmp(hdr + i, key, kl) && hdr[i + kl] == ' ') {
            size_t vl = ll - kl - 1;
            if (vl >= vlen) vl = vlen - 1;
            memcpy(v, hdr + i + kl + 1, vl);
            v[vl] = 0;
            return v;
        }
        i += ll + 1;
    }
    return NULL;
}

static int hdr_num(const char *hdr, size_t n, const char *key, double *out)
{
    char v[128], *end;
    if (!hdr_get(hdr, n, key, v, sizeof v)) return -1;
    errno = 0;
    *out = strtod(v, &end);
    return (end == v || *end || errno || !isfinite(*out)) ? -1 : 0;
}

al_code al_model_load(const char *path, al_model **out, char *err, size_t errlen)
{
    if (!out) return AL_EINVAL;
    *out = NULL;
    if (!path) return AL_EINVAL;
    al_buf f = {0};
    int r = read_file(path, &f);
    if (r) {
        al_buf_free(&f);
        if (r == -2)
            seterr(err, errlen, "%s: %s", path, "model file larger than 64 MB");
        else
            seterr(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return r == -2 ? AL_EMODEL : AL_EIO;
    }
    const char *why = NULL;
    size_t ml = strlen(AL_MODEL_MAGIC);
    const char *d = f.data;
    char v[256];
    al_model *m = NULL;
    if (f.len < ml || memcmp(d, AL_MODEL_MAGIC, ml)) {
        why = "not an airlock model file (bad magic line)";
        goto fail;
    }
    /* "sha256 <64 hex>\n" then the covered part */
    size_t sl = 7 + 64 + 1;
    if (f.len < ml + sl || memcmp(d + ml, "sha256 ", 7) || d[ml + sl - 1] != '\n') {
        why = "truncated or corrupt header (no checksum line)";
        goto fail;
    }
    const char *cov = d + ml + sl;
    size_t covlen = f.len - ml - sl;
    unsigned char dg[SHA256_DIGEST_LENGTH];
    sha256(cov, covlen, dg);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        char h[3];
        snprintf(h, 3, "%02x", dg[i]);
        if (memcmp(h, d + ml + 7 + 2 * i, 2)) {
            why = "checksum mismatch (file truncated or corrupt)";
            goto fail;
        }
    }
    const char *end = NULL;
    for (size_t i = 0; i + 1 < covlen; i++)
        if (cov[i] == '\n' && cov[i + 1] == '\n') {
            end = cov + i + 2;
            break;
        }
    if (!end) {
        why = "header not terminated";
        goto fail;
    }
    size_t hl = (size_t)(end - cov);
    if (!hdr_get(cov, hl, "scheme", v, sizeof v) || strcmp(v, AL_MODEL_SCHEME)) {
        why = "feature scheme is not " AL_MODEL_SCHEME " (model from another airlock version?)";
        goto fail;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        why = "out of memory";
        goto fail;
    }
    double dim, body, lmc, lmw, lms, wsh;
    char lmv[128];
    if (hdr_num(cov, hl, "dim_bits", &dim) || dim < 10 || dim > 22 || dim != (int)dim ||
        hdr_num(cov, hl, "len_exp", &m->len_exp) || hdr_num(cov, hl, "bias", &m->bias) ||
        hdr_num(cov, hl, "block", &m->block) || hdr_num(cov, hl, "assist", &m->assist) ||
        hdr_num(cov, hl, "target_fpr", &m->target_fpr) || hdr_num(cov, hl, "adv_t", &m->adv_t) ||
        hdr_num(cov, hl, "adv_k", &m->adv_k) || hdr_num(cov, hl, "body", &body) ||
        hdr_num(cov, hl, "wshift", &wsh) || wsh < 0 || wsh > AL_WSHIFT_MAX || wsh != (int)wsh ||
        !hdr_get(cov, hl, "lm", lmv, sizeof lmv) ||
        sscanf(lmv, "%lf %lf %lf", &lmc, &lmw, &lms) != 3) {
        why = "missing or malformed header field";
        goto fail;
    }
    if (lmc != AL_LM_CLASSES || lmw != AL_LM_WINDOW || lms != AL_LM_SCALE) {
        why = "character language model layout differs from this build";
        goto fail;
    }
    if (!(m->block > 0 && m->block < 1) || !(m->assist > 0 && m->assist <= m->block)) {
        why = "thresholds out of range";
        goto fail;
    }
    if (!(m->len_exp >= 0 && m->len_exp <= 2) || !(m->adv_k >= 0 && m->adv_k <= 100) ||
        !(m->adv_t >= 0 && m->adv_t <= 32) || !(fabs(m->bias) <= 1e6)) {
        why = "parameter out of range";
        goto fail;
    }
    m->dim_bits = (unsigned)dim;
    m->la = logit(m->assist);
    m->lb = logit(m->block);
    m->adv_cap = adv_cap(m->assist, m->block);
    size_t bs = body_size(m->dim_bits);
    if (body != (double)bs || (size_t)(f.data + f.len - end) != bs) {
        why = "body size does not match the header";
        goto fail;
    }
    size_t nw = (size_t)1 << m->dim_bits;
    m->wscale = ldexp(1.0, -(int)wsh);
    m->wq = malloc(nw * sizeof *m->wq);
    m->lm = malloc(AL_LM_SIZE + 3); /* + 3: lm_surprisals_avx2's gathers read 4 bytes */
    if (!m->wq || !m->lm) {
        why = "out of memory";
        goto fail;
    }
    const unsigned char *bp = (const unsigned char *)end;
    if (memchr(bp, 0x80, nw)) { /* INT8_MIN: quantised weights are -127..127 */
        why = "weight out of range";
        goto fail;
    }
    memcpy(m->wq, bp, nw);
    memcpy(m->lm, bp + nw, AL_LM_SIZE);
    memset(m->lm + AL_LM_SIZE, 0, 3);
#ifdef MODEL_FAST
    m->fast = al_cpu_avx2_bmi();
#endif
    al_buf_free(&f);
    *out = m;
    return AL_OK;
fail:
    al_buf_free(&f);
    al_model_free(m);
    seterr(err, errlen, "%s: model refused: %s", path, why);
    return AL_EMODEL;
}

/* For tests: whether scoring may take score_feed_fast (on: only when the CPU
 * has AVX2, BMI1 and BMI2); returns whether it will. */
int al_model_simd(al_model *m, int on)
{
    m->fast = 0;
#ifdef MODEL_FAST
    m->fast = on && al_cpu_avx2_bmi();
#endif
    return m->fast;
}

/* For tests: the scoring state after feeding text[0..n) (taken as already
 * normalised) in pieces of at most piece bytes to m's current loops, on the
 * thread's stamps or (bitmap) a stream's bitmap (0 sums if it cannot be had):
 * out[0] the language model's best window sum, out[1] and out[2] the word
 * and character accumulators. */
void al_model_probe(const al_model *m, const char *text, size_t n, size_t piece, int bitmap,
                    int64_t out[3])
{
    uint64_t *seen = bitmap ? calloc(1, seen_bytes(m->dim_bits)) : NULL;
    fstate fs;
    fs_init(&fs, m, NULL, m->dim_bits, seen);
    fs.stamped = !seen;
    for (size_t i = 0; i < n; i += piece)
        fs_feed(&fs, (const unsigned char *)text + i, n - i < piece ? n - i : piece);
    out[0] = fs.rbest;
    out[1] = fs.accw;
    out[2] = fs.accc;
    free(seen);
}

void al_model_free(al_model *m)
{
    if (!m) return;
    free(m->wq);
    free(m->lm);
    free(m);
}

void al_model_thresholds(const al_model *m, double *block, double *assist)
{
    if (block) *block = m ? m->block : 1.0;
    if (assist) *assist = m ? m->assist : 1.0;
}

/* At p >= block the classifier adds 1.0 (it blocks alone at the default
 * block_threshold); between assist and block it adds a weight rising
 * linearly in log-odds from 0 to 0.9, so a weak rule and a fairly confident
 * classifier together can block.  A policy threshold moves both points
 * together, keeping their log-odds gap. */
double al_model_combine(const al_model *m, double rules_score, double p, double threshold)
{
    if (!m) return rules_score;
    double lb = m->lb, la = m->la;
    if (threshold > 0 && threshold < 1) {
        double nb = logit(threshold);
        la += nb - lb;
        lb = nb;
    }
    double lp = logit(p), c = 0.0;
    if (lp >= lb)
        c = 1.0;
    else if (lp > la && lb > la)
        c = 0.9 * (lp - la) / (lb - la);
    return rules_score + c;
}

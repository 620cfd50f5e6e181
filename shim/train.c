/* train.c: training for the injection/jailbreak classifier: hashed-feature
 * logistic regression by AdaGrad SGD in a seeded order, a smoothed class
 * trigram model of benign text, and thresholds calibrated on inner held-out
 * folds.  Deterministic: no clocks, no unseeded randomness, fixed order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

typedef struct {
    char *text;
    size_t len;
    uint32_t *idx; /* features, AL_FEAT_CHAR marks character n-grams */
    size_t n, n_word, n_char;
    int label;
    size_t src;
    uint64_t key; /* stable per-row key for fold assignment */
} row;

struct al_trainset {
    unsigned dim_bits;
    row *rows;
    size_t n, cap;
    char **srcs;
    size_t nsrc;
    al_buf lm_text; /* benign plain text, NUL-separated */
    al_featvec scratch;
};

struct al_trained {
    al_model_params p;
    float *w;
    uint8_t *lm;
};

void al_train_opts_default(al_train_opts *o)
{
    *o = (al_train_opts){.dim_bits = 18,
                         .len_exp = 0.5,
                         .epochs = 12,
                         .lr = 0.2,
                         .l2 = 1e-5,
                         .seed = 1,
                         .target_fpr = 0.0025,
                         .source_fpr = 0.005,
                         .assist_fpr = 0.03,
                         .adv_fpr = 0.0025,
                         .calib_folds = 5,
                         .balance = 1};
}

al_trainset *al_trainset_new(unsigned dim_bits)
{
    if (dim_bits < 10 || dim_bits > 22) return NULL;
    al_trainset *t = calloc(1, sizeof *t);
    if (t) t->dim_bits = dim_bits;
    return t;
}

void al_trainset_free(al_trainset *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->rows[i].text);
        free(t->rows[i].idx);
    }
    free(t->rows);
    for (size_t i = 0; i < t->nsrc; i++) free(t->srcs[i]);
    free(t->srcs);
    al_buf_free(&t->lm_text);
    al_featvec_free(&t->scratch);
    free(t);
}

static uint64_t fnv(const char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

static size_t source_id(al_trainset *t, const char *name)
{
    for (size_t i = 0; i < t->nsrc; i++)
        if (!strcmp(t->srcs[i], name)) return i;
    char **p = realloc(t->srcs, (t->nsrc + 1) * sizeof *p);
    if (!p) return SIZE_MAX;
    t->srcs = p;
    if (!(p[t->nsrc] = strdup(name))) return SIZE_MAX;
    return t->nsrc++;
}

al_code al_trainset_add(al_trainset *t, const char *text, size_t len, int attack,
                        const char *source)
{
    if (!t || !text || !source) return AL_EINVAL;
    size_t sid = source_id(t, source);
    if (sid == SIZE_MAX) return AL_ENOMEM;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        row *r = realloc(t->rows, cap * sizeof *r);
        if (!r) return AL_ENOMEM;
        t->rows = r;
        t->cap = cap;
    }
    row *r = &t->rows[t->n];
    memset(r, 0, sizeof *r);
    if (al_model_extract(text, len, t->dim_bits, &t->scratch) != AL_OK) return AL_ENOMEM;
    r->text = malloc(len + 1);
    r->idx = malloc((t->scratch.n ? t->scratch.n : 1) * sizeof *r->idx);
    if (!r->text || !r->idx) {
        free(r->text);
        free(r->idx);
        return AL_ENOMEM;
    }
    memcpy(r->text, text, len);
    r->text[len] = 0;
    r->len = len;
    memcpy(r->idx, t->scratch.idx, t->scratch.n * sizeof *r->idx);
    r->n = t->scratch.n;
    r->n_word = t->scratch.n_word;
    r->n_char = t->scratch.n_char;
    r->label = attack ? 1 : 0;
    r->src = sid;
    r->key = fnv(text, len, fnv(source, strlen(source), 0xcbf29ce484222325ULL)) ^ (uint64_t)t->n;
    t->n++;
    return AL_OK;
}

al_code al_trainset_add_lm_text(al_trainset *t, const char *text, size_t len)
{
    if (!t || !text) return AL_EINVAL;
    if (al_buf_append(&t->lm_text, text, len) != AL_OK) return AL_ENOMEM;
    return al_buf_append(&t->lm_text, "", 1);
}

size_t al_trainset_rows(const al_trainset *t)
{
    return t ? t->n : 0;
}
size_t al_trainset_sources(const al_trainset *t)
{
    return t ? t->nsrc : 0;
}
const char *al_trainset_source(const al_trainset *t, size_t i)
{
    return t && i < t->nsrc ? t->srcs[i] : NULL;
}
int al_trainset_label(const al_trainset *t, size_t i)
{
    return t->rows[i].label;
}
size_t al_trainset_row_source(const al_trainset *t, size_t i)
{
    return t->rows[i].src;
}

void al_trained_free(al_trained *m)
{
    if (!m) return;
    free(m->w);
    free(m->lm);
    free(m);
}

const al_model_params *al_trained_params(const al_trained *m)
{
    return m ? &m->p : NULL;
}

/* ---- deterministic pieces ---------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double sigmoid(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

static double row_margin(const al_model_params *p, const row *r)
{
    double sw = 0, sc = 0;
    for (size_t k = 0; k < r->n; k++) {
        uint32_t i = r->idx[k];
        if (i & AL_FEAT_CHAR)
            sc += p->w[i & ~AL_FEAT_CHAR];
        else
            sw += p->w[i];
    }
    double z = p->bias;
    if (r->n_word) z += sw / pow((double)r->n_word, p->len_exp);
    if (r->n_char) z += sc / pow((double)r->n_char, p->len_exp);
    return z;
}

static double predict(const al_model_params *p, const row *r)
{
    return al_model_adv_merge(p->adv_t, p->adv_k, p->assist, p->block, sigmoid(row_margin(p, r)),
                              al_model_lm_max(p->lm, r->text, r->len));
}

double al_trained_predict(const al_trained *m, const al_trainset *t, size_t i)
{
    return predict(&m->p, &t->rows[i]);
}

/* Interpolated class-trigram model, quantised surprisal. */
static al_code build_lm(const al_trainset *t, const unsigned char *use, uint8_t *lm)
{
    const size_t C = AL_LM_CLASSES;
    uint32_t *tri = calloc(AL_LM_SIZE, sizeof *tri);
    double *bi = calloc(C * C, sizeof *bi), *uni = calloc(C, sizeof *uni);
    if (!tri || !bi || !uni) {
        free(tri);
        free(bi);
        free(uni);
        return AL_ENOMEM;
    }
    al_code rc = AL_OK;
    for (size_t i = 0; i < t->n && rc == AL_OK; i++)
        if ((!use || use[i]) && !t->rows[i].label)
            rc = al_model_lm_count(t->rows[i].text, t->rows[i].len, tri);
    for (size_t off = 0; off < t->lm_text.len && rc == AL_OK;) {
        size_t l = strlen(t->lm_text.data + off);
        rc = al_model_lm_count(t->lm_text.data + off, l, tri);
        off += l + 1;
    }
    if (rc == AL_OK) {
        double tot = 0;
        for (size_t a = 0; a < C; a++)
            for (size_t b = 0; b < C; b++)
                for (size_t c = 0; c < C; c++) {
                    double n = tri[(a * C + b) * C + c];
                    bi[b * C + c] += n;
                    uni[c] += n;
                    tot += n;
                }
        for (size_t a = 0; a < C; a++)
            for (size_t b = 0; b < C; b++) {
                double ctx3 = 0, ctx2 = 0;
                for (size_t c = 0; c < C; c++) {
                    ctx3 += tri[(a * C + b) * C + c];
                    ctx2 += bi[b * C + c];
                }
                for (size_t c = 0; c < C; c++) {
                    double p1 = (uni[c] + 1) / (tot + C);
                    double p2 = (bi[b * C + c] + p1) / (ctx2 + 1);
                    double p3 = (tri[(a * C + b) * C + c] + 2 * p2) / (ctx3 + 2);
                    double q = -log2(p3) * AL_LM_SCALE;
                    lm[(a * C + b) * C + c] = (uint8_t)(q > 255 ? 255 : q + 0.5);
                }
            }
    }
    free(tri);
    free(bi);
    free(uni);
    return rc;
}

/* Fold of a row: from its stable key, stratified by nothing but the hash. */
static unsigned fold_of(const row *r, unsigned k, uint64_t seed)
{
    uint64_t s = r->key ^ (seed * 0x9e3779b97f4a7c15ULL);
    return (unsigned)(rng_next(&s) % k);
}

/* Logistic regression on the used rows into p->w / p->bias. */
static al_code fit_lr(const al_trainset *t, const unsigned char *use, const al_train_opts *o,
                      al_model_params *p, float *w)
{
    size_t nw = (size_t)1 << o->dim_bits, nused = 0;
    float *g2 = calloc(nw, sizeof *g2);
    size_t *order = malloc((t->n ? t->n : 1) * sizeof *order);
    double *rw = malloc((t->n ? t->n : 1) * sizeof *rw);
    double *cell = calloc(t->nsrc * 2 + 2, sizeof *cell);
    if (!g2 || !order || !rw || !cell) {
        free(g2);
        free(order);
        free(rw);
        free(cell);
        return AL_ENOMEM;
    }
    memset(w, 0, nw * sizeof *w);
    double bias = 0, bg2 = 0, cls[2] = {0, 0};
    for (size_t i = 0; i < t->n; i++)
        if (!use || use[i]) {
            order[nused++] = i;
            cell[t->rows[i].src * 2 + t->rows[i].label] += 1;
        }
    /* row weights: each (source, label) cell gets total weight cnt^(1-b),
     * b = 0 (none), 0.5 (sqrt), 1 (equal); then each class sums to half. */
    double bexp = o->balance == 2 ? 1.0 : o->balance == 1 ? 0.5 : 0.0;
    for (size_t k = 0; k < nused; k++) {
        const row *r = &t->rows[order[k]];
        rw[order[k]] = pow(cell[r->src * 2 + r->label], -bexp);
        cls[r->label] += rw[order[k]];
    }
    for (size_t k = 0; k < nused; k++) {
        const row *r = &t->rows[order[k]];
        rw[order[k]] *= (double)nused / (2.0 * cls[r->label]);
    }
    p->w = w;
    uint64_t rs = o->seed;
    for (unsigned ep = 0; ep < o->epochs; ep++) {
        for (size_t k = nused; k > 1; k--) { /* Fisher-Yates */
            size_t j = (size_t)(rng_next(&rs) % k);
            size_t tmp = order[k - 1];
            order[k - 1] = order[j];
            order[j] = tmp;
        }
        for (size_t k = 0; k < nused; k++) {
            const row *r = &t->rows[order[k]];
            p->bias = bias;
            double g = (sigmoid(row_margin(p, r)) - r->label) * rw[order[k]];
            double xw = r->n_word ? 1.0 / pow((double)r->n_word, o->len_exp) : 0;
            double xc = r->n_char ? 1.0 / pow((double)r->n_char, o->len_exp) : 0;
            for (size_t q = 0; q < r->n; q++) {
                uint32_t i = r->idx[q];
                double x = (i & AL_FEAT_CHAR) ? xc : xw;
                i &= ~AL_FEAT_CHAR;
                double gi = g * x + o->l2 * w[i];
                g2[i] += (float)(gi * gi);
                w[i] -= (float)(o->lr * gi / sqrt(g2[i] + 1e-8));
            }
            bg2 += g * g;
            bias -= o->lr * g / sqrt(bg2 + 1e-8);
        }
    }
    p->bias = bias;
    /* the weights the model file will hold: predictions and thresholds
     * below are then exactly what the shipped file scores */
    al_model_quantize(w, nw);
    free(g2);
    free(order);
    free(rw);
    free(cell);
    return AL_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Smallest threshold at which the share of benign scores >= it is at most
 * fpr pooled, and at most src_fpr in every source with >= 100 benign rows. */
static double pick_threshold(const double *sc, const row *const *rs, size_t n, size_t nsrc,
                             double fpr, double src_fpr)
{
    double *all = malloc((n ? n : 1) * sizeof *all);
    if (!all) return 0.5;
    double thr = 0.5; /* never below even odds */
    for (size_t s = 0; s <= nsrc; s++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (s == nsrc || rs[i]->src == s) all[m++] = sc[i];
        if (m == 0 || (s < nsrc && m < 100)) continue;
        qsort(all, m, sizeof *all, cmp_double);
        size_t allow = (size_t)floor((s == nsrc ? fpr : src_fpr) * (double)m);
        /* blocked when score >= thr: allow at most `allow` benign at or above */
        double t = allow >= m ? 0.0 : all[m - 1 - allow];
        t = nextafter(t, 2.0);
        if (t > thr) thr = t;
    }
    free(all);
    return thr > 0.999999 ? 0.999999 : thr;
}

al_code al_train(const al_trainset *t, const unsigned char *use, const al_train_opts *o,
                 al_trained **out)
{
    *out = NULL;
    size_t npos = 0, nneg = 0;
    for (size_t i = 0; i < t->n; i++)
        if (!use || use[i]) t->rows[i].label ? npos++ : nneg++;
    if (!npos || !nneg || o->dim_bits != t->dim_bits) return AL_EINVAL;
    al_trained *m = calloc(1, sizeof *m);
    size_t nw = (size_t)1 << o->dim_bits;
    unsigned char *u2 = malloc(t->n);
    double *oof = malloc(t->n * sizeof *oof), *lmx = malloc(t->n * sizeof *lmx);
    const row **brows = malloc(t->n * sizeof *brows);
    double *bsc = malloc(t->n * sizeof *bsc);
    if (!m || !u2 || !oof || !lmx || !brows || !bsc || !(m->w = malloc(nw * sizeof *m->w)) ||
        !(m->lm = malloc(AL_LM_SIZE))) {
        al_trained_free(m);
        free(u2);
        free(oof);
        free(lmx);
        free(brows);
        free(bsc);
        return AL_ENOMEM;
    }
    al_code rc = AL_OK;
    al_model_params *p = &m->p;
    p->dim_bits = o->dim_bits;
    p->len_exp = o->len_exp;
    p->target_fpr = o->target_fpr;
    p->lm = m->lm;
    p->w = m->w;
    /* held-out predictions: linear part and LM surprisal, each from a model
     * that never saw the row */
    unsigned k = o->calib_folds >= 2 ? o->calib_folds : 0;
    for (unsigned f = 0; f < (k ? k : 1) && rc == AL_OK; f++) {
        for (size_t i = 0; i < t->n; i++)
            u2[i] = (!use || use[i]) && (!k || fold_of(&t->rows[i], k, o->seed) != f);
        rc = fit_lr(t, u2, o, p, m->w);
        if (rc == AL_OK) rc = build_lm(t, u2, m->lm);
        for (size_t i = 0; i < t->n && rc == AL_OK; i++) {
            if (use && !use[i]) continue;
            if (k && fold_of(&t->rows[i], k, o->seed) != f) continue;
            oof[i] = sigmoid(row_margin(p, &t->rows[i]));
            lmx[i] = al_model_lm_max(m->lm, t->rows[i].text, t->rows[i].len);
        }
    }
    if (rc == AL_OK) {
        /* adversarial threshold: held-out benign surprisal quantile + margin */
        size_t nb = 0;
        for (size_t i = 0; i < t->n; i++)
            if ((!use || use[i]) && !t->rows[i].label) {
                brows[nb] = &t->rows[i];
                bsc[nb++] = lmx[i];
            }
        qsort(bsc, nb, sizeof *bsc, cmp_double);
        size_t q = (size_t)floor((1.0 - o->adv_fpr) * (double)(nb - 1));
        p->adv_t = bsc[q];
        p->adv_k = 8.0;
        /* block/assist thresholds on the held-out linear probability (the
         * adversarial signal is capped below block, so it never blocks alone) */
        nb = 0;
        for (size_t i = 0; i < t->n; i++)
            if ((!use || use[i]) && !t->rows[i].label) {
                brows[nb] = &t->rows[i];
                bsc[nb++] = oof[i];
            }
        p->block = pick_threshold(bsc, brows, nb, t->nsrc, o->target_fpr, o->source_fpr);
        p->assist = pick_threshold(bsc, brows, nb, t->nsrc, o->assist_fpr, o->assist_fpr);
        if (p->assist > p->block) p->assist = p->block;
        /* final weights and LM on every used row */
        rc = fit_lr(t, use, o, p, m->w);
        if (rc == AL_OK) rc = build_lm(t, use, m->lm);
    }
    free(u2);
    free(oof);
    free(lmx);
    free(brows);
    free(bsc);
    if (rc != AL_OK) {
        al_trained_free(m);
        return rc;
    }
    *out = m;
    return AL_OK;
}

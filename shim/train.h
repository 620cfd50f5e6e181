/* train.h: training the injection/jailbreak classifier (model.h): logistic
 * regression over hashed n-grams by deterministic AdaGrad SGD, a character
 * language model of benign text for the adversarial-suffix signal, and
 * threshold calibration on held-out folds.  Pure: no I/O but the model file
 * written through al_model_write; the same rows, options and seed give the
 * same bytes. */
#ifndef AL_TRAIN_H
#define AL_TRAIN_H

#include "al.h"
#include "model.h"

typedef struct {
    unsigned dim_bits;    /* hash space (default 18) */
    double len_exp;       /* feature-group length normalisation (default 0.5) */
    unsigned epochs;      /* SGD passes (default 12) */
    double lr;            /* AdaGrad step (default 0.2) */
    double l2;            /* L2 penalty per update (default 1e-5) */
    uint64_t seed;        /* shuffling seed (default 1) */
    double target_fpr;    /* pooled benign rate the block threshold allows (default 0.0025) */
    double source_fpr;    /* ... and in each source of >= 100 benign rows (default 0.005) */
    double assist_fpr;    /* benign rate the assist threshold allows (default 0.03) */
    double adv_fpr;       /* held-out benign rate above the adversarial threshold (default
                           * 0.0025, the block target: the signal lifts no more benign
                           * rows into the assist band than the classifier may block) */
    unsigned calib_folds; /* inner folds for calibration (default 5) */
    int balance;          /* weight each (source, label) cell: 0 none, 1 sqrt, 2 equal */
} al_train_opts;

AL_API void al_train_opts_default(al_train_opts *o);

/* A training set: labelled rows grouped by source name, plus benign text used
 * only by the character language model.  Free with al_trainset_free. */
typedef struct al_trainset al_trainset;
AL_API al_trainset *al_trainset_new(unsigned dim_bits);
AL_API void al_trainset_free(al_trainset *t);
/* Copies text; attack is 1 or 0; source names a group (copied).  Returns
 * AL_OK, AL_ENOMEM. */
AL_API al_code al_trainset_add(al_trainset *t, const char *text, size_t len, int attack,
                               const char *source);
AL_API al_code al_trainset_add_lm_text(al_trainset *t, const char *text, size_t len);
AL_API size_t al_trainset_rows(const al_trainset *t);
/* Number of sources and the name of source i (owned by t). */
AL_API size_t al_trainset_sources(const al_trainset *t);
AL_API const char *al_trainset_source(const al_trainset *t, size_t i);

/* A trained model in memory; free with al_trained_free. */
typedef struct al_trained al_trained;
AL_API void al_trained_free(al_trained *m);
/* The parameters to write with al_model_write (pointers owned by m). */
AL_API const al_model_params *al_trained_params(const al_trained *m);

/* Trains on the rows whose use[i] is nonzero (use NULL = all), calibrating
 * the thresholds on inner held-out folds.  Returns AL_OK, AL_ENOMEM, or
 * AL_EINVAL when either class has no rows. */
AL_API al_code al_train(const al_trainset *t, const unsigned char *use, const al_train_opts *o,
                        al_trained **out);

/* Probability for row i under m (as al_model_score gives for its text). */
AL_API double al_trained_predict(const al_trained *m, const al_trainset *t, size_t i);
AL_API int al_trainset_label(const al_trainset *t, size_t i);
/* Index of row i's source. */
AL_API size_t al_trainset_row_source(const al_trainset *t, size_t i);

#endif

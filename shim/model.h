/* model.h: the learned injection/jailbreak classifier (a linear model over
 * hashed n-grams plus an adversarial-suffix signal).  Pure: scoring allocates
 * nothing per token or per text but the normalised copy of the text; a
 * stream holds a 32 KB feature bitmap, and each thread that scores whole
 * texts keeps one table of 2^dim_bits bytes (256 KB for the shipped model)
 * until it exits. */
#ifndef AL_MODEL_H
#define AL_MODEL_H

#include "al.h"

typedef struct al_model al_model;

/* Loads a model file.  A file with another feature scheme, a bad header or a
 * bad checksum is refused with AL_EMODEL and a message in err.  Free with
 * al_model_free.  A loaded model is immutable and may be shared by threads. */
AL_API al_code al_model_load(const char *path, al_model **out, char *err, size_t errlen);
AL_API void al_model_free(al_model *m);

/* Probability in [0,1] that text is an injection or jailbreak attempt: the
 * linear model on the normalised text, raised by the adversarial-suffix
 * signal (capped, see al_model_adv_merge) and by the probability of any
 * base64 run that decodes to text (up to 32 per text).  0 when m or text is
 * NULL or memory runs out (the rules still run). */
AL_API double al_model_score(const al_model *m, const char *text, size_t len);

/* al_model_score for a caller that already holds al_normalize(text) in
 * norm[0..nlen) (the engine's normalised pass): the same probability, bit
 * for bit, without normalising again.  text is still read (base64 payloads
 * are looked for in the raw text).  0 when m or text is NULL. */
AL_API double al_model_score_normalized(const al_model *m, const char *text, size_t len,
                                        const char *norm, size_t nlen);

/* The engine's final prompt score from the rules' summed weights and the
 * model's probability p; the policy blocks at score >= block_threshold.
 * threshold is the policy's model_threshold (calibrated; 0 = model default). */
AL_API double al_model_combine(const al_model *m, double rules_score, double p, double threshold);

/* ---- Additions: calibration, streaming, and the feature scheme ---------- */

/* The feature scheme this build reads and writes; a model file naming
 * another scheme is refused. */
#define AL_MODEL_SCHEME "airlock-hashed-ngrams-v4"
#define AL_MODEL_MAGIC "airlock-model 1\n"

/* The model's calibrated probability thresholds: block is the probability at
 * which the classifier alone blocks (chosen on held-out folds for the target
 * false-positive rate named in the file), assist the lower one from which it
 * adds a partial weight to the rules' score.  Either pointer may be NULL. */
AL_API void al_model_thresholds(const al_model *m, double *block, double *assist);

/* Everything a model file holds.  w has 2^dim_bits weights, lm AL_LM_SIZE
 * entries; both stay owned by the caller. */
typedef struct {
    unsigned dim_bits; /* hash space: 2^dim_bits weights (10..22) */
    double len_exp;    /* a feature group's summed weight is divided by count^len_exp */
    double bias;
    double block, assist; /* calibrated probability thresholds */
    double target_fpr;    /* false-positive rate block was chosen for */
    double adv_t, adv_k;  /* adversarial signal: sigmoid(adv_k * (lm_max - adv_t)) */
    const float *w;
    const uint8_t *lm;
    const char *note; /* one line describing the training data (no text) */
} al_model_params;

/* Writes p to path in the model file format (text header with the scheme
 * and a SHA-256 over everything after it, then the body: 2^dim_bits int8
 * weights, then the language model's AL_LM_SIZE bytes).
 * Weights are stored as int8 times 2^-wshift (wshift the largest, at most
 * AL_WSHIFT_MAX, that fits every weight), so pass weights already through
 * al_model_quantize for the file to score exactly what training predicted.
 * The same params always give the same bytes.  Returns AL_OK, or AL_EIO /
 * AL_EINVAL with a message in err. */
AL_API al_code al_model_write(const al_model_params *p, const char *path, char *err, size_t errlen);

/* Rounds w[0..n) in place to the values the model file stores and returns
 * the shift: each weight becomes an int8 (-127..127) times 2^-shift. */
#define AL_WSHIFT_MAX 24
AL_API int al_model_quantize(float *w, size_t n);

/* Incremental scoring: text fed in any pieces gives exactly the probability
 * al_model_score gives for the concatenation (the one exception: a run of
 * more than 4 KB without ASCII whitespace may be cut where the pieces meet).
 * al_model_stream_new returns NULL on allocation failure; free with
 * al_model_stream_free.  The stream holds back raw input only after its last
 * whitespace, at most about 4 KB.  feed returns AL_OK, AL_EINVAL (NULL text
 * with len > 0) or AL_ENOMEM (sticky). */
typedef struct al_model_stream al_model_stream;
AL_API al_model_stream *al_model_stream_new(const al_model *m);
AL_API al_code al_model_stream_feed(al_model_stream *s, const char *text, size_t len);
/* Probability for all text fed so far; the stream may be fed further. */
AL_API double al_model_stream_score(al_model_stream *s);
AL_API void al_model_stream_free(al_model_stream *s);

/* Hashed features of one text, for training: each entry of idx is a hash
 * index in [0, 2^dim_bits), with AL_FEAT_CHAR set for a character n-gram
 * (else a word uni/bigram).  Features are binary: each index appears once
 * however often it occurs (a word and a character n-gram hashed to the same
 * index count once, as the first).  n_word + n_char == n. */
#define AL_FEAT_CHAR 0x80000000u
typedef struct {
    uint32_t *idx;
    size_t n, cap;
    size_t n_word, n_char;
} al_featvec;

/* Fills v (zero-initialise before first use; it is reset, not appended to)
 * with the features of text after al_normalize.  Returns AL_OK or
 * AL_ENOMEM.  Free with al_featvec_free. */
AL_API al_code al_model_extract(const char *text, size_t len, unsigned dim_bits, al_featvec *v);
AL_API void al_featvec_free(al_featvec *v);

/* The character language model of the adversarial-suffix signal: bytes of
 * normalised text map to AL_LM_CLASSES classes; lm[(a*C+b)*C+c] is the
 * quantised surprisal of class c after a, b, in 1/AL_LM_SCALE bits. */
#define AL_LM_CLASSES 44
#define AL_LM_SCALE 16.0
#define AL_LM_WINDOW 40
#define AL_LM_MIN_LETTERS 60 /* percent of letters a window needs to count */
#define AL_LM_SIZE (AL_LM_CLASSES * AL_LM_CLASSES * AL_LM_CLASSES)
/* Adds text's class-trigram counts (after al_normalize) to counts
 * (AL_LM_SIZE entries).  Returns AL_OK or AL_ENOMEM. */
AL_API al_code al_model_lm_count(const char *text, size_t len, uint32_t *counts);
/* Highest mean surprisal in bits per character of any AL_LM_WINDOW-character
 * window of text (after al_normalize) under lm; 0 for shorter text. */
AL_API double al_model_lm_max(const uint8_t *lm, const char *text, size_t len);
/* The classifier's probability from the linear part p and lm_max: the
 * adversarial signal sigmoid(adv_k * (lm_max - adv_t)) raises p at most a
 * third into the assist band (0.3 added to the score), so alone it adds
 * weight but never blocks. */
AL_API double al_model_adv_merge(double adv_t, double adv_k, double assist, double block, double p,
                                 double lm_max);

/* Calls fn(ud, start, end) for every maximal run p[start .. end) of at least
 * 20 base64 digits (A-Z a-z 0-9 + / - _), in order: the runs the classifier
 * decodes.  simd = 1 takes the widest loop the CPU has (AVX2, else SSE2),
 * 2 the SSE2 one, 0 the byte-by-byte loop only (tests hold the others to
 * it); all give the same calls. */
AL_API void al_model_b64_runs(const unsigned char *p, size_t n, int simd,
                              void (*fn)(void *ud, size_t start, size_t end), void *ud);

#endif

/* model.h: the learned injection/jailbreak classifier (a linear model over
 * hashed n-grams plus an adversarial-suffix signal).  Pure: scoring allocates
 * nothing per token. */
#ifndef AL_MODEL_H
#define AL_MODEL_H

#include "al.h"

typedef struct al_model al_model;

/* Loads a model file.  A file with another feature scheme, a bad header or a
 * bad checksum is refused with AL_EMODEL and a message in err.  Free with
 * al_model_free. */
AL_API al_code al_model_load(const char *path, al_model **out, char *err, size_t errlen);
AL_API void al_model_free(al_model *m);

/* Probability in [0,1] that text is an injection or jailbreak attempt. */
AL_API double al_model_score(const al_model *m, const char *text, size_t len);

/* The engine's final prompt score from the rules' summed weights and the
 * model's probability p; the policy blocks at score >= block_threshold.
 * threshold is the policy's model_threshold (calibrated; 0 = model default). */
AL_API double al_model_combine(const al_model *m, double rules_score, double p, double threshold);

#endif

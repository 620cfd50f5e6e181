/* detector.h: built-in span detectors that a rule names with "detector"
 * instead of (or beside) a "pattern": gazetteer PERSON/LOCATION/ADDRESS,
 * parse-based validators that need more than a regex.  Pure. */
#ifndef AL_DETECTOR_H
#define AL_DETECTOR_H

#include "al.h"

typedef struct {
    size_t start, end; /* byte offsets into the scanned text */
    double confidence; /* 0..1; the engine reports spans >= 0.5 */
} al_span;

typedef struct {
    al_span *v;
    size_t n, cap;
    /* Set by the caller, read by a detector: nonzero and the same for calls
     * over one text (same pointer and length) that does not change in
     * between, and not used again for another (the engine's pass); 0 when
     * unknown.  A detector may key what it keeps on it rather than compare
     * the text.  al_spans_free clears it. */
    uint64_t pass;
} al_spans;

AL_API al_code al_spans_push(al_spans *s, size_t start, size_t end, double confidence);
AL_API void al_spans_free(al_spans *s);

typedef struct {
    const char *name;
    /* Loads the detector's data.  rules_dir: the directory of the pack that
     * names it (data files are relative to it); params: the rule's "params"
     * object as compact JSON text, or NULL.  On success *state is owned by the
     * engine and released with free_state. */
    al_code (*load)(const char *rules_dir, const char *params, void **state, char *err,
                    size_t errlen);
    /* Appends spans found in text.  Must be bounded in time (linear in len). */
    al_code (*scan)(const void *state, const char *text, size_t len, al_spans *out);
    void (*free_state)(void *state);
} al_detector_ops;

/* Returns the detector registered under name, or NULL. */
AL_API const al_detector_ops *al_detector_find(const char *name);

#endif

/* normalize.h: the one text normalisation the engine and the classifier
 * share.  Pure. */
#ifndef AL_NORMALIZE_H
#define AL_NORMALIZE_H

#include "al.h"

/* Folds text for matching injection/jailbreak signals: decodes UTF-8
 * (invalid bytes become U+FFFD-equivalent spaces), drops zero-width, bidi
 * control and tag characters, folds fullwidth forms and common Cyrillic/Greek
 * homoglyphs to ASCII, lowercases, and collapses whitespace runs to one space.
 * Appends the result to out.  When map is non-NULL it receives a malloc'd
 * array (caller frees with free) with map[i] = offset in the input of output
 * byte i, and map[out->len] = len.  Returns the number of invisible characters
 * dropped in *n_invisible when non-NULL. */
AL_API al_code al_normalize(const char *in, size_t len, al_buf *out, size_t **map,
                            size_t *n_invisible);

#endif

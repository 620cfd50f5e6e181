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

/* The same folding with a compact map for the engine: one segment wherever
 * the input offset of consecutive output bytes does not advance by one, so
 * long texts need no offset per byte.  map must be zero-initialised or
 * reused; release with al_nmap_free. */
typedef struct {
    size_t out, in; /* output byte `out` comes from input byte `in`, and so on 1:1 */
} al_nseg;
typedef struct {
    al_nseg *v;
    size_t n, cap;
    size_t out_len, in_len;
} al_nmap;
AL_API al_code al_normalize_seg(const char *in, size_t len, al_buf *out, al_nmap *map,
                                size_t *n_invisible);
AL_API void al_nmap_free(al_nmap *m);
/* Input offset of output byte i (in_len for i >= out_len). */
AL_API size_t al_nmap_orig(const al_nmap *m, size_t i);
/* First output byte whose input offset is >= x (out_len when none). */
AL_API size_t al_nmap_lower_bound(const al_nmap *m, size_t x);

#endif

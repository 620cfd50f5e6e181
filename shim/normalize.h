/* normalize.h: the one text normalisation the engine and the classifier
 * share.  Pure. */
#ifndef AL_NORMALIZE_H
#define AL_NORMALIZE_H

#include "al.h"

/* Folds text for matching injection/jailbreak signals: decodes UTF-8
 * (invalid bytes become U+FFFD-equivalent spaces), drops zero-width, bidi
 * control and tag characters, folds fullwidth forms and common Cyrillic/Greek
 * homoglyphs to ASCII, lowercases, and collapses whitespace runs to one space.
 * JSON escapes in the text are read as what they stand for (\n \r \t \f as
 * whitespace, \b dropped, \" \/ \\ and \uXXXX, a surrogate pair as one
 * character, folded as the raw character would be; a run of backslashes
 * before u, n, r or t as one escape, for JSON inside JSON); invalid ones are
 * kept.  A decoded character's output bytes map to its first backslash.
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
/* The input offset past the JSON escape that al_normalize reads at in[i]
 * (a run of backslashes and what they escape, all of it mapped to i), or
 * past the one backslash there when the run escapes nothing; 0 when in[i]
 * is no backslash (ASCII or fullwidth).  For a finding's end in the raw text. */
AL_API size_t al_escape_end(const char *in, size_t len, size_t i);
/* First output byte whose input offset is >= x (out_len when none). */
AL_API size_t al_nmap_lower_bound(const al_nmap *m, size_t x);

/* Offset of the first invisible character (as al_normalize drops: zero-width
 * space, joiners, word joiner, soft hyphen, bidi marks and controls, BOM,
 * variation selectors, tag characters) in in[from, len), len when none.
 * Plain ASCII is passed over 16 bytes at a time. */
AL_API size_t al_invisible_find(const char *in, size_t len, size_t from);

/* The first invisible character in in[from, len) that may split a value: a
 * run of them with an ASCII letter or digit just before or just after it
 * ("4111 \u200b1111", "jo\u00adhn@"), or that reaches len (what follows
 * has not come yet); len when none.  An emoji's variation selector or
 * joiner between emoji and spaces is passed over. */
AL_API size_t al_invisible_find_split(const char *in, size_t len, size_t from);

/* Copies in[0, len) without its invisible characters (al_invisible_find's)
 * to out (appended, NUL-terminated), with map's segments from output to input
 * offsets as al_normalize_seg gives them (map zero-initialised or reused;
 * release with al_nmap_free).  Case, spaces and every other byte are kept, so
 * the pattern rules read the copy as they read the text.  AL_OK, AL_EINVAL or
 * AL_ENOMEM. */
AL_API al_code al_strip_invisible(const char *in, size_t len, al_buf *out, al_nmap *map);

#endif

/* signmem.h: the original texts of signed blocks airlock changed.  Anthropic
 * signs each thinking block over its text; a program that sends the block
 * back (tool use with extended thinking) must send that exact text, or the
 * server refuses the call.  When the completion scrubber changes such a
 * text, the original is kept here (process memory only, bounded) under its
 * signature, with the text the program was shown; a later request carrying
 * that signature and that shown text gets the original put back.  Pure,
 * thread-safe; never logs, never writes a text anywhere. */
#ifndef AL_SIGNMEM_H
#define AL_SIGNMEM_H

#include <stddef.h>

#include "al.h"

typedef struct al_signmem al_signmem;

/* entries: most blocks kept; max_bytes: most bytes of signatures and texts
 * kept (the oldest go first).  NULL when out of memory.  Free with
 * al_signmem_free. */
AL_API al_signmem *al_signmem_new(size_t entries, size_t max_bytes);
AL_API void al_signmem_free(al_signmem *m);

/* For a forked child (single-threaded): a lock another thread held at the
 * fork is made usable again. */
AL_API void al_signmem_after_fork(al_signmem *m);

/* Keeps orig[0..olen), the text sig signs, and shown[0..slen), what the
 * program was given in its place (an entry for the same sig is replaced).
 * AL_OK; AL_ELIMIT when the entry alone is over max_bytes (not kept);
 * AL_ENOMEM.  m may be NULL (nothing is kept). */
AL_API al_code al_signmem_put(al_signmem *m, const char *sig, const char *orig, size_t olen,
                              const char *shown, size_t slen);

/* 1 when sig is kept and text[0..tlen) is exactly what the program was
 * shown: *orig is a copy of the original (NUL-terminated; the caller frees
 * it with free) and *olen its length.  0 otherwise (or out of memory);
 * *orig is then NULL.  m may be NULL. */
AL_API int al_signmem_get(al_signmem *m, const char *sig, const char *text, size_t tlen,
                          char **orig, size_t *olen);

/* Entries and bytes kept (tests). */
AL_API void al_signmem_stats(al_signmem *m, size_t *entries, size_t *bytes);

#endif

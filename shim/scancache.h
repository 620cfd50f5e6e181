/* scancache.h: a memo of prompt scan results.  A chat client re-sends the
 * whole conversation with every request, so without a memo each turn
 * screens every earlier message again (quadratic in the conversation's
 * length).  Each result is kept with the engine, the policy, the direction
 * and a copy of the text it came from, and a lookup must equal all four
 * (a 64-bit hash of the text only narrows the search), so a hit returns a
 * copy equal to what the scan returned.  Bounded (entries and bytes, least recently used out),
 * thread-safe without ever waiting: a lookup that finds the memo busy in
 * another thread simply scans.  Pure; never logs. */
#ifndef AL_SCANCACHE_H
#define AL_SCANCACHE_H

#include "engine.h"

#define AL_SCANCACHE_MIN_TEXT 128 /* shorter texts are cheaper to scan than to look up */

typedef struct al_scancache al_scancache;

/* entries: most results kept; max_bytes: most bytes of texts (scanned and
 * scrubbed) and findings kept.  NULL when out of memory. */
AL_API al_scancache *al_scancache_new(size_t entries, size_t max_bytes);
AL_API void al_scancache_free(al_scancache *c);

/* What names one scan: it points at the caller's policy and text (nothing
 * is copied), so it is valid while they are. */
typedef struct {
    const al_engine *e;
    const al_policy *p;
    al_direction dir;
    const char *text;
    size_t len;
    uint64_t hash; /* of the text */
} al_scankey;

/* The key of a scan of text under e, p and dir, into key: 0, or -1 when
 * the text is too short to be worth keeping. */
AL_API int al_scancache_key(const al_engine *e, const al_policy *p, al_direction dir,
                            const char *text, size_t len, al_scankey *key);

/* 1 and out filled (a copy: free with al_result_free) when the result for
 * key is kept; 0 otherwise (out untouched).  c may be NULL. */
AL_API int al_scancache_get(al_scancache *c, const al_scankey *key, al_result *out);

/* Keeps a copy of r, the result of the scan key names (and a copy of its
 * text and policy).  Results that hit a match limit are not kept.  c may be
 * NULL. */
AL_API void al_scancache_put(al_scancache *c, const al_scankey *key, const al_result *r);

/* Hits and lookups so far (tests, diagnostics). */
AL_API void al_scancache_stats(al_scancache *c, unsigned long *hits, unsigned long *lookups);

#endif

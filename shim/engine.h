/* engine.h: the detection engine.  Text in; findings, a score, a verdict and
 * scrubbed text out.  Knows nothing of HTTP, JSON APIs or interposition and
 * never calls a hooked function, so the CLI and unit tests link it directly. */
#ifndef AL_ENGINE_H
#define AL_ENGINE_H

#include "al.h"

typedef struct al_engine al_engine;

/* What to do with findings.  al_policy_default() fills the defaults:
 *   prompt:     injection/jailbreak BLOCK (when score >= block_threshold),
 *               secret REDACT, pii FLAG, sanitize REDACT (control chars and
 *               invisible characters removed), unsafe_output ALLOW;
 *   completion: pii REDACT, secret REDACT, unsafe_output FLAG, others ALLOW. */
typedef struct {
    al_action prompt[AL_CAT_COUNT];
    al_action completion[AL_CAT_COUNT];
    double block_threshold;      /* prompt score at or above which injection/jailbreak blocks */
    double model_threshold;      /* classifier probability that counts as a signal (issue 5) */
    size_t max_prompt_bytes;     /* longer prompt text is a sanitize finding (0 = no cap) */
    const char *placeholder_fmt; /* NULL = "<%s>" with the entity name */
} al_policy;

AL_API void al_policy_default(al_policy *p);

/* Loads every rule pack at path (a file, or a directory whose *.json are
 * loaded in name order, plus the data files the packs name) and compiles the
 * patterns (each rule's JIT code is made at its first match attempt).  On error returns non-AL_OK, *out stays NULL and err gets
 * a "file: rule: reason" message (errlen bytes, NUL-terminated).
 * The caller frees the engine with al_engine_free.  The engine is immutable
 * after creation and safe to share between threads. */
AL_API al_code al_engine_new(const char *path, al_engine **out, char *err, size_t errlen);
AL_API void al_engine_free(al_engine *e);

/* Directory of the default packs, from AIRLOCK_RULES or the install prefix. */
AL_API const char *al_engine_default_rules(void);

typedef struct {
    const char *rule; /* rule id, owned by the engine */
    al_category category;
    const char *entity; /* Presidio name for pii/secret, else NULL; owned by engine */
    size_t start, end;  /* byte offsets into the input text */
    double weight;      /* contribution to the prompt score (injection/jailbreak) */
    al_action action;   /* what the policy does with it in this direction */
} al_finding;

typedef struct {
    al_finding *findings; /* sorted by start */
    size_t n, cap;
    double score;       /* injection/jailbreak score, rules + classifier */
    double model_score; /* classifier contribution alone (0 when no model) */
    int blocked;        /* policy blocks this text (prompts only) */
    al_buf text;        /* the text after redaction (== input when nothing redacted) */
    int changed;        /* text differs from the input */
    int limit_hit;      /* a rule hit a PCRE2 match/depth/heap limit and was skipped */
} al_result;

/* Scans text (any bytes; invalid UTF-8 never crashes, it is matched as
 * PCRE2_MATCH_INVALID_UTF does) as a prompt or completion under policy p.
 * out must be zero-initialised or previously released; free with
 * al_result_free.  Every regex match is bounded by match/depth limits. */
AL_API al_code al_engine_scan(const al_engine *e, const al_policy *p, al_direction dir,
                              const char *text, size_t len, al_result *out);
AL_API void al_result_free(al_result *r);

/* Streaming scrubber for completion text that arrives in deltas (SSE/NDJSON).
 * feed() appends to out the scrubbed text that is safe to release now and
 * holds back only a tail that could still start a match (bounded by a cap);
 * flush() releases the rest at end of stream.  The concatenation of all
 * output equals al_engine_scan(..., AL_AS_COMPLETION) of the concatenated
 * input, up to the hold-back cap.  Free with al_stream_scrub_free. */
typedef struct al_stream_scrub al_stream_scrub;
AL_API al_stream_scrub *al_stream_scrub_new(const al_engine *e, const al_policy *p);
AL_API al_code al_stream_scrub_feed(al_stream_scrub *s, const char *delta, size_t len, al_buf *out);
/* For a caller that feeds deltas of 1-8 bytes one at a time: the stream's
 * window, and in *room how many bytes may be added to its end before the
 * next feed would scan (0 when one would, on an error, or s NULL).  Until its
 * next call into s, the caller may append deltas of 1-8 bytes, room at most
 * in all, there itself (the bytes at len, a NUL after them, len increased):
 * exactly what al_stream_scrub_feed would do with them. */
AL_API al_buf *al_stream_scrub_tail(al_stream_scrub *s, size_t *room);
AL_API al_code al_stream_scrub_flush(al_stream_scrub *s, al_buf *out);
/* The stream was cut off (the connection closed early): appends what is
 * safe to release, as a pass mid-stream would but without waiting on the
 * detectors' last words, and drops the tail that a pattern could still have
 * completed (an address cut after "@example.c"), which no later byte will
 * decide.  Nothing more is released after it (a flush adds nothing). */
AL_API al_code al_stream_scrub_cut(al_stream_scrub *s, al_buf *out);
/* The stream paused (the network has had nothing to read for a while):
 * appends what a cut would release (what the detectors' tail holds back
 * goes out; a pattern's possible partial match is still held), up to the
 * last word's start when detectors are on, and keeps the rest, so the
 * stream goes on as before.  A detector then sees the text
 * released here only as left context: a name split by the pause is found
 * only in the part that comes after it.  Nothing to release: nothing done. */
AL_API al_code al_stream_scrub_release(al_stream_scrub *s, al_buf *out);
/* 1 when s holds text it has not released (fed and not yet let out). */
AL_API int al_stream_scrub_holding(const al_stream_scrub *s);
/* Findings seen so far (offsets relative to the whole stream). */
AL_API const al_finding *al_stream_scrub_findings(const al_stream_scrub *s, size_t *n);
AL_API void al_stream_scrub_free(al_stream_scrub *s);

#endif

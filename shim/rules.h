/* rules.h: the engine's internal view of a loaded rule pack: compiled rules,
 * the literal prefilter and the per-scan matcher.  Shared by engine.c,
 * rules.c and scrub.c only; callers outside the engine use engine.h. */
#ifndef AL_RULES_H
#define AL_RULES_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "al.h"
#include "detector.h"
#include "engine.h"
#include "model.h"
#include "normalize.h"
#include "validate.h"

#define AL_DIR_PROMPT_BIT 1u
#define AL_DIR_COMPLETION_BIT 2u

/* Literal prefilter of one rule: every match contains at least one of these
 * (lowercased ASCII) strings, or, for classes, one byte of `bytes`. */
typedef struct {
    char **lit;
    size_t *litlen;
    unsigned char *wb; /* per literal: only at a word start (pattern has \b before it) */
    size_t n;
    uint8_t bytes[32]; /* bitmap of single bytes, used when byteset is set */
    int byteset;
    uint8_t first[32]; /* bitmap of the first bytes of lit[] */
    size_t maxlen;     /* longest of lit[] */
    size_t lead;       /* windowed: lit[0] starts at most lead bytes after the match start */
    int windowed;      /* lit[0] is inside every match, not its prefix */
    int ks;            /* a literal holds a caseless k or s, which U+212A / U+017F
                        * also match: texts holding those run the rule unanchored */
    int startclass;    /* no literal: a match starts at a byte of first[] that
                        * does not follow a byte of notprev[] */
    uint8_t notprev[32];
    uint8_t (*seq)[32]; /* startclass: a match's first nseq bytes are in these classes */
    size_t nseq;
    char **req;     /* literals (lowercased) one of which every match contains somewhere: */
    size_t *reqlen; /* whole-text scans skip the rule when the text holds none */
    size_t nreq;
    char **req2;          /* a second such set (only beside req): every match also */
    size_t *req2len;      /* contains one of these, so whole-text scans skip the rule */
    size_t nreq2;         /* when the text holds none of either */
    int req_ks;           /* as ks, for req and req2 */
    uint8_t (*shape)[32]; /* a match is at least nshape bytes long and its byte k is in */
    size_t nshape;        /* shape[k] (NULL: nothing known) */
    size_t dmin;          /* a match that begins with an ASCII digit holds at least dmin digits */
    size_t dspan;         /* in its first dspan bytes (dmin 0: nothing known) */
    /* stream passes (hard partial matching): every match holds one of preq
     * (lowercased, any length; none: not known) and is made of bytes of
     * run, as is whatever its lookarounds inspect (npreq == 0: not known).
     * Where the text from some offset holds no member, only a partial
     * match can start there, and only in the last run of such bytes. */
    char **preq;
    size_t *preqlen;
    size_t npreq;
    size_t *preqat;     /* per member: where its first byte outside [a-z0-9] stands */
    int preq_ks;        /* as req_ks, for preq */
    uint8_t pfirst[32]; /* those bytes (punctuation, rare in prose) */
    int pone;           /* the one such byte, or -1 when they are several */
    uint8_t run[32];
} al_prefilter;
#define AL_SHAPE_MAX 16 /* offsets al_prefilter.shape may cover */

typedef struct {
    char *id;
    char *file; /* pack file the rule came from (for messages) */
    al_category cat;
    char *entity; /* NULL when the rule has none */
    char *pattern;
    pcre2_code *re;
    pcre2_code *jit;  /* re's JIT-compiled copy for complete matching, made at the rule's
                       * first attempt in that mode (NULL: not yet; see engine.c jit_code) */
    pcre2_code *jitp; /* the same for hard partial matching (a whole-text attempt: after
                       * its first JIT_AFTER ones, engine.c near_code) */
    unsigned tries;   /* whole-text attempts interpreted before jitp was made */
    unsigned ends;    /* attempts that reached the end of a text in hard partial mode and
                       * were asked again in complete mode (engine.c match_near) */
    int value_group;  /* capture number of (?<value>...), 0 when absent */
    uint32_t lookbehind;
    al_validator_fn validator;
    const al_detector_ops *det;
    void *det_state;
    unsigned applies; /* AL_DIR_*_BIT */
    double weight, confidence, ctx_boost;
    size_t ctx_window;
    char **ctx; /* context words, lowercased, ordered by their first byte */
    size_t *ctxlen;
    uint32_t *ctxbeg;     /* 257 entries: the words beginning with byte c are
                           * ctx[ctxbeg[c] .. ctxbeg[c + 1]) (NULL when nctx is 0) */
    uint8_t ctxfirst[32]; /* first bytes of the context words, both cases */
    size_t nctx;
    int has_action;
    al_action action;
    int normalized;
    char **ex_match, **ex_nomatch;
    size_t n_match, n_nomatch;
    al_prefilter pf; /* pf.n == 0 && !pf.byteset: no prefilter, always run */
    int always;
    uint32_t *req;       /* indexes of pf.req[] in the engine's reqs[] (NULL: not used) */
    uint32_t *req2;      /* the same for pf.req2[] */
    uint8_t start[32];   /* bytes a match can start with (PCRE2's own start optimisation) */
    int has_start;       /* start[] is known; else a match may start with any byte */
    int start_unit;      /* the one byte every match starts with, case and all (-1: none) */
    uint8_t notprev[32]; /* bytes no match can follow (leading lookbehinds) */
    int has_notprev;
} al_rule;

typedef struct al_litset al_litset;

struct al_engine {
    al_rule *rules;
    size_t n, cap;
    al_model *model;
    pcre2_match_context *mctx;
    uint32_t max_lookbehind;
    uint32_t max_caps;
    size_t max_ctx_window;
    int has_detectors;
    al_litset *lits;       /* multi-literal prefilter over every rule (NULL: run all) */
    uint8_t sc_first[32];  /* union of the start-class rules' first bytes */
    uint64_t sc_mask[256]; /* per byte: bit k when start-class rule k may start with it */
    uint64_t sc_np[256];   /* per byte: bit k when start-class rule k refuses it before */
    uint32_t *sc_rules;    /* the start-class rules */
    size_t n_sc;
    size_t nfiles;
    uint8_t *rkind;          /* per rule: AL_RK_* bits, so a scan can pass over most rules without
                              * touching them (NULL: not built) */
    uint64_t serial;         /* unique per engine in this process (never reused, unlike an address):
                              * keys the per-thread matcher kept between scans */
    const char **reqs;       /* distinct required literals (owned by the rules' pf.req) */
    unsigned char *req_norm; /* per req: 1 when it belongs to normalised rules */
    uint32_t n_req;          /* the literal scan reports req k as rule n + k */
};
#define AL_RK_DET 1u  /* a detector */
#define AL_RK_NORM 2u /* runs on the normalised text */
#define AL_RK_PRE 4u  /* has literal prefixes or a start class */
#define AL_RK_KS 8u   /* caseless k or s in a literal (see al_prefilter.ks) */

/* Error sink for loading: collects "file: rule: reason" lines. */
typedef struct {
    al_buf msgs;    /* one message per line */
    size_t count;   /* number of messages */
    int keep_going; /* continue after the first error (check-rules) */
} al_rules_errs;

AL_API void al_rules_err(al_rules_errs *errs, const char *file, const char *rule, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));

/* An empty engine; free with al_engine_free. NULL on allocation failure. */
AL_API al_engine *al_engine_alloc(void);
/* Loads a pack file or a directory of *.json into e.  Errors go to errs;
 * returns AL_OK only when none were recorded.  nfiles counts files seen. */
AL_API al_code al_rules_load_path(al_engine *e, const char *path, al_rules_errs *errs);
/* Builds the prefilter and match context after every pack is loaded. */
AL_API al_code al_rules_finish(al_engine *e, al_rules_errs *errs);
AL_API void al_rule_free(al_rule *r);

/* The multi-literal matcher over every rule's prefixes (built once per
 * engine, read-only afterwards). */
AL_API al_code al_litset_build(al_engine *e);
AL_API void al_litset_free(al_litset *ls);
/* Calls fn(ud, rule, offset) for every offset of text where a prefix of a
 * raw (normalized = 0) or normalised rule starts, in text order; stops when
 * fn returns non-zero.  Where required literal k (e->reqs) occurs, rule is
 * e->n + k.  normalized = AL_LITSET_BOTH: raw and normalised rules in one
 * pass (a text whose al_normalize()d form differs only in ASCII case gives
 * both scans' hits at once; at one offset their order is unspecified). */
#define AL_LITSET_BOTH 2
typedef int (*al_lit_hit_fn)(void *ud, uint32_t rule, size_t pos);
AL_API void al_litset_scan(const al_litset *ls, int normalized, const char *text, size_t len,
                           al_lit_hit_fn fn, void *ud);
/* 0 when no prefix of any raw (normalized = 0) or normalised rule can begin
 * with s[0..n) (n >= 1; only the first two bytes are looked at, lowercased),
 * 1 when one may. */
AL_API int al_litset_may_begin(const al_litset *ls, int normalized, const unsigned char *s,
                               size_t n);
/* Derives a rule's prefilter from its pattern (options: PCRE2 compile
 * options; folded: the subject is al_normalize()d); leaves pf empty when it
 * cannot be sure every match starts with (or contains) one of the literals. */
AL_API void al_prefilter_derive(const char *pattern, uint32_t options, int folded,
                                al_prefilter *pf);
AL_API void al_prefilter_free(al_prefilter *pf);
/* Fills notprev with the bytes before which no match of the pattern can
 * start, as its leading negative lookbehinds say ("(?<![\\w-])"); 1 when
 * there is at least one, 0 when none or the pattern is beyond the analysis
 * (a top-level alternation, the extended option). */
AL_API int al_prefilter_notprev(const char *pattern, uint32_t options, uint8_t notprev[32]);
/* Sets pf->shape and pf->nshape (options: PCRE2 compile options; folded:
 * the subject is al_normalize()d) to the bytes each of the first offsets
 * of every match may hold, up to AL_SHAPE_MAX of them and no further than
 * the shortest match; leaves them unset for a pattern beyond the analysis
 * (backreferences, \K, the extended option, Unicode classes) or when
 * nothing is learnt.  Freed by al_prefilter_free. */
AL_API void al_prefilter_shape(const char *pattern, uint32_t options, int folded, al_prefilter *pf);
/* Sets pf->dmin and pf->dspan (options: PCRE2 compile options) when every
 * match that begins with an ASCII digit holds at least two ASCII digits
 * and is at most dspan bytes long (dmin 1, dspan 0: no match begins with
 * a digit); leaves dmin 0 for a pattern beyond the analysis (as
 * al_prefilter_shape) or when nothing is learnt. */
AL_API void al_prefilter_digits(const char *pattern, uint32_t options, al_prefilter *pf);
/* 1 when pf->req tells more than a prefix hit does (not every literal of pf
 * already holds a member), 0 when not or when there is no req. */
AL_API int al_prefilter_req_useful(const al_prefilter *pf);
/* The same for pf->req2. */
AL_API int al_prefilter_req2_useful(const al_prefilter *pf);
/* For a rule without literals (options: PCRE2 compile options): sets
 * pf->startclass when its first bytes (PCRE2's first-code-unit bitmap) are
 * not letters and its leading negative lookbehinds exclude digits and
 * letters before it (number-like PII), or when every match starts with at
 * least 4 fixed ASCII classes (pf->seq: "[A-Z]{2}\d\d" of an IBAN, from a
 * leading lookahead or the pattern itself). */
AL_API void al_prefilter_startclass(const char *pattern, uint32_t options, const uint8_t first[32],
                                    al_prefilter *pf);

/* A candidate match of one rule, before merging.  ok: accepted as a finding
 * (validator, confidence and context passed); rejected matches are kept only
 * when the caller asks, so a stream resumes each rule where it stopped. */
typedef struct {
    size_t start, end; /* reported span (the "value" group when present) */
    size_t mend;       /* end of the whole match (where the rule resumes) */
    uint32_t rule;
    int ok;
} al_cand;

typedef struct {
    al_cand *v;
    size_t n, cap;
} al_cands;

/* Per-scan matcher state: match data, match context copy, JIT stack, and
 * the literal hits' arrays (engine.c find_hits), kept from scan to scan. */
typedef struct {
    const al_engine *e;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *stack;
    int limit_hit;
    int utf_ok; /* the subject of this rules_run is valid UTF-8: 1, 0, -1 not known yet */
    size_t *h_pos, *h_tpos, *h_beg; /* hits: h_cap of the first two, e->n of h_beg */
    uint32_t *h_rule, *h_cnt, *h_used;
    unsigned char *h_req; /* e->n_req; all zero between scans, as h_cnt is */
    size_t h_cap;
    uint64_t *t_cand; /* stream passes, W words: the rules whose literals run off the end
                       * (engine.c tail_cands) */
    uint64_t *t_kind; /* 7 x W words: the active rules a stream pass reads by kind, then a
                       * pass's rules to visit (engine.c stream_prep) */
    int t_ready;
    size_t t_x0, t_x1; /* the words of those sets that may hold an active rule: [t_x0, t_x1) */
    uint64_t t_sc[2];  /* the active start-class rules (by their bit in e->sc_mask) that a
                        * raw, a normalised pass runs (none when the tail index has none) */
    uint64_t t_scks;   /* those of them with a caseless k or s */
    uint64_t *t_scw;   /* t_kind's last 2 x W words: the raw ones as rule bits, then those
                        * the last raw pass over the resume array of t_kind's key passed
                        * over without writing their resume points (engine.c stream_set),
                        * and that pass's end: */
    size_t t_scend;    /* their resume points are at least this */
    uint32_t *t_win;   /* the active windowed rules a raw pass runs, t_nwin of them */
    size_t t_nwin;
    al_spans d_spans;     /* a detector's spans (engine.c run_detector), kept from call to call */
    const size_t *ks_key; /* stream passes over this resume array (NULL: none yet) looked */
    size_t ks_done;       /* for a Kelvin sign or long s up to this stream offset, */
    size_t ks_last;       /* the last one found beginning at ks_last - 1 (0: none) */
    uint64_t *f_run;      /* whole-text passes, 5 x W words (engine.c fast_set): the rules a raw
                           * and a normalised pass run without a hit, those they run with one,
                           * those with a caseless k or s */
    unsigned char *a_act[4]; /* per direction, two slots (the last used first), e->n: the rules
                              * active under a policy with a_pol's actions (engine.c
                              * active_rules); NULL: none yet */
    al_action a_pol[4][AL_CAT_COUNT];
    int a_norm[4]; /* one of them runs on the normalised text */
} al_matcher;

AL_API al_code al_matcher_init(al_matcher *m, const al_engine *e);
AL_API void al_matcher_free(al_matcher *m);
/* Forgets what m keeps of the stream it served (raises pending for its
 * resume array), so that it may serve another stream of the same active
 * rules. */
AL_API void al_matcher_stream_reset(al_matcher *m);

typedef struct {
    const char *orig; /* the text as received (context words, detectors) */
    size_t orig_len;
    const char *s; /* subject: orig, or its normalised form */
    size_t len;
    const al_nmap *map;          /* normalised byte -> orig offset; NULL when s == orig */
    int normalized;              /* run the rules with "normalized": true (else the others) */
    size_t from;                 /* first start offset in s */
    const size_t *rule_from;     /* per rule: first start offset in s, or NULL */
    int partial;                 /* stream mode: hold back what could still match */
    int prefilter;               /* whole-text mode: skip rules whose literals are absent */
    int keep_rejected;           /* also report matches the validator/confidence rejected */
    const unsigned char *active; /* per rule: run it (1) or not (0) */
    const uint32_t *act;         /* the active rules' indexes, ascending, nact of them: the
                                  * run visits only these (NULL: every rule, as active says) */
    size_t nact;
    size_t *resume; /* stream mode (or NULL): per rule, the stream offset its next match
                     * may start at, s[0] being at stream offset resume_base; read in place
                     * of rule_from, and raised to resume_base + k when no match can start
                     * in [that offset, k) however the text goes on (the rule found
                     * nothing before k); the raises of raw rules a pass passed over may
                     * wait in the matcher until its next pass over this array */
    size_t resume_base;
    size_t defer_from; /* stream mode, raw pass (0: off): a rule run unanchored (run_regex)
                        * none of whose matches can start before this offset is left for a
                        * later pass, its resume point raised as far as that is known, and
                        * *deferred set (the caller releases nothing from here on) */
    int *deferred;
} al_subject;

/* Runs the active rules over sub->s, starting matches at or after sub->from.
 * Candidates are appended to out with offsets into sub->orig (mapped back
 * when normalised).  With sub->partial, matches that reach the end of the
 * subject are not reported and *hold receives the earliest orig offset from
 * which text must be held back (orig_len when none).  AL_OK or AL_ENOMEM;
 * a rule that hits a match limit is abandoned for this text (m->limit_hit). */
AL_API al_code al_rules_run(al_matcher *m, const al_subject *sub, al_cands *out, size_t *hold);

/* Runs the active pattern rules and detectors over a copy of sub->orig without its
 * invisible characters (al_strip_invisible), only when sub->orig[sub->from,
 * orig_len) holds one that may split a value (al_invisible_find_split), and
 * appends the candidates whose span holds one (offsets into sub->orig).
 * sub->active as for al_rules_run, the other fields but orig and from unused
 * except sub->partial (a stream's pass): then *hold is where text must wait,
 * from up to 128 bytes before such a character until 192 bytes have come
 * after it (orig_len when none), and the copy is looked at only once one of
 * them is that old.  AL_OK or AL_ENOMEM. */
AL_API al_code al_rules_run_stripped(al_matcher *m, const al_subject *sub, al_cands *out,
                                     size_t *hold);

/* Runs one rule alone over text (examples in check-rules); 1 when it yields
 * a finding, 0 when not, -1 on a matcher error (message in err). */
AL_API int al_rule_test(const al_engine *e, size_t rule, const char *text, size_t len, char *err,
                        size_t errlen);

/* Widens [*s, *e) so neither end splits a valid multi-byte UTF-8 character
 * of text (invalid bytes are left alone). */
AL_API void al_snap_utf8(const char *text, size_t len, size_t *s, size_t *e);

/* Action for a rule in a direction under policy p. */
AL_API al_action al_rule_action(const al_rule *r, const al_policy *p, al_direction dir);

/* Sorts findings by start, longer first at the same start, then rule id: the
 * one order the whole-text scan and the streaming scrubber both report, so
 * their results compare equal. */
AL_API void al_findings_sort(al_finding *f, size_t n);

/* Replaces REDACT candidates (sorted by start) in text, merging overlaps;
 * appends to out.  Returns AL_OK or AL_ENOMEM. */
AL_API al_code al_scrub_apply(const al_engine *e, const al_policy *p, const char *text, size_t len,
                              const al_finding *f, size_t n, al_buf *out, int *changed);

#endif

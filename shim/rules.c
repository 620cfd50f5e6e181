/* rules.c: loads rule packs (JSON, via cJSON) into an engine and compiles
 * their patterns with PCRE2 (engine.c JIT-compiles a rule at its first match
 * attempt).  A broken pack yields "file: rule: reason" messages, never a
 * crash; nothing here prints or logs matched text. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "regex_compat.h"
#include "rules.h"

/* Implemented by other modules; weak so the engine links without them.
 * A NULL function means "not built in". */
__attribute__((weak)) al_code al_model_load(const char *path, al_model **out, char *err,
                                            size_t errlen);
__attribute__((weak)) void al_model_free(al_model *m);
__attribute__((weak)) al_validator_fn al_validator_find(const char *name);

#define MAX_PACK_BYTES (16u << 20)
#define MAX_RULES 100000
#define DEFAULT_CTX_WINDOW 64

void al_rules_err(al_rules_errs *errs, const char *file, const char *rule, const char *fmt, ...)
{
    if (!errs) return;
    errs->count++;
    if (errs->msgs.len > (1u << 20)) return; /* cap the message text */
    al_buf_printf(&errs->msgs, "%s: %s: ", file ? file : "(rules)", rule ? rule : "-");
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    al_buf_puts(&errs->msgs, tmp);
    al_buf_puts(&errs->msgs, "\n");
}

al_engine *al_engine_alloc(void)
{
    static uint64_t serials;
    al_engine *e = calloc(1, sizeof(al_engine));
    if (e) e->serial = __atomic_add_fetch(&serials, 1, __ATOMIC_RELAXED);
    return e;
}

static void free_strv(char **v, size_t n)
{
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

void al_rule_free(al_rule *r)
{
    free(r->id);
    free(r->file);
    free(r->entity);
    free(r->pattern);
    if (r->re) pcre2_code_free(r->re);
    if (r->jit) pcre2_code_free(r->jit);
    if (r->jitp) pcre2_code_free(r->jitp);
    if (r->det && r->det->free_state && r->det_state) r->det->free_state(r->det_state);
    free_strv(r->ctx, r->nctx);
    free(r->ctxlen);
    free(r->ctxbeg);
    free_strv(r->ex_match, r->n_match);
    free_strv(r->ex_nomatch, r->n_nomatch);
    al_prefilter_free(&r->pf);
    free(r->req);
    free(r->req2);
    memset(r, 0, sizeof *r);
}

/* Orders r's context words by their first byte (insertion sort: a few
 * dozen words, kept in their order within a byte) and indexes them by it,
 * so has_context compares a word start only with the words that begin with
 * its byte. */
static al_code ctx_index(al_rule *r)
{
    for (size_t i = 1; i < r->nctx; i++) {
        char *w = r->ctx[i];
        size_t wl = r->ctxlen[i], j = i;
        for (; j > 0 && (unsigned char)r->ctx[j - 1][0] > (unsigned char)w[0]; j--) {
            r->ctx[j] = r->ctx[j - 1];
            r->ctxlen[j] = r->ctxlen[j - 1];
        }
        r->ctx[j] = w;
        r->ctxlen[j] = wl;
    }
    r->ctxbeg = calloc(257, sizeof *r->ctxbeg);
    if (!r->ctxbeg) return AL_ENOMEM;
    for (size_t i = 0; i < r->nctx; i++) r->ctxbeg[(unsigned char)r->ctx[i][0] + 1]++;
    for (size_t c = 0; c < 256; c++) r->ctxbeg[c + 1] += r->ctxbeg[c];
    return AL_OK;
}

static int valid_id(const char *s)
{
    if (!*s || strlen(s) > 128) return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static int find_rule(const al_engine *e, const char *id)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->rules[i].id, id) == 0) return (int)i;
    return -1;
}

static uint32_t str_hash(const char *s, uint32_t h)
{
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Open-addressing set of indexes (UINT32_MAX: empty slot), so loading
 * finds duplicate rule ids and shared required literals without comparing
 * every pair.  mask + 1 slots, a power of two at least twice the entries. */
typedef struct {
    uint32_t *slot;
    uint32_t mask;
} idx_set;

/* 0, or -1 when out of memory (the set is then empty: callers fall back to
 * a linear search). */
static int idx_set_init(idx_set *t, size_t entries)
{
    size_t n = 16;
    while (n < 2 * entries) n *= 2;
    t->slot = n <= UINT32_MAX ? malloc(n * sizeof *t->slot) : NULL;
    t->mask = t->slot ? (uint32_t)(n - 1) : 0;
    if (t->slot) memset(t->slot, 0xff, n * sizeof *t->slot);
    return t->slot ? 0 : -1;
}

/* Index of the rule with this id (e->rules[0..e->n)), or -1.  ids: the
 * set of those rules' indexes, or NULL (then searched linearly). */
static int rule_by_id(const al_engine *e, const idx_set *ids, const char *id)
{
    if (!ids || !ids->slot) return find_rule(e, id);
    for (uint32_t h = str_hash(id, 2166136261u) & ids->mask;; h = (h + 1) & ids->mask) {
        uint32_t k = ids->slot[h];
        if (k == UINT32_MAX) return -1;
        if (strcmp(e->rules[k].id, id) == 0) return (int)k;
    }
}

static void ids_add(idx_set *ids, const al_engine *e, uint32_t k)
{
    if (!ids || !ids->slot) return;
    uint32_t h = str_hash(e->rules[k].id, 2166136261u) & ids->mask;
    while (ids->slot[h] != UINT32_MAX) h = (h + 1) & ids->mask;
    ids->slot[h] = k;
}

/* Reads an array of strings; returns 0 on success, -1 with a reason. */
static int str_array(const cJSON *a, char ***out, size_t *n, const char **why)
{
    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(a)) {
        *why = "must be an array of strings";
        return -1;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(a);
    char **v = calloc(cnt ? cnt : 1, sizeof *v);
    if (!v) {
        *why = "out of memory";
        return -1;
    }
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        if (!cJSON_IsString(it)) {
            free_strv(v, i);
            *why = "must be an array of strings";
            return -1;
        }
        v[i] = strdup(it->valuestring);
        if (!v[i]) {
            free_strv(v, i);
            *why = "out of memory";
            return -1;
        }
        i++;
    }
    *out = v;
    *n = i;
    return 0;
}

static const char *const rule_keys[] = {
    "id",      "category",       "entity",        "pattern",    "flags",     "detector",
    "params",  "applies_to",     "weight",        "action",     "validator", "confidence",
    "context", "context_window", "context_boost", "normalized", "examples",  "description",
    "comment", "notes",          "references",    "source",     "tags",      NULL,
};

static int known_key(const char *k)
{
    for (int i = 0; rule_keys[i]; i++)
        if (rule_keys[i][0] == k[0] && strcmp(rule_keys[i], k) == 0) return 1;
    return 0;
}

static int get_number(const cJSON *o, const char *key, double lo, double hi, double dflt,
                      double *out, const char **why)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi) {
        *why = "out of range or not a number";
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

/* 1 when the pattern may turn caseless matching on inline ("(?i)",
 * "(?si:"). */
static int inline_caseless(const char *p)
{
    for (const char *q = p; (q = strstr(q, "(?")); q += 2)
        for (const char *o = q + 2; *o && strchr("imsxnJUu-^", *o); o++)
            if (*o == 'i') return 1;
    return 0;
}

/* The bytes PCRE2 itself lets a match start with (it skips every other
 * start offset): a first-code-unit bitmap, or one ASCII first code unit
 * with its other case (not k or s, which caseless matching extends to
 * U+212A and U+017F). */
static void start_bytes(al_rule *r, uint32_t opt)
{
    uint32_t type = 2, unit = 0;
    const uint8_t *bm = NULL;
    r->has_start = 0;
    r->start_unit = -1;
    if (pcre2_pattern_info(r->re, PCRE2_INFO_FIRSTCODETYPE, &type) != 0) return;
    /* one first byte, and no caseless matching anywhere that could give it
     * another case: every match starts with that very byte */
    if (type == 1 && pcre2_pattern_info(r->re, PCRE2_INFO_FIRSTCODEUNIT, &unit) == 0 &&
        unit < 256 && !(opt & PCRE2_CASELESS) && !inline_caseless(r->pattern))
        r->start_unit = (int)unit;
    if (type == 0 && pcre2_pattern_info(r->re, PCRE2_INFO_FIRSTBITMAP, &bm) == 0 && bm) {
        memcpy(r->start, bm, sizeof r->start);
        r->has_start = 1;
    } else if (type == 1 && pcre2_pattern_info(r->re, PCRE2_INFO_FIRSTCODEUNIT, &unit) == 0 &&
               unit < 0x80 && !strchr("kKsS", (int)unit)) {
        memset(r->start, 0, sizeof r->start);
        r->start[unit >> 3] |= (uint8_t)(1u << (unit & 7));
        uint32_t other = (unit | 0x20) >= 'a' && (unit | 0x20) <= 'z' ? unit ^ 0x20 : unit;
        r->start[other >> 3] |= (uint8_t)(1u << (other & 7));
        r->has_start = 1;
    }
}

static al_code compile_rule(al_rule *r, const char *flags, al_rules_errs *errs)
{
    uint32_t opt = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_USE_OFFSET_LIMIT;
    for (const char *f = flags ? flags : ""; *f; f++) {
        switch (*f) {
        case 'i':
            opt |= PCRE2_CASELESS;
            break;
        case 'x':
            opt |= PCRE2_EXTENDED;
            break;
        case 'm':
            opt |= PCRE2_MULTILINE;
            break;
        case 's':
            opt |= PCRE2_DOTALL;
            break;
        case 'u':
            opt |= PCRE2_UCP;
            break;
        default:
            al_rules_err(errs, r->file, r->id, "unknown flag '%c' (use i, x, m, s, u)", *f);
            return AL_ERULES;
        }
    }
    int ec;
    PCRE2_SIZE eoff;
    /* compiled as rewritten for the JIT (regex_compat.h); an error is
     * reported from the pattern as written */
    char *safe = al_regex_jit_safe(r->pattern);
    if (!safe) return AL_ENOMEM;
    r->re = pcre2_compile((PCRE2_SPTR)safe, PCRE2_ZERO_TERMINATED, opt, &ec, &eoff, NULL);
    free(safe);
    if (!r->re) {
        pcre2_code *orig =
            pcre2_compile((PCRE2_SPTR)r->pattern, PCRE2_ZERO_TERMINATED, opt, &ec, &eoff, NULL);
        pcre2_code_free(orig);
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        al_rules_err(errs, r->file, r->id, "regex error at offset %zu: %s", (size_t)eoff,
                     (char *)msg);
        return AL_ERULES;
    }
    /* no JIT here: engine.c compiles a rule at its first match attempt, so
     * loading pays nothing for the many rules a text never gets near */
    int n = pcre2_substring_number_from_name(r->re, (PCRE2_SPTR) "value");
    r->value_group = n > 0 ? n : 0;
    uint32_t lb = 0;
    if (pcre2_pattern_info(r->re, PCRE2_INFO_MAXLOOKBEHIND, &lb) == 0) r->lookbehind = lb;
    start_bytes(r, opt);
    r->has_notprev = al_prefilter_notprev(r->pattern, opt, r->notprev);
    al_prefilter_derive(r->pattern, opt, r->normalized, &r->pf);
    if (r->pf.n == 0 && !r->normalized) {
        /* no literal: maybe number-like, starting where PCRE2 says it can */
        uint8_t first[32] = {0};
        uint32_t type = 2, unit = 0;
        const uint8_t *bm = NULL;
        int known = 0;
        pcre2_pattern_info(r->re, PCRE2_INFO_FIRSTCODETYPE, &type);
        if (type == 1 && pcre2_pattern_info(r->re, PCRE2_INFO_FIRSTCODEUNIT, &unit) == 0 &&
            unit < 0x80) {
            first[unit >> 3] |= (uint8_t)(1u << (unit & 7));
            known = 1;
        } else if (type == 0 && pcre2_pattern_info(r->re, PCRE2_INFO_FIRSTBITMAP, &bm) == 0 && bm) {
            memcpy(first, bm, sizeof first);
            known = 1;
        }
        if (known) al_prefilter_startclass(r->pattern, opt, first, &r->pf);
    }
    if (r->pf.n || r->pf.startclass) {
        al_prefilter_shape(r->pattern, opt, r->normalized, &r->pf);
        /* (worth the walk only for a rule whose match may begin with a digit) */
        int digit = 0;
        for (int c = '0'; c <= '9'; c++)
            if (r->pf.first[c >> 3] & (1u << (c & 7))) digit = 1;
        if (digit) al_prefilter_digits(r->pattern, opt, &r->pf);
    }
    r->always = r->pf.n == 0 && !r->pf.byteset && !r->pf.startclass;
    return AL_OK;
}

/* Parses one rule object into r (r->file set by the caller); ids indexes
 * the rules loaded so far (NULL: none, searched linearly). */
static al_code parse_rule(al_engine *e, const idx_set *ids, const cJSON *o, al_rule *r,
                          const char *dir, al_rules_errs *errs)
{
    const char *why = NULL;
    const cJSON *v;
    if (!cJSON_IsObject(o)) {
        al_rules_err(errs, r->file, NULL, "rule is not an object");
        return AL_ERULES;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (!cJSON_IsString(v) || !valid_id(v->valuestring)) {
        al_rules_err(errs, r->file, cJSON_IsString(v) ? v->valuestring : NULL,
                     "\"id\" missing or not [a-z0-9_.-]+");
        return AL_ERULES;
    }
    r->id = strdup(v->valuestring);
    if (!r->id) return AL_ENOMEM;
    const char *id = r->id;
    for (const cJSON *k = o->child; k; k = k->next) {
        if (!known_key(k->string)) {
            al_rules_err(errs, r->file, id, "unknown key \"%s\"", k->string);
            return AL_ERULES;
        }
    }
    int first = rule_by_id(e, ids, id);
    if (first >= 0) {
        al_rules_err(errs, r->file, id, "duplicate rule id (first in %s)", e->rules[first].file);
        return AL_ERULES;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "category");
    if (!cJSON_IsString(v) || al_category_parse(v->valuestring, &r->cat) != 0) {
        al_rules_err(errs, r->file, id,
                     "\"category\" must be injection|jailbreak|secret|pii|unsafe_output|sanitize");
        return AL_ERULES;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "entity");
    if (v) {
        if (!cJSON_IsString(v) || !*v->valuestring || strlen(v->valuestring) > 64) {
            al_rules_err(errs, r->file, id, "\"entity\" must be a non-empty string");
            return AL_ERULES;
        }
        for (const char *c = v->valuestring; *c; c++) {
            if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_')) {
                al_rules_err(errs, r->file, id, "\"entity\" must be [A-Z0-9_]+");
                return AL_ERULES;
            }
        }
        r->entity = strdup(v->valuestring);
        if (!r->entity) return AL_ENOMEM;
    } else if (r->cat == AL_CAT_PII || r->cat == AL_CAT_SECRET) {
        al_rules_err(errs, r->file, id, "\"entity\" is required for pii and secret rules");
        return AL_ERULES;
    }
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const cJSON *det = cJSON_GetObjectItemCaseSensitive(o, "detector");
    if ((pat && det) || (!pat && !det)) {
        al_rules_err(errs, r->file, id, "exactly one of \"pattern\" and \"detector\" is required");
        return AL_ERULES;
    }
    const cJSON *flags = cJSON_GetObjectItemCaseSensitive(o, "flags");
    if (flags && !cJSON_IsString(flags)) {
        al_rules_err(errs, r->file, id, "\"flags\" must be a string");
        return AL_ERULES;
    }
    /* applies_to, weight, action, confidence, context: */
    r->applies = AL_DIR_PROMPT_BIT | AL_DIR_COMPLETION_BIT;
    v = cJSON_GetObjectItemCaseSensitive(o, "applies_to");
    if (v) {
        if (cJSON_IsString(v) && strcmp(v->valuestring, "prompt") == 0)
            r->applies = AL_DIR_PROMPT_BIT;
        else if (cJSON_IsString(v) && strcmp(v->valuestring, "completion") == 0)
            r->applies = AL_DIR_COMPLETION_BIT;
        else if (!cJSON_IsString(v) || strcmp(v->valuestring, "both") != 0) {
            al_rules_err(errs, r->file, id, "\"applies_to\" must be prompt|completion|both");
            return AL_ERULES;
        }
    }
    if (get_number(o, "weight", 0, 1000, 1.0, &r->weight, &why) ||
        get_number(o, "confidence", 0, 1, 1.0, &r->confidence, &why) ||
        get_number(o, "context_boost", 0, 1, 0.4, &r->ctx_boost, &why)) {
        al_rules_err(errs, r->file, id, "weight/confidence/context_boost: %s", why);
        return AL_ERULES;
    }
    double win;
    if (get_number(o, "context_window", 0, 4096, DEFAULT_CTX_WINDOW, &win, &why)) {
        al_rules_err(errs, r->file, id, "\"context_window\": %s (0..4096)", why);
        return AL_ERULES;
    }
    r->ctx_window = (size_t)win;
    v = cJSON_GetObjectItemCaseSensitive(o, "action");
    if (v) {
        if (!cJSON_IsString(v) || al_action_parse(v->valuestring, &r->action) != 0) {
            al_rules_err(errs, r->file, id, "\"action\" must be allow|flag|redact|block");
            return AL_ERULES;
        }
        r->has_action = 1;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "normalized");
    r->normalized = (r->cat == AL_CAT_INJECTION || r->cat == AL_CAT_JAILBREAK);
    if (v) {
        if (!cJSON_IsBool(v)) {
            al_rules_err(errs, r->file, id, "\"normalized\" must be true or false");
            return AL_ERULES;
        }
        r->normalized = cJSON_IsTrue(v);
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "context");
    if (v) {
        if (str_array(v, &r->ctx, &r->nctx, &why)) {
            al_rules_err(errs, r->file, id, "\"context\" %s", why);
            return AL_ERULES;
        }
        r->ctxlen = calloc(r->nctx ? r->nctx : 1, sizeof *r->ctxlen);
        if (!r->ctxlen) return AL_ENOMEM;
        for (size_t i = 0; i < r->nctx; i++) {
            for (char *c = r->ctx[i]; *c; c++)
                if (*c >= 'A' && *c <= 'Z') *c = (char)(*c + 32);
            r->ctxlen[i] = strlen(r->ctx[i]);
            unsigned char f0 = (unsigned char)r->ctx[i][0];
            r->ctxfirst[f0 >> 3] |= (uint8_t)(1u << (f0 & 7));
            if (f0 >= 'a' && f0 <= 'z') {
                unsigned char u = (unsigned char)(f0 - 32);
                r->ctxfirst[u >> 3] |= (uint8_t)(1u << (u & 7));
            }
            if (!r->ctxlen[i]) {
                al_rules_err(errs, r->file, id, "\"context\" has an empty word");
                return AL_ERULES;
            }
        }
        if (r->nctx && ctx_index(r) != AL_OK) return AL_ENOMEM;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "examples");
    const cJSON *m = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "match") : NULL;
    if (!m || str_array(m, &r->ex_match, &r->n_match, &why) || r->n_match == 0) {
        al_rules_err(errs, r->file, id, "\"examples\".\"match\" must be a non-empty string array");
        return AL_ERULES;
    }
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(v, "no_match");
    if (nm && str_array(nm, &r->ex_nomatch, &r->n_nomatch, &why)) {
        al_rules_err(errs, r->file, id, "\"examples\".\"no_match\" %s", why);
        return AL_ERULES;
    }
    for (const cJSON *k = v->child; k; k = k->next) {
        if (strcmp(k->string, "match") && strcmp(k->string, "no_match")) {
            al_rules_err(errs, r->file, id, "\"examples\" has unknown key \"%s\"", k->string);
            return AL_ERULES;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "validator");
    if (v) {
        if (!cJSON_IsString(v)) {
            al_rules_err(errs, r->file, id, "\"validator\" must be a string");
            return AL_ERULES;
        }
        r->validator = al_validator_find ? al_validator_find(v->valuestring) : NULL;
        if (!r->validator) {
            al_rules_err(errs, r->file, id, "unknown validator \"%s\"", v->valuestring);
            return AL_ERULES;
        }
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(o, "params");
    if (params && !cJSON_IsObject(params)) {
        al_rules_err(errs, r->file, id, "\"params\" must be an object");
        return AL_ERULES;
    }
    if (det) {
        if (!cJSON_IsString(det) || !(r->det = al_detector_find(det->valuestring))) {
            al_rules_err(errs, r->file, id, "unknown detector \"%s\"",
                         cJSON_IsString(det) ? det->valuestring : "(not a string)");
            return AL_ERULES;
        }
        if (flags) {
            al_rules_err(errs, r->file, id, "\"flags\" only applies to \"pattern\"");
            return AL_ERULES;
        }
        char *ptext = params ? cJSON_PrintUnformatted(params) : NULL;
        char derr[256] = "";
        al_code c =
            r->det->load ? r->det->load(dir, ptext, &r->det_state, derr, sizeof derr) : AL_OK;
        cJSON_free(ptext);
        if (c != AL_OK) {
            al_rules_err(errs, r->file, id, "detector \"%s\": %s", r->det->name,
                         derr[0] ? derr : al_strerror(c));
            r->det_state = NULL;
            return AL_ERULES;
        }
        r->always = 1;
        e->has_detectors = 1;
        return AL_OK;
    }
    if (!cJSON_IsString(pat) || !*pat->valuestring) {
        al_rules_err(errs, r->file, id, "\"pattern\" must be a non-empty string");
        return AL_ERULES;
    }
    r->pattern = strdup(pat->valuestring);
    if (!r->pattern) return AL_ENOMEM;
    return compile_rule(r, flags ? flags->valuestring : NULL, errs);
}

static char *read_file(const char *path, size_t *len, const char **why)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *why = strerror(errno);
        return NULL;
    }
    al_buf b = {0};
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (b.len + n > MAX_PACK_BYTES) {
            *why = "file larger than 16 MiB";
            fclose(f);
            al_buf_free(&b);
            return NULL;
        }
        if (al_buf_append(&b, tmp, n) != AL_OK) {
            *why = "out of memory";
            fclose(f);
            al_buf_free(&b);
            return NULL;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        *why = "read error";
        al_buf_free(&b);
        return NULL;
    }
    if (!b.data && al_buf_append(&b, "", 0) != AL_OK) {
        *why = "out of memory";
        return NULL;
    }
    *len = b.len;
    return b.data;
}

static al_code add_rule_slot(al_engine *e)
{
    if (e->n < e->cap) return AL_OK;
    if (e->n >= MAX_RULES) return AL_ELIMIT;
    size_t cap = e->cap ? e->cap * 2 : 64;
    al_rule *v = realloc(e->rules, cap * sizeof *v);
    if (!v) return AL_ENOMEM;
    e->rules = v;
    e->cap = cap;
    return AL_OK;
}

static al_code load_model(al_engine *e, const char *file, const char *dir, const char *name,
                          al_rules_errs *errs)
{
    if (strstr(name, "..") || name[0] == '/' || !*name) {
        al_rules_err(errs, file, NULL,
                     "\"model\" must be a relative file name inside the pack dir");
        return AL_ERULES;
    }
    if (e->model) {
        al_rules_err(errs, file, NULL, "a second \"model\" (only one pack may name a model)");
        return AL_ERULES;
    }
    if (!al_model_load) return AL_OK; /* classifier not built in: rules only */
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        al_rules_err(errs, file, NULL, "model path too long");
        return AL_ERULES;
    }
    char err[256] = "";
    al_code c = al_model_load(path, &e->model, err, sizeof err);
    if (c != AL_OK) {
        e->model = NULL;
        al_rules_err(errs, file, NULL, "model %s: %s", name, err[0] ? err : al_strerror(c));
        return AL_ERULES;
    }
    return AL_OK;
}

static al_code load_file(al_engine *e, const char *path, al_rules_errs *errs)
{
    const char *why = NULL;
    size_t len = 0;
    e->nfiles++;
    char *text = read_file(path, &len, &why);
    if (!text) {
        al_rules_err(errs, path, NULL, "cannot read: %s", why);
        return AL_EIO;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        size_t line = 1;
        for (size_t i = 0; i < off && i < len; i++) line += text[i] == '\n';
        al_rules_err(errs, path, NULL, "JSON syntax error near byte %zu (line %zu)", off, line);
        free(text);
        return AL_ERULES;
    }
    free(text);
    al_code rc = AL_OK;
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        al_rules_err(errs, path, NULL, "path too long");
        cJSON_Delete(root);
        return AL_EIO;
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(root, "rules");
    const cJSON *pack = cJSON_GetObjectItemCaseSensitive(root, "pack");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(root) || !cJSON_IsString(pack) || !cJSON_IsArray(rules)) {
        al_rules_err(errs, path, NULL,
                     "a pack is an object with a string \"pack\" and an array \"rules\"");
        cJSON_Delete(root);
        return AL_ERULES;
    }
    if (model) {
        if (!cJSON_IsString(model)) {
            al_rules_err(errs, path, NULL, "\"model\" must be a string");
            rc = AL_ERULES;
        } else if ((rc = load_model(e, path, dir, model->valuestring, errs)) != AL_OK) {
            if (!errs || !errs->keep_going) {
                cJSON_Delete(root);
                return rc;
            }
        }
    }
    idx_set ids;
    if (idx_set_init(&ids, e->n + (size_t)cJSON_GetArraySize(rules)) == 0)
        for (size_t i = 0; i < e->n; i++) ids_add(&ids, e, (uint32_t)i);
    const cJSON *o;
    cJSON_ArrayForEach(o, rules)
    {
        al_code c = add_rule_slot(e);
        if (c != AL_OK) {
            al_rules_err(errs, path, NULL, "%s", al_strerror(c));
            rc = c;
            break;
        }
        al_rule *r = &e->rules[e->n];
        memset(r, 0, sizeof *r);
        r->file = strdup(path);
        c = r->file ? parse_rule(e, &ids, o, r, dir, errs) : AL_ENOMEM;
        if (c == AL_OK) {
            ids_add(&ids, e, (uint32_t)e->n++);
            continue;
        }
        if (c == AL_ENOMEM) al_rules_err(errs, path, r->id, "out of memory");
        al_rule_free(r);
        rc = c;
        if (!errs || !errs->keep_going) break;
    }
    free(ids.slot);
    cJSON_Delete(root);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

al_code al_rules_load_path(al_engine *e, const char *path, al_rules_errs *errs)
{
    struct stat st;
    if (!path || stat(path, &st) != 0) {
        al_rules_err(errs, path ? path : "(null)", NULL, "cannot open: %s",
                     path ? strerror(errno) : "no path");
        return AL_EIO;
    }
    if (!S_ISDIR(st.st_mode)) return load_file(e, path, errs);
    DIR *d = opendir(path);
    if (!d) {
        al_rules_err(errs, path, NULL, "cannot open directory: %s", strerror(errno));
        return AL_EIO;
    }
    char base[4096];
    size_t bl = strlen(path);
    while (bl > 1 && path[bl - 1] == '/') bl--;
    if (bl >= sizeof base) bl = sizeof base - 1;
    memcpy(base, path, bl);
    base[bl] = '\0';
    path = base;
    char **names = NULL;
    size_t n = 0, cap = 0;
    al_code rc = AL_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".json") != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(names, cap * sizeof *nv);
            if (!nv) {
                rc = AL_ENOMEM;
                break;
            }
            names = nv;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = AL_ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == AL_OK && n == 0) {
        al_rules_err(errs, path, NULL, "no *.json rule packs in directory");
        rc = AL_ERULES;
    }
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && rc != AL_ENOMEM; i++) {
        char full[4096];
        al_code c;
        if (snprintf(full, sizeof full, "%s/%s", path, names[i]) >= (int)sizeof full) {
            al_rules_err(errs, path, NULL, "path too long");
            c = AL_EIO;
        } else {
            c = load_file(e, full, errs);
        }
        if (c != AL_OK) {
            rc = c;
            if (!errs || !errs->keep_going) break;
        }
    }
    if (rc == AL_ENOMEM) al_rules_err(errs, path, NULL, "out of memory");
    free_strv(names, n);
    return rc;
}

/* *idx := for each of the n literals req, its index in e->reqs (added
 * there when not yet listed for its normalisation; seen indexes e->reqs).
 * AL_ENOMEM (*idx NULL) on allocation failure. */
static al_code req_index(al_engine *e, idx_set *seen, char *const *req, size_t n, int normalized,
                         uint32_t **idx)
{
    if (!(*idx = calloc(n, sizeof **idx))) return AL_ENOMEM;
    unsigned char norm = normalized != 0;
    for (size_t j = 0; j < n; j++) {
        uint32_t h = str_hash(req[j], 2166136261u ^ norm) & seen->mask, k;
        while ((k = seen->slot[h]) != UINT32_MAX &&
               (e->req_norm[k] != norm || strcmp(e->reqs[k], req[j]) != 0))
            h = (h + 1) & seen->mask;
        if (k == UINT32_MAX) {
            k = e->n_req++;
            e->reqs[k] = req[j];
            e->req_norm[k] = norm;
            seen->slot[h] = k;
        }
        (*idx)[j] = k;
    }
    return AL_OK;
}

al_code al_rules_finish(al_engine *e, al_rules_errs *errs)
{
    e->mctx = pcre2_match_context_create(NULL);
    if (!e->mctx) {
        al_rules_err(errs, NULL, NULL, "out of memory");
        return AL_ENOMEM;
    }
    /* Bounds on every match: no input may make one scan take seconds. */
    pcre2_set_match_limit(e->mctx, 200000);
    pcre2_set_depth_limit(e->mctx, 5000);
    pcre2_set_heap_limit(e->mctx, 20000); /* KiB */
    for (size_t i = 0; i < e->n; i++) {
        if (e->rules[i].lookbehind > e->max_lookbehind) e->max_lookbehind = e->rules[i].lookbehind;
        uint32_t caps = 0;
        if (e->rules[i].re &&
            pcre2_pattern_info(e->rules[i].re, PCRE2_INFO_CAPTURECOUNT, &caps) == 0 &&
            caps > e->max_caps)
            e->max_caps = caps;
        if (e->rules[i].nctx && e->rules[i].ctx_window > e->max_ctx_window)
            e->max_ctx_window = e->rules[i].ctx_window;
    }
    const char *nopf = getenv("AIRLOCK_NO_PREFILTER"); /* for measurements and tests */
    if (nopf && *nopf == '1') return AL_OK;
    e->rkind = calloc(e->n ? e->n : 1, 1);
    if (!e->rkind) {
        al_rules_err(errs, NULL, NULL, "out of memory");
        return AL_ENOMEM;
    }
    for (size_t i = 0; i < e->n; i++) {
        const al_rule *r = &e->rules[i];
        e->rkind[i] =
            (uint8_t)((r->det ? AL_RK_DET : 0) | (r->normalized ? AL_RK_NORM : 0) |
                      (r->pf.n || r->pf.startclass ? AL_RK_PRE : 0) | (r->pf.ks ? AL_RK_KS : 0));
    }
    e->sc_rules = calloc(e->n ? e->n : 1, sizeof *e->sc_rules);
    if (!e->sc_rules) {
        al_rules_err(errs, NULL, NULL, "out of memory");
        return AL_ENOMEM;
    }
    for (size_t i = 0; i < e->n; i++) {
        if (!e->rules[i].pf.startclass) continue;
        e->sc_rules[e->n_sc++] = (uint32_t)i;
        for (int k = 0; k < 32; k++) e->sc_first[k] |= e->rules[i].pf.first[k];
        if (e->n_sc > 64) continue; /* the masks hold 64 rules; engine.c then loops */
        const al_prefilter *pf = &e->rules[i].pf;
        for (int c = 0; c < 256; c++) {
            uint64_t bit = (uint64_t)1 << (e->n_sc - 1);
            if (pf->first[c >> 3] & (1u << (c & 7))) e->sc_mask[c] |= bit;
            if (pf->notprev[c >> 3] & (1u << (c & 7))) e->sc_np[c] |= bit;
        }
    }
    /* the required literals worth looking for, each distinct one once */
    size_t total = 0;
    for (size_t i = 0; i < e->n; i++) total += e->rules[i].pf.nreq + e->rules[i].pf.nreq2;
    e->reqs = calloc(total ? total : 1, sizeof *e->reqs);
    e->req_norm = calloc(total ? total : 1, 1);
    if (!e->reqs || !e->req_norm) {
        al_rules_err(errs, NULL, NULL, "out of memory");
        return AL_ENOMEM;
    }
    idx_set seen; /* e->reqs[0..n_req), by literal and normalisation */
    if (idx_set_init(&seen, total) != 0) {
        al_rules_err(errs, NULL, NULL, "out of memory");
        return AL_ENOMEM;
    }
    for (size_t i = 0; i < e->n; i++) {
        al_rule *r = &e->rules[i];
        free(r->req);
        free(r->req2);
        r->req = r->req2 = NULL;
        if (r->det) continue;
        if ((al_prefilter_req_useful(&r->pf) &&
             req_index(e, &seen, r->pf.req, r->pf.nreq, r->normalized, &r->req) != AL_OK) ||
            (al_prefilter_req2_useful(&r->pf) &&
             req_index(e, &seen, r->pf.req2, r->pf.nreq2, r->normalized, &r->req2) != AL_OK)) {
            free(seen.slot);
            al_rules_err(errs, NULL, NULL, "out of memory");
            return AL_ENOMEM;
        }
    }
    free(seen.slot);
    if (al_litset_build(e) != AL_OK) {
        al_rules_err(errs, NULL, NULL, "out of memory");
        return AL_ENOMEM;
    }
    return AL_OK;
}

void al_engine_free(al_engine *e)
{
    if (!e) return;
    for (size_t i = 0; i < e->n; i++) al_rule_free(&e->rules[i]);
    free(e->rules);
    if (e->model && al_model_free) al_model_free(e->model);
    if (e->mctx) pcre2_match_context_free(e->mctx);
    al_litset_free(e->lits);
    free(e->sc_rules);
    free(e->rkind);
    free(e->reqs);
    free(e->req_norm);
    free(e);
}

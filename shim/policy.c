/* policy.c: the policy file: one JSON object turned into the AIRLOCK_*
 * settings it stands for, strictly checked; and those settings, read from
 * the environment, turned into the engine's al_policy (the shim and
 * `airlock scan` share both).  Pure apart from reading the file and the
 * environment; never logs. */
#include <errno.h>
#include <stdint.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "budget.h"
#include "egress.h"
#include "engine.h"
#include "policy.h"

#define MAX_POLICY_BYTES (1u << 20)

void al_settings_free(al_settings *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].value);
    }
    s->n = 0;
}

const char *al_settings_get(const al_settings *s, const char *name)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (!strcmp(s->v[i].name, name)) return s->v[i].value;
    return NULL;
}

static al_code put(al_settings *s, const char *name, const char *value)
{
    if (s->n == AL_POLICY_MAX_SETTINGS) return AL_ELIMIT;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return AL_ENOMEM;
    }
    s->v[s->n++] = (al_setting){n, v};
    return AL_OK;
}

typedef struct {
    const char *dir;
    al_settings *out;
    char *err;
    size_t errlen;
} ctx_t;

static al_code bad(ctx_t *c, const char *key, const char *why)
{
    if (c->err) snprintf(c->err, c->errlen, "%s: %s", key, why);
    return AL_EPARSE;
}

static al_code put_string(ctx_t *c, const cJSON *v, const char *key, const char *var,
                          const char *const *allowed, int is_path)
{
    if (!cJSON_IsString(v) || !v->valuestring[0]) return bad(c, key, "expected a non-empty string");
    const char *s = v->valuestring;
    if (allowed) {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++) ok |= !strcmp(s, allowed[i]);
        if (!ok) return bad(c, key, "not one of the allowed values");
    }
    if (is_path && s[0] != '/' && c->dir) {
        size_t n = strlen(c->dir) + strlen(s) + 2;
        char *p = malloc(n);
        if (!p) return AL_ENOMEM;
        snprintf(p, n, "%s/%s", c->dir, s);
        al_code r = put(c->out, var, p);
        free(p);
        return r;
    }
    return put(c->out, var, s);
}

/* a string, or an array of strings joined with commas */
static al_code put_list(ctx_t *c, const cJSON *v, const char *key, const char *var)
{
    if (cJSON_IsString(v)) return put_string(c, v, key, var, NULL, 0);
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
        return bad(c, key, "expected a string or a non-empty array of strings");
    al_buf b = {0};
    const cJSON *it;
    al_code r = AL_OK;
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsString(it) || !it->valuestring[0] || strchr(it->valuestring, ',')) {
            al_buf_free(&b);
            return bad(c, key, "every item must be a non-empty string without commas");
        }
        if (b.len) r = al_buf_append(&b, ",", 1);
        if (r == AL_OK) r = al_buf_puts(&b, it->valuestring);
        if (r != AL_OK) break;
    }
    if (r == AL_OK) r = put(c->out, var, b.data);
    al_buf_free(&b);
    return r;
}

static al_code put_number(ctx_t *c, const cJSON *v, const char *key, const char *var, double lo,
                          double hi, int integer)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi || (integer && v->valuedouble != floor(v->valuedouble))) {
        char why[96];
        snprintf(why, sizeof why, "expected %s from %g to %g",
                 integer ? "a whole number" : "a number", lo, hi);
        return bad(c, key, why);
    }
    char s[64];
    if (integer)
        snprintf(s, sizeof s, "%.0f", v->valuedouble);
    else
        snprintf(s, sizeof s, "%.15g", v->valuedouble);
    return put(c->out, var, s);
}

static al_code put_actions(ctx_t *c, const cJSON *v, const char *key, const char *prefix)
{
    static const char *const actions[] = {"allow", "flag", "redact", "block", NULL};
    if (!cJSON_IsObject(v)) return bad(c, key, "expected an object of category: action");
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        al_category cat;
        char k[96];
        snprintf(k, sizeof k, "%s.%.60s", key, it->string);
        for (const cJSON *o = v->child; o != it; o = o->next)
            if (!strcmp(o->string, it->string)) return bad(c, k, "appears twice");
        if (al_category_parse(it->string, &cat) != 0)
            return bad(
                c, k,
                "not a category (injection, jailbreak, secret, pii, unsafe_output, sanitize)");
        char var[64];
        size_t n = (size_t)snprintf(var, sizeof var, "%s", prefix);
        for (const char *p = it->string; *p && n + 1 < sizeof var; p++)
            var[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        var[n] = 0;
        al_code r = put_string(c, it, k, var, actions, 0);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

al_code al_policy_parse(const char *text, size_t len, const char *dir, al_settings *out, char *err,
                        size_t errlen)
{
    static const char *const modes[] = {"enforce", "monitor", NULL};
    static const char *const fails[] = {"closed", "open", NULL};
    if (err && errlen) err[0] = 0;
    memset(out, 0, sizeof *out);
    ctx_t c = {dir, out, err, errlen};
    if (!text) return bad(&c, "policy", "no text");
    if (len >= 3 &&
        !memcmp(text, "\xef\xbb\xbf", 3)) { /* a UTF-8 byte order mark (Windows editors) */
        text += 3;
        len -= 3;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bad(&c, "policy", "not a JSON object");
    }
    /* text after the object (a second object, a stray brace) would be
     * settings silently dropped */
    while (end && end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end && end < text + len) {
        cJSON_Delete(root);
        return bad(&c, "policy", "text after the JSON object");
    }
    al_code r = AL_OK;
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        const char *k = it->string;
        for (const cJSON *o = root->child; o != it; o = o->next)
            if (!strcmp(o->string, k)) {
                r = bad(&c, k, "appears twice");
                goto done;
            }
        if (!strcmp(k, "mode"))
            r = put_string(&c, it, k, "AIRLOCK_MODE", modes, 0);
        else if (!strcmp(k, "fail"))
            r = put_string(&c, it, k, "AIRLOCK_FAIL", fails, 0);
        else if (!strcmp(k, "audit"))
            r = put_string(&c, it, k, "AIRLOCK_AUDIT", NULL, 1);
        else if (!strcmp(k, "rules"))
            r = put_string(&c, it, k, "AIRLOCK_RULES", NULL, 1);
        else if (!strcmp(k, "weights"))
            r = put_string(&c, it, k, "AIRLOCK_WEIGHTS", NULL, 1);
        else if (!strcmp(k, "limits_file"))
            r = put_string(&c, it, k, "AIRLOCK_LIMITS_FILE", NULL, 1);
        else if (!strcmp(k, "llm_hosts"))
            r = put_list(&c, it, k, "AIRLOCK_LLM_HOSTS");
        else if (!strcmp(k, "egress")) {
            r = put_list(&c, it, k, "AIRLOCK_EGRESS");
            /* checked now, so a bad entry stops airlock run instead of
             * refusing every connection once the program runs */
            char why[200];
            al_egress *e =
                r == AL_OK ? al_egress_parse(out->v[out->n - 1].value, why, sizeof why) : NULL;
            if (r == AL_OK && !e) r = bad(&c, k, why);
            al_egress_free(e);
        } else if (!strcmp(k, "weights_ext"))
            r = put_list(&c, it, k, "AIRLOCK_WEIGHTS_EXT");
        else if (!strcmp(k, "max_body"))
            r = put_number(&c, it, k, "AIRLOCK_MAX_BODY", 1, 4294967296.0, 1);
        else if (!strcmp(k, "max_prompt"))
            r = put_number(&c, it, k, "AIRLOCK_MAX_PROMPT", 1, 4294967296.0, 1);
        else if (!strcmp(k, "block_threshold"))
            r = put_number(&c, it, k, "AIRLOCK_BLOCK_THRESHOLD", 0.01, 1000, 0);
        else if (!strcmp(k, "model_threshold"))
            r = put_number(&c, it, k, "AIRLOCK_MODEL_THRESHOLD", 0, 1, 0);
        else if (!strcmp(k, "budget_tokens"))
            r = put_number(&c, it, k, "AIRLOCK_BUDGET_TOKENS", 1, 9e15, 1);
        else if (!strcmp(k, "rate")) {
            double calls, win;
            if (!cJSON_IsString(it) || al_limits_parse_rate(it->valuestring, &calls, &win) != 0)
                r = bad(&c, k, "expected a rate such as \"60/min\", \"5/s\" or \"1000/h\"");
            else
                r = put(out, "AIRLOCK_RATE", it->valuestring);
        } else if (!strcmp(k, "prompt"))
            r = put_actions(&c, it, k, "AIRLOCK_PROMPT_");
        else if (!strcmp(k, "completion"))
            r = put_actions(&c, it, k, "AIRLOCK_COMPLETION_");
        else if (!strcmp(k, "debug")) {
            if (!cJSON_IsBool(it))
                r = bad(&c, k, "expected true or false");
            else
                r = put(out, "AIRLOCK_DEBUG", cJSON_IsTrue(it) ? "1" : "0");
        } else
            r = bad(&c, k, "unknown key");
        if (r == AL_ELIMIT) r = bad(&c, k, "too many settings");
        if (r == AL_ENOMEM && err) snprintf(err, errlen, "%s: out of memory", k);
        if (r != AL_OK) break;
    }
done:
    cJSON_Delete(root);
    if (r != AL_OK) al_settings_free(out);
    return r;
}

al_code al_policy_load(const char *path, al_settings *out, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    memset(out, 0, sizeof *out);
    if (!path) return AL_EINVAL;
    al_buf b = {0};
    al_code r = al_read_file(path, MAX_POLICY_BYTES, &b);
    if (r != AL_OK) {
        if (err)
            snprintf(err, errlen, "%s: %s", path,
                     r == AL_EIO      ? strerror(errno)
                     : r == AL_ELIMIT ? "larger than 1 MiB"
                                      : "out of memory");
        al_buf_free(&b);
        return r;
    }
    /* the directory relative paths are resolved against */
    char dir[4096], abs[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)((slash - path) ? (slash - path) : 1), path);
    else
        snprintf(dir, sizeof dir, ".");
    /* absolute, so the paths stay right if the program changes directory */
    const char *base = realpath(dir, abs) ? abs : dir;
    char sub[512];
    r = al_policy_parse(b.data ? b.data : "", b.len, base, out, sub, sizeof sub);
    if (r != AL_OK && err) snprintf(err, errlen, "%s: %s", path, sub);
    al_buf_free(&b);
    return r;
}

/* ---- the environment: the settings as the shim reads them ---- */

static void note(char *errbuf, size_t errlen, const char *fmt, const char *a, const char *b)
{
    if (!errbuf || !errlen || errbuf[0]) return; /* keep the first message */
    snprintf(errbuf, errlen, fmt, a, b);
}

/* "N", "Nk", "NM", "NG" (also "NKB", "NMiB"); anything else (a sign, an
 * unknown suffix, an overflow, 0) keeps dflt. */
size_t al_parse_size(const char *s, size_t dflt)
{
    char *end;
    while (*s == ' ' || *s == '\t') s++;
    if (*s < '0' || *s > '9') return dflt;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return dflt;
    int shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case '\0':
        break;
    default:
        return dflt;
    }
    if (shift) {
        end++;
        if (*end == 'i') end++;
        if (*end == 'B' || *end == 'b') end++;
        if (*end) return dflt;
    }
    if (v > (SIZE_MAX >> shift)) return dflt;
    v <<= shift;
    return v ? (size_t)v : dflt;
}

/* AIRLOCK_PROMPT_<CATEGORY> / AIRLOCK_COMPLETION_<CATEGORY> = allow|flag|redact|block */
static void action_overrides(al_policy *p, char *errbuf, size_t errlen)
{
    for (int c = 0; c < AL_CAT_COUNT; c++) {
        for (int dir = 0; dir < 2; dir++) {
            char name[64];
            const char *cat = al_category_name((al_category)c);
            snprintf(name, sizeof name, "AIRLOCK_%s_", dir ? "COMPLETION" : "PROMPT");
            size_t n = strlen(name);
            for (size_t i = 0; cat[i] && n + 1 < sizeof name; i++)
                name[n++] = (char)(cat[i] >= 'a' && cat[i] <= 'z' ? cat[i] - 32 : cat[i]);
            name[n] = '\0';
            const char *v = getenv(name);
            if (!v || !*v) continue;
            al_action a;
            if (al_action_parse(v, &a) != 0) {
                note(errbuf, errlen, "airlock: %s=%s is not allow|flag|redact|block", name, v);
                continue;
            }
            if (dir)
                p->completion[c] = a;
            else
                p->prompt[c] = a;
        }
    }
}

void al_policy_from_env(al_policy *p, char *errbuf, size_t errlen)
{
    al_policy_default(p);
    /* a prompt up to the body cap is screened whole rather than cut */
    p->max_prompt_bytes = 4u << 20;
    const char *v = getenv("AIRLOCK_MAX_PROMPT");
    if (v && *v) {
        size_t n = al_parse_size(v, 0);
        if (n)
            p->max_prompt_bytes = n;
        else
            note(errbuf, errlen, "airlock: AIRLOCK_MAX_PROMPT=%s is not a size%s", v,
                 " such as 4M; keeping 4 MiB");
    }
    v = getenv("AIRLOCK_BLOCK_THRESHOLD");
    if (v && *v) {
        char *end;
        double d = strtod(v, &end);
        if (end != v && !*end && d > 0 && isfinite(d))
            p->block_threshold = d;
        else
            note(errbuf, errlen, "airlock: AIRLOCK_BLOCK_THRESHOLD=%s is not a positive number%s",
                 v, "; keeping the default");
    }
    v = getenv("AIRLOCK_MODEL_THRESHOLD");
    if (v && *v) {
        char *end;
        double d = strtod(v, &end);
        if (end != v && !*end && d >= 0 && d <= 1)
            p->model_threshold = d;
        else
            note(errbuf, errlen,
                 "airlock: AIRLOCK_MODEL_THRESHOLD=%s is not a number from 0 to 1%s", v,
                 "; keeping the model's own");
    }
    action_overrides(p, errbuf, errlen);
}

void al_settings_export(const al_settings *s)
{
    /* an empty variable is unset (as everywhere in airlock): it must not
     * lift what the file sets, such as its egress list */
    for (size_t i = 0; s && i < s->n; i++) {
        const char *cur = getenv(s->v[i].name);
        if (!cur || !*cur) setenv(s->v[i].name, s->v[i].value, 1);
    }
}

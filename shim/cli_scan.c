/* cli_scan.c: `airlock scan` (JSON lines in, one verdict line out per input
 * line) and `airlock check-rules` (validate packs and run their examples).
 * All JSON goes through cJSON; diagnostics never echo scanned text. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "engine.h"
#include "policy.h"
#include "rules.h"

static int scan_usage(void)
{
    fprintf(
        stderr,
        "usage: airlock scan [--as prompt|completion] [--policy FILE] [--rules PATH] [--jobs N] "
        "[FILE]\n");
    return 2;
}

static double round6(double x)
{
    return round(x * 1e6) / 1e6;
}

/* The output line's buffer, kept across lines so printing one allocates
 * nothing once it has grown to the longest line. */
typedef struct {
    char *buf;
    size_t cap;
    size_t len; /* the printed line, newline included */
    int oom;    /* not even the error line fitted: print it from static memory */
} out_buf;

/* ob := s[0..n) and a newline; 0 when out of memory. */
static int ob_set(out_buf *ob, const char *s, size_t n)
{
    if (ob->cap < n + 1) {
        char *nb = realloc(ob->buf, n + 1);
        if (!nb) return 0;
        ob->buf = nb;
        ob->cap = n + 1;
    }
    memcpy(ob->buf, s, n);
    ob->buf[n] = '\n';
    ob->len = n + 1;
    return 1;
}

/* Prints o and a newline into ob (ob->len bytes; a line that does not fit
 * is printed again into a buffer twice the size: cJSON_PrintPreallocated
 * fails rather than overflow).  hint: a guess at the printed length. */
static void put_json(cJSON *o, out_buf *ob, size_t hint)
{
    size_t need = hint < 256 ? 256 : hint;
    for (int tries = 0; tries < 8 && need <= INT_MAX; tries++, need *= 2) {
        if (ob->cap < need) {
            char *nb = realloc(ob->buf, need);
            if (!nb) break;
            ob->buf = nb;
            ob->cap = need;
        }
        if (cJSON_PrintPreallocated(o, ob->buf, (int)ob->cap, 0)) {
            size_t n = strlen(ob->buf); /* n < cap: the NUL's byte takes the newline */
            ob->buf[n] = '\n';
            ob->len = n + 1;
            return;
        }
        if (need < ob->cap) need = ob->cap;
    }
    /* beyond the buffer's reach (or no memory for it) */
    char *s = cJSON_PrintUnformatted(o);
    if (!s || !ob_set(ob, s, strlen(s))) ob->oom = 1;
    cJSON_free(s);
}

static void put_error(const char *msg, out_buf *ob)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "error", msg)) {
        cJSON_Delete(o);
        ob->len = 0;
        ob->oom = 1;
        return;
    }
    put_json(o, ob, 2 * strlen(msg) + 32);
    cJSON_Delete(o);
}

/* Adds a constant key (never copied or freed by cJSON) to o; 1 on success,
 * 0 (and v freed) on failure. */
static int add(cJSON *o, const char *key, cJSON *v)
{
    if (v && cJSON_AddItemToObjectCS(o, key, v)) return 1;
    cJSON_Delete(v);
    return 0;
}

/* A scanned line's output object, made once per thread and refilled for
 * every line: its values are set in place, each string referenced (never
 * copied or freed by cJSON) and each number in the form it was always
 * given to cJSON, so printing it writes what a freshly built object would,
 * without ~50 allocations and frees per line. */
typedef struct {
    cJSON *o; /* blocked, score, model_score, findings, text (the contract's order) */
    cJSON *blocked, *score, *model_score, *findings, *text;
    char score_digits[24], model_digits[24];
    /* finding objects (rule, category, entity, start, end, action): the
     * first nlinked are in the findings array, the rest detached */
    cJSON **f;
    size_t nf, nlinked;
    char (*digits)[2][24]; /* f[i]'s start and end */
} out_tree;

/* Sets v (a value add put under a constant key, which it keeps) to type t
 * referencing s, which the tree never frees. */
static void set_ref(cJSON *v, int t, const char *s)
{
    v->type = (v->type & cJSON_StringIsConst) | t | (s ? cJSON_IsReference : 0);
    v->valuestring = (char *)s;
    v->valuedouble = 0;
    v->valueint = 0;
}

/* v := a number as cJSON prints it.  Integers in [0, 1e15), which "%1.15g"
 * writes as their plain digits and reads back exactly, are given as those
 * digits (a raw value written into buf, 24 bytes); others as
 * cJSON_CreateNumber makes them.  Saves cJSON's sprintf + sscanf round
 * trip on every offset of every finding. */
static void set_number(cJSON *v, char *buf, double d)
{
    if (d >= 0 && d < 1e15 && d == floor(d) && !signbit(d)) {
        char *q = buf + 24;
        unsigned long long u = (unsigned long long)d;
        *--q = '\0';
        do *--q = (char)('0' + u % 10);
        while (u /= 10);
        set_ref(v, cJSON_Raw, q);
        return;
    }
    set_ref(v, cJSON_Number, NULL);
    v->valuedouble = d; /* and valueint as cJSON_CreateNumber sets it */
    v->valueint = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
}

static void out_tree_free(out_tree *t)
{
    cJSON_Delete(t->o); /* with the linked findings */
    for (size_t i = t->nlinked; i < t->nf; i++) cJSON_Delete(t->f[i]);
    free(t->f);
    free(t->digits);
    *t = (out_tree){0};
}

/* Makes t's root object if it has none; 0 when out of memory. */
static int out_tree_root(out_tree *t)
{
    if (t->o) return 1;
    cJSON *o = cJSON_CreateObject();
    int ok = o && add(o, "blocked", t->blocked = cJSON_CreateFalse()) &&
             add(o, "score", t->score = cJSON_CreateNull()) &&
             add(o, "model_score", t->model_score = cJSON_CreateNull()) &&
             add(o, "findings", t->findings = cJSON_CreateArray()) &&
             add(o, "text", t->text = cJSON_CreateNull());
    if (!ok) {
        cJSON_Delete(o);
        return 0;
    }
    t->o = o;
    return 1;
}

/* Makes t hold at least n finding objects, exactly the first n of them in
 * the findings array; 0 when out of memory. */
static int out_tree_findings(out_tree *t, size_t n)
{
    if (n > t->nf) {
        cJSON **f = realloc(t->f, n * sizeof *f);
        if (!f) return 0;
        t->f = f;
        char(*d)[2][24] = realloc(t->digits, n * sizeof *d);
        if (!d) return 0;
        t->digits = d;
        while (t->nf < n) {
            cJSON *fo = cJSON_CreateObject();
            int ok = fo && add(fo, "rule", cJSON_CreateNull()) &&
                     add(fo, "category", cJSON_CreateNull()) &&
                     add(fo, "entity", cJSON_CreateNull()) &&
                     add(fo, "start", cJSON_CreateNull()) && add(fo, "end", cJSON_CreateNull()) &&
                     add(fo, "action", cJSON_CreateNull());
            if (!ok) {
                cJSON_Delete(fo);
                return 0;
            }
            t->f[t->nf++] = fo; /* detached until linked below */
        }
    }
    for (; t->nlinked > n; t->nlinked--)
        cJSON_DetachItemViaPointer(t->findings, t->f[t->nlinked - 1]);
    for (; t->nlinked < n; t->nlinked++)
        if (!cJSON_AddItemToArray(t->findings, t->f[t->nlinked])) return 0;
    return 1;
}

/* Fills t with res, whose text (valid UTF-8) is out_text; 0 when out of
 * memory. */
static int out_tree_fill(out_tree *t, const al_result *res, const char *out_text)
{
    if (!out_tree_root(t) || !out_tree_findings(t, res->n)) return 0;
    set_ref(t->blocked, res->blocked ? cJSON_True : cJSON_False, NULL);
    set_number(t->score, t->score_digits, round6(res->score));
    set_number(t->model_score, t->model_digits, round6(res->model_score));
    for (size_t i = 0; i < res->n; i++) {
        const al_finding *f = &res->findings[i];
        cJSON *v = t->f[i]->child; /* rule, category, entity, start, end, action */
        set_ref(v, cJSON_String, f->rule);
        set_ref(v = v->next, cJSON_String, al_category_name(f->category));
        set_ref(v = v->next, f->entity ? cJSON_String : cJSON_NULL, f->entity);
        set_number(v = v->next, t->digits[i][0], (double)f->start);
        set_number(v = v->next, t->digits[i][1], (double)f->end);
        set_ref(v->next, cJSON_String, al_action_name(f->action));
    }
    set_ref(t->text, cJSON_String, out_text);
    return 1;
}

/* cJSON ends a string at an escaped NUL: the text after "\u0000" would be
 * neither scanned nor printed, so such a line is an error. */
static int has_nul_escape(const char *s, size_t n)
{
    for (const char *p = s; (p = memchr(p, '\\', (size_t)(s + n - p))) != NULL; p += 2) {
        if (p + 1 >= s + n) return 0;
        if (p[1] == 'u' && p + 6 <= s + n && !memcmp(p + 2, "0000", 4)) return 1;
    }
    return 0;
}

/* The length of the well-formed UTF-8 sequence (RFC 3629: no overlong
 * forms, surrogates or code points past U+10FFFF) at s[0..n), or 0 with
 * *bad set to the length of its maximal ill-formed subpart: a lead byte
 * and the continuation bytes that could still follow it, or one byte
 * (Unicode's "substitution of maximal subparts", as WHATWG and Python's
 * errors="replace" decode). */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c == 0xE0)
        need = 2, lo = 0xA0;
    else if (c == 0xED)
        need = 2, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF)
        need = 2;
    else if (c == 0xF0)
        need = 3, lo = 0x90;
    else if (c == 0xF4)
        need = 3, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3)
        need = 3;
    else {
        *bad = 1; /* 80-BF alone, C0, C1, F5-FF */
        return 0;
    }
    size_t i = 1;
    for (; i <= need && i < n && s[i] >= lo && s[i] <= hi; i++) lo = 0x80, hi = 0xBF;
    if (i > need) return i;
    *bad = i;
    return 0;
}

/* The offset of the first ill-formed UTF-8 byte in s[0..n), or n. */
static size_t utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, bad;
    while (i < n) {
        if (u[i] < 0x80) { /* ASCII runs */
            i += al_ascii_end(s + i, n - i);
            continue;
        }
        size_t k = utf8_seq(u + i, n - i, &bad);
        if (!k) return i;
        i += k;
    }
    return n;
}

/* out := s[0..n) with each maximal ill-formed subpart from the offset ok
 * on (utf8_valid_prefix) replaced by U+FFFD, so the printed line is valid
 * UTF-8 JSON.  Offsets in findings stay byte offsets into the input. */
static al_code utf8_repair(const char *s, size_t n, size_t ok, al_buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    al_code r = al_buf_append(out, s, ok);
    size_t i = ok, bad;
    while (r == AL_OK && i < n) {
        size_t k = utf8_seq(u + i, n - i, &bad);
        if (k) {
            r = al_buf_append(out, s + i, k);
            i += k;
        } else {
            r = al_buf_append(out, "\xEF\xBF\xBD", 3);
            i += bad;
        }
    }
    return r;
}

/* One input line -> one output line in ob.  Returns 0, or 1 for an error
 * line. */
static int scan_line(const al_engine *e, const al_policy *p, al_direction dir, const char *line,
                     size_t len, al_result *res, out_tree *tree, out_buf *ob)
{
    ob->len = 0;
    ob->oom = 0;
    cJSON *in = cJSON_ParseWithLength(line, len);
    if (!in || !cJSON_IsObject(in)) {
        put_error(in ? "input line is not a JSON object" : "input line is not valid JSON", ob);
        cJSON_Delete(in);
        return 1;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(in, "text");
    if (!cJSON_IsString(t) || !t->valuestring) {
        put_error("input object has no string field \"text\"", ob);
        cJSON_Delete(in);
        return 1;
    }
    if (has_nul_escape(line, len)) {
        put_error("input line has a NUL character (\\u0000), which cannot be scanned", ob);
        cJSON_Delete(in);
        return 1;
    }
    const char *text = t->valuestring;
    al_code c = al_engine_scan(e, p, dir, text, strlen(text), res);
    cJSON_Delete(in); /* the result holds its own copy of the text */
    if (c != AL_OK) {
        put_error(al_strerror(c), ob);
        return 1;
    }
    /* the contract's key order: blocked, score, model_score, findings, text */
    const char *out_text = res->text.data ? res->text.data : "";
    size_t out_len = res->text.data ? res->text.len : 0;
    size_t valid = utf8_valid_prefix(out_text, out_len);
    al_buf fixed = {0}; /* the text with U+FFFD for ill-formed bytes */
    if (valid < out_len) {
        if (utf8_repair(out_text, out_len, valid, &fixed) != AL_OK) {
            al_buf_free(&fixed);
            put_error("out of memory", ob);
            return 1;
        }
        out_text = fixed.data;
    }
    int ok = out_tree_fill(tree, res, out_text);
    if (ok)
        put_json(tree->o, ob, strlen(out_text) * 9 / 8 + 128 * res->n + 256);
    else
        put_error("out of memory", ob);
    al_buf_free(&fixed);
    return ok ? 0 : 1;
}

/* Writes a scanned line's output (or the out-of-memory error line). */
static void emit(const char *buf, size_t len, int oom)
{
    if (oom)
        fputs("{\"error\":\"out of memory\"}\n", stdout);
    else
        fwrite(buf, 1, len, stdout);
}

/* Lines are scanned in batches of up to this many lines or input bytes,
 * each batch spread over the threads (with one job, this thread alone) and
 * printed in input order once all its lines are done. */
#define BATCH_LINES 256
#define BATCH_BYTES (4u << 20)
#define MAX_JOBS 64

/* One line of a batch: its input, then its output line (both owned). */
typedef struct {
    char *in, *out;
    size_t len, olen;
    int err, oom;
} job;

typedef struct {
    const al_engine *e;
    const al_policy *p;
    al_direction dir;
    job *v;
    size_t n;
    size_t next; /* the next line to take, taken atomically */
} batch;

/* A thread of a batch: takes lines until none is left. */
static void *scan_batch(void *arg)
{
    batch *b = arg;
    al_result res = {0};
    out_tree tree = {0};
    out_buf ob = {0};
    size_t i;
    while ((i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED)) < b->n) {
        job *j = &b->v[i];
        j->err = scan_line(b->e, b->p, b->dir, j->in, j->len, &res, &tree, &ob);
        j->oom = ob.oom;
        j->out = ob.buf; /* the line's output keeps the buffer it was printed in */
        j->olen = ob.len;
        ob = (out_buf){0};
    }
    al_result_free(&res);
    out_tree_free(&tree);
    return NULL;
}

/* Scans the lines of in on jobs threads (jobs 1: this one only), printing
 * in input order.  Returns 0, 1 when any line was an error line, 2 when out
 * of memory, 3 when in could not be read (errno in *read_errno). */
static int scan_lines(const al_engine *e, const al_policy *p, al_direction dir, FILE *in, int jobs,
                      int *read_errno)
{
    job *v = calloc(BATCH_LINES, sizeof *v);
    pthread_t th[MAX_JOBS];
    if (!v) return 2;
    int status = 0, eof = 0;
    while (!eof && status != 2) {
        batch b = {.e = e, .p = p, .dir = dir, .v = v};
        size_t bytes = 0;
        while (b.n < BATCH_LINES && bytes < BATCH_BYTES) {
            char *line = NULL;
            size_t cap = 0;
            ssize_t n = getline(&line, &cap, in);
            if (n < 0) {
                if (ferror(in))
                    *read_errno = errno ? errno : EIO; /* not the end: a directory, EIO */
                free(line);
                eof = 1;
                break;
            }
            size_t len = (size_t)n;
            if (len && line[len - 1] == '\n') len--;
            if (len && line[len - 1] == '\r') len--;
            v[b.n++] = (job){.in = line, .len = len};
            bytes += len;
        }
        int started = 0;
        for (int t = 1; t < jobs && (size_t)t < b.n; t++, started++)
            if (pthread_create(&th[started], NULL, scan_batch, &b) != 0) break;
        scan_batch(&b); /* this thread too; with no thread started, alone */
        for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
        for (size_t i = 0; i < b.n; i++) {
            emit(v[i].out, v[i].olen, v[i].oom);
            if (v[i].err) status = 1;
            free(v[i].in);
            free(v[i].out);
        }
    }
    free(v);
    return status == 2 ? 2 : *read_errno ? 3 : status;
}

/* Scan threads when --jobs is not given: one per online processor. */
static int default_jobs(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_JOBS ? MAX_JOBS : (int)n;
}

/* The policy scan judges by, as the shim builds it: the policy file
 * (--policy, else AIRLOCK_POLICY) put into the environment unless a
 * variable there already says otherwise, then the environment read into
 * *p.  The mode (monitor) and the settings around calls (audit, limits,
 * egress, weights) do not apply to scanning; AIRLOCK_RULES from the file
 * does, through al_engine_default_rules.  0, or -1 after a message when
 * the file cannot be used. */
static int apply_policy_file(const char *path, al_policy *p)
{
    if (!path) path = getenv("AIRLOCK_POLICY");
    if (path && *path) {
        al_settings s;
        char err[600];
        if (al_policy_load(path, &s, err, sizeof err) != AL_OK) {
            fprintf(stderr, "airlock scan: cannot use policy %s\n", err);
            return -1;
        }
        al_settings_export(&s);
        al_settings_free(&s);
    }
    /* a value that does not parse keeps its default, as in the shim, and
     * is reported */
    char err[300] = "";
    al_policy_from_env(p, err, sizeof err);
    if (err[0]) fprintf(stderr, "%s\n", err);
    return 0;
}

int al_cli_scan(int argc, char **argv)
{
    const char *rules = NULL, *file = NULL, *policy = NULL;
    al_direction dir = AL_AS_PROMPT;
    int jobs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (!strcmp(a, "--as") || !strcmp(a, "--rules") || !strcmp(a, "--jobs") ||
            !strcmp(a, "-j") || !strcmp(a, "--policy")) {
            if (i + 1 >= argc) return scan_usage();
            v = argv[++i];
        } else if (!strncmp(a, "--as=", 5) || !strncmp(a, "--rules=", 8) ||
                   !strncmp(a, "--jobs=", 7) || !strncmp(a, "--policy=", 9)) {
            v = strchr(a, '=') + 1;
        }
        if (v && !strncmp(a, "--as", 4)) {
            if (!strcmp(v, "prompt"))
                dir = AL_AS_PROMPT;
            else if (!strcmp(v, "completion"))
                dir = AL_AS_COMPLETION;
            else
                return scan_usage();
        } else if (v && (!strncmp(a, "--jobs", 6) || !strcmp(a, "-j"))) {
            char *end;
            long n = strtol(v, &end, 10);
            if (end == v || *end || n < 1 || n > MAX_JOBS) return scan_usage();
            jobs = (int)n;
        } else if (v && !strncmp(a, "--policy", 8)) {
            if (!*v) return scan_usage();
            policy = v;
        } else if (v) {
            rules = v;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            scan_usage();
            return 0;
        } else if (a[0] == '-' && a[1]) {
            return scan_usage();
        } else if (!file) {
            file = a;
        } else {
            return scan_usage();
        }
    }
    if (!jobs) jobs = default_jobs();
    /* the policy the shim would apply: the file's settings under the
     * environment's, read into the engine's policy the same way */
    al_policy p;
    if (apply_policy_file(policy, &p) != 0) return 2;
    if (!rules) rules = al_engine_default_rules();
    al_engine *e = NULL;
    char err[512];
    al_code c = al_engine_new(rules, &e, err, sizeof err);
    if (c != AL_OK) {
        fprintf(stderr, "airlock scan: %s\n", err[0] ? err : al_strerror(c));
        return 2;
    }
    FILE *in = stdin;
    if (file && strcmp(file, "-") != 0) {
        in = fopen(file, "rb");
        if (!in) {
            perror(file);
            al_engine_free(e);
            return 2;
        }
    }
    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    int read_errno = 0;
    int status = scan_lines(e, &p, dir, in, jobs, &read_errno);
    if (status == 2) fprintf(stderr, "airlock scan: out of memory\n");
    if (status == 3) {
        fprintf(stderr, "airlock scan: %s: %s\n", in == stdin ? "standard input" : file,
                strerror(read_errno));
        status = 2;
    }
    if (in != stdin) fclose(in);
    fflush(stdout);
    al_engine_free(e);
    return status;
}

/* ---- check-rules ---- */

static void show_example(char *dst, size_t n, const char *ex)
{
    size_t l = strlen(ex);
    snprintf(dst, n, "%.60s%s", ex, l > 60 ? "..." : "");
    for (char *c = dst; *c; c++)
        if ((unsigned char)*c < 0x20) *c = ' ';
}

int al_cli_check_rules(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: airlock check-rules [FILE|DIR...]\n"
               "  validates rule packs (schema, pattern compile errors, every rule's own\n"
               "  examples); no argument: the packs airlock would load. Problems are\n"
               "  printed as 'file: rule: reason'; exit 1 if there are any.\n");
        return 0;
    }
    al_engine *e = al_engine_alloc();
    if (!e) {
        fprintf(stderr, "airlock check-rules: out of memory\n");
        return 2;
    }
    al_rules_errs errs = {.keep_going = 1};
    if (argc < 2) {
        al_rules_load_path(e, al_engine_default_rules(), &errs);
    } else {
        for (int i = 1; i < argc; i++) al_rules_load_path(e, argv[i], &errs);
    }
    al_rules_finish(e, &errs);
    size_t checked = 0;
    for (size_t i = 0; i < e->n; i++) {
        const al_rule *r = &e->rules[i];
        char rerr[128], ex[80];
        for (size_t k = 0; k < r->n_match; k++) {
            int got = al_rule_test(e, i, r->ex_match[k], strlen(r->ex_match[k]), rerr, sizeof rerr);
            show_example(ex, sizeof ex, r->ex_match[k]);
            if (got < 0)
                al_rules_err(&errs, r->file, r->id, "match example \"%s\": %s", ex, rerr);
            else if (!got)
                al_rules_err(&errs, r->file, r->id, "match example \"%s\" is not found", ex);
        }
        for (size_t k = 0; k < r->n_nomatch; k++) {
            int got =
                al_rule_test(e, i, r->ex_nomatch[k], strlen(r->ex_nomatch[k]), rerr, sizeof rerr);
            show_example(ex, sizeof ex, r->ex_nomatch[k]);
            if (got < 0)
                al_rules_err(&errs, r->file, r->id, "no_match example \"%s\": %s", ex, rerr);
            else if (got)
                al_rules_err(&errs, r->file, r->id, "no_match example \"%s\" is found", ex);
        }
        checked += r->n_match + r->n_nomatch;
    }
    int status = 0;
    if (errs.count) {
        fputs(errs.msgs.data ? errs.msgs.data : "", stdout);
        printf("%zu problem%s in %zu rules, %zu files\n", errs.count, errs.count == 1 ? "" : "s",
               e->n, e->nfiles);
        status = 1;
    } else {
        printf("ok: %zu rules in %zu files\n", e->n, e->nfiles);
        (void)checked;
    }
    al_buf_free(&errs.msgs);
    al_engine_free(e);
    return status;
}

/* bench_model.c: what the injection/jailbreak classifier costs.  Scores every
 * line of a corpus with the model alone (microseconds per KB of prompt), then
 * scans the same lines as prompts with the full engine twice: with the packs
 * in RULES (which name the model) and in RULES_ONLY (same packs, no model).
 * usage: bench_model MODEL CORPUS RULES RULES_ONLY
 * Prints numbers only, never text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "model.h"
#include "normalize.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time: steadier on a busy machine */
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double scan_all(const char *rules, char **line, size_t *len, size_t n, int *blocked)
{
    al_engine *e = NULL;
    char err[512];
    if (al_engine_new(rules, &e, err, sizeof err) != AL_OK) {
        fprintf(stderr, "bench_model: %s\n", err);
        exit(1);
    }
    al_policy p;
    al_policy_default(&p);
    *blocked = 0;
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        al_result r = {0};
        if (al_engine_scan(e, &p, AL_AS_PROMPT, line[i], len[i], &r) == AL_OK)
            *blocked += r.blocked;
        al_result_free(&r);
    }
    double dt = now() - t0;
    al_engine_free(e);
    return dt;
}

/* Best of 3 runs, in seconds: the classifier over n texts (line[i] cut to
 * len[i] bytes) and their normalised forms, as a prompt scan calls it. */
static double best_normalized(const al_model *m, char **line, const size_t *len, const al_buf *norm,
                              size_t n, double *sink)
{
    double best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (size_t i = 0; i < n; i++)
            *sink += al_model_score_normalized(m, line[i], len[i], norm[i].data, norm[i].len);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_model MODEL CORPUS RULES RULES_ONLY\n");
        return 2;
    }
    al_model *m = NULL;
    char err[512];
    if (al_model_load(argv[1], &m, err, sizeof err) != AL_OK) {
        fprintf(stderr, "bench_model: %s\n", err);
        return 1;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    size_t n = 0, cap = 0, total = 0;
    char **line = NULL;
    size_t *len = NULL;
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t k;
    while ((k = getline(&buf, &bcap, f)) > 0) {
        if (buf[k - 1] == '\n') buf[--k] = 0;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            line = realloc(line, cap * sizeof *line);
            len = realloc(len, cap * sizeof *len);
        }
        line[n] = strdup(buf);
        len[n++] = (size_t)k;
        total += (size_t)k;
    }
    free(buf);
    fclose(f);
    double sink = 0, best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (size_t i = 0; i < n; i++) sink += al_model_score(m, line[i], len[i]);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    printf("classifier alone: %.2f us per KB of prompt (%zu texts, %.1f MB, best of 3 in CPU time; "
           "%.0f MB/s)"
           "  [target <= 20 us/KB]\n",
           best * 1e6 / (total / 1024.0), n, total / 1048576.0, total / 1048576.0 / best);
    /* what a prompt scan pays: the engine hands the classifier the text it
     * has already normalised for the rules */
    al_buf *norm = calloc(n ? n : 1, sizeof *norm);
    if (!norm) return 1;
    for (size_t i = 0; i < n; i++)
        if (al_normalize(line[i], len[i], &norm[i], NULL, NULL) != AL_OK) return 1;
    double best_n = best_normalized(m, line, len, norm, n, &sink);
    printf("classifier on the engine's normalised text (what a prompt scan pays): %.2f us per KB "
           "(%.0f MB/s)\n",
           best_n * 1e6 / (total / 1024.0), total / 1048576.0 / best_n);
    /* the shim's prompts are often a few hundred bytes, where a per-text
     * fixed cost shows: each line's first SHORT_MAX bytes (cut after a space) */
    enum { SHORT_MAX = 300 };
    al_buf *snorm = calloc(n ? n : 1, sizeof *snorm);
    size_t *slen = calloc(n ? n : 1, sizeof *slen), stotal = 0;
    if (!snorm || !slen) return 1;
    for (size_t i = 0; i < n; i++) {
        size_t k = len[i] < SHORT_MAX ? len[i] : SHORT_MAX;
        while (k < len[i] && k > 0 && line[i][k - 1] != ' ') k--;
        if (k == 0) k = len[i] < SHORT_MAX ? len[i] : SHORT_MAX;
        slen[i] = k;
        stotal += k;
        if (al_normalize(line[i], k, &snorm[i], NULL, NULL) != AL_OK) return 1;
    }
    double best_s = best_normalized(m, line, slen, snorm, n, &sink);
    printf("classifier on short prompts (each line's first <= %d bytes, normalised): %.2f us per "
           "KB, %.2f us per prompt\n",
           SHORT_MAX, stotal ? best_s * 1e6 / (stotal / 1024.0) : 0.0,
           n ? best_s * 1e6 / (double)n : 0.0);
    for (size_t i = 0; i < n; i++) al_buf_free(&snorm[i]);
    free(snorm);
    free(slen);
    for (size_t i = 0; i < n; i++) al_buf_free(&norm[i]);
    free(norm);
    if (sink < 0) return 1; /* keeps the scoring loop from being optimised away */
    int b1 = 0, b2 = 0;
    double tr = scan_all(argv[4], line, len, n, &b2);
    double tm = scan_all(argv[3], line, len, n, &b1);
    printf("engine, all packs as prompt: rules+classifier %.1f MB/s, rules only %.1f MB/s "
           "(ratio %.2f); blocked %d vs %d of %zu benign texts\n",
           total / 1048576.0 / tm, total / 1048576.0 / tr, tr / tm, b1, b2, n);
    for (size_t i = 0; i < n; i++) free(line[i]);
    free(line);
    free(len);
    al_model_free(m);
    return 0;
}

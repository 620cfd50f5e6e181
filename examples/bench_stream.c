/* bench_stream.c: what the stream scrubber costs one streamed completion.
 * Feeds a ~2 KB completion (the mock's "medium" text, or the text of FILE)
 * as deltas of 1-4 bytes (the mock's split) through al_stream_scrub_feed and
 * _flush, N times after one warm-up exchange (the engine compiles some of its
 * patterns at first use), with the packs in RULES and the default policy.
 * Count its instructions with callgrind --toggle-collect=measured.
 * usage: bench_stream RULES [N [FILE]]
 *        bench_stream RULES -check|-check-all JSONL...  (every line's "text" streamed alone
 *        in 1-4 byte deltas, then each file's texts joined, up to 256 KB, in three
 *        delta patterns: one checksum per file of the bytes released by each
 *        call and the findings, to show a change leaves the stream as it was;
 *        -check-all flags what the default policy allows in completions, so
 *        the injection rules and the normalised pass run too)
 * Prints numbers and checksums only, never text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "engine.h"

static const char CLEAN[] = "Photosynthesis converts light energy into chemical energy stored in "
                            "glucose. Plants release oxygen as a by-product.";

static unsigned long long fnv(const char *s, size_t n, unsigned long long h)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* one exchange: every delta, then the flush; returns the output's hash */
__attribute__((noinline)) static unsigned long long stream_once(const al_engine *e,
                                                                const al_policy *p,
                                                                const char *text, size_t len,
                                                                size_t *nout, size_t *nfind)
{
    static const size_t sizes[] = {2, 1, 3, 4, 1, 2, 4, 3, 1, 4};
    al_stream_scrub *s = al_stream_scrub_new(e, p);
    al_buf out = {0};
    unsigned long long h = 14695981039346656037ULL;
    if (!s) exit(1);
    for (size_t i = 0, k = 0; i < len; k++) {
        size_t n = sizes[k % 10];
        if (n > len - i) n = len - i;
        size_t before = out.len;
        if (al_stream_scrub_feed(s, text + i, n, &out) != AL_OK) exit(1);
        h = fnv(out.data + before, out.len - before, h); /* where the bytes came out */
        h = fnv((const char *)&k, sizeof k, h);
        i += n;
    }
    if (al_stream_scrub_flush(s, &out) != AL_OK) exit(1);
    h = fnv(out.data, out.len, h);
    *nout = out.len;
    al_stream_scrub_findings(s, nfind);
    al_buf_free(&out);
    al_stream_scrub_free(s);
    return h;
}

/* a stream of text in deltas of sizes[k % ns]: hash of what each call released
 * (and when) and of the findings */
static unsigned long long check_one(const al_engine *e, const al_policy *p, const char *text,
                                    size_t len, const size_t *sizes, size_t ns,
                                    unsigned long long h)
{
    al_stream_scrub *s = al_stream_scrub_new(e, p);
    al_buf out = {0};
    if (!s) exit(1);
    for (size_t i = 0, k = 0; i < len; k++) {
        size_t n = sizes[k % ns];
        if (n > len - i) n = len - i;
        size_t before = out.len;
        if (al_stream_scrub_feed(s, text + i, n, &out) != AL_OK) exit(1);
        h = fnv(out.data + before, out.len - before, h);
        h = fnv((const char *)&k, sizeof k, h);
        i += n;
    }
    if (al_stream_scrub_flush(s, &out) != AL_OK) exit(1);
    h = fnv(out.data ? out.data : "", out.len, h);
    size_t nf = 0;
    const al_finding *f = al_stream_scrub_findings(s, &nf);
    for (size_t i = 0; i < nf; i++) {
        h = fnv(f[i].rule, strlen(f[i].rule), h);
        size_t v[3] = {f[i].start, f[i].end, (size_t)f[i].action};
        h = fnv((const char *)v, sizeof v, h);
    }
    al_buf_free(&out);
    al_stream_scrub_free(s);
    return h;
}

static int check(const al_engine *e, const al_policy *p, int nfiles, char **files)
{
    static const size_t tiny[] = {2, 1, 3, 4, 1, 2, 4, 3, 1, 4};
    static const size_t mixed[] = {17, 1, 5, 64, 2, 300, 9};
    static const size_t one[] = {1};
    for (int fi = 0; fi < nfiles; fi++) {
        FILE *f = fopen(files[fi], "rb");
        if (!f) {
            perror(files[fi]);
            return 1;
        }
        unsigned long long h = 14695981039346656037ULL;
        size_t cap = 256 * 1024, all_len = 0, lines = 0;
        char *all = malloc(cap), *line = NULL;
        size_t lcap = 0;
        ssize_t n;
        while ((n = getline(&line, &lcap, f)) > 0) {
            cJSON *o = cJSON_Parse(line);
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "text");
            if (cJSON_IsString(t)) {
                size_t tl = strlen(t->valuestring);
                h = check_one(e, p, t->valuestring, tl, tiny, 10, h);
                if (all_len + tl + 1 <= cap) {
                    memcpy(all + all_len, t->valuestring, tl);
                    all_len += tl;
                    all[all_len++] = lines % 3 ? ' ' : '\n';
                }
                lines++;
            }
            cJSON_Delete(o);
        }
        fclose(f);
        free(line);
        h = check_one(e, p, all, all_len, tiny, 10, h);
        h = check_one(e, p, all, all_len, mixed, 7, h);
        if (all_len <= 16384) h = check_one(e, p, all, all_len, one, 1, h);
        printf("%016llx %zu %s\n", h, lines, files[fi]);
        free(all);
    }
    return 0;
}

__attribute__((noinline)) static unsigned long long measured(int n, const al_engine *e,
                                                             const al_policy *p, const char *text,
                                                             size_t len, size_t *nout,
                                                             size_t *nfind)
{
    unsigned long long h = 0;
    for (int i = 0; i < n; i++) h = stream_once(e, p, text, len, nout, nfind);
    return h;
}

/* The engine of the packs at path, or NULL after saying why. */
static al_engine *load(const char *path)
{
    al_engine *e = NULL;
    char err[512];
    if (al_engine_new(path, &e, err, sizeof err) != AL_OK) {
        fprintf(stderr, "bench_stream: %s\n", err);
        return NULL;
    }
    return e;
}

int main(int argc, char **argv)
{
    al_policy p;
    al_policy_default(&p);
    if (argc > 3 && (!strcmp(argv[2], "-check") || !strcmp(argv[2], "-check-all"))) {
        al_engine *e = load(argv[1]);
        if (!e) return 1;
        if (!strcmp(argv[2], "-check-all")) /* every rule runs on completions too */
            for (int c = 0; c < AL_CAT_COUNT; c++)
                if (p.completion[c] == AL_ACT_ALLOW) p.completion[c] = AL_ACT_FLAG;
        int rc = check(e, &p, argc - 3, argv + 3);
        al_engine_free(e);
        return rc;
    }
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: bench_stream RULES [N [FILE]]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 1;
    char *text = malloc(argc > 3 ? 1 << 20 : 17 * sizeof CLEAN);
    size_t len = 0;
    if (!text) {
        fputs("bench_stream: out of memory\n", stderr);
        return 1;
    }
    if (argc > 3) {
        FILE *f = fopen(argv[3], "rb");
        if (!f) {
            perror(argv[3]);
            free(text);
            return 1;
        }
        len = fread(text, 1, 1 << 20, f);
        fclose(f);
    } else {
        for (int i = 0; i < 17; i++) {
            if (i) text[len++] = ' ';
            memcpy(text + len, CLEAN, sizeof CLEAN - 1);
            len += sizeof CLEAN - 1;
        }
    }
    al_engine *e = load(argv[1]);
    if (!e) {
        free(text);
        return 1;
    }
    unsigned long long h = 0;
    size_t nout = 0, nf = 0;
    h = stream_once(e, &p, text, len, &nout, &nf);
    if (n > 0) h = measured(n, e, &p, text, len, &nout, &nf);
    printf("in %zu bytes, out %zu bytes, %zu findings, hash %016llx\n", len, nout, nf, h);
    al_engine_free(e);
    free(text);
    return 0;
}

/* fuzz_scan.c: libFuzzer target for the engine with the shipped packs
 * (rules/): arbitrary text scanned as a prompt and as a completion, then
 * streamed through the scrubber in deltas whose sizes the input picks.  The
 * streamed output must equal the whole-text scan whenever no rule hit a
 * match limit and no finding is longer than the stream's hold-back cap
 * (set AL_FUZZ_NO_STREAM_EQ=1 to skip that check). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static al_engine *eng;
static int check_eq = 1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    const char *p = getenv("AL_FUZZ_RULES");
    if (al_engine_new(p ? p : "rules", &eng, err, sizeof err) != AL_OK) {
        fprintf(stderr, "fuzz_scan: cannot load rules: %s\n", err);
        exit(1);
    }
    if (getenv("AL_FUZZ_NO_STREAM_EQ")) check_eq = 0;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned seed = data[0];
    const char *t = (const char *)data + 1;
    size_t n = size - 1;
    al_result r = {0};
    if (al_engine_scan(eng, NULL, AL_AS_PROMPT, t, n, &r) == AL_OK) {
        for (size_t i = 0; i < r.n; i++)
            if (r.findings[i].start > r.findings[i].end || r.findings[i].end > n) abort();
    }
    al_code wc = al_engine_scan(eng, NULL, AL_AS_COMPLETION, t, n, &r);
    al_stream_scrub *s = al_stream_scrub_new(eng, NULL);
    if (!s) abort();
    al_buf out = {0};
    al_code sc = AL_OK;
    for (size_t pos = 0, step; pos < n && sc == AL_OK; pos += step) {
        step = 1 + (seed & 15);
        seed = seed * 1103515245u + 12345u;
        seed ^= seed >> 7;
        if (step > n - pos) step = n - pos;
        sc = al_stream_scrub_feed(s, t + pos, step, &out);
    }
    if (sc == AL_OK) sc = al_stream_scrub_flush(s, &out);
    int long_span = 0;
    for (size_t i = 0; i < r.n; i++)
        if (r.findings[i].end - r.findings[i].start > 200) long_span = 1;
    if (check_eq && wc == AL_OK && sc == AL_OK && !r.limit_hit && !long_span) {
        if (out.len != r.text.len || (out.len && memcmp(out.data, r.text.data, out.len))) {
            fprintf(stderr, "stream output (%zu bytes) differs from whole scan (%zu bytes)\n",
                    out.len, r.text.len);
            abort();
        }
    }
    al_buf_free(&out);
    al_stream_scrub_free(s);
    al_result_free(&r);
    return 0;
}

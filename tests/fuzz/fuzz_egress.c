/* fuzz_egress.c: libFuzzer target for the egress name check of a
 * connection's first bytes (al_egress_judge_first: TLS server name, HTTP
 * Host and proxy targets) and the list parser.  It must never read past len,
 * and the name it hands back is NUL-terminated, lower case, and on the list
 * whenever the verdict is OK. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "egress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    al_egress *e =
        al_egress_parse("api.openai.com,*.example.com,10.0.0.0/8,localhost", err, sizeof err);
    if (!e) abort();
    /* an exact-size copy, so ASan sees any read past the end */
    uint8_t *b = malloc(size ? size : 1);
    memcpy(b, data, size);
    al_egress_first f;
    al_egress_judge_first(e, b, size, &f);
    size_t l = strnlen(f.name, sizeof f.name);
    if (l == sizeof f.name) abort();
    for (size_t i = 0; i < l; i++)
        if (f.name[i] >= 'A' && f.name[i] <= 'Z') abort();
    if (f.verdict == AL_EGRESS_NAME_OK && l && !al_egress_allow_name(e, f.name)) abort();
    if (f.verdict != AL_EGRESS_NAME_OK && f.proto == AL_EGRESS_PROTO_OTHER) abort();
    /* every prefix: never OK for a name the whole input refuses */
    for (size_t k = 1; k < size && k < 64; k++) {
        al_egress_first p;
        al_egress_judge_first(e, b, k, &p);
        if (f.verdict == AL_EGRESS_NAME_UNLISTED && p.verdict == AL_EGRESS_NAME_OK && p.name[0] &&
            !strcmp(p.name, f.name))
            abort();
    }
    free(b);
    al_egress_free(e);
    /* the input as a list */
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    al_egress *x = al_egress_parse(s, err, sizeof err);
    if (x) {
        al_egress_judge_first(x, data, size, &f);
        al_egress_free(x);
    }
    free(s);
    return 0;
}

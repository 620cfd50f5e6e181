/* fuzz_policy.c: libFuzzer target for the parsers of the process-wide
 * policy settings: the weights manifest, the egress allowlist (and its
 * matchers) and the rate/budget values.  None may crash, read past its
 * input or accept a list it cannot match against. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "egress.h"
#include "weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    /* the manifest parser takes a length: no terminator needed */
    al_weights *w = al_weights_parse((const char *)data, size, "fuzz", err, sizeof err);
    if (w) {
        unsigned char d[32] = {0};
        if (size >= 32) memcpy(d, data, 32);
        al_weights_known(w, d, NULL);
        if (al_weights_count(w) == 0) abort(); /* an empty manifest must be refused */
        al_weights_free(w);
    }
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    al_weights_is_weight_name(s, NULL);
    al_weights_is_weight_name("model.gguf", s);
    al_egress *e = al_egress_parse(s, err, sizeof err);
    if (e) {
        al_egress_allow_name(e, s);
        al_egress_allow_name(e, "api.openai.com");
        struct sockaddr_in6 a6;
        memset(&a6, 0, sizeof a6);
        a6.sin6_family = AF_INET6;
        if (size >= 16) memcpy(&a6.sin6_addr, data, 16);
        al_egress_allow_addr(e, (const struct sockaddr *)&a6, sizeof a6);
        al_egress_allow_connect(e, (const struct sockaddr *)&a6, sizeof a6, err, sizeof err);
        al_egress_free(e);
    }
    double c, win;
    al_limits_parse_rate(s, &c, &win);
    int none;
    al_limits *l = al_limits_new(s, s, NULL, &none, err, sizeof err);
    if (l) {
        al_limits_admit(l, 1.0, NULL);
        al_limits_account(l, 7);
        al_limits_free(l);
    }
    free(s);
    return 0;
}

/* regex_compat.c: see regex_compat.h.  Pure. */
#include <stdlib.h>
#include <string.h>

#include "regex_compat.h"

char *al_regex_jit_safe(const char *p)
{
    size_t n = strlen(p), k = 0;
    char *out = malloc(n * 2 + 1); /* "\S" -> "[\S]": at most twice as long */
    if (!out) return NULL;
    int in_class = 0, in_quote = 0;
    for (size_t i = 0; i < n;) {
        /* a byte other than these is copied as it is in every state below:
         * runs of them at once */
        size_t run = strcspn(p + i, "\\([]");
        if (run) {
            memcpy(out + k, p + i, run);
            k += run;
            i += run;
            continue;
        }
        char c = p[i];
        if (in_quote) { /* \Q ... \E: all literal */
            if (c == '\\' && p[i + 1] == 'E') {
                in_quote = 0;
                out[k++] = p[i++];
            }
            out[k++] = p[i++];
            continue;
        }
        if (c == '\\' && i + 1 < n) {
            char e = p[i + 1];
            if (e == 'Q') {
                in_quote = 1;
            } else if (!in_class && (e == 'S' || e == 'W' || e == 'D')) {
                out[k++] = '[';
                out[k++] = '\\';
                out[k++] = e;
                out[k++] = ']';
                i += 2;
                continue;
            }
            out[k++] = p[i++];
            out[k++] = p[i++];
            continue;
        }
        if (!in_class && c == '(' && p[i + 1] == '?' && p[i + 2] == '#') { /* (?#comment) */
            while (i < n && p[i] != ')') out[k++] = p[i++];
            continue;
        }
        if (!in_class && c == '[') {
            in_class = 1;
            out[k++] = p[i++];
            if (i < n && p[i] == '^') out[k++] = p[i++];
            if (i < n && p[i] == ']') out[k++] = p[i++]; /* a leading ']' is literal */
            continue;
        }
        if (in_class && c == '[' && p[i + 1] == ':') { /* [:alpha:] */
            const char *end = strstr(p + i + 2, ":]");
            size_t stop = end ? (size_t)(end - p) + 2 : n;
            while (i < stop) out[k++] = p[i++];
            continue;
        }
        if (in_class && c == ']') in_class = 0;
        out[k++] = p[i++];
    }
    out[k] = 0;
    return out;
}

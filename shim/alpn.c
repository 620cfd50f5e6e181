/* alpn.c: reduce a client's ALPN offer to HTTP/1.1 (see alpn.h).  Pure; never
 * rewrites a list it does not fully understand. */
#include <string.h>

#include "alpn.h"

static int is_h2_or_later(const unsigned char *name, size_t n)
{
    return (n == 2 && (!memcmp(name, "h2", 2) || !memcmp(name, "h3", 2))) ||
           (n == 3 && !memcmp(name, "h2c", 3));
}

size_t al_alpn_h1_only(const unsigned char *in, size_t len, unsigned char *out)
{
    int has_h1 = 0, drop = 0;
    for (size_t i = 0; i < len;) {
        size_t n = in[i];
        if (n == 0 || n > len - i - 1) return 0; /* malformed */
        if (n == 8 && !memcmp(in + i + 1, "http/1.1", 8)) has_h1 = 1;
        if (is_h2_or_later(in + i + 1, n)) drop = 1;
        i += 1 + n;
    }
    if (!has_h1 || !drop) return 0;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = in[i];
        if (!is_h2_or_later(in + i + 1, n)) {
            memcpy(out + o, in + i, 1 + n);
            o += 1 + n;
        }
        i += 1 + n;
    }
    return o;
}

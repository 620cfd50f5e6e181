/* fuzz_normalize.c: libFuzzer target for al_normalize and the compact
 * offset map: both must agree, every mapped offset must stay in the input
 * and be non-decreasing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    al_buf a = {0}, b = {0};
    size_t *map = NULL, inv = 0, inv2 = 0;
    al_nmap nm = {0};
    if (al_normalize(s, size, &a, &map, &inv) != AL_OK) goto out;
    if (al_normalize_seg(s, size, &b, &nm, &inv2) != AL_OK) goto out;
    if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len)) || inv != inv2) abort();
    if (map[a.len] != size) abort();
    for (size_t i = 0; i < a.len; i++) {
        if (map[i] > size || (i && map[i] < map[i - 1])) abort();
        if (al_nmap_orig(&nm, i) != map[i]) abort();
    }
    if (al_nmap_orig(&nm, a.len) != size) abort();
    for (size_t x = 0; x <= size; x += 1 + size / 16) {
        size_t k = al_nmap_lower_bound(&nm, x);
        if (k > a.len) abort();
        if (k < a.len && al_nmap_orig(&nm, k) < x) abort();
    }
    /* normalising is idempotent on its own output, unless a backslash is
     * left in it: an escape that decodes to nothing (\b, \u200b) may join
     * a backslash kept before it to the text after it into a new escape
     * (\U\B8766 gives \u8766), which only a second pass, which nothing
     * makes, would decode (esc_read in normalize.c) */
    al_buf c = {0};
    if (!(a.len && memchr(a.data, '\\', a.len)) &&
        al_normalize(a.data ? a.data : "", a.len, &c, NULL, NULL) == AL_OK) {
        if (c.len != a.len || (a.len && memcmp(a.data, c.data, a.len))) abort();
    }
    al_buf_free(&c);
out:
    free(map);
    al_nmap_free(&nm);
    al_buf_free(&a);
    al_buf_free(&b);
    return 0;
}

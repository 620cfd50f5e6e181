/* fuzz_http1.c: libFuzzer target for the HTTP/1.1 parsers: request and
 * response headers at every prefix, and the chunked body decoder fed in
 * pieces chosen by the input. */
#include <stdint.h>
#include <string.h>

#include "http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    al_http1_msg m;
    size_t last = 0;
    for (size_t n = 1; n <= size && n < 4096; n += 1 + n / 8) {
        al_http1_parse_request(s, n, last, &m);
        last = n;
    }
    al_http1_parse_response(s, size, 0, &m);
    al_http1_body d;
    al_http1_body_init(&d, size && data[0] & 1 ? AL_BODY_CHUNKED : AL_BODY_LENGTH, size / 2, 4096);
    al_buf out = {0};
    for (size_t off = 0; off < size;) {
        size_t step = 1 + (data[off] % 7);
        if (step > size - off) step = size - off;
        long k = al_http1_body_feed(&d, s + off, step, &out);
        if (k <= 0) break;
        off += (size_t)k;
    }
    al_http1_body_eof(&d);
    al_buf_free(&out);
    return 0;
}

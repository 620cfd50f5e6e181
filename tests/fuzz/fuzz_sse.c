/* fuzz_sse.c: libFuzzer target for SSE and NDJSON framing: the input is
 * parsed as a stream split where its own bytes say, and each event is
 * rewritten. */
#include <stdint.h>
#include <string.h>

#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t off = 0, last = 0;
    al_buf out = {0};
    while (off < size) {
        al_sse_event ev;
        al_buf d = {0};
        long k = al_sse_next(s + off, size - off, last, &ev, &d);
        if (k <= 0) {
            al_buf_free(&d);
            break;
        }
        al_sse_rewrite(s + off, (size_t)k, d.data ? d.data : "", d.len, &out);
        al_buf_free(&d);
        off += (size_t)k;
    }
    for (off = 0; off < size;) {
        size_t ll;
        long k = al_ndjson_next(s + off, size - off, 0, &ll);
        if (k <= 0) break;
        off += (size_t)k;
    }
    al_buf_free(&out);
    return 0;
}

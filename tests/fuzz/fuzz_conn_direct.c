/* fuzz_conn_direct.c: libFuzzer target, differential: two connections get the
 * same pipelined requests (two non-LLM GETs, a PUT, an LLM call) and the same
 * fuzzed server bytes in the same input-chosen pieces; one takes them all
 * through al_conn_in, the other lets the "hook" deliver every byte
 * al_conn_in_direct allows itself (al_conn_in_skip).  What the host sees must
 * be identical, and so must the connections' state.  Aborts on a mismatch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exchange.h"

static al_ctx ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    al_policy_default(&ctx.policy);
    ctx.audit_fd = -1;
    ctx.max_body = 1 << 20;
    if (al_engine_new("tests/fixtures/exchange/pack.json", &ctx.engine, err, sizeof err) != AL_OK)
        fprintf(stderr, "fuzz_conn_direct: no engine (%s): fail mode paths only\n", err);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char reqs[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                               "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
                               "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "3\r\nabc\r\n0\r\n\r\n"
                               "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\n"
                               "Content-Type: application/json\r\nContent-Length: 45\r\n\r\n"
                               "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    if (size < 1) return 0;
    int follow = data[0] & 1;
    ctx.fail = data[0] & 2 ? AL_FAIL_OPEN : AL_FAIL_CLOSED;
    ctx.mode = data[0] & 4 ? AL_MODE_MONITOR : AL_MODE_ENFORCE;
    data++;
    size--;
    al_conn *a = al_conn_new(&ctx, "fuzz", "h"), *b = al_conn_new(&ctx, "fuzz", "h");
    if (follow) {
        al_conn_follow_downloads(a);
        al_conn_follow_downloads(b);
    }
    al_buf oa = {0}, ob = {0}, ha = {0}, hb = {0};
    /* the request side, sent in pieces, with the PUT body sent directly by b */
    for (size_t off = 0; off < sizeof reqs - 1;) {
        size_t n = 7 + off % 13;
        if (n > sizeof reqs - 1 - off) n = sizeof reqs - 1 - off;
        uint64_t d = al_conn_out_direct(b);
        if (d && !al_conn_passthrough(b)) {
            if (n > d) n = (size_t)d;
            al_conn_out(a, reqs + off, n, &oa);
            al_buf_append(&ob, reqs + off, n);
            al_conn_out_skip(b, n);
        } else {
            al_conn_out(a, reqs + off, n, &oa);
            al_conn_out(b, reqs + off, n, &ob);
        }
        off += n;
    }
    if (oa.len != ob.len || (oa.len && memcmp(oa.data, ob.data, oa.len))) abort();
    if (al_conn_has_reply(a)) al_conn_in(a, NULL, 0, 0, &ha);
    if (al_conn_has_reply(b)) al_conn_in(b, NULL, 0, 0, &hb);
    for (size_t off = 0; off < size;) {
        size_t n = 1 + (size_t)(data[off] & 127);
        if (n > size - off) n = size - off;
        uint64_t d = al_conn_in_direct(b);
        if (d) {
            if (n > d) n = (size_t)d;
            al_conn_in(a, (const char *)data + off, n, 0, &ha);
            al_buf_append(&hb, data + off, n);
            al_conn_in_skip(b, n);
        } else {
            al_conn_in(a, (const char *)data + off, n, 0, &ha);
            al_conn_in(b, (const char *)data + off, n, 0, &hb);
        }
        off += n;
        if (al_conn_passthrough(a) != al_conn_passthrough(b)) abort();
    }
    al_conn_in(a, NULL, 0, 1, &ha);
    al_conn_in(b, NULL, 0, 1, &hb);
    if (ha.len != hb.len || (ha.len && memcmp(ha.data, hb.data, ha.len))) abort();
    if (al_conn_has_reply(a) != al_conn_has_reply(b)) abort();
    al_conn_free(a);
    al_conn_free(b);
    al_buf_free(&oa);
    al_buf_free(&ob);
    al_buf_free(&ha);
    al_buf_free(&hb);
    return 0;
}

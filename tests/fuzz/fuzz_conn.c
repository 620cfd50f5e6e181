/* fuzz_conn.c: libFuzzer target for a whole connection: the first byte picks
 * a provider path, the rest is split into a request body and a reply body
 * that go through al_conn_out / al_conn_in in input-chosen pieces, framed as
 * chunked SSE or Content-Length JSON.  Uses the unit-test rule pack. */
#include <stdint.h>
#include <stdio.h>
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
        fprintf(stderr, "fuzz_conn: no engine (%s): fail mode paths only\n", err);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const paths[] = {"/v1/chat/completions",
                                        "/v1/messages",
                                        "/v1/responses",
                                        "/v1beta/models/g:streamGenerateContent?alt=sse",
                                        "/api/chat",
                                        "/v1/completions"};
    if (size < 2) return 0;
    const char *path = paths[data[0] % 6];
    int sse = data[1] & 1;
    ctx.fail = data[1] & 2 ? AL_FAIL_OPEN : AL_FAIL_CLOSED;
    ctx.mode = data[1] & 4 ? AL_MODE_MONITOR : AL_MODE_ENFORCE;
    data += 2;
    size -= 2;
    const uint8_t *sep = memchr(data, 0xff, size);
    size_t rl = sep ? (size_t)(sep - data) : size / 2;
    const char *rb = (const char *)data, *pb = (const char *)data + rl + (sep ? 1 : 0);
    size_t pl = size - rl - (sep ? 1 : 0);
    al_conn *c = al_conn_new(&ctx, "fuzz", "h");
    al_buf req = {0}, resp = {0}, out = {0}, host = {0};
    al_buf_printf(&req, "POST %s HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n", path, rl);
    al_buf_append(&req, rb, rl);
    if (sse) {
        al_buf_puts(&resp, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n");
        if (pl) al_buf_printf(&resp, "%zx\r\n", pl);
        al_buf_append(&resp, pb, pl);
        al_buf_puts(&resp, pl ? "\r\n0\r\n\r\n" : "0\r\n\r\n");
    } else {
        al_buf_printf(&resp,
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu"
                      "\r\n\r\n",
                      pl);
        al_buf_append(&resp, pb, pl);
    }
    for (size_t off = 0; off < req.len;) {
        size_t n = 1 + (size_t)(req.data[off] & 63);
        if (n > req.len - off) n = req.len - off;
        al_conn_out(c, req.data + off, n, &out);
        off += n;
    }
    if (al_conn_has_reply(c)) al_conn_in(c, NULL, 0, 0, &host);
    for (size_t off = 0; off < resp.len;) {
        size_t n = 1 + (size_t)(resp.data[off] & 127);
        if (n > resp.len - off) n = resp.len - off;
        al_conn_in(c, resp.data + off, n, 0, &host);
        off += n;
    }
    al_conn_in(c, NULL, 0, 1, &host);
    al_conn_free(c);
    al_buf_free(&req);
    al_buf_free(&resp);
    al_buf_free(&out);
    al_buf_free(&host);
    return 0;
}

/* fuzz_response.c: libFuzzer target for reply screening: after a valid
 * request on a provider path the input is the reply body (JSON, SSE or
 * NDJSON, or anything else) with a status and content type it picks, fed to
 * al_exchange_response_body in pieces it picks, then ended. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exchange.h"

static al_ctx ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    const char *p = getenv("AL_FUZZ_RULES");
    al_policy_default(&ctx.policy);
    ctx.audit_fd = -1;
    ctx.max_body = 1 << 20;
    if (al_engine_new(p ? p : "rules", &ctx.engine, err, sizeof err) != AL_OK) {
        fprintf(stderr, "fuzz_response: cannot load rules: %s\n", err);
        exit(1);
    }
    return 0;
}

static const struct {
    const char *path, *body;
} reqs[] = {
    {"/v1/chat/completions",
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"},
    {"/v1/chat/completions",
     "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"},
    {"/v1/completions", "{\"model\":\"m\",\"prompt\":\"hi\"}"},
    {"/v1/responses", "{\"model\":\"m\",\"input\":\"hi\",\"stream\":true}"},
    {"/v1/messages", "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\","
                     "\"content\":\"hi\"}]}"},
    {"/v1/messages", "{\"model\":\"m\",\"stream\":true,\"max_tokens\":5,\"messages\":[{\"role\":"
                     "\"user\",\"content\":\"hi\"}]}"},
    {"/v1beta/models/g:generateContent", "{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}"},
    {"/v1beta/models/g:streamGenerateContent?alt=sse",
     "{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}"},
    {"/v1beta/models/g:streamGenerateContent", "{\"contents\":[{\"parts\":[{\"text\":\"hi\"}]}]}"},
    {"/api/chat", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"},
    {"/api/generate", "{\"model\":\"m\",\"prompt\":\"hi\",\"stream\":false}"},
};
static const char *const ctypes[] = {"application/json",
                                     "text/event-stream",
                                     "application/x-ndjson",
                                     "text/html",
                                     NULL,
                                     "text/event-stream; charset=utf-8",
                                     "application/json",
                                     "application/jsonl"};
static const int statuses[] = {200, 200, 200, 400, 429, 500, 502, 204};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    size_t ri = data[0] % (sizeof reqs / sizeof reqs[0]);
    const char *ct = ctypes[data[1] & 7];
    int status = statuses[(data[1] >> 3) & 7];
    ctx.fail = data[1] & 64 ? AL_FAIL_OPEN : AL_FAIL_CLOSED;
    ctx.mode = data[1] & 128 ? AL_MODE_MONITOR : AL_MODE_ENFORCE;
    unsigned seed = data[2];
    data += 3;
    size -= 3;
    al_exchange *x = al_exchange_new(&ctx, "fuzz");
    if (!x) abort();
    al_req_verdict v = {0};
    al_exchange_request(x, "POST", "api.openai.com", reqs[ri].path, "application/json",
                        reqs[ri].body, strlen(reqs[ri].body), &v);
    al_req_verdict_free(&v);
    al_buf host = {0};
    if (al_exchange_response_begin(x, status, ct) == AL_OK) {
        al_code c = AL_OK;
        for (size_t off = 0; off < size && c == AL_OK;) {
            size_t n = 1 + (seed & 31);
            seed = seed * 1103515245u + 12345u;
            seed ^= seed >> 9;
            if (n > size - off) n = size - off;
            c = al_exchange_response_body(x, (const char *)data + off, n, &host);
            off += n;
        }
        al_exchange_response_end(x, &host);
    }
    al_buf_free(&host);
    al_exchange_free(x);
    return 0;
}

/* fuzz_request.c: libFuzzer target for provider request recognition,
 * extraction and rewrite: an arbitrary body on each provider path and
 * content type through al_exchange_request with the shipped packs.  A
 * verdict must be consistent: REWRITE and BLOCK carry a body. */
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
        fprintf(stderr, "fuzz_request: cannot load rules: %s\n", err);
        exit(1);
    }
    return 0;
}

static const char *const paths[] = {"/v1/chat/completions",
                                    "/v1/completions",
                                    "/v1/responses",
                                    "/openai/deployments/d/chat/completions?api-version=1",
                                    "/v1/messages",
                                    "/v1beta/models/gemini-pro:generateContent",
                                    "/v1beta/models/g:streamGenerateContent?alt=sse",
                                    "/api/chat",
                                    "/api/generate",
                                    "/v1/embeddings",
                                    "/"};
static const char *const ctypes[] = {"application/json", "application/json; charset=utf-8",
                                     "text/plain", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *path = paths[(data[0] & 15) % (sizeof paths / sizeof paths[0])];
    const char *ct = ctypes[(data[0] >> 4) & 3];
    ctx.mode = data[0] & 64 ? AL_MODE_MONITOR : AL_MODE_ENFORCE;
    ctx.fail = data[0] & 128 ? AL_FAIL_OPEN : AL_FAIL_CLOSED;
    al_exchange *x = al_exchange_new(&ctx, "fuzz");
    if (!x) abort();
    al_req_verdict v = {0};
    al_code c = al_exchange_request(x, "POST", "api.openai.com", path, ct, (const char *)data + 1,
                                    size - 1, &v);
    if (c == AL_OK && (v.kind == AL_REQ_REWRITE || v.kind == AL_REQ_BLOCK) && !v.body.data) abort();
    if (c == AL_OK && v.kind == AL_REQ_BLOCK && (v.status < 100 || v.status > 599)) abort();
    al_req_verdict_free(&v);
    al_exchange_free(x);
    return 0;
}

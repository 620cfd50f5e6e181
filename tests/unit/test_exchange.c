/* Unit tests for exchange.c and conn.c: LLM requests screened, blocked and
 * rewritten; whole and streamed completions scrubbed; framing kept
 * consistent; fail modes; audit lines without text.  Uses the deterministic
 * pack tests/fixtures/exchange/pack.json. */
#include <fcntl.h>
#include <unistd.h>

#include "exchange.h"
#include "http1.h"
#include "testing.h"

#define PACK "tests/fixtures/exchange/pack.json"

static al_ctx make_ctx(void)
{
    al_ctx c;
    memset(&c, 0, sizeof c);
    al_policy_default(&c.policy);
    c.audit_fd = -1;
    c.max_body = 1 << 20;
    c.exe = "test";
    char err[256];
    if (al_engine_new(PACK, &c.engine, err, sizeof err) != AL_OK) {
        fprintf(stderr, "cannot load %s: %s\n", PACK, err);
        c.engine = NULL;
    }
    return c;
}

/* Runs a whole HTTP exchange through a conn: request bytes split into
 * pieces of `step` (0 = whole), then response bytes likewise. */
typedef struct {
    al_buf to_server, to_host;
    al_code out_rc, in_rc;
    int had_reply;
} run_result;

static void run_free(run_result *r)
{
    al_buf_free(&r->to_server);
    al_buf_free(&r->to_host);
}

static run_result run_conn(const al_ctx *ctx, const char *req, size_t reqlen, const char *resp,
                           size_t resplen, size_t step)
{
    run_result r;
    memset(&r, 0, sizeof r);
    al_conn *c = al_conn_new(ctx, "test", "api.example.com");
    for (size_t off = 0; off < reqlen && r.out_rc == AL_OK;) {
        size_t n = step && step < reqlen - off ? step : reqlen - off;
        r.out_rc = al_conn_out(c, req + off, n, &r.to_server);
        off += n;
        if (al_conn_has_reply(c)) {
            al_buf tmp = {0};
            al_conn_in(c, NULL, 0, 0, &tmp);
            /* a 100 Continue is not the final reply */
            if (tmp.len && strncmp(tmp.data, "HTTP/1.1 100", 12) != 0) {
                r.had_reply = 1;
                al_buf_append(&r.to_host, tmp.data, tmp.len);
            }
            al_buf_free(&tmp);
        }
    }
    if (!r.had_reply && resp) {
        for (size_t off = 0; off < resplen && r.in_rc == AL_OK;) {
            size_t n = step && step < resplen - off ? step : resplen - off;
            r.in_rc = al_conn_in(c, resp + off, n, 0, &r.to_host);
            off += n;
        }
        if (r.in_rc == AL_OK) r.in_rc = al_conn_in(c, NULL, 0, 1, &r.to_host);
    }
    al_conn_free(c);
    return r;
}

static char *req_json(const char *path, const char *body)
{
    al_buf b = {0};
    al_buf_printf(&b,
                  "POST %s HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\n"
                  "Accept-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n%s",
                  path, strlen(body), body);
    return b.data;
}

static char *resp_json(const char *body)
{
    al_buf b = {0};
    al_buf_printf(&b,
                  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                  strlen(body), body);
    return b.data;
}

/* Body of an HTTP message in buf (after the blank line), de-chunked. */
static char *body_of(const char *msg)
{
    const char *p = strstr(msg, "\r\n\r\n");
    if (!p) return strdup("");
    p += 4;
    if (!strstr(msg, "chunked") || strstr(msg, "chunked") > p) return strdup(p);
    al_http1_body d;
    al_http1_body_init(&d, AL_BODY_CHUNKED, 0, 0);
    al_buf out = {0};
    al_http1_body_feed(&d, p, strlen(p), &out);
    return out.data ? out.data : strdup("");
}

TEST(clean_chat_request_and_reply_pass_with_identical_bodies)
{
    al_ctx ctx = make_ctx();
    REQUIRE(ctx.engine);
    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}";
    const char *rb = "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
                     "\"Plants  release oxygen.\"}}],  \"usage\":{\"prompt_tokens\":3}}";
    char *req = req_json("/v1/chat/completions", body), *resp = resp_json(rb);
    run_result r = run_conn(&ctx, req, strlen(req), resp, strlen(resp), 0);
    CHECK_EQ_INT(r.out_rc, AL_OK);
    CHECK(strstr(r.to_server.data, "\r\n\r\n") != NULL);
    CHECK_STR(strstr(r.to_server.data, "\r\n\r\n") + 4, body);
    CHECK(strstr(r.to_server.data, "Accept-Encoding: identity\r\n") != NULL);
    CHECK(strstr(r.to_server.data, "gzip") == NULL);
    CHECK_STR(r.to_host.data, resp); /* byte-for-byte */
    run_free(&r);
    free(req);
    free(resp);
    al_ctx_free(&ctx);
}

TEST(llm_request_split_at_every_offset_reaches_the_server_whole)
{
    al_ctx ctx = make_ctx();
    REQUIRE(ctx.engine);
    const char *body = "{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]}";
    al_buf req = {0};
    al_buf_printf(&req,
                  "POST /v1/chat/completions HTTP/1.1\r\nAccept-Encoding: identity\r\n"
                  "Content-Type: application/json\r\nContent-Length: %zu\r\nHost: localhost\r\n"
                  "User-Agent: Python-urllib/3.11\r\nConnection: close\r\n\r\n%s",
                  strlen(body), body);
    for (size_t cut = 1; cut < req.len; cut++) {
        al_conn *c = al_conn_new(&ctx, "test", NULL);
        al_buf out = {0};
        CHECK_EQ_INT(al_conn_out(c, req.data, cut, &out), AL_OK);
        CHECK_EQ_INT(al_conn_out(c, req.data + cut, req.len - cut, &out), AL_OK);
        REQUIRE(out.data);
        char *b = body_of(out.data);
        CHECK_STR(b, body);
        CHECK(strncmp(out.data, "POST /v1/chat/completions HTTP/1.1\r\n", 36) == 0);
        free(b);
        al_buf_free(&out);
        al_conn_free(c);
    }
    al_buf_free(&req);
    al_ctx_free(&ctx);
}

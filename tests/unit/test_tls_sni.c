/* Unit tests for tls_sni.c: the server name of a ClientHello and the list of
 * LLM API hosts.  The captured hello is tests/fixtures/tls/
 * clienthello_openssl_api.openai.com.bin (openssl s_client -servername
 * api.openai.com), embedded here so the test needs no working directory. */
#include <stdlib.h>

#include "tls_sni.h"
#include "testing.h"

static const unsigned char hello[] = {
    0x16, 0x03, 0x01, 0x01, 0x3b, 0x01, 0x00, 0x01, 0x37, 0x03, 0x03, 0x2e, 0x1d, 0x3c, 0xd5, 0xcf,
    0x58, 0x53, 0xf5, 0xd6, 0x99, 0x9f, 0x2b, 0xb6, 0x29, 0xb6, 0x86, 0xc8, 0xa2, 0xca, 0x8a, 0x36,
    0x23, 0x1e, 0x66, 0xcc, 0xb9, 0x61, 0x73, 0x60, 0x0f, 0x47, 0x5d, 0x20, 0x2c, 0xc8, 0x65, 0xd4,
    0x7f, 0x40, 0x5b, 0x31, 0x9f, 0xc6, 0xd7, 0x60, 0x13, 0xf3, 0x4c, 0x84, 0xb8, 0xc1, 0x5e, 0x90,
    0xee, 0x5b, 0x55, 0x85, 0x12, 0x0d, 0x31, 0xe5, 0x2c, 0x6b, 0x16, 0xee, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xb0,
    0x00, 0x00, 0x00, 0x13, 0x00, 0x11, 0x00, 0x00, 0x0e, 0x61, 0x70, 0x69, 0x2e, 0x6f, 0x70, 0x65,
    0x6e, 0x61, 0x69, 0x2e, 0x63, 0x6f, 0x6d, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00,
    0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01,
    0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00,
    0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06,
    0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08,
    0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05,
    0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01,
    0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20,
    0xca, 0xe7, 0x9d, 0x0d, 0x9d, 0x82, 0x38, 0xe0, 0x97, 0xf8, 0x73, 0x39, 0xfd, 0x56, 0x8f, 0xf5,
    0x39, 0x79, 0x01, 0xc8, 0x7e, 0x95, 0xf2, 0x50, 0x33, 0x89, 0x91, 0xe9, 0xa2, 0xcc, 0x6a, 0x37};
static const unsigned int hello_len = 320;

/* Builds a minimal ClientHello carrying server name sni (NULL: no SNI). */
static size_t build_hello(unsigned char *out, const char *sni)
{
    unsigned char body[512];
    size_t n = 0;
    body[n++] = 3, body[n++] = 3;
    for (int i = 0; i < 32; i++) body[n++] = (unsigned char)i;
    body[n++] = 0;                                                    /* session id */
    body[n++] = 0, body[n++] = 2, body[n++] = 0x13, body[n++] = 0x01; /* ciphers */
    body[n++] = 1, body[n++] = 0;                                     /* compression */
    size_t extlen_at = n;
    n += 2;
    /* an unrelated extension first (supported_versions) */
    body[n++] = 0, body[n++] = 43, body[n++] = 0, body[n++] = 3, body[n++] = 2;
    body[n++] = 3, body[n++] = 4;
    if (sni) {
        size_t l = strlen(sni);
        body[n++] = 0, body[n++] = 0;
        body[n++] = (unsigned char)((l + 5) >> 8), body[n++] = (unsigned char)(l + 5);
        body[n++] = (unsigned char)((l + 3) >> 8), body[n++] = (unsigned char)(l + 3);
        body[n++] = 0;
        body[n++] = (unsigned char)(l >> 8), body[n++] = (unsigned char)l;
        memcpy(body + n, sni, l);
        n += l;
    }
    size_t extlen = n - extlen_at - 2;
    body[extlen_at] = (unsigned char)(extlen >> 8), body[extlen_at + 1] = (unsigned char)extlen;
    out[0] = 0x16, out[1] = 3, out[2] = 1;
    out[3] = (unsigned char)((n + 4) >> 8), out[4] = (unsigned char)(n + 4);
    out[5] = 1, out[6] = 0, out[7] = (unsigned char)(n >> 8), out[8] = (unsigned char)n;
    memcpy(out + 9, body, n);
    return n + 9;
}

TEST(sni_should_be_read_from_a_real_openssl_client_hello)
{
    char host[256];
    CHECK_EQ_INT(al_tls_sni(hello, hello_len, host, sizeof host), AL_SNI_FOUND);
    CHECK_STR(host, "api.openai.com");
}

TEST(sni_should_be_lower_cased)
{
    unsigned char b[600];
    char host[256];
    size_t n = build_hello(b, "API.Anthropic.COM");
    CHECK_EQ_INT(al_tls_sni(b, n, host, sizeof host), AL_SNI_FOUND);
    CHECK_STR(host, "api.anthropic.com");
}

TEST(hello_without_sni_should_report_none)
{
    unsigned char b[600];
    char host[256];
    size_t n = build_hello(b, NULL);
    CHECK(al_tls_is_client_hello(b, n));
    CHECK_EQ_INT(al_tls_sni(b, n, host, sizeof host), AL_SNI_NONE);
    CHECK_STR(host, "");
}

TEST(http_request_should_not_be_taken_for_tls)
{
    const char *req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n";
    char host[64];
    CHECK(!al_tls_is_client_hello((const unsigned char *)req, strlen(req)));
    CHECK_EQ_INT(al_tls_sni((const unsigned char *)req, strlen(req), host, sizeof host),
                 AL_SNI_NOT_TLS);
}

TEST(hello_truncated_at_every_offset_should_never_overread_or_invent_a_name)
{
    char host[256];
    for (size_t cut = 0; cut < hello_len; cut++) {
        /* a heap copy of exactly cut bytes so ASan catches any over-read */
        unsigned char *p = malloc(cut ? cut : 1);
        REQUIRE(p);
        memcpy(p, hello, cut);
        al_sni_result r = al_tls_sni(p, cut, host, sizeof host);
        if (r == AL_SNI_FOUND) CHECK_STR(host, "api.openai.com");
        free(p);
    }
}

TEST(hello_with_lengths_pointing_past_the_record_should_be_rejected_safely)
{
    unsigned char b[600];
    char host[256];
    size_t n = build_hello(b, "api.openai.com");
    for (size_t i = 5; i < n; i++) {
        unsigned char save = b[i];
        b[i] = 0xff;
        unsigned char *p = malloc(n);
        REQUIRE(p);
        memcpy(p, b, n);
        al_sni_result r = al_tls_sni(p, n, host, sizeof host);
        CHECK(r == AL_SNI_FOUND || r == AL_SNI_NONE || r == AL_SNI_NOT_TLS);
        free(p);
        b[i] = save;
    }
}

TEST(name_longer_than_the_buffer_should_report_none)
{
    unsigned char b[600];
    char host[8];
    size_t n = build_hello(b, "api.openai.com");
    CHECK_EQ_INT(al_tls_sni(b, n, host, sizeof host), AL_SNI_NONE);
}

TEST(builtin_llm_hosts_should_match_exactly_and_by_subdomain_pattern)
{
    CHECK(al_llm_host_match("api.openai.com", NULL));
    CHECK(al_llm_host_match("API.OPENAI.COM.", NULL));
    CHECK(al_llm_host_match("myres.openai.azure.com", NULL));
    CHECK(al_llm_host_match("generativelanguage.googleapis.com", NULL));
    CHECK(al_llm_host_match("us-central1-aiplatform.googleapis.com", NULL));
    CHECK(al_llm_host_match("bedrock-runtime.us-east-1.amazonaws.com", NULL));
    CHECK(!al_llm_host_match("openai.com", NULL));
    CHECK(!al_llm_host_match("api.openai.com.evil.example", NULL));
    CHECK(!al_llm_host_match("openai.azure.com", NULL));
    CHECK(!al_llm_host_match("bedrock-runtime.a.b.amazonaws.com", NULL));
    CHECK(!al_llm_host_match("www.google.com", NULL));
    CHECK(!al_llm_host_match("", NULL));
}

TEST(extra_hosts_from_the_environment_list_should_match)
{
    const char *extra = "localhost, llm.internal.example ,*.models.example";
    CHECK(al_llm_host_match("localhost", extra));
    CHECK(al_llm_host_match("llm.internal.example", extra));
    CHECK(al_llm_host_match("a.models.example", extra));
    CHECK(!al_llm_host_match("models.example", extra));
    CHECK(!al_llm_host_match("localhost.example", extra));
    CHECK(!al_llm_host_match("localhost", ",,"));
}

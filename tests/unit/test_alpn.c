/* test_alpn.c: the ALPN offer reduction the OpenSSL hook applies. */
#include "alpn.h"
#include "testing.h"

#define L(s) ((const unsigned char *)(s)), (sizeof(s) - 1)

static size_t reduce(const unsigned char *in, size_t len, unsigned char *out)
{
    memset(out, 0xAA, 64);
    return al_alpn_h1_only(in, len, out);
}

TEST(h2_and_http11_offer_becomes_http11_alone)
{
    unsigned char out[64];
    size_t n = reduce(L("\x02h2\x08http/1.1"), out);
    CHECK_EQ_INT(n, 9);
    CHECK(!memcmp(out, "\x08http/1.1", 9));
}

TEST(order_and_other_protocols_are_kept)
{
    unsigned char out[64];
    size_t n = reduce(L("\x08http/1.1\x02h2\x08http/1.0\x02h3"), out);
    CHECK_EQ_INT(n, 18);
    CHECK(!memcmp(out, "\x08http/1.1\x08http/1.0", 18));
}

TEST(h2c_is_dropped_too)
{
    unsigned char out[64];
    CHECK_EQ_INT(reduce(L("\x03h2c\x08http/1.1"), out), 9);
}

TEST(an_h2_only_client_keeps_its_offer)
{
    unsigned char out[64];
    CHECK_EQ_INT(reduce(L("\x02h2"), out), 0);
}

TEST(an_http11_only_offer_needs_no_change)
{
    unsigned char out[64];
    CHECK_EQ_INT(reduce(L("\x08http/1.1"), out), 0);
}

TEST(non_http_protocols_are_left_alone)
{
    unsigned char out[64];
    CHECK_EQ_INT(reduce(L("\x0a"
                          "acme-tls/1"),
                        out),
                 0);
    CHECK_EQ_INT(reduce(L("\x04grpc\x02h2"), out), 0);
}

TEST(malformed_lists_are_never_rewritten)
{
    unsigned char out[64];
    CHECK_EQ_INT(reduce(L("\x02h2\x09http/1.1"), out), 0);      /* length runs past the end */
    CHECK_EQ_INT(reduce(L("\x02h2\x00\x08http/1.1"), out), 0);  /* empty name */
    CHECK_EQ_INT(reduce((const unsigned char *)"", 0, out), 0); /* empty list */
}

TEST(names_that_only_start_like_h2_are_kept)
{
    unsigned char out[64];
    size_t n = reduce(L("\x04h2-x\x02h2\x08http/1.1"), out);
    CHECK_EQ_INT(n, 14);
    CHECK(!memcmp(out, "\x04h2-x\x08http/1.1", 14));
}

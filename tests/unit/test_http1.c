/* Unit tests for http1.c: request and response header parsing, body
 * de-framing (Content-Length, chunked with extensions and trailers, until
 * close), caps and sticky errors, whole / byte-by-byte / split feeds. */
#include "http1.h"
#include "testing.h"

static const char REQ[] = "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: api.example.com\r\n"
                          "Content-Type: application/json\r\nContent-Length: 5\r\n"
                          "Expect: 100-continue\r\n\r\nhello";

TEST(request_header_parses_whole_and_reports_framing)
{
    al_http1_msg m;
    int n = al_http1_parse_request(REQ, sizeof REQ - 1, 0, &m);
    CHECK_EQ_INT(n, sizeof REQ - 1 - 5);
    CHECK(m.method_len == 4 && !memcmp(m.method, "POST", 4));
    CHECK(m.target_len == 24 && !memcmp(m.target, "/v1/chat/completions?x=1", 24));
    CHECK_EQ_INT(m.content_length, 5);
    CHECK_EQ_INT(m.keep_alive, 1);
    CHECK_EQ_INT(m.expect_continue, 1);
    CHECK_EQ_INT(al_http1_request_body(&m), AL_BODY_LENGTH);
    int h = al_http1_find(&m, "content-type");
    REQUIRE(h >= 0);
    CHECK(m.headers[h].value_len == 16 && !memcmp(m.headers[h].value, "application/json", 16));
}

TEST(request_header_needs_more_at_every_prefix_then_parses_byte_by_byte)
{
    al_http1_msg m;
    size_t hl = sizeof REQ - 1 - 5, last = 0;
    for (size_t i = 1; i < hl; i++) {
        CHECK_EQ_INT(al_http1_parse_request(REQ, i, last, &m), -2);
        last = i;
    }
    CHECK_EQ_INT(al_http1_parse_request(REQ, hl, last, &m), hl);
}

TEST(request_with_both_content_length_and_chunked_is_rejected)
{
    const char r[] = "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    al_http1_msg m;
    CHECK_EQ_INT(al_http1_parse_request(r, sizeof r - 1, 0, &m), -1);
    CHECK(m.err != NULL);
}

TEST(malformed_request_lines_and_headers_are_errors_with_reason)
{
    const char *bad[] = {"GET\r\n\r\n",
                         "GET / HTTP/2.0\r\n\r\n",
                         "G(T / HTTP/1.1\r\n\r\n",
                         "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
                         "GET / HTTP/1.1\r\n folded: x\r\n\r\n",
                         "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
                         "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                         "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        al_http1_msg m;
        CHECK_EQ_INT(al_http1_parse_request(bad[i], strlen(bad[i]), 0, &m), -1);
        CHECK(m.err != NULL);
    }
}

TEST(request_line_words_split_by_any_whitespace_parse_as_lenient_servers_read_them)
{
    const char *lines[] = {
        "POST\t/v1/chat/completions\tHTTP/1.1\r\n", "POST  /v1/chat/completions  HTTP/1.1\r\n",
        " POST /v1/chat/completions HTTP/1.1 \r\n", "POST\v/v1/chat/completions\fHTTP/1.1\r\n",
        "\r\nPOST /v1/chat/completions \t HTTP/1.1\r\n"};
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        char r[256];
        snprintf(r, sizeof r, "%sHost: h\r\nContent-Length: 2\r\n\r\n{}", lines[i]);
        al_http1_msg m;
        CHECK_EQ_INT(al_http1_parse_request(r, strlen(r), 0, &m), (int)strlen(r) - 2);
        CHECK(m.method_len == 4 && !memcmp(m.method, "POST", 4));
        CHECK(m.target_len == 20 && !memcmp(m.target, "/v1/chat/completions", 20));
        CHECK_EQ_INT(m.minor_version, 1);
        CHECK_EQ_INT(m.content_length, 2);
    }
    const char *bad[] = {"POST\t/v1/chat/completions\r\n\r\n", "POST \t HTTP/1.1\r\n\r\n",
                         "\tPOST\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        al_http1_msg m;
        CHECK_EQ_INT(al_http1_parse_request(bad[i], strlen(bad[i]), 0, &m), -1);
    }
}

TEST(oversized_header_block_is_an_error_not_a_wait)
{
    size_t n = AL_HTTP1_MAX_HEADER_BYTES + 10;
    char *b = malloc(n);
    memcpy(b, "GET / HTTP/1.1\r\nX: ", 19);
    memset(b + 19, 'a', n - 19);
    al_http1_msg m;
    CHECK_EQ_INT(al_http1_parse_request(b, n, 0, &m), -1);
    free(b);
}

TEST(response_framing_follows_method_and_status)
{
    al_http1_msg m;
    const char r204[] = "HTTP/1.1 204 No Content\r\n\r\n";
    CHECK(al_http1_parse_response(r204, sizeof r204 - 1, 0, &m) > 0);
    CHECK_EQ_INT(al_http1_response_body(&m, "POST", 4), AL_BODY_NONE);
    const char r200[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    CHECK(al_http1_parse_response(r200, sizeof r200 - 1, 0, &m) > 0);
    CHECK_EQ_INT(al_http1_response_body(&m, "HEAD", 4), AL_BODY_NONE);
    CHECK_EQ_INT(al_http1_response_body(&m, "GET", 3), AL_BODY_LENGTH);
    const char r304[] = "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n";
    CHECK(al_http1_parse_response(r304, sizeof r304 - 1, 0, &m) > 0);
    CHECK_EQ_INT(al_http1_response_body(&m, "GET", 3), AL_BODY_NONE);
    const char reof[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n";
    CHECK(al_http1_parse_response(reof, sizeof reof - 1, 0, &m) > 0);
    CHECK_EQ_INT(al_http1_response_body(&m, "GET", 3), AL_BODY_EOF);
    CHECK_EQ_INT(m.keep_alive, 0);
    const char rch[] =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n";
    CHECK(al_http1_parse_response(rch, sizeof rch - 1, 0, &m) > 0);
    CHECK_EQ_INT(al_http1_response_body(&m, "POST", 4), AL_BODY_CHUNKED);
    CHECK_EQ_INT(m.keep_alive, 0);
    const char bad[] = "HTTP/1.1 2x0 OK\r\n\r\n";
    CHECK_EQ_INT(al_http1_parse_response(bad, sizeof bad - 1, 0, &m), -1);
}

static const char CHUNKED[] =
    "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n"
    "NEXT";
static const char CHUNKED_PAYLOAD[] = "hello 0123456789";

/* Feeds the chunked body in pieces of `step` bytes. */
static int decode_chunked(size_t step, al_buf *out, size_t *consumed)
{
    al_http1_body d;
    al_http1_body_init(&d, AL_BODY_CHUNKED, 0, 0);
    size_t len = sizeof CHUNKED - 1, off = 0;
    while (off < len && !d.done) {
        size_t n = step < len - off ? step : len - off;
        long k = al_http1_body_feed(&d, CHUNKED + off, n, out);
        if (k < 0) return -1;
        off += (size_t)k;
        if ((size_t)k < n && !d.done) return -1;
    }
    *consumed = off;
    return d.done ? 0 : -2;
}

TEST(chunked_body_with_extensions_and_trailers_decodes_at_every_feed_size)
{
    for (size_t step = 1; step <= sizeof CHUNKED; step++) {
        al_buf out = {0};
        size_t used = 0;
        CHECK_EQ_INT(decode_chunked(step, &out, &used), 0);
        CHECK_STR(out.data, CHUNKED_PAYLOAD);
        CHECK_EQ_INT(used, sizeof CHUNKED - 1 - 4); /* "NEXT" is the next message */
        al_buf_free(&out);
    }
}

TEST(chunked_body_split_at_every_offset_decodes_the_same)
{
    size_t len = sizeof CHUNKED - 1 - 4;
    for (size_t cut = 1; cut < len; cut++) {
        al_http1_body d;
        al_http1_body_init(&d, AL_BODY_CHUNKED, 0, 0);
        al_buf out = {0};
        long a = al_http1_body_feed(&d, CHUNKED, cut, &out);
        long b = al_http1_body_feed(&d, CHUNKED + cut, len - cut, &out);
        CHECK(a == (long)cut && b == (long)(len - cut) && d.done);
        CHECK_STR(out.data, CHUNKED_PAYLOAD);
        al_buf_free(&out);
    }
}

TEST(bad_chunk_framing_is_a_sticky_error_with_position)
{
    const char *bad[] = {"zz\r\n", "5\r\nhelloXX", "5\r\nhel", "FFFFFFFFFFFFFFFFF\r\n"};
    for (size_t i = 0; i < 4; i++) {
        al_http1_body d;
        al_http1_body_init(&d, AL_BODY_CHUNKED, 0, 0);
        long k = al_http1_body_feed(&d, bad[i], strlen(bad[i]), NULL);
        if (i == 2) { /* truncated: only the close reveals it */
            CHECK_EQ_INT(k, (long)strlen(bad[i]));
            CHECK_EQ_INT(al_http1_body_eof(&d), -1);
        } else {
            CHECK_EQ_INT(k, -1);
        }
        CHECK(d.err != NULL);
        CHECK_EQ_INT(al_http1_body_feed(&d, "0\r\n\r\n", 5, NULL), -1); /* sticky */
    }
}

TEST(body_over_the_cap_is_a_limit_error)
{
    al_http1_body d;
    al_http1_body_init(&d, AL_BODY_LENGTH, 100, 10);
    char buf[100] = {0};
    CHECK_EQ_INT(al_http1_body_feed(&d, buf, sizeof buf, NULL), -1);
    CHECK_EQ_INT(d.err_code, AL_ELIMIT);
    al_http1_body_init(&d, AL_BODY_CHUNKED, 0, 4);
    CHECK_EQ_INT(al_http1_body_feed(&d, "5\r\nhello\r\n", 10, NULL), -1);
    CHECK_EQ_INT(d.err_code, AL_ELIMIT);
}

TEST(content_length_body_stops_at_its_end_and_eof_body_ends_at_close)
{
    al_http1_body d;
    al_http1_body_init(&d, AL_BODY_LENGTH, 3, 0);
    al_buf out = {0};
    CHECK_EQ_INT(al_http1_body_feed(&d, "abcdef", 6, &out), 3);
    CHECK(d.done);
    CHECK_STR(out.data, "abc");
    al_http1_body_init(&d, AL_BODY_LENGTH, 3, 0);
    CHECK_EQ_INT(al_http1_body_feed(&d, "ab", 2, NULL), 2);
    CHECK_EQ_INT(al_http1_body_eof(&d), -1);
    al_http1_body_init(&d, AL_BODY_EOF, 0, 0);
    CHECK_EQ_INT(al_http1_body_feed(&d, "xyz", 3, NULL), 3);
    CHECK_EQ_INT(al_http1_body_eof(&d), 0);
    CHECK(d.done);
    al_buf_free(&out);
}

TEST(chunked_body_with_its_data_skipped_unseen_keeps_the_framing_at_every_step)
{
    size_t len = sizeof CHUNKED - 1;
    for (size_t step = 1; step <= len; step++) {
        al_http1_body d;
        al_http1_body_init(&d, AL_BODY_CHUNKED, 0, 0);
        size_t off = 0, skipped = 0;
        while (off < len && !d.done) {
            size_t n = step < len - off ? step : len - off;
            uint64_t direct = al_http1_body_direct(&d);
            if (direct) {
                if (n > direct) n = (size_t)direct;
                al_http1_body_skip(&d, n);
                skipped += n;
                off += n;
                continue;
            }
            long k = al_http1_body_feed(&d, CHUNKED + off, n, NULL);
            if (k <= 0) break;
            off += (size_t)k;
        }
        CHECK(d.done);
        CHECK_EQ_INT(off, len - 4); /* "NEXT" is the next message */
        /* (a feed that starts in framing reads on into the data) */
        if (step == 1) CHECK_EQ_INT(skipped, sizeof CHUNKED_PAYLOAD - 1);
        CHECK_EQ_INT(d.total, sizeof CHUNKED_PAYLOAD - 1);
        CHECK_EQ_INT(al_http1_body_direct(&d), 0);
    }
}

TEST(body_direct_counts_payload_only_and_never_for_a_capped_or_broken_body)
{
    al_http1_body d;
    al_http1_body_init(&d, AL_BODY_LENGTH, 10, 0);
    CHECK_EQ_INT(al_http1_body_direct(&d), 10);
    al_http1_body_skip(&d, 4);
    CHECK_EQ_INT(al_http1_body_direct(&d), 6);
    CHECK_EQ_INT(al_http1_body_feed(&d, "abcdefNEXT", 10, NULL), 6);
    CHECK(d.done);
    CHECK_EQ_INT(al_http1_body_direct(&d), 0);
    al_http1_body_init(&d, AL_BODY_EOF, 0, 0);
    CHECK(al_http1_body_direct(&d) == UINT64_MAX);
    al_http1_body_skip(&d, 1000);
    CHECK_EQ_INT(al_http1_body_eof(&d), 0);
    al_http1_body_init(&d, AL_BODY_LENGTH, 10, 5); /* a cap needs every byte counted */
    CHECK_EQ_INT(al_http1_body_direct(&d), 0);
    al_http1_body_init(&d, AL_BODY_CHUNKED, 0, 0);
    CHECK_EQ_INT(al_http1_body_direct(&d), 0); /* a size line comes first */
    CHECK_EQ_INT(al_http1_body_feed(&d, "zz", 2, NULL), -1);
    CHECK_EQ_INT(al_http1_body_direct(&d), 0);
    al_http1_body_init(&d, AL_BODY_LENGTH, 5, 0);
    al_http1_body_skip(&d, 9); /* never past the body */
    CHECK(d.done);
    CHECK_EQ_INT(d.total, 5);
}

TEST(token_lists_match_caselessly_and_ignore_parameters)
{
    CHECK(al_http1_has_token("keep-alive, Upgrade", 19, "upgrade"));
    CHECK(al_http1_has_token("gzip;q=1.0, identity", 20, "gzip"));
    CHECK(!al_http1_has_token("closed", 6, "close"));
}

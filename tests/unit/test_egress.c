/* test_egress.c: the egress allowlist: parsing, names, wildcards,
 * addresses and CIDR blocks, and judging a connect by resolved names. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "../../shim/egress.h"
#include "client_hello.h"
#include "testing.h"

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in s;
    memset(&s, 0, sizeof s);
    s.sin_family = AF_INET;
    s.sin_port = htons(443);
    inet_pton(AF_INET, ip, &s.sin_addr);
    return s;
}

static struct sockaddr_in6 v6(const char *ip)
{
    struct sockaddr_in6 s;
    memset(&s, 0, sizeof s);
    s.sin6_family = AF_INET6;
    s.sin6_port = htons(443);
    inet_pton(AF_INET6, ip, &s.sin6_addr);
    return s;
}

#define SA(x) ((const struct sockaddr *)&(x)), (socklen_t)sizeof(x)

TEST(names_match_exactly_and_case_insensitively)
{
    char err[200];
    al_egress *e = al_egress_parse("api.openai.com, API.Anthropic.com.", err, sizeof err);
    REQUIRE(e != NULL);
    CHECK(al_egress_allow_name(e, "api.openai.com"));
    CHECK(al_egress_allow_name(e, "Api.OpenAI.com"));
    CHECK(al_egress_allow_name(e, "api.anthropic.com"));
    CHECK(al_egress_allow_name(e, "api.openai.com."));
    CHECK(!al_egress_allow_name(e, "openai.com"));
    CHECK(!al_egress_allow_name(e, "evil-api.openai.com"));
    CHECK(!al_egress_allow_name(e, "api.openai.com.evil.net"));
    CHECK(!al_egress_allow_name(e, "pastebin.com"));
    CHECK(!al_egress_allow_name(e, ""));
    al_egress_free(e);
}

TEST(wildcards_cover_subdomains_not_the_domain_or_lookalikes)
{
    char err[200];
    al_egress *e = al_egress_parse("*.openai.azure.com", err, sizeof err);
    REQUIRE(e != NULL);
    CHECK(al_egress_allow_name(e, "myco.openai.azure.com"));
    CHECK(al_egress_allow_name(e, "a.b.openai.azure.com"));
    CHECK(!al_egress_allow_name(e, "openai.azure.com"));
    CHECK(!al_egress_allow_name(e, "evilopenai.azure.com"));
    al_egress_free(e);
}

TEST(addresses_and_cidr_blocks_match_by_prefix)
{
    char err[200];
    al_egress *e = al_egress_parse("10.0.0.0/8 192.168.1.7 fd00::/8 2001:db8::1", err, sizeof err);
    REQUIRE(e != NULL);
    struct sockaddr_in a = v4("10.200.3.4"), b = v4("11.0.0.1"), c = v4("192.168.1.7"),
                       d = v4("192.168.1.8");
    struct sockaddr_in6 f = v6("fd12::5"), g = v6("fe80::1"), h = v6("2001:db8::1"),
                        m = v6("::ffff:10.1.1.1");
    CHECK(al_egress_allow_addr(e, SA(a)));
    CHECK(!al_egress_allow_addr(e, SA(b)));
    CHECK(al_egress_allow_addr(e, SA(c)));
    CHECK(!al_egress_allow_addr(e, SA(d)));
    CHECK(al_egress_allow_addr(e, SA(f)));
    CHECK(!al_egress_allow_addr(e, SA(g)));
    CHECK(al_egress_allow_addr(e, SA(h)));
    CHECK(al_egress_allow_addr(e, SA(m))); /* IPv4-mapped counts as IPv4 */
    CHECK(al_egress_allow_name(e, "10.9.9.9"));
    CHECK(!al_egress_allow_name(e, "11.9.9.9"));
    al_egress_free(e);
}

TEST(prefix_lengths_that_are_not_whole_bytes)
{
    char err[200];
    al_egress *e = al_egress_parse("172.16.0.0/12", err, sizeof err);
    REQUIRE(e != NULL);
    struct sockaddr_in in = v4("172.31.255.255"), out = v4("172.32.0.0");
    CHECK(al_egress_allow_addr(e, SA(in)));
    CHECK(!al_egress_allow_addr(e, SA(out)));
    al_egress_free(e);
}

TEST(localhost_entry_allows_loopback_only)
{
    char err[200];
    al_egress *e = al_egress_parse("localhost", err, sizeof err);
    REQUIRE(e != NULL);
    struct sockaddr_in lo = v4("127.0.0.1"), lo2 = v4("127.8.0.1"), other = v4("8.8.8.8");
    struct sockaddr_in6 lo6 = v6("::1");
    CHECK(al_egress_allow_addr(e, SA(lo)));
    CHECK(al_egress_allow_addr(e, SA(lo2)));
    CHECK(al_egress_allow_addr(e, SA(lo6)));
    CHECK(!al_egress_allow_addr(e, SA(other)));
    CHECK(al_egress_allow_name(e, "localhost"));
    al_egress_free(e);
}

TEST(bracketed_ipv6_and_localhost_with_a_trailing_dot_are_understood)
{
    char err[200];
    al_egress *e = al_egress_parse("[::1],[fd00::]/8,LOCALHOST.", err, sizeof err);
    REQUIRE(e != NULL);
    struct sockaddr_in lo = v4("127.0.0.1");
    struct sockaddr_in6 lo6 = v6("::1"), f = v6("fd12::5"), g = v6("fe80::1");
    CHECK(al_egress_allow_addr(e, SA(lo))); /* from LOCALHOST. */
    CHECK(al_egress_allow_addr(e, SA(lo6)));
    CHECK(al_egress_allow_addr(e, SA(f)));
    CHECK(!al_egress_allow_addr(e, SA(g)));
    al_egress_free(e);
    CHECK(al_egress_parse("[::1", err, sizeof err) == NULL);
    CHECK(al_egress_parse("[example.com]", err, sizeof err) == NULL);
}

TEST(bad_entries_are_refused_with_the_entry_named)
{
    char err[200];
    CHECK(al_egress_parse("api.openai.com,10.0.0.0/33", err, sizeof err) == NULL);
    CHECK_STR(err, "entry '10.0.0.0/33': bad prefix length");
    CHECK(al_egress_parse("*openai.com", err, sizeof err) == NULL);
    CHECK(strstr(err, "'*openai.com'") != NULL);
    CHECK(al_egress_parse("exa mple.com/x", err, sizeof err) == NULL);
    CHECK(al_egress_parse("", err, sizeof err) == NULL);
    CHECK_STR(err, "the list is empty");
    CHECK(al_egress_parse(" , ,", err, sizeof err) == NULL);
    CHECK(al_egress_parse(NULL, err, sizeof err) == NULL);
}

TEST(a_connect_is_judged_by_the_names_resolved_to_its_address)
{
    al_egress_forget_all();
    char err[200], name[256];
    al_egress *e = al_egress_parse("api.openai.com", err, sizeof err);
    REQUIRE(e != NULL);
    struct sockaddr_in ok = v4("203.0.113.10"), shared = v4("203.0.113.20"),
                       unknown = v4("198.51.100.1");
    al_egress_remember("api.openai.com", SA(ok));
    al_egress_remember("exfil.example.net", SA(unknown));
    /* two names on one address (a CDN): allowed when any of them is */
    al_egress_remember("tracker.example.net", SA(shared));
    al_egress_remember("API.OPENAI.COM", SA(shared));
    CHECK(al_egress_allow_connect(e, SA(ok), name, sizeof name));
    CHECK_STR(name, "api.openai.com");
    CHECK(al_egress_allow_connect(e, SA(shared), name, sizeof name));
    CHECK(!al_egress_allow_connect(e, SA(unknown), name, sizeof name));
    CHECK_STR(name, "exfil.example.net");
    struct sockaddr_in never = v4("192.0.2.99");
    CHECK(!al_egress_allow_connect(e, SA(never), name, sizeof name));
    CHECK_STR(name, "");
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    CHECK(al_egress_allow_connect(e, SA(un), name, sizeof name)); /* not IP: not judged */
    al_egress_free(e);
    al_egress_forget_all();
}

TEST(an_ipv6_address_without_its_scope_id_is_judged_like_a_full_one)
{
    al_egress_forget_all();
    char err[200], name[256];
    al_egress *e = al_egress_parse("192.0.2.1", err, sizeof err);
    REQUIRE(e != NULL);
    struct sockaddr_in6 lo6 = v6("::1");
    /* RFC 2133's 24-byte sockaddr_in6, which connect(2) accepts */
    CHECK(!al_egress_allow_connect(e, (const struct sockaddr *)&lo6, 24, name, sizeof name));
    CHECK(!al_egress_allow_connect(e, (const struct sockaddr *)&lo6, 12, name, sizeof name));
    al_egress *l = al_egress_parse("localhost", err, sizeof err);
    REQUIRE(l != NULL);
    CHECK(al_egress_allow_connect(l, (const struct sockaddr *)&lo6, 24, name, sizeof name));
    al_egress_free(l);
    al_egress_free(e);
}

TEST(remembered_names_are_bounded_and_forget_the_oldest)
{
    al_egress_forget_all();
    char err[200];
    al_egress *e = al_egress_parse("first.example.com", err, sizeof err);
    REQUIRE(e != NULL);
    struct sockaddr_in first = v4("198.51.100.7");
    al_egress_remember("first.example.com", SA(first));
    CHECK(al_egress_allow_connect(e, SA(first), NULL, 0));
    for (int i = 0; i < 3000; i++) {
        struct sockaddr_in x = v4("192.0.2.1");
        x.sin_addr.s_addr = htonl(0x0a000000u + (unsigned)i);
        al_egress_remember("other.example.com", SA(x));
    }
    CHECK(!al_egress_allow_connect(e, SA(first), NULL, 0));
    al_egress_free(e);
    al_egress_forget_all();
}

TEST(a_connect_says_whether_its_address_or_only_a_resolved_name_allowed_it)
{
    al_egress_forget_all();
    char err[200], name[256];
    al_egress *e = al_egress_parse("api.openai.com 10.0.0.0/8 localhost", err, sizeof err);
    REQUIRE(e != NULL);
    struct sockaddr_in cdn = v4("203.0.113.10"), net = v4("10.1.2.3"), lo = v4("127.0.0.1");
    al_egress_remember("api.openai.com", SA(cdn));
    al_egress_remember("api.openai.com", SA(net));
    CHECK_EQ_INT(al_egress_allow_connect(e, SA(cdn), name, sizeof name), AL_EGRESS_BY_NAME);
    CHECK_STR(name, "api.openai.com");
    CHECK_EQ_INT(al_egress_allow_connect(e, SA(net), name, sizeof name), AL_EGRESS_BY_ADDR);
    CHECK_EQ_INT(al_egress_allow_connect(e, SA(lo), name, sizeof name), AL_EGRESS_BY_ADDR);
    al_egress_free(e);
    al_egress_forget_all();
}

/* A ClientHello carrying server name sni (NULL: none), with a padding
 * extension after it. */
static size_t hello(unsigned char *out, const char *sni)
{
    return build_client_hello(out, sni, 1);
}

static al_egress_first judge(const al_egress *e, const void *b, size_t n)
{
    al_egress_first f;
    al_egress_judge_first(e, b, n, &f);
    return f;
}

static al_egress_first judge_str(const al_egress *e, const char *s)
{
    return judge(e, s, strlen(s));
}

TEST(tls_server_name_on_the_list_passes_and_another_name_on_the_same_address_does_not)
{
    char err[200];
    al_egress *e = al_egress_parse("api.openai.com,*.anthropic.com", err, sizeof err);
    REQUIRE(e != NULL);
    unsigned char b[700];
    size_t n = hello(b, "API.OpenAI.com");
    al_egress_first f = judge(e, b, n);
    CHECK_EQ_INT(f.proto, AL_EGRESS_PROTO_TLS);
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_OK);
    CHECK_STR(f.name, "api.openai.com");
    n = hello(b, "eu.anthropic.com");
    CHECK_EQ_INT(judge(e, b, n).verdict, AL_EGRESS_NAME_OK);
    n = hello(b, "exfil.example");
    f = judge(e, b, n);
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_UNLISTED);
    CHECK_STR(f.name, "exfil.example");
    CHECK_EQ_INT(f.cut, 0);
    CHECK_STR(al_egress_first_reason(&f), "unlisted");
    n = hello(b, "anthropic.com"); /* the wildcard's own domain is not below it */
    CHECK_EQ_INT(judge(e, b, n).verdict, AL_EGRESS_NAME_UNLISTED);
    al_egress_free(e);
}

TEST(tls_without_a_server_name_or_naming_an_address_is_missing_not_unlisted)
{
    char err[200];
    al_egress *e = al_egress_parse("api.openai.com 192.0.2.7", err, sizeof err);
    REQUIRE(e != NULL);
    unsigned char b[700];
    size_t n = hello(b, NULL);
    al_egress_first f = judge(e, b, n);
    CHECK_EQ_INT(f.proto, AL_EGRESS_PROTO_TLS);
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_MISSING);
    CHECK_EQ_INT(f.cut, 0);
    CHECK_STR(f.name, "");
    CHECK_STR(al_egress_first_reason(&f), "no_name");
    n = hello(b, "198.51.100.4"); /* some clients send an address as SNI */
    f = judge(e, b, n);
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_MISSING);
    CHECK_STR(f.name, "198.51.100.4");
    CHECK_STR(al_egress_first_reason(&f), "address");
    f = judge(e, b, 40); /* split before the extensions */
    CHECK_STR(al_egress_first_reason(&f), "split");
    n = hello(b, "192.0.2.7"); /* a listed address is fine */
    CHECK_EQ_INT(judge(e, b, n).verdict, AL_EGRESS_NAME_OK);
    al_egress_free(e);
}

TEST(a_client_hello_cut_at_any_offset_never_passes_a_name_the_whole_one_refuses)
{
    char err[200];
    al_egress *e = al_egress_parse("api.openai.com", err, sizeof err);
    REQUIRE(e != NULL);
    unsigned char b[700];
    size_t n = hello(b, "exfil.example");
    for (size_t k = 1; k < n; k++) {
        al_egress_first f = judge(e, b, k);
        CHECK_EQ_INT(f.proto, AL_EGRESS_PROTO_TLS);
        CHECK(f.verdict == AL_EGRESS_NAME_UNLISTED ||
              (f.verdict == AL_EGRESS_NAME_MISSING && f.cut));
    }
    n = hello(b, "api.openai.com");
    for (size_t k = 1; k < n; k++) {
        al_egress_first f = judge(e, b, k);
        CHECK(f.verdict == AL_EGRESS_NAME_OK || (f.verdict == AL_EGRESS_NAME_MISSING && f.cut));
    }
    /* the name is read as soon as it is whole, even before the record ends */
    CHECK_EQ_INT(judge(e, b, n - 20).verdict, AL_EGRESS_NAME_OK);
    al_egress_free(e);
}

TEST(http_host_on_the_list_passes_with_any_port_and_case)
{
    char err[200];
    al_egress *e = al_egress_parse("ollama.internal,[fd00::1]", err, sizeof err);
    REQUIRE(e != NULL);
    al_egress_first f = judge_str(e, "POST /api/chat HTTP/1.1\r\nContent-Type: application/json\r\n"
                                     "host:  Ollama.Internal:11434 \r\n\r\n{}");
    CHECK_EQ_INT(f.proto, AL_EGRESS_PROTO_HTTP);
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_OK);
    CHECK_STR(f.name, "ollama.internal");
    CHECK_EQ_INT(judge_str(e, "GET / HTTP/1.0\nHost: ollama.internal\n\n").verdict,
                 AL_EGRESS_NAME_OK);
    CHECK_EQ_INT(judge_str(e, "GET / HTTP/1.1\r\nHost: [fd00::1]:8080\r\n\r\n").verdict,
                 AL_EGRESS_NAME_OK);
    al_egress_free(e);
}

TEST(http_host_not_on_the_list_is_unlisted_even_beside_a_listed_one)
{
    char err[200];
    al_egress *e = al_egress_parse("ollama.internal", err, sizeof err);
    REQUIRE(e != NULL);
    al_egress_first f = judge_str(e, "POST /v1/chat HTTP/1.1\r\nHost: exfil.example\r\n\r\n");
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_UNLISTED);
    CHECK_STR(f.name, "exfil.example");
    f = judge_str(e, "GET / HTTP/1.1\r\nHost: ollama.internal\r\nHost: exfil.example\r\n\r\n");
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_UNLISTED);
    CHECK_STR(f.name, "exfil.example");
    /* a target in absolute form names the host the server answers for */
    f = judge_str(e,
                  "GET http://user@exfil.example:80/x HTTP/1.1\r\nHost: ollama.internal\r\n\r\n");
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_UNLISTED);
    CHECK_STR(f.name, "exfil.example");
    f = judge_str(e, "CONNECT exfil.example:443 HTTP/1.1\r\nHost: ollama.internal\r\n\r\n");
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_UNLISTED);
    f = judge_str(e, "GET / HTTP/1.1\r\nHost: exfil example\r\n\r\n"); /* not a host name */
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_UNLISTED);
    CHECK_STR(f.name, "");
    al_egress_free(e);
}

TEST(http_without_a_host_or_with_an_address_or_cut_before_it_is_missing)
{
    char err[200];
    al_egress *e = al_egress_parse("ollama.internal", err, sizeof err);
    REQUIRE(e != NULL);
    al_egress_first f = judge_str(e, "GET / HTTP/1.0\r\nAccept: */*\r\n\r\n");
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_MISSING);
    CHECK_EQ_INT(f.cut, 0);
    f = judge_str(e, "GET / HTTP/1.1\r\nHost: \r\n\r\n"); /* empty: names nothing */
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_MISSING);
    CHECK_STR(al_egress_first_reason(&f), "no_name");
    f = judge_str(e, "GET / HTTP/1.1\r\nHost: 10.9.8.7:11434\r\n\r\n");
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_MISSING);
    CHECK_STR(f.name, "10.9.8.7");
    f = judge_str(e, "GET / HTTP/1.1\r\nAccept: */*\r\n");
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_MISSING);
    CHECK_EQ_INT(f.cut, 1);
    f = judge_str(e, "POST /api/generate HTT");
    CHECK_EQ_INT(f.proto, AL_EGRESS_PROTO_HTTP);
    CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_MISSING);
    CHECK_EQ_INT(f.cut, 1);
    const char *req = "POST /v1 HTTP/1.1\r\nUser-Agent: x\r\nHost: exfil.example\r\n\r\n";
    for (size_t k = 1; k < strlen(req); k++) {
        f = judge(e, req, k);
        CHECK(f.verdict == AL_EGRESS_NAME_UNLISTED ||
              (f.verdict == AL_EGRESS_NAME_MISSING && f.cut));
    }
    al_egress_free(e);
}

TEST(other_protocols_carry_no_name_and_pass)
{
    char err[200];
    al_egress *e = al_egress_parse("db.internal", err, sizeof err);
    REQUIRE(e != NULL);
    const char *other[] = {"SSH-2.0-OpenSSH_9.6\r\n",
                           "PING\r\n",
                           "SET key value\r\n",
                           "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                           "\x00\x00\x00\x08\x04\xd2\x16\x2f",
                           "get key\r\n"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        size_t n = i == 4 ? 8 : strlen(other[i]);
        al_egress_first f = judge(e, other[i], n);
        CHECK_EQ_INT(f.proto, AL_EGRESS_PROTO_OTHER);
        CHECK_EQ_INT(f.verdict, AL_EGRESS_NAME_OK);
    }
    al_egress_free(e);
}

TEST(the_audit_line_of_a_first_write_refusal_names_the_check_and_the_allowed_name)
{
    struct sockaddr_in a = v4("203.0.113.10");
    al_buf b = {0};
    REQUIRE(al_egress_audit_format(SA(a), "exfil.example", "refused", "enforce", "tls_sni",
                                   "unlisted", "api.openai.com", &b) == AL_OK);
    CHECK(strstr(b.data, "\"host\":\"exfil.example\",\"addr\":\"203.0.113.10\",\"port\":443,"
                         "\"verdict\":\"refused\",\"mode\":\"enforce\",\"check\":\"tls_sni\","
                         "\"reason\":\"unlisted\",\"allowed_as\":\"api.openai.com\"}\n") != NULL);
    al_buf_free(&b);
    REQUIRE(al_egress_audit_format(SA(a), NULL, "refused", "enforce", NULL, NULL, NULL, &b) ==
            AL_OK);
    CHECK(strstr(b.data, "\"host\":null") != NULL);
    CHECK(strstr(b.data, "check") == NULL);
    al_buf_free(&b);
}

/* test_egress.c: the egress allowlist: parsing, names, wildcards,
 * addresses and CIDR blocks, and judging a connect by resolved names. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "../../shim/egress.h"
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

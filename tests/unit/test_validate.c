/* Unit tests for validate.c: every validator with values it must accept and
 * values it must reject.  Values are written for these tests (well-known test
 * card numbers, documentation IP ranges, the IBAN registry's examples). */
#include <stdint.h>

#include "validate.h"
#include "testing.h"

static int ok(const char *name, const char *s)
{
    al_validator_fn f = al_validator_find(name);
    if (!f) return -1;
    return f(s, strlen(s));
}

#define ACCEPTS(name, s) CHECK_EQ_INT(ok(name, s), 1)
#define REJECTS(name, s) CHECK_EQ_INT(ok(name, s), 0)

TEST(find_should_return_null_for_unknown_names)
{
    CHECK(al_validator_find("no_such_validator") == NULL);
    CHECK(al_validator_find(NULL) == NULL);
    CHECK(al_validator_find("luhn") != NULL);
}

TEST(luhn_should_accept_test_cards_of_each_scheme)
{
    ACCEPTS("luhn", "4111111111111111");
    ACCEPTS("luhn", "4111 1111 1111 1111");
    ACCEPTS("luhn", "4111-1111-1111-1111");
    ACCEPTS("luhn", "5500 0000 0000 0004"); /* Mastercard */
    ACCEPTS("luhn", "2223000048400011");    /* Mastercard 2-series */
    ACCEPTS("luhn", "378282246310005");     /* Amex */
    ACCEPTS("luhn", "3782 822463 10005");   /* Amex grouping */
    ACCEPTS("luhn", "6011111111111117");    /* Discover */
    ACCEPTS("luhn", "3530111333300000");    /* JCB */
    ACCEPTS("luhn", "30569309025904");      /* Diners */
    ACCEPTS("luhn", "4222222222222");       /* 13-digit Visa */
}

TEST(luhn_should_reject_bad_checksums_prefixes_and_layouts)
{
    REJECTS("luhn", "4111111111111112"); /* checksum */
    REJECTS("luhn", "9111111111111111"); /* no scheme starts with 9 */
    REJECTS("luhn", "1234567890123");    /* 13 digits starting 1: a ms timestamp */
    REJECTS("luhn", "0000000000000000");
    REJECTS("luhn", "4111 1111-1111 1111");     /* mixed separators */
    REJECTS("luhn", "41 11 11 11 11 11 11 11"); /* two-digit groups are not a card layout */
    REJECTS("luhn", "37828224631000");          /* Amex must be 15 digits */
    REJECTS("luhn", "411111111111");            /* too short */
    REJECTS("luhn", "4111a111111111111");
}

TEST(us_ssn_should_accept_well_formed_numbers)
{
    ACCEPTS("us_ssn", "536-22-1234");
    ACCEPTS("us_ssn", "536 22 1234");
    ACCEPTS("us_ssn", "536.22.1234");
    ACCEPTS("us_ssn", "536221234");
    ACCEPTS("us_ssn", "772-31-0042");
}

TEST(us_ssn_should_reject_never_issued_and_sample_numbers)
{
    REJECTS("us_ssn", "000-12-3456"); /* area 000 */
    REJECTS("us_ssn", "666-12-3456"); /* area 666 */
    REJECTS("us_ssn", "912-12-3456"); /* area 9xx */
    REJECTS("us_ssn", "536-00-1234"); /* group 00 */
    REJECTS("us_ssn", "536-22-0000"); /* serial 0000 */
    REJECTS("us_ssn", "078-05-1120"); /* the wallet-insert sample */
    REJECTS("us_ssn", "219-09-9999"); /* the pamphlet sample */
    REJECTS("us_ssn", "123-45-6789");
    REJECTS("us_ssn", "555-55-5555"); /* all one digit */
    REJECTS("us_ssn", "536-22 1234"); /* mixed delimiters */
    REJECTS("us_ssn", "536-221234");
    REJECTS("us_ssn", "536-22-12345");
    REJECTS("us_ssn", "53622123");
}

TEST(iban_should_accept_registry_examples_with_and_without_spaces)
{
    ACCEPTS("iban", "GB82WEST12345698765432");
    ACCEPTS("iban", "GB82 WEST 1234 5698 7654 32");
    ACCEPTS("iban", "DE89 3704 0044 0532 0130 00");
    ACCEPTS("iban", "NO9386011117947");
    ACCEPTS("iban", "FR1420041010050500013M02606");
    ACCEPTS("iban", "GB82-WEST-1234-5698-7654-32");
}

TEST(iban_should_reject_bad_check_digits_lengths_and_countries)
{
    REJECTS("iban", "GB83 WEST 1234 5698 7654 32"); /* check digits */
    REJECTS("iban", "GB82 WEST 1234 5698 7654 3");  /* GB is 22 long */
    REJECTS("iban", "ZZ82 WEST 1234 5698 7654 32"); /* no such country */
    REJECTS("iban", "GB82 west 1234 5698 7654 32"); /* lower case */
    REJECTS("iban", "GB82 WEST 1234-5698 7654 32"); /* mixed separators */
    REJECTS("iban", "GB82  WEST 1234 5698 7654 32");
    REJECTS("iban", "GB82");
}

TEST(iban_should_accept_all_lower_case_but_not_mixed_case)
{
    ACCEPTS("iban", "gb82west12345698765432");
    REJECTS("iban", "GB82 WeST 1234 5698 7654 32");
}

TEST(ipv4_should_parse_dotted_quads_and_prefixes)
{
    ACCEPTS("ipv4", "10.20.30.40");
    ACCEPTS("ipv4", "255.255.255.255");
    ACCEPTS("ipv4", "0.0.0.0");
    ACCEPTS("ipv4", "192.0.2.0/24");
    REJECTS("ipv4", "256.1.1.1");
    REJECTS("ipv4", "1.2.3");
    REJECTS("ipv4", "10.01.1.1"); /* leading zero */
    REJECTS("ipv4", "10.0.0.0/33");
    REJECTS("ipv4", "1.2.3.4.5");
}

TEST(ipv4_public_should_skip_private_and_reserved_space)
{
    ACCEPTS("ipv4_public", "8.8.4.4");
    ACCEPTS("ipv4_public", "151.101.1.69");
    REJECTS("ipv4_public", "10.1.2.3");
    REJECTS("ipv4_public", "172.20.0.1");
    REJECTS("ipv4_public", "192.168.1.1");
    REJECTS("ipv4_public", "127.0.0.1");
    REJECTS("ipv4_public", "169.254.1.1");
    REJECTS("ipv4_public", "203.0.113.7"); /* documentation range */
}

TEST(ipv6_should_parse_full_compressed_zoned_and_embedded_forms)
{
    ACCEPTS("ipv6", "2001:0db8:0000:0000:0000:ff00:0042:8329");
    ACCEPTS("ipv6", "2001:db8::ff00:42:8329");
    ACCEPTS("ipv6", "::1");
    ACCEPTS("ipv6", "fe80::1%eth0");
    ACCEPTS("ipv6", "::ffff:198.51.100.7");
    ACCEPTS("ipv6", "64:ff9b::203.0.113.9");
    ACCEPTS("ipv6", "2001:db8::/48");
    ACCEPTS("ipv6", "2001:db8::");
}

TEST(ipv6_should_reject_lookalikes)
{
    REJECTS("ipv6", "::");           /* unspecified address alone */
    REJECTS("ipv6", "12:30:45");     /* a time */
    REJECTS("ipv6", "1:2:3:4");      /* a ratio */
    REJECTS("ipv6", "2001::db8::1"); /* two "::" */
    REJECTS("ipv6", "12345::1");     /* group too long */
    REJECTS("ipv6", "a:b:c:d:e:f:1:2:3");
    REJECTS("ipv6", "::ffff:300.1.1.1");
    REJECTS("ipv6", "de:ad:be:ef:00:01"); /* a MAC address */
    REJECTS("ipv6", "2001:db8::/129");
    REJECTS("ipv6", "fe80::1:");
}

TEST(ip_should_accept_either_family_and_nothing_else)
{
    ACCEPTS("ip", "10.20.30.40");
    ACCEPTS("ip", "2001:db8::1");
    REJECTS("ip", "10.20.30");
    REJECTS("ip", "hello");
}

TEST(phone_should_accept_nanp_and_international_numbers)
{
    ACCEPTS("phone", "+1 415-555-0132");
    ACCEPTS("phone", "(212) 555-0199");
    ACCEPTS("phone", "650.253.0000");
    ACCEPTS("phone", "1-800-275-2273");
    ACCEPTS("phone", "+44 20 7946 0958");
    ACCEPTS("phone", "+33 1 70 36 39 00");
    ACCEPTS("phone", "+49 89 1234567");
    ACCEPTS("phone", "+91 98765 43210");
    ACCEPTS("phone", "0044 20 7946 0958");
    ACCEPTS("phone", "020 7946 0958"); /* national, trunk prefix 0 */
    ACCEPTS("phone", "13912345678");   /* Chinese mobile */
    ACCEPTS("phone", "(212) 555-0199 x42");
    ACCEPTS("phone", "+44 (0)20 7946 0958"); /* trunk 0 in brackets */
    REJECTS("phone", "+44 (0)20 7946 09");
}

TEST(phone_should_accept_phone_shaped_numbers_outside_the_numbering_plan)
{
    /* "+1", a "(NPA)" or an extension says phone even when the digits
     * are made up (test data, placeholders) */
    ACCEPTS("phone", "+1-177-892-0730");
    ACCEPTS("phone", "(123) 555-0199");
    ACCEPTS("phone", "(895)164-4839x7918");
    ACCEPTS("phone", "151.081.7740x2347");
    REJECTS("phone", "+1-177-892-073"); /* still ten digits after +1 */
    REJECTS("phone", "(123) 555-01");
    REJECTS("phone", "(222) 222-2222");  /* one digit repeated */
    REJECTS("phone", "+1 000 000 0000"); /* a placeholder: one digit after +1 */
    REJECTS("phone", "+1 (555) 555-5555");
}

TEST(numbers_with_unicode_separators_are_judged_as_their_ascii_form)
{
    /* non-breaking hyphen U+2011, no-break space U+00A0, narrow no-break
     * space U+202F, en dash U+2013: as models print numbers */
    ACCEPTS("phone", "212\xe2\x80\x91"
                     "555\xe2\x80\x91"
                     "0147");
    ACCEPTS("phone", "+44\xc2\xa0"
                     "20\xc2\xa0"
                     "7946\xc2\xa0"
                     "0958");
    ACCEPTS("luhn", "5555\xe2\x80\xaf"
                    "5555\xe2\x80\xaf"
                    "5555\xe2\x80\xaf"
                    "4444");
    ACCEPTS("us_ssn", "412\xe2\x80\x93"
                      "67\xe2\x80\x93"
                      "8901");
    REJECTS("us_ssn", "078\xe2\x80\x91"
                      "05\xe2\x80\x91"
                      "1120"); /* still the sample number */
    REJECTS("phone", "212\xe2\x80\x91"
                     "155\xe2\x80\x91"
                     "0147"); /* still NANP rules */
    REJECTS("luhn", "5555\xc2\xa0"
                    "5555\xc2\xa0"
                    "5555\xc2\xa0"
                    "4445");
}

TEST(numbers_in_full_width_digits_are_judged_as_their_ascii_form)
{
    /* full-width digits U+FF10-FF19, full-width hyphen U+FF0D, ideographic
     * space U+3000 and the katakana long sound mark U+30FC (typed for a
     * dash): as CJK input methods write numbers */
    ACCEPTS("luhn", "\uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 "
                    "\uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11");
    ACCEPTS("luhn", "\uff15\uff15\uff15\uff15\u3000\uff15\uff15\uff15\uff15\u3000"
                    "\uff15\uff15\uff15\uff15\u3000\uff14\uff14\uff14\uff14");
    REJECTS("luhn", "\uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 "
                    "\uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff12"); /* checksum */
    ACCEPTS("us_ssn", "\uff15\uff13\uff16\uff0d\uff12\uff12\uff0d\uff11\uff12\uff13\uff14");
    REJECTS("us_ssn", "\uff10\uff17\uff18\uff0d\uff10\uff15\uff0d\uff11\uff11\uff12\uff10");
    ACCEPTS("phone", "\uff10\uff19\uff10\uff0d\uff18\uff17\uff16\uff15\uff0d"
                     "\uff14\uff13\uff12\uff11");
    ACCEPTS("phone", "090\u30fc8765\u30fc4321");
    ACCEPTS("phone", "\uff0b\uff18\uff11 \uff19\uff10 \uff18\uff17\uff16\uff15 "
                     "\uff14\uff13\uff12\uff11");
    ACCEPTS("phone_loose", "\uff10\uff13\uff0d\uff19\uff18\uff17\uff16\uff0d"
                           "\uff15\uff14\uff13\uff12");
    REJECTS("phone_loose", "\uff12\uff10\uff12\uff14\uff0d\uff10\uff13\uff0d"
                           "\uff11\uff15"); /* a date */
    REJECTS("phone", "\uff11\uff12\uff13"); /* too short */
    /* a full-width letter is no digit */
    REJECTS("luhn", "\uff21\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 "
                    "\uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11");
}

TEST(national_numbers_of_japan_korea_china_and_taiwan_are_phones)
{
    ACCEPTS("phone", "090-8765-4321"); /* JP mobile */
    ACCEPTS("phone", "03-9876-5432");  /* JP Tokyo */
    ACCEPTS("phone", "010-9876-5432"); /* KR mobile */
    ACCEPTS("phone", "02-987-6543");   /* KR Seoul */
    ACCEPTS("phone", "139-8765-4321"); /* CN mobile */
    ACCEPTS("phone", "0933-456-789");  /* TW mobile */
    REJECTS("phone", "1234-5678-9012");
}

TEST(phone_should_reject_invalid_codes_and_lengths)
{
    REJECTS("phone", "123-555-0199");   /* area code cannot start with 1 */
    REJECTS("phone", "212.155.0199");   /* exchange cannot start with 1 */
    REJECTS("phone", "411 555 0199");   /* N11 service code */
    REJECTS("phone", "+1 415 555 013"); /* short */
    REJECTS("phone", "+44 20 79");
    REJECTS("phone", "+33 1 70 36 39 00 11 22");
    REJECTS("phone", "555-5555");
    REJECTS("phone", "2222222222");
    REJECTS("phone", "1234567");
    REJECTS("phone", "+1 415 555 0132a");
}

TEST(phone_local_should_accept_grouped_local_numbers)
{
    ACCEPTS("phone_local", "785 8949");
    ACCEPTS("phone_local", "(96) 627-277");
    ACCEPTS("phone_local", "21 212 133 2727");
}

TEST(phone_local_should_reject_dates_short_groups_and_runs)
{
    REJECTS("phone_local", "2023-10-15");    /* ISO date */
    REJECTS("phone_local", "2023-10-15 08"); /* date and hour */
    REJECTS("phone_local", "536-22-1234");   /* the SSN layout */
    REJECTS("phone_local", "536 22 1234");
    REJECTS("phone_local", "1 2 3 4 5 6 7"); /* single digits */
    REJECTS("phone_local", "12 34");         /* too few digits */
    REJECTS("phone_local", "555 5555");      /* one digit repeated */
    REJECTS("phone_local", "12-345 678");    /* mixed separators */
}

TEST(phone_local_should_reject_the_four_four_four_layout_of_reference_numbers)
{
    REJECTS("phone_local", "7734-2291-0043"); /* an order or ticket number */
    REJECTS("phone_local", "4829 1102 7734");
    ACCEPTS("phone_local", "0123-4567-8901"); /* a trunk 0 still says phone */
    ACCEPTS("phone_local", "773-4229-1004");
}

TEST(phone_loose_should_need_a_real_number_when_digits_are_bare)
{
    ACCEPTS("phone_loose", "2125550199");
    ACCEPTS("phone_loose", "785 8949");
    REJECTS("phone_loose", "1234567890"); /* NANP area code cannot start with 1 */
    REJECTS("phone_loose", "7858949");    /* bare 7 digits: a count, not a phone */
}

TEST(entropy_should_accept_credential_like_values)
{
    ACCEPTS("entropy", "Tr0ub4dor&3");
    ACCEPTS("entropy", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY");
    ACCEPTS("entropy", "9f8e7d6c5b4a3f2e1d0c");
    ACCEPTS("entropy", "\"s3cr3t-Passw0rd\"");
}

TEST(entropy_should_reject_placeholders_and_code_references)
{
    REJECTS("entropy", "changeme");
    REJECTS("entropy", "xxxxxxxxxx");
    REJECTS("entropy", "<your-key>");
    REJECTS("entropy", "${DB_PASSWORD}");
    REJECTS("entropy", "{{ secret }}");
    REJECTS("entropy", "%s");
    REJECTS("entropy", "your_api_key_here");
    REJECTS("entropy", "config.password");
    REJECTS("entropy", "os.environ");
    REJECTS("entropy", "password.encode("); /* a call */
    REJECTS("entropy", "tokens[i]");        /* an index */
    REJECTS("entropy", "DB_PASSWORD_ENV");  /* one character class: a name */
    REJECTS("entropy", "correcthorse");     /* lower-case word */
    REJECTS("entropy", "_DSAPrivateKey");   /* a type name */
    REJECTS("entropy", "#976806");          /* a colour */
    REJECTS("entropy", "12345678");         /* digits alone: counts, ids */
    REJECTS("entropy", "ab1");              /* too short */
    REJECTS("entropy", "aaaaaa1111");       /* low entropy */
}

TEST(secret_literal_should_accept_plain_passwords_but_not_names_or_placeholders)
{
    ACCEPTS("secret_literal", "letmein");
    ACCEPTS("secret_literal", "hunter2");
    ACCEPTS("secret_literal", "s3cr3t!");
    REJECTS("secret_literal", "changeme");
    REJECTS("secret_literal", "<password>");
    REJECTS("secret_literal", "string");         /* an API schema's type */
    REJECTS("secret_literal", "DB_PASSWORD");    /* a constant's name */
    REJECTS("secret_literal", "_DSAPrivateKey"); /* a type name */
    REJECTS("secret_literal", "8080");           /* a number */
    REJECTS("secret_literal", "abc");            /* too short */
    REJECTS("secret_literal", "two words");
}

/* {"alg":"HS256","typ":"JWT"} . {"sub":"42","name":"Ada"} . signature */
#define JWT_H "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
#define JWT_P "eyJzdWIiOiI0MiIsIm5hbWUiOiJBZGEifQ"

TEST(jwt_should_accept_tokens_whose_parts_decode_to_json)
{
    ACCEPTS("jwt", JWT_H "." JWT_P ".dGhpcy1pcy1hLXNpZ25hdHVyZQ");
    ACCEPTS("jwt", JWT_H "." JWT_P);     /* unsecured: no signature */
    ACCEPTS("jwt", JWT_H "." JWT_P "."); /* empty signature */
}

TEST(jwt_should_reject_non_json_parts_and_missing_alg)
{
    REJECTS("jwt", JWT_H);                                        /* header alone */
    REJECTS("jwt", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ." JWT_P); /* header cut short */
    REJECTS("jwt", "aGVsbG8gd29ybGQ." JWT_P);                     /* header is not JSON */
    REJECTS("jwt", "eyJ0eXAiOiJKV1QifQ." JWT_P);                  /* {"typ":"JWT"}: no alg */
    REJECTS("jwt", JWT_H "." JWT_P ".sig!nature");
    REJECTS("jwt", JWT_H ".x.y.z");
}

TEST(validators_should_not_read_past_len)
{
    /* Each call sees a prefix of a longer valid value: the bytes after len
     * must not change the answer. */
    const char *card = "4111111111111111";
    CHECK_EQ_INT(al_validator_find("luhn")(card, 15), 0);
    const char *ip = "10.20.30.40";
    CHECK_EQ_INT(al_validator_find("ipv4")(ip, 8), 0); /* "10.20.30" */
    const char *ssn = "536-22-1234";
    CHECK_EQ_INT(al_validator_find("us_ssn")(ssn, 10), 0);
    static const char *names[] = {"luhn", "us_ssn", "iban",  "ipv4",    "ipv4_public",
                                  "ipv6", "ip",     "phone", "entropy", "jwt"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        al_validator_fn f = al_validator_find(names[i]);
        REQUIRE(f != NULL);
        CHECK_EQ_INT(f("", 0), 0);
        CHECK_EQ_INT(f("\xff\xfe\x00", 3), 0);
    }
}

TEST(validators_survive_random_input_under_sanitizers)
{
    /* Deterministic pseudo-random strings over the bytes validators care
     * about; ASan/UBSan turn any out-of-bounds read or overflow into a
     * failure.  Every answer must be 0 or 1. */
    static const char alphabet[] = "0123456789abcdefABCDEFxX:.-/ %+()[]{}$<>@=_\"'\xff\x80";
    static const char *names[] = {
        "luhn",  "us_ssn",      "iban",        "ipv4",    "ipv4_public",    "ipv6", "ip",
        "phone", "phone_local", "phone_loose", "entropy", "secret_literal", "jwt"};
    uint32_t x = 2463534242u;
    char buf[600];
    for (int n = 0; n < 20000; n++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        size_t len = x % (n % 100 == 0 ? sizeof buf : 48);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            buf[i] = alphabet[x % (sizeof alphabet - 1)];
        }
        for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
            int r = al_validator_find(names[k])(buf, len);
            if (r != 0 && r != 1) {
                CHECK(r == 0 || r == 1);
                return;
            }
        }
    }
}

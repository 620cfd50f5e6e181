/* validate.c: validators a rule names with "validator" (checksums, registry
 * tables, real parsers), so a pattern may be loose and the finding precise.
 * Pure and allocation-free: every function reads (s, len) and nothing else;
 * none may read past len or keep state. */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "validate.h"

/* ---------- helpers ---------- */

static int is_sep(char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '/' || c == '\t';
}

/* Copies the decimal digits of s into d (at most cap), returns their count
 * or cap + 1 when there are more.  *bad is set when a byte other than a digit
 * or a separator appears. */
static size_t digits_of(const char *s, size_t len, char *d, size_t cap, int *bad)
{
    size_t n = 0;
    *bad = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (n >= cap) return cap + 1;
            d[n++] = c;
        } else if (!is_sep(c)) {
            *bad = 1;
        }
    }
    return n;
}

static int all_same(const char *d, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (d[i] != d[0]) return 0;
    return n > 0;
}

/* ---------- credit cards ---------- */

static int luhn_ok(const char *d, size_t n)
{
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';
        if (i & 1) {
            v *= 2;
            if (v > 9) v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

static int prefix_num(const char *d, size_t k)
{
    int v = 0;
    for (size_t i = 0; i < k; i++) v = v * 10 + (d[i] - '0');
    return v;
}

/* Issuer identification: the card schemes' published IIN ranges and lengths. */
static int iin_ok(const char *d, size_t n)
{
    int p1 = d[0] - '0', p2 = prefix_num(d, 2), p3 = prefix_num(d, 3), p4 = prefix_num(d, 4);
    switch (p1) {
    case 1:
        return n == 15; /* UATP; a 13-digit 1... is an epoch-millisecond timestamp */
    case 2:
        return p4 >= 2221 && p4 <= 2720 && n == 16; /* Mastercard 2-series */
    case 3:
        if (p2 == 34 || p2 == 37) return n == 15;                /* Amex */
        if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19; /* JCB */
        if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39 || p3 == 309)
            return n >= 14 && n <= 19; /* Diners */
        return 0;
    case 4:
        return n == 13 || n == 16 || n == 19; /* Visa */
    case 5:
        if (p2 >= 51 && p2 <= 55) return n == 16; /* Mastercard */
        return n >= 12 && n <= 19;                /* Maestro 50, 56-59 */
    case 6:
        return n >= 14 && n <= 19; /* Discover, UnionPay, Maestro */
    default:
        return 0;
    }
}

/* Groups must be at least 3 digits and use a single kind of separator. */
static int groups_ok(const char *s, size_t len, size_t min_group)
{
    char sep = 0;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            run++;
            continue;
        }
        if (sep && c != sep) return 0;
        sep = c;
        if (run < min_group) return 0;
        run = 0;
    }
    return run >= 1;
}

/* Numbers as models print them: a non-breaking or figure space, or a
 * non-breaking hyphen, dash or minus sign between the digit groups
 * ("212\u2011555\u20110147"), and numbers as CJK input methods type them:
 * full-width digits U+FF10-FF19, full-width + - . ( ), the ideographic space
 * U+3000 and the katakana long sound mark U+30FC typed for a dash
 * ("\uff10\uff19\uff10\u30fc...").  When s holds such a character, *s and
 * *len are pointed at a copy in buf (cap bytes) with each folded to its
 * ASCII form, so the rules below see the usual layout. */
static void fold_seps(const char **s, size_t *len, char *buf, size_t cap)
{
    const unsigned char *p = (const unsigned char *)*s;
    size_t n = *len, i = 0, o = 0;
    while (i < n && p[i] < 0x80) i++;
    if (i == n || n >= cap) return;
    for (i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c == 0xC2 && i + 1 < n && p[i + 1] == 0xA0) { /* U+00A0 */
            buf[o++] = ' ';
            i += 1;
        } else if (c == 0xE2 && i + 2 < n && p[i + 1] == 0x80 &&
                   (p[i + 2] == 0xAF || p[i + 2] == 0x87)) { /* U+202F, U+2007 */
            buf[o++] = ' ';
            i += 2;
        } else if (c == 0xE2 && i + 2 < n &&
                   ((p[i + 1] == 0x80 && p[i + 2] >= 0x90 && p[i + 2] <= 0x93) ||
                    (p[i + 1] == 0x88 && p[i + 2] == 0x92))) { /* U+2010-2013, U+2212 */
            buf[o++] = '-';
            i += 2;
        } else if (c == 0xEF && i + 2 < n && p[i + 1] == 0xBC &&
                   ((p[i + 2] >= 0x90 && p[i + 2] <= 0x99) || p[i + 2] == 0x8B ||
                    p[i + 2] == 0x8D || p[i + 2] == 0x8E || p[i + 2] == 0x88 ||
                    p[i + 2] == 0x89)) {        /* U+FF10-FF19, U+FF0B + - . U+FF08 ( ) */
            buf[o++] = (char)(p[i + 2] - 0x60); /* U+FF01-FF5E are ASCII + 0xFEE0 */
            i += 2;
        } else if (c == 0xE3 && i + 2 < n &&
                   ((p[i + 1] == 0x80 && p[i + 2] == 0x80) ||
                    (p[i + 1] == 0x83 && p[i + 2] == 0xBC))) { /* U+3000, U+30FC */
            buf[o++] = p[i + 1] == 0x80 ? ' ' : '-';
            i += 2;
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o] = '\0';
    *s = buf;
    *len = o;
}

static int v_luhn(const char *s, size_t len)
{
    char fb[96];
    fold_seps(&s, &len, fb, sizeof fb);
    char d[24];
    int bad;
    size_t n = digits_of(s, len, d, 19, &bad);
    if (bad || n < 12 || n > 19) return 0;
    if (!groups_ok(s, len, 3)) return 0;
    if (all_same(d, n)) return 0;
    return iin_ok(d, n) && luhn_ok(d, n);
}

/* ---------- US social security numbers ---------- */

static int v_us_ssn(const char *s, size_t len)
{
    char fb[64];
    fold_seps(&s, &len, fb, sizeof fb);
    char d[12];
    int bad;
    size_t n = digits_of(s, len, d, 9, &bad);
    if (bad || n != 9) return 0;
    /* Separators: none, or the same one after digit 3 and digit 5. */
    if (len != 9) {
        if (len != 11 || s[3] != s[6] || !is_sep(s[3]) || s[3] == '/') return 0;
    }
    int area = prefix_num(d, 3), group = prefix_num(d + 3, 2), serial = prefix_num(d + 5, 4);
    if (area == 0 || area == 666 || area >= 900) return 0;
    if (group == 0 || serial == 0) return 0;
    if (all_same(d, 9)) return 0;
    /* Numbers published in advertising and pamphlets, and keyboard runs. */
    static const char *const samples[] = {"078051120", "219099999", "123456789",
                                          "987654321", "111223333", "012345678"};
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++)
        if (memcmp(d, samples[i], 9) == 0) return 0;
    return 1;
}

/* ---------- IBAN ---------- */

/* Country code and total IBAN length, from the ISO 13616 registry. */
static const struct {
    char cc[3];
    unsigned char len;
} iban_countries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
    {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
    {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27},
    {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27},
    {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20}, {"MR", 27},
    {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24}, {"PL", 28},
    {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24}, {"SC", 31},
    {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25}, {"SV", 28},
    {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
};

static int iban_len_for(const char *cc)
{
    for (size_t i = 0; i < sizeof iban_countries / sizeof *iban_countries; i++)
        if (iban_countries[i].cc[0] == cc[0] && iban_countries[i].cc[1] == cc[1])
            return iban_countries[i].len;
    return 0;
}

static int v_iban(const char *s, size_t len)
{
    char c[40];
    size_t n = 0;
    char sep = 0;
    int lower = 0, upper = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == ' ' || ch == '-') {
            if (sep && ch != sep) return 0;
            sep = ch;
            if (i + 1 < len && (s[i + 1] == ' ' || s[i + 1] == '-')) return 0;
            continue;
        }
        if (ch >= 'a' && ch <= 'z') {
            lower = 1;
            ch = (char)(ch - 32);
        } else if (ch >= 'A' && ch <= 'Z') {
            upper = 1;
        } else if (!(ch >= '0' && ch <= '9')) {
            return 0;
        }
        if (n >= 34) return 0;
        c[n++] = ch;
    }
    if (lower && upper) return 0; /* "GB82 WeST": not how an IBAN is written */
    if (n < 15) return 0;
    if (!(c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z')) return 0;
    if (!(c[2] >= '0' && c[2] <= '9' && c[3] >= '0' && c[3] <= '9')) return 0;
    int want = iban_len_for(c);
    if (want == 0 || (size_t)want != n) return 0;
    /* ISO 7064 mod 97-10 over BBAN + country + check digits, letters as 10..35. */
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        char ch = c[(k + 4) % n];
        if (ch >= '0' && ch <= '9')
            rem = (rem * 10 + (unsigned)(ch - '0')) % 97;
        else
            rem = (rem * 100 + (unsigned)(ch - 'A' + 10)) % 97;
    }
    return rem == 1;
}

/* ---------- IP addresses ---------- */

/* Parses a dotted quad at s; returns bytes consumed (0 on failure) and fills
 * o[4].  Octets 0-255, no leading zeros ("01" is ambiguous: octal to some). */
static size_t parse_v4(const char *s, size_t len, int o[4])
{
    size_t i = 0;
    for (int k = 0; k < 4; k++) {
        if (k) {
            if (i >= len || s[i] != '.') return 0;
            i++;
        }
        size_t st = i;
        int v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - st < 3) v = v * 10 + (s[i++] - '0');
        if (i == st || v > 255) return 0;
        if (i < len && s[i] >= '0' && s[i] <= '9') return 0;
        if (i - st > 1 && s[st] == '0') return 0;
        o[k] = v;
    }
    return i;
}

/* Optional "/N" prefix length (0..max) at s[i..len); returns 1 when the rest
 * is empty or a valid prefix. */
static int prefix_rest_ok(const char *s, size_t i, size_t len, int max)
{
    if (i == len) return 1;
    if (s[i] != '/' || i + 1 >= len || len - i - 1 > 3) return 0;
    int v = 0;
    for (size_t k = i + 1; k < len; k++) {
        if (s[k] < '0' || s[k] > '9') return 0;
        v = v * 10 + (s[k] - '0');
    }
    if (len - i - 1 > 1 && s[i + 1] == '0') return 0;
    return v <= max;
}

static int v_ipv4(const char *s, size_t len)
{
    int o[4];
    size_t n = parse_v4(s, len, o);
    return n && prefix_rest_ok(s, n, len, 32);
}

/* Public unicast IPv4: not private, loopback, link-local, CGNAT, multicast,
 * reserved or documentation space. */
static int v_ipv4_public(const char *s, size_t len)
{
    int o[4];
    size_t n = parse_v4(s, len, o);
    if (!n || n != len) return 0;
    if (o[0] == 0 || o[0] == 10 || o[0] == 127 || o[0] >= 224) return 0;
    if (o[0] == 169 && o[1] == 254) return 0;
    if (o[0] == 172 && o[1] >= 16 && o[1] <= 31) return 0;
    if (o[0] == 192 && o[1] == 168) return 0;
    if (o[0] == 100 && o[1] >= 64 && o[1] <= 127) return 0;
    if (o[0] == 192 && o[1] == 0 && (o[2] == 0 || o[2] == 2)) return 0;
    if (o[0] == 198 && (o[1] == 18 || o[1] == 19)) return 0;
    if (o[0] == 198 && o[1] == 51 && o[2] == 100) return 0;
    if (o[0] == 203 && o[1] == 0 && o[2] == 113) return 0;
    return 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* RFC 4291 text form: up to 8 groups of 1-4 hex digits, at most one "::",
 * optionally ending in a dotted quad (counts as 2 groups), then an optional
 * %zone and /prefix.  The unspecified address "::" alone is rejected: it
 * identifies nobody and looks like C++ scope syntax. */
static int v_ipv6(const char *s, size_t len)
{
    size_t i = 0;
    int groups = 0, dcolon = 0, nonzero = 0;
    if (len >= 2 && s[0] == ':' && s[1] == ':') {
        dcolon = 1;
        i = 2;
    } else if (len >= 1 && s[0] == ':') {
        return 0;
    }
    while (i < len && s[i] != '%' && s[i] != '/') {
        /* an embedded dotted quad ends the address */
        size_t j = i;
        while (j < len && s[j] >= '0' && s[j] <= '9') j++;
        if (j < len && s[j] == '.') {
            int o[4];
            size_t n = parse_v4(s + i, len - i, o);
            if (!n) return 0;
            i += n;
            groups += 2;
            nonzero = 1;
            break;
        }
        size_t st = i;
        int v = 0;
        while (i < len && hexval(s[i]) >= 0 && i - st < 4) v = v * 16 + hexval(s[i++]);
        if (i == st) return 0;
        if (i < len && hexval(s[i]) >= 0) return 0; /* more than 4 hex digits */
        if (v) nonzero = 1;
        groups++;
        if (i == len || s[i] == '%' || s[i] == '/') break;
        if (s[i] != ':') return 0;
        i++;
        if (i < len && s[i] == ':') {
            if (dcolon) return 0;
            dcolon = 1;
            i++;
            if (i == len || s[i] == '%' || s[i] == '/') break;
        } else if (i == len || s[i] == '%' || s[i] == '/') {
            return 0; /* trailing single colon */
        }
    }
    if (groups > 8 || (dcolon && groups > 7) || (!dcolon && groups != 8)) return 0;
    if (groups == 0) return 0; /* "::" alone */
    /* An address without a decimal digit is C++ scope syntax ("Base::Add")
     * far more often than a host. */
    int digit = 0;
    for (size_t k = 0; k < i; k++)
        if (s[k] >= '0' && s[k] <= '9') digit = 1;
    if (!digit) return 0;
    (void)nonzero;
    if (i < len && s[i] == '%') {
        size_t st = ++i;
        while (i < len &&
               (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            i++;
        if (i == st || i - st > 32) return 0;
    }
    return prefix_rest_ok(s, i, len, 128);
}

static int v_ip(const char *s, size_t len)
{
    return v_ipv4(s, len) || v_ipv6(s, len);
}

/* ---------- phone numbers ---------- */

/* ITU E.164 country codes with plausible national significant number
 * lengths.  Codes not listed use a generic 6..12 when they exist. */
static const struct {
    unsigned short cc;
    unsigned char min, max;
} cc_lengths[] = {
    {1, 10, 10},  {7, 10, 10}, {20, 9, 10},  {27, 9, 9},   {30, 10, 10}, {31, 9, 9},
    {32, 8, 9},   {33, 9, 9},  {34, 9, 9},   {36, 8, 9},   {39, 6, 11},  {40, 9, 9},
    {41, 9, 9},   {43, 7, 13}, {44, 9, 10},  {45, 8, 8},   {46, 7, 10},  {47, 8, 8},
    {48, 9, 9},   {49, 6, 13}, {51, 8, 9},   {52, 10, 10}, {53, 6, 8},   {54, 10, 11},
    {55, 10, 11}, {56, 9, 9},  {57, 10, 10}, {58, 10, 10}, {60, 8, 10},  {61, 9, 9},
    {62, 8, 12},  {63, 8, 10}, {64, 8, 10},  {65, 8, 8},   {66, 8, 9},   {81, 9, 10},
    {82, 8, 11},  {84, 9, 10}, {86, 10, 11}, {90, 10, 10}, {91, 10, 10}, {92, 9, 10},
    {93, 9, 9},   {94, 9, 9},  {95, 7, 10},  {98, 10, 10}, {212, 9, 9},  {234, 8, 10},
    {254, 9, 9},  {351, 9, 9}, {352, 6, 11}, {353, 7, 9},  {354, 7, 9},  {358, 6, 12},
    {380, 9, 9},  {420, 9, 9}, {852, 8, 8},  {886, 8, 9},  {966, 8, 9},  {971, 8, 9},
    {972, 8, 9},
};

/* Length of the country code at the start of d (E.164 codes are prefix-free),
 * or 0 when the leading digits are not an assigned zone. */
static size_t cc_len(const char *d, size_t n)
{
    if (n < 3) return 0;
    int a = d[0] - '0', b = d[1] - '0';
    switch (a) {
    case 1:
    case 7:
        return 1;
    case 2:
        return (b == 0 || b == 7) ? 2 : 3;
    case 3:
        return (b <= 4 || b == 6 || b == 9) ? 2 : 3;
    case 4:
        return b == 2 ? 3 : 2;
    case 5:
        return (b == 0 || b == 9) ? 3 : 2;
    case 6:
        return b <= 6 ? 2 : 3;
    case 8:
        return (b == 1 || b == 2 || b == 4 || b == 6) ? 2 : 3;
    case 9:
        return (b <= 5 || b == 8) ? 2 : 3;
    default:
        return 0;
    }
}

static int e164_ok(const char *d, size_t n)
{
    size_t k = cc_len(d, n);
    if (!k || n <= k) return 0;
    int cc = prefix_num(d, k);
    size_t nsn = n - k;
    for (size_t i = 0; i < sizeof cc_lengths / sizeof *cc_lengths; i++)
        if (cc_lengths[i].cc == cc) return nsn >= cc_lengths[i].min && nsn <= cc_lengths[i].max;
    return nsn >= 6 && nsn <= 12;
}

static int nanp_ok(const char *d)
{
    if (d[0] < '2' || d[3] < '2') return 0;
    if (d[1] == '1' && d[2] == '1') return 0; /* N11 service codes */
    if (d[4] == '1' && d[5] == '1') return 0;
    if (d[1] == '9') return 0; /* NPA x9x reserved for expansion */
    return 1;
}

/* Accepts (after dropping an "x123" / "ext. 123" extension):
 *   +CC ... or 00CC ... / 011 CC ...: E.164 with a plausible length per code;
 *   10 digits, or 11 starting with 1, or CC + 10 in NANP grouping: NANP rules
 *   (any ten digits after "+1", before an extension or after a "(NPA)");
 *   0 + 8..10 digits: a national number with a trunk prefix;
 *   11 digits 1[3-9]...: a Chinese mobile number. */
static int v_phone(const char *s, size_t len)
{
    char fb[96];
    fold_seps(&s, &len, fb, sizeof fb);
    size_t end = len;
    for (size_t i = 0; i < len; i++)
        if (s[i] == 'x' || s[i] == 'X' || s[i] == 'e' || s[i] == 'E') {
            end = i;
            break;
        }
    /* written the way only phone numbers are: an extension, or a
     * parenthesised three-digit area code first */
    int shaped = end < len || (len > 5 && s[0] == '(' && s[4] == ')');
    while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == ',')) end--;
    char d[20];
    size_t n = 0;
    int plus = 0;
    for (size_t i = 0; i < end; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (n >= 17) return 0;
            d[n++] = c;
        } else if (c == '+' && n == 0 && !plus) {
            plus = 1;
        } else if (plus && n > 0 && c == '(' && i + 2 < end && s[i + 1] == '0' && s[i + 2] == ')') {
            i += 2; /* "+44 (0)20 ...": the trunk 0 is not dialled from abroad */
        } else if (!(c == ' ' || c == '-' || c == '.' || c == '(' || c == ')')) {
            return 0;
        }
    }
    if (n < 7 || all_same(d, n)) return 0;
    if (plus) {
        /* "+1" and ten digits is a NANP number even where the digits break
         * the numbering plan's rules (made-up and test numbers are still
         * somebody's placeholder for a phone) */
        if (d[0] == '1') return n == 11 && !all_same(d + 1, 10);
        return e164_ok(d, n);
    }
    if (n >= 5 && d[0] == '0' && d[1] == '1' && d[2] == '1') return e164_ok(d + 3, n - 3);
    if (d[0] == '0' && d[1] == '0') return e164_ok(d + 2, n - 2);
    if (n == 10 && d[0] != '0') return nanp_ok(d) || shaped;
    if (n == 11 && d[0] == '1') return nanp_ok(d + 1) || d[1] >= '3'; /* or CN mobile */
    if (n >= 11 && n <= 13 && d[0] != '0') {
        /* a country code written without "+" before a 10-digit number */
        size_t k = cc_len(d, n);
        if (k && k == n - 10 && nanp_ok(d + k)) return 1;
    }
    if (d[0] == '0' && d[1] != '0' && n >= 9 && n <= 11) return 1;
    return 0;
}

/* A local number written in digit groups ("785 8949", "(96) 627-277"):
 * 7..12 digits in groups of at least 2, one kind of separator between groups
 * apart from a parenthesised area code, not all one digit.  Rules use it only
 * beside a phone word. */
static int v_phone_local(const char *s, size_t len)
{
    char fb[96];
    fold_seps(&s, &len, fb, sizeof fb);
    char d[16];
    size_t n = 0, run = 0;
    char sep = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (n >= 12) return 0;
            d[n++] = c;
            run++;
            continue;
        }
        if (c == '(' && i == 0) continue;
        if (c == ')') {
            if (s[0] != '(' || run < 2) return 0;
            run = 0;
            continue;
        }
        if (!(c == ' ' || c == '-' || c == '.')) return 0;
        if (run) {
            if (run < 2) return 0;
            if (sep && c != sep && i > 0 && s[i - 1] != ')') return 0;
            if (s[i - 1] != ')') sep = c;
        }
        run = 0;
    }
    if (run < 2 || n < 7 || all_same(d, n)) return 0;
    /* an ISO date, 2023-10-15 or 2023-10-15 08 */
    if (len >= 10 && s[4] == s[7] && (s[4] == '-' || s[4] == '.' || s[4] == '/')) {
        int y = prefix_num(d, 4), m = prefix_num(d + 4, 2);
        if (y >= 1900 && y <= 2099 && m >= 1 && m <= 12) return 0;
    }
    /* the SSN layout ddd-dd-dddd (or with spaces or dots) is not a phone layout */
    if (len == 11 && n == 9 && s[3] == s[6] && (s[3] == '-' || s[3] == ' ' || s[3] == '.'))
        return 0;
    /* dddd-dddd-dddd with no trunk 0 is an order, ticket or reference
     * number's layout, not a phone's */
    if (len == 14 && n == 12 && d[0] != '0' && s[4] == s[9] && (s[4] == '-' || s[4] == ' '))
        return 0;
    return 1;
}

/* A phone number found only beside a phone word: a bare run of digits must
 * pass v_phone; a grouped one may also be a local number (v_phone_local). */
static int v_phone_loose(const char *s, size_t len)
{
    char fb[96];
    fold_seps(&s, &len, fb, sizeof fb); /* full-width digits count as digits */
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9') return v_phone(s, len) || v_phone_local(s, len);
    return v_phone(s, len);
}

/* ---------- secrets: entropy and placeholders ---------- */

static int ieq(const char *s, size_t len, const char *w)
{
    size_t wl = strlen(w);
    if (wl != len) return 0;
    for (size_t i = 0; i < len; i++)
        if (tolower((unsigned char)s[i]) != w[i]) return 0;
    return 1;
}

static int icontains(const char *s, size_t len, const char *w)
{
    size_t wl = strlen(w);
    for (size_t i = 0; i + wl <= len; i++) {
        size_t k = 0;
        while (k < wl && tolower((unsigned char)s[i + k]) == w[k]) k++;
        if (k == wl) return 1;
    }
    return 0;
}

static double shannon(const char *s, size_t len)
{
    unsigned cnt[256] = {0};
    for (size_t i = 0; i < len; i++) cnt[(unsigned char)s[i]]++;
    double h = 0;
    for (int c = 0; c < 256; c++) {
        if (!cnt[c]) continue;
        double p = (double)cnt[c] / (double)len;
        h -= p * log2(p);
    }
    return h;
}

/* A value a human would type as a stand-in, not a credential. */
static int placeholder(const char *s, size_t len)
{
    static const char *const exact[] = {
        "changeme", "change_me", "password", "passw0rd",  "secret",   "example", "placeholder",
        "redacted", "none",      "null",     "nil",       "true",     "false",   "undefined",
        "dummy",    "todo",      "fixme",    "test",      "testing",  "default", "empty",
        "hidden",   "masked",    "notset",   "not_set",   "unknown",  "string",  "value",
        "token",    "apikey",    "api_key",  "secretkey", "your_key", "xxx",
    };
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        if (ieq(s, len, exact[i])) return 1;
    char c0 = s[0], cl = s[len - 1];
    if (c0 == '$' || c0 == '<' || c0 == '{' || c0 == '%' || c0 == '[' || c0 == '(' || c0 == '@')
        return 1;
    if (cl == '>' || cl == '}' || cl == ')') return 1;
    if (icontains(s, len, "{{") || icontains(s, len, "${") || icontains(s, len, "your") ||
        icontains(s, len, "here") || icontains(s, len, "insert") || icontains(s, len, "xxxx") ||
        icontains(s, len, "****") || icontains(s, len, "...") || icontains(s, len, "fake") ||
        icontains(s, len, "dummy") || icontains(s, len, "sample") ||
        icontains(s, len, "placeholder") || icontains(s, len, "changeme") ||
        icontains(s, len, "environ") || icontains(s, len, "getenv") ||
        icontains(s, len, "process.env"))
        return 1;
    /* a colour, #976806 */
    if (c0 == '#' && len <= 9) {
        size_t k = 1;
        while (k < len && hexval(s[k]) >= 0) k++;
        if (k == len) return 1;
    }
    /* all of one character, e.g. "********" or "00000000" */
    size_t i = 1;
    while (i < len && s[i] == s[0]) i++;
    if (i == len) return 1;
    return 0;
}

/* A dotted identifier (config.password, self.token): code, not a value. */
static int dotted_ident(const char *s, size_t len)
{
    int dots = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (i == 0 || i + 1 == len || s[i - 1] == '.') return 0;
            dots++;
        } else if (!(isalnum((unsigned char)c) || c == '_')) {
            return 0;
        }
    }
    return dots > 0 && !isdigit((unsigned char)s[0]) && !isdigit((unsigned char)s[len - 1]);
}

/* Value of a password/secret/token assignment: 6..512 bytes, not a
 * placeholder or code reference, at least two character classes (lower,
 * upper, digit, punctuation other than _ and -) one of which is a digit or
 * punctuation, and Shannon entropy of at least 2.5 bits per character. */
static int v_entropy(const char *s, size_t len)
{
    while (len && (s[0] == '"' || s[0] == '\'' || s[0] == '`')) s++, len--;
    while (len && (s[len - 1] == '"' || s[len - 1] == '\'' || s[len - 1] == '`' ||
                   s[len - 1] == ',' || s[len - 1] == ';'))
        len--;
    if (len < 6 || len > 512) return 0;
    if (placeholder(s, len) || dotted_ident(s, len)) return 0;
    /* a call, index or block is code ("password.encode(", "tokens[i]") */
    for (size_t i = 0; i < len; i++)
        if (s[i] == '(' || s[i] == ')' || s[i] == '[' || s[i] == ']' || s[i] == '{' || s[i] == '}')
            return 0;
    int lower = 0, upper = 0, digit = 0, punct = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f) return 0;
        if (islower(c))
            lower = 1;
        else if (isupper(c))
            upper = 1;
        else if (isdigit(c))
            digit = 1;
        else if (c != '_' && c != '-')
            punct = 1;
    }
    if (lower + upper + digit + punct < 2) return 0;
    /* letters alone are a word or a name ("_DSAPrivateKey", "listLines") */
    if (!digit && !punct) return 0;
    return shannon(s, len) >= 2.5;
}

/* The content of a string literal assigned to a credential name
 * (password = "letmein"): 4..256 bytes without spaces; not a placeholder,
 * code reference, a number, an upper-case constant or a CamelCase type name. */
static int v_secret_literal(const char *s, size_t len)
{
    static const char *const words[] = {"required", "optional", "string", "text",    "hidden",
                                        "bearer",   "basic",    "number", "boolean", "object"};
    if (len < 4 || len > 256) return 0;
    if (placeholder(s, len) || dotted_ident(s, len)) return 0;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (ieq(s, len, words[i])) return 0;
    int lower = 0, upper = 0, digit = 0, punct = 0, caps_after_lower = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || c == '(' || c == ')' || c == '[' || c == ']' || c == '{' ||
            c == '}')
            return 0;
        if (islower(c))
            lower = 1;
        else if (isupper(c)) {
            if (lower) caps_after_lower = 1;
            upper = 1;
        } else if (isdigit(c))
            digit = 1;
        else if (c != '_' && c != '-')
            punct = 1;
    }
    if (digit && !lower && !upper && !punct) return 0; /* a number */
    if (!digit && !punct) {
        if (!lower) return 0; /* CONSTANT_NAME */
        if ((isupper((unsigned char)s[0]) || s[0] == '_') && caps_after_lower)
            return 0; /* TypeName */
    }
    return 1;
}

/* ---------- JWT ---------- */

/* Base64url decoder that feeds decoded bytes to a small JSON shape checker:
 * the text must be one object, strings closed, brackets balanced. */
typedef struct {
    int depth, in_str, esc, started, done, bad;
    int seen_alg; /* matched "\"alg\"" as a key-ish token */
    int alg_state;
} jcheck;

static void jfeed(jcheck *j, unsigned char c)
{
    static const char alg[] = "\"alg\"";
    if (j->bad) return;
    if (j->alg_state < 5 && !j->seen_alg) {
        if ((char)c == alg[j->alg_state])
            j->alg_state++;
        else
            j->alg_state = ((char)c == '"') ? 1 : 0;
        if (j->alg_state == 5) j->seen_alg = 1;
    }
    if (j->done) {
        if (!(c == ' ' || c == '\n' || c == '\r' || c == '\t')) j->bad = 1;
        return;
    }
    if (!j->started) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') return;
        if (c != '{') {
            j->bad = 1;
            return;
        }
        j->started = 1;
        j->depth = 1;
        return;
    }
    if (j->in_str) {
        if (j->esc)
            j->esc = 0;
        else if (c == '\\')
            j->esc = 1;
        else if (c == '"')
            j->in_str = 0;
        else if (c < 0x20)
            j->bad = 1;
        return;
    }
    if (c == '"')
        j->in_str = 1;
    else if (c == '{' || c == '[') {
        if (++j->depth > 32) j->bad = 1;
    } else if (c == '}' || c == ']') {
        if (--j->depth == 0) j->done = 1;
    }
}

static int b64url(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
}

/* Decodes s[0..len) as base64url into j; returns 0 on a bad character. */
static int b64_feed(const char *s, size_t len, jcheck *j)
{
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=') {
            for (size_t k = i; k < len; k++)
                if (s[k] != '=') return 0;
            break;
        }
        int v = b64url(s[i]);
        if (v < 0) return 0;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (j) jfeed(j, (unsigned char)((acc >> bits) & 0xff));
        }
    }
    return 1;
}

static int json_part_ok(const char *s, size_t len, int need_alg)
{
    jcheck j = {0};
    if (len < 4 || !b64_feed(s, len, &j)) return 0;
    if (j.bad || !j.done || j.in_str) return 0;
    return need_alg ? j.seen_alg : 1;
}

/* header.payload[.signature]: header and payload decode to JSON objects, the
 * header names "alg"; the signature (may be empty) is base64url. */
static int v_jwt(const char *s, size_t len)
{
    size_t d1 = len, d2 = len;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '.') {
            if (d1 == len)
                d1 = i;
            else if (d2 == len)
                d2 = i;
            else
                return 0;
        }
    if (d1 == len) return 0;
    if (!json_part_ok(s, d1, 1)) return 0;
    if (!json_part_ok(s + d1 + 1, d2 - d1 - 1, 0)) return 0;
    if (d2 < len && !b64_feed(s + d2 + 1, len - d2 - 1, NULL)) return 0;
    return 1;
}

/* ---------- registry ---------- */

static const struct {
    const char *name;
    al_validator_fn fn;
} validators[] = {
    {"luhn", v_luhn},
    {"us_ssn", v_us_ssn},
    {"iban", v_iban},
    {"ipv4", v_ipv4},
    {"ipv4_public", v_ipv4_public},
    {"ipv6", v_ipv6},
    {"ip", v_ip},
    {"phone", v_phone},
    {"phone_local", v_phone_local},
    {"phone_loose", v_phone_loose},
    {"entropy", v_entropy},
    {"secret_literal", v_secret_literal},
    {"jwt", v_jwt},
};

al_validator_fn al_validator_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof validators / sizeof *validators; i++)
        if (strcmp(validators[i].name, name) == 0) return validators[i].fn;
    return NULL;
}

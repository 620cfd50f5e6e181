/* prefilter.c: the one-pass literal prefilter of whole-text scans.  From
 * each pattern it derives the literal prefixes every match must start with
 * (lowercased); one pass over the text finds where any rule's prefix occurs,
 * and the engine then tries that rule anchored at those offsets only.  A
 * pattern it cannot analyse gets no prefilter (the rule runs unanchored), so
 * the prefilter never changes what is found.  Pure. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LIT_AVX2 1 /* the hot loop has an AVX2 form, taken when the CPU has it */
#endif

#include "rules.h"

#define MAX_LITS 128  /* prefixes per rule */
#define MAX_LITLEN 12 /* prefixes are cut here: long enough to be selective */
#define MIN_LITLEN 2  /* shorter prefixes select too many offsets, unless */
#define RARE_CHARS "<>[]{}|$#@~`^*=_\\/&%+!;" /* they hold one of these */
/* bytes al_normalize() never leaves in its output (other whitespace became
 * a space, capitals were lowercased) */
#define FOLDED_GONE "\t\n\v\f\r"

typedef struct {
    char s[MAX_LITLEN + 1];
    unsigned char n;
    unsigned char open; /* the branch was all literal so far: may grow */
    unsigned char wb;   /* a \b stands right before the first byte */
} pfx;

typedef struct {
    pfx v[MAX_LITS];
    int n;
    int overflow;
} pset;

typedef struct {
    const char *p;
    size_t i, len;
    int bad;      /* give up: no prefilter for this pattern */
    int caseless; /* (?i) seen or flag i: non-ASCII letters may change case */
    int ucp;      /* \s and \d are Unicode classes */
    int folded;   /* subject is al_normalize()d: no Kelvin sign or long s left */
    int ks;       /* a caseless k or s is part of a literal */
    int wide;     /* set_concat grows short prefixes into up to WIDE_CAP combinations */
    int grown;    /* ... and did */
    int lost;     /* a set was cut or closed for its size (worse after growing) */
} parser;

static unsigned char low(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static void set_close(pset *s)
{
    for (int i = 0; i < s->n; i++) s->v[i].open = 0;
}

/* S := S x A for open members of S; closed members stay.  Once every open
 * member is 3 bytes or more, a wide A just closes them: longer prefixes
 * would not be worth many more literals (more than NARROW_CAP combinations;
 * WIDE_CAP when ps->wide, for a prefix too common in prose, "the "). */
#define NARROW_CAP 8
#define WIDE_CAP 64
#define WIDE_BELOW 5 /* members this long or longer do not grow past NARROW_CAP */
/* d[0..n) = s[0..n) for one UTF-8 character (n <= 4), without a call */
static inline void copy_char(char *d, const char *s, size_t n)
{
    if (!n) return;
    d[0] = s[0];
    if (n == 1) return; /* (most are ASCII) */
    for (size_t k = 1; k < n && k < 4; k++) d[k] = s[k];
}

/* x := x y, cut at MAX_LITLEN (which closes x); x stays open only if y
 * is.  x's bytes then y's are copied whole through a buffer (fixed sizes
 * need no call), so only bytes past the terminating NUL may change. */
static inline void pfx_append(pfx *x, const pfx *y)
{
    char both[2 * sizeof x->s];
    unsigned n = (unsigned)x->n + y->n;
    memcpy(both, x->s, sizeof x->s);
    memcpy(both + x->n, y->s, sizeof y->s);
    memcpy(x->s, both, sizeof x->s);
    if (n > MAX_LITLEN) {
        n = MAX_LITLEN;
        x->open = 0;
    }
    x->n = (unsigned char)n;
    x->s[n] = '\0';
    if (x->open) x->open = y->open;
}

/* S := S x {y}: the open members grow in place (no product, so the caps
 * below do not apply; closed members stay as they are). */
static void set_grow(pset *s, const pfx *y)
{
    for (int i = 0; i < s->n; i++) {
        pfx *x = &s->v[i];
        if (!x->open) continue;
        if (x->n == 0) x->wb = x->wb || y->wb;
        pfx_append(x, y);
    }
}

static void set_concat(parser *ps, pset *s, const pset *a)
{
    if (a->n == 1) {
        set_grow(s, &a->v[0]);
        return;
    }
    int open = 0;
    size_t minlen = MAX_LITLEN;
    for (int i = 0; i < s->n; i++) {
        if (!s->v[i].open) continue;
        open++;
        if (s->v[i].n < minlen) minlen = s->v[i].n;
    }
    if (!open) return; /* nothing grows: s stays as it is */
    if (minlen >= 3 && a->n > 1 && open * a->n > NARROW_CAP) {
        /* the short ones (common words) may grow, the others stop here */
        int few = 0;
        for (int i = 0; i < s->n; i++) few += s->v[i].open && s->v[i].n < WIDE_BELOW;
        if (!ps->wide || !few || few * a->n > WIDE_CAP) {
            set_close(s);
            return;
        }
        for (int i = 0; i < s->n; i++)
            if (s->v[i].n >= WIDE_BELOW) s->v[i].open = 0;
        ps->grown = 1;
    }
    pset out; /* not zero-initialised: only out.v[0, out.n) is used */
    out.n = 0;
    out.overflow = 0;
    for (int i = 0; i < s->n; i++) {
        if (!s->v[i].open) {
            if (out.n >= MAX_LITS) goto overflow;
            out.v[out.n++] = s->v[i];
            continue;
        }
        for (int j = 0; j < a->n; j++) {
            if (out.n >= MAX_LITS) goto overflow;
            pfx x = s->v[i];
            if (x.n == 0) x.wb = x.wb || a->v[j].wb;
            pfx_append(&x, &a->v[j]);
            out.v[out.n++] = x;
        }
    }
    memcpy(s->v, out.v, (size_t)out.n * sizeof *out.v);
    s->n = out.n;
    return;
overflow:
    ps->lost = 1;
    set_close(s); /* too many combinations: keep the shorter prefixes */
}

/* Cuts every member to at most len bytes (closing it) and drops
 * duplicates (a duplicate keeps the word-start claim only if both had it);
 * *n <= 2 * MAX_LITS. */
static void set_cut(pfx *v, int *n, size_t len)
{
    int16_t slot[4 * MAX_LITS]; /* open addressing over the members kept, -1: empty */
    memset(slot, 0xff, sizeof slot);
    int out = 0;
    for (int i = 0; i < *n; i++) {
        pfx x = v[i];
        if (x.n > len) {
            x.n = (unsigned char)len;
            x.s[len] = '\0';
            x.open = 0;
        }
        uint32_t h = 2166136261u; /* FNV-1a */
        for (int k = 0; k < x.n; k++) h = (h ^ (unsigned char)x.s[k]) * 16777619u;
        h = (h ^ x.n) % (4 * MAX_LITS);
        int dup = -1;
        for (; slot[h] >= 0; h = (h + 1) % (4 * MAX_LITS)) {
            const pfx *y = &v[slot[h]];
            if (y->n == x.n && !memcmp(y->s, x.s, x.n)) {
                dup = slot[h];
                break;
            }
        }
        if (dup >= 0) {
            v[dup].open = 0;
            v[dup].wb = v[dup].wb && x.wb;
            continue;
        }
        slot[h] = (int16_t)out;
        v[out++] = x;
    }
    *n = out;
}

static void set_union(parser *ps, pset *s, const pset *a)
{
    if (s->n + a->n <= MAX_LITS) {
        for (int j = 0; j < a->n; j++) s->v[s->n++] = a->v[j];
        return;
    }
    ps->lost = 1;
    /* too many: shorter prefixes (each still starts every match its longer
     * form started), as long as at least 3 bytes remain */
    pfx all[2 * MAX_LITS];
    int n = 0;
    for (int j = 0; j < s->n; j++) all[n++] = s->v[j];
    for (int j = 0; j < a->n; j++) all[n++] = a->v[j];
    /* the longest cut that fits (fewer distinct prefixes the shorter) */
    pfx best[2 * MAX_LITS];
    int nbest = -1;
    size_t lo = 3, hi = MAX_LITLEN - 1;
    while (lo <= hi) {
        size_t mid = (lo + hi) / 2;
        pfx t[2 * MAX_LITS];
        int m = n;
        memcpy(t, all, (size_t)n * sizeof *all);
        set_cut(t, &m, mid);
        if (m <= MAX_LITS) {
            memcpy(best, t, (size_t)m * sizeof *t);
            nbest = m;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    if (nbest < 0) {
        s->overflow = 1;
        return;
    }
    memcpy(s->v, best, (size_t)nbest * sizeof *best);
    s->n = nbest;
}

static void set_bytes(pset *a, const unsigned char *bytes, int n)
{
    a->n = 0;
    for (int i = 0; i < n && i < MAX_LITS; i++) {
        a->v[a->n].s[0] = (char)bytes[i];
        a->v[a->n].s[1] = '\0';
        a->v[a->n].n = 1;
        a->v[a->n].open = 1;
        a->v[a->n].wb = 0;
        a->n++;
    }
}

static void parse_alt(parser *ps, pset *out);

/* Skips a {n,m} quantifier at ps->i; returns the minimum, or -1 if none. */
static inline __attribute__((always_inline)) int quantifier(parser *ps, int *optional)
{
    *optional = 0;
    if (ps->i >= ps->len) return -1;
    char c = ps->p[ps->i];
    int min = -1;
    if (c == '?' || c == '*') {
        ps->i++;
        *optional = 1;
        min = 0;
    } else if (c == '+') {
        ps->i++;
        min = 1;
    } else if (c == '{') {
        size_t j = ps->i + 1;
        int n = 0, digits = 0;
        /* a count past PCRE2's 65535 is held at 999999, not overflowed */
        for (; j < ps->len && ps->p[j] >= '0' && ps->p[j] <= '9'; j++, digits++)
            if (n < 100000) n = n * 10 + (ps->p[j] - '0');
        if (!digits) return -1; /* a literal '{' */
        while (j < ps->len && ps->p[j] != '}') j++;
        if (j >= ps->len) return -1;
        ps->i = j + 1;
        min = n;
        *optional = n == 0;
    } else {
        return -1;
    }
    if (ps->i < ps->len && (ps->p[ps->i] == '?' || ps->p[ps->i] == '+')) ps->i++;
    return min;
}

/* Code point of the UTF-8 sequence p[0..n) (n = its length), 0 if malformed. */
static uint32_t utf8_cp(const unsigned char *p, size_t n)
{
    if (n == 2 && (p[0] & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80)
        return (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    if (n == 3 && (p[0] & 0xF0) == 0xE0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80)
        return (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    return 0;
}

/* Characters with no other case: arrows and mathematical operators, CJK
 * punctuation, kana, CJK ideographs, Hangul syllables. */
static int caseless_none(uint32_t cp)
{
    return (cp >= 0x2190 && cp <= 0x23FF) || (cp >= 0x3000 && cp <= 0x30FF) ||
           (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
           (cp >= 0xAC00 && cp <= 0xD7A3);
}

/* The one other case of a Latin-1 letter whose PCRE2 caseless set has just
 * two members (checked against PCRE2 for every code point of the range) (A-grave..thorn; not the
 * multiplication/division signs, not A-ring (also U+212B), sharp s, y-diaeresis or micro), else 0.
 */
static uint32_t latin1_other_case(uint32_t cp)
{
    if (cp == 0xC5 || cp == 0xE5 || cp == 0xD7 || cp == 0xF7) return 0;
    if (cp >= 0xC0 && cp <= 0xDE) return cp + 0x20;
    if (cp >= 0xE0 && cp <= 0xFE) return cp - 0x20;
    return 0;
}

/* The same for basic Cyrillic letters; not ve, de, o, es, te, hard sign,
 * whose caseless sets also hold the old forms U+1C80..U+1C86. */
static uint32_t cyrillic_other_case(uint32_t cp)
{
    uint32_t up = cp >= 0x450 ? cp - 0x50 : cp >= 0x430 ? cp - 0x20 : cp;
    if (up == 0x412 || up == 0x414 || up == 0x41E || up == 0x421 || up == 0x422 || up == 0x42A)
        return 0;
    if (cp >= 0x400 && cp <= 0x40F) return cp + 0x50;
    if (cp >= 0x410 && cp <= 0x42F) return cp + 0x20;
    if (cp >= 0x430 && cp <= 0x44F) return cp - 0x20;
    if (cp >= 0x450 && cp <= 0x45F) return cp - 0x50;
    return 0;
}

/* Reads the hex digits of "{...}" at ps->i (after "\\x"), moving past
 * them; 0x110000 when they are not a code point. */
static uint32_t hex_cp(parser *ps)
{
    if (ps->i >= ps->len || ps->p[ps->i] != '{') return 0x110000;
    uint32_t cp = 0;
    size_t i = ps->i + 1, d = 0;
    for (; i < ps->len && ps->p[i] != '}'; i++, d++) {
        int c = low((unsigned char)ps->p[i]), v = -1;
        if (c >= '0' && c <= '9') v = c - '0';
        if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        if (v < 0 || d >= 6) return 0x110000;
        cp = cp * 16 + (uint32_t)v;
    }
    if (i >= ps->len || !d) return 0x110000;
    ps->i = i + 1;
    return cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF) ? cp : 0x110000;
}

static size_t utf8_len(uint32_t cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* A class member "\\x{cp}" or "\\x{lo}-\\x{hi}" of non-ASCII code points
 * (case-sensitive pattern; ps->i after "\\x"): adds to mb the UTF-8 of cp
 * (open: the prefix may grow past it), or, for a range, the distinct
 * leading bytes of its characters, all but the last (closed), when they fit
 * in mb's 16 places; "[\\x{E0020}-\\x{E007E}]" begins with F3 A0 80 or
 * F3 A0 81.  0 (ps->i back where it was) when the member is anything else. */
static int hex_member(parser *ps, unsigned char mb[16][4], unsigned char mbn[16],
                      unsigned char mbo[16], int *nmb)
{
    size_t at = ps->i;
    uint32_t lo = hex_cp(ps), hi = lo;
    int range = 0;
    if (lo < 0x80 || lo > 0x10FFFF) goto no;
    if (ps->i + 2 < ps->len && ps->p[ps->i] == '-' && ps->p[ps->i + 1] == '\\' &&
        ps->p[ps->i + 2] == 'x') {
        ps->i += 3;
        hi = hex_cp(ps);
        range = 1;
        if (hi > 0x10FFFF || hi < lo) goto no;
    } else if (ps->i < ps->len && ps->p[ps->i] == '-' && ps->i + 1 < ps->len &&
               ps->p[ps->i + 1] != ']') {
        goto no; /* a range to something else */
    }
    size_t k = utf8_len(lo);
    if (utf8_len(hi) != k || (lo <= 0xDFFF && hi >= 0xD800)) goto no;
    /* the first k - 1 bytes of a k-byte character say cp >> 6 */
    uint32_t p0 = range ? lo >> 6 : lo, p1 = range ? hi >> 6 : lo;
    if (p1 - p0 + 1 > (uint32_t)(16 - *nmb)) goto no;
    for (uint32_t v = p0; v <= p1; v++) {
        uint32_t cp = range ? v << 6 : v;
        unsigned char u[4];
        (void)al_utf8_put(cp, u); /* k bytes: the lengths change at multiples of 64 */
        size_t m = range ? k - 1 : k;
        memcpy(mb[*nmb], u, m);
        mbn[*nmb] = (unsigned char)m;
        mbo[(*nmb)++] = (unsigned char)!range;
    }
    return 1;
no:
    ps->i = at;
    return 0;
}

/* Parses a [...] class; fills a with its bytes when small and ASCII. */
static int parse_class(parser *ps, pset *a)
{
    unsigned char bytes[256];
    unsigned char mb[16][4], mbn[16], mbo[16]; /* multi-byte members, open or not */
    int n = 0, unknown = 0, nmb = 0;
    ps->i++; /* '[' */
    if (ps->i < ps->len && ps->p[ps->i] == '^') {
        unknown = 1;
        ps->i++;
    }
    int first = 1;
    while (ps->i < ps->len) {
        unsigned char c = (unsigned char)ps->p[ps->i];
        if (c == ']' && !first) {
            ps->i++;
            break;
        }
        first = 0;
        if (c == '[' && ps->i + 1 < ps->len && ps->p[ps->i + 1] == ':') {
            const char *end = strstr(ps->p + ps->i, ":]");
            if (!end) {
                ps->bad = 1;
                return 0;
            }
            ps->i = (size_t)(end - ps->p) + 2;
            unknown = 1;
            continue;
        }
        unsigned char lo;
        if (c == '\\') {
            if (ps->i + 1 >= ps->len) {
                ps->bad = 1;
                return 0;
            }
            unsigned char e = (unsigned char)ps->p[ps->i + 1];
            ps->i += 2;
            if (e == 'd' && !ps->ucp) {
                for (unsigned char d = '0'; d <= '9'; d++) bytes[n++ & 255] = d;
                continue;
            }
            if (e == 's' && !ps->ucp) {
                for (const char *w = " \t\n\r\f\v"; *w; w++) bytes[n++ & 255] = (unsigned char)*w;
                continue;
            }
            if (e == 'x' || e == 'p' || e == 'P' || e == 'N' || (e >= 'a' && e <= 'z') ||
                (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
                if (e == 'n') {
                    lo = '\n';
                } else if (e == 't') {
                    lo = '\t';
                } else if (e == 'r') {
                    lo = '\r';
                } else if (e == 'x' && !ps->caseless && hex_member(ps, mb, mbn, mbo, &nmb)) {
                    continue;
                } else {
                    unknown = 1;
                    if ((e == 'x' || e == 'p' || e == 'P') && ps->i < ps->len &&
                        ps->p[ps->i] == '{') {
                        while (ps->i < ps->len && ps->p[ps->i] != '}') ps->i++;
                        ps->i++;
                    }
                    continue;
                }
            } else {
                lo = e;
            }
        } else if (c >= 0x80) {
            /* one UTF-8 character (not part of a range): a member of its
             * own, with its other case under a caseless flag */
            size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 1;
            if (k == 1 || ps->i + k > ps->len) {
                unknown = 1;
                ps->i++;
                continue;
            }
            const unsigned char *q = (const unsigned char *)ps->p + ps->i;
            ps->i += k;
            uint32_t cp = utf8_cp(q, k), other = 0;
            if (ps->i < ps->len && ps->p[ps->i] == '-') unknown = 1; /* a range */
            if (!cp || k > 3) unknown = 1;
            if (ps->caseless && !unknown && !caseless_none(cp)) {
                other = cp < 0x100 ? latin1_other_case(cp) : cyrillic_other_case(cp);
                if (!other) unknown = 1;
            }
            if (unknown || nmb + 2 > 16) {
                unknown = 1;
                continue;
            }
            memcpy(mb[nmb], q, k);
            mbo[nmb] = 1;
            mbn[nmb++] = (unsigned char)k;
            if (other) {
                mb[nmb][0] = (unsigned char)(0xC0 | (other >> 6));
                mb[nmb][1] = (unsigned char)(0x80 | (other & 0x3F));
                mbo[nmb] = 1;
                mbn[nmb++] = 2;
            }
            continue;
        } else {
            lo = c;
            ps->i++;
        }
        /* range? */
        if (ps->i + 1 < ps->len && ps->p[ps->i] == '-' && ps->p[ps->i + 1] != ']') {
            unsigned char hi = (unsigned char)ps->p[ps->i + 1];
            if (hi == '\\' || hi >= 0x80 || hi < lo) {
                unknown = 1;
                ps->i += 2;
                continue;
            }
            ps->i += 2;
            for (int x = lo; x <= hi && n < 256; x++) bytes[n++] = (unsigned char)x;
            continue;
        }
        if (n < 256) bytes[n++] = lo;
    }
    if (unknown) return 0;
    /* lowercase and dedupe */
    unsigned char seen[256] = {0}, u[256];
    int m = 0;
    for (int i = 0; i < n; i++) {
        unsigned char l = low(bytes[i]);
        if (ps->folded && l && strchr(FOLDED_GONE, l)) continue;
        if (!seen[l]) {
            seen[l] = 1;
            u[m++] = l;
        }
    }
    if (m + nmb == 0 || m + nmb > 16) return 0; /* wide classes are not selective */
    if (ps->caseless && !ps->folded && (seen['k'] || seen['s'])) ps->ks = 1;
    set_bytes(a, u, m);
    for (int k = 0; k < nmb; k++) {
        pfx *x = &a->v[a->n++];
        memcpy(x->s, mb[k], mbn[k]);
        x->s[mbn[k]] = '\0';
        x->n = mbn[k];
        x->open = mbo[k];
        x->wb = 0;
    }
    return 1;
}

/* After "(?": steps over what opens a non-capturing, atomic, branch-reset
 * or named group (0) or a lookaround (1).  Anything else (a comment, inline
 * options) is left to the caller, ps->i on it (-1). */
static int group_kind(parser *ps)
{
    char k = ps->i < ps->len ? ps->p[ps->i] : 0;
    if (k == ':' || k == '>' || k == '|') {
        ps->i++;
    } else if (k == '=' || k == '!') {
        ps->i++;
        return 1;
    } else if (k == '<' && ps->i + 1 < ps->len &&
               (ps->p[ps->i + 1] == '=' || ps->p[ps->i + 1] == '!')) {
        ps->i += 2;
        return 1;
    } else if (k == '<' || k == '\'' ||
               (k == 'P' && ps->i + 1 < ps->len && ps->p[ps->i + 1] == '<')) {
        char close = k == '\'' ? '\'' : '>';
        while (ps->i < ps->len && ps->p[ps->i] != close) ps->i++;
        ps->i++;
    } else {
        return -1;
    }
    return 0;
}

enum { GROUP_BODY, GROUP_DONE, GROUP_BAD };

/* After a group's "(": its opening.  GROUP_BODY: ps is at the body, *look
 * is 1 for a lookaround (zero-width); GROUP_DONE: an option setting "(?i)"
 * or a comment "(?#...)", consumed whole; GROUP_BAD (ps->bad set): a verb,
 * an option no walker models (x, n, J, U, ...), or a truncated group.
 * "(?i:" turns caseless on; "(?-i)" does not. */
static int group_open(parser *ps, int *look)
{
    *look = 0;
    if (ps->i < ps->len && ps->p[ps->i] == '*') { /* (*VERB) */
        ps->bad = 1;
        return GROUP_BAD;
    }
    if (ps->i >= ps->len || ps->p[ps->i] != '?') return GROUP_BODY;
    ps->i++;
    int kind = group_kind(ps);
    if (kind > 0) {
        *look = 1;
        return GROUP_BODY;
    }
    if (kind == 0) return GROUP_BODY;
    if (ps->i < ps->len && ps->p[ps->i] == '#') {
        while (ps->i < ps->len && ps->p[ps->i] != ')') ps->i++;
        ps->i++;
        return GROUP_DONE;
    }
    int neg = 0;
    while (ps->i < ps->len && ps->p[ps->i] != ')' && ps->p[ps->i] != ':') {
        char f = ps->p[ps->i++];
        if (f == '-')
            neg = 1;
        else if (f == 'i' && !neg)
            ps->caseless = 1;
        else if (!(f == 's' || f == 'm' || f == 'i' || f == 'u')) {
            ps->bad = 1;
            return GROUP_BAD;
        }
    }
    if (ps->i >= ps->len) {
        ps->bad = 1;
        return GROUP_BAD;
    }
    return ps->p[ps->i++] == ')' ? GROUP_DONE : GROUP_BODY;
}

/* Parses one atom; returns 1 with its prefixes in a, 0 when it is
 * zero-width (no effect), -1 when unknown (stops prefix growth). */
static int parse_atom(parser *ps, pset *a)
{
    unsigned char c = (unsigned char)ps->p[ps->i];
    a->n = 0;
    a->overflow = 0;
    if (c == '\\') {
        if (ps->i + 1 >= ps->len) {
            ps->bad = 1;
            return -1;
        }
        unsigned char e = (unsigned char)ps->p[ps->i + 1];
        ps->i += 2;
        switch (e) {
        case 'b':
            return 2; /* a word boundary: zero-width, noted by parse_seq */
        case 'B':
        case 'A':
        case 'z':
        case 'Z':
        case 'G':
            return 0;
        case 'K':
            ps->bad = 1;
            return -1; /* moves the match start */
        case 'Q':
            ps->bad = 1;
            return -1;
        case 'n':
            set_bytes(a, (const unsigned char *)"\n", 1);
            return 1;
        case 't':
            set_bytes(a, (const unsigned char *)"\t", 1);
            return 1;
        case 'r':
            set_bytes(a, (const unsigned char *)"\r", 1);
            return 1;
        case 'd':
            if (ps->ucp) return -1;
            set_bytes(a, (const unsigned char *)"0123456789", 10);
            return 1;
        case 's':
            if (ps->ucp) return -1;
            if (ps->folded) { /* the only whitespace left in folded text */
                set_bytes(a, (const unsigned char *)" ", 1);
                return 1;
            }
            set_bytes(a, (const unsigned char *)" \t\n\r\f\v", 6);
            return 1;
        case 'x':
        case 'p':
        case 'P':
        case 'o':
        case 'k':
        case 'g':
        case 'N':
            if (ps->i < ps->len && (ps->p[ps->i] == '{' || ps->p[ps->i] == '<')) {
                char close = ps->p[ps->i] == '{' ? '}' : '>';
                while (ps->i < ps->len && ps->p[ps->i] != close) ps->i++;
                ps->i++;
            } else if (e == 'x') {
                for (int k = 0; k < 2 && ps->i < ps->len; k++) ps->i++;
            }
            return -1;
        default:
            if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))
                return -1; /* \w \s \1 ... */
            set_bytes(a, &e, 1);
            return 1;
        }
    }
    if (c == '[') return parse_class(ps, a) ? 1 : (ps->bad ? -1 : -1);
    if (c == '.') {
        ps->i++;
        return -1;
    }
    if (c == '^' || c == '$') {
        ps->i++;
        return 0;
    }
    if (c == '(') {
        ps->i++;
        int zero = 0;
        int g = group_open(ps, &zero);
        if (g == GROUP_BAD) return -1;
        if (g == GROUP_DONE) return 0;
        pset inner;
        parse_alt(ps, &inner);
        if (ps->i >= ps->len || ps->p[ps->i] != ')') {
            ps->bad = 1;
            return -1;
        }
        ps->i++;
        if (zero) return 0;
        if (inner.overflow) return -1;
        a->n = inner.n;
        a->overflow = inner.overflow;
        memcpy(a->v, inner.v, (size_t)inner.n * sizeof *inner.v);
        return 1;
    }
    /* a literal character (one UTF-8 sequence) */
    if (c >= 0x80) {
        size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (ps->i + n > ps->len) n = ps->len - ps->i;
        unsigned char buf[4];
        memcpy(buf, ps->p + ps->i, n);
        ps->i += n;
        a->n = 1;
        memcpy(a->v[0].s, buf, n);
        a->v[0].s[n] = '\0';
        a->v[0].n = (unsigned char)n;
        a->v[0].open = 1;
        a->v[0].wb = 0;
        if (ps->caseless) {
            /* its other case has other bytes: only characters without case
             * (CJK, kana, Hangul) or with exactly one other case (Latin-1
             * letters, whose caseless set in PCRE2 has two members) */
            uint32_t cp = utf8_cp(buf, n);
            if (caseless_none(cp)) return 1;
            uint32_t other = cp < 0x100 ? latin1_other_case(cp) : cyrillic_other_case(cp);
            if (!other) return -1;
            a->n = 2;
            a->v[1] = a->v[0];
            a->v[1].s[0] = (char)(0xC0 | (other >> 6));
            a->v[1].s[1] = (char)(0x80 | (other & 0x3F));
        }
        return 1;
    }
    ps->i++;
    unsigned char l = low(c);
    /* caseless UTF matching lets k and s match U+212A and U+017F too: the
     * engine runs such a rule unanchored on texts holding either */
    if (ps->caseless && !ps->folded && (l == 'k' || l == 's')) ps->ks = 1;
    set_bytes(a, &l, 1);
    return 1;
}

static void parse_seq(parser *ps, pset *out)
{
    out->n = 1;
    out->overflow = 0;
    out->v[0].n = 0;
    out->v[0].s[0] = '\0';
    out->v[0].open = 1;
    out->v[0].wb = 0;
    /* a run of plain characters (one member each, unquantified) grows the
     * open members at once, as one after the other would: run.n bytes
     * not yet added */
    pfx run = {.n = 0, .open = 1, .wb = 0};
    while (ps->i < ps->len && !ps->bad) {
        char c = ps->p[ps->i];
        if (c == '|' || c == ')') break;
        pset a;
        int r = parse_atom(ps, &a);
        if (ps->bad) break;
        int optional = 0;
        int maxone = ps->i < ps->len && ps->p[ps->i] == '?';
        int min = quantifier(ps, &optional);
        if (r == 1 && min < 0 && a.n == 1 && a.v[0].open && !a.v[0].wb) {
            if (run.n + a.v[0].n > MAX_LITLEN) {
                set_grow(out, &run);
                run.n = 0;
            }
            copy_char(run.s + run.n, a.v[0].s, a.v[0].n);
            run.n = (unsigned char)(run.n + a.v[0].n);
            continue;
        }
        if (run.n) {
            set_grow(out, &run);
            run.n = 0;
        }
        /* folded text never holds two whitespace bytes in a row: a space
         * however quantified is one space or none ("\\s+" is " ") */
        int space = ps->folded && r == 1 && a.n == 1 && a.v[0].n == 1 && a.v[0].s[0] == ' ';
        if (space && optional) maxone = 1;
        if (space && min > 1) space = 0; /* two spaces: a prefix that never occurs, as before */
        if (r == 2 && !optional) {       /* \b before the first byte of a prefix */
            for (int k = 0; k < out->n; k++)
                if (out->v[k].open && out->v[k].n == 0) out->v[k].wb = 1;
            continue;
        }
        if (r == 0 || r == 2) continue; /* zero-width, whatever its quantifier */
        if (r == 1 && optional && !a.overflow) {
            /* X? / X* / X{0,n}: prefixes without X go on as they are; a copy
             * of the open ones takes X (and, unless X occurs at most once,
             * stops there) */
            pset with;
            with.n = 0;
            with.overflow = 0;
            for (int k = 0; k < out->n; k++)
                if (out->v[k].open) with.v[with.n++] = out->v[k];
            set_concat(ps, &with, &a);
            if (!maxone) set_close(&with);
            if (out->n + with.n > MAX_LITS) {
                ps->lost = 1;
                set_close(out);
                continue;
            }
            for (int k = 0; k < with.n; k++) out->v[out->n++] = with.v[k];
            continue;
        }
        if (r < 0 || optional) {
            set_close(out);
            continue;
        }
        set_concat(ps, out, &a);
        if (space) continue; /* exactly one: the prefixes go on */
        for (int k = 1; k < min && k < 4 && a.n == 1; k++) set_concat(ps, out, &a); /* -{3,}: --- */
        if (min >= 1) set_close(out);
    }
    if (run.n) set_grow(out, &run);
}

static void parse_alt(parser *ps, pset *out)
{
    parse_seq(ps, out);
    while (!ps->bad && ps->i < ps->len && ps->p[ps->i] == '|') {
        ps->i++;
        pset b;
        parse_seq(ps, &b);
        set_union(ps, out, &b);
        if (b.overflow) out->overflow = 1;
    }
}

/* ---- windowed literal: a selective literal every match contains, at a
 * bounded distance from the match start ("@" of an e-mail address) ---- */

#define MAX_LEAD 1024
#define UNBOUNDED (1L << 40)

typedef struct {
    char lit[MAX_LITLEN + 1];
    size_t n;
    long lead;
    int found;
} wlit;

static long walk_alt(parser *ps, long w0, wlit *out, int mandatory);

/* ':' is rare in prose too, and within a few bytes of every IPv6 start */
static int selective(const char *s, size_t n)
{
    if (n >= 3) return 1;
    for (size_t k = 0; k < n; k++)
        if (strchr(RARE_CHARS ":", s[k])) return 1;
    return 0;
}

/* Width in bytes of the class at ps->i (1 for ASCII-only, else 4). */
static long class_width(parser *ps)
{
    long w = 1;
    ps->i++;
    if (ps->i < ps->len && ps->p[ps->i] == '^') {
        w = 4;
        ps->i++;
    }
    int first = 1;
    while (ps->i < ps->len) {
        unsigned char c = (unsigned char)ps->p[ps->i];
        if (c == ']' && !first) {
            ps->i++;
            return w;
        }
        first = 0;
        if (c == '[' && ps->i + 1 < ps->len && ps->p[ps->i + 1] == ':') {
            const char *end = strstr(ps->p + ps->i, ":]");
            if (!end) break;
            ps->i = (size_t)(end - ps->p) + 2;
            continue;
        }
        if (c == '\\' && ps->i + 1 < ps->len) {
            char e = ps->p[ps->i + 1];
            if (strchr("DWSHVNRXpPxu", e)) w = 4;
            ps->i += 2;
            if ((e == 'x' || e == 'p' || e == 'P') && ps->i < ps->len && ps->p[ps->i] == '{') {
                while (ps->i < ps->len && ps->p[ps->i] != '}') ps->i++;
                ps->i++;
            }
            continue;
        }
        if (c >= 0x80) w = 4;
        ps->i++;
    }
    ps->bad = 1;
    return UNBOUNDED;
}

/* Walks one sequence from width w0; returns its end width (UNBOUNDED when
 * unbounded).  When mandatory, records the first selective literal run. */
static long walk_seq(parser *ps, long w0, wlit *out, int mandatory)
{
    long w = w0;
    char run[MAX_LITLEN + 1];
    size_t rn = 0;
    long run_at = w0;
#define END_RUN()                                                                                  \
    do {                                                                                           \
        if (mandatory && !out->found && rn && selective(run, rn) && run_at <= MAX_LEAD) {          \
            memcpy(out->lit, run, rn);                                                             \
            out->lit[rn] = '\0';                                                                   \
            out->n = rn;                                                                           \
            out->lead = run_at;                                                                    \
            out->found = 1;                                                                        \
        }                                                                                          \
        rn = 0;                                                                                    \
    } while (0)
    while (ps->i < ps->len && !ps->bad) {
        char c = ps->p[ps->i];
        if (c == '|' || c == ')') break;
        long aw = 0;
        int zero = 0, literal = 0, group_single = 0;
        unsigned char lb[4];
        size_t lbn = 0;
        size_t atom_start = ps->i;
        if (c == '\\') {
            if (ps->i + 1 >= ps->len) {
                ps->bad = 1;
                break;
            }
            char e = ps->p[ps->i + 1];
            ps->i += 2;
            if (strchr("bBAzZG", e)) {
                zero = 1;
            } else if (e == 'K' || e == 'Q') {
                ps->bad = 1;
                break;
            } else if (strchr("dws", e)) {
                aw = ps->ucp ? 4 : 1;
            } else if (strchr("DWSNRXHVhv", e)) {
                aw = 4;
            } else if (strchr("xpPokg", e)) {
                aw = 4;
                if (ps->i < ps->len && (ps->p[ps->i] == '{' || ps->p[ps->i] == '<')) {
                    char close = ps->p[ps->i] == '{' ? '}' : '>';
                    while (ps->i < ps->len && ps->p[ps->i] != close) ps->i++;
                    ps->i++;
                } else if (e == 'x') {
                    ps->i += 2;
                }
                if (e == 'k' || e == 'g') aw = UNBOUNDED; /* backreference */
            } else if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
                aw = (e >= '1' && e <= '9') ? UNBOUNDED : 1;
            } else {
                literal = 1;
                lb[0] = (unsigned char)e;
                lbn = 1;
                aw = 1;
            }
        } else if (c == '[') {
            aw = class_width(ps);
        } else if (c == '.') {
            aw = 4;
            ps->i++;
        } else if (c == '^' || c == '$') {
            zero = 1;
            ps->i++;
        } else if (c == '(') {
            ps->i++;
            int look = 0;
            int g = group_open(ps, &look);
            if (g == GROUP_BAD) break;
            if (g == GROUP_DONE) continue; /* an option setting or a comment */
            /* a group: is it one alternative, not quantified? then walk it inline */
            size_t save = ps->i;
            wlit none = {0};
            int save_ci = ps->caseless;
            long gw = walk_alt(ps, 0, &none, 0);
            if (ps->bad || ps->i >= ps->len || ps->p[ps->i] != ')') {
                ps->bad = 1;
                break;
            }
            ps->i++;
            size_t after = ps->i;
            int quant = after < ps->len && strchr("?*+{", ps->p[after]);
            /* a group repeated at least once: its first pass is mandatory */
            int once = after < ps->len && (ps->p[after] == '+' ||
                                           (ps->p[after] == '{' && after + 1 < ps->len &&
                                            ps->p[after + 1] >= '1' && ps->p[after + 1] <= '9'));
            int single = 1;
            { /* one alternative at its top level? */
                parser q = *ps;
                q.i = save;
                int depth = 0;
                for (; q.i < after - 1; q.i++) {
                    char d = q.p[q.i];
                    if (d == '\\') {
                        q.i++;
                        continue;
                    }
                    if (d == '[') {
                        class_width(&q);
                        q.i--;
                        continue;
                    }
                    if (d == '(') depth++;
                    if (d == ')') depth--;
                    if (d == '|' && depth == 0) single = 0;
                }
            }
            if (look) {
                zero = 1;
            } else if (single && (!quant || once) && mandatory && !out->found) {
                END_RUN();
                parser q = *ps;
                q.i = save;
                q.caseless = save_ci;
                walk_seq(&q, w, out, 1);
                group_single = 1;
                aw = gw;
            } else {
                aw = gw;
            }
        } else {
            unsigned char u = (unsigned char)c;
            lbn = u >= 0xF0 ? 4 : u >= 0xE0 ? 3 : u >= 0xC0 ? 2 : 1;
            if (ps->i + lbn > ps->len) lbn = ps->len - ps->i;
            memcpy(lb, ps->p + ps->i, lbn);
            ps->i += lbn;
            aw = (long)lbn;
            literal = !(u >= 0x80 && ps->caseless);
            if (u >= 'A' && u <= 'Z') lb[0] = (unsigned char)(u + 32);
            if (ps->caseless && !ps->folded && (lb[0] == 'k' || lb[0] == 's')) {
                ps->ks = 1; /* may match U+212A / U+017F, 3 and 2 bytes */
                aw = 3;
            }
        }
        (void)atom_start;
        (void)group_single;
        /* quantifier */
        long qmin = 1, qmax = 1;
        if (ps->i < ps->len) {
            char q = ps->p[ps->i];
            if (q == '?')
                qmin = 0, qmax = 1, ps->i++;
            else if (q == '*')
                qmin = 0, qmax = UNBOUNDED, ps->i++;
            else if (q == '+')
                qmin = 1, qmax = UNBOUNDED, ps->i++;
            else if (q == '{') {
                size_t j = ps->i + 1;
                long a = 0, b = -1;
                int digits = 0;
                while (j < ps->len && ps->p[j] >= '0' && ps->p[j] <= '9')
                    a = a * 10 + (ps->p[j++] - '0'), digits++;
                if (digits && j < ps->len && (ps->p[j] == '}' || ps->p[j] == ',')) {
                    if (ps->p[j] == ',') {
                        j++;
                        if (j < ps->len && ps->p[j] == '}') {
                            b = UNBOUNDED;
                        } else {
                            b = 0;
                            while (j < ps->len && ps->p[j] >= '0' && ps->p[j] <= '9')
                                b = b * 10 + (ps->p[j++] - '0');
                        }
                    } else {
                        b = a;
                    }
                    if (j < ps->len && ps->p[j] == '}') {
                        ps->i = j + 1;
                        qmin = a;
                        qmax = b;
                    }
                }
            }
            if (qmax != 1 || qmin != 1) {
                if (ps->i < ps->len && (ps->p[ps->i] == '?' || ps->p[ps->i] == '+')) ps->i++;
            }
        }
        if (zero) continue;
        int quantified = qmin != 1 || qmax != 1;
        if (literal && !quantified && rn + lbn <= MAX_LITLEN && lbn) {
            if (rn == 0) run_at = w;
            memcpy(run + rn, lb, lbn);
            rn += lbn;
        } else {
            END_RUN();
        }
        if (aw >= UNBOUNDED || qmax >= UNBOUNDED) {
            w = UNBOUNDED;
        } else {
            w += aw * qmax;
            if (w > UNBOUNDED) w = UNBOUNDED;
        }
        if (w >= UNBOUNDED) mandatory = 0; /* later literals: no bound on their lead */
    }
    END_RUN();
#undef END_RUN
    return w;
}

static long walk_alt(parser *ps, long w0, wlit *out, int mandatory)
{
    long best = walk_seq(ps, w0, out, mandatory);
    int alts = 0;
    while (!ps->bad && ps->i < ps->len && ps->p[ps->i] == '|') {
        ps->i++;
        alts++;
        long w = walk_seq(ps, w0, out, 0);
        if (w > best) best = w;
    }
    if (alts && mandatory) out->found = 0; /* the literal was in one branch only */
    return best;
}

static void derive_windowed(const char *pattern, uint32_t options, int folded, al_prefilter *pf)
{
    parser ps = {.p = pattern,
                 .len = strlen(pattern),
                 .caseless = !!(options & PCRE2_CASELESS),
                 .ucp = !!(options & PCRE2_UCP),
                 .folded = folded};
    wlit w = {0};
    walk_alt(&ps, 0, &w, 1);
    if (ps.bad || ps.i != ps.len || !w.found) return;
    size_t wl = strlen(w.lit);
    pf->lit = malloc(sizeof *pf->lit + wl + 1); /* the pointer, then its string */
    pf->litlen = calloc(1, sizeof *pf->litlen);
    if (!pf->lit || !pf->litlen) {
        al_prefilter_free(pf);
        return;
    }
    pf->lit[0] = memcpy((char *)(pf->lit + 1), w.lit, wl + 1);
    for (size_t k = 0; k < w.n; k++) pf->lit[0][k] = (char)low((unsigned char)pf->lit[0][k]);
    pf->litlen[0] = w.n;
    pf->n = 1;
    pf->maxlen = w.n;
    pf->lead = (size_t)w.lead;
    pf->windowed = 1;
    pf->ks = ps.ks;
}

/* ---- required literals: a set of strings one of which every match
 * contains, wherever it stands ("prompt|instructions|rules" for a rule
 * ending in one of those words), and maybe a second such set that every
 * match contains as well ("dead|late|..." and "bedtime|sleepy|...") ---- */

/* A set with a shorter member occurs in so many texts that looking for it
 * costs the literal scan more than the attempts it saves (measured on
 * English prose: 4 and 6 did worse than 5). */
#define MIN_REQLEN 5
#define MAX_REQ 32 /* members of a set */
/* Two sets a match needs both of select texts together: their members may
 * be shorter and more (a text holding both is rare even so) */
#define MIN_PAIRLEN 4
#define MAX_PAIR 64

typedef struct {
    char s[MAX_PAIR][MAX_LITLEN + 1];
    unsigned char n[MAX_PAIR];
    unsigned char w[MAX_PAIR]; /* what a member is worth: its length (member_worth) */
    int count;                 /* 0: nothing required (as far as the walk can tell) */
} rset;

/* Four letters too common in English prose to select a text: words among
 * the most frequent of the language (and of licence and manual text) and
 * endings of many words ("tion"), sorted */
static const char common4[][4] = {
    "able", "ally", "also", "ance", "back", "been", "best", "both", "call", "case", "code",
    "come", "data", "does", "done", "each", "ence", "even", "file", "find", "form", "free",
    "from", "full", "give", "good", "have", "here", "ible", "ical", "ings", "into", "ious",
    "just", "keep", "know", "last", "less", "life", "like", "line", "list", "long", "made",
    "make", "many", "mean", "ment", "more", "most", "much", "must", "name", "need", "ness",
    "next", "note", "only", "open", "over", "page", "part", "read", "said", "same", "show",
    "sion", "some", "such", "sure", "take", "term", "ters", "text", "than", "that", "them",
    "then", "they", "this", "time", "ting", "tion", "type", "upon", "used", "user", "very",
    "want", "well", "were", "what", "when", "will", "with", "work", "year", "your",
};

/* s[0..4) as a number that orders as memcmp does */
static inline uint32_t be4(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

/* 1 when s[0..4) is one of common4 (sorted), by binary search */
static int common4_has(const char *s)
{
    uint32_t k = be4(s);
    size_t lo = 0, hi = sizeof common4 / sizeof common4[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t m = be4(common4[mid]);
        if (m == k) return 1;
        if (m < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* What the member s[0..n) is worth: its length, but for a word of 4 bytes
 * or fewer between spaces (" with", "the "), its word's, and 3 for one of
 * 4 bytes that is not 4 letters or is common: as common as 3 bytes. */
static unsigned char member_worth(const char *s, size_t n)
{
    size_t b = 0, e = n;
    while (b < e && s[b] == ' ') b++;
    while (e > b && s[e - 1] == ' ') e--;
    if (e - b > 4) return (unsigned char)n;
    if (e - b < 4) return (unsigned char)(e - b < 3 ? e - b : 3);
    for (size_t j = b; j < e; j++)
        if (s[j] < 'a' || s[j] > 'z') return 3;
    return common4_has(s + b) ? 3 : 4;
}

/* The two best sets (by rset_score) a part of a pattern needs: one, found
 * as a lone set always was (of an alternation: the union of its branches'
 * ones), and another (count 0: none), which two branches may give from
 * either of theirs. */
typedef struct {
    rset one, two;
} rpair;

/* The better of two sets a match needs both of: the longer shortest member,
 * then the fewer members. */
static int rset_score(const rset *r)
{
    if (!r->count) return -1;
    int m = MAX_LITLEN + 1;
    for (int k = 0; k < r->count; k++)
        if (r->w[k] < m) m = r->w[k];
    return m * 64 - r->count;
}

/* Only a set's first count members are ever read: copies those. */
static void rset_copy(rset *to, const rset *from)
{
    to->count = from->count;
    memcpy(to->s, from->s, (size_t)from->count * sizeof from->s[0]);
    memcpy(to->n, from->n, sizeof to->n); /* whole: a fixed size needs no call */
    memcpy(to->w, from->w, sizeof to->w);
}

static int rset_same(const rset *a, const rset *b)
{
    if (a->count != b->count) return 0;
    for (int k = 0; k < a->count; k++)
        if (a->n[k] != b->n[k] || memcmp(a->s[k], b->s[k], a->n[k]) != 0) return 0;
    return 1;
}

/* pair_offer's work, given the scores of c, p->one and p->two. */
static void pair_put(rpair *p, const rset *c, int sc, int s1, int s2)
{
    if (sc <= s1) { /* as p's second when better than that and not p's first */
        if (sc <= s2 || rset_same(c, &p->one)) return;
        rset_copy(&p->two, c);
        return;
    }
    if (s1 > s2) rset_copy(&p->two, &p->one);
    rset_copy(&p->one, c);
    if (rset_same(&p->two, &p->one)) p->two.count = 0;
}

/* c as p's second set when it is better than that and not p's first. */
static void pair_second(rpair *p, const rset *c)
{
    if (rset_score(c) <= rset_score(&p->two) || rset_same(c, &p->one)) return;
    rset_copy(&p->two, c);
}

/* c as p's first set when it is better than that (the first it displaces
 * may become the second), else as its second. */
static void pair_offer(rpair *p, const rset *c)
{
    pair_put(p, c, rset_score(c), rset_score(&p->one), rset_score(&p->two));
}

/* pair_offer with the one-member set {run} (its score: its worth * 64 - 1). */
static void pair_run(rpair *p, const char run[MAX_LITLEN + 1], size_t rn)
{
    int most = (int)rn * 64 - 1; /* (a member is worth its length at most) */
    if (!rn) return;
    int s1 = rset_score(&p->one), s2 = rset_score(&p->two);
    if (most <= s1 && most <= s2) return;
    unsigned char w = member_worth(run, rn);
    rset c;
    c.count = 1;
    memcpy(c.s[0], run, sizeof c.s[0]); /* (run is as long: a fixed size needs no call) */
    c.s[0][rn] = '\0';
    c.n[0] = (unsigned char)rn;
    c.w[0] = w;
    pair_put(p, &c, (int)w * 64 - 1, s1, s2);
}

/* out := out | b with at most max members; out left empty (nothing
 * required) when either is or when they are too many together. */
static void rset_union(rset *out, const rset *b, int max)
{
    if (!out->count || !b->count || out->count + b->count > max) {
        out->count = 0;
        return;
    }
    for (int k = 0; k < b->count; k++) {
        int dup = 0;
        for (int j = 0; j < out->count && !dup; j++)
            dup = out->n[j] == b->n[k] && out->s[j][0] == b->s[k][0] &&
                  !memcmp(out->s[j], b->s[k], b->n[k]);
        if (dup) continue;
        memcpy(out->s[out->count], b->s[k], sizeof b->s[k]);
        out->w[out->count] = b->w[k];
        out->n[out->count++] = b->n[k];
    }
}

static void req_alt(parser *ps, rpair *out);

/* The best sets a sequence requires: its literal runs outside optional
 * parts, and the sets of the groups it must pass through. */
static void req_seq(parser *ps, rpair *best)
{
    char run[MAX_LITLEN + 1] = {0}; /* (pair_run reads all of it) */
    size_t rn = 0;
    best->one.count = best->two.count = 0;
    while (ps->i < ps->len && !ps->bad) {
        char c = ps->p[ps->i];
        if (c == '|' || c == ')') break;
        unsigned char lb[4] = {0};
        size_t lbn = 0;
        int zero = 0;
        rpair inner; /* only the counts are read until a walk fills it */
        inner.one.count = inner.two.count = 0;
        if (c == '\\') {
            if (ps->i + 1 >= ps->len) {
                ps->bad = 1;
                break;
            }
            char e = ps->p[ps->i + 1];
            ps->i += 2;
            if (strchr("bBAzZG", e)) {
                zero = 1;
            } else if (e == 'K' || e == 'Q' || e == 'E') {
                ps->bad = 1;
                break;
            } else if (strchr("xpPokgN", e)) {
                if (ps->i < ps->len && strchr("{<'", ps->p[ps->i])) {
                    char close = ps->p[ps->i] == '{' ? '}' : ps->p[ps->i] == '<' ? '>' : '\'';
                    ps->i++;
                    while (ps->i < ps->len && ps->p[ps->i] != close) ps->i++;
                    ps->i++;
                } else if (e == 'x') {
                    ps->i += 2;
                } else if (e == 'g') { /* \g1, \g-1 */
                    if (ps->i < ps->len && ps->p[ps->i] == '-') ps->i++;
                    while (ps->i < ps->len && ps->p[ps->i] >= '0' && ps->p[ps->i] <= '9') ps->i++;
                }
            } else if (e >= '0' && e <= '9') { /* a backreference or an octal escape */
                while (ps->i < ps->len && ps->p[ps->i] >= '0' && ps->p[ps->i] <= '9') ps->i++;
            } else if (e == 'c') { /* \cX: a control character */
                ps->i++;
            } else if (!((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') ||
                         (e >= '0' && e <= '9'))) {
                lb[0] = (unsigned char)e;
                lbn = 1;
            }
        } else if (c == '[') {
            class_width(ps);
        } else if (c == '.') {
            ps->i++;
        } else if (c == '^' || c == '$') {
            zero = 1;
            ps->i++;
        } else if (c == '(') {
            ps->i++;
            int look = 0;
            int g = group_open(ps, &look);
            if (g == GROUP_BAD) break;
            if (g == GROUP_DONE) continue; /* an option setting or a comment */
            req_alt(ps, &inner);
            if (ps->bad || ps->i >= ps->len || ps->p[ps->i] != ')') {
                ps->bad = 1;
                break;
            }
            ps->i++;
            if (look) {
                zero = 1;
                inner.one.count = inner.two.count = 0; /* a lookaround consumes nothing */
            }
        } else {
            unsigned char u = (unsigned char)c;
            lbn = u >= 0xF0 ? 4 : u >= 0xE0 ? 3 : u >= 0xC0 ? 2 : 1;
            if (ps->i + lbn > ps->len) lbn = ps->len - ps->i;
            copy_char((char *)lb, ps->p + ps->i, lbn);
            ps->i += lbn;
            if (u >= 0x80 && ps->caseless) lbn = 0; /* its other case has other bytes */
            lb[0] = low(lb[0]);
            if (ps->caseless && !ps->folded && (lb[0] == 'k' || lb[0] == 's')) ps->ks = 1;
        }
        int optional = 0;
        int min = quantifier(ps, &optional);
        if (zero) continue; /* consumes nothing, quantified or not: the run goes on */
        int once = min < 0, need = min != 0;
        if (lbn && need) {
            if (rn + lbn > MAX_LITLEN) { /* the run is full: this starts the next one */
                pair_run(best, run, rn);
                rn = 0;
            }
            copy_char(run + rn, (const char *)lb, lbn);
            rn += lbn;
            if (!once) { /* repeated: the run ends with its first copy */
                pair_run(best, run, rn);
                rn = 0;
            }
            continue;
        }
        pair_run(best, run, rn);
        rn = 0;
        if (need) {
            pair_offer(best, &inner.one);
            pair_second(best, &inner.two);
        }
    }
    pair_run(best, run, rn);
}

/* The sets an alternation requires: every branch's first set together
 * (nothing when one branch requires nothing or the union grows too big),
 * and every branch's second set, or its first when it has none, together. */
static void req_alt(parser *ps, rpair *out)
{
    req_seq(ps, out);
    int branches = 1;
    while (!ps->bad && ps->i < ps->len && ps->p[ps->i] == '|') {
        ps->i++;
        if (branches++ == 1 && !out->two.count) rset_copy(&out->two, &out->one);
        rpair b;
        req_seq(ps, &b);
        rset_union(&out->one, &b.one, MAX_REQ);
        rset_union(&out->two, b.two.count ? &b.two : &b.one, MAX_PAIR);
    }
    if (branches > 1 && rset_same(&out->two, &out->one)) out->two.count = 0;
}

/* The sets every match of the pattern requires (1 with them in *r and *ks
 * set as parser.ks), 0 when the walk learns none. */
static int req_walk(const char *pattern, uint32_t options, int folded, rpair *r, int *ks)
{
    parser ps = {.p = pattern,
                 .len = strlen(pattern),
                 .caseless = !!(options & PCRE2_CASELESS),
                 .ucp = !!(options & PCRE2_UCP),
                 .folded = folded};
    req_alt(&ps, r);
    *ks = ps.ks;
    return !ps.bad && ps.i == ps.len && (r->one.count || r->two.count);
}

/* Copies r into *req, *reqlen, *n (all left empty on allocation failure). */
static void req_store(const rset *r, char ***req, size_t **reqlen, size_t *n)
{
    size_t cnt = (size_t)(unsigned)r->count, bytes = 0, len[MAX_PAIR];
    for (size_t k = 0; k < cnt; k++) bytes += (len[k] = strlen(r->s[k])) + 1;
    *req = malloc(cnt * sizeof **req + bytes); /* the pointers, then their strings */
    *reqlen = calloc(cnt, sizeof **reqlen);
    if (!*req || !*reqlen) goto fail;
    char *pool = (char *)(*req + cnt);
    for (size_t k = 0; k < cnt; k++) {
        (*req)[k] = memcpy(pool, r->s[k], len[k] + 1);
        pool += len[k] + 1;
        (*reqlen)[k] = r->n[k];
        (*n)++;
    }
    return;
fail:
    free(*req);
    free(*reqlen);
    *req = NULL;
    *reqlen = NULL;
    *n = 0;
}

/* 1 when r has members, at most max of them, none shorter than min. */
static int rset_fit(const rset *r, int min, int max)
{
    if (!r->count || r->count > max) return 0;
    for (int k = 0; k < r->count; k++)
        if (r->n[k] < min) return 0;
    return 1;
}

/* rset_fit for one of two sets: members of MIN_PAIRLEN bytes or more,
 * not counting common words */
static int rset_pair_fit(const rset *r)
{
    if (!r->count || r->count > MAX_PAIR) return 0;
    for (int k = 0; k < r->count; k++)
        if (r->w[k] < MIN_PAIRLEN) return 0;
    return 1;
}

/* pf->req from the sets the walk found: a set of long members (a lone
 * set), else one of shorter ones; pf->req2 from the other set when both
 * are good enough for a pair */
static void derive_required(const rpair *p, int ks, al_prefilter *pf)
{
    const rset *a = &p->one, *b = &p->two;
    if (!rset_fit(a, MIN_REQLEN, MAX_REQ) && rset_fit(b, MIN_REQLEN, MAX_REQ)) {
        a = &p->two;
        b = &p->one;
    }
    if (!rset_fit(a, MIN_REQLEN, MAX_REQ) && !rset_pair_fit(a)) {
        const rset *t = a;
        a = b;
        b = t;
    }
    if (!rset_fit(a, MIN_REQLEN, MAX_REQ) && !rset_pair_fit(a)) return;
    req_store(a, &pf->req, &pf->reqlen, &pf->nreq);
    if (pf->nreq && rset_pair_fit(b)) req_store(b, &pf->req2, &pf->req2len, &pf->nreq2);
    if (pf->nreq) pf->req_ks = ks;
}

static void derive_prefixes(const char *pattern, uint32_t options, int folded, al_prefilter *pf);
static void derive_partial(const char *pattern, uint32_t options, const rset *r, int ks,
                           al_prefilter *pf);

void al_prefilter_derive(const char *pattern, uint32_t options, int folded, al_prefilter *pf)
{
    memset(pf, 0, sizeof *pf);
    if (options & PCRE2_EXTENDED) return;
    derive_prefixes(pattern, options, folded, pf);
    rpair r;
    int ks;
    if (!req_walk(pattern, options, folded, &r, &ks)) return;
    derive_required(&r, ks, pf);
    if (r.one.count) derive_partial(pattern, options, &r.one, ks, pf);
}

static void derive_prefixes(const char *pattern, uint32_t options, int folded, al_prefilter *pf)
{
    parser ps = {.p = pattern,
                 .len = strlen(pattern),
                 .caseless = !!(options & PCRE2_CASELESS),
                 .ucp = !!(options & PCRE2_UCP),
                 .folded = folded,
                 .wide = 1};
    pset s;
    parse_alt(&ps, &s);
    if (ps.grown && (ps.lost || ps.bad || s.overflow || ps.i != ps.len)) {
        /* growing cost prefixes elsewhere: the set as it was without */
        ps = (parser){
            .p = pattern, .len = ps.len, .caseless = ps.caseless, .ucp = ps.ucp, .folded = folded};
        parse_alt(&ps, &s);
    }
    if (ps.bad || s.overflow || ps.i != ps.len || s.n <= 0 || s.n > MAX_LITS) {
        derive_windowed(pattern, options, folded, pf);
        return;
    }
    /* single digits are tolerated beside word prefixes ("2|two|dual"), not
     * alone (a rule starting with \d runs better unanchored) */
    int words = 0;
    for (int i = 0; i < s.n; i++) words |= s.v[i].n >= 3;
    for (int i = 0; i < s.n; i++) {
        if (s.v[i].n >= MIN_LITLEN) continue;
        /* a short prefix is still selective when it holds a character prose
         * rarely uses */
        int rare = words && s.v[i].n == 1 && s.v[i].s[0] >= '0' && s.v[i].s[0] <= '9';
        for (int k = 0; k < s.v[i].n; k++) rare |= !!strchr(RARE_CHARS, s.v[i].s[k]);
        if (!rare) {
            derive_windowed(pattern, options, folded, pf);
            return;
        }
    }
    size_t cnt = (size_t)(unsigned)s.n, bytes = 0;
    for (int i = 0; i < s.n; i++) bytes += strlen(s.v[i].s) + 1;
    pf->lit = malloc(cnt * sizeof *pf->lit + bytes); /* the pointers, then their strings */
    char *pool = pf->lit ? (char *)(pf->lit + cnt) : NULL;
    pf->litlen = calloc(cnt, sizeof *pf->litlen);
    pf->wb = calloc(cnt, 1);
    if (!pf->lit || !pf->litlen || !pf->wb) {
        al_prefilter_free(pf);
        return;
    }
    int16_t slot[4 * MAX_LITS]; /* the literals kept, by hash (open addressing; -1: empty) */
    memset(slot, 0xff, sizeof slot);
    for (int i = 0; i < s.n; i++) {
        /* dedupe */
        /* a word boundary before a word character: the literal can only
         * start a word (after a non-word byte) */
        unsigned char c0 = (unsigned char)s.v[i].s[0];
        int wb = s.v[i].wb && ((c0 >= 'a' && c0 <= 'z') || (c0 >= '0' && c0 <= '9') || c0 == '_');
        uint32_t h = 2166136261u; /* FNV-1a, as set_cut */
        for (int k = 0; k < s.v[i].n; k++) h = (h ^ (unsigned char)s.v[i].s[k]) * 16777619u;
        h = (h ^ s.v[i].n) % (4 * MAX_LITS);
        int dup = 0;
        for (; slot[h] >= 0 && !dup; h = (h + 1) % (4 * MAX_LITS)) {
            size_t j = (size_t)slot[h];
            dup = pf->litlen[j] == s.v[i].n && memcmp(pf->lit[j], s.v[i].s, s.v[i].n) == 0;
            if (dup && !wb) pf->wb[j] = 0; /* either way: the weaker claim */
        }
        if (dup) continue;
        slot[h] = (int16_t)pf->n;
        size_t sl = strlen(s.v[i].s) + 1;
        pf->lit[pf->n] = memcpy(pool, s.v[i].s, sl);
        pool += sl;
        pf->wb[pf->n] = (unsigned char)wb;
        pf->litlen[pf->n++] = s.v[i].n;
        unsigned char f = (unsigned char)s.v[i].s[0];
        pf->first[f >> 3] |= (uint8_t)(1u << (f & 7));
        if (s.v[i].n > pf->maxlen) pf->maxlen = s.v[i].n;
    }
    pf->ks = ps.ks;
}

/* ---- start class: number-like values behind a negative lookbehind ---- */

#define SETB(m, c) ((m)[(unsigned char)(c) >> 3] |= (uint8_t)(1u << ((unsigned char)(c)&7)))
#define HASB(m, c) ((m)[(unsigned char)(c) >> 3] & (1u << ((unsigned char)(c)&7)))

/* Adds the ASCII bytes of the lookbehind body p[i..end) when it is one
 * character or one class; returns 0 when it is something else. */
static int lookbehind_bytes(const char *p, size_t i, size_t end, uint8_t out[32])
{
    uint8_t m[32] = {0};
    if (i >= end) return 0;
    if (p[i] != '[') {
        if (p[i] == '\\' && i + 2 == end) {
            char e = p[i + 1];
            if (e == 'w' || e == 'd') {
                for (int c = '0'; c <= '9'; c++) SETB(m, c);
                if (e == 'w') {
                    for (int c = 'a'; c <= 'z'; c++) SETB(m, c), SETB(m, c - 32);
                    SETB(m, '_');
                }
            } else if (!((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') ||
                         (e >= '0' && e <= '9'))) {
                SETB(m, e);
            } else {
                return 0;
            }
        } else if (i + 1 == end && (unsigned char)p[i] < 0x80 && !strchr(".^$|()[]{}*+?", p[i])) {
            SETB(m, p[i]);
        } else {
            return 0;
        }
        for (int k = 0; k < 32; k++) out[k] |= m[k];
        return 1;
    }
    i++;
    if (i < end && p[i] == '^') return 0; /* (?<![^...]) */
    int first = 1;
    while (i < end) {
        unsigned char c = (unsigned char)p[i];
        if (c == ']' && !first) break;
        first = 0;
        unsigned char lo;
        if (c == '\\' && i + 1 < end) {
            char e = p[i + 1];
            i += 2;
            if (e == 'w' || e == 'd') {
                for (int d = '0'; d <= '9'; d++) SETB(m, d);
                if (e == 'w') {
                    for (int d = 'a'; d <= 'z'; d++) SETB(m, d), SETB(m, d - 32);
                    SETB(m, '_');
                }
                continue;
            }
            if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))
                return 0; /* \s, \x.. and friends: not worth it */
            lo = (unsigned char)e;
        } else if (c >= 0x80 || c == '[') {
            return 0;
        } else {
            lo = c;
            i++;
        }
        if (i + 1 < end && p[i] == '-' && p[i + 1] != ']') {
            unsigned char hi = (unsigned char)p[i + 1];
            if (hi == '\\' || hi >= 0x80 || hi < lo) return 0;
            for (unsigned x = lo; x <= hi; x++) SETB(m, x);
            i += 2;
            continue;
        }
        SETB(m, lo);
    }
    if (i >= end || p[i] != ']' || i + 1 != end) return 0;
    for (int k = 0; k < 32; k++) out[k] |= m[k];
    return 1;
}

/* End of the group opened at p[i] == '(' (index of its ')'), or 0. */
static size_t group_end(const char *p, size_t len, size_t i, int *alt)
{
    int depth = 0;
    *alt = 0;
    for (; i < len; i++) {
        char c = p[i];
        if (c == '\\') {
            i++;
            continue;
        }
        if (c == '[') {
            i++;
            if (i < len && p[i] == '^') i++;
            if (i < len && p[i] == ']') i++;
            while (i < len && p[i] != ']') {
                if (p[i] == '\\') i++;
                i++;
            }
            continue;
        }
        if (c == '(') depth++;
        if (c == ')' && --depth == 0) return i;
        if (c == '|' && depth == 1) *alt = 1;
    }
    return 0;
}

#define MAX_SEQ 32 /* leading classes kept */
#define MIN_SEQ 4  /* fewer fixed classes are too common to be worth a start class */

/* 1 when the pattern sets options inline ("(?i)", "(?x:...)"). */
static int inline_options(const char *p)
{
    for (const char *q = p; (q = strstr(q, "(?")); q += 2) {
        size_t bs = 0;
        while (q - bs > p && q[-1 - (long)bs] == '\\') bs++;
        if (bs % 2) continue; /* an escaped '(' */
        if (strchr("imsxnJUu-^", q[2])) return 1;
    }
    return 0;
}

/* The ASCII bytes of the one-character atom at p[*i] (a literal, an escaped
 * punctuation character, \d, \w or a [...] class of such), advancing *i;
 * 0 for anything else. */
static int atom_bytes(const char *p, size_t *pi, size_t end, uint8_t m[32])
{
    size_t i = *pi;
    memset(m, 0, 32);
    unsigned char c = (unsigned char)p[i];
    if (c == '[') {
        size_t e = i + 1;
        if (e < end && p[e] == '^') return 0;
        if (e < end && p[e] == ']') e++;
        while (e < end && p[e] != ']') {
            if (p[e] == '\\') e++;
            if (p[e] == '[') return 0; /* [:alpha:] and friends */
            e++;
        }
        if (e >= end) return 0;
        uint8_t t[32] = {0};
        if (!lookbehind_bytes(p, i, e + 1, t)) return 0;
        memcpy(m, t, 32);
        *pi = e + 1;
        return 1;
    }
    if (c == '\\') {
        if (i + 1 >= end) return 0;
        char e = p[i + 1];
        if (e == 'd' || e == 'w') {
            for (int d = '0'; d <= '9'; d++) SETB(m, d);
            if (e == 'w') {
                for (int d = 'a'; d <= 'z'; d++) SETB(m, d), SETB(m, d - 32);
                SETB(m, '_');
            }
        } else if ((unsigned char)e < 0x80 &&
                   !((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))) {
            SETB(m, e);
        } else {
            return 0;
        }
        *pi = i + 2;
        return 1;
    }
    if (c >= 0x80 || strchr(".^$|()[]{}*+?", c)) return 0;
    SETB(m, c);
    *pi = i + 1;
    return 1;
}

/* The classes every match starts with at p[i..end): one-character atoms,
 * each repeated its minimum number of times, up to the first atom that is
 * optional, repeated a varying number of times, or not such an atom.
 * Returns how many were written to seq. */
static size_t lead_seq(const char *p, size_t i, size_t end, uint8_t (*seq)[32])
{
    size_t n = 0;
    while (i < end && n < MAX_SEQ) {
        uint8_t m[32];
        if (!atom_bytes(p, &i, end, m)) break;
        long lo = 1, hi = 1;
        if (i < end && (p[i] == '?' || p[i] == '*')) break;
        if (i < end && p[i] == '+') {
            hi = -1;
            i++;
        } else if (i < end && p[i] == '{') {
            size_t j = i + 1;
            long a = 0, b;
            int digits = 0;
            /* (a count past MAX_SEQ is held there: its first MAX_SEQ bytes
             * are still known, and no digit string overflows a) */
            while (j < end && p[j] >= '0' && p[j] <= '9') {
                if (a <= MAX_SEQ) a = a * 10 + (p[j] - '0');
                j++, digits++;
            }
            if (!digits) break;
            b = a;
            if (j < end && p[j] == ',') {
                b = -1; /* {a,} or {a,b}: varying */
                j++;
                while (j < end && p[j] >= '0' && p[j] <= '9') j++;
            }
            if (j >= end || p[j] != '}') break; /* a literal '{': stop to be safe */
            lo = a;
            hi = b;
            i = j + 1;
        }
        for (long k = 0; k < lo && n < MAX_SEQ; k++) memcpy(seq[n++], m, 32);
        if (hi != lo) break; /* varying: what follows stands at no fixed offset */
    }
    return n;
}

/* End (index of the '|' or of end) of the branch starting at p[b] inside a
 * group whose body ends at end. */
static size_t branch_end(const char *p, size_t b, size_t end)
{
    int depth = 0;
    for (size_t k = b; k < end; k++) {
        char c = p[k];
        if (c == '\\') {
            k++;
        } else if (c == '[') {
            k++;
            if (k < end && p[k] == '^') k++;
            if (k < end && p[k] == ']') k++;
            while (k < end && p[k] != ']') {
                if (p[k] == '\\') k++;
                k++;
            }
        } else if (c == '(') {
            depth++;
        } else if (c == ')') {
            depth--;
        } else if (c == '|' && depth == 0) {
            return k;
        }
    }
    return end;
}

/* Steps over the zero-width assertions at p[*i..end) that test the byte
 * before the match start, adding to notprev the bytes before which every
 * one of them fails; a lookahead there is stepped over too, its leading
 * classes (when ASCII and fixed) given to seq.  Stops at the first other
 * atom; 0 when the pattern is beyond this analysis. */
static int lead_asserts(const char *pattern, size_t len, size_t *pi, size_t end,
                        uint8_t notprev[32], uint8_t (*seq)[32], size_t *nseq)
{
    size_t i = *pi;
    int alt;
    while (i < end) {
        if (strncmp(pattern + i, "(?<!", 4) == 0) {
            size_t e = group_end(pattern, len, i, &alt);
            if (!e) return 0;
            if (!alt) lookbehind_bytes(pattern, i + 4, e, notprev); /* else: ignore it */
            i = e + 1;
            continue;
        }
        if (strncmp(pattern + i, "(?:(?<", 6) == 0) {
            /* (?:(?<!X)|(?<=Y)...): the group surely fails where every branch
             * does: the previous byte is in X and cannot end Y */
            size_t e = group_end(pattern, len, i, &alt);
            if (!e) return 0;
            uint8_t fails[32];
            memset(fails, 0xff, sizeof fails);
            size_t a = i + 3;
            int ok = 1;
            while (ok && a < e) {
                int alt2;
                size_t ae = group_end(pattern, len, a, &alt2);
                if (!ae || ae >= e || pattern[a] != '(' || pattern[a + 1] != '?' ||
                    pattern[a + 2] != '<' || alt2) {
                    ok = 0;
                    break;
                }
                uint8_t m[32] = {0};
                if (pattern[a + 3] == '!') {
                    if (!lookbehind_bytes(pattern, a + 4, ae, m)) memset(m, 0, sizeof m);
                } else if (pattern[a + 3] == '=') {
                    /* the byte before the match must end Y: last atom of Y */
                    size_t last = ae - 1;
                    uint8_t endb[32] = {0};
                    int got = 0;
                    if (pattern[last] == ']') {
                        size_t o = last;
                        for (; o > a + 4; o--) { /* an unescaped '[' */
                            size_t bs = 0;
                            while (o - bs > a + 4 && pattern[o - 1 - bs] == '\\') bs++;
                            if (pattern[o] == '[' && bs % 2 == 0) break;
                        }
                        got = pattern[o] == '[' && lookbehind_bytes(pattern, o, last + 1, endb);
                    } else if (last > a + 4 && pattern[last - 1] != '\\') {
                        got = lookbehind_bytes(pattern, last, last + 1, endb);
                    }
                    /* under a caseless flag [nrt] also ends with N, R, T: the
                     * other case of a letter counts too (this side must not
                     * claim too much) */
                    for (int c = 'a'; c <= 'z'; c++)
                        if (HASB(endb, c) || HASB(endb, c - 32)) SETB(endb, c), SETB(endb, c - 32);
                    if (got)
                        for (int k = 0; k < 32; k++) m[k] = (uint8_t)~endb[k];
                } else {
                    ok = 0;
                    break;
                }
                for (int k = 0; k < 32; k++) fails[k] &= m[k];
                a = ae + 1;
                if (a < e && pattern[a] == '|') a++;
            }
            if (!ok) return 0;
            for (int k = 0; k < 16; k++) notprev[k] |= fails[k]; /* ASCII bytes only */
            i = e + 1;
            continue;
        }
        if (strncmp(pattern + i, "(?<=", 4) == 0 || strncmp(pattern + i, "(?=", 3) == 0) {
            size_t e = group_end(pattern, len, i, &alt);
            if (!e) return 0;
            if (pattern[i + 2] == '=' && seq && !*nseq && !alt)
                *nseq = lead_seq(pattern, i + 3, e, seq);
            i = e + 1;
            continue;
        }
        break;
    }
    *pi = i;
    return 1;
}

/* The bytes before which no match can start (from the leading lookbehinds,
 * inside (?<value>...) too, a byte refused by every branch of it), and the
 * leading classes when seq is non-NULL; *pi receives where the first
 * consuming atom stands.  0 when the pattern is beyond this analysis. */
static int lead_info(const char *pattern, uint8_t notprev[32], uint8_t (*seq)[32], size_t *nseq,
                     size_t *pi)
{
    size_t len = strlen(pattern), i = 0;
    int alt;
    /* a top-level alternation would leave the lookbehind to one branch */
    for (size_t k = 0, depth = 0; k < len; k++) {
        char c = pattern[k];
        if (c == '\\') {
            k++;
        } else if (c == '[') {
            k++;
            if (k < len && pattern[k] == '^') k++;
            if (k < len && pattern[k] == ']') k++;
            while (k < len && pattern[k] != ']') {
                if (pattern[k] == '\\') k++;
                k++;
            }
        } else if (c == '(') {
            depth++;
        } else if (c == ')') {
            depth--;
        } else if (c == '|' && depth == 0) {
            return 0;
        }
    }
    int entered = 0;
    while (i < len) {
        if (!lead_asserts(pattern, len, &i, len, notprev, seq, nseq)) return 0;
        if (!entered && strncmp(pattern + i, "(?<value>", 9) == 0) {
            size_t e = group_end(pattern, len, i, &alt);
            if (!e) return 0;
            i += 9;
            entered = 1;
            if (!alt) continue;
            /* branches: a byte is refused before the match only when every
             * branch's own assertions refuse it */
            uint8_t all[32];
            memset(all, 0xff, sizeof all);
            size_t b = i;
            while (b < e) {
                size_t be = branch_end(pattern, b, e);
                uint8_t np[32] = {0};
                size_t q = b, none = 0;
                if (!lead_asserts(pattern, len, &q, be, np, NULL, &none)) return 0;
                for (int k = 0; k < 32; k++) all[k] &= np[k];
                b = be + 1;
            }
            for (int k = 0; k < 32; k++) notprev[k] |= all[k];
            i = e; /* nothing more to learn about the start */
            break;
        }
        break;
    }
    *pi = i;
    return 1;
}

/* 1 when the pattern sets the extended option inline ("(?x)", "(?ix:"). */
static int inline_extended(const char *p)
{
    for (const char *q = p; (q = strstr(q, "(?")); q += 2)
        for (const char *o = q + 2; *o && strchr("imsxnJUu-^", *o); o++)
            if (*o == 'x') return 1;
    return 0;
}

int al_prefilter_notprev(const char *pattern, uint32_t options, uint8_t notprev[32])
{
    memset(notprev, 0, 32);
    size_t i, none = 0;
    if ((options & PCRE2_EXTENDED) || inline_extended(pattern) ||
        !lead_info(pattern, notprev, NULL, &none, &i)) {
        memset(notprev, 0, 32);
        return 0;
    }
    int any = 0;
    for (int k = 0; k < 32; k++) any |= notprev[k];
    return any;
}

void al_prefilter_startclass(const char *pattern, uint32_t options, const uint8_t first[32],
                             al_prefilter *pf)
{
    size_t len = strlen(pattern), i = 0;
    /* leading classes: only where a class means its ASCII bytes alone */
    int plain =
        !(options & (PCRE2_CASELESS | PCRE2_UCP | PCRE2_EXTENDED)) && !inline_options(pattern);
    uint8_t notprev[32] = {0};
    uint8_t seq[MAX_SEQ][32];
    size_t nseq = 0;
    if (!lead_info(pattern, notprev, plain ? seq : NULL, &nseq, &i)) return;
    if (plain && !nseq && i < len) nseq = lead_seq(pattern, i, len, seq);
    uint8_t f[32];
    memcpy(f, first, 32);
    if (nseq)
        for (int k = 0; k < 32; k++) f[k] &= seq[0][k];
    int any = 0;
    for (int k = 0; k < 32; k++) any |= f[k];
    if (!any) return;
    /* worth it when a match cannot start inside a number and does not start
     * with a letter, or when it starts with a run of fixed classes long
     * enough to be rare (a key, an account number) */
    int numeric = 1;
    for (int c = '0'; c <= '9'; c++)
        if (!HASB(notprev, c)) numeric = 0;
    for (int c = 'a'; c <= 'z'; c++)
        if (HASB(f, c) || HASB(f, c - 32)) numeric = 0;
    if (!numeric && nseq < MIN_SEQ) return;
    memcpy(pf->first, f, 32);
    memcpy(pf->notprev, notprev, 32);
    pf->maxlen = 1;
    if (nseq >= MIN_SEQ) {
        pf->seq = malloc(nseq * sizeof *pf->seq);
        if (!pf->seq) return;
        memcpy(pf->seq, seq, nseq * sizeof *pf->seq);
        pf->nseq = nseq;
        pf->maxlen = nseq;
    }
    pf->startclass = 1;
}

/* ---- shape: the bytes each of a match's first offsets may hold, so an
 * anchored attempt can be ruled out without PCRE2 ---- */

#define SH_K AL_SHAPE_MAX      /* offsets tracked */
#define SH_BEYOND (1u << SH_K) /* any offset of SH_K or more */

typedef struct {
    uint8_t s[SH_K][32];
} shapes;

/* The offsets P moved on by a width in [lo, hi] (an offset of SH_K or
 * more becomes SH_BEYOND). */
static uint32_t sh_shift(uint32_t P, int lo, int hi)
{
    uint64_t x = P & (SH_BEYOND - 1), acc = 0;
    for (int w = lo; w <= hi; w++) acc |= x << w;
    return (uint32_t)(acc & (SH_BEYOND - 1)) | (acc >> SH_K ? SH_BEYOND : 0) | (P & SH_BEYOND);
}

/* At each offset of P: the byte class c, or (wide) any byte at the next
 * hi offsets. */
static void sh_mark(shapes *S, uint32_t P, const uint8_t c[32], int wide, int hi)
{
    for (uint32_t m = P & (SH_BEYOND - 1); m; m &= m - 1) {
        int p = __builtin_ctz(m);
        if (!wide) {
            for (int k = 0; k < 32; k++) S->s[p][k] |= c[k];
            continue;
        }
        for (int j = 0; j < hi && p + j < SH_K; j++) memset(S->s[p + j], 0xff, 32);
    }
}

/* Adds the other case of each ASCII letter of c; under a caseless flag on
 * a text that is not normalised, k and s also match 3- and 2-byte
 * characters: then 1 (the atom is wide). */
static int sh_case(const parser *ps, uint8_t c[32])
{
    if (!ps->caseless) return 0;
    /* capitals are bytes 8..11 of the bitmap (0x41..0x5a), small letters
     * the same bits 4 bytes on */
    static const uint8_t letters[4] = {0xfe, 0xff, 0xff, 0x07};
    for (int k = 0; k < 4; k++) {
        uint8_t both = (uint8_t)((c[8 + k] | c[12 + k]) & letters[k]);
        c[8 + k] |= both;
        c[12 + k] |= both;
    }
    return !ps->folded && (HASB(c, 'k') || HASB(c, 's'));
}

/* Reads a quantifier at ps->i into [*lo, *hi] (hi -1: unbounded); none is
 * {1}.  0 when it is beyond this walk. */
static inline __attribute__((always_inline)) int sh_quant(parser *ps, long *lo, long *hi)
{
    *lo = *hi = 1;
    if (ps->i >= ps->len) return 1;
    char q = ps->p[ps->i];
    if (q == '?' || q == '*' || q == '+') {
        *lo = q == '+';
        *hi = q == '?' ? 1 : -1;
        ps->i++;
    } else if (q == '{') {
        size_t j = ps->i + 1;
        long a = 0, b;
        int digits = 0;
        while (j < ps->len && ps->p[j] >= '0' && ps->p[j] <= '9' && a < 100000)
            a = a * 10 + (ps->p[j++] - '0'), digits++;
        if (!digits) return ps->i + 1 < ps->len && ps->p[ps->i + 1] != ','; /* a literal '{' */
        b = a;
        if (j < ps->len && ps->p[j] == ',') {
            j++;
            b = -1;
            if (j < ps->len && ps->p[j] >= '0' && ps->p[j] <= '9') {
                b = 0;
                while (j < ps->len && ps->p[j] >= '0' && ps->p[j] <= '9' && b < 100000)
                    b = b * 10 + (ps->p[j++] - '0');
            }
        }
        if (j >= ps->len || ps->p[j] != '}') return 0;
        ps->i = j + 1;
        *lo = a;
        *hi = b;
    } else {
        return 1;
    }
    if (ps->i < ps->len && (ps->p[ps->i] == '?' || ps->p[ps->i] == '+')) ps->i++;
    return *lo <= 64;
}

static uint32_t sh_alt(parser *ps, uint32_t P, shapes *S);

enum { SH_ZERO, SH_CHAR, SH_GROUP };

/* One atom at ps->i: SH_ZERO (consumes nothing), SH_CHAR (one character:
 * the class c, or wide: any bytes, from wlo to whi of them), SH_GROUP
 * (*body: where its body starts, *look: a lookaround); ps->bad when it is
 * beyond this walk (a backreference, \K, a verb). */
static inline __attribute__((always_inline)) int
sh_atom(parser *ps, uint8_t c[32], int *wide, int *wlo, int *whi, size_t *body, int *look)
{
    unsigned char ch = (unsigned char)ps->p[ps->i];
    memset(c, 0, 32);
    *wide = 0;
    *wlo = *whi = 1;
    if (ch == '\\') {
        if (ps->i + 1 >= ps->len) {
            ps->bad = 1;
            return SH_ZERO;
        }
        unsigned char e = (unsigned char)ps->p[ps->i + 1];
        ps->i += 2;
        if (strchr("bBAzZG", e)) return SH_ZERO;
        if (strchr("KQEkg", e) || (e >= '1' && e <= '9')) {
            ps->bad = 1; /* moves the start, quotes, or refers back */
            return SH_ZERO;
        }
        if (e == 'd' || e == 'w') {
            for (int d = '0'; d <= '9'; d++) SETB(c, d);
            if (e == 'w') {
                for (int d = 'a'; d <= 'z'; d++) SETB(c, d), SETB(c, d - 32);
                SETB(c, '_');
            }
        } else if (e == 's') {
            for (const char *w = " \t\n\v\f\r"; *w; w++) SETB(c, *w);
        } else if (e == 'n' || e == 't' || e == 'r') {
            SETB(c, e == 'n' ? '\n' : e == 't' ? '\t' : '\r');
        } else if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || e == '0') {
            /* \D, \x41, \p{L}, \N, \R ...: any bytes of one character */
            if (ps->i < ps->len && strchr("xpPoN", e) && ps->p[ps->i] == '{') {
                while (ps->i < ps->len && ps->p[ps->i] != '}') ps->i++;
                ps->i++;
            } else if (e == 'x' || e == '0') {
                for (int k = 0;
                     k < 2 && ps->i < ps->len && strchr("0123456789abcdefABCDEF", ps->p[ps->i]);
                     k++)
                    ps->i++;
            } else if (e == 'c') {
                ps->i++;
            }
            *wide = 1;
            *whi = e == 'R' || e == 'X' ? SH_K : 4; /* \r\n, a grapheme cluster */
        } else if (e >= 0x80) {
            ps->bad = 1;
            return SH_ZERO;
        } else {
            SETB(c, e);
        }
        if (!*wide && sh_case(ps, c)) *wide = 1, *whi = 3;
        return SH_CHAR;
    }
    if (ch == '[') {
        size_t start = ps->i;
        long w = class_width(ps);
        if (ps->bad) return SH_ZERO;
        if (w != 1 || !lookbehind_bytes(ps->p, start, ps->i, c)) {
            *wide = 1; /* negated, non-ASCII or beyond lookbehind_bytes: any character */
            *whi = 4;
        } else if (sh_case(ps, c)) {
            *wide = 1;
            *whi = 3;
        }
        return SH_CHAR;
    }
    if (ch == '.') {
        ps->i++;
        *wide = 1;
        *whi = 4;
        return SH_CHAR;
    }
    if (ch == '^' || ch == '$') {
        ps->i++;
        return SH_ZERO;
    }
    if (ch == '(') {
        ps->i++;
        int g = group_open(ps, look);
        if (g == GROUP_BAD) return SH_ZERO;
        if (g == GROUP_DONE) return SH_ZERO; /* an option setting or a comment */
        *body = ps->i;
        return SH_GROUP;
    }
    if (ch >= 0x80) { /* one UTF-8 character: its other case may be longer */
        size_t n = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC0 ? 2 : 1;
        ps->i += n;
        *wide = 1;
        *whi = 4;
        return SH_CHAR;
    }
    ps->i++;
    SETB(c, ch);
    if (sh_case(ps, c)) *wide = 1, *whi = 3;
    return SH_CHAR;
}

/* Steps over the rest of a sequence (to its '|' or closing ')'). */
static void sh_skip(parser *ps)
{
    int depth = 0;
    while (ps->i < ps->len && !ps->bad) {
        char c = ps->p[ps->i];
        if (c == '\\') {
            ps->i += 2;
            continue;
        }
        if (c == '[') {
            class_width(ps);
            continue;
        }
        if ((c == ')' || c == '|') && depth == 0) return;
        depth += c == '(' ? 1 : c == ')' ? -1 : 0;
        ps->i++;
    }
    if (ps->i > ps->len) ps->i = ps->len;
}

/* Walks one sequence from the offsets P; returns the offsets where it may
 * end, marking in S the bytes each offset may hold. */
static uint32_t sh_seq(parser *ps, uint32_t P, shapes *S)
{
    uint32_t cur = P;
    while (ps->i < ps->len && !ps->bad) {
        char ch = ps->p[ps->i];
        if (ch == '|' || ch == ')') break;
        if (!(cur & ~SH_BEYOND)) { /* past the offsets tracked: nothing more to learn */
            sh_skip(ps);
            break;
        }
        uint8_t c[32];
        int wide, wlo, whi, look = 0;
        size_t body = 0, open_at = ps->i;
        int kind = sh_atom(ps, c, &wide, &wlo, &whi, &body, &look);
        if (ps->bad) break;
        if (kind == SH_GROUP) {
            int alt;
            size_t close = group_end(ps->p, ps->len, open_at, &alt);
            long lo, hi;
            ps->i = close + 1;
            if (!close || !sh_quant(ps, &lo, &hi)) {
                ps->bad = 1;
                break;
            }
            if (look) continue; /* zero-width, quantified or not */
            size_t next = ps->i;
            int ci = ps->caseless, ci_any = ci;
            uint32_t res = lo == 0 ? cur : 0, at = cur;
            /* each pass from where the last ended, until they end where
             * the one before did (from then on nothing changes) or only
             * past the offsets tracked */
            for (long rep = 1; (hi < 0 || rep <= hi) && at; rep++) {
                ps->i = body;
                ps->caseless = ci;
                uint32_t was = at;
                at = sh_alt(ps, at, S);
                ci_any |= ps->caseless;
                if (ps->bad || ps->i != close) {
                    ps->bad = 1;
                    break;
                }
                if (rep >= lo) res |= at;
                if (rep >= lo && (at == was || !(at & ~SH_BEYOND))) break;
            }
            ps->i = next;
            ps->caseless = ci_any; /* an option set inside may be kept: more, not less */
            cur = res;
            continue;
        }
        long lo, hi;
        if (!sh_quant(ps, &lo, &hi)) {
            ps->bad = 1;
            break;
        }
        if (kind == SH_ZERO) continue;
        uint32_t res = lo == 0 ? cur : 0, at = cur;
        for (long rep = 1; (hi < 0 || rep <= hi) && at; rep++) {
            sh_mark(S, at, c, wide, whi);
            at = sh_shift(at, wlo, whi);
            if (rep >= lo) res |= at;
            if (rep >= lo && !(at & ~SH_BEYOND)) break; /* a character is at least a byte */
        }
        cur = res;
    }
    return cur;
}

static uint32_t sh_alt(parser *ps, uint32_t P, shapes *S)
{
    uint32_t out = sh_seq(ps, P, S);
    while (!ps->bad && ps->i < ps->len && ps->p[ps->i] == '|') {
        ps->i++;
        out |= sh_seq(ps, P, S);
    }
    return out;
}

void al_prefilter_shape(const char *pattern, uint32_t options, int folded, al_prefilter *pf)
{
    if ((options & (PCRE2_EXTENDED | PCRE2_UCP)) || inline_extended(pattern) ||
        strstr(pattern, "\\Q"))
        return;
    parser ps = {.p = pattern,
                 .len = strlen(pattern),
                 .caseless = !!(options & PCRE2_CASELESS),
                 .folded = folded};
    shapes S;
    memset(&S, 0, sizeof S);
    uint32_t end = sh_alt(&ps, 1u, &S);
    if (ps.bad || ps.i != ps.len || !end) return;
    size_t m = (size_t)__builtin_ctz(end); /* the shortest match (SH_K: that or longer) */
    while (m > 0) {                        /* up to the last offset that tells something */
        int full = 1;
        for (int k = 0; k < 32; k++) full &= S.s[m - 1][k] == 0xff;
        if (!full) break;
        m--;
    }
    if (!m || !(pf->shape = malloc(m * sizeof *pf->shape))) return;
    memcpy(pf->shape, S.s, m * sizeof *pf->shape);
    pf->nshape = m;
}

/* ---- digits: how many a match that starts with one holds at least, and
 * within how many bytes, so an anchored attempt at a number too short
 * for it can be ruled out without PCRE2 ---- */

#define CT_INF (1L << 30) /* no bound on a match's length */

/* The paths through a pattern walked so far: those that consumed nothing,
 * and, of those that began with a digit, the fewest digits and the most
 * bytes any of them consumed. */
typedef struct {
    int none;  /* a path has consumed nothing yet */
    int begun; /* a path began with a digit */
    long d, l; /* over the begun paths: fewest digits, most bytes (at most CT_INF) */
} cstate;

static void ct_merge(cstate *a, const cstate *b)
{
    if (b->begun) {
        a->d = a->begun && a->d < b->d ? a->d : b->d;
        a->l = a->begun && a->l > b->l ? a->l : b->l;
        a->begun = 1;
    }
    a->none |= b->none;
}

static long ct_add(long a, long b)
{
    return a + b >= CT_INF ? CT_INF : a + b;
}

/* s after one character: a digit (dig), or bytes of c (up to w of them;
 * wide: any bytes). */
static cstate ct_char(const cstate *s, const uint8_t c[32], int wide, long w)
{
    /* '0'..'7' are byte 6 of the bitmap, '8' and '9' the low bits of byte 7 */
    uint8_t t[32];
    memcpy(t, c, 32);
    t[6] = t[7] = 0;
    uint64_t q[4];
    memcpy(q, t, 32);
    int other = (c[7] & ~3) != 0 || (q[0] | q[1] | q[2] | q[3]) != 0;
    const int some = c[6] || (c[7] & 3);
    const int first = wide || some, dig = !wide && some && !other;
    cstate o = {0, 0, 0, 0};
    if (s->begun) o = (cstate){0, 1, s->d + dig, ct_add(s->l, w)};
    if (s->none && first) {
        cstate b = {0, 1, dig, w};
        ct_merge(&o, &b);
    }
    return o;
}

static cstate ct_alt(parser *ps, cstate s);

/* One pass of an atom from s: the group whose body begins at body and
 * closes at close (caseless as ci when it opens; *ci_any gathers what it
 * turns on), or the character c (wide, up to whi bytes). */
static cstate ct_pass(parser *ps, int kind, size_t body, size_t close, int ci, int *ci_any,
                      cstate s, const uint8_t c[32], int wide, int whi)
{
    if (kind != SH_GROUP) return ct_char(&s, c, wide, whi);
    ps->i = body;
    ps->caseless = ci;
    cstate at = ct_alt(ps, s);
    *ci_any |= ps->caseless;
    if (!ps->bad && ps->i != close) ps->bad = 1;
    return at;
}

/* Walks one sequence from s (as sh_seq, whose atoms it reads). */
static cstate ct_seq(parser *ps, cstate s)
{
    cstate cur = s;
    while (ps->i < ps->len && !ps->bad) {
        char ch = ps->p[ps->i];
        if (ch == '|' || ch == ')') break;
        uint8_t c[32];
        int wide, wlo, whi, look = 0;
        size_t body = 0, open_at = ps->i;
        int kind = sh_atom(ps, c, &wide, &wlo, &whi, &body, &look);
        if (ps->bad) break;
        size_t close = 0;
        if (kind == SH_GROUP) {
            int alt;
            close = group_end(ps->p, ps->len, open_at, &alt);
            if (!close) {
                ps->bad = 1;
                break;
            }
            ps->i = close + 1;
        }
        long lo, hi;
        if (!sh_quant(ps, &lo, &hi)) {
            ps->bad = 1;
            break;
        }
        if (kind == SH_ZERO || look) continue; /* zero-width, quantified or not */
        size_t next = ps->i;
        int ci = ps->caseless, ci_any = ci;
        /* the first max(lo, 1) passes one by one; for those after them,
         * what a pass from nothing consumed and the most bytes of a pass */
        const long walk = lo > 1 ? lo : 1, extra = hi < 0 ? CT_INF : hi - walk;
        cstate res = {0, 0, 0, 0}, at = cur;
        if (lo == 0) res = cur;
        for (long rep = 1; rep <= walk && !ps->bad; rep++) {
            at = ct_pass(ps, kind, body, close, ci, &ci_any, at, c, wide, whi);
            if (rep >= lo) ct_merge(&res, &at);
        }
        if (!ps->bad && extra > 0) {
            const cstate none = {1, 0, 0, 0}, begun = {0, 1, 0, 0};
            cstate b = ct_pass(ps, kind, body, close, ci, &ci_any, none, c, wide, whi);
            cstate p = ct_pass(ps, kind, body, close, ci, &ci_any, begun, c, wide, whi);
            /* a path of more passes: one of these extended, or one that
             * began in a later pass (from nothing, as b did), extended */
            long most = res.l > at.l ? res.l : at.l;
            if (at.none && b.begun) {
                if (b.l > most) most = b.l;
                ct_merge(&res, &b);
            }
            if (res.begun)
                res.l = extra >= CT_INF || p.l >= CT_INF || extra > CT_INF / (p.l + 1)
                            ? CT_INF
                            : ct_add(most, extra * p.l);
        }
        if (ps->bad) break;
        ps->i = next;
        ps->caseless = ci_any;
        cur = res;
    }
    return cur;
}

static cstate ct_alt(parser *ps, cstate s)
{
    cstate out = ct_seq(ps, s);
    while (!ps->bad && ps->i < ps->len && ps->p[ps->i] == '|') {
        ps->i++;
        cstate b = ct_seq(ps, s);
        ct_merge(&out, &b);
    }
    return out;
}

void al_prefilter_digits(const char *pattern, uint32_t options, al_prefilter *pf)
{
    pf->dmin = 0;
    pf->dspan = 0;
    /* (\X: a character and any marks after it, of no bounded length) */
    if ((options & (PCRE2_EXTENDED | PCRE2_UCP)) || inline_extended(pattern) ||
        strstr(pattern, "\\Q") || strstr(pattern, "\\X"))
        return;
    parser ps = {.p = pattern, .len = strlen(pattern), .caseless = !!(options & PCRE2_CASELESS)};
    cstate end = ct_alt(&ps, (cstate){1, 0, 0, 0});
    if (ps.bad || ps.i != ps.len || end.none) return;
    if (!end.begun) { /* no match begins with a digit */
        pf->dmin = 1;
        pf->dspan = 0;
        return;
    }
    if (end.d < 2 || end.l >= CT_INF) return; /* one digit: the start class says as much */
    pf->dmin = (size_t)end.d;
    pf->dspan = (size_t)end.l;
}

/* ---- partial matching: the bytes any part of a match may hold ---- */

/* Adds the ASCII bytes of \e (outside or inside a class) at p[*i] (just
 * past the backslash) to m, stepping over it; 0 when it is beyond this
 * walk (any byte, a backreference, \G, \K ...). */
static int run_escape(const char *p, size_t *i, int in_class, uint8_t m[32])
{
    unsigned char e = (unsigned char)p[*i];
    if (!e) return 0;
    (*i)++;
    if (e == 'd' || e == 'w') {
        for (int c = '0'; c <= '9'; c++) SETB(m, c);
        if (e == 'w') {
            for (int c = 'a'; c <= 'z'; c++) SETB(m, c), SETB(m, c - 32);
            SETB(m, '_');
        }
        return 1;
    }
    if (e == 's') {
        for (const char *w = " \t\n\v\f\r"; *w; w++) SETB(m, *w);
        return 1;
    }
    if (e == 'n' || e == 't' || e == 'r' || e == 'f' || e == 'e' || e == 'a') {
        SETB(m, e == 'n'   ? '\n'
                : e == 't' ? '\t'
                : e == 'r' ? '\r'
                : e == 'f' ? '\f'
                : e == 'e' ? 0x1b
                           : 0x07);
        return 1;
    }
    if (e == 'b') {
        if (in_class) SETB(m, 0x08);
        return 1;
    }
    if (!in_class && (e == 'B' || e == 'A' || e == 'z' || e == 'Z')) return 1;
    if (e == 'x') { /* \xhh or \x{h...}: a character above 0x7f needs no mark */
        unsigned long v = 0;
        int brace = p[*i] == '{', nd = 0;
        if (brace) (*i)++;
        while (isxdigit((unsigned char)p[*i]) && (brace || nd < 2)) {
            char h = p[(*i)++];
            v = v * 16 + (unsigned long)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
            if (v > 0x10ffff) v = 0x110000;
            nd++;
        }
        if (brace && p[(*i)++] != '}') return 0;
        if (v < 0x80) SETB(m, v);
        return 1;
    }
    if (e >= 0x80 || (e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))
        return 0;
    SETB(m, e); /* an escaped punctuation character */
    return 1;
}

/* Adds the ASCII bytes of the class at p[*i] == '[' to m; 0 when beyond
 * this walk. */
static int run_class(const char *p, size_t *i, uint8_t m[32])
{
    uint8_t c[32] = {0};
    size_t j = *i + 1;
    int neg = p[j] == '^';
    if (neg) j++;
    for (int first = 1;; first = 0) {
        unsigned char ch = (unsigned char)p[j];
        if (!ch) return 0;
        if (ch == ']' && !first) break;
        if (ch == '[' && (p[j + 1] == ':' || p[j + 1] == '.' || p[j + 1] == '=')) return 0;
        int lo;
        if (ch == '\\') {
            uint8_t one[32] = {0};
            j++;
            if (!run_escape(p, &j, 1, one)) return 0;
            /* how many ASCII bytes, and the last of them */
            uint64_t w0, w1;
            memcpy(&w0, one, 8);
            memcpy(&w1, one + 8, 8);
            int n = __builtin_popcountll(w0) + __builtin_popcountll(w1), b = 15;
            while (b >= 0 && !one[b]) b--;
            lo = b < 0 ? -1 : b * 8 + 31 - __builtin_clz(one[b]);
            for (int k = 0; k < 32; k++) c[k] |= one[k];
            if (n != 1) continue; /* \d, \w, \s or a non-ASCII character */
        } else if (ch >= 0x80) {
            j++;
            continue; /* bytes of non-ASCII characters are always in */
        } else {
            lo = ch;
            j++;
        }
        if (p[j] == '-' && p[j + 1] && p[j + 1] != ']') {
            unsigned char hi = (unsigned char)p[j + 1];
            if (lo < 0 || hi == '\\' || hi == '[') return 0;
            j += 2;
            for (int x = lo; x <= (hi < 0x80 ? hi : 0x7f); x++) SETB(c, x);
        } else if (lo >= 0) {
            SETB(c, lo);
        }
    }
    *i = j + 1;
    for (int k = 0; k < 16; k++) m[k] |= neg ? (uint8_t)~c[k] : c[k];
    return 1;
}

/* Fills run with every byte a match (lookarounds included) may hold or
 * inspect: any atom of the pattern's, non-ASCII bytes always.  1 when
 * some ASCII byte is outside it; 0 when not or beyond this walk (the dot,
 * backreferences, \G, \K, \Q, verbs, conditionals, recursion). */
static int derive_run(const char *p, uint32_t options, uint8_t run[32])
{
    uint8_t m[32] = {0};
    int caseless = !!(options & PCRE2_CASELESS), wide = 0;
    if ((options & PCRE2_EXTENDED) || inline_extended(p)) return 0;
    for (size_t i = 0; p[i];) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '\\') {
            i++;
            if (!run_escape(p, &i, 0, m)) return 0;
        } else if (ch == '[') {
            if (!run_class(p, &i, m)) return 0;
        } else if (ch == '(') {
            i++;
            if (p[i] == '*') return 0;
            if (p[i] != '?') continue;
            i++;
            if (p[i] == ':' || p[i] == '>' || p[i] == '|' || p[i] == '=' || p[i] == '!') {
                i++;
            } else if (p[i] == '<' && (p[i + 1] == '=' || p[i + 1] == '!')) {
                i += 2;
            } else if (p[i] == '<' || p[i] == '\'' || (p[i] == 'P' && p[i + 1] == '<')) {
                char close = p[i] == '\'' ? '\'' : '>';
                i += p[i] == 'P' ? 2 : 1;
                while (p[i] && p[i] != close) {
                    if (!isalnum((unsigned char)p[i]) && p[i] != '_') return 0;
                    i++;
                }
                if (!p[i]) return 0;
                i++;
            } else if (p[i] == '#') {
                while (p[i] && p[i] != ')') i++;
                if (!p[i]) return 0;
                i++;
            } else {
                while (p[i] && p[i] != ')' && p[i] != ':') {
                    if (p[i] == 'i')
                        caseless = 1;
                    else if (!strchr("-smnuU", p[i]))
                        return 0;
                    i++;
                }
                if (!p[i]) return 0;
                i++;
            }
        } else if (ch == '{') {
            size_t j = i + 1;
            while (p[j] >= '0' && p[j] <= '9') j++;
            if (j > i + 1 && p[j] == ',') {
                j++;
                while (p[j] >= '0' && p[j] <= '9') j++;
            }
            if (j > i + 1 && p[j] == '}') {
                i = j + 1; /* a quantifier */
            } else {
                SETB(m, '{');
                i++;
            }
        } else if (ch == '.') {
            return 0;
        } else if (ch == ')' || ch == '|' || ch == '^' || ch == '$' || ch == '*' || ch == '+' ||
                   ch == '?') {
            i++;
        } else {
            if (ch >= 0x80)
                wide = 1;
            else
                SETB(m, ch);
            i++;
        }
    }
    if (caseless) {
        if (wide || strstr(p, "\\x")) return 0; /* a non-ASCII character's other case */
        for (int c = 'a'; c <= 'z'; c++)
            if (HASB(m, c) || HASB(m, c - 32)) SETB(m, c), SETB(m, c - 32);
        /* the Kelvin sign and long s are non-ASCII: always in */
    }
    int outside = 0;
    for (int k = 0; k < 16; k++) outside |= m[k] != 0xff;
    if (!outside) return 0;
    memset(m + 16, 0xff, 16);
    memcpy(run, m, 32);
    return 1;
}

/* Stream passes: the required set r with members of any length, and the
 * bytes a match may hold (al_prefilter.preq, .run). */
static void derive_partial(const char *pattern, uint32_t options, const rset *rs, int ks,
                           al_prefilter *pf)
{
    const rset r = *rs;
    if (!derive_run(pattern, options, pf->run)) return;
    /* looked for by a byte that is neither a letter nor a digit: a member
     * of letters only would be looked for at most bytes of prose */
    size_t at[MAX_REQ];
    for (int k = 0; k < r.count; k++) {
        size_t j = 0;
        while (j < r.n[k] && (isalnum((unsigned char)r.s[k][j]) || r.s[k][j] == ' ')) j++;
        if (j == r.n[k]) return;
        at[k] = j;
    }
    if (!(pf->preqat = malloc((size_t)(unsigned)r.count * sizeof *pf->preqat))) return;
    req_store(&r, &pf->preq, &pf->preqlen, &pf->npreq);
    if (!pf->npreq) {
        free(pf->preqat);
        pf->preqat = NULL;
        return;
    }
    pf->preq_ks = ks;
    pf->pone = (unsigned char)r.s[0][at[0]];
    for (int k = 0; k < r.count; k++) {
        pf->preqat[k] = at[k];
        SETB(pf->pfirst, r.s[k][at[k]]);
        if ((unsigned char)r.s[k][at[k]] != pf->pone) pf->pone = -1;
    }
}

void al_prefilter_free(al_prefilter *pf)
{
    free(pf->shape);
    free(pf->seq);
    free(pf->req);
    free(pf->reqlen);
    free(pf->req2);
    free(pf->req2len);
    free(pf->preq);
    free(pf->preqlen);
    free(pf->preqat);
    free(pf->lit); /* each list is one block: its pointers, then their strings */
    free(pf->litlen);
    free(pf->wb);
    memset(pf, 0, sizeof *pf);
}

/* 1 when the set req[0..nreq) tells more than a hit of pf's prefixes. */
static int set_useful(const al_prefilter *pf, char *const *req, const size_t *reqlen, size_t nreq)
{
    if (!nreq) return 0;
    for (size_t i = 0; i < pf->n; i++) {
        int holds = 0; /* a hit of this literal already shows a member */
        for (size_t k = 0; k < nreq && !holds; k++)
            holds = memmem(pf->lit[i], pf->litlen[i], req[k], reqlen[k]) != NULL;
        if (!holds) return 1;
    }
    return !pf->n;
}

int al_prefilter_req_useful(const al_prefilter *pf)
{
    return set_useful(pf, pf->req, pf->reqlen, pf->nreq);
}

int al_prefilter_req2_useful(const al_prefilter *pf)
{
    return set_useful(pf, pf->req2, pf->req2len, pf->nreq2);
}

/* ---- the multi-literal matcher over all rules ---- */

typedef struct {
    const char *s; /* lowercased prefix, owned by the rule */
    uint32_t n;
    uint32_t rule;
    int32_t next;     /* next entry in the same 2-byte bucket, -1 at end */
    unsigned char c3; /* third byte (n >= 3) */
    unsigned char wb; /* only at a word start */
    uint64_t w8, m8;  /* bytes 4..11 (little-endian, as many as there are) and their mask */
} entry;

/* A run cv[lo .. hi) of entries whose first bytes are key (hi == 0: an
 * empty slot); in a run of 4 bytes, cv[lo .. mid) are the 4-byte prefixes,
 * bit b & 31 of m5 is set when a longer one has fifth byte b (visit looks
 * no further when the text's is not among them), and cv[lo3 .. hi3) is the
 * run of 3-byte prefixes of its first 3 bytes (visit needs no s3 look-up). */
typedef struct {
    uint32_t key, lo, mid, hi, m5, lo3, hi3;
} span;

static inline unsigned span_slot(uint32_t key, unsigned bits)
{
    return (key * 0x9E3779B1u) >> (32 - bits);
}

/* The run for key, or NULL; the table always has an empty slot. */
static inline const span *span_get(const span *tab, unsigned bits, uint32_t key)
{
    unsigned m = (1u << bits) - 1;
    for (unsigned h = span_slot(key, bits);; h = (h + 1) & m) {
        if (!tab[h].hi) return NULL;
        if (tab[h].key == key) return &tab[h];
    }
}

static void span_put(span *tab, unsigned bits, const span *v)
{
    unsigned m = (1u << bits) - 1, h = span_slot(v->key, bits);
    while (tab[h].hi) h = (h + 1) & m;
    tab[h] = *v;
}

/* The entries cv[lo .. hi) of a 4-byte run that are longer and share a
 * fifth byte: key is the 5 bytes, the first highest (hi == 0: an empty slot);
 * bit b & 31 of m6 is set when one of them has sixth byte b, or is 5 bytes
 * long (all bits: visit looks no further when the text's is not among them,
 * as the 4-byte run's m5 does for the fifth). */
typedef struct {
    uint64_t key;
    uint32_t lo, hi, m6;
} span5;

/* The entries for key, or NULL; the table always has an empty slot. */
static inline const span5 *span5_get(const span5 *tab, unsigned bits, uint64_t key)
{
    size_t m = ((size_t)1 << bits) - 1;
    for (size_t h = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> (64 - bits));; h = (h + 1) & m) {
        if (!tab[h].hi) return NULL;
        if (tab[h].key == key) return &tab[h];
    }
}

static void span5_put(span5 *tab, unsigned bits, uint64_t key, uint32_t lo, uint32_t hi,
                      uint32_t m6)
{
    size_t m = ((size_t)1 << bits) - 1;
    size_t h = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> (64 - bits));
    while (tab[h].hi) h = (h + 1) & m;
    tab[h].key = key;
    tab[h].lo = lo;
    tab[h].hi = hi;
    tab[h].m6 = m6;
}

/* slots of the trigram table: 2^15 (256 KB); at 2^14 slots shared by
 * trigrams sent 18% more offsets of English prose to visit() */
#define TBITS 15
/* The slot of the trigram b0, b1, b2 (w: the little-endian word of b0..b3),
 * each byte ORed with 0x20: ASCII case and a few punctuation pairs share a
 * slot, so the scan needs no lowercase copy of the text.  The multiplier's
 * low byte is 0, so b3 falls off the top of the product: one multiply. */
static inline unsigned tri_slot(uint32_t w)
{
    return ((w | 0x20202020u) * (0x9E3779B1u << 8)) >> (32 - TBITS);
}

typedef struct {
    /* per pair, indexed by its little-endian 16 bits (first byte low): 1
     * short (1 or 2 bytes), 2 long, of the prefixes that may start anywhere;
     * 4 short, 8 long, of those that only start a word */
    uint8_t flags[65536];
    uint8_t first[32]; /* first bytes of every prefix */
    /* per raw pair (little-endian, first byte low; any case): 0x40 when a
     * 1- or 2-byte prefix may start there, 0x80 when one that only starts a
     * word may */
    uint8_t pshort[65536];
    /* per trigram slot (tri_slot) of the prefixes of 3 bytes or more: bit
     * b & 31 of the low half when one of them that may start anywhere has
     * fourth byte b, of the high half when any of them has (all 32 bits for
     * a 3-byte prefix) */
    uint64_t *tri;
    int32_t head1[256]; /* 1-byte prefixes */
    uint32_t *start;    /* CSR: entries of 2-byte key k are cv[start[k] .. start[k+1]) */
    entry *cv;
    /* the runs of cv sharing their first 3 bytes (3-byte prefixes) and their
     * first 4 (longer ones), by those bytes: open addressing, 2^bits slots */
    span *s3, *s4;
    span5 *s5; /* the longer entries of the 4-byte runs, by fifth byte */
    unsigned b3, b4, b5;
    entry *v;
    size_t n;
} table;

struct al_litset {
    table t[3]; /* [0] raw rules, [1] normalised rules, [2] both (AL_LITSET_BOTH) */
    int avx2;   /* the scan takes scan_avx2 (set at build when the CPU has AVX2, BMI1, BMI2) */
};

/* ASCII lowercase of every byte (a constant: engines are built concurrently) */
static const unsigned char lowtab[256] = {
    0,   1,   2,   3,   4,   5,   6,   7,   8,   9,   10,  11,  12,  13,  14,  15,  16,  17,  18,
    19,  20,  21,  22,  23,  24,  25,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,
    38,  39,  40,  41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51,  52,  53,  54,  55,  56,
    57,  58,  59,  60,  61,  62,  63,  64,  97,  98,  99,  100, 101, 102, 103, 104, 105, 106, 107,
    108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 91,  92,  93,  94,
    95,  96,  97,  98,  99,  100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113,
    114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131, 132,
    133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144, 145, 146, 147, 148, 149, 150, 151,
    152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170,
    171, 172, 173, 174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189,
    190, 191, 192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208,
    209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223, 224, 225, 226, 227,
    228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246,
    247, 248, 249, 250, 251, 252, 253, 254, 255,
};

/* Within a run sharing 4 bytes: 4-byte prefixes first, then by fifth byte
 * (visit searches for the text's), then as cmp_entry. */
static int cmp_fifth(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    unsigned kx = x->n > 4 ? (unsigned char)x->s[4] + 1u : 0,
             ky = y->n > 4 ? (unsigned char)y->s[4] + 1u : 0;
    if (kx != ky) return kx < ky ? -1 : 1;
    if (x->rule != y->rule) return x->rule < y->rule ? -1 : 1;
    return strcmp(x->s, y->s);
}

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int lx = x->n > 2, ly = y->n > 2;
    if (lx != ly) return lx - ly;
    if (lx && x->c3 != y->c3) return x->c3 < y->c3 ? -1 : 1;
    unsigned kx = x->n > 3 ? (unsigned char)x->s[3] + 1u : 0,
             ky = y->n > 3 ? (unsigned char)y->s[3] + 1u : 0;
    if (lx && kx != ky) return kx < ky ? -1 : 1;
    if (x->rule != y->rule) return x->rule < y->rule ? -1 : 1;
    return strcmp(x->s, y->s);
}

/* An entry's place in cmp_entry's (fifth = 0) or cmp_fifth's order as one
 * number, ties broken by s: every field they compare before the string,
 * highest first (rule in the low 32 bits). */
typedef struct {
    uint64_t k;
    const char *s;
    uint32_t i; /* index in the run being sorted */
} sort_key;

static inline uint64_t order_key(const entry *x, int fifth)
{
    const unsigned char *s = (const unsigned char *)x->s;
    if (fifth) return (uint64_t)(x->n > 4 ? s[4] + 1u : 0) << 32 | x->rule;
    if (x->n <= 2) return x->rule;
    return (uint64_t)1 << 49 | (uint64_t)x->c3 << 41 | (uint64_t)(x->n > 3 ? s[3] + 1u : 0) << 32 |
           x->rule;
}

static inline int key_after(const sort_key *a, const sort_key *b)
{
    return a->k != b->k ? a->k > b->k : strcmp(a->s, b->s) > 0;
}

/* Sorts k[0..n) stably (merging through tmp, room for n / 2 keys), so in
 * the order glibc's qsort (a merge sort) gave the entries. */
static void sort_keys(sort_key *k, size_t n, sort_key *tmp)
{
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            sort_key x = k[i];
            size_t j = i;
            for (; j > 0 && key_after(&k[j - 1], &x); j--) k[j] = k[j - 1];
            k[j] = x;
        }
        return;
    }
    size_t h = n / 2, i = 0, j = h, o = 0;
    sort_keys(k, h, tmp);
    sort_keys(k + h, n - h, tmp);
    if (!key_after(&k[h - 1], &k[h])) return;
    memcpy(tmp, k, h * sizeof *k);
    while (i < h && j < n) k[o++] = key_after(&tmp[i], &k[j]) ? k[j++] : tmp[i++];
    while (i < h) k[o++] = tmp[i++];
}

/* Sorts v[0..n) as qsort(v, n, sizeof *v, fifth ? cmp_fifth : cmp_entry)
 * does: each entry's order_key sorted, then the entries moved once. */
static void sort_entries(entry *v, size_t n, int fifth)
{
    sort_key ks[32];
    entry es[32];
    sort_key *k = ks;
    entry *e = es;
    void *heap = NULL;
    if (n > 16) {
        heap = malloc(n * (sizeof *k * 2 + sizeof *e));
        if (!heap) {
            qsort(v, n, sizeof *v, fifth ? cmp_fifth : cmp_entry);
            return;
        }
        e = heap;
        k = (sort_key *)(void *)(e + n);
    }
    for (size_t i = 0; i < n; i++) k[i] = (sort_key){order_key(&v[i], fifth), v[i].s, (uint32_t)i};
    sort_keys(k, n, k + n);
    memcpy(e, v, n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = e[k[i].i];
    free(heap);
}

/* a[0..n) = v */
static void fill32(uint32_t *a, size_t n, uint32_t v)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i x = _mm_set1_epi32((int)v);
    for (; i + 4 <= n; i += 4) _mm_storeu_si128((__m128i *)(void *)(a + i), x);
#endif
    for (; i < n; i++) a[i] = v;
}

al_code al_litset_build(al_engine *e)
{
    al_litset *ls = calloc(1, sizeof *ls);
    if (!ls) return AL_ENOMEM;
    for (int k = 0; k < 3; k++) {
        table *t = &ls->t[k];
        size_t total = 0;
        for (size_t i = 0; i < e->n; i++)
            if (!e->rules[i].det && (k == 2 || e->rules[i].normalized == k))
                total += e->rules[i].pf.n;
        for (uint32_t q = 0; q < e->n_req; q++) total += k == 2 || e->req_norm[q] == k;
        /* bitmaps of keys (first byte high): with flags, with a 2-byte bucket */
        uint64_t *kf = calloc(2 * 1024, sizeof *kf), *kb = kf ? kf + 1024 : NULL;
        t->v = calloc(total ? total : 1, sizeof *t->v);
        t->tri = calloc((size_t)1 << TBITS, sizeof *t->tri);
        t->start = calloc(65536 + 1, sizeof *t->start); /* counts first, at key + 1 */
        if (!kf || !t->v || !t->tri || !t->start) {
            free(kf);
            al_litset_free(ls);
            return AL_ENOMEM;
        }
        memset(t->head1, 0xff, sizeof t->head1);
        /* the rules' prefixes, then the required literals (reported as rule
         * e->n + their index) */
        for (size_t i = 0; i < e->n + e->n_req; i++) {
            const al_rule *r = i < e->n ? &e->rules[i] : NULL;
            if (r ? (r->det || (k != 2 && r->normalized != k))
                  : (k != 2 && e->req_norm[i - e->n] != k))
                continue;
            size_t nlit = r ? r->pf.n : 1;
            for (size_t j = 0; j < nlit; j++) {
                const char *lit = r ? r->pf.lit[j] : e->reqs[i - e->n];
                const unsigned char *s = (const unsigned char *)lit;
                entry *en = &t->v[t->n];
                en->s = lit;
                en->n = (uint32_t)(r ? r->pf.litlen[j] : strlen(lit));
                en->rule = (uint32_t)i;
                en->wb = r && r->pf.wb && r->pf.wb[j]; /* 0 or 1 */
                int w = en->wb;
                if (en->n == 1) {
                    en->next = t->head1[s[0]];
                    t->head1[s[0]] = (int32_t)t->n;
                    for (unsigned b = 0; b < 256; b++) /* any second byte */
                        t->flags[s[0] | b << 8] |= (uint8_t)(w ? 4 : 1);
                    for (unsigned q = 0; q < 4; q++) kf[(unsigned)s[0] << 2 | q] = ~0ULL;
                } else {
                    unsigned key = (unsigned)s[0] << 8 | s[1];
                    en->next = -1; /* buckets are built from start[] */
                    t->start[key + 1]++;
                    kb[key >> 6] |= 1ULL << (key & 63);
                    kf[key >> 6] |= 1ULL << (key & 63);
                    if (en->n == 2) {
                        t->flags[s[0] | s[1] << 8] |= (uint8_t)(w ? 4 : 1);
                    } else {
                        uint32_t lw = (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16;
                        uint64_t m = en->n == 3 ? 0xFFFFFFFFu : 1u << (s[3] & 31);
                        t->tri[tri_slot(lw)] |= w ? m << 32 : m | m << 32;
                        t->flags[s[0] | s[1] << 8] |= (uint8_t)(w ? 8 : 2);
                    }
                }
                if (en->n >= 3) en->c3 = s[2];
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                if (en->n >= 12) { /* all 8 bytes: one load */
                    memcpy(&en->w8, s + 4, 8);
                    en->m8 = ~(uint64_t)0;
                } else
#endif
                    for (uint32_t b = 4; b < en->n && b < 12; b++) {
                        en->w8 |= (uint64_t)s[b] << (8 * (b - 4));
                        en->m8 |= (uint64_t)0xff << (8 * (b - 4));
                    }
                t->n++;
            }
        }
        /* the keys with flags, in order (a later pair's pshort may overwrite
         * an earlier one's case variant) */
        for (unsigned wi = 0; wi < 1024; wi++) {
            for (uint64_t bm = kf[wi]; bm; bm &= bm - 1) {
                unsigned key = wi << 6 | (unsigned)__builtin_ctzll(bm);
                unsigned le = (key & 0xff) << 8 | key >> 8;
                t->first[key >> 11] |= (uint8_t)(1u << ((key >> 8) & 7));
                unsigned f = t->flags[le] & 5, b0 = le & 0xFF, b1 = le >> 8;
                if (!f) continue;
                /* the pair in every case */
                uint8_t ps = (uint8_t)((f & 1 ? 0x40 : 0) | (f & 4 ? 0x80 : 0));
                unsigned u0 = b0 >= 'a' && b0 <= 'z' ? b0 - 32 : b0,
                         u1 = b1 >= 'a' && b1 <= 'z' ? b1 - 32 : b1;
                t->pshort[b0 | b1 << 8] = t->pshort[u0 | b1 << 8] = ps;
                t->pshort[b0 | u1 << 8] = t->pshort[u0 | u1 << 8] = ps;
            }
        }
        /* the 2-byte buckets laid out contiguously for the hot path: counts
         * summed into each bucket's end (its start when empty), then each
         * bucket filled from its end, oldest last: newest first, and its
         * end moved back to its start */
        uint32_t run = 0, next = 0; /* the starts before next are set */
        for (unsigned wi = 0; wi < 1024; wi++) {
            for (uint64_t bm = kb[wi]; bm; bm &= bm - 1) {
                unsigned key = wi << 6 | (unsigned)__builtin_ctzll(bm);
                uint32_t cnt = t->start[key + 1];
                fill32(t->start + next, key - next, run); /* empty buckets */
                run += cnt;
                t->start[key] = run;
                next = key + 1;
            }
        }
        fill32(t->start + next, 65536 + 1 - next, run);
        t->cv = malloc((t->n ? t->n : 1) * sizeof *t->cv);
        if (!t->cv) {
            free(kf);
            al_litset_free(ls);
            return AL_ENOMEM;
        }
        /* (the 1-byte prefixes' room after the buckets: zero, as calloc left it) */
        memset(t->cv + run, 0, ((t->n ? t->n : 1) - run) * sizeof *t->cv);
        for (size_t x = 0; x < t->n; x++) {
            const entry *en = &t->v[x];
            if (en->n >= 2)
                t->cv[--t->start[(unsigned char)en->s[0] << 8 | (unsigned char)en->s[1]]] = *en;
        }
        /* 2-byte prefixes first, then the longer ones by third byte, so visit
         * looks only at those whose third byte matches */
        for (unsigned wi = 0; wi < 1024; wi++) {
            for (uint64_t bm = kb[wi]; bm; bm &= bm - 1) {
                unsigned key = wi << 6 | (unsigned)__builtin_ctzll(bm);
                uint32_t lo = t->start[key], hi = t->start[key + 1];
                if (hi - lo > 1) sort_entries(t->cv + lo, hi - lo, 0);
            }
        }
        /* the 3- and 4-byte runs: counted, then hashed (at most a quarter full:
         * most look-ups miss, and a miss probes to an empty slot) */
        uint32_t nrun[3] = {0, 0, 0}; /* 3-byte, 4-byte, fifth-byte runs */
        for (int fill = 0; fill < 2; fill++) {
            if (fill) {
                t->b3 = t->b4 = t->b5 = 4;
                while ((1u << t->b3) < 4 * nrun[0]) t->b3++;
                while ((1u << t->b4) < 4 * nrun[1]) t->b4++;
                while ((1u << t->b5) < 4 * nrun[2]) t->b5++;
                t->s3 = calloc((size_t)1 << t->b3, sizeof *t->s3);
                t->s4 = calloc((size_t)1 << t->b4, sizeof *t->s4);
                t->s5 = calloc((size_t)1 << t->b5, sizeof *t->s5);
                if (!t->s3 || !t->s4 || !t->s5) {
                    free(kf);
                    al_litset_free(ls);
                    return AL_ENOMEM;
                }
            }
            for (unsigned wi = 0; wi < 1024; wi++) {
                for (uint64_t bm = kb[wi]; bm; bm &= bm - 1) {
                    unsigned key = wi << 6 | (unsigned)__builtin_ctzll(bm);
                    uint32_t x = t->start[key], end = t->start[key + 1];
                    uint32_t l3k = UINT32_MAX, l3lo = 0, l3hi = 0; /* the last 3-byte run */
                    while (x < end && t->cv[x].n <= 2) x++;
                    while (x < end) {
                        const entry *a = &t->cv[x];
                        int four = a->n > 3;
                        uint32_t y = x + 1;
                        while (y < end && t->cv[y].c3 == a->c3 && (t->cv[y].n > 3) == four &&
                               (!four || t->cv[y].s[3] == a->s[3]))
                            y++;
                        uint32_t k3 = key << 8 | a->c3;
                        if (!fill && four && y - x > 1) sort_entries(t->cv + x, y - x, 1);
                        uint32_t mid = x, m5 = 0;
                        while (mid < y && t->cv[mid].n == 4) mid++;
                        for (uint32_t g = mid; fill && four && g < y; g++)
                            m5 |= 1u << ((unsigned char)t->cv[g].s[4] & 31);
                        uint32_t k4 = k3 << 8 | (unsigned char)a->s[3];
                        if (!four) l3k = k3, l3lo = x, l3hi = y; /* before k3's longer runs */
                        const int with3 = four && l3k == k3;
                        const span sv = {.key = four ? k4 : k3,
                                         .lo = x,
                                         .mid = four ? mid : y,
                                         .hi = y,
                                         .m5 = m5,
                                         .lo3 = with3 ? l3lo : 0,
                                         .hi3 = with3 ? l3hi : 0};
                        if (fill)
                            span_put(four ? t->s4 : t->s3, four ? t->b4 : t->b3, &sv);
                        else
                            nrun[four]++;
                        /* the longer entries, sorted by fifth byte: one run each */
                        for (uint32_t g = mid; four && g < y;) {
                            unsigned c5 = (unsigned char)t->cv[g].s[4];
                            uint32_t h = g + 1;
                            while (h < y && (unsigned char)t->cv[h].s[4] == c5) h++;
                            uint32_t m6 = 0;
                            for (uint32_t e6 = g; fill && e6 < h; e6++)
                                m6 |= t->cv[e6].n > 5 ? 1u << ((unsigned char)t->cv[e6].s[5] & 31)
                                                      : 0xFFFFFFFFu;
                            if (fill)
                                span5_put(t->s5, t->b5, (uint64_t)k4 << 8 | c5, g, h, m6);
                            else
                                nrun[2]++;
                            g = h;
                        }
                        x = y;
                    }
                }
            }
        }
        free(kf);
    }
#ifdef LIT_AVX2
    ls->avx2 = al_cpu_avx2_bmi();
#endif
    e->lits = ls;
    return AL_OK;
}

/* For tests: whether the scan may take its AVX2 hot loop (on: only when the
 * CPU has AVX2, BMI1 and BMI2); returns whether it will. */
int al_litset_simd(al_litset *ls, int on)
{
    ls->avx2 = 0;
#ifdef LIT_AVX2
    ls->avx2 = on && al_cpu_avx2_bmi();
#endif
    return ls->avx2;
}

void al_litset_free(al_litset *ls)
{
    if (!ls) return;
    for (int k = 0; k < 3; k++) {
        free(ls->t[k].v);
        free(ls->t[k].start);
        free(ls->t[k].cv);
        free(ls->t[k].s3);
        free(ls->t[k].s4);
        free(ls->t[k].s5);
        free(ls->t[k].tri);
    }
    free(ls);
}

/* Word bytes for \b (ASCII; a non-ASCII byte counts as a boundary, which
 * is the weaker claim whether or not a rule uses Unicode \w). */
static inline int wordbyte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* What the byte before an offset allows: 0x40 (short prefixes that may
 * start anywhere, as pshort) after a word byte; after any other byte also
 * 0x80 (those that only start a word) and 32 (the high half of a trigram
 * slot: longer prefixes of both kinds). */
#define WS_ROW(c)                                                                                  \
    ((((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9') ||    \
      (c) == '_')                                                                                  \
         ? 0x40                                                                                    \
         : 0xE0)
static const uint8_t wsmask[256] = {
#define R4(c) WS_ROW(c), WS_ROW(c + 1), WS_ROW(c + 2), WS_ROW(c + 3)
#define R16(c) R4(c), R4(c + 4), R4(c + 8), R4(c + 12)
    R16(0),   R16(16),  R16(32),  R16(48),  R16(64),  R16(80),  R16(96),  R16(112),
    R16(128), R16(144), R16(160), R16(176), R16(192), R16(208), R16(224), R16(240),
#undef R16
#undef R4
};
#undef WS_ROW

/* ASCII lowercase of 8 bytes at once (A-Z only, as lowtab): a byte's high
 * bit marks it >= 'A' after adding 0x3f and > 'Z' after adding 0x25 (no
 * carry leaves a byte: its low 7 bits are added). */
static inline uint64_t lower8(uint64_t x)
{
    const uint64_t h = x & 0x7f7f7f7f7f7f7f7fULL;
    const uint64_t up =
        (h + 0x3f3f3f3f3f3f3f3fULL) & ~(h + 0x2525252525252525ULL) & ~x & 0x8080808080808080ULL;
    return x | (up >> 2);
}

/* What visit looks for: prefixes of 1 or 2 bytes, of 3 or more (the bits
 * of the hot loop's pass byte that tell which may be there). */
#define V_SHORT 0xC0u
#define V_LONGER 1u
#define V_ALL (V_SHORT | V_LONGER)

/* The 4 bytes at p lowercased (as lowtab), the first in the high byte. */
static inline uint32_t key4(const unsigned char *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    const uint32_t h = x & 0x7f7f7f7fu;
    const uint32_t up = (h + 0x3f3f3f3fu) & ~(h + 0x25252525u) & ~x & 0x80808080u;
    return __builtin_bswap32(x | (up >> 2));
}

/* Reports the prefixes starting at offset i, of the lengths want says;
 * 1 when fn asked to stop.  ws: offset i starts a word (word-start-only
 * prefixes may match); four: i + 4 <= len, and key is key4(s + i) (else
 * the 2 bytes at i lowercased, the first high). */
static inline __attribute__((always_inline)) int visit_at(const table *t, const unsigned char *s,
                                                          size_t len, size_t i, unsigned key,
                                                          int ws, unsigned want, int four,
                                                          al_lit_hit_fn fn, void *ud)
{
    const uint32_t k4 = key;
    if (four) key >>= 16;
    if (want & V_SHORT) {
        for (int32_t x = t->head1[key >> 8]; x >= 0; x = t->v[x].next)
            if ((ws || !t->v[x].wb) && fn(ud, t->v[x].rule, i)) return 1;
        uint32_t x = t->start[key], end = t->start[key + 1];
        for (; x < end && t->cv[x].n <= 2; x++) { /* 2-byte prefixes */
            const entry *en = &t->cv[x];
            if ((en->wb && !ws) || i + 2 > len) continue;
            if (fn(ud, en->rule, i)) return 1;
        }
    }
    if ((!four && i + 2 >= len) || !(want & V_LONGER)) return 0;
    /* longer prefixes: the run sharing the text's next 3 bytes (3-byte
     * prefixes), then the run sharing its next 4; with 4 bytes in the text,
     * the 4-byte run's span names the 3-byte run too (when there is one,
     * a single look-up) */
    uint32_t k3 = four ? k4 >> 8 : key << 8 | lowtab[s[i + 2]];
    const span *sp = four ? span_get(t->s4, t->b4, k4) : NULL;
    uint32_t lo3 = 0, hi3 = 0;
    if (sp) {
        lo3 = sp->lo3;
        hi3 = sp->hi3;
    } else {
        const span *s3 = span_get(t->s3, t->b3, k3);
        if (s3) lo3 = s3->lo, hi3 = s3->hi;
    }
    for (uint32_t x = lo3; x < hi3; x++) {
        const entry *en = &t->cv[x];
        if (en->wb && !ws) continue;
        if (fn(ud, en->rule, i)) return 1;
    }
    if (!four && i + 3 >= len) return 0;
    const uint32_t key4v = four ? k4 : k3 << 8 | lowtab[s[i + 3]];
    if (!four) sp = span_get(t->s4, t->b4, key4v);
    if (!sp) return 0;
    uint32_t x;
    if (i + 12 <= len) {                     /* bytes 4..11 compared at once, lowercased */
        for (x = sp->lo; x < sp->mid; x++) { /* 4-byte prefixes */
            const entry *en = &t->cv[x];
            if (en->wb && !ws) continue;
            if (fn(ud, en->rule, i)) return 1;
        }
        /* longer ones: those with the text's fifth byte (the low byte of w);
         * none when m5 lacks its low 5 bits (also when there are no longer
         * ones; lowercasing keeps a byte's low 5 bits) */
        if (!((sp->m5 >> (s[i + 4] & 31)) & 1)) return 0;
        uint64_t w;
        memcpy(&w, s + i + 4, 8);
        w = lower8(w);
        const span5 *f = span5_get(t->s5, t->b5, (uint64_t)key4v << 8 | (unsigned)(w & 0xff));
        if (!f || !((f->m6 >> ((w >> 8) & 31)) & 1)) return 0;
        for (const entry *en = t->cv + f->lo, *const last = t->cv + f->hi; en < last; en++) {
            if (en->wb > ws || ((w ^ en->w8) & en->m8)) continue; /* wb, ws: 0 or 1 */
            if (en->n > 12) {
                if (i + en->n > len) continue;
                uint32_t k = 12;
                while (k < en->n && lowtab[s[i + k]] == (unsigned char)en->s[k]) k++;
                if (k < en->n) continue;
            }
            if (fn(ud, en->rule, i)) return 1;
        }
        return 0;
    }
    for (x = sp->lo; x < sp->hi; x++) { /* near the end of the text */
        const entry *en = &t->cv[x];
        if ((en->wb && !ws) || i + en->n > len) continue;
        uint32_t k = 4;
        while (k < en->n && lowtab[s[i + k]] == (unsigned char)en->s[k]) k++;
        if (k < en->n) continue;
        if (fn(ud, en->rule, i)) return 1;
    }
    return 0;
}

/* visit_at, out of line: for the offsets outside the hot loop */
static int visit(const table *t, const unsigned char *s, size_t len, size_t i, unsigned key, int ws,
                 unsigned want, al_lit_hit_fn fn, void *ud)
{
    return visit_at(t, s, len, i, key, ws, want, 0, fn, ud);
}

#define BIT(m, k) ((m)[(k) >> 3] & (1u << ((k)&7)))

int al_litset_may_begin(const al_litset *ls, int normalized, const unsigned char *s, size_t n)
{
    if (!ls || n == 0) return 1;
    const table *t = &ls->t[normalized ? 1 : 0];
    unsigned c0 = lowtab[s[0]];
    if (t->head1[c0] >= 0) return 1; /* a 1-byte prefix */
    if (n == 1) return (t->first[c0 >> 3] >> (c0 & 7)) & 1;
    return t->flags[c0 | (unsigned)lowtab[s[1]] << 8] != 0;
}

/* Offsets per block of the hot loop. */
#define BLK 16

/* c[j] = (p[j + 3] & 31) | wsmask[p[j - 1]] for j < BLK: the fourth byte's
 * bit in a trigram slot and the slot's half (bits 0-5: a shift count), and
 * the short prefixes allowed after the byte before (bits 6-7). */
static inline void block_shifts(uint8_t *c, const unsigned char *p)
{
#ifdef __SSE2__
    const __m128i prev = _mm_loadu_si128((const __m128i *)(const void *)(p - 1));
    const __m128i fourth = _mm_loadu_si128((const __m128i *)(const void *)(p + 3));
    /* word bytes: a letter of either case, a digit, '_' */
    const __m128i al = _mm_sub_epi8(_mm_or_si128(prev, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
    const __m128i dg = _mm_sub_epi8(prev, _mm_set1_epi8('0'));
    __m128i word = _mm_cmpeq_epi8(_mm_min_epu8(al, _mm_set1_epi8(25)), al);
    word = _mm_or_si128(word, _mm_cmpeq_epi8(_mm_min_epu8(dg, _mm_set1_epi8(9)), dg));
    word = _mm_or_si128(word, _mm_cmpeq_epi8(prev, _mm_set1_epi8('_')));
    __m128i x = _mm_and_si128(fourth, _mm_set1_epi8(31));
    x = _mm_or_si128(x, _mm_set1_epi8(0x40));
    x = _mm_or_si128(x, _mm_andnot_si128(word, _mm_set1_epi8((char)0xA0)));
    _mm_storeu_si128((__m128i *)(void *)c, x);
#else
    for (int j = 0; j < BLK; j++) c[j] = (uint8_t)((p[j + 3] & 31u) | wsmask[p[j - 1]]);
#endif
}

/* Bit j set when v[j] != 0, for j < BLK. */
static inline unsigned block_nonzero(const uint8_t *v)
{
#ifdef __SSE2__
    const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)v);
    return ~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_setzero_si128())) & 0xFFFFu;
#else
    unsigned m = 0;
    for (int j = 0; j < BLK; j++) m |= (unsigned)(v[j] != 0) << j;
    return m;
#endif
}

#ifdef LIT_AVX2
/* Blocks of 32 offsets that scan_avx2 tests before it visits any. */
#define AVX_CHUNK 8

/* The pass bytes of the 32 offsets from p (p[-1 .. 40) readable) into
 * p8, their block_shifts into c8; returns the mask of the offsets that
 * pass.  Each offset's trigram slot half (a 32-bit word of tri) and pshort
 * byte are read by two gathers per 8 offsets instead of 16 scalar look-ups. */
static inline __attribute__((always_inline, target("avx2,bmi,bmi2"))) uint32_t
block_avx2(const table *t, const unsigned char *p, uint8_t *c8, uint8_t *p8)
{
    /* per 32-bit lane j of 8: the text's 4 bytes from offset j (little-endian) */
    const __m256i quad = _mm256_setr_epi8(0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6, 4, 5, 6,
                                          7, 5, 6, 7, 8, 6, 7, 8, 9, 7, 8, 9, 10);
    const __m256i fold = _mm256_set1_epi32(0x20202020),
                  mul = _mm256_set1_epi32((int)(0x9E3779B1u << 8));
    const __m256i even = _mm256_set1_epi32(~1), low5 = _mm256_set1_epi32(31),
                  one = _mm256_set1_epi32(1), pair = _mm256_set1_epi32(0xFFFF);
    /* the 4 vectors' pass words, packed to bytes, back in offset order */
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const int *tri32 = (const int *)(const void *)t->tri; /* slot k's halves: words 2k, 2k + 1 */
    const int *ps = (const int *)(const void *)t->pshort; /* read 3 bytes past: still in t */
    /* block_shifts for 32 offsets: a word byte (A-Z a-z 0-9 _) by its two
     * nibbles' bits (high nibble 3: 0-9; 4 and 6: 1-15; 5 and 7: 0-10, and
     * 15 for '_' after 5), then the short-prefix bits and the half bit (5) */
    const __m256i lut_lo = _mm256_setr_epi8(5, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 2, 2, 2, 2, 10, 5, 7,
                                            7, 7, 7, 7, 7, 7, 7, 7, 6, 2, 2, 2, 2, 10);
    const __m256i lut_hi = _mm256_setr_epi8(0, 0, 0, 1, 2, 12, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                            0, 1, 2, 12, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i nib = _mm256_set1_epi8(0x0f);
    const __m256i prev = _mm256_loadu_si256((const __m256i *)(const void *)(p - 1));
    const __m256i fourth = _mm256_loadu_si256((const __m256i *)(const void *)(p + 3));
    const __m256i wk = _mm256_and_si256(
        _mm256_shuffle_epi8(lut_lo, _mm256_and_si256(prev, nib)),
        _mm256_shuffle_epi8(lut_hi, _mm256_and_si256(_mm256_srli_epi16(prev, 4), nib)));
    const __m256i nonword = _mm256_cmpeq_epi8(wk, _mm256_setzero_si256());
    const __m256i x = _mm256_or_si256(
        _mm256_and_si256(fourth, _mm256_set1_epi8(31)),
        _mm256_blendv_epi8(_mm256_set1_epi8(0x40), _mm256_set1_epi8((char)0xE0), nonword));
    _mm256_storeu_si256((__m256i *)(void *)c8, x);
    /* offsets 8g .. 8g + 7 in the low 8 bytes (cvtepu8 reads no more; no
     * 64-bit load that would need a vmovq, which valgrind 3.19 cannot run) */
    const __m128i xs[4] = {_mm256_castsi256_si128(x), _mm_srli_si128(_mm256_castsi256_si128(x), 8),
                           _mm256_extracti128_si256(x, 1),
                           _mm_srli_si128(_mm256_extracti128_si256(x, 1), 8)};
    __m256i pass[4];
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        const __m256i u = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(
                                                  (const __m128i *)(const void *)(p + 8 * g))),
                                              quad);
        const __m256i c = _mm256_cvtepu8_epi32(xs[g]);
        const __m256i h = _mm256_and_si256(_mm256_srli_epi32(c, 5), one); /* a word starts */
        /* tri_slot(u) * 2 + the half bit 5 of c names */
        __m256i ix = _mm256_mullo_epi32(_mm256_or_si256(u, fold), mul);
        ix = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(ix, 31 - TBITS), even), h);
        __m256i tb = _mm256_i32gather_epi32(tri32, ix, 4);
        tb = _mm256_and_si256(_mm256_srlv_epi32(tb, _mm256_and_si256(c, low5)), one);
        __m256i sb = _mm256_i32gather_epi32(ps, _mm256_and_si256(u, pair), 1);
        pass[g] = _mm256_or_si256(tb, _mm256_and_si256(sb, c)); /* at most 0xFF */
    }
    __m256i pk = _mm256_packus_epi16(_mm256_packus_epi32(pass[0], pass[1]),
                                     _mm256_packus_epi32(pass[2], pass[3]));
    pk = _mm256_permutevar8x32_epi32(pk, order);
    _mm256_storeu_si256((__m256i *)(void *)p8, pk);
    return ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(pk, _mm256_setzero_si256()));
}

/* The hot loop 32 offsets at a time (ls->avx2), from offset i >= 1: the
 * same pass bytes as the 16-offset loop (block_avx2).  While a block's
 * bytes and the 8 after it are in the text, up to AVX_CHUNK blocks are
 * tested, then visited in order (no call between the tests: the vector
 * constants stay in registers); the visits, inlined here, take BMI's
 * three-operand shifts.  The last offsets with 4 bytes (at least 12 of
 * them) are tested on a zero-padded copy of the text's end, only those
 * offsets kept.  Returns the offset it stopped at, or (size_t)-1 when fn
 * asked to stop. */
__attribute__((target("avx2,bmi,bmi2"))) static size_t
scan_avx2(const table *t, const unsigned char *s, size_t len, size_t i, al_lit_hit_fn fn, void *ud)
{
    uint8_t cb[AVX_CHUNK * 32], pb[AVX_CHUNK * 32];
    uint32_t masks[AVX_CHUNK];
    while (i + 40 <= len) {
        size_t nb = 0;
        for (; nb < AVX_CHUNK && i + 32 * nb + 40 <= len; nb++)
            masks[nb] = block_avx2(t, s + i + 32 * nb, cb + 32 * nb, pb + 32 * nb);
        for (size_t k = 0; k < nb; k++, i += 32) {
            const unsigned char *p = s + i;
            const uint8_t *c8 = cb + 32 * k, *p8 = pb + 32 * k;
            for (uint32_t mask = masks[k]; mask; mask &= mask - 1) {
                int j = __builtin_ctz(mask);
                if (visit_at(t, s, len, i + (size_t)j, key4(p + j), (c8[j] >> 5) & 1, p8[j], 1, fn,
                             ud))
                    return (size_t)-1;
            }
        }
    }
    /* the rest: at most 36 offsets with 4 bytes (end = len - 3) */
    const size_t end = len - 3;
    while (i + 12 <= end) {
        unsigned char pad[1 + 32 + 8 + 8]; /* bytes i - 1 .. i + 40, zeros past the text */
        size_t have = len - (i - 1) < sizeof pad ? len - (i - 1) : sizeof pad;
        memcpy(pad, s + i - 1, have);
        memset(pad + have, 0, sizeof pad - have);
        uint32_t mask = block_avx2(t, pad + 1, cb, pb);
        if (end - i < 32) mask &= (1u << (end - i)) - 1; /* offsets before end only */
        const unsigned char *p = s + i;
        for (; mask; mask &= mask - 1) {
            int j = __builtin_ctz(mask);
            if (visit_at(t, s, len, i + (size_t)j, key4(p + j), (cb[j] >> 5) & 1, pb[j], 1, fn, ud))
                return (size_t)-1;
        }
        i += end - i < 32 ? end - i : 32;
    }
    return i;
}
#endif

void al_litset_scan(const al_litset *ls, int normalized, const char *text, size_t len,
                    al_lit_hit_fn fn, void *ud)
{
    if (!ls || len == 0) return;
    const table *t = &ls->t[normalized == AL_LITSET_BOTH ? 2 : normalized ? 1 : 0];
    if (!t->n) return;
    const unsigned char *s = (const unsigned char *)text;
    /* the hot loop: 16 offsets at a time without a branch, each passing
     * when a 1- or 2-byte prefix may start at its pair (pshort) or a longer
     * one with its first 3 bytes (the trigram's slot) and the low 5 bits of
     * its fourth (a bit of the slot), the byte before saying whether
     * prefixes that only start a word count; then visit() at the offsets
     * that passed (in prose 3% for raw rules, 11% for normalised ones), in
     * order.  The text is read as it is: both tables take any case.  With
     * AVX2 (ls->avx2) scan_avx2 takes the blocks first, 32 offsets at a time. */
    size_t end = len >= 3 ? len - 3 : 0; /* offsets before end have 4 bytes */
    size_t i = 0;
    if (end) { /* offset 0: no byte before it (a word starts) */
        unsigned c0 = lowtab[s[0]], c1 = lowtab[s[1]];
        if ((t->head1[c0] >= 0 || t->flags[c0 | c1 << 8]) &&
            visit(t, s, len, 0, c0 << 8 | c1, 1, V_ALL, fn, ud))
            return;
        i = 1;
    }
#ifdef LIT_AVX2
    if (ls->avx2 && i && (i = scan_avx2(t, s, len, i, fn, ud)) == (size_t)-1) return;
#endif
    const uint8_t *pshort = t->pshort;
    const uint64_t *tri = t->tri;
    uint8_t cb[BLK], pb[BLK];
    for (; i < end; i += BLK) {
        const unsigned char *p = s + i;
        unsigned mask;
        if (end - i >= BLK) {
            block_shifts(cb, p);
            /* per offset, branch-free: its pass byte (bit 0: a longer
             * prefix's slot bit; bits 6-7: a short prefix's) */
#pragma GCC unroll 16
            for (int j = 0; j < BLK; j++) {
                uint32_t u; /* the 4 bytes from i + j */
                uint16_t pr;
                memcpy(&u, p + j, 4);
                memcpy(&pr, p + j, 2);
                unsigned c = cb[j];
                pb[j] =
                    (uint8_t)(((unsigned)(tri[tri_slot(u)] >> (c & 63u)) & 1u) | (pshort[pr] & c));
            }
            mask = block_nonzero(pb);
        } else { /* the last few offsets with 4 bytes */
            mask = 0;
            for (size_t j = 0; j < end - i; j++) {
                uint32_t u;
                memcpy(&u, p + j, 4);
                unsigned c = cb[j] =
                    (uint8_t)((p[j + 3] & 31u) | wsmask[s[i + j - 1]]); /* i >= 1 */
                pb[j] = (uint8_t)(((unsigned)(tri[tri_slot(u)] >> (c & 63u)) & 1u) |
                                  (pshort[p[j] | p[j + 1] << 8] & c));
                mask |= (unsigned)(pb[j] != 0) << j;
            }
        }
        for (; mask; mask &= mask - 1) {
            int j = __builtin_ctz(mask);
            unsigned want = pb[j];     /* V_SHORT, V_LONGER */
            int ws = (cb[j] >> 5) & 1; /* a word starts at i + j */
            if (visit_at(t, s, len, i + (size_t)j, key4(p + j), ws, want, 1, fn, ud)) return;
        }
    }
    for (i = end; i < len; i++) { /* the last offsets: fewer than 4 bytes */
        unsigned c0 = lowtab[s[i]], c1 = i + 1 < len ? lowtab[s[i + 1]] : 0;
        /* only prefixes that end in the text are reported: none starts
         * here without a 1-byte one of c0 or one starting with c0 c1 */
        if (t->head1[c0] < 0 && (i + 1 == len || !t->flags[c0 | c1 << 8])) continue;
        int ws = i == 0 || !wordbyte(s[i - 1]);
        if (visit(t, s, len, i, c0 << 8 | c1, ws, V_ALL, fn, ud)) return;
    }
}

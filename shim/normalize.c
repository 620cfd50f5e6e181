/* normalize.c: the one folding of text that injection/jailbreak rules and
 * the classifier match against (invisible characters dropped, homoglyphs and
 * fullwidth forms folded, lowercased, whitespace collapsed, JSON escapes
 * decoded: \n, \r and \t read as whitespace, \uXXXX as its character),
 * with a map back
 * to input offsets; and the lighter copy the pattern rules read when a text
 * holds invisible characters (those dropped, nothing else changed).  Pure;
 * never reads past len, never fails on bad UTF-8. */
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "normalize.h"

enum { K_COPY = 0, K_SPACE = 1, K_DROP = 2, K_ESC = 3 };

/* ASCII: lowercase letters, whitespace to K_SPACE, other C0 controls
 * dropped, a backslash K_ESC (see norm_core); ascii_low is each byte's
 * output (whitespace: a space). */
static unsigned char ascii_kind[128], ascii_low[128];

static void init_tables(void)
{
    for (int c = 0; c < 128; c++) { /* each byte stored once, its final value */
        unsigned char kind = K_COPY, low = (unsigned char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        if (c < 0x20 || c == 0x7f) kind = K_DROP;
        if (c == '\\') kind = K_ESC;
        if (c == ' ' || (c >= '\t' && c <= '\r')) {
            kind = K_SPACE;
            low = ' ';
        }
        ascii_kind[c] = kind;
        ascii_low[c] = low;
    }
}

static inline int is_invisible(uint32_t cp)
{
    return cp == 0x00AD || cp == 0x034F || cp == 0x061C || cp == 0x115F || cp == 0x1160 ||
           cp == 0x17B4 || cp == 0x17B5 || cp == 0x180E || (cp >= 0x200B && cp <= 0x200F) ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F) || cp == 0x3164 ||
           cp == 0xFEFF || cp == 0xFFA0 || (cp >= 0xFE00 && cp <= 0xFE0F) ||
           (cp >= 0xE0000 && cp <= 0xE007F) || (cp >= 0xE0100 && cp <= 0xE01EF) ||
           (cp >= 0x1D173 && cp <= 0x1D17A);
}

static inline int is_space(uint32_t cp)
{
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Cyrillic and Greek letters that look like ASCII letters (lowercase result). */
static int homoglyph(uint32_t cp)
{
    static const struct {
        uint16_t cp;
        char c;
    } t[] = {
        {0x0391, 'a'}, {0x0392, 'b'}, {0x0395, 'e'}, {0x0396, 'z'}, {0x0397, 'h'}, {0x0399, 'i'},
        {0x039A, 'k'}, {0x039C, 'm'}, {0x039D, 'n'}, {0x039F, 'o'}, {0x03A1, 'p'}, {0x03A4, 't'},
        {0x03A5, 'y'}, {0x03A7, 'x'}, {0x03B1, 'a'}, {0x03B5, 'e'}, {0x03B9, 'i'}, {0x03BA, 'k'},
        {0x03BD, 'v'}, {0x03BF, 'o'}, {0x03C1, 'p'}, {0x03C4, 't'}, {0x03C5, 'u'}, {0x03C7, 'x'},
        {0x0405, 's'}, {0x0406, 'i'}, {0x0408, 'j'}, {0x0410, 'a'}, {0x0412, 'b'}, {0x0415, 'e'},
        {0x041A, 'k'}, {0x041C, 'm'}, {0x041D, 'h'}, {0x041E, 'o'}, {0x0420, 'p'}, {0x0421, 'c'},
        {0x0422, 't'}, {0x0423, 'y'}, {0x0425, 'x'}, {0x0430, 'a'}, {0x0435, 'e'}, {0x043E, 'o'},
        {0x0440, 'p'}, {0x0441, 'c'}, {0x0443, 'y'}, {0x0445, 'x'}, {0x0455, 's'}, {0x0456, 'i'},
        {0x0458, 'j'}, {0x04BB, 'h'}, {0x0501, 'd'}, {0x051B, 'q'}, {0x051D, 'w'}, {0x0261, 'g'},
        {0x0269, 'i'}, {0x026A, 'i'}, {0x1D00, 'a'}, {0x0432, 'b'}, {0x043A, 'k'}, {0x043C, 'm'},
        {0x043D, 'h'}, {0x0442, 't'},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].cp == cp) return t[i].c;
    return 0;
}

/* ASCII letter/digit a code point stands for, or 0. */
static int fold_ascii(uint32_t cp)
{
    if (cp >= 0xFF01 && cp <= 0xFF5E) { /* fullwidth forms */
        int c = (int)(cp - 0xFF01 + 0x21);
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    }
    if (cp >= 0x1D400 && cp <= 0x1D6A3) { /* mathematical alphanumeric letters */
        int k = (int)((cp - 0x1D400) % 52);
        return k < 26 ? 'a' + k : 'a' + (k - 26);
    }
    if (cp >= 0x1D7CE && cp <= 0x1D7FF) return '0' + (int)((cp - 0x1D7CE) % 10);
    if (cp >= 0x24B6 && cp <= 0x24CF) return 'a' + (int)(cp - 0x24B6);    /* circled capitals */
    if (cp >= 0x24D0 && cp <= 0x24E9) return 'a' + (int)(cp - 0x24D0);    /* circled small */
    if (cp >= 0x1F130 && cp <= 0x1F149) return 'a' + (int)(cp - 0x1F130); /* squared */
    if (cp >= 0x1F170 && cp <= 0x1F189) return 'a' + (int)(cp - 0x1F170); /* neg. squared */
    if (cp >= 0x1F1E6 && cp <= 0x1F1FF) return 'a' + (int)(cp - 0x1F1E6); /* regional ind. */
    if (cp == 0x212A) return 'k';                                         /* Kelvin sign */
    if (cp == 0x017F) return 's';                                         /* long s */
    if (cp >= 0x0370 && cp <= 0x052F) return homoglyph(cp);
    if (cp == 0x0261 || cp == 0x0269 || cp == 0x026A || cp == 0x1D00) return homoglyph(cp);
    return 0;
}

/* Decodes one UTF-8 character at s (n bytes available); returns its length,
 * or 0 when the byte does not start a valid sequence. */
static size_t decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0xC2 || c > 0xF4) return 0;
    if (c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80) return 0;
        *cp = ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0;
        if (c == 0xED && s[1] > 0x9F) return 0;
        *cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
    if (c == 0xF0 && s[1] < 0x90) return 0;
    if (c == 0xF4 && s[1] > 0x8F) return 0;
    *cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
          ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return 4;
}

/* The next character at s[*j] as the normaliser folds it (ASCII
 * lowercased, whitespace a space, fullwidth and look-alike letters their
 * ASCII letter, else 0), passing over the control and invisible characters
 * it drops (counted in *inv); -1 at the end or an invalid byte. */
static int folded_at(const unsigned char *s, size_t len, size_t *j, size_t *inv)
{
    while (*j < len) {
        unsigned char c = s[*j];
        if (c < 0x80) {
            ++*j;
            if (ascii_kind[c] == K_DROP) continue;
            return ascii_low[c];
        }
        uint32_t cp = 0;
        size_t m = decode(s + *j, len - *j, &cp);
        if (m == 0) return -1;
        *j += m;
        if (is_invisible(cp)) {
            ++*inv;
            continue;
        }
        return fold_ascii(cp);
    }
    return -1;
}

/* Four hex digits (as folded_at reads them) at s[*j] into *v. */
static int hex4_at(const unsigned char *s, size_t len, size_t *j, size_t *inv, uint32_t *v)
{
    uint32_t x = 0;
    for (int d = 0; d < 4; d++) {
        int c = folded_at(s, len, j, inv);
        if (c >= '0' && c <= '9')
            x = x * 16 + (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x = x * 16 + (uint32_t)(c - 'a' + 10);
        else
            return 0;
    }
    *v = x;
    return 1;
}

/* What a run of backslashes starting with the one of n bytes at s[i] stands
 * for, as a JSON string inside the text (a tool result, an API reply) would
 * be read: a \uXXXX escape (a surrogate pair as one character), \n, \r,
 * \t, \f, \b, \", \/; a run of several backslashes before a u, n, r or t
 * is the same escape encoded more than once ("\\u0049" in JSON inside
 * JSON), before b, f, " or / only an odd run escapes it.  The characters
 * are read as folded_at reads them, so no escape is left in the output
 * and normalising again changes nothing (unless an escape that decodes to
 * nothing, "\u200b", joined the pieces of another).  Sets *cp to the
 * character, or to '\\' when the run escapes nothing (*two: an even run
 * before b, f, " or / that stays two backslashes; *last: where the run's
 * last backslash starts); returns the input offset past what was read.
 * *inv counts the invisible characters passed over. */
__attribute__((noinline)) static size_t esc_read(const unsigned char *s, size_t len, size_t i,
                                                 size_t n, uint32_t *cp, int *two, size_t *last,
                                                 size_t *inv)
{
    size_t j = i + n, end = j, iv = 0, iv_end = 0, run = 1;
    *two = 0;
    *last = i;
    for (;;) {
        size_t at = j;
        int c = folded_at(s, len, &j, &iv);
        uint32_t v = 0;
        switch (c) {
        case '\\':
            *last = at;
            end = j;
            iv_end = iv;
            run++;
            continue;
        case 'n':
            v = '\n';
            break;
        case 'r':
            v = '\r';
            break;
        case 't':
            v = '\t';
            break;
        case 'f':
        case 'b':
        case '"':
        case '/':
            if (!(run & 1)) {
                *two = 1;
                goto none;
            }
            v = c == 'f' ? '\f' : c == 'b' ? '\b' : (uint32_t)c;
            break;
        case 'u':
            if (!hex4_at(s, len, &j, &iv, &v)) goto none;
            if (v == '\\' || v == 0xFF3C) { /* \u005c, \uff3c: one more of the run */
                *last = at;
                end = j;
                iv_end = iv;
                run++;
                continue;
            }
            if (v >= 0xDC00 && v <= 0xDFFF) goto none; /* a lone low surrogate */
            if (v >= 0xD800 && v <= 0xDBFF) {
                /* a high surrogate: the low one must follow as an escape */
                uint32_t lo = 0;
                size_t bs = 0;
                int b;
                while ((b = folded_at(s, len, &j, &iv)) == '\\') bs++;
                if (!bs || b != 'u' || !hex4_at(s, len, &j, &iv, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    goto none;
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
            }
            break;
        default:
            goto none;
        }
        *cp = v;
        *inv += iv;
        return j;
    none:
        *cp = '\\';
        *inv += iv_end;
        return end;
    }
}

/* Where output bytes come from: either a full map (one offset per output
 * byte) or segments (a new one wherever the input offset is not the
 * previous one plus 1). */
typedef struct {
    size_t *full;
    al_nmap *seg;
    size_t expect; /* input offset that continues the current segment */
    int nomem;
} sink;

static inline void note_src(sink *sk, size_t k, size_t p)
{
    if (sk->full) sk->full[k] = p;
    if (sk->seg && (k == 0 || p != sk->expect)) {
        al_nmap *m = sk->seg;
        if (m->n == m->cap) {
            size_t cap = m->cap ? m->cap * 2 : 64;
            al_nseg *v = realloc(m->v, cap * sizeof *v);
            if (!v) {
                sk->nomem = 1;
                return;
            }
            m->v = v;
            m->cap = cap;
        }
        m->v[m->n++] = (al_nseg){k, p};
    }
    sk->expect = p + 1;
}

static al_code norm_core(const char *in, size_t len, al_buf *out, sink *sk, size_t *n_invisible)
{
    static int ready;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        init_tables(); /* idempotent; racing initialisers write the same bytes */
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    if (n_invisible) *n_invisible = 0;
    if (!out || (!in && len)) return AL_EINVAL;
    if (al_buf_reserve(out, len) != AL_OK) return AL_ENOMEM;
    size_t base = out->len;
    const unsigned char *s = (const unsigned char *)in;
    unsigned char *o = (unsigned char *)out->data + base;
    size_t k = 0, inv = 0;
    int space = 0;
    int track = sk->full || sk->seg;
#define SRC(p)                                                                                     \
    do {                                                                                           \
        if (track) note_src(sk, k, (p));                                                           \
    } while (0)
/* one space for a run of spacing, noted at source offset p */
#define SPACE_AT(p)                                                                                \
    do {                                                                                           \
        if (!space) {                                                                              \
            SRC(p);                                                                                \
            o[k++] = ' ';                                                                          \
            space = 1;                                                                             \
        }                                                                                          \
    } while (0)
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        uint32_t cp;
        size_t n;
        int a;
        if (c < 0x80) {
            unsigned char kind = ascii_kind[c];
            if (kind == K_COPY) {
                /* the common case: a run of plain ASCII, mapped 1:1, with
                 * single whitespace bytes (as spaces) between its words */
                size_t j = i, k0 = k;
                unsigned sp = 0; /* the last byte was whitespace */
                SRC(i);
                for (;;) {
#ifdef __SSE2__
                    /* 16 bytes at once while all are printable or single
                     * spaces (what the byte step below would take too) */
                    while (j + 16 <= len) {
                        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + j));
                        __m128i isp = _mm_cmpeq_epi8(x, _mm_set1_epi8(' '));
                        __m128i dp = _mm_sub_epi8(x, _mm_set1_epi8(0x21));
                        __m128i prt = _mm_cmpeq_epi8(_mm_min_epu8(dp, _mm_set1_epi8(0x5d)), dp);
                        prt = _mm_andnot_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\\')), prt);
                        unsigned spm = (unsigned)_mm_movemask_epi8(isp);
                        if ((unsigned)_mm_movemask_epi8(_mm_or_si128(isp, prt)) != 0xFFFFu ||
                            (spm & (spm >> 1)) || (sp && (spm & 1)))
                            break;
                        __m128i da = _mm_sub_epi8(x, _mm_set1_epi8('A'));
                        __m128i up = _mm_cmpeq_epi8(_mm_min_epu8(da, _mm_set1_epi8(25)), da);
                        x = _mm_or_si128(x, _mm_and_si128(up, _mm_set1_epi8(0x20)));
                        _mm_storeu_si128((__m128i *)(void *)(o + k), x);
                        j += 16;
                        k += 16;
                        sp = (spm >> 15) & 1u;
                    }
#endif
                    /* the run's first byte is K_COPY; later ones: K_COPY + 0
                     * or K_SPACE + 0 go on, K_SPACE after a space, K_DROP
                     * and K_ESC end it */
                    if (j >= len || s[j] >= 0x80 || ascii_kind[s[j]] + sp > 1) break;
                    unsigned char b = s[j++];
                    o[k++] = ascii_low[b];
                    sp = ascii_kind[b];
                }
                if (track) {
                    if (sk->full)
                        for (size_t x = k0; x < k; x++) sk->full[x] = i + (x - k0);
                    sk->expect = j;
                }
                i = j;
                space = (int)sp;
                continue;
            } else if (kind == K_ESC) {
                n = 1;
                goto escape;
            } else if (kind == K_SPACE) {
                SPACE_AT(i);
            }
            i++;
            continue;
        }
        cp = 0;
        n = decode(s + i, len - i, &cp);
        if (n == 0 || is_space(cp)) { /* invalid byte or Unicode space */
            SPACE_AT(i);
            i += n ? n : 1;
            continue;
        }
        if (is_invisible(cp)) {
            inv++;
            i += n;
            continue;
        }
        a = fold_ascii(cp);
        if (a == '\\') /* a fullwidth backslash: as K_ESC above */
            goto escape;
        if (a) {
            SRC(i);
            o[k++] = (unsigned char)a;
        } else if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) { /* Latin-1 capitals */
            cp += 0x20;
            SRC(i);
            o[k++] = (unsigned char)(0xC0 | (cp >> 6));
            SRC(i + 1);
            o[k++] = (unsigned char)(0x80 | (cp & 0x3F));
        } else {
            for (size_t j = 0; j < n; j++) {
                SRC(i + j);
                o[k++] = s[i + j];
            }
        }
        space = 0;
        i += n;
        continue;
    escape:
        /* a text that is itself JSON (a tool result, an API reply) keeps
         * its line breaks as the two bytes \n and may spell any character
         * as \uXXXX: read as what they stand for, the word after a line
         * break starts a word again and an escaped word is a word */
        {
            int two = 0;
            size_t last = i, at = i;
            i = esc_read(s, len, i, n, &cp, &two, &last, &inv);
            if (cp == '\\') { /* the run escapes nothing: one backslash */
                SRC(at);
                o[k++] = '\\';
                if (two) {
                    SRC(last);
                    o[k++] = '\\';
                }
                space = 0;
            } else if (cp < 0x80 ? ascii_kind[cp] == K_SPACE : is_space(cp)) {
                SPACE_AT(at);
            } else if (cp < 0x80 ? ascii_kind[cp] != K_DROP : !is_invisible(cp)) {
                /* the character as its raw form is folded, all of it
                 * mapped to the escape's first backslash */
                a = cp < 0x80 ? ascii_low[cp] : fold_ascii(cp);
                if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) cp += 0x20; /* Latin-1 capitals */
                if (a) {
                    SRC(at);
                    o[k++] = (unsigned char)a;
                } else {
                    unsigned char u[4];
                    size_t m = al_utf8_put(cp, u);
                    for (size_t j = 0; j < m; j++) {
                        SRC(at);
                        o[k++] = u[j];
                    }
                }
                space = 0;
            } else if (cp >= 0x80) {
                inv++;
            }
        }
    }
#undef SPACE_AT
#undef SRC
    if (sk->nomem) return AL_ENOMEM;
    if (sk->full) sk->full[k] = len;
    if (sk->seg) {
        sk->seg->out_len = k;
        sk->seg->in_len = len;
    }
    out->len = base + k;
    out->data[out->len] = '\0';
    if (n_invisible) *n_invisible = inv;
    return AL_OK;
}

al_code al_normalize(const char *in, size_t len, al_buf *out, size_t **map, size_t *n_invisible)
{
    if (map) *map = NULL;
    if (len > SIZE_MAX / sizeof(size_t) - 2) return AL_ENOMEM;
    sink sk = {0};
    if (map && !(sk.full = malloc((len + 1) * sizeof *sk.full))) return AL_ENOMEM;
    al_code c = norm_core(in, len, out, &sk, n_invisible);
    if (c != AL_OK) {
        free(sk.full);
        return c;
    }
    if (map) *map = sk.full;
    return AL_OK;
}

al_code al_normalize_seg(const char *in, size_t len, al_buf *out, al_nmap *map, size_t *n_invisible)
{
    map->n = 0;
    sink sk = {.seg = map};
    return norm_core(in, len, out, &sk, n_invisible);
}

void al_nmap_free(al_nmap *m)
{
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* Index of the segment holding output byte i (i < out_len). */
static size_t seg_of(const al_nmap *m, size_t i)
{
    size_t lo = 0, hi = m->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->v[mid].out <= i)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

size_t al_escape_end(const char *in, size_t len, size_t i)
{
    const unsigned char *s = (const unsigned char *)in;
    if (i >= len) return len;
    size_t n = 0;
    if (s[i] == '\\')
        n = 1;
    else if (s[i] == 0xEF && i + 2 < len && s[i + 1] == 0xBC && s[i + 2] == 0xBC)
        n = 3; /* a fullwidth backslash */
    if (!n) return 0;
    uint32_t cp = 0;
    int two = 0;
    size_t last = i, inv = 0, end = esc_read(s, len, i, n, &cp, &two, &last, &inv);
    return cp == '\\' ? i + n : end;
}

size_t al_nmap_orig(const al_nmap *m, size_t i)
{
    if (i >= m->out_len || m->n == 0) return m->in_len;
    const al_nseg *g = &m->v[seg_of(m, i)];
    return g->in + (i - g->out);
}

size_t al_nmap_lower_bound(const al_nmap *m, size_t x)
{
    size_t lo = 0, hi = m->out_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (al_nmap_orig(m, mid) < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The first bytes of the characters is_invisible takes: U+00AD (C2),
 * U+034F (CD), U+061C (D8), U+115F..U+180E (E1), U+200B..U+206F (E2),
 * U+3164 (E3), U+FE00..U+FFA0 (EF), U+1D173.. (F0), tags and VS17+ (F3). */
static inline int invisible_lead(unsigned char c)
{
    return c == 0xC2 || c == 0xCD || c == 0xD8 || c == 0xE1 || c == 0xE2 || c == 0xE3 ||
           c == 0xEF || c == 0xF0 || c == 0xF3;
}

/* Length of the invisible character at s[i], 0 when there is none. */
static inline size_t invisible_at(const unsigned char *s, size_t len, size_t i)
{
    uint32_t cp = 0;
    if (s[i] < 0x80 || !invisible_lead(s[i])) return 0;
    size_t n = decode(s + i, len - i, &cp);
    return n && is_invisible(cp) ? n : 0;
}

size_t al_invisible_find(const char *in, size_t len, size_t from)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = from;
    while (i < len) {
        i += al_ascii_end(in + i, len - i);
        if (i >= len) break;
        if (invisible_lead(s[i]) && invisible_at(s, len, i)) return i;
        i++;
    }
    return len;
}

static inline int ascii_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

size_t al_invisible_find_split(const char *in, size_t len, size_t from)
{
    const unsigned char *s = (const unsigned char *)in;
    for (size_t i = al_invisible_find(in, len, from); i < len;) {
        size_t j = i, n;
        while (j < len && (n = invisible_at(s, len, j)) > 0) j += n; /* the run */
        if (j >= len || (i > 0 && ascii_alnum(s[i - 1])) || ascii_alnum(s[j])) return i;
        i = al_invisible_find(in, len, j);
    }
    return len;
}

al_code al_strip_invisible(const char *in, size_t len, al_buf *out, al_nmap *map)
{
    if (!out || !map || (!in && len)) return AL_EINVAL;
    map->n = 0;
    if (al_buf_reserve(out, len) != AL_OK) return AL_ENOMEM;
    sink sk = {.seg = map};
    char *o = out->data + out->len;
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        size_t j = al_invisible_find(in, len, i);
        if (j > i) { /* a run kept as it is: one segment */
            note_src(&sk, k, i);
            if (sk.nomem) return AL_ENOMEM;
            memcpy(o + k, in + i, j - i);
            k += j - i;
        }
        if (j >= len) break;
        uint32_t cp = 0;
        i = j + decode((const unsigned char *)in + j, len - j, &cp);
    }
    out->len += k;
    out->data[out->len] = '\0';
    map->out_len = k;
    map->in_len = len;
    return AL_OK;
}

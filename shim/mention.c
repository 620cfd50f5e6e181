/* mention.c: the quoted spans of a prompt and the test or detection words
 * outside them, so that the engine can tell an attack quoted in a red-team
 * case or a guard's unit test from one made.  Pure: reads the text, never
 * calls a hooked function, allocates only the spans. */
#include "mention.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

/* a quote closed on its own line is looked for this far, so a long line of
 * marks that are never closed costs len * QUOTE_MAX at most */
#define QUOTE_MAX 4096

static int word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c >= 0x80;
}

/* byte classes: an ASCII word byte (letter, digit, '_'), '-', a byte >= 0x80,
 * an ASCII letter */
enum { C_WORD = 1, C_DASH = 2, C_HIGH = 4, C_ALPHA = 8 };
static const unsigned char cls[256] = {
    ['0' ... '9'] = C_WORD,
    ['A' ... 'Z'] = C_WORD | C_ALPHA,
    ['a' ... 'z'] = C_WORD | C_ALPHA,
    ['_'] = C_WORD,
    ['-'] = C_DASH,
    [0x80 ... 0xFF] = C_HIGH,
};

/* the offset of the first byte of s[i..lim) equal to a, b, c or d, or lim:
 * 16 bytes at a time where SSE2 is there */
static size_t find_any(const unsigned char *s, size_t i, size_t lim, unsigned char a,
                       unsigned char b, unsigned char c, unsigned char d)
{
#ifdef __SSE2__
    const __m128i va = _mm_set1_epi8((char)a), vb = _mm_set1_epi8((char)b),
                  vc = _mm_set1_epi8((char)c), vd = _mm_set1_epi8((char)d);
    for (; i + 16 <= lim; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, va), _mm_cmpeq_epi8(x, vb)),
                                 _mm_or_si128(_mm_cmpeq_epi8(x, vc), _mm_cmpeq_epi8(x, vd)));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits) return i + (size_t)__builtin_ctz(bits);
    }
#endif
    for (; i < lim; i++)
        if (s[i] == a || s[i] == b || s[i] == c || s[i] == d) return i;
    return lim;
}

/* the offset of the next byte at or after i that may open a quote (" ' `
 * or the first byte of a typographic quote), or len */
static size_t next_mark(const unsigned char *s, size_t i, size_t len)
{
    return find_any(s, i, len, '"', '\'', '`', 0xE2);
}

/* offset of the next run of three c at or after from, or len */
static size_t find3(const unsigned char *s, size_t from, size_t len, unsigned char c)
{
    for (size_t j = from; j + 2 < len; j++) {
        const unsigned char *p = memchr(s + j, c, len - 2 - j);
        if (!p) break;
        j = (size_t)(p - s);
        if (s[j + 1] == c && s[j + 2] == c) return j;
    }
    return len;
}

/* the end (exclusive) of the quote opened by c at i and closed on the same
 * line, or 0 */
static size_t close_ascii(const unsigned char *s, size_t len, size_t i, unsigned char c)
{
    size_t lim = len - i > QUOTE_MAX ? i + QUOTE_MAX : len;
    unsigned char esc = c == '`' ? '\n' : '\\'; /* a backslash escapes in "..." and '...' */
    size_t j = i + 1;
    while ((j = find_any(s, j, lim, '\n', esc, c, c)) < lim && s[j] != '\n') {
        if (s[j] == '\\' && c != '`') {
            j += 2;
            continue;
        }
        /* an apostrophe inside a word ("don't") closes nothing */
        if (c == '\'' && j + 1 < len && word_byte(s[j + 1])) {
            j++;
            continue;
        }
        return j > i + 1 ? j + 1 : 0;
    }
    return 0;
}

/* the same for a typographic quote E2 80 open at i, closed by E2 80 want */
static size_t close_typo(const unsigned char *s, size_t len, size_t i, unsigned char want)
{
    size_t lim = len - i > QUOTE_MAX ? i + QUOTE_MAX : len;
    for (size_t j = i + 3; j + 2 < lim && s[j] != '\n'; j++) {
        if (s[j] != 0xE2 || s[j + 1] != 0x80 || s[j + 2] != want) continue;
        if (want == 0x99 && j + 3 < len && word_byte(s[j + 3])) continue; /* don’t */
        return j + 3;
    }
    return 0;
}

al_code al_mention_spans(const char *text, size_t len, al_spans *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while ((i = next_mark(s, i, len)) < len) {
        unsigned char c = s[i];
        size_t end = 0;
        if ((c == '`' || c == '"' || c == '\'') && i + 2 < len && s[i + 1] == c && s[i + 2] == c) {
            size_t j = find3(s, i + 3, len, c);
            if (j == len) {
                i += 3;
                continue;
            }
            end = j + 3;
        } else if (c == '"' || c == '`' || (c == '\'' && (i == 0 || !word_byte(s[i - 1])))) {
            end = close_ascii(s, len, i, c);
        } else if (c == 0xE2 && i + 2 < len && s[i + 1] == 0x80 &&
                   (s[i + 2] == 0x9C || s[i + 2] == 0x98)) {
            end = close_typo(s, len, i, s[i + 2] == 0x9C ? 0x9D : 0x99);
        }
        if (!end) {
            i++;
            continue;
        }
        al_code rc = al_spans_push(out, i, end, 1.0);
        if (rc != AL_OK) return rc;
        i = end;
    }
    return AL_OK;
}

static const char *const meta_stems[] = {
    "test",    "unittest",   "pytest",  "assert",   "expect",  "guard",   "filter",
    "detect",  "classifier", "redteam", "red-team", "payload", "label",   "regex",
    "pattern", "fixture",    "sample",  "dataset",  "probe",   "ctf",     "attack",
    "inject",  "jailbreak",  "blocked", "flagged",  "sanitiz", "sanitis",
};

/* meta_by[(c0 - 'a') * 26 + c1 - 'a'] has bit k when meta_stems[k] starts
 * with c0 c1; meta_len[k] is its length */
#define N_STEMS (sizeof meta_stems / sizeof *meta_stems)
static uint32_t meta_by[26 * 26];
static unsigned char meta_len[N_STEMS];
static pthread_once_t lists_once = PTHREAD_ONCE_INIT;
static void lists_init(void); /* fills the tables of meta_word and al_mention_keep */

static int meta_word(const unsigned char *w, size_t n)
{
    /* the words of a text seldom start as a stem does: their first two
     * letters settle most (w is a run of ASCII word bytes and '-', where
     * | 0x20 lowercases the letters and turns nothing else into a letter
     * or '-') */
    unsigned c0 = (w[0] | 0x20u) - 'a', c1 = n > 1 ? (w[1] | 0x20u) - 'a' : 26;
    if (c0 >= 26 || c1 >= 26) return 0;
    for (uint32_t by = meta_by[c0 * 26 + c1]; by; by &= by - 1) {
        unsigned k = (unsigned)__builtin_ctz(by);
        size_t m = meta_len[k], j = 2;
        if (m > n) continue;
        while (j < m && (w[j] | 0x20) == (unsigned char)meta_stems[k][j]) j++;
        if (j == m) return 1;
    }
    return 0;
}

static int one_word(const unsigned char *s, size_t start, size_t end)
{
    if (end - start > 40) return 0;
    for (size_t i = start; i < end; i++)
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') return 0;
    return 1;
}

int al_mention_meta(const char *text, size_t len, const al_spans *sp)
{
    const unsigned char *s = (const unsigned char *)text;
    pthread_once(&lists_once, lists_init);
    size_t i = 0;
    for (size_t k = 0;; k++) {
        /* the words up to the next quote */
        size_t stop = k < sp->n ? sp->v[k].start : len;
        while (i < stop) {
            if (!(cls[s[i]] & C_WORD)) {
                i++;
                continue;
            }
            size_t j = i + 1;
            while (j < stop && cls[s[j]] & (C_WORD | C_DASH)) j++;
            if (meta_word(s + i, j - i)) return 1;
            /* "red team" in two words */
            if (j - i == 3 && (s[i] | 0x20) == 'r' && (s[i + 1] | 0x20) == 'e' &&
                (s[i + 2] | 0x20) == 'd' && j + 5 <= stop && s[j] == ' ' &&
                !strncasecmp((const char *)s + j + 1, "team", 4))
                return 1;
            i = j;
        }
        if (k >= sp->n) return 0;
        /* a quoted key or one-word value ("label": "jailbreak") is read as
         * the words around the quotes are */
        if (!one_word(s, sp->v[k].start, sp->v[k].end)) i = sp->v[k].end;
    }
}

/* the number of spans of sp that start before at */
static size_t spans_before(const al_spans *sp, size_t at)
{
    size_t lo = 0, hi = sp->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sp->v[mid].start < at)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int al_mention_inside(const al_spans *sp, size_t start, size_t end)
{
    /* spans are in text order and do not overlap: the last one that starts
     * at or before start */
    size_t lo = spans_before(sp, start + 1);
    return lo > 0 && end <= sp->v[lo - 1].end;
}

/* whether the lowercased name names a prompt, a system message or
 * instructions */
static int prompt_name(const unsigned char *w, size_t n)
{
    char low[64];
    if (n >= sizeof low) return 0;
    for (size_t k = 0; k < n; k++) low[k] = (char)(w[k] >= 'A' && w[k] <= 'Z' ? w[k] + 32 : w[k]);
    low[n] = '\0';
    return strstr(low, "prompt") || strstr(low, "system") || strstr(low, "instruction");
}

/* the index of the span that starts at i after an assignment or key mark
 * (spaces, then '=' or ':', then spaces, '[', '(' and a string prefix), or
 * sp->n */
static size_t assigned_span(const unsigned char *s, size_t len, size_t i, const al_spans *sp,
                            size_t k)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i >= len || (s[i] != '=' && s[i] != ':') || (i + 1 < len && s[i + 1] == '=')) return sp->n;
    i++;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '[' || s[i] == '('))
        i++;
    if (i < len && (s[i] == 'f' || s[i] == 'r' || s[i] == 'b')) i++;
    while (k < sp->n && sp->v[k].start < i) k++;
    return k < sp->n && sp->v[k].start == i ? k : sp->n;
}

int al_mention_prompt_def(const char *text, size_t len, const al_spans *sp)
{
    const unsigned char *s = (const unsigned char *)text;
    /* a definition assigns with '=' or ':' (assigned_span): only the name
     * before each such mark, a quoted key or a word, can make one */
    for (size_t p = 0; (p = find_any(s, p, len, '=', ':', ':', ':')) < len; p++) {
        size_t q = p;
        while (q > 0 && (s[q - 1] == ' ' || s[q - 1] == '\t')) q--;
        if (!q) continue;
        size_t k = spans_before(sp, q);
        if (!(cls[s[q - 1]] & C_WORD)) {
            /* a quoted key: "system": "..." */
            if (!k || sp->v[k - 1].end != q) continue;
            k--;
            size_t a = sp->v[k].start + 1, b = sp->v[k].end - 1;
            if (one_word(s, sp->v[k].start, sp->v[k].end) && b > a && prompt_name(s + a, b - a) &&
                assigned_span(s, len, sp->v[k].end, sp, k + 1) < sp->n)
                return 1;
            continue;
        }
        /* a word, not inside a quote and not the tail of a longer one, with
         * a '_' or a lowercase letter before a capital */
        size_t t = q - 1;
        while (t > 0 && cls[s[t - 1]] & C_WORD) t--;
        if (t > 0 && word_byte(s[t - 1])) continue;
        if (k && sp->v[k - 1].end > t) continue;
        int code = 0;
        for (size_t j = t; j < q && !code; j++)
            code = s[j] == '_' ||
                   (j > t && s[j] >= 'A' && s[j] <= 'Z' && s[j - 1] >= 'a' && s[j - 1] <= 'z');
        if (code && prompt_name(s + t, q - t) && assigned_span(s, len, q, sp, k) < sp->n) return 1;
    }
    return 0;
}

/* words that ask for the quoted text to be acted on, alone or after the
 * word before them */
static const char *const act_words[] = {"respond",  "reply",    "answer",   "follow",  "obey",
                                        "comply",   "execute",  "perform",  "pretend", "proceed",
                                        "continue", "verbatim", "roleplay", NULL};
static const char *const act_pairs[] = {"act on",     "act as",        "do it",    "do this",
                                        "do that",    "do what",       "do so",    "carry out",
                                        "as written", "as instructed", "as told",  "exactly as",
                                        "process it", "process this",  "treat it", "run it",
                                        "run this",   "say it",        NULL};
/* words that ask about the quoted text: check it, explain it, test for it */
static const char *const ask_words[] = {
    "review",    "check",     "checks",   "evaluate", "analyze",  "analyse",  "classify", "explain",
    "detect",    "detects",   "catch",    "catches",  "flag",     "flags",    "flagged",  "label",
    "score",     "assert",    "asserts",  "expect",   "expected", "should",   "does",     "why",
    "whether",   "write",     "add",      "fix",      "debug",    "refactor", "block",    "blocks",
    "blocked",   "reject",    "rejects",  "rejected", "match",    "matches",  "how",      "what",
    "summarize", "summarise", "describe", NULL};
static const char *const ask_pairs[] = {
    "is this",      "is it",       "are these", "such as",      "things like",
    "phrases like", "words like",  "e g",       "for instance", "for example",
    "example of",   "examples of", NULL};

/* The lists above as two hash sets, built once: words, and pairs keyed by
 * their two words' hashes.  A slot holds the hash, the entry, and what it
 * asks (flags 0: an empty slot). */
enum { ACT = 1, ASK = 2, SET_BITS = 7 };
typedef struct {
    uint32_t h;
    unsigned char flags;
    const char *entry;
} set_slot;
static set_slot word_set[1 << SET_BITS], pair_set[1 << SET_BITS];

static uint32_t hash_add(uint32_t h, unsigned char c)
{
    return h * 31 + c;
}
static uint32_t hash_pair(uint32_t a, uint32_t b)
{
    return a * 0x01000193u ^ b;
}
static size_t slot_of(uint32_t h)
{
    return (h * 0x9E3779B1u) >> (32 - SET_BITS);
}

static void set_add(set_slot *set, uint32_t h, const char *entry, unsigned char flags)
{
    size_t i = slot_of(h);
    while (set[i].flags && strcmp(set[i].entry, entry)) i = (i + 1) & ((1u << SET_BITS) - 1);
    if (set[i].flags) entry = set[i].entry;
    set[i] = (set_slot){h, (unsigned char)(set[i].flags | flags), entry};
}

static void add_list(const char *const *list, unsigned char flags)
{
    for (; *list; list++) {
        uint32_t h = 0, a = 0;
        const char *w = *list;
        for (; *w; w++) {
            if (*w == ' ') {
                a = h;
                h = 0;
            } else {
                h = hash_add(h, (unsigned char)*w);
            }
        }
        if (strchr(*list, ' '))
            set_add(pair_set, hash_pair(a, h), *list, flags);
        else
            set_add(word_set, h, *list, flags);
    }
}

static void lists_init(void)
{
    for (size_t k = 0; k < N_STEMS; k++) {
        unsigned c0 = (unsigned)(meta_stems[k][0] - 'a'), c1 = (unsigned)(meta_stems[k][1] - 'a');
        meta_by[c0 * 26 + c1] |= 1u << k;
        meta_len[k] = (unsigned char)strlen(meta_stems[k]);
    }
    add_list(act_words, ACT);
    add_list(act_pairs, ACT);
    add_list(ask_words, ASK);
    add_list(ask_pairs, ASK);
}

/* what the word w (hash h) asks, as the lists spell it: ACT, ASK or 0 */
static unsigned word_asks(const char *w, uint32_t h)
{
    for (size_t i = slot_of(h); word_set[i].flags; i = (i + 1) & ((1u << SET_BITS) - 1))
        if (word_set[i].h == h && !strcmp(word_set[i].entry, w)) return word_set[i].flags;
    return 0;
}

/* the same for the pair "a b" (hashes ha, hb; a is pl bytes long) */
static unsigned pair_asks(const char *a, size_t pl, uint32_t ha, const char *b, uint32_t hb)
{
    uint32_t h = hash_pair(ha, hb);
    for (size_t i = slot_of(h); pair_set[i].flags; i = (i + 1) & ((1u << SET_BITS) - 1)) {
        const char *e = pair_set[i].entry;
        if (pair_set[i].h == h && !memcmp(e, a, pl) && e[pl] == ' ' && !strcmp(e + pl + 1, b))
            return pair_set[i].flags;
    }
    return 0;
}

/* a string placed as code counts as mentioned only among this many words of
 * code or prose outside the quotes: one bare assignment or JSON object
 * around an attack is a wrapper, not a program */
#define CODE_WORDS 8

/* Nonzero when s[at] (a span's first mark) stands where code puts a string:
 * after an opening bracket, '=', ',' or a quoted key's ':'. */
static int code_placed(const unsigned char *s, size_t at)
{
    size_t i = at, p = 0;
    /* a string prefix (r"...", b'...', rb"...") */
    while (p < 2 && i > p && strchr("rRbBuUfF", s[i - p - 1])) p++;
    if (p && (i == p || !word_byte(s[i - p - 1]))) i -= p;
    while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '\n' || s[i - 1] == '\r'))
        i--;
    if (!i) return 0;
    unsigned char c = s[i - 1];
    if (c == '(' || c == '=' || c == '[' || c == ',' || c == '{') return 1;
    if (c != ':') return 0;
    i--;
    while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t')) i--;
    return i > 0 && (s[i - 1] == '"' || s[i - 1] == '\'');
}

static int fence(const unsigned char *s, const al_span *v)
{
    return v->end - v->start >= 6 && s[v->start + 1] == s[v->start] &&
           s[v->start + 2] == s[v->start];
}

al_code al_mention_keep(const char *text, size_t len, al_spans *sp)
{
    const unsigned char *s = (const unsigned char *)text;
    pthread_once(&lists_once, lists_init);
    /* the words outside the quotes, lowercased ASCII letters (the first 15
     * of each), a quoted key or one-word value read as the words around;
     * quoted: the word is the first in such a quote */
    char buf[2][16] = {""};
    char *w = buf[0], *prev = buf[1];
    size_t pl = 0;   /* strlen(prev) */
    uint32_t hp = 0; /* prev's hash */
    size_t qend = 0; /* the end of a one-word quote entered since the last word */
    int ask = 0, words = 0;
    size_t i = 0;
    for (size_t k = 0;; k++) {
        size_t stop = k < sp->n ? sp->v[k].start : len;
        while (i < stop) {
            if (!(cls[s[i]] & C_ALPHA)) {
                i++;
                continue;
            }
            size_t j = i, n = 0;
            uint32_t h = 0;
            for (; j < stop && cls[s[j]] & C_ALPHA; j++) {
                if (n < 15) {
                    w[n] = (char)(s[j] | 0x20);
                    h = hash_add(h, (unsigned char)w[n++]);
                }
            }
            w[n] = 0;
            int quoted = i < qend;
            qend = 0;
            i = j;
            words++;
            unsigned a = word_asks(w, h) | pair_asks(prev, pl, hp, w, h);
            if (a & ACT) {
                sp->n = 0;
                return AL_OK;
            }
            if (!quoted && a & ASK) ask = 1;
            char *t = prev;
            prev = w;
            w = t;
            pl = n;
            hp = h;
        }
        if (k >= sp->n) break;
        if (one_word(s, sp->v[k].start, sp->v[k].end))
            qend = sp->v[k].end;
        else
            i = sp->v[k].end;
    }
    /* what is kept: a string placed as code places it; a prose quote when
     * the words around ask about it; inside a fence that does not count as
     * a whole, the strings its code places */
    al_spans out = {0};
    for (size_t q = 0; q < sp->n; q++) {
        al_span v = sp->v[q];
        if (ask || (words >= CODE_WORDS && code_placed(s, v.start))) {
            if (al_spans_push(&out, v.start, v.end, 1.0) != AL_OK) goto oom;
            continue;
        }
        if (!fence(s, &v)) continue;
        al_spans in = {0};
        if (al_mention_spans(text + v.start + 3, v.end - v.start - 6, &in) != AL_OK) {
            al_spans_free(&in);
            goto oom;
        }
        for (size_t r = 0; r < in.n; r++) {
            size_t a = in.v[r].start + v.start + 3, b = in.v[r].end + v.start + 3;
            if (words >= CODE_WORDS && code_placed(s, a) &&
                al_spans_push(&out, a, b, 1.0) != AL_OK) {
                al_spans_free(&in);
                goto oom;
            }
        }
        al_spans_free(&in);
    }
    al_spans_free(sp);
    *sp = out;
    return AL_OK;
oom:
    al_spans_free(&out);
    sp->n = 0;
    return AL_ENOMEM;
}

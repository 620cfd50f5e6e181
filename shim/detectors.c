/* detectors.c: the registry of span detectors that rules name with
 * "detector", plus the built-in sanitize detectors (control characters,
 * invisible Unicode).  Pure; every scan is one linear pass. */
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "detector.h"

#define MAX_SPANS (1u << 22)

al_code al_spans_push(al_spans *s, size_t start, size_t end, double confidence)
{
    if (s->n == s->cap) {
        if (s->cap >= MAX_SPANS) return AL_ELIMIT;
        size_t cap = s->cap ? s->cap * 2 : 16;
        al_span *v = realloc(s->v, cap * sizeof *v);
        if (!v) return AL_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (al_span){start, end, confidence};
    return AL_OK;
}

void al_spans_free(al_spans *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* The offset of the first byte from t[i] on that may begin a control
 * character: below 0x20 (tab, LF and CR too: the caller tells them apart),
 * DEL, or 0xC2 (the lead byte of U+0080..U+009F); len when none does.  No
 * byte skipped begins one, so the scan finds what a byte-by-byte one does. */
static size_t control_lead(const unsigned char *t, size_t len, size_t i)
{
#ifdef __SSE2__
    const __m128i lim = _mm_set1_epi8(0x1F), del = _mm_set1_epi8(0x7F),
                  c2 = _mm_set1_epi8((char)0xC2);
    for (; i + 16 <= len; i += 16) {
        const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(t + i));
        const __m128i lead =
            _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, lim), x), /* x <= 0x1F */
                         _mm_or_si128(_mm_cmpeq_epi8(x, del), _mm_cmpeq_epi8(x, c2)));
        const unsigned m = (unsigned)_mm_movemask_epi8(lead);
        if (m) return i + (size_t)__builtin_ctz(m);
    }
#endif
    while (i < len && t[i] >= 0x20 && t[i] != 0x7F && t[i] != 0xC2) i++;
    return i;
}

/* The same for the lead bytes invisible_at looks at (C2, D8, E1, E2, EF,
 * F3); len when none is there. */
static size_t invisible_lead(const unsigned char *t, size_t len, size_t i)
{
#ifdef __SSE2__
    const __m128i l0 = _mm_set1_epi8((char)0xC2), l1 = _mm_set1_epi8((char)0xD8),
                  l2 = _mm_set1_epi8((char)0xE1), l3 = _mm_set1_epi8((char)0xE2),
                  l4 = _mm_set1_epi8((char)0xEF), l5 = _mm_set1_epi8((char)0xF3);
    for (; i + 16 <= len; i += 16) {
        const __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(t + i));
        if (!_mm_movemask_epi8(x)) continue; /* ASCII only */
        const __m128i lead =
            _mm_or_si128(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, l0), _mm_cmpeq_epi8(x, l1)),
                                      _mm_or_si128(_mm_cmpeq_epi8(x, l2), _mm_cmpeq_epi8(x, l3))),
                         _mm_or_si128(_mm_cmpeq_epi8(x, l4), _mm_cmpeq_epi8(x, l5)));
        const unsigned m = (unsigned)_mm_movemask_epi8(lead);
        if (m) return i + (size_t)__builtin_ctz(m);
    }
#endif
    for (; i < len; i++) {
        const unsigned char c = t[i];
        if (c == 0xC2 || c == 0xD8 || c == 0xE1 || c == 0xE2 || c == 0xEF || c == 0xF3) break;
    }
    return i;
}

/* C0 controls except tab, LF, CR; DEL; C1 controls (U+0080..U+009F).  Runs
 * of them form one span. */
static al_code scan_control(const void *state, const char *text, size_t len, al_spans *out)
{
    (void)state;
    const unsigned char *t = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        i = control_lead(t, len, i);
        if (i >= len) break;
        size_t n = 0;
        unsigned char c = t[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
            n = 1;
        else if (c == 0xC2 && i + 1 < len && t[i + 1] >= 0x80 && t[i + 1] <= 0x9F)
            n = 2;
        if (!n) {
            i++;
            continue;
        }
        size_t s = i;
        i += n;
        for (;;) {
            if (i < len &&
                ((t[i] < 0x20 && t[i] != '\t' && t[i] != '\n' && t[i] != '\r') || t[i] == 0x7f))
                i++;
            else if (i + 1 < len && t[i] == 0xC2 && t[i + 1] >= 0x80 && t[i + 1] <= 0x9F)
                i += 2;
            else
                break;
        }
        al_code c2 = al_spans_push(out, s, i, 1.0);
        if (c2 != AL_OK) return c2;
    }
    return AL_OK;
}

/* Length of an invisible character (zero-width, bidi control, tag,
 * variation selector, word joiner, BOM) at t[i], or 0. */
static size_t invisible_at(const unsigned char *t, size_t len, size_t i)
{
    unsigned char c = t[i];
    if (c == 0xC2 && i + 1 < len && t[i + 1] == 0xAD) return 2; /* soft hyphen */
    if (c == 0xD8 && i + 1 < len && t[i + 1] == 0x9C) return 2; /* arabic letter mark */
    if (c == 0xE1 && i + 2 < len && t[i + 1] == 0xA0 && t[i + 2] == 0x8E) return 3; /* U+180E */
    if (c == 0xE2 && i + 2 < len) {
        unsigned char b = t[i + 1], d = t[i + 2];
        if (b == 0x80 && ((d >= 0x8B && d <= 0x8F) || (d >= 0xAA && d <= 0xAE))) return 3;
        if (b == 0x81 && d >= 0xA0 && d <= 0xAF) return 3; /* U+2060..206F */
    }
    if (c == 0xEF && i + 2 < len) {
        if (t[i + 1] == 0xBB && t[i + 2] == 0xBF) return 3;                     /* BOM / ZWNBSP */
        if (t[i + 1] == 0xB8 && t[i + 2] >= 0x80 && t[i + 2] <= 0x8F) return 3; /* VS1-16 */
    }
    if (c == 0xF3 && i + 3 < len && t[i + 1] == 0xA0) {
        unsigned char b = t[i + 2];
        if (b >= 0x80 && b <= 0x81 && (t[i + 3] & 0xC0) == 0x80) return 4; /* tags E0000-7F */
        if (b >= 0x84 && b <= 0x87 && (t[i + 3] & 0xC0) == 0x80) return 4; /* VS17-256 */
    }
    return 0;
}

static al_code scan_invisible(const void *state, const char *text, size_t len, al_spans *out)
{
    (void)state;
    const unsigned char *t = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        /* straight to a lead byte that can start an invisible character */
        i = invisible_lead(t, len, i);
        if (i >= len) break;
        size_t n = invisible_at(t, len, i);
        if (!n) {
            i++;
            continue;
        }
        size_t s = i;
        i += n;
        while (i < len && (n = invisible_at(t, len, i)) > 0) i += n;
        al_code c2 = al_spans_push(out, s, i, 1.0);
        if (c2 != AL_OK) return c2;
    }
    return AL_OK;
}

static const al_detector_ops det_control = {"control_chars", NULL, scan_control, NULL};
static const al_detector_ops det_invisible = {"invisible_unicode", NULL, scan_invisible, NULL};

/* Gazetteer detectors live in names.c; weak so the engine links without it. */
extern const al_detector_ops al_detector_person __attribute__((weak));
extern const al_detector_ops al_detector_location __attribute__((weak));
extern const al_detector_ops al_detector_address __attribute__((weak));

const al_detector_ops *al_detector_find(const char *name)
{
    const al_detector_ops *all[] = {
        &det_control,          &det_invisible,       &al_detector_person,
        &al_detector_location, &al_detector_address,
    };
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] && all[i]->name && strcmp(all[i]->name, name) == 0) return all[i];
    return NULL;
}

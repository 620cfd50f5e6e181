/* detectors.c: the registry of span detectors that rules name with
 * "detector", plus the built-in sanitize detectors (control characters,
 * invisible Unicode).  Pure; every scan is one linear pass. */
#include <stdlib.h>
#include <string.h>

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

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t load8(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

/* Length of the run from t[i] of 8-byte words that are all printable ASCII
 * (0x20..0x7E), which no control character is, or 0: a word with a byte
 * below 0x20 or above 0x7E stops it (the tests have no false negatives). */
static size_t printable_run(const unsigned char *t, size_t len, size_t i)
{
    size_t s = i;
    while (i + 8 <= len) {
        uint64_t x = load8(t + i);
        uint64_t below = (x - ONES * 0x20) & ~x & HIGHS;          /* a byte < 0x20 */
        uint64_t above = ((x + ONES * (127 - 0x7E)) | x) & HIGHS; /* a byte > 0x7E */
        if (below | above) break;
        i += 8;
    }
    return i - s;
}

/* The same for ASCII words (no byte >= 0x80 starts an invisible character). */
static size_t ascii_run(const unsigned char *t, size_t len, size_t i)
{
    size_t s = i;
    while (i + 8 <= len && !(load8(t + i) & HIGHS)) i += 8;
    return i - s;
}

/* C0 controls except tab, LF, CR; DEL; C1 controls (U+0080..U+009F).  Runs
 * of them form one span. */
static al_code scan_control(const void *state, const char *text, size_t len, al_spans *out)
{
    (void)state;
    const unsigned char *t = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        i += printable_run(t, len, i);
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
        /* skip quickly to a lead byte that can start an invisible character */
        i += ascii_run(t, len, i);
        if (i >= len) break;
        const unsigned char c = t[i];
        if (c != 0xC2 && c != 0xD8 && c != 0xE1 && c != 0xE2 && c != 0xEF && c != 0xF3) {
            i++;
            continue;
        }
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

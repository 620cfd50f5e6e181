/* al.h: types shared by every airlock module: result codes, a growable byte
 * buffer, the finding categories and actions.  Pure: no I/O, no hooks. */
#ifndef AL_H
#define AL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define AL_API __attribute__((visibility("hidden")))
#define AL_EXPORT __attribute__((visibility("default")))
#define AL_VERSION "0.1.0" /* airlock --version; no release has been cut yet */

typedef enum {
    AL_OK = 0,
    AL_ENOMEM,   /* allocation failed */
    AL_EINVAL,   /* bad argument */
    AL_EPARSE,   /* malformed input (JSON, HTTP, rules file) */
    AL_ELIMIT,   /* a cap was hit (size, nesting, match limit) */
    AL_EIO,      /* file or descriptor error */
    AL_ERULES,   /* rule pack failed validation */
    AL_EMODEL,   /* model file refused (wrong scheme, corrupt) */
    AL_EBLOCKED, /* the request was blocked by policy */
    AL_ECODE_COUNT
} al_code;

/* Static string naming the code; never NULL. */
AL_API const char *al_strerror(al_code c);

/* Growable byte buffer.  Zero-initialise ({0}) before first use; release
 * with al_buf_free.  data is always NUL-terminated when len > 0 or after
 * any successful append, so it may be used as a C string when it holds text. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} al_buf;

AL_API al_code al_buf_reserve(al_buf *b, size_t extra);
AL_API al_code al_buf_append(al_buf *b, const void *p, size_t n);
/* al_buf_append for hot paths: the copy inline when the bytes fit (no call),
 * else al_buf_append itself. */
static inline al_code al_buf_add(al_buf *b, const void *p, size_t n)
{
    if (n >= b->cap - b->len) return al_buf_append(b, p, n); /* also cap 0 */
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return AL_OK;
}
AL_API al_code al_buf_puts(al_buf *b, const char *s);
AL_API al_code al_buf_printf(al_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes (n <= len). */
AL_API void al_buf_consume(al_buf *b, size_t n);
AL_API void al_buf_reset(al_buf *b); /* len = 0, keeps memory */
AL_API void al_buf_free(al_buf *b);  /* frees memory, zeroes struct */

/* The offset in s of its first byte >= 0x80, n when it has none: plain
 * ASCII passed over 16 bytes at a time, then byte by byte. */
static inline size_t al_ascii_end(const char *s, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    while (i + 16 <= n &&
           !_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)(s + i))))
        i += 16;
#endif
    while (i < n && !((unsigned char)s[i] & 0x80)) i++;
    return i;
}

/* memcpy(d, s, n) for 1 <= n <= 8, without the call: two 4-byte words
 * (overlapping when n < 8), or for 1-3 bytes the first, middle and last. */
static inline __attribute__((always_inline)) void al_copy_1to8(char *d, const char *s, size_t n)
{
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else {
        d[0] = s[0];
        d[n >> 1] = s[n >> 1];
        d[n - 1] = s[n - 1];
    }
}

/* Writes code point cp (at most 0x10FFFF, not a surrogate) as UTF-8 to u;
 * returns its length, 1 to 4. */
static inline size_t al_utf8_put(uint32_t cp, unsigned char *u)
{
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | (cp >> 18));
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* memcmp(a, b, n) == 0 for n <= 8, without the call: two words (overlapping)
 * of 4 or of 2 bytes, reading only bytes 0..n-1 of each. */
static inline int al_eq_upto8(const char *a, const char *b, size_t n)
{
    if (n >= 4) {
        uint32_t a0, b0, a1, b1;
        memcpy(&a0, a, 4);
        memcpy(&b0, b, 4);
        memcpy(&a1, a + n - 4, 4);
        memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n >= 2) {
        uint16_t a0, b0, a1, b1;
        memcpy(&a0, a, 2);
        memcpy(&b0, b, 2);
        memcpy(&a1, a + n - 2, 2);
        memcpy(&b1, b + n - 2, 2);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    return !n || a[0] == b[0];
}

/* Reads the whole file at path into out (appended).  AL_EIO when it cannot
 * be opened or read (errno kept), AL_ELIMIT when it holds more than max
 * bytes, AL_ENOMEM; out is then left as it was. */
AL_API al_code al_read_file(const char *path, size_t max, al_buf *out);
/* 1 when the CPU has AVX2, BMI1 and BMI2 (the hot loops' second builds),
 * else 0; always 0 off x86-64. */
AL_API int al_cpu_avx2_bmi(void);

typedef enum {
    AL_CAT_INJECTION = 0,
    AL_CAT_JAILBREAK,
    AL_CAT_SECRET,
    AL_CAT_PII,
    AL_CAT_UNSAFE_OUTPUT,
    AL_CAT_SANITIZE, /* control chars, invisible unicode, oversize */
    AL_CAT_COUNT
} al_category;

/* "injection", "jailbreak", "secret", "pii", "unsafe_output", "sanitize". */
AL_API const char *al_category_name(al_category c);
/* Returns 0 and sets *out, or -1 for an unknown name. */
AL_API int al_category_parse(const char *name, al_category *out);

typedef enum {
    AL_ACT_ALLOW = 0, /* do nothing, not even record */
    AL_ACT_FLAG,      /* record in the audit log / findings only */
    AL_ACT_REDACT,    /* replace the matched text with <ENTITY> */
    AL_ACT_BLOCK      /* refuse the whole request */
} al_action;

AL_API const char *al_action_name(al_action a);
AL_API int al_action_parse(const char *name, al_action *out);

typedef enum { AL_AS_PROMPT = 0, AL_AS_COMPLETION = 1 } al_direction;

#endif

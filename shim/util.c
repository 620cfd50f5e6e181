/* util.c: the byte buffer and the names of codes, categories and actions.
 * Pure; allocation failure is reported, never fatal. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "al.h"

const char *al_strerror(al_code c)
{
    static const char *const msg[AL_ECODE_COUNT] = {
        [AL_OK] = "ok",
        [AL_ENOMEM] = "out of memory",
        [AL_EINVAL] = "invalid argument",
        [AL_EPARSE] = "malformed input",
        [AL_ELIMIT] = "size or complexity limit exceeded",
        [AL_EIO] = "I/O error",
        [AL_ERULES] = "rule pack invalid",
        [AL_EMODEL] = "model file refused",
        [AL_EBLOCKED] = "blocked by policy",
    };
    return (c >= 0 && c < AL_ECODE_COUNT && msg[c]) ? msg[c] : "unknown error";
}

al_code al_buf_reserve(al_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1) return AL_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return AL_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) return AL_ENOMEM;
    b->data = p;
    b->cap = cap;
    return AL_OK;
}

al_code al_buf_append(al_buf *b, const void *p, size_t n)
{
    if (al_buf_reserve(b, n) != AL_OK) return AL_ENOMEM;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return AL_OK;
}

al_code al_buf_puts(al_buf *b, const char *s)
{
    return al_buf_append(b, s, strlen(s));
}

al_code al_buf_printf(al_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return AL_EINVAL;
    if (al_buf_reserve(b, (size_t)n) != AL_OK) return AL_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return AL_OK;
}

void al_buf_consume(al_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data) b->data[b->len] = '\0';
}

void al_buf_reset(al_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void al_buf_free(al_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static const char *const cat_names[AL_CAT_COUNT] = {
    "injection", "jailbreak", "secret", "pii", "unsafe_output", "sanitize",
};

const char *al_category_name(al_category c)
{
    return (c >= 0 && c < AL_CAT_COUNT) ? cat_names[c] : "unknown";
}

int al_category_parse(const char *name, al_category *out)
{
    for (int i = 0; i < AL_CAT_COUNT; i++) {
        if (strcmp(name, cat_names[i]) == 0) {
            *out = (al_category)i;
            return 0;
        }
    }
    return -1;
}

static const char *const act_names[] = {"allow", "flag", "redact", "block"};

const char *al_action_name(al_action a)
{
    return (a >= AL_ACT_ALLOW && a <= AL_ACT_BLOCK) ? act_names[a] : "unknown";
}

int al_action_parse(const char *name, al_action *out)
{
    for (int i = 0; i <= AL_ACT_BLOCK; i++) {
        if (strcmp(name, act_names[i]) == 0) {
            *out = (al_action)i;
            return 0;
        }
    }
    return -1;
}

al_code al_read_file(const char *path, size_t max, al_buf *out)
{
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) return AL_EIO;
    size_t start = out->len;
    char chunk[8192];
    size_t got;
    al_code r = AL_OK;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len - start + got > max) {
            r = AL_ELIMIT;
            break;
        }
        if ((r = al_buf_append(out, chunk, got)) != AL_OK) break;
    }
    int e = errno;
    if (r == AL_OK && ferror(f)) r = AL_EIO;
    fclose(f);
    if (r != AL_OK) {
        out->len = start;
        if (out->data) out->data[start] = 0;
        errno = e;
    }
    return r;
}

int al_cpu_avx2_bmi(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init(); /* may run before the constructors that call it */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
           __builtin_cpu_supports("bmi2");
#else
    return 0;
#endif
}

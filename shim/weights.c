/* weights.c: the manifest of known-good model weight digests, the weight
 * file name test, SHA-256 of a descriptor, the memo of verified files and
 * the audit line.  Pure (the hook lives in hook_weights.c); never logs. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "audit.h"
#include "weights.h"

typedef struct {
    unsigned char d[32];
    char *name;
} entry;

struct al_weights {
    entry *v; /* sorted by digest */
    size_t n;
};

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int cmp_entry(const void *a, const void *b)
{
    return memcmp(((const entry *)a)->d, ((const entry *)b)->d, 32);
}

void al_weights_free(al_weights *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->v[i].name);
    free(w->v);
    free(w);
}

size_t al_weights_count(const al_weights *w)
{
    return w ? w->n : 0;
}

/* One manifest line (without its newline): 0 ok (entry filled, or *blank
 * set for a comment/blank line), -1 with a reason. */
static int parse_line(const char *s, size_t n, entry *e, int *blank, const char **why)
{
    *blank = 0;
    while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i == n || s[i] == '#') {
        *blank = 1;
        return 0;
    }
    /* sha256sum starts the line of a name holding a newline or backslash
     * with a backslash (the name is escaped; it is kept as written) */
    if (s[i] == '\\') i++;
    if (n - i < 64) return *why = "expected 64 hex digits of a SHA-256 digest", -1;
    for (int k = 0; k < 32; k++) {
        int hi = hexval((unsigned char)s[i + 2 * k]), lo = hexval((unsigned char)s[i + 2 * k + 1]);
        if (hi < 0 || lo < 0) return *why = "expected 64 hex digits of a SHA-256 digest", -1;
        e->d[k] = (unsigned char)(hi << 4 | lo);
    }
    i += 64;
    if (i < n && s[i] != ' ' && s[i] != '\t')
        return *why = "a SHA-256 digest is exactly 64 hex digits", -1;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i < n && s[i] == '*') i++; /* sha256sum's binary-mode marker */
    e->name = strndup(s + i, n - i);
    if (!e->name) return *why = "out of memory", -1;
    return 0;
}

al_weights *al_weights_parse(const char *text, size_t len, const char *name, char *err,
                             size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!text && len) return NULL;
    al_weights *w = calloc(1, sizeof *w);
    if (!w) {
        if (err) snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    size_t cap = 0, lineno = 0, pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        lineno++;
        const char *why = NULL;
        entry e = {{0}, NULL};
        int blank = 0;
        if (end - pos > AL_WEIGHTS_MAX_LINE)
            why = "line too long";
        else if (parse_line(text + pos, end - pos, &e, &blank, &why) == 0 && !blank) {
            if (w->n == AL_WEIGHTS_MAX_ENTRIES) {
                why = "too many entries";
                free(e.name);
            } else if (w->n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                entry *nv = realloc(w->v, nc * sizeof *nv);
                if (!nv) {
                    why = "out of memory";
                    free(e.name);
                } else {
                    w->v = nv;
                    cap = nc;
                }
            }
            if (!why) w->v[w->n++] = e;
        }
        if (why) {
            if (err) snprintf(err, errlen, "%s:%zu: %s", name, lineno, why);
            al_weights_free(w);
            return NULL;
        }
        pos = end + 1;
    }
    if (w->n == 0) {
        if (err) snprintf(err, errlen, "%s: no digests in the manifest", name);
        al_weights_free(w);
        return NULL;
    }
    qsort(w->v, w->n, sizeof *w->v, cmp_entry);
    return w;
}

al_weights *al_weights_load(const char *path, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!path) return NULL;
    al_buf b = {0};
    al_code r = al_read_file(path, (size_t)AL_WEIGHTS_MAX_ENTRIES * (AL_WEIGHTS_MAX_LINE / 16), &b);
    al_weights *w = NULL;
    if (r != AL_OK) {
        if (err)
            snprintf(err, errlen, "%s: %s", path,
                     r == AL_EIO      ? strerror(errno)
                     : r == AL_ELIMIT ? "manifest too large"
                                      : "out of memory");
    } else {
        w = al_weights_parse(b.data ? b.data : "", b.len, path, err, errlen);
    }
    al_buf_free(&b);
    return w;
}

int al_weights_known(const al_weights *w, const unsigned char digest[32], const char **name)
{
    if (!w || !digest) return 0;
    entry key;
    memcpy(key.d, digest, 32);
    const entry *e = bsearch(&key, w->v, w->n, sizeof *w->v, cmp_entry);
    if (e && name) *name = e->name;
    return e != NULL;
}

static const char *last_ext(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base || !dot[1]) return NULL;
    return dot + 1;
}

int al_weights_is_weight_name(const char *path, const char *exts)
{
    static const char *const def[] = {
        "safetensors", "gguf",   "ggml", "bin", "pt",     "pth",    "ckpt", "onnx",    "h5",
        "keras",       "tflite", "pb",   "pkl", "pickle", "joblib", "npz",  "msgpack", "mlmodel",
    };
    if (!path) return 0;
    const char *e = last_ext(path);
    if (!e) return 0;
    if (!exts) {
        for (size_t i = 0; i < sizeof def / sizeof *def; i++)
            if (!strcasecmp(e, def[i])) return 1;
        return 0;
    }
    size_t el = strlen(e);
    for (const char *p = exts; *p;) {
        while (*p == ',' || *p == ' ' || *p == '.') p++;
        const char *q = p;
        while (*q && *q != ',' && *q != ' ') q++;
        if ((size_t)(q - p) == el && el && !strncasecmp(p, e, el)) return 1;
        p = q;
    }
    return 0;
}

int al_weights_content_is_weights(const char *path, const unsigned char *head, size_t n)
{
    const char *e = path ? last_ext(path) : NULL;
    if (!e || strcasecmp(e, "pth") != 0) return 1;
    if (n >= 4 && !memcmp(head, "PK\x03\x04", 4)) return 1; /* torch.save's zip format */
    if (n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) return 1; /* a pickle */
    return 0;
}

al_code al_weights_hash_fd(int fd, unsigned char digest[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c) return AL_ENOMEM;
    if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        return AL_ENOMEM;
    }
    enum { CHUNK = 1 << 16 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        EVP_MD_CTX_free(c);
        return AL_ENOMEM;
    }
    off_t off = 0;
    al_code rc = AL_OK;
    for (;;) {
        ssize_t r = pread(fd, buf, CHUNK, off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = AL_EIO;
            break;
        }
        if (r == 0) break;
        EVP_DigestUpdate(c, buf, (size_t)r);
        off += r;
    }
    unsigned int dl = 0;
    if (rc == AL_OK && EVP_DigestFinal_ex(c, digest, &dl) != 1) rc = AL_ENOMEM;
    int saved = errno;
    free(buf);
    EVP_MD_CTX_free(c);
    errno = saved;
    return rc;
}

void al_weights_hex(const unsigned char digest[32], char out[65])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hx[digest[i] >> 4];
        out[2 * i + 1] = hx[digest[i] & 15];
    }
    out[64] = 0;
}

/* ---- memo of verified files ------------------------------------------- */

#define MEMO_SIZE 64

typedef struct {
    int used;
    dev_t dev;
    ino_t ino;
    off_t size;
    long long mtime_ns;
    unsigned char d[32];
    int verdict;
} memo_ent;

static memo_ent memo[MEMO_SIZE];
static unsigned memo_next;
static pthread_mutex_t memo_mu = PTHREAD_MUTEX_INITIALIZER;

int al_weights_memo_get(dev_t dev, ino_t ino, off_t size, long long mtime_ns,
                        unsigned char digest[32], int *verdict)
{
    int hit = 0;
    pthread_mutex_lock(&memo_mu);
    for (int i = 0; i < MEMO_SIZE; i++) {
        memo_ent *m = &memo[i];
        if (m->used && m->dev == dev && m->ino == ino && m->size == size &&
            m->mtime_ns == mtime_ns) {
            memcpy(digest, m->d, 32);
            *verdict = m->verdict;
            hit = 1;
            break;
        }
    }
    pthread_mutex_unlock(&memo_mu);
    return hit;
}

void al_weights_memo_put(dev_t dev, ino_t ino, off_t size, long long mtime_ns,
                         const unsigned char digest[32], int verdict)
{
    pthread_mutex_lock(&memo_mu);
    memo_ent *m = &memo[memo_next++ % MEMO_SIZE];
    *m = (memo_ent){1, dev, ino, size, mtime_ns, {0}, verdict};
    memcpy(m->d, digest, 32);
    pthread_mutex_unlock(&memo_mu);
}

void al_weights_memo_clear(void)
{
    pthread_mutex_lock(&memo_mu);
    memset(memo, 0, sizeof memo);
    memo_next = 0;
    pthread_mutex_unlock(&memo_mu);
}

/* ---- audit line -------------------------------------------------------- */

al_code al_weights_audit_format(const char *path, const unsigned char *digest, const char *verdict,
                                const char *mode, const char *reason, al_buf *out)
{
    char hex[65];
    const char *base = path ? strrchr(path, '/') : NULL;
    base = base ? base + 1 : path;
    cJSON *o = al_audit_begin("weights");
    int ok = o != NULL;
    ok = ok && (base ? cJSON_AddStringToObject(o, "file", base) : cJSON_AddNullToObject(o, "file"));
    if (digest) al_weights_hex(digest, hex);
    ok = ok &&
         (digest ? cJSON_AddStringToObject(o, "sha256", hex) : cJSON_AddNullToObject(o, "sha256"));
    ok = ok && cJSON_AddStringToObject(o, "verdict", verdict ? verdict : "refused");
    ok = ok && (mode ? cJSON_AddStringToObject(o, "mode", mode) : cJSON_AddNullToObject(o, "mode"));
    ok = ok && (reason ? cJSON_AddStringToObject(o, "reason", reason)
                       : cJSON_AddNullToObject(o, "reason"));
    return al_audit_end(o, ok, out);
}

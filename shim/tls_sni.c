/* tls_sni.c: the server name of a TLS ClientHello, and the list of public LLM
 * API hosts.  Pure: a bounded reader over the caller's bytes; it never
 * allocates and never reads past the end of the first TLS record. */
#include <string.h>

#include "tls_sni.h"

/* A bounded cursor: every read checks the remaining length first. */
typedef struct {
    const unsigned char *p;
    size_t n;
} cur;

static int take(cur *c, size_t k, const unsigned char **out)
{
    if (c->n < k) return -1;
    if (out) *out = c->p;
    c->p += k;
    c->n -= k;
    return 0;
}

static int u8(cur *c, size_t *v)
{
    const unsigned char *q;
    if (take(c, 1, &q)) return -1;
    *v = q[0];
    return 0;
}

static int u16(cur *c, size_t *v)
{
    const unsigned char *q;
    if (take(c, 2, &q)) return -1;
    *v = ((size_t)q[0] << 8) | q[1];
    return 0;
}

static int u24(cur *c, size_t *v)
{
    const unsigned char *q;
    if (take(c, 3, &q)) return -1;
    *v = ((size_t)q[0] << 16) | ((size_t)q[1] << 8) | q[2];
    return 0;
}

/* Splits off a sub-cursor of k bytes, clipped to what is present. */
static cur sub(cur *c, size_t k)
{
    cur s = {c->p, k < c->n ? k : c->n};
    c->p += s.n;
    c->n -= s.n;
    return s;
}

int al_tls_is_client_hello(const unsigned char *buf, size_t len)
{
    return buf && len >= 6 && buf[0] == 0x16 && buf[1] == 0x03 && buf[2] <= 0x04 && buf[5] == 0x01;
}

static al_sni_result copy_name(const unsigned char *name, size_t n, char *host, size_t hostcap)
{
    if (n == 0 || n >= hostcap) return AL_SNI_NONE;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = name[i];
        if (ch >= 'A' && ch <= 'Z') ch = (unsigned char)(ch - 'A' + 'a');
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
              ch == '_'))
            return AL_SNI_NONE;
        host[i] = (char)ch;
    }
    host[n] = '\0';
    return AL_SNI_FOUND;
}

al_sni_result al_tls_sni(const unsigned char *buf, size_t len, char *host, size_t hostcap)
{
    if (host && hostcap) host[0] = '\0';
    if (!host || hostcap == 0 || !al_tls_is_client_hello(buf, len)) return AL_SNI_NOT_TLS;
    cur rec = {buf + 5, len - 5};
    size_t reclen = ((size_t)buf[3] << 8) | buf[4];
    if (reclen < rec.n) rec.n = reclen;

    size_t type, hlen, v;
    if (u8(&rec, &type) || type != 1 || u24(&rec, &hlen)) return AL_SNI_NONE;
    cur hs = sub(&rec, hlen);
    if (take(&hs, 2 + 32, NULL)) return AL_SNI_NONE;            /* client_version, random */
    if (u8(&hs, &v) || take(&hs, v, NULL)) return AL_SNI_NONE;  /* session id */
    if (u16(&hs, &v) || take(&hs, v, NULL)) return AL_SNI_NONE; /* cipher suites */
    if (u8(&hs, &v) || take(&hs, v, NULL)) return AL_SNI_NONE;  /* compression */
    if (u16(&hs, &v)) return AL_SNI_NONE;
    cur ext = sub(&hs, v);
    while (ext.n >= 4) {
        size_t etype, elen;
        if (u16(&ext, &etype) || u16(&ext, &elen)) return AL_SNI_NONE;
        cur e = sub(&ext, elen);
        if (etype != 0) continue;
        size_t listlen;
        if (u16(&e, &listlen)) return AL_SNI_NONE;
        cur list = sub(&e, listlen);
        while (list.n >= 3) {
            size_t ntype, nlen;
            const unsigned char *name;
            if (u8(&list, &ntype) || u16(&list, &nlen) || take(&list, nlen, &name))
                return AL_SNI_NONE;
            if (ntype == 0) return copy_name(name, nlen, host, hostcap);
        }
        return AL_SNI_NONE;
    }
    return AL_SNI_NONE;
}

/* Public LLM API endpoints.  A leading "*." matches any subdomain. */
static const char *const builtin_hosts[] = {
    "api.openai.com",
    "*.openai.azure.com",
    "*.cognitiveservices.azure.com",
    "*.services.ai.azure.com",
    "api.anthropic.com",
    "generativelanguage.googleapis.com",
    "*-aiplatform.googleapis.com",
    "aiplatform.googleapis.com",
    "api.mistral.ai",
    "api.groq.com",
    "openrouter.ai",
    "api.together.xyz",
    "api.together.ai",
    "api.deepseek.com",
    "api.fireworks.ai",
    "api.cohere.com",
    "api.cohere.ai",
    "api.perplexity.ai",
    "api.x.ai",
    "api.ai21.com",
    "api.deepinfra.com",
    "inference.cerebras.ai",
    "api.cerebras.ai",
    "api-inference.huggingface.co",
    "router.huggingface.co",
    "api.replicate.com",
    "api.voyageai.com",
    "api.moonshot.cn",
    "dashscope.aliyuncs.com",
    "dashscope-intl.aliyuncs.com",
    "bedrock-runtime.*.amazonaws.com",
    NULL,
};

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* Case-insensitive comparison of host[0..hn) with pat[0..pn). */
static int eq_n(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
    return 1;
}

/* One pattern: exact name, "*.suffix" (any subdomain), "*-suffix" (a label
 * ending in -suffix), or "prefix.*.suffix" (exactly one label in the middle). */
static int match_one(const char *host, size_t hn, const char *pat, size_t pn)
{
    while (pn && (pat[pn - 1] == ' ' || pat[pn - 1] == '.')) pn--;
    while (pn && *pat == ' ') pat++, pn--;
    if (pn == 0) return 0;
    const char *star = memchr(pat, '*', pn);
    if (!star) return hn == pn && eq_n(host, pat, pn);
    size_t pre = (size_t)(star - pat), post = pn - pre - 1;
    if (hn < pre + post + 1) return 0;
    if (!eq_n(host, pat, pre) || !eq_n(host + hn - post, star + 1, post)) return 0;
    /* The part the star stands for: at least one character, one label when
     * the pattern continues on both sides of it. */
    const char *mid = host + pre;
    size_t mn = hn - pre - post;
    if (pre > 0 && memchr(mid, '.', mn)) return 0;
    if (pre == 0 && post > 0 && star[1] == '-' && memchr(mid, '.', mn)) return 0;
    return 1;
}

int al_llm_host_match(const char *host, const char *extra)
{
    if (!host || !*host) return 0;
    size_t hn = strlen(host);
    while (hn && host[hn - 1] == '.') hn--;
    if (hn == 0) return 0;
    for (size_t i = 0; builtin_hosts[i]; i++)
        if (match_one(host, hn, builtin_hosts[i], strlen(builtin_hosts[i]))) return 1;
    for (const char *p = extra; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t pn = comma ? (size_t)(comma - p) : strlen(p);
        if (match_one(host, hn, p, pn)) return 1;
        p = comma ? comma + 1 : p + pn;
    }
    return 0;
}

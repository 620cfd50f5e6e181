/* egress.c: the egress allowlist (parse, match by name and by address), the
 * table of names the process resolved, so a connect() to an address can be
 * judged by the name that led to it, and the name a connection's first bytes
 * carry (TLS server name, HTTP Host), so an address shared by several names
 * admits only the listed ones.  Pure; never logs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "audit.h"
#include "egress.h"
#include "tls_sni.h"

typedef enum { E_NAME, E_WILDCARD, E_NET, E_LOCALHOST } etype;

typedef struct {
    etype t;
    char name[AL_EGRESS_MAX_NAME + 1]; /* lowercase, no trailing dot; for E_WILDCARD the suffix */
    int family;                        /* E_NET: AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits;
} entry;

struct al_egress {
    entry v[AL_EGRESS_MAX_ENTRIES];
    int n;
};

void al_egress_free(al_egress *e)
{
    free(e);
}

static void lower_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] + 32) : src[i];
    dst[n] = 0;
    if (n && dst[n - 1] == '.') dst[n - 1] = 0; /* "host." is "host" */
}

static int valid_name(const char *s)
{
    if (!*s) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
              *p == '_'))
            return 0;
    return s[0] != '.' && !strstr(s, "..");
}

/* "1.2.3.4", "1.2.3.0/24", "::1", "fd00::/8" into e; 0 ok, -1 not an address,
 * -2 bad prefix length */
static int parse_net(const char *s, entry *e)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (inet_pton(AF_INET, buf, e->addr) == 1)
        e->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, e->addr) == 1)
        e->family = AF_INET6;
    else
        return -1;
    int max = e->family == AF_INET ? 32 : 128;
    e->bits = max;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || b < 0 || b > max) return -2;
        e->bits = (int)b;
    }
    e->t = E_NET;
    return 0;
}

al_egress *al_egress_parse(const char *spec, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!spec) spec = "";
    al_egress *e = calloc(1, sizeof *e);
    if (!e) {
        if (err) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *p = spec;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        const char *q = p;
        while (*q && *q != ',' && *q != ' ' && *q != '\t' && *q != '\n') q++;
        size_t n = (size_t)(q - p);
        const char *why = NULL;
        entry en;
        memset(&en, 0, sizeof en);
        char tok[AL_EGRESS_MAX_NAME + 3];
        if (e->n == AL_EGRESS_MAX_ENTRIES) {
            why = "too many entries";
        } else if (n > AL_EGRESS_MAX_NAME + 2) {
            why = "too long";
        } else {
            memcpy(tok, p, n);
            tok[n] = 0;
            /* "[::1]" and "[fd00::]/8" as URLs write IPv6 addresses */
            char *rb = tok[0] == '[' ? strchr(tok, ']') : NULL;
            if (rb && (rb[1] == 0 || rb[1] == '/') && memchr(tok, ':', (size_t)(rb - tok))) {
                memmove(rb, rb + 1, strlen(rb + 1) + 1);
                memmove(tok, tok + 1, strlen(tok));
            }
            /* "localhost." is "localhost", as "host." is "host" */
            int lh = !strcasecmp(tok, "localhost") || !strcasecmp(tok, "localhost.");
            int r = parse_net(tok, &en);
            if (r == -2) {
                why = "bad prefix length";
            } else if (r == -1) {
                if (lh) {
                    en.t = E_LOCALHOST;
                } else if (n > 2 && tok[0] == '*' && tok[1] == '.') {
                    en.t = E_WILDCARD;
                    lower_copy(en.name, tok + 2, n - 2);
                    if (!valid_name(en.name)) why = "not a host name";
                } else {
                    en.t = E_NAME;
                    lower_copy(en.name, tok, n);
                    if (!valid_name(en.name))
                        why = strchr(tok, '*')
                                  ? "a wildcard is only allowed as '*.' before a domain"
                                  : "not a host name or address";
                }
            }
        }
        if (why) {
            if (err) snprintf(err, errlen, "entry '%.*s': %s", (int)(n > 80 ? 80 : n), p, why);
            free(e);
            return NULL;
        }
        e->v[e->n++] = en;
        p = q;
    }
    if (e->n == 0) {
        if (err) snprintf(err, errlen, "the list is empty");
        free(e);
        return NULL;
    }
    return e;
}

static int net_match(const entry *en, int family, const unsigned char *a)
{
    if (en->family != family) return 0;
    int full = en->bits / 8, rest = en->bits % 8;
    if (memcmp(en->addr, a, (size_t)full) != 0) return 0;
    if (!rest) return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (en->addr[full] & mask) == (a[full] & mask);
}

/* family and 4/16 address bytes of sa; IPv4-mapped IPv6 counts as IPv4 */
static int addr_of(const struct sockaddr *sa, socklen_t len, unsigned char out[16])
{
    memset(out, 0, 16);
    if (!sa) return 0;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return AF_INET;
    }
    /* the kernel takes an IPv6 address without its scope id (RFC 2133's 24
     * bytes), so that length is judged too */
    if (sa->sa_family == AF_INET6 &&
        len >= (socklen_t)offsetof(struct sockaddr_in6, sin6_scope_id)) {
        const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(b, mapped, 12)) {
            memcpy(out, b + 12, 4);
            return AF_INET;
        }
        memcpy(out, b, 16);
        return AF_INET6;
    }
    return 0;
}

static int is_loopback(int family, const unsigned char *a)
{
    static const unsigned char v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return family == AF_INET ? a[0] == 127 : !memcmp(a, v6lo, 16);
}

static int addr_allowed(const al_egress *e, int family, const unsigned char *a)
{
    for (int i = 0; i < e->n; i++) {
        const entry *en = &e->v[i];
        if (en->t == E_NET && net_match(en, family, a)) return 1;
        if (en->t == E_LOCALHOST && is_loopback(family, a)) return 1;
    }
    return 0;
}

int al_egress_allow_addr(const al_egress *e, const struct sockaddr *sa, socklen_t len)
{
    unsigned char a[16];
    int family = addr_of(sa, len, a);
    return e && family && addr_allowed(e, family, a);
}

int al_egress_allow_name(const al_egress *e, const char *host)
{
    if (!e || !host) return 0;
    size_t n = strlen(host);
    if (n == 0 || n > AL_EGRESS_MAX_NAME + 1) return 0;
    char h[AL_EGRESS_MAX_NAME + 2];
    lower_copy(h, host, n);
    entry tmp;
    if (parse_net(h, &tmp) == 0 && tmp.bits == (tmp.family == AF_INET ? 32 : 128))
        return addr_allowed(e, tmp.family, tmp.addr);
    size_t hl = strlen(h);
    for (int i = 0; i < e->n; i++) {
        const entry *en = &e->v[i];
        if (en->t == E_NAME && !strcmp(en->name, h)) return 1;
        if (en->t == E_LOCALHOST &&
            (!strcmp(h, "localhost") || (hl > 10 && !strcmp(h + hl - 10, ".localhost"))))
            return 1;
        if (en->t == E_WILDCARD) {
            size_t sl = strlen(en->name);
            if (hl > sl + 1 && h[hl - sl - 1] == '.' && !strcmp(h + hl - sl, en->name)) return 1;
        }
    }
    return 0;
}

/* ---- names the process resolved ---------------------------------------- */

#define MEMO_SIZE 1024

typedef struct {
    int family;
    unsigned char a[16];
    char name[AL_EGRESS_MAX_NAME + 1];
} memo_ent;

static memo_ent memo[MEMO_SIZE];
static unsigned memo_next, memo_used;
static pthread_mutex_t memo_mu = PTHREAD_MUTEX_INITIALIZER;

void al_egress_remember(const char *name, const struct sockaddr *sa, socklen_t len)
{
    unsigned char a[16];
    int family = addr_of(sa, len, a);
    if (!family || !name || !*name || strlen(name) > AL_EGRESS_MAX_NAME) return;
    pthread_mutex_lock(&memo_mu);
    for (unsigned i = 0; i < memo_used; i++) /* already known: nothing to add */
        if (memo[i].family == family && !memcmp(memo[i].a, a, 16) &&
            !strcasecmp(memo[i].name, name)) {
            pthread_mutex_unlock(&memo_mu);
            return;
        }
    memo_ent *m = &memo[memo_next];
    memo_next = (memo_next + 1) % MEMO_SIZE;
    if (memo_used < MEMO_SIZE) memo_used++;
    memset(m, 0, sizeof *m);
    m->family = family;
    memcpy(m->a, a, 16);
    lower_copy(m->name, name, strlen(name));
    pthread_mutex_unlock(&memo_mu);
}

void al_egress_forget_all(void)
{
    pthread_mutex_lock(&memo_mu);
    memset(memo, 0, sizeof memo);
    memo_next = memo_used = 0;
    pthread_mutex_unlock(&memo_mu);
}

int al_egress_allow_connect(const al_egress *e, const struct sockaddr *sa, socklen_t len,
                            char *name, size_t namelen)
{
    if (name && namelen) name[0] = 0;
    unsigned char a[16];
    int family = addr_of(sa, len, a);
    if (!family) /* not an IP connection; an IP one too short to read is refused */
        return !sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ? AL_EGRESS_BY_ADDR
                                                                              : 0;
    if (!e) return 0;
    if (addr_allowed(e, family, a)) return AL_EGRESS_BY_ADDR;
    int allowed = 0;
    unsigned char z[16] = {0};
    if (family == AF_INET ? !memcmp(a, z, 4) : !memcmp(a, z, 16)) return 0; /* unspecified */
    pthread_mutex_lock(&memo_mu);
    for (unsigned i = 0; i < memo_used && !allowed; i++) {
        const memo_ent *m = &memo[i];
        if (m->family != family || memcmp(m->a, a, family == AF_INET ? 4 : 16) != 0) continue;
        if (name && namelen && !name[0]) snprintf(name, namelen, "%s", m->name);
        if (al_egress_allow_name(e, m->name)) {
            allowed = AL_EGRESS_BY_NAME;
            if (name && namelen) snprintf(name, namelen, "%s", m->name);
        }
    }
    pthread_mutex_unlock(&memo_mu);
    return allowed;
}

void al_egress_addr_text(const struct sockaddr *sa, socklen_t len, char *ip, size_t iplen,
                         int *port)
{
    unsigned char a[16];
    int family = addr_of(sa, len, a);
    if (iplen) ip[0] = 0;
    *port = 0;
    if (!family) return;
    char t[INET6_ADDRSTRLEN] = "";
    inet_ntop(family, a, t, sizeof t);
    snprintf(ip, iplen, "%s", t);
    *port = ntohs(sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                           : ((const struct sockaddr_in6 *)sa)->sin6_port);
}

al_code al_egress_audit_format(const struct sockaddr *sa, socklen_t len, const char *host,
                               const char *verdict, const char *mode, const char *check,
                               const char *reason, const char *allowed_as, al_buf *out)
{
    char ip[INET6_ADDRSTRLEN];
    int port;
    al_egress_addr_text(sa, len, ip, sizeof ip, &port);
    cJSON *o = al_audit_begin("egress");
    int ok = o != NULL;
    ok = ok && (host && *host ? cJSON_AddStringToObject(o, "host", host)
                              : cJSON_AddNullToObject(o, "host"));
    ok = ok && cJSON_AddStringToObject(o, "addr", ip);
    ok = ok && cJSON_AddNumberToObject(o, "port", port);
    ok = ok && cJSON_AddStringToObject(o, "verdict", verdict ? verdict : "refused");
    ok = ok && (mode ? cJSON_AddStringToObject(o, "mode", mode) : cJSON_AddNullToObject(o, "mode"));
    if (check) {
        ok = ok && cJSON_AddStringToObject(o, "check", check);
        ok = ok && cJSON_AddStringToObject(o, "reason", reason ? reason : "unlisted");
        ok = ok && (allowed_as && *allowed_as ? cJSON_AddStringToObject(o, "allowed_as", allowed_as)
                                              : cJSON_AddNullToObject(o, "allowed_as"));
    }
    return al_audit_end(o, ok, out);
}

/* ---- the name a connection's first bytes carry ------------------------- */

static int lc(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* The host of an authority "host", "host:port", "[v6]", "[v6]:port" at
 * s[0..n) into out (lower case); 0 when it is not a readable host name or
 * address. */
static int authority_host(const char *s, size_t n, char *out, size_t cap)
{
    const char *h = s;
    size_t hn = n;
    if (n && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb) return 0;
        h = s + 1;
        hn = (size_t)(rb - h);
        if (rb + 1 != s + n && rb[1] != ':') return 0;
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon) hn = (size_t)(colon - s);
        for (const char *p = colon ? colon + 1 : s + n; p < s + n; p++)
            if (*p < '0' || *p > '9') return 0;
    }
    if (hn == 0 || hn >= cap) return 0;
    for (size_t i = 0; i < hn; i++) {
        int c = lc((unsigned char)h[i]);
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_' || (c == ':' && h != s)))
            return 0;
        out[i] = (char)c;
    }
    out[hn] = 0;
    return 1;
}

/* How bad a verdict is: an unlisted name outranks a missing one. */
static int severity(al_egress_name_verdict v)
{
    return v == AL_EGRESS_NAME_UNLISTED ? 2 : v == AL_EGRESS_NAME_MISSING;
}

/* Records verdict v for name (NULL: not a readable name) when it is worse
 * than what out holds, or the first name seen. */
static void note(al_egress_first *out, al_egress_name_verdict v, const char *name)
{
    if (severity(v) < severity(out->verdict)) return;
    if (severity(v) == severity(out->verdict) && (out->name[0] || v != AL_EGRESS_NAME_OK)) return;
    out->verdict = v;
    snprintf(out->name, sizeof out->name, "%s", name ? name : "");
}

/* Judges one name the program gave: listed, an address (an IP-literal URL:
 * missing, unless the address is listed) or unlisted. */
static void judge_name(const al_egress *e, const char *name, al_egress_first *out)
{
    entry tmp;
    if (al_egress_allow_name(e, name))
        note(out, AL_EGRESS_NAME_OK, name);
    else
        note(out, parse_net(name, &tmp) == 0 ? AL_EGRESS_NAME_MISSING : AL_EGRESS_NAME_UNLISTED,
             name);
}

static void judge_tls(const al_egress *e, const unsigned char *b, size_t len, al_egress_first *out)
{
    char host[AL_EGRESS_MAX_NAME + 2];
    out->proto = AL_EGRESS_PROTO_TLS;
    if (al_tls_sni(b, len, host, sizeof host) == AL_SNI_FOUND) {
        judge_name(e, host, out);
        return;
    }
    out->verdict = AL_EGRESS_NAME_MISSING;
    /* cut: the record, or the ClientHello inside it, goes on past what was
     * written (the server name may be in the rest) */
    size_t reclen = len >= 5 ? ((size_t)b[3] << 8) | b[4] : 0;
    size_t hlen = len >= 9 ? ((size_t)b[6] << 16) | ((size_t)b[7] << 8) | b[8] : 0;
    out->cut = len < 9 || len < 5 + reclen || 4 + hlen > reclen;
}

/* An HTTP/1.x request line "METHOD SP target SP HTTP/1.x": judges the
 * target's authority when it has one (absolute form, CONNECT), then every
 * Host header. */
static void judge_http(const al_egress *e, const char *s, size_t len, al_egress_first *out)
{
    char host[AL_EGRESS_MAX_NAME + 2];
    if (len > AL_EGRESS_HEAD_CAP) len = AL_EGRESS_HEAD_CAP;
    const char *eol = memchr(s, '\n', len);
    const char *sp = memchr(s, ' ', eol ? (size_t)(eol - s) : len);
    if (!eol) { /* the request line goes on past these bytes */
        out->proto = AL_EGRESS_PROTO_HTTP;
        out->verdict = AL_EGRESS_NAME_MISSING;
        out->cut = 1;
        return;
    }
    size_t ln = (size_t)(eol - s);
    if (ln && s[ln - 1] == '\r') ln--;
    if (!sp) return; /* (the caller saw a method and a space) */
    if (ln < 9 + (size_t)(sp - s) + 2 || memcmp(s + ln - 8, "HTTP/1.", 7) != 0 || s[ln - 9] != ' ')
        return; /* not HTTP/1.x (HTTP/2's preface names no host in clear): other */
    out->proto = AL_EGRESS_PROTO_HTTP;
    const char *t = sp + 1, *te = s + ln - 9;
    size_t tn = (size_t)(te - t);
    int have = 0;
    if (tn > 7 && (!strncasecmp(t, "http://", 7) || (tn > 8 && !strncasecmp(t, "https://", 8)))) {
        const char *a = t + (t[4] == ':' ? 7 : 8), *ae = a;
        while (ae < te && *ae != '/' && *ae != '?' && *ae != '#') ae++;
        const char *at = memchr(a, '@', (size_t)(ae - a)); /* userinfo@host */
        if (at) a = at + 1;
        if (authority_host(a, (size_t)(ae - a), host, sizeof host))
            judge_name(e, host, out);
        else
            note(out, AL_EGRESS_NAME_UNLISTED, NULL);
        have = 1;
    } else if (sp - s == 7 && !memcmp(s, "CONNECT", 7)) {
        if (authority_host(t, tn, host, sizeof host))
            judge_name(e, host, out);
        else
            note(out, AL_EGRESS_NAME_UNLISTED, NULL);
        have = 1;
    }
    const char *p = eol + 1, *end = s + len;
    for (;;) {
        const char *le = memchr(p, '\n', (size_t)(end - p));
        if (!le) { /* the header goes on past these bytes */
            if (!have) {
                note(out, AL_EGRESS_NAME_MISSING, NULL);
                out->cut = 1;
            }
            return;
        }
        size_t n = (size_t)(le - p);
        if (n && p[n - 1] == '\r') n--;
        if (n == 0) break; /* the end of the header */
        if (n > 5 && !strncasecmp(p, "host:", 5)) {
            const char *v = p + 5, *ve = p + n;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            if (ve == v) {
                /* an empty Host names nothing: as if there were none */
            } else if (authority_host(v, (size_t)(ve - v), host, sizeof host)) {
                judge_name(e, host, out);
                have = 1;
            } else {
                note(out, AL_EGRESS_NAME_UNLISTED, NULL); /* a Host that is no host name */
                have = 1;
            }
        }
        p = le + 1;
    }
    if (!have) note(out, AL_EGRESS_NAME_MISSING, NULL);
}

const char *al_egress_first_reason(const al_egress_first *f)
{
    if (f->verdict == AL_EGRESS_NAME_OK) return "ok";
    if (f->verdict == AL_EGRESS_NAME_UNLISTED) return "unlisted";
    return f->cut ? "split" : f->name[0] ? "address" : "no_name";
}

void al_egress_judge_first(const al_egress *e, const void *buf, size_t len, al_egress_first *out)
{
    memset(out, 0, sizeof *out);
    const unsigned char *b = buf;
    if (!e || !b || len == 0) return;
    if (b[0] == 0x16 && (len < 2 || b[1] == 0x03)) { /* a TLS handshake record */
        judge_tls(e, b, len, out);
        return;
    }
    size_t i = 0; /* a request method: upper-case letters, then a space */
    while (i < len && i < 20 && ((b[i] >= 'A' && b[i] <= 'Z') || b[i] == '-' || b[i] == '_')) i++;
    if (i > 0 && (i == len || b[i] == ' ')) judge_http(e, (const char *)b, len, out);
}

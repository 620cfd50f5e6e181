/* egress.c: the egress allowlist (parse, match by name and by address) and
 * the table of names the process resolved, so a connect() to an address can
 * be judged by the name that led to it.  Pure; never logs. */
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
        return !sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6);
    if (!e) return 0;
    if (addr_allowed(e, family, a)) return 1;
    int allowed = 0;
    unsigned char z[16] = {0};
    if (family == AF_INET ? !memcmp(a, z, 4) : !memcmp(a, z, 16)) return 0; /* unspecified */
    pthread_mutex_lock(&memo_mu);
    for (unsigned i = 0; i < memo_used && !allowed; i++) {
        const memo_ent *m = &memo[i];
        if (m->family != family || memcmp(m->a, a, family == AF_INET ? 4 : 16) != 0) continue;
        if (name && namelen && !name[0]) snprintf(name, namelen, "%s", m->name);
        if (al_egress_allow_name(e, m->name)) {
            allowed = 1;
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
                               const char *verdict, const char *mode, al_buf *out)
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
    return al_audit_end(o, ok, out);
}

/* hook_egress.c: the egress allowlist in a preloaded process.  When
 * AIRLOCK_EGRESS is set, a TCP connect() goes ahead only to an allowed
 * address, or to an address a getaddrinfo() call of this process resolved
 * from an allowed name; any other fails with EACCES before a packet leaves,
 * with one "airlock:" line on stderr and one "egress" audit line.  On a
 * connection allowed only through a name, the first bytes the program writes
 * must name a listed host too (TLS server name, HTTP Host): else the socket
 * layer fails that write (al_hook_egress_first_write), so a second name
 * served from the same address (a CDN) is not let through.
 * AIRLOCK_MODE=monitor lets it through and says so; a list that does not
 * parse refuses every TCP connection (AIRLOCK_FAIL=open: allows them).
 * Without AIRLOCK_EGRESS, getaddrinfo is one branch in front of the real
 * call, connect pays nothing and a first write one byte load. */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "egress.h"
#include "hook.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int configured;
static al_egress *list; /* NULL when AIRLOCK_EGRESS did not parse */
static int monitor, fail_open;

static void init(void)
{
    al_in_hook++;
    const char *v = getenv("AIRLOCK_EGRESS");
    if (v && *v) {
        configured = 1;
        al_hook_env_modes(&monitor, &fail_open);
        char err[256];
        list = al_egress_parse(v, err, sizeof err);
        if (!list)
            al_hook_warn("AIRLOCK_EGRESS: %s (%s)", err,
                         fail_open ? "connections are not limited: AIRLOCK_FAIL=open"
                                   : "every TCP connection is refused");
    }
    al_in_hook--;
}

static int enabled(void)
{
    pthread_once(&once, init);
    return configured;
}

/* Connections whose address was allowed only through a resolved name
 * (AL_EGRESS_BY_NAME), by descriptor, until their first write is judged. */
#define FD_CAP 65536
static unsigned char by_name[FD_CAP];

static void audit(const struct sockaddr *sa, socklen_t len, const char *host, const char *verdict,
                  const char *check, const char *reason, const char *allowed_as)
{
    const al_ctx *ctx = al_hook_ctx();
    if (!ctx || ctx->audit_fd < 0) return;
    al_buf b = {0};
    if (al_egress_audit_format(sa, len, host, verdict, monitor ? "monitor" : "enforce", check,
                               reason, allowed_as, &b) == AL_OK)
        syscall(SYS_write, ctx->audit_fd, b.data, b.len);
    al_buf_free(&b);
}

static void mark(int fd, int named)
{
    if ((unsigned)fd < FD_CAP)
        __atomic_store_n(&by_name[fd], (unsigned char)named, __ATOMIC_RELAXED);
}

int al_hook_egress_refused(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (al_in_hook || !sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) || !enabled())
        return 0;
    int saved = errno, type = 0;
    socklen_t tl = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM) {
        errno = saved;
        return 0; /* UDP (DNS among it) is not judged */
    }
    char name[AL_EGRESS_MAX_NAME + 1] = "";
    if (!list) {
        if (fail_open || monitor) {
            errno = saved;
            return 0;
        }
        al_in_hook++;
        audit(sa, len, NULL, "refused", NULL, NULL, NULL);
        al_in_hook--;
        errno = EACCES;
        return 1;
    }
    int how = al_egress_allow_connect(list, sa, len, name, sizeof name);
    mark(fd, how == AL_EGRESS_BY_NAME);
    if (how) {
        errno = saved;
        return 0;
    }
    al_in_hook++;
    char ip[64];
    int port;
    al_egress_addr_text(sa, len, ip, sizeof ip, &port);
    int named = name[0] && strcmp(name, ip) != 0;
    al_hook_warn("%s connection to %s%s%s%s port %d: not in AIRLOCK_EGRESS",
                 monitor ? "would refuse (monitor mode) a" : "refused a", named ? name : "",
                 named ? " (" : "", ip, named ? ")" : "", port);
    audit(sa, len, name, monitor ? "unverified" : "refused", NULL, NULL, NULL);
    al_in_hook--;
    if (monitor) {
        errno = saved;
        return 0;
    }
    errno = EACCES;
    return 1;
}

int al_hook_egress_first_write(int fd, const void *buf, size_t len)
{
    if ((unsigned)fd >= FD_CAP || !__atomic_load_n(&by_name[fd], __ATOMIC_RELAXED)) return 0;
    mark(fd, 0); /* judged once, on the first write */
    if (al_in_hook || !list) return 0;
    int saved = errno;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) { /* no longer a connected socket */
        errno = saved;
        return 0;
    }
    al_egress_first f;
    al_egress_judge_first(list, buf, len, &f);
    if (f.verdict == AL_EGRESS_NAME_OK) {
        errno = saved;
        return 0;
    }
    al_in_hook++;
    const struct sockaddr *sa = (const struct sockaddr *)&ss;
    char allowed_as[AL_EGRESS_MAX_NAME + 1] = "", ip[64];
    int port;
    al_egress_allow_connect(list, sa, sl, allowed_as, sizeof allowed_as);
    al_egress_addr_text(sa, sl, ip, sizeof ip, &port);
    int tls = f.proto == AL_EGRESS_PROTO_TLS;
    /* a missing name follows AIRLOCK_FAIL (it cannot be checked); an
     * unlisted one is refused as an unlisted address is */
    int refuse = !monitor && (f.verdict == AL_EGRESS_NAME_UNLISTED || !fail_open);
    const char *what = monitor  ? "would refuse (monitor mode)"
                       : refuse ? "refused"
                                : "let through (AIRLOCK_FAIL=open)";
    const char *as = allowed_as[0] ? allowed_as : "a listed name";
    char msg[2 * AL_EGRESS_MAX_NAME + 256];
    if (f.verdict == AL_EGRESS_NAME_UNLISTED) {
        snprintf(msg, sizeof msg,
                 "%s %s to %s (%s) port %d: %s is not in AIRLOCK_EGRESS (the address was "
                 "allowed for %s)",
                 what, tls ? "a TLS connection" : "an HTTP request",
                 f.name[0] ? f.name : "an unreadable name", ip, port,
                 tls ? "its server name (SNI)" : "its Host", as);
    } else {
        char why[AL_EGRESS_MAX_NAME + 64];
        if (f.cut)
            snprintf(why, sizeof why, "%s",
                     tls ? "its ClientHello is split before the server name"
                         : "its request header is split before the Host");
        else if (f.name[0])
            snprintf(why, sizeof why, "it names the address %s, not a host", f.name);
        else
            snprintf(why, sizeof why, "%s",
                     tls ? "it sends no server name (SNI)" : "it has no Host");
        snprintf(msg, sizeof msg,
                 "%s %s to %s port %d: %s, so its name cannot be held to AIRLOCK_EGRESS (the "
                 "address was allowed for %s%s)",
                 what, tls ? "a TLS connection" : "an HTTP request", ip, port, why, as,
                 refuse ? "; AIRLOCK_FAIL=open lets it through, recorded" : "");
    }
    if (refuse || monitor)
        al_hook_warn("%s", msg);
    else /* AIRLOCK_FAIL=open chose to let it through: the audit line records it */
        al_hook_debug("%s", msg);
    audit(sa, sl, f.name, refuse ? "refused" : "unverified", tls ? "tls_sni" : "http_host",
          al_egress_first_reason(&f), allowed_as);
    al_in_hook--;
    errno = saved;
    return refuse;
}

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

AL_EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                          struct addrinfo **res)
{
    static gai_fn real;
    if (!real) real = (gai_fn)al_hook_real("getaddrinfo", (void *)getaddrinfo, NULL);
    if (!real) return EAI_SYSTEM;
    int rc = real(node, service, hints, res);
    if (rc == 0 && node && res && !al_in_hook && enabled())
        for (const struct addrinfo *ai = *res; ai; ai = ai->ai_next)
            al_egress_remember(node, ai->ai_addr, ai->ai_addrlen);
    return rc;
}

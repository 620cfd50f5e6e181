/* hook_egress.c: the egress allowlist in a preloaded process.  When
 * AIRLOCK_EGRESS is set, a TCP connect() goes ahead only to an allowed
 * address, or to an address a getaddrinfo() call of this process resolved
 * from an allowed name; any other fails with EACCES before a packet leaves,
 * with one "airlock:" line on stderr and one "egress" audit line.
 * AIRLOCK_MODE=monitor lets it through and says so; a list that does not
 * parse refuses every TCP connection (AIRLOCK_FAIL=open: allows them).
 * Without AIRLOCK_EGRESS, getaddrinfo is one branch in front of the real
 * call and connect pays nothing. */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
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

static void audit(const struct sockaddr *sa, socklen_t len, const char *host, const char *verdict)
{
    const al_ctx *ctx = al_hook_ctx();
    if (!ctx || ctx->audit_fd < 0) return;
    al_buf b = {0};
    if (al_egress_audit_format(sa, len, host, verdict, monitor ? "monitor" : "enforce", &b) ==
        AL_OK)
        syscall(SYS_write, ctx->audit_fd, b.data, b.len);
    al_buf_free(&b);
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
        audit(sa, len, NULL, "refused");
        al_in_hook--;
        errno = EACCES;
        return 1;
    }
    if (al_egress_allow_connect(list, sa, len, name, sizeof name)) {
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
    audit(sa, len, name, monitor ? "unverified" : "refused");
    al_in_hook--;
    if (monitor) {
        errno = saved;
        return 0;
    }
    errno = EACCES;
    return 1;
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

/* egress.h: the egress allowlist: which hosts a preloaded process may open
 * network connections to.  A list (AIRLOCK_EGRESS) of host names
 * ("api.openai.com"), subdomain wildcards ("*.anthropic.com": any name
 * below, not the name itself), IP addresses and CIDR blocks ("10.0.0.0/8",
 * "fd00::/8"), and "localhost" (loopback addresses), separated by commas or
 * spaces.  Names are matched against the names the process resolved to the
 * address it connects to (al_egress_remember, fed by the shim's getaddrinfo
 * hook).  Pure; never logs. */
#ifndef AL_EGRESS_H
#define AL_EGRESS_H

#include <sys/socket.h>

#include "al.h"

#define AL_EGRESS_MAX_ENTRIES 256
#define AL_EGRESS_MAX_NAME 253

typedef struct al_egress al_egress;

/* Parses spec.  On an invalid entry returns NULL and writes "entry 'X':
 * reason" into err.  An empty list is an error (it would refuse every
 * connection; say so with a host that does not exist if that is meant). */
AL_API al_egress *al_egress_parse(const char *spec, char *err, size_t errlen);
AL_API void al_egress_free(al_egress *e);

/* 1 when host (a name, or an address in text form) is allowed. */
AL_API int al_egress_allow_name(const al_egress *e, const char *host);

/* 1 when the address matches an address, CIDR or localhost entry. */
AL_API int al_egress_allow_addr(const al_egress *e, const struct sockaddr *sa, socklen_t len);

/* Records that name resolved to sa (a bounded, thread-safe table that
 * forgets the oldest records first). */
AL_API void al_egress_remember(const char *name, const struct sockaddr *sa, socklen_t len);

/* The decision for a connect() to sa: 1 allowed (by address, or because a
 * name the process resolved to sa is allowed), 0 refused.  Non-IP
 * addresses (AF_UNIX, ...) are always allowed.  name (may be NULL) receives
 * a resolved name for sa, or "" when none is known (for messages). */
AL_API int al_egress_allow_connect(const al_egress *e, const struct sockaddr *sa, socklen_t len,
                                   char *name, size_t namelen);

/* The address of sa as text ("" when not IP) and its port (0). */
AL_API void al_egress_addr_text(const struct sockaddr *sa, socklen_t len, char *ip, size_t iplen,
                                int *port);

/* One audit line for a refused (or, in monitor mode, would-be refused)
 * connection, appended to out as JSON + "\n": {"time","pid","event":"egress",
 * "host": a resolved name or null, "addr","port","verdict","mode"}. */
AL_API al_code al_egress_audit_format(const struct sockaddr *sa, socklen_t len, const char *host,
                                      const char *verdict, const char *mode, al_buf *out);

/* Forgets every remembered name (tests). */
AL_API void al_egress_forget_all(void);

#endif

/* egress.h: the egress allowlist: which hosts a preloaded process may open
 * network connections to.  A list (AIRLOCK_EGRESS) of host names
 * ("api.openai.com"), subdomain wildcards ("*.anthropic.com": any name
 * below, not the name itself), IP addresses and CIDR blocks ("10.0.0.0/8",
 * "fd00::/8"), and "localhost" (loopback addresses), separated by commas or
 * spaces.  Names are matched against the names the process resolved to the
 * address it connects to (al_egress_remember, fed by the shim's getaddrinfo
 * hook); an address allowed only through such a name is then held to the
 * names the program writes on the connection (al_egress_judge_first).  Pure;
 * never logs. */
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

/* How al_egress_allow_connect allowed a connection (0: refused). */
enum {
    AL_EGRESS_BY_ADDR = 1, /* an IP, CIDR or localhost entry holds the address (or it is not IP) */
    AL_EGRESS_BY_NAME = 2  /* only a listed name the process resolved to it does: the names the
                              program then writes (TLS server name, HTTP Host) are checked too */
};

/* The decision for a connect() to sa: AL_EGRESS_BY_ADDR or AL_EGRESS_BY_NAME
 * when allowed, 0 refused.  Non-IP addresses (AF_UNIX, ...) are always
 * allowed (by address).  name (may be NULL) receives a resolved name for sa
 * (the allowed one when there is one), or "" when none is known (for
 * messages). */
AL_API int al_egress_allow_connect(const al_egress *e, const struct sockaddr *sa, socklen_t len,
                                   char *name, size_t namelen);

/* The first bytes a program writes on a connection its address was allowed
 * for by name (AL_EGRESS_BY_NAME), judged by the name they carry. */
typedef enum {
    AL_EGRESS_PROTO_OTHER = 0, /* neither TLS nor HTTP/1.x: no name to check */
    AL_EGRESS_PROTO_TLS,       /* a TLS handshake record: the ClientHello's server name (SNI) */
    AL_EGRESS_PROTO_HTTP       /* an HTTP/1.x request: its Host (and a proxy target's authority) */
} al_egress_proto;

typedef enum {
    AL_EGRESS_NAME_OK = 0,   /* the name is on the list, or the protocol carries none */
    AL_EGRESS_NAME_UNLISTED, /* a name that is not on the list (name holds it; "" when it is not a
                                readable host name) */
    AL_EGRESS_NAME_MISSING   /* TLS or HTTP naming no host: no SNI, no Host, an address that is not
                                listed (an IP-literal URL), or the bytes end before the name */
} al_egress_name_verdict;

typedef struct {
    al_egress_proto proto;
    al_egress_name_verdict verdict;
    int cut; /* MISSING because the bytes end before the name could be read (a
              * ClientHello or request header split over several writes) */
    char name[AL_EGRESS_MAX_NAME + 1]; /* the name judged, lower case ("" when none) */
} al_egress_first;

/* Why out was not OK, for audit lines: "unlisted", "address" (an address
 * where a name belongs), "split" (the bytes end before the name), "no_name";
 * "ok" when it was. */
AL_API const char *al_egress_first_reason(const al_egress_first *f);

/* Judges buf[0..len), the first bytes written on a connection, into out.
 * Reads at most the first TLS record (al_tls_sni) or AL_EGRESS_HEAD_CAP bytes
 * of an HTTP request header; never allocates. */
#define AL_EGRESS_HEAD_CAP 16384
AL_API void al_egress_judge_first(const al_egress *e, const void *buf, size_t len,
                                  al_egress_first *out);

/* The address of sa as text ("" when not IP) and its port (0). */
AL_API void al_egress_addr_text(const struct sockaddr *sa, socklen_t len, char *ip, size_t iplen,
                                int *port);

/* One audit line for a refused (or, in monitor mode, would-be refused)
 * connection, appended to out as JSON + "\n": {"time","pid","event":"egress",
 * "host": a resolved name or null, "addr","port","verdict","mode"}, and for a
 * connection refused at its first bytes (check not NULL) also "check"
 * ("tls_sni" or "http_host"), "reason" (al_egress_first_reason) and
 * "allowed_as" (the listed name its address was allowed for, or null). */
AL_API al_code al_egress_audit_format(const struct sockaddr *sa, socklen_t len, const char *host,
                                      const char *verdict, const char *mode, const char *check,
                                      const char *reason, const char *allowed_as, al_buf *out);

/* Forgets every remembered name (tests). */
AL_API void al_egress_forget_all(void);

#endif

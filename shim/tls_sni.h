/* tls_sni.h: reads the server name out of the first bytes a client writes
 * to a TCP socket (a TLS ClientHello) and tells whether a host name is a
 * known LLM API endpoint.  Pure and bounded: never reads past len, never
 * allocates. */
#ifndef AL_TLS_SNI_H
#define AL_TLS_SNI_H

#include "al.h"

/* Result of al_tls_sni. */
typedef enum {
    AL_SNI_NOT_TLS = -1, /* buf does not start like a TLS handshake record */
    AL_SNI_NONE = 0,     /* a ClientHello without a server_name (or truncated before it) */
    AL_SNI_FOUND = 1     /* host holds the lower-cased server name */
} al_sni_result;

/* Parses the first TLS record in buf (a ClientHello split across records is
 * read up to the end of the first one).  On AL_SNI_FOUND, host gets the name,
 * lower-cased and NUL-terminated; a name that does not fit in hostcap or holds
 * bytes outside [a-z0-9.-_] counts as AL_SNI_NONE. */
AL_API al_sni_result al_tls_sni(const unsigned char *buf, size_t len, char *host, size_t hostcap);

/* 1 when buf starts like a TLS handshake record carrying a ClientHello
 * (0x16 0x03 x, handshake type 1), 0 otherwise.  Needs at least 6 bytes. */
AL_API int al_tls_is_client_hello(const unsigned char *buf, size_t len);

/* 1 when host (case-insensitive, a trailing dot ignored) is a public LLM API
 * endpoint in the built-in list or in extra, a comma-separated list of names
 * where "*.example.com" matches any subdomain (extra may be NULL). */
AL_API int al_llm_host_match(const char *host, const char *extra);

#endif

/* client_hello.h: builds a minimal TLS ClientHello for the unit tests that
 * read server names from one (test_tls_sni.c, test_egress.c).  Test code
 * only: never include it from shim/. */
#ifndef AL_CLIENT_HELLO_H
#define AL_CLIENT_HELLO_H

#include <string.h>

/* Writes to out (at least 600 bytes) a ClientHello record carrying server
 * name sni (NULL: no SNI) after an unrelated extension (supported_versions),
 * and, with padding set, a padding extension after it as real clients send.
 * Returns its length. */
static inline size_t build_client_hello(unsigned char *out, const char *sni, int padding)
{
    unsigned char body[560];
    size_t n = 0;
    body[n++] = 3, body[n++] = 3;
    for (int i = 0; i < 32; i++) body[n++] = (unsigned char)i;
    body[n++] = 0;                                                    /* session id */
    body[n++] = 0, body[n++] = 2, body[n++] = 0x13, body[n++] = 0x01; /* ciphers */
    body[n++] = 1, body[n++] = 0;                                     /* compression */
    size_t extlen_at = n;
    n += 2;
    body[n++] = 0, body[n++] = 43, body[n++] = 0, body[n++] = 3, body[n++] = 2; /* versions */
    body[n++] = 3, body[n++] = 4;
    if (sni) {
        size_t l = strlen(sni);
        body[n++] = 0, body[n++] = 0;
        body[n++] = (unsigned char)((l + 5) >> 8), body[n++] = (unsigned char)(l + 5);
        body[n++] = (unsigned char)((l + 3) >> 8), body[n++] = (unsigned char)(l + 3);
        body[n++] = 0;
        body[n++] = (unsigned char)(l >> 8), body[n++] = (unsigned char)l;
        memcpy(body + n, sni, l);
        n += l;
    }
    if (padding) {
        body[n++] = 0, body[n++] = 21, body[n++] = 0, body[n++] = 16;
        memset(body + n, 0, 16);
        n += 16;
    }
    size_t extlen = n - extlen_at - 2;
    body[extlen_at] = (unsigned char)(extlen >> 8), body[extlen_at + 1] = (unsigned char)extlen;
    out[0] = 0x16, out[1] = 3, out[2] = 1;
    out[3] = (unsigned char)((n + 4) >> 8), out[4] = (unsigned char)(n + 4);
    out[5] = 1, out[6] = 0, out[7] = (unsigned char)(n >> 8), out[8] = (unsigned char)n;
    memcpy(out + 9, body, n);
    return n + 9;
}

#endif

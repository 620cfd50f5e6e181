/* alpn.h: the ALPN offer a client makes, reduced to HTTP/1.1 so the shim can
 * read the plaintext it carries.  Pure: bytes in, bytes out. */
#ifndef AL_ALPN_H
#define AL_ALPN_H

#include "al.h"

/* in/len is an ALPN protocol list in wire format (length-prefixed names).
 * When it offers http/1.1 together with h2, h2c or h3, writes to out
 * (capacity >= len) the same list without those entries, order kept, and
 * returns its length.  Returns 0 to mean "leave the offer as it is": no
 * http/1.1 in it (a client that speaks only h2 must keep it), nothing to
 * drop, or a malformed list. */
AL_API size_t al_alpn_h1_only(const unsigned char *in, size_t len, unsigned char *out);

#endif

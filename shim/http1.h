/* http1.h: incremental HTTP/1.1 framing for requests and responses.
 * picohttpparser's contract: the caller owns the buffer, results point into
 * it; parsers return consumed >= 0, -2 for "need more", -1 for an error.
 * Pure: never allocates for header parsing, never performs I/O. */
#ifndef AL_HTTP1_H
#define AL_HTTP1_H

#include <stdint.h>

#include "al.h"

#define AL_HTTP1_MAX_HEADERS 256
#define AL_HTTP1_MAX_HEADER_BYTES (64 * 1024) /* whole header block */
#define AL_HTTP1_MAX_LINE 16384               /* one header / chunk-size / trailer line */

typedef struct {
    const char *name;
    size_t name_len;
    const char *value; /* without surrounding whitespace */
    size_t value_len;
} al_http1_header;

/* How a message body is delimited. */
typedef enum {
    AL_BODY_NONE = 0, /* no body (HEAD reply, 1xx/204/304, request without length) */
    AL_BODY_LENGTH,   /* Content-Length bytes */
    AL_BODY_CHUNKED,  /* Transfer-Encoding: chunked */
    AL_BODY_EOF       /* response read until the connection closes */
} al_body_kind;

typedef struct {
    /* request line (requests only) */
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    /* status line (responses only) */
    int status;
    const char *reason;
    size_t reason_len;
    int minor_version; /* 1 for HTTP/1.1, 0 for HTTP/1.0 */
    al_http1_header headers[AL_HTTP1_MAX_HEADERS];
    size_t num_headers;
    size_t header_len; /* bytes of the whole header block incl. the blank line */
    /* framing, derived from the headers */
    int64_t content_length; /* -1 when absent */
    int chunked;            /* Transfer-Encoding ends in chunked */
    int other_te;           /* Transfer-Encoding present without final chunked */
    int keep_alive;         /* connection persists after this message */
    int expect_continue;    /* Expect: 100-continue */
    int upgrade;            /* Connection: upgrade / Upgrade header present */
    /* on error (-1): static reason and byte offset in the buffer */
    const char *err;
    size_t err_pos;
} al_http1_msg;

/* Parses a request header block at the start of buf[0..len).  last_len is the
 * length passed on the previous call for the same message (0 the first time):
 * the search for the end of the block resumes there, so 1-byte feeds stay
 * linear.  Returns the header block length (> 0) with *m filled, -2 when the
 * block is incomplete (and within caps), -1 on malformed input or a cap hit
 * (m->err, m->err_pos say why).  Requests with both Content-Length and
 * Transfer-Encoding, or with an invalid or conflicting Content-Length, are
 * errors. */
AL_API int al_http1_parse_request(const char *buf, size_t len, size_t last_len, al_http1_msg *m);

/* The same for a response status line and headers. */
AL_API int al_http1_parse_response(const char *buf, size_t len, size_t last_len, al_http1_msg *m);

/* Finds a header (case-insensitive name); returns its index or -1. */
AL_API int al_http1_find(const al_http1_msg *m, const char *name);

/* 1 when header value (comma-separated list) contains token, caseless. */
AL_API int al_http1_has_token(const char *value, size_t len, const char *token);

/* Body framing of a request (AL_BODY_NONE, _LENGTH or _CHUNKED). */
AL_API al_body_kind al_http1_request_body(const al_http1_msg *req);

/* Body framing of a response to a request with method req_method
 * (HEAD, 1xx, 204 and 304 have no body; a 2xx reply to CONNECT neither). */
AL_API al_body_kind al_http1_response_body(const al_http1_msg *resp, const char *req_method,
                                           size_t req_method_len);

/* Incremental body decoder.  Errors are sticky: once err is set every feed
 * returns -1.  Zero-initialise, then al_http1_body_init. */
typedef struct {
    al_body_kind kind;
    uint64_t remaining; /* LENGTH: bytes left; CHUNKED: bytes left in the chunk */
    uint64_t total;     /* payload bytes decoded so far */
    uint64_t max;       /* cap on total payload (0 = none) */
    uint64_t pos;       /* raw bytes consumed so far */
    int state;
    size_t line;      /* length of the current size/trailer line */
    int done;         /* body complete */
    const char *err;  /* static reason once broken */
    uint64_t err_pos; /* raw offset of the error */
    al_code err_code; /* AL_EPARSE, AL_ELIMIT or AL_ENOMEM */
} al_http1_body;

/* length is the Content-Length for AL_BODY_LENGTH, ignored otherwise.
 * max caps decoded payload bytes (0: no cap; over it: AL_ELIMIT error). */
AL_API void al_http1_body_init(al_http1_body *d, al_body_kind kind, uint64_t length, uint64_t max);

/* Consumes raw body bytes from buf[0..len), appending decoded payload to out
 * (may be NULL to only track framing).  Stops at the end of the body: bytes
 * after it belong to the next message and are not consumed.  Returns the
 * number of bytes consumed (d->done says whether the body is complete), or
 * -1 on malformed framing, a cap hit or an allocation failure (d->err).
 * al_http1_body_eof() tells the decoder the connection closed: returns 0 when
 * that ends the body cleanly (AL_BODY_EOF), -1 when the body was truncated. */
AL_API long al_http1_body_feed(al_http1_body *d, const char *buf, size_t len, al_buf *out);

/* How many of the next raw bytes are payload the decoder needs no look at:
 * the rest of a Content-Length body, of the current chunk's data, or
 * UINT64_MAX for a body read until EOF; 0 when the next byte is framing (a
 * chunk size line, CRLF, trailer), the body is done or broken. */
AL_API uint64_t al_http1_body_direct(const al_http1_body *d);

/* Counts n (<= al_http1_body_direct) payload bytes as consumed without
 * seeing them, as al_http1_body_feed with out NULL would.  Only for a
 * decoder with no payload cap (max 0). */
AL_API void al_http1_body_skip(al_http1_body *d, uint64_t n);
AL_API int al_http1_body_eof(al_http1_body *d);

#endif

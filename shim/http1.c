/* http1.c: incremental HTTP/1.1 header parsing and body de-framing
 * (Content-Length, chunked with extensions and trailers, until-close).
 * Pure and bounded: every line, header block and body has a cap; it never
 * trusts a length from the network beyond what it has been handed. */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "http1.h"

static int is_tchar(unsigned char c)
{
    if (c >= 'a' && c <= 'z') return 1;
    if (c >= 'A' && c <= 'Z') return 1;
    if (c >= '0' && c <= '9') return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int fail(al_http1_msg *m, const char *why, const char *at, const char *buf)
{
    m->err = why;
    m->err_pos = (size_t)(at - buf);
    return -1;
}

/* Finds the end of the header block (after CRLFCRLF or LFLF); 0 if absent. */
static size_t block_end(const char *buf, size_t len, size_t last_len)
{
    size_t i = last_len > 3 ? last_len - 3 : 0;
    for (; i < len; i++) {
        if (buf[i] != '\n') continue;
        if (i + 1 < len && buf[i + 1] == '\n') return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') return i + 3;
    }
    return 0;
}

/* Returns the end of the line starting at p (pointing at '\n'), or NULL. */
static const char *line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl;
}

static int parse_version(const char *p, size_t n, int *minor)
{
    if (n != 8 || memcmp(p, "HTTP/1.", 7) != 0) return -1;
    if (p[7] != '0' && p[7] != '1') return -1;
    *minor = p[7] - '0';
    return 0;
}

static int parse_u64(const char *p, size_t n, int64_t *out)
{
    if (n == 0 || n > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

static int name_is(const al_http1_header *h, const char *name)
{
    return strlen(name) == h->name_len && strncasecmp(h->name, name, h->name_len) == 0;
}

int al_http1_has_token(const char *v, size_t len, const char *token)
{
    size_t tl = strlen(token), i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t s = i;
        while (i < len && v[i] != ',') i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        /* ignore parameters (";q=1") */
        const char *semi = memchr(v + s, ';', e - s);
        if (semi) {
            e = (size_t)(semi - v);
            while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        }
        if (e - s == tl && strncasecmp(v + s, token, tl) == 0) return 1;
    }
    return 0;
}

/* Returns 1 when the last transfer coding of the list is chunked. */
static int last_is_chunked(const char *v, size_t len)
{
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t')) len--;
    size_t s = len;
    while (s && v[s - 1] != ',') s--;
    while (s < len && (v[s] == ' ' || v[s] == '\t')) s++;
    return len - s == 7 && strncasecmp(v + s, "chunked", 7) == 0;
}

/* Parses header lines from p to end (end = end of block) and derives framing. */
static int parse_headers(const char *buf, const char *p, const char *end, al_http1_msg *m,
                         int is_request)
{
    int saw_cl = 0, conn_close = 0, conn_keep = 0;
    for (;;) {
        const char *nl = line_end(p, end);
        if (!nl) return fail(m, "header line without end", p, buf);
        const char *le = nl;
        if (le > p && le[-1] == '\r') le--;
        if (le == p) { /* blank line: end of block */
            break;
        }
        if ((size_t)(le - p) > AL_HTTP1_MAX_LINE) return fail(m, "header line too long", p, buf);
        if (*p == ' ' || *p == '\t') return fail(m, "obsolete header line folding", p, buf);
        const char *colon = p;
        while (colon < le && is_tchar((unsigned char)*colon)) colon++;
        if (colon == p || colon == le || *colon != ':')
            return fail(m, "invalid header name", colon, buf);
        if (m->num_headers == AL_HTTP1_MAX_HEADERS) return fail(m, "too many headers", p, buf);
        const char *v = colon + 1, *ve = le;
        while (v < ve && (*v == ' ' || *v == '\t')) v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
        for (const char *q = v; q < ve; q++)
            if ((unsigned char)*q < 0x20 && *q != '\t')
                return fail(m, "control character in header value", q, buf);
        al_http1_header *h = &m->headers[m->num_headers++];
        h->name = p;
        h->name_len = (size_t)(colon - p);
        h->value = v;
        h->value_len = (size_t)(ve - v);
        if (name_is(h, "content-length")) {
            int64_t n;
            if (parse_u64(v, h->value_len, &n) != 0)
                return fail(m, "invalid Content-Length", v, buf);
            if (saw_cl && n != m->content_length)
                return fail(m, "conflicting Content-Length", v, buf);
            saw_cl = 1;
            m->content_length = n;
        } else if (name_is(h, "transfer-encoding")) {
            if (last_is_chunked(v, h->value_len)) {
                m->chunked = 1;
                m->other_te = 0;
            } else {
                m->chunked = 0;
                m->other_te = 1;
            }
        } else if (name_is(h, "connection")) {
            if (al_http1_has_token(v, h->value_len, "close")) conn_close = 1;
            if (al_http1_has_token(v, h->value_len, "keep-alive")) conn_keep = 1;
            if (al_http1_has_token(v, h->value_len, "upgrade")) m->upgrade = 1;
        } else if (name_is(h, "expect")) {
            if (h->value_len == 12 && strncasecmp(v, "100-continue", 12) == 0)
                m->expect_continue = 1;
        }
        p = nl + 1;
    }
    if (is_request && (m->chunked || m->other_te) && saw_cl)
        return fail(m, "both Content-Length and Transfer-Encoding", buf, buf);
    if (is_request && m->other_te) return fail(m, "unsupported Transfer-Encoding", buf, buf);
    if (m->chunked || m->other_te) m->content_length = -1;
    m->keep_alive = m->minor_version >= 1 ? !conn_close : (conn_keep && !conn_close);
    return 0;
}

/* The header array (about 8 KB) is left as it is: only its first
 * num_headers entries are ever read, and clearing it cost more than parsing
 * a typical header block. */
static void msg_reset(al_http1_msg *m)
{
    memset(m, 0, offsetof(al_http1_msg, headers));
    memset(&m->num_headers, 0, sizeof *m - offsetof(al_http1_msg, num_headers));
    m->content_length = -1;
}

static int pre_check(const char *buf, size_t len, size_t last_len, al_http1_msg *m, size_t *blk)
{
    msg_reset(m);
    *blk = block_end(buf, len, last_len);
    if (*blk == 0) {
        if (len > AL_HTTP1_MAX_HEADER_BYTES) return fail(m, "header block too large", buf, buf);
        /* a first line that is already too long will never become valid */
        const char *nl = memchr(buf, '\n', len);
        if (!nl && len > AL_HTTP1_MAX_LINE) return fail(m, "request line too long", buf, buf);
        return -2;
    }
    if (*blk > AL_HTTP1_MAX_HEADER_BYTES) return fail(m, "header block too large", buf, buf);
    return 0;
}

/* Whitespace a lenient server takes as the request line's separator. */
static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

int al_http1_parse_request(const char *buf, size_t len, size_t last_len, al_http1_msg *m)
{
    size_t blk;
    int r = pre_check(buf, len, last_len, m, &blk);
    if (r != 0) return r;
    const char *p = buf, *end = buf + blk;
    /* tolerate empty lines before the request line (RFC 9112 2.2) */
    while (p < end && (*p == '\r' || *p == '\n')) p++;
    const char *nl = line_end(p, end);
    if (!nl) return fail(m, "no request line", p, buf);
    const char *le = (nl > p && nl[-1] == '\r') ? nl - 1 : nl;
    /* words split by any run of whitespace, as lenient servers read them
     * (RFC 9112 3: Python's http.server takes "POST\t/v1/chat/completions
     * HTTP/1.1"); a strict parser here passed such an LLM call unscreened */
    while (p < le && is_ws(*p)) p++;
    const char *sp1 = p;
    while (sp1 < le && !is_ws(*sp1)) sp1++;
    if (sp1 == le || sp1 == p) return fail(m, "invalid request line", p, buf);
    for (const char *q = p; q < sp1; q++)
        if (!is_tchar((unsigned char)*q)) return fail(m, "invalid method", q, buf);
    const char *t = sp1;
    while (t < le && is_ws(*t)) t++;
    const char *sp2 = t;
    while (sp2 < le && !is_ws(*sp2)) sp2++;
    if (sp2 == le || sp2 == t) return fail(m, "invalid request target", t, buf);
    for (const char *q = t; q < sp2; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f)
            return fail(m, "invalid request target", q, buf);
    const char *v = sp2, *ve = le;
    while (v < ve && is_ws(*v)) v++;
    while (ve > v && is_ws(ve[-1])) ve--;
    if (parse_version(v, (size_t)(ve - v), &m->minor_version) != 0)
        return fail(m, "invalid HTTP version", v, buf);
    m->method = p;
    m->method_len = (size_t)(sp1 - p);
    m->target = t;
    m->target_len = (size_t)(sp2 - t);
    if (parse_headers(buf, nl + 1, end, m, 1) != 0) return -1;
    m->header_len = blk;
    return (int)blk;
}

int al_http1_parse_response(const char *buf, size_t len, size_t last_len, al_http1_msg *m)
{
    size_t blk;
    int r = pre_check(buf, len, last_len, m, &blk);
    if (r != 0) return r;
    const char *p = buf, *end = buf + blk;
    const char *nl = line_end(p, end);
    if (!nl) return fail(m, "no status line", p, buf);
    const char *le = (nl > p && nl[-1] == '\r') ? nl - 1 : nl;
    if (le - p < 12 || parse_version(p, 8, &m->minor_version) != 0 || p[8] != ' ')
        return fail(m, "invalid status line", p, buf);
    const char *s = p + 9;
    if (s[0] < '1' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
        return fail(m, "invalid status code", s, buf);
    if (s + 3 < le && s[3] != ' ') return fail(m, "invalid status line", s + 3, buf);
    m->status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    m->reason = s + 3 < le ? s + 4 : le;
    m->reason_len = (size_t)(le - m->reason);
    if (parse_headers(buf, nl + 1, end, m, 0) != 0) return -1;
    m->header_len = blk;
    return (int)blk;
}

int al_http1_find(const al_http1_msg *m, const char *name)
{
    for (size_t i = 0; i < m->num_headers; i++)
        if (name_is(&m->headers[i], name)) return (int)i;
    return -1;
}

al_body_kind al_http1_request_body(const al_http1_msg *req)
{
    if (req->chunked) return AL_BODY_CHUNKED;
    if (req->content_length > 0) return AL_BODY_LENGTH;
    return AL_BODY_NONE;
}

al_body_kind al_http1_response_body(const al_http1_msg *resp, const char *method, size_t mlen)
{
    if (method && mlen == 4 && memcmp(method, "HEAD", 4) == 0) return AL_BODY_NONE;
    if (resp->status < 200 || resp->status == 204 || resp->status == 304) return AL_BODY_NONE;
    if (method && mlen == 7 && memcmp(method, "CONNECT", 7) == 0 && resp->status < 300)
        return AL_BODY_NONE;
    if (resp->chunked) return AL_BODY_CHUNKED;
    if (resp->other_te) return AL_BODY_EOF;
    if (resp->content_length >= 0) return resp->content_length ? AL_BODY_LENGTH : AL_BODY_NONE;
    return AL_BODY_EOF;
}

enum { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_TRAILER_LINE };

void al_http1_body_init(al_http1_body *d, al_body_kind kind, uint64_t length, uint64_t max)
{
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->max = max;
    d->state = CH_SIZE;
    if (kind == AL_BODY_LENGTH) d->remaining = length;
    if (kind == AL_BODY_NONE || (kind == AL_BODY_LENGTH && length == 0)) d->done = 1;
}

static long body_fail(al_http1_body *d, const char *why, al_code code, size_t at)
{
    d->err = why;
    d->err_code = code;
    d->err_pos = d->pos + at;
    return -1;
}

/* Emits n payload bytes; checks the cap. */
static int payload(al_http1_body *d, const char *p, size_t n, al_buf *out)
{
    if (d->max && d->total + n > d->max) return -2;
    d->total += n;
    if (!out || !n) return 0;
    return al_buf_add(out, p, n) != AL_OK ? -1 : 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

uint64_t al_http1_body_direct(const al_http1_body *d)
{
    if (d->err || d->done || d->max) return 0;
    if (d->kind == AL_BODY_EOF) return UINT64_MAX;
    if (d->kind == AL_BODY_LENGTH) return d->remaining;
    if (d->kind == AL_BODY_CHUNKED && d->state == CH_DATA) return d->remaining;
    return 0;
}

void al_http1_body_skip(al_http1_body *d, uint64_t n)
{
    uint64_t k = al_http1_body_direct(d);
    if (n > k) n = k; /* (a caller bug: never past the framing) */
    if (!n) return;
    d->total += n;
    d->pos += n;
    if (d->kind == AL_BODY_EOF) return;
    d->remaining -= n;
    if (d->remaining) return;
    if (d->kind == AL_BODY_LENGTH)
        d->done = 1;
    else
        d->state = CH_DATA_CR;
}

long al_http1_body_feed(al_http1_body *d, const char *buf, size_t len, al_buf *out)
{
    if (d->err) return -1;
    if (d->done) return 0;
    size_t i = 0;
    int r;
    if (d->kind == AL_BODY_LENGTH || d->kind == AL_BODY_EOF) {
        size_t n = len;
        if (d->kind == AL_BODY_LENGTH && n > d->remaining) n = (size_t)d->remaining;
        r = payload(d, buf, n, out);
        if (r == -2) return body_fail(d, "body larger than the cap", AL_ELIMIT, 0);
        if (r == -1) return body_fail(d, "out of memory", AL_ENOMEM, 0);
        if (d->kind == AL_BODY_LENGTH) {
            d->remaining -= n;
            if (d->remaining == 0) d->done = 1;
        }
        d->pos += n;
        return (long)n;
    }
    while (i < len && !d->done) {
        char c = buf[i];
        switch (d->state) {
        case CH_SIZE: {
            if (d->line == 0) {
                /* the usual size line, "HEX\r\n" whole in buf: read in one
                 * go (as the bytewise path below would); and while the
                 * chunk's data and its CRLF are whole in buf too, the chunk
                 * is taken here and the next size line read (as the
                 * CH_DATA and CH_DATA_CR cases would: a stream of small
                 * chunks costs one pass of this loop per chunk) */
                size_t i0 = i;
                for (;;) {
                    size_t j = i;
                    uint64_t v = d->remaining;
                    int hv;
                    while (j < len && j - i < 15 && (hv = hexval(buf[j])) >= 0) {
                        v = v * 16 + (uint64_t)hv;
                        j++;
                    }
                    if (!(j > i && j + 1 < len && buf[j] == '\r' && buf[j + 1] == '\n')) break;
                    d->remaining = v;
                    i = j + 2;
                    d->state = v ? CH_DATA : CH_TRAILER;
                    if (!v || v > len - i || len - i - v < 2 || buf[i + v] != '\r' ||
                        buf[i + v + 1] != '\n')
                        break;
                    r = payload(d, buf + i, (size_t)v, out);
                    if (r == -2) return body_fail(d, "body larger than the cap", AL_ELIMIT, i);
                    if (r == -1) return body_fail(d, "out of memory", AL_ENOMEM, i);
                    d->remaining = 0;
                    i += (size_t)v + 2;
                    d->state = CH_SIZE;
                    if (i == len) break;
                }
                if (i != i0) break; /* (c is buf[i0]: read again) */
            }
            int h = hexval(c);
            if (h >= 0) {
                if (d->line >= 15) return body_fail(d, "chunk size too large", AL_ELIMIT, i);
                d->remaining = d->remaining * 16 + (uint64_t)h;
                d->line++;
                i++;
                break;
            }
            if (d->line == 0) return body_fail(d, "invalid chunk size", AL_EPARSE, i);
            if (c == ';' || c == ' ' || c == '\t' || c == '\r') {
                d->state = CH_EXT;
                break;
            }
            if (c != '\n') return body_fail(d, "invalid chunk size", AL_EPARSE, i);
            d->state = CH_EXT;
            break;
        }
        case CH_EXT:
            /* chunk extensions are skipped up to the line cap */
            if (c == '\n') {
                d->line = 0;
                i++;
                d->state = d->remaining ? CH_DATA : CH_TRAILER;
                break;
            }
            if (++d->line > AL_HTTP1_MAX_LINE)
                return body_fail(d, "chunk extension too long", AL_ELIMIT, i);
            i++;
            break;
        case CH_DATA: {
            size_t n = len - i;
            if (n > d->remaining) n = (size_t)d->remaining;
            r = payload(d, buf + i, n, out);
            if (r == -2) return body_fail(d, "body larger than the cap", AL_ELIMIT, i);
            if (r == -1) return body_fail(d, "out of memory", AL_ENOMEM, i);
            d->remaining -= n;
            i += n;
            if (d->remaining == 0) d->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (c == '\r' && i + 1 < len && buf[i + 1] == '\n') { /* CRLF whole */
                d->state = CH_SIZE;
                d->line = 0;
                i += 2;
            } else if (c == '\r') {
                d->state = CH_DATA_LF;
                i++;
            } else if (c == '\n') {
                d->state = CH_SIZE;
                d->line = 0;
                i++;
            } else {
                return body_fail(d, "missing CRLF after chunk data", AL_EPARSE, i);
            }
            break;
        case CH_DATA_LF:
            if (c != '\n') return body_fail(d, "missing CRLF after chunk data", AL_EPARSE, i);
            d->state = CH_SIZE;
            d->line = 0;
            i++;
            break;
        case CH_TRAILER: /* at the start of a trailer line */
            if (c == '\r') {
                if (d->line) return body_fail(d, "invalid trailer", AL_EPARSE, i);
                d->line = 1; /* saw CR of the final blank line */
                i++;
            } else if (c == '\n') {
                d->done = 1;
                i++;
            } else if (d->line) {
                return body_fail(d, "invalid trailer", AL_EPARSE, i);
            } else {
                d->state = CH_TRAILER_LINE;
                d->line = 0;
            }
            break;
        case CH_TRAILER_LINE:
            if (c == '\n') {
                d->state = CH_TRAILER;
                d->line = 0;
            } else if (++d->line > AL_HTTP1_MAX_LINE) {
                return body_fail(d, "trailer line too long", AL_ELIMIT, i);
            }
            i++;
            break;
        }
    }
    d->pos += i;
    return (long)i;
}

int al_http1_body_eof(al_http1_body *d)
{
    if (d->err) return -1;
    if (d->done) return 0;
    if (d->kind == AL_BODY_EOF) {
        d->done = 1;
        return 0;
    }
    d->err = "connection closed before the end of the body";
    d->err_code = AL_EPARSE;
    d->err_pos = d->pos;
    return -1;
}

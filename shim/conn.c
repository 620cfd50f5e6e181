/* conn.c: one HTTP/1.1 connection's plaintext, both directions: frames
 * requests and responses, holds and screens LLM requests, serves blocking
 * replies, re-frames scrubbed replies.  Non-LLM traffic passes untouched with
 * at most its header block held.  Pure: bytes in, bytes out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exchange.h"
#include "http1.h"
#include "provider.h"

#define MAX_PENDING 32 /* pipelined requests awaiting their response */
/* A non-LLM binary reply up to this size keeps the connection watched. */
#define SMALL_BINARY_REPLY (16u << 20)

enum { R_HEAD, R_PASS, R_HOLD, R_CLOSED };
enum { S_HEAD, S_PASS, S_LLM, S_DISCARD };
enum { OUT_RAW, OUT_CHUNKED, OUT_EOF, OUT_HOLD };

typedef struct {
    al_exchange *x; /* NULL: not an LLM call */
    char method[16];
    int http10; /* the request was HTTP/1.0: its reply must not be chunked */
} pending;

struct al_conn {
    const al_ctx *ctx;
    const char *transport;
    char host[256];
    int passthrough;
    int broken;         /* the stream cannot be followed any more */
    al_code broken_why; /* what al_conn_out reports then */
    int nreq;           /* requests seen */
    /* request side */
    int rstate;
    int rmon;          /* monitor mode: the held request also streams to the server */
    int want_continue; /* the held request has Expect: 100-continue */
    al_buf rhead;      /* bytes of the request header not yet parsed */
    size_t rlast;
    al_http1_msg rmsg;
    al_http1_body rbody;
    al_buf rraw;  /* LLM request header as received (rmsg points into it: never grown) */
    al_buf rrawb; /* its body as received */
    al_buf rdec;  /* its decoded body */
    char rmethod[16];
    char *rtarget;
    char rhost[256];
    char rctype[128];
    pending q[MAX_PENDING];
    int qn;
    int deferred; /* the synthesized reply waits behind the server's replies */
    int tunnel;   /* al_conn_tunnel */
    int closing;  /* al_conn_take_closing */
    /* response side */
    int sstate;
    uint64_t spass_left;  /* a binary first reply: bytes watched before passing through */
    int follow_downloads; /* al_conn_follow_downloads: a large first reply ends nothing */
    al_buf shead;
    size_t slast;
    al_http1_msg smsg;
    al_http1_body sbody;
    int out;     /* OUT_* */
    int monitor; /* pass raw bytes, feed the exchange a copy */
    int jdepth;  /* a held reply read until EOF: nesting of its JSON, -1 not JSON */
    int jstr;    /* inside a JSON string (1), after its backslash (2) */
    al_buf hold; /* OUT_HOLD: the response header */
    al_buf dec, xout;
    al_buf reply; /* synthesized bytes for the host */
};

al_conn *al_conn_new(const al_ctx *ctx, const char *transport, const char *host)
{
    if (!ctx) return NULL;
    al_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ctx = ctx;
    c->transport = transport;
    if (host) snprintf(c->host, sizeof c->host, "%s", host);
    return c;
}

void al_conn_free(al_conn *c)
{
    if (!c) return;
    for (int i = 0; i < c->qn; i++) {
        /* the program let go of the connection before this reply ended (it
         * stopped reading a stream, or gave up waiting): the audit says so */
        if (c->q[i].x && !al_exchange_stream_ended(c->q[i].x))
            al_exchange_note_fail(c->q[i].x, "closed by the program before the end of the reply");
        al_exchange_free(c->q[i].x);
    }
    al_buf_free(&c->rhead);
    al_buf_free(&c->rraw);
    al_buf_free(&c->rrawb);
    al_buf_free(&c->rdec);
    al_buf_free(&c->shead);
    al_buf_free(&c->hold);
    al_buf_free(&c->dec);
    al_buf_free(&c->xout);
    al_buf_free(&c->reply);
    free(c->rtarget);
    free(c);
}

int al_conn_passthrough(const al_conn *c)
{
    return c && c->passthrough;
}

/* A synthesized reply (a block, a refusal, 100 Continue) answers the newest
 * request: while the server still owes replies to earlier pipelined requests
 * it waits behind them (al_conn_in appends it once they are done), so the
 * client never takes it for one of theirs.  Past a passthrough nothing can
 * order it: it is given at once. */
int al_conn_has_reply(const al_conn *c)
{
    return c && c->reply.len > 0 && (c->qn == 0 || c->passthrough);
}

void al_conn_follow_downloads(al_conn *c)
{
    if (c) c->follow_downloads = 1;
}

uint64_t al_conn_out_direct(const al_conn *c)
{
    if (!c) return 0;
    if (c->passthrough) return UINT64_MAX;
    if (c->broken || c->rstate != R_PASS) return 0;
    return al_http1_body_direct(&c->rbody);
}

void al_conn_out_skip(al_conn *c, uint64_t n)
{
    if (!c || c->passthrough || c->broken || c->rstate != R_PASS) return;
    al_http1_body_skip(&c->rbody, n);
    if (c->rbody.done) c->rstate = R_HEAD;
}

uint64_t al_conn_in_direct(const al_conn *c)
{
    if (!c || c->reply.len) return 0;
    if (c->passthrough) return UINT64_MAX;
    if (c->sstate != S_PASS) return 0;
    return al_http1_body_direct(&c->sbody);
}

static al_code finish_response(al_conn *c, al_buf *to_host);

void al_conn_in_skip(al_conn *c, uint64_t n)
{
    if (!c || c->passthrough || c->sstate != S_PASS || !n) return;
    uint64_t k = al_http1_body_direct(&c->sbody);
    if (n > k) n = k;
    al_http1_body_skip(&c->sbody, n);
    /* as the S_PASS branch of al_conn_in does with what it passed */
    if (c->spass_left && !c->sbody.done) {
        if (n >= c->spass_left) { /* a large download after all */
            c->passthrough = 1;
            return;
        }
        c->spass_left -= n;
    }
    if (c->sbody.done) {
        al_buf none = {0}; /* a reply that is not an LLM call adds nothing at its end */
        finish_response(c, &none);
        al_buf_free(&none);
    }
}

static void copy_field(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap) n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static void header_value(const al_http1_msg *m, const char *name, char *dst, size_t cap)
{
    int i = al_http1_find(m, name);
    dst[0] = '\0';
    if (i >= 0) copy_field(dst, cap, m->headers[i].value, m->headers[i].value_len);
}

static int push_pending(al_conn *c, al_exchange *x, const char *method)
{
    if (c->qn == MAX_PENDING) return -1;
    c->q[c->qn].x = x;
    c->q[c->qn].http10 = c->rmsg.minor_version == 0; /* (the request being sent) */
    snprintf(c->q[c->qn].method, sizeof c->q[c->qn].method, "%s", method);
    c->qn++;
    return 0;
}

static void pop_pending(al_conn *c)
{
    if (!c->qn) return;
    al_exchange_free(c->q[0].x);
    memmove(&c->q[0], &c->q[1], (size_t)(c->qn - 1) * sizeof c->q[0]);
    c->qn--;
}

/* A synthesized reply for the host: status, provider-shaped JSON body,
 * Connection: close.  headers: more header lines ending in CRLF, or NULL. */
/* X-Airlock says "blocked" for a refusal by policy (a 4xx, or a 502 that
 * replaces a reply the completion policy blocks: blocked set), "unscreened"
 * for a 5xx airlock gives because it could not screen. */
static al_code synth_reply_as(al_buf *out, int status, int blocked, const char *ctype,
                              const char *headers, const char *body, size_t len)
{
    const char *reason = status == 400   ? "Bad Request"
                         : status == 403 ? "Forbidden"
                         : status == 413 ? "Payload Too Large"
                         : status == 429 ? "Too Many Requests"
                         : status == 431 ? "Request Header Fields Too Large"
                         : status == 502 ? "Bad Gateway"
                                         : "Error";
    al_code r =
        al_buf_printf(out,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s"
                      "X-Airlock: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      status, reason, ctype ? ctype : "application/json", headers ? headers : "",
                      status >= 500 && !blocked ? "unscreened" : "blocked", len);
    if (r == AL_OK) r = al_buf_append(out, body, len);
    return r;
}

static al_code synth_reply(al_buf *out, int status, const char *ctype, const char *headers,
                           const char *body, size_t len)
{
    return synth_reply_as(out, status, 0, ctype, headers, body, len);
}

/* ---- requests ---- */

static int skip_header(const al_http1_header *h, const char *const *names)
{
    for (; *names; names++)
        if (strlen(*names) == h->name_len && !strncasecmp(h->name, *names, h->name_len)) return 1;
    return 0;
}

/* Appends m's header lines as "Name: value\r\n", minus those named in drop. */
static al_code append_headers(const al_http1_msg *m, const char *const *drop, al_buf *out)
{
    al_code r = AL_OK;
    for (size_t i = 0; r == AL_OK && i < m->num_headers; i++) {
        const al_http1_header *h = &m->headers[i];
        if (skip_header(h, drop)) continue;
        r = al_buf_append(out, h->name, h->name_len);
        if (r == AL_OK) r = al_buf_append(out, ": ", 2);
        if (r == AL_OK) r = al_buf_append(out, h->value, h->value_len);
        if (r == AL_OK) r = al_buf_append(out, "\r\n", 2);
    }
    return r;
}

/* Writes the held request's header block without framing, encoding and
 * expect headers, then Content-Length (none for a request that had no body
 * and gets none: a GET) and Accept-Encoding: identity. */
static al_code rebuild_request(al_conn *c, const char *body, size_t len, al_buf *out)
{
    static const char *const drop[] = {
        "content-length", "transfer-encoding", "expect", "accept-encoding",
        "upgrade",        "http2-settings",    NULL};
    const al_http1_msg *m = &c->rmsg;
    const char *base = c->rraw.data;
    /* request line, as sent */
    const char *nl = memchr(m->method, '\n', (size_t)(base + m->header_len - m->method));
    al_code r = al_buf_append(out, m->method, (size_t)(nl - m->method) + 1);
    if (r == AL_OK) r = append_headers(m, drop, out);
    if (r == AL_OK) r = al_buf_puts(out, "Accept-Encoding: identity\r\n");
    if (r == AL_OK && (len || m->content_length >= 0 || m->chunked))
        r = al_buf_printf(out, "Content-Length: %zu\r\n", len);
    if (r == AL_OK) r = al_buf_puts(out, "\r\n");
    if (r == AL_OK) r = al_buf_append(out, body, len);
    return r;
}

static al_code fail_conn(al_conn *c, al_code why)
{
    c->broken = 1;
    c->broken_why = why;
    if (c->ctx->fail == AL_FAIL_OPEN || c->ctx->mode == AL_MODE_MONITOR) {
        c->passthrough = 1;
        return AL_OK;
    }
    return why;
}

/* Blocks the held request: nothing reaches the server; the reply waits. */
static al_code serve_block(al_conn *c, al_exchange *x, const al_req_verdict *v)
{
    al_code r =
        synth_reply(&c->reply, v->status, v->content_type, v->headers, v->body.data, v->body.len);
    c->rstate = R_CLOSED;
    c->deferred = c->qn > 0;
    al_exchange_free(x);
    return r;
}

/* Refuses the held request with a provider-shaped error.  why (static, or
 * NULL when an exchange already recorded the call) goes to the audit log. */
static al_code refuse(al_conn *c, int status, const char *msg, const char *why)
{
    if (why) {
        al_exchange *x = al_exchange_new(c->ctx, c->transport);
        const char *host = c->rhost[0] ? c->rhost : (c->host[0] ? c->host : NULL);
        if (x) al_exchange_refused(x, c->rmethod, host, c->rtarget, status, why);
        al_exchange_free(x);
    }
    al_buf body = {0};
    al_code r = al_provider_openai.error(&body, status, status < 500, msg);
    if (r == AL_OK) {
        al_api api;
        const al_provider *p =
            al_provider_match(c->rmethod, strlen(c->rmethod), c->rtarget, strlen(c->rtarget), &api);
        if (p) {
            al_buf_reset(&body);
            r = p->error(&body, status, status < 500, msg);
        }
    }
    if (r == AL_OK)
        r = synth_reply(&c->reply, status, "application/json", NULL, body.data, body.len);
    al_buf_free(&body);
    c->rstate = R_CLOSED;
    c->deferred = c->qn > 0;
    return r;
}

/* The whole LLM request is held: screen it and forward, rewrite or block. */
static al_code finish_request(al_conn *c, al_buf *to_server)
{
    al_exchange *x = al_exchange_new(c->ctx, c->transport);
    if (!x) return fail_conn(c, AL_ENOMEM);
    al_req_verdict v = {0};
    const char *host = c->rhost[0] ? c->rhost : (c->host[0] ? c->host : NULL);
    al_code r =
        al_exchange_request(x, c->rmethod, host, c->rtarget, c->rctype[0] ? c->rctype : NULL,
                            c->rdec.data ? c->rdec.data : "", c->rdec.len, &v);
    if (r != AL_OK) {
        al_exchange_free(x);
        al_req_verdict_free(&v);
        if (c->ctx->fail == AL_FAIL_OPEN) {
            v.kind = AL_REQ_PASS;
            x = NULL;
        } else {
            r = refuse(c, 403, "airlock: request could not be screened (AIRLOCK_FAIL=closed)",
                       NULL);
            goto done;
        }
    }
    switch (v.kind) {
    case AL_REQ_BLOCK:
        r = serve_block(c, x, &v);
        goto done;
    case AL_REQ_PASS:
        al_exchange_free(x);
        x = NULL;
        /* fall through */
    default:
        if (c->rmon)
            r = AL_OK; /* already sent as it came */
        else if (!x) {
            r = al_buf_append(to_server, c->rraw.data, c->rraw.len);
            if (r == AL_OK) r = al_buf_append(to_server, c->rrawb.data, c->rrawb.len);
        } else if (v.kind == AL_REQ_REWRITE)
            r = rebuild_request(c, v.body.data, v.body.len, to_server);
        else
            r = rebuild_request(c, c->rdec.data ? c->rdec.data : "", c->rdec.len, to_server);
        if (r != AL_OK) {
            al_exchange_free(x); /* the request never went out: nothing will answer it */
        } else if (push_pending(c, x, c->rmethod) != 0) {
            al_exchange_free(x);
            r = fail_conn(c, AL_ELIMIT);
        }
    }
    c->rstate = R_HEAD;
done:
    al_req_verdict_free(&v);
    al_buf_reset(&c->rraw);
    al_buf_reset(&c->rrawb);
    al_buf_reset(&c->rdec);
    return r;
}

/* A request to a forward proxy names its URL whole (absolute form,
 * "POST http://user:pw@host:port/v1/chat/completions"), and Python's
 * http.client copies the URL's authority into Host, user and password too:
 * the exchange and the audit line get the path and the host without them. */
static void origin_form(al_conn *c)
{
    char *t = c->rtarget;
    size_t sl = strncasecmp(t, "http://", 7) == 0 ? 7 : strncasecmp(t, "https://", 8) == 0 ? 8 : 0;
    if (sl) {
        char *auth = t + sl, *end = auth + strcspn(auth, "/?#");
        if (!c->rhost[0]) copy_field(c->rhost, sizeof c->rhost, auth, (size_t)(end - auth));
        if (*end == '/') {
            memmove(t, end, strlen(end) + 1);
        } else { /* no path: "/" and the query */
            memmove(t + 1, end, strlen(end) + 1);
            t[0] = '/';
        }
    }
    char *at = strrchr(c->rhost, '@');
    if (at) memmove(c->rhost, at + 1, strlen(at + 1) + 1);
}

/* Parses the header block in c->rhead.  Returns bytes of rhead used (the
 * rest is body), 0 when more is needed, -1 on error, -3 when memory ran out
 * (then nothing of the request went out). */
static long request_head(al_conn *c, al_buf *to_server)
{
    int n = al_http1_parse_request(c->rhead.data, c->rhead.len, c->rlast, &c->rmsg);
    if (n == -2) {
        c->rlast = c->rhead.len;
        return 0;
    }
    c->rlast = 0;
    if (n < 0) return -1;
    al_http1_msg *m = &c->rmsg;
    copy_field(c->rmethod, sizeof c->rmethod, m->method, m->method_len);
    free(c->rtarget);
    c->rtarget = strndup(m->target, m->target_len);
    if (!c->rtarget) return -3;
    header_value(m, "host", c->rhost, sizeof c->rhost);
    header_value(m, "content-type", c->rctype, sizeof c->rctype);
    origin_form(c);
    c->nreq++;
    al_api api;
    const al_provider *p =
        al_provider_match(m->method, m->method_len, m->target, m->target_len, &api);
    /* an LLM POST asking to upgrade (h2c) is screened like any other: the
     * upgrade headers are dropped when it is forwarded, so it stays HTTP/1.1 */
    if (!p) {
        /* not an LLM call: the header goes out now, the body as it comes */
        if (m->upgrade) c->passthrough = 1;
        if (!strcmp(c->rmethod, "CONNECT")) c->passthrough = c->tunnel = 1;
        if (al_buf_append(to_server, c->rhead.data, (size_t)n) != AL_OK) return -3;
        if (push_pending(c, NULL, c->rmethod) != 0) return -1;
        al_http1_body_init(&c->rbody, al_http1_request_body(m), (uint64_t)m->content_length, 0);
        c->rstate = c->rbody.done ? R_HEAD : R_PASS;
        return n;
    }
    al_buf_reset(&c->rraw);
    al_buf_reset(&c->rrawb);
    al_buf_reset(&c->rdec);
    if (al_buf_append(&c->rraw, c->rhead.data, (size_t)n) != AL_OK) return -3;
    /* the parsed header must point into rraw, which outlives rhead */
    if (al_http1_parse_request(c->rraw.data, c->rraw.len, 0, m) != n) return -1;
    al_http1_body_init(&c->rbody, al_http1_request_body(m), (uint64_t)m->content_length,
                       c->ctx->max_body ? c->ctx->max_body : 0);
    c->rstate = R_HOLD;
    c->rmon = c->ctx->mode == AL_MODE_MONITOR;
    if (c->rmon && al_buf_append(to_server, c->rraw.data, c->rraw.len) != AL_OK) return -3;
    c->want_continue = m->expect_continue && !c->rbody.done && !c->rmon;
    return n;
}

/* 1 when the request line at the start of c->rhead names an LLM call; sets
 * c->rmethod and c->rtarget from it; -1 when memory ran out.  Used when the
 * header block cannot be parsed. */
static int llm_request_line(al_conn *c)
{
    const char *p = c->rhead.data, *end = p + c->rhead.len;
    while (p < end && (*p == '\r' || *p == '\n')) p++;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl) end = nl;
    /* words split by any run of whitespace, as al_http1_parse_request reads them */
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\v' || *p == '\f' || *p == '\r')) p++;
    const char *sp = p;
    while (sp < end && *sp != ' ' && *sp != '\t' && *sp != '\v' && *sp != '\f' && *sp != '\r') sp++;
    if (sp == end || sp == p) return 0;
    const char *t = sp;
    while (t < end && (*t == ' ' || *t == '\t' || *t == '\v' || *t == '\f' || *t == '\r')) t++;
    const char *sp2 = t;
    while (sp2 < end && *sp2 != ' ' && *sp2 != '\t' && *sp2 != '\v' && *sp2 != '\f' && *sp2 != '\r')
        sp2++;
    if (sp2 == end || sp2 == t) return 0;
    al_api api;
    if (!al_provider_match(p, (size_t)(sp - p), t, (size_t)(sp2 - t), &api)) return 0;
    copy_field(c->rmethod, sizeof c->rmethod, p, (size_t)(sp - p));
    c->rhost[0] = '\0';
    free(c->rtarget);
    c->rtarget = strndup(t, (size_t)(sp2 - t));
    if (!c->rtarget) return -1;
    origin_form(c);
    return 1;
}

/* A client that sent Expect: 100-continue and no body yet waits for the
 * interim reply: give it, since nothing reaches the server before screening.
 * A client that sent its body at once is not waiting and gets none. */
static al_code expect_continue(al_conn *c)
{
    if (c->rstate != R_HOLD || !c->want_continue) return AL_OK;
    c->want_continue = 0;
    if (c->rrawb.len) return AL_OK;
    return al_buf_puts(&c->reply, "HTTP/1.1 100 Continue\r\n\r\n");
}

al_code al_conn_out(al_conn *c, const char *buf, size_t len, al_buf *to_server)
{
    if (!c) return AL_EINVAL;
    if (c->passthrough) return al_buf_append(to_server, buf, len);
    if (c->broken) return c->broken_why ? c->broken_why : AL_EPARSE;
    al_code r = AL_OK;
    while (len > 0 || (c->rstate == R_HOLD && c->rbody.done)) {
        if (c->passthrough) return al_buf_append(to_server, buf, len);
        switch (c->rstate) {
        case R_CLOSED:
            return AL_OK; /* after a block nothing more is sent */
        case R_HEAD: {
            size_t before = c->rhead.len;
            if (al_buf_append(&c->rhead, buf, len) != AL_OK) return fail_conn(c, AL_ENOMEM);
            long used = request_head(c, to_server);
            int llm = used == -1 ? llm_request_line(c) : 0;
            if (used == -3 || llm < 0) {
                /* out of memory: closed, the write fails; open, the request
                 * goes out unscreened and the connection is let be */
                al_code e = AL_OK;
                if (c->ctx->fail == AL_FAIL_OPEN || c->ctx->mode == AL_MODE_MONITOR)
                    e = al_buf_append(to_server, c->rhead.data, c->rhead.len);
                al_buf_reset(&c->rhead);
                al_code f = fail_conn(c, AL_ENOMEM);
                return e != AL_OK ? e : f;
            }
            if (used < 0 && llm) {
                /* an LLM call whose header block breaks the parser's caps
                 * (too many or too long headers) or rules (framing that
                 * servers may read differently) is not let through unseen */
                if (c->ctx->fail == AL_FAIL_OPEN || c->ctx->mode == AL_MODE_MONITOR) {
                    al_code e = al_buf_append(to_server, c->rhead.data, c->rhead.len);
                    al_buf_reset(&c->rhead);
                    c->passthrough = 1;
                    return e;
                }
                al_buf_reset(&c->rhead);
                const char *why = c->rmsg.err ? c->rmsg.err : "malformed header";
                char msg[200];
                snprintf(msg, sizeof msg,
                         "airlock: request header cannot be screened: %s (AIRLOCK_FAIL=closed)",
                         why);
                return refuse(c, strstr(why, "too ") ? 431 : 400, msg, why);
            }
            if (used < 0) {
                /* not HTTP/1.x we understand (h2 preface, garbage): leave it alone
                 * unless it already looked like an LLM call */
                al_buf_append(to_server, c->rhead.data, c->rhead.len);
                al_buf_reset(&c->rhead);
                if (c->nreq == 0) {
                    c->passthrough = 1;
                    return AL_OK;
                }
                return fail_conn(c, AL_EPARSE);
            }
            if (used == 0) return AL_OK;
            /* bytes after the header that came from this buf */
            size_t rest_off = (size_t)used - before;
            al_buf_reset(&c->rhead);
            buf += rest_off;
            len -= rest_off;
            if (c->passthrough) return al_buf_append(to_server, buf, len);
            break;
        }
        case R_PASS: {
            long k = al_http1_body_feed(&c->rbody, buf, len, NULL);
            if (k < 0) {
                al_buf_append(to_server, buf, len);
                return fail_conn(c, AL_EPARSE);
            }
            if ((r = al_buf_append(to_server, buf, (size_t)k)) != AL_OK) return r;
            buf += k;
            len -= (size_t)k;
            if (c->rbody.done) c->rstate = R_HEAD;
            break;
        }
        case R_HOLD: {
            if (!c->rbody.done) {
                long k = al_http1_body_feed(&c->rbody, buf, len, &c->rdec);
                if (k < 0) {
                    if (c->rbody.err_code == AL_ENOMEM) {
                        /* open: what was held goes out unscreened */
                        int open = c->ctx->fail == AL_FAIL_OPEN || c->rmon;
                        al_code e = AL_OK;
                        if (open && !c->rmon) {
                            e = al_buf_append(to_server, c->rraw.data, c->rraw.len);
                            if (e == AL_OK)
                                e = al_buf_append(to_server, c->rrawb.data, c->rrawb.len);
                        }
                        if (e == AL_OK && open) e = al_buf_append(to_server, buf, len);
                        al_code f = fail_conn(c, AL_ENOMEM);
                        return e != AL_OK ? e : f;
                    }
                    if (c->rbody.err_code == AL_ELIMIT) {
                        if (c->ctx->fail == AL_FAIL_OPEN || c->ctx->mode == AL_MODE_MONITOR) {
                            /* open: forward unscreened, stop looking at this connection */
                            r = AL_OK;
                            if (!c->rmon) {
                                r = al_buf_append(to_server, c->rraw.data, c->rraw.len);
                                if (r == AL_OK)
                                    r = al_buf_append(to_server, c->rrawb.data, c->rrawb.len);
                            }
                            if (r == AL_OK) r = al_buf_append(to_server, buf, len);
                            c->passthrough = 1;
                            return r;
                        }
                        return refuse(c, 413,
                                      "airlock: request body exceeds the screening limit "
                                      "(AIRLOCK_MAX_BODY)",
                                      "request body exceeds AIRLOCK_MAX_BODY");
                    }
                    return fail_conn(c, AL_EPARSE);
                }
                if (al_buf_append(c->rmon ? to_server : &c->rrawb, buf, (size_t)k) != AL_OK)
                    return fail_conn(c, AL_ENOMEM);
                buf += k;
                len -= (size_t)k;
            }
            if (!c->rbody.done) return expect_continue(c);
            if ((r = finish_request(c, to_server)) != AL_OK) return r;
            break;
        }
        }
    }
    return expect_continue(c);
}

/* ---- responses ---- */

static int is_text_type(const char *ct)
{
    return ct && (strcasestr(ct, "json") || strcasestr(ct, "event-stream") ||
                  strcasestr(ct, "ndjson") || strcasestr(ct, "text/plain"));
}

/* Writes the response header without its framing headers, plus extra. */
static al_code rebuild_response(const al_http1_msg *m, const char *extra, al_buf *out)
{
    static const char *const drop[] = {"content-length", "transfer-encoding", NULL};
    al_code r = al_buf_printf(out, "HTTP/1.%d %d %.*s\r\n", m->minor_version, m->status,
                              (int)m->reason_len, m->reason);
    if (r == AL_OK) r = append_headers(m, drop, out);
    if (r == AL_OK) r = al_buf_puts(out, extra);
    return r;
}

static size_t hex_digits(size_t n)
{
    size_t k = 1;
    while (n >>= 4) k++;
    return k;
}

/* A chunk's size line for n ("%zx\r\n", without printf's two passes) into
 * d, which has room for hex_digits(n) + 2 bytes; returns its length. */
static size_t size_line(char *d, size_t n)
{
    size_t w = hex_digits(n);
    for (size_t i = w, v = n; i > 0; v >>= 4) d[--i] = "0123456789abcdef"[v & 15];
    d[w] = '\r';
    d[w + 1] = '\n';
    return w + 2;
}

static al_code emit_chunk(al_conn *c, const char *p, size_t n, al_buf *to_host)
{
    if (!n) return AL_OK;
    if (c->out == OUT_CHUNKED) {
        char h[24];
        al_code r = al_buf_append(to_host, h, size_line(h, n));
        if (r == AL_OK) r = al_buf_append(to_host, p, n);
        if (r == AL_OK) r = al_buf_append(to_host, "\r\n", 2);
        return r;
    }
    return al_buf_append(to_host, p, n);
}

/* The exchange's reply to c->dec written straight into to_host, as the
 * bytes emit_chunk would write for it (not through c->xout, one copy less):
 * as they are (OUT_EOF), or as one chunk (OUT_CHUNKED) whose size line is
 * given the width of the input's size, which the output's mostly has, and
 * moved when it has not.  *e: the exchange's result.  Returns 1 when done,
 * 0 when to_host could not be grown first (the caller goes through xout). */
static int body_direct(al_conn *c, al_exchange *x, al_buf *to_host, al_code *e, al_code *r)
{
    *r = AL_OK;
    if (c->out != OUT_CHUNKED) {
        *e = al_exchange_response_body(x, c->dec.data, c->dec.len, to_host);
        return 1;
    }
    size_t start = to_host->len, w = hex_digits(c->dec.len);
    if (al_buf_reserve(to_host, w + 2) != AL_OK) return 0;
    to_host->len = start + w + 2; /* the size line's place */
    to_host->data[to_host->len] = '\0';
    *e = al_exchange_response_body(x, c->dec.data, c->dec.len, to_host);
    size_t n = to_host->len - start - w - 2, hw = hex_digits(n);
    if (!n || (hw > w && al_buf_reserve(to_host, hw - w) != AL_OK)) {
        to_host->len = start; /* nothing to send, or (no memory) as emit_chunk failing */
        to_host->data[start] = '\0';
        if (n) *r = AL_ENOMEM;
        return 1;
    }
    char *d = to_host->data + start;
    if (hw != w) {
        memmove(d + hw + 2, d + w + 2, n);
        to_host->len = start + hw + 2 + n;
    }
    size_line(d, n);
    *r = al_buf_append(to_host, "\r\n", 2);
    return 1;
}

/* The reply could not be screened (failed: noted in the audit line) or the
 * completion policy blocks it, and nothing of it was sent yet: replace it
 * with a provider-shaped 502 error (fail closed). */
static al_code replace_reply(al_conn *c, al_exchange *x, const char *msg, int failed,
                             al_buf *to_host)
{
    al_buf body = {0};
    al_code r = al_exchange_error_body(x, 502, !failed, msg, &body);
    /* a blocked reply would be blocked again: SDKs that retry a 502 are told not to */
    if (r == AL_OK)
        r = synth_reply_as(to_host, 502, !failed, "application/json",
                           failed ? NULL : "x-should-retry: false\r\n", body.data, body.len);
    al_buf_free(&body);
    if (failed) al_exchange_note_fail(x, msg + 9);
    c->sstate = S_DISCARD;
    c->rstate = R_CLOSED;
    pop_pending(c);
    return r;
}

static al_code replace_with_error(al_conn *c, al_exchange *x, const char *msg, al_buf *to_host)
{
    return replace_reply(c, x, msg, 1, to_host);
}

/* Completes the current response. */
static al_code finish_response(al_conn *c, al_buf *to_host)
{
    al_exchange *x = c->q[0].x;
    al_code r = AL_OK;
    if (c->sstate == S_LLM) {
        if (c->out != OUT_HOLD) al_buf_reset(&c->xout); /* (held: what was released so far) */
        al_code e = al_exchange_response_end(x, &c->xout);
        if (c->monitor) {
            /* raw bytes already went out */
        } else if (c->out == OUT_HOLD) {
            if (e == AL_EBLOCKED) /* the completion policy blocks it: nothing was noted failed */
                return replace_reply(c, x, "airlock: reply blocked by policy", 0, to_host);
            if (e != AL_OK) {
                return replace_with_error(c, x, "airlock: reply could not be screened", to_host);
            }
            const al_http1_msg *m = &c->smsg;
            int same = m->content_length >= 0 && (size_t)m->content_length == c->xout.len;
            if (same) {
                r = al_buf_append(to_host, c->hold.data, c->hold.len);
            } else {
                char cl[64];
                snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", c->xout.len);
                al_http1_msg hm;
                if (al_http1_parse_response(c->hold.data, c->hold.len, 0, &hm) > 0)
                    r = rebuild_response(&hm, cl, to_host);
                else
                    r = AL_EPARSE;
            }
            if (r == AL_OK) r = al_buf_append(to_host, c->xout.data, c->xout.len);
        } else {
            r = emit_chunk(c, c->xout.data, c->xout.len, to_host);
            if (e != AL_OK || r != AL_OK) {
                /* what the scrubbers held could not all be released: no
                 * final chunk, so the host sees the reply end early */
                if (e == AL_ENOMEM || r == AL_ENOMEM) al_exchange_note_fail(x, "out of memory");
                pop_pending(c);
                c->sstate = S_DISCARD;
                c->rstate = R_CLOSED;
                c->broken = 1;
                return e != AL_OK ? e : r;
            }
            if (c->out == OUT_CHUNKED) r = al_buf_puts(to_host, "0\r\n\r\n");
        }
    }
    al_buf_reset(&c->hold);
    pop_pending(c);
    c->sstate = S_HEAD;
    return r;
}

static al_code response_head(al_conn *c, al_buf *to_host, size_t *used)
{
    int n = al_http1_parse_response(c->shead.data, c->shead.len, c->slast, &c->smsg);
    *used = 0;
    if (n == -2) {
        c->slast = c->shead.len;
        return AL_OK;
    }
    c->slast = 0;
    if (n < 0) return AL_EPARSE;
    *used = (size_t)n;
    al_http1_msg *m = &c->smsg;
    if (!c->qn && m->status < 200 && m->status != 101) {
        /* an interim reply to a request still being sent (monitor mode
         * forwards Expect: 100-continue as it came) */
        return al_buf_append(to_host, c->shead.data, (size_t)n);
    }
    if (!c->qn) { /* a reply nobody asked for (e.g. 408 before closing): pass it */
        c->passthrough = 1;
        return al_buf_append(to_host, c->shead.data, c->shead.len);
    }
    pending *p = &c->q[0];
    if (m->status == 101) {
        c->passthrough = 1;
        return al_buf_append(to_host, c->shead.data, c->shead.len);
    }
    if (m->status < 200) { /* 100 Continue etc.: pass, the real reply follows */
        c->sstate = S_HEAD;
        /* we answered 100 Continue ourselves already */
        if (p->x && m->status == 100 && c->ctx->mode != AL_MODE_MONITOR) return AL_OK;
        return al_buf_append(to_host, c->shead.data, (size_t)n);
    }
    al_body_kind kind = al_http1_response_body(m, p->method, strlen(p->method));
    al_http1_body_init(&c->sbody, kind, (uint64_t)(m->content_length > 0 ? m->content_length : 0),
                       0);
    char ctype[128], cenc[64];
    header_value(m, "content-type", ctype, sizeof ctype);
    header_value(m, "content-encoding", cenc, sizeof cenc);
    if (!p->x) {
        /* not an LLM call: a large first reply that cannot carry LLM JSON
         * (a download) ends our interest in this connection, so it costs
         * nothing.  A small one (a file or speech API answer) is framed, so
         * an LLM call that follows on the kept-alive connection is screened. */
        c->spass_left = 0;
        if (!c->follow_downloads && c->nreq == 1 && c->qn == 1 && !is_text_type(ctype) &&
            strncasecmp(ctype, "text/", 5) && kind != AL_BODY_NONE) {
            if (kind == AL_BODY_LENGTH && (uint64_t)m->content_length > SMALL_BINARY_REPLY)
                c->passthrough = 1;
            else
                c->spass_left = SMALL_BINARY_REPLY; /* chunked or until EOF: watch that much */
        }
        c->sstate = S_PASS;
        return al_buf_append(to_host, c->shead.data, (size_t)n);
    }
    al_exchange *x = p->x;
    al_exchange_response_begin(x, m->status, ctype[0] ? ctype : NULL);
    al_resp_mode mode = al_exchange_response_mode(x);
    c->monitor = c->ctx->mode == AL_MODE_MONITOR;
    c->sstate = S_LLM;
    int encoded = cenc[0] && strcasecmp(cenc, "identity") != 0 && kind != AL_BODY_NONE;
    if (encoded && mode != AL_RESP_PASS) {
        al_exchange_note_fail(x, "reply is content-encoded");
        if (!c->monitor && c->ctx->fail == AL_FAIL_CLOSED)
            return replace_with_error(c, x, "airlock: reply is compressed and cannot be screened",
                                      to_host);
        c->monitor = 1; /* open: pass it as it is */
    }
    if (c->monitor || mode == AL_RESP_PASS || kind == AL_BODY_NONE) {
        c->out = OUT_RAW;
        c->monitor = 1;
        return al_buf_append(to_host, c->shead.data, (size_t)n);
    }
    /* HTTP/1.0 has no chunks (nor may a reply to an HTTP/1.0 request have
     * them): a stream with a Content-Length (a recorded stream replayed
     * whole) is held, as a whole reply is, and served with the length of
     * what the scrubbers made of it */
    int v10 = m->minor_version == 0 || (p->http10 && kind != AL_BODY_CHUNKED);
    int hold10 = kind == AL_BODY_LENGTH && v10 &&
                 (!c->ctx->max_body || (uint64_t)m->content_length <= c->ctx->max_body);
    if (mode == AL_RESP_WHOLE || hold10) {
        c->out = OUT_HOLD;
        c->jdepth = kind == AL_BODY_EOF ? 0 : -1;
        c->jstr = 0;
        al_buf_reset(&c->hold);
        al_buf_reset(&c->xout); /* what the exchange releases is gathered there */
        return al_buf_append(&c->hold, c->shead.data, (size_t)n);
    }
    if (kind == AL_BODY_EOF || v10) {
        c->out = OUT_EOF;
        return al_buf_append(to_host, c->shead.data, (size_t)n);
    }
    c->out = OUT_CHUNKED;
    return rebuild_response(m, "Transfer-Encoding: chunked\r\n\r\n", to_host);
}

/* A held reply read until the server closes ends, for a host on memory BIOs
 * (asyncio's SSL, as aiohttp uses it), with no read that reports the close:
 * asyncio sees the TCP end itself and never calls SSL_read again.  So such a
 * reply is complete when its top-level JSON object or array closes.  Follows
 * p[0..n) of the decoded body; returns 1 at that close. */
static int json_closed(al_conn *c, const char *p, size_t n)
{
    for (size_t i = 0; i < n && c->jdepth >= 0; i++) {
        char ch = p[i];
        if (c->jstr) {
            c->jstr = c->jstr == 2 ? 1 : ch == '\\' ? 2 : ch == '"' ? 0 : 1;
        } else if (ch == '"') {
            c->jstr = 1;
        } else if (ch == '{' || ch == '[') {
            c->jdepth++;
        } else if (ch == '}' || ch == ']') {
            if (c->jdepth == 0)
                c->jdepth = -1;
            else if (--c->jdepth == 0)
                return 1;
        } else if (c->jdepth == 0 && ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') {
            c->jdepth = -1; /* not an object or array: wait for the close */
        }
    }
    return 0;
}

/* A held reply the exchange stopped screening (AIRLOCK_FAIL=open, over
 * AIRLOCK_MAX_BODY: it then hands back the body as it came): the header
 * and what it gave back go out now, and the rest of the body follows as it
 * comes.  (Those bytes used to be dropped: the host got an empty body.) */
static al_code release_hold(al_conn *c, al_buf *to_host)
{
    al_http1_msg hm;
    al_code r;
    if (al_http1_parse_response(c->hold.data, c->hold.len, 0, &hm) <= 0) return AL_EPARSE;
    if (c->sbody.kind == AL_BODY_CHUNKED) { /* the decoded bytes go out in new chunks */
        c->out = OUT_CHUNKED;
        r = rebuild_response(&hm, "Transfer-Encoding: chunked\r\n\r\n", to_host);
    } else { /* the server's own bytes, under its own framing */
        c->out = OUT_EOF;
        r = al_buf_append(to_host, c->hold.data, c->hold.len);
    }
    al_buf_reset(&c->hold);
    if (r == AL_OK) r = emit_chunk(c, c->xout.data, c->xout.len, to_host);
    al_buf_reset(&c->xout);
    return r;
}

/* A held reply the exchange found to be a stream after all (SSE under a
 * JSON or text label, or none): its header goes out now, framed as a
 * stream's is, then what the exchange released; the rest follows event by
 * event.  A stream with a Content-Length over HTTP/1.0 stays held (as in
 * server_head). */
static al_code hold_to_stream(al_conn *c, al_buf *to_host)
{
    const al_http1_msg *m = &c->smsg;
    al_body_kind kind = c->sbody.kind;
    int v10 = m->minor_version == 0 || (c->q[0].http10 && kind != AL_BODY_CHUNKED);
    if (kind == AL_BODY_LENGTH && v10) return AL_OK;
    al_http1_msg hm;
    if (al_http1_parse_response(c->hold.data, c->hold.len, 0, &hm) <= 0) return AL_EPARSE;
    al_code r;
    if (kind == AL_BODY_EOF || v10) {
        c->out = OUT_EOF;
        r = al_buf_append(to_host, c->hold.data, c->hold.len);
    } else {
        c->out = OUT_CHUNKED;
        r = rebuild_response(&hm, "Transfer-Encoding: chunked\r\n\r\n", to_host);
    }
    al_buf_reset(&c->hold);
    if (r == AL_OK) r = emit_chunk(c, c->xout.data, c->xout.len, to_host);
    al_buf_reset(&c->xout);
    return r;
}

static al_code llm_body(al_conn *c, const char *buf, size_t len, al_buf *to_host, long *used)
{
    al_exchange *x = c->q[0].x;
    al_buf_reset(&c->dec);
    long k = al_http1_body_feed(&c->sbody, buf, len, &c->dec);
    *used = k;
    if (k < 0) return c->sbody.err_code == AL_ENOMEM ? AL_ENOMEM : AL_EPARSE;
    if (c->monitor) {
        al_code r = al_buf_append(to_host, buf, (size_t)k);
        al_buf_reset(&c->xout);
        if (c->dec.len) al_exchange_response_body(x, c->dec.data, c->dec.len, &c->xout);
        return r;
    }
    if (!c->dec.len) return AL_OK;
    al_code e, r;
    if (c->out == OUT_HOLD || !body_direct(c, x, to_host, &e, &r)) {
        if (c->out != OUT_HOLD) al_buf_reset(&c->xout); /* held: gathered until the end */
        e = al_exchange_response_body(x, c->dec.data, c->dec.len, &c->xout);
        r = c->out == OUT_HOLD ? AL_OK : emit_chunk(c, c->xout.data, c->xout.len, to_host);
    }
    if (e == AL_OK && r == AL_OK) {
        if (c->out == OUT_HOLD && al_exchange_response_mode(x) == AL_RESP_PASS)
            return release_hold(c, to_host); /* open: the rest as it comes */
        if (c->out == OUT_HOLD && al_exchange_response_mode(x) == AL_RESP_STREAM)
            return hold_to_stream(c, to_host);
        if (c->out == OUT_HOLD && c->jdepth >= 0 && json_closed(c, c->dec.data, c->dec.len)) {
            /* complete: served now, framed by Content-Length; what the
             * server may still send before closing is dropped */
            r = finish_response(c, to_host);
            c->sstate = S_DISCARD;
        }
        return r;
    }
    if (e == AL_ENOMEM || r == AL_ENOMEM) al_exchange_note_fail(x, "out of memory");
    if (c->out == OUT_HOLD) /* nothing was sent yet: an error reply instead */
        return replace_with_error(c, x, "airlock: reply could not be screened", to_host);
    /* cut off: what was released has gone out; the body is left unterminated
     * and the error returned, so the host sees the reply end early instead
     * of a complete-looking one (AIRLOCK_FAIL=closed) */
    c->sstate = S_DISCARD;
    c->rstate = R_CLOSED;
    c->broken = 1; /* the host must not reuse this connection */
    pop_pending(c);
    return e != AL_OK ? e : r;
}

/* The server closed the connection. */
static al_code server_eof(al_conn *c, al_buf *to_host)
{
    if (c->sstate == S_PASS || c->sstate == S_LLM) {
        if (al_http1_body_eof(&c->sbody) == 0) return finish_response(c, to_host);
        /* truncated reply */
        if (c->sstate == S_LLM && c->q[0].x) {
            al_exchange *x = c->q[0].x;
            al_exchange_note_fail(x, "connection closed before the end of the reply");
            if (c->out == OUT_HOLD) {
                if (c->ctx->fail == AL_FAIL_CLOSED) {
                    return replace_with_error(
                        c, x, "airlock: reply ended early and could not be screened", to_host);
                }
                /* open: what arrived goes through, as it would without us */
                al_exchange_response_end(x, &c->xout);
                al_code r = al_buf_append(to_host, c->hold.data, c->hold.len);
                if (r == AL_OK) r = al_buf_append(to_host, c->xout.data, c->xout.len);
                pop_pending(c);
                return r;
            }
            if (!c->monitor) {
                /* release the scrubbed tail; leave the body unterminated so
                 * the client sees the truncation as it would without us.
                 * Closed, the scrubbers are cut, not flushed: text that could
                 * be the start of a value they replace (an address cut after
                 * "@example.c") is dropped; open, it goes as it came */
                al_buf_reset(&c->xout);
                if (c->ctx->fail == AL_FAIL_CLOSED)
                    al_exchange_response_cut(x, &c->xout);
                else
                    al_exchange_response_end(x, &c->xout);
                al_code r = emit_chunk(c, c->xout.data, c->xout.len, to_host);
                pop_pending(c);
                return r;
            }
        }
        pop_pending(c);
    } else if (c->sstate == S_HEAD && c->shead.len) {
        al_buf_append(to_host, c->shead.data, c->shead.len);
        al_buf_reset(&c->shead);
    }
    return AL_OK;
}

static al_code conn_in(al_conn *c, const char *buf, size_t len, int eof, al_buf *to_host);

al_code al_conn_in(al_conn *c, const char *buf, size_t len, int eof, al_buf *to_host)
{
    if (!c) return AL_EINVAL;
    al_code r = AL_OK;
    if (buf || len || eof) r = conn_in(c, buf, len, eof, to_host);
    if (r == AL_OK && al_conn_has_reply(c)) {
        /* the earlier replies are through: the synthesized one follows */
        r = al_buf_append(to_host, c->reply.data, c->reply.len);
        al_buf_reset(&c->reply);
        if (c->deferred && c->rstate == R_CLOSED) c->closing = 1;
        c->deferred = 0;
    }
    return r;
}

int al_conn_tunnel(const al_conn *c)
{
    return c && c->tunnel;
}

int al_conn_take_closing(al_conn *c)
{
    if (!c || !c->closing) return 0;
    c->closing = 0;
    return 1;
}

static al_code conn_in(al_conn *c, const char *buf, size_t len, int eof, al_buf *to_host)
{
    if (c->passthrough) return al_buf_append(to_host, buf, len);
    al_code r = AL_OK;
    while (len > 0) {
        if (c->passthrough) return al_buf_append(to_host, buf, len);
        switch (c->sstate) {
        case S_DISCARD:
            return AL_OK;
        case S_HEAD: {
            size_t before = c->shead.len, used;
            if (al_buf_append(&c->shead, buf, len) != AL_OK) return AL_ENOMEM;
            r = response_head(c, to_host, &used);
            if (r == AL_EPARSE) {
                /* not HTTP/1.x: pass it on unless an LLM reply was expected */
                if (c->qn && c->q[0].x && c->ctx->fail == AL_FAIL_CLOSED &&
                    c->ctx->mode != AL_MODE_MONITOR) {
                    al_buf_reset(&c->shead);
                    return replace_with_error(c, c->q[0].x, "airlock: malformed reply", to_host);
                }
                c->passthrough = 1;
                r = al_buf_append(to_host, c->shead.data, c->shead.len);
                al_buf_reset(&c->shead);
                return r;
            }
            if (r != AL_OK) return r;
            if (used == 0) return AL_OK;
            size_t rest = used - before;
            al_buf_reset(&c->shead);
            buf += rest;
            len -= rest;
            if (c->passthrough) return al_buf_append(to_host, buf, len);
            if (c->sstate == S_DISCARD) return AL_OK;
            if ((c->sstate == S_PASS || c->sstate == S_LLM) && c->sbody.done)
                if ((r = finish_response(c, to_host)) != AL_OK) return r;
            break;
        }
        case S_PASS: {
            long k = al_http1_body_feed(&c->sbody, buf, len, NULL);
            if (k < 0) {
                c->passthrough = 1;
                return al_buf_append(to_host, buf, len);
            }
            if ((r = al_buf_append(to_host, buf, (size_t)k)) != AL_OK) return r;
            buf += k;
            len -= (size_t)k;
            if (c->spass_left && !c->sbody.done) {
                if ((uint64_t)k >= c->spass_left) { /* a large download after all */
                    c->passthrough = 1;
                    return al_buf_append(to_host, buf, len);
                }
                c->spass_left -= (uint64_t)k;
            }
            if (c->sbody.done && (r = finish_response(c, to_host)) != AL_OK) return r;
            break;
        }
        case S_LLM: {
            long k;
            r = llm_body(c, buf, len, to_host, &k);
            if (k < 0) {
                /* broken framing from the server, or no memory to decode it */
                al_exchange_note_fail(c->q[0].x,
                                      r == AL_ENOMEM ? "out of memory" : "malformed reply framing");
                pop_pending(c);
                if (c->monitor) {
                    c->passthrough = 1;
                    return al_buf_append(to_host, buf, len);
                }
                c->sstate = S_DISCARD;
                c->rstate = R_CLOSED;
                c->broken = 1;
                return r == AL_ENOMEM ? r : AL_OK;
            }
            if (r != AL_OK) return r;
            if (c->sstate == S_DISCARD) return AL_OK;
            buf += k;
            len -= (size_t)k;
            if (c->sbody.done && (r = finish_response(c, to_host)) != AL_OK) return r;
            break;
        }
        }
    }
    if (eof) return server_eof(c, to_host);
    return AL_OK;
}

/* ---- a paused stream ---- */

int al_conn_stream_holding(const al_conn *c)
{
    return c && !c->passthrough && !c->broken && c->qn && c->sstate == S_LLM && !c->monitor &&
           (c->out == OUT_CHUNKED || c->out == OUT_EOF) && al_exchange_stream_holding(c->q[0].x);
}

al_code al_conn_idle(al_conn *c, al_buf *to_host)
{
    if (!al_conn_stream_holding(c)) return AL_OK;
    al_exchange *x = c->q[0].x;
    al_buf_reset(&c->xout);
    al_code e = al_exchange_stream_idle(x, &c->xout);
    al_code r = emit_chunk(c, c->xout.data, c->xout.len, to_host);
    al_buf_reset(&c->xout);
    if (e == AL_OK && r == AL_OK) return AL_OK;
    /* as llm_body: what was released has gone out, the body is left
     * unterminated and the error returned */
    if (e == AL_ENOMEM || r == AL_ENOMEM) al_exchange_note_fail(x, "out of memory");
    c->sstate = S_DISCARD;
    c->rstate = R_CLOSED;
    c->broken = 1;
    pop_pending(c);
    return e != AL_OK ? e : r;
}

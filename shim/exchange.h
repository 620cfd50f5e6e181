/* exchange.h: one LLM exchange, and one HTTP/1.1 connection made of them.
 * Pure: bytes in, bytes out.  The transport hooks (OpenSSL, GnuTLS, plain
 * sockets, libcurl) feed it and serve back what it returns; it never calls a
 * hooked function and never touches a descriptor except the audit log's. */
#ifndef AL_EXCHANGE_H
#define AL_EXCHANGE_H

#include "al.h"
#include "engine.h"

typedef enum { AL_MODE_ENFORCE = 0, AL_MODE_MONITOR } al_mode;
typedef enum { AL_FAIL_CLOSED = 0, AL_FAIL_OPEN } al_failmode;

/* The rule packs a context loads on first need (ctx.c; opaque). */
typedef struct al_ctx_lazy al_ctx_lazy;

/* Process-wide context: engine, policy, mode, audit sink.  Built once by the
 * shim's init from the environment (AIRLOCK_RULES, AIRLOCK_MODE, AIRLOCK_FAIL,
 * AIRLOCK_AUDIT, AIRLOCK_LLM_HOSTS) or by tests directly.  Read the engine
 * with al_ctx_engine, never through the field. */
typedef struct {
    al_engine *engine; /* set directly by tests; NULL when loaded lazily (lazy) */
    al_policy policy;
    al_mode mode;
    al_failmode fail;
    int audit_fd;      /* -1: no audit log */
    size_t max_body;   /* largest LLM request/response body buffered (default 16 MiB) */
    const char *exe;   /* program name for audit records */
    al_ctx_lazy *lazy; /* owned; NULL when the engine is set directly or absent */
    /* AIRLOCK_RATE / AIRLOCK_BUDGET_TOKENS (budget.h; owned); NULL: none */
    struct al_limits *limits;
    /* prompt scan results already seen (scancache.h; owned); NULL: none */
    struct al_scancache *scache;
    /* original texts of signed thinking blocks the scrubber changed
     * (signmem.h; owned); NULL: none kept, none put back */
    struct al_signmem *signmem;
    /* Called once with the one "airlock: ..." line (no newline) when the
     * lazy load fails; NULL: nothing is reported.  Pure modules never print:
     * the shim points this at its stderr writer. */
    void (*warn)(const char *line);
} al_ctx;

/* Fills ctx from the environment; default_rules is used when AIRLOCK_RULES is
 * unset (the shim passes the rules/ directory found beside itself).  Never
 * fails hard.  The rule packs are not loaded here (a process that never calls
 * an LLM should not pay for them): the resolved path is kept and
 * al_ctx_engine loads them on first need.  A problem with the environment
 * writes one "airlock: ..." line to errbuf.  Free with al_ctx_free. */
AL_API al_code al_ctx_from_env(al_ctx *ctx, const char *default_rules, char *errbuf, size_t errlen);
AL_API void al_ctx_free(al_ctx *ctx);

/* The context's engine: ctx->engine when set directly, else the rule packs
 * al_ctx_from_env found, loaded by the first call (thread-safe, once per
 * process; later calls are one atomic load).  NULL when they cannot be
 * loaded: then the one "airlock: rules not loaded: ..." line goes to
 * ctx->warn, once, and ctx->fail decides.  The engine is immutable and
 * owned by ctx.  Call it only for a recognised LLM exchange. */
AL_API const al_engine *al_ctx_engine(const al_ctx *ctx);

/* For a forked child (single-threaded): a load another thread had under way
 * at the fork is started afresh by the child's next al_ctx_engine. */
AL_API void al_ctx_after_fork(al_ctx *ctx);

/* ---- Message level: used by the libcurl layer (bodies already de-framed)
 * and internally by the connection level. ---- */

typedef enum {
    AL_REQ_PASS = 0, /* not an LLM call: leave alone, stop looking */
    AL_REQ_ALLOW,    /* LLM call, body unchanged */
    AL_REQ_REWRITE,  /* LLM call, send v->body instead (redacted) */
    AL_REQ_BLOCK     /* do not send; serve v->status / v->body to the host */
} al_req_kind;

typedef struct {
    al_req_kind kind;
    int status;               /* for BLOCK: HTTP status of the synthesized reply */
    al_buf body;              /* REWRITE: new request body; BLOCK: reply body */
    const char *content_type; /* BLOCK: reply content type (static) */
    char headers[64];         /* BLOCK: more header lines ending in CRLF, or "" */
} al_req_verdict;

typedef struct al_exchange al_exchange;

/* transport: "openssl", "gnutls", "curl", "socket" (for the audit log).
 * Free with al_exchange_free, which writes the exchange's audit line. */
AL_API al_exchange *al_exchange_new(const al_ctx *ctx, const char *transport);
AL_API void al_exchange_free(al_exchange *x);

/* Recognises and screens one request.  host may be NULL.  Fills v (zero it
 * first; release with al_req_verdict_free). */
AL_API al_code al_exchange_request(al_exchange *x, const char *method, const char *host,
                                   const char *path, const char *content_type, const char *body,
                                   size_t len, al_req_verdict *v);
AL_API void al_req_verdict_free(al_req_verdict *v);

/* The response to the request, body already de-framed and decoded.
 * body() appends to to_host what the host may see now (JSON is held until
 * complete; SSE/NDJSON is released event by event); end() releases the rest.
 * A body that cannot be parsed is released or cut off per ctx->fail. */
AL_API al_code al_exchange_response_begin(al_exchange *x, int status, const char *content_type);
AL_API al_code al_exchange_response_body(al_exchange *x, const char *buf, size_t len,
                                         al_buf *to_host);
AL_API al_code al_exchange_response_end(al_exchange *x, al_buf *to_host);
/* As al_exchange_response_end for a reply the connection cut off before its
 * end: a stream's scrubbers release only what no later byte could have
 * changed; the text they held that could be the start of a value they
 * replace (an address cut after "@example.c") is dropped. */
AL_API al_code al_exchange_response_cut(al_exchange *x, al_buf *to_host);

/* 1 when x is a stream whose events wait for text its scrubbers hold back
 * (what al_exchange_stream_idle may release). */
AL_API int al_exchange_stream_holding(const al_exchange *x);
/* The stream paused (the network has had nothing for the host a while):
 * what only the detectors' last words held back is released
 * (al_stream_scrub_release), and the events it settles are appended to
 * to_host.  A value a pattern may still complete stays held.  An error
 * stops the stream as al_exchange_response_body's would. */
AL_API al_code al_exchange_stream_idle(al_exchange *x, al_buf *to_host);

/* A sink for a stream's settled event bytes (al_exchange_set_sink).  It is
 * handed bytes that follow everything handed or appended before; it gives
 * them to the host now or appends them to the buffer it was set with.
 * Returns AL_OK, or an error that stops the stream (as a failed append). */
typedef al_code (*al_exchange_sink)(void *ud, const char *p, size_t n);

/* Lets a stream's queued events go to fn straight from the exchange's own
 * buffer, without the copy to to_host: when a response call is given `to`
 * as to_host and `to` is empty at the moment queued bytes go out, they go to
 * fn(ud, ...) instead (anything later is appended to `to` as usual, so the
 * order holds).  fn NULL: none (the default).  For a hook that hands bytes
 * to the program as the exchange releases them (libcurl's write callback). */
AL_API void al_exchange_set_sink(al_exchange *x, al_buf *to, al_exchange_sink fn, void *ud);

/* How the reply of an exchange is handled, known after response_begin. */
typedef enum {
    AL_RESP_PASS = 0, /* not screened: bytes go through as they come (non-LLM, error page) */
    AL_RESP_WHOLE,    /* held until complete, then scrubbed as one JSON document */
    AL_RESP_STREAM    /* SSE or NDJSON: scrubbed and released event by event */
} al_resp_mode;

AL_API al_resp_mode al_exchange_response_mode(const al_exchange *x);

/* 1 once al_exchange_request recognised an LLM call. */
AL_API int al_exchange_is_llm(const al_exchange *x);

/* Records an LLM call the connection refused before it could be screened
 * (header block over the parser's caps, body over AIRLOCK_MAX_BODY): fills
 * the audit fields from method, host and path, marks it blocked with status,
 * and keeps why (a static string) as the reason.  al_exchange_free writes the
 * audit line.  AL_EINVAL when method/path is not an LLM call. */
AL_API al_code al_exchange_refused(al_exchange *x, const char *method, const char *host,
                                   const char *path, int status, const char *why);

/* Records why screening failed (static string; the first reason wins). */
AL_API void al_exchange_note_fail(al_exchange *x, const char *reason);

/* 1 when x is a streamed reply whose end event was seen (a program may stop
 * reading there, before the HTTP framing's own end), else 0. */
AL_API int al_exchange_stream_ended(const al_exchange *x);

/* Appends the provider-shaped JSON error body for status and message (no
 * prompt text) to out; OpenAI's shape when the provider is unknown.
 * blocked: refused by policy, else not screenable (see al_provider.error). */
AL_API al_code al_exchange_error_body(const al_exchange *x, int status, int blocked,
                                      const char *message, al_buf *out);

/* ---- Connection level: raw HTTP/1.1 plaintext of one connection (OpenSSL,
 * GnuTLS, plain sockets).  Several requests per connection, Content-Length and
 * chunked framing, keep-alive. ---- */

typedef struct al_conn al_conn;

/* host: SNI or peer name, may be NULL.  Free with al_conn_free. */
AL_API al_conn *al_conn_new(const al_ctx *ctx, const char *transport, const char *host);
AL_API void al_conn_free(al_conn *c);

/* The host wrote buf.  Appends to to_server what must be sent now (possibly
 * nothing while a request is held for screening).  When a request is blocked,
 * nothing of it is sent and the synthesized reply becomes readable through
 * al_conn_in with len 0 / al_conn_pending.  Returns AL_OK, or an error when
 * the stream is broken and ctx->fail is closed (the hook then fails the write). */
AL_API al_code al_conn_out(al_conn *c, const char *buf, size_t len, al_buf *to_server);

/* The server sent buf (len 0 with eof=1 at end of stream).  Appends to to_host
 * what the host may read now. */
AL_API al_code al_conn_in(al_conn *c, const char *buf, size_t len, int eof, al_buf *to_host);

/* 1 when the connection has been judged not to carry LLM traffic: the hook
 * may stop calling al_conn_out/al_conn_in and pass bytes straight through. */
AL_API int al_conn_passthrough(const al_conn *c);

/* For a transport that moves non-LLM bodies itself at no cost
 * (al_conn_in_direct/al_conn_out_direct): a large binary first reply (a
 * download) no longer ends the connection's screening, so an LLM call kept
 * alive after it is still screened.  Call before the first byte. */
AL_API void al_conn_follow_downloads(al_conn *c);

/* How many of the host's next bytes pass to the server unchanged, so the
 * hook may send them from the host's buffer: the rest of the body of a
 * request that is not an LLM call (Content-Length or the current chunk's
 * data), or UINT64_MAX once the connection passes through; 0 when they must
 * go through al_conn_out. */
AL_API uint64_t al_conn_out_direct(const al_conn *c);

/* The hook sent n (<= al_conn_out_direct) host bytes to the server itself:
 * counted as if al_conn_out had passed them. */
AL_API void al_conn_out_skip(al_conn *c, uint64_t n);

/* How many of the server's next bytes pass to the host unchanged, so the
 * hook may read them straight into the host's buffer: the rest of the body
 * of a reply to a request that is not an LLM call (Content-Length, the data
 * of the current chunk, or until EOF), or UINT64_MAX once the connection
 * passes through.  0 when the next bytes must go through al_conn_in (a
 * header, chunk framing, an LLM reply, bytes held for the host). */
AL_API uint64_t al_conn_in_direct(const al_conn *c);

/* The hook delivered n (<= al_conn_in_direct) server bytes to the host
 * itself: the connection counts them as read and passed, exactly as if
 * al_conn_in had been given them (the end of the reply body may follow; a
 * later reply on the connection is framed from the next byte). */
AL_API void al_conn_in_skip(al_conn *c, uint64_t n);

/* 1 when a request was blocked and its synthesized reply is waiting: the
 * hook must serve it (al_conn_in(c, NULL, 0, 0, out) hands it over) without
 * reading from the server.  0 while the server still owes replies to earlier
 * pipelined requests: those are read first, and al_conn_in appends the
 * synthesized reply after the last of them. */
AL_API int al_conn_has_reply(const al_conn *c);

/* 1, once, after al_conn_in handed over a final reply airlock gave itself (a
 * block) that had waited behind the server's replies to earlier pipelined
 * requests: nothing more goes to the server, so the hook ends the
 * connection toward it, as it does when such a reply is given at once (the
 * reply says Connection: close; a client reading to the end would wait).
 * 0 otherwise. */
AL_API int al_conn_take_closing(al_conn *c);

/* 1 when the reply being read is a stream whose events wait for text the
 * scrubbers hold back (al_exchange_stream_holding). */
AL_API int al_conn_stream_holding(const al_conn *c);
/* The server has sent nothing for a while: appends to to_host, framed as
 * al_conn_in frames the reply, what al_exchange_stream_idle releases.  An
 * error breaks the reply as al_conn_in's would (nothing more follows). */
AL_API al_code al_conn_idle(al_conn *c, al_buf *to_host);

/* 1 when the program asked a proxy for a tunnel (CONNECT): the connection
 * is passed through from there (al_conn_passthrough), and what the program
 * writes through the tunnel is another connection, for the hook to judge
 * anew from its first bytes. */
AL_API int al_conn_tunnel(const al_conn *c);

#endif

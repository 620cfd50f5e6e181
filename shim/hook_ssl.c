/* hook_ssl.c: the OpenSSL transport.  Turns SSL_write/SSL_read (and the _ex,
 * peek and pending calls) of one SSL* into plaintext for the exchange and
 * serves back what it returns, to blocking and non-blocking callers alike.
 * Knows no HTTP.  Never holds a lock across real I/O, never sends a blocked
 * request, and once a connection is judged not to be an LLM call every call
 * is one table lookup plus the real function. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "alpn.h"
#include "hook.h"

/* ---- the real functions: one table, resolved lazily ---- */

typedef int (*SSL_write_t)(SSL *, const void *, int);
typedef int (*SSL_write_ex_t)(SSL *, const void *, size_t, size_t *);
typedef int (*SSL_read_t)(SSL *, void *, int);
typedef int (*SSL_read_ex_t)(SSL *, void *, size_t, size_t *);
typedef int (*SSL_peek_t)(SSL *, void *, int);
typedef int (*SSL_peek_ex_t)(SSL *, void *, size_t, size_t *);
typedef int (*SSL_pending_t)(const SSL *);
typedef int (*SSL_has_pending_t)(const SSL *);
typedef int (*SSL_get_error_t)(const SSL *, int);
typedef void (*SSL_free_t)(SSL *);
typedef int (*SSL_clear_t)(SSL *);
typedef int (*SSL_shutdown_t)(SSL *);
typedef int (*SSL_get_shutdown_t)(const SSL *);
typedef int (*SSL_do_handshake_t)(SSL *);
typedef int (*SSL_connect_t)(SSL *);
typedef int (*SSL_accept_t)(SSL *);
typedef int (*SSL_read_early_data_t)(SSL *, void *, size_t, size_t *);
typedef int (*SSL_write_early_data_t)(SSL *, const void *, size_t, size_t *);
typedef int (*SSL_CTX_set_alpn_protos_t)(SSL_CTX *, const unsigned char *, unsigned int);
typedef int (*SSL_set_alpn_protos_t)(SSL *, const unsigned char *, unsigned int);

enum {
    R_SSL_write,
    R_SSL_write_ex,
    R_SSL_read,
    R_SSL_read_ex,
    R_SSL_peek,
    R_SSL_peek_ex,
    R_SSL_pending,
    R_SSL_has_pending,
    R_SSL_get_error,
    R_SSL_free,
    R_SSL_clear,
    R_SSL_shutdown,
    R_SSL_get_shutdown,
    R_SSL_do_handshake,
    R_SSL_connect,
    R_SSL_accept,
    R_SSL_read_early_data,
    R_SSL_write_early_data,
    R_SSL_CTX_set_alpn_protos,
    R_SSL_set_alpn_protos,
    R_COUNT
};

static struct {
    const char *name;
    void *self;
    void *fn;
} real_tab[R_COUNT] = {
    [R_SSL_write] = {"SSL_write", (void *)SSL_write, NULL},
    [R_SSL_write_ex] = {"SSL_write_ex", (void *)SSL_write_ex, NULL},
    [R_SSL_read] = {"SSL_read", (void *)SSL_read, NULL},
    [R_SSL_read_ex] = {"SSL_read_ex", (void *)SSL_read_ex, NULL},
    [R_SSL_peek] = {"SSL_peek", (void *)SSL_peek, NULL},
    [R_SSL_peek_ex] = {"SSL_peek_ex", (void *)SSL_peek_ex, NULL},
    [R_SSL_pending] = {"SSL_pending", (void *)SSL_pending, NULL},
    [R_SSL_has_pending] = {"SSL_has_pending", (void *)SSL_has_pending, NULL},
    [R_SSL_get_error] = {"SSL_get_error", (void *)SSL_get_error, NULL},
    [R_SSL_free] = {"SSL_free", (void *)SSL_free, NULL},
    [R_SSL_clear] = {"SSL_clear", (void *)SSL_clear, NULL},
    [R_SSL_shutdown] = {"SSL_shutdown", (void *)SSL_shutdown, NULL},
    [R_SSL_get_shutdown] = {"SSL_get_shutdown", (void *)SSL_get_shutdown, NULL},
    [R_SSL_do_handshake] = {"SSL_do_handshake", (void *)SSL_do_handshake, NULL},
    [R_SSL_connect] = {"SSL_connect", (void *)SSL_connect, NULL},
    [R_SSL_accept] = {"SSL_accept", (void *)SSL_accept, NULL},
    [R_SSL_read_early_data] = {"SSL_read_early_data", (void *)SSL_read_early_data, NULL},
    [R_SSL_write_early_data] = {"SSL_write_early_data", (void *)SSL_write_early_data, NULL},
    [R_SSL_CTX_set_alpn_protos] = {"SSL_CTX_set_alpn_protos", (void *)SSL_CTX_set_alpn_protos,
                                   NULL},
    [R_SSL_set_alpn_protos] = {"SSL_set_alpn_protos", (void *)SSL_set_alpn_protos, NULL},
};

static const char *const ssl_sonames[] = {"libssl.so.3", "libssl.so.1.1", "libssl.so", NULL};

static void *real_get(int i)
{
    void *p = __atomic_load_n(&real_tab[i].fn, __ATOMIC_ACQUIRE);
    if (p) return p;
    p = al_hook_real(real_tab[i].name, real_tab[i].self, ssl_sonames);
    if (p) __atomic_store_n(&real_tab[i].fn, p, __ATOMIC_RELEASE);
    return p;
}

#define REAL(name) ((name##_t)real_get(R_##name))

/* ---- the SSL_get_error answer for a synthesized result ----
 * OpenSSL's contract: SSL_get_error explains the result of the last I/O call
 * on that SSL, made in the same thread with no other call on it in between.
 * So the answer for a result the shim made up lives in the calling thread
 * and names the SSL and the return value it explains; every I/O call on
 * that SSL (each is hooked, pass-through or not, handshake included) drops
 * it first, so a later real result is never explained by a stale answer. */
static __thread struct {
    const SSL *ssl;
    int ret;
    int err;
} synth AL_TLS_IE; /* (hook.h) */

static inline void synth_drop(const SSL *s)
{
    if (synth.ssl == s) synth.ssl = NULL;
}

static void synth_set(const SSL *s, int ret, int err)
{
    synth.ssl = s;
    synth.ret = ret;
    synth.err = err;
}

/* ---- per-SSL* state ---- */

#define RBUF_SIZE 16384
#define NBUCKETS 1024

typedef struct sst {
    struct sst *next;
    const SSL *ssl;
    int pass;      /* not an LLM connection: real calls only (once buffers drain) */
    al_conn *conn; /* the exchange; NULL for a server-side or unwatched SSL */
    al_buf in;     /* bytes for the host, from in_off on */
    size_t in_off;
    al_buf out; /* bytes for the server not yet sent, from out_off on */
    size_t out_off;
    size_t wpend;  /* host bytes of a write that returned a retryable error */
    int rd_end;    /* 0, or the SSL error to report once in is drained */
    int rd_errno;  /* errno that goes with rd_end == SSL_ERROR_SYSCALL */
    int rd_soft;   /* rd_end is the end after a synthesized reply: a write clears it */
    int answered;  /* the exchange answered the host itself and nothing went to the server since */
    int eof_given; /* al_conn_in was told about the end of the stream */
    int wr_broken; /* the exchange refused the stream: writes fail */
    int last_err;  /* the error of our last synthesized return, -1 none */
    char *rbuf;
    al_idle idle; /* a slow stream's held text (hook.h) */
} sst;

/* Lookups (every call) take it shared; only create and SSL_free write. */
static pthread_rwlock_t tab_lock = PTHREAD_RWLOCK_INITIALIZER;
static sst *buckets[NBUCKETS];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void tab_atfork_child(void)
{
    pthread_rwlock_init(&tab_lock, NULL);
}

static void tab_init(void)
{
    pthread_atfork(NULL, NULL, tab_atfork_child);
}

static size_t hash_ptr(const void *p)
{
    uintptr_t v = (uintptr_t)p;
    v ^= v >> 17;
    v *= 0x9E3779B97F4A7C15ull;
    return (size_t)(v >> 32) % NBUCKETS;
}

static sst *st_find(const SSL *s)
{
    sst *t;
    pthread_rwlock_rdlock(&tab_lock);
    for (t = buckets[hash_ptr(s)]; t && t->ssl != s; t = t->next) {
    }
    pthread_rwlock_unlock(&tab_lock);
    return t;
}

/* Creates the state of a client connection on its first write. */
static sst *st_create(SSL *s)
{
    pthread_once(&tab_once, tab_init);
    sst *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ssl = s;
    t->last_err = -1;
    if (SSL_is_server(s)) {
        t->pass = 1;
    } else {
        const char *host = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
        t->conn = al_conn_new(al_hook_ctx(), "openssl", host);
        /* bodies that are not LLM calls are read straight into the host's
         * buffer (read_direct): a download never ends the screening of its
         * connection, so an LLM call kept alive after it is screened */
        if (t->conn) al_conn_follow_downloads(t->conn);
        if (!t->conn || al_conn_passthrough(t->conn)) t->pass = 1;
    }
    pthread_rwlock_wrlock(&tab_lock);
    size_t h = hash_ptr(s);
    sst *old = buckets[h];
    while (old && old->ssl != s) old = old->next;
    if (old) { /* another thread raced us on the same SSL*: keep theirs */
        pthread_rwlock_unlock(&tab_lock);
        al_conn_free(t->conn);
        free(t);
        return old;
    }
    t->next = buckets[h];
    buckets[h] = t;
    pthread_rwlock_unlock(&tab_lock);
    al_hook_debug("ssl %p: %s", (void *)s, t->pass ? "pass-through" : "watching");
    return t;
}

static void st_remove(const SSL *s)
{
    pthread_rwlock_wrlock(&tab_lock);
    sst **pp = &buckets[hash_ptr(s)];
    while (*pp && (*pp)->ssl != s) pp = &(*pp)->next;
    sst *t = *pp;
    if (t) *pp = t->next;
    pthread_rwlock_unlock(&tab_lock);
    if (!t) return;
    al_conn_free(t->conn);
    al_buf_free(&t->in);
    al_buf_free(&t->out);
    free(t->rbuf);
    free(t);
}

static size_t in_avail(const sst *t)
{
    return t->in.len - t->in_off;
}

static size_t out_avail(const sst *t)
{
    return t->out.len - t->out_off;
}

/* Nothing of ours is buffered: the real calls alone can serve the host. */
static int st_is_pass(const sst *t)
{
    return t->pass && !in_avail(t) && !out_avail(t) && !t->rd_end;
}

static void in_compact(sst *t)
{
    if (t->in_off == t->in.len) {
        al_buf_reset(&t->in);
        t->in_off = 0;
    } else if (t->in_off > 65536 && t->in_off > t->in.len / 2) {
        al_buf_consume(&t->in, t->in_off);
        t->in_off = 0;
    }
}

static void check_pass(sst *t)
{
    if (!t->pass && t->conn && al_conn_passthrough(t->conn)) {
        t->pass = 1;
        al_hook_debug("ssl %p: judged pass-through", (void *)t->ssl);
    }
}

/* 1 when a real read on s would wait: a blocking socket.  Memory BIOs
 * (asyncio) and non-blocking sockets return WANT_READ instead. */
static int host_blocks(SSL *s)
{
    int fd = SSL_get_rfd(s);
    if (fd < 0) return 0;
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && !(fl & O_NONBLOCK);
}

/* 1 when the socket under s (not a memory BIO) has something to read.
 * After a request answered here the server owes nothing, so that is its
 * close (the answer to close_after_reply). */
static int peer_spoke(SSL *s)
{
    int fd = SSL_get_rfd(s);
    if (fd < 0) return 0;
    struct pollfd pf = {fd, POLLIN, 0};
    return poll(&pf, 1, 0) > 0;
}

/* The exchange answered a request itself (blocked: it never left).  A
 * host that waits for the socket to become readable before it reads (an
 * event loop over memory BIOs, as asyncio's) would wait forever for a server
 * that owes nothing.  Closing the TLS session makes the server answer with
 * its own close_notify, which wakes such a host; the reply it then reads
 * says "Connection: close" anyway.  The host's error queue is left as it was. */
static void close_after_reply(SSL *s)
{
    SSL_shutdown_t sd = REAL(SSL_shutdown);
    if (!sd || !SSL_is_init_finished(s)) return;
    ERR_set_mark();
    (void)sd(s);
    ERR_pop_to_mark();
    al_hook_debug("ssl %p: request answered locally; TLS session closed", (void *)s);
}

/* The exchange broke the stream (fail closed): serve what it released, then
 * report a reset connection. */
static void cut_off(sst *t, al_code c)
{
    al_hook_debug("ssl %p: response cut off: %s", (void *)t->ssl, al_strerror(c));
    t->rd_end = SSL_ERROR_SYSCALL;
    t->rd_errno = ECONNRESET;
}

static void pull_reply(sst *t)
{
    if (t->conn && !t->pass && al_conn_has_reply(t->conn)) {
        al_code c = al_conn_in(t->conn, NULL, 0, 0, &t->in);
        if (c != AL_OK) cut_off(t, c);
    }
}

/* A block reply that waited behind the server's replies to earlier
 * pipelined requests went to the host: the server is owed nothing more,
 * so the host is then given the end as when such a reply comes at once
 * (do_write: a blocking host reads the end after it, a non-blocking one
 * sees the session closed). */
static void closing_after(sst *t)
{
    if (!t->conn || !al_conn_take_closing(t->conn)) return;
    t->answered = 1;
    if (!host_blocks((SSL *)t->ssl)) close_after_reply((SSL *)t->ssl);
}

/* The real read failed with SSL error e: retryable (0, *rret -1: the real
 * SSL_get_error explains it), or the end of the stream, which the exchange is
 * told of (it may release what it held): 1 when the host is then served from
 * t's state, 0 when the end stands as the real read gave it. */
static int read_failed(sst *t, int e, int *rret)
{
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_X509_LOOKUP ||
        e == SSL_ERROR_WANT_ASYNC || e == SSL_ERROR_WANT_ASYNC_JOB ||
        e == SSL_ERROR_WANT_CLIENT_HELLO_CB) {
        *rret = -1;
        return 0;
    }
    if (!t->eof_given && !t->pass) {
        t->eof_given = 1;
        al_code c = al_conn_in(t->conn, NULL, 0, 1, &t->in);
        if (c != AL_OK) cut_off(t, c);
    }
    if (!in_avail(t) && !t->rd_end) {
        *rret = e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
        return 0;
    }
    if (!t->rd_end) {
        t->rd_end = e == SSL_ERROR_ZERO_RETURN ? e : SSL_ERROR_SYSCALL;
        t->rd_errno = e == SSL_ERROR_ZERO_RETURN ? 0 : ECONNRESET;
    }
    return 1;
}

/* Lets out what the scrubbers hold for a paused stream (al_conn_idle).
 * Returns 1 when the host has bytes to read. */
static int idle_cut(sst *t)
{
    t->idle.hold_at = 0;
    al_code c = al_conn_idle(t->conn, &t->in);
    if (c != AL_OK) cut_off(t, c);
    return in_avail(t) || t->rd_end;
}

/* Before a real read that would block (a blocking socket, nothing
 * buffered in the SSL): while the stream holds text, wait for the server at
 * most until that text is due out (al_idle_wait_ms), then let it out.
 * Returns 1 when the host has bytes to read, 0 to read as usual.  A reply
 * already in the socket buffer costs one poll that returns at once. */
static int idle_wait(SSL *s, sst *t)
{
    if (!al_conn_stream_holding(t->conn)) return 0;
    SSL_pending_t pend = REAL(SSL_pending);
    SSL_has_pending_t hasp = REAL(SSL_has_pending);
    if ((pend && pend(s) > 0) || (hasp && hasp(s)) || !host_blocks(s)) return 0;
    struct pollfd pf = {SSL_get_rfd(s), POLLIN, 0};
    int w = al_idle_wait_ms(&t->idle);
    al_in_hook++;
    int r = poll(&pf, 1, w);
    al_in_hook--;
    return r == 0 && idle_cut(t);
}

/* Makes bytes available in t->in (or records the end of the stream in
 * t->rd_end).  Returns 1 when the host can be served from t's state, 2 when
 * a non-blocking host must retry later (synthesized WANT_READ), 0 when the
 * real read's failure stands: *rret is what SSL_read would have returned (0
 * for an orderly close, else -1: the real read is SSL_read_ex, whose 0 says
 * neither) and the real SSL_get_error explains it (WANT_READ on a
 * non-blocking SSL, or an error with nothing held). */
static int fill(SSL *s, sst *t, int *rret)
{
    SSL_read_ex_t rd = REAL(SSL_read_ex);
    SSL_get_error_t ge = REAL(SSL_get_error);
    for (;;) {
        if (in_avail(t) || t->rd_end) return 1;
        pull_reply(t);
        closing_after(t);
        if (in_avail(t) || t->rd_end) return 1;
        if (t->answered) {
            /* The server owes nothing (the request was never sent).  A host
             * blocking in a read would wait forever: report the end, as a
             * server closing after an error reply would.  A non-blocking
             * host is told to retry (after an interim 100 Continue it goes on
             * to send its body); the real SSL is left alone, so a server
             * close_notify cannot turn into an error before the host has
             * taken the reply. */
            if (host_blocks(s) || peer_spoke(s)) {
                /* (a non-blocking socket host, e.g. one with a timeout,
                 * would otherwise be woken by the server's close and told
                 * to retry, over and over) */
                t->rd_end = SSL_ERROR_ZERO_RETURN;
                t->rd_soft = 1;
                return 1;
            }
            return 2;
        }
        if (!rd || !ge) {
            t->rd_end = SSL_ERROR_SYSCALL;
            t->rd_errno = ENOSYS;
            return 1;
        }
        if (!t->rbuf && !(t->rbuf = malloc(RBUF_SIZE))) {
            t->rd_end = SSL_ERROR_SYSCALL;
            t->rd_errno = ENOMEM;
            return 1;
        }
        if (!t->pass && idle_wait(s, t)) continue;
        size_t n = 0;
        int r = rd(s, t->rbuf, RBUF_SIZE, &n);
        if (r > 0) {
            if (t->pass) {
                if (al_buf_append(&t->in, t->rbuf, n) != AL_OK) cut_off(t, AL_ENOMEM);
                continue;
            }
            al_code c = al_conn_in(t->conn, t->rbuf, n, 0, &t->in);
            if (c != AL_OK) cut_off(t, c);
            al_idle_arrived(&t->idle, al_conn_stream_holding(t->conn));
            closing_after(t);
            check_pass(t);
            continue; /* the exchange may have swallowed it all: read on */
        }
        int e = ge(s, r);
        /* a host that must not wait: the held text goes out once due */
        if (e == SSL_ERROR_WANT_READ && !t->pass && al_idle_due(&t->idle) && idle_cut(t)) continue;
        return read_failed(t, e, rret);
    }
}

/* A body that is not an LLM call, read by the real SSL_read_ex straight into
 * the host's buffer (at most want bytes, what al_conn_in_direct allows) and
 * counted by the connection, with no copy.  Returns as fill does, 1 with
 * *got bytes in buf. */
static int read_direct(SSL *s, sst *t, void *buf, size_t want, size_t *got, int *rret)
{
    SSL_read_ex_t rd = REAL(SSL_read_ex);
    SSL_get_error_t ge = REAL(SSL_get_error);
    size_t n = 0;
    int r = rd(s, buf, want, &n);
    if (r > 0) {
        al_conn_in_skip(t->conn, n);
        check_pass(t);
        *got = n;
        return 1;
    }
    *got = 0;
    return read_failed(t, ge(s, r), rret);
}

/* Serves up to num bytes from t->in.  Returns 1 with *got > 0, or 0 at the
 * recorded end of stream with t->last_err set. */
static int serve(sst *t, void *buf, size_t num, size_t *got, int peek)
{
    size_t n = in_avail(t);
    if (n) {
        if (n > num) n = num;
        memcpy(buf, t->in.data + t->in_off, n);
        if (!peek) {
            t->in_off += n;
            in_compact(t);
        }
        *got = n;
        t->last_err = -1;
        return 1;
    }
    *got = 0;
    t->last_err = t->rd_end;
    if (t->rd_end == SSL_ERROR_SYSCALL) errno = t->rd_errno;
    return 0;
}

/* The read path shared by SSL_read/_ex and SSL_peek/_ex.  Returns 1 with
 * *got bytes, 0 with t->last_err set (synthesized end), or -1 when the
 * real call's result stands (*rret). */
static int do_read(SSL *s, sst *t, void *buf, size_t num, size_t *got, int peek, int *rret)
{
    t->last_err = -1;
    if (!peek && !t->pass && !in_avail(t) && !t->rd_end && !t->answered && REAL(SSL_read_ex) &&
        REAL(SSL_get_error)) {
        uint64_t d = al_conn_in_direct(t->conn);
        if (d) {
            int f = read_direct(s, t, buf, d < num ? (size_t)d : num, got, rret);
            if (f == 0) return -1;
            if (*got) return 1;
            return serve(t, buf, num, got, peek);
        }
    }
    int f = fill(s, t, rret);
    if (f == 0) return -1;
    if (f == 2) {
        *got = 0;
        t->last_err = SSL_ERROR_WANT_READ;
        return 0;
    }
    return serve(t, buf, num, got, peek);
}

/* Sends t->out to the server.  Returns 1 when all is sent, else 0 with
 * what SSL_write would have returned in *rret (-1: the real call is
 * SSL_write_ex, whose 0 would read as "nothing written"; retryable errors
 * leave the rest for the host's retry). */
static int flush_out(SSL *s, sst *t, int *rret)
{
    SSL_write_ex_t wr = REAL(SSL_write_ex);
    if (!wr) {
        *rret = -1;
        errno = ENOSYS;
        return 0;
    }
    while (out_avail(t)) {
        size_t n = 0;
        int r = wr(s, t->out.data + t->out_off, out_avail(t), &n);
        if (r <= 0) {
            *rret = -1;
            return 0;
        }
        t->out_off += n; /* partial writes (SSL_MODE_ENABLE_PARTIAL_WRITE) loop */
        t->answered = 0;
    }
    al_buf_reset(&t->out);
    t->out_off = 0;
    return 1;
}

/* The write path.  Returns 1 with *written = num (everything consumed), 0
 * with t->last_err set (broken stream), or -1 when the real call's result
 * stands (*rret; the host retries with the same buffer). */
static int do_write(SSL *s, sst *t, const void *buf, size_t num, size_t *written, int *rret)
{
    t->last_err = -1;
    if (t->rd_soft) { /* the host goes on after a synthesized reply */
        t->rd_soft = 0;
        t->rd_end = 0;
    }
    if (t->wr_broken) {
        t->last_err = SSL_ERROR_SYSCALL;
        errno = ECONNRESET;
        return 0;
    }
    if (t->wpend) { /* the retry of a write whose bytes the exchange took */
        if (!flush_out(s, t, rret)) return -1;
        *written = t->wpend;
        t->wpend = 0;
        return 1;
    }
    if (out_avail(t) && !flush_out(s, t, rret)) return -1;
    al_code c =
        t->pass ? al_buf_append(&t->out, buf, num) : al_conn_out(t->conn, buf, num, &t->out);
    if (c != AL_OK) {
        al_hook_debug("ssl %p: request refused: %s", (void *)s, al_strerror(c));
        al_buf_reset(&t->out);
        t->out_off = 0;
        t->wr_broken = 1;
        t->last_err = SSL_ERROR_SYSCALL;
        errno = ECONNRESET;
        return 0;
    }
    check_pass(t);
    if (!t->pass && !out_avail(t) && al_conn_has_reply(t->conn) && !t->answered) {
        t->answered = 1;
        if (!host_blocks(s)) {
            size_t before = t->in.len;
            pull_reply(t);
            al_conn_take_closing(t->conn); /* closed here, or interim */
            /* an interim reply (100 Continue) is followed by the real one */
            int interim =
                t->in.len - before >= 10 && !memcmp(t->in.data + before, "HTTP/1.1 1", 10);
            if (!interim) close_after_reply(s);
        }
    }
    if (out_avail(t) && !flush_out(s, t, rret)) {
        t->wpend = num;
        return -1;
    }
    *written = num;
    return 1;
}

/* Common prologue: the state of s when the shim must act on it, else NULL
 * (the caller makes the real call). */
static sst *managed(const SSL *s, int create)
{
    if (al_in_hook || al_in_curl || !s) return NULL;
    sst *t = st_find(s);
    if (!t && create) {
        al_in_hook++;
        t = st_create((SSL *)s);
        al_in_hook--;
    }
    if (!t || st_is_pass(t)) return NULL;
    return t;
}

/* ---- the hooks ---- */

AL_EXPORT int SSL_write(SSL *s, const void *buf, int num)
{
    synth_drop(s);
    sst *t = num > 0 ? managed(s, 1) : NULL;
    if (!t) {
        SSL_write_t f = REAL(SSL_write);
        if (!f) return errno = ENOSYS, -1;
        return f(s, buf, num);
    }
    al_in_hook++;
    size_t w = 0;
    int rret = -1;
    int r = do_write(s, t, buf, (size_t)num, &w, &rret);
    int ret = r > 0 ? (int)w : r == 0 ? -1 : rret;
    if (r == 0) synth_set(s, ret, t->last_err);
    al_in_hook--;
    return ret;
}

AL_EXPORT int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written)
{
    synth_drop(s);
    sst *t = num > 0 ? managed(s, 1) : NULL;
    if (!t) {
        SSL_write_ex_t f = REAL(SSL_write_ex);
        if (!f) return errno = ENOSYS, 0;
        return f(s, buf, num, written);
    }
    al_in_hook++;
    size_t w = 0;
    int rret = 0;
    int r = do_write(s, t, buf, num, &w, &rret);
    if (written) *written = r > 0 ? w : 0;
    int ret = r > 0 ? 1 : 0;
    if (r == 0) synth_set(s, ret, t->last_err);
    al_in_hook--;
    return ret;
}

/* int-returning reads: bytes, or 0 (orderly end) / -1 (error). */
static int read_int(SSL *s, void *buf, int num, int peek)
{
    synth_drop(s);
    sst *t = num > 0 ? managed(s, 0) : NULL;
    if (!t) {
        SSL_read_t f = peek ? (SSL_read_t)REAL(SSL_peek) : REAL(SSL_read);
        if (!f) return errno = ENOSYS, -1;
        return f(s, buf, num);
    }
    al_in_hook++;
    size_t got = 0;
    int rret = -1;
    int r = do_read(s, t, buf, (size_t)num, &got, peek, &rret);
    int ret = r > 0 ? (int)got : r < 0 ? rret : t->last_err == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    if (r == 0) synth_set(s, ret, t->last_err);
    al_in_hook--;
    return ret;
}

static int read_ex(SSL *s, void *buf, size_t num, size_t *readbytes, int peek)
{
    synth_drop(s);
    sst *t = num > 0 ? managed(s, 0) : NULL;
    if (!t) {
        SSL_read_ex_t f = peek ? (SSL_read_ex_t)REAL(SSL_peek_ex) : REAL(SSL_read_ex);
        if (!f) return errno = ENOSYS, 0;
        return f(s, buf, num, readbytes);
    }
    al_in_hook++;
    size_t got = 0;
    int rret = 0;
    int r = do_read(s, t, buf, num, &got, peek, &rret);
    if (readbytes) *readbytes = r > 0 ? got : 0;
    int ret = r > 0 ? 1 : 0; /* _ex: 0 for every failure */
    (void)rret;
    if (r == 0) synth_set(s, 0, t->last_err);
    al_in_hook--;
    return ret;
}

AL_EXPORT int SSL_read(SSL *s, void *buf, int num)
{
    return read_int(s, buf, num, 0);
}

AL_EXPORT int SSL_peek(SSL *s, void *buf, int num)
{
    return read_int(s, buf, num, 1);
}

AL_EXPORT int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
    return read_ex(s, buf, num, readbytes, 0);
}

AL_EXPORT int SSL_peek_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
    return read_ex(s, buf, num, readbytes, 1);
}

/* Bytes the host can read without waiting: the shim's own count first, so a
 * host that polls the socket only when nothing is pending never waits for
 * bytes the shim already holds. */
static int held_count(const SSL *s)
{
    sst *t = managed(s, 0);
    if (!t) return 0;
    al_in_hook++;
    pull_reply(t);
    closing_after(t);
    size_t n = in_avail(t);
    if (!n && t->rd_end && t->last_err < 0) n = 1; /* an end not yet reported */
    al_in_hook--;
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

AL_EXPORT int SSL_pending(const SSL *s)
{
    int held = held_count(s);
    SSL_pending_t f = REAL(SSL_pending);
    int real = f ? f(s) : 0;
    if (held > INT32_MAX - real) return INT32_MAX;
    return held + real;
}

AL_EXPORT int SSL_has_pending(const SSL *s)
{
    if (held_count(s) > 0) return 1;
    SSL_has_pending_t f = REAL(SSL_has_pending);
    return f ? f(s) : 0;
}

AL_EXPORT int SSL_get_error(const SSL *s, int ret)
{
    if (s && synth.ssl == s && ret == synth.ret && !al_in_hook && !al_in_curl) return synth.err;
    SSL_get_error_t f = REAL(SSL_get_error);
    return f ? f(s, ret) : SSL_ERROR_SYSCALL;
}

AL_EXPORT int SSL_shutdown(SSL *s)
{
    synth_drop(s);
    if (!al_in_hook && !al_in_curl && s) {
        sst *t = st_find(s);
        if (t) t->last_err = -1;
    }
    SSL_shutdown_t f = REAL(SSL_shutdown);
    if (!f) return errno = ENOSYS, -1;
    return f(s);
}

/* After the end synthesized for a blocking host (its request was answered
 * here and the server owes nothing), the session reads as closed by the
 * peer: a host that tells an orderly end from a truncation by the shutdown
 * state (Python's ssl module wants exactly SSL_RECEIVED_SHUTDOWN with
 * SSL_ERROR_ZERO_RETURN, else it raises SSLZeroReturnError) sees a clean
 * end.  A write by the host clears that end and the real state shows again. */
AL_EXPORT int SSL_get_shutdown(const SSL *s)
{
    SSL_get_shutdown_t f = REAL(SSL_get_shutdown);
    int real = f ? f(s) : 0;
    if (!al_in_hook && !al_in_curl && s) {
        sst *t = st_find(s);
        if (synth.ssl == s && synth.err == SSL_ERROR_ZERO_RETURN && t && t->rd_soft &&
            t->rd_end == SSL_ERROR_ZERO_RETURN)
            return (real & ~SSL_SENT_SHUTDOWN) | SSL_RECEIVED_SHUTDOWN;
    }
    return real;
}

AL_EXPORT void SSL_free(SSL *s)
{
    synth_drop(s);
    if (s) {
        al_in_hook++;
        st_remove(s);
        al_in_hook--;
    }
    SSL_free_t f = REAL(SSL_free);
    if (f) f(s);
}

/* SSL_clear readies s for a new connection: the old one's state goes, as
 * with SSL_free. */
AL_EXPORT int SSL_clear(SSL *s)
{
    synth_drop(s);
    if (s && st_find(s)) {
        al_in_hook++;
        al_hook_debug("ssl %p: cleared for a new connection", (void *)s);
        st_remove(s);
        al_in_hook--;
    }
    SSL_clear_t f = REAL(SSL_clear);
    return f ? f(s) : 0;
}

/* The other calls SSL_get_error explains: hooked only so that a result the
 * shim made up earlier is not taken to explain theirs. */
AL_EXPORT int SSL_do_handshake(SSL *s)
{
    synth_drop(s);
    SSL_do_handshake_t f = REAL(SSL_do_handshake);
    return f ? f(s) : (errno = ENOSYS, -1);
}

AL_EXPORT int SSL_connect(SSL *s)
{
    synth_drop(s);
    SSL_connect_t f = REAL(SSL_connect);
    return f ? f(s) : (errno = ENOSYS, -1);
}

AL_EXPORT int SSL_accept(SSL *s)
{
    synth_drop(s);
    SSL_accept_t f = REAL(SSL_accept);
    return f ? f(s) : (errno = ENOSYS, -1);
}

AL_EXPORT int SSL_read_early_data(SSL *s, void *buf, size_t num, size_t *readbytes)
{
    synth_drop(s);
    SSL_read_early_data_t f = REAL(SSL_read_early_data);
    return f ? f(s, buf, num, readbytes) : (errno = ENOSYS, SSL_READ_EARLY_DATA_ERROR);
}

AL_EXPORT int SSL_write_early_data(SSL *s, const void *buf, size_t num, size_t *written)
{
    synth_drop(s);
    SSL_write_early_data_t f = REAL(SSL_write_early_data);
    return f ? f(s, buf, num, written) : (errno = ENOSYS, 0);
}

/* ---- ALPN: offer http/1.1 alone where the host offers it with h2, so the
 * exchange sees HTTP/1.1.  Lists without http/1.1 are left alone. ---- */

AL_EXPORT int SSL_CTX_set_alpn_protos(SSL_CTX *c, const unsigned char *protos, unsigned int len)
{
    SSL_CTX_set_alpn_protos_t f = REAL(SSL_CTX_set_alpn_protos);
    if (!f) return 1; /* 1 is this function's failure value */
    unsigned char tmp[256];
    if (!al_in_hook && !al_in_curl && protos && len > 0 && len <= sizeof tmp) {
        unsigned n = al_alpn_h1_only(protos, len, tmp);
        if (n) {
            al_hook_debug("ALPN offer reduced to http/1.1");
            return f(c, tmp, n);
        }
    }
    return f(c, protos, len);
}

AL_EXPORT int SSL_set_alpn_protos(SSL *s, const unsigned char *protos, unsigned int len)
{
    SSL_set_alpn_protos_t f = REAL(SSL_set_alpn_protos);
    if (!f) return 1;
    unsigned char tmp[256];
    if (!al_in_hook && !al_in_curl && protos && len > 0 && len <= sizeof tmp) {
        unsigned n = al_alpn_h1_only(protos, len, tmp);
        if (n) {
            al_hook_debug("ALPN offer reduced to http/1.1");
            return f(s, tmp, n);
        }
    }
    return f(s, protos, len);
}

/* ---- OpenSSL's SSL BIO (BIO_f_ssl, BIO_new_ssl_connect) ----
 * The SSL BIO calls libssl's internal read and write, not SSL_read and
 * SSL_write, so a program that talks through BIO_puts/BIO_write and
 * BIO_read on one (OpenSSL's own client example does) passed by the hooks
 * above unscreened.  BIO_read/_ex and BIO_write/_ex on a BIO of type
 * BIO_TYPE_SSL whose SSL the shim follows (or, writing, may follow) go
 * through those hooks, with the retry flags the SSL BIO sets; every other
 * BIO call is the real one. */

typedef int (*BIO_read_t)(BIO *, void *, int);
typedef int (*BIO_write_t)(BIO *, const void *, int);
typedef int (*BIO_read_ex_t)(BIO *, void *, size_t, size_t *);
typedef int (*BIO_write_ex_t)(BIO *, const void *, size_t, size_t *);
enum { B_READ, B_WRITE, B_READ_EX, B_WRITE_EX, B_COUNT };
static const char *const crypto_sonames[] = {"libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so",
                                             NULL};
static void *bio_real[B_COUNT];

static void *bio_get(int i, const char *name, void *self)
{
    void *p = __atomic_load_n(&bio_real[i], __ATOMIC_ACQUIRE);
    if (p) return p;
    p = al_hook_real(name, self, crypto_sonames);
    if (p) __atomic_store_n(&bio_real[i], p, __ATOMIC_RELEASE);
    return p;
}

/* The SSL of b when b is an SSL BIO the hooks should serve, else NULL. */
static SSL *bio_ssl(BIO *b, int writing)
{
    if (!b || al_in_hook || al_in_curl || BIO_method_type(b) != BIO_TYPE_SSL) return NULL;
    SSL *s = NULL;
    if (BIO_get_ssl(b, &s) <= 0 || !s) return NULL;
    return managed(s, writing) ? s : NULL;
}

/* b's retry flags from the SSL call's result, as the SSL BIO sets them. */
static void bio_retry(BIO *b, SSL *s, int ret)
{
    BIO_clear_retry_flags(b);
    if (ret > 0) return;
    switch (SSL_get_error(s, ret)) {
    case SSL_ERROR_WANT_READ:
        BIO_set_retry_read(b);
        break;
    case SSL_ERROR_WANT_WRITE:
        BIO_set_retry_write(b);
        break;
    case SSL_ERROR_WANT_X509_LOOKUP:
        BIO_set_retry_special(b);
        BIO_set_retry_reason(b, BIO_RR_SSL_X509_LOOKUP);
        break;
    case SSL_ERROR_WANT_CONNECT:
        BIO_set_retry_special(b);
        BIO_set_retry_reason(b, BIO_RR_CONNECT);
        break;
    default:
        break;
    }
}

AL_EXPORT int BIO_read(BIO *b, void *data, int dlen)
{
    SSL *s = dlen > 0 ? bio_ssl(b, 0) : NULL;
    if (!s) {
        BIO_read_t f = (BIO_read_t)bio_get(B_READ, "BIO_read", (void *)BIO_read);
        return f ? f(b, data, dlen) : -1;
    }
    int r = SSL_read(s, data, dlen);
    bio_retry(b, s, r);
    return r;
}

AL_EXPORT int BIO_read_ex(BIO *b, void *data, size_t dlen, size_t *readbytes)
{
    SSL *s = dlen > 0 ? bio_ssl(b, 0) : NULL;
    if (!s) {
        BIO_read_ex_t f = (BIO_read_ex_t)bio_get(B_READ_EX, "BIO_read_ex", (void *)BIO_read_ex);
        return f ? f(b, data, dlen, readbytes) : 0;
    }
    int r = SSL_read_ex(s, data, dlen, readbytes);
    bio_retry(b, s, r);
    return r;
}

AL_EXPORT int BIO_write(BIO *b, const void *data, int dlen)
{
    SSL *s = dlen > 0 ? bio_ssl(b, 1) : NULL;
    if (!s) {
        BIO_write_t f = (BIO_write_t)bio_get(B_WRITE, "BIO_write", (void *)BIO_write);
        return f ? f(b, data, dlen) : -1;
    }
    int r = SSL_write(s, data, dlen);
    bio_retry(b, s, r);
    return r;
}

AL_EXPORT int BIO_write_ex(BIO *b, const void *data, size_t dlen, size_t *written)
{
    SSL *s = dlen > 0 ? bio_ssl(b, 1) : NULL;
    if (!s) {
        BIO_write_ex_t f =
            (BIO_write_ex_t)bio_get(B_WRITE_EX, "BIO_write_ex", (void *)BIO_write_ex);
        return f ? f(b, data, dlen, written) : 0;
    }
    int r = SSL_write_ex(s, data, dlen, written);
    bio_retry(b, s, r);
    return r;
}

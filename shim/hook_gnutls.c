/* hook_gnutls.c: the GnuTLS transport.  Turns gnutls_record_send/recv of one
 * session into the plaintext of one HTTP connection for the exchange, and
 * serves back what it releases (wget, and other GnuTLS programs).  Stands
 * aside inside libcurl calls (the curl layer has those) and for sessions the
 * exchange judges not to carry LLM traffic.  Never changes a GnuTLS error
 * code it did not cause, never holds a lock across a real record call. */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alpn.h"
#include "hook.h"

#define HOOK AL_EXPORT
#define RBUF_SIZE 16384

static const char *const gnutls_sonames[] = {"libgnutls.so.30", NULL};

typedef ssize_t (*send_fn)(gnutls_session_t, const void *, size_t);
typedef ssize_t (*recv_fn)(gnutls_session_t, void *, size_t);
typedef size_t (*pending_fn)(gnutls_session_t);
typedef void (*deinit_fn)(gnutls_session_t);
typedef int (*sname_fn)(gnutls_session_t, void *, size_t *, unsigned int *, unsigned int);
typedef int (*alpn_fn)(gnutls_session_t, const gnutls_datum_t *, unsigned, unsigned);
typedef ssize_t (*send2_fn)(gnutls_session_t, const void *, size_t, size_t, unsigned);
typedef ssize_t (*recvseq_fn)(gnutls_session_t, void *, size_t, unsigned char *);
typedef int (*getint_fn)(gnutls_session_t);

HOOK ssize_t gnutls_record_send(gnutls_session_t s, const void *data, size_t n);
HOOK ssize_t gnutls_record_recv(gnutls_session_t s, void *data, size_t n);
HOOK size_t gnutls_record_check_pending(gnutls_session_t s);
HOOK void gnutls_deinit(gnutls_session_t s);
HOOK ssize_t gnutls_record_send2(gnutls_session_t s, const void *data, size_t n, size_t pad,
                                 unsigned flags);
HOOK ssize_t gnutls_record_recv_seq(gnutls_session_t s, void *data, size_t n, unsigned char *seq);
HOOK int gnutls_alpn_set_protocols(gnutls_session_t s, const gnutls_datum_t *protocols,
                                   unsigned size, unsigned flags);

static void *resolve(void **slot, const char *name, void *self)
{
    void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!p) {
        p = al_hook_real(name, self, gnutls_sonames);
        __atomic_store_n(slot, p, __ATOMIC_RELEASE);
    }
    return p;
}
static void *p_send, *p_recv, *p_pending, *p_deinit, *p_sname, *p_alpn, *p_send2, *p_recvseq,
    *p_getint;
#define REAL_SEND() ((send_fn)resolve(&p_send, "gnutls_record_send", (void *)gnutls_record_send))
#define REAL_RECV() ((recv_fn)resolve(&p_recv, "gnutls_record_recv", (void *)gnutls_record_recv))
#define REAL_PENDING()                                                                             \
    ((pending_fn)resolve(&p_pending, "gnutls_record_check_pending",                                \
                         (void *)gnutls_record_check_pending))
#define REAL_DEINIT() ((deinit_fn)resolve(&p_deinit, "gnutls_deinit", (void *)gnutls_deinit))
#define REAL_SNAME() ((sname_fn)resolve(&p_sname, "gnutls_server_name_get", NULL))
#define REAL_GETINT() ((getint_fn)resolve(&p_getint, "gnutls_transport_get_int", NULL))

/* One session's state.  pass: not an LLM connection, real calls only. */
typedef struct gconn {
    gnutls_session_t s;
    struct gconn *next;
    pthread_mutex_t mu;
    al_conn *c;
    int pass, eof;
    int answered;   /* the exchange gave the final reply itself; nothing went out since */
    int end_told;   /* a read past that answer has returned the end of the stream */
    al_buf in;      /* what the host may read now */
    al_buf out;     /* for the server, not yet sent: the real send said E_AGAIN */
    size_t out_off; /* sent so far of out */
    size_t wpend;   /* the host's byte count for the send that returned E_AGAIN */
    al_idle idle;   /* a slow stream's held text (hook.h) */
    char rbuf[RBUF_SIZE];
} gconn;

#define NBUCKET 64
static gconn *table[NBUCKET];
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static int nsessions; /* sessions with state; 0 makes check_pending free */

static unsigned bucket(gnutls_session_t s)
{
    uintptr_t v = (uintptr_t)s;
    return (unsigned)((v >> 4) ^ (v >> 12)) % NBUCKET;
}

static gconn *lookup(gnutls_session_t s)
{
    pthread_mutex_lock(&table_mu);
    gconn *g = table[bucket(s)];
    while (g && g->s != s) g = g->next;
    pthread_mutex_unlock(&table_mu);
    return g;
}

/* The session's state, created on its first record call. */
static gconn *get(gnutls_session_t s)
{
    gconn *g = lookup(s);
    if (g) return g;
    g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->s = s;
    pthread_mutex_init(&g->mu, NULL);
    char host[256] = "";
    size_t hl = sizeof host - 1;
    unsigned type = 0;
    sname_fn sn = REAL_SNAME();
    if (!sn || sn(s, host, &hl, &type, 0) != 0 || type != GNUTLS_NAME_DNS) host[0] = '\0';
    host[sizeof host - 1] = '\0';
    al_in_hook++;
    g->c = al_conn_new(al_hook_ctx(), "gnutls", host[0] ? host : NULL);
    /* bodies that are not LLM calls are read straight into the host's
     * buffer (gnutls_record_recv): a download never ends the screening of
     * its connection, so an LLM call kept alive after it is screened */
    if (g->c) al_conn_follow_downloads(g->c);
    al_in_hook--;
    if (!g->c) g->pass = 1;
    pthread_mutex_lock(&table_mu);
    unsigned b = bucket(s);
    gconn *other = table[b];
    while (other && other->s != s) other = other->next;
    if (other) { /* another thread won the race */
        pthread_mutex_unlock(&table_mu);
        al_conn_free(g->c);
        free(g);
        return other;
    }
    g->next = table[b];
    table[b] = g;
    nsessions++;
    pthread_mutex_unlock(&table_mu);
    return g;
}

/* Forgets the session (its connection writes its audit line). */
static void forget(gnutls_session_t s)
{
    pthread_mutex_lock(&table_mu);
    gconn **pp = &table[bucket(s)], *g;
    while ((g = *pp) && g->s != s) pp = &g->next;
    if (g) {
        *pp = g->next;
        nsessions--;
    }
    pthread_mutex_unlock(&table_mu);
    if (!g) return;
    al_in_hook++;
    al_conn_free(g->c);
    al_in_hook--;
    al_buf_free(&g->in);
    al_buf_free(&g->out);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* Sends g->out (from g->out_off) through the real record layer, never
 * waiting: GNUTLS_E_AGAIN and GNUTLS_E_INTERRUPTED go back to the host, as
 * the real call would return them, with the rest kept; GnuTLS wants the
 * interrupted real call repeated with the same data, which out_off keeps.
 * Returns 0 when all is sent, else the GnuTLS error (others drop the rest). */
/* Inside a real gnutls_record_send of ours: libgnutls's own send calls
 * gnutls_record_send2, which must then be the real one. */
static __thread int in_real_send;

static ssize_t real_send(send_fn f, gnutls_session_t s, const void *data, size_t n)
{
    in_real_send++;
    ssize_t r = f(s, data, n);
    in_real_send--;
    return r;
}

static ssize_t out_flush(send_fn f, gconn *g)
{
    while (g->out_off < g->out.len) {
        ssize_t w = real_send(f, g->s, g->out.data + g->out_off, g->out.len - g->out_off);
        if (w > 0) {
            g->out_off += (size_t)w;
            continue;
        }
        if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) return w;
        al_buf_reset(&g->out);
        g->out_off = 0;
        return w < 0 ? w : GNUTLS_E_PUSH_ERROR;
    }
    al_buf_reset(&g->out);
    g->out_off = 0;
    return 0;
}

/* gnutls_record_send's contract for the host: after GNUTLS_E_AGAIN or
 * GNUTLS_E_INTERRUPTED it calls again with the same data (or NULL, 0) and
 * gets the count of the original call.  The exchange took the host's bytes
 * on the first call, so the retry only sends what is left of them. */
HOOK ssize_t gnutls_record_send(gnutls_session_t s, const void *data, size_t n)
{
    send_fn f = REAL_SEND();
    if (!f) return GNUTLS_E_INTERNAL_ERROR;
    if (al_in_hook || al_in_curl || !s) return real_send(f, s, data, n);
    gconn *g;
    if (!data || n == 0) { /* a flush: ours when a send of ours is pending */
        g = __atomic_load_n(&nsessions, __ATOMIC_RELAXED) ? lookup(s) : NULL;
        if (!g || !g->wpend) return real_send(f, s, data, n);
    } else {
        g = get(s);
        if (!g || (g->pass && !g->wpend)) return real_send(f, s, data, n);
    }
    if (g->wpend) { /* the retry of a send whose bytes the exchange took */
        ssize_t r = out_flush(f, g);
        if (r < 0) {
            if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED) g->wpend = 0;
            return r;
        }
        size_t k = data && n && n < g->wpend ? n : g->wpend;
        g->wpend -= k;
        return (ssize_t)k;
    }
    al_buf out = {0};
    pthread_mutex_lock(&g->mu);
    al_in_hook++;
    al_code rc = al_conn_out(g->c, data, n, &out);
    int pass = al_conn_passthrough(g->c);
    al_in_hook--;
    pthread_mutex_unlock(&g->mu);
    if (rc != AL_OK) {
        al_buf_free(&out);
        al_hook_debug("gnutls: request stream refused: %s", al_strerror(rc));
        return GNUTLS_E_PUSH_ERROR;
    }
    if (out.len) {
        g->answered = 0;
        g->end_told = 0;
        al_buf_free(&g->out);
        g->out = out;
        g->out_off = 0;
        ssize_t r = out_flush(f, g);
        if (r < 0) {
            if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) g->wpend = n;
            return r;
        }
    } else {
        al_buf_free(&out);
        /* A request answered here (blocked: it never left) is owed nothing
         * by the server: a host reading past the answer gets the end of the
         * stream instead of waiting for a server that will never speak.  An
         * interim answer (100 Continue) is followed by the real one. */
        pthread_mutex_lock(&g->mu);
        if (!pass && g->in.len == 0 && al_conn_has_reply(g->c)) {
            al_in_hook++;
            al_conn_in(g->c, NULL, 0, 0, &g->in);
            al_in_hook--;
            g->answered =
                g->in.len >= 12 && memcmp(g->in.data, "HTTP/1.", 7) == 0 && g->in.data[9] != '1';
        }
        pthread_mutex_unlock(&g->mu);
    }
    if (pass && g->in.len == 0) g->pass = 1;
    return (ssize_t)n;
}

/* Lets out what the scrubbers hold for a paused stream (al_conn_idle);
 * called with g->mu held.  Returns 1 when the host has bytes to read, 0
 * when not, -1 when the reply was cut off. */
static int idle_cut(gconn *g)
{
    g->idle.hold_at = 0;
    al_in_hook++;
    al_code rc = al_conn_idle(g->c, &g->in);
    al_in_hook--;
    if (rc != AL_OK) {
        al_hook_debug("gnutls: reply cut off: %s", al_strerror(rc));
        return -1;
    }
    return g->in.len > 0;
}

/* The session's socket when the host reads it blocking: a transport that is
 * a descriptor (gnutls_transport_set_int, or set_ptr with one as wget does),
 * a socket, without O_NONBLOCK.  -1 for a non-blocking socket, -2 for a
 * transport that is no socket (the program's own pull function). */
static int blocking_fd(gnutls_session_t s)
{
    getint_fn gi = REAL_GETINT();
    int fd = gi ? gi(s) : -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return -2;
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 || (fl & O_NONBLOCK) ? -1 : fd;
}

/* A non-blocking read found nothing from the server (GNUTLS_E_AGAIN), or
 * one through a transport there is no socket to wait on is about to be
 * made: the held text goes out when due (al_idle_due).  Returns as idle_cut. */
static int idle_due(gconn *g)
{
    pthread_mutex_lock(&g->mu);
    int r = al_conn_stream_holding(g->c) && al_idle_due(&g->idle) ? idle_cut(g) : 0;
    pthread_mutex_unlock(&g->mu);
    return r;
}

/* Before a real read while the stream holds text (nothing decrypted in the
 * session yet): on a blocking socket, waits for the server at most until
 * that text is due out (al_idle_wait_ms), then lets it out; through a
 * transport of the program's own, lets it out if due.  Returns as idle_cut,
 * 0 to read as usual.  A reply already in the socket buffer costs one poll
 * that returns at once. */
static int idle_wait(gnutls_session_t s, gconn *g)
{
    pending_fn pend = REAL_PENDING();
    if (pend && pend(s) > 0) return 0;
    int fd = blocking_fd(s);
    if (fd == -2) return idle_due(g);
    if (fd < 0) return 0;
    pthread_mutex_lock(&g->mu);
    int w = al_idle_wait_ms(&g->idle);
    pthread_mutex_unlock(&g->mu);
    struct pollfd pf = {fd, POLLIN, 0};
    al_in_hook++;
    int r = poll(&pf, 1, w);
    al_in_hook--;
    if (r != 0) return 0;
    pthread_mutex_lock(&g->mu);
    r = al_conn_stream_holding(g->c) ? idle_cut(g) : 0;
    pthread_mutex_unlock(&g->mu);
    return r;
}

HOOK ssize_t gnutls_record_recv(gnutls_session_t s, void *data, size_t n)
{
    recv_fn f = REAL_RECV();
    if (!f) return GNUTLS_E_INTERNAL_ERROR;
    if (al_in_hook || al_in_curl || !s || !data || n == 0) return f(s, data, n);
    gconn *g = lookup(s);
    if (!g || (g->pass && g->in.len == 0)) return f(s, data, n);
    for (;;) {
        pthread_mutex_lock(&g->mu);
        if (g->in.len == 0 && al_conn_has_reply(g->c)) {
            al_in_hook++;
            al_conn_in(g->c, NULL, 0, 0, &g->in);
            al_in_hook--;
        }
        if (g->in.len > 0) {
            size_t k = g->in.len < n ? g->in.len : n;
            memcpy(data, g->in.data, k);
            al_buf_consume(&g->in, k);
            pthread_mutex_unlock(&g->mu);
            return (ssize_t)k;
        }
        int eof = g->eof || g->answered;
        if (g->answered) g->end_told = 1;
        uint64_t direct = eof ? 0 : al_conn_in_direct(g->c);
        int holding = !eof && !direct && al_conn_stream_holding(g->c);
        pthread_mutex_unlock(&g->mu);
        if (eof) return 0;
        if (holding) { /* a slow stream: its held text goes out at a pause */
            int w = idle_wait(s, g);
            if (w < 0) return GNUTLS_E_PULL_ERROR;
            if (w) continue; /* serve what was let out */
        }
        /* a body that is not an LLM call: into the host's buffer, no copy */
        ssize_t r =
            direct ? f(s, data, direct < n ? (size_t)direct : n) : f(s, g->rbuf, sizeof g->rbuf);
        if (direct && r > 0) {
            pthread_mutex_lock(&g->mu);
            al_in_hook++;
            al_conn_in_skip(g->c, (uint64_t)r);
            al_in_hook--;
            pthread_mutex_unlock(&g->mu);
            return r;
        }
        if (r == GNUTLS_E_AGAIN && holding) {
            /* a host that must not wait: the held text goes out once due */
            int w = idle_due(g);
            if (w < 0) return GNUTLS_E_PULL_ERROR;
            if (w) continue;
        }
        if (r < 0) {
            if (r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_UNEXPECTED_PACKET_LENGTH) {
                /* a peer that closes without close_notify: end of stream */
                pthread_mutex_lock(&g->mu);
                al_in_hook++;
                al_code rc = al_conn_in(g->c, NULL, 0, 1, &g->in);
                al_in_hook--;
                g->eof = 1;
                int have = g->in.len > 0;
                pthread_mutex_unlock(&g->mu);
                if (rc == AL_OK && have) continue;
            }
            return r;
        }
        pthread_mutex_lock(&g->mu);
        al_in_hook++;
        al_code rc = al_conn_in(g->c, g->rbuf, (size_t)r, r == 0, &g->in);
        if (r > 0) al_idle_arrived(&g->idle, al_conn_stream_holding(g->c));
        al_in_hook--;
        if (r == 0) g->eof = 1;
        /* a block reply that waited behind pipelined replies: the server is
         * owed nothing more, and the host gets the end after it */
        if (al_conn_take_closing(g->c)) g->answered = 1;
        pthread_mutex_unlock(&g->mu);
        if (rc != AL_OK) {
            al_hook_debug("gnutls: reply cut off: %s", al_strerror(rc));
            return GNUTLS_E_PULL_ERROR;
        }
    }
}

HOOK size_t gnutls_record_check_pending(gnutls_session_t s)
{
    pending_fn f = REAL_PENDING();
    size_t n = f ? f(s) : 0;
    if (!__atomic_load_n(&nsessions, __ATOMIC_RELAXED) || al_in_hook || al_in_curl) return n;
    gconn *g = lookup(s);
    if (g) {
        pthread_mutex_lock(&g->mu);
        n += g->in.len;
        if (g->in.len == 0 && al_conn_has_reply(g->c)) n += 1;
        /* the end after a locally answered request is news to read too: an
         * event loop that waits for the socket when nothing is pending would
         * wait for a server that owes nothing */
        if (g->in.len == 0 && g->answered && !g->end_told) n += 1;
        pthread_mutex_unlock(&g->mu);
    }
    return n;
}

/* Session addresses are reused: state ends with the session.  (Interposed
 * only when the export map lists gnutls_deinit.) */
HOOK void gnutls_deinit(gnutls_session_t s)
{
    deinit_fn f = REAL_DEINIT();
    if (s && __atomic_load_n(&nsessions, __ATOMIC_RELAXED)) forget(s);
    if (f) f(s);
}

/* An offer of h2 beside http/1.1 is reduced to the HTTP/1.x names, as the
 * OpenSSL layer does, so the session's plaintext is HTTP/1.1 the exchange
 * reads; a GnuTLS program that negotiated HTTP/2 was passed through
 * unscreened.  An offer without http/1.1 is left as it is (libcurl's
 * sessions too: the curl layer has those). */
HOOK int gnutls_alpn_set_protocols(gnutls_session_t s, const gnutls_datum_t *protocols,
                                   unsigned size, unsigned flags)
{
    alpn_fn real =
        (alpn_fn)resolve(&p_alpn, "gnutls_alpn_set_protocols", (void *)gnutls_alpn_set_protocols);
    if (!real) return GNUTLS_E_INVALID_REQUEST;
    unsigned char wire[512], out[512];
    size_t len = 0;
    int fits = !al_in_hook && !al_in_curl && protocols && size > 1 && size <= 16;
    for (unsigned i = 0; fits && i < size; i++) {
        unsigned n = protocols[i].size;
        if (!n || n > 255 || len + 1 + n > sizeof wire || !protocols[i].data) {
            fits = 0;
            break;
        }
        wire[len++] = (unsigned char)n;
        memcpy(wire + len, protocols[i].data, n);
        len += n;
    }
    size_t k = fits ? al_alpn_h1_only(wire, len, out) : 0;
    if (!k) return real(s, protocols, size, flags);
    gnutls_datum_t keep[16];
    unsigned nk = 0;
    for (size_t i = 0; i < k && nk < 16; i += 1 + out[i]) {
        keep[nk].data = out + i + 1;
        keep[nk].size = out[i];
        nk++;
    }
    al_hook_debug("gnutls: ALPN offer reduced to http/1.1");
    return real(s, keep, nk, flags);
}

/* The record calls with extras (padding or corking, the sequence number)
 * were a way around the two above: on a session the exchange follows, or
 * may (no record call yet), they go through them.  send2's padding and
 * cork flag are dropped there (the bytes go out as gnutls_record_send sends
 * them); recv_seq's sequence number is zeroed (the records the host reads
 * are the exchange's).  A session passed through gets the real calls. */
HOOK ssize_t gnutls_record_send2(gnutls_session_t s, const void *data, size_t n, size_t pad,
                                 unsigned flags)
{
    int ours = !al_in_hook && !al_in_curl && !in_real_send;
    gconn *g = ours ? lookup(s) : NULL;
    if (ours && (!g || !g->pass)) return gnutls_record_send(s, data, n);
    send2_fn real = (send2_fn)resolve(&p_send2, "gnutls_record_send2", (void *)gnutls_record_send2);
    return real ? real(s, data, n, pad, flags) : GNUTLS_E_INTERNAL_ERROR;
}

HOOK ssize_t gnutls_record_recv_seq(gnutls_session_t s, void *data, size_t n, unsigned char *seq)
{
    gconn *g = al_in_hook || al_in_curl ? NULL : lookup(s);
    if (g && !g->pass) {
        ssize_t r = gnutls_record_recv(s, data, n);
        if (seq) memset(seq, 0, 8);
        return r;
    }
    recvseq_fn real =
        (recvseq_fn)resolve(&p_recvseq, "gnutls_record_recv_seq", (void *)gnutls_record_recv_seq);
    return real ? real(s, data, n, seq) : GNUTLS_E_INTERNAL_ERROR;
}

/* hook_curl.c: the libcurl transport.  Screens the request body of an LLM call
 * made through curl_easy_perform or the multi interface, and scrubs the reply
 * libcurl hands to the program's write callback (already de-chunked, decoded
 * and HTTP/2-deframed).  It never changes a transfer the exchange does not
 * recognise, never lets a blocked request leave the process, and never calls
 * the program's callbacks with more than CURL_MAX_WRITE_SIZE bytes at once.
 * Works for libcurl.so.4 (OpenSSL), libcurl-gnutls.so.4 and libcurl-nss.so.4. */
#define CURL_DISABLE_TYPECHECK 1
#define CURL_DISABLE_DEPRECATION 1
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hook.h"
#include "http1.h"
#include "provider.h"

#define HOOK AL_EXPORT

static const char *const curl_sonames[] = {"libcurl.so.4", "libcurl-gnutls.so.4",
                                           "libcurl-nss.so.4", "libcurl.so.3", NULL};

typedef CURLcode (*setopt_fn)(CURL *, CURLoption, ...);
typedef CURLcode (*getinfo_fn)(CURL *, CURLINFO, ...);
typedef CURLcode (*perform_fn)(CURL *);
typedef void (*cleanup_fn)(CURL *);
typedef void (*reset_fn)(CURL *);
typedef CURL *(*dup_fn)(CURL *);
typedef CURLMcode (*mhandle_fn)(CURLM *, CURL *);
typedef CURLMcode (*mperform_fn)(CURLM *, int *);
typedef CURLMcode (*msocket_fn)(CURLM *, curl_socket_t, int, int *);
typedef CURLMcode (*msocketall_fn)(CURLM *, int *);
typedef CURLMsg *(*minfo_fn)(CURLM *, int *);
typedef CURLcode (*pause_fn)(CURL *, int);
typedef CURLMcode (*mwait_fn)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
typedef CURLMcode (*mtimeout_fn)(CURLM *, long *);
#ifdef CURLH_HEADER
typedef CURLHcode (*header_fn)(CURL *, const char *, size_t, unsigned int, int,
                               struct curl_header **);
typedef struct curl_header *(*nextheader_fn)(CURL *, unsigned int, int, struct curl_header *);
#endif

/* Lazily resolved real functions; NULL until first use. */
static void *resolve(void **slot, const char *name, void *self)
{
    void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!p) {
        p = al_hook_real(name, self, curl_sonames);
        __atomic_store_n(slot, p, __ATOMIC_RELEASE);
    }
    return p;
}
#define REAL(type, name)                                                                           \
    static void *real_##name##_p;                                                                  \
    static type real_##name(void)                                                                  \
    {                                                                                              \
        return (type)resolve(&real_##name##_p, #name, (void *)name);                               \
    }

HOOK CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...);
HOOK CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...);
HOOK CURLcode curl_easy_perform(CURL *h);
HOOK void curl_easy_cleanup(CURL *h);
HOOK void curl_easy_reset(CURL *h);
HOOK CURL *curl_easy_duphandle(CURL *h);
HOOK CURLcode curl_easy_pause(CURL *h, int bitmask);
HOOK CURLMcode curl_multi_add_handle(CURLM *m, CURL *h);
HOOK CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h);
HOOK CURLMcode curl_multi_perform(CURLM *m, int *running);
HOOK CURLMcode curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev, int *running);
HOOK CURLMcode curl_multi_socket_all(CURLM *m, int *running);
HOOK CURLMsg *curl_multi_info_read(CURLM *m, int *left);
HOOK CURLMcode curl_multi_cleanup(CURLM *m);
HOOK CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned int n, int ms,
                               int *numfds);
HOOK CURLMcode curl_multi_wait(CURLM *m, struct curl_waitfd extra[], unsigned int n, int ms,
                               int *numfds);
HOOK CURLMcode curl_multi_timeout(CURLM *m, long *ms);
#ifdef CURLH_HEADER
HOOK CURLHcode curl_easy_header(CURL *h, const char *name, size_t index, unsigned int origin,
                                int request, struct curl_header **hout);
HOOK struct curl_header *curl_easy_nextheader(CURL *h, unsigned int origin, int request,
                                              struct curl_header *prev);
#endif

REAL(setopt_fn, curl_easy_setopt)
REAL(getinfo_fn, curl_easy_getinfo)
REAL(perform_fn, curl_easy_perform)
REAL(cleanup_fn, curl_easy_cleanup)
REAL(reset_fn, curl_easy_reset)
REAL(dup_fn, curl_easy_duphandle)
REAL(pause_fn, curl_easy_pause)
REAL(mhandle_fn, curl_multi_add_handle)
REAL(mhandle_fn, curl_multi_remove_handle)
REAL(mperform_fn, curl_multi_perform)
REAL(msocket_fn, curl_multi_socket_action)
REAL(msocketall_fn, curl_multi_socket_all)
REAL(minfo_fn, curl_multi_info_read)
typedef CURLMcode (*mcleanup_fn)(CURLM *);
REAL(mcleanup_fn, curl_multi_cleanup)
REAL(mwait_fn, curl_multi_poll)
REAL(mwait_fn, curl_multi_wait)
REAL(mtimeout_fn, curl_multi_timeout)
#ifdef CURLH_HEADER
REAL(header_fn, curl_easy_header)
REAL(nextheader_fn, curl_easy_nextheader)
#endif

/* What the program asked for, per CURL*, as far as screening needs it. */
enum { M_GET = 0, M_POST, M_PUT, M_FORM };
enum { ST_IDLE = 0, ST_ACTIVE, ST_BLOCKED };

typedef struct handle {
    CURL *h;
    struct handle *next;
    /* recorded options */
    char *url;
    const char *postfields; /* the program's pointer, or copy when copied */
    char *copy;             /* our copy of COPYPOSTFIELDS */
    curl_off_t postsize;    /* -1: strlen */
    curl_off_t infilesize;  /* -1: unknown */
    int method;
    int nobody; /* NOBODY: libcurl sends HEAD whatever the method, unless CUSTOMREQUEST */
    int failonerror;
    int follow;      /* FOLLOWLOCATION */
    int decodes;     /* ACCEPT_ENCODING set: libcurl decodes what the server compressed */
    int no_decoding; /* HTTP_CONTENT_DECODING 0: it never does */
    int raw_te;      /* HTTP_TRANSFER_DECODING 0: chunked framing reaches the callback */
    char *custom;    /* CUSTOMREQUEST */
    struct curl_slist *headers;
    curl_read_callback readfn;
    void *readdata;
    curl_seek_callback seekfn;
    void *seekdata;
    curl_write_callback writefn;
    void *writedata;
    curl_write_callback headerfn;
    void *headerdata;
    curl_prereq_callback prereqfn;
    void *prereqdata;
    curl_debug_callback debugfn;
    void *debugdata;
    curl_xferinfo_callback xferfn;
    curl_progress_callback progfn;
    void *xferdata; /* XFERINFODATA, alias PROGRESSDATA */
    int progress;   /* NOPROGRESS 0: libcurl calls the progress callback (or shows its meter) */
    /* one transfer */
    int state;
    int multi; /* prepared by curl_multi_add_handle */
    CURLM *m;  /* ... of this multi handle */
    al_exchange *x;
    al_req_verdict v;
    al_buf body; /* request body served from our read callback */
    size_t body_pos;
    int body_more; /* after body, keep reading from the program's callback */
    int swapped_read, swapped_post;
    /* five flags on_write tests on every call, bytes side by side so it
     * reads them as one word (flags) */
    union {
        struct {
            unsigned char began, host_abort;
            unsigned char encoded; /* the reply is content-encoded and reaches us as it came */
            unsigned char chunked; /* raw_te and the reply is chunked: de-framed for the
                                    * exchange, its output framed in chunks of its own (curl
                                    * --raw) */
            unsigned char hheld;   /* the response's header lines are held (hlines) while
                                    * the length of what the scrubbers made of it is not known */
        };
        uint64_t flags; /* (the three bytes after hheld stay 0) */
    };
    int finished;
    int decoded;           /* libcurl decodes the content-encoding: its lengths count the
                            * encoded body */
    al_http1_body dechunk; /* chunked: the body de-framed, */
    al_buf dec, out;       /* (the payload of this callback; the exchange's output) */
    al_buf hlines;         /* the response's header lines, held while it is (hheld) */
    int status;
    char ctype[128];
    al_buf stash;         /* scrubbed bytes the program paused on */
    int sinking;          /* on_write feeds the exchange: sink may hand bytes over */
    int sink_stop;        /* the program paused (1) or refused (-1) bytes sink handed it */
    size_t replay;        /* bytes libcurl will hand us again after a pause */
    long blocked_status;  /* for getinfo after a block; 0 when none */
    int sized;            /* getinfo's sizes are the ones below (blocked, or screened) */
    curl_off_t delivered; /* body bytes the program took from us in this transfer */
    curl_off_t shown_cl;  /* the Content-Length we gave it; -1: the server's line or none */
#ifdef CURLH_HEADER
    struct curl_header shown_h; /* curl_easy_header's answer for that line ... */
    char shown_v[24];           /* ... with this value */
#endif
    int queued;         /* a DONE message taken from libcurl early, kept ... */
    CURLM *qm;          /* ... for this multi's curl_multi_info_read, */
    CURLcode qresult;   /* with this result, */
    unsigned long qseq; /* in this order */
    int watch;          /* a POST not to an LLM API that may be redirected to one (on_redirect) */
    int block_served;   /* on_prereq or on_redirect served the block reply ... */
    int block_paused;   /* ... and the program paused on it: the rest is in stash */
    int end_paused;     /* paused on what finish_response released (the rest in stash);
                         * 2: its DONE message is kept until the program takes the rest */
    CURLcode block_rc;  /* ... with this result, reported in place of its abort */
    /* a slow stream's held text, let out from the progress callback (on_progress) */
    int pgrs;        /* on_progress is installed */
    int fresh;       /* on_write had bytes since the last progress call */
    al_idle idle;    /* (hook.h) */
    int idle_paused; /* the program paused on text let out there: libcurl is paused, the rest
                      * waits in the stash for the program's curl_easy_pause */
    int idle_abort;  /* it refused such text, or the exchange cut the reply off there: the
                      * transfer is aborted (CURLE_WRITE_ERROR, as on_write's refusal) */
} handle;

/* handle.flags when the reply has begun and no other flag is set */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define USUAL_FLAGS 1ull
#else
#define USUAL_FLAGS (1ull << 56)
#endif

#define NBUCKET 256
static handle *table[NBUCKET];
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;
static int synth_count;  /* handles whose getinfo is synthesized (sized) */
static int active_multi; /* LLM transfers running in a multi handle */
static int queued_count; /* handles with a kept DONE message */
static int paused_count; /* multi handles with end_paused set */
static unsigned long queued_seq;

static unsigned bucket(const CURL *h)
{
    uintptr_t v = (uintptr_t)h;
    return (unsigned)((v >> 4) ^ (v >> 12)) % NBUCKET;
}

/* The record for h, created when create is set; NULL otherwise or on OOM. */
static handle *find(CURL *h, int create)
{
    unsigned b = bucket(h);
    pthread_mutex_lock(&table_mu);
    handle *e = table[b];
    while (e && e->h != h) e = e->next;
    if (!e && create && (e = calloc(1, sizeof *e))) {
        e->h = h;
        e->postsize = -1;
        e->infilesize = -1;
        e->next = table[b];
        table[b] = e;
    }
    pthread_mutex_unlock(&table_mu);
    return e;
}

static void end_transfer(handle *e);

static void drop(CURL *h)
{
    unsigned b = bucket(h);
    pthread_mutex_lock(&table_mu);
    handle **pp = &table[b], *e;
    while ((e = *pp) && e->h != h) pp = &e->next;
    if (e) *pp = e->next;
    pthread_mutex_unlock(&table_mu);
    if (!e) return;
    end_transfer(e);
    if (e->queued) __atomic_sub_fetch(&queued_count, 1, __ATOMIC_RELAXED);
    al_buf_free(&e->stash);
    if (e->sized) __atomic_sub_fetch(&synth_count, 1, __ATOMIC_RELAXED);
    free(e->url);
    free(e->copy);
    free(e->custom);
    free(e);
}

static char *dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- recording options ---- */

/* Options whose real value we replace while a transfer is screened: the
 * program's later setopt of them is recorded and applied after the transfer. */
static int swapped_option(const handle *e, CURLoption opt)
{
    if (e->state == ST_IDLE) return 0;
    switch (opt) {
    case CURLOPT_WRITEFUNCTION:
    case CURLOPT_WRITEDATA:
    case CURLOPT_HEADERFUNCTION:
    case CURLOPT_HEADERDATA:
        return 1;
    case CURLOPT_PREREQFUNCTION:
    case CURLOPT_PREREQDATA:
        return e->state == ST_BLOCKED || e->watch;
    case CURLOPT_DEBUGFUNCTION:
    case CURLOPT_DEBUGDATA:
        return e->state == ST_ACTIVE;
    case CURLOPT_XFERINFOFUNCTION:
    case CURLOPT_PROGRESSFUNCTION:
    case CURLOPT_XFERINFODATA:
    case CURLOPT_NOPROGRESS:
        return e->pgrs;
    case CURLOPT_READFUNCTION:
    case CURLOPT_READDATA:
    case CURLOPT_SEEKFUNCTION:
    case CURLOPT_SEEKDATA:
        return e->swapped_read;
    case CURLOPT_POSTFIELDS:
    case CURLOPT_COPYPOSTFIELDS:
    case CURLOPT_POSTFIELDSIZE:
    case CURLOPT_POSTFIELDSIZE_LARGE:
        return e->swapped_post;
    default:
        return 0;
    }
}

static int recorded(CURLoption opt)
{
    switch (opt) {
    case CURLOPT_URL:
    case CURLOPT_POSTFIELDS:
    case CURLOPT_COPYPOSTFIELDS:
    case CURLOPT_POSTFIELDSIZE:
    case CURLOPT_POSTFIELDSIZE_LARGE:
    case CURLOPT_INFILESIZE:
    case CURLOPT_INFILESIZE_LARGE:
    case CURLOPT_POST:
    case CURLOPT_HTTPGET:
    case CURLOPT_UPLOAD:
    case CURLOPT_NOBODY:
    case CURLOPT_CUSTOMREQUEST:
    case CURLOPT_HTTPHEADER:
    case CURLOPT_FAILONERROR:
    case CURLOPT_FOLLOWLOCATION:
    case CURLOPT_ACCEPT_ENCODING:
    case CURLOPT_HTTP_CONTENT_DECODING:
    case CURLOPT_HTTP_TRANSFER_DECODING:
    case CURLOPT_READFUNCTION:
    case CURLOPT_READDATA:
    case CURLOPT_SEEKFUNCTION:
    case CURLOPT_SEEKDATA:
    case CURLOPT_WRITEFUNCTION:
    case CURLOPT_WRITEDATA:
    case CURLOPT_HEADERFUNCTION:
    case CURLOPT_HEADERDATA:
    case CURLOPT_MIMEPOST:
    case CURLOPT_HTTPPOST:
    case CURLOPT_PREREQFUNCTION:
    case CURLOPT_PREREQDATA:
    case CURLOPT_DEBUGFUNCTION:
    case CURLOPT_DEBUGDATA:
    case CURLOPT_XFERINFOFUNCTION:
    case CURLOPT_PROGRESSFUNCTION:
    case CURLOPT_XFERINFODATA:
    case CURLOPT_NOPROGRESS:
        return 1;
    default:
        return 0;
    }
}

static void record(handle *e, CURLoption opt, long l, void *p, curl_off_t o)
{
    switch (opt) {
    case CURLOPT_URL:
        free(e->url);
        e->url = dupstr(p);
        break;
    case CURLOPT_POSTFIELDS:
        free(e->copy);
        e->copy = NULL;
        e->postfields = p;
        e->method = M_POST;
        break;
    case CURLOPT_COPYPOSTFIELDS: {
        free(e->copy);
        e->copy = NULL;
        e->postfields = NULL;
        if (p) {
            size_t n = e->postsize >= 0 ? (size_t)e->postsize : strlen(p);
            if ((e->copy = malloc(n + 1))) {
                memcpy(e->copy, p, n);
                e->copy[n] = '\0';
                e->postfields = e->copy;
                e->postsize = (curl_off_t)n;
            }
        }
        e->method = M_POST;
        break;
    }
    case CURLOPT_POSTFIELDSIZE:
        e->postsize = l;
        break;
    case CURLOPT_POSTFIELDSIZE_LARGE:
        e->postsize = o;
        break;
    case CURLOPT_INFILESIZE:
        e->infilesize = l;
        break;
    case CURLOPT_INFILESIZE_LARGE:
        e->infilesize = o;
        break;
    /* as libcurl's setopt: POST, HTTPGET and UPLOAD set to 1 clear NOBODY, and
     * NOBODY stays set across a later POST 0 (curl -I does that) */
    case CURLOPT_POST:
        e->method = l ? M_POST : M_GET;
        if (l) e->nobody = 0;
        break;
    case CURLOPT_HTTPGET:
        if (l) e->method = M_GET, e->nobody = 0;
        break;
    case CURLOPT_UPLOAD:
        e->method = l ? M_PUT : M_GET;
        if (l) e->nobody = 0;
        break;
    case CURLOPT_NOBODY:
        e->nobody = l != 0;
        break;
    case CURLOPT_MIMEPOST:
    case CURLOPT_HTTPPOST:
        /* multipart forms are not LLM API bodies: leave such transfers alone */
        e->method = p ? M_FORM : M_GET;
        break;
    case CURLOPT_CUSTOMREQUEST:
        free(e->custom);
        e->custom = dupstr(p);
        break;
    case CURLOPT_HTTPHEADER:
        e->headers = p;
        break;
    case CURLOPT_FAILONERROR:
        e->failonerror = l != 0;
        break;
    case CURLOPT_FOLLOWLOCATION:
        e->follow = l != 0;
        break;
    case CURLOPT_ACCEPT_ENCODING:
        e->decodes = p != NULL;
        break;
    case CURLOPT_HTTP_CONTENT_DECODING:
        e->no_decoding = l == 0;
        break;
    case CURLOPT_HTTP_TRANSFER_DECODING:
        e->raw_te = l == 0;
        break;
    case CURLOPT_READFUNCTION:
        e->readfn = (curl_read_callback)p;
        break;
    case CURLOPT_READDATA:
        e->readdata = p;
        break;
    case CURLOPT_SEEKFUNCTION:
        e->seekfn = (curl_seek_callback)p;
        break;
    case CURLOPT_SEEKDATA:
        e->seekdata = p;
        break;
    case CURLOPT_WRITEFUNCTION:
        e->writefn = (curl_write_callback)p;
        break;
    case CURLOPT_WRITEDATA:
        e->writedata = p;
        break;
    case CURLOPT_HEADERFUNCTION:
        e->headerfn = (curl_write_callback)p;
        break;
    case CURLOPT_HEADERDATA:
        e->headerdata = p;
        break;
    case CURLOPT_PREREQFUNCTION:
        e->prereqfn = (curl_prereq_callback)p;
        break;
    case CURLOPT_PREREQDATA:
        e->prereqdata = p;
        break;
    case CURLOPT_DEBUGFUNCTION:
        e->debugfn = (curl_debug_callback)p;
        break;
    case CURLOPT_DEBUGDATA:
        e->debugdata = p;
        break;
    case CURLOPT_XFERINFOFUNCTION:
        e->xferfn = (curl_xferinfo_callback)p;
        break;
    case CURLOPT_PROGRESSFUNCTION:
        e->progfn = (curl_progress_callback)p;
        break;
    case CURLOPT_XFERINFODATA:
        e->xferdata = p;
        break;
    case CURLOPT_NOPROGRESS:
        e->progress = l == 0;
        break;
    default:
        break;
    }
}

HOOK CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
    long l = 0;
    void *p = NULL;
    curl_off_t o = 0;
    va_list ap;
    va_start(ap, opt);
    if (opt < CURLOPTTYPE_OBJECTPOINT)
        l = va_arg(ap, long);
    else if (opt < CURLOPTTYPE_OFF_T)
        p = va_arg(ap, void *); /* object and function pointers alike (SysV ABI) */
    else if (opt < CURLOPTTYPE_BLOB)
        o = va_arg(ap, curl_off_t);
    else
        p = va_arg(ap, void *);
    va_end(ap);

    setopt_fn real = real_curl_easy_setopt();
    if (!real) return CURLE_FAILED_INIT;
    handle *e = NULL;
    if (!al_in_hook && h && recorded(opt)) e = find(h, 1);
    if (e && swapped_option(e, opt)) {
        record(e, opt, l, p, o); /* applied when the transfer ends */
        return CURLE_OK;
    }
    CURLcode rc;
    if (opt < CURLOPTTYPE_OBJECTPOINT)
        rc = real(h, opt, l);
    else if (opt < CURLOPTTYPE_OFF_T)
        rc = real(h, opt, p);
    else if (opt < CURLOPTTYPE_BLOB)
        rc = real(h, opt, o);
    else
        rc = real(h, opt, p);
    if (rc == CURLE_OK && e) record(e, opt, l, p, o);
    return rc;
}

/* ---- delivering bytes to the program ---- */

static size_t host_write(handle *e, const char *p, size_t n)
{
    /* a program that traces what it receives (curl --trace) is shown what
     * it gets, as libcurl would show the server's bytes (on_debug) */
    if (e->debugfn && e->state == ST_ACTIVE)
        e->debugfn(e->h, CURLINFO_DATA_IN, (char *)p, n, e->debugdata);
    size_t r = e->writefn ? e->writefn((char *)p, 1, n, e->writedata)
                          : fwrite(p, 1, n, e->writedata ? (FILE *)e->writedata : stdout);
    if (r <= n) e->delivered += (curl_off_t)r; /* not CURL_WRITEFUNC_PAUSE */
    return r;
}

/* Header bytes go where libcurl would have sent them. */
static size_t host_header(handle *e, const char *p, size_t n)
{
    if (e->headerfn) return e->headerfn((char *)p, 1, n, e->headerdata);
    if (!e->headerdata) return n;
    if (e->writefn) return e->writefn((char *)p, 1, n, e->headerdata);
    return fwrite(p, 1, n, (FILE *)e->headerdata);
}

/* Hands e->stash to the program in pieces libcurl itself would use.
 * Returns 0 when all was taken, 1 when the program paused (the rest stays in
 * the stash), -1 when it refused bytes (abort). */
static int deliver_stash(handle *e)
{
    if (!e->stash.len) return 0;
    size_t off = 0;
    int rc = 0;
    while (off < e->stash.len) {
        size_t n = e->stash.len - off;
        if (n > CURL_MAX_WRITE_SIZE) n = CURL_MAX_WRITE_SIZE;
        size_t r = host_write(e, e->stash.data + off, n);
        if (r == CURL_WRITEFUNC_PAUSE) {
            rc = 1;
            break;
        }
        if (r != n) {
            e->host_abort = 1;
            rc = -1;
            break;
        }
        off += n;
    }
    if (rc < 0)
        al_buf_reset(&e->stash);
    else
        al_buf_consume(&e->stash, off);
    return rc;
}

/* The exchange's sink (al_exchange_set_sink): a stream's released events
 * go to the program straight from the exchange's buffer while on_write
 * feeds it, in pieces libcurl itself would use; once the program paused,
 * the rest waits in the stash (write_done then pauses the transfer, as
 * deliver_stash would), once it refused bytes the rest is dropped
 * (write_done aborts).  Outside on_write, bytes go to the stash. */
static al_code sink(void *ud, const char *p, size_t n)
{
    handle *e = ud;
    if (e->sink_stop < 0) return AL_OK;
    if (!e->sinking || e->sink_stop || e->stash.len || e->hheld)
        return al_buf_append(&e->stash, p, n);
    size_t off = 0;
    al_in_hook--; /* the program's callback runs as if called from libcurl */
    while (off < n) {
        size_t k = n - off;
        if (k > CURL_MAX_WRITE_SIZE) k = CURL_MAX_WRITE_SIZE;
        size_t r = host_write(e, p + off, k);
        if (r == CURL_WRITEFUNC_PAUSE) {
            e->sink_stop = 1;
            break;
        }
        if (r != k) {
            e->sink_stop = -1;
            break;
        }
        off += k;
    }
    al_in_hook++;
    return e->sink_stop > 0 ? al_buf_append(&e->stash, p + off, n - off) : AL_OK;
}

static const char *reason(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

/* From now until the handle's next transfer, getinfo reports the sizes of
 * what the program was given: the bytes its write callback took, and cl as
 * the length of the body (-1: what libcurl reports). */
static void set_sized(handle *e, curl_off_t cl)
{
    if (!e->sized) __atomic_add_fetch(&synth_count, 1, __ATOMIC_RELAXED);
    e->sized = 1;
    e->shown_cl = cl;
}

/* Serves the blocked request's synthesized reply through the program's
 * header and write callbacks, as if a server had sent it. */
static CURLcode serve_block(handle *e)
{
    int status = e->v.status ? e->v.status : 400;
    set_sized(e, (curl_off_t)e->v.body.len);
    e->blocked_status = status;
    if (e->failonerror && status >= 400) return CURLE_HTTP_RETURNED_ERROR;
    char line[256];
    const char *ct = e->v.content_type ? e->v.content_type : "application/json";
    const char *lines[3];
    char l0[64], l1[160], l2[64];
    snprintf(l0, sizeof l0, "HTTP/1.1 %d %s\r\n", status, reason(status));
    snprintf(l1, sizeof l1, "Content-Type: %s\r\n", ct);
    snprintf(l2, sizeof l2, "Content-Length: %zu\r\n", e->v.body.len);
    lines[0] = l0, lines[1] = l1, lines[2] = l2;
    for (int i = 0; i < 3; i++)
        if (host_header(e, lines[i], strlen(lines[i])) != strlen(lines[i]))
            return CURLE_WRITE_ERROR;
    /* more lines (Retry-After), one callback each, as libcurl hands them */
    for (const char *h = e->v.headers, *nl; *h && (nl = strstr(h, "\r\n")); h = nl + 2)
        if (host_header(e, h, (size_t)(nl + 2 - h)) != (size_t)(nl + 2 - h))
            return CURLE_WRITE_ERROR;
    snprintf(line, sizeof line, "\r\n");
    if (host_header(e, line, 2) != 2) return CURLE_WRITE_ERROR;
    al_buf_reset(&e->stash);
    if (e->v.body.len && al_buf_append(&e->stash, e->v.body.data, e->v.body.len) != AL_OK)
        return CURLE_OUT_OF_MEMORY;
    int d = deliver_stash(e);
    if (d > 0 && e->multi) {
        /* paused: the rest goes out when the program unpauses (curl_easy_pause) */
        e->block_paused = 1;
        return CURLE_OK;
    }
    return d == 0 ? CURLE_OK : CURLE_WRITE_ERROR;
}

/* ---- our callbacks, installed while an LLM transfer runs ---- */

/* Tells the exchange a response begins (each final one of a transfer) */
static void start_response(handle *e)
{
    e->began = 1;
    al_in_hook++;
    al_exchange_response_begin(e->x, e->status, e->ctype[0] ? e->ctype : NULL);
    al_in_hook--;
}

static void begin_response(handle *e)
{
    if (!e->began) start_response(e);
}

/* Hands the held header lines to the program, one callback each as libcurl
 * would, a Content-Length line saying cl bytes (cl < 0: as they came).
 * Returns 0, or -1 when the program refused one (the transfer is aborted). */
static int release_headers(handle *e, long long cl)
{
    const char *p = e->hlines.data, *end = p + e->hlines.len;
    int rc = 0;
    e->hheld = 0;
    while (p && p < end && !rc) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl + 1 - p) : (size_t)(end - p);
        char line[64];
        if (cl >= 0 && n > 15 && strncasecmp(p, "content-length:", 15) == 0) {
            int k = snprintf(line, sizeof line, "%.14s: %lld\r\n", p, cl);
            if (host_header(e, line, (size_t)k) != (size_t)k) rc = -1;
            e->shown_cl = (curl_off_t)cl;
        } else if (host_header(e, p, n) != n) {
            rc = -1;
        }
        p += n;
    }
    al_buf_reset(&e->hlines);
    if (rc) e->host_abort = 1;
    return rc;
}

/* The end of a response's header block: a reply the exchange holds whole
 * keeps its header lines until the end of the body (finish_response), so
 * its Content-Length can count the scrubbed body; any other goes out now. */
static size_t header_block_end(handle *e, const char *p, size_t n)
{
    start_response(e);
    if (al_buf_append(&e->hlines, p, n) != AL_OK) return 0;
    if (al_exchange_response_mode(e->x) == AL_RESP_WHOLE && !e->encoded) {
        e->hheld = 1;
        return n;
    }
    return release_headers(e, -1) == 0 ? n : 0;
}

static size_t on_header(char *p, size_t size, size_t nitems, void *ud)
{
    handle *e = ud;
    size_t n = size * nitems;
    if (e->hheld) {
        if (n < 5 || memcmp(p, "HTTP/", 5) != 0) { /* trailers: after its header lines */
            al_buf_append(&e->hlines, p, n);
            return n;
        }
        /* a new response (libcurl follows a redirect, retries an auth):
         * the held one had no body for the program */
        if (release_headers(e, -1) != 0) return 0;
    }
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* every response (100-continue, redirects, proxy) starts afresh */
        const char *sp = memchr(p, ' ', n);
        e->status = sp ? atoi(sp + 1) : 0;
        e->ctype[0] = '\0';
        e->encoded = e->decoded = 0;
        e->chunked = 0;
    } else if (e->raw_te && n > 18 && strncasecmp(p, "transfer-encoding:", 18) == 0) {
        /* curl --raw: libcurl hands us the chunks as they came */
        size_t i = 18, j = n;
        while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' ')) j--;
        if (al_http1_has_token(p + i, j - i, "chunked")) {
            e->chunked = 1;
            al_http1_body_init(&e->dechunk, AL_BODY_CHUNKED, 0, 0);
        }
    } else if (n > 17 && strncasecmp(p, "content-encoding:", 17) == 0) {
        /* a body libcurl does not decode is not the JSON or events the
         * exchange reads: it cannot be screened (as in conn.c) */
        size_t i = 17, j = n;
        while (i < j && (p[i] == ' ' || p[i] == '\t')) i++;
        while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' ')) j--;
        if (j > i && !(j - i == 8 && strncasecmp(p + i, "identity", 8) == 0)) {
            if (!e->decodes || e->no_decoding)
                e->encoded = 1;
            else
                e->decoded = 1;
        }
    } else if (n > 13 && strncasecmp(p, "content-type:", 13) == 0) {
        size_t i = 13, j = n;
        while (i < j && (p[i] == ' ' || p[i] == '\t')) i++;
        while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' ')) j--;
        if (j - i >= sizeof e->ctype) j = i + sizeof e->ctype - 1;
        memcpy(e->ctype, p + i, j - i);
        e->ctype[j - i] = '\0';
    }
    if (e->status < 200) return host_header(e, p, n); /* an interim reply goes as it came */
    if ((n == 2 && p[0] == '\r' && p[1] == '\n') || (n == 1 && p[0] == '\n'))
        return header_block_end(e, p, n);
    return al_buf_append(&e->hlines, p, n) == AL_OK ? n : 0;
}

/* A content-encoded reply the exchange would screen: recorded, then cut off
 * (fail closed: the program's write fails) or passed as it came (open,
 * monitor).  Returns 1 when it is such a reply, 0 when the exchange passes it
 * anyway (an error page). */
static int encoded_reply(handle *e)
{
    if (e->encoded == 2) return 1;
    if (al_exchange_response_mode(e->x) == AL_RESP_PASS) {
        e->encoded = 0;
        return 0;
    }
    e->encoded = 2;
    const al_ctx *ctx = al_hook_ctx();
    al_in_hook++;
    al_exchange_note_fail(e->x, "reply is content-encoded");
    al_in_hook--;
    if (ctx->fail == AL_FAIL_CLOSED && ctx->mode != AL_MODE_MONITOR) {
        al_hook_debug("curl: reply is compressed and cannot be screened: cut off");
        e->host_abort = 1;
    }
    return 1;
}

/* Appends n bytes at p to the stash as one chunk (none when n is 0). */
static al_code add_chunk(handle *e, const char *p, size_t n)
{
    if (!n) return AL_OK;
    al_code r = al_buf_printf(&e->stash, "%zx\r\n", n);
    if (r == AL_OK) r = al_buf_append(&e->stash, p, n);
    if (r == AL_OK) r = al_buf_append(&e->stash, "\r\n", 2);
    return r;
}

/* The reply's bytes for the exchange; a chunked reply that reaches us
 * framed (curl --raw) is de-framed first and what the exchange gives back
 * goes to the program in chunks of its own, so the chunks it reads still
 * frame the body and the events inside them are whole. */
static al_code reply_body(handle *e, const char *p, size_t n)
{
    if (!e->chunked) return al_exchange_response_body(e->x, p, n, &e->stash);
    al_buf_reset(&e->dec);
    al_buf_reset(&e->out);
    if (al_http1_body_feed(&e->dechunk, p, n, &e->dec) < 0)
        return e->dechunk.err_code ? e->dechunk.err_code : AL_EPARSE;
    al_code r =
        e->dec.len ? al_exchange_response_body(e->x, e->dec.data, e->dec.len, &e->out) : AL_OK;
    if (r == AL_OK) r = add_chunk(e, e->out.data, e->out.len);
    return r;
}

/* What the exchange still holds at the end of the reply (cut: a stream the
 * network ended early, whose body stays unterminated), for the stash. */
static al_code reply_end(handle *e, int cut)
{
    al_buf *to = e->chunked ? &e->out : &e->stash;
    if (e->chunked) al_buf_reset(&e->out);
    al_code r = cut ? al_exchange_response_cut(e->x, to) : al_exchange_response_end(e->x, to);
    if (r == AL_OK && e->chunked) {
        r = add_chunk(e, e->out.data, e->out.len);
        if (r == AL_OK && !cut) r = al_buf_append(&e->stash, "0\r\n\r\n", 5);
    }
    return r;
}

/* The end of on_write once the exchange had the bytes (rc: what it said;
 * n: the bytes libcurl handed over): a failure ends the transfer, else
 * what the exchange released goes to the program. */
static size_t write_done(handle *e, al_code rc, size_t n)
{
    int stop = e->sink_stop;
    e->sink_stop = 0;
    if (stop < 0) { /* the program refused what sink handed it */
        e->host_abort = 1;
        al_buf_reset(&e->stash);
        return 0;
    }
    if (rc != AL_OK) {
        /* the exchange cut the reply off (fail closed): end the transfer */
        al_hook_debug("curl: reply cut off: %s", al_strerror(rc));
        if (e->hheld) release_headers(e, -1); /* as they came: no body follows */
        e->host_abort = 1;
        al_buf_reset(&e->stash);
        return 0;
    }
    /* the exchange let a held reply go as it came (AIRLOCK_FAIL=open, over
     * AIRLOCK_MAX_BODY): its header lines first, as they came */
    if (e->hheld && e->stash.len && release_headers(e, -1) != 0) return 0;
    int d = stop ? 1 : deliver_stash(e); /* (paused in sink: the rest is stashed) */
    if (d < 0) return 0;
    if (d > 0) {
        /* libcurl keeps this chunk and hands it to us again on unpause; it has
         * already been fed to the exchange, so skip it then */
        e->replay += n;
        return CURL_WRITEFUNC_PAUSE;
    }
    return n;
}

/* on_write for any call but the usual one. */
static __attribute__((noinline)) size_t write_any(handle *e, char *p, size_t n)
{
    if (e->host_abort) return 0;
    if (!e->began) begin_response(e); /* once: the test without the call */
    if (e->encoded && encoded_reply(e)) {
        if (e->hheld && !e->host_abort && release_headers(e, -1) != 0) return 0;
        return e->host_abort ? 0 : host_write(e, p, n);
    }
    size_t skip = e->replay < n ? e->replay : n;
    e->replay -= skip;
    al_code rc = AL_OK;
    if (n > skip) {
        al_in_hook++;
        e->sinking = 1;
        rc = reply_body(e, p + skip, n - skip);
        e->sinking = 0;
        al_in_hook--;
        e->fresh = 1;
    }
    return write_done(e, rc, n);
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    handle *e = ud;
    size_t n = size * nmemb;
    /* the usual call (a stream's event, most often): the reply has begun, is
     * neither content-encoded nor framed, nothing to replay, no header lines
     * held, some bytes (write_any feeds none for none) */
    if (e->flags != USUAL_FLAGS || e->replay || !n) return write_any(e, p, n);
    al_in_hook++;
    e->sinking = 1;
    al_code rc = al_exchange_response_body(e->x, p, n, &e->stash);
    e->sinking = 0;
    al_in_hook--;
    e->fresh = 1;
    if (rc == AL_OK && !(e->stash.len | (size_t)e->sink_stop)) return n;
    return write_done(e, rc, n);
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    handle *e = ud;
    size_t want = size * nitems;
    if (e->body_pos < e->body.len) {
        size_t n = e->body.len - e->body_pos;
        if (n > want) n = want;
        memcpy(buf, e->body.data + e->body_pos, n);
        e->body_pos += n;
        return n;
    }
    if (!e->body_more) return 0;
    if (e->readfn) return e->readfn(buf, size, nitems, e->readdata);
    return fread(buf, size, nitems, e->readdata ? (FILE *)e->readdata : stdin);
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    handle *e = ud;
    if (origin != SEEK_SET || off < 0 || (size_t)off > e->body.len || e->body_more)
        return CURL_SEEKFUNC_CANTSEEK;
    e->body_pos = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

static int on_prereq(void *ud, char *ip, char *lip, int rport, int lport)
{
    handle *e = ud;
    if (e->v.status >= 0) {
        e->block_rc = serve_block(e);
        e->block_served = 1;
    }
    return CURL_PREREQFUNC_ABORT;
}

/* ---- preparing and ending a transfer ---- */

/* Splits the URL into host and path(+query); returns 0 when it is not HTTP(S). */
static int split_url(const char *url, char *host, size_t hostcap, const char **path)
{
    const char *p = strstr(url, "://");
    if (p) {
        size_t sl = (size_t)(p - url);
        if (!((sl == 4 && strncasecmp(url, "http", 4) == 0) ||
              (sl == 5 && strncasecmp(url, "https", 5) == 0)))
            return 0;
        p += 3;
    } else {
        p = url;
    }
    const char *end = p + strcspn(p, "/?#");
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at) p = at + 1;
    const char *hend = p;
    if (*hend == '[') {
        const char *rb = memchr(hend, ']', (size_t)(end - hend));
        hend = rb ? rb + 1 : end;
    } else {
        while (hend < end && *hend != ':') hend++;
    }
    size_t hl = (size_t)(hend - p);
    if (hl >= hostcap) hl = hostcap - 1;
    memcpy(host, p, hl);
    host[hl] = '\0';
    *path = *end ? end : "/";
    return 1;
}

static const char *find_ctype(const struct curl_slist *l)
{
    const char *ct = NULL;
    for (; l; l = l->next) {
        if (l->data && strncasecmp(l->data, "content-type:", 13) == 0) {
            ct = l->data + 13;
            while (*ct == ' ' || *ct == '\t') ct++;
        }
    }
    return ct;
}

/* Reads the program's upload through its read callback into e->body, up to
 * the body cap.  Returns 0 when all was read, 1 when the cap was reached
 * (e->body_more: the rest still comes from the program), -1 on abort/pause. */
static int drain_upload(handle *e, size_t cap)
{
    char buf[16384];
    for (;;) {
        size_t r = e->readfn ? e->readfn(buf, 1, sizeof buf, e->readdata)
                             : fread(buf, 1, sizeof buf, e->readdata ? e->readdata : stdin);
        if (r == 0) return 0;
        if (r == CURL_READFUNC_ABORT || r == CURL_READFUNC_PAUSE || r > sizeof buf) return -1;
        if (al_buf_append(&e->body, buf, r) != AL_OK) return -1;
        if (e->body.len >= cap) {
            e->body_more = 1;
            return 1;
        }
    }
}

static void set_real(CURL *h, CURLoption opt, void *p)
{
    real_curl_easy_setopt()(h, opt, p);
}

static void set_real_off(CURL *h, CURLoption opt, curl_off_t o)
{
    real_curl_easy_setopt()(h, opt, o);
}

/* The program's debug callback while an LLM transfer runs: everything but
 * the reply's data, which it is given as scrubbed when the program gets it
 * (host_write): the server's own bytes hold what the scrubbers replace. */
static int on_debug(CURL *h, curl_infotype type, char *p, size_t n, void *ud)
{
    handle *e = ud;
    if (type == CURLINFO_DATA_IN || !e->debugfn) return 0;
    return e->debugfn(h, type, p, n, e->debugdata);
}

/* Lets out what the exchange holds for a paused stream (al_exchange_stream_idle)
 * to the program's write callback, as on_write hands over what a write
 * releases.  A program that pauses on it has libcurl paused
 * (curl_easy_pause from inside the progress callback) and gets the rest
 * when it unpauses; one that refuses it, or a reply the exchange cuts off
 * here, aborts the transfer.  Returns 0, or -1 to abort. */
static int idle_release(handle *e)
{
    e->idle.hold_at = 0;
    /* nothing while the program is paused on earlier bytes (libcurl hands
     * them again: replay), or while bytes wait for it */
    if (e->host_abort || e->encoded || e->hheld || e->replay || e->stash.len || !e->x) return 0;
    al_in_hook++;
    e->sinking = 1;
    al_code rc;
    if (e->chunked) { /* curl --raw: in a chunk of its own (reply_body) */
        al_buf_reset(&e->out);
        rc = al_exchange_stream_idle(e->x, &e->out);
        if (rc == AL_OK) rc = add_chunk(e, e->out.data, e->out.len);
    } else {
        rc = al_exchange_stream_idle(e->x, &e->stash);
    }
    e->sinking = 0;
    al_in_hook--;
    int stop = e->sink_stop;
    e->sink_stop = 0;
    if (rc != AL_OK) al_hook_debug("curl: reply cut off: %s", al_strerror(rc));
    int d = stop < 0 || rc != AL_OK ? -1 : stop ? 1 : deliver_stash(e);
    if (d < 0) {
        e->host_abort = 1;
        e->idle_abort = 1;
        al_buf_reset(&e->stash);
        return -1;
    }
    if (d > 0) {
        e->idle_paused = 1;
        real_curl_easy_pause()(e->h, CURLPAUSE_RECV);
    }
    return 0;
}

/* The progress callback while an LLM transfer runs: libcurl calls it on
 * every pass over the transfer, after the writes of each read (their bytes
 * are noted here, al_idle_arrived: one clock read a read, not one an event)
 * and while it waits for more (once a second, sooner when curl_multi_poll is cut short:
 * idle_wait_ms), so a slow stream's held text goes out from here once due
 * (al_idle_due).  Then the program's own callback, when it asked for
 * progress calls (NOPROGRESS 0), with its data and its answer. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    handle *e = ud;
    if (e->idle_abort) return 1;
    if (e->fresh) { /* (libcurl calls it right after the writes of each read) */
        e->fresh = 0;
        al_idle_arrived(&e->idle, al_exchange_stream_holding(e->x));
    }
    if (e->idle.hold_at && !e->idle_paused && al_idle_due(&e->idle) && idle_release(e) < 0)
        return 1;
    if (!e->progress) return 0;
    if (e->xferfn) return e->xferfn(e->xferdata, dltotal, dlnow, ultotal, ulnow);
    if (e->progfn)
        return e->progfn(e->xferdata, (double)dltotal, (double)dlnow, (double)ultotal,
                         (double)ulnow);
    return 0;
}

static void install_callbacks(handle *e)
{
    set_real(e->h, CURLOPT_WRITEFUNCTION, (void *)on_write);
    set_real(e->h, CURLOPT_WRITEDATA, e);
    set_real(e->h, CURLOPT_HEADERFUNCTION, (void *)on_header);
    set_real(e->h, CURLOPT_HEADERDATA, e);
    if (e->debugfn) {
        set_real(e->h, CURLOPT_DEBUGFUNCTION, (void *)on_debug);
        set_real(e->h, CURLOPT_DEBUGDATA, e);
    }
    /* a program that shows libcurl's own progress meter (NOPROGRESS 0, no
     * callback) keeps it, and its slow streams keep their held text */
    if (!e->pgrs && !(e->progress && !e->xferfn && !e->progfn) &&
        real_curl_easy_setopt()(e->h, CURLOPT_XFERINFOFUNCTION, on_progress) == CURLE_OK) {
        set_real(e->h, CURLOPT_XFERINFODATA, e);
        real_curl_easy_setopt()(e->h, CURLOPT_NOPROGRESS, 0L);
        e->pgrs = 1;
    }
}

static void install_read(handle *e)
{
    e->swapped_read = 1;
    set_real(e->h, CURLOPT_READFUNCTION, (void *)on_read);
    set_real(e->h, CURLOPT_READDATA, e);
    set_real(e->h, CURLOPT_SEEKFUNCTION, (void *)on_seek);
    set_real(e->h, CURLOPT_SEEKDATA, e);
}

/* Puts back every option we replaced, with the program's latest values. */
static void restore_options(handle *e)
{
    if (e->state == ST_IDLE) return;
    set_real(e->h, CURLOPT_WRITEFUNCTION, (void *)e->writefn);
    set_real(e->h, CURLOPT_WRITEDATA, e->writedata ? e->writedata : (void *)stdout);
    set_real(e->h, CURLOPT_HEADERFUNCTION, (void *)e->headerfn);
    set_real(e->h, CURLOPT_HEADERDATA, e->headerdata);
    if (e->debugfn && e->state == ST_ACTIVE) {
        set_real(e->h, CURLOPT_DEBUGFUNCTION, (void *)e->debugfn);
        set_real(e->h, CURLOPT_DEBUGDATA, e->debugdata);
    }
    if (e->swapped_read) {
        set_real(e->h, CURLOPT_READFUNCTION, (void *)e->readfn);
        set_real(e->h, CURLOPT_READDATA, e->readdata ? e->readdata : (void *)stdin);
        set_real(e->h, CURLOPT_SEEKFUNCTION, (void *)e->seekfn);
        set_real(e->h, CURLOPT_SEEKDATA, e->seekdata);
        if (e->infilesize >= 0) set_real_off(e->h, CURLOPT_INFILESIZE_LARGE, e->infilesize);
        if (e->method == M_POST && !e->postfields && e->postsize >= 0)
            set_real_off(e->h, CURLOPT_POSTFIELDSIZE_LARGE, e->postsize);
    }
    if (e->swapped_post) {
        set_real_off(e->h, CURLOPT_POSTFIELDSIZE_LARGE, e->postsize);
        set_real(e->h, CURLOPT_POSTFIELDS, (void *)e->postfields);
    }
    if (e->watch) {
        set_real(e->h, CURLOPT_PREREQFUNCTION, (void *)e->prereqfn);
        set_real(e->h, CURLOPT_PREREQDATA, e->prereqdata);
    }
    if (e->pgrs) {
        set_real(e->h, CURLOPT_XFERINFOFUNCTION, (void *)e->xferfn);
        /* (a NULL XFERINFOFUNCTION made libcurl forget PROGRESSFUNCTION's) */
        if (!e->xferfn && e->progfn) set_real(e->h, CURLOPT_PROGRESSFUNCTION, (void *)e->progfn);
        set_real(e->h, CURLOPT_XFERINFODATA, e->xferdata);
        real_curl_easy_setopt()(e->h, CURLOPT_NOPROGRESS, e->progress ? 0L : 1L);
    }
    e->swapped_read = e->swapped_post = e->watch = e->pgrs = 0;
}

/* Forget the handle's exchange and request verdict (the transfer passes unwatched or ended). */
static void drop_exchange(handle *e)
{
    if (e->x) {
        al_in_hook++;
        al_exchange_free(e->x);
        al_in_hook--;
        e->x = NULL;
    }
    al_req_verdict_free(&e->v);
    memset(&e->v, 0, sizeof e->v);
}

/* Before each request of a watched transfer (a POST that was not to an LLM
 * API, with FOLLOWLOCATION): one that libcurl makes after following a
 * redirect to an LLM API is screened as if the program had asked for it,
 * with the body libcurl will send (POSTFIELDS; a 307/308 keeps it): blocked
 * (the block reply, and the request aborted before it is sent), or its
 * reply scrubbed (our callbacks from here on; the redirect's own reply had
 * no body for the program).  A prompt that would be rewritten cannot be
 * changed any more: refused under AIRLOCK_FAIL=closed. */
static int on_redirect(void *ud, char *ip, char *lip, int rport, int lport)
{
    handle *e = ud;
    if (e->prereqfn) {
        int r = e->prereqfn(e->prereqdata, ip, lip, rport, lport);
        if (r != CURL_PREREQFUNC_OK) return r;
    }
    long redirects = 0;
    char *url = NULL;
    getinfo_fn gi = real_curl_easy_getinfo();
    if (!e->watch || e->x || !gi || gi(e->h, CURLINFO_REDIRECT_COUNT, &redirects) != CURLE_OK ||
        redirects < 1 || gi(e->h, CURLINFO_EFFECTIVE_URL, &url) != CURLE_OK || !url)
        return CURL_PREREQFUNC_OK;
    char host[256];
    const char *path;
    char *method = NULL;
    /* a 301-303 turns the POST into a GET, which has no prompt */
    if (!split_url(url, host, sizeof host, &path) ||
        (gi(e->h, CURLINFO_EFFECTIVE_METHOD, &method) == CURLE_OK && method &&
         strcasecmp(method, "POST") != 0))
        return CURL_PREREQFUNC_OK;
    const al_ctx *ctx = al_hook_ctx();
    const char *body = e->postfields ? e->postfields : "";
    size_t len = e->postsize >= 0 ? (size_t)e->postsize : strlen(body);
    al_in_hook++;
    e->x = al_exchange_new(ctx, "curl");
    al_exchange_set_sink(e->x, &e->stash, sink, e);
    memset(&e->v, 0, sizeof e->v);
    al_code ac = e->x ? al_exchange_request(e->x, "POST", host, path, find_ctype(e->headers), body,
                                            len, &e->v)
                      : AL_ENOMEM;
    al_in_hook--;
    int refuse = 0;
    if (ac != AL_OK || e->v.kind == AL_REQ_REWRITE) {
        refuse = ctx->fail == AL_FAIL_CLOSED && ctx->mode != AL_MODE_MONITOR;
        al_hook_warn("curl: redirected request to %s%.*s cannot be %s; %s", host,
                     (int)strcspn(path, "?#"), path, ac != AL_OK ? "screened" : "rewritten",
                     refuse ? "refused" : "sent as it is");
    }
    if (ac == AL_OK && e->v.kind == AL_REQ_BLOCK) {
        if (e->multi) __atomic_sub_fetch(&active_multi, 1, __ATOMIC_RELAXED);
        e->state = ST_BLOCKED;
        e->block_rc = serve_block(e);
        e->block_served = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    if (refuse) return CURL_PREREQFUNC_ABORT;
    if (ac != AL_OK || e->v.kind == AL_REQ_PASS) {
        drop_exchange(e);
        return CURL_PREREQFUNC_OK;
    }
    e->finished = 0;
    install_callbacks(e);
    return CURL_PREREQFUNC_OK;
}

static void watch_redirects(handle *e)
{
    if (real_curl_easy_setopt()(e->h, CURLOPT_PREREQFUNCTION, on_redirect) != CURLE_OK) return;
    set_real(e->h, CURLOPT_PREREQDATA, e);
    e->watch = 1;
}

static void end_transfer(handle *e)
{
    if (e->state == ST_IDLE) return;
    if (e->state == ST_ACTIVE && e->multi) __atomic_sub_fetch(&active_multi, 1, __ATOMIC_RELAXED);
    if (e->end_paused) __atomic_sub_fetch(&paused_count, 1, __ATOMIC_RELAXED);
    e->end_paused = 0;
    restore_options(e);
    e->state = ST_IDLE;
    if (e->x && e->host_abort && e->began && !al_exchange_stream_ended(e->x)) {
        /* the program refused the reply's bytes or removed the transfer
         * before its end (a reason the exchange gave first is kept) */
        al_in_hook++;
        al_exchange_note_fail(e->x, "closed by the program before the end of the reply");
        al_in_hook--;
    }
    drop_exchange(e);
    al_buf_free(&e->body);
    al_buf_free(&e->dec);
    al_buf_free(&e->out);
    al_buf_free(&e->hlines);
    e->hheld = 0;
    e->chunked = 0;
    memset(&e->idle, 0, sizeof e->idle);
    e->idle_paused = e->idle_abort = e->fresh = 0;
    /* the stash keeps its memory for the handle's next transfer (a stream's
     * first releases grew it, copying, every time), unless it is large */
    if (e->stash.cap > 65536)
        al_buf_free(&e->stash);
    else
        al_buf_reset(&e->stash);
    e->body_pos = 0;
    e->body_more = 0;
}

/* The reply is complete: release what the exchange still holds.  A stream
 * cut short (rc an error: the network, --max-time) still gets the scrubbed
 * text the scrubbers held, as the socket and TLS layers give it, and then
 * rc; under AIRLOCK_FAIL=closed minus a tail that could be the start of a
 * value they would have replaced (al_exchange_response_cut).  A held whole
 * reply that ended early is never released (it was not screened). */
static CURLcode finish_response(handle *e, CURLcode rc)
{
    if (e->state != ST_ACTIVE || e->finished) return rc;
    e->finished = 1;
    if (e->host_abort || e->encoded == 2) return rc;
    /* a held reply that ends in an error: its header lines as they came */
    if (e->hheld && rc != CURLE_OK && release_headers(e, -1) != 0) return rc;
    if (rc != CURLE_OK) {
        if (!e->began || al_exchange_response_mode(e->x) != AL_RESP_STREAM) return rc;
        al_in_hook++;
        al_exchange_note_fail(e->x, "connection closed before the end of the reply");
        al_code ac = reply_end(e, al_hook_ctx()->fail == AL_FAIL_CLOSED);
        al_in_hook--;
        if (ac == AL_OK) deliver_stash(e);
        al_buf_reset(&e->stash);
        return rc;
    }
    begin_response(e);
    curl_off_t got = -1;
    if (real_curl_easy_getinfo()(e->h, CURLINFO_SIZE_DOWNLOAD_T, &got) == CURLE_OK && got == 0 &&
        !e->stash.len) {
        /* no body at all (204, Content-Length: 0): nothing to screen, and
         * nothing for the program but the header lines, as they came (the
         * socket layer passes such a reply too) */
        if (e->hheld && release_headers(e, -1) != 0) return CURLE_WRITE_ERROR;
        return rc;
    }
    al_in_hook++;
    al_code ac = reply_end(e, 0);
    al_in_hook--;
    if (ac != AL_OK) {
        al_hook_debug("curl: reply cut off at end: %s", al_strerror(ac));
        al_buf_reset(&e->stash);
        if (e->hheld) release_headers(e, -1);
        return CURLE_WRITE_ERROR;
    }
    /* a Content-Length that counted the body now counts the scrubbed body;
     * one that counted a compressed body libcurl decoded stays as it came,
     * and so do the sizes libcurl reports for it */
    if (e->hheld && release_headers(e, e->decoded ? -1 : (long long)e->stash.len) != 0)
        return CURLE_WRITE_ERROR;
    int d = deliver_stash(e);
    /* a multi program that pauses here (CURL_WRITEFUNC_PAUSE) gets the rest
     * when it unpauses (curl_easy_pause), and the transfer counts as running
     * until then, as libcurl would have it; curl_easy_perform has no later
     * call to hand it over in */
    if (d < 0 || (d > 0 && !e->multi)) return CURLE_WRITE_ERROR;
    if (d > 0) {
        e->end_paused = 1;
        __atomic_add_fetch(&paused_count, 1, __ATOMIC_RELAXED);
    }
    /* the sizes libcurl counted are the server's; the program got these */
    if (!e->encoded && !e->decoded) set_sized(e, e->shown_cl);
    return rc;
}

static const char *method_name(const handle *e)
{
    if (e->custom) return e->custom;
    if (e->nobody) return "HEAD";
    switch (e->method) {
    case M_POST:
        return "POST";
    case M_PUT:
        return "PUT";
    default:
        return "GET";
    }
}

/* Screens the request about to be performed.  Returns CURLE_OK with e->state
 * set (IDLE: not an LLM call, nothing installed; ACTIVE: callbacks installed;
 * BLOCKED: the reply is to be synthesized), or an error for the program. */
static CURLcode prepare(handle *e, int multi)
{
    end_transfer(e); /* a transfer the program never finished (re-added handle) */
    e->state = ST_IDLE;
    e->multi = multi;
    e->began = e->host_abort = e->finished = e->encoded = e->decoded = e->chunked = e->hheld = 0;
    al_buf_reset(&e->hlines);
    e->status = 0;
    e->ctype[0] = '\0';
    e->replay = 0;
    e->block_served = 0;
    e->block_paused = 0;
    if (e->sized) __atomic_sub_fetch(&synth_count, 1, __ATOMIC_RELAXED);
    e->blocked_status = 0;
    e->sized = 0;
    e->delivered = 0;
    e->shown_cl = -1;
    /* LLM API calls are POSTs with a body (from POSTFIELDS, or from the read
     * callback, also as an upload with CUSTOMREQUEST "POST"), and GETs that
     * read a stored reply back (the exchange knows which paths); other GETs,
     * HEAD, PUT and multipart forms are left alone. */
    int get = e->method == M_GET && !strcmp(method_name(e), "GET");
    if (e->nobody && !e->custom) return CURLE_OK; /* HEAD */
    if ((!get && ((e->method != M_POST && e->method != M_PUT) ||
                  strcasecmp(method_name(e), "POST") != 0)) ||
        !e->url)
        return CURLE_OK;
    char host[256];
    const char *path;
    if (!split_url(e->url, host, sizeof host, &path)) return CURLE_OK;
    al_api api; /* most GETs: decided here, without an exchange */
    if (get && !al_provider_match("GET", 3, path, strlen(path), &api)) return CURLE_OK;
    const char *ct = find_ctype(e->headers);
    const al_ctx *ctx = al_hook_ctx();

    const char *body;
    size_t len;
    int drained = 0;
    if (get) {
        body = "";
        len = 0;
    } else if (e->method == M_POST && (e->postfields || e->postsize == 0)) {
        body = e->postfields ? e->postfields : "";
        len = e->postsize >= 0 ? (size_t)e->postsize : strlen(body);
    } else {
        /* body from the read callback: only JSON (or untyped) uploads */
        if (ct && !strcasestr(ct, "json")) return CURLE_OK;
        int d = drain_upload(e, ctx->max_body ? ctx->max_body : (16u << 20));
        if (d < 0) {
            al_buf_free(&e->body);
            al_hook_warn("curl: could not read the request body of %.*s to screen it",
                         (int)strcspn(path, "?#"), path);
            return CURLE_ABORTED_BY_CALLBACK;
        }
        drained = 1;
        body = e->body.data ? e->body.data : "";
        len = e->body.len;
        e->body_pos = 0;
    }

    al_in_hook++;
    e->x = al_exchange_new(ctx, "curl");
    al_exchange_set_sink(e->x, &e->stash, sink, e);
    memset(&e->v, 0, sizeof e->v);
    al_code ac = e->x ? al_exchange_request(e->x, method_name(e), host, path, ct, body, len, &e->v)
                      : AL_ENOMEM;
    al_in_hook--;
    if (ac != AL_OK) {
        if (e->x) {
            al_in_hook++;
            al_exchange_free(e->x);
            al_in_hook--;
            e->x = NULL;
        }
        if (ctx->fail == AL_FAIL_CLOSED) {
            /* the query string may carry an API key (Gemini's ?key=): never print it */
            al_hook_warn("curl: request to %s%.*s not screened (%s); refused", host,
                         (int)strcspn(path, "?#"), path, al_strerror(ac));
            al_buf_free(&e->body);
            return CURLE_SEND_ERROR;
        }
        e->v.kind = AL_REQ_PASS;
    }
    if (e->v.kind == AL_REQ_PASS) {
        drop_exchange(e);
        if (drained) {
            /* give the bytes we read back to libcurl, then the rest */
            e->state = ST_ACTIVE;
            e->finished = 1;
            install_read(e);
        } else if (e->follow && !get) {
            /* libcurl may follow a redirect to an LLM API with this body */
            e->state = ST_ACTIVE;
            e->finished = 1;
            watch_redirects(e);
        }
        return CURLE_OK;
    }
    if (e->v.kind == AL_REQ_BLOCK) {
        e->state = ST_BLOCKED;
        al_buf_free(&e->body);
        return CURLE_OK;
    }
    e->state = ST_ACTIVE;
    install_callbacks(e);
    if (e->v.kind == AL_REQ_REWRITE) {
        if (drained) {
            al_buf_reset(&e->body);
            al_buf_append(&e->body, e->v.body.data ? e->v.body.data : "", e->v.body.len);
            if (e->method == M_POST && e->postsize >= 0)
                set_real_off(e->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)e->body.len);
            if (e->method == M_PUT && e->infilesize >= 0)
                set_real_off(e->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)e->body.len);
        } else {
            e->swapped_post = 1;
            set_real(e->h, CURLOPT_POSTFIELDS, e->v.body.data ? e->v.body.data : "");
            set_real_off(e->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)e->v.body.len);
        }
    }
    if (drained) install_read(e);
    return CURLE_OK;
}

/* The transfer this thread's curl_easy_perform runs (idle_wait_ms). */
static __thread handle *performing;

HOOK CURLcode curl_easy_perform(CURL *h)
{
    perform_fn real = real_curl_easy_perform();
    if (!real) return CURLE_FAILED_INIT;
    if (al_in_hook || al_in_curl) return real(h);
    handle *e = find(h, 0);
    CURLcode rc;
    if (e) {
        rc = prepare(e, 0);
        if (rc != CURLE_OK) {
            end_transfer(e);
            return rc;
        }
        if (e->state == ST_BLOCKED) {
            rc = serve_block(e);
            end_transfer(e);
            return rc;
        }
    }
    handle *outer = performing;
    performing = e;
    al_in_curl++;
    rc = real(h);
    al_in_curl--;
    performing = outer;
    if (e && e->block_served && rc == CURLE_ABORTED_BY_CALLBACK) rc = e->block_rc; /* on_redirect */
    if (e && e->idle_abort && rc == CURLE_ABORTED_BY_CALLBACK) rc = CURLE_WRITE_ERROR;
    if (e && e->state != ST_IDLE) {
        rc = finish_response(e, rc);
        end_transfer(e);
    }
    return rc;
}

/* The sizes of a transfer airlock screened or blocked are those of what the
 * program was given (curl -w '%{size_download}', a program that checks the
 * body it got against the Content-Length it was shown), not the server's.
 * Returns 1 when *p was set. */
static int sizes(CURL *h, CURLINFO info, void *p)
{
    int dbl = info == CURLINFO_SIZE_DOWNLOAD || info == CURLINFO_CONTENT_LENGTH_DOWNLOAD;
    int size = info == CURLINFO_SIZE_DOWNLOAD || info == CURLINFO_SIZE_DOWNLOAD_T;
    if (!dbl && !size && info != CURLINFO_CONTENT_LENGTH_DOWNLOAD_T) return 0;
    handle *e = find(h, 0);
    if (!e || !e->sized || (!size && e->shown_cl < 0)) return 0;
    curl_off_t v = size ? e->delivered : e->shown_cl;
    if (dbl)
        *(double *)p = (double)v;
    else
        *(curl_off_t *)p = v;
    return 1;
}

HOOK CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
    va_list ap;
    va_start(ap, info);
    void *p = va_arg(ap, void *);
    va_end(ap);
    getinfo_fn real = real_curl_easy_getinfo();
    if (!real) return CURLE_FAILED_INIT;
    if (__atomic_load_n(&synth_count, __ATOMIC_RELAXED) && p && sizes(h, info, p)) return CURLE_OK;
    if (__atomic_load_n(&synth_count, __ATOMIC_RELAXED) && p &&
        (info == CURLINFO_RESPONSE_CODE || info == CURLINFO_CONTENT_TYPE ||
         info == CURLINFO_SCHEME || info == CURLINFO_PROTOCOL || info == CURLINFO_EFFECTIVE_URL)) {
        /* a blocked transfer never ran: answer as the synthesized reply would */
        handle *e = find(h, 0);
        if (e && e->blocked_status) {
            int tls = e->url && strncasecmp(e->url, "https:", 6) == 0;
            switch (info) {
            case CURLINFO_RESPONSE_CODE:
                *(long *)p = e->blocked_status;
                return CURLE_OK;
            case CURLINFO_CONTENT_TYPE:
                *(const char **)p = "application/json";
                return CURLE_OK;
            case CURLINFO_SCHEME:
                *(const char **)p = tls ? "HTTPS" : "HTTP";
                return CURLE_OK;
            case CURLINFO_PROTOCOL:
                *(long *)p = tls ? CURLPROTO_HTTPS : CURLPROTO_HTTP;
                return CURLE_OK;
            case CURLINFO_EFFECTIVE_URL:
                if (e->url) {
                    *(const char **)p = e->url;
                    return CURLE_OK;
                }
                break;
            default:
                break;
            }
        }
    }
    return real(h, info, p);
}

#ifdef CURLH_HEADER
/* The headers API (curl -w '%header{content-length}', '%{header_json}')
 * reads libcurl's store of the server's header lines: the Content-Length of
 * the final reply of a transfer whose body airlock rewrote is answered with
 * the length the program got, as its header callback was.  h is the real
 * header; returns it or the handle's copy with the value replaced. */
static struct curl_header *shown_header(CURL *c, int request, struct curl_header *h)
{
    if (!h || !h->name || strcasecmp(h->name, "content-length") != 0 ||
        !(h->origin & CURLH_HEADER) || !__atomic_load_n(&synth_count, __ATOMIC_RELAXED))
        return h;
    handle *e = find(c, 0);
    if (!e || !e->sized || e->shown_cl < 0) return h;
    if (request >= 0) { /* only the last request's reply was rewritten */
        long redirects = 0;
        if (real_curl_easy_getinfo()(c, CURLINFO_REDIRECT_COUNT, &redirects) != CURLE_OK ||
            request != redirects)
            return h;
    }
    e->shown_h = *h; /* the anchor stays libcurl's: curl_easy_nextheader goes on from it */
    snprintf(e->shown_v, sizeof e->shown_v, "%lld", (long long)e->shown_cl);
    e->shown_h.value = e->shown_v;
    return &e->shown_h;
}

HOOK CURLHcode curl_easy_header(CURL *h, const char *name, size_t index, unsigned int origin,
                                int request, struct curl_header **hout)
{
    header_fn real = real_curl_easy_header();
    if (!real) return CURLHE_NOT_BUILT_IN;
    CURLHcode rc = real(h, name, index, origin, request, hout);
    if (rc == CURLHE_OK && hout && !al_in_hook) *hout = shown_header(h, request, *hout);
    return rc;
}

HOOK struct curl_header *curl_easy_nextheader(CURL *h, unsigned int origin, int request,
                                              struct curl_header *prev)
{
    nextheader_fn real = real_curl_easy_nextheader();
    if (!real) return NULL;
    struct curl_header *n = real(h, origin, request, prev);
    return al_in_hook ? n : shown_header(h, request, n);
}
#endif

HOOK void curl_easy_cleanup(CURL *h)
{
    cleanup_fn real = real_curl_easy_cleanup();
    if (h && !al_in_hook) drop(h);
    /* closing connections writes TLS close_notify: still libcurl's bytes */
    al_in_curl++;
    if (real) real(h);
    al_in_curl--;
}

HOOK void curl_easy_reset(CURL *h)
{
    reset_fn real = real_curl_easy_reset();
    if (h && !al_in_hook) drop(h);
    if (real) real(h);
}

HOOK CURL *curl_easy_duphandle(CURL *h)
{
    dup_fn real = real_curl_easy_duphandle();
    if (!real) return NULL;
    CURL *d = real(h);
    if (!d || al_in_hook) return d;
    handle *e = find(h, 0);
    if (!e) return d;
    handle *n = find(d, 1);
    if (!n) return d;
    n->url = dupstr(e->url);
    n->custom = dupstr(e->custom);
    if (e->copy) {
        size_t len = e->postsize >= 0 ? (size_t)e->postsize : strlen(e->copy);
        if ((n->copy = malloc(len + 1))) {
            memcpy(n->copy, e->copy, len + 1);
            n->postfields = n->copy;
        }
    } else {
        n->postfields = e->postfields;
    }
    n->postsize = e->postsize;
    n->infilesize = e->infilesize;
    n->method = e->method;
    n->nobody = e->nobody;
    n->failonerror = e->failonerror;
    n->follow = e->follow;
    n->decodes = e->decodes;
    n->no_decoding = e->no_decoding;
    n->raw_te = e->raw_te;
    n->headers = e->headers;
    n->readfn = e->readfn, n->readdata = e->readdata;
    n->seekfn = e->seekfn, n->seekdata = e->seekdata;
    n->writefn = e->writefn, n->writedata = e->writedata;
    n->headerfn = e->headerfn, n->headerdata = e->headerdata;
    n->prereqfn = e->prereqfn, n->prereqdata = e->prereqdata;
    n->debugfn = e->debugfn, n->debugdata = e->debugdata;
    n->xferfn = e->xferfn, n->progfn = e->progfn, n->xferdata = e->xferdata;
    n->progress = e->progress;
    if (e->state != ST_IDLE) {
        /* duplicated mid-transfer: the copy carries our callbacks; undo that
         * (a pre-request callback too: ours would be given e, not n) */
        n->state = ST_ACTIVE;
        n->watch = e->watch || e->state == ST_BLOCKED;
        n->pgrs = e->pgrs;
        restore_options(n);
        n->state = ST_IDLE;
    }
    return d;
}

/* Keeps e's DONE message (e->qm, e->qresult) for curl_multi_info_read, after
 * those kept before it.  Called with table_mu held. */
static void queue_done_locked(handle *e)
{
    e->qseq = ++queued_seq;
    if (!e->queued) __atomic_add_fetch(&queued_count, 1, __ATOMIC_RELAXED);
    e->queued = 1;
}

/* A blocked multi transfer whose reply the program paused on, or a screened
 * one paused on what its end released (end_paused): libcurl has ended that
 * transfer, and its curl_easy_pause would fail, so unpausing hands over the
 * rest of the reply here (and then the screened one's DONE message). */
HOOK CURLcode curl_easy_pause(CURL *h, int bitmask)
{
    pause_fn real = real_curl_easy_pause();
    if (!real) return CURLE_FAILED_INIT;
    if (!al_in_hook && !(bitmask & CURLPAUSE_RECV)) {
        handle *e = find(h, 0);
        if (e && e->state == ST_ACTIVE && e->idle_paused) {
            /* paused on text on_progress let out: the rest first, then libcurl */
            int d = deliver_stash(e);
            if (d > 0) return CURLE_OK; /* paused again */
            e->idle_paused = 0;
            if (d < 0) e->idle_abort = 1; /* refused: the next progress call aborts */
        }
        if (e && e->state == ST_BLOCKED && e->block_paused) {
            if (deliver_stash(e) <= 0) e->block_paused = 0; /* all taken, or refused */
            return CURLE_OK;
        }
        if (e && e->state == ST_ACTIVE && e->end_paused) {
            int d = deliver_stash(e);
            if (d > 0) return CURLE_OK; /* paused again */
            pthread_mutex_lock(&table_mu);
            if (e->end_paused == 2) {
                if (d < 0) e->qresult = CURLE_WRITE_ERROR;
                queue_done_locked(e);
            }
            e->end_paused = 0;
            pthread_mutex_unlock(&table_mu);
            __atomic_sub_fetch(&paused_count, 1, __ATOMIC_RELAXED);
            return CURLE_OK;
        }
    }
    return real(h, bitmask);
}

/* Adds to *running the transfers of m whose DONE message waits for the
 * program to unpause (end_paused): for libcurl they still run. */
static void count_paused(CURLM *m, int *running)
{
    if (!running || !__atomic_load_n(&paused_count, __ATOMIC_RELAXED)) return;
    pthread_mutex_lock(&table_mu);
    for (unsigned b = 0; b < NBUCKET; b++)
        for (handle *e = table[b]; e; e = e->next)
            if (e->end_paused == 2 && e->qm == m) ++*running;
    pthread_mutex_unlock(&table_mu);
}

/* ---- the multi interface ---- */

HOOK CURLMcode curl_multi_add_handle(CURLM *m, CURL *h)
{
    mhandle_fn real = real_curl_multi_add_handle();
    if (!real) return CURLM_INTERNAL_ERROR;
    if (al_in_hook || al_in_curl) return real(m, h);
    handle *e = find(h, 0);
    if (e) {
        CURLcode rc = prepare(e, 1);
        e->m = m;
        if (rc != CURLE_OK) {
            /* cannot be screened and policy refuses: the transfer fails at once */
            end_transfer(e);
            e->state = ST_BLOCKED;
            e->v.status = -1; /* refuse without a reply */
        }
        if (e->state == ST_ACTIVE) __atomic_add_fetch(&active_multi, 1, __ATOMIC_RELAXED);
        if (e->state == ST_BLOCKED) {
            /* the request must not leave: abort it right before it is sent */
            if (real_curl_easy_setopt()(h, CURLOPT_PREREQFUNCTION, on_prereq) != CURLE_OK ||
                real_curl_easy_setopt()(h, CURLOPT_PREREQDATA, e) != CURLE_OK) {
                /* libcurl older than 7.80: refuse the handle instead */
                end_transfer(e);
                al_hook_warn("curl: blocked request refused (libcurl lacks PREREQFUNCTION)");
                return CURLM_ADDED_ALREADY;
            }
        }
    }
    return real(m, h);
}

HOOK CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h)
{
    mhandle_fn real = real_curl_multi_remove_handle();
    if (!real) return CURLM_INTERNAL_ERROR;
    al_in_curl++;
    CURLMcode rc = real(m, h);
    al_in_curl--;
    if (!al_in_hook && !al_in_curl) {
        handle *e = find(h, 0);
        if (e && e->queued) { /* libcurl drops a removed handle's message too */
            e->queued = 0;
            __atomic_sub_fetch(&queued_count, 1, __ATOMIC_RELAXED);
        }
        if (e && e->state != ST_IDLE) {
            if (e->state == ST_BLOCKED) {
                real_curl_easy_setopt()(h, CURLOPT_PREREQFUNCTION, e->prereqfn);
                real_curl_easy_setopt()(h, CURLOPT_PREREQDATA, e->prereqdata);
            }
            if (!e->finished) e->host_abort = 1; /* removed before it completed */
            end_transfer(e);
        }
    }
    return rc;
}

/* The result a DONE message reports for e: a screened transfer is finished
 * (what the exchange still holds is delivered), a blocked one ends as
 * curl_easy_perform's block does (CURLE_OK, or CURLE_HTTP_RETURNED_ERROR
 * with FAILONERROR), not as the CURLE_ABORTED_BY_CALLBACK of its abort. */
static CURLcode done_result(handle *e, CURLcode rc)
{
    if (e && e->idle_abort && rc == CURLE_ABORTED_BY_CALLBACK) rc = CURLE_WRITE_ERROR;
    if (e && e->state == ST_ACTIVE && !e->finished) return finish_response(e, rc);
    if (e && e->state == ST_BLOCKED && e->block_served && rc == CURLE_ABORTED_BY_CALLBACK)
        return e->block_rc;
    return rc;
}

/* After a driver call (curl_multi_perform, _socket_action, _socket_all) with
 * an LLM transfer running: the transfers libcurl finished are finished here,
 * while the program's driver call still runs, because pycurl runs a
 * program's callback only then (a reply released from curl_multi_info_read
 * failed as error 23); every DONE message is kept, in order, for the
 * program's curl_multi_info_read. */
static void take_done(CURLM *m)
{
    if (!__atomic_load_n(&active_multi, __ATOMIC_RELAXED) &&
        !__atomic_load_n(&queued_count, __ATOMIC_RELAXED))
        return;
    minfo_fn real = real_curl_multi_info_read();
    if (!real) return;
    int left;
    CURLMsg *msg;
    while ((msg = real(m, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        handle *e = find(msg->easy_handle, 1);
        if (!e) continue; /* (out of memory) */
        CURLcode rc = done_result(e, msg->data.result);
        pthread_mutex_lock(&table_mu);
        e->qm = m;
        e->qresult = rc;
        if (e->end_paused)
            e->end_paused = 2; /* queued when the program has taken the rest */
        else
            queue_done_locked(e);
        pthread_mutex_unlock(&table_mu);
    }
}

HOOK CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
    minfo_fn real = real_curl_multi_info_read();
    if (!real) return NULL;
    if (__atomic_load_n(&queued_count, __ATOMIC_RELAXED)) {
        /* the kept messages are older than any libcurl still has */
        static __thread CURLMsg out;
        handle *best = NULL;
        int n = 0;
        pthread_mutex_lock(&table_mu);
        for (unsigned b = 0; b < NBUCKET; b++)
            for (handle *e = table[b]; e; e = e->next)
                if (e->queued && e->qm == m) {
                    n++;
                    if (!best || e->qseq < best->qseq) best = e;
                }
        if (best) {
            best->queued = 0;
            __atomic_sub_fetch(&queued_count, 1, __ATOMIC_RELAXED);
            memset(&out, 0, sizeof out);
            out.msg = CURLMSG_DONE;
            out.easy_handle = best->h;
            out.data.result = best->qresult;
        }
        pthread_mutex_unlock(&table_mu);
        if (best) {
            if (left) *left = n - 1;
            return &out;
        }
    }
    CURLMsg *msg = real(m, left);
    if (msg && msg->msg == CURLMSG_DONE && !al_in_hook && !al_in_curl)
        msg->data.result = done_result(find(msg->easy_handle, 0), msg->data.result);
    return msg;
}

/* The drivers mark the thread (socket and TLS layers stand aside while
 * libcurl moves the bytes of a transfer handled here), then finish what
 * libcurl finished (take_done). */
HOOK CURLMcode curl_multi_perform(CURLM *m, int *running)
{
    mperform_fn real = real_curl_multi_perform();
    if (!real) return CURLM_INTERNAL_ERROR;
    al_in_curl++;
    CURLMcode rc = real(m, running);
    al_in_curl--;
    if (!al_in_hook && !al_in_curl) {
        take_done(m);
        count_paused(m, running);
    }
    return rc;
}

HOOK CURLMcode curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev, int *running)
{
    msocket_fn real = real_curl_multi_socket_action();
    if (!real) return CURLM_INTERNAL_ERROR;
    al_in_curl++;
    CURLMcode rc = real(m, s, ev, running);
    al_in_curl--;
    if (!al_in_hook && !al_in_curl) {
        take_done(m);
        count_paused(m, running);
    }
    return rc;
}

HOOK CURLMcode curl_multi_socket_all(CURLM *m, int *running)
{
    msocketall_fn real = real_curl_multi_socket_all();
    if (!real) return CURLM_INTERNAL_ERROR;
    al_in_curl++;
    CURLMcode rc = real(m, running);
    al_in_curl--;
    if (!al_in_hook && !al_in_curl) {
        take_done(m);
        count_paused(m, running);
    }
    return rc;
}

HOOK CURLMcode curl_multi_cleanup(CURLM *m)
{
    mcleanup_fn real = real_curl_multi_cleanup();
    if (!real) return CURLM_INTERNAL_ERROR;
    if (__atomic_load_n(&queued_count, __ATOMIC_RELAXED)) {
        pthread_mutex_lock(&table_mu);
        for (unsigned b = 0; b < NBUCKET; b++)
            for (handle *e = table[b]; e; e = e->next)
                if (e->queued && e->qm == m) {
                    e->queued = 0;
                    __atomic_sub_fetch(&queued_count, 1, __ATOMIC_RELAXED);
                }
        pthread_mutex_unlock(&table_mu);
    }
    al_in_curl++;
    CURLMcode rc = real(m);
    al_in_curl--;
    return rc;
}

/* ---- waiting for a slow stream ---- */

/* ms until the held text of a transfer of m (NULL: this thread's
 * curl_easy_perform) is due out (al_idle_wait_ms), at least 10 (the progress
 * callback lets it out when libcurl runs the transfer after the wait), or
 * ms when none is sooner. */
static int idle_wait_ms(CURLM *m, int ms)
{
    int w = -1;
    handle *e = performing;
    if (e && e->idle.hold_at && !e->idle_paused) w = al_idle_wait_ms(&e->idle);
    if (m && __atomic_load_n(&active_multi, __ATOMIC_RELAXED)) {
        pthread_mutex_lock(&table_mu);
        for (unsigned b = 0; b < NBUCKET; b++)
            for (e = table[b]; e; e = e->next)
                if (e->m == m && e->state == ST_ACTIVE && e->idle.hold_at && !e->idle_paused) {
                    int k = al_idle_wait_ms(&e->idle);
                    if (w < 0 || k < w) w = k;
                }
        pthread_mutex_unlock(&table_mu);
    }
    if (w < 0) return ms;
    if (w < 10) w = 10;
    return ms >= 0 && ms < w ? ms : w;
}

/* curl_easy_perform waits in curl_multi_poll for a second at most, and a
 * multi program in curl_multi_poll or curl_multi_wait for as long as it
 * asks: while a stream holds text, the wait ends when that text is due, so
 * the progress callback lets it out then (a spurious wake-up for the
 * caller, as libcurl's own timers give). */
HOOK CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned int n, int ms,
                               int *numfds)
{
    mwait_fn real = real_curl_multi_poll();
    if (!real) return CURLM_INTERNAL_ERROR;
    return real(m, extra, n, al_in_hook ? ms : idle_wait_ms(al_in_curl ? NULL : m, ms), numfds);
}

HOOK CURLMcode curl_multi_wait(CURLM *m, struct curl_waitfd extra[], unsigned int n, int ms,
                               int *numfds)
{
    mwait_fn real = real_curl_multi_wait();
    if (!real) return CURLM_INTERNAL_ERROR;
    return real(m, extra, n, al_in_hook ? ms : idle_wait_ms(al_in_curl ? NULL : m, ms), numfds);
}

/* A program that waits on its own (select on curl_multi_fdset's set, as
 * pycurl's select does) asks how long it may: no longer than until a
 * stream's held text is due. */
HOOK CURLMcode curl_multi_timeout(CURLM *m, long *ms)
{
    mtimeout_fn real = real_curl_multi_timeout();
    if (!real) return CURLM_INTERNAL_ERROR;
    CURLMcode rc = real(m, ms);
    if (rc == CURLM_OK && ms && !al_in_hook && !al_in_curl &&
        __atomic_load_n(&active_multi, __ATOMIC_RELAXED)) {
        int w = idle_wait_ms(m, -1);
        if (w >= 0 && (*ms < 0 || *ms > w)) *ms = w;
    }
    return rc;
}

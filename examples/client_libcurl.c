/* client_libcurl.c: a small libcurl (easy interface) program that POSTs JSON
 * to an LLM API URL and prints the reply body on stdout, and one line
 * "HTTP/<version> <status>" per transfer on stderr.  It stands for the legacy
 * C programs airlock protects without changes; it knows nothing of airlock.
 *
 *   client_libcurl [options] URL
 *     -d JSON | -d @FILE   request body (POST; default: GET)
 *     -H "Name: value"     extra header (repeatable; Content-Type defaults to JSON)
 *     --cacert FILE        CA certificate to trust
 *     --http1.1 | --http2  force the HTTP version (default: libcurl's, h2 over TLS)
 *     --stream             write each received piece at once (fflush) and count them
 *     --threads N          run N transfers concurrently, one easy handle per thread
 *     --repeat N           run N transfers one after another on one handle
 *     -o FILE              write bodies to FILE instead of stdout (e.g. /dev/null)
 * Exit status: 0 when every transfer completed (whatever its HTTP status),
 * 1 on a transfer error, 2 on bad usage. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 32
#define MAX_THREADS 64

struct opts {
    const char *url, *cacert, *out;
    char *body;
    size_t body_len;
    const char *headers[MAX_HEADERS];
    int nheaders, threads, repeat, stream;
    long http_version;
};

struct buf {
    char *p;
    size_t len, cap;
};

struct job {
    const struct opts *o;
    int index;
    struct buf body; /* the reply bodies when buffering (threads) */
    long status, version;
    long pieces;
    CURLcode rc;
    char err[CURL_ERROR_SIZE];
};

static FILE *out_file;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct buf b = {0};
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (b.len + n + 1 > b.cap) {
            size_t cap = (b.cap ? b.cap * 2 : 65536) + n;
            char *p = realloc(b.p, cap);
            if (!p) {
                free(b.p);
                fclose(f);
                return NULL;
            }
            b.p = p;
            b.cap = cap;
        }
        memcpy(b.p + b.len, tmp, n);
        b.len += n;
    }
    fclose(f);
    if (!b.p) b.p = calloc(1, 1);
    *len = b.len;
    return b.p;
}

/* CURLOPT_WRITEFUNCTION: buffer (threads) or write straight out. */
static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct job *j = userdata;
    size_t n = size * nmemb;
    j->pieces++;
    if (j->o->threads > 1) {
        if (j->body.len + n > j->body.cap) {
            size_t cap = (j->body.cap ? j->body.cap * 2 : 16384) + n;
            char *p = realloc(j->body.p, cap);
            if (!p) return 0;
            j->body.p = p;
            j->body.cap = cap;
        }
        memcpy(j->body.p + j->body.len, ptr, n);
        j->body.len += n;
        return n;
    }
    if (fwrite(ptr, 1, n, out_file) != n) return 0;
    if (j->o->stream) fflush(out_file);
    return n;
}

static const char *version_name(long v)
{
    switch (v) {
    case CURL_HTTP_VERSION_1_0:
        return "HTTP/1.0";
    case CURL_HTTP_VERSION_1_1:
        return "HTTP/1.1";
    case CURL_HTTP_VERSION_2_0:
        return "HTTP/2";
    case CURL_HTTP_VERSION_3:
        return "HTTP/3";
    default:
        return "HTTP/?";
    }
}

static void setup(CURL *c, struct job *j, struct curl_slist *hdrs)
{
    const struct opts *o = j->o;
    curl_easy_setopt(c, CURLOPT_URL, o->url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, j->err);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (o->cacert) curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
    if (o->http_version) curl_easy_setopt(c, CURLOPT_HTTP_VERSION, o->http_version);
    if (o->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
}

static void finish_transfer(CURL *c, struct job *j)
{
    j->err[0] = j->err[0] ? j->err[0] : 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &j->status);
    curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &j->version);
    pthread_mutex_lock(&out_lock);
    if (j->rc != CURLE_OK)
        fprintf(stderr, "%scurl error %d: %s\n", j->o->threads > 1 ? "[thread] " : "", j->rc,
                j->err[0] ? j->err : curl_easy_strerror(j->rc));
    fprintf(stderr, "%s %ld\n", version_name(j->version), j->status);
    if (j->o->stream) fprintf(stderr, "pieces: %ld\n", j->pieces);
    pthread_mutex_unlock(&out_lock);
}

static struct curl_slist *make_headers(const struct opts *o)
{
    struct curl_slist *h = NULL;
    int has_ct = 0;
    for (int i = 0; i < o->nheaders; i++) {
        if (strncasecmp(o->headers[i], "content-type:", 13) == 0) has_ct = 1;
        h = curl_slist_append(h, o->headers[i]);
    }
    if (o->body && !has_ct) h = curl_slist_append(h, "Content-Type: application/json");
    return h;
}

static void *thread_main(void *arg)
{
    struct job *j = arg;
    struct curl_slist *hdrs = make_headers(j->o);
    CURL *c = curl_easy_init();
    if (!c) {
        j->rc = CURLE_FAILED_INIT;
        curl_slist_free_all(hdrs);
        return NULL;
    }
    setup(c, j, hdrs);
    j->rc = curl_easy_perform(c);
    finish_transfer(c, j);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: client_libcurl [-d JSON|@FILE] [-H HDR]... [--cacert F] "
                    "[--http1.1|--http2] [--stream] [--threads N] [--repeat N] [-o FILE] URL\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    o.threads = 1;
    o.repeat = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-d") && more) {
            const char *v = argv[++i];
            if (v[0] == '@') {
                o.body = read_file(v + 1, &o.body_len);
                if (!o.body) {
                    fprintf(stderr, "client_libcurl: cannot read %s: %s\n", v + 1, strerror(errno));
                    return 2;
                }
            } else {
                o.body = strdup(v);
                o.body_len = strlen(v);
            }
        } else if (!strcmp(a, "-H") && more) {
            if (o.nheaders == MAX_HEADERS) return usage();
            o.headers[o.nheaders++] = argv[++i];
        } else if (!strcmp(a, "--cacert") && more) {
            o.cacert = argv[++i];
        } else if (!strcmp(a, "-o") && more) {
            o.out = argv[++i];
        } else if (!strcmp(a, "--http1.1")) {
            o.http_version = CURL_HTTP_VERSION_1_1;
        } else if (!strcmp(a, "--http2")) {
            o.http_version = CURL_HTTP_VERSION_2TLS;
        } else if (!strcmp(a, "--stream")) {
            o.stream = 1;
        } else if (!strcmp(a, "--threads") && more) {
            o.threads = atoi(argv[++i]);
            if (o.threads < 1 || o.threads > MAX_THREADS) return usage();
        } else if (!strcmp(a, "--repeat") && more) {
            o.repeat = atoi(argv[++i]);
            if (o.repeat < 1) return usage();
        } else if (a[0] == '-') {
            return usage();
        } else {
            o.url = a;
        }
    }
    if (!o.url) return usage();
    out_file = o.out ? fopen(o.out, "wb") : stdout;
    if (!out_file) {
        fprintf(stderr, "client_libcurl: cannot open %s: %s\n", o.out, strerror(errno));
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int failed = 0;
    if (o.threads > 1) {
        struct job jobs[MAX_THREADS];
        pthread_t th[MAX_THREADS];
        memset(jobs, 0, sizeof jobs);
        for (int t = 0; t < o.threads; t++) {
            jobs[t].o = &o;
            jobs[t].index = t;
            if (pthread_create(&th[t], NULL, thread_main, &jobs[t]) != 0) {
                fprintf(stderr, "client_libcurl: pthread_create failed\n");
                return 1;
            }
        }
        for (int t = 0; t < o.threads; t++) {
            pthread_join(th[t], NULL);
            /* bodies in thread order, one per line */
            if (jobs[t].body.len) fwrite(jobs[t].body.p, 1, jobs[t].body.len, out_file);
            fputc('\n', out_file);
            if (jobs[t].rc != CURLE_OK) failed = 1;
            free(jobs[t].body.p);
        }
    } else {
        struct job j = {.o = &o};
        struct curl_slist *hdrs = make_headers(&o);
        CURL *c = curl_easy_init();
        if (!c) return 1;
        for (int r = 0; r < o.repeat; r++) {
            j.pieces = 0;
            j.err[0] = 0;
            setup(c, &j, hdrs);
            j.rc = curl_easy_perform(c);
            if (o.repeat == 1 || j.rc != CURLE_OK) finish_transfer(c, &j);
            if (j.rc != CURLE_OK) {
                failed = 1;
                break;
            }
        }
        if (o.repeat > 1 && !failed) finish_transfer(c, &j);
        curl_easy_cleanup(c);
        curl_slist_free_all(hdrs);
    }
    if (out_file != stdout)
        fclose(out_file);
    else
        fflush(stdout);
    free(o.body);
    curl_global_cleanup();
    return failed;
}

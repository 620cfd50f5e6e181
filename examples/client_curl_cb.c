/* client_curl_cb.c: a libcurl program in the style of legacy C code that
 * talks to an LLM API through callbacks: it POSTs JSON (from memory with
 * CURLOPT_POSTFIELDS, or through CURLOPT_READFUNCTION), receives the reply
 * through CURLOPT_WRITEFUNCTION and reads the status line through
 * CURLOPT_HEADERFUNCTION.  Built three times, against libcurl with OpenSSL,
 * GnuTLS and NSS.  It knows nothing of airlock.
 *
 *   client_curl_cb [options] URL
 *     -d JSON | -d @FILE   request body (POST)
 *     -H "Name: value"     extra header (repeatable; Content-Type: application/json is always sent)
 *     --cacert FILE        CA certificate to trust;  -k  do not verify the peer
 *     --http1.1 | --http2  HTTP version to ask for (default: libcurl's)
 *     --stream             print each received piece at once (fflush)
 *     --read               send the body through CURLOPT_READFUNCTION (4 KB pieces)
 *     --multi              drive the transfer with the multi interface
 *     --pause              with --multi: refuse every third write callback with
 *                          CURL_WRITEFUNC_PAUSE and resume with curl_easy_pause
 * stdout: the reply body.  stderr: "http_version=V status=N header_status=N
 * pieces=N" (V is 1.1 or 2), or "curl_error=N message" on failure.
 * Exit status: 0 when the transfer completed (any HTTP status), 1 on a
 * transfer error, 2 on bad usage. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct state {
    const char *body;
    size_t body_len, body_pos;
    int stream, pause_every, paused;
    long pieces;
    long header_status;
    CURL *h;
};

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct state *st = ud;
    size_t len = size * n;
    if (st->pause_every && !st->paused && st->pieces % 3 == 1) {
        /* refuse this piece for now; main loop resumes the transfer */
        st->paused = 1;
        st->pieces++;
        return CURL_WRITEFUNC_PAUSE;
    }
    st->paused = 0;
    st->pieces++;
    if (fwrite(p, 1, len, stdout) != len) return 0;
    if (st->stream) fflush(stdout);
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct state *st = ud;
    size_t len = size * n;
    if (len > 5 && memcmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', len);
        if (sp) st->header_status = strtol(sp + 1, NULL, 10);
    }
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct state *st = ud;
    size_t want = size * n, left = st->body_len - st->body_pos;
    if (want > 4096) want = 4096;
    if (want > left) want = left;
    memcpy(buf, st->body + st->body_pos, want);
    st->body_pos += want;
    return want;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    for (size_t r; p && (r = fread(p + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap) {
            char *q = realloc(p, cap *= 2);
            if (!q) free(p);
            p = q;
        }
    }
    fclose(f);
    if (p) *len = n;
    return p;
}

static CURLcode run_multi(CURL *h, struct state *st)
{
    CURLM *m = curl_multi_init();
    if (!m) return CURLE_OUT_OF_MEMORY;
    curl_multi_add_handle(m, h);
    int running = 1;
    CURLcode rc = CURLE_OK;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK) break;
        if (st->paused) curl_easy_pause(h, CURLPAUSE_CONT);
        if (running) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)))
        if (msg->msg == CURLMSG_DONE) rc = msg->data.result;
    curl_multi_remove_handle(m, h);
    curl_multi_cleanup(m);
    return rc;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *cacert = NULL;
    char *body = NULL;
    size_t body_len = 0;
    int insecure = 0, use_read = 0, multi = 0;
    long version = 0;
    struct state st = {0};
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-d") && i + 1 < argc) {
            const char *v = argv[++i];
            if (v[0] == '@') {
                body = read_file(v + 1, &body_len);
                if (!body) {
                    fprintf(stderr, "cannot read %s\n", v + 1);
                    return 2;
                }
            } else {
                body = strdup(v);
                body_len = strlen(v);
            }
        } else if (!strcmp(a, "-H") && i + 1 < argc) {
            hdrs = curl_slist_append(hdrs, argv[++i]);
        } else if (!strcmp(a, "--cacert") && i + 1 < argc) {
            cacert = argv[++i];
        } else if (!strcmp(a, "-k")) {
            insecure = 1;
        } else if (!strcmp(a, "--http1.1")) {
            version = CURL_HTTP_VERSION_1_1;
        } else if (!strcmp(a, "--http2")) {
            version = CURL_HTTP_VERSION_2TLS;
        } else if (!strcmp(a, "--stream")) {
            st.stream = 1;
        } else if (!strcmp(a, "--read")) {
            use_read = 1;
        } else if (!strcmp(a, "--multi")) {
            multi = 1;
        } else if (!strcmp(a, "--pause")) {
            st.pause_every = 1;
        } else if (a[0] != '-' && !url) {
            url = a;
        } else {
            fprintf(stderr, "usage: client_curl_cb [-d JSON|@FILE] [-H H] [--cacert F] [-k] "
                            "[--http1.1|--http2] [--stream] [--read] [--multi [--pause]] URL\n");
            return 2;
        }
    }
    if (!url || !body) {
        fprintf(stderr, "client_curl_cb: URL and -d are required\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    st.h = h;
    st.body = body;
    st.body_len = body_len;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (use_read) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &st);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &st);
    if (cacert) curl_easy_setopt(h, CURLOPT_CAINFO, cacert);
    if (insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (version) curl_easy_setopt(h, CURLOPT_HTTP_VERSION, version);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);

    CURLcode rc = multi ? run_multi(h, &st) : curl_easy_perform(h);
    fflush(stdout);
    if (rc != CURLE_OK) {
        fprintf(stderr, "curl_error=%d %s\n", (int)rc, curl_easy_strerror(rc));
    } else {
        long status = 0, hv = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &hv);
        fprintf(stderr, "http_version=%s status=%ld header_status=%ld pieces=%ld\n",
                hv == CURL_HTTP_VERSION_2_0   ? "2"
                : hv == CURL_HTTP_VERSION_1_1 ? "1.1"
                : hv == CURL_HTTP_VERSION_1_0 ? "1.0"
                                              : "none",
                status, st.header_status, st.pieces);
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    curl_global_cleanup();
    free(body);
    return rc == CURLE_OK ? 0 : 1;
}

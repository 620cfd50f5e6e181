/* curl_sizes.c: a libcurl program that checks the body it got against the
 * sizes libcurl reports, as programs that size a buffer or detect a short
 * read do.  Usage: curl_sizes easy|multi URL CAFILE BODY
 * Prints one line: "body=N cl_t=N size_t=N cl=N size=N hdr=V next=V status=N"
 * (cl*: CURLINFO_CONTENT_LENGTH_DOWNLOAD[_T], size*: CURLINFO_SIZE_DOWNLOAD[_T],
 * hdr: curl_easy_header's Content-Length, next: the one curl_easy_nextheader
 * walks to; "-" when absent).  Never prints the body. */
#define CURL_DISABLE_DEPRECATION 1
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static size_t count(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    *(size_t *)ud += size * n;
    return size * n;
}

int main(int argc, char **argv)
{
    if (argc != 5) return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    struct curl_slist *hs = curl_slist_append(NULL, "Content-Type: application/json");
    size_t got = 0;
    curl_easy_setopt(c, CURLOPT_URL, argv[2]);
    curl_easy_setopt(c, CURLOPT_CAINFO, argv[3]);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, argv[4]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, count);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
    CURLcode rc;
    if (!strcmp(argv[1], "multi")) {
        CURLM *m = curl_multi_init();
        curl_multi_add_handle(m, c);
        int running = 1;
        while (running) {
            curl_multi_perform(m, &running);
            if (running) curl_multi_poll(m, NULL, 0, 1000, NULL);
        }
        CURLMsg *msg;
        int left;
        rc = CURLE_FAILED_INIT;
        while ((msg = curl_multi_info_read(m, &left)))
            if (msg->msg == CURLMSG_DONE) rc = msg->data.result;
        /* the program reads the sizes before it removes the handle */
        curl_multi_remove_handle(m, c);
        curl_multi_cleanup(m);
    } else {
        rc = curl_easy_perform(c);
    }
    if (rc != CURLE_OK) {
        printf("error %d\n", rc);
        return 1;
    }
    curl_off_t cl_t = -2, size_t_ = -2;
    double cl = -2, size = -2;
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl_t);
    curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &size_t_);
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD, &cl);
    curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD, &size);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    struct curl_header *h = NULL, *n = NULL;
    const char *hv = "-", *nv = "-";
    if (curl_easy_header(c, "Content-Length", 0, CURLH_HEADER, -1, &h) == CURLHE_OK) hv = h->value;
    char hbuf[32];
    snprintf(hbuf, sizeof hbuf, "%s", hv);
    while ((n = curl_easy_nextheader(c, CURLH_HEADER, -1, n)))
        if (!strcasecmp(n->name, "content-length")) nv = n->value;
    printf("body=%zu cl_t=%lld size_t=%lld cl=%.0f size=%.0f hdr=%s next=%s status=%ld\n", got,
           (long long)cl_t, (long long)size_t_, cl, size, hbuf, nv, status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    return 0;
}

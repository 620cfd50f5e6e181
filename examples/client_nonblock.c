/* client_nonblock.c: an HTTPS client on a non-blocking socket, written the
 * way event-loop programs (curl, nginx, node addons) drive OpenSSL: it polls
 * the socket only when SSL_pending() says nothing is buffered, retries
 * SSL_write with the same arguments after WANT_WRITE/WANT_READ, and can ask
 * for partial writes and a tiny socket send buffer so those paths really run.
 * It sends one keep-alive HTTP/1.1 request and prints every byte of the
 * reply on stdout, stopping when the reply is complete (Content-Length or the
 * last chunk) while the server still holds the connection open, so a reader
 * that waits on the socket for bytes already buffered would stall.  It knows
 * nothing of airlock.
 *
 *   client_nonblock [options] PORT [PATH]
 *     --cacert FILE        CA certificate to trust (required)
 *     -d JSON | -d @FILE   POST this body (default: GET)
 *     -H "Name: value"     extra header (repeatable)
 *     --read-size N        bytes per SSL_read (default 1)
 *     --sndbuf N           SO_SNDBUF of the socket (default: the system's)
 *     --partial            SSL_MODE_ENABLE_PARTIAL_WRITE
 *     --no-h2              offer ALPN http/1.1 alone (default h2,http/1.1, as curl)
 *     --peek               SSL_peek before every SSL_read; exit 5 if they disagree
 * stderr gets "writes: N retries: N" and a final "end: complete|clean close|
 * unexpected eof|error|stalled".  Exit status: 0 when the reply completed (or
 * the server closed cleanly), 2 on an unexpected EOF, 4 when the socket stayed
 * silent for 10 s before the reply ended, 1 on any other error. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEADERS 32

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *p = NULL;
    size_t cap = 0, n = 0, r;
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            char *q = realloc(p, cap);
            if (!q) {
                free(p);
                fclose(f);
                return NULL;
            }
            p = q;
        }
        r = fread(p + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    *len = n;
    return p;
}

/* 1 when out holds a whole HTTP/1.1 response (after any 1xx interim ones). */
static int complete(const char *out, size_t n)
{
    for (;;) {
        const char *e = memmem(out, n, "\r\n\r\n", 4);
        if (!e) return 0;
        size_t hl = (size_t)(e + 4 - out);
        if (n > 9 && !strncmp(out, "HTTP/1.1 1", 10)) { /* interim: the reply follows */
            out += hl;
            n -= hl;
            continue;
        }
        for (const char *p = out; p < e; p++) {
            if (p != out && p[-1] != '\n') continue;
            if (!strncasecmp(p, "content-length:", 15)) return n >= hl + strtoul(p + 15, NULL, 10);
            if (!strncasecmp(p, "transfer-encoding:", 18))
                return n >= hl + 5 && !memcmp(out + n - 5, "0\r\n\r\n", 5) &&
                       (n == hl + 5 || out[n - 6] == '\n');
        }
        return 0;
    }
}

/* Waits until fd is ready for ev; 0 on timeout. */
static int wait_fd(int fd, short ev, int ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    int r;
    do r = poll(&p, 1, ms);
    while (r < 0 && errno == EINTR);
    return r;
}

int main(int argc, char **argv)
{
    const char *cacert = NULL, *data = NULL, *headers[MAX_HEADERS];
    int nh = 0, read_size = 1, sndbuf = 0, partial = 0, no_h2 = 0, peek = 0;
    const char *port = NULL, *path = "/";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--cacert") && i + 1 < argc)
            cacert = argv[++i];
        else if (!strcmp(a, "-d") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp(a, "-H") && i + 1 < argc && nh < MAX_HEADERS)
            headers[nh++] = argv[++i];
        else if (!strcmp(a, "--read-size") && i + 1 < argc)
            read_size = atoi(argv[++i]);
        else if (!strcmp(a, "--sndbuf") && i + 1 < argc)
            sndbuf = atoi(argv[++i]);
        else if (!strcmp(a, "--partial"))
            partial = 1;
        else if (!strcmp(a, "--peek"))
            peek = 1;
        else if (!strcmp(a, "--no-h2"))
            no_h2 = 1;
        else if (!port)
            port = a;
        else
            path = a;
    }
    if (!port || !cacert || read_size < 1) {
        fprintf(stderr,
                "usage: client_nonblock --cacert FILE [-d JSON|@FILE] [-H HDR]... "
                "[--read-size N] [--sndbuf N] [--partial] [--no-h2] [--peek] PORT [PATH]\n");
        return 1;
    }
    size_t blen = 0;
    char *body = NULL;
    if (data && data[0] == '@') {
        body = read_file(data + 1, &blen);
        if (!body) {
            fprintf(stderr, "client_nonblock: cannot read %s\n", data + 1);
            return 1;
        }
    } else if (data) {
        blen = strlen(data);
        body = malloc(blen + 1);
        if (!body) return 1;
        memcpy(body, data, blen + 1);
    }

    /* The request: header block and body in one buffer, written in one go. */
    size_t hcap = 1024;
    for (int i = 0; i < nh; i++) hcap += strlen(headers[i]) + 2;
    char *req = malloc(hcap + blen);
    if (!req) return 1;
    int hl = snprintf(req, hcap,
                      "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: client_nonblock\r\n"
                      "Accept: */*\r\n",
                      body ? "POST" : "GET", path);
    for (int i = 0; i < nh; i++) hl += snprintf(req + hl, hcap - hl, "%s\r\n", headers[i]);
    if (body) {
        hl += snprintf(req + hl, hcap - hl,
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", blen);
        memcpy(req + hl, body, blen);
    } else {
        hl += snprintf(req + hl, hcap - hl, "\r\n");
    }
    size_t rlen = (size_t)hl + blen;

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(port))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("client_nonblock: connect");
        return 1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1) {
        fprintf(stderr, "client_nonblock: cannot load %s\n", cacert);
        return 1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    static const unsigned char alpn[] = "\x02h2\x08http/1.1";
    if (no_h2)
        SSL_CTX_set_alpn_protos(ctx, alpn + 3, sizeof alpn - 4);
    else
        SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set1_host(ssl, "localhost");
    if (partial) SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);

    for (;;) {
        int r = SSL_connect(ssl);
        if (r == 1) break;
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            wait_fd(fd, POLLIN, 10000);
        else if (e == SSL_ERROR_WANT_WRITE)
            wait_fd(fd, POLLOUT, 10000);
        else {
            ERR_print_errors_fp(stderr);
            fprintf(stderr, "end: error\n");
            return 1;
        }
    }
    const unsigned char *proto = NULL;
    unsigned plen = 0;
    SSL_get0_alpn_selected(ssl, &proto, &plen);
    if (plen == 2 && !memcmp(proto, "h2", 2)) {
        fprintf(stderr, "client_nonblock: server chose h2\n");
        return 3;
    }

    /* Write: on WANT_* retry with exactly the same arguments. */
    size_t off = 0, writes = 0, retries = 0;
    while (off < rlen) {
        int r = SSL_write(ssl, req + off, (int)(rlen - off > 1 << 30 ? 1 << 30 : rlen - off));
        writes++;
        if (r > 0) {
            off += (size_t)r;
            continue;
        }
        int e = SSL_get_error(ssl, r);
        retries++;
        if (e == SSL_ERROR_WANT_WRITE)
            wait_fd(fd, POLLOUT, 10000);
        else if (e == SSL_ERROR_WANT_READ)
            wait_fd(fd, POLLIN, 10000);
        else {
            ERR_print_errors_fp(stderr);
            fprintf(stderr, "writes: %zu retries: %zu\nend: error\n", writes, retries);
            return 1;
        }
    }
    fprintf(stderr, "writes: %zu retries: %zu\n", writes, retries);

    /* Read as curl does: poll the socket only when OpenSSL says it holds
     * nothing, one SSL_read per wakeup. */
    char *buf = malloc((size_t)read_size), *pbuf = malloc((size_t)read_size);
    size_t n = 0, cap = 1 << 16;
    char *out = malloc(cap);
    if (!buf || !pbuf || !out) return 1;
    for (;;) {
        if (SSL_pending(ssl) == 0 && !SSL_has_pending(ssl) && wait_fd(fd, POLLIN, 10000) == 0) {
            fwrite(out, 1, n, stdout);
            fprintf(stderr, "end: stalled\n");
            return 4;
        }
        int pk = 0;
        if (peek) {
            pk = SSL_peek(ssl, pbuf, read_size);
            if (pk <= 0) {
                int e = SSL_get_error(ssl, pk);
                if (e == SSL_ERROR_WANT_READ) continue;
                pk = 0; /* the read below reports the end */
            }
        }
        int r = SSL_read(ssl, buf, read_size);
        if (peek && pk > 0 && (r != pk || memcmp(buf, pbuf, (size_t)r) != 0)) {
            fprintf(stderr, "end: peek and read disagree\n");
            return 5;
        }
        if (r > 0) {
            if (n + (size_t)r > cap) {
                while (n + (size_t)r > cap) cap *= 2;
                char *q = realloc(out, cap);
                if (!q) return 1;
                out = q;
            }
            memcpy(out + n, buf, (size_t)r);
            n += (size_t)r;
            if (complete(out, n)) {
                fwrite(out, 1, n, stdout);
                fprintf(stderr, "end: complete\n");
                return 0;
            }
            continue;
        }
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ) continue;
        if (e == SSL_ERROR_WANT_WRITE) {
            wait_fd(fd, POLLOUT, 10000);
            continue;
        }
        fwrite(out, 1, n, stdout);
        if (e == SSL_ERROR_ZERO_RETURN) {
            fprintf(stderr, "end: clean close\n");
            return 0;
        }
        ERR_print_errors_fp(stderr);
        fprintf(stderr, "end: %s\n",
                e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL ? "unexpected eof" : "error");
        return 2;
    }
}

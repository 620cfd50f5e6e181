/* client_openssl.c: a raw OpenSSL HTTPS client of the most naive kind: it
 * connects, verifies the server with a CA file, offers ALPN h2,http/1.1 (as
 * curl does), writes one HTTP/1.1 request with Connection: close, then reads
 * with a tiny buffer until the server closes and prints every byte it read
 * (status line, headers, chunked framing and all) on stdout.  It stands for
 * hand-written TLS clients airlock must handle; it knows nothing of airlock.
 *
 *   client_openssl [options] PORT [PATH]
 *     --host NAME          SNI and Host header, verified name (default localhost)
 *     --cacert FILE        CA certificate to trust (required)
 *     -d JSON | -d @FILE   POST this body (default: GET)
 *     -H "Name: value"     extra header (repeatable)
 *     --alpn LIST          ALPN offer, comma-separated (default h2,http/1.1; "" for none)
 *     --read-size N        bytes per SSL_read (default 1)
 *     --write-size N       write the request in pieces of N bytes (default: headers, then body)
 *     --ex                 use SSL_write_ex/SSL_read_ex instead of SSL_write/SSL_read
 * stderr gets "alpn: <protocol>" and a final "closed: clean|unexpected eof|error".
 * Exit status: 0 when the server closed cleanly (close_notify), 2 on an
 * unexpected EOF, 3 when the server chose h2 (this client only speaks
 * HTTP/1.1), 1 on any other error. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
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
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    rewind(f);
    char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* ALPN wire format from "a,b": length-prefixed names.  Returns the length. */
static size_t alpn_wire(const char *list, unsigned char *out, size_t cap)
{
    size_t n = 0;
    while (*list) {
        const char *end = strchr(list, ',');
        size_t len = end ? (size_t)(end - list) : strlen(list);
        if (len == 0 || len > 255 || n + 1 + len > cap) break;
        out[n++] = (unsigned char)len;
        memcpy(out + n, list, len);
        n += len;
        list += len + (end ? 1 : 0);
    }
    return n;
}

static int write_all(SSL *ssl, const char *p, size_t len, size_t piece, int ex)
{
    while (len > 0) {
        size_t n = piece && piece < len ? piece : len;
        size_t done = 0;
        int r;
        if (ex) {
            r = SSL_write_ex(ssl, p, n, &done);
        } else {
            r = SSL_write(ssl, p, (int)n);
            done = r > 0 ? (size_t)r : 0;
        }
        if (r <= 0) return -1;
        p += done;
        len -= done;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: client_openssl --cacert F [--host H] [-d JSON|@FILE] [-H HDR]... "
                    "[--alpn LIST] [--read-size N] [--write-size N] [--ex] PORT [PATH]\n");
    return 1;
}

int main(int argc, char **argv)
{
    const char *host = "localhost", *cacert = NULL, *alpn = "h2,http/1.1", *path = "/";
    const char *headers[MAX_HEADERS];
    int nheaders = 0, port = 0, ex = 0;
    size_t read_size = 1, write_size = 0, body_len = 0;
    char *body = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--host") && more)
            host = argv[++i];
        else if (!strcmp(a, "--cacert") && more)
            cacert = argv[++i];
        else if (!strcmp(a, "--alpn") && more)
            alpn = argv[++i];
        else if (!strcmp(a, "--read-size") && more)
            read_size = (size_t)atol(argv[++i]);
        else if (!strcmp(a, "--write-size") && more)
            write_size = (size_t)atol(argv[++i]);
        else if (!strcmp(a, "--ex"))
            ex = 1;
        else if (!strcmp(a, "-H") && more && nheaders < MAX_HEADERS)
            headers[nheaders++] = argv[++i];
        else if (!strcmp(a, "-d") && more) {
            const char *v = argv[++i];
            if (v[0] == '@') {
                body = read_file(v + 1, &body_len);
                if (!body) {
                    fprintf(stderr, "client_openssl: cannot read %s\n", v + 1);
                    return 1;
                }
            } else {
                body = strdup(v);
                body_len = strlen(v);
            }
        } else if (a[0] == '-')
            return usage();
        else if (!port)
            port = atoi(a);
        else
            path = a;
    }
    if (!port || !cacert || read_size == 0 || read_size > (1 << 20)) return usage();

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1) {
        fprintf(stderr, "client_openssl: cannot load CA %s\n", cacert);
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    unsigned char wire[256];
    size_t wire_len = alpn_wire(alpn, wire, sizeof wire);
    if (wire_len && SSL_CTX_set_alpn_protos(ctx, wire, (unsigned)wire_len) != 0) {
        fprintf(stderr, "client_openssl: cannot set ALPN\n");
        return 1;
    }

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "client_openssl: connect: %s\n", strerror(errno));
        return 1;
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, host);
    SSL_set1_host(ssl, host);
    if (SSL_connect(ssl) != 1) {
        fprintf(stderr, "client_openssl: TLS handshake failed\n");
        ERR_print_errors_fp(stderr);
        return 1;
    }
    const unsigned char *proto = NULL;
    unsigned proto_len = 0;
    SSL_get0_alpn_selected(ssl, &proto, &proto_len);
    fprintf(stderr, "alpn: %.*s\n", (int)proto_len, proto_len ? (const char *)proto : "none");
    if (proto_len == 2 && memcmp(proto, "h2", 2) == 0) {
        fprintf(stderr, "client_openssl: server chose h2; this client only speaks HTTP/1.1\n");
        return 3;
    }

    char head[8192];
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: client_openssl\r\n"
                      "Accept: */*\r\nConnection: close\r\n",
                      body ? "POST" : "GET", path, host);
    int has_ct = 0;
    for (int i = 0; i < nheaders && hl < (int)sizeof head; i++) {
        if (strncasecmp(headers[i], "content-type:", 13) == 0) has_ct = 1;
        hl += snprintf(head + hl, sizeof head - (size_t)hl, "%s\r\n", headers[i]);
    }
    if (body && hl < (int)sizeof head)
        hl += snprintf(head + hl, sizeof head - (size_t)hl, "%sContent-Length: %zu\r\n",
                       has_ct ? "" : "Content-Type: application/json\r\n", body_len);
    if (hl < (int)sizeof head) hl += snprintf(head + hl, sizeof head - (size_t)hl, "\r\n");
    if (hl >= (int)sizeof head) {
        fprintf(stderr, "client_openssl: headers too long\n");
        return 1;
    }
    if (write_all(ssl, head, (size_t)hl, write_size, ex) != 0 ||
        (body && write_all(ssl, body, body_len, write_size, ex) != 0)) {
        fprintf(stderr, "client_openssl: write failed\n");
        ERR_print_errors_fp(stderr);
        return 1;
    }

    char *buf = malloc(read_size);
    int status = 1;
    for (;;) {
        size_t got = 0;
        int r;
        if (ex) {
            r = SSL_read_ex(ssl, buf, read_size, &got);
        } else {
            r = SSL_read(ssl, buf, (int)read_size);
            got = r > 0 ? (size_t)r : 0;
        }
        if (r > 0) {
            fwrite(buf, 1, got, stdout);
            continue;
        }
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) {
            fprintf(stderr, "closed: clean\n");
            status = 0;
        } else if (e == SSL_ERROR_SYSCALL ||
                   (e == SSL_ERROR_SSL &&
                    ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
            fprintf(stderr, "closed: unexpected eof\n");
            status = 2;
        } else {
            fprintf(stderr, "closed: error %d\n", e);
            ERR_print_errors_fp(stderr);
        }
        break;
    }
    fflush(stdout);
    free(buf);
    free(body);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    return status;
}

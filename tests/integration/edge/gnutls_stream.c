/* gnutls_stream.c: a GnuTLS client that asks for a streamed chat completion
 * (OpenAI SSE, the mock's scenario TEXT+crawl: one event every 200 ms) and
 * reads the reply to its end, noting when each piece came.
 *   gnutls_stream PORT CA TEXT block|poll [MS]
 * block: a blocking socket, gnutls_record_recv waits.  poll: a non-blocking
 * socket, as an event loop (and wget) reads: when GnuTLS has nothing
 * pending, it polls the socket for MS ms at most (its read timeout, default
 * 3000; a longer wait ends the read) and reads again on GNUTLS_E_AGAIN.
 * stdout: one record per read that returned bytes, "T N\n" (T seconds since
 * the request went out) followed by the N bytes, then "END CODE\n" (0 the
 * end of the stream, -1000 the read timeout, else the GnuTLS error). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: gnutls_stream PORT CA TEXT block|poll [MS]\n");
        return 2;
    }
    int nb = !strcmp(argv[4], "poll"), ms = argc > 5 ? atoi(argv[5]) : 3000;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((unsigned short)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return perror("connect"), 1;
    gnutls_certificate_credentials_t cred;
    gnutls_certificate_allocate_credentials(&cred);
    gnutls_certificate_set_x509_trust_file(cred, argv[2], GNUTLS_X509_FMT_PEM);
    gnutls_session_t s;
    gnutls_init(&s, GNUTLS_CLIENT);
    gnutls_server_name_set(s, GNUTLS_NAME_DNS, "localhost", 9);
    gnutls_set_default_priority(s);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
    gnutls_session_set_verify_cert(s, "localhost", 0);
    gnutls_transport_set_int(s, fd);
    int r;
    do r = gnutls_handshake(s);
    while (r < 0 && !gnutls_error_is_fatal(r));
    if (r < 0) return printf("handshake: %s\n", gnutls_strerror(r)), 1;

    char body[256], req[1024], buf[16384];
    int bl = snprintf(body, sizeof body,
                      "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":"
                      "\"user\",\"content\":\"hi mock:%s+crawl\"}]}",
                      argv[3]);
    int n = snprintf(req, sizeof req,
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                     "application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
                     bl, body);
    if (gnutls_record_send(s, req, (size_t)n) != n) return printf("send failed\n"), 1;
    double t0 = now();
    if (nb) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    ssize_t k;
    for (;;) {
        if (nb && gnutls_record_check_pending(s) == 0) {
            struct pollfd pf = {fd, POLLIN, 0};
            if (poll(&pf, 1, ms) == 0) {
                k = -1000;
                break;
            }
        }
        k = gnutls_record_recv(s, buf, sizeof buf);
        if (k == GNUTLS_E_AGAIN || k == GNUTLS_E_INTERRUPTED) continue;
        if (k <= 0) break;
        printf("%.3f %zd\n", now() - t0, k);
        fwrite(buf, 1, (size_t)k, stdout);
    }
    printf("END %zd\n", k);
    gnutls_deinit(s);
    close(fd);
    return 0;
}

/* stdio_client.c: a plain-HTTP client of the old C kind, which wraps its
 * connected socket in stdio streams and talks through them (fprintf, fflush,
 * fgets), as hand-written clients and legacy binaries do.  It knows nothing
 * of airlock.
 *
 *   stdio_client MODE PORT PATH BODY
 *     MODE rw     one stream, fdopen(fd, "r+")
 *     MODE split  fdopen(fd, "r") to read, fdopen(dup(fd), "w") to write
 * Writes one POST with Connection: close, prints every line of the reply
 * (status line, headers, body) on stdout. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: stdio_client rw|split PORT PATH BODY\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(argv[2]));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return perror("connect"), 1;
    int split = !strcmp(argv[1], "split");
    FILE *in = fdopen(fd, split ? "r" : "r+");
    FILE *out = split ? fdopen(dup(fd), "w") : in;
    if (!in || !out) return perror("fdopen"), 1;
    fprintf(out,
            "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
            argv[3], strlen(argv[4]), argv[4]);
    if (fflush(out) != 0) return perror("fflush"), 1;
    char line[65536];
    while (fgets(line, sizeof line, in)) fputs(line, stdout);
    if (split) fclose(out);
    fclose(in);
    return 0;
}

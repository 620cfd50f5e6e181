/* cli_verify.c: `airlock verify`: checks model weight files against a
 * manifest of known-good SHA-256 digests (what the shim enforces at open
 * when AIRLOCK_WEIGHTS is set), or prints a manifest for files trusted now.
 * Exit status: 0 every file verified, 1 some file not, 2 usage or manifest
 * error. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "weights.h"

static int verify_usage(FILE *f)
{
    fprintf(f, "usage: airlock verify --manifest MANIFEST FILE...\n"
               "       airlock verify --print FILE...   (writes a manifest: sha256sum format)\n");
    return f == stderr ? 2 : 0;
}

/* 0 and the digest, or -1 after printing why */
static int digest_of(const char *path, unsigned char d[32])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "airlock verify: %s: %s\n", path, strerror(errno));
        return -1;
    }
    al_code rc = al_weights_hash_fd(fd, d);
    int e = errno;
    close(fd);
    if (rc != AL_OK) {
        fprintf(stderr, "airlock verify: %s: %s\n", path,
                rc == AL_EIO ? strerror(e) : al_strerror(rc));
        return -1;
    }
    return 0;
}

int al_cli_verify(int argc, char **argv)
{
    const char *manifest = NULL;
    int print = 0, i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        } else if (!strcmp(a, "--manifest")) {
            if (i + 1 >= argc) return verify_usage(stderr);
            manifest = argv[++i];
        } else if (!strncmp(a, "--manifest=", 11)) {
            manifest = a + 11;
        } else if (!strcmp(a, "--print")) {
            print = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            return verify_usage(stdout);
        } else if (a[0] == '-') {
            fprintf(stderr, "airlock verify: unknown option '%s'\n", a);
            return verify_usage(stderr);
        } else {
            break;
        }
    }
    if (i >= argc || (!manifest) == !print) return verify_usage(stderr);
    al_weights *w = NULL;
    if (manifest) {
        char err[512];
        w = al_weights_load(manifest, err, sizeof err);
        if (!w) {
            fprintf(stderr, "airlock verify: %s\n", err);
            return 2;
        }
    }
    int bad = 0;
    for (; i < argc; i++) {
        unsigned char d[32];
        char hex[65];
        if (digest_of(argv[i], d) != 0) {
            bad = 1;
            continue;
        }
        al_weights_hex(d, hex);
        if (print) {
            /* as sha256sum writes it: a name with a newline, carriage
             * return or backslash is escaped and its line starts with '\' */
            const char *nm = argv[i];
            if (!strpbrk(nm, "\n\r\\")) {
                printf("%s  %s\n", hex, nm);
                continue;
            }
            printf("\\%s  ", hex);
            for (; *nm; nm++) {
                if (*nm == '\n')
                    fputs("\\n", stdout);
                else if (*nm == '\r')
                    fputs("\\r", stdout);
                else if (*nm == '\\')
                    fputs("\\\\", stdout);
                else
                    putchar(*nm);
            }
            putchar('\n');
            continue;
        }
        const char *name = NULL;
        if (al_weights_known(w, d, &name)) {
            printf("%s: OK (%s)\n", argv[i], name);
        } else {
            printf("%s: NOT IN MANIFEST (sha256 %s)\n", argv[i], hex);
            bad = 1;
        }
    }
    al_weights_free(w);
    return bad;
}

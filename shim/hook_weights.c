/* hook_weights.c: verification of model weight files at open.  When
 * AIRLOCK_WEIGHTS names a manifest (sha256sum format), a file opened for
 * reading whose name ends in a weight extension (weights.h) is hashed
 * through the descriptor just opened (no window between check and use of
 * the path) and handed to the host only when its SHA-256 is in the
 * manifest; otherwise the open fails with EACCES, one "airlock:" line goes
 * to stderr and one "weights" line to the audit log.  AIRLOCK_MODE=monitor
 * lets it through and says so; AIRLOCK_FAIL=open lets it through when the
 * manifest cannot be read.  Without AIRLOCK_WEIGHTS every hook is one
 * branch in front of the real call. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hook.h"
#include "weights.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int configured;       /* AIRLOCK_WEIGHTS is set */
static al_weights *manifest; /* NULL when it could not be loaded */
static int monitor, fail_open;
static const char *exts; /* AIRLOCK_WEIGHTS_EXT, or NULL: the default list */
static char manifest_err[256];

static void init(void)
{
    al_in_hook++;
    const char *p = getenv("AIRLOCK_WEIGHTS");
    if (p && *p) {
        configured = 1;
        al_hook_env_modes(&monitor, &fail_open);
        const char *e = getenv("AIRLOCK_WEIGHTS_EXT");
        exts = e && *e ? e : NULL;
        manifest = al_weights_load(p, manifest_err, sizeof manifest_err);
        if (!manifest)
            al_hook_warn("cannot load the weights manifest: %s (%s)", manifest_err,
                         fail_open ? "weight files load unverified: AIRLOCK_FAIL=open"
                                   : "every weight file is refused");
    }
    al_in_hook--;
}

static int wanted(const char *path, int flags)
{
    if (al_in_hook) return 0; /* the shim's own opens (and init's manifest read) */
    pthread_once(&once, init);
    /* read-write opens read the file too (numpy.memmap's and h5py's
     * default "r+"); creating or truncating one is writing, not loading */
    int acc = flags & O_ACCMODE;
    return configured && path && (acc == O_RDONLY || acc == O_RDWR) &&
           !(flags & (O_PATH | O_DIRECTORY | O_CREAT | O_TRUNC)) &&
           al_weights_is_weight_name(path, exts);
}

static void audit(const char *path, const unsigned char *digest, const char *verdict,
                  const char *reason)
{
    const al_ctx *ctx = al_hook_ctx();
    if (!ctx || ctx->audit_fd < 0) return;
    al_buf b = {0};
    if (al_weights_audit_format(path, digest, verdict, monitor ? "monitor" : "enforce", reason,
                                &b) == AL_OK) {
        int saved = errno;
        syscall(SYS_write, ctx->audit_fd, b.data, b.len);
        errno = saved;
    }
    al_buf_free(&b);
}

/* 0: hand fd to the host; -1: refuse it (errno set to EACCES). */
static int verify(int fd, const char *path, int flags)
{
    al_in_hook++;
    int saved = errno, allow = 1;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) goto out; /* a device or pipe: not a file */
    if ((flags & O_ACCMODE) == O_RDWR && st.st_size == 0)
        goto out; /* being written: nothing to load */
    unsigned char head[8];
    ssize_t hn = pread(fd, head, sizeof head, 0);
    if (!al_weights_content_is_weights(path, head, hn > 0 ? (size_t)hn : 0)) goto out;
    if (!manifest) {
        allow = fail_open || monitor;
        al_hook_warn("%s weight file %s: the manifest could not be read",
                     allow ? "loading unverified" : "refused", base);
        audit(path, NULL, allow ? "unverified" : "refused", "manifest unreadable");
        goto out;
    }
    unsigned char d[32];
    int known = 0;
    /* the status-change time, not the modification time: a write moves
     * both, but utime() can put mtime back and never ctime */
    long long mt = (long long)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
    if (!al_weights_memo_get(st.st_dev, st.st_ino, st.st_size, mt, d, &known)) {
        if (al_weights_hash_fd(fd, d) != AL_OK) {
            allow = fail_open || monitor;
            al_hook_warn("%s weight file %s: it could not be read to verify it",
                         allow ? "loading unverified" : "refused", base);
            audit(path, NULL, allow ? "unverified" : "refused", "read error");
            goto out;
        }
        known = al_weights_known(manifest, d, NULL);
        al_weights_memo_put(st.st_dev, st.st_ino, st.st_size, mt, d, known);
    }
    if (known) {
        al_hook_debug("weight file %s verified", base);
        audit(path, d, "allowed", NULL);
        goto out;
    }
    char hex[65];
    al_weights_hex(d, hex);
    allow = monitor;
    al_hook_warn("%s weight file %s: sha256 %s is not in the manifest",
                 monitor ? "would refuse (monitor mode)" : "refused", base, hex);
    audit(path, d, monitor ? "unverified" : "refused", "sha256 not in manifest");
out:
    al_in_hook--;
    errno = allow ? saved : EACCES;
    return allow ? 0 : -1;
}

static int refuse_fd(int fd, const char *path, int flags)
{
    if (fd < 0 || !wanted(path, flags)) return fd;
    if (verify(fd, path, flags) == 0) return fd;
    syscall(SYS_close, fd); /* the host never saw it: no hook needs to know */
    errno = EACCES;
    return -1;
}

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define REAL(type, name, ...)                                                                      \
    static type (*real)(__VA_ARGS__);                                                              \
    if (!real) real = (type(*)(__VA_ARGS__))al_hook_real(#name, (void *)name, NULL);               \
    if (!real) {                                                                                   \
        errno = ENOSYS;                                                                            \
        return (type)-1;                                                                           \
    }

AL_EXPORT int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    REAL(int, open, const char *, int, ...)
    return refuse_fd(real(path, flags, mode), path, flags);
}

AL_EXPORT int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    REAL(int, open64, const char *, int, ...)
    return refuse_fd(real(path, flags, mode), path, flags);
}

AL_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    REAL(int, openat, int, const char *, int, ...)
    return refuse_fd(real(dirfd, path, flags, mode), path, flags);
}

AL_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    REAL(int, openat64, int, const char *, int, ...)
    return refuse_fd(real(dirfd, path, flags, mode), path, flags);
}

/* the _FORTIFY_SOURCE entry points a program built with it may call */
AL_EXPORT int __open_2(const char *path, int flags)
{
    REAL(int, __open_2, const char *, int)
    return refuse_fd(real(path, flags), path, flags);
}

AL_EXPORT int __open64_2(const char *path, int flags)
{
    REAL(int, __open64_2, const char *, int)
    return refuse_fd(real(path, flags), path, flags);
}

AL_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    REAL(int, __openat_2, int, const char *, int)
    return refuse_fd(real(dirfd, path, flags), path, flags);
}

AL_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    REAL(int, __openat64_2, int, const char *, int)
    return refuse_fd(real(dirfd, path, flags), path, flags);
}

/* the open(2) flags of an fopen mode: "r" reads, "r+" reads and writes,
 * "w" and "a" create */
static int fopen_flags(const char *mode)
{
    if (!mode || mode[0] != 'r') return O_WRONLY | O_CREAT;
    return strchr(mode, '+') ? O_RDWR : O_RDONLY;
}

static FILE *refuse_file(FILE *f, const char *path, const char *mode)
{
    if (!f || !wanted(path, fopen_flags(mode))) return f;
    if (verify(fileno(f), path, fopen_flags(mode)) == 0) return f;
    al_in_hook++;
    fclose(f);
    al_in_hook--;
    errno = EACCES;
    return NULL;
}

AL_EXPORT FILE *fopen(const char *path, const char *mode)
{
    static FILE *(*real)(const char *, const char *);
    if (!real)
        real = (FILE * (*)(const char *, const char *)) al_hook_real("fopen", (void *)fopen, NULL);
    if (!real) {
        errno = ENOSYS;
        return NULL;
    }
    return refuse_file(real(path, mode), path, mode);
}

AL_EXPORT FILE *fopen64(const char *path, const char *mode)
{
    static FILE *(*real)(const char *, const char *);
    if (!real)
        real =
            (FILE * (*)(const char *, const char *)) al_hook_real("fopen64", (void *)fopen64, NULL);
    if (!real) {
        errno = ENOSYS;
        return NULL;
    }
    return refuse_file(real(path, mode), path, mode);
}

/* freopen reopens a stream (often stdin) on a path: the same check */
AL_EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream)
{
    static FILE *(*real)(const char *, const char *, FILE *);
    if (!real)
        real = (FILE * (*)(const char *, const char *, FILE *))
            al_hook_real("freopen", (void *)freopen, NULL);
    if (!real) {
        errno = ENOSYS;
        return NULL;
    }
    return refuse_file(real(path, mode, stream), path, mode);
}

AL_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
    static FILE *(*real)(const char *, const char *, FILE *);
    if (!real)
        real = (FILE * (*)(const char *, const char *, FILE *))
            al_hook_real("freopen64", (void *)freopen64, NULL);
    if (!real) {
        errno = ENOSYS;
        return NULL;
    }
    return refuse_file(real(path, mode, stream), path, mode);
}

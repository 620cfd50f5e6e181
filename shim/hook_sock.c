/* hook_sock.c: the plain-socket transport.  A TCP socket (AF_INET/AF_INET6,
 * SOCK_STREAM) that the program connect()s is looked at once, on its first
 * write: an HTTP request (any common method) goes through the exchange
 * (plain-HTTP LLM servers such as Ollama, vLLM, llama.cpp); a first write
 * too short to tell is held until the next; a TLS ClientHello written by a
 * TLS stack airlock cannot see, naming an LLM API host, is refused or
 * recorded per AIRLOCK_FAIL; everything else is passed through for good.
 * On a followed connection, the bodies of requests and replies that are not
 * LLM calls go straight between the program's buffer and the socket.  Every other
 * descriptor costs one byte-table lookup per call: never buffered, never
 * delayed, never a system call of ours. */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "audit.h"
#include "hook.h"
#include "tls_sni.h"

#define HOOK AL_EXPORT
#define FD_CAP 65536       /* descriptors above this are never looked at */
#define SEND_WAIT_MS 30000 /* longest wait for a full socket buffer to drain */
#define PEEK_CAP 16384     /* bytes of a first gathered write we inspect */
#define RBUF_SIZE 65536
#define DIRECT_MIN 4096 /* host reads this large take pass-through body bytes unbuffered */

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef ssize_t (*send_fn)(int, const void *, size_t, int);
typedef ssize_t (*recv_fn)(int, void *, size_t, int);
typedef ssize_t (*sendto_fn)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
typedef ssize_t (*recvfrom_fn)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);
typedef ssize_t (*recvmsg_fn)(int, struct msghdr *, int);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*readv_fn)(int, const struct iovec *, int);
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*close_fn)(int);
typedef int (*poll_fn)(struct pollfd *, nfds_t, int);

HOOK ssize_t write(int fd, const void *buf, size_t n);
HOOK ssize_t read(int fd, void *buf, size_t n);
HOOK ssize_t send(int fd, const void *buf, size_t n, int flags);
HOOK ssize_t recv(int fd, void *buf, size_t n, int flags);
HOOK ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *a,
                    socklen_t al);
HOOK ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *a, socklen_t *al);
HOOK ssize_t sendmsg(int fd, const struct msghdr *m, int flags);
HOOK ssize_t recvmsg(int fd, struct msghdr *m, int flags);
HOOK ssize_t writev(int fd, const struct iovec *iov, int cnt);
HOOK ssize_t readv(int fd, const struct iovec *iov, int cnt);
HOOK int connect(int fd, const struct sockaddr *a, socklen_t al);
HOOK int close(int fd);
HOOK int shutdown(int fd, int how);
HOOK int dup(int oldfd);
HOOK int dup2(int oldfd, int newfd);
HOOK int dup3(int oldfd, int newfd, int flags);
HOOK FILE *fdopen(int fd, const char *mode);
HOOK int poll(struct pollfd *fds, nfds_t n, int timeout);
HOOK int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask);
HOOK int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv);
HOOK int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
HOOK int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout);
HOOK int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *m);

/* Real functions, resolved on first use (libc is always next in line). */
static void *real_p[23];
enum {
    R_WRITE,
    R_READ,
    R_SEND,
    R_RECV,
    R_SENDTO,
    R_RECVFROM,
    R_SENDMSG,
    R_RECVMSG,
    R_WRITEV,
    R_READV,
    R_CONNECT,
    R_CLOSE,
    R_POLL,
    R_PPOLL,
    R_SELECT,
    R_EPCTL,
    R_EPWAIT,
    R_EPPWAIT,
    R_DUP2,
    R_DUP3,
    R_SHUTDOWN,
    R_DUP,
    R_FDOPEN
};
static const char *const real_name[23] = {
    "write",      "read",        "send",    "recv",  "sendto",   "recvfrom", "sendmsg", "recvmsg",
    "writev",     "readv",       "connect", "close", "poll",     "ppoll",    "select",  "epoll_ctl",
    "epoll_wait", "epoll_pwait", "dup2",    "dup3",  "shutdown", "dup",      "fdopen"};

static void *real(int i, void *self)
{
    void *p = __atomic_load_n(&real_p[i], __ATOMIC_ACQUIRE);
    if (!p) {
        p = al_hook_real(real_name[i], self, NULL);
        __atomic_store_n(&real_p[i], p, __ATOMIC_RELEASE);
    }
    return p;
}
#define REAL(i, type, self) ((type)real(i, (void *)(self)))

/* Per-descriptor state.  WATCH: a connected TCP socket not written yet;
 * TRACK: an HTTP connection the exchange handles; REFUSED: a bypassing TLS
 * connection to an LLM host, every further write fails; HOLD: the first
 * write was a few bytes that may begin a request method (held below);
 * SOCKS: the program is opening a tunnel through a SOCKS proxy (its
 * handshake passes as it is); TUNNEL: the tunnel is asked for, and the
 * program's next write, the first through it, is judged as a first write. */
enum { S_NONE = 0, S_WATCH, S_TRACK, S_REFUSED, S_HOLD, S_SOCKS, S_TUNNEL };
static unsigned char fdstate[FD_CAP];

typedef struct {
    pthread_mutex_t mu;
    int refs; /* the table's reference + one per call using it (conns_mu) */
    al_conn *c;
    al_buf in; /* what the host may read now */
    int eof;
    char *rbuf;
    al_buf out;     /* for the server, not yet sent (the host's write failed EAGAIN/EINTR) */
    size_t out_off; /* sent so far of out */
    size_t wpend;   /* host bytes that failed write took: its retry completes it */
    dev_t dev;      /* the socket's identity (fstat), to notice its number reused */
    ino_t ino;
    al_idle idle; /* a slow stream's held text (hook.h) */
} sconn;
static sconn *conns[FD_CAP];
static int nconns; /* connection records alive: 0 keeps poll/select/epoll free */
/* Guards conns[] slots and refs: a thread blocked in a real recv on a record
 * keeps it alive while another thread closes the descriptor.  Taken only for
 * descriptors that have a record, never across real I/O. */
static pthread_mutex_t conns_mu = PTHREAD_MUTEX_INITIALIZER;

/* Tracked descriptors, for epoll_wait to find the ones holding bytes.  The
 * list grows as needed; when it cannot, live_lost is set and epoll_wait looks
 * at every connection record instead, so readiness is never missed. */
static int *live_fds;
static int nlive, live_cap, live_lost;
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;

/* epoll registrations of watched descriptors (epoll_ctl), so bytes held for
 * the host can be reported to the event loop that waits for them. */
#define EREG_MAX 4
typedef struct {
    int n;
    struct {
        int epfd;
        uint32_t events;
        epoll_data_t data;
    } r[EREG_MAX];
} eregs_t;
static eregs_t *eregs[FD_CAP];
static pthread_mutex_t ereg_mu = PTHREAD_MUTEX_INITIALIZER;

/* A fork while another thread held one of the table locks leaves it locked
 * in the child, which has only the forking thread: start unlocked. */
/* First writes too short to tell what the connection is (a prefix of a
 * request method token, at most HOLD_CAP bytes): held here and reported as
 * written, so nothing reaches the server before it is decided; the rest of
 * the request decides.  A read, a wait for readability or a close sends
 * them on first, so nothing stalls. */
#define HOLD_CAP 8 /* longest method token plus its space */
#define MAX_HELD 64
static struct {
    int fd;
    size_t len;
    char b[HOLD_CAP];
} prefixes[MAX_HELD];
static int nprefixes; /* read without the lock only as a hint (0: nothing held) */
static pthread_mutex_t prefix_mu = PTHREAD_MUTEX_INITIALIZER;

static void prefix_flush_waited(int fd);

/* A fork with first-write bytes held would leave them held in both
 * processes: whichever closed, read or wrote next would send them, perhaps
 * both, and the server would see them twice.  They go to the server once,
 * before the fork (unscreened, as when the host waits for a reply). */
static void sock_atfork_prepare(void)
{
    if (!__atomic_load_n(&nprefixes, __ATOMIC_RELAXED) || al_in_hook) return;
    al_in_hook++;
    for (int guard = 0; guard < MAX_HELD; guard++) {
        int fd = -1;
        pthread_mutex_lock(&prefix_mu);
        if (nprefixes) fd = prefixes[0].fd;
        pthread_mutex_unlock(&prefix_mu);
        if (fd < 0) break;
        prefix_flush_waited(fd);
    }
    al_in_hook--;
}

static void sock_atfork_child(void)
{
    pthread_mutex_init(&prefix_mu, NULL);
    pthread_mutex_init(&conns_mu, NULL);
    pthread_mutex_init(&live_mu, NULL);
    pthread_mutex_init(&ereg_mu, NULL);
}

__attribute__((constructor)) static void sock_init(void)
{
    pthread_atfork(sock_atfork_prepare, NULL, sock_atfork_child);
}

/* The record of fd with a reference taken, or NULL.  conn_put drops it. */
static sconn *conn_get(int fd)
{
    if (!__atomic_load_n(&conns[fd], __ATOMIC_ACQUIRE)) return NULL;
    pthread_mutex_lock(&conns_mu);
    sconn *s = conns[fd];
    if (s) s->refs++;
    pthread_mutex_unlock(&conns_mu);
    return s;
}

/* Drops a reference; the last one frees the record (which writes its audit
 * line). */
static void conn_put(sconn *s)
{
    pthread_mutex_lock(&conns_mu);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&conns_mu);
    if (!last) return;
    al_in_hook++;
    al_conn_free(s->c);
    al_in_hook--;
    al_buf_free(&s->in);
    al_buf_free(&s->out);
    free(s->rbuf);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void live_add(int fd)
{
    pthread_mutex_lock(&live_mu);
    if (nlive == live_cap) {
        int cap = live_cap ? live_cap * 2 : 64;
        int *p = realloc(live_fds, (size_t)cap * sizeof *p);
        if (p) {
            live_fds = p;
            live_cap = cap;
        }
    }
    if (nlive < live_cap)
        live_fds[nlive++] = fd;
    else
        live_lost = 1;
    pthread_mutex_unlock(&live_mu);
}

static void live_del(int fd)
{
    pthread_mutex_lock(&live_mu);
    for (int i = 0; i < nlive; i++)
        if (live_fds[i] == fd) {
            live_fds[i] = live_fds[--nlive];
            break;
        }
    pthread_mutex_unlock(&live_mu);
}

static inline int watched(int fd)
{
    return (unsigned)fd < FD_CAP && __atomic_load_n(&fdstate[fd], __ATOMIC_RELAXED) != S_NONE;
}

/* fd has a state or a connection record (close and connect clear it). */
static int known(int fd)
{
    return (unsigned)fd < FD_CAP && (__atomic_load_n(&fdstate[fd], __ATOMIC_RELAXED) != S_NONE ||
                                     __atomic_load_n(&conns[fd], __ATOMIC_RELAXED) != NULL ||
                                     __atomic_load_n(&eregs[fd], __ATOMIC_RELAXED) != NULL);
}

static void set_state(int fd, int s)
{
    __atomic_store_n(&fdstate[fd], (unsigned char)s, __ATOMIC_RELAXED);
}

/* Takes the bytes held for fd into out (HOLD_CAP bytes); returns how many. */
static size_t prefix_take(int fd, char *out)
{
    size_t n = 0;
    pthread_mutex_lock(&prefix_mu);
    for (int i = 0; i < nprefixes; i++)
        if (prefixes[i].fd == fd) {
            n = prefixes[i].len;
            memcpy(out, prefixes[i].b, n);
            prefixes[i] = prefixes[nprefixes - 1];
            __atomic_store_n(&nprefixes, nprefixes - 1, __ATOMIC_RELAXED);
            break;
        }
    pthread_mutex_unlock(&prefix_mu);
    return n;
}

/* Holds n (<= HOLD_CAP) bytes for fd.  Returns 0, or -1 when the table is
 * full (the caller decides now instead). */
static int prefix_put(int fd, const char *p, size_t n)
{
    int rc = -1;
    pthread_mutex_lock(&prefix_mu);
    if (nprefixes < MAX_HELD) {
        prefixes[nprefixes].fd = fd;
        prefixes[nprefixes].len = n;
        memcpy(prefixes[nprefixes].b, p, n);
        __atomic_store_n(&nprefixes, nprefixes + 1, __ATOMIC_RELAXED);
        rc = 0;
    }
    pthread_mutex_unlock(&prefix_mu);
    return rc;
}

static int send_all(int fd, const char *p, size_t n, int flags);

/* The undecided fd is read, waited on or closed: its held bytes go to the
 * server as they came and the connection is passed through from here on.
 * Returns 0, or -1 with errno set when they could not be sent. */
static int prefix_flush(int fd, int flags)
{
    char b[HOLD_CAP];
    size_t n = prefix_take(fd, b);
    set_state(fd, S_NONE);
    if (!n) return 0;
    al_hook_debug("socket: %zu undecided bytes sent on unscreened", n);
    return send_all(fd, b, n, flags);
}

/* 1 when fd is undecided with bytes held. */
static int holding(int fd)
{
    return (unsigned)fd < FD_CAP && __atomic_load_n(&fdstate[fd], __ATOMIC_RELAXED) == S_HOLD;
}

/* The host is about to wait for fd to become readable: the server must have
 * what was written, or both sides wait. */
static void prefix_flush_waited(int fd)
{
    int e = errno;
    (void)prefix_flush(fd, MSG_DONTWAIT);
    errno = e;
}

/* Forgets fd: frees its connection (which writes its audit line). */
static void forget(int fd)
{
    if ((unsigned)fd >= FD_CAP) return;
    if (__atomic_load_n(&fdstate[fd], __ATOMIC_RELAXED) == S_HOLD) {
        char b[HOLD_CAP];
        (void)prefix_take(fd, b);
    }
    sconn *s = NULL;
    if (__atomic_load_n(&conns[fd], __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&conns_mu);
        s = conns[fd];
        __atomic_store_n(&conns[fd], NULL, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&conns_mu);
    }
    set_state(fd, S_NONE);
    if (__atomic_load_n(&eregs[fd], __ATOMIC_RELAXED)) {
        pthread_mutex_lock(&ereg_mu);
        free(eregs[fd]);
        eregs[fd] = NULL;
        pthread_mutex_unlock(&ereg_mu);
    }
    if (!s) return;
    live_del(fd);
    __atomic_sub_fetch(&nconns, 1, __ATOMIC_RELAXED);
    conn_put(s); /* a call still using it frees it when it returns */
}

/* Copies of a socket (dup, dup2, dup3) are one connection: a program that
 * writes through one copy and reads through another (a stdio stream for
 * each, fdopen(dup(fd), "w")) is followed through both.  A copy shares its
 * original's record, or, before the first write decides what the
 * connection is, its watch: the record the first write makes is then given
 * to every watched copy (adopt_copies).  Set once a watched descriptor was
 * copied, so that search costs nothing otherwise. */
static int watched_copies;

/* Installs record s on fd as well (the slot takes a reference). */
static void share_record(int fd, sconn *s)
{
    pthread_mutex_lock(&conns_mu);
    s->refs++;
    __atomic_store_n(&conns[fd], s, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&conns_mu);
    __atomic_add_fetch(&nconns, 1, __ATOMIC_RELAXED);
    live_add(fd);
    set_state(fd, S_TRACK);
}

/* newfd has just become a copy of oldfd (what airlock knew of it forgotten). */
static void share(int oldfd, int newfd)
{
    if ((unsigned)oldfd >= FD_CAP || (unsigned)newfd >= FD_CAP || oldfd == newfd) return;
    int st = __atomic_load_n(&fdstate[oldfd], __ATOMIC_RELAXED);
    if (st == S_TRACK) {
        sconn *s = conn_get(oldfd);
        if (s) {
            share_record(newfd, s);
            conn_put(s);
        }
    } else if (st == S_WATCH || st == S_REFUSED || st == S_SOCKS || st == S_TUNNEL) {
        if (st == S_WATCH) __atomic_store_n(&watched_copies, 1, __ATOMIC_RELAXED);
        set_state(newfd, st);
    }
}

/* The first write on fd made record s: the watched copies of its socket
 * (same device and inode) take it too. */
static void adopt_copies(int fd, sconn *s)
{
    if (!__atomic_load_n(&watched_copies, __ATOMIC_RELAXED)) return;
    for (int i = 0; i < FD_CAP; i++) {
        if (i == fd || __atomic_load_n(&fdstate[i], __ATOMIC_RELAXED) != S_WATCH) continue;
        struct stat st;
        if (fstat(i, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino &&
            !__atomic_load_n(&conns[i], __ATOMIC_ACQUIRE))
            share_record(i, s);
    }
}

HOOK int connect(int fd, const struct sockaddr *a, socklen_t al)
{
    connect_fn f = REAL(R_CONNECT, connect_fn, connect);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (al_hook_egress_refused(fd, a, al)) return -1; /* AIRLOCK_EGRESS */
    int rc = f(fd, a, al);
    if ((unsigned)fd >= FD_CAP || al_in_hook || !a) return rc;
    int err = errno;
    if (known(fd)) forget(fd); /* a descriptor whose close we did not see */
    /* TCP, and Unix stream sockets (a model server on a socket file: vLLM's
     * --uds, httpx's uds transport) */
    if ((a->sa_family == AF_INET || a->sa_family == AF_INET6 || a->sa_family == AF_UNIX) &&
        (rc == 0 || err == EINPROGRESS || err == EINTR || err == EAGAIN)) {
        int type = 0;
        socklen_t tl = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM)
            set_state(fd, S_WATCH);
    }
    errno = err;
    return rc;
}

HOOK int close(int fd)
{
    close_fn f = REAL(R_CLOSE, close_fn, close);
    if ((unsigned)fd < FD_CAP && !al_in_hook &&
        __atomic_load_n(&fdstate[fd], __ATOMIC_RELAXED) == S_HOLD) {
        int e = errno;
        (void)prefix_flush(fd, MSG_DONTWAIT); /* the server gets what was written */
        errno = e;
    }
    if (known(fd)) forget(fd);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    return f(fd);
}

/* shutdown(SHUT_WR) says the request is complete: the server must have the
 * bytes held from a short first write, or it waits for them forever. */
HOOK int shutdown(int fd, int how)
{
    typedef int (*fn)(int, int);
    fn f = REAL(R_SHUTDOWN, fn, shutdown);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (how != SHUT_RD && !al_in_hook && holding(fd)) prefix_flush_waited(fd);
    return f(fd, how);
}

/* dup2/dup3 close newfd silently: what airlock knew about it is stale, and
 * bytes held for it go to the server first, as with close.  Bytes held for
 * oldfd go first too: the program may write the rest through the copy. */
HOOK int dup2(int oldfd, int newfd)
{
    typedef int (*fn)(int, int);
    fn f = REAL(R_DUP2, fn, dup2);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (oldfd != newfd && !al_in_hook && holding(newfd)) prefix_flush_waited(newfd);
    if (oldfd != newfd && !al_in_hook && holding(oldfd)) prefix_flush_waited(oldfd);
    int rc = f(oldfd, newfd);
    if (rc >= 0 && oldfd != newfd && !al_in_hook) {
        int e = errno;
        if (known(newfd)) forget(newfd);
        share(oldfd, newfd);
        errno = e;
    }
    return rc;
}

HOOK int dup3(int oldfd, int newfd, int flags)
{
    typedef int (*fn)(int, int, int);
    fn f = REAL(R_DUP3, fn, dup3);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (oldfd != newfd && !al_in_hook && holding(newfd)) prefix_flush_waited(newfd);
    if (oldfd != newfd && !al_in_hook && holding(oldfd)) prefix_flush_waited(oldfd);
    int rc = f(oldfd, newfd, flags);
    if (rc >= 0 && oldfd != newfd && !al_in_hook) {
        int e = errno;
        if (known(newfd)) forget(newfd);
        share(oldfd, newfd);
        errno = e;
    }
    return rc;
}

HOOK int dup(int oldfd)
{
    typedef int (*fn)(int);
    fn f = REAL(R_DUP, fn, dup);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (!al_in_hook && holding(oldfd)) prefix_flush_waited(oldfd);
    int rc = f(oldfd);
    if (rc >= 0 && !al_in_hook && watched(oldfd)) {
        int e = errno;
        if (known(rc)) forget(rc);
        share(oldfd, rc);
        errno = e;
    }
    return rc;
}

/* A stdio stream over a followed socket: libc reads and writes a stream
 * with its own internal calls, which no preload sees, so the prompt a
 * program fprintf()s would go out unscreened and the reply it fgets()
 * unscrubbed.  Such a stream is made with fopencookie over the hooked read,
 * write and close (its fileno() still the socket's). */
static ssize_t cookie_read(void *c, char *buf, size_t n)
{
    return read((int)(intptr_t)c, buf, n);
}

static ssize_t cookie_write(void *c, const char *buf, size_t n)
{
    return write((int)(intptr_t)c, buf, n);
}

static int cookie_close(void *c)
{
    return close((int)(intptr_t)c);
}

HOOK FILE *fdopen(int fd, const char *mode)
{
    typedef FILE *(*fn)(int, const char *);
    fn f = REAL(R_FDOPEN, fn, fdopen);
    if (!f) {
        errno = ENOSYS;
        return NULL;
    }
    int st = watched(fd) ? __atomic_load_n(&fdstate[fd], __ATOMIC_RELAXED) : S_NONE;
    if (al_in_hook || (st != S_WATCH && st != S_HOLD && st != S_TRACK && st < S_SOCKS) || !mode ||
        fcntl(fd, F_GETFL) < 0)
        return f(fd, mode);
    cookie_io_functions_t io = {cookie_read, cookie_write, NULL, cookie_close};
    FILE *s = fopencookie((void *)(intptr_t)fd, mode, io);
    if (!s) return f(fd, mode);
    s->_fileno = fd; /* fileno() for the program's poll or select */
    return s;
}

/* 1 when fd is still a TCP socket: a descriptor closed behind our back
 * (fclose, close_range) may have been reused for a file or a pipe. */
static int still_stream_socket(int fd)
{
    int e = errno, type = 0;
    socklen_t tl = sizeof type;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int ok = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM &&
             getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
             (ss.ss_family == AF_INET || ss.ss_family == AF_INET6 || ss.ss_family == AF_UNIX);
    errno = e;
    return ok;
}

/* ---- the first write: what is this connection? ---- */

static const char *extra_hosts(void)
{
    static const char *v;
    static int done;
    if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        v = getenv("AIRLOCK_LLM_HOSTS");
        __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    }
    return v;
}

/* dl_iterate_phdr callback: stops (returns 1) at the first object other
 * than this library whose DT_NEEDED names libssl or libgnutls. */
static int needs_tls_lib(struct dl_phdr_info *info, size_t size, void *self_base)
{
    if (info->dlpi_addr == (ElfW(Addr))(uintptr_t)self_base) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC) continue;
        const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        ElfW(Addr) strtab = 0;
        for (const ElfW(Dyn) *e = d; e->d_tag != DT_NULL; e++)
            if (e->d_tag == DT_STRTAB) strtab = e->d_un.d_ptr;
        if (!strtab) return 0;
        if (strtab < info->dlpi_addr) strtab += info->dlpi_addr; /* not relocated in place */
        for (const ElfW(Dyn) *e = d; e->d_tag != DT_NULL; e++) {
            if (e->d_tag != DT_NEEDED) continue;
            const char *name = (const char *)(strtab + e->d_un.d_val);
            if (strncmp(name, "libssl.so", 9) == 0 || strncmp(name, "libgnutls.so", 12) == 0)
                return 1;
        }
        return 0;
    }
    return 0;
}

/* 1 when the ClientHello comes from a TLS library whose records airlock
 * reads: written by OpenSSL (libssl/libcrypto) or GnuTLS themselves, or by a
 * program that drives OpenSSL through memory BIOs and sends the bytes itself
 * (Python's asyncio): then some object of the program links libssl or
 * libgnutls (airlock's own link to OpenSSL does not count).  A program that
 * links OpenSSL and also carries a TLS stack of its own is taken as seen: a
 * missed refusal, never a false one. */
static int tls_seen(const void *caller)
{
    Dl_info info;
    if (caller && dladdr(caller, &info) && info.dli_fname) {
        const char *base = strrchr(info.dli_fname, '/');
        base = base ? base + 1 : info.dli_fname;
        if (strncmp(base, "libssl.so", 9) == 0 || strncmp(base, "libcrypto.so", 12) == 0 ||
            strncmp(base, "libgnutls.so", 12) == 0)
            return 1;
    }
    Dl_info me;
    if (!dladdr((void *)tls_seen, &me)) return 0;
    return dl_iterate_phdr(needs_tls_lib, me.dli_fbase) != 0;
}

static const char *exe_name(void)
{
    const al_ctx *ctx = al_hook_ctx();
    if (ctx->exe && *ctx->exe) return ctx->exe;
    extern char *program_invocation_short_name;
    return program_invocation_short_name;
}

/* A TLS connection airlock cannot read, to an LLM API host.  Returns 1 when
 * it must be refused (AIRLOCK_FAIL=closed), 0 when it may go on (recorded). */
static int bypass(const char *host)
{
    const al_ctx *ctx = al_hook_ctx();
    int refuse = ctx->fail == AL_FAIL_CLOSED && ctx->mode != AL_MODE_MONITOR;
    al_audit_rec rec;
    al_audit_init(&rec);
    rec.transport = "socket";
    rec.exe = exe_name();
    rec.host = host;
    rec.mode = ctx->mode == AL_MODE_MONITOR ? "monitor" : "enforce";
    rec.fail = "tls_not_visible";
    rec.blocked = refuse;
    al_in_hook++;
    al_audit_write(ctx->audit_fd, &rec);
    al_in_hook--;
    if (refuse)
        al_hook_warn("refused: %s (pid %d) opened TLS to LLM API host %s with a TLS library "
                     "airlock cannot see into, so its prompts would go unscreened "
                     "(AIRLOCK_FAIL=open lets it through, recorded)",
                     exe_name(), (int)getpid(), host);
    else
        al_hook_debug("unscreened TLS to LLM API host %s by %s (fail open)", host, exe_name());
    return refuse;
}

/* Request methods whose first request makes a plain connection one the
 * exchange follows (it passes non-LLM requests through and keeps watching a
 * kept-alive connection for the LLM call that may come next). */
static const char *const methods[] = {"GET",    "POST",    "PUT",  "PATCH",
                                      "DELETE", "OPTIONS", "HEAD", "CONNECT"};

/* Whitespace a lenient server takes as a request line separator. */
static int req_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/* 2 when p starts with a method token, whitespace and the first byte of a
 * request target; 1 when the n bytes may still become that (a short first
 * write, held until more comes); 0 when it is not an HTTP request.  Blank
 * lines and whitespace before the method, and any run of whitespace after
 * it, are taken as lenient servers take them (Python's http.server answers
 * "POST\t/v1/chat/completions HTTP/1.1"), so such a request is followed
 * rather than passed through unscreened. */
static int http_start(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (req_ws(p[i]) || p[i] == '\n')) i++;
    if (i == n) return n > 0;
    p += i;
    n -= i;
    int maybe = 0;
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        size_t k = strlen(methods[m]);
        size_t c = n < k ? n : k;
        if (memcmp(p, methods[m], c) != 0) continue;
        if (n <= k) {
            maybe = 1;
            continue;
        }
        if (!req_ws(p[k])) continue;
        size_t j = k;
        while (j < n && req_ws(p[j])) j++;
        if (j == n) {
            maybe = 1;
            continue;
        }
        if (p[j] == '/' || p[j] == '*' || p[j] == 'h' || p[j] == 'H') return 2;
        if (m == 7 && p[j] > ' ' && p[j] < 0x7f) return 2; /* CONNECT host:port */
    }
    return maybe;
}

/* What n bytes at p, written in state st, are of a SOCKS client's handshake
 * (RFC 1928, RFC 1929, SOCKS4/4a): 1 a message after which the client
 * writes more of it (the greeting, a user/password), 2 its CONNECT request
 * (greeting and request may come in one write), 0 none.  Plain HTTP sent
 * through such a tunnel is screened like any other once it begins. */
static int socks_msg(int st, const unsigned char *p, size_t n)
{
    if (n >= 9 && p[0] == 4 && p[1] == 1 && st == S_WATCH) {
        /* SOCKS4: port, address, user id and NUL; 4a: 0.0.0.x, then a name and NUL */
        const unsigned char *z = memchr(p + 8, 0, n - 8);
        if (!z) return 0;
        if (p[4] == 0 && p[5] == 0 && p[6] == 0 && p[7] != 0) {
            if (z + 1 >= p + n) return 0;
            z = memchr(z + 1, 0, (size_t)(p + n - (z + 1)));
        }
        return z && z == p + n - 1 ? 2 : 0;
    }
    size_t i = 0;
    if (st == S_WATCH) { /* the greeting: version, method count, methods */
        if (n < 3 || p[0] != 5 || p[1] == 0 || n < 2u + p[1]) return 0;
        i = 2u + p[1];
        if (i == n) return 1;
    } else if (st == S_SOCKS && p[0] == 1) { /* user/password: version 1 */
        if (n < 2 || n < 3u + p[1]) return 0;
        size_t pl = 2u + p[1];
        return n == pl + 1 + p[pl] ? 1 : 0;
    } else if (st != S_SOCKS) {
        return 0;
    }
    /* the request: version 5, CONNECT, 0, an address of its type, a port */
    if (n - i < 7 || p[i] != 5 || p[i + 1] != 1 || p[i + 2] != 0) return 0;
    size_t alen = p[i + 3] == 1 ? 4 : p[i + 3] == 4 ? 16 : p[i + 3] == 3 ? 1u + p[i + 4] : 0;
    return alen && n - i == 4 + alen + 2 ? 2 : 0;
}

/* Decides what fd is from its first bytes.  Returns the new state. */
static int classify(int fd, const char *p, size_t n, const void *caller)
{
    if (al_hook_egress_first_write(fd, p, n)) { /* AIRLOCK_EGRESS: it names an unlisted host */
        shutdown(fd, SHUT_RDWR);
        set_state(fd, S_REFUSED);
        return S_REFUSED;
    }
    if (al_in_curl || !still_stream_socket(fd)) {
        set_state(fd, S_NONE); /* a libcurl transfer: the curl layer has it */
        return S_NONE;
    }
    if (al_tls_is_client_hello((const unsigned char *)p, n)) {
        char host[256];
        if (!tls_seen(caller) &&
            al_tls_sni((const unsigned char *)p, n, host, sizeof host) == AL_SNI_FOUND &&
            al_llm_host_match(host, extra_hosts()) && bypass(host)) {
            /* nothing goes out, and the program's event loop sees the end at once */
            shutdown(fd, SHUT_RDWR);
            set_state(fd, S_REFUSED);
            return S_REFUSED;
        }
        set_state(fd, S_NONE);
        return S_NONE;
    }
    int now = __atomic_load_n(&fdstate[fd], __ATOMIC_RELAXED);
    int sk = now == S_WATCH || now == S_SOCKS ? socks_msg(now, (const unsigned char *)p, n) : 0;
    if (sk) {
        set_state(fd, sk == 2 ? S_TUNNEL : S_SOCKS);
        return sk == 2 ? S_TUNNEL : S_SOCKS;
    }
    if (http_start(p, n) != 2) {
        set_state(fd, S_NONE);
        return S_NONE;
    }
    sconn *s = calloc(1, sizeof *s);
    if (!s) {
        set_state(fd, S_NONE);
        return S_NONE;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->refs = 1;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        s->dev = st.st_dev;
        s->ino = st.st_ino;
    }
    char host[INET6_ADDRSTRLEN + 8] = "";
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
    }
    al_in_hook++;
    s->c = al_conn_new(al_hook_ctx(), "socket", host[0] ? host : NULL);
    /* bodies that are not LLM calls cost nothing here (direct reads and
     * writes): a download never ends the screening of its connection */
    if (s->c) al_conn_follow_downloads(s->c);
    al_in_hook--;
    if (!s->c) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        set_state(fd, S_NONE);
        return S_NONE;
    }
    pthread_mutex_lock(&conns_mu);
    sconn *old = conns[fd];
    __atomic_store_n(&conns[fd], s, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&conns_mu);
    if (!old) {
        __atomic_add_fetch(&nconns, 1, __ATOMIC_RELAXED);
        live_add(fd);
    } else { /* cannot happen unless two threads raced on a fresh fd */
        conn_put(old);
    }
    set_state(fd, S_TRACK);
    adopt_copies(fd, s);
    return S_TRACK;
}

/* ---- tracked connections ---- */

/* Sends all of p with the real send, waiting for room on a non-blocking
 * socket.  Returns 0, or -1 with errno set. */
static int send_all(int fd, const char *p, size_t n, int flags)
{
    send_fn f = REAL(R_SEND, send_fn, send);
    int waited = 0;
    while (n > 0) {
        ssize_t w = f(fd, p, n, flags | MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && waited < SEND_WAIT_MS) {
            struct pollfd pf = {fd, POLLOUT, 0};
            poll(&pf, 1, 100);
            waited += 100;
            continue;
        }
        if (w == 0) errno = EPIPE;
        return -1;
    }
    return 0;
}

/* 1 when the host asked not to wait: MSG_DONTWAIT or a non-blocking socket. */
static int host_nonblock(int fd, int flags)
{
    if (flags & MSG_DONTWAIT) return 1;
    int e = errno, fl = fcntl(fd, F_GETFL);
    errno = e;
    return fl >= 0 && (fl & O_NONBLOCK);
}

/* Sends s->out (from s->out_off) to the server.  A blocking host waits as
 * its own write would; a non-blocking one never waits.  What the socket
 * cannot take yet stays in s->out: a signal (EINTR, so the host's handler
 * runs, e.g. its timeout) or a full buffer (EAGAIN: non-blocking, or a send
 * timeout).  Returns 0 when all is sent, else -1 with errno (EAGAIN/EINTR:
 * the rest is kept for the host's retry; any other error drops it). */
static int out_flush(int fd, sconn *s, int flags, int nb)
{
    pthread_mutex_lock(&s->mu);
    al_buf b = s->out;
    size_t off = s->out_off;
    memset(&s->out, 0, sizeof s->out);
    s->out_off = 0;
    pthread_mutex_unlock(&s->mu);
    int rc = 0;
    send_fn f = REAL(R_SEND, send_fn, send);
    int sf = (nb ? flags | MSG_DONTWAIT : flags & ~MSG_DONTWAIT) | MSG_NOSIGNAL;
    while (off < b.len) {
        ssize_t w = f(fd, b.data + off, b.len - off, sf);
        if (w > 0) {
            off += (size_t)w;
            if (nb || off == b.len) continue;
            /* a blocking send returns short only when a signal (or a send
             * timeout) cut it: the host's own send would have returned, so
             * its handler runs; its retry sends the rest */
            errno = EINTR;
            rc = -1;
            break;
        }
        if (w == 0) errno = EPIPE;
        rc = -1;
        break;
    }
    int e = errno;
    if (rc < 0 && (e == EAGAIN || e == EWOULDBLOCK || e == EINTR) && off < b.len) {
        pthread_mutex_lock(&s->mu);
        s->out = b;
        s->out_off = off;
        pthread_mutex_unlock(&s->mu);
    } else {
        al_buf_free(&b);
    }
    errno = e;
    return rc;
}

/* The host writes on a tracked connection: n bytes at p go to the exchange;
 * the host is told host_n were written (n counts bytes held from an earlier
 * short write too).  A non-blocking host whose bytes the socket cannot take
 * yet gets EAGAIN, as from the real call, and its retry (the same bytes, or
 * more that start with them) sends the rest and reports them written. */
static ssize_t track_write_conn(int fd, sconn *s, const char *p, size_t n, int flags,
                                size_t host_n);

/* 0 when fd is no longer the socket s was made for: closed past the close()
 * hook (fclose, close_range, a raw system call) and its number reused for a
 * file, pipe or other socket, whose bytes must not go to the exchange. */
static int same_socket(int fd, const sconn *s)
{
    struct stat st;
    int e = errno, r = fstat(fd, &st);
    errno = e;
    return r == 0 && st.st_dev == s->dev && st.st_ino == s->ino;
}

/* The record of tracked fd, or NULL (after forgetting a stale one) when the
 * call must go to the real function. */
static sconn *track_get(int fd)
{
    sconn *s = conn_get(fd);
    if (s && !same_socket(fd, s)) {
        al_hook_debug("socket: descriptor %d reused behind airlock's back: forgotten", fd);
        conn_put(s);
        forget(fd);
        return NULL;
    }
    if (!s) set_state(fd, S_NONE);
    return s;
}

static ssize_t track_write(int fd, const char *p, size_t n, int flags, size_t host_n)
{
    sconn *s = track_get(fd);
    if (!s) return -2;
    ssize_t r = track_write_conn(fd, s, p, n, flags, host_n);
    int e = errno;
    conn_put(s);
    errno = e;
    return r;
}

/* fd asked a proxy for a tunnel (CONNECT): its record ends here (the
 * caller still holds a reference), and the first write through the tunnel,
 * once the proxy has answered, is judged as a first write: plain HTTP is
 * followed, TLS left to the TLS layers. */
static void tunnel(int fd)
{
    if ((unsigned)fd >= FD_CAP) return;
    pthread_mutex_lock(&conns_mu);
    sconn *s = conns[fd];
    __atomic_store_n(&conns[fd], NULL, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&conns_mu);
    set_state(fd, S_TUNNEL);
    if (!s) return;
    live_del(fd);
    __atomic_sub_fetch(&nconns, 1, __ATOMIC_RELAXED);
    conn_put(s);
}

/* After the exchange's bytes for a write have all gone out. */
static void write_done(int fd, sconn *s)
{
    pthread_mutex_lock(&s->mu);
    int pass = al_conn_passthrough(s->c);
    pthread_mutex_unlock(&s->mu);
    if (!pass) {
        /* A final reply synthesized here (the request was blocked) means
         * nothing more goes to the server: half-close, so the server closes
         * too and an event loop waiting for readability wakes up for it. */
        pthread_mutex_lock(&s->mu);
        int final = 0;
        if (s->in.len == 0 && al_conn_has_reply(s->c)) {
            al_in_hook++;
            al_conn_in(s->c, NULL, 0, 0, &s->in);
            al_in_hook--;
            final =
                s->in.len >= 12 && memcmp(s->in.data, "HTTP/1.", 7) == 0 && s->in.data[9] != '1';
            if (al_conn_take_closing(s->c)) final = 1;
        }
        pthread_mutex_unlock(&s->mu);
        if (final) shutdown(fd, SHUT_WR);
    }
    /* not an LLM call: out of the way for good (freed at close) */
    if (pass && s->in.len == 0) {
        pthread_mutex_lock(&s->mu);
        int t = al_conn_tunnel(s->c);
        pthread_mutex_unlock(&s->mu);
        if (t)
            tunnel(fd);
        else
            set_state(fd, S_NONE);
    }
}

static ssize_t track_write_conn(int fd, sconn *s, const char *p, size_t n, int flags, size_t host_n)
{
    int nb = host_nonblock(fd, flags);
    pthread_mutex_lock(&s->mu);
    size_t wpend = s->wpend;
    pthread_mutex_unlock(&s->mu);
    if (wpend) { /* the retry of a write whose bytes the exchange took */
        if (out_flush(fd, s, flags, nb) < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                pthread_mutex_lock(&s->mu);
                s->wpend = 0; /* the connection failed: nothing is pending any more */
                pthread_mutex_unlock(&s->mu);
            }
            return -1;
        }
        size_t k = wpend < host_n ? wpend : host_n;
        pthread_mutex_lock(&s->mu);
        s->wpend = wpend - k;
        pthread_mutex_unlock(&s->mu);
        if (wpend == k) write_done(fd, s);
        return (ssize_t)k;
    }
    if (n == host_n) {
        /* body bytes of a request that is not an LLM call go from the host's
         * buffer to the server, with the host's own flags: no copy, and the
         * kernel's answer (a short count, EAGAIN, EPIPE) is the host's */
        pthread_mutex_lock(&s->mu);
        uint64_t direct = s->out.len ? 0 : al_conn_out_direct(s->c);
        pthread_mutex_unlock(&s->mu);
        if (direct >= n) {
            ssize_t w = REAL(R_SEND, send_fn, send)(fd, p, n, flags);
            if (w < 0) return -1;
            pthread_mutex_lock(&s->mu);
            al_conn_out_skip(s->c, (uint64_t)w);
            pthread_mutex_unlock(&s->mu);
            write_done(fd, s);
            return w;
        }
    }
    al_buf out = {0};
    pthread_mutex_lock(&s->mu);
    al_in_hook++;
    al_code rc = al_conn_out(s->c, p, n, &out);
    al_in_hook--;
    pthread_mutex_unlock(&s->mu);
    if (rc != AL_OK) {
        al_buf_free(&out);
        al_hook_debug("socket: request stream refused: %s", al_strerror(rc));
        errno = ECONNRESET;
        return -1;
    }
    if (out.len) {
        pthread_mutex_lock(&s->mu);
        al_buf_free(&s->out); /* (empty: nothing is pending when wpend is 0) */
        s->out = out;
        s->out_off = 0;
        pthread_mutex_unlock(&s->mu);
        if (out_flush(fd, s, flags, nb) < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                pthread_mutex_lock(&s->mu);
                s->wpend = host_n;
                pthread_mutex_unlock(&s->mu);
            }
            return -1;
        }
    }
    write_done(fd, s);
    return (ssize_t)host_n;
}

/* Copies up to n bytes the host may read into (iov, cnt); returns the count.
 * MSG_TRUNC on a stream socket discards them instead (the buffer may be
 * NULL), as the kernel does. */
static size_t serve(sconn *s, const struct iovec *iov, int cnt, int flags)
{
    int peek = (flags & MSG_PEEK) != 0, discard = (flags & (MSG_TRUNC | MSG_PEEK)) == MSG_TRUNC;
    size_t off = 0;
    for (int i = 0; i < cnt && off < s->in.len; i++) {
        size_t k = s->in.len - off;
        if (k > iov[i].iov_len) k = iov[i].iov_len;
        if (!discard) memcpy(iov[i].iov_base, s->in.data + off, k);
        off += k;
    }
    if (!peek) al_buf_consume(&s->in, off);
    return off;
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
    size_t t = 0;
    for (int i = 0; i < cnt; i++) t += iov[i].iov_len;
    return t;
}

/* The host reads on a tracked connection: serve what the exchange released,
 * reading from the server only when there is nothing. */
static ssize_t track_read_conn(int fd, sconn *s, const struct iovec *iov, int cnt, int flags);

/* MSG_WAITALL on a blocking socket: fill (iov, cnt) unless the stream
 * ends or fails first (then what was read, if anything), as the kernel
 * does.  A non-blocking read takes what there is, as the kernel does too. */
static ssize_t read_all(int fd, sconn *s, const struct iovec *iov, int cnt, int flags)
{
    flags &= ~MSG_WAITALL;
    if (host_nonblock(fd, flags)) return track_read_conn(fd, s, iov, cnt, flags);
    struct iovec one[8], *v = cnt <= 8 ? one : malloc((size_t)cnt * sizeof *v);
    if (!v) return track_read_conn(fd, s, iov, cnt, flags);
    memcpy(v, iov, (size_t)cnt * sizeof *v);
    struct iovec *cur = v;
    int left = cnt;
    size_t got = 0;
    ssize_t r = 0;
    int e = errno;
    while (left > 0) {
        if (cur->iov_len == 0) {
            cur++;
            left--;
            continue;
        }
        r = track_read_conn(fd, s, cur, left, flags);
        if (r <= 0) break;
        got += (size_t)r;
        for (size_t k = (size_t)r; k > 0;) { /* step past what was filled */
            size_t t = k < cur->iov_len ? k : cur->iov_len;
            cur->iov_base = (char *)cur->iov_base + t;
            cur->iov_len -= t;
            k -= t;
            if (cur->iov_len == 0) {
                cur++;
                left--;
            }
        }
    }
    if (r < 0 && got) errno = e; /* the bytes read are the answer; the error comes next */
    if (v != one) free(v);
    return got ? (ssize_t)got : r;
}

static ssize_t track_read(int fd, const struct iovec *iov, int cnt, int flags)
{
    sconn *s = track_get(fd);
    if (!s) return -2;
    ssize_t r = (flags & (MSG_WAITALL | MSG_PEEK)) == MSG_WAITALL
                    ? read_all(fd, s, iov, cnt, flags)
                    : track_read_conn(fd, s, iov, cnt, flags);
    int e = errno;
    conn_put(s);
    errno = e;
    return r;
}

/* Reads at most cap bytes from the server straight into (iov, cnt), with the
 * real recv/recvmsg and the host's flags.  Returns what they return. */
static ssize_t direct_read(int fd, const struct iovec *iov, int cnt, int flags, uint64_t cap)
{
    if (cnt == 1 || iov[0].iov_len >= cap) {
        size_t n = iov[0].iov_len < cap ? iov[0].iov_len : (size_t)cap;
        return REAL(R_RECV, recv_fn, recv)(fd, iov[0].iov_base, n, flags);
    }
    struct iovec v[16];
    int k = 0;
    uint64_t t = 0;
    for (int i = 0; i < cnt && k < 16 && t < cap; i++) {
        size_t n = iov[i].iov_len;
        if (n > cap - t) n = (size_t)(cap - t);
        v[k].iov_base = iov[i].iov_base;
        v[k].iov_len = n;
        k++;
        t += n;
    }
    struct msghdr m = {0};
    m.msg_iov = v;
    m.msg_iovlen = (size_t)k;
    return REAL(R_RECVMSG, recvmsg_fn, recvmsg)(fd, &m, flags);
}

/* Lets out what the exchange holds for a paused stream (al_conn_idle);
 * called with s->mu held.  Returns 1 when the host has bytes to read, 0
 * when not, -1 with errno when the reply was cut off. */
static int idle_cut(sconn *s)
{
    s->idle.hold_at = 0;
    al_in_hook++;
    al_code rc = al_conn_idle(s->c, &s->in);
    al_in_hook--;
    if (rc != AL_OK) {
        al_hook_debug("socket: reply cut off: %s", al_strerror(rc));
        errno = ECONNRESET;
        return -1;
    }
    return s->in.len > 0;
}

/* Before a read from the server while the stream holds text: a host that
 * blocks waits at most until that text is due out (al_idle_wait_ms), and
 * is then given it.  Returns as idle_cut, 0 to read as usual.  A reply
 * already in the socket buffer costs one poll that returns at once. */
static int idle_wait(int fd, sconn *s, int flags)
{
    if ((flags & MSG_PEEK) || host_nonblock(fd, flags)) return 0;
    pthread_mutex_lock(&s->mu);
    int w = al_idle_wait_ms(&s->idle);
    pthread_mutex_unlock(&s->mu);
    struct pollfd pf = {fd, POLLIN, 0};
    if (REAL(R_POLL, poll_fn, poll)(&pf, 1, w) != 0) return 0;
    pthread_mutex_lock(&s->mu);
    int r = al_conn_stream_holding(s->c) ? idle_cut(s) : 0;
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* A non-blocking read found nothing from the server: the held text goes out
 * when due (al_idle_due).  Returns as idle_cut. */
static int idle_due(int fd, sconn *s)
{
    pthread_mutex_lock(&s->mu);
    int r = al_conn_stream_holding(s->c) && al_idle_due(&s->idle) ? idle_cut(s) : 0;
    pthread_mutex_unlock(&s->mu);
    return r;
}

static ssize_t track_read_conn(int fd, sconn *s, const struct iovec *iov, int cnt, int flags)
{
    if (iov_total(iov, cnt) == 0) return 0;
    recv_fn rf = REAL(R_RECV, recv_fn, recv);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        if (s->in.len == 0 && al_conn_has_reply(s->c)) {
            al_in_hook++;
            al_conn_in(s->c, NULL, 0, 0, &s->in);
            al_in_hook--;
        }
        /* a block reply that waited behind pipelined replies is out: the
         * server is owed nothing more (as after_write does at once) */
        int closing = al_conn_take_closing(s->c);
        if (s->in.len > 0) {
            size_t k = serve(s, iov, cnt, flags);
            pthread_mutex_unlock(&s->mu);
            if (closing) shutdown(fd, SHUT_WR);
            return (ssize_t)k;
        }
        int eof = s->eof;
        /* body bytes of a reply that is not an LLM call go straight into
         * the host's buffer: no copy, no buffering (small reads keep the
         * buffered path: one system call per RBUF_SIZE, as before) */
        uint64_t direct = eof || (flags & MSG_PEEK) ? 0 : al_conn_in_direct(s->c);
        if (direct != UINT64_MAX && iov_total(iov, cnt) < DIRECT_MIN) direct = 0;
        if (!direct && !s->rbuf) s->rbuf = malloc(RBUF_SIZE);
        char *rbuf = s->rbuf;
        int holding = !eof && !direct && al_conn_stream_holding(s->c);
        pthread_mutex_unlock(&s->mu);
        if (eof) return 0;
        if (holding && rbuf) {
            int w = idle_wait(fd, s, flags);
            if (w < 0) return -1;
            if (w) continue; /* serve what was let out */
        }
        if (direct) {
            ssize_t r = direct_read(fd, iov, cnt, flags & ~MSG_WAITALL, direct);
            if (r < 0) return -1;
            pthread_mutex_lock(&s->mu);
            al_in_hook++;
            al_code rc = AL_OK;
            if (r == 0) {
                rc = al_conn_in(s->c, NULL, 0, 1, &s->in);
                s->eof = 1;
            } else {
                al_conn_in_skip(s->c, (uint64_t)r);
            }
            al_in_hook--;
            /* through for good and nothing left of ours: out of the way */
            int gone = r > 0 && al_conn_passthrough(s->c) && s->in.len == 0 &&
                       !al_conn_has_reply(s->c) && s->out.len == 0 && s->wpend == 0;
            pthread_mutex_unlock(&s->mu);
            if (gone) set_state(fd, S_NONE);
            if (rc != AL_OK) {
                al_hook_debug("socket: reply cut off: %s", al_strerror(rc));
                errno = ECONNRESET;
                return -1;
            }
            if (r > 0) return r;
            continue; /* the end: serve what the exchange released for it, then 0 */
        }
        if (!rbuf) {
            errno = ENOMEM;
            return -1;
        }
        ssize_t r = rf(fd, rbuf, RBUF_SIZE, flags & ~(MSG_PEEK | MSG_WAITALL | MSG_TRUNC));
        if (r < 0 && holding && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* a host that must not wait: the held text goes out once due */
            int e = errno, w = idle_due(fd, s);
            if (w > 0) continue;
            if (w == 0) errno = e;
            return -1;
        }
        if (r < 0) return -1;
        pthread_mutex_lock(&s->mu);
        al_in_hook++;
        al_code rc = al_conn_in(s->c, rbuf, (size_t)r, r == 0, &s->in);
        if (r > 0) al_idle_arrived(&s->idle, al_conn_stream_holding(s->c));
        al_in_hook--;
        if (r == 0) s->eof = 1;
        pthread_mutex_unlock(&s->mu);
        if (rc != AL_OK) {
            al_hook_debug("socket: reply cut off: %s", al_strerror(rc));
            errno = ECONNRESET;
            return -1;
        }
    }
}

/* ---- write side entry points ---- */

static ssize_t refused(void)
{
    errno = ECONNREFUSED;
    return -1;
}

/* A write of n bytes at p on a watched fd.  Returns -2 when the caller should
 * hand the call to the real function unchanged. */
/* The first write(s) of n bytes at p on an undecided fd, after the bytes
 * held for it.  Returns n, -1 with errno, or -2 when the caller should hand
 * the call to the real function (held bytes already sent). */
static ssize_t first_write(int fd, const char *p, size_t n, int flags, const void *caller)
{
    char pre[HOLD_CAP];
    size_t k = __atomic_load_n(&fdstate[fd], __ATOMIC_RELAXED) == S_HOLD ? prefix_take(fd, pre) : 0;
    const char *d = p;
    size_t dn = n;
    char *cat = NULL;
    if (k) {
        cat = malloc(k + n);
        if (cat) {
            memcpy(cat, pre, k);
            memcpy(cat + k, p, n);
            d = cat;
            dn = k + n;
        }
    }
    if (cat || !k) {
        if (dn <= HOLD_CAP && !al_in_curl && http_start(d, dn) == 1 && prefix_put(fd, d, dn) == 0) {
            set_state(fd, S_HOLD);
            free(cat);
            return (ssize_t)n;
        }
    }
    int st = cat || !k ? classify(fd, d, dn, caller) : S_NONE;
    ssize_t r = -2;
    if (st == S_REFUSED) {
        r = refused();
    } else if (st == S_TRACK) {
        r = track_write(fd, d, dn, flags, n);
        if (r == -2) /* (not while the record is this fresh) */
            r = send_all(fd, d, dn, flags & ~MSG_DONTWAIT) < 0 ? -1 : (ssize_t)n;
    } else if (st == S_SOCKS || st == S_TUNNEL) {
        /* a SOCKS handshake goes as it is; the fd stays undecided */
    } else {
        set_state(fd, S_NONE);
        if (k && send_all(fd, pre, k, flags & ~MSG_DONTWAIT) < 0) r = -1;
    }
    free(cat);
    return r;
}

static ssize_t watched_write(int fd, const char *p, size_t n, int flags, const void *caller)
{
    int st = __atomic_load_n(&fdstate[fd], __ATOMIC_RELAXED);
    if ((st == S_WATCH || st == S_HOLD || st >= S_SOCKS) && n > 0)
        return first_write(fd, p, n, flags, caller);
    if (st == S_REFUSED) return refused();
    if (st == S_TRACK) return track_write(fd, p, n, flags, n);
    return -2;
}

/* Gathers an iovec write into one buffer (only for watched descriptors). */
static char *gather(const struct iovec *iov, int cnt, size_t cap, size_t *len)
{
    size_t t = iov_total(iov, cnt);
    if (t > cap) t = cap;
    char *b = malloc(t ? t : 1);
    if (!b) return NULL;
    size_t off = 0;
    for (int i = 0; i < cnt && off < t; i++) {
        size_t k = iov[i].iov_len < t - off ? iov[i].iov_len : t - off;
        memcpy(b + off, iov[i].iov_base, k);
        off += k;
    }
    *len = off;
    return b;
}

/* writev/sendmsg on a watched fd: -2 to pass through unchanged. */
static ssize_t watched_writev(int fd, const struct iovec *iov, int cnt, int flags,
                              const void *caller)
{
    int st = __atomic_load_n(&fdstate[fd], __ATOMIC_RELAXED);
    if (st == S_WATCH || st == S_HOLD || st >= S_SOCKS) {
        size_t total = iov_total(iov, cnt), n;
        /* whole when short or after held bytes: the first write decides */
        int whole = st == S_HOLD || total <= PEEK_CAP;
        char *b = gather(iov, cnt, whole ? (size_t)-1 / 2 : PEEK_CAP, &n);
        if (!b) {
            if (st == S_HOLD && prefix_flush(fd, flags & ~MSG_DONTWAIT) < 0) return -1;
            return -2;
        }
        if (whole && n > 0) {
            ssize_t r = first_write(fd, b, n, flags, caller);
            free(b);
            return r;
        }
        if (n > 0) st = classify(fd, b, n, caller);
        free(b);
    }
    if (st == S_REFUSED) return refused();
    if (st != S_TRACK) return -2;
    size_t n;
    char *b = gather(iov, cnt, (size_t)-1 / 2, &n);
    if (!b) {
        errno = ENOMEM;
        return -1;
    }
    ssize_t r = track_write(fd, b, n, flags, n);
    free(b);
    return r;
}

HOOK ssize_t write(int fd, const void *buf, size_t n)
{
    write_fn f = REAL(R_WRITE, write_fn, write);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (!watched(fd) || al_in_hook) return f(fd, buf, n);
    int saved = errno;
    ssize_t r = watched_write(fd, buf, n, 0, __builtin_return_address(0));
    if (r != -1) errno = saved; /* success or pass-through: errno as the program left it */
    return r == -2 ? f(fd, buf, n) : r;
}

HOOK ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    send_fn f = REAL(R_SEND, send_fn, send);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (!watched(fd) || al_in_hook) return f(fd, buf, n, flags);
    int saved = errno;
    ssize_t r = watched_write(fd, buf, n, flags, __builtin_return_address(0));
    if (r != -1) errno = saved; /* success or pass-through: errno as the program left it */
    return r == -2 ? f(fd, buf, n, flags) : r;
}

HOOK ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *a,
                    socklen_t al)
{
    sendto_fn f = REAL(R_SENDTO, sendto_fn, sendto);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    /* TCP Fast Open connects inside sendto: judged like connect() */
    if ((flags & MSG_FASTOPEN) && a && al_hook_egress_refused(fd, a, al)) return -1;
    if (!watched(fd) || al_in_hook) return f(fd, buf, n, flags, a, al);
    int saved = errno;
    ssize_t r = watched_write(fd, buf, n, flags, __builtin_return_address(0));
    if (r != -1) errno = saved; /* success or pass-through: errno as the program left it */
    return r == -2 ? f(fd, buf, n, flags, a, al) : r;
}

/* sendmmsg is judged for egress only (TCP Fast Open connects inside it);
 * its data is not screened, as for sendfile and io_uring */
typedef int (*sendmmsg_fn)(int, struct mmsghdr *, unsigned int, int);

HOOK int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
    static sendmmsg_fn f;
    if (!f) f = (sendmmsg_fn)al_hook_real("sendmmsg", (void *)sendmmsg, NULL);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    for (unsigned int i = 0; (flags & MSG_FASTOPEN) && v && i < n; i++)
        if (v[i].msg_hdr.msg_name &&
            al_hook_egress_refused(fd, (const struct sockaddr *)v[i].msg_hdr.msg_name,
                                   v[i].msg_hdr.msg_namelen))
            return -1;
    return f(fd, v, n, flags);
}

HOOK ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    writev_fn f = REAL(R_WRITEV, writev_fn, writev);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (!watched(fd) || al_in_hook || cnt <= 0) return f(fd, iov, cnt);
    int saved = errno;
    ssize_t r = watched_writev(fd, iov, cnt, 0, __builtin_return_address(0));
    if (r != -1) errno = saved; /* success or pass-through: errno as the program left it */
    return r == -2 ? f(fd, iov, cnt) : r;
}

HOOK ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    sendmsg_fn f = REAL(R_SENDMSG, sendmsg_fn, sendmsg);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if ((flags & MSG_FASTOPEN) && m && m->msg_name &&
        al_hook_egress_refused(fd, (const struct sockaddr *)m->msg_name, m->msg_namelen))
        return -1; /* TCP Fast Open connects inside sendmsg: judged like connect() */
    if (!watched(fd) || al_in_hook || !m || m->msg_iovlen <= 0 || m->msg_controllen)
        return f(fd, m, flags);
    int saved = errno;
    ssize_t r =
        watched_writev(fd, m->msg_iov, (int)m->msg_iovlen, flags, __builtin_return_address(0));
    if (r != -1) errno = saved; /* success or pass-through: errno as the program left it */
    return r == -2 ? f(fd, m, flags) : r;
}

/* ---- read side entry points ---- */

/* A read on a watched fd: -2 to pass through.  A socket read before anything
 * was written is the server speaking first: not an HTTP client, let it be. */
static ssize_t watched_read(int fd, const struct iovec *iov, int cnt, int flags)
{
    int st = __atomic_load_n(&fdstate[fd], __ATOMIC_RELAXED);
    if (st == S_TRACK) return track_read(fd, iov, cnt, flags);
    if (st == S_REFUSED) return refused();
    if (st == S_HOLD) {
        /* a non-blocking read with nothing from the server yet: the request
         * may still come whole, keep holding; else send the held bytes on */
        int nb = (flags & MSG_DONTWAIT) != 0;
        if (!nb) {
            int fl = fcntl(fd, F_GETFL);
            nb = fl >= 0 && (fl & O_NONBLOCK);
        }
        struct pollfd pf = {fd, POLLIN, 0};
        if (nb && REAL(R_POLL, poll_fn, poll)(&pf, 1, 0) == 0) {
            errno = EAGAIN;
            return -1;
        }
        if (prefix_flush(fd, flags & ~MSG_DONTWAIT) < 0) return -1;
        return -2;
    }
    if (st == S_WATCH && !al_in_curl) set_state(fd, S_NONE);
    return -2; /* (SOCKS, TUNNEL: the proxy's answers, as they come) */
}

HOOK ssize_t read(int fd, void *buf, size_t n)
{
    read_fn f = REAL(R_READ, read_fn, read);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (!watched(fd) || al_in_hook) return f(fd, buf, n);
    struct iovec v = {buf, n};
    int saved = errno;
    ssize_t r = watched_read(fd, &v, 1, 0);
    if (r != -1) errno = saved; /* success or pass-through: errno as the program left it */
    return r == -2 ? f(fd, buf, n) : r;
}

HOOK ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    recv_fn f = REAL(R_RECV, recv_fn, recv);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (!watched(fd) || al_in_hook) return f(fd, buf, n, flags);
    struct iovec v = {buf, n};
    int saved = errno;
    ssize_t r = watched_read(fd, &v, 1, flags);
    if (r != -1) errno = saved; /* success or pass-through: errno as the program left it */
    return r == -2 ? f(fd, buf, n, flags) : r;
}

HOOK ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *a, socklen_t *al)
{
    recvfrom_fn f = REAL(R_RECVFROM, recvfrom_fn, recvfrom);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (!watched(fd) || al_in_hook) return f(fd, buf, n, flags, a, al);
    struct iovec v = {buf, n};
    int saved = errno;
    ssize_t r = watched_read(fd, &v, 1, flags);
    if (r != -1) errno = saved;     /* success or pass-through: errno as the program left it */
    if (r >= 0 && a && al) *al = 0; /* connected stream: no source address */
    return r == -2 ? f(fd, buf, n, flags, a, al) : r;
}

HOOK ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    readv_fn f = REAL(R_READV, readv_fn, readv);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (!watched(fd) || al_in_hook || cnt <= 0) return f(fd, iov, cnt);
    int saved = errno;
    ssize_t r = watched_read(fd, iov, cnt, 0);
    if (r != -1) errno = saved; /* success or pass-through: errno as the program left it */
    return r == -2 ? f(fd, iov, cnt) : r;
}

HOOK ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
    recvmsg_fn f = REAL(R_RECVMSG, recvmsg_fn, recvmsg);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (!watched(fd) || al_in_hook || !m || m->msg_iovlen <= 0) return f(fd, m, flags);
    int saved = errno;
    ssize_t r = watched_read(fd, m->msg_iov, (int)m->msg_iovlen, flags);
    if (r != -1) errno = saved; /* success or pass-through: errno as the program left it */
    if (r >= 0) {
        m->msg_controllen = 0;
        m->msg_flags = 0;
        m->msg_namelen = 0;
    }
    return r == -2 ? f(fd, m, flags) : r;
}

/* ---- readiness: bytes the shim holds for the host count as readable ----
 * A program that waits for readability before each read (Python sockets with
 * a timeout, urllib3, select loops) would otherwise sleep while a scrubbed
 * reply sits here and the kernel has nothing left. */

/* 1 when the host can read from tracked fd without the kernel. */
static int held(int fd)
{
    if ((unsigned)fd >= FD_CAP || __atomic_load_n(&fdstate[fd], __ATOMIC_RELAXED) != S_TRACK)
        return 0;
    sconn *s = conn_get(fd);
    if (!s) return 0;
    pthread_mutex_lock(&s->mu);
    int r = s->in.len > 0 || al_conn_has_reply(s->c);
    pthread_mutex_unlock(&s->mu);
    conn_put(s);
    return r;
}

typedef int (*ppoll_fn)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
typedef int (*select_fn)(int, fd_set *, fd_set *, fd_set *, struct timeval *);

/* Sends on the bytes held for undecided fds polled for readability. */
static void poll_flush(const struct pollfd *fds, nfds_t n)
{
    for (nfds_t i = 0; i < n; i++)
        if ((fds[i].events & (POLLIN | POLLRDNORM)) && holding(fds[i].fd))
            prefix_flush_waited(fds[i].fd);
}

/* Marks held fds readable after a zero-timeout real poll; returns the poll
 * result, or -2 when no fd in the set holds bytes (wait for real). */
static int poll_held(struct pollfd *fds, nfds_t n)
{
    int any = 0;
    for (nfds_t i = 0; i < n && !any; i++)
        any = (fds[i].events & (POLLIN | POLLRDNORM)) && held(fds[i].fd);
    if (!any) return -2;
    int r = REAL(R_POLL, poll_fn, poll)(fds, n, 0);
    if (r < 0) return r;
    int count = 0;
    for (nfds_t i = 0; i < n; i++) {
        if ((fds[i].events & (POLLIN | POLLRDNORM)) && held(fds[i].fd))
            fds[i].revents |= (short)(fds[i].events & (POLLIN | POLLRDNORM));
        if (fds[i].revents) count++;
    }
    return count;
}

/* ms until the text tracked fd's stream holds is due out (al_idle_wait_ms),
 * -1 when it holds none; with cut, lets it out when due (idle_cut): then
 * 1 when the host has bytes to read. */
static int idle_fd(int fd, int cut)
{
    if ((unsigned)fd >= FD_CAP || __atomic_load_n(&fdstate[fd], __ATOMIC_RELAXED) != S_TRACK)
        return -1;
    sconn *s = conn_get(fd);
    if (!s) return -1;
    pthread_mutex_lock(&s->mu);
    int r = -1;
    if (s->in.len == 0 && !s->eof && al_conn_stream_holding(s->c)) {
        r = al_idle_wait_ms(&s->idle);
        if (cut) r = r <= 2 && idle_cut(s) > 0; /* (the clock's ms may not have turned yet) */
    }
    pthread_mutex_unlock(&s->mu);
    conn_put(s);
    return r;
}

/* A program that waits in poll for a tracked fd whose stream holds text (a
 * Python socket with a timeout polls before each recv): the wait is cut
 * short when that text is due out, which is then let out and the fd
 * reported readable.  Returns -2 when no fd in the set holds such text. */
static int poll_idle(struct pollfd *fds, nfds_t n, int timeout)
{
    poll_fn f = REAL(R_POLL, poll_fn, poll);
    int w = -1;
    for (nfds_t i = 0; i < n; i++) {
        if (!(fds[i].events & (POLLIN | POLLRDNORM))) continue;
        int k = idle_fd(fds[i].fd, 0);
        if (k >= 0 && (w < 0 || k < w)) w = k;
    }
    if (w < 0) return -2;
    int r = f(fds, n, timeout >= 0 && timeout < w ? timeout : w);
    if (r != 0 || (timeout >= 0 && timeout < w)) return r;
    int count = 0;
    for (nfds_t i = 0; i < n; i++) {
        if ((fds[i].events & (POLLIN | POLLRDNORM)) && idle_fd(fds[i].fd, 1) > 0) {
            fds[i].revents |= (short)(fds[i].events & (POLLIN | POLLRDNORM));
            count++;
        }
    }
    if (count) return count;
    return f(fds, n, timeout < 0 ? -1 : timeout - w);
}

HOOK int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    poll_fn f = REAL(R_POLL, poll_fn, poll);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (timeout != 0 && fds && !al_in_hook && __atomic_load_n(&nprefixes, __ATOMIC_RELAXED))
        poll_flush(fds, n);
    if (!__atomic_load_n(&nconns, __ATOMIC_RELAXED) || al_in_hook || !fds)
        return f(fds, n, timeout);
    int r = poll_held(fds, n);
    if (r == -2) r = poll_idle(fds, n, timeout);
    return r == -2 ? f(fds, n, timeout) : r;
}

HOOK int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
    ppoll_fn f = REAL(R_PPOLL, ppoll_fn, ppoll);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if ((!ts || ts->tv_sec || ts->tv_nsec) && fds && !al_in_hook &&
        __atomic_load_n(&nprefixes, __ATOMIC_RELAXED))
        poll_flush(fds, n);
    if (!__atomic_load_n(&nconns, __ATOMIC_RELAXED) || al_in_hook || !fds)
        return f(fds, n, ts, mask);
    int r = poll_held(fds, n);
    return r == -2 ? f(fds, n, ts, mask) : r;
}

HOOK int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
    select_fn f = REAL(R_SELECT, select_fn, select);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if ((!tv || tv->tv_sec || tv->tv_usec) && r && !al_in_hook &&
        __atomic_load_n(&nprefixes, __ATOMIC_RELAXED))
        for (int fd = 0; fd < n && fd < FD_SETSIZE; fd++)
            if (FD_ISSET(fd, r) && holding(fd)) prefix_flush_waited(fd);
    if (!__atomic_load_n(&nconns, __ATOMIC_RELAXED) || al_in_hook || !r || n <= 0)
        return f(n, r, w, e, tv);
    fd_set mine;
    FD_ZERO(&mine);
    int any = 0;
    for (int fd = 0; fd < n && fd < FD_SETSIZE; fd++)
        if (FD_ISSET(fd, r) && held(fd)) {
            FD_SET(fd, &mine);
            any = 1;
        }
    if (!any) return f(n, r, w, e, tv);
    struct timeval zero = {0, 0};
    int k = f(n, r, w, e, &zero);
    if (k < 0) return k;
    int count = 0;
    for (int fd = 0; fd < n && fd < FD_SETSIZE; fd++) {
        if (FD_ISSET(fd, &mine)) FD_SET(fd, r);
        count += FD_ISSET(fd, r) != 0;
        count += w && FD_ISSET(fd, w) != 0;
        count += e && FD_ISSET(fd, e) != 0;
    }
    return count;
}

/* ---- epoll: the same for event loops (libuv, asyncio) ---- */

HOOK int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    typedef int (*fn)(int, int, int, struct epoll_event *);
    fn f = REAL(R_EPCTL, fn, epoll_ctl);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    int rc = f(epfd, op, fd, ev);
    if (rc != 0 || al_in_hook || (unsigned)fd >= FD_CAP) return rc;
    int st = __atomic_load_n(&fdstate[fd], __ATOMIC_RELAXED);
    if (st != S_WATCH && st != S_TRACK && st != S_HOLD && st < S_SOCKS) return rc;
    int err = errno;
    pthread_mutex_lock(&ereg_mu);
    eregs_t *g = eregs[fd];
    int i = 0;
    while (g && i < g->n && g->r[i].epfd != epfd) i++;
    if (op == EPOLL_CTL_DEL) {
        if (g && i < g->n) g->r[i] = g->r[--g->n];
    } else if (ev) {
        if (!g && (g = calloc(1, sizeof *g))) __atomic_store_n(&eregs[fd], g, __ATOMIC_RELAXED);
        if (g && (i < g->n || g->n < EREG_MAX)) {
            if (i == g->n) g->n++;
            g->r[i].epfd = epfd;
            g->r[i].events = ev->events;
            g->r[i].data = ev->data;
        }
    }
    pthread_mutex_unlock(&ereg_mu);
    errno = err;
    return rc;
}

/* Sends on the bytes held for undecided fds registered on epfd for
 * readability, before a wait that may block. */
static void epoll_flush(int epfd)
{
    int fds[MAX_HELD], n = 0;
    pthread_mutex_lock(&prefix_mu);
    for (int i = 0; i < nprefixes; i++) fds[n++] = prefixes[i].fd;
    pthread_mutex_unlock(&prefix_mu);
    for (int i = 0; i < n; i++) {
        int fd = fds[i], want = 0;
        if (!holding(fd)) continue;
        pthread_mutex_lock(&ereg_mu);
        eregs_t *g = eregs[fd];
        for (int k = 0; g && k < g->n; k++)
            if (g->r[k].epfd == epfd && (g->r[k].events & EPOLLIN)) want = 1;
        pthread_mutex_unlock(&ereg_mu);
        if (want) prefix_flush_waited(fd);
    }
}

/* Events for tracked descriptors registered on epfd that hold bytes for the
 * host; returns how many were put in out (at most cap). */
static int held_events(int epfd, struct epoll_event *out, int cap)
{
    int n = 0;
    pthread_mutex_lock(&live_mu);
    int all = live_lost, count = all ? FD_CAP : nlive;
    for (int i = 0; i < count && n < cap; i++) {
        int fd = all ? i : live_fds[i];
        if (!held(fd)) continue;
        pthread_mutex_lock(&ereg_mu);
        eregs_t *g = eregs[fd];
        for (int k = 0; g && k < g->n && n < cap; k++)
            if (g->r[k].epfd == epfd && (g->r[k].events & EPOLLIN)) {
                out[n].events = EPOLLIN;
                out[n].data = g->r[k].data;
                n++;
            }
        pthread_mutex_unlock(&ereg_mu);
    }
    pthread_mutex_unlock(&live_mu);
    return n;
}

/* evs holds nx events for held bytes, then the n the kernel reported: a
 * kernel event for a registration already there is merged into it.  Returns
 * the count.  (Held events go first: a loop whose every wait the kernel
 * fills to max would otherwise never see them; kernel events left out stay
 * ready for the next wait.) */
static int merge_events(struct epoll_event *evs, int nx, int n)
{
    int out = nx;
    for (int k = nx; k < nx + n; k++) {
        int i = 0;
        while (i < nx && evs[i].data.u64 != evs[k].data.u64) i++;
        if (i < nx)
            evs[i].events |= evs[k].events;
        else
            evs[out++] = evs[k];
    }
    return out;
}

HOOK int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
    typedef int (*fn)(int, struct epoll_event *, int, int);
    fn f = REAL(R_EPWAIT, fn, epoll_wait);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (timeout != 0 && !al_in_hook && __atomic_load_n(&nprefixes, __ATOMIC_RELAXED))
        epoll_flush(epfd);
    if (!__atomic_load_n(&nconns, __ATOMIC_RELAXED) || al_in_hook || !evs || max <= 0)
        return f(epfd, evs, max, timeout);
    int nx = held_events(epfd, evs, max < 16 ? max : 16);
    if (nx == 0) return f(epfd, evs, max, timeout);
    int n = max > nx ? f(epfd, evs + nx, max - nx, 0) : 0;
    if (n < 0 && errno != EINTR) return n;
    return merge_events(evs, nx, n < 0 ? 0 : n);
}

HOOK int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout, const sigset_t *m)
{
    typedef int (*fn)(int, struct epoll_event *, int, int, const sigset_t *);
    fn f = REAL(R_EPPWAIT, fn, epoll_pwait);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (timeout != 0 && !al_in_hook && __atomic_load_n(&nprefixes, __ATOMIC_RELAXED))
        epoll_flush(epfd);
    if (!__atomic_load_n(&nconns, __ATOMIC_RELAXED) || al_in_hook || !evs || max <= 0)
        return f(epfd, evs, max, timeout, m);
    int nx = held_events(epfd, evs, max < 16 ? max : 16);
    if (nx == 0) return f(epfd, evs, max, timeout, m);
    int n = max > nx ? f(epfd, evs + nx, max - nx, 0, m) : 0;
    if (n < 0 && errno != EINTR) return n;
    return merge_events(evs, nx, n < 0 ? 0 : n);
}

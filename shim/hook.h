/* hook.h: what every transport hook (hook_*.c) shares: the process-wide
 * context, lazy lookup of the real functions, the re-entrancy guard and
 * diagnostics.  Only hook_*.c include this; pure modules never do. */
#ifndef AL_HOOK_H
#define AL_HOOK_H

#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "exchange.h"

/* The process context, initialised once on first use (pthread_once, with
 * al_in_hook set so init calls no hooked function).  Never NULL;
 * al_ctx_engine(ctx) loads the rules at the first LLM call and is NULL
 * when they could not be loaded (then ctx->fail decides; the one warning
 * line is printed then).  Reset safely in a forked child. */
AL_API const al_ctx *al_hook_ctx(void);

/* Resolves the real function: dlsym(RTLD_NEXT, sym), then, when that fails
 * (a library loaded with a private dlopen, as Python's _ssl does), each of the
 * NULL-terminated sonames with dlopen(RTLD_NOLOAD) + dlsym.  Returns NULL
 * when not found or when the lookup yields self (our own wrapper). */
AL_API void *al_hook_real(const char *sym, void *self, const char *const *sonames);

/* The shim's thread-local flags use the initial-exec TLS model: it is loaded
 * at start-up (LD_PRELOAD), so they sit in the static TLS block and a hook
 * reads one at a fixed offset from the thread pointer instead of calling
 * __tls_get_addr (the -fPIC default), which every hooked call pays. */
#define AL_TLS_IE __attribute__((tls_model("initial-exec")))

/* Non-zero while the current thread is inside a hook or in init: hooks seeing
 * it set call the real function and do nothing else. */
extern __thread int al_in_hook AL_TLS_IE;

/* Non-zero while the current thread is inside a libcurl call handled by the
 * curl layer: the OpenSSL, GnuTLS and socket layers pass through so a
 * transfer is never processed twice. */
extern __thread int al_in_curl AL_TLS_IE;

/* One diagnostic line on stderr, prefixed "airlock: ", only when
 * AIRLOCK_DEBUG is set.  Never pass prompt or completion text. */
AL_API void al_hook_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stderr, prefixed "airlock: ", always (refusals, load errors). */
AL_API void al_hook_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* AIRLOCK_MODE=monitor and AIRLOCK_FAIL=open as read from the environment
 * now (for hooks that decide on their own, outside the exchange). */
AL_API void al_hook_env_modes(int *monitor, int *fail_open);

/* hook_egress.c: called by the connect() hook before the real call.  1
 * when AIRLOCK_EGRESS refuses this TCP connection (errno is then EACCES and
 * the refusal has been reported), 0 to go ahead (errno untouched). */
AL_API int al_hook_egress_refused(int fd, const struct sockaddr *sa, socklen_t len);

/* hook_egress.c: called by the socket layer with the first bytes a program
 * writes on a connected TCP socket.  1 when AIRLOCK_EGRESS refuses them (the
 * address was allowed only through a name and they name another host, or
 * none; reported), 0 to go ahead (errno untouched). */
AL_API int al_hook_egress_first_write(int fd, const void *buf, size_t len);

/* ---- a slow stream's held text (al_conn_idle) ----
 * The stream scrubber holds the detectors' last ~96 bytes of text (and the
 * events that carry them) until more text comes.  A model that writes ~20
 * bytes a second would show nothing for seconds, so text held for
 * AL_IDLE_HOLD_MS is let out once the server has paused AL_IDLE_GAP_MS: a
 * stream whose bytes come faster than that (a cloud model, tokens every
 * 20-50 ms; a reply already in the socket buffer) is never cut.  250 ms is
 * about a typing pause, and well under any read timeout a client sets; 100
 * ms is two to five times a fast stream's gap between tokens. */
#define AL_IDLE_HOLD_MS 250
#define AL_IDLE_GAP_MS 100

typedef struct {
    uint64_t hold_at; /* ms when the connection began to hold text (0: not) */
    uint64_t last_in; /* ms of the last bytes from the server while holding */
    uint64_t gap;     /* ms between the last two such arrivals */
} al_idle;

static inline uint64_t al_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Bytes came from the server; holding: the connection now holds text. */
static inline void al_idle_arrived(al_idle *id, int holding)
{
    if (!holding) {
        id->hold_at = id->last_in = id->gap = 0;
        return;
    }
    uint64_t now = al_now_ms();
    id->gap = id->last_in ? now - id->last_in : 0;
    id->last_in = now;
    if (!id->hold_at) id->hold_at = now;
}

/* How long a reader that would wait for the server waits before the held
 * text is let out (ms; 0: now). */
static inline int al_idle_wait_ms(const al_idle *id)
{
    uint64_t now = al_now_ms(), w = 0;
    uint64_t age = id->hold_at && now > id->hold_at ? now - id->hold_at : 0;
    uint64_t quiet = id->last_in && now > id->last_in ? now - id->last_in : 0;
    if (age < AL_IDLE_HOLD_MS) w = AL_IDLE_HOLD_MS - age;
    if (quiet < AL_IDLE_GAP_MS && AL_IDLE_GAP_MS - quiet > w) w = AL_IDLE_GAP_MS - quiet;
    return (int)w;
}

/* A reader that must not wait (non-blocking, a memory BIO) found nothing
 * from the server: 1 when the held text is due out (held AL_IDLE_HOLD_MS,
 * and the server paused AL_IDLE_GAP_MS before its last bytes or since). */
static inline int al_idle_due(const al_idle *id)
{
    if (!id->hold_at) return 0;
    uint64_t now = al_now_ms();
    return now - id->hold_at + 2 >= AL_IDLE_HOLD_MS &&
           (id->gap + 2 >= AL_IDLE_GAP_MS || now - id->last_in + 2 >= AL_IDLE_GAP_MS);
}

#endif

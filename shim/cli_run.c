/* cli_run.c: `airlock run`: start a program with the shim preloaded and the
 * policy in its environment.  The program replaces this process (exec), so
 * its exit status is ours; when it cannot be started we say why and exit 127. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "egress.h"
#include "policy.h"

static int run_usage(FILE *f)
{
    fprintf(f,
            "usage: airlock run [--policy FILE] [--rules PATH] [--audit FILE] [--weights MANIFEST] "
            "[--egress LIST] [--monitor] [--fail-open] -- CMD [ARGS...]\n");
    return f == stderr ? 2 : 0;
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The shim beside this executable, else the installed one. */
static void shim_path(char *out, size_t outlen)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            int m = snprintf(out, outlen, "%s/libairlock.so", exe);
            if (m > 0 && (size_t)m < outlen && is_file(out)) return;
        }
    }
    snprintf(out, outlen, "%s", AL_PREFIX "/lib/airlock/libairlock.so");
}

/* An absolute form of a path that may not exist yet (the audit file), so the
 * program finds it whatever directory it changes to. */
static const char *absolute(const char *p, char *out, size_t outlen)
{
    if (p[0] == '/') return p;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return p;
    int m = snprintf(out, outlen, "%s/%s", cwd, p);
    return (m > 0 && (size_t)m < outlen) ? out : p;
}

/* LD_PRELOAD with shim first, once. */
static int set_preload(const char *shim)
{
    const char *old = getenv("LD_PRELOAD");
    if (!old || !*old) return setenv("LD_PRELOAD", shim, 1);
    size_t sl = strlen(shim);
    const char *p = old;
    while ((p = strstr(p, shim)) != NULL) { /* already there as a whole entry */
        int starts = p == old || p[-1] == ':' || p[-1] == ' ';
        int ends = p[sl] == '\0' || p[sl] == ':' || p[sl] == ' ';
        if (starts && ends) return 0;
        p += sl;
    }
    size_t len = sl + 1 + strlen(old) + 1;
    char *v = malloc(len);
    if (!v) return -1;
    snprintf(v, len, "%s:%s", shim, old);
    int r = setenv("LD_PRELOAD", v, 1);
    free(v);
    return r;
}

int al_cli_run(int argc, char **argv)
{
    const char *rules = NULL, *audit = NULL, *weights = NULL, *egress = NULL, *policy = NULL;
    int monitor = 0, fail_open = 0;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        } else if (!strcmp(a, "--rules") || !strcmp(a, "--audit") || !strcmp(a, "--weights") ||
                   !strcmp(a, "--egress") || !strcmp(a, "--policy")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "airlock run: %s needs a value\n", a);
                return run_usage(stderr);
            }
            if (a[2] == 'r')
                rules = argv[++i];
            else if (a[2] == 'a')
                audit = argv[++i];
            else if (a[2] == 'w')
                weights = argv[++i];
            else if (a[2] == 'p')
                policy = argv[++i];
            else
                egress = argv[++i];
        } else if (!strncmp(a, "--rules=", 8)) {
            rules = a + 8;
        } else if (!strncmp(a, "--audit=", 8)) {
            audit = a + 8;
        } else if (!strncmp(a, "--weights=", 10)) {
            weights = a + 10;
        } else if (!strncmp(a, "--egress=", 9)) {
            egress = a + 9;
        } else if (!strncmp(a, "--policy=", 9)) {
            policy = a + 9;
        } else if (!strcmp(a, "--monitor")) {
            monitor = 1;
        } else if (!strcmp(a, "--fail-open")) {
            fail_open = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            return run_usage(stdout);
        } else if (a[0] == '-') {
            fprintf(stderr, "airlock run: unknown option '%s'\n", a);
            return run_usage(stderr);
        } else {
            break; /* the command, without a "--" before it */
        }
    }
    if (i >= argc) {
        fprintf(stderr, "airlock run: no command given\n");
        return run_usage(stderr);
    }

    char shim[PATH_MAX], rbuf[PATH_MAX], abuf[PATH_MAX], wbuf[PATH_MAX];
    shim_path(shim, sizeof shim);
    if (!is_file(shim)) {
        fprintf(stderr, "airlock: cannot find the shim library (looked for %s)\n", shim);
        return 127;
    }
    if (strpbrk(shim, " :\t")) {
        /* the dynamic loader splits LD_PRELOAD at spaces and colons: the
         * program would run without airlock, unscreened */
        fprintf(stderr,
                "airlock: the shim's path %s holds a space or colon, which LD_PRELOAD cannot "
                "carry; install airlock under a path without them\n",
                shim);
        return 127;
    }
    if (set_preload(shim) != 0) {
        fprintf(stderr, "airlock: cannot set LD_PRELOAD: %s\n", strerror(errno));
        return 127;
    }
    if (rules) {
        const char *r = realpath(rules, rbuf);
        if (!r) {
            fprintf(stderr, "airlock: cannot use rules %s: %s\n", rules, strerror(errno));
            return 2;
        }
        setenv("AIRLOCK_RULES", r, 1);
    }
    if (audit) setenv("AIRLOCK_AUDIT", absolute(audit, abuf, sizeof abuf), 1);
    if (weights) {
        /* checked here, so a typo is an error now rather than every model
         * load refused later */
        const char *w = realpath(weights, wbuf);
        if (!w || !is_file(w)) {
            fprintf(stderr, "airlock: cannot use weights manifest %s: %s\n", weights,
                    w ? "not a regular file" : strerror(errno));
            return 2;
        }
        setenv("AIRLOCK_WEIGHTS", w, 1);
    }
    if (egress) {
        /* checked here: an empty list (an unset shell variable) would lift
         * the limit, a bad entry would refuse every connection later */
        char why[200];
        al_egress *e = al_egress_parse(egress, why, sizeof why);
        if (!e) {
            fprintf(stderr, "airlock: cannot use egress list '%.200s': %s\n", egress, why);
            return 2;
        }
        al_egress_free(e);
        setenv("AIRLOCK_EGRESS", egress, 1);
    }
    if (policy) {
        /* checked here, so a broken policy stops the command before it runs */
        al_settings st;
        char err[600], pbuf[PATH_MAX];
        const char *p = realpath(policy, pbuf);
        if (al_policy_load(p ? p : policy, &st, err, sizeof err) != AL_OK) {
            fprintf(stderr, "airlock: cannot use policy %s\n", err);
            return 2;
        }
        /* the files it names, as for --weights and --rules (unless the
         * environment or an option overrides them) */
        const char *w = al_settings_get(&st, "AIRLOCK_WEIGHTS");
        const char *r = al_settings_get(&st, "AIRLOCK_RULES");
        const char *ew = getenv("AIRLOCK_WEIGHTS"), *er = getenv("AIRLOCK_RULES");
        const char *bad = NULL, *why = NULL;
        struct stat sb;
        if (w && !(ew && *ew)) {
            if (stat(w, &sb) != 0)
                bad = w, why = strerror(errno);
            else if (!S_ISREG(sb.st_mode))
                bad = w, why = "not a regular file";
        }
        if (!bad && r && !(er && *er) && stat(r, &sb) != 0) bad = r, why = strerror(errno);
        if (bad) {
            fprintf(stderr, "airlock: cannot use policy %s: %s: %s\n", p ? p : policy, bad, why);
            al_settings_free(&st);
            return 2;
        }
        al_settings_free(&st);
        setenv("AIRLOCK_POLICY", p, 1);
    }
    if (monitor) setenv("AIRLOCK_MODE", "monitor", 1);
    if (fail_open) setenv("AIRLOCK_FAIL", "open", 1);

    fflush(NULL);
    execvp(argv[i], argv + i);
    int e = errno;
    fprintf(stderr, "airlock: cannot run %s: %s\n", argv[i], strerror(e));
    return 127;
}

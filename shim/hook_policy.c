/* hook_policy.c: applies the policy file (AIRLOCK_POLICY) when the shim is
 * loaded, before the program runs: each setting it holds becomes the
 * AIRLOCK_* variable it stands for, unless the environment already sets
 * that variable (so a one-off override needs no edited file).  Done once,
 * in a constructor, while the process is still single-threaded.  A policy
 * that cannot be read or does not parse is reported on stderr and marks
 * the process (AIRLOCK_POLICY_ERROR), so LLM calls follow AIRLOCK_FAIL.
 * Relative paths in AIRLOCK_AUDIT, _LIMITS_FILE, _WEIGHTS and _RULES are
 * then made absolute, for children that change directory. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hook.h"
#include "policy.h"

static void apply_policy(void)
{
    const char *path = getenv("AIRLOCK_POLICY");
    if (!path || !*path) return;
    al_settings s;
    char err[600];
    if (al_policy_load(path, &s, err, sizeof err) != AL_OK) {
        const char *f = getenv("AIRLOCK_FAIL");
        al_hook_warn("policy not applied: %s; LLM calls follow AIRLOCK_FAIL (%s)", err,
                     f && *f ? f : "closed");
        setenv("AIRLOCK_POLICY_ERROR", "1", 1);
    } else {
        al_settings_export(&s); /* the environment wins over the file */
        al_settings_free(&s);
        unsetenv("AIRLOCK_POLICY_ERROR"); /* a parent's failure is not ours */
        /* children that change directory (a pyenv shim, make -C) must find
         * the same file */
        char abs[PATH_MAX];
        if (path[0] != '/' && realpath(path, abs)) setenv("AIRLOCK_POLICY", abs, 1);
    }
}

/* Relative paths in the environment are made absolute once, here, so a
 * child that changes directory writes the same audit log, counts in the
 * same limits file and reads the same manifest and rules. */
static void absolute_paths(void)
{
    static const char *const vars[] = {"AIRLOCK_AUDIT", "AIRLOCK_LIMITS_FILE", "AIRLOCK_WEIGHTS",
                                       "AIRLOCK_RULES"};
    char cwd[PATH_MAX], abs[PATH_MAX + 256];
    int have_cwd = -1;
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (!v || !*v || v[0] == '/' || strlen(v) > 255) continue;
        if (have_cwd < 0) have_cwd = getcwd(cwd, sizeof cwd) != NULL;
        if (!have_cwd) return;
        snprintf(abs, sizeof abs, "%s/%s", cwd, v);
        setenv(vars[i], abs, 1);
    }
}

__attribute__((constructor)) static void apply_environment(void)
{
    al_in_hook++;
    apply_policy();
    absolute_paths();
    al_in_hook--;
}

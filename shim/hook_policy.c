/* hook_policy.c: applies the policy file (AIRLOCK_POLICY) when the shim is
 * loaded, before the program runs: each setting it holds becomes the
 * AIRLOCK_* variable it stands for, unless the environment already sets
 * that variable (so a one-off override needs no edited file).  Done once,
 * in a constructor, while the process is still single-threaded.  A policy
 * that cannot be read or does not parse is reported on stderr and marks
 * the process (AIRLOCK_POLICY_ERROR), so LLM calls follow AIRLOCK_FAIL. */
#include <limits.h>
#include <stdlib.h>

#include "hook.h"
#include "policy.h"

__attribute__((constructor)) static void apply_policy(void)
{
    const char *path = getenv("AIRLOCK_POLICY");
    if (!path || !*path) return;
    al_in_hook++;
    al_settings s;
    char err[600];
    if (al_policy_load(path, &s, err, sizeof err) != AL_OK) {
        const char *f = getenv("AIRLOCK_FAIL");
        al_hook_warn("policy not applied: %s; LLM calls follow AIRLOCK_FAIL (%s)", err,
                     f && *f ? f : "closed");
        setenv("AIRLOCK_POLICY_ERROR", "1", 1);
    } else {
        /* an empty variable is unset (as everywhere in airlock): it must not
         * lift what the file sets, such as its egress list */
        for (size_t i = 0; i < s.n; i++) {
            const char *cur = getenv(s.v[i].name);
            if (!cur || !*cur) setenv(s.v[i].name, s.v[i].value, 1);
        }
        al_settings_free(&s);
        /* children that change directory (a pyenv shim, make -C) must find
         * the same file */
        char abs[PATH_MAX];
        if (path[0] != '/' && realpath(path, abs)) setenv("AIRLOCK_POLICY", abs, 1);
    }
    al_in_hook--;
}

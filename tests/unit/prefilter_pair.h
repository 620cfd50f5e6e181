/* prefilter_pair.h: loads one rule pack as two engines, one with the
 * prefilter and one without it, for unit tests that scan texts with both and
 * expect the same.  Test code only: never include it from shim/. */
#ifndef AL_PREFILTER_PAIR_H
#define AL_PREFILTER_PAIR_H

#include <stdio.h>
#include <stdlib.h>

#include "rules.h"

/* Loads the pack at path into *with as the engine normally builds it and into
 * *without with AIRLOCK_NO_PREFILTER=1 set around al_engine_new, then checks
 * that only *with got the prefilter's tables (else a broken switch would make
 * every comparison of the two vacuous).  Returns AL_OK with both set (the
 * caller frees each with al_engine_free), or an error with neither set and
 * the reason on stderr. */
static al_code load_with_and_without_prefilter(const char *path, al_engine **with,
                                               al_engine **without)
{
    char err[512];
    *with = *without = NULL;
    al_code c = al_engine_new(path, with, err, sizeof err);
    if (c != AL_OK) {
        fprintf(stderr, "  %s: %s\n", path, err);
        return c;
    }
    setenv("AIRLOCK_NO_PREFILTER", "1", 1);
    c = al_engine_new(path, without, err, sizeof err);
    unsetenv("AIRLOCK_NO_PREFILTER");
    if (c != AL_OK) {
        fprintf(stderr, "  %s without the prefilter: %s\n", path, err);
    } else if (!(*with)->rkind || (*without)->rkind) {
        fprintf(stderr, "  %s: AIRLOCK_NO_PREFILTER=1 did not turn the prefilter off\n", path);
        c = AL_EINVAL;
    }
    if (c != AL_OK) {
        al_engine_free(*with);
        al_engine_free(*without);
        *with = *without = NULL;
    }
    return c;
}

#endif

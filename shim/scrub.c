/* scrub.c: replaces redacted findings with placeholders (overlaps merged)
 * and scrubs completion text that arrives in deltas, holding back only what
 * could still start a match.  Never emits a partial UTF-8 character it was
 * not given, never logs text. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normalize.h"
#include "rules.h"

#define STREAM_CAP 256  /* most bytes a stream holds back for a possible match */
#define DET_TAIL 96     /* detectors may still change their mind about the last words */
#define BATCH 16        /* rescan after this many new bytes (tiny deltas cost less) */
#define DET_CONTEXT 256 /* left context kept for detectors */
#define DET_BATCH 48    /* with detectors, rescan after this many new bytes */

static al_code put_placeholder(const al_policy *p, const al_finding *f, al_buf *out)
{
    if (f->category == AL_CAT_SANITIZE) return AL_OK; /* removed, not replaced */
    char name[80];
    if (f->entity) {
        snprintf(name, sizeof name, "%s", f->entity);
    } else {
        const char *c = al_category_name(f->category);
        size_t i = 0;
        for (; c[i] && i + 1 < sizeof name; i++)
            name[i] = (c[i] >= 'a' && c[i] <= 'z') ? (char)(c[i] - 32) : c[i];
        name[i] = '\0';
    }
    const char *fmt = p && p->placeholder_fmt ? p->placeholder_fmt : "<%s>";
    const char *s = strstr(fmt, "%s");
    if (!s) return al_buf_puts(out, fmt);
    if (al_buf_append(out, fmt, (size_t)(s - fmt)) != AL_OK) return AL_ENOMEM;
    if (al_buf_puts(out, name) != AL_OK) return AL_ENOMEM;
    return al_buf_puts(out, s + 2);
}

al_code al_scrub_apply(const al_engine *e, const al_policy *p, const char *text, size_t len,
                       const al_finding *f, size_t n, al_buf *out, int *changed)
{
    (void)e;
    if (!n) { /* nothing to replace (a stream's usual pass): the text as it is */
        if (changed) *changed = 0;
        return al_buf_append(out, text, len);
    }
    size_t pos = 0;
    int ch = 0;
    if (al_buf_reserve(out, len) != AL_OK) return AL_ENOMEM;
    for (size_t i = 0; i < n;) {
        if (f[i].action != AL_ACT_REDACT || f[i].end <= pos || f[i].start >= len) {
            i++;
            continue;
        }
        size_t gs = f[i].start < pos ? pos : f[i].start, ge = f[i].end;
        size_t best = i;
        size_t j = i + 1;
        for (; j < n && f[j].start < ge; j++) {
            if (f[j].action != AL_ACT_REDACT) continue;
            if (f[j].end > ge) ge = f[j].end;
            int better =
                (f[best].category == AL_CAT_SANITIZE && f[j].category != AL_CAT_SANITIZE) ||
                (f[j].category != AL_CAT_SANITIZE &&
                 f[j].end - f[j].start > f[best].end - f[best].start);
            if (better) best = j;
        }
        if (ge > len) ge = len;
        if (al_buf_append(out, text + pos, gs - pos) != AL_OK) return AL_ENOMEM;
        if (put_placeholder(p, &f[best], out) != AL_OK) return AL_ENOMEM;
        pos = ge;
        ch = 1;
        i = j;
    }
    if (al_buf_append(out, text + pos, len - pos) != AL_OK) return AL_ENOMEM;
    if (changed) *changed = ch;
    return AL_OK;
}

/* ---- streaming ---- */

struct al_stream_scrub {
    const al_engine *e;
    al_policy p;
    unsigned char *active;
    uint32_t *act; /* indexes of the active rules: the per-rule loops of a */
    size_t nact;   /* pass skip the rest, which the engine never reads */
    int any_norm, any_det;
    al_buf win;     /* left context (already released) + pending text */
    size_t ctx_len; /* bytes of win already released */
    size_t base;    /* stream offset of win.data[0] */
    size_t keep;    /* left context to retain */
    size_t *resume; /* per rule: stream offset where its next match may start */
    size_t *rfrom;  /* scratch: resume in normalised subject coordinates (any_norm) */
    size_t scanned; /* stream offset of the end of the text at the last scan */
    size_t trigger; /* a feed that makes win.len reach this scans (set_trigger) */
    size_t lim;     /* a feed of 1-8 bytes that leaves win.len below this only appends
                     * them: trigger or win.cap, the lower (0 after an error) */
    al_finding *f;
    size_t nf, capf;
    al_matcher m;
    al_code err;     /* sticky */
    uint64_t serial; /* e->serial */
    size_t inv_to;   /* stream offset up to which the text was looked at for invisible */
    size_t inv_at;   /* characters that may split a value; 1 + that of the last one (0: none) */
};

/* Deltas of a few bytes are batched: a feed scans once BATCH (with
 * detectors DET_BATCH) bytes have come since the last scan, or STREAM_CAP
 * bytes are pending; text waits at most that much longer, and the output is
 * the same.  Sets s->trigger, the window length at which that happens (after
 * each scan: the window's start moves). */
static void set_trigger(al_stream_scrub *s)
{
    const size_t batch = s->any_det ? DET_BATCH : BATCH;
    size_t t = s->scanned + batch > s->base ? s->scanned + batch - s->base : 0;
    if (s->ctx_len + STREAM_CAP < t) t = s->ctx_len + STREAM_CAP;
    s->trigger = t;
    s->lim = s->err ? 0 : t < s->win.cap ? t : s->win.cap;
}

/* The last stream freed on this thread without an error, kept for its next
 * al_stream_scrub_new over the same engine under the same policy: its
 * arrays, window and matcher (with the sets its first pass made) serve
 * again instead of being allocated and made anew.  Freed at the thread's
 * exit. */
static __thread al_stream_scrub *spare;
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static int spare_keyed;

static void stream_destroy(al_stream_scrub *s)
{
    free(s->active);
    free(s->act);
    free(s->resume);
    free(s->rfrom);
    free(s->f);
    al_buf_free(&s->win);
    al_matcher_free(&s->m);
    free(s);
}

/* pthread key destructor: frees a finished thread's spare stream */
static void spare_release(void *p)
{
    if (spare == p) spare = NULL;
    stream_destroy(p);
}

static void spare_key_init(void)
{
    spare_keyed = pthread_key_create(&spare_key, spare_release) == 0;
}

/* This thread's spare stream for e under policy p, made new; NULL when
 * there is none such. */
static al_stream_scrub *spare_take(const al_engine *e, const al_policy *p)
{
    al_stream_scrub *s = spare;
    if (!s || !e->serial || s->serial != e->serial || memcmp(&s->p, p, sizeof *p)) return NULL;
    spare = NULL;
    if (spare_keyed) (void)pthread_setspecific(spare_key, NULL);
    for (size_t j = 0; j < s->nact; j++) s->resume[s->act[j]] = 0; /* (no other is written) */
    al_buf_reset(&s->win);
    s->ctx_len = s->base = s->scanned = s->nf = 0;
    s->inv_to = s->inv_at = 0;
    set_trigger(s);
    al_matcher_stream_reset(&s->m);
    return s;
}

al_stream_scrub *al_stream_scrub_new(const al_engine *e, const al_policy *p)
{
    if (!e) return NULL;
    al_policy pol;
    if (p)
        pol = *p;
    else
        al_policy_default(&pol);
    al_stream_scrub *s = spare_take(e, &pol);
    if (s) return s;
    if (!(s = calloc(1, sizeof *s))) return NULL;
    s->e = e;
    s->serial = e->serial;
    s->p = pol;
    size_t n = e->n ? e->n : 1;
    s->active = calloc(n, 1);
    s->act = malloc(n * sizeof *s->act); /* the first nact entries are set */
    s->resume = calloc(n, sizeof *s->resume);
    if (!s->active || !s->act || !s->resume || al_matcher_init(&s->m, e) != AL_OK) {
        stream_destroy(s);
        return NULL;
    }
    for (size_t i = 0; i < e->n; i++) {
        const al_rule *r = &e->rules[i];
        s->active[i] = (r->applies & AL_DIR_COMPLETION_BIT) &&
                       al_rule_action(r, &s->p, AL_AS_COMPLETION) != AL_ACT_ALLOW;
        if (s->active[i]) s->act[s->nact++] = (uint32_t)i;
        if (s->active[i] && r->normalized && !r->det) s->any_norm = 1;
        if (s->active[i] && r->det) s->any_det = 1;
    }
    /* only the normalised pass reads rfrom */
    if (s->any_norm && !(s->rfrom = calloc(n, sizeof *s->rfrom))) {
        stream_destroy(s);
        return NULL;
    }
    s->keep = s->any_det ? DET_CONTEXT : 128;
    if (e->max_lookbehind + 16 > s->keep) s->keep = e->max_lookbehind + 16;
    if (e->max_ctx_window + 16 > s->keep) s->keep = e->max_ctx_window + 16;
    set_trigger(s);
    return s;
}

void al_stream_scrub_free(al_stream_scrub *s)
{
    if (!s) return;
    if (s->err || !s->serial || s->win.cap > 65536 || s->capf > 1024) {
        stream_destroy(s);
        return;
    }
    pthread_once(&spare_once, spare_key_init);
    al_stream_scrub *old = spare;
    spare = s;
    if (spare_keyed) (void)pthread_setspecific(spare_key, s);
    if (old) stream_destroy(old);
}

const al_finding *al_stream_scrub_findings(const al_stream_scrub *s, size_t *n)
{
    *n = s ? s->nf : 0;
    return s ? s->f : NULL;
}

static int cmp_cand(const void *a, const void *b)
{
    const al_cand *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    if (x->end != y->end) return x->end > y->end ? -1 : 1;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static void set_rule_from(al_stream_scrub *s, const al_nmap *map)
{
    for (size_t j = 0; j < s->nact; j++) {
        size_t i = s->act[j];
        size_t r = s->resume[i] > s->base ? s->resume[i] - s->base : 0;
        s->rfrom[i] = map ? al_nmap_lower_bound(map, r) : r;
    }
}

/* A value split by invisible characters: while one of them that may split
 * a value is in the text not released yet, each pass also runs the pattern
 * rules over a copy without them (al_rules_run_stripped).  Text without one
 * costs a byte scan of what came since the last pass. */
static al_code stripped_pass(al_stream_scrub *s, const char *w, size_t len, int final,
                             al_cands *cands, size_t *hold)
{
    *hold = len;
    size_t i = s->inv_to > s->base ? s->inv_to - s->base : 0;
    if (i < s->ctx_len) i = s->ctx_len;
    if (i < len && al_ascii_end(w + i, len - i) < len - i)
        while ((i = al_invisible_find_split(w, len, i)) < len) s->inv_at = s->base + ++i;
    s->inv_to = s->base + len;
    if (s->inv_at <= s->base + s->ctx_len) return AL_OK; /* none pending */
    al_subject sub = {
        .orig = w, .orig_len = len, .from = s->ctx_len, .partial = !final, .active = s->active};
    return al_rules_run_stripped(&s->m, &sub, cands, hold);
}

/* final: 0 a pass mid-stream, 1 the end of the stream, 2 a cut (as 0, but
 * the detectors' tail is not held: only what a pattern could still extend),
 * 3 a pause (as 2, but with detectors a word still being written waits). */
static al_code process(al_stream_scrub *s, int final, al_buf *out)
{
    const int word = final == 3;
    const int cut = final == 2 || word;
    if (cut) final = 0;
    const al_engine *e = s->e;
    const char *w = s->win.data ? s->win.data : "";
    size_t len = s->win.len;
    if (len == s->ctx_len) return AL_OK;
    al_cands cands = {0};
    size_t hold = len, h2 = len;
    /* an incomplete UTF-8 character at the end waits for its other bytes */
    if (!final) {
        size_t k = len, back = 0;
        while (k > s->ctx_len && back < 3 && ((unsigned char)w[k - 1] & 0xC0) == 0x80) {
            k--;
            back++;
        }
        if (k > s->ctx_len) {
            unsigned char c = (unsigned char)w[k - 1];
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (c >= 0xC2 && c <= 0xF4 && back + 1 < need) len = k - 1;
        }
        if (len == s->ctx_len) return AL_OK;
    }
    /* With detectors a pass releases nothing past the last DET_TAIL bytes
     * (back to a word start) nor holds more than STREAM_CAP: a rule that
     * can start no match before that bound may wait for a later pass
     * (al_subject.defer_from), unless a finding released whole runs past it;
     * then the pass is run again with every rule. */
    size_t det_t = len, defer = 0;
    int deferred = 0;
    if (!final && !cut && s->any_det) {
        det_t = len > DET_TAIL ? len - DET_TAIL : 0;
        while (det_t > s->ctx_len && w[det_t - 1] != ' ' && w[det_t - 1] != '\n') /* (< len) */
            det_t--;
        /* nothing can go out (the detectors' tail reaches back to what went
         * out, and the cap is not reached): the pass would release nothing
         * and record no finding, so it is not run; the next one finds what it
         * would have (a rule's resume point only skips text it could not
         * match in however the stream goes on) */
        if (det_t <= s->ctx_len && len - s->ctx_len <= STREAM_CAP) return AL_OK;
        defer = det_t;
        if (len > STREAM_CAP && len - STREAM_CAP > defer) defer = len - STREAM_CAP;
        if (s->ctx_len > defer) defer = s->ctx_len;
    }
    if (word && s->any_det) { /* (the whole word is then seen by a detector) */
        while (det_t > s->ctx_len && w[det_t - 1] != ' ' && w[det_t - 1] != '\n') det_t--;
        if (det_t <= s->ctx_len) return AL_OK;
    }
again:;
    al_subject sub = {.orig = w,
                      .orig_len = len,
                      .s = w,
                      .len = len,
                      .from = s->ctx_len,
                      .resume = s->resume,
                      .resume_base = s->base,
                      .partial = !final,
                      .prefilter = final,
                      .keep_rejected = 1,
                      .active = s->active,
                      .act = s->act,
                      .nact = s->nact,
                      .defer_from = defer,
                      .deferred = &deferred};
    s->m.limit_hit = 0;
    /* the raw pass reads each rule's resume point in place, and a rule that
     * found nothing in [resume, k), not even the start of a match (k = len,
     * or where its partial match begins), has it raised to k: held text is
     * not searched again */
    al_code c = al_rules_run(&s->m, &sub, &cands, &hold);
    sub.resume = NULL;
    sub.rule_from = s->rfrom;
    if (c == AL_OK && s->any_norm) {
        al_buf nb = {0};
        al_nmap map = {0};
        c = al_normalize_seg(w, len, &nb, &map, NULL);
        if (c == AL_OK) {
            sub.s = nb.data ? nb.data : "";
            sub.len = nb.len;
            sub.map = &map;
            sub.normalized = 1;
            sub.from = al_nmap_lower_bound(&map, s->ctx_len);
            set_rule_from(s, &map);
            c = al_rules_run(&s->m, &sub, &cands, &h2);
            if (h2 < hold) hold = h2;
        }
        al_nmap_free(&map);
        al_buf_free(&nb);
    }
    if (c == AL_OK) {
        size_t h3;
        c = stripped_pass(s, w, len, final, &cands, &h3);
        if (h3 < hold) hold = h3;
    }
    if (c != AL_OK) {
        free(cands.v);
        return c;
    }
    /* a detector may still change its verdict on the last words */
    if (det_t < hold) hold = det_t;
    size_t rel = final ? len : hold;
    if (!final && len - rel > STREAM_CAP) rel = len - STREAM_CAP;
    if (rel < s->ctx_len) rel = s->ctx_len;
    while (rel > s->ctx_len && rel < len && ((unsigned char)w[rel] & 0xC0) == 0x80) rel--;
    for (size_t i = 0; i < cands.n; i++) /* as the whole-text scan does */
        al_snap_utf8(w, len, &cands.v[i].start, &cands.v[i].end);
    if (cands.n > 1) qsort(cands.v, cands.n, sizeof *cands.v, cmp_cand);
    /* A finding that crosses the release point waits whole (another rule's
     * partial match may still merge with it), unless that would hold back
     * far more than the cap: then it goes out whole. */
    for (int changed = 1; changed && rel > s->ctx_len;) {
        changed = 0;
        for (size_t i = 0; i < cands.n && cands.v[i].start < rel; i++) {
            if (!cands.v[i].ok || cands.v[i].end <= rel) continue;
            if (final || len - cands.v[i].start > 4 * STREAM_CAP) continue;
            rel = cands.v[i].start < s->ctx_len ? s->ctx_len : cands.v[i].start;
            changed = 1;
            break;
        }
    }
    for (size_t i = 0; i < cands.n && cands.v[i].start < rel; i++)
        if (cands.v[i].ok && cands.v[i].end > rel) rel = cands.v[i].end;
    if (deferred && rel > defer) { /* a rule left for later might have found something here */
        free(cands.v);
        cands = (al_cands){0};
        hold = h2 = len;
        defer = 0;
        deferred = 0;
        goto again;
    }
    /* findings released now, in the whole-text scan's order */
    size_t first = s->nf;
    for (size_t i = 0; i < cands.n && cands.v[i].start < rel; i++) {
        const al_cand *cd = &cands.v[i];
        size_t *res = &s->resume[cd->rule];
        if (s->base + cd->mend > *res) *res = s->base + cd->mend;
        if (!cd->ok) continue;
        if (s->nf == s->capf) {
            size_t cap = s->capf ? s->capf * 2 : 16;
            al_finding *v = realloc(s->f, cap * sizeof *v);
            if (!v) {
                free(cands.v);
                return AL_ENOMEM;
            }
            s->f = v;
            s->capf = cap;
        }
        const al_rule *r = &e->rules[cd->rule];
        s->f[s->nf++] = (al_finding){
            .rule = r->id,
            .category = r->cat,
            .entity = r->entity,
            .start = cd->start,
            .end = cd->end,
            .weight = (r->cat == AL_CAT_INJECTION || r->cat == AL_CAT_JAILBREAK) ? r->weight : 0,
            .action = al_rule_action(r, &s->p, AL_AS_COMPLETION)};
    }
    free(cands.v);
    size_t nnew = s->nf - first;
    al_finding *nf = s->f ? s->f + first : NULL; /* no finding yet: s->f may be NULL */
    al_findings_sort(nf, nnew);
    /* local offsets for the scrubber, then stream offsets for the record */
    for (size_t i = 0; i < nnew; i++) {
        nf[i].start = nf[i].start < s->ctx_len ? 0 : nf[i].start - s->ctx_len;
        nf[i].end -= s->ctx_len;
    }
    c = al_scrub_apply(e, &s->p, w + s->ctx_len, rel - s->ctx_len, nf, nnew, out, NULL);
    for (size_t i = 0; i < nnew; i++) {
        nf[i].start += s->ctx_len + s->base;
        nf[i].end += s->ctx_len + s->base;
    }
    if (c != AL_OK) return c;
    size_t drop = rel > s->keep ? rel - s->keep : 0;
    al_buf_consume(&s->win, drop);
    s->base += drop;
    s->ctx_len = rel - drop;
    return AL_OK;
}

/* The rest of al_stream_scrub_feed: adds the delta unless it is in the
 * window already (added), then scans when enough text has come. */
static __attribute__((noinline)) al_code feed_more(al_stream_scrub *s, const char *delta,
                                                   size_t len, al_buf *out)
{
    if (s->err) return s->err;
    if (!len) return AL_OK;
    al_code c = al_buf_append(&s->win, delta, len);
    if (c == AL_OK && s->win.len < s->trigger) {
        s->lim =
            s->trigger < s->win.cap ? s->trigger : s->win.cap; /* (the window may have grown) */
        return AL_OK;
    }
    s->scanned = s->base + s->win.len;
    if (c == AL_OK) c = process(s, 0, out);
    if (c != AL_OK) s->err = c;
    set_trigger(s);
    return c;
}

al_code al_stream_scrub_feed(al_stream_scrub *s, const char *delta, size_t len, al_buf *out)
{
    /* the usual delta: 1-8 bytes, with room, no scan due and no error */
    al_buf *w = s ? &s->win : NULL;
    if (len - 1 < 8 && s && out && delta && w->len + len < s->lim) {
        const size_t wl = w->len + len;
        char *d = w->data + w->len;
        al_copy_1to8(d, delta, len);
        d[len] = '\0';
        w->len = wl;
        return AL_OK;
    }
    if (!s || !out || (!delta && len)) return AL_EINVAL;
    return feed_more(s, delta, len, out);
}

al_buf *al_stream_scrub_tail(al_stream_scrub *s, size_t *room)
{
    /* al_stream_scrub_feed only appends a delta of 1-8 bytes that leaves
     * win.len below lim */
    *room = s && s->lim > s->win.len + 1 ? s->lim - s->win.len - 1 : 0;
    return s ? &s->win : NULL;
}

al_code al_stream_scrub_cut(al_stream_scrub *s, al_buf *out)
{
    if (!s || !out) return AL_EINVAL;
    if (s->err) return s->err;
    al_code c = process(s, 2, out);
    if (c != AL_OK) s->err = c;
    /* what is left could be the start of a value the next bytes complete */
    s->win.len = s->ctx_len;
    if (s->win.data) s->win.data[s->ctx_len] = '\0';
    set_trigger(s);
    return c;
}

al_code al_stream_scrub_release(al_stream_scrub *s, al_buf *out)
{
    if (!s || !out) return AL_EINVAL;
    if (s->err) return s->err;
    if (s->win.len == s->ctx_len) return AL_OK;
    s->scanned = s->base + s->win.len; /* (as feed_more before its pass) */
    al_code c = process(s, 3, out);
    if (c != AL_OK) s->err = c;
    set_trigger(s);
    return c;
}

int al_stream_scrub_holding(const al_stream_scrub *s)
{
    return s && !s->err && s->win.len > s->ctx_len;
}

al_code al_stream_scrub_flush(al_stream_scrub *s, al_buf *out)
{
    if (!s || !out) return AL_EINVAL;
    if (s->err) return s->err;
    al_code c = process(s, 1, out);
    if (c != AL_OK) s->err = c;
    set_trigger(s);
    return c;
}

/* cli_train.c: `airlock train`: trains the injection/jailbreak classifier
 * from labelled JSON lines, writes the model file, and measures it by k-fold
 * cross-validation and leave-one-source-out.  Prints rates only, never text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "train.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: airlock train --data FILE.jsonl... [--out FILE.model] [--seed N]\n"
            "         [--lm-text FILE...] [--benign-text FILE...] [--cv K] [--loso]\n"
            "         [--target-fpr R] [--source-fpr R] [--epochs N]\n"
            "         [--dim-bits N] [--adv-fpr R]\n"
            "  rows: {\"text\": \"...\", \"label\": \"attack\"|\"benign\"}; each data file is one\n"
            "  source (its base name) for --loso and per-source calibration.\n"
            "  --lm-text: plain benign text for the adversarial-suffix language model.\n"
            "  --benign-text: plain benign prose, cut into ~2 KB benign rows (source\n"
            "  plain_text), so long documents are not mistaken for long jailbreaks.\n"
            "  --cv K: K-fold cross-validation (nested calibration), per-source table.\n"
            "  --loso: train without each source in turn and test on it.\n"
            "  --adv-fpr: held-out benign share the adversarial-suffix signal may lift.\n");
    return 2;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    al_buf b = {0};
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (al_buf_append(&b, tmp, n) != AL_OK) {
            al_buf_free(&b);
            fclose(f);
            return NULL;
        }
    fclose(f);
    if (al_buf_append(&b, "", 0) != AL_OK) {
        al_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return b.data ? b.data : calloc(1, 1);
}

static char *source_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char *s = strdup(b);
    if (!s) return NULL;
    char *dot = strstr(s, ".jsonl");
    if (dot) *dot = 0;
    return s;
}

static int load_rows(al_trainset *t, const char *path)
{
    size_t len;
    char *d = slurp(path, &len);
    if (!d) {
        fprintf(stderr, "airlock train: %s: cannot read\n", path);
        return -1;
    }
    char *src = source_name(path);
    int bad = 0, lineno = 0, rc = 0;
    for (char *line = d; line && *line && rc == 0;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        lineno++;
        if (*line) {
            cJSON *j = cJSON_Parse(line);
            const cJSON *tx = cJSON_GetObjectItemCaseSensitive(j, "text");
            const cJSON *lb = cJSON_GetObjectItemCaseSensitive(j, "label");
            if (!cJSON_IsString(tx) || !cJSON_IsString(lb) ||
                (strcmp(lb->valuestring, "attack") && strcmp(lb->valuestring, "benign"))) {
                if (bad++ < 3)
                    fprintf(stderr,
                            "airlock train: %s:%d: need string text and label "
                            "attack|benign; skipped\n",
                            path, lineno);
            } else if (al_trainset_add(t, tx->valuestring, strlen(tx->valuestring),
                                       !strcmp(lb->valuestring, "attack"), src) != AL_OK) {
                fprintf(stderr, "airlock train: out of memory\n");
                rc = -1;
            }
            cJSON_Delete(j);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(src);
    free(d);
    return rc;
}

/* Plain benign text as rows: paragraphs (blank-line separated) joined until
 * a row holds about chunk bytes, whitespace collapsed; source "plain_text". */
static int load_plain(al_trainset *t, const char *path, size_t chunk)
{
    size_t len;
    char *d = slurp(path, &len);
    if (!d) {
        fprintf(stderr, "airlock train: %s: cannot read\n", path);
        return -1;
    }
    al_buf row = {0};
    int rc = 0, space = 0, nl = 0;
    for (size_t i = 0; i <= len && rc == 0; i++) {
        unsigned char c = i < len ? (unsigned char)d[i] : 0;
        int para_end = i == len || (c == '\n' && nl);
        nl = c == '\n' ? 1 : (c == ' ' || c == '\t' || c == '\r') ? nl : 0;
        if (para_end && row.len >= chunk) {
            rc = al_trainset_add(t, row.data, row.len, 0, "plain_text") != AL_OK;
            al_buf_reset(&row);
            continue;
        }
        if (i == len) break;
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            space = 1;
            continue;
        }
        if (space && row.len) rc = al_buf_append(&row, " ", 1) != AL_OK;
        space = 0;
        if (!rc) rc = al_buf_append(&row, &d[i], 1) != AL_OK;
    }
    if (!rc && row.len >= 200) rc = al_trainset_add(t, row.data, row.len, 0, "plain_text") != AL_OK;
    al_buf_free(&row);
    free(d);
    if (rc) fprintf(stderr, "airlock train: out of memory\n");
    return rc ? -1 : 0;
}

typedef struct {
    size_t att, att_hit, ben, ben_hit;
} tally;

static void tally_add(tally *t, int label, int blocked)
{
    if (label) {
        t->att++;
        t->att_hit += blocked;
    } else {
        t->ben++;
        t->ben_hit += blocked;
    }
}

static void print_rate(size_t hit, size_t n)
{
    if (n)
        printf(" %6.1f%% (%4zu/%-4zu)", 100.0 * hit / n, hit, n);
    else
        printf(" %19s", "-");
}

static void print_table(const al_trainset *t, const tally *per, const tally *all, const char *title)
{
    printf("%s\n  %-26s %-19s  %-19s\n", title, "source", " attacks blocked", " benign blocked");
    for (size_t s = 0; s < al_trainset_sources(t); s++) {
        printf("  %-26s", al_trainset_source(t, s));
        print_rate(per[s].att_hit, per[s].att);
        printf(" ");
        print_rate(per[s].ben_hit, per[s].ben);
        printf("\n");
    }
    printf("  %-26s", "all");
    print_rate(all->att_hit, all->att);
    printf(" ");
    print_rate(all->ben_hit, all->ben);
    printf("\n");
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x > y ? -1 : x < y;
}

/* Share of attacks scoring above the threshold that blocks at most fpr of
 * the benign rows (the ROC operating point, pooled over sources). */
static void print_roc(const double *pr, const int *lab, size_t n, double fpr)
{
    double *b = malloc((n ? n : 1) * sizeof *b);
    if (!b) return;
    size_t nb = 0, na = 0, hit = 0;
    for (size_t i = 0; i < n; i++)
        if (lab[i] == 0) b[nb++] = pr[i];
    qsort(b, nb, sizeof *b, cmp_desc);
    size_t allow = (size_t)(fpr * (double)nb);
    double thr = allow < nb ? b[allow] : 0.0;
    for (size_t i = 0; i < n; i++)
        if (lab[i] == 1) {
            na++;
            hit += pr[i] > thr;
        }
    printf("  at the held-out threshold blocking <= %.1f%% of benign rows: %.1f%% of attacks "
           "(%zu/%zu)\n",
           100 * fpr, na ? 100.0 * hit / na : 0.0, hit, na);
    free(b);
}

static int run_cv(const al_trainset *t, const al_train_opts *o, unsigned k)
{
    size_t n = al_trainset_rows(t), ns = al_trainset_sources(t);
    unsigned char *use = malloc(n ? n : 1);
    tally *per = calloc(ns + 1, sizeof *per), all = {0};
    double *oof = calloc(n ? n : 1, sizeof *oof);
    int *lab = calloc(n ? n : 1, sizeof *lab);
    if (!use || !per || !oof || !lab) return free(use), free(per), free(oof), free(lab), 1;
    FILE *dump = getenv("AIRLOCK_TRAIN_DUMP") ? fopen(getenv("AIRLOCK_TRAIN_DUMP"), "w") : NULL;
    /* folds by row position, seeded shuffle-free: row i goes to fold
     * (i * 7919) % k, which interleaves every source across folds */
    for (unsigned f = 0; f < k; f++) {
        for (size_t i = 0; i < n; i++) use[i] = (i * 7919) % k != f;
        al_trained *m = NULL;
        if (al_train(t, use, o, &m) != AL_OK) {
            fprintf(stderr, "airlock train: fold %u: training failed\n", f);
            continue;
        }
        double block = al_trained_params(m)->block;
        for (size_t i = 0; i < n; i++) {
            if (use[i]) continue;
            double pr = al_trained_predict(m, t, i);
            int b = pr >= block;
            oof[i] = pr;
            lab[i] = al_trainset_label(t, i);
            if (dump)
                fprintf(dump, "%s %d %.6f %.6f %zu\n",
                        al_trainset_source(t, al_trainset_row_source(t, i)),
                        al_trainset_label(t, i), pr, block, i);
            tally_add(&per[al_trainset_row_source(t, i)], al_trainset_label(t, i), b);
            tally_add(&all, al_trainset_label(t, i), b);
        }
        al_trained_free(m);
    }
    char title[192];
    if (dump) fclose(dump);
    snprintf(title, sizeof title,
             "classifier alone, %u-fold cross-validation (held-out rows, threshold calibrated "
             "inside each training split: <= %.2g%% of benign rows, <= %.2g%% per source):",
             k, 100 * o->target_fpr, 100 * o->source_fpr);
    print_table(t, per, &all, title);
    print_roc(oof, lab, n, 0.01);
    print_roc(oof, lab, n, 0.005);
    free(use);
    free(per);
    free(oof);
    free(lab);
    return 0;
}

static int run_loso(const al_trainset *t, const al_train_opts *o)
{
    size_t n = al_trainset_rows(t), ns = al_trainset_sources(t);
    unsigned char *use = malloc(n ? n : 1);
    tally *per = calloc(ns + 1, sizeof *per), all = {0};
    if (!use || !per) return free(use), free(per), 1;
    for (size_t s = 0; s < ns; s++) {
        for (size_t i = 0; i < n; i++) use[i] = al_trainset_row_source(t, i) != s;
        al_trained *m = NULL;
        if (al_train(t, use, o, &m) != AL_OK) {
            fprintf(stderr, "airlock train: without %s: training failed\n",
                    al_trainset_source(t, s));
            continue;
        }
        double block = al_trained_params(m)->block;
        for (size_t i = 0; i < n; i++) {
            if (use[i]) continue;
            int b = al_trained_predict(m, t, i) >= block;
            tally_add(&per[s], al_trainset_label(t, i), b);
            tally_add(&all, al_trainset_label(t, i), b);
        }
        al_trained_free(m);
    }
    print_table(
        t, per, &all,
        "classifier alone, leave-one-source-out (trained without the source, tested on it):");
    free(use);
    free(per);
    return 0;
}

int al_cli_train(int argc, char **argv)
{
    al_train_opts o;
    al_train_opts_default(&o);
    const char *out = NULL;
    unsigned cv = 0;
    int loso = 0;
    const char **data = calloc((size_t)argc + 1, sizeof *data);
    const char **lmt = calloc((size_t)argc + 1, sizeof *lmt);
    const char **bt = calloc((size_t)argc + 1, sizeof *bt);
    size_t nd = 0, nl = 0, nbt = 0;
    int mode = 0, rc = 2;
    if (!data || !lmt || !bt) goto done;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--data"))
            mode = 1;
        else if (!strcmp(a, "--lm-text"))
            mode = 2;
        else if (!strcmp(a, "--benign-text"))
            mode = 3;
        else if (!strcmp(a, "--out") && more)
            out = argv[++i], mode = 0;
        else if (!strcmp(a, "--seed") && more)
            o.seed = strtoull(argv[++i], NULL, 10), mode = 0;
        else if (!strcmp(a, "--cv") && more)
            cv = (unsigned)strtoul(argv[++i], NULL, 10), mode = 0;
        else if (!strcmp(a, "--loso"))
            loso = 1, mode = 0;
        else if (!strcmp(a, "--target-fpr") && more)
            o.target_fpr = strtod(argv[++i], NULL), mode = 0;
        else if (!strcmp(a, "--calib-folds") && more)
            o.calib_folds = (unsigned)strtoul(argv[++i], NULL, 10), mode = 0;
        else if (!strcmp(a, "--source-fpr") && more)
            o.source_fpr = strtod(argv[++i], NULL), mode = 0;
        else if (!strcmp(a, "--epochs") && more)
            o.epochs = (unsigned)strtoul(argv[++i], NULL, 10), mode = 0;
        else if (!strcmp(a, "--dim-bits") && more)
            o.dim_bits = (unsigned)strtoul(argv[++i], NULL, 10), mode = 0;
        else if (!strcmp(a, "--balance") && more)
            o.balance = atoi(argv[++i]), mode = 0;
        else if (!strcmp(a, "--len-exp") && more)
            o.len_exp = strtod(argv[++i], NULL), mode = 0;
        else if (!strcmp(a, "--l2") && more)
            o.l2 = strtod(argv[++i], NULL), mode = 0;
        else if (!strcmp(a, "--adv-fpr") && more)
            o.adv_fpr = strtod(argv[++i], NULL), mode = 0;
        else if (!strcmp(a, "--lr") && more)
            o.lr = strtod(argv[++i], NULL), mode = 0;
        else if (a[0] == '-' && a[1] == '-') {
            usage();
            goto done;
        } else if (mode == 1)
            data[nd++] = a;
        else if (mode == 2)
            lmt[nl++] = a;
        else if (mode == 3)
            bt[nbt++] = a;
        else {
            usage();
            goto done;
        }
    }
    if (!nd || (!out && !cv && !loso) || cv == 1 || o.dim_bits < 10 || o.dim_bits > 22 ||
        !(o.target_fpr > 0 && o.target_fpr < 1)) {
        usage();
        goto done;
    }
    rc = 1;
    al_trainset *t = al_trainset_new(o.dim_bits);
    if (!t) goto done;
    for (size_t i = 0; i < nd; i++)
        if (load_rows(t, data[i])) goto fail;
    for (size_t i = 0; i < nbt; i++)
        if (load_plain(t, bt[i], 2000)) goto fail;
    for (size_t i = 0; i < nl; i++) {
        size_t len;
        char *d = slurp(lmt[i], &len);
        if (!d || al_trainset_add_lm_text(t, d, len) != AL_OK) {
            fprintf(stderr, "airlock train: %s: cannot read\n", lmt[i]);
            free(d);
            goto fail;
        }
        free(d);
    }
    rc = 0;
    if (cv && run_cv(t, &o, cv)) rc = 1;
    if (loso && run_loso(t, &o)) rc = 1;
    if (out && rc == 0) {
        al_trained *m = NULL;
        al_code c = al_train(t, NULL, &o, &m);
        if (c != AL_OK) {
            fprintf(stderr, "airlock train: %s\n",
                    c == AL_EINVAL ? "need both attack and benign rows" : al_strerror(c));
            rc = 1;
        } else {
            al_model_params p = *al_trained_params(m);
            size_t na = 0, nb = 0;
            for (size_t i = 0; i < al_trainset_rows(t); i++) al_trainset_label(t, i) ? na++ : nb++;
            char note[160];
            snprintf(note, sizeof note, "%zu attack + %zu benign rows from %zu sources, seed %llu",
                     na, nb, al_trainset_sources(t), (unsigned long long)o.seed);
            p.note = note;
            char err[512];
            if (al_model_write(&p, out, err, sizeof err) != AL_OK) {
                fprintf(stderr, "airlock train: %s\n", err);
                rc = 1;
            } else {
                printf("wrote %s: %s; block at p >= %.4f (target benign rate %.3g), assist from "
                       "%.4f, adversarial-suffix threshold %.2f bits/char\n",
                       out, note, p.block, p.target_fpr, p.assist, p.adv_t);
            }
            al_trained_free(m);
        }
    }
fail:
    al_trainset_free(t);
done:
    free(data);
    free(lmt);
    free(bt);
    return rc;
}

/* audit.c: formats and writes audit records, one JSON line per exchange,
 * with one raw write(2) each.  Records carry ids, counts and sizes; this file
 * never receives a prompt or completion text, so it cannot leak one. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "audit.h"

void al_audit_init(al_audit_rec *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->in_tokens = rec->out_tokens = rec->total_tokens = -1;
}

void al_audit_rule(al_audit_rec *rec, const char *rule)
{
    if (!rule) return;
    for (size_t i = 0; i < rec->nrules; i++)
        if (rec->rules[i] == rule || !strcmp(rec->rules[i], rule)) return;
    if (rec->nrules < AL_AUDIT_MAX_RULES) rec->rules[rec->nrules++] = rule;
}

void al_audit_redaction(al_audit_rec *rec, const char *entity, int completion)
{
    if (!entity) entity = "UNKNOWN";
    size_t i;
    for (i = 0; i < rec->nentities; i++)
        if (!strcmp(rec->entities[i].name, entity)) break;
    if (i == rec->nentities) {
        if (i == AL_AUDIT_MAX_ENTITIES) return;
        rec->entities[i].name = entity;
        rec->entities[i].prompt = rec->entities[i].completion = 0;
        rec->nentities++;
    }
    if (completion)
        rec->entities[i].completion++;
    else
        rec->entities[i].prompt++;
}

static int add_str(cJSON *o, const char *k, const char *v)
{
    return v ? cJSON_AddStringToObject(o, k, v) != NULL : cJSON_AddNullToObject(o, k) != NULL;
}

cJSON *al_audit_begin(const char *event)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[96];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    ok = ok && add_str(o, "time", ts);
    ok = ok && cJSON_AddNumberToObject(o, "pid", (double)getpid());
    if (event) ok = ok && add_str(o, "event", event);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

al_code al_audit_end(cJSON *o, int ok, al_buf *out)
{
    char *s = ok && o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) return AL_ENOMEM;
    al_code r = al_buf_puts(out, s);
    if (r == AL_OK) r = al_buf_append(out, "\n", 1);
    cJSON_free(s);
    return r;
}

al_code al_audit_format(const al_audit_rec *rec, al_buf *out)
{
    cJSON *o = al_audit_begin(NULL);
    int ok = o != NULL;
    ok = ok && add_str(o, "exe", rec->exe);
    ok = ok && add_str(o, "transport", rec->transport);
    ok = ok && add_str(o, "provider", rec->provider);
    ok = ok && add_str(o, "host", rec->host);
    ok = ok && add_str(o, "path", rec->path);
    ok = ok && add_str(o, "model", rec->model && rec->model[0] ? rec->model : NULL);
    ok = ok && cJSON_AddBoolToObject(o, "stream", rec->stream);
    ok = ok && (rec->status ? cJSON_AddNumberToObject(o, "status", rec->status)
                            : cJSON_AddNullToObject(o, "status"));
    ok = ok && cJSON_AddBoolToObject(o, "blocked", rec->blocked);
    if (rec->would_block) ok = ok && cJSON_AddBoolToObject(o, "would_block", 1);
    cJSON *rules = ok ? cJSON_AddArrayToObject(o, "rules") : NULL;
    ok = ok && rules;
    for (size_t i = 0; ok && i < rec->nrules; i++) {
        cJSON *s = cJSON_CreateString(rec->rules[i]);
        ok = s != NULL;
        if (s) cJSON_AddItemToArray(rules, s);
    }
    cJSON *red = ok ? cJSON_AddObjectToObject(o, "redactions") : NULL;
    ok = ok && red;
    for (size_t i = 0; ok && i < rec->nentities; i++) {
        cJSON *e = cJSON_AddObjectToObject(red, rec->entities[i].name);
        ok = e && cJSON_AddNumberToObject(e, "prompt", rec->entities[i].prompt) &&
             cJSON_AddNumberToObject(e, "completion", rec->entities[i].completion);
    }
    if (ok && (rec->in_tokens >= 0 || rec->out_tokens >= 0 || rec->total_tokens >= 0)) {
        cJSON *u = cJSON_AddObjectToObject(o, "usage");
        ok = u != NULL;
        if (ok && rec->in_tokens >= 0)
            ok = cJSON_AddNumberToObject(u, "input_tokens", (double)rec->in_tokens) != NULL;
        if (ok && rec->out_tokens >= 0)
            ok = cJSON_AddNumberToObject(u, "output_tokens", (double)rec->out_tokens) != NULL;
        if (ok && rec->total_tokens >= 0)
            ok = cJSON_AddNumberToObject(u, "total_tokens", (double)rec->total_tokens) != NULL;
    } else if (ok) {
        ok = cJSON_AddNullToObject(o, "usage") != NULL;
    }
    ok = ok && add_str(o, "mode", rec->mode ? rec->mode : "enforce");
    ok = ok && add_str(o, "fail", rec->fail);
    return al_audit_end(o, ok, out);
}

al_code al_audit_write(int fd, const al_audit_rec *rec)
{
    if (fd < 0) return AL_OK;
    al_buf b = {0};
    al_code r = al_audit_format(rec, &b);
    if (r == AL_OK) {
        long n;
        do {
            n = syscall(SYS_write, fd, b.data, b.len);
        } while (n < 0 && errno == EINTR);
        if (n != (long)b.len) r = AL_EIO;
    }
    al_buf_free(&b);
    return r;
}

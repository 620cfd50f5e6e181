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

/* Fields are built without copies where cJSON allows: keys are string
 * literals (cJSON_AddItemToObjectCS) and values the record's own strings
 * (references), which outlive the object; integers go in as raw digits, so
 * no double is formatted and read back per line.  cJSON still writes every
 * string, escaping included. */
static int add_item(cJSON *o, const char *k, cJSON *v)
{
    if (v && cJSON_AddItemToObjectCS(o, k, v)) return 1;
    cJSON_Delete(v);
    return 0;
}

static int add_str(cJSON *o, const char *k, const char *v)
{
    return add_item(o, k, v ? cJSON_CreateStringReference(v) : cJSON_CreateNull());
}

/* v in decimal, as "%lld" writes it, into d (24 bytes) */
static const char *decimal(long long v, char d[24])
{
    char *p = d + 23;
    *p = '\0';
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0) *--p = '-';
    return p;
}

static int add_int(cJSON *o, const char *k, long long v)
{
    char digits[24];
    return add_item(o, k, cJSON_CreateRaw(decimal(v, digits)));
}

/* The record's time, "2026-11-27T23:50:26.927Z", into ts (96 bytes): the
 * part up to the second is formatted once a second per thread. */
static void timestamp(char ts[96])
{
    static __thread time_t sec = (time_t)-1;
    static __thread char head[80];
    static __thread size_t hl;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (tv.tv_sec != sec) {
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        int n = snprintf(head, sizeof head, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        hl = n > 0 && (size_t)n < sizeof head ? (size_t)n : 0;
        sec = hl ? tv.tv_sec : (time_t)-1;
    }
    int ms = (int)(tv.tv_usec / 1000);
    memcpy(ts, head, hl);
    ts[hl] = (char)('0' + ms / 100);
    ts[hl + 1] = (char)('0' + ms / 10 % 10);
    ts[hl + 2] = (char)('0' + ms % 10);
    ts[hl + 3] = 'Z';
    ts[hl + 4] = '\0';
}

cJSON *al_audit_begin(const char *event)
{
    char ts[96];
    timestamp(ts);
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    ok = ok && add_item(o, "time", cJSON_CreateString(ts)); /* ts is on this stack */
    ok = ok && add_int(o, "pid", (long long)getpid());
    if (event) ok = ok && add_item(o, "event", cJSON_CreateString(event));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

al_code al_audit_end(cJSON *o, int ok, al_buf *out)
{
    if (!ok || !o) {
        cJSON_Delete(o);
        return AL_ENOMEM;
    }
    /* printed straight into out when a line fits the space reserved (cJSON
     * wants 5 bytes to spare), else through cJSON's own buffer */
    enum { ROOM = 1024 };
    al_code r = al_buf_reserve(out, ROOM + 1);
    if (r == AL_OK && cJSON_PrintPreallocated(o, out->data + out->len, ROOM, 0)) {
        out->len += strlen(out->data + out->len);
    } else if (r == AL_OK) {
        out->data[out->len] = '\0'; /* whatever the failed print left */
        char *s = cJSON_PrintUnformatted(o);
        r = s ? al_buf_puts(out, s) : AL_ENOMEM;
        cJSON_free(s);
    }
    cJSON_Delete(o);
    return r == AL_OK ? al_buf_append(out, "\n", 1) : r;
}

/* The record's JSON object; *ok 0 when something could not be added (the
 * object is then incomplete).  NULL when out of memory. */
static cJSON *record_tree(const al_audit_rec *rec, int *okp)
{
    cJSON *o = al_audit_begin(NULL);
    int ok = o != NULL;
    ok = ok && add_str(o, "exe", rec->exe);
    ok = ok && add_str(o, "transport", rec->transport);
    ok = ok && add_str(o, "provider", rec->provider);
    ok = ok && add_str(o, "host", rec->host);
    if (rec->method) ok = ok && add_str(o, "method", rec->method);
    ok = ok && add_str(o, "path", rec->path);
    ok = ok && add_str(o, "model", rec->model && rec->model[0] ? rec->model : NULL);
    ok = ok && add_item(o, "stream", cJSON_CreateBool(rec->stream));
    ok = ok && (rec->status ? add_int(o, "status", rec->status)
                            : add_item(o, "status", cJSON_CreateNull()));
    ok = ok && add_item(o, "blocked", cJSON_CreateBool(rec->blocked));
    if (rec->would_block) ok = ok && add_item(o, "would_block", cJSON_CreateTrue());
    if (rec->restored) ok = ok && add_int(o, "thinking_restored", rec->restored);
    cJSON *rules = ok ? cJSON_CreateArray() : NULL;
    ok = ok && add_item(o, "rules", rules);
    for (size_t i = 0; ok && i < rec->nrules; i++) {
        cJSON *s = cJSON_CreateStringReference(rec->rules[i]);
        ok = s != NULL;
        if (s) cJSON_AddItemToArray(rules, s);
    }
    cJSON *red = ok ? cJSON_CreateObject() : NULL;
    ok = ok && add_item(o, "redactions", red);
    for (size_t i = 0; ok && i < rec->nentities; i++) {
        cJSON *e = cJSON_CreateObject();
        ok = add_item(red, rec->entities[i].name, e) &&
             add_int(e, "prompt", rec->entities[i].prompt) &&
             add_int(e, "completion", rec->entities[i].completion);
    }
    if (ok && (rec->in_tokens >= 0 || rec->out_tokens >= 0 || rec->total_tokens >= 0)) {
        cJSON *u = cJSON_CreateObject();
        ok = add_item(o, "usage", u);
        if (ok && rec->in_tokens >= 0) ok = add_int(u, "input_tokens", rec->in_tokens);
        if (ok && rec->out_tokens >= 0) ok = add_int(u, "output_tokens", rec->out_tokens);
        if (ok && rec->total_tokens >= 0) ok = add_int(u, "total_tokens", rec->total_tokens);
    } else if (ok) {
        ok = add_item(o, "usage", cJSON_CreateNull());
    }
    ok = ok && add_str(o, "mode", rec->mode ? rec->mode : "enforce");
    ok = ok && add_str(o, "fail", rec->fail);
    *okp = ok;
    return o;
}

al_code al_audit_format(const al_audit_rec *rec, al_buf *out)
{
    int ok = 0;
    cJSON *o = record_tree(rec, &ok);
    return al_audit_end(o, ok, out);
}

static al_code write_line(int fd, const char *s, size_t len)
{
    long n;
    do {
        n = syscall(SYS_write, fd, s, len);
    } while (n < 0 && errno == EINTR);
    return n == (long)len ? AL_OK : AL_EIO;
}

al_code al_audit_write(int fd, const al_audit_rec *rec)
{
    if (fd < 0) return AL_OK;
    int ok = 0;
    cJSON *o = record_tree(rec, &ok);
    if (!ok || !o) {
        cJSON_Delete(o);
        return AL_ENOMEM;
    }
    /* the usual line is printed on the stack (cJSON wants 5 bytes to spare
     * and the newline one); a longer one goes through al_audit_end */
    char line[1024];
    if (cJSON_PrintPreallocated(o, line, sizeof line - 1, 0)) {
        cJSON_Delete(o);
        size_t n = strlen(line);
        line[n] = '\n';
        return write_line(fd, line, n + 1);
    }
    al_buf b = {0};
    al_code r = al_audit_end(o, 1, &b);
    if (r == AL_OK) r = write_line(fd, b.data, b.len);
    al_buf_free(&b);
    return r;
}

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

static int add_int(cJSON *o, const char *k, long long v)
{
    char digits[24];
    snprintf(digits, sizeof digits, "%lld", v);
    return add_item(o, k, cJSON_CreateRaw(digits));
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

/* The exchange's line is written here directly rather than built as a cJSON
 * tree and printed (some 40 allocations and frees per exchange, about as
 * many instructions as the rest of a streamed reply's last event): the same
 * bytes al_audit_begin, the fields below and al_audit_end would give, as
 * cJSON_PrintUnformatted writes them.  A failed append makes *ok 0. */
static void put(al_buf *b, const char *s, size_t n, int *ok)
{
    if (*ok && al_buf_append(b, s, n) != AL_OK) *ok = 0;
}

#define PUT(b, lit, ok) put(b, lit, sizeof lit - 1, ok)

/* s as a JSON string, escaped as cJSON escapes it; null when s is NULL. */
static void put_str(al_buf *b, const char *s, int *ok)
{
    if (!s) {
        PUT(b, "null", ok);
        return;
    }
    size_t n = 0;
    while (s[n] && (unsigned char)s[n] >= 32 && s[n] != '"' && s[n] != '\\') n++;
    if (!s[n]) { /* nothing to escape (the usual string): quoted as it is */
        if (*ok && al_buf_reserve(b, n + 2) != AL_OK) *ok = 0;
        if (!*ok) return;
        char *d = b->data + b->len;
        d[0] = '"';
        memcpy(d + 1, s, n);
        d[n + 1] = '"';
        d[n + 2] = '\0';
        b->len += n + 2;
        return;
    }
    PUT(b, "\"", ok);
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 32 && c != '"' && c != '\\') continue;
        put(b, run, (size_t)(p - run), ok);
        char e[8] = {'\\', (char)c, 0};
        size_t n = 2;
        switch (c) {
        case '"':
        case '\\':
            break;
        case '\b':
            e[1] = 'b';
            break;
        case '\f':
            e[1] = 'f';
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        default:
            snprintf(e + 1, sizeof e - 1, "u%04x", c);
            n = 6;
        }
        put(b, e, n, ok);
        run = p + 1;
    }
    put(b, run, strlen(run), ok);
    PUT(b, "\"", ok);
}

/* v in decimal (as add_int's "%lld"). */
static void put_int(al_buf *b, long long v, int *ok)
{
    char d[24], *e = d + sizeof d, *p = e;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0) *--p = '-';
    put(b, p, (size_t)(e - p), ok);
}

/* The "time" of al_audit_begin: now, UTC, to the millisecond. */
static void put_time(al_buf *b, int *ok)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[96];
    int y = tm.tm_year + 1900, ms = (int)(tv.tv_usec / 1000);
    if (y < 0 || y > 9999) {
        snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
        put_str(b, ts, ok);
        return;
    }
    const int v[] = {y / 100, y % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
    static const char sep[7] = {0, 0, '-', '-', 'T', ':', ':'};
    char *p = ts;
    *p++ = '"';
    for (int i = 0; i < 7; i++) {
        if (sep[i]) *p++ = sep[i];
        *p++ = (char)('0' + v[i] / 10);
        *p++ = (char)('0' + v[i] % 10);
    }
    *p++ = '.';
    *p++ = (char)('0' + ms / 100);
    *p++ = (char)('0' + ms / 10 % 10);
    *p++ = (char)('0' + ms % 10);
    *p++ = 'Z';
    *p++ = '"';
    put(b, ts, (size_t)(p - ts), ok);
}

al_code al_audit_format(const al_audit_rec *rec, al_buf *out)
{
    const size_t start = out->len;
    int ok = al_buf_reserve(out, 512) == AL_OK;
    PUT(out, "{\"time\":", &ok);
    put_time(out, &ok);
    PUT(out, ",\"pid\":", &ok);
    put_int(out, (long long)getpid(), &ok);
    PUT(out, ",\"exe\":", &ok);
    put_str(out, rec->exe, &ok);
    PUT(out, ",\"transport\":", &ok);
    put_str(out, rec->transport, &ok);
    PUT(out, ",\"provider\":", &ok);
    put_str(out, rec->provider, &ok);
    PUT(out, ",\"host\":", &ok);
    put_str(out, rec->host, &ok);
    if (rec->method) {
        PUT(out, ",\"method\":", &ok);
        put_str(out, rec->method, &ok);
    }
    PUT(out, ",\"path\":", &ok);
    put_str(out, rec->path, &ok);
    PUT(out, ",\"model\":", &ok);
    put_str(out, rec->model && rec->model[0] ? rec->model : NULL, &ok);
    if (rec->stream)
        PUT(out, ",\"stream\":true,\"status\":", &ok);
    else
        PUT(out, ",\"stream\":false,\"status\":", &ok);
    if (rec->status)
        put_int(out, rec->status, &ok);
    else
        PUT(out, "null", &ok);
    if (rec->blocked)
        PUT(out, ",\"blocked\":true", &ok);
    else
        PUT(out, ",\"blocked\":false", &ok);
    if (rec->would_block) PUT(out, ",\"would_block\":true", &ok);
    if (rec->restored) {
        PUT(out, ",\"thinking_restored\":", &ok);
        put_int(out, rec->restored, &ok);
    }
    PUT(out, ",\"rules\":[", &ok);
    for (size_t i = 0; i < rec->nrules; i++) {
        if (i) PUT(out, ",", &ok);
        put_str(out, rec->rules[i], &ok);
    }
    PUT(out, "],\"redactions\":{", &ok);
    for (size_t i = 0; i < rec->nentities; i++) {
        if (i) PUT(out, ",", &ok);
        put_str(out, rec->entities[i].name, &ok);
        PUT(out, ":{\"prompt\":", &ok);
        put_int(out, rec->entities[i].prompt, &ok);
        PUT(out, ",\"completion\":", &ok);
        put_int(out, rec->entities[i].completion, &ok);
        PUT(out, "}", &ok);
    }
    PUT(out, "},\"usage\":", &ok);
    if (rec->in_tokens >= 0 || rec->out_tokens >= 0 || rec->total_tokens >= 0) {
        const char *sep = "{";
        const long long v[3] = {rec->in_tokens, rec->out_tokens, rec->total_tokens};
        static const char *const k[3] = {"input_tokens", "output_tokens", "total_tokens"};
        for (int i = 0; i < 3; i++) {
            if (v[i] < 0) continue;
            put(out, sep, 1, &ok);
            put_str(out, k[i], &ok);
            PUT(out, ":", &ok);
            put_int(out, v[i], &ok);
            sep = ",";
        }
        PUT(out, "}", &ok);
    } else {
        PUT(out, "null", &ok);
    }
    PUT(out, ",\"mode\":", &ok);
    put_str(out, rec->mode ? rec->mode : "enforce", &ok);
    PUT(out, ",\"fail\":", &ok);
    put_str(out, rec->fail, &ok);
    PUT(out, "}\n", &ok);
    if (ok) return AL_OK;
    out->len = start; /* nothing appended */
    if (out->data) out->data[start] = '\0';
    return AL_ENOMEM;
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

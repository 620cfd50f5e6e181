/* audit.h: the audit log, one JSON line per LLM exchange.  A record holds
 * names, counts and numbers only: never prompt or completion text, never an
 * API key, never a matched value. */
#ifndef AL_AUDIT_H
#define AL_AUDIT_H

#include <cjson/cJSON.h>

#include "al.h"

#define AL_AUDIT_MAX_RULES 64
#define AL_AUDIT_MAX_ENTITIES 32

typedef struct {
    const char *name; /* entity name (owned by the engine) */
    unsigned prompt, completion;
} al_audit_count;

typedef struct {
    const char *transport, *provider, *exe; /* may be NULL */
    const char *host, *path, *model;        /* may be NULL; path has no query string */
    const char *method;                     /* "POST", "GET"; NULL: not known */
    const char *mode;                       /* "enforce" | "monitor" */
    const char *fail;                       /* why screening failed, or NULL */
    int stream;
    int status; /* HTTP status of the reply, 0 when none */
    int blocked, would_block;
    int restored; /* signed thinking blocks whose original text was put back */
    const char *rules[AL_AUDIT_MAX_RULES]; /* distinct rule ids hit (owned by the engine) */
    size_t nrules;
    al_audit_count entities[AL_AUDIT_MAX_ENTITIES]; /* redactions per entity */
    size_t nentities;
    long long in_tokens, out_tokens, total_tokens; /* -1 when not reported */
} al_audit_rec;

/* Zeroes rec and sets the token counts to -1. */
AL_API void al_audit_init(al_audit_rec *rec);
/* Adds a rule id (ignored when already present or the list is full). */
AL_API void al_audit_rule(al_audit_rec *rec, const char *rule);
/* Counts one redaction of entity in the prompt (completion = 0) or completion. */
AL_API void al_audit_redaction(al_audit_rec *rec, const char *entity, int completion);

/* A new audit object holding "time" (UTC, milliseconds) and "pid", then
 * "event" when event is non-NULL (the lines that are not exchanges:
 * "weights", "egress").  NULL when out of memory. */
AL_API cJSON *al_audit_begin(const char *event);

/* Appends o as one JSON line to out and deletes o.  ok = 0 (a field could
 * not be added) or a failed print gives AL_ENOMEM and appends nothing. */
AL_API al_code al_audit_end(cJSON *o, int ok, al_buf *out);

/* Formats rec as one JSON object followed by "\n" (appended to out); time and
 * pid are added here.  AL_ENOMEM on allocation failure. */
AL_API al_code al_audit_format(const al_audit_rec *rec, al_buf *out);

/* Formats rec and writes it to fd with a single write system call (the raw
 * syscall, so no interposed write() is re-entered; with O_APPEND, lines of
 * concurrent processes never interleave).  fd < 0: does nothing. */
AL_API al_code al_audit_write(int fd, const al_audit_rec *rec);

#endif

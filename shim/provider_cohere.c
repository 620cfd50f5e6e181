/* provider_cohere.c: Cohere's Chat API v2 (POST /v2/chat): messages with
 * tool plans, tool calls and tool results, RAG documents, and the
 * content-delta .. message-end event stream.  Never reads the texts. */
#include <string.h>

#include "provider.h"

/* Stream keys: a content block's text (index * 4) and thinking (index * 4 +
 * 1), the tool plan, and each tool call's arguments (KEY_TOOL + index). */
#define KEY_PLAN 2
#define KEY_TOOL 400000

static al_role role_of(const char *r)
{
    if (!r) return AL_ROLE_USER;
    if (!strcmp(r, "system")) return AL_ROLE_SYSTEM;
    if (!strcmp(r, "assistant")) return AL_ROLE_ASSISTANT;
    if (!strcmp(r, "tool")) return AL_ROLE_TOOL;
    return AL_ROLE_USER;
}

/* content: a string, or blocks: {"type":"text","text"}, {"type":"thinking",
 * "thinking"}, {"type":"document","document":{"data":...}} (a tool's result
 * or a document: every string of its data). */
static al_code push_content(al_texts *t, cJSON *content, al_role role)
{
    if (cJSON_IsString(content)) return al_texts_push(t, content, role);
    cJSON *b;
    cJSON_ArrayForEach(b, content)
    {
        al_code r = al_texts_push(t, al_json_get(b, "text"), role);
        if (r == AL_OK) r = al_texts_push(t, al_json_get(b, "thinking"), role);
        if (r == AL_OK)
            r = al_texts_push_all(t, al_json_get(al_json_get(b, "document"), "data"), role);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

static al_code push_message(al_texts *t, cJSON *m, al_role ro)
{
    al_code r = push_content(t, al_json_get(m, "content"), ro);
    if (r == AL_OK) r = al_texts_push(t, al_json_get(m, "tool_plan"), ro);
    cJSON *tc;
    cJSON_ArrayForEach(tc, al_json_get(m, "tool_calls"))
    {
        if (r == AL_OK)
            r = al_texts_push(t, al_json_get(al_json_get(tc, "function"), "arguments"), ro);
    }
    return r;
}

static al_code prompts(al_api api, cJSON *root, al_texts *t)
{
    al_code r = AL_OK;
    cJSON *m;
    cJSON_ArrayForEach(m, al_json_get(root, "messages"))
    {
        if (r == AL_OK) r = push_message(t, m, role_of(al_json_str(m, "role")));
    }
    /* documents for retrieval-augmented answers: strings or {"data": {...}} */
    cJSON_ArrayForEach(m, al_json_get(root, "documents"))
    {
        if (r == AL_OK)
            r = cJSON_IsString(m) ? al_texts_push(t, m, AL_ROLE_TOOL)
                                  : al_texts_push_all(t, al_json_get(m, "data"), AL_ROLE_TOOL);
    }
    return r;
}

static al_code completions(al_api api, cJSON *root, al_texts *t)
{
    return push_message(t, al_json_get(root, "message"), AL_ROLE_ASSISTANT);
}

static void usage(al_api api, const cJSON *root, al_usage *u)
{
    const cJSON *us = al_json_get(root, "usage");
    if (!us) us = al_json_get(al_json_get(root, "delta"), "usage"); /* message-end */
    const cJSON *n = al_json_get(us, "tokens");
    if (!cJSON_IsObject(n)) n = al_json_get(us, "billed_units");
    if (!cJSON_IsObject(n)) return;
    al_usage_in_out(u, n, "input_tokens", "output_tokens");
}

static al_code stream_event(al_api api, const char *name, cJSON *ev, al_stream_io *io)
{
    const char *type = al_json_str(ev, "type");
    if (!type) return AL_OK;
    int i = al_json_int(ev, "index", 0);
    if (i < 0 || i > 99999) i = 0;
    cJSON *msg = al_json_get(al_json_get(ev, "delta"), "message");
    al_code r = AL_OK;
    /* the tool plan comes first and has no end event of its own: it ends
     * where a tool call or the answer starts */
    if (!strcmp(type, "tool-call-start") || !strcmp(type, "content-start"))
        r = io->end(io, KEY_PLAN, NULL);
    if (r != AL_OK) return r;
    if (!strcmp(type, "content-delta") || !strcmp(type, "content-start")) {
        cJSON *c = al_json_get(msg, "content");
        cJSON *tx = al_json_get(c, "text"), *th = al_json_get(c, "thinking");
        if (cJSON_IsString(tx)) r = io->delta(io, i * 4, tx, ev);
        if (r == AL_OK && cJSON_IsString(th)) r = io->delta(io, i * 4 + 1, th, ev);
    } else if (!strcmp(type, "tool-plan-delta")) {
        cJSON *p = al_json_get(msg, "tool_plan");
        if (cJSON_IsString(p)) r = io->delta(io, KEY_PLAN, p, ev);
    } else if (!strcmp(type, "tool-call-start") || !strcmp(type, "tool-call-delta")) {
        cJSON *a =
            al_json_get(al_json_get(al_json_get(msg, "tool_calls"), "function"), "arguments");
        if (cJSON_IsString(a)) r = io->delta(io, KEY_TOOL + i, a, ev);
    } else if (!strcmp(type, "content-end")) {
        if ((r = io->end(io, i * 4, NULL)) == AL_OK) r = io->end(io, i * 4 + 1, NULL);
    } else if (!strcmp(type, "tool-call-end")) {
        r = io->end(io, KEY_TOOL + i, NULL);
    } else if (!strcmp(type, "message-end")) {
        r = io->end_all(io);
    }
    return r;
}

static cJSON *delta_event(al_api api, const cJSON *tmpl, int key, const char *text)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON *d = ev ? cJSON_AddObjectToObject(ev, "delta") : NULL;
    cJSON *m = d ? cJSON_AddObjectToObject(d, "message") : NULL;
    int ok = m != NULL;
    if (key == KEY_PLAN) {
        ok = ok && cJSON_AddStringToObject(ev, "type", "tool-plan-delta") &&
             cJSON_AddStringToObject(m, "tool_plan", text);
    } else if (key >= KEY_TOOL) {
        cJSON *tc = ok ? cJSON_AddObjectToObject(m, "tool_calls") : NULL;
        cJSON *f = tc ? cJSON_AddObjectToObject(tc, "function") : NULL;
        ok = f && cJSON_AddStringToObject(ev, "type", "tool-call-delta") &&
             cJSON_AddNumberToObject(ev, "index", key - KEY_TOOL) &&
             cJSON_AddStringToObject(f, "arguments", text);
    } else {
        cJSON *c = ok ? cJSON_AddObjectToObject(m, "content") : NULL;
        ok = c && cJSON_AddStringToObject(ev, "type", "content-delta") &&
             cJSON_AddNumberToObject(ev, "index", key / 4) &&
             cJSON_AddStringToObject(c, key % 4 ? "thinking" : "text", text);
    }
    if (!ok) {
        cJSON_Delete(ev);
        return NULL;
    }
    return ev;
}

/* Cohere's error body: {"message": ...}. */
static al_code error_body(al_buf *out, int status, int blocked, const char *message)
{
    return al_json_error_field(out, "message", message);
}

static int shape(al_api api, const cJSON *root)
{
    return cJSON_IsObject(root) && cJSON_IsArray(al_json_get(root, "messages"));
}

const al_provider al_provider_cohere = {
    .name = "cohere",
    .shape = shape,
    .prompts = prompts,
    .completions = completions,
    .usage = usage,
    .stream_event = stream_event,
    .delta_event = delta_event,
    .error = error_body,
    .wants_stream = al_wants_stream_true,
};

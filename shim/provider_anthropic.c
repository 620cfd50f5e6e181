/* provider_anthropic.c: the Anthropic Messages API (/v1/messages): system,
 * message content blocks, tool results, text and tool_use replies, and the
 * message_start .. message_stop event stream.  Never reads the texts. */
#include <string.h>

#include "provider.h"

static al_code push_blocks(al_texts *t, cJSON *content, al_role role);

/* A citation's texts: the quote of the cited source ("cited_text") and the
 * source's title ("document_title" of a char, page or content block
 * location; "title" of a web search or search result location).  Its url,
 * source, encrypted_index and indexes are references, left as they came. */
static al_code push_citation(al_texts *t, cJSON *ci, al_role role)
{
    al_code r = al_texts_push(t, al_json_get(ci, "cited_text"), role);
    if (r == AL_OK) r = al_texts_push(t, al_json_get(ci, "document_title"), role);
    if (r == AL_OK) r = al_texts_push(t, al_json_get(ci, "title"), role);
    return r;
}

/* The texts of one content block. */
static al_code push_block(al_texts *t, cJSON *b, al_role role)
{
    const char *type = al_json_str(b, "type");
    al_code r = AL_OK;
    if (type && !strcmp(type, "tool_result")) {
        r = push_blocks(t, al_json_get(b, "content"), AL_ROLE_TOOL);
    } else if (type && (!strcmp(type, "tool_use") || !strcmp(type, "server_tool_use") ||
                        !strcmp(type, "mcp_tool_use"))) {
        r = al_texts_push_all(t, al_json_get(b, "input"), AL_ROLE_ASSISTANT);
    } else if (type && !strcmp(type, "document")) {
        cJSON *src = al_json_get(b, "source");
        const char *st = al_json_str(src, "type");
        if (st && !strcmp(st, "text")) r = al_texts_push(t, al_json_get(src, "data"), role);
        if (st && !strcmp(st, "content")) r = push_blocks(t, al_json_get(src, "content"), role);
        /* the model reads a document's title and context too */
        if (r == AL_OK) r = al_texts_push(t, al_json_get(b, "title"), role);
        if (r == AL_OK) r = al_texts_push(t, al_json_get(b, "context"), role);
    } else if (type && !strcmp(type, "search_result")) {
        /* retrieved text: indirect injection arrives here, as in tool results */
        r = push_blocks(t, al_json_get(b, "content"), AL_ROLE_TOOL);
        if (r == AL_OK) r = al_texts_push(t, al_json_get(b, "title"), AL_ROLE_TOOL);
    } else if (type && !strcmp(type, "web_search_result")) {
        /* a page the server's web search found: its title is read by the
         * program (the page itself comes encrypted, never read here).  Sent
         * back it is data: secrets and PII as configured, an injection-like
         * title only flagged, so a search result does not stop the
         * conversation that follows */
        r = al_texts_push(t, al_json_get(b, "title"), AL_ROLE_DOCUMENT);
    } else if (type && strlen(type) > 12 && !strcmp(type + strlen(type) - 12, "_tool_result")) {
        /* server and MCP tool results (web fetch, code execution, MCP
         * connector): what a tool fetched or printed, read as tool output */
        cJSON *c = al_json_get(b, "content");
        if (!cJSON_IsObject(c)) {
            r = push_blocks(t, c, AL_ROLE_TOOL);
        } else {
            cJSON *doc = al_json_get(c, "content"); /* web_fetch_result: a document */
            if (cJSON_IsObject(doc)) r = push_block(t, doc, AL_ROLE_TOOL);
            if (r == AL_OK) r = al_texts_push(t, al_json_get(c, "stdout"), AL_ROLE_TOOL);
            if (r == AL_OK) r = al_texts_push(t, al_json_get(c, "stderr"), AL_ROLE_TOOL);
        }
    } else if (type && !strcmp(type, "thinking")) {
        /* signed over its text: the exchange keeps what it changed (signmem.h) */
        r = al_texts_push_signed(t, al_json_get(b, "thinking"), role, al_json_str(b, "signature"));
    } else {
        r = al_texts_push(t, al_json_get(b, "text"), role);
    }
    /* citations quote the cited document in "cited_text" and name it */
    cJSON *ci;
    cJSON_ArrayForEach(ci, al_json_get(b, "citations"))
    {
        if (r == AL_OK && cJSON_IsObject(ci)) r = push_citation(t, ci, role);
    }
    return r;
}

static al_code push_blocks(al_texts *t, cJSON *content, al_role role)
{
    if (cJSON_IsString(content)) return al_texts_push(t, content, role);
    cJSON *b;
    cJSON_ArrayForEach(b, content)
    {
        al_code r = push_block(t, b, role);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

static al_code prompts(al_api api, cJSON *root, al_texts *t)
{
    cJSON *m;
    /* a Message Batch: {"requests":[{"custom_id":..,"params":{Messages body}}]} */
    cJSON_ArrayForEach(m, al_json_get(root, "requests"))
    {
        cJSON *params = al_json_get(m, "params");
        al_code r = cJSON_IsObject(params) && !al_json_get(params, "requests")
                        ? prompts(api, params, t)
                        : AL_OK;
        if (r != AL_OK) return r;
    }
    al_code r = push_blocks(t, al_json_get(root, "system"), AL_ROLE_SYSTEM);
    if (r != AL_OK) return r;
    cJSON_ArrayForEach(m, al_json_get(root, "messages"))
    {
        const char *role = al_json_str(m, "role");
        al_role ro = role && !strcmp(role, "assistant") ? AL_ROLE_ASSISTANT : AL_ROLE_USER;
        if ((r = push_blocks(t, al_json_get(m, "content"), ro)) != AL_OK) return r;
    }
    return AL_OK;
}

/* A Message Batch's result (one JSONL line of GET .../results):
 * {"custom_id":..,"result":{"type":"succeeded","message":{Messages reply}}}
 * (an errored, canceled or expired result carries no reply). */
static cJSON *batch_message(cJSON *line)
{
    return al_json_get(al_json_get(line, "result"), "message");
}

static al_code completions(al_api api, cJSON *root, al_texts *t)
{
    if (api == AL_API_BATCH_RESULTS) root = batch_message(root);
    return push_blocks(t, al_json_get(root, "content"), AL_ROLE_ASSISTANT);
}

static void usage(al_api api, const cJSON *root, al_usage *u)
{
    const cJSON *us = al_json_get(root, "usage");
    if (!us) us = al_json_get(al_json_get(root, "message"), "usage");
    if (!cJSON_IsObject(us)) return;
    al_usage_in_out(u, us, "input_tokens", "output_tokens");
}

static al_code stream_event(al_api api, const char *name, cJSON *ev, al_stream_io *io)
{
    if (api == AL_API_BATCH_RESULTS) {
        /* each line a whole result: its texts are scrubbed whole */
        al_texts t = {0};
        al_code r = completions(api, ev, &t);
        if (r == AL_OK) r = al_texts_whole(io, &t);
        al_texts_free(&t);
        return r;
    }
    const char *type = al_json_str(ev, "type");
    if (!type) return AL_OK;
    int i = al_json_int(ev, "index", 0);
    if (i < 0 || i > 100000) i = 0;
    if (!strcmp(type, "content_block_delta")) {
        cJSON *d = al_json_get(ev, "delta");
        cJSON *node = al_json_get(d, "text");
        if (!node) node = al_json_get(d, "partial_json");
        cJSON *th = node ? NULL : al_json_get(d, "thinking");
        if (th) node = th;
        cJSON *cit = al_json_get(d, "citation");
        if (!node && cJSON_IsObject(cit)) { /* citations_delta: a whole citation */
            al_texts t = {0};
            al_code r = push_citation(&t, cit, AL_ROLE_ASSISTANT);
            if (r == AL_OK) r = al_texts_whole(io, &t);
            al_texts_free(&t);
            return r;
        }
        /* a thinking block is signed over its text (signature_delta ends it) */
        const char *sig = al_json_str(d, "signature");
        if (!node && sig && io->sign) return io->sign(io, i, sig);
        if (!cJSON_IsString(node)) return AL_OK;
        al_code r = io->delta(io, i, node, ev);
        return r == AL_OK && cJSON_IsString(th) && io->sign ? io->sign(io, i, NULL) : r;
    }
    if (!strcmp(type, "content_block_start")) {
        /* a block may start with its text, or a tool call with its input */
        al_texts t = {0};
        al_code r = push_block(&t, al_json_get(ev, "content_block"), AL_ROLE_ASSISTANT);
        if (r == AL_OK) r = al_texts_whole(io, &t);
        al_texts_free(&t);
        return r;
    }
    if (!strcmp(type, "content_block_stop")) return io->end(io, i, NULL);
    if (!strcmp(type, "message_delta") || !strcmp(type, "message_stop")) return io->end_all(io);
    return AL_OK;
}

static cJSON *delta_event(al_api api, const cJSON *tmpl, int key, const char *text)
{
    cJSON *ev = cJSON_CreateObject();
    const cJSON *td = al_json_get(tmpl, "delta");
    const char *dtype = al_json_str(td, "type");
    const char *field = "text";
    if (dtype && !strcmp(dtype, "input_json_delta")) field = "partial_json";
    if (dtype && !strcmp(dtype, "thinking_delta")) field = "thinking";
    cJSON *d = ev ? cJSON_CreateObject() : NULL;
    if (!d || !cJSON_AddStringToObject(ev, "type", "content_block_delta") ||
        !cJSON_AddNumberToObject(ev, "index", key)) {
        cJSON_Delete(d);
        cJSON_Delete(ev);
        return NULL;
    }
    cJSON_AddItemToObject(ev, "delta", d);
    if (!cJSON_AddStringToObject(d, "type", dtype ? dtype : "text_delta") ||
        !cJSON_AddStringToObject(d, field, text)) {
        cJSON_Delete(ev);
        return NULL;
    }
    return ev;
}

static al_code error_body(al_buf *out, int status, int blocked, const char *message)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *e = NULL;
    if (doc && cJSON_AddStringToObject(doc, "type", "error"))
        e = cJSON_AddObjectToObject(doc, "error");
    if (!e ||
        !cJSON_AddStringToObject(e, "type",
                                 status >= 500 ? "api_error" : "invalid_request_error") ||
        !cJSON_AddStringToObject(e, "message", message)) {
        cJSON_Delete(doc);
        return AL_ENOMEM;
    }
    return al_json_emit(doc, out);
}

static int shape(al_api api, const cJSON *root)
{
    return cJSON_IsObject(root) && (cJSON_IsArray(al_json_get(root, "messages")) ||
                                    cJSON_IsArray(al_json_get(root, "requests")));
}

const al_provider al_provider_anthropic = {
    .name = "anthropic",
    .shape = shape,
    .prompts = prompts,
    .completions = completions,
    .usage = usage,
    .stream_event = stream_event,
    .delta_event = delta_event,
    .error = error_body,
    .wants_stream = al_wants_stream_true,
};

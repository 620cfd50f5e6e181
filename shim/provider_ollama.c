/* provider_ollama.c: Ollama /api/chat and /api/generate, whole replies and
 * NDJSON streams ending in done:true.  Never reads the texts. */
#include <string.h>

#include "provider.h"

static al_role role_of(const char *r)
{
    if (!r) return AL_ROLE_USER;
    if (!strcmp(r, "system")) return AL_ROLE_SYSTEM;
    if (!strcmp(r, "assistant")) return AL_ROLE_ASSISTANT;
    if (!strcmp(r, "tool")) return AL_ROLE_TOOL;
    return AL_ROLE_USER;
}

static al_code prompts(al_api api, cJSON *root, al_texts *t)
{
    al_code r;
    if (api == AL_API_OLLAMA_EMBED) { /* /api/embed's "input", /api/embeddings' "prompt" */
        if ((r = al_texts_push_inputs(t, al_json_get(root, "input"), AL_ROLE_DOCUMENT)) != AL_OK)
            return r;
        return al_texts_push(t, al_json_get(root, "prompt"), AL_ROLE_DOCUMENT);
    }
    if (api == AL_API_OLLAMA_GEN) {
        if ((r = al_texts_push(t, al_json_get(root, "system"), AL_ROLE_SYSTEM)) != AL_OK) return r;
        if ((r = al_texts_push(t, al_json_get(root, "prompt"), AL_ROLE_USER)) != AL_OK) return r;
        /* fill-in-the-middle: the model reads the text after the cursor too */
        return al_texts_push(t, al_json_get(root, "suffix"), AL_ROLE_USER);
    }
    cJSON *m;
    cJSON_ArrayForEach(m, al_json_get(root, "messages"))
    {
        al_role ro = role_of(al_json_str(m, "role"));
        if ((r = al_texts_push(t, al_json_get(m, "content"), ro)) != AL_OK) return r;
        cJSON *tc;
        cJSON_ArrayForEach(tc, al_json_get(m, "tool_calls"))
        {
            r = al_texts_push_all(t, al_json_get(al_json_get(tc, "function"), "arguments"), ro);
            if (r != AL_OK) return r;
        }
    }
    return AL_OK;
}

static al_code completions(al_api api, cJSON *root, al_texts *t)
{
    cJSON *msg = al_json_get(root, "message");
    al_code r = al_texts_push(t, al_json_get(msg, "content"), AL_ROLE_ASSISTANT);
    if (r == AL_OK) r = al_texts_push(t, al_json_get(root, "response"), AL_ROLE_ASSISTANT);
    /* a thinking model's reasoning ("think": true) */
    if (r == AL_OK) r = al_texts_push(t, al_json_get(msg, "thinking"), AL_ROLE_ASSISTANT);
    if (r == AL_OK) r = al_texts_push(t, al_json_get(root, "thinking"), AL_ROLE_ASSISTANT);
    cJSON *tc;
    cJSON_ArrayForEach(tc, al_json_get(msg, "tool_calls"))
    {
        if (r == AL_OK)
            r = al_texts_push_all(t, al_json_get(al_json_get(tc, "function"), "arguments"),
                                  AL_ROLE_ASSISTANT);
    }
    return r;
}

static void usage(al_api api, const cJSON *root, al_usage *u)
{
    al_usage_in_out(u, root, "prompt_eval_count", "eval_count");
}

/* Stream keys: 0 the answer, 1 the thinking text. */
#define KEY_THINKING 1

static al_code stream_event(al_api api, const char *name, cJSON *ev, al_stream_io *io)
{
    cJSON *node = api == AL_API_OLLAMA_GEN ? al_json_get(ev, "response")
                                           : al_json_get(al_json_get(ev, "message"), "content");
    cJSON *think = api == AL_API_OLLAMA_GEN ? al_json_get(ev, "thinking")
                                            : al_json_get(al_json_get(ev, "message"), "thinking");
    al_code r = AL_OK;
    /* a thinking model's events carry "content": "" beside the thinking
     * text and "thinking": "" beside the answer: only the text that is there
     * is a delta, so such an event stays one key's (and a clean stream
     * passes byte for byte) */
    int has_think = cJSON_IsString(think) && think->valuestring[0];
    int has_node = cJSON_IsString(node) && node->valuestring[0];
    if (has_think && (r = io->delta(io, KEY_THINKING, think, ev)) != AL_OK) return r;
    if (cJSON_IsString(node) && (has_node || !has_think) &&
        (r = io->delta(io, 0, node, ev)) != AL_OK)
        return r;
    al_texts t = {0};
    cJSON *tc;
    cJSON_ArrayForEach(tc, al_json_get(al_json_get(ev, "message"), "tool_calls"))
    {
        if (r == AL_OK)
            r = al_texts_push_all(&t, al_json_get(al_json_get(tc, "function"), "arguments"),
                                  AL_ROLE_ASSISTANT);
    }
    if (r == AL_OK) r = al_texts_whole(io, &t);
    al_texts_free(&t);
    if (r == AL_OK && cJSON_IsTrue(al_json_get(ev, "done"))) {
        r = io->end(io, KEY_THINKING, NULL);
        if (r == AL_OK) r = io->end(io, 0, cJSON_IsString(node) ? node : NULL);
    }
    return r;
}

static cJSON *delta_event(al_api api, const cJSON *tmpl, int key, const char *text)
{
    cJSON *ev = cJSON_CreateObject();
    if (!ev) return NULL;
    const char *model = al_json_str(tmpl, "model"), *at = al_json_str(tmpl, "created_at");
    int ok = 1;
    if (model) ok = ok && cJSON_AddStringToObject(ev, "model", model);
    if (at) ok = ok && cJSON_AddStringToObject(ev, "created_at", at);
    int think = key == KEY_THINKING;
    if (api == AL_API_OLLAMA_GEN) {
        ok = ok && cJSON_AddStringToObject(ev, "response", think ? "" : text);
        if (think) ok = ok && cJSON_AddStringToObject(ev, "thinking", text);
    } else {
        cJSON *m = cJSON_AddObjectToObject(ev, "message");
        ok = ok && m && cJSON_AddStringToObject(m, "role", "assistant") &&
             cJSON_AddStringToObject(m, "content", think ? "" : text);
        if (think) ok = ok && cJSON_AddStringToObject(m, "thinking", text);
    }
    ok = ok && cJSON_AddFalseToObject(ev, "done");
    if (!ok) {
        cJSON_Delete(ev);
        return NULL;
    }
    return ev;
}

static al_code error_body(al_buf *out, int status, int blocked, const char *message)
{
    return al_json_error_field(out, "error", message);
}

static int shape(al_api api, const cJSON *root)
{
    if (!cJSON_IsObject(root)) return 0;
    if (api == AL_API_OLLAMA_CHAT) return cJSON_IsArray(al_json_get(root, "messages"));
    if (api == AL_API_OLLAMA_EMBED)
        return al_json_get(root, "input") != NULL || al_json_get(root, "prompt") != NULL;
    return al_json_get(root, "prompt") != NULL || al_json_get(root, "model") != NULL;
}

static int wants_stream(al_api api, const cJSON *root)
{
    return api != AL_API_OLLAMA_EMBED && !cJSON_IsFalse(al_json_get(root, "stream"));
}

const al_provider al_provider_ollama = {
    .name = "ollama",
    .shape = shape,
    .prompts = prompts,
    .completions = completions,
    .usage = usage,
    .stream_event = stream_event,
    .delta_event = delta_event,
    .error = error_body,
    .wants_stream = wants_stream,
};

/* provider_gemini.c: Google Gemini generateContent / streamGenerateContent
 * (SSE with alt=sse, else a JSON array): contents, systemInstruction,
 * function responses, candidate parts.  Never reads the texts. */
#include <string.h>
#include <strings.h>

#include "provider.h"

/* Google's JSON accepts one object where a list is expected ("contents":
 * {...}, "parts": {"text": ...}, as Vertex AI's own examples write them):
 * the loop body runs for each element of a list, or once for an object. */
#define FOR_EACH_ONE(it, node)                                                                     \
    for (cJSON *it##_l = (node), *it = cJSON_IsArray(it##_l)    ? it##_l->child                    \
                                       : cJSON_IsObject(it##_l) ? it##_l                           \
                                                                : NULL;                            \
         it; it = cJSON_IsArray(it##_l) ? it->next : NULL)

/* o's member by its camelCase name, else by its snake_case one (the REST
 * API takes both spellings) */
static cJSON *get2(const cJSON *o, const char *camel, const char *snake)
{
    cJSON *v = al_json_get(o, camel);
    return v ? v : al_json_get(o, snake);
}

/* Texts of a part that are not its "text": a function call's arguments and
 * response, generated code and what running it printed. */
static al_code push_part_extras(al_texts *t, cJSON *p, al_role role)
{
    cJSON *fr = get2(p, "functionResponse", "function_response");
    al_code r = al_texts_push_all(t, al_json_get(fr, "response"), AL_ROLE_TOOL);
    if (r == AL_OK) {
        cJSON *fc = get2(p, "functionCall", "function_call");
        r = al_texts_push_all(t, al_json_get(fc, "args"), AL_ROLE_ASSISTANT);
    }
    cJSON *ec = get2(p, "executableCode", "executable_code");
    if (r == AL_OK) r = al_texts_push(t, al_json_get(ec, "code"), role);
    cJSON *cr = get2(p, "codeExecutionResult", "code_execution_result");
    /* what the code printed: tool output, like a function's response */
    if (r == AL_OK) r = al_texts_push(t, al_json_get(cr, "output"), AL_ROLE_TOOL);
    return r;
}

static al_code push_parts(al_texts *t, cJSON *content, al_role role)
{
    FOR_EACH_ONE(p, al_json_get(content, "parts"))
    {
        al_code r = al_texts_push(t, al_json_get(p, "text"), role);
        if (r == AL_OK) r = push_part_extras(t, p, role);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

/* Texts of an Interactions API reply: every "text" under its outputs or
 * steps, and function call arguments (depth-capped). */
static al_code push_step_texts(al_texts *t, cJSON *node, al_role role, int depth)
{
    if (!node || depth > 16) return AL_OK;
    cJSON *c;
    for (c = node->child; c; c = c->next) {
        al_code r = AL_OK;
        const char *k = c->string;
        if (k && cJSON_IsString(c) && (!strcmp(k, "text") || !strcmp(k, "summary")))
            r = al_texts_push(t, c, role);
        else if (k && (!strcmp(k, "arguments") || !strcmp(k, "result")))
            r = cJSON_IsString(c) ? al_texts_push(t, c, role) : al_texts_push_all(t, c, role);
        else if (cJSON_IsArray(c) || cJSON_IsObject(c))
            r = push_step_texts(t, c, role, depth + 1);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

/* The Interactions API's input: a string, or a list of strings, content
 * parts, turns ({"role", "content"}) or steps; a function's result is tool
 * output. */
static al_code interaction_input(cJSON *root, al_texts *t)
{
    cJSON *si = al_json_get(root, "system_instruction");
    al_code r = cJSON_IsString(si) ? al_texts_push(t, si, AL_ROLE_SYSTEM)
                                   : push_step_texts(t, si, AL_ROLE_SYSTEM, 0);
    cJSON *in = al_json_get(root, "input");
    if (r != AL_OK || cJSON_IsString(in))
        return r == AL_OK ? al_texts_push(t, in, AL_ROLE_USER) : r;
    FOR_EACH_ONE(it, in)
    {
        const char *role = al_json_str(it, "role"), *type = al_json_str(it, "type");
        al_role ro = role && !strcmp(role, "model") ? AL_ROLE_ASSISTANT : AL_ROLE_USER;
        if (type && (!strcmp(type, "function_result") || strstr(type, "_result")))
            ro = AL_ROLE_TOOL;
        else if (type && (!strcmp(type, "function_call") || !strcmp(type, "model_output") ||
                          !strcmp(type, "thought")))
            ro = AL_ROLE_ASSISTANT;
        cJSON *content = al_json_get(it, "content");
        if (cJSON_IsString(it))
            r = al_texts_push(t, it, AL_ROLE_USER);
        else if (cJSON_IsString(content))
            r = al_texts_push(t, content, ro);
        else
            r = push_step_texts(t, it, ro, 0);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

static al_code prompts(al_api api, cJSON *root, al_texts *t)
{
    if (api == AL_API_INTERACTIONS) return interaction_input(root, t);
    if (api == AL_API_GEMINI_EMBED) { /* embedContent, or batchEmbedContents' requests */
        al_code r = push_parts(t, al_json_get(root, "content"), AL_ROLE_DOCUMENT);
        if (r == AL_OK) r = al_texts_push(t, al_json_get(root, "title"), AL_ROLE_DOCUMENT);
        FOR_EACH_ONE(q, al_json_get(root, "requests"))
        {
            if (r == AL_OK) r = push_parts(t, al_json_get(q, "content"), AL_ROLE_DOCUMENT);
            if (r == AL_OK) r = al_texts_push(t, al_json_get(q, "title"), AL_ROLE_DOCUMENT);
        }
        return r;
    }
    cJSON *si = get2(root, "systemInstruction", "system_instruction");
    al_code r = push_parts(t, si, AL_ROLE_SYSTEM);
    if (r != AL_OK) return r;
    FOR_EACH_ONE(c, al_json_get(root, "contents"))
    {
        const char *role = al_json_str(c, "role");
        al_role ro = role && !strcasecmp(role, "model") ? AL_ROLE_ASSISTANT : AL_ROLE_USER;
        if ((r = push_parts(t, c, ro)) != AL_OK) return r;
    }
    return AL_OK;
}

/* The texts a candidate carries beside its parts: what grounding found
 * (groundingMetadata: each chunk's title, and a retrieved or Maps chunk's
 * text; each support's segment text, which repeats part of the answer) and
 * the titles of its citations (citationMetadata).  Uris, place ids and
 * indexes are references, left as they came. */
static al_code push_grounding(al_texts *t, cJSON *cand)
{
    al_code r = AL_OK;
    cJSON *gm = get2(cand, "groundingMetadata", "grounding_metadata"), *x;
    FOR_EACH_ONE(ch, get2(gm, "groundingChunks", "grounding_chunks"))
    {
        cJSON_ArrayForEach(x, ch) /* {"web": {...}}, {"retrievedContext": {...}}, {"maps": ...} */
        {
            if (!cJSON_IsObject(x)) continue;
            if (r == AL_OK) r = al_texts_push(t, al_json_get(x, "title"), AL_ROLE_ASSISTANT);
            if (r == AL_OK) r = al_texts_push(t, al_json_get(x, "text"), AL_ROLE_ASSISTANT);
        }
    }
    FOR_EACH_ONE(su, get2(gm, "groundingSupports", "grounding_supports"))
    {
        if (r == AL_OK)
            r = al_texts_push(t, al_json_get(al_json_get(su, "segment"), "text"),
                              AL_ROLE_ASSISTANT);
    }
    cJSON *cm = get2(cand, "citationMetadata", "citation_metadata");
    FOR_EACH_ONE(ci, get2(cm, "citations", "citationSources")) /* (the older API's name) */
    {
        if (r == AL_OK) r = al_texts_push(t, al_json_get(ci, "title"), AL_ROLE_ASSISTANT);
    }
    return r;
}

static al_code one_reply(cJSON *root, al_texts *t)
{
    cJSON *c;
    cJSON_ArrayForEach(c, al_json_get(root, "candidates"))
    {
        al_code r = push_parts(t, al_json_get(c, "content"), AL_ROLE_ASSISTANT);
        if (r == AL_OK) r = push_grounding(t, c);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

static al_code completions(al_api api, cJSON *root, al_texts *t)
{
    if (api == AL_API_INTERACTIONS) {
        al_code r = push_step_texts(t, al_json_get(root, "outputs"), AL_ROLE_ASSISTANT, 0);
        return r == AL_OK ? push_step_texts(t, al_json_get(root, "steps"), AL_ROLE_ASSISTANT, 0)
                          : r;
    }
    if (!cJSON_IsArray(root)) return one_reply(root, t);
    cJSON *r1;
    cJSON_ArrayForEach(r1, root)
    {
        al_code r = one_reply(r1, t);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

static void usage(al_api api, const cJSON *root, al_usage *u)
{
    if (cJSON_IsArray(root)) {
        cJSON *x;
        cJSON_ArrayForEach(x, root) usage(api, x, u);
        return;
    }
    const cJSON *us = al_json_get(root, "usageMetadata");
    if (!cJSON_IsObject(us)) return;
    al_json_set_ll(&u->input, us, "promptTokenCount");
    al_json_set_ll(&u->output, us, "candidatesTokenCount");
    al_json_set_ll(&u->total, us, "totalTokenCount");
}

/* Stream keys: candidate * 2, + 1 for its thought parts ("thought": true,
 * the model's thinking summary), which are a text of their own. */
/* Interactions API stream: step.delta (content.delta before steps) with
 * {"type":"text","text"} or a thought summary's text on the step's key
 * (index * 2, + 1 for thoughts), step.stop ending it, interaction.completed
 * carrying the whole interaction. */
static al_code interaction_event(cJSON *ev, al_stream_io *io)
{
    const char *et = al_json_str(ev, "event_type");
    if (!et) return AL_OK;
    int i = al_json_int(ev, "index", 0);
    if (i < 0 || i > 100000) i = 0;
    if (!strcmp(et, "step.delta") || !strcmp(et, "content.delta")) {
        cJSON *d = al_json_get(ev, "delta");
        const char *type = al_json_str(d, "type");
        int thought = type && strstr(type, "thought") != NULL;
        cJSON *tx = al_json_get(d, "text");
        if (!cJSON_IsString(tx)) tx = al_json_get(al_json_get(d, "content"), "text");
        return cJSON_IsString(tx) ? io->delta(io, i * 2 + thought, tx, ev) : AL_OK;
    }
    if (!strcmp(et, "step.stop") || !strcmp(et, "content.stop")) {
        al_code r = io->end(io, i * 2, NULL);
        return r == AL_OK ? io->end(io, i * 2 + 1, NULL) : r;
    }
    if (!strcmp(et, "interaction.completed") || !strcmp(et, "interaction.complete")) {
        al_code r = io->end_all(io);
        al_texts t = {0};
        if (r == AL_OK) r = completions(AL_API_INTERACTIONS, al_json_get(ev, "interaction"), &t);
        if (r == AL_OK) r = al_texts_whole(io, &t);
        al_texts_free(&t);
        return r;
    }
    return AL_OK;
}

static al_code stream_event(al_api api, const char *name, cJSON *ev, al_stream_io *io)
{
    if (api == AL_API_INTERACTIONS) return interaction_event(ev, io);
    cJSON *c;
    int pos = 0;
    cJSON_ArrayForEach(c, al_json_get(ev, "candidates"))
    {
        int i = al_json_int(c, "index", pos++);
        if (i < 0 || i > 100000) i = 0;
        cJSON *p, *last = NULL;
        al_code r;
        cJSON_ArrayForEach(p, al_json_get(al_json_get(c, "content"), "parts"))
        {
            cJSON *node = al_json_get(p, "text");
            if (cJSON_IsString(node)) {
                int thought = cJSON_IsTrue(al_json_get(p, "thought"));
                /* the answer follows the thoughts: what they held goes first */
                if (!thought && node->valuestring[0] && (r = io->end(io, i * 2 + 1, NULL)) != AL_OK)
                    return r;
                if ((r = io->delta(io, i * 2 + thought, node, ev)) != AL_OK) return r;
                if (!thought) last = node;
            }
            al_texts t = {0};
            r = push_part_extras(&t, p, AL_ROLE_ASSISTANT);
            if (r == AL_OK) r = al_texts_whole(io, &t);
            al_texts_free(&t);
            if (r != AL_OK) return r;
        }
        /* grounding and citations come whole, mostly with the last chunk */
        al_texts t = {0};
        r = push_grounding(&t, c);
        if (r == AL_OK) r = al_texts_whole(io, &t);
        al_texts_free(&t);
        if (r != AL_OK) return r;
        if (al_json_get(c, "finishReason") && ((r = io->end(io, i * 2 + 1, NULL)) != AL_OK ||
                                               (r = io->end(io, i * 2, last)) != AL_OK))
            return r;
    }
    return AL_OK;
}

static cJSON *delta_event(al_api api, const cJSON *tmpl, int key, const char *text)
{
    if (api == AL_API_INTERACTIONS) { /* the template's event, its delta's text replaced */
        cJSON *ev = cJSON_Duplicate(tmpl, 1);
        cJSON *d = al_json_get(ev, "delta");
        cJSON *holder = cJSON_IsString(al_json_get(d, "text")) ? d : al_json_get(d, "content");
        cJSON *s = cJSON_CreateString(text);
        if (!ev || !s || !cJSON_IsObject(holder)) {
            cJSON_Delete(s);
            cJSON_Delete(ev);
            return NULL;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(holder, "text", s);
        cJSON_DeleteItemFromObjectCaseSensitive(ev, "event_id"); /* not a resume point */
        return ev;
    }
    cJSON *ev = cJSON_CreateObject();
    cJSON *cands = ev ? cJSON_AddArrayToObject(ev, "candidates") : NULL;
    cJSON *c = cJSON_CreateObject();
    if (!cands || !c) {
        cJSON_Delete(c);
        cJSON_Delete(ev);
        return NULL;
    }
    cJSON_AddItemToArray(cands, c);
    cJSON *content = cJSON_AddObjectToObject(c, "content");
    cJSON *parts = content ? cJSON_AddArrayToObject(content, "parts") : NULL;
    cJSON *p = cJSON_CreateObject();
    if (parts && p)
        cJSON_AddItemToArray(parts, p);
    else
        cJSON_Delete(p);
    if (!parts || !p || !cJSON_AddStringToObject(p, "text", text) ||
        (key % 2 && !cJSON_AddTrueToObject(p, "thought")) ||
        !cJSON_AddStringToObject(content, "role", "model") ||
        !cJSON_AddNumberToObject(c, "index", key / 2)) {
        cJSON_Delete(ev);
        return NULL;
    }
    const char *mv = al_json_str(tmpl, "modelVersion");
    if (mv) cJSON_AddStringToObject(ev, "modelVersion", mv);
    return ev;
}

static al_code error_body(al_buf *out, int status, int blocked, const char *message)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *e = doc ? cJSON_AddObjectToObject(doc, "error") : NULL;
    if (!e || !cJSON_AddNumberToObject(e, "code", status) ||
        !cJSON_AddStringToObject(e, "message", message) ||
        !cJSON_AddStringToObject(e, "status", status >= 500 ? "UNAVAILABLE" : "INVALID_ARGUMENT")) {
        cJSON_Delete(doc);
        return AL_ENOMEM;
    }
    return al_json_emit(doc, out);
}

static int shape(al_api api, const cJSON *root)
{
    if (api == AL_API_INTERACTIONS)
        return cJSON_IsObject(root) && al_json_get(root, "input") &&
               (al_json_str(root, "model") || al_json_str(root, "agent"));
    if (api == AL_API_GEMINI_EMBED)
        return cJSON_IsObject(al_json_get(root, "content")) ||
               cJSON_IsArray(al_json_get(root, "requests"));
    const cJSON *c = al_json_get(root, "contents");
    return cJSON_IsArray(c) || cJSON_IsObject(c);
}

static int wants_stream(al_api api, const cJSON *root)
{
    if (api == AL_API_INTERACTIONS) return cJSON_IsTrue(al_json_get(root, "stream"));
    return api == AL_API_GEMINI_STREAM;
}

const al_provider al_provider_gemini = {
    .name = "gemini",
    .shape = shape,
    .prompts = prompts,
    .completions = completions,
    .usage = usage,
    .stream_event = stream_event,
    .delta_event = delta_event,
    .error = error_body,
    .wants_stream = wants_stream,
};

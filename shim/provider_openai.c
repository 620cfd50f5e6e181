/* provider_openai.c: OpenAI chat completions, legacy completions and the
 * Responses API (also Azure OpenAI and OpenAI-compatible servers).  Knows
 * where texts sit in requests, replies and stream chunks; never reads them. */
#include <string.h>

#include "provider.h"

/* Stream keys: choice (or output item) * 64 + slot; slot 0 text, 1..58 tool
 * call arguments (or a custom tool's input), 59 a legacy function_call's
 * arguments, 60 the transcript of an audio reply (chat with
 * "modalities": ["text","audio"]), 61 "reasoning" and 62 "reasoning_content"
 * (the reasoning text OpenAI-compatible servers stream: OpenRouter, Groq,
 * DeepSeek, vLLM), 63 refusal (chat) or function or custom tool call input
 * (Responses). */
#define SLOT_FUNCTION 59
#define SLOT_AUDIO 60
#define SLOT_REASONING 61
#define SLOT_REASONING_CONTENT 62
/* Responses: content parts 0..60, 61 reasoning summary text, 62 reasoning
 * text, 63 function call arguments. */
#define SLOT_SUMMARY 61
#define SLOT_REASONING_TEXT 62
#define KEY(i, slot) ((i)*64 + (slot))
/* Further chat keys, above every KEY: OpenRouter's reasoning_details (which
 * repeat the reasoning text) and the thinking chunks of Mistral's content
 * arrays. */
#define XBASE 65536
#define XKEY(i, s) (XBASE + (i)*4 + (s))
#define X_DETAILS 0
#define X_THINKING 1

static al_role role_of(const char *r)
{
    if (!r) return AL_ROLE_USER;
    if (!strcmp(r, "system") || !strcmp(r, "developer")) return AL_ROLE_SYSTEM;
    if (!strcmp(r, "assistant")) return AL_ROLE_ASSISTANT;
    if (!strcmp(r, "tool") || !strcmp(r, "function")) return AL_ROLE_TOOL;
    return AL_ROLE_USER;
}

/* The titles of annotations (a list): a Responses url_citation's "title",
 * a chat completion's {"type":"url_citation","url_citation":{"title"}}.
 * Urls, file ids and indexes are references, left as they came. */
static al_code push_annotations(al_texts *t, cJSON *list, al_role role)
{
    cJSON *a;
    cJSON_ArrayForEach(a, list)
    {
        if (!cJSON_IsObject(a)) continue;
        al_code r = al_texts_push(t, al_json_get(a, "title"), role);
        if (r == AL_OK)
            r = al_texts_push(t, al_json_get(al_json_get(a, "url_citation"), "title"), role);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

/* content: a string, or an array of parts with "text" (text, input_text,
 * output_text parts) or "refusal" (a Responses refusal part); tool outputs
 * may nest further. */
static al_code push_content(al_texts *t, cJSON *content, al_role role)
{
    if (cJSON_IsString(content)) return al_texts_push(t, content, role);
    if (!cJSON_IsArray(content)) return AL_OK;
    cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        al_code r = AL_OK;
        if (cJSON_IsString(part))
            r = al_texts_push(t, part, role);
        else if ((r = al_texts_push(t, al_json_get(part, "text"), role)) == AL_OK &&
                 (r = al_texts_push(t, al_json_get(part, "refusal"), role)) == AL_OK &&
                 /* an output_text part's citations */
                 (r = push_annotations(t, al_json_get(part, "annotations"), role)) == AL_OK)
            /* Mistral's thinking chunk: {"type":"thinking","thinking":[text chunks]} */
            r = push_content(t, al_json_get(part, "thinking"), role);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

static al_code push_tool_calls(al_texts *t, cJSON *msg, al_role role)
{
    cJSON *tc;
    cJSON_ArrayForEach(tc, al_json_get(msg, "tool_calls"))
    {
        al_code r = al_texts_push(t, al_json_get(al_json_get(tc, "function"), "arguments"), role);
        /* a custom (free-form) tool's input */
        if (r == AL_OK) r = al_texts_push(t, al_json_get(al_json_get(tc, "custom"), "input"), role);
        if (r != AL_OK) return r;
    }
    return al_texts_push(t, al_json_get(al_json_get(msg, "function_call"), "arguments"), role);
}

static al_code responses_item(al_texts *t, cJSON *item, al_role dflt)
{
    al_code r;
    const char *type = al_json_str(item, "type");
    if (cJSON_IsString(item)) return al_texts_push(t, item, dflt);
    /* tool results the model reads: function_call_output and the other
     * *_call_output items (custom tools, local shell), and MCP call results */
    size_t tl = type ? strlen(type) : 0;
    if (type && !strcmp(type, "mcp_call") &&
        (r = al_texts_push(t, al_json_get(item, "arguments"), AL_ROLE_ASSISTANT)) != AL_OK)
        return r;
    if (type && ((tl > 12 && !strcmp(type + tl - 12, "_call_output")) || !strcmp(type, "mcp_call")))
        return cJSON_IsString(al_json_get(item, "output"))
                   ? al_texts_push(t, al_json_get(item, "output"), AL_ROLE_TOOL)
                   : push_content(t, al_json_get(item, "output"), AL_ROLE_TOOL);
    if (type && !strcmp(type, "function_call"))
        return al_texts_push(t, al_json_get(item, "arguments"), AL_ROLE_ASSISTANT);
    /* a custom (free-form) tool's input is plain text in "input" */
    if (type && !strcmp(type, "custom_tool_call"))
        return al_texts_push(t, al_json_get(item, "input"), AL_ROLE_ASSISTANT);
    /* what the built-in tools found, replayed as input items (store: false)
     * and read by the model again: file search results, code interpreter
     * logs; and an MCP server's tool list, whose descriptions are tool
     * definitions */
    cJSON *x;
    if (type && !strcmp(type, "file_search_call")) {
        cJSON_ArrayForEach(x, al_json_get(item, "results"))
        {
            if ((r = al_texts_push(t, al_json_get(x, "text"), AL_ROLE_TOOL)) != AL_OK) return r;
        }
        return AL_OK;
    }
    if (type && !strcmp(type, "code_interpreter_call")) {
        if ((r = al_texts_push(t, al_json_get(item, "code"), AL_ROLE_ASSISTANT)) != AL_OK) return r;
        cJSON_ArrayForEach(x, al_json_get(item, "outputs"))
        {
            if ((r = al_texts_push(t, al_json_get(x, "logs"), AL_ROLE_TOOL)) != AL_OK) return r;
        }
        return AL_OK;
    }
    if (type && !strcmp(type, "mcp_list_tools")) {
        cJSON_ArrayForEach(x, al_json_get(item, "tools"))
        {
            if ((r = al_texts_push(t, al_json_get(x, "description"), AL_ROLE_TOOL_DEF)) != AL_OK)
                return r;
        }
        return AL_OK;
    }
    const char *role = al_json_str(item, "role");
    al_role ro = role ? role_of(role) : dflt;
    if ((r = push_content(t, al_json_get(item, "content"), ro)) != AL_OK) return r;
    return AL_OK;
}

static al_code prompts(al_api api, cJSON *root, al_texts *t)
{
    al_code r;
    cJSON *m;
    switch (api) {
    case AL_API_CHAT:
        cJSON_ArrayForEach(m, al_json_get(root, "messages"))
        {
            al_role ro = role_of(al_json_str(m, "role"));
            if ((r = push_content(t, al_json_get(m, "content"), ro)) != AL_OK) return r;
            if ((r = push_tool_calls(t, m, ro)) != AL_OK) return r;
            /* an assistant message sent back as it came, with its citations */
            if ((r = push_annotations(t, al_json_get(m, "annotations"), ro)) != AL_OK) return r;
        }
        /* Predicted Outputs: the text the reply is expected to repeat */
        return push_content(t, al_json_get(al_json_get(root, "prediction"), "content"),
                            AL_ROLE_USER);
    case AL_API_COMPLETIONS:
        if ((r = push_content(t, al_json_get(root, "prompt"), AL_ROLE_USER)) != AL_OK) return r;
        if ((r = al_texts_push(t, al_json_get(root, "suffix"), AL_ROLE_USER)) != AL_OK) return r;
        /* llama.cpp server's /infill: the code around the cursor and extra files */
        if ((r = al_texts_push(t, al_json_get(root, "input_prefix"), AL_ROLE_USER)) != AL_OK)
            return r;
        if ((r = al_texts_push(t, al_json_get(root, "input_suffix"), AL_ROLE_USER)) != AL_OK)
            return r;
        return push_content(t, al_json_get(root, "input_extra"), AL_ROLE_USER);
    case AL_API_RESPONSES: {
        if ((r = al_texts_push(t, al_json_get(root, "instructions"), AL_ROLE_SYSTEM)) != AL_OK)
            return r;
        /* a stored prompt's variables are put into its text by the server:
         * strings, or input parts ({"type":"input_text","text":...}) */
        cJSON_ArrayForEach(m, al_json_get(al_json_get(root, "prompt"), "variables"))
        {
            r = cJSON_IsString(m) ? al_texts_push(t, m, AL_ROLE_USER)
                                  : al_texts_push(t, al_json_get(m, "text"), AL_ROLE_USER);
            if (r != AL_OK) return r;
        }
        cJSON *in = al_json_get(root, "input");
        if (cJSON_IsString(in)) return al_texts_push(t, in, AL_ROLE_USER);
        cJSON_ArrayForEach(m, in)
        {
            if ((r = responses_item(t, m, AL_ROLE_USER)) != AL_OK) return r;
        }
        /* a conversation's items (Conversations API), read like input items */
        cJSON_ArrayForEach(m, al_json_get(root, "items"))
        {
            if ((r = responses_item(t, m, AL_ROLE_USER)) != AL_OK) return r;
        }
        return AL_OK;
    }
    case AL_API_EMBED:
        return al_texts_push_inputs(t, al_json_get(root, "input"), AL_ROLE_DOCUMENT);
    default:
        return AL_OK;
    }
}

static al_code responses_output(cJSON *resp, al_texts *t)
{
    al_code r;
    cJSON *item;
    cJSON_ArrayForEach(item, al_json_get(resp, "output"))
    {
        if ((r = responses_item(t, item, AL_ROLE_ASSISTANT)) != AL_OK) return r;
        if ((r = push_content(t, al_json_get(item, "summary"), AL_ROLE_ASSISTANT)) != AL_OK)
            return r;
    }
    return al_texts_push(t, al_json_get(resp, "output_text"), AL_ROLE_ASSISTANT);
}

/* The texts of a list read back with GET ({"object":"list","data":[...]}),
 * or of one element read alone: stored chat completions (AL_API_CHAT),
 * their messages (AL_API_CHAT_MESSAGES, the program's own and the model's:
 * every text is scrubbed), conversation or input items (AL_API_ITEMS). */
static al_code choices(al_api api, cJSON *root, al_texts *t);

static al_code listed(al_api api, cJSON *el, al_texts *t)
{
    al_code r;
    if (api == AL_API_CHAT) return choices(api, el, t);
    if (api == AL_API_ITEMS) {
        if ((r = responses_item(t, el, AL_ROLE_ASSISTANT)) != AL_OK) return r;
        return push_content(t, al_json_get(el, "summary"), AL_ROLE_ASSISTANT);
    }
    if ((r = push_content(t, al_json_get(el, "content"), AL_ROLE_ASSISTANT)) != AL_OK) return r;
    if ((r = push_content(t, al_json_get(el, "content_parts"), AL_ROLE_ASSISTANT)) != AL_OK)
        return r;
    if ((r = al_texts_push(t, al_json_get(el, "refusal"), AL_ROLE_ASSISTANT)) != AL_OK) return r;
    if ((r = push_annotations(t, al_json_get(el, "annotations"), AL_ROLE_ASSISTANT)) != AL_OK)
        return r;
    return push_tool_calls(t, el, AL_ROLE_ASSISTANT);
}

static al_code completions(al_api api, cJSON *root, al_texts *t)
{
    al_code r;
    cJSON *c;
    if (api == AL_API_RESPONSES) return responses_output(root, t);
    if (api == AL_API_ITEMS || api == AL_API_CHAT_MESSAGES ||
        (api == AL_API_CHAT && cJSON_IsArray(al_json_get(root, "data")))) {
        cJSON *data = al_json_get(root, "data");
        if (!cJSON_IsArray(data)) return listed(api, root, t); /* one item */
        cJSON_ArrayForEach(c, data)
        {
            if ((r = listed(api, c, t)) != AL_OK) return r;
        }
        return AL_OK;
    }
    return choices(api, root, t);
}

/* The texts of a chat or legacy completion (its choices). */
static al_code choices(al_api api, cJSON *root, al_texts *t)
{
    al_code r;
    cJSON *c;
    /* llama.cpp server's own /completion reply: {"content": ..., "stop": true} */
    if (api == AL_API_COMPLETIONS && !al_json_get(root, "choices"))
        return al_texts_push(t, al_json_get(root, "content"), AL_ROLE_ASSISTANT);
    cJSON_ArrayForEach(c, al_json_get(root, "choices"))
    {
        if ((r = al_texts_push(t, al_json_get(c, "text"), AL_ROLE_ASSISTANT)) != AL_OK) return r;
        cJSON *msg = al_json_get(c, "message");
        if ((r = push_content(t, al_json_get(msg, "content"), AL_ROLE_ASSISTANT)) != AL_OK)
            return r;
        if ((r = al_texts_push(t, al_json_get(msg, "refusal"), AL_ROLE_ASSISTANT)) != AL_OK)
            return r;
        if ((r = al_texts_push(t, al_json_get(msg, "reasoning_content"), AL_ROLE_ASSISTANT)) !=
            AL_OK)
            return r;
        if ((r = al_texts_push(t, al_json_get(msg, "reasoning"), AL_ROLE_ASSISTANT)) != AL_OK)
            return r;
        if ((r = al_texts_push(t, al_json_get(al_json_get(msg, "audio"), "transcript"),
                               AL_ROLE_ASSISTANT)) != AL_OK)
            return r;
        cJSON *rd;
        cJSON_ArrayForEach(rd, al_json_get(msg, "reasoning_details"))
        {
            if ((r = al_texts_push(t, al_json_get(rd, "text"), AL_ROLE_ASSISTANT)) != AL_OK ||
                (r = al_texts_push(t, al_json_get(rd, "summary"), AL_ROLE_ASSISTANT)) != AL_OK)
                return r;
        }
        if ((r = push_tool_calls(t, msg, AL_ROLE_ASSISTANT)) != AL_OK) return r;
        /* web search citations: {"type":"url_citation","url_citation":{"title",...}} */
        if ((r = push_annotations(t, al_json_get(msg, "annotations"), AL_ROLE_ASSISTANT)) != AL_OK)
            return r;
    }
    return AL_OK;
}

static void usage(al_api api, const cJSON *root, al_usage *u)
{
    /* llama.cpp server's own replies count at the top level */
    al_json_set_ll(&u->input, root, "tokens_evaluated");
    al_json_set_ll(&u->output, root, "tokens_predicted");
    const cJSON *resp = al_json_get(root, "response");
    const cJSON *us = al_json_get(root, "usage");
    if (!cJSON_IsObject(us) && resp) us = al_json_get(resp, "usage");
    if (!cJSON_IsObject(us)) return;
    al_json_set_ll(&u->input, us, "prompt_tokens");
    al_json_set_ll(&u->output, us, "completion_tokens");
    al_json_set_ll(&u->input, us, "input_tokens");
    al_json_set_ll(&u->output, us, "output_tokens");
    al_json_set_ll(&u->total, us, "total_tokens");
}

static al_code end_range(al_stream_io *io, int lo, int n)
{
    for (int k = lo; k < lo + n; k++) {
        al_code r = io->end(io, k, NULL);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

/* The deltas of chat delta d that are not plain strings: OpenRouter's
 * reasoning_details[].text (or .summary), and Mistral's content given as
 * chunks ({"type":"text","text"} on the content's key, the texts of a
 * {"type":"thinking","thinking":[...]} chunk on their own). */
static al_code x_deltas(int i, cJSON *d, const cJSON *ev, al_stream_io *io)
{
    al_code r;
    cJSON *it, *sub;
    cJSON_ArrayForEach(it, al_json_get(d, "reasoning_details"))
    {
        cJSON *tx = al_json_get(it, "text");
        if (!cJSON_IsString(tx)) tx = al_json_get(it, "summary");
        if (cJSON_IsString(tx) && (r = io->delta(io, XKEY(i, X_DETAILS), tx, ev)) != AL_OK)
            return r;
    }
    cJSON *content = al_json_get(d, "content");
    if (!cJSON_IsArray(content)) return AL_OK;
    cJSON_ArrayForEach(it, content)
    {
        cJSON *tx = al_json_get(it, "text");
        if (cJSON_IsString(tx) && (r = io->delta(io, KEY(i, 0), tx, ev)) != AL_OK) return r;
        cJSON_ArrayForEach(sub, al_json_get(it, "thinking"))
        {
            tx = al_json_get(sub, "text");
            if (cJSON_IsString(tx) && (r = io->delta(io, XKEY(i, X_THINKING), tx, ev)) != AL_OK)
                return r;
        }
    }
    return AL_OK;
}

/* A delta event for the further keys (XKEY) of choice i, shaped after
 * tmpl's delta; added to delta object d. */
static int x_delta(cJSON *d, const cJSON *tmpl, int s, const char *text)
{
    if (s == X_DETAILS) {
        const cJSON *c = al_json_get(tmpl, "choices");
        const cJSON *first = cJSON_GetArrayItem(
            al_json_get(al_json_get(c ? c->child : NULL, "delta"), "reasoning_details"), 0);
        cJSON *arr = cJSON_AddArrayToObject(d, "reasoning_details");
        cJSON *it = first ? cJSON_Duplicate(first, 1) : cJSON_CreateObject();
        if (!arr || !it) {
            cJSON_Delete(it);
            return 0;
        }
        cJSON_AddItemToArray(arr, it);
        const char *field =
            al_json_get(it, "text") || !al_json_get(it, "summary") ? "text" : "summary";
        cJSON_DeleteItemFromObjectCaseSensitive(it, field);
        return cJSON_AddStringToObject(it, field, text) != NULL;
    }
    cJSON *arr = cJSON_AddArrayToObject(d, "content");
    cJSON *ch = cJSON_CreateObject();
    if (!arr || !ch) {
        cJSON_Delete(ch);
        return 0;
    }
    cJSON_AddItemToArray(arr, ch);
    cJSON *th = cJSON_AddStringToObject(ch, "type", "thinking")
                    ? cJSON_AddArrayToObject(ch, "thinking")
                    : NULL;
    cJSON *tc = cJSON_CreateObject();
    if (!th || !tc) {
        cJSON_Delete(tc);
        return 0;
    }
    cJSON_AddItemToArray(th, tc);
    return cJSON_AddStringToObject(tc, "type", "text") && cJSON_AddStringToObject(tc, "text", text);
}

/* 1 when tmpl's first choice carries a chat "delta" (not "text"). */
static int content_delta(const cJSON *tmpl)
{
    const cJSON *c = al_json_get(tmpl, "choices");
    return al_json_get(c ? c->child : NULL, "delta") != NULL;
}

/* 1 when tmpl's first choice gives its content as a list of chunks. */
static int content_chunks(const cJSON *tmpl)
{
    const cJSON *c = al_json_get(tmpl, "choices");
    return cJSON_IsArray(al_json_get(al_json_get(c ? c->child : NULL, "delta"), "content"));
}

/* 1 when a chat delta holds a non-empty text besides its content. */
static int other_text(const cJSON *d)
{
    static const char *const keys[] = {"refusal", "reasoning", "reasoning_content"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const char *s = al_json_str(d, keys[i]);
        if (s && s[0]) return 1;
    }
    const char *tr = al_json_str(al_json_get(d, "audio"), "transcript");
    if (tr && tr[0]) return 1;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, al_json_get(d, "tool_calls"))
    {
        const char *a = al_json_str(al_json_get(tc, "function"), "arguments");
        if (a && a[0]) return 1;
    }
    return 0;
}

static al_code chat_event(al_api api, cJSON *ev, al_stream_io *io)
{
    al_code r;
    cJSON *c;
    int pos = 0;
    cJSON *native = al_json_get(ev, "content");
    if (api == AL_API_COMPLETIONS && !al_json_get(ev, "choices") && cJSON_IsString(native)) {
        /* llama.cpp server's own stream: {"content": ..., "stop": false} */
        if ((r = io->delta(io, KEY(0, 0), native, ev)) != AL_OK) return r;
        return cJSON_IsTrue(al_json_get(ev, "stop")) ? io->end(io, KEY(0, 0), native) : AL_OK;
    }
    cJSON_ArrayForEach(c, al_json_get(ev, "choices"))
    {
        int i = al_json_int(c, "index", pos++);
        if (i < 0 || i > 1000) i = 0;
        cJSON *node = NULL;
        if (api == AL_API_COMPLETIONS) {
            node = al_json_get(c, "text");
            /* Mistral's fill-in-the-middle streams chat chunks */
            if (!node) node = al_json_get(al_json_get(c, "delta"), "content");
        } else {
            cJSON *d = al_json_get(c, "delta");
            node = al_json_get(d, "content");
            /* "content": "" beside the reasoning or a tool call's arguments
             * (some compatible servers send it) is no delta: the event stays
             * that text's alone */
            if (cJSON_IsString(node) && !node->valuestring[0] && other_text(d)) node = NULL;
            cJSON *ref = al_json_get(d, "refusal");
            if (cJSON_IsString(ref) && (r = io->delta(io, KEY(i, 63), ref, ev)) != AL_OK) return r;
            cJSON *rs = al_json_get(d, "reasoning");
            if (cJSON_IsString(rs) && (r = io->delta(io, KEY(i, SLOT_REASONING), rs, ev)) != AL_OK)
                return r;
            rs = al_json_get(d, "reasoning_content");
            if (cJSON_IsString(rs) &&
                (r = io->delta(io, KEY(i, SLOT_REASONING_CONTENT), rs, ev)) != AL_OK)
                return r;
            cJSON *tr = al_json_get(al_json_get(d, "audio"), "transcript");
            if (cJSON_IsString(tr) && (r = io->delta(io, KEY(i, SLOT_AUDIO), tr, ev)) != AL_OK)
                return r;
            cJSON *tc;
            int tpos = 0;
            cJSON_ArrayForEach(tc, al_json_get(d, "tool_calls"))
            {
                int j = al_json_int(tc, "index", tpos++);
                if (j < 0 || j > 57) j = 57;
                cJSON *a = al_json_get(al_json_get(tc, "function"), "arguments");
                if (!a) a = al_json_get(al_json_get(tc, "custom"), "input");
                if (cJSON_IsString(a) && (r = io->delta(io, KEY(i, 1 + j), a, ev)) != AL_OK)
                    return r;
            }
            cJSON *fa = al_json_get(al_json_get(d, "function_call"), "arguments");
            if (cJSON_IsString(fa) && (r = io->delta(io, KEY(i, SLOT_FUNCTION), fa, ev)) != AL_OK)
                return r;
            if ((r = x_deltas(i, d, ev, io)) != AL_OK) return r;
            /* citations arrive whole, beside or after the text they cite */
            al_texts t = {0};
            r = push_annotations(&t, al_json_get(d, "annotations"), AL_ROLE_ASSISTANT);
            if (r == AL_OK) r = al_texts_whole(io, &t);
            al_texts_free(&t);
            if (r != AL_OK) return r;
        }
        if (cJSON_IsString(node) && (r = io->delta(io, KEY(i, 0), node, ev)) != AL_OK) return r;
        cJSON *fr = al_json_get(c, "finish_reason");
        if (fr && !cJSON_IsNull(fr)) {
            if ((r = io->end(io, KEY(i, 0), cJSON_IsString(node) ? node : NULL)) != AL_OK) return r;
            if ((r = end_range(io, KEY(i, 1), 63)) != AL_OK) return r;
            if (api == AL_API_CHAT && (r = end_range(io, XKEY(i, 0), 2)) != AL_OK) return r;
        }
    }
    return AL_OK;
}

static al_code responses_event(cJSON *ev, al_stream_io *io)
{
    const char *type = al_json_str(ev, "type");
    if (!type) return AL_OK;
    int o = al_json_int(ev, "output_index", 0), ci = al_json_int(ev, "content_index", 0);
    if (o < 0 || o > 100000) o = 0;
    if (ci < 0 || ci > 60) ci = 60;
    al_code r = AL_OK;
    al_texts t = {0};
    if (!strcmp(type, "response.output_text.delta") || !strcmp(type, "response.refusal.delta")) {
        r = io->delta(io, KEY(o, ci), al_json_get(ev, "delta"), ev);
    } else if (!strcmp(type, "response.function_call_arguments.delta") ||
               !strcmp(type, "response.custom_tool_call_input.delta") ||
               !strcmp(type, "response.mcp_call_arguments.delta")) {
        r = io->delta(io, KEY(o, 63), al_json_get(ev, "delta"), ev);
    } else if (!strcmp(type, "response.reasoning_summary_text.delta")) {
        r = io->delta(io, KEY(o, SLOT_SUMMARY), al_json_get(ev, "delta"), ev);
    } else if (!strcmp(type, "response.reasoning_text.delta")) {
        r = io->delta(io, KEY(o, SLOT_REASONING_TEXT), al_json_get(ev, "delta"), ev);
    } else if (!strcmp(type, "response.reasoning_summary_text.done") ||
               !strcmp(type, "response.reasoning_text.done")) {
        int slot = type[19] == 's' ? SLOT_SUMMARY : SLOT_REASONING_TEXT;
        if ((r = io->end(io, KEY(o, slot), NULL)) == AL_OK)
            r = al_texts_push(&t, al_json_get(ev, "text"), AL_ROLE_ASSISTANT);
    } else if (!strcmp(type, "response.reasoning_summary_part.done")) {
        r = al_texts_push(&t, al_json_get(al_json_get(ev, "part"), "text"), AL_ROLE_ASSISTANT);
    } else if (!strcmp(type, "response.output_text.done") ||
               !strcmp(type, "response.refusal.done")) {
        if ((r = io->end(io, KEY(o, ci), NULL)) == AL_OK) {
            r = al_texts_push(&t, al_json_get(ev, "text"), AL_ROLE_ASSISTANT);
            if (r == AL_OK) r = al_texts_push(&t, al_json_get(ev, "refusal"), AL_ROLE_ASSISTANT);
        }
    } else if (!strcmp(type, "response.function_call_arguments.done") ||
               !strcmp(type, "response.custom_tool_call_input.done") ||
               !strcmp(type, "response.mcp_call_arguments.done")) {
        if ((r = io->end(io, KEY(o, 63), NULL)) == AL_OK)
            r = al_texts_push(&t, al_json_get(ev, "arguments"), AL_ROLE_ASSISTANT);
        if (r == AL_OK) r = al_texts_push(&t, al_json_get(ev, "input"), AL_ROLE_ASSISTANT);
    } else if (!strcmp(type, "response.output_text.annotation.added")) {
        cJSON *a = al_json_get(ev, "annotation");
        r = al_texts_push(&t, al_json_get(a, "title"), AL_ROLE_ASSISTANT);
    } else if (!strcmp(type, "response.content_part.done")) {
        cJSON *part = al_json_get(ev, "part");
        if ((r = io->end(io, KEY(o, ci), NULL)) == AL_OK)
            r = push_content(&t, part, AL_ROLE_ASSISTANT);
        if (r == AL_OK) r = al_texts_push(&t, al_json_get(part, "text"), AL_ROLE_ASSISTANT);
        if (r == AL_OK) r = al_texts_push(&t, al_json_get(part, "refusal"), AL_ROLE_ASSISTANT);
        if (r == AL_OK)
            r = push_annotations(&t, al_json_get(part, "annotations"), AL_ROLE_ASSISTANT);
    } else if (!strcmp(type, "response.output_item.done")) {
        if ((r = end_range(io, KEY(o, 0), 64)) == AL_OK)
            r = responses_item(&t, al_json_get(ev, "item"), AL_ROLE_ASSISTANT);
        if (r == AL_OK)
            r = push_content(&t, al_json_get(al_json_get(ev, "item"), "summary"),
                             AL_ROLE_ASSISTANT);
    } else if (!strcmp(type, "response.completed") || !strcmp(type, "response.incomplete") ||
               !strcmp(type, "response.failed") || !strcmp(type, "response.done")) {
        if ((r = io->end_all(io)) == AL_OK) r = responses_output(al_json_get(ev, "response"), &t);
    }
    if (r == AL_OK) r = al_texts_whole(io, &t);
    al_texts_free(&t);
    return r;
}

static al_code stream_event(al_api api, const char *name, cJSON *ev, al_stream_io *io)
{
    if (api == AL_API_RESPONSES) return responses_event(ev, io);
    return chat_event(api, ev, io);
}

/* 1 when the chat event tmpl streams tool call j of choice i as a custom
 * tool's input ("custom": {"input": ...}) rather than function arguments. */
static int tool_is_custom(const cJSON *tmpl, int i, int j)
{
    const cJSON *c, *tc;
    int pos = 0;
    cJSON_ArrayForEach(c, al_json_get(tmpl, "choices"))
    {
        if (al_json_int(c, "index", pos++) != i) continue;
        int tpos = 0;
        cJSON_ArrayForEach(tc, al_json_get(al_json_get(c, "delta"), "tool_calls"))
        {
            int k = al_json_int(tc, "index", tpos++);
            if ((k == j || (j == 57 && (k < 0 || k > 57))) && al_json_get(tc, "custom")) return 1;
        }
    }
    return 0;
}

static cJSON *delta_event(al_api api, const cJSON *tmpl, int key, const char *text)
{
    cJSON *ev = cJSON_Duplicate(tmpl, 1);
    if (!ev) return NULL;
    if (api == AL_API_RESPONSES) {
        int slot = key % 64;
        const char *tt = al_json_str(tmpl, "type");
        const char *type = slot == 63                    ? "response.function_call_arguments.delta"
                           : slot == SLOT_SUMMARY        ? "response.reasoning_summary_text.delta"
                           : slot == SLOT_REASONING_TEXT ? "response.reasoning_text.delta"
                                                         : "response.output_text.delta";
        if (slot == 63 && tt &&
            (!strcmp(tt, "response.custom_tool_call_input.delta") ||
             !strcmp(tt, "response.mcp_call_arguments.delta")))
            type = tt;
        cJSON_DeleteItemFromObjectCaseSensitive(ev, "type");
        cJSON_DeleteItemFromObjectCaseSensitive(ev, "delta");
        if (!cJSON_AddStringToObject(ev, "type", type) ||
            !cJSON_AddStringToObject(ev, "delta", text)) {
            cJSON_Delete(ev);
            return NULL;
        }
        return ev;
    }
    if (api == AL_API_COMPLETIONS && !al_json_get(tmpl, "choices") &&
        cJSON_IsString(al_json_get(tmpl, "content"))) {
        cJSON *t = cJSON_CreateString(text), *f = cJSON_CreateFalse();
        if (!t || !f) {
            cJSON_Delete(t);
            cJSON_Delete(f);
            cJSON_Delete(ev);
            return NULL;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(ev, "content", t);
        if (al_json_get(ev, "stop"))
            cJSON_ReplaceItemInObjectCaseSensitive(ev, "stop", f);
        else
            cJSON_Delete(f);
        return ev;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(ev, "usage");
    cJSON_DeleteItemFromObjectCaseSensitive(ev, "choices");
    cJSON *choices = cJSON_AddArrayToObject(ev, "choices");
    cJSON *c = cJSON_CreateObject();
    if (!choices || !c) {
        cJSON_Delete(c);
        cJSON_Delete(ev);
        return NULL;
    }
    cJSON_AddItemToArray(choices, c);
    int x = key >= XBASE;
    int i = x ? (key - XBASE) / 4 : key / 64, slot = x ? (key - XBASE) % 4 : key % 64;
    int ok = cJSON_AddNumberToObject(c, "index", i) != NULL;
    if (api == AL_API_COMPLETIONS && !content_delta(tmpl)) {
        ok = ok && cJSON_AddStringToObject(c, "text", text);
    } else if (api == AL_API_COMPLETIONS) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        ok = ok && d && cJSON_AddStringToObject(d, "content", text);
    } else {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (x) {
            ok = ok && d && x_delta(d, tmpl, slot, text);
        } else if (slot == 0 && content_chunks(tmpl)) {
            cJSON *arr = d ? cJSON_AddArrayToObject(d, "content") : NULL;
            cJSON *ch = cJSON_CreateObject();
            if (arr && ch)
                cJSON_AddItemToArray(arr, ch);
            else
                cJSON_Delete(ch);
            ok = ok && arr && ch && cJSON_AddStringToObject(ch, "type", "text") &&
                 cJSON_AddStringToObject(ch, "text", text);
        } else if (slot == 0) {
            ok = ok && d && cJSON_AddStringToObject(d, "content", text);
        } else if (slot == 63) {
            ok = ok && d && cJSON_AddStringToObject(d, "refusal", text);
        } else if (slot == SLOT_REASONING) {
            ok = ok && d && cJSON_AddStringToObject(d, "reasoning", text);
        } else if (slot == SLOT_REASONING_CONTENT) {
            ok = ok && d && cJSON_AddStringToObject(d, "reasoning_content", text);
        } else if (slot == SLOT_AUDIO) {
            cJSON *au = d ? cJSON_AddObjectToObject(d, "audio") : NULL;
            ok = ok && au && cJSON_AddStringToObject(au, "transcript", text);
        } else if (slot == SLOT_FUNCTION) {
            cJSON *fc = d ? cJSON_AddObjectToObject(d, "function_call") : NULL;
            ok = ok && fc && cJSON_AddStringToObject(fc, "arguments", text);
        } else {
            cJSON *tcs = d ? cJSON_AddArrayToObject(d, "tool_calls") : NULL;
            cJSON *tc = cJSON_CreateObject();
            if (tcs && tc)
                cJSON_AddItemToArray(tcs, tc);
            else
                cJSON_Delete(tc);
            int custom = tool_is_custom(tmpl, i, slot - 1);
            cJSON *f = (tcs && tc && cJSON_AddNumberToObject(tc, "index", slot - 1))
                           ? cJSON_AddObjectToObject(tc, custom ? "custom" : "function")
                           : NULL;
            ok = ok && f && cJSON_AddStringToObject(f, custom ? "input" : "arguments", text);
        }
    }
    ok = ok && cJSON_AddNullToObject(c, "finish_reason");
    if (!ok) {
        cJSON_Delete(ev);
        return NULL;
    }
    return ev;
}

static al_code error_body(al_buf *out, int status, int blocked, const char *message)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON *e = doc ? cJSON_AddObjectToObject(doc, "error") : NULL;
    if (!e || !cJSON_AddStringToObject(e, "message", message) ||
        !cJSON_AddStringToObject(e, "type",
                                 status >= 500 ? "server_error" : "invalid_request_error") ||
        !cJSON_AddNullToObject(e, "param") ||
        !cJSON_AddStringToObject(e, "code", blocked ? "airlock_blocked" : "airlock_unscreened")) {
        cJSON_Delete(doc);
        return AL_ENOMEM;
    }
    return al_json_emit(doc, out);
}

static int shape(al_api api, const cJSON *root)
{
    if (!cJSON_IsObject(root)) return 0;
    if (api == AL_API_CHAT) return cJSON_IsArray(al_json_get(root, "messages"));
    if (api == AL_API_COMPLETIONS)
        return al_json_get(root, "prompt") != NULL || al_json_get(root, "input_prefix") != NULL ||
               al_json_get(root, "input_suffix") != NULL;
    if (api == AL_API_RESPONSES)
        return al_json_get(root, "input") != NULL || al_json_get(root, "model") != NULL ||
               cJSON_IsObject(al_json_get(root, "prompt")) ||
               cJSON_IsArray(al_json_get(root, "items"));
    if (api == AL_API_EMBED) return al_json_get(root, "input") != NULL;
    return 0;
}

const al_provider al_provider_openai = {
    .name = "openai",
    .shape = shape,
    .prompts = prompts,
    .completions = completions,
    .usage = usage,
    .stream_event = stream_event,
    .delta_event = delta_event,
    .error = error_body,
    .wants_stream = al_wants_stream_true,
};

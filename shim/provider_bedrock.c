/* provider_bedrock.c: Amazon Bedrock's Converse API (POST /model/ID/converse):
 * system and message content blocks, tool results and tool uses, reasoning,
 * and the reply's output.message.  Never reads the texts.  InvokeModel with
 * an Anthropic body is the Anthropic provider's; the streamed variants
 * (converse-stream, invoke-with-response-stream) use AWS's binary event
 * stream, which airlock does not frame, and are not taken for LLM calls. */
#include <string.h>

#include "provider.h"

/* The texts of a list of Converse content blocks. */
static al_code push_blocks(al_texts *t, cJSON *content, al_role role)
{
    cJSON *b, *c;
    cJSON_ArrayForEach(b, content)
    {
        al_code r = al_texts_push(t, al_json_get(b, "text"), role);
        /* a tool's result: text and JSON blocks, read as tool output */
        cJSON_ArrayForEach(c, al_json_get(al_json_get(b, "toolResult"), "content"))
        {
            if (r == AL_OK) r = al_texts_push(t, al_json_get(c, "text"), AL_ROLE_TOOL);
            if (r == AL_OK) r = al_texts_push_all(t, al_json_get(c, "json"), AL_ROLE_TOOL);
        }
        if (r == AL_OK)
            r = al_texts_push_all(t, al_json_get(al_json_get(b, "toolUse"), "input"),
                                  AL_ROLE_ASSISTANT);
        cJSON *rt = al_json_get(al_json_get(b, "reasoningContent"), "reasoningText");
        if (r == AL_OK) r = al_texts_push(t, al_json_get(rt, "text"), role);
        /* text marked for a guardrail: {"guardContent":{"text":{"text":...}}} */
        cJSON *gt = al_json_get(al_json_get(b, "guardContent"), "text");
        if (r == AL_OK) r = al_texts_push(t, al_json_get(gt, "text"), role);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

static al_code prompts(al_api api, cJSON *root, al_texts *t)
{
    al_code r = push_blocks(t, al_json_get(root, "system"), AL_ROLE_SYSTEM);
    cJSON *m;
    cJSON_ArrayForEach(m, al_json_get(root, "messages"))
    {
        const char *role = al_json_str(m, "role");
        al_role ro = role && !strcmp(role, "assistant") ? AL_ROLE_ASSISTANT : AL_ROLE_USER;
        if (r == AL_OK) r = push_blocks(t, al_json_get(m, "content"), ro);
    }
    return r;
}

static al_code completions(al_api api, cJSON *root, al_texts *t)
{
    cJSON *msg = al_json_get(al_json_get(root, "output"), "message");
    return push_blocks(t, al_json_get(msg, "content"), AL_ROLE_ASSISTANT);
}

static void usage(al_api api, const cJSON *root, al_usage *u)
{
    const cJSON *us = al_json_get(root, "usage");
    if (!cJSON_IsObject(us)) return;
    al_json_set_ll(&u->input, us, "inputTokens");
    al_json_set_ll(&u->output, us, "outputTokens");
    al_json_set_ll(&u->total, us, "totalTokens");
}

static al_code stream_event(al_api api, const char *name, cJSON *ev, al_stream_io *io)
{
    return AL_OK; /* no stream is taken (see the top of the file) */
}

static cJSON *delta_event(al_api api, const cJSON *tmpl, int key, const char *text)
{
    return NULL;
}

/* Bedrock's error body: {"message": ...} (its type travels in a header). */
static al_code error_body(al_buf *out, int status, int blocked, const char *message)
{
    return al_json_error_field(out, "message", message);
}

static int shape(al_api api, const cJSON *root)
{
    return cJSON_IsObject(root) && cJSON_IsArray(al_json_get(root, "messages"));
}

static int wants_stream(al_api api, const cJSON *root)
{
    return 0;
}

const al_provider al_provider_bedrock = {
    .name = "bedrock",
    .shape = shape,
    .prompts = prompts,
    .completions = completions,
    .usage = usage,
    .stream_event = stream_event,
    .delta_event = delta_event,
    .error = error_body,
    .wants_stream = wants_stream,
};

/* provider.h: the LLM APIs airlock understands, as one small table.  Each
 * provider knows its paths, where the prompt and completion texts sit in its
 * JSON (whole and streamed), its token usage and its error shape.  Pure:
 * works on parsed cJSON trees; knows nothing of HTTP framing or rules. */
#ifndef AL_PROVIDER_H
#define AL_PROVIDER_H

#include <cjson/cJSON.h>

#include "al.h"

/* Which API of a provider a request targets. */
typedef enum {
    AL_API_CHAT = 1,      /* OpenAI /chat/completions (also Azure, compatible servers) */
    AL_API_COMPLETIONS,   /* OpenAI legacy /completions */
    AL_API_RESPONSES,     /* OpenAI /responses */
    AL_API_MESSAGES,      /* Anthropic /v1/messages */
    AL_API_GEMINI,        /* Gemini models/M:generateContent */
    AL_API_GEMINI_STREAM, /* Gemini models/M:streamGenerateContent */
    AL_API_OLLAMA_CHAT,   /* Ollama /api/chat */
    AL_API_OLLAMA_GEN,    /* Ollama /api/generate */
    AL_API_CONVERSE,      /* Amazon Bedrock /model/ID/converse */
    AL_API_COHERE_CHAT,   /* Cohere /v2/chat */
    AL_API_INTERACTIONS,  /* Gemini Interactions API /interactions */
    /* replies read back with GET (no prompt; see al_provider_match) */
    AL_API_CHAT_MESSAGES, /* OpenAI GET /chat/completions/ID/messages: a list of messages */
    AL_API_ITEMS,         /* OpenAI GET /conversations/ID/items[/ITEM], /responses/ID/input_items */
    AL_API_BATCH_RESULTS, /* Anthropic GET /messages/batches/ID/results: JSONL of results */
    /* calls whose reply is no model text (al_api_embeds) */
    AL_API_EMBED,        /* OpenAI /embeddings, /moderations (also Azure, compatible servers) */
    AL_API_OLLAMA_EMBED, /* Ollama /api/embed, /api/embeddings */
    AL_API_GEMINI_EMBED  /* Gemini models/M:embedContent, :batchEmbedContents */
} al_api;

/* 1 for the embedding and moderation calls: their input texts (documents a
 * program indexes or checks) are screened as AL_ROLE_DOCUMENT; their reply
 * (vectors, scores) carries no model text and passes untouched. */
AL_API int al_api_embeds(al_api api);

/* Who speaks a text; decides which rules apply (system and assistant texts
 * are screened for secrets and PII only, never blocked as injection). */
typedef enum {
    AL_ROLE_USER = 0,
    AL_ROLE_TOOL,
    AL_ROLE_SYSTEM,
    AL_ROLE_ASSISTANT,
    AL_ROLE_TOOL_DEF, /* descriptions in tool/function definitions: screened, only ever flagged */
    AL_ROLE_DOCUMENT  /* input of an embedding or moderation call: data, not instructions to a
                       * model (secrets and PII as for prompts; injection only flagged) */
} al_role;

AL_API const char *al_role_name(al_role r);

/* A text inside a parsed JSON document: node is a cJSON string owned by the
 * document. */
typedef struct {
    cJSON *node;
    al_role role;
    const char *sig; /* the signature the provider computed over this text (Anthropic's
                      * thinking blocks; owned by the document), or NULL */
} al_text_ref;

typedef struct {
    al_text_ref *v;
    size_t n, cap;
} al_texts;

AL_API al_code al_texts_push(al_texts *t, cJSON *node, al_role role);
/* As al_texts_push for a text signed by its provider: sig (a string the
 * document owns; "" counts as none) is kept beside it. */
AL_API al_code al_texts_push_signed(al_texts *t, cJSON *node, al_role role, const char *sig);
/* Pushes every string value under node (objects and arrays, depth-capped),
 * and every whole number of 7 to 16 digits (al_json_digits): a card or
 * phone number in a tool's structured input.  Readers of al_texts check
 * cJSON_IsString before reading valuestring. */
AL_API al_code al_texts_push_all(al_texts *t, cJSON *node, al_role role);
/* Pushes, as AL_ROLE_TOOL_DEF, every "description" string in the request's
 * tool definitions (root "tools" and legacy "functions", any provider's
 * shape, parameter schemas included; depth-capped): where a poisoned tool
 * hides instructions for the model. */
AL_API al_code al_texts_push_tool_defs(al_texts *t, cJSON *root);
/* Pushes an embedding call's "input": a string, each string of an array,
 * and each "text" of an array of objects (moderation's input parts); token
 * ids (numbers, arrays of numbers) are not text and are left alone. */
AL_API al_code al_texts_push_inputs(al_texts *t, cJSON *input, al_role role);
AL_API void al_texts_free(al_texts *t);
/* 1 and the digits in out when node is a JSON number holding a whole
 * number of 7 to 16 digits (exact in a double), else 0. */
AL_API int al_json_digits(const cJSON *node, char out[24]);

typedef struct {
    long long input, output, total; /* -1 when not reported */
} al_usage;

/* What the exchange offers a provider while it walks one stream event.  A
 * "key" names one stream of text (a choice, a content block, a candidate);
 * each key has its own scrubber. */
typedef struct al_stream_io al_stream_io;
struct al_stream_io {
    /* node (a string) is the next delta of key: replaced by the text that may
     * be released now. */
    al_code (*delta)(al_stream_io *io, int key, cJSON *node, const cJSON *event);
    /* key ends: its held text is released, appended to node when node is
     * non-NULL, else in an extra event emitted before the current one. */
    al_code (*end)(al_stream_io *io, int key, cJSON *node);
    /* the stream ends: every key's held text goes out before this event. */
    al_code (*end_all)(al_stream_io *io);
    /* node holds a complete text (a "done" event): scrub it whole. */
    al_code (*whole)(al_stream_io *io, cJSON *node);
    /* key's text is signed by the provider (an Anthropic thinking block):
     * sig NULL, right after its first delta: keep its text as it came;
     * sig: the signature, once it arrives.  May be NULL (then not called). */
    al_code (*sign)(al_stream_io *io, int key, const char *sig);
};

typedef struct {
    const char *name; /* "openai", "anthropic", "gemini", "ollama", "bedrock", "cohere" */
    /* 1 when the parsed request body has this API's shape. */
    int (*shape)(al_api api, const cJSON *root);
    /* Prompt texts of a request body, with roles. */
    al_code (*prompts)(al_api api, cJSON *root, al_texts *out);
    /* Completion texts of a whole (non-streamed) reply. */
    al_code (*completions)(al_api api, cJSON *root, al_texts *out);
    /* Token usage of a whole reply or of one stream event (fields it finds
     * are set, others left alone). */
    void (*usage)(al_api api, const cJSON *root, al_usage *u);
    /* One stream event (SSE data or NDJSON line): reports deltas and ends
     * through io.  event_name: the SSE "event:" field or NULL. */
    al_code (*stream_event)(al_api api, const char *event_name, cJSON *ev, al_stream_io *io);
    /* A delta event for key carrying text, shaped like tmpl (an earlier
     * event of the same stream, used for ids and model).  Caller frees the
     * result with cJSON_Delete; NULL on allocation failure. */
    cJSON *(*delta_event)(al_api api, const cJSON *tmpl, int key, const char *text);
    /* The provider's error body (JSON) for an HTTP status and message;
     * blocked: airlock refuses the call or reply (policy, limits, a refusal
     * it answers with a 4xx), 0: it could not screen it (a 5xx it gives in
     * place of what it could not read). */
    al_code (*error)(al_buf *out, int status, int blocked, const char *message);
    /* 1 when the request asks for a streamed reply. */
    int (*wants_stream)(al_api api, const cJSON *root);
} al_provider;

AL_API extern const al_provider al_provider_openai;
AL_API extern const al_provider al_provider_anthropic;
AL_API extern const al_provider al_provider_gemini;
AL_API extern const al_provider al_provider_ollama;
AL_API extern const al_provider al_provider_bedrock;
AL_API extern const al_provider al_provider_cohere;

/* Recognises an LLM API call by method and path (query string ignored) on
 * any host.  Returns the provider and sets *api, or NULL when the request is
 * not one.  The body's shape is checked separately with p->shape.  POST:
 * the calls that send prompts.  GET: the reads of stored replies (OpenAI
 * GET /responses/ID, /responses/ID/input_items, /chat/completions[/ID],
 * /chat/completions/ID/messages, /conversations/ID/items[/ITEM]; Anthropic
 * GET /messages/batches/ID/results; Gemini GET /interactions/ID), which
 * carry no prompt. */
AL_API const al_provider *al_provider_match(const char *method, size_t mlen, const char *path,
                                            size_t plen, al_api *api);

/* The model named by the request: the body's "model" string, else (Gemini)
 * the path segment after "models/".  Writes at most cap-1 bytes to out
 * (printable ASCII only); empty when unknown. */
AL_API void al_provider_model(const cJSON *root, const char *path, size_t plen, char *out,
                              size_t cap);

/* Helpers shared by the provider files. */
AL_API cJSON *al_json_get(const cJSON *obj, const char *key); /* exact, else any case */
AL_API const char *al_json_str(const cJSON *obj, const char *key);
AL_API int al_json_int(const cJSON *obj, const char *key, int dflt);
/* Prints root unformatted into out; AL_ENOMEM on failure. */
AL_API al_code al_json_print(const cJSON *root, al_buf *out);
/* Standard error body helper: writes the printed doc then deletes it. */
AL_API al_code al_json_emit(cJSON *doc, al_buf *out);
/* An error body of one field, {key: message} (Ollama's "error", Bedrock's and
 * Cohere's "message"). */
AL_API al_code al_json_error_field(al_buf *out, const char *key, const char *message);
/* Sets *dst to obj[key] truncated to an integer when that is a number a
 * long long holds (below 9e15 in magnitude);
 * leaves *dst alone otherwise (usage fields a reply does not report). */
AL_API void al_json_set_ll(long long *dst, const cJSON *obj, const char *key);
/* u's input and output counts from obj[in_key] and obj[out_key] (as
 * al_json_set_ll), and their sum as the total when both are known (for
 * replies that report no total). */
AL_API void al_usage_in_out(al_usage *u, const cJSON *obj, const char *in_key, const char *out_key);
/* Hands every text of t to io->whole in order; stops at the first error. */
AL_API al_code al_texts_whole(al_stream_io *io, const al_texts *t);
/* Empties the log probabilities of a reply or stream event (they repeat its
 * text token by token): called where its text was rewritten or held back. */
AL_API void al_drop_logprobs(cJSON *root);
/* wants_stream for APIs that stream only when the body says "stream": true. */
AL_API int al_wants_stream_true(al_api api, const cJSON *root);

#endif

/* provider.c: the provider table (recognising an LLM call by method and
 * path on any host) and helpers the provider files share.  Pure; never
 * looks at a text's content, only at where texts are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "provider.h"

const char *al_role_name(al_role r)
{
    static const char *const n[] = {"user",    "tool", "system", "assistant", "tool_definition",
                                    "document"};
    return (unsigned)r < 6 ? n[r] : "user";
}

int al_api_embeds(al_api api)
{
    return api == AL_API_EMBED || api == AL_API_OLLAMA_EMBED || api == AL_API_GEMINI_EMBED;
}

al_code al_texts_push_inputs(al_texts *t, cJSON *input, al_role role)
{
    if (cJSON_IsString(input)) return al_texts_push(t, input, role);
    if (!cJSON_IsArray(input)) return AL_OK;
    for (cJSON *c = input->child; c; c = c->next) {
        al_code r = cJSON_IsString(c) ? al_texts_push(t, c, role)
                                      : al_texts_push(t, al_json_get(c, "text"), role);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

static al_code push_ref(al_texts *t, cJSON *node, al_role role)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        al_text_ref *v = realloc(t->v, cap * sizeof *v);
        if (!v) return AL_ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n].node = node;
    t->v[t->n].role = role;
    t->v[t->n].sig = NULL;
    t->n++;
    return AL_OK;
}

al_code al_texts_push(al_texts *t, cJSON *node, al_role role)
{
    if (!cJSON_IsString(node) || !node->valuestring) return AL_OK;
    return push_ref(t, node, role);
}

al_code al_texts_push_signed(al_texts *t, cJSON *node, al_role role, const char *sig)
{
    size_t n = t->n;
    al_code r = al_texts_push(t, node, role);
    if (r == AL_OK && t->n > n && sig && sig[0]) t->v[n].sig = sig;
    return r;
}

int al_json_digits(const cJSON *node, char out[24])
{
    if (!cJSON_IsNumber(node)) return 0;
    double v = node->valuedouble;
    /* whole numbers of 7 to 16 digits that a double holds exactly */
    if (!(v >= 1e6 && v < 9007199254740992.0) || v != (double)(long long)v) return 0;
    snprintf(out, 24, "%lld", (long long)v);
    return 1;
}

static al_code push_all(al_texts *t, cJSON *node, al_role role, int depth)
{
    if (!node || depth > 64) return AL_OK;
    if (cJSON_IsString(node)) return al_texts_push(t, node, role);
    char digits[24];
    if (al_json_digits(node, digits))
        return push_ref(t, node, role); /* a card or phone as a JSON number in a tool's input */
    if (cJSON_IsArray(node) || cJSON_IsObject(node)) {
        for (cJSON *c = node->child; c; c = c->next) {
            al_code r = push_all(t, c, role, depth + 1);
            if (r != AL_OK) return r;
        }
    }
    return AL_OK;
}

al_code al_texts_push_all(al_texts *t, cJSON *node, al_role role)
{
    return push_all(t, node, role, 0);
}

static al_code push_descriptions(al_texts *t, cJSON *node, int depth)
{
    if (!node || depth > 32) return AL_OK;
    for (cJSON *c = node->child; c; c = c->next) {
        al_code r = AL_OK;
        if (cJSON_IsString(c) && c->string && !strcmp(c->string, "description"))
            r = al_texts_push(t, c, AL_ROLE_TOOL_DEF);
        else if (cJSON_IsArray(c) || cJSON_IsObject(c))
            r = push_descriptions(t, c, depth + 1);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

al_code al_texts_push_tool_defs(al_texts *t, cJSON *root)
{
    al_code r = push_descriptions(t, al_json_get(root, "tools"), 0);
    if (r == AL_OK) r = push_descriptions(t, al_json_get(root, "functions"), 0);
    return r;
}

void al_texts_free(al_texts *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* An exact name first, else one that differs only in case: Go's
 * encoding/json (Ollama, many OpenAI-compatible servers and clients) takes
 * "Messages" or "PROMPT" for the field it names in lower case, so such a
 * key carries the prompt or the completion as well.  (Two names that differ
 * only in case in one object are refused before this: exchange.c dup_keys.) */
cJSON *al_json_get(const cJSON *obj, const char *key)
{
    if (!cJSON_IsObject(obj)) return NULL;
    /* one pass: most lookups probe for a key the object does not have, and
     * a name whose first byte differs even in case is passed at one compare */
    const unsigned char k0 = (unsigned char)key[0] | 0x20;
    cJSON *fold = NULL;
    for (cJSON *c = obj->child; c; c = c->next) {
        const char *s = c->string;
        if (!s || ((unsigned char)s[0] | 0x20) != k0) continue;
        if (!strcmp(s, key)) return c;
        if (!fold && !strcasecmp(s, key)) fold = c;
    }
    return fold;
}

const char *al_json_str(const cJSON *obj, const char *key)
{
    cJSON *v = al_json_get(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int al_json_int(const cJSON *obj, const char *key, int dflt)
{
    cJSON *v = al_json_get(obj, key);
    return cJSON_IsNumber(v) ? v->valueint : dflt;
}

al_code al_json_print(const cJSON *root, al_buf *out)
{
    char *s = cJSON_PrintUnformatted(root);
    if (!s) return AL_ENOMEM;
    al_code r = al_buf_puts(out, s);
    cJSON_free(s);
    return r;
}

al_code al_json_emit(cJSON *doc, al_buf *out)
{
    if (!doc) return AL_ENOMEM;
    al_code r = al_json_print(doc, out);
    cJSON_Delete(doc);
    return r;
}

al_code al_json_error_field(al_buf *out, const char *key, const char *message)
{
    cJSON *doc = cJSON_CreateObject();
    if (!doc || !cJSON_AddStringToObject(doc, key, message)) {
        cJSON_Delete(doc);
        return AL_ENOMEM;
    }
    return al_json_emit(doc, out);
}

void al_json_set_ll(long long *dst, const cJSON *obj, const char *key)
{
    cJSON *v = al_json_get(obj, key);
    /* a number no long long holds (1e300, or NaN) is not a count: ignored */
    if (cJSON_IsNumber(v) && v->valuedouble > -9e15 && v->valuedouble < 9e15)
        *dst = (long long)v->valuedouble;
}

void al_usage_in_out(al_usage *u, const cJSON *obj, const char *in_key, const char *out_key)
{
    al_json_set_ll(&u->input, obj, in_key);
    al_json_set_ll(&u->output, obj, out_key);
    if (u->input >= 0 && u->output >= 0) u->total = u->input + u->output;
}

al_code al_texts_whole(al_stream_io *io, const al_texts *t)
{
    for (size_t i = 0; i < t->n; i++) {
        al_code r = io->whole(io, t->v[i].node);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

int al_wants_stream_true(al_api api, const cJSON *root)
{
    (void)api;
    return cJSON_IsTrue(al_json_get(root, "stream"));
}

static int hexdigit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static const char *find_in(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, needle, k) == 0) return s + i;
    return NULL;
}

/* 1 when path[0..plen) ends in parent + "/ID", ID one non-empty segment. */
static int ends_with_id(const char *path, size_t plen, const char *parent)
{
    size_t i = plen;
    while (i > 0 && path[i - 1] != '/') i--;
    return i > 0 && i < plen && ends_with(path, i - 1, parent);
}

/* 1 when path ends in parent + "/ID" + suffix. */
static int id_then(const char *path, size_t plen, const char *parent, const char *suffix)
{
    size_t k = strlen(suffix);
    return ends_with(path, plen, suffix) && ends_with_id(path, plen - k, parent);
}

/* The GET reads of stored replies (see al_provider_match). */
static const al_provider *match_get(const char *path, size_t plen, al_api *api)
{
    if (ends_with(path, plen, "/chat/completions") ||
        ends_with_id(path, plen, "/chat/completions")) {
        *api = AL_API_CHAT; /* the list of stored completions, or one */
        return &al_provider_openai;
    }
    if (id_then(path, plen, "/chat/completions", "/messages")) {
        *api = AL_API_CHAT_MESSAGES;
        return &al_provider_openai;
    }
    if (ends_with_id(path, plen, "/responses")) {
        *api = AL_API_RESPONSES; /* a response, as JSON or (?stream=true) its events */
        return &al_provider_openai;
    }
    if (id_then(path, plen, "/responses", "/input_items") ||
        id_then(path, plen, "/conversations", "/items")) {
        *api = AL_API_ITEMS;
        return &al_provider_openai;
    }
    size_t i = plen; /* /conversations/ID/items/ITEM: one item */
    while (i > 0 && path[i - 1] != '/') i--;
    if (i > 0 && i < plen && id_then(path, i - 1, "/conversations", "/items")) {
        *api = AL_API_ITEMS;
        return &al_provider_openai;
    }
    if (id_then(path, plen, "/messages/batches", "/results")) {
        *api = AL_API_BATCH_RESULTS;
        return &al_provider_anthropic;
    }
    /* Gemini's Interactions API: an interaction, or (?stream=true) its events */
    if (ends_with_id(path, plen, "/interactions")) {
        *api = AL_API_INTERACTIONS;
        return &al_provider_gemini;
    }
    return NULL;
}

const al_provider *al_provider_match(const char *method, size_t mlen, const char *path, size_t plen,
                                     al_api *api)
{
    int get = method && mlen == 3 && !memcmp(method, "GET", 3);
    if (!method || !path || (!get && (mlen != 4 || memcmp(method, "POST", 4) != 0))) return NULL;
    /* Match the path as a server routes it: without query or fragment,
     * percent-escapes decoded (frameworks route on the decoded path), without
     * ";params" on its last segment and trailing slashes. */
    char dec[2048];
    size_t n = 0;
    for (size_t i = 0; i < plen && path[i] != '?' && path[i] != '#'; i++) {
        int hi, lo;
        char c = path[i];
        if (c == '%' && i + 2 < plen && (hi = hexdigit(path[i + 1])) >= 0 &&
            (lo = hexdigit(path[i + 2])) >= 0) {
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (n == sizeof dec) return NULL; /* no API path is this long */
        dec[n++] = c;
    }
    path = dec;
    plen = n;
    for (size_t i = plen; i > 0 && path[i - 1] != '/'; i--)
        if (path[i - 1] == ';') plen = i - 1;
    while (plen > 1 && path[plen - 1] == '/') plen--;
    if (get) return match_get(path, plen, api);
    /* Mistral's Agents API takes chat messages */
    if (ends_with(path, plen, "/chat/completions") ||
        ends_with(path, plen, "/agents/completions")) {
        *api = AL_API_CHAT;
        return &al_provider_openai;
    }
    if (ends_with(path, plen, "/completions")) {
        *api = AL_API_COMPLETIONS;
        return &al_provider_openai;
    }
    /* llama.cpp server's own completion and fill-in-the-middle endpoints */
    if (ends_with(path, plen, "/completion") || ends_with(path, plen, "/infill")) {
        *api = AL_API_COMPLETIONS;
        return &al_provider_openai;
    }
    /* OpenAI's Conversations API: items the model reads when a response
     * names the conversation (POST /conversations, /conversations/ID/items) */
    if (ends_with(path, plen, "/responses") || ends_with(path, plen, "/conversations") ||
        (find_in(path, plen, "/conversations/") && ends_with(path, plen, "/items"))) {
        *api = AL_API_RESPONSES;
        return &al_provider_openai;
    }
    /* Anthropic's Message Batches: each request's params are a Messages body */
    if (ends_with(path, plen, "/messages") || ends_with(path, plen, "/messages/batches")) {
        *api = AL_API_MESSAGES;
        return &al_provider_anthropic;
    }
    /* models/ (also tunedModels/ and Vertex AI's publishers/.../models/) */
    if (find_in(path, plen, "models/") || find_in(path, plen, "Models/")) {
        /* Vertex AI's partner models: Anthropic's Messages API (and other
         * publishers' OpenAI-style chat) through rawPredict */
        if (ends_with(path, plen, ":rawPredict") || ends_with(path, plen, ":streamRawPredict")) {
            if (find_in(path, plen, "publishers/anthropic/")) {
                *api = AL_API_MESSAGES;
                return &al_provider_anthropic;
            }
            *api = AL_API_CHAT;
            return &al_provider_openai;
        }
        if (ends_with(path, plen, ":streamGenerateContent")) {
            *api = AL_API_GEMINI_STREAM;
            return &al_provider_gemini;
        }
        if (ends_with(path, plen, ":generateContent")) {
            *api = AL_API_GEMINI;
            return &al_provider_gemini;
        }
        if (ends_with(path, plen, ":embedContent") ||
            ends_with(path, plen, ":batchEmbedContents")) {
            *api = AL_API_GEMINI_EMBED;
            return &al_provider_gemini;
        }
    }
    /* Amazon Bedrock: Converse, and InvokeModel with a Messages body (the
     * Anthropic models'; other bodies fail the shape check) */
    if (find_in(path, plen, "/model/")) {
        if (ends_with(path, plen, "/converse")) {
            *api = AL_API_CONVERSE;
            return &al_provider_bedrock;
        }
        if (ends_with(path, plen, "/invoke")) {
            *api = AL_API_MESSAGES;
            return &al_provider_anthropic;
        }
    }
    /* Gemini's Interactions API (POST /v1beta/interactions) */
    if (ends_with(path, plen, "/interactions")) {
        *api = AL_API_INTERACTIONS;
        return &al_provider_gemini;
    }
    /* Cohere's Chat API v2 */
    if (ends_with(path, plen, "/v2/chat")) {
        *api = AL_API_COHERE_CHAT;
        return &al_provider_cohere;
    }
    /* Gemini's context cache: contents the model reads in later calls */
    if (ends_with(path, plen, "/cachedContents")) {
        *api = AL_API_GEMINI;
        return &al_provider_gemini;
    }
    if (ends_with(path, plen, "/api/chat")) {
        *api = AL_API_OLLAMA_CHAT;
        return &al_provider_ollama;
    }
    if (ends_with(path, plen, "/api/generate")) {
        *api = AL_API_OLLAMA_GEN;
        return &al_provider_ollama;
    }
    /* embeddings and moderations: a RAG pipeline's documents go out here */
    if (ends_with(path, plen, "/api/embed") || ends_with(path, plen, "/api/embeddings")) {
        *api = AL_API_OLLAMA_EMBED;
        return &al_provider_ollama;
    }
    if (ends_with(path, plen, "/embeddings") || ends_with(path, plen, "/moderations")) {
        *api = AL_API_EMBED; /* any prefix: /v1/, Azure's /openai/deployments/D/ */
        return &al_provider_openai;
    }
    return NULL;
}

static void copy_printable(const char *s, size_t n, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f) continue;
        out[j++] = (char)c;
    }
    out[j] = '\0';
}

void al_provider_model(const cJSON *root, const char *path, size_t plen, char *out, size_t cap)
{
    if (!cap) return;
    out[0] = '\0';
    const char *m = al_json_str(root, "model");
    if (m) {
        copy_printable(m, strlen(m), out, cap);
        return;
    }
    if (!path) return;
    const char *q = memchr(path, '?', plen);
    if (q) plen = (size_t)(q - path);
    const char *s = find_in(path, plen, "models/");
    if (!s) s = find_in(path, plen, "Models/"); /* tunedModels/ */
    if (s) {
        s += 7;
    } else if ((s = find_in(path, plen, "/model/")) != NULL) { /* Bedrock: /model/ID/converse */
        s += 7;
        const char *e = memchr(s, '/', plen - (size_t)(s - path));
        copy_printable(s, e ? (size_t)(e - s) : plen - (size_t)(s - path), out, cap);
        return;
    } else {
        return;
    }
    const char *e = memchr(s, ':', plen - (size_t)(s - path));
    if (!e) e = path + plen;
    copy_printable(s, (size_t)(e - s), out, cap);
}

/* Log probabilities repeat the reply's text token by token ("logprobs",
 * "top_logprobs", Gemini's "logprobsResult", llama.cpp server's
 * "completion_probabilities"), out of the scrubber's reach:
 * wherever the text was rewritten or held back they are emptied (an array
 * becomes [], an object null), depth-capped. */
static void drop_logprobs(cJSON *node, int depth)
{
    if (depth > 12 || !node) return;
    cJSON *c;
    cJSON_ArrayForEach(c, node)
    {
        const char *k = c->string;
        if (k && cJSON_IsObject(node) &&
            (!strcmp(k, "logprobs") || !strcmp(k, "top_logprobs") || !strcmp(k, "logprobsResult") ||
             !strcmp(k, "completion_probabilities")) &&
            (cJSON_IsArray(c) || cJSON_IsObject(c))) {
            cJSON *it;
            while ((it = c->child) != NULL) cJSON_Delete(cJSON_DetachItemViaPointer(c, it));
            if (cJSON_IsObject(c)) c->type = cJSON_NULL;
            continue;
        }
        if (cJSON_IsArray(c) || cJSON_IsObject(c)) drop_logprobs(c, depth + 1);
    }
}

void al_drop_logprobs(cJSON *root)
{
    drop_logprobs(root, 0);
}

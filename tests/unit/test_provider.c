/* Unit tests for the provider table: which calls are LLM calls, which texts
 * of each API are prompts (and in which role) or completions, token usage,
 * and each provider's error shape. */
#include "provider.h"
#include "testing.h"

static const al_provider *match(const char *m, const char *path, al_api *api)
{
    return al_provider_match(m, strlen(m), path, strlen(path), api);
}

TEST(llm_paths_are_recognised_on_any_prefix_and_others_are_not)
{
    al_api api;
    CHECK(match("POST", "/v1/chat/completions", &api) == &al_provider_openai && api == AL_API_CHAT);
    CHECK(match("POST", "/openai/deployments/gpt4/chat/completions?api-version=2024-02-01", &api) ==
              &al_provider_openai &&
          api == AL_API_CHAT);
    CHECK(match("POST", "/proxy/v1/completions", &api) == &al_provider_openai &&
          api == AL_API_COMPLETIONS);
    CHECK(match("POST", "/v1/responses", &api) == &al_provider_openai && api == AL_API_RESPONSES);
    CHECK(match("POST", "/v1/messages", &api) == &al_provider_anthropic);
    CHECK(match("POST", "/v1beta/models/gemini-1.5:generateContent?key=K", &api) ==
              &al_provider_gemini &&
          api == AL_API_GEMINI);
    CHECK(match("POST", "/v1/models/g:streamGenerateContent?alt=sse", &api) ==
              &al_provider_gemini &&
          api == AL_API_GEMINI_STREAM);
    CHECK(match("POST", "/api/chat", &api) == &al_provider_ollama && api == AL_API_OLLAMA_CHAT);
    CHECK(match("POST", "/api/generate", &api) == &al_provider_ollama && api == AL_API_OLLAMA_GEN);
    CHECK(match("GET", "/v1/messages", &api) == NULL);
    CHECK(match("HEAD", "/v1/chat/completions", &api) == NULL);
    CHECK(match("POST", "/upload", &api) == NULL);
    CHECK(match("POST", "/v1/chat/completions/extra", &api) == NULL);
}

TEST(llm_paths_are_recognised_as_servers_route_them_escaped_or_with_a_fragment)
{
    al_api api;
    CHECK(match("POST", "/v1/chat/%63ompletions", &api) == &al_provider_openai &&
          api == AL_API_CHAT);
    CHECK(match("POST", "/v1/chat%2Fcompletions", &api) == &al_provider_openai);
    CHECK(match("POST", "/v1/chat/completions#x", &api) == &al_provider_openai);
    CHECK(match("POST", "/v1/chat/completions;jsessionid=1", &api) == &al_provider_openai);
    CHECK(match("POST", "/v1beta/models/g%3AgenerateContent", &api) == &al_provider_gemini &&
          api == AL_API_GEMINI);
    CHECK(match("POST", "/api/%63hat/", &api) == &al_provider_ollama);
    CHECK(match("POST", "/v1/chat/completions%", &api) == NULL);
    CHECK(match("POST", "/v1/chat/completions%2", &api) == NULL);
    CHECK(match("POST", "/v1/chat/completions%zz", &api) == NULL);
    CHECK(match("POST", "/v1/chat;x/other", &api) == NULL);
}

/* A pushed text: a string's value, or a number's digits ("#" and them). */
static const char *text_of(const cJSON *n)
{
    static char d[26];
    if (cJSON_IsString(n)) return n->valuestring;
    d[0] = '#';
    if (!al_json_digits(n, d + 1)) strcpy(d, "#?");
    return d;
}

/* Texts of a request as "role:text;" */
static char *prompts(const al_provider *p, al_api api, const char *json)
{
    cJSON *root = cJSON_Parse(json);
    al_texts t = {0};
    al_buf b = {0};
    al_buf_puts(&b, "");
    if (root && p->shape(api, root) && p->prompts(api, root, &t) == AL_OK)
        for (size_t i = 0; i < t.n; i++)
            al_buf_printf(&b, "%s:%s;", al_role_name(t.v[i].role), text_of(t.v[i].node));
    al_texts_free(&t);
    cJSON_Delete(root);
    return b.data;
}

TEST(openai_chat_prompts_carry_roles_including_tool_results_and_parts)
{
    char *s = prompts(&al_provider_openai, AL_API_CHAT,
                      "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\","
                      "\"content\":[{\"type\":\"text\",\"text\":\"U1\"},{\"type\":\"image_url\","
                      "\"image_url\":{\"url\":\"http://x\"}}]},{\"role\":\"assistant\",\"content\":"
                      "null,\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                      "{\"role\":\"tool\",\"content\":\"T\"},{\"role\":\"developer\",\"content\":"
                      "\"D\"}]}");
    CHECK_STR(s, "system:S;user:U1;assistant:{};tool:T;system:D;");
    free(s);
}

TEST(responses_prompts_cover_instructions_input_items_and_tool_outputs)
{
    char *s =
        prompts(&al_provider_openai, AL_API_RESPONSES,
                "{\"instructions\":\"I\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":"
                "\"input_text\",\"text\":\"U\"}]},{\"type\":\"function_call_output\","
                "\"call_id\":\"c\",\"output\":\"O\"}]}");
    CHECK_STR(s, "system:I;user:U;tool:O;");
    free(s);
    s = prompts(&al_provider_openai, AL_API_RESPONSES, "{\"model\":\"m\",\"input\":\"just text\"}");
    CHECK_STR(s, "user:just text;");
    free(s);
    s = prompts(&al_provider_openai, AL_API_COMPLETIONS, "{\"prompt\":[\"a\",\"b\"]}");
    CHECK_STR(s, "user:a;user:b;");
    free(s);
}

TEST(anthropic_prompts_cover_system_blocks_and_tool_results)
{
    char *s =
        prompts(&al_provider_anthropic, AL_API_MESSAGES,
                "{\"system\":[{\"type\":\"text\",\"text\":\"S\"}],\"messages\":[{\"role\":"
                "\"user\",\"content\":\"U\"},{\"role\":\"assistant\",\"content\":[{\"type\":"
                "\"tool_use\",\"id\":\"t\",\"name\":\"n\",\"input\":{\"q\":\"Q\"}}]},{\"role\":"
                "\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t\","
                "\"content\":[{\"type\":\"text\",\"text\":\"R\"}]}]}]}");
    CHECK_STR(s, "system:S;user:U;assistant:Q;tool:R;");
    free(s);
}

TEST(gemini_and_ollama_prompts_cover_system_and_function_responses)
{
    char *s =
        prompts(&al_provider_gemini, AL_API_GEMINI,
                "{\"systemInstruction\":{\"parts\":[{\"text\":\"S\"}]},\"contents\":[{\"role\":"
                "\"user\",\"parts\":[{\"text\":\"U\"}]},{\"role\":\"user\",\"parts\":[{"
                "\"functionResponse\":{\"name\":\"f\",\"response\":{\"r\":\"F\"}}}]}]}");
    CHECK_STR(s, "system:S;user:U;tool:F;");
    free(s);
    s = prompts(&al_provider_ollama, AL_API_OLLAMA_CHAT,
                "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":"
                "\"tool\",\"content\":\"T\"}]}");
    CHECK_STR(s, "system:S;tool:T;");
    free(s);
    s = prompts(&al_provider_ollama, AL_API_OLLAMA_GEN,
                "{\"model\":\"m\",\"system\":\"S\",\"prompt\":\"P\"}");
    CHECK_STR(s, "system:S;user:P;");
    free(s);
}

TEST(bodies_of_other_shapes_on_llm_paths_are_not_llm_calls)
{
    cJSON *r = cJSON_Parse("{\"text\":\"hi\"}");
    CHECK(!al_provider_openai.shape(AL_API_CHAT, r));
    CHECK(!al_provider_anthropic.shape(AL_API_MESSAGES, r));
    CHECK(!al_provider_gemini.shape(AL_API_GEMINI, r));
    CHECK(!al_provider_ollama.shape(AL_API_OLLAMA_CHAT, r));
    cJSON_Delete(r);
}

static char *completions(const al_provider *p, al_api api, const char *json)
{
    cJSON *root = cJSON_Parse(json);
    al_texts t = {0};
    al_buf b = {0};
    al_buf_puts(&b, "");
    if (root && p->completions(api, root, &t) == AL_OK)
        for (size_t i = 0; i < t.n; i++) al_buf_printf(&b, "%s;", text_of(t.v[i].node));
    al_texts_free(&t);
    cJSON_Delete(root);
    return b.data;
}

TEST(completion_texts_are_found_for_every_api)
{
    char *s = completions(&al_provider_openai, AL_API_CHAT,
                          "{\"choices\":[{\"message\":{\"content\":\"A\",\"tool_calls\":[{"
                          "\"function\":{\"arguments\":\"{\\\"x\\\":1}\"}}]}},{\"message\":{"
                          "\"content\":\"B\"}}]}");
    CHECK_STR(s, "A;{\"x\":1};B;");
    free(s);
    s = completions(&al_provider_openai, AL_API_COMPLETIONS, "{\"choices\":[{\"text\":\"T\"}]}");
    CHECK_STR(s, "T;");
    free(s);
    s = completions(&al_provider_openai, AL_API_RESPONSES,
                    "{\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\","
                    "\"text\":\"R\"}]},{\"type\":\"function_call\",\"arguments\":\"{}\"}]}");
    CHECK_STR(s, "R;{};");
    free(s);
    s = completions(&al_provider_anthropic, AL_API_MESSAGES,
                    "{\"content\":[{\"type\":\"text\",\"text\":\"A\"},{\"type\":\"tool_use\","
                    "\"input\":{\"k\":\"V\"}}]}");
    CHECK_STR(s, "A;V;");
    free(s);
    /* whole numbers of 7 to 16 digits in a tool's structured input count
     * (a card or phone as a JSON number); small, fractional and huge ones
     * do not */
    s = completions(&al_provider_anthropic, AL_API_MESSAGES,
                    "{\"content\":[{\"type\":\"tool_use\",\"input\":{\"card\":4111111111111111,"
                    "\"qty\":3,\"price\":1999999.5,\"big\":1e300,\"phone\":2125550199}}]}");
    CHECK_STR(s, "#4111111111111111;#2125550199;");
    free(s);
    s = completions(&al_provider_gemini, AL_API_GEMINI_STREAM,
                    "[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"G1\"}]}}]},"
                    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"G2\"}]}}]}]");
    CHECK_STR(s, "G1;G2;");
    free(s);
    s = completions(&al_provider_ollama, AL_API_OLLAMA_GEN, "{\"response\":\"O\",\"done\":true}");
    CHECK_STR(s, "O;");
    free(s);
}

TEST(usage_is_read_from_each_provider_shape)
{
    struct {
        const al_provider *p;
        al_api api;
        const char *json;
        long long in, out;
    } cases[] = {
        {&al_provider_openai, AL_API_CHAT,
         "{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}", 3, 4},
        {&al_provider_openai, AL_API_RESPONSES,
         "{\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":5,"
         "\"output_tokens\":6}}}",
         5, 6},
        {&al_provider_anthropic, AL_API_MESSAGES,
         "{\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}", 1, 2},
        {&al_provider_gemini, AL_API_GEMINI,
         "{\"usageMetadata\":{\"promptTokenCount\":8,\"candidatesTokenCount\":9}}", 8, 9},
        {&al_provider_ollama, AL_API_OLLAMA_CHAT, "{\"prompt_eval_count\":10,\"eval_count\":11}",
         10, 11},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *r = cJSON_Parse(cases[i].json);
        al_usage u = {-1, -1, -1};
        cases[i].p->usage(cases[i].api, r, &u);
        CHECK_EQ_INT(u.input, cases[i].in);
        CHECK_EQ_INT(u.output, cases[i].out);
        cJSON_Delete(r);
    }
}

TEST(error_bodies_have_each_providers_shape_and_escape_the_message)
{
    const char *msg = "airlock: blocked \"x\" (rules: a.b)";
    al_buf b = {0};
    CHECK_EQ_INT(al_provider_openai.error(&b, 400, 1, msg), AL_OK);
    cJSON *j = cJSON_Parse(b.data);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message")),
              msg);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "type") != NULL);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "code") != NULL);
    cJSON_Delete(j);
    al_buf_reset(&b);
    CHECK_EQ_INT(al_provider_anthropic.error(&b, 400, 1, msg), AL_OK);
    j = cJSON_Parse(b.data);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "type")), "error");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message")),
              msg);
    cJSON_Delete(j);
    al_buf_reset(&b);
    CHECK_EQ_INT(al_provider_gemini.error(&b, 400, 1, msg), AL_OK);
    j = cJSON_Parse(b.data);
    CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "code")->valueint, 400);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "status")),
              "INVALID_ARGUMENT");
    cJSON_Delete(j);
    al_buf_reset(&b);
    CHECK_EQ_INT(al_provider_ollama.error(&b, 400, 1, msg), AL_OK);
    j = cJSON_Parse(b.data);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "error")), msg);
    cJSON_Delete(j);
    al_buf_free(&b);
}

TEST(model_comes_from_the_body_or_the_gemini_path)
{
    char m[64];
    cJSON *r = cJSON_Parse("{\"model\":\"gpt-4o\"}");
    al_provider_model(r, "/v1/chat/completions", 20, m, sizeof m);
    CHECK_STR(m, "gpt-4o");
    cJSON_Delete(r);
    const char *p = "/v1beta/models/gemini-1.5-pro:generateContent?key=SECRET";
    al_provider_model(NULL, p, strlen(p), m, sizeof m);
    CHECK_STR(m, "gemini-1.5-pro");
}

/* An io that records what a provider reports for stream events:
 * "d<key>:<text>;" a delta, "e<key>;" an end, "E;" the end of all,
 * "w:<text>;" a whole text. */
typedef struct {
    al_stream_io io;
    al_buf log;
} rec_io;

static al_code rec_delta(al_stream_io *io, int key, cJSON *node, const cJSON *event)
{
    return al_buf_printf(&((rec_io *)io)->log, "d%d:%s;", key, text_of(node));
}

static al_code rec_end(al_stream_io *io, int key, cJSON *node)
{
    return al_buf_printf(&((rec_io *)io)->log, "e%d;", key);
}

static al_code rec_end_all(al_stream_io *io)
{
    return al_buf_puts(&((rec_io *)io)->log, "E;");
}

static al_code rec_whole(al_stream_io *io, cJSON *node)
{
    return al_buf_printf(&((rec_io *)io)->log, "w:%s;", text_of(node));
}

/* What p reports for the stream events (a NULL-ended list of JSON texts),
 * with the ends ("e") of keys that never had a delta left out (providers end
 * whole ranges of keys). */
static char *stream_log(const al_provider *p, al_api api, const char *const *events)
{
    rec_io r = {{rec_delta, rec_end, rec_end_all, rec_whole, NULL}, {0}};
    al_buf_puts(&r.log, "");
    for (int i = 0; events[i]; i++) {
        cJSON *ev = cJSON_Parse(events[i]);
        size_t before = r.log.len;
        if (!ev || p->stream_event(api, NULL, ev, &r.io) != AL_OK) al_buf_puts(&r.log, "ERR;");
        cJSON_Delete(ev);
        char *added = strdup(r.log.data + before);
        r.log.len = before;
        r.log.data[before] = '\0';
        for (char *s = added; s && *s;) {
            char *e = strchr(s, ';'), used[24];
            size_t n = e ? (size_t)(e - s) + 1 : strlen(s);
            snprintf(used, sizeof used, "d%d:", atoi(s + 1));
            if (s[0] != 'e' || strstr(r.log.data, used)) al_buf_append(&r.log, s, n);
            s += n;
        }
        free(added);
    }
    return r.log.data;
}

TEST(openai_chat_stream_reports_audio_transcript_deltas_on_their_own_key)
{
    const char *ev[] = {
        "{\"choices\":[{\"index\":1,\"delta\":{\"audio\":{\"id\":\"a\",\"transcript\":\"Hi \"}}}]}",
        "{\"choices\":[{\"index\":1,\"delta\":{\"audio\":{\"transcript\":\"there\"}}}]}",
        "{\"choices\":[{\"index\":1,\"delta\":{\"audio\":{\"data\":\"UklG\"}}}]}",
        "{\"choices\":[{\"index\":1,\"delta\":{\"tool_calls\":[{\"index\":70,\"function\":{"
        "\"arguments\":\"{}\"}}]}}]}",
        NULL};
    char *s = stream_log(&al_provider_openai, AL_API_CHAT, ev);
    /* key 64 + 60: the transcript; a tool call index past the range takes
     * the last tool slot (58), never the legacy function_call's or the
     * transcript's */
    CHECK_STR(s, "d124:Hi ;d124:there;d122:{};");
    free(s);
    cJSON *tmpl = cJSON_Parse(ev[0]);
    cJSON *d = al_provider_openai.delta_event(AL_API_CHAT, tmpl, 64 + 60, "held");
    char *p = cJSON_PrintUnformatted(d);
    CHECK_STR(p, "{\"choices\":[{\"index\":1,\"delta\":{\"audio\":{\"transcript\":\"held\"}},"
                 "\"finish_reason\":null}]}");
    cJSON_free(p);
    cJSON_Delete(d);
    cJSON_Delete(tmpl);
    s = completions(&al_provider_openai, AL_API_CHAT,
                    "{\"choices\":[{\"message\":{\"content\":null,\"audio\":{\"id\":\"a\",\"data\":"
                    "\"UklG\",\"transcript\":\"T\"}}}]}");
    CHECK_STR(s, "T;");
    free(s);
}

TEST(responses_refusal_parts_and_custom_tool_input_are_completion_texts)
{
    char *s = completions(&al_provider_openai, AL_API_RESPONSES,
                          "{\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"refusal\","
                          "\"refusal\":\"R\"}]},{\"type\":\"custom_tool_call\",\"call_id\":\"c\","
                          "\"name\":\"sh\",\"input\":\"I\"}]}");
    CHECK_STR(s, "R;I;");
    free(s);
    const char *ev[] = {
        "{\"type\":\"response.custom_tool_call_input.delta\",\"output_index\":2,\"delta\":\"ab\"}",
        "{\"type\":\"response.custom_tool_call_input.done\",\"output_index\":2,\"input\":\"ab\"}",
        "{\"type\":\"response.content_part.done\",\"output_index\":0,\"content_index\":0,"
        "\"part\":{\"type\":\"refusal\",\"refusal\":\"no\"}}",
        "{\"type\":\"response.output_item.done\",\"output_index\":2,\"item\":{\"type\":"
        "\"custom_tool_call\",\"input\":\"ab\"}}",
        NULL};
    s = stream_log(&al_provider_openai, AL_API_RESPONSES, ev);
    CHECK_STR(s, "d191:ab;e191;w:ab;w:no;e191;w:ab;");
    free(s);
    /* a held text of a custom tool's input goes out as that tool's delta */
    cJSON *tmpl = cJSON_Parse(ev[0]);
    cJSON *d = al_provider_openai.delta_event(AL_API_RESPONSES, tmpl, 2 * 64 + 63, "x");
    CHECK_STR(al_json_str(d, "type"), "response.custom_tool_call_input.delta");
    CHECK_STR(al_json_str(d, "delta"), "x");
    cJSON_Delete(d);
    cJSON_Delete(tmpl);
}

TEST(responses_prompt_variables_are_screened_as_user_text)
{
    char *s = prompts(&al_provider_openai, AL_API_RESPONSES,
                      "{\"prompt\":{\"id\":\"pmpt_1\",\"variables\":{\"city\":\"C\",\"doc\":{"
                      "\"type\":\"input_text\",\"text\":\"D\"},\"img\":{\"type\":\"input_image\","
                      "\"image_url\":\"https://x/y.png\"}}}}");
    CHECK_STR(s, "user:C;user:D;");
    free(s);
}

TEST(an_empty_text_beside_another_delta_is_not_a_delta_of_its_own)
{
    /* Ollama's thinking models send "content": "" beside the thinking text
     * and compatible chat servers "content": "" beside reasoning_content:
     * reported, the empty text made every event one of two keys' */
    const char *oll[] = {"{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":"
                         "\"th\"},\"done\":false}",
                         "{\"message\":{\"role\":\"assistant\",\"content\":\"an\",\"thinking\":"
                         "\"\"},\"done\":false}",
                         "{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true}",
                         NULL};
    char *s = stream_log(&al_provider_ollama, AL_API_OLLAMA_CHAT, oll);
    CHECK_STR(s, "d1:th;d0:an;d0:;e1;e0;");
    free(s);
    const char *chat[] = {
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"reasoning_content\":\"r\"}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\",\"tool_calls\":[{\"index\":0,"
        "\"function\":{\"arguments\":\"{\"}}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}", NULL};
    s = stream_log(&al_provider_openai, AL_API_CHAT, chat);
    CHECK_STR(s, "d62:r;d1:{;d0:;");
    free(s);
}

TEST(gemini_thoughts_are_a_text_of_their_own_ended_when_the_answer_starts)
{
    const char *ev[] = {
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"T1\",\"thought\":true}]},"
        "\"index\":0}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A1\"}]},\"index\":0},{\"content\":"
        "{\"parts\":[{\"text\":\"B1\"}]},\"index\":1}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{"
        "\"to\":\"E\"}}},{\"executableCode\":{\"code\":\"C\"}},{\"codeExecutionResult\":{"
        "\"output\":\"O\"}}]},\"index\":0,\"finishReason\":\"STOP\"}]}",
        NULL};
    char *s = stream_log(&al_provider_gemini, AL_API_GEMINI_STREAM, ev);
    CHECK_STR(s, "d1:T1;e1;d0:A1;d2:B1;w:E;w:C;w:O;e1;e0;");
    free(s);
    /* a held thought goes out as a thought part of its candidate */
    cJSON *d = al_provider_gemini.delta_event(AL_API_GEMINI_STREAM, NULL, 3, "t");
    char *p = cJSON_PrintUnformatted(d);
    CHECK_STR(p, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"t\",\"thought\":true}],"
                 "\"role\":\"model\"},\"index\":1}]}");
    cJSON_free(p);
    cJSON_Delete(d);
    s = completions(&al_provider_gemini, AL_API_GEMINI,
                    "{\"candidates\":[{\"content\":{\"parts\":[{\"executableCode\":{\"code\":"
                    "\"C\"}},{\"codeExecutionResult\":{\"output\":\"O\"}}]}}]}");
    CHECK_STR(s, "C;O;");
    free(s);
}

TEST(gemini_contents_and_parts_may_be_one_object_instead_of_a_list)
{
    char *s = prompts(&al_provider_gemini, AL_API_GEMINI,
                      "{\"systemInstruction\":{\"parts\":{\"text\":\"S\"}},\"contents\":{\"role\":"
                      "\"USER\",\"parts\":{\"text\":\"U\"}}}");
    CHECK_STR(s, "system:S;user:U;");
    free(s);
    s = prompts(&al_provider_gemini, AL_API_GEMINI,
                "{\"contents\":[{\"role\":\"MODEL\",\"parts\":{\"text\":\"M\"}},{\"parts\":[{"
                "\"text\":\"U\"}]}]}");
    CHECK_STR(s, "assistant:M;user:U;");
    free(s);
    /* code the model ran, sent back: its output is read as tool output */
    s = prompts(
        &al_provider_gemini, AL_API_GEMINI,
        "{\"contents\":[{\"role\":\"model\",\"parts\":[{\"executableCode\":{\"code\":"
        "\"C\"}},{\"codeExecutionResult\":{\"outcome\":\"OUTCOME_OK\",\"output\":\"O\"}}]}]}");
    CHECK_STR(s, "assistant:C;tool:O;");
    free(s);
}

TEST(vertex_partner_models_and_gemini_tuned_models_are_llm_calls)
{
    al_api api;
    CHECK(match("POST",
                "/v1/projects/p/locations/us-east5/publishers/anthropic/models/"
                "claude-sonnet-4@20250514:streamRawPredict",
                &api) == &al_provider_anthropic &&
          api == AL_API_MESSAGES);
    CHECK(match("POST",
                "/v1/projects/p/locations/us-east5/publishers/anthropic/models/c:rawPredict",
                &api) == &al_provider_anthropic);
    CHECK(match("POST", "/v1/projects/p/locations/l/publishers/mistralai/models/m:rawPredict",
                &api) == &al_provider_openai &&
          api == AL_API_CHAT);
    CHECK(match("POST", "/v1beta/tunedModels/my-model-1:generateContent", &api) ==
              &al_provider_gemini &&
          api == AL_API_GEMINI);
    CHECK(match("POST", "/v1/endpoints/e:rawPredict", &api) == NULL);
    char m[64];
    const char *p = "/v1beta/tunedModels/my-model-1:generateContent";
    al_provider_model(NULL, p, strlen(p), m, sizeof m);
    CHECK_STR(m, "my-model-1");
}

TEST(anthropic_document_title_and_context_are_prompts)
{
    char *s = prompts(&al_provider_anthropic, AL_API_MESSAGES,
                      "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"document\","
                      "\"source\":{\"type\":\"text\",\"data\":\"D\"},\"title\":\"T\",\"context\":"
                      "\"C\"}]}]}");
    CHECK_STR(s, "user:D;user:T;user:C;");
    free(s);
}

/* delta_event's result for tmpl (a JSON text), printed. */
static char *rebuilt(const al_provider *p, al_api api, const char *tmpl, int key, const char *text)
{
    cJSON *t = cJSON_Parse(tmpl);
    cJSON *d = p->delta_event(api, t, key, text);
    char *s = d ? cJSON_PrintUnformatted(d) : NULL;
    char *out = strdup(s ? s : "NULL");
    cJSON_free(s);
    cJSON_Delete(d);
    cJSON_Delete(t);
    return out;
}

TEST(openai_chat_streams_legacy_function_calls_and_custom_tool_input)
{
    const char *ev[] = {
        "{\"choices\":[{\"index\":0,\"delta\":{\"function_call\":{\"name\":\"f\",\"arguments\":"
        "\"{\\\"a\\\"\"}}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"type\":\"custom\","
        "\"custom\":{\"name\":\"sh\",\"input\":\"ls\"}}]}}]}",
        NULL};
    char *s = stream_log(&al_provider_openai, AL_API_CHAT, ev);
    CHECK_STR(s, "d59:{\"a\";d2:ls;");
    free(s);
    s = rebuilt(&al_provider_openai, AL_API_CHAT, ev[0], 59, "x");
    CHECK_STR(s, "{\"choices\":[{\"index\":0,\"delta\":{\"function_call\":{\"arguments\":\"x\"}},"
                 "\"finish_reason\":null}]}");
    free(s);
    s = rebuilt(&al_provider_openai, AL_API_CHAT, ev[1], 2, "y");
    CHECK_STR(s, "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"custom\":{"
                 "\"input\":\"y\"}}]},\"finish_reason\":null}]}");
    free(s);
    s = completions(&al_provider_openai, AL_API_CHAT,
                    "{\"choices\":[{\"message\":{\"tool_calls\":[{\"type\":\"custom\",\"custom\":{"
                    "\"name\":\"sh\",\"input\":\"C\"}}]}}]}");
    CHECK_STR(s, "C;");
    free(s);
}

TEST(responses_mcp_call_arguments_are_completion_texts)
{
    const char *ev[] = {
        "{\"type\":\"response.mcp_call_arguments.delta\",\"output_index\":0,\"delta\":\"{}\"}",
        "{\"type\":\"response.mcp_call_arguments.done\",\"output_index\":0,\"arguments\":\"{}\"}",
        NULL};
    char *s = stream_log(&al_provider_openai, AL_API_RESPONSES, ev);
    CHECK_STR(s, "d63:{};e63;w:{};");
    free(s);
    s = completions(&al_provider_openai, AL_API_RESPONSES,
                    "{\"output\":[{\"type\":\"mcp_call\",\"arguments\":\"A\",\"output\":\"O\"}]}");
    CHECK_STR(s, "A;O;");
    free(s);
}

TEST(llama_cpp_server_native_completion_and_infill_are_completions_calls)
{
    al_api api;
    CHECK(match("POST", "/completion", &api) == &al_provider_openai && api == AL_API_COMPLETIONS);
    CHECK(match("POST", "/infill", &api) == &al_provider_openai && api == AL_API_COMPLETIONS);
    char *s = prompts(&al_provider_openai, AL_API_COMPLETIONS,
                      "{\"input_prefix\":\"P\",\"input_suffix\":\"S\",\"input_extra\":[{"
                      "\"filename\":\"f\",\"text\":\"E\"}],\"prompt\":\"Q\"}");
    CHECK_STR(s, "user:Q;user:P;user:S;user:E;");
    free(s);
    s = completions(&al_provider_openai, AL_API_COMPLETIONS, "{\"content\":\"C\",\"stop\":true}");
    CHECK_STR(s, "C;");
    free(s);
    const char *ev[] = {"{\"content\":\"a\",\"stop\":false}", "{\"content\":\"\",\"stop\":true}",
                        NULL};
    s = stream_log(&al_provider_openai, AL_API_COMPLETIONS, ev);
    CHECK_STR(s, "d0:a;d0:;e0;");
    free(s);
    s = rebuilt(&al_provider_openai, AL_API_COMPLETIONS,
                "{\"content\":\"a\",\"stop\":false,\"id_slot\":0}", 0, "held");
    CHECK_STR(s, "{\"content\":\"held\",\"stop\":false,\"id_slot\":0}");
    free(s);
    al_usage u = {-1, -1, -1};
    cJSON *r = cJSON_Parse("{\"content\":\"\",\"tokens_evaluated\":5,\"tokens_predicted\":7}");
    al_provider_openai.usage(AL_API_COMPLETIONS, r, &u);
    CHECK(u.input == 5 && u.output == 7);
    cJSON_Delete(r);
}

TEST(anthropic_citations_and_a_tool_input_given_at_block_start_are_completion_texts)
{
    char *s = completions(&al_provider_anthropic, AL_API_MESSAGES,
                          "{\"content\":[{\"type\":\"text\",\"text\":\"A\",\"citations\":[{"
                          "\"type\":\"char_location\",\"cited_text\":\"Q\"}]}]}");
    CHECK_STR(s, "A;Q;");
    free(s);
    const char *ev[] = {
        "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\","
        "\"id\":\"t\",\"name\":\"n\",\"input\":{\"to\":\"E\"}}}",
        "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\","
        "\"text\":\"\"}}",
        "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"citations_delta\","
        "\"citation\":{\"type\":\"char_location\",\"cited_text\":\"Q\"}}}",
        "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"T\"}}",
        NULL};
    s = stream_log(&al_provider_anthropic, AL_API_MESSAGES, ev);
    CHECK_STR(s, "w:E;w:;w:Q;d1:T;");
    free(s);
}

TEST(mistral_content_chunks_and_openrouter_reasoning_details_are_completion_texts)
{
    const char *ev[] = {
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":[{\"type\":\"thinking\",\"thinking\":[{"
        "\"type\":\"text\",\"text\":\"th\"}]}]}}]}",
        "{\"choices\":[{\"index\":0,\"delta\":{\"content\":[{\"type\":\"text\",\"text\":\"an\"}]}}]"
        "}",
        "{\"choices\":[{\"index\":1,\"delta\":{\"content\":\"\",\"reasoning\":\"r\","
        "\"reasoning_details\":[{\"type\":\"reasoning.text\",\"text\":\"r\",\"index\":0}]}}]}",
        NULL};
    char *s = stream_log(&al_provider_openai, AL_API_CHAT, ev);
    /* 65536 + choice * 4 + 1: Mistral's thinking; + 0: reasoning_details */
    CHECK_STR(s, "d65537:th;d0:an;d125:r;d65540:r;");
    free(s);
    s = rebuilt(&al_provider_openai, AL_API_CHAT, ev[0], 65537, "x");
    CHECK_STR(s, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":[{\"type\":\"thinking\","
                 "\"thinking\":[{\"type\":\"text\",\"text\":\"x\"}]}]},\"finish_reason\":null}]}");
    free(s);
    s = rebuilt(&al_provider_openai, AL_API_CHAT, ev[1], 0, "y");
    CHECK_STR(s, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":[{\"type\":\"text\",\"text\":"
                 "\"y\"}]},\"finish_reason\":null}]}");
    free(s);
    s = rebuilt(&al_provider_openai, AL_API_CHAT, ev[2], 65540, "z");
    CHECK_STR(s, "{\"choices\":[{\"index\":1,\"delta\":{\"reasoning_details\":[{\"type\":"
                 "\"reasoning.text\",\"index\":0,\"text\":\"z\"}]},\"finish_reason\":null}]}");
    free(s);
    s = completions(
        &al_provider_openai, AL_API_CHAT,
        "{\"choices\":[{\"message\":{\"content\":[{\"type\":\"thinking\",\"thinking\":[{"
        "\"type\":\"text\",\"text\":\"T\"}]},{\"type\":\"text\",\"text\":\"A\"}],"
        "\"reasoning_details\":[{\"type\":\"reasoning.summary\",\"summary\":\"S\"}]}}]}");
    CHECK_STR(s, "T;A;S;");
    free(s);
}

TEST(prompts_stored_for_later_calls_are_screened_batches_conversations_caches_predictions)
{
    al_api api;
    CHECK(match("POST", "/v1/messages/batches", &api) == &al_provider_anthropic &&
          api == AL_API_MESSAGES);
    CHECK(match("POST", "/v1/conversations", &api) == &al_provider_openai &&
          api == AL_API_RESPONSES);
    CHECK(match("POST", "/v1/conversations/conv_1/items", &api) == &al_provider_openai &&
          api == AL_API_RESPONSES);
    CHECK(match("POST", "/v1beta/cachedContents", &api) == &al_provider_gemini &&
          api == AL_API_GEMINI);
    CHECK(match("POST", "/v1/items", &api) == NULL);
    char *s =
        prompts(&al_provider_anthropic, AL_API_MESSAGES,
                "{\"requests\":[{\"custom_id\":\"a\",\"params\":{\"system\":\"S\","
                "\"messages\":[{\"role\":\"user\",\"content\":\"U1\"}]}},{\"custom_id\":"
                "\"b\",\"params\":{\"messages\":[{\"role\":\"user\",\"content\":\"U2\"}]}}]}");
    CHECK_STR(s, "system:S;user:U1;user:U2;");
    free(s);
    s = prompts(&al_provider_openai, AL_API_RESPONSES,
                "{\"items\":[{\"type\":\"message\",\"role\":\"user\",\"content\":\"U\"},{\"type\":"
                "\"function_call_output\",\"call_id\":\"c\",\"output\":\"O\"}]}");
    CHECK_STR(s, "user:U;tool:O;");
    free(s);
    s = prompts(&al_provider_openai, AL_API_CHAT,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"U\"}],\"prediction\":{\"type\":"
                "\"content\",\"content\":[{\"type\":\"text\",\"text\":\"P\"}]}}");
    CHECK_STR(s, "user:U;user:P;");
    free(s);
}

TEST(bedrock_converse_and_anthropic_invoke_are_llm_calls)
{
    al_api api;
    CHECK(match("POST", "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse", &api) ==
              &al_provider_bedrock &&
          api == AL_API_CONVERSE);
    CHECK(match("POST", "/model/anthropic.claude-v2/invoke", &api) == &al_provider_anthropic &&
          api == AL_API_MESSAGES);
    /* the streamed variants are AWS binary event streams: not taken */
    CHECK(match("POST", "/model/m/converse-stream", &api) == NULL);
    CHECK(match("POST", "/model/m/invoke-with-response-stream", &api) == NULL);
    char *s =
        prompts(&al_provider_bedrock, AL_API_CONVERSE,
                "{\"system\":[{\"text\":\"S\"}],\"messages\":[{\"role\":\"user\","
                "\"content\":[{\"text\":\"U\"},{\"image\":{\"format\":\"png\"}}]},{\"role\":"
                "\"assistant\",\"content\":[{\"toolUse\":{\"toolUseId\":\"t\",\"input\":{"
                "\"q\":\"Q\"}}}]},{\"role\":\"user\",\"content\":[{\"toolResult\":{"
                "\"toolUseId\":\"t\",\"content\":[{\"text\":\"R\"},{\"json\":{\"j\":\"J\"}}]}}]}"
                "]}");
    CHECK_STR(s, "system:S;user:U;assistant:Q;tool:R;tool:J;");
    free(s);
    s = completions(&al_provider_bedrock, AL_API_CONVERSE,
                    "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{"
                    "\"reasoningContent\":{\"reasoningText\":{\"text\":\"T\"}}},{\"text\":\"A\"},{"
                    "\"toolUse\":{\"input\":{\"k\":\"V\"}}}]}},\"usage\":{\"inputTokens\":1}}");
    CHECK_STR(s, "T;A;V;");
    free(s);
    char m[64];
    const char *p = "/model/anthropic.claude-v2:1/converse";
    al_provider_model(NULL, p, strlen(p), m, sizeof m);
    CHECK_STR(m, "anthropic.claude-v2:1");
    al_buf b = {0};
    CHECK_EQ_INT(al_provider_bedrock.error(&b, 400, 1, "no"), AL_OK);
    CHECK_STR(b.data, "{\"message\":\"no\"}");
    al_buf_free(&b);
}

TEST(mistral_agents_are_chat_calls_and_fim_streams_chat_chunks)
{
    al_api api;
    CHECK(match("POST", "/v1/agents/completions", &api) == &al_provider_openai &&
          api == AL_API_CHAT);
    CHECK(match("POST", "/v1/fim/completions", &api) == &al_provider_openai &&
          api == AL_API_COMPLETIONS);
    const char *ev[] = {"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ab\"}}]}",
                        "{\"choices\":[{\"index\":0,\"text\":\"cd\"}]}", NULL};
    char *s = stream_log(&al_provider_openai, AL_API_COMPLETIONS, ev);
    CHECK_STR(s, "d0:ab;d0:cd;");
    free(s);
    s = rebuilt(&al_provider_openai, AL_API_COMPLETIONS, ev[0], 0, "x");
    CHECK_STR(s,
              "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}");
    free(s);
    s = rebuilt(&al_provider_openai, AL_API_COMPLETIONS, ev[1], 0, "y");
    CHECK_STR(s, "{\"choices\":[{\"index\":0,\"text\":\"y\",\"finish_reason\":null}]}");
    free(s);
}

TEST(responses_replayed_tool_items_are_read_file_search_code_interpreter_mcp_tools)
{
    const char *req =
        "{\"input\":[{\"type\":\"file_search_call\",\"id\":\"fs\",\"queries\":[\"q\"],"
        "\"results\":[{\"file_id\":\"f\",\"text\":\"F\"}]},{\"type\":\"code_interpreter_call\","
        "\"code\":\"C\",\"outputs\":[{\"type\":\"logs\",\"logs\":\"L\"}]},{\"type\":"
        "\"mcp_list_tools\",\"server_label\":\"s\",\"tools\":[{\"name\":\"n\",\"description\":"
        "\"D\"}]}]}";
    char *s = prompts(&al_provider_openai, AL_API_RESPONSES, req);
    CHECK_STR(s, "tool:F;assistant:C;tool:L;tool_definition:D;");
    free(s);
    s = completions(&al_provider_openai, AL_API_RESPONSES,
                    "{\"output\":[{\"type\":\"file_search_call\",\"results\":[{\"text\":\"F\"}]},{"
                    "\"type\":\"code_interpreter_call\",\"code\":\"C\",\"outputs\":[{\"type\":"
                    "\"logs\",\"logs\":\"L\"}]}]}");
    CHECK_STR(s, "F;C;L;");
    free(s);
}

TEST(anthropic_server_and_mcp_tool_results_are_tool_output)
{
    char *s = prompts(
        &al_provider_anthropic, AL_API_MESSAGES,
        "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"server_tool_use\",\"id\":"
        "\"s\",\"name\":\"web_fetch\",\"input\":{\"url\":\"U\"}},{\"type\":"
        "\"web_fetch_tool_result\",\"tool_use_id\":\"s\",\"content\":{\"type\":"
        "\"web_fetch_result\",\"url\":\"u\",\"content\":{\"type\":\"document\",\"source\":{"
        "\"type\":\"text\",\"media_type\":\"text/plain\",\"data\":\"W\"}}}},{\"type\":"
        "\"bash_code_execution_tool_result\",\"tool_use_id\":\"b\",\"content\":{\"type\":"
        "\"bash_code_execution_result\",\"stdout\":\"O\",\"stderr\":\"E\",\"return_code\":0}},{"
        "\"type\":\"mcp_tool_result\",\"tool_use_id\":\"m\",\"content\":[{\"type\":\"text\","
        "\"text\":\"M\"}]}]}]}");
    CHECK_STR(s, "assistant:U;tool:W;tool:O;tool:E;tool:M;");
    free(s);
}

TEST(cohere_v2_chat_prompts_replies_and_stream_events)
{
    al_api api;
    CHECK(match("POST", "/v2/chat", &api) == &al_provider_cohere && api == AL_API_COHERE_CHAT);
    char *s =
        prompts(&al_provider_cohere, AL_API_COHERE_CHAT,
                "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\","
                "\"content\":[{\"type\":\"text\",\"text\":\"U\"}]},{\"role\":\"assistant\","
                "\"tool_plan\":\"P\",\"tool_calls\":[{\"function\":{\"arguments\":\"{}\"}}]},"
                "{\"role\":\"tool\",\"content\":[{\"type\":\"document\",\"document\":{"
                "\"data\":{\"r\":\"R\"}}}]}],\"documents\":[\"D1\",{\"data\":{\"t\":\"D2\"}}]}");
    CHECK_STR(s, "system:S;user:U;assistant:P;assistant:{};tool:R;tool:D1;tool:D2;");
    free(s);
    s = completions(&al_provider_cohere, AL_API_COHERE_CHAT,
                    "{\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"A\"}],\"tool_plan\":"
                    "\"P\",\"tool_calls\":[{\"function\":{\"arguments\":\"{}\"}}]}}");
    CHECK_STR(s, "A;P;{};");
    free(s);
    const char *ev[] = {
        "{\"type\":\"tool-plan-delta\",\"delta\":{\"message\":{\"tool_plan\":\"p\"}}}",
        "{\"type\":\"tool-call-start\",\"index\":1}",
        "{\"type\":\"tool-call-delta\",\"index\":1,\"delta\":{\"message\":{\"tool_calls\":{"
        "\"function\":{\"arguments\":\"{\"}}}}}",
        "{\"type\":\"tool-call-end\",\"index\":1}",
        "{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":"
        "\"a\"}}}}",
        "{\"type\":\"content-end\",\"index\":0}",
        "{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}",
        NULL};
    s = stream_log(&al_provider_cohere, AL_API_COHERE_CHAT, ev);
    /* the plan ends where the first tool call starts */
    CHECK_STR(s, "d2:p;e2;d400001:{;e400001;d0:a;e0;E;");
    free(s);
    s = rebuilt(&al_provider_cohere, AL_API_COHERE_CHAT, ev[1], 400001, "x");
    CHECK_STR(s, "{\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"x\"}}}},"
                 "\"type\":\"tool-call-delta\",\"index\":1}");
    free(s);
}

TEST(gemini_interactions_api_inputs_outputs_and_step_events)
{
    al_api api;
    CHECK(match("POST", "/v1beta/interactions", &api) == &al_provider_gemini &&
          api == AL_API_INTERACTIONS);
    char *s = prompts(&al_provider_gemini, AL_API_INTERACTIONS,
                      "{\"model\":\"g\",\"system_instruction\":\"S\",\"input\":[{\"role\":\"user\","
                      "\"content\":[{\"type\":\"text\",\"text\":\"U\"}]},{\"type\":"
                      "\"function_result\",\"call_id\":\"c\",\"result\":{\"r\":\"R\"}}]}");
    CHECK_STR(s, "system:S;user:U;tool:R;");
    free(s);
    s = prompts(&al_provider_gemini, AL_API_INTERACTIONS, "{\"model\":\"g\",\"input\":\"hi\"}");
    CHECK_STR(s, "user:hi;");
    free(s);
    s = completions(&al_provider_gemini, AL_API_INTERACTIONS,
                    "{\"outputs\":[{\"type\":\"text\",\"text\":\"A\"},{\"type\":\"function_call\","
                    "\"arguments\":{\"to\":\"E\"}}]}");
    CHECK_STR(s, "A;E;");
    free(s);
    const char *ev[] = {
        "{\"index\":0,\"delta\":{\"signature\":\"x\",\"type\":\"thought_signature\"},"
        "\"event_type\":\"step.delta\"}",
        "{\"index\":1,\"delta\":{\"text\":\"hi\",\"type\":\"text\"},\"event_type\":\"step.delta\"}",
        "{\"index\":1,\"event_type\":\"step.stop\"}",
        "{\"interaction\":{\"steps\":[{\"type\":\"model_output\",\"content\":[{\"type\":\"text\","
        "\"text\":\"hi\"}]}]},\"event_type\":\"interaction.completed\"}",
        NULL};
    s = stream_log(&al_provider_gemini, AL_API_INTERACTIONS, ev);
    CHECK_STR(s, "d2:hi;e2;E;w:hi;");
    free(s);
    s = rebuilt(&al_provider_gemini, AL_API_INTERACTIONS, ev[1], 2, "x");
    CHECK_STR(s, "{\"index\":1,\"delta\":{\"text\":\"x\",\"type\":\"text\"},\"event_type\":"
                 "\"step.delta\"}");
    free(s);
}

TEST(get_reads_of_stored_replies_are_recognised_on_any_prefix_and_no_other_get)
{
    al_api api;
    struct {
        const char *path;
        const al_provider *p;
        al_api api;
    } yes[] = {
        {"/v1/responses/resp_123", &al_provider_openai, AL_API_RESPONSES},
        {"/v1/responses/resp_123?stream=true&starting_after=4", &al_provider_openai,
         AL_API_RESPONSES},
        {"/openai/v1/responses/resp_123/", &al_provider_openai, AL_API_RESPONSES},
        {"/v1/responses/resp_123/input_items?limit=20", &al_provider_openai, AL_API_ITEMS},
        {"/v1/chat/completions", &al_provider_openai, AL_API_CHAT},
        {"/v1/chat/completions?metadata[k]=v", &al_provider_openai, AL_API_CHAT},
        {"/v1/chat/completions/chatcmpl-1", &al_provider_openai, AL_API_CHAT},
        {"/gw/v1/chat/completions/chatcmpl-1/messages", &al_provider_openai, AL_API_CHAT_MESSAGES},
        {"/v1/conversations/conv_1/items", &al_provider_openai, AL_API_ITEMS},
        {"/v1/conversations/conv_1/items/msg_2", &al_provider_openai, AL_API_ITEMS},
        {"/v1/messages/batches/msgbatch_1/results", &al_provider_anthropic, AL_API_BATCH_RESULTS},
        {"/v1beta/interactions/int_1?stream=true", &al_provider_gemini, AL_API_INTERACTIONS},
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        api = 0;
        const al_provider *p = match("GET", yes[i].path, &api);
        if (p != yes[i].p || api != yes[i].api) {
            fprintf(stderr, "  GET %s not recognised as expected\n", yes[i].path);
            *al_failed_ = 1;
        }
    }
    const char *no[] = {
        "/v1/models",
        "/v1/responses",                   /* no such list */
        "/responses/",                     /* no id */
        "/v1/responses/resp_1/cancel",     /* not a read of the reply */
        "/v1/messages/batches/msgbatch_1", /* a batch's status: no text */
        "/v1/messages/batches",
        "/v1/conversations/conv_1", /* the conversation's metadata */
        "/v1/chat/completions/chatcmpl-1/other",
        "/v1/files/file-1/content",
        "/v1beta/interactions",
        "/download",
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (match("GET", no[i], &api) != NULL) {
            fprintf(stderr, "  GET %s recognised\n", no[i]);
            *al_failed_ = 1;
        }
    /* the POST paths stay as they were */
    CHECK(match("POST", "/v1/responses/resp_1", &api) == NULL);
    CHECK(match("POST", "/v1/conversations/conv_1/items", &api) == &al_provider_openai &&
          api == AL_API_RESPONSES);
    CHECK(match("DELETE", "/v1/responses/resp_1", &api) == NULL);
    CHECK(match("get", "/v1/responses/resp_1", &api) == NULL);
}

TEST(texts_of_stored_lists_items_and_batch_results_are_completion_texts)
{
    char *s =
        completions(&al_provider_openai, AL_API_CHAT,
                    "{\"object\":\"list\",\"data\":[{\"choices\":[{\"message\":{"
                    "\"content\":\"A\"}}]},{\"choices\":[{\"message\":{\"content\":\"B\"}}]}]}");
    CHECK_STR(s, "A;B;");
    free(s);
    s = completions(&al_provider_openai, AL_API_CHAT_MESSAGES,
                    "{\"object\":\"list\",\"data\":[{\"role\":\"user\",\"content\":\"U\"},"
                    "{\"role\":\"assistant\",\"content\":null,\"content_parts\":[{\"type\":"
                    "\"text\",\"text\":\"P\"}],\"tool_calls\":[{\"function\":{\"arguments\":"
                    "\"{}\"}}]}]}");
    CHECK_STR(s, "U;P;{};");
    free(s);
    s = completions(&al_provider_openai, AL_API_ITEMS,
                    "{\"object\":\"list\",\"data\":[{\"type\":\"message\",\"role\":\"user\","
                    "\"content\":[{\"type\":\"input_text\",\"text\":\"I\"}]},{\"type\":"
                    "\"function_call_output\",\"output\":\"F\"},{\"type\":\"reasoning\","
                    "\"summary\":[{\"type\":\"summary_text\",\"text\":\"S\"}]}]}");
    CHECK_STR(s, "I;F;S;");
    free(s);
    /* one item read alone */
    s = completions(&al_provider_openai, AL_API_ITEMS,
                    "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
                    "\"output_text\",\"text\":\"O\"}]}");
    CHECK_STR(s, "O;");
    free(s);
    /* a list nested in a list element is not followed */
    s = completions(&al_provider_openai, AL_API_CHAT,
                    "{\"data\":[{\"data\":[{\"choices\":[{\"message\":{\"content\":\"X\"}}]}]}]}");
    CHECK_STR(s, "");
    free(s);
    s = completions(&al_provider_anthropic, AL_API_BATCH_RESULTS,
                    "{\"custom_id\":\"a\",\"result\":{\"type\":\"succeeded\",\"message\":{"
                    "\"content\":[{\"type\":\"text\",\"text\":\"M\"}]}}}");
    CHECK_STR(s, "M;");
    free(s);
    s = completions(&al_provider_anthropic, AL_API_BATCH_RESULTS,
                    "{\"custom_id\":\"b\",\"result\":{\"type\":\"errored\",\"error\":{}}}");
    CHECK_STR(s, "");
    free(s);
}

TEST(anthropic_thinking_texts_carry_their_signature_and_redacted_thinking_is_no_text)
{
    cJSON *root = cJSON_Parse(
        "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":"
        "\"T\",\"signature\":\"SIG\"},{\"type\":\"redacted_thinking\",\"data\":\"OPAQUE\"},"
        "{\"type\":\"thinking\",\"thinking\":\"U\",\"signature\":\"\"},{\"type\":\"text\","
        "\"text\":\"X\"}]}]}");
    REQUIRE(root);
    al_texts t = {0};
    CHECK_EQ_INT(al_provider_anthropic.prompts(AL_API_MESSAGES, root, &t), AL_OK);
    REQUIRE(t.n == 3);
    CHECK_STR(t.v[0].node->valuestring, "T");
    CHECK_STR(t.v[0].sig, "SIG");
    CHECK_STR(t.v[1].node->valuestring, "U");
    CHECK(t.v[1].sig == NULL); /* an empty signature is none */
    CHECK(t.v[2].sig == NULL);
    al_texts_free(&t);
    cJSON_Delete(root);
}

typedef struct {
    al_stream_io io;
    char log[512];
} sign_io;

static al_code sg_delta(al_stream_io *io, int key, cJSON *node, const cJSON *ev)
{
    sign_io *s = (sign_io *)io;
    snprintf(s->log + strlen(s->log), sizeof s->log - strlen(s->log), "d%d:%s;", key,
             node->valuestring);
    return AL_OK;
}
static al_code sg_end(al_stream_io *io, int key, cJSON *node)
{
    return AL_OK;
}
static al_code sg_end_all(al_stream_io *io)
{
    return AL_OK;
}
static al_code sg_whole(al_stream_io *io, cJSON *node)
{
    sign_io *s = (sign_io *)io;
    snprintf(s->log + strlen(s->log), sizeof s->log - strlen(s->log), "w:%s;", node->valuestring);
    return AL_OK;
}
static al_code sg_sign(al_stream_io *io, int key, const char *sig)
{
    sign_io *s = (sign_io *)io;
    snprintf(s->log + strlen(s->log), sizeof s->log - strlen(s->log), "s%d:%s;", key,
             sig ? sig : "keep");
    return AL_OK;
}

TEST(anthropic_stream_reports_thinking_keys_and_their_signature_and_batch_lines_whole)
{
    sign_io s = {{sg_delta, sg_end, sg_end_all, sg_whole, sg_sign}, ""};
    const char *evs[] = {
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\","
        "\"thinking\":\"hm\"}}",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\","
        "\"signature\":\"SG\"}}",
        "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"ok\"}}",
    };
    for (size_t i = 0; i < 3; i++) {
        cJSON *ev = cJSON_Parse(evs[i]);
        REQUIRE(ev);
        CHECK_EQ_INT(al_provider_anthropic.stream_event(AL_API_MESSAGES, NULL, ev, &s.io), AL_OK);
        cJSON_Delete(ev);
    }
    CHECK_STR(s.log, "d0:hm;s0:keep;s0:SG;d1:ok;");
    /* without the callback nothing is reported and nothing fails */
    s.io.sign = NULL;
    s.log[0] = '\0';
    cJSON *ev = cJSON_Parse(evs[1]);
    CHECK_EQ_INT(al_provider_anthropic.stream_event(AL_API_MESSAGES, NULL, ev, &s.io), AL_OK);
    cJSON_Delete(ev);
    CHECK_STR(s.log, "");
    ev = cJSON_Parse("{\"custom_id\":\"a\",\"result\":{\"type\":\"succeeded\",\"message\":{"
                     "\"content\":[{\"type\":\"text\",\"text\":\"L\"}]}}}");
    CHECK_EQ_INT(al_provider_anthropic.stream_event(AL_API_BATCH_RESULTS, NULL, ev, &s.io), AL_OK);
    cJSON_Delete(ev);
    CHECK_STR(s.log, "w:L;");
}

TEST(embedding_and_moderation_calls_are_recognised_and_their_inputs_are_documents)
{
    al_api api;
    CHECK(match("POST", "/v1/embeddings", &api) == &al_provider_openai && api == AL_API_EMBED);
    CHECK(match("POST", "/v1/moderations", &api) == &al_provider_openai && api == AL_API_EMBED);
    CHECK(match("POST", "/openai/deployments/e/embeddings?api-version=1", &api) ==
              &al_provider_openai &&
          api == AL_API_EMBED);
    CHECK(match("POST", "/api/embed", &api) == &al_provider_ollama && api == AL_API_OLLAMA_EMBED);
    CHECK(match("POST", "/api/embeddings", &api) == &al_provider_ollama &&
          api == AL_API_OLLAMA_EMBED);
    CHECK(match("POST", "/v1beta/models/e:embedContent", &api) == &al_provider_gemini &&
          api == AL_API_GEMINI_EMBED);
    CHECK(match("POST", "/v1beta/models/e:batchEmbedContents", &api) == &al_provider_gemini &&
          api == AL_API_GEMINI_EMBED);
    CHECK(match("GET", "/v1/embeddings", &api) == NULL);
    CHECK(al_api_embeds(AL_API_EMBED) && !al_api_embeds(AL_API_CHAT));
    char *s = prompts(&al_provider_openai, AL_API_EMBED,
                      "{\"input\":[\"A\",\"B\",{\"type\":\"text\",\"text\":\"C\"}]}");
    CHECK_STR(s, "document:A;document:B;document:C;");
    free(s);
    s = prompts(&al_provider_openai, AL_API_EMBED, "{\"input\":[[1,2],[3]]}"); /* token ids */
    CHECK_STR(s, "");
    free(s);
    s = prompts(&al_provider_ollama, AL_API_OLLAMA_EMBED, "{\"model\":\"m\",\"prompt\":\"P\"}");
    CHECK_STR(s, "document:P;");
    free(s);
    s = prompts(&al_provider_gemini, AL_API_GEMINI_EMBED,
                "{\"requests\":[{\"content\":{\"parts\":[{\"text\":\"X\"}]}},"
                "{\"content\":{\"parts\":[{\"text\":\"Y\"}]},\"title\":\"T\"}]}");
    CHECK_STR(s, "document:X;document:Y;document:T;");
    free(s);
    CHECK(!al_provider_ollama.wants_stream(AL_API_OLLAMA_EMBED, NULL));
}

TEST(anthropic_citation_and_search_result_titles_are_texts_and_urls_never_are)
{
    /* a web search, its result, and citations of three kinds: every title
     * and quote is a completion text; urls, encrypted content and indexes
     * are not */
    char *s = completions(
        &al_provider_anthropic, AL_API_MESSAGES,
        "{\"content\":[{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\","
        "\"input\":{\"query\":\"Q\"}},{\"type\":\"web_search_tool_result\",\"tool_use_id\":"
        "\"srvtoolu_1\",\"content\":[{\"type\":\"web_search_result\",\"url\":\"https://u\","
        "\"title\":\"T1\",\"encrypted_content\":\"EC\",\"page_age\":null}]},{\"type\":\"text\","
        "\"text\":\"A\",\"citations\":[{\"type\":\"web_search_result_location\",\"url\":"
        "\"https://u\",\"title\":\"T2\",\"encrypted_index\":\"EI\",\"cited_text\":\"C2\"},{"
        "\"type\":\"page_location\",\"cited_text\":\"C3\",\"document_index\":0,"
        "\"document_title\":\"D3\",\"start_page_number\":1,\"end_page_number\":2},{\"type\":"
        "\"search_result_location\",\"source\":\"https://s\",\"title\":\"T4\",\"cited_text\":"
        "\"C4\",\"search_result_index\":0,\"start_block_index\":0,\"end_block_index\":1}]}]}");
    CHECK_STR(s, "Q;T1;A;C2;T2;C3;D3;C4;T4;");
    free(s);
    const char *ev[] = {
        "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":"
        "\"web_search_tool_result\",\"tool_use_id\":\"s\",\"content\":[{\"type\":"
        "\"web_search_result\",\"url\":\"https://u\",\"title\":\"T1\",\"encrypted_content\":"
        "\"EC\"}]}}",
        "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"citations_delta\","
        "\"citation\":{\"type\":\"web_search_result_location\",\"url\":\"https://u\",\"title\":"
        "\"T2\",\"encrypted_index\":\"EI\",\"cited_text\":\"C2\"}}}",
        "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"citations_delta\","
        "\"citation\":{\"type\":\"content_block_location\",\"cited_text\":\"C5\","
        "\"document_index\":0,\"document_title\":\"D5\",\"start_block_index\":0,"
        "\"end_block_index\":1}}}",
        NULL};
    s = stream_log(&al_provider_anthropic, AL_API_MESSAGES, ev);
    CHECK_STR(s, "w:T1;w:C2;w:T2;w:C5;w:D5;");
    free(s);
    /* sent back: a citation as its turn's text (an assistant's: secrets and
     * PII only), a search result's title as data (never blocked), a
     * search_result block's title as what a tool found */
    s = prompts(&al_provider_anthropic, AL_API_MESSAGES,
                "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"search_result\","
                "\"source\":\"https://s\",\"title\":\"ST\",\"content\":[{\"type\":\"text\","
                "\"text\":\"SR\"}],\"citations\":{\"enabled\":true}}]},{\"role\":\"assistant\","
                "\"content\":[{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"s\","
                "\"content\":[{\"type\":\"web_search_result\",\"url\":\"https://u\",\"title\":"
                "\"T1\",\"encrypted_content\":\"EC\"}]},{\"type\":\"text\",\"text\":\"A\","
                "\"citations\":[{\"type\":\"web_search_result_location\",\"url\":\"https://u\","
                "\"title\":\"T2\",\"encrypted_index\":\"EI\",\"cited_text\":\"C2\"}]}]}]}");
    CHECK_STR(s, "tool:SR;tool:ST;document:T1;assistant:A;assistant:C2;assistant:T2;");
    free(s);
}

TEST(openai_url_citation_titles_are_texts_whole_streamed_and_sent_back)
{
    const char *ann = "\"annotations\":[{\"type\":\"url_citation\",\"url_citation\":{"
                      "\"start_index\":0,\"end_index\":1,\"title\":\"T\",\"url\":\"https://u\"}}]";
    char json[512];
    snprintf(json, sizeof json, "{\"choices\":[{\"message\":{\"content\":\"A\",%s}}]}", ann);
    char *s = completions(&al_provider_openai, AL_API_CHAT, json);
    CHECK_STR(s, "A;T;");
    free(s);
    snprintf(json, sizeof json,
             "{\"messages\":[{\"role\":\"user\",\"content\":\"U\"},{\"role\":\"assistant\","
             "\"content\":\"A\",%s}]}",
             ann);
    s = prompts(&al_provider_openai, AL_API_CHAT, json);
    CHECK_STR(s, "user:U;assistant:A;assistant:T;");
    free(s);
    char ev0[256], ev1[256];
    snprintf(ev0, sizeof ev0, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}");
    snprintf(ev1, sizeof ev1, "{\"choices\":[{\"index\":0,\"delta\":{%s}}]}", ann);
    const char *ev[] = {ev0, ev1, NULL};
    s = stream_log(&al_provider_openai, AL_API_CHAT, ev);
    CHECK_STR(s, "d0:x;w:T;");
    free(s);
    /* Responses: an output_text part's annotations (a file citation has no
     * title: its filename is the program's own upload's) */
    const char *part = "{\"type\":\"output_text\",\"text\":\"R\",\"annotations\":[{\"type\":"
                       "\"url_citation\",\"start_index\":0,\"end_index\":1,\"url\":"
                       "\"https://u\",\"title\":\"T\"},{\"type\":\"file_citation\",\"file_id\":"
                       "\"f\",\"filename\":\"a.pdf\",\"index\":0}]}";
    char big[1024];
    snprintf(big, sizeof big,
             "{\"output\":[{\"type\":\"message\",\"role\":\"assistant\",\"content\":[%s]}]}", part);
    s = completions(&al_provider_openai, AL_API_RESPONSES, big);
    CHECK_STR(s, "R;T;");
    free(s);
    snprintf(big, sizeof big,
             "{\"model\":\"m\",\"input\":[{\"type\":\"message\",\"role\":\"assistant\","
             "\"content\":[%s]},{\"role\":\"user\",\"content\":\"U\"}]}",
             part);
    s = prompts(&al_provider_openai, AL_API_RESPONSES, big);
    CHECK_STR(s, "assistant:R;assistant:T;user:U;");
    free(s);
    char e0[512], e1[1024], e2[1024];
    snprintf(e0, sizeof e0,
             "{\"type\":\"response.output_text.annotation.added\",\"item_id\":\"m\","
             "\"output_index\":0,\"content_index\":0,\"annotation_index\":0,\"annotation\":{"
             "\"type\":\"url_citation\",\"url\":\"https://u\",\"title\":\"T\",\"start_index\":0,"
             "\"end_index\":1}}");
    snprintf(e1, sizeof e1,
             "{\"type\":\"response.content_part.done\",\"output_index\":0,\"content_index\":0,"
             "\"part\":%s}",
             part);
    snprintf(e2, sizeof e2,
             "{\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"type\":"
             "\"message\",\"role\":\"assistant\",\"content\":[%s]}}",
             part);
    const char *rev[] = {e0, e1, e2, NULL};
    s = stream_log(&al_provider_openai, AL_API_RESPONSES, rev);
    CHECK_STR(s, "w:T;w:R;w:T;w:R;w:T;");
    free(s);
}

TEST(gemini_grounding_and_citation_texts_are_completion_texts_whole_and_streamed)
{
    const char *meta =
        "\"groundingMetadata\":{\"webSearchQueries\":[\"q\"],\"groundingChunks\":[{\"web\":{"
        "\"uri\":\"https://u\",\"title\":\"W\"}},{\"retrievedContext\":{\"uri\":\"gs://b/f\","
        "\"title\":\"R\",\"text\":\"RT\"}}],\"groundingSupports\":[{\"segment\":{\"startIndex\":0,"
        "\"endIndex\":1,\"text\":\"S\"},\"groundingChunkIndices\":[0],\"confidenceScores\":[0.9]}]}"
        ",\"citationMetadata\":{\"citations\":[{\"startIndex\":0,\"endIndex\":1,\"uri\":"
        "\"https://c\",\"title\":\"C\"}]}";
    char json[1024];
    snprintf(json, sizeof json,
             "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"A\"}],\"role\":\"model\"},"
             "%s}]}",
             meta);
    char *s = completions(&al_provider_gemini, AL_API_GEMINI, json);
    CHECK_STR(s, "A;W;R;RT;S;C;");
    free(s);
    snprintf(json, sizeof json,
             "{\"candidates\":[{\"index\":0,\"content\":{\"parts\":[{\"text\":\"A\"}]},"
             "\"finishReason\":\"STOP\",%s}]}",
             meta);
    const char *ev[] = {json, NULL};
    s = stream_log(&al_provider_gemini, AL_API_GEMINI_STREAM, ev);
    CHECK_STR(s, "d0:A;w:W;w:R;w:RT;w:S;w:C;e0;");
    free(s);
}

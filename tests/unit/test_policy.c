/* test_policy.c: the policy file: every key becomes its AIRLOCK_* setting,
 * and anything unknown or mistyped is an error that names the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../shim/policy.h"
#include "testing.h"

static al_code parse(const char *json, al_settings *s, char *err)
{
    return al_policy_parse(json, strlen(json), "/etc/airlock", s, err, 256);
}

TEST(every_key_becomes_its_environment_setting)
{
    al_settings s;
    char err[256];
    const char *j = "{\"mode\":\"monitor\",\"fail\":\"open\",\"audit\":\"/var/log/a.jsonl\","
                    "\"rules\":\"packs\",\"block_threshold\":1.5,\"model_threshold\":0.9,"
                    "\"max_body\":1048576,\"max_prompt\":65536,"
                    "\"prompt\":{\"pii\":\"redact\",\"unsafe_output\":\"flag\"},"
                    "\"completion\":{\"unsafe_output\":\"block\"},"
                    "\"llm_hosts\":[\"llm.internal\",\"*.corp.example\"],"
                    "\"egress\":[\"api.openai.com\",\"localhost\"],\"weights\":\"trusted.sha256\","
                    "\"weights_ext\":\"gguf\",\"rate\":\"60/min\",\"budget_tokens\":200000,"
                    "\"limits_file\":\"/tmp/l\",\"debug\":true}";
    REQUIRE(parse(j, &s, err) == AL_OK);
    CHECK_STR(al_settings_get(&s, "AIRLOCK_MODE"), "monitor");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_FAIL"), "open");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_AUDIT"), "/var/log/a.jsonl");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_RULES"), "/etc/airlock/packs");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_BLOCK_THRESHOLD"), "1.5");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_MODEL_THRESHOLD"), "0.9");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_MAX_BODY"), "1048576");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_PROMPT_PII"), "redact");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_PROMPT_UNSAFE_OUTPUT"), "flag");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_COMPLETION_UNSAFE_OUTPUT"), "block");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_LLM_HOSTS"), "llm.internal,*.corp.example");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_EGRESS"), "api.openai.com,localhost");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_WEIGHTS"), "/etc/airlock/trusted.sha256");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_WEIGHTS_EXT"), "gguf");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_RATE"), "60/min");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_BUDGET_TOKENS"), "200000");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_LIMITS_FILE"), "/tmp/l");
    CHECK_STR(al_settings_get(&s, "AIRLOCK_DEBUG"), "1");
    CHECK(al_settings_get(&s, "AIRLOCK_NOPE") == NULL);
    al_settings_free(&s);
}

TEST(a_typo_or_wrong_type_is_an_error_naming_the_key)
{
    al_settings s;
    char err[256];
    CHECK_EQ_INT(parse("{\"moed\":\"monitor\"}", &s, err), AL_EPARSE);
    CHECK_STR(err, "moed: unknown key");
    CHECK_EQ_INT(parse("{\"mode\":\"block\"}", &s, err), AL_EPARSE);
    CHECK_STR(err, "mode: not one of the allowed values");
    CHECK_EQ_INT(parse("{\"fail\":false}", &s, err), AL_EPARSE);
    CHECK_EQ_INT(parse("{\"model_threshold\":1.5}", &s, err), AL_EPARSE);
    CHECK(strstr(err, "model_threshold: expected a number from 0 to 1") != NULL);
    CHECK_EQ_INT(parse("{\"max_body\":10.5}", &s, err), AL_EPARSE);
    CHECK_EQ_INT(parse("{\"budget_tokens\":\"100\"}", &s, err), AL_EPARSE);
    CHECK_EQ_INT(parse("{\"rate\":\"sixty a minute\"}", &s, err), AL_EPARSE);
    CHECK(strstr(err, "rate: expected a rate") != NULL);
    CHECK_EQ_INT(parse("{\"prompt\":{\"pi\":\"redact\"}}", &s, err), AL_EPARSE);
    CHECK(strstr(err, "prompt.pi: not a category") != NULL);
    CHECK_EQ_INT(parse("{\"completion\":{\"pii\":\"scrub\"}}", &s, err), AL_EPARSE);
    CHECK_STR(err, "completion.pii: not one of the allowed values");
    CHECK_EQ_INT(parse("{\"egress\":[]}", &s, err), AL_EPARSE);
    CHECK_EQ_INT(parse("{\"egress\":[\"a.com,b.com\"]}", &s, err), AL_EPARSE);
    CHECK_EQ_INT(parse("{\"mode\":\"enforce\",\"mode\":\"monitor\"}", &s, err), AL_EPARSE);
    CHECK_STR(err, "mode: appears twice");
    CHECK_EQ_INT(parse("{\"debug\":1}", &s, err), AL_EPARSE);
    CHECK_EQ_INT(s.n, 0); /* nothing half-applied */
}

TEST(malformed_or_non_object_json_is_refused)
{
    al_settings s;
    char err[256];
    CHECK_EQ_INT(parse("{\"mode\":", &s, err), AL_EPARSE);
    CHECK_STR(err, "policy: not a JSON object");
    CHECK_EQ_INT(parse("[\"mode\"]", &s, err), AL_EPARSE);
    CHECK_EQ_INT(parse("", &s, err), AL_EPARSE);
    CHECK_EQ_INT(parse("{}", &s, err), AL_OK);
    CHECK_EQ_INT(s.n, 0);
}

TEST(text_after_the_object_is_refused_not_dropped)
{
    al_settings s;
    char err[256];
    CHECK_EQ_INT(parse("{\"mode\":\"enforce\"} {\"egress\":\"localhost\"}", &s, err), AL_EPARSE);
    CHECK_STR(err, "policy: text after the JSON object");
    CHECK_EQ_INT(s.n, 0);
    CHECK_EQ_INT(parse("{\"mode\":\"enforce\"}}", &s, err), AL_EPARSE);
    CHECK_EQ_INT(parse(" {\"mode\":\"enforce\"}\r\n\t \n", &s, err), AL_OK);
    CHECK_STR(al_settings_get(&s, "AIRLOCK_MODE"), "enforce");
    al_settings_free(&s);
}

TEST(a_utf8_byte_order_mark_before_the_object_is_skipped)
{
    al_settings s;
    char err[256];
    CHECK_EQ_INT(parse("\xef\xbb\xbf{\"mode\":\"monitor\"}", &s, err), AL_OK);
    CHECK_STR(al_settings_get(&s, "AIRLOCK_MODE"), "monitor");
    al_settings_free(&s);
}

TEST(a_category_repeated_inside_prompt_or_completion_is_an_error)
{
    al_settings s;
    char err[256];
    CHECK_EQ_INT(parse("{\"prompt\":{\"pii\":\"redact\",\"pii\":\"allow\"}}", &s, err), AL_EPARSE);
    CHECK_STR(err, "prompt.pii: appears twice");
    CHECK_EQ_INT(s.n, 0);
}

TEST(an_egress_entry_that_does_not_parse_is_an_error_naming_the_key)
{
    al_settings s;
    char err[256];
    CHECK_EQ_INT(parse("{\"egress\":\"not a host!\"}", &s, err), AL_EPARSE);
    CHECK(strstr(err, "egress: entry 'host!'") == err);
    CHECK_EQ_INT(parse("{\"egress\":[\"*\"]}", &s, err), AL_EPARSE);
    CHECK(strstr(err, "egress: entry '*'") == err);
    CHECK_EQ_INT(parse("{\"egress\":[\"10.0.0.0/33\"]}", &s, err), AL_EPARSE);
    CHECK_EQ_INT(s.n, 0);
    CHECK_EQ_INT(parse("{\"egress\":[\"*.example.com\",\"fd00::/8\",\"localhost\"]}", &s, err),
                 AL_OK);
    CHECK_STR(al_settings_get(&s, "AIRLOCK_EGRESS"), "*.example.com,fd00::/8,localhost");
    al_settings_free(&s);
}

TEST(relative_paths_are_resolved_against_the_policy_files_directory)
{
    char dir[] = "/tmp/al_policy_XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/policy.json", dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f != NULL);
    fputs("{\"weights\":\"trusted.sha256\",\"audit\":\"/abs/a.jsonl\"}", f);
    fclose(f);
    al_settings s;
    char err[256], want[160];
    REQUIRE(al_policy_load(path, &s, err, sizeof err) == AL_OK);
    snprintf(want, sizeof want, "%s/trusted.sha256", dir);
    CHECK_STR(al_settings_get(&s, "AIRLOCK_WEIGHTS"), want);
    CHECK_STR(al_settings_get(&s, "AIRLOCK_AUDIT"), "/abs/a.jsonl");
    al_settings_free(&s);
    unlink(path);
    rmdir(dir);
}

TEST(a_missing_file_names_the_path_and_reason)
{
    al_settings s;
    char err[256];
    CHECK_EQ_INT(al_policy_load("/nonexistent/airlock.json", &s, err, sizeof err), AL_EIO);
    CHECK(strstr(err, "/nonexistent/airlock.json: No such file") != NULL);
}

static void unset_policy_env(void)
{
    static const char *const vars[] = {
        "AIRLOCK_MAX_PROMPT", "AIRLOCK_BLOCK_THRESHOLD",          "AIRLOCK_MODEL_THRESHOLD",
        "AIRLOCK_PROMPT_PII", "AIRLOCK_COMPLETION_UNSAFE_OUTPUT", "AIRLOCK_PROMPT_SECRET"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) unsetenv(vars[i]);
}

TEST(an_environment_without_settings_gives_the_default_policy)
{
    unset_policy_env();
    al_policy p, d;
    char err[200] = "";
    al_policy_from_env(&p, err, sizeof err);
    al_policy_default(&d);
    CHECK(memcmp(&p, &d, sizeof p) == 0);
    CHECK_STR(err, "");
}

TEST(the_environment_sets_actions_thresholds_and_the_prompt_cap)
{
    unset_policy_env();
    setenv("AIRLOCK_MAX_PROMPT", "64k", 1);
    setenv("AIRLOCK_BLOCK_THRESHOLD", "2.5", 1);
    setenv("AIRLOCK_MODEL_THRESHOLD", "0.75", 1);
    setenv("AIRLOCK_PROMPT_PII", "redact", 1);
    setenv("AIRLOCK_COMPLETION_UNSAFE_OUTPUT", "block", 1);
    setenv("AIRLOCK_PROMPT_SECRET", "", 1); /* empty: unset */
    al_policy p;
    char err[200] = "";
    al_policy_from_env(&p, err, sizeof err);
    CHECK_EQ_INT(p.max_prompt_bytes, 65536);
    CHECK(p.block_threshold == 2.5);
    CHECK(p.model_threshold == 0.75);
    CHECK_EQ_INT(p.prompt[AL_CAT_PII], AL_ACT_REDACT);
    CHECK_EQ_INT(p.completion[AL_CAT_UNSAFE_OUTPUT], AL_ACT_BLOCK);
    CHECK_EQ_INT(p.prompt[AL_CAT_SECRET], AL_ACT_REDACT);
    CHECK_STR(err, "");
    unset_policy_env();
}

TEST(a_setting_that_does_not_parse_keeps_its_default_and_is_named)
{
    unset_policy_env();
    setenv("AIRLOCK_PROMPT_PII", "redcat", 1);
    setenv("AIRLOCK_MAX_PROMPT", "-5", 1);
    al_policy p;
    char err[200] = "";
    al_policy_from_env(&p, err, sizeof err);
    CHECK_EQ_INT(p.prompt[AL_CAT_PII], AL_ACT_FLAG);
    CHECK_EQ_INT(p.max_prompt_bytes, 4u << 20);
    /* the first problem, in the order the shim reads them */
    CHECK_STR(err, "airlock: AIRLOCK_MAX_PROMPT=-5 is not a size such as 4M; keeping 4 MiB");
    char kept[200] = "earlier";
    al_policy_from_env(&p, kept, sizeof kept);
    CHECK_STR(kept, "earlier");
    unset_policy_env();
}

TEST(exported_settings_never_override_a_non_empty_variable)
{
    al_settings s;
    char err[256];
    REQUIRE(parse("{\"prompt\":{\"pii\":\"block\",\"secret\":\"flag\"},\"max_prompt\":1000}", &s,
                  err) == AL_OK);
    unset_policy_env();
    setenv("AIRLOCK_PROMPT_PII", "allow", 1);
    setenv("AIRLOCK_PROMPT_SECRET", "", 1);
    al_settings_export(&s);
    al_settings_free(&s);
    CHECK_STR(getenv("AIRLOCK_PROMPT_PII"), "allow");
    CHECK_STR(getenv("AIRLOCK_PROMPT_SECRET"), "flag");
    CHECK_STR(getenv("AIRLOCK_MAX_PROMPT"), "1000");
    unset_policy_env();
}

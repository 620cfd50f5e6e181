/* policy.h: the policy file.  One JSON object that says what the AIRLOCK_*
 * environment variables say, so a deployment can keep its policy in one
 * reviewed file (AIRLOCK_POLICY=FILE, or airlock run --policy FILE):
 *
 *   {"mode": "enforce", "fail": "closed", "audit": "/var/log/airlock.jsonl",
 *    "rules": "rules", "block_threshold": 1.0, "model_threshold": 0.9,
 *    "max_body": 16777216, "max_prompt": 4194304,
 *    "prompt": {"pii": "redact"}, "completion": {"unsafe_output": "block"},
 *    "llm_hosts": ["llm.internal"], "egress": ["api.openai.com", "localhost"],
 *    "weights": "trusted.sha256", "weights_ext": ["gguf", "safetensors"],
 *    "rate": "60/min", "budget_tokens": 200000, "limits_file": "/tmp/airlock.limits",
 *    "debug": false}
 *
 * Every key is optional; an unknown key or a value of the wrong type or
 * range is an error naming the key (a typo must not silently weaken the
 * policy).  Relative paths are relative to the policy file's directory.
 * A variable already set in the environment wins over the file.  Pure
 * apart from reading the file; never logs. */
#ifndef AL_POLICY_FILE_H
#define AL_POLICY_FILE_H

#include "al.h"
#include "engine.h"

#define AL_POLICY_MAX_SETTINGS 48

typedef struct {
    char *name;  /* "AIRLOCK_MODE" */
    char *value; /* "monitor" */
} al_setting;

typedef struct {
    al_setting v[AL_POLICY_MAX_SETTINGS];
    size_t n;
} al_settings;

/* Parses policy JSON text (len bytes).  dir: the directory relative paths
 * are resolved against (NULL: left as they are).  On error returns
 * AL_EPARSE (or AL_ENOMEM) with "key: reason" in err and out emptied. */
AL_API al_code al_policy_parse(const char *text, size_t len, const char *dir, al_settings *out,
                               char *err, size_t errlen);

/* Reads and parses the file at path; err starts with the path. */
AL_API al_code al_policy_load(const char *path, al_settings *out, char *err, size_t errlen);

AL_API void al_settings_free(al_settings *s);

/* The value for name, or NULL. */
AL_API const char *al_settings_get(const al_settings *s, const char *name);

/* Puts each setting of s into the environment, unless the environment
 * already sets that variable to a non-empty value (a one-off override wins
 * over the file; an empty variable counts as unset).  Not thread-safe
 * (setenv): call it before any thread starts. */
AL_API void al_settings_export(const al_settings *s);

/* Fills p with the default policy changed by the environment, as the shim
 * reads it: AIRLOCK_MAX_PROMPT, AIRLOCK_BLOCK_THRESHOLD,
 * AIRLOCK_MODEL_THRESHOLD and AIRLOCK_PROMPT_<CATEGORY> /
 * AIRLOCK_COMPLETION_<CATEGORY>.  A value that does not parse keeps its
 * default, and the first such problem is written to errbuf ("airlock:
 * AIRLOCK_X=... is not ..."; errbuf untouched when it already holds a
 * message, so the caller's earlier message stays first). */
AL_API void al_policy_from_env(al_policy *p, char *errbuf, size_t errlen);

/* "N", "Nk", "NM", "NG" (also "NKB", "NMiB"): the size in bytes; anything
 * else (a sign, an unknown suffix, an overflow, 0) returns dflt. */
AL_API size_t al_parse_size(const char *s, size_t dflt);

#endif

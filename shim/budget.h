/* budget.h: rate limits and token budgets for LLM calls.  A rate
 * ("30/min": at most 30 calls in any minute, as a token bucket that holds
 * 30 and refills 30 per minute) and a token budget (calls are admitted
 * while the tokens the replies reported so far stay under it; the call that
 * crosses it completes, the next ones are refused).  Counted in this
 * process, or, with a state file, across every process that names the same
 * file (an agent's whole test run), under an exclusive lock.  Pure apart
 * from that file; never logs. */
#ifndef AL_BUDGET_H
#define AL_BUDGET_H

#include "al.h"

typedef struct al_limits al_limits;

typedef enum {
    AL_LIMIT_OK = 0,
    AL_LIMIT_RATE,   /* too many calls in the window: retry later */
    AL_LIMIT_BUDGET, /* the token budget is spent */
    AL_LIMIT_ERROR   /* the state file could not be used (caller applies AIRLOCK_FAIL) */
} al_limit_verdict;

/* Parses a rate "N/s", "N/sec", "N/min", "N/h" (also "N/second", "N/minute",
 * "N/hour"); N a positive integer.  0 and *per_call_s set, or -1. */
AL_API int al_limits_parse_rate(const char *s, double *calls, double *window_s);

/* Builds limits from the three settings (each may be NULL or empty: that
 * limit is off).  rate: as above; budget: a positive integer of tokens;
 * state_file: where counts are shared, or NULL for this process only.
 * Returns NULL with err set ("AIRLOCK_RATE: ...") on a bad value; *none is
 * set to 1 (and NULL returned, err empty) when every limit is off. */
AL_API al_limits *al_limits_new(const char *rate, const char *budget, const char *state_file,
                                int *none, char *err, size_t errlen);
AL_API void al_limits_free(al_limits *l);

/* Decides whether a call may start at time now (seconds, any fixed
 * origin: CLOCK_REALTIME when a state file is shared between processes).
 * On AL_LIMIT_OK the call is counted.  *retry_after (may be NULL) is set
 * for AL_LIMIT_RATE: seconds until a call would be admitted. */
AL_API al_limit_verdict al_limits_admit(al_limits *l, double now, double *retry_after);

/* The HTTP header lines the 429 of a refused call carries, each ending in
 * CRLF, written into out (n bytes, NUL-terminated; cut whole lines never).
 * AL_LIMIT_RATE: "Retry-After: S\r\nretry-after-ms: M\r\n", retry_after
 * (from al_limits_admit) rounded up to whole seconds and to milliseconds,
 * each at least 1, so a client that waits that long is admitted.
 * AL_LIMIT_BUDGET: "x-should-retry: false\r\n": the budget has no window
 * (it is spent until the count is reset), so no wait would help, and this
 * header makes the OpenAI and Anthropic SDKs raise at once instead of
 * retrying.  Other verdicts: "".  Returns S (0 when no Retry-After). */
AL_API long long al_limits_retry_headers(al_limit_verdict v, double retry_after, char *out,
                                         size_t n);

/* Adds the tokens a finished call used (negative: ignored). */
AL_API al_code al_limits_account(al_limits *l, long long tokens);

/* Tokens counted so far (from the state file when there is one), -1 on error. */
AL_API long long al_limits_tokens_used(al_limits *l);

/* Token budget, or 0 when none. */
AL_API long long al_limits_budget(const al_limits *l);

#endif

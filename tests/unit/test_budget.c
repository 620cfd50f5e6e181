/* test_budget.c: rate limits and token budgets, in memory and shared
 * through a state file between independent users (processes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../shim/budget.h"
#include "testing.h"

static al_limits *mk(const char *rate, const char *budget, const char *file)
{
    int none = 0;
    char err[200];
    return al_limits_new(rate, budget, file, &none, err, sizeof err);
}

TEST(rates_parse_in_seconds_minutes_hours_and_days)
{
    double c, w;
    CHECK(al_limits_parse_rate("60/min", &c, &w) == 0 && c == 60 && w == 60);
    CHECK(al_limits_parse_rate("5/s", &c, &w) == 0 && c == 5 && w == 1);
    CHECK(al_limits_parse_rate("1000/hour", &c, &w) == 0 && c == 1000 && w == 3600);
    CHECK(al_limits_parse_rate("2/day", &c, &w) == 0 && w == 86400);
    CHECK(al_limits_parse_rate("0/min", &c, &w) != 0);
    CHECK(al_limits_parse_rate("-3/min", &c, &w) != 0);
    CHECK(al_limits_parse_rate("60", &c, &w) != 0);
    CHECK(al_limits_parse_rate("60/fortnight", &c, &w) != 0);
    CHECK(al_limits_parse_rate("ten/min", &c, &w) != 0);
    CHECK(al_limits_parse_rate("", &c, &w) != 0);
}

TEST(bad_settings_are_errors_that_name_the_variable)
{
    int none = 0;
    char err[200];
    CHECK(al_limits_new("60 per minute", NULL, NULL, &none, err, sizeof err) == NULL);
    CHECK(strstr(err, "AIRLOCK_RATE: '60 per minute'") != NULL);
    CHECK(!none);
    CHECK(al_limits_new(NULL, "lots", NULL, &none, err, sizeof err) == NULL);
    CHECK(strstr(err, "AIRLOCK_BUDGET_TOKENS") != NULL);
    CHECK(al_limits_new(NULL, "-5", NULL, &none, err, sizeof err) == NULL);
    CHECK(al_limits_new("", "", NULL, &none, err, sizeof err) == NULL);
    CHECK(none);
    CHECK_STR(err, "");
}

TEST(rate_admits_a_burst_up_to_the_limit_then_refuses_until_refilled)
{
    al_limits *l = mk("3/min", NULL, NULL);
    REQUIRE(l != NULL);
    double t = 1000, ra = 0;
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(al_limits_admit(l, t, &ra), AL_LIMIT_OK);
    CHECK_EQ_INT(al_limits_admit(l, t, &ra), AL_LIMIT_RATE);
    CHECK(ra > 19.9 && ra < 20.1); /* one call every 20 s */
    CHECK_EQ_INT(al_limits_admit(l, t + 10, &ra), AL_LIMIT_RATE);
    CHECK(ra > 9.9 && ra < 10.1);
    CHECK_EQ_INT(al_limits_admit(l, t + 20.5, &ra), AL_LIMIT_OK);
    CHECK_EQ_INT(al_limits_admit(l, t + 21, &ra), AL_LIMIT_RATE);
    CHECK_EQ_INT(al_limits_admit(l, t + 1000, &ra), AL_LIMIT_OK); /* refilled, capped at 3 */
    CHECK_EQ_INT(al_limits_admit(l, t + 1000, &ra), AL_LIMIT_OK);
    CHECK_EQ_INT(al_limits_admit(l, t + 1000, &ra), AL_LIMIT_OK);
    CHECK_EQ_INT(al_limits_admit(l, t + 1000, &ra), AL_LIMIT_RATE);
    al_limits_free(l);
}

TEST(a_clock_that_steps_back_never_grants_extra_calls)
{
    al_limits *l = mk("1/min", NULL, NULL);
    REQUIRE(l != NULL);
    CHECK_EQ_INT(al_limits_admit(l, 5000, NULL), AL_LIMIT_OK);
    CHECK_EQ_INT(al_limits_admit(l, 100, NULL), AL_LIMIT_RATE);
    CHECK_EQ_INT(al_limits_admit(l, 5030, NULL), AL_LIMIT_RATE);
    CHECK_EQ_INT(al_limits_admit(l, 5061, NULL), AL_LIMIT_OK);
    al_limits_free(l);
}

TEST(retry_after_counts_the_time_until_a_clock_behind_the_last_call_catches_up)
{
    al_limits *l = mk("2/min", NULL, NULL);
    REQUIRE(l != NULL);
    double ra = 0;
    CHECK_EQ_INT(al_limits_admit(l, 5000, &ra), AL_LIMIT_OK);
    CHECK_EQ_INT(al_limits_admit(l, 5000, &ra), AL_LIMIT_OK);
    CHECK_EQ_INT(al_limits_admit(l, 4000, &ra), AL_LIMIT_RATE);
    CHECK(ra > 1029 && ra < 1031); /* 1000 s to catch up, then 30 s for one call */
    al_limits_free(l);
}

TEST(absurd_reported_usage_saturates_instead_of_wrapping_the_budget)
{
    al_limits *l = mk(NULL, "100", NULL);
    REQUIRE(l != NULL);
    CHECK_EQ_INT(al_limits_account(l, 9223372036854775807LL), AL_OK);
    CHECK_EQ_INT(al_limits_account(l, 9223372036854775807LL), AL_OK);
    CHECK(al_limits_tokens_used(l) == 9223372036854775807LL);
    CHECK_EQ_INT(al_limits_admit(l, 1, NULL), AL_LIMIT_BUDGET);
    al_limits_free(l);
}

TEST(budget_admits_while_under_and_refuses_once_spent)
{
    al_limits *l = mk(NULL, "1000", NULL);
    REQUIRE(l != NULL);
    CHECK_EQ_INT(al_limits_budget(l), 1000);
    CHECK_EQ_INT(al_limits_admit(l, 1, NULL), AL_LIMIT_OK);
    CHECK_EQ_INT(al_limits_account(l, 600), AL_OK);
    CHECK_EQ_INT(al_limits_admit(l, 2, NULL), AL_LIMIT_OK);
    CHECK_EQ_INT(al_limits_account(l, 600), AL_OK); /* this call crossed it */
    CHECK_EQ_INT(al_limits_tokens_used(l), 1200);
    CHECK_EQ_INT(al_limits_admit(l, 3, NULL), AL_LIMIT_BUDGET);
    CHECK_EQ_INT(al_limits_account(l, -5), AL_OK); /* unknown usage adds nothing */
    CHECK_EQ_INT(al_limits_tokens_used(l), 1200);
    al_limits_free(l);
}

TEST(a_spent_budget_does_not_use_up_the_rate)
{
    al_limits *l = mk("2/min", "10", NULL);
    REQUIRE(l != NULL);
    CHECK_EQ_INT(al_limits_admit(l, 1, NULL), AL_LIMIT_OK);
    al_limits_account(l, 50);
    CHECK_EQ_INT(al_limits_admit(l, 1, NULL), AL_LIMIT_BUDGET);
    CHECK_EQ_INT(al_limits_admit(l, 1, NULL), AL_LIMIT_BUDGET);
    al_limits_free(l);
}

TEST(state_file_shares_rate_and_budget_between_processes)
{
    char path[] = "/tmp/al_limits_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    /* four processes, each trying five calls at the same instant: ten pass */
    int pipefd[2];
    REQUIRE(pipe(pipefd) == 0);
    for (int p = 0; p < 4; p++) {
        pid_t pid = fork();
        if (pid == 0) {
            al_limits *l = mk("10/min", NULL, path);
            int ok = 0;
            for (int i = 0; i < 5; i++) ok += al_limits_admit(l, 100, NULL) == AL_LIMIT_OK;
            al_limits_free(l);
            char c = (char)ok;
            _exit(write(pipefd[1], &c, 1) == 1 ? 0 : 1);
        }
    }
    int total = 0;
    for (int p = 0; p < 4; p++) {
        char c = 0;
        CHECK(read(pipefd[0], &c, 1) == 1);
        total += c;
        wait(NULL);
    }
    close(pipefd[0]);
    close(pipefd[1]);
    CHECK_EQ_INT(total, 10);
    /* tokens accounted by one user are seen by another */
    al_limits *a = mk(NULL, "100", path), *b = mk(NULL, "100", path);
    REQUIRE(a && b);
    CHECK_EQ_INT(al_limits_account(a, 150), AL_OK);
    CHECK_EQ_INT(al_limits_tokens_used(b), 150);
    CHECK_EQ_INT(al_limits_admit(b, 200, NULL), AL_LIMIT_BUDGET);
    al_limits_free(a);
    al_limits_free(b);
    unlink(path);
}

TEST(a_damaged_or_foreign_state_file_is_an_error_not_a_reset)
{
    char path[] = "/tmp/al_limits_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    CHECK(write(fd, "hello world\n", 12) == 12);
    close(fd);
    al_limits *l = mk("5/min", "100", path);
    REQUIRE(l != NULL);
    CHECK_EQ_INT(al_limits_admit(l, 1, NULL), AL_LIMIT_ERROR);
    CHECK_EQ_INT(al_limits_account(l, 5), AL_EIO);
    CHECK_EQ_INT(al_limits_tokens_used(l), -1);
    al_limits_free(l);
    unlink(path);
    static const char *const bad[] = {"airlock-limits 1 nan 1 0\n", "airlock-limits 1 1 inf 0\n",
                                      "airlock-limits 1 -1 1 0\n", "airlock-limits 1 1 1 -5\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memcpy(path + strlen(path) - 6, "XXXXXX", 6);
        fd = mkstemp(path);
        REQUIRE(fd >= 0);
        CHECK(write(fd, bad[i], strlen(bad[i])) == (ssize_t)strlen(bad[i]));
        close(fd);
        l = mk("5/min", NULL, path);
        REQUIRE(l != NULL);
        CHECK_EQ_INT(al_limits_admit(l, 1, NULL), AL_LIMIT_ERROR);
        al_limits_free(l);
        unlink(path);
    }
    al_limits *m = mk("5/min", NULL, "/nonexistent-dir/airlock/limits");
    REQUIRE(m != NULL);
    CHECK_EQ_INT(al_limits_admit(m, 1, NULL), AL_LIMIT_ERROR);
    al_limits_free(m);
}

TEST(a_rate_refusal_says_retry_after_rounded_up_and_waiting_that_long_is_admitted)
{
    al_limits *l = mk("2/min", NULL, NULL);
    REQUIRE(l != NULL);
    double ra = 0;
    char h[128];
    CHECK_EQ_INT(al_limits_admit(l, 1000, &ra), AL_LIMIT_OK);
    CHECK_EQ_INT(al_limits_admit(l, 1000, &ra), AL_LIMIT_OK);
    CHECK_EQ_INT(al_limits_admit(l, 1000.25, &ra), AL_LIMIT_RATE); /* 29.75 s to one call */
    CHECK_EQ_INT(al_limits_retry_headers(AL_LIMIT_RATE, ra, h, sizeof h), 30);
    CHECK_STR(h, "Retry-After: 30\r\nretry-after-ms: 29750\r\n");
    CHECK_EQ_INT(al_limits_admit(l, 1000.25 + 29.7, &ra), AL_LIMIT_RATE);
    CHECK_EQ_INT(al_limits_admit(l, 1000.25 + 30, &ra), AL_LIMIT_OK);
    al_limits_free(l);
}

TEST(retry_after_is_never_zero_and_never_unbounded)
{
    char h[128];
    CHECK_EQ_INT(al_limits_retry_headers(AL_LIMIT_RATE, 0.0001, h, sizeof h), 1);
    CHECK_STR(h, "Retry-After: 1\r\nretry-after-ms: 1\r\n");
    CHECK_EQ_INT(al_limits_retry_headers(AL_LIMIT_RATE, -3, h, sizeof h), 1);
    CHECK_EQ_INT(al_limits_retry_headers(AL_LIMIT_RATE, 0.0 / 0.0, h, sizeof h), 1);
    CHECK_EQ_INT(al_limits_retry_headers(AL_LIMIT_RATE, 1e300, h, sizeof h), 31536000);
    CHECK_EQ_INT(al_limits_retry_headers(AL_LIMIT_RATE, 86399.2, h, sizeof h), 86400);
    CHECK_STR(h, "Retry-After: 86400\r\nretry-after-ms: 86399200\r\n");
    /* a buffer too small for both lines gets none rather than half a header */
    char small[20] = "x";
    al_limits_retry_headers(AL_LIMIT_RATE, 5, small, sizeof small);
    CHECK_STR(small, "");
}

TEST(a_spent_budget_says_do_not_retry_and_gives_no_retry_after)
{
    char h[128] = "x";
    CHECK_EQ_INT(al_limits_retry_headers(AL_LIMIT_BUDGET, 12, h, sizeof h), 0);
    CHECK_STR(h, "x-should-retry: false\r\n");
    CHECK_EQ_INT(al_limits_retry_headers(AL_LIMIT_OK, 12, h, sizeof h), 0);
    CHECK_STR(h, "");
    CHECK_EQ_INT(al_limits_retry_headers(AL_LIMIT_ERROR, 12, h, sizeof h), 0);
    CHECK_STR(h, "");
}

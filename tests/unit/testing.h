/* testing.h: a minimal test harness for airlock's unit tests.  Each test is a
 * function registered with TEST(name); the name reads as a spec.  main() runs
 * them all and ends with the line "N passed, N failed". */
#ifndef AL_TESTING_H
#define AL_TESTING_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*al_test_fn)(int *failed);
struct al_test {
    const char *name;
    al_test_fn fn;
};
static struct al_test al_tests[512];
static int al_ntests;

#define TEST(name)                                                                                 \
    static void name(int *al_failed_);                                                             \
    __attribute__((constructor)) static void al_reg_##name(void)                                   \
    {                                                                                              \
        if (al_ntests < 512) al_tests[al_ntests++] = (struct al_test){#name, name};                \
    }                                                                                              \
    static void name(int *al_failed_)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);             \
            *al_failed_ = 1;                                                                       \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long al_a_ = (long long)(a), al_b_ = (long long)(b);                                  \
        if (al_a_ != al_b_) {                                                                      \
            fprintf(stderr, "  %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, al_a_, \
                    al_b_);                                                                        \
            *al_failed_ = 1;                                                                       \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *al_a_ = (a), *al_b_ = (b);                                                     \
        if (!al_a_ || !al_b_ || strcmp(al_a_, al_b_) != 0) {                                       \
            fprintf(stderr, "  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,    \
                    al_a_ ? al_a_ : "(null)", al_b_ ? al_b_ : "(null)");                           \
            *al_failed_ = 1;                                                                       \
        }                                                                                          \
    } while (0)

/* Stop the current test (after a failed precondition). */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #cond);           \
            *al_failed_ = 1;                                                                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (int i = 0; i < al_ntests; i++) {
        if (argc > 1 && !strstr(al_tests[i].name, argv[1])) continue;
        int f = 0;
        al_tests[i].fn(&f);
        printf("%s %s\n", f ? "FAIL" : "ok  ", al_tests[i].name);
        if (f)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#endif

/* test_regex_compat.c: the JIT-safe rewrite of \S, \W and \D, checked
 * against PCRE2 itself: the rewritten pattern matches under the JIT what
 * the original matches under the interpreter. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <unistd.h>

#include "../../shim/engine.h"
#include "../../shim/regex_compat.h"
#include "testing.h"

static const char *rw(const char *p)
{
    static char buf[256];
    char *s = al_regex_jit_safe(p);
    snprintf(buf, sizeof buf, "%s", s ? s : "(null)");
    free(s);
    return buf;
}

/* 1 match, 0 none, -2 compile error */
static int run(const char *pattern, const char *subject, int jit)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
    if (!c) return -2;
    if (jit) pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    int rc = pcre2_match(c, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return rc > 0 ? 1 : 0;
}

TEST(negated_shorthands_outside_classes_become_classes)
{
    CHECK_STR(rw("x \\S\\S\\S y"), "x [\\S][\\S][\\S] y");
    CHECK_STR(rw("\\W+\\D{2,}"), "[\\W]+[\\D]{2,}");
    CHECK_STR(rw("(?:\\s+\\S+){0,4}"), "(?:\\s+[\\S]+){0,4}");
}

TEST(everything_else_is_left_as_written)
{
    CHECK_STR(rw("[\\S\\d]+"), "[\\S\\d]+"); /* already in a class */
    CHECK_STR(rw("[]\\S]"), "[]\\S]");       /* leading ] is literal */
    CHECK_STR(rw("[^]\\S]x"), "[^]\\S]x");
    CHECK_STR(rw("[[:alpha:]\\S]\\S"), "[[:alpha:]\\S][\\S]");
    CHECK_STR(rw("\\\\S"), "\\\\S");                   /* an escaped backslash, then S */
    CHECK_STR(rw("\\QS\\S\\E\\S"), "\\QS\\S\\E[\\S]"); /* quoted text stays literal */
    CHECK_STR(rw("(?#no \\S here)\\S"), "(?#no \\S here)[\\S]");
    CHECK_STR(rw("\\s\\w\\d\\p{L}\\x{41}"), "\\s\\w\\d\\p{L}\\x{41}");
    CHECK_STR(rw(""), "");
    CHECK_STR(rw("\\"), "\\");
}

TEST(the_jit_matches_non_ascii_text_after_the_rewrite)
{
    const char *pats[] = {"x \\S\\S\\S y", "x \\W\\S\\D y", "^\\S+$", "a(?:\\s+\\S+){1,3}\\s+b"};
    const char *subj[] = {"x дыж y", "x é漢ß y", "naïve", "a très bien b"};
    for (int i = 0; i < 4; i++) {
        char *safe = al_regex_jit_safe(pats[i]);
        REQUIRE(safe != NULL);
        CHECK_EQ_INT(run(pats[i], subj[i], 0), 1); /* the interpreter agrees */
        CHECK_EQ_INT(run(safe, subj[i], 1), 1);
        CHECK_EQ_INT(run(safe, "x ab y", 1), run(pats[i], "x ab y", 0));
        free(safe);
    }
}

TEST(a_broken_pattern_stays_broken)
{
    CHECK_EQ_INT(run(rw("(\\S"), "x", 0), -2);
    CHECK_EQ_INT(run(rw("[\\S"), "x", 0), -2);
}

TEST(a_user_pack_rule_with_backslash_S_finds_a_non_ascii_value)
{
    char path[] = "/tmp/al_rc_pack_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    const char *pack =
        "{\"pack\":\"t\",\"version\":1,\"rules\":[{\"id\":\"t.ticket\",\"category\":\"secret\","
        "\"entity\":\"TICKET\",\"pattern\":\"ticket=(?<value>\\\\S+)\",\"applies_to\":\"both\","
        "\"examples\":{\"match\":[\"ticket=abc\"],\"no_match\":[\"ticket= abc\"]}}]}";
    REQUIRE(write(fd, pack, strlen(pack)) == (ssize_t)strlen(pack));
    close(fd);
    al_engine *e = NULL;
    char err[256];
    REQUIRE(al_engine_new(path, &e, err, sizeof err) == AL_OK);
    al_policy p;
    al_policy_default(&p);
    p.completion[AL_CAT_SECRET] = AL_ACT_REDACT;
    al_result r = {0};
    const char *text = "see ticket=Ωmega-ñ42 today";
    REQUIRE(al_engine_scan(e, &p, AL_AS_COMPLETION, text, strlen(text), &r) == AL_OK);
    CHECK_STR(r.text.data, "see ticket=<TICKET> today"); /* the whole value, not cut at the Ω */
    al_result_free(&r);
    al_engine_free(e);
    unlink(path);
}

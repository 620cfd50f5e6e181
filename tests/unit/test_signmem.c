/* Unit tests for signmem.c: the original texts of signed thinking blocks
 * airlock changed, kept under their signature with the text the program was
 * shown, bounded by entries and bytes. */
#include "signmem.h"
#include "testing.h"

static int get(al_signmem *m, const char *sig, const char *shown, char **orig)
{
    size_t n = 0;
    int hit = al_signmem_get(m, sig, shown, strlen(shown), orig, &n);
    if (hit && strlen(*orig) != n) return -1;
    return hit;
}

TEST(the_original_comes_back_only_for_its_signature_and_the_text_the_program_was_shown)
{
    al_signmem *m = al_signmem_new(8, 4096);
    REQUIRE(m);
    const char *o = "Ann's mail is ann@example.com", *sh = "Ann's mail is <EMAIL_ADDRESS>";
    CHECK_EQ_INT(al_signmem_put(m, "SIG1", o, strlen(o), sh, strlen(sh)), AL_OK);
    char *got = NULL;
    CHECK_EQ_INT(get(m, "SIG1", sh, &got), 1);
    CHECK_STR(got, o);
    free(got);
    /* kept after a hit: a tool loop sends the same block every turn */
    CHECK_EQ_INT(get(m, "SIG1", sh, &got), 1);
    free(got);
    CHECK_EQ_INT(get(m, "SIG2", sh, &got), 0);
    CHECK(got == NULL);
    CHECK_EQ_INT(get(m, "SIG1", "Ann's mail is <EMAIL_ADDRESS> (edited)", &got), 0);
    CHECK_EQ_INT(get(m, "SIG1", o, &got), 0); /* the original itself: nothing to put back */
    CHECK_EQ_INT(get(m, "SIG", sh, &got), 0); /* a prefix of a signature is another one */
    CHECK_EQ_INT(get(m, "", sh, &got), 0);
    al_signmem_free(m);
}

TEST(the_same_signature_is_replaced_and_empty_or_null_inputs_keep_nothing)
{
    al_signmem *m = al_signmem_new(8, 4096);
    REQUIRE(m);
    CHECK_EQ_INT(al_signmem_put(m, "S", "a1", 2, "x", 1), AL_OK);
    CHECK_EQ_INT(al_signmem_put(m, "S", "a2", 2, "y", 1), AL_OK);
    size_t n, bytes;
    al_signmem_stats(m, &n, &bytes);
    CHECK_EQ_INT((int)n, 1);
    char *got = NULL;
    CHECK_EQ_INT(get(m, "S", "x", &got), 0);
    CHECK_EQ_INT(get(m, "S", "y", &got), 1);
    CHECK_STR(got, "a2");
    free(got);
    CHECK_EQ_INT(al_signmem_put(m, "", "a", 1, "b", 1), AL_OK);
    CHECK_EQ_INT(al_signmem_put(m, NULL, "a", 1, "b", 1), AL_OK);
    al_signmem_stats(m, &n, &bytes);
    CHECK_EQ_INT((int)n, 1);
    /* an empty shown text (the scrubber dropped it all) is still a text */
    CHECK_EQ_INT(al_signmem_put(m, "E", "secret", 6, "", 0), AL_OK);
    CHECK_EQ_INT(get(m, "E", "", &got), 1);
    free(got);
    al_signmem_free(m);
    /* no memory: nothing kept, nothing found, nothing fails */
    CHECK_EQ_INT(al_signmem_put(NULL, "S", "a", 1, "b", 1), AL_OK);
    CHECK_EQ_INT(get(NULL, "S", "b", &got), 0);
    CHECK(al_signmem_new(0, 100) == NULL);
}

TEST(the_least_recently_used_go_first_past_the_entry_and_byte_caps)
{
    al_signmem *m = al_signmem_new(3, 1 << 20);
    REQUIRE(m);
    char *got = NULL;
    al_signmem_put(m, "A", "oa", 2, "sa", 2);
    al_signmem_put(m, "B", "ob", 2, "sb", 2);
    al_signmem_put(m, "C", "oc", 2, "sc", 2);
    CHECK_EQ_INT(get(m, "A", "sa", &got), 1); /* A used: B is now the oldest */
    free(got);
    al_signmem_put(m, "D", "od", 2, "sd", 2);
    CHECK_EQ_INT(get(m, "B", "sb", &got), 0);
    CHECK_EQ_INT(get(m, "A", "sa", &got), 1);
    free(got);
    CHECK_EQ_INT(get(m, "D", "sd", &got), 1);
    free(got);
    size_t n, bytes;
    al_signmem_stats(m, &n, &bytes);
    CHECK_EQ_INT((int)n, 3);
    al_signmem_free(m);

    /* bytes: each entry here takes 1 + 40 + 40 + 3 = 84 bytes */
    m = al_signmem_new(100, 200);
    REQUIRE(m);
    char t[41];
    memset(t, 'x', 40);
    t[40] = '\0';
    CHECK_EQ_INT(al_signmem_put(m, "1", t, 40, t, 40), AL_OK);
    CHECK_EQ_INT(al_signmem_put(m, "2", t, 40, t, 40), AL_OK);
    CHECK_EQ_INT(al_signmem_put(m, "3", t, 40, t, 40), AL_OK);
    al_signmem_stats(m, &n, &bytes);
    CHECK_EQ_INT((int)n, 2);
    CHECK(bytes <= 200);
    CHECK_EQ_INT(get(m, "1", t, &got), 0);
    /* one entry over the cap alone is refused and drops nothing */
    char big[300];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_EQ_INT(al_signmem_put(m, "4", big, strlen(big), "s", 1), AL_ELIMIT);
    al_signmem_stats(m, &n, &bytes);
    CHECK_EQ_INT((int)n, 2);
    al_signmem_free(m);
}

/* Unit tests for util.c: the byte buffer and name tables. */
#include <errno.h>
#include <unistd.h>

#include "al.h"
#include "testing.h"

TEST(buf_append_should_grow_and_stay_nul_terminated)
{
    al_buf b = {0};
    for (int i = 0; i < 1000; i++) CHECK(al_buf_append(&b, "ab", 2) == AL_OK);
    CHECK_EQ_INT(b.len, 2000);
    CHECK_EQ_INT(b.data[b.len], 0);
    al_buf_consume(&b, 1998);
    CHECK_STR(b.data, "ab");
    al_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0);
}

TEST(buf_printf_should_format_like_printf)
{
    al_buf b = {0};
    CHECK(al_buf_printf(&b, "%s=%d", "n", 42) == AL_OK);
    CHECK_STR(b.data, "n=42");
    al_buf_free(&b);
}

TEST(category_and_action_names_should_round_trip)
{
    for (int c = 0; c < AL_CAT_COUNT; c++) {
        al_category back;
        CHECK(al_category_parse(al_category_name((al_category)c), &back) == 0 &&
              back == (al_category)c);
    }
    al_action a;
    CHECK(al_action_parse("redact", &a) == 0 && a == AL_ACT_REDACT);
    CHECK(al_action_parse("explode", &a) == -1);
    CHECK_STR(al_strerror(AL_EPARSE), "malformed input");
}

TEST(read_file_appends_whole_files_and_refuses_missing_or_oversize_ones)
{
    char path[] = "/tmp/al_util_XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "hello, file", 11) == 11);
    close(fd);
    al_buf b = {0};
    REQUIRE(al_buf_puts(&b, "> ") == AL_OK);
    CHECK_EQ_INT(al_read_file(path, 11, &b), AL_OK);
    CHECK_STR(b.data, "> hello, file");
    CHECK_EQ_INT(al_read_file(path, 10, &b), AL_ELIMIT); /* one byte too many */
    CHECK_STR(b.data, "> hello, file");                  /* left as it was */
    CHECK_EQ_INT(al_read_file("/nonexistent/airlock", 100, &b), AL_EIO);
    CHECK_EQ_INT(errno, ENOENT);
    CHECK_EQ_INT(al_read_file(NULL, 100, &b), AL_EIO);
    al_buf_free(&b);
    unlink(path);
}

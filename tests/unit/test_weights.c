/* test_weights.c: the weights manifest, the weight-file name test, hashing
 * a descriptor, the memo and the audit line. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../shim/weights.h"
#include "testing.h"

/* sha256("abc") and sha256("") */
static const char *ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
static const char *EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static void unhex(const char *h, unsigned char d[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        d[i] = (unsigned char)v;
    }
}

static int tmpfile_with(const char *content, size_t n, char path[64])
{
    strcpy(path, "/tmp/al_weights_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    if (n && write(fd, content, n) != (ssize_t)n) {
        close(fd);
        return -1;
    }
    return fd;
}

TEST(manifest_in_sha256sum_format_knows_each_digest_by_content)
{
    char text[512];
    snprintf(text, sizeof text,
             "# weights for the support bot\n\n%s  model.gguf\n%s *empty.safetensors\r\n", ABC,
             EMPTY);
    char err[256];
    al_weights *w = al_weights_parse(text, strlen(text), "m", err, sizeof err);
    REQUIRE(w != NULL);
    CHECK_EQ_INT(al_weights_count(w), 2);
    unsigned char d[32];
    const char *name = NULL;
    unhex(ABC, d);
    CHECK(al_weights_known(w, d, &name));
    CHECK_STR(name, "model.gguf");
    unhex(EMPTY, d);
    CHECK(al_weights_known(w, d, &name));
    CHECK_STR(name, "empty.safetensors");
    d[31] ^= 1;
    CHECK(!al_weights_known(w, d, NULL));
    al_weights_free(w);
}

TEST(a_sha256sum_line_escaped_for_a_newline_in_the_name_is_read)
{
    char text[512];
    snprintf(text, sizeof text, "\\%s  models/new\\nline.gguf\n%s  plain.gguf\n", ABC, EMPTY);
    char err[256];
    al_weights *w = al_weights_parse(text, strlen(text), "m", err, sizeof err);
    REQUIRE(w != NULL);
    CHECK_EQ_INT(al_weights_count(w), 2);
    unsigned char d[32];
    const char *name = NULL;
    unhex(ABC, d);
    CHECK(al_weights_known(w, d, &name));
    CHECK_STR(name, "models/new\\nline.gguf"); /* kept as written, on one line */
    al_weights_free(w);
    const char *two = "\\\\0000  x.bin\n"; /* one backslash only */
    CHECK(al_weights_parse(two, strlen(two), "w", err, sizeof err) == NULL);
}

TEST(broken_manifest_is_refused_with_file_and_line)
{
    char err[256];
    const char *bad = "# ok\nnot-a-digest  model.bin\n";
    CHECK(al_weights_parse(bad, strlen(bad), "w.sha256", err, sizeof err) == NULL);
    CHECK_STR(err, "w.sha256:2: expected 64 hex digits of a SHA-256 digest");
    char longer[160];
    snprintf(longer, sizeof longer, "%s0  x.bin\n", ABC);
    CHECK(al_weights_parse(longer, strlen(longer), "w", err, sizeof err) == NULL);
    CHECK(strstr(err, "w:1:") != NULL);
    const char *empty = "# nothing here\n\n";
    CHECK(al_weights_parse(empty, strlen(empty), "w", err, sizeof err) == NULL);
    CHECK(strstr(err, "no digests") != NULL);
    CHECK(al_weights_parse("", 0, "w", err, sizeof err) == NULL);
}

TEST(missing_manifest_file_names_the_path_and_reason)
{
    char err[256];
    CHECK(al_weights_load("/nonexistent/airlock/w.sha256", err, sizeof err) == NULL);
    CHECK(strstr(err, "/nonexistent/airlock/w.sha256: No such file") != NULL);
}

TEST(manifest_loads_from_a_file)
{
    char path[64], text[200];
    snprintf(text, sizeof text, "%s  a.pt\n", ABC);
    int fd = tmpfile_with(text, strlen(text), path);
    REQUIRE(fd >= 0);
    close(fd);
    char err[256];
    al_weights *w = al_weights_load(path, err, sizeof err);
    REQUIRE(w != NULL);
    CHECK_EQ_INT(al_weights_count(w), 1);
    al_weights_free(w);
    unlink(path);
}

TEST(weight_files_are_recognised_by_extension_of_the_last_component)
{
    CHECK(al_weights_is_weight_name("/models/llama-3-8b.Q4_K_M.gguf", NULL));
    CHECK(al_weights_is_weight_name("model.SAFETENSORS", NULL));
    CHECK(al_weights_is_weight_name("pytorch_model.bin", NULL));
    CHECK(al_weights_is_weight_name("ckpt/epoch3.pt", NULL));
    CHECK(al_weights_is_weight_name("clf.joblib", NULL));
    CHECK(al_weights_is_weight_name("model.onnx", NULL));
    CHECK(!al_weights_is_weight_name("/usr/lib/python3/os.py", NULL));
    CHECK(!al_weights_is_weight_name("/models.gguf/config.json", NULL));
    CHECK(!al_weights_is_weight_name(".bin", NULL));
    CHECK(!al_weights_is_weight_name("model.", NULL));
    CHECK(!al_weights_is_weight_name("/usr/bin", NULL));
    CHECK(!al_weights_is_weight_name("", NULL));
    CHECK(!al_weights_is_weight_name(NULL, NULL));
}

TEST(extension_list_can_be_narrowed)
{
    CHECK(al_weights_is_weight_name("m.gguf", "gguf,safetensors"));
    CHECK(al_weights_is_weight_name("m.SafeTensors", " .safetensors"));
    CHECK(!al_weights_is_weight_name("pytorch_model.bin", "gguf,safetensors"));
    CHECK(!al_weights_is_weight_name("m.gguf", "ggu"));
    CHECK(!al_weights_is_weight_name("m.gguf", ""));
}

TEST(python_path_files_are_not_mistaken_for_pytorch_weights)
{
    const unsigned char zip[] = "PK\x03\x04rest", pickle[] = {0x80, 0x02, 'c'},
                        text[] = "import site\n";
    CHECK(al_weights_content_is_weights("model.pth", zip, 8));
    CHECK(al_weights_content_is_weights("model.PTH", pickle, 3));
    CHECK(!al_weights_content_is_weights("/usr/lib/python3/dist-packages/distutils-precedence.pth",
                                         text, 12));
    CHECK(!al_weights_content_is_weights("empty.pth", text, 0));
    CHECK(al_weights_content_is_weights("model.gguf", text,
                                        12)); /* no sniffing: the digest decides */
}

TEST(hashing_a_descriptor_gives_sha256_and_leaves_the_offset)
{
    char path[64];
    int fd = tmpfile_with("abc", 3, path);
    REQUIRE(fd >= 0);
    CHECK_EQ_INT(lseek(fd, 1, SEEK_SET), 1);
    unsigned char d[32];
    char hex[65];
    CHECK_EQ_INT(al_weights_hash_fd(fd, d), AL_OK);
    al_weights_hex(d, hex);
    CHECK_STR(hex, ABC);
    CHECK_EQ_INT(lseek(fd, 0, SEEK_CUR), 1);
    close(fd);
    unlink(path);
    int e = tmpfile_with("", 0, path);
    REQUIRE(e >= 0);
    CHECK_EQ_INT(al_weights_hash_fd(e, d), AL_OK);
    al_weights_hex(d, hex);
    CHECK_STR(hex, EMPTY);
    close(e);
    unlink(path);
}

TEST(hashing_a_large_file_reads_all_of_it)
{
    char path[64];
    int fd = tmpfile_with("", 0, path);
    REQUIRE(fd >= 0);
    static char block[100000];
    memset(block, 'x', sizeof block);
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(write(fd, block, sizeof block), sizeof block);
    unsigned char d1[32], d2[32];
    CHECK_EQ_INT(al_weights_hash_fd(fd, d1), AL_OK);
    CHECK_EQ_INT(pwrite(fd, "y", 1, 250000), 1); /* one byte near the end changes it */
    CHECK_EQ_INT(al_weights_hash_fd(fd, d2), AL_OK);
    CHECK(memcmp(d1, d2, 32) != 0);
    close(fd);
    unlink(path);
}

TEST(hashing_a_closed_descriptor_is_an_io_error)
{
    unsigned char d[32];
    CHECK_EQ_INT(al_weights_hash_fd(-1, d), AL_EIO);
}

TEST(memo_answers_only_for_the_same_unchanged_file)
{
    al_weights_memo_clear();
    unsigned char d[32], out[32];
    unhex(ABC, d);
    int v = -1;
    CHECK(!al_weights_memo_get(1, 2, 3, 4, out, &v));
    al_weights_memo_put(1, 2, 3, 4, d, 1);
    CHECK(al_weights_memo_get(1, 2, 3, 4, out, &v));
    CHECK_EQ_INT(v, 1);
    CHECK(memcmp(out, d, 32) == 0);
    CHECK(!al_weights_memo_get(1, 2, 3, 5, out, &v));                           /* modified since */
    CHECK(!al_weights_memo_get(1, 2, 4, 4, out, &v));                           /* grew */
    CHECK(!al_weights_memo_get(1, 3, 3, 4, out, &v));                           /* another file */
    for (int i = 0; i < 200; i++) al_weights_memo_put(9, (ino_t)i, 1, 1, d, 0); /* evicts */
    CHECK(!al_weights_memo_get(1, 2, 3, 4, out, &v));
    al_weights_memo_clear();
}

TEST(audit_line_names_the_file_not_its_directory)
{
    al_buf b = {0};
    unsigned char d[32];
    unhex(ABC, d);
    CHECK_EQ_INT(al_weights_audit_format("/home/alice/secret-project/m.gguf", d, "refused",
                                         "enforce", "sha256 not in manifest", &b),
                 AL_OK);
    REQUIRE(b.data != NULL);
    CHECK(strstr(b.data, "\"event\":\"weights\"") != NULL);
    CHECK(strstr(b.data, "\"file\":\"m.gguf\"") != NULL);
    CHECK(strstr(b.data, "alice") == NULL);
    CHECK(strstr(b.data, ABC) != NULL);
    CHECK(strstr(b.data, "\"verdict\":\"refused\"") != NULL);
    CHECK(b.data[b.len - 1] == '\n');
    al_buf_free(&b);
}

/* Unit tests for sse.c: SSE event framing (data/event/id, multi-line data,
 * comments, LF and CRLF) and NDJSON lines, whole and split at every offset;
 * re-emitting an event with new data keeps its other lines. */
#include "sse.h"
#include "testing.h"

static const char STREAM[] = ": comment\n\nevent: delta\nid: 7\ndata: {\"a\":\n"
                             "data: 1}\n\r\ndata:x\r\n\r\ndata: [DONE]\n\n";

/* Parses the stream in two pieces split at cut; returns events seen. */
static int parse_split(size_t cut, al_buf *datas)
{
    al_buf acc = {0};
    int nev = 0;
    size_t last = 0;
    const char *parts[2] = {STREAM, STREAM + cut};
    size_t lens[2] = {cut, sizeof STREAM - 1 - cut};
    for (int p = 0; p < 2; p++) {
        al_buf_append(&acc, parts[p], lens[p]);
        for (;;) {
            al_sse_event ev;
            al_buf data = {0};
            long k = al_sse_next(acc.data, acc.len, last, &ev, &data);
            if (k == -2) {
                last = acc.len;
                al_buf_free(&data);
                break;
            }
            if (k < 0) {
                al_buf_free(&data);
                al_buf_free(&acc);
                return -1;
            }
            last = 0;
            if (ev.has_data) {
                al_buf_append(datas, data.data, data.len);
                al_buf_append(datas, "|", 1);
                nev++;
            }
            al_buf_free(&data);
            al_buf_consume(&acc, (size_t)k);
        }
    }
    al_buf_free(&acc);
    return nev;
}

TEST(sse_events_join_data_lines_and_skip_comments_at_every_split)
{
    for (size_t cut = 0; cut <= sizeof STREAM - 1; cut++) {
        al_buf d = {0};
        CHECK_EQ_INT(parse_split(cut, &d), 3);
        CHECK_STR(d.data, "{\"a\":\n1}|x|[DONE]|");
        al_buf_free(&d);
    }
}

/* As parse_split, through al_sse_view: the data read from ev.data; a
 * single data line must point into the stream and leave data empty. */
static int view_split(size_t cut, al_buf *datas, int *copied_single)
{
    al_buf acc = {0}, data = {0};
    int nev = 0;
    size_t last = 0;
    const char *parts[2] = {STREAM, STREAM + cut};
    size_t lens[2] = {cut, sizeof STREAM - 1 - cut};
    for (int p = 0; p < 2; p++) {
        al_buf_append(&acc, parts[p], lens[p]);
        for (;;) {
            al_sse_event ev;
            al_buf_reset(&data);
            long k = al_sse_view(acc.data, acc.len, last, &ev, &data);
            if (k == -2) {
                if (data.len) *copied_single = 1; /* an incomplete event leaves data as it was */
                last = acc.len;
                break;
            }
            if (k < 0) {
                nev = -1;
                goto out;
            }
            last = 0;
            if (ev.has_data) {
                int inside = ev.data >= acc.data && ev.data + ev.data_len <= acc.data + k;
                if (!memchr(ev.data, '\n', ev.data_len) && (!inside || data.len))
                    *copied_single = 1;
                al_buf_append(datas, ev.data, ev.data_len);
                al_buf_append(datas, "|", 1);
                nev++;
            } else if (ev.data || ev.data_len) {
                nev = -1;
                goto out;
            }
            al_buf_consume(&acc, (size_t)k);
        }
    }
out:
    al_buf_free(&data);
    al_buf_free(&acc);
    return nev;
}

TEST(sse_view_reads_one_data_line_in_place_and_joins_several_at_every_split)
{
    for (size_t cut = 0; cut <= sizeof STREAM - 1; cut++) {
        al_buf d = {0};
        int copied = 0;
        CHECK_EQ_INT(view_split(cut, &d, &copied), 3);
        CHECK_STR(d.data, "{\"a\":\n1}|x|[DONE]|");
        CHECK_EQ_INT(copied, 0);
        al_buf_free(&d);
    }
    /* a stream that opens with a byte order mark takes the other path */
    const char bom[] = "\xef\xbb\xbf"
                       "data: one\n\n";
    al_sse_event ev;
    al_buf data = {0};
    CHECK_EQ_INT(al_sse_view(bom, sizeof bom - 1, 0, &ev, &data), sizeof bom - 1);
    CHECK_EQ_INT((long)ev.data_len, 3);
    CHECK(ev.data && !memcmp(ev.data, "one", 3) && ev.data > bom);
    CHECK_EQ_INT((long)data.len, 0);
    al_buf_free(&data);
}

TEST(sse_event_reports_name_id_and_line_endings)
{
    const char e[] = "event: message_stop\r\nid: 3\r\ndata: {}\r\n\r\n";
    al_sse_event ev;
    al_buf data = {0};
    CHECK_EQ_INT(al_sse_next(e, sizeof e - 1, 0, &ev, &data), sizeof e - 1);
    CHECK(ev.event_len == 12 && !memcmp(ev.event, "message_stop", 12));
    CHECK(ev.id_len == 1 && ev.id[0] == '3');
    CHECK(ev.crlf);
    CHECK_STR(data.data, "{}");
    al_buf_free(&data);
}

TEST(sse_rewrite_keeps_event_and_id_lines_and_replaces_data)
{
    const char e[] = "event: delta\nid: 9\ndata: old\ndata: more\n\n";
    al_buf out = {0};
    CHECK_EQ_INT(al_sse_rewrite(e, sizeof e - 1, "new\nlines", 9, &out), AL_OK);
    CHECK_STR(out.data, "event: delta\nid: 9\ndata: new\ndata: lines\n\n");
    al_buf_reset(&out);
    const char c[] = "event: x\r\ndata: a\r\n\r\n";
    CHECK_EQ_INT(al_sse_rewrite(c, sizeof c - 1, "b", 1, &out), AL_OK);
    CHECK_STR(out.data, "event: x\r\ndata: b\r\n\r\n");
    al_buf_free(&out);
}

TEST(sse_stream_opening_with_a_byte_order_mark_still_yields_its_data)
{
    const char e[] = "\xef\xbb\xbf"
                     "data: {\"a\":1}\n\n";
    al_sse_event ev;
    al_buf data = {0}, out = {0};
    CHECK_EQ_INT(al_sse_next(e, sizeof e - 1, 0, &ev, &data), sizeof e - 1);
    CHECK(ev.has_data);
    CHECK_STR(data.data, "{\"a\":1}");
    CHECK_EQ_INT(al_sse_rewrite(e, sizeof e - 1, "{}", 2, &out), AL_OK);
    CHECK_STR(out.data, "\xef\xbb\xbf"
                        "data: {}\n\n");
    al_buf_free(&data);
    al_buf_free(&out);
}

TEST(incomplete_sse_event_leaves_the_data_buffer_as_it_was)
{
    const char e[] = "event: delta\ndata: {\"a\":\ndata: 1}\n";
    al_sse_event ev;
    al_buf data = {0};
    al_buf_puts(&data, "kept");
    for (size_t n = 0; n <= sizeof e - 1; n++) {
        CHECK_EQ_INT(al_sse_next(e, n, 0, &ev, &data), -2);
        CHECK_EQ_INT(data.len, 4);
        CHECK_STR(data.data, "kept");
        CHECK(!ev.has_data && !ev.event);
    }
    al_buf_free(&data);
}

TEST(oversized_sse_event_is_an_error_not_a_wait)
{
    size_t n = AL_SSE_MAX_EVENT + 2;
    char *b = malloc(n);
    memset(b, 'a', n);
    memcpy(b, "data: ", 6);
    al_sse_event ev;
    al_buf data = {0};
    CHECK_EQ_INT(al_sse_next(b, n, 0, &ev, &data), -1);
    al_buf_free(&data);
    free(b);
}

TEST(ndjson_lines_split_on_lf_and_strip_cr)
{
    const char s[] = "{\"a\":1}\r\n{\"b\":2}\n{\"c\"";
    size_t ll;
    long k = al_ndjson_next(s, sizeof s - 1, 0, &ll);
    CHECK_EQ_INT(k, 9);
    CHECK_EQ_INT(ll, 7);
    k = al_ndjson_next(s + 9, sizeof s - 1 - 9, 0, &ll);
    CHECK_EQ_INT(k, 8);
    CHECK_EQ_INT(al_ndjson_next(s + 17, sizeof s - 1 - 17, 0, &ll), -2);
}

/* sse.c: Server-Sent Events and NDJSON framing for streamed completions.
 * Finds event boundaries and reassembles multi-line data; never interprets
 * the JSON inside.  Bounded by AL_SSE_MAX_EVENT per event. */
#include <string.h>

#include "sse.h"

/* End of the event (just past the blank line) or 0.  A blank line is "\n"
 * directly after a line end. */
static size_t event_end(const char *buf, size_t len, size_t from)
{
    for (size_t i = from; i < len; i++) {
        const char *nl = memchr(buf + i, '\n', len - i);
        if (!nl) return 0;
        i = (size_t)(nl - buf);
        if (i == 0) return 1; /* stray blank line */
        if (buf[i - 1] == '\n') return i + 1;
        if (buf[i - 1] == '\r' && (i == 1 || buf[i - 2] == '\n')) return i + 1;
    }
    return 0;
}

static int has_bom(const char *s, size_t n)
{
    return n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3);
}

/* The data lines of an event being read: in data from mark on, joined
 * with "\n"; with view set, a first line is only noted (first, flen) and
 * copied when a second one comes. */
typedef struct {
    al_buf *data;
    size_t mark;
    int view;
    size_t n; /* data lines so far */
    const char *first;
    size_t flen;
} dlines;

static int data_line(dlines *d, const char *v, size_t n)
{
    if (d->view && d->n == 0) {
        d->first = v;
        d->flen = n;
    } else {
        if (d->view && d->n == 1 && al_buf_append(d->data, d->first, d->flen) != AL_OK) return -3;
        if (d->n && al_buf_append(d->data, "\n", 1) != AL_OK) return -3;
        if (al_buf_append(d->data, v, n) != AL_OK) return -3;
    }
    d->n++;
    return 0;
}

/* Points ev->data at the event's data lines. */
static void data_done(const dlines *d, al_sse_event *ev)
{
    if (!d->n) return;
    if (d->view && d->n == 1) {
        ev->data = d->first;
        ev->data_len = d->flen;
    } else {
        ev->data = d->data->data + d->mark;
        ev->data_len = d->data->len - d->mark;
    }
}

/* One line of an event, buf[p..ve) without its line end: fills ev and
 * takes a data line into d.  -3 when data cannot grow. */
static int field(const char *buf, size_t p, size_t ve, al_sse_event *ev, dlines *d)
{
    if (buf[p] == ':') return 0; /* comment */
    const char *colon = memchr(buf + p, ':', ve - p);
    size_t nend = colon ? (size_t)(colon - buf) : ve;
    size_t v = colon ? nend + 1 : ve;
    if (v < ve && buf[v] == ' ') v++;
    size_t nlen = nend - p;
    if (nlen == 4 && memcmp(buf + p, "data", 4) == 0) {
        if (data_line(d, buf + v, ve - v) != 0) return -3;
        ev->has_data = 1;
    } else if (nlen == 5 && memcmp(buf + p, "event", 5) == 0) {
        ev->event = buf + v;
        ev->event_len = ve - v;
    } else if (nlen == 2 && memcmp(buf + p, "id", 2) == 0) {
        ev->id = buf + v;
        ev->id_len = ve - v;
    } else if (nlen != 5 || memcmp(buf + p, "retry", 5) != 0) {
        ev->other = 1;
    }
    return 0;
}

/* The first look at an event: its lines are read as they are found, so a
 * complete event costs one search per line instead of a search for its end
 * and then one per line.  An incomplete one leaves data as it was and
 * returns -2 (or -1 past the cap); the caller's next call, with last_len set,
 * then searches for the end from where this one stopped.  Not for a stream
 * that opens with a byte order mark (event_end does not see a blank line
 * right after one). */
static long next_complete(const char *buf, size_t len, al_sse_event *ev, dlines *d)
{
    size_t p = 0;
    while (p < len) {
        const char *nl = memchr(buf + p, '\n', len - p);
        if (!nl) break;
        size_t le = (size_t)(nl - buf), ve = le;
        if (ve > p && buf[ve - 1] == '\r') {
            ve--;
            ev->crlf = 1;
        }
        if (ve == p) { /* the blank line: the event ends here (as event_end finds) */
            if (le + 1 > AL_SSE_MAX_EVENT) break;
            ev->raw_len = le + 1;
            data_done(d, ev);
            return (long)(le + 1);
        }
        if (field(buf, p, ve, ev, d) != 0) return -3;
        p = le + 1;
    }
    d->data->len = d->mark;
    if (d->data->data) d->data->data[d->mark] = '\0';
    memset(ev, 0, sizeof *ev);
    return len > AL_SSE_MAX_EVENT ? -1 : -2;
}

static long next_event(const char *buf, size_t len, size_t last_len, al_sse_event *ev, al_buf *data,
                       int view)
{
    memset(ev, 0, sizeof *ev);
    dlines d = {.data = data, .mark = data->len, .view = view};
    if (!last_len && !has_bom(buf, len)) return next_complete(buf, len, ev, &d);
    size_t from = last_len > 2 ? last_len - 2 : 0;
    size_t end = event_end(buf, len, from);
    if (!end) return len > AL_SSE_MAX_EVENT ? -1 : -2;
    if (end > AL_SSE_MAX_EVENT) return -1;
    ev->raw_len = end;
    size_t p = has_bom(buf, end) ? 3 : 0; /* a stream may open with a byte order mark */
    while (p < end) {
        const char *nl = memchr(buf + p, '\n', end - p);
        size_t le = (size_t)(nl - buf), ve = le;
        if (ve > p && buf[ve - 1] == '\r') {
            ve--;
            ev->crlf = 1;
        }
        if (ve == p || buf[p] == ':') { /* blank or comment */
            p = le + 1;
            continue;
        }
        if (field(buf, p, ve, ev, &d) != 0) return -3;
        p = le + 1;
    }
    data_done(&d, ev);
    return (long)end;
}

long al_sse_next(const char *buf, size_t len, size_t last_len, al_sse_event *ev, al_buf *data)
{
    return next_event(buf, len, last_len, ev, data, 0);
}

long al_sse_view(const char *buf, size_t len, size_t last_len, al_sse_event *ev, al_buf *data)
{
    /* the usual event, "data:" with one line and no "\r", ends at its
     * line's end plus a "\n": read as next_complete would, with one search */
    if (!last_len && len > 5 && !memcmp(buf, "data:", 5)) {
        const char *nl = memchr(buf + 5, '\n', len - 5);
        size_t le = nl ? (size_t)(nl - buf) : 0;
        if (nl && buf[le - 1] != '\r' && le + 1 < len && buf[le + 1] == '\n' &&
            le + 2 <= AL_SSE_MAX_EVENT) {
            size_t v = 5 + (le > 5 && buf[5] == ' ');
            memset(ev, 0, sizeof *ev);
            ev->has_data = 1;
            ev->data = buf + v;
            ev->data_len = le - v;
            ev->raw_len = le + 2;
            return (long)(le + 2);
        }
    }
    return next_event(buf, len, last_len, ev, data, 1);
}

static al_code put_data_lines(al_buf *out, const char *d, size_t n, const char *eol)
{
    size_t s = 0;
    for (;;) {
        const char *nl = memchr(d + s, '\n', n - s);
        size_t e = nl ? (size_t)(nl - d) : n;
        if (al_buf_append(out, "data: ", 6) || al_buf_append(out, d + s, e - s) ||
            al_buf_puts(out, eol))
            return AL_ENOMEM;
        if (!nl) return AL_OK;
        s = e + 1;
    }
}

al_code al_sse_rewrite(const char *raw, size_t raw_len, const char *data, size_t dlen, al_buf *out)
{
    int done = 0;
    size_t p = 0;
    const char *eol = "\n";
    if (has_bom(raw, raw_len)) {
        if (al_buf_append(out, raw, 3) != AL_OK) return AL_ENOMEM;
        p = 3;
    }
    while (p < raw_len) {
        const char *nl = memchr(raw + p, '\n', raw_len - p);
        size_t le = nl ? (size_t)(nl - raw) + 1 : raw_len;
        size_t ve = nl ? le - 1 : le;
        if (ve > p && raw[ve - 1] == '\r') {
            ve--;
            eol = "\r\n";
        }
        int is_data =
            ve - p >= 4 && memcmp(raw + p, "data", 4) == 0 && (ve - p == 4 || raw[p + 4] == ':');
        if (is_data) {
            if (!done && put_data_lines(out, data, dlen, eol) != AL_OK) return AL_ENOMEM;
            done = 1;
        } else if (ve == p && p + (le - p) == raw_len) {
            /* the final blank line: add data if there was none */
            if (!done && put_data_lines(out, data, dlen, eol) != AL_OK) return AL_ENOMEM;
            done = 1;
            if (al_buf_append(out, raw + p, le - p) != AL_OK) return AL_ENOMEM;
        } else if (al_buf_append(out, raw + p, le - p) != AL_OK) {
            return AL_ENOMEM;
        }
        p = le;
    }
    return AL_OK;
}

al_code al_sse_write(al_buf *out, const char *event, size_t event_len, const char *data,
                     size_t dlen, int crlf)
{
    const char *eol = crlf ? "\r\n" : "\n";
    if (event) {
        if (al_buf_append(out, "event: ", 7) || al_buf_append(out, event, event_len) ||
            al_buf_puts(out, eol))
            return AL_ENOMEM;
    }
    if (put_data_lines(out, data, dlen, eol) != AL_OK) return AL_ENOMEM;
    return al_buf_puts(out, eol);
}

long al_ndjson_next(const char *buf, size_t len, size_t last_len, size_t *line_len)
{
    size_t from = last_len;
    const char *nl = from < len ? memchr(buf + from, '\n', len - from) : NULL;
    if (!nl) return len > AL_SSE_MAX_EVENT ? -1 : -2;
    size_t e = (size_t)(nl - buf);
    if (e + 1 > AL_SSE_MAX_EVENT) return -1;
    *line_len = (e > 0 && buf[e - 1] == '\r') ? e - 1 : e;
    return (long)(e + 1);
}

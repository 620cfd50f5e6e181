/* sse.h: framing of streamed completions: Server-Sent Events (data/event/id
 * lines, multi-line data, comments, LF or CRLF) and NDJSON lines.
 * picohttpparser's contract: caller owns the buffer; -2 need more, -1 error.
 * Pure: no I/O. */
#ifndef AL_SSE_H
#define AL_SSE_H

#include "al.h"

#define AL_SSE_MAX_EVENT (4 * 1024 * 1024) /* one event or NDJSON line */

typedef struct {
    const char *event; /* value of the last "event:" field, or NULL (points into buf) */
    size_t event_len;
    const char *id; /* value of the last "id:" field, or NULL */
    size_t id_len;
    int has_data;     /* at least one data: line */
    int other;        /* a line that is neither a comment nor a field SSE defines
                         (data, event, id, retry): a client ignores it (not set by
                         al_sse_view's one-data-line fast path, which has none) */
    int crlf;         /* the event's lines end in CRLF */
    size_t raw_len;   /* bytes of the whole event incl. the blank line */
    const char *data; /* the data lines joined with "\n" (see al_sse_view), or NULL */
    size_t data_len;
} al_sse_event;

/* Finds one complete event at the start of buf[0..len).  last_len is the
 * length passed on the previous call for this event (0 at first), so the
 * search resumes there.  On success returns the event's raw length (> 0),
 * fills ev and appends the data lines, joined with "\n", to data (reset it
 * between events).  An event with no field (only comments or blank) is still
 * returned, with has_data 0.  Returns -2 when incomplete, -1 when the event
 * exceeds AL_SSE_MAX_EVENT, -3 when data cannot be allocated. */
AL_API long al_sse_next(const char *buf, size_t len, size_t last_len, al_sse_event *ev,
                        al_buf *data);

/* As al_sse_next, but the data is read from ev->data/ev->data_len: an event
 * with one data line (the usual one) points them into buf and copies
 * nothing; one with several joins them in data (appended, as al_sse_next
 * does) and points there.  NULL and 0 when the event has no data line. */
AL_API long al_sse_view(const char *buf, size_t len, size_t last_len, al_sse_event *ev,
                        al_buf *data);

/* Writes the raw event raw[0..raw_len) to out with its data lines replaced
 * by data[0..dlen) (split on "\n" into data lines, placed where the first
 * data line was); every other line (event:, id:, comments) is kept verbatim,
 * and the original line ending is used. */
AL_API al_code al_sse_rewrite(const char *raw, size_t raw_len, const char *data, size_t dlen,
                              al_buf *out);

/* Writes a new event: optional "event: name" line, then data lines. */
AL_API al_code al_sse_write(al_buf *out, const char *event, size_t event_len, const char *data,
                            size_t dlen, int crlf);

/* Finds one NDJSON line at the start of buf.  Returns the bytes consumed
 * including the line ending (> 0) and sets *line_len to the length without
 * "\n" / "\r\n"; -2 when no full line yet; -1 when the line exceeds
 * AL_SSE_MAX_EVENT. */
AL_API long al_ndjson_next(const char *buf, size_t len, size_t last_len, size_t *line_len);

#endif

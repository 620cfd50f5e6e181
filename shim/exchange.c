/* exchange.c: one LLM exchange at the message level: recognise the call,
 * screen its prompts, scrub its completion (whole or streamed), record it.
 * Pure: bytes in, bytes out; the only descriptor it touches is the audit
 * log's, and it never writes a prompt or completion text anywhere else. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "audit.h"
#include "budget.h"
#include "exchange.h"
#include "provider.h"
#include "scancache.h"
#include "signmem.h"
#include "sse.h"

/* The escapes of a JSON text fed to a scrubber, in order: each the bytes
 * after its backslash (one, or "u" and four hex digits).  A match that
 * starts right after a backslash ("\nd.okafor@example.org": the e-mail
 * takes the n) left "\<EMAIL_ADDRESS>", an invalid escape, and the
 * program's JSON parse of the tool call failed: where a placeholder follows
 * a backslash, quote_into puts back the rest of the escape the input had. */
typedef struct {
    al_buf q;    /* escape bodies, in order */
    size_t head; /* the body the released text's last backslash stands for */
    size_t pos;  /* bytes of it the released text has shown */
    int in;      /* input side: -1 after a backslash, >0: bytes of a body to come */
} esc_q;

/* Records the escapes of input s[0..n). */
static al_code esc_collect(esc_q *e, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (e->in == -1)
            e->in = c == 'u' ? 4 : 0;
        else if (e->in > 0)
            e->in--;
        else if (c == '\\') {
            e->in = -1;
            continue;
        } else
            continue;
        if (al_buf_append(&e->q, &c, 1) != AL_OK) return AL_ENOMEM;
    }
    return AL_OK;
}

typedef struct {
    int key;
    al_stream_scrub *s;
    al_buf rel;      /* released text not yet given to an event */
    size_t taken;    /* drain: bytes at the front of rel given to events so far
                      * (dropped once, when drain ends; 0 outside drain) */
    al_buf pend;     /* delta text not yet fed to the scrubber (see flush_batch) */
    al_buf *win;     /* one_event: s's window, room bytes of which it may fill itself */
    size_t room;     /* (al_stream_scrub_tail; 0 once anything else calls s) */
    int ended;       /* the text of this key is complete */
    cJSON *tmpl;     /* first event that carried a delta for this key */
    al_buf src;      /* or, when src.len, that event's JSON bytes as they came:
                      * parsed into tmpl the first time it is needed (synth_keys),
                      * which most streams never are, instead of copied as a tree */
    char evname[64]; /* its SSE event name ("" when none) */
    int json;        /* its text is JSON (tool-call arguments): see quote_bare */
    int jst;         /* where its released text is: JS_* */
    esc_q esc;       /* when json: the escapes of its text (see esc_q) */
    size_t nfound;   /* the scrubber's findings already looked at for a block */
    int monitor;     /* AIRLOCK_MODE=monitor: a block is recorded (blocked_seen), not done */
    int blocked_seen;
    /* a signed text (an Anthropic thinking block, io_sign): its text as it
     * came (orig) and as released (shown), kept until it ends and its
     * signature (sig, malloc'd) is known, then remembered (signmem.h) */
    int keep;
    al_buf orig, shown;
    char *sig;
} skey;

/* Tool-call arguments are JSON in a string.  The scrubber reads them as
 * text, so a value written as a bare number (a card, a phone) became a bare
 * placeholder and the arguments no longer parsed: the program's json.loads
 * failed.  A placeholder outside any JSON string (where '<' cannot be in
 * valid JSON) is put in quotes.  JS_*: outside a string, in one, after its
 * backslash, in a bare placeholder. */
enum { JS_OUT, JS_STR, JS_ESC, JS_PH };

/* 1 when a delta or whole text at node is tool-call arguments (JSON). */
static int json_text(const cJSON *node, const cJSON *event)
{
    const char *n = node ? node->string : NULL;
    if (!n) return 0;
    if (!strcmp(n, "arguments") || !strcmp(n, "partial_json")) return 1;
    const cJSON *t = event ? cJSON_GetObjectItemCaseSensitive(event, "type") : NULL;
    return !strcmp(n, "delta") && cJSON_IsString(t) &&
           (!strcmp(t->valuestring, "response.function_call_arguments.delta") ||
            !strcmp(t->valuestring, "response.mcp_call_arguments.delta"));
}

/* Quotes the bare placeholders of s[0..n) into out, from state *st, and
 * puts back the escapes a placeholder took (e: the input's, or NULL). */
static al_code quote_into(const char *s, size_t n, int *st, esc_q *e, al_buf *out)
{
    size_t i = 0, last = 0;
    for (; i < n; i++) {
        char ch = s[i];
        int q = 0; /* 1: a quote goes before ch, 2: after it */
        if (*st == JS_ESC && e && e->head < e->q.len) {
            size_t blen = e->q.data[e->head] == 'u' ? 5 : 1;
            if (blen > e->q.len - e->head) blen = e->q.len - e->head;
            if (ch == '<' && e->pos < blen) { /* the escape's rest went into the match */
                if (al_buf_append(out, s + last, i - last) != AL_OK ||
                    al_buf_append(out, e->q.data + e->head + e->pos, blen - e->pos) != AL_OK)
                    return AL_ENOMEM;
                last = i;
                e->pos = blen;
            } else {
                e->pos++;
            }
            if (e->pos >= blen) {
                e->head += blen;
                e->pos = 0;
                *st = JS_STR;
            }
            continue;
        }
        switch (*st) {
        case JS_OUT:
            if (ch == '"')
                *st = JS_STR;
            else if (ch == '<')
                *st = JS_PH, q = 1;
            break;
        case JS_STR:
            if (ch == '\\') {
                *st = JS_ESC;
                if (e) e->pos = 0;
            } else if (ch == '"')
                *st = JS_OUT;
            break;
        case JS_ESC:
            *st = JS_STR;
            break;
        default:
            if (ch == '>') *st = JS_OUT, q = 2;
            break;
        }
        if (!q) continue;
        size_t upto = q == 1 ? i : i + 1;
        if (al_buf_append(out, s + last, upto - last) != AL_OK ||
            al_buf_append(out, "\"", 1) != AL_OK)
            return AL_ENOMEM;
        last = upto;
    }
    if (e && e->head == e->q.len && e->in == 0) e->head = e->q.len = 0; /* all shown */
    return al_buf_append(out, s + last, n - last);
}

/* k->rel[from..) was just released for a JSON key: its bare placeholders
 * are quoted (see JS_*). */
static al_code quote_bare(skey *k, size_t from)
{
    size_t n = k->rel.len - from;
    if (!n) return AL_OK; /* nothing released (rel.data may still be NULL) */
    const char *p = k->rel.data + from;
    if (!memchr(p, '<', n) && !memchr(p, '"', n) && k->jst == JS_OUT) return AL_OK;
    al_buf t = {0};
    al_code r = quote_into(p, n, &k->jst, &k->esc, &t);
    if (r == AL_OK && t.len != n) {
        k->rel.len = from;
        r = al_buf_append(&k->rel, t.data, t.len);
    }
    al_buf_free(&t);
    return r;
}

typedef struct {
    int key;
    cJSON *node;
} cdelta;

#define ARENA0 16384 /* the arena's first size */

/* A queued event's bytes and text are copies in the exchange's arena
 * (x->arena), so queueing an event costs no allocation of its own.  The
 * arena is a ring: an event's bytes (and its text copy, if any) are written
 * whole at arena.len, or from 0 when they do not fit before the end of the
 * buffer but do before the front event's (see ring_at); they never move
 * while queued, except when the ring is too small (arena_grow). */
typedef struct {
    size_t raw_off; /* the event as received (or synthesized) */
    size_t rawlen;
    size_t text_off; /* that text in the arena: inside the event's bytes when
                      * it lies there as it is, else a copy after them */
    size_t tlen;
    cJSON *ev;    /* parsed event, owned; NULL for raw-only items and for a
                   * delta event taken through the shape (parsed if it must
                   * be rebuilt) */
    cJSON *node;  /* the delta's node in ev */
    uint64_t seq; /* order of queueing in the exchange (1, 2, ...) */
    int key;
    /* (flags side by side: put_delta sets them with one store) */
    unsigned char has_text; /* it carries delta text of key */
    unsigned char changed;  /* ev was changed (whole-text scrub) */
    unsigned char empty;    /* its text was given to an earlier event */
    unsigned char plain;    /* has_text && !changed && !empty: drain's usual event */
} qitem;

/* The shape of a stream's delta events: the JSON data of an event that
 * carried exactly one delta and nothing else, with a hole where the delta
 * string's content was.  An event whose data is the same bytes around a
 * different string content parses to the same tree with only that string
 * changed (checked once with cJSON on two probes), so it reports the same
 * single delta of the same key and its text is all that needs reading. */
typedef struct {
    int valid;
    al_buf data;   /* the event's data */
    size_t s0, s1; /* the hole: data[s0..s1) is the string's content */
    int key;
    size_t ki;     /* x->keys[ki] is key's (keys are never removed) */
    char name[64]; /* SSE event name */
    size_t name_len;
    int builds;   /* shapes built this exchange (capped) */
    int oneline;  /* data holds no '\n' nor '\r' (see shape_frame) */
    int framed;   /* valid, oneline and no event name: shape_frame may match */
    int one;      /* framed, SSE, its key the stream's only one (keys[0]) and not
                   * ended, not monitor: one_event may take a call (cleared when
                   * a key is added or ends) */
    al_buf frame; /* when oneline: "data: " + data[0..s0) + data[s1..] + "\n\n", */
    size_t fhead; /* the event's bytes around the text; fhead: 6 + s0 */
    al_buf whole; /* when one: for each text length n of 1..8, the frame with an n-byte
                   * hole for the text at fhead, WSTRIDE(frame.len) bytes from the one of
                   * n - 1 (empty: none), so that one_event compares an event with one
                   * memcmp, its text copied into the hole first */
} shape_t;

/* the room each of shape_t.whole's frames takes */
#define WSTRIDE(flen) ((flen) + 8)

struct al_exchange {
    const al_ctx *ctx;
    const al_provider *prov;
    al_api api;
    int llm;
    int get;             /* a stored reply read back with GET: no prompt, nothing to count */
    size_t prompt_bytes; /* prompt text screened: the token estimate when no usage is reported */
    al_audit_rec rec;
    char host[128], path[256], model[128];
    al_resp_mode mode;
    int sse;   /* stream framing: 1 SSE, 0 NDJSON */
    int sniff; /* a stream was asked for, its label does not say SSE: the body's first bytes
                * decide (sniff_body) */
    int ended; /* the stream's end event was seen */
    int cut;   /* the reply was cut off: drop the rest */
    int early; /* the connection closed before the end: scrubbers cut, not flushed */
    int resp_begun;
    al_buf body; /* WHOLE: the body so far; stream: bytes not yet framed */
    size_t last_len;
    al_buf data, tmp;
    al_buf scratch, tree; /* shape probes and matches; a queued event re-parsed */
    skey *keys;
    size_t nkeys, capkeys;
    qitem *q; /* events waiting for their text to settle: q[qh..qn) (drain
               * takes from the front without moving the rest) */
    size_t qh, qn, qcap;
    uint64_t qseq; /* events queued so far */
    size_t nev;    /* queued events holding a tree (ev): item_free has work */
    al_buf arena;  /* their bytes and texts */
    /* The last drain stopped at the front event, its text not yet released:
     * the next drain stops there too, emitting nothing, while that event is
     * still the front one (held_seq), its key has not ended and its
     * released text is the same (no key's text was cut since, rel_cuts, and
     * its length is held_rel, so nothing was added either). */
    int held;
    int held_ok;                            /* one_event found the held test true and nothing but
                                             * one_event has run since: while its feeds release nothing
                                             * (rel.len as it was), the test still holds */
    uint64_t held_seq, held_cuts, rel_cuts; /* rel_cuts: consumes and resets of a rel */
    size_t nended; /* keys whose text is complete (synth_rest has work only then) */
    size_t held_rel;
    /* the event being processed */
    cdelta *cur;
    size_t ncur, capcur;
    int ev_changed;
    int comp_block; /* a completion text holds what the completion policy blocks */
    int ev_other;   /* end, end_all or whole calls for the event being walked */
    shape_t shape;
    const char *ev_name;
    size_t ev_name_len;
    /* the event stream_event hands to the provider: its tree and the bytes
     * it was parsed from (ev_src NULL once the tree may differ from them) */
    const cJSON *ev_root;
    const char *ev_src;
    size_t ev_src_len;
    al_stream_io io;
    /* al_exchange_set_sink: queued bytes bound for an empty sink_to go to sink */
    al_buf *sink_to;
    al_exchange_sink sink;
    void *sink_ud;
};

static int monitor(const al_exchange *x)
{
    return x->ctx->mode == AL_MODE_MONITOR;
}

static void set_fail(al_exchange *x, const char *why)
{
    if (!x->rec.fail) x->rec.fail = why;
}

static void record(al_exchange *x, const al_finding *f, size_t n, int completion, int changed)
{
    size_t end = 0; /* overlapping findings are one redaction */
    for (size_t i = 0; i < n; i++) {
        if (f[i].action == AL_ACT_ALLOW) continue;
        al_audit_rule(&x->rec, f[i].rule);
        int overlaps = i > 0 && f[i].start < end;
        if (f[i].end > end) end = f[i].end;
        if (f[i].action == AL_ACT_REDACT && changed && !overlaps)
            al_audit_redaction(&x->rec, f[i].entity ? f[i].entity : al_category_name(f[i].category),
                               completion);
    }
}

/* ---- streaming ----
 * Events wait in a queue while their key's scrubber holds text back.  As
 * long as the released text equals the original deltas, the original event
 * bytes go out unchanged (a clean stream stays byte-identical); once a
 * redaction changes the text, the affected events are re-emitted with the
 * released text. */

static skey *find_key(al_exchange *x, int key)
{
    for (size_t i = 0; i < x->nkeys; i++)
        if (x->keys[i].key == key) return &x->keys[i];
    return NULL;
}

static skey *get_key(al_exchange *x, int key, const cJSON *event)
{
    skey *k = find_key(x, key);
    if (k) return k;
    if (x->nkeys == 256) return NULL; /* cap: a stream with more texts is cut */
    if (x->nkeys == x->capkeys) {
        size_t cap = x->capkeys ? x->capkeys * 2 : 4;
        skey *v = realloc(x->keys, cap * sizeof *v);
        if (!v) return NULL;
        x->keys = v;
        x->capkeys = cap;
    }
    k = &x->keys[x->nkeys];
    memset(k, 0, sizeof *k);
    k->key = key;
    k->monitor = monitor(x);
    k->s = al_stream_scrub_new(al_ctx_engine(x->ctx), &x->ctx->policy);
    int ok = 1;
    if (event && event == x->ev_root && x->ev_src && x->ev_src_len)
        ok = al_buf_append(&k->src, x->ev_src, x->ev_src_len) ==
             AL_OK; /* (parse_json makes it again) */
    else if (event)
        ok = (k->tmpl = cJSON_Duplicate(event, 1)) != NULL;
    if (!k->s || !ok) {
        al_stream_scrub_free(k->s);
        cJSON_Delete(k->tmpl);
        al_buf_free(&k->src);
        return NULL;
    }
    size_t n = x->ev_name_len < sizeof k->evname - 1 ? x->ev_name_len : 0;
    if (x->ev_name && n) memcpy(k->evname, x->ev_name, n);
    k->evname[n] = '\0';
    x->nkeys++;
    x->shape.one = 0; /* (a shape is built once its key exists) */
    return k;
}

static al_code set_string(cJSON *node, const char *s)
{
    return cJSON_SetValuestring(node, s) ? AL_OK : AL_ENOMEM;
}

static al_code io_delta(al_stream_io *io, int key, cJSON *node, const cJSON *event)
{
    al_exchange *x = (al_exchange *)((char *)io - offsetof(al_exchange, io));
    if (!cJSON_IsString(node)) return AL_OK;
    skey *k = get_key(x, key, event);
    if (!k) return AL_ENOMEM;
    if (!k->json && json_text(node, event)) k->json = 1;
    if (al_buf_puts(&k->pend, node->valuestring) != AL_OK) return AL_ENOMEM;
    if (x->ncur == x->capcur) {
        size_t cap = x->capcur ? x->capcur * 2 : 4;
        cdelta *v = realloc(x->cur, cap * sizeof *v);
        if (!v) return AL_ENOMEM;
        x->cur = v;
        x->capcur = cap;
    }
    x->cur[x->ncur].key = key;
    x->cur[x->ncur].node = node;
    x->ncur++;
    return AL_OK;
}

/* Feeds the key's waiting delta text to its scrubber. */
/* AL_EBLOCKED when the scrubber found, since the last look, what the
 * completion policy blocks; the text released with it is then taken back
 * (rel cut to from), so the stream ends before it. */
static al_code block_found(skey *k, size_t from)
{
    size_t n = 0;
    const al_finding *f = al_stream_scrub_findings(k->s, &n);
    int block = 0;
    for (size_t i = k->nfound; i < n; i++) block |= f[i].action == AL_ACT_BLOCK;
    k->nfound = n;
    if (!block) return AL_OK;
    k->blocked_seen = 1;
    if (k->monitor) return AL_OK;
    if (k->rel.len > from) {
        k->rel.len = from;
        if (k->rel.data) k->rel.data[from] = '\0';
    }
    return AL_EBLOCKED;
}

/* A signed key's text is complete (end_key; the flush released
 * rel[from..)) or its signature came (io_sign): once both, a text the
 * scrubber changed is remembered under its signature.  The stream never
 * fails for it: a text not remembered only makes the provider refuse the
 * block if the program sends it back. */
static al_code keep_signed(al_exchange *x, skey *k, size_t from)
{
    if (from < k->rel.len &&
        al_buf_append(&k->shown, k->rel.data + from, k->rel.len - from) != AL_OK)
        return AL_ENOMEM;
    if (!k->ended || !k->sig || x->early || k->monitor) return AL_OK;
    if (k->orig.len != k->shown.len ||
        (k->orig.len && memcmp(k->orig.data, k->shown.data, k->orig.len)))
        al_signmem_put(x->ctx->signmem, k->sig, k->orig.data, k->orig.len, k->shown.data,
                       k->shown.len);
    k->keep = 0;
    al_buf_free(&k->orig);
    al_buf_free(&k->shown);
    return AL_OK;
}

static al_code feed_key(skey *k)
{
    if (!k->pend.len) return AL_OK;
    size_t from = k->rel.len;
    if (k->json && esc_collect(&k->esc, k->pend.data, k->pend.len) != AL_OK) return AL_ENOMEM;
    if (k->keep && al_buf_append(&k->orig, k->pend.data, k->pend.len) != AL_OK) return AL_ENOMEM;
    k->room = 0;
    al_code r = al_stream_scrub_feed(k->s, k->pend.data, k->pend.len, &k->rel);
    if (r == AL_OK) r = block_found(k, from);
    if (r == AL_OK && k->json) r = quote_bare(k, from);
    if (r == AL_OK && k->keep && k->rel.len > from)
        r = al_buf_append(&k->shown, k->rel.data + from, k->rel.len - from);
    k->pend.len = 0; /* as al_buf_reset */
    k->pend.data[0] = '\0';
    return r;
}

static al_code feed_all(al_exchange *x)
{
    for (size_t i = 0; i < x->nkeys; i++) {
        al_code r = feed_key(&x->keys[i]);
        if (r != AL_OK) return r;
    }
    return AL_OK;
}

static al_code end_key(al_exchange *x, skey *k)
{
    if (!k->ended) x->nended++;
    x->shape.one = 0;
    k->ended = 1;
    al_code r = feed_key(k);
    size_t from = k->rel.len;
    if (r == AL_OK)
        k->room = 0,
        r = x->early ? al_stream_scrub_cut(k->s, &k->rel) : al_stream_scrub_flush(k->s, &k->rel);
    if (r == AL_OK) r = block_found(k, from);
    if (r == AL_OK && k->keep) r = keep_signed(x, k, from);
    return r == AL_OK && k->json ? quote_bare(k, from) : r;
}

static al_code io_end(al_stream_io *io, int key, cJSON *node)
{
    al_exchange *x = (al_exchange *)((char *)io - offsetof(al_exchange, io));
    x->ev_other++;
    skey *k = find_key(x, key);
    return k ? end_key(x, k) : AL_OK;
}

static al_code io_sign(al_stream_io *io, int key, const char *sig)
{
    al_exchange *x = (al_exchange *)((char *)io - offsetof(al_exchange, io));
    skey *k = find_key(x, key);
    if (!k || k->monitor || !x->ctx->signmem) return AL_OK;
    if (!sig) { /* right after the key's first delta, before any is fed */
        if (!k->orig.len && !k->shown.len && !k->sig) k->keep = 1;
        return AL_OK;
    }
    if (!k->keep || k->sig) return AL_OK;
    if (!(k->sig = strdup(sig))) return AL_ENOMEM;
    return k->ended ? keep_signed(x, k, k->rel.len) : AL_OK;
}

static al_code io_end_all(al_stream_io *io)
{
    al_exchange *x = (al_exchange *)((char *)io - offsetof(al_exchange, io));
    x->ev_other++;
    for (size_t i = 0; i < x->nkeys; i++) {
        al_code r = end_key(x, &x->keys[i]);
        if (r != AL_OK) return r;
    }
    x->ended = 1;
    return AL_OK;
}

/* An io that only notes what a provider reports for an event (no scrubber
 * is fed): finds the delta node of a parsed event and checks a shape. */
typedef struct {
    al_stream_io io;
    int ndelta, nother, key;
    cJSON *node;
} note_io;

static al_code note_delta(al_stream_io *io, int key, cJSON *node, const cJSON *event)
{
    note_io *n = (note_io *)io;
    if (!cJSON_IsString(node)) return AL_OK;
    n->ndelta++;
    n->key = key;
    n->node = node;
    return AL_OK;
}

static al_code note_end(al_stream_io *io, int key, cJSON *node)
{
    ((note_io *)io)->nother++;
    return AL_OK;
}

static al_code note_end_all(al_stream_io *io)
{
    ((note_io *)io)->nother++;
    return AL_OK;
}

static al_code note_whole(al_stream_io *io, cJSON *node)
{
    ((note_io *)io)->nother++;
    return AL_OK;
}

static al_code note_event(const al_exchange *x, const char *name, cJSON *ev, note_io *n)
{
    memset(n, 0, sizeof *n);
    n->io.delta = note_delta;
    n->io.end = note_end;
    n->io.end_all = note_end_all;
    n->io.whole = note_whole;
    return x->prov->stream_event(x->api, name, ev, &n->io);
}

static cJSON *parse_json(const char *s, size_t n);

/* Parses a queued delta event taken through the shape, for rebuilding:
 * sets it->ev and it->node. */
static al_code item_tree(al_exchange *x, qitem *it)
{
    const char *raw = x->arena.data + it->raw_off, *d = raw, *name = NULL;
    size_t dl = it->rawlen, name_len = 0;
    al_buf_reset(&x->tree);
    if (x->sse) {
        al_sse_event se;
        if (al_sse_next(raw, it->rawlen, 0, &se, &x->tree) <= 0) return AL_ENOMEM;
        d = x->tree.data ? x->tree.data : "";
        dl = x->tree.len;
        name = se.event;
        name_len = se.event_len;
    } else if (al_ndjson_next(raw, it->rawlen, 0, &dl) <= 0) {
        return AL_ENOMEM;
    }
    (void)name_len;
    cJSON *ev = parse_json(d, dl);
    if (!ev) return AL_ENOMEM; /* it parsed before: only memory can fail now */
    note_io n;
    if (note_event(x, name, ev, &n) != AL_OK || n.ndelta != 1) {
        cJSON_Delete(ev);
        return AL_ENOMEM;
    }
    it->ev = ev;
    it->node = n.node;
    x->nev++;
    return AL_OK;
}

/* Raw event bytes of the arena not yet written: arena[off..off+len).
 * Events that go out as received and lie back to back in the arena are
 * written with one copy (run_flush before anything else is written, and
 * before the arena moves), or none: handed to the sink from the arena. */
typedef struct {
    size_t off, len;
} run_t;

static al_code run_flush(al_exchange *x, run_t *run, al_buf *out)
{
    if (!run->len) return AL_OK;
    al_code r = out == x->sink_to && !out->len
                    ? x->sink(x->sink_ud, x->arena.data + run->off, run->len)
                    : al_buf_add(out, x->arena.data + run->off, run->len);
    run->len = 0;
    return r;
}

/* Writes an event: the raw bytes when text is NULL and nothing else changed
 * (added to run), else the event rebuilt with its delta node set to text. */
static al_code emit_item(al_exchange *x, qitem *it, const char *text, size_t tlen, al_buf *out,
                         run_t *run)
{
    const char *raw = x->arena.data + it->raw_off, *own = x->arena.data + it->text_off;
    int same = !text || !it->has_text || (tlen == it->tlen && !memcmp(text, own, tlen));
    al_code r;
    if (same && !it->changed) {
        if (run->len && run->off + run->len == it->raw_off) {
            run->len += it->rawlen;
            return AL_OK;
        }
        if ((r = run_flush(x, run, out)) != AL_OK) return r;
        run->off = it->raw_off;
        run->len = it->rawlen;
        return AL_OK;
    }
    if ((r = run_flush(x, run, out)) != AL_OK) return r;
    if (!it->ev && (r = item_tree(x, it)) != AL_OK) return r;
    if (!same) {
        char *t = strndup(text, tlen);
        if (!t) return AL_ENOMEM;
        r = set_string(it->node, t);
        free(t);
        if (r != AL_OK) return r;
    }
    /* the event's tokens as log probabilities would give away what the
     * scrubber rewrote or holds back */
    al_drop_logprobs(it->ev);
    al_buf_reset(&x->data);
    r = al_json_print(it->ev, &x->data);
    if (r != AL_OK) return r;
    raw = x->arena.data + it->raw_off; /* item_tree did not move the arena */
    if (x->sse) return al_sse_rewrite(raw, it->rawlen, x->data.data, x->data.len, out);
    if ((r = al_buf_append(out, x->data.data, x->data.len)) != AL_OK) return r;
    return al_buf_append(out, "\n", 1);
}

static void item_free(al_exchange *x, qitem *it)
{
    if (!it->ev) return;
    cJSON_Delete(it->ev);
    x->nev--;
    it->ev = NULL;
    it->node = NULL;
}

/* Where n bytes of an event (and a NUL after them) go in the ring: at the
 * write end (arena.len) when they fit before the end of the buffer, else at
 * 0 when they fit before the front event's bytes; SIZE_MAX when neither.
 * The ring has wrapped when the front event's bytes lie at or after the
 * write end (every event holds at least one byte). */
static inline size_t ring_at(const al_exchange *x, size_t n)
{
    size_t wr = x->arena.len, cap = x->arena.cap;
    if (x->qh == x->qn) return n < cap ? 0 : SIZE_MAX; /* nothing live */
    size_t head = x->q[x->qh].raw_off;
    if (head < wr) return n < cap - wr ? wr : n < head ? 0 : SIZE_MAX;
    return n < head - wr ? wr : SIZE_MAX;
}

/* Bytes of a queued event in the arena: its bytes, and its text copy when
 * that follows them (queue_push). */
static size_t item_span(const qitem *it)
{
    size_t end = it->raw_off + it->rawlen;
    if (it->has_text && it->text_off + it->tlen > end) end = it->text_off + it->tlen;
    return end - it->raw_off;
}

/* Copies the queued events, in order, into a new arena with room for n more
 * bytes after them (twice the size, at least ARENA0); arena.len is then
 * where they go.  On failure the arena is as it was. */
static al_code arena_grow(al_exchange *x, size_t n)
{
    size_t live = 0;
    for (size_t i = x->qh; i < x->qn; i++) live += item_span(&x->q[i]);
    if (live > SIZE_MAX / 4 || n > SIZE_MAX / 4 - live) return AL_ENOMEM;
    /* a stream's queue holds some KB: the arena starts at ARENA0, not 64 bytes */
    size_t cap = x->arena.cap ? x->arena.cap * 2 : ARENA0;
    while (cap <= live + n + 1) cap *= 2;
    char *d = malloc(cap);
    if (!d) return AL_ENOMEM;
    size_t at = 0;
    for (size_t i = x->qh; i < x->qn; i++) {
        qitem *it = &x->q[i];
        size_t sp = item_span(it);
        memcpy(d + at, x->arena.data + it->raw_off, sp);
        if (it->has_text) it->text_off = it->text_off - it->raw_off + at;
        it->raw_off = at;
        at += sp;
    }
    d[at] = '\0';
    free(x->arena.data);
    x->arena.data = d;
    x->arena.len = at;
    x->arena.cap = cap;
    return AL_OK;
}

/* Room for one more item in the queue's array when it is full (qn ==
 * qcap): the queue moved to its front when half the array is free there,
 * else the array doubled.  On failure the queue is as it was. */
static __attribute__((noinline)) al_code queue_room(al_exchange *x)
{
    if (x->qh && x->qh >= x->qcap / 2) {
        /* half the array is free at the front: move the queue there */
        memmove(x->q, x->q + x->qh, (x->qn - x->qh) * sizeof *x->q);
        x->qn -= x->qh;
        x->qh = 0;
        return AL_OK;
    }
    size_t cap = x->qcap ? x->qcap * 2 : 64;
    qitem *v = realloc(x->q, cap * sizeof *v);
    if (!v) return AL_ENOMEM;
    x->q = v;
    x->qcap = cap;
    return AL_OK;
}

/* Queues an event.  text (tlen bytes): its delta text for key, or NULL
 * (text that lies inside raw is not copied again).  ev (owned by the queue
 * once this succeeds) and node may be NULL. */
static al_code queue_push(al_exchange *x, const char *raw, size_t rawlen, cJSON *ev, cJSON *node,
                          const char *text, size_t tlen, int key, int changed)
{
    if (x->qn == x->qcap && queue_room(x) != AL_OK) return AL_ENOMEM;
    /* the text's place in raw, when it lies there */
    int inraw = text && (uintptr_t)text >= (uintptr_t)raw &&
                (uintptr_t)text - (uintptr_t)raw <= rawlen && tlen <= rawlen - (size_t)(text - raw);
    size_t extra = text && !inraw ? tlen : 0;
    /* room first: a failure leaves the arena as it was */
    size_t at = ring_at(x, rawlen + extra);
    if (at == SIZE_MAX) {
        if (arena_grow(x, rawlen + extra) != AL_OK) return AL_ENOMEM;
        at = x->arena.len;
    }
    qitem *it = &x->q[x->qn];
    memset(it, 0, sizeof *it);
    it->seq = ++x->qseq;
    char *a = x->arena.data + at;
    if (rawlen) memcpy(a, raw, rawlen);
    it->raw_off = at;
    it->rawlen = rawlen;
    if (text) {
        it->has_text = 1;
        it->tlen = tlen;
        if (inraw) {
            it->text_off = at + (size_t)(text - raw);
        } else {
            it->text_off = at + rawlen;
            if (tlen) memcpy(a + rawlen, text, tlen);
        }
    }
    x->arena.len = at + rawlen + extra;
    x->arena.data[x->arena.len] = '\0';
    it->ev = ev;
    it->node = node;
    if (ev) x->nev++;
    it->key = text ? key : -1;
    it->changed = changed;
    it->plain = text && !changed;
    x->qn++;
    return AL_OK;
}

/* Writes the delta event raw[0..rawlen) (its text at raw[toff..toff+tlen),
 * of key) at the arena's ring offset at (from ring_at) and queues its item:
 * the caller has checked that the queue has room.  raw NULL: the caller
 * copied the bytes there already. */
static inline void put_delta(al_exchange *x, size_t at, const char *raw, size_t rawlen, size_t toff,
                             size_t tlen, int key)
{
    char *a = x->arena.data + at;
    if (raw) memcpy(a, raw, rawlen); /* (NULL: the bytes are there already) */
    a[rawlen] = '\0';
    x->arena.len = at + rawlen;
    qitem *it = &x->q[x->qn++];
    it->raw_off = at;
    it->rawlen = rawlen;
    it->text_off = at + toff;
    it->tlen = tlen;
    it->ev = NULL;
    it->node = NULL;
    it->seq = ++x->qseq;
    it->key = key;
    it->has_text = 1;
    it->changed = 0;
    it->empty = 0;
    it->plain = 1;
}

/* queue_push of a delta event whose text lies in it at raw[toff..toff+tlen)
 * (the usual delta event, through the shape): the copy and the item only,
 * when the queue and the arena have room. */
static inline al_code queue_push_delta(al_exchange *x, const char *raw, size_t rawlen, size_t toff,
                                       size_t tlen, int key)
{
    size_t at = ring_at(x, rawlen);
    if (x->qn == x->qcap || at == SIZE_MAX)
        return queue_push(x, raw, rawlen, NULL, NULL, raw + toff, tlen, key, 0);
    put_delta(x, at, raw, rawlen, toff, tlen, key);
    return AL_OK;
}

/* Events waiting in the queue. */
static size_t queued(const al_exchange *x)
{
    return x->qn - x->qh;
}

/* Once the queue is empty, the ring starts again from 0.  (A stream that
 * always holds some text back never empties it: the ring goes round,
 * its live part never moves.) */
static void arena_trim(al_exchange *x)
{
    if (!queued(x)) {
        x->qh = x->qn = 0;
        al_buf_reset(&x->arena);
    }
}

static int queued_after(const al_exchange *x, size_t i, int key)
{
    for (size_t j = i + 1; j < x->qn; j++)
        if (x->q[j].has_text && x->q[j].key == key) return 1;
    return 0;
}

/* Drops the released text drain gave to events: once per drain rather
 * than once per event, since each drop moves what is left of rel. */
static void drop_taken(al_exchange *x)
{
    for (size_t i = 0; i < x->nkeys; i++) {
        skey *k = &x->keys[i];
        if (!k->taken) continue;
        al_buf_consume(&k->rel, k->taken);
        x->rel_cuts++;
        k->taken = 0;
    }
}

/* al_buf_add of a delta's few bytes: copied here, not by a memcpy call. */
static inline al_code add_small(al_buf *b, const char *p, size_t n)
{
    if (n - 1 >= 8 || n >= b->cap - b->len) return al_buf_add(b, p, n); /* (n 0 there too) */
    char *d = b->data + b->len;
    al_copy_1to8(d, p, n);
    d[n] = '\0';
    b->len += n;
    return AL_OK;
}

/* memcmp(a, b, n) == 0 for the few bytes of a delta, without the call up
 * to 8 bytes (al_eq_upto8).  n < 4 is tested first: the most usual deltas
 * then take no test of n > 8. */
static inline int same_text(const char *a, const char *b, size_t n)
{
    if (n < 4) return al_eq_upto8(a, b, n);
    return n > 8 ? !memcmp(a, b, n) : al_eq_upto8(a, b, n);
}

/* drain's walk of the queue (drain decides when it can be skipped). */
static al_code drain_queue(al_exchange *x, al_buf *out)
{
    x->held = 0;
    size_t i = x->qh;
    int stopped = 0; /* at an event whose text is still held back */
    al_code r = AL_OK;
    run_t run = {0, 0};
    skey *k = NULL;          /* the key of the last event with text (most are of one key) */
    const size_t qn = x->qn; /* (nothing here queues) */
    for (; i < qn && r == AL_OK; i++) {
        qitem *it = &x->q[i];
        if (!it->has_text) {
            r = emit_item(x, it, NULL, 0, out, &run);
            continue;
        }
        if (!k || k->key != it->key) k = find_key(x, it->key);
        if (it->empty || !k) {
            r = emit_item(x, it, "", 0, out, &run);
            continue;
        }
        const char *d = x->arena.data + it->text_off;
        size_t dl = it->tlen;
        /* what is released and not yet given out: rel after k->taken */
        const char *rd = (k->rel.data ? k->rel.data : "") + k->taken;
        size_t rl = k->rel.len - k->taken;
        size_t lim = qn; /* a stretch ends before q[lim]: when k has ended, its
                          * last queued event (which takes all that is left) */
        if (it->plain && k->ended) {
            lim = i;
            for (size_t j = qn; j-- > i + 1;)
                if (x->q[j].has_text && x->q[j].key == it->key) {
                    lim = j;
                    break;
                }
        }
        if (it->plain && i < lim && rl >= dl && same_text(rd, d, dl)) {
            /* the usual stretch: events of k given their own text, back to
             * back in the arena (as the branches below, in fewer steps) */
            const char *ab = x->arena.data, *rbase = rd - k->taken;
            const int kk = it->key;
            const char *re = rd + rl; /* the end of rel */
            rd += dl;
            if (run.len && run.off + run.len == it->raw_off) {
                run.len += it->rawlen;
            } else if ((r = run_flush(x, &run, out)) == AL_OK) {
                run.off = it->raw_off;
                run.len = it->rawlen;
            }
            /* the next ones, with the run in locals (run_flush where the
             * bytes are not back to back: the ring's wrap) */
            const qitem *n = &x->q[i + 1], *qe = &x->q[lim];
            size_t roff = run.off, rlen = run.len;
            for (; r == AL_OK && n < qe; n++) {
                if (!n->plain || n->key != kk) break;
                size_t nl = n->tlen;
                if ((size_t)(re - rd) < nl || !same_text(rd, ab + n->text_off, nl)) break;
                if (roff + rlen != n->raw_off) {
                    run.off = roff;
                    run.len = rlen;
                    r = run_flush(x, &run, out); /* (len 0 after it, even when it fails) */
                    rlen = 0;
                    if (r == AL_OK) roff = n->raw_off;
                }
                if (r == AL_OK) rlen += n->rawlen;
                rd += nl;
            }
            run.off = roff;
            run.len = rlen;
            i = (size_t)(n - x->q) - 1; /* the last one taken (the loop adds 1) */
            k->taken = (size_t)(rd - rbase);
            continue;
        }
        if (k->ended && !queued_after(x, i, it->key)) {
            /* the last event of a finished text takes all that is left */
            r = emit_item(x, it, rd, rl, out, &run);
            k->taken = k->rel.len;
        } else if (rl >= dl && same_text(rd, d, dl)) {
            if (!it->changed && run.len && run.off + run.len == it->raw_off)
                run.len += it->rawlen; /* as emit_item: the run grows */
            else
                r = emit_item(x, it, NULL, 0, out, &run);
            k->taken += dl;
        } else if (rl < dl && same_text(d, rd, rl)) {
            stopped = 1;
            break; /* this event's text is still held back */
        } else {
            /* the text changed: this event carries what was released, the
             * other waiting events of the key give up their text */
            r = emit_item(x, it, rd, rl, out, &run);
            k->taken = k->rel.len;
            for (size_t j = i + 1; j < x->qn; j++)
                if (x->q[j].has_text && x->q[j].key == it->key) {
                    x->q[j].empty = 1;
                    x->q[j].plain = 0;
                }
        }
    }
    al_code fr = run_flush(x, &run, out);
    if (r == AL_OK) r = fr;
    drop_taken(x);
    if (stopped) { /* k is the key of x->q[i] */
        x->held = 1;
        x->held_seq = x->q[i].seq;
        x->held_cuts = x->rel_cuts;
        x->held_rel = k->rel.len;
    }
    if (i == x->qh) return r;
    for (size_t j = x->qh; x->nev && j < i; j++) item_free(x, &x->q[j]);
    x->qh = i;
    arena_trim(x);
    return r;
}

/* Emits every queued event whose text is settled. */
/* 1 when drain has nothing to do: the front event is still the one the
 * last drain stopped at, and its key released nothing since (see held). */
static inline int held_still(al_exchange *x)
{
    if (x->held && x->qh < x->qn && x->q[x->qh].seq == x->held_seq && x->rel_cuts == x->held_cuts) {
        const skey *k = find_key(x, x->q[x->qh].key);
        if (k && !k->ended && k->rel.len == x->held_rel) return 1; /* as before */
    }
    return 0;
}

static inline al_code drain(al_exchange *x, al_buf *out)
{
    return held_still(x) ? AL_OK : drain_queue(x, out);
}

/* Released text of ended keys that no queued event can carry goes out in a
 * new delta event. */
static al_code synth_keys(al_exchange *x)
{
    for (size_t i = 0; i < x->nkeys; i++) {
        skey *k = &x->keys[i];
        al_code fr = k->ended ? feed_key(k) : AL_OK;
        if (fr != AL_OK) return fr;
        if (!k->ended || !k->rel.len || (!k->tmpl && !k->src.len)) continue;
        if (!k->tmpl && !(k->tmpl = parse_json(k->src.data, k->src.len)))
            return AL_ENOMEM; /* (it parsed before: only memory can fail now) */
        cJSON *ev = x->prov->delta_event(x->api, k->tmpl, k->key, k->rel.data);
        if (!ev) return AL_ENOMEM;
        al_buf_reset(&x->data);
        al_buf b = {0};
        al_code r = al_json_print(ev, &x->data);
        if (r == AL_OK) {
            if (x->sse)
                r = al_sse_write(&b, k->evname[0] ? k->evname : NULL, strlen(k->evname),
                                 x->data.data, x->data.len, 0);
            else if ((r = al_buf_append(&b, x->data.data, x->data.len)) == AL_OK)
                r = al_buf_append(&b, "\n", 1);
        }
        cJSON_Delete(ev);
        if (r == AL_OK) r = queue_push(x, b.data, b.len, NULL, NULL, NULL, 0, -1, 0);
        al_buf_free(&b);
        if (r != AL_OK) return r;
        al_buf_reset(&k->rel);
        x->rel_cuts++;
    }
    return AL_OK;
}

/* synth_keys, which only ever serves keys whose text ended. */
static inline al_code synth_rest(al_exchange *x)
{
    return x->nended ? synth_keys(x) : AL_OK;
}

/* An event with texts of several keys: settle everything queued, then give
 * each text what its key released. */
static al_code settle_all(al_exchange *x, al_buf *out)
{
    al_code fr = feed_all(x);
    if (fr != AL_OK) return fr;
    run_t run = {0, 0};
    for (size_t i = x->qh; i < x->qn; i++) {
        qitem *it = &x->q[i];
        if (it->has_text && !it->empty) {
            skey *k = find_key(x, it->key);
            if (k && !queued_after(x, i, it->key)) {
                al_code r = emit_item(x, it, k->rel.data ? k->rel.data : "", k->rel.len, out, &run);
                al_buf_reset(&k->rel);
                x->rel_cuts++;
                if (r != AL_OK) return r;
                continue;
            }
            if (k) {
                /* earlier events of the key carry nothing; the last takes all */
                al_code r = emit_item(x, it, "", 0, out, &run);
                if (r != AL_OK) return r;
                continue;
            }
        }
        al_code r = emit_item(x, it, it->has_text ? "" : NULL, 0, out, &run);
        if (r != AL_OK) return r;
    }
    if ((fr = run_flush(x, &run, out)) != AL_OK) return fr;
    for (size_t i = x->qh; i < x->qn; i++) item_free(x, &x->q[i]);
    x->qh = x->qn = 0;
    arena_trim(x);
    return AL_OK;
}

/* Scans one completion text in place; sets *changed when it was rewritten. */
static al_code scrub_node(al_exchange *x, cJSON *node, int *changed)
{
    char digits[24];
    if (al_json_digits(node, digits)) {
        /* a number in a tool's structured input: scanned with its key as
         * the words before it ("phone: 2125550147"), and replaced by the
         * placeholder (a string) when the scan rewrites its digits */
        al_buf in = {0};
        size_t pre = 0;
        if (node->string && strlen(node->string) < 64) {
            al_buf_puts(&in, node->string);
            al_buf_puts(&in, ": ");
            pre = in.len;
        }
        al_code r = al_buf_puts(&in, digits);
        al_result res = {0};
        if (r == AL_OK)
            r = al_engine_scan(al_ctx_engine(x->ctx), &x->ctx->policy, AL_AS_COMPLETION, in.data,
                               in.len, &res);
        const char *out = res.text.data ? res.text.data : "";
        /* the key's words themselves left as they were */
        int keyed = r == AL_OK && res.changed && res.text.len >= pre && !memcmp(out, in.data, pre);
        al_buf_free(&in);
        if (r == AL_OK) {
            record(x, res.findings, res.n, 1, res.changed);
            if (res.blocked) x->comp_block = 1;
            if (keyed && !monitor(x)) {
                char *s = strdup(out + pre);
                if (!s) {
                    r = AL_ENOMEM;
                } else {
                    node->type = cJSON_String;
                    node->valuestring = s;
                    *changed = 1;
                }
            }
        }
        al_result_free(&res);
        return r;
    }
    if (!cJSON_IsString(node) || !node->valuestring[0]) return AL_OK;
    al_result res = {0};
    const char *in = node->valuestring;
    al_code r = al_engine_scan(al_ctx_engine(x->ctx), &x->ctx->policy, AL_AS_COMPLETION, in,
                               strlen(in), &res);
    if (r == AL_OK) {
        int apply = res.changed && !monitor(x);
        record(x, res.findings, res.n, 1, res.changed);
        if (res.blocked) x->comp_block = 1;
        if (apply && json_text(node, NULL)) { /* tool-call arguments: see JS_* */
            al_buf q = {0};
            esc_q e = {0};
            int st = JS_OUT;
            r = esc_collect(&e, in, strlen(in));
            if (r == AL_OK)
                r = quote_into(res.text.data ? res.text.data : "", res.text.len, &st, &e, &q);
            if (r == AL_OK) r = set_string(node, q.data ? q.data : "");
            al_buf_free(&q);
            al_buf_free(&e.q);
            *changed = 1;
        } else if (apply) {
            r = set_string(node, res.text.data ? res.text.data : "");
            *changed = 1;
        }
    }
    al_result_free(&res);
    return r;
}

static al_code io_whole(al_stream_io *io, cJSON *node)
{
    al_exchange *x = (al_exchange *)((char *)io - offsetof(al_exchange, io));
    x->ev_src = NULL; /* the tree may change: a key made after this copies it */
    al_code r = scrub_node(x, node, &x->ev_changed);
    if (r == AL_OK && x->comp_block) {
        if (monitor(x))
            x->rec.would_block = 1;
        else
            r = AL_EBLOCKED; /* the stream stops before this event */
    }
    return r;
}

/* ---- lifecycle ---- */

al_exchange *al_exchange_new(const al_ctx *ctx, const char *transport)
{
    if (!ctx) return NULL;
    al_exchange *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->ctx = ctx;
    al_audit_init(&x->rec);
    x->rec.transport = transport;
    x->rec.exe = ctx->exe;
    x->rec.mode = ctx->mode == AL_MODE_MONITOR ? "monitor" : "enforce";
    x->io.delta = io_delta;
    x->io.end = io_end;
    x->io.end_all = io_end_all;
    x->io.whole = io_whole;
    x->io.sign = io_sign;
    return x;
}

void al_exchange_free(al_exchange *x)
{
    if (!x) return;
    for (size_t i = 0; i < x->nkeys; i++) {
        size_t n = 0;
        const al_finding *f = al_stream_scrub_findings(x->keys[i].s, &n);
        if (f) record(x, f, n, 1, !monitor(x));
        al_stream_scrub_free(x->keys[i].s);
        cJSON_Delete(x->keys[i].tmpl);
        al_buf_free(&x->keys[i].src);
        al_buf_free(&x->keys[i].rel);
        al_buf_free(&x->keys[i].pend);
        al_buf_free(&x->keys[i].esc.q);
        al_buf_free(&x->keys[i].orig);
        al_buf_free(&x->keys[i].shown);
        free(x->keys[i].sig);
    }
    free(x->keys);
    for (size_t i = x->qh; i < x->qn; i++) item_free(x, &x->q[i]);
    free(x->q);
    al_buf_free(&x->arena);
    free(x->cur);
    if (x->llm && !x->get && !x->rec.blocked && x->ctx->limits) {
        /* tokens the reply reported; without usage, the prompt's (4 bytes a token) */
        const al_audit_rec *r = &x->rec;
        long long t =
            r->total_tokens >= 0 ? r->total_tokens
            : r->in_tokens >= 0 || r->out_tokens >= 0
                ? (r->in_tokens > 0 ? r->in_tokens : 0) + (r->out_tokens > 0 ? r->out_tokens : 0)
                : (long long)((x->prompt_bytes + 3) / 4);
        al_limits_account(x->ctx->limits, t);
    }
    if (x->llm) al_audit_write(x->ctx->audit_fd, &x->rec);
    al_buf_free(&x->body);
    al_buf_free(&x->data);
    al_buf_free(&x->tmp);
    al_buf_free(&x->scratch);
    al_buf_free(&x->tree);
    al_buf_free(&x->shape.data);
    al_buf_free(&x->shape.frame);
    al_buf_free(&x->shape.whole);
    free(x);
}

void al_exchange_set_sink(al_exchange *x, al_buf *to, al_exchange_sink fn, void *ud)
{
    if (!x) return;
    x->sink_to = fn ? to : NULL;
    x->sink = fn;
    x->sink_ud = ud;
}

int al_exchange_is_llm(const al_exchange *x)
{
    return x && x->llm;
}

void al_exchange_note_fail(al_exchange *x, const char *reason)
{
    if (!x) return;
    x->held_ok = 0;
    set_fail(x, reason);
}

al_code al_exchange_error_body(const al_exchange *x, int status, int blocked, const char *message,
                               al_buf *out)
{
    const al_provider *p = x && x->prov ? x->prov : &al_provider_openai;
    return p->error(out, status, blocked, message);
}

void al_req_verdict_free(al_req_verdict *v)
{
    if (!v) return;
    al_buf_free(&v->body);
}

/* ---- requests ---- */

static void copy_path(char *out, size_t cap, const char *path)
{
    size_t n = strcspn(path, "?#");
    if (n >= cap) n = cap - 1;
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)path[i] > 0x20 && (unsigned char)path[i] < 0x7f) out[j++] = path[i];
    out[j] = '\0';
}

static al_code block(al_exchange *x, al_req_verdict *v, int status, const char *msg)
{
    v->kind = AL_REQ_BLOCK;
    v->status = status;
    v->content_type = "application/json";
    al_buf_reset(&v->body);
    x->rec.blocked = 1;
    x->rec.status = status;
    return x->prov->error(&v->body, status, status < 500, msg);
}

static al_code block_rules(al_exchange *x, al_req_verdict *v)
{
    al_buf msg = {0};
    al_code r = al_buf_puts(&msg, "airlock: request blocked by policy (rules:");
    for (size_t i = 0; r == AL_OK && i < x->rec.nrules; i++)
        r = al_buf_printf(&msg, "%s%s", i ? ", " : " ", x->rec.rules[i]);
    if (r == AL_OK) r = al_buf_puts(&msg, ")");
    if (r == AL_OK) r = block(x, v, 400, msg.data);
    al_buf_free(&msg);
    return r;
}

/* Fail mode for a request that could not be screened: refused with status
 * (403; 413 for a body past AIRLOCK_MAX_BODY, as the other layers answer). */
static al_code unscreened_as(al_exchange *x, al_req_verdict *v, const char *why, int status)
{
    set_fail(x, why);
    if (x->ctx->fail == AL_FAIL_OPEN || monitor(x)) {
        v->kind = AL_REQ_ALLOW;
        return AL_OK;
    }
    char msg[256];
    snprintf(msg, sizeof msg, "airlock: request refused: %s (AIRLOCK_FAIL=closed)", why);
    return block(x, v, status, msg);
}

static al_code unscreened(al_exchange *x, al_req_verdict *v, const char *why)
{
    return unscreened_as(x, v, why, 403);
}

/* cJSON ends a string at an escaped NUL, so text after "\u0000" would go
 * unseen: such documents cannot be screened. */
static int has_nul_escape(const char *s, size_t n)
{
    for (const char *p = s; (p = memchr(p, '\\', (size_t)(s + n - p))) != NULL; p += 2) {
        if (p + 1 >= s + n) return 0;
        if (p[1] == 'u' && p + 6 <= s + n && !memcmp(p + 2, "0000", 4)) return 1;
    }
    return 0;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* cJSON rejects a \uD800-\uDFFF escape that is not half of a pair, which
 * JSON encoders write for a cut emoji (Python's json.dumps does).  Returns a
 * malloc'd copy of s with each such escape replaced by \ufffd (same length),
 * or NULL when s has none (or on allocation failure).  Free with free(). */
static char *mend_lone_surrogates(const char *s, size_t n)
{
    char *copy = NULL;
    for (const char *p = s; (p = memchr(p, '\\', (size_t)(s + n - p))) != NULL; p += 2) {
        if (p + 1 >= s + n) break;
        if (p[1] != 'u' || p + 6 > s + n) continue;
        int u = hex4(p + 2);
        if (u < 0xD800 || u > 0xDFFF) continue;
        if (u < 0xDC00 && p + 12 <= s + n && p[6] == '\\' && p[7] == 'u') {
            int lo = hex4(p + 8);
            if (lo >= 0xDC00 && lo <= 0xDFFF) { /* a valid pair: skip both */
                p += 10;
                continue;
            }
        }
        if (!copy) {
            copy = malloc(n ? n : 1);
            if (!copy) return NULL;
            memcpy(copy, s, n);
        }
        memcpy(copy + (p - s) + 2, "fffd", 4);
        p += 4;
    }
    return copy;
}

/* s[0..n) as one JSON value with nothing but whitespace after it, or NULL.
 * cJSON alone takes the first value and ignores what follows, so a body or
 * event of two values (or SSE lines ended by a lone CR, read as one data
 * line) would be screened by its first and passed whole. */
static cJSON *parse_exact(const char *s, size_t n)
{
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (!v) return NULL;
    for (const char *e = s + n; end && end < e; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
            cJSON_Delete(v);
            return NULL;
        }
    }
    return v;
}

/* parse_exact, retried with lone surrogate escapes mended. */
static cJSON *parse_json(const char *s, size_t n)
{
    cJSON *root = parse_exact(s, n);
    if (!root) {
        char *mended = mend_lone_surrogates(s, n);
        if (mended) root = parse_exact(mended, n);
        free(mended);
    }
    return root;
}

static int cmp_key(const void *a, const void *b)
{
    return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 if object o has two members of one name, in any case (Go's decoder
 * takes "Messages" for "messages", the last of them winning).  Few members: compared pairwise;
 * more: their names sorted, so a body of 100,000 keys costs milliseconds, not
 * the quadratic minutes a hostile request could ask for.  -1: out of memory. */
static int object_dups(const cJSON *o)
{
    size_t n = 0;
    for (const cJSON *c = o->child; c; c = c->next) n += c->string != NULL;
    if (n < 2) return 0;
    if (n <= 16) {
        for (const cJSON *c = o->child; c; c = c->next)
            for (const cJSON *d = c->next; c->string && d; d = d->next)
                if (d->string && !strcasecmp(c->string, d->string)) return 1;
        return 0;
    }
    const char **k = malloc(n * sizeof *k);
    if (!k) return -1;
    size_t i = 0;
    for (const cJSON *c = o->child; c; c = c->next)
        if (c->string) k[i++] = c->string;
    qsort(k, n, sizeof *k, cmp_key);
    int dup = 0;
    for (i = 1; i < n && !dup; i++) dup = !strcasecmp(k[i - 1], k[i]);
    free(k);
    return dup;
}

/* The server's parser may take the last of duplicate keys while cJSON takes
 * the first: a document with duplicate keys is ambiguous and not screened.
 * 0: none; else the reason it cannot be screened. */
static const char *dup_keys(const cJSON *o, int depth)
{
    if (depth > 200) return "request body nests JSON more than 200 levels deep";
    if (cJSON_IsObject(o)) {
        int d = object_dups(o);
        if (d) return d < 0 ? "out of memory" : "request body has duplicate JSON keys";
    }
    for (const cJSON *c = o ? o->child : NULL; c; c = c->next) {
        if (!cJSON_IsObject(c) && !cJSON_IsArray(c)) continue;
        const char *why = dup_keys(c, depth + 1);
        if (why) return why;
    }
    return NULL;
}

static al_code print_changed(const cJSON *root, const char *orig, size_t len, al_buf *out);

static al_code screen(al_exchange *x, cJSON *root, const char *body, size_t blen, al_req_verdict *v)
{
    const char *why = dup_keys(root, 0);
    if (why) return unscreened(x, v, why);
    al_texts t = {0};
    al_code r = x->prov->prompts(x->api, root, &t);
    if (r == AL_OK) r = al_texts_push_tool_defs(&t, root);
    if (r != AL_OK) {
        al_texts_free(&t);
        return unscreened(x, v, "out of memory");
    }
    al_policy quiet = x->ctx->policy;
    quiet.prompt[AL_CAT_INJECTION] = AL_ACT_ALLOW;
    quiet.prompt[AL_CAT_JAILBREAK] = AL_ACT_ALLOW;
    /* tool definitions: every finding is recorded, nothing is blocked or
     * changed (a poisoned tool shows in the audit log; an ordinary
     * description full of instructions never stops an agent) */
    al_policy flag_only = x->ctx->policy;
    for (int c = 0; c < AL_CAT_COUNT; c++)
        if (flag_only.prompt[c] != AL_ACT_ALLOW) flag_only.prompt[c] = AL_ACT_FLAG;
    /* an embedding or moderation input is a document, data no model obeys:
     * secrets and PII as configured, injection and unsafe text flagged */
    al_policy doc = x->ctx->policy;
    doc.prompt[AL_CAT_INJECTION] = flag_only.prompt[AL_CAT_INJECTION];
    doc.prompt[AL_CAT_JAILBREAK] = flag_only.prompt[AL_CAT_JAILBREAK];
    doc.prompt[AL_CAT_UNSAFE_OUTPUT] = flag_only.prompt[AL_CAT_UNSAFE_OUTPUT];
    int blocked = 0, changed = 0;
    const char *fail = NULL;
    for (size_t i = 0; i < t.n; i++) {
        cJSON *node = t.v[i].node;
        al_role role = t.v[i].role;
        if (!cJSON_IsString(node)) continue; /* a number in a tool's input */
        if (t.v[i].sig && !monitor(x)) {
            /* a thinking block the program was given scrubbed: its original
             * goes back, as the server signed it (never screened: the
             * model's own text, and the call fails if it changes) */
            char *orig;
            size_t olen;
            if (al_signmem_get(x->ctx->signmem, t.v[i].sig, node->valuestring,
                               strlen(node->valuestring), &orig, &olen)) {
                r = set_string(node, orig);
                free(orig);
                if (r != AL_OK) {
                    fail = "out of memory";
                    break;
                }
                x->rec.restored++;
                changed = 1;
                continue;
            }
        }
        /* a signed text is only flagged: changed, the server refuses it */
        const al_policy *p = role == AL_ROLE_TOOL_DEF || t.v[i].sig ? &flag_only
                             : role == AL_ROLE_DOCUMENT             ? &doc
                             : role == AL_ROLE_SYSTEM || role == AL_ROLE_ASSISTANT
                                 ? &quiet
                                 : &x->ctx->policy;
        al_result res = {0};
        const char *in = node->valuestring;
        size_t inlen = strlen(in);
        x->prompt_bytes += inlen;
        /* a conversation re-sends its history: a text already screened
         * under this policy is not scanned again */
        const al_engine *eng = al_ctx_engine(x->ctx);
        al_scankey key;
        int keyed = x->ctx->scache && al_scancache_key(eng, p, AL_AS_PROMPT, in, inlen, &key) == 0;
        if (keyed && al_scancache_get(x->ctx->scache, &key, &res)) {
            r = AL_OK;
        } else {
            r = al_engine_scan(eng, p, AL_AS_PROMPT, in, inlen, &res);
            if (r == AL_OK && keyed) al_scancache_put(x->ctx->scache, &key, &res);
        }
        if (r != AL_OK) {
            fail = r == AL_ELIMIT ? "prompt exceeds a screening limit" : "prompt scan failed";
            al_result_free(&res);
            break;
        }
        record(x, res.findings, res.n, 0, res.changed);
        if (res.blocked) blocked = 1;
        if (res.changed && !monitor(x)) {
            if (set_string(node, res.text.data ? res.text.data : "") != AL_OK)
                fail = "out of memory";
            changed = 1;
        }
        al_result_free(&res);
        if (fail) break;
    }
    al_texts_free(&t);
    if (fail) return unscreened(x, v, fail);
    if (blocked) {
        if (monitor(x)) {
            x->rec.would_block = 1;
        } else {
            return block_rules(x, v);
        }
    }
    if (changed) {
        v->kind = AL_REQ_REWRITE;
        al_buf_reset(&v->body);
        if (print_changed(root, body, blen, &v->body) != AL_OK)
            return unscreened(x, v, "out of memory");
        return AL_OK;
    }
    v->kind = AL_REQ_ALLOW;
    return AL_OK;
}

/* ---- printing a changed body in its original bytes ----
 * A body airlock changed is written as it came with only the changed values
 * replaced, so its whitespace, key order, number forms (an integer past 2^53,
 * "1e3") and escapes stay the server's or the program's.  The changed tree is
 * compared with the original one (parsed again); every changed leaf is found
 * in the original bytes as a JSON token (its encoding in one of the styles
 * encoders use, between structural characters); the result is parsed back
 * and must equal the changed tree, else the tree is printed whole (as
 * before).  cJSON parses and compares; the bytes are only searched. */

enum { ENC_ASCII = 1, ENC_HTML = 2 }; /* Python's ensure_ascii; Go's HTML-safe */

static al_code enc_string(const char *s, int style, al_buf *out)
{
    al_code r = al_buf_append(out, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; r == AL_OK && *p; p++) {
        unsigned c = *p;
        char e[13];
        int n = 0;
        if (c == '"' || c == '\\') {
            e[n++] = '\\';
            e[n++] = (char)c;
        } else if (c < 0x20) {
            const char *sh = c == '\b'   ? "\\b"
                             : c == '\f' ? "\\f"
                             : c == '\n' ? "\\n"
                             : c == '\r' ? "\\r"
                             : c == '\t' ? "\\t"
                                         : NULL;
            if (sh) {
                memcpy(e, sh, 2);
                n = 2;
            } else {
                n = snprintf(e, sizeof e, "\\u%04x", c);
            }
        } else if ((style & ENC_HTML) && (c == '<' || c == '>' || c == '&')) {
            n = snprintf(e, sizeof e, "\\u%04x", c);
        } else if (c >= 0x80 && (style & ENC_ASCII)) {
            int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            unsigned cp = c & (len == 4 ? 0x07 : len == 3 ? 0x0F : 0x1F);
            for (int i = 1; i < len; i++) {
                if ((p[i] & 0xC0) != 0x80) return AL_EPARSE; /* not UTF-8: no such style */
                cp = (cp << 6) | (p[i] & 0x3F);
            }
            p += len - 1;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                unsigned hi = 0xD800 + (cp >> 10), lo = 0xDC00 + (cp & 0x3FF);
                n = snprintf(e, sizeof e, "\\u%04x\\u%04x", hi, lo);
            } else {
                n = snprintf(e, sizeof e, "\\u%04x", cp);
            }
        } else if ((style & ENC_HTML) && c == 0xE2 && p[1] == 0x80 &&
                   (p[2] == 0xA8 || p[2] == 0xA9)) {
            n = snprintf(e, sizeof e, "\\u%04x", p[2] == 0xA8 ? 0x2028 : 0x2029);
            p += 2;
        } else {
            e[n++] = (char)c;
        }
        r = al_buf_append(out, e, (size_t)n);
    }
    if (r == AL_OK) r = al_buf_append(out, "\"", 1);
    return r;
}

typedef struct {
    const cJSON *o, *n; /* the original leaf and the changed one */
    size_t before;      /* string tokens (keys too) of the same text before o */
} leafdiff;

typedef struct {
    leafdiff *v;
    size_t n, cap;
    int bad; /* the trees differ in more than leaf values */
} diffs;

static void diff_walk(const cJSON *o, const cJSON *n, diffs *d, int depth)
{
    if (d->bad) return;
    if (depth > 1000 || (!o->string != !n->string) || (o->string && strcmp(o->string, n->string))) {
        d->bad = 1;
        return;
    }
    int leaf = (cJSON_IsString(o) && cJSON_IsString(n) && strcmp(o->valuestring, n->valuestring)) ||
               (cJSON_IsNumber(o) && cJSON_IsString(n));
    if (leaf) {
        if (d->n == d->cap) {
            size_t cap = d->cap ? d->cap * 2 : 8;
            leafdiff *v = realloc(d->v, cap * sizeof *v);
            if (!v) {
                d->bad = 1;
                return;
            }
            d->v = v;
            d->cap = cap;
        }
        d->v[d->n++] = (leafdiff){o, n, 0};
        return;
    }
    if ((o->type & 0xFF) != (n->type & 0xFF)) {
        d->bad = 1;
        return;
    }
    if (cJSON_IsArray(o) || cJSON_IsObject(o)) {
        const cJSON *a = o->child, *b = n->child;
        for (; a && b && !d->bad; a = a->next, b = b->next) diff_walk(a, b, d, depth + 1);
        if (a || b) d->bad = 1;
    } else if (cJSON_IsNumber(o) && o->valuedouble != n->valuedouble) {
        d->bad = 1;
    }
}

/* Counts, for each changed string leaf, the keys and string values of the
 * same text that come before it (document order: a member's key, then its
 * value). *next: the first leaf not reached yet. */
static void count_before(const cJSON *o, diffs *d, size_t *next)
{
    for (const cJSON *c = o->child; c && *next < d->n; c = c->next) {
        for (int pass = 0; pass < 2 && *next < d->n; pass++) {
            const char *t = pass ? (cJSON_IsString(c) ? c->valuestring : NULL) : c->string;
            if (pass && c == d->v[*next].o) ++*next; /* a twin after it counts it */
            if (!t) continue;
            for (size_t j = *next; j < d->n; j++)
                if (cJSON_IsString(d->v[j].o) && !strcmp(t, d->v[j].o->valuestring))
                    d->v[j].before++;
        }
        if (cJSON_IsArray(c) || cJSON_IsObject(c)) count_before(c, d, next);
    }
}

static int json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The (skip+1)-th place at or after from where tok stands as a token of its
 * own: after a structural character or whitespace, before one. */
static const char *find_token(const char *s, size_t n, size_t from, const char *tok, size_t tl,
                              size_t skip)
{
    const char *p = s + from, *e = s + n;
    while (p < e && (p = memmem(p, (size_t)(e - p), tok, tl)) != NULL) {
        char b = p > s ? p[-1] : ' ', a = p + tl < e ? p[tl] : ' ';
        if ((json_ws(b) || b == ':' || b == ',' || b == '[' || b == '{') &&
            (json_ws(a) || a == ':' || a == ',' || a == ']' || a == '}')) {
            if (!skip--) return p;
        }
        p++;
    }
    return NULL;
}

/* Writes the changed tree root as orig[0..len) with only its changed leaves
 * replaced; 0 when that cannot be done with certainty (the caller prints the
 * tree).  out is left as it was on 0. */
static int print_in_place(const cJSON *root, const char *orig, size_t len, al_buf *out)
{
    cJSON *o = parse_json(orig, len);
    if (!o) return 0;
    diffs d = {0};
    diff_walk(o, root, &d, 0);
    size_t start = out->len, at = 0, next = 0;
    int ok = !d.bad && d.n > 0;
    if (ok) count_before(o, &d, &next);
    al_buf tok = {0}, rep = {0};
    for (size_t i = 0; ok && i < d.n; i++) {
        const cJSON *lo = d.v[i].o, *ln = d.v[i].n;
        const char *p = NULL;
        int style = 0;
        if (cJSON_IsNumber(lo)) {
            char *num = cJSON_PrintUnformatted(lo);
            al_buf_reset(&tok);
            ok = num && al_buf_puts(&tok, num) == AL_OK;
            cJSON_free(num);
            if (ok) p = find_token(orig, len, at, tok.data, tok.len, 0);
        } else {
            static const int styles[] = {0, ENC_ASCII, ENC_HTML, ENC_ASCII | ENC_HTML};
            for (size_t k = 0; !p && k < sizeof styles / sizeof styles[0]; k++) {
                al_buf_reset(&tok);
                if (enc_string(lo->valuestring, styles[k], &tok) != AL_OK) continue;
                /* counted from the start: 'before' counts every earlier
                 * key and string of the same text, changed or not */
                p = find_token(orig, len, 0, tok.data, tok.len, d.v[i].before);
                style = styles[k];
            }
            if (p && (size_t)(p - orig) < at) p = NULL;
        }
        al_buf_reset(&rep);
        if (!p || enc_string(ln->valuestring, style, &rep) != AL_OK) {
            ok = 0;
            break;
        }
        size_t off = (size_t)(p - orig);
        ok = al_buf_append(out, orig + at, off - at) == AL_OK &&
             al_buf_append(out, rep.data, rep.len) == AL_OK;
        at = off + tok.len;
    }
    if (ok) ok = al_buf_append(out, orig + at, len - at) == AL_OK;
    if (ok) { /* what the bytes say must be what the tree says */
        cJSON *back = parse_exact(out->data + start, out->len - start);
        ok = back && cJSON_Compare(back, root, 1);
        cJSON_Delete(back);
    }
    if (!ok) out->len = start;
    al_buf_free(&tok);
    al_buf_free(&rep);
    free(d.v);
    cJSON_Delete(o);
    return ok;
}

/* A changed body, in the original's bytes where possible. */
static al_code print_changed(const cJSON *root, const char *orig, size_t len, al_buf *out)
{
    if (orig && print_in_place(root, orig, len, out)) return AL_OK;
    return al_json_print(root, out);
}

/* Fills the audit fields of a recognised LLM call. */
static void set_call(al_exchange *x, const al_provider *p, al_api api, const char *host,
                     const char *path, const cJSON *root)
{
    x->prov = p;
    x->api = api;
    x->llm = 1;
    x->rec.provider = p->name;
    snprintf(x->host, sizeof x->host, "%s", host ? host : "");
    copy_path(x->path, sizeof x->path, path);
    x->rec.host = x->host[0] ? x->host : NULL;
    x->rec.path = x->path;
    x->rec.model = x->model;
    al_provider_model(root, path, strlen(path), x->model, sizeof x->model);
}

/* A reply read back with GET names its model (the request did not): a
 * reply's or an event's "model", or the one of the response or message it
 * carries. */
static void reply_model(al_exchange *x, const cJSON *root)
{
    if (x->model[0]) return;
    const char *m = al_json_str(root, "model");
    if (!m) m = al_json_str(al_json_get(root, "response"), "model");
    if (!m) m = al_json_str(al_json_get(root, "message"), "model");
    if (!m) m = al_json_str(al_json_get(al_json_get(root, "result"), "message"), "model");
    size_t j = 0;
    for (; m && *m && j + 1 < sizeof x->model; m++)
        if ((unsigned char)*m >= 0x20 && (unsigned char)*m < 0x7f) x->model[j++] = *m;
    x->model[j] = '\0';
}

/* AIRLOCK_RATE / AIRLOCK_BUDGET_TOKENS: a screened call that may go out is
 * counted, or refused with the provider's 429. */
static al_code admit(al_exchange *x, al_req_verdict *v)
{
    struct al_limits *l = x->ctx->limits;
    if (!l) return AL_OK;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* shared with other processes through the state file */
    double retry = 0;
    al_limit_verdict lv = al_limits_admit(l, (double)ts.tv_sec + ts.tv_nsec / 1e9, &retry);
    if (lv == AL_LIMIT_OK) return AL_OK;
    if (lv == AL_LIMIT_ERROR) return unscreened(x, v, "the rate/budget state file cannot be used");
    al_audit_rule(&x->rec, lv == AL_LIMIT_RATE ? "limit.rate" : "limit.budget");
    if (monitor(x)) {
        x->rec.would_block = 1;
        return AL_OK;
    }
    char msg[200];
    /* Retry-After for a rate, x-should-retry: false for a spent budget */
    long long secs = al_limits_retry_headers(lv, retry, v->headers, sizeof v->headers);
    if (lv == AL_LIMIT_RATE)
        snprintf(msg, sizeof msg, "airlock: rate limit reached (AIRLOCK_RATE); retry in %lld s",
                 secs);
    else
        snprintf(msg, sizeof msg,
                 "airlock: token budget spent (%lld of %lld tokens, AIRLOCK_BUDGET_TOKENS)",
                 al_limits_tokens_used(l), al_limits_budget(l));
    return block(x, v, 429, msg);
}

al_code al_exchange_refused(al_exchange *x, const char *method, const char *host, const char *path,
                            int status, const char *why)
{
    if (!x || !method || !path || !why) return AL_EINVAL;
    al_api api;
    const al_provider *p = al_provider_match(method, strlen(method), path, strlen(path), &api);
    if (!p) return AL_EINVAL;
    set_call(x, p, api, host, path, NULL);
    x->get = !strcmp(method, "GET");
    x->rec.method = x->get ? "GET" : "POST";
    x->rec.stream = api == AL_API_GEMINI_STREAM;
    x->rec.blocked = 1;
    x->rec.status = status;
    set_fail(x, why);
    return AL_OK;
}

/* 1 when body[0..len) opens like a JSON object or array (after blanks and
 * a byte order mark, which some servers' parsers skip). */
static int json_like(const char *body, size_t len)
{
    size_t i = len >= 3 && !memcmp(body, "\xef\xbb\xbf", 3) ? 3 : 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    return i < len && (body[i] == '{' || body[i] == '[');
}

/* 1 when the query of path asks for a stream (stream=true). */
static int query_stream(const char *path)
{
    const char *q = strchr(path, '?');
    for (const char *s = q; s && *s && *s != '#'; s = strpbrk(s + 1, "&#")) {
        if (*s == '#') break;
        if (!strncmp(s + 1, "stream=true", 11) && (!s[12] || s[12] == '&' || s[12] == '#'))
            return 1;
    }
    return 0;
}

/* A stored reply read back with GET: there is no prompt to screen; the
 * reply is scrubbed as the POST's would have been.  It is not counted
 * against AIRLOCK_RATE or the token budget (no model runs for it). */
static al_code read_back(al_exchange *x, const al_provider *p, al_api api, const char *host,
                         const char *path, al_req_verdict *v)
{
    set_call(x, p, api, host, path, NULL);
    x->get = 1;
    x->rec.method = "GET";
    x->rec.stream = query_stream(path);
    if (!al_ctx_engine(x->ctx)) return unscreened(x, v, "rules not loaded");
    v->kind = AL_REQ_ALLOW;
    return AL_OK;
}

al_code al_exchange_request(al_exchange *x, const char *method, const char *host, const char *path,
                            const char *content_type, const char *body, size_t len,
                            al_req_verdict *v)
{
    if (!x || !method || !path || !v) return AL_EINVAL;
    v->kind = AL_REQ_PASS;
    al_api api;
    const al_provider *p = al_provider_match(method, strlen(method), path, strlen(path), &api);
    if (!p) return AL_OK;
    if (!strcmp(method, "GET")) return read_back(x, p, api, host, path, v);
    if (!body) body = "";
    cJSON *root = NULL;
    int too_big = x->ctx->max_body && len > x->ctx->max_body;
    if (!too_big) {
        root = parse_json(body, len);
        if (root && !p->shape(api, root)) { /* an unrelated API on a similar path */
            cJSON_Delete(root);
            return AL_OK;
        }
        /* a form or a multipart upload is no LLM API's body: another API on
         * a similar path (a mail API's POST .../messages).  A body that
         * looks like JSON is still an LLM call whatever its label. */
        if (!root && content_type &&
            (strcasestr(content_type, "x-www-form-urlencoded") ||
             !strncasecmp(content_type, "multipart/", 10)) &&
            !json_like(body, len))
            return AL_OK;
    }
    set_call(x, p, api, host, path, root);
    x->rec.method = "POST";
    /* first recognised LLM call of the process loads the rule packs */
    const al_engine *engine = al_ctx_engine(x->ctx);
    x->rec.stream = root ? p->wants_stream(api, root) : api == AL_API_GEMINI_STREAM;
    al_code r;
    if (too_big)
        r = unscreened_as(x, v, "request body exceeds AIRLOCK_MAX_BODY", 413);
    else if (!root)
        r = unscreened(x, v, "request body is not valid JSON");
    else if (has_nul_escape(body, len))
        r = unscreened(x, v, "request body has NUL characters");
    else if (!engine)
        r = unscreened(x, v, "rules not loaded");
    else
        r = screen(x, root, body, len, v);
    if (r == AL_OK && (v->kind == AL_REQ_ALLOW || v->kind == AL_REQ_REWRITE)) r = admit(x, v);
    cJSON_Delete(root);
    return r;
}

/* ---- responses ---- */

static int ctype_has(const char *ct, const char *what)
{
    return ct && strcasestr(ct, what) != NULL;
}

al_code al_exchange_response_begin(al_exchange *x, int status, const char *content_type)
{
    if (!x) return AL_EINVAL;
    x->held_ok = 0;
    x->resp_begun = 1;
    x->rec.status = status;
    x->mode = AL_RESP_PASS;
    /* a new response (after a redirect or an auth retry) starts afresh */
    al_buf_reset(&x->body);
    x->last_len = 0;
    x->cut = 0;
    x->shape.valid = 0;
    x->shape.framed = 0;
    x->shape.one = 0;
    if (!x->llm) return AL_OK;
    if (!al_ctx_engine(x->ctx)) {
        set_fail(x, "rules not loaded");
        return AL_OK;
    }
    if (al_api_embeds(x->api)) return AL_OK; /* vectors, scores: no model text */
    if (ctype_has(content_type, "text/event-stream")) {
        x->mode = AL_RESP_STREAM;
        x->sse = 1;
    } else if (ctype_has(content_type, "ndjson") || ctype_has(content_type, "jsonl") ||
               (x->prov == &al_provider_ollama && x->rec.stream && status < 300 &&
                !ctype_has(content_type, "text/html")) ||
               /* batch results are JSONL whatever their label (application/binary) */
               (x->api == AL_API_BATCH_RESULTS && status < 300 &&
                !ctype_has(content_type, "text/html"))) {
        x->mode = AL_RESP_STREAM;
        x->sse = 0;
    } else if (x->get && !ctype_has(content_type, "json")) {
        x->mode = AL_RESP_PASS; /* a page or a file at a similar path: no stored reply */
    } else if (status >= 300 && !ctype_has(content_type, "json")) {
        x->mode = AL_RESP_PASS; /* an error page: no completion to scrub */
    } else {
        x->mode = AL_RESP_WHOLE;
    }
    /* SSE under a JSON, text or NDJSON label, or none (compatible servers,
     * proxies): known by its first bytes when a stream was asked for */
    x->sniff = x->rec.stream && status < 300 && (x->mode == AL_RESP_WHOLE || !x->sse) &&
               x->mode != AL_RESP_PASS;
    return AL_OK;
}

al_resp_mode al_exchange_response_mode(const al_exchange *x)
{
    return x ? x->mode : AL_RESP_PASS;
}

int al_exchange_stream_ended(const al_exchange *x)
{
    return x && x->mode == AL_RESP_STREAM && x->ended;
}

/* Cuts the stream: appends an error event (SSE) so the host sees why.
 * rest[0..rest_len): the bytes not framed yet (not in x->body). */
static al_code cut_stream(al_exchange *x, const char *why, const char *rest, size_t rest_len,
                          al_buf *to_host)
{
    set_fail(x, why);
    if (x->ctx->fail == AL_FAIL_OPEN) {
        /* open: what is left goes through unscreened */
        x->mode = AL_RESP_PASS;
        al_code r = settle_all(x, to_host);
        if (r == AL_OK) r = al_buf_append(to_host, rest, rest_len);
        return r;
    }
    x->cut = 1;
    if (x->sse) {
        al_buf b = {0};
        char msg[200];
        snprintf(msg, sizeof msg, "airlock: stream cut off: %s", why);
        if (x->prov->error(&b, 502, 0, msg) == AL_OK)
            al_sse_write(to_host, "error", 5, b.data, b.len, 0);
        al_buf_free(&b);
    }
    return AL_ELIMIT;
}

static void reset_rel(al_exchange *x)
{
    for (size_t i = 0; i < x->nkeys; i++) al_buf_reset(&x->keys[i].rel);
    x->rel_cuts++;
}

/* Delta text waits (in skey.pend) and its events in the queue until the end
 * of the bytes at hand (one al_exchange_response_body call), then the
 * scrubbers are fed once per key and what they release goes out: a burst of
 * tiny deltas costs one scrubber pass, not one per event.  The host sees the
 * same bytes: the released text is the same, only fed in larger pieces. */
static al_code flush_batch(al_exchange *x, al_buf *to_host)
{
    al_code r = feed_all(x);
    if (r != AL_OK) return r;
    if (monitor(x)) {
        reset_rel(x);
        return AL_OK;
    }
    if ((r = drain(x, to_host)) != AL_OK) return r;
    /* the scrubbers were just fed, so synth_rest only ever adds events: when
     * it adds none, a second drain would find what the first left */
    size_t waiting = queued(x);
    if ((r = synth_rest(x)) != AL_OK || queued(x) == waiting) return r;
    return drain(x, to_host);
}

/* flush_batch at the end of the bytes at hand.  The usual stream (one key,
 * not ended) is fed here, and when its scrubber released nothing new
 * (held_still) flush_batch would only find that: it is not called. */
static inline al_code flush_end(al_exchange *x, al_buf *to_host)
{
    if (x->nkeys != 1 || x->nended || monitor(x)) return flush_batch(x, to_host);
    skey *k = &x->keys[0];
    al_code r = feed_key(k);
    if (r != AL_OK) return r;
    /* held_still for the one key, which has not ended */
    if (x->held && x->qh < x->qn && x->rel_cuts == x->held_cuts && k->rel.len == x->held_rel) {
        const qitem *f = &x->q[x->qh];
        if (f->seq == x->held_seq && f->key == k->key) return AL_OK;
    }
    return flush_batch(x, to_host); /* (its feed finds nothing waiting) */
}

/* Caps a batch: past 256 waiting events, flush now. */
static al_code batch_cap(al_exchange *x, al_buf *to_host)
{
    return queued(x) >= 256 ? flush_batch(x, to_host) : AL_OK;
}

/* Queues a raw event that carries no text and emits what is settled. */
static al_code pass_raw(al_exchange *x, const char *raw, size_t raw_len, al_buf *to_host)
{
    if (!queued(x)) return al_buf_append(to_host, raw, raw_len);
    if (queued(x) > 1024) { /* cap the queue: give waiting events what is released */
        al_code r = settle_all(x, to_host);
        if (r == AL_OK) r = al_buf_append(to_host, raw, raw_len);
        return r;
    }
    al_code r = queue_push(x, raw, raw_len, NULL, NULL, NULL, 0, -1, 0);
    return r == AL_OK ? drain(x, to_host) : r;
}

/* ---- the shape of delta events (see shape_t) ---- */

static const char *const probes[2] = {"airlock-probe-a", "airlock-probe-bb"};

/* 1 when the string content at data[s0..s1) is the delta of key: the data
 * with a probe text there parses (cJSON) to an event whose only report is
 * one delta of key holding exactly that probe text, for two probes.  When
 * data holds no backslash, every string's value is its bytes, so the one
 * node whose value is the first probe is the string at the hole, and the
 * data with the second probe there (the same tokens) parses to the first
 * probe's tree with that value changed: the tree is changed so, not parsed
 * again. */
static int shape_probe(al_exchange *x, const char *data, size_t dlen, size_t s0, size_t s1, int key)
{
    if (!s0 || s1 >= dlen || data[s0 - 1] != '"' || data[s1] != '"') return 0;
    const int plain = !memchr(data, '\\', dlen);
    cJSON *ev = NULL, *pnode = NULL; /* the last probe's tree and its delta node */
    int ok = 1;
    for (int i = 0; i < 2 && ok; i++) {
        const char *pr = probes[i];
        size_t pl = strlen(pr);
        if (memmem(data, dlen, pr, pl)) {
            ok = 0;
            break;
        }
        if (plain && pnode) {
            ok = cJSON_SetValuestring(pnode, pr) != NULL;
        } else {
            al_buf *b = &x->scratch;
            al_buf_reset(b);
            cJSON_Delete(ev);
            ev = NULL;
            if (al_buf_append(b, data, s0) == AL_OK && al_buf_append(b, pr, pl) == AL_OK &&
                al_buf_append(b, data + s1, dlen - s1) == AL_OK)
                ev = cJSON_ParseWithLength(b->data, b->len);
        }
        note_io n;
        ok = ok && ev && note_event(x, x->ev_name, ev, &n) == AL_OK && n.ndelta == 1 && !n.nother &&
             n.key == key && !strcmp(n.node->valuestring, pr);
        pnode = ok ? n.node : NULL;
    }
    cJSON_Delete(ev);
    return ok;
}

/* shape_probe when data holds no backslash and the string at the hole,
 * quotes included, occurs nowhere else in data: that string is then node's
 * (whose value is the content), and data with a probe there parses to ev
 * with only node's value changed.  So each probe is put in node for the
 * walk and node is given its own value back: ev is as it was. */
static int shape_probe_tree(al_exchange *x, const char *data, size_t dlen, cJSON *ev, cJSON *node,
                            int key)
{
    char *own = node->valuestring;
    int ok = 1;
    for (int i = 0; i < 2 && ok; i++) {
        const char *pr = probes[i];
        if (memmem(data, dlen, pr, strlen(pr))) return 0;
        note_io n;
        node->valuestring = (char *)pr; /* (read only by the walk) */
        ok = note_event(x, x->ev_name, ev, &n) == AL_OK && n.ndelta == 1 && !n.nother &&
             n.key == key && !strcmp(n.node->valuestring, pr);
        node->valuestring = own;
    }
    return ok;
}

/* Takes the event just walked (exactly one delta, node of key, nothing
 * else; parsed without mending) as the shape of the deltas that follow. */
/* Fills sh->whole from sh->frame (empty when sh->one is not set or on
 * allocation failure: one_event then compares the two parts apart). */
static void shape_whole(shape_t *sh)
{
    al_buf *w = &sh->whole;
    al_buf_reset(w);
    if (!sh->one) return;
    const size_t hl = sh->fhead, tl = sh->frame.len - hl, st = WSTRIDE(sh->frame.len);
    if (al_buf_reserve(w, 8 * st) != AL_OK) return;
    for (size_t n = 1; n <= 8; n++) {
        char *d = w->data + (n - 1) * st;
        memcpy(d, sh->frame.data, hl);
        memset(d + hl, 0, n);
        memcpy(d + hl + n, sh->frame.data + hl, tl);
        memset(d + hl + n + tl, 0, st - hl - n - tl);
    }
    w->len = 8 * st;
}

static void shape_build(al_exchange *x, const char *data, size_t dlen, cJSON *ev, cJSON *node,
                        int key)
{
    shape_t *sh = &x->shape;
    sh->valid = 0;
    sh->framed = 0;
    sh->one = 0;
    const skey *k = find_key(x, key);
    if (!k) return; /* (the event's delta made it) */
    if (sh->builds >= 8 || x->ev_name_len >= sizeof sh->name) return;
    sh->builds++;
    /* the event must not report usage: a later one may have changed it */
    al_usage u1 = {-2, -2, -2}, u2 = {1, 2, 5};
    x->prov->usage(x->api, ev, &u1);
    x->prov->usage(x->api, ev, &u2);
    if (u1.input != -2 || u1.output != -2 || u1.total != -2 || u2.input != 1 || u2.output != 2 ||
        u2.total != 5)
        return;
    char *enc = cJSON_PrintUnformatted(node); /* where the string sits, if written alike */
    if (!enc) return;
    size_t el = strlen(enc);
    const char *at = data;
    for (int tries = 0; tries < 4 && el >= 2; tries++) {
        at = memmem(at, dlen - (size_t)(at - data), enc, el);
        if (!at) break;
        size_t s0 = (size_t)(at - data) + 1, s1 = (size_t)(at - data) + el - 1;
        int ok;
        if (!tries && at[0] == '"' && at[el - 1] == '"' && !memchr(data, '\\', dlen) &&
            !memmem(at + 1, dlen - (size_t)(at + 1 - data), enc, el))
            ok = shape_probe_tree(x, data, dlen, ev, node, key); /* the one place it can be */
        else
            ok = shape_probe(x, data, dlen, s0, s1, key);
        if (ok) {
            al_buf_reset(&sh->data);
            if (al_buf_append(&sh->data, data, dlen) != AL_OK) break;
            sh->s0 = s0;
            sh->s1 = s1;
            sh->key = key;
            sh->ki = (size_t)(k - x->keys);
            sh->name_len = x->ev_name ? x->ev_name_len : 0;
            if (sh->name_len) memcpy(sh->name, x->ev_name, sh->name_len);
            sh->oneline = !memchr(data, '\n', dlen) && !memchr(data, '\r', dlen);
            al_buf_reset(&sh->frame);
            sh->fhead = 6 + s0;
            if (sh->oneline && (al_buf_append(&sh->frame, "data: ", 6) != AL_OK ||
                                al_buf_append(&sh->frame, data, s0) != AL_OK ||
                                al_buf_append(&sh->frame, data + s1, dlen - s1) != AL_OK ||
                                al_buf_append(&sh->frame, "\n\n", 2) != AL_OK))
                sh->oneline = 0; /* shape_frame is only a faster way to the same */
            sh->valid = 1;
            sh->framed = sh->oneline && !sh->name_len;
            sh->one = sh->framed && x->sse && x->nkeys == 1 && !x->nended && !sh->ki &&
                      !monitor(x) && !k->keep; /* (one_event feeds past feed_key) */
            shape_whole(sh);
            break;
        }
        at++;
    }
    cJSON_free(enc);
}

/* shape_match and shape_event run on every event from one call site
 * (any_event): inlined, which gcc does not do unasked. */
#define HOT_INLINE __attribute__((always_inline))
static inline int shape_match(al_exchange *x, const char *data, size_t dlen, const char **text,
                              size_t *tlen, cJSON **own) HOT_INLINE;
static inline al_code shape_event(al_exchange *x, const char *raw, size_t raw_len, const char *text,
                                  size_t tlen, al_buf *to_host) HOT_INLINE;

/* 1 when data is the shape's bytes around another string content: sets
 * text and tlen to the delta text it carries (pointing into data, or into
 * *own, a cJSON string the caller deletes). */
static inline int shape_match(al_exchange *x, const char *data, size_t dlen, const char **text,
                              size_t *tlen, cJSON **own)
{
    const shape_t *sh = &x->shape;
    *own = NULL;
    if (!sh->valid) return 0;
    size_t pre = sh->s0, suf = sh->data.len - sh->s1;
    size_t nl = x->ev_name ? x->ev_name_len : 0;
    if (dlen < pre + suf || nl != sh->name_len || (nl && memcmp(x->ev_name, sh->name, nl)) ||
        memcmp(data, sh->data.data, pre) || memcmp(data + dlen - suf, sh->data.data + sh->s1, suf))
        return 0;
    const char *m = data + pre;
    size_t ml = dlen - pre - suf;
    /* one look at each byte (deltas are a few bytes: three memchr calls
     * cost more than the text) */
    int esc = 0;
    for (size_t i = 0; i < ml; i++) {
        unsigned char c = (unsigned char)m[i];
        if (c == '\0') return 0;
        if (c == '\\')
            esc = 1;
        else if (c == '"' && !esc)
            return 0; /* a quote ends the string early */
    }
    if (!esc) { /* no escape: the content is the text */
        *text = m;
        *tlen = ml;
        return 1;
    }
    if (has_nul_escape(m, ml)) return 0;
    al_buf *b = &x->scratch;
    al_buf_reset(b);
    if (al_buf_append(b, "\"", 1) != AL_OK || al_buf_append(b, m, ml) != AL_OK ||
        al_buf_append(b, "\"", 1) != AL_OK)
        return 0;
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(b->data, b->len, &end, 0);
    if (!cJSON_IsString(v) || end != b->data + b->len) { /* not one whole string */
        cJSON_Delete(v);
        return 0;
    }
    *own = v;
    *text = v->valuestring;
    *tlen = strlen(v->valuestring);
    return 1;
}

/* A delta event of the shape: what stream_event does for one delta of the
 * shape's key, without a tree. */
static inline al_code shape_event(al_exchange *x, const char *raw, size_t raw_len, const char *text,
                                  size_t tlen, al_buf *to_host)
{
    skey *k = &x->keys[x->shape.ki];
    if (add_small(&k->pend, text, tlen) != AL_OK) return AL_ENOMEM;
    if (monitor(x)) return pass_raw(x, raw, raw_len, to_host);
    al_code r;
    if (!queued(x) && k->rel.len >= tlen && !memcmp(k->rel.data ? k->rel.data : "", text, tlen) &&
        (!k->ended || k->rel.len == tlen)) {
        /* as stream_event: nothing waits and released text matches */
        al_buf_consume(&k->rel, tlen);
        x->rel_cuts++;
        if ((r = al_buf_append(to_host, raw, raw_len)) != AL_OK) return r;
        if ((r = synth_rest(x)) != AL_OK) return r;
        return drain(x, to_host);
    }
    if ((uintptr_t)text >= (uintptr_t)raw && (uintptr_t)text - (uintptr_t)raw <= raw_len &&
        tlen <= raw_len - (size_t)(text - raw))
        r = queue_push_delta(x, raw, raw_len, (size_t)(text - raw), tlen, k->key);
    else
        r = queue_push(x, raw, raw_len, NULL, NULL, text, tlen, k->key, 0);
    return r != AL_OK ? r : batch_cap(x, to_host);
}

/* One stream event (SSE data or NDJSON line) that is not of the shape:
 * scrub and re-emit. */
/* An event that reports an error ({"error": ...}: OpenAI's, Gemini's and
 * Ollama's mid-stream failures, Anthropic's "type":"error") carries a
 * message that may echo what was sent or name somebody, as a whole error
 * reply's may: every string in it is scrubbed, whole. */
static al_code scrub_error_event(al_exchange *x, cJSON *ev)
{
    if (!cJSON_IsObject(ev) || !cJSON_GetObjectItemCaseSensitive(ev, "error")) return AL_OK;
    al_texts t = {0};
    int changed = 0;
    al_code r = al_texts_push_all(&t, ev, AL_ROLE_ASSISTANT);
    for (size_t i = 0; r == AL_OK && i < t.n; i++) r = scrub_node(x, t.v[i].node, &changed);
    al_texts_free(&t);
    if (changed) x->ev_changed = 1;
    return r;
}

static al_code stream_event(al_exchange *x, const char *raw, size_t raw_len, const char *data,
                            size_t dlen, al_buf *to_host)
{
    size_t s = 0;
    al_code r;
    while (s < dlen && (data[s] == ' ' || data[s] == '\t' || data[s] == '\r')) s++;
    if (s == dlen) return pass_raw(x, raw, raw_len, to_host);
    if (x->sse && dlen - s >= 6 && memcmp(data + s, "[DONE]", 6) == 0) {
        if ((r = io_end_all(&x->io)) != AL_OK) return r;
        if (monitor(x)) {
            reset_rel(x);
            return pass_raw(x, raw, raw_len, to_host);
        }
        if ((r = drain(x, to_host)) != AL_OK || (r = synth_rest(x)) != AL_OK) return r;
        if ((r = queue_push(x, raw, raw_len, NULL, NULL, NULL, 0, -1, 0)) != AL_OK) return r;
        return drain(x, to_host);
    }
    int mended = 0;
    cJSON *ev = NULL;
    if (!has_nul_escape(data, dlen) && !(ev = parse_exact(data, dlen))) {
        ev = parse_json(data, dlen);
        mended = 1;
    }
    if (!ev) {
        set_fail(x, "malformed stream event");
        if (x->ctx->fail == AL_FAIL_OPEN || monitor(x)) return pass_raw(x, raw, raw_len, to_host);
        return AL_OK; /* closed: an event that cannot be screened is dropped */
    }
    x->ev_changed = 0;
    x->ev_other = 0;
    x->ncur = 0;
    al_usage u = {x->rec.in_tokens, x->rec.out_tokens, x->rec.total_tokens};
    x->prov->usage(x->api, ev, &u);
    if (x->get) reply_model(x, ev);
    x->rec.in_tokens = u.input;
    x->rec.out_tokens = u.output;
    x->rec.total_tokens = u.total;
    x->ev_root = ev;
    x->ev_src = data;
    x->ev_src_len = dlen;
    r = x->prov->stream_event(x->api, x->ev_name, ev, &x->io);
    if (r == AL_OK && x->ncur == 0) r = scrub_error_event(x, ev);
    x->ev_src = NULL;
    x->ev_root = NULL;
    /* (an empty text is not taken: that is the role event that opens an
     * OpenAI stream, whose shape the deltas after it do not have) */
    if (r == AL_OK && x->ncur == 1 && !x->ev_other && !x->ev_changed && !mended &&
        x->cur[0].node->valuestring[0])
        shape_build(x, data, dlen, ev, x->cur[0].node, x->cur[0].key);
    if (r != AL_OK || monitor(x)) {
        cJSON_Delete(ev);
        reset_rel(x);
        return r != AL_OK ? r : pass_raw(x, raw, raw_len, to_host);
    }
    if (x->ncur == 1 && !queued(x) && !x->ev_changed) {
        /* fast path: nothing waits and the text is released as it came */
        skey *k = find_key(x, x->cur[0].key);
        const char *d = x->cur[0].node->valuestring;
        size_t dl = strlen(d);
        if (k && k->rel.len >= dl && !memcmp(k->rel.data ? k->rel.data : "", d, dl) &&
            (!k->ended || k->rel.len == dl)) {
            al_buf_consume(&k->rel, dl);
            x->rel_cuts++;
            cJSON_Delete(ev);
            if ((r = al_buf_append(to_host, raw, raw_len)) != AL_OK) return r;
            if ((r = synth_rest(x)) != AL_OK) return r;
            return drain(x, to_host);
        }
    }
    if (x->ncur == 1) {
        const char *d = x->cur[0].node->valuestring;
        r = queue_push(x, raw, raw_len, ev, x->cur[0].node, d, strlen(d), x->cur[0].key,
                       x->ev_changed);
        if (r != AL_OK) {
            cJSON_Delete(ev);
            return r;
        }
        if (!x->ev_other) return batch_cap(x, to_host); /* no text was released */
        if ((r = drain(x, to_host)) != AL_OK || (r = synth_rest(x)) != AL_OK) return r;
        return drain(x, to_host);
    }
    if (x->ncur > 1) {
        /* texts of several keys in one event: settle the queue, then each
         * text takes what its key released */
        if ((r = settle_all(x, to_host)) != AL_OK) {
            cJSON_Delete(ev);
            return r;
        }
        for (size_t i = 0; i < x->ncur && r == AL_OK; i++) {
            skey *k = find_key(x, x->cur[i].key);
            if (!k) continue;
            const char *rel = k->rel.data ? k->rel.data : "";
            if (strcmp(rel, x->cur[i].node->valuestring) != 0) {
                r = set_string(x->cur[i].node, rel);
                x->ev_changed = 1;
            }
            al_buf_reset(&k->rel);
            x->rel_cuts++;
        }
    } else {
        r = drain(x, to_host);
    }
    if (r == AL_OK) r = synth_rest(x);
    /* the queue owns ev only once queue_push succeeded */
    if (r == AL_OK &&
        (r = queue_push(x, raw, raw_len, ev, NULL, NULL, 0, -1, x->ev_changed)) == AL_OK)
        return drain(x, to_host);
    cJSON_Delete(ev);
    return r;
}

/* Copies s[0..n) to d and returns whether it equals t[0..n): the check and
 * the copy of a delta event in one pass over its bytes (as memcmp, then
 * memcpy when equal).  d does not overlap s or t. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define CE_STEP(o, acc)                                                                            \
    do {                                                                                           \
        __m256i a_ = _mm256_loadu_si256((const __m256i *)(s + (o)));                               \
        _mm256_storeu_si256((__m256i *)(d + (o)), a_);                                             \
        acc = _mm256_or_si256(                                                                     \
            acc, _mm256_xor_si256(a_, _mm256_loadu_si256((const __m256i *)(t + (o)))));            \
    } while (0)
/* 64 bytes a step, the last 64 overlapping; n >= 64 */
__attribute__((target("avx2"))) static int copy_eq_avx2(char *d, const char *s, const char *t,
                                                        size_t n)
{
    __m256i x0 = _mm256_setzero_si256(), x1 = _mm256_setzero_si256();
    for (size_t i = 0; i + 64 < n; i += 64) {
        CE_STEP(i, x0);
        CE_STEP(i + 32, x1);
    }
    CE_STEP(n - 64, x0);
    CE_STEP(n - 32, x1);
    x0 = _mm256_or_si256(x0, x1);
    return _mm256_testz_si256(x0, x0);
}

/* 128 to 256 bytes (a delta event's usual size): eight steps, the last four
 * ending at n, without a loop */
__attribute__((target("avx2"))) static int copy_eq_avx2_256(char *d, const char *s, const char *t,
                                                            size_t n)
{
    __m256i x0 = _mm256_setzero_si256(), x1 = _mm256_setzero_si256();
    CE_STEP(0, x0);
    CE_STEP(32, x1);
    CE_STEP(64, x0);
    CE_STEP(96, x1);
    d += n - 128;
    s += n - 128;
    t += n - 128;
    CE_STEP(0, x0);
    CE_STEP(32, x1);
    CE_STEP(64, x0);
    CE_STEP(96, x1);
    x0 = _mm256_or_si256(x0, x1);
    return _mm256_testz_si256(x0, x0);
}
#undef CE_STEP

static int copy_avx2 = -1; /* al_cpu_avx2_bmi, found once (every thread finds the same) */
#endif

static inline int copy_eq(char *d, const char *s, const char *t, size_t n)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    int avx2 = __atomic_load_n(&copy_avx2, __ATOMIC_RELAXED);
    if (avx2 < 0) {
        avx2 = al_cpu_avx2_bmi();
        __atomic_store_n(&copy_avx2, avx2, __ATOMIC_RELAXED);
    }
    if (avx2 && n - 128 <= 128) return copy_eq_avx2_256(d, s, t, n);
    if (avx2 && n >= 64) return copy_eq_avx2(d, s, t, n);
#endif
    if (memcmp(s, t, n)) return 0;
    memcpy(d, s, n);
    return 1;
}

/* The bytes that end shape_frame's look at a text: '"' (its end) and what
 * it does not take (an escape, a line end, NUL). */
static const unsigned char frame_stop[256] = {
    [0] = 1, ['\n'] = 1, ['\r'] = 1, ['"'] = 1, ['\\'] = 1};

/* An SSE event with a line SSE does not define: what a server labelled
 * text/event-stream and sent as JSON or text, or text beside the data.  An
 * SSE client would ignore the line, a program reading the body would not,
 * and it is passed on verbatim with the event: it cannot be screened, so the
 * event follows AIRLOCK_FAIL (closed: dropped), as a malformed data event
 * does. */
static al_code odd_event(al_exchange *x, const char *raw, size_t raw_len, al_buf *to_host)
{
    set_fail(x, "malformed stream event");
    if (x->ctx->fail == AL_FAIL_OPEN || monitor(x)) return pass_raw(x, raw, raw_len, to_host);
    return AL_OK;
}

/* An SSE event at the start of b[0..n) that is "data: ", the shape's data
 * around a text with no '"', '\\', NUL, CR or LF, then "\n\n" (the usual
 * delta event): its length, with text and tlen set, found in one pass over
 * its bytes.  al_sse_view then shape_match would read it alike (one data
 * line, ending at the LF after the shape's suffix); 0 for anything else. */
static inline long shape_frame(const al_exchange *x, const char *b, size_t n, const char **text,
                               size_t *tlen)
{
    const shape_t *sh = &x->shape;
    if (!sh->framed) return 0;
    size_t hl = sh->fhead, tl = sh->frame.len - hl; /* "data: "+prefix, suffix+"\n\n" */
    if (n < hl + tl || memcmp(b, sh->frame.data, hl)) return 0;
    size_t q = hl; /* the closing quote */
    while (q < n && !frame_stop[(unsigned char)b[q]]) q++;
    if (q >= n || b[q] != '"') return 0;
    if (n - q < tl || memcmp(b + q, sh->frame.data + hl, tl) || q + tl > AL_SSE_MAX_EVENT) return 0;
    *text = b + hl;
    *tlen = q - hl;
    return (long)(q + tl);
}

/* shape_frame and then shape_event for the usual delta event of a read that
 * holds many (a client reading 16 KB at a time), when events wait and the
 * shape has whole frames (shape_t.whole): the event is compared with its
 * frame as it is copied to its place in the ring, as one_event does, and
 * queued as shape_event would.  Returns its length (*rc: what shape_event
 * would return), or 0 when it is not such an event or cannot be taken so
 * (nothing was done: the caller goes on as before). */
static inline long frame_queue(al_exchange *x, const char *b, size_t n, al_buf *to_host,
                               al_code *rc)
{
    const shape_t *sh = &x->shape;
    if (!sh->framed || !sh->whole.len || x->qh == x->qn || x->qn == x->qcap || monitor(x)) return 0;
    const size_t hl = sh->fhead, tl = sh->frame.len - hl;
    if (n < hl + tl + 1) return 0;
    /* the text: 1-8 bytes up to the first byte shape_frame stops at */
    size_t q = hl, qe = n - tl < hl + 9 ? n - tl : hl + 9;
    while (q < qe && !frame_stop[(unsigned char)b[q]]) q++;
    const size_t tlen = q - hl, len = q + tl;
    if (q == qe || tlen - 1 >= 8 || len > AL_SSE_MAX_EVENT) return 0;
    size_t at = ring_at(x, len);
    if (at == SIZE_MAX) return 0;
    char *w = sh->whole.data + (tlen - 1) * WSTRIDE(sh->frame.len);
    al_copy_1to8(w + hl, b + hl, tlen);
    if (!copy_eq(x->arena.data + at, b, w, len)) {
        x->arena.data[x->arena.len] = '\0'; /* (the copy may have run over it) */
        return 0;
    }
    skey *k = &x->keys[sh->ki];
    if (add_small(&k->pend, b + hl, tlen) != AL_OK) {
        x->arena.data[x->arena.len] = '\0';
        *rc = AL_ENOMEM;
        return (long)len;
    }
    put_delta(x, at, NULL, len, hl, tlen, k->key);
    *rc = batch_cap(x, to_host);
    return (long)len;
}

/* One stream event: through the shape when it matches (data that matches
 * a shape is never blank nor "[DONE]": the shape's bytes parsed as a JSON
 * value and hold a '"' before the hole), else stream_event. */
static inline al_code any_event(al_exchange *x, const char *raw, size_t raw_len, const char *data,
                                size_t dlen, al_buf *to_host)
{
    const char *text;
    size_t tlen;
    cJSON *own;
    if (x->shape.valid && shape_match(x, data, dlen, &text, &tlen, &own)) {
        al_code r = shape_event(x, raw, raw_len, text, tlen, to_host);
        if (own) cJSON_Delete(own);
        return r;
    }
    return stream_event(x, raw, raw_len, data, dlen, to_host);
}

/* Frames the events at the start of buf[0..len) and handles each; *used:
 * the bytes taken (the rest is an incomplete event, or all of it when the
 * stream was cut).  The caller flushes the batch (flush_batch). */
static inline al_code frame_events(al_exchange *x, const char *buf, size_t len, size_t *used,
                                   al_buf *to_host) HOT_INLINE;
static inline al_code frame_events(al_exchange *x, const char *buf, size_t len, size_t *used,
                                   al_buf *to_host)
{
    size_t off = 0;
    al_code r = AL_OK;
    *used = 0;
    while (off < len && r == AL_OK) {
        const char *b = buf + off;
        size_t n = len - off;
        long k;
        const char *text;
        size_t tlen;
        if (x->sse && !x->last_len && (k = frame_queue(x, b, n, to_host, &r)) > 0) {
            /* (queued: r says how it went) */
        } else if (x->sse && !x->last_len && (k = shape_frame(x, b, n, &text, &tlen)) > 0) {
            r = shape_event(x, b, (size_t)k, text, tlen, to_host);
        } else if (x->sse) {
            al_sse_event ev;
            if (x->tmp.len) al_buf_reset(&x->tmp);
            /* one data line (the usual event) is read where it is */
            k = al_sse_view(b, n, x->last_len, &ev, &x->tmp);
            if (k > 0) {
                x->ev_name = ev.event;
                x->ev_name_len = ev.event_len;
                if (ev.other) /* not SSE: a JSON body, a line of text */
                    r = odd_event(x, b, (size_t)k, to_host);
                else if (!ev.has_data) /* a comment or ping keeps its place */
                    r = pass_raw(x, b, (size_t)k, to_host);
                else
                    r = any_event(x, b, (size_t)k, ev.data ? ev.data : "", ev.data_len, to_host);
                x->ev_name = NULL;
                x->ev_name_len = 0;
            }
        } else {
            size_t ll = 0;
            k = al_ndjson_next(b, n, x->last_len, &ll);
            if (k > 0) r = any_event(x, b, (size_t)k, b, ll, to_host);
        }
        if (k == -2) {
            x->last_len = n;
            break;
        }
        if (k == -1) {
            *used = len;
            return cut_stream(x, "stream event exceeds the size limit", b, n, to_host);
        }
        if (k < 0) {
            r = AL_ENOMEM;
            break;
        }
        x->last_len = 0;
        off += (size_t)k;
    }
    *used = off;
    return r;
}

/* frame_events on x->body (the rare paths: a read that ends inside an event). */
static al_code frame_body(al_exchange *x, size_t *used, al_buf *to_host)
{
    return frame_events(x, x->body.data, x->body.len, used, to_host);
}

/* The framing of the event waiting in x->body (its start) on the bytes
 * in body: > 0 when it is complete, -2 when it needs more, else an error
 * (sse.h).  Only looks: frame_events handles it. */
static long waiting_end(al_exchange *x)
{
    long k;
    if (x->sse) {
        al_sse_event ev;
        if (x->tmp.len) al_buf_reset(&x->tmp);
        k = al_sse_view(x->body.data, x->body.len, x->last_len, &ev, &x->tmp);
        if (x->tmp.len) al_buf_reset(&x->tmp);
    } else {
        size_t ll;
        k = al_ndjson_next(x->body.data, x->body.len, x->last_len, &ll);
    }
    return k;
}

/* x->body holds the start of an event: buf's first lines are added to it
 * until that event is complete, and it is handled from there (buf is not
 * copied whole to handle one event at its front).  *took: the bytes of buf
 * dealt with: the events after it are framed from buf[*took..).  Events are
 * handled as frame_events on body + buf would (no flush here). */
static al_code finish_waiting(al_exchange *x, const char *buf, size_t len, size_t *took,
                              al_buf *to_host)
{
    size_t off = 0, used = 0;
    long k;
    *took = len;
    for (;;) { /* an event ends at a line end: add one line at a time */
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t pe = nl ? (size_t)(nl - buf) + 1 : len;
        if (al_buf_append(&x->body, buf + off, pe - off) != AL_OK) return AL_ENOMEM;
        off = pe;
        k = waiting_end(x);
        if (k != -2 || off == len) break;
        x->last_len = x->body.len;
    }
    if (k == -2) { /* still incomplete: all of buf waits */
        x->last_len = x->body.len;
        return AL_OK;
    }
    if (k < 0) { /* the rest of buf joins it, as if it had come whole */
        if (al_buf_append(&x->body, buf + off, len - off) != AL_OK) return AL_ENOMEM;
        off = len;
    }
    al_code r = frame_body(x, &used, to_host);
    size_t rem = x->body.len - used; /* bytes after the events handled: from buf */
    if (r != AL_OK || x->mode != AL_RESP_STREAM || rem > off) {
        /* an error or a cut: what is left of buf follows what was left of body */
        if (x->mode == AL_RESP_PASS) { /* cut open: the rest goes through */
            if (r == AL_OK) r = al_buf_append(to_host, buf + off, len - off);
            al_buf_reset(&x->body);
            return r;
        }
        al_buf_consume(&x->body, used);
        if (x->mode == AL_RESP_STREAM && al_buf_append(&x->body, buf + off, len - off) != AL_OK &&
            r == AL_OK)
            r = AL_ENOMEM;
        return r;
    }
    al_buf_reset(&x->body);
    x->last_len = 0; /* the rest is framed afresh from buf */
    *took = off - rem;
    return AL_OK;
}

/* Stream bytes: framed straight from buf when no earlier bytes wait (the
 * usual case, a read that ends on an event boundary), else after them: a
 * few bytes join them in x->body, more complete the waiting event from their
 * front (finish_waiting) and the rest is framed from buf.  An incomplete
 * last event waits in x->body.  Then what the scrubbers release goes out. */
static inline al_code stream_bytes(al_exchange *x, const char *buf, size_t len,
                                   al_buf *to_host) HOT_INLINE;
static inline al_code stream_bytes(al_exchange *x, const char *buf, size_t len, al_buf *to_host)
{
    size_t used = 0, off = 0;
    al_code r = AL_OK;
    if (x->body.len && len <= 1024) {
        if ((r = al_buf_append(&x->body, buf, len)) != AL_OK) return r;
        r = frame_body(x, &used, to_host);
        al_buf_consume(&x->body, used);
        off = len;
    } else if (x->body.len) {
        r = finish_waiting(x, buf, len, &off, to_host);
        if (r != AL_OK || x->mode != AL_RESP_STREAM) return r;
    }
    if (off < len) {
        r = frame_events(x, buf + off, len - off, &used, to_host);
        if (r == AL_OK && used < len - off && x->mode == AL_RESP_STREAM)
            r = al_buf_append(&x->body, buf + off + used, len - off - used);
    }
    return r == AL_OK && x->mode == AL_RESP_STREAM ? flush_end(x, to_host) : r;
}

/* The usual call of a client that hands over one event at a time (libcurl's
 * write callback gets one HTTP chunk): buf is exactly one delta event of the
 * shape (shape_frame), of the stream's one key, while earlier events wait.
 * Then it is handled as stream_bytes would (shape_event queues it, flush_end
 * feeds its text and drains when the scrubber released something), without
 * the framing loop and with the text fed from buf rather than through
 * skey.pend.  Returns 0 when buf is not such an event (nothing was done). */
static inline int one_event(al_exchange *x, const char *buf, size_t len, al_buf *to_host,
                            al_code *rc) HOT_INLINE;
static inline int one_event(al_exchange *x, const char *buf, size_t len, al_buf *to_host,
                            al_code *rc)
{
    const shape_t *sh = &x->shape; /* (one implies framed) */
    /* (qh < qn and fewer than 255 wait: qn - qh - 1 < 254, qh <= qn; a full
     * array is given room as queue_push would) */
    if (!sh->one || (x->body.len | x->last_len | x->keys[0].pend.len) || x->qn - x->qh - 1 >= 254 ||
        (x->qn == x->qcap && queue_room(x) != AL_OK))
        return 0;
    /* shape_frame(x, buf, len, ...) == len, checked from the end: the
     * suffix (its closing quote first) must end buf, so the text is what
     * lies between it and the prefix, with no stop byte in it (the first
     * stop byte shape_frame finds is then that quote) */
    size_t hl = sh->fhead, tl = sh->frame.len - hl;
    if (len < hl + tl || len > AL_SSE_MAX_EVENT) return 0;
    const size_t q = len - tl;
    for (size_t i = hl; i < q; i++)
        if (frame_stop[(unsigned char)buf[i]]) return 0;
    const char *text = buf + hl;
    const size_t tlen = q - hl;
    size_t at = ring_at(x, len);
    if (at == SIZE_MAX) return 0;
    const char *raw = buf; /* NULL once the bytes are in the arena */
    if (tlen - 1 < 8 && sh->whole.len) {
        /* the frame for this length, the text copied into its hole: the event
         * is compared with it as it is copied to its place in the ring (bytes
         * past the ring's write end are not in use: a mismatch leaves them) */
        char *w = sh->whole.data + (tlen - 1) * WSTRIDE(sh->frame.len);
        al_copy_1to8(w + hl, text, tlen);
        if (!copy_eq(x->arena.data + at, buf, w, len)) {
            x->arena.data[x->arena.len] = '\0'; /* (the copy may have run over it) */
            return 0;
        }
        raw = NULL;
    } else if (memcmp(buf, sh->frame.data, hl) || memcmp(buf + q, sh->frame.data + hl, tl)) {
        return 0;
    }
    skey *k = &x->keys[0];
    put_delta(x, at, raw, len, (size_t)(text - buf), tlen, k->key); /* the queue has room */
    /* (fewer than 256 wait: batch_cap has nothing to do) flush_end: */
    size_t from = k->rel.len;
    al_code r = k->json ? esc_collect(&k->esc, text, tlen) : AL_OK; /* as feed_key */
    if (r == AL_OK && tlen - 1 < 8 && tlen <= k->room) {
        /* as al_stream_scrub_feed would add it: no scan is due */
        al_buf *w = k->win;
        char *d = w->data + w->len;
        al_copy_1to8(d, text, tlen);
        d[tlen] = '\0';
        w->len += tlen;
        k->room -= tlen;
    } else if (r == AL_OK && tlen) {
        r = al_stream_scrub_feed(k->s, text, tlen, &k->rel);
        k->win = al_stream_scrub_tail(k->s, &k->room);
    }
    if (r == AL_OK && k->json) r = quote_bare(k, from);
    if (r == AL_OK && !(x->held_ok && k->rel.len == from)) {
        /* (a feed that released nothing changed nothing the test reads: one_event
         * only queued an event behind the front one) */
        x->held_ok = x->held && x->rel_cuts == x->held_cuts && k->rel.len == x->held_rel &&
                     x->q[x->qh].seq == x->held_seq && x->q[x->qh].key == k->key;
        if (!x->held_ok) r = flush_batch(x, to_host);
    }
    *rc = r;
    return 1;
}

/* The stream cannot go on: what follows is not served.  A block the
 * completion policy asks for (AL_EBLOCKED, the text holding it taken back)
 * is recorded as blocked; anything else as a failure. */
static void stream_stops(al_exchange *x, al_code r)
{
    if (r == AL_EBLOCKED)
        x->rec.blocked = 1;
    else
        set_fail(x, r == AL_ENOMEM ? "out of memory" : "completion scan failed");
    x->cut = 1;
}

/* How a body opens: 1 with an SSE field ("data:", "event:", "id:",
 * "retry:", a ":" comment line), 0 with anything else, -1 when its bytes so
 * far do not tell (blank lines, part of a field name). */
static int sse_opening(const char *s, size_t n)
{
    static const char *const field[] = {"data:", "event:", "id:", "retry:", ":"};
    size_t i = n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3) ? 3 : 0;
    while (i < n && (s[i] == '\r' || s[i] == '\n' || s[i] == ' ' || s[i] == '\t')) i++;
    if (i == n) return -1;
    for (size_t k = 0; k < sizeof field / sizeof field[0]; k++) {
        size_t fl = strlen(field[k]), m = n - i < fl ? n - i : fl;
        if (!memcmp(s + i, field[k], m)) return m == fl ? 1 : -1;
    }
    return 0;
}

static al_code body_any(al_exchange *x, const char *buf, size_t len, al_buf *to_host);

/* The first bytes of a reply whose label may hide a stream (x->sniff): held
 * until they tell (at most 64 blank bytes), then the reply is read as SSE or
 * as its label said, from its first byte. */
static __attribute__((noinline)) al_code sniff_body(al_exchange *x, const char *buf, size_t len,
                                                    al_buf *to_host)
{
    al_code r = al_buf_append(&x->body, buf, len);
    if (r != AL_OK) return r;
    int k = sse_opening(x->body.data, x->body.len);
    if (k < 0 && x->body.len < 64) return AL_OK;
    x->sniff = 0;
    if (k == 1) {
        x->mode = AL_RESP_STREAM;
        x->sse = 1;
    }
    al_buf held = x->body;
    memset(&x->body, 0, sizeof x->body);
    r = body_any(x, held.data, held.len, to_host);
    al_buf_free(&held);
    return r;
}

/* al_exchange_response_body for any call one_event does not take. */
static __attribute__((noinline)) al_code body_any(al_exchange *x, const char *buf, size_t len,
                                                  al_buf *to_host)
{
    if (!x) return AL_EINVAL;
    x->held_ok = 0;
    if (!x->resp_begun) al_exchange_response_begin(x, 200, NULL);
    if (x->cut) return AL_ELIMIT;
    if (x->mode == AL_RESP_PASS) return al_buf_append(to_host, buf, len);
    if (x->sniff) return sniff_body(x, buf, len, to_host);
    if (x->mode == AL_RESP_WHOLE) {
        if (x->ctx->max_body && x->body.len + len > x->ctx->max_body) {
            set_fail(x, "reply exceeds AIRLOCK_MAX_BODY");
            if (x->ctx->fail == AL_FAIL_OPEN || monitor(x)) {
                x->mode = AL_RESP_PASS;
                al_code r = al_buf_append(to_host, x->body.data, x->body.len);
                al_buf_free(&x->body);
                if (r == AL_OK) r = al_buf_append(to_host, buf, len);
                return r;
            }
            x->cut = 1;
            al_buf_free(&x->body);
            return AL_ELIMIT;
        }
        return al_buf_append(&x->body, buf, len);
    }
    al_code r = stream_bytes(x, buf, len, to_host);
    if (r != AL_OK && !x->cut && x->mode == AL_RESP_STREAM) stream_stops(x, r);
    return r;
}

al_code al_exchange_response_body(al_exchange *x, const char *buf, size_t len, al_buf *to_host)
{
    al_code r;
    if (x && x->mode == AL_RESP_STREAM && !x->cut && one_event(x, buf, len, to_host, &r)) {
        if (r != AL_OK && !x->cut && x->mode == AL_RESP_STREAM) stream_stops(x, r);
        return r;
    }
    return body_any(x, buf, len, to_host);
}

/* Gemini's streamGenerateContent without alt=sse: a JSON array of chunks
 * whose texts continue each other, so each text the provider reports as a
 * delta is scrubbed as one stream per key (a candidate's answer, its
 * thoughts: a value split across chunks is still found), and the texts it
 * reports whole (a function call's arguments) are scrubbed whole. */
typedef struct {
    cJSON *node;
    char *out;
    int key;
} aslot;

typedef struct {
    al_stream_io io;
    al_exchange *x;
    aslot *v;
    size_t n, cap;
    int *changed;
} array_io;

static al_code arr_delta(al_stream_io *io, int key, cJSON *node, const cJSON *event)
{
    array_io *a = (array_io *)io;
    if (!cJSON_IsString(node)) return AL_OK;
    skey *k = get_key(a->x, key, NULL);
    if (!k) return AL_ENOMEM;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        aslot *nv = realloc(a->v, cap * sizeof *nv);
        if (!nv) return AL_ENOMEM;
        a->v = nv;
        a->cap = cap;
    }
    const char *in = node->valuestring;
    size_t before = k->rel.len;
    k->room = 0;
    al_code r = al_stream_scrub_feed(k->s, in, strlen(in), &k->rel);
    aslot *s = &a->v[a->n++];
    s->node = node;
    s->key = key;
    s->out = strndup(k->rel.data ? k->rel.data + before : "", k->rel.len - before);
    return r == AL_OK && !s->out ? AL_ENOMEM : r;
}

static al_code arr_end(al_stream_io *io, int key, cJSON *node)
{
    return AL_OK; /* every key is flushed once the whole array is read */
}

static al_code arr_end_all(al_stream_io *io)
{
    return AL_OK;
}

static al_code arr_whole(al_stream_io *io, cJSON *node)
{
    array_io *a = (array_io *)io;
    return scrub_node(a->x, node, a->changed);
}

static al_code array_stream(al_exchange *x, cJSON *root, int *changed)
{
    array_io a = {{arr_delta, arr_end, arr_end_all, arr_whole, NULL}, x, NULL, 0, 0, changed};
    cJSON *el;
    al_code r = AL_OK;
    cJSON_ArrayForEach(el, root)
    {
        if ((r = x->prov->stream_event(x->api, NULL, el, &a.io)) != AL_OK) break;
    }
    aslot *v = a.v;
    size_t n = a.n;
    /* each text keeps its original unless its key's released text differs
     * from the original as a whole */
    for (size_t ki = 0; r == AL_OK && ki < x->nkeys; ki++) {
        skey *k = &x->keys[ki];
        size_t last = n, before = k->rel.len;
        k->room = 0;
        if ((r = al_stream_scrub_flush(k->s, &k->rel)) != AL_OK) break;
        al_buf orig = {0};
        for (size_t i = 0; i < n; i++)
            if (v[i].key == k->key) {
                al_buf_puts(&orig, v[i].node->valuestring);
                last = i;
            }
        int same =
            orig.len == k->rel.len && (!orig.len || !memcmp(orig.data, k->rel.data, orig.len));
        al_buf_free(&orig);
        if (same || last == n) continue;
        for (size_t i = 0; r == AL_OK && i < n; i++) {
            if (v[i].key != k->key) continue;
            if (i == last) {
                al_buf t = {0};
                r = al_buf_puts(&t, v[i].out);
                if (r == AL_OK) r = al_buf_append(&t, k->rel.data + before, k->rel.len - before);
                if (r == AL_OK) r = set_string(v[i].node, t.data ? t.data : "");
                al_buf_free(&t);
            } else {
                r = set_string(v[i].node, v[i].out);
            }
        }
        *changed = 1;
    }
    for (size_t i = 0; i < n; i++) free(v[i].out);
    free(v);
    reset_rel(x);
    return r;
}

/* scrub_node for a signed text (a thinking block, signed over its text):
 * an original the scrubber changed is remembered (signmem.h), so that the
 * block the program sends back can go out as the server signed it. */
static al_code scrub_signed(al_exchange *x, cJSON *node, const char *sig, int *changed)
{
    if (!cJSON_IsString(node) || monitor(x) || !x->ctx->signmem)
        return scrub_node(x, node, changed);
    char *orig = strdup(node->valuestring);
    if (!orig) return AL_ENOMEM;
    al_code r = scrub_node(x, node, changed);
    if (r == AL_OK && cJSON_IsString(node) && strcmp(orig, node->valuestring) != 0)
        al_signmem_put(x->ctx->signmem, sig, orig, strlen(orig), node->valuestring,
                       strlen(node->valuestring));
    free(orig);
    return r;
}

static al_code whole_end(al_exchange *x, al_buf *to_host)
{
    cJSON *root = has_nul_escape(x->body.data ? x->body.data : "", x->body.len)
                      ? NULL
                      : parse_json(x->body.data ? x->body.data : "", x->body.len);
    if (!root) {
        set_fail(x, "reply is not valid JSON");
        if (x->ctx->fail == AL_FAIL_OPEN || monitor(x) || x->rec.status >= 300)
            return al_buf_append(to_host, x->body.data, x->body.len);
        return AL_EPARSE;
    }
    al_usage u = {-1, -1, -1};
    x->prov->usage(x->api, root, &u);
    if (x->get) reply_model(x, root);
    x->rec.in_tokens = u.input;
    x->rec.out_tokens = u.output;
    x->rec.total_tokens = u.total;
    al_texts t = {0};
    int changed = 0;
    al_code r;
    if (x->api == AL_API_GEMINI_STREAM && cJSON_IsArray(root))
        r = array_stream(x, root, &changed);
    else if (x->rec.status >= 400)
        /* an error reply: its message may echo what was sent or name
         * somebody ("invalid e-mail jane@..."); every string is scrubbed */
        r = al_texts_push_all(&t, root, AL_ROLE_ASSISTANT);
    else
        r = x->prov->completions(x->api, root, &t);
    for (size_t i = 0; r == AL_OK && i < t.n; i++)
        r = t.v[i].sig ? scrub_signed(x, t.v[i].node, t.v[i].sig, &changed)
                       : scrub_node(x, t.v[i].node, &changed);
    al_texts_free(&t);
    if (r == AL_OK && x->comp_block) {
        /* the completion policy blocks the reply: none of it is served */
        if (monitor(x)) {
            x->rec.would_block = 1;
        } else {
            x->rec.blocked = 1;
            cJSON_Delete(root);
            return AL_EBLOCKED;
        }
    }
    if (r == AL_OK) {
        if (changed && !monitor(x)) {
            al_drop_logprobs(root); /* they repeat the text token by token */
            r = print_changed(root, x->body.data, x->body.len, to_host);
        } else
            r = al_buf_append(to_host, x->body.data, x->body.len);
    } else if (r == AL_EBLOCKED) {
        x->rec.blocked = 1; /* a Gemini array whose stream scrubbers found a block */
    } else {
        set_fail(x, "completion scan failed");
        if (x->ctx->fail == AL_FAIL_OPEN || monitor(x))
            r = al_buf_append(to_host, x->body.data, x->body.len);
    }
    cJSON_Delete(root);
    return r;
}

al_code al_exchange_response_cut(al_exchange *x, al_buf *to_host)
{
    if (!x) return AL_EINVAL;
    x->early = 1;
    return al_exchange_response_end(x, to_host);
}

al_code al_exchange_response_end(al_exchange *x, al_buf *to_host)
{
    if (!x) return AL_EINVAL;
    if (!x->resp_begun) al_exchange_response_begin(x, 200, NULL);
    if (x->cut) return AL_ELIMIT;
    al_code r = AL_OK;
    x->sniff = 0; /* (a body too short to tell is read as its label said) */
    if (x->mode == AL_RESP_WHOLE) {
        r = whole_end(x, to_host);
    } else if (x->mode == AL_RESP_STREAM) {
        if (x->body.len) {
            /* a last NDJSON line without newline, or an SSE event without the
             * blank line: frame it as complete */
            size_t t = x->sse ? 2 : 1, before = to_host->len;
            r = stream_bytes(x, "\n\n", t, to_host);
            /* monitor changes no byte: the line end added to frame it, which
             * the raw bytes passed last, does not go out */
            if (r == AL_OK && monitor(x) && to_host->len >= before + t &&
                !memcmp(to_host->data + to_host->len - t, "\n\n", t)) {
                to_host->len -= t;
                to_host->data[to_host->len] = '\0';
            }
        }
        if (r == AL_OK && !x->ended) r = io_end_all(&x->io); /* no end event */
        if (r == AL_EBLOCKED) x->rec.blocked = 1;
        for (size_t i = 0; i < x->nkeys; i++)
            if (x->keys[i].blocked_seen && monitor(x)) x->rec.would_block = 1;
        if (monitor(x)) reset_rel(x);
        /* release what the scrubbers hold */
        if (r == AL_OK) r = drain(x, to_host);
        if (r == AL_OK) r = synth_rest(x);
        if (r == AL_OK) r = settle_all(x, to_host);
    }
    al_buf_free(&x->body);
    return r;
}

/* ---- a paused stream (al_exchange_stream_idle) ---- */

int al_exchange_stream_holding(const al_exchange *x)
{
    return x && x->mode == AL_RESP_STREAM && !x->cut && !x->ended && queued(x) && !monitor(x);
}

/* One key's scrubber lets out what only the detectors' tail held (as
 * feed_key does with what a feed releases). */
static al_code release_key(skey *k)
{
    if (k->ended || !al_stream_scrub_holding(k->s)) return AL_OK;
    size_t from = k->rel.len;
    k->room = 0;
    al_code r = al_stream_scrub_release(k->s, &k->rel);
    if (r == AL_OK) r = block_found(k, from);
    if (r == AL_OK && k->json) r = quote_bare(k, from);
    if (r == AL_OK && k->keep && k->rel.len > from)
        r = al_buf_append(&k->shown, k->rel.data + from, k->rel.len - from);
    return r;
}

al_code al_exchange_stream_idle(al_exchange *x, al_buf *to_host)
{
    if (!al_exchange_stream_holding(x)) return AL_OK;
    x->held_ok = 0;
    al_code r = feed_all(x); /* (flush_end fed them: nothing waits) */
    for (size_t i = 0; i < x->nkeys && r == AL_OK; i++) r = release_key(&x->keys[i]);
    if (r == AL_OK) r = flush_batch(x, to_host);
    if (r != AL_OK && !x->cut && x->mode == AL_RESP_STREAM) stream_stops(x, r);
    return r;
}

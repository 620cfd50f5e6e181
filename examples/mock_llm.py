#!/usr/bin/python3
"""mock_llm.py: a local stand-in for the public LLM APIs, for airlock's tests,
demo and bench.  Needs no network and no third-party module except Debian's
python3-h2 (HTTP/2 is offered only when it is importable).

  /usr/bin/python3 examples/mock_llm.py --portfile F [--log L] [--certdir D]
                                        [--tls-port 0] [--http-port 0]

One TLS port (ALPN h2,http/1.1) and one plain-HTTP/1.1 port.  It answers
OpenAI (chat, completions, responses, also under any prefix and Azure
deployments), Anthropic messages, Gemini generateContent and
streamGenerateContent, and Ollama /api/chat and /api/generate, whole or
streamed, in each provider's own shapes.  It also answers the GET reads of
stored replies: OpenAI GET /responses/ID (?stream=true: its events),
/responses/ID/input_items, /chat/completions[/ID], /chat/completions/ID/messages,
/conversations/ID/items[/ITEM], and Anthropic GET /messages/batches/ID/results
(JSONL); the text follows X-Mock-Scenario.  Scenario "thinking" gives an
Anthropic reply a thinking block (the chosen text) signed over its text, and
like Anthropic the mock refuses (400) a request whose thinking block's text
does not match its signature.  The reply text is chosen by a
scenario: header X-Mock-Scenario, or the first token mock:<name> in the request
body (names may be joined with '+', e.g. mock:pii+slow).  Text: clean (default),
pii, echo, big (~1 MiB), medium (~2 KB); behaviour: html-error, empty (200 with
no body), no-content (204), malformed-json,
close-mid-stream, truncated-chunk, slow (50 ms between events), crawl (200 ms
between events: a model on a laptop CPU writes ~10-30 bytes a second), burst (an
HTTP/1.1 stream written in one go, for steady benchmarks).  Whole JSON replies
are gzip-compressed when the client accepts gzip, as real API front ends do.
HEAD gets the status and headers GET would get, and no body.
It never lets a
misbehaving client stop it.
"""
import argparse
import base64
import fcntl
import gzip
import hashlib
import hmac
import json
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit, parse_qs

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
    import h2.settings
    HAVE_H2 = True
except ImportError:  # pragma: no cover - h2 is a Debian package here
    HAVE_H2 = False

CLEAN_TEXT = ("Photosynthesis converts light energy into chemical energy stored in glucose. "
              "Plants release oxygen as a by-product.")
PII_TEXT = ("Sure. Reach John Smith at john.smith@example.com or +1 415-555-0132. "
            "Card 4111 1111 1111 1111, SSN 536-22-1234, IBAN GB82 WEST 1234 5698 7654 32, "
            "host 10.20.30.40.")


def _big_text():
    """About 1 MiB of CLEAN_TEXT sentences with PII_TEXT once in the middle."""
    n = (1 << 20) // (len(CLEAN_TEXT) + 1)
    half = [CLEAN_TEXT] * (n // 2)
    return " ".join(half + [PII_TEXT] + half)


BIG_TEXT = _big_text()
MEDIUM_TEXT = " ".join([CLEAN_TEXT] * 17)  # about 2 KB of clean text

TEXT_SCENARIOS = ("clean", "pii", "echo", "big", "medium")
FAULT_SCENARIOS = ("html-error", "malformed-json", "close-mid-stream", "truncated-chunk", "slow",
                   "crawl", "burst")
SCENARIO_TOKEN = re.compile(rb"mock:([a-z][a-z0-9+,-]*)")
CREATED = 1700000000
# A fixed Date header, so two runs of the same request give identical bytes.
FIXED_DATE = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(CREATED))
MAX_HEADER = 64 * 1024
MAX_BODY = 128 * 1024 * 1024
IDLE_TIMEOUT = 120
EVENTS_BEFORE_FAULT = 6
SLOW_DELAY = 0.05
CRAWL_DELAY = 0.2

HTML_ERROR = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
              b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
              b"</body>\r\n</html>\r\n")
ROOT_PAGE = (b"<!doctype html><title>mock LLM</title><p>airlock mock LLM server: "
             b"POST /v1/chat/completions, /v1/messages, ... see examples/mock_llm.py</p>\n")
DOWNLOAD_BLOCK = bytes(range(256)) * 1024  # 256 KiB

LOG_LOCK = threading.Lock()
LOG_FILE = None


def deltas(text):
    """Deterministic split into pieces of 1-4 characters (64-256 for texts
    longer than 16 KB, so a 1 MiB stream stays a few thousand events)."""
    sizes = (2, 1, 3, 4, 1, 2, 4, 3, 1, 4)
    scale = 64 if len(text) > 16384 else 1
    out, i, k = [], 0, 0
    while i < len(text):
        n = sizes[k % len(sizes)] * scale
        out.append(text[i:i + n])
        i += n
        k += 1
    return out


def ntokens(text):
    return max(1, (len(text) + 3) // 4)


def jdump(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class Request:
    def __init__(self, proto, tls, method, target, headers, body):
        self.proto, self.tls, self.method, self.target = proto, tls, method, target
        self.headers, self.body = headers, body  # headers: lowercase name -> value
        u = urlsplit(target)
        self.path, self.query = u.path, parse_qs(u.query)


class Response:
    """status, headers (without framing), parts: an iterable of bytes or
    ('sleep', seconds); length: Content-Length or None (chunked / streamed);
    fault: None, 'close' (end the connection after the parts) or 'trunc'
    (send half of `trunc` announced as a whole chunk, then close)."""

    def __init__(self, status, ctype, parts, length=None, fault=None, trunc=b""):
        self.status, self.ctype, self.parts = status, ctype, parts
        self.length, self.fault, self.trunc = length, fault, trunc
        self.headers = [("content-type", ctype)]
        self.burst = False  # HTTP/1.1: send all parts in one write
        self.head = False  # the answer to HEAD: headers only (framing as GET's)


def whole(status, ctype, body):
    return Response(status, ctype, [body], length=len(body))


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           413: "Payload Too Large", 502: "Bad Gateway"}


# --------------------------------------------------------------------------
# Text extraction (echo) and provider routing


def _text_of(content):
    """Text of a message content: a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for p in content:
            if isinstance(p, str):
                texts.append(p)
            elif isinstance(p, dict):
                for key in ("text", "content"):
                    if isinstance(p.get(key), str):
                        texts.append(p[key])
                        break
        return "\n".join(texts)
    return ""


def last_user_text(provider, body):
    if not isinstance(body, dict):
        return ""
    if provider in ("openai-chat", "anthropic", "ollama-chat"):
        for m in reversed(body.get("messages") or []):
            if isinstance(m, dict) and m.get("role", "user") == "user":
                return _text_of(m.get("content"))
        return ""
    if provider in ("openai-completions", "ollama-generate"):
        p = body.get("prompt")
        return p if isinstance(p, str) else _text_of(p)
    if provider == "openai-responses":
        inp = body.get("input")
        if isinstance(inp, str):
            return inp
        for m in reversed(inp or []):
            if isinstance(m, dict) and m.get("role", "user") == "user":
                return _text_of(m.get("content"))
        return ""
    if provider == "gemini":
        for c in reversed(body.get("contents") or []):
            if isinstance(c, dict) and c.get("role", "user") == "user":
                return _text_of(c.get("parts"))
        return ""
    return ""


def classify(method, path):
    if method != "POST":
        return None
    if path.endswith("/api/embed") or path.endswith("/api/embeddings"):
        return "ollama-embed"
    if path.endswith("/embeddings"):
        return "openai-embed"
    if path.endswith("/moderations"):
        return "openai-moderation"
    if ":embedContent" in path or ":batchEmbedContents" in path:
        return "gemini-embed"
    if path.endswith("/chat/completions"):
        return "openai-chat"
    if path.endswith("/completions"):
        return "openai-completions"
    if path.endswith("/responses"):
        return "openai-responses"
    if path.endswith("/messages"):
        return "anthropic"
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return "gemini"
    if path.endswith("/api/chat"):
        return "ollama-chat"
    if path.endswith("/api/generate"):
        return "ollama-generate"
    return None


def scenarios_of(req):
    names = req.headers.get("x-mock-scenario", "")
    if not names:
        m = SCENARIO_TOKEN.search(req.body)
        names = m.group(1).decode() if m else ""
    return [n for n in re.split(r"[+,\s]+", names.strip().lower()) if n]


def error_body(provider, status, message, etype="invalid_request_error"):
    if provider == "anthropic":
        return {"type": "error", "error": {"type": etype, "message": message}}
    if provider == "gemini":
        return {"error": {"code": status, "message": message, "status": "INVALID_ARGUMENT"}}
    if provider and provider.startswith("ollama"):
        return {"error": message}
    return {"error": {"message": message, "type": etype, "param": None, "code": None}}


def json_response(status, obj):
    return whole(status, "application/json", jdump(obj).encode())


# --------------------------------------------------------------------------
# Reply builders: each returns (whole_object, list_of_stream_events) where an
# event is the exact bytes of one SSE event / NDJSON line / JSON-array item.


def sse(obj, event=None, eol="\n"):
    head = ("event: %s%s" % (event, eol)) if event else ""
    return (head + "data: " + jdump(obj) + eol + eol).encode()


def openai_chat(model, text, pin, body, stream):
    usage = {"prompt_tokens": pin, "completion_tokens": ntokens(text),
             "total_tokens": pin + ntokens(text)}
    if not stream:
        return {"id": "chatcmpl-mock0001", "object": "chat.completion", "created": CREATED,
                "model": model, "system_fingerprint": "fp_mock",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                                     "refusal": None},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": usage}
    base = {"id": "chatcmpl-mock0001", "object": "chat.completion.chunk", "created": CREATED,
            "model": model, "system_fingerprint": "fp_mock"}
    ev = [sse(dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                   "logprobs": None, "finish_reason": None}]))]
    for d in deltas(text):
        ev.append(sse(dict(base, choices=[{"index": 0, "delta": {"content": d},
                                           "logprobs": None, "finish_reason": None}])))
    include = isinstance(body.get("stream_options"), dict) and body["stream_options"].get(
        "include_usage")
    last = dict(base, choices=[{"index": 0, "delta": {}, "logprobs": None,
                                "finish_reason": "stop"}])
    if include:
        ev.append(sse(last))
        ev.append(sse(dict(base, choices=[], usage=usage)))
    else:  # OpenAI-compatible servers put usage on the final chunk
        ev.append(sse(dict(last, usage=usage)))
    ev.append(b"data: [DONE]\n\n")
    return ev


def openai_completions(model, text, pin, body, stream):
    usage = {"prompt_tokens": pin, "completion_tokens": ntokens(text),
             "total_tokens": pin + ntokens(text)}
    base = {"id": "cmpl-mock0001", "object": "text_completion", "created": CREATED,
            "model": model}
    if not stream:
        return dict(base, choices=[{"text": text, "index": 0, "logprobs": None,
                                    "finish_reason": "stop"}], usage=usage)
    ev = [sse(dict(base, choices=[{"text": d, "index": 0, "logprobs": None,
                                   "finish_reason": None}])) for d in deltas(text)]
    ev.append(sse(dict(base, choices=[{"text": "", "index": 0, "logprobs": None,
                                       "finish_reason": "stop"}], usage=usage)))
    ev.append(b"data: [DONE]\n\n")
    return ev


def openai_responses(model, text, pin, body, stream):
    usage = {"input_tokens": pin, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": ntokens(text), "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": pin + ntokens(text)}
    part = {"type": "output_text", "text": text, "annotations": []}
    item = {"id": "msg_mock0001", "type": "message", "status": "completed", "role": "assistant",
            "content": [part]}

    def resp(status, output, use):
        return {"id": "resp_mock0001", "object": "response", "created_at": CREATED,
                "status": status, "error": None, "incomplete_details": None,
                "instructions": body.get("instructions"), "model": model, "output": output,
                "parallel_tool_calls": True, "temperature": 1.0, "tool_choice": "auto",
                "tools": [], "top_p": 1.0, "usage": use}

    if not stream:
        return resp("completed", [item], usage)
    seq = [0]

    def ev(kind, **kw):
        obj = {"type": kind, "sequence_number": seq[0]}
        obj.update(kw)
        seq[0] += 1
        return sse(obj, event=kind)

    common = {"item_id": "msg_mock0001", "output_index": 0, "content_index": 0}
    out = [ev("response.created", response=resp("in_progress", [], None)),
           ev("response.in_progress", response=resp("in_progress", [], None)),
           ev("response.output_item.added", output_index=0,
              item=dict(item, status="in_progress", content=[])),
           ev("response.content_part.added", part=dict(part, text=""), **common)]
    for d in deltas(text):
        out.append(ev("response.output_text.delta", delta=d, logprobs=[], **common))
    out.append(ev("response.output_text.done", text=text, logprobs=[], **common))
    out.append(ev("response.content_part.done", part=part, **common))
    out.append(ev("response.output_item.done", output_index=0, item=item))
    out.append(ev("response.completed", response=resp("completed", [item], usage)))
    return out


THINKING_KEY = os.urandom(32)  # per mock process, as a provider's signing key


def sign_thinking(text):
    return base64.b64encode(hmac.new(THINKING_KEY, text.encode("utf-8"),
                                     hashlib.sha256).digest()).decode()


def bad_thinking(body):
    """The first thinking block of an assistant message whose text does not
    match its signature, as "messages.N.content.M", or None."""
    for i, m in enumerate(body.get("messages") or []):
        if not isinstance(m, dict) or m.get("role") != "assistant":
            continue
        content = m.get("content")
        for j, b in enumerate(content if isinstance(content, list) else []):
            if isinstance(b, dict) and b.get("type") == "thinking":
                t, s = b.get("thinking"), b.get("signature")
                if not isinstance(t, str) or not isinstance(s, str) or \
                        not hmac.compare_digest(sign_thinking(t), s):
                    return "messages.%d.content.%d" % (i, j)
    return None


def anthropic_thinking(model, text, pin, stream):
    """A reply that thinks (text) before it answers (CLEAN_TEXT)."""
    sig = sign_thinking(text)
    if not stream:
        return {"id": "msg_mock0002", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "thinking", "thinking": text, "signature": sig},
                            {"type": "text", "text": CLEAN_TEXT}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": pin, "output_tokens": ntokens(text + CLEAN_TEXT)}}
    start = {"id": "msg_mock0002", "type": "message", "role": "assistant", "model": model,
             "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {"input_tokens": pin, "output_tokens": 1}}
    ev = [sse({"type": "message_start", "message": start}, "message_start"),
          sse({"type": "content_block_start", "index": 0,
               "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
              "content_block_start")]
    for d in deltas(text):
        ev.append(sse({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "thinking_delta", "thinking": d}}, "content_block_delta"))
    ev.append(sse({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "signature_delta", "signature": sig}}, "content_block_delta"))
    ev.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    ev.append(sse({"type": "content_block_start", "index": 1,
                   "content_block": {"type": "text", "text": ""}}, "content_block_start"))
    for d in deltas(CLEAN_TEXT):
        ev.append(sse({"type": "content_block_delta", "index": 1,
                       "delta": {"type": "text_delta", "text": d}}, "content_block_delta"))
    ev.append(sse({"type": "content_block_stop", "index": 1}, "content_block_stop"))
    ev.append(sse({"type": "message_delta",
                   "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                   "usage": {"output_tokens": ntokens(text + CLEAN_TEXT)}}, "message_delta"))
    ev.append(sse({"type": "message_stop"}, "message_stop"))
    return ev


def anthropic(model, text, pin, body, stream):
    if not stream:
        return {"id": "msg_mock0001", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": pin, "output_tokens": ntokens(text)}}
    start = {"id": "msg_mock0001", "type": "message", "role": "assistant", "model": model,
             "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {"input_tokens": pin, "output_tokens": 1}}
    ev = [sse({"type": "message_start", "message": start}, "message_start"),
          sse({"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}}, "content_block_start"),
          sse({"type": "ping"}, "ping")]
    for d in deltas(text):
        ev.append(sse({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": d}}, "content_block_delta"))
    ev.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    ev.append(sse({"type": "message_delta",
                   "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                   "usage": {"output_tokens": ntokens(text)}}, "message_delta"))
    ev.append(sse({"type": "message_stop"}, "message_stop"))
    return ev


def gemini(model, text, pin, body, stream, alt_sse=False):
    def chunk(t, done, ctoks):
        cand = {"content": {"parts": [{"text": t}], "role": "model"}, "index": 0}
        if done:
            cand["finishReason"] = "STOP"
        return {"candidates": [cand],
                "usageMetadata": {"promptTokenCount": pin, "candidatesTokenCount": ctoks,
                                  "totalTokenCount": pin + ctoks},
                "modelVersion": model}

    if not stream:
        return chunk(text, True, ntokens(text))
    pieces = deltas(text)
    objs = [chunk(d, i == len(pieces) - 1, ntokens("".join(pieces[:i + 1])))
            for i, d in enumerate(pieces)]
    if alt_sse:  # the real API ends SSE lines with CRLF
        return [sse(o, eol="\r\n") for o in objs]
    out = []
    for i, o in enumerate(objs):
        out.append((("[" if i == 0 else "\n,\r\n") + jdump(o)).encode())
    out.append(b"\n]")
    return out


def ollama(model, text, pin, body, stream, chat=True):
    def line(obj):
        return (jdump(obj) + "\n").encode()

    final = {"model": model, "created_at": "2024-01-01T00:00:00.000000Z", "done": True,
             "done_reason": "stop", "total_duration": 5000000, "load_duration": 1000000,
             "prompt_eval_count": pin, "prompt_eval_duration": 1000000,
             "eval_count": ntokens(text), "eval_duration": 3000000}
    if chat:
        final = dict(final, message={"role": "assistant", "content": text if not stream else ""})
    else:
        final = dict(final, response=text if not stream else "", context=[1, 2, 3])
    if not stream:
        return final
    out = []
    for d in deltas(text):
        o = {"model": model, "created_at": "2024-01-01T00:00:00.000000Z", "done": False}
        if chat:
            o["message"] = {"role": "assistant", "content": d}
        else:
            o["response"] = d
        out.append(line(o))
    out.append(line(final))
    return out


def stored_read(req):
    """The GET reads of stored replies (see the module's doc), or None."""
    names = scenarios_of(req)
    text = PII_TEXT if "pii" in names else MEDIUM_TEXT if "medium" in names else CLEAN_TEXT
    path, model = req.path, "mock-model"
    stream = req.query.get("stream", [""])[0] == "true"
    if re.search(r"/responses/[^/]+$", path):
        r = openai_responses(model, text, 12, {}, stream)
        if stream:
            resp = Response(200, "text/event-stream; charset=utf-8", r)
            resp.headers.append(("cache-control", "no-cache"))
            return resp
        return json_response(200, r)
    user_item = {"id": "msg_mock0000", "type": "message", "status": "completed",
                 "role": "user", "content": [{"type": "input_text", "text": text}]}
    bot_item = {"id": "msg_mock0001", "type": "message", "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}]}

    def listing(data):
        return {"object": "list", "data": data, "first_id": data[0].get("id"),
                "last_id": data[-1].get("id"), "has_more": False}

    if re.search(r"/responses/[^/]+/input_items$", path):
        return json_response(200, listing([user_item]))
    if re.search(r"/conversations/[^/]+/items$", path):
        return json_response(200, listing([user_item, bot_item]))
    if re.search(r"/conversations/[^/]+/items/[^/]+$", path):
        return json_response(200, bot_item)
    if re.search(r"/chat/completions/[^/]+/messages$", path):
        return json_response(200, listing([{"id": "chatcmpl-mock0001-0", "role": "user",
                                            "content": text, "name": None,
                                            "content_parts": None}]))
    if re.search(r"/chat/completions/[^/]+$", path):
        return json_response(200, openai_chat(model, text, 12, {}, False))
    if path.endswith("/chat/completions"):
        return json_response(200, listing([openai_chat(model, text, 12, {}, False)]))
    if re.search(r"/messages/batches/[^/]+/results$", path):
        ok = {"custom_id": "req-1", "result": {
            "type": "succeeded", "message": anthropic(model, text, 12, {}, False)}}
        err = {"custom_id": "req-2", "result": {"type": "errored", "error": {
            "type": "error", "error": {"type": "invalid_request_error",
                                       "message": "max_tokens: field required"}}}}
        return whole(200, "application/binary", (jdump(ok) + "\n" + jdump(err) + "\n").encode())
    return None


# --------------------------------------------------------------------------
# The dispatcher


def handle(req):
    """Maps one request to a Response; never raises.  HEAD is answered with
    the status and headers GET would get and no body (RFC 9110 9.3.2)."""
    if req.method == "HEAD":
        get = Request(req.proto, req.tls, "GET", req.target, req.headers, b"")
        resp = handle(get)
        resp.parts, resp.fault, resp.burst, resp.head = [], None, False, True
        return resp
    try:
        return _handle(req)
    except Exception as e:  # a bug here must not kill the connection thread
        return json_response(500, error_body(None, 500, "mock error: %s" % type(e).__name__,
                                             "server_error"))


def _handle(req):
    if req.method == "GET" and req.path == "/download":
        try:
            n = max(0, int(req.query.get("bytes", ["0"])[0]))
        except ValueError:
            n = 0
        return Response(200, "application/octet-stream", download_parts(n), length=n)
    if req.method == "GET" and req.path in ("/", "/index.html"):
        return whole(200, "text/html; charset=utf-8", ROOT_PAGE)
    if req.method == "GET" and req.path.endswith("/models"):
        return json_response(200, {"object": "list", "data": [
            {"id": "mock-model", "object": "model", "created": CREATED, "owned_by": "mock"}]})
    if req.method == "GET":
        got = stored_read(req)
        if got is not None:
            return got
    provider = classify(req.method, req.path)
    if provider is None:
        return json_response(404 if req.method in ("GET", "POST") else 405,
                             error_body(None, 404, "no such route: %s %s"
                                        % (req.method, req.path)))
    names = scenarios_of(req)
    if "html-error" in names:
        return whole(502, "text/html", HTML_ERROR)
    if "empty" in names:  # a reply with no body at all
        return whole(200, "application/json", b"")
    if "no-content" in names:
        return whole(204, "application/json", b"")
    try:
        body = json.loads(req.body.decode("utf-8")) if req.body else {}
        if not isinstance(body, dict):
            raise ValueError("not an object")
    except Exception:
        return json_response(400, error_body(provider, 400,
                                             "We could not parse the JSON body of your request."))
    if "embed" in provider or "moderation" in provider:
        return embed_reply(provider, req, body)
    text_name = next((n for n in names if n in TEXT_SCENARIOS), "clean")
    if text_name == "pii":
        text = PII_TEXT
    elif text_name == "echo":
        text = last_user_text(provider, body) or req.body.decode("utf-8", "replace")
    elif text_name == "big":
        text = BIG_TEXT
    elif text_name == "medium":
        text = MEDIUM_TEXT
    else:
        text = CLEAN_TEXT
    model = body.get("model") if isinstance(body.get("model"), str) else None
    if provider == "gemini":
        m = re.search(r"models/([^/:]+):", req.path)
        model = m.group(1) if m else model
    if provider == "openai-chat" and "/deployments/" in req.path and not model:
        model = req.path.split("/deployments/")[1].split("/")[0]
    model = model or "mock-model"
    pin = ntokens(req.body.decode("utf-8", "replace"))

    if provider == "gemini":
        stream = ":streamGenerateContent" in req.path
    elif provider.startswith("ollama"):
        stream = body.get("stream", True) is not False
    else:
        stream = body.get("stream") is True
    alt_sse = req.query.get("alt", [""])[0] == "sse"

    if provider == "openai-chat":
        r = openai_chat(model, text, pin, body, stream)
    elif provider == "openai-completions":
        r = openai_completions(model, text, pin, body, stream)
    elif provider == "openai-responses":
        r = openai_responses(model, text, pin, body, stream)
    elif provider == "anthropic" and bad_thinking(body):
        return json_response(400, error_body(provider, 400, "%s: Invalid `signature` in "
                                             "`thinking` block" % bad_thinking(body)))
    elif provider == "anthropic" and "thinking" in names:
        r = anthropic_thinking(model, text, pin, stream)
    elif provider == "anthropic":
        r = anthropic(model, text, pin, body, stream)
    elif provider == "gemini":
        r = gemini(model, text, pin, body, stream, alt_sse)
    else:
        r = ollama(model, text, pin, body, stream, chat=(provider == "ollama-chat"))

    if "malformed-json" in names:
        full = jdump(r if not stream else {"partial": True, "text": text}).encode()
        return whole(200, "application/json", full[:max(1, len(full) // 2)])

    if not stream:
        data = jdump(r).encode()
        if "close-mid-stream" in names:
            return Response(200, "application/json", [data[:len(data) // 2]], length=len(data),
                            fault="close")
        if "truncated-chunk" in names:
            return Response(200, "application/json", [], fault="trunc", trunc=data)
        if accepts_gzip(req):  # as the real front ends do for whole replies
            resp = whole(200, "application/json", gzip.compress(data, 6))
            resp.headers += [("content-encoding", "gzip"), ("vary", "Accept-Encoding")]
            return resp
        return whole(200, "application/json", data)

    if provider.startswith("ollama"):
        ctype = "application/x-ndjson"
    elif provider == "gemini" and not alt_sse:
        ctype = "application/json; charset=UTF-8"
    else:
        ctype = "text/event-stream; charset=utf-8"
    # a server that streams SSE under another label, or none
    for n, label in (("sse-as-json", "application/json"), ("sse-as-text", "text/plain"),
                     ("sse-as-ndjson", "application/x-ndjson"), ("sse-no-ctype", None)):
        if n in names and not provider.startswith("ollama"):
            ctype = label
    events = r
    if "close-mid-stream" in names:
        resp = Response(200, ctype, events[:EVENTS_BEFORE_FAULT], fault="close")
    elif "truncated-chunk" in names:
        resp = Response(200, ctype, events[:EVENTS_BEFORE_FAULT], fault="trunc",
                        trunc=events[EVENTS_BEFORE_FAULT] if len(events) > EVENTS_BEFORE_FAULT
                        else events[-1])
    else:
        resp = Response(200, ctype, events)
    if "slow" in names:
        resp.parts = with_sleeps(resp.parts, SLOW_DELAY)
    elif "crawl" in names:
        resp.parts = with_sleeps(resp.parts, CRAWL_DELAY)
    elif "burst" in names:
        resp.burst = True
    if ctype is None:
        resp.headers = []
    elif ctype.startswith("text/event-stream"):
        resp.headers.append(("cache-control", "no-cache"))
    return resp


def _vector(seed):
    # eight fixed numbers per input, in the forms servers print them
    return [round(((seed * 7919 + i * 104729) % 20000) / 10000.0 - 1.0, 9) for i in range(7)] + [
        1.5e-05]


def embed_reply(provider, req, body):
    """Embedding and moderation replies: vectors and scores, no text."""
    model = body.get("model") if isinstance(body.get("model"), str) else "mock-embed"
    inp = body.get("input", body.get("prompt", ""))
    n = len(inp) if isinstance(inp, list) and inp and not isinstance(inp[0], int) else 1
    if provider == "openai-embed":
        return json_response(200, {"object": "list", "data": [
            {"object": "embedding", "index": i, "embedding": _vector(i)} for i in range(n)],
            "model": model, "usage": {"prompt_tokens": 8 * n, "total_tokens": 8 * n}})
    if provider == "openai-moderation":
        return json_response(200, {"id": "modr-mock0001", "model": model, "results": [
            {"flagged": False, "categories": {"harassment": False, "violence": False},
             "category_scores": {"harassment": 1.2e-05, "violence": 0.0003}}
            for _ in range(n)]})
    if provider == "ollama-embed":
        if req.path.endswith("/api/embeddings"):
            return json_response(200, {"embedding": _vector(0)})
        return json_response(200, {"model": model, "embeddings": [_vector(i) for i in range(n)],
                                   "total_duration": 1000, "prompt_eval_count": 8 * n})
    reqs = body.get("requests")
    if isinstance(reqs, list):
        return json_response(200, {"embeddings": [{"values": _vector(i)}
                                                  for i in range(len(reqs))]})
    return json_response(200, {"embedding": {"values": _vector(0)}})


def accepts_gzip(req):
    for tok in req.headers.get("accept-encoding", "").lower().split(","):
        name, _, q = tok.strip().partition(";")
        if name.strip() == "gzip" and q.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


def with_sleeps(parts, delay):
    out = []
    for p in parts:
        if out:
            out.append(("sleep", delay))
        out.append(p)
    return out


def download_parts(n):
    mv = memoryview(DOWNLOAD_BLOCK)
    while n > 0:
        k = min(n, len(mv))
        yield mv[:k]
        n -= k


def log_request(req, conn_id):
    if LOG_FILE is None:
        return
    line = jdump({"proto": req.proto, "tls": req.tls, "conn": conn_id, "method": req.method,
                  "path": req.target,
                  "headers": req.headers, "body": req.body.decode("utf-8", "replace")
                  if len(req.body) <= (8 << 20) else "<%d bytes>" % len(req.body)})
    with LOG_LOCK:
        with open(LOG_FILE, "a", encoding="utf-8") as f:
            f.write(line + "\n")


# --------------------------------------------------------------------------
# HTTP/1.1


class Closed(Exception):
    pass


def read_h1_request(rf, sock, proto, tls):
    """Reads one request; returns Request, or None on clean EOF.  Raises
    Closed / ValueError on broken input."""
    line = rf.readline(MAX_HEADER + 1)
    while line in (b"\r\n", b"\n"):  # tolerate stray CRLF between requests
        line = rf.readline(MAX_HEADER + 1)
    if not line:
        return None
    if not line.endswith(b"\n"):
        raise ValueError("request line too long or truncated")
    parts = line.decode("latin-1").strip().split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError("bad request line")
    method, target, version = parts
    headers, total = {}, len(line)
    while True:
        h = rf.readline(MAX_HEADER + 1)
        total += len(h)
        if not h or total > MAX_HEADER:
            raise ValueError("headers too long or truncated")
        if h in (b"\r\n", b"\n"):
            break
        name, _, value = h.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip()
        headers[name] = (headers[name] + ", " + value) if name in headers else value
    if headers.get("expect", "").lower() == "100-continue":
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks, size_total = [], 0
        while True:
            sl = rf.readline(1024)
            if not sl.endswith(b"\n"):
                raise ValueError("bad chunk size line")
            size = int(sl.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers
                    t = rf.readline(MAX_HEADER)
                    if t in (b"\r\n", b"\n") or not t:
                        break
                break
            size_total += size
            if size_total > MAX_BODY:
                raise ValueError("body too large")
            data = rf.read(size)
            if len(data) != size:
                raise Closed()
            chunks.append(data)
            rf.readline(16)
        body = b"".join(chunks)
    elif "content-length" in headers:
        n = int(headers["content-length"])
        if n < 0 or n > MAX_BODY:
            raise ValueError("bad content-length")
        body = rf.read(n)
        if len(body) != n:
            raise Closed()
    req = Request(proto, tls, method, target, headers, body)
    req.version = version
    return req


def write_h1_response(sock, req, resp, keep_alive):
    """Returns False when the connection must be closed afterwards."""
    head = ["HTTP/1.1 %d %s" % (resp.status, REASONS.get(resp.status, "Status")),
            "Server: mock-llm", "Date: " + FIXED_DATE, "x-request-id: req_mock"]
    for k, v in resp.headers:
        head.append("%s: %s" % (k, v))
    chunked = resp.length is None
    if chunked:
        head.append("Transfer-Encoding: chunked")
    else:
        head.append("Content-Length: %d" % resp.length)
    head.append("Connection: %s" % ("keep-alive" if keep_alive else "close"))
    head = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    if resp.burst:
        out = [head]
        for p in resp.parts:
            out.append(b"%x\r\n" % len(p) + bytes(p) + b"\r\n" if chunked else bytes(p))
        sock.sendall(b"".join(out))
        resp.parts = []
    else:
        sock.sendall(head)
    for p in resp.parts:
        if isinstance(p, tuple):
            time.sleep(p[1])
            continue
        if chunked:
            sock.sendall(b"%x\r\n" % len(p) + bytes(p) + b"\r\n")
        else:
            sock.sendall(p)
    if resp.fault == "close":
        return False
    if resp.fault == "trunc":
        t = resp.trunc
        sock.sendall(b"%x\r\n" % len(t) + t[:len(t) // 2])
        return False
    if chunked and not resp.head:
        sock.sendall(b"0\r\n\r\n")
    return keep_alive


def serve_h1(sock, tls, conn_id):
    proto = "http/1.1"
    rf = sock.makefile("rb", buffering=65536)
    try:
        while True:
            try:
                req = read_h1_request(rf, sock, proto, tls)
            except (ValueError, UnicodeError):
                body = jdump(error_body(None, 400, "bad request")).encode()
                sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                             b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                return
            if req is None:
                return True
            log_request(req, conn_id)
            conn_hdr = req.headers.get("connection", "").lower()
            keep = req.version == "HTTP/1.1" and "close" not in conn_hdr
            if req.version == "HTTP/1.0" and "keep-alive" in conn_hdr:
                keep = True
            resp = handle(req)
            if req.version == "HTTP/1.0" and resp.length is None:
                keep = False  # HTTP/1.0 has no chunked: a close-delimited body
                resp = _h10(resp)
            if not write_h1_response(sock, req, resp, keep):
                return resp.fault is None
    finally:
        try:
            rf.close()
        except Exception:
            pass


def _h10(resp):
    parts = [p for p in resp.parts]
    data = b"".join(bytes(p) for p in parts if not isinstance(p, tuple))
    r = Response(resp.status, resp.ctype, [data], length=len(data), fault=resp.fault)
    r.head = resp.head
    return r


# --------------------------------------------------------------------------
# HTTP/2 (one thread per connection; senders interleave, honouring flow control)


class H2Sender:
    def __init__(self, sid, resp):
        self.sid, self.resp = sid, resp
        self.it = iter(resp.parts)
        self.pending = b""
        self.wake = 0.0
        self.trunc_sent = False

    def step(self, conn, sock, now):
        """Returns 'done', 'blocked', 'sleep', 'more' or 'close'."""
        budget = 1 << 20
        while budget > 0:
            if now < self.wake:
                return "sleep"
            if self.pending:
                window = min(conn.local_flow_control_window(self.sid),
                             conn.max_outbound_frame_size)
                if window <= 0:
                    return "blocked"
                chunk, self.pending = self.pending[:window], self.pending[window:]
                conn.send_data(self.sid, chunk)
                sock.sendall(conn.data_to_send())
                budget -= len(chunk)
                continue
            try:
                p = next(self.it)
            except StopIteration:
                if self.resp.fault == "close":
                    return "close"
                if self.resp.fault == "trunc" and not self.trunc_sent:
                    self.trunc_sent = True
                    self.pending = self.resp.trunc[:len(self.resp.trunc) // 2]
                    self.resp.fault = "close"
                    continue
                conn.end_stream(self.sid)
                sock.sendall(conn.data_to_send())
                return "done"
            if isinstance(p, tuple):
                self.wake = now + p[1]
                return "sleep"
            self.pending = bytes(p)
        return "more"


def serve_h2(sock, conn_id):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=False, header_encoding="utf-8"))
    conn.local_settings = h2.settings.Settings(client=False, initial_values={
        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 24,
        h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100})
    conn.initiate_connection()
    conn.increment_flow_control_window(1 << 30)
    sock.sendall(conn.data_to_send())
    incoming = {}  # sid -> [headers, bytearray]
    senders = {}
    idle_since = time.monotonic()
    while True:
        now = time.monotonic()
        for sid, s in list(senders.items()):
            try:
                st = s.step(conn, sock, now)
            except h2.exceptions.StreamClosedError:
                st = "done"
            if st == "done":
                del senders[sid]
            elif st == "close":
                return
        timeout = IDLE_TIMEOUT
        if senders:
            idle_since = now
            wakes = [s.wake for s in senders.values() if s.wake > now]
            ready = any(s.wake <= now and (not s.pending or min(
                conn.local_flow_control_window(s.sid), conn.max_outbound_frame_size) > 0)
                for s in senders.values())
            timeout = 0 if ready else (min(wakes) - now if wakes else IDLE_TIMEOUT)
        if sock.pending() == 0:
            r, _, _ = select.select([sock], [], [], max(0.0, timeout))
            if not r:
                if not senders and time.monotonic() - idle_since >= IDLE_TIMEOUT:
                    return
                continue
        data = sock.recv(65536)
        if not data:
            return
        idle_since = time.monotonic()
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            sock.sendall(conn.data_to_send())
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                incoming[ev.stream_id] = [dict(ev.headers), bytearray()]
            elif isinstance(ev, h2.events.DataReceived):
                if ev.stream_id in incoming:
                    buf = incoming[ev.stream_id][1]
                    if len(buf) + len(ev.data) > MAX_BODY:
                        conn.reset_stream(ev.stream_id)
                        del incoming[ev.stream_id]
                    else:
                        buf += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                if ev.stream_id not in incoming:
                    continue
                hdrs, body = incoming.pop(ev.stream_id)
                headers = {k.lower(): v for k, v in hdrs.items() if not k.startswith(":")}
                if ":authority" in hdrs and "host" not in headers:
                    headers["host"] = hdrs[":authority"]
                req = Request("h2", True, hdrs.get(":method", "GET"), hdrs.get(":path", "/"),
                              headers, bytes(body))
                log_request(req, conn_id)
                resp = handle(req)
                rh = [(":status", str(resp.status)), ("server", "mock-llm")] + resp.headers
                if resp.length is not None:
                    rh.append(("content-length", str(resp.length)))
                conn.send_headers(ev.stream_id, rh, end_stream=resp.head)
                if not resp.head:
                    senders[ev.stream_id] = H2Sender(ev.stream_id, resp)
            elif isinstance(ev, h2.events.StreamReset):
                incoming.pop(ev.stream_id, None)
                senders.pop(ev.stream_id, None)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                sock.sendall(conn.data_to_send())
                return
        sock.sendall(conn.data_to_send())


# --------------------------------------------------------------------------
# Listeners, certificate, main


def serve_conn(raw, tls_ctx, conn_id):
    try:
        raw.settimeout(IDLE_TIMEOUT)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls_ctx is None:
            serve_h1(raw, False, conn_id)
            return
        sock = tls_ctx.wrap_socket(raw, server_side=True)
        try:
            if sock.selected_alpn_protocol() == "h2" and HAVE_H2:
                serve_h2(sock, conn_id)
            else:
                if serve_h1(sock, True, conn_id):
                    sock.settimeout(2)
                    sock.unwrap()  # orderly close: send close_notify
        finally:
            try:
                sock.close()
            except Exception:
                pass
    except Exception:
        pass  # a client that goes away never stops the server
    finally:
        try:
            raw.close()
        except Exception:
            pass


CONN_IDS = iter(range(1, 1 << 62))
CONN_LOCK = threading.Lock()


def accept_loop(lsock, tls_ctx):
    while True:
        try:
            c, _ = lsock.accept()
        except OSError:
            return
        with CONN_LOCK:
            conn_id = next(CONN_IDS)
        threading.Thread(target=serve_conn, args=(c, tls_ctx, conn_id), daemon=True).start()


def ensure_cert(certdir):
    """Creates certdir/cert.pem and key.pem (self-signed, localhost and
    127.0.0.1) with the openssl CLI unless they exist; safe when several
    servers start at once."""
    os.makedirs(certdir, exist_ok=True)
    cert, key = os.path.join(certdir, "cert.pem"), os.path.join(certdir, "key.pem")
    with open(os.path.join(certdir, ".lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        if os.path.exists(cert) and os.path.exists(key):
            return cert, key
        tc, tk = cert + ".tmp%d" % os.getpid(), key + ".tmp%d" % os.getpid()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", tk, "-out", tc,
                        "-days", "3650", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.rename(tk, key)
        os.rename(tc, cert)
    return cert, key


def listen(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    return s


def main():
    global LOG_FILE
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    bdir = os.environ.get("B") or "build"
    ap = argparse.ArgumentParser(description="local mock LLM API server (TLS + plain HTTP)")
    ap.add_argument("--portfile", required=True)
    ap.add_argument("--log")
    ap.add_argument("--certdir", default=os.path.join(root, bdir, "mock-certs"))
    ap.add_argument("--tls-port", type=int, default=0)
    ap.add_argument("--http-port", type=int, default=0)
    a = ap.parse_args()
    LOG_FILE = a.log
    if LOG_FILE:
        open(LOG_FILE, "a").close()
    cert, key = ensure_cert(a.certdir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2", "http/1.1"] if HAVE_H2 else ["http/1.1"])
    tls_l, http_l = listen(a.tls_port), listen(a.http_port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    for ls, c in ((tls_l, ctx), (http_l, None)):
        threading.Thread(target=accept_loop, args=(ls, c), daemon=True).start()
    tmp = a.portfile + ".tmp%d" % os.getpid()
    with open(tmp, "w") as f:
        json.dump({"tls": tls_l.getsockname()[1], "http": http_l.getsockname()[1],
                   "pid": os.getpid()}, f)
    os.rename(tmp, a.portfile)
    while not stop.wait(3600):
        pass
    for ls in (tls_l, http_l):
        ls.close()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

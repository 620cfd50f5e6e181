"""test_mock.py: the local mock LLM server, without any shim, answers every
provider shape the way the real APIs do (JSON parses, streams assemble to the
full text, HTTP/2 when negotiated, scenarios behave), so the other
integration tests can trust it as a fixture."""
import asyncio
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import Mock, Results, CLEAN_TEXT, PII_TEXT  # noqa: E402

R = Results()


def post(m, path, body, scenario=None, tls=True, timeout=10):
    """urllib POST; returns (status, content-type, bytes)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(m.url(path, tls), data=data,
                                 headers={"Content-Type": "application/json"})
    if scenario:
        req.add_header("X-Mock-Scenario", scenario)
    ctx = ssl.create_default_context(cafile=m.ca)
    try:
        with urllib.request.urlopen(req, context=ctx if tls else None, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def sse_events(raw):
    """(event, data) pairs of an SSE body; accepts LF or CRLF line ends."""
    out = []
    text = raw.decode("utf-8").replace("\r\n", "\n")
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        ev, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                ev = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        out.append((ev, "\n".join(data)))
    return out


def assemble(kind, raw):
    """Reassembles the text of a streamed reply; returns (text, finished, usage)."""
    parts, finished, usage = [], False, None
    if kind in ("chat", "completions"):
        for _, d in sse_events(raw):
            if d == "[DONE]":
                finished = True
                continue
            o = json.loads(d)
            usage = o.get("usage") or usage
            for ch in o["choices"]:
                parts.append(ch["delta"].get("content") or "" if kind == "chat" else ch["text"])
    elif kind == "responses":
        for ev, d in sse_events(raw):
            o = json.loads(d)
            assert o["type"] == ev
            if ev == "response.output_text.delta":
                parts.append(o["delta"])
            if ev == "response.completed":
                finished = True
                usage = o["response"]["usage"]
                assert o["response"]["output"][0]["content"][0]["text"] == "".join(parts)
    elif kind == "anthropic":
        seen = []
        for ev, d in sse_events(raw):
            o = json.loads(d)
            assert o["type"] == ev
            seen.append(ev)
            if ev == "content_block_delta":
                assert o["delta"]["type"] == "text_delta"
                parts.append(o["delta"]["text"])
            if ev == "message_delta":
                usage = o["usage"]
        finished = seen[:2] == ["message_start", "content_block_start"] and seen[-3:] == [
            "content_block_stop", "message_delta", "message_stop"]
    elif kind == "gemini-sse":
        assert b"\r\n\r\n" in raw
        for _, d in sse_events(raw):
            o = json.loads(d)
            c = o["candidates"][0]
            parts.append(c["content"]["parts"][0]["text"])
            finished = c.get("finishReason") == "STOP"
            usage = o["usageMetadata"]
    elif kind == "gemini-array":
        for o in json.loads(raw):
            c = o["candidates"][0]
            parts.append(c["content"]["parts"][0]["text"])
            finished = c.get("finishReason") == "STOP"
            usage = o["usageMetadata"]
    elif kind in ("ollama-chat", "ollama-generate"):
        for line in raw.decode().splitlines():
            o = json.loads(line)
            parts.append(o["message"]["content"] if kind == "ollama-chat" else o["response"])
            if o["done"]:
                finished, usage = True, o.get("eval_count")
    return "".join(parts), finished, usage


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "be brief"},
                                            {"role": "user", "content": "hello"}]}
CASES = [  # name, path, body, json text extractor, stream kind, stream body
    ("openai chat", "/v1/chat/completions", CHAT,
     lambda o: (o["choices"][0]["message"]["content"], o["usage"]["total_tokens"]), "chat",
     dict(CHAT, stream=True)),
    ("openai completions", "/v1/completions", {"model": "m", "prompt": "hello"},
     lambda o: (o["choices"][0]["text"], o["usage"]["completion_tokens"]), "completions",
     {"model": "m", "prompt": "hello", "stream": True}),
    ("openai responses", "/v1/responses", {"model": "m", "input": "hello"},
     lambda o: (o["output"][0]["content"][0]["text"], o["usage"]["output_tokens"]), "responses",
     {"model": "m", "input": "hello", "stream": True}),
    ("anthropic messages", "/v1/messages",
     {"model": "claude", "max_tokens": 100, "messages": [{"role": "user", "content": "hello"}]},
     lambda o: (o["content"][0]["text"], o["usage"]["output_tokens"]), "anthropic",
     {"model": "claude", "max_tokens": 100, "stream": True,
      "messages": [{"role": "user", "content": "hello"}]}),
    ("gemini generateContent", "/v1beta/models/gemini-1.5-flash:generateContent",
     {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]},
     lambda o: (o["candidates"][0]["content"]["parts"][0]["text"],
                o["usageMetadata"]["totalTokenCount"]), None, None),
    ("ollama chat", "/api/chat",
     {"model": "llama3", "stream": False, "messages": [{"role": "user", "content": "hello"}]},
     lambda o: (o["message"]["content"], o["eval_count"]), "ollama-chat",
     {"model": "llama3", "messages": [{"role": "user", "content": "hello"}]}),
    ("ollama generate", "/api/generate", {"model": "llama3", "prompt": "hello", "stream": False},
     lambda o: (o["response"], o["eval_count"]), "ollama-generate",
     {"model": "llama3", "prompt": "hello"}),
]


def test_shapes(m):
    for name, path, body, get, kind, sbody in CASES:
        for scen, want in (("clean", CLEAN_TEXT), ("pii", PII_TEXT)):
            st, ct, raw = post(m, path, body, scen)
            try:
                text, usage = get(json.loads(raw))
                R.check("%s json %s reply parses with the text and usage" % (name, scen),
                        st == 200 and ct.startswith("application/json") and text == want
                        and usage, "status %s ct %s" % (st, ct))
            except Exception as e:
                R.fail("%s json %s reply parses" % (name, scen), repr(e))
            if kind is None:
                continue
            st, ct, raw = post(m, path, sbody, scen)
            try:
                text, fin, usage = assemble(kind, raw)
                want_ct = "application/x-ndjson" if kind.startswith("ollama") else \
                    "text/event-stream"
                R.check("%s stream %s assembles to the full text and finishes" % (name, scen),
                        st == 200 and ct.startswith(want_ct) and text == want and fin and usage,
                        "status %s ct %s fin %s text ok %s" % (st, ct, fin, text == want))
            except Exception as e:
                R.fail("%s stream %s assembles" % (name, scen), repr(e))
    # Gemini streaming: SSE with alt=sse, a JSON array without it.
    gbody = {"contents": [{"parts": [{"text": "mock:pii please"}]}]}
    for q, kind in (("?alt=sse", "gemini-sse"), ("", "gemini-array")):
        st, ct, raw = post(m, "/v1beta/models/gemini-pro:streamGenerateContent" + q, gbody)
        try:
            text, fin, usage = assemble(kind, raw)
            R.check("gemini streamGenerateContent %s assembles (scenario from body token)" % kind,
                    st == 200 and text == PII_TEXT and fin and usage, "status %s" % st)
        except Exception as e:
            R.fail("gemini %s assembles" % kind, repr(e))
    # Deltas are 1-4 characters, so PII is split across many events.
    st, _, raw = post(m, "/v1/chat/completions", dict(CHAT, stream=True), "pii")
    ds = [json.loads(d)["choices"][0]["delta"].get("content", "")
          for _, d in sse_events(raw) if d != "[DONE]" and json.loads(d)["choices"]]
    ds = [d for d in ds if d]
    R.check("stream deltas are 1-4 characters", ds and all(1 <= len(d) <= 4 for d in ds)
            and len(ds) > len(PII_TEXT) // 4, "sizes %s" % sorted(set(map(len, ds))))
    # include_usage puts usage in a final chunk with no choices, like OpenAI.
    st, _, raw = post(m, "/v1/chat/completions",
                      dict(CHAT, stream=True, stream_options={"include_usage": True}))
    last = json.loads([d for _, d in sse_events(raw) if d != "[DONE]"][-1])
    R.check("stream_options.include_usage yields a usage-only last chunk",
            last["choices"] == [] and last["usage"]["total_tokens"] > 0)


def test_routes(m):
    for path in ("/openai/v1/chat/completions", "/api/v1/chat/completions",
                 "/openai/deployments/gpt4o/chat/completions?api-version=2024-06-01"):
        st, _, raw = post(m, path, CHAT)
        o = json.loads(raw)
        R.check("chat completions under %s" % path.split("?")[0],
                st == 200 and o["choices"][0]["message"]["content"] == CLEAN_TEXT)
    st, _, raw = post(m, "/v1/chat/completions",
                      {"messages": [{"role": "user", "content": "first"},
                                    {"role": "assistant", "content": "x"},
                                    {"role": "user", "content": [
                                        {"type": "text", "text": "the last question"}]}]}, "echo")
    R.check("echo returns the last user message text",
            json.loads(raw)["choices"][0]["message"]["content"] == "the last question")
    st, _, raw = post(m, "/v1/messages", {"messages": [{"role": "user", "content": "tell mock:echo"}]})
    R.check("mock:<name> token in the body selects the scenario",
            json.loads(raw)["content"][0]["text"] == "tell mock:echo")
    st, ct, raw = post(m, "/v1/messages", b"{not json")
    o = json.loads(raw)
    R.check("a malformed request body gets a provider-shaped 400",
            st == 400 and o["type"] == "error" and o["error"]["message"])
    st, _, raw = post(m, "/v1/nothing-here", CHAT)
    R.check("an unknown route is a 404 with an error object", st == 404 and "error" in json.loads(raw))
    ctx = ssl.create_default_context(cafile=m.ca)
    with urllib.request.urlopen(m.url("/"), context=ctx, timeout=10) as r:
        R.check("GET / serves a small page", r.status == 200 and b"mock" in r.read())
    with urllib.request.urlopen(m.url("/download?bytes=3000001"), context=ctx, timeout=10) as r:
        R.check("GET /download?bytes=N sends exactly N bytes", len(r.read()) == 3000001)
    for host in ("localhost", "127.0.0.1"):
        try:
            with urllib.request.urlopen(m.url("/", host=host), context=ctx, timeout=10) as r:
                R.check("certificate verifies for %s" % host, r.status == 200)
        except Exception as e:
            R.fail("certificate verifies for %s" % host, repr(e))
    st, _, raw = post(m, "/api/chat", {"model": "llama3", "messages": [
        {"role": "user", "content": "hi"}]}, "pii", tls=False)
    text, fin, _ = assemble("ollama-chat", raw)
    R.check("plain-HTTP port serves Ollama NDJSON", st == 200 and text == PII_TEXT and fin)


def test_scenarios(m):
    st, _, raw = post(m, "/v1/chat/completions", CHAT, "big")
    text = json.loads(raw)["choices"][0]["message"]["content"]
    R.check("big: about 1 MiB of clean text with the PII text once in the middle",
            900000 < len(text) < 1200000 and text.count(PII_TEXT) == 1
            and 0.4 < text.index(PII_TEXT) / len(text) < 0.6)
    st, _, raw = post(m, "/v1/chat/completions", dict(CHAT, stream=True), "big")
    R.check("big streams assemble", assemble("chat", raw)[0] == text)
    st, _, raw = post(m, "/v1/chat/completions", CHAT, "medium")
    t = json.loads(raw)["choices"][0]["message"]["content"]
    R.check("medium: about 2 KB of clean text", 1800 < len(t) < 2300 and "@" not in t)
    st, ct, raw = post(m, "/v1/chat/completions", CHAT, "html-error")
    R.check("html-error: 502 text/html page", st == 502 and ct.startswith("text/html")
            and b"<html>" in raw)
    st, ct, raw = post(m, "/v1/chat/completions", CHAT, "malformed-json")
    try:
        json.loads(raw)
        R.fail("malformed-json: 200 JSON body that does not parse", "it parsed")
    except ValueError:
        R.check("malformed-json: 200 JSON body that does not parse",
                st == 200 and ct.startswith("application/json"))
    for scen in ("close-mid-stream", "truncated-chunk"):
        for stream in (False, True):
            try:
                st, _, raw = post(m, "/v1/chat/completions", dict(CHAT, stream=stream), scen)
                R.fail("%s (%s) ends in a client error" % (scen, "stream" if stream else "json"),
                       "got a complete reply, %d bytes" % len(raw))
            except (http.client.IncompleteRead, ConnectionError, http.client.HTTPException,
                    ssl.SSLError, OSError) as e:
                R.ok("%s (%s) ends in a client error (%s)"
                     % (scen, "stream" if stream else "json", type(e).__name__))
    t0 = time.time()
    st, _, raw = post(m, "/v1/chat/completions", dict(CHAT, stream=True), "slow")
    n = len(sse_events(raw))
    R.check("slow: 50 ms between stream events",
            time.time() - t0 >= 0.045 * (n - 1) and assemble("chat", raw)[0] == CLEAN_TEXT)
    st, _, raw = post(m, "/v1/chat/completions", dict(CHAT, stream=True), "pii+slow")
    R.check("scenarios combine (pii+slow)", assemble("chat", raw)[0] == PII_TEXT)
    st, _, raw = post(m, "/v1/messages", dict(CHAT, stream=True), "medium+burst")
    text, fin, _ = assemble("anthropic", raw)
    R.check("burst: a stream written in one go still assembles", fin and len(text) > 1800)


def test_clients(m):
    import requests
    s = requests.Session()
    before = len(m.requests())
    texts = []
    for i in range(3):
        r = s.post(m.url("/v1/chat/completions"), json=CHAT, verify=m.ca, timeout=10)
        texts.append(r.json()["choices"][0]["message"]["content"])
    r = s.post(m.url("/v1/chat/completions"), json=dict(CHAT, stream=True), verify=m.ca,
               stream=True, timeout=10, headers={"X-Mock-Scenario": "pii"})
    streamed = assemble("chat", b"".join(r.iter_content(None)))[0]
    conns = {q["conn"] for q in m.requests()[before:]}
    R.check("requests Session: several requests over one keep-alive connection",
            texts == [CLEAN_TEXT] * 3 and streamed == PII_TEXT and len(conns) == 1,
            "connections %s" % conns)
    r = s.post(m.url("/v1/chat/completions"), json=CHAT, verify=m.ca,
               headers={"Accept-Encoding": "gzip"})
    R.check("whole JSON replies are gzip-compressed when the client accepts gzip",
            r.headers.get("content-encoding") == "gzip"
            and r.json()["choices"][0]["message"]["content"] == CLEAN_TEXT)
    # chunked request body (a generator) arrives whole.
    body = json.dumps({"messages": [{"role": "user", "content": "chunked body ok"}]}).encode()
    r = s.post(m.url("/v1/chat/completions"), data=iter([body[:10], body[10:]]), verify=m.ca,
               headers={"X-Mock-Scenario": "echo", "Content-Type": "application/json"})
    R.check("chunked request body is read whole",
            r.json()["choices"][0]["message"]["content"] == "chunked body ok")

    import httpx
    with httpx.Client(http2=True, verify=m.ca) as c:
        r = c.post(m.url("/v1/chat/completions"), json=CHAT)
        r2 = c.post(m.url("/v1/messages"), json={"stream": True, "messages": [
            {"role": "user", "content": "mock:pii"}]})
        R.check("httpx http2=True negotiates HTTP/2 (ALPN h2)", r.http_version == "HTTP/2"
                and r.json()["choices"][0]["message"]["content"] == CLEAN_TEXT,
                r.http_version)
        R.check("SSE over HTTP/2 assembles", assemble("anthropic", r2.content)[0] == PII_TEXT)
        r = c.get(m.url("/download?bytes=5000000"))
        R.check("HTTP/2 download honours flow control", len(r.content) == 5000000)
    R.check("HTTP/2 requests are logged as h2", m.requests()[-1]["proto"] == "h2")
    with httpx.Client(verify=m.ca) as c:
        r = c.post(m.url("/v1/chat/completions"), json=CHAT)
        R.check("httpx without http2 speaks HTTP/1.1", r.http_version == "HTTP/1.1")

    async def many(http2):
        async with httpx.AsyncClient(http2=http2, verify=m.ca, timeout=20) as c:
            rs = await asyncio.gather(*[
                c.post(m.url("/v1/chat/completions"),
                       json={"messages": [{"role": "user", "content": "n%d" % i}]},
                       headers={"X-Mock-Scenario": "echo"}) for i in range(8)])
            return [x.json()["choices"][0]["message"]["content"] for x in rs]
    for h2 in (False, True):
        got = asyncio.run(many(h2))
        R.check("httpx async: 8 concurrent requests (%s)" % ("h2" if h2 else "http/1.1"),
                got == ["n%d" % i for i in range(8)], str(got))

    out = subprocess.run(["curl", "-sS", "--cacert", m.ca, "-w", "\n%{http_version}",
                          "-H", "X-Mock-Scenario: pii", "-d", json.dumps(CHAT),
                          m.url("/v1/chat/completions")], capture_output=True, text=True,
                         timeout=20)
    body, _, ver = out.stdout.rpartition("\n")
    R.check("curl CLI picks HTTP/2 by default and gets the JSON reply",
            ver == "2" and json.loads(body)["choices"][0]["message"]["content"] == PII_TEXT, ver)


def test_log(m):
    post(m, "/v1/chat/completions", {"messages": [{"role": "user", "content": "logged prompt"}]},
         "clean")
    q = m.requests()[-1]
    R.check("request log: one JSON line with proto, method, path, lowercase headers, body",
            q["method"] == "POST" and q["path"] == "/v1/chat/completions" and q["proto"]
            and q["headers"].get("x-mock-scenario") == "clean"
            and "logged prompt" in q["body"], str(q)[:200])


def test_robust(m):
    # clients that vanish mid-request, mid-handshake, or send garbage
    for payload in (b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{",
                    b"\x16\x03\x01\x02\x00\x01", b"GARBAGE\r\n\r\n", b""):
        for port in (m.tls_port, m.http_port):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                s.sendall(payload)
                s.close()
            except OSError:
                pass
    # a client that stops reading a stream and disconnects
    ctx = ssl.create_default_context(cafile=m.ca)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", m.tls_port)),
                        server_hostname="localhost")
    s.sendall(b"GET /download?bytes=50000000 HTTP/1.1\r\nHost: x\r\n\r\n")
    s.recv(1000)
    s.close()
    st, _, raw = post(m, "/v1/chat/completions", CHAT)
    R.check("server survives clients that disconnect or send garbage",
            st == 200 and json.loads(raw)["choices"][0]["message"]["content"] == CLEAN_TEXT)
    big = json.dumps({"messages": [{"role": "user", "content": "x" * (3 << 20)}]}).encode()
    st, _, raw = post(m, "/v1/chat/completions", big, timeout=20)
    R.check("a 3 MB request body is accepted", st == 200)


def test_head(m):
    # HEAD gets GET's status and headers and no body, so a keep-alive client
    # reads its next reply where it begins (a body sent after HEAD's headers
    # would be read as the start of the next reply)
    for port, wrap in ((m.http_port, False), (m.tls_port, True)):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if wrap:
            s = ssl.create_default_context(cafile=m.ca).wrap_socket(s, server_hostname="localhost")
        s.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"HEAD /api/chat HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            raw += d
        s.close()
        heads = raw.split(b"\r\n\r\n")
        R.check("HEAD on %s: headers only, the next reply follows at once" % ("TLS" if wrap else "plain HTTP"),
                len(heads) == 4 and heads[0].startswith(b"HTTP/1.1 200") and b"Content-Length: " in heads[0]
                and heads[1].startswith(b"HTTP/1.1 ") and heads[2].startswith(b"HTTP/1.1 200")
                and b'"mock-model"' in heads[3], repr(raw[:300]))
    try:
        import httpx
        with httpx.Client(http2=True, verify=m.ca, timeout=5) as c:
            r = c.head(m.url("/"))
            r2 = c.get(m.url("/v1/models"))
            R.check("HEAD over HTTP/2: no body, the connection goes on",
                    r.http_version == "HTTP/2" and r.status_code == 200 and r.content == b""
                    and r2.status_code == 200 and "mock-model" in r2.text)
    except ImportError:
        pass


def main():
    t0 = time.time()
    with Mock() as m:
        for t in (test_shapes, test_routes, test_scenarios, test_clients, test_log, test_robust,
                  test_head):
            try:
                t(m)
            except Exception as e:
                R.fail(t.__name__, "raised %r" % e)
        R.check("mock still running at the end", m.proc.poll() is None)
    print("(%.1f s)" % (time.time() - t0))
    R.finish()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""chat_client.py: a minimal LLM chat client on Python's urllib (standard
library only), the kind of script airlock protects without changing it.

  chat_client.py [--api openai|anthropic] [--stream] URL PROMPT
      sends PROMPT as one user message; prints the assistant's text (a stream
      is assembled from its events), or the API's error message and exits 1.
  chat_client.py --text < REPLY
      prints the assistant text of a saved reply body (JSON or SSE, OpenAI or
      Anthropic), or its error message.

The server certificate is trusted through SSL_CERT_FILE, as for any urllib
program."""
import json
import sys
import urllib.error
import urllib.request


def text_of_json(obj):
    """Assistant text (or the error) of a whole JSON reply."""
    if "error" in obj:
        err = obj["error"]
        return "ERROR: " + (err.get("message", "") if isinstance(err, dict) else str(err))
    if obj.get("choices"):
        return obj["choices"][0]["message"]["content"]
    if obj.get("content"):
        return "".join(p.get("text", "") for p in obj["content"])
    return json.dumps(obj)


def text_of_sse(raw):
    """Assembles the deltas of an OpenAI or Anthropic event stream; returns
    (text, number_of_events)."""
    parts, n = [], 0
    for line in raw.replace("\r\n", "\n").split("\n"):
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        n += 1
        obj = json.loads(line[6:])
        if "error" in obj:
            return text_of_json(obj), n
        for ch in obj.get("choices") or []:
            parts.append(ch.get("delta", {}).get("content") or "")
        if obj.get("type") == "content_block_delta":
            parts.append(obj["delta"].get("text", ""))
    return "".join(parts), n


def text_of(raw):
    s = raw.lstrip()
    if s.startswith("data:") or s.startswith("event:"):
        return text_of_sse(raw)[0]
    try:
        return text_of_json(json.loads(raw))
    except ValueError:
        return "(not JSON) " + raw[:200]


def ask(url, prompt, api, stream):
    msgs = [{"role": "user", "content": prompt}]
    if api == "anthropic":
        body = {"model": "claude-3-5-haiku-latest", "max_tokens": 256, "messages": msgs}
        headers = {"x-api-key": "sk-ant-demo", "anthropic-version": "2023-06-01"}
    else:
        body = {"model": "gpt-4o-mini", "messages": msgs}
        headers = {"Authorization": "Bearer sk-demo"}
    if stream:
        body["stream"] = True
    headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read().decode("utf-8", "replace")
            status = r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read().decode("utf-8", "replace"), e.code
    print(text_of(raw))
    return 0 if status < 400 else 1


def main(argv):
    if argv[:1] == ["--text"]:
        print(text_of(sys.stdin.read()))
        return 0
    api, stream, rest = "openai", False, []
    i = 0
    while i < len(argv):
        if argv[i] == "--api" and i + 1 < len(argv):
            api = argv[i + 1]
            i += 2
            continue
        if argv[i] == "--stream":
            stream = True
        else:
            rest.append(argv[i])
        i += 1
    if len(rest) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    return ask(rest[0], rest[1], api, stream)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/python3
"""test_sse_labels.py: a streamed reply whose SSE events come under another
Content-Type (application/json, text/plain, application/x-ndjson) or none,
as some OpenAI-compatible servers and proxies send them.  Before, airlock
knew a stream only by its label: the events were read as one JSON body that
did not parse, and under the default AIRLOCK_FAIL=closed the program got
airlock's 502 (requests) or curl's write error 23 in place of the stream;
under the NDJSON label the events reached the program as blank lines.  Now a
reply to a request that asked for a stream ("stream": true, Gemini
:streamGenerateContent) whose body opens with an SSE field is read as SSE:
curl (libcurl's hooks), a Python requests client (OpenSSL, the socket
layer's exchange) and http.client over plain HTTP get every event, the
personal data in the deltas replaced; a clean mislabelled stream passes byte
for byte; a whole JSON reply to a request that did not ask for a stream is
still scrubbed whole."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import (PII_VALUES, PY, Mock, Results, assemble_sse_anthropic,  # noqa: E402
                     assemble_sse_openai, run, shim_env, sse_data)

LABELS = ["sse-as-json", "sse-as-text", "sse-as-ndjson", "sse-no-ctype"]
CHAT = {"model": "gpt-4o-mini", "stream": True,
        "messages": [{"role": "user", "content": "Tell me about the contact."}]}

CLIENT = r"""
import http.client, json, ssl, sys
import requests
kind, url, ca, scen, body = sys.argv[1:6]
if kind == "requests":
    r = requests.post(url, data=body, verify=ca, stream=True,
                      headers={"X-Mock-Scenario": scen, "Content-Type": "application/json"})
    print(json.dumps({"status": r.status_code,
                      "body": b"".join(r.iter_content(5)).decode("utf-8", "replace")}))
else:
    host, _, rest = url.split("://")[1].partition("/")
    c = http.client.HTTPConnection(host, timeout=20)
    c.request("POST", "/" + rest, body=body, headers={"X-Mock-Scenario": scen,
                                                      "Content-Type": "application/json"})
    r = c.getresponse()
    print(json.dumps({"status": r.status, "body": r.read().decode("utf-8", "replace")}))
"""


def curl(m, path, scen, body, env, tls=True):
    cmd = ["curl", "-sS", "-N", "--cacert", m.ca, "-H", "Content-Type: application/json",
           "-H", "X-Mock-Scenario: " + scen, "-w", "\n%{http_code}",
           "--data-binary", json.dumps(body), m.url(path, tls=tls)]
    p = run(cmd, env=env)
    out, _, code = p.stdout.rpartition("\n")
    return p.returncode, code, out


def py_client(m, kind, path, scen, body, env):
    p = run([PY, "-c", CLIENT, kind, m.url(path, tls=(kind == "requests")), m.ca, scen,
             json.dumps(body)], env=env)
    try:
        j = json.loads(p.stdout)
    except ValueError:
        return -1, str(p.returncode), p.stderr[-300:]
    return 0, str(j["status"]), j["body"]


def clean_of_pii(text):
    return not any(v in text for v in PII_VALUES)


def main():
    r = Results()
    with Mock() as m:
        env = shim_env(m.env())
        for label in LABELS:
            scen = "pii+" + label
            for how in ("curl", "requests", "http.client"):
                if how == "curl":
                    rc, code, out = curl(m, "/v1/chat/completions", scen, CHAT, env)
                else:
                    rc, code, out = py_client(m, how, "/v1/chat/completions", scen, CHAT, env)
                try:
                    text, done = assemble_sse_openai(out)
                    parsed = True
                except ValueError:
                    text, done, parsed = "", False, False
                r.check("%s, %s: the stream arrives, every event parses, [DONE] at its end"
                        % (label, how), rc == 0 and code == "200" and parsed and done and text,
                        "rc %s code %s: %r" % (rc, code, out[:200]))
                r.check("%s, %s: the personal data in its deltas is replaced" % (label, how),
                        clean_of_pii(text) and "<EMAIL_ADDRESS>" in text, text[:200])

        # a clean mislabelled stream passes byte for byte
        _, dcode, direct = curl(m, "/v1/chat/completions", "clean+sse-as-json", CHAT, m.env())
        rc, code, out = curl(m, "/v1/chat/completions", "clean+sse-as-json", CHAT, env)
        r.check("a clean stream labelled JSON passes byte for byte",
                rc == 0 and code == "200" and out == direct and dcode == "200",
                "%d vs %d bytes" % (len(out), len(direct)))

        # Anthropic and Gemini (alt=sse) streams under the wrong label
        body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": True,
                "messages": [{"role": "user", "content": "Who to call?"}]}
        rc, code, out = curl(m, "/v1/messages", "pii+sse-as-json", body, env)
        try:
            text = "".join(b.get("text", "") for b in assemble_sse_anthropic(out))
        except ValueError:
            text = ""
        r.check("anthropic stream labelled JSON: arrives scrubbed",
                code == "200" and text and clean_of_pii(text), "%s %r" % (code, out[:200]))
        body = {"contents": [{"role": "user", "parts": [{"text": "Who to call?"}]}]}
        rc, code, out = curl(m, "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
                             "pii+sse-no-ctype", body, env)
        try:
            text = "".join(p.get("text", "") for e in sse_data(out)
                           for c in e.get("candidates", [])
                           for p in c.get("content", {}).get("parts", []))
        except ValueError:
            text = ""
        r.check("gemini alt=sse stream without Content-Type: arrives scrubbed",
                code == "200" and text and clean_of_pii(text), "%s %r" % (code, out[:200]))

        # a whole JSON reply (no stream asked) is still read whole and scrubbed
        whole = dict(CHAT, stream=False)
        rc, code, out = curl(m, "/v1/chat/completions", "pii", whole, env)
        try:
            content = json.loads(out)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError):
            content = ""
        r.check("a whole JSON reply is still scrubbed whole",
                code == "200" and content and clean_of_pii(content), out[:200])
    r.finish()


if __name__ == "__main__":
    main()

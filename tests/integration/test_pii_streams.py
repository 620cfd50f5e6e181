#!/usr/bin/python3
"""test_pii_streams.py: personal data a model writes in forms the pattern
rules once missed reaches a real client replaced, whole and streamed: an
e-mail address with letters outside ASCII (jürgen.müller@example.com was
cut after its last such letter; 张伟@例子.中国 was not found) and a card
number or SSN with a zero-width space, soft hyphen or word joiner inside
it.  A Python requests client under the shim asks the mock to echo its
prompt (the prompt's invisible characters are let through with
AIRLOCK_PROMPT_SANITIZE=allow, so the completion carries them), as a whole
reply and as an SSE stream of small deltas."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import PY, Mock, Results, assemble_sse_openai, run, shim_env  # noqa: E402

PROMPT = ("Kontakt: j\u00fcrgen.m\u00fcller@example.com oder jos\u00e9@caf\u00e9.fr; "
          "\u5199\u4fe1\u7ed9 \u5f20\u4f1f@\u4f8b\u5b50.\u4e2d\u56fd. "
          "Card 4111 \u200b1111 1111 1111, pan 5555\u00ad5555\u20605555\u200c4444, "
          "SSN 536-22-\u200d1234. Thanks \u2705 done.")
RAW = ["j\u00fcrgen", "m\u00fcller", "jos\u00e9", "\u5f20\u4f1f", "4111", "1111 1111",
       "5555", "4444", "536-22", "1234"]
WANT = ["Kontakt: <EMAIL_ADDRESS> oder <EMAIL_ADDRESS>;", "\u5199\u4fe1\u7ed9 <EMAIL_ADDRESS>.",
        "Card <CREDIT_CARD>, pan <CREDIT_CARD>,", "SSN <US_SSN>.", "Thanks \u2705 done."]

CLIENT = r"""
import json, sys
import requests
url, ca, prompt = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
for stream in (False, True):
    r = requests.post(url, json={"model": "gpt-4o-mini", "stream": stream,
                                 "messages": [{"role": "user", "content": prompt}]},
                      verify=ca, headers={"X-Mock-Scenario": "echo"}, stream=stream)
    if stream:
        out["stream"] = {"status": r.status_code, "body": b"".join(r.iter_content(7)).decode()}
    else:
        out["whole"] = {"status": r.status_code, "body": r.text}
print(json.dumps(out))
"""


def main():
    r = Results()
    with Mock() as m:
        env = shim_env(m.env(), AIRLOCK_PROMPT_SANITIZE="allow")
        p = run([PY, "-c", CLIENT, m.url("/v1/chat/completions"), m.ca, PROMPT], env=env,
                timeout=60)
        if p.returncode != 0:
            r.check("client ran", False, p.stderr[-300:])
            r.finish()
        out = json.loads(p.stdout)
        sent = [q for q in m.requests() if q.get("path", "").endswith("/chat/completions")]
        # the test means something only when the mock got the characters to echo
        r.check("the prompt reached the server with its zero-width space and addresses",
                len(sent) == 2 and all("\\u200b" in q.get("body", "") or "\u200b" in
                                       q.get("body", "") for q in sent),
                "%d requests" % len(sent))
        for kind in ("whole", "stream"):
            o = out.get(kind, {})
            if kind == "whole":
                try:
                    text = json.loads(o.get("body", ""))["choices"][0]["message"]["content"]
                except (ValueError, KeyError, IndexError, TypeError):
                    text = ""
            else:
                text, _ = assemble_sse_openai(o.get("body", ""))
            r.check("%s reply: status 200" % kind, o.get("status") == 200, str(o.get("status")))
            left = [v for v in RAW if v in text]
            r.check("%s reply: no part of the split card, SSN or non-ASCII address reaches the "
                    "client" % kind, text and not left, "%d raw pieces left" % len(left))
            miss = [w for w in WANT if w not in text]
            r.check("%s reply: each value is one placeholder and the text around it stays" % kind,
                    not miss, "%d expected pieces missing" % len(miss))
    r.finish()


if __name__ == "__main__":
    main()

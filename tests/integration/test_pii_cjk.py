#!/usr/bin/python3
"""test_pii_cjk.py: phone numbers a model writes in Chinese, Japanese or
Korean text without a country code (電話番号は090-..., 电话：139-...,
전화번호는 010-..., TEL：06-... with a full-width colon) and a card number in
full-width digits reach a real client replaced, whole and streamed, while
the dates, prices in yen and order numbers of the same text come back as
they were.  A Python requests client under the shim asks the mock to echo
its prompt, as a whole reply and as an SSE stream of small deltas."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import PY, Mock, Results, assemble_sse_openai, run, shim_env  # noqa: E402

PROMPT = ("\u9234\u6728\u306e\u96fb\u8a71\u756a\u53f7\u306f080-9876-5432\u3067\u3059\u3002"
          "\u8054\u7cfb\u7535\u8bdd\uff1a139-8765-4321\u3002"
          "\uc81c \ud734\ub300\ud3f0 \ubc88\ud638\ub294 010-9876-5432 \uc785\ub2c8\ub2e4. "
          "\u5927\u962a\u5e97 TEL\uff1a06-6543-2109\u3002"
          "\u30ab\u30fc\u30c9 \uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 "
          "\uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11\u3002"
          "\u6ce8\u6587\u756a\u53f7 1234-5678-9012\u30012024-03-15\u306b1,980\u5186\u3002")
RAW = ["9876-5432", "8765-4321", "6543-2109", "\uff14\uff11\uff11\uff11", "\uff11\uff11\uff11\uff11"]
WANT = ["\u96fb\u8a71\u756a\u53f7\u306f<PHONE_NUMBER>\u3067\u3059\u3002",
        "\u8054\u7cfb\u7535\u8bdd\uff1a<PHONE_NUMBER>\u3002",
        "\ubc88\ud638\ub294 <PHONE_NUMBER> \uc785\ub2c8\ub2e4.",
        "TEL\uff1a<PHONE_NUMBER>\u3002",
        "\u30ab\u30fc\u30c9 <CREDIT_CARD>\u3002",
        "\u6ce8\u6587\u756a\u53f7 1234-5678-9012\u30012024-03-15\u306b1,980\u5186\u3002"]

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
        env = shim_env(m.env())
        p = run([PY, "-c", CLIENT, m.url("/v1/chat/completions"), m.ca, PROMPT], env=env,
                timeout=60)
        if p.returncode != 0:
            r.check("client ran", False, p.stderr[-300:])
            r.finish()
        out = json.loads(p.stdout)
        sent = [q for q in m.requests() if q.get("path", "").endswith("/chat/completions")]
        # the test means something only when the mock got the numbers to echo
        # (prompts' PII is flagged, not redacted, by the default policy)
        r.check("both prompts reached the server with their phone numbers",
                len(sent) == 2 and all("080-9876-5432" in q.get("body", "") for q in sent),
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
            r.check("%s reply: no CJK phone number or full-width card reaches the client" % kind,
                    text and not left, "%d raw pieces left" % len(left))
            miss = [w for w in WANT if w not in text]
            r.check("%s reply: each number is one placeholder; dates, prices and order "
                    "numbers stay" % kind, not miss, "%d expected pieces missing" % len(miss))
    r.finish()


if __name__ == "__main__":
    main()

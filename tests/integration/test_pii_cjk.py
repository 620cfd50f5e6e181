#!/usr/bin/python3
"""test_pii_cjk.py: phone numbers a model writes in Chinese, Japanese or
Korean text without a country code (電話番号は090-..., 电话：139-...,
전화번호는 010-..., TEL：06-... with a full-width colon) and a card number in
full-width digits reach a real client replaced, whole and streamed, while
the dates, prices in yen and order numbers of the same text come back as
they were.  A Python requests client under the shim asks the mock to echo
its prompt, as a whole reply and as an SSE stream of small deltas."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mocklib import Mock, Results, echo_replies, shim_env  # noqa: E402

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


def main():
    r = Results()
    with Mock() as m:
        env = shim_env(m.env())
        got, err = echo_replies(m, env, PROMPT)
        if got is None:
            r.check("client ran", False, err)
            r.finish()
        sent = [q for q in m.requests() if q.get("path", "").endswith("/chat/completions")]
        # the test means something only when the mock got the numbers to echo
        # (prompts' PII is flagged, not redacted, by the default policy)
        r.check("both prompts reached the server with their phone numbers",
                len(sent) == 2 and all("080-9876-5432" in q.get("body", "") for q in sent),
                "%d requests" % len(sent))
        for kind in ("whole", "stream"):
            status, text = got[kind]
            r.check("%s reply: status 200" % kind, status == 200, str(status))
            left = [v for v in RAW if v in text]
            r.check("%s reply: no CJK phone number or full-width card reaches the client" % kind,
                    text and not left, "%d raw pieces left" % len(left))
            miss = [w for w in WANT if w not in text]
            r.check("%s reply: each number is one placeholder; dates, prices and order "
                    "numbers stay" % kind, not miss, "%d expected pieces missing" % len(miss))
    r.finish()


if __name__ == "__main__":
    main()
